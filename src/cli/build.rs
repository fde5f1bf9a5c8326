//! `wheelbuild build` and `wheelbuild verify`.

use std::time::Instant;

use futures::StreamExt;
use wheelbuild::Exit;
use wheelbuild::config::spec::Network;
use wheelbuild::exec::docker::Engine;
use wheelbuild::exec::{self, BuildSettings, Outcome, TargetReport};
use wheelbuild::lock::Lockfile;
use wheelbuild::plan::{Plan, PlannedTarget};
use wheelbuild::resolve::Update;

use super::args::{BuildArgs, Format, GlobalArgs, VerifyArgs};
use super::commands::{CoreExt, exit_without_teardown, relock, require_fresh, usage, write_json};
use super::printer::Printer;
use super::progress::Progress;
use super::settings::{GlobalSettings, ProjectSettings};
use super::{Outcome as CommandOutcome, network_runtime};

pub fn build(
    args: &GlobalArgs,
    global: &GlobalSettings,
    build_args: &BuildArgs,
    printer: &Printer,
) -> CommandOutcome {
    let project = ProjectSettings::load(args)?;
    let runtime = network_runtime()?;
    let lock = current_lock(&project, global, build_args.lock, printer, &runtime)?;
    let store = project.store();
    let plan = Plan::new(&project.config, &lock, &store).core()?;
    let targets = select(&plan, &build_args.only)?;
    if build_args.dry_run {
        let selected = Plan {
            targets: targets.into_iter().cloned().collect(),
        };
        printer.data_with(|out| selected.write_table(out))?;
        return Ok(Exit::Success);
    }

    // Nothing to build: no daemon needed (nor asked for its resources).
    let started = Instant::now();
    let engine = if targets
        .iter()
        .any(|t| t.status == wheelbuild::plan::Status::Build)
    {
        let engine = runtime
            .block_on(Engine::connect())
            .map_err(wheelbuild::Error::from)?;
        remove_containers_on_interrupt(&runtime, &engine);
        Some(engine)
    } else {
        None
    };
    let settings = runtime.block_on(build_settings(
        &project,
        engine.as_ref(),
        build_args.jobs,
        build_args.keep_going,
        build_args.rebuild_env,
    ));
    let progress = Progress::new(global.verbosity);
    let owned: Vec<PlannedTarget> = targets.into_iter().cloned().collect();
    let reports = runtime.block_on(exec::build(
        &project.config,
        &owned,
        &store,
        engine.as_ref(),
        &settings,
        &progress,
    ));
    exit_if_interrupted(&runtime, engine.as_ref());
    printer.data_with(|out| write_summary(out, &reports, &project, started.elapsed()))?;

    let failed: Vec<&TargetReport> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .collect();
    let infrastructure = failed
        .iter()
        .any(|r| matches!(&r.outcome, Outcome::Failed { error, .. } if error.is_infrastructure()));
    exit_without_teardown(plan);
    Ok(match (failed.is_empty(), infrastructure) {
        (true, _) => Exit::Success,
        (false, true) => Exit::Unavailable,
        (false, false) => Exit::BuildFailed,
    })
}

pub fn verify(
    args: &GlobalArgs,
    global: &GlobalSettings,
    verify_args: &VerifyArgs,
    printer: &Printer,
) -> CommandOutcome {
    let project = ProjectSettings::load(args)?;
    let runtime = network_runtime()?;
    let lock = current_lock(&project, global, false, printer, &runtime)?;
    let store = project.store();
    let plan = Plan::new(&project.config, &lock, &store).core()?;
    let mut targets = select(&plan, &verify_args.targets)?;
    if verify_args.targets.is_empty() {
        targets.retain(|t| t.status == wheelbuild::plan::Status::Cached);
    } else if let Some(t) = targets
        .iter()
        .find(|t| t.status != wheelbuild::plan::Status::Cached)
    {
        anyhow::bail!(usage(&format!(
            "{} is not in the store: build it before verifying it",
            t.spec.id
        )));
    }
    let engine = runtime
        .block_on(Engine::connect())
        .map_err(wheelbuild::Error::from)?;
    remove_containers_on_interrupt(&runtime, &engine);
    let settings = runtime.block_on(build_settings(
        &project,
        Some(&engine),
        verify_args.jobs,
        true,
        false,
    ));
    let progress = Progress::new(global.verbosity);
    // `settings.jobs` rebuilds at a time, in target order.
    let results: Vec<_> = runtime.block_on(
        futures::stream::iter(
            targets
                .iter()
                .map(|t| exec::verify(&project.config, t, &store, &engine, &settings, &progress)),
        )
        .buffered(settings.jobs.max(1))
        .collect(),
    );
    exit_if_interrupted(&runtime, Some(&engine));
    let mut reports = Vec::new();
    let mut failures = 0;
    for (t, result) in targets.iter().zip(results) {
        match result {
            Ok(report) => reports.push(report),
            Err((error, log)) => {
                failures += 1;
                printer.note(&format!(
                    "error: {}: {error}{}",
                    t.spec.id,
                    log.map(|l| format!(" (log: {})", l.display()))
                        .unwrap_or_default()
                ));
            }
        }
    }
    match verify_args.format {
        Format::Json => printer.data_with(|out| write_json(out, &reports))?,
        Format::Table => printer.data_with(|out| {
            for r in &reports {
                if r.differences.is_empty() {
                    writeln!(out, "reproducible  {}  (every wheel byte-identical)", r.id)?;
                    continue;
                }
                writeln!(out, "DIFFERENT     {}", r.id)?;
                for (file, d) in &r.differences {
                    writeln!(out, "  {file}: stored {} rebuilt {}", short(&d.stored_sha256), d.rebuilt_sha256.as_deref().map_or("(missing)".into(), short))?;
                    if d.metadata_only {
                        writeln!(out, "    same files and contents; only zip metadata (timestamps, order) differs")?;
                    }
                    for (kind, list) in [("changed", &d.changed), ("added", &d.added), ("removed", &d.removed)] {
                        for f in list {
                            writeln!(out, "    {kind}: {f}")?;
                        }
                    }
                }
            }
            Ok(())
        })?,
    }
    Ok(if failures > 0 {
        Exit::BuildFailed
    } else if reports.iter().any(|r| !r.differences.is_empty()) {
        Exit::NotReproducible
    } else {
        Exit::Success
    })
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// The lock, which must match the config: `--locked` forbids changing it, `--lock`
/// updates it first, and otherwise a stale lock is an error (builds never run on pins
/// the user has not seen).
fn current_lock(
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
            global.offline,
            printer,
            runtime,
        ),
    }
}

/// Targets named by `only` (project names or target ids); all when empty.
fn select<'p, 'a>(
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
            .any(|t| t.spec.id == *name || t.project.name == *name)
        {
            let candidates: Vec<&str> = plan
                .targets
                .iter()
                .flat_map(|t| [t.spec.id.as_str(), t.project.name.as_str()])
                .collect();
            let hint = wheelbuild::diag::did_you_mean(name, candidates)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    "give a project name or a target id from `wheelbuild plan`".into()
                });
            anyhow::bail!(wheelbuild::Error::Config(
                wheelbuild::config::ConfigError::Invalid {
                    message: format!("`{name}` is neither a project nor a target"),
                    location: None,
                    hint: Some(hint),
                }
            ));
        }
    }
    Ok(plan
        .targets
        .iter()
        .filter(|t| only.iter().any(|n| t.spec.id == *n || t.project.name == *n))
        .collect())
}

/// Resolve build settings: config, then the daemon's resources for defaults.
async fn build_settings(
    project: &ProjectSettings,
    engine: Option<&Engine>,
    jobs: Option<usize>,
    keep_going: bool,
    rebuild_env: bool,
) -> BuildSettings {
    let config = &project.config;
    let (cpus, memory) = match engine {
        Some(e) => e.resources().await,
        None => (1, 0),
    };
    let (jobs, max_jobs) = exec::default_parallelism(cpus, memory, jobs);
    let channel = std::env::var("WHEELBUILD_CACHE_CHANNEL")
        .unwrap_or_else(|_| config.file.cache.channel.clone());
    BuildSettings {
        jobs,
        keep_going,
        rebuild_env,
        uid: config.file.build.uid.unwrap_or(1000),
        gid: config.file.build.gid.unwrap_or(1000),
        network_none: config.file.build.network == Some(Network::None),
        cache_dir: project.cache_dir.clone(),
        ccache: config.file.cache.ccache,
        pip_cache: config.file.cache.pip,
        channel,
        output_dir: config.resolve_path(&config.file.output.dir),
        max_jobs,
        log_dir: project.cache_dir.join("logs"),
        network: project.network,
    }
}

/// On Ctrl-C, remove the containers still running, then exit 130.
fn remove_containers_on_interrupt(runtime: &tokio::runtime::Runtime, engine: &Engine) {
    let engine = engine.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            engine.live.interrupt();
            let n = engine.live.ids().len();
            eprintln!("interrupted: removing {n} container(s)");
            engine.remove_all().await;
            std::process::exit(130);
        }
    });
}

/// After an interrupted run: finish removing containers (the signal task may still be at
/// it) and exit 130, without a summary that would blame the builds.
fn exit_if_interrupted(runtime: &tokio::runtime::Runtime, engine: Option<&Engine>) {
    if let Some(engine) = engine.filter(|e| e.live.interrupted()) {
        runtime.block_on(engine.remove_all());
        std::process::exit(130);
    }
}

fn write_summary(
    out: &mut dyn std::io::Write,
    reports: &[TargetReport],
    project: &ProjectSettings,
    elapsed: std::time::Duration,
) -> std::io::Result<()> {
    let w = reports.iter().map(|r| r.id.len()).max().unwrap_or(6).max(6);
    writeln!(
        out,
        "{:w$}  {:8}  {:>7}  WHEELS",
        "TARGET", "STATUS", "TIME"
    )?;
    let (mut built, mut cached, mut failed) = (0, 0, 0);
    for r in reports {
        let (status, time) = match &r.outcome {
            Outcome::Built { duration, .. } => {
                built += 1;
                ("built", format!("{:.1}s", duration.as_secs_f64()))
            }
            Outcome::Cached { restored: 0 } => {
                cached += 1;
                ("cached", "-".into())
            }
            Outcome::Cached { .. } => {
                cached += 1;
                ("restored", "-".into())
            }
            Outcome::Failed { .. } => {
                failed += 1;
                ("failed", "-".into())
            }
        };
        let wheels: Vec<String> = r
            .wheels
            .iter()
            .map(|p| {
                p.strip_prefix(&project.config.root)
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .collect();
        let row = format!("{:w$}  {status:8}  {time:>7}  {}", r.id, wheels.join(" "));
        writeln!(out, "{}", row.trim_end())?;
    }
    writeln!(
        out,
        "{} target{}: {built} built, {cached} cached, {failed} failed in {:.1}s",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        elapsed.as_secs_f64()
    )
}
