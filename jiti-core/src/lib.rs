//! jiti-core: everything cargo-jiti knows, as data and typed errors; the `cargo-jiti` binary prints.
//!
//! The flow is [`discovery`] (which packages are apps) → [`resolve`] (one value merging cargo
//! metadata, `jiti.toml`, git and the caller's options) → [`render`] (Tera → [`template`] model →
//! [`tagging`] and retention policy) → [`check`] (findings). See ARCHITECTURE.md.

pub mod config;
pub mod environment;
pub mod tagging;
pub mod template;
pub mod discovery;
pub mod git;
pub mod render;
pub mod resolve;
pub mod check;
pub mod parameters;
pub mod cloud;
pub mod deploy;
pub mod diff;
pub mod inventory;
pub mod destroy;
pub mod ledger;
pub mod hooks;
pub mod rollback;
pub mod gc;
pub mod scaffold;
pub mod iam;
pub mod policy;
pub mod secrets;
