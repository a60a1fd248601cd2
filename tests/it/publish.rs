//! End-to-end tests of `kbrel publish` through the real binary: registry layout and hashes,
//! diffs and changelog, `--json`, `--dry-run`, immutability, reproducibility, dist-tags,
//! `--bump`, the lock, and bad input (exit 2, registry untouched).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use common::*;
use kbrel::manifest::{ChangeCounts, ChangeStatus, DiffFile, Index, IndexVersion, Manifest};
use kbrel::publish::{Outcome, PublishReport};
use serde::Deserialize;

/// Read `v/<version>/manifest.json` of the fixture registry.
fn manifest(kb: &Kb, version: &str) -> Manifest {
    read_as(&kb.reg(&format!("v/{version}/manifest.json")))
}

/// Read `v/<version>/diff.json` of the fixture registry.
fn diff_file(kb: &Kb, version: &str) -> DiffFile {
    read_as(&kb.reg(&format!("v/{version}/diff.json")))
}

fn index(kb: &Kb) -> Index {
    read_as(&kb.reg("index.json"))
}

fn index_entry(kb: &Kb, version: &str) -> IndexVersion {
    index(kb)
        .versions
        .into_iter()
        .find(|v| v.version.to_string() == version)
        .unwrap_or_else(|| panic!("{version} is not in index.json"))
}

/// `name → version` (dist-tags).
fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, semver::Version> {
    pairs
        .iter()
        .map(|(t, v)| (t.to_string(), semver::Version::parse(v).unwrap()))
        .collect()
}

/// The parts of a package.json the tests check (kbrel writes more).
#[derive(Debug, Deserialize)]
struct PackageJson {
    name: String,
    version: String,
    types: Option<String>,
    exports: BTreeMap<String, Export>,
}

/// A package.json `exports` entry: a path, or conditions (`types`, `default`).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Export {
    Path(String),
    Conditions(BTreeMap<String, String>),
}

impl Export {
    fn condition(&self, name: &str) -> &str {
        match self {
            Export::Conditions(c) => c.get(name).map_or("", String::as_str),
            Export::Path(p) => panic!("{p:?} has no conditions"),
        }
    }
}

/// The static npm packument: what the tests check of it.
#[derive(Debug, Deserialize)]
struct Packument {
    name: String,
    #[serde(rename = "dist-tags")]
    dist_tags: BTreeMap<String, semver::Version>,
    versions: BTreeMap<String, PackumentVersion>,
}

#[derive(Debug, Deserialize)]
struct PackumentVersion {
    dist: Dist,
}

#[derive(Debug, Deserialize)]
struct Dist {
    integrity: String,
    shasum: String,
    tarball: String,
}

/// A change status as diff.json spells it.
fn status_name(status: ChangeStatus) -> String {
    serde_json::to_value(status)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// The number of lines of a text, as `git diff --numstat` counts them.
fn lines(text: &str) -> u64 {
    text.lines().count() as u64
}

/// The changelog section of one version (from its heading to the next release heading).
fn changelog_section(changelog: &str, version: &str) -> String {
    let start = changelog
        .find(&format!("## [{version}]"))
        .unwrap_or_else(|| panic!("no section for {version} in\n{changelog}"));
    let rest = &changelog[start..];
    let end = rest[3..].find("\n## [").map_or(rest.len(), |i| i + 4);
    rest[..end].to_string()
}

// ---------------------------------------------------------------------------------------------
// Layout and hashes

#[test]
fn first_publish_writes_exactly_the_registry_layout() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();

    let m = manifest(&kb, "1.0.0");
    let docs = &m.documents;
    let doc_paths: Vec<String> = docs
        .iter()
        .map(|d| format!("{}/{}", d.lang, d.path))
        .collect();
    assert_eq!(
        doc_paths, FIXTURE_DOCS,
        "documents sorted by language, then path"
    );

    let mut expected: BTreeSet<String> = [
        ".lock",
        "index.json",
        "v/1.0.0/manifest.json",
        "v/1.0.0/diff.json",
        "v/1.0.0/package.json",
        "acme-kb-1.0.0.tgz",
        // The static npm packument, named after the package.
        "acme-kb",
    ]
    .map(String::from)
    .into();
    for d in docs {
        let source = fs::read(kb.content().join(&d.lang).join(&d.path)).expect("source document");
        assert_eq!(sha256_hex(&source), d.sha256, "manifest sha256 of {d:?}");
        assert_eq!(d.size, source.len() as u64, "manifest size of {d:?}");
        expected.insert(blob_rel(&d.sha256));
    }
    assert_eq!(
        expected.len(),
        7 + FIXTURE_DOCS.len(),
        "one blob per document"
    );
    assert_eq!(list_files(&kb.registry()), expected);

    // Every blob is named by the sha256 of its bytes: blobs/sha256/<2 hex>/<62 hex>.
    for f in expected.iter().filter(|f| f.starts_with("blobs/")) {
        let parts: Vec<&str> = f.split('/').collect();
        assert_eq!(parts.len(), 4, "{f}");
        assert_eq!((parts[0], parts[1]), ("blobs", "sha256"));
        assert_eq!(parts[2].len(), 2, "{f}");
        assert_eq!(parts[3].len(), 62, "{f}");
        assert!(
            f.bytes()
                .skip("blobs/sha256/".len())
                .all(|b| b == b'/' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "lowercase hex: {f}"
        );
        let bytes = fs::read(kb.reg(f)).expect("blob");
        assert_eq!(sha256_hex(&bytes), format!("{}{}", parts[2], parts[3]));
    }

    // index.json points at the files with their true hashes and sizes.
    let idx = index(&kb);
    assert_eq!(idx.schema_version, 1);
    assert_eq!(idx.name, NAME);
    assert_eq!(idx.sequence, 1);
    assert_eq!(idx.dist_tags, tags(&[("latest", "1.0.0")]));
    assert_eq!(idx.versions.len(), 1);
    let v = &idx.versions[0];
    assert_eq!(v.version.to_string(), "1.0.0");
    assert_eq!(v.published, DATE_RFC3339);
    assert_eq!(v.previous, None);
    assert_eq!(v.content_digest, m.content_digest);
    for (field, file, path) in [
        ("manifest", &v.manifest, "v/1.0.0/manifest.json"),
        ("diff", &v.diff, "v/1.0.0/diff.json"),
        ("package_json", &v.package_json, "v/1.0.0/package.json"),
    ] {
        let bytes = fs::read(kb.reg(path)).expect("file");
        assert_eq!(file.path, path);
        assert_eq!(file.sha256, sha256_hex(&bytes), "{field}");
        assert_eq!(file.size, bytes.len() as u64, "{field}");
    }
    let tgz = fs::read(kb.reg("acme-kb-1.0.0.tgz")).expect("tarball");
    let t = &v.tarball;
    assert_eq!(t.path, "acme-kb-1.0.0.tgz");
    assert_eq!(t.size, tgz.len() as u64);
    assert_eq!(t.sha256, sha256_hex(&tgz));
    assert_eq!(t.integrity, sha512_sri(&tgz));
    assert_eq!(t.shasum, sha1_hex(&tgz));

    // The tarball holds the documents as stored, the manifest and the bundles.
    let entries = tar_entries(&tgz);
    let names: BTreeSet<String> = entries.iter().map(|(p, _, _)| p.clone()).collect();
    let mut want: BTreeSet<String> = [
        "package/package.json",
        "package/README.md",
        "package/manifest.json",
        "package/dist/esm/en.js",
        "package/dist/esm/zh.js",
        "package/dist/iife/en.js",
        "package/dist/iife/zh.js",
        "package/dist/esm/en.d.ts",
        "package/dist/esm/zh.d.ts",
        "package/dist/iife/en.d.ts",
        "package/dist/iife/zh.d.ts",
    ]
    .map(String::from)
    .into();
    want.extend(FIXTURE_DOCS.iter().map(|d| format!("package/docs/{d}")));
    // Format 4 adds the `{ meta, body }` bundles and lazy modules only when `[bundle] meta` /
    // `lazy` ask for them (tests/it/bundles.rs), and this fixture has no assets.
    assert_eq!(names, want);
    assert_eq!(t.file_count, entries.len() as u64);
    assert_eq!(
        t.unpacked_size,
        entries.iter().map(|(_, _, d)| d.len() as u64).sum::<u64>()
    );
    for (path, _, data) in &entries {
        if let Some(rel) = path.strip_prefix("package/docs/") {
            assert_eq!(
                data,
                &fs::read(kb.content().join(rel)).expect("source"),
                "{path}"
            );
        }
    }
    let shipped = &entries
        .iter()
        .find(|(p, _, _)| p == "package/manifest.json")
        .expect("manifest in package")
        .2;
    assert_eq!(
        shipped,
        &fs::read(kb.reg("v/1.0.0/manifest.json")).expect("manifest"),
        "the package ships the registry manifest byte for byte"
    );
    let pkg: PackageJson = serde_json::from_slice(
        &entries
            .iter()
            .find(|(p, _, _)| p == "package/package.json")
            .expect("package.json")
            .2,
    )
    .expect("package.json is JSON");
    assert_eq!(pkg.name, NAME);
    assert_eq!(pkg.version, "1.0.0");
    assert_eq!(
        fs::read(kb.reg("v/1.0.0/package.json")).unwrap(),
        entries
            .iter()
            .find(|(p, _, _)| p == "package/package.json")
            .unwrap()
            .2,
        "the registry keeps the package.json shipped in the tarball"
    );

    // The static npm packument advertises the tarball with its true integrity.
    let packument: Packument = read_as(&kb.reg("acme-kb"));
    assert_eq!(packument.name, NAME);
    assert_eq!(packument.dist_tags, idx.dist_tags);
    let dist = &packument.versions["1.0.0"].dist;
    assert_eq!(dist.integrity, sha512_sri(&tgz));
    assert_eq!(dist.shasum, sha1_hex(&tgz));
    assert!(dist.tarball.ends_with("acme-kb-1.0.0.tgz"), "{dist:?}");

    // The first diff adds everything.
    let diff = diff_file(&kb, "1.0.0");
    assert_eq!(diff.from, None);
    assert_eq!(diff.to, "1.0.0");
    let changes = &diff.changes;
    assert_eq!(changes.len(), FIXTURE_DOCS.len());
    assert!(
        changes.iter().all(|c| c.status == ChangeStatus::Added),
        "{diff:?}"
    );
    for lang in ["en", "zh"] {
        assert_eq!(diff.summary[lang].documents, 4);
        assert_eq!(diff.summary[lang].added, 4);
    }
    assert_eq!(v.summary, diff.summary);
    assert!(kb.changelog().is_file());
}

// ---------------------------------------------------------------------------------------------
// Diffs and the changelog

#[test]
fn second_publish_diffs_statuses_and_counts_and_prepends_changelog() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let first_changelog = fs::read_to_string(kb.changelog()).expect("changelog");
    let legacy = [kb.read("en/legacy.md"), kb.read("zh/legacy.md")];
    kb.apply_release_2_changes();
    let upgrade = [
        kb.read("en/guide/upgrade.md"),
        kb.read("zh/guide/upgrade.md"),
    ];
    let setup_lines = lines(&kb.read("en/guide/installation.md"));

    kb.publish(&["1.1.0", "--date", "2026-12-01"])
        .success()
        .stdout_has(&["Published acme-kb@1.1.0 (changes against 1.0.0)"]);

    let diff = diff_file(&kb, "1.1.0");
    assert_eq!(diff.from.as_deref(), Some("1.0.0"));
    assert_eq!(diff.to, "1.1.0");
    let got: Vec<(String, String, String, Option<String>, u64, u64)> = diff
        .changes
        .iter()
        .map(|c| {
            (
                c.lang.clone(),
                status_name(c.status),
                c.path.clone(),
                c.old_path.clone(),
                c.added_lines,
                c.removed_lines,
            )
        })
        .collect();
    let mut want = Vec::new();
    for (i, lang) in ["en", "zh"].into_iter().enumerate() {
        let t = |s: &str| s.to_string();
        want.push((
            t(lang),
            t("renamed"),
            t("guide/installation.md"),
            Some(t("guide/setup.md")),
            1,
            1,
        ));
        want.push((
            t(lang),
            t("added"),
            t("guide/upgrade.md"),
            None,
            lines(&upgrade[i]),
            0,
        ));
        if lang == "en" {
            want.push((t(lang), t("modified"), t("intro.md"), None, 3, 1));
        }
        want.push((
            t(lang),
            t("removed"),
            t("legacy.md"),
            None,
            0,
            lines(&legacy[i]),
        ));
    }
    assert_eq!(got, want, "sorted by language, then path");

    let changes = &diff.changes;
    let renamed = &changes[0];
    assert_eq!(renamed.id, "guide/installation");
    assert_eq!(renamed.fields_changed, ["url"]);
    assert!(!renamed.body_changed);
    let sim = u64::from(renamed.similarity.expect("similarity"));
    assert!(sim >= 50, "{sim}");
    assert_eq!(
        sim,
        (setup_lines - 1) * 100 / setup_lines,
        "share of lines kept"
    );
    let modified = &changes[2];
    assert!(modified.body_changed);
    assert!(modified.fields_changed.is_empty());

    let counts = |lang: &str| {
        let s: &ChangeCounts = &diff.summary[lang];
        [
            s.documents,
            s.added,
            s.modified,
            s.renamed,
            s.removed,
            s.added_lines,
            s.removed_lines,
        ]
    };
    let en_added = 1 + lines(&upgrade[0]) + 3;
    let en_removed = 1 + lines(&legacy[0]) + 1;
    assert_eq!(counts("en"), [4, 1, 1, 1, 1, en_added, en_removed]);
    let zh_added = 1 + lines(&upgrade[1]);
    let zh_removed = 1 + lines(&legacy[1]);
    assert_eq!(counts("zh"), [4, 1, 0, 1, 1, zh_added, zh_removed]);

    // previous is recorded everywhere; unchanged documents reuse their blobs.
    assert_eq!(
        manifest(&kb, "1.1.0").previous,
        Some(semver::Version::new(1, 0, 0))
    );
    let entry = index_entry(&kb, "1.1.0");
    assert_eq!(entry.previous, Some(semver::Version::new(1, 0, 0)));
    assert_eq!(entry.published, "2026-12-01T00:00:00Z");
    assert_eq!(entry.summary, diff.summary);
    assert_eq!(index(&kb).sequence, 2);
    assert_eq!(index(&kb).dist_tags, tags(&[("latest", "1.1.0")]));
    let blobs = list_files(&kb.registry())
        .into_iter()
        .filter(|f| f.starts_with("blobs/"))
        .count();
    assert_eq!(blobs, 8 + 5, "5 new texts: en intro, 2 renamed, 2 added");

    // The changelog: the new section goes on top, under the header, with keys, titles and
    // counts (package format 4: `Key` — **Title**).
    let changelog = fs::read_to_string(kb.changelog()).expect("changelog");
    assert_eq!(changelog.matches("# Changelog").count(), 1);
    let new_at = changelog.find("## [1.1.0]").expect("1.1.0 section");
    let old_at = changelog.find("## [1.0.0]").expect("1.0.0 section");
    assert!(new_at < old_at, "newest first:\n{changelog}");
    assert!(
        changelog.ends_with(&first_changelog[first_changelog.find("## [1.0.0]").unwrap()..]),
        "the 1.0.0 section is kept verbatim"
    );
    let section = changelog_section(&changelog, "1.1.0");
    for needle in [
        "## [1.1.0](https://github.com/acme/kb/compare/v1.0.0...v1.1.0) - 2026-12-01\n",
        &format!("### en (4 changed, +{en_added} -{en_removed})\n"),
        &format!("### zh (3 changed, +{zh_added} -{zh_removed})\n"),
        "— **Introduction** (`intro.md`) +3 -1",
        &format!(
            "— **Upgrading** (`guide/upgrade.md`) +{}\n",
            lines(&upgrade[0])
        ),
        &format!("— **Legacy agent** (`legacy.md`) -{}\n", lines(&legacy[0])),
        &format!(
            "— **Setting up the agent** `guide/setup.md` → `guide/installation.md` ({sim}% similar)"
        ),
        "— **升级** (`guide/upgrade.md`)",
        "— **旧版代理** (`legacy.md`)",
        "#### Added",
        "#### Changed",
        "#### Removed",
        "#### Renamed",
    ] {
        assert!(section.contains(needle), "{needle:?} not in\n{section}");
    }
}

#[test]
fn rename_below_the_similarity_threshold_is_a_removal_plus_an_addition() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    kb.remove("en/guide/setup.md");
    kb.write(
        "en/guide/quickstart.md",
        doc(
            "Quick start",
            "Five minutes from zero to a connected agent.",
            "https://kb.acme.example/en/guide/quickstart",
            "GuideQuickstart",
            "# Quick start\n\nUse the one-line installer:\n\n    curl -fsSL https://get.acme.example | sh\n\nThen open the dashboard; the agent shows up within a minute.\n",
        ),
    );
    kb.remove("zh/guide/setup.md");
    kb.write(
        "zh/guide/quickstart.md",
        doc(
            "快速开始",
            "五分钟内从零到连接好的代理。",
            "https://kb.acme.example/zh/guide/quickstart",
            "GuideQuickstart",
            "# 快速开始\n\n使用一行安装命令：\n\n    curl -fsSL https://get.acme.example | sh\n\n然后打开控制台，一分钟内就能看到代理。\n",
        ),
    );
    kb.publish(&["1.1.0"]).success();
    let diff = diff_file(&kb, "1.1.0");
    let got: Vec<(&str, String, &str)> = diff
        .changes
        .iter()
        .map(|c| (c.lang.as_str(), status_name(c.status), c.path.as_str()))
        .collect();
    let got: Vec<(&str, &str, &str)> = got.iter().map(|(l, s, p)| (*l, s.as_str(), *p)).collect();
    assert_eq!(
        got,
        [
            ("en", "added", "guide/quickstart.md"),
            ("en", "removed", "guide/setup.md"),
            ("zh", "added", "guide/quickstart.md"),
            ("zh", "removed", "guide/setup.md"),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// --json and --dry-run

#[test]
fn json_output_has_version_outcome_and_summary() {
    let kb = Kb::new();
    let first = kb.publish(&["1.0.0", "--json"]).success();
    let r: PublishReport = first.parse();
    assert_eq!(r.name, NAME);
    assert_eq!(r.version, "1.0.0");
    assert_eq!(r.outcome, Outcome::Published);
    assert_eq!(r.previous, None);
    assert_eq!(r.published, DATE_RFC3339);
    assert_eq!(r.tags_set, ["latest"]);
    assert_eq!(r.new_blobs, 8);
    for lang in ["en", "zh"] {
        assert_eq!(r.summary[lang].documents, 4, "{r:?}");
        assert_eq!(r.summary[lang].added, 4, "{r:?}");
    }
    assert_eq!(r.summary, index_entry(&kb, "1.0.0").summary);
    assert_eq!(r.tarball, index_entry(&kb, "1.0.0").tarball);
    let files: BTreeSet<&str> = r.files.iter().map(String::as_str).collect();
    let on_disk = list_files(&kb.registry());
    let on_disk: BTreeSet<&str> = on_disk
        .iter()
        .map(String::as_str)
        .filter(|f| *f != ".lock")
        .collect();
    assert_eq!(files, on_disk, "`files` lists what was written");
    assert!(r.changelog_section.starts_with("## [1.0.0]"), "{r:?}");

    kb.apply_release_2_changes();
    let r: PublishReport = kb.publish(&["1.1.0", "--json"]).success().parse();
    assert_eq!(r.version, "1.1.0");
    assert_eq!(r.outcome, Outcome::Published);
    assert_eq!(r.previous.as_deref(), Some("1.0.0"));
    assert_eq!(r.new_blobs, 5);
    let en = &r.summary["en"];
    assert_eq!(
        (en.documents, en.added, en.modified, en.renamed, en.removed),
        (4, 1, 1, 1, 1)
    );

    let again: PublishReport = kb.publish(&["1.1.0", "--json"]).success().parse();
    assert_eq!(again.outcome, Outcome::AlreadyPublished);
    assert_eq!(again.version, "1.1.0");
    assert_eq!(again.summary, r.summary);
}

#[test]
fn dry_run_writes_nothing_but_lists_what_it_would_write() {
    let kb = Kb::new();
    // Nothing exists yet: nothing may be created.
    let reg = kb.registry();
    let run = kb.publish(&["1.0.0", "--dry-run"]).success();
    assert!(!reg.exists(), "dry run created the registry");
    assert!(!kb.changelog().exists(), "dry run created the changelog");
    let stdout = run.stdout.clone();
    run.stdout_has(&[
        "Would publish (dry run) acme-kb@1.0.0 (first release)",
        "would write 8 new blob(s) and:",
        &reg.join("v/1.0.0/manifest.json").display().to_string(),
        &reg.join("v/1.0.0/diff.json").display().to_string(),
        &reg.join("acme-kb-1.0.0.tgz").display().to_string(),
        &reg.join("index.json").display().to_string(),
        &format!("{} (new section)", kb.changelog().display()),
    ]);
    assert!(!stdout.contains("Published"), "{stdout}");

    // With an existing registry and changelog: both stay byte-identical.
    kb.publish(&["1.0.0"]).success();
    kb.apply_release_2_changes();
    let reg_before = snapshot(&reg);
    let log_before = snapshot(&kb.changelog());
    kb.publish(&["1.1.0", "--dry-run"]).success().stdout_has(&[
        "Would publish (dry run) acme-kb@1.1.0 (changes against 1.0.0)",
        "would write 5 new blob(s) and:",
        &reg.join("v/1.1.0/manifest.json").display().to_string(),
    ]);
    let r: PublishReport = kb
        .publish(&["1.1.0", "--dry-run", "--json"])
        .success()
        .parse();
    assert_eq!(r.outcome, Outcome::DryRun);
    assert_eq!(r.version, "1.1.0");
    let files: Vec<&str> = r.files.iter().map(String::as_str).collect();
    assert_eq!(files.iter().filter(|f| f.starts_with("blobs/")).count(), 5);
    assert_eq!(
        files[5..],
        [
            "v/1.1.0/manifest.json",
            "v/1.1.0/diff.json",
            "v/1.1.0/package.json",
            "acme-kb-1.1.0.tgz",
            "acme-kb",
            "index.json"
        ]
    );
    // index.json and the packument exist already (1.0.0); nothing else may.
    for f in files
        .iter()
        .filter(|f| !["index.json", "acme-kb"].contains(*f))
    {
        assert!(!kb.reg(f).exists(), "dry run wrote {f}");
    }
    assert_same_tree(&reg_before, &snapshot(&reg), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
}

// ---------------------------------------------------------------------------------------------
// Immutability

#[test]
fn republishing_identical_content_is_a_no_op() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());
    for date in [DATE, "2027-01-01"] {
        kb.publish(&["1.0.0", "--date", date])
            .success()
            .stdout_has(&[
                "Already published acme-kb@1.0.0",
                "identical content is already in",
                DATE_RFC3339,
            ]);
        assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
        assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
    }
}

#[test]
fn republishing_different_content_under_the_same_version_is_refused() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());

    kb.edit(
        "en/intro.md",
        "one task per page",
        "one task per page (mostly)",
    );
    kb.publish(&["1.0.0"]).code(2).stderr_has(&[
        "1.0.0",
        "already published",
        "en/intro.md changed",
    ]);
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");

    kb.write(
        "zh/extra.md",
        doc(
            "额外",
            "额外的页面。",
            "https://kb.acme.example/zh/extra",
            "Extra",
            "# 额外\n\n内容。\n",
        ),
    );
    kb.publish(&["v1.0.0"]).code(2).stderr_has(&[
        "1.0.0",
        "en/intro.md changed",
        "zh/extra.md added",
    ]);
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
}

#[test]
fn republishing_with_different_package_metadata_is_refused() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let reg_before = snapshot(&kb.registry());
    let config = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        config.replace("license = \"MIT\"", "license = \"Apache-2.0\""),
    )
    .unwrap();
    kb.publish(&["1.0.0"])
        .code(2)
        .stderr_has(&["1.0.0", "package metadata"]);
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
}

#[test]
fn republishing_restores_a_missing_changelog_section_only_when_not_a_dry_run() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let original = fs::read(kb.changelog()).unwrap();
    let reg_before = snapshot(&kb.registry());
    fs::remove_file(kb.changelog()).unwrap();

    let changelog = kb.changelog().display().to_string();
    let dry = kb.publish(&["1.0.0", "--dry-run"]).success();
    assert!(
        dry.stdout.contains("Already published acme-kb@1.0.0"),
        "{dry}"
    );
    assert!(dry.stdout.contains(&changelog), "{dry}");
    assert!(
        !dry.stdout.contains("wrote"),
        "a dry run must not claim it wrote anything\n{dry}"
    );
    assert!(dry.stdout.contains("would write"), "{dry}");
    assert!(!kb.changelog().exists(), "dry run wrote the changelog");

    kb.publish(&["1.0.0"])
        .success()
        .stdout_has(&["Already published acme-kb@1.0.0", &changelog]);
    assert_eq!(
        fs::read(kb.changelog()).unwrap(),
        original,
        "the restored section equals the original one"
    );
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
}

#[test]
fn concurrent_publishes_are_serialised_by_the_lock() {
    let kb = Kb::new();
    let spawn = |version: &str| {
        let mut cmd = kb.cmd();
        cmd.args(["publish", version, "--date", DATE, "--lock-wait", "60"])
            .arg("--changelog")
            .arg(kb.changelog())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().expect("spawn kbrel")
    };
    // Two versions at once: both land, one after the other.
    let (a, b) = (spawn("1.0.0"), spawn("1.1.0"));
    for child in [a, b] {
        Run::from_output(child.wait_with_output().unwrap()).success();
    }
    let idx = index(&kb);
    assert_eq!(idx.sequence, 2);
    assert_eq!(idx.versions.len(), 2);
    assert_eq!(idx.dist_tags["latest"].to_string(), "1.1.0");
    let changelog = fs::read_to_string(kb.changelog()).unwrap();
    assert_eq!(changelog.matches("## [1.1.0]").count(), 1, "{changelog}");
    assert_eq!(changelog.matches("## [1.0.0]").count(), 1, "{changelog}");
    assert!(changelog.find("## [1.1.0]") < changelog.find("## [1.0.0]"));
    for v in ["1.0.0", "1.1.0"] {
        let e = index_entry(&kb, v);
        for (f, path, sha256) in [
            ("manifest", &e.manifest.path, &e.manifest.sha256),
            ("diff", &e.diff.path, &e.diff.sha256),
            ("tarball", &e.tarball.path, &e.tarball.sha256),
        ] {
            let bytes = fs::read(kb.reg(path)).unwrap();
            assert_eq!(*sha256, sha256_hex(&bytes), "{v} {f}");
        }
    }

    // The same version at once: one publishes, the other finds it already published.
    let (a, b) = (spawn("2.0.0"), spawn("2.0.0"));
    let runs: Vec<Run> = [a, b]
        .into_iter()
        .map(|c| Run::from_output(c.wait_with_output().unwrap()).success())
        .collect();
    let published = runs
        .iter()
        .filter(|r| r.stdout.starts_with("Published acme-kb@2.0.0"))
        .count();
    let already = runs
        .iter()
        .filter(|r| r.stdout.starts_with("Already published acme-kb@2.0.0"))
        .count();
    assert_eq!((published, already), (1, 1), "{}\n{}", runs[0], runs[1]);
    assert_eq!(index(&kb).sequence, 3);
    let changelog = fs::read_to_string(kb.changelog()).unwrap();
    assert_eq!(changelog.matches("## [2.0.0]").count(), 1, "{changelog}");
    assert!(
        snapshot(&kb.registry())
            .unwrap()
            .keys()
            .all(|k| !k.starts_with(".staging-")),
        "no staging left"
    );
}

/// `--changelog` naming a FIFO or a directory is refused before anything is written (a dry run
/// checks it too); reading a FIFO would block and replacing it would destroy it. A symlinked
/// changelog is written through and stays a link.
#[test]
fn changelog_must_be_a_regular_file_and_a_link_stays_a_link() {
    use std::os::unix::fs::FileTypeExt;
    let kb = Kb::new();
    let fifo = kb.root().join("changelog.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let dir = kb.root().join("changelog-dir");
    fs::create_dir(&dir).unwrap();
    for bad in [&fifo, &dir] {
        for extra in [&[][..], &["--dry-run"][..]] {
            let mut cmd = kb.cmd();
            cmd.args(["publish", "1.0.0", "--date", DATE])
                .args(extra)
                .arg("--changelog")
                .arg(bad)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            // Bounded: the bug this guards against blocks on reading the FIFO.
            let mut child = cmd.spawn().unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while child.try_wait().unwrap().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("publish with --changelog {} did not finish", bad.display());
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("not a regular file")
                    && stderr.contains(&*bad.display().to_string()),
                "{stderr}"
            );
            assert!(!kb.reg("index.json").exists(), "nothing published");
            assert_eq!(
                list_files(&kb.registry())
                    .iter()
                    .filter(|f| !f.starts_with(".lock"))
                    .count(),
                0,
                "registry left empty"
            );
        }
    }
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&dir).unwrap().is_dir());

    let real = kb.root().join("docs/CHANGELOG.md");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, "# Changelog\n").unwrap();
    std::os::unix::fs::symlink("docs/CHANGELOG.md", kb.changelog()).unwrap();
    kb.publish(&["1.0.0"]).success();
    assert!(
        fs::symlink_metadata(kb.changelog())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let text = fs::read_to_string(&real).unwrap();
    assert!(
        text.starts_with("# Changelog\n") && text.contains("## [1.0.0]"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Reproducibility

#[test]
fn same_content_version_and_date_give_identical_bytes() {
    let (a, b, c) = (Kb::new(), Kb::new(), Kb::new());
    a.publish(&["1.0.0"]).success();
    b.publish(&["1.0.0"]).success();
    // SOURCE_DATE_EPOCH as the date source, no --date.
    let mut cmd = c.cmd();
    cmd.env("SOURCE_DATE_EPOCH", DATE_EPOCH)
        .args(["publish", "1.0.0", "--changelog"])
        .arg(c.changelog());
    run(&mut cmd).success();
    assert_eq!(manifest(&c, "1.0.0").published, DATE_RFC3339);

    let files = [
        "index.json",
        "v/1.0.0/manifest.json",
        "v/1.0.0/diff.json",
        "acme-kb-1.0.0.tgz",
    ];
    for kb in [&b, &c] {
        assert_same_tree(
            &snapshot(&a.registry()),
            &snapshot(&kb.registry()),
            "registry",
        );
        for f in files {
            assert_eq!(
                fs::read(a.reg(f)).unwrap(),
                fs::read(kb.reg(f)).unwrap(),
                "{f}"
            );
        }
        assert_eq!(
            fs::read(a.changelog()).unwrap(),
            fs::read(kb.changelog()).unwrap()
        );
    }

    // A second release is reproducible too (diff against a previous version).
    for kb in [&a, &b] {
        kb.apply_release_2_changes();
        kb.publish(&["1.1.0"]).success();
    }
    assert_same_tree(
        &snapshot(&a.registry()),
        &snapshot(&b.registry()),
        "registry",
    );
    assert_eq!(
        changelog_section(&fs::read_to_string(a.changelog()).unwrap(), "1.1.0"),
        changelog_section(&fs::read_to_string(b.changelog()).unwrap(), "1.1.0")
    );

    // --date wins over SOURCE_DATE_EPOCH; another date changes the bytes.
    let d = Kb::new();
    let mut cmd = d.cmd();
    cmd.env("SOURCE_DATE_EPOCH", "0")
        .args(["publish", "1.0.0", "--date", "2026-12-24", "--changelog"])
        .arg(d.changelog());
    run(&mut cmd).success();
    assert_eq!(manifest(&d, "1.0.0").published, "2026-12-24T00:00:00Z");
    assert_ne!(
        fs::read(a.reg("acme-kb-1.0.0.tgz")).unwrap(),
        fs::read(d.reg("acme-kb-1.0.0.tgz")).unwrap()
    );
    assert_eq!(
        manifest(&a, "1.0.0").content_digest,
        manifest(&d, "1.0.0").content_digest,
        "the date is not part of the content identity"
    );

    // A bad SOURCE_DATE_EPOCH is an error naming the value.
    let e = Kb::new();
    let mut cmd = e.cmd();
    cmd.env("SOURCE_DATE_EPOCH", "yesterday")
        .args(["publish", "1.0.0", "--changelog"])
        .arg(e.changelog());
    run(&mut cmd).code(2).stderr_has(&["yesterday"]);
    assert!(!e.registry().exists());
}

#[test]
fn package_format_1_rebuilds_the_older_layout_and_is_recorded() {
    let (two, one) = (Kb::new(), Kb::new());
    two.publish(&["1.0.0", "--package-format", "2"]).success();
    one.publish(&["1.0.0", "--package-format", "1"]).success();
    // Recorded: absent for format 1 (releases made before the field existed).
    assert_eq!(manifest(&two, "1.0.0").package_format, 2);
    let one_text = fs::read_to_string(one.reg("v/1.0.0/manifest.json")).unwrap();
    assert!(!one_text.contains("\"package_format\""), "{one_text}");
    assert_eq!(manifest(&one, "1.0.0").package_format, 1);
    assert_eq!(
        manifest(&two, "1.0.0").content_digest,
        manifest(&one, "1.0.0").content_digest,
        "the format is not part of the content identity"
    );
    let entries = |kb: &Kb| tar_entries(&fs::read(kb.reg("acme-kb-1.0.0.tgz")).unwrap());
    let (e2, e1) = (entries(&two), entries(&one));
    let names = |e: &[(String, tar::Header, Vec<u8>)]| -> Vec<String> {
        e.iter().map(|x| x.0.clone()).collect()
    };
    // The same documents and bundles (manifest.json differs by the recorded format)…
    let files = |e: &[(String, tar::Header, Vec<u8>)]| -> BTreeMap<String, Vec<u8>> {
        e.iter()
            .filter(|x| x.0 != "package/manifest.json")
            .map(|x| (x.0.clone(), x.2.clone()))
            .collect()
    };
    assert_eq!(files(&e2), files(&e1));
    // …format 1: bundles, then every document by path; format 2: per language, its bundles
    // then its documents.
    let n1 = names(&e1);
    let first_doc = n1.iter().position(|n| n.contains("/docs/")).unwrap();
    assert!(
        n1[first_doc..].iter().all(|n| n.contains("/docs/")),
        "{n1:?}"
    );
    let n2 = names(&e2);
    let zh_esm = n2
        .iter()
        .position(|n| n == "package/dist/esm/zh.js")
        .unwrap();
    assert!(
        n2[..zh_esm]
            .iter()
            .any(|n| n.starts_with("package/docs/en/")),
        "{n2:?}"
    );
    assert!(
        n2[zh_esm..]
            .iter()
            .all(|n| !n.starts_with("package/docs/en/")),
        "{n2:?}"
    );
    // Each is reproducible with its format.
    let again = Kb::new();
    again.publish(&["1.0.0", "--package-format", "1"]).success();
    assert_eq!(
        fs::read(one.reg("acme-kb-1.0.0.tgz")).unwrap(),
        fs::read(again.reg("acme-kb-1.0.0.tgz")).unwrap()
    );
    // Re-publishing the same content in the other format is "already published".
    two.publish(&["1.0.0", "--package-format", "1"])
        .success()
        .stdout_has(&["already"]);
}

#[test]
fn rejects_an_unknown_package_format() {
    for bad in ["0", "5", "two"] {
        assert_rejected(|_| {}, &["1.1.0", "--package-format", bad], &[bad], true);
    }
}

#[test]
fn package_format_3_adds_declarations_and_conditional_exports_to_format_2() {
    let (three, two) = (Kb::new(), Kb::new());
    three.publish(&["1.0.0", "--package-format", "3"]).success();
    two.publish(&["1.0.0", "--package-format", "2"]).success();
    assert_eq!(manifest(&three, "1.0.0").package_format, 3);
    let entries = |kb: &Kb| tar_entries(&fs::read(kb.reg("acme-kb-1.0.0.tgz")).unwrap());
    let files = |e: &[(String, tar::Header, Vec<u8>)]| -> BTreeMap<String, Vec<u8>> {
        e.iter()
            .filter(|x| x.0 != "package/manifest.json" && x.0 != "package/package.json")
            .map(|x| (x.0.clone(), x.2.clone()))
            .collect()
    };
    let (mut f3, f2) = (files(&entries(&three)), files(&entries(&two)));
    // Format 3 = format 2's files plus one declaration per bundle…
    let mut dts: Vec<String> = f3
        .keys()
        .filter(|n| n.ends_with(".d.ts"))
        .cloned()
        .collect();
    dts.sort();
    assert_eq!(
        dts,
        [
            "package/dist/esm/en.d.ts",
            "package/dist/esm/zh.d.ts",
            "package/dist/iife/en.d.ts",
            "package/dist/iife/zh.d.ts"
        ]
    );
    let esm_dts = String::from_utf8(f3["package/dist/esm/en.d.ts"].clone()).unwrap();
    let keys: Vec<String> = manifest(&three, "1.0.0")
        .documents
        .into_iter()
        .filter(|d| d.lang == "en")
        .map(|d| d.key)
        .collect();
    for k in &keys {
        assert!(
            esm_dts.contains(&format!("| {}", serde_json::to_string(k).unwrap())),
            "{k} in {esm_dts}"
        );
    }
    assert!(esm_dts.contains("export default docs;"));
    let iife_dts = String::from_utf8(f3["package/dist/iife/en.d.ts"].clone()).unwrap();
    assert!(
        iife_dts.contains("declare var AcmeKbEn: { readonly [K in"),
        "{iife_dts}"
    );
    f3.retain(|n, _| !n.ends_with(".d.ts"));
    assert_eq!(f3, f2, "…and the same bundles and documents");
    // package.json: `types` and conditional exports with the deep paths.
    let pj: PackageJson = read_as(&three.reg("v/1.0.0/package.json"));
    assert_eq!(pj.types.as_deref(), Some("./dist/esm/en.d.ts"));
    assert_eq!(pj.exports["./zh"].condition("types"), "./dist/esm/zh.d.ts");
    assert_eq!(pj.exports["./zh"].condition("default"), "./dist/esm/zh.js");
    assert_eq!(
        pj.exports["./dist/esm/*.js"].condition("default"),
        "./dist/esm/*.js"
    );
    assert_eq!(
        pj.exports["./dist/iife/*.js"].condition("default"),
        "./dist/iife/*.js"
    );
    let pj2: PackageJson = read_as(&two.reg("v/1.0.0/package.json"));
    assert_eq!(pj2.types, None);
    assert_eq!(pj2.exports["./zh"], Export::Path("./dist/esm/zh.js".into()));
}

// ---------------------------------------------------------------------------------------------
// dist-tags and versions

#[test]
fn dist_tags_latest_only_moves_forward_and_prereleases_go_to_next() {
    let kb = Kb::new();
    kb.publish(&["1.3.0"])
        .success()
        .stdout_has(&["dist-tags: latest → 1.3.0"]);
    let run = kb.publish(&["1.2.5"]).success();
    assert!(
        run.stdout.contains("backport: `latest` stays at 1.3.0"),
        "{run}"
    );
    assert!(!run.stdout.contains("dist-tags:"), "{run}");
    assert_eq!(index(&kb).dist_tags, tags(&[("latest", "1.3.0")]));
    assert_eq!(index_entry(&kb, "1.2.5").previous, None);

    let r: PublishReport = kb.publish(&["2.0.0-beta.1", "--json"]).success().parse();
    assert_eq!(r.tags_set, ["next"]);
    assert!(!r.backport);
    assert_eq!(
        index_entry(&kb, "2.0.0-beta.1").previous,
        Some(semver::Version::new(1, 3, 0))
    );
    assert_eq!(
        index(&kb).dist_tags,
        tags(&[("latest", "1.3.0"), ("next", "2.0.0-beta.1")])
    );

    kb.publish(&["2.0.0-beta.2", "--tag", "beta"])
        .success()
        .stdout_has(&["dist-tags: beta → 2.0.0-beta.2"]);
    let idx = index(&kb);
    assert_eq!(
        idx.dist_tags,
        tags(&[
            ("latest", "1.3.0"),
            ("next", "2.0.0-beta.1"),
            ("beta", "2.0.0-beta.2")
        ])
    );
    let versions: Vec<String> = idx.versions.iter().map(|v| v.version.to_string()).collect();
    assert_eq!(versions, ["1.2.5", "1.3.0", "2.0.0-beta.1", "2.0.0-beta.2"]);
    assert_eq!(idx.sequence, 4);

    // The backport's changelog section sits below the newer release.
    let changelog = fs::read_to_string(kb.changelog()).unwrap();
    let order: Vec<&str> = changelog
        .lines()
        .filter(|l| l.starts_with("## ["))
        .collect();
    assert_eq!(order.len(), 4, "{changelog}");
    for (line, v) in order
        .iter()
        .zip(["2.0.0-beta.2", "2.0.0-beta.1", "1.3.0", "1.2.5"])
    {
        assert!(line.starts_with(&format!("## [{v}]")), "{changelog}");
    }

    // A version is not a tag.
    let before = snapshot(&kb.registry());
    kb.publish(&["2.0.0", "--tag", "1.0.0"])
        .code(2)
        .stderr_has(&["dist-tag `1.0.0`"]);
    assert_same_tree(&before, &snapshot(&kb.registry()), "the registry");
}

/// The version `--bump <kind>` resolves to, from a dry run.
fn bumped(kb: &Kb, kind: &str) -> String {
    let r: PublishReport = kb
        .publish(&["--bump", kind, "--dry-run", "--json"])
        .success()
        .parse();
    r.version
}

#[test]
fn bump_picks_the_next_version_from_the_highest_published() {
    let kb = Kb::new();
    assert_eq!(
        bumped(&kb, "minor"),
        "0.1.0",
        "an empty registry starts at 0.0.0"
    );
    assert_eq!(bumped(&kb, "patch"), "0.0.1");
    assert!(!kb.registry().exists());

    kb.publish(&["1.2.3"]).success();
    for (kind, want) in [
        ("patch", "1.2.4"),
        ("minor", "1.3.0"),
        ("major", "2.0.0"),
        ("prerelease", "1.2.4-0"),
    ] {
        assert_eq!(bumped(&kb, kind), want, "--bump {kind} from 1.2.3");
    }

    kb.publish(&["--bump", "prerelease"])
        .success()
        .stdout_has(&["Published acme-kb@1.2.4-0", "dist-tags: next → 1.2.4-0"]);
    assert_eq!(bumped(&kb, "prerelease"), "1.2.4-1");
    assert_eq!(
        bumped(&kb, "patch"),
        "1.2.4",
        "a prerelease's patch is itself"
    );

    kb.publish(&["2.0.0-beta.1"]).success();
    for (kind, want) in [
        ("prerelease", "2.0.0-beta.2"),
        ("major", "2.0.0"),
        ("minor", "2.0.0"),
        ("patch", "2.0.0"),
    ] {
        assert_eq!(bumped(&kb, kind), want, "--bump {kind} from 2.0.0-beta.1");
    }

    // A backport (1.2.5 below 2.0.0-beta.1) does not change what a bump starts from.
    kb.publish(&["1.2.5"]).success();
    kb.publish(&["--bump", "major"])
        .success()
        .stdout_has(&["Published acme-kb@2.0.0"]);
    assert_eq!(index(&kb).dist_tags["latest"].to_string(), "2.0.0");
    assert_eq!(bumped(&kb, "minor"), "2.1.0");
}

// ---------------------------------------------------------------------------------------------
// The lock

#[test]
fn a_second_publisher_fails_fast_while_the_lock_is_held() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());

    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(kb.reg(".lock"))
        .expect("open the lock file");
    lock.try_lock().expect("take the publish lock");

    kb.apply_release_2_changes();
    kb.publish(&["1.1.0", "--lock-wait", "0"])
        .code(2)
        .stderr_has(&["locked", &kb.reg(".lock").display().to_string()]);
    assert_same_tree(&before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");

    // A dry run takes no lock.
    kb.publish(&["1.1.0", "--dry-run", "--lock-wait", "0"])
        .success();

    lock.unlock().expect("release the lock");
    kb.publish(&["1.1.0", "--lock-wait", "0"]).success();
    drop(lock);
}

#[test]
fn the_lock_is_taken_on_a_fresh_registry_too() {
    let kb = Kb::new();
    fs::create_dir_all(kb.registry()).unwrap();
    let lock = fs::File::create(kb.reg(".lock")).unwrap();
    lock.lock().expect("take the publish lock");
    kb.publish(&["1.0.0", "--lock-wait", "0"])
        .code(2)
        .stderr_has(&["locked"]);
    assert_eq!(
        list_files(&kb.registry()),
        BTreeSet::from([".lock".to_string()])
    );
    assert!(!kb.changelog().exists());
}

// ---------------------------------------------------------------------------------------------
// Bad input: exit 2, a message naming the culprit, nothing written.

/// Publish 1.0.0 from the pristine fixture, break something with `setup`, then check that
/// `publish <args>` exits 2 naming every needle, leaves the registry and changelog
/// byte-identical, and (when `fresh`) creates nothing in a registry that did not exist.
fn assert_rejected(setup: impl FnOnce(&Kb), args: &[&str], needles: &[&str], fresh: bool) {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    setup(&kb);
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());
    let run = kb
        .publish(args)
        .code(2)
        .stderr_has(&["error:"])
        .stderr_has(needles);
    assert!(
        run.stdout.is_empty(),
        "nothing on stdout for an error\n{run}"
    );
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
    if fresh {
        let reg = kb.root().join("fresh-registry");
        let log = kb.root().join("fresh-CHANGELOG.md");
        kb.publish_into(&reg, &log, args)
            .code(2)
            .stderr_has(needles);
        assert!(!reg.exists(), "a failed publish created the registry");
        assert!(!log.exists(), "a failed publish created the changelog");
    }
}

#[test]
fn rejects_malformed_yaml_front_matter() {
    assert_rejected(
        |kb| kb.edit("en/intro.md", "title: Introduction", "title: [Introduction"),
        &["1.1.0"],
        &["en/intro.md", "KB001", "YAML"],
        true,
    );
}

#[test]
fn rejects_unclosed_front_matter() {
    assert_rejected(
        |kb| {
            kb.write(
                "en/faq.md",
                "---\ntitle: FAQ\ndescription: d\ndate: 2026-11-02\nurl: \"https://kb.acme.example/en/faq\"\n\n# FAQ\n",
            )
        },
        &["1.1.0"],
        &["en/faq.md", "not closed"],
        true,
    );
}

#[test]
fn rejects_non_utf8_documents() {
    assert_rejected(
        |kb| {
            let mut bytes = kb.read("zh/faq.md").into_bytes();
            bytes.extend_from_slice(b"\nbad bytes: \xff\xfe\xc3(\n");
            kb.write("zh/faq.md", bytes);
        },
        &["1.1.0"],
        &["zh/faq.md", "UTF-8"],
        true,
    );
}

#[cfg(unix)]
#[test]
fn rejects_a_symlink_pointing_outside_the_content_root() {
    assert_rejected(
        |kb| {
            let outside = kb.root().join("outside.md");
            fs::write(&outside, kb.read("en/faq.md")).unwrap();
            std::os::unix::fs::symlink(&outside, kb.content().join("en/evil.md")).unwrap();
        },
        &["1.1.0"],
        &["evil.md", "outside the content root"],
        true,
    );
}

#[cfg(unix)]
#[test]
fn rejects_a_symlink_cycle_in_the_content() {
    assert_rejected(
        |kb| std::os::unix::fs::symlink("..", kb.content().join("en/guide/loop")).unwrap(),
        &["1.1.0"],
        &["en/guide/loop"],
        true,
    );
}

#[test]
fn rejects_a_missing_language_folder() {
    assert_rejected(
        |kb| fs::remove_dir_all(kb.content().join("zh")).unwrap(),
        &["1.1.0"],
        &["zh", "missing"],
        true,
    );
}

#[test]
fn rejects_an_empty_knowledge_base() {
    assert_rejected(
        |kb| {
            for d in FIXTURE_DOCS {
                kb.remove(d);
            }
            fs::write(kb.content().join("en/notes.txt"), "not markdown\n").unwrap();
        },
        &["1.1.0"],
        &["empty", "/content"],
        true,
    );
}

#[test]
fn rejects_an_unknown_configuration_key() {
    assert_rejected(
        |kb| {
            let text = fs::read_to_string(kb.config()).unwrap();
            let text = text.replace(
                "pairing = \"path\"",
                "pairing = \"path\"\nlanguage = \"en\"",
            );
            fs::write(kb.config(), text).unwrap();
        },
        &["1.1.0"],
        &["kbrel.toml", "language"],
        true,
    );
}

#[test]
fn rejects_a_configuration_value_of_the_wrong_type() {
    assert_rejected(
        |kb| {
            let text = fs::read_to_string(kb.config()).unwrap();
            let text = text.replace(
                "dir = \"registry\"",
                "dir = \"registry\"\ngzip_level = \"fast\"",
            );
            fs::write(kb.config(), text).unwrap();
        },
        &["1.1.0"],
        &["kbrel.toml", "gzip_level", "fast"],
        true,
    );
}

#[test]
fn rejects_a_registry_holding_another_package() {
    assert_rejected(
        |kb| {
            let text = fs::read_to_string(kb.config()).unwrap();
            fs::write(
                kb.config(),
                text.replace("name = \"acme-kb\"", "name = \"other-kb\""),
            )
            .unwrap();
        },
        &["1.1.0"],
        &["index.json", "`acme-kb`", "`other-kb`"],
        false,
    );
}

#[test]
fn rejects_invalid_versions() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());
    let fresh = kb.root().join("fresh-registry");
    for bad in ["1.3", "01.2.3", "latest", "1.2.3-", "1.2.3+build.5"] {
        for reg in [kb.registry(), fresh.clone()] {
            kb.publish_into(&reg, &kb.changelog(), &[bad])
                .code(2)
                .stderr_has(&[&format!("invalid version `{bad}`")]);
        }
        assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
        assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
        assert!(!fresh.exists());
    }
}

#[test]
fn rejects_a_corrupt_index_and_points_at_verify() {
    for corrupt in [
        &b"{\"schema_version\": 1, \"name\": \"acme-kb\", \"sequ"[..],
        &b"{\"schema_version\": 1, \"name\": \"acme-kb\", \"sequence\": 1, \"dist_tags\": {\"latest\": \"9.9.9\"}, \"versions\": []}\n"[..],
        &b"\xff\xfe not json"[..],
    ] {
        assert_rejected(
            |kb| fs::write(kb.reg("index.json"), corrupt).unwrap(),
            &["1.1.0"],
            &["index.json", "kbrel verify"],
            false,
        );
    }
}

#[test]
fn rejects_a_corrupt_previous_manifest() {
    assert_rejected(
        |kb| {
            let p = kb.reg("v/1.0.0/manifest.json");
            let text = fs::read_to_string(&p).unwrap();
            fs::write(p, text.replace("Introduction", "Introductio")).unwrap();
        },
        &["1.1.0"],
        &["v/1.0.0/manifest.json", "sha256 mismatch", "kbrel verify"],
        false,
    );
}

/// Whether the current user can create files in a read-only folder (root can).
#[cfg(unix)]
fn can_write_read_only_dirs(scratch: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("ro-probe");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let writable = fs::write(dir.join("probe"), b"x").is_ok();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    writable
}

/// Restores a folder's permissions when dropped (so a failing test still cleans up).
#[cfg(unix)]
struct RestoreMode<'a>(&'a Path);

#[cfg(unix)]
impl Drop for RestoreMode<'_> {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(self.0, fs::Permissions::from_mode(0o755));
    }
}

/// After a failed commit: no staging folder left, the index unchanged and not listing 1.1.0.
fn assert_nothing_partial(kb: &Kb, index_before: &[u8]) {
    let leftovers: Vec<String> = snapshot(&kb.registry())
        .unwrap()
        .into_keys()
        .filter(|p| p.split('/').any(|s| s.starts_with(".staging-")))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    let index_after = fs::read(kb.reg("index.json")).unwrap();
    assert_eq!(index_before, &index_after[..], "index.json changed");
    assert!(
        index(kb)
            .versions
            .iter()
            .all(|v| v.version.to_string() != "1.1.0")
    );
    assert!(!String::from_utf8_lossy(&index_after).contains("1.1.0"));
    assert!(!kb.reg("v/1.1.0/manifest.json").exists());
}

#[cfg(unix)]
#[test]
fn permission_denied_while_staging_leaves_the_registry_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let as_root = can_write_read_only_dirs(kb.root());
    // chmod does not stop root. Then block the one new blob instead: change a single document
    // (so exactly one blob is new) and put a regular file where its fan-out folder
    // `blobs/sha256/<aa>` must be created, so staging it fails for every user.
    let mut obstacle = None;
    if as_root {
        let base = kb.read("en/intro.md");
        let existing = snapshot(&kb.registry()).unwrap();
        let (text, prefix) = (1..)
            .map(|n| {
                let text = format!("{base}\nRevision {n}.\n");
                let prefix = sha256_hex(text.as_bytes())[..2].to_string();
                (text, prefix)
            })
            .find(|(_, prefix)| !existing.contains_key(&format!("blobs/sha256/{prefix}")))
            .expect("a free fan-out folder");
        kb.write("en/intro.md", text);
        let path = format!("blobs/sha256/{prefix}");
        fs::write(kb.reg(&path), b"in the way\n").unwrap();
        obstacle = Some(path);
    } else {
        kb.apply_release_2_changes();
    }
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());
    let index_before = fs::read(kb.reg("index.json")).unwrap();
    let run = {
        let _restore = RestoreMode(&kb.registry());
        if !as_root {
            fs::set_permissions(kb.registry(), fs::Permissions::from_mode(0o555)).unwrap();
        }
        kb.publish(&["1.1.0"])
    };
    let run = run.code(2);
    match &obstacle {
        Some(path) => run.stderr_has(&[path]),
        None => run.stderr_has(&["Permission denied", ".staging-"]),
    };
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
    assert_nothing_partial(&kb, &index_before);
}

#[test]
fn a_failure_after_the_version_folder_is_placed_rolls_it_back() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    // The tarball's destination is a non-empty folder: renaming the staged tarball onto it
    // fails for every user, after `v/1.1.0` has been renamed into place.
    fs::create_dir_all(kb.reg("acme-kb-1.1.0.tgz/keep")).unwrap();
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());
    let index_before = fs::read(kb.reg("index.json")).unwrap();
    kb.publish(&["1.1.0"])
        .code(2)
        .stderr_has(&["acme-kb-1.1.0.tgz"]);
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
    assert_nothing_partial(&kb, &index_before);

    // Once the obstacle is gone the same publish succeeds.
    fs::remove_dir_all(kb.reg("acme-kb-1.1.0.tgz")).unwrap();
    kb.publish(&["1.1.0"]).success();
    assert_eq!(index(&kb).dist_tags["latest"].to_string(), "1.1.0");
}

#[test]
fn a_failure_writing_the_packument_rolls_back_the_release() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    // The packument's destination is a non-empty folder: replacing it fails for every user,
    // after `v/1.1.0` and the tarball are in place.
    fs::remove_file(kb.reg(NAME)).unwrap();
    fs::create_dir_all(kb.reg(&format!("{NAME}/keep"))).unwrap();
    let reg_before = snapshot(&kb.registry());
    let log_before = snapshot(&kb.changelog());
    let index_before = fs::read(kb.reg("index.json")).unwrap();
    kb.publish(&["1.1.0"]).code(2).stderr_has(&[NAME]);
    assert_same_tree(&reg_before, &snapshot(&kb.registry()), "the registry");
    assert_same_tree(&log_before, &snapshot(&kb.changelog()), "the changelog");
    assert_nothing_partial(&kb, &index_before);
    assert!(!kb.reg("acme-kb-1.1.0.tgz").exists());
}

#[test]
fn an_unlisted_version_folder_left_by_a_crash_is_replaced() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    fs::create_dir_all(kb.reg("v/1.1.0")).unwrap();
    fs::write(kb.reg("v/1.1.0/manifest.json"), b"garbage from a crash").unwrap();
    fs::create_dir_all(kb.reg(".staging-999999999/v")).unwrap();
    kb.publish(&["1.1.0"]).success();
    let m = manifest(&kb, "1.1.0");
    assert_eq!(m.version, semver::Version::new(1, 1, 0));
    assert!(
        !kb.reg(".staging-999999999").exists(),
        "stale staging removed"
    );
    let entry = index_entry(&kb, "1.1.0");
    assert_eq!(
        entry.manifest.sha256,
        sha256_hex(&fs::read(kb.reg("v/1.1.0/manifest.json")).unwrap())
    );
}

// ---------------------------------------------------------------------------------------------
// Escaping (the node round trip is in tests/it/node.rs)

#[test]
fn tricky_characters_are_stored_verbatim_and_escaped_in_bundles() {
    let kb = Kb::new();
    let (en, zh) = kb.add_escape_docs();
    kb.publish(&["1.0.0"]).success();
    let m = manifest(&kb, "1.0.0");
    let tgz = fs::read(kb.reg("acme-kb-1.0.0.tgz")).unwrap();
    let entries: BTreeMap<String, Vec<u8>> = tar_entries(&tgz)
        .into_iter()
        .map(|(p, _, d)| (p, d))
        .collect();
    for (lang, text) in [("en", &en), ("zh", &zh)] {
        let d = m
            .documents
            .iter()
            .find(|d| d.lang == lang && d.path == "escape.md")
            .expect("escape.md in the manifest");
        assert_eq!(d.sha256, sha256_hex(text.as_bytes()));
        assert_eq!(
            fs::read(kb.reg(&blob_rel(&d.sha256))).unwrap(),
            text.as_bytes(),
            "blob"
        );
        assert_eq!(
            entries[&format!("package/docs/{lang}/escape.md")],
            text.as_bytes()
        );
        for bundle in [
            format!("package/dist/esm/{lang}.js"),
            format!("package/dist/iife/{lang}.js"),
        ] {
            let js = std::str::from_utf8(&entries[&bundle]).expect("UTF-8 bundle");
            for raw in [
                "</script", "</SCRIPT", "<!--", "\u{2028}", "\u{2029}", "\n\n",
            ] {
                assert!(!js.contains(raw), "{bundle} contains raw {raw:?}");
            }
            assert!(js.contains("\\u2028") && js.contains("\\u2029"), "{bundle}");
            assert!(js.contains("😀") && js.contains("你好"), "{bundle}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots of the human output and the changelog section

/// Replace the temp dir and the tarball's byte size and integrity (covered by the
/// reproducibility tests) so the snapshot only changes when the output format does.
fn redact(kb: &Kb, text: &str) -> String {
    let mut s = text.replace(&kb.root().display().to_string(), "[TMP]");
    while let Some(i) = s.find("sha512-") {
        let end = s[i..].find(')').map_or(s.len(), |e| i + e);
        s.replace_range(i..end, "[INTEGRITY]");
    }
    let mut out = String::new();
    for line in s.lines() {
        match (line.find(" files, "), line.find(" bytes, ")) {
            (Some(a), Some(b)) if a < b => {
                out.push_str(&line[..a + " files, ".len()]);
                out.push_str("[SIZE]");
                out.push_str(&line[b..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[test]
fn snapshot_of_publish_output_and_changelog_section() {
    let kb = Kb::new();
    let first = kb.publish(&["1.0.0"]).success();
    insta::assert_snapshot!(redact(&kb, &first.stdout), @r"
    Published acme-kb@1.0.0 (first release)
      en: 4 documents; 4 added, 0 modified, 0 renamed, 0 removed (+65 -0 lines)
      zh: 4 documents; 4 added, 0 modified, 0 renamed, 0 removed (+61 -0 lines)
      tarball acme-kb-1.0.0.tgz (19 files, [SIZE] bytes, [INTEGRITY])
      dist-tags: latest → 1.0.0
      wrote 8 new blob(s) and:
        [TMP]/registry/v/1.0.0/manifest.json
        [TMP]/registry/v/1.0.0/diff.json
        [TMP]/registry/v/1.0.0/package.json
        [TMP]/registry/acme-kb-1.0.0.tgz
        [TMP]/registry/acme-kb
        [TMP]/registry/index.json
        [TMP]/CHANGELOG.md (new section)
    ");

    kb.apply_release_2_changes();
    let second = kb.publish(&["1.1.0", "--date", "2026-12-01"]).success();
    insta::assert_snapshot!(redact(&kb, &second.stdout), @r"
    Published acme-kb@1.1.0 (changes against 1.0.0)
      en: 4 documents; 1 added, 1 modified, 1 renamed, 1 removed (+16 -16 lines)
      zh: 4 documents; 1 added, 0 modified, 1 renamed, 1 removed (+13 -14 lines)
      tarball acme-kb-1.1.0.tgz (19 files, [SIZE] bytes, [INTEGRITY])
      dist-tags: latest → 1.1.0
      wrote 5 new blob(s) and:
        [TMP]/registry/v/1.1.0/manifest.json
        [TMP]/registry/v/1.1.0/diff.json
        [TMP]/registry/v/1.1.0/package.json
        [TMP]/registry/acme-kb-1.1.0.tgz
        [TMP]/registry/acme-kb
        [TMP]/registry/index.json
        [TMP]/CHANGELOG.md (new section)
    ");

    let changelog = fs::read_to_string(kb.changelog()).unwrap();
    insta::assert_snapshot!(changelog_section(&changelog, "1.1.0"), @r"
    ## [1.1.0](https://github.com/acme/kb/compare/v1.0.0...v1.1.0) - 2026-12-01

    Translations: zh: 1 outdated.

    ### en (4 changed, +16 -16)

    #### Added

    - `GuideUpgrade` — **Upgrading** (`guide/upgrade.md`) +12

    #### Changed

    - `Intro` — **Introduction** (`intro.md`) +3 -1, small: changed § Introduction

    #### Removed

    - `Legacy` — **Legacy agent** (`legacy.md`) -14

    #### Renamed

    - `GuideSetup` — **Setting up the agent** `guide/setup.md` → `guide/installation.md` (93% similar) +1 -1, small; front matter: url

    ### zh (3 changed, +13 -14)

    #### Added

    - `GuideUpgrade` — **升级** (`guide/upgrade.md`) +12

    #### Removed

    - `Legacy` — **旧版代理** (`legacy.md`) -13

    #### Renamed

    - `GuideSetup` — **安装代理** `guide/setup.md` → `guide/installation.md` (93% similar) +1 -1, small; front matter: url
    ");
    insta::assert_snapshot!(changelog_section(&changelog, "1.0.0"), @r"
    ## [1.0.0] - 2026-11-25

    First release: 4 en, 4 zh documents.

    ### en (4 changed, +65 -0)

    #### Added

    - `Faq` — **Frequently asked questions** (`faq.md`) +18
    - `GuideSetup` — **Setting up the agent** (`guide/setup.md`) +16
    - `Intro` — **Introduction** (`intro.md`) +17
    - `Legacy` — **Legacy agent** (`legacy.md`) +14

    ### zh (4 changed, +61 -0)

    #### Added

    - `Faq` — **常见问题** (`faq.md`) +17
    - `GuideSetup` — **安装代理** (`guide/setup.md`) +16
    - `Intro` — **简介** (`intro.md`) +15
    - `Legacy` — **旧版代理** (`legacy.md`) +13
    ");
}

#[test]
fn a_corrupted_blob_of_the_right_size_is_rewritten_not_reused() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let m = manifest(&kb, "1.0.0");
    let doc = m.documents.iter().find(|d| d.path != "intro.md").unwrap();
    let sha = doc.sha256.clone();
    let blob = kb.reg(&format!("blobs/sha256/{}/{}", &sha[..2], &sha[2..]));
    let size = fs::metadata(&blob).unwrap().len() as usize;
    fs::write(&blob, vec![b'x'; size]).unwrap();
    // 1.1.0 still contains the document: its blob must be written again, not trusted.
    kb.write("en/intro.md", kb.read("en/intro.md") + "\nOne more line.\n");
    kb.publish(&["1.1.0"]).success();
    assert_eq!(sha256_hex(&fs::read(&blob).unwrap()), sha);
}

/// CHANGELOG.md is a user's file: a new one is readable like any new file, and a replaced one
/// keeps its permissions (the temporary file it is written through is private).
#[cfg(unix)]
#[test]
fn changelog_permissions_are_those_of_a_normal_file() {
    use std::os::unix::fs::PermissionsExt;
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let created = mode(&kb.changelog());
    assert_eq!(
        created & 0o044,
        0o044,
        "a new changelog is readable: {created:o}"
    );
    fs::set_permissions(kb.changelog(), fs::Permissions::from_mode(0o640)).unwrap();
    kb.edit("en/intro.md", "title: Introduction", "title: Intro");
    kb.publish(&["1.0.1"]).success();
    assert_eq!(mode(&kb.changelog()), 0o640, "the changelog kept its mode");
    assert_eq!(mode(&kb.registry().join("index.json")) & 0o044, 0o044);
}

/// `[registry] precompress = true`: index.json, each version's manifest, diff and
/// package.json, and each document blob that gzip makes smaller get a `.gz` sibling that
/// decompresses to them, with a fixed header (mtime 0, no file name), written with the
/// release; `verify` reports a stale one (`--repair` rewrites it) and a blob's sibling whose
/// blob is not referenced (`--repair` removes it). Off by default (releases rebuild byte for
/// byte without them).
#[test]
fn precompressed_siblings_are_written_verified_and_repaired() {
    use std::io::Read;
    let gunzip = |p: &Path| {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(p).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    let off = Kb::small("acme-plain", None);
    off.release("1.0.0");
    assert!(!off.reg("index.json.gz").exists());
    assert!(!off.reg("v/1.0.0/manifest.json.gz").exists());

    let kb = Kb::small("acme-gz", None);
    let cfg = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        cfg.replace(
            "dir = \"registry\"\n",
            "dir = \"registry\"\nprecompress = true\n",
        ),
    )
    .unwrap();
    kb.release("1.0.0");
    kb.append_both("faq", "\nMore answers.\n", "\n更多答案。\n");
    kb.release("1.1.0");
    let mut names = vec!["index.json".to_string()];
    for v in ["1.0.0", "1.1.0"] {
        for f in ["manifest.json", "diff.json", "package.json"] {
            names.push(format!("v/{v}/{f}"));
        }
    }
    for rel in &names {
        assert!(kbrel::registry::precompressed(rel), "{rel}");
        let gz = kb.reg(&format!("{rel}.gz"));
        assert_eq!(gunzip(&gz), fs::read(kb.reg(rel)).unwrap(), "{rel}.gz");
        let head = fs::read(&gz).unwrap();
        assert_eq!(&head[3..8], &[0, 0, 0, 0, 0], "{rel}.gz: no name, mtime 0");
        assert_eq!(
            head,
            kbrel::registry::gzip_static(&fs::read(kb.reg(rel)).unwrap())
        );
    }
    for rel in [
        "synthetic.tgz",
        "index.json.sig",
        "blobs/sha256/ab/cd",
        "v/1.0.0/x.json",
    ] {
        assert!(!kbrel::registry::precompressed(rel), "{rel}");
    }
    assert!(!kb.reg("acme-gz-1.1.0.tgz.gz").exists());
    // Every document blob has its sibling exactly when gzip makes it smaller (the rule).
    let index: kbrel::manifest::Index = read_as(&kb.reg("index.json"));
    let mut blobs = std::collections::BTreeSet::new();
    for v in &index.versions {
        let m: kbrel::manifest::Manifest = read_as(&kb.reg(&v.manifest.path));
        blobs.extend(m.documents.iter().map(|d| d.sha256.clone()));
    }
    let mut with_sibling = Vec::new();
    for sha in &blobs {
        let rel = kbrel::registry::blob_path(sha);
        assert!(kbrel::registry::precompressed(&rel), "{rel}");
        let text = fs::read(kb.reg(&rel)).unwrap();
        match kbrel::registry::blob_sibling(&text) {
            Some(gz) => {
                assert_eq!(
                    fs::read(kb.reg(&format!("{rel}.gz"))).unwrap(),
                    gz,
                    "{rel}.gz"
                );
                assert_eq!(gunzip(&kb.reg(&format!("{rel}.gz"))), text);
                with_sibling.push(rel);
            }
            None => assert!(!kb.reg(&format!("{rel}.gz")).exists(), "{rel}: no sibling"),
        }
    }
    assert!(with_sibling.len() >= 6, "{with_sibling:?}");
    assert_eq!(
        kbrel::registry::blob_sibling(b"# A\n"),
        None,
        "a tiny document has none"
    );
    run(kb.cmd().arg("verify")).success();

    // A stale index.json.gz (the previous index's) is reported, then rewritten by --repair.
    let stale = kbrel::registry::gzip_static(b"{\"old\": true}\n");
    fs::write(kb.reg("index.json.gz"), &stale).unwrap();
    fs::write(kb.reg("v/1.0.0/diff.json.gz"), b"not gzip").unwrap();
    // A blob's sibling that decodes to other bytes is an error; one whose blob is gone (or
    // was never referenced) is a leftover.
    let (damaged, kept) = (&with_sibling[0], &with_sibling[1]);
    fs::write(
        kb.reg(&format!("{damaged}.gz")),
        kbrel::registry::gzip_static(b"# Other\n\nSome other document.\n"),
    )
    .unwrap();
    let orphan = format!("{}.gz", kbrel::registry::blob_path(&"e".repeat(64)));
    fs::create_dir_all(kb.reg(&orphan).parent().unwrap()).unwrap();
    fs::copy(kb.reg(&format!("{kept}.gz")), kb.reg(&orphan)).unwrap();
    let bad = run(kb.cmd().args(["verify", "--json"])).code(1);
    let problems = bad.verify_problems();
    let damaged_gz = format!("{damaged}.gz");
    use kbrel::verify::ProblemKind::{Corrupt, Garbage};
    for (path, kind) in [
        ("index.json.gz", Corrupt),
        ("v/1.0.0/diff.json.gz", Corrupt),
        (damaged_gz.as_str(), Corrupt),
        (orphan.as_str(), Garbage),
    ] {
        assert!(
            problems.contains(&(path.to_string(), kind)),
            "{path} {kind:?}: {problems:?}"
        );
    }
    assert_eq!(problems.len(), 4, "{problems:?}");
    let bad = run(kb.cmd().arg("verify")).code(1);
    assert!(
        bad.stdout.contains("does not decompress to index.json")
            && bad.stdout.contains("v/1.0.0/diff.json.gz")
            && bad
                .stdout
                .contains(&format!("does not decompress to {damaged}")),
        "{bad}"
    );
    run(kb.cmd().args(["verify", "--repair"])).success();
    run(kb.cmd().arg("verify")).success();
    assert!(!kb.reg(&orphan).exists(), "the orphan sibling is removed");
    assert_eq!(
        gunzip(&kb.reg(&damaged_gz)),
        fs::read(kb.reg(damaged)).unwrap(),
        "the damaged sibling is rewritten from its blob"
    );
    assert_eq!(
        gunzip(&kb.reg("index.json.gz")),
        fs::read(kb.reg("index.json")).unwrap()
    );
    assert_eq!(
        gunzip(&kb.reg("v/1.0.0/diff.json.gz")),
        fs::read(kb.reg("v/1.0.0/diff.json")).unwrap()
    );
}
