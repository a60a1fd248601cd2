//! Tools for tests and benchmarks, outside the release path: nothing in the layers below
//! uses them (except their own tests).

pub mod synth;
