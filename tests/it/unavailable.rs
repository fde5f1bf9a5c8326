//! Cells nobody publishes for: when the index has no distribution of a cell's pip request
//! for its image, `lock` records the cell's environment as unavailable (pip's reason kept)
//! instead of failing, `plan` shows it and builds nothing for it, `check` does not count
//! it, `audit` lists it, and every `lock` tries it again. `[matrix] unavailable = "error"`
//! fails the lock as before. Real parts: the base image, a real package index
//! (pypiserver on loopback) holding six 1.17.0 only as a cp313 wheel, and Docker.

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind};
use crate::support::pypi::{PypiServer, pypi_fixture};
use crate::support::{self, test};

const SIX_16: &str = "six-1.16.0-py2.py3-none-any.whl";
const SIX_17: &str = "six-1.17.0-py2.py3-none-any.whl";
/// six 1.17.0 as a wheel for CPython 3.13 only: nothing the base images' 3.11 can install.
const SIX_17_CP313: &str = "six-1.17.0-cp313-cp313-manylinux_2_17_x86_64.whl";

const UNAVAILABLE: &str = "envtest/py3.11-cpu-six=1.17.0";

/// An index with six 1.16.0 for any Python, and 1.17.0 for cp313 only (a copy of the pure
/// wheel under a cp313 name: pip skips it by its name, so never reads it).
fn index_without_a_cp311_six_17() -> PypiServer {
    let server = PypiServer::start(&[SIX_16]);
    std::fs::copy(
        pypi_fixture().join("packages").join(SIX_17),
        server.wheel_path(SIX_17_CP313),
    )
    .unwrap();
    server
}

/// A project `envtest` over the axis `six = ["1.16.0", "1.17.0"]` that installs
/// `six=={six}` from `index`, with `[matrix] unavailable = POLICY` when given; not locked.
fn six_matrix(base: &BaseImage, index: &str, test: &str, policy: Option<&str>) -> Project {
    let repo = pure_repo("envtest", None);
    let more = "pip = [\"six=={six}\"]\nbuild = \"python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \\\"$WHEELBUILD_OUT\\\" .\"";
    let extra = format!("network = \"host\"\n\n[pip]\nindex-url = \"{index}\"\n");
    let mut matrix = "python = [\"3.11\"]\naxes = { six = [\"1.16.0\", \"1.17.0\"] }".to_string();
    if let Some(policy) = policy {
        matrix.push_str(&format!("\nunavailable = \"{policy}\""));
    }
    let config = config(
        &base.reference,
        test,
        &extra,
        &[project("envtest", &repo, more)],
    )
    .replace("python = [\"3.11\"]", &matrix);
    new_project(base, &config).hold(repo)
}

/// The lock's environment of `six==VERSION`.
fn env_of(p: &Project, version: &str) -> wheelbuild::lock::LockedEnvironment {
    let pip = format!("six=={version}");
    lock_of(p)
        .environments
        .into_iter()
        .find(|e| e.pip == [pip.clone()])
        .unwrap_or_else(|| panic!("no environment of {pip}:\n{}", p.read("wheelbuild.lock")))
}

#[test]
fn a_cell_upstream_publishes_nothing_for_is_locked_as_unavailable() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = index_without_a_cp311_six_17();
    let p = six_matrix(&base, &server.url(), "unavail-lock", None);
    let out = ok(&p, &["lock"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Unavailable environment {} + pip six==1.17.0 + build requirements setuptools>=61, wheel: six==1.17.0 has no wheel for cp311 (pip found 1.16.0) (not built)",
            base.reference
        )),
        "{}",
        p.snapshot(&out)
    );
    let lock = lock_of(&p);
    assert_eq!(lock.version, 6, "{}", p.read("wheelbuild.lock"));
    // The other cell is pinned as ever.
    let available = env_of(&p, "1.16.0");
    assert_eq!(available.unavailable, None);
    assert_eq!(available.packages[0].sha256, server.sha256_of(SIX_16));
    let env = env_of(&p, "1.17.0");
    assert!(env.packages.is_empty(), "{env:?}");
    assert_eq!(env.facts.0["abi"], "cp311", "the image's facts are kept");
    let why = env.unavailable.expect("recorded as unavailable");
    assert_eq!(why.requirement, "six==1.17.0");
    assert_eq!(why.reason, "has no wheel for cp311 (pip found 1.16.0)");
    // pip's words, with the file it saw and why it skipped it.
    assert!(
        why.pip
            .contains("No matching distribution found for six==1.17.0"),
        "{}",
        why.pip
    );
    assert!(
        why.pip.contains(&format!(
            "{SIX_17_CP313}: none of the wheel's tags (cp313-cp313-manylinux_2_17_x86_64) are compatible"
        )),
        "{}",
        why.pip
    );
    assert!(why.pip.len() <= 4100, "bounded: {}", why.pip.len());
}

#[test]
fn plan_shows_an_unavailable_cell_and_check_does_not_count_it() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = index_without_a_cp311_six_17();
    let p = six_matrix(&base, &server.url(), "unavail-plan", None);
    ok(&p, &["lock"]);
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("1 of 1 targets would be built (0 cached); 1 unavailable, not built"),
        "{}",
        p.snapshot(&out)
    );
    let out = ok(&p, &["build"]);
    assert!(
        stderr(&out).contains(&format!(
            "Unavailable {UNAVAILABLE}: not built (`wheelbuild plan` says why)"
        )),
        "{}",
        p.snapshot(&out)
    );
    assert!(
        stdout(&out).contains("1 target: 1 built, 0 cached, 0 failed"),
        "{}",
        p.snapshot(&out)
    );

    let out = ok(&p, &["plan"]);
    insta::assert_snapshot!(snap(&p, &out), @r"
    success: true
    exit_code: 0
    ----- stdout -----
    TARGET                         STATUS  KEY           IMAGE                COMMIT        REASON
    envtest/py3.11-cpu-six=1.16.0  cached  [SHORT]  sha256:[SHORT]  [SHORT]
    envtest/py3.11-cpu-six=1.17.0  n/a     [SHORT]  sha256:[SHORT]  [SHORT]  unavailable: six==1.17.0 has no wheel for cp311 (pip found 1.16.0)
    2 targets: 1 cached, 0 to build, 1 unavailable
    environment [REGISTRY]/wheelbuild/base:py3.11-cpu + pip six==1.16.0 + build requirements setuptools>=61, wheel: abi cp311, gcc 12.2.0, glibc 2.36, python 3.11.2; 1 pip, 0 apt package(s) pinned, 2 from the image
    environment [REGISTRY]/wheelbuild/base:py3.11-cpu + pip six==1.17.0 + build requirements setuptools>=61, wheel: unavailable: six==1.17.0 has no wheel for cp311 (pip found 1.16.0)

    ----- stderr -----
    ");
    let json = plan_json(&p);
    assert_eq!(json["summary"]["unavailable"], 1, "{json:#}");
    assert_eq!(json["summary"]["cached"], 1, "{json:#}");
    let target = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == UNAVAILABLE)
        .unwrap();
    assert_eq!(target["status"], "unavailable");
    assert_eq!(
        target["reason"],
        serde_json::json!({"kind": "unavailable", "detail": "six==1.17.0 has no wheel for cp311 (pip found 1.16.0)"})
    );
    assert_eq!(json["matrix"]["include"], serde_json::json!([]));

    // Nothing to do: the unavailable cell is not work.
    let out = ok(&p, &["check"]);
    assert!(
        stderr(&out).contains("all 1 targets are in the store; 1 unavailable, not built"),
        "{}",
        p.snapshot(&out)
    );
    // A build of the unavailable cell alone builds nothing, and says so.
    let out = ok(&p, &["build", "--only", UNAVAILABLE]);
    assert!(
        stderr(&out).contains("Nothing to build: every selected target is unavailable"),
        "{}",
        p.snapshot(&out)
    );
}

#[test]
fn unavailable_error_restores_the_strict_lock() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = index_without_a_cp311_six_17();
    let p = six_matrix(&base, &server.url(), "unavail-error", Some("error"));
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let err = stderr(&out);
    for needle in [
        &format!("the environment of target `{UNAVAILABLE}`") as &str,
        "`six==1.17.0` has no wheel for cp311 (pip found 1.16.0)",
        "No matching distribution found for six==1.17.0",
        "drop it with `[matrix] exclude`, or set `[matrix] unavailable = \"record\"`",
        "wheelbuild.toml:8:15",
    ] {
        assert!(err.contains(needle), "{needle}\n{}", p.snapshot(&out));
    }
    assert!(
        !p.path().join("wheelbuild.lock").exists(),
        "no lock written"
    );

    // A lock that recorded the cell is stale for the strict config.
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("unavailable = \"error\"", "unavailable = \"record\""),
    );
    ok(&p, &["lock"]);
    p.write("wheelbuild.toml", &config);
    let out = p.run(&["--locked", "plan"]);
    assert_eq!(out.status.code(), Some(12), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("+ build requirements setuptools>=61, wheel is unavailable, and `[matrix] unavailable = \"error\"`"),
        "{}",
        p.snapshot(&out)
    );

    // Any other value is a config error, where it is written.
    p.write(
        "wheelbuild.toml",
        &config.replace("unavailable = \"error\"", "unavailable = \"skip\""),
    );
    let out = p.run(&["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(err.contains("wheelbuild.toml:8:15"), "{err}");
    assert!(
        err.contains("unknown variant `skip`") && err.contains("expected one of `record`, `error`"),
        "{err}"
    );
}

#[test]
fn an_index_that_cannot_be_reached_still_fails_the_lock() {
    let base = fixtures::base_image(ImageKind::Cpu);
    // Nothing listens there.
    let index = format!("http://127.0.0.1:{}/simple/", support::free_port());
    let p = six_matrix(&base, &index, "unavail-unreachable", None);
    let err = lock_fails_on_pips_error(&p, 3);
    assert!(err.contains("Connection refused"), "{err}");
}

/// `lock` fails on pip's error with exit `code`, as before there were unavailable cells,
/// and writes no lock; its stderr.
fn lock_fails_on_pips_error(p: &Project, code: i32) -> String {
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(code), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("pip cannot resolve the requirements"),
        "{}",
        p.snapshot(&out)
    );
    assert!(
        !p.path().join("wheelbuild.lock").exists(),
        "no lock written"
    );
    err
}

#[test]
fn an_index_that_refuses_the_credentials_still_fails_the_lock() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start_with_auth(&[SIX_16], "wbuser", "right");
    let index = server
        .url()
        .replace("http://", "http://wbuser:${WB_TEST_INDEX_PASSWORD}@");
    let p =
        six_matrix(&base, &index, "unavail-401", None).with_env("WB_TEST_INDEX_PASSWORD", "wrong");
    let err = lock_fails_on_pips_error(&p, 2);
    // pypiserver forbids a wrong password; pip's words say so, the password masked.
    assert!(err.contains("403 Client Error: Forbidden"), "{err}");
    assert!(!err.contains("wrong"), "{err}");
    assert!(err.contains("check its URL and credentials"), "{err}");
}

#[test]
fn a_relock_picks_up_a_wheel_published_later() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = index_without_a_cp311_six_17();
    let p = six_matrix(&base, &server.url(), "unavail-relock", None);
    ok(&p, &["lock"]);
    assert!(env_of(&p, "1.17.0").unavailable.is_some());
    // Still nothing: tried again, recorded again, the file unchanged.
    let out = ok(&p, &["lock"]);
    assert!(
        stderr(&out).contains("(lockfile unchanged)"),
        "{}",
        p.snapshot(&out)
    );

    // Upstream publishes a wheel for every Python.
    std::fs::copy(
        pypi_fixture().join("packages").join(SIX_17),
        server.wheel_path(SIX_17),
    )
    .unwrap();
    let out = ok(&p, &["lock"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "environment {} + pip six==1.17.0 + build requirements setuptools>=61, wheel unavailable: six==1.17.0 has no wheel for cp311 (pip found 1.16.0) -> available",
            base.reference
        )),
        "{}",
        p.snapshot(&out)
    );
    let env = env_of(&p, "1.17.0");
    assert_eq!(env.unavailable, None);
    assert_eq!(env.packages[0].file, SIX_17);
    assert_eq!(env.packages[0].sha256, server.sha256_of(SIX_17));
    assert_eq!(
        lock_of(&p).version,
        4,
        "back to the version before unavailable environments"
    );
    let json = plan_json(&p);
    assert_eq!(json["summary"]["build"], 2, "{json:#}");
}

#[test]
fn audit_lists_unavailable_cells() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = index_without_a_cp311_six_17();
    let p = six_matrix(&base, &server.url(), "unavail-audit", None);
    ok(&p, &["lock"]);
    let out = p.run(&["--offline", "audit", "--allow", "mutable-ref"]);
    assert_eq!(out.status.code(), Some(11), "{}", p.snapshot(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "[unavailable] {UNAVAILABLE}: not built: six==1.17.0 has no wheel for cp311 (pip found 1.16.0), in the environment {} + pip six==1.17.0 + build requirements setuptools>=61, wheel (every `wheelbuild lock` tries it again)",
            base.reference
        )),
        "{text}"
    );
    let out = p.run(&[
        "--offline",
        "audit",
        "--allow",
        "mutable-ref",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{json:#}");
    assert_eq!(findings[0]["kind"], "unavailable");
    assert_eq!(findings[0]["subject"], UNAVAILABLE);
    let row = json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["input"] == "env" && i["subject"].as_str().unwrap().contains("six==1.17.0"))
        .unwrap();
    assert_eq!(row["kind"], "unavailable", "{json:#}");
    // A pipeline that accepts them says so.
    ok(
        &p,
        &[
            "--offline",
            "audit",
            "--allow",
            "mutable-ref",
            "--allow",
            "unavailable",
        ],
    );
}
