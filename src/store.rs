//! Stage 6: the content-addressed store of builds.
//!
//! ```text
//! <store>/v1/
//!   keys/<key>/record.json          BuildRecord: the key's wheels, inputs, log, timings
//!   keys/<key>/wheels/<name>.whl    the wheels themselves
//!   keys/<key>/build.log            the build's output
//!   targets/<project>/<cell>.json   TargetEntry: the key last built for that target
//!   tmp/                            staging; a build is renamed into keys/ in one step
//!   lock                            writers hold this (File::lock) while committing
//! ```
//!
//! A key is *present* when `keys/<key>/record.json` exists. Builds stage everything under
//! `tmp/` and rename the directory into place, so a present key is always complete (which
//! also lets big plans list `keys/` once instead of checking each key).
//! Records are JSON with a `version`; readers ignore unknown fields so that newer writers
//! can add some.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::key::{BuildKey, KeyInputs};

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
    pub fn hint(&self) -> Option<String> {
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
}

/// One built wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WheelRecord {
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// ccache statistics of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl CacheStats {
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }
}

/// What the store knows about one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct BuildRecord {
    pub version: u32,
    pub key: BuildKey,
    /// The target that built it first.
    pub target: String,
    /// Everything the key covers, so a later plan can say what changed.
    pub inputs: KeyInputs,
    pub wheels: Vec<WheelRecord>,
    /// File name of the build log, in the key's directory.
    pub log: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccache: Option<CacheStats>,
    pub wheelbuild_version: String,
}

/// The key last built for a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TargetEntry {
    pub version: u32,
    pub target: String,
    pub key: BuildKey,
    pub inputs: KeyInputs,
}

/// The keys present in a store (sorted, for binary search: no hashing of 64-byte keys).
#[derive(Debug, Clone)]
pub struct KeySet(Vec<String>);

impl KeySet {
    pub fn contains(&self, key: &BuildKey) -> bool {
        self.0.binary_search(&key.0).is_ok()
    }
}

/// A build's outputs on their way into the store; removed if dropped uncommitted.
#[derive(Debug)]
pub struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    pub fn path(&self) -> &Path {
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

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn key_dir(&self, key: &BuildKey) -> PathBuf {
        self.keys.join(&key.0)
    }

    /// `keys/<key>/record.json`, built in one allocation: `plan` asks for it per target.
    pub fn record_path(&self, key: &BuildKey) -> PathBuf {
        let mut path =
            std::ffi::OsString::with_capacity(self.keys.as_os_str().len() + key.0.len() + 13);
        path.push(self.keys.as_os_str());
        path.push("/");
        path.push(&key.0);
        path.push("/record.json");
        PathBuf::from(path)
    }

    pub fn target_path(&self, target: &str) -> PathBuf {
        self.root.join("targets").join(format!("{target}.json"))
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Is `key` built? A cheap `stat`, so `plan` and `check` stay fast on big matrices.
    pub fn has(&self, key: &BuildKey) -> bool {
        self.record_path(key).is_file()
    }

    /// Every key in the store, from one directory listing: for big plans, cheaper than a
    /// `stat` per key. A listed key directory counts as present: builds are renamed into
    /// `keys/` complete, so only tampering can leave one without its record.
    pub fn keys(&self) -> Result<KeySet, StoreError> {
        let entries = match std::fs::read_dir(&self.keys) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeySet(Vec::new())),
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.keys.clone(),
                    source,
                });
            }
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| StoreError::Io {
                path: self.keys.clone(),
                source,
            })?;
            if let Ok(name) = entry.file_name().into_string()
                && BuildKey::is_valid(&name)
            {
                keys.push(name);
            }
        }
        keys.sort_unstable();
        Ok(KeySet(keys))
    }

    pub fn record(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError> {
        read_json(&self.record_path(key))
    }

    pub fn last_build(&self, target: &str) -> Result<Option<TargetEntry>, StoreError> {
        read_json(&self.target_path(target))
    }

    /// A fresh staging directory under `tmp/` for one build's outputs.
    pub fn stage(&self) -> Result<Staging, StoreError> {
        let tmp = self.tmp_dir();
        let io = |source| StoreError::Io {
            path: tmp.clone(),
            source,
        };
        std::fs::create_dir_all(&tmp).map_err(io)?;
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&tmp)
            .map_err(io)?;
        std::fs::create_dir(dir.path().join("wheels")).map_err(io)?;
        Ok(Staging { dir })
    }

    /// Publish a staged build as `record.key`: write the record, then rename the whole
    /// directory into `keys/` in one step, under the store lock. If another process
    /// committed the same key first, theirs is kept (same key, same inputs). Also records
    /// the key as the target's last build.
    pub fn commit(&self, staging: Staging, record: &BuildRecord) -> Result<(), StoreError> {
        let record_path = staging.path().join("record.json");
        let bytes = serde_json::to_vec_pretty(record).expect("record serializes");
        crate::fsutil::write_atomic(&record_path, &bytes).map_err(|source| StoreError::Io {
            path: record_path.clone(),
            source,
        })?;
        let lock_path = self.lock_path();
        let _guard =
            crate::fsutil::FileLock::acquire(&lock_path).map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        let dest = self.key_dir(&record.key);
        if !self.has(&record.key) {
            let parent = dest.parent().expect("keys dir");
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
            // A half-removed directory without a record is garbage from a crash.
            if dest.exists() {
                let _ = std::fs::remove_dir_all(&dest);
            }
            let staged = staging.dir.keep();
            std::fs::rename(&staged, &dest).map_err(|source| StoreError::Io {
                path: dest.clone(),
                source,
            })?;
        }
        self.set_last_build(&TargetEntry {
            version: STORE_VERSION,
            target: record.target.clone(),
            key: record.key.clone(),
            inputs: record.inputs.clone(),
        })
    }

    /// Remember that `target` was last built as `key` (atomic).
    pub fn set_last_build(&self, entry: &TargetEntry) -> Result<(), StoreError> {
        let path = self.target_path(&entry.target);
        let bytes = serde_json::to_vec_pretty(entry).expect("target entry serializes");
        crate::fsutil::write_atomic(&path, &bytes).map_err(|source| StoreError::Io { path, source })
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StoreError> {
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
mod tests {
    use super::*;
    use crate::key::{ImageKey, SourceKey};

    fn record(key: &str, target: &str) -> BuildRecord {
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
                verify: None,
                env: Default::default(),
                pip: vec![],
                apt: vec![],
                axes: Default::default(),
                gpu: false,
            },
            wheels: vec![],
            log: "build.log".into(),
            duration_ms: 1,
            ccache: None,
            wheelbuild_version: "test".into(),
        }
    }

    #[test]
    fn commit_publishes_atomically_and_indexes_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r = record("a", "p/py3.11-cpu");
        assert!(!store.has(&r.key));
        let staging = store.stage().unwrap();
        std::fs::write(staging.wheels_dir().join("x.whl"), b"w").unwrap();
        store.commit(staging, &r).unwrap();
        assert!(store.has(&r.key));
        assert_eq!(store.record(&r.key).unwrap().unwrap(), r);
        assert!(store.key_dir(&r.key).join("wheels/x.whl").is_file());
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
        assert!(store.key_dir(&r.key).join("wheels/x.whl").is_file());
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        drop(store.stage().unwrap());
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
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
}
