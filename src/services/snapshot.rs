//! A snapshot is one side of a comparison: the documents of a published version (read from the
//! registry, verified) or of the working content. It resolves names such as `1.3.4`, `v1.3.4`,
//! `latest`, a dist-tag or `.`, and serves document texts lazily.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::content::{KnowledgeBase, manifest_docs};
use crate::diff::TextSource;
use crate::error::{CoreError, Error, Result};
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
    let unknown = || {
        Error::from(CoreError::UnknownVersion {
            name: name.to_string(),
            known: index
                .map(Index::known_versions)
                .unwrap_or_else(|| "none: nothing is published in this registry yet".into()),
        })
    };
    let index = index.ok_or_else(unknown)?;
    if let Some(v) = index.dist_tags.get(name) {
        return index.get_version(v).ok_or_else(unknown);
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

    /// [`Snapshot::working`], taking the texts out of `kb` rather than copying them (the
    /// documents of two git revisions that differ, read for this comparison only).
    pub fn working_owned(cfg: &crate::config::Config, mut kb: KnowledgeBase) -> Snapshot {
        let documents = std::mem::take(&mut kb.documents);
        let mut snap = Snapshot::working(cfg, &kb);
        let (docs, texts) = crate::content::into_manifest_docs(cfg, documents);
        snap.docs = docs;
        snap.source = Source::Working(texts.into_iter().collect());
        snap
    }

    /// Keep only documents matching `keep`.
    pub fn retain(&mut self, keep: impl Fn(&ManifestDoc) -> bool) {
        self.docs.retain(keep);
    }
}

impl TextSource for Snapshot {
    fn text(&self, doc: &ManifestDoc) -> Result<Cow<'_, str>, CoreError> {
        match &self.source {
            Source::Working(texts) => Ok(Cow::Borrowed(
                texts.get(&doc.sha256).map(String::as_str).unwrap_or(""),
            )),
            Source::Registry(reg) => {
                let bytes = reg.read_blob(&doc.sha256).map_err(|e| match e {
                    Error::Core(CoreError::CorruptRegistry { path, message }) => Error::corrupt(
                        path,
                        format!(
                            "{message} (document {}/{} of version {})",
                            doc.lang, doc.path, self.label
                        ),
                    ),
                    Error::Core(CoreError::Io { source, .. }) => Error::corrupt(
                        reg.path(&registry::blob_path(&doc.sha256)),
                        format!(
                            "blob of {}/{} in version {} is unreadable: {source}",
                            doc.lang, doc.path, self.label
                        ),
                    ),
                    other => other,
                })?;
                String::from_utf8(bytes).map(Cow::Owned).map_err(|_| {
                    CoreError::corrupt(
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
        for (lang, &n) in counts.iter().filter(|(_, n)| **n > 0) {
            summary.entry(lang.clone()).or_default().documents = n;
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
/// does). With `count_documents`, both sides also count their documents per language (for
/// the summary of `--json`, and to tell an empty side): a walk of `rev_a`'s trees that reads
/// no blob (a file that is not valid UTF-8 and did not change counts as a document there),
/// and `rev_b`'s counts told from those and the files read on each side (its trees walked
/// too only when its folders are not `rev_a`'s).
/// The assets are likewise only those whose blobs differ, hashed from them.
pub fn git_pair(
    cfg: &crate::config::Config,
    repo: &crate::git::Repo,
    rev_a: &str,
    rev_b: &str,
    count_documents: bool,
) -> Result<(Snapshot, Snapshot)> {
    git_pair_with(cfg, repo, (rev_a, rev_b), count_documents, &|_| {})
}

/// [`git_pair`], calling `walked` with the number of files that differ before they are
/// parsed ([`crate::git::load_changed_with`]).
pub fn git_pair_with(
    cfg: &crate::config::Config,
    repo: &crate::git::Repo,
    (rev_a, rev_b): (&str, &str),
    count_documents: bool,
    walked: &dyn Fn(usize),
) -> Result<(Snapshot, Snapshot)> {
    let mut changed = crate::git::load_changed_with(cfg, repo, rev_a, rev_b, walked)?;
    let (mut a, mut b) = changed_sides(cfg, &mut changed);
    b.label = format!("git:{}", &changed.new_commit[..12]);
    if count_documents {
        let counts = crate::git::document_counts(cfg, repo, rev_a, &changed.folders.0)?;
        // With the same folders on both sides, what was not read is the same on both: `rev_b`
        // holds `rev_a`'s documents less those read only there, plus those read only at
        // `rev_b` (a file read on both sides is on both), so its tree need not be walked.
        b.documents = Some(if changed.folders.0 == changed.folders.1 {
            counts_after(cfg, &counts, &changed.read)?
        } else {
            crate::git::document_counts(cfg, repo, rev_b, &changed.folders.1)?
        });
        a.documents = Some(counts);
    }
    Ok((a, b))
}

/// The two sides of a change read from git, their documents moved (not copied) out of it;
/// the old side labelled with its commit.
fn changed_sides(
    cfg: &crate::config::Config,
    changed: &mut crate::git::ChangedDocs,
) -> (Snapshot, Snapshot) {
    let mut a = Snapshot::working_owned(cfg, std::mem::take(&mut changed.old));
    let b = Snapshot::working_owned(cfg, std::mem::take(&mut changed.new));
    a.label = format!("git:{}", &changed.old_commit[..12]);
    (a, b)
}

/// `before` (documents per language) less the documents of `read.0`, plus those of `read.1`
/// (content paths); a language left with none is not listed, as a tree walk would not.
fn counts_after(
    cfg: &crate::config::Config,
    before: &BTreeMap<String, u64>,
    read: &(Vec<String>, Vec<String>),
) -> Result<BTreeMap<String, u64>> {
    let classifier = crate::content::Classifier::new(cfg)?;
    let mut after = before.clone();
    for (paths, add) in [(&read.0, false), (&read.1, true)] {
        for p in paths {
            if let Some((lang, _)) = p.split_once('/')
                && classifier.classify(p) == crate::content::FileClass::Document
            {
                let c = after.entry(lang.to_string()).or_default();
                *c = if add { *c + 1 } else { c.saturating_sub(1) };
            }
        }
    }
    after.retain(|_, c| *c > 0);
    Ok(after)
}

/// The two sides of `kbrel diff git:A .` (a revision and the working content), holding only
/// the documents that differ ([`crate::git::load_changed_worktree`]: git's index says which
/// files changed). With `count_documents`, both sides count their documents per language
/// (the work tree's: `rev_a`'s from its tree, plus the documents read from the work tree,
/// less those read from `rev_a`). The assets are those that differ, hashed from their blobs
/// and files. `None` when the two sides must be loaded whole (git cannot tell cheaply what
/// changed).
pub fn git_worktree_pair(
    cfg: &crate::config::Config,
    repo: &crate::git::Repo,
    rev_a: &str,
    count_documents: bool,
) -> Result<Option<(Snapshot, Snapshot)>> {
    let Some(mut changed) = crate::git::load_changed_worktree(cfg, repo, rev_a)? else {
        return Ok(None);
    };
    let (mut a, mut b) = changed_sides(cfg, &mut changed);
    if count_documents {
        let counts = crate::git::document_counts(cfg, repo, rev_a, &changed.folders.0)?;
        b.documents = Some(counts_after(cfg, &counts, &changed.read)?);
        a.documents = Some(counts);
    }
    Ok(Some((a, b)))
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
    if b.previous.as_ref().map(ToString::to_string).as_deref()
        != Some(a.version.to_string().as_str())
    {
        return Ok(None);
    }
    let bytes = reg.read_verified(&b.diff)?;
    Ok(Some(crate::manifest::parse_diff(
        &bytes,
        &reg.path(&b.diff.path),
    )?))
}

/// Two published releases compared from the stored `diff.json`s of the releases between
/// them ([`composed_pair`]): each side holds only the documents some release in the range
/// changed, as they were at that side. A document no stored diff in the range names has the
/// same path, bytes, id and key on both sides, so the full comparison pairs it with itself
/// first ([`crate::diff::diff_docs`]: the same bytes at the same path) and reports nothing:
/// leaving it out of both sides changes nothing else (ids are counted, renames searched and
/// limited among the documents left unpaired). The cost follows what changed in the range,
/// where comparing the two manifests costs what the knowledge base costs.
pub struct Composed {
    pub from: Snapshot,
    pub to: Snapshot,
    /// Documents of the `from` side whose title the stored diffs of the range do not settle:
    /// a diff records an old title only when it differs from the new one, so "none" and "the
    /// new one" read alike. (language, path) → the title assumed (the new one).
    unsure_titles: BTreeMap<(String, String), String>,
    /// The release `from` names, and how many bytes of stored diffs may still be read before
    /// the two manifests would have cost less.
    from_version: crate::manifest::IndexVersion,
    budget_left: u64,
    /// Whether `from`'s manifest was read (to settle a title the stored diffs did not).
    pub read_manifest: bool,
}

impl Composed {
    /// Make `report` (the comparison of [`Self::from`] and [`Self::to`]) the full
    /// comparison's: each entry whose old title the range left unsure and that shows it (a
    /// removal, or a new title other than the one assumed) gets the old title the last
    /// earlier release that changed the document recorded — the stored diffs before `from`,
    /// newest first, while the budget lasts; else `from`'s manifest. `false` when a title
    /// cannot be settled (the registry contradicts itself): the caller compares the
    /// manifests.
    pub fn settle(&mut self, reg: &Registry, index: &Index, report: &mut DiffFile) -> Result<bool> {
        use crate::manifest::ChangeStatus;
        let old_at = |c: &DocChange| {
            (
                c.lang.clone(),
                c.old_path.as_ref().unwrap_or(&c.path).clone(),
            )
        };
        let shown = |c: &DocChange, t: &String| {
            c.status == ChangeStatus::Removed || c.title.as_ref() != Some(t)
        };
        let mut wanted: BTreeMap<(String, String), Option<Option<String>>> = BTreeMap::new();
        for c in report
            .changes
            .iter()
            .filter(|c| c.status != ChangeStatus::Added)
        {
            if let Some(t) = self.unsure_titles.get(&old_at(c))
                && shown(c, t)
            {
                wanted.insert(old_at(c), None);
            }
        }
        if wanted.is_empty() {
            return Ok(true);
        }
        let sha_at = |at: &(String, String)| {
            self.from
                .docs
                .iter()
                .find(|d| (&d.lang, &d.path) == (&at.0, &at.1))
                .map(|d| d.sha256.clone())
        };
        let shas: BTreeMap<(String, String), Option<String>> =
            wanted.keys().map(|at| (at.clone(), sha_at(at))).collect();
        // The stored diffs before `from`, newest first: the first that names a path decides.
        let mut v = &self.from_version;
        let mut open: BTreeSet<(String, String)> = wanted.keys().cloned().collect();
        while !open.is_empty() && v.diff.size <= self.budget_left {
            self.budget_left -= v.diff.size;
            let d =
                crate::manifest::parse_diff(&reg.read_verified(&v.diff)?, &reg.path(&v.diff.path))?;
            if d.to != v.version.to_string()
                || d.from != v.previous.as_ref().map(ToString::to_string)
            {
                break;
            }
            for c in &d.changes {
                if c.status != ChangeStatus::Removed {
                    let at = (c.lang.clone(), c.path.clone());
                    if open.remove(&at) && c.sha256.is_some() && shas[&at] == c.sha256 {
                        wanted.insert(at, Some(c.title.clone()));
                    }
                }
                if c.status != ChangeStatus::Added {
                    open.remove(&old_at(c));
                }
            }
            match v.previous.as_ref().and_then(|p| index.get_version(p)) {
                Some(p) => v = p,
                None => break,
            }
        }
        // Still unsettled: `from`'s manifest says.
        if wanted.values().any(Option::is_none) {
            self.read_manifest = true;
            for d in reg.read_manifest(&self.from_version)?.documents {
                let at = (d.lang, d.path);
                if let Some(w @ None) = wanted.get_mut(&at)
                    && shas[&at].as_ref() == Some(&d.sha256)
                {
                    *w = Some(d.title);
                }
            }
        }
        // The entries as the full comparison writes them (`diff::change`).
        for c in report
            .changes
            .iter_mut()
            .filter(|c| c.status != ChangeStatus::Added)
        {
            let Some(w) = wanted.get(&old_at(c)) else {
                continue;
            };
            let Some(title) = w else {
                return Ok(false);
            };
            if c.status == ChangeStatus::Removed {
                c.title = title.clone();
            } else {
                c.old_title = title.clone().filter(|t| c.title.as_ref() != Some(t));
            }
        }
        Ok(true)
    }
}

/// [`Composed`] sides of `from` and `to`, published releases where `from` is reached from
/// `to` by following each release's `previous`; every `diff.json` on the way is read and
/// verified. `None` (the caller compares the manifests) for anything else: other names, a
/// range that runs backwards or across branches, stored diffs that together weigh more than
/// the two manifests, or a stored diff that does not describe its step.
pub fn composed_pair(
    reg: &Registry,
    index: Option<&Index>,
    languages: &[String],
    from: &str,
    to: &str,
) -> Result<Option<Composed>> {
    if from.starts_with("git:") || to.starts_with("git:") {
        return Ok(None);
    }
    let (Some(idx), Ok(a), Ok(b)) = (
        index,
        resolve_version(index, from),
        resolve_version(index, to),
    ) else {
        return Ok(None);
    };
    // The releases from `a` (excluded) to `b`, oldest first.
    let budget = a.manifest.size + b.manifest.size;
    let (mut steps, mut bytes, mut v) = (Vec::new(), 0, b);
    while v.version != a.version {
        bytes += v.diff.size;
        let Some(prev) = v.previous.as_ref().and_then(|p| idx.get(&p.to_string())) else {
            return Ok(None);
        };
        if bytes > budget {
            return Ok(None);
        }
        steps.push(v);
        v = prev;
    }
    steps.reverse();
    let mut diffs = Vec::with_capacity(steps.len());
    for s in &steps {
        let d = crate::manifest::parse_diff(&reg.read_verified(&s.diff)?, &reg.path(&s.diff.path))?;
        if d.to != s.version.to_string() || d.from != s.previous.as_ref().map(ToString::to_string) {
            return Ok(None);
        }
        diffs.push(d);
    }
    let Some(chain) = compose(&diffs) else {
        return Ok(None);
    };
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    let side = |docs: BTreeMap<(String, String), Option<ManifestDoc>>| {
        let mut v: Vec<ManifestDoc> = docs.into_values().flatten().collect();
        v.sort_by(|x, y| (rank(&x.lang), &x.lang, &x.path).cmp(&(rank(&y.lang), &y.lang, &y.path)));
        v
    };
    let assets = |m: BTreeMap<String, Option<crate::manifest::ManifestAsset>>| {
        m.into_values().flatten().collect::<Vec<_>>()
    };
    let snapshot = |v: &crate::manifest::IndexVersion, docs, assets| Snapshot {
        label: v.version.to_string(),
        version: Some(v.version.to_string()),
        docs,
        manifest: None,
        documents: None,
        assets,
        source: Source::Registry(reg.clone()),
    };
    let mut to_side = snapshot(b, side(chain.to), assets(chain.to_assets));
    // The documents of `to`, per language, as its release recorded them.
    to_side.documents = Some(
        b.summary
            .iter()
            .filter(|(_, c)| c.documents > 0)
            .map(|(l, c)| (l.clone(), c.documents))
            .collect(),
    );
    Ok(Some(Composed {
        from: snapshot(a, side(chain.from), assets(chain.from_assets)),
        to: to_side,
        unsure_titles: chain.unsure_titles,
        from_version: a.clone(),
        budget_left: budget - bytes,
        read_manifest: false,
    }))
}

/// What a chain of consecutive stored diffs says about the two ends of the chain.
struct Chain {
    /// Every (language, path) some diff names: the document there at the start (`None`: none).
    from: BTreeMap<(String, String), Option<ManifestDoc>>,
    /// … and at the end.
    to: BTreeMap<(String, String), Option<ManifestDoc>>,
    unsure_titles: BTreeMap<(String, String), String>,
    from_assets: BTreeMap<String, Option<crate::manifest::ManifestAsset>>,
    to_assets: BTreeMap<String, Option<crate::manifest::ManifestAsset>>,
}

/// Compose consecutive diffs (oldest first). Within one diff, every old side is applied
/// before any new side (a document may leave a path another one takes). `None` when an
/// entry lacks a hash its status needs.
fn compose(diffs: &[DiffFile]) -> Option<Chain> {
    use crate::manifest::{ChangeStatus, ManifestAsset};
    let doc = |c: &DocChange, id: &str, path: &str, key: &str, title, sha: &str| ManifestDoc {
        id: id.to_string(),
        lang: c.lang.clone(),
        path: path.to_string(),
        key: key.to_string(),
        aliases: Vec::new(),
        bundled: true,
        title,
        url: None,
        sha256: sha.to_string(),
        size: 0,
    };
    let mut chain = Chain {
        from: BTreeMap::new(),
        to: BTreeMap::new(),
        unsure_titles: BTreeMap::new(),
        from_assets: BTreeMap::new(),
        to_assets: BTreeMap::new(),
    };
    for d in diffs {
        for c in d.changes.iter().filter(|c| c.status != ChangeStatus::Added) {
            let path = c.old_path.as_ref().unwrap_or(&c.path);
            let at = (c.lang.clone(), path.clone());
            if !chain.from.contains_key(&at) {
                let title = if c.status == ChangeStatus::Removed {
                    c.title.clone()
                } else {
                    if let (None, Some(t)) = (&c.old_title, &c.title) {
                        chain.unsure_titles.insert(at.clone(), t.clone());
                    }
                    c.old_title.clone().or_else(|| c.title.clone())
                };
                let old = doc(
                    c,
                    c.old_id.as_ref().unwrap_or(&c.id),
                    path,
                    c.old_key.as_ref().unwrap_or(&c.key),
                    title,
                    c.old_sha256.as_ref()?,
                );
                chain.from.insert(at.clone(), Some(old));
            }
            chain.to.insert(at, None);
        }
        for c in d
            .changes
            .iter()
            .filter(|c| c.status != ChangeStatus::Removed)
        {
            let at = (c.lang.clone(), c.path.clone());
            chain.from.entry(at.clone()).or_insert(None);
            let new = doc(
                c,
                &c.id,
                &c.path,
                &c.key,
                c.title.clone(),
                c.sha256.as_ref()?,
            );
            chain.to.insert(at, Some(new));
        }
        for a in &d.assets {
            let side = |sha: &Option<String>, size: Option<u64>| -> Option<Option<ManifestAsset>> {
                match (sha, size) {
                    (Some(sha), Some(size)) => Some(Some(ManifestAsset {
                        path: a.path.clone(),
                        sha256: sha.clone(),
                        size,
                        referenced_by: Vec::new(),
                    })),
                    (None, None) => Some(None),
                    _ => None,
                }
            };
            let old = side(&a.old_sha256, a.old_size)?;
            let new = side(&a.new_sha256, a.new_size)?;
            chain.from_assets.entry(a.path.clone()).or_insert(old);
            chain.to_assets.insert(a.path.clone(), new);
        }
    }
    Some(chain)
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
