//! TCP and UDP checksums of received frames, verified before smoltcp sees them.
//!
//! smoltcp sums 16-bit words one at a time; a download spends most of its instructions
//! there (measured with callgrind on the in-process HTTP bench: about half of the
//! client's). [`Verified`] wraps a NIC so that TCP and UDP checksums are checked here,
//! eight bytes per addition, and tells smoltcp not to check them again. Frames that fail
//! are dropped before smoltcp parses them, as smoltcp itself would drop them; everything
//! else (ARP, IPv4 header checksums, ICMP, transmit checksums) stays with smoltcp.

use smoltcp::phy::{Checksum, Device, DeviceCapabilities, RxToken};
use smoltcp::time::Instant;

/// The 16-bit ones'-complement sum (RFC 1071) of `data` added to `acc`, not yet
/// complemented, in network byte order.
pub fn ones_complement_sum(data: &[u8], acc: u16) -> u16 {
    // Native-endian words sum to the byte-swapped network-order sum (RFC 1071 §2(B)):
    // add eight bytes at a time with end-around carry, then fold.
    let mut sum = u64::from(u16::from_be(acc));
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let (s, carry) = sum.overflowing_add(w);
        sum = s + u64::from(carry);
    }
    let rest = words.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let (s, carry) = sum.overflowing_add(u64::from_ne_bytes(tail));
    sum = s + u64::from(carry);
    let mut folded = (sum & 0xffff_ffff) + (sum >> 32);
    folded = (folded & 0xffff) + (folded >> 16);
    folded = (folded & 0xffff) + (folded >> 16);
    folded = (folded & 0xffff) + (folded >> 16);
    u16::from_be(folded as u16)
}

/// Whether an Ethernet frame's TCP or UDP checksum is right. Frames that carry neither,
/// or that smoltcp will reject for other reasons (truncated, fragmented), pass: the
/// decision about those stays with smoltcp.
pub fn l4_checksum_ok(frame: &[u8]) -> bool {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    if frame.len() < 14 + 20 || frame[12..14] != ETHERTYPE_IPV4 {
        return true;
    }
    let ip = &frame[14..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    let protocol = ip[9];
    if ip[0] >> 4 != 4
        || header_len < 20
        || total_len < header_len
        || total_len > ip.len()
        || fragmented
        || !(protocol == 6 || protocol == 17)
    {
        return true;
    }
    let segment = &ip[header_len..total_len];
    if protocol == 17 && segment.len() >= 8 && segment[6..8] == [0, 0] {
        // A UDP datagram sent without a checksum.
        return true;
    }
    let Ok(len) = u16::try_from(segment.len()) else {
        return true;
    };
    // Pseudo-header: source and destination address, protocol, length.
    let mut pseudo = [0u8; 12];
    pseudo[..8].copy_from_slice(&ip[12..20]);
    pseudo[9] = protocol;
    pseudo[10..].copy_from_slice(&len.to_be_bytes());
    let sum = ones_complement_sum(segment, ones_complement_sum(&pseudo, 0));
    sum == 0xffff
}

/// A NIC whose received TCP and UDP checksums are verified by [`l4_checksum_ok`] instead
/// of by smoltcp (see the module docs).
pub struct Verified<'a, D: Device>(pub &'a mut D);

/// The receive token of [`Verified`].
pub struct VerifiedRx<T: RxToken> {
    inner: T,
    verify: bool,
}

/// Whether smoltcp would verify received checksums with `c`, and what it should do
/// once they are verified here.
fn take_rx(c: Checksum) -> (bool, Checksum) {
    match c {
        Checksum::Both => (true, Checksum::Tx),
        Checksum::Rx => (true, Checksum::None),
        other => (false, other),
    }
}

impl<D: Device> Device for Verified<'_, D> {
    type RxToken<'b>
        = VerifiedRx<D::RxToken<'b>>
    where
        Self: 'b;
    type TxToken<'b>
        = D::TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let caps = self.0.capabilities().checksum;
        let verify = take_rx(caps.tcp).0 || take_rx(caps.udp).0;
        self.0
            .receive(timestamp)
            .map(|(inner, tx)| (VerifiedRx { inner, verify }, tx))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.0.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.0.capabilities();
        caps.checksum.tcp = take_rx(caps.checksum.tcp).1;
        caps.checksum.udp = take_rx(caps.checksum.udp).1;
        caps
    }
}

impl<T: RxToken> RxToken for VerifiedRx<T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let verify = self.verify;
        self.inner.consume(|frame| {
            if !verify || l4_checksum_ok(frame) {
                f(frame)
            } else {
                // An empty frame is not Ethernet: smoltcp drops it, as it would the bad
                // checksum.
                f(&[])
            }
        })
    }

    fn meta(&self) -> smoltcp::phy::PacketMeta {
        self.inner.meta()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol,
        Ipv4Address, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
    };

    /// The straightforward RFC 1071 sum, one big-endian word at a time.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut sum = 0u32;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            sum += hi | lo;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn sum_matches_reference_for_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + 7) as u8).collect();
        for start in 0..9 {
            for len in 0..200 {
                let d = &data[start..start + len];
                assert_eq!(ones_complement_sum(d, 0), reference_sum(d), "{start}+{len}");
            }
        }
        assert_eq!(ones_complement_sum(&[0xff; 64], 0), 0xffff);
        // The accumulator chains sums of even-length pieces.
        let (a, b) = data.split_at(100);
        assert_eq!(
            ones_complement_sum(b, ones_complement_sum(a, 0)),
            reference_sum(&data)
        );
    }

    const SRC: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
    const DST: Ipv4Address = Ipv4Address::new(192, 0, 2, 100);

    /// An Ethernet frame with an IPv4 header around `l4` (already emitted), padded to
    /// the Ethernet minimum as a NIC delivers it.
    fn frame(protocol: IpProtocol, emit: impl FnOnce(&mut [u8]), l4_len: usize) -> Vec<u8> {
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 0x64]),
            ethertype: EthernetProtocol::Ipv4,
        };
        let ip = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            next_header: protocol,
            payload_len: l4_len,
            hop_limit: 64,
        };
        let mut buf = vec![0u8; (14 + 20 + l4_len).max(60)];
        let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
        ip.emit(&mut p, &ChecksumCapabilities::default());
        emit(p.payload_mut());
        buf
    }

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 49152,
            control: smoltcp::wire::TcpControl::Psh,
            seq_number: TcpSeqNumber(1000),
            ack_number: Some(TcpSeqNumber(2000)),
            window_len: 4096,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let len = repr.buffer_len();
        frame(
            IpProtocol::Tcp,
            |b| {
                repr.emit(
                    &mut TcpPacket::new_unchecked(b),
                    &IpAddress::Ipv4(SRC),
                    &IpAddress::Ipv4(DST),
                    &ChecksumCapabilities::default(),
                )
            },
            len,
        )
    }

    fn udp_frame(payload: &[u8], checksum: bool) -> Vec<u8> {
        let repr = UdpRepr {
            src_port: 69,
            dst_port: 49152,
        };
        let mut caps = ChecksumCapabilities::default();
        if !checksum {
            caps.udp = Checksum::None;
        }
        frame(
            IpProtocol::Udp,
            |b| {
                repr.emit(
                    &mut UdpPacket::new_unchecked(b),
                    &IpAddress::Ipv4(SRC),
                    &IpAddress::Ipv4(DST),
                    payload.len(),
                    |p| p.copy_from_slice(payload),
                    &caps,
                )
            },
            8 + payload.len(),
        )
    }

    #[test]
    fn good_segments_pass_and_any_flipped_bit_fails() {
        for len in [0, 1, 7, 8, 9, 100, 1460] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            for good in [tcp_frame(&payload), udp_frame(&payload, true)] {
                assert!(l4_checksum_ok(&good), "len {len}");
                // A flip anywhere in the IPv4 addresses or the segment breaks the sum.
                for at in (14 + 12..good.len().min(14 + 20 + 8 + len)).step_by(3) {
                    let mut bad = good.clone();
                    bad[at] ^= 0x10;
                    assert!(!l4_checksum_ok(&bad), "len {len}: flip at {at} passed");
                }
            }
        }
    }

    #[test]
    fn frames_that_are_not_ours_to_judge_pass() {
        // UDP without a checksum, ARP, short and truncated frames, fragments.
        let mut no_sum = udp_frame(b"hello", false);
        assert!(l4_checksum_ok(&no_sum));
        no_sum[14 + 20 + 8] ^= 1;
        assert!(l4_checksum_ok(&no_sum));
        assert!(l4_checksum_ok(&[]));
        let mut arp = tcp_frame(b"x");
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp[40] ^= 0xff;
        assert!(l4_checksum_ok(&arp));
        let mut truncated = tcp_frame(&[7; 100]);
        truncated.truncate(80);
        assert!(l4_checksum_ok(&truncated));
        let mut fragment = tcp_frame(&[7; 100]);
        fragment[14 + 6] |= 0x20;
        fragment[60] ^= 0xff;
        assert!(l4_checksum_ok(&fragment));
    }

    #[test]
    fn ethernet_padding_is_not_summed() {
        let mut f = udp_frame(b"ab", true);
        assert_eq!(f.len(), 60);
        for b in &mut f[14 + 20 + 8 + 2..] {
            *b = 0x5a;
        }
        assert!(l4_checksum_ok(&f));
    }
}
