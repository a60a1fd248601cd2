//! Bundle keys end to end, through the real binary: many-to-one key maps from every source,
//! keys read at the revision of the documents (`import` of a history whose bundler entry
//! modules changed), the bundles as Node sees them (`__proto__` and aliases as own
//! properties, ESM and the IIFE in a bare `vm` context), the key rules (KB020–KB022), the IIFE
//! global-name check, and every bad key source refused with its file and line, nothing written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::npm::NpmProject;
use crate::common::serve::Serve;
use crate::common::tools::{
    missing, node, node_module, require_node, require_node_npm, require_tool, tsc_strict,
};
use crate::common::{CheckJson, DATE, KeysJson, Run, extract_tgz, read_as};
use kbrel::compat::CompatReport;
use kbrel::manifest::Manifest;

use serde_json::Value;
use tempfile::TempDir;

/// A `git` command with no user or system configuration and a fixed identity and date.
fn git(dir: &Path, epoch: i64, args: &[&str]) {
    let date = format!("{epoch} +0000");
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    let run = Run::from_output_lossy(out);
    assert_eq!(run.code, 0, "git {args:?}\n{run}");
}

/// A knowledge base in `<tmp>/kb` (content under `docs/`, registry and changelog outside).
struct Fx {
    tmp: TempDir,
}

impl Fx {
    fn new(extra_config: &str) -> Fx {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-keys-")
            .tempdir()
            .expect("tempdir");
        let fx = Fx { tmp };
        fx.write(
            "kbrel.toml",
            &format!(
                r#"[package]
name = "acme-docs"
description = "keys test"
license = "MIT"

[content]
root = "docs"
languages = ["en", "zh"]
pairing = "front-matter:id"
required_fields = ["title"]
{extra_config}
[registry]
dir = "../registry"

[changelog]
path = "../CHANGELOG.md"
"#
            ),
        );
        fx
    }

    fn kb(&self) -> PathBuf {
        self.tmp.path().join("kb")
    }

    fn registry(&self) -> PathBuf {
        self.tmp.path().join("registry")
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.kb().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn doc(&self, lang: &str, path: &str, id: &str, body: &str) {
        self.write(
            &format!("docs/{lang}/{path}"),
            &format!("---\ntitle: {id} {lang}\nid: {id}\n---\n\n{body}\n"),
        );
    }

    fn kbrel(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_kbrel"))
            .current_dir(self.kb())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("run kbrel");
        Run::from_output_lossy(out)
    }

    fn publish(&self, version: &str) -> Run {
        self.kbrel(&["publish", version, "--date", DATE])
    }

    fn manifest(&self, version: &str) -> Manifest {
        read_as(&self.registry().join(format!("v/{version}/manifest.json")))
    }

    /// The manifest of `version` as written (to see which fields are left out).
    fn manifest_text(&self, version: &str) -> String {
        fs::read_to_string(self.registry().join(format!("v/{version}/manifest.json"))).unwrap()
    }

    /// Unpack the release's tarball into `<tmp>/unpacked-<version>/package`.
    fn unpack(&self, version: &str) -> PathBuf {
        let tgz = fs::read(self.registry().join(format!("acme-docs-{version}.tgz"))).unwrap();
        let dest = self.tmp.path().join(format!("unpacked-{version}"));
        extract_tgz(&tgz, &dest);
        dest.join("package")
    }

    /// Every file below the folder holding kb/ and the registry, with its bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.tmp.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.insert(p.display().to_string(), fs::read(&p).unwrap());
                }
            }
        }
        out
    }
}

/// (lang, path) → (key, aliases) of a manifest.
fn keys_of(manifest: &Manifest) -> BTreeMap<(String, String), (String, Vec<String>)> {
    manifest
        .documents
        .iter()
        .map(|d| {
            (
                (d.lang.clone(), d.path.clone()),
                (d.key.clone(), d.aliases.clone()),
            )
        })
        .collect()
}

fn entry(
    lang: &str,
    path: &str,
    key: &str,
    aliases: &[&str],
) -> ((String, String), (String, Vec<String>)) {
    (
        (lang.to_string(), path.to_string()),
        (
            key.to_string(),
            aliases.iter().map(|a| a.to_string()).collect(),
        ),
    )
}

/// The old pipeline, over three tags: an alias key, both quote styles, a rename in one
/// language, an alias dropped later. `import` must rebuild each tag with the keys its own
/// entry modules declared, not today's.
#[test]
fn import_rebuilds_every_tag_with_the_keys_of_its_entry_modules() {
    let fx = Fx::new("keys_from = [\"src/{lang}.ts\"]\n");
    let kb = fx.kb();
    git(&kb, 1_704_067_200, &["init", "-q", "-b", "main"]);
    fx.doc("en", "integrations/8.3 Slack.md", "slack", "Connect Slack.");
    fx.doc("zh", "integrations/8.3 Slack.md", "slack", "连接 Slack。");
    fx.doc("en", "lark.md", "lark", "Connect Lark.");
    fx.doc("zh", "lark.md", "lark", "连接飞书。");
    fx.doc("en", "unkeyed.md", "unkeyed", "No key.");
    fx.doc("zh", "unkeyed.md", "unkeyed", "没有键。");
    fx.write(
        "src/en.ts",
        "// entry module (vite)\nimport Slack from \"../docs/en/integrations/8.3 Slack.md?raw\";\nimport Lark from '../docs/en/lark.md?raw';\n\nexport default {\n  Slack,\n  OldSlack: Slack,\n  Lark,\n};\n",
    );
    fx.write(
        "src/zh.ts",
        "import Slack from '../docs/zh/integrations/8.3 Slack.md?raw'\nimport Lark from \"../docs/zh/lark.md?raw\"\nexport default { Slack, OldSlack: Slack, Lark }\n",
    );
    git(&kb, 1_704_067_200, &["add", "-A"]);
    git(&kb, 1_704_067_200, &["commit", "-q", "-m", "one"]);
    git(&kb, 1_704_067_200, &["tag", "v1.0.0"]);

    // 1.1.0: the zh file is renamed; its entry module follows.
    git(
        &kb,
        1_704_153_600,
        &[
            "mv",
            "docs/zh/integrations/8.3 Slack.md",
            "docs/zh/integrations/slack.md",
        ],
    );
    fx.write(
        "src/zh.ts",
        "import Slack from '../docs/zh/integrations/slack.md?raw'\nimport Lark from \"../docs/zh/lark.md?raw\"\nexport default { Slack, OldSlack: Slack, Lark }\n",
    );
    git(&kb, 1_704_153_600, &["add", "-A"]);
    git(&kb, 1_704_153_600, &["commit", "-q", "-m", "two"]);
    git(&kb, 1_704_153_600, &["tag", "v1.1.0"]);

    // 1.2.0: the alias is dropped in both languages.
    fx.write(
        "src/en.ts",
        "import Slack from \"../docs/en/integrations/8.3 Slack.md?raw\";\nimport Lark from '../docs/en/lark.md?raw';\nexport default { Slack, Lark };\n",
    );
    fx.write(
        "src/zh.ts",
        "import Slack from '../docs/zh/integrations/slack.md?raw'\nimport Lark from \"../docs/zh/lark.md?raw\"\nexport default { Slack, Lark }\n",
    );
    git(&kb, 1_704_240_000, &["add", "-A"]);
    git(&kb, 1_704_240_000, &["commit", "-q", "-m", "three"]);
    git(&kb, 1_704_240_000, &["tag", "v1.2.0"]);

    // The working tree's keys say nothing of the history: a key map read from it would give
    // 1.0.0 no key for zh's old file name.
    let run = fx.kbrel(&["import", "--from-git"]);
    assert_eq!(run.code, 0, "{run}");

    let v100 = keys_of(&fx.manifest("1.0.0"));
    let expected: BTreeMap<_, _> = [
        entry("en", "integrations/8.3 Slack.md", "Slack", &["OldSlack"]),
        entry("en", "lark.md", "Lark", &[]),
        entry("en", "unkeyed.md", "unkeyed", &[]),
        entry("zh", "integrations/8.3 Slack.md", "Slack", &["OldSlack"]),
        entry("zh", "lark.md", "Lark", &[]),
        entry("zh", "unkeyed.md", "unkeyed", &[]),
    ]
    .into_iter()
    .collect();
    assert_eq!(v100, expected);
    let v110 = keys_of(&fx.manifest("1.1.0"));
    assert_eq!(
        v110[&("zh".to_string(), "integrations/slack.md".to_string())],
        ("Slack".to_string(), vec!["OldSlack".to_string()])
    );
    let v120 = keys_of(&fx.manifest("1.2.0"));
    assert_eq!(
        v120[&("en".to_string(), "integrations/8.3 Slack.md".to_string())],
        ("Slack".to_string(), vec![])
    );
    assert_eq!(
        v120[&("zh".to_string(), "integrations/slack.md".to_string())],
        ("Slack".to_string(), vec![])
    );

    // Each tarball's bundles hold exactly those keys.
    for (version, zh_keys) in [
        ("1.0.0", vec!["Lark", "OldSlack", "Slack", "unkeyed"]),
        ("1.2.0", vec!["Lark", "Slack", "unkeyed"]),
    ] {
        let pkg = fx.unpack(version);
        let esm = fs::read_to_string(pkg.join("dist/esm/zh.js")).unwrap();
        for k in &zh_keys {
            assert!(
                esm.contains(&format!("\"{k}\"")),
                "{version}: {k} in\n{esm}"
            );
        }
        assert_eq!(
            esm.contains("OldSlack"),
            zh_keys.contains(&"OldSlack"),
            "{version}"
        );
    }

    // `kbrel keys` at a tag: where each key comes from.
    let run = fx.kbrel(&["--from-git", "v1.0.0", "keys", "--json", "--lang", "zh"]);
    assert_eq!(run.code, 0, "{run}");
    let keys: KeysJson = run.parse();
    assert_eq!(keys.schema_version, kbrel::manifest::SCHEMA_VERSION);
    let old = keys
        .keys
        .iter()
        .find(|k| k.key == "OldSlack")
        .expect("OldSlack at v1.0.0");
    assert_eq!(old.path, "integrations/8.3 Slack.md");
    assert_eq!(old.source.as_deref(), Some("src/zh.ts"));
    assert_eq!(old.line, 3);
    assert!(!old.primary);
    assert_eq!(old.origin, "key-source");
    let unkeyed = keys.keys.iter().find(|k| k.key == "unkeyed").unwrap();
    assert_eq!(unkeyed.origin, "id");
    // Today's keys have no alias.
    let run = fx.kbrel(&["keys"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.stdout.contains("OldSlack"), "{}", run.stdout);
    assert!(run.stdout.contains("src/en.ts:3"), "{}", run.stdout);
}

/// A knowledge base whose keys are hostile: `__proto__` (as a key-map key and an alias), a
/// key that is not an identifier, `constructor`, and an alias.
fn hostile_keys_fx(documents: &str) -> Fx {
    let fx = Fx::new(&format!(
        "keys_file = \"keys.json\"\n\n[bundle]\ndocuments = \"{documents}\"\n"
    ));
    for lang in ["en", "zh"] {
        fx.doc(lang, "a.md", "a", &format!("A {lang} `a < b` \u{2028}"));
        fx.doc(lang, "b.md", "b", &format!("B {lang}"));
        fx.doc(lang, "c.md", "c", &format!("C {lang}"));
        fx.doc(lang, "plain.md", "plain", &format!("Plain {lang}"));
    }
    fx.write(
        "keys.json",
        r#"{
  "en": {
    "__proto__": "a.md",
    "toString": "a.md",
    "b-key": "b.md",
    "constructor": "c.md"
  },
  "zh": {
    "__proto__": "a.md",
    "toString": "a.md",
    "b-key": "b.md",
    "constructor": "c.md"
  }
}
"#,
    );
    fx
}

#[test]
fn proto_and_alias_keys_are_own_properties_in_esm_and_in_a_bare_vm_iife() {
    let fx = hostile_keys_fx("all");
    let run = fx.publish("1.0.0");
    assert_eq!(run.code, 0, "{run}");
    // KB022: `b-key` cannot be written `docs.b-key`; a warning recorded in the manifest.
    let m = fx.manifest("1.0.0");
    let warnings = &m.warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.code.as_str() == "KB022" && w.file == "keys.json" && w.line == 5),
        "{warnings:?}"
    );
    let docs = keys_of(&m);
    assert_eq!(
        docs[&("en".to_string(), "a.md".to_string())],
        ("__proto__".to_string(), vec!["toString".to_string()]),
        "the first declared key is the primary one"
    );
    if require_node().is_none() {
        return;
    }
    let pkg = fx.unpack("1.0.0");
    for lang in ["en", "zh"] {
        let script = format!(
            r#"
import fs from 'node:fs';
import vm from 'node:vm';
import assert from 'node:assert';
import esm from {esm};
const ctx = vm.createContext({{}});
vm.runInContext(fs.readFileSync({iife}, 'utf8'), ctx);
const g = vm.runInContext('globalThis.AcmeDocs{Lang}', ctx);
for (const d of [esm, g]) {{
  assert.equal(Object.getPrototypeOf(d) === null, false);
  assert.ok(Object.prototype.hasOwnProperty.call(d, '__proto__'), 'own __proto__');
  assert.equal(typeof Object.getPrototypeOf(d).hasOwnProperty, 'function', 'prototype intact');
  assert.equal(d.toString, d['__proto__'], 'alias shares the value');
  assert.ok(Object.keys(d).includes('toString'), 'alias enumerable');
}}
console.log(JSON.stringify({{ esm: Object.fromEntries(Object.entries(esm)), iife: Object.fromEntries(Object.entries(g)), globals: Object.keys(ctx) }}));
"#,
            esm = serde_json::to_string(pkg.join(format!("dist/esm/{lang}.js")).to_str().unwrap())
                .unwrap(),
            iife =
                serde_json::to_string(pkg.join(format!("dist/iife/{lang}.js")).to_str().unwrap())
                    .unwrap(),
            Lang = if lang == "en" { "En" } else { "Zh" },
        );
        let run = node_module(&fx.kb(), &script);
        assert_eq!(run.code, 0, "{lang}: {run}");
        let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(v["esm"], v["iife"]);
        let mut keys: Vec<&str> = v["esm"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["__proto__", "b-key", "constructor", "plain", "toString"]
        );
        assert_eq!(
            v["esm"]["__proto__"].as_str().unwrap(),
            fs::read_to_string(pkg.join(format!("docs/{lang}/a.md"))).unwrap()
        );
        assert_eq!(
            v["globals"],
            serde_json::json!([format!(
                "AcmeDocs{}",
                if lang == "en" { "En" } else { "Zh" }
            )])
        );
    }
}

#[test]
fn keyed_bundles_leave_unkeyed_documents_in_docs_and_the_manifest() {
    let fx = hostile_keys_fx("keyed");
    let run = fx.publish("1.0.0");
    assert_eq!(run.code, 0, "{run}");
    let m = fx.manifest("1.0.0");
    let plain = m
        .documents
        .iter()
        .find(|d| d.lang == "en" && d.path == "plain.md")
        .unwrap();
    assert!(!plain.bundled);
    let a = m
        .documents
        .iter()
        .find(|d| d.lang == "en" && d.path == "a.md")
        .unwrap();
    assert!(a.bundled);
    // Bundled documents carry no flag: the manifest has one `bundled` per unbundled document.
    let text = fx.manifest_text("1.0.0");
    let unbundled = m.documents.iter().filter(|d| !d.bundled).count();
    assert_eq!(text.matches("\"bundled\"").count(), unbundled, "{text}");
    let pkg = fx.unpack("1.0.0");
    let esm = fs::read_to_string(pkg.join("dist/esm/en.js")).unwrap();
    assert!(!esm.contains("Plain en"), "{esm}");
    assert!(esm.contains("\"b-key\""));
    assert_eq!(
        fs::read_to_string(pkg.join("docs/en/plain.md")).unwrap(),
        "---\ntitle: plain en\nid: plain\n---\n\nPlain en\n"
    );
    // The same content bundled whole is another release (its digest records the choice).
    let all = hostile_keys_fx("all");
    all.publish("1.0.0");
    assert_ne!(m.content_digest, all.manifest("1.0.0").content_digest);
}

#[test]
fn key_rules_report_missing_documents_case_collisions_and_non_identifiers() {
    let fx = Fx::new("");
    for lang in ["en", "zh"] {
        fx.doc(lang, "a.md", "a", "A");
        fx.doc(lang, "b.md", "b", "B");
    }
    fx.write(
        "kbrel.toml",
        &fs::read_to_string(fx.kb().join("kbrel.toml"))
            .unwrap()
            .replace(
                "[registry]",
                "[content.keys.en]\nGone = \"gone.md\"\nSlack = \"a.md\"\nslack = \"b.md\"\n\"two words\" = \"b.md\"\n\n[registry]",
            ),
    );
    let run = fx.kbrel(&["check", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    let v: CheckJson = run.parse();
    let codes: Vec<(String, String, String)> = v
        .findings
        .iter()
        .map(|f| {
            (
                f.code.to_string(),
                serde_json::to_value(f.severity)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                f.message.clone(),
            )
        })
        .collect();
    let has = |code: &str, sev: &str, text: &str| {
        codes
            .iter()
            .any(|(c, s, m)| c == code && s == sev && m.contains(text))
    };
    assert!(
        has("KB020", "error", "`Gone` names `en/gone.md`"),
        "{codes:?}"
    );
    assert!(
        has(
            "KB021",
            "warning",
            "key `Slack` (en) differs only in case from `slack`"
        ),
        "{codes:?}"
    );
    assert!(has("KB021", "warning", "key `slack` (en)"), "{codes:?}");
    assert!(has("KB022", "warning", "`two words`"), "{codes:?}");
    // KB020 blocks publish: the bundle would lack the key.
    let run = fx.publish("1.0.0");
    assert_eq!(run.code, 2, "{run}");
    assert!(!fx.registry().exists());
}

#[test]
fn an_alias_that_is_another_documents_key_is_kb004() {
    let fx = Fx::new("[content.keys.en]\nA = \"a.md\"\nB = \"a.md\"\n");
    for lang in ["en", "zh"] {
        fx.doc(lang, "a.md", "a", "A");
        fx.doc(lang, "b.md", "b", "B");
    }
    // b.md's key is its id `b`; give it `B` in front matter: the alias B of a.md collides.
    fx.write("docs/en/b.md", "---\ntitle: b\nid: b\nkey: B\n---\n\nB\n");
    let run = fx.kbrel(&["check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("KB004"), "{run}");
    assert!(run.stdout.contains("bundle key `B`"), "{run}");
}

/// Every bad key source and global name: exit 2, a message naming the file (and key and
/// line where there is one), nothing written anywhere.
#[test]
fn bad_key_sources_and_globals_are_refused_before_anything_is_written() {
    /// (kbrel.toml additions, files to write, what stderr must say)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "keys_from = [\"src/{lang}.ts\"]\n",
            vec![
                (
                    "src/en.ts",
                    "import A from './../docs/en/a.md?raw'\nconst B = import('../docs/en/b.md')\n",
                ),
                ("src/zh.ts", "import A from '../docs/zh/a.md?raw'\n"),
            ],
            vec!["src/en.ts", "line 2", "dynamic `import()`"],
        ),
        (
            "keys_from = [\"src/{lang}.ts\"]\n",
            vec![
                ("src/en.ts", "export * from './other.js'\n"),
                ("src/zh.ts", ""),
            ],
            vec!["src/en.ts", "line 1", "re-export"],
        ),
        (
            "keys_from = [\"src/{lang}.ts\"]\n",
            vec![
                ("src/en.ts", "import A /* x */ from '../docs/en/a.md?raw'\n"),
                ("src/zh.ts", ""),
            ],
            vec!["src/en.ts", "line 1", "comment between tokens"],
        ),
        (
            "keys_from = [\"src/{lang}.ts\"]\n",
            vec![
                (
                    "src/en.ts",
                    "\nimport Out from '../../elsewhere/a.md?raw'\n",
                ),
                ("src/zh.ts", ""),
            ],
            vec![
                "src/en.ts",
                "line 2",
                "key `Out`",
                "not below the `en` folder",
            ],
        ),
        (
            "keys_file = \"keys.json\"\n",
            vec![("keys.json", "[\"en\"]\n")],
            vec!["keys.json", "not an object"],
        ),
        (
            "keys_file = \"keys.json\"\n",
            vec![(
                "keys.json",
                "{\n  \"en\": {\n    \"Dir\": \"sub.md\"\n  }\n}\n",
            )],
            vec!["keys.json", "line 3", "key `Dir`", "folder"],
        ),
        (
            "keys_file = \"keys.json\"\n",
            vec![(
                "keys.json",
                "{\n  \"en\": {\n    \"Up\": \"../zh/a.md\"\n  }\n}\n",
            )],
            vec![
                "keys.json",
                "line 3",
                "key `Up`",
                "leaves the language folder",
            ],
        ),
        (
            "keys_file = \"keys.json\"\n[content.keys.en]\nA = \"b.md\"\n",
            vec![("keys.json", "{\"en\": {\"A\": \"a.md\"}}")],
            vec![
                "kbrel.toml",
                "key `A`",
                "`b.md` here but `a.md` in keys.json",
            ],
        ),
        (
            "[bundle]\nglobals = { en = \"class\" }\n",
            vec![],
            vec!["bundle.globals.en", "`class`", "reserved word"],
        ),
        (
            "[bundle]\nglobals = { en = \"globalThis\" }\n",
            vec![],
            vec!["bundle.globals.en", "`globalThis`", "existing global"],
        ),
        (
            "[bundle]\nglobals = { en = \"__proto__\" }\n",
            vec![],
            vec!["`__proto__`", "existing global"],
        ),
        (
            "[bundle]\nglobals = { en = \"Docs\", zh = \"Docs\" }\n",
            vec![],
            vec!["bundle.globals.zh", "`Docs`", "also the global of `en`"],
        ),
    ];
    for (config, files, needles) in cases {
        let fx = Fx::new(config);
        for lang in ["en", "zh"] {
            fx.doc(lang, "a.md", "a", "A");
            fx.doc(lang, "b.md", "b", "B");
            fx.doc(lang, "sub.md/inner.md", "inner", "I");
        }
        for (path, text) in &files {
            fx.write(path, text);
        }
        let before = fx.files();
        for args in [
            &["publish", "1.0.0", "--date", DATE][..],
            &["check"],
            &["keys"],
        ] {
            let run = fx.kbrel(args);
            assert_eq!(run.code, 2, "{config} {args:?}\n{run}");
            for n in &needles {
                assert!(
                    run.stderr.contains(n),
                    "{config} {args:?}: `{n}` in\n{}",
                    run.stderr
                );
            }
            assert!(!run.stderr.contains("panicked"), "{run}");
        }
        assert_eq!(fx.files(), before, "{config}: nothing written");
    }
}

/// A package like the one a team replaces: an alias, a `__proto__` key, entry modules.
fn consumer_fx() -> Fx {
    consumer_fx_with("")
}

/// [`consumer_fx`] with more configuration after `[content]` (e.g. a `[bundle]` table).
fn consumer_fx_with(extra: &str) -> Fx {
    let fx = Fx::new(&format!("keys_from = [\"src/{{lang}}.ts\"]\n{extra}"));
    for lang in ["en", "zh"] {
        fx.doc(
            lang,
            "integrations/8.3 Slack.md",
            "slack",
            &format!("Slack {lang}"),
        );
        fx.doc(lang, "lark.md", "lark", &format!("Lark {lang}"));
        fx.write(
            &format!("src/{lang}.ts"),
            &format!(
                "import Slack from \"../docs/{lang}/integrations/8.3 Slack.md?raw\";\nimport Lark from '../docs/{lang}/lark.md?raw';\nexport default {{ Slack, OldSlack: Slack, Lark, \"__proto__\": Lark }};\n"
            ),
        );
    }
    let run = fx.publish("1.0.0");
    assert_eq!(run.code, 0, "{run}");
    fx
}

/// `npm install` from `kbrel serve`; node imports the package by its short and its deep paths;
/// `tsc --strict` accepts a valid key and rejects a misspelled one, for the ESM default export
/// (both paths) and the IIFE global.
#[test]
fn npm_install_from_serve_then_node_imports_deep_paths_and_tsc_checks_keys() {
    if !require_node_npm() {
        return;
    }
    let tsc = crate::common::manifest_dir()
        .join("target/test-tools/typescript/node_modules/typescript/bin/tsc");
    let fx = consumer_fx();
    let serve = Serve::start(&fx.registry(), &[]);
    let project = NpmProject::new(&serve.url());
    project.npm(&["install", "acme-docs@1.0.0"]).success();
    let dir = project.dir();
    fs::write(
        dir.join("check.mjs"),
        r#"import assert from 'node:assert';
import fs from 'node:fs';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import short from 'acme-docs/en';
import deep from 'acme-docs/dist/esm/en.js';
import main from 'acme-docs';
import zh from 'acme-docs/zh';
assert.deepEqual(deep, short);
assert.strictEqual(main, short);
assert.equal(short.OldSlack, short.Slack);
assert.ok(Object.hasOwn(short, '__proto__'));
assert.equal(short['__proto__'], short.Lark);
const iife = fs.readFileSync(createRequire(import.meta.url).resolve('acme-docs/dist/iife/zh.js'), 'utf8');
const ctx = vm.createContext({});
vm.runInContext(iife, ctx);
assert.deepEqual(Object.keys(ctx), ['AcmeDocsZh']);
assert.deepEqual({ ...vm.runInContext('AcmeDocsZh', ctx) }, { ...zh });
console.log(JSON.stringify(Object.keys(short).sort()));
"#,
    )
    .unwrap();
    let run = node(&dir, &["check.mjs"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout.trim(),
        r#"["Lark","OldSlack","Slack","__proto__"]"#
    );

    if !tsc.exists() {
        missing(
            "typescript",
            "target/test-tools/typescript (the TypeScript step of .ci/run)",
        );
        return;
    }
    let tsc_run =
        |name: &str, files: &[&str], code: &str| tsc_strict(&tsc, &dir.join(name), files, code);
    let ok = tsc_run(
        "ok",
        &[],
        "import docs from 'acme-docs/en';\nimport deep from 'acme-docs/dist/esm/zh.js';\nconst a: string = docs.Slack;\nconst b: string = deep.OldSlack;\nconst c: string = docs['__proto__'];\nexport { a, b, c };\n",
    );
    assert_eq!(ok.code, 0, "valid keys compile\n{ok}");
    let typo = tsc_run(
        "typo",
        &[],
        "import docs from 'acme-docs/en';\nexport const a: string = docs.Slak;\n",
    );
    assert_ne!(typo.code, 0, "{typo}");
    assert!(
        typo.stdout.contains("Slak") && typo.stdout.contains("TS2339")
            || typo.stdout.contains("TS2551"),
        "{typo}"
    );
    let deep_typo = tsc_run(
        "deep-typo",
        &[],
        "import docs from 'acme-docs/dist/esm/en.js';\nexport const a: string = docs.OldSlak;\n",
    );
    assert_ne!(deep_typo.code, 0, "{deep_typo}");
    let global = "../node_modules/acme-docs/dist/iife/en.d.ts";
    let g_ok = tsc_run(
        "global",
        &[global],
        "export const a: string = AcmeDocsEn.Lark;\n",
    );
    assert_eq!(g_ok.code, 0, "{g_ok}");
    let g_typo = tsc_run(
        "global-typo",
        &[global],
        "export const a: string = AcmeDocsEn.Lrak;\n",
    );
    assert_ne!(g_typo.code, 0, "{g_typo}");
    assert!(g_typo.stdout.contains("Lrak"), "{g_typo}");
}

/// The IIFE bundle in a real browser: a `<script>` sets only its global, every key (alias and
/// `__proto__` included) is an own property, the prototype is intact; the ESM bundle imported
/// as a module agrees.
#[test]
fn iife_and_esm_bundles_in_headless_chromium() {
    if require_node().is_none() {
        return;
    }
    let chromium = PathBuf::from("/usr/bin/chromium");
    let pw = crate::common::manifest_dir().join("target/test-tools/playwright");
    if !chromium.exists() {
        missing("Debian chromium", "/usr/bin/chromium does not exist");
        return;
    }
    if !pw
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing("playwright-core", "target/test-tools/playwright (.ci/run)");
        return;
    }
    let fx = consumer_fx();
    let pkg = fx.unpack("1.0.0");
    let profile = tempfile::tempdir().unwrap();
    let script = r#"
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(path.join(process.env.PLAYWRIGHT_DIR, 'package.json'));
const { chromium } = require('playwright-core');
const pkg = process.env.PKG;
const ctx = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
  executablePath: process.env.CHROMIUM, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = await ctx.newPage();
  await page.setContent('<!doctype html><title>t</title>');
  const before = await page.evaluate(() => Object.getOwnPropertyNames(window).length);
  await page.addScriptTag({ content: fs.readFileSync(path.join(pkg, 'dist/iife/en.js'), 'utf8') });
  const esmSource = fs.readFileSync(path.join(pkg, 'dist/esm/en.js'), 'utf8');
  const r = await page.evaluate(async (src) => {
    const d = window.AcmeDocsEn;
    const esm = (await import('data:text/javascript;charset=utf-8,' + encodeURIComponent(src))).default;
    return {
      keys: Object.keys(d).sort(),
      own: Object.prototype.hasOwnProperty.call(d, '__proto__'),
      protoIntact: Object.getPrototypeOf(d) === Object.prototype,
      alias: d.OldSlack === d.Slack,
      same: JSON.stringify(Object.entries(d).sort()) === JSON.stringify(Object.entries(esm).sort()),
      count: Object.getOwnPropertyNames(window).length,
    };
  }, esmSource);
  assert.deepEqual(r.keys, ['Lark', 'OldSlack', 'Slack', '__proto__']);
  assert.ok(r.own && r.protoIntact && r.alias && r.same, JSON.stringify(r));
  assert.equal(r.count, before + 1, 'one global added');
  console.log('chromium: ok');
} finally {
  await ctx.close();
}
"#;
    let file = fx.tmp.path().join("chromium.mjs");
    fs::write(&file, script).unwrap();
    let out = Command::new("node")
        .arg(&file)
        .env("PLAYWRIGHT_DIR", &pw)
        .env("CHROMIUM", &chromium)
        .env("USER_DATA_DIR", profile.path())
        .env("PKG", &pkg)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let run = Run::from_output_lossy(out);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("chromium: ok"), "{run}");
}

/// `kbrel pack --list` lists the tarball's files; `--out` writes exactly them, whole, into a
/// new or empty folder, and refuses a folder that is not empty; npm packs the written folder
/// with the same files.
#[test]
fn pack_lists_and_writes_the_release_files() {
    let fx = consumer_fx();
    let tgz = fs::read(fx.registry().join("acme-docs-1.0.0.tgz")).unwrap();
    let entries: Vec<(String, Vec<u8>)> = crate::common::tar_entries(&tgz)
        .into_iter()
        .map(|(p, _, b)| (p.strip_prefix("package/").unwrap().to_string(), b))
        .collect();
    let run = fx.kbrel(&["pack", "1.0.0", "--list", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let report: kbrel::pack::PackReport = run.parse();
    let listed: Vec<(String, u64)> = report
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();
    let expected: Vec<(String, u64)> = entries
        .iter()
        .map(|(p, b)| (p.clone(), b.len() as u64))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(report.entry_count, entries.len());
    assert_eq!(report.size, tgz.len() as u64);
    assert!(listed.iter().any(|(p, _)| p == "dist/esm/en.d.ts"));
    let human = fx.kbrel(&["pack", "latest"]);
    assert_eq!(human.code, 0, "{human}");
    assert!(human.stdout.contains("  dist/iife/zh.js\n"), "{human}");

    let out = fx.tmp.path().join("cdn/acme-docs-1.0.0");
    let run = fx.kbrel(&["pack", "v1.0.0", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run}");
    let mut written = BTreeMap::new();
    let mut stack = vec![out.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&out).unwrap().to_str().unwrap().to_string();
                written.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let expected: BTreeMap<String, Vec<u8>> = entries.into_iter().collect();
    assert_eq!(written, expected);
    let leftovers: Vec<_> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no staging folder left: {leftovers:?}");

    // A folder that is not empty, a file, an unknown version: exit 2, nothing changed.
    let before = fx.files();
    let file = fx.tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let before_with_file = fx.files();
    for (args, needle) in [
        (
            vec!["pack", "1.0.0", "--out", out.to_str().unwrap()],
            "exists and is not empty",
        ),
        (
            vec!["pack", "1.0.0", "--out", file.to_str().unwrap()],
            "is not a folder",
        ),
        (
            vec![
                "pack",
                "9.9.9",
                "--out",
                fx.tmp.path().join("new").to_str().unwrap(),
            ],
            "9.9.9",
        ),
    ] {
        let run = fx.kbrel(&args);
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert!(run.stderr.contains(needle), "{args:?}: {run}");
        assert_eq!(fx.files(), before_with_file, "{args:?}");
    }
    assert!(!fx.tmp.path().join("new").exists());
    fs::remove_file(&file).unwrap();
    assert_eq!(fx.files(), before);

    // npm packs the written folder with the same files.
    if require_tool("npm", "--version").is_none() {
        return;
    }
    let out_npm = Command::new("npm")
        .current_dir(&out)
        .args(["pack", "--dry-run", "--json", "--ignore-scripts"])
        .env("npm_config_cache", fx.tmp.path().join("npm-cache"))
        .env("npm_config_update_notifier", "false")
        .output()
        .unwrap();
    let run = Run::from_output_lossy(out_npm);
    assert_eq!(run.code, 0, "{run}");
    let npm: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut npm_files: Vec<String> = npm[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    npm_files.sort();
    let mut ours: Vec<String> = expected.keys().cloned().collect();
    ours.sort();
    assert_eq!(npm_files, ours);
}

/// A tarball in the shape `vite build` (library mode, ES and IIFE formats) and `npm pack`
/// give for the fixture's entry modules: strings hoisted into constants, the object exported
/// as `export { o as default }`, the IIFE a `var Global = function () { … }()`.
fn old_style_tarball(fx: &Fx, extra_key: Option<&str>, global_prefix: &str) -> PathBuf {
    let text = |lang: &str, path: &str| {
        fs::read_to_string(fx.kb().join(format!("docs/{lang}/{path}"))).unwrap()
    };
    let mut files: Vec<(String, String)> = vec![(
        "package/package.json".into(),
        r#"{"name":"@acme/old-docs","version":"3.2.0","type":"module","exports":{"./en":"./dist/esm/en.js","./zh":"./dist/esm/zh.js"}}"#.into(),
    )];
    for lang in ["en", "zh"] {
        let slack = serde_json::to_string(&text(lang, "integrations/8.3 Slack.md")).unwrap();
        let lark = serde_json::to_string(&text(lang, "lark.md")).unwrap();
        let extra = extra_key.map(|k| format!(", {k}: t")).unwrap_or_default();
        let object = format!("{{ Slack: e, OldSlack: e, Lark: t{extra} }}");
        files.push((
            format!("package/dist/esm/{lang}.js"),
            format!(
                "const e = {slack}, t = {lark}, o = {object};\nexport {{\n  o as default\n}};\n"
            ),
        ));
        let g = format!("{global_prefix}{}", if lang == "en" { "En" } else { "Zh" });
        files.push((
            format!("package/dist/iife/{lang}.js"),
            format!("var {g} = function() {{\n  \"use strict\";\n  const e = {slack}, t = {lark};\n  return {object};\n}}();\n"),
        ));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, body) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, body.as_bytes()).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let out = fx.tmp.path().join(format!(
        "old-{global_prefix}-{}.tgz",
        extra_key.unwrap_or("")
    ));
    fs::write(&out, gz.finish().unwrap()).unwrap();
    out
}

/// `compare-package` against a package of the old pipeline's shape: the release has every
/// key with the same value (exit 0); an old key the release lacks and a renamed global are
/// reported (exit 1).
#[test]
fn compare_package_proves_the_switch_and_names_what_breaks() {
    if require_node().is_none() {
        return;
    }
    let fx = consumer_fx();
    let same = old_style_tarball(&fx, None, "AcmeDocs");
    let run = fx.kbrel(&["compare-package", same.to_str().unwrap(), "1.0.0", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let v: CompatReport = run.parse();
    assert_eq!(v.missing_keys, 0, "{v:?}");
    assert_eq!(v.changed_keys, 0, "{v:?}");
    assert_eq!(v.changed_globals, 0, "{v:?}");
    let entries = &v.entries;
    assert_eq!(entries.len(), 4, "{v:?}");
    for e in entries {
        assert_eq!(e.keys, 3, "{e:?}");
        assert!(e.new_gzip_size.unwrap() > 0);
        // The release also has the `__proto__` key the old object literal could not hold.
        assert_eq!(e.added_keys, ["__proto__"], "{e:?}");
    }

    let broken = old_style_tarball(&fx, Some("Gone"), "Docs");
    let run = fx.kbrel(&["compare-package", broken.to_str().unwrap(), "latest"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("missing: Gone"), "{run}");
    assert!(run.stdout.contains("global: DocsEn → AcmeDocsEn"), "{run}");
    assert!(
        run.stdout
            .contains("4 missing key(s), 0 changed value(s), 2 changed global(s)"),
        "{run}"
    );

    // Not a tarball, an unknown version: exit 2.
    let junk = fx.tmp.path().join("junk.tgz");
    fs::write(&junk, "not gzip").unwrap();
    let run = fx.kbrel(&["compare-package", junk.to_str().unwrap(), "1.0.0"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("junk.tgz"), "{run}");
    let run = fx.kbrel(&["compare-package", same.to_str().unwrap(), "9.0.0"]);
    assert_eq!(run.code, 2, "{run}");
}

/// A gzip'd tar of `files` (`package/…` paths) written to `out`.
fn write_tgz(files: &[(String, String)], out: &Path) {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, body.as_bytes()).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    fs::write(out, gz.finish().unwrap()).unwrap();
}

/// `compare-package` runs the OLD package's JavaScript, which may be hostile: in a `vm`
/// context, under node's permission model, with an empty environment. A script that escapes
/// the context (`this.constructor.constructor('return process')()`) reads no environment
/// variable and writes no file; an ES module that imports `node:fs` is refused, naming the
/// file (exit 2); a module that loops forever is stopped by the evaluation timeout.
#[test]
fn compare_package_sandboxes_the_old_packages_javascript() {
    if require_node().is_none() {
        return;
    }
    let fx = consumer_fx();
    let marker = fx.tmp.path().join("pwned");
    let m = serde_json::to_string(&marker.display().to_string()).unwrap();
    let pj = (
        "package/package.json".to_string(),
        r#"{"name":"evil","version":"1.0.0"}"#.to_string(),
    );
    // A script that escapes the vm context: the keys it sets say what it could do.
    let escape = format!(
        "var Evil = function () {{ var r = {{}}; try {{ var p = this.constructor.constructor('return process')(); \
         r['env-' + p.env.KBREL_TEST_SECRET] = 'x'; r['home-' + p.env.HOME] = 'x'; \
         var fs = p.getBuiltinModule ? p.getBuiltinModule('node:fs') : p.mainModule.require('fs'); \
         fs.writeFileSync({m}, 'pwned'); r['write-ok'] = 'x'; }} catch (e) {{ r['write-' + (e.code || 'failed')] = 'x'; }} \
         try {{ p.getBuiltinModule('node:child_process').execSync('touch ' + {m}); r['exec-ok'] = 'x'; }} catch (e) {{ r['exec-' + (e.code || 'failed')] = 'x'; }} \
         return r; }}();\n"
    );
    let old = fx.tmp.path().join("evil-script.tgz");
    write_tgz(
        &[pj.clone(), ("package/dist/iife/en.js".into(), escape)],
        &old,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kbrel"))
        .current_dir(fx.kb())
        .env("KBREL_TEST_SECRET", "s3cr3t-value")
        .args(["compare-package", old.to_str().unwrap(), "1.0.0", "--json"])
        .output()
        .unwrap();
    let run = Run::from_output_lossy(out);
    // The old entry's keys are all missing from the release: exit 1, and they show what the
    // script could do.
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.stdout.contains("s3cr3t-value"), "{run}");
    let v: CompatReport = run.parse();
    let keys: Vec<&str> = v.entries[0]
        .missing_keys
        .iter()
        .map(String::as_str)
        .collect();
    assert!(keys.contains(&"env-undefined"), "{keys:?}");
    assert!(keys.contains(&"home-undefined"), "{keys:?}");
    assert!(keys.contains(&"write-ERR_ACCESS_DENIED"), "{keys:?}");
    assert!(keys.contains(&"exec-ERR_ACCESS_DENIED"), "{keys:?}");
    assert!(
        !marker.exists(),
        "the old package wrote {}",
        marker.display()
    );

    // An ES module importing a builtin is refused before it runs, naming the file.
    let module = format!(
        "import fs from 'node:fs';\nfs.writeFileSync({m}, 'pwned');\nexport default {{ A: 'a' }};\n"
    );
    let old = fx.tmp.path().join("evil-module.tgz");
    write_tgz(
        &[pj.clone(), ("package/dist/esm/en.js".into(), module)],
        &old,
    );
    let run = fx.kbrel(&["compare-package", old.to_str().unwrap(), "1.0.0"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("dist/esm/en.js"), "{run}");
    assert!(run.stderr.contains("node:fs"), "{run}");
    assert!(!marker.exists());

    // A module that reads a file outside the package through an import path is refused too,
    // and one that never ends is stopped.
    let outside = "import x from '../../../../etc/passwd.js';\nexport default { x };\n";
    let spin = "while (true) {}\nexport default {};\n";
    let old = fx.tmp.path().join("evil-paths.tgz");
    write_tgz(
        &[
            pj.clone(),
            ("package/dist/esm/en.js".into(), outside.into()),
        ],
        &old,
    );
    let run = fx.kbrel(&["compare-package", old.to_str().unwrap(), "1.0.0"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("outside the package"), "{run}");
    write_tgz(&[pj, ("package/dist/esm/en.js".into(), spin.into())], &old);
    let started = std::time::Instant::now();
    let run = fx.kbrel(&["compare-package", old.to_str().unwrap(), "1.0.0"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("timed out"), "{run}");
    assert!(started.elapsed() < std::time::Duration::from_secs(50));
}

/// Vite (`target/test-tools/vite`, installed by `.ci/run`): its `node_modules`, or `None` (a
/// skip) without it; under `CI=true` a failure.
fn require_vite() -> Option<PathBuf> {
    let dir = crate::common::manifest_dir().join("target/test-tools/vite/node_modules");
    if dir.join("vite/bin/vite.js").exists() {
        Some(dir)
    } else {
        missing(
            "vite 8.4.1",
            &format!("{} does not exist", dir.join("vite").display()),
        );
        None
    }
}

/// The package a team replaces, built the way it was: `vite build` in library mode (formats
/// `es` and `iife`, global `FlashDocs<Lang>`) of the fixture's entry modules (`?raw` imports in
/// both quote styles, an alias key) into `dist/esm/<lang>.js` and `dist/iife/<lang>.js`, then
/// `npm pack`. `compare-package` finds every key with the same value in the kbrel release of
/// the same entry modules (exit 0); a key dropped from the release is reported (exit 1).
#[test]
fn compare_package_against_a_real_vite_build_and_npm_pack() {
    if !require_node_npm() {
        return;
    }
    let Some(vite_modules) = require_vite() else {
        return;
    };
    let fx =
        consumer_fx_with("\n[bundle]\nglobals = { en = \"FlashDocsEn\", zh = \"FlashDocsZh\" }\n");
    // The old pipeline's project: the same documents and entry modules, built by vite.
    let old = fx.tmp.path().join("old-pipeline");
    fs::create_dir_all(&old).unwrap();
    for dir in ["docs", "src"] {
        let status = Command::new("cp")
            .arg("-R")
            .arg(fx.kb().join(dir))
            .arg(old.join(dir))
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::os::unix::fs::symlink(&vite_modules, old.join("node_modules")).unwrap();
    fs::write(
        old.join("package.json"),
        r#"{"name":"@acme/flash-docs","version":"3.2.0","type":"module","files":["dist"],
  "exports":{"./en":"./dist/esm/en.js","./zh":"./dist/esm/zh.js","./dist/*":"./dist/*"}}
"#,
    )
    .unwrap();
    let cache = fx.tmp.path().join("vite-cache");
    fs::write(
        old.join("vite.config.mjs"),
        format!(
            r#"import {{ defineConfig }} from 'vite';
const lang = process.env.DOCS_LANG;
export default defineConfig({{
  logLevel: 'warn',
  cacheDir: {cache},
  build: {{
    outDir: 'dist',
    emptyOutDir: false,
    lib: {{
      entry: `src/${{lang}}.ts`,
      name: `FlashDocs${{lang[0].toUpperCase()}}${{lang.slice(1)}}`,
      formats: ['es', 'iife'],
      fileName: (format) => `${{format === 'es' ? 'esm' : 'iife'}}/${{lang}}.js`,
    }},
  }},
}});
"#,
            cache = serde_json::to_string(&cache.display().to_string()).unwrap()
        ),
    )
    .unwrap();
    for lang in ["en", "zh"] {
        let out = Command::new("node")
            .arg(vite_modules.join("vite/bin/vite.js"))
            .arg("build")
            .current_dir(&old)
            .env("DOCS_LANG", lang)
            .output()
            .unwrap();
        let run = Run::from_output_lossy(out);
        assert_eq!(run.code, 0, "vite build {lang}\n{run}");
    }
    for f in ["esm/en.js", "iife/en.js", "esm/zh.js", "iife/zh.js"] {
        let text = fs::read_to_string(old.join("dist").join(f)).unwrap();
        assert!(text.contains("Slack"), "{f}: {text}");
    }
    let iife = fs::read_to_string(old.join("dist/iife/en.js")).unwrap();
    assert!(iife.contains("FlashDocsEn"), "{iife}");
    let packed = fx.tmp.path().join("packed");
    fs::create_dir_all(&packed).unwrap();
    let out = Command::new("npm")
        .args(["pack", "--json", "--pack-destination"])
        .arg(&packed)
        .arg("--cache")
        .arg(fx.tmp.path().join("npm-cache"))
        .current_dir(&old)
        .output()
        .unwrap();
    let run = Run::from_output_lossy(out);
    assert_eq!(run.code, 0, "npm pack\n{run}");
    let tgz = packed.join("acme-flash-docs-3.2.0.tgz");
    assert!(tgz.exists(), "{run}");

    let run = fx.kbrel(&["compare-package", tgz.to_str().unwrap(), "1.0.0", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let v: CompatReport = run.parse();
    assert_eq!(
        (v.missing_keys, v.changed_keys, v.changed_globals),
        (0, 0, 0),
        "{v:?}"
    );
    let entries = &v.entries;
    let mut paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "dist/esm/en.js",
            "dist/esm/zh.js",
            "dist/iife/en.js",
            "dist/iife/zh.js"
        ]
    );
    for e in entries {
        // Slack, its alias OldSlack, Lark: identical values (vite's quoted `"__proto__"` set
        // the prototype instead, so only the release has that key).
        assert_eq!(e.keys, 3, "{e:?}");
        assert!(!e.missing_entry, "{e:?}");
    }

    // The release drops the alias: both entry kinds of `en` report it, exit 1.
    fx.write(
        "src/en.ts",
        "import Slack from \"../docs/en/integrations/8.3 Slack.md?raw\";\nimport Lark from '../docs/en/lark.md?raw';\nexport default { Slack, Lark };\n",
    );
    let run = fx.publish("1.1.0");
    assert_eq!(run.code, 0, "{run}");
    let run = fx.kbrel(&["compare-package", tgz.to_str().unwrap(), "1.1.0", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    let v: CompatReport = run.parse();
    assert_eq!(v.missing_keys, 2, "{v:?}");
    for e in &v.entries {
        let expected: Vec<&str> = if e.path.ends_with("/en.js") {
            vec!["OldSlack"]
        } else {
            vec![]
        };
        assert_eq!(e.missing_keys, expected, "{e:?}");
    }
}
