//! The script language: parsing, and interpretation against a runtime with no network
//! (fetches fail, the clock is virtual, keys are scripted), on two scripts generated here:
//! a netboot.xyz-style menu (architecture detection, a main menu and a distribution
//! submenu drawn with ANSI sequences, defaults chosen, a kernel command line assembled
//! from settings) and a loop-heavy script (a counter, 300 settings created by expansion).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use netboot_core::platform::Key;
use netboot_core::settings::Settings;
use netboot_script::image::ImageRegistry;
use netboot_script::parse::Script;
use netboot_script::runtime::{CpuidQuery, FetchRequest, Fetched};
use netboot_script::{Error, Interpreter, Posix, Runtime};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

/// A machine with no network: settings as DHCP would have left them, a console that
/// accumulates output, a virtual clock that advances 10 ms per idle, Enter for every key
/// asked (menus take their default), fetches that fail like an unplugged cable.
struct BenchRt {
    settings: Settings,
    images: ImageRegistry<Vec<u8>>,
    out: String,
    now: u64,
}

impl BenchRt {
    fn new() -> BenchRt {
        let mut settings = Settings::new();
        for (name, value) in [
            ("net0/mac:hex", "52:54:00:12:34:56"),
            ("net0.dhcp/ip:ipv4", "192.0.2.100"),
            ("net0.dhcp/netmask:ipv4", "255.255.255.0"),
            ("net0.dhcp/gateway:ipv4", "192.0.2.254"),
            ("net0.dhcp/dns:ipv4", "192.0.2.53"),
            ("net0.dhcp/next-server:ipv4", "192.0.2.1"),
            ("net0.dhcp/filename:string", "menu.ipxe"),
            ("platform", "efi"),
            ("buildarch", "x86_64"),
            ("manufacturer", "QEMU"),
            ("product", "Standard PC (Q35 + ICH9, 2009)"),
        ] {
            settings.set(name, value).expect("valid setting");
        }
        BenchRt {
            settings,
            images: ImageRegistry::new(),
            out: String::new(),
            now: 0,
        }
    }
}

impl Runtime for BenchRt {
    type Blob = Vec<u8>;
    fn settings(&mut self) -> &mut Settings {
        &mut self.settings
    }
    fn images(&mut self) -> &mut ImageRegistry<Vec<u8>> {
        &mut self.images
    }
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }
    fn poll_key(&mut self) -> Option<Key> {
        Some(Key::Char('\r'))
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
    fn idle(&mut self) {
        self.now += 10;
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Result<Fetched<Vec<u8>>, Error> {
        if !req.quiet {
            let _ = write!(self.out, "{}... ", req.uri);
        }
        Err(Error::platform(
            Posix::Enetunreach,
            1,
            "network unreachable (the benchmark runtime has no network)",
        ))
    }
    fn cpuid(&mut self, q: CpuidQuery) -> Result<bool, Error> {
        // x86-64: long mode is extended leaf bit 29.
        Ok(q.extended && q.bit == 29)
    }
}

/// Distributions of the submenu: (label, title, kernel path, version).
const DISTROS: &[(&str, &str, &str, &str)] = &[
    (
        "debian",
        "Debian",
        "debian-installer/amd64/linux",
        "bookworm",
    ),
    ("ubuntu", "Ubuntu", "ubuntu-installer/amd64/linux", "noble"),
    ("fedora", "Fedora", "images/pxeboot/vmlinuz", "41"),
    ("alma", "AlmaLinux", "images/pxeboot/vmlinuz", "9"),
    ("rocky", "Rocky Linux", "images/pxeboot/vmlinuz", "9"),
    ("opensuse", "openSUSE", "boot/x86_64/loader/linux", "15.6"),
    (
        "arch",
        "Arch Linux",
        "arch/boot/x86_64/vmlinuz-linux",
        "latest",
    ),
    ("alpine", "Alpine Linux", "boot/vmlinuz-lts", "3.20"),
    ("gentoo", "Gentoo", "boot/gentoo", "current"),
    ("nixos", "NixOS", "bzImage", "24.05"),
    ("void", "Void Linux", "boot/vmlinuz", "current"),
    (
        "kali",
        "Kali Linux",
        "debian-installer/amd64/linux",
        "rolling",
    ),
    ("mint", "Linux Mint", "casper/vmlinuz", "22"),
    ("centos", "CentOS Stream", "images/pxeboot/vmlinuz", "9"),
    ("oracle", "Oracle Linux", "images/pxeboot/vmlinuz", "9"),
    ("slackware", "Slackware", "kernels/huge.s/bzImage", "15.0"),
];

/// A menu script in the style of netboot.xyz's `menu.ipxe`: constants, architecture
/// detection with `cpuid`, typed settings, a main menu and a submenu (both choose their
/// default at once: the runtime presses Enter), then the chosen entry assembles its
/// URLs and kernel command line from settings and tries to fetch (which fails: no
/// network) before reporting.
fn menu_script() -> String {
    let mut s = String::from(
        "#!ipxe\n\
         :start\n\
         isset ${arch} && goto skip_arch_detect ||\n\
         cpuid --ext 29 && set arch x86_64 || set arch i386\n\
         iseq ${buildarch} arm64 && set arch arm64 ||\n\
         :skip_arch_detect\n\
         set version 2.0.84\n\
         set site_name netboot.xyz\n\
         set boot_domain boot.netboot.xyz\n\
         set live_endpoint https://github.com/netbootxyz\n\
         set mirror http://deb.debian.org\n\
         set boot_timeout 300000\n\
         set menu linux\n\
         set space:hex 20:20\n\
         set space ${space:string}\n\
         iseq ${platform} efi && set bootloader grubx64.efi || set bootloader pxelinux.0\n\
         :main_menu\n\
         menu ${site_name} v${version} - ${platform} ${arch} (${net0/mac})\n\
         item --gap Default:\n\
         item local ${space} Boot from local hdd\n\
         item --gap Distributions:\n\
         item linux ${space} Linux Network Installs (${arch})\n\
         item live ${space} Live CDs\n\
         item bsd ${space} BSD Installs\n\
         item unix ${space} Unix Network Installs\n\
         item freedos ${space} FreeDOS\n\
         item windows ${space} Windows\n\
         item --gap Tools:\n\
         item utils ${space} Utilities (${platform})\n\
         item changebits ${space} Architecture: ${arch}\n\
         item shell ${space} iPXE shell\n\
         item netinfo ${space} Network card info\n\
         item about ${space} About netboot.xyz\n\
         isset ${menu} && set timeout 0 || set timeout ${boot_timeout}\n\
         choose --timeout ${timeout} --default ${menu} menu || goto local\n\
         goto ${menu} ||\n\
         goto main_menu\n\
         :linux\n\
         menu Linux Installers - ${arch}\n",
    );
    for (label, title, _, version) in DISTROS {
        let _ = writeln!(s, "item {label} ${{space}} {title} {version}");
    }
    s.push_str(
        "item --gap\nitem main_menu ${space} Back\n\
         choose --default debian distro || goto main_menu\n\
         goto ${distro}\n",
    );
    for (label, title, kernel, version) in DISTROS {
        let _ = write!(
            s,
            ":{label}\n\
             set os {title}\n\
             set os_version {version}\n\
             set base ${{mirror}}/{label}/dists/${{os_version}}/main/installer-amd64/current/images/netboot\n\
             set kernel_url ${{base}}/{kernel}\n\
             set params initrd=initrd.gz priority=critical auto=true url=http://${{next-server}}/preseed/${{net0/mac:hexhyp}}.cfg BOOTIF=01-${{net0/mac:hexhyp}} ip=${{ip}}::${{gateway}}:${{netmask}}:${{hostname}}:eth0:off\n\
             goto boot\n"
        );
    }
    s.push_str(
        ":boot\n\
         echo Booting ${os} ${os_version} from ${kernel_url}\n\
         imgfetch --name kernel ${kernel_url} ${params} || goto failed\n\
         :failed\n\
         echo Fetching ${kernel_url} failed: errno=${errno}\n\
         echo BENCH-MENU-DONE ${os} ${arch}\n\
         :local\n\
         exit 0\n",
    );
    s
}

/// Iterations of [`loop_script`].
const LOOPS: u32 = 300;

/// A loop: a typed counter incremented with `inc`, one setting per pass named and valued
/// by expansion (nested, typed and network settings), a comparison, a `goto`.
fn loop_script() -> String {
    format!(
        "#!ipxe\n\
         set base http://${{next-server}}/boot/${{buildarch}}\n\
         set i:int32 0\n\
         :loop\n\
         inc i\n\
         set item${{i}} ${{base}}/images/${{i}}/vmlinuz?mac=${{net0/mac:hexhyp}}&ip=${{ip}}\n\
         iseq ${{item${{i}}}} ${{base}}/images/${{i}}/vmlinuz?mac=52-54-00-12-34-56&ip=192.0.2.100 || goto broken\n\
         iseq ${{i}} {LOOPS} || goto loop\n\
         echo BENCH-LOOP-DONE ${{i}} ${{item{LOOPS}}}\n\
         exit 0\n\
         :broken\n\
         echo BENCH-LOOP-BROKEN ${{i}}\n\
         exit 1\n"
    )
}

/// Runs `script` on a fresh runtime; the console output and the result.
fn interpret(script: &[u8]) -> (String, Result<(), Error>) {
    let mut rt = BenchRt::new();
    let rc = Interpreter::new().run_script(&mut rt, script);
    (rt.out, rc)
}

fn bench_script(c: &mut Criterion) {
    let mut g = c.benchmark_group("script");
    for (name, text, done) in [
        ("menu", menu_script(), "BENCH-MENU-DONE Debian x86_64"),
        (
            "loop",
            loop_script(),
            "BENCH-LOOP-DONE 300 http://192.0.2.1/boot",
        ),
    ] {
        let bytes = text.into_bytes();
        // Checked outside the timed loop: the script runs to its end the intended way.
        let (out, rc) = interpret(&bytes);
        assert!(rc.is_ok(), "{name}: {rc:?}\n{out}");
        assert!(out.contains(done), "{name}: no {done:?} in:\n{out}");
        let script = Script::parse(&bytes).expect("parses");
        eprintln!(
            "{name}: {} bytes, {} lines, {} bytes of console output",
            bytes.len(),
            script.lines().len(),
            out.len()
        );
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("{name}_parse"), |b| {
            b.iter(|| Script::parse(black_box(&bytes)))
        });
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}_interpret"), |b| {
            b.iter_batched(
                BenchRt::new,
                |mut rt| {
                    let rc = Interpreter::new().run_script(&mut rt, black_box(&bytes));
                    (rt, rc)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the machine is small and shared.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench_script
}
criterion_main!(benches);
