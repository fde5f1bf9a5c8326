//! RECORD parsing on any bytes: it takes untrusted input and must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wheelbuild::wheel::parse_record;

fuzz_target!(|data: &[u8]| {
    match parse_record(data) {
        Ok(rows) => {
            assert!(
                rows.windows(2).all(|w| w[0].line < w[1].line),
                "row lines not increasing: {rows:?}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
