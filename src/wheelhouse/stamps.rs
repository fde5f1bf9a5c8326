//! The stamps of one wheelhouse directory, in one file beside its wheels:
//! `.wheelbuild-stamps.json`, wheel file name → [`Stamp`]. One file per directory, not
//! one per wheel: placing a target reads its directory's stamps to find collisions and
//! what to prune, and `index` reads them all, so a thousand-cell wheelhouse cost a
//! thousand opens per placement and per index run (issue 9's benchmark).
//!
//! Read and written under the wheelhouse lock only; written atomically, and only when
//! it changes (a no-op build writes nothing). A file that does not parse is stamps lost,
//! not an empty directory: `build` stamps the directory again from its wheels' bytes
//! ([`Stamps::rebuild`]), so that other targets' wheels keep their stamps and collisions
//! with them are still caught; `index` leaves the directory's wheels out until then. A
//! file of a newer format is an error: this wheelbuild cannot know what it says.
//!
//! Wheelhouses from before kept one `<wheel>.wheelbuild.json` per wheel: those are read
//! when the directory has no stamps file yet, carried into it, and removed once it is
//! written.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{PlaceError, Stamp};
use crate::store::{BuildRecord, Store};

/// The stamps file of a wheelhouse directory.
pub(super) const FILE: &str = ".wheelbuild-stamps.json";
/// One stamp beside each wheel (`<wheel>.wheelbuild.json`): the layout before [`FILE`].
pub(super) const LEGACY_SUFFIX: &str = ".wheelbuild.json";
/// The format of [`FILE`].
const FORMAT: u32 = 1;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Stamps {
    format: u32,
    /// Wheel file name → its stamp.
    pub wheels: BTreeMap<String, Stamp>,
    /// Per-wheel stamp files carried over, removed when this is written.
    #[serde(skip)]
    legacy: Vec<PathBuf>,
}

/// Why a directory's stamps cannot be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum StampsError {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Not a stamps file (cut short, edited): the stamps are lost.
    #[error("not a stamps file")]
    Corrupt,
    /// Written by a newer wheelbuild.
    #[error("stamps of format {0}, newer than this wheelbuild's {FORMAT}")]
    Newer(u32),
}

impl Stamps {
    /// The stamps in `bytes` (a [`FILE`]).
    pub(super) fn parse(bytes: &[u8]) -> Result<Stamps, StampsError> {
        // A newer format may hold anything besides its number.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        match serde_json::from_slice::<Stamps>(bytes) {
            Ok(stamps) if stamps.format == FORMAT => Ok(stamps),
            _ => match serde_json::from_slice::<Format>(bytes) {
                Ok(Format { format }) if format > FORMAT => Err(StampsError::Newer(format)),
                _ => Err(StampsError::Corrupt),
            },
        }
    }

    /// The stamps of `dir` (none when it does not exist): its [`FILE`], or else the
    /// per-wheel stamps of an older wheelhouse.
    pub(super) fn read(dir: &Path) -> Result<Stamps, StampsError> {
        match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => Stamps::parse(&bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Stamps::read_legacy(dir)?),
            Err(e) => Err(e.into()),
        }
    }

    /// Stamps for `dir` when its file is lost, from the bytes of its wheels: each one
    /// is hashed and stamped for a store record that names a wheel of its name and bytes
    /// (`placing`, then its target's other builds, first). A wheel no record names stays
    /// unstamped, as one copied in by hand.
    pub(super) fn rebuild(
        dir: &Path,
        store: &Store,
        target: &str,
        placing: &BuildRecord,
    ) -> Result<Stamps, PlaceError> {
        let io = |what: &'static str| {
            move |source| PlaceError::Io {
                what: format!("{what} {}", dir.display()),
                source,
            }
        };
        let mut wheels = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io("listing"))? {
            let entry = entry.map_err(io("listing"))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !name.ends_with(".whl") || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            let (sha256, _) = std::fs::File::open(&path)
                .and_then(|mut f| crate::store::copy_hashing(&mut f, &mut io::sink()))
                .map_err(io("hashing the wheels of"))?;
            let meta = std::fs::metadata(&path).map_err(io("hashing the wheels of"))?;
            wheels.push((name, sha256, meta));
        }
        let digests: Vec<&str> = wheels.iter().map(|(_, sha, _)| sha.as_str()).collect();
        let mut records = store.records_naming(&digests)?;
        records.sort_by_key(|r| (r.key != placing.key, r.target != target, r.key.clone()));
        let mut stamps = Stamps::default();
        for (name, sha256, meta) in wheels {
            let Some(record) = records.iter().find(|r| {
                r.wheels
                    .iter()
                    .any(|w| w.file == name && w.sha256 == sha256)
            }) else {
                continue;
            };
            let record_path = store.record_path(&record.key);
            let stamp = Stamp {
                key: record.key.clone(),
                // The record names the target that built the key first; the key being
                // placed is `target`'s too.
                target: if record.key == placing.key {
                    target.to_string()
                } else {
                    record.target.clone()
                },
                sha256,
                size: meta.len(),
                mtime_ns: super::mtime_ns(&meta),
                record: std::path::absolute(&record_path).unwrap_or(record_path),
            };
            stamps.wheels.insert(name, stamp);
        }
        Ok(stamps)
    }

    fn read_legacy(dir: &Path) -> io::Result<Stamps> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Stamps::default()),
            Err(e) => return Err(e),
        };
        let mut stamps = Stamps::default();
        for entry in entries {
            let entry = entry?;
            let Some(wheel) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(LEGACY_SUFFIX))
                .filter(|w| w.ends_with(".whl"))
                .map(str::to_string)
            else {
                continue;
            };
            // One that cannot be read counts as absent (its wheel is hashed again), and
            // goes with the others.
            if let Some(stamp) = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                stamps.wheels.insert(wheel, stamp);
            }
            stamps.legacy.push(entry.path());
        }
        Ok(stamps)
    }

    /// Replace `dir`'s stamps with these, atomically; then remove the per-wheel stamps
    /// they were carried over from.
    pub(super) fn write(&self, dir: &Path) -> io::Result<()> {
        #[derive(Serialize)]
        struct File<'a> {
            format: u32,
            wheels: &'a BTreeMap<String, Stamp>,
        }
        let file = File {
            format: FORMAT,
            wheels: &self.wheels,
        };
        let text = serde_json::to_string_pretty(&file).expect("stamps serialize") + "\n";
        crate::fsutil::write_atomic(&dir.join(FILE), text.as_bytes())?;
        for path in &self.legacy {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether writing these would change the directory (they differ from what was
    /// read, or per-wheel stamps are to be removed).
    pub(super) fn differ_from(&self, read: &Stamps) -> bool {
        self.wheels != read.wheels || !self.legacy.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::BuildKey;

    fn stamp(target: &str) -> Stamp {
        Stamp {
            key: BuildKey("1".repeat(64)),
            target: target.into(),
            sha256: "a".repeat(64),
            size: 1,
            mtime_ns: 2,
            record: "records/x.json".into(),
        }
    }

    #[test]
    fn per_wheel_stamps_of_an_older_wheelhouse_are_carried_into_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir
            .path()
            .join(format!("a-1.0-py3-none-any.whl{LEGACY_SUFFIX}"));
        std::fs::write(&legacy, serde_json::to_vec(&stamp("a/py3.11-cpu")).unwrap()).unwrap();
        // Unreadable: its wheel counts as unstamped, and the file goes with the others.
        let broken = dir
            .path()
            .join(format!("b-1.0-py3-none-any.whl{LEGACY_SUFFIX}"));
        std::fs::write(&broken, "{").unwrap();

        let read = Stamps::read(dir.path()).unwrap();
        assert_eq!(
            read.wheels.keys().collect::<Vec<_>>(),
            ["a-1.0-py3-none-any.whl"]
        );
        assert!(
            read.differ_from(&read),
            "the per-wheel stamps are still to be removed"
        );
        read.write(dir.path()).unwrap();
        assert!(!legacy.exists() && !broken.exists());

        let again = Stamps::read(dir.path()).unwrap();
        assert_eq!(again.wheels, read.wheels);
        assert!(!again.differ_from(&again));
    }

    /// Regression: a stamps file that did not parse, or of a newer format, read as no
    /// stamps: the collision check against the directory's other wheels went with them.
    #[test]
    fn a_stamps_file_that_is_not_one_is_lost_stamps_and_a_newer_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["{", "[]", "{\"format\": 0, \"wheels\": {}}", ""] {
            std::fs::write(dir.path().join(FILE), text).unwrap();
            assert!(
                matches!(Stamps::read(dir.path()), Err(StampsError::Corrupt)),
                "{text}"
            );
        }
        for text in [
            "{\"format\": 2, \"wheels\": {}}",
            "{\"format\": 2, \"targets\": []}",
        ] {
            std::fs::write(dir.path().join(FILE), text).unwrap();
            assert!(
                matches!(Stamps::read(dir.path()), Err(StampsError::Newer(2))),
                "{text}"
            );
        }
        assert!(
            Stamps::read(&dir.path().join("missing"))
                .unwrap()
                .wheels
                .is_empty()
        );
    }

    #[test]
    fn the_stamps_file_is_sorted_and_the_same_bytes_for_the_same_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let mut stamps = Stamps::default();
        stamps
            .wheels
            .insert("z-1.0-py3-none-any.whl".into(), stamp("z/py3.11-cpu"));
        stamps
            .wheels
            .insert("a-1.0-py3-none-any.whl".into(), stamp("a/py3.11-cpu"));
        stamps.write(dir.path()).unwrap();
        let first = std::fs::read(dir.path().join(FILE)).unwrap();
        Stamps::read(dir.path()).unwrap().write(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join(FILE)).unwrap(), first);
        let text = String::from_utf8(first).unwrap();
        assert!(
            text.starts_with("{\n  \"format\": 1,\n  \"wheels\": {\n    \"a-1.0"),
            "{text}"
        );
    }
}
