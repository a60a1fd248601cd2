//! Deterministic knowledge bases for kbrel's tests, benchmarks and fixtures, off the release
//! path (`kbrel` has this crate as a dev-dependency only):
//!
//! - [`synth`] — clean synthetic bilingual knowledge bases and their next versions
//! - [`messy`] — a messy knowledge base with a release history (the adoption fixture)
//! - [`repo`] — writes such a history as a git repository
//!
//! The `kbrel-synth` binary writes them from the command line. It depends on `kbrel-core`
//! only (the documents are its `SourceFile`s, so `kbrel`'s own unit tests use them as theirs).

pub mod tools;

pub use tools::{messy, repo, synth};

// kbrel-core's modules under the names the tools use (`crate::content`, `crate::hash`, …).
#[allow(unused_imports)]
use kbrel_core::{config, content, error, findings, hash, lint, npm};
