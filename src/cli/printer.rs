//! Terminal output: data to stdout, status and errors to stderr, colored when allowed.

use std::io::Write as _;

use anstyle::{AnsiColor, Style};

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default().bold();
const STATUS: Style = AnsiColor::Green.on_default().bold();
const DIM: Style = Style::new().dimmed();

#[derive(Clone, Copy)]
pub(crate) struct Printer {
    verbosity: i8,
}

impl Printer {
    pub(crate) fn new(verbosity: i8) -> Printer {
        Printer { verbosity }
    }

    /// Data: the command's result. Always printed, never colored (so it bypasses
    /// anstream, whose escape stripping would scan every byte).
    pub(crate) fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Stream data to stdout through `write` (big outputs are not built in memory). A
    /// closed pipe (`| head`) is not an error.
    pub(crate) fn data_with(
        &self,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        match write(&mut out).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// `   Verb message`, cargo-style, on stderr; silenced by -q.
    pub(crate) fn status(&self, verb: &str, message: &str) {
        if self.verbosity >= 0 {
            let _ = writeln!(anstream::stderr(), "{STATUS}{verb:>12}{STATUS:#} {message}");
        }
    }

    /// A request still outstanding (see `crate::resolve::network`).
    pub(crate) fn waiting(&self, e: &crate::resolve::WaitEvent<'_>) {
        self.status(
            "Waiting",
            &format!(
                "for {}: no complete answer for {}s, giving up at {}s",
                e.what,
                e.elapsed.as_secs(),
                e.limit.as_secs()
            ),
        );
    }

    /// A plain line on stderr; silenced by -q.
    pub(crate) fn note(&self, message: &str) {
        if self.verbosity >= 0 {
            let _ = writeln!(anstream::stderr(), "{message}");
        }
    }

    /// The config's warnings, each with its location snippet and hint; silenced by -q.
    pub(crate) fn config_warnings(&self, warnings: &[crate::config::ConfigWarning]) {
        if self.verbosity < 0 {
            return;
        }
        let mut out = String::new();
        for w in warnings {
            out.push_str(&format!("{WARNING}warning{WARNING:#}: {}\n", w.message));
            snippet(&mut out, &w.location, "");
            if let Some(hint) = &w.hint {
                out.push_str(&format!("  {HINT}hint{HINT:#}: {hint}\n"));
            }
        }
        let _ = anstream::stderr().write_all(out.as_bytes());
    }

    /// An error with its location snippet, causes and hint.
    pub(crate) fn error(&self, err: &anyhow::Error) {
        let mut out = String::new();
        let mut core = None;
        for cause in err.chain() {
            if let Some(e) = cause.downcast_ref::<crate::Error>() {
                core = Some(e);
                break;
            }
        }
        match core {
            Some(e) if !e.parts().is_empty() => {
                out.push_str(&format!("{ERROR}error{ERROR:#}: {e}\n"));
                for part in e.parts() {
                    render(&mut out, part, "  ");
                }
            }
            _ => render(&mut out, err.as_ref(), ""),
        }
        let _ = anstream::stderr().write_all(out.as_bytes());
    }
}

/// One error: message, location, causes not already in the message, hint.
fn render(out: &mut String, err: &(dyn std::error::Error + 'static), indent: &str) {
    let message = err.to_string();
    out.push_str(&format!("{indent}{ERROR}error{ERROR:#}: {message}\n"));
    let (location, hint) = details(err);
    if let Some(loc) = location {
        snippet(out, &loc, indent);
    }
    let mut seen = message;
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !seen.contains(&text) {
            out.push_str(&format!("{indent}  caused by: {text}\n"));
            seen.push_str(&text);
        }
        source = s.source();
    }
    if let Some(hint) = hint {
        out.push_str(&format!("{indent}  {HINT}hint{HINT:#}: {hint}\n"));
    }
}

/// rustc's layout: the arrow indented by the line number's width, then the snippet.
fn snippet(out: &mut String, loc: &crate::diag::Location, indent: &str) {
    let gutter = " ".repeat(loc.line.to_string().len());
    out.push_str(&format!("{indent}{gutter}{DIM}-->{DIM:#} {loc}\n"));
    for line in loc.snippet().lines() {
        out.push_str(&format!("{indent}{DIM}{line}{DIM:#}\n"));
    }
}

/// Location and hint of the first error in the chain that has them.
fn details(
    err: &(dyn std::error::Error + 'static),
) -> (Option<crate::diag::Location>, Option<String>) {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(w) = e.downcast_ref::<crate::Error>() {
            return (w.location().cloned(), w.hint());
        }
        if let Some(r) = e.downcast_ref::<crate::resolve::ResolveError>() {
            return (r.location().cloned(), r.hint());
        }
        cur = e.source();
    }
    (None, None)
}
