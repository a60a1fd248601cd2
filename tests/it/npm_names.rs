//! npm's package-name rules (issue #21, class 6): `kbrel::npm::validate_package_name` agrees
//! with validate-npm-package-name 8.0.0 itself (`validForNewPackages`), run in Node on the
//! same names: the package's own edge cases (scopes, builtins, excluded names, URL-unfriendly
//! and special characters, length) and a few thousand generated names. The package is
//! installed by `.ci/run` into `target/test-tools/validate-npm-package-name`; without it (or
//! without node) the test fails under `CI=true` and is skipped otherwise.

use std::io::Write;

/// The cases of validate-npm-package-name's own test file, `test/index.js` of
/// <https://github.com/npm/validate-npm-package-name> (ISC licence, © npm, Inc.), as stored at
/// commit 882d6de (the only version of that file the session's source archive holds): each name
/// with `validForNewPackages` as that file expects it and as version 8.0.0 answers. They
/// differ for the three `download` names only: a rule of that era (names matching
/// `/(^|\W)download($|\W)/`) that later versions dropped. kbrel follows 8.0.0.
const UPSTREAM_CASES: &[(&str, bool, bool)] = &[
    // Traditional
    ("some-package", true, true),
    ("example.com", true, true),
    ("under_score", true, true),
    ("period.js", true, true),
    ("123numeric", true, true),
    ("crazy!", false, false),
    // Scoped (npm 2+)
    ("@npm/thingy", true, true),
    ("@npm-zors/money!time.js", false, false),
    // Invalid
    ("", false, false),
    (".start-with-period", false, false),
    ("_start-with-underscore", false, false),
    ("contain:colons", false, false),
    (" leading-space", false, false),
    ("trailing-space ", false, false),
    ("s/l/a/s/h/e/s", false, false),
    ("node_modules", false, false),
    ("favicon.ico", false, false),
    ("download-file-async", false, true),
    ("forbid-download-everywhere", false, true),
    ("forbid-download", false, true),
    ("node-downloader-helper", true, true),
    // Node/IO Core
    ("http", false, false),
    // Long Package Names
    (
        "ifyouwanttogetthesumoftwonumberswherethosetwonumbersarechosenbyfindingthelargestoftwooutofthreenumbersandsquaringthemwhichismultiplyingthembyitselfthenyoushouldinputthreenumbersintothisfunctionanditwilldothatforyou-",
        false,
        false,
    ),
    (
        "ifyouwanttogetthesumoftwonumberswherethosetwonumbersarechosenbyfindingthelargestoftwooutofthreenumbersandsquaringthemwhichismultiplyingthembyitselfthenyoushouldinputthreenumbersintothisfunctionanditwilldothatforyou",
        true,
        true,
    ),
    // Legacy Mixed-Case
    ("CAPITAL-LETTERS", false, false),
];

/// kbrel's rules give 8.0.0's answer on every case of the upstream test file (no Node needed).
#[test]
fn upstream_test_cases_as_a_table() {
    let mut wrong = Vec::new();
    for &(name, _, expected) in UPSTREAM_CASES {
        let ours = kbrel::npm::validate_package_name(name);
        if ours.is_ok() != expected {
            wrong.push(format!("{name:?}: expected {expected}, kbrel {ours:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The table is the upstream file's: its changed expectations are exactly the dropped rule.
    let changed: Vec<&str> = UPSTREAM_CASES
        .iter()
        .filter(|(_, then, now)| then != now)
        .map(|(n, ..)| *n)
        .collect();
    assert!(
        changed.iter().all(|n| n.contains("download")),
        "{changed:?}"
    );
}

/// The same table, answered by validate-npm-package-name 8.0.0 itself in Node: the expected
/// column is npm's, not ours.
#[test]
fn upstream_test_cases_agree_with_validate_npm_package_name_in_node() {
    let Some(module) = module_or_skip() else {
        return;
    };
    let names: Vec<&str> = UPSTREAM_CASES.iter().map(|(n, ..)| *n).collect();
    let npm = run_validate(&module, &names);
    for ((name, _, expected), (valid_new, _)) in UPSTREAM_CASES.iter().zip(npm) {
        assert_eq!(valid_new, *expected, "{name:?}");
    }
}

/// The installed module, or `None` (a skip) without it or node; under `CI=true` a failure.
fn module_or_skip() -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let module = package_dir().join("node_modules/validate-npm-package-name");
    let node_ok = Command::new("node").arg("--version").output().is_ok();
    if !module.exists() || !node_ok {
        assert!(
            !ci,
            "validate-npm-package-name 8.0.0 (in {}) and node are required under CI=true (.ci/run installs them)",
            module.display()
        );
        eprintln!("skipped: validate-npm-package-name or node missing");
        return None;
    }
    Some(module)
}

/// `(validForNewPackages, validForOldPackages)` of each name, from the module in Node.
fn run_validate<S: serde::Serialize>(module: &std::path::Path, names: &[S]) -> Vec<(bool, bool)> {
    let script = format!(
        "const v = require({:?}); let s = ''; process.stdin.on('data', d => s += d); \
         process.stdin.on('end', () => console.log(JSON.stringify(JSON.parse(s).map(n => {{ const r = v(n); return [r.validForNewPackages, r.validForOldPackages]; }}))));",
        module.display().to_string()
    );
    let mut child = Command::new("node")
        .args(["-e", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(names).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let npm: Vec<(bool, bool)> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(npm.len(), names.len());
    npm
}
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/validate-npm-package-name")
}

/// The cases validate-npm-package-name's own test file checks, and more edges.
const CASES: &[&str] = &[
    "some-package",
    "example.com",
    "under_score",
    "period.js",
    "123numeric",
    "crazy!",
    "@npm/thingy",
    "@npm-zors/money!time.js",
    "",
    ".start-with-period",
    "-start-with-hyphen",
    "_start-with-underscore",
    "contain:colons",
    " leading-space",
    "trailing-space ",
    "s/l/a/s/h/e/s",
    "node_modules",
    "favicon.ico",
    "http",
    "process",
    "assert/strict",
    "node:test",
    "ifyouwanttogetthesumoftwonumberswherethosetwonumbersarechosenbyfindingthelargestoftwooutofthreenumbersandsquaringthemwhichismultiplyingthembyitselfthenyoushouldinputthreenumbersintothisfunctionanditwilldothatforyou-",
    "ifyouwanttogetthesumoftwonumberswherethosetwonumbersarechosenbyfindingthelargestoftwooutofthreenumbersandsquaringthemwhichismultiplyingthembyitselfthenyoushouldinputthreenumbersintothisfunctionanditwilldothatforyou",
    "CAPITAL-LETTERS",
    "@scope/.dot",
    "@scope/_under",
    "@scope/-hyphen",
    "@/empty-scope",
    "@scope/",
    "@scope",
    "@scope/a/b",
    "@Scope/x",
    "@sc!ope/x",
    "@scope/x!",
    "a~b",
    "a'b",
    "a(b)",
    "a*b",
    "café",
    "a b",
    "a%20b",
    "a\tb",
    "a\u{7f}b",
    "v",
    "blobs",
    "ok-name",
    "x.tgz",
    "NODE_MODULES",
    "Favicon.ico",
    "HTTP",
    "@kbrel/guide",
];

fn generated() -> Vec<String> {
    // A small deterministic generator over an alphabet of every interesting character.
    let alphabet: Vec<char> = "ab-._~'!()*@/ A:%é0".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..3000)
        .map(|_| {
            let len = 1 + (next() % 8) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
        .collect()
}

#[test]
fn package_names_follow_validate_npm_package_name() {
    let Some(module) = module_or_skip() else {
        return;
    };
    let mut names: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    names.extend(generated());
    let npm: Vec<bool> = run_validate(&module, &names)
        .into_iter()
        .map(|(new, _)| new)
        .collect();
    let layout = |n: &str| {
        matches!(n, "v" | "blobs" | "index.json" | "index.json.sig") || n.ends_with(".tgz")
    };
    let mut disagree = Vec::new();
    let mut valid = 0;
    for (name, npm_ok) in names.iter().zip(npm) {
        let ours = kbrel::npm::validate_package_name(name);
        valid += usize::from(ours.is_ok());
        // kbrel refuses a few more (names of its own registry files), never fewer.
        let expected = npm_ok && !layout(name);
        if ours.is_ok() != expected {
            disagree.push(format!("{name:?}: npm {npm_ok}, kbrel {ours:?}"));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} disagreements:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
    assert!(
        valid > 50,
        "the generated names exercise valid names too ({valid})"
    );
}
