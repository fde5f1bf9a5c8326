//! `wheelbuild audit`.

use std::collections::BTreeSet;

use crate::Exit;
use crate::lock::Lockfile;

use super::super::args::{AuditArgs, Format, GlobalArgs};
use super::super::printer::Printer;
use super::super::render;
use super::super::settings::{GlobalSettings, ProjectSettings};
use super::super::{CommandResult, network_runtime};
use super::common::{CoreExt, require_fresh, write_json};

pub(crate) fn audit(
    args: &GlobalArgs,
    global: &GlobalSettings,
    audit_args: &AuditArgs,
    printer: &Printer,
) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    let lock = Lockfile::read(&project.lock_path).core()?;
    if global.locked {
        require_fresh(lock.as_ref(), &project)?;
    }
    let allow: BTreeSet<_> = audit_args.allow.iter().copied().collect();
    let settings = project.resolve_settings(*printer);
    let runtime = network_runtime()?;
    let report = runtime.block_on(crate::audit::audit(
        &project.config,
        lock.as_ref(),
        &project.store(),
        &settings,
        global.offline,
        &allow,
    ));
    match audit_args.format {
        Format::Table => printer.data_with(|out| render::audit::write_report(&report, out))?,
        Format::Json => printer.data_with(|out| write_json(out, &report))?,
    }
    Ok(if report.findings.is_empty() {
        Exit::Success
    } else {
        Exit::AuditFindings
    })
}
