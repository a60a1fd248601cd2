//! `kbrel::diff::word::word_diff` of the two halves of the input; the pieces must rebuild the new text.
//! The property lives in `fuzz/checks.rs`, shared with `tests/it/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::word_diff(data));
