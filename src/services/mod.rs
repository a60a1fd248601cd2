//! Services: what kbrel does with a knowledge base and a registry, one job each. They use
//! one another without cycles (the layering test checks it).

pub mod compat;
pub mod error;
pub mod git;
pub mod hashcache;
pub mod history;
pub mod package;
pub mod registry;
pub mod remote;
pub mod snapshot;

// The pure services live in kbrel-core; `crate::services::diff` and the flat paths keep working.
pub use kbrel_core::services::{baseline, changelog, diff, lint, mdx};
