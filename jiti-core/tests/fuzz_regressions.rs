//! Replays every input the fuzzers ever crashed on (`jiti-core/fuzz/regressions/<target>/`), and
//! the hand-written seeds, through the same assertions as the fuzz targets (`scripts/fuzz`).

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for dir in ["regressions", "seeds"] {
        let dir = root.join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("a readable directory").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target} fails again on {}", path.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn template_inputs_that_once_crashed() {
    assert!(replay("template", checks::template) >= 3, "the template seeds are missing");
}

#[test]
fn jiti_toml_inputs_that_once_crashed() {
    assert!(replay("jiti_toml", checks::jiti_toml) >= 2, "the jiti.toml seeds are missing");
}
