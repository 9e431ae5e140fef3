//! `netboot-script` parser: `Script::parse`, labels, command lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_script::parse::{Line, Script, split_commands};

fuzz_target!(|data: &[u8]| {
    let _ = netboot_script::is_script(data);
    if let Ok(script) = Script::parse(data) {
        for line in script.lines() {
            let _ = line.commands();
        }
        let _ = script.find_label("a");
    }
    if let Ok(text) = core::str::from_utf8(data) {
        let line = Line::parse_command_line(text);
        let _ = line.commands();
        let _ = split_commands(text);
    }
});
