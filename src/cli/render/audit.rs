//! `audit`'s report for people: the table of pins, then the findings.

use std::io::Write;

use crate::audit::AuditReport;
use crate::lock::short_digest;

pub(crate) fn write_report(report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
    let w = report
        .inputs
        .iter()
        .map(|i| i.subject.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let pad = |s: &str, width: usize| {
        let mut s = s.to_string();
        s.extend(std::iter::repeat_n(
            ' ',
            width.saturating_sub(s.chars().count()),
        ));
        s
    };
    writeln!(out, "INPUT  {}  KIND    PIN", pad("REF", w))?;
    for i in &report.inputs {
        let pin = match (&i.pin, &i.index_digest) {
            (Some(p), Some(idx)) => format!("{p} (index {})", short_digest(idx)),
            (Some(p), None) => p.clone(),
            (None, _) => "NOT PINNED".into(),
        };
        writeln!(
            out,
            "{}  {}  {}  {pin}",
            pad(i.input, 5),
            pad(&i.subject, w),
            pad(&i.kind, 6)
        )?;
    }
    if !report.checked_upstream {
        writeln!(out, "\nupstream not checked (--offline)")?;
    }
    if report.findings.is_empty() {
        let allowed = if report.allowed.is_empty() {
            String::new()
        } else {
            format!(" ({} allowed)", report.allowed.len())
        };
        writeln!(out, "\nno findings{allowed}")?;
    } else {
        writeln!(out, "\n{} finding(s):", report.findings.len())?;
        for f in &report.findings {
            write!(out, "  [{}] {}: {}", f.kind, f.subject, f.message)?;
            if let Some(l) = &f.location {
                write!(out, " ({l})")?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}
