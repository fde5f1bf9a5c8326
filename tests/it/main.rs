//! Integration tests: one binary (faster to link), one module per area.
//! Real parts (registry, git, Docker) come from `support`.

mod harness;
mod support;
mod keys;
mod schemas;
mod common;
mod cli_errors;
mod lock_registry;
mod lock_git;
mod plan;
mod audit;
