//! Side-by-side timings of the simple index; prints ratios, asserts nothing.
//!
//! `cargo bench --bench index` (needs docker-registry and git, for the lock; no Docker).
//!
//! A wheelhouse of 1000 stamped wheels across 3 variants (`cpu`, `cu118`, `rocm5.2`; 10
//! projects): every target recorded in the store as `build` would, then one `build`
//! (nothing to build: it restores the wheels and stamps them, as a real one does).
//! `wheelbuild index` regenerating it with nothing changed, against `wheelbuild --version`
//! (the process floor). Goal: ≤ 5× the floor. Also shown: the index written from nothing
//! (every page new, each fsynced) and the whole no-op `build` with `[output] index = true`.

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{median, run, timed};
use support::git::GitRepo;
use support::images::{ManifestKind, push_single};
use support::registry::{Auth, Registry};

const BIN: &str = env!("CARGO_BIN_EXE_wheelbuild");
const PROJECTS: usize = 10;
/// Values of the `n` axis: 34 × 3 variants − 2 excluded cells = 100 targets a project.
const N: usize = 34;

fn wheelbuild(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .env_remove("WHEELBUILD_REMOTE");
    c
}

struct Dir(std::path::PathBuf);

impl Dir {
    fn path(&self) -> &Path {
        &self.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn index_bench() {
    let reg = Registry::start(Auth::None);
    let img = push_single(
        &reg,
        "bench/base",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "index",
    );
    let base = support::tempdir("bench-index-git-");
    let repo = GitRepo::new_in(base.path(), "repo");
    repo.commit("f", "x", "one");
    // WHEELBUILD_BENCH_KEEP=DIR keeps the project (for profiling `index` afterwards).
    let temp = support::tempdir("bench-index-");
    let kept = std::env::var_os("WHEELBUILD_BENCH_KEEP").map(std::path::PathBuf::from);
    let dir = Dir(kept.unwrap_or_else(|| temp.path().to_path_buf()));
    std::fs::create_dir_all(dir.path()).unwrap();
    let values: Vec<String> = (0..N).map(|i| format!("\"{i}\"")).collect();
    let mut config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\ncuda = [\"cpu\", \"cuda11.8\", \"rocm5.2\"]\naxes = {{ n = [{}] }}\n\n\
         [[matrix.exclude]]\ncuda = \"rocm5.2\"\nn = \"{}\"\n\n[[matrix.exclude]]\ncuda = \"rocm5.2\"\nn = \"{}\"\n\n\
         [image]\ntemplate = \"{}\"\n\n[output]\nindex = true\n",
        values.join(", "),
        N - 1,
        N - 2,
        img.reference
    );
    for p in 0..PROJECTS {
        config += &format!(
            "\n[[project]]\nname = \"p{p}\"\ngit = \"{}\"\nbuild-isolation = false\nenv = {{ P = \"{p}\" }}\n",
            repo.file_url()
        );
    }
    std::fs::write(dir.path().join("wheelbuild.toml"), config).unwrap();
    run(wheelbuild(dir.path()).arg("lock"));

    // Record every target as built, as `build` would: one wheel each.
    let targets = common::record_all_built(dir.path(), |cfg, t| {
        let (_, n) = t.target.cell.values.iter().find(|(a, _)| a == "n").unwrap();
        format!("{}-1.0.{n}-py3-none-any.whl", cfg.project_of(t.target).name)
    });
    assert_eq!(targets, 1000);
    // Restores and stamps the 1000 wheels, and writes the index.
    run(wheelbuild(dir.path()).args(["-q", "build"]));
    let index = dir.path().join("wheelhouse/index");
    let out = wheelbuild(dir.path()).arg("index").output().unwrap();
    assert!(
        index.join("cu118/simple/p9/index.json").is_file(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Interleaved: one run of each per round, so machine noise hits all alike.
    let runs = 31;
    let (mut floor, mut warm, mut cold, mut build) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        floor.push(timed(wheelbuild(dir.path()).arg("--version")));
        warm.push(timed(wheelbuild(dir.path()).args(["-q", "index"])));
        std::fs::remove_dir_all(&index).unwrap();
        cold.push(timed(wheelbuild(dir.path()).args(["-q", "index"])));
        build.push(timed(wheelbuild(dir.path()).args(["-q", "build"])));
    }
    let [floor, warm, cold, build] = [floor, warm, cold, build].map(median);
    println!("index: 1000 stamped wheels, 3 variants, {PROJECTS} projects");
    println!(
        "  wheelbuild --version             {:>9.2} ms (median of {runs})",
        ms(floor)
    );
    for (name, t, goal) in [
        ("index (nothing changed)", warm, " (goal <= 5x)"),
        ("index (from nothing)", cold, ""),
        ("build (no-op, index = true)", build, ""),
    ] {
        println!(
            "  wheelbuild {name:<28}{:>9.2} ms   {:.2}x the floor{goal}",
            ms(t),
            t.as_secs_f64() / floor.as_secs_f64()
        );
    }
}

fn main() {
    let Some(wanted) = common::selection() else {
        return;
    };
    support::require_all(&["docker-registry", "git"]);
    if wanted("index") {
        index_bench();
    }
}
