//! The fingerprint of the config inputs a lock pins, so that `--locked` can tell offline
//! whether the lock is current.

use serde::Serialize;

use crate::canonical::Context;
use crate::config::Config;

/// blake3 derive-key context of the fingerprint.
static CONTEXT: Context = Context::new("wheelbuild 2026-11-21 lock inputs");

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
    format!("blake3:{}", CONTEXT.hash(&inputs).to_hex())
}
