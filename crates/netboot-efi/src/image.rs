//! Starting an EFI image: LoadImage from memory, LoadOptions, the images on a virtual
//! filesystem ([`crate::vfs`]), the LoadFile2 initrd, StartImage, and explanations when
//! any of it fails (platform-notes §1.3, ipxe-behaviour §8.1, §8.2).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr;
use netboot_core::platform::BootInitrd;
use netboot_core::platform::{BootRequest, PlatformError};
use uefi::proto::loaded_image::LoadedImage;
use uefi::{Handle, Status, boot};
use uefi_raw::Boolean;
use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_raw::table::boot::BootServices;

use crate::initrd::InitrdHandle;
use crate::pe;
use crate::status::StatusName;
use crate::vfs::{self, Lookup, VfsFile, VfsHandle};

/// [`PlatformError::code`] values of this module (small: runtimes keep the low 5 bits).
pub mod codes {
    /// The image is not an EFI image (see [`crate::pe::ImageProblem::code`] for 1–4).
    pub const NOT_EFI: u32 = 1;
    /// LoadImage failed.
    pub const LOAD_FAILED: u32 = 5;
    /// Secure Boot (or another security policy) refused the image.
    pub const SECURITY: u32 = 6;
    /// The image ran and returned an error, or StartImage failed.
    pub const EXITED_WITH_ERROR: u32 = 7;
    /// The initrd could not be installed.
    pub const INITRD: u32 = 8;
    /// The command line could not be set.
    pub const LOAD_OPTIONS: u32 = 9;
    /// Boot services are not available (cannot happen while the firmware runs).
    pub const NO_BOOT_SERVICES: u32 = 10;
    /// The virtual filesystem could not be installed (11 is `POWER_FAILED`).
    pub const VFS: u32 = 12;
}

fn error(code: u32, message: String) -> PlatformError {
    PlatformError { code, message }
}

/// An error that also carries the EFI status's low byte (for `${errno}`).
fn status_error(code: u32, status: Status, message: String) -> PlatformError {
    PlatformError::with_status(code, status.0 as u8, message)
}

/// The command line as LoadOptions: NUL-terminated UCS-2. Characters outside the Basic
/// Multilingual Plane, which UCS-2 cannot carry, become `?`.
pub fn load_options(cmdline: &str) -> Vec<u16> {
    cmdline
        .chars()
        .map(|c| u16::try_from(u32::from(c)).unwrap_or(u16::from(b'?')))
        .chain(core::iter::once(0))
        .collect()
}

/// The `initrd=` arguments of a kernel command line, in order (the Linux EFI stub's
/// command-line initrd loader reads each from the image's filesystem).
pub fn initrd_arguments(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|arg| arg.strip_prefix("initrd="))
        .filter(|name| !name.is_empty())
}

/// Whether the LoadFile2 initrd provider is installed: when there are initrds, unless the
/// command line names every one of them with `initrd=`. Linux (5.8+) prefers LoadFile2
/// and then ignores `initrd=`; when `initrd=` already asks for exactly the registered
/// initrds, the filesystem serves the same bytes in the order the command line gives,
/// and older and newer kernels load them the same way. An initrd the command line does
/// not name can only arrive through LoadFile2, so then it is installed (as iPXE does).
pub fn wants_loadfile2(cmdline: &str, initrds: &[BootInitrd<'_>]) -> bool {
    if initrds.is_empty() {
        return false;
    }
    let mut named = alloc::vec![false; initrds.len()];
    for arg in initrd_arguments(cmdline) {
        let units: Vec<u16> = arg.encode_utf16().collect();
        if let Lookup::File(i) = vfs::lookup(initrds.iter().map(|i| i.name), &units) {
            named[i] = true;
        }
    }
    !named.iter().all(|&n| n)
}

/// Explains a LoadImage failure.
pub fn explain_load_error(name: &str, status: Status) -> PlatformError {
    let hint = match status {
        Status::SECURITY_VIOLATION | Status::ACCESS_DENIED => {
            return status_error(
                codes::SECURITY,
                status,
                format!(
                    "{name}: the firmware refused to load it ({}): Secure Boot does not trust this image; sign it with a key in db, boot it through shim, or disable Secure Boot",
                    StatusName(status)
                ),
            );
        }
        Status::UNSUPPORTED => ": the firmware cannot run this kind of image",
        Status::LOAD_ERROR => ": the firmware found the image invalid (corrupt or truncated?)",
        Status::OUT_OF_RESOURCES => ": not enough memory to load it",
        _ => "",
    };
    status_error(
        codes::LOAD_FAILED,
        status,
        format!("{name}: LoadImage failed with {}{hint}", StatusName(status)),
    )
}

/// Explains what a started image returned.
pub fn explain_exit(name: &str, status: Status, exit_data: &str) -> PlatformError {
    let code = if status == Status::SECURITY_VIOLATION {
        codes::SECURITY
    } else {
        codes::EXITED_WITH_ERROR
    };
    let mut message = format!("{name} exited with {}", StatusName(status));
    if !exit_data.is_empty() {
        message.push_str(": ");
        message.push_str(exit_data);
    }
    if status == Status::SECURITY_VIOLATION {
        message.push_str(" (Secure Boot refused to start it)");
    }
    status_error(code, status, message)
}

fn boot_services() -> Result<&'static BootServices, PlatformError> {
    let no_bs = || {
        error(
            codes::NO_BOOT_SERVICES,
            "boot services are not available".into(),
        )
    };
    let st = uefi::table::system_table_raw().ok_or_else(no_bs)?;
    // SAFETY: the uefi crate's entry point stored a valid system table; its boot services
    // pointer stays valid until ExitBootServices, which this firmware never calls.
    unsafe { st.as_ref().boot_services.as_ref() }.ok_or_else(no_bs)
}

/// Starts `request.data` as an EFI image: checks it, installs the virtual filesystem that
/// serves the image and its initrds by name, LoadImage from the buffer with the device
/// path `[NIC/]VenMedia(netboot VFS)/\NAME` (so the image's `DeviceHandle` is the
/// filesystem; `nic_path`, the device path of the NIC netboot used, puts it below that
/// NIC, so an image that drives the network device it was loaded from, such as iPXE's
/// `snponly.efi`, finds it),
/// sets the command line, installs the LoadFile2 initrd provider (see
/// [`wants_loadfile2`]), calls `release_nics` to hand the NICs back, StartImage, and on
/// return uninstalls both and reports the image's status. Does not return if the image
/// takes the machine over.
pub fn start(
    request: &BootRequest<'_>,
    nic_path: Option<&[u8]>,
    release_nics: impl FnOnce(),
) -> Result<(), PlatformError> {
    let name = request.name;
    pe::check_image(request.data)
        .map_err(|problem| error(problem.code(), format!("{name}: {problem}")))?;
    let bt = boot_services()?;

    let files: Vec<VfsFile<'_>> = core::iter::once(VfsFile {
        name,
        data: request.data,
    })
    .chain(request.initrds.iter().map(|i| VfsFile {
        name: i.name,
        data: i.data,
    }))
    .collect();
    // SAFETY: the image and initrd buffers are borrowed by `request` for this whole call,
    // and the filesystem is uninstalled (drop of `vfs`) before we return.
    let mut vfs = unsafe { VfsHandle::install_under(nic_path, &files) }
        .map_err(|e| error(codes::VFS, format!("{name}: {e}")))?;
    let device_path = vfs::image_device_path_under(nic_path, name);

    let mut child: uefi_raw::Handle = ptr::null_mut();
    // SAFETY: the buffer is valid for reads of its length (LoadImage copies it); the
    // device path is well-formed and outlives the call; `child` receives the new handle.
    let status = unsafe {
        (bt.load_image)(
            Boolean::FALSE,
            boot::image_handle().as_ptr(),
            device_path.as_ptr().cast(),
            request.data.as_ptr(),
            request.data.len(),
            &mut child,
        )
    };
    // SAFETY: a non-null handle from LoadImage is a valid image handle.
    let child = unsafe { Handle::from_ptr(child) };
    if status.is_error() {
        // EFI_SECURITY_VIOLATION still loads the image; it must be unloaded.
        if let Some(child) = child {
            let _ = boot::unload_image(child);
        }
        return Err(explain_load_error(name, status));
    }
    let Some(child) = child else {
        return Err(explain_load_error(name, Status::LOAD_ERROR));
    };
    let unload = |e: PlatformError| {
        let _ = boot::unload_image(child);
        e
    };
    set_device_handle(bt, child, vfs.handle());

    if !request.cmdline.is_empty() {
        set_load_options(child, request.cmdline).map_err(unload)?;
    }

    let mut initrd = if wants_loadfile2(request.cmdline, request.initrds) {
        let parts: Vec<&[u8]> = request.initrds.iter().map(|i| i.data).collect();
        // SAFETY: the initrd buffers are borrowed by `request` for this whole call, and
        // the provider is uninstalled (drop of `initrd`) before we return.
        let installed = unsafe { InitrdHandle::install(&parts) };
        Some(
            installed
                .map_err(|e| error(codes::INITRD, format!("{name}: {e}")))
                .map_err(unload)?,
        )
    } else {
        None
    };

    release_nics();

    let mut exit_size = 0usize;
    let mut exit_data: *mut u16 = ptr::null_mut();
    // SAFETY: `child` is a loaded, not yet started image; the out-pointers are valid.
    let status = unsafe { (bt.start_image)(child.as_ptr(), &mut exit_size, &mut exit_data) };
    let exit_text = take_exit_data(bt, exit_data, exit_size);
    // The image may have armed the watchdog (iPXE keeps a 5-minute one running); the
    // boot manager disarms it when an image returns, and so do we.
    let _ = boot::set_watchdog_timer(0, 0x10000, None);

    // Reverse order of installation.
    if let Some(initrd) = initrd.as_mut() {
        initrd.uninstall();
    }
    vfs.uninstall();
    if status.is_error() {
        Err(explain_exit(name, status, &exit_text))
    } else {
        Ok(())
    }
}

/// Makes `vfs` the child's `DeviceHandle`. LoadImage normally sets it already (from the
/// device path's SimpleFileSystem handle); firmware that leaves it unset or elsewhere (as
/// some EFI 1.10 implementations do, per iPXE) is corrected here.
fn set_device_handle(bt: &BootServices, child: Handle, vfs: Handle) {
    let mut interface: *mut core::ffi::c_void = ptr::null_mut();
    // SAFETY: `child` is a loaded image handle, which carries LoadedImage; the out-pointer
    // is valid.
    let status =
        unsafe { (bt.handle_protocol)(child.as_ptr(), &LoadedImageProtocol::GUID, &mut interface) };
    if status.is_error() || interface.is_null() {
        return;
    }
    // SAFETY: HandleProtocol returned the child's LoadedImage, which the child does not
    // use before StartImage.
    let loaded = unsafe { &mut *interface.cast::<LoadedImageProtocol>() };
    if loaded.device_handle != vfs.as_ptr() {
        loaded.device_handle = vfs.as_ptr();
    }
}

/// Sets the child's LoadOptions to the UCS-2 command line. The string is leaked: the image
/// may keep the pointer for as long as it runs.
fn set_load_options(child: Handle, cmdline: &str) -> Result<(), PlatformError> {
    let options = load_options(cmdline);
    let size = u32::try_from(core::mem::size_of_val(options.as_slice()))
        .map_err(|_| error(codes::LOAD_OPTIONS, "the command line is too long".into()))?;
    let mut loaded = boot::open_protocol_exclusive::<LoadedImage>(child).map_err(|e| {
        error(
            codes::LOAD_OPTIONS,
            format!(
                "cannot set the command line: LoadedImage: {}",
                StatusName(e.status())
            ),
        )
    })?;
    let options: &'static mut [u16] = Box::leak(options.into_boxed_slice());
    // SAFETY: the options are leaked, so they outlive the image; `size` is their length in
    // bytes including the NUL.
    unsafe { loaded.set_load_options(options.as_ptr().cast(), size) };
    Ok(())
}

/// Reads and frees the exit data StartImage returned (a UCS-2 string, possibly followed by
/// binary data).
fn take_exit_data(bt: &BootServices, data: *mut u16, size: usize) -> String {
    if data.is_null() {
        return String::new();
    }
    // SAFETY: the image allocated `size` bytes of exit data from pool; we read whole
    // UCS-2 units only, up to the first NUL.
    let units = unsafe { core::slice::from_raw_parts(data, size / 2) };
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    let text: String = char::decode_utf16(units[..end].iter().copied())
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    // SAFETY: ownership of the pool buffer passed to us with StartImage's return.
    let _ = unsafe { (bt.free_pool)(data.cast::<u8>()) };
    String::from(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_options_are_nul_terminated_ucs2() {
        assert_eq!(load_options("a=1 é"), [0x61, 0x3d, 0x31, 0x20, 0xe9, 0]);
        assert_eq!(load_options("x🦀"), [0x78, 0x3f, 0]);
        assert_eq!(load_options(""), [0]);
    }

    fn initrd(name: &'static str) -> BootInitrd<'static> {
        BootInitrd { name, data: b"" }
    }

    #[test]
    fn loadfile2_is_skipped_only_when_initrd_names_every_initrd() {
        let two = [initrd("initrd.img"), initrd("extra.cpio")];
        assert!(!wants_loadfile2("console=ttyS0", &[]));
        assert!(!wants_loadfile2("initrd=\\missing.img", &[]));
        assert!(wants_loadfile2("console=ttyS0", &two));
        assert!(wants_loadfile2("initrd=initrd.img console=ttyS0", &two));
        assert!(!wants_loadfile2(
            "initrd=\\Extra.cpio initrd=initrd.img quiet",
            &two
        ));
        assert!(wants_loadfile2("initrd=initrd.img initrd=other", &two));
        assert!(wants_loadfile2(
            "myinitrd=initrd.img initrd=extra.cpio",
            &two
        ));
        assert_eq!(
            initrd_arguments("a initrd=x initrd= initrd=\\y b").collect::<Vec<_>>(),
            ["x", "\\y"]
        );
    }

    #[test]
    fn load_errors_name_the_status_and_mention_secure_boot() {
        let e = explain_load_error("shim.efi", Status::SECURITY_VIOLATION);
        assert_eq!(e.kind() as u32, codes::SECURITY);
        assert_eq!(e.status(), 26, "EFI_SECURITY_VIOLATION is error 26");
        assert!(
            e.message.contains("EFI_SECURITY_VIOLATION"),
            "{}",
            e.message
        );
        assert!(e.message.contains("Secure Boot"), "{}", e.message);
        let e = explain_load_error("x.efi", Status::LOAD_ERROR);
        assert_eq!(e.kind() as u32, codes::LOAD_FAILED);
        assert_eq!(
            e.message,
            "x.efi: LoadImage failed with EFI_LOAD_ERROR: the firmware found the image invalid (corrupt or truncated?)"
        );
    }

    #[test]
    fn exits_carry_status_and_exit_data() {
        let e = explain_exit("vmlinuz", Status::LOAD_ERROR, "");
        assert_eq!(e.message, "vmlinuz exited with EFI_LOAD_ERROR");
        assert_eq!(e.kind() as u32, codes::EXITED_WITH_ERROR);
        assert_eq!(e.status(), 1, "EFI_LOAD_ERROR is error 1");
        let e = explain_exit("app.efi", Status::ABORTED, "user pressed q");
        assert_eq!(e.message, "app.efi exited with EFI_ABORTED: user pressed q");
    }
}
