//! `wheelbuild gc`: remove store entries and environment images that no target of the
//! current config uses. Runs on a lock that matches the config, since the keys it keeps
//! are the plan's.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::Exit;
use crate::plan::Plan;

use super::super::CommandResult;
use super::super::args::{GcArgs, GlobalArgs};
use super::super::network_runtime;
use super::super::printer::Printer;
use super::super::settings::ProjectSettings;
use super::common::{CoreExt, require_fresh};

pub(crate) fn gc(
    args: &GlobalArgs,
    _global: &super::super::settings::GlobalSettings,
    gc_args: &GcArgs,
    printer: &Printer,
) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    let lock = crate::lock::Lockfile::read(&project.lock_path).core()?;
    // Keys from a stale lock would be the wrong ones to keep.
    require_fresh(lock.as_ref(), &project)?;
    let lock = lock.expect("fresh implies present");
    let store = project.store();
    let plan = Plan::new(&project.config, &lock, &store).core()?;
    let live: BTreeSet<_> = plan.targets.iter().map(|t| t.key.clone()).collect();
    let mut live_envs: BTreeSet<String> = plan
        .targets
        .iter()
        .map(|t| crate::exec::env_tag(&t.inputs(&project.config)))
        .collect();
    // And the test environments' images.
    live_envs.extend(plan.targets.iter().filter_map(|t| {
        let test = t.test.as_ref()?;
        let env = test.env?;
        let image = crate::key::ImageKey::of(test.image);
        Some(crate::exec::env_tag_of(&image, &[], &env.packages))
    }));
    let variants: BTreeSet<String> = plan
        .targets
        .iter()
        .map(|t| t.target.cell.accel.to_string())
        .collect();
    let keep = Duration::from_secs(gc_args.keep_days.saturating_mul(86_400));
    let dry = gc_args.dry_run;
    let verb = if dry { "Would remove" } else { "Removed" };

    let report = store.gc(&live, keep, dry).core()?;
    for key in &report.held {
        printer.note(&format!(
            "kept store entry {}: a running build holds it",
            key.short()
        ));
    }
    for e in &report.unreadable {
        printer.note(&format!(
            "kept every stored wheel, since this record may name any of them: {e}"
        ));
        if let Some(hint) = e.hint() {
            printer.note(&format!("  hint: {hint}"));
        }
    }
    printer.status(
        verb,
        &format!(
            "{} store entr(ies), {} wheel(s) and {} quarantined entr(ies): {}",
            report.keys.len(),
            report.wheels.len(),
            report.quarantine,
            size(report.bytes)
        ),
    );
    if report.recent > 0 {
        printer.note(&format!(
            "kept {} unused store entr(ies) younger than {} day(s)",
            report.recent, gc_args.keep_days
        ));
    }

    // Images: only when the daemon answers (the store's part does not need it).
    let runtime = network_runtime()?;
    let engine = super::engine::first_engine(&project);
    match runtime.block_on(crate::exec::collect_env_images(
        &engine, &store, &live_envs, keep, dry,
    )) {
        Ok(envs) => {
            for tag in &envs.in_use {
                printer.note(&format!("kept {tag}: a container uses it"));
            }
            printer.status(
                verb,
                &format!(
                    "{} environment image(s): {}",
                    envs.removed.len(),
                    size(envs.bytes)
                ),
            );
            if envs.recent > 0 {
                printer.note(&format!(
                    "kept {} unused environment image(s) younger than {} day(s)",
                    envs.recent, gc_args.keep_days
                ));
            }
        }
        Err(e) => printer.note(&format!(
            "environment images not collected: {}",
            crate::Error::from(e)
        )),
    }
    match runtime.block_on(crate::exec::collect_cache_volumes(
        &engine,
        &project.channel,
        &variants,
        gc_args.prune_caches,
        dry,
    )) {
        Ok(caches) => render_caches(printer, &caches, verb),
        Err(e) => printer.note(&format!(
            "cache volumes not collected: {}",
            crate::Error::from(e)
        )),
    }
    Ok(Exit::Success)
}

/// The engine's cache volumes: this config's, the others (removed with `--prune-caches`).
fn render_caches(printer: &Printer, caches: &crate::exec::CacheGc, verb: &str) {
    let names = |v: &[crate::exec::CacheVolume]| {
        v.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !caches.kept.is_empty() {
        printer.note(&format!(
            "kept {} cache volume(s) of this channel and its variants: {}",
            caches.kept.len(),
            names(&caches.kept)
        ));
    }
    if !caches.other.is_empty() {
        printer.note(&format!(
            "{} cache volume(s) of other channels or variants (`--prune-caches` removes them): {}",
            caches.other.len(),
            names(&caches.other)
        ));
    }
    for volume in &caches.in_use {
        printer.note(&format!("kept {}: a container uses it", volume.name));
    }
    if !caches.removed.is_empty() {
        printer.status(
            verb,
            &format!(
                "{} cache volume(s): {}",
                caches.removed.len(),
                names(&caches.removed)
            ),
        );
    }
}

/// `12.3 MiB`.
fn size(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
