//! `kbrel::content::build` with the input as one document (front matter, encodings, markdown), then `kbrel::lint::lint`.
//! The property lives in `fuzz/checks.rs`, shared with `tests/it/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::front_matter(data));
