//! `kbrel verify`: check a registry directory completely, and (with repair) remove only what
//! is provably garbage: staging directories, and version directories, tarballs and blobs that
//! the index does not reference, all while holding the publish lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Error, Result, VerifyError};
use crate::manifest::{self, Index, Manifest};
use crate::registry::{self, Registry};

/// One problem, at one path of the registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// Relative to the registry root.
    pub path: String,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// index.json is unreadable or inconsistent.
    Index,
    /// A listed file is missing or does not match its recorded hash.
    Corrupt,
    /// A tarball does not unpack to exactly the manifest's documents.
    Tarball,
    /// A stored diff does not match the recomputed one.
    Diff,
    /// Left by an interrupted publish; `--repair` removes it.
    Garbage,
    /// A symbolic link or special file (FIFO, device, socket) where kbrel keeps its own files:
    /// never followed or removed; a human must fix it.
    Foreign,
}

/// What `verify` found; `kbrel verify --json` prints it (with `schema_version` and `ok`
/// beside it), and reads back into it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub versions: usize,
    pub blobs: usize,
    pub problems: Vec<Problem>,
    /// Paths removed by repair.
    pub repaired: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn problem(path: impl Into<String>, kind: ProblemKind, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        kind,
        message: message.into(),
    }
}

/// Check everything; with `repair`, take the lock and remove garbage.
///
/// The folder must be recognisable as a registry first: its `index.json` exists (otherwise
/// an error: nothing was checked), and, for `repair`, parses and names `expected_name` when
/// one is given (otherwise repair refuses before anything, even the lock file, is written).
/// Garbage is judged and removed without following links: a link or special file where
/// kbrel's own files belong is a [`ProblemKind::Foreign`] problem, never removed.
pub fn verify(reg: &Registry, repair: bool, expected_name: Option<&str>) -> Result<VerifyReport> {
    if !reg.dir.is_dir() {
        return Err(reg.not_a_registry());
    }
    let read_index = |report: &mut VerifyReport| -> Result<Option<Index>> {
        let index_path = reg.path(registry::INDEX_FILE);
        match crate::fsx::read_regular(&index_path, registry::MAX_INDEX_BYTES) {
            Ok(bytes) => match manifest::parse_index(&bytes, &index_path) {
                Ok(i) => {
                    if let Some(want) = expected_name.filter(|w| *w != i.name) {
                        report.problems.push(problem(
                            registry::INDEX_FILE,
                            ProblemKind::Index,
                            format!(
                                "this registry is for package `{}`, but kbrel.toml names `{want}` (is registry.dir right?)",
                                i.name
                            ),
                        ));
                    }
                    Ok(Some(i))
                }
                Err(e) => {
                    report.problems.push(problem(
                        registry::INDEX_FILE,
                        ProblemKind::Index,
                        e.chain(),
                    ));
                    Ok(None)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(reg.not_a_registry()),
            Err(e) => Err(Error::io("read", index_path, e)),
        }
    };
    // Recognise the registry before anything is written (the lock file included).
    let mut why = VerifyReport::default();
    if repair && (read_index(&mut why)?.is_none() || !why.problems.is_empty()) {
        return Err(VerifyError::NotThisRegistry {
            registry: reg.dir.clone(),
            reason: why
                .problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_else(|| "index.json is unreadable".into()),
        }
        .into());
    }
    let _lock = if repair {
        Some(reg.lock(Duration::from_secs(30))?)
    } else {
        None
    };
    let mut report = VerifyReport::default();
    let index = read_index(&mut report)?;
    if repair && (index.is_none() || !report.problems.is_empty()) {
        return Err(VerifyError::IndexChanged {
            registry: reg.dir.clone(),
        }
        .into());
    }
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    // Whether every listed manifest was read: otherwise the blobs an unreadable manifest
    // references are unknown, and no blob is provably garbage.
    let mut all_manifests = true;
    if let Some(index) = &index {
        all_manifests = check_index(reg, index, &mut report, &mut referenced);
        check_derived(reg, index, &mut report);
        check_precompressed(reg, index, repair, &mut report)?;
        check_blob_siblings(reg, &referenced, repair, &mut report)?;
    }
    // Garbage: staging directories, unlisted version dirs, tarballs and blobs. Only judged
    // when the index is readable (otherwise nothing is provably unreferenced).
    if index.is_some() {
        for (rel, kind) in unreferenced(reg, &referenced, all_manifests, &mut report)? {
            if kind != crate::fsx::Kind::File && kind != crate::fsx::Kind::Dir {
                report.problems.push(foreign(&rel, kind));
                continue;
            }
            let message = if rel.starts_with(registry::STAGING_PREFIX) {
                "staging directory left by an interrupted publish"
            } else {
                "not referenced by index.json (left by an interrupted publish)"
            };
            report
                .problems
                .push(problem(&rel, ProblemKind::Garbage, message));
            if repair {
                reg.remove(&rel)?;
                report.repaired.push(rel);
            }
        }
    }
    if repair {
        let repaired: BTreeSet<&String> = report.repaired.iter().collect();
        report.problems.retain(|p| !repaired.contains(&p.path));
    }
    report.problems.sort();
    Ok(report)
}

fn foreign(rel: &str, kind: crate::fsx::Kind) -> Problem {
    problem(
        rel,
        ProblemKind::Foreign,
        format!(
            "is {} where kbrel keeps its own files; it is neither followed nor removed (remove or replace it by hand)",
            kind.describe()
        ),
    )
}

fn check_index(
    reg: &Registry,
    index: &Index,
    report: &mut VerifyReport,
    referenced: &mut BTreeSet<String>,
) -> bool {
    let mut all_read = true;
    let mut manifests: BTreeMap<semver::Version, Manifest> = BTreeMap::new();
    // Each blob with the largest size a manifest records for it (reads are bounded by it).
    let mut blobs: BTreeMap<String, u64> = BTreeMap::new();
    for v in &index.versions {
        report.versions += 1;
        referenced.insert(format!("v/{}", v.version));
        referenced.insert(v.tarball.path.clone());
        let m = match reg.read_manifest(v) {
            Ok(m) => m,
            Err(e) => {
                report
                    .problems
                    .push(problem(&v.manifest.path, ProblemKind::Corrupt, e.chain()));
                all_read = false;
                continue;
            }
        };
        if m.version != v.version || m.name != index.name {
            report.problems.push(problem(
                &v.manifest.path,
                ProblemKind::Corrupt,
                format!(
                    "manifest says {}@{}, index says {}@{}",
                    m.name, m.version, index.name, v.version
                ),
            ));
        }
        for d in &m.documents {
            let size = blobs.entry(d.sha256.clone()).or_insert(0);
            *size = (*size).max(d.size);
        }
        for asset in &m.assets {
            let size = blobs.entry(asset.sha256.clone()).or_insert(0);
            *size = (*size).max(asset.size);
        }
        manifests.insert(v.version.clone(), m);
    }
    // Blobs, each once, in parallel.
    report.blobs = blobs.len();
    let blob_problems: Vec<Problem> = blobs
        .par_iter()
        .filter_map(|(sha, size)| {
            let rel = registry::blob_path(sha);
            // Hashed as read (an asset blob is never held whole), at most the recorded size
            // and one byte more.
            let hashed = crate::fsx::open_regular(&reg.path(&rel)).and_then(|(f, _)| {
                crate::hash::sha256_reader(std::io::Read::take(f, crate::fsx::bound(*size)))
            });
            match hashed {
                Ok((actual, _)) if actual == *sha => None,
                Ok((actual, _)) => Some(problem(
                    &rel,
                    ProblemKind::Corrupt,
                    format!("content hashes to {actual}, not to its name"),
                )),
                Err(e) => Some(problem(
                    &rel,
                    ProblemKind::Corrupt,
                    format!("missing or unreadable: {e}"),
                )),
            }
        })
        .collect();
    report.problems.extend(blob_problems);
    for sha in blobs.keys() {
        referenced.insert(registry::blob_path(sha));
    }
    // Tarballs and diffs.
    let per_version: Vec<Vec<Problem>> = index
        .versions
        .par_iter()
        .map(|v| {
            let mut out = Vec::new();
            let Some(m) = manifests.get(&v.version) else {
                return out;
            };
            check_tarball(reg, v, m, &mut out);
            check_diff(reg, index, v, m, &manifests, &mut out);
            out
        })
        .collect();
    report.problems.extend(per_version.into_iter().flatten());
    all_read
}

/// The signature (when present) signs this exact index with the key it names; the static npm
/// packument lists every version with the index's integrity.
fn check_derived(reg: &Registry, index: &Index, report: &mut VerifyReport) {
    let index_bytes =
        crate::fsx::read_regular(&reg.path(registry::INDEX_FILE), registry::MAX_INDEX_BYTES)
            .unwrap_or_default();
    let sig_path = reg.path(crate::sign::SIG_FILE);
    let sig = match crate::fsx::read_regular(&sig_path, 1 << 20) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            report.problems.push(problem(
                crate::sign::SIG_FILE,
                ProblemKind::Corrupt,
                format!("unreadable: {e}"),
            ));
            None
        }
    };
    if let Some(sig) = sig {
        let own_key = serde_json::from_slice::<crate::sign::IndexSignature>(&sig).map(|s| s.key);
        let result = match own_key {
            Ok(k) => crate::sign::verify_index(&index_bytes, &sig, &[k])
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            report.problems.push(problem(
                crate::sign::SIG_FILE,
                ProblemKind::Corrupt,
                format!("{e} (re-run the last publish with --sign-key to re-sign)"),
            ));
        }
    }
    let rel = crate::npm::packument_path(&index.name);
    let packument: Option<serde_json::Value> =
        crate::fsx::read_regular(&reg.path(&rel), registry::MAX_INDEX_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(p) = packument else {
        report.problems.push(problem(&rel, ProblemKind::Corrupt, "the static npm packument is missing or not JSON (re-run the last publish to rewrite it)"));
        return;
    };
    for v in &index.versions {
        let integrity = p
            .pointer(&format!("/versions/{}/dist/integrity", v.version))
            .and_then(|x| x.as_str());
        if integrity != Some(v.tarball.integrity.as_str()) {
            report.problems.push(problem(
                &rel,
                ProblemKind::Corrupt,
                format!(
                    "does not list {} with integrity {}",
                    v.version, v.tarball.integrity
                ),
            ));
        }
    }
    if p.get("dist-tags") != serde_json::to_value(&index.dist_tags).ok().as_ref() {
        report.problems.push(problem(
            &rel,
            ProblemKind::Corrupt,
            "its dist-tags differ from index.json",
        ));
    }
}

/// Each `.gz` sibling ([`registry::precompressed`]) decompresses to exactly its file; with
/// `repair`, one that does not is rewritten from the file (the file is the one the index
/// verifies). A missing sibling is fine: they are opt-in (`[registry] precompress`).
fn check_precompressed(
    reg: &Registry,
    index: &Index,
    repair: bool,
    report: &mut VerifyReport,
) -> Result<()> {
    let mut files = vec![registry::INDEX_FILE.to_string()];
    for v in &index.versions {
        files.extend([&v.manifest.path, &v.diff.path, &v.package_json.path].map(String::clone));
    }
    for rel in files.into_iter().filter(|r| registry::precompressed(r)) {
        let gz_rel = format!("{rel}{}", registry::GZ_SUFFIX);
        let gz_path = reg.path(&gz_rel);
        let Ok(meta) = gz_path.symlink_metadata() else {
            continue;
        };
        if !meta.is_file() {
            report.problems.push(problem(&gz_rel, ProblemKind::Foreign, "is not a regular file where kbrel writes a precompressed copy; it is neither followed nor removed (remove it by hand)"));
            continue;
        }
        let Ok(plain) = crate::fsx::read_regular(&reg.path(&rel), registry::MAX_INDEX_BYTES) else {
            continue; // reported by the index and manifest checks
        };
        let decoded = crate::fsx::read_regular(&gz_path, registry::MAX_INDEX_BYTES)
            .and_then(|gz| registry::gunzip_limited(&gz, registry::MAX_INDEX_BYTES));
        let why = match decoded {
            Ok(d) if d == plain => continue,
            Ok(_) => format!("does not decompress to {rel} (a stale or altered copy)"),
            Err(e) => format!("is not a gzip copy of {rel}: {e}"),
        };
        report.problems.push(problem(
            &gz_rel,
            ProblemKind::Corrupt,
            format!("{why}; `kbrel verify --repair` rewrites it from {rel}"),
        ));
        if repair {
            registry::write_atomic(&gz_path, &registry::gzip_static(&plain))?;
            report.repaired.push(gz_rel);
        }
    }
    Ok(())
}

/// Each referenced blob's `.gz` sibling ([`registry::precompressed`]) decompresses to exactly
/// the blob (streamed: hashed as it is inflated, never longer than the blob); with `repair`,
/// one that does not is rewritten from the blob (which the blob check verified). A blob
/// without a sibling is fine (tiny documents and assets have none).
fn check_blob_siblings(
    reg: &Registry,
    referenced: &BTreeSet<String>,
    repair: bool,
    report: &mut VerifyReport,
) -> Result<()> {
    // Each sibling that is wrong: its path, and why (`None`: not a regular file).
    let found: Vec<(String, Option<String>)> = referenced
        .par_iter()
        .filter(|rel| rel.starts_with("blobs/") && registry::precompressed(rel))
        .filter_map(|rel| {
            let gz_rel = format!("{rel}{}", registry::GZ_SUFFIX);
            let meta = reg.path(&gz_rel).symlink_metadata().ok()?;
            if !meta.is_file() {
                return Some((gz_rel, None));
            }
            let sha = blob_sha(rel);
            let size = crate::fsx::open_regular(&reg.path(rel)).ok()?.1;
            let decoded = crate::fsx::open_regular(&reg.path(&gz_rel)).and_then(|(f, _)| {
                let inflate = flate2::read::GzDecoder::new(f);
                crate::hash::sha256_reader(std::io::Read::take(inflate, size.saturating_add(1)))
            });
            let why = match decoded {
                Ok((actual, len)) if actual == sha && len == size => return None,
                Ok(_) => format!("does not decompress to {rel} (a stale or altered copy)"),
                Err(e) => format!("is not a gzip copy of {rel}: {e}"),
            };
            Some((gz_rel, Some(why)))
        })
        .collect();
    for (gz_rel, why) in found {
        let Some(why) = why else {
            report.problems.push(problem(&gz_rel, ProblemKind::Foreign, "is not a regular file where kbrel writes a precompressed copy; it is neither followed nor removed (remove it by hand)"));
            continue;
        };
        let rel = &gz_rel[..gz_rel.len() - registry::GZ_SUFFIX.len()];
        report.problems.push(problem(
            &gz_rel,
            ProblemKind::Corrupt,
            format!("{why}; `kbrel verify --repair` rewrites it from {rel}"),
        ));
        if repair {
            let blob = reg.read_blob(&blob_sha(rel))?;
            registry::write_atomic(&reg.path(&gz_rel), &registry::gzip_static(&blob))?;
            report.repaired.push(gz_rel);
        }
    }
    Ok(())
}

/// The sha256 a blob path (`blobs/sha256/<aa>/<rest>`) names.
fn blob_sha(rel: &str) -> String {
    rel.trim_start_matches("blobs/sha256/").replace('/', "")
}

/// A reader that hashes what passes through it as the index records a tarball: sha256,
/// npm's `sha512-<base64>` integrity, sha1, size.
struct Tee<R> {
    inner: R,
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
    sha1: sha1::Sha1,
    size: u64,
}

impl<R: std::io::Read> std::io::Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.sha512.update(&buf[..n]);
        self.sha1.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

impl<R> Tee<R> {
    fn finish(self) -> (String, String, String, u64) {
        use base64::Engine;
        use sha2::Digest;
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(self.sha512.finalize())
        );
        (
            crate::hash::hex(&self.sha256.finalize()),
            integrity,
            crate::hash::hex(&self.sha1.finalize()),
            self.size,
        )
    }
}

fn check_tarball(reg: &Registry, v: &manifest::IndexVersion, m: &Manifest, out: &mut Vec<Problem>) {
    let t = &v.tarball;
    let path = reg.path(&t.path);
    let file = match crate::fsx::open_regular(&path) {
        Ok((f, _)) => f,
        Err(e) => {
            out.push(problem(
                &t.path,
                ProblemKind::Corrupt,
                format!("missing or unreadable: {e}"),
            ));
            return;
        }
    };
    // One pass, streamed: the file's hashes as it is read, each entry hashed as it is
    // unpacked (a 2 GB asset is never held); only package.json and manifest.json are kept.
    let reader = Tee {
        inner: std::io::BufReader::new(std::io::Read::take(file, crate::fsx::bound(t.size))),
        sha256: Default::default(),
        sha512: Default::default(),
        sha1: Default::default(),
        size: 0,
    };
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut hashed: BTreeMap<String, String> = BTreeMap::new();
    let (mut count, mut unpacked) = (0u64, 0u64);
    let streamed = crate::package::stream_entries(
        reader,
        &t.path,
        crate::package::UnpackLimits::default(),
        |rel, size, entry| {
            count += 1;
            unpacked += size;
            let io = |e| Error::io("read", &path, e);
            if rel == "package.json" || rel == "manifest.json" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(entry, 256 << 20), &mut b)
                    .map_err(io)?;
                kept.insert(rel.to_string(), b);
            } else if rel.starts_with("docs/") {
                let (sha, _) = crate::hash::sha256_reader(entry).map_err(io)?;
                hashed.insert(rel.to_string(), sha);
            }
            Ok(())
        },
    );
    // What the gzip stream leaves is part of the file too.
    let (reader, unpacked_ok) = match streamed {
        Ok(r) => (Some(r), Ok(())),
        Err(e) => (None, Err(e)),
    };
    let integrity = reader.map(|mut r| {
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        r.finish()
    });
    let matches = |(sha256, integrity, shasum, size): &(String, String, String, u64)| {
        *sha256 == t.sha256 && *integrity == t.integrity && *shasum == t.shasum && *size == t.size
    };
    match &integrity {
        Some(h) if !matches(h) => {
            out.push(problem(
                &t.path,
                ProblemKind::Corrupt,
                format!(
                    "does not match its recorded integrity (sha256 {}, expected {})",
                    h.0, t.sha256
                ),
            ));
            return;
        }
        Some(_) => {}
        None => {
            // The archive did not read through: is the file the one recorded?
            let whole = crate::fsx::open_regular(&path)
                .ok()
                .and_then(|(f, _)| crate::hash::sha256_reader(f).ok());
            if whole
                .as_ref()
                .is_none_or(|(sha, len)| *sha != t.sha256 || *len != t.size)
            {
                out.push(problem(
                    &t.path,
                    ProblemKind::Corrupt,
                    format!(
                        "does not match its recorded integrity (sha256 {}, expected {})",
                        whole.map_or_else(|| "unreadable".to_string(), |(s, _)| s),
                        t.sha256
                    ),
                ));
                return;
            }
        }
    }
    if let Err(e) = unpacked_ok {
        out.push(problem(&t.path, ProblemKind::Tarball, e.chain()));
        return;
    }
    let manifest_bytes = crate::fsx::read_regular(
        &reg.path(&v.manifest.path),
        crate::fsx::bound(v.manifest.size),
    )
    .unwrap_or_default();
    match reg.read_verified(&v.package_json) {
        Ok(pj) if kept.get("package.json").map(|b| b.as_slice()) == Some(pj.as_slice()) => {}
        Ok(_) => out.push(problem(
            &t.path,
            ProblemKind::Tarball,
            "package/package.json differs from the version's package.json",
        )),
        Err(e) => out.push(problem(
            &v.package_json.path,
            ProblemKind::Corrupt,
            e.chain(),
        )),
    }
    if kept.get("manifest.json").map(|b| b.as_slice()) != Some(manifest_bytes.as_slice()) {
        out.push(problem(
            &t.path,
            ProblemKind::Tarball,
            "package/manifest.json differs from the version's manifest.json",
        ));
    }
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for d in &m.documents {
        let p = format!("docs/{}/{}", d.lang, d.path);
        match hashed.get(p.as_str()) {
            Some(sha) if *sha == d.sha256 => {}
            Some(_) => out.push(problem(
                &t.path,
                ProblemKind::Tarball,
                format!("package/{p} does not match sha256 {}", d.sha256),
            )),
            None => out.push(problem(
                &t.path,
                ProblemKind::Tarball,
                format!("package/{p} is missing"),
            )),
        }
        expected.insert(p);
    }
    for a in &m.assets {
        let p = format!("docs/{}", a.path);
        match hashed.get(p.as_str()) {
            Some(sha) if *sha == a.sha256 => {}
            Some(_) => out.push(problem(
                &t.path,
                ProblemKind::Tarball,
                format!("package/{p} does not match sha256 {}", a.sha256),
            )),
            None => out.push(problem(
                &t.path,
                ProblemKind::Tarball,
                format!("package/{p} is missing"),
            )),
        }
        expected.insert(p);
    }
    for p in hashed.keys() {
        if !expected.contains(p) {
            out.push(problem(
                &t.path,
                ProblemKind::Tarball,
                format!("package/{p} is not in the manifest"),
            ));
        }
    }
    if count != t.file_count || unpacked != t.unpacked_size {
        out.push(problem(
            &t.path,
            ProblemKind::Tarball,
            format!(
                "has {count} files / {unpacked} bytes, index says {} / {}",
                t.file_count, t.unpacked_size
            ),
        ));
    }
}

fn check_diff(
    reg: &Registry,
    index: &Index,
    v: &manifest::IndexVersion,
    m: &Manifest,
    manifests: &BTreeMap<semver::Version, Manifest>,
    out: &mut Vec<Problem>,
) {
    let stored = match reg
        .read_verified(&v.diff)
        .and_then(|b| Ok(manifest::parse_diff(&b, &reg.path(&v.diff.path))?))
    {
        Ok(d) => d,
        Err(e) => {
            out.push(problem(&v.diff.path, ProblemKind::Corrupt, e.chain()));
            return;
        }
    };
    let prev_docs: &[manifest::ManifestDoc] = match &v.previous {
        Some(p) => match manifests.get(p) {
            Some(pm) => &pm.documents,
            None if index.get_version(p).is_none() => {
                out.push(problem(
                    &v.diff.path,
                    ProblemKind::Diff,
                    format!("previous version {p} is not in the index"),
                ));
                return;
            }
            None => return,
        },
        None => &[],
    };
    let text = |d: &manifest::ManifestDoc| -> Result<String, CoreError> {
        String::from_utf8(reg.read_blob_sized(&d.sha256, d.size)?)
            .map_err(|_| CoreError::corrupt(reg.path(&registry::blob_path(&d.sha256)), "not UTF-8"))
    };
    // A diff.json written before the current pairing rules is checked against the rules it
    // was written with.
    let recompute = |rules| {
        crate::diff::diff_docs_with(rules, &m.languages, prev_docs, &text, &m.documents, &text)
    };
    match recompute(crate::diff::Rules::Current) {
        Ok(changes) if changes == stored.changes => {}
        Ok(_) if recompute(crate::diff::Rules::Before20).is_ok_and(|c| c == stored.changes) => {}
        Ok(_) => out.push(problem(
            &v.diff.path,
            ProblemKind::Diff,
            "does not match the diff recomputed from the two manifests",
        )),
        Err(e) => out.push(problem(
            &v.diff.path,
            ProblemKind::Diff,
            format!("cannot recompute: {e}"),
        )),
    }
}

/// Staging folders, version directories, tarballs and (when `blobs`) blobs present on disk but
/// not referenced, with what each is. Nothing is listed through a link: a link (or special
/// file) where one of kbrel's folders belongs is reported as [`ProblemKind::Foreign`] and
/// nothing behind it is listed.
fn unreferenced(
    reg: &Registry,
    referenced: &BTreeSet<String>,
    blobs: bool,
    report: &mut VerifyReport,
) -> Result<Vec<(String, crate::fsx::Kind)>> {
    use crate::fsx::Kind;
    let mut out = Vec::new();
    // A folder of kbrel's: listed when it is a real folder, reported when it is anything
    // else but missing.
    let folder = |rel: &str, report: &mut VerifyReport| -> Result<Vec<(String, Kind)>> {
        match crate::fsx::check_within(&reg.dir, Path::new(rel)) {
            Ok(Kind::Dir) => reg.list(rel),
            Ok(Kind::Missing) => Ok(Vec::new()),
            Ok(k) => {
                report.problems.push(foreign(rel, k));
                Ok(Vec::new())
            }
            Err(crate::fsx::RemoveError::Unsafe(u)) => {
                report.problems.push(foreign(&u.rel, u.found));
                Ok(Vec::new())
            }
            Err(crate::fsx::RemoveError::Io(e)) => {
                Err(Error::io("read directory", reg.path(rel), e))
            }
        }
    };
    for (name, k) in reg.list("")? {
        if name.starts_with(registry::STAGING_PREFIX)
            || (name.ends_with(".tgz") && !referenced.contains(&name))
        {
            out.push((name, k));
        }
    }
    for (name, k) in folder("v", report)? {
        let rel = format!("v/{name}");
        if !referenced.contains(&rel) {
            out.push((rel, k));
        } else if k != Kind::Dir {
            report.problems.push(foreign(&rel, k));
        }
    }
    if blobs {
        let _ = folder("blobs", report)?;
        for (aa, k) in folder("blobs/sha256", report)? {
            let dir = format!("blobs/sha256/{aa}");
            if k != Kind::Dir {
                out.push((dir, k));
                continue;
            }
            for (b, k) in folder(&dir, report)? {
                let rel = format!("{dir}/{b}");
                // A referenced blob's `.gz` sibling is checked by `check_blob_siblings`; one
                // whose blob is gone (or was never referenced) is a leftover like it.
                if rel
                    .strip_suffix(registry::GZ_SUFFIX)
                    .is_some_and(|blob| referenced.contains(blob))
                {
                    continue;
                }
                if !referenced.contains(&rel) {
                    out.push((rel, k));
                } else if k != Kind::File {
                    report.problems.push(foreign(&rel, k));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
