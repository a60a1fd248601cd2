//! Shared helpers for the end-to-end tests.
//!
//! This module: the real `kbrel` binary and the outcome of a run ([`Run`]), snapshots and
//! copies of folders, hashes, tarballs, generated text and the seeds of randomised tests. Its
//! submodules: [`kb`] (the fixture type [`Kb`], re-exported here), [`tools`] (external tools
//! such as node, npm, nginx and Verdaccio, required under `CI=true`), [`serve`] (child
//! processes, `kbrel serve` and a raw HTTP/1.1 client); [`npm`] (serve, npm) and [`sync`]
//! (sync, schema, jsclient) add what only their tests need and re-export the rest.
//!
//! Every test binary uses only part of this module, hence `allow(dead_code)`.

#![allow(dead_code)]

pub mod kb;
pub mod npm;
pub mod serve;
pub mod sync;
pub mod tools;

pub use kb::{Kb, doc_text};

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// The release date every test uses unless it tests dates.
pub const DATE: &str = "2026-11-25";
/// `DATE` at midnight UTC as a `SOURCE_DATE_EPOCH`.
pub const DATE_EPOCH: &str = "1795564800";
/// `DATE` as the manifests record it.
pub const DATE_RFC3339: &str = "2026-11-25T00:00:00Z";
/// The fixture's package name.
pub const NAME: &str = "acme-kb";
/// Every document of the fixture, relative to the content root.
pub const FIXTURE_DOCS: [&str; 8] = [
    "en/faq.md",
    "en/guide/setup.md",
    "en/intro.md",
    "en/legacy.md",
    "zh/faq.md",
    "zh/guide/setup.md",
    "zh/intro.md",
    "zh/legacy.md",
];

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/kb")
}

/// The `kbrel` binary Cargo built for the integration tests, with a clean environment for the
/// variables kbrel reads and no stdin.
pub fn kbrel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kbrel"));
    cmd.env_remove("SOURCE_DATE_EPOCH").stdin(Stdio::null());
    cmd
}

/// [`kbrel`] without a signing key from the environment either (`KBREL_SIGN_KEY`).
pub fn kbrel_unsigned() -> Command {
    let mut cmd = kbrel();
    cmd.env_remove("KBREL_SIGN_KEY");
    cmd
}

/// The outcome of one command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams must be UTF-8.
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Invalid UTF-8 in either stream is replaced.
    pub fn from_output_lossy(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Exit 0, or panic showing both streams.
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success\n{self}");
        self
    }

    /// Exit `code`, or panic showing both streams.
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit code {code}\n{self}");
        self
    }

    /// stderr contains every needle.
    pub fn stderr_has(self, needles: &[&str]) -> Run {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}\n{self}");
        }
        self
    }

    /// stdout contains every needle.
    pub fn stdout_has(self, needles: &[&str]) -> Run {
        for n in needles {
            assert!(self.stdout.contains(n), "stdout lacks {n:?}\n{self}");
        }
        self
    }

    /// `verify --json`'s problems as (path, kind), in the report's order.
    pub fn verify_problems(&self) -> Vec<(String, kbrel::verify::ProblemKind)> {
        self.parse::<kbrel::verify::VerifyReport>()
            .problems
            .into_iter()
            .map(|p| (p.path, p.kind))
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        self.parse()
    }

    /// stdout deserialised into `T`: the library's own type for the output (the one the binary
    /// serialises), or a test struct with `deny_unknown_fields`, so its shape is checked.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a {}: {e}\n{self}",
                std::any::type_name::<T>()
            )
        })
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn output_of(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run `cmd` to completion; its output must be UTF-8.
pub fn run(cmd: &mut Command) -> Run {
    Run::from_output(output_of(cmd))
}

/// Run `cmd` to completion, replacing invalid UTF-8 in its output.
pub fn run_lossy(cmd: &mut Command) -> Run {
    Run::from_output_lossy(output_of(cmd))
}

/// Markdown whose every line is hostile to naive string embedding. The dangerous characters
/// sit in a fenced code block so that they are content, not markup, for the linter.
pub fn tricky_body() -> String {
    [
        "Inline: `${x}` and \"double\" and 'single' quotes, a back\\slash, 😀 and 中文。",
        "",
        "```text",
        "template: `${x}` ${`nested ${y}`} `back` ``ticks``",
        "script: </script><script>alert(\"x\")</script> <!-- comment --> </SCRIPT>",
        "quotes: \"double\" 'single' \\\" \\' ",
        "backslashes: \\ \\\\ \\n \\u2028 \\x00 C:\\path\\to\\file",
        "separators: [\u{2028}] and [\u{2029}] and \u{2028}\u{2029} together",
        "emoji: 😀 👍🏽 👨‍👩‍👧 🏳️‍🌈 and Chinese: 你好，世界！「引号」",
        "tab:\there, nbsp:\u{a0}here, zero-width:\u{200b}here",
        "```",
        "",
    ]
    .join("\n")
}

/// A markdown document with complete front matter.
pub fn doc(title: &str, description: &str, url: &str, key: &str, body: &str) -> String {
    format!(
        "---\ntitle: {}\ndescription: {}\ndate: 2026-11-20\nurl: \"{url}\"\nkey: {key}\n---\n\n{body}",
        yaml_str(title),
        yaml_str(description),
    )
}

/// A double-quoted YAML scalar.
pub fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).expect("copy file");
        }
    }
}

/// Every file and folder below `dir` (relative, `/`-separated) with the bytes of the files
/// (`None` for folders); `None` when `dir` does not exist.
pub type Tree = BTreeMap<String, Option<Vec<u8>>>;

pub fn snapshot(dir: &Path) -> Option<Tree> {
    if fs::symlink_metadata(dir).is_err() {
        return None;
    }
    let mut out = Tree::new();
    fn walk(base: &Path, dir: &Path, out: &mut Tree) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .expect("below base")
                .to_string_lossy()
                .replace('\\', "/");
            if entry.file_type().expect("file type").is_dir() {
                out.insert(rel, None);
                walk(base, &path, out);
            } else {
                out.insert(rel, Some(fs::read(&path).expect("read file")));
            }
        }
    }
    if fs::metadata(dir).expect("stat").is_dir() {
        walk(dir, dir, &mut out);
    } else {
        out.insert(String::new(), Some(fs::read(dir).expect("read file")));
    }
    Some(out)
}

/// Assert two snapshots are equal, naming the paths that differ.
pub fn assert_same_tree(before: &Option<Tree>, after: &Option<Tree>, what: &str) {
    match (before, after) {
        (None, None) => {}
        (None, Some(a)) => panic!("{what} was created: {:?}", a.keys().collect::<Vec<_>>()),
        (Some(_), None) => panic!("{what} was deleted"),
        (Some(b), Some(a)) => {
            let mut diffs = Vec::new();
            for (k, v) in b {
                match a.get(k) {
                    None => diffs.push(format!("removed {k}")),
                    Some(w) if w != v => diffs.push(format!("changed {k}")),
                    _ => {}
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                diffs.push(format!("added {k}"));
            }
            assert!(diffs.is_empty(), "{what} changed: {diffs:#?}");
        }
    }
}

/// The files (not folders) below `dir`, relative and `/`-separated.
pub fn list_files(dir: &Path) -> BTreeSet<String> {
    snapshot(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn sha1_hex(bytes: &[u8]) -> String {
    hex(&Sha1::digest(bytes))
}

/// npm's `dist.integrity`: `sha512-<base64>`.
pub fn sha512_sri(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
    )
}

pub fn read_json(path: &Path) -> serde_json::Value {
    read_as(path)
}

/// A JSON file deserialised into `T` (e.g. `kbrel::manifest::{Index, Manifest, DiffFile}`).
pub fn read_as<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "parse {} as {}: {e}",
            path.display(),
            std::any::type_name::<T>()
        )
    })
}

/// `blobs/sha256/<aa>/<62 hex>` for a sha256.
pub fn blob_rel(sha256: &str) -> String {
    format!("blobs/sha256/{}/{}", &sha256[..2], &sha256[2..])
}

/// The entries of a gzipped tarball: path → (header, bytes), in archive order.
pub fn tar_entries(tgz: &[u8]) -> Vec<(String, tar::Header, Vec<u8>)> {
    use std::io::Read;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8 path");
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read entry");
        out.push((path, header, data));
    }
    out
}

/// Unpack a gzipped tarball into `dest` (which gets `package/…`).
pub fn extract_tgz(tgz: &[u8], dest: &Path) {
    fs::create_dir_all(dest).expect("create dir");
    tar::Archive::new(flate2::read::GzDecoder::new(tgz))
        .unpack(dest)
        .expect("unpack tarball");
}

/// The value of a top-level front-matter field, unquoted (enough for the fixtures).
pub fn front_matter_field(text: &str, field: &str) -> Option<String> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---")?;
    rest[..end].lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?.trim();
        Some(v.trim_matches('"').trim_matches('\'').to_string())
    })
}

/// `cp -a from to`: a copy that keeps modes, times and symlinks (`to` must not exist yet).
pub fn cp_a(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// `n` bytes of pseudo-random lowercase words (poorly compressible) in lines, deterministic in
/// `seed`.
pub fn noise(n: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(n + 80);
    let mut line = 0;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 3 + (x % 7) as usize;
        for i in 0..len {
            out.push((b'a' + ((x >> (5 * i + 8)) % 26) as u8) as char);
        }
        line += len + 1;
        if line > 70 {
            out.push_str(".\n");
            line = 0;
        } else {
            out.push(' ');
        }
    }
    out.push_str(".\n");
    out
}

// --- randomised tests ------------------------------------------------------------------------

/// A small deterministic random number generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// An environment variable as a number (`None` when unset or not a number).
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A seed from the environment variable `name`, else from the clock.
pub fn env_seed(name: &str) -> u64 {
    env_u64(name).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    })
}

// --- snapshots -------------------------------------------------------------------------------

/// `text` as an insta snapshot that keeps every byte: insta compares text with trailing white
/// space trimmed and CRLF turned into LF, so a carriage return is shown as `␍`, and an ending
/// other than exactly one newline (none, several, spaces) as a last line `⟨end: "…"⟩`.
pub fn exact_text(text: &str) -> String {
    let text = text.replace('\r', "␍");
    let body = text.trim_end();
    let tail = &text[body.len()..];
    if tail == "\n" {
        text
    } else {
        format!(
            "{body}⟨end: {}⟩\n",
            serde_json::to_string(tail).expect("string")
        )
    }
}

// --- typed outputs the library has no type for ------------------------------------------------

/// `kbrel check --json` (the binary's `CheckJson`, mirrored strictly).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckJson {
    pub schema_version: u32,
    pub findings: Vec<CheckFinding>,
    pub errors: usize,
    pub warnings: usize,
    pub baselined: usize,
    pub allowed: usize,
    pub suppressed: usize,
    pub prunable: Vec<kbrel::baseline::Entry>,
    #[serde(default)]
    pub baseline: Option<String>,
}

/// `kbrel keys --json` (the binary's `KeysJson`, mirrored strictly).
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysJson {
    pub schema_version: u32,
    pub keys: Vec<KeyJson>,
}

/// One key of [`KeysJson`] (`kbrel::content::EffectiveKey`); every field is read, to check the
/// shape, not every one asserted.
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    pub lang: String,
    pub key: String,
    pub path: String,
    pub id: Option<String>,
    pub primary: bool,
    pub origin: String,
    pub source: Option<String>,
    pub line: usize,
}

/// One finding of [`CheckJson`]: a [`kbrel::findings::Finding`] and its path from the
/// repository root.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckFinding {
    pub file: String,
    pub line: usize,
    pub code: kbrel::findings::Code,
    pub severity: kbrel::findings::Severity,
    pub message: String,
    pub path: String,
}
