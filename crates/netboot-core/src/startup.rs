//! What every firmware prints when it starts.

use crate::{banner, embed, platform::Console};
use core::fmt;

/// Prints the banner line (`netboot <version>`) and what the build embeds.
///
/// Console write errors are returned, not ignored, so a backend can tell a dead console.
pub fn announce(console: &mut impl Console) -> fmt::Result {
    write!(console, "{}\r\n", banner())?;
    match embed::script() {
        Some(script) => {
            let first = embed::first_line().unwrap_or_default();
            let first = core::str::from_utf8(first).unwrap_or("(not UTF-8)");
            write!(
                console,
                "embedded script: {} bytes, first line {first:?}\r\n",
                script.len()
            )
        }
        None => write!(console, "no embedded script\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Key;
    use core::fmt::Write;
    use std::string::String;

    struct Capture(String);
    impl Write for Capture {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.push_str(s);
            Ok(())
        }
    }
    impl Console for Capture {
        fn poll_key(&mut self) -> Option<Key> {
            None
        }
    }

    #[test]
    fn banner_comes_first_and_embed_state_follows() {
        let mut c = Capture(String::new());
        announce(&mut c).expect("capture never fails");
        let mut lines = c.0.split("\r\n");
        assert_eq!(lines.next(), Some(banner()));
        let second = lines.next().expect("a second line");
        match embed::script() {
            Some(s) => assert!(second.contains(&std::format!("{} bytes", s.len()))),
            None => assert_eq!(second, "no embedded script"),
        }
    }
}
