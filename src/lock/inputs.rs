//! The fingerprint of the config inputs a lock pins, so that `--locked` can tell offline
//! whether the lock is current.

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};

use super::environment::installs;
use crate::canonical::Context;
use crate::config::{Config, ConfigSettings, PipIndex};

/// blake3 derive-key context of the fingerprint.
static CONTEXT: Context = Context::new("wheelbuild 2026-11-21 lock inputs");

/// Fingerprint of the config inputs that the lock pins: every distinct image reference
/// with its platform, every distinct git URL with its ref, every environment (image, pip
/// and apt requests), the project directories whose build requirements are read with
/// the config settings their hook is asked with, and the index settings. Nothing else in the config affects what
/// `lock` resolves, so editing a build command never makes the lock stale.
pub fn lock_inputs(config: &Config) -> String {
    #[derive(Serialize)]
    struct Inputs<'a> {
        images: Vec<ImageEntry<'a>>,
        git: Vec<GitEntry<'a>>,
    }
    #[derive(Serialize)]
    struct WithEnvironments<'a> {
        inputs: Inputs<'a>,
        environments: Vec<EnvironmentEntry<'a>>,
        index: &'a PipIndex,
        build: BTreeSet<BuildEntry<'a>>,
    }
    let inputs = Inputs {
        images: config
            .distinct_images()
            .map(|i| ImageEntry {
                reference: &i.reference,
                platform: i.platform.to_string(),
            })
            .collect(),
        git: config
            .distinct_git()
            .map(|g| GitEntry {
                url: &g.url,
                reference: g.reference.as_deref(),
            })
            .collect(),
    };
    // What the config asks to install; the build requirements are the lock's own, read at
    // the commit from the directories `build` lists.
    let environments: BTreeSet<EnvironmentEntry> = config
        .targets
        .iter()
        .filter(|t| installs(t, &[]))
        .map(|t| EnvironmentEntry {
            image: &t.image.reference,
            platform: t.image.platform.to_string(),
            pip: &t.pip,
            apt: &t.apt,
        })
        .collect();
    // Test environments: a config without tests keeps its fingerprint.
    // What the config asks to install; the runtime requirements are the lock's own, read at
    // the commit.
    let tests = config.targets.iter().filter_map(|t| {
        let test = t.test.as_deref().filter(|t| t.skip.is_none())?;
        Some((
            &test.image.reference,
            test.image.platform.to_string(),
            &test.requires,
        ))
    });
    let tests: BTreeSet<_> = tests.collect();
    let environments: BTreeSet<EnvironmentEntry> = environments
        .into_iter()
        .chain(tests.iter().map(|(image, platform, pip)| EnvironmentEntry {
            image,
            platform: platform.clone(),
            pip,
            apt: &[],
        }))
        .collect();
    let environments: Vec<_> = environments.into_iter().collect();
    let build: BTreeSet<BuildEntry> = config
        .projects
        .iter()
        .filter(|p| p.build_isolation)
        .map(|p| BuildEntry {
            url: &p.git.url,
            reference: p.git.reference.as_deref(),
            subdir: p.subdir.as_deref(),
            settings: &p.config_settings,
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

// The entries are encoded as the tuples of their fields, in order, as they were before
// they had names: another encoding would make every existing lock stale.

/// An image reference and the platform selected from it.
struct ImageEntry<'a> {
    reference: &'a str,
    platform: String,
}

impl Serialize for ImageEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.reference, &self.platform).serialize(s)
    }
}

/// A git URL and its ref (`None`: the remote's default branch).
struct GitEntry<'a> {
    url: &'a str,
    reference: Option<&'a str>,
}

impl Serialize for GitEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.url, self.reference).serialize(s)
    }
}

/// An environment as the config asks for it: the image, and the pip and apt requests.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct EnvironmentEntry<'a> {
    image: &'a str,
    platform: String,
    pip: &'a [String],
    apt: &'a [String],
}

impl Serialize for EnvironmentEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.image, &self.platform, self.pip, self.apt).serialize(s)
    }
}

/// A project directory whose `[build-system] requires` the lock reads: the repository,
/// its ref, the directory in it (`None`: its root), and the project's config settings
/// (its hook is asked with them), left out when empty.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct BuildEntry<'a> {
    url: &'a str,
    reference: Option<&'a str>,
    subdir: Option<&'a str>,
    settings: &'a ConfigSettings,
}

impl Serialize for BuildEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.settings.is_empty() {
            (self.url, self.reference, self.subdir).serialize(s)
        } else {
            (self.url, self.reference, self.subdir, self.settings).serialize(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let src = format!(
            r#"
[matrix]
python = ["3.10", "3.11"]

[image]
template = "reg.example/base:py{{python}}"

[[project]]
name = "hello"
git = "https://example.com/hello.git"
ref = "main"
{extra}
"#
        );
        Config::parse(std::path::Path::new("wheelbuild.toml"), &src).unwrap()
    }

    /// Pinned: a change here makes every user's lock stale (`--locked` fails until
    /// `wheelbuild lock` runs again).
    #[test]
    fn the_fingerprint_of_existing_locks_is_stable() {
        assert_eq!(
            lock_inputs(&config("build-isolation = false")),
            "blake3:1fd612b8be8264b026d052977a592d5f4f8c2be9d07278d92df7197019fbe585"
        );
        assert_eq!(
            lock_inputs(&config(
                "pip = [\"six==1.16.0\"]\napt = [\"ninja-build\"]\n\n[pip]\nindex-url = \"https://idx.example/simple\"\n"
            )),
            "blake3:7b738eb40eaca204885d203d3b3d5f985fd5af6140c73b2984334a4e147b37dc"
        );
    }

    #[test]
    fn config_settings_make_the_lock_stale() {
        let setting = "config-settings = { \"cmake.build-type\" = \"Release\" }";
        assert_ne!(lock_inputs(&config("")), lock_inputs(&config(setting)));
    }
}
