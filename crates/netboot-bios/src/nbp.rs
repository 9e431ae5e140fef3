//! Chaining another PXE network boot program (`chain undionly.kpxe`) with the PXE ROM's
//! stack intact (ipxe-behaviour §9.2).
//!
//! A PXE ROM starts an NBP by loading it at 0000:7C00 and far-calling it in real mode
//! with ES:BX → `PXENV+` and the `!PXE` far pointer at SS:SP+4. netboot does the same
//! with the pointers its own ROM gave it, after closing its use of UNDI (`UNDI_CLOSE`:
//! the stack stays started and initialised, as the ROM left it for netboot).
//!
//! 0000:7C00 is also where `netboot.kpxe`'s real-mode code (the thunk, the GDT) lives,
//! so the NBP cannot be put there from long mode. Instead it is staged in free base
//! memory above both, a small position-independent launcher is copied to
//! [`LAUNCHER_AT`], and the thunk far-calls the launcher, which copies the NBP down to
//! 0000:7C00 in real mode, points the return address on the stack at its own
//! `INT 18h` stub (the thunk it would return to is gone) and jumps to 0000:7C00 with
//! the PXE ROM's registers and stack layout. The launcher never returns to netboot.
//!
//! [`plan`] does the arithmetic (host-tested); `launch` (firmware builds only) the hand-over.

/// Where a PXE ROM loads an NBP.
pub const NBP_LOAD: u32 = 0x7C00;
/// The largest NBP a PXE ROM accepts (iPXE's limit: 0x7C00 + 0x98400 = 0xA0000).
pub const NBP_MAX: usize = 0x98400;
/// Where the launcher is copied: free conventional memory below the real-mode stack
/// (which grows down from 0x7C00).
pub const LAUNCHER_AT: u32 = 0x0600;
/// Room reserved for the launcher at [`LAUNCHER_AT`].
pub const LAUNCHER_MAX: usize = 0x100;

/// Where the NBP is staged before the launcher copies it to [`NBP_LOAD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staging {
    /// Linear address (paragraph aligned) of the staged copy.
    pub at: u32,
    /// Paragraphs the launcher copies (the NBP size rounded up to 16 bytes).
    pub paragraphs: u16,
}

/// Plans the staging of an NBP of `len` bytes: above both 0x7C00 + `len` (its final
/// place) and `lowmem_end` (the end of netboot's real-mode code and data, still in use
/// until the launcher runs), ending at most at `base_top` (the end of free base memory:
/// the BIOS data area's size at 0x413 and E820, below the PXE ROM's own data).
pub fn plan(len: usize, lowmem_end: u32, base_top: u32) -> Result<Staging, alloc::string::String> {
    use alloc::format;
    if len == 0 {
        return Err("the PXE boot program is empty".into());
    }
    if len > NBP_MAX {
        return Err(format!(
            "the PXE boot program is {len} bytes; a PXE ROM loads at most {NBP_MAX} bytes at \
             0000:7C00 (use a smaller NBP, or a .lkrn/.efi image)"
        ));
    }
    let padded = len.div_ceil(16) * 16;
    let at = (NBP_LOAD as usize + padded).max(lowmem_end as usize);
    let at = at.div_ceil(16) * 16;
    if at + padded > base_top as usize {
        return Err(format!(
            "no room to stage the {len}-byte PXE boot program in base memory: it would need \
             {:#x}..{:#x}, free base memory ends at {base_top:#x} (the PXE ROM keeps the \
             rest); use a smaller NBP",
            at,
            at + padded
        ));
    }
    Ok(Staging {
        at: at as u32,
        paragraphs: (padded / 16) as u16,
    })
}

#[cfg(target_os = "none")]
mod launch_impl {
    use super::{LAUNCHER_AT, LAUNCHER_MAX, NBP_LOAD, Staging};
    use crate::pxe::EntryArgs;
    use crate::realmode::{self, RmRegs};

    // The launcher: 16-bit code that runs at LAUNCHER_AT, entered by the thunk's far call
    // with DS = staging segment, CX = paragraphs, ES:BX = PXENV+ and the stack words
    // [!PXE offset, !PXE segment] above the return address. Only relative jumps, and
    // absolute addresses computed from LAUNCHER_AT, so it runs wherever it is copied to
    // as long as that is LAUNCHER_AT.
    core::arch::global_asm!(
        r#"
    .section .rodata.netboot_nbp_launcher, "a"
    .code16
    .globl netboot_nbp_launcher
    .globl netboot_nbp_launcher_end
netboot_nbp_launcher:
    cli
    cld
    # The thunk that called us is about to be overwritten: if the NBP returns, it
    # returns to the INT 18h stub below ("boot failed, try the next device").
    movw %sp, %bp
    movw ${at} + (9f - netboot_nbp_launcher), 0(%bp)
    movw $0, 2(%bp)
    movw %es, %dx
    movw ${load_seg}, %ax
    movw %ax, %es
1:
    xorw %si, %si
    xorw %di, %di
    movsl
    movsl
    movsl
    movsl
    movw %ds, %ax
    incw %ax
    movw %ax, %ds
    movw %es, %ax
    incw %ax
    movw %ax, %es
    loop 1b
    # The PXE ROM's hand-over: ES:BX -> PXENV+, !PXE at SS:SP+4, CS:IP = 0000:7C00.
    movw %dx, %es
    xorw %ax, %ax
    movw %ax, %ds
    xorl %eax, %eax
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %edi, %edi
    xorl %ebp, %ebp
    sti
    ljmp $0, ${load}
9:
    int $0x18
8:
    cli
    hlt
    jmp 8b
netboot_nbp_launcher_end:
    .code64
"#,
        at = const LAUNCHER_AT,
        load = const NBP_LOAD,
        load_seg = const NBP_LOAD >> 4,
        options(att_syntax)
    );

    unsafe extern "C" {
        static netboot_nbp_launcher: u8;
        static netboot_nbp_launcher_end: u8;
    }

    /// Stages `nbp` at `staging`, copies the launcher to [`LAUNCHER_AT`] and enters it:
    /// the NBP starts at 0000:7C00 with ES:BX = `args.pxenv` and `args.pxe` at
    /// SS:SP+4. Does not return.
    ///
    /// # Safety
    ///
    /// Must run in the environment of the `entry` module with nothing else of netboot
    /// still needed: the staging area (from [`super::plan`]), [`LAUNCHER_AT`] and
    /// 0x7C00 onwards are overwritten, and the network devices must be closed. `args`
    /// must be the PXE ROM's entry arguments.
    pub unsafe fn launch(nbp: &[u8], staging: Staging, args: &EntryArgs) -> ! {
        // SAFETY: identity mapped base memory that the caller gives up (contract); the
        // launcher's bytes are the linked blob between its two labels.
        unsafe {
            let start = &raw const netboot_nbp_launcher;
            let end = &raw const netboot_nbp_launcher_end;
            let len = end as usize - start as usize;
            assert!(len <= LAUNCHER_MAX, "NBP launcher too large");
            core::ptr::copy_nonoverlapping(start, LAUNCHER_AT as usize as *mut u8, len);
            let dst = staging.at as usize as *mut u8;
            core::ptr::copy_nonoverlapping(nbp.as_ptr(), dst, nbp.len());
            let padded = usize::from(staging.paragraphs) * 16;
            core::ptr::write_bytes(dst.add(nbp.len()), 0, padded - nbp.len());
        }
        let mut regs = RmRegs {
            ebx: u32::from(args.pxenv.offset()),
            ecx: u32::from(staging.paragraphs),
            ds: (staging.at >> 4) as u16,
            es: args.pxenv.segment(),
            target: LAUNCHER_AT, // segment 0, offset LAUNCHER_AT
            stack_words: 2,
            ..RmRegs::default()
        };
        regs.stack[0] = args.pxe.offset();
        regs.stack[1] = args.pxe.segment();
        // SAFETY: the launcher is real-mode code at its link address; it does not return
        // (contract of this function for the memory it overwrites).
        unsafe { realmode::call(&mut regs) };
        crate::halt()
    }
}

#[cfg(target_os = "none")]
pub use launch_impl::launch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nbp_is_staged_above_its_final_place_and_netboots_low_memory() {
        // 74,213 bytes (undionly.kpxe): final place 0x7C00..0x19EE5.
        let s = plan(74_213, 0x9000, 0x9C000).expect("fits");
        assert_eq!(s.at, 0x19DF0);
        assert_eq!(s.paragraphs, 4639);
        assert!(s.at as usize >= NBP_LOAD as usize + 74_213);
        // A tiny NBP: staged above netboot's real-mode code instead.
        let s = plan(100, 0xA123, 0x9C000).expect("fits");
        assert_eq!(s.at, 0xA130);
        assert_eq!(s.paragraphs, 7);
    }

    #[test]
    fn nbps_that_do_not_fit_are_refused_with_the_reason() {
        let err = |len| match plan(len, 0x9000, 0x9C000) {
            Ok(s) => panic!("{len} bytes should not fit, got {s:?}"),
            Err(e) => e,
        };
        assert!(err(0).contains("empty"));
        let e = err(NBP_MAX + 1);
        assert!(e.contains("at most"), "{e}");
        let e = err(320_000);
        assert!(e.contains("no room to stage"), "{e}");
    }
}
