//! A snapshot is one side of a comparison: the documents of a published version (read from the
//! registry, verified) or of the working content. It resolves names such as `1.3.4`, `v1.3.4`,
//! `latest`, a dist-tag or `.`, and serves document texts lazily.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::content::{KnowledgeBase, manifest_docs};
use crate::diff::TextSource;
use crate::error::{Error, Result};
use crate::manifest::{DiffFile, DocChange, Index, Manifest, ManifestDoc};
use crate::registry::{self, Registry};

/// The documents of one side and where their texts come from.
pub struct Snapshot {
    /// `1.3.4` or `.` (working content).
    pub label: String,
    /// The version, when the snapshot is a published release.
    pub version: Option<String>,
    pub docs: Vec<ManifestDoc>,
    /// The release's manifest, its `documents` moved into [`Self::docs`] (left empty here).
    pub manifest: Option<Manifest>,
    /// Documents per language when [`Self::docs`] holds only some of the side's documents
    /// (two git revisions compared from what differs, [`git_pair`]); `None`: all of them.
    pub documents: Option<BTreeMap<String, u64>>,
    /// The side's assets (the release's manifest lists them from package format 4 on).
    pub assets: Vec<crate::manifest::ManifestAsset>,
    source: Source,
}

enum Source {
    Registry(Registry),
    Working(HashMap<String, String>),
}

/// Which snapshot a name means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideSpec {
    /// The working content folder.
    Working,
    /// A published version, `latest` or another dist-tag.
    Published(String),
}

impl SideSpec {
    pub fn parse(s: &str) -> SideSpec {
        match s.trim() {
            "." => SideSpec::Working,
            other => SideSpec::Published(other.to_string()),
        }
    }
}

/// Resolve a version, `v`-prefixed version or dist-tag against the index.
pub fn resolve_version<'a>(
    index: Option<&'a Index>,
    name: &str,
) -> Result<&'a crate::manifest::IndexVersion> {
    let unknown = || Error::UnknownVersion {
        name: name.to_string(),
        known: index
            .map(Index::known_versions)
            .unwrap_or_else(|| "none: nothing is published in this registry yet".into()),
    };
    let index = index.ok_or_else(unknown)?;
    if let Some(v) = index.dist_tags.get(name) {
        return index.get(v).ok_or_else(unknown);
    }
    let bare = name.strip_prefix('v').unwrap_or(name);
    index.get(bare).ok_or_else(unknown)
}

impl Snapshot {
    /// A published release, verified against the index.
    pub fn published(reg: &Registry, index: Option<&Index>, name: &str) -> Result<Snapshot> {
        let v = resolve_version(index, name)?;
        let mut manifest = reg.read_manifest(v)?;
        Ok(Snapshot {
            label: v.version.to_string(),
            version: Some(v.version.to_string()),
            docs: std::mem::take(&mut manifest.documents),
            assets: manifest.assets.clone(),
            manifest: Some(manifest),
            documents: None,
            source: Source::Registry(reg.clone()),
        })
    }

    /// The working content.
    pub fn working(cfg: &crate::config::Config, kb: &KnowledgeBase) -> Snapshot {
        Snapshot {
            label: ".".into(),
            version: None,
            docs: manifest_docs(cfg, kb),
            assets: kb
                .assets
                .iter()
                .map(|a| crate::manifest::ManifestAsset {
                    path: a.path.clone(),
                    sha256: a.sha256.clone(),
                    size: a.size,
                    referenced_by: Vec::new(),
                })
                .collect(),
            manifest: None,
            documents: None,
            source: Source::Working(
                kb.documents
                    .iter()
                    .map(|d| (d.sha256.clone(), d.text.clone()))
                    .collect(),
            ),
        }
    }

    /// Keep only documents matching `keep`.
    pub fn retain(&mut self, keep: impl Fn(&ManifestDoc) -> bool) {
        self.docs.retain(keep);
    }
}

impl TextSource for Snapshot {
    fn text(&self, doc: &ManifestDoc) -> Result<Cow<'_, str>> {
        match &self.source {
            Source::Working(texts) => Ok(Cow::Borrowed(
                texts.get(&doc.sha256).map(String::as_str).unwrap_or(""),
            )),
            Source::Registry(reg) => {
                let bytes = reg.read_blob(&doc.sha256).map_err(|e| match e {
                    Error::CorruptRegistry { path, message } => Error::CorruptRegistry {
                        path,
                        message: format!(
                            "{message} (document {}/{} of version {})",
                            doc.lang, doc.path, self.label
                        ),
                    },
                    Error::Io { source, .. } => Error::corrupt(
                        reg.path(&registry::blob_path(&doc.sha256)),
                        format!(
                            "blob of {}/{} in version {} is unreadable: {source}",
                            doc.lang, doc.path, self.label
                        ),
                    ),
                    other => other,
                })?;
                String::from_utf8(bytes).map(Cow::Owned).map_err(|_| {
                    Error::corrupt(
                        reg.path(&registry::blob_path(&doc.sha256)),
                        format!("blob of {}/{} is not UTF-8", doc.lang, doc.path),
                    )
                })
            }
        }
    }
}

/// Compare two snapshots: the same structure as a release's `diff.json`.
pub fn compare(
    name: &str,
    languages: &[String],
    from: &Snapshot,
    to: &Snapshot,
) -> Result<DiffFile> {
    let changes = crate::diff::diff_docs(languages, &from.docs, from, &to.docs, to)?;
    let mut summary = crate::diff::summarize(languages, &to.docs, &changes);
    if let Some(counts) = &to.documents {
        for (lang, c) in summary.iter_mut() {
            c.documents = counts.get(lang).copied().unwrap_or(0);
        }
    }
    Ok(DiffFile {
        schema_version: crate::manifest::SCHEMA_VERSION,
        name: name.to_string(),
        from: Some(from.label.clone()),
        to: to.label.clone(),
        summary,
        changes,
        assets: crate::diff::diff_assets(&from.assets, &to.assets),
    })
}

/// The two sides of `kbrel diff git:A git:B`, holding only the documents that differ between
/// the revisions ([`crate::git::load_changed`]: the cost follows the change, as `git diff`'s
/// does). With `count_documents`, the `B` side also counts its documents per language for
/// the summary (a walk of its tree that reads no blob; a file that is not valid UTF-8 and did
/// not change counts as a document there).
pub fn git_pair(
    cfg: &crate::config::Config,
    repo: &crate::git::Repo,
    rev_a: &str,
    rev_b: &str,
    count_documents: bool,
) -> Result<(Snapshot, Snapshot)> {
    let changed = crate::git::load_changed(cfg, repo, rev_a, rev_b)?;
    let mut a = Snapshot::working(cfg, &changed.old);
    let mut b = Snapshot::working(cfg, &changed.new);
    a.label = format!("git:{}", &changed.old_commit[..12]);
    b.label = format!("git:{}", &changed.new_commit[..12]);
    if count_documents && !cfg.plain_folders() {
        // Read whole (`load_changed`): its documents are the side's documents.
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for d in &changed.new.documents {
            *counts.entry(d.lang.clone()).or_default() += 1;
        }
        b.documents = Some(counts);
    } else if count_documents {
        let classifier = crate::content::Classifier::new(cfg)?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for p in repo.markdown_paths(rev_b, &changed.roots.1)? {
            if let Some((lang, _)) = p.split_once('/')
                && classifier.classify(&p) == crate::content::FileClass::Document
            {
                *counts.entry(lang.to_string()).or_default() += 1;
            }
        }
        b.documents = Some(counts);
    }
    Ok((a, b))
}

/// The stored `diff.json` of `to` when `from` is the version published right before it
/// (`None` for anything else: other pairs, `.`, `git:` sides, unknown names — the caller
/// then compares the two sides itself and reports errors). Reading it costs what the change
/// costs, where comparing two whole manifests costs what the knowledge base costs.
pub fn stored_diff(
    reg: &Registry,
    index: Option<&Index>,
    from: &str,
    to: &str,
) -> Result<Option<DiffFile>> {
    if from.starts_with("git:") || to.starts_with("git:") {
        return Ok(None);
    }
    let (Ok(a), Ok(b)) = (resolve_version(index, from), resolve_version(index, to)) else {
        return Ok(None);
    };
    if b.previous.as_deref() != Some(a.version.to_string().as_str()) {
        return Ok(None);
    }
    let bytes = reg.read_verified(&b.diff)?;
    crate::manifest::parse_diff(&bytes, &reg.path(&b.diff.path)).map(Some)
}

/// The old and new texts of one change between two snapshots (empty for a side the
/// document does not exist on).
pub fn change_texts(from: &Snapshot, to: &Snapshot, c: &DocChange) -> Result<(String, String)> {
    let text = |snap: &Snapshot, sha: Option<&String>| -> Result<String> {
        match sha.and_then(|sha| {
            snap.docs
                .iter()
                .find(|d| &d.sha256 == sha && d.lang == c.lang)
        }) {
            Some(d) => Ok(snap.text(d)?.into_owned()),
            None => Ok(String::new()),
        }
    };
    Ok((
        text(from, c.old_sha256.as_ref())?,
        text(to, c.sha256.as_ref())?,
    ))
}

/// `package/`-relative paths and bytes of an unpacked tarball.
pub type PackageFiles = Vec<(String, Vec<u8>)>;

/// The unpacked files of a published version's tarball, verified against the index.
pub fn package_files(
    reg: &Registry,
    index: Option<&Index>,
    name: &str,
) -> Result<(String, PackageFiles)> {
    let v = resolve_version(index, name)?;
    let file = crate::manifest::FileRef {
        path: v.tarball.path.clone(),
        sha256: v.tarball.sha256.clone(),
        size: v.tarball.size,
    };
    let tgz = reg.read_verified(&file)?;
    let files = crate::package::unpack(
        &tgz,
        &v.tarball.path,
        crate::package::UnpackLimits::default(),
    )?;
    Ok((v.version.to_string(), files))
}
