//! End-to-end tests of kbrel's git integration through the real binary, on real repositories
//! built with the `git` command in temporary directories: `kbrel import --from-git`, the global
//! `--from-git REV` (and `--config-from-rev`), `git:<rev>` diff sides, commits in the changelog,
//! and what `publish` does inside a repository (commit recorded, dirty refusal, annotated tag).
//!
//! Every test builds its own repository with fixed author/committer dates, so commit ids are
//! deterministic, and never touches anything outside its temporary directory.

use crate::common;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{CheckJson, Run, read_as, sha1_hex, sha256_hex, sha512_sri};
use kbrel::changelog::{ChangelogContext, Entry, LanguageSection, ReleaseContext};
use kbrel::findings::Severity;
use kbrel::import::ImportReport;
use kbrel::manifest::{ChangeStatus, DiffFile, DocChange, GitInfo, Index, IndexVersion, Manifest};
use kbrel::publish::{Outcome, PublishReport};
use tempfile::TempDir;

const NAME: &str = "git-kb";
/// 2024-01-01T00:00:00Z: the first commit of every repository.
const EPOCH0: i64 = 1_704_067_200;
const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// Helpers

/// RFC 3339 UTC of a Unix time, as kbrel writes it.
fn rfc3339(epoch: i64) -> String {
    let days = epoch.div_euclid(DAY);
    let secs = epoch.rem_euclid(DAY);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A `git` command with no user or system configuration and a fixed identity and date.
fn git_cmd(dir: &Path, epoch: i64) -> Command {
    let mut cmd = Command::new("git");
    // A non-UTC zone: kbrel must use the instant, not the local wall-clock time.
    let date = format!("{epoch} +0200");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "core.autocrlf=false",
        ]);
    cmd
}

fn run_git(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().expect("run git");
    let run = Run::from_output_lossy(out);
    assert_eq!(run.code, 0, "git {what} failed\n{run}");
    run.stdout.trim_end().to_string()
}

/// Run git in `dir` at `epoch`.
fn git_in(dir: &Path, epoch: i64, args: &[&str]) -> String {
    let mut cmd = git_cmd(dir, epoch);
    cmd.args(args);
    run_git(cmd, &args.join(" "))
}

/// The `kbrel` binary with a clean environment.
fn kbrel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kbrel"));
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("NO_COLOR", "1");
    cmd
}

fn kbrel_run(dir: &Path, args: &[&OsStr]) -> Run {
    Run::from_output_lossy(
        kbrel()
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run kbrel"),
    )
}

fn config_toml(name: &str, root: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
description = "kbrel git integration test knowledge base"
license = "MIT"

[content]
root = "{root}"
languages = ["en", "zh"]
source_language = "en"
pairing = "path"
required_fields = ["title", "description", "date", "url", "key"]

[registry]
dir = "../registry"

[changelog]
path = "../CHANGELOG.md"
"#
    )
}

/// A complete document: front matter (title, description, date, url, key) and a body.
fn doc(lang: &str, id: &str, title: &str, body: &str) -> String {
    let key = id.replace('/', "-");
    format!(
        "---\ntitle: {title}\ndescription: {title} ({lang}).\ndate: 2024-01-01\nurl: \"https://kb.example.com/{lang}/{key}\"\nkey: {key}\n---\n\n# {title}\n\n{body}\n"
    )
}

const INTRO_EN: &str = "This knowledge base explains how to install the agent.\n\nEvery page exists in English and in Chinese.\n\nPages are short on purpose: one task per page.";
const INTRO_ZH: &str = "本知识库介绍如何安装代理。\n\n每个页面都有英文版和中文版。\n\n页面刻意保持简短：每页只讲一项任务。";
const GUIDE_EN: &str = "Download the package for your platform.\n\nUnpack it into a folder of your choice.\n\nRun the installer and follow the prompts.\n\nRestart the agent when the installer finishes.";
const GUIDE_ZH: &str = "下载适合您平台的软件包。\n\n将其解压到您选择的文件夹。\n\n运行安装程序并按照提示操作。\n\n安装完成后重新启动代理。";

/// A repository (work tree `<tmp>/wt`) holding a knowledge base, with the registry at
/// `<tmp>/registry` and the changelog at `<tmp>/CHANGELOG.md`, both outside the work tree.
struct Fx {
    tmp: TempDir,
    clock: Cell<i64>,
}

impl Fx {
    /// An initialised repository with the base knowledge base written (not committed).
    fn new() -> Fx {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-git-")
            .tempdir()
            .expect("tempdir");
        let fx = Fx {
            tmp,
            clock: Cell::new(EPOCH0),
        };
        fs::create_dir_all(fx.wt()).expect("mkdir wt");
        fx.git(&["init", "-q", "-b", "main"]);
        fx.write("kbrel.toml", &config_toml(NAME, "content"));
        fx.write_doc("intro", "Introduction", "简介", INTRO_EN, INTRO_ZH);
        fx.write_doc("guide", "Setup guide", "安装指南", GUIDE_EN, GUIDE_ZH);
        fx
    }

    /// [`new`](Self::new) plus a first commit.
    fn committed() -> Fx {
        let fx = Fx::new();
        fx.commit("Initial content");
        fx
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn wt(&self) -> PathBuf {
        self.root().join("wt")
    }

    fn registry(&self) -> PathBuf {
        self.root().join("registry")
    }

    fn changelog(&self) -> PathBuf {
        self.root().join("CHANGELOG.md")
    }

    fn config(&self) -> PathBuf {
        self.wt().join("kbrel.toml")
    }

    /// The next commit time: one day after the previous one.
    fn tick(&self) -> i64 {
        let t = self.clock.get() + DAY;
        self.clock.set(t);
        t
    }

    fn now(&self) -> i64 {
        self.clock.get()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.wt().join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, text).expect("write");
    }

    fn write_doc(&self, id: &str, en_title: &str, zh_title: &str, en: &str, zh: &str) {
        self.write(&format!("content/en/{id}.md"), &doc("en", id, en_title, en));
        self.write(&format!("content/zh/{id}.md"), &doc("zh", id, zh_title, zh));
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.wt().join(rel)).expect("read")
    }

    /// Replace `from` by `to` in a work tree file.
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} lacks {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// git in the work tree at the current clock.
    fn git(&self, args: &[&str]) -> String {
        git_in(&self.wt(), self.now(), args)
    }

    /// Stage everything and commit (a day after the previous commit); returns the commit id.
    fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.commit_index(msg)
    }

    /// Commit the index as it is (a day after the previous commit); returns the commit id.
    fn commit_index(&self, msg: &str) -> String {
        self.tick();
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.rev("HEAD")
    }

    /// An annotated tag at HEAD, tagged `after` seconds after the last commit.
    fn annotated_tag(&self, name: &str, after: i64) -> i64 {
        let t = self.now() + after;
        git_in(
            &self.wt(),
            t,
            &["tag", "-a", name, "-m", &format!("Release {name}")],
        );
        t
    }

    fn lightweight_tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", &format!("{rev}^{{commit}}")])
    }

    /// `kbrel --config <wt>/kbrel.toml <args…>` run in the work tree.
    fn kbrel(&self, args: &[&str]) -> Run {
        let config = self.config();
        let mut v: Vec<&OsStr> = vec![OsStr::new("--config"), config.as_os_str()];
        v.extend(args.iter().map(OsStr::new));
        kbrel_run(&self.wt(), &v)
    }

    /// `kbrel import --from-git <args…>` into the fixture registry.
    fn import(&self, args: &[&str]) -> Run {
        let mut v = vec!["import", "--from-git"];
        v.extend_from_slice(args);
        self.kbrel(&v)
    }

    fn index(&self) -> Index {
        read_as(&self.registry().join("index.json"))
    }

    fn manifest(&self, version: &str) -> Manifest {
        read_as(&self.registry().join(format!("v/{version}/manifest.json")))
    }
}

/// Every file below `dir` (relative path → sha256); empty when `dir` does not exist.
fn hash_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.expect("dir entry");
            let p = e.path();
            if e.file_type().expect("file type").is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("below base")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, sha256_hex(&fs::read(&p).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The registry's files without the (empty, reusable) lock file.
fn registry_files(dir: &Path) -> BTreeMap<String, String> {
    let mut m = hash_tree(dir);
    m.remove(".lock");
    m
}

/// Check a registry the way a `kbrel verify` would: every blob hashes to its name; the index's
/// manifest, diff and tarball hashes, sizes and npm integrity fields match the files; every
/// manifest agrees with its index entry and names existing blobs of the right size.
fn assert_registry_consistent(reg: &Path) {
    let index: Index = read_as(&reg.join("index.json"));
    assert_eq!(index.schema_version, 1);
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    // Blobs.
    let files = hash_tree(reg);
    let mut blobs = 0;
    for (rel, sha) in &files {
        if let Some(rest) = rel.strip_prefix("blobs/sha256/") {
            let name = rest.replace('/', "");
            assert_eq!(&name, sha, "blob {rel} does not hash to its name");
            assert_eq!(
                &rest[..2],
                &sha[..2],
                "blob {rel} is in the wrong fan-out folder"
            );
            blobs += 1;
        }
    }
    assert!(blobs > 0, "no blobs in {}", reg.display());
    let mut prev_version: Option<semver_like::V> = None;
    for v in &index.versions {
        let version = &*v.version.to_string();
        let this = semver_like::V::parse(version);
        if let Some(p) = &prev_version {
            assert!(p < &this, "index versions are not ascending at {version}");
        }
        prev_version = Some(this);
        for (what, f) in [
            ("manifest", &v.manifest),
            ("diff", &v.diff),
            ("package_json", &v.package_json),
        ] {
            let path = reg.join(&f.path);
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{version} {what}: {e}"));
            assert_eq!(sha256_hex(&bytes), f.sha256, "{version} {what} sha256");
            assert_eq!(bytes.len() as u64, f.size, "{version} {what} size");
            referenced.insert(f.path.clone());
        }
        let t = &v.tarball;
        let tgz = fs::read(reg.join(&t.path)).expect("tarball");
        assert_eq!(sha256_hex(&tgz), t.sha256, "{version} tarball sha256");
        assert_eq!(tgz.len() as u64, t.size, "{version} tarball size");
        assert_eq!(sha1_hex(&tgz), t.shasum, "{version} tarball shasum");
        assert_eq!(sha512_sri(&tgz), t.integrity, "{version} tarball integrity");
        referenced.insert(t.path.clone());

        let m: Manifest = read_as(&reg.join(&v.manifest.path));
        assert_eq!(m.version, v.version);
        assert_eq!(m.published, v.published);
        assert_eq!(m.previous, v.previous);
        assert_eq!(m.content_digest, v.content_digest);
        for d in &m.documents {
            let sha = d.sha256.as_str();
            let blob = reg.join(format!("blobs/sha256/{}/{}", &sha[..2], &sha[2..]));
            let bytes =
                fs::read(&blob).unwrap_or_else(|e| panic!("{version}: blob of {}: {e}", d.path));
            assert_eq!(sha256_hex(&bytes), sha);
            assert_eq!(bytes.len() as u64, d.size);
            referenced.insert(format!("blobs/sha256/{}/{}", &sha[..2], &sha[2..]));
        }
        let diff: DiffFile = read_as(&reg.join(&v.diff.path));
        assert_eq!(diff.to, v.version.to_string());
        assert_eq!(diff.from, v.previous.as_ref().map(ToString::to_string));
        assert_eq!(diff.summary, v.summary);
    }
    for tag_target in index.dist_tags.values() {
        assert!(index.versions.iter().any(|v| v.version == *tag_target));
    }
    // No stray files: everything is the index, the lock, the static npm packument (named after
    // the package), or referenced by the index or a manifest.
    let packument = index.name.as_str();
    for rel in files.keys() {
        assert!(
            rel == "index.json" || rel == ".lock" || rel == packument || referenced.contains(rel),
            "unreferenced registry file {rel}"
        );
    }
    // And kbrel's own verifier agrees.
    let run = Run::from_output_lossy(
        kbrel()
            .current_dir(reg)
            .arg("verify")
            .arg(reg)
            .output()
            .expect("run kbrel verify"),
    );
    assert_eq!(run.code, 0, "kbrel verify {}\n{run}", reg.display());
}

/// Just enough semver ordering for the consistency check (no pre-releases in these tests).
mod semver_like {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    pub struct V(Vec<u64>);
    impl V {
        pub fn parse(s: &str) -> V {
            V(s.split('.')
                .map(|p| p.parse().unwrap_or_else(|_| panic!("bad version {s}")))
                .collect())
        }
    }
}

fn index_entry<'a>(index: &'a Index, version: &str) -> &'a IndexVersion {
    index
        .versions
        .iter()
        .find(|v| v.version.to_string() == version)
        .unwrap_or_else(|| panic!("{version} not in index {index:#?}"))
}

/// The release `version` of a changelog context.
fn release<'a>(ctx: &'a ChangelogContext, version: &str) -> &'a ReleaseContext {
    ctx.releases
        .iter()
        .find(|r| r.version == version)
        .unwrap_or_else(|| panic!("{version} not in the changelog {ctx:#?}"))
}

/// The section of one language of a release.
fn section<'a>(rel: &'a ReleaseContext, lang: &str) -> &'a LanguageSection {
    rel.languages
        .iter()
        .find(|l| l.lang == lang)
        .unwrap_or_else(|| panic!("no {lang} in {rel:#?}"))
}

/// The entry for `path` among `entries`.
fn entry<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {path} in {entries:#?}"))
}

/// The subjects of an entry's commits, newest first.
fn subjects(e: &Entry) -> Vec<String> {
    e.commits.iter().map(|c| c.subject.clone()).collect()
}

/// The git commit a manifest records.
fn git_of(m: &Manifest) -> &kbrel::manifest::GitInfo {
    m.git.as_ref().expect("manifest without git")
}

/// An outcome as `--json` spells it.
fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// The outcome of each imported tag.
fn outcomes(report: &ImportReport) -> Vec<Outcome> {
    report.imported.iter().map(|t| t.outcome).collect()
}

fn versions(index: &Index) -> Vec<String> {
    index
        .versions
        .iter()
        .map(|v| v.version.to_string())
        .collect()
}

/// The documents (`lang/path`) of a manifest.
fn manifest_docs(m: &Manifest) -> Vec<String> {
    m.documents
        .iter()
        .map(|d| format!("{}/{}", d.lang, d.path))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A linear history with mixed tags

struct Linear {
    fx: Fx,
    /// Commit id and the date kbrel must use, per version.
    c100: String,
    d100: i64,
    c110: String,
    d110: i64,
    c120: String,
    d120: i64,
}

/// v1.0.0 (lightweight) → v1.1.0 (annotated, tagged two hours after its commit) → 1.2.0
/// (lightweight, no `v`), plus non-semver tags `release-candidate` and `v1.2` (annotated), and a
/// semver-looking tag on a blob.
fn linear() -> Linear {
    let fx = Fx::committed();
    let c100 = fx.rev("HEAD");
    let d100 = fx.now();
    fx.lightweight_tag("v1.0.0");

    fx.edit(
        "content/en/guide.md",
        "Unpack it into a folder of your choice.",
        "Unpack it into an empty folder.",
    );
    fx.edit(
        "content/zh/guide.md",
        "将其解压到您选择的文件夹。",
        "将其解压到一个空文件夹。",
    );
    fx.commit("Clarify the unpack step");
    fx.lightweight_tag("release-candidate");
    fx.write_doc(
        "faq",
        "FAQ",
        "常见问题",
        "Why does the agent not start?\n\nCheck the log file first.",
        "代理为什么无法启动？\n\n请先查看日志文件。",
    );
    let c110 = fx.commit("Add the FAQ");
    let d110 = fx.annotated_tag("v1.1.0", 7200);
    assert_ne!(d110, fx.now());

    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page.\n\nSearch finds any page by title.",
    );
    fx.edit(
        "content/zh/intro.md",
        "每页只讲一项任务。",
        "每页只讲一项任务。\n\n搜索可以按标题找到任何页面。",
    );
    let c120 = fx.commit("Mention search");
    let d120 = fx.now();
    fx.lightweight_tag("1.2.0");
    fx.annotated_tag("v1.2", 60);
    let blob = fx.git(&["rev-parse", "HEAD:kbrel.toml"]);
    fx.git(&["tag", "v9.9.9", &blob]);
    Linear {
        fx,
        c100,
        d100,
        c110,
        d110,
        c120,
        d120,
    }
}

#[test]
fn import_publishes_every_semver_tag_in_order_dated_by_tag_or_commit() {
    let l = linear();
    let fx = &l.fx;
    let run = fx.import(&["--json"]).success();
    let report: ImportReport = run.parse();
    let imported: Vec<(&str, &str, Outcome)> = report
        .imported
        .iter()
        .map(|t| (t.tag.as_str(), t.version.as_str(), t.outcome))
        .collect();
    assert_eq!(
        imported,
        [
            ("v1.0.0", "1.0.0", Outcome::Published),
            ("v1.1.0", "1.1.0", Outcome::Published),
            ("1.2.0", "1.2.0", Outcome::Published)
        ],
        "{run}"
    );
    assert_eq!(report.skipped, ["release-candidate", "v1.2"]);
    for (t, c) in report.imported.iter().zip([&l.c100, &l.c110, &l.c120]) {
        assert_eq!(t.commit, c.as_str());
    }

    let index = fx.index();
    assert_eq!(versions(&index), ["1.0.0", "1.1.0", "1.2.0"]);
    assert_eq!(index.dist_tags["latest"].to_string(), "1.2.0");
    // Lightweight tags: the commit's date; annotated: the tagger's date (not the commit's).
    assert_eq!(index_entry(&index, "1.0.0").published, rfc3339(l.d100));
    assert_eq!(index_entry(&index, "1.1.0").published, rfc3339(l.d110));
    assert_ne!(rfc3339(l.d110), rfc3339(l.d110 - 7200));
    assert_eq!(index_entry(&index, "1.2.0").published, rfc3339(l.d120));
    assert_eq!(index_entry(&index, "1.0.0").previous, None);
    assert_eq!(
        index_entry(&index, "1.1.0").previous,
        Some(semver::Version::new(1, 0, 0))
    );
    assert_eq!(
        index_entry(&index, "1.2.0").previous,
        Some(semver::Version::new(1, 1, 0))
    );

    for (v, c) in [("1.0.0", &l.c100), ("1.1.0", &l.c110), ("1.2.0", &l.c120)] {
        let git = fx.manifest(v).git.expect("git");
        assert_eq!(git.commit, c.as_str(), "{v}");
        assert!(!git.dirty, "{v}");
    }
    assert_eq!(
        manifest_docs(&fx.manifest("1.0.0")),
        ["en/guide.md", "en/intro.md", "zh/guide.md", "zh/intro.md"]
    );
    assert_eq!(
        manifest_docs(&fx.manifest("1.1.0")),
        [
            "en/faq.md",
            "en/guide.md",
            "en/intro.md",
            "zh/faq.md",
            "zh/guide.md",
            "zh/intro.md"
        ]
    );
    let s110 = &index_entry(&index, "1.1.0").summary["en"];
    assert_eq!((s110.added, s110.modified), (1, 1));
    // Import does not tag (the tags exist) and does not move anything.
    assert_eq!(fx.git(&["tag", "-l"]).lines().count(), 6);
    let changelog = fs::read_to_string(fx.changelog()).expect("changelog written");
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        assert!(changelog.contains(&format!("## [{v}]")), "{changelog}");
    }
    assert_registry_consistent(&fx.registry());
}

#[test]
fn import_dry_run_writes_nothing_and_tags_glob_filters() {
    let l = linear();
    let fx = &l.fx;
    let run = fx.import(&["--dry-run"]).success();
    for needle in [
        "v1.0.0",
        "v1.1.0",
        "1.2.0",
        "would import",
        "release-candidate",
        "skipped",
    ] {
        assert!(run.stdout.contains(needle), "lacks {needle:?}\n{run}");
    }
    let json: ImportReport = fx.import(&["--dry-run", "--json"]).success().parse();
    assert_eq!(outcomes(&json), [Outcome::DryRun; 3]);
    assert_eq!(json.imported[1].date, rfc3339(l.d110));
    assert!(!fx.registry().exists(), "--dry-run created the registry");
    assert!(!fx.changelog().exists(), "--dry-run wrote the changelog");

    let json: ImportReport = fx.import(&["--tags", "v1.*", "--json"]).success().parse();
    let tags: Vec<&str> = json.imported.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tags, ["v1.0.0", "v1.1.0"]);
    assert_eq!(
        json.skipped,
        ["v1.2"],
        "only tags matching the glob are considered"
    );
    assert_eq!(versions(&fx.index()), ["1.0.0", "1.1.0"]);

    // The rest later: 1.2.0 only is new.
    let json: ImportReport = fx.import(&["--json"]).success().parse();
    assert_eq!(
        outcomes(&json),
        [
            Outcome::AlreadyPublished,
            Outcome::AlreadyPublished,
            Outcome::Published
        ]
    );
    assert_eq!(versions(&fx.index()), ["1.0.0", "1.1.0", "1.2.0"]);
    assert_registry_consistent(&fx.registry());
}

#[test]
fn import_twice_is_a_no_op() {
    let l = linear();
    let fx = &l.fx;
    fx.import(&[]).success();
    let before = hash_tree(&fx.registry());
    let changelog = fs::read(fx.changelog()).expect("changelog");
    let run = fx.import(&[]).success();
    assert_eq!(
        run.stdout.matches("already in the registry").count(),
        3,
        "{run}"
    );
    assert!(!run.stdout.contains(" imported"), "{run}");
    assert_eq!(
        hash_tree(&fx.registry()),
        before,
        "a second import changed the registry"
    );
    assert_eq!(fs::read(fx.changelog()).expect("changelog"), changelog);
    assert_registry_consistent(&fx.registry());
}

#[test]
fn import_refuses_a_revision_and_a_tag_that_differs_from_the_registry() {
    let l = linear();
    let fx = &l.fx;
    fx.kbrel(&["--from-git", "v1.0.0", "import"])
        .code(2)
        .stderr_has(&["takes no revision"]);
    fx.import(&[]).success();
    let before = registry_files(&fx.registry());
    // Move v1.1.0 to another commit: the registry's 1.1.0 no longer matches the tag.
    fx.git(&["tag", "-f", "v1.1.0", &l.c120]);
    fx.import(&[]).code(2).stderr_has(&["1.1.0", "v1.1.0"]);
    assert_eq!(registry_files(&fx.registry()), before);
}

// ---------------------------------------------------------------------------------------------
// Merges and renames

#[test]
fn import_of_a_tag_on_a_merge_commit_takes_the_merged_tree() {
    let fx = Fx::committed();
    fx.lightweight_tag("v1.0.0");
    fx.git(&["checkout", "-q", "-b", "feature"]);
    fx.write_doc(
        "faq",
        "FAQ",
        "常见问题",
        "Where are the logs?\n\nIn the data folder.",
        "日志在哪里？\n\n在数据文件夹中。",
    );
    fx.commit("Add the FAQ on a branch");
    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page (feature).",
    );
    fx.commit("Intro wording on the branch");
    fx.git(&["checkout", "-q", "main"]);
    fx.edit(
        "content/en/guide.md",
        "Run the installer",
        "Run the signed installer",
    );
    fx.edit(
        "content/zh/guide.md",
        "运行安装程序",
        "运行已签名的安装程序",
    );
    fx.commit("Installer is signed");
    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page (main).",
    );
    fx.commit("Intro wording on main");
    // The intro conflicts: the merge resolves it with text of its own.
    fx.tick();
    let mut merge = git_cmd(&fx.wt(), fx.now());
    merge.args(["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"]);
    let out = merge.output().expect("git merge");
    assert!(
        !out.status.success(),
        "the intro edits were meant to conflict"
    );
    fx.edit("content/en/intro.md", "<<<<<<< HEAD\n", "");
    let text = fx.read("content/en/intro.md");
    let start = text.find("one task per page (main).").expect("conflict");
    let end = text.find(">>>>>>> feature\n").expect("conflict end") + ">>>>>>> feature\n".len();
    fx.write(
        "content/en/intro.md",
        &format!(
            "{}one task per page, merged.\n{}",
            &text[..start],
            &text[end..]
        ),
    );
    assert!(!fx.read("content/en/intro.md").contains("======="));
    fx.git(&["add", "content/en/intro.md"]);
    fx.git(&["commit", "-q", "--no-edit"]);
    let merge = fx.rev("HEAD");
    assert_eq!(
        fx.git(&["rev-list", "--parents", "-n1", "HEAD"])
            .split(' ')
            .count(),
        3,
        "a merge commit"
    );
    fx.annotated_tag("v1.1.0", 0);
    // Work after the tag must not leak into the release.
    fx.edit(
        "content/en/intro.md",
        "install the agent",
        "install and upgrade the agent",
    );
    fx.commit("After the release");

    fx.import(&[]).success();
    let m = fx.manifest("1.1.0");
    assert_eq!(m.git.as_ref().expect("git").commit, merge);
    let tree_docs: Vec<String> = fx
        .git(&["ls-tree", "-r", "--name-only", "v1.1.0", "content/"])
        .lines()
        .filter(|p| p.ends_with(".md"))
        .map(|p| p.trim_start_matches("content/").to_string())
        .collect();
    assert_eq!(manifest_docs(&m), tree_docs);
    let reg = fx.registry();
    for d in &m.documents {
        let at_tag = fx.git(&["show", &format!("v1.1.0:content/{}/{}", d.lang, d.path)]);
        let sha = &d.sha256;
        let blob =
            fs::read_to_string(reg.join(format!("blobs/sha256/{}/{}", &sha[..2], &sha[2..])))
                .expect("blob");
        assert_eq!(blob.trim_end(), at_tag, "{}/{}", d.lang, d.path);
    }
    let blob_text = |lang: &str, path: &str| {
        let d = m
            .documents
            .iter()
            .find(|d| d.lang == lang && d.path == path)
            .unwrap();
        let sha = &d.sha256;
        fs::read_to_string(reg.join(format!("blobs/sha256/{}/{}", &sha[..2], &sha[2..]))).unwrap()
    };
    assert!(
        blob_text("en", "guide.md").contains("signed installer"),
        "main's side of the merge"
    );
    assert!(
        blob_text("en", "faq.md").contains("Where are the logs?"),
        "the branch's side of the merge"
    );
    assert!(
        !blob_text("en", "intro.md").contains("upgrade"),
        "work after the tag"
    );
    assert!(
        blob_text("en", "intro.md").contains("one task per page, merged."),
        "the merge's resolution"
    );
    assert_registry_consistent(&reg);

    // The changelog's commits per document are what `git log A..B -- <file>` lists: a merge
    // counts only for the files it changed relative to every parent.
    let ctx: ChangelogContext = fx.kbrel(&["changelog", "--json"]).success().parse();
    let rel = release(&ctx, "1.1.0");
    let mut checked = 0;
    for lang in &rel.languages {
        for entries in [&lang.added, &lang.changed, &lang.removed, &lang.renamed] {
            for e in entries {
                let file = format!("content/{}/{}", lang.lang, e.path);
                let mut ours = subjects(e);
                let mut theirs: Vec<String> = fx
                    .git(&["log", "--format=%s", "v1.0.0..v1.1.0", "--", &file])
                    .lines()
                    .map(String::from)
                    .collect();
                assert_eq!(ours.first(), theirs.first(), "{file}: newest first");
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{file}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5, "en faq+guide+intro, zh faq+guide: {rel:#?}");
    let en = section(rel, "en");
    let intro = entry(&en.changed, "intro.md");
    assert_eq!(
        intro.commits[0].subject, "Merge feature",
        "the merge resolved the conflict"
    );
    assert_eq!(intro.commits.len(), 3);
}

#[test]
fn a_moved_document_is_renamed_and_the_changelog_follows_its_commits() {
    let fx = Fx::committed();
    fx.lightweight_tag("v1.0.0");
    fx.edit(
        "content/en/guide.md",
        "Download the package",
        "Download the latest package",
    );
    fx.commit("Edit the guide before the move");
    fx.edit(
        "content/en/intro.md",
        "Every page exists",
        "Each page exists",
    );
    fx.commit("Unrelated intro wording");
    for lang in ["en", "zh"] {
        fs::create_dir_all(fx.wt().join(format!("content/{lang}/howto"))).unwrap();
        fx.git(&[
            "mv",
            &format!("content/{lang}/guide.md"),
            &format!("content/{lang}/howto/guide.md"),
        ]);
    }
    fx.commit("Move the guide to howto/");
    fx.annotated_tag("v1.1.0", 0);
    fx.import(&[]).success();

    let run = fx
        .kbrel(&["diff", "1.0.0", "1.1.0", "--name-status"])
        .success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    for lang in ["en", "zh"] {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("{lang}/howto/guide.md")))
            .unwrap_or_else(|| panic!("no line for {lang}/howto/guide.md\n{run}"));
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols[0].starts_with('R'), "{lang}: {line:?}\n{run}");
        assert_eq!(
            cols[1..],
            [format!("{lang}/guide.md"), format!("{lang}/howto/guide.md")],
            "{line:?}"
        );
    }
    assert!(lines.contains(&"M\ten/intro.md"), "{run}");
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with('A') || l.starts_with('D')),
        "a move is not add + delete\n{run}"
    );

    let ctx: ChangelogContext = fx.kbrel(&["changelog", "--json"]).success().parse();
    let rel = release(&ctx, "1.1.0");
    let en = section(rel, "en");
    let renamed = entry(&en.renamed, "howto/guide.md");
    assert_eq!(renamed.old_path.as_deref(), Some("guide.md"));
    assert_eq!(
        subjects(renamed),
        ["Move the guide to howto/", "Edit the guide before the move"],
        "newest first, following the rename back to the old path"
    );
    for c in &renamed.commits {
        assert_eq!(c.id.len(), 40);
        assert!(c.id.starts_with(&c.short_id));
        assert_eq!(c.author, "T");
    }
    let zh = section(rel, "zh");
    let zh_renamed = entry(&zh.renamed, "howto/guide.md");
    assert_eq!(
        subjects(zh_renamed),
        ["Move the guide to howto/"],
        "the zh file was only moved"
    );
    let intro = entry(&en.changed, "intro.md");
    assert_eq!(subjects(intro), ["Unrelated intro wording"]);
    // One section for the two versions says the same.
    let one: ChangelogContext = fx
        .kbrel(&["changelog", "--from", "1.0.0", "--to", "1.1.0", "--json"])
        .success()
        .parse();
    assert_eq!(one.releases.len(), 1);
    assert_eq!(one.releases[0].languages, rel.languages);
    // The first release lists the initial commit.
    let first = release(&ctx, "1.0.0");
    let added = &first.languages[0].added;
    assert!(
        added.iter().all(|e| subjects(e) == ["Initial content"]),
        "{first:#?}"
    );
}

#[test]
fn diff_line_counts_equal_git_numstat_minimal() {
    let fx = Fx::new();
    let long_en: String = (1..=40)
        .map(|i| format!("Step {i}: do thing {}.\n\n", i % 7))
        .collect();
    let long_zh: String = (1..=40)
        .map(|i| format!("第{i}步：执行操作{}。\n\n", i % 7))
        .collect();
    fx.write_doc(
        "steps",
        "Steps",
        "步骤",
        long_en.trim_end(),
        long_zh.trim_end(),
    );
    fx.commit("Initial content");
    fx.lightweight_tag("v1.0.0");

    // Edits that give a diff algorithm choices: repeated lines, moved blocks, front matter.
    let mut en: Vec<String> = long_en.trim_end().split('\n').map(String::from).collect();
    en.retain(|l| !l.starts_with("Step 3:") && !l.starts_with("Step 17:"));
    let moved: Vec<String> = en.drain(10..16).collect();
    let at = en.len() - 8;
    en.splice(at..at, moved);
    en.insert(4, "Step 2b: do thing 2.".into());
    en.insert(5, String::new());
    en.push(String::new());
    en.push("Step 41: do thing 6.".into());
    let en_text = doc("en", "steps", "Steps", &en.join("\n"));
    fx.write(
        "content/en/steps.md",
        &en_text.replace("date: 2024-01-01", "date: 2024-02-01"),
    );
    let zh_text = fx
        .read("content/zh/steps.md")
        .replace("执行操作1。", "执行操作一。")
        .replace("第40步", "第四十步");
    fx.write("content/zh/steps.md", &zh_text);
    fx.edit(
        "content/en/guide.md",
        "Restart the agent when the installer finishes.",
        "Restart the agent.\n\nCheck its status.",
    );
    fx.edit(
        "content/en/intro.md",
        "This knowledge base explains how to install the agent.\n\n",
        "",
    );
    fx.edit(
        "content/zh/intro.md",
        "每个页面都有英文版和中文版。",
        "每个页面都有两种语言。\n\n另见常见问题。",
    );
    fx.commit("Many edits");
    fx.lightweight_tag("v1.1.0");
    fx.import(&[]).success();

    let report: DiffFile = fx
        .kbrel(&["diff", "1.0.0", "1.1.0", "--json"])
        .success()
        .parse();
    let modified: Vec<&DocChange> = report
        .changes
        .iter()
        .filter(|c| c.status == ChangeStatus::Modified)
        .collect();
    assert_eq!(modified.len(), 5, "{report:#?}");
    for c in modified {
        let file = format!("content/{}/{}", c.lang, c.path);
        let numstat = fx.git(&[
            "diff",
            "--numstat",
            "--minimal",
            "v1.0.0",
            "v1.1.0",
            "--",
            &file,
        ]);
        let cols: Vec<&str> = numstat.split('\t').collect();
        assert_eq!(cols.len(), 3, "{numstat}");
        let (added, removed): (u64, u64) = (cols[0].parse().unwrap(), cols[1].parse().unwrap());
        assert_eq!(
            (c.added_lines, c.removed_lines),
            (added, removed),
            "{file}: kbrel +{}/-{} vs git +{added}/-{removed}",
            c.added_lines,
            c.removed_lines
        );
    }
    // The same counts when one side is read from git directly.
    let direct: DiffFile = fx
        .kbrel(&["diff", "1.0.0", "git:v1.1.0", "--json"])
        .success()
        .parse();
    assert_eq!(direct.changes, report.changes);
}

// ---------------------------------------------------------------------------------------------
// --from-git REV and git:<rev>

/// v1.0.0 and v1.1.0 (guide edited, FAQ added), then a working tree with malformed front matter.
fn two_releases_and_a_broken_work_tree() -> (Fx, String) {
    let fx = Fx::committed();
    let c100 = fx.rev("HEAD");
    fx.annotated_tag("v1.0.0", 0);
    fx.edit(
        "content/en/guide.md",
        "Run the installer",
        "Run the signed installer",
    );
    fx.edit(
        "content/zh/guide.md",
        "运行安装程序",
        "运行已签名的安装程序",
    );
    fx.write_doc(
        "faq",
        "FAQ",
        "常见问题",
        "Where are the logs?",
        "日志在哪里？",
    );
    fx.commit("Release 1.1 content");
    fx.lightweight_tag("v1.1.0");
    fx.git(&["branch", "stable", "v1.0.0"]);
    fx.write(
        "content/en/intro.md",
        "---\ntitle: [unclosed\ndescription: broken\n\nno closing line\n",
    );
    fx.write("content/en/broken.md", "---\ntitle: \"x\n---\n");
    (fx, c100)
}

#[test]
fn from_git_check_diff_status_bump_read_the_revision_not_the_work_tree() {
    let (fx, c100) = two_releases_and_a_broken_work_tree();
    let work = fx.kbrel(&["check"]);
    assert_ne!(work.code, 0, "the work tree is meant to be broken\n{work}");

    for rev in [
        "v1.0.0",
        "v1.1.0",
        "stable",
        "main",
        "HEAD",
        &c100[..12],
        &c100,
    ] {
        fx.kbrel(&["--from-git", rev, "check"]).success();
    }
    let json: CheckJson = fx
        .kbrel(&["--from-git", "v1.0.0", "check", "--json"])
        .success()
        .parse();
    assert_eq!(json.errors, 0);
    fx.kbrel(&["--from-git", "v1.1.0", "check"])
        .success()
        .stderr_has(&["checked 6 documents"]);

    let run = fx
        .kbrel(&["diff", "git:v1.0.0", "git:v1.1.0", "--stat"])
        .success();
    assert!(run.stdout.contains("en/guide.md"), "{run}");
    assert!(run.stdout.contains("en/faq.md"), "{run}");
    assert!(!run.stdout.contains("broken"), "{run}");
    let ns = fx
        .kbrel(&["diff", "git:stable", "git:main", "--name-status"])
        .success();
    let mut lines: Vec<&str> = ns.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "A\ten/faq.md",
            "A\tzh/faq.md",
            "M\ten/guide.md",
            "M\tzh/guide.md"
        ],
        "{ns}"
    );
    // `.` is the --from-git tree.
    let ns2 = fx
        .kbrel(&[
            "--from-git",
            "v1.1.0",
            "diff",
            "git:v1.0.0",
            ".",
            "--name-status",
        ])
        .success();
    assert_eq!(ns2.stdout, ns.stdout);
    fx.kbrel(&["diff", "git:v1.1.0", "git:main", "--exit-code", "--quiet"])
        .success();
    fx.kbrel(&["diff", "git:v1.0.0", "git:main", "--exit-code", "--quiet"])
        .code(1);

    fx.kbrel(&["--from-git", "v1.0.0", "status"]).success();
    fx.kbrel(&[
        "--from-git",
        "v1.0.0",
        "publish",
        "1.0.0",
        "--date",
        "2024-03-01",
        "--no-tag",
    ])
    .success();
    let bump: kbrel::publish::BumpReport = fx
        .kbrel(&["--from-git", "v1.1.0", "bump", "--json"])
        .success()
        .parse();
    assert_eq!(
        (bump.next.clone(), bump.bump),
        (
            Some(semver::Version::new(1, 1, 0)),
            Some(kbrel::publish::Bump::Minor)
        ),
        "an added document is a minor bump: {bump:#?}"
    );
    let st = fx
        .kbrel(&["--from-git", "v1.1.0", "status", "--json"])
        .success();
    assert!(!st.stdout.contains("broken"), "{st}");
}

#[test]
fn from_git_publish_publishes_the_tree_at_the_tag_with_its_commit() {
    let (fx, c100) = two_releases_and_a_broken_work_tree();
    let run = fx
        .kbrel(&[
            "--from-git",
            "v1.0.0",
            "publish",
            "1.0.0",
            "--date",
            "2024-03-01",
            "--json",
        ])
        .success();
    assert_eq!(run.parse::<PublishReport>().version, "1.0.0");
    let m = fx.manifest("1.0.0");
    assert_eq!(git_of(&m).commit, c100);
    assert!(!git_of(&m).dirty, "a tree read from git is never dirty");
    assert_eq!(
        manifest_docs(&m),
        ["en/guide.md", "en/intro.md", "zh/guide.md", "zh/intro.md"]
    );
    // The existing annotated tag on the same commit is left as it is.
    assert_eq!(fx.git(&["cat-file", "-t", "v1.0.0"]), "tag");
    assert_eq!(
        fx.git(&["tag", "-l", "v1.0.0", "--format=%(contents:subject)"]),
        "Release v1.0.0"
    );

    // v1.1.0's tree as 1.1.0: the lightweight tag already names that commit and stays as it is.
    let c110 = fx.rev("v1.1.0");
    fx.kbrel(&[
        "--from-git",
        "v1.1.0",
        "publish",
        "1.1.0",
        "--date",
        "2024-03-02",
    ])
    .success();
    assert_eq!(git_of(&fx.manifest("1.1.0")).commit, c110);
    assert_eq!(
        fx.git(&["cat-file", "-t", "v1.1.0"]),
        "commit",
        "an existing tag is not replaced"
    );
    // A branch name: 1.1.1 gets a new annotated tag at the branch's commit.
    // (Made in a second work tree: the main one stays broken.)
    let hot = fx.root().join("hot");
    fx.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "hotfix",
        hot.to_str().unwrap(),
        "v1.1.0",
    ]);
    let faq = hot.join("content/en/faq.md");
    fs::write(
        &faq,
        fs::read_to_string(&faq)
            .unwrap()
            .replace("logs?", "log files?"),
    )
    .unwrap();
    fx.tick();
    git_in(&hot, fx.now(), &["commit", "-q", "-am", "Hotfix wording"]);
    let hotfix = fx.rev("hotfix");
    fx.kbrel(&[
        "--from-git",
        "hotfix",
        "publish",
        "1.1.1",
        "--date",
        "2024-03-03",
    ])
    .success();
    assert_eq!(git_of(&fx.manifest("1.1.1")).commit, hotfix);
    assert_eq!(fx.git(&["cat-file", "-t", "v1.1.1"]), "tag");
    assert_eq!(fx.rev("v1.1.1"), hotfix);
    assert_registry_consistent(&fx.registry());
}

#[test]
fn config_from_rev_reads_kbrel_toml_at_the_revision() {
    let fx = Fx::new();
    // The first release used another package name and content root `docs`.
    fx.write("kbrel.toml", &config_toml("old-kb", "docs"));
    fs::rename(fx.wt().join("content"), fx.wt().join("docs")).unwrap();
    fx.commit("Old layout");
    fx.lightweight_tag("v1.0.0");
    fx.write("kbrel.toml", &config_toml(NAME, "content"));
    fs::rename(fx.wt().join("docs"), fx.wt().join("content")).unwrap();
    fx.commit("New layout");

    // With today's config, v1.0.0 has no `content` folder.
    fx.kbrel(&["--from-git", "v1.0.0", "check"])
        .code(2)
        .stderr_has(&["content", "v1.0.0"]);
    fx.kbrel(&["--from-git", "v1.0.0", "--config-from-rev", "check"])
        .success();
    let run = fx
        .kbrel(&[
            "--from-git",
            "v1.0.0",
            "--config-from-rev",
            "publish",
            "1.0.0",
            "--dry-run",
            "--json",
            "--date",
            "2024-03-01",
        ])
        .success();
    assert_eq!(run.parse::<PublishReport>().name, "old-kb");
    let run = fx
        .kbrel(&[
            "--from-git",
            "HEAD",
            "--config-from-rev",
            "publish",
            "1.0.0",
            "--dry-run",
            "--json",
            "--no-tag",
        ])
        .success();
    assert_eq!(run.parse::<PublishReport>().name, NAME);
    // --config-from-rev without --from-git is refused by the argument parser.
    fx.kbrel(&["--config-from-rev", "check"]).code(2);
    // A revision without kbrel.toml.
    fx.tick();
    fx.git(&["checkout", "-q", "--orphan", "empty"]);
    fx.git(&["rm", "-rq", "--cached", "."]);
    fx.git(&["commit", "-q", "--allow-empty", "-m", "Empty"]);
    fx.git(&["checkout", "-q", "-f", "main"]);
    fx.kbrel(&["--from-git", "empty", "--config-from-rev", "check"])
        .code(2)
        .stderr_has(&["kbrel.toml", "empty"]);
}

// ---------------------------------------------------------------------------------------------
// publish inside a repository

#[test]
fn publish_records_head_and_creates_an_annotated_tag() {
    let fx = Fx::committed();
    let head = fx.rev("HEAD");
    let run = fx
        .kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .success();
    assert!(run.stderr.contains("tagged v1.0.0"), "{run}");
    let m = fx.manifest("1.0.0");
    assert_eq!(
        m.git,
        Some(GitInfo {
            commit: head.clone(),
            dirty: false
        })
    );
    assert_eq!(
        fx.git(&["cat-file", "-t", "v1.0.0"]),
        "tag",
        "an annotated tag"
    );
    assert_eq!(fx.rev("v1.0.0"), head);
    let msg = fx.git(&["tag", "-l", "v1.0.0", "--format=%(contents:subject)"]);
    assert!(msg.contains("1.0.0"), "{msg}");
    // Re-publishing identical content is a no-op and leaves the tag alone.
    let tag_obj = fx.git(&["rev-parse", "v1.0.0"]);
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .success();
    assert_eq!(fx.git(&["rev-parse", "v1.0.0"]), tag_obj);

    // registry.tag_format is honoured.
    let text = fx.read("kbrel.toml").replace(
        "[registry]\n",
        "[registry]\ntag_format = \"kb-{version}\"\n",
    );
    fx.write("kbrel.toml", &text);
    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page, always.",
    );
    let head2 = fx.commit("Second release");
    fx.kbrel(&["publish", "1.0.1", "--date", "2024-03-02"])
        .success();
    assert_eq!(fx.git(&["cat-file", "-t", "kb-1.0.1"]), "tag");
    assert_eq!(fx.rev("kb-1.0.1"), head2);
    assert!(fx.git(&["tag", "-l", "v1.0.1"]).is_empty());
    assert_registry_consistent(&fx.registry());
}

#[test]
fn publish_refuses_a_dirty_content_folder_unless_allowed() {
    let fx = Fx::committed();
    let head = fx.rev("HEAD");
    // Outside the content folder: not dirty.
    fx.write("NOTES.txt", "scratch\n");
    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page (uncommitted).",
    );
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .code(2)
        .stderr_has(&["--allow-dirty", "uncommitted"]);
    assert!(!fx.registry().exists(), "the registry was touched");
    assert!(!fx.changelog().exists());
    assert!(fx.git(&["tag", "-l"]).is_empty());
    // An untracked document is a change too.
    fx.git(&["checkout", "--", "content"]);
    fx.write("content/en/new.md", &doc("en", "new", "New", "Fresh page."));
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .code(2)
        .stderr_has(&["--allow-dirty"]);
    // So is a staged change.
    fs::remove_file(fx.wt().join("content/en/new.md")).unwrap();
    fx.edit(
        "content/zh/intro.md",
        "每页只讲一项任务。",
        "每页只讲一项任务（已暂存）。",
    );
    fx.git(&["add", "content/zh/intro.md"]);
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .code(2)
        .stderr_has(&["--allow-dirty"]);
    assert!(!fx.registry().exists(), "the registry was touched");
    // --dry-run shows what would happen.
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01", "--dry-run"])
        .success();
    assert!(!fx.registry().exists());

    fx.kbrel(&[
        "publish",
        "1.0.0",
        "--date",
        "2024-03-01",
        "--allow-dirty",
        "--no-tag",
    ])
    .success();
    let m = fx.manifest("1.0.0");
    assert_eq!(
        m.git,
        Some(GitInfo {
            commit: head.clone(),
            dirty: true
        })
    );
    assert_registry_consistent(&fx.registry());

    // Clean again (NOTES.txt is outside content/ and does not count): not dirty.
    fx.git(&["reset", "-q", "--hard"]);
    assert!(fx.wt().join("NOTES.txt").exists());
    fx.kbrel(&["publish", "1.0.1", "--date", "2024-03-02", "--no-tag"])
        .success();
    assert_eq!(
        fx.manifest("1.0.1").git,
        Some(GitInfo {
            commit: head.clone(),
            dirty: false
        })
    );
}

#[test]
fn publish_with_no_tag_creates_no_tag() {
    let fx = Fx::committed();
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01", "--no-tag"])
        .success();
    assert!(fx.git(&["tag", "-l"]).is_empty(), "--no-tag created a tag");
    assert_eq!(git_of(&fx.manifest("1.0.0")).commit, fx.rev("HEAD"));
}

#[test]
fn publish_refuses_a_tag_that_names_another_commit() {
    let fx = Fx::committed();
    let first = fx.rev("HEAD");
    fx.git(&["tag", "v2.0.0"]);
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .success();
    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page, always.",
    );
    fx.edit(
        "content/zh/intro.md",
        "每页只讲一项任务。",
        "每页始终只讲一项任务。",
    );
    let second = fx.commit("Second release");
    let before = registry_files(&fx.registry());
    let changelog = fs::read(fx.changelog()).unwrap();
    let run = fx
        .kbrel(&["publish", "2.0.0", "--date", "2024-03-02"])
        .code(2)
        .stderr_has(&["v2.0.0", &first[..12]]);
    assert!(
        run.stderr.contains("--no-tag") || run.stderr.contains("another version"),
        "{run}"
    );
    assert_eq!(
        registry_files(&fx.registry()),
        before,
        "the registry changed"
    );
    assert_eq!(fs::read(fx.changelog()).unwrap(), changelog);
    assert_eq!(fx.rev("v2.0.0"), first, "the tag moved");
    // Also with --dry-run (the check runs before anything is written) and --bump.
    fx.kbrel(&["publish", "2.0.0", "--date", "2024-03-02", "--dry-run"])
        .code(2)
        .stderr_has(&["v2.0.0"]);
    // A tag on the same commit is fine; --no-tag ignores the collision.
    fx.kbrel(&["publish", "2.0.0", "--date", "2024-03-02", "--no-tag"])
        .success();
    assert_eq!(git_of(&fx.manifest("2.0.0")).commit, second);
    assert_eq!(fx.rev("v2.0.0"), first);
    assert_registry_consistent(&fx.registry());
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn from_git_outside_a_repository_is_an_error() {
    let fx = Fx::new();
    fs::remove_dir_all(fx.wt().join(".git")).unwrap();
    for args in [
        &["--from-git", "HEAD", "check"][..],
        &["diff", "git:HEAD", "."],
        &["import", "--from-git"],
    ] {
        fx.kbrel(args)
            .code(2)
            .stderr_has(&["not inside a git repository"]);
    }
    fx.kbrel(&["--from-git", "", "check"])
        .code(2)
        .stderr_has(&["needs a revision"]);
    // Plain publish outside a repository works and records no commit.
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .success();
    assert_eq!(fx.manifest("1.0.0").git, None);
    let text = fs::read_to_string(fx.registry().join("v/1.0.0/manifest.json")).unwrap();
    assert!(!text.contains("\"git\""), "{text}");
}

#[test]
fn unknown_revision_is_named() {
    let fx = Fx::committed();
    fx.kbrel(&["--from-git", "no-such-rev", "check"])
        .code(2)
        .stderr_has(&["no-such-rev"]);
    fx.kbrel(&["diff", "git:v7.7.7", "git:HEAD"])
        .code(2)
        .stderr_has(&["v7.7.7"]);
    let missing = "0123456789abcdef0123456789abcdef01234567";
    fx.kbrel(&["--from-git", missing, "status"])
        .code(2)
        .stderr_has(&[missing]);
    // A revision that is not a commit.
    let blob = fx.git(&["rev-parse", "HEAD:kbrel.toml"]);
    fx.kbrel(&["--from-git", &blob, "check"])
        .code(2)
        .stderr_has(&["commit"]);
}

#[test]
fn import_from_a_bare_repository() {
    let l = linear();
    let fx = &l.fx;
    let bare = fx.root().join("bare.git");
    git_in(
        fx.root(),
        fx.now(),
        &["clone", "-q", "--bare", "wt", "bare.git"],
    );
    // kbrel.toml lives elsewhere (a folder that is not a repository and has no content).
    let elsewhere = fx.root().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("kbrel.toml"), config_toml(NAME, "content")).unwrap();
    let reg = fx.root().join("bare-registry");
    let elsewhere_cfg = elsewhere.join("kbrel.toml");
    let args: Vec<&OsStr> = vec![
        OsStr::new("--config"),
        elsewhere_cfg.as_os_str(),
        OsStr::new("--registry"),
        reg.as_os_str(),
        OsStr::new("import"),
        OsStr::new("--from-git"),
        OsStr::new("--repo"),
        bare.as_os_str(),
        OsStr::new("--json"),
    ];
    let run = kbrel_run(&elsewhere, &args).success();
    let report: ImportReport = run.parse();
    let tags: Vec<&str> = report.imported.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tags, ["v1.0.0", "v1.1.0", "1.2.0"], "{run}");
    assert_registry_consistent(&reg);

    // The same import from the work tree gives byte-identical releases.
    fx.import(&[]).success();
    let a = registry_files(&reg);
    let b = registry_files(&fx.registry());
    assert_eq!(a, b, "bare and non-bare imports differ");

    // kbrel.toml read from inside the bare repository with --config-from-rev.
    let cfg = bare.join("kbrel.toml");
    let args: Vec<&OsStr> = vec![
        OsStr::new("--config"),
        cfg.as_os_str(),
        OsStr::new("--from-git"),
        OsStr::new("v1.1.0"),
        OsStr::new("--config-from-rev"),
        OsStr::new("check"),
    ];
    kbrel_run(fx.root(), &args)
        .success()
        .stderr_has(&["checked 6 documents"]);
}

#[test]
fn shallow_clone_missing_the_tagged_commit() {
    let l = linear();
    let fx = &l.fx;
    let url = format!("file://{}", fx.wt().display());
    git_in(
        fx.root(),
        fx.now(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let shallow = fx.root().join("shallow");
    assert!(shallow.join(".git/shallow").exists());
    let cfg = shallow.join("kbrel.toml");
    let run = |args: &[&str]| {
        let mut v: Vec<&OsStr> = vec![OsStr::new("--config"), cfg.as_os_str()];
        v.extend(args.iter().map(OsStr::new));
        kbrel_run(&shallow, &v)
    };
    run(&["--from-git", "HEAD", "check"]).success();
    run(&["--from-git", "v1.0.0", "check"])
        .code(2)
        .stderr_has(&["v1.0.0", "shallow"]);
    run(&["--from-git", &l.c100, "check"])
        .code(2)
        .stderr_has(&[&l.c100, "shallow"]);
    run(&["diff", "git:v1.0.0", "git:HEAD"])
        .code(2)
        .stderr_has(&["v1.0.0", "shallow"]);
}

#[test]
fn a_symlink_in_the_tree_is_skipped_with_a_warning_never_followed() {
    let fx = Fx::committed();
    fx.lightweight_tag("before");
    // A valid document outside the content folder, reachable only through the symlink.
    fx.write(
        "secret.md",
        &doc("en", "secret", "Secret", "Top secret body."),
    );
    std::os::unix::fs::symlink("../../secret.md", fx.wt().join("content/en/link.md")).unwrap();
    std::os::unix::fs::symlink("intro.md", fx.wt().join("content/zh/alias.md")).unwrap();
    fx.commit("Add symlinks");
    assert_eq!(
        fx.git(&["ls-files", "-s", "content/en/link.md"])
            .split(' ')
            .next(),
        Some("120000")
    );

    let json: CheckJson = fx
        .kbrel(&["--from-git", "HEAD", "check", "--json"])
        .success()
        .parse();
    assert_eq!(json.errors, 0, "{json:#?}");
    for file in ["en/link.md", "zh/alias.md"] {
        let f = json
            .findings
            .iter()
            .find(|f| f.file.ends_with(file))
            .unwrap_or_else(|| panic!("no finding for {file}: {json:#?}"));
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.message.contains("symlink"), "{f:?}");
    }
    fx.kbrel(&["--from-git", "HEAD", "check"])
        .success()
        .stderr_has(&["checked 4 documents"]);
    let ns = fx
        .kbrel(&["diff", "git:before", "git:HEAD", "--name-status"])
        .success();
    assert!(
        ns.stdout.trim().is_empty(),
        "a symlink became a document\n{ns}"
    );
    fx.kbrel(&[
        "--from-git",
        "HEAD",
        "publish",
        "1.0.0",
        "--date",
        "2024-03-01",
        "--no-tag",
    ])
    .success();
    let m = fx.manifest("1.0.0");
    assert_eq!(
        manifest_docs(&m),
        ["en/guide.md", "en/intro.md", "zh/guide.md", "zh/intro.md"]
    );
    for f in hash_tree(&fx.registry())
        .keys()
        .filter(|k| k.starts_with("blobs/"))
    {
        let text = fs::read_to_string(fx.registry().join(f)).unwrap();
        assert!(
            !text.contains("Top secret"),
            "the symlink's target was loaded"
        );
    }
}

#[test]
fn a_submodule_in_the_tree_is_skipped_with_a_warning() {
    let fx = Fx::committed();
    let head = fx.rev("HEAD");
    fx.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},content/en/sub"),
    ]);
    fx.commit_index("Add a submodule entry");
    assert!(
        fx.git(&["ls-tree", "HEAD", "content/en/"])
            .contains("160000 commit")
    );
    let json: CheckJson = fx
        .kbrel(&["--from-git", "HEAD", "check", "--json"])
        .success()
        .parse();
    let f = json
        .findings
        .iter()
        .find(|f| f.file.ends_with("en/sub"))
        .unwrap_or_else(|| panic!("no finding for the submodule: {json:#?}"));
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("submodule"), "{f:?}");
    assert_eq!(json.errors, 0);
    fx.import(&[]).success();
}

#[test]
fn an_lfs_pointer_is_an_error_naming_the_file() {
    let fx = Fx::committed();
    fx.write(
        "content/en/x.md",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    );
    fx.commit("Add an LFS pointer");
    fx.lightweight_tag("v1.0.0");
    fx.kbrel(&["--from-git", "HEAD", "check"])
        .code(2)
        .stderr_has(&["LFS", "en/x.md"]);
    fx.kbrel(&["diff", "git:HEAD~1", "git:HEAD"])
        .code(2)
        .stderr_has(&["LFS", "en/x.md"]);
    fx.import(&[])
        .code(2)
        .stderr_has(&["LFS", "en/x.md", "v1.0.0"]);
    assert!(!fx.registry().join("index.json").exists());
}

#[test]
fn import_of_a_tag_without_the_content_root_names_the_tag() {
    let fx = Fx::new();
    fs::rename(fx.wt().join("content"), fx.root().join("content-later")).unwrap();
    fx.write("README.md", "Nothing here yet.\n");
    fx.commit("Start");
    fx.lightweight_tag("v0.1.0");
    fs::rename(fx.root().join("content-later"), fx.wt().join("content")).unwrap();
    fx.commit("Content");
    fx.lightweight_tag("v1.0.0");
    fx.import(&[]).code(2).stderr_has(&["v0.1.0", "content"]);
    assert!(!fx.registry().join("index.json").exists());
    // Without that tag it works.
    fx.import(&["--tags", "v1.*"]).success();
    assert_eq!(versions(&fx.index()), ["1.0.0"]);
}

// ---------------------------------------------------------------------------------------------
// A content folder that moved between releases ([[content.history]])

/// v1.0.0 and v1.1.0 with the content in `docs/` (and kbrel.toml saying so at the time), then
/// `git mv docs content` and one edit per language for v1.2.0. The work tree's kbrel.toml says
/// `root = "content"`, followed by `history` (TOML appended to it).
fn moved_content(history: &str) -> Fx {
    let fx = Fx::new();
    fs::rename(fx.wt().join("content"), fx.wt().join("docs")).unwrap();
    fx.write("kbrel.toml", &config_toml(NAME, "docs"));
    fx.commit("Docs in docs/");
    fx.lightweight_tag("v1.0.0");
    fx.edit(
        "docs/en/guide.md",
        "Run the installer",
        "Run the signed installer",
    );
    fx.edit("docs/zh/guide.md", "运行安装程序", "运行已签名的安装程序");
    fx.commit("Sign the installer");
    fx.annotated_tag("v1.1.0", 0);
    fx.git(&["mv", "docs", "content"]);
    fx.write("kbrel.toml", &config_toml(NAME, "content"));
    fx.commit("Move docs/ to content/");
    fx.edit(
        "content/en/intro.md",
        "one task per page.",
        "one task per page.\n\nSearch finds any page by title.",
    );
    fx.edit(
        "content/zh/intro.md",
        "每页只讲一项任务。",
        "每页只讲一项任务。\n\n搜索可以按标题找到任何页面。",
    );
    fx.commit("Mention search");
    fx.lightweight_tag("v1.2.0");
    fx.write(
        "kbrel.toml",
        &format!("{}{history}", config_toml(NAME, "content")),
    );
    fx
}

const DOCS_BEFORE_1_2: &str = "\n[[content.history]]\nversions = \"<1.2.0\"\nroot = \"docs\"\n";

/// The `--name-status` lines of a diff, sorted.
fn name_status(run: &Run) -> Vec<String> {
    let mut lines: Vec<String> = run.stdout.lines().map(String::from).collect();
    lines.sort();
    lines
}

#[test]
fn content_history_imports_a_moved_content_folder_in_one_command() {
    let fx = moved_content(DOCS_BEFORE_1_2);
    let report: ImportReport = fx.import(&["--json"]).success().parse();
    let imported: Vec<(&str, String)> = report
        .imported
        .iter()
        .map(|t| (t.tag.as_str(), outcome_name(t.outcome)))
        .collect();
    let imported: Vec<(&str, &str)> = imported.iter().map(|(t, o)| (*t, o.as_str())).collect();
    assert_eq!(
        imported,
        [
            ("v1.0.0", "published"),
            ("v1.1.0", "published"),
            ("v1.2.0", "published")
        ]
    );
    let index = fx.index();
    assert_eq!(versions(&index), ["1.0.0", "1.1.0", "1.2.0"]);
    let docs = ["en/guide.md", "en/intro.md", "zh/guide.md", "zh/intro.md"];
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        assert_eq!(manifest_docs(&fx.manifest(v)), docs, "{v}");
    }
    // The move is not a change: 1.2.0 differs from 1.1.0 by the intro edits only.
    let ns = fx
        .kbrel(&["diff", "1.1.0", "1.2.0", "--name-status"])
        .success();
    assert_eq!(
        name_status(&ns),
        ["M\ten/intro.md", "M\tzh/intro.md"],
        "{ns}"
    );
    let ns = fx
        .kbrel(&["diff", "1.0.0", "1.1.0", "--name-status"])
        .success();
    assert_eq!(
        name_status(&ns),
        ["M\ten/guide.md", "M\tzh/guide.md"],
        "{ns}"
    );
    for lang in ["en", "zh"] {
        let summary = &index_entry(&index, "1.2.0").summary[lang];
        assert_eq!(
            (summary.added, summary.removed, summary.modified),
            (0, 0, 1),
            "{lang}: {summary:?}"
        );
    }
    // A document whose bytes did not change is the same blob in every release.
    let sha = |v: &str, path: &str| {
        fx.manifest(v)
            .documents
            .into_iter()
            .find(|d| format!("{}/{}", d.lang, d.path) == path)
            .map(|d| d.sha256)
            .unwrap()
    };
    assert_eq!(sha("1.1.0", "en/guide.md"), sha("1.2.0", "en/guide.md"));

    // git:<tag> sides and --from-git <tag> read each tag with its version's root.
    let ns = fx
        .kbrel(&["diff", "git:v1.1.0", "git:v1.2.0", "--name-status"])
        .success();
    assert_eq!(
        name_status(&ns),
        ["M\ten/intro.md", "M\tzh/intro.md"],
        "{ns}"
    );
    fx.kbrel(&["diff", "1.0.0", "git:v1.0.0", "--exit-code", "--quiet"])
        .success();
    fx.kbrel(&[
        "diff",
        "1.1.0",
        "git:refs/tags/v1.1.0",
        "--exit-code",
        "--quiet",
    ])
    .success();
    for tag in ["v1.0.0", "tags/v1.1.0", "v1.2.0"] {
        fx.kbrel(&["--from-git", tag, "check"])
            .success()
            .stderr_has(&["checked 4 documents"]);
    }
    // Another revision (a commit, a branch, an expression) is read with `content.root`: the
    // range says which releases had `docs/`, not which commits.
    let c110 = fx.rev("v1.1.0");
    fx.kbrel(&["--from-git", &c110, "check"])
        .code(2)
        .stderr_has(&["`content`", &c110, "release tags", "--content"]);
    fx.kbrel(&["--from-git", &c110, "--content", "docs", "check"])
        .success()
        .stderr_has(&["checked 4 documents"]);
    // `publish VERSION --from-git <commit>` reads the commit with that version's root, and
    // rebuilds the imported release byte for byte (an "already published" no-op).
    let run = fx
        .kbrel(&[
            "--from-git",
            &c110,
            "publish",
            "1.1.0",
            "--no-tag",
            "--json",
        ])
        .success();
    assert_eq!(
        run.parse::<PublishReport>().outcome,
        Outcome::AlreadyPublished,
        "{run}"
    );
    let other = fx.root().join("rebuilt");
    for (v, rev) in [("1.0.0", fx.rev("v1.0.0")), ("1.1.0", c110.clone())] {
        let date = index_entry(&index, v).published.as_str().to_string();
        let reg = other.to_str().unwrap();
        fx.kbrel(&[
            "--from-git",
            &rev,
            "--registry",
            reg,
            "publish",
            v,
            "--date",
            &date,
            "--no-tag",
        ])
        .success();
    }
    for f in [
        "v/1.1.0/manifest.json",
        "v/1.1.0/diff.json",
        "git-kb-1.1.0.tgz",
    ] {
        let (a, b) = (fx.registry().join(f), other.join(f));
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "{f} differs"
        );
    }

    // The changelog lists each release's commits under the folder of that release.
    let ctx: ChangelogContext = fx.kbrel(&["changelog", "--json"]).success().parse();
    let changed = |version: &str, lang: &str, path: &str| -> Vec<String> {
        subjects(entry(&section(release(&ctx, version), lang).changed, path))
    };
    assert_eq!(changed("1.1.0", "en", "guide.md"), ["Sign the installer"]);
    assert_eq!(
        changed("1.2.0", "en", "intro.md"),
        ["Mention search", "Move docs/ to content/"],
        "git log --follow: the move touched the path too"
    );

    fx.kbrel(&["verify"]).success();
    assert_registry_consistent(&fx.registry());
    // Importing again changes nothing.
    let before = registry_files(&fx.registry());
    fx.import(&[]).success();
    assert_eq!(registry_files(&fx.registry()), before);
}

#[test]
fn without_content_history_a_moved_folder_fails_naming_the_tag_and_the_fix() {
    let fx = moved_content("");
    // Only the release with today's folder: fine.
    fx.import(&["--tags", "v1.2.*"]).success();
    let before = registry_files(&fx.registry());
    let changelog = fs::read(fx.changelog()).unwrap();
    let run = fx.import(&[]).code(2).stderr_has(&[
        "the content root `content` does not exist at tag `v1.0.0`",
        "[[content.history]]",
        "versions = \"<=1.0.0\"",
        "root = \"docs\"",
        "the language folders are in `docs`",
    ]);
    assert!(run.stderr.contains("hint:"), "{run}");
    assert_eq!(
        registry_files(&fx.registry()),
        before,
        "a failed import changed the registry"
    );
    assert_eq!(fs::read(fx.changelog()).unwrap(), changelog);
    fx.kbrel(&["--from-git", "v1.1.0", "check"])
        .code(2)
        .stderr_has(&["tag `v1.1.0`", "[[content.history]]", "1.1.0"]);

    // A range that leaves out v1.1.0: the error names v1.1.0 (no entry chose a root for it).
    fx.write(
        "kbrel.toml",
        &format!(
            "{}\n[[content.history]]\nversions = \"<1.1.0\"\nroot = \"docs\"\n",
            config_toml(NAME, "content")
        ),
    );
    fx.import(&[])
        .code(2)
        .stderr_has(&["tag `v1.1.0`", "versions = \"<=1.1.0\""]);
    // A wrong folder in the entry: the error names the entry, and where the folders are.
    fx.write(
        "kbrel.toml",
        &format!(
            "{}\n[[content.history]]\nversions = \"<1.2.0\"\nroot = \"doc\"\n",
            config_toml(NAME, "content")
        ),
    );
    fx.import(&[]).code(2).stderr_has(&[
        "the content root `doc` (content.history[0], versions `<1.2.0`) does not exist at tag `v1.0.0`",
        "correct that entry",
        "in `docs`",
    ]);
    assert_eq!(registry_files(&fx.registry()), before);

    // The fix: the earlier releases are imported (after 1.2.0, so as backports).
    fx.write(
        "kbrel.toml",
        &format!("{}{DOCS_BEFORE_1_2}", config_toml(NAME, "content")),
    );
    let json: ImportReport = fx.import(&["--json"]).success().parse();
    assert_eq!(
        outcomes(&json),
        [
            Outcome::Published,
            Outcome::Published,
            Outcome::AlreadyPublished
        ]
    );
    assert_eq!(versions(&fx.index()), ["1.0.0", "1.1.0", "1.2.0"]);
    assert_registry_consistent(&fx.registry());
}

#[test]
fn bad_content_history_values_are_refused_naming_the_field() {
    let fx = moved_content("");
    let cases: &[(&str, &[&str])] = &[
        (
            "[[content.history]]\nversions = \"<1.x.0\"\nroot = \"docs\"\n",
            &["content.history[0].versions `<1.x.0`", "not a semver range"],
        ),
        (
            "[[content.history]]\nversions = \"<1.2.0\"\nroot = \"docs\"\n[[content.history]]\nversions = \">=1.1.0, <1.3.0\"\nroot = \"x\"\n",
            &[
                "content.history[1].versions `>=1.1.0, <1.3.0` overlaps content.history[0].versions `<1.2.0`",
                "both match >=1.1.0, <1.2.0",
            ],
        ),
        (
            "[[content.history]]\nversions = 1.2\nroot = \"docs\"\n",
            &["versions = 1.2", "invalid type", "expected a string"],
        ),
        (
            "[[content.history]]\nversions = \"<1.2.0\"\nroot = [\"docs\"]\n",
            &["root = [\"docs\"]", "invalid type"],
        ),
        (
            "[[content.history]]\nversion = \"<1.2.0\"\nroot = \"docs\"\n",
            &["unknown field `version`", "versions"],
        ),
        (
            "[content.history]\nversions = \"<1.2.0\"\nroot = \"docs\"\n",
            &["[[content.history]]"],
        ),
    ];
    for (history, needles) in cases {
        fx.write(
            "kbrel.toml",
            &format!("{}\n{history}", config_toml(NAME, "content")),
        );
        let run = fx.import(&[]).code(2).stderr_has(needles);
        assert!(
            run.stderr.contains("invalid configuration"),
            "{history}\n{run}"
        );
        fx.kbrel(&["check"]).code(2).stderr_has(needles);
    }
    assert!(!fx.registry().exists());
}

#[test]
fn a_non_utf8_file_name_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fx::committed();
    let blob = fx.git(&["rev-parse", "HEAD:content/en/intro.md"]);
    let mut name = b"100644,".to_vec();
    name.extend_from_slice(blob.as_bytes());
    name.extend_from_slice(b",content/en/caf\xe9.md");
    let mut cmd = git_cmd(&fx.wt(), fx.now());
    cmd.args(["update-index", "--add", "--cacheinfo"])
        .arg(OsStr::from_bytes(&name));
    let out = cmd.output().expect("git update-index");
    if !out.status.success() {
        eprintln!(
            "skipping: git cannot record a non-UTF-8 name here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    fx.tick();
    fx.git(&["commit", "-q", "-m", "Latin-1 name"]);
    let listed = fx.git(&[
        "-c",
        "core.quotePath=true",
        "ls-tree",
        "--name-only",
        "HEAD",
        "content/en/",
    ]);
    assert!(listed.contains("caf\\351.md"), "{listed}");
    fx.kbrel(&["--from-git", "HEAD", "check"])
        .code(2)
        .stderr_has(&["UTF-8", "content/en/caf\\xe9.md"]);
    fx.lightweight_tag("v1.0.0");
    fx.import(&[]).code(2).stderr_has(&["UTF-8", "v1.0.0"]);
}

#[test]
fn import_of_a_tag_that_fails_check_names_the_tag() {
    let fx = Fx::committed();
    fx.lightweight_tag("v1.0.0");
    fx.edit("content/zh/guide.md", "title: 安装指南\n", "");
    fx.commit("Drop a required field");
    fx.lightweight_tag("v1.1.0");
    // --lint-gate: refused, naming the tag and the file.
    let run = fx
        .import(&["--lint-gate"])
        .code(2)
        .stderr_has(&["v1.1.0", "zh/guide.md"]);
    assert!(run.stderr.contains("check"), "{run}");
    // Every tag is vetted before the first is written: nothing at all was written.
    assert!(!fx.registry().exists(), "the registry must not be created");
    // By default the tag is imported as it was, the error recorded as a warning.
    let report: ImportReport = fx.import(&["--json"]).success().parse();
    assert_eq!(report.imported[1].errors, 1);
    let m = fx.manifest("1.1.0");
    assert!(
        m.warnings.iter().any(|f| f.code.as_str() == "KB002"
            && f.file == "zh/guide.md"
            && f.severity == Severity::Warning),
        "{m:#?}"
    );
}

#[test]
fn a_knowledge_base_in_a_subdirectory_of_the_repository() {
    let fx = Fx::new();
    fs::create_dir_all(fx.wt().join("docs")).unwrap();
    fs::rename(fx.wt().join("content"), fx.wt().join("docs/content")).unwrap();
    fs::rename(fx.wt().join("kbrel.toml"), fx.wt().join("docs/kbrel.toml")).unwrap();
    fx.write("README.md", "The docs live in docs/.\n");
    fx.commit("Docs in a subdirectory");
    fx.lightweight_tag("v1.0.0");
    fx.edit(
        "docs/content/en/guide.md",
        "Run the installer",
        "Run the signed installer",
    );
    fx.commit("Edit the guide");
    fx.edit("README.md", "docs/", "docs/ (see kbrel.toml)");
    fx.commit("Readme only");
    fx.lightweight_tag("v1.1.0");

    let docs = fx.wt().join("docs");
    let cfg = docs.join("kbrel.toml");
    let reg = fx.registry();
    let run = |args: &[&str]| {
        let mut v: Vec<&OsStr> = vec![
            OsStr::new("--config"),
            cfg.as_os_str(),
            OsStr::new("--registry"),
            reg.as_os_str(),
        ];
        v.extend(args.iter().map(OsStr::new));
        kbrel_run(&docs, &v)
    };
    run(&["--from-git", "v1.0.0", "check"])
        .success()
        .stderr_has(&["checked 4 documents"]);
    run(&["--from-git", "v1.0.0", "--config-from-rev", "check"]).success();
    run(&["import", "--from-git"]).success();
    assert_eq!(versions(&fx.index()), ["1.0.0", "1.1.0"]);
    let ctx: ChangelogContext = run(&["changelog", "--json"]).success().parse();
    let rel = &ctx.releases[0];
    assert_eq!(rel.version, "1.1.0");
    let guide = entry(&section(rel, "en").changed, "guide.md");
    assert_eq!(guide.commits.len(), 1, "{guide:#?}");
    assert_eq!(guide.commits[0].subject, "Edit the guide");

    // Dirty means dirty below docs/content only.
    fx.edit("README.md", "(see kbrel.toml)", "(see docs/kbrel.toml)");
    fx.edit(
        "docs/content/en/intro.md",
        "one task per page.",
        "one task per page!",
    );
    run(&["publish", "2.0.0", "--date", "2024-03-01"])
        .code(2)
        .stderr_has(&["docs/content", "--allow-dirty"]);
    fx.git(&["checkout", "--", "docs/content"]);
    fx.edit(
        "docs/content/en/intro.md",
        "one task per page.",
        "one task per page!",
    );
    fx.commit("Intro");
    fx.edit("README.md", "docs/kbrel.toml", "the config");
    run(&["publish", "2.0.0", "--date", "2024-03-01"]).success();
    assert_eq!(
        fx.manifest("2.0.0").git,
        Some(GitInfo {
            commit: fx.rev("HEAD"),
            dirty: false
        })
    );
    assert_eq!(fx.git(&["cat-file", "-t", "v2.0.0"]), "tag");
}

#[test]
fn publish_in_a_repository_without_commits_records_no_commit() {
    let fx = Fx::new();
    fx.kbrel(&["publish", "1.0.0", "--date", "2024-03-01"])
        .success();
    assert_eq!(fx.manifest("1.0.0").git, None);
    let text = fs::read_to_string(fx.registry().join("v/1.0.0/manifest.json")).unwrap();
    assert!(!text.contains("\"git\""), "{text}");
    assert!(fx.git(&["tag", "-l"]).is_empty());
    fx.kbrel(&["--from-git", "HEAD", "check"])
        .code(2)
        .stderr_has(&["HEAD"]);
}

/// Real-world layout: English and Chinese files with different names, paired by the slug of
/// their front-matter `url` (language segment and query dropped), and documents without front
/// matter (id from the path, a KB015 warning recorded in the manifest), imported from tags;
/// renaming the Chinese file in the next tag keeps the pair.
#[test]
fn import_pairs_differently_named_files_by_url_slug_and_takes_bare_documents() {
    let fx = Fx::new();
    fx.edit(
        "kbrel.toml",
        "pairing = \"path\"",
        "pairing = \"front-matter:url\"",
    );
    let page = |lang: &str, title: &str, query: &str, body: &str| {
        format!(
            "---\ntitle: {title}\ndescription: {title}.\ndate: 2024-01-01\nurl: \"https://kb.example.com/{lang}/kb/setup/install{query}\"\nkey: Install\n---\n\n# {title}\n\n{body}\n"
        )
    };
    fx.write(
        "content/en/setup/install.md",
        &page("en", "Install", "?nav=1", "Download the agent.\n\nRun it."),
    );
    fx.write(
        "content/zh/anzhuang/zhinan.md",
        &page("zh", "安装", "", "下载代理。\n\n运行它。"),
    );
    fx.write(
        "content/en/notes.md",
        "# Notes\n\nPlain notes without front matter.\n",
    );
    fx.write("content/zh/notes.md", "# 笔记\n\n没有前置元数据的笔记。\n");
    fx.commit("Install page, named differently per language; bare notes");
    fx.lightweight_tag("v1.0.0");
    fx.write(
        "content/zh/anzhuang/an-zhuang.md",
        &fx.read("content/zh/anzhuang/zhinan.md"),
    );
    fs::remove_file(fx.wt().join("content/zh/anzhuang/zhinan.md")).unwrap();
    fx.edit("content/en/setup/install.md", "Run it.", "Run it as root.");
    fx.commit("Rename the Chinese install page; edit the English one");
    fx.lightweight_tag("v1.1.0");

    fx.import(&[]).success();
    // (language, id, path) of each document of a version.
    let ids = |v: &str| -> Vec<(String, String, String)> {
        fx.manifest(v)
            .documents
            .into_iter()
            .map(|d| (d.lang, d.id, d.path))
            .collect()
    };
    for (v, zh_install) in [
        ("1.0.0", "anzhuang/zhinan.md"),
        ("1.1.0", "anzhuang/an-zhuang.md"),
    ] {
        let got = ids(v);
        for (lang, id, path) in [
            ("en", "kb/setup/install", "setup/install.md"),
            ("zh", "kb/setup/install", zh_install),
            ("en", "notes", "notes.md"),
            ("zh", "notes", "notes.md"),
        ] {
            let want = (lang.to_string(), id.to_string(), path.to_string());
            assert!(got.contains(&want), "{v}: {want:?} not in {got:?}");
        }
    }
    let m = fx.manifest("1.0.0");
    let warnings: Vec<(String, String)> = m
        .warnings
        .iter()
        .map(|w| (w.code.to_string(), w.file.clone()))
        .collect();
    assert_eq!(
        warnings,
        [
            ("KB015".to_string(), "en/notes.md".to_string()),
            ("KB015".to_string(), "zh/notes.md".to_string())
        ]
    );
    // The pair holds across the rename: one change per language, the Chinese one a rename.
    let ns = fx
        .kbrel(&["diff", "1.0.0", "1.1.0", "--name-status"])
        .success();
    assert_eq!(
        name_status(&ns),
        [
            "M\ten/setup/install.md",
            "R100\tzh/anzhuang/zhinan.md\tzh/anzhuang/an-zhuang.md"
        ],
        "{ns}"
    );
    fx.kbrel(&["verify"]).success();
}

/// `Repo` remembers revisions and tags it resolved (a command asks for the same ones several
/// times); its own tag write forgets them, so a tag it creates is seen at once, and a name
/// it could not resolve before resolves after.
#[test]
fn a_repo_handle_sees_the_tags_it_creates() {
    let fx = Fx::committed();
    let head = fx.rev("HEAD");
    let repo = kbrel::git::Repo::discover(&fx.wt()).expect("open");
    assert_eq!(repo.tag_target("v1.0.0"), None);
    assert!(repo.resolve("v1.0.0").is_err());
    assert_eq!(repo.release_tag("v1.0.0"), None);
    assert!(repo.create_tag("v1.0.0", &head, "release").expect("tag"));
    assert_eq!(repo.tag_target("v1.0.0").as_deref(), Some(head.as_str()));
    assert_eq!(repo.resolve("v1.0.0").expect("resolves"), head);
    let (name, version) = repo.release_tag("v1.0.0").expect("a release tag");
    assert_eq!(
        (name.as_str(), version.to_string().as_str()),
        ("v1.0.0", "1.0.0")
    );
    // The same tag again: nothing to do; on another commit: refused, naming both.
    assert!(
        !repo
            .create_tag("v1.0.0", &head, "release")
            .expect("same commit")
    );
    fx.write("content/en/intro.md", "changed\n");
    let next = fx.commit("next");
    // A tag moved behind the handle's back is seen by its next write.
    fx.git(&["tag", "-f", "v1.0.0", &next]);
    let err = repo
        .create_tag("v1.0.0", &head, "release")
        .expect_err("moved");
    assert!(
        err.to_string().contains(&next[..7]) || err.to_string().contains(&next),
        "{err}"
    );
}
