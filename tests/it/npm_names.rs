//! npm's package-name rules (issue #21, class 6): `kbrel::npm::validate_package_name` agrees
//! with validate-npm-package-name 8.0.0 itself (`validForNewPackages`), run in Node on the
//! same names: the package's own edge cases (scopes, builtins, excluded names, URL-unfriendly
//! and special characters, length) and a few thousand generated names. The package is
//! installed by `.ci/run` into `target/test-tools/validate-npm-package-name`; without it (or
//! without node) the test fails under `CI=true` and is skipped otherwise.

use std::io::Write;
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
        return;
    }
    let mut names: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    names.extend(generated());
    let script = format!(
        "const v = require({:?}); let s = ''; process.stdin.on('data', d => s += d); \
         process.stdin.on('end', () => console.log(JSON.stringify(JSON.parse(s).map(n => v(n).validForNewPackages))));",
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
        .write_all(&serde_json::to_vec(&names).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let npm: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(npm.len(), names.len());
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
