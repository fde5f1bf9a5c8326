//! `wheelbuild plan` and `wheelbuild check`.

use crate::Exit;
use crate::plan::Plan;

use super::super::Outcome;
use super::super::args::{Format, GlobalArgs, PlanArgs};
use super::super::printer::Printer;
use super::super::render;
use super::super::settings::GlobalSettings;
use super::{CoreExt, exit_without_teardown, project_and_lock, write_json};

pub(crate) fn plan(
    args: &GlobalArgs,
    global: &GlobalSettings,
    plan_args: &PlanArgs,
    printer: &Printer,
) -> Outcome {
    let (project, lock) = project_and_lock(args, global)?;
    let plan = Plan::new(&project.config, &lock, &project.store()).core()?;
    match plan_args.format {
        Format::Table => printer.data_with(|out| render::plan::write_table(&plan, out))?,
        Format::Json => printer.data_with(|out| write_json(out, &plan.to_json()))?,
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
) -> Outcome {
    let (project, lock) = project_and_lock(args, global)?;
    let plan = Plan::new(&project.config, &lock, &project.store()).core()?;
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
            printer.data(&out);
            if summary.build == 0 {
                printer.status(
                    "Cached",
                    &format!("all {} targets are in the store", summary.targets),
                );
            } else {
                printer.note(&format!(
                    "{} of {} targets would be built ({} cached)",
                    summary.build, summary.targets, summary.cached
                ));
            }
        }
    }
    exit_without_teardown(plan);
    exit_without_teardown((lock, project));
    Ok(if summary.build == 0 {
        Exit::Success
    } else {
        Exit::WouldRebuild
    })
}
