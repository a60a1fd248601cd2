//! The bundle key and IIFE global emitter: `js::global_name_problem`, `package::bundle_object`
//! and `package::alias_statements` over keys taken from the input.
//! The property lives in `fuzz/checks.rs`, shared with `tests/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::bundle_keys(data));
