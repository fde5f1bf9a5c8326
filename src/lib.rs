//! wheelbuild: reproducible, content-addressed builds of Python wheels for GPU projects.
//!
//! The library is the pipeline, one module per stage:
//!
//! 1. [`config`]: `wheelbuild.toml` → validated targets (project × matrix cell)
//! 2. `resolve`: image tags → registry digests, git refs → commits
//! 3. [`lock`]: the pins, in `wheelbuild.lock`
//! 4. [`plan`]: each target's build key ([`key`]), and whether it is in the store, and
//!    why not
//! 5. `exec`: builds in digest-pinned containers (through `docker`, the Docker Engine API)
//! 6. [`store`]: key → wheels and the record of their build; [`remote`]: the same, shared
//!    through an OCI registry, signed
//! 7. `wheelhouse`: the wheels laid out for users
//!
//! The `wheelbuild` binary is [`cli`], a thin command layer over these: arguments,
//! settings, rendering. Modules are crate-private unless tests, benches or fuzz targets
//! need them, so that rustc reports what nothing uses.
//!
//! # Floors
//!
//! Modules stand on floors, and a module imports only modules on floors below its own,
//! so that no import circle forms (`tests/it/hygiene.rs` checks every `crate::` path).
//! Bottom first:
//!
//! 1. vocabulary that imports nothing of wheelbuild: `accel`, `canonical`, [`diag`]
//!    (locations, hints, error chains), `fsutil`, `par`, `platform`, `recipe` (the
//!    in-container scripts), `sign`
//! 2. vocabulary built on those: [`oci`] (references, registry logins, bounded answers),
//!    [`wheel`]
//! 3. [`config`]
//! 4. [`lock`]
//! 5. [`key`] (what a build key covers, from config and lock); `docker` (the engine, its
//!    containers and their access to the outside)
//! 6. `resolve` (its environments run in `docker` containers); [`store`]
//! 7. [`plan`], [`remote`], `wheelhouse`: each over the store; `init` (a first config from
//!    a repository, read through `resolve`'s git mirrors)
//! 8. `exec`
//! 9. what only the command layer reads: `audit`, `error` (its error type and exit
//!    codes), [`schema`]
//! 10. [`cli`]
//!
//! Floors follow imports, not the pipeline: `resolve` writes the lock, so it stands above
//! `lock`. Modules on one floor do not import each other. What two stages share goes down
//! to a floor below both, never into one of them.

pub(crate) mod accel;
pub(crate) mod audit;
pub(crate) mod canonical;
pub mod cli;
pub mod config;
pub mod diag;
pub(crate) mod docker;
pub(crate) mod error;
pub(crate) mod exec;
pub(crate) mod fsutil;
pub(crate) mod init;
pub mod key;
pub mod lock;
pub mod oci;
pub(crate) mod par;
pub mod plan;
pub(crate) mod platform;
pub(crate) mod recipe;
pub mod remote;
pub(crate) mod resolve;
pub mod schema;
pub(crate) mod sign;
pub mod store;
pub mod wheel;
pub(crate) mod wheelhouse;

pub(crate) use error::{Error, Exit};

/// The Docker engine as benches and tests drive it: containers with files of this machine
/// sent in (never bind-mounted by wheelbuild), and the names of the cache volumes.
pub mod engine {
    pub use crate::docker::upload::Upload;
    pub use crate::docker::{ContainerConfig, Engine};
    pub use crate::exec::{default_parallelism, volume_name};
}
