//! Links the `kbrel` binary as a position-dependent executable (ARCHITECTURE.md,
//! "Dependencies/build"): a PIE binary of this size carries tens of thousands of relative
//! relocations that the dynamic loader applies, page by page, at every start; `kbrel diff`
//! of a small change is over in a few milliseconds, so that start showed. Only on Linux
//! with GNU-style linkers, where the last of `-pie`/`-no-pie` wins; other targets and the
//! library, tests and examples are linked as before.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=kbrel=-no-pie");
    }
}
