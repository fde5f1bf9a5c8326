//! The repository itself: files the tools rely on are where the tools look for them.

use std::path::{Path, PathBuf};

fn files_named(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_named(&path, suffix, out);
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
}

/// Regression: `tests/tmp_keys.proptest-regressions` was never replayed: proptest reads
/// the seeds of `foo.rs` from `foo.proptest-regressions` beside it, nothing else.
#[test]
fn proptest_regressions_sit_beside_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["src", "tests"] {
        files_named(&root.join(dir), ".proptest-regressions", &mut found);
    }
    assert!(!found.is_empty(), "the keys seeds are kept");
    for seeds in found {
        let source = PathBuf::from(
            seeds
                .to_string_lossy()
                .replace(".proptest-regressions", ".rs"),
        );
        let text = std::fs::read_to_string(&source).unwrap_or_else(|_| {
            panic!(
                "{} has no {} beside it to replay it",
                seeds.display(),
                source.display()
            )
        });
        assert!(
            text.contains("proptest!"),
            "{} holds no proptest to replay {}",
            source.display(),
            seeds.display()
        );
    }
}
