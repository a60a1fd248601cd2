//! Services: what kbrel does with a knowledge base and a registry, one job each. They use
//! one another without cycles (the layering test checks it).

pub mod baseline;
pub mod changelog;
pub mod compat;
pub mod diff;
pub mod git;
pub mod history;
pub mod lint;
pub mod mdx;
pub mod package;
pub mod registry;
pub mod remote;
pub mod snapshot;
