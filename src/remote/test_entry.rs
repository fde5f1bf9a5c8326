//! Test outcomes on the remote cache: a test that passed on one runner (a GPU runner, or
//! the shard that built the wheel) is not run again by the next one that needs the wheels.
//!
//! One entry per test key, tagged `test-<test key>` beside the build entries: an OCI
//! manifest with artifactType [`TEST_ARTIFACT_TYPE`], its config blob the test record's
//! JSON (the store's bytes), its one layer the test log; its [`SIGNATURE`] annotation an
//! ed25519 signature over [`sign::test_payload`] (test key, build key, the record's and the
//! log's digests), a payload no build entry's signature covers.
//!
//! Only passed outcomes travel: a failed test keeps its wheels off the remote, and a test
//! that did not run (no GPU engine) runs where it can. A pulled outcome is used only when
//! a trusted key signed exactly it, and its record names the test key it is tagged with,
//! the build key of the wheels at hand, and `passed`; its log only with the signed digest.

use std::collections::BTreeSet;

use futures::StreamExt as _;

use super::{
    BODY_LIMIT, Blob, CHECK_AT_ONCE, MANIFEST_TYPE, MAX_LOG, Manifest, NO_TRUST, Pulled, Remote,
    RemoteError, SIGNATURE, descriptor, sha256_digest,
};
use crate::key::{BuildKey, TestKey};
use crate::sign;
use crate::store::{Store, StoredTest, TestOutcome, TestRecord};

pub const TEST_ARTIFACT_TYPE: &str = "application/vnd.wheelbuild.test.v1";
const TEST_RECORD_TYPE: &str = "application/vnd.wheelbuild.test.v1+json";
const TEST_LOG_TYPE: &str = "application/vnd.wheelbuild.test-log.v1";

/// The tag of `key`'s entry: never a build key (those are 64 hex digits).
fn tag(key: &TestKey) -> String {
    format!("test-{key}")
}

/// The log layer's digest as the signature names it (`none` without a log).
fn log_digest(manifest: &Manifest) -> Option<&str> {
    manifest
        .layers
        .iter()
        .find(|l| l.media_type == TEST_LOG_TYPE)
        .map(|l| l.digest.as_str())
}

fn refused(key: &TestKey, reason: impl Into<String>) -> RemoteError {
    RemoteError::Refused {
        key: key.0.clone(),
        reason: format!("test outcome: {}", reason.into()),
    }
}

impl Remote {
    /// Pushes the store's passed outcome of `key` (a test of the wheels of `build`), signed
    /// when a signing key is configured. Returns the manifest's digest; `Ok(None)` when
    /// there is nothing to push (no record, or an outcome other than passed).
    pub async fn push_test(
        &self,
        store: &Store,
        key: &TestKey,
    ) -> Result<Option<String>, RemoteError> {
        self.may_push()?;
        let Some(StoredTest {
            record,
            bytes: record_bytes,
            log,
        }) = store.test_entry(key)?
        else {
            return Ok(None);
        };
        if record.outcome != TestOutcome::Passed {
            return Ok(None);
        }
        // Pushed without its log, it would be refused by every pull: say so here instead.
        if record.log_sha256.is_some() && log.is_none() {
            return Err(refused(
                key,
                "its stored log is missing or has other bytes than its record names",
            ));
        }
        let record_digest = sha256_digest(&record_bytes);
        let mut layers = Vec::new();
        let config = descriptor(
            TEST_RECORD_TYPE,
            &record_digest,
            record_bytes.len() as u64,
            None,
        );
        let mut blobs = vec![(record_digest.clone(), Blob::Bytes(record_bytes))];
        let log_digest = match log {
            Some(log) => {
                let digest = sha256_digest(&log);
                layers.push(descriptor(
                    TEST_LOG_TYPE,
                    &digest,
                    log.len() as u64,
                    Some("test.log"),
                ));
                blobs.push((digest.clone(), Blob::Bytes(log)));
                digest
            }
            None => "none".to_string(),
        };
        let mut annotations = std::collections::BTreeMap::new();
        if let Some(signer) = self.signer()? {
            let payload =
                sign::test_payload(&key.0, &record.build_key.0, &record_digest, &log_digest);
            annotations.insert(SIGNATURE.to_string(), signer.sign(&payload));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_TYPE.into(),
            artifact_type: TEST_ARTIFACT_TYPE.into(),
            config,
            layers,
            annotations,
        };
        self.push_entry(&tag(key), blobs, &manifest).await.map(Some)
    }

    /// The manifest of `key`'s test entry when a trusted key signed it for `build`: nothing
    /// is fetched of an entry refused here.
    async fn signed_test_manifest(
        &self,
        key: &TestKey,
        build: &BuildKey,
    ) -> Result<Option<Manifest>, RemoteError> {
        let Some(manifest) = self.manifest_tagged(&tag(key), &key.0).await? else {
            return Ok(None);
        };
        if manifest.artifact_type != TEST_ARTIFACT_TYPE {
            return Err(refused(
                key,
                format!("it is a `{}`, not a test outcome", manifest.artifact_type),
            ));
        }
        let Some(signature) = manifest.annotations.get(SIGNATURE) else {
            return Err(refused(key, "it is not signed"));
        };
        if self.trusted.is_empty() {
            return Err(refused(key, NO_TRUST));
        }
        let payload = sign::test_payload(
            &key.0,
            &build.0,
            &manifest.config.digest,
            log_digest(&manifest).unwrap_or("none"),
        );
        self.trusted
            .verify(&payload, signature)
            .map_err(|reason| refused(key, reason))?;
        Ok(Some(manifest))
    }

    /// Pulls the passed outcome of `key`, a test of the wheels of `build`, into `store`, if
    /// the remote has one a trusted key signed and whose bytes check out.
    pub async fn pull_test(
        &self,
        store: &Store,
        key: &TestKey,
        build: &BuildKey,
    ) -> Result<Pulled, RemoteError> {
        let Some(manifest) = self.signed_test_manifest(key, build).await? else {
            return Ok(Pulled::Absent);
        };
        let refuse = |reason: String| refused(key, reason);
        let record_bytes = self
            .fetch(&manifest.config, BODY_LIMIT as i64)
            .await?
            .map_err(refuse)?;
        let record: TestRecord = serde_json::from_slice(&record_bytes)
            .map_err(|e| refuse(format!("its record is unreadable: {e}")))?;
        if record.key != *key {
            return Err(refuse(format!("its record is for test key {}", record.key)));
        }
        if record.build_key != *build {
            return Err(refuse(format!(
                "its record tested the wheels of build key {}",
                record.build_key.short()
            )));
        }
        if record.outcome != TestOutcome::Passed {
            return Err(refuse("its record does not say passed".into()));
        }
        let log = match manifest
            .layers
            .iter()
            .find(|l| l.media_type == TEST_LOG_TYPE)
        {
            Some(layer) => Some(self.fetch(layer, MAX_LOG).await?.map_err(refuse)?),
            None => None,
        };
        let log_sha256 = log
            .as_ref()
            .map(|l| sha256_digest(l)["sha256:".len()..].to_string());
        if record.log_sha256 != log_sha256 {
            return Err(refuse("its log is not the one its record names".into()));
        }
        store.commit_pulled_test(&record, &record_bytes, log.as_deref())?;
        Ok(Pulled::Stored)
    }

    /// Which of `keys` (test key, build key of its wheels) have an outcome `pull_test`
    /// would accept; refused entries with why. One tag listing, then the listed entries'
    /// manifests, as [`Remote::holding`] does for builds.
    pub async fn holding_tests(
        &self,
        keys: &[(TestKey, BuildKey)],
    ) -> Result<(BTreeSet<TestKey>, Vec<(TestKey, String)>), RemoteError> {
        let mut usable = BTreeSet::new();
        let mut refusals = Vec::new();
        if keys.is_empty() || self.trusted.is_empty() {
            return Ok((usable, refusals));
        }
        let listed = self.tags().await?;
        let present: Vec<&(TestKey, BuildKey)> = match &listed {
            Some(tags) => keys
                .iter()
                .filter(|(k, _)| tags.contains(&tag(k)))
                .collect(),
            None => keys.iter().collect(),
        };
        let mut checked = futures::stream::iter(present)
            .map(|(k, b)| async move { (k, self.signed_test_manifest(k, b).await) })
            .buffered(CHECK_AT_ONCE);
        while let Some((key, result)) = checked.next().await {
            match result {
                Ok(Some(_)) => {
                    usable.insert(key.clone());
                }
                Ok(None) => {}
                Err(RemoteError::Refused { reason, .. }) => refusals.push((key.clone(), reason)),
                Err(e) => return Err(e),
            }
        }
        Ok((usable, refusals))
    }
}
