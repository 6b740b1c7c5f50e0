//! Fuzz target: `checks::jiti_toml` on every input (see `../checks.rs` for what it asserts).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::jiti_toml(data));
