//! Adopting kbrel on a real, imperfect knowledge base (issue #18), end to end through the
//! binary, on the messy fixture of `kbrel_synth::messy`: a git repository whose 14 release tags each
//! have 50–130 lint errors, numbered folders with spaces and Chinese, per-language file names
//! paired by `url`, documents without front matter, a duplicate url, a `layout: home` page,
//! HTML and MDX components.
//!
//! The day-one story: import the whole history as it was, write a baseline, publish the next
//! release, then burn the findings down with levels, overrides and inline suppressions.

use std::fs;
use std::path::PathBuf;

use crate::common::{Run, kbrel, run};
use kbrel_synth::messy::{self, MessySpec};
use serde_json::Value;

/// A fresh repository with the messy history (HEAD = the last release) and its kbrel.toml.
struct Handbook {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Handbook {
    fn new(spec: &MessySpec) -> Handbook {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("handbook");
        fs::create_dir(&dir).unwrap();
        kbrel_synth::repo::write_history(&dir, &messy::commits(&messy::history(spec))).unwrap();
        fs::write(dir.join("kbrel.toml"), messy::config_toml()).unwrap();
        Handbook { _tmp: tmp, dir }
    }

    fn kbrel(&self, args: &[&str]) -> Run {
        run(kbrel().current_dir(&self.dir).args(args))
    }

    fn doc(&self, rel: &str) -> PathBuf {
        self.dir.join(messy::CONTENT_ROOT).join(rel)
    }

    fn append(&self, rel: &str, text: &str) {
        let p = self.doc(rel);
        let mut s = fs::read_to_string(&p).unwrap();
        s.push_str(text);
        fs::write(p, s).unwrap();
    }

    fn config(&self, extra: &str) {
        fs::write(
            self.dir.join("kbrel.toml"),
            format!("{}\n{extra}", messy::config_toml()),
        )
        .unwrap();
    }

    fn check_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["check", "--json"];
        a.extend(args);
        let r = self.kbrel(&a);
        assert!(r.code == 0 || r.code == 1, "{r}");
        r.json()
    }

    fn registry_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.dir.join("releases");
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

fn findings(report: &Value) -> Vec<&Value> {
    report["findings"].as_array().unwrap().iter().collect()
}

fn codes(report: &Value, severity: &str) -> Vec<String> {
    findings(report)
        .into_iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// A document of the last release with a `</dev>` typo, and the 1-based line of `</dev>`.
fn dev_typo(h: &Handbook) -> (String, usize) {
    let report = h.check_json(&["--no-baseline"]);
    let f = findings(&report)
        .into_iter()
        .find(|f| {
            f["code"] == "KB012"
                && f["message"].as_str().unwrap().contains("`</dev>`")
                && f["file"].as_str().unwrap().starts_with("en/")
        })
        .expect("a </dev> typo");
    (
        f["file"].as_str().unwrap().to_string(),
        f["line"].as_u64().unwrap() as usize,
    )
}

/// Insert `line` before 1-based line `at` of a document.
fn insert_line(h: &Handbook, rel: &str, at: usize, line: &str) {
    let p = h.doc(rel);
    let text = fs::read_to_string(&p).unwrap();
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.insert(at - 1, line);
    fs::write(p, lines.join("\n")).unwrap();
}

#[test]
fn day_one_import_baseline_publish_and_burn_down() {
    let h = Handbook::new(&MessySpec::default());
    let releases = messy::history(&MessySpec::default());
    assert!(releases.len() >= 12);

    // --lint-gate: today's strict behaviour, refused on the first tag, nothing written.
    h.kbrel(&["import", "--from-git", "--lint-gate"])
        .code(2)
        .stderr_has(&["tag v1.0.0 does not pass `kbrel check`", "--lint-gate"]);
    assert!(h.registry_files().is_empty());

    // Import records every tag as it was.
    let report = h
        .kbrel(&["import", "--from-git", "--json"])
        .success()
        .json();
    let imported = report["imported"].as_array().unwrap();
    assert_eq!(imported.len(), releases.len());
    for (t, r) in imported.iter().zip(&releases) {
        assert_eq!(t["tag"], r.tag.as_str());
        assert_eq!(t["outcome"], "published");
        let errors = t["errors"].as_u64().unwrap();
        assert!((50..=130).contains(&errors), "{t}");
        assert!(t["documents"].as_u64().unwrap() > 80, "{t}");
        // The findings are facts about the release: all of them in its manifest, as warnings.
        let m: Value = serde_json::from_slice(
            &fs::read(
                h.dir
                    .join("releases/v")
                    .join(r.version.as_str())
                    .join("manifest.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let w = m["warnings"].as_array().unwrap();
        assert_eq!(
            w.len() as u64,
            errors + t["warnings"].as_u64().unwrap(),
            "{}",
            r.tag
        );
        assert!(w.iter().all(|f| f["severity"] == "warning"));
        assert!(w.iter().any(|f| f["code"] == "KB009"));
    }
    // The human summary lists documents and findings per tag.
    let again = h.kbrel(&["import", "--from-git"]).success();
    assert!(
        again
            .stdout
            .lines()
            .filter(|l| l.contains("documents,") && l.contains("error(s)"))
            .count()
            == releases.len(),
        "{again}"
    );

    // check fails on the working tree until a baseline is written.
    let before = h.kbrel(&["check"]).code(1);
    assert!(before.stderr.contains("--write-baseline"), "{before}");
    let wrote = h.kbrel(&["check", "--write-baseline"]).success();
    assert!(wrote.stderr.contains("kbrel-baseline.json"), "{wrote}");
    let baseline = fs::read(h.dir.join("kbrel-baseline.json")).unwrap();
    // Deterministic: writing again gives the same bytes.
    h.kbrel(&["check", "--write-baseline"]).success();
    assert_eq!(
        fs::read(h.dir.join("kbrel-baseline.json")).unwrap(),
        baseline
    );
    let report = h.check_json(&[]);
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["baselined"].as_u64().unwrap() >= 50);

    // The next release publishes.
    h.append("en/index.md", "\nA new paragraph for 1.10.0.\n");
    let publish = |date: &str| {
        h.kbrel(&[
            "publish",
            "--bump",
            "minor",
            "--date",
            date,
            "--allow-dirty",
            "--no-tag",
            "--json",
        ])
    };
    let out = publish("2024-03-01").success().json();
    assert_eq!(out["version"], "1.10.0");
    // Baselined errors are recorded in the manifest as warnings.
    assert!(
        out["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "KB012")
    );

    // One new error: publish fails naming only that finding, and writes nothing.
    let files = h.registry_files();
    let channels = h.doc("en/1. On-call/4. 配置/4.2 Channels.md");
    let channels_text = fs::read_to_string(&channels).unwrap();
    h.append(
        "en/1. On-call/4. 配置/4.2 Channels.md",
        "\n[Runbook](../../9.%20Missing/runbook.md)\n",
    );
    let failed = publish("2024-04-01").code(2);
    let named: Vec<&str> = failed
        .stderr
        .lines()
        .filter(|l| l.contains("error[KB"))
        .collect();
    assert_eq!(named.len(), 1, "{failed}");
    assert!(named[0].contains("9.%20Missing/runbook.md"), "{failed}");
    assert!(failed.stderr.contains("1 new error(s)"), "{failed}");
    assert_eq!(h.registry_files(), files);
    // check says the same: one error, the baselined ones counted.
    let report = h.check_json(&[]);
    assert_eq!(report["errors"], 1);
    assert!(report["findings"][0]["path"].is_string());

    // Fixing a baselined finding makes its entry prunable; --prune-baseline removes it.
    let (file, line) = dev_typo(&h);
    let p = h.doc(&file);
    let text = fs::read_to_string(&p).unwrap();
    let fixed: Vec<String> = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                l.replace("</dev>", "</div>")
            } else {
                l.to_string()
            }
        })
        .collect();
    fs::write(&p, fixed.join("\n")).unwrap();
    let report = h.check_json(&[]);
    let prunable = report["prunable"].as_array().unwrap();
    assert_eq!(prunable.len(), 1, "{report}");
    assert_eq!(prunable[0]["file"], file.as_str());
    assert_eq!(prunable[0]["code"], "KB012");
    let human = h.kbrel(&["check"]).code(1);
    assert!(human.stderr.contains("--prune-baseline"), "{human}");
    // Without the new error, publish goes through and says the same.
    fs::write(&channels, &channels_text).unwrap();
    let published = publish("2024-05-01").success();
    assert!(
        published
            .stderr
            .contains("1 baselined finding(s) are fixed"),
        "{published}"
    );
    let entries = |h: &Handbook| {
        let b: Value =
            serde_json::from_slice(&fs::read(h.dir.join("kbrel-baseline.json")).unwrap()).unwrap();
        b["entries"].as_array().unwrap().len()
    };
    let n = entries(&h);
    h.kbrel(&["check", "--prune-baseline"]).success();
    assert_eq!(entries(&h), n - 1);
    assert!(h.check_json(&[])["prunable"].as_array().unwrap().is_empty());
}

#[test]
fn levels_overrides_and_suppressions_behave_as_documented() {
    let h = Handbook::new(&MessySpec {
        releases: 1,
        ..MessySpec::default()
    });
    let plain = h.check_json(&[]);
    let errors = codes(&plain, "error");
    assert!(errors.contains(&"KB010".to_string()));
    assert!(errors.contains(&"KB011".to_string()));

    // [lint] levels and an override; overlapping overrides: the last one wins.
    h.config(
        "[lint]\nKB010 = \"warn\"\nKB015 = \"allow\"\n\n\
         [[lint.overrides]]\npaths = [\"zh/**\"]\nallow = [\"KB011\"]\n\n\
         [[lint.overrides]]\npaths = [\"{lang}/index.md\"]\nallow = [\"KB002\"]\n\n\
         [[lint.overrides]]\npaths = [\"zh/index.md\"]\nerror = [\"KB002\"]\n",
    );
    let r = h.check_json(&[]);
    assert!(!codes(&r, "error").contains(&"KB010".to_string()));
    assert!(codes(&r, "warning").contains(&"KB010".to_string()));
    assert!(!codes(&r, "error").contains(&"KB011".to_string()));
    assert!(!codes(&r, "warning").contains(&"KB015".to_string()));
    let kb002: Vec<&str> = findings(&r)
        .into_iter()
        .filter(|f| f["code"] == "KB002")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        !kb002.is_empty() && kb002.iter().all(|f| *f == "zh/index.md"),
        "{kb002:?}"
    );
    assert!(r["allowed"].as_u64().unwrap() > 0);

    // Inline suppressions: next line, a range, a whole file; an unused one is KB016.
    h.config("");
    let (file, line) = dev_typo(&h);
    insert_line(
        &h,
        &file,
        line,
        "<!-- kbrel-disable-next-line KB012 -- typo kept upstream -->",
    );
    let r = h.check_json(&[]);
    assert!(
        !findings(&r).iter().any(|f| f["file"] == file.as_str()
            && f["code"] == "KB012"
            && f["message"].as_str().unwrap().contains("</dev>")),
        "{r}"
    );
    assert_eq!(r["suppressed"], 1);
    // The same comment where nothing is wrong: KB016, a warning.
    h.append(
        "en/index.md",
        "\n<!-- kbrel-disable-next-line KB012 -->\nAll good here.\n",
    );
    let r = h.check_json(&[]);
    let unused: Vec<&Value> = findings(&r)
        .into_iter()
        .filter(|f| f["code"] == "KB016")
        .collect();
    assert_eq!(unused.len(), 1, "{r}");
    assert_eq!(unused[0]["file"], "en/index.md");
    assert_eq!(unused[0]["severity"], "warning");
    // A range and a file-level comment on the home page's findings.
    let home = h.doc("en/index.md");
    let text = fs::read_to_string(&home).unwrap();
    let (fm, body) = text.split_at(text[4..].find("\n---\n").unwrap() + 9);
    fs::write(
        &home,
        format!("{fm}<!-- kbrel-disable-file KB002 -->\n<!-- kbrel-disable KB009 -->\n{body}<!-- kbrel-enable KB009 -->\n"),
    )
    .unwrap();
    let r = h.check_json(&[]);
    assert!(
        !findings(&r)
            .iter()
            .any(|f| f["file"] == "en/index.md"
                && matches!(f["code"].as_str(), Some("KB002" | "KB009"))),
        "{r}"
    );
    // Examples in a fenced code block are not directives.
    h.append(
        "en/index.md",
        "\n```md\n<!-- kbrel-disable KB999 -->\n```\n",
    );
    h.check_json(&[]);
}

#[test]
fn bad_input_is_refused_naming_the_file_and_entry() {
    let h = Handbook::new(&MessySpec {
        releases: 1,
        docs_per_lang: 20,
        ..MessySpec::default()
    });
    let nothing_written = |h: &Handbook| assert!(h.registry_files().is_empty());
    let publish = |h: &Handbook| {
        h.kbrel(&[
            "publish",
            "2.0.0",
            "--date",
            "2024-01-01",
            "--allow-dirty",
            "--no-tag",
        ])
    };
    let baseline = h.dir.join("kbrel-baseline.json");
    // Malformed baselines.
    for (text, needle) in [
        ("{ not json", "not valid JSON"),
        (
            r#"{"schema_version": 7, "name": "@acme/handbook", "entries": []}"#,
            "upgrade kbrel",
        ),
        (
            r#"{"schema_version": 1, "name": "@other/docs", "entries": []}"#,
            "package `@other/docs`",
        ),
        (
            r#"{"schema_version": 1, "name": "@acme/handbook", "entries": [
              {"file": "en/index.md", "code": "KB002", "fingerprint": "0123456789abcdef", "text": "---"},
              {"file": "en/index.md", "code": "KB002", "fingerprint": "0123456789abcdef", "text": "---"}]}"#,
            "entries[1]",
        ),
    ] {
        fs::write(&baseline, text).unwrap();
        h.kbrel(&["check"])
            .code(2)
            .stderr_has(&["kbrel-baseline.json", needle]);
        publish(&h)
            .code(2)
            .stderr_has(&["kbrel-baseline.json", needle]);
        nothing_written(&h);
    }
    fs::remove_file(&baseline).unwrap();

    // Suppression comments with an unknown code or none.
    for (comment, needle) in [
        ("<!-- kbrel-disable-next-line KB999 -->", "KB999"),
        ("<!-- kbrel-disable -->", "names no code"),
    ] {
        let home = h.doc("zh/index.md");
        let original = fs::read_to_string(&home).unwrap();
        fs::write(&home, format!("{original}\n{comment}\n")).unwrap();
        h.kbrel(&["check"])
            .code(2)
            .stderr_has(&["zh/index.md", "line ", needle]);
        publish(&h).code(2).stderr_has(&["zh/index.md", needle]);
        nothing_written(&h);
        fs::write(&home, original).unwrap();
    }

    // Configuration: unknown code, bad level, bad glob, an exclude that empties a language.
    for (extra, needle) in [
        ("[lint]\nKB999 = \"warn\"\n", "lint.KB999"),
        ("[lint]\nKB010 = \"off\"\n", "lint.KB010"),
        (
            "[[lint.overrides]]\npaths = [\"zh/[legacy\"]\nallow = [\"KB010\"]\n",
            "lint.overrides[0].paths[0]",
        ),
        (
            "[[lint.overrides]]\npaths = [\"zh/**\"]\nallow = [\"KB10\"]\n",
            "lint.overrides[0].allow[0]",
        ),
    ] {
        h.config(extra);
        h.kbrel(&["check"])
            .code(2)
            .stderr_has(&["kbrel.toml", needle]);
    }
    let cfg = messy::config_toml().replace("pairing =", "exclude = [\"zh/**\"]\npairing =");
    fs::write(h.dir.join("kbrel.toml"), cfg).unwrap();
    h.kbrel(&["check"])
        .code(2)
        .stderr_has(&["content.exclude", "language `zh` without documents"]);
    publish(&h).code(2);
    nothing_written(&h);
}

#[test]
fn excluded_files_are_not_documents_and_diff_as_added_when_included_again() {
    let h = Handbook::new(&MessySpec {
        releases: 1,
        docs_per_lang: 20,
        ..MessySpec::default()
    });
    let with_exclude =
        messy::config_toml().replace("pairing =", "exclude = [\"index.md\"]\npairing =");
    fs::write(h.dir.join("kbrel.toml"), &with_exclude).unwrap();
    let r = h.check_json(&[]);
    assert!(
        !findings(&r)
            .iter()
            .any(|f| f["file"].as_str().unwrap().ends_with("index.md")),
        "{r}"
    );
    let publish = |version: &str, date: &str| {
        h.kbrel(&[
            "publish",
            version,
            "--date",
            date,
            "--allow-dirty",
            "--no-tag",
            "--json",
        ])
        .success()
        .json()
    };
    h.kbrel(&["check", "--write-baseline"]).success();
    let first = publish("1.0.0", "2024-01-01");
    assert!(first["summary"]["en"]["documents"].as_u64().unwrap() > 0);
    fs::write(h.dir.join("kbrel.toml"), messy::config_toml()).unwrap();
    h.kbrel(&["check", "--write-baseline"]).success();
    publish("1.1.0", "2024-02-01");
    let diff: Value =
        serde_json::from_slice(&fs::read(h.dir.join("releases/v/1.1.0/diff.json")).unwrap())
            .unwrap();
    let added: Vec<String> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "added")
        .map(|c| {
            format!(
                "{}/{}",
                c["lang"].as_str().unwrap(),
                c["path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(added, ["en/index.md", "zh/index.md"]);
}

#[test]
fn findings_are_actionable_in_ci_formats_with_repository_paths() {
    let h = Handbook::new(&MessySpec {
        releases: 1,
        ..MessySpec::default()
    });
    let json = h.check_json(&[]);
    for f in findings(&json) {
        assert_eq!(
            f["path"].as_str().unwrap(),
            format!("docs/{}", f["file"].as_str().unwrap())
        );
    }
    // The author's spelling of MDX components is kept.
    assert!(
        findings(&json)
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("`<Tab>`")),
        "{json}"
    );
    let gh = h.kbrel(&["check", "--format", "github"]).code(1);
    let first = gh.stdout.lines().next().unwrap();
    assert!(first.starts_with("::"), "{gh}");
    assert!(
        gh.stdout
            .lines()
            .all(|l| l.starts_with("::error file=docs/") || l.starts_with("::warning file=docs/")),
        "{gh}"
    );
    assert!(gh.stdout.contains(",line="));
    let sarif = h.kbrel(&["check", "--format", "sarif"]).code(1).json();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings(&json).len());
    let uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("docs/") && !uri.contains(' '), "{uri}");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), kbrel::findings::Code::ALL.len());
    // Human output: grouped by file, counts per code, the hint naming levels and baselines.
    let human = h.kbrel(&["check"]).code(1);
    assert!(human.stdout.lines().any(|l| l == "en/index.md"), "{human}");
    assert!(
        human.stderr.lines().any(|l| l.starts_with("KB009 ")),
        "{human}"
    );
    assert!(
        human.stderr.contains("[lint]") && human.stderr.contains("--write-baseline"),
        "{human}"
    );
}

#[test]
fn a_tag_with_an_unreadable_file_is_refused_unless_skipped() {
    let spec = MessySpec {
        releases: 3,
        docs_per_lang: 20,
        non_utf8_release: Some(1),
        ..MessySpec::default()
    };
    let h = Handbook::new(&spec);
    h.kbrel(&["import", "--from-git"]).code(2).stderr_has(&[
        "tag v1.1.0",
        "旧版 GBK.md",
        "UTF-8",
        "--skip-unreadable",
    ]);
    assert!(h.registry_files().is_empty());
    let r = h
        .kbrel(&["import", "--from-git", "--skip-unreadable", "--json"])
        .success()
        .json();
    let tags = r["imported"].as_array().unwrap();
    assert_eq!(tags.len(), 3);
    assert_eq!(
        tags[1]["skipped_files"],
        serde_json::json!(["zh/3. 集成/旧版 GBK.md"])
    );
    assert!(tags[0]["skipped_files"].as_array().unwrap().is_empty());
}
