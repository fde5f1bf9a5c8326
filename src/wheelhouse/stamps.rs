//! The stamps of one wheelhouse directory, in one file beside its wheels:
//! `.wheelbuild-stamps.json`, wheel file name → [`Stamp`]. One file per directory, not
//! one per wheel: placing a target reads its directory's stamps to find collisions and
//! what to prune, and `index` reads them all, so a thousand-cell wheelhouse cost a
//! thousand opens per placement and per index run (issue 9's benchmark).
//!
//! Read and written under the wheelhouse lock only; written atomically, and only when
//! it changes (a no-op build writes nothing). A file that cannot be read or parsed
//! counts as no stamps: the wheels are then hashed again and re-stamped by `build`, and
//! left out of the index until then.
//!
//! Wheelhouses from before kept one `<wheel>.wheelbuild.json` per wheel: those are read
//! when the directory has no stamps file yet, carried into it, and removed once it is
//! written.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Stamp;

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

impl Stamps {
    /// The stamps in `bytes` (a [`FILE`]); `None` when they are not that.
    pub(super) fn parse(bytes: &[u8]) -> Option<Stamps> {
        serde_json::from_slice::<Stamps>(bytes)
            .ok()
            .filter(|s| s.format == FORMAT)
    }

    /// The stamps of `dir` (none when it does not exist): its [`FILE`], or else the
    /// per-wheel stamps of an older wheelhouse.
    pub(super) fn read(dir: &Path) -> io::Result<Stamps> {
        match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => Ok(Stamps::parse(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Stamps::read_legacy(dir),
            Err(e) => Err(e),
        }
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
    use crate::plan::key::BuildKey;

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

    #[test]
    fn a_stamps_file_that_is_not_one_reads_as_no_stamps() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["{", "{\"format\": 2, \"wheels\": {}}", "[]"] {
            std::fs::write(dir.path().join(FILE), text).unwrap();
            assert!(
                Stamps::read(dir.path()).unwrap().wheels.is_empty(),
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
