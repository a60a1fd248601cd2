//! Ground floor: the vocabulary every layer speaks. Errors, findings, versions, hashes,
//! dates. Imports nothing of kbrel's above it.

pub mod date;
pub mod error;
pub mod findings;
pub mod fsx;
pub mod hash;
pub mod js;
pub mod version;
