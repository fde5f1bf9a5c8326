//! `audit`'s report for people: the table of pins, then the findings.

use std::io::Write;

use crate::audit::AuditReport;
use crate::lock::short_digest;

/// The table fits a terminal this wide: a long reference is cut in the middle (where a
/// path or URL says least), digests and SHAs are shown by their first 12 hex digits;
/// `--format json` keeps every value whole.
const COLUMNS: usize = 100;

/// The shortest a cut reference gets, however long the pins are.
const MIN_REF: usize = 24;

pub(crate) fn write_report(report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<[String; 4]> = report
        .inputs
        .iter()
        .map(|i| {
            let pin = match (&i.pin, &i.index_digest) {
                (Some(p), Some(idx)) => format!("{} (index {})", short_pin(p), short_digest(idx)),
                (Some(p), None) => short_pin(p),
                (None, _) => "NOT PINNED".into(),
            };
            [i.input.to_string(), i.subject.clone(), i.kind.clone(), pin]
        })
        .collect();
    let width = |col: usize, header: &str| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let (input_w, kind_w, pin_w) = (width(0, "INPUT"), width(2, "KIND"), width(3, "PIN"));
    let ref_w = width(1, "REF")
        .min(COLUMNS.saturating_sub(input_w + kind_w + pin_w + 6))
        .max(MIN_REF);
    let pad = |s: &str, width: usize| {
        let mut s = s.to_string();
        s.extend(std::iter::repeat_n(
            ' ',
            width.saturating_sub(s.chars().count()),
        ));
        s
    };
    writeln!(
        out,
        "{}  {}  {}  PIN",
        pad("INPUT", input_w),
        pad("REF", ref_w),
        pad("KIND", kind_w)
    )?;
    for [input, subject, kind, pin] in &rows {
        writeln!(
            out,
            "{}  {}  {}  {pin}",
            pad(input, input_w),
            pad(&cut_middle(subject, ref_w), ref_w),
            pad(kind, kind_w)
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

/// A digest (`sha256:…`) or a bare SHA by its first 12 hex digits; anything else whole.
fn short_pin(pin: &str) -> String {
    let hex = |s: &str| s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match pin.split_once(':') {
        Some((_, digest)) if hex(digest) => short_digest(pin),
        _ if hex(pin) => pin[..12].to_string(),
        _ => pin.to_string(),
    }
}

/// `text` in at most `width` characters: its start and, longer, its end (a git ref, an
/// image tag and platform) around a `…`.
fn cut_middle(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_string();
    }
    let keep = width.saturating_sub(1);
    let head = keep * 2 / 5;
    let tail = keep - head;
    let mut cut: String = chars[..head].iter().collect();
    cut.push('…');
    cut.extend(&chars[chars.len() - tail..]);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::PinnedInput;

    fn row(input: &'static str, subject: &str, kind: &str, pin: &str) -> PinnedInput {
        PinnedInput {
            input,
            subject: subject.into(),
            kind: kind.into(),
            pin: Some(pin.into()),
            index_digest: None,
            projects: Vec::new(),
        }
    }

    #[test]
    fn the_table_fits_100_columns_with_a_long_ref_cut_in_the_middle() {
        let long = format!(
            "https://git.example.com/{}flash-kernels.git @ release/2026-12",
            "team/".repeat(30)
        );
        let digest = format!("sha256:{}", "ab".repeat(32));
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let report = AuditReport {
            version: 1,
            findings: Vec::new(),
            allowed: Vec::new(),
            inputs: vec![
                row(
                    "image",
                    "registry.example.com/base:py3.11-cuda12.4 (linux/amd64)",
                    "tag",
                    &digest,
                ),
                row("git", &long, "branch", commit),
                row(
                    "apt",
                    "libopenblas-dev 0.3.21+ds-4",
                    "version",
                    "0.3.21+ds-4",
                ),
            ],
            checked_upstream: true,
        };
        let mut out = Vec::new();
        write_report(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(
                line.chars().count() <= COLUMNS,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        let git = text.lines().find(|l| l.starts_with("git")).unwrap();
        assert!(
            git.contains("https://git.example.com/…") && !git.contains("//flash"),
            "{git}"
        );
        assert!(
            git.contains("flash-kernels.git @ release/2026-12"),
            "the end stays: {git}"
        );
        assert!(git.ends_with(" 0123456789ab"), "{git}");
        assert!(
            text.contains(&format!("sha256:{}", &"ab".repeat(6))),
            "{text}"
        );
        // Columns line up: every row's PIN starts where the header's does.
        let at = text.lines().next().unwrap().find("PIN").unwrap();
        for line in text.lines().skip(1).take(3) {
            let before: String = line.chars().take(at).collect();
            assert!(before.ends_with("  "), "{line}");
        }
    }

    #[test]
    fn cut_middle_keeps_short_text_and_both_ends_of_long() {
        assert_eq!(cut_middle("abc", 5), "abc");
        assert_eq!(cut_middle("abcdefghij", 5), "a…hij");
        assert_eq!(cut_middle("abcdefghij", 6), "ab…hij");
        assert_eq!(short_pin("0.3.21+ds-4"), "0.3.21+ds-4");
    }
}
