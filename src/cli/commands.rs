//! One function per subcommand: settings in, library calls, output out.

use std::collections::BTreeSet;

use anyhow::Context as _;

use wheelbuild::Exit;
use wheelbuild::lock::{Change, LockError, Lockfile};
use wheelbuild::plan::Plan;
use wheelbuild::resolve::{self, Update};

use super::args::{AuditArgs, Format, GlobalArgs, LockArgs, PlanArgs};
use super::printer::Printer;
use super::settings::{GlobalSettings, ProjectSettings};
use super::{Outcome, network_runtime};

type CoreResult<T> = Result<T, wheelbuild::Error>;

/// Lift a stage's error into the library's error type, which knows its exit code and hint.
pub(super) trait CoreExt<T> {
    fn core(self) -> CoreResult<T>;
}

impl<T, E: Into<wheelbuild::Error>> CoreExt<T> for Result<T, E> {
    fn core(self) -> CoreResult<T> {
        self.map_err(Into::into)
    }
}

pub fn lock(
    args: &GlobalArgs,
    global: &GlobalSettings,
    lock_args: &LockArgs,
    printer: &Printer,
) -> Outcome {
    let project = ProjectSettings::load(args)?;
    let old = Lockfile::read(&project.lock_path).core()?;
    if global.locked {
        if !lock_args.update.is_empty() || lock_args.update_all {
            anyhow::bail!(usage(
                "--locked cannot be combined with --update: it forbids changing the lock"
            ));
        }
        require_fresh(old.as_ref(), &project)?;
        printer.status(
            "Checked",
            &format!("{} is up to date", project.lock_path.display()),
        );
        return Ok(Exit::Success);
    }
    let update = if lock_args.update_all {
        Update::All
    } else if !lock_args.update.is_empty() {
        Update::Names(lock_args.update.clone())
    } else {
        Update::Keep
    };
    let runtime = network_runtime()?;
    relock(
        &project,
        old.as_ref(),
        &update,
        global.offline,
        printer,
        &runtime,
    )?;
    Ok(Exit::Success)
}

/// Resolve what `update` asks for, print every change, and write the lock (if it
/// changed). Shared by `lock` and `build --lock`.
pub(super) fn relock(
    project: &ProjectSettings,
    old: Option<&Lockfile>,
    update: &Update,
    offline: bool,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Lockfile> {
    // One `lock` at a time per project: two would race on the rename.
    let flock = project.cache_dir.join("lockfile.flock");
    let _guard = wheelbuild::fsutil::FileLock::acquire(&flock)
        .with_context(|| format!("cannot lock {}", flock.display()))?;
    let settings = project.resolve_settings(*printer);
    let outcome = runtime
        .block_on(resolve::lock(
            &project.config,
            old,
            update,
            offline,
            &settings,
        ))
        .map_err(wheelbuild::Error::from)?;
    for change in &outcome.changes {
        let (verb, text) = match change {
            Change::Added { what, new } => ("Adding", format!("{what} {new}")),
            Change::Updated { what, old, new } => ("Updating", format!("{what} {old} -> {new}")),
            Change::Removed { what, old } => ("Removing", format!("{what} {old}")),
        };
        printer.status(verb, &text);
    }
    let written = outcome.lock.write(&project.lock_path).core()?;
    printer.status(
        "Locked",
        &format!(
            "{} image(s), {} git ref(s){}",
            outcome.lock.images.len(),
            outcome.lock.git.len(),
            if written { "" } else { " (lockfile unchanged)" }
        ),
    );
    Ok(outcome.lock)
}

pub fn plan(
    args: &GlobalArgs,
    global: &GlobalSettings,
    plan_args: &PlanArgs,
    printer: &Printer,
) -> Outcome {
    let (project, lock) = project_and_lock(args, global)?;
    let plan = Plan::new(&project.config, &lock, &project.store()).core()?;
    match plan_args.format {
        Format::Table => printer.data_with(|out| plan.write_table(out))?,
        Format::Json => printer.data_with(|out| write_json(out, &plan.to_json()))?,
    }
    exit_without_teardown(plan);
    exit_without_teardown((lock, project));
    Ok(Exit::Success)
}

pub fn check(
    args: &GlobalArgs,
    global: &GlobalSettings,
    plan_args: &PlanArgs,
    printer: &Printer,
) -> Outcome {
    let (project, lock) = project_and_lock(args, global)?;
    let plan = Plan::new(&project.config, &lock, &project.store()).core()?;
    let summary = plan.summary();
    match plan_args.format {
        Format::Json => printer.data_with(|out| write_json(out, &plan.to_json()))?,
        Format::Table => {
            let mut out = String::new();
            for t in plan.to_build() {
                let reason = t.reason.as_ref().map(|r| r.summary()).unwrap_or_default();
                out.push_str(&format!("build  {}  {}  {reason}\n", t.id(), t.key.short()));
            }
            printer.data(&out);
            if summary.build == 0 {
                printer.status(
                    "Cached",
                    &format!("all {} targets are in the store", summary.targets),
                );
            } else {
                printer.note(&format!(
                    "{} of {} targets would be built ({} cached)",
                    summary.build, summary.targets, summary.cached
                ));
            }
        }
    }
    exit_without_teardown(plan);
    exit_without_teardown((lock, project));
    Ok(if summary.build == 0 {
        Exit::Success
    } else {
        Exit::WouldRebuild
    })
}

pub fn audit(
    args: &GlobalArgs,
    global: &GlobalSettings,
    audit_args: &AuditArgs,
    printer: &Printer,
) -> Outcome {
    let project = ProjectSettings::load(args)?;
    let lock = Lockfile::read(&project.lock_path).core()?;
    if global.locked {
        require_fresh(lock.as_ref(), &project)?;
    }
    let allow: BTreeSet<_> = audit_args.allow.iter().copied().collect();
    let settings = project.resolve_settings(*printer);
    let runtime = network_runtime()?;
    let report = runtime.block_on(wheelbuild::audit::audit(
        &project.config,
        lock.as_ref(),
        &settings,
        global.offline,
        &allow,
    ));
    match audit_args.format {
        Format::Table => printer.data(&report.to_text()),
        Format::Json => printer.data_with(|out| write_json(out, &report))?,
    }
    Ok(if report.findings.is_empty() {
        Exit::Success
    } else {
        Exit::AuditFindings
    })
}

/// The project and its lock, which must exist (and be fresh with --locked).
fn project_and_lock(
    args: &GlobalArgs,
    global: &GlobalSettings,
) -> anyhow::Result<(ProjectSettings, Lockfile)> {
    let project = ProjectSettings::load(args)?;
    let lock = Lockfile::read(&project.lock_path).core()?;
    let lock = if global.locked {
        require_fresh(lock.as_ref(), &project)?;
        lock.expect("checked")
    } else {
        lock.ok_or_else(|| LockError::Missing {
            path: project.lock_path.clone(),
        })
        .map_err(wheelbuild::Error::from)?
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
pub(super) fn usage(message: &str) -> wheelbuild::Error {
    wheelbuild::Error::Config(wheelbuild::config::ConfigError::Invalid {
        message: message.to_string(),
        location: None,
        hint: None,
    })
}
