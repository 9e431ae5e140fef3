//! The virtual filesystem a started image sees (ipxe-behaviour §8.2): a handle with a
//! vendor media device path and a read-only `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL` whose root
//! directory holds every registered image by name. The image is loaded with this handle as
//! its `DeviceHandle` and `\NAME` as its `FilePath`, so a Linux EFI stub given
//! `initrd=initrd.img` (the only initrd mechanism of kernels before 5.8) reads the initrd
//! from here, and a chained EFI application finds its companion files next to itself.
//!
//! The filesystem is flat: the root directory lists the images; names are matched without
//! regard to case; leading `\` or `/` separators, `.` and `..` are ignored. Files are read
//! straight from the runtime's buffers, nothing is copied up front. Writes, deletes and
//! `SetInfo` fail with `EFI_WRITE_PROTECTED`.
//!
//! The byte layouts (`EFI_FILE_INFO`, `EFI_FILE_SYSTEM_INFO`, the device paths) and name
//! resolution are pure functions, tested on the host; [`VfsHandle`] installs the protocol.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use uefi::{Handle, Status};
use uefi_raw::protocol::file_system::{
    FileAttribute, FileInfo, FileMode, FileProtocolRevision, FileProtocolV1, FileSystemInfo,
    FileSystemVolumeLabel, SimpleFileSystemProtocol,
};
use uefi_raw::{Char16, Guid};

use crate::status::StatusName;

/// The vendor GUID of the filesystem's device path node,
/// `f5f29517-f48d-46c3-8c39-c9bc6db94ab6` in EFI byte order.
pub const VFS_VENDOR_GUID: [u8; 16] = [
    0x17, 0x95, 0xf2, 0xf5, 0x8d, 0xf4, 0xc3, 0x46, 0x8c, 0x39, 0xc9, 0xbc, 0x6d, 0xb9, 0x4a, 0xb6,
];

/// `VenMedia(f5f29517-…)/End`: the device path of the filesystem's handle.
pub static VFS_DEVICE_PATH: [u8; 24] = [
    0x04, 0x03, 0x14, 0x00, // media, vendor-defined, length 20
    0x17, 0x95, 0xf2, 0xf5, 0x8d, 0xf4, 0xc3, 0x46, // GUID, EFI byte order
    0x8c, 0x39, 0xc9, 0xbc, 0x6d, 0xb9, 0x4a, 0xb6, //
    0x7f, 0xff, 0x04, 0x00, // end of entire device path
];

/// The volume label (`EFI_FILE_SYSTEM_INFO`, `EFI_FILE_SYSTEM_VOLUME_LABEL`).
pub const VOLUME_LABEL: &str = "netboot";

/// Longest file name accepted by `Open`, in UCS-2 units (longer names are not found).
const MAX_NAME: usize = 1024;

/// Size of `EFI_FILE_INFO` up to its file name.
pub const FILE_INFO_HEADER: usize = 80;
/// Size of `EFI_FILE_SYSTEM_INFO` up to its volume label.
pub const FS_INFO_HEADER: usize = 36;

/// UCS-2 units of `s` followed by a NUL (characters outside the BMP become `?`).
pub fn ucs2(s: &str) -> Vec<u16> {
    s.chars()
        .map(|c| u16::try_from(u32::from(c)).unwrap_or(u16::from(b'?')))
        .chain(core::iter::once(0))
        .collect()
}

/// The device path an image named `name` is loaded from:
/// `VenMedia(f5f29517-…)/\NAME/End` (a media file-path node after the vendor node).
pub fn image_device_path(name: &str) -> Vec<u8> {
    let mut path_units = ucs2(name);
    path_units.insert(0, u16::from(b'\\'));
    let node_len = 4 + 2 * path_units.len();
    let mut out = Vec::with_capacity(20 + node_len + 4);
    out.extend_from_slice(&VFS_DEVICE_PATH[..20]);
    // A file name longer than a node can hold is cut (a node's length is 16 bits).
    let node_len = node_len.min(usize::from(u16::MAX) & !1);
    out.extend_from_slice(&[0x04, 0x04]);
    out.extend_from_slice(&(node_len as u16).to_le_bytes());
    for unit in path_units.iter().take((node_len - 4) / 2) {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    if node_len < 4 + 2 * path_units.len() {
        // Keep the cut name NUL-terminated.
        let end = out.len();
        out[end - 2..].fill(0);
    }
    out.extend_from_slice(&crate::snp::END_NODE);
    out
}

/// [`VFS_DEVICE_PATH`] below `parent` (a whole device path, end node included): what
/// [`VfsHandle::install_under`] installs. With a NIC's path as `parent`, an image that
/// looks for the network device it was loaded from (`LocateDevicePath` of the Simple
/// Network Protocol on its `DeviceHandle`'s path, as iPXE's `snponly.efi` does) finds
/// that NIC.
pub fn device_path_under(parent: Option<&[u8]>) -> Vec<u8> {
    let mut out = parent.map(path_body).unwrap_or_default().to_vec();
    out.extend_from_slice(&VFS_DEVICE_PATH);
    out
}

/// [`image_device_path`] below `parent`, matching [`device_path_under`].
pub fn image_device_path_under(parent: Option<&[u8]>, name: &str) -> Vec<u8> {
    let mut out = parent.map(path_body).unwrap_or_default().to_vec();
    out.extend_from_slice(&image_device_path(name));
    out
}

/// A device path without its end-of-entire-path node.
fn path_body(path: &[u8]) -> &[u8] {
    path.strip_suffix(&VFS_DEVICE_PATH[20..]).unwrap_or(path)
}

/// What a path names in the flat filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The root directory.
    Root,
    /// The file at this index of the list.
    File(usize),
    /// Nothing by that name.
    NotFound,
}

/// Resolves `path` (UCS-2, without NUL) against the file `names`: separators (`\`, `/`),
/// `.` and `..` components are dropped; what remains must be one component, equal to a
/// name without regard to case. Nothing left means the root directory.
pub fn lookup<'a>(names: impl IntoIterator<Item = &'a str>, path: &[u16]) -> Lookup {
    let path: String = char::decode_utf16(path.iter().copied())
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    let mut components = path
        .split(['\\', '/'])
        .filter(|c| !c.is_empty() && *c != "." && *c != "..");
    let Some(name) = components.next() else {
        return Lookup::Root;
    };
    if components.next().is_some() {
        return Lookup::NotFound;
    }
    names
        .into_iter()
        .position(|n| eq_ignore_case(n, name))
        .map_or(Lookup::NotFound, Lookup::File)
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// An `EFI_FILE_INFO` for a read-only file of `size` bytes named `name` (a directory when
/// `directory`; the root directory has the empty name). Times are zero (unknown).
pub fn file_info(name: &str, size: u64, directory: bool) -> Vec<u8> {
    let name = ucs2(name);
    let total = FILE_INFO_HEADER + 2 * name.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes()); // FileSize
    out.extend_from_slice(&size.to_le_bytes()); // PhysicalSize
    out.resize(24 + 3 * 16, 0); // Create, LastAccess, Modification: EFI_TIME, unknown
    let mut attribute = FileAttribute::READ_ONLY;
    if directory {
        attribute |= FileAttribute::DIRECTORY;
    }
    out.extend_from_slice(&attribute.bits().to_le_bytes());
    for unit in name {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// An `EFI_FILE_SYSTEM_INFO`: read-only, `volume_size` bytes, nothing free.
pub fn fs_info(volume_size: u64) -> Vec<u8> {
    let label = ucs2(VOLUME_LABEL);
    let total = FS_INFO_HEADER + 2 * label.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.push(1); // ReadOnly
    out.resize(16, 0);
    out.extend_from_slice(&volume_size.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // FreeSpace
    out.extend_from_slice(&512u32.to_le_bytes()); // BlockSize
    for unit in label {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// An `EFI_FILE_SYSTEM_VOLUME_LABEL`.
pub fn volume_label() -> Vec<u8> {
    ucs2(VOLUME_LABEL)
        .into_iter()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// One file the filesystem serves: a registered image.
#[derive(Clone, Copy, Debug)]
pub struct VfsFile<'a> {
    /// Its name (`initrd.img`).
    pub name: &'a str,
    /// Its bytes.
    pub data: &'a [u8],
}

/// Serves `info` into the caller's buffer with GetInfo/Read semantics.
///
/// # Safety
///
/// `size` must be valid for reads and writes; `buffer` valid for `*size` bytes of writes
/// (or null).
unsafe fn deliver(info: &[u8], size: *mut usize, buffer: *mut c_void) -> Status {
    // SAFETY: the caller guarantees `size` is valid.
    let size = unsafe { &mut *size };
    if buffer.is_null() || *size < info.len() {
        *size = info.len();
        return Status::BUFFER_TOO_SMALL;
    }
    // SAFETY: the caller gave `*size >= info.len()` writable bytes at `buffer`.
    unsafe { core::ptr::copy_nonoverlapping(info.as_ptr(), buffer.cast::<u8>(), info.len()) };
    *size = info.len();
    Status::SUCCESS
}

/// The volume: the protocol the firmware sees, then our state. `repr(C)` with the
/// protocol first, so `this` of OpenVolume points at the whole struct.
#[repr(C)]
struct Volume {
    protocol: SimpleFileSystemProtocol,
    /// Name and bytes of each file, borrowed (see [`VfsHandle::install`]).
    files: Vec<(String, *const u8, usize)>,
    /// Open file handles; the volume is freed only when none is left.
    open: usize,
    /// Set on uninstall: every call fails from then on, because the buffers may be gone.
    revoked: bool,
    /// Uninstalled while files were open: the last close frees the volume.
    orphaned: bool,
}

impl Volume {
    fn data(&self, index: usize) -> &[u8] {
        let (_, ptr, len) = self.files[index];
        // SAFETY: the pointer and length come from a slice that stays valid while the
        // volume is not revoked (VfsHandle::install's contract); callers check `revoked`.
        unsafe { core::slice::from_raw_parts(ptr, len) }
    }
}

/// What an open file handle refers to.
#[derive(Clone, Copy)]
enum Node {
    Root,
    File(usize),
}

/// An open file: the protocol first (`repr(C)`), then our state.
#[repr(C)]
struct OpenFile {
    protocol: FileProtocolV1,
    volume: *mut Volume,
    node: Node,
    /// Byte offset in a file; index of the next entry in the root directory.
    position: u64,
}

/// The file behind `this`, or `None` if it is null or its volume is revoked.
///
/// # Safety
///
/// `this` must be null or a pointer this module handed out and has not freed.
unsafe fn file<'a>(this: *mut FileProtocolV1) -> Option<(&'a mut OpenFile, &'a Volume)> {
    if this.is_null() {
        return None;
    }
    // SAFETY: per the contract, `this` is the first field of a live boxed OpenFile whose
    // volume pointer stays valid while the file is open (the volume counts open files).
    let file = unsafe { &mut *this.cast::<OpenFile>() };
    // SAFETY: as above.
    let volume = unsafe { &*file.volume };
    if volume.revoked {
        return None;
    }
    Some((file, volume))
}

fn new_file(volume: *mut Volume, node: Node) -> *mut FileProtocolV1 {
    let file = Box::new(OpenFile {
        protocol: FileProtocolV1 {
            revision: FileProtocolRevision::REVISION_1,
            open: file_open,
            close: file_close,
            delete: file_delete,
            read: file_read,
            write: file_write,
            get_position: file_get_position,
            set_position: file_set_position,
            get_info: file_get_info,
            set_info: file_set_info,
            flush: file_flush,
        },
        volume,
        node,
        position: 0,
    });
    // SAFETY: `volume` is the live volume the new file belongs to.
    unsafe { (*volume).open += 1 };
    Box::into_raw(file).cast()
}

unsafe extern "efiapi" fn open_volume(
    this: *mut SimpleFileSystemProtocol,
    root: *mut *mut FileProtocolV1,
) -> Status {
    if this.is_null() || root.is_null() {
        return Status::INVALID_PARAMETER;
    }
    let volume = this.cast::<Volume>();
    // SAFETY: `this` is the protocol we installed, the first field of a live Volume.
    if unsafe { (*volume).revoked } {
        return Status::NO_MEDIA;
    }
    // SAFETY: `root` is non-null and points to writable storage for a pointer.
    unsafe { *root = new_file(volume, Node::Root) };
    Status::SUCCESS
}

unsafe extern "efiapi" fn file_open(
    this: *mut FileProtocolV1,
    new_handle: *mut *mut FileProtocolV1,
    file_name: *const Char16,
    open_mode: FileMode,
    _attributes: FileAttribute,
) -> Status {
    if new_handle.is_null() || file_name.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: `this` is one of our open files (the firmware's contract).
    let Some((file, volume)) = (unsafe { file(this) }) else {
        return Status::INVALID_PARAMETER;
    };
    if open_mode.intersects(FileMode::WRITE | FileMode::CREATE) {
        return Status::WRITE_PROTECTED;
    }
    let mut len = 0;
    // SAFETY: `file_name` is a NUL-terminated UCS-2 string; we stop at the NUL or at
    // MAX_NAME units, whichever comes first.
    while len <= MAX_NAME && unsafe { *file_name.add(len) } != 0 {
        len += 1;
    }
    if len > MAX_NAME {
        return Status::NOT_FOUND;
    }
    // SAFETY: the `len` units before the NUL were just read.
    let name = unsafe { core::slice::from_raw_parts(file_name, len) };
    let node = match lookup(volume.files.iter().map(|f| f.0.as_str()), name) {
        Lookup::Root => Node::Root,
        Lookup::File(i) => Node::File(i),
        Lookup::NotFound => return Status::NOT_FOUND,
    };
    // SAFETY: `new_handle` is non-null and writable.
    unsafe { *new_handle = new_file(file.volume, node) };
    Status::SUCCESS
}

unsafe extern "efiapi" fn file_close(this: *mut FileProtocolV1) -> Status {
    if this.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: `this` came from `new_file` (Box::into_raw) and is closed only once.
    let file = unsafe { Box::from_raw(this.cast::<OpenFile>()) };
    // SAFETY: the volume outlives its open files.
    let volume = unsafe { &mut *file.volume };
    volume.open = volume.open.saturating_sub(1);
    if volume.orphaned && volume.open == 0 {
        // The volume was uninstalled while this file was open and left for us to free.
        // SAFETY: it was leaked from a Box by VfsHandle::uninstall and nothing else
        // refers to it any more.
        drop(unsafe { Box::from_raw(file.volume) });
    }
    Status::SUCCESS
}

unsafe extern "efiapi" fn file_delete(this: *mut FileProtocolV1) -> Status {
    // Delete closes the handle even when the file cannot be deleted.
    // SAFETY: forwarded under the same contract.
    let _ = unsafe { file_close(this) };
    Status::WARN_DELETE_FAILURE
}

unsafe extern "efiapi" fn file_read(
    this: *mut FileProtocolV1,
    buffer_size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    if buffer_size.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: `this` is one of our open files.
    let Some((file, volume)) = (unsafe { file(this) }) else {
        return Status::DEVICE_ERROR;
    };
    match file.node {
        Node::Root => {
            // One EFI_FILE_INFO per call; a zero size at the end of the directory.
            let Some((name, _, len)) = usize::try_from(file.position)
                .ok()
                .and_then(|i| volume.files.get(i))
            else {
                // SAFETY: checked non-null above.
                unsafe { *buffer_size = 0 };
                return Status::SUCCESS;
            };
            let info = file_info(name, *len as u64, false);
            // SAFETY: the caller's buffer contract.
            let status = unsafe { deliver(&info, buffer_size, buffer) };
            if status == Status::SUCCESS {
                file.position += 1;
            }
            status
        }
        Node::File(index) => {
            let data = volume.data(index);
            let Ok(start) = usize::try_from(file.position) else {
                return Status::DEVICE_ERROR;
            };
            if start > data.len() {
                return Status::DEVICE_ERROR;
            }
            // SAFETY: checked non-null above.
            let size = unsafe { &mut *buffer_size };
            let n = (*size).min(data.len() - start);
            if n > 0 {
                if buffer.is_null() {
                    return Status::INVALID_PARAMETER;
                }
                // SAFETY: the caller gave `*size >= n` writable bytes at `buffer`.
                unsafe {
                    core::ptr::copy_nonoverlapping(data[start..].as_ptr(), buffer.cast(), n);
                }
            }
            *size = n;
            file.position += n as u64;
            Status::SUCCESS
        }
    }
}

unsafe extern "efiapi" fn file_write(
    _this: *mut FileProtocolV1,
    _buffer_size: *mut usize,
    _buffer: *const c_void,
) -> Status {
    Status::WRITE_PROTECTED
}

unsafe extern "efiapi" fn file_get_position(
    this: *const FileProtocolV1,
    position: *mut u64,
) -> Status {
    if position.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: `this` is one of our open files; only read here.
    let Some((file, _)) = (unsafe { file(this.cast_mut()) }) else {
        return Status::DEVICE_ERROR;
    };
    match file.node {
        Node::Root => Status::UNSUPPORTED,
        Node::File(_) => {
            // SAFETY: checked non-null above.
            unsafe { *position = file.position };
            Status::SUCCESS
        }
    }
}

unsafe extern "efiapi" fn file_set_position(this: *mut FileProtocolV1, position: u64) -> Status {
    // SAFETY: `this` is one of our open files.
    let Some((file, volume)) = (unsafe { file(this) }) else {
        return Status::DEVICE_ERROR;
    };
    match file.node {
        // Directories can only be rewound.
        Node::Root if position != 0 => Status::UNSUPPORTED,
        Node::Root => {
            file.position = 0;
            Status::SUCCESS
        }
        Node::File(index) => {
            // All ones means the end of the file.
            file.position = if position == u64::MAX {
                volume.data(index).len() as u64
            } else {
                position
            };
            Status::SUCCESS
        }
    }
}

unsafe extern "efiapi" fn file_get_info(
    this: *mut FileProtocolV1,
    information_type: *const Guid,
    buffer_size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    if information_type.is_null() || buffer_size.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: `this` is one of our open files.
    let Some((file, volume)) = (unsafe { file(this) }) else {
        return Status::DEVICE_ERROR;
    };
    // SAFETY: non-null, and a GUID per the protocol.
    let kind = unsafe { *information_type };
    let info = if kind == FileInfo::ID {
        match file.node {
            Node::Root => file_info("", 0, true),
            Node::File(i) => file_info(&volume.files[i].0, volume.files[i].2 as u64, false),
        }
    } else if kind == FileSystemInfo::ID {
        fs_info(volume.files.iter().map(|f| f.2 as u64).sum())
    } else if kind == FileSystemVolumeLabel::ID {
        volume_label()
    } else {
        return Status::UNSUPPORTED;
    };
    // SAFETY: the caller's buffer contract.
    unsafe { deliver(&info, buffer_size, buffer) }
}

unsafe extern "efiapi" fn file_set_info(
    _this: *mut FileProtocolV1,
    _information_type: *const Guid,
    _buffer_size: usize,
    _buffer: *const c_void,
) -> Status {
    Status::WRITE_PROTECTED
}

unsafe extern "efiapi" fn file_flush(_this: *mut FileProtocolV1) -> Status {
    // Nothing is ever written, so there is nothing to flush.
    Status::SUCCESS
}

/// Why the filesystem could not be installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VfsError(pub Status);

impl core::fmt::Display for VfsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "cannot install the image filesystem (SimpleFileSystem): {}",
            StatusName(self.0)
        )
    }
}

/// An installed virtual filesystem. Uninstall it with [`VfsHandle::uninstall`] (also done
/// on drop) before the file buffers go away.
pub struct VfsHandle {
    handle: Handle,
    volume: Option<Box<Volume>>,
    /// The device path installed on the handle.
    path: Box<[u8]>,
}

impl VfsHandle {
    /// Installs a new handle carrying [`VFS_DEVICE_PATH`] and a SimpleFileSystem that
    /// serves `files` (in this order in the directory listing).
    ///
    /// # Safety
    ///
    /// Every file's data must stay valid, unmoved and unmodified until
    /// [`VfsHandle::uninstall`] returns or the handle is dropped. Boot services must be
    /// active.
    pub unsafe fn install(files: &[VfsFile<'_>]) -> Result<VfsHandle, VfsError> {
        // SAFETY: forwarded to the caller.
        unsafe { Self::install_under(None, files) }
    }

    /// Like [`VfsHandle::install`], with the device path [`device_path_under`]`(parent)`.
    ///
    /// # Safety
    ///
    /// As for [`VfsHandle::install`]; `parent` must be a well-formed device path.
    pub unsafe fn install_under(
        parent: Option<&[u8]>,
        files: &[VfsFile<'_>],
    ) -> Result<VfsHandle, VfsError> {
        let path: Box<[u8]> = device_path_under(parent).into_boxed_slice();
        let mut volume = Box::new(Volume {
            protocol: SimpleFileSystemProtocol {
                revision: 0x0001_0000,
                open_volume,
            },
            files: files
                .iter()
                .map(|f| (String::from(f.name), f.data.as_ptr(), f.data.len()))
                .collect(),
            open: 0,
            revoked: false,
            orphaned: false,
        });
        let interface: *mut Volume = &mut *volume;
        // SAFETY: the GUIDs match the interfaces: a well-formed device path in a Box kept
        // (unmoved) in the VfsHandle, and a SimpleFileSystemProtocol at the start of a Box
        // that lives until uninstalled.
        let handle = unsafe {
            crate::handle::install(
                &path,
                &SimpleFileSystemProtocol::GUID,
                interface.cast_const().cast(),
            )
        }
        .map_err(VfsError)?;
        Ok(VfsHandle {
            handle,
            volume: Some(volume),
            path,
        })
    }

    /// The handle carrying the filesystem (the started image's `DeviceHandle`).
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Uninstalls both protocols (in reverse order of installation) and revokes the
    /// volume: file handles the image left open fail from then on, and are freed when
    /// closed. If the protocol cannot be uninstalled the volume is leaked, revoked.
    pub fn uninstall(&mut self) {
        let Some(mut volume) = self.volume.take() else {
            return;
        };
        let interface: *mut Volume = &mut *volume;
        // SAFETY: these are the exact interfaces installed on this handle in `install`.
        let removed = unsafe {
            crate::handle::uninstall(
                self.handle,
                &self.path,
                &SimpleFileSystemProtocol::GUID,
                interface.cast_const().cast(),
            )
        };
        volume.revoked = true;
        volume.files.clear();
        if removed && volume.open == 0 {
            drop(volume);
        } else {
            // Open files still point at it (the last close frees it), or the firmware
            // still has it installed (then it is never freed).
            volume.orphaned = removed;
            Box::leak(volume);
            if !removed {
                // The device path stays installed too.
                Box::leak(core::mem::take(&mut self.path));
            }
        }
    }
}

impl Drop for VfsHandle {
    fn drop(&mut self) {
        self.uninstall();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn paths_below_a_nic() {
        let nic: &[u8] = &[1, 1, 6, 0, 0, 2, 3, 11, 8, 0, 1, 2, 3, 4, 0x7f, 0xff, 4, 0];
        assert_eq!(device_path_under(None), VFS_DEVICE_PATH);
        let under = device_path_under(Some(nic));
        assert_eq!(&under[..14], &nic[..14]);
        assert_eq!(&under[14..], &VFS_DEVICE_PATH);
        let image = image_device_path_under(Some(nic), "ipxe.efi");
        assert_eq!(&image[..14], &nic[..14]);
        assert_eq!(&image[14..], image_device_path("ipxe.efi").as_slice());
        assert_eq!(image_device_path_under(None, "a"), image_device_path("a"));
    }

    #[test]
    fn device_path_is_a_vendor_media_node() {
        let guid = uefi::guid!("f5f29517-f48d-46c3-8c39-c9bc6db94ab6");
        assert_eq!(VFS_VENDOR_GUID, guid.to_bytes());
        assert_eq!(&VFS_DEVICE_PATH[..4], &[4, 3, 20, 0]);
        assert_eq!(&VFS_DEVICE_PATH[4..20], &guid.to_bytes());
        assert_eq!(&VFS_DEVICE_PATH[20..], &[0x7f, 0xff, 4, 0]);
    }

    #[test]
    fn image_path_appends_a_file_path_node() {
        let path = image_device_path("vmlinuz");
        assert_eq!(&path[..20], &VFS_DEVICE_PATH[..20]);
        // \vmlinuz + NUL = 9 units = 18 bytes, + 4 header bytes.
        assert_eq!(&path[20..24], &[4, 4, 22, 0]);
        let name: Vec<u16> = path[24..42]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(name, ucs2("\\vmlinuz"));
        assert_eq!(&path[42..], &[0x7f, 0xff, 4, 0]);
        // A name too long for one node is cut, still NUL-terminated and well-formed.
        let long = "x".repeat(40_000);
        let path = image_device_path(&long);
        let len = usize::from(u16::from_le_bytes([path[22], path[23]]));
        assert_eq!(path.len(), 20 + len + 4);
        assert_eq!(&path[20 + len - 2..20 + len], &[0, 0]);
        assert_eq!(&path[20 + len..], &[0x7f, 0xff, 4, 0]);
    }

    #[test]
    fn names_resolve_without_case_and_separators() {
        let names = ["vmlinuz", "initrd.img", "Extra.CPIO"];
        let find = |p: &str| lookup(names, &units(p));
        assert_eq!(find("initrd.img"), Lookup::File(1));
        assert_eq!(find("\\INITRD.IMG"), Lookup::File(1));
        assert_eq!(find("/extra.cpio"), Lookup::File(2));
        assert_eq!(find(".\\vmlinuz"), Lookup::File(0));
        assert_eq!(find("\\..\\vmlinuz"), Lookup::File(0));
        assert_eq!(find(""), Lookup::Root);
        assert_eq!(find("\\"), Lookup::Root);
        assert_eq!(find("."), Lookup::Root);
        assert_eq!(find("missing.img"), Lookup::NotFound);
        assert_eq!(find("\\boot\\initrd.img"), Lookup::NotFound);
        assert_eq!(lookup([], &units("x")), Lookup::NotFound);
    }

    #[test]
    fn file_info_has_the_efi_layout() {
        let info = file_info("ab", 0x1234, false);
        assert_eq!(info.len(), 80 + 6);
        assert_eq!(u64::from_le_bytes(info[0..8].try_into().expect("8")), 86);
        assert_eq!(
            u64::from_le_bytes(info[8..16].try_into().expect("8")),
            0x1234
        );
        assert_eq!(
            u64::from_le_bytes(info[16..24].try_into().expect("8")),
            0x1234
        );
        assert!(info[24..72].iter().all(|&b| b == 0));
        assert_eq!(u64::from_le_bytes(info[72..80].try_into().expect("8")), 1);
        assert_eq!(&info[80..], &[b'a', 0, b'b', 0, 0, 0]);
        let root = file_info("", 0, true);
        assert_eq!(root.len(), 82);
        assert_eq!(
            u64::from_le_bytes(root[72..80].try_into().expect("8")),
            0x11
        );
        // The offsets match uefi-raw's struct.
        assert_eq!(core::mem::offset_of!(FileInfo, attribute), 72);
        assert_eq!(core::mem::offset_of!(FileInfo, file_name), FILE_INFO_HEADER);
    }

    #[test]
    fn fs_info_has_the_efi_layout() {
        let info = fs_info(1000);
        assert_eq!(core::mem::offset_of!(FileSystemInfo, volume_label), 36);
        assert_eq!(info.len(), 36 + 2 * 8);
        assert_eq!(u64::from_le_bytes(info[0..8].try_into().expect("8")), 52);
        assert_eq!(info[8], 1);
        assert_eq!(
            u64::from_le_bytes(info[16..24].try_into().expect("8")),
            1000
        );
        assert_eq!(u32::from_le_bytes(info[32..36].try_into().expect("4")), 512);
        assert_eq!(&info[36..38], &[b'n', 0]);
        assert_eq!(&info[info.len() - 2..], &[0, 0]);
        assert_eq!(volume_label().len(), 16);
    }

    /// The protocol functions, driven through their raw pointers as a firmware client
    /// would (no boot services needed: the volume is built by hand).
    #[test]
    fn open_read_seek_info_and_directory_listing() {
        let kernel = b"MZkernel".to_vec();
        let initrd: Vec<u8> = (0..=255u8).collect();
        let mut volume = Box::new(Volume {
            protocol: SimpleFileSystemProtocol {
                revision: 0x0001_0000,
                open_volume,
            },
            files: vec![
                (String::from("vmlinuz"), kernel.as_ptr(), kernel.len()),
                (String::from("initrd.img"), initrd.as_ptr(), initrd.len()),
            ],
            open: 0,
            revoked: false,
            orphaned: false,
        });
        let sfs: *mut SimpleFileSystemProtocol = &mut volume.protocol;
        // SAFETY: every pointer below is a live local or one the protocol returned.
        unsafe {
            let mut root = core::ptr::null_mut();
            assert_eq!(((*sfs).open_volume)(sfs, &mut root), Status::SUCCESS);
            let name = ucs2("\\INITRD.IMG");
            let mut f = core::ptr::null_mut();
            assert_eq!(
                ((*root).open)(
                    root,
                    &mut f,
                    name.as_ptr(),
                    FileMode::READ,
                    FileAttribute::empty()
                ),
                Status::SUCCESS
            );
            // Writing is refused, a missing name is not found.
            let mut w = core::ptr::null_mut();
            let status = ((*root).open)(
                root,
                &mut w,
                name.as_ptr(),
                FileMode::READ | FileMode::WRITE,
                FileAttribute::empty(),
            );
            assert_eq!(status, Status::WRITE_PROTECTED);
            let missing = ucs2("nope");
            let status = ((*root).open)(
                root,
                &mut w,
                missing.as_ptr(),
                FileMode::READ,
                FileAttribute::empty(),
            );
            assert_eq!(status, Status::NOT_FOUND);

            // GetInfo: too small first, then the size of the file.
            let mut size = 0usize;
            let status = ((*f).get_info)(f, &FileInfo::ID, &mut size, core::ptr::null_mut());
            assert_eq!(status, Status::BUFFER_TOO_SMALL);
            assert_eq!(size, 80 + 2 * 11);
            let mut buf = vec![0u8; size];
            let status = ((*f).get_info)(f, &FileInfo::ID, &mut size, buf.as_mut_ptr().cast());
            assert_eq!(status, Status::SUCCESS);
            assert_eq!(u64::from_le_bytes(buf[8..16].try_into().expect("8")), 256);

            // Read in pieces, then past the end.
            let mut out = vec![0u8; 200];
            let mut n = 200usize;
            assert_eq!(
                ((*f).read)(f, &mut n, out.as_mut_ptr().cast()),
                Status::SUCCESS
            );
            assert_eq!((n, &out[..3]), (200, &[0u8, 1, 2][..]));
            let mut n = 200usize;
            assert_eq!(
                ((*f).read)(f, &mut n, out.as_mut_ptr().cast()),
                Status::SUCCESS
            );
            assert_eq!((n, out[0]), (56, 200));
            let mut n = 200usize;
            assert_eq!(
                ((*f).read)(f, &mut n, out.as_mut_ptr().cast()),
                Status::SUCCESS
            );
            assert_eq!(n, 0);
            let mut pos = 0u64;
            assert_eq!(((*f).get_position)(f, &mut pos), Status::SUCCESS);
            assert_eq!(pos, 256);
            assert_eq!(((*f).set_position)(f, 10), Status::SUCCESS);
            let mut n = 1usize;
            assert_eq!(
                ((*f).read)(f, &mut n, out.as_mut_ptr().cast()),
                Status::SUCCESS
            );
            assert_eq!((n, out[0]), (1, 10));
            assert_eq!(((*f).set_position)(f, u64::MAX), Status::SUCCESS);
            assert_eq!(((*f).get_position)(f, &mut pos), Status::SUCCESS);
            assert_eq!(pos, 256);
            assert_eq!(((*f).set_position)(f, 300), Status::SUCCESS);
            let mut n = 1usize;
            assert_eq!(
                ((*f).read)(f, &mut n, out.as_mut_ptr().cast()),
                Status::DEVICE_ERROR
            );
            let mut n = 1usize;
            assert_eq!(
                ((*f).write)(f, &mut n, out.as_ptr().cast()),
                Status::WRITE_PROTECTED
            );

            // The volume info sums the files.
            let mut size = 128usize;
            let mut buf = vec![0u8; size];
            let status =
                ((*f).get_info)(f, &FileSystemInfo::ID, &mut size, buf.as_mut_ptr().cast());
            assert_eq!(status, Status::SUCCESS);
            assert_eq!(u64::from_le_bytes(buf[16..24].try_into().expect("8")), 264);
            assert_eq!(((*f).close)(f), Status::SUCCESS);

            // The root lists both files, then an empty read; it rewinds to 0 only.
            let mut names = Vec::new();
            loop {
                let mut size = 512usize;
                let mut buf = vec![0u8; size];
                assert_eq!(
                    ((*root).read)(root, &mut size, buf.as_mut_ptr().cast()),
                    Status::SUCCESS
                );
                if size == 0 {
                    break;
                }
                let name: Vec<u16> = buf[80..size - 2]
                    .chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                names.push(String::from_utf16(&name).expect("utf-16"));
            }
            assert_eq!(names, ["vmlinuz", "initrd.img"]);
            let mut tiny = 4usize;
            assert_eq!(((*root).set_position)(root, 0), Status::SUCCESS);
            assert_eq!(
                ((*root).read)(root, &mut tiny, out.as_mut_ptr().cast()),
                Status::BUFFER_TOO_SMALL
            );
            assert_eq!(tiny, 80 + 16);
            assert_eq!(((*root).set_position)(root, 5), Status::UNSUPPORTED);
            assert_eq!(((*root).get_position)(root, &mut pos), Status::UNSUPPORTED);
            assert_eq!(volume.open, 1);

            // Revoked (uninstalled): the open root handle fails cleanly, and closes.
            volume.revoked = true;
            let mut n = 512usize;
            assert_eq!(
                ((*root).read)(root, &mut n, out.as_mut_ptr().cast()),
                Status::DEVICE_ERROR
            );
            volume.revoked = false;
            assert_eq!(((*root).close)(root), Status::SUCCESS);
            assert_eq!(volume.open, 0);
        }
    }
}
