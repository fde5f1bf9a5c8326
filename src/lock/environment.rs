//! Environments in the lock: what a build installs on top of its base image (pip and apt
//! packages), resolved once in the pinned image and pinned by version and sha256, with
//! facts probed from that image.
//!
//! An environment is identified by the config's spelling of its inputs (image reference
//! and platform, pip and apt requests). `resolved-from` fingerprints everything its
//! resolution depended on besides those (the base image's manifest digest, the index
//! settings, the resolution script): when it no longer matches, the environment is
//! resolved again.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pins::unread;
use super::{LockError, LockedGit};
use crate::canonical::Context;
use crate::config::{Config, ImageInput, PipIndex, Project, Target};
use crate::recipe::{RESOLVE_SCRIPT, asks_hook};

/// blake3 derive-key context of `resolved-from`.
static CONTEXT: Context = Context::new("wheelbuild 2026-11-30 environment resolution");

/// What a set of targets installs: the identity of a `[[environment]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvironmentInput {
    pub image: ImageInput,
    /// Sorted, deduplicated, as the config expands them.
    pub pip: Vec<String>,
    pub apt: Vec<String>,
    /// The project's `[build-system] requires`, as the lock read them at its commit
    /// (empty when the project sets `build-isolation = false` or declares none).
    pub build: Vec<String>,
}

impl EnvironmentInput {
    /// The environment `target` installs, if it installs anything; `build` is its
    /// project's build requirements (see [`build_requires`]).
    pub fn of(target: &Target, build: &[String]) -> Option<EnvironmentInput> {
        installs(target, build).then(|| {
            let mut build = build.to_vec();
            build.sort();
            build.dedup();
            EnvironmentInput {
                image: (*target.image).clone(),
                pip: target.pip.clone(),
                apt: target.apt.clone(),
                build,
            }
        })
    }

    /// The environment `target`'s wheels are tested in, if they are (not `test-skip`) and
    /// the test installs anything:
    /// the test image, the test's requirements and `dependencies`, its project's runtime
    /// requirements (see [`dependencies`]); no apt, no build requirements (the test
    /// installs the wheel itself).
    pub fn of_test(target: &Target, dependencies: &[String]) -> Option<EnvironmentInput> {
        let test = target.test.as_deref().filter(|t| t.skip.is_none())?;
        let mut pip: Vec<String> = test.requires.iter().chain(dependencies).cloned().collect();
        pip.sort();
        pip.dedup();
        (!pip.is_empty()).then(|| EnvironmentInput {
            image: (*test.image).clone(),
            pip,
            apt: Vec::new(),
            build: Vec::new(),
        })
    }

    /// `127.0.0.1:5000/base:py3.11 + pip six==1.16.0 + apt ninja-build`, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("environment {}", self.image.reference);
        if !self.pip.is_empty() {
            s.push_str(&format!(" + pip {}", self.pip.join(" ")));
        }
        if !self.apt.is_empty() {
            s.push_str(&format!(" + apt {}", self.apt.join(" ")));
        }
        if !self.build.is_empty() {
            s.push_str(&format!(" + build requirements {}", self.build.join(", ")));
        }
        s
    }

    /// The fingerprint of what a resolution of this environment depends on beyond its
    /// identity: `resolved-from` in the lock.
    pub fn resolved_from(&self, manifest_digest: &str, index: &PipIndex) -> String {
        #[derive(Serialize)]
        struct From<'a> {
            manifest_digest: &'a str,
            pip: &'a [String],
            apt: &'a [String],
            build: &'a [String],
            index: &'a PipIndex,
            script: &'a str,
        }
        let from = From {
            manifest_digest,
            pip: &self.pip,
            apt: &self.apt,
            build: &self.build,
            index,
            script: RESOLVE_SCRIPT,
        };
        format!("blake3:{}", CONTEXT.hash(&from).to_hex())
    }
}

/// Does `target` install anything on top of its base image, with `build` its project's
/// build requirements? A target that does not has no environment in the lock, and builds
/// on its base image with wheelbuild's directories only.
pub(crate) fn installs(target: &Target, build: &[String]) -> bool {
    !target.pip.is_empty() || !target.apt.is_empty() || !build.is_empty()
}

/// The build requirements a target of `project` builds with, from its git pin: the
/// static ones, then what the backend's hook asked for; empty when the project sets
/// `build-isolation = false`; `None` when the pin has not read them (a lock older than
/// build requirements, a pin about to be replaced) or not asked the hook.
pub fn build_requires(project: &Project, git: &LockedGit) -> Option<Vec<String>> {
    if !project.build_isolation {
        return Some(Vec::new());
    }
    let subdir = project.subdir.as_deref();
    let mut requires = git.build_requires(subdir)?.to_vec();
    // A directory read before backends were (lock version 3) builds as it did then.
    if git.build_backend(subdir).is_some_and(asks_hook) {
        requires.extend_from_slice(&git.dynamic_requires(subdir)?.requires);
    }
    Some(requires)
}

/// The runtime requirements the test of a target of `project` installs, from its git pin:
/// `[project] dependencies` when static, none when dynamic; `None` when the pin has not
/// read them (a lock older than tests, a pin about to be replaced).
pub fn dependencies<'a>(project: &Project, git: &'a LockedGit) -> Option<&'a [String]> {
    git.dependencies(project.subdir.as_deref())
        .map(|d| d.requires.as_slice())
}

/// Distinct environments of the config with the lock's git pins (build and test
/// environments), in order; `Err` names
/// the first project whose build requirements the pins do not have.
pub fn distinct_environments(
    config: &Config,
    git: &[LockedGit],
) -> Result<Vec<EnvironmentInput>, LockError> {
    let mut distinct = std::collections::BTreeSet::new();
    for target in &config.targets {
        let project = config.project_of(target);
        let pin = git
            .iter()
            .find(|g| g.url == project.git.url && g.reference == project.git.reference);
        let build = pin
            .and_then(|g| build_requires(project, g))
            .ok_or_else(|| unread(project))?;
        distinct.extend(EnvironmentInput::of(target, &build));
        if target.test.is_some() {
            let runtime = pin
                .and_then(|g| dependencies(project, g))
                .ok_or_else(|| unread(project))?;
            distinct.extend(EnvironmentInput::of_test(target, runtime));
        }
    }
    Ok(distinct.into_iter().collect())
}

#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedEnvironment {
    /// The base image as the config spells it, and its platform.
    pub image: String,
    pub platform: String,
    /// The pip requests, as the config expands them (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pip: Vec<String>,
    /// The apt requests (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apt: Vec<String>,
    /// The project's build requirements (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build: Vec<String>,
    /// Fingerprint of the base image digest, index settings and resolution script this was
    /// resolved with; a mismatch means it must be resolved again.
    pub resolved_from: String,
    /// Facts probed from the base image.
    #[serde(default)]
    pub facts: Facts,
    /// Every pip distribution installed, transitive ones included, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PipPin>,
    /// Build requirements the base image already satisfies, when the environment installs
    /// nothing else from pip: the image's digest pins them, so they are not installed
    /// again; listed for `audit` and the pre-build check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_image: Vec<ImagePackage>,
    /// Every Debian package apt installs, dependencies included, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<AptPin>,
    /// Set when the index publishes nothing that matches a pip request for this image (no
    /// wheel for its Python, say): nothing is pinned, its targets are not built, and every
    /// `lock` resolves it again, so that a wheel published later is picked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<Unavailable>,
}

/// Why an environment has nothing to install: pip found no distribution of a requirement
/// for its image.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Unavailable {
    /// The requirement as pip names it (`torch==2.0.1`), or the requests when pip says
    /// they conflict.
    pub requirement: String,
    /// What is missing, in a few words (`has no wheel for cp311`).
    pub reason: String,
    /// pip's own words (its last lines, and the files it skipped with why): bounded.
    pub pip: String,
}

impl LockedEnvironment {
    pub fn matches(&self, input: &EnvironmentInput) -> bool {
        self.image == input.image.reference
            && self.platform == input.image.platform.to_string()
            && self.pip == input.pip
            && self.apt == input.apt
            && self.build == input.build
    }

    /// `IMAGE + pip six + build requirements setuptools>=61`, for messages.
    pub fn describe(&self) -> String {
        let mut what = self.image.clone();
        for (kind, list) in [("pip", &self.pip), ("apt", &self.apt)] {
            if !list.is_empty() {
                what.push_str(&format!(" + {kind} {}", list.join(" ")));
            }
        }
        if !self.build.is_empty() {
            what.push_str(&format!(" + build requirements {}", self.build.join(", ")));
        }
        what
    }

    /// `torch==2.0.1 has no wheel for cp313`, when the environment is unavailable.
    pub fn unavailable_reason(&self) -> Option<String> {
        self.unavailable
            .as_ref()
            .map(|u| format!("{} {}", u.requirement, u.reason))
    }

    /// Is `other` the entry of the same environment (same identity)?
    pub(crate) fn matches_entry(&self, other: &LockedEnvironment) -> bool {
        self.image == other.image
            && self.platform == other.platform
            && self.pip == other.pip
            && self.apt == other.apt
            && self.build == other.build
    }
}

/// Facts of a base image: not key inputs (the image digest covers them), shown by `plan`
/// and `audit` so that a reader sees what a build ran on.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct Facts(pub BTreeMap<String, String>);

/// A pip requirements file with every pin and its hash (`--require-hashes` refuses
/// anything else, transitive dependencies included).
pub(crate) fn requirements(pins: &[PipPin]) -> String {
    pins.iter()
        .map(|p| format!("{}=={} --hash=sha256:{}", p.name, p.version, p.sha256))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One pip distribution, pinned.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipPin {
    /// Normalized (PEP 503): lowercase, runs of `-_.` as `-`.
    pub name: String,
    pub version: String,
    /// The artifact's file name (a wheel or an sdist).
    pub file: String,
    /// sha256 of the artifact, hex: what `pip install --require-hashes` checks.
    pub sha256: String,
}

/// A Python distribution the base image already has, by normalized name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImagePackage {
    pub name: String,
    pub version: String,
}

/// One Debian package, pinned.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AptPin {
    pub name: String,
    pub version: String,
}
