//! The content model: documents, front matter, identity, pairing and normalisation.
//!
//! Read-only: this module turns files (from a folder or, through [`SourceFile`], from any other
//! source such as a git tree) into a [`KnowledgeBase`]. Problems that belong to one file (bad
//! front matter, non-UTF-8 bytes) become findings for `lint`, not errors, so `kbrel check` can
//! report all of them at once; problems with the whole input (missing root or language folder,
//! a symlink escaping the root, I/O) are errors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;

use crate::config::{Config, Pairing};
use crate::error::{ConfigError, Error, Result};
use crate::files::{is_document_name, is_mdx_name, path_id};
use crate::findings::{Code, Finding};
use crate::hash::sha256_hex;
use crate::manifest::ManifestDoc;

/// One file of a content tree: its path relative to the content root (`en/guide/a.md`,
/// always `/`-separated) and its raw bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A scalar front-matter field as written: its raw YAML text and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    /// The text after `key:` including continuation lines, trimmed.
    pub raw: String,
    /// 1-based line in the document.
    pub line: usize,
}

/// One document in one language, normalised and hashed.
#[derive(Debug, Clone)]
pub struct Document {
    pub lang: String,
    /// Path relative to the language folder, with extension: `commands/publish.md`.
    pub path: String,
    /// Stable identity across versions and languages (see [`Pairing`]).
    pub id: String,
    /// Name in the JS bundles: the front-matter `key`, else the first key a key source
    /// declares for it, else the id.
    pub key: String,
    /// The document's other keys (declared by key sources), sorted: the bundles hold it under
    /// each of them too.
    pub aliases: Vec<String>,
    /// Whether a key source or front matter declares a key for it (else its key is its id).
    pub keyed: bool,
    pub title: Option<String>,
    pub description: Option<String>,
    pub date: Option<String>,
    pub url: Option<String>,
    /// The URL path of `url` without its language segment.
    pub slug: Option<String>,
    /// Whether the document opens with a front-matter block.
    pub has_front_matter: bool,
    /// Every top-level front-matter field, verbatim (unknown fields included).
    pub fields: BTreeMap<String, RawField>,
    /// The normalised full text (front matter included): the bytes that are hashed and stored.
    pub text: String,
    /// Byte offset where the body (after front matter) starts in `text`.
    pub body_start: usize,
    /// 1-based line on which the body starts.
    pub body_line: usize,
    /// Lowercase hex sha256 of `text`.
    pub sha256: String,
}

impl Document {
    pub fn body(&self) -> &str {
        &self.text[self.body_start..]
    }

    /// `en/commands/publish.md`: the path relative to the content root.
    pub fn full_path(&self) -> String {
        format!("{}/{}", self.lang, self.path)
    }

    pub fn size(&self) -> u64 {
        self.text.len() as u64
    }

    /// Whether the document is MDX (`.mdx`): JSX components and ESM lines in its body.
    pub fn is_mdx(&self) -> bool {
        is_mdx_name(&self.path)
    }
}

/// Every document of every configured language, plus what the linter needs to know.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    pub languages: Vec<String>,
    pub source_language: String,
    /// Sorted by language (configured order) then path.
    pub documents: Vec<Document>,
    /// Every file below the content root (markdown or not), relative to the root.
    pub files: BTreeSet<String>,
    /// Findings produced while reading (front matter, encoding, key sources).
    pub problems: Vec<Finding>,
    /// The key map the documents' keys were built from (read at the same revision).
    pub keys: KeyMap,
    /// The assets (see [`Classifier`]), sorted by path. Read from a folder only: a knowledge
    /// base read from a git tree has none yet.
    pub assets: Vec<Asset>,
    /// The files that are not released, neither documents nor assets (ignored or excluded by
    /// configuration), relative to the content root: a link to one is KB050.
    pub unreleased: BTreeSet<String>,
}

/// A file released as it is (an image, a PDF, a video): content-addressed like a document,
/// its bytes streamed from `source` when they are stored or packed, never held whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Path relative to the content root: `en/img/a.png`, `static/logo.svg`.
    pub path: String,
    /// Lowercase hex sha256 of the bytes.
    pub sha256: String,
    pub size: u64,
    /// Where its bytes are read from: a file of the working tree, or a git blob.
    pub source: AssetSource,
    /// In a declared `[content] assets` folder: released even when no document links to it.
    pub declared: bool,
    /// The file's metadata when it was read (a working-tree file on Unix; `None` for git
    /// blobs): what a [`KnownHashes`] entry is matched against.
    pub stamp: Option<FileStamp>,
}

/// What a file's metadata said when it was hashed: size, modification and change times (to the
/// nanosecond), inode and device. Any write to the file changes its change time (which no
/// user call can set back), a replacement changes its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub dev: u64,
}

impl FileStamp {
    /// The stamp of an open file (`fstat`), `None` where the platform has no inode numbers.
    pub fn of(meta: &std::fs::Metadata) -> Option<FileStamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileStamp {
                size: meta.size(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
                dev: meta.dev(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }
}

/// The sha256 of asset files hashed before, by path relative to the content root, each with
/// the [`FileStamp`] it was hashed under: [`load_dir_with`] takes the hash of a file whose
/// stamp is the same instead of reading it. A hint, never the truth: whatever packs an asset
/// hashes the bytes it streams and refuses the release when they differ (`package`'s
/// `emit_assets`), so a stale entry fails a publish, it never ships. Read from and written to
/// the project's local cache by `hashcache`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHashes {
    pub entries: HashMap<String, (FileStamp, String)>,
}

impl KnownHashes {
    /// The recorded sha256 of `rel` when it was hashed under exactly `stamp`.
    pub fn get(&self, rel: &str, stamp: &FileStamp) -> Option<&str> {
        self.entries
            .get(rel)
            .filter(|(s, _)| s == stamp)
            .map(|(_, sha)| sha.as_str())
    }
}

/// Where an asset's bytes are read from when it is stored and packed (streamed, never held
/// whole: `git::with_asset_reader` opens either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetSource {
    /// A file of the working tree.
    File(PathBuf),
    /// A blob of a git repository: the repository's git folder and the blob's id (hex).
    Git { git_dir: PathBuf, blob: String },
}

impl AssetSource {
    /// How messages name it: the file, or `<git folder>@<blob id>`.
    pub fn describe(&self) -> PathBuf {
        match self {
            AssetSource::File(p) => p.clone(),
            AssetSource::Git { git_dir, blob } => {
                PathBuf::from(format!("{}@{blob}", git_dir.display()))
            }
        }
    }
}

/// What a file below the content root is. [`Classifier::classify`] is the one place that
/// decides it, for every reader of a content tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileClass {
    /// A document: in a language folder, with a document extension, kept by `include`/`exclude`.
    Document,
    /// An asset: in a `[content] assets` folder, or with an extension of
    /// `[content] asset_extensions`.
    Asset,
    /// Left out by `[content] include`/`exclude`.
    Excluded,
    /// None of the above: reported by `check` (KB056), never dropped without a word.
    Ignored,
}

/// The file classification of one configuration (its globs compiled once).
pub struct Classifier {
    languages: Vec<String>,
    include: Vec<globset::GlobSet>,
    exclude: Vec<globset::GlobSet>,
    /// `[content] assets` folders, `{lang}` expanded, each ending in `/`.
    asset_dirs: Vec<String>,
    asset_extensions: Vec<String>,
}

impl Classifier {
    pub fn new(cfg: &Config) -> Result<Classifier> {
        let c = &cfg.content;
        let compile = |field: &str, globs: &[String]| -> Result<Vec<globset::GlobSet>> {
            globs
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    crate::config::path_glob(g, &c.languages).map_err(|m| {
                        Error::from(ConfigError::value(
                            cfg.base_dir.join(crate::config::CONFIG_FILE),
                            format!("content.{field}[{i}]"),
                            Some(g),
                            format!("content.{field}[{i}] `{g}`: {m}"),
                        ))
                    })
                })
                .collect()
        };
        let mut asset_dirs = Vec::new();
        for dir in &c.assets {
            let dir = dir.trim().trim_end_matches('/');
            if dir.contains("{lang}") {
                asset_dirs.extend(
                    c.languages
                        .iter()
                        .map(|l| format!("{}/", dir.replace("{lang}", l))),
                );
            } else {
                asset_dirs.push(format!("{dir}/"));
            }
        }
        Ok(Classifier {
            languages: c.languages.clone(),
            include: compile("include", &c.include)?,
            exclude: compile("exclude", &c.exclude)?,
            asset_dirs,
            asset_extensions: c.asset_extensions(),
        })
    }

    /// What the file at `path` (relative to the content root, `/`-separated) is.
    pub fn classify(&self, path: &str) -> FileClass {
        let name = path.rsplit('/').next().unwrap_or(path);
        let in_language = path
            .split_once('/')
            .is_some_and(|(lang, _)| self.languages.iter().any(|l| l == lang));
        if in_language && is_document_name(name) {
            let included = self.include.is_empty() || self.include.iter().any(|g| g.is_match(path));
            if !included || self.exclude.iter().any(|g| g.is_match(path)) {
                return FileClass::Excluded;
            }
            return FileClass::Document;
        }
        if self.exclude.iter().any(|g| g.is_match(path)) {
            return FileClass::Excluded;
        }
        if self.in_asset_dir(path) {
            return FileClass::Asset;
        }
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match ext {
            Some(e) if self.asset_extensions.contains(&e) => FileClass::Asset,
            _ => FileClass::Ignored,
        }
    }

    /// Whether `path` is in a declared `[content] assets` folder.
    pub fn in_asset_dir(&self, path: &str) -> bool {
        self.asset_dirs.iter().any(|d| path.starts_with(d.as_str()))
    }
}

/// The KB056 finding for an ignored file, naming its extension.
fn ignored_finding(path: &str) -> Finding {
    let name = path.rsplit('/').next().unwrap_or(path);
    let why = match name.rsplit_once('.') {
        _ if is_document_name(name) => {
            "a document outside the language folders is not released: move it into one, or exclude it".into()
        }
        Some((stem, ext)) if !stem.is_empty() => format!(
            "`.{ext}` is neither a document nor an asset extension: add `{}` to `[content] asset_extensions` to release it, or exclude it",
            ext.to_ascii_lowercase()
        ),
        _ => "it has no extension: list its folder in `[content] assets` to release it, or exclude it".into(),
    };
    Finding::warning(Code::IgnoredFile, path, 1, format!("ignored: {why}"))
}

impl KnowledgeBase {
    pub fn docs_in<'a>(&'a self, lang: &'a str) -> impl Iterator<Item = &'a Document> + 'a {
        self.documents.iter().filter(move |d| d.lang == lang)
    }
}

/// key → declaration, per language, from the key sources ([`crate::keys`]).
pub type KeyMap = crate::keys::KeyMap;

/// Normalise text for hashing and diffing: strip a BOM, CRLF → LF, Unicode NFC (never NFKC,
/// which would rewrite Chinese full-width punctuation).
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = if text.contains("\r\n") {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    if is_nfc(&text) {
        text.into_owned()
    } else {
        text.nfc().collect()
    }
}

/// [`normalize`] without copying text that is already normal.
pub fn normalize_owned(text: String) -> String {
    let normal = !text.starts_with('\u{feff}') && !text.contains("\r\n") && is_nfc(&text);
    if normal { text } else { normalize(&text) }
}

/// Characters that are NFC whatever surrounds them (quick check "yes", combining class 0):
/// everything below U+0300 (ASCII, Latin-1, Latin Extended), common punctuation, CJK symbols
/// and punctuation, CJK unified ideographs and full-width ASCII forms. Checked against the
/// Unicode tables by `nfc_stable_ranges_match_the_unicode_tables`.
#[cfg(test)]
const NFC_STABLE: [(char, char); 6] = [
    ('\0', '\u{2ff}'),
    ('\u{2010}', '\u{2027}'),
    ('\u{2030}', '\u{205e}'),
    ('\u{3000}', '\u{3029}'),
    ('\u{4e00}', '\u{9fff}'),
    ('\u{ff01}', '\u{ff5e}'),
];

/// Whether `text` is in NFC. Text made only of `NFC_STABLE` characters (nearly all English
/// and Chinese prose) is answered from its bytes; anything else goes through
/// the full quick check.
fn is_nfc(text: &str) -> bool {
    all_nfc_stable(text)
        || unicode_normalization::is_nfc_quick(text.chars())
            == unicode_normalization::IsNormalized::Yes
}

/// Whether every character of `text` is in `NFC_STABLE`, read from its UTF-8 bytes (no
/// decoding): ASCII eight bytes at a time, then the lead and continuation bytes of each
/// range. Checked character by character against the ranges by
/// `nfc_stable_bytes_match_the_ranges`.
fn all_nfc_stable(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if i + 8 <= b.len()
            && u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"))
                & 0x8080_8080_8080_8080
                == 0
        {
            i += 8;
            continue;
        }
        let c = b[i];
        if c < 0x80 {
            i += 1;
            continue;
        }
        // A `str`: a lead byte is followed by its continuation bytes.
        let (b1, b2) = (b[i + 1], b.get(i + 2).copied().unwrap_or(0));
        let (len, ok) = match c {
            // U+0080–U+02FF
            0xC2..=0xCB => (2, true),
            // U+2010–U+2027, U+2030–U+205E
            0xE2 => (
                3,
                (b1 == 0x80 && ((0x90..=0xA7).contains(&b2) || b2 >= 0xB0))
                    || (b1 == 0x81 && b2 <= 0x9E),
            ),
            // U+3000–U+3029
            0xE3 => (3, b1 == 0x80 && b2 <= 0xA9),
            // U+4E00–U+9FFF
            0xE4 => (3, b1 >= 0xB8),
            0xE5..=0xE9 => (3, true),
            // U+FF01–U+FF5E
            0xEF => (3, (b1 == 0xBC && b2 >= 0x81) || (b1 == 0xBD && b2 <= 0x9E)),
            _ => (0, false),
        };
        if !ok {
            return false;
        }
        i += len;
    }
    true
}

/// The slug of a document URL: its path without the language segment, query and fragment
/// ignored. `https://docs.x.com/en/kb/rum/faq?nav=1` → `kb/rum/faq`.
pub fn url_slug(url: &str, languages: &[String]) -> Option<String> {
    let url = url.trim();
    let no_frag = url.split(['#', '?']).next().unwrap_or("");
    let path = match no_frag.find("://") {
        Some(i) => {
            let rest = &no_frag[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("")
        }
        None => no_frag,
    };
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(pos) = segs.iter().position(|s| languages.iter().any(|l| l == s)) {
        segs.remove(pos);
    }
    if let Some(last) = segs.last_mut() {
        *last = last.strip_suffix(".html").unwrap_or(last);
    }
    if segs.is_empty() {
        return None;
    }
    Some(segs.join("/"))
}

enum Split<'a> {
    None,
    Unclosed,
    Some {
        yaml: &'a str,
        body_start: usize,
        body_line: usize,
    },
}

fn split_front_matter(text: &str) -> Split<'_> {
    let Some(rest) = text.strip_prefix("---\n") else {
        if text == "---" {
            return Split::Unclosed;
        }
        return Split::None;
    };
    let mut offset = 4;
    for (line, l) in (2..).zip(rest.split_inclusive('\n')) {
        let trimmed = l.trim_end_matches('\n').trim_end();
        if trimmed == "---" || trimmed == "..." {
            return Split::Some {
                yaml: &text[4..offset],
                body_start: offset + l.len(),
                body_line: line + 1,
            };
        }
        offset += l.len();
    }
    Split::Unclosed
}

/// Top-level `key: value` fields of a YAML mapping, verbatim, with their line numbers.
fn raw_fields(yaml: &str, first_line: usize) -> BTreeMap<String, RawField> {
    let mut out: BTreeMap<String, RawField> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for (i, line) in yaml.lines().enumerate() {
        let starts_key = !line.starts_with([' ', '\t', '#', '-']) && !line.is_empty();
        if starts_key && let Some(colon) = line.find(':') {
            let key = line[..colon].trim().trim_matches(['"', '\'']);
            out.insert(
                key.to_string(),
                RawField {
                    raw: line[colon + 1..].trim().to_string(),
                    line: first_line + i,
                },
            );
            current = Some(key);
            continue;
        }
        if let Some(k) = current
            && let Some(f) = out.get_mut(k)
        {
            if f.raw.is_empty() {
                f.raw.push_str(line.trim());
            } else {
                f.raw.push('\n');
                f.raw.push_str(line.trim_end());
            }
        }
    }
    out
}

/// The front matter nearly every knowledge base writes, parsed without a YAML parser: one
/// `field: value` line per field, each value a double- or single-quoted string without
/// escapes, a plain string that YAML could not read as anything else, a small unsigned
/// integer (`sidebar_position: 3`) or a one-line list of plain words (`tags: [ops, on-call]`).
/// `None` for anything outside that subset (nesting, other lists, comments, block scalars,
/// escapes, other values YAML might read as a number, boolean, null or date-like scalar other
/// than `YYYY-MM-DD`, duplicate
/// fields, keys over YAML's 1024-character limit, very large front matter…): the caller then
/// asks the YAML parser, so the result is always what the parser would return. Parsing YAML
/// was a tenth of the time spent loading a large knowledge base.
fn flat_front_matter(yaml: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    // Far larger than any real front matter, far below the parser's budgets (nodes, events,
    // scalar bytes), which the parser alone enforces.
    if yaml.len() > 64 * 1024 {
        return None;
    }
    let mut map = serde_json::Map::new();
    for line in yaml.split('\n') {
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':')?;
        // YAML limits an implicit key to 1024 characters.
        let key_ok = key.len() <= 1000
            && key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let value = value.strip_prefix(' ')?.trim_matches(' ');
        if !key_ok || yaml_word(key) || value.is_empty() || map.contains_key(key) {
            return None;
        }
        // Control characters, and characters some YAML versions read as line breaks.
        let odd = |c: char| {
            c < ' '
                || matches!(
                    c,
                    '\u{7f}'
                        ..='\u{9f}'
                            | '\u{2028}'
                            | '\u{2029}'
                            | '\u{feff}'
                            | '\u{fffe}'
                            | '\u{ffff}'
                )
        };
        if value.chars().any(odd) {
            return None;
        }
        let text = if let Some(inner) = value.strip_prefix('"') {
            let inner = inner.strip_suffix('"')?;
            if inner.contains(['"', '\\']) {
                return None;
            }
            inner
        } else if let Some(inner) = value.strip_prefix('\'') {
            let inner = inner.strip_suffix('\'')?;
            if inner.contains('\'') {
                return None;
            }
            inner
        } else if plain_string(value) {
            value
        } else if let Some(n) = small_integer(value) {
            map.insert(key.to_string(), serde_json::Value::Number(n.into()));
            continue;
        } else if let Some(words) = flow_words(value) {
            map.insert(key.to_string(), serde_json::Value::Array(words));
            continue;
        } else {
            return None;
        };
        map.insert(key.to_string(), serde_json::Value::String(text.to_string()));
    }
    // Empty front matter is YAML null, not an empty mapping.
    (!map.is_empty()).then_some(map)
}

/// A plain decimal integer without sign, leading zero or separator (`sidebar_position: 3`),
/// small enough for any reading of it to be the same number.
fn small_integer(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 15
        && b.iter().all(u8::is_ascii_digit)
        && (b[0] != b'0' || b.len() == 1);
    ok.then(|| v.parse().ok()).flatten()
}

/// A one-line flow sequence of plain words (`tags: [ops, on-call]`): letters first, then
/// letters, digits, `-` and `_`, none a word YAML reads as something else; `[]` is empty.
fn flow_words(v: &str) -> Option<Vec<serde_json::Value>> {
    let inner = v.strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim_matches(' ').is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|item| {
            let w = item.trim_matches(' ');
            let b = w.as_bytes();
            let ok = b.first().is_some_and(u8::is_ascii_alphabetic)
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
                && !yaml_word(w);
            ok.then(|| serde_json::Value::String(w.to_string()))
        })
        .collect()
}

/// Words a YAML parser may read as a null, boolean or number (YAML 1.1 and 1.2, any case).
fn yaml_word(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "inf"
            | "infinity"
            | "nan"
    )
}

/// Whether a plain (unquoted) YAML scalar certainly reads as this very string: it starts
/// with no indicator, holds no `: ` or ` #`, and cannot resolve to a null, boolean or number
/// (anything starting with a digit, sign, dot or `~`, except a `YYYY-MM-DD` date, is left to
/// the YAML parser, as are the words YAML 1.1 reads as booleans).
fn plain_string(v: &str) -> bool {
    let b = v.as_bytes();
    let date = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    let starts_ok = !matches!(
        b[0],
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b'+'
            | b'.'
            | b'~'
            | b'0'..=b'9'
    );
    (date || (starts_ok && !yaml_word(v)))
        && !v.contains(": ")
        && !v.contains(" #")
        && !v.contains('\t')
        && !v.ends_with(':')
}

/// The text of a plain (unquoted, one-line) YAML scalar as its author wrote it, without a
/// trailing ` # comment`; `None` for an empty value (a real null: `id:`), or anything else
/// (quoted, tagged, flow or block values, continuation lines).
fn plain_scalar_text(raw: &str) -> Option<String> {
    let text = match raw.find(" #") {
        Some(at) => &raw[..at],
        None => raw,
    }
    .trim();
    let plain = !text.is_empty()
        && !text.contains('\n')
        && !text.starts_with(['"', '\'', '!', '&', '*', '[', '{', '|', '>', '#']);
    plain.then(|| text.to_string())
}

/// Top-level front-matter fields of a normalised text, verbatim (empty without front matter).
pub fn raw_front_matter(text: &str) -> BTreeMap<String, RawField> {
    match split_front_matter(text) {
        Split::Some { yaml, .. } => raw_fields(yaml, 2),
        _ => BTreeMap::new(),
    }
}

/// A document's front matter as data, for the `{ meta, body }` bundles: every top-level field
/// as the YAML parser reads it, except that the fields kbrel itself reads (`title`,
/// `description`, `date`, `url`, `id`, `key`) are strings as kbrel reads them: trimmed, a
/// scalar YAML would re-type kept as written (`title: 1.10` stays `"1.10"`), no value left
/// out. Empty without front matter (or with front matter that is not a mapping).
pub fn front_matter_data(text: &str) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let Split::Some { yaml, .. } = split_front_matter(text) else {
        return serde_json::Map::new();
    };
    let mut map = match flat_front_matter(yaml)
        .map(|m| Ok(Value::Object(m)))
        .unwrap_or_else(|| serde_saphyr::from_str::<Value>(yaml))
    {
        Ok(Value::Object(map)) => map,
        _ => return serde_json::Map::new(),
    };
    let mut raw = None;
    for name in KNOWN_FIELDS {
        match map.get_mut(name) {
            None => {}
            Some(Value::Null) => {
                map.remove(name);
            }
            Some(Value::String(s)) => *s = s.trim().to_string(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                let fields = raw.get_or_insert_with(|| raw_fields(yaml, 2));
                let text = fields.get(name).and_then(|f| plain_scalar_text(&f.raw));
                *v = Value::String(text.unwrap_or_else(|| v.to_string()));
            }
            Some(_) => {}
        }
    }
    map
}

/// A normalised text's front matter (its YAML; `None` without closed front matter) and its
/// body ([`body_of`]), split once.
pub fn front_matter_and_body(text: &str) -> (Option<&str>, &str) {
    match split_front_matter(text) {
        Split::Some {
            yaml, body_start, ..
        } => (Some(yaml), &text[body_start..]),
        Split::None => (None, text),
        Split::Unclosed => (None, ""),
    }
}

/// The body of a normalised text: what follows its front matter.
pub fn body_of(text: &str) -> &str {
    match split_front_matter(text) {
        Split::Some { body_start, .. } => &text[body_start..],
        Split::None => text,
        Split::Unclosed => "",
    }
}

const KNOWN_FIELDS: [&str; 6] = ["title", "description", "date", "url", "id", "key"];

/// Parse one markdown file's bytes. Returns the document (when it can be identified) and the
/// findings it raised.
fn parse_document(
    cfg: &Config,
    lang: &str,
    path: &str,
    bytes: Vec<u8>,
    key_of_path: &BTreeMap<&str, Vec<&str>>,
) -> (Option<Document>, Vec<Finding>) {
    let full = format!("{lang}/{path}");
    let mut findings = Vec::new();
    let Some(text) = decode(&full, bytes, &mut findings) else {
        return (None, findings);
    };
    let FrontMatter {
        fields,
        known,
        body_start,
        body_line,
        has_fm,
    } = front_matter(&full, &text, &mut findings);

    let path_id = path_id(path);
    let url = known.get("url").cloned();
    let slug = url
        .as_deref()
        .and_then(|u| url_slug(u, &cfg.content.languages));
    let id = match cfg.content.pairing {
        Pairing::Path => path_id.clone(),
        Pairing::FrontMatterId => known.get("id").cloned().unwrap_or(path_id.clone()),
        Pairing::FrontMatterUrl => slug.clone().unwrap_or(path_id.clone()),
    };
    let declared: &[&str] = key_of_path.get(path).map_or(&[], Vec::as_slice);
    let keyed = known.contains_key("key") || !declared.is_empty();
    let key = known
        .get("key")
        .cloned()
        .or_else(|| declared.first().map(|k| k.to_string()))
        .unwrap_or_else(|| id.clone());
    let mut aliases: Vec<String> = declared
        .iter()
        .filter(|k| **k != key)
        .map(|k| k.to_string())
        .collect();
    aliases.sort();
    aliases.dedup();
    let sha256 = sha256_hex(text.as_bytes());
    let doc = Document {
        lang: lang.to_string(),
        path: path.to_string(),
        id,
        key,
        aliases,
        keyed,
        title: known.get("title").cloned(),
        description: known.get("description").cloned(),
        date: known.get("date").cloned(),
        url,
        slug,
        has_front_matter: has_fm,
        fields,
        text,
        body_start,
        body_line,
        sha256,
    };
    (Some(doc), findings)
}

/// The document's text as UTF-8, normalised; `None` (with a finding) for binary content or
/// invalid UTF-8.
fn decode(full: &str, bytes: Vec<u8>, findings: &mut Vec<Finding>) -> Option<String> {
    // git's test for binary content: a NUL byte in the first 8,000 bytes.
    // `contains` looks for the byte with memchr; a byte-by-byte `position` was a tenth of
    // reading a changed document.
    let head = &bytes[..bytes.len().min(8000)];
    if head.contains(&0)
        && let Some(at) = head.iter().position(|b| *b == 0)
    {
        findings.push(Finding::error(
            Code::BinaryDocument,
            full,
            1,
            format!(
                "binary content (a NUL byte at offset {at}) in a file with a document's extension; rename it, or exclude it"
            ),
        ));
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(t) => Some(normalize_owned(t)),
        Err(err) => {
            let e = err.utf8_error();
            let bytes = err.as_bytes();
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            findings.push(Finding::error(
                Code::NonUtf8,
                full,
                line,
                format!(
                    "not valid UTF-8 (invalid byte at offset {}); save the file as UTF-8",
                    e.valid_up_to()
                ),
            ));
            None
        }
    }
}

/// What the front matter says.
struct FrontMatter {
    fields: BTreeMap<String, RawField>,
    known: BTreeMap<&'static str, String>,
    body_start: usize,
    body_line: usize,
    has_fm: bool,
}

/// Split off and read the front matter of `text` (findings for what is wrong with it).
fn front_matter(full: &str, text: &str, findings: &mut Vec<Finding>) -> FrontMatter {
    let mut fields = BTreeMap::new();
    let mut known: BTreeMap<&'static str, String> = BTreeMap::new();
    let (body_start, body_line, has_fm) = match split_front_matter(text) {
        Split::None => {
            findings.push(Finding::warning(
                Code::NoFrontMatter,
                full,
                1,
                "no front matter; the id is taken from the path".into(),
            ));
            (0, 1, false)
        }
        Split::Unclosed => {
            findings.push(Finding::error(
                Code::FrontMatter,
                full,
                1,
                "front matter is not closed: add a `---` line after it".into(),
            ));
            (text.len(), text.lines().count() + 1, true)
        }
        Split::Some {
            yaml,
            body_start,
            body_line,
        } => {
            match flat_front_matter(yaml)
                .map(|m| Ok(serde_json::Value::Object(m)))
                .unwrap_or_else(|| serde_saphyr::from_str::<serde_json::Value>(yaml))
            {
                Ok(serde_json::Value::Object(map)) => {
                    fields = raw_fields(yaml, 2);
                    known = known_fields(full, &map, &fields, findings);
                }
                Ok(serde_json::Value::Null) => {}
                Ok(_) => findings.push(Finding::error(
                    Code::FrontMatter,
                    full,
                    2,
                    "front matter must be a YAML mapping of `field: value`".into(),
                )),
                Err(e) => {
                    let msg = e.to_string();
                    let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
                    findings.push(Finding::error(
                        Code::FrontMatter,
                        full,
                        2,
                        format!("invalid YAML in front matter: {first}"),
                    ))
                }
            }
            (body_start, body_line, true)
        }
    };
    FrontMatter {
        fields,
        known,
        body_start,
        body_line,
        has_fm,
    }
}

/// The known fields' values from the parsed mapping, as the author wrote them.
fn known_fields(
    full: &str,
    map: &serde_json::Map<String, serde_json::Value>,
    fields: &BTreeMap<String, RawField>,
    findings: &mut Vec<Finding>,
) -> BTreeMap<&'static str, String> {
    let mut known = BTreeMap::new();
    for name in KNOWN_FIELDS {
        let line = fields.get(name).map_or(1, |f| f.line);
        match map.get(name) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) => {
                known.insert(name, s.trim().to_string());
            }
            // A scalar YAML re-typed (`1.10` → 1.1, `007` → 7, `0x1F` →
            // 31, `yes` → true): the author's text, as written. (A null —
            // `id:`, `id: ~`, `id: null` — stays "no value", as lint's
            // required-field check reads it.)
            Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                let text = fields.get(name).and_then(|f| plain_scalar_text(&f.raw));
                known.insert(name, text.unwrap_or_else(|| v.to_string()));
            }
            Some(_) => findings.push(Finding::error(
                Code::FrontMatter,
                full,
                line,
                format!("front-matter field `{name}` must be a string"),
            )),
        }
    }
    known
}

/// Build a knowledge base from source files (paths relative to the content root).
/// `all_files` lists every file of the tree, markdown or not (for link checks).
pub fn build(
    cfg: &Config,
    files: Vec<SourceFile>,
    all_files: BTreeSet<String>,
    keys: &KeyMap,
) -> Result<KnowledgeBase> {
    let langs = &cfg.content.languages;
    for lang in langs {
        let prefix = format!("{lang}/");
        if !all_files.iter().any(|f| f.starts_with(&prefix))
            && !files.iter().any(|f| f.path.starts_with(&prefix))
        {
            return Err(Error::Content {
                path: cfg.content_root().join(lang),
                message: format!(
                    "language folder `{lang}` is missing or empty (content.languages lists it)"
                ),
            });
        }
    }
    let classifier = Classifier::new(cfg)?;
    // Nothing dropped silently: every file that is neither a document nor an asset is
    // reported once (KB056) unless configuration excludes it.
    let mut unreleased = BTreeSet::new();
    let mut problems = Vec::new();
    for path in &all_files {
        match classifier.classify(path) {
            FileClass::Document | FileClass::Asset => {}
            FileClass::Excluded => {
                unreleased.insert(path.clone());
            }
            FileClass::Ignored => {
                unreleased.insert(path.clone());
                problems.push(ignored_finding(path));
            }
        }
    }
    let (files, all_files) = select(cfg, &classifier, files, all_files)?;
    // A key must name a document, never a folder.
    for (lang, map) in keys {
        for (key, def) in map {
            let dir = format!("{lang}/{}/", def.path);
            if all_files
                .range(dir.clone()..)
                .next()
                .is_some_and(|f| f.starts_with(&dir))
            {
                return Err(Error::Keys {
                    path: def.source.clone().into(),
                    line: def.line,
                    message: format!(
                        "key `{key}` ({lang}) names `{}`, which is a folder, not a document",
                        def.path
                    ),
                });
            }
        }
    }
    let key_of_path = declarations(keys);
    let (mut documents, read_problems) = parse_all(cfg, &classifier, files, &key_of_path);
    problems.extend(read_problems);
    // KB020: a declared key whose document does not exist.
    let present: crate::FastSet<(&str, &str)> = documents
        .iter()
        .map(|d| (d.lang.as_str(), d.path.as_str()))
        .collect();
    let mut missing = Vec::new();
    for (lang, map) in keys {
        for (key, def) in map {
            let full = format!("{lang}/{}", def.path);
            if !present.contains(&(lang.as_str(), def.path.as_str())) {
                let why = if all_files.contains(&full) {
                    "exists but is not a document that could be read"
                } else {
                    "does not exist"
                };
                missing.push(Finding::error(
                    Code::KeyWithoutDocument,
                    &def.source,
                    def.line.max(1),
                    format!("key `{key}` names `{full}`, which {why}; the bundle would lack it"),
                ));
            }
        }
    }
    drop(present);
    problems.extend(missing);
    problems.extend(declared_key_findings(keys, &documents));
    if documents.is_empty() && problems.is_empty() {
        return Err(Error::Content {
            path: cfg.content_root(),
            message: format!(
                "the knowledge base is empty: no `*.md` or `*.mdx` files under any of {}",
                langs
                    .iter()
                    .map(|l| format!("{l}/"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    settle_order(cfg, &mut documents);
    problems.sort();
    Ok(KnowledgeBase {
        languages: langs.clone(),
        source_language: cfg.source_language().to_string(),
        documents,
        files: all_files,
        problems,
        keys: keys.clone(),
        assets: Vec::new(),
        unreleased,
    })
}

/// lang → path → the keys declared for it, in declaration order.
type KeysOfPath<'k> = BTreeMap<&'k str, BTreeMap<&'k str, Vec<&'k str>>>;

/// The keys each document path is declared under by `keys` (lang → path → keys, primary
/// first).
fn declarations(keys: &KeyMap) -> KeysOfPath<'_> {
    // (declaration order, key) per path, sorted, then the keys alone.
    type Ordered<'k> = Vec<(usize, &'k str)>;
    let mut out: BTreeMap<&str, BTreeMap<&str, Ordered<'_>>> = BTreeMap::new();
    for (lang, map) in keys {
        for (key, def) in map {
            out.entry(lang.as_str())
                .or_default()
                .entry(def.path.as_str())
                .or_default()
                .push((def.order, key.as_str()));
        }
    }
    out.into_iter()
        .map(|(lang, paths)| {
            let paths = paths
                .into_iter()
                .map(|(p, mut ks)| {
                    ks.sort();
                    (p, ks.into_iter().map(|(_, k)| k).collect())
                })
                .collect();
            (lang, paths)
        })
        .collect()
}

/// The documents among `files` ([`FileClass::Document`]; parsed in parallel,
/// consumed one file at a time, so raw bytes are freed as documents are built), and the
/// findings of reading them.
fn parse_all(
    cfg: &Config,
    classifier: &Classifier,
    files: Vec<SourceFile>,
    key_of_path: &KeysOfPath<'_>,
) -> (Vec<Document>, Vec<Finding>) {
    let parsed: Vec<Parsed> = files
        .into_par_iter()
        .filter_map(|f| parse_file(cfg, classifier, key_of_path, f))
        .collect();
    let mut documents = Vec::with_capacity(parsed.len());
    let mut problems = Vec::new();
    for (doc, findings) in parsed {
        documents.extend(doc);
        problems.extend(findings);
    }
    (documents, problems)
}

/// One file parsed: its document (`None` when it could not be read as one) and the findings
/// of reading it.
pub type Parsed = (Option<Document>, Vec<Finding>);

/// `f` parsed when it is a document of one of the configured languages ([`FileClass::Document`]).
fn parse_file(
    cfg: &Config,
    classifier: &Classifier,
    key_of_path: &KeysOfPath<'_>,
    f: SourceFile,
) -> Option<Parsed> {
    let (lang, rest) = f.path.split_once('/')?;
    if !cfg.content.languages.iter().any(|l| l == lang)
        || classifier.classify(&f.path) != FileClass::Document
    {
        return None;
    }
    let empty = BTreeMap::new();
    let kop = key_of_path.get(lang).unwrap_or(&empty);
    Some(parse_document(cfg, lang, rest, f.bytes, kop))
}

/// The document paths (`en/guide/a.md`) whose declared keys differ between two key maps:
/// the documents whose key can change although their file did not.
pub fn redeclared_paths(a: &KeyMap, b: &KeyMap) -> BTreeSet<String> {
    let (da, db) = (declarations(a), declarations(b));
    let mut out = BTreeSet::new();
    let empty = BTreeMap::new();
    for lang in da.keys().chain(db.keys()) {
        let (pa, pb) = (
            da.get(lang).unwrap_or(&empty),
            db.get(lang).unwrap_or(&empty),
        );
        for (path, keys) in pa.iter().chain(pb.iter()) {
            if pa.get(path) != Some(keys) || pb.get(path) != Some(keys) {
                out.insert(format!("{lang}/{path}"));
            }
        }
    }
    out
}

/// Some documents of a knowledge base: `files` (paths relative to the content root) read as
/// [`build`] reads them — the configured include/exclude, the keys `keys` declares, url
/// claims settled among these documents in path order — without the checks that need the
/// whole tree (empty language folders, keys naming folders or missing documents). What a
/// diff of two git revisions reads: only the files that differ between them.
pub fn build_some(cfg: &Config, files: Vec<SourceFile>, keys: &KeyMap) -> Result<KnowledgeBase> {
    let classifier = Classifier::new(cfg)?;
    let parser = DocParser::new(cfg, &classifier, keys);
    let parsed: Vec<Parsed> = files
        .into_par_iter()
        .filter_map(|f| parser.parse(f))
        .collect();
    Ok(parser.assemble(parsed))
}

/// [`build_some`] in two steps, for a caller that has its files one at a time (as they are
/// read from git): [`DocParser::parse`] each file, on any thread, in any order, then
/// [`DocParser::assemble`] the results into the knowledge base `build_some` builds.
pub struct DocParser<'k> {
    cfg: &'k Config,
    classifier: &'k Classifier,
    keys: &'k KeyMap,
    key_of_path: KeysOfPath<'k>,
}

impl<'k> DocParser<'k> {
    /// A parser for `cfg`'s documents (told from other files by `classifier`, `cfg`'s) with
    /// the keys `keys` declares.
    pub fn new(cfg: &'k Config, classifier: &'k Classifier, keys: &'k KeyMap) -> Self {
        DocParser {
            cfg,
            classifier,
            keys,
            key_of_path: declarations(keys),
        }
    }

    /// `file` parsed, when it is a document (`None` for any other file).
    pub fn parse(&self, file: SourceFile) -> Option<Parsed> {
        parse_file(self.cfg, self.classifier, &self.key_of_path, file)
    }

    /// The knowledge base of the parsed files (documents in language and path order).
    pub fn assemble(&self, parsed: impl IntoIterator<Item = Parsed>) -> KnowledgeBase {
        let mut documents = Vec::new();
        let mut problems = Vec::new();
        for (doc, findings) in parsed {
            documents.extend(doc);
            problems.extend(findings);
        }
        settle_order(self.cfg, &mut documents);
        problems.sort();
        KnowledgeBase {
            languages: self.cfg.content.languages.clone(),
            source_language: self.cfg.source_language().to_string(),
            documents,
            files: BTreeSet::new(),
            problems,
            keys: self.keys.clone(),
            ..KnowledgeBase::default()
        }
    }
}

/// `documents` in language (configured order) and path order, url claims settled in that
/// order ([`displace_claimed_urls`]).
fn settle_order(cfg: &Config, documents: &mut [Document]) {
    let langs = &cfg.content.languages;
    let lang_rank = |l: &str| langs.iter().position(|x| x == l).unwrap_or(usize::MAX);
    documents.sort_by(|a, b| (lang_rank(&a.lang), &a.path).cmp(&(lang_rank(&b.lang), &b.path)));
    if cfg.content.pairing == Pairing::FrontMatterUrl {
        displace_claimed_urls(documents);
    }
}

/// With `front-matter:url` pairing, two documents of one language claiming one `url` cannot
/// both be released under it: the first in path order keeps it, each later one falls back to
/// its path id (and, when its key came from its id, to that as key). Lint still reports the
/// claim (KB005, from the slugs), so the release can be published, recorded, and fixed later.
fn displace_claimed_urls(documents: &mut [Document]) {
    let mut seen: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    for d in documents.iter_mut() {
        if seen.insert((d.lang.clone(), d.id.clone())) {
            continue;
        }
        let fallback = path_id(&d.path);
        if fallback == d.id {
            continue;
        }
        if d.key == d.id {
            d.key = fallback.clone();
        }
        d.id = fallback;
    }
}

/// `[content] include` / `exclude`: drop the documents that are excluded, from the sources and
/// from the file list (a link to an excluded page is a link to nothing that is published). An
/// include/exclude that leaves a language without documents is an error.
fn select(
    cfg: &Config,
    classifier: &Classifier,
    files: Vec<SourceFile>,
    mut all_files: BTreeSet<String>,
) -> Result<(Vec<SourceFile>, BTreeSet<String>)> {
    let c = &cfg.content;
    if c.include.is_empty() && c.exclude.is_empty() {
        return Ok((files, all_files));
    }
    let is_doc = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        !is_document_name(name) || classifier.classify(path) != FileClass::Excluded
    };
    let mut before: BTreeMap<&str, usize> = BTreeMap::new();
    let mut after: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &files {
        if let Some((lang, rest)) = f.path.split_once('/')
            && let Some(l) = c.languages.iter().find(|l| *l == lang)
            && is_document_name(rest.rsplit('/').next().unwrap_or(rest))
        {
            *before.entry(l.as_str()).or_default() += 1;
            if is_doc(&f.path) {
                *after.entry(l.as_str()).or_default() += 1;
            }
        }
    }
    for (lang, n) in &before {
        if after.get(lang).copied().unwrap_or(0) == 0 {
            let (key, what) = match (c.include.is_empty(), c.exclude.is_empty()) {
                (false, true) => (
                    "content.include",
                    format!("content.include {:?}", c.include),
                ),
                (true, false) => (
                    "content.exclude",
                    format!("content.exclude {:?}", c.exclude),
                ),
                _ => (
                    "content.include",
                    format!(
                        "content.include {:?} with content.exclude {:?}",
                        c.include, c.exclude
                    ),
                ),
            };
            return Err(ConfigError::value(
                cfg.base_dir.join(crate::config::CONFIG_FILE),
                key,
                None,
                format!(
                    "{what} leaves language `{lang}` without documents (it has {n} markdown file(s)); narrow the globs"
                ),
            )
            .into());
        }
    }
    all_files.retain(|p| is_doc(p));
    let files = files.into_iter().filter(|f| is_doc(&f.path)).collect();
    Ok((files, all_files))
}

/// Where a bundle key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// The document's front-matter `key:` field.
    FrontMatter,
    /// A key source: keys file, `[content.keys]`, an entry module.
    KeySource,
    /// No declared key: the document's id.
    Id,
}

/// One key of the effective key map (`kbrel keys`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EffectiveKey {
    pub lang: String,
    pub key: String,
    /// The document, relative to the language folder.
    pub path: String,
    /// The document's id; `None` when the key names a document that does not exist (KB020).
    pub id: Option<String>,
    /// Whether this is the document's primary key (its `key` in manifest.json) or an alias.
    pub primary: bool,
    pub origin: KeyOrigin,
    /// The file that declares the key and the line (`en/a.md` for front matter).
    pub source: Option<String>,
    pub line: usize,
}

/// Every key of every document (and every declared key whose document is missing), sorted by
/// language (configured order) then key.
pub fn effective_keys(kb: &KnowledgeBase) -> Vec<EffectiveKey> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for d in &kb.documents {
        let declared = kb.keys.get(&d.lang);
        for (i, key) in std::iter::once(&d.key).chain(&d.aliases).enumerate() {
            seen.insert((&d.lang, key));
            let def = declared
                .and_then(|m| m.get(key))
                .filter(|def| def.path == d.path);
            let (origin, source, line) = match (i, d.fields.get("key"), def) {
                (0, Some(f), _) if d.keyed => (KeyOrigin::FrontMatter, Some(d.full_path()), f.line),
                (_, _, Some(def)) => (KeyOrigin::KeySource, Some(def.source.clone()), def.line),
                _ => (KeyOrigin::Id, None, 0),
            };
            out.push(EffectiveKey {
                lang: d.lang.clone(),
                key: key.clone(),
                path: d.path.clone(),
                id: Some(d.id.clone()),
                primary: i == 0,
                origin,
                source,
                line,
            });
        }
    }
    for (lang, map) in &kb.keys {
        for (key, def) in map {
            if !seen.contains(&(lang.as_str(), key.as_str())) {
                out.push(EffectiveKey {
                    lang: lang.clone(),
                    key: key.clone(),
                    path: def.path.clone(),
                    id: None,
                    primary: false,
                    origin: KeyOrigin::KeySource,
                    source: Some(def.source.clone()),
                    line: def.line,
                });
            }
        }
    }
    let rank = |l: &str| {
        kb.languages
            .iter()
            .position(|x| x == l)
            .unwrap_or(usize::MAX)
    };
    out.sort_by(|a, b| (rank(&a.lang), &a.key).cmp(&(rank(&b.lang), &b.key)));
    out
}

/// KB021 and KB022 over the keys a key source or front matter declares (keys that are ids
/// are not checked: an id is a path, and nothing declared it as a name).
fn declared_key_findings(keys: &KeyMap, documents: &[Document]) -> Vec<Finding> {
    // (lang, key) → where it is declared.
    let mut declared: BTreeMap<(&str, &str), (String, usize)> = BTreeMap::new();
    for (lang, map) in keys {
        for (key, def) in map {
            declared.insert((lang, key), (def.source.clone(), def.line.max(1)));
        }
    }
    for d in documents {
        if let Some(f) = d.fields.get("key") {
            declared
                .entry((&d.lang, &d.key))
                .or_insert_with(|| (d.full_path(), f.line));
        }
    }
    let mut out = Vec::new();
    let mut folded: BTreeMap<(&str, String), Vec<&str>> = BTreeMap::new();
    for ((lang, key), (file, line)) in &declared {
        if !crate::js::is_identifier(key) {
            out.push(Finding::warning(
                Code::KeyNotIdentifier,
                file,
                *line,
                format!(
                    "key `{key}` ({lang}) is not a JavaScript identifier: consumers must write `docs[\"{key}\"]`, not `docs.{key}`"
                ),
            ));
        }
        folded
            .entry((lang, key.to_lowercase()))
            .or_default()
            .push(key);
    }
    for ((lang, _), group) in folded {
        if group.len() < 2 {
            continue;
        }
        for key in &group {
            let (file, line) = &declared[&(lang, *key)];
            let others: Vec<String> = group
                .iter()
                .filter(|k| *k != key)
                .map(|k| format!("`{k}`"))
                .collect();
            out.push(Finding::warning(
                Code::KeyCaseCollision,
                file,
                *line,
                format!(
                    "key `{key}` ({lang}) differs only in case from {}: a consumer that mistypes the case gets `undefined`",
                    others.join(", ")
                ),
            ));
        }
    }
    out
}

/// Load the configured key map from the working tree (every key source, see [`crate::keys`]).
pub fn load_key_map(cfg: &Config) -> Result<KeyMap> {
    crate::keys::load(
        cfg,
        &cfg.content.root,
        &crate::keys::fs_reader(&cfg.base_dir),
        false,
    )
}

/// Load the content below `root` from the filesystem and build the knowledge base: with one
/// folder per language, `<root>/<lang>/**` (and the files beside the language folders, as
/// link targets); with another layout or `[content.roots]`, each language's folder
/// ([`Config::language_root`]), read as `<lang>/**`.
pub fn load_dir(cfg: &Config, root: &Path) -> Result<KnowledgeBase> {
    load_dir_with(cfg, root, &KnownHashes::default())
}

/// [`load_dir`], taking the sha256 of each asset file whose [`FileStamp`] `known` holds
/// instead of reading it (what `publish` does with the hashes of its previous run).
pub fn load_dir_with(cfg: &Config, root: &Path, known: &KnownHashes) -> Result<KnowledgeBase> {
    if !cfg.plain_folders() {
        return load_roots(cfg, root, known);
    }
    let meta = std::fs::metadata(root).map_err(|e| Error::io("read content root", root, e))?;
    if !meta.is_dir() {
        return Err(Error::Content {
            path: root.to_path_buf(),
            message: "the content root is not a directory".into(),
        });
    }
    let canon_root = root
        .canonicalize()
        .map_err(|e| Error::io("resolve", root, e))?;
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    let mut all = BTreeSet::new();
    for lang in &cfg.content.languages {
        let dir = root.join(lang);
        if !dir.is_dir() {
            return Err(Error::Content {
                path: dir,
                message: format!(
                    "language folder `{lang}` is missing (content.languages lists it)"
                ),
            });
        }
        walk(&canon_root, &dir, lang, &mut paths, &mut all)?;
    }
    // Shared assets outside the language folders (images, downloads) are link targets too.
    let entries = std::fs::read_dir(root).map_err(|e| Error::io("read directory", root, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", root, e))?;
        let Some(name) = entry.file_name().to_str().map(String::from) else {
            continue;
        };
        if name.starts_with('.') || cfg.content.languages.contains(&name) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let mut ignored = Vec::new();
            walk(&canon_root, &path, &name, &mut ignored, &mut all)?;
        } else {
            all.insert(name);
        }
    }
    let files = read_documents(&paths)?;
    let keys = load_key_map(cfg)?;
    let mut kb = build(cfg, files, all, &keys)?;
    let (assets, problems) = load_assets(
        cfg,
        &|rel: &str| (root.to_path_buf(), rel.len()),
        &kb.files,
        known,
    )?;
    if !problems.is_empty() {
        kb.problems.extend(problems);
        kb.problems.sort();
    }
    kb.assets = assets;
    Ok(kb)
}

/// Read the document files among `paths` (`rel` → file), in parallel; an unreadable one is an
/// error naming it.
fn read_documents(paths: &[(String, PathBuf)]) -> Result<Vec<SourceFile>> {
    paths
        .par_iter()
        .filter(|(rel, _)| is_document_name(rel))
        .map(|(rel, p)| {
            crate::fsx::read(p)
                .map(|bytes| SourceFile {
                    path: rel.clone(),
                    bytes,
                })
                .map_err(|e| Error::io("read", p, e))
        })
        .collect()
}

/// The assets of a content folder: every file [`Classifier::classify`] calls an asset, hashed
/// in parallel, each streamed through a 64 KiB buffer (never read whole). A symbolic link
/// (KB054) or a file over `[content] max_asset_size` (KB052, not read at all) is a finding
/// and not an asset. A file whose stamp `known` holds is not read: its recorded hash is taken.
/// `folder_of(rel)` is the folder a path relative to the content root is read below and the
/// length of the path's part inside it (the whole path with one folder per language; the part
/// after `<lang>/` with per-language folders). `git::load_changed_worktree` hashes the work
/// tree's changed assets with it, as a whole load would.
pub fn load_assets(
    cfg: &Config,
    folder_of: &(dyn Fn(&str) -> (PathBuf, usize) + Sync),
    files: &BTreeSet<String>,
    known: &KnownHashes,
) -> Result<(Vec<Asset>, Vec<Finding>)> {
    let classifier = Classifier::new(cfg)?;
    let max = cfg.content.max_asset_size();
    let paths: Vec<&String> = files
        .iter()
        .filter(|p| classifier.classify(p) == FileClass::Asset)
        .collect();
    let results: Vec<Result<std::result::Result<Asset, Finding>>> = paths
        .par_iter()
        .map(|rel| {
            let (root, inside) = folder_of(rel);
            let rel_in = &rel[rel.len() - inside..];
            let source = root.join(rel_in);
            let linked = std::fs::symlink_metadata(&source)
                .map_err(|e| Error::io("stat", &source, e))?
                .file_type()
                .is_symlink()
                || rel_in
                    .match_indices('/')
                    .any(|(i, _)| std::fs::symlink_metadata(root.join(&rel_in[..i])).is_ok_and(|m| m.file_type().is_symlink()));
            if linked {
                return Ok(Err(Finding::error(
                    Code::SymlinkedAsset,
                    rel,
                    1,
                    "the asset is a symbolic link (or inside one); store the file itself: a release holds files, never links".into(),
                )));
            }
            let (file, size) =
                crate::fsx::open_regular(&source).map_err(|e| Error::io("read", &source, e))?;
            if size > max {
                return Ok(Err(Finding::error(
                    Code::AssetTooLarge,
                    rel,
                    1,
                    format!(
                        "the asset holds {size} bytes, more than `[content] max_asset_size` ({max}); shrink it, exclude it, or raise the limit"
                    ),
                )));
            }
            let stamp = file.metadata().ok().and_then(|m| FileStamp::of(&m));
            let recorded = stamp
                .as_ref()
                .filter(|s| s.size == size)
                .and_then(|s| known.get(rel, s));
            let (sha256, len) = match recorded {
                Some(sha) => (sha.to_string(), size),
                // Bounded even if the file grows meanwhile: the limit plus one byte tells.
                None => crate::hash::sha256_reader(std::io::Read::take(file, max + 1))
                    .map_err(|e| Error::io("read", &source, e))?,
            };
            if len > max {
                return Ok(Err(Finding::error(
                    Code::AssetTooLarge,
                    rel,
                    1,
                    format!("the asset grew past `[content] max_asset_size` ({max}) while it was read"),
                )));
            }
            Ok(Ok(Asset {
                path: (*rel).clone(),
                sha256,
                size: len,
                source: AssetSource::File(source),
                declared: classifier.in_asset_dir(rel),
                stamp,
            }))
        })
        .collect();
    let mut assets = Vec::new();
    let mut problems = Vec::new();
    for r in results {
        match r? {
            Ok(a) => assets.push(a),
            Err(f) => problems.push(f),
        }
    }
    Ok((assets, problems))
}

/// [`load_dir`] for per-language folders: each is walked as `<lang>/…`, leaving out the
/// folders of the other languages below it, the registry, `node_modules` and dot-folders.
fn load_roots(cfg: &Config, root: &Path, known: &KnownHashes) -> Result<KnowledgeBase> {
    let roots = cfg.language_roots(root);
    let registry = cfg.registry_dir();
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    let mut all = BTreeSet::new();
    for (lang, lexical_dir) in &roots {
        let dir = if lexical_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            lexical_dir.clone()
        };
        if !dir.is_dir() {
            return Err(Error::Content {
                path: dir,
                message: format!(
                    "the folder of language `{lang}` is missing (content.layout {:?}{})",
                    cfg.content.layout,
                    if cfg.content.roots.contains_key(lang) {
                        format!(", content.roots.{lang}")
                    } else {
                        String::new()
                    }
                ),
            });
        }
        let canon = dir
            .canonicalize()
            .map_err(|e| Error::io("resolve", &dir, e))?;
        let mut skip: Vec<PathBuf> = roots
            .iter()
            .filter(|(l, d)| l != lang && d.starts_with(lexical_dir) && d != lexical_dir)
            .filter_map(|(_, d)| d.canonicalize().ok())
            .collect();
        skip.extend(registry.canonicalize().ok());
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        walk_skipping(&canon, &dir, lang, &skip, &mut found, &mut seen)?;
        // kbrel's own files may sit in a language folder that is the project folder.
        let own: Vec<PathBuf> = [
            cfg.base_dir.join(crate::config::CONFIG_FILE),
            cfg.changelog_path(),
            cfg.baseline_path(),
        ]
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
        found.retain(|(rel, p)| {
            let mine = p.canonicalize().is_ok_and(|c| own.contains(&c));
            if mine {
                seen.remove(rel);
            }
            !mine
        });
        all.extend(seen);
        paths.extend(found);
    }
    let files = read_documents(&paths)?;
    let keys = load_key_map(cfg)?;
    let mut kb = build(cfg, files, all, &keys)?;
    let folder_of = |rel: &str| {
        let (lang, rest) = rel.split_once('/').unwrap_or(("", rel));
        let dir = roots
            .iter()
            .find(|(l, _)| l == lang)
            .map_or_else(|| root.to_path_buf(), |(_, d)| d.clone());
        (dir, rest.len())
    };
    let (assets, problems) = load_assets(cfg, &folder_of, &kb.files, known)?;
    if !problems.is_empty() {
        kb.problems.extend(problems);
        kb.problems.sort();
    }
    kb.assets = assets;
    Ok(kb)
}

/// Whether a folder met while walking a language folder belongs to something else: another
/// language's folder, the registry, `node_modules`.
fn skipped_folder(path: &Path, name: &str, skip: &[PathBuf]) -> bool {
    name == "node_modules"
        || (!skip.is_empty() && path.canonicalize().is_ok_and(|c| skip.contains(&c)))
}

fn walk(
    canon_root: &Path,
    dir: &Path,
    rel: &str,
    out: &mut Vec<(String, PathBuf)>,
    all: &mut BTreeSet<String>,
) -> Result<()> {
    walk_skipping(canon_root, dir, rel, &[], out, all)
}

fn walk_skipping(
    canon_root: &Path,
    dir: &Path,
    rel: &str,
    skip: &[PathBuf],
    out: &mut Vec<(String, PathBuf)>,
    all: &mut BTreeSet<String>,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("read directory", dir, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io("read directory", dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::Content {
                path: entry.path(),
                message: "file name is not valid UTF-8".into(),
            });
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child = format!("{rel}/{name}");
        let ft = entry.file_type().map_err(|e| Error::io("stat", &path, e))?;
        let target_is_dir = if ft.is_symlink() {
            let target = path
                .canonicalize()
                .map_err(|e| Error::io("resolve symlink", &path, e))?;
            if !target.starts_with(canon_root) {
                return Err(Error::Content {
                    path,
                    message: format!(
                        "symlink points outside the content root (to `{}`); refusing to follow it",
                        target.display()
                    ),
                });
            }
            target.is_dir()
        } else {
            ft.is_dir()
        };
        if target_is_dir {
            if skipped_folder(&path, name, skip) {
                continue;
            }
            walk_skipping(canon_root, &path, &child, skip, out, all)?;
        } else if ft.is_file() || ft.is_symlink() {
            all.insert(child.clone());
            out.push((child, path));
        } else {
            // A FIFO would block the read forever, a device could be read without end.
            return Err(Error::Content {
                path,
                message: format!(
                    "is {}, not a regular file; kbrel reads only regular files and folders in the content tree (remove it)",
                    crate::fsx::entry_kind(&entry).describe()
                ),
            });
        }
    }
    Ok(())
}

/// Resolve `target` relative to the folder of `from` (both `/`-separated, relative to the
/// content root). `None` when it climbs above the root.
pub fn resolve_relative(from: &str, target: &str) -> Option<String> {
    let base = from.rsplit_once('/').map_or("", |(d, _)| d);
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for comp in Path::new(target).components() {
        match comp {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.join("/"))
}

/// The manifest entries of every document, in the knowledge base's order (built in parallel).
pub fn manifest_docs(cfg: &Config, kb: &KnowledgeBase) -> Vec<ManifestDoc> {
    use rayon::prelude::*;
    let keyed_only = cfg.bundle.documents == crate::config::BundleDocuments::Keyed;
    kb.documents
        .par_iter()
        .map(|d| manifest_doc(d, keyed_only))
        .collect()
}

/// [`manifest_docs`] of documents needed no more: each one's fields move into its entry rather
/// than being copied, and its text comes back beside it, by sha256.
pub fn into_manifest_docs(
    cfg: &Config,
    documents: Vec<Document>,
) -> (Vec<ManifestDoc>, Vec<(String, String)>) {
    let keyed_only = cfg.bundle.documents == crate::config::BundleDocuments::Keyed;
    documents
        .into_iter()
        .map(|d| {
            let (size, bundled) = (d.size(), !keyed_only || d.keyed);
            let doc = ManifestDoc {
                id: d.id,
                lang: d.lang,
                path: d.path,
                key: d.key,
                aliases: d.aliases,
                bundled,
                title: d.title,
                url: d.url,
                sha256: d.sha256.clone(),
                size,
            };
            (doc, (d.sha256, d.text))
        })
        .unzip()
}

fn manifest_doc(d: &Document, keyed_only: bool) -> ManifestDoc {
    ManifestDoc {
        id: d.id.clone(),
        lang: d.lang.clone(),
        path: d.path.clone(),
        key: d.key.clone(),
        aliases: d.aliases.clone(),
        bundled: !keyed_only || d.keyed,
        title: d.title.clone(),
        url: d.url.clone(),
        sha256: d.sha256.clone(),
        size: d.size(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs() -> Vec<String> {
        vec!["en".into(), "zh".into()]
    }

    #[test]
    fn slug_drops_language_and_query() {
        assert_eq!(
            url_slug("https://docs.x.com/en/kb/rum/faq?nav=1", &langs()).as_deref(),
            Some("kb/rum/faq")
        );
        assert_eq!(
            url_slug("https://docs.x.com/zh/kb/rum/faq", &langs()).as_deref(),
            Some("kb/rum/faq")
        );
        assert_eq!(url_slug("/en/a/b/", &langs()).as_deref(), Some("a/b"));
        assert_eq!(url_slug("https://x.com/", &langs()), None);
    }

    #[test]
    fn nfc_stable_ranges_match_the_unicode_tables() {
        use unicode_normalization::char::canonical_combining_class;
        for &(lo, hi) in &NFC_STABLE {
            for c in lo..=hi {
                assert_eq!(canonical_combining_class(c), 0, "{c:?}");
                assert_eq!(
                    unicode_normalization::is_nfc_quick(std::iter::once(c)),
                    unicode_normalization::IsNormalized::Yes,
                    "{c:?} U+{:04X}",
                    c as u32
                );
            }
        }
        // Mixed text still takes the full path where it must.
        assert!(is_nfc("中文，English — café"));
        assert!(!is_nfc("cafe\u{301}"));
        assert!(!is_nfc("\u{2000}"), "EN QUAD decomposes to EN SPACE");
        assert!(
            !is_nfc("\u{f900}"),
            "a CJK compatibility ideograph is not NFC"
        );
    }

    #[test]
    fn nfc_stable_bytes_match_the_ranges() {
        let stable = |c: char| NFC_STABLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                all_nfc_stable(c.encode_utf8(&mut [0; 4])),
                stable(c),
                "U+{:04X}",
                c as u32
            );
            // Within ASCII runs too (the eight-byte steps).
            let text = format!("0123456789{c}abcdefghijk");
            assert_eq!(
                all_nfc_stable(&text),
                stable(c),
                "U+{:04X} in text",
                c as u32
            );
        }
    }

    #[test]
    fn normalize_bom_crlf_nfc_not_nfkc() {
        // e + combining acute → é (NFC); full-width comma stays (NFKC would make it ',').
        let s = "\u{feff}cafe\u{301}\r\n，好\r\n";
        assert_eq!(normalize(s), "caf\u{e9}\n，好\n");
    }

    #[test]
    fn flat_front_matter_takes_only_what_yaml_reads_as_strings() {
        let m = flat_front_matter(
            "title: \"采集器: 告警\"\ndate: 2026-05-02\nurl: https://x.com/en/a#b\nkey: A-b_1\n\n",
        )
        .expect("flat");
        assert_eq!(m["title"], "采集器: 告警");
        assert_eq!(m["date"], "2026-05-02");
        assert_eq!(m["url"], "https://x.com/en/a#b");
        let yaml = "sidebar_position: 3\ntags: [ops, on-call]\nnone: [ ]\none: [ x_1 ]\n";
        let m = flat_front_matter(yaml).expect("flat");
        assert_eq!(
            serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap(),
            serde_json::Value::Object(m.clone())
        );
        assert_eq!(m["sidebar_position"], 3);
        assert_eq!(m["tags"], serde_json::json!(["ops", "on-call"]));
        assert_eq!(m["none"], serde_json::json!([]));
        for other in [
            "a: 1.0\n",
            "a: yes\n",
            "a: ~\n",
            "a: b: c\n",
            "a: b #c\n",
            "a: 'it''s'\n",
            "a: \"x\\ny\"\n",
            "a: [1]\n",
            "a: 012\n",
            "a: -1\n",
            "a: [x, yes]\n",
            "a: [x, [y]]\n",
            "a:\n  - x\n",
            "# c\na: b\n",
            "a: b\na: c\n",
            "a:b\n",
            "a: |\n  x\n",
            "true: x\n",
        ] {
            assert_eq!(flat_front_matter(other), None, "{other:?}");
        }
        let long_key = format!("{}: x\n", "k".repeat(1025));
        assert!(serde_saphyr::from_str::<serde_json::Value>(&long_key).is_err());
        assert_eq!(flat_front_matter(&long_key), None);
    }

    proptest::proptest! {
        /// Whatever the fast path accepts, the YAML parser reads the same way.
        #[test]
        fn flat_front_matter_agrees_with_the_yaml_parser(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "title", "description", "date", "url", "key", "id", "Null", "True",
                        "a-b", "x_y", "k k", " t", "t ",
                    ]),
                    proptest::sample::select(vec![": ", ":", ":  ", " : ", ":\t", ": \t"]),
                    proptest::collection::vec(
                        proptest::sample::select(vec![
                            "word", "两个字", " ", "#", " #", ": ", ":", "\"", "'", "\\", "1",
                            "2026-05-02", "2026-13-45", "yes", "No", "~", ".inf", "inf", "NaN",
                            "0x1f", "-", "[a]", "{b}", "&x", "*y", "!t", "|", ">", "%", "@",
                            "`", "\u{85}", "\u{2028}", "\t", "?", ",", "<<", "https://a/b",
                            "0", "12", "007", "[a, b]", "[ops, on-call]", "[]", "[ x ]", "[a,b]",
                            "[yes]", "[a,]", "b]", "[1]", "-1", "1_0", "99999999999999999999",
                        ]),
                        0..5,
                    ),
                ),
                0..5,
            )
        ) {
            let yaml: String = lines
                .iter()
                .map(|(k, sep, v)| format!("{k}{sep}{}\n", v.concat()))
                .collect();
            if let Some(m) = flat_front_matter(&yaml) {
                let parsed = serde_saphyr::from_str::<serde_json::Value>(&yaml);
                proptest::prop_assert!(
                    matches!(&parsed, Ok(serde_json::Value::Object(p)) if *p == m),
                    "{yaml:?}: fast {m:?}, parser {parsed:?}"
                );
            }
        }
    }

    #[test]
    fn raw_fields_keep_verbatim_text() {
        let f = raw_fields("title: A\nversion: 1.10\ntags:\n  - a\n  - b\n", 2);
        assert_eq!(f["version"].raw, "1.10");
        assert_eq!(f["tags"].raw, "- a\n  - b");
        assert_eq!(f["tags"].line, 4);
    }

    #[test]
    fn body_and_fields_of_text() {
        let t = "---\ntitle: A\ntags:\n  - x\n---\nbody\n";
        assert_eq!(raw_front_matter(t)["tags"].raw, "- x");
        assert_eq!(body_of(t), "body\n");
        assert_eq!(body_of("plain\n"), "plain\n");
    }

    #[test]
    fn relative_links_resolve() {
        assert_eq!(
            resolve_relative("en/commands/publish.md", "../configuration.md").as_deref(),
            Some("en/configuration.md")
        );
        assert_eq!(resolve_relative("en/a.md", "../../x.md"), None);
    }
}

/// Issue #21, class 9: front-matter values that pair or identify documents are the author's
/// text, whatever YAML would re-type them into.
#[cfg(test)]
mod identity_text_tests {
    use super::*;

    fn parsed(pairing: Pairing, front_matter: &str) -> Document {
        let mut cfg = Config::default_for("t", Path::new("."));
        cfg.content.pairing = pairing;
        let text = format!("---\n{front_matter}\n---\n# Body\n");
        let (doc, findings) =
            parse_document(&cfg, "en", "a/b.md", text.into_bytes(), &BTreeMap::new());
        assert!(
            findings
                .iter()
                .all(|f| f.severity != crate::findings::Severity::Error),
            "{front_matter}: {findings:?}"
        );
        doc.expect("a document")
    }

    /// Every scalar YAML reads as something other than its text: floats with trailing zeros,
    /// integers with leading zeros, octal and hex, exponents, booleans of YAML 1.1 and 1.2,
    /// infinities, dates and times. Each must come back exactly as written, as id, key, url
    /// and title, unquoted or with a trailing comment; quoted, it was text all along.
    #[test]
    fn identity_fields_keep_the_authors_text() {
        let values = [
            "1.10",
            "1.0",
            "01",
            "007",
            "0o17",
            "0x1F",
            "0b101",
            "1e3",
            "-0",
            "+12",
            ".5",
            "1_000",
            "true",
            "False",
            "yes",
            "NO",
            "on",
            "Off",
            "2024-01-01",
            "2024-01-01 10:00:00",
            "2024-01-01T10:00:00Z",
            "12:30",
            "10.20.30",
        ];
        for v in values {
            for (written, pairing) in [
                (format!("id: {v}"), Pairing::FrontMatterId),
                (format!("id: {v} # the id"), Pairing::FrontMatterId),
                (format!("id: \"{v}\""), Pairing::FrontMatterId),
                (format!("id: '{v}'"), Pairing::FrontMatterId),
            ] {
                let d = parsed(pairing, &written);
                assert_eq!(d.id, v, "{written}");
            }
            let d = parsed(
                Pairing::FrontMatterId,
                &format!("title: {v}\nkey: {v}\nurl: {v}\ndescription: {v}"),
            );
            assert_eq!(
                (d.title.as_deref(), d.key.as_str(), d.url.as_deref()),
                (Some(v), v, Some(v)),
                "{v}"
            );
            assert_eq!(d.description.as_deref(), Some(v), "{v}");
        }
        // A url that YAML reads as a number pairs by its own text.
        let d = parsed(Pairing::FrontMatterUrl, "url: /en/2.10");
        assert_eq!(d.id, "2.10");
    }

    /// Unquoted `1.10` in one language and quoted `"1.10"` in the other are one id.
    #[test]
    fn quoted_and_unquoted_ids_pair() {
        let a = parsed(Pairing::FrontMatterId, "id: 1.10\ntitle: 2.0");
        let b = parsed(Pairing::FrontMatterId, "id: \"1.10\"\ntitle: \"2.0\"");
        assert_eq!((a.id, a.title), (b.id, b.title));
    }

    /// A null is no value (as lint's required-field check reads it): the path is the id.
    #[test]
    fn a_null_id_is_no_id() {
        for null in ["id:", "id: ~", "id: null", "id: Null", "id: NULL"] {
            assert_eq!(parsed(Pairing::FrontMatterId, null).id, "a/b", "{null}");
        }
    }
}
