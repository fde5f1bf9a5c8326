//! The image reference parser on any UTF-8 text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wheelbuild::oci::reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = reference::parse(text) {
        let _ = r.whole();
    }
});
