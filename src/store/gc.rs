//! `wheelbuild gc` for the store: remove the entries no target of the current config
//! uses, and the wheels no remaining entry names.
//!
//! Runs under the store lock (no commit or quarantine meanwhile), and takes each key's
//! build lock before removing it: an entry a running `build` holds (building or restoring
//! it) is kept and reported. Entries younger than `keep` are kept too. A remaining entry
//! whose record cannot be read may name any wheel: then no wheel is removed. The index is
//! then rewritten with the keys that remain, atomically (without a line for such an entry).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::presence::{Digest, parse_hex};
use super::{Store, StoreError, index};
use crate::fsutil::FileLock;
use crate::key::BuildKey;

/// What a collection removed (or would remove, dry).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Keys removed: record and log.
    pub keys: Vec<BuildKey>,
    /// Wheels removed, by sha256.
    pub wheels: Vec<String>,
    /// Quarantined entries removed.
    pub quarantine: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Unused keys kept because a running build holds them.
    pub held: Vec<BuildKey>,
    /// Unused keys kept because they are younger than `keep`.
    pub recent: usize,
    /// Remaining keys whose record could not be read: it may name any wheel, so every
    /// wheel was kept.
    pub unreadable: Vec<StoreError>,
}

impl Store {
    /// Remove every entry whose key is not in `live` and is older than `keep`, then every
    /// wheel no remaining record names (none if a remaining record cannot be read), the
    /// test outcomes of keys no longer there, and quarantined entries older than `keep`.
    /// With `dry`, only report.
    pub fn gc(
        &self,
        live: &BTreeSet<BuildKey>,
        keep: Duration,
        dry: bool,
    ) -> Result<GcReport, StoreError> {
        let lock_path = self.lock_path();
        let _guard = FileLock::acquire(&lock_path).map_err(StoreError::io(&lock_path))?;
        let now = SystemTime::now();
        let old = |path: &Path| {
            std::fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= keep)
                .unwrap_or(true)
        };
        let mut report = GcReport::default();
        let records = self.root.join("records");
        let mut remaining: Vec<BuildKey> = Vec::new();
        for name in names(&records, ".json")? {
            let key = BuildKey(name);
            if live.contains(&key) {
                remaining.push(key);
                continue;
            }
            if !old(&self.record_path(&key)) {
                report.recent += 1;
                remaining.push(key);
                continue;
            }
            // Ours until dropped: a build that wants the key waits, then finds it gone.
            let build_lock = self.build_lock_path(&key);
            let Some(_held) =
                FileLock::try_acquire(&build_lock).map_err(StoreError::io(&build_lock))?
            else {
                report.held.push(key.clone());
                remaining.push(key);
                continue;
            };
            for path in [self.record_path(&key), self.log_path(&key)] {
                report.bytes += remove(&path, dry)?;
            }
            if !dry {
                let _ = std::fs::remove_file(&build_lock);
            }
            report.keys.push(key);
        }

        // Wheels still named: from the index where it has the key, else its record.
        let indexed = index::read(&self.root).map_err(StoreError::io(&self.root))?;
        let mut named: BTreeSet<Digest> = BTreeSet::new();
        let mut kept_index: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in &remaining {
            let digests: Vec<String> =
                match parse_hex(key.0.as_bytes()).and_then(|k| indexed.get(&k)) {
                    Some(d) => d.iter().map(hex::encode).collect(),
                    None => match self.record(key) {
                        Ok(Some(record)) => record.wheels.into_iter().map(|w| w.sha256).collect(),
                        // Removed by hand meanwhile: it names nothing.
                        Ok(None) => continue,
                        // It may name any wheel: all stay (until `build` quarantines it),
                        // and the index gets no line for it, so its record is read again.
                        Err(e) => {
                            report.unreadable.push(e);
                            continue;
                        }
                    },
                };
            named.extend(digests.iter().filter_map(|d| parse_hex(d.as_bytes())));
            kept_index.insert(key.0.clone(), digests);
        }
        let wheels = self.root.join("wheels");
        for name in names(&wheels, ".whl")? {
            let unnamed = report.unreadable.is_empty()
                && parse_hex(name.as_bytes()).is_none_or(|d| !named.contains(&d));
            let path = self.wheel_path(&name);
            if unnamed && old(&path) {
                report.bytes += remove(&path, dry)?;
                report.wheels.push(name);
            }
        }

        // Test outcomes of the keys removed (or never stored): nothing tests those again.
        for name in names(&self.root.join("tests"), ".json")? {
            let key = crate::key::TestKey(name);
            let path = self.test_record_path(&key);
            let tested = self.test_record(&key)?.map(|r| r.build_key);
            if tested.is_none_or(|k| !remaining.contains(&k)) && old(&path) {
                for path in [path, self.test_log_path(&key)] {
                    report.bytes += remove(&path, dry)?;
                }
            }
        }

        let quarantine = self.root.join("quarantine");
        for entry in std::fs::read_dir(&quarantine)
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if old(&path) {
                report.bytes += dir_size(&path);
                if !dry {
                    std::fs::remove_dir_all(&path).map_err(StoreError::io(&path))?;
                }
                report.quarantine += 1;
            }
        }
        if !dry && !report.keys.is_empty() {
            index::rewrite(&self.root, &kept_index).map_err(StoreError::io(&self.root))?;
        }
        Ok(report)
    }
}

/// File names in `dir` ending in `suffix`, without it; none when `dir` does not exist.
fn names(dir: &Path, suffix: &str) -> Result<Vec<String>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StoreError::io(dir))?;
        if let Some(stem) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(suffix))
        {
            out.push(stem.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Remove `path` (unless `dry`); its size, 0 when it was not there.
fn remove(path: &Path, dry: bool) -> Result<u64, StoreError> {
    let size = match std::fs::symlink_metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(path)(e)),
    };
    if !dry {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(path)(e)),
        }
    }
    Ok(size)
}

fn dir_size(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| dir_size(&e.path()))
            .sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}
