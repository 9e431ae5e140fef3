//! `netboot.kpxe`: the PXE network boot program.
//!
//! A PXE ROM (e.g. QEMU's iPXE NIC ROM) loads the flat file at 0000:7C00 and jumps to it
//! in real mode with ES:BX → `PXENV+` and a far pointer to `!PXE` at SS:SP+4. The prefix
//! below saves those, enables A20, loads the shared GDT and enters protected mode; the
//! 32-bit stub copies the payload to 1 MiB, the shared entry of `netboot-bios` goes to
//! long mode and calls `netboot_bios_main` here, which runs netboot's runtime
//! (`netboot_script::machine::Machine`) over `netboot_bios::platform::BiosPlatform`:
//! the PXE ROM's UNDI is `net0`. Layout and size limits: `kpxe.ld`.
//!
//! Build: `cargo build --release -p bios-firmware --target x86_64-unknown-none`, then
//! `objcopy -O binary target/x86_64-unknown-none/release/netboot-kpxe netboot.kpxe`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod firmware {
    use core::fmt::Write;
    use netboot_bios::{BootKind, console::BiosConsole, platform::BiosPlatform};
    use netboot_core::platform::{Platform, PowerAction};
    use netboot_script::machine::Machine;

    // Real-mode prefix. The first bytes are a far jump (0xEA), so the file never starts
    // with `MZ`, an ELF header or a bzImage signature (iPXE probes for those first).
    core::arch::global_asm!(
        r#"
        .section .text16.entry, "ax"
        .code16
        .globl _start
_start:
        # PXE promises CS:IP = 0000:7C00; make sure of it, our offsets assume CS = 0.
        ljmp $0, $kpxe_real_start
kpxe_real_start:
        cli
        cld
        # Save the loader's pointers before touching DS or the stack (CS = 0 here).
        movw %bx, %cs:kpxe_args + 0         # PXENV+ offset
        movw %es, %cs:kpxe_args + 2         # PXENV+ segment
        movw %sp, %cs:kpxe_args + 8
        movw %ss, %cs:kpxe_args + 10
        movw %sp, %bp
        movl 4(%bp), %eax                   # !PXE far pointer at SS:SP+4
        movl %eax, %cs:kpxe_args + 4
        xorw %ax, %ax
        movw %ax, %ds

        # A20 through port 0x92 ("fast A20"). Bit 0 is fast reset: always write it as 0.
        inb $0x92, %al
        testb $0x02, %al
        jnz 1f
        orb $0x02, %al
        andb $0xFE, %al
        outb %al, $0x92
1:
        lgdtl netboot_gdt_desc
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x08, $kpxe_pm32

        # Filled in above, read by Rust as netboot_bios::pxe::EntryArgs.
        .section .data16, "aw"
        .balign 4
        .globl kpxe_args
kpxe_args:
        .long 0                             # ES:BX   -> PXENV+
        .long 0                             # SS:SP+4 -> !PXE
        .long 0                             # SS:SP at entry

        # Still in base memory: copy the payload from its load address to 1 MiB
        # (kpxe.ld), then enter the shared 32-bit entry there.
        .section .text16, "ax"
        .code32
kpxe_pm32:
        movl $0x10, %eax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $__payload_load, %esi
        movl $__payload_start, %edi
        movl $__payload_end, %ecx
        subl %edi, %ecx
        cld
        rep movsb
        movl $1, %ebx                       # BootKind::Pxe
        movl $kpxe_args, %ebp
        ljmp $0x08, $netboot_pm32_entry
        .code64
"#,
        options(att_syntax, raw)
    );
    const _: () = assert!(BootKind::Pxe as u32 == 1, "the prefix passes 1 in EBX");

    /// Called by the shared long-mode entry: sets up the platform (E820 heap, clock, the
    /// PXE ROM's UNDI as `net0`), runs the embedded script or autoboot through the shared
    /// runtime, then prints the status and powers off.
    #[unsafe(no_mangle)]
    extern "C" fn netboot_bios_main(kind: u32, loader_arg: u64) -> ! {
        // SAFETY: we own the machine; COM1 and the VGA text screen are the PC standard
        // devices, identity mapped by the entry code.
        let mut con = unsafe { BiosConsole::init(true) };
        let _ = netboot_core::startup::announce(&mut con);
        if BootKind::from_raw(kind) != Some(BootKind::Pxe) {
            let _ = write!(con, "unexpected boot kind {kind}\r\n");
        }
        // SAFETY: called once, first thing, in the entry environment; `loader_arg` is the
        // prefix's entry-argument block (`kpxe_args`).
        let platform = unsafe { BiosPlatform::init_pxe(con, loader_arg) };
        let mut machine = Machine::new(platform);
        // iPXE's Ctrl-B window, before booting and after a failure.
        machine.set_prompt_ms(2000);
        let status = machine.run(netboot_core::embed::script());
        let platform = machine.platform();
        let _ = write!(platform.console(), "netboot: exit status {status:#x}\r\n");
        let _ = platform.console().write_str("powering off\r\n");
        let why = platform.power(PowerAction::PowerOff);
        let _ = write!(platform.console(), "power off failed: {why}\r\nhalted\r\n");
        netboot_bios::halt()
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        netboot_bios::report_panic(info)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("netboot.kpxe is BIOS firmware: build it with `cargo xtask build`");
    std::process::exit(2);
}
