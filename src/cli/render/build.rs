//! `build`'s summary table: one row per target, then the totals.

use std::path::Path;
use std::time::Duration;

use crate::exec::{Outcome, PassedBy, TargetReport, Tested};

pub(crate) fn write_summary(
    out: &mut dyn std::io::Write,
    reports: &[TargetReport],
    root: &Path,
    elapsed: Duration,
) -> std::io::Result<()> {
    let w = reports
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let pad = |s: &str| {
        let mut s = s.to_string();
        s.extend(std::iter::repeat_n(
            ' ',
            w.saturating_sub(s.chars().count()),
        ));
        s
    };
    // Where each target was built, when a pool of declared engines built any.
    let engine_of = |r: &TargetReport| match (&r.engine, &r.retried_from) {
        (Some(e), Some(lost)) => format!("{e} (after {lost})"),
        (Some(e), None) => e.clone(),
        _ => "-".into(),
    };
    let ew = reports
        .iter()
        .filter(|r| r.engine.is_some())
        .map(|r| engine_of(r).chars().count())
        .max()
        .map(|w| w.max(6));
    let engine_col = |s: &str| match ew {
        Some(w) => format!("{s:w$}  "),
        None => String::new(),
    };
    writeln!(
        out,
        "{}  STATUS       TIME  {}WHEELS",
        pad("TARGET"),
        engine_col("ENGINE")
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
            Outcome::Pulled => {
                cached += 1;
                ("pulled", "-".into())
            }
            Outcome::Failed { .. } => {
                failed += 1;
                ("failed", "-".into())
            }
        };
        let wheels: Vec<String> = r
            .wheels
            .iter()
            .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
            .collect();
        let row = format!(
            "{}  {status:8}  {time:>7}  {}{}",
            pad(&r.id),
            engine_col(&engine_of(r)),
            wheels.join(" ")
        );
        writeln!(out, "{}", row.trim_end())?;
        match &r.tested {
            Some(Tested::Passed {
                from: PassedBy::Stored,
                ..
            }) => writeln!(out, "{}  test passed (stored outcome)", pad(""))?,
            Some(Tested::Passed {
                from: PassedBy::Pulled,
                ..
            }) => writeln!(
                out,
                "{}  test passed on another runner (its signed outcome pulled from the remote cache)",
                pad("")
            )?,
            Some(Tested::Passed { duration, .. }) => writeln!(
                out,
                "{}  test passed in {:.1}s",
                pad(""),
                duration.as_secs_f64()
            )?,
            Some(Tested::NotRun { why }) => {
                writeln!(out, "{}  test not run: {why}: placed untested", pad(""))?
            }
            None => {}
        }
    }
    writeln!(
        out,
        "{} target{}: {built} built, {cached} cached, {failed} failed in {:.1}s",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        elapsed.as_secs_f64()
    )
}
