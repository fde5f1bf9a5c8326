//! `wheelbuild build`, and what `verify` shares with it: the lock, target selection,
//! build settings, the engine and its cleanup.

use std::time::Instant;

use crate::Exit;
use crate::docker::Engine;
use crate::exec::{self, BuildSettings, Outcome, TargetReport};
use crate::lock::Lockfile;
use crate::plan::{Plan, PlannedTarget, Status};
use crate::resolve::Update;

use super::super::args::{BuildArgs, GlobalArgs};
use super::super::printer::Printer;
use super::super::progress::Progress;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::super::{CommandResult, network_runtime};
use super::{CoreExt, exit_without_teardown, relock, require_fresh, usage};

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
            super::remote::mark_remote(&remote, &mut plan, &runtime, printer)?;
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
        Some(remote) if settings.push => super::remote::check_push(remote, printer)?,
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

/// The engines of a build: the config's `[[engine]]`s (those `--engine` names, when any),
/// or the default one. Each is connected now when something is to be built (one that is
/// down is exit 3 naming it, before anything starts), removes this run's containers on
/// Ctrl-C, and gets its slots (`--jobs`, else its `jobs`, else from its cores and memory)
/// and the `MAX_JOBS` of its builds (its cores and memory shared by its slots).
fn pool(
    runtime: &tokio::runtime::Runtime,
    project: &ProjectSettings,
    only: &[String],
    targets: &[&PlannedTarget<'_>],
    jobs: Option<usize>,
) -> anyhow::Result<Vec<exec::PoolEngine>> {
    let now = targets.iter().any(|t| t.status == Status::Build);
    let declared = &project.config.settings.engines;
    for name in only {
        if !declared.iter().any(|e| e.name == *name) {
            let hint =
                match crate::diag::did_you_mean(name, declared.iter().map(|e| e.name.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if declared.is_empty() => "the config declares no `[[engine]]`".into(),
                    None => format!(
                        "the config's engines are {}",
                        crate::diag::list(declared.iter().map(|e| &e.name))
                    ),
                };
            anyhow::bail!(crate::Error::Config(crate::config::ConfigError::usage(
                format!("no engine is named `{name}`"),
                Some(hint),
            )));
        }
    }
    if declared.is_empty() {
        let engine = engine(runtime, project, now)?;
        return Ok(vec![exec::PoolEngine {
            engine,
            jobs: jobs.unwrap_or(0),
            max_jobs: None,
            spec: None,
        }]);
    }
    let mut pool = Vec::new();
    for spec in declared
        .iter()
        .filter(|e| only.is_empty() || only.contains(&e.name))
    {
        let engine = Engine::at(&spec.name, &spec.host, spec.tls.clone());
        if now {
            runtime
                .block_on(engine.connect())
                .map_err(crate::Error::from)?;
        }
        remove_containers_on_interrupt(runtime, &engine);
        // Its own machine's cores and memory: a pool's engines need not be alike.
        let (cpus, memory) = runtime.block_on(engine.resources());
        let (slots, max_jobs) = exec::default_parallelism(cpus, memory, jobs.or(spec.jobs));
        pool.push(exec::PoolEngine {
            engine,
            jobs: slots,
            max_jobs: Some(max_jobs),
            spec: Some(spec.clone()),
        });
    }
    // `--engine` may leave targets no engine of the run can build.
    for t in targets.iter().filter(|t| t.status == Status::Build) {
        if !pool.iter().any(|e| e.serves(t)) {
            anyhow::bail!(crate::Error::Config(crate::config::ConfigError::usage(
                format!(
                    "no engine of this run can build {} ({}{})",
                    t.target.id,
                    t.target.image.platform,
                    if t.project.gpu { ", GPU" } else { "" }
                ),
                Some("name an engine that can with `--engine`, or leave the target out with `--only`".into()),
            )));
        }
    }
    Ok(pool)
}

/// The engine of commands that use one (`lock`'s environment resolution, `verify`, `gc`):
/// the first `[[engine]]`, else the one `DOCKER_HOST` names.
pub(super) fn first_engine(project: &ProjectSettings) -> Engine {
    match project.config.settings.engines.first() {
        Some(spec) => Engine::at(&spec.name, &spec.host, spec.tls.clone()),
        None => Engine::lazy(),
    }
}

/// [`first_engine`], connected now when `now` (a daemon that is down is exit 3 before
/// anything starts), and this run's containers removed on Ctrl-C.
pub(super) fn engine(
    runtime: &tokio::runtime::Runtime,
    project: &ProjectSettings,
    now: bool,
) -> anyhow::Result<Engine> {
    let engine = first_engine(project);
    if now {
        runtime
            .block_on(engine.connect())
            .map_err(crate::Error::from)?;
    }
    remove_containers_on_interrupt(runtime, &engine);
    Ok(engine)
}

/// Remove what killed runs left (containers when connected, staging always), and say so.
pub(super) fn clean_up_killed_runs(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    store: &crate::store::Store,
    printer: &Printer,
) {
    match runtime.block_on(exec::cleanup(engine, store)) {
        Ok(done) if done.is_empty() => {}
        Ok(done) => printer.status(
            "Removed",
            &format!(
                "{} container(s) and {} staging director(ies) left by killed runs",
                done.containers.len(),
                done.staging.len()
            ),
        ),
        // Leftovers cost space, not correctness: say so and go on.
        Err(e) => printer.note(&format!(
            "warning: cleaning up after killed runs failed: {e}"
        )),
    }
}

/// How long a run interrupted by Ctrl-C may take to wind down by itself (its builds see
/// their containers gone, remove their staging directories and it exits 130 through
/// [`exit_if_interrupted`]) before the signal task exits for it.
const WIND_DOWN: std::time::Duration = std::time::Duration::from_secs(10);

/// On Ctrl-C, remove the containers still running, then exit 130: through the run, which
/// ends once its containers are gone, or after [`WIND_DOWN`] when it does not (a pull or a
/// git fetch under way). Exiting at once raced the builds' own clean-up: a staging
/// directory, or a container whose removal the build had started, was left behind.
fn remove_containers_on_interrupt(runtime: &tokio::runtime::Runtime, engine: &Engine) {
    let engine = engine.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            engine.live.interrupt();
            let n = engine.live.ids().len();
            eprintln!("interrupted: removing {n} container(s)");
            engine
                .remove_all(&crate::docker::owner::owner_labels())
                .await;
            tokio::time::sleep(WIND_DOWN).await;
            std::process::exit(130);
        }
    });
}

/// After an interrupted run: finish removing containers (the signal task may still be at
/// it) and exit 130, without a summary that would blame the builds.
pub(super) fn exit_if_interrupted(runtime: &tokio::runtime::Runtime, engine: &Engine) {
    if engine.live.interrupted() {
        runtime.block_on(engine.remove_all(&crate::docker::owner::owner_labels()));
        std::process::exit(130);
    }
}
