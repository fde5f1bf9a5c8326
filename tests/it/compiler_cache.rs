//! The remote compiler cache (`[cache] remote`, issue 21) against a real `redis-server` and
//! the real compilers of the fixture images: two stores with channels of their own (so
//! their local ccache volumes are apart) stand for two CI runners.
//!
//! Builds run on the host's network (`[build] network = "host"`): the server listens on
//! 127.0.0.1 only.

use crate::support::test;

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind, example_repo};
use crate::support::git::GitRepo;
use crate::support::redis::{self, Redis};

const STORE: &str = ".wheelbuild/store";
use crate::support::wait_until;

/// A config building `hello-cxx` (12 C++ units) at `tag`, with the remote cache `url` and
/// `policies` (`[cache.channels]` lines).
fn cxx_config(
    base: &BaseImage,
    test: &str,
    repo: &GitRepo,
    tag: &str,
    url: &str,
    policies: &str,
) -> String {
    config(
        &base.reference,
        test,
        &format!(
            "network = \"host\"\n\n[cache]\nremote = \"{url}\"\n\n[cache.channels]\n{policies}\n"
        ),
        &[project("hello-cxx", repo, "").replace("v0.1.0", tag)],
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

#[test]
fn a_fresh_runner_gets_remote_hits_for_every_unit_a_commit_did_not_change() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let redis = Redis::start();
    let repo = cxx_repo();
    let id = cpu("hello-cxx");
    let p = new_project(&base, "");
    let (a, b) = (format!("a.{}", p.channel), format!("b.{}", p.channel));
    let policies = format!("\"{a}\" = \"read-write\"\n\"{b}\" = \"read-write\"");
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-a", &repo, "v0.1.0", &redis.url(""), &policies),
    );
    ok(&p, &["lock"]);

    // Runner A, cold: every unit compiled, and stored on the server.
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", &a)],
        &["--store", "store-a", "build"],
    );
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert!(!redis.keys().is_empty(), "nothing stored on the server");

    // Runner B (its own store and local ccache volume) at a commit that changes one unit.
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-a", &repo, "v0.2.0", &redis.url(""), &policies),
    );
    ok(&p, &["lock"]);
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", &b)],
        &["--store", "store-b", "build"],
    );
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(&id, "gcc"),
        (11, 1, 11, 0)
    );
    assert!(
        stderr(&out).contains("ccache 92% hits (11/12): gcc 11/12 (11 remote)"),
        "{}",
        stderr(&out)
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
    let repo = cxx_repo();
    let id = cpu("hello-cxx");
    let p = new_project(&base, "");
    let ch = p.channel.clone();
    let (ci, nightly, release) = (
        format!("ci.{ch}"),
        format!("nightly.{ch}"),
        format!("release.{ch}"),
    );
    let policies =
        format!("\"{ci}\" = \"read-write\"\n\"{nightly}\" = \"isolated\"\n\"{release}\" = \"off\"");
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-r", &repo, "v0.1.0", &redis.url(""), &policies),
    );
    ok(&p, &["lock"]);
    build_in(&p, &ci, "store-ci", &[]);
    let written = redis.keys();
    assert!(!written.is_empty(), "CI stored nothing on the server");

    // `off`: the server is not used at all.
    build_in(&p, &release, "store-release", &[]);
    assert_eq!(
        StoreView(&p, "store-release").compiler_stats(&id, "gcc"),
        (0, 12, 0, 0)
    );
    assert_eq!(redis.keys(), written, "a release build wrote to the server");

    // `isolated`: the server, in a pool of its own.
    build_in(&p, &nightly, "store-nightly", &[]);
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
    let repo = cxx_repo();
    let p = new_project(&base, "");
    let policy = format!("\"{}\" = \"read-write\"", p.channel);
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-d", &repo, "v0.1.0", &url, &policy),
    );
    ok(&p, &["lock"]);
    let out = build_in(&p, &p.channel, STORE, &[]);
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
    let repo = cxx_repo();
    let id = cpu("hello-cxx");
    // The build starts compiling once the server is gone (the probe before it passed).
    let wait = format!(
        "build = \'\'\'while python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {}), 1)' 2>/dev/null; do sleep 0.2; done; python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .\'\'\'",
        redis.port
    );
    let p = new_project(&base, "");
    let policy = format!("\"{}\" = \"read-write\"", p.channel);
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-m", &repo, "v0.1.0", &url, &policy)
            .replace("ref = \"v0.1.0\"\n", &format!("ref = \"v0.1.0\"\n{wait}\n")),
    );
    ok(&p, &["lock"]);
    let running = p
        .std_cmd()
        .args(["build"])
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
    let repo = cxx_repo();
    let id = cpu("hello-cxx");
    let p = new_project(&base, "");
    let (a, b) = (format!("a.{}", p.channel), format!("b.{}", p.channel));
    let policies = format!("\"{a}\" = \"read-write\"\n\"{b}\" = \"read-write\"");
    let url = redis.url("${WB_CACHE_PASS}");
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-w", &repo, "v0.1.0", &url, &policies),
    );
    ok(&p, &["lock"]);
    let wrong = "not-the-pass-5f2e";
    let out = build_in(&p, &a, "store-a", &[("WB_CACHE_PASS", wrong)]);
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
    build_in(&p, &b, "store-b", &[("WB_CACHE_PASS", redis::PASSWORD)]);
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(&id, "gcc"),
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
}

#[test]
fn a_poisoned_cache_entry_is_never_used() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let redis = Redis::start();
    let repo = cxx_repo();
    let id = cpu("hello-cxx");
    let p = new_project(&base, "");
    let (a, b) = (format!("a.{}", p.channel), format!("b.{}", p.channel));
    let policies = format!("\"{a}\" = \"read-write\"\n\"{b}\" = \"read-write\"");
    p.write(
        "wheelbuild.toml",
        &cxx_config(&base, "cc-p", &repo, "v0.1.0", &redis.url(""), &policies),
    );
    ok(&p, &["lock"]);
    build_in(&p, &a, "store-a", &[]);
    // Flip bytes in the middle of every entry the server holds.
    let keys = redis.keys();
    assert!(!keys.is_empty());
    for key in &keys {
        let len: usize = redis.cli(&["STRLEN", key]).trim().parse().unwrap();
        redis.cli(&["SETRANGE", key, &(len / 2).to_string(), "\u{1}poison\u{2}"]);
    }
    build_in(&p, &b, "store-b", &[]);
    let (hits, misses, remote, _) = StoreView(&p, "store-b").compiler_stats(&id, "gcc");
    assert_eq!((hits, misses, remote), (0, 12, 0));
    assert_eq!(
        StoreView(&p, "store-b").wheel(&id),
        StoreView(&p, "store-a").wheel(&id)
    );
    // And verify, which rebuilds with no cache at all, agrees.
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", &b)],
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
    let ch = p.channel.clone();
    let (a, cold, b) = (format!("a.{ch}"), format!("cold.{ch}"), format!("b.{ch}"));
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
        accel_config(&base.reference, "cc-n", "cuda11.8", None, &[project]).replace(
            "gid = 1234\n",
            &format!(
                "gid = 1234\nnetwork = \"host\"\n\n[cache]\nremote = \"{}\"\n\n[cache.channels]\n\"{a}\" = \"read-write\"\n\"{b}\" = \"read-write\"\n\"{cold}\" = \"off\"\n",
                redis.url("")
            ),
        )
    };
    p.write("wheelbuild.toml", &config(1));
    ok(&p, &["lock"]);
    build_in(&p, &a, "store-a", &[]);
    let key = key_of(&p, id);
    assert_eq!(
        StoreView(&p, "store-a").compiler_stats(id, "nvcc"),
        (0, 1, 0, 0)
    );

    // Cold, with other process ids: the same wheel.
    p.write("wheelbuild.toml", &config(23));
    assert_eq!(key_of(&p, id), key, "MAX_JOBS is no key input");
    build_in(&p, &cold, "store-cold", &[]);
    let sha = StoreView(&p, "store-a").wheel(id);
    assert_eq!(
        StoreView(&p, "store-cold").wheel(id),
        sha,
        "a cold build differs"
    );

    // A fresh runner: nvcc's object from the remote cache, the same wheel.
    build_in(&p, &b, "store-b", &[]);
    assert_eq!(
        StoreView(&p, "store-b").compiler_stats(id, "nvcc"),
        (1, 0, 1, 0)
    );
    assert_eq!(
        StoreView(&p, "store-b").wheel(id),
        sha,
        "a remote hit differs"
    );
}
