//! EFI status codes as the names the specification gives them, for error messages.

use core::fmt;
use uefi::Status;

/// Names of the error codes (UEFI 2.10 appendix D), indexed by code without the high bit.
const ERROR_NAMES: [&str; 36] = [
    "EFI_SUCCESS",
    "EFI_LOAD_ERROR",
    "EFI_INVALID_PARAMETER",
    "EFI_UNSUPPORTED",
    "EFI_BAD_BUFFER_SIZE",
    "EFI_BUFFER_TOO_SMALL",
    "EFI_NOT_READY",
    "EFI_DEVICE_ERROR",
    "EFI_WRITE_PROTECTED",
    "EFI_OUT_OF_RESOURCES",
    "EFI_VOLUME_CORRUPTED",
    "EFI_VOLUME_FULL",
    "EFI_NO_MEDIA",
    "EFI_MEDIA_CHANGED",
    "EFI_NOT_FOUND",
    "EFI_ACCESS_DENIED",
    "EFI_NO_RESPONSE",
    "EFI_NO_MAPPING",
    "EFI_TIMEOUT",
    "EFI_NOT_STARTED",
    "EFI_ALREADY_STARTED",
    "EFI_ABORTED",
    "EFI_ICMP_ERROR",
    "EFI_TFTP_ERROR",
    "EFI_PROTOCOL_ERROR",
    "EFI_INCOMPATIBLE_VERSION",
    "EFI_SECURITY_VIOLATION",
    "EFI_CRC_ERROR",
    "EFI_END_OF_MEDIA",
    "",
    "",
    "EFI_END_OF_FILE",
    "EFI_INVALID_LANGUAGE",
    "EFI_COMPROMISED_DATA",
    "EFI_IP_ADDRESS_CONFLICT",
    "EFI_HTTP_ERROR",
];

/// The high bit marks errors (as opposed to warnings).
const ERROR_BIT: usize = 1 << (usize::BITS - 1);

/// The specification's name of `status` (`EFI_SECURITY_VIOLATION`), if it has one.
pub fn status_name(status: Status) -> Option<&'static str> {
    let raw = status.0;
    let index = if raw == 0 {
        0
    } else if raw & ERROR_BIT != 0 {
        raw & !ERROR_BIT
    } else {
        return None;
    };
    ERROR_NAMES
        .get(index)
        .copied()
        .filter(|name| !name.is_empty())
}

/// Displays a status by name, or as hexadecimal when it has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusName(pub Status);

impl fmt::Display for StatusName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match status_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "EFI status {:#x}", self.0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_follow_the_specification() {
        assert_eq!(status_name(Status::SUCCESS), Some("EFI_SUCCESS"));
        assert_eq!(
            status_name(Status::SECURITY_VIOLATION),
            Some("EFI_SECURITY_VIOLATION")
        );
        assert_eq!(status_name(Status::LOAD_ERROR), Some("EFI_LOAD_ERROR"));
        assert_eq!(status_name(Status::END_OF_FILE), Some("EFI_END_OF_FILE"));
        assert_eq!(status_name(Status::HTTP_ERROR), Some("EFI_HTTP_ERROR"));
        assert_eq!(status_name(Status(ERROR_BIT | 29)), None);
        assert_eq!(status_name(Status::WARN_UNKNOWN_GLYPH), None);
        assert_eq!(
            StatusName(Status(ERROR_BIT | 0x1234)).to_string(),
            "EFI status 0x8000000000001234"
        );
        assert_eq!(StatusName(Status::NOT_FOUND).to_string(), "EFI_NOT_FOUND");
    }
}
