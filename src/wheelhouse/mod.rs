//! Stage 7: the wheelhouse, where users pick up wheels (`output.dir`, laid out by
//! `output.layout`).
//!
//! Each wheel is stamped with the target and key that made it, its sha256, and the size
//! and mtime it had when placed (in its directory's `.wheelbuild-stamps.json`, see
//! [`stamps`]): a wheel that still has them is not hashed again (a no-op build must not
//! read every wheel). The stamps also make the wheelhouse hold exactly what the current
//! plan built:
//!
//! * a wheel stamped by another target with other bytes is never overwritten: that is a
//!   collision, an error naming both targets (config validation already refuses layouts
//!   that put two targets of one project in one directory);
//! * when a target's key changes, the wheels its previous builds placed in its directory
//!   are removed (same version, other bytes: pip must not pick the old one).
//!
//! Wheels are copied from the store through [`Store::copy_wheel`], which checks each
//! one's digest: a damaged store entry is reported, never placed.
//!
//! `index` lays a PEP 503 / PEP 691 simple repository over the wheelhouse, one per
//! accelerator variant, from the stamps.

pub(crate) mod index;
mod stamps;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::FileLock;
use crate::key::BuildKey;
use crate::store::provenance::{Provenance, sign};
use crate::store::{BuildRecord, Damage, Store, StoreError, TestRecord};
use stamps::StampsError;

/// Beside each wheel: its in-toto Statement with SLSA v1 provenance.
pub const PROVENANCE_SUFFIX: &str = ".intoto.json";
/// Beside a tested wheel: the in-toto statement of its test.
pub const TEST_PROVENANCE_SUFFIX: &str = ".test.intoto.json";

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a stored wheel failed its check: {0}")]
    Damaged(Damage),
    /// The key that signs the test's statement.
    #[error(transparent)]
    Signer(#[from] crate::sign::KeyError),
    #[error(
        "{} was placed by target `{other}` with other bytes; target `{target}` builds a wheel of the same name into the same directory",
        path.display()
    )]
    Collision {
        path: PathBuf,
        target: String,
        other: String,
    },
    #[error(
        "{} was written by a newer wheelbuild (stamps format {format})",
        path.display()
    )]
    NewerStamps { path: PathBuf, format: u32 },
}

impl PlaceError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            PlaceError::Collision { .. } => Some(
                "give each target its own directory: add the axes that differ to `output.layout`"
                    .into(),
            ),
            PlaceError::NewerStamps { .. } => {
                Some("upgrade wheelbuild to the version that wrote it".into())
            }
            _ => None,
        }
    }
}

/// What placing a target's wheels did.
#[derive(Debug, Default)]
pub struct Placed {
    /// The target's wheels in the wheelhouse.
    pub paths: Vec<PathBuf>,
    /// How many were copied from the store (missing or different in the wheelhouse).
    pub restored: usize,
    /// Wheels of the target's earlier builds, removed.
    pub pruned: Vec<PathBuf>,
}

/// A wheel's stamp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Stamp {
    key: BuildKey,
    target: String,
    sha256: String,
    size: u64,
    mtime_ns: u128,
    record: PathBuf,
}

/// The wheelhouse lock of the wheelhouse fed from `store`: one per store, so that every
/// run on a store (placing, indexing) takes the same one.
pub(crate) fn lock_path(store: &Store) -> PathBuf {
    store.root().join("wheelhouse.lock")
}

pub struct Wheelhouse {
    dir: PathBuf,
    /// Held while placing, so that two targets (or two runs) never interleave their
    /// collision checks and writes.
    lock: PathBuf,
}

impl Wheelhouse {
    pub fn new(dir: &Path, lock: &Path) -> Wheelhouse {
        Wheelhouse {
            dir: dir.to_path_buf(),
            lock: lock.to_path_buf(),
        }
    }

    /// Block until this process is the only one writing to the wheelhouse.
    fn lock(&self) -> std::io::Result<FileLock> {
        FileLock::acquire(&self.lock)
    }

    /// Put the wheels of `record` (target `target`, sub-directory `subdir`) into the
    /// wheelhouse, with the statement of their `test` when they have one (signed by
    /// `signer`, if given); remove what the target's earlier builds left there.
    pub fn place(
        &self,
        store: &Store,
        target: &str,
        subdir: &str,
        record: &BuildRecord,
        test: Option<&TestRecord>,
        signer: Option<&crate::sign::SecretKey>,
    ) -> Result<Placed, PlaceError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |source| PlaceError::Io { what, source }
        };
        let _guard = self.lock().map_err(io("locking the wheelhouse"))?;
        let dir = self.dir.join(subdir);
        let mut placed = Placed::default();
        let read = match stamps::Stamps::read(&dir) {
            Ok(read) => read,
            Err(StampsError::Io(e)) => return Err(io("reading the wheelhouse")(e)),
            Err(StampsError::Newer(format)) => {
                return Err(PlaceError::NewerStamps {
                    path: dir.join(stamps::FILE),
                    format,
                });
            }
            // Lost: stamped again from the wheels (written at once, whatever happens next).
            Err(StampsError::Corrupt) => {
                let rebuilt = stamps::Stamps::rebuild(&dir, store, target, record)?;
                rebuilt
                    .write(&dir)
                    .map_err(io("writing the wheel stamps"))?;
                rebuilt
            }
        };
        let mut stamps = read.clone();
        let stale: Vec<String> = stamps
            .wheels
            .iter()
            .filter(|(file, stamp)| {
                stamp.target == target
                    && stamp.key != record.key
                    && !record.wheels.iter().any(|w| w.file == **file)
            })
            .map(|(file, _)| file.clone())
            .collect();
        for file in stale {
            let wheel_path = dir.join(&file);
            for p in [
                wheel_path.clone(),
                suffixed(&wheel_path, PROVENANCE_SUFFIX),
                suffixed(&wheel_path, TEST_PROVENANCE_SUFFIX),
            ] {
                remove_if_present(&p).map_err(io("removing an old wheel"))?;
            }
            stamps.wheels.remove(&file);
            placed.pruned.push(wheel_path);
        }
        for w in &record.wheels {
            let dest = dir.join(&w.file);
            let stamp = stamps.wheels.get(&w.file);
            let on_disk = std::fs::metadata(&dest)
                .ok()
                .map(|m| (m.len(), mtime_ns(&m)));
            if let (Some(s), Some(_)) = (stamp, on_disk)
                && s.target != target
                && s.sha256 != w.sha256
            {
                return Err(PlaceError::Collision {
                    path: dest,
                    target: target.to_string(),
                    other: s.target.clone(),
                });
            }
            let path = suffixed(&dest, PROVENANCE_SUFFIX);
            if let Some(provenance) = &record.provenance {
                // Rewritten only when its bytes differ (a no-op build reads it, no more).
                let signatures = record
                    .provenance_signatures
                    .get(&w.file)
                    .map_or(&[][..], Vec::as_slice);
                let statement = provenance.file_json(w, signatures);
                write_if_changed(&path, &statement).map_err(io("writing a wheel's provenance"))?;
            } else {
                // A record from before provenance: no statement rather than another
                // build's.
                remove_if_present(&path).map_err(io("removing a wheel's old provenance"))?;
            }
            // The test's statement follows the stored outcome: a test that runs again
            // (a test-only change) rewrites it without a rebuild.
            let path = suffixed(&dest, TEST_PROVENANCE_SUFFIX);
            match test {
                Some(test) => {
                    let provenance = Provenance::of_test(target, test);
                    let signatures: Vec<_> = signer
                        .map(|s| sign(s, &provenance.statement_json(w)))
                        .into_iter()
                        .collect();
                    let statement = provenance.file_json(w, &signatures);
                    write_if_changed(&path, &statement)
                        .map_err(io("writing a wheel's test provenance"))?;
                }
                None => remove_if_present(&path)
                    .map_err(io("removing a wheel's old test provenance"))?,
            }
            let unchanged = matches!((stamp, on_disk), (Some(s), Some((size, mtime)))
                if s.key == record.key && s.sha256 == w.sha256 && s.size == size && s.mtime_ns == mtime);
            if unchanged {
                placed.paths.push(dest);
                continue;
            }
            let current = on_disk.and_then(|_| {
                std::fs::File::open(&dest)
                    .and_then(|mut f| crate::store::copy_hashing(&mut f, &mut std::io::sink()))
                    .ok()
            });
            if current.as_ref().map(|(sha, _)| sha.as_str()) != Some(w.sha256.as_str()) {
                store.copy_wheel(w, &dest)?.map_err(PlaceError::Damaged)?;
                placed.restored += 1;
            }
            let meta = std::fs::metadata(&dest).map_err(io("placing a wheel"))?;
            let record_path = store.record_path(&record.key);
            stamps.wheels.insert(
                w.file.clone(),
                Stamp {
                    key: record.key.clone(),
                    target: target.to_string(),
                    sha256: w.sha256.clone(),
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    record: std::path::absolute(&record_path).unwrap_or(record_path),
                },
            );
            placed.paths.push(dest);
        }
        if stamps.differ_from(&read) {
            stamps.write(&dir).map_err(io("writing the wheel stamps"))?;
        }
        Ok(placed)
    }
}

/// Writes `bytes` to `path` unless it holds them already (a no-op build reads it, no
/// more).
fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    crate::fsutil::write_atomic(path, bytes)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// `<wheel><suffix>`, a file that goes with the wheel.
fn suffixed(wheel: &Path, suffix: &str) -> PathBuf {
    let mut name = wheel.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}
