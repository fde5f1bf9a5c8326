//! Stage 6: the content-addressed store of builds.
//!
//! ```text
//! <store>/v2/
//!   records/<key>.json              BuildRecord: the key's wheels (name, sha256, size), inputs
//!   wheels/<sha256>.whl             the wheels, by content (shared by keys that built the same bytes)
//!   logs/<key>.log                  each build's output
//!   index                           key → wheel digests, one line per commit (a cache of the records)
//!   targets/<project>/<cell>.json   TargetEntry: the key last built for that target
//!   tests/<test key>.json, .log     TestRecord: the outcome of a test of a key's wheels (`test`)
//!   quarantine/<key>.<time>/        entries that failed a check, kept for inspection
//!   tmp/build-*/                    staging, locked by the build that fills it
//!   locks/<key>.lock                held while a key builds
//!   lock                            held while committing, quarantining or collecting (`gc`)
//! ```
//!
//! **A key is in the store** (`presence`: the one definition `plan`, `check` and `build`
//! use) when its record exists and every wheel it lists is in `wheels/`. For a whole plan
//! that costs three directory listings and one read of `index` ([`Snapshot`]), not a read
//! per key. Bytes are checked whenever they are read: a wheel's sha256 and size when it is
//! restored or verified ([`Store::copy_wheel`]), a record when it is parsed. Whatever fails
//! is [`Damaged`](Presence::Damaged): reported with its path, moved to `quarantine/` by
//! `build` (and `verify`), and built again. A wheel that is there but cannot be read
//! (permissions, I/O) is not known to be damaged: an error, and nothing is quarantined.
//!
//! A commit moves the wheels into `wheels/` first and writes the record last, atomically:
//! a record never names a wheel that is not there yet. Staging directories are locked
//! (`File::lock` on the directory); one nobody holds is left over from a killed run and
//! removed by the next `build` ([`Store::remove_stale_staging`]). Records are JSON with a
//! `version`; readers ignore unknown fields so that newer writers can add some. Stores of
//! earlier layouts (`v1/`) are not read: their targets are built once more.

mod gc;
mod index;
mod presence;
pub mod provenance;
mod record;
mod test;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::fsutil::FileLock;
use crate::key::BuildKey;
pub use gc::GcReport;
pub(crate) use presence::{Damage, Presence, Problem, Snapshot, UnusableWheel};
pub use record::{BuildRecord, CacheStats, CompilerStats, TargetEntry, WheelRecord};
pub(crate) use test::StoredTest;
pub use test::{TestOutcome, TestRecord};

pub const STORE_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store record {} is unreadable: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A stored wheel that is there but cannot be read: not known to be damaged.
    #[error("stored wheel {} cannot be read: {source}", path.display())]
    WheelUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            StoreError::Io { .. } => {
                Some("check the store directory's permissions and free space".into())
            }
            StoreError::Corrupt { path, .. } => {
                Some(format!("delete {} and build again", path.display()))
            }
            StoreError::WheelUnreadable { path, .. } => Some(format!(
                "the entry stays in the store (nothing says it is damaged): fix the file's permissions or the disk, or delete {} to have `build` build it again",
                path.display()
            )),
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A build's outputs on their way into the store: `wheels/<name>.whl` and `build.log`.
/// Removed if dropped uncommitted. The directory stays locked while this lives, so that no
/// other process takes it for the leftover of a killed run.
#[derive(Debug)]
pub struct Staging {
    dir: tempfile::TempDir,
    _lock: File,
}

impl Staging {
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn wheels_dir(&self) -> PathBuf {
        self.dir.path().join("wheels")
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.path().join("build.log")
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store {
            root: dir.join(format!("v{STORE_VERSION}")),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn record_path(&self, key: &BuildKey) -> PathBuf {
        self.root.join("records").join(format!("{key}.json"))
    }

    /// Where the wheel with this sha256 (hex) is kept.
    pub(crate) fn wheel_path(&self, sha256: &str) -> PathBuf {
        self.root.join("wheels").join(format!("{sha256}.whl"))
    }

    pub(crate) fn log_path(&self, key: &BuildKey) -> PathBuf {
        self.root.join("logs").join(format!("{key}.log"))
    }

    pub(crate) fn target_path(&self, target: &str) -> PathBuf {
        self.root.join("targets").join(format!("{target}.json"))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// The file lock one process holds while building `key`.
    pub(crate) fn build_lock_path(&self, key: &BuildKey) -> PathBuf {
        self.root.join("locks").join(format!("{key}.lock"))
    }

    /// What is in the store now, for the presence of many keys at once.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Snapshot::take(self)
    }

    /// Is `key` in the store? The definition of the module docs, for one key: its record
    /// read for the wheels it lists (as the index would say), each looked for in `wheels/`.
    pub(crate) fn presence(&self, key: &BuildKey) -> Result<Presence, StoreError> {
        let path = self.record_path(key);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(Presence::Absent),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Presence::Absent),
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        let record: BuildRecord = match read_json(&path) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(Presence::Absent),
            Err(StoreError::Corrupt { path, detail }) => {
                return Ok(Presence::Damaged(Damage {
                    path,
                    problem: Problem::RecordUnreadable { detail },
                }));
            }
            Err(e) => return Err(e),
        };
        if record.key != *key {
            return Ok(Presence::Damaged(Damage {
                path,
                problem: Problem::WrongKey {
                    found: record.key.0,
                },
            }));
        }
        // As the snapshot lists `wheels/`: whatever is at a wheel's path counts as there,
        // and only reading it tells whether it holds the recorded bytes.
        for w in &record.wheels {
            let path = self.wheel_path(&w.sha256);
            match std::fs::symlink_metadata(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Presence::Damaged(Damage {
                        path,
                        problem: Problem::WheelMissing,
                    }));
                }
                Err(source) => return Err(StoreError::WheelUnreadable { path, source }),
            }
        }
        Ok(Presence::Present)
    }

    /// The records that name a wheel with one of these sha256s (hex): who placed a
    /// wheel whose stamp was lost. A record that cannot be read names nothing here.
    pub(crate) fn records_naming(&self, sha256s: &[&str]) -> Result<Vec<BuildRecord>, StoreError> {
        let digests = sha256s
            .iter()
            .filter_map(|d| presence::parse_hex(d.as_bytes()))
            .collect();
        let snapshot = self.snapshot()?;
        Ok(snapshot
            .keys_naming(&digests)
            .filter_map(|key| self.record(&key).ok().flatten().filter(|r| r.key == key))
            .filter(|r| {
                r.wheels
                    .iter()
                    .any(|w| sha256s.contains(&w.sha256.as_str()))
            })
            .collect())
    }

    /// The record of `key` as the bytes on disk (what a remote entry carries), if any.
    pub(crate) fn record_bytes(&self, key: &BuildKey) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.record_path(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// The record of `key`, if it has one.
    pub(crate) fn record(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError> {
        read_json(&self.record_path(key))
    }

    pub(crate) fn last_build(&self, target: &str) -> Result<Option<TargetEntry>, StoreError> {
        read_json(&self.target_path(target))
    }

    /// Copy a stored wheel to `dest` (atomically), checking its size and sha256 against
    /// the record on the way: a wheel that does not match is never handed out.
    pub(crate) fn copy_wheel(
        &self,
        wheel: &WheelRecord,
        dest: &Path,
    ) -> Result<Result<(), Damage>, StoreError> {
        let src = self.wheel_path(&wheel.sha256);
        let mut input = match File::open(&src) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(Damage {
                    path: src,
                    problem: Problem::WheelMissing,
                }));
            }
            Err(source) => return Err(StoreError::Io { path: src, source }),
        };
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        let mut tmp = crate::fsutil::temp_file_beside(dest).map_err(StoreError::io(dest))?;
        let (sha256, size) =
            copy_hashing(&mut input, tmp.as_file_mut()).map_err(StoreError::io(&src))?;
        if let Some(problem) = mismatch(wheel, &sha256, size) {
            return Ok(Err(Damage { path: src, problem }));
        }
        crate::fsutil::persist(tmp, dest).map_err(StoreError::io(dest))?;
        Ok(Ok(()))
    }

    /// A stored wheel's bytes against its record: `Some` when it is missing or its bytes
    /// differ (damage), or when it cannot be read.
    pub(crate) fn check_wheel(&self, wheel: &WheelRecord) -> Option<UnusableWheel> {
        let path = self.wheel_path(&wheel.sha256);
        let problem =
            match File::open(&path).and_then(|mut f| copy_hashing(&mut f, &mut std::io::sink())) {
                Ok((sha256, size)) => mismatch(wheel, &sha256, size)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Problem::WheelMissing,
                Err(source) => {
                    return Some(UnusableWheel::Unreadable(StoreError::WheelUnreadable {
                        path,
                        source,
                    }));
                }
            };
        Some(UnusableWheel::Damaged(Damage { path, problem }))
    }

    /// Take `key` out of the store (so it is neither used nor trusted): its record and log,
    /// and the damaged wheels (a key sharing one is then rebuilt too), move to
    /// `quarantine/`. Returns where they went.
    pub(crate) fn quarantine(
        &self,
        key: &BuildKey,
        damage: &[Damage],
    ) -> Result<PathBuf, StoreError> {
        let lock_path = self.lock_path();
        let _guard = FileLock::acquire(&lock_path).map_err(StoreError::io(&lock_path))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dest = self.root.join("quarantine").join(format!("{key}.{stamp}"));
        std::fs::create_dir_all(&dest).map_err(StoreError::io(&dest))?;
        let record = self.record_path(key);
        let mut moved = vec![record, self.log_path(key)];
        let wheels = self.root.join("wheels");
        moved.extend(
            damage
                .iter()
                .filter(|d| d.path.starts_with(&wheels))
                .map(|d| d.path.clone()),
        );
        for src in moved {
            let name = src.file_name().expect("store paths have names");
            match std::fs::rename(&src, dest.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Io { path: src, source }),
            }
        }
        index::append(&self.root, key, None).map_err(StoreError::io(&self.root))?;
        Ok(dest)
    }

    /// A fresh, locked staging directory under `tmp/` for one build's outputs.
    pub fn stage(&self) -> Result<Staging, StoreError> {
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&tmp)
            .map_err(StoreError::io(&tmp))?;
        let lock = File::open(dir.path()).map_err(StoreError::io(dir.path()))?;
        lock.lock().map_err(StoreError::io(dir.path()))?;
        std::fs::create_dir(dir.path().join("wheels")).map_err(StoreError::io(dir.path()))?;
        Ok(Staging { dir, _lock: lock })
    }

    /// Remove staging directories that no process holds: leftovers of killed runs.
    /// Returns what was removed.
    pub(crate) fn remove_stale_staging(&self) -> Result<Vec<PathBuf>, StoreError> {
        let tmp = self.tmp_dir();
        let entries = match std::fs::read_dir(&tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path: tmp, source }),
        };
        let mut removed = Vec::new();
        for entry in entries {
            let path = entry.map_err(StoreError::io(&tmp))?.path();
            let Ok(dir) = File::open(&path) else { continue };
            // Held: a running build's. The lock is ours until `dir` is dropped.
            if dir.try_lock().is_err() {
                continue;
            }
            if std::fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// Publish a staged build as `record.key`, under the store lock: each wheel into
    /// `wheels/` (durably), the log into `logs/`, then the record, atomically: the commit
    /// point. If the key has a record already (another process committed it first), that
    /// one is kept: same key, same inputs. Also records the key as the target's last build.
    pub fn commit(&self, staging: Staging, record: &BuildRecord) -> Result<(), StoreError> {
        let lock_path = self.lock_path();
        let _guard = FileLock::acquire(&lock_path).map_err(StoreError::io(&lock_path))?;
        let record_path = self.record_path(&record.key);
        if !record_path.is_file() {
            let wheels = self.root.join("wheels");
            std::fs::create_dir_all(&wheels).map_err(StoreError::io(&wheels))?;
            for w in &record.wheels {
                let dest = self.wheel_path(&w.sha256);
                if dest.is_file() {
                    // Content-addressed: the bytes are already there (checked when read).
                    continue;
                }
                let src = staging.wheels_dir().join(&w.file);
                File::open(&src)
                    .and_then(|f| f.sync_all())
                    .map_err(StoreError::io(&src))?;
                std::fs::rename(&src, &dest).map_err(StoreError::io(&dest))?;
            }
            sync_dir(&wheels).map_err(StoreError::io(&wheels))?;
            let log = staging.log_path();
            if log.is_file() {
                let dest = self.log_path(&record.key);
                let dir = dest.parent().expect("logs dir");
                std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
                std::fs::rename(&log, &dest).map_err(StoreError::io(&dest))?;
            }
            let bytes = serde_json::to_vec_pretty(record).expect("record serializes");
            crate::fsutil::write_atomic(&record_path, &bytes)
                .map_err(StoreError::io(&record_path))?;
            let digests: Vec<&str> = record.wheels.iter().map(|w| w.sha256.as_str()).collect();
            index::append(&self.root, &record.key, Some(&digests))
                .map_err(StoreError::io(&self.root))?;
        }
        drop(staging);
        self.set_last_build(&TargetEntry {
            version: STORE_VERSION,
            target: record.target.clone(),
            key: record.key.clone(),
            inputs: record.inputs.clone(),
        })
    }

    /// Remember that `target` was last built as `key` (atomic).
    pub(crate) fn set_last_build(&self, entry: &TargetEntry) -> Result<(), StoreError> {
        let path = self.target_path(&entry.target);
        let bytes = serde_json::to_vec_pretty(entry).expect("target entry serializes");
        crate::fsutil::write_atomic(&path, &bytes).map_err(|source| StoreError::Io { path, source })
    }
}

/// How `wheel`'s bytes (their `sha256` and `size`) differ from its record, if they do.
fn mismatch(wheel: &WheelRecord, sha256: &str, size: u64) -> Option<Problem> {
    if size != wheel.size {
        Some(Problem::WheelSize {
            expected: wheel.size,
            found: size,
        })
    } else if sha256 != wheel.sha256 {
        Some(Problem::WheelDigest {
            expected: wheel.sha256.clone(),
            found: sha256.to_string(),
        })
    } else {
        None
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Copy `input` to `output`, returning the sha256 (hex) and size of what was copied.
pub(crate) fn copy_hashing(
    input: &mut impl Read,
    output: &mut impl Write,
) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> Result<Option<T>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
