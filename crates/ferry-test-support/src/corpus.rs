//! The checked-in fuzz corpus (`fuzz/corpus/<target>/`) replayed as a regression test: every
//! input the fuzz campaign kept, and every past finding's seed, runs through the same harness
//! function in the normal `cargo test`.

use std::path::{Path, PathBuf};

/// The corpus directory of `target`.
#[must_use]
pub fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// A fuzz target's name and its harness function.
pub type Target<'a> = (&'a str, fn(&[u8]));

/// Runs every file of each target's corpus through its harness (which panics when an
/// invariant breaks) and returns how many inputs ran. Panics when a target has no corpus
/// directory, so a renamed target cannot silently skip its replay.
pub fn replay(targets: &[Target<'_>]) -> usize {
    let mut seen = 0;
    for (target, harness) in targets {
        let dir = dir(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(|| harness(&data));
            assert!(
                run.is_ok(),
                "corpus input {} broke an invariant",
                path.display()
            );
            seen += 1;
        }
    }
    seen
}
