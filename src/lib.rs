//! kbrel releases a bilingual markdown knowledge base the way npm releases code: checked,
//! snapshotted as immutable semver releases, diffed per document and language, packaged as an
//! npm-compatible tarball, indexed for consumers that download only what changed.
//!
//! The library never prints, exits, or reads the clock or the environment: the `kbrel`
//! binary passes those in. One module owns each file format.
//!
//! - [`config`] — `kbrel.toml`
//! - [`content`] — documents, front matter, identity, pairing, normalisation
//! - [`lint`] — findings (`kbrel check`)
//! - [`baseline`] — `kbrel-baseline.json`: accepted lint errors, only new ones block
//! - [`diff`] — document and line differences (pure)
//! - [`changelog`] — changelog context and Keep a Changelog rendering (pure)
//! - [`package`] — the npm tarball and bundles
//! - `deflate` — raw deflate as LZ77 tokens: read back, Huffman-code (for `package`)
//! - [`npm`] — npm packuments and the publish document
//! - [`manifest`] — `index.json`, `manifest.json`, `diff.json`
//! - [`registry`] — the registry directory: verified reads, lock, atomic commit
//! - [`git`] — content trees at any revision, tags, commits (the only git2 user)
//! - [`import`] — rebuild a registry from git release tags
//! - [`history`] — changelog of all releases, translation drift
//! - [`publish`] — the release pipeline
//! - [`push`] — publish a release to a real npm registry
//! - [`server`] — read-only HTTP over a registry (registry files + npm read API)
//! - [`web`] — the release viewer: HTML pages (versions, diffs, documents, translation status) for `kbrel serve`
//! - [`sign`] — ed25519 signatures over index.json, key rotation
//! - [`snapshot`] — one side of a comparison (a published version or the working content)
//! - [`sync`] — the consumer: verified, delta, atomic cache updates
//! - [`verify`] — full registry verification and garbage repair
//! - [`date`] — release timestamps
//! - [`synth`] — deterministic synthetic knowledge bases for tests and benchmarks
//! - [`messy`] — a deterministic messy knowledge base with a release history (adoption fixture)

pub mod baseline;
pub mod changelog;
pub mod config;
pub mod content;
pub mod date;
mod deflate;
pub mod diff;
pub mod error;
pub mod git;
pub mod history;
pub mod import;
pub mod lint;
pub mod manifest;
pub mod messy;
pub mod npm;
pub mod package;
pub mod publish;
pub mod push;
pub mod registry;
pub mod server;
pub mod sign;
pub mod snapshot;
pub mod sync;
pub mod synth;
pub mod verify;
pub mod web;

pub use error::{Error, Result};

/// Hash maps and sets over every document of a knowledge base: foldhash, because SipHash
/// showed in profiles of large ones (a tenth of a 100,000-document diff), with its fixed
/// seed, because the random one reads the clock and the library takes no hidden inputs.
/// Build them with `default()` or `collect()`.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// See [`FastMap`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;
