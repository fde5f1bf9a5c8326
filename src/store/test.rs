//! Test outcomes, by test key ([`crate::key::TestKeyInputs`]):
//! `tests/<test key>.json` ([`TestRecord`]) and `tests/<test key>.log` (the test's output),
//! each written atomically, the log first. A record is trusted only when it names the key
//! it is filed under; its log only when its bytes have the recorded sha256.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, read_json};
use crate::key::{BuildKey, TestKey};

/// What the store knows about one test key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TestRecord {
    pub key: TestKey,
    /// The build whose wheels were tested.
    pub build_key: BuildKey,
    /// The target that ran it first.
    pub target: String,
    pub outcome: TestOutcome,
    /// The declared engine (`[[engine]]`) it ran on; `None`: the default engine, or not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub duration_ms: u64,
    /// The GPUs a `test-gpu` test saw (name and driver, as `nvidia-smi` says them); empty
    /// for other tests, or when the image has no way to say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
    /// sha256 (hex) of `tests/<key>.log`; `None`: not run, no log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sha256: Option<String>,
}

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum TestOutcome {
    Passed,
    /// The command (or the wheels' install and `pip check`) failed: the wheels are not
    /// placed.
    Failed {
        detail: String,
    },
    /// Never ran, e.g. for want of a GPU engine: the wheels are placed, untested.
    NotRun {
        why: String,
    },
}

impl TestOutcome {
    /// Does this outcome settle the test key (no run needed)? A test that did not run is
    /// run once an engine can.
    pub fn settled(&self) -> bool {
        !matches!(self, TestOutcome::NotRun { .. })
    }
}

/// A test outcome as the store holds it: its record, the record's bytes, its log's bytes.
pub(crate) struct StoredTest {
    pub record: TestRecord,
    pub bytes: Vec<u8>,
    pub log: Option<Vec<u8>>,
}

impl Store {
    pub(crate) fn test_record_path(&self, key: &TestKey) -> PathBuf {
        self.root.join("tests").join(format!("{key}.json"))
    }

    pub(crate) fn test_log_path(&self, key: &TestKey) -> PathBuf {
        self.root.join("tests").join(format!("{key}.log"))
    }

    /// The outcome stored for `key`; `None` when there is none, or when what is there is
    /// not a record of that key (unreadable, or filed under another key): the test runs
    /// again and replaces it.
    pub(crate) fn test_record(&self, key: &TestKey) -> Result<Option<TestRecord>, StoreError> {
        match read_json::<TestRecord>(&self.test_record_path(key)) {
            Ok(Some(record)) if record.key == *key => Ok(Some(record)),
            Ok(_) | Err(StoreError::Corrupt { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `record`, with `log` (the test's output) when it ran.
    pub(crate) fn commit_test(
        &self,
        record: &TestRecord,
        log: Option<&Path>,
    ) -> Result<(), StoreError> {
        if let Some(log) = log {
            let bytes = std::fs::read(log).map_err(StoreError::io(log))?;
            let path = self.test_log_path(&record.key);
            crate::fsutil::write_atomic(&path, &bytes).map_err(StoreError::io(&path))?;
        }
        let path = self.test_record_path(&record.key);
        let bytes = serde_json::to_vec_pretty(record).expect("test record serializes");
        crate::fsutil::write_atomic(&path, &bytes).map_err(StoreError::io(&path))
    }

    /// The stored record of `key` with its bytes and its log's (checked against the
    /// record), for a push: `None` when the store has no such record.
    pub(crate) fn test_entry(&self, key: &TestKey) -> Result<Option<StoredTest>, StoreError> {
        let path = self.test_record_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path)(e)),
        };
        let record: TestRecord =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        if record.key != *key {
            return Ok(None);
        }
        let log = self.test_log(&record);
        Ok(Some(StoredTest { record, bytes, log }))
    }

    /// Stores a test outcome pulled from a remote cache: the record's bytes as received
    /// (`record` is what they say, checked by the caller) and its log, written first.
    pub(crate) fn commit_pulled_test(
        &self,
        record: &TestRecord,
        record_bytes: &[u8],
        log: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        if let Some(log) = log {
            let path = self.test_log_path(&record.key);
            crate::fsutil::write_atomic(&path, log).map_err(StoreError::io(&path))?;
        }
        let path = self.test_record_path(&record.key);
        crate::fsutil::write_atomic(&path, record_bytes).map_err(StoreError::io(&path))
    }

    /// The stored log of `record`, if it is there with the recorded bytes.
    pub(crate) fn test_log(&self, record: &TestRecord) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.test_log_path(&record.key)).ok()?;
        let sha256 = super::copy_hashing(&mut bytes.as_slice(), &mut std::io::sink())
            .ok()?
            .0;
        (record.log_sha256.as_deref() == Some(sha256.as_str())).then_some(bytes)
    }
}
