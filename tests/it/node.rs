//! The published npm package as JavaScript tooling sees it: node imports of the ESM bundles
//! (by path and through the package `exports`), the IIFE bundles in a bare `node:vm` context,
//! `npm pack --dry-run` and `tar tvzf` listings, and normalised tar/gzip headers.
//!
//! node 20+, npm and tar must be on PATH. When one is missing the test prints a note and
//! passes, except with `CI=true`, where it fails.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::tools::require_tool;
use common::*;
use serde_json::Value;

/// Whether `tool` can run (`tool --version`). Missing tools fail the test under `CI=true`.
fn have(tool: &str) -> bool {
    require_tool(tool, "--version").is_some()
}

/// A JavaScript string literal for `s`.
fn js(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).expect("string")
}

fn js_path(p: &Path) -> String {
    js(p.to_str().expect("UTF-8 path"))
}

/// Run an ES module given as text with node in `cwd`; returns stdout.
fn node_module(cwd: &Path, script: &str) -> String {
    let mut node = Command::new("node");
    node.current_dir(cwd)
        .args(["--input-type=module", "-e", script]);
    run(&mut node).success().stdout
}

/// `console.log(JSON.stringify(default export of <path>))`, parsed.
fn import_default(cwd: &Path, path: &Path) -> BTreeMap<String, String> {
    let out = node_module(
        cwd,
        &format!(
            "import d from {}; console.log(JSON.stringify(d));",
            js_path(path)
        ),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A published fixture and its tarball unpacked.
struct Published {
    kb: Kb,
    version: String,
    tgz: Vec<u8>,
    /// `<tmp>/unpacked/package`
    package: PathBuf,
}

impl Published {
    fn manifest(&self) -> kbrel::manifest::Manifest {
        read_as(&self.kb.reg(&format!("v/{}/manifest.json", self.version)))
    }

    /// key → document text for one language, from the manifest and the registry's blobs.
    fn expected_bundle(&self, lang: &str) -> BTreeMap<String, String> {
        self.manifest()
            .documents
            .into_iter()
            .filter(|d| d.lang == lang)
            .map(|d| {
                let bytes = fs::read(self.kb.reg(&blob_rel(&d.sha256))).expect("blob");
                assert_eq!(sha256_hex(&bytes), d.sha256);
                (d.key, String::from_utf8(bytes).expect("UTF-8 blob"))
            })
            .collect()
    }
}

/// Publish `kb` as 1.0.0 with extra global and publish arguments, and unpack the tarball.
fn publish_and_unpack(
    kb: Kb,
    global_args: &[&str],
    publish_args: &[&str],
    tarball: &str,
) -> Published {
    let mut cmd = kbrel();
    cmd.current_dir(kb.root())
        .args(global_args)
        .arg("--registry")
        .arg(kb.registry())
        .args(["publish", "1.0.0", "--date", DATE, "--changelog"])
        .arg(kb.changelog())
        .args(publish_args);
    run(&mut cmd).success();
    let tgz = fs::read(kb.reg(tarball)).expect("tarball");
    let dest = kb.root().join("unpacked");
    extract_tgz(&tgz, &dest);
    Published {
        package: dest.join("package"),
        version: "1.0.0".into(),
        tgz,
        kb,
    }
}

/// The fixture plus the escape documents, published and unpacked.
fn fixture() -> Published {
    let kb = Kb::new();
    kb.add_escape_docs();
    let config = kb.config();
    publish_and_unpack(
        kb,
        &["--config", config.to_str().unwrap()],
        &[],
        "acme-kb-1.0.0.tgz",
    )
}

/// A node project in `<tmp>/project` with the tarball installed by npm.
fn install(p: &Published, name: &str) -> PathBuf {
    let project = p.kb.root().join("project");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("package.json"),
        r#"{"name": "consumer", "private": true, "type": "module"}"#,
    )
    .unwrap();
    let tarball = p.kb.root().join("package.tgz");
    fs::write(&tarball, &p.tgz).unwrap();
    run(npm(&project)
        .args([
            "install",
            "--offline",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            "--no-save",
        ])
        .arg(&tarball))
    .success();
    assert!(
        project
            .join("node_modules")
            .join(name)
            .join("package.json")
            .is_file()
    );
    project
}

/// npm with its cache and config inside the temp dir, never the network.
fn npm(cwd: &Path) -> Command {
    let mut cmd = Command::new("npm");
    let tmp = cwd.parent().expect("parent");
    cmd.current_dir(cwd)
        .env("npm_config_cache", tmp.join("npm-cache"))
        .env("npm_config_userconfig", tmp.join("npmrc"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_offline", "true")
        .env("npm_config_loglevel", "error");
    cmd
}

#[test]
fn esm_bundles_export_every_document_by_key() {
    if !have("node") {
        return;
    }
    let p = fixture();
    for lang in ["en", "zh"] {
        let got = import_default(p.kb.root(), &p.package.join(format!("dist/esm/{lang}.js")));
        let want = p.expected_bundle(lang);
        assert_eq!(want.len(), 5, "{lang}: 4 fixture documents + escape.md");
        assert_eq!(got, want, "{lang}");
        // …and those are the source files, normalised (the fixture is already LF + NFC).
        for (key, text) in &got {
            let path = p
                .manifest()
                .documents
                .into_iter()
                .find(|d| d.lang == lang && d.key == *key)
                .map(|d| d.path)
                .expect("document for key");
            assert_eq!(text, &p.kb.read(&format!("{lang}/{path}")), "{lang} {key}");
        }
    }
}

#[test]
fn tricky_characters_round_trip_through_esm_and_iife_bundles() {
    if !have("node") {
        return;
    }
    let kb = Kb::new();
    let (en, zh) = kb.add_escape_docs();
    let config = kb.config();
    let p = publish_and_unpack(
        kb,
        &["--config", config.to_str().unwrap()],
        &[],
        "acme-kb-1.0.0.tgz",
    );
    for (lang, want) in [("en", &en), ("zh", &zh)] {
        let esm = p.package.join(format!("dist/esm/{lang}.js"));
        let iife = p.package.join(format!("dist/iife/{lang}.js"));
        let global = format!("AcmeKb{}", if lang == "en" { "En" } else { "Zh" });
        // Compare inside node too (no JSON in between), and hand the string back as JSON.
        let out = node_module(
            p.kb.root(),
            &format!(
                r#"
import fs from 'node:fs';
import vm from 'node:vm';
import d from {esm};
const want = fs.readFileSync({src}, 'utf8');
const ctx = vm.createContext({{}});
vm.runInContext(fs.readFileSync({iife}, 'utf8'), ctx);
const g = ctx[{global}];
console.log(JSON.stringify({{
  esm: d.Escape, iife: g.Escape,
  esmEqual: d.Escape === want, iifeEqual: g.Escape === want,
  ls: d.Escape.includes('\u2028'), ps: d.Escape.includes('\u2029'),
}}));
"#,
                esm = js_path(&esm),
                iife = js_path(&iife),
                src = js_path(&p.kb.content().join(format!("{lang}/escape.md"))),
                global = js(&global),
            ),
        );
        let v: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(v["esm"].as_str(), Some(want.as_str()), "{lang} ESM");
        assert_eq!(v["iife"].as_str(), Some(want.as_str()), "{lang} IIFE");
        for flag in ["esmEqual", "iifeEqual", "ls", "ps"] {
            assert_eq!(v[flag], true, "{lang} {flag}: {v}");
        }
    }
}

#[test]
fn package_exports_resolve_from_node_modules() {
    if !have("node") || !have("npm") {
        return;
    }
    let p = fixture();
    let project = install(&p, NAME);
    let out = node_module(
        &project,
        r#"
import en from 'acme-kb/en';
import zh from 'acme-kb/zh';
import main from 'acme-kb';
import pkg from 'acme-kb/package.json' with { type: 'json' };
import manifest from 'acme-kb/manifest.json' with { type: 'json' };
console.log(JSON.stringify({ en, zh, main, name: pkg.name, version: pkg.version,
  documents: manifest.documents.length }));
"#,
    );
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let as_map = |v: &Value| -> BTreeMap<String, String> {
        serde_json::from_value(v.clone()).expect("key → text")
    };
    assert_eq!(as_map(&v["en"]), p.expected_bundle("en"));
    assert_eq!(as_map(&v["zh"]), p.expected_bundle("zh"));
    assert_eq!(
        v["main"], v["en"],
        "the package main is the source language"
    );
    assert_eq!(v["name"], NAME);
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["documents"], 10);

    // The exports map is the public surface: other files are not importable.
    let denied = run(Command::new("node").current_dir(&project).args([
        "--input-type=module",
        "-e",
        "import 'acme-kb/docs/en/intro.md';",
    ]));
    assert_ne!(denied.code, 0, "{denied}");
    assert!(
        denied.stderr.contains("ERR_PACKAGE_PATH_NOT_EXPORTED"),
        "{denied}"
    );
}

#[test]
fn scoped_package_installs_and_imports_under_its_scope() {
    if !have("node") || !have("npm") {
        return;
    }
    let kb = Kb::new();
    let config = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        config.replace("name = \"acme-kb\"", "name = \"@acme/kb\""),
    )
    .unwrap();
    let config = kb.config();
    let p = publish_and_unpack(
        kb,
        &["--config", config.to_str().unwrap()],
        &[],
        "acme-kb-1.0.0.tgz",
    );
    let pkg = read_json(&p.package.join("package.json"));
    assert_eq!(pkg["name"], "@acme/kb");
    assert_eq!(pkg["kbrel"]["globals"]["en"], "KbEn");
    let project = install(&p, "@acme/kb");
    let out = node_module(
        &project,
        "import en from '@acme/kb/en'; import zh from '@acme/kb/zh'; \
         console.log(JSON.stringify({ en, zh }));",
    );
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let en: BTreeMap<String, String> = serde_json::from_value(v["en"].clone()).unwrap();
    let zh: BTreeMap<String, String> = serde_json::from_value(v["zh"].clone()).unwrap();
    assert_eq!(en, p.expected_bundle("en"));
    assert_eq!(zh, p.expected_bundle("zh"));
}

#[test]
fn iife_bundle_sets_its_global_in_a_bare_vm_context() {
    if !have("node") {
        return;
    }
    let p = fixture();
    let pkg = read_json(&p.package.join("package.json"));
    for lang in ["en", "zh"] {
        let global = format!("AcmeKb{}", if lang == "en" { "En" } else { "Zh" });
        assert_eq!(pkg["kbrel"]["globals"][lang], global, "default global name");
        let out = node_module(
            p.kb.root(),
            &format!(
                r#"
import fs from 'node:fs';
import vm from 'node:vm';
import assert from 'node:assert';
import esm from {esm};
const ctx = vm.createContext({{}});
vm.runInContext(fs.readFileSync({iife}, 'utf8'), ctx, {{ filename: 'iife.js' }});
const g = vm.runInContext('globalThis[' + JSON.stringify({global}) + ']', ctx);
assert.deepEqual(g, esm);
assert.deepEqual(Object.keys(g).sort(), Object.keys(esm).sort());
console.log(JSON.stringify({{ globals: Object.keys(ctx), type: typeof g, iife: g, esm }}));
"#,
                esm = js_path(&p.package.join(format!("dist/esm/{lang}.js"))),
                iife = js_path(&p.package.join(format!("dist/iife/{lang}.js"))),
                global = js(&global),
            ),
        );
        let v: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(
            v["globals"],
            serde_json::json!([global]),
            "only the one global is set"
        );
        assert_eq!(v["type"], "object");
        assert_eq!(
            v["iife"], v["esm"],
            "{lang}: IIFE global deep-equals ESM default"
        );
        let got: BTreeMap<String, String> =
            serde_json::from_value(v["iife"].clone()).expect("key → text");
        assert_eq!(got, p.expected_bundle(lang));
    }
}

#[test]
fn npm_pack_lists_the_same_files_as_the_tarball() {
    if !have("npm") {
        return;
    }
    let p = fixture();
    let out = run(npm(&p.package).args(["pack", "--dry-run", "--json"])).success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let npm_files: BTreeMap<String, u64> = v[0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    let ours: BTreeMap<String, u64> = tar_entries(&p.tgz)
        .into_iter()
        .map(|(path, _, data)| {
            (
                path.strip_prefix("package/")
                    .expect("under package/")
                    .to_string(),
                data.len() as u64,
            )
        })
        .collect();
    assert_eq!(npm_files, ours);
    let idx = read_json(&p.kb.reg("index.json"));
    let t = &idx["versions"][0]["tarball"];
    assert_eq!(v[0]["entryCount"], t["file_count"]);
    assert_eq!(v[0]["unpackedSize"], t["unpacked_size"]);
    assert_eq!(v[0]["name"], NAME);
    assert_eq!(v[0]["version"], "1.0.0");
}

/// Check one tarball's headers with the tar crate and its gzip header.
fn assert_normalised_headers(tgz: &[u8]) -> usize {
    assert_eq!(&tgz[..3], &[0x1f, 0x8b, 8], "gzip, deflate");
    assert_eq!(&tgz[4..8], &[0, 0, 0, 0], "gzip header mtime is zero");
    let entries = tar_entries(tgz);
    assert!(!entries.is_empty());
    let mut seen = BTreeSet::new();
    for (path, h, _) in &entries {
        assert!(path.starts_with("package/"), "{path}");
        assert!(seen.insert(path.clone()), "{path} twice");
        assert_eq!(
            h.entry_type(),
            tar::EntryType::Regular,
            "{path}: no directories or links"
        );
        assert_eq!(h.mode().unwrap(), 0o644, "{path}");
        assert_eq!(h.uid().unwrap(), 0, "{path}");
        assert_eq!(h.gid().unwrap(), 0, "{path}");
        assert_eq!(h.mtime().unwrap(), 499_162_500, "{path}");
        assert_eq!(h.username_bytes().unwrap_or_default(), b"", "{path}");
        assert_eq!(h.groupname_bytes().unwrap_or_default(), b"", "{path}");
    }
    entries.len()
}

#[test]
fn tar_headers_are_normalised_like_npm_pack() {
    let p = fixture();
    let n = assert_normalised_headers(&p.tgz);
    assert_eq!(
        n,
        11 + 10,
        "package.json, README, manifest, 4 bundles, 4 declarations, 10 docs (format 4 without \
         [bundle] meta or lazy adds no file)"
    );
}

/// `tar tvzf` (GNU or bsdtar) in UTC: `-rw-r--r-- 0/0 <size> 1985-10-26 08:15 package/…`.
fn assert_tar_listing(tgz_path: &Path, tgz: &[u8]) {
    let out = run(Command::new("tar")
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .arg("tvzf")
        .arg(tgz_path))
    .success();
    let entries = tar_entries(tgz);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), entries.len(), "{out}");
    for (line, (path, _, data)) in lines.iter().zip(&entries) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 6, "{line}");
        assert_eq!(cols[0], "-rw-r--r--", "{line}");
        assert_eq!(cols[1], "0/0", "{line}");
        assert_eq!(cols[2], data.len().to_string(), "{line}");
        assert_eq!((cols[3], cols[4]), ("1985-10-26", "08:15"), "{line}");
        assert_eq!(cols[5], path, "{line}");
        assert!(cols[5].starts_with("package/"), "{line}");
    }
}

#[test]
fn tar_tvzf_shows_normalised_entries() {
    if !have("tar") {
        return;
    }
    let p = fixture();
    assert_tar_listing(&p.kb.reg("acme-kb-1.0.0.tgz"), &p.tgz);
}

#[test]
fn long_and_non_ascii_paths_survive_every_reader() {
    let kb = Kb::new();
    let deep = "guide/a-rather-long-folder-name-for-testing/another-long-folder-name-here/and-a-third-level";
    let long_name =
        format!("{deep}/with-a-very-long-file-name-that-pushes-the-path-past-one-hundred-bytes.md");
    let unicode = "guide/café-指南.md";
    for lang in ["en", "zh"] {
        for (i, path) in [long_name.as_str(), unicode].into_iter().enumerate() {
            kb.write(
                &format!("{lang}/{path}"),
                doc(
                    &format!("Path test {i}"),
                    "A document with an unusual path.",
                    &format!("https://kb.acme.example/{lang}/path-test-{i}"),
                    &format!("PathTest{i}"),
                    &format!("# Path test {i} ({lang})\n\nBody {i}.\n"),
                ),
            );
        }
    }
    let config = kb.config();
    let p = publish_and_unpack(
        kb,
        &["--config", config.to_str().unwrap()],
        &[],
        "acme-kb-1.0.0.tgz",
    );
    assert!(format!("package/docs/en/{long_name}").len() > 100);
    let names: BTreeSet<String> = tar_entries(&p.tgz).into_iter().map(|(n, _, _)| n).collect();
    for lang in ["en", "zh"] {
        for path in [long_name.as_str(), unicode] {
            let entry = format!("package/docs/{lang}/{path}");
            assert!(names.contains(&entry), "{entry} not in {names:#?}");
            assert_eq!(
                fs::read_to_string(p.package.join(format!("docs/{lang}/{path}"))).unwrap(),
                p.kb.read(&format!("{lang}/{path}")),
                "unpacked {entry}"
            );
        }
    }
    assert_normalised_headers(&p.tgz);
    if have("tar") {
        assert_tar_listing(&p.kb.reg("acme-kb-1.0.0.tgz"), &p.tgz);
    }
    if have("npm") {
        let out = run(npm(&p.package).args(["pack", "--dry-run", "--json"])).success();
        let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
        let npm_files: BTreeSet<String> = v[0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        let ours: BTreeSet<String> = names
            .iter()
            .map(|n| n.strip_prefix("package/").unwrap().to_string())
            .collect();
        assert_eq!(npm_files, ours);
    }
}

/// The front-matter `key` of every document of one language of the real guide.
fn guide_keys(content: &Path, lang: &str) -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&content.join(lang), &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).unwrap();
            let key = front_matter_field(&text, "key")
                .unwrap_or_else(|| panic!("{} has no key", f.display()));
            (key, text.replace("\r\n", "\n"))
        })
        .collect()
}

#[test]
fn the_real_guide_imports_all_documents_by_key() {
    if !have("node") {
        return;
    }
    let repo = manifest_dir();
    let content = repo.join("content");
    let tags = || -> Vec<String> {
        git2::Repository::open(&repo).map_or_else(
            |_| Vec::new(),
            |r| {
                r.tag_names(None)
                    .map(|t| t.iter().flatten().flatten().map(String::from).collect())
                    .unwrap_or_default()
            },
        )
    };
    let tags_before = tags();
    let kb = Kb::new();
    let p = publish_and_unpack(
        kb,
        &[
            "--config",
            repo.join("kbrel.toml").to_str().unwrap(),
            "--content",
            content.to_str().unwrap(),
        ],
        // The guide lives in this crate's git repository: never tag it, and publish whatever
        // state the working tree is in.
        &["--no-tag", "--allow-dirty"],
        "kbrel-guide-1.0.0.tgz",
    );
    assert_eq!(
        tags(),
        tags_before,
        "publishing into a temp registry tagged the repository"
    );
    for lang in ["en", "zh"] {
        let got = import_default(p.kb.root(), &p.package.join(format!("dist/esm/{lang}.js")));
        let want = guide_keys(&content, lang);
        assert_eq!(want.len(), 19, "{lang}: the guide has 19 documents");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{lang}: keyed by front-matter key"
        );
        assert_eq!(got, p.expected_bundle(lang), "{lang}: the stored texts");
        for (key, text) in &want {
            assert_eq!(&got[key], text, "{lang} {key}");
        }
    }
    if have("npm") {
        let project = install(&p, "kbrel-guide");
        let out = node_module(
            &project,
            "import en from 'kbrel-guide/en'; import zh from 'kbrel-guide/zh'; \
             console.log(JSON.stringify([Object.keys(en).length, Object.keys(zh).length, \
             typeof en.GettingStarted]));",
        );
        assert_eq!(out.trim(), r#"[19,19,"string"]"#);
    }
}
