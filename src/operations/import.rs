//! `kbrel import --from-git`: rebuild a registry from a repository's release tags, in semver
//! order, each tag's tree published as that version with the tag's date, exactly as if each
//! release had been published with kbrel at the time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::date::Timestamp;
use crate::error::{CoreError, Error, ImportError, Result};
use crate::findings::Code;
use crate::git::{Repo, TagInfo};
use crate::manifest::GitInfo;
use crate::publish::{self, LintGate, Outcome, PublishOptions, VersionSpec};
use crate::registry::Registry;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Only tags whose name matches this glob.
    pub tags: Option<globset::GlobMatcher>,
    pub dry_run: bool,
    pub lock_wait: Duration,
    /// Refuse tags with lint errors (`--lint-gate`), as `publish` would without a baseline.
    /// Otherwise each tag is published with its findings recorded as warnings.
    pub lint_gate: bool,
    /// Import a tag that holds a file that is not UTF-8 without that file (`--skip-unreadable`).
    pub skip_unreadable: bool,
}

/// What happened to one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedTag {
    pub tag: String,
    pub version: String,
    pub commit: String,
    pub date: String,
    pub outcome: Outcome,
    /// Documents in the release.
    pub documents: usize,
    /// Findings by level (at the levels `kbrel.toml` gives), as the tag had them.
    pub errors: usize,
    pub warnings: usize,
    /// Files left out because they cannot be read as text (`--skip-unreadable`).
    pub skipped_files: Vec<String>,
}

/// What an import did: `kbrel import --json` prints it, and reads back into it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportReport {
    pub imported: Vec<ImportedTag>,
    /// Tags whose names are not semver versions.
    pub skipped: Vec<String>,
}

/// Progress: (done, total, the tag being imported).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// The semver release tags of a repository, sorted by version, plus the names skipped.
/// Release tags with their versions, sorted, and the names of tags that are not versions.
pub type ReleaseTags = (Vec<(semver::Version, TagInfo)>, Vec<String>);

pub fn release_tags(repo: &Repo, filter: Option<&globset::GlobMatcher>) -> Result<ReleaseTags> {
    let mut tags = Vec::new();
    let mut skipped = Vec::new();
    for t in repo.tags()? {
        if filter.is_some_and(|g| !g.is_match(&t.name)) {
            continue;
        }
        match crate::version::parse_version(&t.name) {
            Ok(v) => tags.push((v, t)),
            Err(_) => skipped.push(t.name),
        }
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.name.cmp(&b.1.name)));
    for w in tags.windows(2) {
        if w[0].0 == w[1].0 && w[0].1.commit != w[1].1.commit {
            return Err(ImportError::TagsShareVersion {
                version: w[0].0.clone(),
                first: w[0].1.name.clone(),
                first_commit: w[0].1.commit.clone(),
                second: w[1].1.name.clone(),
                second_commit: w[1].1.commit.clone(),
            }
            .into());
        }
    }
    tags.dedup_by(|a, b| a.0 == b.0);
    skipped.sort();
    Ok((tags, skipped))
}

/// Import every release tag into the registry.
pub fn import(
    cfg: &Config,
    repo: &Repo,
    reg: &Registry,
    opts: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportReport> {
    let (tags, skipped) = release_tags(repo, opts.tags.as_ref())?;
    let mut report = ImportReport {
        imported: Vec::new(),
        skipped,
    };
    let total = tags.len();
    // Each tag's tree is read with the content root configured for its version.
    let load = |version: &semver::Version, tag: &TagInfo| {
        crate::git::load_release(cfg, repo, &tag.commit, &tag.name, Some(version)).map_err(|e| {
            match e {
                CoreError::Content { path, message } => CoreError::Content {
                    path,
                    message: format!("{message} [tag {}]", tag.name),
                },
                other => other,
            }
        })
    };
    let lint_gate = if opts.lint_gate {
        LintGate::Block(None)
    } else {
        LintGate::Record
    };
    // Vet every tag before writing anything, so a bad tag leaves the registry unchanged.
    let index = reg.read_index()?.map(|(i, _)| i);
    let mut vetted = Vec::with_capacity(tags.len());
    for (version, tag) in &tags {
        let (kb, _) = load(version, tag)?;
        let unreadable: Vec<&crate::findings::Finding> = kb
            .problems
            .iter()
            .filter(|f| f.code == Code::NonUtf8)
            .collect();
        if let Some(f) = unreadable.first()
            && !opts.skip_unreadable
        {
            return Err(Error::from(CoreError::Unreadable {
                tag: tag.name.clone(),
                file: f.file.clone(),
                message: f.message.clone(),
            }));
        }
        let checked = crate::lint::check(&kb, cfg).map_err(|e| tag_error(e.into(), tag))?;
        publish::precheck(cfg, &kb, index.as_ref(), &version.to_string(), lint_gate)
            .map_err(|e| tag_error(e, tag))?;
        let errors = checked.errors();
        vetted.push((
            kb.documents.len(),
            errors,
            checked.findings.len() - errors,
            unreadable
                .iter()
                .map(|f| f.file.clone())
                .collect::<Vec<_>>(),
        ));
    }
    for (i, ((version, tag), (documents, errors, warnings, skipped_files))) in
        tags.iter().zip(vetted).enumerate()
    {
        progress(i, total, &tag.name);
        let (kb, commit) = load(version, tag)?;
        let date = Timestamp(tag.time);
        let out = publish::publish(
            cfg,
            &kb,
            reg,
            &PublishOptions {
                version: VersionSpec::Exact(version.to_string()),
                date,
                dry_run: opts.dry_run,
                tag: None,
                git: Some(GitInfo {
                    commit: commit.clone(),
                    dirty: false,
                }),
                lock_wait: opts.lock_wait,
                require_translations: false,
                guard: None,
                sign: None,
                package_format: crate::package::FORMAT,
                lint: lint_gate,
            },
        )
        .map_err(|e| tag_error(e, tag))?;
        report.imported.push(ImportedTag {
            tag: tag.name.clone(),
            version: version.to_string(),
            commit,
            date: date.rfc3339(),
            outcome: out.outcome,
            documents,
            errors,
            warnings,
            skipped_files,
        });
    }
    progress(total, total, "");
    Ok(report)
}

/// Name the tag in publish errors.
fn tag_error(e: Error, tag: &TagInfo) -> Error {
    match e {
        Error::Core(CoreError::LintFailed { findings, .. }) => ImportError::TagBlocked {
            tag: tag.name.clone(),
            findings,
        }
        .into(),
        Error::Core(CoreError::VersionConflict { version, detail }) => {
            Error::Core(CoreError::VersionConflict {
                version,
                detail: format!("{detail} (tag {} differs from the registry)", tag.name),
            })
        }
        other => other,
    }
}
