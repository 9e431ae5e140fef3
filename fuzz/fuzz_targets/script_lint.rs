//! `netboot-script` linter (`lint::check`): diagnostics must be ordered by line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let diagnostics = netboot_script::lint::check(data);
    for pair in diagnostics.windows(2) {
        assert!(
            pair[0].line <= pair[1].line,
            "diagnostics out of line order"
        );
    }
    for d in &diagnostics {
        let _ = d.to_string();
    }
});
