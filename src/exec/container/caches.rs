//! Compiler and pip caches of builds: named Docker volumes on the engine, one per release
//! channel and accelerator variant (`wheelbuild-ccache-<channel>-<variant>`,
//! `wheelbuild-pip-<channel>-<variant>`), kept by the engine across runs, their roots
//! handed to the build user by each build's upload. `verify`'s fresh caches are anonymous
//! volumes, removed with their container (whether it succeeded, failed, or was removed
//! on Ctrl-C or by the next run's cleanup).

use std::collections::BTreeMap;

use crate::accel::Accel;
use crate::docker::{ContainerConfig, Engine};
use crate::exec::{BuildError, BuildSettings, paths};

/// Label of wheelbuild's cache volumes: their kind (`ccache` or `pip`).
pub const CACHE_LABEL: &str = "org.wheelbuild.cache";
/// Labels naming a cache volume's channel and variant.
pub(in crate::exec) const CHANNEL_LABEL: &str = "org.wheelbuild.channel";
pub(in crate::exec) const VARIANT_LABEL: &str = "org.wheelbuild.variant";

/// One cache of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cache {
    /// The named volume of the channel and variant.
    Named(String),
    /// A new, empty anonymous volume, removed with the container.
    Fresh,
}

/// The caches of one build (`None`: that cache is off).
#[derive(Debug, Clone)]
pub(super) struct Caches {
    pub ccache: Option<Cache>,
    pub pip: Option<Cache>,
}

/// The volume name of cache `kind` of `channel` and `variant`: Docker's volume names are
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; a name that needed changing to fit gets a hash of the
/// original, so two channels never share a volume.
pub fn volume_name(kind: &str, channel: &str, variant: &str) -> String {
    let plain = format!("wheelbuild-{kind}-{channel}-{variant}");
    let fitted: String = plain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fitted == plain {
        plain
    } else {
        let hash = blake3::hash(format!("{channel}\0{variant}").as_bytes());
        format!("{fitted}-{}", &hash.to_hex()[..8])
    }
}

impl Caches {
    /// The cache volumes of the run's channel and `accel` (created when missing): caches
    /// never cross a release channel or a CUDA/ROCm variant.
    pub async fn named(
        engine: &Engine,
        settings: &BuildSettings,
        accel: &Accel,
    ) -> Result<Caches, BuildError> {
        let variant = accel.to_string();
        let make = |kind: &'static str| {
            let name = volume_name(kind, &settings.channel, &variant);
            let labels = BTreeMap::from([
                (CACHE_LABEL.to_string(), kind.to_string()),
                (CHANNEL_LABEL.to_string(), settings.channel.clone()),
                (VARIANT_LABEL.to_string(), variant.clone()),
            ]);
            async move {
                engine.ensure_volume(&name, &labels).await?;
                Ok::<_, BuildError>(Cache::Named(name))
            }
        };
        Ok(Caches {
            ccache: match settings.ccache {
                true => Some(make("ccache").await?),
                false => None,
            },
            pip: match settings.pip_cache {
                true => Some(make("pip").await?),
                false => None,
            },
        })
    }

    /// New, empty caches, for a build that must not reuse anything an earlier build left.
    pub fn fresh(settings: &BuildSettings) -> Caches {
        Caches {
            ccache: settings.ccache.then_some(Cache::Fresh),
            pip: settings.pip_cache.then_some(Cache::Fresh),
        }
    }

    /// Mount the caches into `config`; with `owner`, their roots are handed to that
    /// `uid:gid` (a new volume's root is root's).
    pub fn mount(&self, config: &mut ContainerConfig, owner: Option<(u32, u32)>) {
        for (cache, path) in [(&self.ccache, paths::CCACHE), (&self.pip, paths::PIP)] {
            let Some(cache) = cache else { continue };
            match cache {
                Cache::Named(name) => config.binds.push(format!("{name}:{path}")),
                Cache::Fresh => config.volumes.push(path.to_string()),
            }
            if let Some((uid, gid)) = owner {
                config.upload.owned_dir(path, uid, gid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_fit_dockers_charset_and_never_collide() {
        assert_eq!(
            volume_name("ccache", "ci", "cpu"),
            "wheelbuild-ccache-ci-cpu"
        );
        assert_eq!(
            volume_name("pip", "nightly", "cuda12.4"),
            "wheelbuild-pip-nightly-cuda12.4"
        );
        let plus = volume_name("ccache", "a+b", "cpu");
        assert!(plus.starts_with("wheelbuild-ccache-a_b-cpu-"), "{plus}");
        assert_ne!(plus, volume_name("ccache", "a_b", "cpu"));
        assert!(
            plus.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        );
    }
}
