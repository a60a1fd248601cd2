//! Formats: bytes on disk and on the wire, their types, canonical encoding and strict
//! parsing. No I/O (the registry reads them; the formats only say what they mean).

pub mod manifest;
pub mod npm;
pub mod sign;
