//! `netboot.lkrn`: the firmware as a Linux-boot-protocol image.
//!
//! A Linux loader (SeaBIOS/QEMU `-kernel`, iPXE `kernel`, GRUB `linux16`) loads the boot
//! sector and setup (the `.lkrn.header` below) at a base-memory segment, the rest at
//! 1 MiB, writes the command line pointer into the header and jumps to the setup at
//! segment + 0x20, offset 0. The setup enters protected mode with a temporary GDT and
//! jumps to the 32-bit entry at 1 MiB, which copies the real-mode blob (`.lowmem`: the
//! shared GDT, later the thunk) down to 0x7C00 and joins the shared entry of
//! `netboot-bios`, which calls `netboot_bios_main` here: it runs netboot's runtime
//! (`netboot_script::machine::Machine`) over `netboot_bios::platform::BiosPlatform` with
//! netboot's own virtio-net driver (`netboot_bios::virtio_net`) as the NICs. Layout:
//! `lkrn.ld`.
//!
//! Build: `cargo build --release -p bios-firmware --target x86_64-unknown-none`, then
//! `objcopy -O binary target/x86_64-unknown-none/release/netboot-lkrn netboot.lkrn`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod firmware {
    use core::fmt::Write;
    use netboot_bios::{
        BootKind, IDENTITY_MAP_LIMIT, console::BiosConsole, linux, mem::IdentityMapped,
        platform::BiosPlatform, text::Escaped, virtio_net,
    };
    use netboot_core::platform::{Platform, PowerAction};
    use netboot_script::machine::Machine;

    // Boot sector, setup header (protocol 2.07) and setup code. VMA 0 = file offset 0,
    // so with DS = the setup base segment, every label is its own DS offset.
    core::arch::global_asm!(
        concat!(
            r#"
        .section .lkrn.header, "ax"
        .code16
lkrn_hdr:
        # Not a boot sector: if a BIOS boots it from a disk anyway, stop.
        cli
5:
        hlt
        jmp 5b

        .org 0x1F1
        .byte lkrn_setup_sects              # 0x1F1 setup_sects
        .word 0                             # 0x1F2 root_flags
        .long lkrn_syssize                  # 0x1F4 syssize (paragraphs)
        .word 0                             # 0x1F8 ram_size
        .word 0xFFFF                        # 0x1FA vid_mode: normal
        .word 0                             # 0x1FC root_dev
        .word 0xAA55                        # 0x1FE boot_flag
        # 0x200: a two-byte jump; the byte at 0x201 also gives the header length.
        .byte 0xEB
        .byte lkrn_setup - lkrn_hdr - 0x202
        .ascii "HdrS"                       # 0x202 header
        .word 0x0207                        # 0x206 version 2.07
        .long 0                             # 0x208 realmode_swtch
        .word 0                             # 0x20C start_sys_seg
        .word lkrn_version - lkrn_hdr - 0x200 # 0x20E kernel_version
        .byte 0                             # 0x210 type_of_loader (loader writes)
        .byte 0x01                          # 0x211 loadflags: LOADED_HIGH
        .word 0                             # 0x212 setup_move_size
        .long 0x100000                      # 0x214 code32_start
        .long 0                             # 0x218 ramdisk_image
        .long 0                             # 0x21C ramdisk_size
        .long 0                             # 0x220 bootsect_kludge
        .word 0                             # 0x224 heap_end_ptr
        .byte 0                             # 0x226 ext_loader_ver
        .byte 0                             # 0x227 ext_loader_type
        .org 0x228
        .long 0                             # 0x228 cmd_line_ptr (loader writes)
        .long 0x7FFFFFFF                    # 0x22C initrd_addr_max
        .long 0                             # 0x230 kernel_alignment
        .byte 0                             # 0x234 relocatable_kernel: no
        .byte 0                             # 0x235 min_alignment
        .word 0                             # 0x236 xloadflags
        .long 2047                          # 0x238 cmdline_size
        .long 0                             # 0x23C hardware_subarch
        .quad 0                             # 0x240 hardware_subarch_data
        .org 0x248

lkrn_setup:
        # The loader enters at CS = base + 0x20, IP = 0, i.e. at the jump at file offset
        # 0x200, which lands here. Code below uses only relative jumps and DS-relative
        # data (DS = base, so labels = offsets), so CS need not be normalised.
        cli
        cld
        movw %cs, %ax
        subw $0x20, %ax
        movw %ax, %ds
        movzwl %ax, %ebp
        shll $4, %ebp                       # EBP = boot_params linear address

        # Point the temporary GDT descriptor at the GDT's linear address.
        leal lkrn_tmp_gdt(%ebp), %eax
        movl %eax, lkrn_tmp_gdt_desc + 2

        # A20 through port 0x92. Bit 0 is fast reset: always write it as 0.
        inb $0x92, %al
        testb $0x02, %al
        jnz 1f
        orb $0x02, %al
        andb $0xFE, %al
        outb %al, $0x92
1:
        lgdtl lkrn_tmp_gdt_desc
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        # The protected-mode part is linked at 1 MiB, where LOADED_HIGH loaders put it.
        ljmpl $0x08, $lkrn_pm32_entry

        .balign 8
lkrn_tmp_gdt:
        .quad 0x0000000000000000
        .quad 0x00CF9A000000FFFF            # 0x08 32-bit code, flat
        .quad 0x00CF92000000FFFF            # 0x10 data, flat
lkrn_tmp_gdt_end:
lkrn_tmp_gdt_desc:
        .word lkrn_tmp_gdt_end - lkrn_tmp_gdt - 1
        .long 0                             # patched: linear address of lkrn_tmp_gdt
lkrn_version:
        .asciz "netboot "#,
            env!("CARGO_PKG_VERSION"),
            r#""

        # 32-bit entry at 1 MiB: copy .lowmem down to its link address, then go on.
        .section .text32.entry, "ax"
        .code32
        .globl lkrn_pm32_entry
lkrn_pm32_entry:
        movl $0x10, %eax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        cld
        movl $lkrn_lowmem_load, %esi
        movl $__lowmem_start, %edi
        movl $__lowmem_end, %ecx
        subl %edi, %ecx
        rep movsb
        movl $2, %ebx                       # BootKind::Linux; EBP = boot_params
        jmp netboot_pm32_entry
        .code64
"#
        ),
        options(att_syntax, raw)
    );
    const _: () = assert!(BootKind::Linux as u32 == 2, "the setup passes 2 in EBX");

    /// Called by the shared long-mode entry: prints what the loader handed over, sets up
    /// the platform (E820 heap, clock, netboot's own virtio-net driver for every
    /// virtio-net PCI function: `net0`, `net1`, …), runs the embedded script or autoboot
    /// through the shared runtime, then prints the status and powers off.
    #[unsafe(no_mangle)]
    extern "C" fn netboot_bios_main(kind: u32, boot_params: u64) -> ! {
        // SAFETY: we own the machine; COM1 and the VGA text screen are the PC standard
        // devices, identity mapped by the entry code.
        let mut con = unsafe { BiosConsole::init(true) };
        let _ = netboot_core::startup::announce(&mut con);
        if BootKind::from_raw(kind) != Some(BootKind::Linux) {
            let _ = write!(con, "unexpected boot kind {kind}\r\n");
        }
        // SAFETY: 0-4 GiB is identity mapped; we only follow the loader's pointers.
        let mem = unsafe { IdentityMapped::new(IDENTITY_MAP_LIMIT) };
        let loader = linux::type_of_loader(&mem, boot_params).unwrap_or(0);
        let _ = write!(
            con,
            "boot_params at {boot_params:#x}, loader {loader:#04x}\r\n"
        );
        let _ = match linux::command_line(&mem, boot_params) {
            Ok(Some(line)) => write!(con, "cmdline: {}\r\n", Escaped(line)),
            Ok(None) => con.write_str("cmdline: (none)\r\n"),
            Err(e) => write!(con, "cmdline: ({e})\r\n"),
        };
        // SAFETY: called once, in the entry environment, before any large allocation;
        // the virtio-net devices are ours (no PXE ROM drives them: lkrn is not started by
        // one, or its stack is no longer in use) and memory is identity mapped.
        let platform =
            unsafe { BiosPlatform::init_with_nics(con, |con| virtio_net::open_all(con)) };
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
    eprintln!("netboot.lkrn is BIOS firmware: build it with `cargo xtask build`");
    std::process::exit(2);
}
