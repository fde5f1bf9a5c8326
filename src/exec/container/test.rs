//! One test container, made from its [`TestSpec`] alone: the test environment image (the
//! image and the lock's test pins), the stored wheels with their digests, the project's
//! sources, and the test command run by [`TEST_SCRIPT`] as the build's non-root user.

use std::io::Write as _;
use std::path::Path;

use super::Builder;
use super::images::EnvSpec;
use crate::accel::Accel;
use crate::docker::ContainerConfig;
use crate::docker::access::Step;
use crate::docker::owner::labels;
use crate::exec::{BuildError, io_err, source};
use crate::key::ImageKey;
use crate::lock::PipPin;
use crate::recipe::{TEST_PROJECT_DIR, TEST_SCRIPT};

/// Exit status of the test script when `pip check` finds a requirement of a tested wheel
/// that the test environment lacks.
const UNMET_REQUIREMENT: i64 = 92;

/// Where a test container has the wheels, the scratch directory it runs in, and its home.
const WHEELS_DIR: &str = "/wheelbuild/wheels";
const SCRATCH_DIR: &str = "/wheelbuild/test";
const HOME_DIR: &str = "/wheelbuild/home";

/// Everything one test container is made of: what the test key covers, and where things
/// come from (the repository, the URL: the digest and the commit are what runs).
pub(in crate::exec) struct TestSpec<'a> {
    /// The target's id (labels, progress) and the test key (labels, container name).
    pub id: &'a str,
    pub key: &'a str,
    pub image: &'a ImageKey<'a>,
    pub image_repository: &'a str,
    /// The test environment's pins (empty: the image as it is).
    pub pip: &'a [PipPin],
    pub accel: Accel,
    pub git_url: &'a str,
    pub commit: &'a str,
    pub subdir: Option<&'a str>,
    pub command: &'a str,
    pub sources: &'a [String],
    pub gpu: bool,
    /// The test reaches the package index (`test-network = "index"`); else no network.
    pub index: bool,
    /// The normalized names of the wheels' distributions, for `pip check`.
    pub dists: Vec<String>,
    /// The wheels (copied out of the store, digests checked) and their `SHA256SUMS`.
    pub wheels: &'a Path,
    pub log: &'a Path,
}

impl Builder<'_> {
    /// Runs the test `spec` says; `Ok` with its duration when it passed.
    pub async fn test(&self, spec: &TestSpec<'_>) -> Result<TestRun, BuildError> {
        let (engine, id) = (self.engine, spec.id);
        if let Some(dir) = spec.log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err("creating the log directory", e))?;
        }
        let mut log_file =
            std::fs::File::create(spec.log).map_err(|e| io_err("creating the test log", e))?;
        self.reporter.phase(id, "preparing test environment");
        let pulling = |p: &crate::docker::PullProgress| {
            self.reporter.progress(id, &format!("pulling image: {p}"));
        };
        let base = self
            .images
            .base(spec.image_repository, spec.image, &pulling)
            .await?;
        let image = if spec.pip.is_empty() {
            base
        } else {
            let env = EnvSpec {
                image: spec.image,
                apt: &[],
                pip: spec.pip,
                accel: spec.accel.clone(),
                id,
                key: spec.key,
            };
            self.images.environment(&env, &base).await?
        };
        let src = source::checkout(
            &self.git,
            &self.settings.cache_dir.join("sources"),
            spec.git_url,
            spec.commit,
        )
        .await?;
        let (uid, gid) = (self.settings.uid, self.settings.gid);
        let mut upload = self.settings.access.upload();
        upload.tree(spec.wheels, WHEELS_DIR);
        let project = match spec.subdir {
            Some(subdir) => src.dir.join(subdir),
            None => src.dir.clone(),
        };
        upload.tree(&project, TEST_PROJECT_DIR);
        upload.owned_dir(SCRATCH_DIR, uid, gid);
        upload.owned_dir(HOME_DIR, uid, gid);
        let mut cmd = vec![
            "sh".into(),
            "-c".into(),
            TEST_SCRIPT.into(),
            "wheelbuild-test".into(),
            spec.command.to_string(),
            spec.dists.join(" "),
        ];
        cmd.extend(spec.sources.iter().cloned());
        let mut env = vec![format!("HOME={HOME_DIR}")];
        if spec.gpu {
            // The script then says which GPUs the test sees, for its record.
            env.push("WHEELBUILD_TEST_GPU=1".into());
        }
        let network = if spec.index {
            env.extend(self.settings.access.env().iter().cloned());
            self.settings.access.network_mode(Step::Packages)
        } else {
            Some("none".into())
        };
        let config = ContainerConfig {
            image,
            platform: spec.image.platform.to_string(),
            cmd,
            env,
            user: Some(format!("{uid}:{gid}")),
            binds: Vec::new(),
            volumes: Vec::new(),
            upload,
            network,
            gpu: spec.gpu,
            labels: labels(id, spec.key),
            hardened: true,
        };
        self.reporter.phase(id, "testing");
        let mut unmet = None;
        let mut gpus = Vec::new();
        let mut lines = super::LogLines::default();
        // Unique to this process and test (two targets may share a test key).
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!(
            "wheelbuild-test-{}-{}-{n}",
            &spec.key[..12],
            std::process::id()
        );
        let (container, exit) = engine
            .run(&name, &config, |chunk| {
                let _ = log_file.write_all(chunk);
                lines.feed(chunk, |line| {
                    if let Some(problem) = line.strip_prefix("::wheelbuild:: unmet requirement: ") {
                        unmet.get_or_insert_with(|| problem.to_string());
                    }
                    if let Some(gpu) = gpu_line(line) {
                        gpus.push(gpu.to_string());
                    }
                    self.reporter.output(id, line);
                });
            })
            .await?;
        let removed = engine.remove(&container).await;
        if engine.live.interrupted() {
            return Err(BuildError::Interrupted);
        }
        removed?;
        match exit {
            0 => Ok(TestRun { gpus }),
            UNMET_REQUIREMENT if let Some(problem) = unmet => {
                Err(BuildError::UnmetTestRequirement {
                    requirement: unmet_name(&problem).to_string(),
                    problem,
                    log: spec.log.to_path_buf(),
                })
            }
            code => Err(BuildError::TestFailed {
                code,
                log: spec.log.to_path_buf(),
            }),
        }
    }
}

/// A test that passed (the caller times it).
#[derive(Debug)]
pub struct TestRun {
    /// The GPUs a `test-gpu` test saw (`nvidia-smi`'s name and driver per GPU).
    pub gpus: Vec<String>,
}

/// The GPU a line of the test script names (`::wheelbuild:: gpu: NAME`), at most 200
/// characters of it: the test's own output cannot fill the record.
fn gpu_line(line: &str) -> Option<&str> {
    let gpu = line.strip_prefix("::wheelbuild:: gpu: ")?.trim();
    let end = gpu.char_indices().nth(200).map_or(gpu.len(), |(i, _)| i);
    (!gpu.is_empty()).then(|| &gpu[..end])
}

/// The requirement a `pip check` line names: `hello 0.1 requires six, which is not
/// installed.` or `hello 0.1 has requirement six>=1.17, but you have six 1.16.0.`
fn unmet_name(line: &str) -> &str {
    let rest = line
        .split_once(" requires ")
        .or_else(|| line.split_once(" has requirement "))
        .map_or(line, |(_, rest)| rest);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_lines_name_the_gpu() {
        assert_eq!(
            gpu_line("::wheelbuild:: gpu: NVIDIA H100 80GB HBM3, 550.54.15"),
            Some("NVIDIA H100 80GB HBM3, 550.54.15")
        );
        assert_eq!(gpu_line("::wheelbuild:: gpu: "), None);
        assert_eq!(gpu_line("gpu: H100"), None);
        let long = format!("::wheelbuild:: gpu: {}", "é".repeat(500));
        assert_eq!(gpu_line(&long).map(|g| g.chars().count()), Some(200));
    }

    #[test]
    fn pip_checks_lines_name_the_requirement() {
        assert_eq!(
            unmet_name("hello-cext 0.1.0 requires six, which is not installed."),
            "six"
        );
        assert_eq!(
            unmet_name("hello 0.1 has requirement six>=1.17, but you have six 1.16.0."),
            "six"
        );
    }
}
