//! The PXE API and a smoltcp network device over UNDI (platform-notes §2.10).
//!
//! The PXE calls go through the [`PxeCall`] trait, so the parameter-block handling and
//! the `UNDI_ISR` receive state machine ([`IsrDrain`]) are host-tested against a fake
//! ROM. The real implementation (`PxeApi`, `target_os = "none"`) calls the ROM through
//! the real-mode thunk with the parameter block in base memory.

use crate::pxe::FarPtr;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// PXE opcodes used here.
pub mod opcode {
    /// UNDI_CLEANUP.
    pub const UNDI_CLEANUP: u16 = 0x0002;
    /// UNDI_SHUTDOWN: stop the NIC.
    pub const UNDI_SHUTDOWN: u16 = 0x0005;
    /// UNDI_OPEN: enable receive with a packet filter.
    pub const UNDI_OPEN: u16 = 0x0006;
    /// UNDI_CLOSE.
    pub const UNDI_CLOSE: u16 = 0x0007;
    /// UNDI_TRANSMIT.
    pub const UNDI_TRANSMIT: u16 = 0x0008;
    /// UNDI_GET_INFORMATION: MAC address, MTU.
    pub const UNDI_GET_INFORMATION: u16 = 0x000C;
    /// UNDI_ISR: interrupt service / polled receive.
    pub const UNDI_ISR: u16 = 0x0014;
    /// STOP_UNDI.
    pub const STOP_UNDI: u16 = 0x0015;
    /// UNLOAD_STACK.
    pub const UNLOAD_STACK: u16 = 0x0070;
    /// GET_CACHED_INFO: the ROM's DHCP packets.
    pub const GET_CACHED_INFO: u16 = 0x0071;
    /// iPXE extension FILE_API_CHECK: identifies iPXE.
    pub const FILE_API_CHECK: u16 = 0x00E6;
}

/// `UNDI_ISR` FuncFlag values (in).
pub mod isr {
    /// Start interrupt processing ("is it ours?").
    pub const IN_START: u16 = 1;
    /// Begin processing events.
    pub const IN_PROCESS: u16 = 2;
    /// Next event.
    pub const IN_GET_NEXT: u16 = 3;
    /// Out: no more events.
    pub const OUT_DONE: u16 = 0;
    /// Out: a transmission completed.
    pub const OUT_TRANSMIT: u16 = 2;
    /// Out: a frame (or a fragment of one) was received.
    pub const OUT_RECEIVE: u16 = 3;
    /// Out: the UNDI is busy.
    pub const OUT_BUSY: u16 = 4;
}

/// `UNDI_OPEN` packet filter: directed frames.
pub const FLTR_DIRECTED: u16 = 0x0001;
/// `UNDI_OPEN` packet filter: broadcast frames.
pub const FLTR_BRDCST: u16 = 0x0002;
/// `GET_CACHED_INFO` packet type of the DHCP ACK.
pub const PACKET_DHCPACK: u16 = 2;
/// The largest Ethernet frame handled (without FCS).
pub const MAX_FRAME: usize = 1514;
/// Frames shorter than this are padded with zeros before transmission.
pub const MIN_FRAME: usize = 60;
/// iPXE's `FILE_API_CHECK` answer.
pub const IPXE_API_MAGIC: u32 = 0xE9C1_7B20;
/// What `FILE_API_CHECK` is called with.
pub const IPXE_API_QUERY: u32 = 0x91D4_47B2;

/// A failed PXE call: the exit code in AX and the parameter block's Status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PxeError {
    /// The opcode called.
    pub opcode: u16,
    /// AX on return (0 = success).
    pub exit: u16,
    /// The Status word of the parameter block.
    pub status: u16,
}

impl fmt::Display for PxeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PXE call {:#06x} failed (exit {:#x}, status {:#06x})",
            self.opcode, self.exit, self.status
        )
    }
}

/// Access to a PXE ROM's API.
pub trait PxeCall {
    /// Calls `opcode` with the parameter block `block` (copied to base memory and back).
    /// Sub-structures the block points to must be addressed relative to
    /// [`PxeCall::param_base`].
    fn call(&mut self, opcode: u16, block: &mut [u8]) -> Result<(), PxeError>;
    /// The real-mode address (segment, offset) of byte 0 of the parameter block during
    /// a call.
    fn param_base(&self) -> (u16, u16);
    /// Copies `out.len()` bytes from base-memory linear address `linear`; `false` if the
    /// range is not readable.
    fn read(&self, linear: u32, out: &mut [u8]) -> bool;
    /// Puts `frame` in the base-memory transmit buffer; returns its (segment, offset),
    /// or `None` if it does not fit.
    fn stage_tx(&mut self, frame: &[u8]) -> Option<(u16, u16)>;
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn far(seg: u16, off: u16) -> u32 {
    (u32::from(seg) << 16) | u32::from(off)
}

/// `UNDI_GET_INFORMATION`: (current MAC, MTU).
pub fn get_information(api: &mut impl PxeCall) -> Result<([u8; 6], u16), PxeError> {
    let mut b = [0u8; 50];
    api.call(opcode::UNDI_GET_INFORMATION, &mut b)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&b[12..18]);
    Ok((mac, get16(&b, 6)))
}

/// `GET_CACHED_INFO` for `packet_type`: a copy of the ROM's own packet.
pub fn get_cached_info(api: &mut impl PxeCall, packet_type: u16) -> Result<Vec<u8>, PxeError> {
    let mut b = [0u8; 12];
    put16(&mut b, 2, packet_type);
    api.call(opcode::GET_CACHED_INFO, &mut b)?;
    let size = usize::from(get16(&b, 4));
    let ptr = FarPtr(get32(&b, 6));
    let mut packet = vec![0u8; size];
    if size == 0 || !api.read(ptr.linear(), &mut packet) {
        return Err(PxeError {
            opcode: opcode::GET_CACHED_INFO,
            exit: 0,
            status: 0xFFFF,
        });
    }
    Ok(packet)
}

/// The client hardware address (`chaddr`) of a BOOTP/DHCP packet, if Ethernet.
pub fn dhcp_chaddr(packet: &[u8]) -> Option<[u8; 6]> {
    if packet.get(1) != Some(&1) || packet.get(2) != Some(&6) {
        return None;
    }
    packet.get(28..34)?.try_into().ok()
}

/// `UNDI_OPEN` with the directed + broadcast filter.
pub fn open(api: &mut impl PxeCall) -> Result<(), PxeError> {
    let mut b = [0u8; 56];
    put16(&mut b, 4, FLTR_DIRECTED | FLTR_BRDCST);
    api.call(opcode::UNDI_OPEN, &mut b)
}

/// iPXE's `FILE_API_CHECK`: whether the ROM is iPXE.
pub fn is_ipxe(api: &mut impl PxeCall) -> bool {
    let mut b = [0u8; 20];
    put16(&mut b, 2, 20);
    put32(&mut b, 4, IPXE_API_QUERY);
    api.call(opcode::FILE_API_CHECK, &mut b).is_ok() && get32(&b, 4) == IPXE_API_MAGIC
}

/// A call whose parameter block is the Status word plus `len - 2` zero bytes.
pub fn simple(api: &mut impl PxeCall, op: u16, len: usize) -> Result<(), PxeError> {
    let mut b = [0u8; 16];
    api.call(op, &mut b[..len.clamp(2, 16)])
}

/// Offset of the transmit buffer descriptor inside the `UNDI_TRANSMIT` block.
const TBD_AT: usize = 32;

/// `UNDI_TRANSMIT` of a whole Ethernet frame (protocol `P_UNKNOWN`: the frame carries
/// its own header), padded to [`MIN_FRAME`], from the base-memory bounce buffer.
pub fn transmit(api: &mut impl PxeCall, frame: &[u8]) -> Result<(), PxeError> {
    let too_big = PxeError {
        opcode: opcode::UNDI_TRANSMIT,
        exit: 1,
        status: 0xFFFF,
    };
    if frame.len() > MAX_FRAME {
        return Err(too_big);
    }
    let mut padded = [0u8; MIN_FRAME];
    let wire: &[u8] = if frame.len() < MIN_FRAME {
        padded[..frame.len()].copy_from_slice(frame);
        &padded
    } else {
        frame
    };
    let (seg, off) = api.stage_tx(wire).ok_or(too_big)?;
    let (pseg, poff) = api.param_base();
    let mut b = [0u8; TBD_AT + 8];
    b[2] = 0; // P_UNKNOWN
    b[3] = 0; // XMT_DESTADDR (ignored with P_UNKNOWN)
    put32(&mut b, 4, far(seg, off)); // DestAddr: the frame's own destination MAC
    put32(&mut b, 8, far(pseg, poff.wrapping_add(TBD_AT as u16)));
    put16(&mut b, TBD_AT, wire.len() as u16); // ImmedLength
    put32(&mut b, TBD_AT + 2, far(seg, off)); // Xmit
    put16(&mut b, TBD_AT + 6, 0); // DataBlkCount
    api.call(opcode::UNDI_TRANSMIT, &mut b)
}

/// Counters of the receive path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IsrStats {
    /// Complete frames delivered.
    pub frames: u64,
    /// Transmit completions seen.
    pub tx_done: u64,
    /// Frames dropped: bad lengths, unreadable buffers, full queue, aborted fragments.
    pub dropped: u64,
    /// Failed `UNDI_ISR` calls.
    pub errors: u64,
}

/// The polled `UNDI_ISR` receive loop, as iPXE's `undinet_poll` runs it: `IN_PROCESS`
/// starts a round, `IN_GET_NEXT` continues it until `OUT_DONE`; a round cut short by the
/// quota continues at the next poll. Fragments are copied out at once and joined.
#[derive(Debug, Default)]
pub struct IsrDrain {
    processing: bool,
    /// Counters.
    pub stats: IsrStats,
}

/// `UNDI_ISR` parameter block length.
const ISR_BLOCK: usize = 16;

impl IsrDrain {
    /// Runs the loop until `quota` complete frames were received, the round ended or a
    /// call failed. Frames are appended to `rx` unless it already holds `rx_limit`.
    /// Returns the number of frames appended.
    pub fn poll(
        &mut self,
        api: &mut impl PxeCall,
        quota: usize,
        rx: &mut VecDeque<Vec<u8>>,
        rx_limit: usize,
    ) -> usize {
        let mut func = if self.processing {
            isr::IN_GET_NEXT
        } else {
            isr::IN_PROCESS
        };
        self.processing = true;
        let mut got = 0;
        let mut partial: Option<Vec<u8>> = None;
        while got < quota {
            let mut b = [0u8; ISR_BLOCK];
            put16(&mut b, 2, func);
            if api.call(opcode::UNDI_ISR, &mut b).is_err() {
                self.stats.errors += 1;
                self.processing = false;
                break;
            }
            func = isr::IN_GET_NEXT;
            match get16(&b, 2) {
                isr::OUT_TRANSMIT => self.stats.tx_done += 1,
                isr::OUT_RECEIVE => {
                    let frame_len = usize::from(get16(&b, 6));
                    let frag_len = usize::from(get16(&b, 4));
                    let at = FarPtr(get32(&b, 10)).linear();
                    if frame_len == 0 || frame_len < frag_len || frame_len > MAX_FRAME + 4 {
                        self.stats.dropped += 1;
                        partial = None;
                        continue;
                    }
                    let buf = partial.get_or_insert_with(|| Vec::with_capacity(frame_len));
                    let have = buf.len();
                    if have + frag_len > frame_len {
                        self.stats.dropped += 1;
                        partial = None;
                        continue;
                    }
                    buf.resize(have + frag_len, 0);
                    if !api.read(at, &mut buf[have..]) {
                        self.stats.dropped += 1;
                        partial = None;
                        continue;
                    }
                    if buf.len() == frame_len {
                        let frame = partial.take().unwrap_or_default();
                        got += 1;
                        if rx.len() < rx_limit {
                            rx.push_back(frame);
                            self.stats.frames += 1;
                        } else {
                            self.stats.dropped += 1;
                        }
                    }
                }
                // OUT_DONE ends the round; OUT_BUSY or anything else (VMware's UNDI
                // sometimes returns 0 status words) also ends it, as in iPXE.
                _ => {
                    self.processing = false;
                    break;
                }
            }
        }
        if partial.is_some() {
            self.stats.dropped += 1;
        }
        got
    }
}

#[cfg(target_os = "none")]
pub use nic::{PxeApi, PxeEntry, UndiNic, UndiRxToken, UndiTxToken};

#[cfg(target_os = "none")]
mod nic {
    use super::*;
    use crate::realmode::{self, RmRegs};
    use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
    use smoltcp::time::Instant;

    /// How the PXE API is entered.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PxeEntry {
        /// `!PXE` EntryPointSP: opcode and parameter pointer on the stack.
        BangPxe(FarPtr),
        /// `PXENV+` RMEntry: BX = opcode, ES:DI = parameter block.
        Pxenv(FarPtr),
    }

    /// The PXE ROM's API through the real-mode thunk.
    #[derive(Debug)]
    pub struct PxeApi {
        entry: PxeEntry,
    }

    impl PxeApi {
        /// Uses `entry`.
        ///
        /// # Safety
        ///
        /// `entry` must be a validated PXE entry point of the ROM that loaded us, and the
        /// environment that of [`realmode::call`].
        pub unsafe fn new(entry: PxeEntry) -> Self {
            Self { entry }
        }

        /// The entry point in use.
        pub fn entry(&self) -> PxeEntry {
            self.entry
        }
    }

    impl PxeCall for PxeApi {
        fn call(&mut self, opcode: u16, block: &mut [u8]) -> Result<(), PxeError> {
            let (seg, off) = self.param_base();
            // SAFETY: single CPU, no call in progress.
            unsafe { realmode::write_param(block) };
            let mut regs = RmRegs {
                ebx: u32::from(opcode),
                edi: u32::from(off),
                es: seg,
                ..RmRegs::default()
            };
            match self.entry {
                PxeEntry::BangPxe(p) => {
                    regs.target = p.0;
                    regs.stack_words = 3;
                    regs.stack[0] = opcode;
                    regs.stack[1] = off;
                    regs.stack[2] = seg;
                }
                PxeEntry::Pxenv(p) => regs.target = p.0,
            }
            // SAFETY: the entry was validated (`new`); the block is in base memory.
            unsafe { realmode::call(&mut regs) };
            // SAFETY: as above.
            unsafe { realmode::read_param(block) };
            let exit = regs.eax as u16;
            let status = if block.len() >= 2 { get16(block, 0) } else { 0 };
            if exit == 0 && status == 0 {
                Ok(())
            } else {
                Err(PxeError {
                    opcode,
                    exit,
                    status,
                })
            }
        }

        fn param_base(&self) -> (u16, u16) {
            realmode::seg_off(realmode::param_addr()).unwrap_or((0, 0))
        }

        fn read(&self, linear: u32, out: &mut [u8]) -> bool {
            let end = u64::from(linear) + out.len() as u64;
            if linear == 0 || end > 0x11_0000 {
                return false;
            }
            // SAFETY: base memory (and the HMA) is identity mapped and readable; the
            // range is not null and below 1 MiB + 64 KiB.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    linear as usize as *const u8,
                    out.as_mut_ptr(),
                    out.len(),
                )
            };
            true
        }

        fn stage_tx(&mut self, frame: &[u8]) -> Option<(u16, u16)> {
            if frame.len() > realmode::TX_BUFFER_SIZE {
                return None;
            }
            // SAFETY: single CPU, no call in progress.
            unsafe { realmode::write_txbuf(frame) };
            realmode::seg_off(realmode::txbuf_addr())
        }
    }

    /// Frames kept between polls.
    const RX_QUEUE: usize = 64;
    /// Complete frames fetched per `UNDI_ISR` round.
    const RX_QUOTA: usize = 8;

    /// A smoltcp Ethernet device over the PXE ROM's UNDI.
    #[derive(Debug)]
    pub struct UndiNic {
        api: PxeApi,
        mac: [u8; 6],
        mtu: usize,
        drain: IsrDrain,
        rx: VecDeque<Vec<u8>>,
        tx_frames: u64,
        tx_errors: u64,
        ipxe: bool,
        cached_dhcpack: Option<Vec<u8>>,
        shut_down: bool,
    }

    impl UndiNic {
        /// Reads the MAC address and the cached DHCP ACK, identifies iPXE and opens UNDI
        /// for directed and broadcast frames.
        pub fn open(mut api: PxeApi) -> Result<Self, PxeError> {
            let cached_dhcpack = get_cached_info(&mut api, PACKET_DHCPACK).ok();
            let info = get_information(&mut api);
            let (mac, mtu) = match (info, cached_dhcpack.as_deref().and_then(dhcp_chaddr)) {
                (Ok((mac, mtu)), _) if mac != [0; 6] => (mac, mtu),
                (_, Some(mac)) => (mac, 1500),
                (Err(e), None) => return Err(e),
                (Ok((mac, mtu)), None) => (mac, mtu),
            };
            let ipxe = is_ipxe(&mut api);
            // Already open on most ROMs after loading an NBP; a failure is not fatal.
            let _ = open(&mut api);
            let mtu = if (576..=1500).contains(&mtu) {
                usize::from(mtu)
            } else {
                1500
            };
            Ok(Self {
                api,
                mac,
                mtu,
                drain: IsrDrain::default(),
                rx: VecDeque::new(),
                tx_frames: 0,
                tx_errors: 0,
                ipxe,
                cached_dhcpack,
                shut_down: false,
            })
        }

        /// The MAC address.
        pub fn mac(&self) -> [u8; 6] {
            self.mac
        }

        /// Whether the PXE ROM is iPXE (`FILE_API_CHECK` answered).
        pub fn is_ipxe(&self) -> bool {
            self.ipxe
        }

        /// The ROM's cached DHCP ACK (`GET_CACHED_INFO`), if it gave one.
        pub fn cached_dhcpack(&self) -> Option<&[u8]> {
            self.cached_dhcpack.as_deref()
        }

        /// The PXE API in use.
        pub fn api(&self) -> &PxeApi {
            &self.api
        }

        /// Receive counters, plus (frames sent, transmit errors).
        pub fn stats(&self) -> (IsrStats, u64, u64) {
            (self.drain.stats, self.tx_frames, self.tx_errors)
        }

        /// Stops the NIC and unloads the PXE stack before an OS takes over:
        /// `UNDI_SHUTDOWN`, `UNLOAD_STACK`, and `STOP_UNDI` unless the ROM is iPXE.
        /// Returns the failures (all calls are attempted). Idempotent.
        pub fn shutdown(&mut self) -> Vec<PxeError> {
            let mut failed = Vec::new();
            if self.shut_down {
                return failed;
            }
            self.shut_down = true;
            self.rx.clear();
            let mut calls = vec![(opcode::UNDI_SHUTDOWN, 2), (opcode::UNLOAD_STACK, 12)];
            if !self.ipxe {
                calls.push((opcode::STOP_UNDI, 2));
            }
            for (op, len) in calls {
                if let Err(e) = simple(&mut self.api, op, len) {
                    failed.push(e);
                }
            }
            failed
        }

        /// Ends netboot's use of UNDI before another PXE boot program takes the stack
        /// over (`chain undionly.kpxe`): `UNDI_CLOSE` only, so the stack stays started
        /// and initialised, as the ROM handed it to netboot. Nothing is sent or
        /// received afterwards.
        pub fn close_for_nbp(&mut self) -> Vec<PxeError> {
            let mut failed = Vec::new();
            if self.shut_down {
                return failed;
            }
            self.shut_down = true;
            self.rx.clear();
            if let Err(e) = simple(&mut self.api, opcode::UNDI_CLOSE, 2) {
                failed.push(e);
            }
            failed
        }

        fn fill(&mut self) {
            if self.rx.is_empty() && !self.shut_down {
                self.drain
                    .poll(&mut self.api, RX_QUOTA, &mut self.rx, RX_QUEUE);
            }
        }
    }

    /// A received frame.
    pub struct UndiRxToken {
        frame: Vec<u8>,
    }

    impl phy::RxToken for UndiRxToken {
        fn consume<R, F>(self, f: F) -> R
        where
            F: FnOnce(&[u8]) -> R,
        {
            f(&self.frame)
        }
    }

    /// Permission to transmit one frame.
    pub struct UndiTxToken<'a> {
        nic: &'a mut UndiNic,
    }

    impl phy::TxToken for UndiTxToken<'_> {
        fn consume<R, F>(self, len: usize, f: F) -> R
        where
            F: FnOnce(&mut [u8]) -> R,
        {
            let mut frame = [0u8; MAX_FRAME];
            let Some(buf) = frame.get_mut(..len) else {
                self.nic.tx_errors += 1;
                return f(&mut vec![0u8; len]);
            };
            let result = f(buf);
            if self.nic.shut_down {
                self.nic.tx_errors += 1;
            } else {
                match transmit(&mut self.nic.api, &frame[..len]) {
                    Ok(()) => self.nic.tx_frames += 1,
                    Err(_) => self.nic.tx_errors += 1,
                }
            }
            result
        }
    }

    impl Device for UndiNic {
        type RxToken<'a> = UndiRxToken;
        type TxToken<'a> = UndiTxToken<'a>;

        fn receive(
            &mut self,
            _timestamp: Instant,
        ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
            self.fill();
            let frame = self.rx.pop_front()?;
            Some((UndiRxToken { frame }, UndiTxToken { nic: self }))
        }

        fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
            (!self.shut_down).then_some(UndiTxToken { nic: self })
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = self.mtu + 14;
            caps.max_burst_size = Some(RX_QUEUE);
            caps
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A fake ROM: scripted ISR answers, a base-memory image, recorded calls.
    #[derive(Default)]
    struct FakeRom {
        memory: BTreeMap<u32, Vec<u8>>,
        isr: VecDeque<(u16, u16, u16, u32)>, // FuncFlag, BufferLength, FrameLength, Frame
        calls: Vec<(u16, Vec<u8>)>,
        fail: Option<u16>,
        tx: Vec<u8>,
    }

    impl PxeCall for FakeRom {
        fn call(&mut self, opcode: u16, block: &mut [u8]) -> Result<(), PxeError> {
            self.calls.push((opcode, block.to_vec()));
            if self.fail == Some(opcode) {
                put16(block, 0, 0x61);
                return Err(PxeError {
                    opcode,
                    exit: 1,
                    status: 0x61,
                });
            }
            match opcode {
                opcode::UNDI_ISR => {
                    let (flag, buf, frame, ptr) =
                        self.isr.pop_front().unwrap_or((isr::OUT_DONE, 0, 0, 0));
                    put16(block, 2, flag);
                    put16(block, 4, buf);
                    put16(block, 6, frame);
                    put32(block, 10, ptr);
                }
                opcode::UNDI_GET_INFORMATION => {
                    put16(block, 6, 1500);
                    block[12..18].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
                }
                opcode::GET_CACHED_INFO => {
                    put16(block, 4, 300);
                    put32(block, 6, 0x9C48_1000);
                }
                opcode::FILE_API_CHECK => put32(block, 4, IPXE_API_MAGIC),
                _ => {}
            }
            Ok(())
        }
        fn param_base(&self) -> (u16, u16) {
            (0x0000, 0x8000)
        }
        fn read(&self, linear: u32, out: &mut [u8]) -> bool {
            self.memory.iter().any(|(base, data)| {
                let Some(start) = linear.checked_sub(*base) else {
                    return false;
                };
                match data.get(start as usize..start as usize + out.len()) {
                    Some(src) => {
                        out.copy_from_slice(src);
                        true
                    }
                    None => false,
                }
            })
        }
        fn stage_tx(&mut self, frame: &[u8]) -> Option<(u16, u16)> {
            self.tx = frame.to_vec();
            Some((0x0000, 0x9000))
        }
    }

    fn rom_with_buffer() -> FakeRom {
        let mut rom = FakeRom::default();
        let data: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
        rom.memory.insert(0x9C480, data);
        rom
    }

    #[test]
    fn drains_frames_and_joins_fragments() {
        let mut rom = rom_with_buffer();
        rom.isr.extend([
            (isr::OUT_TRANSMIT, 0, 0, 0),
            (isr::OUT_RECEIVE, 60, 60, 0x9C48_0000),
            (isr::OUT_RECEIVE, 1000, 1400, 0x9C48_0010), // fragment 1 of 2
            (isr::OUT_RECEIVE, 400, 1400, 0x9C48_0020),  // fragment 2 of 2
            (isr::OUT_DONE, 0, 0, 0),
        ]);
        let mut drain = IsrDrain::default();
        let mut rx = VecDeque::new();
        assert_eq!(drain.poll(&mut rom, 8, &mut rx, 64), 2);
        assert_eq!(rx.len(), 2);
        assert_eq!(rx[0].len(), 60);
        assert_eq!(rx[0][0], 0);
        assert_eq!(rx[1].len(), 1400);
        assert_eq!(rx[1][0], 16);
        assert_eq!(
            rx[1][1000], 32,
            "second fragment copied from its own buffer"
        );
        assert_eq!(drain.stats.tx_done, 1);
        let flags: Vec<u16> = rom.calls.iter().map(|(_, b)| get16(b, 2)).collect();
        assert_eq!(
            flags,
            [
                isr::IN_PROCESS,
                isr::IN_GET_NEXT,
                isr::IN_GET_NEXT,
                isr::IN_GET_NEXT,
                isr::IN_GET_NEXT
            ]
        );
        // The round ended: the next poll starts a new one.
        rom.calls.clear();
        assert_eq!(drain.poll(&mut rom, 8, &mut rx, 64), 0);
        assert_eq!(get16(&rom.calls[0].1, 2), isr::IN_PROCESS);
    }

    #[test]
    fn quota_continues_the_round_next_time() {
        let mut rom = rom_with_buffer();
        for _ in 0..5 {
            rom.isr.push_back((isr::OUT_RECEIVE, 64, 64, 0x9C48_0000));
        }
        let mut drain = IsrDrain::default();
        let mut rx = VecDeque::new();
        assert_eq!(drain.poll(&mut rom, 3, &mut rx, 64), 3);
        rom.calls.clear();
        assert_eq!(drain.poll(&mut rom, 3, &mut rx, 4), 2);
        assert_eq!(get16(&rom.calls[0].1, 2), isr::IN_GET_NEXT);
        assert_eq!(rx.len(), 4, "queue limit");
        assert_eq!(drain.stats.dropped, 1);
    }

    #[test]
    fn bad_lengths_errors_and_busy_are_handled() {
        let mut rom = rom_with_buffer();
        rom.isr.extend([
            (isr::OUT_RECEIVE, 100, 50, 0x9C48_0000), // fragment longer than frame
            (isr::OUT_RECEIVE, 0, 0, 0x9C48_0000),    // empty
            (isr::OUT_RECEIVE, 64, 64, 0x1000_0000),  // unreadable
            (isr::OUT_BUSY, 0, 0, 0),
        ]);
        let mut drain = IsrDrain::default();
        let mut rx = VecDeque::new();
        assert_eq!(drain.poll(&mut rom, 8, &mut rx, 64), 0);
        assert_eq!(drain.stats.dropped, 3);
        // A fragment left over when the round ends is dropped.
        rom.isr.extend([
            (isr::OUT_RECEIVE, 10, 100, 0x9C48_0000),
            (isr::OUT_DONE, 0, 0, 0),
        ]);
        assert_eq!(drain.poll(&mut rom, 8, &mut rx, 64), 0);
        assert_eq!(drain.stats.dropped, 4);
        rom.fail = Some(opcode::UNDI_ISR);
        assert_eq!(drain.poll(&mut rom, 8, &mut rx, 64), 0);
        assert_eq!(drain.stats.errors, 1);
    }

    #[test]
    fn transmit_builds_block_and_tbd() {
        let mut rom = FakeRom::default();
        let frame = [0xFFu8; 42];
        transmit(&mut rom, &frame).expect("sent");
        assert_eq!(rom.tx.len(), MIN_FRAME, "padded");
        assert_eq!(&rom.tx[..42], &frame[..]);
        let (op, b) = &rom.calls[0];
        assert_eq!(*op, opcode::UNDI_TRANSMIT);
        assert_eq!(b[2], 0, "P_UNKNOWN");
        assert_eq!(get32(b, 8), far(0, 0x8000 + TBD_AT as u16), "TBD pointer");
        assert_eq!(get16(b, TBD_AT), 60);
        assert_eq!(get32(b, TBD_AT + 2), far(0, 0x9000));
        assert!(transmit(&mut rom, &[0u8; 1515]).is_err());
    }

    #[test]
    fn information_cached_info_and_ipxe_check() {
        let mut rom = FakeRom::default();
        let mut ack = std::vec![0u8; 300];
        ack[0] = 2;
        ack[1] = 1;
        ack[2] = 6;
        ack[28..34].copy_from_slice(&[0x52, 0x54, 0, 0xAA, 0xBB, 0xCC]);
        rom.memory.insert(0x9D480, ack);
        let (mac, mtu) = get_information(&mut rom).expect("info");
        assert_eq!((mac, mtu), ([0x52, 0x54, 0, 0x12, 0x34, 0x56], 1500));
        let packet = get_cached_info(&mut rom, PACKET_DHCPACK).expect("cached");
        assert_eq!(
            dhcp_chaddr(&packet),
            Some([0x52, 0x54, 0, 0xAA, 0xBB, 0xCC])
        );
        assert_eq!(dhcp_chaddr(&[0; 10]), None);
        assert!(is_ipxe(&mut rom));
        rom.fail = Some(opcode::FILE_API_CHECK);
        assert!(!is_ipxe(&mut rom));
        open(&mut rom).expect("open");
        assert_eq!(get16(&rom.calls.last().expect("call").1, 4), 3);
        rom.fail = Some(opcode::UNDI_SHUTDOWN);
        let e = simple(&mut rom, opcode::UNDI_SHUTDOWN, 2).expect_err("fails");
        assert_eq!(e.status, 0x61);
        assert!(std::format!("{e}").contains("0x0005"));
    }
}
