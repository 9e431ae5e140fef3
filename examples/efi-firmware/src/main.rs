//! `netboot.efi`: the UEFI firmware. Build it with `cargo xtask build`, which writes
//! `target/netboot/netboot.efi`; on the host this binary only explains that.
//!
//! A thin binary: it prints the banner, builds the `netboot_efi::EfiPlatform` (SNP NICs,
//! TSC clock, SMBIOS settings, LoadImage/StartImage) and hands it to the shared runtime,
//! which runs the embedded script or autoboots. When the runtime finishes (`exit N`, a
//! failed autoboot, the end of the script, or a started image that returned) it returns
//! to the firmware's boot manager like any EFI application, with `EFI_SUCCESS` for status
//! 0 and an error status otherwise (`netboot_efi::exit::exit_status`), so the boot manager
//! runs the next boot option after a failure. The NICs are handed back first. A script
//! that wants the machine off says `poweroff`.
#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
mod firmware {
    use core::fmt::Write as _;
    use netboot_efi::status::StatusName;
    use netboot_efi::{EfiConsole, EfiPlatform};
    use netboot_script::machine::Machine;
    use uefi::prelude::*;

    #[entry]
    fn main() -> Status {
        if netboot_core::startup::announce(&mut EfiConsole).is_err() {
            return Status::DEVICE_ERROR;
        }
        let mut machine = Machine::new(EfiPlatform::new());
        // iPXE's Ctrl-B window, before booting and after a failure.
        machine.set_prompt_ms(2000);
        let code = machine.run(netboot_core::embed::script());
        // Dropping the runtime hands the NICs back to the firmware's network drivers
        // (Shutdown, Stop, close the exclusive open, reconnect), so the next boot option
        // can use them.
        drop(machine);
        let status = netboot_efi::exit::exit_status(code);
        if code != 0 {
            // The runtime printed the failure; this line says what the boot manager gets.
            let _ = writeln!(
                EfiConsole,
                "netboot: finished with status {code:#x}: returning {} to the boot manager",
                StatusName(status)
            );
        } else {
            let _ = writeln!(
                EfiConsole,
                "netboot: returning {} to the boot manager",
                StatusName(status)
            );
        }
        status
    }
}

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("netboot.efi is UEFI firmware: build it with `cargo xtask build`");
    std::process::exit(2);
}
