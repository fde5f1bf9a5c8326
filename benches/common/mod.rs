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

/// Wall time of one `run`. Not every bench times processes.
#[allow(dead_code)]
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

/// Record every target of the locked project in `dir` as built, as `build` would: one
/// wheel each, named by `wheel_name`, in the store at `.wheelbuild/store`. Returns how
/// many targets there are. Not every bench fills a store.
#[allow(dead_code)]
pub fn record_all_built(
    dir: &std::path::Path,
    wheel_name: impl Fn(&wheelbuild::config::Config, &wheelbuild::plan::PlannedTarget<'_>) -> String,
) -> usize {
    let cfg = wheelbuild::config::Config::load(&dir.join("wheelbuild.toml")).unwrap();
    let lock = wheelbuild::lock::Lockfile::read(&dir.join("wheelbuild.lock"))
        .unwrap()
        .unwrap();
    let store = wheelbuild::store::Store::new(&dir.join(".wheelbuild/store"));
    let plan = wheelbuild::plan::Plan::new(&cfg, &lock, &store).unwrap();
    for t in plan.to_build() {
        let staging = store.stage().unwrap();
        let wheel = wheel_name(&cfg, t);
        let bytes = format!("the wheel of {}", t.id());
        std::fs::write(staging.wheels_dir().join(&wheel), &bytes).unwrap();
        let record = wheelbuild::store::BuildRecord {
            version: wheelbuild::store::STORE_VERSION,
            key: t.key.clone(),
            target: t.id().to_string(),
            inputs: t.inputs(&cfg).into_owned(),
            wheels: vec![wheelbuild::store::WheelRecord {
                file: wheel,
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                size: bytes.len() as u64,
            }],
            log: String::new(),
            duration_ms: 0,
            ccache: None,
            facts: Default::default(),
            wheelbuild_version: "bench".into(),
            provenance: None,
            provenance_signatures: Default::default(),
            built_on: None,
        };
        store.commit(staging, &record).unwrap();
    }
    plan.targets.len()
}
