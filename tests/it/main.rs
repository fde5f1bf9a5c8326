//! Integration tests: one binary (faster to link), one module per area.
//! Real parts (registry, git, Docker) come from `support`; the harness is
//! `support::runner` (a test whose real part is missing here is reported as skipped).

mod arm64;
mod audit;
mod build;
mod ci_action;
mod cli_errors;
mod cli_flags;
mod common;
mod compiler_cache;
mod dynamic;
mod engines;
mod environments;
mod gc;
mod harness;
mod hygiene;
mod index;
mod init;
mod install;
mod integrity;
mod keys;
mod labels;
mod lock_git;
mod lock_registry;
mod plan;
mod pool;
mod provenance;
mod remote;
mod repair;
mod schemas;
mod shell;
mod simple_index;
mod support;
mod terminal;
mod testing;
mod unavailable;
mod variant_index;

fn main() -> std::process::ExitCode {
    support::runner::main()
}
