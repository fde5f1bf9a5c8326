//! Timing helpers shared by the benchmarks: medians of whole-process runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Run `cmd` to completion (stdout discarded); panics with its stderr if it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd.stdout(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wall time of one `run`.
pub fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    run(cmd);
    t.elapsed()
}

/// Benchmark sections named on the command line (`cargo bench --bench X -- a b`); all
/// when none is. Returns `None` for `--list` (cargo's probe), which runs nothing.
pub fn selection() -> Option<impl Fn(&str) -> bool> {
    if std::env::args().any(|a| a == "--list") {
        return None;
    }
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    Some(move |name: &str| only.is_empty() || only.iter().any(|o| o == name))
}

/// Copy a directory tree (an example project into a bench's git repository). Not every
/// bench copies trees.
#[allow(dead_code)]
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
