//! `wire::dns`: message, header and (compressed) name parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::wire::dns::{Header, Message, Name};

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    if let Ok(message) = Message::parse(data) {
        for q in &message.questions {
            let _ = q.name.to_string();
            let _ = q.name.labels().count();
        }
        for r in &message.answers {
            let _ = r.name.to_string();
        }
    }
    // Names at a few offsets (compression pointers may point anywhere).
    for offset in [0, 12, data.len() / 2, data.len().saturating_sub(1)] {
        if let Ok((name, end)) = Name::parse(data, offset) {
            assert!(end <= data.len(), "name ends past the message");
            let _ = name.to_string();
        }
    }
    if let Ok(text) = core::str::from_utf8(data)
        && let Ok(name) = Name::from_dotted(text)
    {
        let _ = name.to_string();
        let _ = name.as_wire();
    }
});
