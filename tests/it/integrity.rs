//! Trust nothing on disk: damaged store entries, wheelhouse collisions and leftovers,
//! killed runs, failures that must point at the right log. Real Docker builds, as in
//! `build`; each test is named after the bug it pins.

use crate::support::test;
use std::time::Duration;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, example_repo, key_label, leftover_containers};
use crate::support::git::{GitDaemon, GitRepo};

/// Flip one bit in the middle of `path`, keeping its size.
fn flip_a_bit(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

/// Entries moved to the store's quarantine.
fn quarantined(p: &Project) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(store_dir(p).join("quarantine")) {
        Ok(e) => e.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

const PURE_WHL: &str = "hello_pure-0.1.0-py3-none-any.whl";

/// Regression: one flipped byte in a stored wheel was restored to the wheelhouse with a
/// stamp claiming the good sha256, and `verify` called the target reproducible.
#[test]
fn a_corrupted_store_wheel_is_quarantined_and_rebuilt() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = locked_project(&base, "corrupt", "", &[project("hello-pure", &pure, "")]);
    ok(&p, &["build"]);
    let key = key_of(&p, &cpu("hello-pure"));
    let good = record(&p, &key)["wheels"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = stored_wheel(&p, &good);
    // As messages show it: relative to the config's directory.
    let shown = format!("./.wheelbuild/store/v2/wheels/{good}.whl");

    // `verify`: the rebuild matches the record, the stored bytes do not.
    flip_a_bit(&stored);
    let out = p.run(&["verify"]);
    assert_eq!(out.status.code(), Some(13), "{}", p.snapshot(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("DAMAGED       hello-pure/py3.11-cpu  (the rebuild matches the record; the stored wheels do not)\n"),
        "{text}"
    );
    assert!(
        text.contains("stored wheel damaged: the stored wheel's sha256 is "),
        "{text}"
    );
    assert!(text.contains(&shown), "names the file: {text}");
    assert_eq!(quarantined(&p).len(), 1, "moved out of the store");
    assert_eq!(p.run(&["check"]).status.code(), Some(10));

    // `build` brings it back, from a real build.
    ok(&p, &["build"]);
    assert_eq!(sha256_file(&stored), good);

    // `build` restoring a damaged entry: quarantined, rebuilt, never handed out.
    flip_a_bit(&stored);
    std::fs::remove_file(wheelhouse(&p).join(PURE_WHL)).unwrap();
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &cpu("hello-pure")), "built");
    let err = stderr(&out);
    assert!(
        err.contains("Damaged hello-pure/py3.11-cpu: the stored wheel's sha256 is"),
        "{err}"
    );
    assert!(err.contains("the target is built again"), "{err}");
    assert_eq!(quarantined(&p).len(), 2);
    let placed = wheelhouse(&p).join(PURE_WHL);
    assert_eq!(sha256_file(&placed), good);
    let stamp = stamp_of(&wheelhouse(&p), PURE_WHL);
    assert_eq!(stamp["sha256"], good.as_str());
}

/// Regression: a wheel missing from the store was invisible to `check` and `plan`, and
/// `build` failed on it with "No such file or directory" and no path.
#[test]
fn a_missing_store_wheel_is_reported_and_rebuilt() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = locked_project(&base, "missing", "", &[project("hello-pure", &pure, "")]);
    ok(&p, &["build"]);
    let key = key_of(&p, &cpu("hello-pure"));
    let sha = record(&p, &key)["wheels"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = stored_wheel(&p, &sha);
    std::fs::remove_file(&stored).unwrap();

    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));
    assert!(
        stdout(&out).contains(&format!(
            "store entry damaged: the stored wheel is missing (./.wheelbuild/store/v2/wheels/{sha}.whl)"
        )),
        "{}",
        stdout(&out)
    );
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &cpu("hello-pure")), "built");
    assert!(stored.is_file());
    assert_eq!(p.run(&["check"]).status.code(), Some(0));
}

/// Regression: a target whose key changed left its old wheels beside the new ones (same
/// version, other bytes: pip may install either).
#[test]
fn a_rebuilt_target_replaces_its_old_wheels_in_the_wheelhouse() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("prune", None);
    let p = locked_project(&base, "prune", "", &[project("prune", &repo, "")]);
    ok(&p, &["build"]);
    assert_eq!(wheels_in(&wheelhouse(&p)), ["prune-0.1.0-py3-none-any.whl"]);

    repo.commit(
        "setup.py",
        "from setuptools import setup\n\nsetup(name=\"prune\", version=\"0.2.0\", py_modules=[\"prune_mod\"])\n",
        "0.2.0",
    );
    repo.git(&["tag", "-f", "-a", "v0.1.0", "-m", "moved"]);
    ok(&p, &["lock", "--update", "prune"]);
    ok(&p, &["build"]);
    assert_eq!(wheels_in(&wheelhouse(&p)), ["prune-0.2.0-py3-none-any.whl"]);
    let stamps: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(wheelhouse(&p).join(".wheelbuild-stamps.json")).unwrap(),
    )
    .unwrap();
    let stamped: Vec<&String> = stamps["wheels"].as_object().unwrap().keys().collect();
    assert_eq!(stamped, ["prune-0.2.0-py3-none-any.whl"]);
}

/// Projects `sweet` and `sour`, locked: each builds `flavored-0.1.0-py3-none-any.whl`
/// into the same directory, with other bytes (its module records the FLAVOR it was built
/// with).
fn sweet_and_sour(base: &fixtures::BaseImage, test: &str) -> (Project, GitRepo) {
    let repo = pure_repo(
        "flavored",
        Some(
            "import os\nfrom setuptools import setup\n\n\
             with open(\"flavored_mod.py\", \"w\") as f:\n    f.write(\"FLAVOR = %r\\n\" % os.environ[\"FLAVOR\"])\n\n\
             setup(name=\"flavored\", version=\"0.1.0\", py_modules=[\"flavored_mod\"])\n",
        ),
    );
    let p = locked_project(
        base,
        test,
        "",
        &[
            project("sweet", &repo, "env = { FLAVOR = \"sweet\" }"),
            project("sour", &repo, "env = { FLAVOR = \"sour\" }"),
        ],
    );
    (p, repo)
}

/// Regression: two targets writing one wheel name into one directory overwrote each
/// other, last writer winning, exit 0. (Two cells of one project are refused when the
/// config is read; two projects building the same distribution are caught here.)
#[test]
fn two_targets_placing_different_bytes_at_one_path_collide() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo) = sweet_and_sour(&base, "collide");
    let out = p.run(&["build", "--jobs", "1", "--keep-going"]);
    insta::assert_snapshot!(snap(&p, &out), @"
    success: false
    exit_code: 1
    ----- stdout -----
    TARGET            STATUS       TIME  WHEELS
    sweet/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/flavored-0.1.0-py3-none-any.whl
    sour/py3.11-cpu   failed          -
    2 targets: 1 built, 0 cached, 1 failed in [TIME]

    ----- stderr -----
        Building sweet/py3.11-cpu
           Built sweet/py3.11-cpu in [TIME]
        Building sour/py3.11-cpu
          Failed sour/py3.11-cpu: ./wheelhouse/py311/cpu/linux_x86_64/flavored-0.1.0-py3-none-any.whl was placed by target `sweet/py3.11-cpu` with other bytes; target `sour/py3.11-cpu` builds a wheel of the same name into the same directory
                 hint: give each target its own directory: add the axes that differ to `output.layout`
    ");
    // The first target's wheel is intact.
    let placed = wheelhouse(&p).join("flavored-0.1.0-py3-none-any.whl");
    let listing = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('flavored_mod.py').decode())"])
        .arg(&placed)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "FLAVOR = 'sweet'"
    );
}

/// Regression: a stamps file that did not parse read as no stamps, so the next target
/// placing a wheel of the same name overwrote another target's wheel, and that wheel's
/// stamp was dropped; one of a newer format read the same way.
#[test]
fn a_corrupt_stamps_file_keeps_the_collision_check_and_a_newer_one_is_refused() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo) = sweet_and_sour(&base, "stamps-lost");
    ok(&p, &["build", "--only", "sweet"]);
    let whl = "flavored-0.1.0-py3-none-any.whl";
    let placed = wheelhouse(&p).join(whl);
    let sweet = sha256_file(&placed);
    let stamps = wheelhouse(&p).join(".wheelbuild-stamps.json");
    let good = std::fs::read_to_string(&stamps).unwrap();

    // Cut short: the stamps are lost, not the wheels' owners.
    std::fs::write(&stamps, &good[..good.len() / 2]).unwrap();
    let out = p.run(&["build", "--only", "sour"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains(&format!(
            "Failed sour/py3.11-cpu: ./wheelhouse/py311/cpu/linux_x86_64/{whl} was placed by target `sweet/py3.11-cpu` with other bytes"
        )),
        "{}",
        p.snapshot(&out)
    );
    assert_eq!(sha256_file(&placed), sweet, "sweet's wheel is intact");
    assert_eq!(
        std::fs::read_to_string(&stamps).unwrap(),
        good,
        "stamped again from the wheel's bytes"
    );

    // A newer wheelbuild's stamps: this one cannot know what they say.
    std::fs::write(&stamps, "{\"format\": 2, \"wheels\": {}}").unwrap();
    let out = p.run(&["build", "--only", "sweet"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Failed sweet/py3.11-cpu: ./wheelhouse/py311/cpu/linux_x86_64/.wheelbuild-stamps.json was written by a newer wheelbuild (stamps format 2)"),
        "{err}"
    );
    assert!(err.contains("hint: upgrade wheelbuild"), "{err}");
}

/// Regression: a stored wheel that could not be read (EACCES, EIO) was taken for a
/// missing one, and `verify` quarantined an entry nothing said was damaged.
#[test]
fn verify_reports_an_unreadable_store_wheel_and_quarantines_nothing() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = locked_project(&base, "unreadable", "", &[project("hello-pure", &pure, "")]);
    ok(&p, &["build"]);
    let key = key_of(&p, &cpu("hello-pure"));
    let (_, sha) = wheel_sha(&p, &cpu("hello-pure"));
    let stored = stored_wheel(&p, &sha);
    let bytes = std::fs::read(&stored).unwrap();
    // Reading a directory fails (EISDIR); root reads a file of mode 000.
    std::fs::remove_file(&stored).unwrap();
    std::fs::create_dir(&stored).unwrap();

    let out = p.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: hello-pure/py3.11-cpu: stored wheel ./.wheelbuild/store/v2/wheels/{sha}.whl cannot be read: Is a directory"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: the entry stays in the store (nothing says it is damaged)"),
        "{err}"
    );
    assert!(quarantined(&p).is_empty(), "{:?}", quarantined(&p));
    assert!(record_path(&p, &key).is_file());

    // Readable again: the entry is whole.
    std::fs::remove_dir(&stored).unwrap();
    std::fs::write(&stored, bytes).unwrap();
    assert_eq!(p.run(&["check"]).status.code(), Some(0));
}

/// Regression: when apt/pip failed while preparing the environment, the error named the
/// target's build log, which was empty; the real error was in `logs/env-<key>.log`.
#[test]
fn a_failed_environment_setup_names_its_log_and_shows_its_tail() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let p = locked_project(
        &base,
        "envfail",
        "",
        &[project("hello-pure", &pure, "apt = [\"file\"]")],
    );
    // The setup fails: the locked version of `file` is gone from the mirror (simulated by
    // a version it never had).
    let lock = lock_of(&p);
    let version = &lock.environments[0]
        .debs
        .iter()
        .find(|d| d.name == "file")
        .expect("file is pinned")
        .version;
    let text = p.read("wheelbuild.lock");
    p.write(
        "wheelbuild.lock",
        &text.replace(
            &format!("name = \"file\", version = \"{version}\""),
            "name = \"file\", version = \"0.0.0-wheelbuild-gone\"",
        ),
    );
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("apt package `file`: the mirror no longer has version 0.0.0-wheelbuild-gone"),
        "{err}"
    );
    let log_line = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("log: "))
        .unwrap_or_else(|| panic!("no log path in:\n{err}"));
    assert!(log_line.contains("/logs/env-"), "{log_line}");
    assert!(
        err.contains("| E: Version '0.0.0-wheelbuild-gone' for 'file' was not found"),
        "the log's last lines are shown:\n{err}"
    );
}

/// Regression: a SIGKILLed `build` left its container running and its staging directory
/// in the store, forever.
#[test]
fn a_sigkilled_build_leaves_nothing_after_the_next_run() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo, mut running, container) = start_sleeping_build(&base, "killed");
    let key = key_of(&p, &cpu("sleeper"));
    // SIGKILL: no handler runs.
    let pid = running.pid();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = running.wait(Duration::from_secs(30));
    assert!(
        leftover_containers(&key_label(&key)).contains(&container),
        "the container outlives a killed run"
    );
    assert_eq!(staging_leftovers(&p).len(), 1, "and so does its staging");

    // The next run (with nothing to build but the sleeper, now quick) cleans up.
    let config = p.read("wheelbuild.toml").replace("build = 'sleep 60'", "");
    p.write("wheelbuild.toml", &config);
    let out = p.run(&["build"]);
    // The engine's leftovers of every dead run are removed, and tests running alongside
    // kill runs too: the count is at least this one (checked by id below).
    insta::with_settings!({filters => vec![(r"Removed [1-9][0-9]* container", "Removed [N] container")]}, {
        insta::assert_snapshot!(snap(&p, &out), @"
        success: true
        exit_code: 0
        ----- stdout -----
        TARGET              STATUS       TIME  WHEELS
        sleeper/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/hello_pure-0.1.0-py3-none-any.whl
        1 target: 1 built, 0 cached, 0 failed in [TIME]

        ----- stderr -----
             Removed [N] container(s) and 1 staging director(ies) left by killed runs
            Building sleeper/py3.11-cpu
               Built sleeper/py3.11-cpu in [TIME]
        ");
    });
    assert!(!leftover_containers(&key_label(&key)).contains(&container));
    assert_no_staging_leftovers(&p);
}

/// Regression: a git server that was down during `build` was exit 1 (a failed build),
/// not 3 (something outside is unavailable).
#[test]
fn a_git_server_down_during_build_is_exit_3() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let served = crate::support::tempdir("daemon-base-");
    let repo = GitRepo::new_in(served.path(), "served");
    repo.commit(
        "setup.py",
        "from setuptools import setup\n\nsetup(name=\"served\", version=\"0.1.0\")\n",
        "one",
    );
    let daemon = GitDaemon::start(served.path());
    let p = new_project(&base, &config(&base.reference, "gitdown", "", &[]));
    p.write(
        "wheelbuild.toml",
        &format!(
            "{}\n[[project]]\nname = \"served\"\ngit = \"{}\"\nref = \"main\"\n",
            p.read("wheelbuild.toml"),
            daemon.url("served")
        ),
    );
    ok(&p, &["lock"]);
    drop(daemon);
    // The mirror `lock` made holds the commit: without it, `build` must fetch.
    let _ = std::fs::remove_dir_all(p.file(".wheelbuild/cache/git"));
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
}

/// `verify` rebuilds with new, empty compiler caches (a warm ccache would hide a compiler
/// that does not give the same bytes twice), keeps the rebuilt wheels on request, and
/// names the ELF sections that differ.
#[test]
fn verify_rebuilds_cold_keeps_wheels_and_names_elf_sections() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let cext = example_repo("hello-cext");
    // A linker build id from the clock: the one thing that differs between two builds.
    let stamped = "build = 'LDFLAGS=\"-Wl,--build-id=0x$(date +%s%N)0\" python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .'";
    let p = locked_project(
        &base,
        "verify-cold",
        "\n[output]\nlayout = \"{project}\"",
        &[
            project("hello-cext", &cext, ""),
            project("stamped", &cext, stamped),
        ],
    );
    ok(&p, &["build", "--jobs", "1"]);

    let keep = p.file("kept");
    let out = p.run(&["verify", "hello-cext", "--keep", keep.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", p.snapshot(&out));
    let log =
        std::fs::read_to_string(p.file(".wheelbuild/cache/logs/hello-cext/py3.11-cpu.verify.log"))
            .unwrap();
    assert!(
        log.contains("::wheelbuild:: ccache hits=0 misses=1"),
        "a cold cache, although the build just warmed the shared one:\n{log}"
    );
    let whl = "hello_cext-0.1.0-cp311-cp311-linux_x86_64.whl";
    let kept = keep.join("hello-cext/py3.11-cpu").join(whl);
    assert_eq!(
        sha256_file(&kept),
        sha256_file(&p.file("wheelhouse/hello-cext").join(whl))
    );

    let out = p.run(&["verify", "stamped"]);
    assert_eq!(out.status.code(), Some(13), "{}", p.snapshot(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("DIFFERENT     stamped/py3.11-cpu\n"),
        "{text}"
    );
    assert!(
        text.contains("(sections: .note.gnu.build-id)"),
        "the differing section is named:\n{text}"
    );
}
