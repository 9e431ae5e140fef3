//! A protocol published on a handle of its own, found through a vendor device path: how
//! netboot offers the LoadFile2 initrd ([`crate::initrd`]) and the virtual file system
//! ([`crate::vfs`]) to the image it starts.

use core::ffi::c_void;
use uefi::boot;
use uefi::{Guid, Handle, Status};
use uefi_raw::protocol::device_path::DevicePathProtocol;

/// Installs `path` and then `interface` under `guid` on a new handle. If the second
/// install fails the first is undone, so nothing is left behind.
///
/// # Safety
///
/// `path` must be a well-formed device path; it and `interface` (which must point to the
/// interface `guid` names) must stay valid and unmoved until [`uninstall`] has removed
/// them. Boot services must be active.
pub(crate) unsafe fn install(
    path: &[u8],
    guid: &Guid,
    interface: *const c_void,
) -> Result<Handle, Status> {
    // SAFETY: forwarded to the caller (both pointers are valid for the installs' lifetime).
    unsafe {
        let handle =
            boot::install_protocol_interface(None, &DevicePathProtocol::GUID, path.as_ptr().cast())
                .map_err(|e| e.status())?;
        if let Err(e) = boot::install_protocol_interface(Some(handle), guid, interface) {
            let _ = boot::uninstall_protocol_interface(
                handle,
                &DevicePathProtocol::GUID,
                path.as_ptr().cast(),
            );
            return Err(e.status());
        }
        Ok(handle)
    }
}

/// Uninstalls what [`install`] put on `handle`, in reverse order (EDK2 is sensitive to
/// the order). `false` if the firmware refused to remove `interface` (someone still has
/// it open): then both stay installed and the caller must keep `interface` valid.
///
/// # Safety
///
/// `path`, `guid` and `interface` must be exactly what was installed on `handle`.
pub(crate) unsafe fn uninstall(
    handle: Handle,
    path: &[u8],
    guid: &Guid,
    interface: *const c_void,
) -> bool {
    // SAFETY: forwarded to the caller.
    unsafe {
        if boot::uninstall_protocol_interface(handle, guid, interface).is_err() {
            return false;
        }
        let _ = boot::uninstall_protocol_interface(
            handle,
            &DevicePathProtocol::GUID,
            path.as_ptr().cast(),
        );
    }
    true
}
