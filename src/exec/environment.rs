//! The images a build runs in: the base image pulled by digest, and the environment image
//! (base + apt + pip + wheelbuild's directories) built once per environment key.

use std::io::Write as _;

use serde::Serialize;

use super::docker::{self, ContainerConfig};
use super::{BuildError, Run, io_err, paths, run::labels};
use crate::canonical::Context;
use crate::plan::PlannedTarget;
use crate::plan::key::{ImageKey, KeyInputs};

/// The environment image's setup script (`env.sh`), run as root:
/// `sh -c SCRIPT wheelbuild-env APT PIP`.
const ENV_SCRIPT: &str = include_str!("scripts/env.sh");

/// blake3 derive-key context of environment image keys.
static CONTEXT: Context = Context::new("wheelbuild 2026-11-21 environment image");

/// The key of a build environment: base image, apt and pip lists, and the setup script.
/// Targets that share it share one image.
fn env_key(inputs: &KeyInputs<'_>) -> String {
    #[derive(Serialize)]
    struct EnvInputs<'a> {
        image: &'a ImageKey<'a>,
        apt: &'a [String],
        pip: &'a [String],
        script: &'a str,
    }
    CONTEXT
        .hash(&EnvInputs {
            image: &inputs.image,
            apt: &inputs.apt,
            pip: &inputs.pip,
            script: ENV_SCRIPT,
        })
        .to_hex()
        .to_string()
}

impl Run<'_> {
    /// The base image, by digest; pulled once per run however many targets use it.
    pub(super) async fn base_image(&self, t: &PlannedTarget<'_>) -> Result<String, BuildError> {
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
                self.engine
                    .ensure_image(&name, &t.image.manifest_digest, credentials)
                    .await
                    .map_err(BuildError::from)
            })
            .await?;
        Ok(id.clone())
    }

    /// The environment image, built once per environment key and reused across runs
    /// unless `--rebuild-env`. A failed setup names its own log (the target's build log
    /// is empty then).
    pub(super) async fn env_image(
        &self,
        t: &PlannedTarget<'_>,
        base: &str,
        inputs: &KeyInputs<'_>,
    ) -> Result<String, BuildError> {
        let key = env_key(inputs);
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
                let engine = self.engine;
                if !self.settings.rebuild_env && engine.image_exists(&tag).await? {
                    return Ok::<_, BuildError>(tag.clone());
                }
                std::fs::create_dir_all(&self.settings.log_dir)
                    .map_err(|e| io_err("creating the log directory", e))?;
                let log_path = self
                    .settings
                    .log_dir
                    .join(format!("env-{}.log", &key[..16]));
                let mut log = std::fs::File::create(&log_path)
                    .map_err(|e| io_err("creating the environment log", e))?;
                let caches = self.caches(&t.target.cell.accel)?;
                let config = ContainerConfig {
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
                    binds: caches
                        .pip
                        .iter()
                        .map(|d| docker::bind(d, paths::PIP, false))
                        .collect(),
                    network_none: false,
                    gpu: false,
                    labels: labels(&t.target.id, &t.key),
                    hardened: false,
                };
                let id = &t.target.id;
                let (container, exit) = engine
                    .run(
                        &format!("wheelbuild-env-{}-{}", &key[..12], std::process::id()),
                        &config,
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
                    code => Err(BuildError::EnvFailed {
                        code,
                        log: log_path.clone(),
                    }),
                };
                engine.remove(&container).await?;
                result.map(|()| tag.clone())
            })
            .await?;
        Ok(image.clone())
    }
}
