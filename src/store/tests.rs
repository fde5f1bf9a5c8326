use std::borrow::Cow;
use std::collections::BTreeMap;

use super::*;
use crate::plan::key::{ImageKey, KeyInputs, Pairs, SourceKey};

fn record(key: &str, target: &str, wheels: &[(&str, &[u8])]) -> BuildRecord {
    BuildRecord {
        version: STORE_VERSION,
        key: BuildKey(key.repeat(64)),
        target: target.into(),
        inputs: KeyInputs {
            format: 1,
            image: ImageKey {
                platform: "linux/amd64".into(),
                manifest_digest: "sha256:x".into(),
            },
            source: SourceKey {
                commit: "c".into(),
                subdir: None,
            },
            build: "b".into(),
            toolchain_check: None,
            env: Pairs::Owned(BTreeMap::new()),
            pip: Cow::Owned(vec![]),
            apt: Cow::Owned(vec![]),
            axes: Pairs::Owned(BTreeMap::new()),
            gpu: false,
        },
        wheels: wheels
            .iter()
            .map(|(file, bytes)| WheelRecord {
                file: file.to_string(),
                sha256: hex::encode(Sha256::digest(bytes)),
                size: bytes.len() as u64,
            })
            .collect(),
        log: "build.log".into(),
        duration_ms: 1,
        ccache: None,
        wheelbuild_version: "test".into(),
    }
}

/// A store with `record` committed, its wheels written from `wheels`.
fn committed(wheels: &[(&str, &[u8])]) -> (tempfile::TempDir, Store, BuildRecord) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let r = record("a", "p/py3.11-cpu", wheels);
    let staging = store.stage().unwrap();
    for (file, bytes) in wheels {
        std::fs::write(staging.wheels_dir().join(file), bytes).unwrap();
    }
    store.commit(staging, &r).unwrap();
    (dir, store, r)
}

const WHEEL: (&str, &[u8]) = ("x-1-py3-none-any.whl", b"wheel bytes");

#[test]
fn commit_publishes_atomically_and_indexes_the_target() {
    let (_dir, store, r) = committed(&[WHEEL]);
    assert_eq!(store.presence(&r.key).unwrap(), Presence::Present);
    assert_eq!(store.record(&r.key).unwrap().unwrap(), r);
    assert!(store.wheel_path(&r.key, WHEEL.0).is_file());
    assert_eq!(
        store.last_build("p/py3.11-cpu").unwrap().unwrap().key,
        r.key
    );
    assert_eq!(
        std::fs::read_dir(store.tmp_dir()).unwrap().count(),
        0,
        "staging moved, not copied"
    );

    // A second commit of the same key keeps the first one's files.
    let staging = store.stage().unwrap();
    store.commit(staging, &r).unwrap();
    assert!(store.wheel_path(&r.key, WHEEL.0).is_file());
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn dropped_staging_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    drop(store.stage().unwrap());
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

/// Regression: with 64 or more targets, `plan` listed `keys/` and counted a directory
/// without `record.json` as cached. Presence is one check, whatever the plan's size.
#[test]
fn a_key_directory_without_its_record_is_not_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let key = BuildKey("b".repeat(64));
    std::fs::create_dir_all(store.key_dir(&key).join("wheels")).unwrap();
    assert_eq!(store.presence(&key).unwrap(), Presence::Absent);
}

/// Regression: a wheel deleted from the store left its key "cached".
#[test]
fn a_missing_store_wheel_makes_the_entry_damaged() {
    let (_dir, store, r) = committed(&[WHEEL]);
    let path = store.wheel_path(&r.key, WHEEL.0);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        store.presence(&r.key).unwrap(),
        Presence::Damaged(Damage {
            path,
            problem: Problem::WheelMissing
        })
    );
}

#[test]
fn a_truncated_wheel_or_a_broken_record_is_damaged() {
    let (_dir, store, r) = committed(&[WHEEL]);
    let path = store.wheel_path(&r.key, WHEEL.0);
    std::fs::write(&path, b"short").unwrap();
    assert!(matches!(
        store.presence(&r.key).unwrap(),
        Presence::Damaged(Damage {
            problem: Problem::WheelSize {
                expected: 11,
                found: 5
            },
            ..
        })
    ));
    std::fs::write(store.record_path(&r.key), b"{").unwrap();
    let Presence::Damaged(damage) = store.presence(&r.key).unwrap() else {
        panic!("a broken record is damage")
    };
    assert_eq!(damage.path, store.record_path(&r.key));
    assert!(matches!(damage.problem, Problem::RecordUnreadable { .. }));
}

#[test]
fn a_record_moved_to_another_key_is_damaged() {
    let (_dir, store, r) = committed(&[WHEEL]);
    let other = BuildKey("c".repeat(64));
    std::fs::rename(store.key_dir(&r.key), store.key_dir(&other)).unwrap();
    assert!(matches!(
        store.presence(&other).unwrap(),
        Presence::Damaged(Damage {
            problem: Problem::WrongKey { .. },
            ..
        })
    ));
}

/// Regression: one flipped byte in a stored wheel was restored to the wheelhouse as good.
#[test]
fn a_corrupted_store_wheel_is_never_copied_out() {
    let (dir, store, r) = committed(&[WHEEL]);
    let path = store.wheel_path(&r.key, WHEEL.0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    // Same size: only hashing can tell.
    assert_eq!(store.presence(&r.key).unwrap(), Presence::Present);
    let dest = dir.path().join("out").join(WHEEL.0);
    let damage = store
        .copy_wheel(&r.key, &r.wheels[0], &dest)
        .unwrap()
        .unwrap_err();
    assert_eq!(damage.path, path);
    assert!(matches!(damage.problem, Problem::WheelDigest { .. }));
    assert!(!dest.exists(), "nothing handed out");
    assert_eq!(
        std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
        0,
        "no temp file left"
    );

    // Quarantined: out of keys/, kept for inspection.
    let moved = store.quarantine(&r.key).unwrap();
    assert!(moved.join("wheels").join(WHEEL.0).is_file());
    assert_eq!(store.presence(&r.key).unwrap(), Presence::Absent);
}

#[test]
fn a_good_store_wheel_is_copied_out() {
    let (dir, store, r) = committed(&[WHEEL]);
    let dest = dir.path().join("out").join(WHEEL.0);
    store
        .copy_wheel(&r.key, &r.wheels[0], &dest)
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), WHEEL.1);
    assert_eq!(
        store.hash_wheel(&r.key, WHEEL.0).unwrap(),
        (r.wheels[0].sha256.clone(), r.wheels[0].size)
    );
}

/// Regression: a SIGKILLed build left `tmp/build-*` behind forever.
#[test]
fn staging_left_by_a_killed_run_is_removed_and_a_live_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let live = store.stage().unwrap();
    // What a killed process leaves: a staging directory nobody holds.
    let stale = store.tmp_dir().join("build-killed");
    std::fs::create_dir_all(stale.join("wheels")).unwrap();
    std::fs::write(stale.join("wheels/half.whl"), b"half").unwrap();
    let removed = store.remove_stale_staging().unwrap();
    assert_eq!(removed, std::slice::from_ref(&stale));
    assert!(!stale.exists());
    assert!(live.path().is_dir(), "a running build's staging is kept");
}

#[test]
fn corrupt_record_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let key = BuildKey("b".repeat(64));
    std::fs::create_dir_all(store.key_dir(&key)).unwrap();
    std::fs::write(store.record_path(&key), b"{").unwrap();
    let err = store.record(&key).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }));
    assert!(err.hint().unwrap().contains(&key.0));
}
