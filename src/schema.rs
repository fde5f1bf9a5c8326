//! JSON Schemas of the two file formats, generated from the Rust types.
//!
//! The committed copies under `schemas/` are checked by a test that fails when they are
//! stale; `WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it schemas` rewrites them.

use crate::config::ConfigFile;
use crate::lock::Lockfile;

/// `(file name, pretty JSON)` of every schema.
pub fn all() -> Vec<(&'static str, String)> {
    let render = |s: schemars::Schema| {
        let mut text = serde_json::to_string_pretty(&s).expect("schema serializes");
        text.push('\n');
        text
    };
    vec![
        (
            "wheelbuild.schema.json",
            render(schemars::schema_for!(ConfigFile)),
        ),
        (
            "wheelbuild.lock.schema.json",
            render(schemars::schema_for!(Lockfile)),
        ),
    ]
}
