//! Services that only compute: over documents, findings and formats, with no registry, git,
//! compression or network (those services are `kbrel`'s). They use one another without cycles
//! (the layering test checks it).

pub mod baseline;
pub mod changelog;
pub mod diff;
pub mod lint;
pub mod mdx;
