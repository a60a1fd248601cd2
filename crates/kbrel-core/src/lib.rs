//! The pure core of kbrel: the vocabulary (errors, findings, versions, hashes, dates,
//! hostile-tree file access), the formats (`index.json`, `manifest.json`, `diff.json`, npm's
//! documents, signatures), the model (`kbrel.toml`, the documents loaded from it) and the
//! services that only compute over them (`lint`, `mdx`, `baseline`, `diff`, `changelog`).
//!
//! No git, no compression, no network, no async runtime: this crate depends on none of git2,
//! flate2, hyper, tokio, ureq or object_store (`tests/it/layers.rs` checks its dependency
//! graph). `kbrel` re-exports every module at its old path (`kbrel::content`, `kbrel::diff`,
//! …), which is the path to use; the floor modules (`ground`, `formats`, `model`, `services`)
//! are public only so that `kbrel` can name them.

#[doc(hidden)]
pub mod formats;
#[doc(hidden)]
pub mod ground;
#[doc(hidden)]
pub mod model;
#[doc(hidden)]
pub mod services;

// The public paths stay flat, as in `kbrel`.
pub use formats::{manifest, npm, sign};
pub use ground::{date, error, findings, fsx, hash, js, version};
pub use model::{config, content, files, keys};
pub use services::{baseline, changelog, diff, lint, mdx};

pub use error::{Error, Result};

/// Hash maps and sets over every document of a knowledge base: foldhash, because SipHash
/// showed in profiles of large ones (a tenth of a 100,000-document diff), with its fixed
/// seed, because the random one reads the clock and the library takes no hidden inputs.
/// Build them with `default()` or `collect()`.
#[doc(hidden)]
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// See [`FastMap`].
#[doc(hidden)]
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;
