//! Benchmarks of netboot's crates live in this package's `benches/` directory as they are
//! written (wire parsing, script interpretation, image probes, transfers through two
//! in-process smoltcp interfaces); the QEMU side-by-side with iPXE is `cargo xtask bench`.
//! None exist yet: the code they measure has not landed.
