//! The integration tests: one binary (one link of the crate), one module per area, one helper
//! module (`common`). New tests go into a module here, never into a new file under `tests/`.

mod common;

mod adopt;
mod assets;
mod bundles;
mod diff;
mod fault;
mod git;
mod hostile;
mod hostile_trees;
mod identity;
mod jsclient;
mod keys;
mod layers;
mod layouts;
mod lint;
mod node;
mod npm_compat;
mod npm_names;
mod objstore;
mod output;
mod publish;
mod releases;
mod schema;
mod serve;
mod sync;
mod web;
