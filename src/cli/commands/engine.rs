//! The Docker engines a command runs on: which, connected when, and what they are left
//! with after killed or interrupted runs.

use crate::docker::Engine;
use crate::exec;
use crate::plan::{PlannedTarget, Status};

use super::super::printer::Printer;
use super::super::settings::ProjectSettings;

/// The engines of a build: the config's `[[engine]]`s (those `--engine` names, when any),
/// or the default one. Each is connected now when something is to be built (one that is
/// down is exit 3 naming it, before anything starts), removes this run's containers on
/// Ctrl-C, and gets its slots (`--jobs`, else its `jobs`, else from its cores and memory)
/// and the `MAX_JOBS` of its builds (its cores and memory shared by its slots).
pub(super) fn pool(
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
        if !pool.iter().any(|e| e.runs(t, &project.config).is_some()) {
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
