//! `netboot_image::probe` / `probe_with` (every format's detection and details) and the
//! JSON report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_image::{Arch, Hints, probe, probe_with};

fuzz_target!(|data: &[u8]| {
    let p = probe(data);
    let mut json = String::new();
    p.write_json_object(&mut json).expect("JSON into a String");
    let _ = p.problems.iter().map(ToString::to_string).count();
    let hints = Hints {
        name: Some("boot.pxe"),
        machine: Arch::I386,
        nbp: true,
    };
    let _ = probe_with(data, &hints);
});
