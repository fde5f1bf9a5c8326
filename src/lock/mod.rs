//! Stage 3: `wheelbuild.lock`, the resolved pins of every image tag and git ref.
//!
//! * this module: the lock's types, reading and checking it;
//! * [`writer`]: our own stable TOML writer ([`Lockfile::to_toml`]), whose bytes are a pure
//!   function of the content, written atomically (a killed `lock` leaves the old file);
//! * [`diff`]: what changed between two locks;
//! * `inputs`: the fingerprint of the config inputs a lock was made from;
//! * [`environment`]: environments, the pip and apt packages builds install, pinned;
//! * `pins`: which pins a target builds with ([`Lockfile::pins`]).
//!
//! Entries are keyed by the *config's* spelling of an input (image reference + platform,
//! git URL + ref), so the file is portable between machines and a pin is kept for as long
//! as the config still asks for that input.

mod diff;
pub(crate) mod environment;
mod inputs;
mod pins;
pub mod requires;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Config, GitInput, ImageInput};
use crate::diag::Location;
use crate::platform::Platform;
pub(crate) use diff::{Change, diff};
pub(crate) use environment::requirements;
pub use environment::{
    AptPin, EnvironmentInput, Facts, ImagePackage, LockedEnvironment, PipPin, Unavailable,
    build_requires, dependencies, distinct_environments,
};
pub use inputs::lock_inputs;
pub use pins::{PinLookup, Pins};
pub use writer::quote;

/// Newest format version; readers refuse newer ones. Version 2 adds environments, version
/// 3 projects' build requirements, version 4 their build backends, version 5 their dynamic
/// build requirements, version 6 unavailable environments, version 7 the runtime requirements
/// of tested projects; a lock is written with the oldest version that holds its content,
/// so older wheelbuilds still read what they can.
pub(crate) const LOCK_VERSION: u32 = 7;
const OLDEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "wheelbuild.lock")]
pub struct Lockfile {
    /// Lock format version.
    pub version: u32,
    /// Fingerprint of the config inputs this lock was made from (see [`lock_inputs`]).
    pub inputs: String,
    /// Pinned base images.
    #[serde(default, rename = "image")]
    pub images: Vec<LockedImage>,
    /// Pinned git sources.
    #[serde(default)]
    pub git: Vec<LockedGit>,
    /// Resolved build environments (pip and apt packages).
    #[serde(default, rename = "environment")]
    pub environments: Vec<LockedEnvironment>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedImage {
    /// The reference as the config spells it.
    pub reference: String,
    /// The platform selected from it, `os/arch[/variant]`.
    pub platform: String,
    /// Fully qualified repository, e.g. `docker.io/library/python`.
    pub name: String,
    /// The human tag, kept beside the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Digest of the image index / manifest list the tag pointed at, if it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    /// Digest of the image manifest for `platform`: what builds run on.
    pub manifest_digest: String,
    /// Media type of that manifest.
    pub media_type: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RefKind {
    /// A branch: mutable, it moves as commits land.
    Branch,
    /// A tag: conventionally fixed, but can be moved.
    Tag,
    /// A commit SHA: immutable.
    Commit,
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::Commit => "commit",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedGit {
    /// The repository URL as the config spells it.
    pub url: String,
    /// The ref as the config spells it; absent for the remote's default branch.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What the ref turned out to be.
    pub kind: RefKind,
    /// The full ref name it resolved through (`refs/heads/main`), absent for commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// The full commit SHA (annotated tags peeled).
    pub commit: String,
    /// `[build-system] requires` of `pyproject.toml` at `commit`, by the project directory
    /// (`.` for the repository's root) of each project that builds with them. Read once
    /// per commit: an entry present is never read again while the commit stays. Empty:
    /// the project declares none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_requires: BTreeMap<String, Vec<String>>,
    /// `[build-system] build-backend` at `commit`, by project directory, read with
    /// `build-requires` (PEP 517's `setuptools.build_meta:__legacy__` when none is
    /// declared). A directory in `build-requires` but not here was read by a wheelbuild
    /// before version 4 and is read again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_backend: BTreeMap<String, String>,
    /// What the backend's `get_requires_for_build_wheel` asked for at `commit`, by project
    /// directory, for every backend but setuptools' (see `crate::recipe::asks_hook`):
    /// asked again when what it was asked with changes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynamic_requires: BTreeMap<String, DynamicRequires>,
    /// `[project] dependencies` at `commit`, by project directory, of each project with a
    /// test (read with `build-requires`): its test environment installs them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, Dependencies>,
}

/// A project directory's runtime requirements, as its `pyproject.toml` declares them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Dependencies {
    /// `[project] dependencies` is static. `false`: dynamic, or no `[project]` table (the
    /// backend alone knows them): the test environment has the test's requirements only,
    /// and the test's `pip check` names what it lacks.
    #[serde(rename = "static")]
    pub declared: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

/// The answers of a project directory's PEP 517 hook `get_requires_for_build_wheel`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DynamicRequires {
    /// Fingerprint of what the hook was asked with: the static requirements, each image
    /// digest and config settings its targets build with, and the hook's scripts.
    pub asked_with: String,
    /// The union of the answers, sorted: built with beside `build-requires`.
    pub requires: Vec<String>,
}

impl LockedGit {
    /// The build requirements read for `subdir` (`None`: the repository's root), if read.
    pub fn build_requires(&self, subdir: Option<&str>) -> Option<&[String]> {
        self.build_requires
            .get(subdir.unwrap_or(ROOT_DIR))
            .map(Vec::as_slice)
    }

    /// The hook's answers for `subdir`, if asked.
    pub fn dynamic_requires(&self, subdir: Option<&str>) -> Option<&DynamicRequires> {
        self.dynamic_requires.get(subdir.unwrap_or(ROOT_DIR))
    }

    /// The runtime requirements read for `subdir`, if read.
    pub fn dependencies(&self, subdir: Option<&str>) -> Option<&Dependencies> {
        self.dependencies.get(subdir.unwrap_or(ROOT_DIR))
    }

    /// The build backend read for `subdir`, if read.
    pub fn build_backend(&self, subdir: Option<&str>) -> Option<&str> {
        self.build_backend
            .get(subdir.unwrap_or(ROOT_DIR))
            .map(String::as_str)
    }
}

/// How `build-requires` names a repository's root directory.
pub const ROOT_DIR: &str = ".";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("no lockfile at {}", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is corrupt: {message}", location.as_ref().map_or(String::new(), |l| l.path.display().to_string()))]
    Corrupt {
        message: String,
        location: Option<Box<Location>>,
    },
    #[error("{} was written by a newer wheelbuild (lock version {found}, this one reads {LOCK_VERSION})", path.display())]
    TooNew { path: PathBuf, found: u32 },
    #[error("the lockfile is out of date with the config: {reason}")]
    Stale { reason: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            LockError::Missing { .. } => "run `wheelbuild lock` to create it".into(),
            LockError::Corrupt { .. } => "the lock is generated: restore it from version control, or delete it and run `wheelbuild lock`".into(),
            LockError::TooNew { .. } => "upgrade wheelbuild".into(),
            LockError::Stale { .. } => "run `wheelbuild lock` and commit the result".into(),
            LockError::Io { .. } | LockError::Write { .. } => return None,
        })
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            LockError::Corrupt { location, .. } => location.as_deref(),
            _ => None,
        }
    }
}

impl Lockfile {
    /// Read a lockfile; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lockfile>, LockError> {
        match std::fs::read(path) {
            Ok(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => Lockfile::parse(path, text).map(Some),
                Err(e) => Err(LockError::Corrupt {
                    message: "not UTF-8 text".into(),
                    location: Some(Box::new(Location::of_invalid_utf8(path, &bytes, &e))),
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Lockfile, LockError> {
        let corrupt = |message: String, span: Option<std::ops::Range<usize>>| LockError::Corrupt {
            message,
            location: Some(Box::new(Location::from_span(
                path,
                text,
                span.unwrap_or(0..0),
            ))),
        };
        // One parse on the success path; only when it fails (or the version differs) is
        // the version read on its own, so that a newer format says so rather than failing
        // on a field it does not know.
        let version_problem = || -> Option<LockError> {
            #[derive(Deserialize)]
            struct Version {
                version: Option<toml::Spanned<i64>>,
            }
            let version: Version = toml::from_str(text).ok()?;
            match version.version {
                None => Some(corrupt("missing `version`".into(), None)),
                Some(v) if *v.get_ref() > i64::from(LOCK_VERSION) => Some(LockError::TooNew {
                    path: path.to_path_buf(),
                    found: u32::try_from(*v.get_ref()).unwrap_or(u32::MAX),
                }),
                Some(v)
                    if !(i64::from(OLDEST_VERSION)..=i64::from(LOCK_VERSION))
                        .contains(v.get_ref()) =>
                {
                    Some(corrupt(
                        format!("unsupported version {}", v.get_ref()),
                        Some(v.span()),
                    ))
                }
                Some(_) => None,
            }
        };
        let lock: Lockfile = match toml::from_str::<Lockfile>(text) {
            Ok(lock) if (OLDEST_VERSION..=LOCK_VERSION).contains(&lock.version) => lock,
            Ok(lock) => {
                return Err(version_problem().unwrap_or_else(|| {
                    corrupt(format!("unsupported version {}", lock.version), None)
                }));
            }
            Err(e) => {
                return Err(version_problem()
                    .unwrap_or_else(|| corrupt(e.message().trim().to_string(), e.span())));
            }
        };
        let find = |needle: &str| text.find(needle).map(|i| i..i + needle.len());
        let mut seen = BTreeSet::new();
        for image in &lock.images {
            for digest in image.index_digest.iter().chain([&image.manifest_digest]) {
                if !is_sha256_digest(digest) {
                    return Err(corrupt(
                        format!("`{digest}` is not a sha256 digest"),
                        find(digest),
                    ));
                }
            }
            if Platform::parse(&image.platform).is_err() {
                return Err(corrupt(
                    format!("invalid platform `{}`", image.platform),
                    find(&image.platform),
                ));
            }
            if !seen.insert((image.reference.as_str(), image.platform.as_str())) {
                return Err(corrupt(
                    format!(
                        "image `{}` ({}) is listed twice",
                        image.reference, image.platform
                    ),
                    find(&image.reference),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for git in &lock.git {
            if !is_full_sha(&git.commit) {
                return Err(corrupt(
                    format!("`{}` is not a full commit SHA", git.commit),
                    find(&git.commit),
                ));
            }
            if !seen.insert((git.url.as_str(), git.reference.as_deref())) {
                return Err(corrupt(
                    format!(
                        "git `{}` at `{}` is listed twice",
                        git.url,
                        git.reference.as_deref().unwrap_or("HEAD")
                    ),
                    find(&git.url),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for env in &lock.environments {
            for p in &env.packages {
                if p.sha256.len() != 64
                    || !p
                        .sha256
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return Err(corrupt(
                        format!("`{}` is not a sha256 (package `{}`)", p.sha256, p.name),
                        find(&p.sha256),
                    ));
                }
            }
            if env.unavailable.is_some() && !(env.packages.is_empty() && env.debs.is_empty()) {
                return Err(corrupt(
                    format!(
                        "environment of `{}` is unavailable, yet pins packages",
                        env.image
                    ),
                    find("unavailable = "),
                ));
            }
            if !seen.insert((&env.image, &env.platform, &env.pip, &env.apt, &env.build)) {
                return Err(corrupt(
                    format!("environment of `{}` is listed twice", env.image),
                    find(&env.image),
                ));
            }
        }
        if !lock.inputs.starts_with("blake3:") {
            return Err(corrupt(
                "`inputs` is not a blake3 fingerprint".into(),
                find(&lock.inputs),
            ));
        }
        Ok(lock)
    }

    /// Build a lock from entries; sorts them so the output is canonical.
    pub fn new(
        inputs: String,
        mut images: Vec<LockedImage>,
        mut git: Vec<LockedGit>,
        mut environments: Vec<LockedEnvironment>,
    ) -> Lockfile {
        images.sort();
        git.sort();
        environments.sort();
        let version = if git.iter().any(|g| !g.dependencies.is_empty()) {
            7
        } else if environments.iter().any(|e| e.unavailable.is_some()) {
            6
        } else if git.iter().any(|g| !g.dynamic_requires.is_empty()) {
            5
        } else if git.iter().any(|g| !g.build_backend.is_empty()) {
            4
        } else if git.iter().any(|g| !g.build_requires.is_empty()) {
            3
        } else if !environments.is_empty() {
            2
        } else {
            OLDEST_VERSION
        };
        Lockfile {
            version,
            inputs,
            images,
            git,
            environments,
        }
    }

    /// The resolution of `input`, if the lock has one (current or not).
    pub fn environment(&self, input: &EnvironmentInput) -> Option<&LockedEnvironment> {
        self.environments.iter().find(|e| e.matches(input))
    }

    /// The resolution of `input` if it is current: resolved in the image the lock pins,
    /// with today's index settings.
    pub fn current_environment(
        &self,
        input: &EnvironmentInput,
        config: &Config,
    ) -> Option<&LockedEnvironment> {
        let image = self.image(&input.image)?;
        let env = self.environment(input)?;
        (env.resolved_from == input.resolved_from(&image.manifest_digest, &config.settings.pip))
            .then_some(env)
    }

    pub fn image(&self, input: &ImageInput) -> Option<&LockedImage> {
        let platform = input.platform.to_string();
        self.images
            .iter()
            .find(|i| i.reference == input.reference && i.platform == platform)
    }

    pub fn git(&self, input: &GitInput) -> Option<&LockedGit> {
        self.git
            .iter()
            .find(|g| g.url == input.url && g.reference == input.reference)
    }

    /// Is this lock complete and current for `config`? Offline: checks every target has
    /// its pins, then compares the fingerprint of the config's inputs.
    pub(crate) fn check_fresh(&self, config: &Config) -> Result<(), LockError> {
        let mut pins = self.pins(config);
        let mut environments = BTreeSet::new();
        for target in &config.targets {
            let pins = pins.of(target)?;
            environments.extend(pins.env);
            environments.extend(pins.test_env);
        }
        if self.inputs == lock_inputs(config) {
            return Ok(());
        }
        let pinned = self.images.len() + self.git.len() + self.environments.len();
        let used =
            config.distinct_images().count() + config.distinct_git().count() + environments.len();
        let reason = match pinned.saturating_sub(used) {
            0 => "the index settings (`[pip]`) changed".to_string(),
            extra => format!("it pins {extra} input(s) the config no longer uses"),
        };
        Err(LockError::Stale { reason })
    }
}

pub(crate) fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

pub(crate) fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sha256:0123456789ab`, for messages.
pub(crate) fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..12.min(hex.len())]),
        None => d.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        Lockfile::new(
            "blake3:00".into(),
            vec![LockedImage {
                reference: "127.0.0.1:5000/wb/base:py3.11".into(),
                platform: "linux/amd64".into(),
                name: "127.0.0.1:5000/wb/base".into(),
                tag: Some("py3.11".into()),
                index_digest: None,
                manifest_digest: format!("sha256:{}", "a".repeat(64)),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            }],
            vec![LockedGit {
                url: "file:///tmp/r \"q\"".into(),
                reference: Some("main".into()),
                kind: RefKind::Branch,
                resolved: Some("refs/heads/main".into()),
                commit: "b".repeat(40),
                build_requires: BTreeMap::new(),
                build_backend: BTreeMap::new(),
                dynamic_requires: BTreeMap::new(),
                dependencies: BTreeMap::new(),
            }],
            vec![],
        )
    }

    fn with_environment() -> Lockfile {
        let mut lock = sample();
        lock.version = 7;
        let build = vec!["setuptools>=61".to_string(), "wheel".to_string()];
        lock.git[0].build_requires = BTreeMap::from([(ROOT_DIR.to_string(), build.clone())]);
        lock.git[0].build_backend = BTreeMap::from([(ROOT_DIR.to_string(), "mesonpy".to_string())]);
        lock.git[0].dynamic_requires = BTreeMap::from([(
            ROOT_DIR.to_string(),
            DynamicRequires {
                asked_with: "blake3:ab".into(),
                requires: vec!["ninja >= 1.8.2".into()],
            },
        )]);
        lock.git[0].dependencies = BTreeMap::from([(
            ROOT_DIR.to_string(),
            Dependencies {
                declared: true,
                requires: vec!["six>=1.16".into()],
            },
        )]);
        lock.environments.push(LockedEnvironment {
            image: "127.0.0.1:5000/wb/base:py3.11".into(),
            platform: "linux/amd64".into(),
            pip: vec!["python-dateutil==2.9.0.post0".into()],
            apt: vec!["ninja-build".into()],
            build,
            resolved_from: "blake3:00".into(),
            facts: Facts(
                [("python", "3.11.2"), ("abi", "cp311")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
            ),
            packages: vec![
                PipPin {
                    name: "python-dateutil".into(),
                    version: "2.9.0.post0".into(),
                    file: "python_dateutil-2.9.0.post0-py2.py3-none-any.whl".into(),
                    sha256: "c".repeat(64),
                },
                PipPin {
                    name: "six".into(),
                    version: "1.17.0".into(),
                    file: "six-1.17.0-py2.py3-none-any.whl".into(),
                    sha256: "d".repeat(64),
                },
            ],
            from_image: vec![
                ImagePackage {
                    name: "setuptools".into(),
                    version: "66.1.1".into(),
                },
                ImagePackage {
                    name: "wheel".into(),
                    version: "0.38.4".into(),
                },
            ],
            debs: vec![AptPin {
                name: "ninja-build".into(),
                version: "1.11.1-2~deb12u1".into(),
            }],
            unavailable: None,
        });
        lock
    }

    #[test]
    fn environments_round_trip_one_package_per_line() {
        let lock = with_environment();
        let text = lock.to_toml();
        assert!(text.contains("version = 7\n"), "{text}");
        assert!(
            text.contains(
                "\nbuild-requires = { \".\" = [\"setuptools>=61\", \"wheel\"] }\n\
                 build-backend = { \".\" = \"mesonpy\" }\n\
                 dynamic-requires = { \".\" = { asked-with = \"blake3:ab\", requires = [\"ninja >= 1.8.2\"] } }\n\
                 dependencies = { \".\" = { static = true, requires = [\"six>=1.16\"] } }\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nfrom-image = [\n  { name = \"setuptools\", version = \"66.1.1\" },\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  { name = \"six\", version = \"1.17.0\", file = \"six-1.17.0-py2.py3-none-any.whl\", sha256 = \"dddd"),
            "{text}"
        );
        assert!(text.contains("facts = { abi = \"cp311\", python = \"3.11.2\" }\n"));
        let back = Lockfile::parse(Path::new("wheelbuild.lock"), &text).unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.to_toml(), text, "writer is a fixed point");
        // Without environments the lock stays version 1, as older wheelbuilds read it.
        assert!(sample().to_toml().contains("version = 1\n"));
    }

    #[test]
    fn an_unavailable_environment_round_trips_in_version_6() {
        let mut lock = with_environment();
        // Runtime requirements would need version 7.
        lock.git[0].dependencies.clear();
        let env = &mut lock.environments[0];
        (env.packages, env.from_image, env.debs) = (vec![], vec![], vec![]);
        env.unavailable = Some(Unavailable {
            requirement: "torch==2.0.1".into(),
            reason: "has no wheel for cp313".into(),
            pip: "  ERROR: No matching distribution found for torch==2.0.1\n  \"quoted\"".into(),
        });
        let lock = Lockfile::new(lock.inputs, lock.images, lock.git, lock.environments);
        let text = lock.to_toml();
        assert!(text.contains("version = 6\n"), "{text}");
        assert!(
            text.contains("\nunavailable = { requirement = \"torch==2.0.1\", reason = \"has no wheel for cp313\", pip = \"  ERROR: No matching distribution found for torch==2.0.1\\n  \\\"quoted\\\"\" }\n"),
            "{text}"
        );
        let back = Lockfile::parse(Path::new("wheelbuild.lock"), &text).unwrap();
        assert_eq!(back, lock);
        assert_eq!(
            back.environments[0].unavailable_reason().as_deref(),
            Some("torch==2.0.1 has no wheel for cp313")
        );
        // Pins beside it: a lock no wheelbuild wrote.
        let pinned = text.replace(
            "\nunavailable = ",
            "\ndebs = [\n  { name = \"x\", version = \"1\" },\n]\nunavailable = ",
        );
        let err = Lockfile::parse(Path::new("wheelbuild.lock"), &pinned).unwrap_err();
        assert!(
            err.to_string()
                .contains("is unavailable, yet pins packages"),
            "{err}"
        );
    }

    #[test]
    fn diff_names_each_package_that_changed() {
        let old = with_environment();
        let mut new = with_environment();
        new.environments[0].packages[1].version = "1.16.0".into();
        new.environments[0].packages[0].sha256 = "e".repeat(64);
        let changes: Vec<String> = diff(Some(&old), &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "~ pip python-dateutil (127.0.0.1:5000/wb/base:py3.11): 2.9.0.post0 (sha256:cccccccccccc) -> 2.9.0.post0 (sha256:eeeeeeeeeeee)",
                "~ pip six (127.0.0.1:5000/wb/base:py3.11): 1.17.0 -> 1.16.0",
            ]
        );
    }

    #[test]
    fn writer_round_trips_through_the_reader() {
        let lock = sample();
        let text = lock.to_toml();
        let back = Lockfile::parse(Path::new("wheelbuild.lock"), &text).unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.to_toml(), text, "writer is a fixed point");
        assert!(text.starts_with("# This file is generated"));
    }

    #[test]
    fn corrupt_lock_is_an_error_with_a_location() {
        let text = sample().to_toml().replace(&"a".repeat(64), "nothex");
        let err = Lockfile::parse(Path::new("wheelbuild.lock"), &text).unwrap_err();
        let LockError::Corrupt { message, location } = &err else {
            panic!("{err:?}")
        };
        assert!(message.contains("not a sha256 digest"), "{message}");
        assert_eq!(
            location.as_ref().unwrap().line,
            12,
            "the manifest-digest line"
        );

        let err = Lockfile::parse(Path::new("w.lock"), "version = 1\ninputs = [").unwrap_err();
        assert!(matches!(err, LockError::Corrupt { .. }), "{err:?}");
        let err = Lockfile::parse(Path::new("w.lock"), "version = 9\n").unwrap_err();
        assert!(matches!(err, LockError::TooNew { found: 9, .. }), "{err:?}");
        let err = Lockfile::parse(Path::new("w.lock"), "").unwrap_err();
        assert!(err.to_string().contains("missing `version`"), "{err}");
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn diff_reports_old_to_new() {
        let old = sample();
        let mut new = sample();
        new.git[0].commit = "c".repeat(40);
        let changes = diff(Some(&old), &new);
        assert_eq!(
            changes,
            vec![Change::Updated {
                what: "git file:///tmp/r \"q\" @ main".into(),
                old: "bbbbbbbbbbbb (branch)".into(),
                new: "cccccccccccc (branch)".into(),
            }]
        );
        assert_eq!(diff(Some(&old), &old), vec![]);
        assert_eq!(diff(None, &old).len(), 2);
    }
}
