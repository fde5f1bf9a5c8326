//! The library's error type and how errors map to exit codes.

use crate::config::ConfigError;
use crate::diag::Location;
use crate::docker::DockerError;
use crate::docker::access::AccessError;
use crate::init::InitError;
use crate::lock::LockError;
use crate::plan::PlanError;
use crate::remote::RemoteError;
use crate::resolve::ResolveError;
use crate::store::StoreError;
use crate::wheelhouse::index::IndexError;

/// Process exit codes. Documented in docs/commands.md; scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// A build failed (issue: `build`, `verify`).
    BuildFailed = 1,
    /// The user must fix something: config, arguments, refs, credentials.
    UserError = 2,
    /// Something outside is unavailable: registry, git server, Docker daemon.
    Unavailable = 3,
    /// `check`/`build --check`: some target would be (re)built.
    WouldRebuild = 10,
    /// `audit` found problems.
    AuditFindings = 11,
    /// `--locked`: the lockfile is missing or out of date.
    LockOutdated = 12,
    /// `verify`: a rebuilt wheel differs from the stored one.
    NotReproducible = 13,
    /// A bug in wheelbuild.
    Internal = 70,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Init(#[from] InitError),
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Lock(e) => Error::Lock(e),
            PlanError::Store(e) => Error::Store(e),
        }
    }
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config(e) => e.hint(),
            Error::Lock(e) => e.hint(),
            Error::Resolve(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Docker(e) => e.hint(),
            Error::Access(e) => Some(e.hint()),
            Error::Remote(e) => e.hint(),
            Error::Index(e) => e.hint(),
            Error::Init(e) => e.hint(),
        }
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Config(e) => e.location(),
            Error::Lock(e) => e.location(),
            Error::Resolve(e) => e.location(),
            Error::Store(_)
            | Error::Docker(_)
            | Error::Access(_)
            | Error::Remote(_)
            | Error::Index(_)
            | Error::Init(_) => None,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) => Exit::UserError,
            Error::Lock(LockError::Stale { .. } | LockError::Missing { .. }) => Exit::LockOutdated,
            Error::Lock(LockError::Io { .. } | LockError::Write { .. }) => Exit::Unavailable,
            Error::Lock(_) => Exit::UserError,
            Error::Resolve(e) if e.is_user_error() => Exit::UserError,
            Error::Resolve(_) => Exit::Unavailable,
            Error::Store(StoreError::Io { .. } | StoreError::WheelUnreadable { .. }) => {
                Exit::Unavailable
            }
            Error::Store(StoreError::Corrupt { .. }) => Exit::UserError,
            Error::Docker(_) => Exit::Unavailable,
            Error::Access(_) => Exit::UserError,
            Error::Remote(RemoteError::Store(StoreError::Io { .. })) => Exit::Unavailable,
            Error::Remote(e) if e.is_user_error() => Exit::UserError,
            // A refused entry is the remote's fault, like one that cannot be reached.
            Error::Remote(_) => Exit::Unavailable,
            Error::Index(IndexError::Overlap { .. }) => Exit::UserError,
            Error::Index(IndexError::Io { .. }) => Exit::Unavailable,
            Error::Init(e) if e.is_user_error() => Exit::UserError,
            Error::Init(_) => Exit::Unavailable,
        }
    }

    /// Errors that stand for several (every failed input of a `lock`).
    pub fn parts(&self) -> Vec<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Resolve(ResolveError::Many(all)) => all
                .iter()
                .map(|e| e as &(dyn std::error::Error + 'static))
                .collect(),
            _ => Vec::new(),
        }
    }
}
