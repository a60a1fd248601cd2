//! The npm tarball: `package.json`, README, `docs/`, ESM and IIFE bundles, `manifest.json`;
//! deterministic headers as `npm pack` writes them, parallel gzip, integrity strings; and a
//! hardened unpack (size caps, no links, no paths outside `package/`).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use rayon::prelude::*;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::content::Document;
use crate::error::{CoreError, Error, PackageError, Result};
use crate::hash::hex;

/// `npm pack`'s fixed mtime: 1985-10-26T08:15:00Z.
pub const NPM_MTIME: u64 = 499_162_500;
/// Uncompressed tar bytes compressed independently per chunk (fixed, so output is
/// deterministic whatever the number of threads).
const GZIP_CHUNK: usize = 1 << 20;

mod mirror;
mod readback;

pub use readback::Written;

/// The package format this build writes: the same files, in another order, compressed
/// differently. Format 1: the ESM bundles, the IIFE bundles, then `docs/` sorted by path,
/// every chunk deflated by zlib. Format 2: per language its ESM and IIFE bundles then its
/// `docs/` in bundle-key order, and the bundles coded with the matches zlib found in `docs/`
/// (see [`mirror`]): about 12 % less CPU for a 1.5 % larger tarball. A release records its
/// format (manifest.json) so that it can be rebuilt byte for byte.
/// Format 3 adds TypeScript declarations (`dist/esm/<lang>.d.ts` with the literal union of the
/// bundle's keys, `dist/iife/<lang>.d.ts` declaring the global) after `docs/`, and
/// package.json `types` and conditional `exports` with the deep `./dist/…` and `./docs/…`
/// paths.
/// Format 4 adds, per language after the declarations and only when configured (both are off
/// by default: each is one more copy of every document), bundles apps use as they are: with
/// `[bundle] meta`, the `{ meta, body }` bundle (`dist/esm/<lang>.meta.js`: the front matter
/// parsed, the body without it) and, with `[bundle] lazy`, a lazy index
/// (`dist/esm/<lang>/index.js`: `key → () => import("./doc/<sha>.js")`) and one small module
/// per document text (see [`lazy_entries`]), each typed; and their package.json `exports`.
/// Format 4 adds the assets (images, PDFs… [`crate::content::Asset`]) as `docs/<path>` after
/// everything else, streamed from their files, already-compressed formats as stored deflate
/// blocks ([`is_stored`]); the manifest lists them (`assets`).
/// Format 4 also writes the release's CHANGELOG.md section with bundle keys, changed titles
/// and the sections that changed inside each document ([`crate::changelog::detailed_in`]).
pub const FORMAT: u32 = 4;

/// `format` is one this build can write ([`FORMAT`] or an older one).
pub fn check_format(format: u32) -> Result<()> {
    if (1..=FORMAT).contains(&format) {
        Ok(())
    } else {
        Err(PackageError::UnknownFormat {
            format,
            newest: FORMAT,
        }
        .into())
    }
}

/// Index of the first byte at or after `from` that [`push_js_string`] may have to escape
/// (`"`, `\\`, `<`, a control character or 0xE2, the lead byte of U+2028/U+2029), or
/// `bytes.len()`. Eight bytes at a time: the bit tricks below only say whether a word holds
/// such a byte, so a word that does is scanned byte by byte.
fn next_special(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let special = |b: u8| matches!(b, b'"' | b'\\' | b'<' | 0..=0x1f | 0xe2);
    let mut i = from;
    while i + 8 <= bytes.len() {
        let w = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"));
        let hit = (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
            | has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            | has_zero(w ^ (ONES * u64::from(b'<')))
            | has_zero(w ^ (ONES * 0xe2));
        if hit != 0 {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !special(bytes[i]) {
        i += 1;
    }
    i
}

/// The escape [`push_js_string`] writes for the special byte at `i` and the number of input
/// bytes it replaces, or `None` when the byte stands for itself.
fn js_escape(bytes: &[u8], i: usize) -> Option<(&'static str, usize)> {
    const CONTROL: [&str; 32] = [
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\u0008", "\\t", "\\n", "\\u000b", "\\u000c", "\\r", "\\u000e", "\\u000f", "\\u0010",
        "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018",
        "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    ];
    match bytes[i] {
        b'"' => Some(("\\\"", 1)),
        b'\\' => Some(("\\\\", 1)),
        b'<' if matches!(bytes.get(i + 1), Some(b'/') | Some(b'!')) => Some(("\\u003c", 1)),
        b @ 0..=0x1f => Some((CONTROL[usize::from(b)], 1)),
        0xe2 if bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
        {
            Some((
                if bytes[i + 2] == 0xa8 {
                    "\\u2028"
                } else {
                    "\\u2029"
                },
                3,
            ))
        }
        _ => None,
    }
}

/// Append `s` as a double-quoted JavaScript string literal that is safe in any context:
/// JSON-compatible escapes, plus U+2028/U+2029 and `</` / `<!--` escaped so the bundle can be
/// inlined in a `<script>` element.
pub fn push_js_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    loop {
        i = next_special(bytes, i);
        if i == bytes.len() {
            break;
        }
        match js_escape(bytes, i) {
            Some((esc, n)) => {
                // `i` is at an ASCII byte or the lead byte of a character: a char boundary.
                out.push_str(&s[start..i]);
                out.push_str(esc);
                i += n;
                start = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Append `key` as a property name of an object literal that always makes an own property:
/// a string literal, except `__proto__`, which as a plain (or quoted) name would set the
/// object's prototype instead (ECMAScript § 13.2.5.1): it is written computed, `["__proto__"]`.
pub fn push_js_key(out: &mut String, key: &str) {
    if key == "__proto__" {
        out.push('[');
        push_js_string(out, key);
        out.push(']');
    } else {
        push_js_string(out, key);
    }
}

/// Length of [`push_js_key`]'s output for `key`.
pub fn js_key_len(key: &str) -> usize {
    js_string_len(key) + if key == "__proto__" { 2 } else { 0 }
}

/// The statements that add a bundle object's aliases (extra keys naming a document already in
/// it) as own, enumerable properties, whatever the key (`__proto__` included): `target` is the
/// object's variable. Empty without aliases.
pub fn alias_statements(target: &str, aliases: &[(String, String)], indent: &str) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut list = String::from("[");
    for (i, (alias, key)) in aliases.iter().enumerate() {
        list.push_str(if i == 0 { "\n" } else { ",\n" });
        list.push_str(indent);
        list.push_str("  [");
        push_js_string(&mut list, alias);
        list.push_str(", ");
        push_js_string(&mut list, key);
        list.push(']');
    }
    list.push('\n');
    list.push_str(indent);
    list.push(']');
    format!(
        "{indent}{list}.forEach(function (a) {{\n{indent}  Object.defineProperty({target}, a[0], {{ value: {target}[a[1]], enumerable: true, writable: true, configurable: true }});\n{indent}}});\n"
    )
}

/// Length of [`push_js_string`]'s output for `s`, without building it.
pub fn js_string_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let (mut n, mut i) = (2 + bytes.len(), 0);
    loop {
        i = next_special(bytes, i);
        if i == bytes.len() {
            return n;
        }
        match js_escape(bytes, i) {
            Some((esc, used)) => {
                n = n + esc.len() - used;
                i += used;
            }
            None => i += 1,
        }
    }
}

/// A language's bundle object `{ "<key>": "<markdown>", … }`, sorted by key. It is never held
/// in memory whole: bytes are rendered on demand, a document at a time, while compressing.
pub struct BundleBody<'a> {
    /// (key, text) of each entry, in key order.
    entries: Vec<(&'a str, &'a str)>,
    /// The document of each entry.
    documents: Vec<&'a Document>,
    /// Offset of each entry in the object.
    offsets: Vec<usize>,
    /// Offset of each entry's value, after its opening quote.
    value_starts: Vec<usize>,
    len: usize,
    /// (alias, key) of every other key of the documents, sorted: added after the object.
    aliases: Vec<(String, String)>,
    /// Whether an entry's text is not its document's (`[bundle] mdx = "markdown"`): the
    /// bundle then does not mirror `docs/` (see [`mirror`]).
    rewritten: bool,
}

impl<'a> BundleBody<'a> {
    /// Fails on a duplicate key: a key must never silently point at another document.
    pub fn new(docs: &[&'a Document]) -> Result<BundleBody<'a>> {
        BundleBody::with_texts(docs, &NO_TEXTS)
    }

    /// Like [`BundleBody::new`], with the text of each document named (by its content-root
    /// path) in `texts` replaced by the one given there.
    pub fn with_texts(
        docs: &[&'a Document],
        texts: &'a BTreeMap<String, String>,
    ) -> Result<BundleBody<'a>> {
        let mut by_key: BTreeMap<&'a str, &'a Document> = BTreeMap::new();
        for d in docs {
            if let Some(other) = by_key.insert(&d.key, d) {
                return Err(Error::from(CoreError::Content {
                    path: d.full_path().into(),
                    message: format!(
                        "bundle key `{}` is also used by `{}`",
                        d.key,
                        other.full_path()
                    ),
                }));
            }
        }
        let mut aliases: Vec<(String, String)> = Vec::new();
        for d in by_key.values() {
            aliases.extend(d.aliases.iter().map(|a| (a.clone(), d.key.clone())));
        }
        aliases.sort();
        for (i, (alias, key)) in aliases.iter().enumerate() {
            let taken = by_key
                .get(alias.as_str())
                .map(|d| d.key.clone())
                .or_else(|| {
                    (i > 0 && aliases[i - 1].0 == *alias).then(|| aliases[i - 1].1.clone())
                });
            if let Some(other) = taken {
                return Err(Error::from(CoreError::Content {
                    path: by_key[key.as_str()].full_path().into(),
                    message: format!(
                        "bundle key `{alias}` of this document is also a key of the document under `{other}`"
                    ),
                }));
            }
        }
        let documents: Vec<&Document> = by_key.into_values().collect();
        let mut rewritten = false;
        let entries: Vec<(&str, &str)> = documents
            .iter()
            .map(|d| {
                let text = if texts.is_empty() {
                    None
                } else {
                    texts.get(&d.full_path())
                };
                rewritten |= text.is_some();
                (d.key.as_str(), text.map_or(d.text.as_str(), String::as_str))
            })
            .collect();
        // Entry lengths in parallel (a scan of every text), then their running sum.
        // (length of `  "<key>": "`, of the entry)
        let lens: Vec<(usize, usize)> = entries
            .par_iter()
            .map(|(k, t)| {
                let head = 2 + js_key_len(k) + 2 + 1;
                (head, head - 1 + js_string_len(t) + 2)
            })
            .collect();
        let mut offsets = Vec::with_capacity(entries.len());
        let mut value_starts = Vec::with_capacity(entries.len());
        let mut at = 2; // "{\n"
        for (head, len) in lens {
            offsets.push(at);
            value_starts.push(at + head);
            at += len;
        }
        Ok(BundleBody {
            entries,
            documents,
            offsets,
            value_starts,
            len: at + 1,
            aliases,
            rewritten,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Offset of entry `k`'s value, after its opening quote.
    fn value_start(&self, k: usize) -> usize {
        self.value_starts[k]
    }

    fn render_entry(&self, i: usize, out: &mut String) {
        let (k, t) = self.entries[i];
        out.push_str("  ");
        push_js_key(out, k);
        out.push_str(": ");
        push_js_string(out, t);
        out.push_str(",\n");
    }

    /// Append bytes `[start, end)` of the object to `out`.
    fn copy_range(&self, start: usize, end: usize, out: &mut Vec<u8>) {
        let mut pos = start;
        if pos < 2 {
            out.extend_from_slice(&b"{\n"[pos..end.min(2)]);
            pos = 2;
        }
        let mut i = self
            .offsets
            .partition_point(|&o| o <= pos)
            .saturating_sub(1);
        let mut buf = String::new();
        while pos < end && i < self.entries.len() {
            let from = self.offsets[i];
            let to = self.offsets.get(i + 1).copied().unwrap_or(self.len - 1);
            if to > pos {
                buf.clear();
                self.render_entry(i, &mut buf);
                debug_assert_eq!(buf.len(), to - from);
                out.extend_from_slice(&buf.as_bytes()[pos - from..end.min(to) - from]);
                pos = end.min(to);
            }
            i += 1;
        }
        if pos < end && end == self.len {
            out.push(b'}');
        }
    }
}

/// The object literal `{ "<key>": "<markdown>", … }` for one language, sorted by key, as one
/// string. Fails on a duplicate key.
pub fn bundle_object(docs: &[&Document]) -> Result<String> {
    let body = BundleBody::new(docs)?;
    let mut out = Vec::with_capacity(body.len());
    body.copy_range(0, body.len(), &mut out);
    Ok(String::from_utf8(out).expect("rendered from strings"))
}

/// What a tarball holds that only the documents and the configuration decide: the ESM and
/// IIFE bundles and `docs/`, nearly all of its bytes. Known as soon as the knowledge base is
/// loaded, so [`start`] can compress it while the release is still being checked.
#[derive(Debug, Clone)]
pub struct Contents<'a> {
    pub languages: &'a [String],
    /// IIFE global per language.
    pub globals: BTreeMap<String, String>,
    pub documents: &'a [Document],
    pub gzip_level: u32,
    /// [`FORMAT`], or an older format to rebuild a release made with it.
    pub format: u32,
    /// `[bundle] documents = "keyed"`: the bundles hold only documents with a declared key
    /// (`docs/` holds every document either way).
    pub keyed_only: bool,
    /// `[bundle] meta` (format 4): the `{ meta, body }` bundles.
    pub meta: bool,
    /// `[bundle] lazy` (format 4): per-document modules and the lazy index.
    pub lazy: bool,
    /// The assets, shipped as `docs/<path>` after everything else (format 4 on; ignored by
    /// older formats). Streamed from their files when the tarball is emitted.
    pub assets: &'a [crate::content::Asset],
    /// Bundle texts that are not the document's own, by content-root path (`en/a.mdx`):
    /// `[bundle] mdx = "markdown"`'s plain-markdown forms. `docs/` keeps the source.
    pub bundle_texts: &'a BTreeMap<String, String>,
}

/// No replaced bundle text.
pub static NO_TEXTS: BTreeMap<String, String> = BTreeMap::new();

impl Contents<'_> {
    /// The assets this format ships: none before format 4.
    pub fn shipped_assets(&self) -> &[crate::content::Asset] {
        if self.format >= 4 { self.assets } else { &[] }
    }

    /// Whether `d` is in its language's bundles.
    pub fn bundles(&self, d: &Document) -> bool {
        !self.keyed_only || d.keyed
    }
}

/// What the release decides: `package.json`, the README and `manifest.json`, the first
/// entries of the tarball.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub description: &'a str,
    pub license: &'a str,
    pub repository: Option<&'a str>,
    pub source_language: &'a str,
    /// The bytes of `v/<version>/manifest.json`, shipped as `package/manifest.json`.
    pub manifest_json: &'a [u8],
    /// `[package]`'s optional package.json fields (author, homepage, …), written when set.
    pub fields: Option<&'a crate::config::PackageConfig>,
}

/// A built tarball and its integrity data.
#[derive(Debug, Clone)]
pub struct Package {
    /// Size of the `.tgz` in bytes.
    pub size: u64,
    pub sha256: String,
    pub integrity: String,
    pub shasum: String,
    pub file_count: u64,
    pub unpacked_size: u64,
    /// Entry paths in tarball order (`package/…`).
    pub files: Vec<String>,
    /// The bytes of `package/package.json` (also stored as `v/<version>/package.json`).
    pub package_json: Vec<u8>,
}

#[derive(Serialize)]
struct PackageJson<'a> {
    name: &'a str,
    version: &'a str,
    description: &'a str,
    license: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bugs: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    keywords: &'a [String],
    #[serde(rename = "type")]
    kind: &'static str,
    main: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    types: Option<String>,
    exports: Exports,
    files: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    engines: Option<&'a BTreeMap<String, String>>,
    #[serde(rename = "publishConfig", skip_serializing_if = "Option::is_none")]
    publish_config: Option<&'a BTreeMap<String, String>>,
    kbrel: PackageJsonKbrel<'a>,
}

/// package.json `exports`: paths only (formats 1 and 2), or with `types` conditions (3, 4).
#[derive(Serialize)]
#[serde(untagged)]
enum Exports {
    Paths(BTreeMap<String, String>),
    Conditional(BTreeMap<String, serde_json::Value>),
    /// Format 4: `types` first.
    Typed(BTreeMap<String, Target>),
}

/// The `exports` of format 3: `.` and `./<lang>` (ESM, with `types`), `./iife/<lang>`, the deep
/// `./dist/esm/*.js`, `./dist/iife/*.js` (with `types`) and `./dist/*`, manifest and
/// package.json. `docs/` stays private, as in the earlier formats.
fn conditional_exports(languages: &[String], src: &str) -> BTreeMap<String, serde_json::Value> {
    use serde_json::json;
    let esm = |lang: &str| {
        json!({
            "types": format!("./dist/esm/{lang}.d.ts"),
            "default": format!("./dist/esm/{lang}.js"),
        })
    };
    let mut exports = BTreeMap::new();
    exports.insert(".".to_string(), esm(src));
    for lang in languages {
        exports.insert(format!("./{lang}"), esm(lang));
        exports.insert(
            format!("./iife/{lang}"),
            json!({
                "types": format!("./dist/iife/{lang}.d.ts"),
                "default": format!("./dist/iife/{lang}.js"),
            }),
        );
    }
    exports.insert(
        "./dist/esm/*.js".into(),
        json!({ "types": "./dist/esm/*.d.ts", "default": "./dist/esm/*.js" }),
    );
    exports.insert(
        "./dist/iife/*.js".into(),
        json!({ "types": "./dist/iife/*.d.ts", "default": "./dist/iife/*.js" }),
    );
    exports.insert("./dist/*".into(), json!("./dist/*"));
    exports.insert("./manifest.json".into(), json!("./manifest.json"));
    exports.insert("./package.json".into(), json!("./package.json"));
    exports
}

/// An `exports` target of format 4: a path, or `types` then `default` (conditions match in
/// object order, and TypeScript and package linters want `types` first; format 3's
/// `serde_json` objects sort `default` first).
#[derive(Serialize)]
#[serde(untagged)]
enum Target {
    Path(String),
    Typed { types: String, default: String },
}

/// Format 4's `exports`: format 3's with `types` first, plus `./<lang>/meta` (the
/// `{ meta, body }` bundle) and, with lazy modules, `./<lang>/lazy` (the lazy index);
/// `./meta` and `./lazy` for the source language.
fn lazy_exports(
    format3: BTreeMap<String, serde_json::Value>,
    languages: &[String],
    src: &str,
    with_meta: bool,
    lazy: bool,
) -> BTreeMap<String, Target> {
    use serde_json::Value;
    let mut exports: BTreeMap<String, Target> = format3
        .into_iter()
        .map(|(k, v)| {
            let target = match v {
                Value::Object(m) => Target::Typed {
                    types: m["types"].as_str().expect("types").to_string(),
                    default: m["default"].as_str().expect("default").to_string(),
                },
                v => Target::Path(v.as_str().expect("a path").to_string()),
            };
            (k, target)
        })
        .collect();
    let meta = |lang: &str| Target::Typed {
        types: format!("./dist/esm/{lang}.meta.d.ts"),
        default: format!("./dist/esm/{lang}.meta.js"),
    };
    let index = |lang: &str| Target::Typed {
        types: format!("./dist/esm/{lang}/index.d.ts"),
        default: format!("./dist/esm/{lang}/index.js"),
    };
    if with_meta {
        exports.insert("./meta".into(), meta(src));
    }
    if lazy {
        exports.insert("./lazy".into(), index(src));
    }
    for lang in languages {
        if with_meta {
            exports.insert(format!("./{lang}/meta"), meta(lang));
        }
        if lazy {
            exports.insert(format!("./{lang}/lazy"), index(lang));
        }
    }
    exports
}

/// `dist/esm/<lang>.d.ts`: the default export typed with the literal union of the bundle's
/// keys (aliases included), so strict TypeScript rejects a misspelled key.
fn esm_declaration(lang: &str, keys: &[&str]) -> String {
    format!(
        "// Generated by kbrel: the bundle of the `{lang}` documents.\nexport type Key ={};\ndeclare const docs: {{ readonly [K in Key]: string }};\nexport default docs;\n",
        key_union(keys)
    )
}

/// `dist/iife/<lang>.d.ts`: the global the IIFE bundle sets (a script declaration: reference it
/// with `/// <reference types="<pkg>/iife/<lang>" />` or list it in tsconfig `files`).
fn iife_declaration(lang: &str, global: &str, keys: &[&str]) -> String {
    format!(
        "// Generated by kbrel: the global the IIFE bundle of the `{lang}` documents sets.\ndeclare var {global}: {{ readonly [K in{}]: string }};\n",
        key_union(keys)
    )
}

/// `\n  | "a"\n  | "b"`, or ` never` without keys.
fn key_union(keys: &[&str]) -> String {
    if keys.is_empty() {
        return " never".into();
    }
    let mut out = String::new();
    for k in keys {
        out.push_str("\n  | ");
        push_js_string(&mut out, k);
    }
    out
}

/// Every key of a bundle object, aliases included, sorted.
fn bundle_keys<'b>(obj: &'b BundleBody<'_>) -> Vec<&'b str> {
    let mut keys: Vec<&str> = obj.entries.iter().map(|(k, _)| *k).collect();
    keys.extend(obj.aliases.iter().map(|(a, _)| a.as_str()));
    keys.sort_unstable();
    keys
}

/// Append `v` as a JavaScript expression (a JSON value whose strings are written by
/// [`push_js_string`] and object keys by [`push_js_key`], so a `__proto__` field stays an own
/// property).
pub fn push_js_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_js_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_js_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{ ");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_js_key(out, k);
                out.push_str(": ");
                push_js_value(out, item);
            }
            out.push_str(" }");
        }
    }
}

/// The `meta` and `body` of a document whose bundle text is `text` (its own, or its
/// plain-markdown form, which keeps the front matter) as JavaScript expressions.
fn meta_and_body(d: &Document, text: &str) -> (String, String) {
    let mut meta = String::new();
    push_js_value(
        &mut meta,
        &serde_json::Value::Object(crate::content::front_matter_data(&d.text)),
    );
    let body_text = text.get(d.body_start..).unwrap_or(text);
    let mut body = String::with_capacity(body_text.len() + 16);
    push_js_string(&mut body, body_text);
    (meta, body)
}

/// The types of the `{ meta, body }` forms, shared by `<lang>.meta.d.ts` and the lazy index.
const DOC_TYPES: &str = "/** A document's front matter: every field as YAML reads it; the fields kbrel reads are strings. */\nexport interface Meta {\n  readonly title?: string;\n  readonly description?: string;\n  readonly date?: string;\n  readonly url?: string;\n  readonly id?: string;\n  readonly key?: string;\n  readonly [field: string]: unknown;\n}\n/** A document as apps use it: its front matter parsed, its markdown body without it. */\nexport interface Doc {\n  readonly meta: Meta;\n  readonly body: string;\n}\n";

/// How many hex digits of a document's sha256 name its lazy module (`doc/<hex>.js`).
const LAZY_NAME_HEX: usize = 16;

/// Format 4's files for one language (paths with `package/`): the `{ meta, body }` bundle
/// `dist/esm/<lang>.meta.js` and its declaration; with `lazy`, the lazy index
/// `dist/esm/<lang>/index.js` (`key → () => import("./doc/<hex>.js")`, every key of the
/// bundle, aliases included) and its declaration, then one module per distinct document
/// text, named by its sha256 (the same text, the same module; unchanged documents keep their
/// names from release to release), in name order. Documents are rendered in parallel.
fn lazy_entries(
    lang: &str,
    obj: &BundleBody<'_>,
    with_meta: bool,
    lazy: bool,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if !with_meta && !lazy {
        return Ok(out);
    }
    let rendered: Vec<(String, String)> = (obj.documents.par_iter().zip(&obj.entries))
        .map(|(d, (_, text))| meta_and_body(d, text))
        .collect();
    let keys = bundle_keys(obj);

    if with_meta {
        let mut meta_js = format!(
            "// Generated by kbrel: the `{lang}` documents as {{ meta, body }} (front matter parsed).\nconst docs = {{\n"
        );
        for ((k, _), (meta, body)) in obj.entries.iter().zip(&rendered) {
            meta_js.push_str("  ");
            push_js_key(&mut meta_js, k);
            meta_js.push_str(": { meta: ");
            meta_js.push_str(meta);
            meta_js.push_str(", body: ");
            meta_js.push_str(body);
            meta_js.push_str(" },\n");
        }
        meta_js.push_str("};\n");
        meta_js.push_str(&alias_statements("docs", &obj.aliases, ""));
        meta_js.push_str("export default docs;\n");
        out.push((
            format!("package/dist/esm/{lang}.meta.js"),
            meta_js.into_bytes(),
        ));
        out.push((
            format!("package/dist/esm/{lang}.meta.d.ts"),
            format!(
                "// Generated by kbrel: the `{lang}` documents as {{ meta, body }}.\n{DOC_TYPES}export type Key ={};\ndeclare const docs: {{ readonly [K in Key]: Doc }};\nexport default docs;\n",
                key_union(&keys)
            )
            .into_bytes(),
        ));
    }
    if !lazy {
        return Ok(out);
    }

    // Module name of each entry; one module per distinct text.
    let mut modules: BTreeMap<&str, usize> = BTreeMap::new();
    let mut names: Vec<&str> = Vec::with_capacity(obj.documents.len());
    for (i, d) in obj.documents.iter().enumerate() {
        let name = &d.sha256[..LAZY_NAME_HEX.min(d.sha256.len())];
        let first = *modules.entry(name).or_insert(i);
        if obj.documents[first].sha256 != d.sha256 {
            return Err(Error::from(CoreError::Content {
                path: d.full_path().into(),
                message: format!(
                    "its sha256 starts like the one of `{}`: the lazy module names collide",
                    obj.documents[first].full_path()
                ),
            }));
        }
        names.push(name);
    }
    let entry_of = |key: &str| obj.entries.binary_search_by(|(k, _)| (*k).cmp(key)).ok();
    let mut index = format!(
        "// Generated by kbrel: the `{lang}` documents, each imported on demand (a bundler makes one chunk per document).\nexport default {{\n"
    );
    for k in &keys {
        let i = match entry_of(k) {
            Some(i) => i,
            None => {
                let (_, target) = &obj.aliases[obj
                    .aliases
                    .binary_search_by(|(a, _)| a.as_str().cmp(k))
                    .expect("a key is an entry or an alias")];
                entry_of(target).expect("an alias names an entry")
            }
        };
        index.push_str("  ");
        push_js_key(&mut index, k);
        index.push_str(&format!(": () => import(\"./doc/{}.js\"),\n", names[i]));
    }
    index.push_str("};\n");
    out.push((
        format!("package/dist/esm/{lang}/index.js"),
        index.into_bytes(),
    ));
    out.push((
        format!("package/dist/esm/{lang}/index.d.ts"),
        format!(
            "// Generated by kbrel: the `{lang}` documents, each imported on demand.\n{DOC_TYPES}export type Key ={};\n/** What importing one document gives. */\nexport interface DocModule {{\n  readonly default: Doc;\n  readonly meta: Doc[\"meta\"];\n  readonly body: string;\n}}\ndeclare const docs: {{ readonly [K in Key]: () => Promise<DocModule> }};\nexport default docs;\n",
            key_union(&keys)
        )
        .into_bytes(),
    ));
    for (name, &i) in &modules {
        let (meta, body) = &rendered[i];
        out.push((
            format!("package/dist/esm/{lang}/doc/{name}.js"),
            format!(
                "// Generated by kbrel: one `{lang}` document.\nexport const meta = {meta};\nexport const body = {body};\nexport default {{ meta, body }};\n"
            )
            .into_bytes(),
        ));
    }
    Ok(out)
}

#[derive(Serialize)]
struct PackageJsonKbrel<'a> {
    schema_version: u32,
    languages: &'a [String],
    source_language: &'a str,
    globals: &'a BTreeMap<String, String>,
}

/// A tar entry's data: owned bytes or a shared bundle body.
enum Data<'a> {
    Owned(Vec<u8>),
    Borrowed(&'a [u8]),
    /// A bundle object wrapped in a prefix and suffix (ESM and IIFE share one object).
    Shared(Arc<BundleBody<'a>>, String, String),
}

impl Data<'_> {
    fn len(&self) -> usize {
        match self {
            Data::Owned(v) => v.len(),
            Data::Borrowed(b) => b.len(),
            Data::Shared(s, pre, post) => pre.len() + s.len() + post.len(),
        }
    }
}

/// Where [`build`] streams the `.tgz` bytes, in order.
pub type Sink<'s> = &'s mut (dyn FnMut(&[u8]) -> Result<()> + Send);

/// Build the package for one release, streaming the `.tgz` bytes to `out` as they are
/// compressed (never held whole in memory). Deterministic: same input, same bytes.
/// [`start`] and [`Started::finish`] do the same in two steps.
pub fn build(contents: &Contents<'_>, release: &Release<'_>, out: Sink<'_>) -> Result<Package> {
    std::thread::scope(|scope| Ok(start(scope, contents)?.finish(release, out)?.0))
}

/// How many chunks the workers [`start`] spawns may compress ahead of the emitter. While the
/// release is still being checked nothing is emitted, so this is also how much work is done
/// in that time at most: 64 chunks of 1 MiB, about 15 MB of compressed bytes held.
const START_AHEAD: usize = 64;

/// Start compressing the part of the tarball that [`Contents`] decides on worker threads of
/// `scope`; [`Started::finish`] adds the release's entries and streams the `.tgz`. The
/// bytes are exactly those of [`build`]: the chunk boundaries of the bundles and `docs/` do
/// not depend on what precedes them (chunks restart at every bundle object, tar entries are
/// 512-byte aligned). Dropping the result stops the workers.
pub fn start<'scope, 'a: 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    contents: &Contents<'a>,
) -> Result<Started<'a>> {
    let objects: Vec<Arc<BundleBody<'a>>> = contents
        .languages
        .iter()
        .map(|lang| {
            let docs: Vec<&Document> = contents
                .documents
                .iter()
                .filter(|d| &d.lang == lang && contents.bundles(d))
                .collect();
            BundleBody::with_texts(&docs, contents.bundle_texts).map(Arc::new)
        })
        .collect::<Result<_>>()?;
    let (entries, doc_entries) = tarball_entries(contents, &objects)?;
    let mut files: Vec<String> = entries.iter().map(|(p, _)| p.clone()).collect();
    let mut unpacked_size: u64 = entries.iter().map(|(_, d)| d.len() as u64).sum();
    let assets = contents.shipped_assets();
    for a in assets {
        files.push(format!("package/docs/{}", a.path));
        unpacked_size += a.size;
    }
    // With assets, the archive is closed after them, by `finish` (they are streamed there).
    let (mut tar, places) = write_tar(&entries, assets.is_empty())?;
    // The first bundle's header and prefix go at the end of the release's entries: what
    // follows, from the first bundle object on, is compressed now.
    let first_body = tar
        .segments
        .iter()
        .position(|s| matches!(s, Segment::Shared(_)))
        .unwrap_or(tar.segments.len());
    let lead: Vec<Segment<'a>> = tar.segments.drain(..first_body).collect();
    let lead_len = lead.iter().map(Segment::len).sum::<usize>();
    tar.total -= lead_len;
    let mirrors = if contents.gzip_level > 0 {
        objects
            .iter()
            .zip(&doc_entries)
            .filter(|(body, e)| !e.is_empty() && !body.rewritten)
            .map(|(body, e)| {
                let placed: Vec<mirror::Placed> = e
                    .iter()
                    .map(|&i| mirror::Placed {
                        header: places[i].0 - lead_len,
                        content: places[i].1 - lead_len,
                    })
                    .collect();
                let last = placed[placed.len() - 1].content + entries[e[e.len() - 1]].1.len();
                mirror::MirrorBody {
                    body: body.clone(),
                    start: placed[0].header,
                    end: last.next_multiple_of(512),
                    placed,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let plan = Arc::new(Plan::new(tar, contents.gzip_level, mirrors));
    let worker_plan = plan.clone();
    let jobs = Ordered::start(scope, plan.source.clone(), START_AHEAD, move |i| {
        worker_plan.compress(i)
    });
    Ok(Started {
        contents: contents.clone(),
        lead,
        files,
        unpacked_size,
        plan,
        jobs,
    })
}

/// The tarball's entries in archive order (the release's own entries, added by
/// [`Started::finish`], excepted) and, per language, the entry index of each of its bundle's
/// documents (format 2 and later).
#[allow(clippy::type_complexity)]
fn tarball_entries<'a>(
    contents: &Contents<'a>,
    objects: &[Arc<BundleBody<'a>>],
) -> Result<(Vec<(String, Data<'a>)>, Vec<Vec<usize>>)> {
    let esm = |lang: &str, obj: &Arc<BundleBody<'a>>| {
        let (pre, post) = if obj.aliases.is_empty() {
            ("export default ".to_string(), ";\n".to_string())
        } else {
            (
                "const docs = ".to_string(),
                format!(
                    ";\n{}export default docs;\n",
                    alias_statements("docs", &obj.aliases, "")
                ),
            )
        };
        (
            format!("package/dist/esm/{lang}.js"),
            Data::Shared(obj.clone(), pre, post),
        )
    };
    let iife = |lang: &str, obj: &Arc<BundleBody<'a>>| {
        let global = contents
            .globals
            .get(lang)
            .map(String::as_str)
            .unwrap_or("KbrelDocs");
        let end = "})(typeof globalThis !== \"undefined\" ? globalThis : this);\n";
        let (pre, post) = if obj.aliases.is_empty() {
            (
                format!("(function (g) {{\n  g[\"{global}\"] = "),
                format!(";\n{end}"),
            )
        } else {
            (
                format!("(function (g) {{\n  var d = g[\"{global}\"] = "),
                format!(";\n{}{end}", alias_statements("d", &obj.aliases, "  ")),
            )
        };
        (
            format!("package/dist/iife/{lang}.js"),
            Data::Shared(obj.clone(), pre, post),
        )
    };
    let doc = |d: &'a Document| {
        (
            format!("package/docs/{}/{}", d.lang, d.path),
            Data::Borrowed(d.text.as_bytes()),
        )
    };
    let mut entries: Vec<(String, Data<'a>)> = Vec::new();
    let mut doc_entries: Vec<Vec<usize>> = Vec::new();
    if contents.format >= 2 {
        // Each language's bundles, then its documents in bundle order: `docs/` is compressed
        // with the bundles' matches, and each chunk is held only until both are emitted.
        for (lang, obj) in contents.languages.iter().zip(objects) {
            entries.push(esm(lang, obj));
            entries.push(iife(lang, obj));
            let at = entries.len();
            entries.extend(obj.documents.iter().map(|d| doc(d)));
            doc_entries.push((at..entries.len()).collect());
            // Documents the bundles leave out (`documents = "keyed"`), by path.
            entries.extend(
                contents
                    .documents
                    .iter()
                    .filter(|d| &d.lang == lang && !contents.bundles(d))
                    .map(doc),
            );
        }
        let others = contents.documents.iter();
        entries.extend(
            others
                .filter(|d| !contents.languages.contains(&d.lang))
                .map(doc),
        );
        if contents.format >= 3 {
            for (lang, obj) in contents.languages.iter().zip(objects) {
                let keys = bundle_keys(obj);
                let global = contents
                    .globals
                    .get(lang)
                    .map(String::as_str)
                    .unwrap_or("KbrelDocs");
                entries.push((
                    format!("package/dist/esm/{lang}.d.ts"),
                    Data::Owned(esm_declaration(lang, &keys).into_bytes()),
                ));
                entries.push((
                    format!("package/dist/iife/{lang}.d.ts"),
                    Data::Owned(iife_declaration(lang, global, &keys).into_bytes()),
                ));
            }
        }
        if contents.format >= 4 {
            for (lang, obj) in contents.languages.iter().zip(objects) {
                entries.extend(
                    lazy_entries(lang, obj, contents.meta, contents.lazy)?
                        .into_iter()
                        .map(|(p, b)| (p, Data::Owned(b))),
                );
            }
        }
    } else {
        for (lang, obj) in contents.languages.iter().zip(objects) {
            entries.push(esm(lang, obj));
        }
        for (lang, obj) in contents.languages.iter().zip(objects) {
            entries.push(iife(lang, obj));
        }
        entries.extend(contents.documents.iter().map(doc));
    }
    Ok((entries, doc_entries))
}

/// A tarball whose bundles and `docs/` are being compressed: see [`start`].
pub struct Started<'a> {
    contents: Contents<'a>,
    /// Header and prefix of the first bundle, emitted after the release's entries.
    lead: Vec<Segment<'a>>,
    /// Paths and total size of the entries started.
    files: Vec<String>,
    unpacked_size: u64,
    plan: Arc<Plan<'a>>,
    jobs: Ordered,
}

impl<'a> Started<'a> {
    /// Compress the release's entries (`package.json`, README, `manifest.json`) and stream the
    /// whole `.tgz` to `out` in order, as the workers finish the rest.
    /// Also returns what was written, for the read-back ([`Written::check`]).
    pub fn finish(self, release: &Release<'_>, out: Sink<'_>) -> Result<(Package, Written<'a>)> {
        let Started {
            contents,
            lead,
            files: rest_files,
            unpacked_size: rest_unpacked,
            plan,
            jobs,
        } = self;
        let src = release.source_language;
        let exports = if contents.format >= 3 {
            let exports = conditional_exports(contents.languages, src);
            if contents.format >= 4 {
                Exports::Typed(lazy_exports(
                    exports,
                    contents.languages,
                    src,
                    contents.meta,
                    contents.lazy,
                ))
            } else {
                Exports::Conditional(exports)
            }
        } else {
            let mut exports = BTreeMap::new();
            exports.insert(".".to_string(), format!("./dist/esm/{src}.js"));
            for lang in contents.languages {
                exports.insert(format!("./{lang}"), format!("./dist/esm/{lang}.js"));
                exports.insert(format!("./iife/{lang}"), format!("./dist/iife/{lang}.js"));
            }
            exports.insert("./manifest.json".into(), "./manifest.json".into());
            exports.insert("./package.json".into(), "./package.json".into());
            Exports::Paths(exports)
        };
        let f = release.fields;
        let default_files = crate::config::PACKAGE_TOP_LEVEL.map(String::from);
        let pj = PackageJson {
            name: release.name,
            version: release.version,
            description: release.description,
            license: release.license,
            repository: release.repository,
            author: f.and_then(|f| f.author.as_deref()),
            homepage: f.and_then(|f| f.homepage.as_deref()),
            bugs: f.and_then(|f| f.bugs.as_deref()),
            keywords: f.map_or(&[], |f| f.keywords.as_slice()),
            kind: "module",
            main: format!("./dist/esm/{src}.js"),
            types: (contents.format >= 3).then(|| format!("./dist/esm/{src}.d.ts")),
            exports,
            files: f
                .map(|f| f.files.as_slice())
                .filter(|f| !f.is_empty())
                .unwrap_or(&default_files),
            engines: f.map(|f| &f.engines).filter(|e| !e.is_empty()),
            publish_config: f.map(|f| &f.publish_config).filter(|e| !e.is_empty()),
            kbrel: PackageJsonKbrel {
                schema_version: crate::manifest::SCHEMA_VERSION,
                languages: contents.languages,
                source_language: src,
                globals: &contents.globals,
            },
        };
        let package_json = crate::manifest::to_json_bytes(&pj);
        let entries = [
            (
                "package/package.json".to_string(),
                Data::Borrowed(&package_json),
            ),
            (
                "package/README.md".to_string(),
                Data::Owned(readme(release, &contents).into_bytes()),
            ),
            (
                "package/manifest.json".to_string(),
                Data::Borrowed(release.manifest_json),
            ),
        ];
        let mut files: Vec<String> = entries.iter().map(|(p, _)| p.clone()).collect();
        files.extend(rest_files);
        let unpacked_size =
            rest_unpacked + entries.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
        let (mut head, _) = write_tar(&entries, false)?;
        // What was written, kept for the read-back: the head's bytes copied (they borrow
        // this function's values), the bundle bodies shared.
        let kept: Option<Vec<readback::Piece<'a>>> = head
            .segments
            .iter()
            .map(|s| readback::Piece::of(s, 64 << 10))
            .collect();
        let mut head_kept = kept.ok_or_else(|| readback::refused("a release entry is a bundle"))?;
        head_kept.extend(lead.iter().cloned().map(readback::Piece::Seg));
        head.total += lead.iter().map(Segment::len).sum::<usize>();
        head.segments.extend(lead);
        let head_plan = Plan::new(head, contents.gzip_level, Vec::new());
        let head_parts: Vec<Part> = (0..head_plan.jobs.len())
            .into_par_iter()
            .map(|i| head_plan.compress(i))
            .collect();
        let head_jobs = head_plan.jobs.iter().map(|j| (j.start, j.len)).collect();
        let head_total = head_plan.tar.total;
        drop(head_plan);
        let (hashes, assets) = emit_all_parts(
            &head_parts,
            jobs,
            &contents,
            head_total + plan.tar.total,
            out,
        )?;
        let written = Written {
            head: head_kept,
            head_total,
            body: plan,
            head_jobs,
            assets,
            crc32: hashes.crc32,
            size: hashes.size,
        };
        let pkg = Package {
            size: hashes.size,
            sha256: hashes.sha256,
            integrity: hashes.integrity,
            shasum: hashes.sha1,
            file_count: files.len() as u64,
            unpacked_size,
            files,
            package_json,
        };
        Ok((pkg, written))
    }
}

/// Stream the whole `.tgz` to `out`: the gzip header, the release's entries (`head`), the
/// workers' chunks, the assets, the end; each chunk checked to read back
/// ([`Part::checked`]). Returns the hashes of what was emitted and the asset entries written.
fn emit_all_parts(
    head: &[Part],
    jobs: Ordered,
    contents: &Contents<'_>,
    before_assets: usize,
    out: Sink<'_>,
) -> Result<(Hashes, Vec<readback::AssetWritten>)> {
    hashed(out, |emitter| {
        let mut emit = |part: &[u8]| emitter.emit(part);
        emit(&GZIP_HEADER)?;
        let mut crc = crc32fast::Hasher::new();
        for (k, part) in head.iter().enumerate() {
            crc.combine(&part.crc);
            emit(part.checked(|| format!("compressed chunk {k} of the release's entries"))?)?;
        }
        crc.combine(&jobs.emit_all(&mut emit)?);
        let tail = emit_assets(contents.shipped_assets(), contents.gzip_level, &mut emit)?;
        crc.combine(&tail.1);
        gzip_end(
            contents.gzip_level,
            crc,
            before_assets + tail.0 as usize,
            &mut emit,
        )?;
        Ok(tail.2)
    })
}

/// How many `.tgz` bytes [`Emitter`] gathers before it writes them and hands them on.
const EMIT_BATCH: usize = 1 << 20;

/// The `.tgz` bytes in order, gathered in batches: each batch is written to the sink and
/// handed to the two threads of [`hashed`], so the thread that emits (waiting for chunks,
/// reading assets, writing the file) never hashes. Batches come back for reuse once both
/// hashers are done with them.
struct Emitter<'o> {
    out: Sink<'o>,
    batch: Vec<u8>,
    in_flight: std::collections::VecDeque<Arc<Vec<u8>>>,
    hashers: [std::sync::mpsc::SyncSender<Arc<Vec<u8>>>; 2],
}

impl Emitter<'_> {
    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= EMIT_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let reused = match self.in_flight.front() {
            Some(b) if Arc::strong_count(b) == 1 => {
                self.in_flight.pop_front().and_then(Arc::into_inner)
            }
            _ => None,
        };
        let mut next = reused.unwrap_or_else(|| Vec::with_capacity(EMIT_BATCH + (64 << 10)));
        next.clear();
        let batch = Arc::new(std::mem::replace(&mut self.batch, next));
        (self.out)(&batch)?;
        for tx in &self.hashers {
            // A hasher that stopped has panicked: the scope passes its panic on.
            let _ = tx.send(batch.clone());
        }
        self.in_flight.push_back(batch);
        Ok(())
    }
}

/// Run `f` with an [`Emitter`] writing to `out`, the tarball's hashes computed beside it on
/// two threads of their own (sha512 on one; sha256, sha1 and the CRC-32 on the other: about
/// as much work), at most a few batches behind.
fn hashed<R>(out: Sink<'_>, f: impl FnOnce(&mut Emitter<'_>) -> Result<R>) -> Result<(Hashes, R)> {
    use std::sync::mpsc::sync_channel;
    std::thread::scope(|scope| {
        let (tx512, rx512) = sync_channel::<Arc<Vec<u8>>>(4);
        let (tx_rest, rx_rest) = sync_channel::<Arc<Vec<u8>>>(4);
        let sha512 = scope.spawn(move || {
            let mut h = Sha512::new();
            for b in rx512 {
                h.update(b.as_slice());
            }
            h.finalize()
        });
        let rest = scope.spawn(move || {
            let (mut sha256, mut sha1) = (Sha256::new(), Sha1::new());
            let (mut crc, mut size) = (crc32fast::Hasher::new(), 0u64);
            for b in rx_rest {
                sha256.update(b.as_slice());
                sha1.update(b.as_slice());
                crc.update(&b);
                size += b.len() as u64;
            }
            (sha256.finalize(), sha1.finalize(), crc.finalize(), size)
        });
        let mut emitter = Emitter {
            out,
            batch: Vec::with_capacity(EMIT_BATCH + (64 << 10)),
            in_flight: std::collections::VecDeque::new(),
            hashers: [tx512, tx_rest],
        };
        let result = f(&mut emitter).and_then(|r| emitter.flush().map(|()| r));
        drop(emitter);
        // A hasher's panic is passed on as it is.
        let sha512 = sha512
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let (sha256, sha1, crc32, size) = rest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let r = result?;
        let hashes = Hashes {
            sha256: hex(&sha256),
            integrity: format!(
                "sha512-{}",
                base64::engine::general_purpose::STANDARD.encode(sha512)
            ),
            sha1: hex(&sha1),
            size,
            crc32,
        };
        Ok((hashes, r))
    })
}

/// Extensions of formats that are compressed already: their bytes go into the gzip stream
/// as stored deflate blocks, never compressed again.
pub const STORED_EXTENSIONS: [&str; 19] = [
    "png", "jpg", "jpeg", "gif", "webp", "avif", "pdf", "mp4", "webm", "mov", "mp3", "ogg", "zip",
    "gz", "tgz", "bz2", "xz", "woff", "woff2",
];

/// Whether an asset's bytes are stored in the gzip stream as they are.
pub fn is_stored(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.')
        .is_some_and(|(_, e)| STORED_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The asset entries, streamed after everything else (format 4), and the end of the archive:
/// each asset's file is read through a 1 MiB buffer, hashed as it is read (a file that changed
/// since it was loaded is an error, and the staged tarball is then removed), and emitted as
/// stored deflate blocks (already-compressed formats, [`is_stored`]) or as its own
/// sync-flushed deflate chunks. Returns the archive bytes written and their CRC-32.
fn emit_assets(
    assets: &[crate::content::Asset],
    level: u32,
    emit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<(u64, crc32fast::Hasher, Vec<readback::AssetWritten>)> {
    use std::io::Read;
    let mut crc = crc32fast::Hasher::new();
    let mut written = Vec::with_capacity(assets.len());
    if assets.is_empty() {
        return Ok((0, crc, written));
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let deflated =
        |raw: &[u8], crc: &mut crc32fast::Hasher, emit: &mut dyn FnMut(&[u8]) -> Result<()>| {
            let part = Part::new(deflate_chunk(raw, level, false), raw, false);
            crc.combine(&part.crc);
            emit(part.checked(|| "a compressed chunk of the assets".into())?)
        };
    for a in assets {
        let mut head = Vec::with_capacity(512);
        header_bytes(&format!("package/docs/{}", a.path), a.size, &mut head)?;
        deflated(&head, &mut crc, emit)?;
        total += head.len() as u64;
        let stored = level == 0 || is_stored(&a.path);
        let (sha, len) = crate::git::with_asset_reader(&a.source, |file| {
            let mut reader =
                crate::hash::HashingReader::new(Read::take(file, a.size.saturating_add(1)));
            loop {
                let mut n = 0;
                while n < buf.len() {
                    match reader.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(CoreError::io("read", a.source.describe(), e)),
                    }
                }
                if n == 0 {
                    break;
                }
                let chunk = &buf[..n];
                if stored {
                    crc.update(chunk);
                    for block in chunk.chunks(65_535) {
                        emit(&stored_block_header(block.len() as u16))?;
                        emit(block)?;
                    }
                } else {
                    deflated(chunk, &mut crc, emit)?;
                }
                total += n as u64;
            }
            Ok(reader.finish())
        })?;
        if sha != a.sha256 || len != a.size {
            return Err(Error::from(CoreError::Content {
                path: a.source.describe(),
                message: format!(
                    "the file changed while it was published (it held {} bytes hashing to {}, now {len} bytes hashing to {sha}); publish again",
                    a.size, a.sha256
                ),
            }));
        }
        let pad = ((512 - a.size % 512) % 512) as usize;
        if pad > 0 {
            deflated(&vec![0; pad], &mut crc, emit)?;
            total += pad as u64;
        }
        written.push(readback::AssetWritten {
            header: head,
            size: len,
            sha256: sha,
        });
    }
    deflated(&[0; 1024], &mut crc, emit)?;
    Ok((total + 1024, crc, written))
}

/// The header of a stored (uncompressed), non-final deflate block of `len` bytes: byte
/// aligned (the blocks before end with a sync flush or another stored block), LEN and its
/// one's complement NLEN.
fn stored_block_header(len: u16) -> [u8; 5] {
    let mut h = [0u8; 5];
    h[1..3].copy_from_slice(&len.to_le_bytes());
    h[3..5].copy_from_slice(&(!len).to_le_bytes());
    h
}

/// The hashes [`integrity_of`] computes, of everything emitted ([`hashed`]).
struct Hashes {
    sha256: String,
    /// `sha512-<base64>`.
    integrity: String,
    sha1: String,
    size: u64,
    /// For the read-back of the file ([`Written::check`]).
    crc32: u32,
}

/// sha256 hex, `sha512-<base64>` SRI and sha1 hex of a tarball.
pub fn integrity_of(bytes: &[u8]) -> (String, String, String) {
    let (sha256, (sha512, sha1)) = rayon::join(
        || hex(&Sha256::digest(bytes)),
        || rayon::join(|| Sha512::digest(bytes), || hex(&Sha1::digest(bytes))),
    );
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha512)
    );
    (sha256, integrity, sha1)
}

fn readme(release: &Release<'_>, contents: &Contents<'_>) -> String {
    let mut s = format!("# {}\n\n", release.name);
    if !release.description.is_empty() {
        s.push_str(release.description);
        s.push_str("\n\n");
    }
    s.push_str(&format!(
        "Version {} of this knowledge base, released with kbrel.\n\n## Documents\n\n| language | documents | import | global (IIFE) |\n| --- | --- | --- | --- |\n",
        release.version
    ));
    for lang in contents.languages {
        let n = contents
            .documents
            .iter()
            .filter(|d| &d.lang == lang)
            .count();
        let global = contents.globals.get(lang).map(String::as_str).unwrap_or("");
        s.push_str(&format!(
            "| {lang} | {n} | `import docs from \"{}/{lang}\"` | `globalThis.{global}` |\n",
            release.name
        ));
    }
    s.push_str(
        "\nEach bundle maps a document's key to its markdown. The markdown files are also under `docs/<lang>/`, and `manifest.json` lists every document with its id, key, path, title and sha256.\n",
    );
    if contents.format >= 4 && (contents.meta || contents.lazy) {
        let n = release.name;
        s.push_str("\n## Ready to use\n\n");
        if contents.meta {
            s.push_str(&format!(
                "- `import docs from \"{n}/<lang>/meta\"`: each key maps to `{{ meta, body }}`, the front matter parsed and the markdown body without it.\n"
            ));
        }
        if contents.lazy {
            s.push_str(&format!(
                "- `import docs from \"{n}/<lang>/lazy\"`: each key maps to `() => import(…)` of one small module per document (`{{ default, meta, body }}`), so a bundler splits them and an app loads only what it shows: `const {{ meta, body }} = await docs.Slack();`.\n"
            ));
        }
        s.push_str("\nTyped: a misspelled key does not compile in strict TypeScript.\n");
    }
    s
}

/// Serialise entries as a ustar archive with npm's normalised headers (`end`: close it with
/// the two zero blocks), and where each entry's header(s) and data start in it.
fn write_tar<'a>(
    entries: &[(String, Data<'a>)],
    end: bool,
) -> Result<(TarStream<'a>, Vec<(usize, usize)>)> {
    let mut segments: Vec<Segment<'a>> = Vec::with_capacity(entries.len() * 3);
    let mut places = Vec::with_capacity(entries.len());
    let mut at = 0;
    for (path, data) in entries {
        let len = data.len();
        let mut head = Vec::with_capacity(512);
        header_bytes(path, len as u64, &mut head)?;
        places.push((at, at + head.len()));
        at += head.len() + len + (512 - len % 512) % 512;
        segments.push(Segment::Bytes(head));
        match data {
            Data::Owned(v) => segments.push(Segment::Bytes(v.clone())),
            Data::Borrowed(b) => segments.push(Segment::Slice(b)),
            Data::Shared(s, pre, post) => {
                segments.push(Segment::Bytes(pre.as_bytes().to_vec()));
                segments.push(Segment::Shared(s.clone()));
                segments.push(Segment::Bytes(post.as_bytes().to_vec()));
            }
        }
        let pad = (512 - len % 512) % 512;
        if pad > 0 {
            segments.push(Segment::Slice(&ZEROS[..pad]));
        }
    }
    if end {
        segments.push(Segment::Slice(&ZEROS));
    }
    let total = segments.iter().map(Segment::len).sum();
    Ok((TarStream { segments, total }, places))
}

/// Zero bytes for the padding of tar entries and the end of an archive (never allocated).
static ZEROS: [u8; 1024] = [0; 1024];

/// A tar archive as a sequence of byte segments (document texts are not copied).
#[derive(Clone)]
struct TarStream<'a> {
    segments: Vec<Segment<'a>>,
    total: usize,
}

#[derive(Clone)]
enum Segment<'a> {
    Bytes(Vec<u8>),
    /// Borrowed from a document (document texts are never copied into the archive).
    Slice(&'a [u8]),
    Shared(Arc<BundleBody<'a>>),
}

impl<'a> Segment<'a> {
    fn len(&self) -> usize {
        match self {
            Segment::Bytes(v) => v.len(),
            Segment::Slice(b) => b.len(),
            Segment::Shared(body) => body.len(),
        }
    }
}

impl TarStream<'_> {
    /// Copy bytes `[start, start+len)` of the archive into `out`.
    fn copy_range(&self, start: usize, len: usize, out: &mut Vec<u8>) {
        let mut pos = 0usize;
        let end = start + len;
        for seg in &self.segments {
            let n = seg.len();
            let (s, e) = (pos, pos + n);
            pos = e;
            if e <= start {
                continue;
            }
            if s >= end {
                break;
            }
            let from = start.max(s) - s;
            let to = end.min(e) - s;
            match seg {
                Segment::Bytes(v) => out.extend_from_slice(&v[from..to]),
                Segment::Slice(b) => out.extend_from_slice(&b[from..to]),
                Segment::Shared(body) => body.copy_range(from, to, out),
            }
        }
    }
}

fn header_bytes(path: &str, size: u64, out: &mut Vec<u8>) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    let needs_pax = !path.is_ascii() || h.set_path(path).is_err() || path.len() > 255;
    if needs_pax {
        let mut record = format!(" path={path}\n");
        // The length prefix counts itself.
        let mut n = record.len();
        loop {
            let candidate = n.to_string().len() + record.len();
            if candidate == n {
                break;
            }
            n = candidate;
        }
        record = format!("{n}{record}");
        let mut ph = tar::Header::new_ustar();
        let short: String = path
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(80)
            .collect();
        ph.set_path(format!("PaxHeader/{short}"))
            .map_err(|e| tar_header(path, e))?;
        normalize_header(&mut ph, record.len() as u64);
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_cksum();
        out.extend_from_slice(ph.as_bytes());
        out.extend_from_slice(record.as_bytes());
        out.extend(std::iter::repeat_n(0u8, (512 - record.len() % 512) % 512));
        let ascii: String = path.chars().filter(char::is_ascii).take(99).collect();
        h = tar::Header::new_ustar();
        h.set_path(&ascii).map_err(|e| tar_header(path, e))?;
    }
    normalize_header(&mut h, size);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    Ok(())
}

fn tar_header(path: &str, e: std::io::Error) -> Error {
    PackageError::TarHeader {
        path: path.to_string(),
        reason: e.to_string(),
    }
    .into()
}

fn normalize_header(h: &mut tar::Header, size: u64) {
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(NPM_MTIME);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
}

/// The gzip member header: deflate, no flags, mtime 0, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// The chunks of a tar stream and how to compress them: gzip with independent chunks
/// compressed in parallel and stitched into one gzip member (the pigz technique). Each chunk
/// ends with a sync flush, so the raw deflate streams concatenate into one valid stream,
/// closed by an empty final block. Chunks are cut at fixed offsets from the start of the
/// stream and at the start of every shared bundle body, so the ESM and IIFE copies of a
/// language's object compress to identical bytes — computed once, emitted twice. The
/// `docs/` chunks of the languages in `mirrors` are cut where their bundle's chunks are cut,
/// and the bundle chunks are coded with the matches of those `docs/` chunks ([`mirror`]).
/// Deterministic whatever the number of threads.
struct Plan<'a> {
    tar: TarStream<'a>,
    level: u32,
    jobs: Vec<Job>,
    /// Job `i` emits the output of job `source[i]` (equal to `i` unless a shared chunk).
    source: Vec<usize>,
    mirrors: Vec<mirror::MirrorBody<'a>>,
    /// Per mirror and chunk of its bundle body, the `docs/` jobs holding its documents.
    docs_jobs: Vec<Vec<std::ops::Range<usize>>>,
}

struct Job {
    start: usize,
    len: usize,
    /// `Some((m, c))`: chunk `c` of mirror `m`'s bundle body, coded with the matches of its
    /// `docs/` chunks.
    mirror: Option<(usize, usize)>,
    /// For a `docs/` chunk of a mirror, its output, for the bundle job and the emitter:
    /// whichever needs it first computes it.
    kept: Option<Kept>,
}

/// Jobs, each with the shared body and offset in it it compresses (equal keys, equal bytes).
type KeyedJobs = Vec<(Job, Option<(usize, usize)>)>;

impl<'a> Plan<'a> {
    fn new(tar: TarStream<'a>, level: u32, mut mirrors: Vec<mirror::MirrorBody<'a>>) -> Plan<'a> {
        let mut jobs: KeyedJobs = Vec::new();
        let plain = |jobs: &mut KeyedJobs, from: usize, to: usize| {
            let mut at = from;
            while at < to {
                let len = GZIP_CHUNK.min(to - at);
                jobs.push((
                    Job {
                        start: at,
                        len,
                        mirror: None,
                        kept: None,
                    },
                    None,
                ));
                at += len;
            }
        };
        // The bundle bodies (offset, length, body) and the mirrored parts of `docs/`, in
        // stream order; a mirror that does not sit between bodies is not used.
        let mut shared = Vec::new();
        let mut pos = 0usize;
        for seg in &tar.segments {
            if let Segment::Shared(body) = seg {
                shared.push((pos, seg.len(), body.clone()));
            }
            pos += seg.len();
        }
        let mut last_end = 0;
        let laid_out = mirrors.iter().all(|m| {
            let ok = m.start >= last_end
                && m.end <= pos
                && shared
                    .iter()
                    .all(|&(s, n, _)| m.end <= s || m.start >= s + n);
            last_end = m.end;
            ok
        });
        if !laid_out {
            mirrors.clear();
        }
        let mirror_of = |id: usize| {
            mirrors
                .iter()
                .position(|m| Arc::as_ptr(&m.body) as usize == id)
        };
        let mut docs_jobs = vec![Vec::new(); mirrors.len()];
        let (mut at, mut next_body, mut next_mirror) = (0usize, 0usize, 0usize);
        loop {
            let body_at = shared.get(next_body).map(|b| b.0);
            let mirror_at = mirrors.get(next_mirror).map(|m| m.start);
            match (body_at, mirror_at) {
                (Some(b), m) if m.is_none_or(|m| b < m) => {
                    plain(&mut jobs, at, b);
                    let (start, n, body) = &shared[next_body];
                    let id = Arc::as_ptr(body) as usize;
                    let m = mirror_of(id);
                    let mut off = 0;
                    while off < *n {
                        let len = GZIP_CHUNK.min(n - off);
                        jobs.push((
                            Job {
                                start: start + off,
                                len,
                                mirror: m.map(|m| (m, off / GZIP_CHUNK)),
                                kept: None,
                            },
                            Some((id, off)),
                        ));
                        off += len;
                    }
                    at = start + n;
                    next_body += 1;
                }
                (_, Some(m_start)) => {
                    plain(&mut jobs, at, m_start);
                    let body = &mirrors[next_mirror];
                    let mut per_chunk = vec![0..0; body.body.len().div_ceil(GZIP_CHUNK)];
                    for cut in body.cuts() {
                        let i = jobs.len();
                        let range = &mut per_chunk[cut.chunk];
                        if range.start == range.end {
                            *range = i..i;
                        }
                        range.end = i + 1;
                        jobs.push((
                            Job {
                                start: cut.start,
                                len: cut.end - cut.start,
                                mirror: None,
                                kept: Some(Kept::default()),
                            },
                            None,
                        ));
                    }
                    docs_jobs[next_mirror] = per_chunk;
                    at = body.end;
                    next_mirror += 1;
                }
                _ => break,
            }
        }
        plain(&mut jobs, at, pos);
        // The first job of each key does the work.
        let mut first: HashMap<(usize, usize), usize> = HashMap::new();
        let source: Vec<usize> = jobs
            .iter()
            .enumerate()
            .map(|(i, (_, key))| match key {
                Some(k) => *first.entry(*k).or_insert(i),
                None => i,
            })
            .collect();
        Plan {
            tar,
            level,
            jobs: jobs.into_iter().map(|(j, _)| j).collect(),
            source,
            mirrors,
            docs_jobs,
        }
    }

    /// Compress job `i`: its chunk's raw deflate and CRC-32.
    fn compress(&self, i: usize) -> Part {
        if let Some((m, c)) = self.jobs[i].mirror {
            return self.compress_mirrored(i, m, c);
        }
        match &self.jobs[i].kept {
            Some(kept) => kept.get(|| self.deflate(i)),
            None => self.deflate(i),
        }
    }

    /// Job `i`'s chunk, deflated.
    fn deflate(&self, i: usize) -> Part {
        with_input(|input| {
            self.tar
                .copy_range(self.jobs[i].start, self.jobs[i].len, input);
            Part::new(deflate_chunk(input, self.level, false), input, false)
        })
    }

    /// Job `i`, chunk `c` of mirror `m`'s bundle body, coded with the matches of the `docs/`
    /// chunks that hold its documents (compressed here if no worker has yet).
    fn compress_mirrored(&self, i: usize, m: usize, c: usize) -> Part {
        thread_local! {
            static SCRATCH: std::cell::RefCell<mirror::Scratch> =
                std::cell::RefCell::new(mirror::Scratch::default());
        }
        let docs = self.docs_jobs[m][c].clone();
        if docs.is_empty() {
            return self.deflate(i);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.raw.clear();
            for j in docs.clone() {
                let part = self.compress(j);
                // A stream this process compressed a moment ago; should it not read back, the
                // chunk is compressed on its own.
                if kbrel_deflate::decode::tokens(&part.bytes, &mut scratch.raw).is_err() {
                    return self.deflate(i);
                }
            }
            let (first, last) = (&self.jobs[docs.start], &self.jobs[docs.end - 1]);
            let cut = mirror::Cut {
                start: first.start,
                end: last.start + last.len,
                chunk: c,
            };
            with_input(|input| {
                self.tar
                    .copy_range(self.jobs[i].start, self.jobs[i].len, input);
                let tokens = mirror::derive(&self.mirrors[m], &cut, input, scratch);
                let mut out = Vec::with_capacity(input.len() / 4 + 1024);
                kbrel_deflate::encode::encode(tokens, input, &mut out);
                out.shrink_to_fit();
                Part::new(out, input, false)
            })
        })
    }
}

/// A job's output computed once for two users (a `docs/` chunk: the bundle job that reuses
/// its matches, and the emitter), and dropped after the second: a `OnceLock` would keep every
/// chunk to the end.
#[derive(Default)]
struct Kept {
    /// (the output, someone is computing it, how many users have had it)
    state: std::sync::Mutex<(Option<Part>, bool, u8)>,
    ready: std::sync::Condvar,
}

impl Kept {
    /// The output, computed by `f` unless another thread has or is computing it.
    fn get(&self, f: impl FnOnce() -> Part) -> Part {
        let lock = || self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = lock();
        loop {
            if let Some(part) = &s.0 {
                let part = part.clone();
                s.2 += 1;
                if s.2 >= 2 {
                    s.0 = None;
                }
                return part;
            }
            if !s.1 {
                break;
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.1 = true;
        drop(s);
        // Should `f` panic, the next waiter computes it (and the panic reaches the caller).
        struct Reset<'k>(&'k Kept);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.state.lock().unwrap_or_else(|e| e.into_inner()).1 = false;
                self.0.ready.notify_all();
            }
        }
        let reset = Reset(self);
        let part = f();
        let mut s = lock();
        s.2 += 1;
        if s.2 < 2 {
            s.0 = Some(part.clone());
        }
        drop(s);
        drop(reset);
        part
    }
}

/// Run `f` with this thread's input buffer, cleared (each thread reuses one).
fn with_input<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static INPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    INPUT.with_borrow_mut(|input| {
        input.clear();
        f(input)
    })
}

/// gzip a whole tar stream (header mtime 0) on worker threads, emitting it in order.
#[cfg(test)]
fn gzip_parallel(
    tar: &TarStream<'_>,
    level: u32,
    emit: &mut (dyn FnMut(&[u8]) -> Result<()> + Send),
) -> Result<()> {
    let plan = Plan::new(tar.clone(), level, Vec::new());
    emit(&GZIP_HEADER)?;
    let crc = ordered_parallel(&plan.source, &|i| plan.compress(i), emit)?;
    gzip_end(level, crc, tar.total, emit)
}

/// Close a gzip member: the empty final deflate block, then the CRC-32 and size (mod 2^32) of
/// everything compressed.
fn gzip_end(
    level: u32,
    crc: crc32fast::Hasher,
    total: usize,
    emit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let end = Part::new(deflate_chunk(&[], level, true), &[], true);
    emit(end.checked(|| "the final block".into())?)?;
    let mut trailer = crc.finalize().to_le_bytes().to_vec();
    trailer.extend_from_slice(&(total as u32).to_le_bytes());
    emit(&trailer)
}

/// A compressed chunk, the CRC-32 of its input, and whether its bytes decompress, on their
/// own, to exactly that input ([`readback::inflates_to`], checked by the thread that
/// compressed it): what the emitter refuses to write otherwise.
#[derive(Clone)]
struct Part {
    bytes: Arc<Vec<u8>>,
    crc: crc32fast::Hasher,
    check: std::result::Result<(), Arc<str>>,
}

impl Part {
    /// `bytes`, the raw deflate of `input` (`last`: ending with the final block), checked.
    fn new(bytes: Vec<u8>, input: &[u8], last: bool) -> Part {
        let mut crc = crc32fast::Hasher::new();
        crc.update(input);
        let check = readback::inflates_to(&bytes, input, last).map_err(Arc::from);
        Part {
            bytes: Arc::new(bytes),
            crc,
            check,
        }
    }

    /// The bytes to emit, or the error naming what did not read back (`what`: which chunk).
    fn checked(&self, what: impl FnOnce() -> String) -> Result<&[u8]> {
        match &self.check {
            Ok(()) => Ok(&self.bytes),
            Err(e) => Err(readback::refused(&format!("{}: {e}", what()))),
        }
    }
}

/// [`Ordered`] from start to end: compress and emit jobs `0..source.len()`.
#[cfg(test)]
fn ordered_parallel(
    source: &[usize],
    compress: &(dyn Fn(usize) -> Part + Sync),
    emit: &mut (dyn FnMut(&[u8]) -> Result<()> + Send),
) -> Result<crc32fast::Hasher> {
    let ahead = 4 * rayon::current_num_threads().max(2);
    std::thread::scope(|scope| {
        Ordered::start(scope, source.to_vec(), ahead, compress).emit_all(emit)
    })
}

/// Jobs compressed on worker threads and emitted in order, as pigz does: workers take the
/// next job as soon as they finish one (no barrier between batches), at most `ahead` jobs
/// ahead of the emitter, so memory stays bounded. Job `i` emits the output of job
/// `source[i]` (computed once, kept until its last use). The workers start at once; the
/// emitter ([`emit_all`](Self::emit_all)) may come later. Dropping it stops the workers.
struct Ordered {
    source: Arc<[usize]>,
    turn: Arc<Turn>,
    rx: std::sync::mpsc::Receiver<(usize, Part)>,
}

impl Ordered {
    fn start<'scope, F>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        source: Vec<usize>,
        ahead: usize,
        compress: F,
    ) -> Ordered
    where
        F: Fn(usize) -> Part + Send + Sync + 'scope,
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let threads = rayon::current_num_threads().max(1);
        let source: Arc<[usize]> = source.into();
        let compress = Arc::new(compress);
        let next = Arc::new(AtomicUsize::new(0));
        let turn = Arc::new(Turn::default());
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Part)>();
        for _ in 0..threads {
            let (tx, next, turn) = (tx.clone(), next.clone(), turn.clone());
            let (source, compress) = (source.clone(), compress.clone());
            scope.spawn(move || {
                let _halt = HaltOnPanic(&turn);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= source.len() {
                        break;
                    }
                    if source[i] != i {
                        continue;
                    }
                    if !turn.wait_until_near(i, ahead) || tx.send((i, compress(i))).is_err() {
                        break;
                    }
                }
            });
        }
        Ordered { source, turn, rx }
    }

    /// Emit every job's output in order; returns the combined CRC-32 of what was emitted.
    fn emit_all(
        self,
        emit: &mut (dyn FnMut(&[u8]) -> Result<()> + Send),
    ) -> Result<crc32fast::Hasher> {
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, &src) in self.source.iter().enumerate() {
            last_use.insert(src, i);
        }
        let mut crc = crc32fast::Hasher::new();
        let mut ready: HashMap<usize, Part> = HashMap::new();
        for (at, &src) in self.source.iter().enumerate() {
            while !ready.contains_key(&src) {
                // Every job up to `at + ahead` is taken and sent, unless a worker panicked:
                // then all have stopped, and the scope passes that panic on.
                let (i, part) = self.rx.recv().expect("a compression worker panicked");
                ready.insert(i, part);
            }
            let part = &ready[&src];
            crc.combine(&part.crc);
            emit(part.checked(|| format!("compressed chunk {at} of the archive"))?)?;
            if last_use.get(&src) == Some(&at) {
                ready.remove(&src);
            }
            self.turn.emitted(at + 1);
        }
        Ok(crc)
    }
}

impl Drop for Ordered {
    /// Done, failed or abandoned: the workers stop (an emit error or an early return of the
    /// caller must not leave them compressing).
    fn drop(&mut self) {
        self.turn.halt();
    }
}

/// How far [`Ordered`]'s emitter has got, for the workers' look-ahead limit, and
/// whether everything must stop.
#[derive(Default)]
struct Turn {
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl Turn {
    fn update(&self, f: impl FnOnce(&mut (usize, bool))) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }

    fn emitted(&self, count: usize) {
        self.update(|s| s.0 = count);
    }

    fn halt(&self) {
        self.update(|s| s.1 = true);
    }

    /// Wait until job `i` is fewer than `ahead` jobs past the emitter; false once halted.
    fn wait_until_near(&self, i: usize, ahead: usize) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while i >= s.0 + ahead && !s.1 {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        !s.1
    }
}

/// Halts everything if its worker panics: the job it held never arrives, and the other
/// workers, waiting on the look-ahead limit, would otherwise wait forever. The panic then
/// reaches the caller when the scope joins the threads.
struct HaltOnPanic<'a>(&'a Turn);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.halt();
        }
    }
}

/// Raw deflate of one chunk with a fresh dictionary, ending with a sync flush (or, for the
/// last chunk, the final block). Each thread keeps its compressor and resets it between chunks
/// (a reset stream compresses exactly like a new one): a new one would allocate and clear its
/// window and hash tables for every chunk.
fn deflate_chunk(input: &[u8], level: u32, last: bool) -> Vec<u8> {
    thread_local! {
        static DEFLATE: std::cell::RefCell<Option<(u32, flate2::Compress)>> =
            const { std::cell::RefCell::new(None) };
    }
    DEFLATE.with_borrow_mut(|slot| {
        let c = match slot {
            Some((l, c)) if *l == level => {
                c.reset();
                c
            }
            _ => {
                let fresh = flate2::Compress::new(flate2::Compression::new(level), false);
                &mut slot.insert((level, fresh)).1
            }
        };
        let mut out = Vec::with_capacity(input.len() / 2 + 1024);
        let flush = if last {
            flate2::FlushCompress::Finish
        } else {
            flate2::FlushCompress::Sync
        };
        loop {
            let consumed = c.total_in() as usize;
            if out.capacity() - out.len() < 64 * 1024 {
                out.reserve(256 * 1024);
            }
            let status = c
                .compress_vec(&input[consumed..], &mut out, flush)
                .expect("deflate on valid state");
            let done_in = c.total_in() as usize == input.len();
            match status {
                flate2::Status::StreamEnd => break,
                _ if done_in && !last && out.capacity() > out.len() => break,
                _ => {}
            }
        }
        // Compressed text is a fraction of the reservation: keep only what is used.
        out.shrink_to_fit();
        out
    })
}

/// Limits for [`unpack`].
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    pub max_unpacked: u64,
    pub max_entries: usize,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_unpacked: 2 << 30,
            max_entries: 500_000,
        }
    }
}

/// Unpack a package tarball into memory: `package/`-relative path → bytes, in archive order.
/// Refuses links, devices, paths outside `package/`, duplicates, and anything past the limits.
pub fn unpack(tgz: &[u8], what: &str, limits: UnpackLimits) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for_each_entry(tgz, what, limits, |rel, bytes| {
        out.push((rel.to_string(), bytes.to_vec()));
        Ok(())
    })?;
    Ok(out)
}

/// The checks every reader of a package makes on each entry's header, in archive order
/// ([`for_each_entry`], and the read-back of a tarball just written, [`Written::check`]):
/// a UTF-8 name inside `package/` and safe, a regular file, no name twice, at most
/// `max_entries` entries and `max_unpacked` bytes in all.
struct Admission {
    limits: UnpackLimits,
    seen: std::collections::HashSet<String>,
    count: usize,
    total: u64,
}

impl Admission {
    fn new(limits: UnpackLimits) -> Admission {
        Admission {
            limits,
            seen: std::collections::HashSet::new(),
            count: 0,
            total: 0,
        }
    }

    /// The entry's `package/`-relative path and its (effective) size, or why it is refused.
    fn admit<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<(String, u64)> {
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| bad("an entry name is not UTF-8".into()))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(bad(format!(
                "entry `{path}` is a {kind:?}, only regular files are allowed"
            )));
        }
        let rel = path
            .strip_prefix("package/")
            .filter(|r| crate::manifest::is_safe_relative_path(r))
            .ok_or_else(|| bad(format!("entry `{path}` is outside `package/` or unsafe")))?;
        if !self.seen.insert(rel.to_string()) {
            return Err(bad(format!("entry `{path}` appears twice")));
        }
        if self.count >= self.limits.max_entries {
            return Err(bad(format!(
                "more than {} entries",
                self.limits.max_entries
            )));
        }
        self.count += 1;
        // The effective size: a PAX `size` record overrides the header's.
        let size = entry.size();
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_unpacked {
            return Err(bad(format!(
                "unpacks to more than {} bytes (at `{path}`)",
                self.limits.max_unpacked
            )));
        }
        Ok((rel.to_string(), size))
    }
}

/// [`unpack`]'s reading, one entry at a time: `f` gets each entry's `package/`-relative path
/// and bytes (one buffer, reused), in archive order, after the same checks.
pub fn for_each_entry(
    tgz: &[u8],
    what: &str,
    limits: UnpackLimits,
    mut f: impl FnMut(&str, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    stream_entries(tgz, what, limits, |rel, size, entry| {
        buf.clear();
        buf.reserve(size.min(64 << 20) as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| Error::corrupt(what, format!("entry `package/{rel}`: {e}")))?;
        f(rel, &buf)
    })?;
    Ok(())
}

/// [`unpack`]'s reading and checks over a reader, streamed: `f` gets each entry's
/// `package/`-relative path, its size and a reader of its bytes (what `f` leaves unread is
/// read past; an entry shorter than its size is an error), so no entry is ever held whole
/// (`verify` hashes a 2 GB asset through it). The gzip stream is read to its end (its CRC and
/// length checked); the reader is given back after it, for what may follow.
pub fn stream_entries<R: Read>(
    reader: R,
    what: &str,
    limits: UnpackLimits,
    mut f: impl FnMut(&str, u64, &mut dyn Read) -> Result<()>,
) -> Result<R> {
    let bad = |message: String| Error::corrupt(what, message);
    let gz = flate2::read::GzDecoder::new(reader);
    let mut archive = tar::Archive::new(gz.take(limits.max_unpacked + 1));
    let mut admission = Admission::new(limits);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("unreadable tar entry: {e}")))?;
        let (rel, size) = admission.admit(&entry, &bad)?;
        let path = format!("package/{rel}");
        let mut counted = CountingRead {
            inner: &mut entry,
            read: 0,
        };
        f(&rel, size, &mut counted)?;
        std::io::copy(&mut counted, &mut std::io::sink())
            .map_err(|e| bad(format!("entry `{path}`: {e}")))?;
        if counted.read != size {
            return Err(bad(format!(
                "entry `{path}` is truncated: {} of {size} bytes",
                counted.read
            )));
        }
    }
    // Read the gzip stream to its end, so a damaged or missing trailer (CRC, length) is noticed.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink())
        .map_err(|e| bad(format!("damaged gzip stream after the archive: {e}")))?;
    Ok(rest.into_inner().into_inner())
}

/// A reader that counts what it gives.
struct CountingRead<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_strings_escape_everything_dangerous() {
        let mut s = String::new();
        push_js_string(
            &mut s,
            "a\"b\\c\n`${x}`</script><!--\u{2028}\u{2029}\u{1}é中",
        );
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\n`${x}`\\u003c/script>\\u003c!--\\u2028\\u2029\\u0001é中\""
        );
    }

    proptest::proptest! {
        /// The word-at-a-time scan finds every byte the escaper must see: the output is valid
        /// JSON for the input, contains no raw `</`, `<!`, U+2028/U+2029 or control
        /// character, and its length is what `js_string_len` predicts.
        #[test]
        fn js_strings_roundtrip_through_json(
            s in proptest::string::string_regex(
                "([a-z\"\\\\<>/!\n\t\r\u{1}\u{1f}\u{2028}\u{2029}\u{2014}\u{00e9}中 ]|</|<!){0,64}"
            ).expect("regex"),
            pad in 0usize..9,
        ) {
            let s = format!("{}{s}", "x".repeat(pad));
            let mut out = String::new();
            push_js_string(&mut out, &s);
            proptest::prop_assert_eq!(js_string_len(&s), out.len());
            let back: String = serde_json::from_str(&out).expect("valid JSON string");
            proptest::prop_assert_eq!(&back, &s);
            proptest::prop_assert!(!out.contains("</") && !out.contains("<!"));
            let separators = ['\u{2028}', '\u{2029}'];
            proptest::prop_assert!(!out.contains(separators), "raw line separator in {}", out);
            proptest::prop_assert!(!out.bytes().any(|b| b < 0x20));
        }
    }

    #[test]
    fn package_names() {
        use crate::npm::{tarball_file_name, validate_package_name};
        assert!(validate_package_name("@acme/flash-docs").is_ok());
        assert!(validate_package_name("kbrel-guide").is_ok());
        assert!(validate_package_name("Big").is_err());
        assert!(validate_package_name("@acme").is_err());
        assert!(validate_package_name(".x").is_err());
        assert_eq!(tarball_file_name("@a/b", "1.0.0"), "a-b-1.0.0.tgz");
    }

    #[test]
    fn formats_this_build_writes() {
        assert!(check_format(1).is_ok() && check_format(FORMAT).is_ok());
        for bad in [0, FORMAT + 1, u32::MAX] {
            let err = check_format(bad).unwrap_err().to_string();
            assert!(err.contains(&bad.to_string()), "{err}");
        }
    }

    fn test_release() -> Release<'static> {
        Release {
            name: "kb",
            version: "1.0.0",
            description: "",
            license: "MIT",
            repository: None,
            source_language: "en",
            manifest_json: b"{}\n",
            fields: None,
        }
    }

    /// What `build` packs of `docs` in `languages`: gzip level `level`, package format
    /// `format`, the meta and lazy bundles, no globals, no assets.
    fn test_contents<'a>(
        languages: &'a [String],
        docs: &'a [Document],
        level: u32,
        format: u32,
    ) -> Contents<'a> {
        Contents {
            languages,
            globals: BTreeMap::new(),
            documents: docs,
            gzip_level: level,
            format,
            keyed_only: false,
            meta: true,
            lazy: true,
            assets: &[],
            bundle_texts: &NO_TEXTS,
        }
    }

    /// `build` into memory: the tarball's bytes and what it reports of them.
    fn build_in_memory(contents: &Contents<'_>, release: &Release<'_>) -> (Vec<u8>, Package) {
        let mut tgz = Vec::new();
        let pkg = build(contents, release, &mut |p: &[u8]| {
            tgz.extend_from_slice(p);
            Ok(())
        })
        .unwrap();
        (tgz, pkg)
    }

    /// [`build_in_memory`], keeping what the read-back checks ([`Written`]).
    fn build_written<'a>(
        contents: &'a Contents<'a>,
        release: &Release<'_>,
    ) -> (Vec<u8>, Package, Written<'a>) {
        let mut tgz = Vec::new();
        let (pkg, written) = std::thread::scope(|scope| {
            start(scope, contents)?.finish(release, &mut |p: &[u8]| {
                tgz.extend_from_slice(p);
                Ok(())
            })
        })
        .unwrap();
        (tgz, pkg, written)
    }

    fn test_doc(key: &str, text: &str) -> Document {
        Document {
            lang: "en".into(),
            path: format!("{key}.md"),
            id: key.into(),
            key: key.into(),
            aliases: Vec::new(),
            keyed: true,
            title: None,
            description: None,
            date: None,
            url: None,
            slug: None,
            has_front_matter: false,
            fields: BTreeMap::new(),
            text: text.into(),
            body_start: 0,
            body_line: 1,
            sha256: crate::hash::sha256_hex(text.as_bytes()),
        }
    }

    #[test]
    fn bundle_body_renders_any_range_exactly() {
        let texts = [
            "a\"b\\c\n`${x}`</script><!--\u{2028}\u{2029}\u{1}é中",
            "",
            "plain",
            "<<//!!\r\t",
        ];
        let docs: Vec<Document> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| test_doc(&format!("K{i}"), t))
            .collect();
        let refs: Vec<&Document> = docs.iter().collect();
        let body = BundleBody::new(&refs).unwrap();
        let mut expected = String::from("{\n");
        for d in &docs {
            expected.push_str("  ");
            push_js_string(&mut expected, &d.key);
            expected.push_str(": ");
            push_js_string(&mut expected, &d.text);
            expected.push_str(",\n");
        }
        expected.push('}');
        assert_eq!(body.len(), expected.len());
        for start in 0..expected.len() {
            for end in start..=expected.len() {
                let mut out = Vec::new();
                body.copy_range(start, end, &mut out);
                assert_eq!(out, &expected.as_bytes()[start..end], "{start}..{end}");
            }
        }
        let dup = [&docs[0], &docs[0]];
        assert!(BundleBody::new(&dup).is_err());
    }

    #[test]
    fn shared_bodies_compress_once_and_roundtrip() {
        let text: String = (0..GZIP_CHUNK + 5000)
            .map(|i| char::from(b'a' + (i * 13 % 26) as u8))
            .collect();
        let doc = test_doc("K", &text);
        let shared = Arc::new(BundleBody::new(&[&doc]).unwrap());
        let rendered = bundle_object(&[&doc]).unwrap();
        let stream = TarStream {
            segments: vec![
                Segment::Bytes(b"head".to_vec()),
                Segment::Shared(shared.clone()),
                Segment::Slice(b"middle"),
                Segment::Shared(shared.clone()),
                Segment::Bytes(vec![0; 1024]),
            ],
            total: 4 + rendered.len() + 6 + rendered.len() + 1024,
        };
        let gz = gzip_to_vec(&stream);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(rendered.as_bytes());
        expected.extend_from_slice(b"middle");
        expected.extend_from_slice(rendered.as_bytes());
        expected.extend_from_slice(&[0; 1024]);
        assert_eq!(back, expected);
        let again = gzip_to_vec(&stream);
        assert_eq!(gz, again, "deterministic");
    }

    fn gzip_to_vec(stream: &TarStream<'_>) -> Vec<u8> {
        let mut gz = Vec::new();
        gzip_parallel(stream, 6, &mut |part: &[u8]| {
            gz.extend_from_slice(part);
            Ok(())
        })
        .unwrap();
        gz
    }

    /// A stand-in for compression: job `i`'s output names it, so the emitted order shows.
    fn fake_part(i: usize) -> Part {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[i as u8]);
        Part {
            bytes: Arc::new(format!("<{i}>").into_bytes()),
            crc,
            check: Ok(()),
        }
    }

    #[test]
    fn ordered_parallel_emits_in_order_and_reuses_shared_outputs() {
        // Jobs 5 and 9 repeat job 2's output (a bundle body's second copy), job 7 repeats 6.
        let n = 40;
        let mut source: Vec<usize> = (0..n).collect();
        source[5] = 2;
        source[9] = 2;
        source[7] = 6;
        let calls = std::sync::Mutex::new(Vec::new());
        let compress = |i: usize| {
            calls.lock().unwrap().push(i);
            // Uneven work, so that workers finish out of order.
            std::thread::sleep(std::time::Duration::from_micros(
                ((i * 7919) % 5) as u64 * 300,
            ));
            fake_part(i)
        };
        let mut out = Vec::new();
        let crc = ordered_parallel(&source, &compress, &mut |p: &[u8]| {
            out.extend_from_slice(p);
            Ok(())
        })
        .unwrap();
        let expected: String = source.iter().map(|s| format!("<{s}>")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let mut want = crc32fast::Hasher::new();
        for &s in &source {
            want.update(&[s as u8]);
        }
        assert_eq!(crc.finalize(), want.finalize());
        // Each distinct output was computed exactly once.
        let mut calls = calls.into_inner().unwrap();
        calls.sort_unstable();
        let distinct: Vec<usize> = (0..n).filter(|&i| source[i] == i).collect();
        assert_eq!(calls, distinct);
    }

    #[test]
    fn dropped_before_emitting_the_workers_stop() {
        // Without the halt on drop, the workers would wait on the look-ahead limit forever
        // and the scope would never end.
        let n = 10_000;
        let computed = std::sync::atomic::AtomicUsize::new(0);
        let compress = |i: usize| {
            computed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            fake_part(i)
        };
        let ahead = 16;
        std::thread::scope(|scope| {
            let jobs = Ordered::start(scope, (0..n).collect(), ahead, compress);
            while computed.load(std::sync::atomic::Ordering::Relaxed) < ahead {
                std::thread::yield_now();
            }
            drop(jobs);
        });
        let done = computed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            done <= ahead + rayon::current_num_threads(),
            "{done} jobs compressed"
        );
    }

    /// Publish's read-back of the tarball it wrote: the tarball as built passes; one whose
    /// bytes changed after hashing, or whose writer put in other content than it was meant to
    /// (a changed document, a lost entry, a different package.json, a cut-off stream — each
    /// hashed as written, so only unpacking finds it), is refused saying what differs.
    #[test]
    fn check_written_unpacks_and_compares_every_entry() {
        let docs: Vec<Document> = (0..5)
            .map(|i| test_doc(&format!("K{i}"), &format!("# Doc {i}\n\nText {i}.\n")))
            .collect();
        let langs = vec!["en".to_string()];
        let contents = test_contents(&langs, &docs, 6, FORMAT);
        let release = test_release();
        let (tgz, pkg, written) = build_written(&contents, &release);
        let manifest_docs: Vec<crate::manifest::ManifestDoc> = docs
            .iter()
            .map(|d| crate::manifest::ManifestDoc {
                id: d.id.clone(),
                lang: d.lang.clone(),
                path: d.path.clone(),
                key: d.key.clone(),
                aliases: Vec::new(),
                bundled: true,
                title: None,
                url: None,
                sha256: crate::hash::sha256_hex(d.text.as_bytes()),
                size: d.text.len() as u64,
            })
            .collect();
        let check = |tgz: &[u8], w: &Written<'_>, pkg: &Package| {
            w.check(tgz, pkg, release.manifest_json, &manifest_docs, &[])
        };
        check(&tgz, &written, &pkg).unwrap();
        // What was checked is what every reader reads.
        let entries = unpack(&tgz, "t", UnpackLimits::default()).unwrap();
        let names: Vec<String> = entries
            .iter()
            .map(|(n, _)| format!("package/{n}"))
            .collect();
        assert_eq!(names, pkg.files);

        // A byte changed on its way to the file, the file cut short or grown.
        let mut flipped = tgz.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        let e = check(&flipped, &written, &pkg).unwrap_err();
        assert!(e.contains("is not the one built"), "{e}");
        let e = check(&tgz[..tgz.len() - 1], &written, &pkg).unwrap_err();
        assert!(e.contains("is not the one built"), "{e}");
        let mut longer = tgz.clone();
        longer.push(0);
        let e = check(&longer, &written, &pkg).unwrap_err();
        assert!(e.contains("is not the one built"), "{e}");

        // A writer that wrote (and compressed, and hashed) other entries than it was meant
        // to: the archive written from edited entries, checked against the package built.
        type Entries = Vec<(String, Vec<u8>)>;
        let rewrite = |edit: &dyn Fn(&mut Entries)| -> (Vec<u8>, Written<'static>, Package) {
            let mut entries = entries.clone();
            edit(&mut entries);
            let data: Vec<(String, Data<'static>)> = entries
                .into_iter()
                .map(|(p, b)| (format!("package/{p}"), Data::Owned(b)))
                .collect();
            let (tar, _) = write_tar(&data, true).unwrap();
            let bytes = gzip_to_vec(&tar);
            let w = Written {
                head: Vec::new(),
                head_total: 0,
                body: Arc::new(Plan::new(tar, 6, Vec::new())),
                head_jobs: Vec::new(),
                assets: Vec::new(),
                crc32: crc32fast::hash(&bytes),
                size: bytes.len() as u64,
            };
            let mut p = pkg.clone();
            p.size = bytes.len() as u64;
            p.sha256 = crate::hash::sha256_hex(&bytes);
            (bytes, w, p)
        };
        let (same, w, p) = rewrite(&|_| {});
        check(&same, &w, &p).unwrap();
        let doc = "docs/en/K3.md";
        let (t, w, p) = rewrite(&|e| {
            let d = e.iter_mut().find(|(n, _)| n == doc).unwrap();
            d.1 = b"# Doc 3\n\nText 4.\n".to_vec();
        });
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("docs/en/K3.md does not match its sha256"), "{e}");
        let (t, w, p) = rewrite(&|e| e.retain(|(n, _)| n != doc));
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("entries where"), "{e}");
        let (t, w, p) = rewrite(&|e| e.swap(3, 4));
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("the first difference is entry 3"), "{e}");
        let (t, w, p) = rewrite(&|e| e[0].1 = b"{}".to_vec());
        let e = check(&t, &w, &p).unwrap_err();
        assert!(
            e.contains("unpacks to") || e.contains("package.json"),
            "{e}"
        );
        let (t, w, p) = rewrite(&|e| e[0].1[2] ^= 0x20);
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("its package.json is not the one written"), "{e}");
        let (t, w, p) = rewrite(&|e| {
            let m = e.iter_mut().find(|(n, _)| n == "manifest.json").unwrap();
            m.1[0] ^= 0x01;
        });
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("manifest.json is not the one written"), "{e}");
        let (t, w, p) = rewrite(&|e| e[1].0 = "READ:ME.md".into());
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("outside `package/` or unsafe"), "{e}");
        let (t, w, p) = rewrite(&|e| e[4].0 = e[3].0.clone());
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        // An archive that ends inside an entry (its last document cut).
        let (t, mut w, p) = rewrite(&|_| {});
        let mut tar = w.body.tar.clone();
        while matches!(tar.segments.last(), Some(Segment::Bytes(b)) if b.iter().all(|&x| x == 0))
            || matches!(tar.segments.last(), Some(Segment::Slice(b)) if b.iter().all(|&x| x == 0))
        {
            tar.segments.pop();
        }
        tar.segments.push(Segment::Bytes(b"# Doc".to_vec()));
        tar.total = tar.segments.iter().map(Segment::len).sum();
        w.body = Arc::new(Plan::new(tar, 6, Vec::new()));
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("is cut short"), "{e}");
        // Chunks that do not cover the archive.
        let (t, mut w, p) = rewrite(&|_| {});
        Arc::get_mut(&mut w.body).unwrap().jobs[0].len -= 1;
        let e = check(&t, &w, &p).unwrap_err();
        assert!(e.contains("cover"), "{e}");
        // A document the manifest lists but the tarball lacks entirely.
        let mut more = manifest_docs.clone();
        more[0].path = "missing.md".into();
        let e = written
            .check(&tgz[..], &pkg, release.manifest_json, &more, &[])
            .unwrap_err();
        assert!(e.contains("docs/en/missing.md is missing"), "{e}");
        // An asset the format ships but the tarball lacks.
        let asset = crate::manifest::ManifestAsset {
            path: "en/img/a.png".into(),
            sha256: crate::hash::sha256_hex(b"png"),
            size: 3,
            referenced_by: Vec::new(),
        };
        let e = written
            .check(
                &tgz[..],
                &pkg,
                release.manifest_json,
                &manifest_docs,
                &[asset],
            )
            .unwrap_err();
        assert!(e.contains("docs/en/img/a.png is missing"), "{e}");

        // A large manifest.json is kept as its hash until the read-back.
        let big = format!("{{\"pad\": \"{}\"}}\n", "x".repeat(100_000));
        let release = Release {
            manifest_json: big.as_bytes(),
            ..test_release()
        };
        let (tgz, pkg, written) = build_written(&contents, &release);
        assert!(
            written
                .head
                .iter()
                .any(|p| matches!(p, readback::Piece::Hashed(..)))
        );
        let check = |manifest: &[u8]| written.check(&tgz[..], &pkg, manifest, &manifest_docs, &[]);
        check(big.as_bytes()).unwrap();
        let mut other = big.clone().into_bytes();
        other[50_000] = b'y';
        let e = check(&other).unwrap_err();
        assert!(
            e.contains("its manifest.json is not the one written"),
            "{e}"
        );
        let e = check(&other[1..]).unwrap_err();
        assert!(
            e.contains("its manifest.json is not the one written"),
            "{e}"
        );
    }

    #[test]
    fn a_chunk_that_does_not_decompress_to_its_input_is_never_written() {
        let input: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i % 13).into_bytes())
            .collect();
        for level in [0, 1, 6, 9] {
            let chunk = deflate_chunk(&input, level, false);
            readback::inflates_to(&chunk, &input, false).unwrap();
            let end = deflate_chunk(&[], level, true);
            readback::inflates_to(&end, &[], true).unwrap();
            // A bit flipped anywhere; the chunk cut short (no block boundary at its end).
            // (Bit 0 of a byte: the padding bits before a stored block are never read, so
            // a flip there is what the file's CRC-32 catches, not this.)
            for at in [0, chunk.len() / 3, chunk.len() / 2, 2 * chunk.len() / 3] {
                let mut bad = chunk.clone();
                bad[at] ^= 0x01;
                assert!(
                    readback::inflates_to(&bad, &input, false).is_err(),
                    "{level} {at}"
                );
            }
            let e = readback::inflates_to(&chunk[..chunk.len() - 4], &input, false).unwrap_err();
            assert!(!e.is_empty());
            // Other input; a final block where the stream goes on; no final block at the end.
            let mut other = input.clone();
            other[1000] = b'#';
            let e = readback::inflates_to(&chunk, &other, false).unwrap_err();
            assert!(e.contains("differing from byte 1000"), "{e}");
            let e = readback::inflates_to(&chunk, &input[1..], false).unwrap_err();
            assert!(!e.is_empty());
            let fin = deflate_chunk(&input, level, true);
            let e = readback::inflates_to(&fin, &input, false).unwrap_err();
            assert!(e.contains("final block"), "{e}");
            let e = readback::inflates_to(&chunk, &input, true).unwrap_err();
            assert!(e.contains("does not end the stream"), "{e}");
        }
        // A chunk that refers back before its own start (compressed as the second half of
        // one stream) does not stand on its own.
        let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
        let mut out = Vec::with_capacity(1 << 20);
        c.compress_vec(&input[..100_000], &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        let first = out.len();
        c.compress_vec(
            &input[100_000..200_000],
            &mut out,
            flate2::FlushCompress::Sync,
        )
        .unwrap();
        readback::inflates_to(&out[..first], &input[..100_000], false).unwrap();
        let e = readback::inflates_to(&out[first..], &input[100_000..200_000], false).unwrap_err();
        assert!(e.contains("not valid deflate"), "{e}");
        // Stored blocks as the assets are written.
        let mut stored = Vec::new();
        for block in input[..150_000].chunks(65_535) {
            stored.extend_from_slice(&stored_block_header(block.len() as u16));
            stored.extend_from_slice(block);
        }
        readback::inflates_to(&stored, &input[..150_000], false).unwrap();
        // The emitter refuses a chunk that failed, and writes nothing of it.
        let mut emitted = 0usize;
        let e = ordered_parallel(
            &[0, 1, 2],
            &|i| {
                let mut p = fake_part(i);
                if i == 1 {
                    p.check = Err(Arc::from("it decompresses to other bytes"));
                }
                p
            },
            &mut |_| {
                emitted += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("refusing to write the tarball"),
            "{e}"
        );
        assert!(e.to_string().contains("compressed chunk 1"), "{e}");
        assert_eq!(emitted, 1);
    }

    #[test]
    fn finished_late_the_tarball_is_the_same() {
        // The workers run as far ahead as they may before the release's entries come.
        let docs: Vec<Document> = (0..40)
            .map(|i| {
                let text: String = (0..3000).map(|j| format!("doc {i} line {j}\n")).collect();
                test_doc(&format!("K{i}"), &text)
            })
            .collect();
        let langs = vec!["en".to_string()];
        let contents = test_contents(&langs, &docs, 6, FORMAT);
        let release = test_release();
        let (at_once, _) = build_in_memory(&contents, &release);
        let mut late = Vec::new();
        let (pkg, _) = std::thread::scope(|scope| {
            let started = start(scope, &contents).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            started.finish(&release, &mut |p: &[u8]| {
                late.extend_from_slice(p);
                Ok(())
            })
        })
        .unwrap();
        assert!(
            pkg.unpacked_size > 3 * GZIP_CHUNK as u64,
            "several chunks ahead of the release's entries"
        );
        assert!(late == at_once, "same bytes");
        assert_eq!(pkg.size, late.len() as u64);
        let files = unpack(&late, "test", UnpackLimits::default()).unwrap();
        assert_eq!(files[0].0, "package.json");
        assert_eq!(files[2].0, "manifest.json");
        // package.json, README, manifest.json; two bundles; two declarations (format 3); the
        // `{ meta, body }` bundle, the lazy index, their declarations and one module per
        // document (format 4).
        assert_eq!(files.len(), 3 + 2 + 2 + docs.len() + 4 + docs.len());
        let index = &files
            .iter()
            .find(|f| f.0 == "dist/esm/en/index.js")
            .unwrap()
            .1;
        let index = std::str::from_utf8(index).unwrap();
        for d in &docs {
            let module = format!("./doc/{}.js", &d.sha256[..LAZY_NAME_HEX]);
            assert!(
                index.contains(&format!("\"{}\": () => import(\"{module}\")", d.key)),
                "{index}"
            );
        }
    }

    /// Documents that exercise the format-2 mirror: every escape, characters escaped whole,
    /// phrases repeated across documents, sizes from empty to several chunks, keys in another
    /// order than paths, two languages, non-ASCII paths (PAX headers).
    fn mirror_docs() -> Vec<Document> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let words = [
            "release",
            "\"quoted\"",
            "back\\slash",
            "</script>",
            "<!-- c -->",
            "\u{2028}",
            "\u{2029}",
            "tab\there",
            "\u{1}",
            "知识库",
            "发布",
            "`code`",
            "${x}",
            "<b>",
            "\n\n## ",
            "| a | b |\n",
            "registry",
            "https://docs.example.com/en/kb/",
            "é",
            "\r",
        ];
        let mut docs = Vec::new();
        for (lang, n) in [("en", 60), ("zh", 45)] {
            for i in 0..n {
                let size = match i % 7 {
                    0 => 0,
                    1 => 5,
                    2 => 300,
                    // One document over a chunk, cut inside by the mirror.
                    3 if i == 3 => 1_200_000,
                    3 => 150_000 + (i * 1000),
                    _ => 9_000 + (i * 37),
                };
                let mut text = String::new();
                while text.len() < size {
                    let w = words[(next() % words.len() as u64) as usize];
                    text.push_str(w);
                    text.push(if next() % 9 == 0 { '\n' } else { ' ' });
                }
                let mut d = test_doc(&format!("K{:03}", (i * 37) % n), &text);
                d.lang = lang.into();
                d.path = if i % 5 == 0 {
                    format!("目录/{i:03}.md")
                } else {
                    format!("p/{i:03}.md")
                };
                docs.push(d);
            }
        }
        docs
    }

    fn pack(docs: &[Document], level: u32, format: u32) -> (Vec<u8>, Package) {
        let langs = vec!["en".to_string(), "zh".to_string()];
        let contents = test_contents(&langs, docs, level, format);
        build_in_memory(&contents, &test_release())
    }

    #[test]
    fn format_2_holds_the_files_of_format_1_in_bundle_order() {
        let docs = mirror_docs();
        let (one, _) = pack(&docs, 6, 1);
        let (two, pkg) = pack(&docs, 6, 2);
        let limits = UnpackLimits {
            max_unpacked: 1 << 30,
            max_entries: 10_000,
        };
        let a = unpack(&one, "format 1", limits).unwrap();
        let b = unpack(&two, "format 2", limits).unwrap();
        // The same files with the same bytes…
        let (mut sa, mut sb) = (a.clone(), b.clone());
        sa.sort();
        sb.sort();
        assert!(sa == sb, "same files and bytes");
        assert_eq!(b.len(), 3 + 4 + docs.len());
        // …format 1's documents by path, format 2's by bundle key within each language.
        let names = |files: &[(String, Vec<u8>)]| -> Vec<String> {
            files
                .iter()
                .map(|f| f.0.clone())
                .filter(|n| n.starts_with("docs/"))
                .collect()
        };
        let by_path: Vec<String> = docs
            .iter()
            .map(|d| format!("docs/{}/{}", d.lang, d.path))
            .collect();
        assert_eq!(names(&a), by_path);
        let mut by_key: Vec<&Document> = docs.iter().collect();
        by_key.sort_by(|x, y| (x.lang != "en", &x.key).cmp(&(y.lang != "en", &y.key)));
        let by_key: Vec<String> = by_key
            .iter()
            .map(|d| format!("docs/{}/{}", d.lang, d.path))
            .collect();
        assert_eq!(names(&b), by_key);
        assert_ne!(by_key, by_path, "the fixture orders keys unlike paths");
        // Random words and an escape in nearly every one: the worst case for the mirror, which
        // carries matches over escapes only where the escaped bytes agree too.
        let ratio = two.len() as f64 / one.len() as f64;
        assert!(ratio < 1.15, "format 2 is {ratio:.4} × format 1");
        assert_eq!(pkg.size, two.len() as u64);
        // Deterministic.
        assert!(pack(&docs, 6, 2).0 == two, "same bytes again");
    }

    #[test]
    fn format_2_costs_little_compression_on_a_realistic_knowledge_base() {
        let files = crate::synth::generate(&crate::synth::Spec {
            docs_per_lang: 400,
            ..Default::default()
        });
        let docs: Vec<Document> = files
            .iter()
            .map(|f| {
                let (lang, path) = f.path.split_once('/').unwrap();
                // Keys in another order than paths, as in real knowledge bases.
                let key: String = path.chars().rev().collect();
                let mut d = test_doc(&key, std::str::from_utf8(&f.bytes).unwrap());
                d.lang = lang.into();
                d.path = path.into();
                d
            })
            .collect();
        let (one, _) = pack(&docs, 6, 1);
        let (two, _) = pack(&docs, 6, 2);
        let ratio = two.len() as f64 / one.len() as f64;
        assert!(ratio < 1.025, "format 2 is {ratio:.4} × format 1");
        let limits = UnpackLimits {
            max_unpacked: 1 << 30,
            max_entries: 10_000,
        };
        let (mut a, mut b) = (
            unpack(&one, "1", limits).unwrap(),
            unpack(&two, "2", limits).unwrap(),
        );
        a.sort();
        b.sort();
        assert!(a == b, "same files and bytes");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        /// Whatever the documents, escapes and chunk boundaries (the first document is
        /// repeated past one or two bundle chunks), format 2 holds exactly format 1's files.
        #[test]
        fn format_2_holds_any_documents(
            pieces in proptest::collection::vec(
                proptest::string::string_regex(
                    "([a-z\"\\\\<>/!\n\t\u{1}\u{2028}\u{2029}\u{2014}é中 ]|</|<!){0,40}"
                ).expect("regex"),
                1..8,
            ),
            repeat in 1_000usize..2_600,
            keys in proptest::collection::vec("[A-Za-z]{1,6}", 8),
        ) {
            let mut docs: Vec<Document> = pieces
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let text = if i == 0 { p.repeat(repeat * 20) } else { p.clone() };
                    let mut d = test_doc(&format!("{}{i}", keys[i]), &text);
                    d.path = format!("d{i}.md");
                    d.lang = if i % 2 == 0 { "en" } else { "zh" }.into();
                    d
                })
                .collect();
            docs.sort_by(|a, b| (a.lang != "en", &a.path).cmp(&(b.lang != "en", &b.path)));
            let limits = UnpackLimits {
                max_unpacked: 1 << 30,
                max_entries: 10_000,
            };
            let (one, _) = pack(&docs, 6, 1);
            let (two, _) = pack(&docs, 6, 2);
            let mut a = unpack(&one, "format 1", limits).unwrap();
            let mut b = unpack(&two, "format 2", limits).unwrap();
            a.sort();
            b.sort();
            proptest::prop_assert!(a == b, "same files and bytes");
        }
    }

    #[test]
    fn format_2_roundtrips_at_every_level() {
        let docs: Vec<Document> = mirror_docs().into_iter().step_by(3).collect();
        for level in [0, 1, 4, 9] {
            let (one, _) = pack(&docs, level, 1);
            let (two, _) = pack(&docs, level, 2);
            let limits = UnpackLimits {
                max_unpacked: 1 << 30,
                max_entries: 10_000,
            };
            let mut a = unpack(&one, "format 1", limits).unwrap();
            let mut b = unpack(&two, "format 2", limits).unwrap();
            a.sort();
            b.sort();
            assert!(a == b, "level {level}: same files and bytes");
        }
    }

    #[test]
    fn ordered_parallel_stops_at_the_first_emit_error() {
        let n = 200;
        let source: Vec<usize> = (0..n).collect();
        let computed = std::sync::atomic::AtomicUsize::new(0);
        let compress = |i: usize| {
            computed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            fake_part(i)
        };
        let mut emitted = 0;
        let err = ordered_parallel(&source, &compress, &mut |_: &[u8]| {
            emitted += 1;
            if emitted == 3 {
                return Err(Error::io(
                    "write",
                    "package.tgz",
                    std::io::Error::other("disk full"),
                ));
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.chain(), "cannot write `package.tgz`: disk full");
        assert_eq!(emitted, 3);
        // The workers stopped within their look-ahead instead of compressing everything.
        let ahead = 4 * rayon::current_num_threads().max(2);
        let done = computed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            done <= 3 + ahead + rayon::current_num_threads(),
            "{done} jobs compressed"
        );
    }

    #[test]
    fn ordered_parallel_passes_a_worker_panic_on_instead_of_hanging() {
        let n = 200;
        let source: Vec<usize> = (0..n).collect();
        let compress = |i: usize| {
            assert!(i != 5, "compression of chunk 5 failed");
            fake_part(i)
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ordered_parallel(&source, &compress, &mut |_: &[u8]| Ok(()))
        }));
        assert!(result.is_err(), "the panic reaches the caller");
    }

    /// A shared body spanning several chunks, emitted again many chunks later: the kept
    /// chunks are emitted in order and only once computed.
    #[test]
    fn streamed_gzip_keeps_shared_chunks_across_windows() {
        let text: String = (0..70_000)
            .map(|i| format!("line {i} of the shared body\n"))
            .collect();
        let doc = test_doc("K", &text);
        let shared = Arc::new(BundleBody::new(&[&doc]).unwrap());
        let rendered = bundle_object(&[&doc]).unwrap();
        assert!(rendered.len() > 2 * GZIP_CHUNK);
        let filler: Vec<u8> = (0..40 * GZIP_CHUNK).map(|i| (i * 13 % 241) as u8).collect();
        let stream = TarStream {
            segments: vec![
                Segment::Shared(shared.clone()),
                Segment::Slice(&filler),
                Segment::Shared(shared.clone()),
            ],
            total: 2 * rendered.len() + filler.len(),
        };
        let gz = gzip_to_vec(&stream);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        let mut expected = rendered.as_bytes().to_vec();
        expected.extend_from_slice(&filler);
        expected.extend_from_slice(rendered.as_bytes());
        assert!(back == expected, "round trip");
        // The second copy of the shared body compresses to the same bytes as the first: the
        // compressed stream holds them twice.
        let mut first = Vec::new();
        gzip_parallel(
            &TarStream {
                segments: vec![Segment::Shared(shared)],
                total: rendered.len(),
            },
            6,
            &mut |part: &[u8]| {
                first.extend_from_slice(part);
                Ok(())
            },
        )
        .unwrap();
        let body = &first[10..first.len() - 8 - deflate_chunk(&[], 6, true).len()];
        assert_eq!(gz.windows(body.len()).filter(|w| *w == body).count(), 2);
    }

    #[test]
    fn parallel_gzip_roundtrips_across_chunks() {
        let data: Vec<u8> = (0..3 * GZIP_CHUNK + 123)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let stream = TarStream {
            segments: vec![
                Segment::Bytes(data[..1000].to_vec()),
                Segment::Bytes(data[1000..].to_vec()),
            ],
            total: data.len(),
        };
        let gz = gzip_to_vec(&stream);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let again = gzip_to_vec(&stream);
        assert_eq!(gz, again, "deterministic");
    }
}
