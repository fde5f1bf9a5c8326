//! What several commands share: the lock and the targets they run on, the remote cache
//! as they consult it, the simple index they regenerate, and small output helpers.

use anyhow::Context as _;

use crate::config::IndexSetting;
use crate::lock::{Change, LockError, Lockfile};
use crate::plan::{Plan, PlannedTarget};
use crate::remote::Remote;
use crate::resolve::{self, Update};
use crate::wheelhouse::index::IndexReport;
use crate::wheelhouse::{self, Wheelhouse};

use super::super::args::GlobalArgs;
use super::super::printer::Printer;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};

type CoreResult<T> = Result<T, crate::Error>;

/// Lift a stage's error into the library's error type, which knows its exit code and hint.
pub(super) trait CoreExt<T> {
    fn core(self) -> CoreResult<T>;
}

impl<T, E: Into<crate::Error>> CoreExt<T> for Result<T, E> {
    fn core(self) -> CoreResult<T> {
        self.map_err(Into::into)
    }
}

/// Resolve what `update` asks for, print every change, and write the lock (if it
/// changed). Shared by `lock` and `build --lock`.
pub(super) fn relock(
    project: &ProjectSettings,
    old: Option<&Lockfile>,
    update: &Update,
    update_env: bool,
    offline: bool,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Lockfile> {
    // One `lock` at a time per project: two would race on the rename.
    let flock = project.cache_dir.join("lockfile.flock");
    let _guard = crate::fsutil::FileLock::acquire(&flock)
        .with_context(|| format!("cannot lock {}", flock.display()))?;
    let settings = project.resolve_settings(*printer);
    // Connected only if an environment must be resolved.
    let engine = super::engine::engine(runtime, project, false)?;
    let access = project.access()?;
    let sources = project.cache_dir.join("sources");
    let environments = resolve::environment::EnvContext {
        engine: &engine,
        access: &access,
        sources: &sources,
    };
    let request = resolve::LockRequest {
        update,
        update_env,
        offline,
        environments: &environments,
    };
    let outcome = runtime
        .block_on(resolve::lock(&project.config, old, &request, &settings))
        .map_err(crate::Error::from)?;
    for change in &outcome.changes {
        let (verb, text) = match change {
            Change::Added { what, new } => ("Adding", format!("{what} {new}")),
            Change::Updated { what, old, new } => ("Updating", format!("{what} {old} -> {new}")),
            Change::Removed { what, old } => ("Removing", format!("{what} {old}")),
        };
        printer.status(verb, &text);
    }
    for e in &outcome.lock.environments {
        if let Some(why) = e.unavailable_reason() {
            printer.status(
                "Unavailable",
                &format!("environment {}: {why} (not built)", e.describe()),
            );
        }
    }
    let written = outcome.lock.write(&project.lock_path).core()?;
    printer.status(
        "Locked",
        &format!(
            "{} image(s), {} git ref(s){}{}",
            outcome.lock.images.len(),
            outcome.lock.git.len(),
            match outcome.lock.environments.len() {
                0 => String::new(),
                n => format!(", {n} environment(s)"),
            },
            if written { "" } else { " (lockfile unchanged)" }
        ),
    );
    Ok(outcome.lock)
}

/// The project, whose targets some engine can run, and its lock, which must exist (and be
/// fresh with --locked).
pub(super) fn project_and_lock(
    args: &GlobalArgs,
    global: &GlobalSettings,
) -> anyhow::Result<(ProjectSettings, Lockfile)> {
    let project = ProjectSettings::load(args)?;
    project
        .config
        .check_default_engine()
        .map_err(crate::Error::Config)?;
    let lock = Lockfile::read(&project.lock_path).core()?;
    let lock = if global.locked {
        require_fresh(lock.as_ref(), &project)?;
        lock.expect("checked")
    } else {
        lock.ok_or_else(|| LockError::Missing {
            path: project.lock_path.clone(),
        })
        .map_err(crate::Error::from)?
    };
    Ok((project, lock))
}

pub(super) fn require_fresh(lock: Option<&Lockfile>, project: &ProjectSettings) -> CoreResult<()> {
    match lock {
        None => Err(LockError::Missing {
            path: project.lock_path.clone(),
        }
        .into()),
        Some(l) => l.check_fresh(&project.config).map_err(Into::into),
    }
}

/// The lock, which must match the config: `--locked` forbids changing it, `--lock`
/// updates it first, and otherwise a stale lock is an error (builds never run on pins
/// the user has not seen).
pub(super) fn current_lock(
    project: &ProjectSettings,
    global: &GlobalSettings,
    lock_first: bool,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Lockfile> {
    let old = Lockfile::read(&project.lock_path).core()?;
    if global.locked && lock_first {
        anyhow::bail!(usage("--locked and --lock contradict each other"));
    }
    match require_fresh(old.as_ref(), project) {
        Ok(()) => Ok(old.expect("fresh implies present")),
        Err(e) if !lock_first => Err(anyhow::Error::from(e)
            .context("build needs a lock that matches the config; pass --lock to update it first")),
        Err(_) => relock(
            project,
            old.as_ref(),
            &Update::Keep,
            false,
            global.offline,
            printer,
            runtime,
        ),
    }
}

/// Targets named by `only` (project names or target ids); all when empty.
pub(super) fn select<'p, 'a>(
    plan: &'p Plan<'a>,
    only: &[String],
) -> anyhow::Result<Vec<&'p PlannedTarget<'a>>> {
    if only.is_empty() {
        return Ok(plan.targets.iter().collect());
    }
    for name in only {
        if !plan
            .targets
            .iter()
            .any(|t| t.target.id == *name || t.project.name == *name)
        {
            let candidates: Vec<&str> = plan
                .targets
                .iter()
                .flat_map(|t| [t.target.id.as_str(), t.project.name.as_str()])
                .collect();
            let hint = crate::diag::did_you_mean(name, candidates)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    "give a project name or a target id from `wheelbuild plan`".into()
                });
            anyhow::bail!(crate::Error::Config(crate::config::ConfigError::usage(
                format!("`{name}` is neither a project nor a target"),
                Some(hint),
            )));
        }
    }
    Ok(plan
        .targets
        .iter()
        .filter(|t| {
            only.iter()
                .any(|n| t.target.id == *n || t.project.name == *n)
        })
        .collect())
}

/// The configured remote, or a usage error naming how to configure one.
pub(super) fn required_remote(project: &ProjectSettings) -> anyhow::Result<Remote> {
    project.remote()?.ok_or_else(|| {
        usage("no remote cache: set `[remote] url`, or pass `--remote URL` (or WHEELBUILD_REMOTE)")
            .into()
    })
}

/// Refusals of remote entries said one by one, up to this many.
const REFUSALS_SHOWN: usize = 5;

/// Mark the plan's targets to build whose remote entry `pull` would accept as
/// [`crate::plan::Status::Remote`]: one listing, then the listed entries' signatures. An
/// entry that would be refused is said, and its target stays to build.
pub(super) fn mark_remote(
    remote: &Remote,
    plan: &mut Plan<'_>,
    runtime: &tokio::runtime::Runtime,
    printer: &Printer,
) -> anyhow::Result<()> {
    let keys: Vec<_> = plan.to_build().map(|t| t.key.clone()).collect();
    if !keys.is_empty() {
        mark_remote_builds(remote, plan, &keys, runtime, printer)?;
    }
    // Then the tests of what is built or pulled: a passed outcome another runner pushed
    // is pulled, not run again.
    let tests = plan.tests_to_ask();
    if tests.is_empty() {
        return Ok(());
    }
    let (usable, refused) = runtime.block_on(remote.holding_tests(&tests)).core()?;
    for (key, reason) in refused.iter().take(REFUSALS_SHOWN) {
        let ids: Vec<&str> = plan
            .targets
            .iter()
            .filter(|t| t.test.as_ref().is_some_and(|x| x.key == *key))
            .map(|t| t.id())
            .collect();
        printer.note(&format!(
            "warning: {}: remote test outcome {} is refused: {reason}; the test counts as to run",
            ids.join(", "),
            key.short()
        ));
    }
    plan.mark_remote_tests(&usable);
    Ok(())
}

/// The build half of [`mark_remote`].
fn mark_remote_builds(
    remote: &Remote,
    plan: &mut Plan<'_>,
    keys: &[crate::key::BuildKey],
    runtime: &tokio::runtime::Runtime,
    printer: &Printer,
) -> anyhow::Result<()> {
    let holding = runtime.block_on(remote.holding(keys)).core()?;
    for (key, reason) in holding.refused.iter().take(REFUSALS_SHOWN) {
        let ids: Vec<&str> = plan
            .to_build()
            .filter(|t| t.key == *key)
            .map(|t| t.id())
            .collect();
        printer.note(&format!(
            "warning: {}: remote entry {} is refused: {reason}; it counts as to build",
            ids.join(", "),
            key.short()
        ));
    }
    if holding.refused.len() > REFUSALS_SHOWN {
        printer.note(&format!(
            "warning: {} more entries of the remote cache are refused",
            holding.refused.len() - REFUSALS_SHOWN
        ));
    }
    plan.mark_remote(&holding.usable);
    Ok(())
}

/// Before pushing to `remote`: a push that would be unsigned where keys are trusted is
/// refused (exit 2) before anything is built or sent, and a signer that this config does
/// not trust is said.
pub(super) fn check_push(remote: &Remote, printer: &Printer) -> anyhow::Result<()> {
    remote.may_push().core()?;
    if let Some(name) = remote.untrusted_signer().core()? {
        printer.note(&format!(
            "warning: the signing key `{name}` is not in `[remote] trusted-keys`: pulls with \
             this config refuse what it pushes (list the public key that `wheelbuild key \
             generate` printed)"
        ));
    }
    Ok(())
}

/// Regenerate the simple index of every variant of the config, and with `[output] index =
/// "variants"` the one over them all, from the wheelhouse as it is (`index`, and `build`
/// with `[output] index`).
pub(super) fn regenerate_index(project: &ProjectSettings) -> Result<IndexReport, crate::Error> {
    let wheelhouse = Wheelhouse::new(
        &project.config.settings.output_dir,
        &wheelhouse::lock_path(&project.store()),
    );
    let all_variants = project.config.settings.output_index == IndexSetting::Variants;
    wheelhouse
        .index(&project.config.targets, all_variants)
        .core()
}

/// Status lines (stderr) of a regenerated index: each variant, what was removed, the
/// wheels left out.
pub(super) fn report_index(printer: &Printer, report: &IndexReport, project: &ProjectSettings) {
    let root = &project.config.root;
    for line in render::index::left_out(report, root) {
        printer.note(&line);
    }
    for (verb, line) in render::index::status(report, root) {
        printer.status(verb, &line);
    }
}

/// The process is about to exit: let the OS reclaim a big plan's memory at once instead
/// of running tens of thousands of destructors (a measurable part of `plan` on 1000
/// targets).
pub(super) fn exit_without_teardown<T>(data: T) {
    std::mem::forget(data);
}

pub(super) fn write_json<T: serde::Serialize>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A usage mistake, reported as a user error.
pub(super) fn usage(message: &str) -> crate::Error {
    crate::Error::Config(crate::config::ConfigError::usage(message, None))
}
