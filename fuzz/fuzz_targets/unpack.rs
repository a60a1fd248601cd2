//! `kbrel::package::unpack` (the hardened tarball reader) on the input, with small limits.
//! The property lives in `fuzz/checks.rs`, shared with `tests/it/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::unpack(data));
