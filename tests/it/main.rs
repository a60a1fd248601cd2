//! The integration tests: one binary, one module per area.

// Shared helpers of the older test binaries (tests/common, tests/support), used by the modules
// moved here.
#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;
#[path = "../support/sync/mod.rs"]
mod support_sync;

mod hostile_trees;
mod jsclient;
mod keys;
mod layers;
