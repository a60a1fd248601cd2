//! Bundles apps use as they are (package format 4): the `{ meta, body }` bundle
//! (`<pkg>/<lang>/meta`) and the lazy index (`<pkg>/<lang>/lazy`, one module per document),
//! installed by npm from `kbrel serve` and imported by Node, type-checked by `tsc --strict`,
//! split by a real bundler (esbuild); and what formats 3 and 4 and `[bundle] lazy` change in
//! the tarball.
//!
//! node, npm, TypeScript and esbuild (target/test-tools, installed by .ci/run) are required
//! under `CI=true`; elsewhere a missing one skips the test with a note.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::npm::NpmProject;
use common::serve::Serve;
use common::tools::{missing, node, require_node_npm as have_node, tsc_strict};
use common::*;
use tempfile::TempDir;

/// A knowledge base in `<tmp>/kb` with aliases, a `__proto__` key, a path with spaces, front
/// matter YAML re-types (`title: 1.10`) and nested fields; registry in `<tmp>/registry`.
struct Fx {
    tmp: TempDir,
}

impl Fx {
    fn new(bundle: &str) -> Fx {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-bundles-")
            .tempdir()
            .unwrap();
        let fx = Fx { tmp };
        fx.write(
            "kbrel.toml",
            &format!(
                "[package]\nname = \"acme-docs\"\ndescription = \"bundles test\"\nlicense = \"MIT\"\n\n[content]\nroot = \"docs\"\nlanguages = [\"en\", \"zh\"]\npairing = \"front-matter:id\"\nrequired_fields = [\"title\"]\nkeys_from = [\"src/{{lang}}.ts\"]\n\n[bundle]\n{bundle}\n[registry]\ndir = \"../registry\"\n\n[changelog]\npath = \"../CHANGELOG.md\"\n"
            ),
        );
        for lang in ["en", "zh"] {
            fx.write(
                &format!("docs/{lang}/integrations/8.3 Slack.md"),
                &format!(
                    "---\ntitle: Slack {lang}\nid: slack\nsince: 1.10\ntags: [chat, \"im\"]\nowner:\n  team: integrations\n---\n\nSLACK_TEXT_{lang}: connect a workspace.\n"
                ),
            );
            fx.write(
                &format!("docs/{lang}/lark.md"),
                &format!(
                    "---\ntitle: 1.10\nid: lark\n---\n\nLARK_TEXT_{lang} \"quoted\" `</script>`\n"
                ),
            );
            fx.write(
                &format!("docs/{lang}/plain.md"),
                &format!("---\ntitle: Plain {lang}\nid: plain\n---\nPLAIN_TEXT_{lang}\n"),
            );
            fx.write(
                &format!("src/{lang}.ts"),
                &format!(
                    "import Slack from \"../docs/{lang}/integrations/8.3 Slack.md?raw\";\nimport Lark from '../docs/{lang}/lark.md?raw';\nimport Plain from '../docs/{lang}/plain.md?raw';\nexport default {{ Slack, OldSlack: Slack, Lark, Plain, \"__proto__\": Lark }};\n"
                ),
            );
        }
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

    fn publish(&self, args: &[&str]) {
        let mut cmd = kbrel();
        cmd.current_dir(self.kb())
            .args(["publish", "1.0.0", "--date", DATE])
            .args(args);
        run(&mut cmd).success();
    }

    /// The tarball's files (without `package/`), in order.
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        tar_entries(&fs::read(self.registry().join("acme-docs-1.0.0.tgz")).unwrap())
            .into_iter()
            .map(|(p, _, b)| (p.strip_prefix("package/").unwrap().to_string(), b))
            .collect()
    }
}

fn text(files: &[(String, Vec<u8>)], path: &str) -> String {
    let (_, b) = files
        .iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path} not in the tarball"));
    String::from_utf8(b.clone()).unwrap()
}

/// Format 4 = format 3's files with the same bytes (package.json and README aside), then per
/// language the `{ meta, body }` bundle, the lazy index, their declarations and one module per
/// distinct document when `[bundle] meta` and `lazy` are on; `meta` alone gives only the
/// meta bundle; neither (the default) adds no file; `exports` name `types` first.
#[test]
fn format_4_adds_meta_bundles_and_lazy_modules_to_format_3() {
    let (four, three, eager, plain) = (
        Fx::new("meta = true\nlazy = true\n"),
        Fx::new("meta = true\nlazy = true\n"),
        Fx::new("meta = true\n"),
        Fx::new(""),
    );
    four.publish(&[]);
    three.publish(&["--package-format", "3"]);
    eager.publish(&[]);
    plain.publish(&[]);
    let (f4, f3, fe, fp) = (four.files(), three.files(), eager.files(), plain.files());
    let same = |f: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        f.iter()
            .filter(|(p, _)| !["package.json", "README.md", "manifest.json"].contains(&p.as_str()))
            .cloned()
            .collect()
    };
    let (s4, s3) = (same(&f4), same(&f3));
    assert_eq!(
        s4[..s3.len()],
        s3[..],
        "format 3's files, same order and bytes"
    );
    let added: Vec<&str> = s4[s3.len()..].iter().map(|(p, _)| p.as_str()).collect();
    let docs = |lang: &str| -> Vec<String> {
        let mut d: Vec<String> = added
            .iter()
            .filter(|p| p.starts_with(&format!("dist/esm/{lang}/doc/")))
            .map(|p| p.to_string())
            .collect();
        d.sort();
        d
    };
    assert_eq!(docs("en").len(), 3, "one module per document: {added:?}");
    let mut expected = Vec::new();
    for lang in ["en", "zh"] {
        expected.extend([
            format!("dist/esm/{lang}.meta.js"),
            format!("dist/esm/{lang}.meta.d.ts"),
            format!("dist/esm/{lang}/index.js"),
            format!("dist/esm/{lang}/index.d.ts"),
        ]);
        expected.extend(docs(lang));
    }
    assert_eq!(added, expected);
    for (p, b) in &s4[s3.len()..] {
        if p.contains("/doc/") {
            let name = p.rsplit('/').next().unwrap().trim_end_matches(".js");
            assert_eq!(name.len(), 16, "{p}");
            let module = String::from_utf8(b.clone()).unwrap();
            assert!(
                module.contains("export default { meta, body };"),
                "{module}"
            );
        }
    }

    // By default (neither `meta` nor `lazy`): format 3's files and nothing more, so a publish
    // costs what format 3's does.
    assert_eq!(same(&fp), s3, "format 4 by default adds no file");
    let pjp: serde_json::Value = serde_json::from_str(&text(&fp, "package.json")).unwrap();
    let plain_exports: Vec<&String> = pjp["exports"].as_object().unwrap().keys().collect();
    assert!(
        plain_exports
            .iter()
            .all(|k| !k.ends_with("/meta") && !k.ends_with("/lazy")),
        "{plain_exports:?}"
    );
    assert!(!text(&fp, "README.md").contains("Ready to use"));

    // Without lazy modules: the meta bundle alone, byte for byte the same.
    let se = same(&fe);
    let added_eager: Vec<&str> = se[s3.len()..].iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        added_eager,
        [
            "dist/esm/en.meta.js",
            "dist/esm/en.meta.d.ts",
            "dist/esm/zh.meta.js",
            "dist/esm/zh.meta.d.ts"
        ]
    );
    assert_eq!(
        text(&fe, "dist/esm/zh.meta.js"),
        text(&f4, "dist/esm/zh.meta.js")
    );

    // package.json: format 3's exports (now `types` first) plus the new entries.
    let pj = text(&f4, "package.json");
    let v: serde_json::Value = serde_json::from_str(&pj).unwrap();
    let exports = v["exports"].as_object().unwrap();
    let v3: serde_json::Value = serde_json::from_str(&text(&f3, "package.json")).unwrap();
    for (k, e) in v3["exports"].as_object().unwrap() {
        assert_eq!(&exports[k], e, "{k}: same targets as format 3");
    }
    assert_eq!(exports["./en/lazy"]["default"], "./dist/esm/en/index.js");
    assert_eq!(exports["./zh/meta"]["types"], "./dist/esm/zh.meta.d.ts");
    assert_eq!(exports["./lazy"]["default"], "./dist/esm/en/index.js");
    assert_eq!(exports["./meta"]["default"], "./dist/esm/en.meta.js");
    assert!(
        pj.contains("\"./en/lazy\":{\"types\":\"./dist/esm/en/index.d.ts\",\"default\":")
            || pj.contains("\"./en/lazy\": {\n      \"types\": \"./dist/esm/en/index.d.ts\",\n      \"default\":"),
        "types first: {pj}"
    );
    let pje: serde_json::Value = serde_json::from_str(&text(&fe, "package.json")).unwrap();
    assert!(pje["exports"].get("./en/lazy").is_none());
    assert!(pje["exports"].get("./en/meta").is_some());
    assert!(text(&f4, "README.md").contains("acme-docs/<lang>/lazy"));
    assert!(!text(&f3, "README.md").contains("/lazy"));

    // `kbrel pack` lists them.
    let mut pack = kbrel();
    pack.current_dir(four.kb())
        .args(["pack", "1.0.0", "--json"]);
    let listed: kbrel::pack::PackReport = run(&mut pack).success().parse();
    let listed: Vec<&str> = listed.files.iter().map(|f| f.path.as_str()).collect();
    for p in &expected {
        assert!(listed.contains(&p.as_str()), "{p} in pack --list");
    }
}

fn tool(rel: &str, what: &str) -> Option<PathBuf> {
    let p = manifest_dir().join("target/test-tools").join(rel);
    if p.exists() {
        Some(p)
    } else {
        missing(what, &format!("target/test-tools/{rel} (see .ci/run)"));
        None
    }
}

/// `npm install` from `kbrel serve`; Node imports the meta bundle and the lazy index by their
/// export paths: every key (aliases, `__proto__`) of the raw bundle is there, `meta` is the
/// front matter parsed (kbrel's fields as written), `body` the markdown after it, each lazy
/// module equal to its meta entry. `tsc --strict` accepts valid keys on both forms and
/// rejects misspelled ones.
#[test]
fn meta_and_lazy_forms_install_from_serve_import_in_node_and_type_check() {
    if !have_node() {
        return;
    }
    let fx = Fx::new("meta = true\nlazy = true\n");
    fx.publish(&[]);
    let serve = Serve::start(&fx.registry(), &[]);
    let project = NpmProject::new(&serve.url());
    project.npm(&["install", "acme-docs@1.0.0"]).success();
    let dir = project.dir();
    fs::write(
        dir.join("check.mjs"),
        r#"import assert from 'node:assert';
import raw from 'acme-docs/en';
import meta from 'acme-docs/en/meta';
import lazy from 'acme-docs/en/lazy';
import srcMeta from 'acme-docs/meta';
import srcLazy from 'acme-docs/lazy';
import zhLazy from 'acme-docs/zh/lazy';
import deepLazy from 'acme-docs/dist/esm/en/index.js';
assert.strictEqual(srcMeta, meta);
assert.strictEqual(srcLazy, lazy);
assert.strictEqual(deepLazy, lazy);
const keys = Object.keys(raw).sort();
assert.deepEqual(Object.keys(meta).sort(), keys);
assert.deepEqual(Object.keys(lazy).sort(), keys);
assert.ok(Object.hasOwn(meta, '__proto__') && Object.hasOwn(lazy, '__proto__'));
assert.strictEqual(meta.OldSlack, meta.Slack);
assert.strictEqual(meta['__proto__'], meta.Lark);
assert.strictEqual(Object.getPrototypeOf(meta), Object.prototype);
for (const k of keys) {
  const { body } = meta[k];
  assert.ok(raw[k].startsWith('---\n') && raw[k].endsWith(body) && !body.startsWith('---'), k);
  const mod = await lazy[k]();
  assert.deepEqual(mod.default, meta[k], k);
  assert.deepEqual(mod.meta, meta[k].meta, k);
  assert.strictEqual(mod.body, body, k);
}
assert.strictEqual(await lazy.OldSlack(), await lazy.Slack());
assert.strictEqual((await zhLazy.Plain()).body, 'PLAIN_TEXT_zh\n');
console.log(JSON.stringify({ slack: meta.Slack.meta, lark: meta.Lark.meta, body: meta.Lark.body }));
"#,
    )
    .unwrap();
    let run = node(&dir, &["check.mjs"]);
    assert_eq!(run.code, 0, "{run}");
    let got: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "slack": {
                "title": "Slack en", "id": "slack", "since": 1.1,
                "tags": ["chat", "im"], "owner": { "team": "integrations" }
            },
            "lark": { "title": "1.10", "id": "lark" },
            "body": "\nLARK_TEXT_en \"quoted\" `</script>`\n"
        })
    );

    let Some(tsc) = tool("typescript/node_modules/typescript/bin/tsc", "typescript") else {
        return;
    };
    let tsc_run = |name: &str, code: &str| tsc_strict(&tsc, &dir.join(name), &[], code);
    let ok = tsc_run(
        "ok",
        "import lazy from 'acme-docs/en/lazy';\nimport meta from 'acme-docs/zh/meta';\nimport type { Doc, Key } from 'acme-docs/en/lazy';\nconst m = await lazy.Slack();\nconst title: string | undefined = m.meta.title;\nconst body: string = m.default.body;\nconst k: Key = '__proto__';\nconst d: Doc = meta.OldSlack;\nconst since: unknown = meta.Lark.meta['since'];\nexport { title, body, k, d, since };\n",
    );
    assert_eq!(ok.code, 0, "valid keys compile\n{ok}");
    let lazy_typo = tsc_run(
        "lazy-typo",
        "import lazy from 'acme-docs/en/lazy';\nexport const m = await lazy.Slak();\n",
    );
    assert_ne!(lazy_typo.code, 0, "{lazy_typo}");
    assert!(lazy_typo.stdout.contains("Slak"), "{lazy_typo}");
    let meta_typo = tsc_run(
        "meta-typo",
        "import meta from 'acme-docs/meta';\nexport const b: string = meta.Lrak.body;\n",
    );
    assert_ne!(meta_typo.code, 0, "{meta_typo}");
    assert!(meta_typo.stdout.contains("Lrak"), "{meta_typo}");
    let title_type = tsc_run(
        "title-type",
        "import meta from 'acme-docs/en/meta';\nexport const t: number = meta.Slack.meta.title;\n",
    );
    assert_ne!(title_type.code, 0, "title is a string: {title_type}");
}

/// A real bundler: esbuild builds an app that imports the lazy index and loads one document;
/// with code splitting, the entry holds no document text, and the chunk the key `Lark` loads
/// holds Lark's text and no other document's; the built app prints it. Without splitting
/// (every dynamic import inlined), the output still never holds the other language.
#[test]
fn esbuild_splits_the_lazy_index_into_one_chunk_per_document() {
    if !have_node() {
        return;
    }
    let Some(esbuild) = tool("esbuild/node_modules/.bin/esbuild", "esbuild") else {
        return;
    };
    let fx = Fx::new("meta = true\nlazy = true\n");
    fx.publish(&[]);
    let app = fx.tmp.path().join("app");
    let tgz = fx.registry().join("acme-docs-1.0.0.tgz");
    extract_tgz(&fs::read(&tgz).unwrap(), &app.join("unpacked"));
    fs::create_dir_all(app.join("node_modules")).unwrap();
    fs::rename(
        app.join("unpacked/package"),
        app.join("node_modules/acme-docs"),
    )
    .unwrap();
    fs::write(app.join("package.json"), r#"{"type": "module"}"#).unwrap();
    fs::write(
        app.join("main.js"),
        "import docs from 'acme-docs/en/lazy';\nconst { body } = await docs.Lark();\nconsole.log(body.trim());\n",
    )
    .unwrap();
    let build = |out: &str, split: bool| -> BTreeMap<String, String> {
        let mut cmd = Command::new(&esbuild);
        cmd.current_dir(&app)
            .args(["main.js", "--bundle", "--format=esm", "--platform=node"])
            .arg(format!("--outdir={out}"));
        if split {
            cmd.arg("--splitting");
        }
        run(&mut cmd).success();
        fs::read_dir(app.join(out))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_str().unwrap().to_string(),
                    fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    };
    let texts =
        |lang: &str| ["SLACK_TEXT", "LARK_TEXT", "PLAIN_TEXT"].map(|t| format!("{t}_{lang}"));
    let split = build("split", true);
    assert_eq!(
        split.len(),
        1 + 3,
        "the entry and one chunk per document: {split:?}"
    );
    let entry = &split["main.js"];
    for t in texts("en").iter().chain(&texts("zh")) {
        assert!(!entry.contains(t.as_str()), "{t} in the entry:\n{entry}");
    }
    // The chunk the entry imports for `Lark`.
    let at = entry
        .find("Lark")
        .unwrap_or_else(|| panic!("no Lark in\n{entry}"));
    let chunk = entry[at..]
        .split("import(\"./")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no import after Lark in\n{entry}"));
    let lark = &split[chunk];
    assert!(lark.contains("LARK_TEXT_en"), "{chunk}:\n{lark}");
    for t in ["SLACK_TEXT_en", "PLAIN_TEXT_en"] {
        assert!(!lark.contains(t), "{t} in {chunk}:\n{lark}");
    }
    for (name, js) in &split {
        for t in texts("zh") {
            assert!(!js.contains(t.as_str()), "{t} in {name}");
        }
    }
    let ran = node(&app.join("split"), &["main.js"]);
    assert_eq!(ran.code, 0, "{ran}");
    assert_eq!(ran.stdout.trim(), "LARK_TEXT_en \"quoted\" `</script>`");

    let whole = build("whole", false);
    assert_eq!(whole.len(), 1);
    for t in texts("zh") {
        assert!(!whole["main.js"].contains(t.as_str()), "{t}");
    }
}
