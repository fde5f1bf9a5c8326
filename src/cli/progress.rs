//! Build progress on the terminal: a spinner per running target on a TTY (indicatif), with
//! its time so far and what it does now (an image pull's layers and bytes, the last line of
//! the environment setup or the build); plain status lines otherwise, and in CI (`CI` set:
//! a log, even when a pseudo-terminal stands in for one); every output line with -v.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::exec::{Outcome, Reporter, TargetReport};
use crate::store::{CacheStats, Damage};
use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

const OK: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();

pub(crate) struct Progress {
    verbosity: i8,
    bars: Option<MultiProgress>,
    active: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Progress {
    pub(crate) fn new(verbosity: i8) -> Progress {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let tty = std::io::stderr().is_terminal() && verbosity == 0 && !ci;
        Progress {
            verbosity,
            bars: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            active: Mutex::new(BTreeMap::new()),
        }
    }

    fn line(&self, text: &str) {
        if self.verbosity < 0 {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => {
                let _ = writeln!(anstream::stderr(), "{text}");
            }
        }
    }

    fn bar(&self, id: &str) -> Option<ProgressBar> {
        let bars = self.bars.as_ref()?;
        let mut active = self.active.lock().expect("poisoned");
        Some(
            active
                .entry(id.to_string())
                .or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix:.bold} {elapsed:>4} {wide_msg}",
                        )
                        .expect("valid template"),
                    );
                    bar.set_prefix(id.to_string());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }
}

impl Reporter for Progress {
    fn phase(&self, id: &str, phase: &str) {
        match self.bar(id) {
            Some(bar) => bar.set_message(phase.to_string()),
            None if phase == "building" => self.line(&format!("{OK}{:>12}{OK:#} {id}", "Building")),
            None => {}
        }
    }

    fn output(&self, id: &str, line: &str) {
        if self.verbosity > 0 {
            self.line(&format!("[{id}] {line}"));
        } else if let Some(bar) = self.bar(id) {
            bar.set_message(line.chars().take(200).collect::<String>());
        }
    }

    fn progress(&self, id: &str, message: &str) {
        if let Some(bar) = self.bar(id) {
            bar.set_message(message.to_string());
        }
    }

    fn quarantined(&self, id: &str, damage: &Damage, moved_to: &Path) {
        self.line(&format!(
            "{BAD}{:>12}{BAD:#} {id}: {damage}; the store entry was moved to {} and the target is built again",
            "Damaged",
            moved_to.display()
        ));
    }

    fn warning(&self, id: &str, message: &str) {
        self.line(&format!("{WARN}{:>12}{WARN:#} {id}: {message}", "Warning"));
    }

    fn finished(&self, report: &TargetReport) {
        if let Some(bar) = self.active.lock().expect("poisoned").remove(&report.id) {
            bar.finish_and_clear();
        }
        if matches!(
            &report.outcome,
            Outcome::Failed {
                error: crate::exec::BuildError::Interrupted,
                ..
            }
        ) {
            return;
        }
        let text = match &report.outcome {
            Outcome::Cached { restored: 0 } => format!("{OK}{:>12}{OK:#} {}", "Cached", report.id),
            Outcome::Pulled => format!(
                "{OK}{:>12}{OK:#} {} from the remote cache (signed, checked)",
                "Pulled", report.id
            ),
            Outcome::Cached { restored } => {
                format!(
                    "{OK}{:>12}{OK:#} {} ({restored} wheel(s) restored to the wheelhouse)",
                    "Restored", report.id
                )
            }
            Outcome::Built { duration, ccache } => {
                let cache = ccache
                    .as_ref()
                    .and_then(|c| {
                        c.hit_rate().map(|r| {
                            format!(
                                ", ccache {:.0}% hits ({}/{}){}",
                                r * 100.0,
                                c.hits,
                                c.hits + c.misses,
                                per_compiler(c)
                            )
                        })
                    })
                    .unwrap_or_default();
                format!(
                    "{OK}{:>12}{OK:#} {} in {:.1}s{cache}",
                    "Built",
                    report.id,
                    duration.as_secs_f64()
                )
            }
            Outcome::Failed { error, log } => {
                let mut text = format!("{BAD}{:>12}{BAD:#} {}: {error}", "Failed", report.id);
                if let Some(hint) = error.hint() {
                    text.push_str(&format!("\n             hint: {hint}"));
                }
                if let Some(log) = log {
                    text.push_str(&format!("\n             log: {}", log.display()));
                    text.push_str(&tail(log, 20));
                }
                text
            }
        };
        let mut text = text;
        for old in &report.pruned {
            text.push_str(&format!(
                "\n             removed its earlier wheel {}",
                old.display()
            ));
        }
        // Failures are shown even with -q.
        if self.verbosity >= 0 || matches!(report.outcome, Outcome::Failed { .. }) {
            match &self.bars {
                Some(bars) => {
                    let _ = bars.println(&text);
                }
                None => {
                    let _ = writeln!(anstream::stderr(), "{text}");
                }
            }
        }
    }
}

/// The last `n` lines of a log, indented.
fn tail(path: &std::path::Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = String::new();
    for l in &lines[start..] {
        out.push_str("\n             | ");
        out.push_str(l);
    }
    out
}

/// `: gcc 12/14 (11 remote), nvcc 3/4`: each compiler's hits of its cached compiles.
fn per_compiler(stats: &CacheStats) -> String {
    let parts: Vec<String> = stats
        .compilers
        .iter()
        .filter(|(_, c)| c.hits + c.misses > 0)
        .map(|(name, c)| {
            let remote = match c.remote_hits {
                0 => String::new(),
                n => format!(" ({n} remote)"),
            };
            format!("{name} {}/{}{remote}", c.hits, c.hits + c.misses)
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}
