//! Wheels: their names (PEP 427), whether one fits a matrix cell, their integrity (RECORD),
//! safe extraction from a build container's output, and comparison of two builds.
//!
//! Everything here reads data that a build container produced, and a build container may be
//! malicious: nothing panics on bad input, nothing is written outside the destination, nothing
//! existing is replaced, and every refusal names the entry it refused.
//!
//! One concern per module: [`WheelName`] parsing (`name`), fitting a cell's Python and platform
//! (`tags`), RECORD parsing and hashing (`record`), checking a wheel's zip (`archive`),
//! whether a wheel carries GPU code (`gpu`), what a manylinux repair grafted (`repair`),
//! local versions and variant labels added after the build (`relabel`),
//! extracting a build's output (`extract`), and comparing two wheels (`diff`, with `elf` for
//! the sections of changed shared libraries).

mod archive;
mod diff;
mod elf;
mod error;
mod extract;
#[cfg(test)]
mod fixtures;
mod gpu;
mod name;
mod record;
mod relabel;
pub mod repair;
mod tags;
pub(crate) mod variant;

pub(crate) use archive::check_wheel;
pub(crate) use diff::diff_wheels;
pub use error::WheelError;
pub use extract::extract_wheels;
pub(crate) use gpu::{Family as GpuFamily, gpu_evidence};
pub use name::WheelName;
pub(crate) use name::check_variant_label;
pub(crate) use name::normalize_name;
pub use record::{RecordError, RecordRow, parse as parse_record};
pub(crate) use relabel::{Relabel, VARIANT_FILE, relabel};

/// An untrusted name made safe to print: control and bidirectional-formatting characters
/// escaped, so a malicious name cannot rewrite the terminal or disguise itself.
fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
