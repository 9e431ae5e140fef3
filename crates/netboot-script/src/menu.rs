//! Menus (§3.4, §5.3): the model built by `menu`/`item`, a pure key-handling state
//! machine for `choose`, and an ANSI renderer for serial consoles.
//!
//! ```
//! use netboot_script::menu::{Menu, MenuItem, MenuSession, MenuEvent};
//! use netboot_script::keys;
//! let mut m = Menu::new(None, "Boot");
//! m.items.push(MenuItem::gap("-- Linux --"));
//! m.items.push(MenuItem::new("a", "Alpha", None));
//! m.items.push(MenuItem::new("b", "Beta", Some('b' as u32)));
//! let mut s = MenuSession::new(&m, None, 0, 0, 0).expect("has items");
//! assert_eq!(s.selected(), 1);
//! assert_eq!(s.handle_key(keys::KEY_DOWN, 0), MenuEvent::Redraw);
//! assert_eq!(s.handle_key(keys::CR, 0), MenuEvent::Chosen(2));
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use crate::Error;
use crate::keys;

/// One menu line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuItem {
    /// The name stored by `choose`; `None` for a gap/separator, which cannot be selected.
    pub label: Option<String>,
    /// The text shown.
    pub text: String,
    /// Shortcut key code (see [`crate::keys`]).
    pub shortcut: Option<u32>,
    /// Marked with `item --default`.
    pub is_default: bool,
}

impl MenuItem {
    /// A selectable item.
    pub fn new(
        label: impl Into<String>,
        text: impl Into<String>,
        shortcut: Option<u32>,
    ) -> MenuItem {
        MenuItem {
            label: Some(label.into()),
            text: text.into(),
            shortcut,
            is_default: false,
        }
    }
    /// A gap (separator) with optional text.
    pub fn gap(text: impl Into<String>) -> MenuItem {
        MenuItem {
            label: None,
            text: text.into(),
            shortcut: None,
            is_default: false,
        }
    }
}

/// A menu: optional name (unnamed = the default menu), title and items.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Menu {
    /// The name given with `menu --name`.
    pub name: Option<String>,
    /// The title line.
    pub title: String,
    /// The items in order.
    pub items: Vec<MenuItem>,
}

impl Menu {
    /// An empty menu.
    pub fn new(name: Option<String>, title: impl Into<String>) -> Menu {
        Menu {
            name,
            title: title.into(),
            items: Vec::new(),
        }
    }
}

/// The parameters of `choose`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChooseOptions {
    /// `--default`: the item to select first.
    pub default: Option<String>,
    /// `--timeout` in ms (0 = none).
    pub timeout_ms: u64,
    /// `--retimeout` in ms: the timeout after any key (0 = none).
    pub retimeout_ms: u64,
    /// The colours set with `colour` and `cpair`.
    pub palette: Palette,
}

/// Colour-pair indices (§5.5).
pub mod cpair {
    /// The default pair.
    pub const DEFAULT: usize = 0;
    /// Normal text (menu items).
    pub const NORMAL: usize = 1;
    /// The selected item.
    pub const SELECT: usize = 2;
    /// Separators (gaps).
    pub const SEPARATOR: usize = 3;
    /// Edit boxes.
    pub const EDIT: usize = 4;
    /// Alerts.
    pub const ALERT: usize = 5;
    /// URLs.
    pub const URL: usize = 6;
    /// PXE menus.
    pub const PXE: usize = 7;
}

/// The terminal's default colour (`COLOUR_DEFAULT`).
pub const COLOUR_DEFAULT: u8 = 9;
/// Number of colours (`colour` indices 0–7: black, red, green, yellow, blue, magenta,
/// cyan, white) and of colour pairs.
pub const COLOURS: usize = 8;

/// The colours menus are drawn with, as iPXE's `colour` and `cpair` define them (§5.5):
/// each colour is an ANSI basic colour (0–7, or 9 for the terminal's default) or a
/// 24-bit RGB value; each pair is a foreground and a background colour index. Pairs
/// not defined keep netboot's monochrome rendering (reverse video for the selection,
/// bold separators), which every terminal shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Palette {
    /// Per colour index: (basic colour, RGB if defined).
    colours: [(u8, Option<u32>); COLOURS],
    /// Per pair index: (foreground, background) colour indices, if defined.
    pairs: [Option<(u8, u8)>; COLOURS],
}

impl Default for Palette {
    fn default() -> Self {
        let mut colours = [(0, None); COLOURS];
        for (i, c) in colours.iter_mut().enumerate() {
            c.0 = i as u8;
        }
        Palette {
            colours,
            pairs: [None; COLOURS],
        }
    }
}

impl Palette {
    /// `colour [--basic n] [--rgb 0xRRGGBB] <index>`: colour `index` (0–7) is shown as
    /// basic ANSI colour `basic` (0–7, 9 = default; default 9), or as `rgb` on terminals
    /// that take 24-bit colour.
    pub fn define_colour(&mut self, index: u64, basic: u64, rgb: Option<u64>) -> Result<(), Error> {
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| self.colours.get_mut(i))
            .ok_or(Error::OutOfRange("colour index (0-7)"))?;
        if basic > 9 || basic == 8 {
            return Err(Error::OutOfRange(
                "basic colour (0-7, or 9 for the default)",
            ));
        }
        let rgb = match rgb {
            Some(v) => Some(
                u32::try_from(v)
                    .ok()
                    .filter(|v| *v <= 0xff_ffff)
                    .ok_or(Error::OutOfRange("RGB colour (0xRRGGBB)"))?,
            ),
            None => None,
        };
        *slot = (basic as u8, rgb);
        Ok(())
    }

    /// `cpair [--foreground c] [--background c] <index>`: pair `index` (0–7) is drawn in
    /// colours `fg` and `bg` (0–7, 9 = default).
    pub fn define_pair(&mut self, index: u64, fg: u64, bg: u64) -> Result<(), Error> {
        let valid = |c: u64| c < COLOURS as u64 || c == u64::from(COLOUR_DEFAULT);
        if !valid(fg) || !valid(bg) {
            return Err(Error::OutOfRange("colour (0-7, or 9 for the default)"));
        }
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| self.pairs.get_mut(i))
            .ok_or(Error::OutOfRange("colour pair index (0-7)"))?;
        *slot = Some((fg as u8, bg as u8));
        Ok(())
    }

    /// The SGR sequence that selects pair `index`, if it was defined.
    pub fn sgr(&self, index: usize) -> Option<String> {
        let (fg, bg) = (*self.pairs.get(index)?)?;
        let mut out = String::new();
        self.colour_sgr(fg, b'3', &mut out);
        self.colour_sgr(bg, b'4', &mut out);
        Some(out)
    }

    fn colour_sgr(&self, colour: u8, which: u8, out: &mut String) {
        let which = which as char;
        match self.colours.get(usize::from(colour)) {
            Some((_, Some(rgb))) => {
                let [_, r, g, b] = rgb.to_be_bytes();
                let _ = write!(out, "\x1b[{which}8;2;{r};{g};{b}m");
            }
            Some((basic, None)) => {
                let _ = write!(out, "\x1b[{which}{basic}m");
            }
            None => {
                let _ = write!(out, "\x1b[{which}{COLOUR_DEFAULT}m");
            }
        }
    }
}

/// What the caller should do after feeding the session an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuEvent {
    /// Nothing changed.
    None,
    /// The display changed; redraw.
    Redraw,
    /// Only the countdown changed; redraw the selected row.
    Countdown,
    /// The item at this index was chosen.
    Chosen(usize),
    /// Esc or Ctrl-C.
    Cancelled,
}

/// Rows of items shown at once by the renderer.
pub const MENU_ROWS: usize = 19;
/// Width the renderer lays out for (a serial console).
pub const MENU_COLS: usize = 80;

/// The state of a menu being shown.
#[derive(Clone, Debug)]
pub struct MenuSession<'a> {
    menu: &'a Menu,
    selected: usize,
    scroll: usize,
    retimeout_ms: u64,
    deadline: Option<u64>,
    shown_secs: Option<u64>,
    palette: Palette,
}

impl<'a> MenuSession<'a> {
    /// Starts showing `menu` at time `now`. Fails with `ENOENT` if it has no named item.
    pub fn new(
        menu: &'a Menu,
        default: Option<&str>,
        timeout_ms: u64,
        retimeout_ms: u64,
        now: u64,
    ) -> Result<MenuSession<'a>, Error> {
        let first = menu
            .items
            .iter()
            .position(|i| i.label.is_some())
            .ok_or_else(|| Error::NoSuchMenu(menu.name.clone().unwrap_or_default()))?;
        let chosen_default = match default {
            Some(d) => menu
                .items
                .iter()
                .position(|i| i.label.as_deref() == Some(d)),
            None => menu
                .items
                .iter()
                .position(|i| i.is_default && i.label.is_some()),
        };
        let mut s = MenuSession {
            menu,
            selected: chosen_default.unwrap_or(first),
            scroll: 0,
            retimeout_ms,
            deadline: (timeout_ms > 0).then(|| now.saturating_add(timeout_ms)),
            shown_secs: None,
            palette: Palette::default(),
        };
        s.fix_scroll();
        s.shown_secs = s.remaining_secs(now);
        Ok(s)
    }

    /// Draws with the colours of `palette` (`colour`/`cpair`) from now on.
    pub fn set_palette(&mut self, palette: Palette) {
        self.palette = palette;
    }

    /// Index of the selected item.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Whole seconds left before the timeout chooses (rounded up), if a timeout runs.
    pub fn remaining_secs(&self, now: u64) -> Option<u64> {
        self.deadline.map(|d| d.saturating_sub(now).div_ceil(1000))
    }

    fn selectable(&self, i: usize) -> bool {
        self.menu.items.get(i).is_some_and(|i| i.label.is_some())
    }

    fn fix_scroll(&mut self) {
        if self.selected < self.scroll {
            self.scroll = self.selected;
        } else if self.selected >= self.scroll + MENU_ROWS {
            self.scroll = self.selected + 1 - MENU_ROWS;
        }
    }

    /// Moves by `delta` rows, clamped, landing on a selectable item (searching onwards in
    /// the direction of travel, then back).
    fn move_by(&mut self, delta: isize) {
        let n = self.menu.items.len() as isize;
        let target = (self.selected as isize + delta).clamp(0, n - 1);
        let dir = if delta < 0 { -1 } else { 1 };
        let mut i = target;
        while (0..n).contains(&i) {
            if self.selectable(i as usize) {
                self.selected = i as usize;
                return;
            }
            i += dir;
        }
        let mut i = target;
        while (0..n).contains(&i) && i != self.selected as isize {
            if self.selectable(i as usize) {
                self.selected = i as usize;
                return;
            }
            i -= dir;
        }
    }

    /// Handles a key (an iPXE code, see [`crate::keys`]) at time `now`.
    pub fn handle_key(&mut self, key: u32, now: u64) -> MenuEvent {
        // Any key restarts the countdown with the retimeout.
        self.deadline = (self.retimeout_ms > 0).then(|| now.saturating_add(self.retimeout_ms));
        let before = self.selected;
        match key {
            keys::CR | keys::LF => return MenuEvent::Chosen(self.selected),
            keys::KEY_ESC | keys::CTRL_C => return MenuEvent::Cancelled,
            keys::KEY_UP => self.move_by(-1),
            keys::KEY_DOWN => self.move_by(1),
            keys::TAB => {
                let n = self.menu.items.len();
                let next = (1..=n)
                    .map(|k| (self.selected + k) % n)
                    .find(|&i| self.selectable(i));
                self.selected = next.unwrap_or(self.selected);
            }
            keys::KEY_PAGE_UP => self.move_by(1 - MENU_ROWS as isize),
            keys::KEY_PAGE_DOWN => self.move_by(MENU_ROWS as isize - 1),
            keys::KEY_HOME => self.move_by(-(self.menu.items.len() as isize)),
            keys::KEY_END => self.move_by(self.menu.items.len() as isize),
            k => {
                let n = self.menu.items.len();
                let hit = (1..=n)
                    .map(|d| (self.selected + d) % n)
                    .find(|&i| self.menu.items[i].shortcut == Some(k));
                if let Some(i) = hit {
                    if self.selectable(i) {
                        self.selected = i;
                        self.fix_scroll();
                        return MenuEvent::Chosen(i);
                    }
                    // A gap's shortcut moves to the gap, then down.
                    self.selected = i;
                    self.move_by(1);
                    if !self.selectable(self.selected) {
                        self.selected = before;
                    }
                }
            }
        }
        self.fix_scroll();
        self.shown_secs = self.remaining_secs(now);
        MenuEvent::Redraw
    }

    /// Advances time: chooses the selected item when the countdown expires.
    pub fn tick(&mut self, now: u64) -> MenuEvent {
        match self.deadline {
            Some(d) if now >= d => MenuEvent::Chosen(self.selected),
            Some(_) => {
                let secs = self.remaining_secs(now);
                if secs != self.shown_secs {
                    self.shown_secs = secs;
                    MenuEvent::Countdown
                } else {
                    MenuEvent::None
                }
            }
            None => MenuEvent::None,
        }
    }

    /// Writes the whole menu as ANSI text: clear, title centred on row 1, items from row 3,
    /// `...` markers when the list scrolls, the selected row in reverse video with the
    /// countdown `(N)` at its right.
    pub fn render(&self, out: &mut String, now: u64) {
        if let Some(sgr) = self.palette.sgr(cpair::NORMAL) {
            out.push_str(&sgr);
        }
        out.push_str("\x1b[2J");
        let title: String = self.menu.title.chars().take(MENU_COLS).collect();
        let col = (MENU_COLS - title.chars().count()) / 2 + 1;
        let _ = write!(out, "\x1b[1;{col}H{title}");
        for row in 0..MENU_ROWS {
            self.render_row(out, self.scroll + row, now);
        }
        if self.scroll > 0 {
            let _ = write!(out, "\x1b[2;{}H...", MENU_COLS - 3);
        }
        if self.scroll + MENU_ROWS < self.menu.items.len() {
            let _ = write!(out, "\x1b[{};{}H...", MENU_ROWS + 3, MENU_COLS - 3);
        }
    }

    /// Writes only the selected row (for the countdown).
    pub fn render_selected(&self, out: &mut String, now: u64) {
        self.render_row(out, self.selected, now);
    }

    fn render_row(&self, out: &mut String, index: usize, now: u64) {
        let Some(item) = self.menu.items.get(index) else {
            return;
        };
        if index < self.scroll || index >= self.scroll + MENU_ROWS {
            return;
        }
        let row = index - self.scroll + 3;
        let _ = write!(out, "\x1b[{row};1H\x1b[K");
        let mut text: String = item.text.chars().take(MENU_COLS - 8).collect();
        if index == self.selected {
            if let Some(secs) = self.remaining_secs(now) {
                let count = secs.to_string();
                let pad = MENU_COLS.saturating_sub(text.chars().count() + count.len() + 4);
                text.extend(core::iter::repeat_n(' ', pad));
                let _ = write!(text, "({count})");
            }
            match self.palette.sgr(cpair::SELECT) {
                Some(sgr) => {
                    let _ = write!(out, "{sgr}\x1b[1m {text} \x1b[0m");
                }
                None => {
                    let _ = write!(out, "\x1b[7m {text} \x1b[0m");
                }
            }
        } else if item.label.is_none() {
            match self.palette.sgr(cpair::SEPARATOR) {
                Some(sgr) => {
                    let _ = write!(out, "{sgr} {text} \x1b[0m");
                }
                None => {
                    let _ = write!(out, "\x1b[1m {text} \x1b[0m");
                }
            }
        } else {
            let _ = write!(out, " {text} ");
        }
        if let Some(sgr) = self.palette.sgr(cpair::NORMAL) {
            out.push_str(&sgr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Menu {
        let mut m = Menu::new(None, "T");
        m.items.push(MenuItem::gap("head"));
        m.items.push(MenuItem::new("a", "A", Some('a' as u32)));
        m.items.push(MenuItem::gap(""));
        m.items.push(MenuItem {
            is_default: true,
            ..MenuItem::new("b", "B", None)
        });
        m.items.push(MenuItem {
            shortcut: Some('x' as u32),
            ..MenuItem::gap("X")
        });
        m.items.push(MenuItem::new("c", "C", None));
        m
    }

    #[test]
    fn navigation_skips_gaps_and_clamps() {
        let m = menu();
        let mut s = MenuSession::new(&m, None, 0, 0, 0).expect("ok");
        assert_eq!(s.selected(), 3, "item --default");
        s.handle_key(keys::KEY_UP, 0);
        assert_eq!(s.selected(), 1);
        s.handle_key(keys::KEY_UP, 0);
        assert_eq!(s.selected(), 1);
        s.handle_key(keys::KEY_END, 0);
        assert_eq!(s.selected(), 5);
        s.handle_key(keys::KEY_DOWN, 0);
        assert_eq!(s.selected(), 5);
        s.handle_key(keys::TAB, 0);
        assert_eq!(s.selected(), 1);
        s.handle_key(keys::KEY_HOME, 0);
        assert_eq!(s.selected(), 1);
        assert_eq!(s.handle_key('x' as u32, 0), MenuEvent::Redraw);
        assert_eq!(s.selected(), 5);
        assert_eq!(s.handle_key('a' as u32, 0), MenuEvent::Chosen(1));
        assert_eq!(s.handle_key(keys::KEY_ESC, 0), MenuEvent::Cancelled);
        let s = MenuSession::new(&m, Some("c"), 0, 0, 0).expect("ok");
        assert_eq!(s.selected(), 5);
        let s = MenuSession::new(&m, Some("nosuch"), 0, 0, 0).expect("ok");
        assert_eq!(s.selected(), 1);
        assert!(MenuSession::new(&Menu::new(None, "e"), None, 0, 0, 0).is_err());
    }

    #[test]
    fn timeout_and_retimeout() {
        let m = menu();
        let mut s = MenuSession::new(&m, None, 3000, 0, 1000).expect("ok");
        assert_eq!(s.remaining_secs(1000), Some(3));
        assert_eq!(s.tick(1500), MenuEvent::None);
        assert_eq!(s.tick(2001), MenuEvent::Countdown);
        assert_eq!(s.tick(4000), MenuEvent::Chosen(3));
        s.handle_key(keys::KEY_DOWN, 4000);
        assert_eq!(
            s.tick(99_999),
            MenuEvent::None,
            "retimeout 0: no timeout after a key"
        );
        let mut s = MenuSession::new(&m, None, 1000, 500, 0).expect("ok");
        s.handle_key(keys::KEY_UP, 900);
        assert_eq!(s.tick(1300), MenuEvent::None);
        assert_eq!(s.tick(1400), MenuEvent::Chosen(1));
    }

    #[test]
    fn colour_pairs_change_how_menus_are_drawn() {
        let m = menu();
        let mut palette = Palette::default();
        palette.define_pair(2, 7, 1).expect("white on red");
        palette.define_pair(3, 6, 9).expect("cyan on default");
        palette
            .define_colour(1, 1, Some(0x80_00_00))
            .expect("dark red");
        let mut s = MenuSession::new(&m, None, 0, 0, 0).expect("items");
        let mut plain = String::new();
        s.render(&mut plain, 0);
        s.set_palette(palette.clone());
        let mut out = String::new();
        s.render(&mut out, 0);
        assert!(
            plain.contains("\x1b[7m B"),
            "monochrome by default: {plain:?}"
        );
        assert!(!out.contains("\x1b[7m"), "{out:?}");
        assert!(
            out.contains("\x1b[37m\x1b[48;2;128;0;0m\x1b[1m B "),
            "selection in white on the RGB red: {out:?}"
        );
        assert!(out.contains("\x1b[36m\x1b[49m head "), "{out:?}");
        // Pair 1 (normal) undefined: no colour before the clear.
        assert!(out.starts_with("\x1b[2J"));
        palette.define_pair(1, 0, 7).expect("black on white");
        s.set_palette(palette.clone());
        out.clear();
        s.render(&mut out, 0);
        assert!(out.starts_with("\x1b[30m\x1b[47m\x1b[2J"), "{out:?}");
        assert!(palette.define_pair(8, 0, 0).is_err());
        assert!(palette.define_pair(0, 8, 0).is_err());
        assert!(palette.define_colour(8, 0, None).is_err());
        assert!(palette.define_colour(0, 8, None).is_err());
        assert!(palette.define_colour(0, 0, Some(0x100_0000)).is_err());
    }

    #[test]
    fn renders_ansi() {
        let m = menu();
        let s = MenuSession::new(&m, None, 5000, 0, 0).expect("ok");
        let mut out = String::new();
        s.render(&mut out, 0);
        assert!(out.starts_with("\x1b[2J\x1b[1;40HT"));
        assert!(out.contains("\x1b[6;1H\x1b[K\x1b[7m B"));
        assert!(out.contains("(5) \x1b[0m"));
        let mut big = Menu::new(None, "big");
        for i in 0..40 {
            big.items.push(MenuItem::new(i.to_string(), "x", None));
        }
        let mut s = MenuSession::new(&big, Some("30"), 0, 0, 0).expect("ok");
        out.clear();
        s.render(&mut out, 0);
        assert!(out.contains("\x1b[2;77H..."));
        s.handle_key(keys::KEY_PAGE_DOWN, 0);
        assert_eq!(s.selected(), 39);
    }
}
