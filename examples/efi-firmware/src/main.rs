//! `netboot.efi`: the UEFI firmware. Build it with `cargo xtask build`, which writes
//! `target/netboot/netboot.efi`; on the host this binary only explains that.
//!
//! A thin binary: it prints the banner, builds the `netboot_efi::EfiPlatform` (SNP NICs,
//! TSC clock, SMBIOS settings, LoadImage/StartImage) and hands it to the shared runtime,
//! which runs the embedded script or autoboots. When the runtime gives up (or a started
//! image returns) the machine powers off.
#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
mod firmware {
    use core::fmt::Write as _;
    use netboot_core::platform::{Platform, PowerAction};
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
        let status = machine.run(netboot_core::embed::script());
        if status != 0 {
            // The runtime printed the failure; the status is for logs and exit codes.
            let _ = writeln!(EfiConsole, "netboot: finished with status {status:#x}");
        }
        // ResetSystem(SHUTDOWN) does not return; if it did, report why.
        let why = machine.platform().power(PowerAction::PowerOff);
        let _ = writeln!(EfiConsole, "{}", why.message);
        Status::ABORTED
    }
}

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("netboot.efi is UEFI firmware: build it with `cargo xtask build`");
    std::process::exit(2);
}
