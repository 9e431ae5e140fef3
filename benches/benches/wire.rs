//! Parse throughput of netboot's wire formats and text helpers, on realistic inputs: a
//! DHCPACK with PXE options, a TFTP DATA block, an nginx response head, a DNS answer with
//! name compression, 1 MiB of chunked body, URI parse + resolve, nested settings expansion.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netboot_benches::pseudo_random_bytes;
use netboot_core::settings::Settings;
use netboot_core::uri::Uri;
use netboot_core::wire::dhcp::DhcpRepr;
use netboot_core::wire::dns::Message;
use netboot_core::wire::http::{ChunkedDecoder, ResponseHead};
use netboot_core::wire::tftp::Repr;
use std::hint::black_box;
use std::time::Duration;

/// A DHCPACK as ISC dhcpd sends one to a PXE client chainloading netboot: addresses,
/// lease times, router, DNS, domain, next-server, boot file, PXE vendor options and an
/// iPXE-style encapsulated option block, padded out to the BOOTP minimum.
fn dhcp_ack() -> Vec<u8> {
    let mut p = vec![2u8, 1, 6, 0]; // op, htype, hlen, hops
    p.extend_from_slice(&0x3903_f326u32.to_be_bytes()); // xid
    p.extend_from_slice(&[0, 4, 0x80, 0]); // secs, flags (broadcast)
    p.extend_from_slice(&[0; 4]); // ciaddr
    p.extend_from_slice(&[192, 0, 2, 100]); // yiaddr
    p.extend_from_slice(&[192, 0, 2, 1]); // siaddr
    p.extend_from_slice(&[0; 4]); // giaddr
    p.extend_from_slice(&[0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    p.extend_from_slice(&[0; 10]);
    let mut sname = [0u8; 64];
    sname[..12].copy_from_slice(b"boot.example");
    p.extend_from_slice(&sname);
    let mut file = [0u8; 128];
    let boot = b"http://192.0.2.1/boot/netboot.efi";
    file[..boot.len()].copy_from_slice(boot);
    p.extend_from_slice(&file);
    p.extend_from_slice(&[99, 130, 83, 99]); // magic cookie
    let mut opt = |code: u8, value: &[u8]| {
        p.push(code);
        p.push(value.len() as u8);
        p.extend_from_slice(value);
    };
    opt(53, &[5]); // DHCPACK
    opt(54, &[192, 0, 2, 1]); // server id
    opt(51, &86400u32.to_be_bytes()); // lease
    opt(58, &43200u32.to_be_bytes()); // T1
    opt(59, &75600u32.to_be_bytes()); // T2
    opt(1, &[255, 255, 255, 0]);
    opt(28, &[192, 0, 2, 255]);
    opt(3, &[192, 0, 2, 254]);
    opt(6, &[192, 0, 2, 53, 198, 51, 100, 53]);
    opt(15, b"lab.example.com");
    opt(12, b"node-0042");
    opt(42, &[192, 0, 2, 123]); // NTP
    opt(66, b"192.0.2.1");
    opt(67, boot);
    opt(60, b"PXEClient");
    // PXE vendor options (43): discovery control and a boot menu.
    opt(
        43,
        &[
            6, 1, 8, // PXE_DISCOVERY_CONTROL
            9, 12, 0x80, 0x00, 9, b'n', b'e', b't', b'b', b'o', b'o', b't', b' ',
            b'1', // menu
            10, 4, 3, b'g', b'o', b'!', // menu prompt
            255,
        ],
    );
    // iPXE's encapsulated options (175): priority, keep-san, bus id.
    opt(175, &[1, 1, 10, 8, 1, 1, 177, 5, 1, 0x10, 0xec, 0x81, 0x39]);
    opt(209, b"pxelinux.cfg/default");
    opt(210, b"http://192.0.2.1/boot/");
    p.push(255);
    p.resize(p.len().max(300), 0);
    p
}

/// TFTP DATA block 1234 with the 1432-byte payload netboot asks for.
fn tftp_data() -> Vec<u8> {
    let mut p = vec![0, 3];
    p.extend_from_slice(&1234u16.to_be_bytes());
    p.extend_from_slice(&pseudo_random_bytes(1432, 9));
    p
}

/// A response head as nginx sends it for a static file.
const NGINX_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.24.0 (Ubuntu)\r\n\
Date: Tue, 14 Apr 2026 10:00:00 GMT\r\n\
Content-Type: application/octet-stream\r\n\
Content-Length: 13918976\r\n\
Last-Modified: Mon, 13 Apr 2026 09:00:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"661a2b3c-d46000\"\r\n\
Accept-Ranges: bytes\r\n\
Cache-Control: max-age=3600\r\n\
X-Content-Type-Options: nosniff\r\n\
\r\n";

/// Appends `name` in wire form (labels, terminated by `tail`: a pointer or the root).
fn put_name(out: &mut Vec<u8>, labels: &[&str], tail: &[u8]) {
    for l in labels {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.extend_from_slice(tail);
}

/// A recursive resolver's answer to `boot.lab.example.com A`: a CNAME to a mirror name
/// that reuses the question's suffix by pointer, then three A records for the mirror,
/// each named by a pointer into the CNAME's data.
fn dns_response() -> Vec<u8> {
    let mut m = vec![0x4e, 0x42, 0x81, 0x80, 0, 1, 0, 4, 0, 0, 0, 0];
    let qname = m.len();
    put_name(&mut m, &["boot", "lab", "example", "com"], &[0]);
    m.extend_from_slice(&[0, 1, 0, 1]); // A IN
    // CNAME: name = pointer to the question; data = "mirror-eu1.cdn" + pointer to "example.com".
    let example = qname + 1 + 4 + 1 + 3; // offset of the "example" label
    m.extend_from_slice(&[0xc0 | (qname >> 8) as u8, qname as u8]);
    m.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0x0e, 0x10]); // CNAME IN ttl 3600
    let mut cname = Vec::new();
    put_name(
        &mut cname,
        &["mirror-eu1", "cdn"],
        &[0xc0 | (example >> 8) as u8, example as u8],
    );
    m.extend_from_slice(&(cname.len() as u16).to_be_bytes());
    let target = m.len();
    m.extend_from_slice(&cname);
    for last in [10u8, 11, 12] {
        m.extend_from_slice(&[0xc0 | (target >> 8) as u8, target as u8]);
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4]); // A IN ttl 60, 4 bytes
        m.extend_from_slice(&[198, 51, 100, last]);
    }
    m
}

/// `body` in chunked encoding: 8 KiB chunks, one with an extension, an odd-sized tail,
/// the last chunk and an empty trailer.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 1024);
    for (i, chunk) in body.chunks(8192 - 7).enumerate() {
        if i == 3 {
            out.extend_from_slice(format!("{:x};name=value\r\n", chunk.len()).as_bytes());
        } else {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        }
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Decodes `encoded` fed in TCP-segment-sized pieces (1460 bytes), as the HTTP reader sees
/// it. The decoder is zero-copy: with `sink`, each piece of body is copied there, as
/// `fetch` copies it into the image buffer; without, it is only counted. Returns the body
/// length.
fn decode_chunked(encoded: &[u8], mut sink: Option<&mut Vec<u8>>) -> usize {
    let mut decoder = ChunkedDecoder::new();
    let mut total = 0;
    for segment in encoded.chunks(1460) {
        let mut input = segment;
        while !input.is_empty() {
            let (used, data) = decoder.decode(input).expect("valid chunked body");
            if let Some(data) = data {
                total += black_box(data).len();
                if let Some(sink) = sink.as_deref_mut() {
                    sink.extend_from_slice(data);
                }
            }
            if used == 0 {
                break;
            }
            input = &input[used..];
        }
    }
    assert!(decoder.is_done());
    total
}

fn settings() -> Settings {
    let mut s = Settings::new();
    for (name, value) in [
        ("net0/mac:hex", "52:54:00:12:34:56"),
        ("net0.dhcp/ip:ipv4", "192.0.2.100"),
        ("net0.dhcp/next-server:ipv4", "192.0.2.1"),
        ("arch", "x86_64"),
        ("release", "24.04"),
        ("server", "http://${next-server}"),
        ("base", "${server}/images/${os${sel}}/${release}/${arch}"),
        ("sel", "2"),
        ("os1", "debian"),
        ("os2", "ubuntu"),
        ("os3", "fedora"),
    ] {
        s.set(name, value).expect("valid setting");
    }
    s
}

/// What [`settings`] expands: references nested three deep, resolved innermost first.
const EXPAND: &str = "kernel ${base}/vmlinuz initrd=initrd.img ip=${ip} BOOTIF=01-${net0/mac:hexhyp} \
                      url=${base}/${os${sel}}-${release}-live-server-${arch}.iso";

fn bench_wire(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");

    let ack = dhcp_ack();
    let parsed = DhcpRepr::parse_bytes(&ack).expect("valid DHCPACK");
    assert_eq!(parsed.options.len(), 19);
    g.throughput(Throughput::Bytes(ack.len() as u64));
    g.bench_function("dhcp_ack_parse", |b| {
        b.iter(|| DhcpRepr::parse_bytes(black_box(&ack)))
    });

    let data = tftp_data();
    assert!(matches!(
        Repr::from_bytes(&data),
        Ok(Repr::Data { block: 1234, data }) if data.len() == 1432
    ));
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("tftp_data_parse", |b| {
        b.iter(|| Repr::from_bytes(black_box(&data)).map(|r| black_box(r).opcode()))
    });

    let head = ResponseHead::parse(NGINX_HEAD).expect("valid head");
    assert_eq!(head.content_length(), Some(13918976));
    g.throughput(Throughput::Bytes(NGINX_HEAD.len() as u64));
    g.bench_function("http_head_parse_nginx", |b| {
        b.iter(|| ResponseHead::parse(black_box(NGINX_HEAD)))
    });

    let dns = dns_response();
    let message = Message::parse(&dns).expect("valid DNS response");
    assert_eq!(message.answers.len(), 4);
    g.throughput(Throughput::Bytes(dns.len() as u64));
    g.bench_function("dns_response_parse_compressed", |b| {
        b.iter(|| Message::parse(black_box(&dns)))
    });

    let body = pseudo_random_bytes(1 << 20, 3);
    let encoded = chunked(&body);
    let mut sink = Vec::with_capacity(body.len());
    assert_eq!(decode_chunked(&encoded, Some(&mut sink)), body.len());
    assert!(sink == body);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("http_chunked_decode_1MiB", |b| {
        b.iter(|| decode_chunked(black_box(&encoded), None))
    });
    g.bench_function("http_chunked_decode_copy_1MiB", |b| {
        b.iter(|| {
            sink.clear();
            decode_chunked(black_box(&encoded), Some(&mut sink))
        })
    });

    const BASE: &str = "http://user:secret@boot.lab.example.com:8080/pxe/ipxe/menu.ipxe?mac=52:54:00:12:34:56&arch=x86_64";
    const REFERENCE: &str = "../images/ubuntu/24.04/./vmlinuz%2Bsigned?variant=hwe#kernel";
    let resolved = Uri::parse(BASE)
        .and_then(|u| u.resolve(REFERENCE))
        .expect("valid URIs");
    assert_eq!(resolved.path(), "/pxe/images/ubuntu/24.04/vmlinuz%2Bsigned");
    g.throughput(Throughput::Elements(1));
    g.bench_function("uri_parse_and_resolve", |b| {
        b.iter(|| Uri::parse(black_box(BASE)).and_then(|u| u.resolve(black_box(REFERENCE))))
    });

    let s = settings();
    let expanded = s.expand(EXPAND).expect("expands");
    assert!(
        expanded.contains("url=http://192.0.2.1/images/ubuntu/24.04/x86_64/ubuntu-24.04-live"),
        "{expanded}"
    );
    assert!(
        expanded.contains("BOOTIF=01-52-54-00-12-34-56"),
        "{expanded}"
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("settings_expand_nested", |b| {
        b.iter(|| s.expand(black_box(EXPAND)))
    });

    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the machine is small and shared.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench_wire
}
criterion_main!(benches);
