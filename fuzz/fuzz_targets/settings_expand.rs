//! `settings`: `Settings::set` / `clear` from `name=value` lines, then `expand`, `get`,
//! `lookup` and `list` on the last line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::settings::{MAX_EXPANDED_LEN, SettingName, SettingType, Settings, parse_int};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut settings = Settings::new();
    settings.set_last_opened("net0");
    let mut lines = text.lines().peekable();
    let mut last = "";
    while let Some(line) = lines.next() {
        if lines.peek().is_none() {
            last = line;
            break;
        }
        match line.split_once('=') {
            Some((name, value)) => {
                if settings.set(name, value).is_ok() {
                    let _ = settings.get(name);
                }
            }
            None => {
                let _ = settings.clear(line);
            }
        }
    }
    if let Ok(expanded) = settings.expand(last) {
        assert!(
            expanded.len() <= MAX_EXPANDED_LEN.max(last.len()),
            "expansion longer than MAX_EXPANDED_LEN"
        );
    }
    let _ = settings.lookup(last);
    let _ = settings.fetch(last);
    if let Ok(name) = SettingName::parse(last) {
        let _ = name;
    }
    let _ = parse_int(last);
    for ty in [
        "string", "int8", "uint16", "int32", "uint32", "hex", "hexhyp", "hexraw", "ipv4", "uuid",
        "base64", "busdevfn",
    ] {
        if let Ok(ty) = SettingType::from_name(ty)
            && let Ok(raw) = ty.parse(last)
        {
            let _ = ty.format(&raw);
            let _ = ty.numeric(&raw);
        }
    }
    let _ = settings.list();
});
