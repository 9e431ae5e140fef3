//! Random numbers for TLS on machines without an operating system.
//!
//! TLS needs unpredictable key shares and nonces. On the host the OS provides them
//! (`getrandom`); on the firmware targets netboot registers this module as `getrandom`'s
//! custom source. It is a hash DRBG (SHA-256 in counter mode, rekeyed after every request
//! for forward secrecy) seeded, and reseeded on every request, from every source the
//! machine has:
//!
//! * the platform's source, when a backend registered one with [`set_entropy_source`]
//!   (netboot-efi: `EFI_RNG_PROTOCOL`, which OVMF provides with a virtio-rng device or
//!   RDRAND);
//! * the CPU's `RDSEED`/`RDRAND` instructions, when CPUID says they exist;
//! * timing jitter: time-stamp counter deltas around memory accesses, which every x86
//!   machine has. On its own this is weak; [`strength`] says which sources were found so
//!   the runtime can warn.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use sha2::{Digest, Sha256};

/// A platform entropy source: fills the buffer, or returns `false`.
pub type EntropySource = fn(&mut [u8]) -> bool;

static SOURCE: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
/// Bit 0: the platform source answered; bit 1: RDSEED/RDRAND answered.
static SEEN: AtomicU8 = AtomicU8::new(0);

/// Registers the platform's entropy source (call once at start-up).
pub fn set_entropy_source(source: EntropySource) {
    SOURCE.store(source as *mut (), Ordering::Release);
}

/// Which entropy sources fed the generator so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    /// The platform's RNG (and perhaps the CPU's) answered.
    Platform,
    /// The CPU's RDSEED/RDRAND answered.
    Cpu,
    /// Only timing jitter: keys are guessable by a determined attacker.
    JitterOnly,
}

/// The strength of the seeds used so far.
pub fn strength() -> Strength {
    let seen = SEEN.load(Ordering::Relaxed);
    if seen & 1 != 0 {
        Strength::Platform
    } else if seen & 2 != 0 {
        Strength::Cpu
    } else {
        Strength::JitterOnly
    }
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Once, on the firmware targets, after TLS used random numbers seeded by timing jitter
/// alone: a warning for the console. `None` otherwise (and always on the host, whose
/// operating system provides the randomness).
pub fn take_weak_warning() -> Option<&'static str> {
    let firmware = cfg!(any(target_os = "none", target_os = "uefi"));
    let seeded = GLOBAL.seeded.load(Ordering::Relaxed);
    if !firmware
        || !seeded
        || strength() != Strength::JitterOnly
        || WARNED.swap(true, Ordering::Relaxed)
    {
        return None;
    }
    Some(
        "warning: no hardware random source (EFI_RNG_PROTOCOL, RDRAND): TLS keys come from \
         timing jitter only (QEMU: add -device virtio-rng-pci)",
    )
}

fn platform_entropy(buf: &mut [u8]) -> bool {
    let ptr = SOURCE.load(Ordering::Acquire);
    if ptr.is_null() {
        return false;
    }
    // SAFETY: only `set_entropy_source` stores into SOURCE, always an `EntropySource`.
    let source: EntropySource = unsafe { core::mem::transmute::<*mut (), EntropySource>(ptr) };
    source(buf)
}

#[cfg(target_arch = "x86_64")]
fn cpu_entropy(out: &mut [u8; 32]) -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let (leaf1, leaf7) = (__cpuid(1), __cpuid_count(7, 0));
    let rdrand = leaf1.ecx & (1 << 30) != 0;
    let rdseed = leaf7.ebx & (1 << 18) != 0;
    if !rdrand && !rdseed {
        return false;
    }
    for chunk in out.chunks_mut(8) {
        let mut value = 0u64;
        let mut ok = false;
        for _ in 0..16 {
            // SAFETY: CPUID said the instruction exists; it only writes `value`.
            let carry: u8;
            unsafe {
                if rdseed {
                    core::arch::asm!("rdseed {v}", "setc {c}", v = out(reg) value, c = out(reg_byte) carry);
                } else {
                    core::arch::asm!("rdrand {v}", "setc {c}", v = out(reg) value, c = out(reg_byte) carry);
                }
            }
            if carry != 0 {
                ok = true;
                break;
            }
        }
        if !ok {
            return false;
        }
        chunk.copy_from_slice(&value.to_le_bytes()[..chunk.len()]);
    }
    true
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_entropy(_out: &mut [u8; 32]) -> bool {
    false
}

/// Timing jitter: time-stamp counter deltas around work whose duration varies.
fn jitter(hasher: &mut Sha256) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut scratch = [0u8; 256];
        for round in 0..64u32 {
            // SAFETY: RDTSC is available on every x86_64 CPU.
            let t0 = unsafe { core::arch::x86_64::_rdtsc() };
            for (i, b) in scratch.iter_mut().enumerate() {
                *b = b
                    .wrapping_add((i as u8) ^ (t0 as u8))
                    .rotate_left(round & 7);
            }
            let t1 = unsafe { core::arch::x86_64::_rdtsc() };
            hasher.update(t1.wrapping_sub(t0).to_le_bytes());
            hasher.update(t1.to_le_bytes());
        }
        hasher.update(core::hint::black_box(scratch));
    }
    #[cfg(not(target_arch = "x86_64"))]
    hasher.update(b"no timer");
}

/// The generator: a 32-byte key, replaced after every request.
struct Drbg {
    key: [u8; 32],
}

impl Drbg {
    /// Mixes fresh entropy from every source into the key.
    fn reseed(&mut self) {
        let mut hasher = Sha256::new();
        hasher.update(b"netboot drbg reseed");
        hasher.update(self.key);
        let mut buf = [0u8; 32];
        if platform_entropy(&mut buf) {
            SEEN.fetch_or(1, Ordering::Relaxed);
            hasher.update(buf);
        }
        if cpu_entropy(&mut buf) {
            SEEN.fetch_or(2, Ordering::Relaxed);
            hasher.update(buf);
        }
        jitter(&mut hasher);
        self.key = hasher.finalize().into();
    }

    fn fill(&mut self, out: &mut [u8]) {
        self.reseed();
        for (counter, chunk) in out.chunks_mut(32).enumerate() {
            let block = Sha256::new()
                .chain_update(b"netboot drbg output")
                .chain_update(self.key)
                .chain_update((counter as u64).to_le_bytes())
                .finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        // Forward secrecy: the key that produced this output is gone.
        self.key = Sha256::new()
            .chain_update(b"netboot drbg rekey")
            .chain_update(self.key)
            .finalize()
            .into();
    }
}

/// The one generator; firmware is single-threaded, and the flag refuses re-entry.
struct Global {
    busy: AtomicBool,
    /// Whether the generator produced output yet.
    seeded: AtomicBool,
    drbg: UnsafeCell<Drbg>,
}

// SAFETY: access to `drbg` is serialised by `busy`.
unsafe impl Sync for Global {}

static GLOBAL: Global = Global {
    busy: AtomicBool::new(false),
    seeded: AtomicBool::new(false),
    drbg: UnsafeCell::new(Drbg { key: [0; 32] }),
};

/// Fills `out` with random bytes; `false` only if the generator stays busy (re-entered
/// from an interrupt, or another thread holding it for a very long time).
pub fn fill(out: &mut [u8]) -> bool {
    let mut spins = 0u32;
    while GLOBAL.busy.swap(true, Ordering::Acquire) {
        spins += 1;
        if spins > 10_000_000 {
            return false;
        }
        core::hint::spin_loop();
    }
    // SAFETY: `busy` was false, so this is the only reference.
    let drbg = unsafe { &mut *GLOBAL.drbg.get() };
    drbg.fill(out);
    GLOBAL.seeded.store(true, Ordering::Relaxed);
    GLOBAL.busy.store(false, Ordering::Release);
    true
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
fn getrandom_custom(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    if fill(buf) {
        Ok(())
    } else {
        Err(getrandom::Error::UNSUPPORTED)
    }
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
getrandom::register_custom_getrandom!(getrandom_custom);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_differ_and_are_not_constant() {
        let mut a = [0u8; 70];
        let mut b = [0u8; 70];
        assert!(fill(&mut a));
        assert!(fill(&mut b));
        assert_ne!(a, b);
        assert_ne!(a[..32], a[32..64]);
        assert!(a.iter().any(|&x| x != 0));
    }

    #[test]
    fn a_registered_platform_source_is_used() {
        fn source(buf: &mut [u8]) -> bool {
            buf.fill(7);
            true
        }
        set_entropy_source(source);
        let mut a = [0u8; 16];
        assert!(fill(&mut a));
        assert_eq!(strength(), Strength::Platform);
    }
}
