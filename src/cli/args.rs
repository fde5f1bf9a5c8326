//! Command-line arguments. Only syntax lives here; meaning is in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "wheelbuild",
    version,
    about = "Reproducible, content-addressed builds of Python wheels for GPU projects",
    after_help = "Exit codes: 0 ok, 1 build failed, 2 user error, 3 registry/git/Docker unavailable,\n\
                  10 targets would be built, 11 audit findings, 12 lockfile missing or out of date, 70 internal error."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Path of the config file [default: wheelbuild.toml in this or a parent directory]
    #[arg(long, global = true, env = "WHEELBUILD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Fail (exit 12) when wheelbuild.lock is missing or out of date, instead of updating it.
    /// Checked offline.
    #[arg(long, global = true)]
    pub locked: bool,
    /// Never touch the network: use only what the lock and local caches hold.
    #[arg(long, global = true, env = "WHEELBUILD_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,
    /// Store directory [default: store.dir of the config]
    #[arg(long, global = true, env = "WHEELBUILD_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Cache directory, for git mirrors and build caches [default: cache.dir of the config]
    #[arg(long, global = true, env = "WHEELBUILD_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// More output; repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less output.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// When to use colors.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// Use the shared build cache: `--remote` for the configured one, `--remote=URL`
    /// (`registry[:port]/repository`) for another. `build` uses a configured remote
    /// anyway; `plan` and `check` only with this flag.
    #[arg(long, global = true, value_name = "URL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub remote: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a commented wheelbuild.toml for a repository, from what it declares (build
    /// requirements, CUDA/HIP code, requires-python, torch, [tool.cibuildwheel]).
    Init(InitArgs),
    /// Resolve image tags to digests and git refs to commits, into wheelbuild.lock.
    Lock(LockArgs),
    /// Show every target with its key and whether it must be built, and why.
    Plan(PlanArgs),
    /// CI cache check: exit 0 when every target is in the store, 10 when some would build.
    Check(PlanArgs),
    /// Report inputs that are not pinned, mutable, or moved upstream since locking.
    Audit(AuditArgs),
    /// Build every target whose key is not in the store, in digest-pinned containers; put
    /// the wheels of the others back into the wheelhouse when they are missing there.
    Build(BuildArgs),
    /// Rebuild stored targets in fresh containers, with empty compiler caches, and compare
    /// their wheels byte for byte with the store.
    Verify(VerifyArgs),
    /// Remove store entries and environment images no target of the config uses.
    Gc(GcArgs),
    /// Write the simple package index of each accelerator variant over the wheelhouse
    /// (`<output.dir>/index/<accel>/simple/`, for `pip install --index-url`).
    Index,
    /// Push store entries to the remote cache (signed with `[remote] sign-with`).
    Push(TargetsArgs),
    /// Pull entries a trusted key signed from the remote cache into the store.
    Pull(TargetsArgs),
    /// Signing keys for the remote cache.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print the shell completion script for SHELL, e.g.
    /// `wheelbuild completions bash > /etc/bash_completion.d/wheelbuild`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page in roff: wheelbuild(1), or with COMMAND wheelbuild-COMMAND(1).
    #[command(hide = true)]
    Man {
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// List the commands that have a page, one per line.
        #[arg(long, conflicts_with = "command")]
        list: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The project: a directory, or a git URL [default: the current directory]
    #[arg(value_name = "PATH|GIT-URL")]
    pub source: Option<String>,
    /// Python versions of the matrix (repeatable) [default: those of the default table that
    /// the project allows]
    #[arg(long, value_name = "VERSION")]
    pub python: Vec<String>,
    /// Accelerator variants of the matrix (repeatable): `cpu`, `cudaX.Y`, `rocmX.Y`
    /// [default: from the GPU code found]
    #[arg(long, value_name = "VARIANT")]
    pub cuda: Vec<String>,
    /// One image template for every cell, e.g. `registry.internal/base:py{python}-{variant}`
    /// [default: the default image table]
    #[arg(long, value_name = "TEMPLATE")]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TargetsArgs {
    /// Target ids or project names [default: every target of the config]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Make an ed25519 key pair: DIR/NAME.secret (mode 0600) and DIR/NAME.public; prints
    /// the public key for `[remote] trusted-keys`.
    Generate {
        name: String,
        /// Where to write the files.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Keep unused entries and images younger than this many days.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_days: u64,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove the engine's cache volumes (ccache, pip) of channels and variants
    /// this config does not build (other projects on the engine may use them).
    #[arg(long)]
    pub prune_caches: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Targets built at once on each engine [default: the engine's `jobs`, else from its
    /// cores and memory]
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Build only on these `[[engine]]`s (repeatable).
    #[arg(long, value_name = "NAME")]
    pub engine: Vec<String>,
    /// Keep building the other targets after one fails.
    #[arg(long)]
    pub keep_going: bool,
    /// Only these projects or target ids (repeatable).
    #[arg(long, value_name = "PROJECT|TARGET")]
    pub only: Vec<String>,
    /// Show what would be built (as `plan`), build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rebuild the apt/pip environment images even when they exist (ATLAS' NO_CACHE=1).
    #[arg(long)]
    pub rebuild_env: bool,
    /// Run every test again, even one whose outcome is stored for its test key.
    #[arg(long)]
    pub retest: bool,
    /// Update wheelbuild.lock first when it does not match the config (else that is an error).
    #[arg(long)]
    pub lock: bool,
    /// Push what this run builds to the remote cache (as `[remote] push = true`).
    #[arg(long)]
    pub push: bool,
    /// Build only the targets to build that fall in part I of N: every runner of a CI
    /// matrix computes the same split (use `--remote` so that they agree on what is cached).
    #[arg(long, value_name = "I/N", conflicts_with = "only")]
    pub shard: Option<crate::plan::shard::Shard>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Target ids or project names [default: every target in the store]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Targets rebuilt at once [default: from the daemon's cores and memory]
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Keep the rebuilt wheels in DIR/<target id>/ (to inspect what differs).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Re-resolve only these projects (their git ref) or images (reference or repository).
    /// A pip package name re-resolves every environment that installs it.
    #[arg(long, value_name = "NAME", num_args = 1.., conflicts_with = "update_all")]
    pub update: Vec<String>,
    /// Re-resolve every input.
    #[arg(long)]
    pub update_all: bool,
    /// Re-resolve every environment (pip and apt packages) in its pinned image.
    #[arg(long)]
    pub update_env: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Output format. The JSON is documented in the README and versioned.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only the targets to build that fall in part I of N (CI fan-out; see `build --shard`).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::plan::shard::Shard>,
    /// In the JSON, a GitHub Actions matrix of one entry per shard of N (`{"shard": "2/4",
    /// "targets": 5}`) instead of one per target.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub matrix_shards: Option<u16>,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Accept findings of this kind (repeatable), e.g. `--allow mutable-ref`.
    #[arg(long, value_name = "KIND", value_parser = parse_finding_kind)]
    pub allow: Vec<crate::audit::FindingKind>,
}

fn parse_finding_kind(s: &str) -> Result<crate::audit::FindingKind, String> {
    s.parse()
}
