//! The fingerprint of the config inputs a lock pins, so that `--locked` can tell offline
//! whether the lock is current.

use serde::Serialize;

use crate::canonical::Context;
use crate::config::{Config, PipIndex};

/// blake3 derive-key context of the fingerprint.
static CONTEXT: Context = Context::new("wheelbuild 2026-11-21 lock inputs");

/// Fingerprint of the config inputs that the lock pins: every distinct image reference
/// with its platform, every distinct git URL with its ref, every environment (image, pip
/// and apt requests), the project directories whose build requirements are read, and the
/// index settings. Nothing else in the config affects what
/// `lock` resolves, so editing a build command never makes the lock stale.
pub fn lock_inputs(config: &Config) -> String {
    #[derive(Serialize)]
    struct Inputs<'a> {
        images: Vec<(&'a str, String)>,
        git: Vec<(&'a str, Option<&'a str>)>,
    }
    #[derive(Serialize)]
    struct WithEnvironments<'a> {
        inputs: Inputs<'a>,
        environments: Vec<(String, String, Vec<String>, Vec<String>)>,
        index: &'a PipIndex,
        build: std::collections::BTreeSet<(&'a str, Option<&'a str>, Option<&'a str>)>,
    }
    let inputs = Inputs {
        images: config
            .distinct_images()
            .map(|i| (i.reference.as_str(), i.platform.to_string()))
            .collect(),
        git: config
            .distinct_git()
            .map(|g| (g.url.as_str(), g.reference.as_deref()))
            .collect(),
    };
    let environments: std::collections::BTreeSet<_> = config
        .targets
        .iter()
        .filter(|t| !t.pip.is_empty() || !t.apt.is_empty())
        .map(|t| {
            (
                t.image.reference.clone(),
                t.image.platform.to_string(),
                t.pip.clone(),
                t.apt.clone(),
            )
        })
        .collect();
    let environments: Vec<_> = environments.into_iter().collect();
    // Which project directories' build requirements the lock reads.
    let build: std::collections::BTreeSet<_> = config
        .projects
        .iter()
        .filter(|p| p.build_isolation)
        .map(|p| {
            (
                p.git.url.as_str(),
                p.git.reference.as_deref(),
                p.subdir.as_deref(),
            )
        })
        .collect();
    // A config that installs nothing keeps the fingerprint locks had before environments
    // existed, so that those locks stay current.
    let hash = if environments.is_empty() && build.is_empty() && config.settings.pip.is_default() {
        CONTEXT.hash(&inputs)
    } else {
        CONTEXT.hash(&WithEnvironments {
            inputs,
            environments,
            index: &config.settings.pip,
            build,
        })
    };
    format!("blake3:{}", hash.to_hex())
}
