//! Sources sent through the Engine API vs bind-mounted; prints ratios, asserts nothing.
//!
//! `cargo bench --bench engines [-- cext big]` (needs Docker, docker-registry, skopeo, git
//! and the cached CPU base image of `scripts/fixtures.sh`).
//!
//! The same container (wheelbuild's engine code, the fixture image, the build as
//! `build.sh` runs it: copy `/wheelbuild/src` to a scratch directory, `pip wheel` there)
//! started two ways, interleaved, five times each:
//!
//! * **upload**: the checkout (`.git` included) sent into the created container as a tar
//!   stream (`PUT /containers/{id}/archive`), what `build` does now;
//! * **bind**: the checkout bind-mounted read-only, what `build` did before (and what
//!   only works when the engine shares this machine's filesystem).
//!
//! Workloads: `cext`, the demo's C extension (goal: upload ≤ 1.05× bind); `big`, the
//! same with 200 MiB of incompressible data files committed beside it (the checkout, with
//! its `.git`, is then ~400 MiB).

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{median, run};
use support::fixtures::{self, ImageKind};
use wheelbuild::engine::{ContainerConfig, Engine, Upload};

const BUILD: &str = "set -e; cp -R --preserve=mode,timestamps /wheelbuild/src /wheelbuild/build; \
    cd /wheelbuild/build; python3 -m pip wheel -q --no-deps --no-build-isolation --wheel-dir /wheelbuild/out .";

fn config(image: &str, checkout: &Path, upload: bool) -> ContainerConfig {
    let mut sent = Upload::default();
    let mut binds = Vec::new();
    if upload {
        sent.tree(checkout, "/wheelbuild/src");
    } else {
        binds.push(format!("{}:/wheelbuild/src:ro", checkout.display()));
    }
    ContainerConfig {
        image: image.to_string(),
        platform: "linux/amd64".into(),
        cmd: vec!["sh".into(), "-c".into(), BUILD.into()],
        env: vec!["SOURCE_DATE_EPOCH=1700000000".into()],
        user: Some("0:0".into()),
        binds,
        volumes: Vec::new(),
        upload: sent,
        network: Some("none".into()),
        gpu: false,
        labels: Default::default(),
        hardened: true,
    }
}

/// Create, (send,) start, wait for and remove one build container.
fn once(rt: &tokio::runtime::Runtime, engine: &Engine, config: &ContainerConfig) -> Duration {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "wheelbuild-bench-engines-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let started = Instant::now();
    let (id, code) = rt
        .block_on(engine.run(&name, config, |_| {}))
        .expect("bench container");
    rt.block_on(engine.remove(&id)).expect("removing it");
    assert_eq!(code, 0, "the bench build failed");
    started.elapsed()
}

fn du(path: &Path) -> String {
    let out = Command::new("du").arg("-sh").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

fn compare(
    what: &str,
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    image: &str,
    checkout: &Path,
) {
    let (upload, bind) = (
        config(image, checkout, true),
        config(image, checkout, false),
    );
    // Warm: page cache, image layers.
    once(rt, engine, &upload);
    once(rt, engine, &bind);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ours.push(once(rt, engine, &upload));
        theirs.push(once(rt, engine, &bind));
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "{what} (checkout {}): upload + build {:.2} s | bind mount + build {:.2} s | {:.2}x",
        du(checkout),
        o.as_secs_f64(),
        t.as_secs_f64(),
        o.as_secs_f64() / t.as_secs_f64()
    );
}

fn main() {
    let Some(wanted) = common::selection() else {
        return;
    };
    let base = fixtures::base_image(ImageKind::Cpu);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = Engine::lazy();
    let name = base.reference.rsplit_once(':').unwrap().0.to_string();
    let image = rt
        .block_on(engine.ensure_image(
            &name,
            &base.digest,
            "linux/amd64",
            async { Ok(None) },
            &|_| {},
        ))
        .expect("pulling the base image");
    let dir = support::tempdir("bench-engines-");
    let repo = fixtures::example_repo("hello-cext");
    let checkout = dir.path().join("checkout");
    run(Command::new("git")
        .args(["clone", "-q"])
        .arg(&repo.path)
        .arg(&checkout));
    if wanted("cext") {
        compare("C extension", &rt, &engine, &image, &checkout);
    }
    if wanted("big") {
        let data = checkout.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..200 {
            let mut bytes = vec![0u8; 1 << 20];
            for chunk in bytes.chunks_mut(8) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
            }
            std::fs::write(data.join(format!("blob{i:03}.bin")), bytes).unwrap();
        }
        let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(&checkout).args(args));
        git(&["add", "-A"]);
        git(&[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-qm",
            "200 MiB of data",
        ]);
        compare("200 MiB source tree", &rt, &engine, &image, &checkout);
    }
}
