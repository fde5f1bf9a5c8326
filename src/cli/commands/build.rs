//! `wheelbuild build`, and the build settings `verify` shares with it.

use std::time::Instant;

use crate::Exit;
use crate::docker::Engine;
use crate::exec::{self, BuildSettings, Outcome, TargetReport};
use crate::plan::{Plan, PlannedTarget};

use super::super::args::{BuildArgs, GlobalArgs};
use super::super::printer::Printer;
use super::super::progress::Progress;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::super::{CommandResult, network_runtime};
use super::common::{
    CoreExt, check_push, current_lock, exit_without_teardown, mark_remote, select, usage,
};
use super::engine::{clean_up_killed_runs, exit_if_interrupted, pool};

pub(crate) fn build(
    args: &GlobalArgs,
    global: &GlobalSettings,
    build_args: &BuildArgs,
    printer: &Printer,
) -> CommandResult {
    let project = ProjectSettings::load(args)?;
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
    let mut settings = runtime.block_on(build_settings(
        &project,
        &pool[0].engine,
        build_args.jobs,
        build_args.keep_going,
        build_args.rebuild_env,
    ))?;
    if pool[0].spec.is_none() {
        // The default engine: as many slots as its resources (or `--jobs`) allow.
        pool[0].jobs = settings.jobs;
    }
    settings.remote = project.remote()?.map(std::sync::Arc::new);
    settings.push = build_args.push || project.config.settings.remote.push;
    match &settings.remote {
        Some(remote) if settings.push => check_push(remote, printer)?,
        None if settings.push => {
            return Err(usage(
                "--push needs a remote cache: set `[remote] url`, or pass `--remote URL`",
            )
            .into());
        }
        _ => {}
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
    if project.config.settings.output_index {
        let report = super::index::regenerate(&project)?;
        super::index::report_to(printer, &report, &project);
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

/// Resolve build settings: config, then the daemon's resources for defaults.
pub(super) async fn build_settings(
    project: &ProjectSettings,
    engine: &Engine,
    jobs: Option<usize>,
    keep_going: bool,
    rebuild_env: bool,
) -> anyhow::Result<BuildSettings> {
    let settings = &project.config.settings;
    let access = project.access()?;
    let (cpus, memory) = engine.resources().await;
    let (jobs, max_jobs) = exec::default_parallelism(cpus, memory, jobs);
    Ok(BuildSettings {
        jobs,
        keep_going,
        rebuild_env,
        uid: settings.build.uid.unwrap_or(1000),
        gid: settings.build.gid.unwrap_or(1000),
        access,
        cache_dir: project.cache_dir.clone(),
        ccache: settings.cache.ccache,
        pip_cache: settings.cache.pip,
        channel: project.channel.clone(),
        output_dir: settings.output_dir.clone(),
        max_jobs,
        log_dir: project.cache_dir.join("logs"),
        network: project.network,
        remote: None,
        push: false,
        signer: settings
            .remote
            .sign_with
            .as_deref()
            .map(crate::sign::SecretKey::read)
            .transpose()
            .map_err(crate::remote::RemoteError::from)
            .map_err(crate::Error::from)?
            .map(std::sync::Arc::new),
    })
}
