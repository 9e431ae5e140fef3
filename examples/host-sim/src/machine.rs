//! The simulated machine: one NIC on a TAP device, the settings store, the image
//! registry, and what `boot` would start (printed as `BOOT {json}` instead).

use crate::tap::HostWaiter;
use netboot_core::error::Error;
use netboot_core::net::{NetDevice, VecSink};
use netboot_core::proto::dhcp::{ClientArch, DhcpConfig, Lease};
use netboot_core::settings::Settings;
use netboot_core::uri::{Uri, pxe_uri};
use sha2::{Digest, Sha256};
use smoltcp::phy::TunTapInterface;
use std::fmt::Write as _;

/// Largest image the simulator accepts (keeps a hostile server from exhausting memory).
pub const MAX_IMAGE: u64 = 4 << 30;

/// A registered image.
#[derive(Clone, Debug)]
pub struct Image {
    /// Name (the URI's last path segment unless `--name` was given).
    pub name: String,
    /// Where it came from.
    pub uri: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Command line (`kernel URI args…`).
    pub cmdline: String,
    /// Whether it is the image `boot` starts.
    pub selected: bool,
}

/// The machine state commands act on.
pub struct Machine {
    /// The settings store (`${…}`).
    pub settings: Settings,
    /// `net0`, when `--tap` was given.
    pub net: Option<NetDevice<TunTapInterface>>,
    /// Time, idling and progress.
    pub waiter: HostWaiter,
    /// Registered images in order.
    pub images: Vec<Image>,
    /// The URI of the running script (base for relative URIs).
    pub cwuri: Option<Uri>,
}

impl Machine {
    /// A machine with an optional NIC.
    pub fn new(net: Option<NetDevice<TunTapInterface>>, waiter: HostWaiter) -> Self {
        let mut settings = Settings::new();
        for (name, value) in [
            ("buildarch", "x86_64"),
            ("platform", "sim"),
            ("version", netboot_core::VERSION),
        ] {
            let _ = settings.set(&format!("builtin/{name}"), value);
        }
        if let Some(dev) = &net {
            let mac: Vec<String> = dev.mac().iter().map(|b| format!("{b:02x}")).collect();
            let _ = settings.set(&format!("{}/mac:hex", dev.name()), &mac.join(":"));
            settings.set_last_opened(dev.name());
        }
        Machine {
            settings,
            net,
            waiter,
            images: Vec::new(),
            cwuri: None,
        }
    }

    /// `dhcp`: configures net0 and publishes the lease as settings (`net0.dhcp`).
    pub fn dhcp(&mut self) -> Result<Lease, Error> {
        let dev = self.net.as_mut().ok_or(Error::NoInterface)?;
        let mut config = DhcpConfig::new(dev.mac(), ClientArch::EFI_X86_64);
        // A fresh transaction ID per run, so servers never confuse two runs.
        config.xid ^= std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let lease = dev.dhcp(&mut self.waiter, config)?;
        let name = dev.name().to_string();
        self.publish_lease(&name, &lease);
        Ok(lease)
    }

    fn publish_lease(&mut self, dev: &str, lease: &Lease) {
        let mut options: Vec<(u32, Vec<u8>)> = lease
            .options
            .iter()
            .map(|(code, value)| (u32::from(*code), value.clone()))
            .collect();
        options.push((0xaf02, lease.address.octets().to_vec()));
        if let Some(ns) = lease.next_server {
            options.push((0xaf03, ns.octets().to_vec()));
        }
        if let Some(f) = &lease.filename {
            options.retain(|(t, _)| *t != 67);
            options.push((67, f.as_bytes().to_vec()));
        }
        self.settings.store_dhcp(&format!("{dev}.dhcp"), options);
        if let Some(proxy) = &lease.proxy {
            let mut options: Vec<(u32, Vec<u8>)> = proxy
                .options
                .iter()
                .map(|(code, value)| (u32::from(*code), value.clone()))
                .collect();
            if let Some(ns) = proxy.next_server {
                options.push((0xaf03, ns.octets().to_vec()));
            }
            self.settings.store_dhcp("proxydhcp", options);
        }
    }

    /// Resolves a URI text against the current script, iPXE-style.
    pub fn resolve(&self, text: &str) -> Result<Uri, Error> {
        match &self.cwuri {
            Some(base) => Ok(base.resolve(text)?),
            None => Ok(Uri::parse(text)?),
        }
    }

    /// The URI autoboot uses: the DHCP filename relative to next-server.
    pub fn boot_uri(&self) -> Result<Option<Uri>, Error> {
        let filename = self.settings.get("filename")?.filter(|f| !f.is_empty());
        let Some(filename) = filename else {
            return Ok(None);
        };
        let next = self
            .settings
            .get("next-server")?
            .and_then(|s| s.parse().ok());
        let next = next.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        Ok(Some(pxe_uri(next, 69, &filename)?))
    }

    /// Downloads `uri` and registers it as an image.
    pub fn fetch(&mut self, uri: &Uri, name: Option<&str>, cmdline: &str) -> Result<usize, Error> {
        let mut sink = VecSink::new(MAX_IMAGE);
        let net = self.net.as_mut().ok_or(Error::NoInterface)?;
        let d = net.fetch(&mut self.waiter, uri, &mut sink)?;
        if self.waiter.show_progress {
            let rate = d.size as f64 * 1000.0 / d.elapsed_ms.max(1) as f64 / 1e6;
            eprintln!(
                "{}... ok ({} bytes in {} ms, {rate:.1} MB/s; {})",
                d.uri, d.size, d.elapsed_ms, d.transport
            );
        }
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| default_name(uri));
        self.images.retain(|i| i.name != name);
        self.images.push(Image {
            name,
            uri: uri.to_string(),
            data: sink.data,
            cmdline: cmdline.to_string(),
            selected: false,
        });
        Ok(self.images.len() - 1)
    }

    /// Marks image `index` as the one `boot` starts.
    pub fn select(&mut self, index: usize) {
        for (i, image) in self.images.iter_mut().enumerate() {
            image.selected = i == index;
        }
    }

    /// The `BOOT {json}` line for the selected image (or `name`).
    pub fn boot_line(&self, name: Option<&str>) -> Result<String, String> {
        let image = match name {
            Some(n) => self.images.iter().find(|i| i.name == n),
            None => self
                .images
                .iter()
                .find(|i| i.selected)
                .or(self.images.iter().find(|i| !is_initrd_like(i))),
        }
        .ok_or_else(|| "no executable image: fetch one with kernel or chain first".to_string())?;
        let initrds: Vec<serde_json::Value> = self
            .images
            .iter()
            .filter(|i| i.name != image.name && !i.selected)
            .map(|i| serde_json::json!({"name": i.name, "size": i.data.len(), "sha256": sha256_hex(&i.data)}))
            .collect();
        let json = serde_json::json!({
            "format": format_of(&image.data),
            "name": image.name,
            "uri": image.uri,
            "size": image.data.len(),
            "sha256": sha256_hex(&image.data),
            "cmdline": image.cmdline,
            "initrds": initrds,
        });
        Ok(format!("BOOT {json}"))
    }
}

fn is_initrd_like(image: &Image) -> bool {
    format_of(&image.data) == "unknown"
}

/// The last path segment of a URI, as iPXE names images.
pub fn default_name(uri: &Uri) -> String {
    let path = uri.decoded_path();
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("image")
        .to_string()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A coarse format guess until netboot-image's probes land.
pub fn format_of(data: &[u8]) -> &'static str {
    if netboot_script::is_script(data) {
        "script"
    } else if data.get(0x202..0x206) == Some(b"HdrS") {
        "bzimage"
    } else if data.starts_with(b"MZ") {
        "pe"
    } else if data.starts_with(b"\x7fELF") {
        "elf"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_come_from_the_last_path_segment() {
        let uri = Uri::parse("http://192.0.2.1/boot/vmlinuz?x=1").expect("valid");
        assert_eq!(default_name(&uri), "vmlinuz");
        let uri = Uri::parse("http://192.0.2.1/").expect("valid");
        assert_eq!(default_name(&uri), "image");
    }

    #[test]
    fn formats_are_recognised() {
        assert_eq!(format_of(b"#!ipxe\necho\n"), "script");
        let mut bz = vec![0u8; 0x300];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(format_of(&bz), "bzimage");
        assert_eq!(format_of(b"MZ\x90\x00"), "pe");
        assert_eq!(format_of(b"070701"), "unknown");
    }
}
