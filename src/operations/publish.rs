//! `kbrel publish`: load → lint gate → snapshot → diff against the previous release →
//! package → commit to the registry (index last) → changelog section.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::baseline::{self, Baseline};
use crate::changelog::{self, ReleaseInfo};
use crate::config::Config;
use crate::content::{Document, KnowledgeBase, manifest_docs};
use crate::date::Timestamp;
use crate::diff;
use crate::error::{CoreError, Error, PublishError, Result};
use crate::findings::{Finding, Severity};
use crate::hash::sha256_hex;
use crate::lint;
use crate::manifest::{
    self, ChangeCounts, DiffFile, DocChange, DriftCounts, FileRef, GitInfo, Index, IndexVersion,
    Manifest, ManifestAsset, ManifestDoc, SCHEMA_VERSION, TarballRef,
};
use crate::package;
use crate::registry::{self, Commit, Registry};
use crate::{FastMap, FastSet};

use crate::version::parse_version;

/// `major`, `minor`, `patch` or `prerelease`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Major,
    Minor,
    Patch,
    Prerelease,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    Exact(String),
    Bump(Bump),
    /// Bump the highest published version as [`suggest_bump`] says.
    Auto,
}

/// The next version after `current` for a bump.
pub fn bump_version(current: Option<&semver::Version>, bump: Bump) -> semver::Version {
    let zero = semver::Version::new(0, 0, 0);
    let c = current.unwrap_or(&zero);
    let mut v = c.clone();
    v.build = semver::BuildMetadata::EMPTY;
    match bump {
        Bump::Major => {
            if c.pre.is_empty() || c.minor != 0 || c.patch != 0 {
                v.major += 1;
            }
            v.minor = 0;
            v.patch = 0;
            v.pre = semver::Prerelease::EMPTY;
        }
        Bump::Minor => {
            if c.pre.is_empty() || c.patch != 0 {
                v.minor += 1;
            }
            v.patch = 0;
            v.pre = semver::Prerelease::EMPTY;
        }
        Bump::Patch => {
            if c.pre.is_empty() {
                v.patch += 1;
            }
            v.pre = semver::Prerelease::EMPTY;
        }
        Bump::Prerelease => {
            if c.pre.is_empty() {
                v.patch += 1;
                v.pre = semver::Prerelease::new("0").expect("valid");
            } else {
                let pre = c.pre.as_str();
                let next = match pre.rsplit_once('.') {
                    Some((head, n)) if n.parse::<u64>().is_ok() => {
                        format!("{head}.{}", n.parse::<u64>().unwrap_or(0) + 1)
                    }
                    _ if pre.parse::<u64>().is_ok() => {
                        (pre.parse::<u64>().unwrap_or(0) + 1).to_string()
                    }
                    _ => format!("{pre}.0"),
                };
                v.pre = semver::Prerelease::new(&next).expect("valid prerelease");
            }
        }
    }
    v
}

/// A suggested bump and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BumpSuggestion {
    /// `None` when nothing changed.
    pub bump: Option<Bump>,
    pub reasons: Vec<String>,
}

/// What `kbrel bump --json` prints: the latest version, the one the suggestion leads to (`None`:
/// nothing changed; `0.1.0` before a first release) and the suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BumpReport {
    pub current: Option<semver::Version>,
    pub next: Option<semver::Version>,
    pub bump: Option<Bump>,
    pub reasons: Vec<String>,
}

impl BumpReport {
    pub fn new(current: Option<&semver::Version>, s: &BumpSuggestion) -> BumpReport {
        let next = match (current, s.bump) {
            (None, _) => Some(semver::Version::new(0, 1, 0)),
            (Some(c), Some(b)) => Some(bump_version(Some(c), b)),
            (Some(_), None) => None,
        };
        BumpReport {
            current: current.cloned(),
            next,
            bump: s.bump,
            reasons: s.reasons.clone(),
        }
    }
}

/// Suggest a semver bump from a diff: a removed or renamed document id or a changed bundle key
/// breaks consumers keyed by it (major); an added document is a feature (minor); edits are a
/// patch.
pub fn suggest_bump(diff: &DiffFile) -> BumpSuggestion {
    bump_for(&diff.changes)
}

/// [`suggest_bump`] from the changes alone.
fn bump_for(changes: &[DocChange]) -> BumpSuggestion {
    use crate::manifest::ChangeStatus::*;
    let mut major = Vec::new();
    let mut minor = Vec::new();
    let mut patch = Vec::new();
    for c in changes {
        let label = format!("{}/{}", c.lang, c.path);
        match c.status {
            Removed => major.push(format!("removed {label} (id `{}`, key `{}`)", c.id, c.key)),
            Renamed if c.old_id.is_some() || c.old_key.is_some() => major.push(format!(
                "renamed {}/{} → {label}: {}",
                c.lang,
                c.old_path.as_deref().unwrap_or(""),
                match (&c.old_id, &c.old_key) {
                    (Some(old), _) => format!("id `{old}` → `{}`", c.id),
                    (None, Some(old)) => format!("key `{old}` → `{}`", c.key),
                    (None, None) => String::new(),
                }
            )),
            Renamed => patch.push(format!(
                "moved {}/{} → {label} (id `{}` and key `{}` unchanged)",
                c.lang,
                c.old_path.as_deref().unwrap_or(""),
                c.id,
                c.key
            )),
            Modified if c.old_key.is_some() => major.push(format!(
                "{label}: bundle key `{}` → `{}`",
                c.old_key.as_deref().unwrap_or(""),
                c.key
            )),
            Added => minor.push(format!("added {label}")),
            Modified => patch.push(format!(
                "edited {label} (+{} -{})",
                c.added_lines, c.removed_lines
            )),
        }
    }
    let (bump, reasons) = if !major.is_empty() {
        (Some(Bump::Major), major)
    } else if !minor.is_empty() {
        (Some(Bump::Minor), minor)
    } else if !patch.is_empty() {
        (Some(Bump::Patch), patch)
    } else {
        (None, Vec::new())
    };
    BumpSuggestion { bump, reasons }
}

/// Called with the resolved version before anything is written (e.g. to refuse a git tag that
/// exists on another commit).
pub type Guard<'a> = &'a dyn Fn(&str) -> Result<()>;

#[derive(Clone)]
pub struct PublishOptions<'a> {
    pub version: VersionSpec,
    /// The release date (from `--date`, `SOURCE_DATE_EPOCH` or the clock: the caller decides).
    pub date: Timestamp,
    pub dry_run: bool,
    /// dist-tag to set; default `latest`, or `next` for a prerelease.
    pub tag: Option<String>,
    pub git: Option<GitInfo>,
    /// How long to wait for another publisher's lock.
    pub lock_wait: Duration,
    /// Fail when a translation is missing or outdated.
    pub require_translations: bool,
    pub guard: Option<Guard<'a>>,
    /// Sign index.json with this key (and endorse the next key, for rotation).
    pub sign: Option<(
        &'a ed25519_dalek::SigningKey,
        Option<ed25519_dalek::VerifyingKey>,
    )>,
    /// The tarball's package format: [`package::FORMAT`], or an older one (1..) to rebuild a
    /// release made with it byte for byte.
    pub package_format: u32,
    /// What lint errors do: block (less the baseline's), or only be recorded.
    pub lint: LintGate<'a>,
}

/// What lint findings do to a publish. Either way the warnings, and the errors that do not
/// block, are recorded as warnings in the release's manifest: they are facts about it.
#[derive(Debug, Clone, Copy)]
pub enum LintGate<'a> {
    /// Error-level findings block, except those the baseline holds.
    Block(Option<&'a Baseline>),
    /// Nothing blocks (`import` recording a release as it was).
    Record,
}

/// Apply the lint policy and the gate: the findings to record as warnings and, when baseline
/// entries no longer match anything, a note saying they can be pruned; or
/// `Error::LintFailed` naming the blocking ones.
pub fn gate(
    cfg: &Config,
    kb: &KnowledgeBase,
    gate: LintGate<'_>,
) -> Result<(Vec<Finding>, Option<String>)> {
    let mut note = None;
    let checked = lint::check(kb, cfg)?;
    let as_warning = |f: &Finding| Finding {
        severity: Severity::Warning,
        ..f.clone()
    };
    let mut warnings: Vec<Finding> = match gate {
        LintGate::Record => {
            // A release recorded as it was must still be one that can be read back.
            let fatal: Vec<Finding> = checked
                .findings
                .iter()
                .filter(|f| f.code.is_fatal())
                .cloned()
                .collect();
            if !fatal.is_empty() {
                return Err(Error::from(CoreError::LintFailed {
                    findings: fatal,
                    baselined: 0,
                }));
            }
            checked.findings.iter().map(as_warning).collect()
        }
        LintGate::Block(None) => {
            if lint::has_errors(&checked.findings) {
                return Err(Error::from(CoreError::LintFailed {
                    findings: checked.findings,
                    baselined: 0,
                }));
            }
            checked.findings
        }
        LintGate::Block(Some(b)) => {
            let g = baseline::apply(b, kb, &checked.findings);
            if !g.new.is_empty() {
                return Err(Error::from(CoreError::LintFailed {
                    findings: g.new,
                    baselined: g.baselined.len(),
                }));
            }
            let fixed: u32 = g.prunable.iter().map(|e| e.count).sum();
            if fixed > 0 {
                note = Some(format!(
                    "{fixed} baselined finding(s) are fixed; remove their entries with `kbrel check --prune-baseline`"
                ));
            }
            checked
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .chain(&g.baselined)
                .map(as_warning)
                .collect()
        }
    };
    warnings.sort();
    Ok((warnings, note))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Published,
    AlreadyPublished,
    DryRun,
}

/// What a publish did (or, with `--dry-run`, would do): `kbrel publish --json` prints it, and
/// reads back into it (the tests do).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishReport {
    pub name: String,
    pub version: String,
    pub outcome: Outcome,
    pub published: String,
    pub previous: Option<String>,
    /// An older version published after a newer one: `latest` did not move.
    pub backport: bool,
    /// The dist-tags this publish set.
    pub tags_set: Vec<String>,
    pub dist_tags: BTreeMap<String, semver::Version>,
    pub summary: BTreeMap<String, ChangeCounts>,
    pub tarball: TarballRef,
    /// New content-addressed blobs (documents not in any earlier release).
    pub new_blobs: usize,
    /// Files written (or to be written), relative to the registry directory.
    pub files: Vec<String>,
    pub changelog: PathBuf,
    pub changelog_section: String,
    pub warnings: Vec<Finding>,
    /// Advice that does not stop the publish (e.g. a version lower than the suggested bump).
    pub notes: Vec<String>,
}

/// The manifest entries of the assets a release of `format` ships (none before format 4),
/// each with the documents that link to it.
fn manifest_assets(cfg: &Config, kb: &KnowledgeBase, format: u32) -> Vec<ManifestAsset> {
    if format < 4 || kb.assets.is_empty() {
        return Vec::new();
    }
    let mut refs = crate::lint::asset_references(kb, cfg);
    kb.assets
        .iter()
        .map(|a| ManifestAsset {
            path: a.path.clone(),
            sha256: a.sha256.clone(),
            size: a.size,
            referenced_by: refs.remove(&a.path).unwrap_or_default(),
        })
        .collect()
}

/// The identity of a release's content (documents + package metadata; not the date).
fn content_digest(cfg: &Config, docs: &[ManifestDoc], assets: &[ManifestAsset]) -> String {
    #[derive(Serialize)]
    struct Digest<'a> {
        name: &'a str,
        description: &'a str,
        license: &'a str,
        repository: Option<&'a str>,
        languages: &'a [String],
        source_language: &'a str,
        globals: BTreeMap<String, String>,
        /// The optional package.json fields, when any is set (absent: the digest of releases
        /// made before they existed is unchanged).
        #[serde(skip_serializing_if = "Option::is_none")]
        package_fields: Option<serde_json::Value>,
        documents: &'a [ManifestDoc],
        /// Absent without assets: the digest of releases made before them is unchanged.
        #[serde(skip_serializing_if = "<[ManifestAsset]>::is_empty")]
        assets: &'a [ManifestAsset],
    }
    let p = &cfg.package;
    let package_fields = (p.author.is_some()
        || p.homepage.is_some()
        || p.bugs.is_some()
        || !p.keywords.is_empty()
        || !p.engines.is_empty()
        || !p.publish_config.is_empty()
        || !p.files.is_empty())
    .then(|| {
        let mut fields = serde_json::json!({
            "author": p.author, "homepage": p.homepage, "bugs": p.bugs,
            "keywords": p.keywords, "engines": p.engines, "publishConfig": p.publish_config,
        });
        // Added after the others: absent unless set, so earlier digests are unchanged.
        if !p.files.is_empty() {
            fields["files"] = serde_json::json!(p.files);
        }
        fields
    });
    let d = Digest {
        name: &cfg.package.name,
        description: &cfg.package.description,
        license: &cfg.package.license,
        repository: cfg.package.repository.as_deref(),
        languages: &cfg.content.languages,
        source_language: cfg.source_language(),
        globals: globals(cfg),
        package_fields,
        documents: docs,
        assets,
    };
    sha256_hex(&serde_json::to_vec(&d).expect("serialisable"))
}

/// Document texts for the diff of a release: the knowledge base's own (borrowed, not copied),
/// else, for the previous release's documents, the registry's blobs.
struct Texts<'k> {
    by_sha: &'k FastMap<&'k str, &'k Document>,
    /// Where texts the knowledge base no longer holds are read (`None`: they are empty).
    reg: Option<&'k Registry>,
}

impl<'k> Texts<'k> {
    /// Texts of a previous release: from the knowledge base when it still holds them, else
    /// from the registry.
    fn old(by_sha: &'k FastMap<&'k str, &'k Document>, reg: &'k Registry) -> Self {
        Texts {
            by_sha,
            reg: Some(reg),
        }
    }

    /// Texts of the knowledge base.
    fn new(by_sha: &'k FastMap<&'k str, &'k Document>) -> Self {
        Texts { by_sha, reg: None }
    }

    /// The text with sha256 `sha` (empty for `None`: a side the document does not exist on).
    fn by_hash(&self, sha: Option<&str>) -> Result<String> {
        let Some(sha) = sha else {
            return Ok(String::new());
        };
        if let Some(doc) = self.by_sha.get(sha) {
            return Ok(doc.text.clone());
        }
        let Some(reg) = self.reg else {
            return Ok(String::new());
        };
        String::from_utf8(reg.read_blob(sha)?)
            .map_err(|_| Error::corrupt(reg.path(&registry::blob_path(sha)), "blob is not UTF-8"))
    }

    /// The old and new texts of a change, for [`changelog::with_details`].
    fn of_change(&self, c: &crate::manifest::DocChange) -> Result<(String, String)> {
        Ok((
            self.by_hash(c.old_sha256.as_deref())?,
            self.by_hash(c.sha256.as_deref())?,
        ))
    }
}

impl diff::TextSource for Texts<'_> {
    fn text(&self, d: &ManifestDoc) -> Result<Cow<'_, str>, CoreError> {
        if let Some(doc) = self.by_sha.get(d.sha256.as_str()) {
            return Ok(Cow::Borrowed(&doc.text));
        }
        let Some(reg) = self.reg else {
            return Ok(Cow::Borrowed(""));
        };
        let bytes = reg.read_blob(&d.sha256)?;
        String::from_utf8(bytes).map(Cow::Owned).map_err(|_| {
            CoreError::corrupt(
                reg.path(&registry::blob_path(&d.sha256)),
                "blob is not UTF-8",
            )
        })
    }
}

fn globals(cfg: &Config) -> BTreeMap<String, String> {
    cfg.content
        .languages
        .iter()
        .map(|l| (l.clone(), cfg.bundle_global(l)))
        .collect()
}

/// Resolve a version spec against the registry's versions.
pub fn resolve_version(spec: &VersionSpec, index: Option<&Index>) -> Result<semver::Version> {
    match spec {
        VersionSpec::Exact(s) => Ok(parse_version(s)?),
        VersionSpec::Bump(b) => {
            let highest = index.and_then(|i| i.versions.iter().map(|v| v.version.clone()).max());
            Ok(bump_version(highest.as_ref(), *b))
        }
        VersionSpec::Auto => Err(PublishError::BumpAutoNeedsDiff.into()),
    }
}

fn highest(index: Option<&Index>) -> Option<&IndexVersion> {
    index?
        .versions
        .iter()
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// Suggest the next version for the working content against the highest published version.
pub fn suggest_next(
    cfg: &Config,
    kb: &KnowledgeBase,
    reg: &Registry,
    index: Option<&Index>,
) -> Result<(Option<semver::Version>, BumpSuggestion)> {
    let Some(top) = highest(index) else {
        return Ok((
            None,
            BumpSuggestion {
                bump: Some(Bump::Minor),
                reasons: vec!["nothing is published yet".into()],
            },
        ));
    };
    let from = crate::snapshot::Snapshot::published(reg, index, &top.version.to_string())?;
    let to = crate::snapshot::Snapshot::working(cfg, kb);
    let diff = crate::snapshot::compare(&cfg.package.name, &cfg.content.languages, &from, &to)?;
    Ok((Some(top.version.clone()), suggest_bump(&diff)))
}

/// The checks `publish` runs before writing anything, without building the release: the lint
/// gate, and immutability when `version` is already published. Used to vet every tag of an
/// import before the first one is written.
pub fn precheck(
    cfg: &Config,
    kb: &KnowledgeBase,
    index: Option<&Index>,
    version: &str,
    lint_gate: LintGate<'_>,
) -> Result<()> {
    gate(cfg, kb, lint_gate)?;
    if let Some(existing) = index.and_then(|i| i.get(version)) {
        let docs = manifest_docs(cfg, kb);
        let assets = manifest_assets(cfg, kb, package::FORMAT);
        if existing.content_digest != content_digest(cfg, &docs, &assets) {
            return Err(Error::from(CoreError::VersionConflict {
                version: version.to_string(),
                detail: "the content differs from the published release".into(),
            }));
        }
    }
    Ok(())
}

/// Publish `kb` into the registry.
pub fn publish(
    cfg: &Config,
    kb: &KnowledgeBase,
    reg: &Registry,
    opts: &PublishOptions<'_>,
) -> Result<PublishReport> {
    package::check_format(opts.package_format)?;
    check_registry_place(cfg, reg)?;
    let bundle_texts = mdx_bundle_texts(cfg, kb);
    std::thread::scope(|scope| {
        // Most of the tarball (the bundles and `docs/`) depends on the documents alone: its
        // compression starts now, on worker threads, while the release is checked, diffed
        // and described. Dropped unused if the publish stops early.
        let contents = package::Contents {
            languages: &cfg.content.languages,
            globals: globals(cfg),
            documents: &kb.documents,
            gzip_level: cfg.registry.gzip_level,
            format: opts.package_format,
            keyed_only: cfg.bundle.documents == crate::config::BundleDocuments::Keyed,
            meta: cfg.bundle.meta,
            lazy: cfg.bundle.lazy,
            assets: &kb.assets,
            bundle_texts: &bundle_texts,
        };
        let started = package::start(scope, &contents);
        publish_started(cfg, kb, reg, opts, started)
    })
}

/// `[bundle] mdx = "markdown"`: the plain-markdown form of every `.mdx` document (its front
/// matter kept, the body through [`crate::mdx::to_markdown`] with `[bundle.mdx_components]`),
/// by content-root path. An `.mdx` body that does not parse keeps its source: the lint
/// reports it (KB060), and a gate that lets it through ships what was written.
fn mdx_bundle_texts(cfg: &Config, kb: &KnowledgeBase) -> BTreeMap<String, String> {
    use crate::config::{BundleMdx, MdxRender};
    use crate::mdx::Render;
    use rayon::prelude::*;
    if cfg.bundle.mdx != BundleMdx::Markdown {
        return BTreeMap::new();
    }
    let renders: BTreeMap<String, Render> = cfg
        .bundle
        .mdx_components
        .iter()
        .map(|(name, r)| {
            let r = match r {
                MdxRender::Blockquote => Render::Blockquote,
                MdxRender::Sections => Render::Sections,
                MdxRender::Children => Render::Children,
                MdxRender::Drop => Render::Drop,
            };
            (name.clone(), r)
        })
        .collect();
    kb.documents
        .par_iter()
        .filter(|d| crate::files::is_mdx_name(&d.path))
        .filter_map(|d| {
            let body = crate::mdx::to_markdown(d.body(), &renders).ok()?;
            let mut text = String::with_capacity(d.body_start + body.len());
            text.push_str(&d.text[..d.body_start]);
            // The blank line after the front matter stays (the form drops leading blanks).
            if d.body().starts_with('\n') && !body.is_empty() {
                text.push('\n');
            }
            text.push_str(&body);
            Some((d.full_path(), text))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

fn publish_started(
    cfg: &Config,
    kb: &KnowledgeBase,
    reg: &Registry,
    opts: &PublishOptions<'_>,
    started: Result<package::Started<'_>>,
) -> Result<PublishReport> {
    let (warnings, lint_note) = gate(cfg, kb, opts.lint)?;
    let lock = if opts.dry_run {
        None
    } else {
        Some(reg.lock(opts.lock_wait)?)
    };
    // Read under the lock, before any other work: a changelog path that is not a regular file
    // fails here, in a dry run too.
    let changelog = read_changelog(cfg.changelog_path())?;
    let index = read_index_of(cfg, reg)?;
    let docs = manifest_docs(cfg, kb);
    let (version, diffed) = choose_version(cfg, kb, reg, &opts.version, index.as_ref(), &docs)?;
    let vs = version.to_string();
    let assets = manifest_assets(cfg, kb, opts.package_format);
    let digest = content_digest(cfg, &docs, &assets);
    if let Some(i) = &index
        && let Some(existing) = i.get(&vs)
    {
        return republish(
            cfg,
            reg,
            opts,
            lock.as_ref(),
            i,
            existing,
            &digest,
            changelog,
            (&docs, &assets),
            warnings,
        );
    }
    if let Some(guard) = opts.guard {
        guard(&vs)?;
    }
    let previous = previous_release(index.as_ref(), &version);
    let (prev_manifest, changes) = previous_manifest(reg, previous.as_ref(), diffed)?;
    let drift = translation_drift(cfg, reg, index.as_ref(), &version, &docs, opts)?;
    let draft = Draft {
        cfg,
        package_format: opts.package_format,
        git: &opts.git,
        date: opts.date.date(),
        published: opts.date.rfc3339(),
        version,
        vs,
        docs,
        assets,
        digest,
        previous: previous.map(|p| p.version),
        prev_manifest,
        drift,
        warnings,
        lint_note,
    };
    let new_blobs = blobs_to_write(kb, reg);
    let blobs = blob_data(cfg, kb, reg, &new_blobs, opts.package_format);
    // Blob files are written (kernel work) while the diff, the manifest and the tarball are
    // computed (CPU work). A failure on either side removes the blobs written (below).
    // Leftovers of killed publishes are removed and this publish's staging directory is
    // created before anything is written.
    let staging = lock.as_ref().map(|l| reg.begin(l)).transpose()?;
    let (written, built) = std::thread::scope(|scope| {
        // The blob writer is a thread of its own, not a worker of the compute pool: the
        // filesystem sync it ends with blocks its thread, and a blocked worker would leave
        // the tarball's compression one core.
        let writer = scope.spawn(|| write_blobs(reg, lock.as_ref(), staging.as_ref(), &blobs));
        let built = draft.build(kb, reg, staging.as_ref(), started, changes);
        // A panic in the writer is passed on as it is, as `rayon::join` would.
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (written, built)
    });
    let written_blobs: Vec<&str> = blobs.iter().map(|(sha, _)| *sha).collect();
    // Until the commit succeeds, an early return removes the blobs this publish wrote.
    let mut cleanup = BlobCleanup {
        reg,
        lock: lock.as_ref(),
        shas: &written_blobs,
        version: &draft.vs,
        armed: true,
    };
    written?;
    let built = built?;
    let tarball = draft.tarball_ref(&built.pkg);
    let mut new_index = draft.next_index(index.as_ref(), opts.date, &built, &tarball);
    let (tags_set, backport) =
        update_dist_tags(&mut new_index, &draft.version, opts.tag.as_deref())?;
    let packument = draft.packument(reg, index.as_ref(), &new_index, &built.pkg)?;
    let files = files_written(cfg, &draft.vs, &new_blobs, &tarball.path);
    let mut report = PublishReport {
        name: cfg.package.name.clone(),
        version: draft.vs.clone(),
        outcome: Outcome::DryRun,
        published: draft.published.clone(),
        previous: draft.previous.as_ref().map(ToString::to_string),
        backport,
        tags_set,
        dist_tags: new_index.dist_tags.clone(),
        summary: built.summary.clone(),
        tarball,
        new_blobs: new_blobs.len(),
        files,
        changelog: changelog.path.clone(),
        changelog_section: built.section.clone(),
        warnings: draft.warnings.clone(),
        notes: built.notes.clone(),
    };
    // What kbrel writes, kbrel must read back before anything points at it: run by the commit
    // while the staged files are made durable (or now, for a dry run).
    let staged_tgz = staging.as_ref().map(registry::Staging::tarball_path);
    let verify = || draft.read_back_all(reg, &built, &new_index, staged_tgz.as_deref());
    let Some(lock) = lock.as_ref() else {
        verify()?;
        return Ok(report);
    };
    let staging = staging.expect("staged with the lock");
    draft.commit(
        reg,
        lock,
        staging,
        &built,
        &new_index,
        packument,
        opts.sign.as_ref(),
        &verify,
    )?;
    cleanup.armed = false;
    drop(cleanup);
    let updated = changelog::insert_section(&changelog.text, &draft.version, &built.section);
    registry::write_atomic(&changelog.file, updated.as_bytes())?;
    report.outcome = Outcome::Published;
    Ok(report)
}

/// The registry's index, refused when it holds another package or its sequence cannot grow
/// (checked before anything is written: a new version increases the sequence).
fn read_index_of(cfg: &Config, reg: &Registry) -> Result<Option<Index>> {
    let index = reg.read_index()?.map(|(i, _)| i);
    if let Some(i) = &index
        && i.name != cfg.package.name
    {
        return Err(Error::corrupt(
            reg.path(registry::INDEX_FILE),
            format!(
                "the registry holds package `{}`, not `{}` (check --registry and package.name)",
                i.name, cfg.package.name
            ),
        ));
    }
    if let Some(i) = &index
        && i.sequence == u64::MAX
    {
        return Err(Error::corrupt(
            reg.path(registry::INDEX_FILE),
            format!("sequence {} cannot be increased", i.sequence),
        ));
    }
    Ok(index)
}

/// What `--bump auto` diffed to choose the version: the highest published version's manifest
/// and the changes from it to the working content. That version is then the previous release
/// (the new one is above it), so [`Draft::build`] reuses the changes: the diff runs once.
struct Diffed {
    version: String,
    manifest: Manifest,
    changes: Vec<DocChange>,
}

/// The version to publish: `spec` resolved against the index (`--bump auto` diffs `docs`, the
/// working content, against the highest published version, and hands that diff on).
fn choose_version(
    cfg: &Config,
    kb: &KnowledgeBase,
    reg: &Registry,
    spec: &VersionSpec,
    index: Option<&Index>,
    docs: &[ManifestDoc],
) -> Result<(semver::Version, Option<Diffed>)> {
    let VersionSpec::Auto = spec else {
        return Ok((resolve_version(spec, index)?, None));
    };
    let Some(top) = highest(index) else {
        return Ok((semver::Version::new(0, 1, 0), None));
    };
    let current = top.version.clone();
    let manifest = reg.read_manifest(top)?;
    let by_sha = documents_by_sha(kb);
    let changes = diff_changes(
        cfg,
        &manifest.documents,
        &Texts::old(&by_sha, reg),
        docs,
        &Texts::new(&by_sha),
    )?;
    match bump_for(&changes).bump {
        Some(b) => Ok((
            bump_version(Some(&current), b),
            Some(Diffed {
                version: top.version.to_string(),
                manifest,
                changes,
            }),
        )),
        None => Err(PublishError::NothingChanged { current }.into()),
    }
}

/// The previous release's manifest, and the changes from it when [`choose_version`] computed
/// them already.
fn previous_manifest(
    reg: &Registry,
    previous: Option<&IndexVersion>,
    diffed: Option<Diffed>,
) -> Result<(Option<Manifest>, Option<Vec<DocChange>>)> {
    let Some(p) = previous else {
        return Ok((None, None));
    };
    match diffed {
        Some(d) if d.version == p.version.to_string() => Ok((Some(d.manifest), Some(d.changes))),
        _ => Ok((Some(reg.read_manifest(p)?), None)),
    }
}

/// The documents of a knowledge base by sha256 (the texts a diff reads from memory).
fn documents_by_sha(kb: &KnowledgeBase) -> FastMap<&str, &Document> {
    kb.documents
        .iter()
        .map(|d| (d.sha256.as_str(), d))
        .collect()
}

#[cfg(test)]
thread_local! {
    /// How many release diffs this thread computed ([`diff_changes`]), for the test that
    /// `--bump auto` diffs once.
    static RELEASE_DIFFS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The changes from `old` to `new` documents: the one place a publish diffs.
fn diff_changes(
    cfg: &Config,
    old: &[ManifestDoc],
    old_text: &Texts<'_>,
    new: &[ManifestDoc],
    new_text: &Texts<'_>,
) -> Result<Vec<DocChange>> {
    #[cfg(test)]
    RELEASE_DIFFS.with(|n| n.set(n.get() + 1));
    Ok(diff::diff_docs(
        &cfg.content.languages,
        old,
        old_text,
        new,
        new_text,
    )?)
}

/// The version is published already: the guard runs when the content is the same, the
/// signature and leftovers are repaired, and [`already_published`] reports (or refuses).
#[allow(clippy::too_many_arguments)]
fn republish(
    cfg: &Config,
    reg: &Registry,
    opts: &PublishOptions<'_>,
    lock: Option<&registry::LockGuard>,
    index: &Index,
    existing: &IndexVersion,
    digest: &str,
    changelog: Changelog,
    content: (&[ManifestDoc], &[ManifestAsset]),
    warnings: Vec<Finding>,
) -> Result<PublishReport> {
    if existing.content_digest == digest
        && let Some(guard) = opts.guard
    {
        guard(&existing.version.to_string())?;
    }
    if let (Some(lock), Some((key, next))) = (lock, &opts.sign) {
        resign_if_needed(reg, lock, key, next.as_ref())?;
    }
    // A rerun after a publish killed late (index written, staging not yet removed) leaves
    // the registry clean.
    if let Some(lock) = lock
        && existing.content_digest == digest
    {
        reg.remove_leftovers(lock)?;
    }
    already_published(
        cfg,
        reg,
        index,
        existing,
        digest,
        changelog,
        content,
        warnings,
        lock.is_some(),
    )
}

/// The highest published version below `version`: the one this release is diffed against.
fn previous_release(index: Option<&Index>, version: &semver::Version) -> Option<IndexVersion> {
    index.and_then(|i| {
        i.versions
            .iter()
            .filter(|v| v.version < *version)
            .max_by(|a, b| a.version.cmp(&b.version))
            .cloned()
    })
}

/// Translation drift per language against the history before `version`; with
/// `--require-translations`, a missing or outdated translation is refused.
fn translation_drift(
    cfg: &Config,
    reg: &Registry,
    index: Option<&Index>,
    version: &semver::Version,
    docs: &[ManifestDoc],
    opts: &PublishOptions<'_>,
) -> Result<BTreeMap<String, DriftCounts>> {
    let acks = crate::history::load_acks(cfg)?;
    let drift_status = crate::history::status_after_history(
        &cfg.content.languages,
        cfg.source_language(),
        reg,
        index,
        crate::history::HistoryFilter {
            keep: &|v, _| v.version < *version,
            stop_at_same: false,
        },
        &version.to_string(),
        docs,
        &acks,
    )?;
    if opts.require_translations {
        let bad: Vec<String> = drift_status
            .iter()
            .filter(|s| {
                matches!(
                    s.state,
                    crate::history::Drift::Missing | crate::history::Drift::Outdated
                )
            })
            .map(|s| format!("{}/{} {:?}", s.lang, s.path, s.state).to_lowercase())
            .collect();
        if !bad.is_empty() {
            return Err(PublishError::MissingTranslations { documents: bad }.into());
        }
    }
    Ok(crate::history::drift_counts(&drift_status))
}

/// The documents whose blobs must be written: one per content hash, not stored yet or stored
/// torn. Verify before trust: an existing blob is reused only if it hashes to its name; a
/// missing, torn or corrupted one is written again. One directory listing per fan-out folder
/// tells which exist at all.
fn blobs_to_write<'k>(kb: &'k KnowledgeBase, reg: &Registry) -> Vec<&'k Document> {
    use rayon::prelude::*;
    let mut seen: FastSet<&str> = FastSet::default();
    let unique: Vec<&Document> = kb
        .documents
        .iter()
        .filter(|d| seen.insert(d.sha256.as_str()))
        .collect();
    let stored = reg.stored_blobs();
    unique
        .into_par_iter()
        .filter(|d| {
            !stored.contains(d.sha256.as_str())
                || crate::fsx::read_regular(
                    &reg.path(&registry::blob_path(&d.sha256)),
                    crate::fsx::bound(d.size()),
                )
                .map(|b| b.len() as u64 != d.size() || sha256_hex(&b) != d.sha256)
                .unwrap_or(true)
        })
        .collect()
}

/// The asset blobs a publish writes. Assets are content-addressed like documents: one blob
/// per distinct content (an image both languages hold is stored once), streamed from its
/// file, and never rewritten when a blob of its name and size is stored already (it is not
/// read back: publish packs from the source file, and every reader verifies a blob against
/// its name).
fn asset_blobs_to_write<'a>(
    kb: &'a KnowledgeBase,
    reg: &Registry,
    new_blobs: &[&'a Document],
) -> Vec<(&'a str, registry::BlobData<'a>)> {
    let stored = reg.stored_blobs();
    let mut seen: FastSet<&str> = new_blobs.iter().map(|d| d.sha256.as_str()).collect();
    let mut out = Vec::new();
    for a in &kb.assets {
        if !seen.insert(a.sha256.as_str()) {
            continue;
        }
        let present = stored.contains(a.sha256.as_str())
            && std::fs::symlink_metadata(reg.path(&registry::blob_path(&a.sha256)))
                .is_ok_and(|m| m.is_file() && m.len() == a.size);
        if !present {
            out.push((
                a.sha256.as_str(),
                registry::BlobData::Asset {
                    source: &a.source,
                    size: a.size,
                },
            ));
        }
    }
    out
}

/// The blobs a publish writes, and whether documents get their `.gz` siblings
/// (`[registry] precompress`).
struct NewBlobs<'k> {
    list: Vec<(&'k str, registry::BlobData<'k>)>,
    precompress: bool,
}

impl<'k> NewBlobs<'k> {
    fn iter(&self) -> std::slice::Iter<'_, (&'k str, registry::BlobData<'k>)> {
        self.list.iter()
    }
}

/// The blobs to write: the new documents' texts and, from package format 4, the assets'.
fn blob_data<'k>(
    cfg: &Config,
    kb: &'k KnowledgeBase,
    reg: &Registry,
    new_blobs: &[&'k Document],
    format: u32,
) -> NewBlobs<'k> {
    let mut list: Vec<(&str, registry::BlobData<'_>)> = new_blobs
        .iter()
        .map(|d| {
            (
                d.sha256.as_str(),
                registry::BlobData::Bytes(d.text.as_bytes()),
            )
        })
        .collect();
    if format >= 4 {
        list.extend(asset_blobs_to_write(kb, reg, new_blobs));
    }
    NewBlobs {
        list,
        precompress: cfg.registry.precompress,
    }
}

/// Write the blobs into the staging directory (nothing for a dry run), flushed to disk right
/// away, while the CPU is still busy compressing: the sync before the commit then finds
/// (nearly) nothing left to write.
fn write_blobs(
    reg: &Registry,
    lock: Option<&registry::LockGuard>,
    staging: Option<&registry::Staging>,
    blobs: &NewBlobs<'_>,
) -> Result<()> {
    match (lock, staging) {
        (Some(l), Some(s)) => reg
            .write_blobs(l, s, &blobs.list, blobs.precompress)
            .and_then(|_| reg.sync_to_disk()),
        _ => Ok(()),
    }
}

/// The files a publish writes, relative to the registry directory.
fn files_written(cfg: &Config, vs: &str, new_blobs: &[&Document], tarball: &str) -> Vec<String> {
    let mut files: Vec<String> = new_blobs
        .iter()
        .map(|d| registry::blob_path(&d.sha256))
        .collect();
    files.sort();
    files.extend([
        registry::manifest_path(vs),
        registry::diff_path(vs),
        registry::package_json_path(vs),
        tarball.to_string(),
        crate::npm::packument_path(&cfg.package.name),
        registry::INDEX_FILE.to_string(),
    ]);
    files
}

/// What is known of a new release before it is built.
struct Draft<'a> {
    cfg: &'a Config,
    package_format: u32,
    git: &'a Option<GitInfo>,
    /// The release date, `YYYY-MM-DD`.
    date: String,
    /// The release time, RFC 3339.
    published: String,
    version: semver::Version,
    vs: String,
    docs: Vec<ManifestDoc>,
    assets: Vec<ManifestAsset>,
    digest: String,
    previous: Option<semver::Version>,
    prev_manifest: Option<Manifest>,
    drift: BTreeMap<String, DriftCounts>,
    warnings: Vec<Finding>,
    lint_note: Option<String>,
}

impl Draft<'_> {
    /// Diff against the previous release (unless `changes` holds that diff already), write
    /// the manifest, the changelog section and the tarball (streamed into `staging`, or only
    /// hashed for a dry run).
    fn build<'k>(
        &self,
        kb: &KnowledgeBase,
        reg: &Registry,
        staging: Option<&registry::Staging>,
        started: Result<package::Started<'k>>,
        changes: Option<Vec<DocChange>>,
    ) -> Result<Built<'k>> {
        let cfg = self.cfg;
        let by_sha = documents_by_sha(kb);
        let old_text = Texts::old(&by_sha, reg);
        let old_docs = self
            .prev_manifest
            .as_ref()
            .map(|m| m.documents.as_slice())
            .unwrap_or(&[]);
        let changes = match changes {
            Some(c) => c,
            None => diff_changes(cfg, old_docs, &old_text, &self.docs, &Texts::new(&by_sha))?,
        };
        let summary = diff::summarize(&cfg.content.languages, &self.docs, &changes);
        let diff_file = DiffFile {
            schema_version: SCHEMA_VERSION,
            name: cfg.package.name.clone(),
            from: self.previous.as_ref().map(ToString::to_string),
            to: self.vs.clone(),
            summary: summary.clone(),
            changes,
            assets: if self.package_format >= 4 {
                let old = self.prev_manifest.as_ref().map(|m| m.assets.as_slice());
                diff::diff_assets(old.unwrap_or(&[]), &self.assets)
            } else {
                Vec::new()
            },
        };
        let diff_json = manifest::to_json_bytes(&diff_file);
        let manifest_json = manifest::to_json_bytes(&self.manifest());
        let mut notes: Vec<String> = self.lint_note.iter().cloned().collect();
        notes.extend(self.lower_than_suggested(&diff_file));
        // The changelog section; the changes themselves are not needed after this.
        let mut rc = changelog::release_context(
            ReleaseInfo {
                version: &self.vs,
                date: &self.date,
                previous: diff_file.from.as_deref(),
                repository: cfg.package.repository.as_deref(),
                tag_format: &cfg.registry.tag_format,
            },
            &cfg.content.languages,
            &diff_file,
        );
        rc.drift = self.drift.clone();
        if changelog::detailed_in(self.package_format) {
            changelog::with_details(&mut rc, &diff_file, &|c| Ok(old_text.of_change(c)?))?;
        }
        let section = changelog::render_release(&rc);
        drop((rc, diff_file));
        let release = package::Release {
            name: &cfg.package.name,
            version: &self.vs,
            description: &cfg.package.description,
            license: &cfg.package.license,
            repository: cfg.package.repository.as_deref(),
            source_language: cfg.source_language(),
            manifest_json: &manifest_json,
            fields: Some(&cfg.package),
        };
        // Streamed into the staging directory (or only hashed, for a dry run).
        let mut staged = staging.map(|s| s.tarball()).transpose()?;
        let (pkg, written) = started?.finish(&release, &mut |part: &[u8]| match &mut staged {
            Some(f) => f.write(part),
            None => Ok(()),
        })?;
        Ok(Built {
            summary,
            section,
            diff_json,
            manifest_json,
            notes,
            pkg,
            written,
        })
    }

    /// Commit the staged release to the registry, index last (signed with `sign`).
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        reg: &Registry,
        lock: &registry::LockGuard,
        staging: registry::Staging,
        built: &Built<'_>,
        new_index: &Index,
        packument: Vec<u8>,
        sign: Option<&(
            &ed25519_dalek::SigningKey,
            Option<ed25519_dalek::VerifyingKey>,
        )>,
        verify: &(dyn Fn() -> Result<()> + Sync),
    ) -> Result<()> {
        let cfg = self.cfg;
        reg.commit(
            lock,
            staging,
            &Commit {
                version: &self.vs,
                manifest_json: &built.manifest_json,
                diff_json: &built.diff_json,
                package_json: &built.pkg.package_json,
                tarball_name: &crate::npm::tarball_file_name(&cfg.package.name, &self.vs),
                extra: vec![(crate::npm::packument_path(&cfg.package.name), packument)],
                index: new_index,
                index_sig: sign.map(|(k, next)| {
                    crate::sign::sign_index(&manifest::to_json_bytes(new_index), k, next.as_ref())
                }),
                verify,
                precompress: cfg.registry.precompress,
            },
        )
    }

    /// The static npm packument of `new_index`, this release's package.json included.
    fn packument(
        &self,
        reg: &Registry,
        index: Option<&Index>,
        new_index: &Index,
        pkg: &package::Package,
    ) -> Result<Vec<u8>> {
        let pj: serde_json::Value =
            serde_json::from_slice(&pkg.package_json).map_err(|e| PublishError::PackageJson {
                reason: e.to_string(),
            })?;
        static_packument(self.cfg, reg, index, new_index, Some((&self.vs, pj)))
    }

    /// Everything this publish writes, read back by kbrel's own readers: every registry
    /// document (byte for byte) and, when staged, the tarball (the file `tgz`).
    fn read_back_all(
        &self,
        reg: &Registry,
        built: &Built<'_>,
        new_index: &Index,
        tgz: Option<&std::path::Path>,
    ) -> Result<()> {
        read_back(
            reg,
            &self.vs,
            &built.manifest_json,
            &built.diff_json,
            new_index,
        )?;
        match tgz {
            Some(tgz) => self.read_back_tarball(reg, tgz, built),
            None => Ok(()),
        }
    }

    /// The staged tarball read back by the reader every command uses: it must hold what was
    /// meant.
    fn read_back_tarball(
        &self,
        reg: &Registry,
        tgz: &std::path::Path,
        built: &Built<'_>,
    ) -> Result<()> {
        let m = manifest::parse_manifest(
            &built.manifest_json,
            &reg.path(&registry::manifest_path(&self.vs)),
        )?;
        // Assets are in the tarball from package format 4 on.
        let assets: &[manifest::ManifestAsset] = if m.package_format >= 4 {
            &m.assets
        } else {
            &[]
        };
        let tarball = crate::npm::tarball_file_name(&self.cfg.package.name, &self.vs);
        let (file, _) = crate::fsx::open_regular(tgz).map_err(|e| Error::io("read", tgz, e))?;
        built
            .written
            .check(file, &built.pkg, &built.manifest_json, &m.documents, assets)
            .map_err(|e| {
                PublishError::TarballReadBack {
                    version: self.vs.clone(),
                    tarball,
                    reason: e.to_string(),
                }
                .into()
            })
    }

    fn manifest(&self) -> Manifest {
        let cfg = self.cfg;
        Manifest {
            schema_version: SCHEMA_VERSION,
            name: cfg.package.name.clone(),
            version: self.version.clone(),
            published: self.published.clone(),
            previous: self.previous.clone(),
            languages: cfg.content.languages.clone(),
            source_language: cfg.source_language().to_string(),
            content_digest: self.digest.clone(),
            git: self.git.clone(),
            documents: self.docs.clone(),
            warnings: self.warnings.clone(),
            drift: self.drift.clone(),
            package_format: self.package_format,
            assets: self.assets.clone(),
        }
    }

    /// A note when the version is lower than the bump the diff suggests.
    fn lower_than_suggested(&self, diff_file: &DiffFile) -> Option<String> {
        let pv = self.previous.as_ref()?;
        let suggestion = suggest_bump(diff_file);
        let suggested = bump_version(Some(pv), suggestion.bump?);
        if self.version >= suggested {
            return None;
        }
        let reasons = suggestion.reasons;
        Some(format!(
            "{} is lower than the suggested {suggested} ({}{})",
            self.version,
            reasons
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            if reasons.len() > 3 { "; …" } else { "" }
        ))
    }

    fn tarball_ref(&self, pkg: &package::Package) -> TarballRef {
        TarballRef {
            path: crate::npm::tarball_file_name(&self.cfg.package.name, &self.vs),
            sha256: pkg.sha256.clone(),
            size: pkg.size,
            integrity: pkg.integrity.clone(),
            shasum: pkg.shasum.clone(),
            file_count: pkg.file_count,
            unpacked_size: pkg.unpacked_size,
        }
    }

    /// `index` (or a new one) with this release inserted in version order, the sequence
    /// increased and the expiry renewed. Dist-tags are [`update_dist_tags`]'s.
    fn next_index(
        &self,
        index: Option<&Index>,
        now: Timestamp,
        built: &Built<'_>,
        tarball: &TarballRef,
    ) -> Index {
        let cfg = self.cfg;
        let mut new_index = index
            .cloned()
            .unwrap_or_else(|| Index::new(&cfg.package.name));
        new_index.sequence += 1;
        new_index.expires = cfg
            .registry
            .expires_days
            .map(|d| crate::date::Timestamp(now.0 + i64::from(d) * 86_400).rfc3339());
        let file_ref = |path: String, bytes: &[u8]| FileRef {
            path,
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        };
        let entry = IndexVersion {
            version: self.version.clone(),
            published: self.published.clone(),
            previous: self.previous.clone(),
            content_digest: self.digest.clone(),
            manifest: file_ref(registry::manifest_path(&self.vs), &built.manifest_json),
            diff: file_ref(registry::diff_path(&self.vs), &built.diff_json),
            package_json: file_ref(
                registry::package_json_path(&self.vs),
                &built.pkg.package_json,
            ),
            tarball: tarball.clone(),
            summary: built.summary.clone(),
        };
        let pos = new_index
            .versions
            .iter()
            .position(|v| v.version > self.version)
            .unwrap_or(new_index.versions.len());
        new_index.versions.insert(pos, entry);
        new_index
    }
}

/// What [`publish`] computes while the blobs are written.
struct Built<'a> {
    summary: BTreeMap<String, ChangeCounts>,
    /// The CHANGELOG.md section.
    section: String,
    diff_json: Vec<u8>,
    manifest_json: Vec<u8>,
    notes: Vec<String>,
    pkg: package::Package,
    /// What the tarball was written from, for its read-back.
    written: package::Written<'a>,
}

/// Removes the blobs a failed publish wrote (they are unreferenced: the index never listed them).
/// A commit that fails after the index was written (e.g. replacing the npm packument) has
/// published the version: its blobs are referenced and stay.
struct BlobCleanup<'a> {
    reg: &'a Registry,
    lock: Option<&'a registry::LockGuard>,
    shas: &'a [&'a str],
    version: &'a str,
    armed: bool,
}

impl Drop for BlobCleanup<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Some(lock) = self.lock
            && !self.reg.index_lists(self.version)
        {
            self.reg.remove_blobs(lock, self.shas);
        }
    }
}

/// Rewrite `index.json.sig` when it is missing or does not match the index (a publish that
/// crashed between the two renames).
fn resign_if_needed(
    reg: &Registry,
    _lock: &registry::LockGuard,
    key: &ed25519_dalek::SigningKey,
    next: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<()> {
    let index_path = reg.path(registry::INDEX_FILE);
    let bytes = crate::fsx::read_regular(&index_path, registry::MAX_INDEX_BYTES)
        .map_err(|e| Error::io("read", &index_path, e))?;
    let trusted = [crate::sign::public_key_string(&key.verifying_key())];
    let current = crate::fsx::read_regular(&reg.path(crate::sign::SIG_FILE), 1 << 20).ok();
    if current.is_some_and(|s| crate::sign::verify_index(&bytes, &s, &trusted).is_ok()) {
        return Ok(());
    }
    registry::write_atomic(
        &reg.path(crate::sign::SIG_FILE),
        &crate::sign::sign_index(&bytes, key, next),
    )
}

/// The static npm packument file for `index`: version documents come from the verified
/// `v/<version>/package.json` files of `stored` (plus `new` for a version being published);
/// tarball URLs are absolute with `registry.public_url`, else relative (npm needs absolute).
pub fn static_packument(
    cfg: &Config,
    reg: &Registry,
    stored: Option<&Index>,
    index: &Index,
    new: Option<(&str, serde_json::Value)>,
) -> Result<Vec<u8>> {
    let mut docs = match stored {
        Some(i) => crate::registry::version_documents(reg, i)?,
        None => BTreeMap::new(),
    };
    if let Some((v, pj)) = new {
        docs.insert(v.to_string(), pj);
    }
    let base = cfg
        .registry
        .public_url
        .as_deref()
        .map(|u| format!("{}/", u.trim_end_matches('/')));
    let url = |file: &str| format!("{}{file}", base.as_deref().unwrap_or(""));
    Ok(manifest::to_json_bytes(&crate::npm::packument(
        index, &docs, &url,
    )))
}

/// The changelog a publish updates, read before any other work.
struct Changelog {
    /// As configured (`--changelog` or `changelog.path`): what reports show.
    path: PathBuf,
    /// Its text, empty if it does not exist yet.
    text: String,
    /// The file to replace with the updated text: the changelog itself, or what it links to
    /// (a symlinked CHANGELOG.md stays a link).
    file: PathBuf,
}

/// The registry folder, as it resolves on disk (links and absolute paths included), is neither
/// the project root nor a folder holding the content root: kbrel cleans up inside it.
fn check_registry_place(cfg: &Config, reg: &Registry) -> Result<()> {
    let Ok(dir) = reg.dir.canonicalize() else {
        return Ok(());
    };
    let base = cfg.base_dir.canonicalize().ok();
    let content = cfg.content_root().canonicalize().ok();
    let what = if base.as_ref() == Some(&dir) {
        "the project root"
    } else if content.as_ref().is_some_and(|c| c.starts_with(&dir)) {
        "a folder holding the content root"
    } else {
        return Ok(());
    };
    Err(PublishError::RegistryPlace {
        dir: reg.dir.clone(),
        place: what,
    }
    .into())
}

/// Parse this release's manifest, diff and the new index with the readers every later command
/// uses, and check that they serialise back to the same bytes.
fn read_back(
    reg: &Registry,
    version: &str,
    manifest_json: &[u8],
    diff_json: &[u8],
    index: &Index,
) -> Result<()> {
    let refuse = |file: String, reason: String| {
        Error::from(PublishError::ReadBack {
            version: version.to_string(),
            file,
            reason,
        })
    };
    let mpath = reg.path(&registry::manifest_path(version));
    let m = manifest::parse_manifest(manifest_json, &mpath)
        .map_err(|e| refuse(registry::manifest_path(version), e.chain()))?;
    if manifest::to_json_bytes(&m) != manifest_json {
        return Err(refuse(
            registry::manifest_path(version),
            "it reads back different".into(),
        ));
    }
    let dpath = reg.path(&registry::diff_path(version));
    manifest::parse_diff(diff_json, &dpath)
        .map_err(|e| refuse(registry::diff_path(version), e.chain()))?;
    let index_json = manifest::to_json_bytes(index);
    let ipath = reg.path(registry::INDEX_FILE);
    let back = manifest::parse_index(&index_json, &ipath)
        .map_err(|e| refuse(registry::INDEX_FILE.into(), e.chain()))?;
    if manifest::to_json_bytes(&back) != index_json {
        return Err(refuse(
            registry::INDEX_FILE.into(),
            "it reads back different".into(),
        ));
    }
    Ok(())
}

/// Read the changelog at `path`. Anything but a regular file (a directory, a device such as
/// `/dev/null`, a FIFO) is refused before the registry is touched: replacing it with a file,
/// or blocking on a read, would be wrong.
fn read_changelog(path: PathBuf) -> Result<Changelog> {
    let file = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(&path).map_err(|e| Error::io("follow the link", &path, e))?
        }
        _ => path.clone(),
    };
    let text = match std::fs::metadata(&file) {
        Ok(m) if !m.is_file() => {
            return Err(PublishError::ChangelogNotAFile {
                path,
                kind: crate::fsx::kind(&file).describe(),
            }
            .into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        _ => crate::fsx::read_to_string(&file).map_err(|e| Error::io("read", &path, e))?,
    };
    Ok(Changelog { path, text, file })
}

/// Set dist-tags for a newly inserted version. `latest` only moves forward.
pub(crate) fn update_dist_tags(
    index: &mut Index,
    version: &semver::Version,
    tag: Option<&str>,
) -> Result<(Vec<String>, bool)> {
    let tag = tag.unwrap_or(if version.pre.is_empty() {
        "latest"
    } else {
        "next"
    });
    if tag.is_empty() || parse_version(tag).is_ok() || tag.contains(['/', ' ']) {
        return Err(PublishError::InvalidDistTag { tag: tag.into() }.into());
    }
    let mut set = Vec::new();
    let mut backport = false;
    if tag == "latest" {
        match index.dist_tags.get("latest") {
            Some(c) if c > version => backport = true,
            _ => {
                index.dist_tags.insert("latest".into(), version.clone());
                set.push("latest".into());
            }
        }
    } else {
        index.dist_tags.insert(tag.to_string(), version.clone());
        set.push(tag.to_string());
        if !index.dist_tags.contains_key("latest") && version.pre.is_empty() {
            index.dist_tags.insert("latest".into(), version.clone());
            set.push("latest".into());
        }
    }
    Ok((set, backport))
}

/// What differs between a published release and the content about to be published under
/// its version: documents and assets changed, added or removed (the first five, then a
/// count), else the package metadata.
fn content_differences(old: &Manifest, docs: &[ManifestDoc], assets: &[ManifestAsset]) -> String {
    let mut differing: Vec<String> = Vec::new();
    let old_by: BTreeMap<(&str, &str), &ManifestDoc> = old
        .documents
        .iter()
        .map(|d| ((d.lang.as_str(), d.path.as_str()), d))
        .collect();
    for d in docs {
        match old_by.get(&(d.lang.as_str(), d.path.as_str())) {
            Some(o) if *o == d => {}
            Some(_) => differing.push(format!("{}/{} changed", d.lang, d.path)),
            None => differing.push(format!("{}/{} added", d.lang, d.path)),
        }
    }
    let new_keys: std::collections::HashSet<(&str, &str)> = docs
        .iter()
        .map(|d| (d.lang.as_str(), d.path.as_str()))
        .collect();
    for o in &old.documents {
        if !new_keys.contains(&(o.lang.as_str(), o.path.as_str())) {
            differing.push(format!("{}/{} removed", o.lang, o.path));
        }
    }
    let old_assets: BTreeMap<&str, &ManifestAsset> =
        old.assets.iter().map(|a| (a.path.as_str(), a)).collect();
    for a in assets {
        match old_assets.get(a.path.as_str()) {
            Some(o) if *o == a => {}
            Some(_) => differing.push(format!("asset {} changed", a.path)),
            None => differing.push(format!("asset {} added", a.path)),
        }
    }
    let new_assets: std::collections::HashSet<&str> =
        assets.iter().map(|a| a.path.as_str()).collect();
    for o in &old.assets {
        if !new_assets.contains(o.path.as_str()) {
            differing.push(format!("asset {} removed", o.path));
        }
    }
    let more = differing.len().saturating_sub(5);
    differing.truncate(5);
    let mut detail = differing.join(", ");
    if more > 0 {
        detail.push_str(&format!(" and {more} more"));
    }
    if detail.is_empty() {
        detail = "package metadata (description, license, repository or globals) changed".into();
    }
    detail
}

#[allow(clippy::too_many_arguments)]
fn already_published(
    cfg: &Config,
    reg: &Registry,
    index: &Index,
    existing: &IndexVersion,
    digest: &str,
    changelog: Changelog,
    (docs, assets): (&[ManifestDoc], &[ManifestAsset]),
    warnings: Vec<Finding>,
    writing: bool,
) -> Result<PublishReport> {
    let vs = existing.version.to_string();
    if existing.content_digest != digest {
        let old = reg.read_manifest(existing)?;
        return Err(Error::from(CoreError::VersionConflict {
            version: vs,
            detail: content_differences(&old, docs, assets),
        }));
    }
    // Identical content. Make sure the changelog has its section (a publish interrupted
    // after the index was written may have missed it).
    let diff_bytes = reg.read_verified(&existing.diff)?;
    let diff_file = manifest::parse_diff(&diff_bytes, &reg.path(&existing.diff.path))?;
    let mut rc = changelog::release_context(
        ReleaseInfo {
            version: &vs,
            date: existing.published.get(..10).unwrap_or(&existing.published),
            previous: existing
                .previous
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            repository: cfg.package.repository.as_deref(),
            tag_format: &cfg.registry.tag_format,
        },
        &cfg.content.languages,
        &diff_file,
    );
    let recorded = reg.read_manifest(existing)?;
    rc.drift = recorded.drift;
    // The section as the release's own format writes it.
    if changelog::detailed_in(recorded.package_format) {
        let by_sha = FastMap::default();
        let texts = Texts {
            by_sha: &by_sha,
            reg: Some(reg),
        };
        changelog::with_details(&mut rc, &diff_file, &|c| Ok(texts.of_change(c)?))?;
    }
    let section = changelog::render_release(&rc);
    let mut files = Vec::new();
    // The static packument follows the index; repair it if a crash left it behind.
    let packument = static_packument(cfg, reg, Some(index), index, None)?;
    let packument_rel = crate::npm::packument_path(&index.name);
    if crate::fsx::read_regular(&reg.path(&packument_rel), registry::MAX_INDEX_BYTES)
        .ok()
        .as_deref()
        != Some(packument.as_slice())
    {
        files.push(packument_rel.clone());
        if writing {
            registry::write_atomic(&reg.path(&packument_rel), &packument)?;
        }
    }
    // The section goes in when missing and is replaced in place when it differs (never
    // added twice).
    let updated = changelog::insert_section(&changelog.text, &existing.version, &section);
    if updated != changelog.text {
        files.push(changelog.path.display().to_string());
        if writing {
            registry::write_atomic(&changelog.file, updated.as_bytes())?;
        }
    }
    Ok(PublishReport {
        name: index.name.clone(),
        version: vs,
        outcome: Outcome::AlreadyPublished,
        published: existing.published.clone(),
        previous: existing.previous.as_ref().map(ToString::to_string),
        backport: false,
        tags_set: Vec::new(),
        dist_tags: index.dist_tags.clone(),
        summary: existing.summary.clone(),
        tarball: existing.tarball.clone(),
        new_blobs: 0,
        files,
        changelog: changelog.path,
        changelog_section: section,
        warnings,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v1.3.4").unwrap().to_string(), "1.3.4");
        assert_eq!(
            parse_version("2.0.0-beta.1").unwrap().to_string(),
            "2.0.0-beta.1"
        );
        for bad in ["1.3", "01.2.3", "latest", "1.2.3-", "", "1.2.3+build", "v"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bumps() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(bump_version(Some(&v("1.2.3")), Bump::Patch), v("1.2.4"));
        assert_eq!(bump_version(Some(&v("1.2.3")), Bump::Minor), v("1.3.0"));
        assert_eq!(bump_version(Some(&v("1.2.3")), Bump::Major), v("2.0.0"));
        assert_eq!(
            bump_version(Some(&v("1.2.3")), Bump::Prerelease),
            v("1.2.4-0")
        );
        assert_eq!(
            bump_version(Some(&v("2.0.0-beta.1")), Bump::Prerelease),
            v("2.0.0-beta.2")
        );
        assert_eq!(
            bump_version(Some(&v("2.0.0-beta.1")), Bump::Major),
            v("2.0.0")
        );
        assert_eq!(bump_version(Some(&v("1.2.4-0")), Bump::Patch), v("1.2.4"));
        assert_eq!(bump_version(None, Bump::Minor), v("0.1.0"));
    }

    /// `--bump auto` diffs the working content against the highest release to choose the
    /// version, and the release's diff.json is that same diff: computed once, with the bytes
    /// an exact `publish 1.1.0` writes.
    #[test]
    fn bump_auto_diffs_once_and_writes_what_an_exact_version_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let toml = "[package]\nname = \"acme-docs\"\n[content]\nrequired_fields = []\n";
        let cfg = Config::parse(toml, &tmp.path().join("kbrel.toml")).unwrap();
        let kb = |docs: &[(&str, &str)]| {
            let files: Vec<crate::content::SourceFile> = docs
                .iter()
                .map(|(path, text)| crate::content::SourceFile {
                    path: path.to_string(),
                    bytes: text.as_bytes().to_vec(),
                })
                .collect();
            let all = files.iter().map(|f| f.path.clone()).collect();
            crate::content::build(&cfg, files, all, &Default::default()).unwrap()
        };
        let opts = |version: VersionSpec| PublishOptions {
            version,
            date: Timestamp::parse("2026-11-25").unwrap(),
            dry_run: false,
            tag: None,
            git: None,
            lock_wait: Duration::from_secs(5),
            require_translations: false,
            guard: None,
            sign: None,
            package_format: package::FORMAT,
            lint: LintGate::Block(None),
        };
        let first = kb(&[("en/a.md", "# A\n\nOne.\n"), ("zh/a.md", "# 甲\n\n一。\n")]);
        let second = kb(&[
            ("en/a.md", "# A\n\nOne, edited.\n"),
            ("en/b.md", "# B\n\nNew.\n"),
            ("zh/a.md", "# 甲\n\n一。\n"),
        ]);
        let auto = Registry::new(tmp.path().join("auto"));
        let exact = Registry::new(tmp.path().join("exact"));
        for reg in [&auto, &exact] {
            publish(&cfg, &first, reg, &opts(VersionSpec::Exact("1.0.0".into()))).unwrap();
        }
        RELEASE_DIFFS.with(|n| n.set(0));
        let report = publish(&cfg, &second, &auto, &opts(VersionSpec::Auto)).unwrap();
        assert_eq!(report.version, "1.1.0", "an added document is a minor bump");
        assert_eq!(
            RELEASE_DIFFS.with(|n| n.get()),
            1,
            "--bump auto diffed more than once"
        );
        // An exact version diffs once too (nothing chose it).
        RELEASE_DIFFS.with(|n| n.set(0));
        publish(
            &cfg,
            &second,
            &exact,
            &opts(VersionSpec::Exact("1.1.0".into())),
        )
        .unwrap();
        assert_eq!(RELEASE_DIFFS.with(|n| n.get()), 1);
        for file in ["v/1.1.0/diff.json", "v/1.1.0/manifest.json", "index.json"] {
            let read = |r: &Registry| std::fs::read(r.path(file)).unwrap();
            assert_eq!(read(&auto), read(&exact), "{file}");
        }
        // Nothing changed since 1.1.0: refused, after one diff.
        RELEASE_DIFFS.with(|n| n.set(0));
        let err = publish(&cfg, &second, &auto, &opts(VersionSpec::Auto)).unwrap_err();
        assert!(
            err.to_string().contains("nothing changed since 1.1.0"),
            "{err}"
        );
        assert_eq!(RELEASE_DIFFS.with(|n| n.get()), 1);
    }
}
