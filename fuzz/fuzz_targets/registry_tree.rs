//! The registry tree walker: `verify --repair` and publish's leftover clean-up over a registry
//! with planted folders, files, sockets and links (`fuzz/checks.rs::registry_tree`).
//! Nothing outside the registry may change.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::registry_tree(data));
