//! `wheelbuild index`.

use crate::Exit;

use super::super::CommandResult;
use super::super::args::GlobalArgs;
use super::super::printer::Printer;
use super::super::render;
use super::super::settings::ProjectSettings;
use super::common::{regenerate_index, report_index};

pub(crate) fn index(args: &GlobalArgs, printer: &Printer) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    printer.config_warnings(&project.config.warnings);
    let report = regenerate_index(&project)?;
    report_index(printer, &report, &project);
    printer.data_with(|out| render::index::write_table(out, &report, &project.config.root))?;
    Ok(Exit::Success)
}
