//! `wheelbuild gc`: store entries and environment images that no target of the config
//! uses are removed; those a running build holds, recent ones (`--keep-days`) and other
//! stores' images are kept. Real parts: the store on disk, Docker's image store.

use crate::support::test;
use std::fs::File;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, docker_cli, docker_ok};

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

#[test]
fn gc_removes_what_the_config_no_longer_uses_and_keeps_what_a_build_holds() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("gcpkg", None);
    let p = locked_project(
        &base,
        "gc",
        "",
        &[project("gcpkg", &repo, "env = { GC_VARIANT = \"1\" }")],
    );
    ok(&p, &["build"]);
    let old = key_of(&p, &cpu("gcpkg"));
    // A new key for the same target (the env is not a lock input: no relock).
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("GC_VARIANT = \"1\"", "GC_VARIANT = \"2\""),
    );
    ok(&p, &["build"]);
    let new = key_of(&p, &cpu("gcpkg"));
    assert_ne!(old, new);

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
