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

    /// The stored log of `record`, if it is there with the recorded bytes.
    pub(crate) fn test_log(&self, record: &TestRecord) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.test_log_path(&record.key)).ok()?;
        let sha256 = super::copy_hashing(&mut bytes.as_slice(), &mut std::io::sink())
            .ok()?
            .0;
        (record.log_sha256.as_deref() == Some(sha256.as_str())).then_some(bytes)
    }
}
