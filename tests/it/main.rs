//! The integration tests: one binary, one module per area.

// Shared helpers of the older test binaries (tests/common, tests/support), used by the modules
// moved here.
#[path = "../common/mod.rs"]
mod common;
#[path = "../support/sync/mod.rs"]
mod support_sync;

mod adopt;
mod hostile_trees;
mod jsclient;
mod layers;
