//! `wheelbuild push`, `pull` and `key generate`: the remote cache by hand (`build` and
//! `check --remote` use it on their own). A target's passed test outcome goes with its
//! wheels both ways.

use crate::Exit;
use crate::plan::{Plan, PlannedTarget};
use crate::remote::{Pulled, Remote, RemoteError};
use crate::sign::SecretKey;
use crate::store::{Presence, Store};

use super::super::CommandResult;
use super::super::args::{GlobalArgs, KeyCommand, TargetsArgs};
use super::super::network_runtime;
use super::super::printer::Printer;
use super::super::settings::GlobalSettings;
use super::common::{
    CoreExt, check_push, exit_without_teardown, project_and_lock, required_remote, select, usage,
};

/// Each selected target with its presence in the local store, handed to `each` with the
/// remote and a runtime to call it on (after `first` has seen the remote); `each` answers
/// whether it went as asked.
fn for_selected(
    args: &GlobalArgs,
    global: &GlobalSettings,
    targets: &TargetsArgs,
    first: impl FnOnce(&Remote) -> anyhow::Result<()>,
    mut each: impl FnMut(
        &Remote,
        &Store,
        &tokio::runtime::Runtime,
        &PlannedTarget<'_>,
        bool,
    ) -> anyhow::Result<bool>,
) -> anyhow::Result<usize> {
    let (project, lock) = project_and_lock(args, global)?;
    let remote = required_remote(&project)?;
    first(&remote)?;
    let store = project.store();
    let plan = Plan::new(&project.config, &lock, &store).core()?;
    let runtime = network_runtime()?;
    let mut failed = 0;
    for t in select(&plan, &targets.targets)? {
        let present = store.presence(&t.key).core()? == Presence::Present;
        if !each(&remote, &store, &runtime, t, present)? {
            failed += 1;
        }
    }
    exit_without_teardown(plan);
    Ok(failed)
}

pub(crate) fn push(
    args: &GlobalArgs,
    global: &GlobalSettings,
    targets: &TargetsArgs,
    printer: &Printer,
) -> CommandResult {
    let missing = for_selected(
        args,
        global,
        targets,
        |remote| check_push(remote, printer),
        |remote, store, runtime, t, present| {
            if !present {
                printer.note(&format!("{} is not in the store: build it first", t.id()));
                return Ok(false);
            }
            let digest = runtime.block_on(remote.push(store, &t.key)).core()?;
            printer.status(
                "Pushed",
                &format!(
                    "{} {} to {} ({})",
                    t.id(),
                    t.key.short(),
                    remote.url(),
                    short(&digest)
                ),
            );
            // Its passed test outcome goes with it: another runner does not test again.
            if let Some(test) = &t.test
                && let Some(digest) = runtime
                    .block_on(remote.push_test(store, &test.key))
                    .core()?
            {
                printer.status(
                    "Pushed",
                    &format!(
                        "{} test outcome {} (passed) ({})",
                        t.id(),
                        test.key.short(),
                        short(&digest)
                    ),
                );
            }
            Ok(true)
        },
    )?;
    Ok(if missing == 0 {
        Exit::Success
    } else {
        Exit::WouldRebuild
    })
}

pub(crate) fn pull(
    args: &GlobalArgs,
    global: &GlobalSettings,
    targets: &TargetsArgs,
    printer: &Printer,
) -> CommandResult {
    let refused = for_selected(
        args,
        global,
        targets,
        |_| Ok(()),
        |remote, store, runtime, t, present| {
            let refused = |e: RemoteError| -> anyhow::Result<bool> {
                match e {
                    e @ RemoteError::Refused { .. } => {
                        printer.error(&anyhow::Error::from(crate::Error::from(e)));
                        Ok(false)
                    }
                    e => Err(crate::Error::from(e).into()),
                }
            };
            if !present {
                match runtime.block_on(remote.pull(store, &t.key)) {
                    Ok(Pulled::Stored) => {
                        printer.status("Pulled", &format!("{} {}", t.id(), t.key.short()))
                    }
                    Ok(Pulled::Absent) => {
                        printer.note(&format!(
                            "{} {} is not in the remote cache",
                            t.id(),
                            t.key.short()
                        ));
                        return Ok(true);
                    }
                    Err(e) => return refused(e),
                }
            }
            // With the wheels, their passed test outcome if another runner pushed one.
            let Some(test) = t.test.as_ref().filter(|x| x.pending.is_some()) else {
                return Ok(true);
            };
            match runtime.block_on(remote.pull_test(store, &test.key, &t.key)) {
                Ok(Pulled::Stored) => printer.status(
                    "Pulled",
                    &format!("{} test outcome {} (passed)", t.id(), test.key.short()),
                ),
                Ok(Pulled::Absent) => {}
                Err(e) => return refused(e),
            }
            Ok(true)
        },
    )?;
    Ok(if refused == 0 {
        Exit::Success
    } else {
        Exit::Unavailable
    })
}

pub(crate) fn key(command: &KeyCommand, printer: &Printer) -> CommandResult {
    match command {
        KeyCommand::Generate { name, dir } => {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(usage(&format!(
                    "key name `{name}`: letters, digits, `-`, `_` and `.` only"
                ))
                .into());
            }
            let key = SecretKey::generate(name)
                .map_err(crate::remote::RemoteError::from)
                .core()?;
            let (secret, public) = key
                .write(dir)
                .map_err(crate::remote::RemoteError::from)
                .core()?;
            printer.status(
                "Generated",
                &format!(
                    "{} (secret: keep it out of version control) and {}",
                    secret.display(),
                    public.display()
                ),
            );
            // The public key on stdout, for `[remote] trusted-keys`.
            printer.data(&format!("{}\n", key.public()));
            Ok(Exit::Success)
        }
    }
}

fn short(digest: &str) -> String {
    crate::lock::short_digest(digest)
}
