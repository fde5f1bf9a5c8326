//! Build keys: the content address of a target's resolved inputs.
//!
//! A target (project × matrix cell) is rebuilt exactly when its key changes. The key is
//! blake3 in derive-key mode (context [`KEY_CONTEXT`]) over the canonical encoding
//! ([`crate::canonical`]) of [`KeyInputs`], streamed into the hasher. Canonical because
//! it is a struct with fixed field order whose maps are `BTreeMap`s: no
//! `serde_json::Value`, no `HashMap`, and nothing re-serialized from a registry answer
//! (digests are computed on the raw bytes received and only their strings enter here).
//!
//! # What is in a key
//!
//! | input | from | why |
//! |---|---|---|
//! | `format` | [`KEY_FORMAT`] | bumping it rebuilds everything when key semantics change |
//! | `image.platform` | `image.platform` / select row | the platform the wheel is built for |
//! | `image.manifest-digest` | lock | the exact filesystem the build runs on (not the tag) |
//! | `source.commit` | lock | the exact source tree |
//! | `source.subdir` | `project.subdir` | which project in the tree is built |
//! | `build` | `project.build` (expanded) | the command that makes the wheel |
//! | `verify` | `project.verify` / `image.verify` (expanded) | the toolchain the build was checked against |
//! | `env` | `env` + `project.env` (expanded), minus non-key names | compiler flags, arch lists |
//! | `pip`, `apt` | `project.pip`, `project.apt` (sorted, deduplicated) | the build environment |
//! | `axes` | the cell | python/cuda/torch/user axis values |
//! | `gpu` | `project.gpu` | whether the build saw a GPU |
//!
//! # What is not
//!
//! Everything that cannot change the wheel's bytes, so tuning it never forces a rebuild:
//! the project name and git URL (the commit identifies the tree), the image tag (the
//! digest identifies the image), env names in [`crate::config::NON_KEY_ENV`] and the
//! config's `non-key-env` (parallelism such as `MAX_JOBS`, cache locations, log level),
//! and the `cache`, `output`, `store`, `build` and `registries` tables. Comments, table
//! order, whitespace and line endings of the config change nothing either: keys are
//! computed from parsed, expanded values, with CRLF normalized to LF.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Config, TargetSpec};
use crate::lock::{LockedGit, LockedImage};

/// Version of the key derivation; part of every key.
pub const KEY_FORMAT: u32 = 1;

/// blake3 derive-key context for build keys.
pub const KEY_CONTEXT: &str = "wheelbuild 2026-11-21 build key";
/// blake3 derive-key context for the lock's config-input fingerprint.
pub const LOCK_INPUTS_CONTEXT: &str = "wheelbuild 2026-11-21 lock inputs";
/// blake3 derive-key context for build-environment image keys.
pub const ENV_CONTEXT: &str = "wheelbuild 2026-11-21 environment image";

/// Everything a build key covers. Stored in each build record so `plan` can name the
/// inputs that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct KeyInputs {
    pub format: u32,
    pub image: ImageKey,
    pub source: SourceKey,
    pub build: String,
    pub verify: Option<String>,
    pub env: BTreeMap<String, String>,
    pub pip: Vec<String>,
    pub apt: Vec<String>,
    pub axes: BTreeMap<String, String>,
    pub gpu: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ImageKey {
    pub platform: String,
    pub manifest_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SourceKey {
    pub commit: String,
    pub subdir: Option<String>,
}

/// A build key: 64 hex digits of blake3.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct BuildKey(pub String);

impl BuildKey {
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }

    pub fn is_valid(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

impl fmt::Display for BuildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hash the canonical encoding (see [`crate::canonical`]) of `value` with a derive-key
/// hasher. The encoding goes through a reused per-thread buffer and into the hasher in
/// one update: blake3's per-call overhead would dominate token-by-token writes.
fn hash<T: Serialize>(context: &'static str, value: &T) -> blake3::Hash {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        crate::canonical::write(&mut *buffer, value).expect("encoding key inputs cannot fail");
        let mut hasher = derive_key_hasher(context);
        hasher.update(buffer);
        hasher.finalize()
    })
}

/// A fresh hasher in derive-key mode for `context`. Deriving the context key is itself a
/// blake3 hash, so it is done once per context and the keyed hasher cloned after.
fn derive_key_hasher(context: &'static str) -> blake3::Hasher {
    static HASHERS: std::sync::OnceLock<[blake3::Hasher; 3]> = std::sync::OnceLock::new();
    let hashers = HASHERS.get_or_init(|| {
        [KEY_CONTEXT, LOCK_INPUTS_CONTEXT, ENV_CONTEXT].map(blake3::Hasher::new_derive_key)
    });
    match context {
        KEY_CONTEXT => hashers[0].clone(),
        LOCK_INPUTS_CONTEXT => hashers[1].clone(),
        ENV_CONTEXT => hashers[2].clone(),
        other => blake3::Hasher::new_derive_key(other),
    }
}

/// [`KeyInputs`] borrowed from the config and lock: what `plan` hashes for every target
/// without copying anything. Serializes exactly like `KeyInputs` (one field order, one
/// map order), which [`KeyInputs::key`] relies on: it hashes through this view too.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct KeyView<'a> {
    format: u32,
    image: ImageKeyView<'a>,
    source: SourceKeyView<'a>,
    build: &'a str,
    verify: Option<&'a str>,
    env: EnvView<'a>,
    pip: &'a [String],
    apt: &'a [String],
    axes: AxesView<'a>,
    gpu: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ImageKeyView<'a> {
    platform: &'a str,
    manifest_digest: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct SourceKeyView<'a> {
    commit: &'a str,
    subdir: Option<&'a str>,
}

/// Env entries in name order, minus the non-key names.
enum EnvView<'a> {
    Target {
        env: &'a [(String, String)],
        skip: &'a std::collections::BTreeSet<String>,
    },
    Map(&'a BTreeMap<String, String>),
}

impl Serialize for EnvView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EnvView::Target { env, skip } => s.collect_map(
                env.iter()
                    .filter(|(name, _)| !skip.contains(name))
                    .map(|(k, v)| (k, v)),
            ),
            EnvView::Map(m) => s.collect_map(m.iter()),
        }
    }
}

/// Axis values in name order, like a `BTreeMap`.
enum AxesView<'a> {
    Cell(&'a crate::config::Cell),
    Map(&'a BTreeMap<String, String>),
}

impl Serialize for AxesView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AxesView::Map(m) => s.collect_map(m.iter()),
            AxesView::Cell(cell) => {
                // A handful of axes: sort references on the stack, not in a Vec.
                let values = &cell.values;
                let mut order = [0u8; 16];
                if values.len() > order.len() {
                    let mut pairs: Vec<_> = values.iter().map(|(a, v)| (a, v)).collect();
                    pairs.sort_unstable();
                    return s.collect_map(pairs);
                }
                for (i, slot) in order.iter_mut().enumerate().take(values.len()) {
                    *slot = i as u8;
                }
                let order = &mut order[..values.len()];
                order.sort_unstable_by(|&x, &y| values[x as usize].0.cmp(&values[y as usize].0));
                s.collect_map(order.iter().map(|&i| {
                    let (a, v) = &values[i as usize];
                    (a, v)
                }))
            }
        }
    }
}

impl<'a> KeyView<'a> {
    fn of_target(
        config: &'a Config,
        target: &'a TargetSpec,
        image: &'a LockedImage,
        git: &'a LockedGit,
    ) -> Self {
        let project = &config.projects[target.project];
        KeyView {
            format: KEY_FORMAT,
            image: ImageKeyView {
                platform: &image.platform,
                manifest_digest: &image.manifest_digest,
            },
            source: SourceKeyView {
                commit: &git.commit,
                subdir: project.subdir.as_deref(),
            },
            build: &target.build,
            verify: target.verify.as_deref(),
            env: EnvView::Target {
                env: &target.env,
                skip: &config.non_key_env,
            },
            pip: &target.pip,
            apt: &target.apt,
            axes: AxesView::Cell(&target.cell),
            gpu: project.gpu,
        }
    }

    fn of_inputs(k: &'a KeyInputs) -> Self {
        KeyView {
            format: k.format,
            image: ImageKeyView {
                platform: &k.image.platform,
                manifest_digest: &k.image.manifest_digest,
            },
            source: SourceKeyView {
                commit: &k.source.commit,
                subdir: k.source.subdir.as_deref(),
            },
            build: &k.build,
            verify: k.verify.as_deref(),
            env: EnvView::Map(&k.env),
            pip: &k.pip,
            apt: &k.apt,
            axes: AxesView::Map(&k.axes),
            gpu: k.gpu,
        }
    }

    fn key(&self) -> BuildKey {
        BuildKey(hash(KEY_CONTEXT, self).to_hex().to_string())
    }
}

/// The build key of `target`, given its locked image and source, without building an
/// owned [`KeyInputs`]. Equal to `KeyInputs::new(..).key()`.
pub fn target_key(
    config: &Config,
    target: &TargetSpec,
    image: &LockedImage,
    git: &LockedGit,
) -> BuildKey {
    KeyView::of_target(config, target, image, git).key()
}

impl KeyInputs {
    /// The inputs of `target`, given its locked image and source.
    pub fn new(config: &Config, target: &TargetSpec, image: &LockedImage, git: &LockedGit) -> Self {
        let project = &config.projects[target.project];
        KeyInputs {
            format: KEY_FORMAT,
            image: ImageKey {
                platform: image.platform.clone(),
                manifest_digest: image.manifest_digest.clone(),
            },
            source: SourceKey {
                commit: git.commit.clone(),
                subdir: project.subdir.clone(),
            },
            build: target.build.to_string(),
            verify: target.verify.clone(),
            env: target
                .env
                .iter()
                .filter(|(name, _)| config.is_key_env(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            pip: target.pip.clone(),
            apt: target.apt.clone(),
            axes: target.cell.values.iter().cloned().collect(),
            gpu: project.gpu,
        }
    }

    pub fn key(&self) -> BuildKey {
        KeyView::of_inputs(self).key()
    }

    /// The key of the build environment (base image + apt + pip): targets that share it
    /// share one derived image.
    pub fn env_key(&self) -> String {
        #[derive(Serialize)]
        struct EnvInputs<'a> {
            format: u32,
            image: &'a ImageKey,
            apt: &'a [String],
            pip: &'a [String],
        }
        hash(
            ENV_CONTEXT,
            &EnvInputs {
                format: KEY_FORMAT,
                image: &self.image,
                apt: &self.apt,
                pip: &self.pip,
            },
        )
        .to_hex()
        .to_string()
    }

    /// Inputs that differ from `old`, in the order of the table in the module docs.
    pub fn changes_from(&self, old: &KeyInputs) -> Vec<InputChange> {
        let mut out = Vec::new();
        let mut cmp = |input: &str, o: Option<String>, n: Option<String>| {
            if o != n {
                out.push(InputChange {
                    input: input.to_string(),
                    old: o,
                    new: n,
                });
            }
        };
        cmp(
            "format",
            Some(old.format.to_string()),
            Some(self.format.to_string()),
        );
        cmp(
            "image.platform",
            Some(old.image.platform.clone()),
            Some(self.image.platform.clone()),
        );
        cmp(
            "image.manifest-digest",
            Some(old.image.manifest_digest.clone()),
            Some(self.image.manifest_digest.clone()),
        );
        cmp(
            "source.commit",
            Some(old.source.commit.clone()),
            Some(self.source.commit.clone()),
        );
        cmp(
            "source.subdir",
            old.source.subdir.clone(),
            self.source.subdir.clone(),
        );
        cmp("build", Some(old.build.clone()), Some(self.build.clone()));
        cmp("verify", old.verify.clone(), self.verify.clone());
        for name in old
            .env
            .keys()
            .chain(self.env.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            cmp(
                &format!("env.{name}"),
                old.env.get(name).cloned(),
                self.env.get(name).cloned(),
            );
        }
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(" "));
        cmp("pip", joined(&old.pip), joined(&self.pip));
        cmp("apt", joined(&old.apt), joined(&self.apt));
        for axis in old
            .axes
            .keys()
            .chain(self.axes.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            cmp(
                &format!("axes.{axis}"),
                old.axes.get(axis).cloned(),
                self.axes.get(axis).cloned(),
            );
        }
        cmp("gpu", Some(old.gpu.to_string()), Some(self.gpu.to_string()));
        out
    }
}

/// One input that changed since the last build of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InputChange {
    /// Dotted input name, as in the module docs: `source.commit`, `env.CFLAGS`, …
    pub input: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Fingerprint of the config inputs that the lock pins: every distinct image reference
/// with its platform and every distinct git URL with its ref. Nothing else in the config
/// affects what `lock` resolves, so editing a build command never makes the lock stale.
pub fn lock_inputs(config: &Config) -> String {
    #[derive(Serialize)]
    struct Inputs<'a> {
        images: Vec<(&'a str, String)>,
        git: Vec<(&'a str, Option<&'a str>)>,
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
    format!("blake3:{}", hash(LOCK_INPUTS_CONTEXT, &inputs).to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> KeyInputs {
        KeyInputs {
            format: KEY_FORMAT,
            image: ImageKey {
                platform: "linux/amd64".into(),
                manifest_digest: format!("sha256:{}", "a".repeat(64)),
            },
            source: SourceKey {
                commit: "b".repeat(40),
                subdir: None,
            },
            build: "make".into(),
            verify: None,
            env: BTreeMap::from([("CFLAGS".into(), "-O2".into())]),
            pip: vec![],
            apt: vec![],
            axes: BTreeMap::from([("python".into(), "3.11".into())]),
            gpu: false,
        }
    }

    #[test]
    fn key_is_stable_across_releases() {
        // Pinned: a change here means every user's store is invalidated. Bump KEY_FORMAT
        // (and update this value) only on purpose.
        assert_eq!(
            inputs().key().0,
            "4d69ff9c3627d8027c0ac71b7b41c7c1fd47684531696583fca52a1ecff79718"
        );
    }

    #[test]
    fn the_view_serializes_like_the_owned_inputs() {
        let mut k = inputs();
        k.verify = Some("nvcc --version".into());
        k.source.subdir = Some("python".into());
        k.axes.insert("cuda".into(), "cuda12.4".into());
        let encode = |v: &dyn Fn(&mut Vec<u8>)| {
            let mut out = Vec::new();
            v(&mut out);
            out
        };
        let owned = encode(&|out| crate::canonical::write(out, &k).unwrap());
        let view = encode(&|out| crate::canonical::write(out, &KeyView::of_inputs(&k)).unwrap());
        assert_eq!(owned, view);
    }

    #[test]
    fn changes_name_each_input() {
        let old = inputs();
        let mut new = inputs();
        new.source.commit = "c".repeat(40);
        new.env.insert("CFLAGS".into(), "-O3".into());
        let names: Vec<_> = new
            .changes_from(&old)
            .into_iter()
            .map(|c| c.input)
            .collect();
        assert_eq!(names, ["source.commit", "env.CFLAGS"]);
        assert_ne!(new.key(), old.key());
        assert!(old.changes_from(&old).is_empty());
    }

    #[test]
    fn env_key_ignores_non_environment_inputs() {
        let old = inputs();
        let mut new = inputs();
        new.build = "other".into();
        new.source.commit = "c".repeat(40);
        assert_eq!(old.env_key(), new.env_key());
        new.apt = vec!["libfoo-dev".into()];
        assert_ne!(old.env_key(), new.env_key());
    }
}
