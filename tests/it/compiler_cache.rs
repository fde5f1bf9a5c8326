//! The remote compiler cache (`[cache] remote`, issue 21) against a real `redis-server` (and
//! for the `http://` form, a real WebDAV server: nginx) and the real compilers of the fixture images: two stores with channels of their own (so
//! their local ccache volumes are apart) stand for two CI runners.
//!
//! Builds run on the host's network (`[build] network = "host"`): the server listens on
//! 127.0.0.1 only.

use crate::support::test;

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind, example_repo};
use crate::support::git::GitRepo;
use crate::support::pypi::{PypiServer, SCIKIT_BUILD_WHEELS};
use crate::support::redis::{self, Redis};
use crate::support::webdav::WebDav;

const STORE: &str = ".wheelbuild/store";
use crate::support::wait_until;

/// `[build]`'s `network = "host"` (the server listens on loopback) and the `[cache]`
/// tables: the remote cache `url` and `policies` (`[cache.channels]` lines).
fn cache_tables(url: &str, policies: &str) -> String {
    format!("network = \"host\"\n\n[cache]\nremote = \"{url}\"\n\n[cache.channels]\n{policies}\n")
}

/// Channels of `p`'s own (`NAME.<its channel>`, whose volumes go with it) with the
/// policies given: their `[cache.channels]` lines and names, in order.
fn channels(p: &Project, policies: &[(&str, &str)]) -> (String, Vec<String>) {
    let names: Vec<String> = policies
        .iter()
        .map(|(name, _)| format!("{name}.{}", p.channel))
        .collect();
    let lines = names
        .iter()
        .zip(policies)
        .map(|(name, (_, policy))| format!("\"{name}\" = \"{policy}\"\n"))
        .collect();
    (lines, names)
}

/// `config` for one accelerator cell (`accel_config`) with [`cache_tables`].
fn accel_cache_config(
    base: &BaseImage,
    test: &str,
    variant: &str,
    project: String,
    url: &str,
    policies: &str,
) -> String {
    accel_config(&base.reference, test, variant, None, &[project]).replace(
        "gid = 1234\n",
        &format!("gid = 1234\n{}", cache_tables(url, policies)),
    )
}

/// `hello-cxx` with a second tag, `v0.2.0`, whose only change is in one unit.
fn cxx_repo() -> GitRepo {
    let repo = example_repo("hello-cxx");
    let unit = std::fs::read_to_string(repo.path.join("src/unit03.cpp")).unwrap();
    repo.commit(
        "src/unit03.cpp",
        &unit.replace("% 97", "% 89"),
        "unit03: another modulus",
    );
    repo.annotated_tag("v0.2.0", "hello-cxx v0.2.0");
    repo
}

/// A locked project building `hello-cxx` at `v0.1.0` with the remote cache `url`, and
/// channels of its own (`NAME.<its channel>`, whose volumes go with it) with the
/// policies given: the project and the channels' names, in order.
fn cxx_project(
    base: &BaseImage,
    test: &str,
    url: &str,
    policies: &[(&str, &str)],
) -> (Project, Vec<String>) {
    let p = new_project(base, "");
    let (lines, names) = channels(&p, policies);
    let repo = cxx_repo();
    let project = project("hello-cxx", &repo, "");
    p.write(
        "wheelbuild.toml",
        &config(
            &base.reference,
            test,
            &cache_tables(url, &lines),
            &[project],
        ),
    );
    ok(&p, &["lock"]);
    (p.hold(repo), names)
}

/// Runner A builds hello-cxx cold with the remote cache `url` (`stored` then says whether
/// the server holds what it stored); runner B (its own store and local ccache volume), at
/// a commit that changes one unit, gets remote hits for the 11 others.
fn a_fresh_runner_gets_remote_hits_from(url: &str, test: &str, stored: impl Fn() -> bool) {
    let base = fixtures::base_image(ImageKind::Cpu);
    let policies = [("a", "read-write"), ("b", "read-write")];
    let (p, runners) = cxx_project(&base, test, url, &policies);

    build_in(&p, &runners[0], "store-a", &[]);
    assert!(stored(), "nothing stored on the server");

    p.write(
        "wheelbuild.toml",
        &p.read("wheelbuild.toml").replace("v0.1.0", "v0.2.0"),
    );
    ok(&p, &["lock"]);
    let out = build_in(&p, &runners[1], "store-b", &[]);
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(&cpu("hello-cxx"), "gcc"),
        (11, 1, 11, 0)
    );
    assert!(
        stderr(&out).contains("ccache 92% hits (11/12): gcc 11/12 (11 remote)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fresh_runner_gets_remote_hits_for_every_unit_a_commit_did_not_change() {
    let redis = Redis::start();
    a_fresh_runner_gets_remote_hits_from(&redis.url(""), "cc-a", || !redis.keys().is_empty());
}

/// The `http://` form: ccache's HTTP storage on a real WebDAV server (nginx), with the same
/// outcome as Redis, read from what the first runner `PUT` on the server.
#[test]
fn an_http_cache_server_gives_a_fresh_runner_remote_hits() {
    let server = WebDav::start();
    a_fresh_runner_gets_remote_hits_from(&server.url(), "cc-http", || {
        !server.stored().is_empty() && server.requests().iter().any(|r| r == "PUT 201")
    });
    assert!(
        server.requests().iter().any(|r| r == "GET 200"),
        "{:?}",
        server.requests()
    );
}

/// Regression: CMake's try-compiles (its compiler checks, built in
/// `CMakeFiles/CMakeScratch/TryCompile-<random>`) went through the compiler cache and
/// counted as the project's compiles; those whose random directory reaches the hash (nvcc's
/// keep directory) missed on every build and stored an entry that no build reads. A
/// rebuild of `hello-skbuild` with the cache warm now counts its one unit, a hit.
#[test]
fn cmakes_compiler_checks_stay_out_of_the_compiler_cache() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let index = PypiServer::start(&SCIKIT_BUILD_WHEELS);
    let repo = example_repo("hello-skbuild");
    let p = locked_project(
        &base,
        "cc-t",
        &format!(
            "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
            index.url()
        ),
        &[project("hello-skbuild", &repo, "")],
    );
    let id = cpu("hello-skbuild");
    ok(&p, &["build"]);
    assert_eq!(
        StoreView(&p, STORE).compiler_stats(&id, "g++"),
        (0, 1, 0, 0)
    );
    ok(&p, &["--store", "store-warm", "build"]);
    assert_eq!(
        StoreView(&p, "store-warm").compiler_stats(&id, "g++"),
        (1, 0, 0, 0)
    );
}

/// A project's records in the store `dir` (relative to the project).
struct StoreView<'a>(&'a Project, &'a str);

impl StoreView<'_> {
    fn record(&self, id: &str) -> serde_json::Value {
        let key = key_of(self.0, id);
        let path = self
            .0
            .file(self.1)
            .join("v2/records")
            .join(format!("{key}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The sha256 of the target's one wheel.
    fn wheel(&self, id: &str) -> String {
        self.record(id)["wheels"][0]["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// One compiler's `(hits, misses, remote hits, remote errors)` in the target's record.
    fn compiler_stats(&self, id: &str, compiler: &str) -> (u64, u64, u64, u64) {
        let record = self.record(id);
        let c = &record["ccache"]["compilers"][compiler];
        assert!(
            c.is_object(),
            "no {compiler} statistics: {:#}",
            record["ccache"]
        );
        let n = |k: &str| c[k].as_u64().unwrap();
        (n("hits"), n("misses"), n("remote-hits"), n("remote-errors"))
    }
}

/// Builds `p` (locked) in `channel` into `store` with `env`; the output, which must be a
/// success.
fn build_in(p: &Project, channel: &str, store: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut env = env.to_vec();
    env.push(("WHEELBUILD_CACHE_CHANNEL", channel));
    let out = run_env(p, &env, &["--store", store, "build"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    out
}

#[test]
fn a_release_build_gets_no_hits_from_the_entries_ci_wrote() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let redis = Redis::start();
    let id = cpu("hello-cxx");
    let policies = [
        ("ci", "read-write"),
        ("release", "off"),
        ("nightly", "isolated"),
    ];
    let (p, channels) = cxx_project(&base, "cc-r", &redis.url(""), &policies);
    let [ci, release, nightly] = &channels[..] else {
        unreachable!()
    };
    build_in(&p, ci, "store-ci", &[]);
    let written = redis.keys();
    assert!(!written.is_empty(), "CI stored nothing on the server");

    // `off`: the server is not used at all.
    build_in(&p, release, "store-release", &[]);
    assert_eq!(
        StoreView(&p, "store-release").compiler_stats(&id, "gcc"),
        (0, 12, 0, 0)
    );
    assert_eq!(redis.keys(), written, "a release build wrote to the server");

    // `isolated`: the server, in a pool of its own.
    build_in(&p, nightly, "store-nightly", &[]);
    assert_eq!(
        StoreView(&p, "store-nightly").compiler_stats(&id, "gcc"),
        (0, 12, 0, 0)
    );
    assert!(
        redis.keys().len() > written.len(),
        "the nightly build stored nothing"
    );

    // The same wheel, whichever cache it came through.
    let sha = StoreView(&p, "store-ci").wheel(&id);
    for store in ["store-release", "store-nightly"] {
        assert_eq!(StoreView(&p, store).wheel(&id), sha, "{store}");
    }
}

#[test]
fn a_cache_server_that_is_down_is_a_warning_and_the_build_goes_on_uncached() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let mut redis = Redis::start();
    let url = redis.url("");
    redis.stop();
    let (p, channels) = cxx_project(&base, "cc-d", &url, &[("a", "read-write")]);
    let out = build_in(&p, &channels[0], STORE, &[]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("remote compiler cache {url} cannot be reached: "))
            && err.contains("; building without it"),
        "{err}"
    );
    assert_eq!(
        StoreView(&p, STORE).compiler_stats(&cpu("hello-cxx"), "gcc"),
        (0, 12, 0, 0)
    );
}

#[test]
fn a_cache_server_that_goes_down_mid_build_is_a_warning_and_the_build_goes_on() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let mut redis = Redis::start();
    let url = redis.url("");
    let id = cpu("hello-cxx");
    let (p, channels) = cxx_project(&base, "cc-m", &url, &[("a", "read-write")]);
    // The build starts compiling once the server is gone (the probe before it passed).
    let wait = format!(
        "build = \'\'\'while python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {}), 1)' 2>/dev/null; do sleep 0.2; done; python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .\'\'\'",
        redis.port
    );
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("ref = \"v0.1.0\"\n", &format!("ref = \"v0.1.0\"\n{wait}\n")),
    );
    ok(&p, &["lock"]);
    let running = p
        .std_cmd()
        .args(["build"])
        .env("WHEELBUILD_CACHE_CHANNEL", &channels[0])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = wait_until(HANG, || {
        let log = std::fs::read_to_string(log_path(&p, &id)).ok()?;
        log.contains("::wheelbuild:: build: ").then_some(())
    });
    assert!(started.is_some(), "the build did not start");
    redis.stop();
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let (hits, misses, remote, errors) = StoreView(&p, STORE).compiler_stats(&id, "gcc");
    assert_eq!((hits, misses, remote), (0, 12, 0));
    assert!(errors > 0, "no failed remote lookup counted");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "remote compiler cache {url}: {errors} lookup(s) failed"
        )),
        "{err}"
    );
}

#[test]
fn wrong_cache_credentials_are_a_warning_that_names_no_secret() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let redis = Redis::start_with_password();
    let policies = [("a", "read-write"), ("b", "read-write")];
    let url = redis.url("${WB_CACHE_PASS}");
    let (p, runners) = cxx_project(&base, "cc-w", &url, &policies);
    let wrong = "not-the-pass-5f2e";
    let out = build_in(&p, &runners[0], "store-a", &[("WB_CACHE_PASS", wrong)]);
    let err = stderr(&out);
    let server = format!("redis://127.0.0.1:{}", redis.port);
    assert!(
        err.contains(&format!(
            "remote compiler cache {server} refused wheelbuild's credentials: WRONGPASS"
        )),
        "{err}"
    );
    assert!(!err.contains(wrong), "{err}");
    assert!(redis.keys().is_empty());

    // The right one: entries stored, and the password is in no file wheelbuild wrote.
    build_in(
        &p,
        &runners[1],
        "store-b",
        &[("WB_CACHE_PASS", redis::PASSWORD)],
    );
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(&cpu("hello-cxx"), "gcc"),
        (0, 12, 0, 0)
    );
    assert!(
        !redis.keys().is_empty(),
        "nothing stored with the right password"
    );
    for secret in [wrong, redis::PASSWORD] {
        let found = files_containing(p.path(), secret.as_bytes());
        assert!(found.is_empty(), "{secret} in {found:?}");
    }
    // verify rebuilds with no cache: it needs no credentials.
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", &runners[1])],
        &["--store", "store-b", "verify"],
    );
    assert!(out.status.success(), "{}", p.snapshot(&out));
}

#[test]
fn a_poisoned_cache_entry_is_never_used() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let redis = Redis::start();
    let id = cpu("hello-cxx");
    let policies = [("a", "read-write"), ("b", "read-write")];
    let (p, runners) = cxx_project(&base, "cc-p", &redis.url(""), &policies);
    build_in(&p, &runners[0], "store-a", &[]);
    // Flip bytes in the middle of every entry the server holds.
    let keys = redis.keys();
    assert!(!keys.is_empty());
    for key in &keys {
        let len: usize = redis.cli(&["STRLEN", key]).trim().parse().unwrap();
        redis.cli(&["SETRANGE", key, &(len / 2).to_string(), "\u{1}poison\u{2}"]);
    }
    build_in(&p, &runners[1], "store-b", &[]);
    let (hits, misses, remote, _) = StoreView(&p, "store-b").compiler_stats(&id, "gcc");
    assert_eq!((hits, misses, remote), (0, 12, 0));
    assert_eq!(
        StoreView(&p, "store-b").wheel(&id),
        StoreView(&p, "store-a").wheel(&id)
    );
    // And verify, which rebuilds with no cache at all, agrees.
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", &runners[1])],
        &["--store", "store-b", "verify"],
    );
    assert!(out.status.success(), "{}", p.snapshot(&out));
}

/// The files under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => found.extend(files_containing(&path, needle)),
            Ok(t) if t.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
            _ => {}
        }
    }
    found
}

/// `hello-cuda` at `v0.2.0`, which keeps nvcc's `tmpxft_<pid>_…` names in its objects
/// (the example strips them itself: this one leaves them to wheelbuild).
fn cuda_repo() -> GitRepo {
    let repo = example_repo("hello-cuda");
    let setup = std::fs::read_to_string(repo.path.join("setup.py")).unwrap();
    let kept = setup.replace("            _drop_tmpxft_symbols(obj)\n", "");
    assert_ne!(kept, setup);
    repo.commit("setup.py", &kept, "setup.py: leave nvcc's symbols alone");
    repo.annotated_tag("v0.2.0", "hello-cuda v0.2.0");
    repo
}

#[test]
fn nvcc_objects_are_the_same_bytes_cold_and_from_a_remote_hit() {
    let base = fixtures::base_image(ImageKind::Cuda);
    let redis = Redis::start();
    let repo = cuda_repo();
    let id = "hello-cuda/py3.11-cuda11.8";
    let p = new_project(&base, "");
    let policies = [("a", "read-write"), ("cold", "off"), ("b", "read-write")];
    let (lines, channels) = channels(&p, &policies);
    let [a, cold, b] = &channels[..] else {
        unreachable!()
    };
    // MAX_JOBS (not a key input) starts as many processes before the build: nvcc's
    // process ids, and so its temporaries' names, differ between the builds.
    let config = |jobs: u32| {
        let project = project(
            "hello-cuda",
            &repo,
            &format!(
                "env = {{ MAX_JOBS = \"{jobs}\" }}\nbuild = 'seq \"$MAX_JOBS\" | xargs -n1 true; python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .'"
            ),
        )
        .replace("v0.1.0", "v0.2.0");
        accel_cache_config(&base, "cc-n", "cuda11.8", project, &redis.url(""), &lines)
    };
    p.write("wheelbuild.toml", &config(1));
    ok(&p, &["lock"]);
    build_in(&p, a, "store-a", &[]);
    let key = key_of(&p, id);
    assert_eq!(
        StoreView(&p, "store-a").compiler_stats(id, "nvcc"),
        (0, 1, 0, 0)
    );

    // Cold, with other process ids: the same wheel.
    p.write("wheelbuild.toml", &config(23));
    assert_eq!(key_of(&p, id), key, "MAX_JOBS is no key input");
    build_in(&p, cold, "store-cold", &[]);
    let sha = StoreView(&p, "store-a").wheel(id);
    assert_eq!(
        StoreView(&p, "store-cold").wheel(id),
        sha,
        "a cold build differs"
    );

    // A fresh runner: nvcc's object from the remote cache, the same wheel.
    build_in(&p, b, "store-b", &[]);
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(id, "nvcc"),
        (1, 0, 1, 0)
    );
    assert_eq!(
        StoreView(&p, "store-b").wheel(id),
        sha,
        "a remote hit differs"
    );
    // And verify's rebuild, with no cache at all.
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", b)],
        &["--store", "store-b", "verify"],
    );
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert!(stdout(&out).contains("reproducible"), "{}", stdout(&out));
}

/// CMake's CUDA language runs nvcc through its launcher (`CMAKE_CUDA_COMPILER_LAUNCHER`):
/// the four `.cu` units of `hello-cmake-cuda` are compiled cold, then read from the
/// local cache, then, with the local cache volume gone (a fresh runner), from the remote
/// one; the three wheels are the same bytes.
#[test]
fn a_cmake_cuda_extension_is_byte_identical_cold_from_the_local_cache_and_from_the_remote_one() {
    let base = fixtures::base_image(ImageKind::Cuda);
    let redis = Redis::start();
    let index = PypiServer::start(&SCIKIT_BUILD_WHEELS);
    let repo = example_repo("hello-cmake-cuda");
    let id = "hello-cmake-cuda/py3.11-cuda11.8";
    let p = new_project(&base, "");
    let (lines, channels) = channels(&p, &[("a", "read-write")]);
    let runner = &channels[0];
    let project = project("hello-cmake-cuda", &repo, "env = { CUDAARCHS = \"86\" }");
    let config = accel_cache_config(&base, "cc-cm", "cuda11.8", project, &redis.url(""), &lines);
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[pip]\nindex-url = \"{}\"\n", index.url()),
    );
    ok(&p, &["lock"]);
    let nvcc = |store: &str| StoreView(&p, store).compiler_stats(id, "nvcc");

    build_in(&p, runner, "store-cold", &[]);
    assert_eq!(nvcc("store-cold"), (0, 4, 0, 0));
    build_in(&p, runner, "store-local", &[]);
    assert_eq!(nvcc("store-local"), (4, 0, 0, 0));
    let volume = Project::cache_volume("ccache", runner, "cuda11.8");
    fixtures::remove_cache_volumes(None, |v| v == volume);
    build_in(&p, runner, "store-remote", &[]);
    assert_eq!(nvcc("store-remote"), (4, 0, 4, 0));
    assert_eq!(
        StoreView(&p, "store-remote").compiler_stats(id, "g++"),
        (1, 0, 1, 0),
        "the binding's unit"
    );

    let sha = StoreView(&p, "store-cold").wheel(id);
    for store in ["store-local", "store-remote"] {
        assert_eq!(StoreView(&p, store).wheel(id), sha, "{store}");
    }
}

#[test]
fn hipcc_compiles_come_from_the_remote_cache_on_a_fresh_runner() {
    let base = fixtures::base_image(ImageKind::Rocm);
    let redis = Redis::start();
    let repo = example_repo("hello-rocm");
    let id = "hello-rocm/py3.11-rocm5.2";
    let p = new_project(&base, "");
    let (lines, runners) = channels(&p, &[("a", "read-write"), ("b", "read-write")]);
    let project = project("hello-rocm", &repo, "");
    p.write(
        "wheelbuild.toml",
        &accel_cache_config(&base, "cc-h", "rocm5.2", project, &redis.url(""), &lines),
    );
    ok(&p, &["lock"]);
    build_in(&p, &runners[0], "store-a", &[]);
    assert_eq!(
        StoreView(&p, "store-a").compiler_stats(id, "hipcc"),
        (0, 1, 0, 0)
    );
    build_in(&p, &runners[1], "store-b", &[]);
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(id, "hipcc"),
        (1, 0, 1, 0)
    );
    assert_eq!(
        StoreView(&p, "store-b").wheel(id),
        StoreView(&p, "store-a").wheel(id)
    );
}

#[test]
fn cmake_launchers_and_pytorch_nvcc_run_each_compile_through_the_cache_once() {
    let base = fixtures::base_image(ImageKind::Cuda);
    let repo = example_repo("hello-cuda");
    let id = "hello-cuda/py3.11-cuda11.8";
    // As CMake runs its launchers (`LAUNCHER COMPILER ARGS`, the compiler by absolute
    // path, or the wrapper PATH gave it) and torch.utils.cpp_extension runs PYTORCH_NVCC.
    let build = r#"build = '''set -e
L=$CMAKE_C_COMPILER_LAUNCHER
"$L" /usr/bin/gcc -c src/module.c -o /tmp/a.o -I/usr/include/python3.11
"$L" "$(command -v gcc)" -c src/module.c -o /tmp/b.o -I/usr/include/python3.11
"$PYTORCH_NVCC" -c src/kernels.cu -o /tmp/k1.o
"$CMAKE_CUDA_COMPILER_LAUNCHER" /usr/bin/nvcc -c src/kernels.cu -o /tmp/k2.o
python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir "$WHEELBUILD_OUT" .'''"#;
    let config = accel_config(
        &base.reference,
        "cc-l",
        "cuda11.8",
        None,
        &[project("hello-cuda", &repo, build)],
    );
    let p = new_project(&base, &config);
    ok(&p, &["lock"]);
    ok(&p, &["build"]);
    // gcc: a.o compiled, b.o the same compile (a hit), pip's own with other flags; nvcc:
    // three objects, each its own keep directory. None counted twice.
    assert_eq!(StoreView(&p, STORE).compiler_stats(id, "gcc"), (1, 2, 0, 0));
    assert_eq!(
        StoreView(&p, STORE).compiler_stats(id, "nvcc"),
        (0, 3, 0, 0)
    );
}

/// Regression: with the compiler wrappers first on PATH, torch.utils.cpp_extension took
/// the wrappers' directory for the CUDA toolkit (`CUDA_HOME='/wheelbuild/home'`) and ran
/// `/wheelbuild/home/bin/nvcc`, which does not exist: the demo's torch extension failed.
/// The build runs torch 2.0.1's own lookups (`_find_cuda_home`, `_find_rocm_home`).
#[test]
fn torchs_toolkit_lookup_finds_the_real_nvcc_and_hipcc_behind_the_compiler_wrappers() {
    for (kind, variant, tool, lookup) in [
        (
            ImageKind::Cuda,
            "cuda11.8",
            "nvcc",
            "os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH') or os.path.dirname(os.path.dirname(shutil.which('nvcc')))",
        ),
        (
            ImageKind::Rocm,
            "rocm5.2",
            "hipcc",
            "os.environ.get('ROCM_HOME') or os.environ.get('ROCM_PATH') or os.path.dirname(os.path.dirname(os.path.realpath(shutil.which('hipcc'))))",
        ),
    ] {
        let base = fixtures::base_image(kind);
        let repo = example_repo("hello-cext");
        let build = format!(
            "build = '''set -e\nhome=$(python3 -c \"import os, shutil; print({lookup})\")\n\
             echo \"toolkit home: $home\"\ntest -x \"$home/bin/{tool}\"\n\
             python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .'''"
        );
        let config = accel_config(
            &base.reference,
            &format!("cc-home-{tool}"),
            variant,
            None,
            &[project("hello-cext", &repo, &build)],
        );
        let p = new_project(&base, &config);
        ok(&p, &["lock"]);
        let out = p.run(&["build"]);
        assert!(out.status.success(), "{}", p.snapshot(&out));
    }
}
