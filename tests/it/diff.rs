//! `kbrel diff`, `kbrel status` and `kbrel ack` end to end, and the properties the diff
//! library promises:
//!
//! - **Fixtures** (`tests/fixtures/diff/<case>/`): `before/` is published as 1.0.0 and `after/`
//!   as 1.1.0 (or, with `publish_after = false` in `case.toml`, used as the working content
//!   `.`), then `kbrel diff 1.0.0 1.1.0 --stat` etc. (the `snapshots` of its `case.toml`:
//!   `stat`, `name-status`, `patch`, `word`, `sections`, and `status` for `kbrel status`) must
//!   print exactly the insta snapshot `fixture__<case>__<name>` (`tests/it/snapshots/`,
//!   [`common::exact_text`]). `case.toml` adds more commands (`[[run]]`) with their exit codes,
//!   stderr and stdout (a literal or a snapshot). Review changed output with `cargo insta
//!   review`.
//! - **Line counts** equal `git diff --no-index --numstat --minimal` (proptest over texts with
//!   many repeated lines, CJK lines and missing final newlines; and every document of the real
//!   guide after edits).
//! - **Patches apply**: `git apply` in a copy of `before/` turns it into `after/` (proptest
//!   over document sets with adds, removals, renames, missing final newlines, CJK).
//! - **JSON formats** parse into the library's strict types and into strict test-local mirrors.
//! - **Enormous documents** are counted exactly when the edits are scattered and flagged
//!   `approximate` when an exact count would take too long.

use crate::common;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::copy_dir;
use kbrel::history::{Drift, StatusReport};
use proptest::prelude::*;
use serde::Deserialize;
use tempfile::TempDir;

const DATE: &str = "2026-11-25";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff")
}

fn guide_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The output of one `kbrel` run.
struct Run {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn new(args: Vec<String>, out: Output) -> Run {
        Run {
            args,
            code: out.status.code().expect("kbrel was not killed by a signal"),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit code of {self}");
        self
    }

    fn ok(self) -> Run {
        self.code(0)
    }

    fn stderr_has(self, needle: &str) -> Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self}"
        );
        self
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kbrel {}\n  exit: {}\n  stdout:\n{}\n  stderr:\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// A temporary project: a copy of a `kbrel.toml`, a registry `r/` and a changelog, all inside
/// one temporary directory.
struct Project {
    tmp: TempDir,
}

impl Project {
    fn new(config_text: &str) -> Project {
        Project::with_dir(tempfile::tempdir().unwrap(), config_text)
    }

    fn with_dir(tmp: TempDir, config_text: &str) -> Project {
        fs::write(tmp.path().join("kbrel.toml"), config_text).unwrap();
        Project { tmp }
    }

    fn from_config(config: &Path) -> Project {
        Project::new(&fs::read_to_string(config).unwrap())
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn registry(&self) -> PathBuf {
        self.root().join("r")
    }

    fn reg(&self, rel: &str) -> PathBuf {
        self.registry().join(rel)
    }

    /// `kbrel --config <tmp>/kbrel.toml --registry <tmp>/r [--content <content>] <args>`.
    fn run(&self, content: Option<&Path>, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kbrel"));
        cmd.current_dir(self.root())
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("NO_COLOR")
            .arg("--config")
            .arg(self.root().join("kbrel.toml"))
            .arg("--registry")
            .arg(self.registry());
        if let Some(c) = content {
            cmd.arg("--content").arg(c);
        }
        cmd.args(args);
        let out = cmd.output().expect("kbrel runs");
        Run::new(args.iter().map(|s| s.to_string()).collect(), out)
    }

    fn publish(&self, content: &Path, version: &str) -> Run {
        let changelog = self.root().join("CHANGELOG.md");
        let changelog = changelog.to_str().unwrap();
        self.run(
            Some(content),
            &["publish", version, "--date", DATE, "--changelog", changelog],
        )
        .ok()
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, rel: &str) -> T {
        let bytes = fs::read(self.reg(rel)).unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn blob(&self, sha: Option<&str>) -> String {
        match sha {
            Some(sha) => {
                fs::read_to_string(self.reg(&format!("blobs/sha256/{}/{}", &sha[..2], &sha[2..])))
                    .unwrap()
            }
            None => String::new(),
        }
    }
}

/// Every file below `dir`: relative `/`-separated path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn write_tree(dir: &Path, files: &BTreeMap<String, String>) {
    for lang in ["en", "zh"] {
        fs::create_dir_all(dir.join(lang)).unwrap();
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

/// `git diff --no-index --numstat --minimal old new` → (added, removed).
fn git_numstat(dir: &Path, old: &str, new: &str) -> (u64, u64) {
    fs::write(dir.join("old"), old).unwrap();
    fs::write(dir.join("new"), new).unwrap();
    let out = git(dir)
        .args([
            "diff",
            "--no-index",
            "--numstat",
            "--minimal",
            "--",
            "old",
            "new",
        ])
        .output()
        .expect("git runs");
    // `git diff --no-index` exits 1 when the files differ.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "git diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    match s.split_whitespace().collect::<Vec<_>>()[..] {
        [] => (0, 0),
        [a, r, ..] => (a.parse().unwrap(), r.parse().unwrap()),
        _ => panic!("unexpected numstat output {s:?}"),
    }
}

/// `name → changed lines` of a `--stat` output (git's format: ` name | N +++--`).
fn stat_totals(stat: &str) -> BTreeMap<String, u64> {
    stat.lines()
        .filter_map(|l| l.rsplit_once(" | "))
        .map(|(name, rest)| {
            let n = rest.split_whitespace().next().unwrap().parse().unwrap();
            (name.trim().to_string(), n)
        })
        .collect()
}

/// `git` with no user or system configuration and no repository discovery above `dir`.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap_or(dir))
        .args(["-c", "core.autocrlf=false", "-c", "diff.algorithm=myers"]);
    cmd
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// `case.toml`: how a fixture is run, beyond the standard expected files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// The standard outputs to snapshot: the `kbrel diff` modes of [`STANDARD`] and `status`.
    snapshots: Vec<String>,
    /// Publish `after/` as 1.1.0 (default); otherwise `after/` is the working content `.`.
    #[serde(default = "yes")]
    publish_after: bool,
    /// Generate `after/` from `before/`: `crlf+bom` rewrites every file with CRLF line
    /// endings and a BOM.
    after_from_before: Option<String>,
    #[serde(default)]
    run: Vec<CaseRun>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRun {
    args: Vec<String>,
    /// `before` or `after`: passed as `--content`.
    content: Option<String>,
    /// The snapshot (`fixture__<case>__<snapshot>`) that stdout must equal.
    snapshot: Option<String>,
    /// Literal stdout.
    stdout: Option<String>,
    #[serde(default)]
    exit: i32,
    #[serde(default)]
    stderr_contains: Vec<String>,
}

/// The standard snapshots of `kbrel diff 1.0.0 <to>` and the flags that produce them.
const STANDARD: [(&str, &[&str]); 5] = [
    ("stat", &["--stat", "--color", "never"]),
    ("name-status", &["--name-status"]),
    ("patch", &["--patch"]),
    ("word", &["--word", "--color", "never"]),
    ("sections", &["--sections", "--color", "never"]),
];

/// A fixture, published.
struct Fixture {
    name: String,
    dir: PathBuf,
    project: Project,
    before: PathBuf,
    after: PathBuf,
    case: CaseFile,
}

impl Fixture {
    fn publish(name: &str) -> Fixture {
        let dir = fixtures_dir().join(name);
        let text = fs::read_to_string(dir.join("case.toml"))
            .unwrap_or_else(|e| panic!("{name}/case.toml: {e}"));
        let case: CaseFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{name}/case.toml: {e}"));
        let project = Project::from_config(&dir.join("kbrel.toml"));
        let before = dir.join("before");
        let after = match case.after_from_before.as_deref() {
            None => dir.join("after"),
            Some("crlf+bom") => {
                let after = project.root().join("after");
                for (rel, bytes) in tree(&before) {
                    let text = String::from_utf8(bytes).unwrap().replace('\n', "\r\n");
                    let path = after.join(rel);
                    fs::create_dir_all(path.parent().unwrap()).unwrap();
                    fs::write(path, format!("\u{feff}{text}")).unwrap();
                }
                after
            }
            Some(other) => panic!("{name}/case.toml: unknown after_from_before {other:?}"),
        };
        project.publish(&before, "1.0.0");
        if case.publish_after {
            project.publish(&after, "1.1.0");
        }
        Fixture {
            name: name.to_string(),
            dir,
            project,
            before,
            after,
            case,
        }
    }

    fn to(&self) -> &'static str {
        if self.case.publish_after {
            "1.1.0"
        } else {
            "."
        }
    }

    /// Run with `--content after` (harmless for two published sides).
    fn run(&self, args: &[&str]) -> Run {
        self.project.run(Some(&self.after), args)
    }

    /// stdout equals the snapshot `fixture__<case>__<snapshot>`, to the byte.
    fn check_stdout(&self, run: &Run, snapshot: &str) {
        snapshot_stdout(&self.name, snapshot, run);
    }

    /// Every standard snapshot and every `[[run]]` of `case.toml`.
    fn check_all(&self) {
        let mut checked = 0;
        for mode in &self.case.snapshots {
            let run = if mode == "status" {
                self.run(&["status"]).ok()
            } else {
                let (_, flags) = STANDARD
                    .iter()
                    .find(|(m, _)| m == mode)
                    .unwrap_or_else(|| panic!("{}: unknown snapshot {mode:?}", self.name));
                let mut args = vec!["diff", "1.0.0", self.to()];
                args.extend_from_slice(flags);
                self.run(&args).ok()
            };
            self.check_stdout(&run, mode);
            checked += 1;
        }
        for r in &self.case.run {
            let content = match r.content.as_deref() {
                None | Some("after") => &self.after,
                Some("before") => &self.before,
                Some(other) => panic!("unknown content {other:?}"),
            };
            let args: Vec<&str> = r.args.iter().map(String::as_str).collect();
            let run = self.project.run(Some(content), &args);
            assert_eq!(run.code, r.exit, "exit code of {run}");
            for needle in &r.stderr_contains {
                assert!(
                    run.stderr.contains(needle.as_str()),
                    "stderr lacks {needle:?}: {run}"
                );
            }
            if let Some(snapshot) = &r.snapshot {
                self.check_stdout(&run, snapshot);
            }
            if let Some(stdout) = &r.stdout {
                assert_eq!(&run.stdout, stdout, "stdout of {run}");
            }
            checked += 1;
        }
        assert!(checked > 0, "{}: nothing to check", self.dir.display());
        // Every document's counts are git's.
        let json: kbrel::manifest::DiffFile = self
            .run(&["diff", "1.0.0", self.to(), "--json"])
            .ok()
            .json();
        let git_dir = tempfile::tempdir().unwrap();
        for c in &json.changes {
            assert!(!c.approximate, "{c:?}");
            let old = self.project.blob(c.old_sha256.as_deref());
            let new = match (self.case.publish_after, &c.sha256) {
                (_, None) => String::new(),
                (true, Some(sha)) => self.project.blob(Some(sha)),
                (false, Some(_)) => {
                    let raw = fs::read_to_string(self.after.join(&c.lang).join(&c.path)).unwrap();
                    kbrel::content::normalize(&raw)
                }
            };
            assert_eq!(
                (c.added_lines, c.removed_lines),
                git_numstat(git_dir.path(), &old, &new),
                "{}: {}/{}",
                self.dir.display(),
                c.lang,
                c.path
            );
        }
        // The patch turns before/ into after/.
        let patch = self
            .run(&["diff", "1.0.0", self.to(), "--patch"])
            .ok()
            .stdout;
        assert_patch_applies(&self.before, &self.after, &patch);
    }
}

/// The stdout of `run` equals the insta snapshot `fixture__<case>__<name>`, to the byte.
fn snapshot_stdout(case: &str, name: &str, run: &Run) {
    insta::assert_snapshot!(
        format!("fixture__{case}__{name}"),
        common::exact_text(&run.stdout),
        "common::exact_text(&run.stdout)"
    );
}

/// `git apply` of `patch` in a copy of `before` yields `after` (normalised, as kbrel sees it).
fn assert_patch_applies(before: &Path, after: &Path, patch: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("content");
    copy_dir(before, &work);
    let normalised = |dir: &Path| -> BTreeMap<String, String> {
        tree(dir)
            .into_iter()
            .map(|(p, b)| (p, kbrel::content::normalize(&String::from_utf8(b).unwrap())))
            .collect()
    };
    // Work from the normalised texts, as the patch does.
    for (rel, text) in normalised(&work) {
        fs::write(work.join(rel), text).unwrap();
    }
    if !patch.is_empty() {
        fs::write(tmp.path().join("p.patch"), patch).unwrap();
        let out = git(&work)
            .args(["apply", "--whitespace=nowarn", "../p.patch"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git apply rejected the patch: {}\n{patch}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        normalised(&work),
        normalised(after),
        "after git apply of\n{patch}"
    );
}

macro_rules! fixture_tests {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                Fixture::publish($case).check_all();
            }
        )*
        const FIXTURES: &[&str] = &[$($case),*];
    };
}

fixture_tests! {
    fixture_add => "add",
    fixture_remove => "remove",
    fixture_modify => "modify",
    fixture_rename_by_id => "rename-id",
    fixture_rename_by_similarity => "rename-path",
    fixture_front_matter_only => "front-matter",
    fixture_crlf_only => "crlf-only",
    fixture_cjk_word => "cjk-word",
    fixture_sections => "sections",
    fixture_drift => "drift",
    fixture_filters => "filters",
}

#[test]
fn every_fixture_folder_has_a_test() {
    let mut dirs: Vec<String> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(dirs, listed);
}

// ---------------------------------------------------------------------------------------------
// Fixtures with more to check

#[test]
fn front_matter_only_changes_list_the_fields_and_keep_the_body() {
    let f = Fixture::publish("front-matter");
    let json: kbrel::manifest::DiffFile = f.run(&["diff", "1.0.0", "1.1.0", "--json"]).ok().json();
    let got: Vec<(&str, &[String], bool)> = json
        .changes
        .iter()
        .map(|c| (c.lang.as_str(), c.fields_changed.as_slice(), c.body_changed))
        .collect();
    let (en, zh) = (
        ["tags", "title", "weight"].map(String::from),
        ["draft"].map(String::from),
    );
    assert_eq!(got, [("en", &en[..], false), ("zh", &zh[..], false)]);
    // The title is the new one, the old one is kept beside it.
    assert_eq!(json.changes[0].title.as_deref(), Some("New title"));
    assert_eq!(json.changes[0].old_title.as_deref(), Some("Old title"));
    // Sections compare bodies only: nothing to list.
    assert_eq!(
        f.run(&["diff", "1.0.0", "1.1.0", "--sections"]).ok().stdout,
        "M en/page.md\nM zh/page.md\n"
    );
}

#[test]
fn renames_keep_the_old_path_and_id() {
    let f = Fixture::publish("rename-path");
    let json: kbrel::manifest::DiffFile = f.run(&["diff", "1.0.0", "1.1.0", "--json"]).ok().json();
    let moved = json
        .changes
        .iter()
        .find(|c| c.path == "guide/moved-here.md" && c.lang == "en")
        .unwrap();
    assert_eq!(moved.status, kbrel::manifest::ChangeStatus::Renamed);
    assert_eq!(moved.old_path.as_deref(), Some("moved.md"));
    assert_eq!(moved.old_id.as_deref(), Some("moved"));
    assert_eq!(moved.id, "guide/moved-here");
    assert!(moved.similarity.unwrap() >= kbrel::diff::RENAME_THRESHOLD);

    let f = Fixture::publish("rename-id");
    let json: kbrel::manifest::DiffFile = f.run(&["diff", "1.0.0", "1.1.0", "--json"]).ok().json();
    for c in &json.changes {
        assert_eq!(c.status, kbrel::manifest::ChangeStatus::Renamed, "{c:?}");
        assert_eq!(
            (c.id.as_str(), c.old_id.as_deref()),
            ("install", None),
            "same id, no old_id"
        );
        assert_eq!(c.old_path.as_deref(), Some("install.md"));
    }
}

/// A fixture project whose blob of `en/guide.md` in 1.1.0 is then broken by `damage`.
fn damaged_blob(damage: impl Fn(&Path)) -> (Fixture, PathBuf) {
    let f = Fixture::publish("modify");
    let m: kbrel::manifest::Manifest = f.project.read_json("v/1.1.0/manifest.json");
    let doc = m
        .documents
        .iter()
        .find(|d| d.lang == "en" && d.path == "guide.md")
        .unwrap();
    let blob = f.project.reg(&format!(
        "blobs/sha256/{}/{}",
        &doc.sha256[..2],
        &doc.sha256[2..]
    ));
    damage(&blob);
    (f, blob)
}

#[test]
fn a_missing_blob_is_an_error_naming_it_and_the_version() {
    let (f, blob) = damaged_blob(|b| fs::remove_file(b).unwrap());
    for mode in ["--patch", "--word", "--sections"] {
        let run = f.run(&["diff", "1.0.0", "1.1.0", mode]).code(2);
        assert_eq!(run.stdout, "", "{run}");
        run.stderr_has(&blob.display().to_string())
            .stderr_has("en/guide.md")
            .stderr_has("version 1.1.0")
            .stderr_has("kbrel verify");
    }
    // Versions that do not need the blob still compare.
    f.run(&["diff", "1.0.0", "1.0.0", "--exit-code"]).ok();
    // Consecutive releases, without texts: the stored diff.json answers (verified against
    // the index), no blob is read, as the output equals the fixture's.
    for (mode, snapshot) in [("--stat", "stat"), ("--name-status", "name-status")] {
        let run = f.run(&["diff", "1.0.0", "1.1.0", mode]).ok();
        snapshot_stdout("modify", snapshot, &run);
    }
    // Not consecutive (1.1.0 back to 1.0.0): both sides are compared, and the blob is missed.
    f.run(&["diff", "1.1.0", "1.0.0", "--stat"])
        .code(2)
        .stderr_has("en/guide.md");
}

#[test]
fn a_corrupt_blob_is_an_error_naming_it_and_the_version() {
    let (f, blob) = damaged_blob(|b| fs::write(b, "# Guide\n\nTampered.\n").unwrap());
    let run = f.run(&["diff", "1.0.0", "1.1.0", "--patch"]).code(2);
    assert_eq!(run.stdout, "", "{run}");
    run.stderr_has(&blob.display().to_string())
        .stderr_has("hashes to")
        .stderr_has("en/guide.md")
        .stderr_has("version 1.1.0")
        .stderr_has("kbrel verify");
    // Unchanged documents are compared by hash: the damaged blob is not read...
    f.run(&["diff", "1.1.0", ".", "--patch", "--exit-code"])
        .ok();
    // ...changed ones are, also against the working content.
    let run = f
        .project
        .run(Some(&f.before), &["diff", "1.1.0", ".", "--patch"])
        .code(2);
    run.stderr_has("version 1.1.0").stderr_has("kbrel verify");
}

#[test]
fn a_corrupt_manifest_is_an_error() {
    let f = Fixture::publish("modify");
    let path = f.project.reg("v/1.0.0/manifest.json");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("\"guide.md\"", "\"guide2.md\"");
    fs::write(&path, text).unwrap();
    // Backwards: the two manifests are compared.
    f.run(&["diff", "1.1.0", "1.0.0", "--patch"])
        .code(2)
        .stderr_has("v/1.0.0/manifest.json")
        .stderr_has("sha256 mismatch")
        .stderr_has("kbrel verify");
    // Forwards, the stored diff (and the blobs it names) answer: the manifest is not read.
    f.run(&["diff", "1.0.0", "1.1.0", "--patch"]).ok();
}

#[test]
fn unknown_versions_in_an_empty_registry() {
    let p = Project::from_config(&fixtures_dir().join("modify/kbrel.toml"));
    let after = fixtures_dir().join("modify/after");
    let run = p.run(Some(&after), &["diff"]).code(2);
    run.stderr_has("unknown version or tag `latest`")
        .stderr_has("nothing is published");
    // Everything is outdated-free and nothing is published: status still works.
    p.run(Some(&after), &["status"]).ok();
}

/// `kbrel ack <id>`: an outdated translation becomes current; the next source edit makes it
/// outdated again.
#[test]
fn ack_makes_outdated_current_until_the_source_changes_again() {
    let f = Fixture::publish("drift");
    let content = f.project.root().join("content");
    copy_dir(&f.after, &content);
    let status = |args: &[&str]| f.project.run(Some(&content), args);
    let state = |id: &str| -> Drift {
        let s: StatusReport = status(&["status", "--json"]).ok().json();
        let t = s
            .translations
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no {id}"));
        t.state
    };
    assert_eq!(state("a"), Drift::Outdated);
    status(&["status", "--exit-code"]).code(1);

    let run = status(&["ack", "a"]).ok();
    assert!(run.stderr.contains("acknowledged a for zh"), "{run}");
    let acks: kbrel::history::Acks =
        serde_json::from_slice(&fs::read(f.project.root().join(".kbrel/acks.json")).unwrap())
            .unwrap();
    assert_eq!(
        (acks.acks[0].id.as_str(), acks.acks[0].lang.as_str()),
        ("a", "zh")
    );
    assert_eq!(state("a"), Drift::Current);
    assert_eq!(
        status(&["status"]).ok().stdout,
        "missing   en/e.md  no zh translation of this document\n\
         orphaned  zh/guide/d.md  the source document is gone\n\
         zh: 3 current, 0 outdated, 1 missing, 1 orphaned\n"
    );
    // Idempotent.
    status(&["ack", "a", "--lang", "zh"])
        .ok()
        .stderr_has("already acknowledged");

    // The ack survives a release of the acked text...
    f.project.publish(&content, "1.1.0");
    assert_eq!(state("a"), Drift::Current);
    // ...and stops applying when the source changes again.
    fs::write(
        content.join("en/a.md"),
        "# A\n\nSource text of A, edited twice.\n",
    )
    .unwrap();
    assert_eq!(state("a"), Drift::Outdated);
    let s: StatusReport = status(&["status", "--json"]).ok().json();
    let a = s.translations.iter().find(|t| t.id == "a").unwrap();
    assert_eq!(a.since.as_deref(), Some("."));
    assert_eq!(a.synced_at.as_deref(), Some("1.1.0"));
    status(&["ack", "a"]).ok();
    assert_eq!(state("a"), Drift::Current);

    // Bad input.
    status(&["ack", "no/such"])
        .code(2)
        .stderr_has("no `en` document has the id `no/such`");
    status(&["ack", "a", "--lang", "en"])
        .code(2)
        .stderr_has("--lang en");
    status(&["ack", "a", "--lang", "fr"])
        .code(2)
        .stderr_has("--lang fr");
}

// ---------------------------------------------------------------------------------------------
// JSON formats: the library's strict types, and strict mirrors kept here so that any change of
// the printed formats fails a test (serde treats a missing `Option` field as `None`, so the
// key sets are compared as well).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DiffJson {
    schema_version: u32,
    name: String,
    from: Option<String>,
    to: String,
    summary: BTreeMap<String, CountsJson>,
    changes: Vec<ChangeJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CountsJson {
    documents: u64,
    added: u64,
    modified: u64,
    removed: u64,
    renamed: u64,
    added_lines: u64,
    removed_lines: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ChangeJson {
    lang: String,
    id: String,
    status: StatusLetter,
    path: String,
    old_path: Option<String>,
    old_id: Option<String>,
    key: String,
    old_key: Option<String>,
    title: Option<String>,
    old_title: Option<String>,
    old_sha256: Option<String>,
    sha256: Option<String>,
    added_lines: u64,
    removed_lines: u64,
    similarity: Option<u8>,
    fields_changed: Vec<String>,
    body_changed: bool,
    /// Only present (and true) when the counts are approximate.
    approximate: Option<bool>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum StatusLetter {
    Added,
    Modified,
    Renamed,
    Removed,
}

const CHANGE_KEYS: [&str; 17] = [
    "lang",
    "id",
    "status",
    "path",
    "old_path",
    "old_id",
    "key",
    "old_key",
    "title",
    "old_title",
    "old_sha256",
    "sha256",
    "added_lines",
    "removed_lines",
    "similarity",
    "fields_changed",
    "body_changed",
];

const PAIR_KEYS: [&str; 9] = [
    "id",
    "lang",
    "state",
    "path",
    "source_path",
    "since",
    "synced_at",
    "source_sha256_then",
    "source_sha256_now",
];

fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn sorted<const N: usize>(mut k: [&'static str; N]) -> Vec<&'static str> {
    k.sort_unstable();
    k.to_vec()
}

/// `kbrel diff --json` output: both strict parsers accept it, every change has exactly the
/// documented keys, and it is the canonical JSON of the parsed value.
fn check_diff_json(text: &str) -> kbrel::manifest::DiffFile {
    let lib: kbrel::manifest::DiffFile = serde_json::from_str(text).expect("library DiffFile");
    let mirror: DiffJson = serde_json::from_str(text).expect("test mirror of the diff JSON");
    assert_eq!(mirror.schema_version, kbrel::manifest::SCHEMA_VERSION);
    assert_eq!(mirror.changes.len(), lib.changes.len());
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let top = keys(&value);
    assert_eq!(
        top,
        ["changes", "from", "name", "schema_version", "summary", "to"]
    );
    for (c, m) in value["changes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&mirror.changes)
    {
        let mut expected = sorted(CHANGE_KEYS);
        if m.approximate.is_some() {
            assert_eq!(
                m.approximate,
                Some(true),
                "approximate is only written when true"
            );
            expected.push("approximate");
            expected.sort_unstable();
        }
        assert_eq!(keys(c), expected);
        assert_eq!(m.status == StatusLetter::Renamed, m.similarity.is_some());
        assert_eq!(m.status == StatusLetter::Added, m.old_sha256.is_none());
        assert_eq!(m.status == StatusLetter::Removed, m.sha256.is_none());
    }
    for counts in value["summary"].as_object().unwrap().values() {
        assert_eq!(
            keys(counts),
            sorted([
                "documents",
                "added",
                "modified",
                "removed",
                "renamed",
                "added_lines",
                "removed_lines"
            ])
        );
    }
    assert_eq!(
        String::from_utf8(kbrel::manifest::to_json_bytes(&lib)).unwrap(),
        text,
        "canonical bytes"
    );
    lib
}

/// `status --json` read through the library's strict type (`StatusReport`, what the binary
/// prints), every key present (the optional ones as `null`).
fn check_status_json(text: &str) -> StatusReport {
    let s: StatusReport = serde_json::from_str(text).expect("the library's StatusReport");
    assert_eq!(s.schema_version, kbrel::manifest::SCHEMA_VERSION);
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(keys(&value), ["counts", "schema_version", "translations"]);
    for t in value["translations"].as_array().unwrap() {
        assert_eq!(keys(t), sorted(PAIR_KEYS));
    }
    s
}

/// The registry files of a publish parse into the library's strict types and are their
/// canonical serialisation.
fn check_registry_json(p: &Project) -> kbrel::manifest::Index {
    let index: kbrel::manifest::Index = p.read_json("index.json");
    let reg = |rel: &str| fs::read(p.reg(rel)).unwrap();
    assert_eq!(kbrel::manifest::to_json_bytes(&index), reg("index.json"));
    kbrel::manifest::parse_index(&reg("index.json"), Path::new("index.json")).unwrap();
    for v in &index.versions {
        let m: kbrel::manifest::Manifest = p.read_json(&v.manifest.path);
        assert_eq!(
            kbrel::manifest::to_json_bytes(&m),
            reg(&v.manifest.path),
            "{}",
            v.manifest.path
        );
        kbrel::manifest::parse_manifest(&reg(&v.manifest.path), Path::new("m")).unwrap();
        let diff_text = String::from_utf8(reg(&v.diff.path)).unwrap();
        let d = check_diff_json(&diff_text);
        kbrel::manifest::parse_diff(diff_text.as_bytes(), Path::new("d")).unwrap();
        assert_eq!(
            (d.from.as_deref(), d.to.as_str()),
            (
                v.previous.as_ref().map(ToString::to_string).as_deref(),
                v.version.to_string().as_str()
            )
        );
        // `kbrel diff <previous> <version> --json` prints the stored diff, byte for byte.
        if let Some(prev) = &v.previous {
            let prev = &prev.to_string();
            let printed = p
                .run(None, &["diff", prev, &v.version.to_string(), "--json"])
                .ok()
                .stdout;
            assert_eq!(
                printed, diff_text,
                "kbrel diff {prev} {} --json vs {}",
                v.version, v.diff.path
            );
        }
    }
    index
}

#[test]
fn json_formats_of_the_fixtures() {
    for case in [
        "modify",
        "rename-id",
        "rename-path",
        "front-matter",
        "add",
        "remove",
    ] {
        let f = Fixture::publish(case);
        let index = check_registry_json(&f.project);
        assert_eq!(index.versions.len(), 2);
        check_diff_json(&f.run(&["diff", "1.0.0", ".", "--json"]).ok().stdout);
        check_status_json(&f.run(&["status", "--json"]).ok().stdout);
    }
    let f = Fixture::publish("drift");
    let s = check_status_json(&f.run(&["status", "--json"]).ok().stdout);
    let states: Vec<(&str, Drift)> = s
        .translations
        .iter()
        .map(|t| (t.id.as_str(), t.state))
        .collect();
    assert_eq!(
        states,
        [
            ("a", Drift::Outdated),
            ("b", Drift::Current),
            ("c", Drift::Current),
            ("e", Drift::Missing),
            ("guide/d", Drift::Orphaned)
        ]
    );
    let a = &s.translations[0];
    assert_eq!(
        (a.since.as_deref(), a.synced_at.as_deref()),
        (Some("."), Some("1.0.0"))
    );
    assert!(a.source_sha256_then.is_some() && a.source_sha256_now.is_some());
    assert_eq!(s.counts["zh"].current, 2);
}

// ---------------------------------------------------------------------------------------------
// Line counts equal git's

/// Lines drawn from a small alphabet, so that texts share many repeated lines (the hard case
/// for a minimal diff); CJK lines and an empty line included.
const ALPHABET: [&str; 9] = [
    "a",
    "b",
    "c",
    "",
    "提高效率",
    "提升效率",
    "## 标题",
    "| x | y |",
    "```",
];

/// Apply edit operations `(kind, position, line)` to a list of line indices.
fn mutate(lines: &[usize], ops: &[(u8, usize, usize)]) -> Vec<usize> {
    let mut out = lines.to_vec();
    for &(kind, pos, line) in ops {
        let at = if out.is_empty() {
            0
        } else {
            pos % (out.len() + 1)
        };
        match kind % 3 {
            0 if at < out.len() => {
                out.remove(at);
            }
            1 if at < out.len() => out[at] = line,
            _ => out.insert(at, line),
        }
    }
    out
}

fn render(lines: &[usize], alphabet: &[&str], final_newline: bool) -> String {
    let mut s: String = lines
        .iter()
        .map(|&i| format!("{}\n", alphabet[i % alphabet.len()]))
        .collect();
    if !final_newline {
        s.pop();
    }
    s
}

prop_compose! {
    fn small_lines()(v in proptest::collection::vec(0..ALPHABET.len(), 0..30)) -> Vec<usize> { v }
}

prop_compose! {
    fn large_lines()(v in proptest::collection::vec(0..ALPHABET.len(), 600..1200)) -> Vec<usize> { v }
}

prop_compose! {
    fn edits()(v in proptest::collection::vec((0u8..3, 0usize..2000, 0..ALPHABET.len()), 0..12))
        -> Vec<(u8, usize, usize)> { v }
}

/// A pair of texts: unrelated small ones, an edited one, or unrelated large ones (past the
/// point where heuristic diff algorithms stop being minimal).
fn text_pair() -> impl Strategy<Value = (String, String)> {
    let eols = (any::<bool>(), any::<bool>());
    prop_oneof![
        3 => (small_lines(), small_lines(), eols)
            .prop_map(|(a, b, (ea, eb))| (render(&a, &ALPHABET, ea), render(&b, &ALPHABET, eb))),
        4 => (small_lines(), edits(), eols).prop_map(|(a, ops, (ea, eb))| {
            (render(&a, &ALPHABET, ea), render(&mutate(&a, &ops), &ALPHABET, eb))
        }),
        1 => (large_lines(), large_lines(), eols)
            .prop_map(|(a, b, (ea, eb))| (render(&a, &ALPHABET, ea), render(&b, &ALPHABET, eb))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// `line_counts` equals `git diff --no-index --numstat --minimal`.
    #[test]
    fn line_counts_equal_git_numstat_minimal((old, new) in text_pair()) {
        let dir = tempfile::tempdir().unwrap();
        let expected = git_numstat(dir.path(), &old, &new);
        prop_assert_eq!(kbrel::diff::line_counts(&old, &new), expected);
        // And in the other direction.
        prop_assert_eq!(kbrel::diff::line_counts(&new, &old), (expected.1, expected.0));
    }
}

#[test]
fn line_counts_edge_cases_equal_git() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("", ""),
        ("", "a"),
        ("a", ""),
        ("a", "a\n"),
        ("a\n", "a"),
        ("a\nb", "a\nb\n"),
        ("\n", ""),
        ("\n\n\n", "\n"),
        ("提高效率\n", "提升效率\n"),
        ("提高效率", "提高效率\n提升效率"),
        ("a\r\nb\n", "a\nb\n"),
        ("x\ny\nx\ny\n", "y\nx\ny\nx\n"),
    ];
    for (old, new) in cases {
        assert_eq!(
            kbrel::diff::line_counts(old, new),
            git_numstat(dir.path(), old, new),
            "{old:?} → {new:?}"
        );
    }
}

/// The real embedded guide, published as 1.0.0, then edited (lines duplicated, deleted,
/// reordered, rewritten, final newlines dropped; a page added) and published as 1.1.0.
struct Guide {
    project: Project,
    content: PathBuf,
}

fn guide() -> Guide {
    let project = Project::from_config(&guide_dir().join("kbrel.toml"));
    let content = project.root().join("content");
    copy_dir(&guide_dir().join("content"), &content);
    project.publish(&content, "1.0.0");
    for (i, (rel, bytes)) in tree(&content).into_iter().enumerate() {
        let text = String::from_utf8(bytes).unwrap();
        fs::write(content.join(&rel), edit_guide_page(i, &text)).unwrap();
    }
    let extra = "---\ntitle: Extra\ndescription: An added page.\ndate: 2026-11-26\n\
                 url: \"https://kbrel.dev/en/guide/extra\"\n---\n\n# Extra\n\nNew.\n";
    fs::write(content.join("en/extra.md"), extra).unwrap();
    project.publish(&content, "1.1.0");
    Guide { project, content }
}

/// A line that can be deleted, duplicated or moved without breaking the page's structure
/// (headings, fences, tables, HTML and links stay intact).
fn plain(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty()
        && !t.starts_with(['#', '`', '|', '<', '[', '!', '-', '*', '>', '~'])
        && !line.starts_with([' ', '\t'])
        && !t.contains(['<', '`', '[', ']'])
        && !t.starts_with(char::is_numeric)
}

fn edit_guide_page(i: usize, text: &str) -> String {
    let body_start = text[4..].find("\n---\n").map_or(0, |p| p + 4 + 5);
    let (front, body) = text.split_at(body_start);
    let mut lines: Vec<String> = body.split_inclusive('\n').map(String::from).collect();
    let plain_at: Vec<usize> = (0..lines.len())
        .filter(|&j| plain(&lines[j]) && lines[j].ends_with('\n'))
        .collect();
    match i % 5 {
        // Duplicate every third plain line.
        0 => {
            for &j in plain_at.iter().rev().step_by(3) {
                let l = lines[j].clone();
                lines.insert(j, l);
            }
        }
        // Delete every fourth plain line.
        1 => {
            for &j in plain_at.iter().rev().step_by(4) {
                lines.remove(j);
            }
        }
        // Reverse the order of the plain lines (they trade places with each other).
        2 => {
            let rev: Vec<String> = plain_at.iter().rev().map(|&j| lines[j].clone()).collect();
            for (&j, l) in plain_at.iter().zip(rev) {
                lines[j] = l;
            }
        }
        // Rewrite words and characters, and add blank lines.
        3 => {
            for l in lines.iter_mut().filter(|l| plain(l)) {
                *l = l
                    .replace(" the ", " a ")
                    .replace("的", "之")
                    .replace("。", "！");
            }
            lines.insert(lines.len() / 2, "\n".into());
            lines.push("\n".into());
        }
        // Move the first half of the plain lines to the end of the page as a new paragraph.
        _ => {
            let moved: Vec<String> = plain_at[..plain_at.len() / 2]
                .iter()
                .map(|&j| lines[j].clone())
                .collect();
            for &j in plain_at[..plain_at.len() / 2].iter().rev() {
                lines.remove(j);
            }
            lines.push("\n".into());
            lines.extend(moved);
        }
    }
    let mut out = format!("{front}{}", lines.concat());
    if i.is_multiple_of(3) {
        while out.ends_with('\n') {
            out.pop();
        }
    }
    out
}

/// Every document's `+added -removed` in `kbrel diff --json` equals git's count of the two
/// stored (normalised) texts.
#[test]
fn guide_line_counts_equal_git_numstat_minimal() {
    let g = guide();
    let diff = check_diff_json(
        &g.project
            .run(None, &["diff", "1.0.0", "1.1.0", "--json"])
            .ok()
            .stdout,
    );
    let pages = tree(&guide_dir().join("content"))
        .keys()
        .filter(|p| p.ends_with(".md"))
        .count();
    assert_eq!(
        diff.changes.len(),
        pages + 1,
        "every page was edited and one added"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut total = (0, 0);
    for c in &diff.changes {
        let (old, new) = (
            g.project.blob(c.old_sha256.as_deref()),
            g.project.blob(c.sha256.as_deref()),
        );
        let git = git_numstat(dir.path(), &old, &new);
        assert_eq!(
            (c.added_lines, c.removed_lines),
            git,
            "{}/{}",
            c.lang,
            c.path
        );
        total = (total.0 + git.0, total.1 + git.1);
    }
    let s = &diff.summary;
    assert_eq!(
        (
            s["en"].added_lines + s["zh"].added_lines,
            s["en"].removed_lines + s["zh"].removed_lines
        ),
        total
    );
    // The stat lines say the same.
    let stat = g
        .project
        .run(None, &["diff", "1.0.0", "1.1.0", "--color", "never"])
        .ok()
        .stdout;
    let totals = stat_totals(&stat);
    for c in &diff.changes {
        let name = format!("{}/{}", c.lang, c.path);
        assert_eq!(
            totals.get(&name),
            Some(&(c.added_lines + c.removed_lines)),
            "{name} in\n{stat}"
        );
    }
}

#[test]
fn guide_json_formats_and_patch() {
    let g = guide();
    let index = check_registry_json(&g.project);
    assert_eq!(index.versions.len(), 2);
    assert_eq!(index.dist_tags["latest"].to_string(), "1.1.0");
    check_status_json(
        &g.project
            .run(Some(&g.content), &["status", "--json"])
            .ok()
            .stdout,
    );
    // The patch between the two releases turns the original guide into the edited one.
    let patch = g
        .project
        .run(None, &["diff", "1.0.0", "1.1.0", "--patch"])
        .ok()
        .stdout;
    assert_patch_applies(&guide_dir().join("content"), &g.content, &patch);
}

// ---------------------------------------------------------------------------------------------
// Patches apply

/// Document paths inside a language folder: nested, with a space, in Chinese.
const PATHS: [&str; 7] = [
    "a.md",
    "b.md",
    "guide/c.md",
    "guide/deep/d.md",
    "指南/入门.md",
    "my page.md",
    "e.md",
];
const EN_LINES: [&str; 6] = ["Alpha.", "Beta.", "", "Gamma delta.", "Same line.", "End."];
const ZH_LINES: [&str; 6] = [
    "提高效率。",
    "提升效率。",
    "",
    "第一步：安装。",
    "同一行。",
    "结束。",
];

/// One document identity across the two versions: where it is and what it says before, and
/// what happens to it (removed, edited in place, or moved and edited).
#[derive(Debug, Clone)]
struct DocPlan {
    before: Option<(usize, Vec<usize>, bool)>,
    fate: u8,
    after_path: usize,
    ops: Vec<(u8, usize, usize)>,
    after_eol: bool,
}

fn doc_plan() -> impl Strategy<Value = DocPlan> {
    (
        proptest::option::weighted(
            0.8,
            (
                0..PATHS.len(),
                proptest::collection::vec(0..6usize, 0..12),
                any::<bool>(),
            ),
        ),
        0u8..4,
        0..PATHS.len(),
        proptest::collection::vec((0u8..3, 0usize..20, 0..6usize), 0..5),
        any::<bool>(),
    )
        .prop_map(|(before, fate, after_path, ops, after_eol)| DocPlan {
            before,
            fate,
            after_path,
            ops,
            after_eol,
        })
}

/// `lang/path → text` for both versions. Identity `k` is English when even; identities 0
/// and 1 exist on both sides so that neither language folder is ever empty.
fn build_versions(plans: &[DocPlan]) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    for (k, plan) in plans.iter().enumerate() {
        let (lang, alphabet, header) = if k % 2 == 0 {
            ("en", &EN_LINES, format!("# Doc {k}\n"))
        } else {
            ("zh", &ZH_LINES, format!("# 文档 {k}\n"))
        };
        let text = |lines: &[usize], eol: bool| {
            let body = render(lines, alphabet, eol);
            if body.is_empty() && !eol {
                header.trim_end().to_string()
            } else {
                format!("{header}{body}")
            }
        };
        let (mut lines, mut path) = (Vec::new(), plan.after_path);
        let always = k < 2;
        if let Some((p, l, eol)) = &plan.before {
            let key = format!("{lang}/{}", PATHS[*p]);
            if let Entry::Vacant(slot) = before.entry(key) {
                slot.insert(text(l, *eol));
                (lines, path) = (l.clone(), if plan.fate == 2 { plan.after_path } else { *p });
            }
        } else if always {
            before
                .entry(format!("{lang}/{}", PATHS[k]))
                .or_insert_with(|| text(&[], true));
            path = k;
        }
        if plan.fate == 0 && plan.before.is_some() && !always {
            continue;
        }
        let key = format!("{lang}/{}", PATHS[path]);
        if let Entry::Vacant(slot) = after.entry(key) {
            slot.insert(text(&mutate(&lines, &plan.ops), plan.after_eol));
        }
    }
    (before, after)
}

const PLAIN_CONFIG: &str = "[package]\nname = \"prop\"\n\n[content]\nlanguages = [\"en\", \"zh\"]\npairing = \"path\"\nrequired_fields = []\n";

/// Publish two document sets and apply `kbrel diff 1.0.0 1.1.0 --patch` with `git apply`.
fn patch_round_trip(
    config: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> String {
    let p = Project::new(config);
    let (b, a) = (p.root().join("before"), p.root().join("after"));
    write_tree(&b, before);
    write_tree(&a, after);
    p.publish(&b, "1.0.0");
    p.publish(&a, "1.1.0");
    let patch = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--patch"])
        .ok()
        .stdout;
    assert_patch_applies(&b, &a, &patch);
    // The same patch, one language at a time, applies too.
    let en = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--patch", "--lang", "en"])
        .ok()
        .stdout;
    let zh = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--patch", "--lang", "zh"])
        .ok()
        .stdout;
    assert_eq!(format!("{en}{zh}"), patch);
    patch
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// `git apply` of the patch in a copy of the old content yields the new content.
    #[test]
    fn patches_apply_with_git_apply(plans in proptest::collection::vec(doc_plan(), 2..9)) {
        let (before, after) = build_versions(&plans);
        patch_round_trip(PLAIN_CONFIG, &before, &after);
    }
}

/// Regressions for the patch headers `git apply` is picky about.
#[test]
fn patches_apply_in_the_tricky_cases() {
    let map = |items: &[(&str, &str)]| -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    };
    let cases: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> = vec![
        // Final newline removed and added back; a document without any newline.
        (
            map(&[("en/a.md", "# A\nx\n"), ("zh/a.md", "# 甲\n一")]),
            map(&[("en/a.md", "# A\nx"), ("zh/a.md", "# 甲\n一\n")]),
        ),
        // Added, removed and emptied-to-one-line documents (/dev/null sides).
        (
            map(&[
                ("en/a.md", "# A\n"),
                ("en/old.md", "# Old\nbye\n"),
                ("zh/a.md", "# 甲\n"),
            ]),
            map(&[
                ("en/a.md", "# A\n"),
                ("en/new.md", "# New\nhi"),
                ("zh/a.md", "# 甲\n"),
                ("zh/新.md", "# 新\n"),
            ]),
        ),
        // Pure rename (no hunk), rename with edits, into a new folder, with a space and CJK.
        (
            map(&[
                ("en/a.md", "# A\n1\n2\n3\n"),
                ("en/b.md", "# B\nsame\n"),
                ("zh/指南/旧.md", "# 旧\n一\n二\n"),
            ]),
            map(&[
                ("en/x/a b.md", "# A\n1\n2\n3\n4\n"),
                ("en/c.md", "# B\nsame\n"),
                ("zh/指南/新 页.md", "# 旧\n一\n二"),
            ]),
        ),
        // Two documents swap paths.
        (
            map(&[
                ("en/a.md", "# A\nalpha\nalpha\n"),
                ("en/b.md", "# B\nbeta\nbeta\n"),
                ("zh/a.md", "# 甲\n"),
            ]),
            map(&[
                ("en/b.md", "# A\nalpha\nalpha\n"),
                ("en/a.md", "# B\nbeta\nbeta\n"),
                ("zh/a.md", "# 甲\n"),
            ]),
        ),
        // With path pairing, a document moved while a new one takes its old path is a
        // modification plus an addition.
        (
            map(&[("en/a.md", "# A\none\ntwo\nthree\n"), ("zh/a.md", "# 甲\n")]),
            map(&[
                ("en/b.md", "# A\none\ntwo\nthree\n"),
                ("en/a.md", "# Fresh\n"),
                ("zh/a.md", "# 甲\n"),
            ]),
        ),
    ];
    for (before, after) in &cases {
        patch_round_trip(PLAIN_CONFIG, before, after);
    }
}

/// With `front-matter:id` pairing, renames are by id: paths can swap, and a new document can
/// take a renamed one's old path, in one patch.
#[test]
fn patches_apply_when_ids_move_between_paths() {
    let config = PLAIN_CONFIG.replace("pairing = \"path\"", "pairing = \"front-matter:id\"");
    let doc = |id: &str, body: &str| format!("---\nid: {id}\n---\n\n# {id}\n{body}");
    let map = |items: Vec<(&str, String)>| -> BTreeMap<String, String> {
        items.into_iter().map(|(p, t)| (p.to_string(), t)).collect()
    };
    let zh = || ("zh/z.md", doc("z", "中文\n"));
    let cases = [
        // x and y swap paths (and y is edited).
        (
            map(vec![
                ("en/a.md", doc("x", "one\ntwo\n")),
                ("en/b.md", doc("y", "three\n")),
                zh(),
            ]),
            map(vec![
                ("en/b.md", doc("x", "one\ntwo\n")),
                ("en/a.md", doc("y", "three\nfour")),
                zh(),
            ]),
        ),
        // x moves to b.md, the new w takes a.md.
        (
            map(vec![("en/a.md", doc("x", "one\ntwo\n")), zh()]),
            map(vec![
                ("en/b.md", doc("x", "one\ntwo\nthree\n")),
                ("en/a.md", doc("w", "fresh\n")),
                zh(),
            ]),
        ),
        // x is replaced by the new w at its path: a modification of a.md whose id changed
        // (it used to be a removal and an addition, and the addition sorted first, which
        // `git apply` refused).
        (
            map(vec![("en/a.md", doc("x", "one\ntwo\n")), zh()]),
            map(vec![("en/a.md", doc("w", "three\nfour\nfive\n")), zh()]),
        ),
        // Regression: y is removed and x renamed onto its path (rename used to come first).
        (
            map(vec![
                ("en/a.md", doc("x", "1\n2\n")),
                ("en/b.md", doc("y", "3\n")),
                zh(),
            ]),
            map(vec![("en/b.md", doc("x", "1\n2\n")), zh()]),
        ),
        // A three-way rotation, one of them into a subfolder.
        (
            map(vec![
                ("en/a.md", doc("x", "1\n")),
                ("en/b.md", doc("y", "2\n")),
                ("en/c.md", doc("v", "3\n")),
                zh(),
            ]),
            map(vec![
                ("en/b.md", doc("x", "1\n")),
                ("en/sub/c.md", doc("y", "2\n")),
                ("en/a.md", doc("v", "3\n")),
                zh(),
            ]),
        ),
    ];
    for (before, after) in &cases {
        let patch = patch_round_trip(&config, before, after);
        assert!(
            patch.contains("rename from en/a.md\n")
                || patch.contains("deleted file mode")
                || patch.contains("--- a/en/a.md\n+++ b/en/a.md\n"),
            "{patch}"
        );
    }
}

/// Regression: a document whose bundle key changed but whose text did not is a change
/// (+0 -0), but its patch used to be a bare `diff --git` header, which makes `git apply`
/// reject the whole patch ("No valid patches" / "bad git-diff").
#[test]
fn key_only_changes_add_nothing_to_the_patch() {
    let p = Project::new(PLAIN_CONFIG);
    let (b, a) = (p.root().join("before"), p.root().join("after"));
    let files = |extra: &str| -> BTreeMap<String, String> {
        [
            ("en/a.md", "# A\n\nSame text.\n".to_string()),
            ("zh/a.md", "# 甲\n\n同样。\n".to_string()),
            ("en/b.md", format!("# B\n{extra}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    write_tree(&b, &files(""));
    write_tree(&a, &files("edited\n"));
    p.publish(&b, "1.0.0");
    fs::write(
        p.root().join("kbrel.toml"),
        format!("{PLAIN_CONFIG}\n[content.keys.en]\nAlpha = \"a.md\"\n"),
    )
    .unwrap();
    p.publish(&a, "1.1.0");
    let stat = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--color", "never"])
        .ok()
        .stdout;
    assert!(stat.starts_with(" en/a.md | 0\n en/b.md | 1 +\n"), "{stat}");
    let json: kbrel::manifest::DiffFile = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--json"])
        .ok()
        .json();
    assert_eq!(
        (
            json.changes[0].key.as_str(),
            json.changes[0].old_key.as_deref()
        ),
        ("Alpha", Some("a"))
    );
    let patch = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--patch"])
        .ok()
        .stdout;
    assert!(!patch.contains("a/en/a.md"), "{patch}");
    assert_patch_applies(&b, &a, &patch);
}

// ---------------------------------------------------------------------------------------------
// Enormous documents

/// A ~52 MB document pair: 800,000 numbered lines with a blank line every tenth, and
/// scattered edits whose minimal counts are known by construction: replaced, deleted and
/// inserted lines, and a block of nine lines moved far away.
fn enormous_pair() -> (String, String, (u64, u64)) {
    const LINES: usize = 800_000;
    let line = |i: usize| -> String {
        if i.is_multiple_of(10) {
            "\n".to_string()
        } else {
            format!("{i:07} The quick brown fox jumps over the lazy dog; 敏捷的狐狸。\n")
        }
    };
    let mut old = String::with_capacity(LINES * 70);
    let mut new = String::with_capacity(LINES * 70);
    let (mut added, mut removed) = (0, 0);
    let moved: Vec<usize> = (100_001..=100_009).collect();
    for i in 0..LINES {
        let l = line(i);
        old.push_str(&l);
        if i.is_multiple_of(10) {
            new.push_str(&l);
        } else if moved.contains(&i) {
            removed += 1;
        } else if i % 9_973 == 1 {
            new.push_str(&format!("{i:07} replaced\n"));
            (added, removed) = (added + 1, removed + 1);
        } else if i % 12_007 == 2 {
            removed += 1;
        } else if i % 15_013 == 3 {
            new.push_str(&format!("{i:07} inserted\n"));
            new.push_str(&l);
            added += 1;
        } else {
            new.push_str(&l);
        }
        if i == 600_005 {
            for &m in &moved {
                new.push_str(&line(m));
                added += 1;
            }
        }
    }
    (old, new, (added, removed))
}

#[test]
fn enormous_documents_with_scattered_edits_are_counted_exactly() {
    let (old, new, expected) = enormous_pair();
    assert!(old.len() > 50_000_000, "{}", old.len());
    let c = kbrel::diff::count_lines(&old, &new);
    assert_eq!((c.added, c.removed), expected);
    assert!(!c.approximate, "scattered edits are counted exactly");
    assert_eq!(
        kbrel::diff::line_counts(&new, &old),
        (expected.1, expected.0)
    );
    // And git agrees.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(git_numstat(dir.path(), &old, &new), expected);
}

/// Two unrelated 100,000-line documents of two repeated lines: an exact count would take
/// minutes, so it stops at the time limit, reports a valid (not minimal) count and says so.
#[test]
fn enormous_heavily_edited_documents_are_flagged_approximate() {
    let noise = |seed: u64| -> String {
        let mut x = seed;
        (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(2) { "a\n" } else { "b\n" }
            })
            .collect()
    };
    let p = Project::new(PLAIN_CONFIG);
    let (b, a) = (p.root().join("before"), p.root().join("after"));
    let mut files = BTreeMap::from([("zh/a.md".to_string(), "# 甲\n".to_string())]);
    files.insert("en/big.md".into(), format!("# Big\n{}", noise(1)));
    write_tree(&b, &files);
    files.insert("en/big.md".into(), format!("# Big\n{}", noise(2)));
    write_tree(&a, &files);
    p.publish(&b, "1.0.0");
    p.publish(&a, "1.1.0");
    let stored: kbrel::manifest::DiffFile = p.read_json("v/1.1.0/diff.json");
    check_diff_json(&fs::read_to_string(p.reg("v/1.1.0/diff.json")).unwrap());
    let c = &stored.changes[0];
    assert!(c.approximate, "{c:?}");
    // A valid edit script: both sides have 100,001 lines, and nothing is counted twice.
    assert_eq!(c.added_lines, c.removed_lines);
    assert!(c.added_lines > 0 && c.added_lines <= 100_000, "{c:?}");
    // The count depends on how far the search got in time, so it may differ from run to run.
    let run = p
        .run(None, &["diff", "1.0.0", "1.1.0", "--color", "never"])
        .ok()
        .stderr_has("en/big.md: line counts are approximate");
    let total = stat_totals(&run.stdout)["en/big.md"];
    assert!(total.is_multiple_of(2) && total <= 200_000, "{run}");
}
