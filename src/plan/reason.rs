//! Why a target must be built: a typed reason, rendered by the command layer and kept as
//! is in the JSON plan.

use std::path::PathBuf;

use serde::Serialize;

use crate::key::InputChange;

/// Why a target must be built, or why it cannot be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Reason {
    /// The store has never built this target.
    NewTarget,
    /// These inputs differ from the last build of this target.
    InputsChanged { changes: Vec<InputChange> },
    /// The last build had this very key, but its record is gone from the store.
    RecordMissing,
    /// The last build's record cannot be compared (written by another key format).
    PreviousUnreadable { detail: String },
    /// The key's store entry fails its check (a wheel missing or altered, the record
    /// unreadable): it cannot be used, and `build` quarantines it.
    Damaged { path: PathBuf, problem: String },
    /// Not built: the index publishes nothing for the target's environment (the lock
    /// records it unavailable, with pip's reason).
    Unavailable {
        /// `torch==2.0.1 has no wheel for cp313`.
        detail: String,
    },
}

/// Why a target's test must run although its build may be cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum TestReason {
    /// No outcome is stored for its test key: the wheels, or what tests them, are new.
    NotTested,
    /// The last attempt did not run it (`why`, e.g. no GPU engine).
    NotRun { why: String },
}
