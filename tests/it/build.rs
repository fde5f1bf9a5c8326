//! `wheelbuild build` and `wheelbuild verify` end to end: the real Docker engine, a real
//! registry serving the Debian fixture images (`support::fixtures`), real git repositories
//! of the example projects, always through the CLI.
//!
//! Every config sets `WB_TEST = "<test>"` in the global env: a key input, so no two tests
//! share a build key (or a `org.wheelbuild.key` container label) even when they build the
//! same commit. Builds run with `--jobs 1` where output order matters.
//!
//! Network: only the environment-image test reaches out (apt from deb.debian.org over
//! plain HTTP). Its pip requirement is one the image already satisfies: containers here
//! cannot verify PyPI's certificate behind this machine's TLS-intercepting proxy.

use crate::support::test;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::*;
use crate::support::fixtures::{
    self, ImageKind, containers_created_since, docker_cli, docker_ok, example_repo, key_label,
    pid_label,
};
use crate::support::git::GitRepo;
use crate::support::images::{self, ManifestKind, push_single};
use crate::support::pypi::PypiServer;
use crate::support::registry::{Auth, Registry};
use crate::support::require_all;

// ----- a, b: build, install, cached, restored ------------------------------------------

#[test]
fn builds_pure_and_cext_installs_them_then_caches_and_restores() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let cext = example_repo("hello-cext");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "a",
            "",
            &[
                project("hello-pure", &pure, ""),
                project("hello-cext", &cext, ""),
            ],
        ),
    );
    ok(&p, &["lock"]);
    let keys = keys(&p);
    let (pure_id, cext_id) = (cpu("hello-pure"), cpu("hello-cext"));

    let started = SystemTime::now();
    let out = p.run(&["build", "--jobs", "1"]);
    insta::assert_snapshot!(snap(&p, &out), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TARGET                 STATUS       TIME  WHEELS
    hello-pure/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/hello_pure-0.1.0-py3-none-any.whl
    hello-cext/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/hello_cext-0.1.0-cp311-cp311-linux_x86_64.whl
    2 targets: 2 built, 0 cached, 0 failed in [TIME]

    ----- stderr -----
        Building hello-pure/py3.11-cpu
           Built hello-pure/py3.11-cpu in [TIME]
        Building hello-cext/py3.11-cpu
           Built hello-cext/py3.11-cpu in [TIME], ccache 0% hits (0/1): gcc 0/1
    ");

    // Wheels in the wheelhouse, each stamped (in the directory's stamps file) with its
    // key, sha256 and record.
    let dir = wheelhouse(&p);
    let pure_whl = "hello_pure-0.1.0-py3-none-any.whl";
    let cext_whl = "hello_cext-0.1.0-cp311-cp311-linux_x86_64.whl";
    assert_eq!(wheels_in(&dir), [cext_whl, pure_whl]);
    for (id, whl) in [(&pure_id, pure_whl), (&cext_id, cext_whl)] {
        let key = &keys[id];
        let sha = sha256_file(&dir.join(whl));
        let stamp = stamp_of(&dir, whl);
        assert_eq!(stamp["key"], key.as_str(), "{stamp:#}");
        assert_eq!(stamp["target"], id.as_str(), "{stamp:#}");
        assert_eq!(stamp["sha256"], sha.as_str(), "{stamp:#}");
        let record_path = record_path(&p, key);
        // (A path relative to where wheelbuild ran, here the project.)
        assert_eq!(
            std::fs::canonicalize(p.path().join(stamp["record"].as_str().unwrap())).unwrap(),
            std::fs::canonicalize(&record_path).unwrap()
        );
        // The store record lists the wheel with the sha256 of the file.
        let rec = record(&p, key);
        assert_eq!(rec["key"], key.as_str());
        assert_eq!(rec["target"], id.as_str());
        let wheels = rec["wheels"].as_array().unwrap();
        assert_eq!(wheels.len(), 1, "{rec:#}");
        assert_eq!(wheels[0]["file"], whl);
        assert_eq!(wheels[0]["sha256"], sha.as_str());
        assert_eq!(
            wheels[0]["size"],
            std::fs::metadata(dir.join(whl)).unwrap().len()
        );
        assert_eq!(sha256_file(&stored_wheel(&p, &sha)), sha);
        assert!(
            store_dir(&p)
                .join("logs")
                .join(format!("{key}.log"))
                .is_file()
        );
        // One build container per key, removed.
        let created = containers_created_since(started, &key_label(key));
        assert!(
            created.iter().any(|n| !n.starts_with("wheelbuild-env-")),
            "no build container created for {id}: {created:?}"
        );
        assert_no_containers(&key_label(key));
    }
    assert_eq!(
        store_keys(&p),
        keys.values().cloned().collect::<BTreeSet<_>>()
    );
    assert_no_staging_leftovers(&p);

    // The wheels install (from a read-only mount, no index) and work.
    let smoke = use_wheels(
        &base.local(),
        &dir,
        "python3 -c 'import hello_pure, hello_cext; print(hello_pure.greet(\"wheelbuild\")); \
         print(hello_cext.add(2, 40)); print(hello_cext.__file__)'",
    );
    let lines: Vec<&str> = smoke.lines().collect();
    assert_eq!(lines[..2], ["Hello, wheelbuild!", "42"], "{smoke}");
    // Imported from the installed wheel (Debian's pip installs to dist-packages).
    assert!(
        lines[2].starts_with("/usr/local/lib/python3.11/dist-packages/hello_cext."),
        "{smoke}"
    );

    // b. Again: everything cached, no container, logs and store untouched.
    let logs: Vec<(PathBuf, SystemTime)> = [&pure_id, &cext_id]
        .iter()
        .map(|id| (log_path(&p, id), mtime(&log_path(&p, id))))
        .collect();
    let records: Vec<(PathBuf, SystemTime)> = keys
        .values()
        .map(|k| record_path(&p, k))
        .map(|r| (r.clone(), mtime(&r)))
        .collect();
    let again = SystemTime::now();
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert_eq!(status_of(&out, &pure_id), "cached");
    assert_eq!(status_of(&out, &cext_id), "cached");
    assert_eq!(totals(&out), "2 targets: 0 built, 2 cached, 0 failed");
    assert!(
        !stderr(&out).contains("Building"),
        "cached build started something:\n{}",
        stderr(&out)
    );
    for key in keys.values() {
        let created = containers_created_since(again, &key_label(key));
        assert!(created.is_empty(), "cached build created {created:?}");
    }
    for (path, before) in logs.iter().chain(&records) {
        assert_eq!(mtime(path), *before, "{} was rewritten", path.display());
    }
    assert_eq!(
        store_keys(&p),
        keys.values().cloned().collect::<BTreeSet<_>>()
    );
    let check = p.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", p.snapshot(&check));

    // A wheel deleted from the wheelhouse, another one damaged: both restored from the
    // store, byte-identical.
    let pure_bytes = std::fs::read(dir.join(pure_whl)).unwrap();
    let cext_bytes = std::fs::read(dir.join(cext_whl)).unwrap();
    std::fs::remove_file(dir.join(pure_whl)).unwrap();
    std::fs::write(dir.join(cext_whl), b"not a wheel").unwrap();
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert_eq!(status_of(&out, &pure_id), "restored");
    assert_eq!(status_of(&out, &cext_id), "restored");
    assert_eq!(totals(&out), "2 targets: 0 built, 2 cached, 0 failed");
    assert!(
        stderr(&out).contains(&format!(
            "Restored {pure_id} (1 wheel(s) restored to the wheelhouse)"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(dir.join(pure_whl)).unwrap(), pure_bytes);
    assert_eq!(std::fs::read(dir.join(cext_whl)).unwrap(), cext_bytes);
    for (path, before) in &logs {
        assert_eq!(mtime(path), *before, "{} was rewritten", path.display());
    }
}

/// Files wheelbuild writes for others to use (wheelhouse, lock) follow the umask like any
/// other tool's output, instead of being private to the user who ran the build.
#[test]
fn wheelhouse_and_lock_files_are_readable_by_others() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "modes",
            "",
            &[project("hello-pure", &pure, "")],
        ),
    );
    ok(&p, &["lock"]);
    ok(&p, &["build"]);
    let whl = wheelhouse(&p).join("hello_pure-0.1.0-py3-none-any.whl");
    let stamp = wheelhouse(&p).join(".wheelbuild-stamps.json");
    // What any tool creating a file would get under this process's umask.
    let umask = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .expect("Umask in /proc/self/status");
    let expected = 0o666 & !umask;
    for path in [whl, stamp, p.file("wheelbuild.lock")] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode,
            expected,
            "{} has mode {mode:o}, expected {expected:o} (umask {umask:03o})",
            path.display()
        );
    }
}

// ----- c, q: --dry-run, --only, a new commit, a stale lock ------------------------------

#[test]
fn only_dry_run_new_commit_and_stale_lock() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let alpha = example_repo("hello-pure");
    let beta = pure_repo("beta", None);
    let write_config = |beta_ref: &str| {
        config(
            &base.reference,
            "c",
            "",
            &[
                project("alpha", &alpha, ""),
                project("beta", &beta, "")
                    .replace("ref = \"v0.1.0\"", &format!("ref = \"{beta_ref}\"")),
            ],
        )
    };
    let p = new_project(&base, &write_config("v0.1.0"));
    ok(&p, &["lock"]);
    let (a, b) = (cpu("alpha"), cpu("beta"));
    let k1 = keys(&p);

    // --dry-run: the plan, nothing built, no container, no store.
    let started = SystemTime::now();
    let out = ok(&p, &["build", "--dry-run"]);
    let text = stdout(&out);
    assert!(text.starts_with("TARGET "), "{text}");
    for id in [&a, &b] {
        assert!(
            text.lines().any(|l| l.starts_with(id.as_str())
                && l.contains(" build ")
                && l.ends_with("new target")),
            "{text}"
        );
    }
    assert!(text.contains("2 targets: 0 cached, 2 to build"), "{text}");
    assert!(!store_dir(&p).exists(), "--dry-run created the store");
    assert!(
        !p.file("wheelhouse").exists(),
        "--dry-run created the wheelhouse"
    );
    for key in k1.values() {
        assert!(containers_created_since(started, &key_label(key)).is_empty());
    }

    // --only with a typo: a user error with a suggestion.
    let out = p.run(&["build", "--only", "alpah"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("`alpah` is neither a project nor a target"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("did you mean `alpha`?"),
        "{}",
        stderr(&out)
    );
    assert!(!store_dir(&p).exists());

    // --only PROJECT builds just that project.
    let out = ok(&p, &["build", "--only", "alpha"]);
    assert_eq!(totals(&out), "1 target: 1 built, 0 cached, 0 failed");
    assert_eq!(status_of(&out, &a), "built");
    assert_eq!(store_keys(&p), BTreeSet::from([k1[&a].clone()]));
    assert_eq!(
        wheels_in(&wheelhouse(&p)),
        ["hello_pure-0.1.0-py3-none-any.whl"]
    );

    // --only TARGET: the other one.
    let out = ok(&p, &["build", "--only", &b]);
    assert_eq!(totals(&out), "1 target: 1 built, 0 cached, 0 failed");
    assert_eq!(status_of(&out, &b), "built");
    assert_eq!(
        store_keys(&p),
        k1.values().cloned().collect::<BTreeSet<_>>()
    );

    // A new commit of alpha, locked: the plan says why, only alpha rebuilds.
    let old = alpha.rev_parse("HEAD");
    let new = alpha.commit("README.md", "# hello-pure\n\nNew readme.\n", "readme");
    alpha.git(&["tag", "-f", "-a", "v0.1.0", "-m", "moved"]);
    ok(&p, &["lock", "--update", "alpha"]);
    let out = ok(&p, &["plan"]);
    let row = stdout(&out)
        .lines()
        .find(|l| l.starts_with(a.as_str()))
        .unwrap()
        .to_owned();
    assert!(row.contains(" build "), "{row}");
    assert!(
        row.ends_with(&format!("source.commit {} -> {}", &old[..12], &new[..12])),
        "{row}"
    );
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert_eq!(status_of(&out, &a), "built");
    assert_eq!(status_of(&out, &b), "cached");
    assert_eq!(totals(&out), "2 targets: 1 built, 1 cached, 0 failed");
    let k2 = keys(&p);
    assert_ne!(k2[&a], k1[&a]);
    assert_eq!(k2[&b], k1[&b]);
    assert_eq!(store_keys(&p).len(), 3);
    let stamp = stamp_of(&wheelhouse(&p), "hello_pure-0.1.0-py3-none-any.whl");
    assert_eq!(stamp["key"], k2[&a].as_str());

    // A config change the lock has not seen: build refuses (12) without --lock.
    beta.git(&["checkout", "-q", "-b", "next"]);
    let next = beta.commit("beta_mod.py", "NAME = 'beta, next'\n", "next");
    p.write("wheelbuild.toml", &write_config("next"));
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(12), "{}", p.snapshot(&out));
    assert!(stderr(&out).contains("pass --lock"), "{}", stderr(&out));
    assert_eq!(store_keys(&p).len(), 3, "a stale lock built something");
    let out = ok(&p, &["build", "--lock", "--jobs", "1"]);
    assert!(
        p.read("wheelbuild.lock").contains(&next),
        "lock not updated"
    );
    assert_eq!(status_of(&out, &b), "built");
    assert_eq!(status_of(&out, &a), "cached");
    assert_eq!(store_keys(&p).len(), 4);
}

// ----- d, e: failures --------------------------------------------------------------------

#[test]
fn failed_build_reports_its_log_and_stops_or_keeps_going() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "d",
            "",
            &[
                project("bad", &pure, "build = 'echo boom >&2; exit 3'"),
                project("good", &pure, ""),
            ],
        ),
    );
    ok(&p, &["lock"]);
    let k = keys(&p);
    let (bad, good) = (cpu("bad"), cpu("good"));

    // Without --keep-going: the rest is skipped, nothing stored.
    let out = p.run(&["build", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    assert_eq!(status_of(&out, &bad), "failed");
    assert_eq!(status_of(&out, &good), "failed");
    assert_eq!(totals(&out), "2 targets: 0 built, 0 cached, 2 failed");
    assert!(
        stderr(&out).contains(&format!(
            "Failed {good}: skipped: an earlier target failed (use --keep-going to build the rest)"
        )),
        "{}",
        stderr(&out)
    );
    assert!(store_keys(&p).is_empty());
    assert!(wheels_in(&wheelhouse(&p)).is_empty());

    // --keep-going: the failure with its log, the other target built.
    let out = p.run(&["build", "--jobs", "1", "--keep-going"]);
    insta::assert_snapshot!(snap(&p, &out), @"
    success: false
    exit_code: 1
    ----- stdout -----
    TARGET           STATUS       TIME  WHEELS
    bad/py3.11-cpu   failed          -
    good/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/hello_pure-0.1.0-py3-none-any.whl
    2 targets: 1 built, 0 cached, 1 failed in [TIME]

    ----- stderr -----
        Building bad/py3.11-cpu
          Failed bad/py3.11-cpu: the build command exited with status 3
                 log: ./.wheelbuild/cache/logs/bad/py3.11-cpu.log
                 | ::wheelbuild:: build: echo boom >&2; exit 3
                 | boom
        Building good/py3.11-cpu
           Built good/py3.11-cpu in [TIME]
    ");
    assert!(read_log(&p, &bad).contains("boom"));
    assert_eq!(store_keys(&p), BTreeSet::from([k[&good].clone()]));
    assert!(!record_path(&p, &k[&bad]).exists());
    assert_no_staging_leftovers(&p);
    assert_eq!(
        wheels_in(&wheelhouse(&p)),
        ["hello_pure-0.1.0-py3-none-any.whl"]
    );
    for key in k.values() {
        assert_no_containers(&key_label(key));
    }
}

#[test]
fn failed_toolchain_check_stops_before_the_build_command() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    // The build command's output, `BUILD-42-RAN`, differs from its text (echoed by the
    // build script before running it).
    let build = "build = 'echo BUILD-$((6 * 7))-RAN; exit 5'";
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "e",
            "",
            &[
                project(
                    "no-nvcc",
                    &pure,
                    &format!("toolchain-check = 'nvcc --version'\n{build}"),
                ),
                project(
                    "false",
                    &pure,
                    &format!("toolchain-check = 'false'\n{build}"),
                ),
                project(
                    "checked",
                    &pure,
                    &format!("toolchain-check = 'python3 --version'\n{build}"),
                ),
            ],
        ),
    );
    ok(&p, &["lock"]);
    let out = p.run(&["build", "--jobs", "1", "--keep-going"]);
    insta::assert_snapshot!(snap(&p, &out), @"
    success: false
    exit_code: 1
    ----- stdout -----
    TARGET              STATUS       TIME  WHEELS
    no-nvcc/py3.11-cpu  failed          -
    false/py3.11-cpu    failed          -
    checked/py3.11-cpu  failed          -
    3 targets: 0 built, 0 cached, 3 failed in [TIME]

    ----- stderr -----
        Building no-nvcc/py3.11-cpu
          Failed no-nvcc/py3.11-cpu: the toolchain check `nvcc --version` failed
                 hint: the image's toolchain is not what the config expects: check the image or the `toolchain-check` command
                 log: ./.wheelbuild/cache/logs/no-nvcc/py3.11-cpu.log
                 | ::wheelbuild:: toolchain check: nvcc --version
                 | sh: 1: nvcc: not found
                 | ::wheelbuild:: toolchain check failed
        Building false/py3.11-cpu
          Failed false/py3.11-cpu: the toolchain check `false` failed
                 hint: the image's toolchain is not what the config expects: check the image or the `toolchain-check` command
                 log: ./.wheelbuild/cache/logs/false/py3.11-cpu.log
                 | ::wheelbuild:: toolchain check: false
                 | ::wheelbuild:: toolchain check failed
        Building checked/py3.11-cpu
          Failed checked/py3.11-cpu: the build command exited with status 5
                 log: ./.wheelbuild/cache/logs/checked/py3.11-cpu.log
                 | ::wheelbuild:: toolchain check: python3 --version
                 | Python 3.11.2
                 | ::wheelbuild:: build: echo BUILD-$((6 * 7))-RAN; exit 5
                 | BUILD-42-RAN
    ");
    for verify in ["nvcc --version", "false"] {
        let id = cpu(if verify == "false" {
            "false"
        } else {
            "no-nvcc"
        });
        let log = read_log(&p, &id);
        assert!(!log.contains("BUILD-42-RAN"), "the build ran:\n{log}");
        assert!(
            !log.contains("::wheelbuild:: build:"),
            "the build ran:\n{log}"
        );
    }
    assert!(read_log(&p, &cpu("no-nvcc")).contains("nvcc: not found"));
    // A passing check lets the build run (here to its own failure).
    let log = read_log(&p, &cpu("checked"));
    assert!(log.contains("Python 3.11"), "{log}");
    assert!(log.contains("BUILD-42-RAN"), "{log}");
    assert!(store_keys(&p).is_empty());
}

// ----- f: the build's sandbox ------------------------------------------------------------

#[test]
fn builds_run_unprivileged_offline_on_a_read_only_source() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    // Braces are template syntax: no awk, no shell `${…}` needed.
    let build = r#"build = '''
echo "FACT uid=$(id -u)"
echo "FACT gid=$(id -g)"
echo "FACT groups=$(id -G)"
echo "FACT nonewprivs=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/self/status)"
echo "FACT capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
echo "FACT capprm=$(sed -n 's/^CapPrm:[[:space:]]*//p' /proc/self/status)"
echo "FACT srcowner=$(stat -c %u:%g /wheelbuild/src /wheelbuild/src/setup.py | sort -u | xargs)"
if touch /wheelbuild/src/x 2>/dev/null; then echo "FACT srctouch=ok"; else echo "FACT srctouch=refused"; fi
echo "FACT pwd=$(pwd -P)"
if touch ./probe 2>/dev/null; then echo "FACT buildtouch=ok"; rm ./probe; else echo "FACT buildtouch=refused"; fi
echo "FACT epoch=$SOURCE_DATE_EPOCH"
echo "FACT max_jobs=$MAX_JOBS"
echo "FACT home=$HOME"
echo "FACT ifaces=$(ls /sys/class/net | tr '\n' ' ')"
python3 -c 'import socket; s = socket.socket(); s.settimeout(3); print("FACT connect=" + str(s.connect_ex(("192.0.2.1", 80))))'
python3 -m pip wheel --no-deps --no-build-isolation -w "$WHEELBUILD_OUT" .
'''"#;
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "f",
            "network = \"none\"",
            &[project("hello-pure", &pure, build)],
        ),
    );
    ok(&p, &["lock"]);
    let out = ok(&p, &["build"]);
    let id = cpu("hello-pure");
    assert_eq!(status_of(&out, &id), "built");
    let log = read_log(&p, &id);
    let f = facts(&log);
    let fact = |k: &str| {
        f.get(k)
            .unwrap_or_else(|| panic!("no FACT {k} in the log:\n{log}"))
            .as_str()
    };
    assert_eq!(fact("uid"), "1234", "{log}");
    assert_eq!(fact("gid"), "1234", "{log}");
    assert_eq!(fact("groups"), "1234", "{log}");
    assert_eq!(fact("nonewprivs"), "1", "{log}");
    assert_eq!(fact("capeff"), "0000000000000000", "{log}");
    assert_eq!(fact("capprm"), "0000000000000000", "{log}");
    // Sent into the container (not mounted), root's: the build user cannot change them.
    assert_eq!(fact("srcowner"), "0:0", "{log}");
    assert_eq!(fact("srctouch"), "refused", "{log}");
    assert_eq!(fact("pwd"), "/wheelbuild/build", "{log}");
    assert_eq!(fact("buildtouch"), "ok", "{log}");
    assert_eq!(fact("home"), "/wheelbuild/home", "{log}");
    // network = "none": only the loopback interface; connect() fails at once with
    // ENETUNREACH (101), not after a timeout.
    assert_eq!(fact("ifaces"), "lo", "{log}");
    assert_eq!(fact("connect"), "101", "{log}");
    // SOURCE_DATE_EPOCH is the commit time.
    let commit_time = pure.git(&["show", "-s", "--format=%ct", "v0.1.0^{commit}"]);
    assert_eq!(fact("epoch"), commit_time, "{log}");
    // MAX_JOBS, not configured, is set from the daemon's resources.
    let jobs: u32 = fact("max_jobs")
        .parse()
        .unwrap_or_else(|_| panic!("MAX_JOBS not a number:\n{log}"));
    assert!(jobs >= 1, "{log}");
    assert_eq!(
        wheels_in(&wheelhouse(&p)),
        ["hello_pure-0.1.0-py3-none-any.whl"]
    );
}

// ----- g: environment images ---------------------------------------------------------

/// `wheelbuild-env` images (`repo:tag` → image id) whose tag starts with `prefix`.
fn env_images(prefix: &str) -> BTreeMap<String, String> {
    docker_ok(&[
        "images",
        "wheelbuild-env",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .filter(|(tag, _)| tag.starts_with(&format!("wheelbuild-env:{prefix}")))
    .map(|(t, id)| (t.to_owned(), id.to_owned()))
    .collect()
}

/// `env-*.log` files of a project.
fn env_logs(p: &Project) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(p.file(".wheelbuild/cache/logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| {
            let n = f.file_name().unwrap().to_string_lossy();
            n.starts_with("env-") && n.ends_with(".log")
        })
        .collect();
    logs.sort();
    logs
}

/// Removes the images a test made, even when it fails.
struct ImageCleanup(Vec<String>);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = docker_cli(&["rmi", "-f", image]);
        }
    }
}

#[test]
fn environment_images_are_built_once_shared_and_rebuilt_on_request() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let index = PypiServer::start(&["six-1.16.0-py2.py3-none-any.whl"]);
    let alpha = example_repo("hello-pure");
    let beta = pure_repo("beta", None);
    // pip from an index on loopback; `apt` fetches from deb.debian.org over plain HTTP.
    // Environment images are keyed by the pins, which are the same on every run: the
    // first build asks for a fresh one.
    let env = "apt = [\"file\"]\npip = [\"six==1.16.0\"]\n".to_string();
    let build = "build = '''file --brief /bin/true; python3 -m pip wheel --no-deps --no-build-isolation -w \"$WHEELBUILD_OUT\" .'''";
    let projects = |beta_more: Option<&str>| {
        let mut v = vec![project("alpha", &alpha, &format!("{env}{build}"))];
        if let Some(more) = beta_more {
            v.push(project("beta", &beta, &format!("{env}{build}\n{more}")));
        }
        let index = format!(
            "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
            index.url()
        );
        config(&base.reference, "g", &index, &v)
    };
    let p = new_project(&base, &projects(None));
    let mut cleanup = ImageCleanup(Vec::new());
    ok(&p, &["lock"]);
    let out = ok(&p, &["build", "--rebuild-env"]);
    assert_eq!(status_of(&out, &cpu("alpha")), "built");
    // One environment log, one new image tagged after it, with `file` installed.
    let logs = env_logs(&p);
    assert_eq!(logs.len(), 1, "{logs:?}");
    let env_log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(env_log.contains("Setting up file"), "{env_log}");
    assert!(
        env_log.contains("Successfully installed six-1.16.0"),
        "{env_log}"
    );
    let prefix = logs[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("env-")
        .trim_end_matches(".log")
        .to_owned();
    let images = env_images(&prefix);
    assert_eq!(images.len(), 1, "{images:?}");
    let (tag, first_id) = images.into_iter().next().unwrap();
    cleanup.0.push(tag.clone());
    cleanup.0.push(first_id.clone());
    assert!(read_log(&p, &cpu("alpha")).contains("ELF 64-bit"));
    let log_time = mtime(&logs[0]);

    // Another project with the same image and packages reuses it.
    p.write("wheelbuild.toml", &projects(Some("")));
    ok(&p, &["lock"]);
    let key_beta = key_of(&p, &cpu("beta"));
    let started = SystemTime::now();
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert_eq!(status_of(&out, &cpu("alpha")), "cached");
    assert_eq!(status_of(&out, &cpu("beta")), "built");
    assert_eq!(env_logs(&p), logs);
    assert_eq!(
        mtime(&logs[0]),
        log_time,
        "the environment was set up again"
    );
    assert_eq!(
        env_images(&prefix),
        BTreeMap::from([(tag.clone(), first_id.clone())])
    );
    let created = containers_created_since(started, &key_label(&key_beta));
    assert!(
        created.iter().all(|n| !n.starts_with("wheelbuild-env-")),
        "{created:?}"
    );
    assert!(read_log(&p, &cpu("beta")).contains("ELF 64-bit"));

    // --rebuild-env sets it up again (for what is built: change beta's key).
    p.write("wheelbuild.toml", &projects(Some("env = { SALT = \"2\" }")));
    let out = ok(&p, &["build", "--jobs", "1", "--rebuild-env"]);
    assert_eq!(status_of(&out, &cpu("beta")), "built");
    assert_eq!(status_of(&out, &cpu("alpha")), "cached");
    let images = env_images(&prefix);
    assert_eq!(images.len(), 1, "{images:?}");
    let second_id = &images[&tag];
    cleanup.0.push(second_id.clone());
    assert_ne!(second_id, &first_id, "--rebuild-env kept the image");
    assert_ne!(mtime(&logs[0]), log_time);
    assert_eq!(env_logs(&p), logs);
}

// ----- h: ccache ---------------------------------------------------------------------

/// `[cache] ccache` is not a key input, so it must not change a wheel: its compiler
/// wrappers come first on `PATH` and command lines stay as the project writes them.
#[test]
fn toggling_ccache_changes_neither_the_key_nor_the_wheel() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let cext = example_repo("hello-cext");
    let id = cpu("hello-cext");
    let p = locked_project(
        &base,
        "ccache-toggle",
        "",
        &[project(
            "hello-cext",
            &cext,
            "env = { CFLAGS = \"-ffile-prefix-map=/wheelbuild/build=.\" }",
        )],
    );
    ok(&p, &["build"]);
    let key = key_of(&p, &id);
    let with_ccache = record(&p, &key)["wheels"][0]["sha256"].clone();
    assert!(
        read_log(&p, &id).contains("::wheelbuild:: ccache hits="),
        "ccache was used"
    );
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[cache]\nccache = false\n"),
    );
    assert_eq!(key_of(&p, &id), key, "ccache is not a key input");
    // Built again into another store: the same bytes.
    ok(&p, &["--store", "store-without-ccache", "build"]);
    let stored = p
        .file("store-without-ccache/v2/records")
        .join(format!("{key}.json"));
    let record: Value = serde_json::from_slice(&std::fs::read(&stored).unwrap()).unwrap();
    assert_eq!(record["wheels"][0]["sha256"], with_ccache);
    assert!(!read_log(&p, &id).contains("::wheelbuild:: ccache hits="));
}

#[test]
fn ccache_hits_across_keys_within_a_channel_only() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let cext = example_repo("hello-cext");
    let id = cpu("hello-cext");
    let with_salt = |salt: &str| {
        config(
            &base.reference,
            "h",
            "",
            &[project(
                "hello-cext",
                &cext,
                &format!("env = {{ WB_TEST_SALT = \"{salt}\" }}"),
            )],
        )
    };
    let p = new_project(&base, &with_salt("1"));
    ok(&p, &["lock"]);
    let image = base.local();
    let ci = Project::cache_volume("ccache", &p.channel, "cpu");

    let out = ok(&p, &["build"]);
    let (hits, misses) = ccache_stats(&record(&p, &key_of(&p, &id)));
    assert_eq!(hits, 0);
    assert!(misses > 0);
    assert!(stderr(&out).contains("ccache 0% hits"), "{}", stderr(&out));
    assert!(
        !volume_files(None, &image, &ci).is_empty(),
        "nothing cached in volume {ci}"
    );

    // Another key, same sources: every compilation is a hit.
    p.write("wheelbuild.toml", &with_salt("2"));
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &id), "built");
    let (hits, misses) = ccache_stats(&record(&p, &key_of(&p, &id)));
    assert!(hits > 0, "no ccache hit");
    assert_eq!(misses, 0);
    assert!(
        stderr(&out).contains(&format!("ccache 100% hits ({hits}/{hits})")),
        "{}",
        stderr(&out)
    );

    // Another channel: another, initially absent, cache volume.
    let nightly_channel = format!("nightly.{}", p.channel);
    let nightly = Project::cache_volume("ccache", &nightly_channel, "cpu");
    assert!(!volume_exists(None, &nightly));
    p.write("wheelbuild.toml", &with_salt("3"));
    let out = run_env(
        &p,
        &[("WHEELBUILD_CACHE_CHANNEL", &nightly_channel)],
        &["build"],
    );
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let (hits, misses) = ccache_stats(&record(&p, &key_of(&p, &id)));
    assert_eq!(hits, 0);
    assert!(misses > 0);
    assert!(!volume_files(None, &image, &nightly).is_empty());

    // And `[cache] channel` in the config does the same.
    let release_channel = format!("release.{}", p.channel);
    p.write(
        "wheelbuild.toml",
        &with_salt("4").replace(
            "[build]",
            &format!("[cache]\nchannel = \"{release_channel}\"\n\n[build]"),
        ),
    );
    let out = p
        .cmd()
        .env_remove("WHEELBUILD_CACHE_CHANNEL")
        .arg("build")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let (hits, misses) = ccache_stats(&record(&p, &key_of(&p, &id)));
    assert_eq!((hits, misses > 0), (0, true));
    let release = Project::cache_volume("ccache", &release_channel, "cpu");
    assert!(!volume_files(None, &image, &release).is_empty());
}

// ----- i: outputs that are not this target's wheels ------------------------------------

#[test]
fn bogus_build_outputs_are_refused() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "i",
            "",
            &[
                project(
                    "bad-name",
                    &pure,
                    "build = 'echo x > \"$WHEELBUILD_OUT/not-a-wheel.whl\"'",
                ),
                project(
                    "symlink",
                    &pure,
                    "build = 'ln -s /etc/passwd \"$WHEELBUILD_OUT/link.whl\"'",
                ),
                project("no-wheel", &pure, "build = 'true'"),
                project(
                    "wrong-python",
                    &pure,
                    "build = '''python3 -m pip wheel --no-deps --no-build-isolation -w /tmp/w . && \
                     cp /tmp/w/hello_pure-0.1.0-py3-none-any.whl \"$WHEELBUILD_OUT/hello_pure-0.1.0-cp310-cp310-linux_x86_64.whl\"'''",
                ),
            ],
        ),
    );
    ok(&p, &["lock"]);
    let k = keys(&p);
    let out = p.run(&["build", "--jobs", "1", "--keep-going"]);
    insta::assert_snapshot!(snap(&p, &out), @r#"
    success: false
    exit_code: 1
    ----- stdout -----
    TARGET                   STATUS       TIME  WHEELS
    bad-name/py3.11-cpu      failed          -
    symlink/py3.11-cpu       failed          -
    no-wheel/py3.11-cpu      failed          -
    wrong-python/py3.11-cpu  failed          -
    4 targets: 0 built, 0 cached, 4 failed in [TIME]

    ----- stderr -----
        Building bad-name/py3.11-cpu
          Failed bad-name/py3.11-cpu: build output entry `out/not-a-wheel.whl` refused: is not a valid wheel file name: has 3 `-`-separated parts, expected 5 (name, version, python, abi, platform), 6 (with a build tag or a variant label) or 7 (with both)
                 hint: a build must leave only wheel files, directly in its output directory; nothing was kept from this build
                 log: ./.wheelbuild/cache/logs/bad-name/py3.11-cpu.log
                 | ::wheelbuild:: build: echo x > "$WHEELBUILD_OUT/not-a-wheel.whl"
        Building symlink/py3.11-cpu
          Failed symlink/py3.11-cpu: build output entry `out/link.whl` refused: is a symbolic link, not a regular file; a build should leave only wheel files in its output directory
                 hint: a build must leave only wheel files, directly in its output directory; nothing was kept from this build
                 log: ./.wheelbuild/cache/logs/symlink/py3.11-cpu.log
                 | ::wheelbuild:: build: ln -s /etc/passwd "$WHEELBUILD_OUT/link.whl"
        Building no-wheel/py3.11-cpu
          Failed no-wheel/py3.11-cpu: the build produced no wheel in $WHEELBUILD_OUT
                 hint: the build command must write its wheels to $WHEELBUILD_OUT
                 log: ./.wheelbuild/cache/logs/no-wheel/py3.11-cpu.log
                 | ::wheelbuild:: build: true
        Building wrong-python/py3.11-cpu
          Failed wrong-python/py3.11-cpu: wheel hello_pure-0.1.0-cp310-cp310-linux_x86_64.whl does not fit this target: wheel hello_pure-0.1.0-cp310-cp310-linux_x86_64.whl does not fit CPython 3.11 on linux_x86_64: python/abi tag `cp310-cp310`, expected `cp311-cp311`, `cp311-none`, `cp3Z-abi3` or `py3Z-none` with Z <= 11, or `py3-none`
                 log: ./.wheelbuild/cache/logs/wrong-python/py3.11-cpu.log
                 | ::wheelbuild:: build: python3 -m pip wheel --no-deps --no-build-isolation -w /tmp/w . && cp /tmp/w/hello_pure-0.1.0-py3-none-any.whl "$WHEELBUILD_OUT/hello_pure-0.1.0-cp310-cp310-linux_x86_64.whl"
                 | Processing /wheelbuild/build
                 |   Preparing metadata (pyproject.toml): started
                 |   Preparing metadata (pyproject.toml): finished with status 'done'
                 | Building wheels for collected packages: hello-pure
                 |   Building wheel for hello-pure (pyproject.toml): started
                 |   Building wheel for hello-pure (pyproject.toml): finished with status 'done'
                 |   Created wheel for hello-pure: filename=hello_pure-0.1.0-py3-none-any.whl size=1470 sha256=[KEY]
                 |   Stored in directory: /tmp/[PIP-TMP]/wheels/6a/57/2b/75a8f6b9a6fe4590239430b4fd3e996ad8494eade2450261fa
                 | Successfully built hello-pure
    "#);
    assert!(files_under(&p.file("wheelhouse")).is_empty());
    assert!(store_keys(&p).is_empty());
    assert_no_staging_leftovers(&p);
    for key in k.values() {
        assert_no_containers(&key_label(key));
    }
}

// ----- j, k: a killed container, Ctrl-C ----------------------------------------------

/// A project whose build sleeps; the running wheelbuild and its build container.

#[test]
fn a_killed_build_container_fails_the_target_and_is_removed() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo, mut running, container) = start_sleeping_build(&base, "j");
    let pid = running.pid();
    docker_ok(&["kill", &container]);
    let out = running.wait(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let id = cpu("sleeper");
    assert_eq!(status_of(&out, &id), "failed");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Failed {id}: the build command exited with status 137"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: status 137 is SIGKILL, often the kernel's OOM killer: lower MAX_JOBS"),
        "{err}"
    );
    assert!(
        err.contains("log: ./.wheelbuild/cache/logs/sleeper/py3.11-cpu.log\n             | ::wheelbuild:: build: sleep 60"),
        "{err}"
    );
    assert_no_containers(&pid_label(pid));
    assert!(store_keys(&p).is_empty());
}

/// Ctrl-C: SIGINT to wheelbuild while its build container runs.
fn interrupt_a_build(test: &str) -> (Project, u32, Output) {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo, mut running, _container) = start_sleeping_build(&base, test);
    let pid = running.pid();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = running.wait(Duration::from_secs(60));
    (p, pid, out)
}

#[test]
fn ctrl_c_removes_the_running_containers() {
    let (p, pid, out) = interrupt_a_build("k");
    assert!(!out.status.success(), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("interrupted: removing 1 container(s)"),
        "{}",
        stderr(&out)
    );
    assert_no_containers(&pid_label(pid));
    assert!(store_keys(&p).is_empty());
    assert_no_staging_leftovers(&p);
}

#[test]
fn ctrl_c_exits_130_without_blaming_the_build() {
    let (p, pid, out) = interrupt_a_build("k130");
    assert_eq!(out.status.code(), Some(130), "{}", p.snapshot(&out));
    assert!(
        !stderr(&out).contains("status 137"),
        "an interrupted build is not a failed one:\n{}",
        stderr(&out)
    );
    assert_no_containers(&pid_label(pid));
}

// ----- l, m: the daemon or the image unavailable ---------------------------------------

/// A locked project on a small synthetic image (nothing is pulled in these tests).
fn synthetic_project(test: &str) -> (Project, Registry, GitRepo, String) {
    require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    let pushed = push_single(
        &reg,
        "wb/base",
        "py3.11",
        "linux/amd64",
        ManifestKind::Oci,
        test,
    );
    let repo = pure_repo("tiny", None);
    // The image has no shell to resolve build requirements in.
    let p = Project::new(&config(
        &pushed.reference,
        test,
        "",
        &[project("tiny", &repo, "build-isolation = false")],
    ))
    .name(&reg.addr, "REGISTRY");
    ok(&p, &["lock"]);
    (p, reg, repo, pushed.digest)
}

#[test]
fn an_unreachable_docker_daemon_is_exit_3_with_a_hint() {
    let (p, _reg, _repo, _) = synthetic_project("l");
    for host in ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"] {
        let out = run_env(&p, &[("DOCKER_HOST", host)], &["build"]);
        assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "error: cannot reach the Docker daemon at {host}: "
            )),
            "{err}"
        );
        assert!(
            err.contains(
                "hint: start the daemon (`dockerd`), or point DOCKER_HOST (or the `[[engine]]` entry) at one (unix://, tcp://, ssh://); `build --engine` leaves an engine out of a run"
            ),
            "{err}"
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
    assert!(store_keys(&p).is_empty());
}

#[test]
fn a_digest_gone_from_the_registry_is_exit_3_with_a_hint() {
    fixtures::require_docker();
    let (p, reg, _repo, digest) = synthetic_project("m");
    let pinned = format!("{}/wb/base@{digest}", reg.addr);
    let deleted = images::http(
        "DELETE",
        &format!("{}/v2/wb/base/manifests/{digest}", reg.url()),
        &[],
        None,
    );
    assert_eq!(
        deleted.status,
        202,
        "{}",
        String::from_utf8_lossy(&deleted.body)
    );
    let _ = docker_cli(&["rmi", &pinned]);
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Failed {}: image {pinned} is not in the registry",
            cpu("tiny")
        )),
        "{err}"
    );
    assert!(
        err.contains("re-pin with `wheelbuild lock --update <image>`"),
        "{err}"
    );
    assert_eq!(status_of(&out, &cpu("tiny")), "failed");
    assert!(store_keys(&p).is_empty());
}

/// `--push` with no remote cache (no `--remote`, `WHEELBUILD_REMOTE` or `[remote] url`) is
/// a usage error, said before anything is built.
#[test]
fn build_push_without_a_remote_cache_is_exit_2_before_anything_is_built() {
    fixtures::require_docker();
    let (p, _reg, _repo, _) = synthetic_project("push-nowhere");
    let out = p.run(&["build", "--push"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains(
            "error: --push needs a remote cache: set `[remote] url`, or pass `--remote URL`"
        ),
        "{}",
        p.snapshot(&out)
    );
    assert!(store_keys(&p).is_empty());
}

// ----- n: two builds at once -------------------------------------------------------------

#[test]
fn concurrent_builds_build_a_key_once() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "n",
            "",
            &[project("hello-pure", &pure, "")],
        ),
    );
    ok(&p, &["lock"]);
    let id = cpu("hello-pure");
    let key = key_of(&p, &id);
    let started = SystemTime::now();
    let mut first = spawn(&p, &["build"], "first");
    let mut second = spawn(&p, &["build"], "second");
    let pids = [first.pid(), second.pid()];
    let outs = [
        first.wait(Duration::from_secs(300)),
        second.wait(Duration::from_secs(300)),
    ];
    for out in &outs {
        assert!(out.status.success(), "{}", p.snapshot(out));
    }
    let mut statuses: Vec<String> = outs.iter().map(|o| status_of(o, &id)).collect();
    statuses.sort();
    assert_eq!(statuses, ["built", "cached"]);
    assert_eq!(store_keys(&p), BTreeSet::from([key.clone()]));
    let builds: Vec<String> = containers_created_since(started, &key_label(&key))
        .into_iter()
        .filter(|n| !n.starts_with("wheelbuild-env-"))
        .collect();
    assert_eq!(builds.len(), 1, "{builds:?}");
    for pid in pids {
        assert_no_containers(&pid_label(pid));
    }
    assert_eq!(
        wheels_in(&wheelhouse(&p)),
        ["hello_pure-0.1.0-py3-none-any.whl"]
    );
    assert_no_staging_leftovers(&p);
}

// ----- o: verify -------------------------------------------------------------------------

#[test]
fn verify_rebuilds_and_names_what_differs() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    // Writes the build's time into the module it packages.
    let stamped = pure_repo(
        "stamped",
        Some(
            "import time\nfrom setuptools import setup\n\n\
             with open(\"stamped_mod.py\", \"w\") as f:\n    f.write(\"BUILT = %d\\n\" % time.time_ns())\n\n\
             setup(name=\"stamped\", version=\"0.1.0\", py_modules=[\"stamped_mod\"])\n",
        ),
    );
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "o",
            "",
            &[project("pure", &pure, ""), project("stamped", &stamped, "")],
        ),
    );
    ok(&p, &["lock"]);
    // Nothing in the store: nothing to verify by name.
    let out = p.run(&["verify", "pure"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("pure/py3.11-cpu is not in the store: build it before verifying it")
    );

    ok(&p, &["build", "--jobs", "1"]);
    let wheelhouse_before: Vec<(PathBuf, String)> = files_under(&p.file("wheelhouse"))
        .into_iter()
        .map(|f| (f.clone(), sha256_file(&f)))
        .collect();
    let records_before: Vec<(PathBuf, SystemTime)> = store_keys(&p)
        .iter()
        .map(|k| record_path(&p, k))
        .map(|r| (r.clone(), mtime(&r)))
        .collect();

    let out = p.run(&["verify", "pure"]);
    assert_eq!(out.status.code(), Some(0), "{}", p.snapshot(&out));
    assert_eq!(
        stdout(&out),
        "reproducible  pure/py3.11-cpu  (every wheel byte-identical)\n"
    );
    assert!(
        p.file(".wheelbuild/cache/logs/pure/py3.11-cpu.verify.log")
            .is_file()
    );

    let out = p.run(&["verify", "stamped"]);
    assert_eq!(out.status.code(), Some(13), "{}", p.snapshot(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("DIFFERENT     stamped/py3.11-cpu\n"),
        "{text}"
    );
    assert!(
        text.contains("  stamped-0.1.0-py3-none-any.whl: recorded "),
        "{text}"
    );
    assert!(text.contains("    changed: stamped_mod.py\n"), "{text}");
    assert!(!text.contains("metadata"), "{text}");

    // JSON, and both at once: still 13.
    let out = p.run(&["verify", "--format", "json"]);
    assert_eq!(out.status.code(), Some(13), "{}", p.snapshot(&out));
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_id: BTreeMap<&str, &Value> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), &r["differences"]))
        .collect();
    assert_eq!(by_id["pure/py3.11-cpu"], &serde_json::json!({}));
    let diff = &by_id["stamped/py3.11-cpu"]["stamped-0.1.0-py3-none-any.whl"];
    assert!(
        diff["changed"]
            .as_array()
            .unwrap()
            .contains(&Value::from("stamped_mod.py")),
        "{diff:#}"
    );

    // verify changes neither the store nor the wheelhouse.
    for (path, sha) in &wheelhouse_before {
        assert_eq!(&sha256_file(path), sha, "{} changed", path.display());
    }
    for (path, time) in &records_before {
        assert_eq!(mtime(path), *time, "{} changed", path.display());
    }
    assert_no_staging_leftovers(&p);
}

/// `verify --jobs 1` rebuilds one target at a time, like `build --jobs 1`: CUDA rebuilds
/// take gigabytes each.
#[test]
fn verify_honours_jobs() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let beta = pure_repo("beta", None);
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "o-jobs",
            "",
            &[project("pure", &pure, ""), project("beta", &beta, "")],
        ),
    );
    ok(&p, &["lock"]);
    ok(&p, &["build"]);
    let started = SystemTime::now();
    let out = p.run(&["verify", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", p.snapshot(&out));
    // (start, die) of each rebuild container.
    let mut spans = Vec::new();
    for key in keys(&p).values() {
        let events = fixtures::container_events_since(started, &key_label(key), &["start", "die"]);
        let time = |action: &str| {
            events
                .iter()
                .find(|(name, a, _)| a == action && !name.starts_with("wheelbuild-env-"))
                .map(|e| e.2)
                .unwrap_or_else(|| panic!("no {action} event for {key}: {events:?}"))
        };
        spans.push((time("start"), time("die")));
    }
    spans.sort();
    assert!(
        spans[0].1 <= spans[1].0,
        "the two rebuilds overlapped: {spans:?}"
    );
}

// ----- p: GPU ----------------------------------------------------------------------------

#[test]
fn a_gpu_project_without_a_gpu_runtime_fails_with_a_hint() {
    let base = fixtures::base_image(ImageKind::Cpu);
    if fixtures::daemon_has_gpu_runtime() {
        eprintln!("SKIP: this daemon has an NVIDIA runtime");
        return;
    }
    let pure = example_repo("hello-pure");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "p",
            "",
            &[project("gpu", &pure, "gpu = true")],
        ),
    );
    ok(&p, &["lock"]);
    let key = key_of(&p, &cpu("gpu"));
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Failed {}: the Docker daemon has no GPU runtime: ",
            cpu("gpu")
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: install the NVIDIA Container Toolkit on the daemon's host, or set `gpu = false`"
        ),
        "{err}"
    );
    assert_no_containers(&key_label(&key));
    assert!(store_keys(&p).is_empty());
}

// ----- r: CUDA, ROCm ---------------------------------------------------------------------

/// An accelerator example project and what its build must give.
struct AccelExample<'a> {
    kind: ImageKind,
    /// `examples/<name>`.
    name: &'a str,
    test: &'a str,
    /// The one cell's variant (`cuda11.8`).
    variant: &'a str,
    toolchain_check: &'a str,
    id: &'a str,
    /// Where its one wheel lands, under the project.
    dir: &'a str,
    wheel: &'a str,
    /// A command run with the wheel installed in the base image, and the lines it prints.
    smoke: &'a str,
    prints: &'a [&'a str],
}

/// Lock and build `example` in its family's fixture image: the target is built, with no
/// warning (the compiler's device code is in it, so no CPU-only one), its one wheel is in
/// the wheelhouse, and the smoke command prints what it should. The project holds the
/// image's registry and the example's repository.
fn builds_in_its_image(example: &AccelExample<'_>) -> Project {
    let base = fixtures::base_image(example.kind);
    let repo = example_repo(example.name);
    let config = accel_config(
        &base.reference,
        example.test,
        example.variant,
        Some(example.toolchain_check),
        &[project(example.name, &repo, "")],
    );
    let p = new_project(&base, &config);
    ok(&p, &["lock"]);
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, example.id), "built");
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));
    let dir = p.file(example.dir);
    assert_eq!(wheels_in(&dir), [example.wheel]);
    let smoke = use_wheels(&base.local(), &dir, example.smoke);
    assert_eq!(smoke.lines().collect::<Vec<_>>(), example.prints, "{smoke}");
    p.hold(base).hold(repo)
}

#[test]
fn builds_the_cuda_example_in_the_cuda_image() {
    let cuda = AccelExample {
        kind: ImageKind::Cuda,
        name: "hello-cuda",
        test: "r",
        variant: "cuda11.8",
        toolchain_check: "nvcc --version | grep 'release {cuda}'",
        id: "hello-cuda/py3.11-cuda11.8",
        dir: "wheelhouse/py311/cu118/linux_x86_64",
        wheel: "hello_cuda-0.1.0-cp311-cp311-linux_x86_64.whl",
        smoke: "python3 -c 'import hello_cuda as h; print(h.add(2, 40)); print(h.build_version())'",
        prints: &["42", "11080"],
    };
    let p = builds_in_its_image(&cuda);
    let log = read_log(&p, cuda.id);
    assert!(
        log.contains("::wheelbuild:: toolchain check: nvcc --version | grep 'release 11.8'"),
        "{log}"
    );
    assert!(
        log.contains("Cuda compilation tools, release 11.8,"),
        "{log}"
    );
    let key = key_of(&p, cuda.id);
    assert_eq!(
        record(&p, &key)["wheels"][0]["sha256"],
        sha256_file(&p.file(cuda.dir).join(cuda.wheel)).as_str()
    );
}

/// ROCm, the third family of PyTorch's variants: Debian's hipcc compiles the `.hip` kernel
/// without a GPU; the wheel links libamdhip64 and its host path runs without one.
#[test]
fn builds_the_rocm_example_in_the_rocm_image() {
    let p = builds_in_its_image(&AccelExample {
        kind: ImageKind::Rocm,
        name: "hello-rocm",
        test: "rocm",
        variant: "rocm5.2",
        toolchain_check: "hipcc --version 2>/dev/null | grep 'HIP version: {rocm}'",
        id: "hello-rocm/py3.11-rocm5.2",
        dir: "wheelhouse/py311/rocm5.2/linux_x86_64",
        wheel: "hello_rocm-0.1.0-cp311-cp311-linux_x86_64.whl",
        smoke: "python3 -c 'import hello_rocm as h; print(h.add(2, 40)); print(h.build_version())'; \
                ldd \"$(python3 -c 'import hello_rocm._hello_rocm as m; print(m.__file__)')\" | awk '/libamdhip64.so.5 =>/ {print $1}'",
        prints: &["42", "50221153", "libamdhip64.so.5"],
    });
    // Reproducible: a rebuild gives the same bytes.
    let out = ok(&p, &["verify"]);
    assert!(stdout(&out).contains("reproducible"), "{}", stdout(&out));
}

// ----- the daemon pulls with the registry credentials `lock` uses; DOCKER_HOST tcp -------

#[test]
fn the_base_image_is_pulled_with_the_configured_credentials() {
    let base = fixtures::base_image(ImageKind::Cpu);
    crate::support::require("htpasswd");
    // The same storage behind a basic-auth registry: a new repository name for the daemon,
    // so it has to pull, and it can only with credentials.
    let secured =
        Registry::start_with_storage(base.registry.storage(), Auth::basic("erin", "pu11"));
    let reference = base.reference.replace(&base.registry.addr, &secured.addr);
    let pure = example_repo("hello-pure");
    let p = Project::new(&config(
        &reference,
        "creds",
        "",
        &[project("hello-pure", &pure, "")],
    ))
    .name(&secured.addr, "REGISTRY");
    secured.write_docker_config(&p.docker_config_dir());
    ok(&p, &["lock"]);
    let pinned = format!("{}/wheelbuild/base@{}", secured.addr, base.digest);
    let cleanup = || {
        let _ = fixtures::docker_cli(&["rmi", &pinned]);
    };
    cleanup();

    // Credentials removed after locking: the pull is refused.
    let creds = p.read(".docker/config.json");
    p.write(".docker/config.json", "{}");
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("pulling ") && stderr(&out).contains(&pinned),
        "{}",
        stderr(&out)
    );

    // With them, the daemon pulls by digest and the build runs.
    p.write(".docker/config.json", &creds);
    let out = p.run(&["build"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let inspect = fixtures::docker_cli(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &pinned,
    ]);
    assert!(
        String::from_utf8_lossy(&inspect.stdout).contains(&pinned),
        "the daemon has the pinned digest"
    );
    cleanup();
}

/// A TCP endpoint forwarding to the daemon's unix socket, as `DOCKER_HOST=tcp://` reaches
/// a remote daemon.
fn tcp_to_docker_socket() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::os::unix::net::UnixStream;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Ok(unix) = UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut t1, mut u1) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
            let (mut t2, mut u2) = (tcp, unix);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut t1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut t2);
                let _ = t2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, connections)
}

#[test]
fn docker_host_tcp_is_honoured() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "tcp",
            "",
            &[project("hello-pure", &pure, "")],
        ),
    );
    ok(&p, &["lock"]);
    let (addr, connections) = tcp_to_docker_socket();
    let out = run_env(&p, &[("DOCKER_HOST", &format!("tcp://{addr}"))], &["build"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(status_of(&out, &cpu("hello-pure")), "built");
    assert!(
        connections.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the build went through tcp://{addr}"
    );
}

/// A silent CPU-only build: a C extension with no CUDA code, from a CUDA cell. Reported by
/// name; the build stands (the cell's image here is the CPU one, as a wrong image would be).
#[test]
fn a_wheel_without_gpu_code_from_a_cuda_cell_is_reported() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let cext = example_repo("hello-cext");
    let text = accel_config(
        &base.reference,
        "cpu-only",
        "cuda11.8",
        None,
        &[project("hello-cext", &cext, "")],
    );
    let p = new_project(&base, &text);
    ok(&p, &["lock"]);
    let out = ok(&p, &["build"]);
    let err = stderr(&out);
    assert!(
        err.contains("Warning hello-cext/py3.11-cuda11.8: hello_cext-0.1.0-cp311-cp311-linux_x86_64.whl was built in a CUDA cell but contains no CUDA code"),
        "{err}"
    );
    assert_eq!(status_of(&out, "hello-cext/py3.11-cuda11.8"), "built");
}
