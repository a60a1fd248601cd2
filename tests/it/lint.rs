//! Lint rules end to end: every fixture under `tests/fixtures/lint/<case>/` is checked by the
//! real `kbrel` binary (`kbrel --config <case>/kbrel.toml check --json`) and by the library, and
//! the `(code, file, line)` findings must equal the case's `expected.json`.
//!
//! Every rule KB001–KB015 has a fixture that triggers it (`kb009-broken-link`) and a close
//! variant that must be fully clean (`kb009-ok`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// `(code, file, line)`
type Key = (String, String, usize);

#[derive(Debug, Deserialize)]
struct Expected {
    code: String,
    file: String,
    line: usize,
}

const WARNING_CODES: [&str; 2] = ["KB006", "KB015"];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/lint exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("kbrel.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn expected(dir: &Path) -> BTreeSet<Key> {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let list: Vec<Expected> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}/expected.json: {e}", dir.display()));
    list.into_iter().map(|e| (e.code, e.file, e.line)).collect()
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn describe(set: &BTreeSet<Key>) -> String {
    set.iter()
        .map(|(c, f, l)| format!("  {c} {f}:{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_rule_has_a_triggering_and_an_ok_fixture() {
    let names: BTreeSet<String> = fixtures().iter().map(|d| name(d)).collect();
    for n in 1..=15 {
        let prefix = format!("kb{n:03}-");
        let ok = format!("kb{n:03}-ok");
        assert!(names.contains(&ok), "missing fixture {ok}");
        let trigger = names
            .iter()
            .find(|c| c.starts_with(&prefix) && **c != ok)
            .unwrap_or_else(|| panic!("missing a triggering fixture {prefix}*"));
        let code = format!("KB{n:03}");
        let dir = fixtures_dir().join(trigger);
        assert!(
            expected(&dir).iter().any(|(c, _, _)| *c == code),
            "{trigger}/expected.json does not expect {code}"
        );
        assert!(
            expected(&fixtures_dir().join(&ok)).is_empty(),
            "{ok} must be clean"
        );
    }
}

/// The contract of `kbrel check --json`.
#[test]
fn binary_check_json_matches_expected_findings() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let config = dir.join("kbrel.toml");
        let output = Command::new(env!("CARGO_BIN_EXE_kbrel"))
            .arg("--config")
            .arg(&config)
            .args(["check", "--json"])
            .output()
            .expect("run kbrel");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: crate::common::CheckJson = match serde_json::from_str(&stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{}: stdout is not check's JSON ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
                    name(&dir),
                    output.status.code(),
                    String::from_utf8_lossy(&output.stderr)
                ));
                continue;
            }
        };
        assert_eq!(report.schema_version, 1, "{}", name(&dir));
        let mut got = BTreeSet::new();
        let (mut errors, mut warnings) = (0, 0);
        for f in &report.findings {
            let code = f.code.to_string();
            assert!(
                !f.message.trim().is_empty(),
                "{}: empty message for {code}",
                name(&dir)
            );
            match f.severity {
                kbrel::findings::Severity::Error => errors += 1,
                kbrel::findings::Severity::Warning => warnings += 1,
            }
            assert_eq!(
                f.severity == kbrel::findings::Severity::Warning,
                WARNING_CODES.contains(&code.as_str()),
                "{}: severity of {code}",
                name(&dir)
            );
            got.insert((code, f.file.clone(), f.line));
        }
        assert_eq!(report.errors, errors, "{}: errors count", name(&dir));
        assert_eq!(report.warnings, warnings, "{}: warnings count", name(&dir));
        let want = expected(&dir);
        if got != want {
            failures.push(format!(
                "{}:\n expected:\n{}\n got:\n{}",
                name(&dir),
                describe(&want),
                describe(&got)
            ));
        }
        let want_error = want
            .iter()
            .any(|(c, _, _)| !WARNING_CODES.contains(&c.as_str()));
        let want_code = if want_error { 1 } else { 0 };
        if output.status.code() != Some(want_code) {
            failures.push(format!(
                "{}: exit code {:?}, expected {want_code}",
                name(&dir),
                output.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same fixtures through the library, without the binary.
#[test]
fn library_lint_matches_expected_findings() {
    let mut failures = Vec::new();
    for dir in fixtures() {
        let cfg = kbrel::config::Config::load(&dir.join("kbrel.toml")).unwrap();
        let kb = kbrel::content::load_dir(&cfg, &cfg.content_root()).unwrap();
        let findings = kbrel::lint::lint(&kb, &cfg);
        let mut got = BTreeSet::new();
        for f in &findings {
            assert!(!f.message.trim().is_empty());
            got.insert((f.code.as_str().to_string(), f.file.clone(), f.line));
        }
        let want = expected(&dir);
        if got != want {
            let messages: Vec<String> = findings
                .iter()
                .map(|f| format!("  {} {}:{} {}", f.code, f.file, f.line, f.message))
                .collect();
            failures.push(format!(
                "{}:\n expected:\n{}\n got:\n{}",
                name(&dir),
                describe(&want),
                messages.join("\n")
            ));
        }
        let want_error = want
            .iter()
            .any(|(c, _, _)| !WARNING_CODES.contains(&c.as_str()));
        assert_eq!(
            kbrel::lint::has_errors(&findings),
            want_error,
            "{}",
            name(&dir)
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The guide embedded in the repository lints without errors.
#[test]
fn embedded_guide_has_no_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = kbrel::config::Config::default_for("kbrel", root);
    cfg.content.base_url = Some("https://kbrel.dev/{lang}/".into());
    let kb = kbrel::content::load_dir(&cfg, &cfg.content_root()).unwrap();
    assert!(kb.documents.len() >= 2);
    let findings = kbrel::lint::lint(&kb, &cfg);
    let errors: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == kbrel::findings::Severity::Error)
        .map(|f| format!("{}:{}: {} {}", f.file, f.line, f.code, f.message))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// 20,000 documents (10,000 per language, with links and HTML): findings at scale are exact.
/// (Speed is measured by bench/run.sh, not asserted here.)
#[test]
fn many_documents_lint_exactly() {
    use kbrel::content::SourceFile;
    let mut cfg = kbrel::config::Config::default_for("perf", Path::new("."));
    cfg.content.base_url = Some("https://kbrel.dev/{lang}/".into());
    let mut files = Vec::new();
    let mut all = BTreeSet::new();
    for lang in ["en", "zh"] {
        for i in 0..10_000 {
            let path = format!("{lang}/s{}/d{i}.md", i % 100);
            let text = format!(
                "---\ntitle: Doc {i}\ndescription: About {i}.\ndate: 2026-01-01\n\
                 url: \"https://kbrel.dev/{lang}/s{}/d{i}\"\n---\n\n# Doc {i}\n\n\
                 See [next](d{}.md) and [abs](https://kbrel.dev/{lang}/s{}/d{i}).\n\n\
                 <div class=\"note\">\n\nNote {i} with <b>bold</b>.\n\n</div>\n\n\
                 ```md\n[x](nope.md)\n```\n",
                i % 100,
                i + 100,
                i % 100
            );
            all.insert(path.clone());
            files.push(SourceFile {
                path,
                bytes: text.into_bytes(),
            });
        }
    }
    let kb = kbrel::content::build(&cfg, files, all, &Default::default()).unwrap();
    let findings = kbrel::lint::lint(&kb, &cfg);
    // Links to d10000..d10099 do not exist: 100 per language.
    assert_eq!(
        findings.len(),
        200,
        "{:?}",
        &findings[..3.min(findings.len())]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.code == kbrel::findings::Code::BrokenLink)
    );
}
