//! One file per subcommand: settings in, library calls, output out. What several share
//! is in `common` (the lock and targets they run on, the remote cache, the index) and
//! `engine` (the Docker engines): no command file uses another.

pub(crate) mod audit;
pub(crate) mod build;
pub(crate) mod gc;
pub(crate) mod index;
pub(crate) mod init;
pub(crate) mod lock;
pub(crate) mod plan;
pub(crate) mod remote;
pub(crate) mod shell;
pub(crate) mod verify;

mod common;
mod engine;
