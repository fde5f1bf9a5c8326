//! `Config::parse` on any UTF-8 text: errors are fine, panics are bugs. The error is
//! formatted as the CLI shows it (message, location, caret snippet).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wheelbuild::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(Path::new("wheelbuild.toml"), text) {
        let _ = e.to_string();
        let _ = e.hint();
        if let Some(location) = e.location() {
            let _ = location.to_string();
            let _ = location.snippet();
        }
    }
});
