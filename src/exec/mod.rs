//! Stage 5: build targets in containers from their pinned images, and record the wheels.
//!
//! Per target whose key is not in the store:
//!
//! 1. the base image, pulled **by digest** and checked ([`docker::Engine::ensure_image`]);
//! 2. the environment image: base + apt + pip, built once per environment key (shared by
//!    every target with the same image and packages) and tagged `wheelbuild-env:<key>`;
//! 3. the sources at the locked commit ([`source::checkout`]), mounted read-only;
//! 4. one container: toolchain check, then the build in a scratch copy at the fixed path
//!    `/wheelbuild/build`, as a non-root user, without capabilities or privilege gain,
//!    with `SOURCE_DATE_EPOCH` from the commit and the ccache/pip caches of the cache
//!    channel and accelerator variant mounted;
//! 5. `/wheelbuild/out` taken out as a tar stream, each wheel checked (name, tags,
//!    RECORD hashes), committed to the store, placed in the wheelhouse.
//!
//! Containers are removed whatever happens; the caller removes the ones still running
//! on Ctrl-C ([`docker::Live`]).

pub mod docker;
pub mod source;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{Mutex, OnceCell, Semaphore};

use crate::config::{Accel, Config, TargetSpec};
use crate::fsutil::FileLock;
use crate::key::{BuildKey, KeyInputs};
use crate::plan::PlannedTarget;
use crate::resolve::NetworkSettings;
use crate::resolve::git::GitContext;
use crate::store::{BuildRecord, CacheStats, STORE_VERSION, Store, StoreError, WheelRecord};
use crate::wheel;
use docker::{DockerError, Engine, RunSpec};

/// Exit code of the build script when the toolchain check fails.
pub const VERIFY_FAILED: i64 = 97;

/// Paths inside build containers.
pub mod paths {
    pub const SRC: &str = "/wheelbuild/src";
    pub const BUILD: &str = "/wheelbuild/build";
    pub const OUT: &str = "/wheelbuild/out";
    pub const HOME: &str = "/wheelbuild/home";
    pub const CCACHE: &str = "/wheelbuild/cache/ccache";
    pub const PIP: &str = "/wheelbuild/cache/pip";
}

/// The build script: `sh -c SCRIPT wheelbuild VERIFY BUILD SUBDIR`. User commands are
/// passed as arguments, never spliced into the script.
const BUILD_SCRIPT: &str = r#"set -eu
verify=$1; build=$2; subdir=$3
if [ -n "$verify" ]; then
  echo "::wheelbuild:: toolchain check: $verify"
  if ! sh -c "$verify"; then echo "::wheelbuild:: toolchain check failed"; exit 97; fi
fi
cp -R --preserve=mode,timestamps /wheelbuild/src /wheelbuild/build
cd "/wheelbuild/build/$subdir"
if [ -n "${WHEELBUILD_CCACHE:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR=/wheelbuild/cache/ccache CCACHE_STATSLOG=/wheelbuild/home/ccache.log CCACHE_COMPILERCHECK=content
  [ -n "${CC:-}" ] || export CC="ccache gcc"
  [ -n "${CXX:-}" ] || export CXX="ccache g++"
fi
echo "::wheelbuild:: build: $build"
sh -c "$build"
if [ -f /wheelbuild/home/ccache.log ]; then
  hits=$(grep -cE '^(direct|preprocessed)_cache_hit$' /wheelbuild/home/ccache.log || true)
  misses=$(grep -cx cache_miss /wheelbuild/home/ccache.log || true)
  echo "::wheelbuild:: ccache hits=$hits misses=$misses"
fi
"#;

/// The environment image script, run as root from the base image.
const ENV_SCRIPT: &str = r#"set -eu
mkdir -p /wheelbuild/out /wheelbuild/home
chmod 1777 /wheelbuild /wheelbuild/out /wheelbuild/home
if [ -n "$1" ]; then
  command -v apt-get >/dev/null || { echo "::wheelbuild:: the image has no apt-get for: $1"; exit 1; }
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $1
  rm -rf /var/lib/apt/lists/*
fi
if [ -n "$2" ]; then
  python3 -m pip install --cache-dir /wheelbuild/cache/pip $2
fi
"#;

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
    VerifyFailed { command: String },
    #[error("the build command exited with status {code}")]
    Failed { code: i64 },
    #[error("setting up the build environment (apt/pip) exited with status {code}")]
    EnvFailed { code: i64 },
    #[error("the build produced no wheel in $WHEELBUILD_OUT")]
    NoWheel,
    #[error("wheel {file} does not fit this target: {detail}")]
    WrongWheel { file: String, detail: String },
    #[error("{what}: {detail}")]
    Io { what: String, detail: String },
    #[error("skipped: an earlier target failed (use --keep-going to build the rest)")]
    Skipped,
    #[error("interrupted")]
    Interrupted,
}

impl BuildError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::Docker(e) => e.hint(),
            BuildError::Source(e) => e.hint(),
            BuildError::Store(e) => e.hint(),
            BuildError::Wheel(e) => e.hint(),
            BuildError::VerifyFailed { .. } => {
                Some("the image's toolchain is not what the config expects: check the image or the `verify` command".into())
            }
            BuildError::Failed { code: 137 } => {
                Some("status 137 is SIGKILL, often the kernel's OOM killer: lower MAX_JOBS".into())
            }
            BuildError::NoWheel => Some("the build command must write its wheels to $WHEELBUILD_OUT".into()),
            _ => None,
        }
    }

    /// Errors of the machine (daemon, disk) rather than of the build.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            BuildError::Docker(_) | BuildError::Store(_) | BuildError::Io { .. }
        )
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
    pub network_none: bool,
    pub cache_dir: PathBuf,
    pub ccache: bool,
    pub pip_cache: bool,
    pub channel: String,
    pub output_dir: PathBuf,
    /// `MAX_JOBS` for builds whose config does not set it.
    pub max_jobs: usize,
    /// Per-target logs.
    pub log_dir: PathBuf,
    /// Deadlines of the git commands that fetch and check out sources.
    pub network: NetworkSettings,
}

/// What happened to one target.
#[derive(Debug)]
pub enum Outcome {
    /// In the store already; `restored` wheels were copied back into the wheelhouse.
    Cached { restored: usize },
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
    pub key: BuildKey,
    pub outcome: Outcome,
    /// The target's wheels in the wheelhouse.
    pub wheels: Vec<PathBuf>,
}

/// Progress of a build run, for the command layer to display.
pub trait Reporter: Send + Sync {
    fn phase(&self, id: &str, phase: &str);
    fn output(&self, id: &str, line: &str);
    fn finished(&self, report: &TargetReport);
}

/// Shared state of one run: the engine, and things done once for many targets.
struct Run<'a> {
    config: &'a Config,
    store: &'a Store,
    /// `None` when every target was cached at planning time: no daemon is needed then.
    engine: Option<&'a Engine>,
    settings: &'a BuildSettings,
    git: GitContext,
    reporter: &'a dyn Reporter,
    /// Base images pulled, by pinned reference.
    images: Mutex<BTreeMap<String, Arc<OnceCell<String>>>>,
    /// Environment images, by environment key.
    envs: Mutex<BTreeMap<String, Arc<OnceCell<String>>>>,
    stop: AtomicBool,
}

/// Build every target of `targets` that is not in the store (restoring the wheels of
/// those that are), `settings.jobs` at a time. `engine` may be `None` when the plan had
/// nothing to build.
pub async fn build(
    config: &Config,
    targets: &[PlannedTarget<'_>],
    store: &Store,
    engine: Option<&Engine>,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Vec<TargetReport> {
    let run = Run::new(config, store, engine, settings, reporter);
    let permits = Semaphore::new(settings.jobs.max(1));
    let tasks = targets.iter().map(|t| {
        let run = &run;
        let permits = &permits;
        async move {
            let _permit = permits.acquire().await.expect("semaphore open");
            let report = if run.stop.load(Ordering::SeqCst) {
                TargetReport {
                    id: t.spec.id.clone(),
                    key: t.key.clone(),
                    outcome: Outcome::Failed {
                        error: BuildError::Skipped,
                        log: None,
                    },
                    wheels: Vec::new(),
                }
            } else {
                run.target(t).await
            };
            if matches!(report.outcome, Outcome::Failed { .. }) && !run.settings.keep_going {
                run.stop.store(true, Ordering::SeqCst);
            }
            run.reporter.finished(&report);
            report
        }
    });
    futures::stream::iter(tasks)
        .buffered(settings.jobs.max(1))
        .collect()
        .await
}

/// Result of rebuilding a cached target to check it is reproducible.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub id: String,
    pub key: BuildKey,
    /// Wheel file → what differs inside it; empty when every wheel is byte-identical.
    pub differences: BTreeMap<String, WheelDifference>,
}

#[derive(Debug, Serialize)]
pub struct WheelDifference {
    pub stored_sha256: String,
    pub rebuilt_sha256: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Same files with the same contents; only zip metadata (times, order) differs.
    pub metadata_only: bool,
}

/// Rebuild `target` (which must be in the store) in a fresh container and compare its
/// wheels with the stored ones.
pub async fn verify(
    config: &Config,
    target: &PlannedTarget<'_>,
    store: &Store,
    engine: &Engine,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<VerifyReport, (BuildError, Option<PathBuf>)> {
    let record = store
        .record(&target.key)
        .map_err(|e| (e.into(), None))?
        .ok_or_else(|| {
            (
                BuildError::Io {
                    what: format!("{} is not in the store", target.spec.id),
                    detail: "build it first".into(),
                },
                None,
            )
        })?;
    let run = Run::new(config, store, Some(engine), settings, reporter);
    let staging = store.stage().map_err(|e| (e.into(), None))?;
    let log = settings
        .log_dir
        .join(format!("{}.verify.log", target.spec.id));
    let built = run
        .build_into(target, &target.inputs(config), &staging, &log)
        .await
        .map_err(|e| (e, Some(log.clone())))?;
    let stored_dir = store.key_dir(&target.key).join("wheels");
    let mut differences = BTreeMap::new();
    for w in &record.wheels {
        let rebuilt = built.wheels.iter().find(|r| r.file == w.file);
        if rebuilt.is_some_and(|r| r.sha256 == w.sha256) {
            continue;
        }
        let mut diff = WheelDifference {
            stored_sha256: w.sha256.clone(),
            rebuilt_sha256: rebuilt.map(|r| r.sha256.clone()),
            added: vec![],
            removed: vec![],
            changed: vec![],
            metadata_only: false,
        };
        if rebuilt.is_some() {
            let d = wheel::diff_wheels(
                &stored_dir.join(&w.file),
                &staging.wheels_dir().join(&w.file),
            )
            .map_err(|e| (e.into(), Some(log.clone())))?;
            diff.added = d.added;
            diff.removed = d.removed;
            diff.changed = d.changed;
            diff.metadata_only = d.metadata_only;
        }
        differences.insert(w.file.clone(), diff);
    }
    for r in &built.wheels {
        if !record.wheels.iter().any(|w| w.file == r.file) {
            differences.insert(
                r.file.clone(),
                WheelDifference {
                    stored_sha256: String::new(),
                    rebuilt_sha256: Some(r.sha256.clone()),
                    added: vec![],
                    removed: vec![],
                    changed: vec![],
                    metadata_only: false,
                },
            );
        }
    }
    Ok(VerifyReport {
        id: target.spec.id.clone(),
        key: target.key.clone(),
        differences,
    })
}

/// What one container build produced (in a staging directory).
struct Built {
    wheels: Vec<WheelRecord>,
    duration: Duration,
    ccache: Option<CacheStats>,
}

impl<'a> Run<'a> {
    fn new(
        config: &'a Config,
        store: &'a Store,
        engine: Option<&'a Engine>,
        settings: &'a BuildSettings,
        reporter: &'a dyn Reporter,
    ) -> Self {
        Run {
            config,
            store,
            engine,
            settings,
            // Waits are not reported: the progress display shows the fetching target.
            git: GitContext {
                root: config.root.clone(),
                mirrors: settings.cache_dir.join("git"),
                network: settings.network,
                on_wait: None,
            },
            reporter,
            images: Mutex::default(),
            envs: Mutex::default(),
            stop: AtomicBool::new(false),
        }
    }

    async fn target(&self, t: &PlannedTarget<'_>) -> TargetReport {
        let id = t.spec.id.clone();
        let log = self.settings.log_dir.join(format!("{id}.log"));
        let result = self.target_inner(t, &log).await;
        let (outcome, wheels) = match result {
            Ok((outcome, wheels)) => (outcome, wheels),
            Err(error) => {
                let log = log.exists().then_some(log);
                (Outcome::Failed { error, log }, Vec::new())
            }
        };
        TargetReport {
            id,
            key: t.key.clone(),
            outcome,
            wheels,
        }
    }

    async fn target_inner(
        &self,
        t: &PlannedTarget<'_>,
        log: &Path,
    ) -> Result<(Outcome, Vec<PathBuf>), BuildError> {
        // One process builds a key at a time; a second one waits, then finds it cached.
        let lock_path = self
            .store
            .root()
            .join("locks")
            .join(format!("{}.lock", t.key));
        let _guard = tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
            .await
            .map_err(|e| io_err("waiting for the build lock", e))?
            .map_err(|e| io_err("taking the build lock", e))?;
        if let Some(record) = self.store.record(&t.key)? {
            let (restored, wheels) = self.place(t, &record)?;
            return Ok((Outcome::Cached { restored }, wheels));
        }
        let staging = self.store.stage()?;
        let inputs = t.inputs(self.config);
        let built = self.build_into(t, &inputs, &staging, log).await?;
        // The log goes with the record.
        let _ = std::fs::copy(log, staging.path().join("build.log"));
        let record = BuildRecord {
            version: STORE_VERSION,
            key: t.key.clone(),
            target: t.spec.id.clone(),
            inputs,
            wheels: built.wheels,
            log: "build.log".into(),
            duration_ms: built.duration.as_millis() as u64,
            ccache: built.ccache.clone(),
            wheelbuild_version: env!("CARGO_PKG_VERSION").into(),
        };
        self.store.commit(staging, &record)?;
        let (_, wheels) = self.place(t, &record)?;
        Ok((
            Outcome::Built {
                duration: built.duration,
                ccache: built.ccache,
            },
            wheels,
        ))
    }

    fn engine(&self) -> Result<&Engine, BuildError> {
        self.engine.ok_or_else(|| {
            BuildError::Docker(DockerError::Unreachable {
                host: "(not connected)".into(),
                detail: "a target left the store after planning; run the build again".into(),
            })
        })
    }

    /// Run the build of `t` and leave its checked wheels in `staging`.
    async fn build_into(
        &self,
        t: &PlannedTarget<'_>,
        inputs: &KeyInputs,
        staging: &crate::store::Staging,
        log: &Path,
    ) -> Result<Built, BuildError> {
        let id = &t.spec.id;
        let engine = self.engine()?;
        let started = Instant::now();
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err("creating the log directory", e))?;
        }
        let mut log_file =
            std::fs::File::create(log).map_err(|e| io_err("creating the build log", e))?;

        self.reporter.phase(id, "pulling image");
        let base = self.base_image(t).await?;
        self.reporter.phase(id, "preparing environment");
        let image = self.env_image(t, &base, inputs).await?;
        self.reporter.phase(id, "fetching sources");
        let src = source::checkout(
            &self.git,
            &self.settings.cache_dir.join("sources"),
            &t.git.url,
            &t.git.commit,
        )
        .await?;

        let accel = t.spec.cell.accel();
        let (ccache_dir, pip_dir) = self.cache_dirs(&accel)?;
        let mut binds = vec![docker::bind(&src.dir, paths::SRC, true)];
        if let Some(d) = &ccache_dir {
            binds.push(docker::bind(d, paths::CCACHE, false));
        }
        if let Some(d) = &pip_dir {
            binds.push(docker::bind(d, paths::PIP, false));
        }
        let env = self.container_env(t.spec, src.epoch, ccache_dir.is_some(), pip_dir.is_some());
        let spec = RunSpec {
            image,
            cmd: vec![
                "sh".into(),
                "-c".into(),
                BUILD_SCRIPT.into(),
                "wheelbuild".into(),
                t.spec.verify.clone().unwrap_or_default(),
                t.spec.build.to_string(),
                t.project.subdir.clone().unwrap_or_else(|| ".".into()),
            ],
            env,
            user: Some(format!("{}:{}", self.settings.uid, self.settings.gid)),
            binds,
            network_none: self.settings.network_none,
            gpu: t.project.gpu,
            labels: labels(t),
            hardened: true,
        };
        self.reporter.phase(id, "building");
        let mut ccache = None;
        let mut pending = Vec::new();
        let name = container_name(&t.key);
        let (container, exit) = engine
            .run(&name, &spec, |chunk| {
                let _ = log_file.write_all(chunk);
                pending.extend_from_slice(chunk);
                while let Some(n) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=n).collect();
                    let line = String::from_utf8_lossy(&line);
                    let line = line.trim_end();
                    if let Some(stats) = parse_ccache(line) {
                        ccache = Some(stats);
                    }
                    self.reporter.output(id, line);
                }
            })
            .await?;
        let result = match exit {
            0 => self.collect(&container, t, staging).await,
            VERIFY_FAILED if t.spec.verify.is_some() => Err(BuildError::VerifyFailed {
                command: t.spec.verify.clone().unwrap_or_default(),
            }),
            code => Err(BuildError::Failed { code }),
        };
        let removed = engine.remove(&container).await;
        // A container removed by Ctrl-C ends with status 137: that is no build failure.
        if engine.live.interrupted() {
            return Err(BuildError::Interrupted);
        }
        let wheels = result?;
        removed?;
        Ok(Built {
            wheels,
            duration: started.elapsed(),
            ccache,
        })
    }

    /// Take the wheels out of the container's output directory and check each.
    async fn collect(
        &self,
        container: &str,
        t: &PlannedTarget<'_>,
        staging: &crate::store::Staging,
    ) -> Result<Vec<WheelRecord>, BuildError> {
        // Spool the archive to disk: wheels of CUDA projects run to hundreds of MB.
        let tar_path = staging.path().join("out.tar");
        {
            let mut file = tokio::fs::File::create(&tar_path)
                .await
                .map_err(|e| io_err("spooling the output archive", e))?;
            let mut stream = std::pin::pin!(self.engine()?.download(container, paths::OUT));
            while let Some(chunk) = stream.next().await {
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk?)
                    .await
                    .map_err(|e| io_err("spooling the output archive", e))?;
            }
            tokio::io::AsyncWriteExt::flush(&mut file)
                .await
                .map_err(|e| io_err("spooling the output archive", e))?;
        }
        let wheels_dir = staging.wheels_dir();
        let python = t.spec.cell.get("python").unwrap_or_default().to_string();
        let platform = t.spec.image.platform.wheel_tag().unwrap_or_default();
        let records =
            tokio::task::spawn_blocking(move || -> Result<Vec<WheelRecord>, BuildError> {
                let file = std::fs::File::open(&tar_path)
                    .map_err(|e| io_err("reading the output archive", e))?;
                let names =
                    wheel::extract_wheels(std::io::BufReader::new(file), &wheels_dir, 16 << 30)?;
                let _ = std::fs::remove_file(&tar_path);
                if names.is_empty() {
                    return Err(BuildError::NoWheel);
                }
                let mut records = Vec::new();
                for name in names {
                    let info = wheel::verify_wheel(&wheels_dir.join(&name))?;
                    info.name
                        .fits(&python, &platform)
                        .map_err(|e| BuildError::WrongWheel {
                            file: name.clone(),
                            detail: e.to_string(),
                        })?;
                    records.push(WheelRecord {
                        file: name,
                        sha256: info.sha256,
                        size: info.size,
                    });
                }
                Ok(records)
            })
            .await
            .map_err(|e| io_err("checking wheels", e))??;
        Ok(records)
    }

    /// The base image, by digest; pulled once per run however many targets use it.
    async fn base_image(&self, t: &PlannedTarget<'_>) -> Result<String, BuildError> {
        let pinned = t.image.pinned();
        let cell = self
            .images
            .lock()
            .await
            .entry(pinned.clone())
            .or_default()
            .clone();
        let id = cell
            .get_or_try_init(|| async {
                let name = t.image.name.clone();
                let registry = docker::registry_of(&name).to_string();
                let credentials =
                    tokio::task::spawn_blocking(move || docker::credentials(&registry))
                        .await
                        .ok()
                        .flatten();
                self.engine()?
                    .ensure_image(&name, &t.image.manifest_digest, credentials)
                    .await
                    .map_err(BuildError::from)
            })
            .await?;
        Ok(id.clone())
    }

    /// The environment image (base + apt + pip + wheelbuild's directories), built once
    /// per environment key and reused across runs unless `--rebuild-env`.
    async fn env_image(
        &self,
        t: &PlannedTarget<'_>,
        base: &str,
        inputs: &KeyInputs,
    ) -> Result<String, BuildError> {
        // The tag covers the setup script too, so changing it never reuses an old image.
        let key = blake3::Hasher::new()
            .update(inputs.env_key().as_bytes())
            .update(ENV_SCRIPT.as_bytes())
            .finalize()
            .to_hex()
            .to_string();
        let tag = format!("wheelbuild-env:{}", &key[..32]);
        let cell = self
            .envs
            .lock()
            .await
            .entry(key.clone())
            .or_default()
            .clone();
        let image = cell
            .get_or_try_init(|| async {
                let engine = self.engine()?;
                if !self.settings.rebuild_env && engine.image_exists(&tag).await {
                    return Ok::<_, BuildError>(tag.clone());
                }
                let log_path = self
                    .settings
                    .log_dir
                    .join(format!("env-{}.log", &key[..16]));
                let mut log = std::fs::File::create(&log_path)
                    .map_err(|e| io_err("creating the environment log", e))?;
                let accel = t.spec.cell.accel();
                let (_, pip_dir) = self.cache_dirs(&accel)?;
                let spec = RunSpec {
                    image: base.to_string(),
                    cmd: vec![
                        "sh".into(),
                        "-c".into(),
                        ENV_SCRIPT.into(),
                        "wheelbuild-env".into(),
                        inputs.apt.join(" "),
                        inputs.pip.join(" "),
                    ],
                    env: vec![
                        "PIP_BREAK_SYSTEM_PACKAGES=1".into(),
                        "PIP_DISABLE_PIP_VERSION_CHECK=1".into(),
                    ],
                    user: Some("0:0".into()),
                    binds: pip_dir
                        .iter()
                        .map(|d| docker::bind(d, paths::PIP, false))
                        .collect(),
                    network_none: false,
                    gpu: false,
                    labels: labels(t),
                    hardened: false,
                };
                let id = &t.spec.id;
                let (container, exit) = engine
                    .run(
                        &format!("wheelbuild-env-{}-{}", &key[..12], std::process::id()),
                        &spec,
                        |chunk| {
                            let _ = log.write_all(chunk);
                            for line in String::from_utf8_lossy(chunk).lines() {
                                self.reporter.output(id, line);
                            }
                        },
                    )
                    .await?;
                let result = match exit {
                    0 => engine
                        .commit(&container, "wheelbuild-env", &key[..32])
                        .await
                        .map_err(Into::into),
                    code => Err(BuildError::EnvFailed { code }),
                };
                engine.remove(&container).await?;
                result.map(|()| tag.clone())
            })
            .await?;
        Ok(image.clone())
    }

    /// ccache and pip cache directories of this run's channel and `accel`: caches never
    /// cross a release channel or a CUDA/ROCm variant.
    fn cache_dirs(&self, accel: &Accel) -> Result<(Option<PathBuf>, Option<PathBuf>), BuildError> {
        let s = self.settings;
        let variant = accel.to_string();
        let make = |kind: &str| -> Result<PathBuf, BuildError> {
            let dir = s.cache_dir.join(kind).join(&s.channel).join(&variant);
            std::fs::create_dir_all(&dir).map_err(|e| io_err("creating a cache directory", e))?;
            share_with_build_user(&dir, s.uid, s.gid)
                .map_err(|e| io_err("preparing a cache directory", e))?;
            Ok(dir)
        };
        Ok((
            if s.ccache {
                Some(make("ccache")?)
            } else {
                None
            },
            if s.pip_cache {
                Some(make("pip")?)
            } else {
                None
            },
        ))
    }

    fn container_env(&self, spec: &TargetSpec, epoch: i64, ccache: bool, pip: bool) -> Vec<String> {
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !spec.env.iter().any(|(k, _)| k == "MAX_JOBS") {
            env.push(format!("MAX_JOBS={}", self.settings.max_jobs));
        }
        env.push(format!("SOURCE_DATE_EPOCH={epoch}"));
        env.push(format!("WHEELBUILD_OUT={}", paths::OUT));
        env.push(format!("HOME={}", paths::HOME));
        if ccache {
            env.push("WHEELBUILD_CCACHE=1".into());
        }
        if pip {
            env.push(format!("PIP_CACHE_DIR={}", paths::PIP));
        }
        env
    }

    /// Put the wheels of `record` into the wheelhouse (copies from the store, each
    /// renamed into place); returns how many were missing and their paths.
    ///
    /// Beside each wheel, `<wheel>.wheelbuild.json` stamps the key that made it, and the
    /// size and mtime the wheel had when placed: a wheel that still has them is not
    /// hashed again (a no-op build must not read every wheel).
    fn place(
        &self,
        t: &PlannedTarget<'_>,
        record: &BuildRecord,
    ) -> Result<(usize, Vec<PathBuf>), BuildError> {
        #[derive(Serialize, serde::Deserialize, PartialEq)]
        struct Stamp {
            key: BuildKey,
            target: String,
            sha256: String,
            size: u64,
            mtime_ns: u128,
            record: PathBuf,
        }
        let dir = self.settings.output_dir.join(&t.spec.output_subdir);
        let from = self.store.key_dir(&t.key).join("wheels");
        let mut restored = 0;
        let mut paths = Vec::new();
        for w in &record.wheels {
            let dest = dir.join(&w.file);
            let stamp_path = dir.join(format!("{}.wheelbuild.json", w.file));
            let stamp: Option<Stamp> = std::fs::read(&stamp_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let on_disk = std::fs::metadata(&dest)
                .ok()
                .map(|m| (m.len(), mtime_ns(&m)));
            let unchanged = matches!((&stamp, on_disk), (Some(s), Some((size, mtime)))
                if s.key == t.key && s.sha256 == w.sha256 && s.size == size && s.mtime_ns == mtime);
            if unchanged {
                paths.push(dest);
                continue;
            }
            let current = on_disk
                .and_then(|_| std::fs::read(&dest).ok())
                .map(|b| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)));
            if current.as_deref() != Some(w.sha256.as_str()) {
                let bytes = std::fs::read(from.join(&w.file))
                    .map_err(|e| io_err("reading a stored wheel", e))?;
                crate::fsutil::write_atomic(&dest, &bytes)
                    .map_err(|e| io_err("placing a wheel", e))?;
                restored += 1;
            }
            let meta = std::fs::metadata(&dest).map_err(|e| io_err("placing a wheel", e))?;
            let stamp = Stamp {
                key: t.key.clone(),
                target: t.spec.id.clone(),
                sha256: w.sha256.clone(),
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
                record: std::path::absolute(self.store.record_path(&t.key))
                    .unwrap_or_else(|_| self.store.record_path(&t.key)),
            };
            let text = serde_json::to_string_pretty(&stamp).expect("stamp serializes") + "\n";
            crate::fsutil::write_atomic(&stamp_path, text.as_bytes())
                .map_err(|e| io_err("writing a wheel stamp", e))?;
            paths.push(dest);
        }
        Ok((restored, paths))
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn labels(t: &PlannedTarget<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (docker::LABEL.to_string(), "1".to_string()),
        (format!("{}.target", docker::LABEL), t.spec.id.clone()),
        (format!("{}.key", docker::LABEL), t.key.0.clone()),
        (
            format!("{}.pid", docker::LABEL),
            std::process::id().to_string(),
        ),
    ])
}

/// A container name unique to this process and key.
fn container_name(key: &BuildKey) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "wheelbuild-{}-{}-{}",
        key.short(),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// `::wheelbuild:: ccache hits=N misses=M`, as the build script prints it.
fn parse_ccache(line: &str) -> Option<CacheStats> {
    let rest = line.strip_prefix("::wheelbuild:: ccache ")?;
    let mut stats = CacheStats::default();
    for part in rest.split_whitespace() {
        match part.split_once('=')? {
            ("hits", n) => stats.hits = n.parse().ok()?,
            ("misses", n) => stats.misses = n.parse().ok()?,
            _ => {}
        }
    }
    Some(stats)
}

/// Let the (non-root) build user write a cache directory: hand it over when we are root,
/// else open it up (the cache is the invoking user's own).
fn share_with_build_user(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir)?;
    if std::os::unix::fs::MetadataExt::uid(&meta) == uid {
        return Ok(());
    }
    if std::os::unix::fs::chown(dir, Some(uid), Some(gid)).is_err() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    }
    Ok(())
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
    fn ccache_marker_parses() {
        assert_eq!(
            parse_ccache("::wheelbuild:: ccache hits=3 misses=1"),
            Some(CacheStats { hits: 3, misses: 1 })
        );
        assert_eq!(parse_ccache("ccache hits=3"), None);
        assert_eq!(parse_ccache("::wheelbuild:: ccache hits=x misses=1"), None);
    }

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
