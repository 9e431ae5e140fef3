//! The shared mode-switch code: GDT, 32-bit protected-mode entry, 64-bit entry.
//!
//! Only compiled for `target_os = "none"`. Each firmware binary supplies a real-mode
//! prefix and a linker script; this module supplies what comes after the prefix.
//!
//! # Contract with the binaries
//!
//! The prefix jumps to **`netboot_pm32_entry`** in 32-bit protected mode (any flat
//! 32-bit code selector, interrupts off) with:
//!
//! * EBX = [`BootKind`](crate::BootKind) value,
//! * EBP = loader argument (32 bits; zero-extended for Rust),
//! * everything this module puts in `.text16`/`.data16` present at its link address.
//!
//! The linker script must provide `__bss_start` and `__bss_end` (16-byte aligned) around
//! all `.bss*` input sections, keep `.text16`/`.data16` below 64 KiB (so a future
//! real-mode thunk can reach the GDT and its data with CS = DS = 0), and put `.text32`
//! and everything else below 2 GiB (the kernel code model).
//!
//! The binary must define
//!
//! ```ignore
//! #[unsafe(no_mangle)]
//! extern "C" fn netboot_bios_main(kind: u32, loader_arg: u64) -> !
//! ```
//!
//! which is called in long mode on a 64 KiB stack, with 0–4 GiB identity mapped by
//! 2 MiB pages, interrupts off and no IDT (an exception triple-faults).
//!
//! # Symbols
//!
//! | Symbol | Section | What |
//! |---|---|---|
//! | `netboot_gdt`, `netboot_gdt_desc` | `.data16` | GDT (selectors below) and its `lgdt` operand |
//! | `netboot_pm32_entry` | `.text32` | common 32-bit entry |
//! | `netboot_pml4`, `netboot_pdpt`, `netboot_pd` | `.bss` | page tables (6 pages) |
//! | `netboot_stack_top` | `.bss` | top of the 64 KiB stack |
//!
//! GDT selectors (platform-notes §2.3): 0x08 32-bit code, 0x10 flat data, 0x18 64-bit
//! code, 0x20 unused, 0x28 16-bit code (base 0, limit 0xFFFF), 0x30 16-bit data.

/// Selector of the flat 32-bit code segment.
pub const SEL_CODE32: u16 = 0x08;
/// Selector of the flat data segment.
pub const SEL_DATA: u16 = 0x10;
/// Selector of the 64-bit code segment.
pub const SEL_CODE64: u16 = 0x18;
/// Selector of the 16-bit code segment (base 0, limit 64 KiB), for a real-mode thunk.
pub const SEL_CODE16: u16 = 0x28;
/// Selector of the 16-bit data segment (base 0, limit 64 KiB), for a real-mode thunk.
pub const SEL_DATA16: u16 = 0x30;
/// Size of the long-mode stack.
pub const STACK_SIZE: usize = 64 * 1024;

// The GDT lives in `.data16`, in base memory below 64 KiB, so that real-mode code (a
// future thunk, which must reload it after every BIOS call) can `lgdt` it with DS = 0.
core::arch::global_asm!(
    r#"
    .section .data16, "aw"
    .code16
    .balign 16
    .globl netboot_gdt
netboot_gdt:
    .quad 0x0000000000000000    # 0x00 null
    .quad 0x00CF9A000000FFFF    # 0x08 32-bit code, base 0, limit 4 GiB
    .quad 0x00CF92000000FFFF    # 0x10 data, base 0, limit 4 GiB
    .quad 0x00AF9A000000FFFF    # 0x18 64-bit code (L = 1)
    .quad 0x0000000000000000    # 0x20 unused
    .quad 0x00009A000000FFFF    # 0x28 16-bit code, base 0, limit 0xFFFF
    .quad 0x000092000000FFFF    # 0x30 16-bit data, base 0, limit 0xFFFF
netboot_gdt_end:
    .balign 4
    .globl netboot_gdt_desc
netboot_gdt_desc:
    .word netboot_gdt_end - netboot_gdt - 1
    .long netboot_gdt
    .code64
"#,
    options(att_syntax, raw)
);

// Common 32-bit entry: flat segments, zero .bss, stack, page tables, long mode.
core::arch::global_asm!(
    r#"
    .section .text32, "ax"
    .code32
    .globl netboot_pm32_entry
netboot_pm32_entry:
    cli
    cld
    # Our own GDT (the prefix may have used a temporary one), and reload CS from it.
    lgdt netboot_gdt_desc
    ljmp $0x08, $1f
1:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss

    # Zero .bss: the loaders do not. EBX and EBP (our arguments) are not touched.
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    # A full 32-bit stack pointer: the upper half of ESP is garbage after real mode.
    movl $netboot_stack_top, %esp

    # Identity map 0-4 GiB: PML4[0] -> PDPT, PDPT[0..4] -> PD[0..4], 2048 x 2 MiB pages.
    movl $netboot_pdpt + 0x003, netboot_pml4
    movl $netboot_pdpt, %edi
    movl $netboot_pd + 0x003, %eax
    movl $4, %ecx
2:
    movl %eax, (%edi)
    addl $0x1000, %eax
    addl $8, %edi
    loop 2b
    movl $netboot_pd, %edi
    movl $0x083, %eax           # present, writable, 2 MiB page
    movl $2048, %ecx
3:
    movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 3b

    # PAE, page-table root, EFER.LME, then paging (which activates long mode).
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $netboot_pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    ljmp $0x18, $netboot_lm64_entry
    .code64
"#,
    options(att_syntax, raw)
);

// 64-bit entry: data segments, stack, call the binary's Rust entry.
core::arch::global_asm!(
    r#"
    .section .text.netboot_lm64_entry, "ax"
    .code64
netboot_lm64_entry:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movq $netboot_stack_top, %rsp
    movl %ebx, %edi             # kind
    movl %ebp, %esi             # loader argument, zero-extended
    xorl %ebp, %ebp
    call netboot_bios_main
4:
    cli
    hlt
    jmp 4b
"#,
    options(att_syntax, raw)
);

// Page tables and stack. Zeroed by netboot_pm32_entry with the rest of .bss.
core::arch::global_asm!(
    r#"
    .section .bss.netboot_paging, "aw", @nobits
    .balign 4096
    .globl netboot_pml4
netboot_pml4:
    .skip 4096
    .globl netboot_pdpt
netboot_pdpt:
    .skip 4096
    .globl netboot_pd
netboot_pd:
    .skip 4 * 4096

    .section .bss.netboot_stack, "aw", @nobits
    .balign 16
netboot_stack_bottom:
    .skip 65536
    .globl netboot_stack_top
netboot_stack_top:
    .code64
"#,
    options(att_syntax, raw)
);
