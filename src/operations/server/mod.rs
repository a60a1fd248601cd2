//! `kbrel serve`: read-only HTTP over a registry directory — the registry files and npm's read
//! API — with strong ETags, immutable caching, gzip, HEAD, timeouts and graceful shutdown.
//! Browsers also get the release viewer ([`crate::web`]: versions, diffs, documents, translation
//! status) under `/`, `/diff/`, `/v/<version>/<lang>/`, `/status` and `/assets/`.
//!
//! Architecture invariant: request paths are never joined onto the filesystem. Every route
//! names a file through the index (versions, tarball names) or a strict pattern (a sha256), so
//! nothing outside the registry, and nothing the index does not list, can be served.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

mod stream;
mod watch;

use stream::{Ranges, byte_range, stream_body};
use watch::IndexWatch;

use crate::error::{Error, Result};
use crate::hash::sha256_hex;
use crate::manifest::{self, Index};
use crate::registry::{self, Registry};

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const SHORT: &str = "public, max-age=60";
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";
/// The byte budget of the immutable files kept in memory after their first (verified) read:
/// documents and manifests, never more than this much whatever is requested. Larger files
/// (tarballs) are read and verified on every request instead of being kept.
const CACHE_LIMIT: usize = 32 << 20;
/// Immutable files up to this size (nearly all: documents, manifests, diffs, small assets) are
/// read whole and verified before the first byte is sent; larger ones (big assets, tarballs
/// holding them) are streamed from disk, hashed as they are sent ([`stream_body`]).
const STREAM_ABOVE: u64 = 64 << 20;
/// The chunk a streamed file is read and sent in.
const STREAM_CHUNK: u64 = 256 << 10;
/// The largest file kept in that cache.
const CACHE_FILE_LIMIT: usize = 1 << 20;
/// The largest precompressed `.gz` copy kept in that cache.
const CACHE_SIBLING_LIMIT: usize = 8 << 20;
/// How long one request may spend reading and rendering on the blocking pool before it is
/// answered 503 (a file that never finishes reading cannot hold a connection forever).
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// Rendered packuments kept per index (one per Host header and format).
const PACKUMENT_CACHE_ENTRIES: usize = 64;
/// How long a request waits for a changed `index.json` to be reloaded (on a thread of its
/// own) before it is answered from the last good index: a slow or hostile index file delays
/// no request longer than this, and holds no lock another request needs.
const RELOAD_WAIT: Duration = Duration::from_secs(2);

/// A response body: bytes in memory, or a file streamed from disk.
type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// Where request log lines and errors go (the binary prints them).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct ServeOptions {
    /// Absolute base for tarball URLs in packuments; default: `http://<Host header>/`.
    pub base_url: Option<String>,
    pub log: Log,
    /// Log one line per request (errors are always logged).
    pub log_requests: bool,
    /// Close connections that do not send a complete request header in time.
    pub header_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Origins allowed to read the registry from a web page (`--cors`): `*` or exact origins
    /// (`https://console.example.com`). Empty: no CORS headers, OPTIONS is refused.
    pub cors: Vec<String>,
}

/// `*`, or an origin as browsers send it: `http(s)://host[:port]`, no path, no trailing slash.
pub fn is_cors_origin(o: &str) -> bool {
    if o == "*" {
        return true;
    }
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The CORS headers for a request from `origin` (empty when CORS is off or the origin is not
/// allowed). Browsers send `If-None-Match` (not a safelisted header), so reads of `index.json`
/// are preflighted; `ETag` and `Content-Encoding` are exposed so a page can poll conditionally
/// and count the bytes on the wire.
pub fn cors_headers(
    allowed: &[String],
    origin: &str,
    preflight: bool,
) -> Vec<(&'static str, String)> {
    let allow = if allowed.iter().any(|a| a == "*") {
        "*".to_string()
    } else if !origin.is_empty() && allowed.iter().any(|a| a == origin) {
        origin.to_string()
    } else {
        return Vec::new();
    };
    let mut h = vec![("access-control-allow-origin", allow.clone())];
    if allow != "*" {
        h.push(("vary", "Origin".into()));
    }
    if preflight {
        h.push(("access-control-allow-methods", "GET, HEAD".into()));
        h.push((
            "access-control-allow-headers",
            "If-None-Match, Accept".into(),
        ));
        h.push(("access-control-max-age", "86400".into()));
    } else {
        h.push((
            "access-control-expose-headers",
            "ETag, Content-Encoding, Content-Length".into(),
        ));
    }
    h
}

struct Loaded {
    key: (u64, i128, u64),
    index: Arc<Index>,
    bytes: Bytes,
    etag: String,
    docs: Arc<BTreeMap<String, Value>>,
    packuments: HashMap<(String, bool), (Bytes, String)>,
}

/// The index being served: parsed, raw bytes, ETag, and each version's package.json.
type Current = (Arc<Index>, Bytes, String, Arc<BTreeMap<String, Value>>);

/// What loading an index gives: parsed, raw bytes, each version's package.json.
type LoadedIndex = (Index, Vec<u8>, BTreeMap<String, Value>);

/// `index.json.gz` as checked for the index with an ETag: (ETag, the copy; `None`: none).
type IndexGz = (String, Option<Bytes>);

/// A reload of `index.json` in progress: set to `true` (and notified) when it ends.
type ReloadDone = Arc<(Mutex<bool>, Condvar)>;

struct State {
    reg: Registry,
    opts: ServeOptions,
    /// The index being served; locked only to read or swap it, never while reading files.
    loaded: Mutex<Option<Loaded>>,
    /// The reload in progress, if any (one at a time).
    reload: Mutex<Option<ReloadDone>>,
    /// Reads and parses the index (a parameter so tests can make it slow).
    loader: fn(&State, &std::path::Path) -> Result<LoadedIndex>,
    files: Mutex<FileCache>,
    /// `index.json.gz` as checked for the index with an ETag: (ETag, the copy when it decodes
    /// to that index; `None`, its absence, is kept only while [`Self::watch`] would see a new
    /// one), and a generation counted up whenever the watch sees the copy change, so that a
    /// read that raced the change is not kept.
    index_gz: Mutex<(u64, Option<IndexGz>)>,
    /// The registry folder watched for changes of `index.json` (`None`: not on this system, or
    /// not watchable; every request then checks the file itself, on the blocking pool).
    watch: Option<IndexWatch>,
    /// Streamed files hashed whole and found to match, as they were then ([`Verified`]).
    verified: Verified,
}

/// Files over [`STREAM_ABOVE`] bytes hashed whole and found to match their sha256, by
/// registry path, with the [`StreamKey`] they had then: a byte range is read straight from a
/// file whose key is unchanged since (a range alone cannot be checked against the whole
/// file's hash); any change to the file (size, mtime, ctime, inode, device) has it hashed
/// whole again before a range of it is sent.
type Verified = Arc<Mutex<HashMap<String, StreamKey>>>;

/// What identifies one state of a file: size, mtime and ctime (ns), inode, device. The ctime
/// cannot be set back by a user, so a rewrite that restores the mtime still changes it.
type StreamKey = (u64, i128, i128, u64, u64);

fn stream_key(meta: &std::fs::Metadata) -> StreamKey {
    use std::os::unix::fs::MetadataExt;
    (
        meta.len(),
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        meta.ino(),
        meta.dev(),
    )
}

/// Immutable registry files kept in memory after their first verified read, within a byte
/// budget: files larger than `file_limit` are never kept, and once `budget` bytes are resident
/// nothing more is (they are read and verified on every request instead).
#[derive(Debug)]
struct FileCache {
    budget: usize,
    file_limit: usize,
    resident: usize,
    files: HashMap<String, Bytes>,
}

impl FileCache {
    fn new(budget: usize, file_limit: usize) -> FileCache {
        FileCache {
            budget,
            file_limit,
            resident: 0,
            files: HashMap::new(),
        }
    }

    fn get(&self, rel: &str) -> Option<Bytes> {
        self.files.get(rel).cloned()
    }

    /// Keep `bytes` as `rel` if it fits the budget; whether it was kept.
    fn offer(&mut self, rel: &str, bytes: &Bytes) -> bool {
        self.offer_within(rel, bytes, self.file_limit)
    }

    /// [`Self::offer`] with a per-file limit of `file_limit` (a precompressed copy stands for
    /// a file several times its size: the 20,000-document manifest is 8.8 MB, its copy less
    /// than 2).
    fn offer_within(&mut self, rel: &str, bytes: &Bytes, file_limit: usize) -> bool {
        if self.files.contains_key(rel)
            || bytes.len() > file_limit
            || self.resident + bytes.len() > self.budget
        {
            return false;
        }
        self.resident += bytes.len();
        self.files.insert(rel.to_string(), bytes.clone());
        true
    }
}

fn file_key(meta: &std::fs::Metadata) -> (u64, i128, u64) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.len(),
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        meta.ino(),
    )
}

impl State {
    fn new(reg: Registry, opts: ServeOptions) -> State {
        State {
            reg,
            opts,
            loaded: Mutex::new(None),
            reload: Mutex::new(None),
            loader: State::load,
            files: Mutex::new(FileCache::new(CACHE_LIMIT, CACHE_FILE_LIMIT)),
            index_gz: Mutex::new((0, None)),
            watch: None,
            verified: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The current index. When index.json changed, it is reloaded on a thread of its own and
    /// the request waits at most [`RELOAD_WAIT`] for it, else is answered from the last good
    /// index; a bad new index is logged and the last good one kept.
    fn current(self: &Arc<Self>) -> Option<Current> {
        let _ = self.refresh(RELOAD_WAIT);
        self.snapshot()
    }

    /// A state whose registry folder is watched ([`IndexWatch`]; the watch is added before the
    /// first load, so no change after it goes unseen, and its thread is started by
    /// [`Self::start_watch`] once the first index is loaded).
    fn watched(reg: Registry, opts: ServeOptions) -> Arc<State> {
        let mut state = State::new(reg, opts);
        state.watch = IndexWatch::new(&state.reg.dir);
        Arc::new(state)
    }

    /// Start the watch's thread ([`watch_index`]), which ends with the server.
    fn start_watch(self: &Arc<Self>) {
        if self.watch.is_none() {
            return;
        }
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("kbrel-index-watch".into())
            .spawn(move || watch_index(weak));
        if let Err(e) = spawned {
            // The watch stays unsettled: every request checks index.json itself, as without one.
            (self.opts.log)(&format!("error: cannot start the index watch: {e}"));
        }
    }

    /// Stat `index.json` and, when it changed since it was loaded, reload it (on a thread of
    /// its own) and wait up to `wait` for that. Whether it had changed.
    fn refresh(self: &Arc<Self>, wait: Duration) -> bool {
        let path = self.reg.path(registry::INDEX_FILE);
        let key = std::fs::metadata(&path).ok().map(|m| file_key(&m));
        let stale = {
            let guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            match (&*guard, key) {
                (Some(l), Some(k)) => l.key != k,
                (None, Some(_)) => true,
                (_, None) => false,
            }
        };
        if stale && let Some(k) = key {
            let done = self.start_reload(k, path);
            let (finished, cv) = &*done;
            let guard = finished.lock().unwrap_or_else(|p| p.into_inner());
            let _ = cv
                .wait_timeout_while(guard, wait, |f| !*f)
                .unwrap_or_else(|p| p.into_inner());
        }
        stale
    }

    /// Whether the loaded index is the one on disk without looking at the disk: the watch saw
    /// no change of `index.json` or its `.gz` copy that it has not yet taken in. Never blocks.
    fn index_is_current(&self) -> bool {
        self.watch.as_ref().is_some_and(IndexWatch::quiet)
    }

    fn snapshot(&self) -> Option<Current> {
        let guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|l| {
            (
                l.index.clone(),
                l.bytes.clone(),
                l.etag.clone(),
                l.docs.clone(),
            )
        })
    }

    /// The reload in progress, or a new one of `path` (whose metadata key was `key`).
    fn start_reload(
        self: &Arc<Self>,
        key: (u64, i128, u64),
        path: std::path::PathBuf,
    ) -> ReloadDone {
        let mut slot = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(done) = &*slot {
            return done.clone();
        }
        let done: ReloadDone = Arc::new((Mutex::new(false), Condvar::new()));
        *slot = Some(done.clone());
        drop(slot);
        let st = self.clone();
        let d = done.clone();
        let spawned = std::thread::Builder::new()
            .name("kbrel-index-reload".into())
            .spawn(move || {
                st.reload_now(key, &path);
                *st.reload.lock().unwrap_or_else(|p| p.into_inner()) = None;
                *d.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
                d.1.notify_all();
            });
        if let Err(e) = spawned {
            (self.opts.log)(&format!("error: cannot start the index reload: {e}"));
            *self.reload.lock().unwrap_or_else(|p| p.into_inner()) = None;
            *done.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
        done
    }

    /// Load `path` (no lock held while reading) and swap it in.
    fn reload_now(&self, key: (u64, i128, u64), path: &std::path::Path) {
        let result = (self.loader)(self, path);
        let mut guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((index, bytes, docs)) => {
                let etag = format!("\"{}\"", sha256_hex(&bytes));
                *guard = Some(Loaded {
                    key,
                    index: Arc::new(index),
                    bytes: Bytes::from(bytes),
                    etag,
                    docs: Arc::new(docs),
                    packuments: HashMap::new(),
                });
            }
            Err(e) => {
                (self.opts.log)(&format!("error: {e}; still serving the last good index"));
                if let Some(l) = guard.as_mut() {
                    l.key = key;
                }
            }
        }
    }

    fn load(&self, path: &std::path::Path) -> Result<LoadedIndex> {
        let bytes = crate::fsx::read_regular(path, registry::MAX_INDEX_BYTES)
            .map_err(|e| Error::io("read", path, e))?;
        let index = manifest::parse_index(&bytes, path)?;
        let docs = crate::registry::version_documents(&self.reg, &index)?;
        Ok((index, bytes, docs))
    }

    /// An immutable registry file, verified against `sha256` on first read, then cached.
    fn immutable(&self, rel: &str, sha256: &str, size: u64) -> Option<Bytes> {
        if let Some(b) = self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(rel)
        {
            return Some(b);
        }
        let bytes = match crate::fsx::read_regular(&self.reg.path(rel), crate::fsx::bound(size)) {
            Ok(b) => b,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    (self.opts.log)(&format!("error: cannot read {rel}: {e}; not served"));
                }
                return None;
            }
        };
        if sha256_hex(&bytes) != sha256 {
            (self.opts.log)(&format!(
                "error: {rel} does not match its sha256 {sha256}; not served (run `kbrel verify`)"
            ));
            return None;
        }
        let bytes = Bytes::from(bytes);
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .offer(rel, &bytes);
        Some(bytes)
    }

    /// An immutable file for a response: read whole and verified ([`Self::immutable`]) up to
    /// [`STREAM_ABOVE`] bytes, opened for streaming above. `size` is what the index or
    /// manifest records (`None` for a blob, named by its hash alone: its size on disk then
    /// decides); a file of another size is not served.
    fn content(&self, rel: &str, sha256: &str, size: Option<u64>) -> Option<Content> {
        if let Some(s) = size.filter(|&s| s <= STREAM_ABOVE) {
            return self.immutable(rel, sha256, s).map(Content::Whole);
        }
        if size.is_none()
            && let Some(b) = (self.files.lock().unwrap_or_else(|p| p.into_inner())).get(rel)
        {
            return Some(Content::Whole(b));
        }
        let (file, len) = match crate::fsx::open_regular(&self.reg.path(rel)) {
            Ok(opened) => opened,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    (self.opts.log)(&format!("error: cannot read {rel}: {e}; not served"));
                }
                return None;
            }
        };
        if let Some(s) = size.filter(|&s| s != len) {
            (self.opts.log)(&format!(
                "error: {rel} holds {len} bytes, {s} are recorded; not served (run `kbrel verify`)"
            ));
            return None;
        }
        if len <= STREAM_ABOVE {
            drop(file);
            return self.immutable(rel, sha256, len).map(Content::Whole);
        }
        let key = match file.metadata() {
            Ok(meta) => stream_key(&meta),
            Err(e) => {
                (self.opts.log)(&format!("error: cannot read {rel}: {e}; not served"));
                return None;
            }
        };
        Some(Content::Streamed(Streamed {
            file,
            size: len,
            sha256: sha256.to_string(),
            rel: rel.to_string(),
            key,
            verified: self.verified.clone(),
            range: None,
        }))
    }

    /// The precompressed `.gz` sibling of the registry file `rel` ([`registry::precompressed`];
    /// at most `size` bytes, hashing to `sha256`), checked on first read to decode to exactly
    /// those bytes, then cached (and so is its absence: immutable files get theirs written
    /// with them). A sibling that decodes to anything else is logged and never sent.
    fn sibling(&self, rel: &str, sha256: &str, size: u64) -> Option<Bytes> {
        if !registry::precompressed(rel) {
            return None;
        }
        let key = format!("{rel}{}", registry::GZ_SUFFIX);
        let cached = self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key);
        if let Some(b) = cached {
            return (!b.is_empty()).then_some(b);
        }
        let found = match self.read_sibling(&key, size) {
            Ok(Some((gz, plain))) if sha256_hex(&plain) == sha256 => Bytes::from(gz),
            Ok(None) => Bytes::new(),
            Ok(Some(_)) => {
                (self.opts.log)(&format!(
                    "error: {key} does not decompress to {rel}; not used (run `kbrel verify --repair`)"
                ));
                Bytes::new()
            }
            Err(e) => {
                (self.opts.log)(&format!("error: cannot read {key}: {e}; not used"));
                Bytes::new()
            }
        };
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .offer_within(&key, &found, CACHE_SIBLING_LIMIT);
        (!found.is_empty()).then_some(found)
    }

    /// A `.gz` file and what it decodes to (at most `size` bytes); `None` when there is none.
    fn read_sibling(&self, key: &str, size: u64) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        // gzip adds a few bytes to what it cannot shrink.
        let bound = size.saturating_add(size / 64 + 1024);
        let gz = match crate::fsx::read_regular(&self.reg.path(key), bound) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let plain = registry::gunzip_limited(&gz, size)?;
        Ok(Some((gz, plain)))
    }

    /// `index.json.gz` when it decodes to exactly the index being served (ETag `etag`), read
    /// again only when the index changes: a publish renames it right after `index.json`, so
    /// until then the old one is not used.
    fn index_sibling(&self, bytes: &Bytes, etag: &str) -> Option<Bytes> {
        let generation = {
            let cached = self.index_gz.lock().unwrap_or_else(|p| p.into_inner());
            if let (_, Some((e, gz))) = &*cached
                && e == etag
            {
                return gz.clone();
            }
            cached.0
        };
        let key = format!("{}{}", registry::INDEX_FILE, registry::GZ_SUFFIX);
        let found = match self.read_sibling(&key, bytes.len() as u64) {
            Ok(Some((gz, plain))) if plain == bytes[..] => Some(Bytes::from(gz)),
            _ => None,
        };
        // No copy is remembered only while the watch would see one appear (a publish renames
        // it in right after index.json).
        let mut cached = self.index_gz.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 == generation && (found.is_some() || self.watch.is_some()) {
            cached.1 = Some((etag.to_string(), found.clone()));
        }
        found
    }

    /// [`Self::index_sibling`] from memory: `None` when it was not looked up for this ETag.
    fn index_sibling_cached(&self, etag: &str) -> Option<Option<Bytes>> {
        match &self.index_gz.lock().unwrap_or_else(|p| p.into_inner()).1 {
            Some((e, gz)) if e == etag => Some(gz.clone()),
            _ => None,
        }
    }

    /// Forget the `.gz` copy of the index (the watch saw it change).
    fn forget_index_sibling(&self) {
        let mut cached = self.index_gz.lock().unwrap_or_else(|p| p.into_inner());
        cached.0 += 1;
        cached.1 = None;
    }

    /// A cached file: `Some(bytes)`, else `None` (not read yet, or not kept).
    fn cached(&self, rel: &str) -> Option<Bytes> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(rel)
    }

    /// The cached `.gz` copy of `rel` from memory: `Some(Some(copy))`, `Some(None)` when `rel`
    /// has none (or is not precompressed), `None` when it was not looked up yet.
    fn cached_sibling(&self, rel: &str) -> Option<Option<Bytes>> {
        if !registry::precompressed(rel) {
            return Some(None);
        }
        let b = self.cached(&format!("{rel}{}", registry::GZ_SUFFIX))?;
        Some((!b.is_empty()).then_some(b))
    }

    fn packument(&self, host: &str, abbreviated: bool) -> Option<(Bytes, String)> {
        let mut guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let l = guard.as_mut()?;
        let key = (host.to_string(), abbreviated);
        if let Some(p) = l.packuments.get(&key) {
            return Some(p.clone());
        }
        // Keyed by the client's Host header: bound it, or every distinct Host grows memory.
        if l.packuments.len() >= PACKUMENT_CACHE_ENTRIES {
            l.packuments.clear();
        }
        let base = match &self.opts.base_url {
            Some(b) => b.trim_end_matches('/').to_string(),
            None => format!("http://{host}"),
        };
        let name = l.index.name.clone();
        let url = |file: &str| format!("{base}/{name}/-/{file}");
        let v = if abbreviated {
            crate::npm::abbreviated(&l.index, &l.docs, &url)
        } else {
            crate::npm::packument(&l.index, &l.docs, &url)
        };
        let bytes = Bytes::from(manifest::to_json_bytes(&v));
        let etag = format!("\"{}\"", sha256_hex(&bytes));
        l.packuments.insert(key, (bytes.clone(), etag.clone()));
        Some((bytes, etag))
    }
}

/// An immutable file's bytes: in memory (verified), or open to be streamed (verified as sent).
enum Content {
    Whole(Bytes),
    Streamed(Streamed),
}

/// A file over [`STREAM_ABOVE`] bytes, opened and of the recorded size.
struct Streamed {
    file: std::fs::File,
    size: u64,
    sha256: String,
    rel: String,
    /// The file's [`StreamKey`] when it was opened.
    key: StreamKey,
    verified: Verified,
    /// One byte range (first and last byte) to send instead of the whole file.
    range: Option<(u64, u64)>,
}

/// A response under construction.
struct Reply {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    etag: Option<String>,
    cache: Option<&'static str>,
    /// Streamed instead of `body` (which is then empty).
    stream: Option<Streamed>,
    /// The body gzip-encoded already (a registry file's `.gz` sibling, checked to decode to
    /// `body`): sent as it is to a client that accepts gzip.
    gz: Option<Bytes>,
}

impl Reply {
    fn ok(body: Bytes, content_type: &'static str, etag: String, cache: &'static str) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            content_type,
            etag: Some(etag),
            cache: Some(cache),
            stream: None,
            gz: None,
        }
    }
    /// An immutable file's content, its sha256 the ETag; 404 when it cannot be served.
    fn content(
        content: Option<Content>,
        content_type: &'static str,
        sha256: &str,
        cache: &'static str,
    ) -> Reply {
        let etag = format!("\"{sha256}\"");
        match content {
            Some(Content::Whole(b)) => Reply::ok(b, content_type, etag, cache),
            Some(Content::Streamed(s)) => Reply {
                stream: Some(s),
                ..Reply::ok(Bytes::new(), content_type, etag, cache)
            },
            None => Reply::not_found(),
        }
    }

    /// A file's reply from its precompressed copy alone, for a client that accepts gzip (the
    /// only one it is built for: `respond` sends `gz` to such a client whatever `body` is).
    fn gz_only(gz: Bytes, content_type: &'static str, etag: String, cache: &'static str) -> Reply {
        Reply::ok(Bytes::new(), content_type, etag, cache).with_gz(Some(gz))
    }

    /// This reply with its precompressed form, when there is one.
    fn with_gz(mut self, gz: Option<Bytes>) -> Reply {
        self.gz = gz;
        self
    }
    fn json(status: StatusCode, v: &Value) -> Reply {
        Reply {
            status,
            body: Bytes::from(manifest::to_json_bytes(v)),
            content_type: "application/json",
            etag: None,
            cache: Some("no-store"),
            stream: None,
            gz: None,
        }
    }
    fn not_found() -> Reply {
        Reply::json(StatusCode::NOT_FOUND, &crate::npm::not_found())
    }
    fn bad_request(msg: &str) -> Reply {
        Reply::json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": msg }),
        )
    }
}

/// Decode `%XX` escapes once. `None` for malformed escapes or non-UTF-8 results.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The content type of a document blob.
const MARKDOWN: &str = "text/markdown; charset=utf-8";

/// The sha256 a blob path names (`ab/cdef…` after `blobs/sha256/`), when well formed.
fn blob_sha256(sha: &str) -> Option<String> {
    let hex: String = sha.split('/').collect();
    (sha.len() == 65 && sha.as_bytes()[2] == b'/' && manifest::is_sha256_hex(&hex)).then_some(hex)
}

/// `gzip`: the client accepts gzip, so a file's precompressed sibling is looked up.
fn route(state: &Arc<State>, path: &str, host: &str, accept: &str, gzip: bool) -> Reply {
    let Some(decoded) = percent_decode(path) else {
        return Reply::bad_request("malformed percent-encoding in the path");
    };
    if decoded.contains(['\0', '\\'])
        || decoded.split('/').any(|s| s == ".." || s == ".")
        || !decoded.starts_with('/')
    {
        return Reply::bad_request("invalid path");
    }
    let Some((index, index_bytes, index_etag, _docs)) = state.current() else {
        return Reply::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "error": "no valid index.json in the registry" }),
        );
    };
    let rest = &decoded[1..];
    if rest == registry::INDEX_FILE {
        let gz = gzip
            .then(|| state.index_sibling(&index_bytes, &index_etag))
            .flatten();
        return Reply::ok(index_bytes, "application/json", index_etag, SHORT).with_gz(gz);
    }
    if rest == crate::sign::SIG_FILE {
        // Served as it is on disk: consumers check it against the index they fetched.
        return match crate::fsx::read_regular(&state.reg.path(crate::sign::SIG_FILE), 1 << 20) {
            Ok(bytes) => {
                let etag = format!("\"{}\"", sha256_hex(&bytes));
                Reply::ok(Bytes::from(bytes), "application/json", etag, SHORT)
            }
            Err(_) => Reply::not_found(),
        };
    }
    if let Some(sha) = rest.strip_prefix("blobs/sha256/") {
        let Some(hex) = blob_sha256(sha) else {
            return Reply::not_found();
        };
        let markdown = MARKDOWN;
        if let Some(gz) = gzip
            .then(|| state.sibling(rest, &hex, STREAM_ABOVE))
            .flatten()
        {
            return Reply::gz_only(gz, markdown, format!("\"{hex}\""), IMMUTABLE);
        }
        // Documents are markdown; a blob streamed (a large asset) is served as bytes.
        return match state.content(rest, &hex, None) {
            Some(Content::Whole(b)) => Reply::ok(b, markdown, format!("\"{hex}\""), IMMUTABLE),
            c => Reply::content(c, "application/octet-stream", &hex, IMMUTABLE),
        };
    }
    if let Some(vrest) = rest.strip_prefix("v/")
        && let Some((version, file)) = vrest.split_once('/')
    {
        let Some(v) = index.get(version) else {
            return Reply::not_found();
        };
        let f = match file {
            "manifest.json" => &v.manifest,
            "diff.json" => &v.diff,
            "package.json" => &v.package_json,
            _ => return Reply::not_found(),
        };
        let etag = format!("\"{}\"", f.sha256);
        if let Some(gz) = gzip
            .then(|| state.sibling(&f.path, &f.sha256, f.size))
            .flatten()
        {
            // The file itself is not read: its copy was checked to decode to its bytes.
            return Reply::gz_only(gz, "application/json", etag, IMMUTABLE);
        }
        return match state.immutable(&f.path, &f.sha256, f.size) {
            Some(b) => Reply::ok(b, "application/json", etag, IMMUTABLE),
            None => Reply::not_found(),
        };
    }
    let tarball = |file: &str| -> Reply {
        match index.versions.iter().find(|v| v.tarball.path == file) {
            Some(v) => Reply::content(
                state.content(&v.tarball.path, &v.tarball.sha256, Some(v.tarball.size)),
                "application/octet-stream",
                &v.tarball.sha256,
                IMMUTABLE,
            ),
            None => Reply::not_found(),
        }
    };
    if !rest.contains('/') && rest.ends_with(".tgz") {
        return tarball(rest);
    }
    // npm read API: /<name>, /<name>/<version|tag>, /<name>/-/<file>.tgz
    let name = index.name.as_str();
    let Some(after) = rest.strip_prefix(name) else {
        return Reply::not_found();
    };
    let abbreviated = accept.contains(ABBREVIATED);
    if after.is_empty() {
        return match state.packument(host, abbreviated) {
            Some((b, etag)) => Reply::ok(
                b,
                if abbreviated {
                    ABBREVIATED
                } else {
                    "application/json"
                },
                etag,
                SHORT,
            ),
            None => Reply::not_found(),
        };
    }
    let Some(sub) = after.strip_prefix('/') else {
        return Reply::not_found();
    };
    if let Some(file) = sub.strip_prefix("-/") {
        return tarball(file.rsplit('/').next().unwrap_or(file));
    }
    let tagged = index.dist_tags.get(sub).map(ToString::to_string);
    let version = tagged.as_deref().unwrap_or(sub);
    let (_, _, _, docs) = match state.current() {
        Some(c) => c,
        None => return Reply::not_found(),
    };
    let base = match &state.opts.base_url {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => format!("http://{host}"),
    };
    let url = |file: &str| format!("{base}/{name}/-/{file}");
    match crate::npm::version(&index, &docs, version, &url) {
        Some(v) => {
            let body = Bytes::from(manifest::to_json_bytes(&v));
            let etag = format!("\"{}\"", sha256_hex(&body));
            let cache = if index.dist_tags.contains_key(sub) {
                SHORT
            } else {
                IMMUTABLE
            };
            Reply::ok(body, "application/json", etag, cache)
        }
        None => Reply::not_found(),
    }
}

/// The reply to a GET or HEAD from memory alone, for the async worker, which must never wait
/// for the disk: `index.json` while the watch vouches that it is the loaded one, and the
/// blobs and `v/<version>/{manifest,diff,package}.json` files (or their `.gz` copies) held in
/// the cache. The same reply [`web_or_route`] gives; `None` when it would need the disk (a
/// cache miss, a viewer page, anything else) or no index is loaded yet.
fn memory_reply(state: &State, path: &str, gzip: bool) -> Option<Reply> {
    // Percent-escapes, `.` and `..` segments, and everything else unusual take the long way.
    if path.contains(['%', '\\', '\0']) || path.split('/').any(|s| s == ".." || s == ".") {
        return None;
    }
    let rest = path.strip_prefix('/')?;
    if let Some(sha) = rest.strip_prefix("blobs/sha256/") {
        let hex = blob_sha256(sha)?;
        // A loaded index never goes away (a bad new one keeps the last good one served).
        let loaded = (state.loaded.lock().unwrap_or_else(|p| p.into_inner())).is_some();
        return loaded.then(|| memory_file(state, rest, &hex, MARKDOWN, gzip))?;
    }
    if !state.index_is_current() {
        return None;
    }
    let (index, bytes, etag, _) = state.snapshot()?;
    if rest == registry::INDEX_FILE {
        let gz = if gzip {
            state.index_sibling_cached(&etag)?
        } else {
            None
        };
        return Some(Reply::ok(bytes, "application/json", etag, SHORT).with_gz(gz));
    }
    let (version, file) = rest.strip_prefix("v/")?.split_once('/')?;
    let v = index.get(version)?;
    let f = match file {
        "manifest.json" => &v.manifest,
        "diff.json" => &v.diff,
        "package.json" => &v.package_json,
        _ => return None,
    };
    memory_file(state, &f.path, &f.sha256, "application/json", gzip)
}

/// An immutable file's reply from the cache (its `.gz` copy to a client that accepts gzip):
/// `None` when either has not been read yet.
fn memory_file(
    state: &State,
    rel: &str,
    sha256: &str,
    content_type: &'static str,
    gzip: bool,
) -> Option<Reply> {
    let etag = format!("\"{sha256}\"");
    if gzip && let Some(gz) = state.cached_sibling(rel)? {
        return Some(Reply::gz_only(gz, content_type, etag, IMMUTABLE));
    }
    let body = state.cached(rel)?;
    Some(Reply::ok(body, content_type, etag, IMMUTABLE))
}

/// The release viewer's pages ([`crate::web`]: `/`, `/diff/…`, `/v/<version>/<lang>/<path>`,
/// `/status`, `/assets/…`), else the registry routes.
fn web_or_route(
    state: &Arc<State>,
    path: &str,
    query: &str,
    host: &str,
    accept: &str,
    gzip: bool,
) -> Reply {
    // The hot registry paths are never viewer pages.
    if path == "/index.json" || path.starts_with("/blobs/") {
        return route(state, path, host, accept, gzip);
    }
    if let Some(reply) = asset_reply(state, path) {
        return reply;
    }
    if let Some(decoded) = percent_decode(path)
        && let Some(rest) = decoded.strip_prefix('/')
        && !decoded.contains(['\0', '\\'])
        && !decoded.split('/').any(|s| s == ".." || s == ".")
        && let Some((index, ..)) = state.current()
        && crate::web::is_ui_path(rest, accept, &index.name)
    {
        let page = crate::web::render(&state.reg, &index, rest, query);
        let ok = page.status == 200;
        let body = Bytes::from(page.body);
        return Reply {
            status: StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            etag: ok.then(|| format!("\"{}\"", sha256_hex(&body))),
            cache: Some(if ok { SHORT } else { "no-store" }),
            content_type: page.content_type,
            body,
            stream: None,
            gz: None,
        };
    }
    route(state, path, host, accept, gzip)
}

/// `/v/<version>/<asset path>`: an asset of that version, from its verified blob, with the
/// content type of its extension ([`crate::web::asset_at`]); `None` when the path names no
/// asset. An asset over [`STREAM_ABOVE`] bytes is streamed from its blob.
fn asset_reply(state: &Arc<State>, path: &str) -> Option<Reply> {
    if !path.starts_with("/v/") {
        return None;
    }
    let decoded = percent_decode(path)?;
    if decoded.contains(['\0', '\\']) || decoded.split('/').any(|s| s == ".." || s == ".") {
        return None;
    }
    let (index, ..) = state.current()?;
    let a = crate::web::asset_at(&state.reg, &index, &decoded[1..])?;
    let rel = registry::blob_path(&a.sha256);
    let content = state.content(&rel, &a.sha256, Some(a.size));
    Some(Reply::content(content, a.content_type, &a.sha256, SHORT))
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::new(6),
    );
    e.write_all(body).ok()?;
    e.finish().ok()
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let host = header(header::HOST);
    let host = if host.is_empty() || host.contains(['/', ' ']) {
        "localhost".to_string()
    } else {
        host
    };
    let origin = header(header::ORIGIN);
    if method == Method::OPTIONS && !state.opts.cors.is_empty() {
        let resp = preflight(&state, &origin);
        log_request(&state, &method, &path, StatusCode::NO_CONTENT, 0, started);
        return Ok(resp);
    }
    let reply = if method != Method::GET && method != Method::HEAD {
        let mut r = Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({ "error": "read-only registry: only GET and HEAD" }),
        );
        r.cache = None;
        r
    } else {
        let gzip = accepts_gzip(&header(header::ACCEPT_ENCODING));
        answer(&state, &path, query, host, header(header::ACCEPT), gzip).await
    };
    let (resp, status, len) = respond(
        &state,
        &method,
        reply,
        &header(header::IF_NONE_MATCH),
        &header(header::ACCEPT_ENCODING),
        Ranges {
            range: &header(header::RANGE),
            if_range: &header(header::IF_RANGE),
        },
        &origin,
    );
    log_request(&state, &method, &path, status, len, started);
    Ok(resp)
}

/// A CORS preflight: 204 with the allowed methods and headers (nothing for an origin that is
/// not allowed, which the browser then refuses).
fn preflight(state: &State, origin: &str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    for (name, value) in cors_headers(&state.opts.cors, origin, true) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().append(name, v);
        }
    }
    resp.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    resp
}

/// The reply to a GET or HEAD. What memory holds is answered right here ([`memory_reply`]);
/// every other route may read a file (the index on reload, a blob, a tarball) or diff
/// thousands of documents: never on the async workers, and never longer than the deadline, so
/// no file can stop the server from answering or from stopping.
async fn answer(
    state: &Arc<State>,
    path: &str,
    query: String,
    host: String,
    accept: String,
    gzip: bool,
) -> Reply {
    if let Some(reply) = memory_reply(state, path, gzip) {
        return reply;
    }
    let st = state.clone();
    let p = path.to_string();
    let work =
        tokio::task::spawn_blocking(move || web_or_route(&st, &p, &query, &host, &accept, gzip));
    match tokio::time::timeout(REQUEST_DEADLINE, work).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({ "error": "internal error" }),
        ),
        Err(_) => {
            (state.opts.log)(&format!(
                "error: {} took longer than {} s; answered 503",
                path,
                REQUEST_DEADLINE.as_secs()
            ));
            Reply::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": "the registry could not be read in time" }),
            )
        }
    }
}

/// Whether an `Accept-Encoding` header names gzip (lowercase, as clients send it; plain bytes
/// are always acceptable, so a client that refuses gzip can decode what it is sent).
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding
        .split(',')
        .any(|e| e.trim().split(';').next() == Some("gzip"))
}

/// The HTTP response for `reply`: 304 for a matching If-None-Match, gzip when accepted and
/// worth it, ETag, caching, security and CORS headers; no body for HEAD; a streamed file
/// never gzipped. Returns it with its status and the length of the body it stands for (for
/// the log).
fn respond(
    state: &State,
    method: &Method,
    mut reply: Reply,
    if_none_match: &str,
    accept_encoding: &str,
    ranges: Ranges<'_>,
    origin: &str,
) -> (Response<Body>, StatusCode, usize) {
    let accepts_gzip = accepts_gzip(accept_encoding);
    let mut builder = Response::builder();
    // If-None-Match uses the weak comparison (RFC 9110 13.1.2): `W/"x"` matches `"x"`, which is
    // what clients send back after a gzip-ing proxy (or this server's gzip) weakened the ETag.
    let not_modified = reply.status == StatusCode::OK
        && reply.etag.as_ref().is_some_and(|e| {
            if_none_match.split(',').any(|c| {
                let c = c.trim();
                c == "*" || c.strip_prefix("W/").unwrap_or(c) == e
            })
        });
    let compressible = reply.content_type.starts_with("application/json")
        || reply.content_type.starts_with("text/")
        || reply.content_type == ABBREVIATED;
    let mut stream = reply.stream.take();
    let precompressed = reply.gz.as_ref().filter(|_| accepts_gzip);
    let gzipped = accepts_gzip
        && stream.is_none()
        && (precompressed.is_some() || compressible && reply.body.len() > 860);
    let (status, body, encoded) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new(), false)
    } else if let Some(gz) = precompressed {
        // The registry's own `.gz` copy: no compression per request.
        (reply.status, gz.clone(), true)
    } else if gzipped {
        match gzip(&reply.body) {
            Some(z) => (reply.status, Bytes::from(z), true),
            None => (reply.status, reply.body.clone(), false),
        }
    } else {
        (reply.status, reply.body.clone(), false)
    };
    // One byte range of a file sent as it is (an asset, so that a browser can seek in a video):
    // held whole (its bytes verified), or streamed from a file verified whole (`stream_body`).
    let rangeable = status == StatusCode::OK && !encoded && !compressible && reply.etag.is_some();
    let total = stream.as_ref().map_or(body.len() as u64, |s| s.size);
    let range = ranges.wanted(reply.etag.as_deref());
    let (status, body) = match rangeable.then(|| byte_range(range, total)).flatten() {
        Some(Ok((start, end))) => {
            builder = builder.header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{total}"),
            );
            let body = match stream.as_mut() {
                Some(s) => {
                    s.range = Some((start, end));
                    body
                }
                None => body.slice(start as usize..=end as usize),
            };
            (StatusCode::PARTIAL_CONTENT, body)
        }
        Some(Err(())) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes */{total}"));
            stream = None;
            (StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new())
        }
        None => (status, body),
    };
    if rangeable {
        builder = builder.header(header::ACCEPT_RANGES, "bytes");
    }
    builder = builder.status(status);
    if let Some(e) = &reply.etag {
        // A strong ETag names one representation: the gzip-encoded bytes get a weak one.
        // (also on a 304 answering a client that accepts gzip: that is the representation it has).
        builder = if gzipped {
            builder.header(header::ETAG, format!("W/{e}"))
        } else {
            builder.header(header::ETAG, e.as_str())
        };
    }
    if let Some(c) = reply.cache {
        builder = builder.header(header::CACHE_CONTROL, c);
    }
    if compressible {
        builder = builder.header(header::VARY, "Accept-Encoding");
    }
    for (name, value) in crate::web::security_headers(reply.content_type) {
        builder = builder.header(*name, *value);
    }
    if status != StatusCode::NOT_MODIFIED {
        builder = builder.header(header::CONTENT_TYPE, reply.content_type);
        if encoded {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
        }
        let len = stream.as_ref().map_or(body.len() as u64, Streamed::len);
        builder = builder.header(header::CONTENT_LENGTH, len);
    }
    let len = stream.as_ref().map_or(body.len(), |s| s.len() as usize);
    let body = match stream {
        _ if *method == Method::HEAD || status == StatusCode::NOT_MODIFIED => full(Bytes::new()),
        Some(s) => stream_body(s, state.opts.log.clone()),
        None => full(body),
    };
    let mut resp = builder
        .body(body)
        .unwrap_or_else(|_| Response::new(full(Bytes::new())));
    if reply.status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    for (name, value) in cors_headers(&state.opts.cors, origin, false) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().append(name, v);
        }
    }
    (resp, status, len)
}

fn log_request(
    state: &State,
    method: &Method,
    path: &str,
    status: StatusCode,
    len: usize,
    started: Instant,
) {
    if state.opts.log_requests {
        (state.opts.log)(&format!(
            "{method} {} {} {len} {:.1}ms",
            crate::server::printable(path),
            status.as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
}

/// Control characters escaped, for log lines.
pub fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Check that `reg` is a registry we can serve (an index that parses).
pub fn check_registry(reg: &Registry) -> Result<Index> {
    if !reg.dir.is_dir() {
        return Err(reg.not_a_registry());
    }
    match reg.read_index()? {
        Some((index, _)) => Ok(index),
        None => Err(reg.not_a_registry()),
    }
}

/// Serve until `shutdown` resolves, then finish in-flight requests (up to the grace period).
pub async fn serve(
    listener: tokio::net::TcpListener,
    reg: Registry,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    check_registry(&reg)?;
    let state = State::watched(reg, opts.clone());
    {
        // The first index is loaded before the first request (however long it takes).
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let path = st.reg.path(registry::INDEX_FILE);
            if let Ok(m) = std::fs::metadata(&path) {
                st.reload_now(file_key(&m), &path);
            }
        })
        .await;
    }
    state.start_watch();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(opts.header_timeout)
        // max_buf_size alone is a soft limit (a header that arrives whole up to ~2x it parses);
        // max_header_size is checked on every parsed request head.
        .max_header_size(64 * 1024)
        .max_buf_size(64 * 1024);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        (opts.log)(&format!("error: accept: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(opts.shutdown_grace) => {}
    }
    Ok(())
}

/// How often the watch looks at `index.json` itself when no event came (a registry on a
/// network filesystem changed by another machine sends none).
const WATCH_PERIOD_MS: i32 = 1000;

/// The index watch's thread: take in every change of `index.json` (reloaded before the watch
/// says it is quiet again) and forget a changed `index.json.gz`; ends with the server.
fn watch_index(state: Weak<State>) {
    // Its own descriptor to wait on, so that waiting does not keep the server's state alive.
    let Some(fd) = state
        .upgrade()
        .and_then(|st| st.watch.as_ref().and_then(IndexWatch::clone_fd))
    else {
        return;
    };
    loop {
        let Some(st) = state.upgrade() else { return };
        let Some(watch) = st.watch.as_ref() else {
            return;
        };
        watch.unsettle();
        let seen = watch.drain();
        if seen.broken {
            (st.opts.log)(
                "error: the registry folder was moved or replaced; index.json is now checked on every request",
            );
            return; // unsettled for good: requests check index.json themselves
        }
        if seen.any {
            st.forget_index_sibling();
        }
        // Reloaded until what is loaded is what is there (a reload a request started may have
        // read an earlier state of the file); a file that keeps changing leaves the watch
        // unsettled until its next pass. With no index loaded at all, the requests keep
        // trying as they always did, not the watch.
        let some = (st.loaded.lock().unwrap_or_else(|p| p.into_inner())).is_some();
        let loaded = some && (0..4).any(|_| !st.refresh(Duration::from_secs(24 * 3600)));
        // A link's target can change without an event in the folder: not vouched for.
        let linked = std::fs::symlink_metadata(st.reg.path(registry::INDEX_FILE))
            .is_ok_and(|m| m.file_type().is_symlink());
        if loaded && !linked {
            watch.settle();
        }
        drop(st);
        IndexWatch::wait(&fd, WATCH_PERIOD_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn opts(log: Arc<Mutex<Vec<String>>>) -> ServeOptions {
        ServeOptions {
            base_url: None,
            log: Arc::new(move |l: &str| log.lock().unwrap().push(l.to_string())),
            log_requests: false,
            header_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(1),
            cors: Vec::new(),
        }
    }

    fn index_json(sequence: u64) -> String {
        format!(
            r#"{{"schema_version": 1, "name": "acme-docs", "sequence": {sequence}, "dist_tags": {{}}, "versions": []}}"#
        )
    }

    static DELAY_MS: AtomicU64 = AtomicU64::new(0);
    static LOADS: AtomicU64 = AtomicU64::new(0);

    /// [`State::load`] after [`DELAY_MS`]: an index file that is slow to read.
    fn slow_load(st: &State, path: &std::path::Path) -> Result<LoadedIndex> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(DELAY_MS.load(Ordering::SeqCst)));
        State::load(st, path)
    }

    /// A changed index.json that takes 6 s to load stalls no request: four concurrent requests
    /// are answered from the last good index within [`RELOAD_WAIT`] (with one reload for all
    /// of them, on its own thread), and the new index is served once it has loaded.
    #[test]
    fn a_slow_index_reload_stalls_no_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(registry::INDEX_FILE);
        std::fs::write(&path, index_json(1)).unwrap();
        let mut state = State::new(
            Registry::new(dir.path()),
            opts(Arc::new(Mutex::new(Vec::new()))),
        );
        state.loader = slow_load;
        let st = Arc::new(state);
        assert_eq!(st.current().unwrap().0.sequence, 1);
        let loads = LOADS.load(Ordering::SeqCst);

        std::fs::write(&path, index_json(12345)).unwrap();
        DELAY_MS.store(6000, Ordering::SeqCst);
        let started = Instant::now();
        let requests: Vec<_> = (0..4)
            .map(|_| {
                let st = st.clone();
                std::thread::spawn(move || {
                    let t = Instant::now();
                    let seq = st.current().unwrap().0.sequence;
                    (seq, t.elapsed())
                })
            })
            .collect();
        for r in requests {
            let (seq, took) = r.join().unwrap();
            assert_eq!(seq, 1, "answered from the last good index");
            assert!(
                took < Duration::from_millis(4500),
                "a request waited {took:?} for the slow reload"
            );
        }
        assert_eq!(
            LOADS.load(Ordering::SeqCst),
            loads + 1,
            "one reload for all"
        );
        // Once loaded, the new index is served.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if st.current().unwrap().0.sequence == 12345 {
                break;
            }
            assert!(Instant::now() < deadline, "the reload never finished");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(started.elapsed() >= Duration::from_secs(6));
        DELAY_MS.store(0, Ordering::SeqCst);
    }

    /// A served registry folder with `index.json` (sequence 1) and one blob with its `.gz` copy,
    /// loaded and watched as `serve` does it.
    fn watched_registry(dir: &std::path::Path) -> (Arc<State>, String) {
        std::fs::write(dir.join(registry::INDEX_FILE), index_json(1)).unwrap();
        let text = "# A document\n\n".to_string() + &"Some words, again and again. ".repeat(80);
        let rel = registry::blob_path(&sha256_hex(text.as_bytes()));
        std::fs::create_dir_all(dir.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(&rel), &text).unwrap();
        let gz = gzip(text.as_bytes()).unwrap();
        std::fs::write(dir.join(format!("{rel}{}", registry::GZ_SUFFIX)), gz).unwrap();
        let st = State::watched(Registry::new(dir), opts(Arc::new(Mutex::new(Vec::new()))));
        assert!(st.watch.is_some(), "inotify is there on Linux");
        let path = st.reg.path(registry::INDEX_FILE);
        st.reload_now(file_key(&std::fs::metadata(&path).unwrap()), &path);
        st.start_watch();
        (st, format!("/{rel}"))
    }

    /// What a client gets of a reply (everything `respond` reads).
    fn seen(
        r: &Reply,
    ) -> (
        StatusCode,
        Bytes,
        &'static str,
        Option<String>,
        Option<&str>,
        Option<Bytes>,
    ) {
        (
            r.status,
            r.body.clone(),
            r.content_type,
            r.etag.clone(),
            r.cache,
            r.gz.clone(),
        )
    }

    /// Wait until the watch has taken in what changed.
    fn settled(st: &State) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !st.index_is_current() {
            assert!(Instant::now() < deadline, "the watch never settled");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What memory answers is what the blocking path answers, gzip or not; a file not read
    /// yet is not answered from memory; the index's `.gz` copy, absent and then renamed in
    /// (as a publish does), is forgotten and then sent from memory too.
    #[test]
    fn memory_replies_are_the_replies_of_the_blocking_path() {
        let dir = tempfile::tempdir().unwrap();
        let (st, blob) = watched_registry(dir.path());
        settled(&st);
        for path in ["/index.json", blob.as_str()] {
            for gzip in [false, true] {
                if path == blob {
                    assert!(memory_reply(&st, path, gzip).is_none(), "{path} read yet");
                }
                let slow = web_or_route(&st, path, "", "localhost", "", gzip);
                assert_eq!(slow.status, StatusCode::OK);
                let fast = memory_reply(&st, path, gzip).expect("answered from memory");
                assert_eq!(seen(&fast), seen(&slow), "{path} gzip {gzip}");
            }
        }
        assert!(memory_reply(&st, &blob, true).unwrap().gz.is_some());
        assert!(memory_reply(&st, "/index.json", true).unwrap().gz.is_none());
        // index.json.gz appears after index.json: forgotten, then read and sent from memory.
        let gz = gzip(index_json(1).as_bytes()).unwrap();
        let tmp = dir.path().join("index.json.gz.tmp");
        std::fs::write(&tmp, &gz).unwrap();
        std::fs::rename(&tmp, dir.path().join("index.json.gz")).unwrap();
        settled(&st);
        assert!(
            memory_reply(&st, "/index.json", true).is_none(),
            "the copy is looked at"
        );
        let slow = web_or_route(&st, "/index.json", "", "localhost", "", true);
        assert_eq!(slow.gz.as_deref(), Some(&gz[..]));
        let fast = memory_reply(&st, "/index.json", true).unwrap();
        assert_eq!(seen(&fast), seen(&slow));
        // Paths memory does not answer.
        for path in [
            "/index.json.sig",
            "/",
            "/%69ndex.json",
            "/blobs/sha256/xx",
            "/v/1.0.0/manifest.json",
        ] {
            assert!(memory_reply(&st, path, false).is_none(), "{path}");
        }
    }

    /// Right after `index.json` is replaced (renamed over, as a publish does, or written in
    /// place), memory never answers with the old one: the change is waiting in the watch
    /// until its thread has loaded the new index, and the blocking path reloads it itself.
    #[test]
    fn a_replaced_index_is_never_answered_from_memory_with_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let (st, _) = watched_registry(dir.path());
        let path = dir.path().join(registry::INDEX_FILE);
        for sequence in 2..40u64 {
            settled(&st);
            let new = index_json(sequence);
            if sequence % 2 == 0 {
                let tmp = dir.path().join("index.json.tmp");
                std::fs::write(&tmp, &new).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
            } else {
                std::fs::write(&path, &new).unwrap();
            }
            if let Some(r) = memory_reply(&st, "/index.json", false) {
                assert_eq!(r.body, new.as_bytes(), "the old index from memory");
            }
            assert_eq!(st.current().unwrap().0.sequence, sequence);
        }
        settled(&st);
        let r = memory_reply(&st, "/index.json", false).unwrap();
        assert_eq!(r.body, index_json(39).as_bytes());
    }

    /// `Range: bytes=…`: one range, clamped to the end; anything else is no range at all.
    #[test]
    fn byte_ranges_are_read_as_rfc_9110_says() {
        assert_eq!(byte_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=90-500", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=-5", 100), Some(Ok((95, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=0-", 0), Some(Err(())));
        for ignored in [
            "",
            "bytes=5-2",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=x-1",
            "bytes=-",
        ] {
            assert_eq!(byte_range(ignored, 100), None, "{ignored:?}");
        }
    }

    /// Serving blobs worth four times the cache's byte budget keeps at most the budget in
    /// memory, every read still verified and correct; a file over the per-file limit is never
    /// kept.
    #[test]
    fn the_file_cache_stays_within_its_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::new(
            Registry::new(dir.path()),
            opts(Arc::new(Mutex::new(Vec::new()))),
        );
        let budget = 1 << 20;
        state.files = Mutex::new(FileCache::new(budget, 256 << 10));
        let mut blobs = Vec::new();
        for i in 0..41u32 {
            // 40 blobs of 100 KiB, then one of 300 KiB.
            let len = if i == 40 { 300 << 10 } else { 100 << 10 };
            let bytes: Vec<u8> = (0..len)
                .map(|j| (j as u32 ^ i.wrapping_mul(2654435761)) as u8)
                .collect();
            let sha = sha256_hex(&bytes);
            let rel = format!("blobs/sha256/{}/{sha}", &sha[..2]);
            std::fs::create_dir_all(dir.path().join(&rel).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(&rel), &bytes).unwrap();
            blobs.push((rel, sha, bytes));
        }
        for _ in 0..2 {
            for (rel, sha, bytes) in &blobs {
                let got = state.immutable(rel, sha, bytes.len() as u64).unwrap();
                assert_eq!(&got[..], &bytes[..]);
            }
        }
        let cache = state.files.lock().unwrap();
        let held: usize = cache.files.values().map(|b| b.len()).sum();
        assert_eq!(held, cache.resident);
        assert!(held <= budget, "{held} bytes resident, budget {budget}");
        assert_eq!(cache.files.len(), 10, "the budget is used, not wasted");
        assert!(!cache.files.contains_key(&blobs[40].0));
        drop(cache);
        // A file changed on disk after it was cached is still served from memory only when it
        // was verified; one that is not cached is verified again and refused.
        let (rel, sha, bytes) = &blobs[39];
        std::fs::write(dir.path().join(rel), b"tampered").unwrap();
        assert!(state.immutable(rel, sha, bytes.len() as u64).is_none());
    }
}
