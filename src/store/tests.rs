use std::borrow::Cow;
use std::collections::BTreeMap;

use super::*;
use crate::key::{ImageKey, KeyInputs, Pairs, SourceKey};

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
            repair: None,
            local_version: None,
            variant: None,
            config_settings: None,
            requires_check: None,
            wheelbuild: "blake3:recipe".into(),
        },
        wheels: wheels
            .iter()
            .map(|(file, bytes)| WheelRecord {
                file: file.to_string(),
                sha256: hex::encode(Sha256::digest(bytes)),
                size: bytes.len() as u64,
            })
            .collect(),
        log: format!("logs/{}.log", key.repeat(64)),
        duration_ms: 1,
        ccache: None,
        facts: BTreeMap::new(),
        wheelbuild_version: "test".into(),
        provenance: None,
        provenance_signatures: Default::default(),
        built_on: None,
    }
}

fn commit(store: &Store, r: &BuildRecord, wheels: &[(&str, &[u8])]) {
    let staging = store.stage().unwrap();
    for (file, bytes) in wheels {
        std::fs::write(staging.wheels_dir().join(file), bytes).unwrap();
    }
    std::fs::write(staging.log_path(), b"log").unwrap();
    store.commit(staging, r).unwrap();
}

/// A store with `record` committed, its wheels written from `wheels`.
fn committed(wheels: &[(&str, &[u8])]) -> (tempfile::TempDir, Store, BuildRecord) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let r = record("a", "p/py3.11-cpu", wheels);
    commit(&store, &r, wheels);
    (dir, store, r)
}

/// Presence both ways: for one key, and from a snapshot (what `plan` uses).
fn presence(store: &Store, key: &BuildKey) -> Presence {
    let one = store.presence(key).unwrap();
    let many = store.snapshot().unwrap().presence(store, key).unwrap();
    assert_eq!(one, many, "one definition of presence");
    one
}

const WHEEL: (&str, &[u8]) = ("x-1-py3-none-any.whl", b"wheel bytes");

#[test]
fn commit_publishes_and_indexes_the_target() {
    let (_dir, store, r) = committed(&[WHEEL]);
    assert_eq!(presence(&store, &r.key), Presence::Present);
    assert_eq!(store.record(&r.key).unwrap().unwrap(), r);
    assert_eq!(
        std::fs::read(store.wheel_path(&r.wheels[0].sha256)).unwrap(),
        WHEEL.1,
        "kept by content"
    );
    assert_eq!(std::fs::read(store.log_path(&r.key)).unwrap(), b"log");
    assert_eq!(
        store.last_build("p/py3.11-cpu").unwrap().unwrap().key,
        r.key
    );
    assert_eq!(
        std::fs::read_dir(store.tmp_dir()).unwrap().count(),
        0,
        "staging removed"
    );

    // A second commit of the same key keeps the first one's record.
    let mut again = r.clone();
    again.duration_ms = 2;
    commit(&store, &again, &[WHEEL]);
    assert_eq!(store.record(&r.key).unwrap().unwrap().duration_ms, 1);
}

#[test]
fn keys_with_the_same_wheel_share_its_bytes() {
    let (_dir, store, a) = committed(&[WHEEL]);
    let b = record("b", "p/py3.12-cpu", &[WHEEL]);
    commit(&store, &b, &[WHEEL]);
    assert_eq!(presence(&store, &b.key), Presence::Present);
    let wheels: Vec<_> = std::fs::read_dir(store.root().join("wheels"))
        .unwrap()
        .collect();
    assert_eq!(wheels.len(), 1);
    assert_eq!(presence(&store, &a.key), Presence::Present);
}

#[test]
fn dropped_staging_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    drop(store.stage().unwrap());
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

/// Regression: with 64 or more targets, `plan` listed `keys/` and counted a directory
/// without its record as cached. Presence is one definition, whatever the plan's size.
#[test]
fn a_key_without_its_record_is_not_in_the_store() {
    let (_dir, store, r) = committed(&[WHEEL]);
    std::fs::remove_file(store.record_path(&r.key)).unwrap();
    assert_eq!(presence(&store, &r.key), Presence::Absent);
}

/// Regression: a wheel deleted from the store left its key "cached".
#[test]
fn a_missing_store_wheel_makes_the_entry_damaged() {
    let (_dir, store, r) = committed(&[WHEEL]);
    let path = store.wheel_path(&r.wheels[0].sha256);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        presence(&store, &r.key),
        Presence::Damaged(Damage {
            path,
            problem: Problem::WheelMissing
        })
    );
}

#[test]
fn a_record_the_index_does_not_know_is_read() {
    let (_dir, store, r) = committed(&[WHEEL]);
    // As if the commit stopped between the record and its index line.
    std::fs::remove_file(store.root().join("index")).unwrap();
    assert_eq!(presence(&store, &r.key), Presence::Present);
    std::fs::write(store.record_path(&r.key), b"{").unwrap();
    let Presence::Damaged(damage) = presence(&store, &r.key) else {
        panic!("a broken record is damage")
    };
    assert_eq!(damage.path, store.record_path(&r.key));
    assert!(matches!(damage.problem, Problem::RecordUnreadable { .. }));
}

#[test]
fn a_record_moved_to_another_key_is_damaged() {
    let (_dir, store, r) = committed(&[WHEEL]);
    let other = BuildKey("c".repeat(64));
    std::fs::rename(store.record_path(&r.key), store.record_path(&other)).unwrap();
    std::fs::remove_file(store.root().join("index")).unwrap();
    assert!(matches!(
        presence(&store, &other),
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
    let path = store.wheel_path(&r.wheels[0].sha256);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    // The file is there: only reading its bytes can tell.
    assert_eq!(presence(&store, &r.key), Presence::Present);
    let dest = dir.path().join("out").join(WHEEL.0);
    let damage = store.copy_wheel(&r.wheels[0], &dest).unwrap().unwrap_err();
    assert_eq!(damage.path, path);
    assert!(matches!(damage.problem, Problem::WheelDigest { .. }));
    assert!(!dest.exists(), "nothing handed out");
    assert_eq!(
        std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
        0,
        "no temp file left"
    );
    assert!(matches!(
        store.check_wheel(&r.wheels[0]),
        Some(UnusableWheel::Damaged(d)) if d == damage
    ));

    // Quarantined: the record and the damaged wheel leave, kept for inspection.
    let moved = store.quarantine(&r.key, &[damage]).unwrap();
    assert!(moved.join(format!("{}.whl", r.wheels[0].sha256)).is_file());
    assert!(moved.join(format!("{}.json", r.key)).is_file());
    assert!(!path.exists());
    assert_eq!(presence(&store, &r.key), Presence::Absent);
}

#[test]
fn a_good_store_wheel_is_copied_out() {
    let (dir, store, r) = committed(&[WHEEL]);
    let dest = dir.path().join("out").join(WHEEL.0);
    store.copy_wheel(&r.wheels[0], &dest).unwrap().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), WHEEL.1);
    assert!(store.check_wheel(&r.wheels[0]).is_none());
}

/// Regression: any error reading a stored wheel made it "missing", so that `verify`
/// quarantined an entry it only could not read. Missing, other bytes and unreadable are
/// three answers.
#[test]
fn a_stored_wheel_that_cannot_be_read_is_an_error_not_damage() {
    let (dir, store, r) = committed(&[WHEEL]);
    let path = store.wheel_path(&r.wheels[0].sha256);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        store.check_wheel(&r.wheels[0]),
        Some(UnusableWheel::Damaged(Damage {
            problem: Problem::WheelMissing,
            ..
        }))
    ));
    // Reading it fails with EISDIR (a file of mode 000 is read by root).
    std::fs::create_dir(&path).unwrap();
    assert_eq!(
        presence(&store, &r.key),
        Presence::Present,
        "something is there"
    );
    let Some(UnusableWheel::Unreadable(err)) = store.check_wheel(&r.wheels[0]) else {
        panic!("not damage")
    };
    assert!(
        matches!(&err, StoreError::WheelUnreadable { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(
        err.hint().unwrap().contains("stays in the store"),
        "{err:?}"
    );
    let dest = dir.path().join("out").join(WHEEL.0);
    assert!(
        store.copy_wheel(&r.wheels[0], &dest).is_err(),
        "an error, not damage"
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
fn corrupt_target_entry_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let path = store.target_path("p/py3.11-cpu");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{").unwrap();
    let err = store.last_build("p/py3.11-cpu").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }));
    assert!(err.hint().unwrap().contains("py3.11-cpu.json"));
}

#[test]
fn a_directory_where_a_record_should_be_is_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let key = BuildKey("e".repeat(64));
    std::fs::create_dir_all(store.record_path(&key)).unwrap();
    assert_eq!(presence(&store, &key), Presence::Absent);
}

#[test]
fn gc_removes_unused_keys_and_only_the_wheels_no_remaining_key_names() {
    let shared: &[(&str, &[u8])] = &[("x-1-py3-none-any.whl", b"shared")];
    let (_dir, store, kept) = committed(shared);
    let gone = record(
        "b",
        "p/py3.12-cpu",
        &[
            ("x-1-py3-none-any.whl", b"shared"),
            ("y-1-py3-none-any.whl", b"own"),
        ],
    );
    commit(
        &store,
        &gone,
        &[
            ("x-1-py3-none-any.whl", b"shared"),
            ("y-1-py3-none-any.whl", b"own"),
        ],
    );
    let live = std::collections::BTreeSet::from([kept.key.clone()]);

    let dry = store.gc(&live, std::time::Duration::ZERO, true).unwrap();
    assert_eq!(dry.keys, std::slice::from_ref(&gone.key));
    assert_eq!(
        presence(&store, &gone.key),
        Presence::Present,
        "a dry run removes nothing"
    );

    let report = store.gc(&live, std::time::Duration::ZERO, false).unwrap();
    assert_eq!(report.keys, std::slice::from_ref(&gone.key));
    assert_eq!(
        report.wheels,
        [gone.wheels[1].sha256.clone()],
        "the shared wheel stays"
    );
    assert_eq!(presence(&store, &gone.key), Presence::Absent);
    assert_eq!(presence(&store, &kept.key), Presence::Present);
    // The index was compacted to what remains, and a snapshot agrees.
    let index = std::fs::read_to_string(store.root().join("index")).unwrap();
    assert!(!index.contains(&gone.key.0), "{index}");
    let snapshot = store.snapshot().unwrap();
    assert_eq!(
        snapshot.presence(&store, &kept.key).unwrap(),
        Presence::Present
    );
    assert_eq!(
        snapshot.presence(&store, &gone.key).unwrap(),
        Presence::Absent
    );
}
