//! The command table (§3): an explicit slice of descriptors, each with its name, usage,
//! options, argument count and handler.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use netboot_core::settings::{SettingName, SettingType};

use crate::Error;
use crate::image::{Image, ImageId, ImageKind, default_name};
use crate::interp::{Interpreter, Stop, probe, strip_suffix};
use crate::menu::{ChooseOptions, Menu, MenuItem};
use crate::options::{OptSpec, Parsed, parse_integer, parse_key};
use crate::runtime::{
    CpuidQuery, Digest, FetchRequest, IfconfOptions, LineRequest, ParamOptions, ParamsOptions,
    PingOptions, PowerRequest, Runtime, SanOptions, owned,
};

/// What a handler gets: the command name as typed and the parsed options/arguments.
#[derive(Clone, Debug)]
pub struct Invocation<'a> {
    /// The command name.
    pub name: &'a str,
    /// Options and positional arguments.
    pub parsed: Parsed,
}

/// A command handler.
pub type Handler<R> = fn(&mut Interpreter, &mut R, &Invocation<'_>) -> Result<(), Error>;

/// Names the handler of a table entry; [`HandlerId::handler`] gives the function for a
/// runtime type. (The table itself cannot hold generic function pointers in a `static`
/// without requiring `R: 'static`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // One per handler function; the names say which.
pub enum HandlerId {
    Item,
    Choose,
    Imgextract,
    Ifconf,
    Ping,
    Sanboot,
    Clear,
    Cpuid,
    Digest,
    Echo,
    Exit,
    Goto,
    Help,
    Ifclose,
    Iflinkwait,
    Ifopen,
    Ifstat,
    Imgargs,
    Imgexec,
    Imgfetch,
    Imgfree,
    Imgselect,
    Imgstat,
    Inc,
    Iseq,
    Isset,
    Login,
    Menu,
    Nslookup,
    Ntp,
    Param,
    Params,
    Poweroff,
    Prompt,
    Read,
    Reboot,
    Route,
    Sanhook,
    Sanunhook,
    Set,
    Shell,
    Show,
    Sleep,
    Time,
    Imgset,
    Autoboot,
    Sync,
    Pciscan,
    Console,
    Colour,
    Cpair,
    Vcreate,
    Vdestroy,
    Startpxe,
    Stoppxe,
    Pxebs,
    Imgverify,
    Imgtrust,
}

impl HandlerId {
    /// The handler function for runtime type `R`.
    pub fn handler<R: Runtime>(self) -> Handler<R> {
        match self {
            HandlerId::Item => item::<R>,
            HandlerId::Choose => choose::<R>,
            HandlerId::Imgextract => imgextract::<R>,
            HandlerId::Ifconf => ifconf::<R>,
            HandlerId::Ping => ping::<R>,
            HandlerId::Sanboot => sanboot::<R>,
            HandlerId::Clear => clear::<R>,
            HandlerId::Cpuid => cpuid::<R>,
            HandlerId::Digest => digest::<R>,
            HandlerId::Echo => echo::<R>,
            HandlerId::Exit => exit::<R>,
            HandlerId::Goto => goto::<R>,
            HandlerId::Help => help::<R>,
            HandlerId::Ifclose => ifclose::<R>,
            HandlerId::Iflinkwait => iflinkwait::<R>,
            HandlerId::Ifopen => ifopen::<R>,
            HandlerId::Ifstat => ifstat::<R>,
            HandlerId::Imgargs => imgargs::<R>,
            HandlerId::Imgexec => imgexec::<R>,
            HandlerId::Imgfetch => imgfetch::<R>,
            HandlerId::Imgfree => imgfree::<R>,
            HandlerId::Imgselect => imgselect::<R>,
            HandlerId::Imgstat => imgstat::<R>,
            HandlerId::Inc => inc::<R>,
            HandlerId::Iseq => iseq::<R>,
            HandlerId::Isset => isset::<R>,
            HandlerId::Login => login::<R>,
            HandlerId::Menu => menu::<R>,
            HandlerId::Nslookup => nslookup::<R>,
            HandlerId::Ntp => ntp::<R>,
            HandlerId::Param => param::<R>,
            HandlerId::Params => params::<R>,
            HandlerId::Poweroff => poweroff::<R>,
            HandlerId::Prompt => prompt::<R>,
            HandlerId::Read => read::<R>,
            HandlerId::Reboot => reboot::<R>,
            HandlerId::Route => route::<R>,
            HandlerId::Sanhook => sanhook::<R>,
            HandlerId::Sanunhook => sanunhook::<R>,
            HandlerId::Set => set::<R>,
            HandlerId::Shell => shell::<R>,
            HandlerId::Show => show::<R>,
            HandlerId::Sleep => sleep::<R>,
            HandlerId::Time => time::<R>,
            HandlerId::Imgset => imgset::<R>,
            HandlerId::Autoboot => autoboot::<R>,
            HandlerId::Sync => sync::<R>,
            HandlerId::Pciscan => pciscan::<R>,
            HandlerId::Console => console::<R>,
            HandlerId::Colour => colour::<R>,
            HandlerId::Cpair => cpair::<R>,
            HandlerId::Vcreate => vcreate::<R>,
            HandlerId::Vdestroy => vdestroy::<R>,
            HandlerId::Startpxe => startpxe::<R>,
            HandlerId::Stoppxe => stoppxe::<R>,
            HandlerId::Pxebs => pxebs::<R>,
            HandlerId::Imgverify => imgverify::<R>,
            HandlerId::Imgtrust => imgtrust::<R>,
        }
    }
}

/// One entry of the command table.
#[derive(Clone, Copy, Debug)]
pub struct CommandSpec {
    /// The name.
    pub name: &'static str,
    /// The synopsis printed by the usage message.
    pub synopsis: &'static str,
    /// Options (`--help`/`-h` is implicit).
    pub options: &'static [OptSpec],
    /// Fewest positional arguments.
    pub min_args: usize,
    /// Most positional arguments.
    pub max_args: usize,
    /// The implementation.
    pub handler: HandlerId,
}

const MANY: usize = usize::MAX;

const fn spec(
    name: &'static str,
    synopsis: &'static str,
    options: &'static [OptSpec],
    min_args: usize,
    max_args: usize,
    handler: HandlerId,
) -> CommandSpec {
    CommandSpec {
        name,
        synopsis,
        options,
        min_args,
        max_args,
        handler,
    }
}

const NO_OPTS: &[OptSpec] = &[];
const ECHO_OPTS: &[OptSpec] = &[OptSpec::flag("nonewline", 'n')];
const PROMPT_OPTS: &[OptSpec] = &[OptSpec::value("key", 'k'), OptSpec::value("timeout", 't')];
const TIMEOUT_OPTS: &[OptSpec] = &[OptSpec::value("timeout", 't')];
const SHOW_OPTS: &[OptSpec] = &[OptSpec::flag("quiet", 'q')];
const MENU_OPTS: &[OptSpec] = &[OptSpec::value("name", 'n'), OptSpec::flag("delete", 'd')];
const ITEM_OPTS: &[OptSpec] = &[
    OptSpec::value("menu", 'm'),
    OptSpec::value("form", 'f'),
    OptSpec::value("key", 'k'),
    OptSpec::flag("default", 'd'),
    OptSpec::flag("secret", 's'),
    OptSpec::flag("gap", 'g'),
];
const CHOOSE_OPTS: &[OptSpec] = &[
    OptSpec::value("menu", 'm'),
    OptSpec::value("default", 'd'),
    OptSpec::value("timeout", 't'),
    OptSpec::value("retimeout", 'r'),
    OptSpec::flag("keep", 'k'),
];
const FETCH_OPTS: &[OptSpec] = &[
    OptSpec::value("name", 'n'),
    OptSpec::value("timeout", 't'),
    OptSpec::flag("autofree", 'a'),
    OptSpec::flag("quiet", 'q'),
    OptSpec::value("sha256", 's'),
];
const EXEC_OPTS: &[OptSpec] = &[
    OptSpec::value("name", 'n'),
    OptSpec::value("timeout", 't'),
    OptSpec::flag("autofree", 'a'),
    OptSpec::flag("quiet", 'q'),
    OptSpec::flag("replace", 'r'),
    OptSpec::value("sha256", 's'),
];
const IMGVERIFY_OPTS: &[OptSpec] = &[
    OptSpec::value("signer", 's'),
    OptSpec::flag("keep", 'k'),
    OptSpec::value("timeout", 't'),
    OptSpec::flag("quiet", 'q'),
];
const IMGTRUST_OPTS: &[OptSpec] = &[OptSpec::flag("allow", 'a'), OptSpec::flag("permanent", 'p')];
const EXTRACT_OPTS: &[OptSpec] = &[
    OptSpec::value("name", 'n'),
    OptSpec::flag("keep", 'k'),
    OptSpec::value("timeout", 't'),
    OptSpec::flag("quiet", 'q'),
];
const DIGEST_OPTS: &[OptSpec] = &[OptSpec::value("set", 's')];
const IFCONF_OPTS: &[OptSpec] = &[
    OptSpec::value("configurator", 'c'),
    OptSpec::value("timeout", 't'),
];
const PING_OPTS: &[OptSpec] = &[
    OptSpec::value("size", 's'),
    OptSpec::value("timeout", 't'),
    OptSpec::value("count", 'c'),
    OptSpec::flag("quiet", 'q'),
];
const PARAMS_OPTS: &[OptSpec] = &[
    OptSpec::value("name", 'n'),
    OptSpec::value("method", 'm'),
    OptSpec::flag("delete", 'd'),
];
const PARAM_OPTS: &[OptSpec] = &[OptSpec::value("params", 'p'), OptSpec::flag("header", 'H')];
const SANBOOT_OPTS: &[OptSpec] = &[
    OptSpec::value("drive", 'd'),
    OptSpec::flag("no-describe", 'n'),
    OptSpec::flag("keep", 'k'),
    OptSpec::value("filename", 'f'),
    OptSpec::value("extra", 'e'),
    OptSpec::value("label", 'l'),
    OptSpec::value("uuid", 'u'),
];
const SANHOOK_OPTS: &[OptSpec] = &[
    OptSpec::value("drive", 'd'),
    OptSpec::flag("no-describe", 'n'),
];
const DRIVE_OPTS: &[OptSpec] = &[OptSpec::value("drive", 'd')];
const CPUID_OPTS: &[OptSpec] = &[
    OptSpec::flag("ext", 'e'),
    OptSpec::flag("amd", 'a'),
    OptSpec::flag("ecx", 'c'),
];
const REBOOT_OPTS: &[OptSpec] = &[OptSpec::flag("warm", 'w'), OptSpec::flag("setup", 's')];
const IMGSET_OPTS: &[OptSpec] = &[
    OptSpec::flag("keep", 'k'),
    OptSpec::value("timeout", 't'),
    OptSpec::flag("quiet", 'q'),
];
const CONSOLE_OPTS: &[OptSpec] = &[
    OptSpec::value("x", 'x'),
    OptSpec::value("y", 'y'),
    OptSpec::value("left", 'l'),
    OptSpec::value("right", 'r'),
    OptSpec::value("top", 't'),
    OptSpec::value("bottom", 'b'),
    OptSpec::value("depth", 'd'),
    OptSpec::value("picture", 'p'),
    OptSpec::flag("keep", 'k'),
];
const COLOUR_OPTS: &[OptSpec] = &[OptSpec::value("basic", 'b'), OptSpec::value("rgb", 'r')];
const CPAIR_OPTS: &[OptSpec] = &[
    OptSpec::value("foreground", 'f'),
    OptSpec::value("background", 'b'),
];
const VCREATE_OPTS: &[OptSpec] = &[OptSpec::value("tag", 't'), OptSpec::value("priority", 'p')];

const FETCH_SYN: &str = "[--name <name>] [--timeout <timeout>] [--autofree] [--quiet] [--sha256 <hex>] <uri|image> [<arguments>...]";
const EXEC_SYN: &str = "[--name <name>] [--timeout <timeout>] [--autofree] [--quiet] [--replace] [--sha256 <hex>] [<uri|image> [<arguments>...]]";
const IFACES_SYN: &str = "[<interface>...]";
const DIGEST_SYN: &str = "[--set <setting>] <uri|image> [<uri|image>...]";

/// The command table.
pub static COMMANDS: &[CommandSpec] = &[
    // Flow, output, tests (§3.1)
    spec("echo", "[-n] [...]", ECHO_OPTS, 0, MANY, HandlerId::Echo),
    spec("isset", "<value>", NO_OPTS, 1, 1, HandlerId::Isset),
    spec("iseq", "<value1> <value2>", NO_OPTS, 2, 2, HandlerId::Iseq),
    spec("sleep", "<seconds>", NO_OPTS, 1, 1, HandlerId::Sleep),
    spec(
        "prompt",
        "[--key <key>] [--timeout <timeout>] [<text>]",
        PROMPT_OPTS,
        0,
        MANY,
        HandlerId::Prompt,
    ),
    spec("goto", "<label>", NO_OPTS, 1, 1, HandlerId::Goto),
    spec("time", "<command>", NO_OPTS, 1, MANY, HandlerId::Time),
    spec("exit", "[<status>]", NO_OPTS, 0, 1, HandlerId::Exit),
    spec("shell", "", NO_OPTS, 0, 0, HandlerId::Shell),
    spec("help", "", NO_OPTS, 0, 0, HandlerId::Help),
    // Settings (§3.3)
    spec("set", "<setting> <value>", NO_OPTS, 1, MANY, HandlerId::Set),
    spec("clear", "<setting>", NO_OPTS, 1, 1, HandlerId::Clear),
    spec(
        "read",
        "[--timeout <timeout>] <setting>",
        TIMEOUT_OPTS,
        1,
        1,
        HandlerId::Read,
    ),
    spec(
        "inc",
        "<setting> [<increment>]",
        NO_OPTS,
        1,
        2,
        HandlerId::Inc,
    ),
    spec(
        "show",
        "[--quiet] <setting>",
        SHOW_OPTS,
        1,
        1,
        HandlerId::Show,
    ),
    spec("pciscan", "<setting>", NO_OPTS, 1, 1, HandlerId::Pciscan),
    spec(
        "nslookup",
        "<setting> <name>",
        NO_OPTS,
        2,
        2,
        HandlerId::Nslookup,
    ),
    // Menus, login (§3.4)
    spec(
        "menu",
        "[--name <name>] [--delete] [<title>]",
        MENU_OPTS,
        0,
        MANY,
        HandlerId::Menu,
    ),
    spec(
        "item",
        "[--menu <menu>] [--key <key>] [--default] [--gap] [<label> [<text>]]",
        ITEM_OPTS,
        0,
        MANY,
        HandlerId::Item,
    ),
    spec(
        "choose",
        "[--menu <menu>] [--default <label>] [--timeout <timeout>] [--retimeout <timeout>] [--keep] <setting>",
        CHOOSE_OPTS,
        1,
        1,
        HandlerId::Choose,
    ),
    spec("login", "", NO_OPTS, 0, 0, HandlerId::Login),
    spec(
        "console",
        "[--x <width>] [--y <height>] [--left <margin>] [--right <margin>] [--top <margin>] [--bottom <margin>] [--depth <bpp>] [--picture <uri>] [--keep]",
        CONSOLE_OPTS,
        0,
        0,
        HandlerId::Console,
    ),
    spec(
        "colour",
        "[--basic <colour>] [--rgb <rgb>] <colour>",
        COLOUR_OPTS,
        1,
        1,
        HandlerId::Colour,
    ),
    spec(
        "cpair",
        "[--foreground <colour>] [--background <colour>] <cpair>",
        CPAIR_OPTS,
        1,
        1,
        HandlerId::Cpair,
    ),
    // Images (§3.2)
    spec(
        "imgfetch",
        FETCH_SYN,
        FETCH_OPTS,
        1,
        MANY,
        HandlerId::Imgfetch,
    ),
    spec(
        "module",
        FETCH_SYN,
        FETCH_OPTS,
        1,
        MANY,
        HandlerId::Imgfetch,
    ),
    spec(
        "initrd",
        FETCH_SYN,
        FETCH_OPTS,
        1,
        MANY,
        HandlerId::Imgfetch,
    ),
    spec(
        "imgselect",
        FETCH_SYN,
        FETCH_OPTS,
        1,
        MANY,
        HandlerId::Imgselect,
    ),
    spec(
        "imgload",
        FETCH_SYN,
        FETCH_OPTS,
        1,
        MANY,
        HandlerId::Imgselect,
    ),
    spec(
        "kernel",
        FETCH_SYN,
        FETCH_OPTS,
        1,
        MANY,
        HandlerId::Imgselect,
    ),
    spec("imgexec", EXEC_SYN, EXEC_OPTS, 0, MANY, HandlerId::Imgexec),
    spec("chain", EXEC_SYN, EXEC_OPTS, 0, MANY, HandlerId::Imgexec),
    spec("boot", EXEC_SYN, EXEC_OPTS, 0, MANY, HandlerId::Imgexec),
    spec(
        "imgverify",
        "[--signer <name>] [--keep] [--timeout <timeout>] [--quiet] <uri|image> <signature uri|image>",
        IMGVERIFY_OPTS,
        2,
        2,
        HandlerId::Imgverify,
    ),
    spec(
        "imgtrust",
        "[--allow] [--permanent]",
        IMGTRUST_OPTS,
        0,
        0,
        HandlerId::Imgtrust,
    ),
    spec(
        "imgargs",
        "<image> [<arguments>...]",
        NO_OPTS,
        1,
        MANY,
        HandlerId::Imgargs,
    ),
    spec(
        "imgstat",
        "[<image>...]",
        NO_OPTS,
        0,
        MANY,
        HandlerId::Imgstat,
    ),
    spec(
        "imgfree",
        "[<image>...]",
        NO_OPTS,
        0,
        MANY,
        HandlerId::Imgfree,
    ),
    spec(
        "imgextract",
        "[--name <name>] [--keep] [--timeout <timeout>] [--quiet] <uri|image>",
        EXTRACT_OPTS,
        1,
        1,
        HandlerId::Imgextract,
    ),
    spec(
        "imgset",
        "[--keep] [--timeout <timeout>] [--quiet] <setting> <uri|image>",
        IMGSET_OPTS,
        2,
        2,
        HandlerId::Imgset,
    ),
    spec(
        "md4sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    spec(
        "md5sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    spec(
        "sha1sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    spec(
        "sha224sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    spec(
        "sha256sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    spec(
        "sha384sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    spec(
        "sha512sum",
        DIGEST_SYN,
        DIGEST_OPTS,
        1,
        MANY,
        HandlerId::Digest,
    ),
    // Network (§3.5)
    spec("ifopen", IFACES_SYN, NO_OPTS, 0, MANY, HandlerId::Ifopen),
    spec("ifclose", IFACES_SYN, NO_OPTS, 0, MANY, HandlerId::Ifclose),
    spec("ifstat", IFACES_SYN, NO_OPTS, 0, MANY, HandlerId::Ifstat),
    spec(
        "ifconf",
        "[--configurator <configurator>] [--timeout <timeout>] [<interface>...]",
        IFCONF_OPTS,
        0,
        MANY,
        HandlerId::Ifconf,
    ),
    spec(
        "dhcp",
        "[--configurator <configurator>] [--timeout <timeout>] [<interface>...]",
        IFCONF_OPTS,
        0,
        MANY,
        HandlerId::Ifconf,
    ),
    spec(
        "iflinkwait",
        "[--timeout <timeout>] [<interface>...]",
        TIMEOUT_OPTS,
        0,
        MANY,
        HandlerId::Iflinkwait,
    ),
    spec(
        "autoboot",
        IFACES_SYN,
        NO_OPTS,
        0,
        MANY,
        HandlerId::Autoboot,
    ),
    spec(
        "pxebs",
        "<interface> <server type>",
        NO_OPTS,
        2,
        2,
        HandlerId::Pxebs,
    ),
    spec("route", "", NO_OPTS, 0, 0, HandlerId::Route),
    spec(
        "vcreate",
        "--tag <tag> [--priority <priority>] <trunk interface>",
        VCREATE_OPTS,
        1,
        1,
        HandlerId::Vcreate,
    ),
    spec(
        "vdestroy",
        "<interface>",
        NO_OPTS,
        1,
        1,
        HandlerId::Vdestroy,
    ),
    spec(
        "sync",
        "[--timeout <timeout>]",
        TIMEOUT_OPTS,
        0,
        0,
        HandlerId::Sync,
    ),
    spec(
        "startpxe",
        "[<interface>]",
        NO_OPTS,
        0,
        1,
        HandlerId::Startpxe,
    ),
    spec("stoppxe", "", NO_OPTS, 0, 0, HandlerId::Stoppxe),
    spec("ntp", "<server>", NO_OPTS, 1, 1, HandlerId::Ntp),
    spec(
        "ping",
        "[--size <size>] [--timeout <timeout>] [--count <count>] [--quiet] <host>",
        PING_OPTS,
        1,
        1,
        HandlerId::Ping,
    ),
    spec(
        "params",
        "[--name <name>] [--method <method>] [--delete]",
        PARAMS_OPTS,
        0,
        0,
        HandlerId::Params,
    ),
    spec(
        "param",
        "[--params <params>] [--header] <key> [<value>]",
        PARAM_OPTS,
        1,
        MANY,
        HandlerId::Param,
    ),
    // SAN and power (§3.6)
    spec(
        "sanboot",
        "[--drive <drive>] [--no-describe] [--keep] [--filename <filename>] [--extra <path>] [--label <label>] [--uuid <uuid>] [<root-path>...]",
        SANBOOT_OPTS,
        0,
        MANY,
        HandlerId::Sanboot,
    ),
    spec(
        "sanhook",
        "[--drive <drive>] [--no-describe] <root-path> [...]",
        SANHOOK_OPTS,
        1,
        MANY,
        HandlerId::Sanhook,
    ),
    spec(
        "sanunhook",
        "[--drive <drive>]",
        DRIVE_OPTS,
        0,
        0,
        HandlerId::Sanunhook,
    ),
    spec(
        "cpuid",
        "[--ext] [--ecx] <bit>",
        CPUID_OPTS,
        1,
        1,
        HandlerId::Cpuid,
    ),
    spec(
        "reboot",
        "[--warm] [--setup]",
        REBOOT_OPTS,
        0,
        0,
        HandlerId::Reboot,
    ),
    spec("poweroff", "", NO_OPTS, 0, 0, HandlerId::Poweroff),
];

/// The command table.
pub fn table() -> &'static [CommandSpec] {
    COMMANDS
}

// ---- helpers ----------------------------------------------------------------------

fn join(args: &[String]) -> String {
    args.join(" ")
}

/// Parses an integer option, printing iPXE's message on error.
fn int_opt<R: Runtime>(rt: &mut R, p: &Parsed, long: &str) -> Result<Option<u64>, Error> {
    let mut out = String::new();
    let r = p.integer(long, &mut out);
    rt.print(&out);
    r
}

fn int_arg<R: Runtime>(rt: &mut R, text: &str) -> Result<u64, Error> {
    let mut out = String::new();
    let r = parse_integer(text, &mut out);
    rt.print(&out);
    r
}

/// `set`-style store: an empty value deletes; errors print `Could not store`.
fn store_text<R: Runtime>(rt: &mut R, name: &str, value: &str) -> Result<(), Error> {
    let r = if value.is_empty() {
        rt.settings().clear(name)
    } else {
        rt.settings().set(name, value)
    };
    r.map_err(|e| {
        let e = Error::from(e);
        rt.print(&format!("Could not store \"{name}\": {e}\n"));
        e
    })
}

/// Adds a default type to a setting name that has none.
fn with_default_type(name: &str, ty: SettingType) -> String {
    let after_block = name.split_once('/').map_or(name, |(_, r)| r);
    if after_block.contains(':') {
        name.to_string()
    } else {
        format!("{name}:{}", ty.name())
    }
}

// ---- flow, output, tests ------------------------------------------------------------

fn echo<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let mut text = join(&inv.parsed.args);
    if !inv.parsed.flag("nonewline") {
        text.push('\n');
    }
    rt.print(&text);
    Ok(())
}

fn isset<R: Runtime>(_: &mut Interpreter, _: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    if inv.parsed.args[0].is_empty() {
        Err(Error::NotSet)
    } else {
        Ok(())
    }
}

fn iseq<R: Runtime>(_: &mut Interpreter, _: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    if inv.parsed.args[0] == inv.parsed.args[1] {
        Ok(())
    } else {
        Err(Error::NotEqual)
    }
}

fn sleep<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let secs = int_arg(rt, &inv.parsed.args[0])?;
    let deadline = rt.now_ms().saturating_add(secs.saturating_mul(1000));
    loop {
        // Only Ctrl-C interrupts; other keys are read and discarded.
        if let Some(k) = rt.poll_key()
            && crate::keys::key_code(k) == crate::keys::CTRL_C
        {
            return Err(Error::Canceled);
        }
        if rt.now_ms() >= deadline {
            return Ok(());
        }
        rt.idle();
    }
}

fn prompt<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let timeout = int_opt(rt, p, "timeout")?.unwrap_or(0);
    let wanted = match p.value("key") {
        Some(k) => {
            let mut out = String::new();
            let r = parse_key(k, &mut out);
            rt.print(&out);
            Some(r?)
        }
        None => None,
    };
    let text = join(&p.args);
    rt.print(&text);
    let key = rt.wait_key(timeout);
    let erase: String = core::iter::repeat_n("\x08 \x08", text.chars().count()).collect();
    rt.print(&erase);
    match (key, wanted) {
        (None, _) => Err(Error::TimedOut),
        (Some(k), Some(w)) if k != w => Err(Error::Canceled),
        _ => Ok(()),
    }
}

fn goto<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let label = &inv.parsed.args[0];
    let Some(frame) = interp.frames.last_mut() else {
        rt.print("Not in a script\n");
        return Err(Error::NotInScript);
    };
    let index = frame
        .script
        .find_label(label)
        .ok_or_else(|| Error::NoSuchLabel(label.clone()))?;
    frame.next = index;
    interp.stop = Stop::Command;
    Ok(())
}

fn exit<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let status = match inv.parsed.args.first() {
        Some(a) => int_arg(rt, a)? as u32,
        None => 0,
    };
    interp.stop = Stop::Sequence;
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Exit(status))
    }
}

fn shell<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    _: &Invocation<'_>,
) -> Result<(), Error> {
    interp.shell(rt)
}

fn help<R: Runtime>(_: &mut Interpreter, rt: &mut R, _: &Invocation<'_>) -> Result<(), Error> {
    let mut out = String::from("\nAvailable commands:\n\n");
    let mut col = 0;
    for c in table() {
        if col + 12 > 80 {
            out.push('\n');
            col = 0;
        }
        let _ = write!(out, "{:<12}", c.name);
        col += 12;
    }
    out.push_str("\n\nType \"<command> --help\" for further information\n\n");
    rt.print(&out);
    Ok(())
}

// ---- settings -----------------------------------------------------------------------

fn set<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let args = &inv.parsed.args;
    store_text(rt, &args[0], &join(&args[1..]))
}

fn clear<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let name = &inv.parsed.args[0];
    rt.settings().clear(name).map_err(|e| {
        let e = Error::from(e);
        rt.print(&format!("Could not clear \"{name}\": {e}\n"));
        e
    })
}

fn read<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let timeout = int_opt(rt, &inv.parsed, "timeout")?.unwrap_or(0);
    let name = &inv.parsed.args[0];
    let current = rt.settings().get(name).ok().flatten().unwrap_or_default();
    let text = rt.read_line(&LineRequest {
        prompt: "",
        initial: &current,
        secret: false,
        timeout_ms: timeout,
        history: &[],
    })?;
    store_text(rt, name, &text)
}

fn inc<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let args = &inv.parsed.args;
    let name = &args[0];
    let increment = match args.get(1) {
        Some(a) => int_arg(rt, a)? as i64,
        None => 1,
    };
    let explicit = SettingName::parse(name).map_err(Error::from)?.ty;
    let found = rt.lookup_setting(name).ok().flatten();
    let (ty, value) = match found {
        Some(f) => (f.ty, f.ty.numeric(&f.value)),
        None => (explicit.unwrap_or(SettingType::Int32), 0),
    };
    if !ty.is_numeric() {
        let e = Error::NotNumeric(name.clone());
        rt.print(&format!("Could not store \"{name}\": {e}\n"));
        return Err(e);
    }
    let text = format!("{}", value.wrapping_add(increment));
    store_text(rt, &with_default_type(name, ty), &text)
}

fn show<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let name = &inv.parsed.args[0];
    let found = rt
        .lookup_setting(name)
        .map_err(Error::from)
        .and_then(|f| f.ok_or(Error::NoSuchSetting(name.clone())));
    match found {
        Ok(f) if inv.parsed.flag("quiet") => rt.print(&format!("{}\n", f.formatted())),
        Ok(f) => rt.print(&format!("{} = {}\n", f.qualified_name(), f.formatted())),
        Err(e) => {
            rt.print(&format!("Could not find \"{name}\": {e}\n"));
            return Err(e);
        }
    }
    Ok(())
}

fn nslookup<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let args = &inv.parsed.args;
    let address = rt.nslookup(&args[1])?;
    store_text(
        rt,
        &with_default_type(&args[0], SettingType::Ipv4),
        &address,
    )
}

// ---- menus, login -------------------------------------------------------------------

fn find_menu(interp: &Interpreter, name: Option<&str>) -> Option<usize> {
    // Compare the optional names as options: an unnamed menu never matches a named
    // lookup (iPXE compares possibly-NULL strings here).
    interp.menus.iter().position(|m| m.name.as_deref() == name)
}

fn no_menu<R: Runtime>(rt: &mut R, name: Option<&str>) -> Error {
    match name {
        Some(n) => rt.print(&format!("\"{n}\": no such menu\n")),
        None => rt.print("No default menu\n"),
    }
    Error::NoSuchMenu(name.unwrap_or("").to_string())
}

fn menu<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let name = p.value("name");
    let existing = find_menu(interp, name);
    if let Some(i) = existing {
        interp.menus.remove(i);
    }
    if p.flag("delete") {
        return if existing.is_some() {
            Ok(())
        } else {
            Err(no_menu(rt, name))
        };
    }
    if interp.menus.len() >= 64 {
        return Err(Error::NestingTooDeep);
    }
    interp.menus.push(Menu::new(owned(name), join(&p.args)));
    Ok(())
}

fn item<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    if p.flag("form") || p.flag("secret") {
        return Err(Error::NotSupported("forms"));
    }
    let shortcut = match p.value("key") {
        Some(k) => {
            let mut out = String::new();
            let r = parse_key(k, &mut out);
            rt.print(&out);
            Some(r?)
        }
        None => None,
    };
    let name = p.value("menu");
    let Some(i) = find_menu(interp, name) else {
        return Err(no_menu(rt, name));
    };
    let (label, text) = if p.flag("gap") {
        (None, join(&p.args))
    } else {
        (
            p.args.first().cloned(),
            p.args.get(1..).map(join).unwrap_or_default(),
        )
    };
    let menu = &mut interp.menus[i];
    if menu.items.len() >= 1024 {
        return Err(Error::NestingTooDeep);
    }
    menu.items.push(MenuItem {
        label,
        text,
        shortcut,
        is_default: p.flag("default"),
    });
    Ok(())
}

fn choose<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = ChooseOptions {
        default: owned(p.value("default")),
        timeout_ms: int_opt(rt, p, "timeout")?.unwrap_or(0),
        retimeout_ms: int_opt(rt, p, "retimeout")?.unwrap_or(0),
        palette: interp.palette.clone(),
    };
    let name = p.value("menu");
    let Some(i) = find_menu(interp, name) else {
        return Err(no_menu(rt, name));
    };
    let menu = if p.flag("keep") {
        interp.menus[i].clone()
    } else {
        interp.menus.remove(i)
    };
    let index = rt.menu_select(&menu, &opts)?;
    let label = menu
        .items
        .get(index)
        .and_then(|i| i.label.clone())
        .ok_or(Error::NoSuchMenu(menu.name.unwrap_or_default()))?;
    store_text(rt, &p.args[0], &label)
}

fn login<R: Runtime>(_: &mut Interpreter, rt: &mut R, _: &Invocation<'_>) -> Result<(), Error> {
    let user = rt
        .settings()
        .get("username")
        .ok()
        .flatten()
        .unwrap_or_default();
    let user = rt.read_line(&LineRequest {
        prompt: "Username: ",
        initial: &user,
        secret: false,
        timeout_ms: 0,
        history: &[],
    })?;
    let pass = rt.read_line(&LineRequest {
        prompt: "Password: ",
        initial: "",
        secret: true,
        timeout_ms: 0,
        history: &[],
    })?;
    store_text(rt, "username", &user)?;
    store_text(rt, "password", &pass)
}

// ---- images -------------------------------------------------------------------------

#[derive(Default)]
struct ImageOpts {
    name: Option<String>,
    timeout_ms: u64,
    autofree: bool,
    quiet: bool,
    /// `--sha256`: the digest the image must have.
    sha256: Option<[u8; 32]>,
}

fn image_opts<R: Runtime>(rt: &mut R, p: &Parsed) -> Result<ImageOpts, Error> {
    let sha256 = match p.value("sha256") {
        Some(text) => Some(parse_sha256(text).inspect_err(|e| rt.print(&format!("{e}\n")))?),
        None => None,
    };
    Ok(ImageOpts {
        name: owned(p.value("name")),
        timeout_ms: int_opt(rt, p, "timeout")?.unwrap_or(0),
        autofree: p.flag("autofree"),
        quiet: p.flag("quiet"),
        sha256,
    })
}

/// A `--sha256` value: 64 hex digits, optionally separated by colons (`${…:hex}` form).
pub(crate) fn parse_sha256(text: &str) -> Result<[u8; 32], Error> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    let mut out = [0u8; 32];
    let valid = digits.len() == 64
        && digits.chunks_exact(2).zip(out.iter_mut()).all(
            |(pair, byte)| match core::str::from_utf8(pair).map(|h| u8::from_str_radix(h, 16)) {
                Ok(Ok(b)) => {
                    *byte = b;
                    true
                }
                _ => false,
            },
        );
    if valid {
        Ok(out)
    } else {
        Err(Error::platform(
            crate::Posix::Einval,
            20,
            format!(
                "--sha256 \"{text}\": expected a SHA-256 digest as 64 hex digits (as printed \
                 by sha256sum)"
            ),
        ))
    }
}

fn hex_string(bytes: &[u8]) -> String {
    SettingType::HexRaw.format(bytes)
}

/// Checks an image against `--sha256`: a match marks it trusted; a mismatch is an error
/// naming both digests (the caller discards a fresh download).
fn check_pin<R: Runtime>(rt: &mut R, name: &str, data: &[u8], pin: &[u8; 32]) -> Result<(), Error> {
    let actual = rt.digest(Digest::Sha256, data)?;
    if actual.as_slice() == pin {
        return Ok(());
    }
    let e = Error::platform(
        crate::Posix::Eacces,
        21,
        format!(
            "{name} does not match --sha256: its SHA-256 is {}, the pinned one is {}; hint: \
             the file changed at its source, or the pin is out of date",
            hex_string(&actual),
            hex_string(pin)
        ),
    );
    rt.print(&format!("Could not register image: {e}\n"));
    Err(e)
}

/// The error for executing an untrusted image while `imgtrust` requires trust.
fn untrusted_error(name: &str) -> Error {
    Error::platform(
        crate::Posix::Eacces,
        22,
        format!(
            "image {name} is not trusted: verify it with imgverify, or pin it with --sha256 \
             (imgtrust requires trusted images)"
        ),
    )
}

/// Fails if trust is required (`imgtrust`) and the image is not trusted (§6.4 step 3).
pub(crate) fn check_trusted<R: Runtime>(rt: &mut R, id: ImageId) -> Result<(), Error> {
    if !rt.images().trust_policy().require {
        return Ok(());
    }
    match rt.images().get(id) {
        Some(image) if !image.trusted => Err(untrusted_error(&image.name)),
        _ => Ok(()),
    }
}

/// Downloads and registers an image (§3.2 `imgfetch`).
fn download<R: Runtime>(rt: &mut R, uri: &str, opts: &ImageOpts) -> Result<ImageId, Error> {
    let cwuri = rt.images().cwuri().map(ToString::to_string);
    let fetched = rt.fetch(&FetchRequest {
        uri,
        cwuri: cwuri.as_deref(),
        timeout_ms: opts.timeout_ms,
        quiet: opts.quiet,
    })?;
    let name = opts
        .name
        .clone()
        .or_else(|| default_name(uri))
        .unwrap_or_default();
    let mut image = Image::new(name, fetched.data);
    if let Some(pin) = &opts.sha256 {
        // A mismatch drops the download: it is never registered.
        check_pin(rt, &image.name, image.data.as_ref(), pin)?;
        image.trusted = true;
    }
    image.ty = probe(rt, &image.data).or_else(|| rt.probe_named(&image.name, &image.data));
    image.uri = Some(fetched.uri);
    image.autofree = opts.autofree;
    Ok(rt.images().register(image))
}

/// Finds an image by exact name, or downloads it (§3.2 "acquire"). With `--sha256`, an
/// image already registered is checked against the pin too (and left as it was if it
/// does not match).
fn acquire<R: Runtime>(rt: &mut R, name_or_uri: &str, opts: &ImageOpts) -> Result<ImageId, Error> {
    let Some(id) = rt.images().find(name_or_uri).map(Image::id) else {
        return download(rt, name_or_uri, opts);
    };
    if let Some(pin) = &opts.sha256
        && let Some((index, image)) = rt.images().take(id)
    {
        let result = check_pin(rt, &image.name, image.data.as_ref(), pin);
        rt.images().put_back(index, image);
        result?;
        if let Some(image) = rt.images().get_mut(id) {
            image.trusted = true;
        }
    }
    Ok(id)
}

fn set_cmdline<R: Runtime>(rt: &mut R, id: ImageId, args: &[String]) {
    if let Some(img) = rt.images().get_mut(id) {
        img.cmdline = (!args.is_empty()).then(|| join(args));
    }
}

fn imgfetch<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let opts = image_opts(rt, &inv.parsed)?;
    let args = &inv.parsed.args;
    let id = download(rt, &args[0], &opts)?;
    set_cmdline(rt, id, &args[1..]);
    Ok(())
}

fn is_executable(ty: Option<crate::image::ImageType>) -> bool {
    ty.is_some()
}

fn imgselect<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let opts = image_opts(rt, &inv.parsed)?;
    let args = &inv.parsed.args;
    let id = acquire(rt, &args[0], &opts)?;
    if args.len() > 1 {
        set_cmdline(rt, id, &args[1..]);
    }
    let (ty, name) = rt
        .images()
        .get(id)
        .map(|i| (i.ty, i.name.clone()))
        .unwrap_or_default();
    if !is_executable(ty) {
        let e = Error::NotExecutable(name);
        rt.print(&format!("Could not select: {e}\n"));
        return Err(e);
    }
    rt.images().select(id);
    Ok(())
}

fn imgexec<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = image_opts(rt, p)?;
    let id = match p.args.first() {
        Some(arg) => {
            let id = acquire(rt, arg, &opts)?;
            if p.args.len() > 1 {
                set_cmdline(rt, id, &p.args[1..]);
            }
            id
        }
        None => match rt.images().selected() {
            Some(id) => id,
            None => {
                // iPXE quirk: nothing selected is not an error.
                rt.print("No image selected\n");
                return Ok(());
            }
        },
    };
    if opts.autofree
        && let Some(img) = rt.images().get_mut(id)
    {
        img.autofree = true;
    }
    if let Err(e) = check_trusted(rt, id) {
        rt.print(&format!("Could not boot: {e}\n"));
        return Err(e);
    }
    if p.flag("replace") {
        if interp.frames.is_empty() {
            let e = Error::NoCurrentImage;
            rt.print(&format!("Could not boot: {e}\n"));
            return Err(e);
        }
        interp.replacement = Some(id);
        interp.stop = Stop::Sequence;
        return Ok(());
    }
    interp
        .exec_image(rt, id)
        .inspect_err(|e| rt.print(&format!("Could not boot: {e}\n")))
}

fn find_image<R: Runtime>(rt: &mut R, name: &str) -> Result<ImageId, Error> {
    match rt.images().find(name) {
        Some(i) => Ok(i.id()),
        None => {
            rt.print(&format!("\"{name}\": no such image\n"));
            Err(Error::NoSuchImage(name.to_string()))
        }
    }
}

fn imgargs<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let args = &inv.parsed.args;
    let opts = ImageOpts::default();
    let id = acquire(rt, &args[0], &opts)?;
    set_cmdline(rt, id, &args[1..]);
    Ok(())
}

fn imgstat<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let ids: Vec<ImageId> = if inv.parsed.args.is_empty() {
        rt.images().iter().map(Image::id).collect()
    } else {
        let mut ids = Vec::new();
        for name in &inv.parsed.args {
            ids.push(find_image(rt, name)?);
        }
        ids
    };
    let selected = rt.images().selected();
    let mut out = String::new();
    for id in ids {
        if let Some(img) = rt.images().get(id) {
            out.push_str(&img.describe(selected == Some(id)));
            out.push('\n');
        }
    }
    rt.print(&out);
    Ok(())
}

fn imgfree<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    if inv.parsed.args.is_empty() {
        rt.images().clear();
        return Ok(());
    }
    for name in &inv.parsed.args {
        let id = find_image(rt, name)?;
        rt.images().unregister(id);
    }
    Ok(())
}

fn imgextract<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = image_opts(rt, p)?;
    let source = acquire(rt, &p.args[0], &ImageOpts { name: None, ..opts })?;
    let Some(image) = rt.images().get(source) else {
        return Err(Error::NoSuchImage(p.args[0].clone()));
    };
    if image.ty.map(|t| t.kind) != Some(ImageKind::Archive) {
        let e = Error::NotArchive(image.name.clone());
        rt.print(&format!("Could not extract: {e}\n"));
        return Err(e);
    }
    let (src_name, uri, cmdline, trusted) = (
        image.name.clone(),
        image.uri.clone(),
        image.cmdline.clone(),
        image.trusted,
    );
    let Some(image) = rt.images().unregister(source) else {
        return Err(Error::NoSuchImage(src_name));
    };
    let extracted = rt.extract(&image);
    if p.flag("keep") || extracted.is_err() {
        rt.images().register(image);
    }
    let data = extracted.inspect_err(|e| rt.print(&format!("Could not extract: {e}\n")))?;
    let mut new = Image::new(
        owned(p.value("name")).unwrap_or_else(|| strip_suffix(&src_name)),
        data,
    );
    new.uri = uri;
    new.cmdline = cmdline;
    new.trusted = trusted;
    new.ty = probe(rt, &new.data);
    rt.images().register(new);
    Ok(())
}

fn digest<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let algorithm = match inv.name {
        "md4sum" => Digest::Md4,
        "md5sum" => Digest::Md5,
        "sha1sum" => Digest::Sha1,
        "sha224sum" => Digest::Sha224,
        "sha384sum" => Digest::Sha384,
        "sha512sum" => Digest::Sha512,
        _ => Digest::Sha256,
    };
    let opts = ImageOpts::default();
    for arg in &inv.parsed.args {
        let id = acquire(rt, arg, &opts)?;
        let Some((index, image)) = rt.images().take(id) else {
            continue;
        };
        let result = rt.digest(algorithm, image.data.as_ref());
        let name = image.name.clone();
        rt.images().put_back(index, image);
        let raw = result?;
        match inv.parsed.value("set") {
            Some(setting) => {
                let ty = SettingType::HexRaw;
                let text = ty.format(&raw);
                store_text(rt, &with_default_type(setting, ty), &text)?;
            }
            None => {
                let hex = SettingType::HexRaw.format(&raw);
                rt.print(&format!("{hex}  {name}\n"));
            }
        }
    }
    Ok(())
}

// ---- trust ------------------------------------------------------------------------

fn imgverify<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = ImageOpts {
        timeout_ms: int_opt(rt, p, "timeout")?.unwrap_or(0),
        quiet: p.flag("quiet"),
        ..ImageOpts::default()
    };
    let image_id = acquire(rt, &p.args[0], &opts)?;
    let signature_id = acquire(rt, &p.args[1], &opts)?;
    let signature = rt
        .images()
        .get(signature_id)
        .map(|i| i.data.as_ref().to_vec())
        .unwrap_or_default();
    // Like iPXE: the image is untrusted until this verification succeeds.
    let result = match rt.images().take(image_id) {
        Some((index, mut image)) => {
            image.trusted = false;
            let r = rt.verify_signature(image.data.as_ref(), &signature, p.value("signer"));
            if r.is_ok() {
                image.trusted = true;
            }
            rt.images().put_back(index, image);
            r.map(drop)
        }
        None => Err(Error::NoSuchImage(p.args[0].clone())),
    };
    if !p.flag("keep") && signature_id != image_id {
        rt.images().unregister(signature_id);
    }
    result.inspect_err(|e| {
        if !matches!(e, Error::NotSupported(_)) {
            rt.print(&format!("Could not verify: {e}\n"));
        }
    })
}

fn imgtrust<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let require = !p.flag("allow");
    rt.images()
        .set_trust_policy(require, p.flag("permanent"))
        .map_err(|()| {
            let e = Error::platform(
                crate::Posix::Eacces,
                23,
                "Trust requirement is permanent (set by imgtrust --permanent; it cannot change \
                 until reboot)",
            );
            rt.print(&format!("Could not set image trust: {e}\n"));
            e
        })
}

// ---- network ------------------------------------------------------------------------

/// Runs `f` on each named interface (or every interface), skipping unknown names with a
/// message; optionally stops at the first success (§3.5).
fn each_iface<R: Runtime>(
    rt: &mut R,
    names: &[String],
    stop_at_success: bool,
    mut f: impl FnMut(&mut R, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let list = if names.is_empty() {
        rt.interfaces()
    } else {
        names.to_vec()
    };
    if list.is_empty() {
        rt.print("No network devices\n");
        return Err(Error::NoSuchInterface(String::new()));
    }
    let mut rc = Ok(());
    for name in &list {
        let Some(dev) = rt.resolve_interface(name) else {
            rt.print(&format!("No such interface: {name}\n"));
            rc = Err(Error::NoSuchInterface(name.clone()));
            continue;
        };
        rc = f(rt, &dev);
        if stop_at_success && rc.is_ok() {
            break;
        }
    }
    rc
}

fn ifopen<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    each_iface(rt, &inv.parsed.args, false, |rt, i| rt.ifopen(i))
}

fn ifclose<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    each_iface(rt, &inv.parsed.args, false, |rt, i| rt.ifclose(i))
}

fn ifstat<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    each_iface(rt, &inv.parsed.args, false, |rt, i| rt.ifstat(i))
}

fn ifconf<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = IfconfOptions {
        configurator: owned(p.value("configurator")),
        timeout_ms: int_opt(rt, p, "timeout")?,
    };
    each_iface(rt, &p.args, true, |rt, i| rt.ifconf(i, &opts))
}

fn iflinkwait<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let timeout = int_opt(rt, &inv.parsed, "timeout")?.unwrap_or(0);
    each_iface(rt, &inv.parsed.args, true, |rt, i| {
        rt.iflinkwait(i, timeout)
    })
}

fn route<R: Runtime>(_: &mut Interpreter, rt: &mut R, _: &Invocation<'_>) -> Result<(), Error> {
    rt.route()
}

fn ntp<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    rt.ntp(&inv.parsed.args[0])
}

fn ping<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = PingOptions {
        host: p.args[0].clone(),
        size: int_opt(rt, p, "size")?.unwrap_or(64),
        timeout_ms: int_opt(rt, p, "timeout")?.unwrap_or(1000),
        count: int_opt(rt, p, "count")?,
        quiet: p.flag("quiet"),
    };
    rt.ping(&opts)
}

fn params<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    rt.params(&ParamsOptions {
        name: owned(p.value("name")),
        method: owned(p.value("method")),
        delete: p.flag("delete"),
    })
}

fn param<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    rt.param(&ParamOptions {
        params: owned(p.value("params")),
        header: p.flag("header"),
        key: p.args[0].clone(),
        value: (p.args.len() > 1).then(|| join(&p.args[1..])),
    })
}

// ---- SAN, machine -------------------------------------------------------------------

fn san_opts<R: Runtime>(rt: &mut R, p: &Parsed) -> Result<SanOptions, Error> {
    Ok(SanOptions {
        drive: int_opt(rt, p, "drive")?,
        no_describe: p.flag("no-describe"),
        keep: p.flag("keep"),
        filename: owned(p.value("filename")),
        extra: owned(p.value("extra")),
        label: owned(p.value("label")),
        uuid: owned(p.value("uuid")),
        uris: p.args.clone(),
    })
}

fn sanboot<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let opts = san_opts(rt, &inv.parsed)?;
    rt.sanboot(&opts).inspect_err(|e| {
        if !matches!(e, Error::NotSupported(_)) {
            rt.print(&format!("Could not boot: {e}\n"));
        }
    })
}

fn sanhook<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let opts = san_opts(rt, &inv.parsed)?;
    rt.sanhook(&opts)
}

fn sanunhook<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let drive = int_opt(rt, &inv.parsed, "drive")?;
    rt.sanunhook(drive)
}

fn cpuid<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let bit = int_arg(rt, &p.args[0])? as u32;
    let query = CpuidQuery {
        extended: p.flag("ext") || p.flag("amd"),
        ecx: p.flag("ecx"),
        bit,
    };
    if rt.cpuid(query)? {
        Ok(())
    } else {
        Err(Error::NotSet)
    }
}

fn reboot<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    Err(rt.power(PowerRequest::Reboot {
        warm: p.flag("warm"),
        setup: p.flag("setup"),
    }))
}

fn poweroff<R: Runtime>(_: &mut Interpreter, rt: &mut R, _: &Invocation<'_>) -> Result<(), Error> {
    Err(rt.power(PowerRequest::PowerOff))
}

// ---- time, sync, imgset, pciscan --------------------------------------------------

fn time<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let start = rt.now_ms();
    let rc = interp.execute(rt, &inv.parsed.args);
    let tenths = rt.now_ms().saturating_sub(start) / 100;
    rt.print(&format!("{}: {}.{}s\n", inv.name, tenths / 10, tenths % 10));
    rc
}

fn sync<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let timeout = int_opt(rt, &inv.parsed, "timeout")?.unwrap_or(0);
    rt.sync(timeout).inspect_err(|e| {
        if !matches!(e, Error::NotSupported(_)) {
            rt.print(&format!("Operations did not complete: {e}\n"));
        }
    })
}

fn imgset<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let name = &p.args[0];
    SettingName::parse(name).map_err(Error::from)?;
    let opts = ImageOpts {
        timeout_ms: int_opt(rt, p, "timeout")?.unwrap_or(0),
        quiet: p.flag("quiet"),
        ..ImageOpts::default()
    };
    let id = acquire(rt, &p.args[1], &opts)?;
    let raw = rt
        .images()
        .get(id)
        .map(|i| i.data.as_ref().to_vec())
        .unwrap_or_default();
    // The bytes as they are, typed like `set` types the name (default `string`).
    let rc = rt.settings().set_raw(name, raw).map_err(|e| {
        let e = Error::from(e);
        rt.print(&format!("Could not store \"{name}\": {e}\n"));
        e
    });
    if !p.flag("keep") {
        rt.images().unregister(id);
    }
    rc
}

/// The end of `pciscan`'s iteration: `ENOENT`, as in iPXE (nothing is printed).
fn pciscan_end() -> Error {
    Error::platform(crate::Posix::Enoent, 31, "pciscan: no more PCI devices")
}

fn pciscan<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let name = &inv.parsed.args[0];
    let explicit = SettingName::parse(name).map_err(Error::from)?;
    // Not set yet: start at 0000:00:00.0; set: after the location it holds.
    let from = match rt.lookup_setting(name).ok().flatten() {
        None => 0,
        Some(f) => {
            let prev = f.ty.numeric(&f.value) as u64;
            match u32::try_from(prev.saturating_add(1)) {
                Ok(next) => next,
                Err(_) => return Err(pciscan_end()),
            }
        }
    };
    let Some(found) = rt.pci_next(from)? else {
        // Past the last device: the iterator's end, ENOENT, silently as in iPXE.
        return Err(pciscan_end());
    };
    let ty = explicit.ty.unwrap_or(SettingType::Uint16);
    store_text(rt, &with_default_type(name, ty), &format!("{found}"))
}

// ---- console ------------------------------------------------------------------------

fn console<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let opts = crate::runtime::ConsoleOptions {
        width: int_opt(rt, p, "x")?,
        height: int_opt(rt, p, "y")?,
        margins: [
            int_opt(rt, p, "left")?,
            int_opt(rt, p, "right")?,
            int_opt(rt, p, "top")?,
            int_opt(rt, p, "bottom")?,
        ],
        depth: int_opt(rt, p, "depth")?,
        picture: owned(p.value("picture")),
    };
    rt.console(&opts).inspect_err(|e| {
        if !matches!(e, Error::NotSupported(_)) {
            rt.print(&format!("Could not configure console: {e}\n"));
        }
    })
}

fn colour<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let index = int_arg(rt, &p.args[0])?;
    let basic = int_opt(rt, p, "basic")?.unwrap_or(u64::from(crate::menu::COLOUR_DEFAULT));
    let rgb = int_opt(rt, p, "rgb")?;
    interp
        .palette
        .define_colour(index, basic, rgb)
        .inspect_err(|e| rt.print(&format!("Could not define colour: {e}\n")))
}

fn cpair<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    let p = &inv.parsed;
    let index = int_arg(rt, &p.args[0])?;
    let default = u64::from(crate::menu::COLOUR_DEFAULT);
    let fg = int_opt(rt, p, "foreground")?.unwrap_or(default);
    let bg = int_opt(rt, p, "background")?.unwrap_or(default);
    interp
        .palette
        .define_pair(index, fg, bg)
        .inspect_err(|e| rt.print(&format!("Could not define colour pair: {e}\n")))
}

// ---- autoboot, pxebs, VLANs, PXE API ------------------------------------------------

fn autoboot<R: Runtime>(
    interp: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    rt.autoboot(interp, &inv.parsed.args)
}

fn pxebs<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let args = &inv.parsed.args;
    let server_type = int_arg(rt, &args[1])?;
    let server_type = u16::try_from(server_type).map_err(|_| {
        let e = Error::OutOfRange("PXE server type (0-65535)");
        rt.print(&format!("{e}\n"));
        e
    })?;
    let Some(dev) = rt.resolve_interface(&args[0]) else {
        rt.print(&format!("No such interface: {}\n", args[0]));
        return Err(Error::NoSuchInterface(args[0].clone()));
    };
    rt.pxebs(&dev, server_type)
}

fn vcreate<R: Runtime>(_: &mut Interpreter, rt: &mut R, inv: &Invocation<'_>) -> Result<(), Error> {
    let p = &inv.parsed;
    let Some(tag) = int_opt(rt, p, "tag")? else {
        let mut out = String::new();
        crate::options::write_usage(
            &mut out,
            crate::options::Usage {
                name: inv.name,
                synopsis: "--tag <tag> [--priority <priority>] <trunk interface>",
            },
        );
        rt.print(&out);
        return Err(Error::ArgumentCount(inv.name.to_string()));
    };
    let priority = int_opt(rt, p, "priority")?.unwrap_or(0);
    let (Ok(tag @ 1..=4094), Ok(priority @ 0..=7)) = (u16::try_from(tag), u8::try_from(priority))
    else {
        let e = Error::OutOfRange("VLAN tag (1-4094) or priority (0-7)");
        rt.print(&format!("{e}\n"));
        return Err(e);
    };
    rt.vcreate(&p.args[0], tag, priority)
}

fn vdestroy<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    rt.vdestroy(&inv.parsed.args[0])
}

fn startpxe<R: Runtime>(
    _: &mut Interpreter,
    rt: &mut R,
    inv: &Invocation<'_>,
) -> Result<(), Error> {
    rt.startpxe(inv.parsed.args.first().map(String::as_str))
}

fn stoppxe<R: Runtime>(_: &mut Interpreter, rt: &mut R, _: &Invocation<'_>) -> Result<(), Error> {
    rt.stoppxe()
}
