//! The integration tests: one binary, one module per area.

mod layers;

// Shared helpers of the top-level test binaries, until they move here too.
#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod keys;
