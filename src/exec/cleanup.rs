//! What a killed run leaves behind, removed by the next one: containers labelled with an
//! owner process that is gone (see [`crate::docker::owner`]), and store staging
//! directories nobody holds.

use std::path::PathBuf;

use crate::docker::owner::{Owner, probe};
use crate::docker::{DockerError, Engine};
use crate::store::{Store, StoreError};

/// What was removed.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Container ids.
    pub containers: Vec<String>,
    pub staging: Vec<PathBuf>,
}

impl Cleanup {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.staging.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Remove the leftovers of killed runs: staging directories always, containers when the
/// engine is connected (it is not contacted for this alone).
pub async fn cleanup(engine: &Engine, store: &Store) -> Result<Cleanup, CleanupError> {
    let mut done = Cleanup {
        staging: store.remove_stale_staging()?,
        ..Cleanup::default()
    };
    if !engine.is_connected() {
        return Ok(done);
    }
    let me = Owner::current();
    for (id, labels) in engine.labelled_containers().await? {
        if me.as_ref().is_some_and(|me| me.outlived(&labels, probe)) {
            engine.remove(&id).await?;
            done.containers.push(id);
        }
    }
    Ok(done)
}
