//! `kbrel-baseline.json`: the lint errors a team has accepted for now, so that `check` and
//! `publish` fail only on new ones (like detekt's baseline or ESLint's bulk suppressions).
//!
//! An entry is keyed by the code, the file (relative to the content root) and a fingerprint
//! of the offending source line (whitespace-normalised), never by a line number: edits
//! elsewhere in the file do not invalidate it. The same key on several lines is one entry with
//! a `count`. The file is sorted and formatted the same way every time, so it diffs well in
//! review. Schema: `schema/baseline.schema.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::content::{Document, KnowledgeBase};
use crate::error::{Error, Result};
use crate::findings::{Code, Finding, Severity};

/// The baseline format version this kbrel reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema_version: u32,
    /// The package (`package.name`) whose findings these are.
    pub name: String,
    /// Sorted by file, code, fingerprint; no key twice.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Relative to the content root: `en/1. On-call/4. 配置/4.1 Channels.md`.
    pub file: String,
    pub code: Code,
    /// 16 hex digits of sha256 over code, file and the offending line.
    pub fingerprint: String,
    /// How many findings share this key (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u32,
    /// The offending line as it was (trimmed, at most 200 characters), for people reading
    /// the file; not matched.
    pub text: String,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Entry {
    fn key(&self) -> (&str, Code, &str) {
        (&self.file, self.code, &self.fingerprint)
    }
}

/// Findings against a baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// Error-level findings the baseline does not hold: these block.
    pub new: Vec<Finding>,
    /// Error-level findings the baseline holds.
    pub baselined: Vec<Finding>,
    /// Entries (with `count` = how many) no finding matches any more: fixed, can be pruned.
    pub prunable: Vec<Entry>,
}

/// Finds the offending line of a finding.
struct Lines<'a> {
    docs: BTreeMap<String, &'a Document>,
}

impl<'a> Lines<'a> {
    fn new(kb: &'a KnowledgeBase) -> Lines<'a> {
        Lines {
            docs: kb.documents.iter().map(|d| (d.full_path(), d)).collect(),
        }
    }

    /// The whitespace-normalised offending line; the message when the file is not a document.
    fn text(&self, f: &Finding) -> String {
        let line = self
            .docs
            .get(&f.file)
            .and_then(|d| d.text.lines().nth(f.line.saturating_sub(1)));
        let raw = line.unwrap_or(&f.message);
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn fingerprint(code: Code, file: &str, text: &str) -> String {
    let mut h = Vec::with_capacity(file.len() + text.len() + 8);
    h.extend_from_slice(code.as_str().as_bytes());
    h.push(0);
    h.extend_from_slice(file.as_bytes());
    h.push(0);
    h.extend_from_slice(text.as_bytes());
    crate::hash::sha256_hex(&h)[..16].to_string()
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Error-level findings with their keys, in finding order.
fn keyed<'f>(kb: &KnowledgeBase, findings: &'f [Finding]) -> Vec<(&'f Finding, String, String)> {
    let lines = Lines::new(kb);
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            // A fatal finding never matches: it is keyed apart from every entry.
            let text = if f.code.is_fatal() {
                format!("\0{}", f.message)
            } else {
                lines.text(f)
            };
            (f, fingerprint(f.code, &f.file, &text), text)
        })
        .collect()
}

/// A baseline holding every error-level finding of `findings` (for `check --write-baseline`).
pub fn from_findings(name: &str, kb: &KnowledgeBase, findings: &[Finding]) -> Baseline {
    let mut map: BTreeMap<(String, Code, String), Entry> = BTreeMap::new();
    for (f, fp, text) in keyed(kb, findings) {
        if f.code.is_fatal() {
            continue;
        }
        map.entry((f.file.clone(), f.code, fp.clone()))
            .and_modify(|e| e.count += 1)
            .or_insert_with(|| Entry {
                file: f.file.clone(),
                code: f.code,
                fingerprint: fp,
                count: 1,
                text: excerpt(&text),
            });
    }
    Baseline {
        schema_version: SCHEMA_VERSION,
        name: name.to_string(),
        entries: map.into_values().collect(),
    }
}

/// Split the error-level findings into new and baselined, and list the fixed entries. When a
/// key has more findings than its count, the first ones (in file order) are the baselined ones.
pub fn apply(baseline: &Baseline, kb: &KnowledgeBase, findings: &[Finding]) -> Gate {
    let mut left: BTreeMap<(String, Code, String), u32> = baseline
        .entries
        .iter()
        .map(|e| ((e.file.clone(), e.code, e.fingerprint.clone()), e.count))
        .collect();
    let mut gate = Gate::default();
    for (f, fp, _) in keyed(kb, findings) {
        match left.get_mut(&(f.file.clone(), f.code, fp)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                gate.baselined.push(f.clone());
            }
            _ => gate.new.push(f.clone()),
        }
    }
    for e in &baseline.entries {
        let n = left[&(e.file.clone(), e.code, e.fingerprint.clone())];
        if n > 0 {
            gate.prunable.push(Entry {
                count: n,
                ..e.clone()
            });
        }
    }
    gate
}

/// `baseline` without what `gate` found prunable (for `check --prune-baseline`); new findings
/// are not added.
pub fn prune(baseline: &Baseline, gate: &Gate) -> Baseline {
    let fixed: BTreeMap<(&str, Code, &str), u32> =
        gate.prunable.iter().map(|e| (e.key(), e.count)).collect();
    let entries = baseline
        .entries
        .iter()
        .filter_map(|e| {
            let count = e.count - fixed.get(&e.key()).copied().unwrap_or(0);
            (count > 0).then(|| Entry { count, ..e.clone() })
        })
        .collect();
    Baseline {
        entries,
        ..baseline.clone()
    }
}

/// The file's bytes: pretty JSON, sorted entries, a final newline.
pub fn to_bytes(b: &Baseline) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(b).expect("serialisable");
    out.push(b'\n');
    out
}

/// Parse and check a baseline file's bytes: JSON, schema version, package, no entry twice.
/// `path` names the file in errors.
pub fn parse(bytes: &[u8], path: &Path, package: &str) -> Result<Baseline> {
    let bad = |message: String| Error::Baseline {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == SCHEMA_VERSION as u64 => {}
        Some(v) if v > SCHEMA_VERSION as u64 => {
            return Err(bad(format!(
                "schema_version {v} is newer than this kbrel reads ({SCHEMA_VERSION}); upgrade kbrel"
            )));
        }
        Some(v) => return Err(bad(format!("unknown schema_version {v}"))),
        None => return Err(bad("missing `schema_version` (a number)".into())),
    }
    let b: Baseline = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    if b.name != package {
        return Err(bad(format!(
            "it is the baseline of package `{}`, not `{package}` (check lint.baseline and package.name)",
            b.name
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, e) in b.entries.iter().enumerate() {
        if e.count == 0 {
            return Err(bad(format!(
                "entries[{i}] ({} {}): count is 0",
                e.code, e.file
            )));
        }
        if e.fingerprint.len() != 16
            || !e
                .fingerprint
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err(bad(format!(
                "entries[{i}] ({} {}): fingerprint `{}` is not 16 lowercase hex digits",
                e.code, e.file, e.fingerprint
            )));
        }
        if !seen.insert(e.key()) {
            return Err(bad(format!(
                "entries[{i}] ({} {} {}) duplicates an earlier entry; merge them with `count`",
                e.code, e.file, e.fingerprint
            )));
        }
    }
    Ok(b)
}

/// Read the baseline at `path`; `None` when there is no file.
pub fn load(path: &Path, package: &str) -> Result<Option<Baseline>> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes, path, package).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Write the baseline atomically (temporary file in the same folder, fsync, rename).
pub fn write(path: &Path, b: &Baseline) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("write", path, e))?;
    tmp.write_all(&to_bytes(b))
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::content::SourceFile;

    fn kb(files: &[(&str, &str)]) -> (Config, KnowledgeBase) {
        let cfg = Config::default_for("t", Path::new("."));
        let sources = files
            .iter()
            .map(|(p, t)| SourceFile {
                path: p.to_string(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect();
        let all = files.iter().map(|(p, _)| p.to_string()).collect();
        let kb = crate::content::build(&cfg, sources, all, &Default::default()).unwrap();
        (cfg, kb)
    }

    const FM: &str = "---\ntitle: T\ndescription: D\ndate: 2026-01-01\nurl: https://x/en/a\n---\n";

    #[test]
    fn keys_survive_edits_elsewhere_and_count_repeats() {
        let a = format!("{FM}\n[x](gone.md)\n\n[x](gone.md)\n");
        let zh = format!("{FM}\nzh\n");
        let (cfg, before) = kb(&[("en/a.md", &a), ("zh/a.md", &zh)]);
        let findings = crate::lint::lint(&before, &cfg);
        let b = from_findings("t", &before, &findings);
        assert_eq!(b.entries.len(), 1, "{b:?}");
        assert_eq!(b.entries[0].count, 2);
        assert_eq!(b.entries[0].text, "[x](gone.md)");
        // Lines added above: same keys, nothing new, nothing prunable.
        let moved = format!("{FM}\nNew intro.\n\nMore.\n\n[x](gone.md)\n\n[x](gone.md)\n");
        let (_, after) = kb(&[("en/a.md", &moved), ("zh/a.md", &zh)]);
        let g = apply(&b, &after, &crate::lint::lint(&after, &cfg));
        assert_eq!(
            (g.new.len(), g.baselined.len(), g.prunable.len()),
            (0, 2, 0)
        );
        // One fixed: prunable with count 1; a new broken link: new.
        let fixed = format!("{FM}\n[x](gone.md)\n\n[y](other.md)\n");
        let (_, after) = kb(&[("en/a.md", &fixed), ("zh/a.md", &zh)]);
        let g = apply(&b, &after, &crate::lint::lint(&after, &cfg));
        assert_eq!(g.new.len(), 1);
        assert!(g.new[0].message.contains("other.md"));
        assert_eq!(g.prunable.len(), 1);
        assert_eq!(g.prunable[0].count, 1);
        let pruned = prune(&b, &g);
        assert_eq!(pruned.entries[0].count, 1);
        // Round trip through bytes.
        let bytes = to_bytes(&pruned);
        assert_eq!(parse(&bytes, Path::new("b.json"), "t").unwrap(), pruned);
        assert!(!String::from_utf8(bytes).unwrap().contains("\"count\""));
    }

    #[test]
    fn bad_files_are_refused_naming_the_entry() {
        let p = Path::new("kbrel-baseline.json");
        let err = |s: &str, pkg: &str| parse(s.as_bytes(), p, pkg).unwrap_err().to_string();
        assert!(err("{", "t").contains("not valid JSON"));
        assert!(
            err(r#"{"schema_version": 9, "name": "t", "entries": []}"#, "t")
                .contains("upgrade kbrel")
        );
        assert!(err(r#"{"name": "t", "entries": []}"#, "t").contains("schema_version"));
        assert!(
            err(
                r#"{"schema_version": 1, "name": "other", "entries": []}"#,
                "t"
            )
            .contains("package `other`")
        );
        let e = r#"{"file": "en/a.md", "code": "KB009", "fingerprint": "0123456789abcdef", "text": "x"}"#;
        let dup = format!(r#"{{"schema_version": 1, "name": "t", "entries": [{e}, {e}]}}"#);
        let m = err(&dup, "t");
        assert!(m.contains("entries[1]") && m.contains("duplicates"), "{m}");
        let unknown = e.replace("KB009", "KB999");
        let m = err(
            &format!(r#"{{"schema_version": 1, "name": "t", "entries": [{unknown}]}}"#),
            "t",
        );
        assert!(m.contains("KB999"), "{m}");
        assert!(m.contains("kbrel-baseline.json"), "{m}");
    }
}
