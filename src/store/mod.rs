//! Stage 6: the content-addressed store of builds.
//!
//! ```text
//! <store>/v1/
//!   keys/<key>/record.json          BuildRecord: the key's wheels, inputs, log, timings
//!   keys/<key>/wheels/<name>.whl    the wheels themselves
//!   keys/<key>/build.log            the build's output
//!   targets/<project>/<cell>.json   TargetEntry: the key last built for that target
//!   quarantine/<key>.<time>/        entries that failed a check, kept for inspection
//!   tmp/build-*/                    staging; a build is renamed into keys/ in one step
//!   lock                            writers hold this (File::lock) while committing
//! ```
//!
//! **A key is in the store** ([`Store::presence`], the one definition `plan`, `check` and
//! `build` use) when `keys/<key>/record.json` parses, names that key, and every wheel it
//! lists is there with its recorded size. That costs one small read and a `stat` per
//! wheel; the wheels' sha256 is checked whenever their bytes are read
//! ([`Store::copy_wheel`], `verify`). An entry that fails either check is
//! [`Damaged`](Presence::Damaged): reported with its path, moved to `quarantine/` by
//! `build`, and built again.
//!
//! Builds stage everything under `tmp/` and rename the directory into place, so a
//! complete key appears in one step. A staging directory is locked (`File::lock` on the
//! directory) by the process that fills it; one nobody holds is left over from a killed
//! run and removed by the next `build` ([`Store::remove_stale_staging`]).
//! Records are JSON with a `version`; readers ignore unknown fields so that newer writers
//! can add some.

mod record;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::fsutil::FileLock;
use crate::plan::key::BuildKey;
pub use record::{BuildRecord, CacheStats, TargetEntry, WheelRecord};

pub const STORE_VERSION: u32 = 1;

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
}

impl StoreError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            StoreError::Io { .. } => {
                Some("check the store directory's permissions and free space".into())
            }
            StoreError::Corrupt { path, .. } => Some(format!(
                "delete {} and build again",
                path.parent().unwrap_or(path).display()
            )),
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whether a key is in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presence {
    Absent,
    Present,
    /// The entry exists but fails its check: not usable.
    Damaged(Damage),
}

/// A store entry that failed a check, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{problem} ({})", path.display())]
pub(crate) struct Damage {
    /// The file that is wrong or missing.
    pub path: PathBuf,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Problem {
    #[error("the build record is unreadable: {detail}")]
    RecordUnreadable { detail: String },
    #[error("the build record is for key {found}")]
    WrongKey { found: String },
    #[error("the stored wheel is missing")]
    WheelMissing,
    #[error("the stored wheel has {found} bytes, its record says {expected}")]
    WheelSize { expected: u64, found: u64 },
    #[error("the stored wheel's sha256 is {found}, its record says {expected}")]
    WheelDigest { expected: String, found: String },
}

/// A build's outputs on their way into the store; removed if dropped uncommitted. The
/// directory stays locked while this lives, so that no other process takes it for the
/// leftover of a killed run.
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
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    keys: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        let root = dir.join(format!("v{STORE_VERSION}"));
        Store {
            keys: root.join("keys"),
            root,
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn key_dir(&self, key: &BuildKey) -> PathBuf {
        self.keys.join(&key.0)
    }

    /// `keys/<key>/record.json`, built in one allocation: `plan` asks for it per target.
    pub(crate) fn record_path(&self, key: &BuildKey) -> PathBuf {
        let mut path =
            std::ffi::OsString::with_capacity(self.keys.as_os_str().len() + key.0.len() + 13);
        path.push(self.keys.as_os_str());
        path.push("/");
        path.push(&key.0);
        path.push("/record.json");
        PathBuf::from(path)
    }

    pub(crate) fn wheel_path(&self, key: &BuildKey, file: &str) -> PathBuf {
        self.key_dir(key).join("wheels").join(file)
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

    /// Is `key` in the store? The one definition (see the module docs): the record parses
    /// and names the key, and every wheel it lists is there with its size. Wheels are not
    /// hashed here (that happens whenever their bytes are read).
    pub(crate) fn presence(&self, key: &BuildKey) -> Result<Presence, StoreError> {
        let path = self.record_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Presence::Absent),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let damaged = |path: PathBuf, problem| Ok(Presence::Damaged(Damage { path, problem }));
        let listing: record::Listing = match serde_json::from_slice(&bytes) {
            Ok(l) => l,
            Err(e) => {
                return damaged(
                    path,
                    Problem::RecordUnreadable {
                        detail: e.to_string(),
                    },
                );
            }
        };
        if listing.key != *key {
            return damaged(
                path,
                Problem::WrongKey {
                    found: listing.key.0,
                },
            );
        }
        for wheel in &listing.wheels {
            let wheel_path = self.wheel_path(key, &wheel.file);
            match std::fs::metadata(&wheel_path) {
                Ok(m) if m.is_file() && m.len() == wheel.size => {}
                Ok(m) if m.is_file() => {
                    return damaged(
                        wheel_path,
                        Problem::WheelSize {
                            expected: wheel.size,
                            found: m.len(),
                        },
                    );
                }
                Ok(_) => return damaged(wheel_path, Problem::WheelMissing),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return damaged(wheel_path, Problem::WheelMissing);
                }
                Err(source) => {
                    return Err(StoreError::Io {
                        path: wheel_path,
                        source,
                    });
                }
            }
        }
        Ok(Presence::Present)
    }

    /// The record of `key`, if the key is present (see [`Store::presence`]).
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
        key: &BuildKey,
        wheel: &WheelRecord,
        dest: &Path,
    ) -> Result<Result<(), Damage>, StoreError> {
        let src = self.wheel_path(key, &wheel.file);
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
        if size != wheel.size || sha256 != wheel.sha256 {
            let problem = if size != wheel.size {
                Problem::WheelSize {
                    expected: wheel.size,
                    found: size,
                }
            } else {
                Problem::WheelDigest {
                    expected: wheel.sha256.clone(),
                    found: sha256,
                }
            };
            return Ok(Err(Damage { path: src, problem }));
        }
        crate::fsutil::persist(tmp, dest).map_err(StoreError::io(dest))?;
        Ok(Ok(()))
    }

    /// The sha256 and size of a stored wheel, as on disk now.
    pub(crate) fn hash_wheel(&self, key: &BuildKey, file: &str) -> Result<(String, u64), Damage> {
        let path = self.wheel_path(key, file);
        File::open(&path)
            .and_then(|mut f| copy_hashing(&mut f, &mut std::io::sink()))
            .map_err(|_| Damage {
                path,
                problem: Problem::WheelMissing,
            })
    }

    /// Move a damaged entry out of `keys/` (so it is neither used nor built over), into
    /// `quarantine/`; returns where it went.
    pub(crate) fn quarantine(&self, key: &BuildKey) -> Result<PathBuf, StoreError> {
        let lock_path = self.lock_path();
        let _guard = FileLock::acquire(&lock_path).map_err(StoreError::io(&lock_path))?;
        let dir = self.root.join("quarantine");
        std::fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dest = dir.join(format!("{key}.{stamp}"));
        let src = self.key_dir(key);
        std::fs::rename(&src, &dest).map_err(StoreError::io(&src))?;
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

    /// Publish a staged build as `record.key`: write the record, then rename the whole
    /// directory into `keys/` in one step, under the store lock. If another process
    /// committed the same key first, theirs is kept (same key, same inputs). Also records
    /// the key as the target's last build.
    pub fn commit(&self, staging: Staging, record: &BuildRecord) -> Result<(), StoreError> {
        let record_path = staging.path().join("record.json");
        let bytes = serde_json::to_vec_pretty(record).expect("record serializes");
        crate::fsutil::write_atomic(&record_path, &bytes).map_err(StoreError::io(&record_path))?;
        let lock_path = self.lock_path();
        let _guard = FileLock::acquire(&lock_path).map_err(StoreError::io(&lock_path))?;
        let dest = self.key_dir(&record.key);
        if self.presence(&record.key)? != Presence::Present {
            let parent = dest.parent().expect("keys dir");
            std::fs::create_dir_all(parent).map_err(StoreError::io(parent))?;
            // An entry that is not present (no record, or damaged and not quarantined)
            // is garbage: replace it.
            if dest.exists() {
                let _ = std::fs::remove_dir_all(&dest);
            }
            let Staging { dir, _lock } = staging;
            let staged = dir.keep();
            std::fs::rename(&staged, &dest).map_err(StoreError::io(&dest))?;
        }
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
