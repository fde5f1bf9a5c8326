//! Human rendering of the core's results: tables, summaries, reports. The core returns
//! typed data; only this layer decides how people see it.

pub(crate) mod audit;
pub(crate) mod build;
pub(crate) mod index;
pub(crate) mod plan;
pub(crate) mod verify;
