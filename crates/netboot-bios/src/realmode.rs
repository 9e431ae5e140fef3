//! The real-mode thunk (platform-notes §2.9): BIOS interrupts and far calls (the PXE API)
//! from long mode.
//!
//! [`RmRegs`] is the register block shared with the assembly. The layout is the same on
//! every target and is checked by host tests; the thunk itself (`call`, `int`) is only
//! compiled for `target_os = "none"`.
//!
//! # The trip
//!
//! `netboot_rm_call` (64-bit) saves the callee-saved registers and RSP, far-returns to
//! the 32-bit code selector (compatibility mode), turns paging, EFER.LME and CR4.PAE off,
//! loads the 16-bit data selector into every segment register, jumps to the 16-bit code
//! selector, clears CR0.PE and far-jumps to segment 0: real mode. There it loads the
//! real-mode IDT (the IVT), switches to the real-mode stack (0000:[`RM_STACK_TOP`]),
//! pushes the stack words, enables interrupts, optionally pushes FLAGS (to emulate
//! `INT`), loads the registers and far-calls the target. On return it stores the
//! registers, **reloads the GDT** (BIOS services may load their own), and climbs back to
//! long mode with the page tables saved on the way down.
//!
//! Everything real mode touches lives in `.data16`/`.text16`, below 64 KiB: the code,
//! the register block, the PXE parameter block ([`PARAM_SIZE`] bytes) and the transmit
//! bounce buffer ([`TX_BUFFER_SIZE`] bytes).

/// Top of the real-mode stack (segment 0); it grows down into the free area below the
/// NBP's load address.
pub const RM_STACK_TOP: u16 = 0x7C00;
/// Size of the base-memory parameter block for PXE calls.
pub const PARAM_SIZE: usize = 256;
/// Size of the base-memory transmit bounce buffer.
pub const TX_BUFFER_SIZE: usize = 1536;
/// The largest number of stack words a far call can take.
pub const MAX_STACK_WORDS: usize = 8;
/// [`RmRegs::flags`] bit: emulate `INT` (push FLAGS before the far call).
pub const FLAG_INT: u16 = 1;
/// EFLAGS carry bit (the BIOS error flag).
pub const EFLAGS_CF: u32 = 1;

/// The register block shared with the assembly (platform-notes §2.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RmRegs {
    /// EAX in and out.
    pub eax: u32,
    /// EBX in and out.
    pub ebx: u32,
    /// ECX in and out.
    pub ecx: u32,
    /// EDX in and out.
    pub edx: u32,
    /// ESI in and out.
    pub esi: u32,
    /// EDI in and out.
    pub edi: u32,
    /// EBP in and out.
    pub ebp: u32,
    /// DS in and out.
    pub ds: u16,
    /// ES in and out.
    pub es: u16,
    /// EFLAGS after the call (out).
    pub eflags: u32,
    /// Far call target: offset in the low 16 bits, segment in the high 16 bits.
    pub target: u32,
    /// How many of [`RmRegs::stack`] are pushed before the call.
    pub stack_words: u16,
    /// [`FLAG_INT`] or 0.
    pub flags: u16,
    /// Stack words; word 0 ends up at SS:SP at the call (it is pushed last).
    pub stack: [u16; MAX_STACK_WORDS],
}

impl RmRegs {
    /// Whether the carry flag was set on return (the BIOS failure convention).
    pub const fn carry(&self) -> bool {
        self.eflags & EFLAGS_CF != 0
    }
}

/// Splits a base-memory linear address into a real-mode `(segment, offset)` with the
/// offset below 16, or `None` above 1 MiB.
pub const fn seg_off(linear: u32) -> Option<(u16, u16)> {
    if linear >= 0x10_0000 {
        return None;
    }
    Some(((linear >> 4) as u16, (linear & 0xF) as u16))
}

#[cfg(target_os = "none")]
mod imp {
    use super::{FLAG_INT, RmRegs};

    core::arch::global_asm!(
        r#"
    .section .data16, "aw"
    .code16
    .balign 16
    .globl netboot_rm_regs
netboot_rm_regs:
    .skip 64
    .globl netboot_rm_param
netboot_rm_param:
    .skip 256
    .globl netboot_rm_txbuf
netboot_rm_txbuf:
    .skip 1536
    .balign 8
netboot_rm_saved_rsp:
    .quad 0
netboot_rm_saved_cr3:
    .long 0
    .balign 4
netboot_rm_idt_desc:
    .word 0x03FF
    .long 0
    .code64
"#,
        options(att_syntax, raw)
    );

    core::arch::global_asm!(
        r#"
    .section .text16.netboot_rm_call, "ax"
    .code64
    .globl netboot_rm_call
netboot_rm_call:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushfq
    movq %rsp, netboot_rm_saved_rsp
    movq %cr3, %rax
    movl %eax, netboot_rm_saved_cr3
    # Far return to the 32-bit code selector: compatibility mode.
    pushq $0x08
    pushq $netboot_rm_pm32_down
    lretq

    .code32
netboot_rm_pm32_down:
    # Paging off (leaves long mode), then LME and PAE off.
    movl %cr0, %eax
    andl $0x7FFFFFFF, %eax
    movl %eax, %cr0
    movl $0xC0000080, %ecx
    rdmsr
    andl $0xFFFFFEFF, %eax
    wrmsr
    movl %cr4, %eax
    andl $0xFFFFFFDF, %eax
    movl %eax, %cr4
    # 16-bit data selector: real-mode-compatible limits in the hidden parts.
    movl $0x30, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    ljmp $0x28, $netboot_rm_pm16_down

    .code16
netboot_rm_pm16_down:
    movl %cr0, %eax
    andl $0xFFFFFFFE, %eax
    movl %eax, %cr0
    ljmp $0, $netboot_rm_real

netboot_rm_real:
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    xorl %esp, %esp
    movw $0x7C00, %sp
    lidtl netboot_rm_idt_desc
    # Stack words, last first, so that word 0 ends up at SS:SP.
    movzwl netboot_rm_regs + 40, %ecx
    cmpw $8, %cx
    jbe 1f
    movw $8, %cx
1:
    jcxz 3f
2:
    movw %cx, %bx
    decw %bx
    shlw $1, %bx
    pushw netboot_rm_regs + 44(%bx)
    loop 2b
3:
    sti
    testw $1, netboot_rm_regs + 42
    jz 4f
    # Emulated INT: FLAGS with IF set for the handler's IRET, entered with IF clear.
    pushfw
    cli
4:
    movl %cs:netboot_rm_regs + 0, %eax
    movl %cs:netboot_rm_regs + 4, %ebx
    movl %cs:netboot_rm_regs + 8, %ecx
    movl %cs:netboot_rm_regs + 12, %edx
    movl %cs:netboot_rm_regs + 16, %esi
    movl %cs:netboot_rm_regs + 20, %edi
    movl %cs:netboot_rm_regs + 24, %ebp
    movw %cs:netboot_rm_regs + 30, %es
    movw %cs:netboot_rm_regs + 28, %ds
    lcallw *%cs:netboot_rm_regs + 36

    # Back from the callee: save everything with CS-relative addressing (CS = 0).
    pushfl
    cli
    popl %cs:netboot_rm_regs + 32
    cld
    movl %eax, %cs:netboot_rm_regs + 0
    movl %ebx, %cs:netboot_rm_regs + 4
    movl %ecx, %cs:netboot_rm_regs + 8
    movl %edx, %cs:netboot_rm_regs + 12
    movl %esi, %cs:netboot_rm_regs + 16
    movl %edi, %cs:netboot_rm_regs + 20
    movl %ebp, %cs:netboot_rm_regs + 24
    movw %ds, %cs:netboot_rm_regs + 28
    movw %es, %cs:netboot_rm_regs + 30
    xorw %ax, %ax
    movw %ax, %ds
    # The BIOS may have loaded its own GDT: always reload ours.
    lgdtl netboot_gdt_desc
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $netboot_rm_pm32_up

    .code32
netboot_rm_pm32_up:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl netboot_rm_saved_cr3, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    ljmp $0x18, $netboot_rm_lm64_up

    .code64
netboot_rm_lm64_up:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movq netboot_rm_saved_rsp, %rsp
    popfq
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret
"#,
        options(att_syntax, raw)
    );

    unsafe extern "C" {
        static mut netboot_rm_regs: RmRegs;
        static mut netboot_rm_param: [u8; super::PARAM_SIZE];
        static mut netboot_rm_txbuf: [u8; super::TX_BUFFER_SIZE];
        fn netboot_rm_call();
    }

    /// Performs a far call in real mode with the registers and stack words in `regs`,
    /// and returns the registers after the call in `regs`.
    ///
    /// # Safety
    ///
    /// Must run in the environment of the `entry` module (long mode with its GDT and
    /// page tables, interrupts off, single CPU), and the target must be real-mode code
    /// that returns with a far return (or an IRET, with [`FLAG_INT`]) and restores SS:SP.
    /// Whatever the callee does to memory is the caller's responsibility.
    pub unsafe fn call(regs: &mut RmRegs) {
        // SAFETY: single CPU, no interrupts: nothing else touches the block; the thunk
        // follows the contract above and preserves the callee-saved registers.
        unsafe {
            (&raw mut netboot_rm_regs).write_volatile(*regs);
            netboot_rm_call();
            *regs = (&raw const netboot_rm_regs).read_volatile();
        }
    }

    /// Calls BIOS interrupt `vector` (through the IVT, emulating `INT`).
    ///
    /// # Safety
    ///
    /// As for [`call`]; the vector must be a BIOS service that is safe with `regs`.
    pub unsafe fn int(vector: u8, regs: &mut RmRegs) {
        // Vector 0 would be the null pointer; no BIOS service lives there.
        assert!(vector != 0, "INT 0 is not a BIOS service");
        let ivt = usize::from(vector) * 4;
        // SAFETY: the IVT is at physical 0, identity mapped; `ivt` is not null.
        let target = unsafe { (ivt as *const u32).read_volatile() };
        regs.target = target;
        regs.flags = FLAG_INT;
        regs.stack_words = 0;
        // SAFETY: forwarded to the caller.
        unsafe { call(regs) };
    }

    /// Linear address of the base-memory parameter block ([`super::PARAM_SIZE`] bytes).
    pub fn param_addr() -> u32 {
        (&raw const netboot_rm_param) as usize as u32
    }

    /// Linear address of the base-memory transmit buffer ([`super::TX_BUFFER_SIZE`] bytes).
    pub fn txbuf_addr() -> u32 {
        (&raw const netboot_rm_txbuf) as usize as u32
    }

    /// Copies `bytes` into the parameter block (at most [`super::PARAM_SIZE`]).
    ///
    /// # Safety
    ///
    /// No real-mode call may be in progress (there never is: single CPU).
    pub unsafe fn write_param(bytes: &[u8]) {
        let n = bytes.len().min(super::PARAM_SIZE);
        // SAFETY: the block is ours and `n` bytes fit.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut netboot_rm_param).cast(), n)
        };
    }

    /// Copies the parameter block back into `bytes` (at most [`super::PARAM_SIZE`]).
    ///
    /// # Safety
    ///
    /// As for [`write_param`].
    pub unsafe fn read_param(bytes: &mut [u8]) {
        let n = bytes.len().min(super::PARAM_SIZE);
        // SAFETY: the block is ours and `n` bytes fit.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (&raw const netboot_rm_param).cast(),
                bytes.as_mut_ptr(),
                n,
            )
        };
    }

    /// Copies a frame into the transmit bounce buffer (at most
    /// [`super::TX_BUFFER_SIZE`] bytes) and returns the number of bytes copied.
    ///
    /// # Safety
    ///
    /// As for [`write_param`].
    pub unsafe fn write_txbuf(bytes: &[u8]) -> usize {
        let n = bytes.len().min(super::TX_BUFFER_SIZE);
        // SAFETY: the buffer is ours and `n` bytes fit.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut netboot_rm_txbuf).cast(), n)
        };
        n
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn register_block_matches_the_assembly() {
        assert_eq!(offset_of!(RmRegs, eax), 0);
        assert_eq!(offset_of!(RmRegs, ebp), 24);
        assert_eq!(offset_of!(RmRegs, ds), 28);
        assert_eq!(offset_of!(RmRegs, es), 30);
        assert_eq!(offset_of!(RmRegs, eflags), 32);
        assert_eq!(offset_of!(RmRegs, target), 36);
        assert_eq!(offset_of!(RmRegs, stack_words), 40);
        assert_eq!(offset_of!(RmRegs, flags), 42);
        assert_eq!(offset_of!(RmRegs, stack), 44);
        assert!(core::mem::size_of::<RmRegs>() <= 64);
    }

    #[test]
    fn segment_offset_split() {
        assert_eq!(seg_off(0x7C00), Some((0x07C0, 0)));
        assert_eq!(seg_off(0x9CC0F), Some((0x9CC0, 0xF)));
        assert_eq!(seg_off(0x10_0000), None);
        let regs = RmRegs {
            eflags: 0x203,
            ..RmRegs::default()
        };
        assert!(regs.carry());
    }
}
