//! The plan as a table, and why each target must be built, for people.

use std::fmt::Write as _;

use crate::key::InputChange;
use crate::lock::{is_full_sha, short_digest};
use crate::plan::{Plan, Reason, Status, TestReason};

/// `TARGET  STATUS  KEY  IMAGE  COMMIT  REASON`, row by row (a plan of thousands of
/// targets is not built in memory), then the totals.
pub(crate) fn write_table(plan: &Plan<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let id_width = plan
        .targets
        .iter()
        .map(|t| t.target.id.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut row = String::with_capacity(id_width + 120);
    row.push_str("TARGET");
    pad(&mut row, id_width + 2 - 6);
    row.push_str("STATUS  KEY           IMAGE                COMMIT        REASON\n");
    out.write_all(row.as_bytes())?;
    for t in &plan.targets {
        let status = match t.status {
            Status::Cached => "cached",
            Status::Build => "build ",
            Status::Remote => "remote",
            Status::Unavailable => "n/a   ",
        };
        // Plain pushes: this runs once per target, and `format!` padding is slow (and
        // limited to widths below 65536).
        row.clear();
        row.push_str(&t.target.id);
        pad(&mut row, id_width - t.target.id.chars().count() + 2);
        row.push_str(status);
        row.push_str("  ");
        row.push_str(t.key.short());
        row.push_str("  ");
        let digest = &t.image.manifest_digest;
        row.push_str(&digest[..19.min(digest.len())]);
        row.push_str("  ");
        row.push_str(&t.git.commit[..12]);
        row.push_str("  ");
        if let Some(r) = &t.reason {
            row.push_str(&reason(r));
        } else if let Some(r) = t.test.as_ref().and_then(|x| x.pending.as_ref()) {
            row.push_str(&test_reason(r));
        } else if let Some(why) = t.target.test.as_ref().and_then(|x| x.skip.as_ref()) {
            row.push_str("test skipped: ");
            row.push_str(why);
        }
        // No trailing spaces on cached rows.
        row.truncate(row.trim_end_matches(' ').len());
        row.push('\n');
        out.write_all(row.as_bytes())?;
    }
    let s = plan.summary();
    let unavailable = match s.unavailable {
        0 => String::new(),
        n => format!(", {n} unavailable"),
    };
    let tests = match s.test {
        0 => String::new(),
        n => format!(" ({n} to test)"),
    };
    writeln!(
        out,
        "{} targets: {} cached{tests}, {} to build{unavailable}",
        s.targets, s.cached, s.build
    )?;
    environments(plan, out)
}

/// Each environment the targets install, once: its image's facts and how many pins.
fn environments(plan: &Plan<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for e in plan.targets.iter().filter_map(|t| t.env) {
        if !seen.insert(e as *const _) {
            continue;
        }
        if let Some(why) = e.unavailable_reason() {
            writeln!(out, "environment {}: unavailable: {why}", e.describe())?;
            continue;
        }
        let facts: Vec<String> = e.facts.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let from_image = match e.from_image.len() {
            0 => String::new(),
            n => format!(", {n} from the image"),
        };
        writeln!(
            out,
            "environment {}: {}; {} pip, {} apt package(s) pinned{from_image}",
            e.describe(),
            facts.join(", "),
            e.packages.len(),
            e.debs.len()
        )?;
    }
    Ok(())
}

fn pad(row: &mut String, n: usize) {
    row.extend(std::iter::repeat_n(' ', n));
}

/// One line saying why a cached target's test runs.
pub(crate) fn test_reason(reason: &TestReason) -> String {
    match reason {
        TestReason::NotTested => "test pending: never run with these wheels and test inputs".into(),
        TestReason::NotRun { why } => format!("test pending: not run ({why})"),
    }
}

/// One line saying why a target is built.
pub(crate) fn reason(reason: &Reason) -> String {
    match reason {
        Reason::NewTarget => "new target".into(),
        Reason::RecordMissing => "build record missing from the store".into(),
        Reason::PreviousUnreadable { detail } => format!("previous build unreadable ({detail})"),
        Reason::Damaged { path, problem } => {
            format!("store entry damaged: {problem} ({})", path.display())
        }
        Reason::Unavailable { detail } => format!("unavailable: {detail}"),
        Reason::InputsChanged { changes } => {
            let mut s = String::new();
            for (i, c) in changes.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{}", change(c));
            }
            s
        }
    }
}

/// `source.commit 1a2b3c4d5e6f -> 7a8b9c0d1e2f`: digests and SHAs shortened.
pub(crate) fn change(c: &InputChange) -> String {
    let short = |v: Option<String>| match v {
        None => "(none)".to_string(),
        Some(v) if v.starts_with("sha256:") => short_digest(&v),
        Some(v) if is_full_sha(&v) => v[..12].to_string(),
        Some(v) => v,
    };
    let (old, new) = c.values();
    format!("{} {} -> {}", c.input(), short(old), short(new))
}
