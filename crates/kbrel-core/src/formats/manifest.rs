//! The registry's JSON formats: `index.json`, `v/<version>/manifest.json`, `v/<version>/diff.json`.
//!
//! This module is the only one that knows their shape. Every format carries `schema_version`;
//! readers refuse unknown fields and newer schemas rather than guess. JSON Schemas for these
//! types live in `schema/`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};
use crate::findings::Finding;

pub const SCHEMA_VERSION: u32 = 1;

/// `index.json`: what consumers poll. Written last by every publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub schema_version: u32,
    pub name: String,
    /// Increases by one with every change of the index (rollback protection for consumers).
    pub sequence: u64,
    /// Tag name → version, each validated once when the index is read (see
    /// [`index_dist_tags`]) and written back as its canonical string, the one it was read from.
    #[serde(deserialize_with = "index_dist_tags")]
    pub dist_tags: BTreeMap<String, semver::Version>,
    /// Every published version, in ascending semver order.
    pub versions: Vec<IndexVersion>,
    /// RFC 3339: consumers that verify signatures refuse this index after that time
    /// (freeze protection). Set by `registry.expires_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexVersion {
    /// Validated once when the index is read (see [`index_version`]); written as its
    /// canonical string, which is exactly the string it was read from.
    #[serde(deserialize_with = "index_version")]
    pub version: semver::Version,
    /// RFC 3339 UTC publish time.
    pub published: String,
    /// The version this one was diffed against (the highest lower version at publish time),
    /// validated once when the index is read like `version`.
    #[serde(deserialize_with = "index_previous")]
    pub previous: Option<semver::Version>,
    /// sha256 over the release's content (documents and package metadata, not the date):
    /// equal digests mean a re-publish is a no-op.
    pub content_digest: String,
    pub manifest: FileRef,
    pub diff: FileRef,
    /// `v/<version>/package.json`: the tarball's package.json (the npm version document).
    pub package_json: FileRef,
    pub tarball: TarballRef,
    /// Per language: document count and changes against `previous`.
    pub summary: BTreeMap<String, ChangeCounts>,
}

/// A file of the registry with its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Relative to the registry root, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TarballRef {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// `sha512-<base64>` (Subresource Integrity), as npm's `dist.integrity`.
    pub integrity: String,
    /// Hex sha1, as npm's `dist.shasum`.
    pub shasum: String,
    pub file_count: u64,
    pub unpacked_size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeCounts {
    pub documents: u64,
    pub added: u64,
    pub modified: u64,
    pub removed: u64,
    pub renamed: u64,
    pub added_lines: u64,
    pub removed_lines: u64,
}

/// `s` as semver, or the error a reader of `file` ("index", "manifest") reports, naming the
/// value and, after it, the field (`field` is empty or " (previous)" and the like).
fn version_in<E: serde::de::Error>(
    file: &str,
    s: &str,
    field: &str,
) -> std::result::Result<semver::Version, E> {
    semver::Version::parse(s)
        .map_err(|e| E::custom(format!("{file} lists invalid version `{s}`{field}: {e}")))
}

/// Reads an index version as semver, refusing the index with a message that names the value.
fn index_version<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<semver::Version, D::Error> {
    version_in("index", &String::deserialize(d)?, "")
}

/// An index version's `previous` (null for a first release), as [`index_version`].
fn index_previous<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<semver::Version>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| version_in("index", &s, " (previous)"))
        .transpose()
}

/// The index's dist-tags, each value as [`index_version`], refusing the index with a message
/// that names the tag and the value.
fn index_dist_tags<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, semver::Version>, D::Error> {
    BTreeMap::<String, String>::deserialize(d)?
        .into_iter()
        .map(|(tag, s)| {
            Ok((
                tag.clone(),
                version_in("index", &s, &format!(" (dist-tag `{tag}`)"))?,
            ))
        })
        .collect()
}

/// A manifest's `version`, as [`index_version`] reads the index's.
fn manifest_version<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<semver::Version, D::Error> {
    version_in("manifest", &String::deserialize(d)?, " (version)")
}

/// A manifest's `previous` (null for a first release).
fn manifest_previous<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<semver::Version>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| version_in("manifest", &s, " (previous)"))
        .transpose()
}

impl ChangeCounts {
    pub fn changed(&self) -> u64 {
        self.added + self.modified + self.removed + self.renamed
    }
}

/// `v/<version>/manifest.json`: every document of one release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: u32,
    pub name: String,
    /// Read as semver like the index's versions (a manifest naming an invalid one is corrupt,
    /// the message naming the value and the field); written as the string it was read from.
    #[serde(deserialize_with = "manifest_version")]
    pub version: semver::Version,
    pub published: String,
    #[serde(deserialize_with = "manifest_previous")]
    pub previous: Option<semver::Version>,
    pub languages: Vec<String>,
    pub source_language: String,
    pub content_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    /// Sorted by language (configured order) then path.
    pub documents: Vec<ManifestDoc>,
    /// Lint warnings at publish time.
    pub warnings: Vec<Finding>,
    /// Translation drift per non-source language at publish time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drift: BTreeMap<String, DriftCounts>,
    /// The package format of the release's tarball (`kbrel::package::FORMAT`); absent in
    /// releases of format 1. Rebuilding a release byte for byte takes the same format.
    #[serde(default = "format_one", skip_serializing_if = "is_format_one")]
    pub package_format: u32,
    /// The release's assets (images, PDFs…), sorted by path; package format 4 on, absent
    /// when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<ManifestAsset>,
}

/// One asset of a release: stored as the blob `sha256`, shipped as `docs/<path>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestAsset {
    /// Relative to the content root: `en/img/a.png`, `images/shared.png`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// The documents that link to it (content-root paths, sorted); absent when none does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referenced_by: Vec<String>,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

fn format_one() -> u32 {
    1
}

fn is_format_one(f: &u32) -> bool {
    *f == 1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitInfo {
    pub commit: String,
    pub dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDoc {
    pub id: String,
    pub lang: String,
    /// Relative to the language folder: `commands/publish.md`.
    pub path: String,
    pub key: String,
    /// The document's other bundle keys (sorted); absent when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `false` when `[bundle] documents = "keyed"` left it out of the bundles (it has no
    /// declared key); absent (`true`) otherwise.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub bundled: bool,
    pub title: Option<String>,
    pub url: Option<String>,
    /// sha256 of the normalised bytes; the blob's name.
    pub sha256: String,
    pub size: u64,
}

/// `v/<version>/diff.json`: changes against the previous version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffFile {
    pub schema_version: u32,
    pub name: String,
    pub from: Option<String>,
    pub to: String,
    pub summary: BTreeMap<String, ChangeCounts>,
    pub changes: Vec<DocChange>,
    /// Asset changes by path (package format 4 on); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<AssetChange>,
}

/// One asset added, removed or changed (same path, other bytes) between two releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetChange {
    pub path: String,
    /// `added`, `modified` or `removed`.
    pub status: ChangeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Added,
    Modified,
    Renamed,
    Removed,
}

impl ChangeStatus {
    /// git's `--name-status` letter.
    pub fn letter(self) -> char {
        match self {
            ChangeStatus::Added => 'A',
            ChangeStatus::Modified => 'M',
            ChangeStatus::Renamed => 'R',
            ChangeStatus::Removed => 'D',
        }
    }
}

/// One document in one language that differs between two releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocChange {
    pub lang: String,
    pub id: String,
    pub status: ChangeStatus,
    /// The path in the newer release (the old path for removals).
    pub path: String,
    /// The path in the older release, when it differs (renames).
    pub old_path: Option<String>,
    /// The id in the older release, when it differs (renames detected by similarity).
    pub old_id: Option<String>,
    pub key: String,
    pub old_key: Option<String>,
    pub title: Option<String>,
    pub old_title: Option<String>,
    pub old_sha256: Option<String>,
    pub sha256: Option<String>,
    /// Lines added/removed, equal to `git diff --numstat --minimal` of the normalised texts.
    pub added_lines: u64,
    pub removed_lines: u64,
    /// For renames: content similarity in percent.
    pub similarity: Option<u8>,
    /// Front-matter fields whose raw text changed (or appeared/disappeared).
    pub fields_changed: Vec<String>,
    /// Whether the body (after the front matter) changed.
    pub body_changed: bool,
    /// The line counts are approximate: the document pair is so large and so heavily edited
    /// that the exact (minimal) count ran out of time. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approximate: bool,
}

/// Serialise as pretty JSON with a trailing newline (the registry's canonical bytes).
pub fn to_json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("registry types always serialise");
    out.push(b'\n');
    out
}

fn parse<T: DeserializeOwned>(bytes: &[u8], path: &Path, what: &str) -> Result<T> {
    #[derive(Deserialize)]
    struct Probe {
        schema_version: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| Error::corrupt(path, format!("{what} is not valid JSON: {e}")))?;
    match probe.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION as u64) => {}
        Some(serde_json::Value::Number(n)) if n.as_u64() > Some(SCHEMA_VERSION as u64) => {
            return Err(Error::corrupt(
                path,
                format!(
                    "{what} has schema_version {n}, newer than this kbrel understands ({SCHEMA_VERSION}); upgrade kbrel"
                ),
            ));
        }
        Some(v) => {
            return Err(Error::corrupt(
                path,
                format!("{what} has unsupported schema_version {v}"),
            ));
        }
        None => {
            return Err(Error::corrupt(
                path,
                format!("{what} has no schema_version"),
            ));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(path, format!("{what}: {e}")))
}

pub fn parse_index(bytes: &[u8], path: &Path) -> Result<Index> {
    let index: Index = parse(bytes, path, "index")?;
    index.validate(path)?;
    Ok(index)
}

/// A path from a hostile file as a message shows it: control characters (a NUL, an escape
/// sequence) escaped, everything else as it is.
fn shown(p: &str) -> String {
    p.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

pub fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    let m: Manifest = parse(bytes, path, "manifest")?;
    for a in &m.assets {
        if !is_safe_relative_path(&a.path) {
            return Err(Error::corrupt(
                path,
                format!("manifest lists an unsafe asset path `{}`", shown(&a.path)),
            ));
        }
        if !is_sha256_hex(&a.sha256) {
            return Err(Error::corrupt(
                path,
                format!(
                    "manifest lists an invalid sha256 `{}` for asset `{}`",
                    a.sha256, a.path
                ),
            ));
        }
    }
    for d in &m.documents {
        if !is_safe_relative_path(&d.path) || !is_safe_segment(&d.lang) {
            return Err(Error::corrupt(
                path,
                format!(
                    "manifest lists an unsafe document path `{}/{}`",
                    shown(&d.lang),
                    shown(&d.path)
                ),
            ));
        }
        if !is_sha256_hex(&d.sha256) {
            return Err(Error::corrupt(
                path,
                format!(
                    "manifest lists an invalid sha256 `{}` for `{}`",
                    d.sha256, d.path
                ),
            ));
        }
    }
    Ok(m)
}

pub fn parse_diff(bytes: &[u8], path: &Path) -> Result<DiffFile> {
    parse(bytes, path, "diff")
}

impl Index {
    pub fn new(name: &str) -> Index {
        Index {
            schema_version: SCHEMA_VERSION,
            name: name.to_string(),
            sequence: 0,
            dist_tags: BTreeMap::new(),
            versions: Vec::new(),
            expires: None,
        }
    }

    pub fn get(&self, version: &str) -> Option<&IndexVersion> {
        let version = semver::Version::parse(version).ok()?;
        self.get_version(&version)
    }

    pub fn get_version(&self, version: &semver::Version) -> Option<&IndexVersion> {
        self.versions.iter().find(|v| v.version == *version)
    }

    /// Every version, comma-separated, for error messages.
    pub fn known_versions(&self) -> String {
        if self.versions.is_empty() {
            return "none published yet".into();
        }
        let mut names: Vec<String> = self
            .versions
            .iter()
            .map(|v| v.version.to_string())
            .collect();
        names.extend(self.dist_tags.keys().cloned());
        names.join(", ")
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let mut prev: Option<&semver::Version> = None;
        for v in &self.versions {
            if prev.is_some_and(|p| *p >= v.version) {
                return Err(Error::corrupt(
                    path,
                    format!(
                        "index versions are not in ascending order at `{}`",
                        v.version
                    ),
                ));
            }
            for f in [
                &v.manifest.path,
                &v.diff.path,
                &v.package_json.path,
                &v.tarball.path,
            ] {
                if !is_safe_relative_path(f) {
                    return Err(Error::corrupt(
                        path,
                        format!("index lists an unsafe path `{f}`"),
                    ));
                }
            }
            prev = Some(&v.version);
        }
        for (tag, version) in &self.dist_tags {
            if self.get_version(version).is_none() {
                return Err(Error::corrupt(
                    path,
                    format!("dist-tag `{tag}` points at unlisted version `{version}`"),
                ));
            }
        }
        Ok(())
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.contains(['/', '\\', '\0'])
        && !url_decodes_unsafely(s)
}

/// Whether a name that is safe as it is written becomes `.`, `..` or a name holding `/`, `\`
/// or NUL once a URL's `%XX` escapes are decoded (`%2e%2e`, `..%2f`, `%5c`, `%00`): a consumer
/// serving its cache over HTTP, or any tool that decodes paths, would climb out with it.
fn url_decodes_unsafely(s: &str) -> bool {
    if !s.contains('%') {
        return false;
    }
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                decoded.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                decoded.push(c);
                i += 1;
            }
        }
    }
    decoded == b"." || decoded == b".." || decoded.iter().any(|c| matches!(c, b'/' | b'\\' | 0))
}

/// Why one file or folder name is not portable, if it is not: what every file system kbrel's
/// output lands on (tarballs unpacked by npm on Windows, caches on macOS) accepts. Anything
/// that passes is also a safe segment for [`is_safe_relative_path`], so what a publish
/// writes, kbrel's readers read back.
pub fn portable_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("is empty, `.` or `..`".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "contains the control character {}",
            c.escape_unicode()
        ));
    }
    if url_decodes_unsafely(name) {
        return Some(
            "decodes as a URL (`%2e`, `%2f`, `%5c`, `%00`) to `.`, `..` or a name with `/`, `\\` or NUL"
                .into(),
        );
    }
    if let Some(c) = name.chars().find(|c| ":\\/<>\"|?*".contains(*c)) {
        return Some(format!(
            "contains `{c}`, which Windows (and kbrel's registry) refuse in file names"
        ));
    }
    if name.ends_with(['.', ' ']) {
        return Some("ends with a dot or a space, which Windows drops".into());
    }
    let stem = name
        .split('.')
        .next()
        .unwrap_or(name)
        .trim_end()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        return Some(format!("`{stem}` is a reserved device name on Windows"));
    }
    if name.len() > 255 {
        return Some("is longer than 255 bytes".into());
    }
    None
}

/// A relative `/`-separated path with no `..`, no absolute root, no backslashes or NULs, as
/// written or with `%XX` escapes decoded (`%2e%2e/x`, `..%2fx`).
pub fn is_safe_relative_path(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && p.split('/').all(is_safe_segment) && !p.contains(':')
}

/// Counts of each drift state, per language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftCounts {
    pub current: u64,
    pub outdated: u64,
    pub missing: u64,
    pub orphaned: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of `versions`, as `index.json` bytes.
    fn index_json(versions: &[&str]) -> Vec<u8> {
        let file = |p: &str| FileRef {
            path: p.into(),
            sha256: "0".repeat(64),
            size: 1,
        };
        let mut index = Index::new("acme");
        for v in versions {
            index.versions.push(IndexVersion {
                version: semver::Version::parse(v).unwrap(),
                published: "2026-12-07T00:00:00Z".into(),
                previous: None,
                content_digest: "0".repeat(64),
                manifest: file(&format!("v/{v}/manifest.json")),
                diff: file(&format!("v/{v}/diff.json")),
                package_json: file(&format!("v/{v}/package.json")),
                tarball: TarballRef {
                    path: format!("acme-{v}.tgz"),
                    sha256: "0".repeat(64),
                    size: 1,
                    integrity: String::new(),
                    shasum: String::new(),
                    file_count: 1,
                    unpacked_size: 1,
                },
                summary: BTreeMap::new(),
            });
        }
        to_json_bytes(&index)
    }

    #[test]
    fn index_versions_are_read_typed_and_written_back_as_read() {
        let versions = ["0.9.0", "1.2.0-beta.2", "1.2.0-beta.10", "1.2.0", "1.10.0"];
        let bytes = index_json(&versions);
        let text = String::from_utf8(bytes.clone()).unwrap();
        for v in versions {
            assert!(text.contains(&format!("\"version\": \"{v}\"")), "{text}");
        }
        let index = parse_index(&bytes, Path::new("index.json")).unwrap();
        assert_eq!(index.versions[3].version, semver::Version::new(1, 2, 0));
        assert_eq!(to_json_bytes(&index), bytes);
        assert!(index.get("1.2.0-beta.10").is_some());
        assert!(index.get("v1.2.0").is_none());
    }

    #[test]
    fn an_invalid_index_version_is_refused_naming_it() {
        let bytes = index_json(&["1.0.0", "1.1.0"]);
        let text = String::from_utf8(bytes).unwrap();
        for bad in ["1.0", "v1.0.0", "01.0.0", ""] {
            let edited = text.replacen(
                "\"version\": \"1.0.0\"",
                &format!("\"version\": \"{bad}\""),
                1,
            );
            let e = parse_index(edited.as_bytes(), Path::new("index.json")).unwrap_err();
            assert!(matches!(e, Error::CorruptRegistry { .. }), "{e:?}");
            let e = e.to_string();
            assert!(
                e.contains(&format!("index lists invalid version `{bad}`")),
                "{e}"
            );
        } // `previous` is read typed too, and written back as read.
        assert_eq!(text.matches("\"previous\": null").count(), 2, "{text}");
        let good = text.replacen("\"previous\": null", "\"previous\": \"1.0.0-rc.1+b7\"", 1);
        let index = parse_index(good.as_bytes(), Path::new("index.json")).unwrap();
        assert_eq!(
            index.versions[0].previous,
            Some(semver::Version::parse("1.0.0-rc.1+b7").unwrap())
        );
        assert_eq!(to_json_bytes(&index), good.as_bytes());
        let bad = text.replacen("\"previous\": null", "\"previous\": \"v1.0.0\"", 1);
        let e = parse_index(bad.as_bytes(), Path::new("index.json")).unwrap_err();
        assert!(matches!(e, Error::CorruptRegistry { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("index lists invalid version `v1.0.0` (previous)"),
            "{e}"
        );
    }

    /// Dist-tag values are versions read once: `releases/index.json` reads and writes back to
    /// its bytes; a value that is not semver is refused as corrupt naming the file, the tag and
    /// the value; a valid version the index does not list is refused as before.
    #[test]
    fn dist_tags_are_typed_and_an_invalid_one_is_refused_naming_file_and_tag() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../releases/index.json");
        let bytes = std::fs::read(&path).unwrap();
        let index = parse_index(&bytes, &path).unwrap();
        assert!(
            index.dist_tags.contains_key("latest"),
            "{:?}",
            index.dist_tags
        );
        assert_eq!(to_json_bytes(&index), bytes);

        let text = String::from_utf8(index_json(&["1.0.0", "1.1.0-beta.1"])).unwrap();
        let tagged = |tags: &str| {
            text.replacen(
                "\"dist_tags\": {}",
                &format!("\"dist_tags\": {{{tags}}}"),
                1,
            )
        };
        let good = tagged("\n    \"latest\": \"1.0.0\",\n    \"next\": \"1.1.0-beta.1\"\n  ");
        assert_ne!(good, text);
        let index = parse_index(good.as_bytes(), Path::new("index.json")).unwrap();
        assert_eq!(
            index.dist_tags["next"],
            semver::Version::parse("1.1.0-beta.1").unwrap()
        );
        assert_eq!(String::from_utf8(to_json_bytes(&index)).unwrap(), good);
        for (bad, why) in [
            (
                "\"beta\": \"v1.0.0\"",
                "index lists invalid version `v1.0.0` (dist-tag `beta`)",
            ),
            (
                "\"beta\": \"1.0\"",
                "index lists invalid version `1.0` (dist-tag `beta`)",
            ),
            (
                "\"beta\": \"1.2.0\"",
                "dist-tag `beta` points at unlisted version `1.2.0`",
            ),
        ] {
            let e = parse_index(tagged(bad).as_bytes(), Path::new("r/index.json")).unwrap_err();
            assert!(matches!(e, Error::CorruptRegistry { .. }), "{e:?}");
            let e = e.to_string();
            assert!(e.contains("`r/index.json`") && e.contains(why), "{e}");
        }
    }

    /// Every manifest in `releases/` reads with typed versions and writes back to its bytes;
    /// an invalid `version` or `previous` is refused naming the file, the value and the field.
    #[test]
    fn manifest_versions_are_typed_and_an_invalid_one_is_refused_naming_it() {
        let releases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../releases/v");
        let mut read = 0;
        for e in std::fs::read_dir(&releases).unwrap() {
            let path = e.unwrap().path().join("manifest.json");
            let bytes = std::fs::read(&path).unwrap();
            let m = parse_manifest(&bytes, &path).unwrap();
            assert_eq!(to_json_bytes(&m), bytes, "{}", path.display());
            read += 1;
        }
        assert!(read >= 5, "{read} manifests in releases/");
        let path = releases.join("1.1.0/manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        for (field, from, bad) in [
            ("version", "\"version\": \"1.1.0\"", "1.1"),
            ("previous", "\"previous\": \"1.0.0\"", "v1.0.0"),
        ] {
            assert!(text.contains(from), "{from}");
            let edited = text.replacen(from, &format!("\"{field}\": \"{bad}\""), 1);
            let e =
                parse_manifest(edited.as_bytes(), Path::new("v/1.1.0/manifest.json")).unwrap_err();
            assert!(matches!(e, Error::CorruptRegistry { .. }), "{e:?}");
            let e = e.to_string();
            assert!(
                e.contains("v/1.1.0/manifest.json")
                    && e.contains(&format!("manifest lists invalid version `{bad}` ({field})")),
                "{e}"
            );
        }
    }

    #[test]
    fn newer_schema_is_refused_clearly() {
        let e = parse_index(br#"{"schema_version": 9}"#, Path::new("i.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn unsafe_paths() {
        assert!(is_safe_relative_path("en/a/b.md"));
        for p in ["../x", "/etc/passwd", "a/../b", "a\\b", "", "a//b", "c:/x"] {
            assert!(!is_safe_relative_path(p), "{p}");
        }
        // What a URL decodes into a traversal, in either case, is refused as the decoded path
        // would be, and publish refuses to write such a name (KB030).
        for p in [
            "%2e%2e/%2e%2e/etc/passwd",
            "images/%2E%2E/x.png",
            "images/..%2fx.png",
            "images/..%2F..%2Fx.png",
            "%2e/x",
            ".%2e/x",
            "a%5cb",
            "a%00.png",
        ] {
            assert!(!is_safe_relative_path(p), "{p}");
            let name = p.split('/').find(|s| url_decodes_unsafely(s)).unwrap();
            assert!(portable_name_problem(name).is_some(), "{name}");
        }
        // A `%` that decodes to nothing unsafe is an ordinary character.
        for p in [
            "images/100%.png",
            "a/%41%42.md",
            "x/%2e%2e%2e.png",
            "%zz/%2",
        ] {
            assert!(is_safe_relative_path(p), "{p}");
        }
    }
}
