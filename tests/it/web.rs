//! The release viewer (issue #8) served by `kbrel serve`:
//!
//! - HTML snapshots (insta) of every page for a fixture registry published in the test with
//!   fixed dates, rendered by the functions of `kbrel::web` (so the snapshots are exact);
//! - the same pages over HTTP from a real `kbrel serve`: content types, the
//!   Content-Security-Policy, ETags (sha256 of the body) and 304s, 404 pages, the patch
//!   download, and the registry / npm routes next to the viewer's;
//! - a diff of 20,000 changed documents: page 1 carries the pagination notice and at most
//!   [`kbrel::web::PAGE_SIZE`] documents;
//! - end-to-end in headless Chromium, driven by playwright-core (`tests/web/e2e.mjs`): the
//!   pages as a person sees them, the filter, the language toggle, j/k, inert hostile markup,
//!   screenshots into `target/test-artifacts/web/`.
//!
//! The browser test needs node, `/usr/bin/chromium` and playwright-core in
//! `target/test-tools/playwright` (`.ci/run` installs all three). When one is missing the
//! test prints a note and passes, except with `CI=true`, where it fails.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::serve::{Resp, Serve, request_within};
use common::tools::{missing, require_node};
use common::*;
use kbrel::manifest::Index;
use kbrel::registry::Registry;

/// Release dates of the fixture's two versions.
const DATE_1: &str = "2026-11-01";
const DATE_2: &str = "2026-11-25";

/// A document full of markup that must render inert.
const HOSTILE: &str = "# Hostile markup

<script>window.pwned=1</script>

Inline: <img src=x onerror=\"window.pwned=1\"> and <b onmouseover=\"window.pwned=1\">bold</b>.

[a javascript link](javascript:window.pwned=1) and [a tab-split one](java\tscript:window.pwned=1 \"t\")
and <javascript:window.pwned=1> and [a safe one](intro.md).

![image](javascript:window.pwned=1)

| Column \"quoted\" | <i>x</i> |
|---|---|
| `<code>` | &lt;entity&gt; |
";

/// The fixture published twice: 1.0.0 (the fixture as is), then 1.1.0 with
/// [`Kb::apply_release_2_changes`] plus: a word changed in zh/intro.md, a title and a line
/// changed in en/intro.md, en/faq.md edited without its translation (so zh/faq.md is outdated),
/// and `hostile.md` added in both languages.
fn fixture() -> Kb {
    let kb = Kb::new();
    kb.publish(&["1.0.0", "--date", DATE_1]).success();
    kb.apply_release_2_changes();
    kb.edit(
        "zh/intro.md",
        "Acme 知识库介绍如何安装",
        "Acme 知识库说明如何安装",
    );
    kb.edit(
        "en/intro.md",
        "title: Introduction\n",
        "title: Introduction to Acme\n",
    );
    kb.edit(
        "en/intro.md",
        "the Acme agent. Every page exists in English and in Chinese.",
        "the Acme agent. Every page exists in English and in Simplified Chinese.",
    );
    kb.edit(
        "en/faq.md",
        "rotated daily.",
        "rotated every day and kept for a week.",
    );
    kb.write(
        "en/hostile.md",
        doc(
            "Hostile <script>window.pwned=1</script> title",
            "A document whose markup must render inert.",
            "https://kb.acme.example/en/hostile",
            "Hostile",
            HOSTILE,
        ),
    );
    kb.write(
        "zh/hostile.md",
        doc(
            "恶意标记 <img src=x onerror=\"window.pwned=1\">",
            "标记必须以文本形式显示的文档。",
            "https://kb.acme.example/zh/hostile",
            "Hostile",
            &HOSTILE.replace("# Hostile markup", "# 恶意标记"),
        ),
    );
    // `<img src=x>` must point at a file, or the linter blocks the release.
    kb.write("en/x", "not an image");
    kb.write("zh/x", "not an image");
    // … and `x` (no extension) is not a released asset since #23: KB050 allowed, the pages
    // are the same.
    {
        let p = kb.root().join("kbrel.toml");
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str("\n[lint]\nKB050 = \"allow\"\n");
        std::fs::write(&p, t).unwrap();
    }
    kb.publish(&["1.1.0", "--date", DATE_2]).success();
    kb
}

fn open(kb: &Kb) -> (Registry, Index) {
    let reg = Registry::new(kb.registry());
    let (index, _) = reg.read_index().expect("index").expect("published");
    (reg, index)
}

/// Render a viewer path (without the leading `/`) as the server does.
fn page(reg: &Registry, index: &Index, path: &str, query: &str) -> kbrel::web::Page {
    kbrel::web::render(reg, index, path, query)
}

fn html(reg: &Registry, index: &Index, path: &str) -> String {
    let p = page(reg, index, path, "");
    assert_eq!(p.status, 200, "{path}:\n{}", p.body);
    assert_eq!(p.content_type, "text/html; charset=utf-8", "{path}");
    p.body
}

/// Markup every page must have: landmarks, a skip link, external assets only.
fn assert_page_basics(path: &str, body: &str) {
    for needle in [
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "<a class=\"skip\" href=\"#main\">",
        "<main id=\"main\"",
        "<nav aria-label=\"Site\">",
        "<h1",
        "<link rel=\"stylesheet\" href=\"/assets/kbrel.css\">",
        "<script src=\"/assets/kbrel.js\" defer></script>",
    ] {
        assert!(body.contains(needle), "{path}: no {needle:?}");
    }
    // The CSP forbids inline script and style: there must be none.
    assert_eq!(
        body.matches("<script").count(),
        1,
        "{path}: only the external script"
    );
    assert!(!body.contains("<style"), "{path}: inline <style>");
    assert!(!body.contains(" style="), "{path}: style attribute");
    assert!(
        !body.contains(" on") || !has_event_handler(body),
        "{path}: inline event handler"
    );
}

/// Whether some tag carries an `on…=` attribute (outside escaped text).
fn has_event_handler(body: &str) -> bool {
    body.split('<').skip(1).any(|tag| {
        let tag = tag.split('>').next().unwrap_or("");
        tag.split_whitespace()
            .skip(1)
            .any(|attr| attr.to_ascii_lowercase().starts_with("on") && attr.contains('='))
    })
}

#[test]
fn pages_render_as_snapshots() {
    let kb = fixture();
    let (reg, index) = open(&kb);

    let home = html(&reg, &index, "");
    assert_page_basics("/", &home);
    let v11 = home.find("id=\"v-1.1.0\"").expect("1.1.0 row");
    let v10 = home.find("id=\"v-1.0.0\"").expect("1.0.0 row");
    assert!(v11 < v10, "newest version first");
    assert!(home.contains("<span class=\"tag\">latest</span>"));
    assert!(home.contains("<time datetime=\"2026-11-25T00:00:00Z\">2026-11-25</time>"));
    assert!(
        home.contains("zh</span>: 4 current, 1 outdated, 0 missing, 0 orphaned"),
        "{home}"
    );
    insta::assert_snapshot!("index", home);

    let diff = html(&reg, &index, "diff/1.0.0...1.1.0");
    assert_page_basics("/diff", &diff);
    // Word-level marks: English words, a Chinese word merged from characters, front matter.
    assert!(
        diff.contains("in English and in <ins>Simplified</ins> Chinese."),
        "{diff}"
    );
    assert!(
        diff.contains("Acme 知识库<del>介绍</del>如何安装"),
        "{diff}"
    );
    assert!(
        diff.contains("Acme 知识库<ins>说明</ins>如何安装"),
        "{diff}"
    );
    assert!(diff.contains(
        "Title: <del lang=\"en\">Introduction</del> → <ins lang=\"en\">Introduction to Acme</ins>"
    ));
    assert!(diff.contains("<h3 id=\"zh/intro.md\"><a href=\"#zh/intro.md\""));
    assert!(diff.contains("<table class=\"hunks\" lang=\"zh\">"));
    assert!(diff.contains("Renamed from <del><code>en/guide/setup.md</code></del> to <ins><code>en/guide/installation.md</code></ins>"));
    assert!(diff.contains("href=\"/diff/1.0.0...1.1.0.patch\" download"));
    // Hostile titles and bodies are escaped in the diff too.
    assert!(
        diff.contains("Hostile &lt;script&gt;window.pwned=1&lt;/script&gt; title"),
        "{diff}"
    );
    assert!(
        !diff.contains("<script>window"),
        "raw script in the diff page"
    );
    assert!(!has_event_handler(&diff));
    insta::assert_snapshot!("diff", diff);

    let swapped = html(&reg, &index, "diff/1.1.0...1.0.0");
    assert!(
        swapped.contains(
            "You asked for the changes from 1.1.0 to 1.0.0, but 1.1.0 is the newer version"
        )
    );
    assert!(swapped.contains("<h1>Changes from 1.0.0 to 1.1.0</h1>"));
    let notice: String = swapped
        .lines()
        .filter(|l| l.contains("class=\"notice\""))
        .collect();
    insta::assert_snapshot!("diff_swapped_notice", notice);

    let filtered = page(&reg, &index, "diff/1.0.0...1.1.0", "q=faq").body;
    assert_eq!(
        filtered.matches("<section class=\"doc\"").count(),
        1,
        "{filtered}"
    );
    assert!(filtered.contains("1 document match “faq”"));

    let patch = page(&reg, &index, "diff/1.0.0...1.1.0.patch", "");
    assert_eq!(
        (patch.status, patch.content_type),
        (200, "text/x-diff; charset=utf-8")
    );
    assert!(
        patch
            .body
            .starts_with("diff --git a/en/faq.md b/en/faq.md\n"),
        "{}",
        patch.body
    );
    assert!(
        patch
            .body
            .contains("+In `/var/log/acme/agent.log`, rotated every day and kept for a week.\n")
    );
    assert!(
        patch
            .body
            .contains("rename from en/guide/setup.md\nrename to en/guide/installation.md\n")
    );
    insta::assert_snapshot!("diff_patch", patch.body);

    let hostile = html(&reg, &index, "v/1.1.0/en/hostile.md");
    assert_page_basics("/v/1.1.0/en/hostile.md", &hostile);
    assert!(hostile.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"));
    assert!(hostile.contains("&lt;img src=x onerror=\"window.pwned=1\"&gt;"));
    assert!(!hostile.contains("<img"), "no image element: {hostile}");
    assert!(
        !hostile.to_ascii_lowercase().contains("href=\"javascript"),
        "{hostile}"
    );
    assert!(!has_event_handler(&hostile), "{hostile}");
    assert!(hostile.contains("<a href=\"intro.md\">a safe one</a>"));
    insta::assert_snapshot!("doc_hostile", hostile);

    let zh = html(&reg, &index, "v/1.1.0/zh/intro.md");
    assert!(zh.contains("<article class=\"markdown\" lang=\"zh\">"));
    assert!(zh.contains("hreflang=\"en\""));
    insta::assert_snapshot!("doc_zh", zh);

    let status = html(&reg, &index, "status");
    assert_page_basics("/status", &status);
    assert!(status.contains("Outdated translations (1)"));
    assert!(status.contains("<section class=\"doc\" data-nav tabindex=\"-1\" id=\"zh/faq.md\""));
    assert!(
        status.contains("rotated <ins>every day and kept for a week</ins>."),
        "{status}"
    );
    assert!(
        status.contains("+In `/var/log/acme/agent.log`, rotated every day and kept for a week.")
    );
    insta::assert_snapshot!("status", status);

    let list = html(&reg, &index, "v/1.1.0/");
    assert!(
        list.contains("<a href=\"/v/1.1.0/zh/guide/installation.md\">guide/installation.md</a>")
    );
    insta::assert_snapshot!("version", list);

    for (path, needle) in [
        ("v/9.9.9/en/intro.md", "9.9.9"),
        ("v/1.1.0/en/nope.md", "has no document “en/nope.md”"),
        ("v/1.0.0/en/guide/installation.md", "has no document"),
        ("diff/1.0.0...9.9.9", "9.9.9"),
        ("diff/nonsense", "/diff/&lt;from&gt;...&lt;to&gt;"),
        ("assets/nope.js", "no asset"),
    ] {
        let p = page(&reg, &index, path, "");
        assert_eq!(p.status, 404, "{path}");
        assert!(
            p.body.contains("<h1>Not found</h1>")
                && p.body.contains("<a href=\"/\">all versions</a>"),
            "{path}"
        );
        assert!(p.body.contains(needle), "{path}: {needle:?} in\n{}", p.body);
    }
    insta::assert_snapshot!(
        "not_found",
        page(&reg, &index, "v/1.1.0/en/<script>.md", "").body
    );
}

// ---------------------------------------------------------------------------------------------
// Over HTTP

/// A GET to `kbrel serve`, answered within 60 s.
fn get(server: &Serve, path: &str, headers: &[(&str, &str)]) -> Resp {
    request_within(server.addr, "GET", path, headers, Duration::from_secs(60))
}

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'";

#[test]
fn pages_over_http() {
    let kb = fixture();
    let server = Serve::start(&kb.registry(), &[]);
    for path in [
        "/",
        "/diff/1.0.0...1.1.0",
        "/diff/latest...1.0.0",
        "/diff/1.0.0...1.1.0?page=2&q=intro",
        "/v/1.1.0/en/hostile.md",
        "/v/1.1.0/zh/guide/installation.md",
        "/v/latest/",
        "/status",
    ] {
        let r = get(&server, path, &[("Accept", "text/html")]);
        assert_eq!(r.status, 200, "GET {path}: {}", r.utf8());
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=60"),
            "{path}"
        );
        let etag = format!("\"{}\"", sha256_hex(&r.body));
        assert_eq!(
            r.header("etag"),
            Some(etag.as_str()),
            "{path}: ETag is the body's sha256"
        );
        let again = get(&server, path, &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{path}");
        assert_page_basics(path, &r.utf8());
    }
    // Without an Accept header the home page is still HTML (it replaced the plain-text line).
    assert!(get(&server, "/", &[]).utf8().contains("<h1>acme-kb</h1>"));
    // Percent-encoded paths (Chinese, spaces) reach the document.
    let r = get(&server, "/v/1.1.0/zh/%69ntro.md", &[]);
    assert_eq!(r.status, 200);
    assert!(r.utf8().contains("说明如何安装"));

    // Assets, the patch.
    for (path, ct, needle) in [
        ("/assets/kbrel.css", "text/css; charset=utf-8", "ins.line"),
        (
            "/assets/kbrel.js",
            "text/javascript; charset=utf-8",
            "data-nav",
        ),
        (
            "/diff/1.0.0...1.1.0.patch",
            "text/x-diff; charset=utf-8",
            "diff --git a/en/faq.md b/en/faq.md",
        ),
    ] {
        let r = get(&server, path, &[]);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(ct)),
            "{path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(r.utf8().contains(needle), "{path}");
    }

    // 404s are HTML pages with links back, never cached.
    for path in [
        "/v/9.9.9/en/intro.md",
        "/v/1.1.0/en/missing.md",
        "/diff/1.0.0...2.0.0",
        "/assets/x.css",
    ] {
        let r = get(&server, path, &[("Accept", "text/html")]);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        assert!(
            r.utf8().contains("<a href=\"/\">all versions</a>"),
            "{path}"
        );
    }

    // The registry files and npm's read API are untouched.
    for (path, ct) in [
        ("/index.json", "application/json"),
        ("/v/1.1.0/manifest.json", "application/json"),
        ("/v/1.1.0/diff.json", "application/json"),
        ("/v/1.1.0/package.json", "application/json"),
        ("/acme-kb", "application/json"),
        ("/acme-kb/1.1.0", "application/json"),
        ("/acme-kb-1.1.0.tgz", "application/octet-stream"),
    ] {
        let r = get(&server, path, &[("Accept", "text/html,application/json")]);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(ct)),
            "{path}"
        );
        assert!(r.header("content-security-policy").is_none(), "{path}");
    }
    assert_eq!(get(&server, "/v/1.1.0/nope.json", &[]).status, 404);
}

// ---------------------------------------------------------------------------------------------
// 20,000 changed documents

/// A registry of two versions of `docs` documents per language, every document changed in
/// the second, written directly with the registry's types: blobs, manifests, the stored diff
/// (from `kbrel::diff::diff_docs`), package.json and the index, as `kbrel publish` lays them
/// out, minus the tarball and bundles (the viewer never reads them), the linting and the
/// per-blob fsyncs that make a real 40,000-document publish take half a minute.
fn big_registry(dir: &Path, docs: usize) -> Registry {
    use kbrel::hash::sha256_hex;
    use kbrel::manifest::{self, FileRef, IndexVersion, Manifest, TarballRef};
    let languages = vec!["en".to_string(), "zh".to_string()];
    let reg = Registry::new(dir.join("registry"));
    let write = |rel: &str, bytes: &[u8]| -> FileRef {
        let p = reg.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
        FileRef {
            path: rel.to_string(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        }
    };
    let mut index = Index::new("big-kb");
    let mut previous: Option<(
        String,
        Vec<kbrel::manifest::ManifestDoc>,
        std::collections::HashMap<String, String>,
    )> = None;
    for (version, date, edit) in [("1.0.0", DATE_1, "first"), ("1.1.0", DATE_2, "second")] {
        // Sorted by language then path, as manifests are.
        let mut mdocs = Vec::with_capacity(docs * 2);
        let mut texts = std::collections::HashMap::with_capacity(docs * 2);
        for (lang, word) in [("en", "Line"), ("zh", "第")] {
            for i in 0..docs {
                let path = format!("section-{:02}/doc-{i:05}.md", i % 50);
                let text = format!(
                    "---\ntitle: {word} {i}\n---\n\n# {word} {i}\n\nOne.\nTwo.\nThree {edit} edit of {i}.\nFour.\nFive.\n"
                );
                let sha256 = sha256_hex(text.as_bytes());
                let blob = reg.path(&kbrel::registry::blob_path(&sha256));
                std::fs::create_dir_all(blob.parent().expect("parent")).expect("mkdir");
                std::fs::write(&blob, &text).expect("write blob");
                mdocs.push(kbrel::manifest::ManifestDoc {
                    id: path.trim_end_matches(".md").to_string(),
                    lang: lang.into(),
                    key: format!("Doc{i}"),
                    aliases: Vec::new(),
                    bundled: true,
                    title: Some(format!("{word} {i}")),
                    url: None,
                    sha256: sha256.clone(),
                    size: text.len() as u64,
                    path,
                });
                texts.insert(sha256, text);
            }
        }
        mdocs.sort_by(|a, b| (a.lang != "en", &a.path).cmp(&(b.lang != "en", &b.path)));
        let published = format!("{date}T00:00:00Z");
        let empty = Vec::new();
        let no_texts = std::collections::HashMap::new();
        let (prev_version, prev_docs, prev_texts) = match &previous {
            Some((v, d, t)) => (Some(v.clone()), d, t),
            None => (None, &empty, &no_texts),
        };
        let old_text = |d: &kbrel::manifest::ManifestDoc| Ok(prev_texts[&d.sha256].clone());
        let new_text = |d: &kbrel::manifest::ManifestDoc| Ok(texts[&d.sha256].clone());
        let changes = kbrel::diff::diff_docs(&languages, prev_docs, &old_text, &mdocs, &new_text)
            .expect("diff");
        let summary = kbrel::diff::summarize(&languages, &mdocs, &changes);
        let diff = manifest::DiffFile {
            schema_version: manifest::SCHEMA_VERSION,
            name: "big-kb".into(),
            from: prev_version.clone(),
            to: version.into(),
            summary: summary.clone(),
            changes,
            assets: Vec::new(),
        };
        let man = Manifest {
            schema_version: manifest::SCHEMA_VERSION,
            name: "big-kb".into(),
            version: semver::Version::parse(version).unwrap(),
            published: published.clone(),
            previous: prev_version
                .as_deref()
                .map(|p| semver::Version::parse(p).unwrap()),
            languages: languages.clone(),
            source_language: "en".into(),
            content_digest: sha256_hex(version.as_bytes()),
            git: None,
            documents: mdocs.clone(),
            warnings: Vec::new(),
            drift: Default::default(),
            package_format: kbrel::package::FORMAT,
            assets: Vec::new(),
        };
        let package_json = format!("{{\"name\":\"big-kb\",\"version\":\"{version}\"}}\n");
        let tarball = format!("big-kb-{version}.tgz");
        index.versions.push(IndexVersion {
            version: version.parse().unwrap(),
            published,
            previous: prev_version.map(|p| p.parse().unwrap()),
            content_digest: man.content_digest.clone(),
            manifest: write(
                &kbrel::registry::manifest_path(version),
                &manifest::to_json_bytes(&man),
            ),
            diff: write(
                &kbrel::registry::diff_path(version),
                &manifest::to_json_bytes(&diff),
            ),
            package_json: write(
                &kbrel::registry::package_json_path(version),
                package_json.as_bytes(),
            ),
            tarball: TarballRef {
                path: tarball,
                sha256: sha256_hex(b""),
                size: 0,
                integrity: String::new(),
                shasum: String::new(),
                file_count: 0,
                unpacked_size: 0,
            },
            summary,
        });
        previous = Some((version.into(), mdocs, texts));
    }
    index.sequence = 2;
    index
        .dist_tags
        .insert("latest".into(), semver::Version::new(1, 1, 0));
    write(
        kbrel::registry::INDEX_FILE,
        &manifest::to_json_bytes(&index),
    );
    reg
}

#[test]
fn huge_diff_is_paginated() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t = Instant::now();
    let reg = big_registry(tmp.path(), 10_000);
    eprintln!(
        "wrote 2 versions of 20,000 documents in {:.1?}",
        t.elapsed()
    );
    let (index, _) = reg.read_index().expect("index").expect("published");
    let t = Instant::now();
    let p = page(&reg, &index, "diff/1.0.0...1.1.0", "");
    eprintln!(
        "rendered page 1 of the 20,000-document diff in {:.1?}",
        t.elapsed()
    );
    assert_eq!(p.status, 200);
    let sections = p.body.matches("<section class=\"doc\"").count();
    assert_eq!(sections, kbrel::web::PAGE_SIZE, "documents on page 1");
    assert!(sections <= 200);
    assert!(
        p.body.contains("This diff is large: 10,000 changed documents are shown 200 per page. This is page 1 of 50 (documents 1–200)."),
        "pagination notice"
    );
    assert!(
        p.body
            .contains("<a href=\"/diff/1.0.0...1.1.0?page=2\" rel=\"next\">Next page</a>")
    );
    // Both languages of each document: 20,000 changed files on 50 pages.
    assert_eq!(
        p.body
            .matches("<div class=\"side\" data-lang=\"zh\">")
            .count(),
        200
    );
    assert!(p.body.contains("<tr><th scope=\"row\" lang=\"en\">en</th><td class=\"num\">0</td><td class=\"num\">10,000</td>"));
    let t = Instant::now();
    let last = page(&reg, &index, "diff/1.0.0...1.1.0", "page=50");
    eprintln!("rendered page 50 in {:.1?}", t.elapsed());
    assert!(last.body.contains("page 50 of 50 (documents 9,801–10,000)"));
    assert!(last.body.contains("doc-09999.md"));
    let beyond = page(&reg, &index, "diff/1.0.0...1.1.0", "page=99");
    assert!(
        beyond.body.contains("page 50 of 50"),
        "a page past the end shows the last"
    );
    // Server-side filter across all pages: doc-00007 and doc-00057.
    let filtered = page(&reg, &index, "diff/1.0.0...1.1.0", "q=section-07%2Fdoc-000");
    assert!(
        filtered
            .body
            .contains("2 documents match “section-07/doc-000”"),
        "{}",
        filtered.body
    );
    assert_eq!(filtered.body.matches("<section class=\"doc\"").count(), 2);
}

// ---------------------------------------------------------------------------------------------
// In a browser

fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    require_node()?;
    let chromium = PathBuf::from("/usr/bin/chromium");
    if !chromium.exists() {
        missing("Debian chromium", "/usr/bin/chromium does not exist");
        return None;
    }
    let pw = manifest_dir().join("target/test-tools/playwright");
    if !pw
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing(
            "playwright-core",
            "target/test-tools/playwright/node_modules/playwright-core does not exist",
        );
        return None;
    }
    Some((chromium, pw))
}

/// Run `tests/web/<script>` (Playwright driving `chromium`) against `server`; it must exit 0
/// and print "<name>: all checks passed". Returns the folder its screenshots go to.
fn run_browser_script(
    script: &str,
    name: &str,
    server: &Serve,
    chromium: &Path,
    pw: &Path,
) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = root.join("target/test-artifacts/web");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new("node")
        .arg(root.join("tests/web").join(script))
        .env("BASE_URL", format!("http://{}", server.addr))
        .env("CHROMIUM", chromium)
        .env("PLAYWRIGHT_DIR", pw)
        .env("ARTIFACTS", &artifacts)
        .env("USER_DATA_DIR", profile.path())
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "tests/web/{script} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{name}: all checks passed")),
        "{stdout}"
    );
    artifacts
}

#[test]
fn pages_in_headless_chromium() {
    let Some((chromium, pw)) = browser_tools() else {
        return;
    };
    let kb = fixture();
    let server = Serve::start(&kb.registry(), &[]);
    let artifacts = run_browser_script("e2e.mjs", "e2e", &server, &chromium, &pw);
    for shot in [
        "index.png",
        "diff.png",
        "diff-en-only.png",
        "diff-filtered.png",
        "doc-hostile.png",
        "status.png",
        "not-found.png",
    ] {
        let p = artifacts.join(shot);
        assert!(
            p.metadata().is_ok_and(|m| m.len() > 1000),
            "screenshot {}",
            p.display()
        );
    }
}

/// The viewer serves a release's assets at `/v/<version>/<path>` from the registry's blobs with
/// the content type of their extension, and shows them: in headless Chromium, a document's
/// relatively linked images load on its page (naturalWidth > 0, the published pixels), and the
/// diff page shows a changed image old and new side by side, both loaded
/// (`tests/web/assets.mjs`).
#[test]
fn assets_show_in_headless_chromium() {
    let kb = crate::assets::kb_with_images();
    kb.publish(&["1.0.0", "--date", DATE_1]).success();
    let new = crate::assets::png(40, 30, 7);
    kb.write("images/arch.png", &new);
    kb.publish(&["1.1.0", "--date", DATE_2]).success();
    let server = Serve::start(&kb.registry(), &[]);
    // Over HTTP: the bytes of each version, typed, never sniffed.
    for (path, bytes) in [
        ("/v/1.1.0/images/arch.png", new.clone()),
        ("/v/1.0.0/images/arch.png", crate::assets::png(40, 30, 1)),
        (
            "/v/latest/en/guide/img/setup.png",
            crate::assets::png(16, 16, 2),
        ),
    ] {
        let r = get(&server, path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("image/png"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.body, bytes, "{path}");
    }
    let r = get(&server, "/v/1.1.0/downloads/agent.bin", &[]);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(get(&server, "/v/1.1.0/images/missing.png", &[]).status, 404);
    assert_eq!(get(&server, "/v/9.9.9/images/arch.png", &[]).status, 404);
    // The registry's own files are never shadowed.
    let m = get(&server, "/v/1.1.0/manifest.json", &[]);
    assert_eq!(m.header("content-type"), Some("application/json"));

    let Some((chromium, pw)) = browser_tools() else {
        return;
    };
    let artifacts = run_browser_script("assets.mjs", "assets", &server, &chromium, &pw);
    for shot in ["doc-image.png", "diff-assets.png"] {
        let p = artifacts.join(shot);
        assert!(
            p.metadata().is_ok_and(|m| m.len() > 500),
            "screenshot {}",
            p.display()
        );
    }
}
