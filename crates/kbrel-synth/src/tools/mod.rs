//! Tools for tests, benchmarks and fixtures, outside the release path: nothing in kbrel's
//! library uses them (except its tests).

pub mod messy;
pub mod repo;
pub mod synth;
