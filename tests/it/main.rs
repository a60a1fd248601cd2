//! The integration tests: one binary, one module per area.

mod hostile_trees;
mod layers;
mod npm_names;
