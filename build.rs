//! Link-time settings for the `kbrel` binaries (nothing is generated).
//!
//! On Linux with glibc, pack the binary's relative relocations (`DT_RELR`): the loader then
//! reads 7.9 KB of relocation records at start instead of 534 KB (22,094 entries); a small
//! `kbrel diff` takes ~0.4 ms less, a tenth of it (ARCHITECTURE.md, Build). GNU ld
//! emits `DT_RELR` only when the C library it links against supports it (glibc 2.36 and
//! later) and ignores the option, with a warning, before binutils 2.38; so older systems
//! build the same binary as without it.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
