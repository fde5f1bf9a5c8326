//! `wheelbuild lock`.

use crate::Exit;
use crate::lock::Lockfile;
use crate::resolve::Update;

use super::super::args::{GlobalArgs, LockArgs};
use super::super::printer::Printer;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::super::{CommandResult, network_runtime};
use super::common::{CoreExt, relock, require_fresh, usage};

pub(crate) fn lock(
    args: &GlobalArgs,
    global: &GlobalSettings,
    lock_args: &LockArgs,
    printer: &Printer,
) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    let old = Lockfile::read(&project.lock_path).core()?;
    if global.locked {
        if !lock_args.update.is_empty() || lock_args.update_all || lock_args.update_env {
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
        lock_args.update_env,
        global.offline,
        printer,
        &runtime,
    )?;
    Ok(Exit::Success)
}
