//! The simple index: a table of its variants, and what regenerating it changed.

use std::path::Path;

use crate::wheelhouse::index::IndexReport;

/// `path` relative to the config's root when it is under it, as the table shows it.
fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `wheelbuild index`'s output: a row per variant, with the `--index-url` to give pip.
pub(crate) fn write_table(
    out: &mut dyn std::io::Write,
    report: &IndexReport,
    root: &Path,
) -> std::io::Result<()> {
    let w = report
        .variants
        .iter()
        .map(|v| v.tag.len())
        .max()
        .unwrap_or(0)
        .max("VARIANT".len());
    writeln!(out, "{:w$}  PROJECTS  WHEELS  INDEX", "VARIANT")?;
    for v in &report.variants {
        writeln!(
            out,
            "{:w$}  {:>8}  {:>6}  {}",
            v.tag,
            v.projects,
            v.files,
            relative(&v.simple, root)
        )?;
    }
    writeln!(
        out,
        "{} page(s) written, {} unchanged, {} removed; {} wheel(s) left out",
        report.written.len(),
        report.unchanged,
        report.removed.len(),
        report.left_out.len()
    )
}

/// `(verb, text)` status lines: each variant indexed, each entry removed.
pub(crate) fn status(report: &IndexReport, root: &Path) -> Vec<(&'static str, String)> {
    let mut lines: Vec<(&'static str, String)> = report
        .removed
        .iter()
        .map(|p| ("Removed", relative(p, root)))
        .collect();
    let written = |simple: &Path| {
        report
            .written
            .iter()
            .filter(|p| p.starts_with(simple))
            .count()
    };
    for v in &report.variants {
        let pages = match written(&v.simple) {
            0 => "unchanged".to_string(),
            n => format!("{n} page(s) written"),
        };
        lines.push((
            "Indexed",
            format!(
                "{}: {} project(s), {} wheel(s) in {} ({pages})",
                v.tag,
                v.projects,
                v.files,
                relative(&v.simple, root)
            ),
        ));
    }
    lines
}

/// A warning per wheel the index leaves out.
pub(crate) fn left_out(report: &IndexReport, root: &Path) -> Vec<String> {
    report
        .left_out
        .iter()
        .map(|l| {
            format!(
                "warning: {} is not in the index: {}",
                relative(&l.wheel, root),
                l.reason
            )
        })
        .collect()
}
