//! The images a build runs in: the base image pulled by digest, and the environment image
//! (base + the lock's apt and pip pins + wheelbuild's directories) built once per
//! environment key.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Mutex, OnceCell};

use super::caches::Caches;
use crate::accel::Accel;
use crate::canonical::Context;
use crate::docker::access::{Access, CA_DIR, Step};
use crate::docker::owner::labels;
use crate::docker::{ContainerConfig, Engine, PullProgress, pull_by_digest};
use crate::exec::spec::BuildSpec;
use crate::exec::{BuildError, BuildSettings, Reporter, io_err};
use crate::key::{ImageKey, KeyInputs};
use crate::lock::{AptPin, PipPin, requirements};
use crate::recipe::{ENV_SCRIPT, PIP_ENV};
use crate::store::Store;

/// The setup's variables (index URLs with their credentials, proxies, CA paths), sourced
/// by [`ENV_SCRIPT`]: a file in the setup container's volume at [`CA_DIR`], never its
/// environment, which Docker keeps in the committed image (as its `container_config`,
/// whatever the commit's config says).
const SETUP_SETTINGS: &str = "/etc/wheelbuild/setup.env";

/// blake3 derive-key context of environment image keys.
static CONTEXT: Context = Context::new("wheelbuild 2026-11-21 environment image");

/// What an environment image is made of, and for whom.
pub(in crate::exec) struct EnvSpec<'a> {
    pub image: &'a ImageKey<'a>,
    pub apt: &'a [AptPin],
    pub pip: &'a [PipPin],
    /// The accelerator variant whose pip cache the setup uses.
    pub accel: Accel,
    /// The target it is made for (progress, labels) and the key labelling it.
    pub id: &'a str,
    pub key: &'a str,
}

impl<'a> EnvSpec<'a> {
    /// The build environment of `spec`.
    pub fn of_build(spec: &'a BuildSpec<'a>) -> EnvSpec<'a> {
        EnvSpec {
            image: &spec.inputs.image,
            apt: &spec.inputs.apt,
            pip: &spec.inputs.pip,
            accel: spec.accel(),
            id: spec.non_key.id,
            key: &spec.key.0,
        }
    }
}

/// The key of a build environment: base image, the apt and pip pins, and the setup
/// script. Targets that share it share one image.
fn env_key(env: &EnvSpec<'_>) -> String {
    #[derive(Serialize)]
    struct EnvInputs<'a> {
        image: &'a ImageKey<'a>,
        apt: &'a [AptPin],
        pip: &'a [PipPin],
        script: &'a str,
    }
    CONTEXT
        .hash(&EnvInputs {
            image: env.image,
            apt: env.apt,
            pip: env.pip,
            script: ENV_SCRIPT,
        })
        .to_hex()
        .to_string()
}

/// Repository of environment images.
pub(in crate::exec) const ENV_REPO: &str = "wheelbuild-env";

/// The label naming the store whose build made an environment image.
pub(in crate::exec) const STORE_LABEL: &str = "org.wheelbuild.store";

/// How [`STORE_LABEL`] names a store: its absolute path.
pub(in crate::exec) fn store_id(root: &std::path::Path) -> String {
    std::path::absolute(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .display()
        .to_string()
}

/// The tag of the environment image of `inputs`: `wheelbuild-env:<key prefix>`.
pub(crate) fn env_tag(inputs: &KeyInputs<'_>) -> String {
    env_tag_of(&inputs.image, &inputs.apt, &inputs.pip)
}

/// The tag of the environment image of `image` with `apt` and `pip` pins (a build's, or
/// a test's with no apt).
pub(crate) fn env_tag_of(image: &ImageKey<'_>, apt: &[AptPin], pip: &[PipPin]) -> String {
    let env = EnvSpec {
        image,
        apt,
        pip,
        accel: Accel::Cpu,
        id: "",
        key: "",
    };
    format!("{ENV_REPO}:{}", &env_key(&env)[..32])
}

/// The images builds run in on one engine, each made once per run however many targets
/// use it: base images pulled, environment images built (or found).
pub(super) struct Images<'a> {
    engine: &'a Engine,
    settings: &'a BuildSettings,
    reporter: &'a dyn Reporter,
    /// The store whose builds these are, as [`STORE_LABEL`] names it.
    store: String,
    /// Base image ids, by `name@digest`.
    base: Mutex<BTreeMap<String, Arc<OnceCell<String>>>>,
    /// Environment image tags, by environment key.
    environments: Mutex<BTreeMap<String, Arc<OnceCell<String>>>>,
}

impl<'a> Images<'a> {
    pub fn new(
        engine: &'a Engine,
        settings: &'a BuildSettings,
        store: &Store,
        reporter: &'a dyn Reporter,
    ) -> Images<'a> {
        Images {
            engine,
            settings,
            reporter,
            store: store_id(store.root()),
            base: Mutex::default(),
            environments: Mutex::default(),
        }
    }

    /// The base image `name@digest` for the platform of `image` (whose digest is `digest`);
    /// `progress` sees a pull advance.
    pub async fn base(
        &self,
        name: &str,
        image: &ImageKey<'_>,
        progress: &(dyn Fn(&PullProgress) + Send + Sync),
    ) -> Result<String, BuildError> {
        let digest = &image.manifest_digest;
        let cell = self
            .base
            .lock()
            .await
            .entry(format!("{name}@{digest}"))
            .or_default()
            .clone();
        let id = cell
            .get_or_try_init(|| async {
                pull_by_digest(self.engine, name, digest, &image.platform, progress)
                    .await
                    .map_err(BuildError::from)
            })
            .await?;
        Ok(id.clone())
    }

    /// The environment image of `env` on `base`, reused across runs unless
    /// `--rebuild-env`. A failed setup names its own log (the target's build log is empty
    /// then).
    pub async fn environment(&self, env: &EnvSpec<'_>, base: &str) -> Result<String, BuildError> {
        let key = env_key(env);
        let tag = format!("{ENV_REPO}:{}", &key[..32]);
        let cell = self
            .environments
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
                let caches = Caches::named(engine, self.settings, &env.accel).await?;
                let mut upload = self.settings.access.upload();
                upload.secret(setup_settings(&self.settings.access), SETUP_SETTINGS);
                let id = env.id;
                let mut config = ContainerConfig {
                    image: base.to_string(),
                    platform: env.image.platform.to_string(),
                    cmd: vec![
                        "sh".into(),
                        "-c".into(),
                        ENV_SCRIPT.into(),
                        "wheelbuild-env".into(),
                        apt_pins(env.apt),
                        requirements(env.pip),
                        SETUP_SETTINGS.into(),
                    ],
                    // The image's own: this container becomes the environment image.
                    env: Vec::new(),
                    user: Some("0:0".into()),
                    binds: Vec::new(),
                    // The settings and the CA bundle go into a volume, out of the image.
                    volumes: vec![CA_DIR.into()],
                    upload,
                    network: self.settings.access.network_mode(Step::Packages),
                    gpu: false,
                    // Inherited by the image: `gc` of this store collects only its own.
                    labels: {
                        let mut l = labels(id, env.key);
                        l.insert(STORE_LABEL.into(), self.store.clone());
                        l
                    },
                    hardened: false,
                };
                // Only pip's cache: root needs no owner (env.sh keeps its own part).
                let pip = Caches {
                    ccache: None,
                    pip: caches.pip,
                };
                pip.mount(&mut config, None);
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
                        .commit(&container, ENV_REPO, &key[..32], base)
                        .await
                        .map_err(Into::into),
                    code => Err(pin_failure(&log_path).unwrap_or(BuildError::EnvFailed {
                        code,
                        log: log_path.clone(),
                    })),
                };
                engine.remove(&container).await?;
                result.map(|()| tag.clone())
            })
            .await?;
        Ok(image.clone())
    }
}

/// The setup's variables as `NAME='value'` lines for `sh` to source.
fn setup_settings(access: &Access) -> Vec<u8> {
    PIP_ENV
        .iter()
        .copied()
        .chain(access.env().iter().map(String::as_str))
        .filter_map(|e| e.split_once('='))
        .map(|(name, value)| format!("{name}='{}'\n", value.replace('\'', r"'\''")))
        .collect::<String>()
        .into_bytes()
}

/// apt's arguments: every pinned package at its version.
fn apt_pins(pins: &[AptPin]) -> String {
    pins.iter()
        .map(|p| format!("{}={}", p.name, p.version))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A failed setup whose cause is a pin the index or the mirror no longer serves as
/// locked: named, with the way out. `None` for other failures.
fn pin_failure(log: &std::path::Path) -> Option<BuildError> {
    let text = std::fs::read_to_string(log).ok()?;
    let pin = |manager: &'static str, package: &str, problem: String| BuildError::PinFailed {
        manager,
        package: package.to_string(),
        problem,
        log: log.to_path_buf(),
    };
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.contains("DO NOT MATCH THE HASHES") {
            // `    six==1.16.0 from http://…:` then `Expected sha256 …` / `Got …`.
            let entry = lines.find(|l| l.contains("==") && l.contains(" from "))?;
            let name = entry.trim().split("==").next()?;
            let got = lines
                .find_map(|l| l.trim().strip_prefix("Got"))
                .map(|g| g.trim().to_string())
                .unwrap_or_default();
            return Some(pin(
                "pip",
                name,
                format!("the index serves other bytes than the lock pins (sha256 {got})"),
            ));
        }
        if let Some(rest) = line.split("No matching distribution found for ").nth(1) {
            let name = rest.trim().split("==").next()?;
            return Some(pin(
                "pip",
                name,
                format!("the index no longer serves `{}`", rest.trim()),
            ));
        }
        // apt: `E: Version '1.2-3' for 'ninja-build' was not found`
        if let Some(rest) = line.strip_prefix("E: Version '")
            && let Some((version, rest)) = rest.split_once("' for '")
            && let Some((name, _)) = rest.split_once('\'')
        {
            return Some(pin(
                "apt",
                name,
                format!("the mirror no longer has version {version}"),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_mismatch_at_install_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("env.log");
        std::fs::write(
            &log,
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.\n    six==1.16.0 from http://127.0.0.1:1/packages/six-1.16.0-py2.py3-none-any.whl:\n        Expected sha256 8abb\n             Got        1e61\n",
        )
        .unwrap();
        let e = pin_failure(&log).unwrap();
        assert_eq!(
            e.to_string(),
            "pip package `six`: the index serves other bytes than the lock pins (sha256 1e61)"
        );
        assert_eq!(
            e.hint().unwrap(),
            "run `wheelbuild lock --update six` to pin what the index serves now, after checking why it changed"
        );
    }

    #[test]
    fn an_apt_version_gone_from_the_mirror_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("env.log");
        std::fs::write(
            &log,
            "E: Version '1.10.1-1' for 'ninja-build' was not found\n",
        )
        .unwrap();
        let e = pin_failure(&log).unwrap();
        assert_eq!(
            e.to_string(),
            "apt package `ninja-build`: the mirror no longer has version 1.10.1-1"
        );
    }

    #[test]
    fn setup_settings_read_back_by_sh_as_they_were() {
        let lookup =
            |name: &str| (name == "HTTPS_PROXY").then(|| "http://o'brien:3128".to_string());
        let access = Access::new(
            crate::config::Network::Default,
            None,
            &crate::config::PipIndex::default(),
            lookup,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("setup.env");
        std::fs::write(&file, setup_settings(&access)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"set -a; . "$1"; set +a; sh -c 'printf "%s|%s" "$HTTPS_PROXY" "$PIP_NO_INPUT"'"#)
            .arg("sh")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "http://o'brien:3128|1"
        );
    }

    #[test]
    fn requirements_pin_every_package_by_hash() {
        let pins = [PipPin {
            name: "six".into(),
            version: "1.16.0".into(),
            file: "six-1.16.0-py2.py3-none-any.whl".into(),
            sha256: "ab".repeat(32),
        }];
        assert_eq!(
            requirements(&pins),
            format!("six==1.16.0 --hash=sha256:{}", "ab".repeat(32))
        );
    }
}
