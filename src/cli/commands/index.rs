//! `wheelbuild index`, and the index `build` regenerates with `[output] index = true`.

use crate::Exit;
use crate::wheelhouse::index::IndexReport;
use crate::wheelhouse::{self, Wheelhouse};

use super::super::CommandResult;
use super::super::args::GlobalArgs;
use super::super::printer::Printer;
use super::super::render;
use super::super::settings::ProjectSettings;
use super::common::CoreExt;

pub(crate) fn index(args: &GlobalArgs, printer: &Printer) -> CommandResult {
    let project = ProjectSettings::load(args)?;
    let report = regenerate(&project)?;
    report_to(printer, &report, &project);
    printer.data_with(|out| render::index::write_table(out, &report, &project.config.root))?;
    Ok(Exit::Success)
}

/// Regenerate the index of every variant of the config from the wheelhouse as it is.
pub(super) fn regenerate(project: &ProjectSettings) -> Result<IndexReport, crate::Error> {
    let wheelhouse = Wheelhouse::new(
        &project.config.settings.output_dir,
        &wheelhouse::lock_path(&project.store()),
    );
    wheelhouse.index(&project.config.targets).core()
}

/// Status lines (stderr): each variant, what was removed, the wheels left out.
pub(super) fn report_to(printer: &Printer, report: &IndexReport, project: &ProjectSettings) {
    let root = &project.config.root;
    for line in render::index::left_out(report, root) {
        printer.note(&line);
    }
    for (verb, line) in render::index::status(report, root) {
        printer.status(verb, &line);
    }
}
