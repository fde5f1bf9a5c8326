//! `verify`'s report: per target, reproducible or what differs, down to ELF sections.

use std::io::Write;

use crate::exec::VerifyReport;

pub(crate) fn write_reports(reports: &[VerifyReport], out: &mut dyn Write) -> std::io::Result<()> {
    let short = |sha: &str| sha.chars().take(12).collect::<String>();
    for r in reports {
        if r.reproducible() {
            writeln!(out, "reproducible  {}  (every wheel byte-identical)", r.id)?;
        } else if r.differences.is_empty() {
            writeln!(
                out,
                "DAMAGED       {}  (the rebuild matches the record; the stored wheels do not)",
                r.id
            )?;
        } else {
            writeln!(out, "DIFFERENT     {}", r.id)?;
        }
        for d in &r.damaged {
            writeln!(out, "  stored wheel damaged: {d}")?;
        }
        if let Some(q) = &r.quarantined {
            writeln!(out, "  store entry moved to {}", q.display())?;
        }
        for (file, d) in &r.differences {
            writeln!(
                out,
                "  {file}: recorded {} rebuilt {}",
                short(&d.recorded_sha256),
                d.rebuilt_sha256
                    .as_deref()
                    .map_or("(missing)".into(), short)
            )?;
            if d.metadata_only {
                writeln!(
                    out,
                    "    same files and contents; only zip metadata (timestamps, order) differs"
                )?;
            }
            for (kind, list) in [
                ("changed", &d.changed),
                ("added", &d.added),
                ("removed", &d.removed),
            ] {
                for f in list {
                    match d.sections.get(f).filter(|s| !s.is_empty()) {
                        Some(sections) => {
                            writeln!(out, "    {kind}: {f} (sections: {})", sections.join(", "))?
                        }
                        None => writeln!(out, "    {kind}: {f}")?,
                    }
                }
            }
        }
        if let Some(k) = &r.kept {
            writeln!(out, "  rebuilt wheels kept in {}", k.display())?;
        }
    }
    Ok(())
}
