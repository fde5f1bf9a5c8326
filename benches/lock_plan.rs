//! Side-by-side timings for the core commands; prints ratios, asserts nothing.
//!
//! `cargo bench --bench lock_plan` (needs docker-registry, skopeo, git on PATH).
//!
//! 1. `wheelbuild lock` of 64 image tags (local registry) + 64 git refs (git daemon),
//!    against the same resolutions scripted as a careful user would: `skopeo inspect
//!    --raw --no-tags` 8 at a time (`xargs -P 8`, the digest is the sha256 of the raw
//!    manifest) and one `git ls-remote` of the repository; also with the skopeo calls one
//!    by one. Goal: lock ≥ 20× faster than the careful script.
//! 2. `wheelbuild plan` on 1000 targets, all cached, against `wheelbuild --version`
//!    (the process floor). Goal: plan ≤ 3× the floor.

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{median, run, timed};
use support::git::{GitDaemon, GitRepo};
use support::images::{ManifestKind, push_single};
use support::registry::{Auth, Registry};

const BIN: &str = env!("CARGO_BIN_EXE_wheelbuild");
const N: usize = 64;

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn wheelbuild(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env("DOCKER_CONFIG", dir.join(".docker"));
    c
}

fn lock_bench() {
    let reg = Registry::start(Auth::None);
    for i in 0..N {
        push_single(
            &reg,
            "bench/img",
            &format!("t{i}"),
            "linux/amd64",
            ManifestKind::Oci,
            &format!("seed{i}"),
        );
    }
    let base = support::tempdir("bench-git-");
    let repo = GitRepo::new_in(base.path(), "repo");
    for i in 0..N {
        repo.commit("f", &i.to_string(), &format!("c{i}"));
        repo.tag(&format!("v{i}"));
    }
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("repo");

    let dir = support::tempdir("bench-lock-");
    let values: Vec<String> = (0..N).map(|i| format!("\"{i}\"")).collect();
    let mut config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\naxes = {{ n = [{}] }}\n\n[image]\ntemplate = \"{}/bench/img:t{{n}}\"\n",
        values.join(", "),
        reg.addr
    );
    for i in 0..N {
        config += &format!(
            "\n[[project]]\nname = \"p{i}\"\ngit = \"{url}\"\nref = \"v{i}\"\nmatrix = {{ n = [\"{i}\"] }}\n"
        );
    }
    std::fs::write(dir.path().join("wheelbuild.toml"), &config).unwrap();

    // Where the time goes: the same inputs split into images only and git only.
    let split = |name: &str, text: String| {
        let d = support::tempdir(name);
        std::fs::write(d.path().join("wheelbuild.toml"), text).unwrap();
        run(wheelbuild(d.path()).args(["-q", "lock"]));
        time(7, || {
            run(wheelbuild(d.path()).args(["-q", "lock", "--update-all"]))
        })
    };
    let images_only = split(
        "bench-images-",
        format!(
            "{}\n[[project]]\nname = \"p\"\ngit = \"{url}\"\nref = \"v0\"\n",
            config.split("\n[[project]]").next().unwrap()
        ),
    );
    let git_only = split(
        "bench-git-only-",
        config.replace(
            &format!("{}/bench/img:t{{n}}", reg.addr),
            &format!("{}/bench/img:t0", reg.addr),
        ),
    );

    // The reference, as a careful user would script it: skopeo without the tag listing
    // (`--no-tags`), 8 at a time, and one `git ls-remote` for the whole repository; also
    // the same skopeo calls one after another.
    let refs: String = (0..N)
        .map(|i| format!("docker://{}/bench/img:t{i}\n", reg.addr))
        .collect();
    let skopeo = "skopeo inspect --raw --no-tags --tls-verify=false --no-creds";
    let parallel = format!(
        "set -eo pipefail\nprintf %s \"$REFS\" | xargs -P 8 -n 1 sh -c '{skopeo} \"$0\" | sha256sum'\n\
         git ls-remote {url}\n"
    );
    let serial = format!(
        "set -eo pipefail\nfor r in $REFS; do {skopeo} \"$r\" | sha256sum; done\ngit ls-remote {url}\n"
    );
    let script = |text: &str| {
        let mut c = Command::new("bash");
        c.arg("-c").arg(text).env("REFS", &refs);
        c
    };

    // Warm every side once (page cache, first connections), then interleave the rounds so
    // that the machine's drift falls on all of them alike.
    run(wheelbuild(dir.path()).args(["lock", "--update-all"]));
    run(&mut script(&parallel));
    run(&mut script(&serial));
    let (mut lock, mut careful, mut one_by_one) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        lock.push(timed(wheelbuild(dir.path()).args([
            "-q",
            "lock",
            "--update-all",
        ])));
        careful.push(timed(&mut script(&parallel)));
        one_by_one.push(timed(&mut script(&serial)));
    }
    let (lock, careful, one_by_one) = (median(lock), median(careful), median(one_by_one));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    println!("lock: {N} image tags + {N} git refs (5 interleaved rounds, medians)");
    println!(
        "  wheelbuild lock --update-all                          {:>9.1} ms",
        ms(lock)
    );
    println!(
        "  skopeo --raw --no-tags ×{N}, 8 at a time + 1 ls-remote {:>9.1} ms  ratio {:.1}x (goal >= 20x)",
        ms(careful),
        careful.as_secs_f64() / lock.as_secs_f64()
    );
    println!(
        "  the same skopeo calls one by one + 1 ls-remote        {:>9.1} ms  ratio {:.1}x",
        ms(one_by_one),
        one_by_one.as_secs_f64() / lock.as_secs_f64()
    );
    println!(
        "  (split: {N} images + 1 ref {:.1} ms; 1 image + {N} refs {:.1} ms)",
        ms(images_only),
        ms(git_only)
    );
}

fn plan_bench() {
    let reg = Registry::start(Auth::None);
    let img = push_single(
        &reg,
        "bench/base",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "plan",
    );
    let base = support::tempdir("bench-plan-git-");
    let repo = GitRepo::new_in(base.path(), "repo");
    repo.commit("f", "x", "one");
    for p in 0..10 {
        repo.branch(&format!("b{p}"));
    }
    // WHEELBUILD_BENCH_KEEP=DIR keeps the project (for profiling `plan` afterwards).
    let kept = std::env::var_os("WHEELBUILD_BENCH_KEEP").map(std::path::PathBuf::from);
    let temp = support::tempdir("bench-plan-");
    let dir_path = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir_path).unwrap();
    struct Dir(std::path::PathBuf);
    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    let dir = Dir(dir_path);
    let values: Vec<String> = (0..100).map(|i| format!("\"{i}\"")).collect();
    let mut config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\naxes = {{ n = [{}] }}\n\n[image]\ntemplate = \"{}\"\n",
        values.join(", "),
        img.reference
    );
    for p in 0..10 {
        config += &format!(
            "\n[[project]]\nname = \"p{p}\"\ngit = \"{}\"\nref = \"b{p}\"\nenv = {{ CFLAGS = \"-O{p}\", N = \"{{n}}\" }}\n",
            repo.file_url()
        );
    }
    std::fs::write(dir.path().join("wheelbuild.toml"), config).unwrap();
    run(wheelbuild(dir.path()).arg("lock"));

    // Record every target as built, as `build` would (one wheel per key, as real builds
    // have: the presence check stats it).
    let targets = common::record_all_built(dir.path(), |_, _| "bench-1.0-py3-none-any.whl".into());
    assert_eq!(targets, 1000);
    run(wheelbuild(dir.path()).arg("check"));

    // Interleaved: one run of each command per round, so machine noise hits all alike.
    let runs = 41;
    let commands: [&[&str]; 4] = [
        &["--version"],
        &["plan"],
        &["plan", "--format", "json"],
        &["check"],
    ];
    let mut samples: [Vec<Duration>; 4] = Default::default();
    for _ in 0..runs {
        for (args, times) in commands.iter().zip(samples.iter_mut()) {
            times.push(timed(wheelbuild(dir.path()).args(*args)));
        }
    }
    let [floor, plan_t, json_t, check_t] = samples.map(median);
    println!("plan: 1000 targets, all cached");
    println!(
        "  wheelbuild --version             {:>9.2} ms (median of {runs})",
        floor.as_secs_f64() * 1e3
    );
    for (name, t) in [
        ("plan", plan_t),
        ("plan --format json", json_t),
        ("check", check_t),
    ] {
        println!(
            "  wheelbuild {name:<22}{:>9.2} ms   {:.2}x the floor (goal <= 3x)",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / floor.as_secs_f64()
        );
    }
}

fn main() {
    let Some(wanted) = common::selection() else {
        return;
    };
    support::require_all(&["docker-registry", "skopeo", "git"]);
    if wanted("lock") {
        lock_bench();
    }
    if wanted("plan") {
        plan_bench();
    }
}
