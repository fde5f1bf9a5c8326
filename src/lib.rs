//! wheelbuild: reproducible, content-addressed builds of Python wheels for GPU projects.
//!
//! The library is the pipeline, one module per stage:
//!
//! 1. [`config`]: `wheelbuild.toml` → validated targets (project × matrix cell)
//! 2. [`resolve`]: image tags → registry digests, git refs → commits
//! 3. [`lock`]: the pins, in `wheelbuild.lock`
//! 4. [`plan`] (with [`key`]): each target's build key, and whether it is in the store
//! 5. execute (Docker), in the build issue
//! 6. [`store`]: key → wheels and the record of their build
//!
//! The `wheelbuild` binary is a thin command layer over these.

pub mod audit;
pub mod canonical;
pub mod config;
pub mod diag;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod key;
pub mod lock;
pub mod par;
pub mod plan;
pub mod resolve;
pub mod schema;
pub mod store;
pub mod wheel;

pub use error::{Error, Exit};
