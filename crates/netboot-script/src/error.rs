//! The crate's one error type, with iPXE-style stable numeric codes (§14 of the
//! behaviour spec).
//!
//! A code is laid out as iPXE lays them out: bits 30–24 hold the POSIX-like class
//! ([`Posix`]), bits 23–13 the file/subsystem (here: [`SUBSYSTEM_SCRIPT`] or
//! [`SUBSYSTEM_PLATFORM`]), bits 12–8 a disambiguator. The exception is `exit N`, whose
//! code is `N` itself, as in iPXE. `${errno}` holds the code of the last failure.

use alloc::string::String;
use core::fmt;

use netboot_core::settings::SettingsError;

/// POSIX-like error classes in iPXE's own numbering (bits 30–24 of a code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
#[allow(missing_docs)] // The variant names are the POSIX names; `text()` says what they mean.
pub enum Posix {
    E2big = 0x01,
    Eacces = 0x02,
    Eaddrnotavail = 0x04,
    Ebusy = 0x0a,
    Ecanceled = 0x0b,
    Econnrefused = 0x0e,
    Eexist = 0x14,
    Efbig = 0x16,
    Ehostunreach = 0x17,
    Einval = 0x1c,
    Eio = 0x1d,
    Eloop = 0x20,
    Enametoolong = 0x25,
    Enetunreach = 0x28,
    Enodev = 0x2c,
    Enoent = 0x2d,
    Enoexec = 0x2e,
    Enomem = 0x31,
    Enospc = 0x34,
    Enosys = 0x37,
    Enotsup = 0x3c,
    Enotty = 0x3d,
    Eperm = 0x41,
    Eproto = 0x43,
    Erange = 0x46,
    Etimedout = 0x4c,
}

impl Posix {
    /// iPXE's default text for the class.
    pub const fn text(self) -> &'static str {
        match self {
            Posix::E2big => "Argument list too long",
            Posix::Eacces => "Permission denied",
            Posix::Eaddrnotavail => "Address not available",
            Posix::Ebusy => "Device or resource busy",
            Posix::Ecanceled => "Operation canceled",
            Posix::Econnrefused => "Connection refused",
            Posix::Eexist => "File exists",
            Posix::Efbig => "File too large",
            Posix::Ehostunreach => "Host is unreachable",
            Posix::Einval => "Invalid argument",
            Posix::Eio => "Input/output error",
            Posix::Eloop => "Too many levels of symbolic links",
            Posix::Enametoolong => "Filename too long",
            Posix::Enetunreach => "Network unreachable",
            Posix::Enodev => "No such device",
            Posix::Enoent => "No such file or directory",
            Posix::Enoexec => "Exec format error",
            Posix::Enomem => "Not enough space",
            Posix::Enospc => "No space left on device",
            Posix::Enosys => "Function not implemented",
            Posix::Enotsup => "Operation not supported",
            Posix::Enotty => "Inappropriate I/O control operation",
            Posix::Eperm => "Operation not permitted",
            Posix::Eproto => "Protocol error",
            Posix::Erange => "Result too large",
            Posix::Etimedout => "Connection timed out",
        }
    }
}

/// File/subsystem bits of codes raised by this crate (CORE class, index 0x40).
pub const SUBSYSTEM_SCRIPT: u32 = 0x0040_2000;
/// File/subsystem bits for [`Error::platform`] codes (OTHER class, index 0x40).
pub const SUBSYSTEM_PLATFORM: u32 = 0x0040_e000;

const fn code(posix: Posix, disambiguator: u32) -> u32 {
    ((posix as u32) << 24) | SUBSYSTEM_SCRIPT | ((disambiguator & 0x1f) << 8)
}

/// Everything that can fail in the script language, and what a [`crate::Runtime`]
/// reports when a platform effect fails.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The first word of a command is not a known command.
    CommandNotFound(String),
    /// An option the command does not have.
    UnknownOption {
        /// The command.
        command: String,
        /// The option as written.
        option: String,
    },
    /// An option that needs an argument was given none (or one starting with `-`).
    MissingOptionArgument {
        /// The command.
        command: String,
        /// The option as written.
        option: String,
    },
    /// A flag was given an `=value`.
    UnexpectedOptionArgument {
        /// The command.
        command: String,
        /// The option as written.
        option: String,
    },
    /// Too few or too many positional arguments.
    ArgumentCount(String),
    /// `--help`/`-h` was given: the usage was printed and the command did nothing.
    HelpShown(String),
    /// Text that should be an integer is not one.
    InvalidInteger(String),
    /// `goto` outside a script.
    NotInScript,
    /// `goto` to a label that the current script does not have.
    NoSuchLabel(String),
    /// `exit N` with a non-zero status.
    Exit(u32),
    /// `isset` on an empty value.
    NotSet,
    /// `iseq` on different values.
    NotEqual,
    /// Cancelled by the user (Ctrl-C, Esc, or the wrong key for `prompt --key`).
    Canceled,
    /// Nothing happened before the timeout.
    TimedOut,
    /// `show`/`inc`/`read` on a setting that cannot be found.
    NoSuchSetting(String),
    /// A settings operation failed.
    Settings(SettingsError),
    /// A value cannot be stored with the setting's type (e.g. `inc` on a string).
    NotNumeric(String),
    /// No registered image has that name.
    NoSuchImage(String),
    /// The image has no type that can be executed or selected.
    NotExecutable(String),
    /// The image is not an archive (`imgextract`).
    NotArchive(String),
    /// No menu of that name, or the menu has no selectable item.
    NoSuchMenu(String),
    /// No network device of that name, or no devices at all.
    NoSuchInterface(String),
    /// A script line is longer than [`crate::MAX_LINE_LEN`].
    LineTooLong {
        /// 1-based physical line number where the logical line starts.
        line: usize,
    },
    /// The script is larger than [`crate::MAX_SCRIPT_SIZE`].
    ScriptTooLarge(usize),
    /// The last line of the script ends with a `\` continuation.
    UnterminatedContinuation {
        /// 1-based physical line number where the logical line starts.
        line: usize,
    },
    /// Scripts, shells or menus nested deeper than [`crate::MAX_NESTING`].
    NestingTooDeep,
    /// `chain --replace` from outside a running image.
    NoCurrentImage,
    /// The runtime does not implement the command on this platform.
    NotSupported(&'static str),
    /// A number outside the range the command accepts (e.g. a colour index above 7).
    OutOfRange(&'static str),
    /// A failure reported by the platform through [`crate::Runtime`].
    Platform {
        /// Stable numeric code (iPXE layout; see [`Error::platform`]).
        code: u32,
        /// What failed, for the user.
        message: String,
    },
}

impl From<SettingsError> for Error {
    fn from(e: SettingsError) -> Self {
        Error::Settings(e)
    }
}

impl Error {
    /// A platform error of class `posix` with a platform-chosen disambiguator (0–31).
    pub fn platform(posix: Posix, disambiguator: u8, message: impl Into<String>) -> Error {
        let code =
            ((posix as u32) << 24) | SUBSYSTEM_PLATFORM | ((u32::from(disambiguator) & 0x1f) << 8);
        Error::Platform {
            code,
            message: message.into(),
        }
    }

    /// Puts the platform's own status (the low byte of an EFI status) into the low byte
    /// of a platform error's code, as iPXE does: `${errno}` then tells `EFI_NOT_FOUND`
    /// (…0e) from `EFI_DEVICE_ERROR` (…07). Other errors are returned unchanged.
    pub fn with_platform_status(self, status: u8) -> Error {
        match self {
            Error::Platform { code, message } => Error::Platform {
                code: (code & !0xff) | u32::from(status),
                message,
            },
            other => other,
        }
    }

    /// The POSIX-like class, when the code has one (`exit N` codes have none).
    pub fn posix(&self) -> Option<Posix> {
        Some(match self {
            Error::CommandNotFound(_) | Error::NotExecutable(_) => Posix::Enoexec,
            Error::UnknownOption { .. }
            | Error::MissingOptionArgument { .. }
            | Error::UnexpectedOptionArgument { .. }
            | Error::InvalidInteger(_)
            | Error::OutOfRange(_)
            | Error::UnterminatedContinuation { .. } => Posix::Einval,
            Error::ArgumentCount(_) | Error::NotEqual => Posix::Erange,
            Error::HelpShown(_) | Error::Canceled => Posix::Ecanceled,
            Error::NotInScript | Error::NoCurrentImage => Posix::Enotty,
            Error::NoSuchLabel(_)
            | Error::NotSet
            | Error::NoSuchSetting(_)
            | Error::NoSuchImage(_)
            | Error::NoSuchMenu(_) => Posix::Enoent,
            Error::TimedOut => Posix::Etimedout,
            Error::NotNumeric(_) | Error::NotArchive(_) | Error::NotSupported(_) => Posix::Enotsup,
            Error::NoSuchInterface(_) => Posix::Enodev,
            Error::LineTooLong { .. } | Error::ScriptTooLarge(_) => Posix::E2big,
            Error::NestingTooDeep => Posix::Eloop,
            Error::Settings(e) => match e {
                SettingsError::UnknownType(_) => Posix::Enotsup,
                SettingsError::NoSuchBlock(_) => Posix::Enodev,
                SettingsError::ExpansionLoop => Posix::Eloop,
                SettingsError::ReadOnly(_) => Posix::Eacces,
                _ => Posix::Einval,
            },
            Error::Exit(_) => return None,
            Error::Platform { code, .. } => return posix_from_code(*code),
        })
    }

    /// The stable numeric code: what `${errno}` shows and what a script returns.
    pub fn code(&self) -> u32 {
        let (posix, n) = match self {
            Error::Exit(n) => return *n,
            Error::Platform { code, .. } => return *code,
            Error::CommandNotFound(_) => (Posix::Enoexec, 1),
            Error::NotExecutable(_) => (Posix::Enoexec, 2),
            Error::UnknownOption { .. } => (Posix::Einval, 1),
            Error::MissingOptionArgument { .. } => (Posix::Einval, 2),
            Error::UnexpectedOptionArgument { .. } => (Posix::Einval, 3),
            Error::InvalidInteger(_) => (Posix::Einval, 4),
            Error::UnterminatedContinuation { .. } => (Posix::Einval, 5),
            Error::OutOfRange(_) => (Posix::Einval, 6),
            Error::ArgumentCount(_) => (Posix::Erange, 1),
            Error::NotEqual => (Posix::Erange, 2),
            Error::HelpShown(_) => (Posix::Ecanceled, 1),
            Error::Canceled => (Posix::Ecanceled, 2),
            Error::NotInScript => (Posix::Enotty, 1),
            Error::NoCurrentImage => (Posix::Enotty, 2),
            Error::NoSuchLabel(_) => (Posix::Enoent, 1),
            Error::NotSet => (Posix::Enoent, 2),
            Error::NoSuchSetting(_) => (Posix::Enoent, 3),
            Error::NoSuchImage(_) => (Posix::Enoent, 4),
            Error::NoSuchMenu(_) => (Posix::Enoent, 5),
            Error::TimedOut => (Posix::Etimedout, 1),
            Error::NotNumeric(_) => (Posix::Enotsup, 1),
            Error::NotArchive(_) => (Posix::Enotsup, 2),
            Error::NotSupported(_) => (Posix::Enotsup, 3),
            Error::NoSuchInterface(_) => (Posix::Enodev, 1),
            Error::LineTooLong { .. } => (Posix::E2big, 1),
            Error::ScriptTooLarge(_) => (Posix::E2big, 2),
            Error::NestingTooDeep => (Posix::Eloop, 1),
            Error::Settings(e) => {
                let posix = self.posix().unwrap_or(Posix::Einval);
                (posix, 8 + (e.code() & 0xf))
            }
        };
        code(posix, n)
    }

    /// iPXE's rendering: `<text> (https://ipxe.org/<code>)`, or `Error 0x<code> (…)`
    /// when the code has no known class (e.g. `exit 3`).
    pub fn ipxe_text(&self) -> IpxeText {
        IpxeText(self.code())
    }

    fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::CommandNotFound(_) => "type `help` for the list of commands",
            Error::UnknownOption { .. }
            | Error::ArgumentCount(_)
            | Error::MissingOptionArgument { .. } => {
                "see the usage above; options come before arguments, `--` ends them"
            }
            Error::InvalidInteger(_) => "use decimal, 0x-prefixed hex or 0-prefixed octal",
            Error::NoSuchLabel(_) => "goto needs a `:label` line in the script that is running",
            Error::NotInScript => "goto works only inside a script",
            Error::NotExecutable(_) => {
                "the image is data (e.g. an initrd) or a format this platform cannot run"
            }
            Error::LineTooLong { .. } => "split the line or move long values into settings",
            Error::UnterminatedContinuation { .. } => {
                "the last line ends with `\\`; add the rest of the line"
            }
            Error::NestingTooDeep => "a script chains itself or nests shells too deeply",
            Error::NotNumeric(_) => "create the setting with a numeric type, e.g. `set i:int32 0`",
            Error::NoCurrentImage => "--replace works only from inside a running script",
            _ => return None,
        })
    }
}

fn posix_from_code(code: u32) -> Option<Posix> {
    const ALL: &[Posix] = &[
        Posix::E2big,
        Posix::Eacces,
        Posix::Eaddrnotavail,
        Posix::Ebusy,
        Posix::Ecanceled,
        Posix::Econnrefused,
        Posix::Eexist,
        Posix::Efbig,
        Posix::Ehostunreach,
        Posix::Einval,
        Posix::Eio,
        Posix::Eloop,
        Posix::Enametoolong,
        Posix::Enetunreach,
        Posix::Enodev,
        Posix::Enoent,
        Posix::Enoexec,
        Posix::Enomem,
        Posix::Enospc,
        Posix::Enosys,
        Posix::Enotsup,
        Posix::Enotty,
        Posix::Eperm,
        Posix::Eproto,
        Posix::Erange,
        Posix::Etimedout,
    ];
    let class = ((code >> 24) & 0x7f) as u8;
    ALL.iter().copied().find(|p| *p as u8 == class)
}

/// iPXE-style error text (see [`Error::ipxe_text`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpxeText(pub u32);

impl fmt::Display for IpxeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match posix_from_code(self.0) {
            Some(p) => write!(f, "{} (https://ipxe.org/{:08x})", p.text(), self.0),
            None => write!(
                f,
                "Error {:#010x} (https://ipxe.org/{:08x})",
                self.0, self.0
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::CommandNotFound(n) => write!(f, "{n}: command not found")?,
            Error::UnknownOption { command, option } => {
                write!(f, "{command}: unrecognised option \"{option}\"")?
            }
            Error::MissingOptionArgument { command, option } => {
                write!(f, "{command}: option \"{option}\" requires an argument")?
            }
            Error::UnexpectedOptionArgument { command, option } => {
                write!(f, "{command}: option \"{option}\" takes no argument")?
            }
            Error::ArgumentCount(c) => write!(f, "{c}: wrong number of arguments")?,
            Error::HelpShown(c) => write!(f, "{c}: help shown, nothing done")?,
            Error::InvalidInteger(t) => write!(f, "\"{t}\": invalid integer value")?,
            Error::NotInScript => f.write_str("not in a script")?,
            Error::NoSuchLabel(l) => write!(f, "no label \":{l}\" in the current script")?,
            Error::Exit(n) => write!(f, "script exited with status {n}")?,
            Error::NotSet => f.write_str("value is empty")?,
            Error::NotEqual => f.write_str("values differ")?,
            Error::Canceled => f.write_str("Operation canceled")?,
            Error::TimedOut => f.write_str("timed out")?,
            Error::NoSuchSetting(n) => write!(f, "setting \"{n}\" not found")?,
            Error::Settings(e) => write!(f, "{e}")?,
            Error::NotNumeric(n) => write!(f, "setting \"{n}\" does not have a numeric type")?,
            Error::NoSuchImage(n) => write!(f, "\"{n}\": no such image")?,
            Error::NotExecutable(n) => write!(
                f,
                "image \"{n}\" has no executable type (Exec format error)"
            )?,
            Error::NotArchive(n) => write!(f, "image \"{n}\" is not an archive")?,
            Error::NoSuchMenu(n) => write!(f, "no menu \"{n}\" with a selectable item")?,
            Error::NoSuchInterface(n) => write!(f, "no network device \"{n}\"")?,
            Error::LineTooLong { line } => write!(f, "script line {line} is too long")?,
            Error::ScriptTooLarge(n) => write!(f, "script of {n} bytes is too large")?,
            Error::UnterminatedContinuation { line } => write!(
                f,
                "script line {line} ends with a continuation at the end of the script"
            )?,
            Error::NestingTooDeep => f.write_str("scripts nested too deeply")?,
            Error::NoCurrentImage => f.write_str("no image is running")?,
            Error::NotSupported(what) => write!(f, "{what}: not supported on this platform")?,
            Error::OutOfRange(what) => write!(f, "{what}: value out of range")?,
            Error::Platform { message, .. } => f.write_str(message)?,
        }
        if let Some(hint) = self.hint() {
            write!(f, " (hint: {hint})")?;
        }
        write!(f, " [{:#010x}]", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn platform_status_lands_in_the_low_byte() {
        let plain = Error::platform(Posix::Enoexec, 7, "chained.efi exited with EFI_NOT_FOUND");
        let with = plain.clone().with_platform_status(14);
        assert_eq!(plain.code() & 0xff, 0);
        assert_eq!(with.code(), plain.code() | 14);
        assert_eq!(with.posix(), Some(Posix::Enoexec));
        // Only platform errors carry a platform status.
        assert_eq!(
            Error::NotSet.with_platform_status(14).code(),
            Error::NotSet.code()
        );
    }

    #[test]
    fn codes_follow_the_ipxe_layout() {
        assert_eq!(Error::Exit(3).code(), 3);
        assert_eq!(Error::NotSet.code() >> 24, 0x2d);
        assert_eq!(Error::CommandNotFound("x".into()).code() >> 24, 0x2e);
        assert_eq!(
            Error::ArgumentCount("x".into()).posix(),
            Some(Posix::Erange)
        );
        let p = Error::platform(Posix::Etimedout, 3, "dhcp timed out");
        assert_eq!(p.posix(), Some(Posix::Etimedout));
        assert_eq!(
            format!("{}", Error::Exit(3).ipxe_text()),
            "Error 0x00000003 (https://ipxe.org/00000003)"
        );
        let t = format!("{}", Error::NotSet.ipxe_text());
        assert!(
            t.starts_with("No such file or directory (https://ipxe.org/2d"),
            "{t}"
        );
        let shown = format!("{}", Error::NoSuchLabel("x".into()));
        assert!(shown.contains("hint") && shown.contains("0x2d"), "{shown}");
    }
}
