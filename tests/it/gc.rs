//! `wheelbuild gc`: store entries and environment images that no target of the config
//! uses are removed; those a running build holds, recent ones (`--keep-days`) and other
//! stores' images are kept. Real parts: the store on disk, Docker's image store.

use crate::support::test;
use std::fs::File;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, docker_cli, docker_ok};
use crate::support::git::GitRepo;

/// An image tagged `tag`, labelled as an environment image of `store` (`None`: no label).
fn env_image(base: &str, tag: &str, store: &str) -> String {
    let container = docker_ok(&["create", base, "true"]);
    let container = container.trim();
    docker_ok(&[
        "commit",
        "--change",
        &format!("LABEL org.wheelbuild.store={store}"),
        container,
        tag,
    ]);
    docker_ok(&["rm", container]);
    tag.to_string()
}

fn image_exists(tag: &str) -> bool {
    docker_cli(&["image", "inspect", tag]).status.success()
}

/// Project `dist`, built as two keys: the first one's entry no target uses any more, the
/// second one's is the target's now. Returns both keys, old then new.
fn built_twice(
    base: &fixtures::BaseImage,
    test: &str,
    dist: &str,
) -> (Project, GitRepo, String, String) {
    let repo = pure_repo(dist, None);
    let p = locked_project(
        base,
        test,
        "",
        &[project(dist, &repo, "env = { GC_VARIANT = \"1\" }")],
    );
    ok(&p, &["build"]);
    let old = key_of(&p, &cpu(dist));
    // A new key for the same target (the env is not a lock input: no relock).
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("GC_VARIANT = \"1\"", "GC_VARIANT = \"2\""),
    );
    ok(&p, &["build"]);
    let new = key_of(&p, &cpu(dist));
    assert_ne!(old, new);
    (p, repo, old, new)
}

#[test]
fn gc_removes_what_the_config_no_longer_uses_and_keeps_what_a_build_holds() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo, old, new) = built_twice(&base, "gc", "gcpkg");

    // Environment images: one of this store that nothing uses, one of another store.
    let store = std::path::absolute(store_dir(&p)).unwrap();
    let pid = std::process::id();
    let unused = env_image(
        &base.local(),
        &format!("wheelbuild-env:gc-unused-{pid}"),
        &store.display().to_string(),
    );
    let foreign = env_image(
        &base.local(),
        &format!("wheelbuild-env:gc-foreign-{pid}"),
        "/elsewhere/store/v2",
    );

    // --dry-run says what would go and removes nothing.
    let out = ok(&p, &["gc", "--dry-run"]);
    assert!(
        stderr(&out).contains("Would remove 1 store entr(ies)"),
        "{}",
        p.snapshot(&out)
    );
    assert!(record_path(&p, &old).is_file());
    assert!(image_exists(&unused));

    // Recent entries survive `--keep-days`.
    let out = ok(&p, &["gc", "--keep-days", "1"]);
    assert!(
        stderr(&out).contains("kept 1 unused store entr(ies) younger than 1 day(s)"),
        "{}",
        p.snapshot(&out)
    );
    assert!(record_path(&p, &old).is_file());

    // A build holding the old key (building or restoring it) keeps it.
    let lock = File::create(store_dir(&p).join("locks").join(format!("{old}.lock"))).unwrap();
    lock.lock().unwrap();
    let out = ok(&p, &["gc"]);
    assert!(
        stderr(&out).contains(&format!(
            "kept store entry {}: a running build holds it",
            &old[..12]
        )),
        "{}",
        p.snapshot(&out)
    );
    assert!(record_path(&p, &old).is_file());
    drop(lock);

    let out = ok(&p, &["gc"]);
    assert!(
        stderr(&out).contains("Removed 1 store entr(ies)"),
        "{}",
        p.snapshot(&out)
    );
    assert!(!record_path(&p, &old).exists());
    assert!(record_path(&p, &new).is_file());
    assert!(
        !image_exists(&unused),
        "this store's unused environment image"
    );
    assert!(
        image_exists(&foreign),
        "another store's image is not ours to remove"
    );
    docker_ok(&["rmi", &foreign]);
    // What the config uses is intact: cached, and its wheel restores.
    ok(&p, &["check"]);
    std::fs::remove_dir_all(p.file("wheelhouse")).unwrap();
    let out = ok(&p, &["build"]);
    assert!(
        stdout(&out).contains("0 built, 1 cached") && stderr(&out).contains("1 wheel(s) restored"),
        "{}",
        p.snapshot(&out)
    );
}

/// Regression: a live key whose record could not be read, and that `index` did not list,
/// named no wheels, so `gc` removed its wheels as unnamed; removing another key in the same
/// run rewrote `index` to say that the live key had none.
#[test]
fn gc_keeps_the_wheels_of_a_live_key_whose_record_is_unreadable() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let (p, _repo, _, live) = built_twice(&base, "gc-unreadable", "gcread");
    let (_, sha) = wheel_sha(&p, &cpu("gcread"));
    // The live record cannot be read, and `index` does not list it (as after a commit cut
    // short between the two).
    let good = std::fs::read(record_path(&p, &live)).unwrap();
    std::fs::write(record_path(&p, &live), "{").unwrap();
    std::fs::remove_file(store_dir(&p).join("index")).unwrap();

    let out = ok(&p, &["gc"]);
    let err = stderr(&out);
    assert!(
        err.contains("Removed 1 store entr(ies), 0 wheel(s)"),
        "{}",
        p.snapshot(&out)
    );
    assert!(
        err.contains(&format!(
            "kept every stored wheel, since this record may name any of them: store record ./.wheelbuild/store/v2/records/{live}.json is unreadable: "
        )),
        "{}",
        p.snapshot(&out)
    );
    assert!(stored_wheel(&p, &sha).is_file(), "{}", p.snapshot(&out));
    let index = std::fs::read_to_string(store_dir(&p).join("index")).unwrap();
    assert!(
        !index.contains(&live),
        "no line saying the key has no wheels:\n{index}"
    );

    // Readable again: its record names its wheel, and the next `gc` keeps it.
    std::fs::write(record_path(&p, &live), good).unwrap();
    ok(&p, &["gc"]);
    assert!(stored_wheel(&p, &sha).is_file());
    ok(&p, &["check"]);
}
