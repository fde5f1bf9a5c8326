//! One target's build container, made from its [`BuildSpec`] alone: image, environment,
//! sources and caches in; the toolchain check and the build command run; wheels out into
//! a staging directory. Nothing here names the config, the plan or the lock's pins (a test
//! checks), so a build runs what its key covers and what [`NonKey`] says changes no byte.
//!
//! [`NonKey`]: super::spec::NonKey

pub(super) mod caches;
mod collect;
pub(super) mod images;
pub(super) mod test;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::compiler_cache::{CompilerCache, SETTINGS_PATH};
use super::spec::BuildSpec;
use super::{
    BuildError, BuildSettings, REPAIR_FAILED, Reporter, TOOLCHAIN_CHECK_FAILED,
    UNLOCKED_REQUIREMENT, io_err, paths, source,
};
use crate::docker::access::Step;
use crate::docker::owner::labels;
use crate::docker::{ContainerConfig, Engine};
use crate::key::BuildKey;
use crate::recipe::{
    BUILD_SCRIPT, ConfigSettings, REPAIR_SCRIPT, REQUIRES_SCRIPT, REQUIRES_VAR, build_command,
    checked_command,
};
use crate::resolve::git::GitContext;
use crate::store::{CacheStats, CompilerStats, Staging, Store, WheelRecord};
use caches::Caches;
use images::{EnvSpec, Images};

/// What one container build produced (in a staging directory).
pub(super) struct Built {
    pub wheels: Vec<WheelRecord>,
    pub duration: Duration,
    pub ccache: Option<CacheStats>,
    /// `::wheelbuild:: fact NAME=VALUE` lines of the build's output.
    pub facts: BTreeMap<String, String>,
}

/// Builds containers on one engine.
pub(super) struct Builder<'a> {
    engine: &'a Engine,
    settings: &'a BuildSettings,
    reporter: &'a dyn Reporter,
    /// Waits are not reported: the progress display shows the fetching target.
    git: GitContext,
    images: Images<'a>,
    /// Whether the remote compiler cache answered this run's probe (made once, by the
    /// first build that would use it).
    compiler_cache: tokio::sync::OnceCell<bool>,
}

impl<'a> Builder<'a> {
    /// A builder on `engine` for the store `store` of the config in `root`.
    pub fn new(
        engine: &'a Engine,
        settings: &'a BuildSettings,
        store: &Store,
        reporter: &'a dyn Reporter,
        root: &Path,
    ) -> Builder<'a> {
        Builder {
            engine,
            settings,
            reporter,
            git: GitContext {
                root: root.to_path_buf(),
                mirrors: settings.cache_dir.join("git"),
                network: settings.network,
                on_wait: None,
            },
            images: Images::new(engine, settings, store, reporter),
            compiler_cache: tokio::sync::OnceCell::new(),
        }
    }

    /// Run the build `spec` says and leave its checked wheels in `staging`.
    pub async fn build(
        &self,
        spec: &BuildSpec<'_>,
        staging: &Staging,
    ) -> Result<Built, BuildError> {
        let (inputs, id) = (&spec.inputs, spec.non_key.id);
        let engine = self.engine;
        let started = Instant::now();
        let log = spec.non_key.log;
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err("creating the log directory", e))?;
        }
        let mut log_file =
            std::fs::File::create(log).map_err(|e| io_err("creating the build log", e))?;

        self.reporter.phase(id, "pulling image");
        let pulling = |p: &crate::docker::PullProgress| {
            self.reporter.progress(id, &format!("pulling image: {p}"));
        };
        let base = self
            .images
            .base(spec.non_key.image_repository, &spec.inputs.image, &pulling)
            .await?;
        self.reporter.phase(id, "preparing environment");
        let image = self
            .images
            .environment(&EnvSpec::of_build(spec), &base)
            .await?;
        self.reporter.phase(id, "fetching sources");
        let src = source::checkout(
            &self.git,
            &self.settings.cache_dir.join("sources"),
            spec.non_key.git_url,
            &inputs.source.commit,
        )
        .await?;

        let caches = if spec.non_key.fresh_caches {
            Caches::fresh(self.settings)
        } else {
            Caches::named(engine, self.settings, &spec.accel()).await?
        };
        let env = self.container_env(spec, src.epoch, &caches);
        let toolchain_check = inputs.toolchain_check.as_deref().unwrap_or_default();
        let no_settings = ConfigSettings::new();
        let settings = inputs.config_settings.as_deref().unwrap_or(&no_settings);
        let command = build_command(&inputs.build, settings);
        let command = match &inputs.requires_check {
            Some(check) => checked_command(&command, &check.backend, settings),
            None => command.into_owned(),
        };
        let mut cmd = vec![
            "sh".into(),
            "-c".into(),
            BUILD_SCRIPT.into(),
            "wheelbuild".into(),
            toolchain_check.to_string(),
            command,
            inputs.source.subdir.as_deref().unwrap_or(".").to_string(),
        ];
        if let Some(repair) = &inputs.repair {
            cmd.push(manylinux_tag(spec)?);
            cmd.push(REPAIR_SCRIPT.into());
            cmd.extend(repair.exclude.iter().cloned());
        }
        let (uid, gid) = (self.settings.uid, self.settings.gid);
        let mut config = ContainerConfig {
            image,
            platform: inputs.image.platform.to_string(),
            cmd,
            env,
            user: Some(format!("{uid}:{gid}")),
            binds: Vec::new(),
            volumes: Vec::new(),
            // The checkout, as the read-only bind mount showed it: sent through the
            // engine's API, which works whichever machine the engine is on.
            upload: source::upload(&src),
            network: self.settings.access.network_mode(Step::Build),
            gpu: inputs.gpu,
            labels: labels(id, &spec.key.0),
            hardened: true,
        };
        config.upload.extend(self.settings.access.upload());
        caches.mount(&mut config, Some((uid, gid)));
        let remote = match caches.ccache {
            Some(_) => self.compiler_cache(id).await,
            None => None,
        };
        if let Some(cache) = remote {
            let settings = cache.settings_file(&spec.accel().to_string());
            config.upload.secret_for(settings, SETTINGS_PATH, uid, gid);
        }
        self.reporter.phase(id, "building");
        let mut ccache = None;
        let mut facts = BTreeMap::new();
        let mut unlocked = None;
        let mut lines = LogLines::default();
        let name = container_name(spec.key);
        let (container, exit) = engine
            .run(&name, &config, |chunk| {
                let _ = log_file.write_all(chunk);
                lines.feed(chunk, |line| {
                    if let Some(requirement) =
                        line.strip_prefix("::wheelbuild:: unlocked build requirement: ")
                    {
                        unlocked = Some(requirement.to_string());
                    }
                    parse_ccache(line, &mut ccache);
                    if let Some((k, v)) = line
                        .strip_prefix("::wheelbuild:: fact ")
                        .and_then(|f| f.split_once('='))
                        && !v.is_empty()
                    {
                        facts.insert(k.to_string(), v.to_string());
                    }
                    self.reporter.output(id, line);
                });
            })
            .await?;
        let result = match exit {
            0 => collect::collect(engine, &container, spec, staging).await,
            TOOLCHAIN_CHECK_FAILED if inputs.toolchain_check.is_some() => {
                Err(BuildError::ToolchainCheckFailed {
                    command: toolchain_check.to_string(),
                })
            }
            REPAIR_FAILED if inputs.repair.is_some() => Err(BuildError::RepairFailed {
                code: REPAIR_FAILED,
            }),
            UNLOCKED_REQUIREMENT if let Some(requirement) = unlocked => {
                Err(BuildError::UnlockedRequirement {
                    project: spec.non_key.in_project.to_string(),
                    requirement,
                })
            }
            code => Err(BuildError::Failed { code }),
        };
        let removed = engine.remove(&container).await;
        // A container removed by Ctrl-C ends with status 137: that is no build failure.
        if engine.live.interrupted() {
            return Err(BuildError::Interrupted);
        }
        let collected = result?;
        removed?;
        for w in &collected.warnings {
            self.reporter.warning(id, w);
        }
        let failed: u64 = ccache
            .iter()
            .flat_map(|c| c.compilers.values())
            .map(|c| c.remote_errors)
            .sum();
        if let (Some(cache), 1..) = (remote, failed) {
            self.reporter.warning(
                id,
                &format!(
                    "remote compiler cache {}: {failed} lookup(s) failed (the server went down, \
                     was slow or refused): those units were compiled here",
                    cache.server()
                ),
            );
        }
        Ok(Built {
            wheels: collected.wheels,
            duration: started.elapsed(),
            ccache,
            facts,
        })
    }

    /// The remote compiler cache when it answers (probed once per run: a server that is
    /// down or refuses is a warning, and builds go on without it).
    async fn compiler_cache(&self, id: &str) -> Option<&CompilerCache> {
        let cache = self.settings.compiler_cache.as_deref()?;
        let usable = self
            .compiler_cache
            .get_or_init(|| async {
                if self.settings.access.network_mode(Step::Build).as_deref() == Some("none") {
                    self.reporter.warning(
                        id,
                        &format!(
                            "remote compiler cache {} is not used: builds have no network \
                             (`[build] network = \"none\"`)",
                            cache.server()
                        ),
                    );
                    return false;
                }
                match cache.probe().await {
                    Ok(()) => true,
                    Err(e) => {
                        self.reporter
                            .warning(id, &format!("{e}; building without it"));
                        false
                    }
                }
            })
            .await;
        usable.then_some(cache)
    }

    /// The build's variables, then those wheelbuild sets.
    fn container_env(&self, spec: &BuildSpec<'_>, epoch: i64, caches: &Caches) -> Vec<String> {
        let vars = spec.env();
        let mut env: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !vars.iter().any(|(k, _)| *k == "MAX_JOBS") {
            env.push(format!("MAX_JOBS={}", spec.non_key.max_jobs));
        }
        env.push(format!("SOURCE_DATE_EPOCH={epoch}"));
        env.push(format!("WHEELBUILD_OUT={}", paths::OUT));
        env.push(format!("HOME={}", paths::HOME));
        env.extend(self.settings.access.env().iter().cloned());
        if caches.ccache.is_some() {
            env.push("WHEELBUILD_CCACHE=1".into());
        }
        if caches.pip.is_some() {
            env.push(format!("PIP_CACHE_DIR={}", paths::PIP));
        }
        if spec.inputs.requires_check.is_some() {
            env.push(format!("{REQUIRES_VAR}={REQUIRES_SCRIPT}"));
        }
        env
    }
}

/// The manylinux tag repair aims at: `manylinux_<glibc>_<arch>` for the image's glibc
/// (auditwheel checks that the wheel's symbols fit it).
fn manylinux_tag(spec: &BuildSpec<'_>) -> Result<String, BuildError> {
    let glibc = spec
        .glibc
        .filter(|v| {
            let mut parts = v.split('.');
            parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
                && parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
                && parts.next().is_none()
        })
        .ok_or(BuildError::RepairWithoutGlibc)?;
    // No manylinux tag exists for a platform without a Linux wheel tag.
    let platform = spec
        .wheel_platform()
        .ok_or_else(|| BuildError::RepairUnsupportedPlatform {
            platform: spec.inputs.image.platform.to_string(),
        })?;
    let arch = platform.strip_prefix("linux_").unwrap_or(&platform);
    Ok(format!("manylinux_{}_{arch}", glibc.replace('.', "_")))
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

/// `::wheelbuild:: ccache hits=N misses=M` (the build's) and `::wheelbuild:: ccache
/// compiler=NAME hits=N misses=M remote-hits=N remote-errors=N` (one compiler's), as the
/// build script prints them, added to `stats`.
fn parse_ccache(line: &str, stats: &mut Option<CacheStats>) -> Option<()> {
    let rest = line.strip_prefix("::wheelbuild:: ccache ")?;
    let mut fields = BTreeMap::new();
    for part in rest.split_whitespace() {
        let (k, v) = part.split_once('=')?;
        fields.insert(k, v);
    }
    let n = |k: &str| fields.get(k).map_or(Some(0), |v| v.parse::<u64>().ok());
    let (hits, misses) = (n("hits")?, n("misses")?);
    match fields.get("compiler") {
        Some(name) => {
            let c = CompilerStats {
                hits,
                misses,
                remote_hits: n("remote-hits")?,
                remote_errors: n("remote-errors")?,
            };
            let stats = stats.get_or_insert_with(CacheStats::default);
            stats.compilers.insert(name.to_string(), c);
        }
        None => {
            let stats = stats.get_or_insert_with(CacheStats::default);
            (stats.hits, stats.misses) = (hits, misses);
        }
    }
    Some(())
}

/// A container's output cut into lines as its chunks arrive (a line may span chunks).
#[derive(Default)]
pub(super) struct LogLines {
    pending: Vec<u8>,
}

impl LogLines {
    /// Hands each line that `chunk` completes to `each`, without its line ending.
    pub(super) fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(&str)) {
        self.pending.extend_from_slice(chunk);
        while let Some(n) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=n).collect();
            each(String::from_utf8_lossy(&line).trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_span_chunks_and_lose_their_endings() {
        let mut lines = LogLines::default();
        let mut seen = Vec::new();
        for chunk in [&b"::wheelbuild:: fa"[..], b"ct glibc=2.36\r\nnext", b"\n"] {
            lines.feed(chunk, |l| seen.push(l.to_string()));
        }
        assert_eq!(seen, ["::wheelbuild:: fact glibc=2.36", "next"]);
    }

    #[test]
    fn ccache_markers_parse_per_compiler() {
        let mut stats = None;
        for line in [
            "::wheelbuild:: ccache compiler=g++ hits=12 misses=2 remote-hits=11 remote-errors=0",
            "::wheelbuild:: ccache compiler=nvcc hits=3 misses=1 remote-hits=3 remote-errors=1",
            "::wheelbuild:: ccache hits=15 misses=3",
            "ccache hits=3",
        ] {
            parse_ccache(line, &mut stats);
        }
        let stats = stats.unwrap();
        assert_eq!((stats.hits, stats.misses), (15, 3));
        assert_eq!(
            stats.compilers["nvcc"],
            CompilerStats {
                hits: 3,
                misses: 1,
                remote_hits: 3,
                remote_errors: 1
            }
        );
        assert_eq!(stats.compilers.len(), 2);
        let mut none = None;
        parse_ccache("::wheelbuild:: ccache hits=x misses=1", &mut none);
        parse_ccache(
            "::wheelbuild:: ccache compiler=gcc hits=1 misses=-1",
            &mut none,
        );
        assert_eq!(none, None);
    }
}
