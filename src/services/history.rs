//! What the release history says: the changelog of every release, and (with the working
//! content) translation drift. Reads the registry through verified reads only.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::changelog::{self, ChangelogContext, ReleaseContext, ReleaseInfo};
use crate::config::Config;
use crate::error::{ConfigError, Error, Result};
use crate::manifest::{self, Index, ManifestDoc, SCHEMA_VERSION};
use crate::registry::Registry;

use crate::manifest::DriftCounts;

/// The changelog context of every published release, newest first, from the stored diffs.
/// With a repository, every entry lists the commits that touched its document between the
/// commits the two releases were published from.
pub fn changelog_context(
    cfg: &Config,
    reg: &Registry,
    index: &Index,
    repo: Option<&crate::git::Repo>,
) -> Result<ChangelogContext> {
    let mut releases: Vec<ReleaseContext> = Vec::with_capacity(index.versions.len());
    for v in index.versions.iter().rev() {
        let bytes = reg.read_verified(&v.diff)?;
        let diff = manifest::parse_diff(&bytes, &reg.path(&v.diff.path))?;
        let mut rc = changelog::release_context(
            ReleaseInfo {
                version: &v.version.to_string(),
                date: v.published.get(..10).unwrap_or(&v.published),
                previous: v.previous.as_ref().map(ToString::to_string).as_deref(),
                repository: cfg.package.repository.as_deref(),
                tag_format: &cfg.registry.tag_format,
            },
            &cfg.content.languages,
            &diff,
        );
        let blob = |sha: Option<&String>| -> Result<String> {
            match sha {
                Some(sha) => Ok(String::from_utf8_lossy(&reg.read_blob(sha)?).into_owned()),
                None => Ok(String::new()),
            }
        };
        changelog::with_details(&mut rc, &diff, &|c| {
            Ok((blob(c.old_sha256.as_ref())?, blob(c.sha256.as_ref())?))
        })?;
        let manifest = reg.read_manifest(v)?;
        rc.drift = manifest.drift.clone();
        if let (Some(repo), Some(git)) = (repo, &manifest.git) {
            let prev_commit = match v.previous.as_ref().and_then(|p| index.get_version(p)) {
                Some(p) => reg.read_manifest(p)?.git.map(|g| g.commit),
                None => None,
            };
            add_commits(cfg, repo, prev_commit.as_deref(), &git.commit, &mut rc)?;
        }
        releases.push(rc);
    }
    Ok(changelog::new_context(&cfg.package.name, releases))
}

/// Fill each entry's `commits` from the repository history between two commits.
pub fn add_commits(
    cfg: &Config,
    repo: &crate::git::Repo,
    from: Option<&str>,
    to: &str,
    rc: &mut ReleaseContext,
) -> Result<()> {
    // The release's documents are under the content root of its version (`[[content.history]]`).
    let version = semver::Version::parse(&rc.version).ok();
    let (root, _) = crate::git::content_root_for(cfg, repo, version.as_ref())?;
    let full = |lang: &str, path: &str| {
        if root.is_empty() {
            format!("{lang}/{path}")
        } else {
            format!("{root}/{lang}/{path}")
        }
    };
    let mut paths = Vec::new();
    for l in &rc.languages {
        for e in l
            .added
            .iter()
            .chain(&l.changed)
            .chain(&l.removed)
            .chain(&l.renamed)
        {
            paths.push(full(&l.lang, &e.path));
        }
    }
    if paths.is_empty() {
        return Ok(());
    }
    let commits = repo.commits_touching(from, to, &paths)?;
    for l in &mut rc.languages {
        let lang = l.lang.clone();
        for e in l
            .added
            .iter_mut()
            .chain(&mut l.changed)
            .chain(&mut l.removed)
            .chain(&mut l.renamed)
        {
            e.commits = commits
                .get(&full(&lang, &e.path))
                .cloned()
                .unwrap_or_default();
        }
    }
    Ok(())
}

/// Translation state of one document in one non-source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Drift {
    Current,
    Outdated,
    Missing,
    Orphaned,
}

/// The state of one translation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairStatus {
    pub id: String,
    pub lang: String,
    pub state: Drift,
    /// The translation's path (or the source path when it is missing).
    pub path: String,
    pub source_path: Option<String>,
    /// Outdated: the first version whose source change the translation has not absorbed
    /// (`.` for the working content).
    pub since: Option<String>,
    /// Outdated: the version in which the translation was last in step with its source.
    pub synced_at: Option<String>,
    /// Outdated: the source sha256 at `synced_at` and now (for `--diff`).
    pub source_sha256_then: Option<String>,
    pub source_sha256_now: Option<String>,
}

/// What `kbrel status --json` prints: each language's counts and every translation's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub schema_version: u32,
    pub counts: std::collections::BTreeMap<String, crate::manifest::DriftCounts>,
    pub translations: Vec<PairStatus>,
}

impl StatusReport {
    pub fn new(statuses: &[PairStatus]) -> StatusReport {
        StatusReport {
            schema_version: crate::manifest::SCHEMA_VERSION,
            counts: drift_counts(statuses),
            translations: statuses.to_vec(),
        }
    }
}

/// `ack` records: a translation is current with respect to a given source text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acks {
    pub schema_version: u32,
    pub acks: Vec<Ack>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub id: String,
    pub lang: String,
    /// The source text (sha256) the translation is declared to be in step with.
    pub source_sha256: String,
}

impl Acks {
    pub fn parse(bytes: &[u8], path: &std::path::Path) -> Result<Acks> {
        let acks: Acks = serde_json::from_slice(bytes).map_err(|e| {
            Error::from(ConfigError::file_problem(
                path,
                format!("invalid acks file: {e}"),
            ))
        })?;
        if acks.schema_version != SCHEMA_VERSION {
            return Err(ConfigError::file_problem(
                path,
                format!("unsupported schema_version {}", acks.schema_version),
            )
            .into());
        }
        Ok(acks)
    }

    pub fn contains(&self, id: &str, lang: &str, sha: &str) -> bool {
        self.acks
            .iter()
            .any(|a| a.id == id && a.lang == lang && a.source_sha256 == sha)
    }

    /// Add an ack (idempotent), keeping the list sorted.
    pub fn add(&mut self, ack: Ack) -> bool {
        if self.acks.contains(&ack) {
            return false;
        }
        self.acks.push(ack);
        self.acks.sort();
        true
    }
}

/// One step of history: a label and the (lang, id) → (path, sha256) of its documents.
pub struct Step {
    pub label: String,
    pub docs: HashMap<(String, String), (String, String)>,
}

impl Step {
    pub fn from_docs(label: &str, docs: &[ManifestDoc]) -> Step {
        Step {
            label: label.to_string(),
            docs: docs
                .iter()
                .map(|d| {
                    (
                        (d.lang.clone(), d.id.clone()),
                        (d.path.clone(), d.sha256.clone()),
                    )
                })
                .collect(),
        }
    }
}

/// Every published version in semver order as history steps (manifests verified).
pub fn published_steps(reg: &Registry, index: &Index) -> Result<Vec<Step>> {
    index
        .versions
        .iter()
        .map(|v| {
            Ok(Step::from_docs(
                &v.version.to_string(),
                &reg.read_manifest(v)?.documents,
            ))
        })
        .collect()
}

/// Translation drift of the last step against the history before it.
pub fn translation_status(
    languages: &[String],
    source: &str,
    steps: &[Step],
    acks: &Acks,
) -> Vec<PairStatus> {
    let Some(last) = steps.last() else {
        return Vec::new();
    };
    let mut ids: Vec<&String> = last.docs.keys().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for lang in languages.iter().filter(|l| *l != source) {
        for id in &ids {
            let src = last.docs.get(&(source.to_string(), (*id).clone()));
            let tr = last.docs.get(&(lang.clone(), (*id).clone()));
            let status = |state, path: &str| PairStatus {
                id: (*id).clone(),
                lang: lang.clone(),
                state,
                path: path.to_string(),
                source_path: src.map(|s| s.0.clone()),
                since: None,
                synced_at: None,
                source_sha256_then: None,
                source_sha256_now: None,
            };
            match (src, tr) {
                (None, None) => {}
                (None, Some(t)) => out.push(status(Drift::Orphaned, &t.0)),
                (Some(s), None) => out.push(status(Drift::Missing, &s.0)),
                (Some(s), Some(t)) => {
                    // Walk history: the translation is in step at the last step where it
                    // changed (or appeared), or where the source reached an acked text.
                    let key_s = (source.to_string(), (*id).clone());
                    let key_t = (lang.clone(), (*id).clone());
                    let mut synced: Option<usize> = None;
                    let mut prev_t: Option<&String> = None;
                    let mut prev_s: Option<&String> = None;
                    let mut source_change_after_sync: Option<usize> = None;
                    for (i, step) in steps.iter().enumerate() {
                        let ts = step.docs.get(&key_t).map(|x| &x.1);
                        let ss = step.docs.get(&key_s).map(|x| &x.1);
                        let t_changed = ts.is_some() && ts != prev_t;
                        let s_changed = ss.is_some() && ss != prev_s;
                        let acked = ss.is_some_and(|sha| acks.contains(id, lang, sha));
                        if t_changed || (acked && s_changed) || (ts.is_some() && acked) {
                            synced = Some(i);
                            source_change_after_sync = None;
                        } else if s_changed
                            && synced.is_some()
                            && source_change_after_sync.is_none()
                        {
                            source_change_after_sync = Some(i);
                        }
                        prev_t = ts;
                        prev_s = ss;
                    }
                    match (source_change_after_sync, synced) {
                        (Some(since), Some(at)) => {
                            let mut st = status(Drift::Outdated, &t.0);
                            st.since = Some(steps[since].label.clone());
                            st.synced_at = Some(steps[at].label.clone());
                            st.source_sha256_then = steps[at].docs.get(&key_s).map(|x| x.1.clone());
                            st.source_sha256_now = Some(s.1.clone());
                            out.push(st);
                        }
                        _ => out.push(status(Drift::Current, &t.0)),
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.lang, &a.path).cmp(&(&b.lang, &b.path)));
    out
}

/// Where acks live: `.kbrel/acks.json` next to kbrel.toml (commit it).
pub fn acks_path(cfg: &Config) -> std::path::PathBuf {
    cfg.base_dir.join(".kbrel").join("acks.json")
}

/// The acks of a project (none when the file does not exist).
pub fn load_acks(cfg: &Config) -> Result<Acks> {
    let path = acks_path(cfg);
    match crate::fsx::read(&path) {
        Ok(bytes) => Acks::parse(&bytes, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Acks {
            schema_version: SCHEMA_VERSION,
            acks: Vec::new(),
        }),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Which published versions are the history of a status ([`status_after_history`]).
#[derive(Clone, Copy)]
pub struct HistoryFilter<'a> {
    /// The versions that came before the content.
    pub keep: &'a dyn Fn(&manifest::IndexVersion, &manifest::Manifest) -> bool,
    /// Stop at the last kept version whose documents are exactly the content's.
    pub stop_at_same: bool,
}

/// Translation status of `docs` (the working content or a new release) after the published
/// history: the versions `keep` accepts (for a new release, those below it; for a checkout,
/// those its commit contains). With `stop_at_same`, history stops at the last kept version
/// whose documents are exactly `docs`, so a status read from an older checkout never cites
/// a release newer than the content it reads (even without git to tell). `languages` are the
/// languages to report, `source` the one translations follow (a project's `[content]`, or
/// what a release's manifest records).
#[allow(clippy::too_many_arguments)]
pub fn status_after_history(
    languages: &[String],
    source: &str,
    reg: &Registry,
    index: Option<&Index>,
    history: HistoryFilter<'_>,
    label: &str,
    docs: &[ManifestDoc],
    acks: &Acks,
) -> Result<Vec<PairStatus>> {
    let mut steps = Vec::new();
    let mut same_as: Option<usize> = None;
    if let Some(index) = index {
        for v in &index.versions {
            let m = reg.read_manifest(v)?;
            if (history.keep)(v, &m) {
                if history.stop_at_same && same_docs(&m.documents, docs) {
                    same_as = Some(steps.len());
                }
                steps.push(Step::from_docs(&v.version.to_string(), &m.documents));
            }
        }
    }
    if let Some(i) = same_as {
        steps.truncate(i + 1);
    }
    steps.push(Step::from_docs(label, docs));
    Ok(translation_status(languages, source, &steps, acks))
}

/// Whether two document lists hold the same documents (language, path, id, content).
fn same_docs(a: &[ManifestDoc], b: &[ManifestDoc]) -> bool {
    let key = |d: &ManifestDoc| {
        (
            d.lang.clone(),
            d.path.clone(),
            d.id.clone(),
            d.sha256.clone(),
        )
    };
    let mut x: Vec<_> = a.iter().map(key).collect();
    let mut y: Vec<_> = b.iter().map(key).collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// Counts per language.
pub fn drift_counts(statuses: &[PairStatus]) -> BTreeMap<String, DriftCounts> {
    let mut out: BTreeMap<String, DriftCounts> = BTreeMap::new();
    for s in statuses {
        let c = out.entry(s.lang.clone()).or_default();
        match s.state {
            Drift::Current => c.current += 1,
            Drift::Outdated => c.outdated += 1,
            Drift::Missing => c.missing += 1,
            Drift::Orphaned => c.orphaned += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(label: &str, docs: &[(&str, &str, &str)]) -> Step {
        Step {
            label: label.into(),
            docs: docs
                .iter()
                .map(|(l, id, sha)| {
                    (
                        (l.to_string(), id.to_string()),
                        (format!("{id}.md"), sha.to_string()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn drift_states() {
        let langs = vec!["en".to_string(), "zh".to_string()];
        let steps = vec![
            step(
                "1.0.0",
                &[
                    ("en", "a", "a1"),
                    ("zh", "a", "za1"),
                    ("en", "b", "b1"),
                    ("zh", "b", "zb1"),
                    ("en", "c", "c1"),
                    ("zh", "d", "zd1"),
                ],
            ),
            step(
                "1.1.0",
                &[
                    ("en", "a", "a2"),
                    ("zh", "a", "za1"),
                    ("en", "b", "b2"),
                    ("zh", "b", "zb2"),
                    ("en", "c", "c1"),
                    ("zh", "d", "zd1"),
                ],
            ),
            step(
                ".",
                &[
                    ("en", "a", "a3"),
                    ("zh", "a", "za1"),
                    ("en", "b", "b2"),
                    ("zh", "b", "zb2"),
                    ("en", "c", "c1"),
                    ("zh", "d", "zd1"),
                ],
            ),
        ];
        let st = translation_status(&langs, "en", &steps, &Acks::default());
        let get = |id: &str| st.iter().find(|s| s.id == id).unwrap();
        assert_eq!(get("a").state, Drift::Outdated);
        assert_eq!(get("a").since.as_deref(), Some("1.1.0"));
        assert_eq!(get("a").synced_at.as_deref(), Some("1.0.0"));
        assert_eq!(get("b").state, Drift::Current);
        assert_eq!(get("c").state, Drift::Missing);
        assert_eq!(get("d").state, Drift::Orphaned);

        // Acking the current source text makes `a` current; a later source edit re-opens it.
        let mut acks = Acks {
            schema_version: SCHEMA_VERSION,
            acks: vec![],
        };
        acks.add(Ack {
            id: "a".into(),
            lang: "zh".into(),
            source_sha256: "a3".into(),
        });
        let st = translation_status(&langs, "en", &steps, &acks);
        assert_eq!(
            st.iter().find(|s| s.id == "a").unwrap().state,
            Drift::Current
        );
        let mut more = steps;
        more.push(step("..", &[("en", "a", "a4"), ("zh", "a", "za1")]));
        let st = translation_status(&langs, "en", &more, &acks);
        let a = st.iter().find(|s| s.id == "a").unwrap();
        assert_eq!((a.state, a.since.as_deref()), (Drift::Outdated, Some("..")));
    }
}
