//! Hostile inputs (issue #7, item 3): malformed documents, encodings, `kbrel.toml` files, version
//! strings and dates, damaged registries, malicious tarballs and lying HTTP servers, each fed to
//! the library and/or the real `kbrel` binary.
//!
//! Every case asserts: no panic (library calls run under `catch_unwind`; a CLI run must exit
//! with the expected code, never 101 or a signal), a message naming the offending thing (file,
//! field, value, entry or URL), and nothing written or changed outside the case's temporary
//! folder (each CLI run gets an empty working directory that must stay empty, and the registry
//! or knowledge base is compared byte for byte before and after).
//!
//! The inputs are data: `tests/hostile/documents/*.md` and `tests/hostile/config/*.toml` (every
//! file must be listed in the tables below with its expected outcome); inputs too large to keep
//! as files are generated; `tests/hostile/fuzz-regressions/<target>/*` are inputs found by the
//! fuzz targets in `fuzz/` (docs/fuzzing.md), fed through the same checks (`fuzz/checks.rs`).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Run, cp_a, kbrel_unsigned, run_lossy};
use tempfile::TempDir;

#[path = "../../fuzz/checks.rs"]
mod fuzz_checks;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

// Run (tests/it/common) has what every test binary needs; these are for the hostile cases, whose
// failures are all listed together.
impl Run {
    /// Exit `code`, every needle in the output, no panic.
    fn check(&self, code: i32, needles: &[&str]) -> Result<(), String> {
        let all = format!("{}{}", self.stdout, self.stderr);
        if all.contains("panicked") || self.code == 101 {
            return Err(format!("a panic\n{}", self.brief()));
        }
        if self.code != code {
            return Err(format!("expected exit {code}\n{}", self.brief()));
        }
        match needles.iter().find(|n| !all.contains(**n)) {
            Some(n) => Err(format!("the output does not name `{n}`\n{}", self.brief())),
            None => Ok(()),
        }
    }

    /// The run for a failure message, each stream cut to 2,000 characters.
    fn brief(&self) -> String {
        let cut = |s: &str| s.chars().take(2000).collect::<String>();
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

/// Run every case on a few threads, each under `catch_unwind`, then fail once listing every
/// failing case.
fn run_cases<C: Sync>(
    what: &str,
    cases: &[C],
    name: impl Fn(&C) -> String + Sync,
    check: impl Fn(&C) -> Result<(), String> + Sync,
) {
    let failures = std::sync::Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let err = match std::panic::catch_unwind(AssertUnwindSafe(|| check(case))) {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => e,
                        Err(p) => format!(
                            "PANIC: {}",
                            p.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default()
                        ),
                    };
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("[{}] {err}", name(case)));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} {what} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    eprintln!("{what}: {} cases passed", cases.len());
}

/// Every folder, file and symlink below `dir`: relative path → bytes (or `-> target`).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &p, out);
            } else if ft.is_symlink() {
                let t = fs::read_link(&p).unwrap_or_default();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else {
                out.insert(rel, fs::read(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.is_file() {
        out.insert(String::new(), fs::read(dir).unwrap_or_default());
    }
    walk(dir, dir, &mut out);
    out
}

fn same(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    what: &str,
) -> Result<(), String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&&String> = keys
        .iter()
        .filter(|k| before.get(**k) != after.get(**k))
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!("{what} changed: {changed:?}"))
    }
}

// --- a small base knowledge base ------------------------------------------------------------

const CONFIG: &str = r#"[package]
name = "hostile-kb"
description = "Base knowledge base of tests/it/hostile.rs."
license = "MIT"

[content]
root = "content"
languages = ["en", "zh"]
source_language = "en"
pairing = "path"
required_fields = []
"#;

fn ok_doc(lang: &str, title: &str, extra: &str) -> String {
    format!("---\ntitle: {title}\n---\n\n# {title}\n\nA page in `{lang}`.{extra}\n")
}

/// A base folder: `kbrel.toml`, `content/{en,zh}/…` and `registry/` with the given versions
/// published (1.0.0: `ok.md`; later versions edit it and add `new.md`).
struct Base {
    _tmp: TempDir,
    dir: PathBuf,
}

impl Base {
    fn new(versions: &[&str]) -> Base {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kb");
        fs::create_dir_all(dir.join("content/en")).unwrap();
        fs::create_dir_all(dir.join("content/zh")).unwrap();
        fs::create_dir_all(tmp.path().join("cwd")).unwrap();
        fs::write(dir.join("kbrel.toml"), CONFIG).unwrap();
        let case = Case { dir: dir.clone() };
        for (i, v) in versions.iter().enumerate() {
            let extra = "\n\nMore.".repeat(i);
            fs::write(dir.join("content/en/ok.md"), ok_doc("en", "Ok", &extra)).unwrap();
            fs::write(dir.join("content/zh/ok.md"), ok_doc("zh", "好", &extra)).unwrap();
            if i > 0 {
                fs::write(dir.join("content/en/new.md"), ok_doc("en", "New", "")).unwrap();
                fs::write(dir.join("content/zh/new.md"), ok_doc("zh", "新", "")).unwrap();
            }
            case.publish(v, &["--quiet"]).check(0, &[]).unwrap();
        }
        Base { _tmp: tmp, dir }
    }

    /// A copy of the base in a new temporary folder.
    fn case(&self) -> (TempDir, Case) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kb");
        cp_a(&self.dir, &dir);
        fs::create_dir_all(tmp.path().join("cwd")).unwrap();
        (tmp, Case { dir })
    }
}

struct Case {
    dir: PathBuf,
}

impl Case {
    fn registry(&self) -> PathBuf {
        self.dir.join("registry")
    }

    /// The empty working directory (and HOME) of every run; it must stay empty.
    fn cwd(&self) -> PathBuf {
        self.dir.parent().unwrap().join("cwd")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let cwd = self.cwd();
        let mut cmd = kbrel_unsigned();
        cmd.current_dir(&cwd)
            .arg("--config")
            .arg(self.dir.join("kbrel.toml"))
            .arg("--registry")
            .arg(self.registry())
            .args(args)
            .env("HOME", &cwd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let run = run_lossy(&mut cmd);
        let left: Vec<_> = fs::read_dir(&cwd)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            left.is_empty(),
            "files written into the working directory: {left:?}\n{}",
            run.brief()
        );
        run
    }

    fn publish(&self, version: &str, extra: &[&str]) -> Run {
        let changelog = self.dir.join("CHANGELOG.md");
        let mut args = vec![
            "publish",
            version,
            "--no-tag",
            "--date",
            "2026-11-25",
            "--changelog",
            changelog.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.run(&args, &[])
    }
}

// --- documents ------------------------------------------------------------------------------

/// What kbrel must do with a document.
#[derive(Debug, Clone, Copy)]
enum Doc {
    /// A lint error for the file whose message contains every needle; `publish` exits 2.
    Refused(&'static [&'static str]),
    /// Published (odd but valid), and the registry verifies.
    Accepted,
}

use Doc::{Accepted, Refused};

const NOT_UTF8: &[&str] = &["not valid UTF-8"];
const BAD_YAML: &[&str] = &["invalid YAML in front matter"];
/// KB055: a NUL byte in the first 8,000 bytes makes a `.md` file binary, whatever else it holds
/// (UTF-16/32 text, NULs in a front-matter value or the body, random bytes).
const BINARY: &[&str] = &["binary content (a NUL byte at offset"];
const NOT_A_MAPPING: &[&str] = &["front matter must be a YAML mapping"];
const UNCLOSED: &[&str] = &["front matter is not closed"];

/// Every file of `tests/hostile/documents/`.
const DOCUMENTS: &[(&str, Doc)] = &[
    ("fm-billion-laughs.md", Refused(BAD_YAML)),
    ("fm-merge-key-bomb.md", Accepted),
    ("fm-self-alias.md", Refused(BAD_YAML)),
    ("fm-undefined-alias.md", Refused(BAD_YAML)),
    ("fm-tab-indent.md", Refused(BAD_YAML)),
    ("fm-duplicate-keys.md", Refused(BAD_YAML)),
    ("fm-unclosed.md", Refused(UNCLOSED)),
    ("fm-only-opening.md", Refused(UNCLOSED)),
    ("fm-non-mapping-list.md", Refused(NOT_A_MAPPING)),
    ("fm-non-mapping-scalar.md", Refused(NOT_A_MAPPING)),
    ("fm-title-list.md", Refused(&["`title` must be a string"])),
    (
        "fm-title-mapping.md",
        Refused(&["`title` must be a string"]),
    ),
    ("fm-id-list.md", Refused(&["`id` must be a string"])),
    ("fm-key-mapping.md", Refused(&["`key` must be a string"])),
    ("fm-complex-key.md", Refused(BAD_YAML)),
    ("fm-binary-tag.md", Accepted),
    ("fm-custom-tag.md", Accepted),
    ("fm-huge-integer.md", Accepted),
    ("fm-nan-infinity.md", Refused(BAD_YAML)),
    ("fm-control-chars.md", Refused(BAD_YAML)),
    ("fm-nul-in-value.md", Refused(BINARY)),
    ("fm-junk.md", Refused(BAD_YAML)),
    ("fm-id-traversal.md", Accepted),
    ("fm-empty.md", Accepted),
    ("fm-only-comment.md", Accepted),
    ("fm-document-end-marker.md", Accepted),
    ("fm-indent-mismatch.md", Refused(BAD_YAML)),
    ("fm-unterminated-quote.md", Refused(BAD_YAML)),
    ("fm-flow-unclosed.md", Refused(BAD_YAML)),
    ("fm-yaml-directive.md", Refused(BAD_YAML)),
    ("enc-utf16le-bom.md", Refused(BINARY)),
    ("enc-utf16be-bom.md", Refused(BINARY)),
    ("enc-utf32le-bom.md", Refused(BINARY)),
    ("enc-latin1.md", Refused(NOT_UTF8)),
    ("enc-overlong-utf8.md", Refused(NOT_UTF8)),
    ("enc-surrogate-utf8.md", Refused(NOT_UTF8)),
    ("enc-truncated-utf8.md", Refused(NOT_UTF8)),
    ("enc-invalid-in-body.md", Refused(NOT_UTF8)),
    ("enc-nul-bytes-body.md", Refused(BINARY)),
    ("enc-lone-cr.md", Accepted),
    ("enc-mixed-crlf-cr.md", Refused(UNCLOSED)),
    ("enc-bom-only.md", Refused(&["has no body"])),
    ("enc-double-bom.md", Accepted),
    ("enc-bidi-override.md", Accepted),
    ("enc-noncharacters.md", Refused(BAD_YAML)),
    ("enc-combining-flood.md", Accepted),
    ("enc-empty-file.md", Refused(&["has no body"])),
    (
        "body-link-traversal.md",
        Refused(&["../../../../etc/passwd"]),
    ),
    ("body-unbalanced-html.md", Refused(&["<div>"])),
    ("body-deep-blockquote.md", Accepted),
    ("body-deep-list.md", Accepted),
    ("body-reference-link-loop.md", Accepted),
    ("body-fence-unclosed.md", Accepted),
    ("body-table-wide.md", Accepted),
];

/// Documents too large to keep as files.
fn generated_documents() -> Vec<(String, Vec<u8>, Doc)> {
    let fm = |yaml: String| format!("---\n{yaml}---\n\n# Generated\n\nBody.\n").into_bytes();
    let random: Vec<u8> = {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..65_536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let block: String = (0..3000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    vec![
        (
            "gen-deep-flow-nesting.md".into(),
            fm(format!(
                "title: deep\nx: {}{}\n",
                "[".repeat(20_000),
                "]".repeat(20_000)
            )),
            Refused(BAD_YAML),
        ),
        (
            "gen-deep-block-nesting.md".into(),
            fm(format!("{block}{}leaf: 1\ntitle: deep\n", " ".repeat(3000))),
            Refused(BAD_YAML),
        ),
        (
            "gen-huge-key.md".into(),
            fm(format!("{}: value\ntitle: huge key\n", "k".repeat(1 << 20))),
            Refused(BAD_YAML),
        ),
        (
            "gen-huge-title.md".into(),
            fm(format!("title: {}\n", "t".repeat(4 << 20))),
            Accepted,
        ),
        (
            "gen-many-keys.md".into(),
            fm((0..100_000)
                .map(|i| format!("k{i}: {i}\n"))
                .collect::<String>()
                + "title: many\n"),
            Accepted,
        ),
        (
            "gen-many-anchors.md".into(),
            fm((0..20_000)
                .map(|i| format!("a{i}: &x{i} v{i}\nb{i}: *x{i}\n"))
                .collect::<String>()
                + "title: anchors\n"),
            Accepted,
        ),
        (
            "gen-alias-fanout.md".into(),
            fm(format!(
                "base: &b {}\nmany: [{}]\ntitle: fanout\n",
                "x".repeat(10_000),
                vec!["*b"; 100_000].join(",")
            )),
            Refused(BAD_YAML),
        ),
        (
            "gen-long-line-body.md".into(),
            format!(
                "---\ntitle: long line\n---\n\n{}\n",
                "word ".repeat(2 << 20)
            )
            .into_bytes(),
            Accepted,
        ),
        (
            "gen-many-links.md".into(),
            format!(
                "---\ntitle: links\n---\n\n{}\n",
                "[x](ok.md) ".repeat(100_000)
            )
            .into_bytes(),
            Accepted,
        ),
        ("gen-random-bytes.md".into(), random, Refused(BINARY)),
    ]
}

/// The library on its own: build + lint never panics, and the expected finding names the file.
fn library_document(bytes: &[u8], expect: Doc) -> Result<(), String> {
    let cfg = kbrel::config::Config::parse(CONFIG, Path::new("/nonexistent/kbrel.toml")).unwrap();
    let source = |path: &str, bytes: Vec<u8>| kbrel::content::SourceFile {
        path: path.into(),
        bytes,
    };
    let files = vec![
        source("en/hostile.md", bytes.to_vec()),
        source("en/ok.md", ok_doc("en", "Ok", "").into_bytes()),
        source("zh/ok.md", ok_doc("zh", "好", "").into_bytes()),
    ];
    let all: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let kb = kbrel::content::build(&cfg, files, all, &Default::default())
        .map_err(|e| format!("build failed: {e}"))?;
    let findings = kbrel::lint::lint(&kb, &cfg);
    let errors: Vec<&kbrel::findings::Finding> = findings
        .iter()
        .filter(|f| f.severity == kbrel::findings::Severity::Error)
        .collect();
    match expect {
        Refused(needles) => {
            let hit = errors.iter().any(|f| {
                f.file == "en/hostile.md" && needles.iter().all(|n| f.message.contains(n))
            });
            if !hit {
                return Err(format!(
                    "no error finding for en/hostile.md containing {needles:?}; findings: {findings:#?}"
                ));
            }
        }
        Accepted if !errors.is_empty() => return Err(format!("unexpected errors: {errors:#?}")),
        Accepted => {}
    }
    Ok(())
}

/// The binary: publish 1.2.0 with the document added to a registry holding 1.0.0 and 1.1.0.
fn cli_document(base: &Base, bytes: &[u8], expect: Doc) -> Result<(), String> {
    let (_tmp, case) = base.case();
    fs::write(case.dir.join("content/en/hostile.md"), bytes).unwrap();
    let before = snapshot(&case.registry());
    let run = case.publish("1.2.0", &["--quiet"]);
    match expect {
        Refused(needles) => {
            let mut all = vec!["en/hostile.md", "publishing is blocked"];
            all.extend_from_slice(needles);
            run.check(2, &all)?;
            same(&before, &snapshot(&case.registry()), "the registry")
        }
        Accepted => {
            run.check(0, &[])?;
            case.run(&["verify"], &[]).check(0, &[])
        }
    }
}

fn names_in(dir: &str) -> BTreeSet<String> {
    fs::read_dir(corpus().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_corpus_file_is_listed() {
    let listed: BTreeSet<String> = DOCUMENTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        names_in("documents"),
        listed,
        "tests/hostile/documents vs DOCUMENTS"
    );
    let listed: BTreeSet<String> = CONFIGS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        names_in("config"),
        listed,
        "tests/hostile/config vs CONFIGS"
    );
}

#[test]
fn hostile_documents_are_reported_by_file() {
    let base = Base::new(&["1.0.0", "1.1.0"]);
    let mut cases: Vec<(String, Vec<u8>, Doc)> = DOCUMENTS
        .iter()
        .map(|(name, expect)| {
            let bytes = fs::read(corpus().join("documents").join(name)).unwrap();
            (name.to_string(), bytes, *expect)
        })
        .collect();
    cases.extend(generated_documents());
    run_cases(
        "document",
        &cases,
        |c| c.0.clone(),
        |(_, bytes, expect)| {
            library_document(bytes, *expect).map_err(|e| format!("library: {e}"))?;
            cli_document(&base, bytes, *expect).map_err(|e| format!("kbrel publish: {e}"))
        },
    );
}

// --- kbrel.toml -----------------------------------------------------------------------------

/// Every file of `tests/hostile/config/`, with what the error must name (besides the file).
const CONFIGS: &[(&str, &[&str])] = &[
    ("unknown-table.toml", &["pakage"]),
    ("unknown-key.toml", &["rooot"]),
    ("gzip-level-42.toml", &["registry.gzip_level 42"]),
    ("gzip-level-negative.toml", &["gzip_level"]),
    ("gzip-level-string.toml", &["gzip_level"]),
    ("gzip-level-float.toml", &["gzip_level"]),
    (
        "tag-format-without-version.toml",
        &["tag_format", "{version}"],
    ),
    ("name-uppercase.toml", &["package.name `Hostile-KB`"]),
    ("name-empty.toml", &["package.name ``"]),
    ("name-traversal.toml", &["package.name `../../evil`"]),
    ("name-registry-file.toml", &["package.name `index.json`"]),
    ("name-scope-only.toml", &["package.name `@acme`"]),
    ("name-too-long.toml", &["package.name", "214"]),
    ("name-unicode.toml", &["package.name `kéb`"]),
    ("name-integer.toml", &["name"]),
    ("languages-empty.toml", &["content.languages"]),
    ("language-traversal.toml", &["content.languages[1] `../zh`"]),
    ("language-empty-string.toml", &["content.languages[1] ``"]),
    ("language-twice.toml", &["lists `en` twice"]),
    ("languages-not-a-list.toml", &["languages"]),
    (
        "source-language-unknown.toml",
        &["content.source_language `fr`"],
    ),
    ("pairing-unknown.toml", &["front-matter:bogus"]),
    ("layout-unknown.toml", &["flat"]),
    (
        "global-not-identifier.toml",
        &["bundle.globals.en `not-an-identifier`"],
    ),
    ("global-unknown-language.toml", &["bundle.globals.fr"]),
    ("keys-unknown-language.toml", &["content.keys.fr"]),
    ("keys-file-missing.toml", &["no-such-keys.json"]),
    ("expires-days-negative.toml", &["expires_days"]),
    ("expires-days-huge.toml", &["expires_days"]),
    ("missing-package.toml", &["package"]),
    ("empty.toml", &["package"]),
    ("syntax-error.toml", &[]),
    ("duplicate-key.toml", &["name"]),
    ("duplicate-table.toml", &["content"]),
    ("latin1.toml", &["UTF-8"]),
    ("nul-byte.toml", &[]),
    ("deeply-nested-inline.toml", &[]),
    ("utf16-bom.toml", &[]),
];

#[test]
fn hostile_configs_are_refused_naming_the_key() {
    let base = Base::new(&["1.0.0"]);
    run_cases(
        "kbrel.toml",
        CONFIGS,
        |c| c.0.to_string(),
        |(name, needles)| {
            let bytes = fs::read(corpus().join("config").join(name)).unwrap();
            // A missing keys file is found after parsing, when the content is loaded.
            let after_parse = name.starts_with("keys-file");
            if let (Ok(text), false) = (std::str::from_utf8(&bytes), after_parse) {
                let e = kbrel::config::Config::parse(text, Path::new("x/kbrel.toml"))
                    .err()
                    .ok_or("Config::parse accepted it")?
                    .to_string();
                if let Some(n) = needles.iter().find(|n| !e.contains(**n)) {
                    return Err(format!("Config::parse: the error does not name `{n}`: {e}"));
                }
            }
            let (_tmp, case) = base.case();
            let config = case.dir.join("kbrel.toml");
            fs::write(&config, &bytes).unwrap();
            let before = snapshot(&case.dir);
            let config = config.display().to_string();
            let mut all: Vec<&str> = needles.to_vec();
            if !after_parse {
                all.push(&config);
            }
            let run = case.run(&["check"], &[]);
            run.check(2, &all)
                .map_err(|e| format!("kbrel check: {e}"))?;
            let run = case.publish("1.1.0", &[]);
            run.check(2, &all)
                .map_err(|e| format!("kbrel publish: {e}"))?;
            same(&before, &snapshot(&case.dir), "the knowledge base folder")
        },
    );
}

// --- versions, dist-tags and dates ----------------------------------------------------------

/// (arguments after `publish`, environment, what the error must name)
type ArgCase = (Vec<String>, Vec<(&'static str, &'static str)>, Vec<String>);

fn argument_cases() -> Vec<ArgCase> {
    let mut cases: Vec<ArgCase> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for v in [
        "1.3",
        "01.2.3",
        "1.02.3",
        "latest",
        "1.2.3-",
        "1.2.3+build",
        "1.2.3-beta+build.5",
        "v",
        "vv1.2.3",
        "9999999999999999999999.0.0",
        "18446744073709551616.0.0",
        "١.٢.٣",
        "１.２.３",
        "1.2.3-01",
        "1.2.3-beta..1",
        "1.2.3-αβ",
        "1.2.3.4",
        "1.2",
        "1..3",
        "^1.2.3",
        "1.2.x",
        "../1.2.3",
        "1.2.3/../../x",
    ] {
        cases.push((
            s(&[v]),
            vec![],
            vec!["invalid version".into(), format!("`{v}`")],
        ));
    }
    for v in ["", " ", "\t"] {
        cases.push((s(&[v]), vec![], s(&["invalid version", "empty"])));
    }
    // Control characters are shown escaped. (Surrounding whitespace is trimmed: `"1.2.3\n"`
    // is 1.2.3; a NUL cannot be passed in an argument at all.)
    for v in ["1.2.3-\u{1b}[31mred", "1.\u{7}2.3"] {
        cases.push((s(&[v]), vec![], s(&["invalid version", "\\u{"])));
    }
    // clap takes it for an option (exit 2 all the same).
    cases.push((s(&["-1.2.3"]), vec![], s(&["unexpected argument '-1'"])));
    for tag in ["1.2.3", "v2.0.0", "", "a/b", "with space"] {
        cases.push((
            s(&["1.1.0", "--tag", tag]),
            vec![],
            vec![format!("invalid dist-tag `{tag}`")],
        ));
    }
    for date in [
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "99999-01-01",
        "2026-1-1",
        "2026-01-01T25:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00+8",
        "２０２６-01-01",
        "yesterday",
        "",
        "2026-01-01T00:00:00Zjunk",
    ] {
        cases.push((
            s(&["1.1.0", "--date", date]),
            vec![],
            vec![format!("invalid date `{date}`")],
        ));
    }
    for epoch in [
        "abc",
        "1e9",
        "",
        "99999999999999999999",
        "9223372036854775807",
        "-9223372036854775808",
        "253402300800",
        "-62167219201",
    ] {
        cases.push((
            s(&["1.1.0"]),
            vec![("SOURCE_DATE_EPOCH", epoch)],
            vec![format!("invalid date `{epoch}`")],
        ));
    }
    cases
}

#[test]
fn hostile_versions_tags_and_dates_are_refused_naming_the_value() {
    let base = Base::new(&["1.0.0"]);
    let cases = argument_cases();
    run_cases(
        "version/tag/date",
        &cases,
        |c| format!("{:?} {:?}", c.0, c.1),
        |(args, env, needles)| {
            let (_tmp, case) = base.case();
            let before = snapshot(&case.dir);
            let changelog = case.dir.join("CHANGELOG.md").display().to_string();
            let mut argv: Vec<&str> = vec!["publish"];
            argv.extend(args.iter().map(String::as_str));
            argv.extend(["--no-tag", "--changelog", &changelog]);
            if !args.iter().any(|a| a == "--date") && env.is_empty() {
                argv.extend(["--date", "2026-11-25"]);
            }
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            case.run(&argv, env).check(2, &needles)?;
            same(&before, &snapshot(&case.dir), "the knowledge base folder")
        },
    );
}

// --- registry files -------------------------------------------------------------------------

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &serde_json::Value) {
    fs::write(p, kbrel::manifest::to_json_bytes(v)).unwrap();
}

fn edit_index(reg: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = reg.join("index.json");
    let mut v = read_json(&p);
    f(&mut v);
    write_json(&p, &v);
}

fn edit_index_bytes(reg: &Path, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let p = reg.join("index.json");
    fs::write(&p, f(fs::read(&p).unwrap())).unwrap();
}

/// Replace a version's `manifest` or `diff` file with `bytes` and record their sha256 and size
/// in the index, so only the content is at fault.
fn replace_listed(reg: &Path, version: &str, which: &str, bytes: &[u8]) {
    fs::write(reg.join(format!("v/{version}/{which}.json")), bytes).unwrap();
    edit_index(reg, |i| {
        let e = i["versions"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|v| v["version"] == version)
            .unwrap();
        e[which]["sha256"] = kbrel::hash::sha256_hex(bytes).into();
        e[which]["size"] = bytes.len().into();
    });
}

fn edit_manifest(reg: &Path, version: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut m = read_json(&reg.join(format!("v/{version}/manifest.json")));
    f(&mut m);
    replace_listed(
        reg,
        version,
        "manifest",
        &kbrel::manifest::to_json_bytes(&m),
    );
}

/// The blob of the first document of 1.1.0.
fn a_blob(reg: &Path) -> PathBuf {
    let m = read_json(&reg.join("v/1.1.0/manifest.json"));
    let sha = m["documents"][0]["sha256"].as_str().unwrap().to_string();
    reg.join(kbrel::registry::blob_path(&sha))
}

/// How a damaged registry must be treated.
struct RegCase {
    name: &'static str,
    edit: Box<dyn Fn(&Path) + Sync>,
    /// `kbrel verify`: exit 0, 1 (problems listed) or 2 (cannot verify), naming these.
    verify: (i32, &'static [&'static str]),
    /// `kbrel publish 1.2.0`: `Some(needles)`: exit 2 naming these, the registry unchanged.
    /// `None`: the damage does not concern a publish (exit 0 or 2).
    publish: Option<&'static [&'static str]>,
}

fn reg_case(
    name: &'static str,
    edit: impl Fn(&Path) + Sync + 'static,
    verify: (i32, &'static [&'static str]),
    publish: Option<&'static [&'static str]>,
) -> RegCase {
    RegCase {
        name,
        edit: Box::new(edit),
        verify,
        publish,
    }
}

fn registry_cases() -> Vec<RegCase> {
    const INDEX: &[&str] = &["index.json"];
    const NOT_JSON: &[&str] = &["index.json", "not valid JSON"];
    let version_file = |version: usize, field: &'static str, value: &'static str| {
        move |r: &Path| edit_index(r, |i| i["versions"][version][field]["path"] = value.into())
    };
    vec![
        reg_case(
            "index truncated",
            |r| edit_index_bytes(r, |b| b[..b.len() / 2].to_vec()),
            (1, NOT_JSON),
            Some(NOT_JSON),
        ),
        reg_case(
            "index empty",
            |r| edit_index_bytes(r, |_| Vec::new()),
            (1, NOT_JSON),
            Some(NOT_JSON),
        ),
        reg_case(
            "index garbage",
            |r| edit_index_bytes(r, |_| b"\x00\xff garbage \x1b[31m".to_vec()),
            (1, NOT_JSON),
            Some(NOT_JSON),
        ),
        reg_case(
            "index is an array",
            |r| edit_index_bytes(r, |_| b"[1, 2, 3]".to_vec()),
            (1, INDEX),
            Some(INDEX),
        ),
        reg_case(
            "index nested 100000 deep",
            |r| {
                edit_index_bytes(r, |_| {
                    format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()
                })
            },
            (1, &["index.json", "recursion limit"]),
            Some(INDEX),
        ),
        reg_case(
            "index newer schema",
            |r| edit_index(r, |i| i["schema_version"] = 2.into()),
            (1, &["index.json", "schema_version 2, newer"]),
            Some(&["index.json", "upgrade kbrel"]),
        ),
        reg_case(
            "index schema as string",
            |r| edit_index(r, |i| i["schema_version"] = "1".into()),
            (1, &["index.json", "unsupported schema_version"]),
            Some(INDEX),
        ),
        reg_case(
            "index without schema",
            |r| {
                edit_index(r, |i| {
                    i.as_object_mut().unwrap().remove("schema_version");
                })
            },
            (1, &["index.json", "no schema_version"]),
            Some(INDEX),
        ),
        reg_case(
            "index unknown field",
            |r| edit_index(r, |i| i["surprise"] = true.into()),
            (1, &["index.json", "surprise"]),
            Some(&["surprise"]),
        ),
        reg_case(
            "index versions unsorted",
            |r| edit_index(r, |i| i["versions"].as_array_mut().unwrap().reverse()),
            (1, &["not in ascending order at `1.0.0`"]),
            Some(&["not in ascending order"]),
        ),
        reg_case(
            "index version twice",
            |r| {
                edit_index(r, |i| {
                    let first = i["versions"][0].clone();
                    i["versions"].as_array_mut().unwrap().insert(0, first);
                })
            },
            (1, &["not in ascending order"]),
            Some(&["not in ascending order"]),
        ),
        reg_case(
            "index dist-tag to unknown version",
            |r| edit_index(r, |i| i["dist_tags"]["beta"] = "7.7.7".into()),
            (1, &["dist-tag `beta` points at unlisted version `7.7.7`"]),
            Some(&["7.7.7"]),
        ),
        reg_case(
            "index invalid version",
            |r| edit_index(r, |i| i["versions"][0]["version"] = "1.0".into()),
            (1, &["invalid version `1.0`"]),
            Some(&["`1.0`"]),
        ),
        reg_case(
            "index manifest path ../",
            version_file(0, "manifest", "../../outside.json"),
            (1, &["unsafe path `../../outside.json`"]),
            Some(&["../../outside.json"]),
        ),
        reg_case(
            "index absolute tarball path",
            version_file(1, "tarball", "/etc/passwd"),
            (1, &["unsafe path `/etc/passwd`"]),
            Some(&["/etc/passwd"]),
        ),
        reg_case(
            "index backslash path",
            version_file(0, "diff", "v\\1.0.0\\diff.json"),
            (1, &["unsafe path"]),
            Some(&["unsafe path"]),
        ),
        reg_case(
            "index drive-letter path",
            version_file(0, "package_json", "C:/x.json"),
            (1, &["unsafe path `C:/x.json`"]),
            Some(&["C:/x.json"]),
        ),
        reg_case(
            "index of another package",
            |r| edit_index(r, |i| i["name"] = "other-kb".into()),
            (
                1,
                &["manifest says hostile-kb@1.0.0, index says other-kb@1.0.0"],
            ),
            Some(&["holds package `other-kb`"]),
        ),
        reg_case(
            "index sequence at u64::MAX",
            |r| edit_index(r, |i| i["sequence"] = u64::MAX.into()),
            (0, &[]),
            Some(&["index.json", "sequence"]),
        ),
        reg_case(
            "index sequence negative",
            |r| edit_index(r, |i| i["sequence"] = (-1).into()),
            (1, &["index.json", "integer `-1`"]),
            Some(&["index.json", "integer `-1`"]),
        ),
        reg_case(
            "index previous unknown",
            |r| edit_index(r, |i| i["versions"][1]["previous"] = "0.9.0".into()),
            (
                1,
                &[
                    "v/1.1.0/diff.json",
                    "previous version 0.9.0 is not in the index",
                ],
            ),
            None,
        ),
        reg_case(
            "index tarball size wrong",
            |r| edit_index(r, |i| i["versions"][1]["tarball"]["size"] = 1.into()),
            (
                1,
                &[
                    "hostile-kb-1.1.0.tgz",
                    "does not match its recorded integrity",
                ],
            ),
            None,
        ),
        reg_case(
            "index file count huge",
            |r| {
                edit_index(r, |i| {
                    i["versions"][1]["tarball"]["file_count"] = u64::MAX.into()
                })
            },
            (1, &["hostile-kb-1.1.0.tgz", "18446744073709551615"]),
            None,
        ),
        reg_case(
            "manifest sha mismatch",
            |r| {
                let p = r.join("v/1.1.0/manifest.json");
                let mut b = fs::read(&p).unwrap();
                b.push(b' ');
                fs::write(p, b).unwrap();
            },
            (1, &["v/1.1.0/manifest.json", "sha256 mismatch"]),
            Some(&["v/1.1.0/manifest.json", "sha256 mismatch"]),
        ),
        reg_case(
            "manifest missing",
            |r| fs::remove_file(r.join("v/1.1.0/manifest.json")).unwrap(),
            (1, &["v/1.1.0/manifest.json"]),
            Some(&["v/1.1.0/manifest.json"]),
        ),
        reg_case(
            "manifest document path ../",
            |r| {
                edit_manifest(r, "1.1.0", |m| {
                    m["documents"][0]["path"] = "../../../escape.md".into()
                })
            },
            (
                1,
                &[
                    "v/1.1.0/manifest.json",
                    "unsafe document path `en/../../../escape.md`",
                ],
            ),
            Some(&["unsafe document path"]),
        ),
        reg_case(
            "manifest absolute document path",
            |r| {
                edit_manifest(r, "1.1.0", |m| {
                    m["documents"][0]["path"] = "/etc/passwd".into()
                })
            },
            (1, &["unsafe document path `en//etc/passwd`"]),
            Some(&["unsafe document path"]),
        ),
        reg_case(
            "manifest language ..",
            |r| edit_manifest(r, "1.1.0", |m| m["documents"][0]["lang"] = "..".into()),
            (1, &["unsafe document path `../"]),
            Some(&["unsafe document path"]),
        ),
        reg_case(
            "manifest invalid sha",
            |r| {
                edit_manifest(r, "1.1.0", |m| {
                    m["documents"][0]["sha256"] = "../../../../etc/passwd".into()
                })
            },
            (1, &["invalid sha256 `../../../../etc/passwd`"]),
            Some(&["invalid sha256"]),
        ),
        reg_case(
            "manifest of another version",
            |r| edit_manifest(r, "1.1.0", |m| m["version"] = "9.9.9".into()),
            (
                1,
                &["manifest says hostile-kb@9.9.9, index says hostile-kb@1.1.0"],
            ),
            None,
        ),
        reg_case(
            "manifest newer schema",
            |r| edit_manifest(r, "1.1.0", |m| m["schema_version"] = 3.into()),
            (1, &["v/1.1.0/manifest.json", "newer"]),
            Some(&["v/1.1.0/manifest.json", "newer"]),
        ),
        reg_case(
            "manifest not JSON (hash listed)",
            |r| replace_listed(r, "1.1.0", "manifest", b"<html>oops</html>"),
            (1, &["v/1.1.0/manifest.json", "not valid JSON"]),
            Some(&["v/1.1.0/manifest.json", "not valid JSON"]),
        ),
        reg_case(
            "diff not JSON (hash listed)",
            |r| replace_listed(r, "1.1.0", "diff", b"{\"schema_version\": 1"),
            (1, &["v/1.1.0/diff.json"]),
            None,
        ),
        reg_case(
            "blob content replaced",
            |r| fs::write(a_blob(r), "not the document").unwrap(),
            (1, &["blobs/sha256/", "content hashes to"]),
            None,
        ),
        reg_case(
            "blob missing",
            |r| fs::remove_file(a_blob(r)).unwrap(),
            (1, &["blobs/sha256/", "missing"]),
            None,
        ),
        reg_case(
            "blob is a folder",
            |r| {
                let b = a_blob(r);
                fs::remove_file(&b).unwrap();
                fs::create_dir_all(b.join("x")).unwrap();
            },
            (1, &["blobs/sha256/"]),
            None,
        ),
        reg_case(
            "tarball truncated",
            |r| {
                let p = r.join("hostile-kb-1.1.0.tgz");
                let b = fs::read(&p).unwrap();
                fs::write(&p, &b[..b.len() / 2]).unwrap();
            },
            (
                1,
                &[
                    "hostile-kb-1.1.0.tgz",
                    "does not match its recorded integrity",
                ],
            ),
            None,
        ),
        reg_case(
            "tarball swapped",
            |r| {
                fs::copy(
                    r.join("hostile-kb-1.0.0.tgz"),
                    r.join("hostile-kb-1.1.0.tgz"),
                )
                .unwrap();
            },
            (1, &["hostile-kb-1.1.0.tgz"]),
            None,
        ),
        reg_case(
            "signature garbage",
            |r| fs::write(r.join("index.json.sig"), "garbage").unwrap(),
            (1, &["index.json.sig"]),
            None,
        ),
        reg_case(
            "packument garbage",
            |r| fs::write(r.join("hostile-kb"), "{").unwrap(),
            (1, &["hostile-kb", "not JSON"]),
            None,
        ),
        reg_case(
            "staging left behind",
            |r| fs::create_dir_all(r.join(".staging-1/v")).unwrap(),
            (1, &[".staging-1", "garbage"]),
            None,
        ),
        reg_case(
            "registry is a file",
            |r| {
                fs::remove_dir_all(r).unwrap();
                fs::write(r, "not a folder").unwrap();
            },
            (2, &["registry"]),
            Some(&["registry"]),
        ),
    ]
}

#[test]
fn damaged_registries_are_reported_by_path_and_never_touched() {
    let base = Base::new(&["1.0.0", "1.1.0"]);
    let cases = registry_cases();
    run_cases(
        "registry",
        &cases,
        |c| c.name.to_string(),
        |c| {
            let (_tmp, case) = base.case();
            let reg = case.registry();
            (c.edit)(&reg);
            let damaged = snapshot(&reg);
            let dir = reg.display().to_string();
            // verify: reports the damage by path and changes nothing.
            let run = case.run(&["verify", &dir], &[]);
            run.check(c.verify.0, c.verify.1)
                .map_err(|e| format!("kbrel verify: {e}"))?;
            same(&damaged, &snapshot(&reg), "the registry (verify)")?;
            // --repair removes nothing but garbage.
            let run = case.run(&["verify", &dir, "--repair"], &[]);
            if ![0, 1, 2].contains(&run.code) {
                return Err(format!("kbrel verify --repair\n{}", run.brief()));
            }
            let after = snapshot(&reg);
            for (path, bytes) in &damaged {
                if !path.starts_with(".staging-") && after.get(path) != Some(bytes) {
                    return Err(format!(
                        "verify --repair changed or removed `{path}`\n{}",
                        run.brief()
                    ));
                }
            }
            // publish over it.
            let edited = ok_doc("en", "Ok", "\n\nEdited for 1.2.0.");
            fs::write(case.dir.join("content/en/ok.md"), edited).unwrap();
            let before = snapshot(&reg);
            let run = case.publish("1.2.0", &["--quiet"]);
            match c.publish {
                Some(needles) => {
                    run.check(2, needles)
                        .map_err(|e| format!("kbrel publish: {e}"))?;
                    same(&before, &snapshot(&reg), "the registry (publish)")
                }
                None if ![0, 2].contains(&run.code) => {
                    Err(format!("kbrel publish\n{}", run.brief()))
                }
                None => Ok(()),
            }
        },
    );
}

// --- tarballs -------------------------------------------------------------------------------

/// A raw tar header: any name bytes (no validation), size and type. Links point at
/// `../../../etc/`.
fn header(name: &[u8], size: u64, kind: u8) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::new(kind));
    if kind == b'1' || kind == b'2' {
        h.as_old_mut().linkname[..13].copy_from_slice(b"../../../etc/");
    }
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// `(header, data)` pairs → a tar stream (data padded to 512 bytes, two zero blocks at the end).
fn tar(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, data) in entries {
        out.extend_from_slice(h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn file(name: &str, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (
        header(name.as_bytes(), data.len() as u64, b'0'),
        data.to_vec(),
    )
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A PAX extended header entry with the given records.
fn pax(records: &[(&str, &str)]) -> (Vec<u8>, Vec<u8>) {
    let mut data = String::new();
    for (k, v) in records {
        let rec = format!(" {k}={v}\n");
        let mut n = rec.len() + 1;
        while n.to_string().len() + rec.len() != n {
            n = n.to_string().len() + rec.len();
        }
        data.push_str(&format!("{n}{rec}"));
    }
    (
        header(b"PaxHeader/x", data.len() as u64, b'x'),
        data.into_bytes(),
    )
}

fn long_name(name: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let data = [name, &[0]].concat();
    (header(b"././@LongLink", data.len() as u64, b'L'), data)
}

/// `(name, tgz, limits, Ok(file count) | Err(what the error must name))`
type TarCase = (
    &'static str,
    Vec<u8>,
    kbrel::package::UnpackLimits,
    Result<usize, &'static [&'static str]>,
);

fn tarball_cases() -> Vec<TarCase> {
    use kbrel::package::UnpackLimits;
    let d = UnpackLimits::default();
    let small = UnpackLimits {
        max_unpacked: 1 << 20,
        max_entries: 100,
    };
    let one = UnpackLimits {
        max_unpacked: d.max_unpacked,
        max_entries: 1,
    };
    let ok = file("package/ok.md", b"fine");
    let zeros = vec![0u8; 64 << 20];
    let bomb = gz(&tar(&[(
        header(b"package/zeros", zeros.len() as u64, b'0'),
        zeros,
    )]));
    let real = gz(&tar(&[ok.clone(), file("package/docs/en/a.md", b"# A\n")]));
    let many: Vec<_> = (0..150)
        .map(|i| file(&format!("package/f{i}"), b"x"))
        .collect();
    let mut long = b"package/".to_vec();
    long.extend(std::iter::repeat_n(b'a', 200));
    let mut long_traversal = b"package/".to_vec();
    long_traversal.extend(b"../".repeat(70));
    long_traversal.extend(b"etc/passwd");
    let mut bad_checksum = tar(std::slice::from_ref(&ok));
    bad_checksum[148] ^= 0x55;
    let special = |name: &[u8], kind: u8| gz(&tar(&[(header(name, 0, kind), vec![])]));
    const OUTSIDE: &[&str] = &["outside `package/` or unsafe"];
    vec![
        ("a real package", real.clone(), d, Ok(2)),
        (
            "path traversal",
            gz(&tar(&[file("package/../../etc/passwd", b"root")])),
            d,
            Err(&["package/../../etc/passwd", "outside `package/` or unsafe"]),
        ),
        (
            "traversal inside package",
            gz(&tar(&[file("package/docs/../../x", b"x")])),
            d,
            Err(&["package/docs/../../x"]),
        ),
        (
            "absolute path",
            gz(&tar(&[file("/etc/passwd", b"root")])),
            d,
            Err(OUTSIDE),
        ),
        (
            "outside package/",
            gz(&tar(&[file("other/file.md", b"x")])),
            d,
            Err(&["other/file.md", "outside `package/`"]),
        ),
        (
            "bare package/",
            gz(&tar(&[file("package/", b"")])),
            d,
            Err(&["package/"]),
        ),
        (
            "empty segment",
            gz(&tar(&[file("package//etc/passwd", b"x")])),
            d,
            Err(&["package//etc/passwd"]),
        ),
        (
            "backslashes",
            gz(&tar(&[file("package/..\\..\\x", b"x")])),
            d,
            Err(OUTSIDE),
        ),
        (
            "drive letter",
            gz(&tar(&[file("package/C:/x", b"x")])),
            d,
            Err(&["package/C:/x"]),
        ),
        (
            "symlink",
            special(b"package/link", b'2'),
            d,
            Err(&["package/link", "Symlink", "only regular files"]),
        ),
        (
            "hard link",
            gz(&tar(&[
                ok.clone(),
                (header(b"package/hard", 0, b'1'), vec![]),
            ])),
            d,
            Err(&["package/hard", "Link"]),
        ),
        (
            "character device",
            special(b"package/tty", b'3'),
            d,
            Err(&["package/tty", "Char"]),
        ),
        (
            "block device",
            special(b"package/sda", b'4'),
            d,
            Err(&["package/sda", "Block"]),
        ),
        (
            "directory",
            special(b"package/docs/", b'5'),
            d,
            Err(&["package/docs", "Directory"]),
        ),
        (
            "fifo",
            special(b"package/fifo", b'6'),
            d,
            Err(&["package/fifo", "Fifo"]),
        ),
        (
            "GNU sparse",
            special(b"package/sparse", b'S'),
            d,
            Err(&["package.tgz", "unreadable tar entry"]),
        ),
        (
            "gzip bomb",
            bomb.clone(),
            small,
            Err(&["unpacks to more than 1048576 bytes", "package/zeros"]),
        ),
        ("gzip bomb under the default limit", bomb, one, Ok(1)),
        (
            "10 GB size field, no data",
            gz(&tar(&[(header(b"package/huge", 10 << 30, b'0'), vec![])])),
            d,
            Err(&["package/huge", "unpacks to more than"]),
        ),
        (
            "1 GB size field, no data",
            gz(&tar(&[(header(b"package/big", 1 << 30, b'0'), vec![])])),
            d,
            Err(&["entry `package/big` is truncated"]),
        ),
        (
            "size larger than the data",
            gz(&tar(&[(
                header(b"package/short", 5000, b'0'),
                b"tiny".to_vec(),
            )])),
            d,
            Err(&["entry `package/short` is truncated"]),
        ),
        (
            "duplicate entries",
            gz(&tar(&[ok.clone(), ok.clone()])),
            d,
            Err(&["package/ok.md", "appears twice"]),
        ),
        (
            "too many entries",
            gz(&tar(&many)),
            small,
            Err(&["more than 100 entries"]),
        ),
        (
            "truncated gzip",
            real[..real.len() / 2].to_vec(),
            d,
            Err(&["package.tgz"]),
        ),
        (
            "gzip without its trailer",
            real[..real.len() - 8].to_vec(),
            d,
            Err(&["package.tgz", "damaged gzip stream"]),
        ),
        (
            "gzip with a wrong CRC",
            {
                let mut b = real.clone();
                let n = b.len();
                b[n - 6] ^= 1;
                b
            },
            d,
            Err(&["damaged gzip stream"]),
        ),
        (
            "not gzip (plain tar)",
            tar(std::slice::from_ref(&ok)),
            d,
            Err(&["package.tgz", "invalid gzip header"]),
        ),
        (
            "not gzip (HTML)",
            b"<html>404</html>".to_vec(),
            d,
            Err(&["package.tgz"]),
        ),
        (
            "gzip of garbage",
            gz(&[0xAB; 2000]),
            d,
            Err(&["package.tgz"]),
        ),
        (
            "bad header checksum",
            gz(&bad_checksum),
            d,
            Err(&["package.tgz", "cksum", "package/ok.md"]),
        ),
        (
            "non-UTF-8 name",
            gz(&tar(&[(
                header(b"package/\xff\xfe", 1, b'0'),
                b"x".to_vec(),
            )])),
            d,
            Err(&["not UTF-8"]),
        ),
        (
            "PAX path override to ../",
            gz(&tar(&[
                pax(&[("path", "../../escape")]),
                file("package/innocent", b"x"),
            ])),
            d,
            Err(&["../../escape"]),
        ),
        (
            "PAX huge size",
            gz(&tar(&[
                pax(&[("size", "99999999999999")]),
                file("package/sized", b"x"),
            ])),
            d,
            Err(&["unpacks to more than", "package/sized"]),
        ),
        // The tar crate ignores an unparsable PAX size and uses the header's (1 byte, as written).
        (
            "PAX size not a number",
            gz(&tar(&[
                pax(&[("size", "lots")]),
                file("package/sized", b"x"),
            ])),
            d,
            Ok(1),
        ),
        (
            "GNU long name traversal",
            gz(&tar(&[
                long_name(&long_traversal),
                file("package/short", b"x"),
            ])),
            d,
            Err(OUTSIDE),
        ),
        (
            "GNU long name",
            gz(&tar(&[long_name(&long), file("package/short", b"x")])),
            d,
            Ok(1),
        ),
        ("empty input", Vec::new(), d, Err(&["package.tgz"])),
        ("empty archive", gz(&[0; 1024]), d, Ok(0)),
    ]
}

#[test]
fn malicious_tarballs_are_refused_naming_the_entry() {
    let cases = tarball_cases();
    run_cases(
        "tarball",
        &cases,
        |c| c.0.to_string(),
        |(_, tgz, limits, expect)| match (
            kbrel::package::unpack(tgz, "package.tgz", *limits),
            expect,
        ) {
            (Ok(files), Ok(n)) if files.len() == *n => Ok(()),
            (Ok(files), _) => Err(format!(
                "unpacked {} files: {:?}",
                files.len(),
                files.iter().map(|f| &f.0).collect::<Vec<_>>()
            )),
            (Err(e), Err(needles)) => {
                let msg = e.to_string();
                match needles.iter().find(|n| !msg.contains(**n)) {
                    Some(n) => Err(format!("the error does not name `{n}`: {msg}")),
                    None => Ok(()),
                }
            }
            (Err(e), Ok(_)) => Err(format!("refused: {e}")),
        },
    );
}

// --- HTTP responses for `kbrel sync` ---------------------------------------------------------

/// What the test server answers.
enum Reply {
    /// Bytes written verbatim (status line and headers included), then the connection closes.
    Raw(Vec<u8>),
    /// A 200 claiming 100 GB, then spaces until the client hangs up (at most 200 MiB).
    Endless,
    /// A file (404 when missing).
    File(PathBuf),
}

fn raw_200(content_type: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

fn ok_reply(content_type: &str, body: &[u8]) -> Reply {
    Reply::Raw(raw_200(content_type, body))
}

/// A std-only HTTP/1.1 server on 127.0.0.1, one connection at a time, stopped on drop.
struct Server {
    url: String,
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(answer: impl Fn(&str) -> Reply + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req).into_owned();
                let target = head.split(' ').nth(1).unwrap_or("/");
                let path = target.trim_start_matches('/').to_string();
                let _ = match answer(&path) {
                    Reply::Raw(bytes) => conn.write_all(&bytes),
                    Reply::File(p) => match fs::read(&p) {
                        Ok(b) => conn.write_all(&raw_200("application/octet-stream", &b)),
                        Err(_) => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                    },
                    Reply::Endless => {
                        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n";
                        let chunk = vec![b' '; 1 << 20];
                        let mut r = conn.write_all(head.as_bytes());
                        let mut sent = 0;
                        while r.is_ok() && sent < 200 << 20 {
                            r = conn.write_all(&chunk);
                            sent += chunk.len();
                        }
                        Ok(())
                    }
                };
                let _ = conn.flush();
            }
        });
        Server {
            url: format!("http://127.0.0.1:{port}/"),
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Answer = Arc<dyn Fn(&Path, &str) -> Reply + Send + Sync>;

/// Real registry files, except `index.json`.
fn index_only(reply: impl Fn() -> Reply + Send + Sync + 'static) -> Answer {
    Arc::new(move |reg: &Path, path: &str| {
        if path == "index.json" {
            reply()
        } else {
            Reply::File(reg.join(path))
        }
    })
}

/// `(name, answer, what the error must name)`
fn http_cases() -> Vec<(&'static str, Answer, &'static [&'static str])> {
    const NOT_JSON: &[&str] = &["index.json", "not valid JSON"];
    vec![
        (
            "garbage JSON index",
            index_only(|| ok_reply("application/json", b"{\"schema_version\": 1, oops")),
            NOT_JSON,
        ),
        (
            "HTML error page with 200",
            index_only(|| {
                ok_reply(
                    "text/html",
                    b"<!doctype html><title>502 Bad Gateway</title>",
                )
            }),
            NOT_JSON,
        ),
        (
            "empty 200",
            index_only(|| ok_reply("application/json", b"")),
            NOT_JSON,
        ),
        (
            "huge index",
            index_only(|| Reply::Endless),
            &["index.json", "larger than"],
        ),
        (
            "deeply nested index",
            index_only(|| {
                ok_reply(
                    "application/json",
                    format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)).as_bytes(),
                )
            }),
            &["index.json", "recursion limit"],
        ),
        (
            "newer schema",
            index_only(|| ok_reply("application/json", b"{\"schema_version\": 99}")),
            &["index.json", "newer"],
        ),
        (
            "index with a ../ path",
            Arc::new(|reg: &Path, path: &str| {
                if path != "index.json" {
                    return Reply::File(reg.join(path));
                }
                let mut i = read_json(&reg.join("index.json"));
                i["versions"][0]["manifest"]["path"] = "../../../../tmp/evil.json".into();
                ok_reply("application/json", &kbrel::manifest::to_json_bytes(&i))
            }),
            &["index.json", "unsafe path `../../../../tmp/evil.json`"],
        ),
        (
            "HTML instead of the manifest",
            Arc::new(|reg: &Path, path: &str| {
                if path.ends_with("manifest.json") {
                    ok_reply("text/html", b"<html>login required</html>")
                } else {
                    Reply::File(reg.join(path))
                }
            }),
            &["v/1.1.0/manifest.json"],
        ),
        (
            "gzip encoding that is not gzip",
            index_only(|| {
                let body = b"definitely not gzip";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                Reply::Raw([head.as_bytes(), body].concat())
            }),
            &["index.json"],
        ),
        (
            "redirect loop",
            index_only(|| {
                Reply::Raw(b"HTTP/1.1 302 Found\r\nLocation: /index.json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec())
            }),
            &["index.json"],
        ),
        (
            "not HTTP at all",
            index_only(|| Reply::Raw(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec())),
            &["index.json"],
        ),
        (
            "chunked garbage",
            index_only(|| {
                Reply::Raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec())
            }),
            &["index.json"],
        ),
    ]
}

#[test]
fn lying_http_servers_leave_the_cache_without_documents() {
    let base = Base::new(&["1.0.0", "1.1.0"]);
    let cases = http_cases();
    run_cases(
        "HTTP",
        &cases,
        |c| c.0.to_string(),
        |(_, answer, needles)| {
            let (tmp, case) = base.case();
            let reg = case.registry();
            let answer = answer.clone();
            let server = Server::start(move |path| answer(&reg, path));
            let cache = tmp.path().join("cache");
            let before = snapshot(&case.dir);
            let run = case.run(
                &[
                    "sync",
                    "--from",
                    &server.url,
                    "--into",
                    cache.to_str().unwrap(),
                ],
                &[],
            );
            drop(server);
            run.check(2, needles)?;
            for lang in ["en", "zh"] {
                if cache.join(lang).exists() {
                    return Err(format!("the cache shows `{lang}/` after a refused sync"));
                }
            }
            same(
                &before,
                &snapshot(&case.dir),
                "the knowledge base and registry",
            )
        },
    );
}

// --- fuzz regressions -----------------------------------------------------------------------

/// Inputs found by the fuzz targets (`fuzz/fuzz_targets/*.rs`), fed through the same checks.
#[test]
fn fuzz_regressions_still_pass() {
    let dir = corpus().join("fuzz-regressions");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for target in fs::read_dir(&dir).unwrap().flatten() {
        for f in fs::read_dir(target.path()).unwrap().flatten() {
            let name = format!(
                "{}/{}",
                target.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            cases.push((name, fs::read(f.path()).unwrap()));
        }
    }
    cases.sort();
    assert!(!cases.is_empty(), "no inputs in {}", dir.display());
    run_cases(
        "fuzz regression",
        &cases,
        |c| c.0.clone(),
        |(name, data)| {
            match name.split('/').next().unwrap_or("") {
                "front_matter" => fuzz_checks::front_matter(data),
                "registry_json" => fuzz_checks::registry_json(data),
                "unpack" => fuzz_checks::unpack(data),
                "word_diff" => fuzz_checks::word_diff(data),
                "bundle_keys" => fuzz_checks::bundle_keys(data),
                "registry_tree" => fuzz_checks::registry_tree(data),
                "deflate_tokens" => fuzz_checks::deflate_tokens(data),
                other => return Err(format!("unknown fuzz target folder `{other}`")),
            }
            Ok(())
        },
    );
}
