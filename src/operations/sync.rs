//! `kbrel sync`: keep a local docs cache at a release, downloading only the documents it lacks,
//! verifying every byte, and switching versions in one atomic step.
//!
//! # Cache layout
//! ```text
//! <CACHE>/en/…, <CACHE>/zh/…      the documents as plain files (symlinks into .kbrel/current)
//! <CACHE>/images/…                 each other first folder (or file) of an asset path, linked
//!                                  the same way, so relative links between documents and
//!                                  assets resolve in the cache as in the content root
//! <CACHE>/.kbrel/state.json        format marker, source, ETag, highest index sequence, trusted keys
//! <CACHE>/.kbrel/index.json        the last accepted index (reused after a 304)
//! <CACHE>/.kbrel/objects/<aa>/<rest>  verified document and asset bytes, content-addressed
//! <CACHE>/.kbrel/trees/<id>/       one complete version: <lang>/<path>.md, each asset at its
//!                                  content-root path, and tree.json
//! <CACHE>/.kbrel/current           symlink to the active tree, replaced by rename (the switch)
//! ```
//! Architecture invariant: a reader of `<CACHE>/<lang>/…` sees either the previous complete
//! version or the new complete version, never a mix; nothing is written outside `<CACHE>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::date::Timestamp;
use crate::error::{CoreError, Error};
use crate::hash::sha256_hex;
use crate::manifest::{self, ChangeStatus, Index, IndexVersion, ManifestDoc};
use crate::registry::{self, Registry};

pub const FORMAT: &str = "kbrel-cache/1";
const META: &str = ".kbrel";
/// Trees being removed (see [`gc`]).
const GC_PREFIX: &str = ".gc-";

/// The check of the consumer protocol that failed (`docs/protocol.md`, "What a failure must
/// do"): the same names as the JavaScript client's `KbrelError.check` and the conformance
/// table's `expect.check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The transport: network, HTTP status, a truncated or oversized body, a missing file.
    Fetch,
    /// Bytes whose sha256 is not the one the index or manifest promised.
    Sha256,
    /// `index.json.sig` missing, by an untrusted key, or not matching `index.json`.
    Signature,
    /// A signed index past its `expires`.
    Expires,
    /// An index older than one already accepted, or a version lower than the one held.
    Rollback,
    /// A document that is not what the protocol allows (JSON, schema, paths, languages, a
    /// delta that does not apply).
    Format,
    /// No version matches the requested version, dist-tag or range.
    Version,
    /// The request itself (a `--lang` the release lacks, a malformed `--trust-key`).
    Usage,
    /// The local cache: its folder, links, lock or files.
    Store,
}

impl Check {
    /// The name, as `--json` and the JavaScript client spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Fetch => "fetch",
            Check::Sha256 => "sha256",
            Check::Signature => "signature",
            Check::Expires => "expires",
            Check::Rollback => "rollback",
            Check::Format => "format",
            Check::Version => "version",
            Check::Usage => "usage",
            Check::Store => "store",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `kbrel sync` refused, as data: which check failed, on which URL, with what it expected
/// and found. `reason` names the variant in JSON (`kbrel sync --json`); the message is the one
/// `kbrel sync` prints. Nothing of the cache changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Refusal {
    /// A request failed after its retries (network, HTTP status, truncated, too large);
    /// `status` is the server's answer when it gave one.
    #[error("cannot fetch {url}: {message}")]
    Fetch {
        url: String,
        message: String,
        status: Option<u16>,
    },
    /// The source has no `index.json`.
    #[error("no index.json at {url} (is it a kbrel registry?)")]
    NoIndex { url: String },
    /// The chosen version's manifest is missing.
    #[error("{url} is missing")]
    MissingManifest { url: String },
    /// A document's blob is missing.
    #[error("{url} is missing (document {lang}/{path})")]
    MissingDocument {
        url: String,
        lang: String,
        path: String,
    },
    /// An asset's blob is missing.
    #[error("{url} is missing (asset {path})")]
    MissingAsset { url: String, path: String },
    /// The manifest or delta is not the file the index lists.
    #[error(
        "refusing {url}: sha256 mismatch: expected {expected} (from index.json), got {actual}; the cache was not changed"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    /// A document's bytes are not the ones the manifest lists (twice: it was fetched again).
    #[error(
        "refusing {url}: wrong content for {lang}/{path}: expected sha256 {expected}, got {actual}; the cache was not switched"
    )]
    WrongContent {
        url: String,
        lang: String,
        path: String,
        expected: String,
        actual: String,
    },
    /// An asset's bytes are not the ones the manifest lists (twice: it was fetched again).
    #[error(
        "refusing {url}: wrong content for asset {path}: expected sha256 {expected}, got {actual}; the cache was not switched"
    )]
    WrongAssetContent {
        url: String,
        path: String,
        expected: String,
        actual: String,
    },
    /// Keys are pinned and the index has no signature.
    #[error(
        "{url} is not signed ({signature_url} is missing) but --trust-key requires a signature"
    )]
    Unsigned { url: String, signature_url: String },
    /// The signature does not vouch for the index: `problem` says why.
    #[error("refusing {url}: {signature}")]
    Signature {
        url: String,
        #[serde(flatten)]
        signature: crate::sign::SignatureError,
    },
    /// A signed index past its `expires` (a frozen or replayed index).
    #[error("refusing {url}: it expired at {expires} (a frozen or replayed index)")]
    Expired { url: String, expires: String },
    /// An index older than one this cache accepted.
    #[error(
        "refusing {url}: its sequence {sequence} is older than the {highest} this cache already accepted (a rollback?); --allow-downgrade to accept"
    )]
    IndexRollback {
        url: String,
        sequence: u64,
        highest: u64,
    },
    /// The selected version is lower than the one the cache holds.
    #[error(
        "the cache holds {held}, newer than the selected {selected}; --allow-downgrade to move it back"
    )]
    Downgrade { held: String, selected: String },
    /// The listing names a document twice.
    #[error("refusing {url}: it lists `{lang}/{path}` twice; the cache was not changed")]
    ListedTwice {
        url: String,
        lang: String,
        path: String,
    },
    /// A document claimed larger than `--max-document-size`.
    #[error(
        "refusing {url}: it claims {lang}/{} holds {size} bytes, more than the {limit} allowed (--max-document-size); nothing was fetched",
        path.escape_debug()
    )]
    TooLarge {
        url: String,
        lang: String,
        path: String,
        size: u64,
        limit: u64,
    },
    /// The manifest claims an asset larger than `--max-asset-size`.
    #[error(
        "refusing {url}: it claims the asset {path} holds {size} bytes, more than the {limit} allowed (--max-asset-size); nothing was fetched"
    )]
    AssetTooLarge {
        url: String,
        path: String,
        size: u64,
        limit: u64,
    },
    /// An asset path that cannot be a file of the cache: unsafe, listed twice, `tree.json`,
    /// below `.kbrel`, a document's path, or a folder of another file.
    #[error(
        "refusing {url}: the asset path `{path}` cannot be a file of the cache ({why}); nothing was fetched"
    )]
    BadAssetPath {
        url: String,
        path: String,
        why: String,
    },
    /// The manifest lists a language twice (tags are case-insensitive).
    #[error(
        "refusing {url}: it lists the language `{lang}` twice (language tags are case-insensitive); the cache was not changed"
    )]
    LanguageTwice { url: String, lang: String },
    /// The manifest lists a language that is not a plain name.
    #[error("refusing {url}: it lists an invalid language `{lang}`; the cache was not changed")]
    InvalidLanguage { url: String, lang: String },
    /// The delta does not apply to the version held: `problem` says why.
    #[error("refusing {url}: {delta}; the cache was not changed")]
    Delta {
        url: String,
        #[serde(flatten)]
        delta: DeltaProblem,
    },
    /// `--lang` names a language the release does not have.
    #[error("--lang {lang}: {name} has languages {}", languages.join(", "))]
    UnknownLanguage {
        lang: String,
        name: String,
        languages: Vec<String>,
    },
    /// The folder is neither empty nor a cache.
    #[error(
        "`{}` is not empty (it holds `{entry}`) and is not a kbrel cache; refusing to write into it (use an empty or new folder)",
        path.display()
    )]
    NotACache { path: PathBuf, entry: String },
    /// `--offline` on a folder without a cache's state.
    #[error("`{}` is not a kbrel cache (no state)", path.display())]
    NoState { path: PathBuf },
    /// A language folder of the cache is not kbrel's link.
    #[error("`{}` exists and is not kbrel's link to {}; move it away", path.display(), target.display())]
    ForeignLink { path: PathBuf, target: PathBuf },
    /// One of the cache's own folders is a link or a special file.
    #[error(
        "`{}` is {found}; kbrel writes and removes only real folders in its cache and never follows links there (remove it by hand; nothing was changed)",
        path.display()
    )]
    NotAFolder { path: PathBuf, found: String },
}

/// Why a delta (`diff.json`) does not apply to the version held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum DeltaProblem {
    /// Its package, `from` or `to` is not the update asked for.
    #[error("it is not the diff from {held} to {chosen}")]
    NotTheDiff { held: String, chosen: String },
    /// An old side it names is not in the held version.
    #[error("{lang}/{path} is not in {held} as held")]
    NotHeld {
        lang: String,
        path: String,
        held: String,
    },
    /// A new side it names cannot be added (unsafe path, bad sha256, taken path).
    #[error("{lang}/{path} cannot be {status:?}")]
    CannotApply {
        lang: String,
        path: String,
        status: ChangeStatus,
    },
    /// Applied, it gives another document count than the index.
    #[error("applied to {held} it gives {got} {lang} documents, the index says {}", index.map_or("none".into(), |w| w.to_string()))]
    Count {
        held: String,
        lang: String,
        got: u64,
        index: Option<u64>,
    },
}

impl Refusal {
    /// The check that failed.
    pub fn check(&self) -> Check {
        match self {
            Refusal::Fetch { .. }
            | Refusal::NoIndex { .. }
            | Refusal::MissingManifest { .. }
            | Refusal::MissingDocument { .. }
            | Refusal::MissingAsset { .. } => Check::Fetch,
            Refusal::HashMismatch { .. }
            | Refusal::WrongContent { .. }
            | Refusal::WrongAssetContent { .. } => Check::Sha256,
            Refusal::Unsigned { .. } | Refusal::Signature { .. } => Check::Signature,
            Refusal::Expired { .. } => Check::Expires,
            Refusal::IndexRollback { .. } | Refusal::Downgrade { .. } => Check::Rollback,
            Refusal::ListedTwice { .. }
            | Refusal::TooLarge { .. }
            | Refusal::AssetTooLarge { .. }
            | Refusal::BadAssetPath { .. }
            | Refusal::LanguageTwice { .. }
            | Refusal::InvalidLanguage { .. }
            | Refusal::Delta { .. } => Check::Format,
            Refusal::UnknownLanguage { .. } => Check::Usage,
            Refusal::NotACache { .. }
            | Refusal::NoState { .. }
            | Refusal::ForeignLink { .. }
            | Refusal::NotAFolder { .. } => Check::Store,
        }
    }
}

/// Every way `kbrel sync` fails: a [`Refusal`] (a check of the protocol, as data), or an
/// error of the layers below (I/O, a corrupt document, an unknown version…), each with its
/// message unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Refused(Box<Refusal>),
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<CoreError> for SyncError {
    fn from(e: CoreError) -> Self {
        SyncError::Other(e.into())
    }
}

impl From<Refusal> for SyncError {
    fn from(r: Refusal) -> Self {
        SyncError::Refused(Box::new(r))
    }
}

impl SyncError {
    /// The check that failed: a refusal's own, else what the error is about (a document that
    /// does not parse is `format`, an unknown version `version`, a bad argument `usage`, and
    /// the rest — I/O, the lock — the cache, `store`).
    pub fn check(&self) -> Check {
        match self {
            SyncError::Refused(r) => r.check(),
            SyncError::Other(e) => match e {
                Error::Core(CoreError::CorruptRegistry { .. }) => Check::Format,
                Error::Core(
                    CoreError::UnknownVersion { .. } | CoreError::InvalidVersion { .. },
                ) => Check::Version,
                Error::Push(_)
                | Error::RemoteRefused(_)
                | Error::Git(_)
                | Error::Core(CoreError::Key(_)) => Check::Usage,
                _ => Check::Store,
            },
        }
    }

    /// What `kbrel sync --json` prints for this failure.
    pub fn to_json(&self) -> FailureJson {
        FailureJson {
            error: ErrorJson {
                check: self.check(),
                message: match self {
                    SyncError::Refused(r) => r.to_string(),
                    SyncError::Other(e) => e.chain(),
                },
                refusal: match self {
                    SyncError::Refused(r) => Some((**r).clone()),
                    SyncError::Other(_) => None,
                },
            },
        }
    }
}

/// `kbrel sync --json` when the sync fails (on stdout; the message also goes to stderr, and
/// the exit status is 2): `{"error": {"check", "message", "refusal"}}`. `check` is the failed
/// check ([`Check`], the JavaScript client's names); `refusal` the [`Refusal`] as data (its
/// `reason` and fields), `null` for other errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureJson {
    pub error: ErrorJson,
}

/// The error of [`FailureJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorJson {
    pub check: Check,
    /// The message `kbrel sync` prints (with its causes).
    pub message: String,
    pub refusal: Option<Refusal>,
}

type Result<T, E = SyncError> = std::result::Result<T, E>;

/// Where releases come from.
pub enum Source {
    Dir(Registry),
    Http {
        base: String,
        agent: ureq::Agent,
        /// Body bytes received as sent (gzip-encoded when the server compressed them) and
        /// the bytes they decoded to, over every request (retries included).
        traffic: Traffic,
    },
}

/// Bytes a [`Source`] received: on the wire, and decoded.
#[derive(Debug, Default)]
pub struct Traffic {
    pub wire: AtomicU64,
    pub decoded: AtomicU64,
}

/// A reader that adds what it reads to a counter.
struct Counting<'c, R> {
    inner: R,
    count: &'c AtomicU64,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A failed request: whether a retry may help, what went wrong, and the HTTP status when
/// the server answered.
type Failed = (bool, String, Option<u16>);

/// The decoded body of a 200 response, read through `Counting` readers: ureq is built
/// without its gzip feature, so the body comes as sent and is decoded here (`gzip`,
/// `x-gzip`), which is how the bytes on the wire can be told from the bytes decoded. At most
/// `limit + 1` decoded bytes are read (the caller refuses more), and at most as many on the
/// wire as a gzip of `limit` bytes can take.
fn decoded_body<'r>(
    resp: &'r mut ureq::http::Response<ureq::Body>,
    limit: u64,
    traffic: &'r Traffic,
) -> std::result::Result<Box<dyn std::io::Read + 'r>, Failed> {
    let encoding = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let wire_limit = limit.saturating_add(limit / 8).saturating_add(64 << 10);
    let raw = Counting {
        inner: resp.body_mut().with_config().limit(wire_limit).reader(),
        count: &traffic.wire,
    };
    let body: Box<dyn std::io::Read + 'r> = match encoding.as_str() {
        "" | "identity" => Box::new(raw),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        other => {
            return Err((
                false,
                format!("unsupported Content-Encoding `{other}` (kbrel asks for gzip only)"),
                None,
            ));
        }
    };
    Ok(Box::new(Counting {
        inner: std::io::Read::take(body, limit.saturating_add(1)),
        count: &traffic.decoded,
    }))
}

/// One fetched body, or "not modified".
enum Fetched {
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
    },
    NotModified,
    NotFound,
}

impl Source {
    /// A URL (`http://`, `https://`) or a registry directory.
    pub fn open(from: &str, timeout: Duration) -> crate::Result<Source> {
        if from.starts_with("http://") || from.starts_with("https://") {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(timeout))
                .build()
                .into();
            return Ok(Source::Http {
                base: from.trim_end_matches('/').to_string(),
                agent,
                traffic: Traffic::default(),
            });
        }
        let dir = PathBuf::from(from);
        match std::fs::metadata(dir.join(registry::INDEX_FILE)) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Error::corrupt(
                    dir.join(registry::INDEX_FILE),
                    format!(
                        "is {}, not a regular file; refusing to read it",
                        crate::fsx::kind(&dir.join(registry::INDEX_FILE)).describe()
                    ),
                ));
            }
            Err(_) => return Err(Error::corrupt(&dir, "not a kbrel registry (no index.json)")),
        }
        Ok(Source::Dir(Registry::new(dir)))
    }

    /// (bytes on the wire, bytes decoded) received so far; a directory's files count as both.
    pub fn traffic(&self) -> Option<(u64, u64)> {
        match self {
            Source::Dir(_) => None,
            Source::Http { traffic, .. } => Some((
                traffic.wire.load(Ordering::Relaxed),
                traffic.decoded.load(Ordering::Relaxed),
            )),
        }
    }

    pub fn describe(&self, rel: &str) -> String {
        match self {
            Source::Dir(r) => r.path(rel).display().to_string(),
            Source::Http { base, .. } => format!("{base}/{rel}"),
        }
    }

    fn fetch_once(
        &self,
        rel: &str,
        etag: Option<&str>,
        limit: u64,
    ) -> std::result::Result<Fetched, Failed> {
        match self {
            Source::Dir(r) => match crate::fsx::read_regular(&r.path(rel), limit) {
                Ok(bytes) => Ok(Fetched::Body { bytes, etag: None }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Fetched::NotFound),
                Err(e) => Err((false, e.to_string(), None)),
            },
            Source::Http {
                base,
                agent,
                traffic,
            } => {
                let mut req = agent
                    .get(format!("{base}/{rel}"))
                    .header("Accept-Encoding", "gzip");
                if let Some(e) = etag {
                    req = req.header("If-None-Match", e);
                }
                let mut resp = match req.call() {
                    Ok(r) => r,
                    Err(e) => return Err((true, e.to_string(), None)),
                };
                let status = resp.status().as_u16();
                match status {
                    304 => Ok(Fetched::NotModified),
                    404 => Ok(Fetched::NotFound),
                    200 => {
                        let header = |name: &str| {
                            resp.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(String::from)
                        };
                        let etag = header("etag");
                        let mut body = decoded_body(&mut resp, limit, traffic)?;
                        let mut bytes = Vec::new();
                        match body.read_to_end(&mut bytes) {
                            Ok(_) if bytes.len() as u64 > limit => Err((
                                false,
                                format!("the response is larger than the {limit} bytes expected"),
                                None,
                            )),
                            Ok(_) => Ok(Fetched::Body { bytes, etag }),
                            Err(e) if e.to_string().contains("limit") => Err((
                                false,
                                format!("the response is larger than the {limit} bytes expected"),
                                None,
                            )),
                            Err(e) => Err((true, format!("incomplete response: {e}"), None)),
                        }
                    }
                    s if s >= 500 || s == 429 => Err((true, format!("HTTP {s}"), Some(s))),
                    s => Err((false, format!("HTTP {s}"), Some(s))),
                }
            }
        }
    }

    /// Fetch with retries (backoff) on 5xx, timeouts and dropped connections.
    /// Stream `rel` into `tmp` (created anew, made durable), hashing it on the way, reading at
    /// most `limit` bytes (more is an error): the sha256 and size, or `None` when missing.
    fn fetch_to_once(
        &self,
        rel: &str,
        limit: u64,
        tmp: &Path,
        received: &AtomicU64,
    ) -> std::result::Result<Option<(String, u64)>, Failed> {
        use sha2::Digest;
        use std::io::{Read, Write};
        let copy = |reader: &mut dyn Read| -> std::result::Result<(String, u64), Failed> {
            let mut file = std::fs::File::create(tmp)
                .map_err(|e| (false, format!("cannot create {}: {e}", tmp.display()), None))?;
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 << 10];
            let mut n: u64 = 0;
            loop {
                let k = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if n.saturating_add(1) > limit && e.to_string().contains("limit") => {
                        return Err((
                            false,
                            format!(
                                "the response is larger than the {limit} bytes the manifest records"
                            ),
                            None,
                        ));
                    }
                    Err(e) => {
                        return Err((
                            true,
                            format!("incomplete response after {n} bytes: {e}"),
                            None,
                        ));
                    }
                };
                n += k as u64;
                received.store(n, Ordering::Relaxed);
                if n > limit {
                    return Err((
                        false,
                        format!(
                            "the response is larger than the {limit} bytes the manifest records"
                        ),
                        None,
                    ));
                }
                hasher.update(&buf[..k]);
                file.write_all(&buf[..k])
                    .map_err(|e| (false, format!("cannot write {}: {e}", tmp.display()), None))?;
            }
            file.sync_all()
                .map_err(|e| (false, format!("cannot write {}: {e}", tmp.display()), None))?;
            Ok((crate::hash::hex(&hasher.finalize()), n))
        };
        match self {
            Source::Dir(r) => match crate::fsx::open_regular(&r.path(rel)) {
                Ok((f, _)) => copy(&mut f.take(limit.saturating_add(1))).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err((false, e.to_string(), None)),
            },
            Source::Http {
                base,
                agent,
                traffic,
            } => {
                let req = agent
                    .get(format!("{base}/{rel}"))
                    .header("Accept-Encoding", "gzip");
                let mut resp = req.call().map_err(|e| (true, e.to_string(), None))?;
                match resp.status().as_u16() {
                    200 => {
                        let mut reader = decoded_body(&mut resp, limit, traffic)?;
                        copy(&mut reader).map(Some)
                    }
                    404 => Ok(None),
                    s @ (429 | 500..=599) => Err((true, format!("HTTP {s}"), Some(s))),
                    s => Err((false, format!("HTTP {s}"), Some(s))),
                }
            }
        }
    }

    /// [`Self::fetch_to_once`] with retries.
    fn fetch_to(
        &self,
        rel: &str,
        limit: u64,
        tmp: &Path,
        retries: u32,
        requests: &AtomicUsize,
        watch: &Watch,
    ) -> Result<Option<(String, u64)>> {
        let mut attempt = 0;
        loop {
            requests.fetch_add(1, Ordering::Relaxed);
            let watched = watch.start(self.describe(rel));
            let fetched = self.fetch_to_once(rel, limit, tmp, &watched.bytes);
            drop(watched);
            match fetched {
                Ok(f) => return Ok(f),
                Err((retryable, _, _)) if retryable && attempt < retries => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1)));
                }
                Err((_, message, status)) => {
                    return Err(Refusal::Fetch {
                        url: self.describe(rel),
                        message,
                        status,
                    }
                    .into());
                }
            }
        }
    }

    fn fetch(
        &self,
        rel: &str,
        etag: Option<&str>,
        limit: u64,
        retries: u32,
        requests: &AtomicUsize,
    ) -> Result<Fetched> {
        let mut attempt = 0;
        loop {
            requests.fetch_add(1, Ordering::Relaxed);
            match self.fetch_once(rel, etag, limit) {
                Ok(f) => return Ok(f),
                Err((retryable, msg, _)) if retryable && attempt < retries => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1)));
                    let _ = msg;
                }
                Err((_, message, status)) => {
                    return Err(Refusal::Fetch {
                        url: self.describe(rel),
                        message,
                        status,
                    }
                    .into());
                }
            }
        }
    }
}

/// The cache's state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheState {
    pub format: String,
    pub source: String,
    pub index_etag: Option<String>,
    /// The highest index sequence ever accepted (rollback protection).
    pub highest_sequence: u64,
    /// Keys trusted through rotation endorsements (in addition to `--trust-key`).
    #[serde(default)]
    pub trusted_keys: Vec<String>,
}

/// `trees/<id>/tree.json`: what a tree holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    pub format: String,
    pub name: String,
    pub version: String,
    pub sequence: u64,
    pub manifest_sha256: String,
    pub languages: Vec<String>,
    pub documents: Vec<TreeDoc>,
    /// The release's assets the cache holds, by path (UTF-8 bytes); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<TreeAsset>,
}

/// An asset of a tree: `trees/<id>/<path>` (a content-root path: `images/a.png`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeAsset {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeDoc {
    pub lang: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

pub struct SyncOptions {
    /// URL or registry directory.
    pub from: String,
    /// Exact version, dist-tag, `latest` or a semver requirement (`^1.3`); default `latest`.
    pub version: Option<String>,
    /// Only these languages (default: all).
    pub langs: Option<Vec<String>>,
    pub dry_run: bool,
    /// Pinned public keys; when non-empty, the index must carry a valid signature by one.
    pub trust_keys: Vec<String>,
    pub allow_downgrade: bool,
    /// The current time (for `expires`).
    pub now: Timestamp,
    /// Parallel blob downloads.
    pub parallel: usize,
    pub retries: u32,
    /// The deadline of one HTTP attempt, body included: a stalled transfer gives up after it
    /// (and is retried `retries` times), so a document fails after at most
    /// `(retries + 1) × timeout` plus the back-off between attempts.
    pub timeout: Duration,
    /// A download that receives nothing for this long is reported through the progress
    /// callback ([`Progress::waiting`]), again at this interval while it stays stalled.
    pub stall_report: Duration,
    /// The largest document a manifest may claim: a larger claim is refused before any
    /// document is fetched. Downloads stream to disk, so memory does not depend on it.
    pub max_document_size: u64,
    /// The largest asset a manifest may claim, likewise refused before anything is fetched.
    pub max_asset_size: u64,
}

/// The default of [`SyncOptions::max_document_size`]: 64 MiB, far above any markdown page.
pub const DEFAULT_MAX_DOCUMENT_SIZE: u64 = 64 << 20;
/// The default of [`SyncOptions::max_asset_size`]: 4 GiB (assets stream to disk).
pub const DEFAULT_MAX_ASSET_SIZE: u64 = 4 << 30;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangChanges {
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

/// What `kbrel sync` did (and `kbrel sync --json` prints).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncReport {
    pub name: String,
    pub previous: Option<String>,
    pub version: String,
    /// The index was answered with 304 Not Modified.
    pub not_modified: bool,
    /// Nothing to do: the cache already holds this version.
    pub up_to_date: bool,
    pub dry_run: bool,
    pub changes: BTreeMap<String, LangChanges>,
    pub documents_fetched: u64,
    /// Assets downloaded (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub assets_fetched: u64,
    /// Bytes of the index, manifest or delta and documents used, decoded (what was verified).
    pub bytes_fetched: u64,
    /// Body bytes received as sent, gzip-encoded where the server compressed them, over every
    /// request (retries included); for a registry directory, the bytes read.
    pub bytes_on_wire: u64,
    /// The bytes those bodies decoded to.
    pub bytes_decoded: u64,
    pub requests: u64,
    /// The update applied the version's diff.json to the held version instead of reading its
    /// whole manifest (see [`sync`]).
    pub delta: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Progress of blob downloads.
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    /// Set when a download has received nothing for [`SyncOptions::stall_report`]: reported
    /// again at that interval until bytes arrive or its attempt's deadline
    /// ([`SyncOptions::timeout`]) gives up on it.
    pub waiting: Option<Waiting>,
}

/// A download that has stalled: what a user needs to see that sync is not hung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The URL (or file) being fetched.
    pub url: String,
    /// Bytes of it received so far.
    pub bytes: u64,
    /// How long nothing has arrived.
    pub idle: Duration,
}

/// The downloads in progress, watched for stalls by one thread while the workers fetch.
struct Watch {
    every: Duration,
    transfers: Mutex<BTreeMap<u64, Transfer>>,
    next_id: AtomicU64,
    stopped: Mutex<bool>,
    wake: std::sync::Condvar,
}

struct Transfer {
    url: String,
    bytes: Arc<AtomicU64>,
    seen: u64,
    since: std::time::Instant,
    reported: Option<std::time::Instant>,
}

/// Unregisters its transfer when dropped.
struct Watched<'a> {
    watch: &'a Watch,
    id: u64,
    bytes: Arc<AtomicU64>,
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        if let Ok(mut t) = self.watch.transfers.lock() {
            t.remove(&self.id);
        }
    }
}

impl Watch {
    fn new(every: Duration) -> Watch {
        Watch {
            every: every.max(Duration::from_millis(10)),
            transfers: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            stopped: Mutex::new(false),
            wake: std::sync::Condvar::new(),
        }
    }

    /// Watch one attempt at fetching `url` (its byte counter is [`Watched::bytes`]).
    fn start(&self, url: String) -> Watched<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = Arc::new(AtomicU64::new(0));
        if let Ok(mut t) = self.transfers.lock() {
            t.insert(
                id,
                Transfer {
                    url,
                    bytes: bytes.clone(),
                    seen: 0,
                    since: std::time::Instant::now(),
                    reported: None,
                },
            );
        }
        Watched {
            watch: self,
            id,
            bytes,
        }
    }

    /// Until [`Self::stop`]: every `every / 4`, report the transfers idle for `every` or more
    /// (each at most once per `every`).
    fn run(&self, report: &dyn Fn(Waiting)) {
        let tick = self.every / 4;
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*stopped {
            stopped = self
                .wake
                .wait_timeout(stopped, tick)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if *stopped {
                break;
            }
            let now = std::time::Instant::now();
            let mut due = Vec::new();
            if let Ok(mut transfers) = self.transfers.lock() {
                for t in transfers.values_mut() {
                    let n = t.bytes.load(Ordering::Relaxed);
                    if n != t.seen {
                        t.seen = n;
                        t.since = now;
                        t.reported = None;
                    } else if now.duration_since(t.since) >= self.every
                        && t.reported
                            .is_none_or(|r| now.duration_since(r) >= self.every)
                    {
                        t.reported = Some(now);
                        due.push(Waiting {
                            url: t.url.clone(),
                            bytes: n,
                            idle: now.duration_since(t.since),
                        });
                    }
                }
            }
            drop(stopped);
            for w in due {
                report(w);
            }
            stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        }
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

struct Paths {
    root: PathBuf,
}

impl Paths {
    fn meta(&self) -> PathBuf {
        self.root.join(META)
    }
    fn state(&self) -> PathBuf {
        self.meta().join("state.json")
    }
    fn index(&self) -> PathBuf {
        self.meta().join("index.json")
    }
    fn object(&self, sha: &str) -> PathBuf {
        self.meta().join("objects").join(&sha[..2]).join(&sha[2..])
    }
    fn trees(&self) -> PathBuf {
        self.meta().join("trees")
    }
    fn current(&self) -> PathBuf {
        self.meta().join("current")
    }
}

fn io<'a>(action: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(action, p, e)
}

fn read_state(paths: &Paths) -> crate::Result<Option<CacheState>> {
    match crate::fsx::read_regular(&paths.state(), 16 << 20) {
        Ok(bytes) => {
            #[derive(Deserialize)]
            struct Probe {
                format: Option<String>,
            }
            let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| {
                Error::corrupt(paths.state(), format!("unreadable cache state: {e}"))
            })?;
            if probe.format.as_deref() != Some(FORMAT) {
                return Err(Error::corrupt(
                    paths.state(),
                    format!(
                        "this cache was written in format {:?}, this kbrel reads {FORMAT}; use another --into or the matching kbrel (nothing was changed)",
                        probe.format.unwrap_or_default()
                    ),
                ));
            }
            Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
                Error::corrupt(paths.state(), e.to_string())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", paths.state(), e)),
    }
}

/// The active tree, if any.
pub fn current_tree(cache: &Path) -> crate::Result<Option<Tree>> {
    let paths = Paths {
        root: cache.to_path_buf(),
    };
    let tree_json = paths.current().join("tree.json");
    match crate::fsx::read_regular(&tree_json, registry::MAX_INDEX_BYTES) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::corrupt(&tree_json, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &tree_json, e)),
    }
}

/// Choose the version a spec names.
pub fn select<'a>(index: &'a Index, spec: Option<&str>) -> crate::Result<&'a IndexVersion> {
    let spec = spec.unwrap_or("latest");
    if let Some(v) = index.dist_tags.get(spec).and_then(|v| index.get_version(v)) {
        return Ok(v);
    }
    if let Some(v) = index.get(spec.strip_prefix('v').unwrap_or(spec)) {
        return Ok(v);
    }
    let req = semver::VersionReq::parse(spec).map_err(|_| {
        Error::from(CoreError::UnknownVersion {
            name: spec.into(),
            known: index.known_versions(),
        })
    })?;
    index
        .versions
        .iter()
        .filter(|v| req.matches(&v.version))
        .max_by_key(|v| &v.version)
        .ok_or_else(|| {
            Error::from(CoreError::UnknownVersion {
                name: spec.into(),
                known: index.known_versions(),
            })
        })
}

fn durable_write(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(registry::write_atomic(path, bytes)?)
}

/// Update the cache at `cache` from `opts.from`.
///
/// Fetches `index.json` (conditionally, with the ETag of the last sync), picks the version,
/// fetches its manifest and checks it against the sha256 the index lists (or, when the cache
/// holds the version it was diffed against, its much smaller `diff.json`, verified the same
/// way and applied to the held tree: docs/protocol.md, step 5), downloads only the
/// documents the cache lacks (each checked against its sha256), then switches
/// `<cache>/<lang>/` to the new version in one rename. `progress` is called after every
/// downloaded document. On any error the cache keeps showing the version it had.
///
/// # Example
///
/// Publish a two-document knowledge base into a registry folder, then sync it into a cache:
///
/// ```
/// use std::time::Duration;
/// use kbrel::config::Config;
/// use kbrel::content::{self, SourceFile};
/// use kbrel::date::Timestamp;
/// use kbrel::publish::{self, PublishOptions, VersionSpec};
/// use kbrel::registry::Registry;
/// use kbrel::sync::{self, Progress, SyncOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tmp = tempfile::tempdir().unwrap();
/// let toml = "[package]\nname = \"acme-docs\"\n[content]\nrequired_fields = []\n";
/// let cfg = Config::parse(toml, &tmp.path().join("kbrel.toml"))?;
/// let files = vec![
///     SourceFile { path: "en/intro.md".into(), bytes: b"# Intro\n\nHello.\n".to_vec() },
///     SourceFile { path: "zh/intro.md".into(), bytes: "# 简介\n\n你好。\n".into() },
/// ];
/// let all = files.iter().map(|f| f.path.clone()).collect();
/// let kb = content::build(&cfg, files, all, &Default::default())?;
/// let registry = Registry::new(tmp.path().join("releases"));
/// publish::publish(&cfg, &kb, &registry, &PublishOptions {
///     version: VersionSpec::Exact("1.0.0".into()),
///     date: Timestamp::parse("2026-11-25")?,
///     dry_run: false,
///     tag: None,
///     git: None,
///     lock_wait: Duration::from_secs(5),
///     require_translations: false,
///     guard: None,
///     sign: None,
///     package_format: kbrel::package::FORMAT,
///     lint: publish::LintGate::Block(None),
/// })?;
///
/// let cache = tmp.path().join("cache");
/// let opts = SyncOptions {
///     from: registry.dir.display().to_string(), // or the URL of `kbrel serve`
///     version: None,                            // latest
///     langs: None,                              // every language
///     dry_run: false,
///     trust_keys: vec![],                       // `ed25519:…` keys to require a signature
///     allow_downgrade: false,
///     now: Timestamp::parse("2026-11-26")?,
///     parallel: 8,
///     retries: 3,
///     timeout: Duration::from_secs(30),
///     stall_report: Duration::from_secs(10),
///     max_document_size: sync::DEFAULT_MAX_DOCUMENT_SIZE,
///     max_asset_size: sync::DEFAULT_MAX_ASSET_SIZE,
/// };
/// let mut fetched = 0;
/// let report = sync::sync(&cache, &opts, &mut |p: Progress| fetched = p.done)?;
/// assert_eq!((report.version.as_str(), fetched), ("1.0.0", 2));
/// let intro = std::fs::read_to_string(cache.join("en/intro.md")).unwrap();
/// assert_eq!(intro, "# Intro\n\nHello.\n");
/// # Ok(())
/// # }
/// ```
pub fn sync(
    cache: &Path,
    opts: &SyncOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<SyncReport> {
    let paths = Paths {
        root: cache.to_path_buf(),
    };
    // A mistyped key would otherwise only show up as "signed by …, which is not a trusted key".
    for k in &opts.trust_keys {
        crate::sign::parse_public_key(k)?;
    }
    let source = Source::open(&opts.from, opts.timeout)?;
    let from = source_id(&source, opts)?;
    let requests = AtomicUsize::new(0);
    let (mut state, _lock) = open_cache(&paths, opts)?;
    let current = current_tree(cache)?;

    // 1. The index, conditionally.
    let same_source = state.source == from;
    let fetched = fetch_index(
        &source,
        &paths,
        &state,
        same_source && current.is_some(),
        opts,
        &requests,
    )?;
    let index = &fetched.index;

    // 2. Signature, expiry, rollback.
    check_index(&source, &fetched, &mut state, same_source, opts, &requests)?;

    // 3. Version.
    let chosen = choose_version(index, current.as_ref(), opts)?;
    let langs: Vec<String> = match &opts.langs {
        Some(l) => l.clone(),
        None => Vec::new(),
    };
    let mut report = SyncReport {
        name: index.name.clone(),
        previous: current.as_ref().map(|c| c.version.clone()),
        version: chosen.version.to_string(),
        not_modified: fetched.not_modified,
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let same_tree = current.as_ref().is_some_and(|c| {
        c.manifest_sha256 == chosen.manifest.sha256
            && c.name == index.name
            && (langs.is_empty() || c.languages == langs)
    });
    if same_tree {
        report.up_to_date = true;
        if !opts.dry_run {
            commit_index(
                &paths,
                &mut state,
                &from,
                &fetched.bytes,
                fetched.etag.clone(),
                fetched.not_modified,
                index.sequence,
            )?;
            finish_interrupted_gc(&paths, current.as_ref())?;
        }
        count_traffic(&mut report, &source, &requests);
        return Ok(report);
    }

    // 4. The delta (diff.json against the version held) when it applies, else the manifest,
    //    verified against the index.
    let listing = fetch_listing(
        &source,
        &fetched,
        current.as_ref(),
        chosen,
        &langs,
        opts,
        &requests,
        &mut report,
    )?;
    let docs: Vec<&ManifestDoc> = listing.docs.iter().collect();
    check_listed_once(&source, chosen, &docs)?;
    check_assets(&source, chosen, &docs, &listing.assets, opts.max_asset_size)?;

    // 5. Changes against the current tree.
    report.changes = count_changes(current.as_ref(), &docs, &listing.languages);
    // A claim larger than the limit is refused before anything is fetched.
    check_claimed_sizes(&source, chosen, &docs, opts.max_document_size)?;

    // 6. Fetch what the object store lacks.
    let missing = missing_objects(&paths, &docs, &listing.assets);
    let assets = missing.iter().filter(|w| w.asset).count() as u64;
    report.documents_fetched = missing.len() as u64 - assets;
    report.assets_fetched = assets;
    if opts.dry_run {
        // (Documents new in a delta have no size until they are fetched.)
        report.bytes_fetched += missing
            .iter()
            .filter(|d| d.size != UNKNOWN_SIZE)
            .map(|d| d.size)
            .sum::<u64>();
        count_traffic(&mut report, &source, &requests);
        return Ok(report);
    }
    let (_, bytes) = fetch_missing(&source, &paths, &missing, opts, &requests, progress)?;
    report.bytes_fetched += bytes;

    // 7. Build the new tree beside the old one, then switch in one rename.
    let Listing {
        name,
        version,
        languages,
        assets,
        ..
    } = listing;
    let tree = tree_of(
        &paths,
        (name, version, index.sequence),
        chosen,
        languages,
        &docs,
        assets,
    )?;
    let id = build_tree(&paths, &tree, &docs)?;
    switch_tree(&paths, &tree, &id)?;
    commit_index(
        &paths,
        &mut state,
        &from,
        &fetched.bytes,
        fetched.etag,
        fetched.not_modified,
        index.sequence,
    )?;
    gc(&paths, &id, &tree)?;
    count_traffic(&mut report, &source, &requests);
    Ok(report)
}

/// The request count and the bytes received (on the wire and decoded) into the report; a
/// registry directory's bytes read count as both.
fn count_traffic(report: &mut SyncReport, source: &Source, requests: &AtomicUsize) {
    report.requests = requests.load(Ordering::Relaxed) as u64;
    (report.bytes_on_wire, report.bytes_decoded) = source
        .traffic()
        .unwrap_or((report.bytes_fetched, report.bytes_fetched));
}

/// How the cache names `source`: a directory source is remembered by its absolute path (the
/// same relative path from another working directory is another registry, and rollback
/// protection is per source).
fn source_id(source: &Source, opts: &SyncOptions) -> Result<String> {
    Ok(match source {
        Source::Dir(r) => std::path::absolute(&r.dir)
            .map_err(io("resolve", &r.dir))?
            .display()
            .to_string(),
        Source::Http { .. } => opts.from.clone(),
    })
}

/// Refuse a folder that is not a cache, take the cache's lock (not for a dry run) and read or
/// create its state.
fn open_cache(paths: &Paths, opts: &SyncOptions) -> Result<(CacheState, Option<std::fs::File>)> {
    let cache = paths.root.as_path();
    let state = read_state(paths)?;
    if state.is_none()
        && cache.is_dir()
        && let Some(entry) = foreign_entry(cache)?
    {
        return Err(Refusal::NotACache {
            path: cache.to_path_buf(),
            entry,
        }
        .into());
    }
    let lock = if opts.dry_run {
        None
    } else {
        std::fs::create_dir_all(paths.meta()).map_err(io("create", cache))?;
        let lock_path = paths.meta().join("lock");
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("create", &lock_path))?;
        match f.try_lock() {
            Ok(()) => Some(f),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked { path: lock_path }.into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io("lock", lock_path, e).into());
            }
        }
    };
    if !opts.dry_run {
        check_cache_folders(paths)?;
    }
    let state = match state {
        Some(s) => s,
        None => {
            let s = CacheState {
                format: FORMAT.into(),
                ..Default::default()
            };
            if !opts.dry_run {
                // Mark the folder as a cache before anything else lands in it, so an interrupted
                // first sync leaves a cache (without a version) that the next sync resumes.
                durable_write(&paths.state(), &manifest::to_json_bytes(&s))?;
            }
            s
        }
    };
    Ok((state, lock))
}

/// The index as fetched (or, after a 304, as the cache kept it) and parsed.
struct FetchedIndex {
    bytes: Vec<u8>,
    etag: Option<String>,
    not_modified: bool,
    index: Index,
}

/// Step 1: fetch `index.json`, conditionally on the last sync's ETag when `conditional`.
fn fetch_index(
    source: &Source,
    paths: &Paths,
    state: &CacheState,
    conditional: bool,
    opts: &SyncOptions,
    requests: &AtomicUsize,
) -> Result<FetchedIndex> {
    let etag = state.index_etag.as_deref().filter(|_| conditional);
    let (bytes, etag, not_modified) =
        match source.fetch(registry::INDEX_FILE, etag, 64 << 20, opts.retries, requests)? {
            Fetched::Body { bytes, etag } => (bytes, etag, false),
            Fetched::NotModified => {
                let bytes = crate::fsx::read_regular(&paths.index(), 64 << 20)
                    .map_err(io("read", &paths.index()))?;
                (bytes, state.index_etag.clone(), true)
            }
            Fetched::NotFound => {
                return Err(Refusal::NoIndex {
                    url: source.describe(registry::INDEX_FILE),
                }
                .into());
            }
        };
    let index = manifest::parse_index(&bytes, Path::new(&source.describe(registry::INDEX_FILE)))?;
    Ok(FetchedIndex {
        bytes,
        etag,
        not_modified,
        index,
    })
}

/// Step 2: the index's signature (a key it endorses joins `state.trusted_keys`) and expiry when
/// keys are pinned, and rollback protection.
fn check_index(
    source: &Source,
    fetched: &FetchedIndex,
    state: &mut CacheState,
    same_source: bool,
    opts: &SyncOptions,
    requests: &AtomicUsize,
) -> Result<()> {
    let index = &fetched.index;
    let mut trusted: Vec<String> = opts.trust_keys.clone();
    trusted.extend(state.trusted_keys.iter().cloned());
    if !opts.trust_keys.is_empty() {
        let sig =
            match source.fetch(crate::sign::SIG_FILE, None, 1 << 20, opts.retries, requests)? {
                Fetched::Body { bytes, .. } => bytes,
                _ => {
                    return Err(Refusal::Unsigned {
                        url: source.describe(registry::INDEX_FILE),
                        signature_url: source.describe(crate::sign::SIG_FILE),
                    }
                    .into());
                }
            };
        let (_, next) =
            crate::sign::verify_index(&fetched.bytes, &sig, &trusted).map_err(|signature| {
                Refusal::Signature {
                    url: source.describe(registry::INDEX_FILE),
                    signature,
                }
            })?;
        if let Some(n) = next
            && !state.trusted_keys.contains(&n)
        {
            state.trusted_keys.push(n);
        }
        if let Some(exp) = &index.expires {
            let t = Timestamp::parse(exp).map_err(|_| {
                Error::corrupt(
                    source.describe(registry::INDEX_FILE),
                    format!("invalid expires `{exp}`"),
                )
            })?;
            if t < opts.now {
                return Err(Refusal::Expired {
                    url: source.describe(registry::INDEX_FILE),
                    expires: exp.clone(),
                }
                .into());
            }
        }
    }
    if same_source && index.sequence < state.highest_sequence && !opts.allow_downgrade {
        return Err(Refusal::IndexRollback {
            url: source.describe(registry::INDEX_FILE),
            sequence: index.sequence,
            highest: state.highest_sequence,
        }
        .into());
    }
    Ok(())
}

/// Step 3: the version `opts.version` selects, refused when it would move the cache back.
fn choose_version<'a>(
    index: &'a Index,
    current: Option<&Tree>,
    opts: &SyncOptions,
) -> Result<&'a IndexVersion> {
    let chosen = select(index, opts.version.as_deref())?;
    let chosen_v = &chosen.version;
    if let Some(cur) = current
        && let Ok(cv) = semver::Version::parse(&cur.version)
        && *chosen_v < cv
        && !opts.allow_downgrade
        && cur.name == index.name
    {
        return Err(Refusal::Downgrade {
            held: cur.version.clone(),
            selected: chosen.version.to_string(),
        }
        .into());
    }
    Ok(chosen)
}

/// A sync interrupted between its switch and its clean-up left other trees (and their
/// objects) behind: finish that clean-up now.
fn finish_interrupted_gc(paths: &Paths, current: Option<&Tree>) -> Result<()> {
    if let (Some(cur), Ok(link)) = (current, std::fs::read_link(paths.current()))
        && let Some(id) = link.file_name().and_then(|n| n.to_str())
        && std::fs::read_dir(paths.trees())
            .is_ok_and(|rd| rd.flatten().any(|e| e.file_name() != id))
    {
        gc(paths, id, cur)?;
    }
    Ok(())
}

/// What the chosen version holds, from its delta or its manifest.
struct Listing {
    name: String,
    version: String,
    languages: Vec<String>,
    docs: Vec<ManifestDoc>,
    /// The assets the tree holds, by path.
    assets: Vec<TreeAsset>,
}

/// Step 4: the documents of `chosen`, from the delta against the held version when it applies,
/// else from the manifest (both verified against the index).
#[allow(clippy::too_many_arguments)]
fn fetch_listing(
    source: &Source,
    fetched: &FetchedIndex,
    current: Option<&Tree>,
    chosen: &IndexVersion,
    langs: &[String],
    opts: &SyncOptions,
    requests: &AtomicUsize,
    report: &mut SyncReport,
) -> Result<Listing> {
    let index = &fetched.index;
    let index_len = fetched.bytes.len() as u64 * u64::from(!fetched.not_modified);
    let delta = match current {
        Some(cur) if delta_applies(cur, chosen, index, langs) => {
            fetch_delta(source, cur, chosen, index, opts.retries, requests)?
        }
        _ => None,
    };
    Ok(match delta {
        Some((docs, assets, len)) => {
            report.delta = true;
            report.bytes_fetched += len + index_len;
            let cur = current.expect("a delta applies to a held version");
            Listing {
                name: index.name.clone(),
                version: chosen.version.to_string(),
                languages: cur.languages.clone(),
                docs,
                assets,
            }
        }
        None => {
            let (m, languages) =
                fetch_manifest(source, chosen, langs, opts.retries, requests, report)?;
            report.bytes_fetched += index_len;
            let docs: Vec<ManifestDoc> = m
                .documents
                .into_iter()
                .filter(|d| languages.contains(&d.lang))
                .collect();
            let mut assets: Vec<TreeAsset> = m
                .assets
                .into_iter()
                .filter(|a| keeps_asset(&a.path, &m.languages, &languages))
                .map(|a| TreeAsset {
                    path: a.path,
                    sha256: a.sha256,
                    size: a.size,
                })
                .collect();
            assets.sort_by(|a, b| a.path.cmp(&b.path));
            Listing {
                name: m.name,
                version: m.version.to_string(),
                languages,
                docs,
                assets,
            }
        }
    })
}

/// A listing that names a document twice is refused.
fn check_listed_once(source: &Source, chosen: &IndexVersion, docs: &[&ManifestDoc]) -> Result<()> {
    let mut listed = BTreeSet::new();
    if let Some(d) = docs
        .iter()
        .find(|d| !listed.insert((d.lang.as_str(), d.path.as_str())))
    {
        return Err(Refusal::ListedTwice {
            url: source.describe(&chosen.manifest.path),
            lang: d.lang.clone(),
            path: d.path.clone(),
        }
        .into());
    }
    Ok(())
}

/// Whether a tree of `kept` languages holds the asset at `path`: every asset but those below
/// the folder of a release language that is not kept (`--lang zh` leaves out `en/img/a.png`,
/// keeps `images/a.png` and `zh/img/a.png`).
fn keeps_asset(path: &str, release: &[String], kept: &[String]) -> bool {
    let first = path.split('/').next().unwrap_or(path);
    !(path.contains('/') && release.iter().any(|l| l == first) && !kept.iter().any(|l| l == first))
}

/// The assets are refused, before anything is fetched, when one claims more than `max` bytes,
/// or its path is not a safe relative path, is listed twice, is `tree.json`, starts with
/// `.kbrel`, or is a document's path or a folder of another file (it would overwrite or hide
/// it in the tree).
fn check_assets(
    source: &Source,
    chosen: &IndexVersion,
    docs: &[&ManifestDoc],
    assets: &[TreeAsset],
    max: u64,
) -> Result<()> {
    let url = source.describe(&chosen.manifest.path);
    let bad = |path: &str, why: &str| Refusal::BadAssetPath {
        url: url.clone(),
        path: path.to_string(),
        why: why.to_string(),
    };
    if let Some(a) = assets.iter().find(|a| a.size > max) {
        return Err(Refusal::AssetTooLarge {
            url: url.clone(),
            path: a.path.clone(),
            size: a.size,
            limit: max,
        }
        .into());
    }
    let mut files: BTreeSet<String> = (docs.iter())
        .map(|d| format!("{}/{}", d.lang, d.path))
        .collect();
    for a in assets {
        let first = a.path.split('/').next().unwrap_or_default();
        let why = if !manifest::is_safe_relative_path(&a.path) {
            "unsafe"
        } else if !manifest::is_sha256_hex(&a.sha256) {
            "invalid sha256"
        } else if a.path == "tree.json" || first == META {
            "reserved"
        } else if !files.insert(a.path.clone()) {
            "listed twice or a document's path"
        } else {
            continue;
        };
        return Err(bad(&a.path, why).into());
    }
    // A path that is also the folder of another: the next path beginning with it tells.
    for f in &files {
        let folder = format!("{f}/");
        if (files.range(folder.clone()..).next()).is_some_and(|n| n.starts_with(&folder)) {
            return Err(bad(f, "a file and a folder").into());
        }
    }
    Ok(())
}

/// Step 5: added, updated and removed documents per language against the current tree.
fn count_changes(
    current: Option<&Tree>,
    docs: &[&ManifestDoc],
    languages: &[String],
) -> BTreeMap<String, LangChanges> {
    let old: BTreeMap<(String, String), String> = current
        .map(|c| {
            c.documents
                .iter()
                .map(|d| ((d.lang.clone(), d.path.clone()), d.sha256.clone()))
                .collect()
        })
        .unwrap_or_default();
    let new: BTreeMap<(String, String), String> = docs
        .iter()
        .map(|d| ((d.lang.clone(), d.path.clone()), d.sha256.clone()))
        .collect();
    let mut changes = BTreeMap::new();
    for l in languages {
        changes.insert(l.clone(), LangChanges::default());
    }
    for (k, sha) in &new {
        let c: &mut LangChanges = changes.entry(k.0.clone()).or_default();
        match old.get(k) {
            None => c.added += 1,
            Some(o) if o != sha => c.updated += 1,
            _ => {}
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            changes.entry(k.0.clone()).or_default().removed += 1;
        }
    }
    changes
}

/// A document claimed larger than `max` is refused before anything is fetched.
fn check_claimed_sizes(
    source: &Source,
    chosen: &IndexVersion,
    docs: &[&ManifestDoc],
    max: u64,
) -> Result<()> {
    if let Some(d) = docs.iter().find(|d| d.size != UNKNOWN_SIZE && d.size > max) {
        return Err(Refusal::TooLarge {
            url: source.describe(&chosen.manifest.path),
            lang: d.lang.clone(),
            path: d.path.clone(),
            size: d.size,
            limit: max,
        }
        .into());
    }
    Ok(())
}

/// An object the new tree needs: a document's or an asset's bytes.
struct Want<'a> {
    sha256: &'a str,
    /// [`UNKNOWN_SIZE`] for a document new in a delta.
    size: u64,
    /// `en/a.md`, or `images/a.png` for an asset.
    path: String,
    asset: bool,
}

/// The documents and assets whose bytes the object store lacks, one per content hash.
fn missing_objects<'a>(
    paths: &Paths,
    docs: &[&'a ManifestDoc],
    assets: &'a [TreeAsset],
) -> Vec<Want<'a>> {
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for d in docs {
        if seen.insert(d.sha256.as_str()) && !object_ok(paths, &d.sha256) {
            missing.push(Want {
                sha256: &d.sha256,
                size: d.size,
                path: format!("{}/{}", d.lang, d.path),
                asset: false,
            });
        }
    }
    for a in assets {
        if seen.insert(a.sha256.as_str()) && !object_ok(paths, &a.sha256) {
            missing.push(Want {
                sha256: &a.sha256,
                size: a.size,
                path: a.path.clone(),
                asset: true,
            });
        }
    }
    missing
}

/// Step 6: download `missing` on `opts.parallel` threads, each verified into the object
/// store; the first error stops the others. Returns the documents and bytes fetched.
fn fetch_missing(
    source: &Source,
    paths: &Paths,
    missing: &[Want<'_>],
    opts: &SyncOptions,
    requests: &AtomicUsize,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(u64, u64)> {
    let total = missing.len() as u64;
    let done = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<SyncError>> = Mutex::new(None);
    let progress_lock = Mutex::new(progress);
    let watch = Watch::new(opts.stall_report);
    std::thread::scope(|outer| {
        outer.spawn(|| {
            watch.run(&|w| {
                if let Ok(mut p) = progress_lock.lock() {
                    (p)(Progress {
                        done: done.load(Ordering::Relaxed),
                        total,
                        waiting: Some(w),
                    });
                }
            })
        });
        std::thread::scope(|s| {
            for _ in 0..opts.parallel.clamp(1, 32).min(missing.len().max(1)) {
                s.spawn(|| {
                    loop {
                        if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(d) = missing.get(i) else { return };
                        match fetch_blob(
                            source,
                            paths,
                            d,
                            opts.retries,
                            opts.max_document_size,
                            requests,
                            &watch,
                        ) {
                            Ok(n) => {
                                bytes.fetch_add(n, Ordering::Relaxed);
                                let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                                if let Ok(mut p) = progress_lock.lock() {
                                    (p)(Progress {
                                        done: k,
                                        total,
                                        waiting: None,
                                    });
                                }
                            }
                            Err(e) => {
                                if let Ok(mut slot) = first_error.lock() {
                                    slot.get_or_insert(e);
                                }
                                return;
                            }
                        }
                    }
                });
            }
        });
        watch.stop();
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok((done.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed)))
}

/// The tree of the new version. Sizes a delta did not know are those of the verified objects.
fn tree_of(
    paths: &Paths,
    (name, version, sequence): (String, String, u64),
    chosen: &IndexVersion,
    languages: Vec<String>,
    docs: &[&ManifestDoc],
    assets: Vec<TreeAsset>,
) -> Result<Tree> {
    let mut sized: BTreeMap<&str, u64> = BTreeMap::new();
    for d in docs.iter().filter(|d| d.size == UNKNOWN_SIZE) {
        let obj = paths.object(&d.sha256);
        let len = std::fs::symlink_metadata(&obj)
            .map_err(io("read", &obj))?
            .len();
        sized.insert(d.sha256.as_str(), len);
    }
    let size_of = |d: &ManifestDoc| sized.get(d.sha256.as_str()).copied().unwrap_or(d.size);
    Ok(Tree {
        format: FORMAT.into(),
        name,
        version,
        sequence,
        manifest_sha256: chosen.manifest.sha256.clone(),
        languages,
        documents: docs
            .iter()
            .map(|d| TreeDoc {
                lang: d.lang.clone(),
                path: d.path.clone(),
                sha256: d.sha256.clone(),
                size: size_of(d),
            })
            .collect(),
        assets,
    })
}

/// Step 7: write `tree` under `trees/<id>/` from the verified objects (or reuse it when it is
/// provably this one and complete) and return its id.
fn build_tree(paths: &Paths, tree: &Tree, docs: &[&ManifestDoc]) -> Result<String> {
    let tree_bytes = manifest::to_json_bytes(tree);
    let id = sha256_hex(&tree_bytes)[..16].to_string();
    let final_dir = paths.trees().join(&id);
    // Every file of the tree (its content-root path), its object and size.
    let files: Vec<(String, &str, u64)> = (tree.documents.iter())
        .map(|d| (format!("{}/{}", d.lang, d.path), d.sha256.as_str(), d.size))
        .chain((tree.assets.iter()).map(|a| (a.path.clone(), a.sha256.as_str(), a.size)))
        .collect();
    debug_assert_eq!(tree.documents.len(), docs.len());
    // Reuse a tree only when it is provably this one and complete (every file present at its
    // size); anything else is rebuilt from the verified objects.
    let reusable =
        crate::fsx::read_regular(&final_dir.join("tree.json"), registry::MAX_INDEX_BYTES)
            .is_ok_and(|b| b == tree_bytes)
            && files.iter().all(|(path, _, size)| {
                std::fs::symlink_metadata(final_dir.join(path))
                    .is_ok_and(|m| m.is_file() && m.len() == *size)
            });
    if !reusable {
        let tmp = paths
            .trees()
            .join(format!("{id}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        for (path, sha, _) in &files {
            let dest = tmp.join(path);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            let obj = paths.object(sha);
            if std::fs::hard_link(&obj, &dest).is_err() {
                std::fs::copy(&obj, &dest).map_err(io("copy into cache", &dest))?;
            }
        }
        registry::write_durable(&tmp.join("tree.json"), &tree_bytes)?;
        sync_dir_tree(&tmp)?;
        if final_dir.symlink_metadata().is_ok() {
            let trash = paths
                .trees()
                .join(format!("{GC_PREFIX}{id}-{}", std::process::id()));
            std::fs::rename(&final_dir, &trash).map_err(io("move aside", &final_dir))?;
            let _ = std::fs::remove_dir_all(&trash);
        }
        registry::rename_into(&tmp, &final_dir)?;
    }
    Ok(id)
}

/// The chosen version's manifest, verified against the index, and the languages to keep.
fn fetch_manifest(
    source: &Source,
    chosen: &IndexVersion,
    langs: &[String],
    retries: u32,
    requests: &AtomicUsize,
    report: &mut SyncReport,
) -> Result<(manifest::Manifest, Vec<String>)> {
    let mbytes = match source.fetch(&chosen.manifest.path, None, 256 << 20, retries, requests)? {
        Fetched::Body { bytes, .. } => bytes,
        _ => {
            return Err(Refusal::MissingManifest {
                url: source.describe(&chosen.manifest.path),
            }
            .into());
        }
    };
    report.bytes_fetched += mbytes.len() as u64;
    let actual = sha256_hex(&mbytes);
    if actual != chosen.manifest.sha256 {
        return Err(Refusal::HashMismatch {
            url: source.describe(&chosen.manifest.path),
            expected: chosen.manifest.sha256.clone(),
            actual,
        }
        .into());
    }
    let m = manifest::parse_manifest(&mbytes, Path::new(&source.describe(&chosen.manifest.path)))?;
    // Languages become folder and link names in the cache: plain names only (as kbrel.toml
    // allows), so no manifest can point a link outside the cache or at `.kbrel`; and tags are
    // case-insensitive, so `en` and `EN` would be one folder on macOS and Windows.
    if let Some((_, bad)) = m
        .languages
        .iter()
        .enumerate()
        .find(|(i, l)| m.languages[..*i].iter().any(|o| o.eq_ignore_ascii_case(l)))
    {
        return Err(Refusal::LanguageTwice {
            url: source.describe(&chosen.manifest.path),
            lang: bad.clone(),
        }
        .into());
    }
    if let Some(bad) = m.languages.iter().find(|l| !is_language(l)) {
        return Err(Refusal::InvalidLanguage {
            url: source.describe(&chosen.manifest.path),
            lang: bad.clone(),
        }
        .into());
    }
    let languages: Vec<String> = if langs.is_empty() {
        m.languages.clone()
    } else {
        langs.to_vec()
    };
    for l in &languages {
        if !m.languages.contains(l) {
            return Err(Refusal::UnknownLanguage {
                lang: l.clone(),
                name: m.name.clone(),
                languages: m.languages.clone(),
            }
            .into());
        }
    }
    Ok((m, languages))
}

/// A size a delta does not know (the document is new): set from its verified bytes.
const UNKNOWN_SIZE: u64 = u64::MAX;
/// The most a document of unknown size may be.
const DELTA_BLOB_LIMIT: u64 = 64 << 20;

/// Whether `chosen` can be reached from the held tree with its diff.json: it was diffed against
/// the held version, of the same package, for the same languages.
fn delta_applies(cur: &Tree, chosen: &IndexVersion, index: &Index, langs: &[String]) -> bool {
    let new_langs: BTreeSet<&String> = chosen.summary.keys().collect();
    let want: BTreeSet<&String> = if langs.is_empty() {
        new_langs.clone()
    } else {
        langs.iter().collect()
    };
    cur.name == index.name
        && chosen.previous.as_ref().map(ToString::to_string).as_deref()
            == Some(cur.version.as_str())
        && want == cur.languages.iter().collect::<BTreeSet<_>>()
        && want.is_subset(&new_langs)
}

/// The new version's documents and assets from a delta, and the bytes read.
type Delta = (Vec<ManifestDoc>, Vec<TreeAsset>, u64);

/// diff.json of `chosen`, verified against the index and applied to the held tree: the new
/// version's documents (size [`UNKNOWN_SIZE`] where the diff does not know it), its assets
/// and the bytes read. `None` when the registry has no diff (404), or when its asset changes
/// do not apply to the assets held (a tree synced by a kbrel that did not sync assets): the
/// caller reads the manifest instead. A diff whose documents do not apply to the held tree,
/// or gives other document counts than the index, is refused.
fn fetch_delta(
    source: &Source,
    cur: &Tree,
    chosen: &IndexVersion,
    index: &Index,
    retries: u32,
    requests: &AtomicUsize,
) -> Result<Option<Delta>> {
    let rel = &chosen.diff.path;
    let at = source.describe(rel);
    let bytes = match source.fetch(rel, None, 256 << 20, retries, requests)? {
        Fetched::Body { bytes, .. } => bytes,
        _ => return Ok(None),
    };
    let actual = sha256_hex(&bytes);
    if actual != chosen.diff.sha256 {
        return Err(Refusal::HashMismatch {
            url: at,
            expected: chosen.diff.sha256.clone(),
            actual,
        }
        .into());
    }
    let diff = manifest::parse_diff(&bytes, Path::new(&at))?;
    let refuse = |delta: DeltaProblem| -> SyncError {
        Refusal::Delta {
            url: at.clone(),
            delta,
        }
        .into()
    };
    if diff.name != index.name
        || diff.from.as_deref() != Some(cur.version.as_str())
        || diff.to != chosen.version.to_string()
    {
        return Err(refuse(DeltaProblem::NotTheDiff {
            held: cur.version.clone(),
            chosen: chosen.version.to_string(),
        }));
    }
    let mut docs: BTreeMap<(String, String), ManifestDoc> = cur
        .documents
        .iter()
        .map(|d| {
            let doc = ManifestDoc {
                id: String::new(),
                lang: d.lang.clone(),
                path: d.path.clone(),
                key: String::new(),
                aliases: Vec::new(),
                bundled: true,
                title: None,
                url: None,
                sha256: d.sha256.clone(),
                size: d.size,
            };
            ((d.lang.clone(), d.path.clone()), doc)
        })
        .collect();
    let changes: Vec<&manifest::DocChange> = diff
        .changes
        .iter()
        .filter(|c| cur.languages.contains(&c.lang))
        .collect();
    // Old sides first: a removal or rename may free a path that another change reuses.
    for c in &changes {
        if c.status == ChangeStatus::Added {
            continue;
        }
        let from = c.old_path.as_ref().unwrap_or(&c.path);
        let k = (c.lang.clone(), from.clone());
        if docs.get(&k).map(|d| Some(&d.sha256)) != Some(c.old_sha256.as_ref()) {
            return Err(refuse(DeltaProblem::NotHeld {
                lang: c.lang.clone(),
                path: from.clone(),
                held: cur.version.clone(),
            }));
        }
        docs.remove(&k);
    }
    for c in &changes {
        if c.status == ChangeStatus::Removed {
            continue;
        }
        let k = (c.lang.clone(), c.path.clone());
        let sha = c.sha256.clone().unwrap_or_default();
        if !manifest::is_safe_relative_path(&c.path)
            || !manifest::is_sha256_hex(&sha)
            || docs.contains_key(&k)
        {
            return Err(refuse(DeltaProblem::CannotApply {
                lang: c.lang.clone(),
                path: c.path.clone(),
                status: c.status,
            }));
        }
        let doc = ManifestDoc {
            id: c.id.clone(),
            lang: c.lang.clone(),
            path: c.path.clone(),
            key: c.key.clone(),
            aliases: Vec::new(),
            bundled: true,
            title: c.title.clone(),
            url: None,
            sha256: sha,
            size: UNKNOWN_SIZE,
        };
        docs.insert(k, doc);
    }
    // The manifest's order: languages as configured (the held tree's order), then path.
    let rank = |l: &str| {
        cur.languages
            .iter()
            .position(|x| x == l)
            .unwrap_or(usize::MAX)
    };
    let mut list: Vec<ManifestDoc> = docs.into_values().collect();
    list.sort_by(|a, b| (rank(&a.lang), &a.path).cmp(&(rank(&b.lang), &b.path)));
    for l in &cur.languages {
        let n = list.iter().filter(|d| &d.lang == l).count() as u64;
        let want = chosen.summary.get(l).map(|s| s.documents);
        if Some(n) != want {
            return Err(refuse(DeltaProblem::Count {
                held: cur.version.clone(),
                lang: l.clone(),
                got: n,
                index: want,
            }));
        }
    }
    let Some(assets) = apply_asset_changes(cur, chosen, &diff.assets) else {
        return Ok(None);
    };
    Ok(Some((list, assets, bytes.len() as u64)))
}

/// The held tree's assets with a diff's asset changes applied (those of languages the tree
/// does not hold left out), by path; `None` when a change does not apply to what is held.
fn apply_asset_changes(
    cur: &Tree,
    chosen: &IndexVersion,
    changes: &[manifest::AssetChange],
) -> Option<Vec<TreeAsset>> {
    let release: Vec<String> = chosen.summary.keys().cloned().collect();
    let mut held: BTreeMap<String, TreeAsset> = (cur.assets.iter())
        .map(|a| (a.path.clone(), a.clone()))
        .collect();
    let changes: Vec<&manifest::AssetChange> = (changes.iter())
        .filter(|c| keeps_asset(&c.path, &release, &cur.languages))
        .collect();
    for c in &changes {
        if c.status != ChangeStatus::Added {
            let old = held.remove(&c.path)?;
            if Some(&old.sha256) != c.old_sha256.as_ref() {
                return None;
            }
        }
    }
    for c in &changes {
        if c.status == ChangeStatus::Removed {
            continue;
        }
        let (Some(sha256), Some(size)) = (c.new_sha256.clone(), c.new_size) else {
            return None;
        };
        let asset = TreeAsset {
            path: c.path.clone(),
            sha256,
            size,
        };
        if held.insert(c.path.clone(), asset).is_some() {
            return None;
        }
    }
    Some(held.into_values().collect())
}

/// Whether the object store holds `sha`'s bytes (hashed as read: an asset is never held whole).
fn object_ok(paths: &Paths, sha: &str) -> bool {
    crate::fsx::open_regular(&paths.object(sha))
        .and_then(|(f, _)| crate::hash::sha256_reader(std::io::BufReader::new(f)))
        .is_ok_and(|(actual, _)| actual == sha)
}

fn fetch_blob(
    source: &Source,
    paths: &Paths,
    d: &Want<'_>,
    retries: u32,
    max_size: u64,
    requests: &AtomicUsize,
    watch: &Watch,
) -> Result<u64> {
    let rel = registry::blob_path(d.sha256);
    // A document a delta did not size may be at most the smaller of the two limits.
    let limit = if d.size == UNKNOWN_SIZE {
        DELTA_BLOB_LIMIT.min(max_size)
    } else {
        d.size
    };
    let obj = paths.object(d.sha256);
    let dir = obj.parent().unwrap_or(&paths.root).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    // Streamed into a temporary file beside the object while it is hashed: memory stays a
    // buffer per job whatever the manifest claims; never more than the recorded size is read.
    let tmp = dir.join(format!(".{}.tmp-{}", &d.sha256[2..], std::process::id()));
    let mut attempt = 0;
    loop {
        let fetched = source.fetch_to(&rel, limit, &tmp, retries, requests, watch);
        let (actual, n) = match fetched {
            Ok(Some(got)) => got,
            Ok(None) => {
                let _ = std::fs::remove_file(&tmp);
                let url = source.describe(&rel);
                return Err(if d.asset {
                    Refusal::MissingAsset {
                        url,
                        path: d.path.clone(),
                    }
                } else {
                    let (lang, path) = d.path.split_once('/').unwrap_or(("", &d.path));
                    Refusal::MissingDocument {
                        url,
                        lang: lang.to_string(),
                        path: path.to_string(),
                    }
                }
                .into());
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if actual == d.sha256 {
            std::fs::rename(&tmp, &obj).map_err(io("rename into", &obj))?;
            return Ok(n);
        }
        let _ = std::fs::remove_file(&tmp);
        if attempt >= 1 {
            let url = source.describe(&rel);
            let expected = d.sha256.to_string();
            return Err(if d.asset {
                Refusal::WrongAssetContent {
                    url,
                    path: d.path.clone(),
                    expected,
                    actual,
                }
            } else {
                let (lang, path) = d.path.split_once('/').unwrap_or(("", &d.path));
                Refusal::WrongContent {
                    url,
                    lang: lang.to_string(),
                    path: path.to_string(),
                    expected,
                    actual,
                }
            }
            .into());
        }
        attempt += 1;
    }
}

fn sync_dir_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io("read directory", dir))? {
        let entry = entry.map_err(io("read directory", dir))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            sync_dir_tree(&entry.path())?;
        }
    }
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("fsync", dir))?;
    Ok(())
}

/// The switch: check the links of the tree's roots (its languages, then the first component
/// of each other asset path), make `current` name tree `id`, then make the links. A root that
/// is not kbrel's link stops the sync before the switch.
fn switch_tree(paths: &Paths, tree: &Tree, id: &str) -> Result<()> {
    let mut roots: Vec<&str> = tree.languages.iter().map(String::as_str).collect();
    let mut others: BTreeSet<&str> = BTreeSet::new();
    for a in &tree.assets {
        let first = a.path.split('/').next().unwrap_or(&a.path);
        if !roots.contains(&first) {
            others.insert(first);
        }
    }
    roots.extend(others);
    for r in &roots {
        ensure_lang_link(paths, r, false)?;
    }
    switch_current(paths, id)?;
    for r in &roots {
        ensure_lang_link(paths, r, true)?;
    }
    Ok(())
}

fn switch_current(paths: &Paths, id: &str) -> Result<()> {
    let tmp = paths
        .meta()
        .join(format!("current.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("trees").join(id), &tmp)
        .map_err(io("create symlink", &tmp))?;
    std::fs::rename(&tmp, paths.current()).map_err(io("switch", &paths.current()))?;
    std::fs::File::open(paths.meta())
        .and_then(|f| f.sync_all())
        .map_err(io("fsync", &paths.meta()))?;
    Ok(())
}

/// Check (and with `create`, make) the link `<CACHE>/<lang>` → `.kbrel/current/<lang>`.
fn ensure_lang_link(paths: &Paths, lang: &str, create: bool) -> Result<()> {
    let link = paths.root.join(lang);
    let target = Path::new(META).join("current").join(lang);
    match std::fs::read_link(&link) {
        Ok(t) if t == target => Ok(()),
        Ok(_) | Err(_) if link.symlink_metadata().is_ok() => {
            Err(Refusal::ForeignLink { path: link, target }.into())
        }
        _ if !create => Ok(()),
        _ => Ok(std::os::unix::fs::symlink(&target, &link).map_err(io("create symlink", &link))?),
    }
}

/// A language code as `kbrel.toml` allows it: ASCII letters, digits, `-` and `_`.
fn is_language(l: &str) -> bool {
    !l.is_empty()
        && l.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The first entry of `cache` that kbrel did not make, if any. A folder holding only `.kbrel/`
/// and kbrel's language links is an interrupted first sync, not somebody else's folder.
fn foreign_entry(cache: &Path) -> Result<Option<String>> {
    for e in std::fs::read_dir(cache).map_err(io("read directory", cache))? {
        let e = e.map_err(io("read directory", cache))?;
        let (name, path) = (e.file_name(), e.path());
        if name == META && path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        if std::fs::read_link(&path).is_ok_and(|t| t == Path::new(META).join("current").join(&name))
        {
            continue;
        }
        return Ok(Some(name.to_string_lossy().into_owned()));
    }
    Ok(None)
}

/// Record the accepted index. `index.json` and the ETag in `state.json` must describe the same
/// bytes (a 304 reuses `index.json`), so the old ETag is forgotten before `index.json` is
/// replaced: a crash in between costs one full index fetch, never a stale index.
fn commit_index(
    paths: &Paths,
    state: &mut CacheState,
    from: &str,
    index_bytes: &[u8],
    etag: Option<String>,
    not_modified: bool,
    sequence: u64,
) -> Result<()> {
    state.source = from.to_string();
    state.highest_sequence = state.highest_sequence.max(sequence);
    if !not_modified {
        if state.index_etag.is_some() {
            state.index_etag = None;
            durable_write(&paths.state(), &manifest::to_json_bytes(state))?;
        }
        durable_write(&paths.index(), index_bytes)?;
    }
    state.index_etag = etag;
    durable_write(&paths.state(), &manifest::to_json_bytes(state))
}

/// Refuse a cache whose own folders (`.kbrel`, `objects`, `trees`, each object fan-out folder
/// and each tree) are links or special files: writing objects or collecting garbage through
/// them would change files outside the cache. Nothing is changed; the message names the path.
fn check_cache_folders(paths: &Paths) -> Result<()> {
    use crate::fsx::Kind;
    let bad = |rel: &str, k: Kind| -> SyncError {
        Refusal::NotAFolder {
            path: paths.root.join(rel),
            found: k.describe().to_string(),
        }
        .into()
    };
    for rel in [
        META.to_string(),
        format!("{META}/objects"),
        format!("{META}/trees"),
    ] {
        match crate::fsx::check_within(&paths.root, Path::new(&rel)) {
            Ok(Kind::Dir | Kind::Missing) => {}
            Ok(k) => return Err(bad(&rel, k)),
            Err(crate::fsx::RemoveError::Unsafe(u)) => return Err(bad(&u.rel, u.found)),
            Err(crate::fsx::RemoveError::Io(e)) => {
                return Err(Error::io("inspect", paths.root.join(rel), e).into());
            }
        }
    }
    for folder in ["objects", "trees"] {
        let rel = format!("{META}/{folder}");
        let entries = crate::fsx::list_within(&paths.root, Path::new(&rel))
            .map_err(|e| Error::io("list", paths.root.join(&rel), e.into()))?;
        for (name, k) in entries {
            if k != Kind::Dir {
                return Err(bad(&format!("{rel}/{name}"), k));
            }
        }
    }
    Ok(())
}

/// Remove trees other than `keep` and objects it does not reference. Nothing is followed: only
/// real folders (trees) and regular files (objects) inside real folders are removed, through
/// [`crate::fsx`]; anything else stays for a human to look at.
fn gc(paths: &Paths, keep: &str, tree: &Tree) -> Result<()> {
    use crate::fsx::Kind;
    let root = &paths.root;
    let trees_rel = format!("{META}/trees");
    // A tree is renamed out of its id before it is removed: `trees/<id>` is then always a
    // complete tree, so a sync interrupted halfway through a removal never leaves a partial
    // tree that a later sync would reuse (and switch to) as complete.
    let mut doomed = Vec::new();
    for (name, k) in crate::fsx::list_within(root, Path::new(&trees_rel)).unwrap_or_default() {
        if name == keep || k != Kind::Dir {
            continue;
        }
        if name.starts_with(GC_PREFIX) {
            doomed.push(name);
            continue;
        }
        let trash = format!("{GC_PREFIX}{name}-{}", std::process::id());
        if std::fs::rename(paths.trees().join(&name), paths.trees().join(&trash)).is_ok() {
            doomed.push(trash);
        }
    }
    if !doomed.is_empty() {
        std::fs::File::open(paths.trees())
            .and_then(|f| f.sync_all())
            .map_err(io("fsync", &paths.trees()))?;
    }
    for d in doomed {
        let _ = crate::fsx::remove_within(root, &Path::new(&trees_rel).join(d));
    }
    let wanted: BTreeSet<&str> = (tree.documents.iter().map(|d| d.sha256.as_str()))
        .chain(tree.assets.iter().map(|a| a.sha256.as_str()))
        .collect();
    let objects_rel = Path::new(META).join("objects");
    for (a, k) in crate::fsx::list_within(root, &objects_rel).unwrap_or_default() {
        if k != Kind::Dir {
            continue;
        }
        let dir = objects_rel.join(&a);
        for (b, k) in crate::fsx::list_within(root, &dir).unwrap_or_default() {
            if k == Kind::File && !wanted.contains(format!("{a}{b}").as_str()) {
                let _ = crate::fsx::remove_within(root, &dir.join(b));
            }
        }
    }
    Ok(())
}

/// `--offline`: check the cache against its own state without the network.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OfflineReport {
    pub name: Option<String>,
    pub version: Option<String>,
    pub documents: u64,
    pub problems: Vec<String>,
}

pub fn check_offline(cache: &Path) -> Result<OfflineReport> {
    let paths = Paths {
        root: cache.to_path_buf(),
    };
    read_state(&paths)?.ok_or_else(|| Refusal::NoState {
        path: cache.to_path_buf(),
    })?;
    let mut report = OfflineReport::default();
    let Some(tree) = current_tree(cache)? else {
        report.problems.push("no current version".into());
        return Ok(report);
    };
    report.name = Some(tree.name.clone());
    report.version = Some(tree.version.clone());
    for d in &tree.documents {
        report.documents += 1;
        let p = paths.root.join(&d.lang).join(&d.path);
        match crate::fsx::read(&p) {
            Ok(b) if sha256_hex(&b) == d.sha256 => {}
            Ok(_) => report.problems.push(format!(
                "{}/{}: content does not match sha256 {}",
                d.lang, d.path, d.sha256
            )),
            Err(e) => report.problems.push(format!("{}/{}: {e}", d.lang, d.path)),
        }
    }
    for a in &tree.assets {
        let p = paths.current().join(&a.path);
        let hashed = crate::fsx::open_regular(&p)
            .and_then(|(f, _)| crate::hash::sha256_reader(std::io::BufReader::new(f)));
        match hashed {
            Ok((actual, _)) if actual == a.sha256 => {}
            Ok(_) => report.problems.push(format!(
                "{}: content does not match sha256 {}",
                a.path, a.sha256
            )),
            Err(e) => report.problems.push(format!("{}: {e}", a.path)),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(versions: &[&str], tags: &[(&str, &str)]) -> Index {
        let file = |path: String| manifest::FileRef {
            path,
            sha256: "0".repeat(64),
            size: 1,
        };
        let mut i = Index::new("acme");
        i.dist_tags = tags
            .iter()
            .map(|(t, v)| (t.to_string(), semver::Version::parse(v).unwrap()))
            .collect();
        i.versions = versions
            .iter()
            .map(|v| IndexVersion {
                version: semver::Version::parse(v).unwrap(),
                published: "2026-11-25T00:00:00Z".into(),
                previous: None,
                content_digest: "0".repeat(64),
                manifest: file(registry::manifest_path(v)),
                diff: file(registry::diff_path(v)),
                package_json: file(registry::package_json_path(v)),
                tarball: manifest::TarballRef {
                    path: format!("acme-{v}.tgz"),
                    sha256: "0".repeat(64),
                    size: 1,
                    integrity: String::new(),
                    shasum: String::new(),
                    file_count: 1,
                    unpacked_size: 1,
                },
                summary: BTreeMap::new(),
            })
            .collect();
        i
    }

    #[test]
    fn select_takes_tags_versions_and_ranges() {
        let i = index(
            &["1.0.0", "1.2.0", "1.3.1", "2.0.0-beta.1"],
            &[("latest", "1.3.1"), ("next", "2.0.0-beta.1")],
        );
        let pick = |spec: Option<&str>| select(&i, spec).map(|v| v.version.to_string());
        assert_eq!(pick(None).unwrap(), "1.3.1");
        assert_eq!(pick(Some("next")).unwrap(), "2.0.0-beta.1");
        assert_eq!(pick(Some("v1.2.0")).unwrap(), "1.2.0");
        assert_eq!(pick(Some("^1.1")).unwrap(), "1.3.1");
        assert_eq!(pick(Some("~1.2")).unwrap(), "1.2.0");
        assert_eq!(pick(Some("<1.2")).unwrap(), "1.0.0");
        for bad in ["3.0.0", "^3", "nonsense tag"] {
            let e = pick(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("1.0.0, 1.2.0"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_mistyped_trust_key_fails_the_usage_check() {
        let e = SyncError::from(crate::sign::parse_public_key("ed25519:nope!").unwrap_err());
        assert!(matches!(e.check(), Check::Usage));
        assert_eq!(
            e.to_json().error.message,
            "invalid public key `ed25519:nope!`: not base64 (expected ed25519:<base64 of 32 bytes>)"
        );
        // Anything else kbrel-core says about the cache is the store's.
        let e = SyncError::from(CoreError::io("read", "x", std::io::Error::other("gone")));
        assert!(matches!(e.check(), Check::Store));
    }

    #[test]
    fn languages_are_plain_names() {
        for ok in ["en", "zh", "zh-Hans", "pt_BR"] {
            assert!(is_language(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".kbrel",
            "../x",
            "a/b",
            "en\n",
            "tree.json",
            "ü",
        ] {
            assert!(!is_language(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_kbrel_entries_make_a_folder_ours() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(foreign_entry(root).unwrap(), None);
        std::fs::create_dir(root.join(META)).unwrap();
        std::os::unix::fs::symlink(".kbrel/current/en", root.join("en")).unwrap();
        assert_eq!(foreign_entry(root).unwrap(), None);
        std::os::unix::fs::symlink("/etc", root.join("zh")).unwrap();
        assert_eq!(foreign_entry(root).unwrap().as_deref(), Some("zh"));
        std::fs::remove_file(root.join("zh")).unwrap();
        std::fs::write(root.join("notes.txt"), "x").unwrap();
        assert_eq!(foreign_entry(root).unwrap().as_deref(), Some("notes.txt"));
    }
}
