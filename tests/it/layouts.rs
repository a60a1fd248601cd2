//! The layouts of the big docs frameworks and MDX (#23): `kbrel init` on a Docusaurus, a
//! Mintlify and a one-folder-per-language repository (each with an `.mdx` document using
//! imports and nested components) proposes a kbrel.toml under which `check` reports only the
//! fixture's real findings; an MDX document is published with its source unchanged; the same
//! layout is read from git; MDX bad inputs are findings naming the file and line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A copy of `tests/fixtures/layouts/<name>` in a folder called `<name>` (the package name of
/// a repository without package.json comes from its folder).
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join(name);
    copy_dir(
        &manifest_dir().join("tests/fixtures/layouts").join(name),
        &dir,
    );
    (t, dir)
}

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(kbrel().current_dir(dir).args(args))
}

/// `kbrel check --json`: (code, path as the user finds it, line) of every finding.
fn findings(dir: &Path, extra: &[&str]) -> Vec<(String, String, u64)> {
    let mut args = extra.to_vec();
    args.extend(["check", "--json"]);
    let r = in_dir(dir, &args);
    assert!(r.code == 0 || r.code == 1, "{r:?}");
    r.parse::<CheckJson>()
        .findings
        .into_iter()
        .map(|f| (f.code.to_string(), f.path, f.line as u64))
        .collect()
}

fn owned(v: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    v.iter()
        .map(|(c, p, l)| (c.to_string(), p.to_string(), *l))
        .collect()
}

#[test]
fn init_proposes_a_config_check_passes_under_in_every_layout() {
    type Expected<'a> = &'a [(&'a str, &'a str, u64)];
    let cases: [(&str, Expected); 3] = [
        ("folders", &[]),
        // The fixture's one real finding: guides/config.md has no Chinese translation.
        ("docusaurus", &[("KB006", "docs/guides/config.md", 1)]),
        ("mintlify", &[]),
    ];
    for (name, expected) in cases {
        let (_t, dir) = fixture(name);
        let config = dir.join("kbrel.toml");
        let dry = in_dir(&dir, &["init", "--dry-run"]).success();
        assert!(!config.exists(), "{name}: --dry-run wrote kbrel.toml");
        assert!(dry.stderr.contains("dry run: nothing written"), "{dry:?}");
        insta::assert_snapshot!(format!("init_{name}"), dry.stdout);

        let wrote = in_dir(&dir, &["init"]).success();
        assert!(wrote.stderr.contains("wrote"), "{wrote:?}");
        assert_eq!(fs::read_to_string(&config).unwrap(), dry.stdout, "{name}");
        let errors = expected.len(); // every expected finding is a warning
        assert!(
            wrote.stderr.contains(&format!(
                "check:     0 error(s), {errors} warning(s) under this configuration"
            )),
            "{name}: {}",
            wrote.stderr
        );

        // An existing kbrel.toml is never replaced without --force, and stays as it was.
        fs::write(&config, "# mine\n").unwrap();
        in_dir(&dir, &["init"])
            .code(2)
            .stderr_has(&["already exists", "--force"]);
        assert_eq!(fs::read_to_string(&config).unwrap(), "# mine\n");
        in_dir(&dir, &["init", "--force"]).success();
        assert_eq!(fs::read_to_string(&config).unwrap(), dry.stdout, "{name}");
        assert_eq!(
            list_files(&dir)
                .iter()
                .filter(|f| f.contains(".tmp"))
                .count(),
            0
        );

        assert_eq!(findings(&dir, &[]), owned(expected), "{name}");
        in_dir(&dir, &["check"]).success();
    }
}

#[test]
fn init_refuses_a_folder_without_documentation() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("notes.txt"), "x").unwrap();
    in_dir(t.path(), &["init"])
        .code(2)
        .stderr_has(&["found no documentation", "Docusaurus"]);
    assert!(!t.path().join("kbrel.toml").exists());
}

#[test]
fn an_mdx_document_is_published_with_its_source_unchanged() {
    let (_t, dir) = fixture("docusaurus");
    in_dir(&dir, &["init"]).success();
    in_dir(&dir, &["publish", "1.0.0", "--date", "2026-03-01"]).success();
    let manifest: kbrel::manifest::Manifest = read_as(&dir.join("releases/v/1.0.0/manifest.json"));
    let install: Vec<&kbrel::manifest::ManifestDoc> = manifest
        .documents
        .iter()
        .filter(|d| d.path == "guides/install.mdx")
        .collect();
    assert_eq!(install.len(), 2, "{manifest:#?}");
    for d in &install {
        assert_eq!(d.id, "guides/install");
        assert_eq!(d.key, "Install", "keys_from src/{{lang}}.ts declares it");
    }
    let tgz = fs::read(dir.join("releases/acme-site-docs-1.0.0.tgz")).unwrap();
    let entries = tar_entries(&tgz);
    let file = |p: &str| {
        entries
            .iter()
            .find(|(n, _, _)| n == p)
            .map(|(_, _, b)| b.clone())
            .unwrap_or_else(|| panic!("{p} not in the tarball"))
    };
    let en = fs::read(dir.join("docs/guides/install.mdx")).unwrap();
    let zh =
        fs::read(dir.join("i18n/zh/docusaurus-plugin-content-docs/current/guides/install.mdx"))
            .unwrap();
    assert_eq!(file("package/docs/en/guides/install.mdx"), en);
    assert_eq!(file("package/docs/zh/guides/install.mdx"), zh);
    // The bundle holds the source too: imports and components as written.
    let esm = String::from_utf8(file("package/dist/esm/en.js")).unwrap();
    assert!(
        esm.contains("import Tabs from '@theme/Tabs';")
            && esm.contains("<TabItem value=\\\"yarn\\\""),
        "{esm}"
    );
    // Files that are not documents never reach the tarball.
    assert!(
        !entries
            .iter()
            .any(|(n, _, _)| n.ends_with(".json") && n.contains("docs/"))
    );
}

/// `git` with no user configuration and a fixed identity and date.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "1767225600 +0000")
        .env("GIT_COMMITTER_DATE", "1767225600 +0000")
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn layouts_read_from_git_like_from_the_folder() {
    for name in ["docusaurus", "mintlify"] {
        let (_t, dir) = fixture(name);
        in_dir(&dir, &["init"]).success();
        git(&dir, &["init", "-q"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "docs"]);
        let working = findings(&dir, &[]);
        assert_eq!(findings(&dir, &["--from-git", "HEAD"]), working, "{name}");
        let keys: KeysJson = in_dir(&dir, &["keys", "--json"]).success().parse();
        let at_head: KeysJson = in_dir(&dir, &["--from-git", "HEAD", "keys", "--json"])
            .success()
            .parse();
        assert_eq!(keys, at_head, "{name}");
        assert!(keys.keys.len() >= 5, "{keys:#?}");
        // Published from git, then diffed against the working tree: nothing changed.
        in_dir(
            &dir,
            &[
                "--from-git",
                "HEAD",
                "publish",
                "1.0.0",
                "--date",
                "2026-03-01",
            ],
        )
        .success();
        in_dir(&dir, &["diff", "1.0.0", ".", "--exit-code", "--quiet"]).success();
        // A change in a translation's own folder is a change of that document.
        let zh = match name {
            "docusaurus" => "i18n/zh/docusaurus-plugin-content-docs/current/intro.md",
            _ => "zh/index.mdx",
        };
        let text = fs::read_to_string(dir.join(zh)).unwrap() + "\nMore.\n";
        fs::write(dir.join(zh), text).unwrap();
        let d = in_dir(&dir, &["diff", "1.0.0", ".", "--name-status"]).success();
        let want = match name {
            "docusaurus" => "M\tzh/intro.md",
            _ => "M\tzh/index.mdx",
        };
        assert_eq!(d.stdout.trim(), want, "{name}");
        git(&dir, &["commit", "-qam", "more"]);
        let d = in_dir(&dir, &["diff", "git:HEAD~1", "git:HEAD", "--name-status"]).success();
        assert_eq!(d.stdout.trim(), want, "{name}: diff git:A git:B");
    }
}

#[test]
fn mdx_bad_inputs_are_findings_naming_file_and_line() {
    let (_t, dir) = fixture("folders");
    in_dir(&dir, &["init"]).success();
    // Unbalanced: `<Tab>` is closed by `</Tabs>` (line 10 opens it, line 14 closes the wrong tag).
    fs::write(
        dir.join("content/en/broken.mdx"),
        "---\ntitle: B\ndescription: B\ndate: 2026-01-05\n---\n\nimport { Tabs, Tab } from './t'\n\n<Tabs>\n  <Tab label=\"a\">\n\n  text\n\n</Tabs>\n",
    )
    .unwrap();
    // A stray closing tag.
    fs::write(
        dir.join("content/zh/broken.mdx"),
        "---\ntitle: B\ndescription: B\ndate: 2026-01-05\n---\n\n文字\n\n</Note>\n",
    )
    .unwrap();
    // Invalid UTF-8 on line 7 of an .mdx file.
    let mut bytes =
        b"---\ntitle: U\ndescription: U\ndate: 2026-01-05\n---\n\nok \xff\xfe bad\n".to_vec();
    bytes.extend_from_slice(b"<Note>x</Note>\n");
    fs::write(dir.join("content/en/latin1.mdx"), &bytes).unwrap();
    fs::write(
        dir.join("content/zh/latin1.mdx"),
        "---\ntitle: U\ndescription: U\ndate: 2026-01-05\n---\n\n好\n",
    )
    .unwrap();
    let r = in_dir(&dir, &["check", "--json"]).code(1);
    let got: Vec<(String, String, u64, String)> = r
        .parse::<CheckJson>()
        .findings
        .into_iter()
        .map(|f| (f.code.to_string(), f.path, f.line as u64, f.message))
        .collect();
    let codes: Vec<(&str, &str, u64)> = got
        .iter()
        .map(|(c, p, l, _)| (c.as_str(), p.as_str(), *l))
        .collect();
    assert_eq!(
        codes,
        [
            ("KB060", "content/en/broken.mdx", 14),
            ("KB014", "content/en/latin1.mdx", 7),
            ("KB060", "content/zh/broken.mdx", 9),
            // The English document could not be read: its translation stands alone.
            ("KB006", "content/zh/latin1.mdx", 1),
        ],
        "{got:#?}"
    );
    assert!(
        got[0].3.contains("`</Tabs>`") && got[0].3.contains("`<Tab>` (line 10)"),
        "{}",
        got[0].3
    );
    assert!(got[2].3.contains("`</Note>`"), "{}", got[2].3);
    // The human output names the file and line too, and publish refuses.
    in_dir(&dir, &["check"]).code(1).stdout_has(&[
        "en/broken.mdx:14: error[KB060]",
        "en/latin1.mdx:7: error[KB014]",
    ]);
    let before = snapshot(&dir.join("releases"));
    in_dir(&dir, &["publish", "1.0.0", "--date", "2026-03-01"]).code(2);
    assert_same_tree(&before, &snapshot(&dir.join("releases")), "registry");
}

/// `[bundle] mdx = "markdown"`: the bundles (the object bundles and the `{ meta, body }`
/// bundle) hold the plain-markdown form of an `.mdx` document that imports components and
/// nests them (`Tabs` of `Tab`s holding a `Note`), mapped by configuration; `docs/` keeps
/// the source byte for byte, and `.md` documents are untouched. Without the key, the bundle
/// holds the source (`an_mdx_document_is_published_with_its_source_unchanged`).
#[test]
fn bundle_mdx_markdown_puts_the_plain_form_in_the_bundles() {
    let (_t, dir) = fixture("folders");
    in_dir(&dir, &["init"]).success();
    let cfg = fs::read_to_string(dir.join("kbrel.toml")).unwrap();
    fs::write(
        dir.join("kbrel.toml"),
        format!(
            "{cfg}\n[bundle]\nmdx = \"markdown\"\nmeta = true\n\n[bundle.mdx_components]\nNote = \"blockquote\"\nTab = \"children\"\n"
        ),
    )
    .unwrap();
    in_dir(&dir, &["publish", "1.0.0", "--date", "2026-03-01"]).success();
    let tgz = fs::read(dir.join("releases/acme-kb-1.0.0.tgz")).unwrap();
    let entries = tar_entries(&tgz);
    let file = |p: &str| {
        let b = entries
            .iter()
            .find(|(n, _, _)| n == p)
            .map(|(_, _, b)| b.clone())
            .unwrap_or_else(|| panic!("{p} not in the tarball"));
        String::from_utf8(b).unwrap()
    };
    // The value of `key` in a bundle whose entries are one per line (`  "<key>": <value>,`).
    let value = |js: &str, key: &str, after: &str| -> String {
        let line = js
            .lines()
            .find(|l| l.starts_with(&format!("  \"{key}\": ")))
            .unwrap_or_else(|| panic!("no {key} in {js}"));
        let v = line[4 + key.len() + 2..].trim_end_matches(',');
        let v = v.strip_prefix(after).unwrap_or(v);
        let end = v.rfind('"').unwrap();
        serde_json::from_str(&v[..=end]).unwrap()
    };
    let source = fs::read_to_string(dir.join("content/en/guide/setup.mdx")).unwrap();
    assert_eq!(file("package/docs/en/guide/setup.mdx"), source);
    let plain = "---\ntitle: Setup\ndescription: Setup steps\ndate: 2026-01-05\n---\n\n# Setup\n\n## macOS\n\n> Needs Homebrew.\n\n```sh\nbrew install acme\n```\n\n## Linux\n\n```sh\napt install acme\n```\n\nVersion .\n";
    let esm = file("package/dist/esm/en.js");
    assert_eq!(value(&esm, "Setup", ""), plain);
    assert!(!esm.contains("import { Tabs"), "{esm}");
    let iife = file("package/dist/iife/en.js");
    assert!(
        iife.contains(&serde_json::to_string(plain).unwrap()),
        "{iife}"
    );
    // The `{ meta, body }` bundle: the front matter parsed from the source, the plain body.
    let meta = file("package/dist/esm/en.meta.js");
    let body = value(
        &meta,
        "Setup",
        "{ meta: { \"date\": \"2026-01-05\", \"description\": \"Setup steps\", \"title\": \"Setup\" }, body: ",
    );
    let (_, after_front_matter) = plain.split_once("---\n\n").unwrap();
    assert_eq!(body, format!("\n{after_front_matter}"));
    // An `.md` document keeps its text in the bundle.
    let faq = fs::read_to_string(dir.join("content/en/faq.md")).unwrap();
    assert_eq!(value(&esm, "Faq", ""), faq);
}
