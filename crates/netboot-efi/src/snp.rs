//! A smoltcp [`Device`] over the UEFI Simple Network Protocol (platform-notes §1.2).
//!
//! - [`find_nics`] connects every controller first (OVMF with a `bootindex` leaves the NIC
//!   unconnected, so it has no SNP yet) and lists the SNP handles, the NIC this image was
//!   loaded from first.
//! - [`SnpDevice::open`] opens a NIC EXCLUSIVELY, which makes the firmware disconnect MNP
//!   and the IP/UDP/DHCP/PXE drivers above it, so nothing else polls the receive queue.
//!   Then Start, Initialize (retried 10× at 10 ms, as iPXE does) and receive filters
//!   unicast + broadcast.
//! - Transmit buffers come from a small heap pool. The driver owns a buffer from
//!   `Transmit` until `GetStatus` hands its address back, so a buffer is reused only after
//!   it was recycled; at most [`TX_IN_FLIGHT`] frames are outstanding. Frames are padded
//!   to 60 bytes.
//! - At most [`RX_QUOTA`] frames are read per poll so transmissions (ACKs) interleave.
//! - [`SnpDevice::hand_over`] shuts the NIC down and closes the exclusive open before
//!   another image starts, leaving the firmware's network stack (MNP and above)
//!   disconnected: Debian's `ipxe.efi` (2019) started over a reconnected stack and then
//!   exiting never returns from StartImage under OVMF, while without it `ipxe.efi` binds
//!   its own virtio-net driver, `snponly.efi` the SNP, and both return.
//! - [`SnpDevice::reclaim`] takes the NIC back when the image returns. The image may have
//!   replaced the NIC's driver: `ipxe.efi` disconnects VirtioNetDxe from the PCI device
//!   (the SNP handle disappears) and, on exit, reconnects every controller, which makes
//!   a new SNP handle. So when the remembered handle cannot be opened, every controller
//!   is connected and the NIC is found again by device path (then MAC address); it is
//!   reset from whatever state the image left (Shutdown, Stop) and brought up again.
//! - [`SnpDevice::release`] (also on drop, when netboot returns to the boot manager)
//!   additionally reconnects the firmware's drivers, so the next boot option (say, the
//!   firmware's own PXE client) finds its network stack.
//! - A virtio-net NIC on the root PCI bus is driven by netboot's own driver
//!   ([`crate::native`]) after it was opened here: the SNP is closed, the firmware's
//!   drivers are disconnected from the PCI function, and [`SnpDevice`] hands frames to and
//!   from that driver instead. `hand_over` and `release` reset the device and connect the
//!   firmware's drivers again (a new SNP handle, which `reclaim` finds by path and MAC
//!   address like any other), and `reclaim` moves the NIC back to the native driver.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use core::time::Duration;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use uefi::boot::{self, ScopedProtocol, SearchType};
use uefi::proto::device_path::{DevicePath, LoadedImageDevicePath};
use uefi::proto::network::snp::{NetworkState, ReceiveFlags, SimpleNetwork};
use uefi::{Handle, Status};

use crate::status::StatusName;

/// Frames read per poll at most. iPXE's SNP driver uses 4; with netboot's 1 MiB TCP
/// window, 32 measured 43–51 MB/s against 40 MB/s for 4 in `cargo xtask bench` (HTTP,
/// OVMF under TCG), while transmissions still interleave every 32 frames.
pub const RX_QUOTA: usize = 32;
/// Transmit buffers outstanding at the driver at most, when its mode says
/// `MultipleTxSupported`; otherwise one, as iPXE always does. A few let ACKs go out while
/// the previous frame is still being recycled. Drivers that cannot queue that many answer
/// `EFI_NOT_READY`, which drops the frame (TCP retransmits).
pub const TX_IN_FLIGHT: usize = 4;
/// Ethernet frame size without FCS: what smoltcp may hand us.
pub const MAX_FRAME: usize = 1514;
/// The shortest Ethernet frame without FCS; shorter ones are padded with zeros.
pub const MIN_FRAME: usize = 60;
/// Extra receive-buffer room: EDK2's MnpDxe sizes buffers MTU + 8, and some drivers rely
/// on it (iPXE does the same).
const RX_SLACK: usize = 8;
/// Transmit buffer size (a full frame, rounded up).
const TX_BUFFER: usize = 1536;

/// Why a NIC could not be opened or brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnpError {
    /// The step that failed (`open`, `Start`, `Initialize`).
    pub step: &'static str,
    /// The firmware's status.
    pub status: Status,
}

impl fmt::Display for SnpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SNP {} failed: {}", self.step, StatusName(self.status))?;
        if self.step == "open" && self.status == Status::ACCESS_DENIED {
            f.write_str(" (another driver holds the NIC exclusively)")?;
        }
        Ok(())
    }
}

/// Counters for diagnostics (`ifstat`-like).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Received frames dropped (too large for the buffer, receive errors).
    pub rx_dropped: u64,
    /// Frames handed to the driver.
    pub tx_frames: u64,
    /// Frames dropped on transmit (no free buffer, `EFI_NOT_READY`, errors).
    pub tx_dropped: u64,
    /// Addresses `GetStatus` returned that were not ours (firmware bugs).
    pub tx_unknown_recycled: u64,
}

/// Connects all controllers, then lists the handles with a Simple Network Protocol: the
/// NIC this image was loaded from first (found through our LoadedImageDevicePath), then
/// the others in firmware order. Boot services must be active.
///
/// SNP handles below another SNP handle in the device tree are left out: EDK2's PXE
/// driver installs a copy of the NIC's SNP on its `…/MAC(…)/IPv4(…)` and `…/IPv6(…)`
/// children (so boot options can find it), and those children disappear as soon as the
/// NIC itself is opened exclusively.
pub fn find_nics() -> Vec<Handle> {
    connect_all_controllers();
    let handles = boot::find_handles::<SimpleNetwork>().unwrap_or_default();
    let paths: Vec<Option<Vec<u8>>> = handles.iter().map(|&h| device_path_bytes(h)).collect();
    let path_refs: Vec<Option<&[u8]>> = paths.iter().map(|p| p.as_deref()).collect();
    let mut primary: Vec<usize> = top_level(&path_refs);
    if let Some(boot_path) = boot_nic().and_then(device_path_bytes)
        && let Some(pos) = primary.iter().position(|&i| {
            path_refs[i].is_some_and(|p| p == boot_path.as_slice() || is_below(&boot_path, p))
        })
    {
        let i = primary.remove(pos);
        primary.insert(0, i);
    }
    primary.into_iter().map(|i| handles[i]).collect()
}

/// A copy of the device path on `handle`, if it has one.
fn device_path_bytes(handle: Handle) -> Option<Vec<u8>> {
    let params = boot::OpenProtocolParams {
        handle,
        agent: boot::image_handle(),
        controller: None,
    };
    // SAFETY: a GET_PROTOCOL open does not keep the interface from being uninstalled, so
    // the path is copied at once and the reference dropped before any other call into the
    // firmware.
    let path = unsafe {
        boot::open_protocol::<DevicePath>(params, boot::OpenProtocolAttributes::GetProtocol)
    }
    .ok()?;
    path.get().map(|p| p.as_bytes().to_vec())
}

/// The SNP handles, for diagnostics on one line: each handle, the last 16 bytes of its
/// device path before the end node (hex; the MAC node for a NIC) and the MAC address it
/// reports; `none` when there are none.
pub fn inventory() -> alloc::string::String {
    use core::fmt::Write as _;
    let mut out = alloc::string::String::new();
    for h in boot::find_handles::<SimpleNetwork>().unwrap_or_default() {
        let path = device_path_bytes(h).unwrap_or_default();
        let body = path.strip_suffix(&END_NODE).unwrap_or(&path);
        let tail = &body[body.len().saturating_sub(16)..];
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{:?} path …", h.as_ptr());
        for b in tail {
            let _ = write!(out, "{b:02x}");
        }
        match current_mac(h) {
            Some(m) => {
                let _ = write!(out, " MAC {}", netboot_core::platform::MacText(m));
            }
            None => out.push_str(" no MAC"),
        }
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// The end-of-entire-path node.
pub(crate) const END_NODE: [u8; 4] = [0x7f, 0xff, 0x04, 0x00];

/// Whether device path `child` lies strictly below `parent` (both whole paths, with end
/// nodes).
pub fn is_below(child: &[u8], parent: &[u8]) -> bool {
    let parent = parent.strip_suffix(&END_NODE).unwrap_or(parent);
    let child = child.strip_suffix(&END_NODE).unwrap_or(child);
    child.len() > parent.len() && child.starts_with(parent)
}

/// Indices of the paths that are not below another path of the list (handles without a
/// path are kept).
pub fn top_level(paths: &[Option<&[u8]>]) -> Vec<usize> {
    (0..paths.len())
        .filter(|&i| {
            let Some(path) = paths[i] else { return true };
            !paths
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.is_some_and(|o| is_below(path, o)))
        })
        .collect()
}

/// OVMF connects only the devices in the boot order when any `bootindex` is given, so
/// the NIC may have no driver yet. Connecting every handle recursively is what the boot
/// manager does without a boot order; errors (no driver for that handle) are expected.
fn connect_all_controllers() {
    let Ok(all) = boot::locate_handle_buffer(SearchType::AllHandles) else {
        return;
    };
    for &handle in all.iter() {
        let _ = boot::connect_controller(handle, &[], None, true);
    }
}

/// The SNP handle on the path this image was loaded from (a PXE boot: possibly one of the
/// PXE driver's children), if any.
fn boot_nic() -> Option<Handle> {
    let path = boot::open_protocol_exclusive::<LoadedImageDevicePath>(boot::image_handle()).ok()?;
    let mut remaining: &DevicePath = &path;
    boot::locate_device_path::<SimpleNetwork>(&mut remaining).ok()
}

/// One transmit buffer; `busy` while the driver owns it.
struct TxBuffer {
    data: Box<[u8]>,
    busy: bool,
}

/// The transmit pool.
struct TxPool {
    buffers: Vec<TxBuffer>,
}

impl TxPool {
    /// `limit` buffers, so at most `limit` frames are outstanding.
    fn new(limit: usize) -> Self {
        let buffers = (0..limit.max(1))
            .map(|_| TxBuffer {
                data: vec![0u8; TX_BUFFER].into_boxed_slice(),
                busy: false,
            })
            .collect();
        TxPool { buffers }
    }

    fn in_flight(&self) -> usize {
        self.buffers.iter().filter(|b| b.busy).count()
    }

    fn free_index(&self) -> Option<usize> {
        self.buffers.iter().position(|b| !b.busy)
    }

    /// Asks the driver for transmitted buffers and frees them.
    fn recycle(&mut self, snp: &mut SimpleNetwork, stats: &mut SnpStats) {
        // Bounded: each call returns one buffer; a few extra rounds tolerate drivers that
        // return addresses we never gave them.
        for _ in 0..self.buffers.len() + 4 {
            if self.in_flight() == 0 {
                return;
            }
            match snp.get_recycled_transmit_buffer_status() {
                Ok(Some(done)) => self.mark_free(done, stats),
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn mark_free(&mut self, done: NonNull<u8>, stats: &mut SnpStats) {
        match self
            .buffers
            .iter_mut()
            .find(|b| b.busy && b.data.as_ptr() == done.as_ptr().cast_const())
        {
            Some(b) => b.busy = false,
            None => stats.tx_unknown_recycled += 1,
        }
    }

    /// Forgets buffers the driver may still own, so they are never freed under it.
    fn leak_busy(&mut self) {
        for b in &mut self.buffers {
            if b.busy {
                core::mem::forget(core::mem::take(&mut b.data));
                b.busy = false;
            }
        }
    }
}

/// Where the device is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Opened and initialized.
    Open,
    /// Handed back to the firmware by [`SnpDevice::release`]; reopened on next use.
    Released,
    /// Reopening failed; the device stays silent.
    Failed,
}

/// A NIC driven through SNP, as a smoltcp [`Device`].
pub struct SnpDevice {
    handle: Handle,
    /// The NIC's device path when it was opened, to find it again if a started image
    /// replaced its driver (and so its handle).
    path: Option<Vec<u8>>,
    snp: Option<ScopedProtocol<SimpleNetwork>>,
    state: State,
    mac: [u8; 6],
    mtu: usize,
    rx: Box<[u8]>,
    rx_burst: usize,
    tx: TxPool,
    stats: SnpStats,
    /// netboot's own driver, when it drives the NIC in place of SNP ([`crate::native`]).
    native: Option<crate::native::Native>,
    /// Why the native driver could not take the NIC, once it tried.
    native_refused: Option<&'static str>,
    /// The native driver's last received frame (kept allocated: a pool allocation per
    /// frame is two boot-service calls).
    native_rx: Vec<u8>,
}

impl fmt::Debug for SnpDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnpDevice")
            .field("mac", &self.mac)
            .field("mtu", &self.mtu)
            .field("state", &self.state)
            .field("stats", &self.stats)
            .field("native", &self.native.is_some())
            .finish_non_exhaustive()
    }
}

impl SnpDevice {
    /// Opens the SNP on `handle` exclusively and brings it up (Start, Initialize, receive
    /// filters). Boot services must be active.
    pub fn open(handle: Handle) -> Result<Self, SnpError> {
        let mut snp = open_exclusive(handle)?;
        bring_up(&mut snp)?;
        let mode = snp.mode();
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&mode.current_address.0[..6]);
        let frame = (mode.max_packet_size as usize).saturating_add(mode.media_header_size as usize);
        let mtu = if frame == 0 {
            MAX_FRAME
        } else {
            frame.min(MAX_FRAME)
        };
        let rx_len = frame.max(MAX_FRAME) + RX_SLACK;
        let tx_limit = if bool::from(mode.multiple_tx_supported) {
            TX_IN_FLIGHT
        } else {
            1
        };
        let mut dev = SnpDevice {
            handle,
            path: device_path_bytes(handle),
            snp: Some(snp),
            state: State::Open,
            mac,
            mtu,
            rx: vec![0u8; rx_len].into_boxed_slice(),
            rx_burst: 0,
            tx: TxPool::new(tx_limit),
            stats: SnpStats::default(),
            native: None,
            native_refused: None,
            native_rx: Vec::new(),
        };
        dev.go_native()?;
        Ok(dev)
    }

    /// Whether netboot's own driver drives the NIC (else the firmware's, through SNP).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// What drives the NIC when netboot's own driver does (`virtio-net legacy I/O 0xc000,
    /// large receive segments`), for the console.
    pub fn native_summary(&self) -> Option<alloc::string::String> {
        let nic = &self.native.as_ref()?.nic;
        let large = if nic.large_segments() {
            ", large receive segments"
        } else {
            ""
        };
        Some(alloc::format!("virtio-net {}{large}", nic.interface()))
    }

    /// Why netboot's own driver could not take a NIC it should have been able to drive.
    pub fn native_refused(&self) -> Option<&'static str> {
        self.native_refused
    }

    /// Moves an open NIC from SNP to netboot's own driver when [`crate::native`] can drive
    /// it; otherwise (or if taking it fails) the NIC stays on, or returns to, SNP.
    fn go_native(&mut self) -> Result<(), SnpError> {
        let Some(candidate) = self.path.as_deref().and_then(crate::native::candidate) else {
            return Ok(());
        };
        self.close();
        match crate::native::take(candidate, self.mac) {
            Ok(native) => {
                self.native = Some(native);
                self.state = State::Open;
                Ok(())
            }
            Err(why) => {
                self.native_refused = Some(why);
                self.reopen_snp()
            }
        }
    }

    /// The NIC's current MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The NIC's device path (whole, with its end node) when it was opened, if it has one.
    pub fn device_path(&self) -> Option<&[u8]> {
        self.path.as_deref()
    }

    /// The firmware handle carrying the SNP.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Whether the link is up (`MediaPresent`); `true` when the driver cannot tell, or
    /// while the device is released.
    pub fn link_up(&self) -> bool {
        if self.native.is_some() {
            return true;
        }
        match &self.snp {
            Some(snp) => {
                let mode = snp.mode();
                !bool::from(mode.media_present_supported) || bool::from(mode.media_present)
            }
            None => true,
        }
    }

    /// Traffic counters.
    pub fn stats(&self) -> SnpStats {
        self.stats
    }

    /// Hands the NIC back to the firmware before another image starts: Shutdown and Stop
    /// (so the next owner finds it STOPPED, as the exclusive open left it), close the
    /// exclusive open, and reconnect the firmware's network drivers (MNP and above) so a
    /// chained loader can use them. The device reopens itself on next use
    /// ([`SnpDevice::reclaim`]).
    pub fn release(&mut self) {
        if let Some(native) = self.native.take() {
            native.give_back(true);
            self.state = State::Released;
        } else if self.close() {
            let _ = boot::connect_controller(self.handle, &[], None, true);
        }
    }

    /// Hands the NIC to an image about to start: like [`SnpDevice::release`] but
    /// without reconnecting the firmware's network drivers above SNP (see the module
    /// documentation: Debian's `ipxe.efi` does not return from StartImage when it
    /// found them connected). The image finds the NIC STOPPED, its SNP free to open.
    pub fn hand_over(&mut self) {
        if let Some(native) = self.native.take() {
            native.give_back(false);
            self.state = State::Released;
        } else {
            self.close();
        }
    }

    /// Shutdown, Stop and close the exclusive open, without reconnecting anything;
    /// `false` if the device was not open.
    fn close(&mut self) -> bool {
        let Some(mut snp) = self.snp.take() else {
            return false;
        };
        let shut_down = snp.shutdown().is_ok();
        let _ = snp.stop();
        if shut_down {
            // Shutdown drops pending transmits: the driver no longer owns our buffers.
            for b in &mut self.tx.buffers {
                b.busy = false;
            }
        } else {
            self.tx.leak_busy();
        }
        drop(snp);
        self.state = State::Released;
        true
    }

    /// Reopens a released device (after a started image returned). The image may have
    /// left the NIC in any state, or replaced the firmware's driver with its own and
    /// gone (iPXE binds its driver to the NIC and, on exit, reconnects every controller),
    /// so the SNP handle remembered may be gone or no longer carry SNP. In that case
    /// every controller is connected again and the NIC is looked up by its device path
    /// (then by MAC address) among the SNP handles. The NIC is then reset: Shutdown and
    /// Stop whatever state the previous owner left, then Start, Initialize and the
    /// receive filters.
    pub fn reclaim(&mut self) -> Result<(), SnpError> {
        if self.snp.is_some() || self.native.is_some() {
            return Ok(());
        }
        self.reopen_snp()?;
        self.go_native()
    }

    /// The SNP part of [`SnpDevice::reclaim`].
    fn reopen_snp(&mut self) -> Result<(), SnpError> {
        let result = match reopen(self.handle) {
            Ok(snp) => Ok(snp),
            Err(first) => {
                connect_all_controllers();
                match self.find_again() {
                    Some(handle) => reopen(handle).inspect(|_| self.handle = handle),
                    None => Err(first),
                }
            }
        };
        match result {
            Ok(snp) => {
                self.snp = Some(snp);
                self.state = State::Open;
                self.rx_burst = 0;
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// The SNP handle that now carries this NIC: among the NICs (SNP handles not below
    /// another), the one with the device path it had, else the one with its MAC address.
    fn find_again(&self) -> Option<Handle> {
        let all = boot::find_handles::<SimpleNetwork>().ok()?;
        let paths: Vec<Option<Vec<u8>>> = all.iter().map(|&h| device_path_bytes(h)).collect();
        let path_refs: Vec<Option<&[u8]>> = paths.iter().map(|p| p.as_deref()).collect();
        // Not the copies of a NIC's SNP on the PXE driver's children (see find_nics).
        let nics = top_level(&path_refs);
        let seen: Vec<SeenNic> = nics
            .iter()
            .map(|&i| (paths[i].clone(), current_mac(all[i])))
            .collect();
        pick_again(&seen, self.path.as_deref(), self.mac).map(|j| all[nics[j]])
    }

    /// The open protocol, reopening after a release; `None` if the NIC is unusable.
    fn ensure_open(&mut self) -> bool {
        match self.state {
            State::Open => self.snp.is_some() || self.native.is_some(),
            State::Released => self.reclaim().is_ok(),
            State::Failed => false,
        }
    }
}

impl Drop for SnpDevice {
    fn drop(&mut self) {
        self.release();
        self.tx.leak_busy();
    }
}

/// What [`pick_again`] knows of one SNP handle: its device path and MAC address.
pub type SeenNic = (Option<Vec<u8>>, Option<[u8; 6]>);

/// Which of the SNP handles described by `seen` (device path, MAC address) is the NIC
/// that had device path `path` and MAC address `mac`: the same path first, else the
/// first with that MAC address.
pub fn pick_again(seen: &[SeenNic], path: Option<&[u8]>, mac: [u8; 6]) -> Option<usize> {
    path.and_then(|p| seen.iter().position(|(q, _)| q.as_deref() == Some(p)))
        .or_else(|| seen.iter().position(|(_, m)| *m == Some(mac)))
}

/// The MAC address an SNP handle reports (a GET_PROTOCOL look, no open kept).
fn current_mac(handle: Handle) -> Option<[u8; 6]> {
    let params = boot::OpenProtocolParams {
        handle,
        agent: boot::image_handle(),
        controller: None,
    };
    // SAFETY: a GET_PROTOCOL open does not keep the interface from being uninstalled, so
    // the address is copied at once and the reference dropped before any other call into
    // the firmware.
    let snp = unsafe {
        boot::open_protocol::<SimpleNetwork>(params, boot::OpenProtocolAttributes::GetProtocol)
    }
    .ok()?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&snp.mode().current_address.0[..6]);
    Some(mac)
}

/// Opens `handle` exclusively after another owner had it: resets the NIC from whatever
/// state it was left in, then brings it up.
fn reopen(handle: Handle) -> Result<ScopedProtocol<SimpleNetwork>, SnpError> {
    let mut snp = open_exclusive(handle)?;
    reset(&mut snp);
    bring_up(&mut snp)?;
    Ok(snp)
}

/// Back to STOPPED from any state (errors ignored: bring-up reports what still fails).
fn reset(snp: &mut SimpleNetwork) {
    if snp.mode().state == NetworkState::INITIALIZED {
        let _ = snp.shutdown();
    }
    if snp.mode().state == NetworkState::STARTED {
        let _ = snp.stop();
    }
}

fn open_exclusive(handle: Handle) -> Result<ScopedProtocol<SimpleNetwork>, SnpError> {
    boot::open_protocol_exclusive::<SimpleNetwork>(handle).map_err(|e| SnpError {
        step: "open",
        status: e.status(),
    })
}

/// STOPPED → Start → STARTED → Initialize → INITIALIZED, then the receive filters.
fn bring_up(snp: &mut SimpleNetwork) -> Result<(), SnpError> {
    if snp.mode().state == NetworkState::STOPPED {
        match snp.start() {
            Ok(()) => {}
            Err(e) if e.status() == Status::ALREADY_STARTED => {}
            Err(e) => {
                return Err(SnpError {
                    step: "Start",
                    status: e.status(),
                });
            }
        }
    }
    if snp.mode().state == NetworkState::STARTED {
        // Some NICs fail the first attempts (link negotiation, slow reset): iPXE retries
        // 10 times, 10 ms apart.
        let mut last = Status::SUCCESS;
        for attempt in 0..10 {
            match snp.initialize(0, 0) {
                Ok(()) => {
                    last = Status::SUCCESS;
                    break;
                }
                Err(e) => last = e.status(),
            }
            if attempt < 9 {
                boot::stall(Duration::from_millis(10));
            }
        }
        if last != Status::SUCCESS {
            return Err(SnpError {
                step: "Initialize",
                status: last,
            });
        }
    }
    set_receive_filters(snp);
    Ok(())
}

/// Unicast + broadcast; falls back to what the driver supports (iPXE tries a list too).
fn set_receive_filters(snp: &mut SimpleNetwork) {
    let supported = ReceiveFlags::from_bits_truncate(snp.mode().receive_filter_mask);
    let wanted = ReceiveFlags::UNICAST | ReceiveFlags::BROADCAST;
    for flags in [
        wanted,
        wanted | ReceiveFlags::PROMISCUOUS_MULTICAST,
        ReceiveFlags::PROMISCUOUS,
        wanted & supported,
    ] {
        if flags.is_empty() {
            continue;
        }
        if snp
            .receive_filters(flags, ReceiveFlags::empty(), false, None)
            .is_ok()
        {
            return;
        }
    }
}

/// A received frame, in the SNP receive buffer or the native driver's.
pub struct SnpRxToken<'a>(&'a [u8]);

impl phy::RxToken for SnpRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.0)
    }
}

/// Permission to transmit one frame: from the SNP pool, or through the native driver.
pub enum SnpTxToken<'a> {
    /// Through SNP `Transmit`.
    Snp(SnpTx<'a>),
    /// Through netboot's own driver.
    Native(netboot_bios::virtio_net::VirtioTxToken<'a>),
}

/// A frame for SNP `Transmit`: the open protocol, the buffer pool and the counters.
pub struct SnpTx<'a> {
    snp: &'a mut SimpleNetwork,
    pool: &'a mut TxPool,
    stats: &'a mut SnpStats,
}

impl phy::TxToken for SnpTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let (snp, pool, stats) = match self {
            SnpTxToken::Snp(SnpTx { snp, pool, stats }) => (snp, pool, stats),
            SnpTxToken::Native(token) => return token.consume(len, f),
        };
        if pool.free_index().is_none() {
            pool.recycle(snp, stats);
        }
        let slot = pool.free_index().filter(|_| len <= TX_BUFFER);
        let Some(i) = slot else {
            // No buffer (only for the reply token of `receive`) or an oversized frame:
            // build it somewhere and drop it; the protocols retransmit.
            stats.tx_dropped += 1;
            return f(&mut vec![0u8; len]);
        };
        let buffer = &mut pool.buffers[i];
        let wire_len = len.max(MIN_FRAME);
        buffer.data[len..wire_len].fill(0);
        let result = f(&mut buffer.data[..len]);
        match snp.transmit(0, &mut buffer.data[..wire_len], None, None, None) {
            Ok(()) => {
                buffer.busy = true;
                stats.tx_frames += 1;
            }
            // NOT_READY: the driver's queue is full. Either way the frame is lost.
            Err(_) => stats.tx_dropped += 1,
        }
        result
    }
}

impl Device for SnpDevice {
    type RxToken<'a> = SnpRxToken<'a>;
    type TxToken<'a> = SnpTxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(SnpRxToken<'_>, SnpTxToken<'_>)> {
        if !self.ensure_open() {
            return None;
        }
        if let Some(native) = self.native.as_mut() {
            if !native.nic.recv_into(&mut self.native_rx) {
                return None;
            }
            self.stats.rx_frames += 1;
            return Some((
                SnpRxToken(&self.native_rx),
                SnpTxToken::Native(native.nic.tx_token()),
            ));
        }
        let snp = self.snp.as_deref_mut()?;
        if self.rx_burst >= RX_QUOTA {
            // End this poll's ingress; smoltcp transmits, and the next poll reads on.
            self.rx_burst = 0;
            return None;
        }
        let len = loop {
            match snp.receive(&mut self.rx, None, None, None, None) {
                Ok(len) => break len.min(self.rx.len()),
                // Too large for our buffer: the driver dropped it; look at the next one.
                Err(e) if e.status() == Status::BUFFER_TOO_SMALL => {
                    self.stats.rx_dropped += 1;
                }
                Err(e) => {
                    if e.status() != Status::NOT_READY {
                        self.stats.rx_dropped += 1;
                    }
                    // Queue empty: a good moment to take transmit buffers back.
                    self.rx_burst = 0;
                    self.tx.recycle(snp, &mut self.stats);
                    return None;
                }
            }
        };
        self.rx_burst += 1;
        self.stats.rx_frames += 1;
        Some((
            SnpRxToken(&self.rx[..len]),
            SnpTxToken::Snp(SnpTx {
                snp,
                pool: &mut self.tx,
                stats: &mut self.stats,
            }),
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<SnpTxToken<'_>> {
        if !self.ensure_open() {
            return None;
        }
        if let Some(native) = self.native.as_mut() {
            self.stats.tx_frames += 1;
            return native.nic.transmit(timestamp).map(SnpTxToken::Native);
        }
        let snp = self.snp.as_deref_mut()?;
        if self.tx.free_index().is_none() {
            self.tx.recycle(snp, &mut self.stats);
        }
        self.tx.free_index()?;
        Some(SnpTxToken::Snp(SnpTx {
            snp,
            pool: &mut self.tx,
            stats: &mut self.stats,
        }))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        if let Some(native) = &self.native {
            return native.nic.capabilities();
        }
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIC: &[u8] = &[1, 1, 6, 0, 0, 2, 3, 11, 8, 0, 1, 2, 3, 4, 0x7f, 0xff, 4, 0];
    const NIC_IPV4: &[u8] = &[
        1, 1, 6, 0, 0, 2, 3, 11, 8, 0, 1, 2, 3, 4, 3, 12, 4, 0, 0x7f, 0xff, 4, 0,
    ];
    const OTHER: &[u8] = &[1, 1, 6, 0, 0, 3, 3, 11, 8, 0, 9, 9, 9, 9, 0x7f, 0xff, 4, 0];

    #[test]
    fn a_replaced_nic_is_found_by_path_then_mac() {
        const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let seen = [
            (Some(OTHER.to_vec()), Some(MAC)),
            (Some(NIC.to_vec()), Some([2; 6])),
            (None, None),
        ];
        assert_eq!(pick_again(&seen, Some(NIC), MAC), Some(1));
        assert_eq!(pick_again(&seen, Some(NIC_IPV4), MAC), Some(0));
        assert_eq!(pick_again(&seen, None, MAC), Some(0));
        assert_eq!(pick_again(&seen, Some(NIC_IPV4), [9; 6]), None);
        assert_eq!(pick_again(&[], Some(NIC), MAC), None);
    }

    #[test]
    fn pxe_children_are_not_nics() {
        assert!(is_below(NIC_IPV4, NIC));
        assert!(!is_below(NIC, NIC_IPV4));
        assert!(!is_below(NIC, NIC));
        assert!(!is_below(OTHER, NIC));
        assert_eq!(
            top_level(&[Some(NIC_IPV4), Some(NIC), None, Some(OTHER)]),
            [1, 2, 3]
        );
        assert_eq!(top_level(&[Some(NIC), Some(NIC)]), [0, 1]);
    }
}
