//! `wheelbuild build`.

use std::time::Instant;

use crate::Exit;
use crate::config::IndexSetting;
use crate::exec::{self, Outcome, TargetReport};
use crate::plan::{Plan, PlannedTarget, Status};

use super::super::args::{BuildArgs, GlobalArgs};
use super::super::printer::Printer;
use super::super::progress::Progress;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::super::{CommandResult, network_runtime};
use super::common::{
    CoreExt, check_push, current_lock, exit_without_teardown, mark_remote, regenerate_index,
    report_index, select,
};
use super::engine::{clean_up_killed_runs, exit_if_interrupted, pool};

pub(crate) fn build(
    args: &GlobalArgs,
    global: &GlobalSettings,
    build_args: &BuildArgs,
    printer: &Printer,
) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    // Before the lock, which `build` may redo in images no engine can run.
    project
        .config
        .check_default_engine()
        .map_err(crate::Error::Config)?;
    printer.config_warnings(&project.config.warnings);
    let runtime = network_runtime()?;
    let lock = current_lock(&project, global, build_args.lock, printer, &runtime)?;
    let store = project.store();
    let mut plan = Plan::new(&project.config, &lock, &store).core()?;
    if let Some(shard) = build_args.shard {
        // What the remote has is not this runner's to build: it agrees with the others.
        if let Some(remote) = project.remote()? {
            mark_remote(&remote, &mut plan, &runtime, printer)?;
        }
        plan.keep_shard(shard);
    }
    let targets = select(&plan, &build_args.only)?;
    if build_args.dry_run {
        let selected = Plan {
            targets: targets.into_iter().cloned().collect(),
        };
        printer.data_with(|out| render::plan::write_table(&selected, out))?;
        return Ok(Exit::Success);
    }
    // The index publishes nothing for their environments: said, not built.
    let (unavailable, targets): (Vec<_>, Vec<_>) = targets
        .into_iter()
        .partition(|t| t.status == Status::Unavailable);
    if !unavailable.is_empty() {
        let ids: Vec<&str> = unavailable.iter().map(|t| t.id()).collect();
        printer.status(
            "Unavailable",
            &format!("{}: not built (`wheelbuild plan` says why)", ids.join(", ")),
        );
        if targets.is_empty() {
            printer.status("Nothing", "to build: every selected target is unavailable");
            exit_without_teardown(plan);
            return Ok(Exit::Success);
        }
    }

    // Nothing to build: no daemon contacted (nor asked for its resources). A cached target
    // whose store entry turns out damaged connects when it must build.
    let started = Instant::now();
    let mut pool = pool(
        &runtime,
        &project,
        &build_args.engine,
        &targets,
        build_args.jobs,
    )?;
    for e in &pool {
        clean_up_killed_runs(&runtime, &e.engine, &store, printer);
    }
    let settings = runtime.block_on(project.build_settings(&pool[0].engine, build_args))?;
    if pool[0].spec.is_none() {
        // The default engine: as many slots as its resources (or `--jobs`) allow.
        pool[0].jobs = settings.jobs;
    }
    if settings.push
        && let Some(remote) = &settings.remote
    {
        check_push(remote, printer)?;
    }
    let progress = Progress::new(global.verbosity);
    let owned: Vec<PlannedTarget> = targets.into_iter().cloned().collect();
    let reports = runtime.block_on(exec::build(
        &project.config,
        &owned,
        &store,
        &pool,
        &settings,
        &progress,
    ));
    for e in &pool {
        exit_if_interrupted(&runtime, &e.engine);
    }
    printer.data_with(|out| {
        render::build::write_summary(out, &reports, &project.config.root, started.elapsed())
    })?;

    let failed: Vec<&TargetReport> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .collect();
    let infrastructure = failed
        .iter()
        .any(|r| matches!(&r.outcome, Outcome::Failed { error, .. } if error.is_infrastructure()));
    // After every placement, whatever was built: the index always matches the wheelhouse.
    if project.config.settings.output_index != IndexSetting::Off {
        let report = regenerate_index(&project)?;
        report_index(printer, &report, &project);
    }
    let not_pushed = reports.iter().filter(|r| r.not_pushed.is_some()).count();
    if not_pushed > 0 {
        printer.note(&format!(
            "{not_pushed} target(s) built but not pushed to the remote cache (exit 3)"
        ));
    }
    exit_without_teardown(plan);
    Ok(match (failed.is_empty(), infrastructure) {
        (true, _) if not_pushed > 0 => Exit::Unavailable,
        (true, _) => Exit::Success,
        (false, true) => Exit::Unavailable,
        (false, false) => Exit::BuildFailed,
    })
}
