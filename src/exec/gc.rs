//! What `gc` removes from an engine: environment images no plan uses any more, and the
//! cache volumes of other channels and variants.

use std::collections::BTreeSet;
use std::time::Duration;

use super::container::caches::{CACHE_LABEL, CHANNEL_LABEL, VARIANT_LABEL};
use super::container::images::{ENV_REPO, STORE_LABEL, store_id};
use crate::docker::{DockerError, Engine, VolumeInfo};
use crate::store::Store;

/// What [`collect_env_images`] removed (or would remove, dry).
#[derive(Debug, Default)]
pub struct EnvGc {
    pub removed: Vec<String>,
    /// Unused, but a container still uses them.
    pub in_use: Vec<String>,
    /// Unused, but younger than `keep`.
    pub recent: usize,
    /// Sizes of the removed images (layers shared with a base image count in full).
    pub bytes: u64,
}

/// Remove the environment images built for `store` whose tag is not in `live` and that
/// are older than `keep`; never by force, so an image a container uses stays. Images of
/// other stores (other projects on this machine) are not this store's to judge.
pub async fn collect_env_images(
    engine: &Engine,
    store: &Store,
    live: &BTreeSet<String>,
    keep: Duration,
    dry: bool,
) -> Result<EnvGc, DockerError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut gc = EnvGc::default();
    let id = store_id(store.root());
    for image in engine.tagged_images(ENV_REPO).await? {
        if live.contains(&image.tag) || image.labels.get(STORE_LABEL) != Some(&id) {
            continue;
        }
        let age = now.saturating_sub(u64::try_from(image.created).unwrap_or(0));
        if age < keep.as_secs() {
            gc.recent += 1;
        } else if dry || engine.remove_image(&image.tag).await? {
            gc.bytes += image.size;
            gc.removed.push(image.tag);
        } else {
            gc.in_use.push(image.tag);
        }
    }
    Ok(gc)
}

/// A cache volume on the engine, as `gc` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheVolume {
    pub name: String,
    /// `ccache` or `pip`.
    pub kind: String,
    pub channel: String,
    pub variant: String,
}

/// What [`collect_cache_volumes`] found and removed (or would remove, dry).
#[derive(Debug, Default)]
pub struct CacheGc {
    /// The volumes of this config's channel and variants.
    pub kept: Vec<CacheVolume>,
    /// Volumes of other channels or variants: removed with `prune`.
    pub removed: Vec<CacheVolume>,
    pub other: Vec<CacheVolume>,
    /// Unused, but a container still uses them.
    pub in_use: Vec<CacheVolume>,
}

/// The engine's cache volumes, split into those of `channel` × `variants` (kept) and the
/// others, which are removed when `prune` (not when `dry`).
pub async fn collect_cache_volumes(
    engine: &Engine,
    channel: &str,
    variants: &BTreeSet<String>,
    prune: bool,
    dry: bool,
) -> Result<CacheGc, DockerError> {
    let mut gc = CacheGc::default();
    for VolumeInfo { name, labels } in engine.labelled_volumes(CACHE_LABEL).await? {
        let get = |l: &str| labels.get(l).cloned().unwrap_or_default();
        let volume = CacheVolume {
            kind: get(CACHE_LABEL),
            channel: get(CHANNEL_LABEL),
            variant: get(VARIANT_LABEL),
            name,
        };
        if volume.channel == channel && variants.contains(&volume.variant) {
            gc.kept.push(volume);
        } else if !prune {
            gc.other.push(volume);
        } else if dry || engine.remove_volume(&volume.name).await? {
            gc.removed.push(volume);
        } else {
            gc.in_use.push(volume);
        }
    }
    Ok(gc)
}
