//! One target's build container: image, environment, sources and caches in; the toolchain
//! check and the build command run; wheels out into a staging directory.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub(super) mod caches;
mod collect;
pub(super) mod images;

use super::{BuildError, Built, REPAIR_FAILED, Run, TOOLCHAIN_CHECK_FAILED, io_err, paths, source};
use crate::config::Target;
use crate::docker::ContainerConfig;
use crate::docker::access::Step;
use crate::docker::owner::labels;
use crate::key::{BuildKey, KeyInputs};
use crate::plan::PlannedTarget;
use crate::recipe::{BUILD_SCRIPT, REPAIR_SCRIPT};
use crate::store::{CacheStats, Staging};

impl Run<'_> {
    /// Run the build of `t` and leave its checked wheels in `staging`. `fresh_caches`
    /// gives the build new, empty compiler caches (`verify`: a warm ccache would hide a
    /// compiler that does not produce the same bytes twice).
    pub(super) async fn build_into(
        &self,
        t: &PlannedTarget<'_>,
        inputs: &KeyInputs<'_>,
        staging: &Staging,
        log: &Path,
        fresh_caches: bool,
    ) -> Result<Built, BuildError> {
        let id = &t.target.id;
        let engine = self.engine;
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

        let caches = if fresh_caches {
            self.fresh_caches()
        } else {
            self.caches(&t.target.cell.accel).await?
        };
        let env = self.container_env(
            t.target,
            src.epoch,
            caches.ccache.is_some(),
            caches.pip.is_some(),
        );
        let mut cmd = vec![
            "sh".into(),
            "-c".into(),
            BUILD_SCRIPT.into(),
            "wheelbuild".into(),
            t.target.toolchain_check.clone().unwrap_or_default(),
            t.target.build.to_string(),
            t.project.subdir.clone().unwrap_or_else(|| ".".into()),
        ];
        if let Some(repair) = &t.target.repair {
            cmd.push(manylinux_tag(t)?);
            cmd.push(REPAIR_SCRIPT.into());
            cmd.extend(repair.exclude.iter().cloned());
        }
        let (uid, gid) = (self.settings.uid, self.settings.gid);
        let mut config = ContainerConfig {
            image,
            cmd,
            env,
            user: Some(format!("{uid}:{gid}")),
            binds: Vec::new(),
            volumes: Vec::new(),
            // The checkout, as the read-only bind mount showed it: sent through the
            // engine's API, which works whichever machine the engine is on.
            upload: source::upload(&src),
            network: self.settings.access.network_mode(Step::Build),
            gpu: t.project.gpu,
            labels: labels(&t.target.id, &t.key.0),
            hardened: true,
        };
        config.upload.extend(self.settings.access.upload());
        caches.mount(&mut config, Some((uid, gid)));
        self.reporter.phase(id, "building");
        let mut ccache = None;
        let mut facts = BTreeMap::new();
        let mut pending = Vec::new();
        let name = container_name(&t.key);
        let (container, exit) = engine
            .run(&name, &config, |chunk| {
                let _ = log_file.write_all(chunk);
                pending.extend_from_slice(chunk);
                while let Some(n) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=n).collect();
                    let line = String::from_utf8_lossy(&line);
                    let line = line.trim_end();
                    if let Some(stats) = parse_ccache(line) {
                        ccache = Some(stats);
                    }
                    if let Some((k, v)) = line
                        .strip_prefix("::wheelbuild:: fact ")
                        .and_then(|f| f.split_once('='))
                        && !v.is_empty()
                    {
                        facts.insert(k.to_string(), v.to_string());
                    }
                    self.reporter.output(id, line);
                }
            })
            .await?;
        let result = match exit {
            0 => self.collect(&container, t, staging).await,
            TOOLCHAIN_CHECK_FAILED if t.target.toolchain_check.is_some() => {
                Err(BuildError::ToolchainCheckFailed {
                    command: t.target.toolchain_check.clone().unwrap_or_default(),
                })
            }
            REPAIR_FAILED if t.target.repair.is_some() => Err(BuildError::RepairFailed {
                code: REPAIR_FAILED,
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
            facts,
        })
    }

    fn container_env(&self, target: &Target, epoch: i64, ccache: bool, pip: bool) -> Vec<String> {
        let mut env: Vec<String> = target.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !target.env.iter().any(|(k, _)| k == "MAX_JOBS") {
            env.push(format!("MAX_JOBS={}", self.max_jobs));
        }
        env.push(format!("SOURCE_DATE_EPOCH={epoch}"));
        env.push(format!("WHEELBUILD_OUT={}", paths::OUT));
        env.push(format!("HOME={}", paths::HOME));
        env.extend(self.settings.access.env().iter().cloned());
        if ccache {
            env.push("WHEELBUILD_CCACHE=1".into());
        }
        if pip {
            env.push(format!("PIP_CACHE_DIR={}", paths::PIP));
        }
        env
    }
}

/// The manylinux tag repair aims at: `manylinux_<glibc>_<arch>` for the glibc the lock
/// probed in the image (auditwheel checks that the wheel's symbols fit it).
pub(super) fn manylinux_tag(t: &PlannedTarget<'_>) -> Result<String, BuildError> {
    let glibc = t
        .env
        .and_then(|e| e.facts.0.get("glibc"))
        .filter(|v| {
            let mut parts = v.split('.');
            parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
                && parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
                && parts.next().is_none()
        })
        .ok_or(BuildError::RepairWithoutGlibc)?;
    // No manylinux tag exists for a platform without a Linux wheel tag.
    let platform = t.target.image.platform.wheel_tag().ok_or_else(|| {
        BuildError::RepairUnsupportedPlatform {
            platform: t.image.platform.clone(),
        }
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
}
