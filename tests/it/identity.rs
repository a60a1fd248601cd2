//! Diffs on real-shaped histories, against real git (issue #20):
//!
//! - a generated history (a git repository, one tag per step) with duplicate urls, urls that
//!   appear, change and disappear on fixed paths, moves with edits, CJK folder and file
//!   names, documents without front matter, additions and removals;
//! - for every pair of consecutive tags, `kbrel diff git:A git:B --json` against
//!   `git diff --numstat --minimal --no-renames A B`: exact for every document at a path that
//!   exists on both sides (whether or not its identity changed), exact for additions and
//!   removals, and every other git line explained by a rule ([`Rule`]);
//! - a tag against itself is empty, B→A is A→B inverted;
//! - `--name-status` and `--stat` parse with a parser written to git's documentation, and
//!   agree with the JSON; on a history without identity subtleties `--stat` is byte for byte
//!   `git diff --stat -M` (lines sorted).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::{self, Rng, Run};
use kbrel::manifest::{ChangeStatus, DiffFile, DocChange};

// ---------------------------------------------------------------------------------------------
// git and kbrel

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "1704067200 +0000")
        .env("GIT_COMMITTER_DATE", "1704067200 +0000")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"])
        .args(["-c", "core.quotePath=false", "-c", "diff.algorithm=myers"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    let run = Run::from_output_lossy(out);
    assert_eq!(run.code, 0, "git {args:?}\n{run}");
    run.stdout
}

/// kbrel in `dir`, without colour or an inherited `GIT_DIR`.
fn kbrel_in(dir: &Path) -> Command {
    let mut cmd = common::kbrel();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GIT_DIR");
    cmd
}

fn kbrel(dir: &Path, args: &[&str]) -> Run {
    let run = common::run_lossy(kbrel_in(dir).args(args));
    assert_eq!(run.code, 0, "kbrel {args:?}\n{run}");
    run
}

fn diff_json(dir: &Path, a: &str, b: &str) -> DiffFile {
    let run = kbrel(dir, &["diff", a, b, "--json"]);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"))
}

const CONFIG: &str = r#"[package]
name = "messy-kb"
description = "a generated history"
license = "MIT"

[content]
root = "content"
languages = ["en", "zh"]
source_language = "en"
pairing = "front-matter:url"
required_fields = []
"#;

// ---------------------------------------------------------------------------------------------
// A generated history

#[derive(Clone, Debug)]
struct GenDoc {
    /// `en/…` or `zh/…`, relative to the content root.
    path: String,
    url: Option<String>,
    front_matter: bool,
    lines: Vec<String>,
}

impl GenDoc {
    fn text(&self) -> String {
        let mut s = String::new();
        if self.front_matter {
            s.push_str("---\ntitle: \"");
            s.push_str(
                self.path
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .trim_end_matches(".md"),
            );
            s.push_str("\"\n");
            if let Some(u) = &self.url {
                s.push_str(&format!("url: {u}\n"));
            }
            s.push_str("---\n");
        }
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Lines with many repeats (blank lines, table rows, list markers), as real pages have.
const VOCAB: [&str; 14] = [
    "",
    "| key | value |",
    "|---|---|",
    "- item",
    "```",
    "## 配置",
    "## Configure the bot",
    "提高效率",
    "Run the command below.",
    "注意：需要管理员权限。",
    "See the FAQ.",
    "<Tabs>",
    "</Tabs>",
    "text",
];

const FOLDERS: [&str; 5] = [
    "0. 概览",
    "1. Getting started",
    "5. 集成",
    "guide",
    "部署 指南",
];
const NAMES: [&str; 8] = [
    "1. 简介",
    "LDAP 集成指引",
    "Slack",
    "setup",
    "FAQ",
    "告警 规则",
    "install",
    "overview",
];

fn random_lines(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| match rng.below(4) {
            0 => format!("line {}", rng.below(40)),
            _ => VOCAB[rng.below(VOCAB.len() as u64) as usize].to_string(),
        })
        .collect()
}

fn free_path(rng: &mut Rng, docs: &[GenDoc], lang: &str) -> String {
    loop {
        let p = format!(
            "{lang}/{}/{} {}.md",
            FOLDERS[rng.below(FOLDERS.len() as u64) as usize],
            NAMES[rng.below(NAMES.len() as u64) as usize],
            rng.below(30)
        );
        if docs.iter().all(|d| d.path != p) {
            return p;
        }
    }
}

/// One step of history: edits, url changes on fixed paths, duplicated urls, moves with
/// edits, additions and removals.
fn step(rng: &mut Rng, docs: &mut Vec<GenDoc>, serial: &mut u32) {
    let ops = 2 + rng.below(6);
    for _ in 0..ops {
        if docs.is_empty() {
            break;
        }
        let i = rng.below(docs.len() as u64) as usize;
        match rng.below(10) {
            0..=2 => {
                // Edit: replace, insert or delete a few lines.
                let d = &mut docs[i];
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(d.lines.len() as u64 + 1) as usize;
                    match rng.below(3) {
                        0 if at < d.lines.len() => {
                            d.lines.remove(at);
                        }
                        1 if at < d.lines.len() => d.lines[at] = random_lines(rng, 1).remove(0),
                        _ => d.lines.insert(at, random_lines(rng, 1).remove(0)),
                    }
                }
            }
            3 => {
                // The url appears, changes or disappears on a fixed path.
                let d = &mut docs[i];
                d.front_matter = true;
                d.url = match (&d.url, rng.below(3)) {
                    (Some(_), 0) => None,
                    _ => {
                        *serial += 1;
                        Some(format!("/docs/page-{serial}"))
                    }
                };
            }
            4 => {
                // Another document claims the same url (in the same language).
                let j = rng.below(docs.len() as u64) as usize;
                if docs[j].path[..2] == docs[i].path[..2] && i != j && docs[j].url.is_some() {
                    docs[i].url = docs[j].url.clone();
                    docs[i].front_matter = true;
                }
            }
            5 | 6 => {
                // Move, with a small edit.
                let lang = docs[i].path[..2].to_string();
                let p = free_path(rng, docs, &lang);
                let d = &mut docs[i];
                d.path = p;
                if rng.below(2) == 0 && !d.lines.is_empty() {
                    let at = rng.below(d.lines.len() as u64) as usize;
                    d.lines[at] = random_lines(rng, 1).remove(0);
                }
            }
            7 | 8 => {
                let lang = if rng.below(2) == 0 { "en" } else { "zh" };
                let path = free_path(rng, docs, lang);
                *serial += 1;
                let n = 3 + rng.below(25) as usize;
                docs.push(GenDoc {
                    path,
                    url: (rng.below(3) > 0).then(|| format!("/docs/page-{serial}")),
                    front_matter: rng.below(5) > 0,
                    lines: random_lines(rng, n),
                });
            }
            _ => {
                docs.remove(i);
            }
        }
    }
}

/// Write `docs` as the whole content tree, commit, tag.
fn commit(dir: &Path, docs: &[GenDoc], tag: &str) {
    let content = dir.join("content");
    if content.exists() {
        fs::remove_dir_all(&content).unwrap();
    }
    for lang in ["en", "zh"] {
        fs::create_dir_all(content.join(lang)).unwrap();
        fs::write(content.join(lang).join(".keep"), "").unwrap();
    }
    for d in docs {
        let p = content.join(&d.path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, d.text()).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", tag]);
    git(dir, &["tag", tag]);
}

/// A repository with `steps + 1` tags `v1.0.0`, `v1.0.1`, …; returns the tags.
fn history(dir: &Path, seed: u64, steps: usize) -> Vec<String> {
    fs::write(dir.join("kbrel.toml"), CONFIG).unwrap();
    git(dir, &["init", "-q"]);
    let mut rng = Rng(seed | 1);
    let mut serial = 0;
    let mut docs: Vec<GenDoc> = Vec::new();
    for _ in 0..24 {
        let lang = if rng.below(2) == 0 { "en" } else { "zh" };
        let path = free_path(&mut rng, &docs, lang);
        serial += 1;
        let n = 3 + rng.below(30) as usize;
        docs.push(GenDoc {
            path,
            url: (rng.below(4) > 0).then(|| format!("/docs/page-{serial}")),
            front_matter: rng.below(6) > 0,
            lines: random_lines(&mut rng, n),
        });
    }
    // Two documents claiming one url from the start, as real knowledge bases have.
    let zh: Vec<usize> = (0..docs.len())
        .filter(|&i| docs[i].path.starts_with("zh/"))
        .collect();
    if let [a, b, ..] = zh[..] {
        docs[a].front_matter = true;
        docs[b].front_matter = true;
        docs[a].url = Some("/docs/shared".into());
        docs[b].url = Some("/docs/shared".into());
    }
    let mut tags = Vec::new();
    for s in 0..=steps {
        if s > 0 {
            step(&mut rng, &mut docs, &mut serial);
        }
        let tag = format!("v1.0.{s}");
        commit(dir, &docs, &tag);
        tags.push(tag);
    }
    tags
}

// ---------------------------------------------------------------------------------------------
// Parsers written to git's documentation

/// A C-quoted or plain path of git's output (`core.quotePath=false`): a name starting with
/// `"` must be one quoted string with only git's escapes; a plain one has no tab, newline,
/// `"` or `\`.
fn parse_path(field: &str) -> Result<String, String> {
    if let Some(inner) = field.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or(format!("unterminated quoted path {field:?}"))?;
        let mut out = Vec::new();
        let mut bytes = inner.bytes();
        while let Some(b) = bytes.next() {
            if b == b'"' {
                return Err(format!("unescaped quote in {field:?}"));
            }
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let e = bytes
                .next()
                .ok_or(format!("dangling escape in {field:?}"))?;
            out.push(match e {
                b'a' => 7,
                b'b' => 8,
                b't' => b'\t',
                b'n' => b'\n',
                b'v' => 11,
                b'f' => 12,
                b'r' => b'\r',
                b'"' => b'"',
                b'\\' => b'\\',
                b'0'..=b'3' => {
                    let (x, y) = (bytes.next(), bytes.next());
                    match (x, y) {
                        (Some(x @ b'0'..=b'7'), Some(y @ b'0'..=b'7')) => {
                            (e - b'0') * 64 + (x - b'0') * 8 + (y - b'0')
                        }
                        _ => return Err(format!("bad octal escape in {field:?}")),
                    }
                }
                _ => return Err(format!("unknown escape \\{} in {field:?}", e as char)),
            });
        }
        String::from_utf8(out).map_err(|_| format!("not UTF-8: {field:?}"))
    } else if field.is_empty() || field.contains(['\t', '\n', '"', '\\']) {
        Err(format!("bad plain path {field:?}"))
    } else {
        Ok(field.to_string())
    }
}

/// One `--name-status` line: (letter, score, paths).
type NameStatus = (char, Option<u8>, Vec<String>);

/// `git diff --name-status`: `X\tpath` for A, D, M, T; `R<score>\told\tnew` (and C, which
/// kbrel must never print) with a three-digit score 000–100.
fn parse_name_status(out: &str) -> Result<Vec<NameStatus>, String> {
    if !out.is_empty() && !out.ends_with('\n') {
        return Err("no final newline".into());
    }
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let status = fields[0];
            let letter = status.chars().next().ok_or("empty status")?;
            let (score, n) = match letter {
                'A' | 'D' | 'M' | 'T' if status.len() == 1 => (None, 1),
                'R' | 'C' => {
                    let digits = &status[1..];
                    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(format!("{line:?}: a rename needs a three-digit score"));
                    }
                    let s: u8 = digits.parse().map_err(|_| "score")?;
                    if s > 100 {
                        return Err(format!("{line:?}: score over 100"));
                    }
                    (Some(s), 2)
                }
                _ => return Err(format!("{line:?}: unknown status {status:?}")),
            };
            if fields.len() != n + 1 {
                return Err(format!(
                    "{line:?}: {} path(s) for {letter}",
                    fields.len() - 1
                ));
            }
            let paths = fields[1..]
                .iter()
                .map(|f| parse_path(f))
                .collect::<Result<Vec<_>, _>>()?;
            if letter == 'R' && paths[0] == paths[1] {
                return Err(format!("{line:?}: a rename to the same path"));
            }
            Ok((letter, score, paths))
        })
        .collect()
}

/// `git diff --stat`: ` name | N +++---` rows with the `|` in one column (display width),
/// `+` before `-`, then ` N file(s) changed[, X insertion(s)(+)][, Y deletion(s)(-)]` whose
/// numbers are the sums of the rows. Returns name → changed lines.
fn parse_stat(out: &str) -> Result<Vec<(String, u64)>, String> {
    use unicode_width::UnicodeWidthStr;
    if out.is_empty() {
        return Ok(Vec::new());
    }
    let lines: Vec<&str> = out.lines().collect();
    let (summary, rows) = lines.split_last().unwrap();
    let mut bar_col = None;
    let mut parsed = Vec::new();
    for row in rows {
        let (name, rest) = row.rsplit_once(" | ").ok_or(format!("{row:?}: no ` | `"))?;
        let name = name
            .strip_prefix(' ')
            .ok_or(format!("{row:?}: no leading space"))?;
        let col = name.width();
        if *bar_col.get_or_insert(col) != col {
            return Err(format!("{row:?}: `|` not aligned"));
        }
        let rest = rest.trim_start();
        let (n, graph) = rest.split_once(' ').unwrap_or((rest, ""));
        let n: u64 = n.parse().map_err(|_| format!("{row:?}: count"))?;
        let plus = graph.bytes().take_while(|b| *b == b'+').count();
        if !graph[plus..].bytes().all(|b| b == b'-') || (n > 0 && graph.is_empty()) {
            return Err(format!("{row:?}: bad graph"));
        }
        if graph.len() as u64 > n.max(1) && n > 0 && graph.len() as u64 > n {
            return Err(format!("{row:?}: graph longer than the count"));
        }
        let name = name.trim_end();
        for part in name.split(" => ") {
            let part = part.replace(['{', '}'], "");
            if part.starts_with('"') {
                parse_path(&part)?;
            }
        }
        parsed.push((name.to_string(), n));
    }
    let files = rows.len() as u64;
    let total: u64 = parsed.iter().map(|(_, n)| n).sum();
    let words: Vec<&str> = summary.trim_start().split(", ").collect();
    let expect_files = format!("{files} file{} changed", if files == 1 { "" } else { "s" });
    if !summary.starts_with(' ') || words[0] != expect_files {
        return Err(format!("summary {summary:?}, expected {expect_files:?}"));
    }
    let mut ins_del = 0;
    for w in &words[1..] {
        let (n, what) = w.split_once(' ').ok_or(format!("summary part {w:?}"))?;
        let n: u64 = n.parse().map_err(|_| format!("summary part {w:?}"))?;
        let ok = match what {
            "insertion(+)" | "deletion(-)" => n == 1,
            "insertions(+)" | "deletions(-)" => n != 1,
            _ => false,
        };
        if !ok {
            return Err(format!("summary part {w:?}"));
        }
        ins_del += n;
    }
    if ins_del != total {
        return Err(format!("summary {summary:?} does not add up to {total}"));
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------------------------
// The comparison with git

/// Why a line of `git diff --numstat --no-renames` has no exact kbrel counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// kbrel follows the document (same identity, or a similar text) to its new path: git,
    /// without rename detection, deletes the old path and adds the new one.
    RenameOldPath,
    RenameNewPath,
    /// The file did not change but its identity did (a url another document now claims first
    /// gives way to the path id, and the bundle key with it): kbrel reports `M` +0 −0 with
    /// the old id; git sees nothing.
    IdentityOnly,
}

/// `git diff --numstat --minimal --no-renames A B -- content`: `en/…` → (added, removed).
fn git_numstat_in(dir: &Path, root: &str, a: &str, b: &str) -> BTreeMap<String, (u64, u64)> {
    let prefix = format!("{root}/");
    git(
        dir,
        &[
            "diff",
            "--numstat",
            "--minimal",
            "--no-renames",
            "-z",
            a,
            b,
            "--",
            root,
        ],
    )
    .split('\0')
    .filter(|r| !r.is_empty())
    .filter(|r| !r.ends_with("/.keep"))
    .map(|r| {
        let mut f = r.splitn(3, '\t');
        let (x, y, p) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        (
            p.strip_prefix(prefix.as_str()).unwrap().to_string(),
            (x.parse().unwrap(), y.parse().unwrap()),
        )
    })
    .collect()
}

fn full(c: &DocChange) -> String {
    format!("{}/{}", c.lang, c.path)
}

/// Check kbrel's diff of `a..b` against git's; returns how many documents matched exactly and
/// how many git lines each rule explained.
fn compare_with_git(dir: &Path, a: &str, b: &str) -> (usize, BTreeMap<Rule, usize>) {
    compare_with_git_in(dir, "content", a, b)
}

fn compare_with_git_in(dir: &Path, root: &str, a: &str, b: &str) -> (usize, BTreeMap<Rule, usize>) {
    let report = diff_json(dir, &format!("git:{a}"), &format!("git:{b}"));
    let numstat = git_numstat_in(dir, root, a, b);
    let mut exact = 0;
    let mut rules: BTreeMap<Rule, usize> = BTreeMap::new();
    let at: BTreeMap<String, &DocChange> = report
        .changes
        .iter()
        .filter(|c| c.status != ChangeStatus::Renamed)
        .map(|c| (full(c), c))
        .collect();
    let rename_old: BTreeSet<String> = report
        .changes
        .iter()
        .filter_map(|c| c.old_path.as_ref().map(|o| format!("{}/{o}", c.lang)))
        .collect();
    let rename_new: BTreeSet<String> = report
        .changes
        .iter()
        .filter(|c| c.status == ChangeStatus::Renamed)
        .map(full)
        .collect();
    for (path, &(added, removed)) in &numstat {
        if let Some(c) = at.get(path) {
            assert_eq!(
                (c.added_lines, c.removed_lines),
                (added, removed),
                "{a}..{b} {path}: kbrel {:?} counts differ from git's numstat",
                c.status
            );
            exact += 1;
        } else if rename_new.contains(path) {
            *rules.entry(Rule::RenameNewPath).or_default() += 1;
        } else if rename_old.contains(path) {
            *rules.entry(Rule::RenameOldPath).or_default() += 1;
        } else {
            panic!("{a}..{b} {path}: git sees +{added} -{removed}, kbrel nothing\n{report:#?}");
        }
    }
    // Nothing kbrel reports is invisible to git (no phantom renames or modifications), but
    // for identity changes of unchanged files.
    for c in &report.changes {
        if c.status == ChangeStatus::Modified && c.sha256 == c.old_sha256 {
            assert!(c.old_id.is_some() || c.old_key.is_some(), "{c:#?}");
            assert_eq!((c.added_lines, c.removed_lines), (0, 0));
            assert!(!numstat.contains_key(&full(c)), "{c:#?}");
            *rules.entry(Rule::IdentityOnly).or_default() += 1;
            continue;
        }
        let mut ends = vec![full(c)];
        ends.extend(c.old_path.as_ref().map(|o| format!("{}/{o}", c.lang)));
        for p in ends {
            assert!(
                numstat.contains_key(&p),
                "{a}..{b} {p}: kbrel reports {:?}, git sees no change there\n{c:#?}",
                c.status
            );
        }
    }
    (exact, rules)
}

/// The two ends and counts of a change, reversed for a B→A diff.
fn ends(c: &DocChange, reverse: bool) -> (Option<String>, Option<String>, u64, u64) {
    let path = full(c);
    let (o, n) = match c.status {
        ChangeStatus::Added => (None, Some(path)),
        ChangeStatus::Removed => (Some(path), None),
        ChangeStatus::Modified => (Some(path.clone()), Some(path)),
        ChangeStatus::Renamed => (
            c.old_path.as_ref().map(|o| format!("{}/{o}", c.lang)),
            Some(path),
        ),
    };
    if reverse {
        (n, o, c.removed_lines, c.added_lines)
    } else {
        (o, n, c.added_lines, c.removed_lines)
    }
}

#[test]
fn a_messy_history_agrees_with_git_numstat_pair_by_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tags = history(dir, 0x5eed_2026, 14);
    let mut exact = 0;
    let mut rules: BTreeMap<Rule, usize> = BTreeMap::new();
    let mut renames = 0;
    for pair in tags.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (e, r) = compare_with_git(dir, a, b);
        exact += e;
        for (k, v) in r {
            *rules.entry(k).or_default() += v;
        }
        let (ga, gb) = (format!("git:{a}"), format!("git:{b}"));
        let fwd = diff_json(dir, &ga, &gb);
        let back = diff_json(dir, &gb, &ga);
        let mut f: Vec<_> = fwd.changes.iter().map(|c| ends(c, false)).collect();
        let mut g: Vec<_> = back.changes.iter().map(|c| ends(c, true)).collect();
        f.sort();
        g.sort();
        assert_eq!(f, g, "{b}→{a} is not {a}→{b} inverted");
        renames += fwd
            .changes
            .iter()
            .filter(|c| c.status == ChangeStatus::Renamed)
            .count();
        // The git formats parse and say what the JSON says.
        let ns = kbrel(dir, &["diff", &ga, &gb, "--name-status"]).stdout;
        let parsed = parse_name_status(&ns).unwrap_or_else(|e| panic!("{e}\n{ns}"));
        assert_eq!(parsed.len(), fwd.changes.len());
        for ((letter, _, paths), c) in parsed.iter().zip(&fwd.changes) {
            let expected = match c.status {
                ChangeStatus::Added => 'A',
                ChangeStatus::Removed => 'D',
                ChangeStatus::Modified => 'M',
                ChangeStatus::Renamed => 'R',
            };
            assert_eq!(
                (*letter, paths.last().unwrap().clone()),
                (expected, full(c)),
                "{ns}"
            );
        }
        let stat = kbrel(dir, &["diff", &ga, &gb, "--stat"]).stdout;
        let rows = parse_stat(&stat).unwrap_or_else(|e| panic!("{e}\n{stat}"));
        let counts: Vec<u64> = fwd
            .changes
            .iter()
            .map(|c| c.added_lines + c.removed_lines)
            .collect();
        assert_eq!(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            counts,
            "{stat}"
        );
    }
    for t in &tags {
        let g = format!("git:{t}");
        let run = kbrel(dir, &["diff", &g, &g, "--name-status", "--exit-code"]);
        assert_eq!(run.stdout, "", "{t} against itself");
    }
    // The history exercised what it is for.
    assert!(exact >= 20, "only {exact} documents compared exactly");
    assert!(renames >= 3, "only {renames} renames");
    eprintln!("exact: {exact}, explained by rules: {rules:?}");
}

/// A tree where two documents claim one url and a third gains a url: against itself it is
/// empty (no phantom rename between the duplicates), and the url change is an `M`.
#[test]
fn duplicate_urls_and_url_changes_on_fixed_paths_are_what_git_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("kbrel.toml"), CONFIG).unwrap();
    git(dir, &["init", "-q"]);
    let doc = |path: &str, url: Option<&str>, body: &str| GenDoc {
        path: path.into(),
        url: url.map(String::from),
        front_matter: true,
        lines: body.lines().map(String::from).collect(),
    };
    let mut docs = vec![
        doc(
            "zh/0. 概览/1. 简介.md",
            Some("/docs/intro"),
            "# 简介\na\nb\nc\nd",
        ),
        doc(
            "zh/5. 集成/LDAP 集成指引.md",
            Some("/docs/intro"),
            "# LDAP\na\nb\nc\nx",
        ),
        doc("en/guide/a.md", None, "one\ntwo\nthree"),
    ];
    commit(dir, &docs, "v1");
    docs[2].url = Some("/docs/a".into());
    docs[2].lines.push("four".into());
    docs[1].lines[4] = "y".into();
    commit(dir, &docs, "v2");
    let same = kbrel(dir, &["diff", "git:v1", "git:v1", "--name-status"]);
    assert_eq!(same.stdout, "");
    let ns = kbrel(dir, &["diff", "git:v1", "git:v2", "--name-status"]).stdout;
    assert_eq!(ns, "M\ten/guide/a.md\nM\tzh/5. 集成/LDAP 集成指引.md\n");
    let report = diff_json(dir, "git:v1", "git:v2");
    let a = &report.changes[0];
    assert_eq!(
        (
            a.id.as_str(),
            a.old_id.as_deref(),
            a.added_lines,
            a.removed_lines
        ),
        ("docs/a", Some("guide/a"), 2, 0)
    );
    let (exact, rules) = compare_with_git(dir, "v1", "v2");
    assert_eq!((exact, rules.len()), (2, 0));
}

/// A repository in `dir` whose documents pair by path (none of url pairing's subtleties).
fn path_paired_repo(dir: &Path) {
    fs::write(
        dir.join("kbrel.toml"),
        CONFIG.replace("front-matter:url", "path"),
    )
    .unwrap();
    git(dir, &["init", "-q"]);
}

/// A document of `n` lines unique to `salt`, without a url.
fn salted_doc(path: impl Into<String>, n: usize, salt: usize, front_matter: bool) -> GenDoc {
    GenDoc {
        path: path.into(),
        url: None,
        front_matter,
        lines: (0..n).map(|i| format!("line {i} of {salt}")).collect(),
    }
}

/// `git diff --stat -M` of the content root between `a` and `b`, at kbrel's width.
fn git_stat(dir: &Path, a: &str, b: &str) -> String {
    git(
        dir,
        &["diff", "--stat=80", "-M", "--relative=content", a, b],
    )
}

/// A `--stat` with its file rows sorted (kbrel and git order renames differently), the
/// summary line last.
fn sorted_rows(stat: &str) -> String {
    let mut l: Vec<&str> = stat.lines().collect();
    let last = l.pop();
    l.sort();
    l.extend(last);
    l.join("\n")
}

/// kbrel in `dir` on `threads` rayon threads, whatever its exit code.
fn kbrel_on_threads(dir: &Path, threads: usize, args: &[&str]) -> Run {
    common::run_lossy(
        kbrel_in(dir)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .args(args),
    )
}

/// On a history without identity subtleties (edits, additions, removals, a move with an
/// edit), kbrel's `--stat` is git's `--stat -M`, byte for byte (rows sorted).
#[test]
fn stat_is_byte_for_byte_gits_on_plain_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    path_paired_repo(dir);
    let doc = |path: &str, n: usize, salt: usize| salted_doc(path, n, salt, false);
    let mut docs = vec![
        doc(
            "en/guide/a very long folder name for the stat width/setup.md",
            40,
            1,
        ),
        doc("en/faq.md", 12, 2),
        doc("zh/部署 指南/安装.md", 30, 3),
        doc("zh/old/moved.md", 20, 4),
        doc("en/gone.md", 5, 5),
    ];
    commit(dir, &docs, "v1");
    for i in 0..25 {
        docs[0].lines[i] = format!("edited {i}");
    }
    docs[1].lines.push("added".into());
    docs[2].lines.truncate(10);
    docs[3].path = "zh/new/moved.md".into();
    docs[3].lines[0] = "changed".into();
    docs.remove(4);
    docs.push(doc("en/new.md", 300, 6));
    commit(dir, &docs, "v2");
    let ours = kbrel(dir, &["diff", "git:v1", "git:v2", "--stat"]).stdout;
    let theirs = git_stat(dir, "v1", "v2");
    assert_eq!(
        sorted_rows(&ours),
        sorted_rows(&theirs),
        "ours:\n{ours}\ngit's:\n{theirs}"
    );
    parse_stat(&theirs).unwrap();
    parse_stat(&ours).unwrap();
}

/// A change of hundreds of files is read by one reader handing documents to rayon's workers
/// (`Repo::read_blob_sides`; under 128 blobs everything runs on one thread): with two worker
/// threads forced, `--stat` is still git's byte for byte, every document in its place, and an
/// LFS pointer among the changed files is still an error naming it.
#[test]
fn a_large_change_read_by_one_reader_and_parsed_by_workers_is_gits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    path_paired_repo(dir);
    let doc =
        |path: String, n: usize, salt: usize| salted_doc(path, n, salt, salt.is_multiple_of(3));
    let mut docs: Vec<GenDoc> = (0..243)
        .map(|i| {
            let lang = if i % 2 == 0 { "en" } else { "zh" };
            doc(format!("{lang}/第 {} 章/doc {i}.md", i % 7), 20 + i % 50, i)
        })
        .collect();
    commit(dir, &docs, "v1");
    // Every document edited at a place of its own, 10 removed and 10 added: 486 blobs, not
    // a multiple of the reader's batches of 32.
    for (i, d) in docs.iter_mut().enumerate() {
        let at = i % d.lines.len();
        d.lines[at] = format!("edited {i}");
        if i % 4 == 0 {
            d.lines.push(format!("appended {i}"));
        }
    }
    docs.truncate(233);
    docs.extend((0..10).map(|i| doc(format!("en/new/{i}.md"), 15, 1000 + i)));
    commit(dir, &docs, "v2");
    let ours = kbrel_on_threads(dir, 2, &["diff", "git:v1", "git:v2", "--stat"]);
    assert_eq!(ours.code, 0, "{ours}");
    let theirs = git_stat(dir, "v1", "v2");
    assert!(theirs.contains("253 files changed"), "{theirs}");
    assert_eq!(
        sorted_rows(&ours.stdout),
        sorted_rows(&theirs),
        "ours:\n{ours}\ngit's:\n{theirs}"
    );
    // And the same through the single-threaded path.
    let one = kbrel_on_threads(dir, 1, &["diff", "git:v1", "git:v2", "--stat"]);
    assert_eq!(one.stdout, ours.stdout);

    // An LFS pointer among the changed files: an error naming it, wherever it is read.
    let lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
    for (i, d) in docs.iter_mut().enumerate() {
        d.lines.push(format!("again {i}"));
    }
    commit(dir, &docs, "v3");
    fs::write(dir.join("content/zh/第 3 章/doc 101.md"), lfs).unwrap();
    git(dir, &["commit", "-qam", "lfs"]);
    git(dir, &["tag", "v4"]);
    let err = kbrel_on_threads(dir, 2, &["diff", "git:v2", "git:v4", "--stat"]);
    assert_eq!(err.code, 2, "{err}");
    assert!(
        err.stderr.contains("LFS") && err.stderr.contains("doc 101.md"),
        "{err}"
    );
}

/// The parsers reject what git never prints.
#[test]
fn the_git_format_parsers_reject_invalid_lines() {
    assert!(
        parse_name_status("R\ten/a.md\n").is_err(),
        "a rename without score"
    );
    assert!(
        parse_name_status("R090\ten/a.md\n").is_err(),
        "a rename with one path"
    );
    assert!(parse_name_status("R101\ta\tb\n").is_err());
    assert!(parse_name_status("R100\ta\ta\n").is_err());
    assert!(parse_name_status("M\ta\tb\n").is_err());
    assert!(parse_name_status("M\t\"a\n").is_err());
    assert!(parse_name_status("M\ta\\b\n").is_err());
    assert_eq!(
        parse_name_status("M\t\"en/a\\tb\\346\\226\\207.md\"\nR050\ta\tb\n").unwrap(),
        [
            ('M', None, vec!["en/a\tb文.md".to_string()]),
            ('R', Some(50), vec!["a".into(), "b".into()])
        ]
    );
    assert!(
        parse_stat(" a | 2 ++\n b | 1 -\n 2 files changed, 2 insertions(+), 1 deletion(-)\n")
            .is_ok()
    );
    assert!(
        parse_stat(" a | 2 ++\n bb | 1 -\n 2 files changed, 2 insertions(+), 1 deletion(-)\n")
            .is_err()
    );
    assert!(parse_stat(" a | 2 ++\n 1 file changed, 3 insertions(+)\n").is_err());
    assert!(parse_stat(" a | 2 -+\n 1 file changed, 1 insertion(+), 1 deletion(-)\n").is_err());
    assert!(parse_stat(" a | 1 +\n 1 files changed, 1 insertion(+)\n").is_err());
}

// ---------------------------------------------------------------------------------------------
// Changelogs of ranges

fn page(title: &str, url: &str, key: Option<&str>, body: &str) -> String {
    let key = key.map(|k| format!("key: {k}\n")).unwrap_or_default();
    format!("---\ntitle: \"{title}\"\nurl: {url}\n{key}---\n\n{body}")
}

/// Two tags of a clean bilingual knowledge base with bundle keys: a section changed and one
/// added (Slack), a title changed (CustomAlert), a move with an edit (FAQ), an addition.
fn keyed_history(dir: &Path) {
    fs::write(
        dir.join("kbrel.toml"),
        CONFIG.replace("required_fields = []", "required_fields = [\"title\"]"),
    )
    .unwrap();
    fs::write(dir.join(".gitignore"), "releases/\nCHANGELOG.md\ncopy/\n").unwrap();
    git(dir, &["init", "-q"]);
    let slack = |lang: &str, extra: &str, bot: &str| {
        page(
            if lang == "en" {
                "Slack integration"
            } else {
                "Slack 集成"
            },
            "/docs/slack",
            Some("Slack"),
            &format!(
                "## Install\n\nAdd the app ({lang}).\n\n## Configure the bot\n\n{bot}\n{extra}"
            ),
        )
    };
    let alerts = |lang: &str, title: &str| {
        page(
            title,
            "/docs/alerts",
            Some("CustomAlert"),
            &format!("## Rules\n\nWrite a rule ({lang}).\n"),
        )
    };
    let faq = |lang: &str, more: &str| {
        page(
            "FAQ",
            "/docs/faq",
            None,
            &format!("## Why\n\nBecause ({lang}).\n\nOne.\n\nTwo.\n\nThree.\n{more}"),
        )
    };
    let write = |files: &[(&str, String)]| {
        let content = dir.join("content");
        if content.exists() {
            fs::remove_dir_all(&content).unwrap();
        }
        for (p, t) in files {
            let p = content.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, t).unwrap();
        }
    };
    write(&[
        (
            "en/integrations/slack.md",
            slack("en", "", "Set the token."),
        ),
        ("zh/集成/slack.md", slack("zh", "", "设置令牌。")),
        ("en/alerts.md", alerts("en", "Custom alerts")),
        ("zh/告警.md", alerts("zh", "自定义告警")),
        ("en/faq.md", faq("en", "")),
        ("zh/常见问题.md", faq("zh", "")),
    ]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    git(dir, &["tag", "v1.0.0"]);
    write(&[
        (
            "en/integrations/slack.md",
            slack(
                "en",
                "\n## FAQ\n\nAsk us.\n",
                "Set the token and the channel.",
            ),
        ),
        (
            "zh/集成/slack.md",
            slack("zh", "\n## 常见问题\n\n问我们。\n", "设置令牌和频道。"),
        ),
        ("en/alerts.md", alerts("en", "Custom alert rules")),
        ("zh/告警.md", alerts("zh", "自定义告警规则")),
        ("en/help/faq.md", faq("en", "\nFour.\n")),
        ("zh/帮助/常见问题.md", faq("zh", "\n四。\n")),
        (
            "en/new.md",
            page("What is new", "/docs/new", Some("News"), "## Now\n\nNew.\n"),
        ),
        (
            "zh/new.md",
            page("新功能", "/docs/new", Some("News"), "## 现在\n\n新。\n"),
        ),
    ]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "second"]);
    git(dir, &["tag", "v1.1.0"]);
}

#[test]
fn changelogs_of_a_release_range_a_git_range_and_the_working_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keyed_history(dir);
    kbrel(dir, &["import", "--from-git"]);
    let releases = kbrel(dir, &["changelog", "--from", "1.0.0", "--to", "1.1.0"]).stdout;
    insta::assert_snapshot!("changelog_release_range", releases);
    let git_range = kbrel(
        dir,
        &[
            "changelog",
            "--from",
            "git:v1.0.0",
            "--to",
            "git:v1.1.0",
            "--date",
            "2026-11-25",
        ],
    )
    .stdout;
    insta::assert_snapshot!("changelog_git_range", git_range);
    // Same changes, other heading: the git range is not a release.
    // The one section, after its heading line.
    let section = |s: &str| -> (String, String) {
        let (_, rest) = s.split_once("\n## ").unwrap();
        let (heading, body) = rest.split_once('\n').unwrap();
        (heading.to_string(), body.to_string())
    };
    let (rh, rb) = section(&releases);
    let (gh, gb) = section(&git_range);
    assert_eq!(rh, "[1.1.0] - 2024-01-01");
    assert_eq!(gh, "Changes from git:v1.0.0 to git:v1.1.0");
    assert!(!git_range.contains("First release"), "{git_range}");
    assert_eq!(
        rb, gb,
        "a git range and a release range of the same trees list the same entries"
    );
    let slack = dir.join("content/en/integrations/slack.md");
    let text = fs::read_to_string(&slack).unwrap();
    fs::write(
        &slack,
        text.replace(
            "## Install\n\nAdd the app (en).",
            "## Install\n\nAdd the app from the directory.",
        ),
    )
    .unwrap();
    let working = kbrel(
        dir,
        &[
            "changelog",
            "--from",
            "latest",
            "--to",
            ".",
            "--date",
            "2026-11-25",
        ],
    )
    .stdout;
    insta::assert_snapshot!("changelog_working_tree", working);
    assert_eq!(section(&working).0, "Changes from 1.1.0 to .");
}

/// Importing into a fresh registry while CHANGELOG.md already holds the versions gives the
/// same file as a clean import (sections replaced in place, never added again).
#[test]
fn import_with_an_existing_changelog_equals_a_clean_import() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keyed_history(dir);
    kbrel(dir, &["import", "--from-git"]);
    let clean = fs::read_to_string(dir.join("CHANGELOG.md")).unwrap();
    assert_eq!(clean.matches("## [1.1.0]").count(), 1, "{clean}");
    for _ in 0..3 {
        fs::remove_dir_all(dir.join("releases")).unwrap();
        kbrel(dir, &["import", "--from-git"]);
        assert_eq!(fs::read_to_string(dir.join("CHANGELOG.md")).unwrap(), clean);
    }
    // A hand-damaged section is put back in place; the rest of the file stays.
    let damaged = clean.replace("#### Changed", "#### Changed (edited by hand)");
    let footer = "[1.1.0]: https://example.com/compare/v1.0.0...v1.1.0\n";
    fs::write(dir.join("CHANGELOG.md"), format!("{damaged}\n{footer}")).unwrap();
    fs::remove_dir_all(dir.join("releases")).unwrap();
    kbrel(dir, &["import", "--from-git"]);
    assert_eq!(
        fs::read_to_string(dir.join("CHANGELOG.md")).unwrap(),
        format!("{clean}\n{footer}")
    );
}

// ---------------------------------------------------------------------------------------------
// Translation status

/// A status read from an older checkout (or content identical to an older release) never
/// cites a release newer than the content it reads; a missing translation is named by its
/// source document's own path.
#[test]
fn status_on_an_older_checkout_cites_no_newer_release() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keyed_history(dir);
    kbrel(dir, &["import", "--from-git"]);
    // At v1.1.0 (HEAD), every translation moved with its source: nothing outdated. Change
    // the English Slack page in v1.2.0 only.
    let slack = dir.join("content/en/integrations/slack.md");
    let text = fs::read_to_string(&slack).unwrap();
    fs::write(
        &slack,
        text.replace(
            "Set the token and the channel.",
            "Set the token, then the channel.",
        ),
    )
    .unwrap();
    fs::write(
        dir.join("content/en/only-en.md"),
        page("Only English", "/docs/only-en", None, "## A\n\nB.\n"),
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "third"]);
    git(dir, &["tag", "v1.2.0"]);
    kbrel(dir, &["import", "--from-git"]);
    let head = common::run_lossy(common::kbrel().current_dir(dir).args(["status"]));
    assert!(
        head.stdout
            .contains("outdated  zh/集成/slack.md  source changed in 1.2.0"),
        "{head}"
    );
    assert!(
        head.stdout
            .contains("missing   en/only-en.md  no zh translation of this document"),
        "{head}"
    );
    // The same question asked of v1.1.0's tree: 1.2.0 is not its history.
    {
        let args = ["--from-git", "v1.1.0", "status"];
        let run = common::run_lossy(common::kbrel().current_dir(dir).args(args));
        assert_eq!(run.code, 0, "{run}");
        assert!(
            !run.stdout.contains("1.2.0"),
            "{args:?} cites a newer release:\n{run}"
        );
        assert!(
            run.stdout.contains("zh: 4 current, 0 outdated, 0 missing"),
            "{run}"
        );
    }
    git(dir, &["checkout", "-q", "v1.1.0"]);
    let run = common::run_lossy(common::kbrel().current_dir(dir).args(["status"]));
    assert!(
        !run.stdout.contains("1.2.0"),
        "a checkout of v1.1.0:\n{run}"
    );
    assert!(run.stdout.contains("zh: 4 current, 0 outdated"), "{run}");
    // Without git to tell (a copy of v1.1.0's content read from elsewhere), the content
    // being exactly release 1.1.0 ends the history there.
    git(dir, &["checkout", "-q", "v1.2.0"]);
    let copy = dir.join("copy");
    git(
        dir,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            copy.to_str().unwrap(),
            "v1.1.0",
        ],
    );
    let run = common::run_lossy(common::kbrel().current_dir(dir).args([
        "--content",
        copy.join("content").to_str().unwrap(),
        "status",
    ]));
    assert!(
        !run.stdout.contains("1.2.0"),
        "content of 1.1.0 read from elsewhere:\n{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// --summary

#[test]
fn summary_names_keys_titles_and_sections_with_every_language_together() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keyed_history(dir);
    let out = kbrel(dir, &["diff", "git:v1.0.0", "git:v1.1.0", "--summary"]).stdout;
    assert_eq!(
        out,
        "CustomAlert — Custom alert rules: retitled from Custom alerts (en +1 -1, zh +1 -1)\n\
         help/faq.md — FAQ: moved from faq.md, changed § Why (en +2 -0, zh +2 -0)\n\
         Slack — Slack integration: changed § Configure the bot, added § FAQ (en +5 -1, zh +5 -1)\n\
         News — What is new: new (en new +9, zh new +9)\n"
    );
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Summary {
        schema_version: u32,
        documents: Vec<kbrel::changelog::DocSummary>,
    }
    let run = kbrel(
        dir,
        &["diff", "git:v1.0.0", "git:v1.1.0", "--summary", "--json"],
    );
    let s: Summary = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s.schema_version, 1);
    let slack = s
        .documents
        .iter()
        .find(|d| d.key.as_deref() == Some("Slack"))
        .unwrap();
    let zh = slack.languages.iter().find(|l| l.lang == "zh").unwrap();
    let titles: Vec<&str> = zh.sections.iter().map(|x| x.title.as_str()).collect();
    assert_eq!(
        (zh.path.as_str(), titles),
        ("集成/slack.md", vec!["Configure the bot", "常见问题"])
    );
    assert_eq!(
        kbrel(dir, &["diff", "git:v1.0.0", "git:v1.0.0", "--summary"]).stdout,
        ""
    );
}

/// The adoption fixture (`kbrel_synth::messy`: 14 tagged releases of a real-shaped knowledge base)
/// against real git, pair by pair, and every tag against itself.
#[test]
fn the_messy_fixture_agrees_with_git_numstat_pair_by_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let releases = kbrel_synth::messy::history(&kbrel_synth::messy::MessySpec::default());
    kbrel_synth::repo::write_history(dir, &kbrel_synth::messy::commits(&releases)).unwrap();
    fs::write(dir.join("kbrel.toml"), kbrel_synth::messy::config_toml()).unwrap();
    let tags: Vec<String> = releases.iter().map(|r| r.tag.clone()).collect();
    let mut exact = 0;
    for pair in tags.windows(2) {
        let (e, _) = compare_with_git_in(dir, kbrel_synth::messy::CONTENT_ROOT, &pair[0], &pair[1]);
        exact += e;
    }
    for t in &tags {
        let g = format!("git:{t}");
        assert_eq!(
            kbrel(dir, &["diff", &g, &g, "--name-status"]).stdout,
            "",
            "{t}"
        );
    }
    assert!(exact >= 20, "only {exact} documents compared exactly");
}

// ---------------------------------------------------------------------------------------------
// `diff git:A git:B` reads only what differs

/// `a..b` twice, through the library: from the two whole trees (every document loaded and
/// parsed), and as `kbrel diff git:A git:B` computes it (`snapshot::git_pair`: only the blobs
/// that differ, and the documents whose declared keys differ). Also returns how many
/// documents the changed-only sides hold.
fn whole_and_changed(dir: &Path, a: &str, b: &str) -> (DiffFile, DiffFile, usize) {
    use kbrel::snapshot::{self, Snapshot};
    let cfg = kbrel::config::Config::load(&dir.join("kbrel.toml")).unwrap();
    let repo = kbrel::git::Repo::discover(dir).unwrap();
    let langs = &cfg.content.languages;
    let side = |rev: &str| {
        let (kb, _) = kbrel::git::load_kb(&cfg, &repo, rev).unwrap();
        let mut s = Snapshot::working(&cfg, &kb);
        s.label = rev.to_string();
        s
    };
    let (whole_a, whole_b) = (side(a), side(b));
    let whole = snapshot::compare("kb", langs, &whole_a, &whole_b).unwrap();
    let (mut x, mut y) = snapshot::git_pair(&cfg, &repo, a, b, true).unwrap();
    // Each side's documents per language, `b`'s told from `a`'s and what was read: those of
    // the whole loads.
    let per_lang = |s: &Snapshot| {
        let mut m = std::collections::BTreeMap::new();
        for d in &s.docs {
            *m.entry(d.lang.clone()).or_insert(0u64) += 1;
        }
        m
    };
    assert_eq!(x.documents.as_ref(), Some(&per_lang(&whole_a)), "{a}");
    assert_eq!(y.documents.as_ref(), Some(&per_lang(&whole_b)), "{b}");
    (x.label, y.label) = (a.to_string(), b.to_string());
    let read = x.docs.len() + y.docs.len();
    let changed = snapshot::compare("kb", langs, &x, &y).unwrap();
    (whole, changed, read)
}

/// The one documented difference between the two ([`whole_and_changed`]): a document whose
/// bytes and path did not change is not read, so an identity change it undergoes only
/// because another document claimed or gave up its url (`front-matter:url`: the first in
/// path order keeps a url) is not reported (a whole-tree diff shows it as `M` with `old_id`
/// and no line changed); ids of documents that changed are settled among the documents read.
/// Returns the whole-tree report without those entries.
fn without_unread_identity_shifts(whole: &DiffFile) -> Vec<DocChange> {
    whole
        .changes
        .iter()
        .filter(|c| {
            // (A key that is the id follows it.)
            !(c.status == ChangeStatus::Modified
                && c.sha256 == c.old_sha256
                && c.old_id.is_some()
                && (c.old_key.is_none() || c.old_key == c.old_id))
        })
        .cloned()
        .collect()
}

/// `fast` is `whole` entry for entry, but for the second documented difference: a document
/// that changed and claims a url that an unchanged document earlier in path order claims too
/// keeps the url's id (the claim is settled among the documents read), where the whole tree
/// gives it its path id. Everything else — status, paths, pairing, counts, titles — is equal.
fn same_but_displaced_ids(fast: &[DocChange], whole: &[DocChange], what: &str) {
    let shape = |c: &DocChange| {
        let mut c = c.clone();
        (c.id, c.old_id, c.key, c.old_key) = (String::new(), None, String::new(), None);
        c
    };
    assert_eq!(
        fast.iter().map(shape).collect::<Vec<_>>(),
        whole.iter().map(shape).collect::<Vec<_>>(),
        "{what}"
    );
    let path_id = |p: &str| p.strip_suffix(".md").unwrap_or(p).to_string();
    for (f, w) in fast.iter().zip(whole) {
        let (f_old, w_old) = (
            f.old_id.as_ref().unwrap_or(&f.id),
            w.old_id.as_ref().unwrap_or(&w.id),
        );
        let old_path = w.old_path.as_ref().unwrap_or(&w.path);
        assert!(
            f.id == w.id || w.id == path_id(&w.path),
            "{what}: {f:#?}\n{w:#?}"
        );
        assert!(
            f_old == w_old || *w_old == path_id(old_path),
            "{what}: {f:#?}\n{w:#?}"
        );
    }
}

/// `git:a` against the working content twice, through the library: both sides loaded whole,
/// and as `kbrel diff git:A .` computes it (`snapshot::git_worktree_pair`: git's index tells
/// which files differ; only those are read). Also returns how many documents the
/// changed-only sides hold.
fn whole_and_changed_worktree(dir: &Path, a: &str) -> (DiffFile, DiffFile, usize) {
    use kbrel::snapshot::{self, Snapshot};
    let cfg = kbrel::config::Config::load(&dir.join("kbrel.toml")).unwrap();
    let repo = kbrel::git::Repo::discover(dir).unwrap();
    let langs = &cfg.content.languages;
    let (kb, _) = kbrel::git::load_kb(&cfg, &repo, a).unwrap();
    let mut old = Snapshot::working(&cfg, &kb);
    old.label = a.to_string();
    let kb = kbrel::content::load_dir(&cfg, &cfg.content_root()).unwrap();
    let mut work = Snapshot::working(&cfg, &kb);
    work.assets.clear();
    let whole = snapshot::compare("kb", langs, &old, &work).unwrap();
    let (mut x, y) = snapshot::git_worktree_pair(&cfg, &repo, a, true)
        .unwrap()
        .expect("the work tree is compared from what git says changed");
    x.label = a.to_string();
    let read = x.docs.len() + y.docs.len();
    let changed = snapshot::compare("kb", langs, &x, &y).unwrap();
    (whole, changed, read)
}

/// `changed` says what `whole` says (but for the documented differences), with the same
/// document counts, and the changed-only sides held only the documents a change touches.
fn says_what_the_whole_trees_say(
    whole: &DiffFile,
    changed: &DiffFile,
    read: usize,
    what: &str,
) -> usize {
    let expected = without_unread_identity_shifts(whole);
    same_but_displaced_ids(&changed.changes, &expected, what);
    assert_eq!(
        changed.summary.keys().collect::<Vec<_>>(),
        whole.summary.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (lang, c) in &whole.summary {
        assert_eq!(
            changed.summary[lang].documents, c.documents,
            "{what}: {lang}"
        );
    }
    // Only the documents a change touches were read.
    let touched = changed
        .changes
        .iter()
        .map(|c| 1 + usize::from(c.old_sha256.is_some() && c.sha256.is_some()))
        .sum::<usize>();
    assert_eq!(read, touched, "{what}");
    whole.changes.len() - expected.len()
}

/// Every consecutive tag pair through [`whole_and_changed`]; returns the identity shifts of
/// unread documents.
fn check_git_ranges(dir: &Path, tags: &[String]) -> usize {
    let mut shifted = 0;
    for pair in tags.windows(2) {
        let (whole, changed, read) = whole_and_changed(dir, &pair[0], &pair[1]);
        let what = format!("{}..{}", pair[0], pair[1]);
        shifted += says_what_the_whole_trees_say(&whole, &changed, read, &what);
    }
    shifted
}

/// Work-tree edits of every kind git's index tells apart: an unstaged edit, a staged edit
/// edited again, a deleted file, an untracked document in a new folder, a document
/// `.gitignore` ignores (kbrel reads it all the same), and a `node_modules` folder (never
/// content).
fn edit_work_tree(dir: &Path, content: &Path) {
    let docs: Vec<std::path::PathBuf> = walk_md(content);
    assert!(docs.len() >= 6, "{docs:?}");
    let append = |p: &Path, line: &str| {
        let mut t = fs::read_to_string(p).unwrap();
        t.push_str(line);
        fs::write(p, t).unwrap();
    };
    append(&docs[0], "an unstaged line\n");
    append(&docs[1], "a staged line\n");
    git(dir, &["add", "--", docs[1].to_str().unwrap()]);
    append(&docs[1], "and an unstaged one\n");
    fs::remove_file(&docs[2]).unwrap();
    let lang_dir = docs[3].parent().unwrap();
    fs::create_dir_all(lang_dir.join("untracked")).unwrap();
    fs::write(
        lang_dir.join("untracked/new.md"),
        "---\nurl: /docs/untracked\n---\n# New\nnot yet added\n",
    )
    .unwrap();
    fs::write(
        lang_dir.join("ignored-draft.md"),
        "# Draft\nignored by git\n",
    )
    .unwrap();
    fs::write(dir.join(".gitignore"), "ignored-*.md\n").unwrap();
    fs::create_dir_all(lang_dir.join("node_modules/x")).unwrap();
    fs::write(lang_dir.join("node_modules/x/README.md"), "# not content\n").unwrap();
}

/// The `.md` files below `dir`, sorted (dot-folders left out).
fn walk_md(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn git_ranges_read_only_what_changed_and_say_what_the_whole_trees_say() {
    // The generated history (duplicate urls, url changes on fixed paths, moves with edits).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tags = history(dir, 0x5eed_2026, 14);
    let shifted = check_git_ranges(dir, &tags);
    eprintln!("identity shifts of unread documents: {shifted}");
    // A tag against itself reads nothing.
    let (_, same, read) = whole_and_changed(dir, &tags[3], &tags[3]);
    assert_eq!((same.changes.len(), read), (0, 0));

    // The messy fixture: numbered CJK folders, missing front matter, duplicate urls.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let releases = kbrel_synth::messy::history(&kbrel_synth::messy::MessySpec::default());
    kbrel_synth::repo::write_history(dir, &kbrel_synth::messy::commits(&releases)).unwrap();
    fs::write(dir.join("kbrel.toml"), kbrel_synth::messy::config_toml()).unwrap();
    for pair in releases.windows(2) {
        let (whole, changed, _) = whole_and_changed(dir, &pair[0].tag, &pair[1].tag);
        let what = format!("{}..{}", pair[0].tag, pair[1].tag);
        same_but_displaced_ids(
            &changed.changes,
            &without_unread_identity_shifts(&whole),
            &what,
        );
    }
}

/// The tree walk pairs entries in git's order, where a folder sorts as if its name ended in
/// `/`: a file that becomes a folder of the same name, beside names that sort between the two
/// (`x-a.md`, `x.md`), reads as the two whole trees say, both ways.
#[test]
fn git_ranges_pair_tree_entries_in_git_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q"]);
    fs::write(dir.join("kbrel.toml"), CONFIG).unwrap();
    let write = |rel: &str, body: &str| {
        let p = dir.join("content").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let name = rel.rsplit('/').next().unwrap();
        fs::write(p, format!("---\ntitle: {name}\n---\n\n{body}\n")).unwrap();
    };
    for lang in ["en", "zh"] {
        write(&format!("{lang}/x.md"), "one");
        write(&format!("{lang}/x-a.md"), "one");
        write(&format!("{lang}/x"), "a file, not a document");
        write(&format!("{lang}/y/z.md"), "one");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "one"]);
    git(dir, &["tag", "v1"]);
    for lang in ["en", "zh"] {
        fs::remove_file(dir.join(format!("content/{lang}/x"))).unwrap();
        write(&format!("{lang}/x/inner.md"), "new");
        write(&format!("{lang}/x.md"), "two");
        write(&format!("{lang}/x-b.md"), "new");
        fs::remove_dir_all(dir.join(format!("content/{lang}/y"))).unwrap();
        write(&format!("{lang}/y"), "a file where the folder was");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "two"]);
    git(dir, &["tag", "v2"]);
    for (a, b) in [("v1", "v2"), ("v2", "v1")] {
        let (whole, changed, read) = whole_and_changed(dir, a, b);
        assert_eq!(changed.changes, whole.changes, "{a}..{b}");
        let paths: BTreeSet<&str> = (whole.changes.iter())
            .flat_map(|c| [Some(c.path.as_str()), c.old_path.as_deref()])
            .flatten()
            .collect();
        for p in ["x/inner.md", "x.md", "x-b.md", "y/z.md"] {
            assert!(paths.contains(p), "{a}..{b}: {paths:?}");
        }
        // Only the changed documents are read, never x-a.md: per language x.md and y/z.md
        // at v1, x.md, x-b.md and x/inner.md at v2.
        assert_eq!(read, 2 * (2 + 3), "{a}..{b}");
    }
}

/// The same history read with per-language folders (`[content.roots]`, one of them holding the
/// other: the fast path leaves the inner language's files out of the outer one, as a whole
/// load does), and with a layout (`docusaurus`, the generated tree moved into its folders).
#[test]
fn git_ranges_with_language_folders_read_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tags = history(dir, 0x5eed_2027, 8);
    // `en` is the content root itself, `zh` a folder inside it.
    fs::write(
        dir.join("kbrel.toml"),
        format!("{CONFIG}\n[content.roots]\nen = \".\"\nzh = \"zh\"\n"),
    )
    .unwrap();
    check_git_ranges(dir, &tags);
    let (_, same, read) = whole_and_changed(dir, &tags[2], &tags[2]);
    assert_eq!((same.changes.len(), read), (0, 0));
    // `zh`'s files are read as `zh/…` only, never also as `en/zh/…`.
    let (whole, _, _) = whole_and_changed(dir, &tags[0], &tags[8]);
    assert!(whole.changes.iter().any(|c| c.lang == "zh"));
    assert!(
        whole
            .changes
            .iter()
            .all(|c| c.lang == "zh" || c.path.starts_with("en/"))
    );

    // Docusaurus: `docs/` and `i18n/zh/docusaurus-plugin-content-docs/current/`, the tags
    // rewritten into them.
    let tmp = tempfile::tempdir().unwrap();
    let moved = tmp.path();
    git(moved, &["init", "-q"]);
    let zh = "i18n/zh/docusaurus-plugin-content-docs/current";
    for tag in &tags {
        let _ = fs::remove_dir_all(moved.join("docs"));
        let _ = fs::remove_dir_all(moved.join("i18n"));
        git(dir, &["checkout", "-q", tag]);
        for (lang, to) in [("en", "docs"), ("zh", zh)] {
            for f in walk_md(&dir.join("content").join(lang)) {
                let rel = f.strip_prefix(dir.join("content").join(lang)).unwrap();
                let dest = moved.join(to).join(rel);
                fs::create_dir_all(dest.parent().unwrap()).unwrap();
                fs::copy(&f, &dest).unwrap();
            }
        }
        fs::write(
            moved.join("kbrel.toml"),
            CONFIG.replace(
                "root = \"content\"",
                "root = \".\"\nlayout = \"docusaurus\"",
            ),
        )
        .unwrap();
        git(moved, &["add", "-A"]);
        git(moved, &["commit", "-q", "--allow-empty", "-m", tag]);
        git(moved, &["tag", tag]);
    }
    check_git_ranges(moved, &tags);
}

/// `git:A .`: git's index tells which work-tree files differ from `A`; only those (and the
/// documents whose keys changed) are read, and the result is what both sides loaded whole
/// give, for every tag against a work tree with unstaged, staged, deleted, untracked and
/// ignored files, with one folder per language and with per-language folders.
#[test]
fn git_worktree_ranges_read_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tags = history(dir, 0x5eed_2028, 8);
    edit_work_tree(dir, &dir.join("content"));
    let check = |dir: &Path| {
        for tag in &tags {
            let (whole, changed, read) = whole_and_changed_worktree(dir, tag);
            says_what_the_whole_trees_say(&whole, &changed, read, &format!("{tag}..."));
            // The untracked and the ignored document are there; nothing of node_modules.
            let paths: Vec<&str> = changed.changes.iter().map(|c| c.path.as_str()).collect();
            for end in ["untracked/new.md", "ignored-draft.md"] {
                assert!(paths.iter().any(|p| p.ends_with(end)), "{tag}: {paths:?}");
            }
            assert!(
                !paths.iter().any(|p| p.contains("node_modules")),
                "{paths:?}"
            );
        }
    };
    check(dir);
    fs::write(
        dir.join("kbrel.toml"),
        format!("{CONFIG}\n[content.roots]\nen = \".\"\nzh = \"zh\"\n"),
    )
    .unwrap();
    check(dir);
    // Through the binary: `kbrel diff git:A .` prints what the whole-tree diff says.
    fs::write(dir.join("kbrel.toml"), CONFIG).unwrap();
    let (whole, _, _) = whole_and_changed_worktree(dir, &tags[3]);
    let printed = kbrel(
        dir,
        &["diff", &format!("git:{}", tags[3]), ".", "--name-status"],
    );
    assert_eq!(
        printed.stdout,
        kbrel::diff::gitfmt::name_status(&without_unread_identity_shifts(&whole))
    );
}

// ---------------------------------------------------------------------------------------------
// `diff A B` of published releases that are not consecutive, from the stored diffs

/// Every pair of releases of `reg` (oldest first in `versions`) compared twice: from the two
/// manifests, and composed from the stored `diff.json`s between them
/// (`snapshot::composed_pair`). Where the composition settles, the reports are equal in
/// every field; backwards ranges are never composed. Returns (pairs composed, pairs left to
/// the manifests because of an unsettled title, a range of 3 releases or more with changes
/// composed without reading a manifest).
fn composed_equals_full(
    dir: &Path,
    versions: &[String],
) -> (usize, usize, Option<(String, String)>) {
    use kbrel::snapshot::{self, Snapshot};
    let cfg = kbrel::config::Config::load(&dir.join("kbrel.toml")).unwrap();
    let reg = kbrel::registry::Registry::new(cfg.registry_dir());
    let index = reg.read_index().unwrap().map(|(i, _)| i);
    let langs = &cfg.content.languages;
    let (mut composed, mut unsettled, mut heavy, mut far) = (0, 0, 0, None);
    let mut read_manifest = 0;
    for (i, a) in versions.iter().enumerate() {
        for (j, b) in versions.iter().enumerate() {
            let c = snapshot::composed_pair(&reg, index.as_ref(), langs, a, b).unwrap();
            let Some(c) = c else {
                // Backwards, or stored diffs that weigh more than the two manifests.
                let idx = index.as_ref().unwrap();
                let weight: u64 = (i + 1..=j)
                    .map(|k| idx.get(&versions[k]).unwrap().diff.size)
                    .sum();
                let budget = idx.get(a).unwrap().manifest.size + idx.get(b).unwrap().manifest.size;
                assert!(j < i || weight > budget, "{a}..{b} was not composed");
                heavy += usize::from(j > i);
                continue;
            };
            assert!(j >= i, "{a}..{b} runs backwards");
            let mut c = c;
            let mut fast = snapshot::compare("kb", langs, &c.from, &c.to).unwrap();
            if !c.settle(&reg, index.as_ref().unwrap(), &mut fast).unwrap() {
                unsettled += 1;
                continue;
            }
            read_manifest += usize::from(c.read_manifest);
            composed += 1;
            if !c.read_manifest && j >= i + 3 && !fast.changes.is_empty() && far.is_none() {
                far = Some((a.clone(), b.clone()));
            }
            let full = snapshot::compare(
                "kb",
                langs,
                &Snapshot::published(&reg, index.as_ref(), a).unwrap(),
                &Snapshot::published(&reg, index.as_ref(), b).unwrap(),
            )
            .unwrap();
            assert_eq!(fast, full, "{a}..{b}");
            // Only documents some release in the range changed are held.
            let named: usize = (i + 1..=j)
                .map(|k| {
                    index
                        .as_ref()
                        .unwrap()
                        .get(&versions[k])
                        .unwrap()
                        .summary
                        .values()
                        .map(|s| s.added + s.modified + s.renamed + s.removed)
                        .sum::<u64>() as usize
                })
                .sum();
            assert!(c.from.docs.len() + c.to.docs.len() <= 2 * named, "{a}..{b}");
        }
    }
    eprintln!("{heavy} ranges whose stored diffs weigh more than their manifests");
    eprintln!("{read_manifest} ranges read the first manifest to settle a title");
    (composed, unsettled, far)
}

/// Non-consecutive published releases (`kbrel diff 1.0.0 1.0.5`) are compared from the stored
/// diffs of the releases between them, and say exactly what the two manifests say, on the
/// generated history (duplicate urls, url changes on fixed paths, moves with edits, titles
/// that come and go) and on the messy fixture. The binary reads no manifest for them: with
/// every `manifest.json` removed, it prints the same `--stat`.
#[test]
fn published_ranges_compose_the_stored_diffs_and_say_what_the_manifests_say() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tags = history(dir, 0x5eed_2029, 12);
    kbrel(
        dir,
        &["--registry", "reg", "import", "--from-git", "--quiet"],
    );
    let fs_toml = fs::read_to_string(dir.join("kbrel.toml")).unwrap();
    fs::write(
        dir.join("kbrel.toml"),
        format!("{fs_toml}\n[registry]\ndir = \"reg\"\n"),
    )
    .unwrap();
    let versions: Vec<String> = tags.iter().map(|t| t[1..].to_string()).collect();
    let (composed, unsettled, far) = composed_equals_full(dir, &versions);
    eprintln!("generated history: {composed} pairs composed, {unsettled} left to the manifests");
    assert_eq!(unsettled, 0);
    assert!(composed >= versions.len() * (versions.len() + 1) / 2 - 10);

    // Without any manifest, a composed range still prints what the manifests said.
    let (a, b) = &far.expect("a range composed from stored diffs alone");
    let expected = kbrel(dir, &["diff", a, b, "--stat"]).stdout;
    let names = kbrel(dir, &["diff", a, b, "--name-status"]).stdout;
    assert!(!expected.is_empty());
    for v in &versions {
        fs::remove_file(dir.join("reg/v").join(v).join("manifest.json")).unwrap();
    }
    let got = common::run_lossy(
        common::kbrel()
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .args(["diff", a, b, "--stat"]),
    );
    assert_eq!(
        (got.code, got.stdout.as_str()),
        (0, expected.as_str()),
        "{got}"
    );
    assert_eq!(kbrel(dir, &["diff", a, b, "--name-status"]).stdout, names);

    // The messy fixture: numbered CJK folders, missing front matter, duplicate urls.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let releases = kbrel_synth::messy::history(&kbrel_synth::messy::MessySpec {
        releases: 5,
        ..kbrel_synth::messy::MessySpec::default()
    });
    kbrel_synth::repo::write_history(dir, &kbrel_synth::messy::commits(&releases)).unwrap();
    fs::write(dir.join("kbrel.toml"), kbrel_synth::messy::config_toml()).unwrap();
    kbrel(dir, &["import", "--from-git", "--quiet"]);
    let versions: Vec<String> = releases
        .iter()
        .map(|r| r.tag.trim_start_matches('v').to_string())
        .collect();
    let (composed, unsettled, _) = composed_equals_full(dir, &versions);
    eprintln!("messy history: {composed} pairs composed, {unsettled} left to the manifests");
    assert_eq!(unsettled, 0);
    assert!(composed >= versions.len() + 3, "{composed}");
}

/// A key source that changes while the documents do not: the documents whose declared keys
/// changed are read on both sides (their files did not change) and reported with `old_key`,
/// exactly as a whole-tree diff reports them; the others are not read.
#[test]
fn git_ranges_read_the_documents_whose_keys_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(
        dir.join("kbrel.toml"),
        CONFIG.replace("[content]\n", "[content]\nkeys_file = \"keys.json\"\n"),
    )
    .unwrap();
    git(dir, &["init", "-q"]);
    let mut docs: Vec<GenDoc> = (0..6)
        .map(|i| GenDoc {
            path: format!("{}/guide/p{i}.md", if i % 2 == 0 { "en" } else { "zh" }),
            url: Some(format!("/docs/p{i}")),
            front_matter: true,
            lines: vec![format!("page {i}"), "text".into()],
        })
        .collect();
    let keys = |en: &str| {
        format!(
            r#"{{"en": {{"{en}": "guide/p0.md", "Two": "guide/p2.md"}}, "zh": {{"Two": "guide/p3.md"}}}}"#
        )
    };
    fs::write(dir.join("keys.json"), keys("Slack")).unwrap();
    commit(dir, &docs, "v1");
    // Only the key of en/guide/p0.md changes (and one document is edited).
    fs::write(dir.join("keys.json"), keys("SlackBot")).unwrap();
    docs[4].lines.push("more".into());
    commit(dir, &docs, "v2");
    let (whole, changed, read) = whole_and_changed(dir, "v1", "v2");
    assert_eq!(changed.changes, whole.changes);
    let got: Vec<(&str, &str, Option<&str>)> = changed
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.key.as_str(), c.old_key.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("guide/p0.md", "SlackBot", Some("Slack")),
            ("guide/p4.md", "docs/p4", None)
        ]
    );
    // p0 on both sides, p4 on both sides.
    assert_eq!(read, 4);
    let ns = kbrel(dir, &["diff", "git:v1", "git:v2", "--name-status"]).stdout;
    assert_eq!(ns, "M\ten/guide/p0.md\nM\ten/guide/p4.md\n");
}

// ---------------------------------------------------------------------------------------------
// The changelog format follows the package format

/// A release of package format 4 (the default) writes its CHANGELOG.md section in the detailed
/// entry format (bundle keys, current and changed titles, changed sections); a release of
/// format 3 keeps the earlier entries. Republishing either (identical content, any format
/// asked) rewrites its section as its recorded format wrote it: the file does not change.
#[test]
fn changelog_sections_follow_the_package_format_of_their_release() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keyed_history(dir);
    let publish = |dir: &Path, changelog: &str, tag: &str, version: &str, format: Option<&str>| {
        let mut args = vec![
            "--from-git",
            tag,
            "--registry",
            "reg",
            "publish",
            version,
            "--no-tag",
            "--date",
            "2026-11-25",
            "--changelog",
            changelog,
        ];
        if let Some(f) = format {
            args.extend(["--package-format", f]);
        }
        kbrel(dir, &args)
    };
    let section = |file: &str, version: &str| -> String {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        let start = text.find(&format!("## [{version}]")).unwrap();
        let rest = &text[start..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
        rest[..end].to_string()
    };
    // Format 3, then format 4, for the same two trees (separate registries).
    publish(dir, "OLD.md", "v1.0.0", "1.0.0", Some("3"));
    publish(dir, "OLD.md", "v1.1.0", "1.1.0", Some("3"));
    fs::rename(dir.join("reg"), dir.join("reg3")).unwrap();
    publish(dir, "NEW.md", "v1.0.0", "1.0.0", None);
    publish(dir, "NEW.md", "v1.1.0", "1.1.0", None);
    let (old, new) = (section("OLD.md", "1.1.0"), section("NEW.md", "1.1.0"));
    insta::assert_snapshot!("changelog_section_format_3", old);
    insta::assert_snapshot!("changelog_section_format_4", new);
    assert!(
        new.contains("`Slack`") && new.contains("Configure the bot"),
        "{new}"
    );
    assert!(!old.contains("`Slack`"), "{old}");
    // Rebuilding: the format-4 registry keeps its section; the format-3 one keeps its old
    // bytes even when the current default format is asked for.
    let before = fs::read_to_string(dir.join("NEW.md")).unwrap();
    publish(dir, "NEW.md", "v1.1.0", "1.1.0", None);
    assert_eq!(fs::read_to_string(dir.join("NEW.md")).unwrap(), before);
    fs::rename(dir.join("reg"), dir.join("reg4")).unwrap();
    fs::rename(dir.join("reg3"), dir.join("reg")).unwrap();
    let before = fs::read_to_string(dir.join("OLD.md")).unwrap();
    for format in [None, Some("3")] {
        let run = publish(dir, "OLD.md", "v1.1.0", "1.1.0", format);
        assert!(run.stdout.contains("already"), "{run}");
        assert_eq!(fs::read_to_string(dir.join("OLD.md")).unwrap(), before);
    }
    // A damaged old section is put back as format 3 wrote it.
    fs::write(
        dir.join("OLD.md"),
        before.replace("#### Changed", "#### Edited"),
    )
    .unwrap();
    publish(dir, "OLD.md", "v1.1.0", "1.1.0", None);
    assert_eq!(fs::read_to_string(dir.join("OLD.md")).unwrap(), before);
}
