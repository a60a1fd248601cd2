//! kbrel releases a bilingual markdown knowledge base the way npm releases code: checked,
//! snapshotted as immutable semver releases, diffed per document and language, packaged as an
//! npm-compatible tarball, indexed for consumers that download only what changed.
//!
//! The library never prints, exits, or reads the clock or the environment: the `kbrel`
//! binary passes those in. One module owns each file format.
//!
//! The modules sit on floors (folders under `src/`), each importing only from its own floor
//! or the ones below: ground (errors, findings, versions, hashes, dates) ← formats ← model ←
//! services ← operations ← the binary. ARCHITECTURE.md draws them.
//!
//! - [`error`], [`findings`], [`version`], [`hash`], [`date`] — the ground floor's vocabulary; [`fsx`] — hostile-tree file access
//! - [`config`] — `kbrel.toml`
//! - [`content`] — documents, front matter, identity, pairing, normalisation
//! - [`keys`] — bundle keys: keys file, inline keys, bundler entry modules
//! - [`js`] — JavaScript names: identifiers, reserved words, platform globals
//! - [`lint`] — findings (`kbrel check`)
//! - [`baseline`] — `kbrel-baseline.json`: accepted lint errors, only new ones block
//! - [`diff`] — document and line differences (pure)
//! - [`changelog`] — changelog context and Keep a Changelog rendering (pure)
//! - [`package`] — the npm tarball and bundles
//! - [`compat`] — `kbrel compare-package`: an existing package's entry points against a release's
//! - [`pack`] — a release's package listed, or written unpacked into a folder
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

// The floors, bottom to top: a module imports only from its own floor or the ones below
// (tests/it/layers.rs checks every `crate::` path against ARCHITECTURE.md's layer table).
mod operations;
mod services;

// The floors below services, and the pure services, are the kbrel-core crate's; named here
// so that `crate::ground::…`, `crate::model::…` paths keep working.
use kbrel_core::{formats, ground, model};

// The public paths stay flat (`kbrel::config`, `kbrel::registry`, …): where a module sits
// in the layering is the library's own business and may move.
pub use formats::{manifest, npm, sign};
pub use ground::{date, findings, fsx, hash, js, version};
pub use model::{config, content, files, keys};
pub use operations::{import, init, pack, publish, push, server, sync, verify, web};
pub use services::{
    baseline, changelog, compat, diff, error, git, hashcache, history, lint, mdx, package,
    registry, remote, snapshot,
};

pub use error::{Error, Result};

// Maps and sets over every document (foldhash, fixed seed): kbrel-core's.
pub(crate) use kbrel_core::{FastMap, FastSet};

// `package`'s unit tests generate knowledge bases (kbrel-synth is a dev-dependency).
#[cfg(test)]
use kbrel_synth::synth;
