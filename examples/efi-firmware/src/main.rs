//! `netboot.efi`: the UEFI firmware. Build it with `cargo xtask build`, which writes
//! `target/netboot/netboot.efi`; on the host this binary only explains that.
//!
//! Today it prints the banner and what the build embeds, then powers the machine off.
#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
mod firmware {
    use netboot_core::platform::{Power, PowerAction};
    use netboot_efi::{EfiConsole, EfiPower};
    use uefi::prelude::*;

    #[entry]
    fn main() -> Status {
        let mut console = EfiConsole;
        if netboot_core::startup::announce(&mut console).is_err() {
            return Status::DEVICE_ERROR;
        }
        // ResetSystem(SHUTDOWN) does not return; if it did, report why.
        let why = EfiPower.power(PowerAction::PowerOff);
        let _ = core::fmt::Write::write_str(&mut console, why);
        Status::ABORTED
    }
}

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("netboot.efi is UEFI firmware: build it with `cargo xtask build`");
    std::process::exit(2);
}
