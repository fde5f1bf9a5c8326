//! `wheelbuild verify`.

use crate::Exit;
use crate::exec;
use crate::plan::{Plan, Status};

use super::super::args::{Format, GlobalArgs, VerifyArgs};
use super::super::printer::Printer;
use super::super::progress::Progress;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::super::{CommandResult, network_runtime};
use super::common::{CoreExt, current_lock, select, usage, write_json};
use super::engine::{clean_up_killed_runs, engine, exit_if_interrupted};

pub(crate) fn verify(
    args: &GlobalArgs,
    global: &GlobalSettings,
    verify_args: &VerifyArgs,
    printer: &Printer,
) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    project
        .config
        .check_default_engine()
        .map_err(crate::Error::Config)?;
    let runtime = network_runtime()?;
    let lock = current_lock(&project, global, false, printer, &runtime)?;
    let store = project.store();
    let plan = Plan::new(&project.config, &lock, &store).core()?;
    let mut targets = select(&plan, &verify_args.targets)?;
    if verify_args.targets.is_empty() {
        targets.retain(|t| t.status == Status::Cached);
    } else if let Some(t) = targets.iter().find(|t| t.status != Status::Cached) {
        anyhow::bail!(usage(&format!(
            "{} is not in the store: build it before verifying it",
            t.target.id
        )));
    }
    let engine = engine(&runtime, &project, true)?;
    clean_up_killed_runs(&runtime, &engine, &store, printer);
    let settings = runtime.block_on(project.verify_settings(&engine, verify_args))?;
    let progress = Progress::new(global.verbosity);
    let keep = verify_args.keep.as_deref();
    let results = runtime.block_on(exec::schedule::run_all(
        targets.iter().map(|t| {
            exec::verify(
                &project.config,
                t,
                &store,
                &engine,
                &settings,
                &progress,
                keep,
            )
        }),
        settings.jobs,
    ));
    exit_if_interrupted(&runtime, &engine);
    let mut reports = Vec::new();
    let mut failures = 0;
    for (t, result) in targets.iter().zip(results) {
        match result {
            Ok(report) => reports.push(report),
            Err((error, log)) => {
                failures += 1;
                printer.note(&format!(
                    "error: {}: {error}{}",
                    t.target.id,
                    log.map(|l| format!(" (log: {})", l.display()))
                        .unwrap_or_default()
                ));
                if let Some(hint) = error.hint() {
                    printer.note(&format!("  hint: {hint}"));
                }
            }
        }
    }
    match verify_args.format {
        Format::Json => printer.data_with(|out| write_json(out, &reports))?,
        Format::Table => printer.data_with(|out| render::verify::write_reports(&reports, out))?,
    }
    Ok(if failures > 0 {
        Exit::BuildFailed
    } else if reports.iter().any(|r| !r.reproducible()) {
        Exit::NotReproducible
    } else {
        Exit::Success
    })
}
