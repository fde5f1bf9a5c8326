//! `WheelName::parse` on any UTF-8 text; a name it accepts prints back to an equal name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wheelbuild::wheel::WheelName;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match WheelName::parse(text) {
        Ok(name) => {
            let shown = name.to_string();
            match WheelName::parse(&shown) {
                Ok(again) => assert_eq!(name, again, "`{shown}` read back differs"),
                Err(e) => panic!("`{shown}` (from {text:?}) does not parse: {e}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
