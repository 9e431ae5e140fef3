//! The initrd for the Linux EFI stub: a handle carrying the `LINUX_EFI_INITRD_MEDIA_GUID`
//! vendor media device path and a LoadFile2 protocol that serves the initrds
//! (platform-notes §1.3, ipxe-behaviour §8.2).
//!
//! Several initrds are served as one concatenation in registration order, each padded
//! with zeros to a 4-byte boundary (the kernel's initramfs unpacker skips zero padding
//! between archives). Nothing is copied up front: the callback copies straight from the
//! caller's buffers into the kernel's.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use uefi::boot;
use uefi::proto::device_path::DevicePath;
use uefi::{Handle, Status};
use uefi_raw::Boolean;
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::protocol::media::LoadFile2Protocol;

use crate::status::StatusName;

/// `VenMedia(5568e427-68fc-4f3d-ac74-ca555231cc68)/End`: where Linux (5.8+ on x86) looks
/// for its initrd.
pub static INITRD_DEVICE_PATH: [u8; 24] = [
    0x04, 0x03, 0x14, 0x00, // media, vendor-defined, length 20
    0x27, 0xe4, 0x68, 0x55, 0xfc, 0x68, 0x3d, 0x4f, // GUID, EFI byte order
    0xac, 0x74, 0xca, 0x55, 0x52, 0x31, 0xcc, 0x68, //
    0x7f, 0xff, 0x04, 0x00, // end of entire device path
];

/// Initrd parts start on this boundary in the concatenation.
const ALIGN: usize = 4;

/// The concatenation layout: each part's offset, and the total length.
pub fn layout(lengths: impl IntoIterator<Item = usize>) -> (Vec<usize>, usize) {
    let mut offsets = Vec::new();
    let mut end = 0usize;
    for len in lengths {
        let start = end.next_multiple_of(ALIGN);
        offsets.push(start);
        end = start + len;
    }
    (offsets, end)
}

/// Copies the concatenation of `parts` (laid out as [`layout`] says) into `out`, zeroing
/// the padding. `out` must be exactly the total length.
pub fn concatenate_into<'a>(parts: impl IntoIterator<Item = &'a [u8]>, out: &mut [u8]) {
    let mut written = 0usize;
    for part in parts {
        let start = written.next_multiple_of(ALIGN);
        out[written..start].fill(0);
        out[start..start + part.len()].copy_from_slice(part);
        written = start + part.len();
    }
}

/// The protocol instance the firmware sees, followed by our state. `repr(C)` with the
/// protocol first, so the `this` pointer of a call is also a pointer to the whole struct.
#[repr(C)]
struct Provider {
    protocol: LoadFile2Protocol,
    /// The initrds, borrowed from the [`InitrdHandle`]'s creator (see its safety rules).
    parts: Vec<(*const u8, usize)>,
    total: usize,
    /// Set when the provider could not be uninstalled: it then refuses all calls, because
    /// the borrowed buffers may be gone.
    revoked: bool,
}

unsafe extern "efiapi" fn load_file(
    this: *mut LoadFile2Protocol,
    _file_path: *const DevicePathProtocol,
    boot_policy: Boolean,
    buffer_size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    if this.is_null() || buffer_size.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // LoadFile2 never supports the boot-manager policy (UEFI 2.10 §13.2).
    if bool::from(boot_policy) {
        return Status::UNSUPPORTED;
    }
    // SAFETY: the firmware passes back the interface pointer we installed, which points at
    // the `protocol` field, the first field of a `repr(C)` Provider that stays alive
    // (boxed, then leaked if it cannot be uninstalled) for as long as it is installed.
    let provider = unsafe { &*this.cast::<Provider>() };
    if provider.revoked {
        return Status::NOT_FOUND;
    }
    // SAFETY: `buffer_size` is non-null and, per the protocol, points to a usize.
    let size = unsafe { &mut *buffer_size };
    if buffer.is_null() || *size < provider.total {
        *size = provider.total;
        return Status::BUFFER_TOO_SMALL;
    }
    // SAFETY: the caller gave us `*size >= total` writable bytes at `buffer`; the parts
    // are valid for reads while the provider is installed and not revoked (InitrdHandle's
    // contract).
    unsafe {
        let out = core::slice::from_raw_parts_mut(buffer.cast::<u8>(), provider.total);
        let parts = provider
            .parts
            .iter()
            .map(|&(p, len)| core::slice::from_raw_parts(p, len));
        concatenate_into(parts, out);
    }
    *size = provider.total;
    Status::SUCCESS
}

/// An installed initrd provider. Uninstall it with [`InitrdHandle::uninstall`] (also done
/// on drop) before the initrd buffers go away.
pub struct InitrdHandle {
    handle: Handle,
    provider: Option<Box<Provider>>,
}

/// Why the provider could not be installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitrdError(pub Status);

impl core::fmt::Display for InitrdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "cannot install the initrd (LoadFile2 on LINUX_EFI_INITRD_MEDIA_GUID): {}",
            StatusName(self.0)
        )
    }
}

impl InitrdHandle {
    /// Installs a new handle with the initrd device path and a LoadFile2 protocol serving
    /// the concatenation of `parts`. A handle that already carries this device path (one
    /// left by GRUB, say) first loses its device-path protocol, as iPXE does: only one
    /// provider can be found.
    ///
    /// # Safety
    ///
    /// Every part must stay valid, unmoved and unmodified until [`InitrdHandle::uninstall`]
    /// returns or the handle is dropped (the firmware may call the provider any time
    /// until then). Boot services must be active.
    pub unsafe fn install(parts: &[&[u8]]) -> Result<InitrdHandle, InitrdError> {
        take_over_existing_path();
        let (_, total) = layout(parts.iter().map(|p| p.len()));
        let mut provider = Box::new(Provider {
            protocol: LoadFile2Protocol { load_file },
            parts: parts.iter().map(|p| (p.as_ptr(), p.len())).collect(),
            total,
            revoked: false,
        });
        let interface: *mut Provider = &mut *provider;
        // SAFETY: the GUIDs match the interfaces: a well-formed static device path, and a
        // LoadFile2Protocol at the start of a Box that lives until it is uninstalled.
        let handle = unsafe {
            crate::handle::install(
                &INITRD_DEVICE_PATH,
                &LoadFile2Protocol::GUID,
                interface.cast_const().cast(),
            )
        }
        .map_err(InitrdError)?;
        Ok(InitrdHandle {
            handle,
            provider: Some(provider),
        })
    }

    /// Total bytes served.
    pub fn len(&self) -> usize {
        self.provider.as_ref().map_or(0, |p| p.total)
    }

    /// Whether nothing is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Uninstalls both protocols, in reverse order of installation (EDK2 is sensitive to
    /// the order). If LoadFile2 cannot be uninstalled (someone still has it open), the
    /// provider is revoked and leaked, so later calls fail cleanly instead of reading
    /// buffers that are gone.
    pub fn uninstall(&mut self) {
        let Some(mut provider) = self.provider.take() else {
            return;
        };
        let interface: *mut Provider = &mut *provider;
        // SAFETY: these are the exact interfaces installed on this handle in `install`.
        let removed = unsafe {
            crate::handle::uninstall(
                self.handle,
                &INITRD_DEVICE_PATH,
                &LoadFile2Protocol::GUID,
                interface.cast_const().cast(),
            )
        };
        if removed {
            drop(provider);
        } else {
            provider.revoked = true;
            provider.parts.clear();
            Box::leak(provider);
        }
    }
}

impl Drop for InitrdHandle {
    fn drop(&mut self) {
        self.uninstall();
    }
}

/// If some handle already has exactly our device path, uninstall its device-path
/// protocol so the kernel's LocateDevicePath finds ours.
fn take_over_existing_path() {
    // SAFETY: INITRD_DEVICE_PATH is a complete, well-formed device path (one vendor node
    // and the end node) in static memory.
    let ours: &DevicePath = unsafe { DevicePath::from_ffi_ptr(INITRD_DEVICE_PATH.as_ptr().cast()) };
    let mut remaining = ours;
    let Ok(existing) = boot::locate_device_path::<DevicePath>(&mut remaining) else {
        return;
    };
    // Only an exact match (nothing left over) is another initrd provider.
    if remaining.node_iter().next().is_some() {
        return;
    }
    let params = boot::OpenProtocolParams {
        handle: existing,
        agent: boot::image_handle(),
        controller: None,
    };
    // SAFETY: GET_PROTOCOL only reads the interface pointer; we use it solely to name the
    // interface to uninstall and never dereference it after that.
    let interface = unsafe {
        match boot::open_protocol::<DevicePath>(params, boot::OpenProtocolAttributes::GetProtocol) {
            Ok(p) => p.get().map(|p| ptr::from_ref(p).cast::<c_void>()),
            Err(_) => None,
        }
    };
    if let Some(interface) = interface {
        // SAFETY: the interface was found on this handle under this GUID just above.
        let _ = unsafe {
            boot::uninstall_protocol_interface(existing, &DevicePathProtocol::GUID, interface)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn device_path_is_the_linux_initrd_media_guid() {
        assert_eq!(INITRD_DEVICE_PATH.len(), 24);
        assert_eq!(&INITRD_DEVICE_PATH[..4], &[4, 3, 20, 0]);
        let guid = uefi::guid!("5568e427-68fc-4f3d-ac74-ca555231cc68");
        assert_eq!(&INITRD_DEVICE_PATH[4..20], &guid.to_bytes());
        assert_eq!(&INITRD_DEVICE_PATH[20..], &[0x7f, 0xff, 4, 0]);
    }

    #[test]
    fn parts_are_concatenated_in_order_on_4_byte_boundaries() {
        let a = [1u8; 5];
        let b = [2u8; 8];
        let c = [3u8; 1];
        let (offsets, total) = layout([5, 8, 1]);
        assert_eq!(offsets, vec![0, 8, 16]);
        assert_eq!(total, 17);
        let mut out = vec![0xeeu8; total];
        concatenate_into([&a[..], &b, &c], &mut out);
        assert_eq!(&out[..5], &a);
        assert_eq!(&out[5..8], &[0, 0, 0]);
        assert_eq!(&out[8..16], &b);
        assert_eq!(&out[16..], &c);
        // One part: served as is, no padding at the end.
        assert_eq!(layout([3]), (vec![0], 3));
        assert_eq!(layout([]), (vec![], 0));
    }
}
