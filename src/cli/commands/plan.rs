//! `wheelbuild plan` and `wheelbuild check`.

use crate::Exit;
use crate::plan::Plan;

use super::super::CommandResult;
use super::super::args::{Format, GlobalArgs, PlanArgs};
use super::super::printer::Printer;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::common::{
    CoreExt, exit_without_teardown, mark_remote, project_and_lock, required_remote, write_json,
};

pub(crate) fn plan(
    args: &GlobalArgs,
    global: &GlobalSettings,
    plan_args: &PlanArgs,
    printer: &Printer,
) -> CommandResult {
    let (project, lock) = project_and_lock(args, global)?;
    printer.config_warnings(&project.config.warnings);
    let mut plan = Plan::new(&project.config, &lock, &project.store()).core()?;
    with_remote(global, &project, &mut plan, printer)?;
    if let Some(shard) = plan_args.shard {
        plan.keep_shard(shard);
    }
    match (plan_args.format, plan_args.matrix_shards) {
        (Format::Table, _) => printer.data_with(|out| render::plan::write_table(&plan, out))?,
        (Format::Json, None) => printer.data_with(|out| write_json(out, &plan.to_json()))?,
        (Format::Json, Some(n)) => {
            printer.data_with(|out| write_json(out, &plan.to_json_sharded(usize::from(n))))?
        }
    }
    exit_without_teardown(plan);
    exit_without_teardown((lock, project));
    Ok(Exit::Success)
}

pub(crate) fn check(
    args: &GlobalArgs,
    global: &GlobalSettings,
    plan_args: &PlanArgs,
    printer: &Printer,
) -> CommandResult {
    let (project, lock) = project_and_lock(args, global)?;
    let mut plan = Plan::new(&project.config, &lock, &project.store()).core()?;
    with_remote(global, &project, &mut plan, printer)?;
    let summary = plan.summary();
    match plan_args.format {
        Format::Json => printer.data_with(|out| write_json(out, &plan.to_json()))?,
        Format::Table => {
            let mut out = String::new();
            for t in plan.to_build() {
                let reason = t
                    .reason
                    .as_ref()
                    .map(render::plan::reason)
                    .unwrap_or_default();
                out.push_str(&format!("build  {}  {}  {reason}\n", t.id(), t.key.short()));
            }
            for t in plan.to_test() {
                let Some(test) = &t.test else { continue };
                let reason = test
                    .pending
                    .as_ref()
                    .map(render::plan::test_reason)
                    .unwrap_or_default();
                out.push_str(&format!(
                    "test   {}  {}  {reason}\n",
                    t.id(),
                    test.key.short()
                ));
            }
            printer.data(&out);
            let remote = plan
                .targets
                .iter()
                .filter(|t| t.status == crate::plan::Status::Remote)
                .count();
            // Unavailable targets are not work: said, not counted.
            let available = summary.targets - summary.unavailable;
            let unavailable = match summary.unavailable {
                0 => String::new(),
                n => format!("; {n} unavailable, not built"),
            };
            if summary.build == 0 && remote > 0 {
                printer.status(
                    "Cached",
                    &format!(
                        "all {available} targets are in the store or the remote cache ({remote} remote){unavailable}"
                    ),
                );
            } else if summary.build == 0 && summary.test > 0 {
                printer.note(&format!(
                    "{} of {} targets would be tested (all are built)",
                    summary.test, summary.targets
                ));
            } else if summary.build == 0 {
                printer.status(
                    "Cached",
                    &format!("all {available} targets are in the store{unavailable}"),
                );
            } else {
                printer.note(&format!(
                    "{} of {available} targets would be built ({} cached){unavailable}",
                    summary.build, summary.cached
                ));
            }
        }
    }
    exit_without_teardown(plan);
    exit_without_teardown((lock, project));
    Ok(if summary.build == 0 && summary.test == 0 {
        Exit::Success
    } else {
        Exit::WouldRebuild
    })
}

/// With `--remote`: targets to build whose remote entry `pull` would accept are
/// [`Status::Remote`], from one tag listing and the listed entries' signatures (a registry
/// that cannot be reached is exit 3).
fn with_remote(
    global: &GlobalSettings,
    project: &ProjectSettings,
    plan: &mut Plan<'_>,
    printer: &Printer,
) -> anyhow::Result<()> {
    if !global.use_remote {
        return Ok(());
    }
    let remote = required_remote(project)?;
    mark_remote(&remote, plan, &super::super::network_runtime()?, printer)
}
