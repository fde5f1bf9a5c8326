//! `Lockfile::parse` on any UTF-8 text; a lock it accepts must survive the writer:
//! `to_toml()` parses back to an equal lock.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wheelbuild::lock::Lockfile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("wheelbuild.lock");
    match Lockfile::parse(path, text) {
        Ok(lock) => {
            let written = lock.to_toml();
            match Lockfile::parse(path, &written) {
                Ok(again) => assert_eq!(lock, again, "to_toml() read back differs:\n{written}"),
                Err(e) => panic!("to_toml() output does not parse: {e}\n{written}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.hint();
            if let Some(location) = e.location() {
                let _ = location.to_string();
                let _ = location.snippet();
            }
        }
    }
});
