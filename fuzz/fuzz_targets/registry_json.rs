//! `kbrel::manifest::parse_index`, `parse_manifest` and `parse_diff` on the input; what parses must re-parse to an equal value.
//! The property lives in `fuzz/checks.rs`, shared with `tests/it/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::registry_json(data));
