//! Stage 5: build targets in containers from their pinned images, and record the wheels.
//!
//! Per target whose key is not in the store (`run`):
//!
//! 1. the base image, pulled **by digest** and checked ([`docker::Engine::ensure_image`]);
//! 2. the environment image: base + apt + pip, built once per environment key (shared by
//!    every target with the same image and packages) and tagged `wheelbuild-env:<key>`
//!    (`container::images`);
//! 3. the sources at the locked commit ([`source::checkout`]), sent into the created
//!    container as a tar stream with the CA bundle ([`docker::upload`]): nothing goes through a
//!    host path, so the engine may be another machine;
//! 4. one container: toolchain check, then the build in a scratch copy at the fixed path
//!    `/wheelbuild/build`, as a non-root user, without capabilities or privilege gain,
//!    with `SOURCE_DATE_EPOCH` from the commit and the ccache/pip cache volumes of the
//!    cache channel and accelerator variant mounted (`container::caches`);
//! 5. `/wheelbuild/out` taken out as a tar stream, each wheel checked (name, tags,
//!    RECORD hashes) (`container::collect`), committed to the store, placed in the
//!    wheelhouse.
//!
//! Targets run `jobs` at a time, the next one starting as soon as a slot frees
//! (`schedule`). A target already in the store has its wheels restored, each checked
//! against its digest; a damaged entry is quarantined and built again. Containers are
//! removed whatever happens; the caller removes the ones still running on Ctrl-C
//! ([`docker::Live`]), and the next run removes those a killed run left (`cleanup`).

mod cleanup;
pub mod compiler_cache;
mod container;
mod gc;
mod pool;
pub mod schedule;
use crate::resolve::source;
mod spec;
mod test;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::{Config, Runs};
use crate::docker::{self, DockerError, Engine, access};
use crate::fsutil::FileLock;
use crate::plan::PlannedTarget;
use crate::resolve::NetworkSettings;
use crate::sign::KeyFile;
use crate::store::{
    BuildRecord, CacheStats, Damage, Presence, STORE_VERSION, Store, StoreError, UnusableWheel,
};
use crate::wheel;
use crate::wheelhouse::{PlaceError, Placed, Wheelhouse};
pub use cleanup::cleanup;
use container::Builder;
pub use container::caches::volume_name;
pub(crate) use container::images::{env_tag, env_tag_of};
pub use gc::{CacheGc, CacheVolume, collect_cache_volumes, collect_env_images};
use spec::BuildSpec;
pub use test::{PassedBy, Tested};
pub use verify::{VerifyReport, verify};

/// Exit code of the build script when the toolchain check fails.
pub const TOOLCHAIN_CHECK_FAILED: i64 = 97;

/// Exit code of the build script when auditwheel fails to repair a wheel.
pub const REPAIR_FAILED: i64 = 96;

/// Exit code of a build whose backend asks for a requirement the environment lacks
/// (`requires.py`'s check, run before the build command).
pub const UNLOCKED_REQUIREMENT: i64 = 95;

/// Paths inside build containers.
pub mod paths {
    pub const OUT: &str = "/wheelbuild/out";
    pub const HOME: &str = "/wheelbuild/home";
    pub const CCACHE: &str = "/wheelbuild/cache/ccache";
    pub const PIP: &str = "/wheelbuild/cache/pip";
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wheel(#[from] wheel::WheelError),
    #[error("the toolchain check `{command}` failed")]
    ToolchainCheckFailed { command: String },
    #[error("the build command exited with status {code}")]
    Failed { code: i64 },
    #[error("setting up the build environment (apt/pip) exited with status {code}")]
    EnvFailed { code: i64, log: PathBuf },
    #[error("{manager} package `{package}`: {problem}")]
    PinFailed {
        manager: &'static str,
        package: String,
        problem: String,
        log: PathBuf,
    },
    #[error("build requirement `{requirement}` of project `{project}` is not in its environment{}", found.as_ref().map_or(String::new(), |v| format!(" (it has {v})")))]
    UnmetBuildRequirement {
        project: String,
        requirement: String,
        found: Option<String>,
    },
    #[error(
        "the build backend of project `{project}` asks for `{requirement}`, which the lock does not hold"
    )]
    UnlockedRequirement {
        project: String,
        requirement: String,
    },
    #[error("the build produced no wheel in $WHEELBUILD_OUT")]
    NoWheel,
    #[error("auditwheel could not repair a wheel (exit status {code})")]
    RepairFailed { code: i64 },
    #[error("repair needs the image's glibc version, and the lock's environment has none")]
    RepairWithoutGlibc,
    #[error("manylinux repair has no tag for platform {platform}")]
    RepairUnsupportedPlatform { platform: String },
    #[error("wheel {file} was repaired with {library} grafted into it, which `{pattern}` excludes")]
    Grafted {
        file: String,
        library: String,
        pattern: String,
    },
    #[error("wheel {file} is a Linux platform wheel that repair left as `{tag}`")]
    NotRepaired { file: String, tag: String },
    #[error("wheel {file} does not fit this target: {detail}")]
    WrongWheel { file: String, detail: String },
    #[error("{what}: {detail}")]
    Io { what: String, detail: String },
    #[error(transparent)]
    Wheelhouse(PlaceError),
    #[error("skipped: an earlier target failed (use --keep-going to build the rest)")]
    Skipped,
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Signer(#[from] crate::sign::KeyError),
    #[error("the test command exited with status {code}: the wheels are not placed")]
    TestFailed { code: i64, log: PathBuf },
    #[error(
        "the test environment lacks `{requirement}`, a requirement of the wheels ({problem}): the wheels are not placed"
    )]
    UnmetTestRequirement {
        requirement: String,
        problem: String,
        log: PathBuf,
    },
    #[error("the test of these very wheels failed before ({detail})")]
    TestFailedBefore { detail: String, log: PathBuf },
    #[error("the wheels were not tested ({why}), and `[test] require` is set")]
    Untested { why: String },
}

impl BuildError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::Docker(e) => e.hint(),
            BuildError::Source(e) => e.hint(),
            BuildError::Store(e) => e.hint(),
            BuildError::Wheel(e) => e.hint(),
            BuildError::Signer(e) => Some(format!(
                "{}; `[remote] sign-with` signs the provenance of what this job builds (a job \
                 that only pulls does not need it)",
                e.hint()
            )),
            BuildError::ToolchainCheckFailed { .. } => Some(
                "the image's toolchain is not what the config expects: check the image or the `toolchain-check` command"
                    .into(),
            ),
            BuildError::Failed { code: 137 } => {
                Some("status 137 is SIGKILL, often the kernel's OOM killer: lower MAX_JOBS".into())
            }
            BuildError::EnvFailed { .. } => Some(
                "the apt/pip output above says why; check the project's `apt` and `pip` lists"
                    .into(),
            ),
            BuildError::PinFailed {
                manager: "pip",
                package,
                ..
            } => Some(format!(
                "run `wheelbuild lock --update {package}` to pin what the index serves now, after checking why it changed"
            )),
            BuildError::PinFailed { .. } => Some(
                "run `wheelbuild lock --update-env` to pin what the mirror has now (or use a snapshot mirror)"
                    .into(),
            ),
            BuildError::UnmetBuildRequirement { .. } => Some(
                "the lock's environment does not match the project's `[build-system] requires`: run `wheelbuild lock --update-env`"
                    .into(),
            ),
            BuildError::UnlockedRequirement { project, .. } => Some(format!(
                "the backend's `get_requires_for_build_wheel` answers otherwise than when the lock asked it: run `wheelbuild lock --update {project}`"
            )),
            BuildError::NoWheel => {
                Some("the build command must write its wheels to $WHEELBUILD_OUT".into())
            }
            BuildError::RepairFailed { .. } => Some(
                "auditwheel's output above says why; exclude a library the wheel may not carry with `repair-exclude`, or set `repair = \"none\"`"
                    .into(),
            ),
            BuildError::RepairUnsupportedPlatform { .. } => Some(
                "set `repair = \"none\"` for cells of this platform".into(),
            ),
            BuildError::RepairWithoutGlibc => Some(
                "run `wheelbuild lock --update-env` to probe the image again".into(),
            ),
            BuildError::Grafted { .. } => Some(
                "the auditwheel pinned in the lock ignored `--exclude`: pin a release that honours it (`pip = [\"auditwheel>=6\"]`)"
                    .into(),
            ),
            BuildError::NotRepaired { .. } => Some(
                "the build command must leave unrepaired wheels in $WHEELBUILD_OUT; wheelbuild repairs them after it"
                    .into(),
            ),
            BuildError::Wheelhouse(e) => e.hint(),
            BuildError::TestFailed { .. } => Some(
                "the test's output above says why; the built wheels stay in the store, so a \
                 fixed test runs without a rebuild"
                    .into(),
            ),
            BuildError::UnmetTestRequirement { requirement, .. } => Some(format!(
                "add it to `test-requires` (or to the project's dependencies) and run \
                 `wheelbuild lock --update {requirement}`"
            )),
            BuildError::TestFailedBefore { .. } => Some(
                "its test key is unchanged: fix the test (a test-only change runs it again \
                 without a rebuild), or run it again with `build --retest`"
                    .into(),
            ),
            BuildError::Untested { .. } => Some(
                "declare an `[[engine]]` with `gpu = true` for tests that need a GPU, or unset \
                 `[test] require`"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Which log explains the failure: the environment's, the target's own build log, or
    /// none (the build itself went well, or never ran).
    fn log<'a>(&'a self, build_log: &'a Path) -> Option<&'a Path> {
        match self {
            BuildError::EnvFailed { log, .. } | BuildError::PinFailed { log, .. } => Some(log),
            BuildError::TestFailed { log, .. }
            | BuildError::UnmetTestRequirement { log, .. }
            | BuildError::TestFailedBefore { log, .. } => {
                Some(log.as_path()).filter(|l| l.exists())
            }
            BuildError::Failed { .. }
            | BuildError::ToolchainCheckFailed { .. }
            | BuildError::NoWheel
            | BuildError::RepairFailed { .. }
            | BuildError::Grafted { .. }
            | BuildError::NotRepaired { .. }
            | BuildError::WrongWheel { .. }
            | BuildError::Wheel(_) => Some(build_log).filter(|l| l.exists()),
            _ => None,
        }
    }

    /// Errors of the machine (daemon, disk, git server) rather than of the build.
    pub fn is_infrastructure(&self) -> bool {
        match self {
            BuildError::Docker(_) | BuildError::Store(_) | BuildError::Io { .. } => true,
            BuildError::Source(source::SourceError::Git(e)) => !e.is_user_error(),
            _ => false,
        }
    }
}

/// Settings of a build run (resolved by the command layer).
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// Targets built at once.
    pub jobs: usize,
    pub keep_going: bool,
    pub rebuild_env: bool,
    pub uid: u32,
    pub gid: u32,
    /// Network, CA bundle, proxies and package index of every container.
    pub access: access::Access,
    /// Signs each wheel's provenance (a DSSE envelope): `[remote] sign-with`.
    pub signer: Option<std::sync::Arc<crate::sign::KeyFile>>,
    pub cache_dir: PathBuf,
    pub ccache: bool,
    /// The channel's remote compiler cache (`[cache] remote`, unless the channel's policy
    /// is `off`): used by builds with `ccache`; `build`'s only (`verify` rebuilds cold).
    pub compiler_cache: Option<Arc<compiler_cache::CompilerCache>>,
    pub pip_cache: bool,
    pub channel: String,
    pub output_dir: PathBuf,
    /// `MAX_JOBS` for builds whose config does not set it.
    pub max_jobs: usize,
    /// Per-target logs.
    pub log_dir: PathBuf,
    /// Deadlines of the git commands that fetch and check out sources.
    pub network: NetworkSettings,
    /// The shared cache: looked up before building; pushed to after, when `push`.
    pub remote: Option<std::sync::Arc<crate::remote::Remote>>,
    pub push: bool,
    /// Run every test, whatever outcome is stored for its test key (`--retest`).
    pub retest: bool,
}

/// What happened to one target.
#[derive(Debug)]
pub enum Outcome {
    /// In the store already; `restored` wheels were copied back into the wheelhouse.
    Cached { restored: usize },
    /// Pulled from the remote cache (signed by a trusted key, every byte checked) into the
    /// store and the wheelhouse; nothing was built.
    Pulled,
    Built {
        duration: Duration,
        ccache: Option<CacheStats>,
    },
    Failed {
        error: BuildError,
        log: Option<PathBuf>,
    },
}

#[derive(Debug)]
pub struct TargetReport {
    pub id: String,
    pub outcome: Outcome,
    /// The target's wheels in the wheelhouse.
    pub wheels: Vec<PathBuf>,
    /// Wheels of the target's previous builds removed from the wheelhouse.
    pub pruned: Vec<PathBuf>,
    /// Why the build's record did not reach the remote cache (`--push`), if it did not.
    pub not_pushed: Option<String>,
    /// The declared engine (`[[engine]]`) that built it; `None` for the default engine and
    /// for targets that were not built.
    pub engine: Option<String>,
    /// The engine that went away while building it, before it was built again elsewhere.
    pub retried_from: Option<String>,
    /// Its wheels' test, when it has one and they were placed.
    pub tested: Option<Tested>,
}

/// Progress of a build run, for the command layer to display.
pub trait Reporter: Send + Sync {
    fn phase(&self, id: &str, phase: &str);
    fn output(&self, id: &str, line: &str);
    /// How a long wait advances (an image pull's layers and bytes): for a terminal only,
    /// never a line of its own.
    fn progress(&self, id: &str, message: &str);
    /// A store entry failed its check and was moved to `moved_to`; the target is rebuilt.
    fn quarantined(&self, id: &str, damage: &Damage, moved_to: &Path);
    /// Something about a built target that its user should look at (the build stands).
    fn warning(&self, id: &str, message: &str);
    fn finished(&self, report: &TargetReport);
}

/// Shared state of one run: the engine, and things done once for many targets.
struct Run<'a> {
    config: &'a Config,
    store: &'a Store,
    settings: &'a BuildSettings,
    reporter: &'a dyn Reporter,
    /// Its containers, on an engine connected on first use: a run with everything cached
    /// never contacts the daemon.
    builder: Builder<'a>,
    wheelhouse: Wheelhouse,
    /// The declared engine this run builds on (`None`: the default engine).
    engine_name: Option<String>,
    /// `MAX_JOBS` of builds on this engine whose config does not set it.
    max_jobs: usize,
    /// The engine is declared with a GPU (`gpu = true`): tests that need one run here.
    gpu: bool,
    /// Targets whose push failed, and why (reported with them).
    not_pushed: std::sync::Mutex<BTreeMap<String, String>>,
}

/// One engine of a run's pool.
pub struct PoolEngine {
    pub engine: Engine,
    /// Builds at a time on it.
    pub jobs: usize,
    /// `MAX_JOBS` of each build on it (from its cores and memory shared by `jobs` builds);
    /// `None`: the settings' (the default engine's).
    pub max_jobs: Option<usize>,
    /// Its `[[engine]]` entry; `None`: the default engine (`DOCKER_HOST`), which runs this
    /// machine's platform, and others with `[build] emulate`.
    pub spec: Option<crate::config::EngineSpec>,
}

impl PoolEngine {
    /// How this engine runs `t` of `config`, if it can.
    pub fn runs(&self, t: &PlannedTarget<'_>, config: &Config) -> Option<Runs> {
        let platform = &t.target.image.platform;
        match &self.spec {
            Some(s) => s.runs(platform, t.project.gpu),
            None => Runs::of(
                &[crate::config::host_platform()],
                config.settings.build.emulate,
                platform,
            ),
        }
    }

    fn name(&self) -> Option<String> {
        self.spec.as_ref().map(|s| s.name.clone())
    }
}

/// Build every target of `targets` that is not in the store (restoring the wheels of
/// those that are), on the engines of `engines`: each target to build takes a slot of an
/// engine that can build it (see [`pool`]); one whose engine stops answering mid-build is
/// built again once on another.
pub async fn build(
    config: &Config,
    targets: &[PlannedTarget<'_>],
    store: &Store,
    engines: &[PoolEngine],
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Vec<TargetReport> {
    let stop = Arc::new(AtomicBool::new(false));
    // One run per engine: images and environments are ensured on each engine.
    let runs: Vec<Run> = engines
        .iter()
        .map(|e| Run {
            engine_name: e.name(),
            max_jobs: e.max_jobs.unwrap_or(settings.max_jobs),
            gpu: e.spec.as_ref().is_some_and(|s| s.gpu),
            ..Run::new(config, store, &e.engine, settings, reporter)
        })
        .collect();
    let pool = pool::Pool::new(&engines.iter().map(|e| e.jobs).collect::<Vec<_>>());
    let tasks = targets.iter().map(|t| {
        let (runs, pool, stop) = (&runs, &pool, &stop);
        async move {
            let report = if stop.load(Ordering::SeqCst) {
                TargetReport::skipped(&t.target.id)
            } else if t.status != crate::plan::Status::Build {
                // Restored from the store: no engine slot (one found damaged builds on
                // the first engine, and a test that needs a GPU runs on the first that
                // has one).
                let run = runs
                    .iter()
                    .find(|r| r.gpu || !gpu_test(t))
                    .unwrap_or(&runs[0]);
                run.target(t).await
            } else {
                build_on_pool(t, engines, runs, pool, stop, reporter).await
            };
            if matches!(report.outcome, Outcome::Failed { .. }) && !settings.keep_going {
                stop.store(true, Ordering::SeqCst);
            }
            reporter.finished(&report);
            report
        }
    });
    schedule::run_all(tasks, pool.slots() + 1).await
}

/// Build `t` on a free slot of an engine that can build it, and once more on another when
/// that engine stops answering during the build.
async fn build_on_pool(
    t: &PlannedTarget<'_>,
    engines: &[PoolEngine],
    runs: &[Run<'_>],
    pool: &pool::Pool,
    stop: &AtomicBool,
    reporter: &dyn Reporter,
) -> TargetReport {
    let mut lost: Option<(String, TargetReport)> = None;
    loop {
        // A target whose test needs a GPU builds (and is tested) on an engine with one,
        // when the pool has one.
        let gpu = gpu_test(t)
            && engines
                .iter()
                .any(|e| e.spec.as_ref().is_some_and(|s| s.gpu));
        let slot = pool
            .acquire(|i| {
                engines[i]
                    .runs(t, runs[i].config)
                    .filter(|_| !gpu || engines[i].spec.as_ref().is_some_and(|s| s.gpu))
            })
            .await;
        // A target that waited for its slot while another failed does not start.
        if stop.load(Ordering::SeqCst) {
            return TargetReport::skipped(&t.target.id);
        }
        let Some(slot) = slot else {
            // Config checks make some engine serve every target: all of those are gone.
            return match lost {
                Some((name, report)) => {
                    reporter.warning(
                        &t.target.id,
                        &format!("engine `{name}` stopped answering during the build, and no other engine can build it"),
                    );
                    report
                }
                None => TargetReport::failed(
                    &t.target.id,
                    BuildError::Docker(docker::DockerError::Unreachable {
                        host: "every engine that can build it".into(),
                        detail: "none is left in the pool".into(),
                    }),
                ),
            };
        };
        let e = &engines[slot.index];
        let name = e.name().unwrap_or_else(|| "default".into());
        if let Some((gone, _)) = &lost {
            reporter.warning(
                &t.target.id,
                &format!("engine `{gone}` stopped answering during the build; building it again on `{name}`"),
            );
        }
        let mut report = runs[slot.index].target(t).await;
        let infrastructure = matches!(
            &report.outcome,
            Outcome::Failed {
                error: BuildError::Docker(_) | BuildError::Io { .. },
                ..
            }
        );
        if infrastructure && lost.is_none() && !e.engine.answers().await {
            pool.mark_down(slot.index);
            lost = Some((name, report));
            continue;
        }
        report.engine = e.name();
        report.retried_from = lost.map(|(name, _)| name);
        return report;
    }
}

/// Does `t` have a test to run that needs a GPU?
fn gpu_test(t: &PlannedTarget<'_>) -> bool {
    t.test.is_some() && t.target.test.as_ref().is_some_and(|x| x.gpu)
}

impl TargetReport {
    fn failed(id: &str, error: BuildError) -> TargetReport {
        TargetReport {
            id: id.to_string(),
            outcome: Outcome::Failed { error, log: None },
            wheels: Vec::new(),
            pruned: Vec::new(),
            not_pushed: None,
            engine: None,
            retried_from: None,
            tested: None,
        }
    }

    fn skipped(id: &str) -> TargetReport {
        TargetReport::failed(id, BuildError::Skipped)
    }
}

impl<'a> Run<'a> {
    fn new(
        config: &'a Config,
        store: &'a Store,
        engine: &'a Engine,
        settings: &'a BuildSettings,
        reporter: &'a dyn Reporter,
    ) -> Self {
        Run {
            config,
            store,
            settings,
            reporter,
            builder: Builder::new(engine, settings, store, reporter, &config.root),
            wheelhouse: Wheelhouse::new(&settings.output_dir, &crate::wheelhouse::lock_path(store)),
            not_pushed: std::sync::Mutex::default(),
            engine_name: None,
            max_jobs: settings.max_jobs,
            gpu: false,
        }
    }

    async fn target(&self, t: &PlannedTarget<'_>) -> TargetReport {
        let id = t.target.id.clone();
        let log = self.settings.log_dir.join(format!("{id}.log"));
        let (outcome, placed, tested) = match self.target_inner(t, &log).await {
            Ok(done) => done,
            Err(error) => {
                let log = error.log(&log).map(Path::to_path_buf);
                (Outcome::Failed { error, log }, Placed::default(), None)
            }
        };
        let not_pushed = self
            .not_pushed
            .lock()
            .map(|mut m| m.remove(&id))
            .unwrap_or_default();
        TargetReport {
            id,
            outcome,
            wheels: placed.paths,
            pruned: placed.pruned,
            not_pushed,
            engine: None,
            retried_from: None,
            tested,
        }
    }

    /// One target, in its named steps: acquire its build lock, restore it from the store
    /// or pull it, check its build requirements, build and record it, test it, publish it
    /// to the remote cache, place its wheels.
    async fn target_inner(
        &self,
        t: &PlannedTarget<'_>,
        log: &Path,
    ) -> Result<(Outcome, Placed, Option<Tested>), BuildError> {
        let _guard = self.acquire(&t.key).await?;
        if let Some(done) = self.restore_or_pull(t).await? {
            return Ok(done);
        }
        check_requirements(t)?;
        let (record, duration) = self.build_and_record(t, log).await?;
        let tested = self.test(t, &record).await?;
        self.publish(t).await;
        let placed = self.place(t, &record).map_err(place_error)?;
        Ok((
            Outcome::Built {
                duration,
                ccache: record.ccache,
            },
            placed,
            tested,
        ))
    }

    /// Takes the key's build lock: one process builds a key at a time; a second one waits,
    /// then finds it cached.
    async fn acquire(&self, key: &crate::key::BuildKey) -> Result<FileLock, BuildError> {
        let lock_path = self.store.build_lock_path(key);
        tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
            .await
            .map_err(|e| io_err("waiting for the build lock", e))?
            .map_err(|e| io_err("taking the build lock", e))
    }

    /// Places the key's wheels from the store, or from the remote cache into the store
    /// first; `None` when neither holds it. A damaged store entry is quarantined and
    /// counts as absent; the remote's trouble is said, and the target built here instead.
    async fn restore_or_pull(
        &self,
        t: &PlannedTarget<'_>,
    ) -> Result<Option<(Outcome, Placed, Option<Tested>)>, BuildError> {
        match self.store.presence(&t.key)? {
            Presence::Present => {
                let record = self.store.record(&t.key)?.ok_or_else(|| {
                    io_err(
                        "reading a build record",
                        "it left the store during the build",
                    )
                })?;
                // A test about to run checks the wheels first: a damaged one is built
                // again, as placing it would have found.
                let damaged = match t.test.as_ref() {
                    Some(x) if x.pending.is_some() || self.settings.retest => {
                        record.wheels.iter().find_map(|w| self.store.check_wheel(w))
                    }
                    _ => None,
                };
                match damaged {
                    Some(UnusableWheel::Damaged(damage)) => self.quarantine(t, &damage)?,
                    Some(UnusableWheel::Unreadable(e)) => return Err(e.into()),
                    None => {
                        let tested = self.test(t, &record).await?;
                        match self.place(t, &record) {
                            Ok(placed) => {
                                let restored = placed.restored;
                                return Ok(Some((Outcome::Cached { restored }, placed, tested)));
                            }
                            Err(PlaceError::Damaged(damage)) => self.quarantine(t, &damage)?,
                            Err(e) => return Err(place_error(e)),
                        }
                    }
                }
            }
            Presence::Damaged(damage) => self.quarantine(t, &damage)?,
            Presence::Absent => {}
        }
        let Some(remote) = &self.settings.remote else {
            return Ok(None);
        };
        match remote.pull(self.store, &t.key).await {
            Ok(crate::remote::Pulled::Stored) => {
                let record = self
                    .store
                    .record(&t.key)?
                    .ok_or_else(|| io_err("reading a pulled record", "it left the store"))?;
                let tested = self.test(t, &record).await?;
                let placed = self.place(t, &record).map_err(place_error)?;
                Ok(Some((Outcome::Pulled, placed, tested)))
            }
            Ok(crate::remote::Pulled::Absent) => Ok(None),
            Err(e) => {
                self.reporter
                    .warning(&t.target.id, &format!("{e}; building it here"));
                Ok(None)
            }
        }
    }

    /// Builds the target in its container and commits its wheels, log and record, with
    /// its provenance signed here by the builder (a record pulled elsewhere keeps those
    /// signatures). Returns the record and how long the build took.
    async fn build_and_record(
        &self,
        t: &PlannedTarget<'_>,
        log: &Path,
    ) -> Result<(BuildRecord, Duration), BuildError> {
        // Read before anything is built: a job that only pulls never needs the key.
        let signer = self
            .settings
            .signer
            .as_deref()
            .map(KeyFile::get)
            .transpose()?;
        let staging = self.store.stage()?;
        let spec = BuildSpec::of(self.config, t, self.max_jobs, log, false);
        let built = self.builder.build(&spec, &staging).await?;
        let inputs = spec.inputs;
        // The log goes with the record.
        let _ = std::fs::copy(log, staging.log_path());
        let log_sha256 = std::fs::File::open(staging.log_path())
            .and_then(|mut f| crate::store::copy_hashing(&mut f, &mut std::io::sink()))
            .ok()
            .map(|(sha256, _)| sha256);
        let build = crate::store::provenance::Build {
            key: &t.key,
            target: t.target,
            project: t.project,
            image: t.image,
            git: t.git,
            env: t.env,
        };
        let provenance =
            crate::store::provenance::Provenance::of(&build, &inputs, log_sha256.as_deref());
        let provenance_signatures = match signer {
            Some(signer) => built
                .wheels
                .iter()
                .map(|w| {
                    let statement = provenance.statement_json(w);
                    let signature = crate::store::provenance::sign(signer, &statement);
                    (w.file.clone(), vec![signature])
                })
                .collect(),
            None => Default::default(),
        };
        let record = BuildRecord {
            version: STORE_VERSION,
            key: t.key.clone(),
            target: t.target.id.clone(),
            inputs: inputs.into_owned(),
            wheels: built.wheels,
            log: format!("logs/{}.log", t.key),
            duration_ms: built.duration.as_millis() as u64,
            ccache: built.ccache,
            facts: built.facts,
            wheelbuild_version: env!("CARGO_PKG_VERSION").into(),
            provenance_signatures,
            provenance: Some(provenance),
            built_on: self.engine_name.clone(),
        };
        self.store.commit(staging, &record)?;
        Ok((record, built.duration))
    }

    /// Pushes the key to the remote cache when the run pushes. The wheel is built and
    /// stored either way: a failed push is said here and makes the run's exit code 3, so
    /// that a CI shard does not pass without it.
    async fn publish(&self, t: &PlannedTarget<'_>) {
        let Some(remote) = self.settings.remote.as_ref().filter(|_| self.settings.push) else {
            return;
        };
        if let Err(e) = remote.push(self.store, &t.key).await {
            let why = format!("not pushed to the remote cache: {e}");
            self.reporter.warning(&t.target.id, &why);
            if let Ok(mut m) = self.not_pushed.lock() {
                m.insert(t.target.id.clone(), why);
            }
        }
    }

    fn quarantine(&self, t: &PlannedTarget<'_>, damage: &Damage) -> Result<(), BuildError> {
        let moved_to = self
            .store
            .quarantine(&t.key, std::slice::from_ref(damage))?;
        self.reporter.quarantined(&t.target.id, damage, &moved_to);
        Ok(())
    }

    fn place(&self, t: &PlannedTarget<'_>, record: &BuildRecord) -> Result<Placed, PlaceError> {
        // Read back: the test may have just run.
        let test = match &t.test {
            Some(test) => self.store.test_record(&test.key)?,
            None => None,
        };
        // Read only to sign a test statement: placing untested wheels needs no key, and a
        // runner without it (one that only pulls) writes the statement unsigned, saying so.
        let signer = match (&test, self.settings.signer.as_deref()) {
            (Some(_), Some(file)) => match file.get() {
                Ok(key) => Some(key),
                Err(e) => {
                    self.reporter.warning(
                        &t.target.id,
                        &format!("the test's provenance statement is written unsigned: {e}"),
                    );
                    None
                }
            },
            _ => None,
        };
        self.wheelhouse.place(
            self.store,
            &t.target.id,
            &t.target.output_subdir,
            record,
            test.as_ref(),
            signer,
        )
    }
}

/// Fails when the target's environment does not satisfy its project's build
/// requirements. A target without an environment has no build requirements.
fn check_requirements(t: &PlannedTarget<'_>) -> Result<(), BuildError> {
    let unmet = t
        .env
        .and_then(|env| crate::lock::requires::unmet(t.build_requires, env, &t.image.platform));
    match unmet {
        Some(unmet) => Err(BuildError::UnmetBuildRequirement {
            project: t.project.name.clone(),
            requirement: unmet.requirement,
            found: unmet.found,
        }),
        None => Ok(()),
    }
}

fn place_error(e: PlaceError) -> BuildError {
    match e {
        PlaceError::Store(e) => BuildError::Store(e),
        PlaceError::Io { what, source } => io_err(&what, source),
        // Only possible right after a commit: a store that cannot hold a wheel for the
        // time it takes to copy it.
        PlaceError::Damaged(d) => io_err("restoring a wheel just built", d),
        PlaceError::Signer(e) => BuildError::Signer(e),
        e @ (PlaceError::Collision { .. } | PlaceError::NewerStamps { .. }) => {
            BuildError::Wheelhouse(e)
        }
    }
}

fn io_err(what: &str, e: impl std::fmt::Display) -> BuildError {
    BuildError::Io {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

/// Default concurrency and per-build `MAX_JOBS` for a daemon with `cpus` and `memory`
/// bytes: each compile job of a CUDA extension can take ~2 GiB, and running out of memory
/// is the first way such builds fail.
pub fn default_parallelism(cpus: usize, memory: u64, jobs: Option<usize>) -> (usize, usize) {
    let gib = (memory >> 30) as usize;
    let by_memory = if gib == 0 {
        usize::MAX
    } else {
        (gib / 4).max(1)
    };
    let jobs = jobs.unwrap_or_else(|| (cpus / 2).clamp(1, by_memory));
    let per_build_mem = if gib == 0 {
        usize::MAX
    } else {
        (gib / (2 * jobs)).max(1)
    };
    let max_jobs = (cpus / jobs).clamp(1, per_build_mem);
    (jobs, max_jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallelism_respects_memory() {
        // 2 cores, 24 GiB: one build at a time, 2 compile jobs.
        assert_eq!(default_parallelism(2, 24 << 30, None), (1, 2));
        // 64 cores, 32 GiB: memory caps both.
        assert_eq!(default_parallelism(64, 32 << 30, None), (8, 2));
        // Explicit --jobs 2 on 2 cores: one compile job each.
        assert_eq!(default_parallelism(2, 24 << 30, Some(2)), (2, 1));
        // Unknown memory: cores only.
        assert_eq!(default_parallelism(8, 0, None), (4, 2));
    }
}
