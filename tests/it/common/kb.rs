//! [`Kb`], the one fixture type of the end-to-end tests: a knowledge base (`kbrel.toml`,
//! `content/{en,zh}/…`) in its own temporary directory, with its registries, changelog and
//! keys below it, so nothing outside that directory is ever touched.
//!
//! What is in it depends on the constructor:
//! - [`Kb::new`]: a copy of the fixture `tests/fixtures/kb` (`acme-kb`, eight documents);
//! - [`Kb::empty`] / [`Kb::generated`]: a generated knowledge base (`d000.md`, `d001.md`, … in
//!   both languages, every tenth in `sub/`), for sync, schema and the JS client;
//! - [`Kb::small`]: three hand-written documents per language (`intro`, `faq`,
//!   `guide/setup`), for serve and npm;
//! - [`Kb::synth`]: two generations of a [`kbrel_synth::synth`] knowledge base, `v1/` and `v2/`
//!   (published with `--content`), for the fault tests.
//!
//! Content paths are relative to the content root and start with the language (`en/intro.md`).
//! [`Kb::publish`] runs `kbrel publish` and returns the outcome; [`Kb::release`] publishes
//! quietly and must succeed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{DATE, NAME, Run, copy_dir, doc, fixture_dir, kbrel, noise, run, run_lossy};

pub struct Kb {
    pub tmp: TempDir,
    /// The package name.
    pub name: String,
}

impl Default for Kb {
    fn default() -> Self {
        Kb::new()
    }
}

// --- constructors ----------------------------------------------------------------------------

impl Kb {
    /// No config and no documents yet, in a fresh temporary directory `<prefix>…`.
    pub fn blank(prefix: &str, name: &str) -> Kb {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("create temp dir");
        Kb {
            tmp,
            name: name.to_string(),
        }
    }

    /// A copy of the fixture knowledge base (`tests/fixtures/kb`, named [`NAME`]).
    pub fn new() -> Kb {
        let kb = Kb::blank("kbrel-test-", NAME);
        copy_dir(&fixture_dir(), kb.root());
        kb
    }

    /// A generated knowledge base named `name` without documents (write them with
    /// [`Kb::write_generated`] or [`Kb::write`]); its config requires `title` only.
    pub fn empty(name: &str) -> Kb {
        let kb = Kb::blank("kbrel-sync-test-", name);
        kb.write_config("kbrel.toml", "");
        kb
    }

    /// [`Kb::empty`] with `docs` documents per language: `d000.md`, `d001.md`, … and every
    /// tenth in `sub/`.
    pub fn generated(name: &str, docs: usize) -> Kb {
        let kb = Kb::empty(name);
        for i in 0..docs {
            kb.write_generated(i);
        }
        kb
    }

    /// Three documents per language (`intro`, `faq`, `guide/setup`), every front-matter field
    /// required, the changelog in `CHANGELOG.md`. `public_url` goes to `registry.public_url`.
    pub fn small(name: &str, public_url: Option<&str>) -> Kb {
        let kb = Kb::blank("kbrel-serve-test-", name);
        let public = public_url
            .map(|u| format!("public_url = {}\n", serde_json::to_string(u).unwrap()))
            .unwrap_or_default();
        kb.write_config_with(
            "kbrel.toml",
            "kbrel serve test knowledge base.",
            r#"["title", "description", "date", "url"]"#,
            &format!("{public}\n[changelog]\npath = \"CHANGELOG.md\""),
        );
        kb.write_doc(
            "intro",
            "Intro",
            ("Introduction", "# Introduction\n\nThe knowledge base explains how to install and configure the agent.\n"),
            ("简介", "# 简介\n\n本知识库介绍如何安装和配置代理。\n"),
        );
        kb.write_doc(
            "faq",
            "Faq",
            (
                "Frequently asked questions",
                "# FAQ\n\n## Does it work offline?\n\nYes, once installed.\n",
            ),
            (
                "常见问题",
                "# 常见问题\n\n## 可以离线使用吗？\n\n可以，安装之后即可。\n",
            ),
        );
        kb.write_doc(
            "guide/setup",
            "GuideSetup",
            (
                "Setup",
                "# Setup\n\nRun the installer, then `acme start`.\n",
            ),
            ("安装", "# 安装\n\n运行安装程序，然后执行 `acme start`。\n"),
        );
        kb
    }

    /// A [`kbrel_synth::synth`] knowledge base of `docs_per_lang` documents (seed 7) in `v1/` and
    /// its evolution in `v2/`, with `kbrel.toml` from [`kbrel_synth::synth::config_toml`] (publish a
    /// generation with `--content <root>/v1`).
    pub fn synth(docs_per_lang: usize) -> Kb {
        let spec = kbrel_synth::synth::Spec {
            docs_per_lang,
            seed: 7,
            ..Default::default()
        };
        let kb = Kb::blank("kbrel-synth-test-", "synthetic-kb");
        let files = kbrel_synth::synth::generate(&spec);
        let next = kbrel_synth::synth::evolve(&files, &kbrel_synth::synth::EvolveSpec::default());
        fs::write(kb.config(), kbrel_synth::synth::config_toml(&spec)).expect("write config");
        kbrel_synth::synth::write_to(&kb.path("v1"), &files).expect("write v1");
        kbrel_synth::synth::write_to(&kb.path("v2"), &next).expect("write v2");
        kb
    }
}

// --- paths -----------------------------------------------------------------------------------

impl Kb {
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// A path below the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.root().join("kbrel.toml")
    }

    pub fn content(&self) -> PathBuf {
        self.root().join("content")
    }

    /// The default registry.
    pub fn registry(&self) -> PathBuf {
        self.root().join("registry")
    }

    pub fn changelog(&self) -> PathBuf {
        self.root().join("CHANGELOG.md")
    }

    /// A path inside the default registry.
    pub fn reg(&self, rel: &str) -> PathBuf {
        self.registry().join(rel)
    }
}

// --- writing content and config --------------------------------------------------------------

impl Kb {
    /// A content file (relative to the content root) as text.
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.content().join(rel)).expect("read content file")
    }

    /// Write a content file (relative to the content root), creating folders.
    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) {
        let p = self.content().join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("create folders");
        fs::write(p, text).expect("write content file");
    }

    /// Append `text` to a content file.
    pub fn append(&self, rel: &str, text: &str) {
        let mut t = self.read(rel);
        t.push_str(text);
        self.write(rel, t);
    }

    pub fn remove(&self, rel: &str) {
        fs::remove_file(self.content().join(rel)).expect("remove content file");
    }

    pub fn rename(&self, from: &str, to: &str) {
        let to = self.content().join(to);
        fs::create_dir_all(to.parent().expect("parent")).expect("create folders");
        fs::rename(self.content().join(from), to).expect("rename content file");
    }

    /// Replace `from` (which must occur exactly once) by `to` in a content file.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {rel}");
        self.write(rel, text.replace(from, to));
    }

    /// A config `file` at the root: `[package]` (the name, `description`, MIT), `[content]`
    /// (`content/`, en + zh paired by path, `required_fields` as a TOML array), `[registry]`
    /// (`registry/`), then `tail` (more `[registry]` keys and further sections).
    pub fn write_config_with(
        &self,
        file: &str,
        description: &str,
        required_fields: &str,
        tail: &str,
    ) {
        fs::write(
            self.root().join(file),
            format!(
                "[package]\nname = {}\ndescription = {}\nlicense = \"MIT\"\n\n\
                 [content]\nroot = \"content\"\nlanguages = [\"en\", \"zh\"]\nsource_language = \"en\"\npairing = \"path\"\n\
                 required_fields = {required_fields}\n\n[registry]\ndir = \"registry\"\n{tail}\n",
                serde_json::to_string(&self.name).unwrap(),
                serde_json::to_string(description).unwrap(),
            ),
        )
        .expect("write config");
    }

    /// The config of [`Kb::empty`] as `file`; `registry_extra` is appended to `[registry]`.
    pub fn write_config(&self, file: &str, registry_extra: &str) {
        self.write_config_with(
            file,
            "kbrel sync test knowledge base.",
            r#"["title"]"#,
            registry_extra,
        );
    }

    /// The path of document `i` of [`Kb::generated`] below the language folder.
    pub fn doc_path(i: usize) -> String {
        if i % 10 == 9 {
            format!("sub/d{i:03}.md")
        } else {
            format!("d{i:03}.md")
        }
    }

    /// Document `i` of [`Kb::generated`], in both languages.
    pub fn write_generated(&self, i: usize) {
        for lang in ["en", "zh"] {
            let path = Kb::doc_path(i);
            let n = i as u64 * 2 + u64::from(lang == "zh");
            self.write(&format!("{lang}/{path}"), doc_text(lang, &path, n, ""));
        }
    }

    /// Write one document `<id>.md` in both languages: `(title, body)` for en and zh.
    pub fn write_doc(&self, id: &str, key: &str, en: (&str, &str), zh: (&str, &str)) {
        for (lang, (title, body)) in [("en", en), ("zh", zh)] {
            let url = format!("https://kb.example.test/{lang}/{id}");
            let text = doc(title, &format!("About {title}."), &url, key, body);
            self.write(&format!("{lang}/{id}.md"), &text);
        }
    }

    /// Append a line to `<id>.md` in both languages.
    pub fn append_both(&self, id: &str, en: &str, zh: &str) {
        for (lang, line) in [("en", en), ("zh", zh)] {
            self.append(&format!("{lang}/{id}.md"), line);
        }
    }

    /// The changes of the fixture's second release, in both languages unless noted:
    /// - `en/intro.md` modified (one line replaced, two appended: +3 -1),
    /// - `guide/upgrade.md` added,
    /// - `legacy.md` removed,
    /// - `guide/setup.md` renamed to `guide/installation.md` (only its `url` line changes).
    pub fn apply_release_2_changes(&self) {
        self.edit(
            "en/intro.md",
            "Pages are short on purpose: one task per page.\n",
            "Pages are short on purpose: one task per page, one screen at most.\n\nRead the upgrade guide before moving to a new major version.\n",
        );
        self.write(
            "en/guide/upgrade.md",
            doc(
                "Upgrading",
                "Move the agent to a new major version.",
                "https://kb.acme.example/en/guide/upgrade",
                "GuideUpgrade",
                "# Upgrading\n\nStop the agent, install the new package, then run `acme migrate`.\nYour configuration is converted in place; a backup is kept.\n",
            ),
        );
        self.write(
            "zh/guide/upgrade.md",
            doc(
                "升级",
                "将代理升级到新的主版本。",
                "https://kb.acme.example/zh/guide/upgrade",
                "GuideUpgrade",
                "# 升级\n\n停止代理，安装新的安装包，然后运行 `acme migrate`。\n配置会被就地转换，并保留一份备份。\n",
            ),
        );
        self.remove("en/legacy.md");
        self.remove("zh/legacy.md");
        for lang in ["en", "zh"] {
            self.rename(
                &format!("{lang}/guide/setup.md"),
                &format!("{lang}/guide/installation.md"),
            );
            self.edit(
                &format!("{lang}/guide/installation.md"),
                &format!("/{lang}/guide/setup\""),
                &format!("/{lang}/guide/installation\""),
            );
        }
    }

    /// Add `escape.md` in both languages: a body with every character that is dangerous in a
    /// JavaScript string or an HTML `<script>` element. Returns the en and zh texts.
    pub fn add_escape_docs(&self) -> (String, String) {
        let en = doc(
            "Escaping \"quotes\", \\backslashes\\ and 中文 😀",
            "Characters that must survive the JavaScript bundles.",
            "https://kb.acme.example/en/escape",
            "Escape",
            &format!("# Escapes\n\n{}", super::tricky_body()),
        );
        let zh = doc(
            "转义：“引号”与反斜杠",
            "必须在 JavaScript 包中原样保留的字符。",
            "https://kb.acme.example/zh/escape",
            "Escape",
            &format!(
                "# 转义\n\n中文标点：，。！？「」《》\n\n{}",
                super::tricky_body()
            ),
        );
        self.write("en/escape.md", &en);
        self.write("zh/escape.md", &zh);
        (en, zh)
    }
}

/// A document of [`Kb::generated`] with front matter; `n` makes the body unique.
pub fn doc_text(lang: &str, path: &str, n: u64, extra: &str) -> String {
    let stem = path.trim_end_matches(".md");
    let body = noise(300 + (n % 7) as usize * 150, n);
    format!(
        "---\ntitle: \"{lang} {stem}\"\ndescription: \"About {stem}.\"\ndate: 2026-11-20\nurl: \"https://kb.example.test/{lang}/{stem}\"\n---\n\n# {stem} ({lang})\n\n{body}{extra}"
    )
}

// --- running kbrel ---------------------------------------------------------------------------

impl Kb {
    /// `kbrel --config <root>/<config> --registry <registry>`, run in the root.
    pub fn cmd_at(&self, config: &str, registry: &Path) -> Command {
        let mut cmd = kbrel();
        cmd.current_dir(self.root())
            .arg("--config")
            .arg(self.root().join(config))
            .arg("--registry")
            .arg(registry);
        cmd
    }

    /// `kbrel --config <root>/kbrel.toml --registry <registry>`, run in the root.
    pub fn cmd_with(&self, registry: &Path) -> Command {
        self.cmd_at("kbrel.toml", registry)
    }

    /// [`Kb::cmd_with`] the default registry.
    pub fn cmd(&self) -> Command {
        self.cmd_with(&self.registry())
    }

    /// `kbrel publish <args…> --date DATE --changelog <root>/CHANGELOG.md` (no `--date` is
    /// added when `args` has one).
    pub fn publish(&self, args: &[&str]) -> Run {
        self.publish_into(&self.registry(), &self.changelog(), args)
    }

    pub fn publish_into(&self, registry: &Path, changelog: &Path, args: &[&str]) -> Run {
        let mut cmd = self.cmd_with(registry);
        cmd.arg("publish")
            .args(args)
            .arg("--changelog")
            .arg(changelog);
        if !args.contains(&"--date") {
            cmd.args(["--date", DATE]);
        }
        run(&mut cmd)
    }

    /// Publish `version` into the default registry on [`DATE`]; it must succeed.
    pub fn release(&self, version: &str) {
        self.release_into(&self.registry(), version);
    }

    /// Publish `version` into `registry` on [`DATE`]; it must succeed.
    pub fn release_into(&self, registry: &Path, version: &str) {
        self.release_at("kbrel.toml", registry, version, DATE, &[]);
    }

    /// `kbrel … publish <version> --date <date> --changelog <registry>.CHANGELOG.md --quiet
    /// <extra…>`, which must succeed (its summary is not read; errors still print).
    pub fn release_at(
        &self,
        config: &str,
        registry: &Path,
        version: &str,
        date: &str,
        extra: &[&str],
    ) {
        run_lossy(
            self.cmd_at(config, registry)
                .args(["publish", version, "--date", date, "--changelog"])
                .arg(registry.with_extension("CHANGELOG.md"))
                .arg("--quiet")
                .args(extra),
        )
        .success();
    }

    /// `kbrel key generate --out <root>/<file>`; returns the public key.
    pub fn key(&self, file: &str) -> String {
        let r = run_lossy(
            kbrel()
                .args(["key", "generate", "--out"])
                .arg(self.root().join(file)),
        )
        .success();
        r.stdout.trim().to_string()
    }
}

// --- reading back ----------------------------------------------------------------------------

impl Kb {
    /// The documents of the current content of one language: front-matter `key` → text.
    pub fn expected(&self, lang: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.content().join(lang)];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "md") {
                    let text = fs::read_to_string(&path).expect("read doc");
                    let key = text
                        .lines()
                        .find_map(|l| l.strip_prefix("key: "))
                        .expect("key in front matter")
                        .to_string();
                    out.insert(key, text);
                }
            }
        }
        out
    }

    /// The published index of the default registry.
    pub fn index(&self) -> serde_json::Value {
        super::read_json(&self.registry().join("index.json"))
    }
}
