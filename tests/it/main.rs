//! The integration tests: one binary, one module per area.

#[path = "../common/mod.rs"]
mod common;

mod adopt;
mod hostile_trees;
mod layers;
