//! Helpers for `tests/it/sync.rs`, `tests/it/schema.rs` and `tests/it/jsclient.rs`: `kbrel
//! sync`, a registry's expected documents, snapshots of what a cache shows, and a misbehaving
//! HTTP/1.1 server over a registry directory. The rest (the fixture [`Kb`], the real `kbrel`
//! binary, `kbrel serve` as a child process, external tools) is in `tests/it/common` and
//! re-exported here, so those modules need only `use crate::common::sync::*`.
//!
//! External tools (node): when missing, the test prints a note and passes, except with
//! `CI=true`, where it fails (`common::tools`).

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

// Shared with the other tests; each test binary uses part of them.
#[allow(unused_imports)]
pub use crate::common::serve::{Serve, free_port};
#[allow(unused_imports)]
pub use crate::common::tools::{is_root, require_node};
// These tests have always read the output of commands lossily.
#[allow(unused_imports)]
pub use crate::common::{
    DATE, Kb, Run, blob_rel, doc_text, kbrel, manifest_dir, noise, read_json, run_lossy as run,
    sha256_hex,
};

// --- running kbrel --------------------------------------------------------------------------

/// `kbrel sync --from <from> --into <cache> <args>`.
pub fn sync(from: &str, cache: &Path, args: &[&str]) -> Run {
    run(kbrel()
        .args(["sync", "--from", from, "--into"])
        .arg(cache)
        .args(args))
}

/// `kbrel sync --into <cache> --offline`.
pub fn offline(cache: &Path) -> Run {
    run(kbrel().args(["sync", "--offline", "--into"]).arg(cache))
}

// --- registries and caches -------------------------------------------------------------------

/// `v/<version>/manifest.json` of a registry.
pub fn manifest(registry: &Path, version: &str) -> Value {
    read_json(&registry.join(format!("v/{version}/manifest.json")))
}

/// What a cache at `version` shows: `<lang>/<path>` → bytes, from the manifest and blobs.
pub fn expected(registry: &Path, version: &str) -> BTreeMap<String, Vec<u8>> {
    manifest(registry, version)["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| {
            let sha = d["sha256"].as_str().unwrap();
            let bytes = fs::read(registry.join(blob_rel(sha))).expect("blob");
            (
                format!(
                    "{}/{}",
                    d["lang"].as_str().unwrap(),
                    d["path"].as_str().unwrap()
                ),
                bytes,
            )
        })
        .collect()
}

/// The sha256 of one document of a version.
pub fn doc_sha(registry: &Path, version: &str, lang: &str, path: &str) -> String {
    manifest(registry, version)["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["lang"] == lang && d["path"] == path)
        .unwrap_or_else(|| panic!("{lang}/{path} not in {version}"))["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every file under `<cache>/en` and `<cache>/zh`, following symlinks: `<lang>/<path>` → bytes.
/// A missing language folder contributes nothing.
pub fn visible(cache: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for lang in ["en", "zh"] {
        walk(&cache.join(lang), lang, &mut out);
    }
    out
}

fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.expect("dir entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let child = format!("{rel}/{name}");
        if fs::metadata(&path).expect("stat").is_dir() {
            walk(&path, &child, out);
        } else {
            out.insert(child, fs::read(&path).expect("read"));
        }
    }
}

/// Every entry below `dir` (not following symlinks): path → file bytes, link target or `dir`.
pub fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn go(dir: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.expect("dir entry");
            let child = format!("{rel}{}", e.file_name().to_string_lossy());
            let ft = e.file_type().expect("file type");
            if ft.is_symlink() {
                out.insert(
                    child,
                    format!("-> {}", fs::read_link(e.path()).unwrap().display()),
                );
            } else if ft.is_dir() {
                out.insert(child.clone(), "dir".into());
                go(&e.path(), &format!("{child}/"), out);
            } else {
                out.insert(child, sha256_hex(&fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(dir, "", &mut out);
    out
}

/// Panic unless the cache shows exactly `want` (a complete version), naming the differences.
pub fn assert_shows(cache: &Path, want: &BTreeMap<String, Vec<u8>>, what: &str) {
    let got = visible(cache);
    if &got == want {
        return;
    }
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let differ: Vec<&String> = want
        .keys()
        .filter(|k| got.get(*k).is_some_and(|g| g != &want[*k]))
        .collect();
    panic!(
        "{} does not show {what}: {} missing {missing:?}, {} extra {extra:?}, {} different {differ:?}",
        cache.display(),
        missing.len(),
        extra.len(),
        differ.len()
    );
}

// --- network ------------------------------------------------------------------------------

/// One request the test server received.
#[derive(Debug, Clone)]
pub struct Req {
    /// Without the leading `/`: `index.json`, `blobs/sha256/ab/…`.
    pub path: String,
    pub if_none_match: Option<String>,
    /// How many times this path was requested, this one included (1 = first).
    pub nth: usize,
}

/// What the test server does with a request.
pub enum Action {
    /// The registry file (200 with a strong ETag of its sha256, 304 on a matching
    /// If-None-Match, 404 when absent).
    Serve,
    /// 200 with these bytes instead (ETag of their sha256).
    Body(Vec<u8>),
    /// An empty response with this status.
    Status(u16),
    /// Content-Length of the whole file, half of the bytes, then the connection closes.
    Truncate,
    /// Chunked transfer: half of the bytes in one chunk, then the connection closes without
    /// the final chunk.
    DropMidBody,
    /// 200 with a chunked body that never ends (until the client hangs up).
    Endless,
    /// Content-Length of the whole file, its first `n` bytes, then nothing more (the
    /// connection stays open) for this long: a stalled transfer.
    Stall(usize, Duration),
}

/// One response sent: path, status, body bytes written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub status: u16,
    pub bytes: u64,
}

type Behavior = Arc<dyn Fn(&Req) -> Action + Send + Sync>;

struct Shared {
    root: Mutex<PathBuf>,
    behavior: Mutex<Behavior>,
    log: Mutex<Vec<Logged>>,
    seen: Mutex<BTreeMap<String, usize>>,
    stop: AtomicBool,
}

/// A hand-written HTTP/1.1 server over a registry directory that misbehaves on request.
pub struct TestServer {
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(root: &Path) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            root: Mutex::new(root.to_path_buf()),
            behavior: Mutex::new(Arc::new(|_: &Req| Action::Serve)),
            log: Mutex::new(Vec::new()),
            seen: Mutex::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve_connection(conn, &s);
                });
            }
        });
        TestServer {
            url: format!("http://{addr}/"),
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// Serve another registry directory from now on.
    pub fn set_root(&self, root: &Path) {
        *self.shared.root.lock().unwrap() = root.to_path_buf();
    }

    /// Decide per request from now on (request counts start again).
    pub fn behave(&self, f: impl Fn(&Req) -> Action + Send + Sync + 'static) {
        *self.shared.behavior.lock().unwrap() = Arc::new(f);
        self.shared.seen.lock().unwrap().clear();
    }

    /// Behave well again.
    pub fn well_behaved(&self) {
        self.behave(|_| Action::Serve);
    }

    /// The responses so far, and forget them.
    pub fn take_log(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.shared.log.lock().unwrap())
    }

    /// `<url><rel>`
    pub fn at(&self, rel: &str) -> String {
        format!("{}{rel}", self.url)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_connection(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut if_none_match = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("if-none-match")
            {
                if_none_match = Some(v.trim().to_string());
            }
        }
        let path = target
            .split('?')
            .next()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let nth = {
            let mut seen = s.seen.lock().unwrap();
            let n = seen.entry(path.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let req = Req {
            path: path.clone(),
            if_none_match,
            nth,
        };
        let behavior = s.behavior.lock().unwrap().clone();
        let action = behavior(&req);
        let file = || -> Option<Vec<u8>> {
            if path.split('/').any(|seg| seg == ".." || seg.is_empty()) {
                return None;
            }
            fs::read(s.root.lock().unwrap().join(&path)).ok()
        };
        let log = |status: u16, bytes: usize| {
            s.log.lock().unwrap().push(Logged {
                path: path.clone(),
                status,
                bytes: bytes as u64,
            });
        };
        let body = match action {
            Action::Endless => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                )?;
                let chunk = vec![b'x'; 16 * 1024];
                let mut sent = 0usize;
                // Bounded all the same (4 GiB), so a client without a limit fails the test
                // instead of hanging it forever.
                while sent < 4 << 30 {
                    if write!(out, "{:x}\r\n", chunk.len())
                        .and_then(|_| out.write_all(&chunk))
                        .and_then(|_| out.write_all(b"\r\n"))
                        .is_err()
                    {
                        break;
                    }
                    sent += chunk.len();
                }
                log(200, sent);
                return Ok(());
            }
            Action::Serve => file(),
            Action::Body(b) => Some(b),
            Action::Status(code) => {
                write!(out, "HTTP/1.1 {code} Test\r\nContent-Length: 0\r\n\r\n")?;
                log(code, 0);
                continue;
            }
            Action::Truncate => {
                let b = file().unwrap_or_default();
                let half = b.len() / 2;
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    b.len()
                )?;
                out.write_all(&b[..half])?;
                out.flush()?;
                log(200, half);
                return out.shutdown(std::net::Shutdown::Both);
            }
            Action::Stall(n, hold) => {
                let b = file().unwrap_or_default();
                let n = n.min(b.len());
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    b.len()
                )?;
                out.write_all(&b[..n])?;
                out.flush()?;
                log(200, n);
                std::thread::sleep(hold);
                return out.shutdown(std::net::Shutdown::Both);
            }
            Action::DropMidBody => {
                let b = file().unwrap_or_default();
                let half = b.len() / 2;
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n{half:x}\r\n"
                )?;
                out.write_all(&b[..half])?;
                out.write_all(b"\r\n")?;
                out.flush()?;
                log(200, half);
                return out.shutdown(std::net::Shutdown::Both);
            }
        };
        match body {
            None => {
                write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
                log(404, 0);
            }
            Some(b) => {
                let etag = format!("\"{}\"", sha256_hex(&b));
                if req.if_none_match.as_deref() == Some(etag.as_str()) {
                    write!(out, "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n")?;
                    log(304, 0);
                } else {
                    write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nETag: {etag}\r\nContent-Length: {}\r\n\r\n",
                        b.len()
                    )?;
                    out.write_all(&b)?;
                    log(200, b.len());
                }
            }
        }
        out.flush()?;
    }
}

/// Read a child's stdout to the end (for processes that print little).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
