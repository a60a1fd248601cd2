//! The deflate codec's contract (crates/kbrel-deflate): tokens derived from the input are coded,
//! inflated by zlib and read back. The property lives in `fuzz/checks.rs`, shared with
//! `tests/it/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::deflate_tokens(data));
