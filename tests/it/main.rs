//! The integration tests: one binary, one module per area.

#[path = "../common/mod.rs"]
mod common;
mod hostile_trees;
mod identity;
mod layers;
