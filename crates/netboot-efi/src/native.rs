//! netboot's own virtio-net driver in place of the firmware's, for virtual machines.
//!
//! Through SNP every frame is one `Receive` call into the firmware's driver, and the
//! firmware's virtio-net driver (OVMF's VirtioNetDxe) takes 1514-byte frames only. Under
//! QEMU that per-frame cost, not the bytes, bounds a download (BENCHMARKS.md). When the
//! NIC is a virtio-net PCI function on the root bus, [`take`] disconnects the firmware's
//! drivers from it and drives it with netboot-bios's driver
//! ([`netboot_bios::virtio_net`]), which takes 64 KiB TCP segments from a tap backend.
//! [`candidate`] checks without touching anything, [`take`] takes the device, and
//! [`Native::give_back`] resets the device and connects the firmware's drivers again
//! (without the network stack above SNP, as [`crate::snp`] leaves it for a started image).
//!
//! Anything unexpected — another kind of NIC, a device behind a bridge, a MAC address that
//! does not match, an IOMMU the firmware manages — leaves the firmware's driver in charge; `NETBOOT_SNP_ONLY` at build
//! time turns the native driver off altogether.

use alloc::vec::Vec;
use netboot_bios::virtio_net::{self, VirtioNet};
use uefi::Handle;
use uefi::boot;
use uefi::proto::device_path::DevicePath;

use crate::snp::END_NODE;

/// Whether the native driver is built in (`NETBOOT_SNP_ONLY` unset at build time).
pub const ENABLED: bool = option_env!("NETBOOT_SNP_ONLY").is_none();

/// Where a NIC's device path puts its PCI function: `(device, function, n)` when the path
/// starts with `PciRoot(0)` (ACPI HID PNP0A03 or PNP0A08, UID 0) followed by exactly one
/// PCI node, `n` being the length of those two nodes (the controller's path). Such a
/// function is on bus 0, reachable through configuration mechanism #1.
pub fn root_bus_function(path: &[u8]) -> Option<(u8, u8, usize)> {
    let mut nodes = Vec::new();
    let mut at = 0;
    while at + 4 <= path.len() {
        let len = usize::from(u16::from_le_bytes([path[at + 2], path[at + 3]]));
        if len < 4 || at + len > path.len() {
            return None;
        }
        if path[at] == 0x7f {
            break;
        }
        nodes.push((path[at], path[at + 1], &path[at..at + len]));
        at += len;
    }
    let (&(t0, s0, root), rest) = nodes.split_first()?;
    let hid = root
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let uid = root
        .get(8..12)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    // EISA IDs of PNP0A03 (PCI) and PNP0A08 (PCI Express) root bridges.
    let pci_root = matches!(hid, Some(0x0a03_41d0 | 0x0a08_41d0)) && uid == Some(0);
    if (t0, s0) != (2, 1) || !pci_root {
        return None;
    }
    let Some(&(1, 1, node)) = rest.first() else {
        return None;
    };
    if node.len() != 6 || rest[1..].iter().any(|&(t, s, _)| (t, s) == (1, 1)) {
        return None;
    }
    Some((node[5], node[4], root.len() + node.len()))
}

/// A NIC driven natively, and the PCI controller handle the firmware's drivers were
/// disconnected from.
pub struct Native {
    pci: Handle,
    /// The driver.
    pub nic: VirtioNet,
}

/// A NIC that [`take`] can drive: its function (from [`virtio_net::scan`]) and its PCI
/// controller handle.
pub struct Candidate {
    found: virtio_net::Found,
    pci: Handle,
}

/// Whether the NIC with device path `path` is a virtio-net function on the root bus that
/// netboot can drive itself (no side effects).
pub fn candidate(path: &[u8]) -> Option<Candidate> {
    if !ENABLED {
        return None;
    }
    let (device, function, prefix) = root_bus_function(path)?;
    let busdevfn = (u32::from(device) << 3) | u32::from(function);
    // SAFETY: configuration reads through mechanism #1 have no side effects; OVMF on QEMU
    // (i440fx and q35) decodes ports 0xCF8/0xCFC.
    let found = virtio_net::scan(|bdf, at, buf| unsafe { netboot_bios::pci::read(bdf, at, buf) });
    let found = found.into_iter().find(|f| f.busdevfn == busdevfn)?;
    let mut controller_path = path[..prefix].to_vec();
    controller_path.extend_from_slice(&END_NODE);
    let mut remaining = <&DevicePath>::try_from(controller_path.as_slice()).ok()?;
    let pci = boot::locate_device_path::<DevicePath>(&mut remaining).ok()?;
    (remaining.as_bytes() == END_NODE).then_some(Candidate { found, pci })
}

/// Takes the NIC from the firmware: disconnects the firmware's drivers from the PCI
/// controller and starts netboot's driver on it, checking that it has MAC address `mac`.
/// The caller has closed its own SNP open. On failure the firmware's drivers are
/// connected again (a new SNP handle) and the reason is returned.
pub fn take(c: Candidate, mac: [u8; 6]) -> Result<Native, &'static str> {
    let Candidate { found, pci } = c;
    if iommu_present() {
        return Err(
            "the firmware has an IOMMU protocol (a confidential VM?): DMA must go through it",
        );
    }
    if boot::disconnect_controller(pci, None, None).is_err() {
        let _ = boot::connect_controller(pci, &[], None, false);
        return Err("the firmware's driver would not let go of the device");
    }
    // SAFETY: `found` comes from the scan of this machine; the firmware's drivers are
    // disconnected, so nothing else drives the device; UEFI memory is identity mapped,
    // so heap addresses are DMA addresses (the firmware sets up no IOMMU before boot).
    match unsafe { VirtioNet::open(&found) } {
        Ok(nic) if nic.mac() == mac => Ok(Native { pci, nic }),
        Ok(mut nic) => {
            nic.stop();
            let _ = boot::connect_controller(pci, &[], None, false);
            Err("the virtio-net device reports another MAC address")
        }
        Err(_) => {
            let _ = boot::connect_controller(pci, &[], None, false);
            Err("netboot's virtio-net driver could not start the device")
        }
    }
}

/// Whether the firmware installed `EDKII_IOMMU_PROTOCOL`: OVMF does in AMD SEV guests,
/// where a device can only reach memory the firmware shared with the host, so a driver
/// must map its buffers through the firmware (ours uses plain heap addresses).
fn iommu_present() -> bool {
    const EDKII_IOMMU_PROTOCOL: uefi::Guid = uefi::guid!("4e939de9-d948-4b0f-88ed-e6e1ce517c1e");
    boot::locate_handle_buffer(boot::SearchType::ByProtocol(&EDKII_IOMMU_PROTOCOL))
        .is_ok_and(|h| !h.is_empty())
}

impl Native {
    /// Resets the device (its DMA stops) and connects the firmware's drivers to it again,
    /// with the network stack above SNP when `recursive`; the SNP handle is a new one.
    pub fn give_back(mut self, recursive: bool) {
        self.nic.stop();
        let _ = boot::connect_controller(self.pci, &[], None, recursive);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: [u8; 12] = [2, 1, 12, 0, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0];
    const PCI_3_0: [u8; 6] = [1, 1, 6, 0, 0, 3];
    const MAC: [u8; 37] = {
        let mut m = [0u8; 37];
        m[0] = 3;
        m[1] = 11;
        m[2] = 37;
        m
    };

    fn path(parts: &[&[u8]]) -> Vec<u8> {
        let mut p: Vec<u8> = parts.concat();
        p.extend_from_slice(&END_NODE);
        p
    }

    #[test]
    fn a_nic_on_the_root_bus_is_found() {
        let p = path(&[&ROOT, &PCI_3_0, &MAC]);
        assert_eq!(root_bus_function(&p), Some((3, 0, 18)));
        let mut fn2 = PCI_3_0;
        fn2[4] = 2;
        fn2[5] = 0x1f;
        assert_eq!(
            root_bus_function(&path(&[&ROOT, &fn2])),
            Some((0x1f, 2, 18))
        );
        let mut pcie = ROOT;
        pcie[6] = 0x08;
        assert_eq!(
            root_bus_function(&path(&[&pcie, &PCI_3_0])),
            Some((3, 0, 18))
        );
    }

    #[test]
    fn other_places_are_left_to_the_firmware() {
        // Behind a bridge, on another root bridge, no PCI node, truncated.
        let bridge = path(&[&ROOT, &PCI_3_0, &PCI_3_0, &MAC]);
        assert_eq!(root_bus_function(&bridge), None);
        let mut other_root = ROOT;
        other_root[8] = 1;
        assert_eq!(root_bus_function(&path(&[&other_root, &PCI_3_0])), None);
        assert_eq!(root_bus_function(&path(&[&ROOT, &MAC])), None);
        assert_eq!(root_bus_function(&path(&[&MAC, &PCI_3_0])), None);
        let p = path(&[&ROOT, &PCI_3_0]);
        assert_eq!(root_bus_function(&p[..10]), None);
        assert_eq!(root_bus_function(&[]), None);
        let mut bad_len = p.clone();
        bad_len[2] = 2;
        assert_eq!(root_bus_function(&bad_len), None);
    }
}
