//! The test step: a target's wheels, built or restored, are tested as their users will
//! install them before they are placed (`test-command`). Outcomes are stored by test key
//! (`crate::store::TestRecord`): an unchanged test key is not run again (`--retest`
//! forces it), and a failed test keeps the wheels out of the wheelhouse, the index and the
//! remote cache, while the store keeps them under the build key, so that a fixed test
//! runs without a rebuild. A test that needs a GPU runs only on an engine with one; on
//! another it is not run, never passed.

use std::path::Path;
use std::time::Duration;

use super::container::test::TestSpec;
use super::{BuildError, Run, io_err};
use crate::key::ImageKey;
use crate::plan::{PlannedTarget, PlannedTest};
use crate::store::{BuildRecord, TestOutcome, TestRecord};
use crate::wheel::{WheelName, normalize_name};

/// What a target's test came to, when the wheels may be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tested {
    /// It passed, now or under the same test key before (`from`).
    Passed { duration: Duration, from: PassedBy },
    /// It did not run (`why`): the wheels are placed, untested.
    NotRun { why: String },
}

/// Where a passed outcome comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassedBy {
    /// The test ran in this run.
    Ran,
    /// The store held the outcome.
    Stored,
    /// Another runner's outcome, pulled from the remote cache.
    Pulled,
}

impl Run<'_> {
    /// Tests the wheels of `record` as `t` says: `Ok(None)` for a target without a test;
    /// `Err` when the test failed, now or under the same key before (the wheels must not
    /// be placed), or did not run while `[test] require` is set.
    pub(super) async fn test(
        &self,
        t: &PlannedTarget<'_>,
        record: &BuildRecord,
    ) -> Result<Option<Tested>, BuildError> {
        let Some(declared) = t.target.test.as_deref() else {
            return Ok(None);
        };
        let Some(test) = &t.test else {
            // Only `test-skip` leaves a declared test without a key.
            let why = format!("skipped: {}", declared.skip.as_deref().unwrap_or_default());
            let not_run = TestOutcome::NotRun { why };
            return self.outcome(&not_run, 0, PassedBy::Ran, Path::new(""));
        };
        let log = self
            .settings
            .log_dir
            .join(format!("{}.test.log", t.target.id));
        let stored = test
            .stored
            .as_ref()
            .filter(|r| r.outcome.settled() && !self.settings.retest);
        if let Some(stored) = stored {
            if let TestOutcome::Failed { .. } = stored.outcome {
                // Its stored log shows why, as the run that failed did.
                if let Some(bytes) = self.store.test_log(stored) {
                    let write = |bytes| {
                        std::fs::create_dir_all(log.parent().unwrap_or(Path::new(".")))?;
                        std::fs::write(&log, bytes)
                    };
                    write(bytes).map_err(|e| io_err("writing the test log", e))?;
                }
            }
            return self.outcome(&stored.outcome, stored.duration_ms, PassedBy::Stored, &log);
        }
        if let Some(passed) = self.pull_test(t, test).await? {
            return self.outcome(&passed.outcome, passed.duration_ms, PassedBy::Pulled, &log);
        }
        if declared.gpu && !self.gpu {
            let outcome = TestOutcome::NotRun {
                why: "needs a GPU engine".into(),
            };
            self.store
                .commit_test(&self.test_record(t, test, &outcome, 0, None), None)?;
            return self.outcome(&outcome, 0, PassedBy::Ran, &log);
        }
        let staging = self.store.stage()?;
        let wheels = staging.wheels_dir();
        let mut sums = String::new();
        let mut dists = Vec::new();
        for w in &record.wheels {
            std::fs::create_dir_all(&wheels).map_err(|e| io_err("staging the wheels", e))?;
            // Checked against the record on the way: a damaged entry is never tested.
            if let Err(damage) = self.store.copy_wheel(w, &wheels.join(&w.file))? {
                return Err(io_err("copying a stored wheel for its test", damage));
            }
            sums.push_str(&format!("{}  {}\n", w.sha256, w.file));
            let name = WheelName::parse(&w.file)?;
            dists.push(normalize_name(&name.distribution));
        }
        std::fs::write(wheels.join("SHA256SUMS"), sums)
            .map_err(|e| io_err("staging the wheels", e))?;
        let image = ImageKey::of(test.image);
        let spec = TestSpec {
            id: &t.target.id,
            key: &test.key.0,
            image: &image,
            image_repository: &test.image.name,
            pip: test.env.map_or(&[][..], |e| &e.packages),
            accel: t.target.cell.accel.clone(),
            git_url: &t.git.url,
            commit: &t.git.commit,
            subdir: t.project.subdir.as_deref(),
            command: &declared.command,
            sources: &declared.sources,
            gpu: declared.gpu,
            index: declared.network == crate::config::TestNetwork::Index,
            dists,
            wheels: &wheels,
            log: &log,
        };
        let started = std::time::Instant::now();
        let (outcome, gpus, error) = match self.builder.test(&spec).await {
            Ok(run) => (TestOutcome::Passed, run.gpus, None),
            Err(e @ (BuildError::TestFailed { .. } | BuildError::UnmetTestRequirement { .. })) => {
                let detail = e.to_string();
                (TestOutcome::Failed { detail }, Vec::new(), Some(e))
            }
            Err(e) => return Err(e),
        };
        let duration = started.elapsed();
        let log_sha256 = std::fs::File::open(&log)
            .and_then(|mut f| crate::store::copy_hashing(&mut f, &mut std::io::sink()))
            .ok()
            .map(|(sha256, _)| sha256);
        let duration_ms = duration.as_millis() as u64;
        let mut record = self.test_record(t, test, &outcome, duration_ms, log_sha256);
        record.gpus = gpus;
        self.store.commit_test(&record, Some(&log))?;
        if let Some(e) = error {
            return Err(e);
        }
        self.publish_test(t, test).await;
        self.outcome(&outcome, duration_ms, PassedBy::Ran, &log)
    }

    /// The passed outcome of `test` that another runner pushed, pulled into the store;
    /// `None` when the run has no remote, retests, or the remote holds none it would
    /// accept (its trouble said: the test runs here).
    async fn pull_test(
        &self,
        t: &PlannedTarget<'_>,
        test: &PlannedTest<'_>,
    ) -> Result<Option<TestRecord>, BuildError> {
        let Some(remote) = self
            .settings
            .remote
            .as_ref()
            .filter(|_| !self.settings.retest)
        else {
            return Ok(None);
        };
        match remote.pull_test(self.store, &test.key, &t.key).await {
            Ok(crate::remote::Pulled::Stored) => Ok(self.store.test_record(&test.key)?),
            Ok(crate::remote::Pulled::Absent) => Ok(None),
            Err(e) => {
                self.reporter
                    .warning(&t.target.id, &format!("{e}; testing it here"));
                Ok(None)
            }
        }
    }

    /// Pushes the passed outcome of `test` when the run pushes, so that no other runner
    /// tests these wheels again; a failed push is said and makes the run's exit code 3, as
    /// for the build's entry.
    async fn publish_test(&self, t: &PlannedTarget<'_>, test: &PlannedTest<'_>) {
        let Some(remote) = self.settings.remote.as_ref().filter(|_| self.settings.push) else {
            return;
        };
        if let Err(e) = remote.push_test(self.store, &test.key).await {
            let why = format!("test outcome not pushed to the remote cache: {e}");
            self.reporter.warning(&t.target.id, &why);
            if let Ok(mut m) = self.not_pushed.lock() {
                m.insert(t.target.id.clone(), why);
            }
        }
    }

    /// The record of `outcome` of `t`'s test, run on this run's engine.
    fn test_record(
        &self,
        t: &PlannedTarget<'_>,
        test: &PlannedTest<'_>,
        outcome: &TestOutcome,
        duration_ms: u64,
        log_sha256: Option<String>,
    ) -> TestRecord {
        TestRecord {
            key: test.key.clone(),
            build_key: t.key.clone(),
            target: t.target.id.clone(),
            outcome: outcome.clone(),
            engine: self.engine_name.clone(),
            duration_ms,
            gpus: Vec::new(),
            log_sha256,
        }
    }

    /// What `outcome` (passed `from` where) means for the target:
    /// its wheels placed ([`Tested`]) or not (`Err`).
    fn outcome(
        &self,
        outcome: &TestOutcome,
        duration_ms: u64,
        from: PassedBy,
        log: &Path,
    ) -> Result<Option<Tested>, BuildError> {
        match outcome {
            TestOutcome::Passed => Ok(Some(Tested::Passed {
                duration: Duration::from_millis(duration_ms),
                from,
            })),
            TestOutcome::Failed { detail } => Err(BuildError::TestFailedBefore {
                detail: detail.clone(),
                log: log.to_path_buf(),
            }),
            TestOutcome::NotRun { why } if self.config.settings.test_require => {
                Err(BuildError::Untested { why: why.clone() })
            }
            TestOutcome::NotRun { why } => Ok(Some(Tested::NotRun { why: why.clone() })),
        }
    }
}
