//! Tools for tests, benchmarks and fixtures, outside the release path: nothing in the layers
//! below uses them (except their own tests).

pub mod messy;
pub mod synth;
