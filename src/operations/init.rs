//! `kbrel init`: look at an existing repository and propose its `kbrel.toml`.
//!
//! Detects the layout (a Docusaurus site, a Mintlify or Starlight site, or one folder per
//! language), the languages and which one is the source, how documents pair across languages,
//! the key source (bundler entry modules or a keys file), the front-matter fields every
//! document has, the MDX components the site provides globally, and the files that are
//! neither documents nor assets; renders a commented `kbrel.toml`, checks that it parses and
//! that the content loads under it, and reports what `kbrel check` finds with it. Writing is
//! atomic and never replaces an existing file unless asked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{CONFIG_FILE, Config, Layout, Pairing};
use crate::error::{Error, InitError, Result};
use crate::findings::{Code, Severity};

/// What `init` found, and the configuration it proposes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Proposal {
    /// The npm package name (package.json's `name`, else the folder's name).
    pub name: String,
    /// `folders`, `docusaurus` or `mintlify`.
    pub layout: String,
    /// What the layout was recognised by.
    pub layout_evidence: String,
    /// `content.root`, relative to the repository (`.` for the repository itself).
    pub root: String,
    /// `[content.roots]` entries (a default locale kept at the root).
    pub roots: BTreeMap<String, String>,
    /// Languages, the source language first.
    pub languages: Vec<String>,
    /// Documents per language.
    pub documents: BTreeMap<String, usize>,
    /// `path`, `front-matter:id` or `front-matter:url`.
    pub pairing: String,
    /// Why that pairing.
    pub pairing_evidence: String,
    /// `content.keys_from` (`src/{lang}.ts`), when bundler entry modules declare keys.
    pub keys_from: Option<String>,
    /// `content.keys_file`, when a keys file exists.
    pub keys_file: Option<String>,
    /// The front-matter fields every document has (of title, description, date, url).
    pub required_fields: Vec<String>,
    /// Components MDX documents use without importing them (the site provides them).
    pub mdx_components: Vec<String>,
    /// `content.exclude` globs for files that are neither documents nor assets.
    pub exclude: Vec<String>,
    /// What `kbrel check` reports under the proposed configuration.
    pub errors: usize,
    pub warnings: usize,
    /// Those findings.
    pub findings: Vec<crate::findings::Finding>,
    /// The rendered `kbrel.toml`.
    pub toml: String,
}

/// Whether a folder name reads as a language tag (`en`, `zh`, `pt-BR`, `zh-Hans`) rather than
/// an ordinary two-letter folder (`js`, `ui`).
fn is_language_name(name: &str) -> bool {
    const NOT: [&str; 10] = ["js", "ts", "ui", "db", "io", "ci", "go", "md", "rs", "py"];
    let (base, region) = match name.split_once(['-', '_']) {
        Some((b, r)) => (b, Some(r)),
        None => (name, None),
    };
    base.len() == 2
        && base.bytes().all(|b| b.is_ascii_lowercase())
        && !NOT.contains(&base)
        && region.is_none_or(|r| {
            (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Every document below `dir` (relative, `/`-separated), leaving out dot-folders,
/// `node_modules` and the folders in `skip`.
fn documents_in(dir: &Path, skip: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Some(name) = e.file_name().to_str().map(String::from) else {
                continue;
            };
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            let path = e.path();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !skip.contains(&path) {
                    stack.push((path, child));
                }
            } else if ft.is_file() && crate::files::is_document_name(&name) {
                out.push(child);
            }
        }
    }
    out.sort();
    out
}

fn read_text(path: &Path) -> Option<String> {
    crate::fsx::read(path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// The first quoted string after `key` in a JavaScript config (`defaultLocale: 'en'`).
fn js_string_after(text: &str, key: &str) -> Option<String> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let q = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let end = rest[1..].find(q)?;
    Some(rest[1..1 + end].to_string())
}

/// The quoted strings of the array after `key` (`locales: ['en', 'zh']`).
fn js_strings_after(text: &str, key: &str) -> Vec<String> {
    let Some(at) = text.find(key) else {
        return Vec::new();
    };
    let rest = &text[at + key.len()..];
    let Some(rest) = rest.trim_start().strip_prefix(':') else {
        return Vec::new();
    };
    let Some(open) = rest.trim_start().strip_prefix('[') else {
        return Vec::new();
    };
    let body = open.split(']').next().unwrap_or("");
    body.split(',')
        .map(|s| s.trim().trim_matches(['"', '\'', '`']).to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One detected layout: its settings and, per language, its folder.
struct Found {
    layout: Layout,
    evidence: String,
    root: String,
    roots: BTreeMap<String, String>,
    /// (language, folder relative to `dir`), source first.
    folders: Vec<(String, PathBuf)>,
}

fn first_existing(dir: &Path, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|n| dir.join(n).is_file())
        .map(|n| n.to_string())
}

/// Language folders directly below `root` that hold documents, sorted, `en` first.
fn language_folders(root: &Path) -> Vec<String> {
    let mut langs: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| is_language_name(n))
        .filter(|n| !documents_in(&root.join(n), &[]).is_empty())
        .collect();
    langs.sort_by_key(|l| (l != "en", l.clone()));
    langs
}

fn detect_layout(dir: &Path) -> Result<Found> {
    let nothing = || {
        Error::from(InitError::NothingToConfigure {
            dir: dir.to_path_buf(),
        })
    };
    // Docusaurus.
    let docusaurus = first_existing(
        dir,
        &[
            "docusaurus.config.js",
            "docusaurus.config.ts",
            "docusaurus.config.mjs",
            "docusaurus.config.cjs",
        ],
    );
    if docusaurus.is_some() || (dir.join("docs").is_dir() && dir.join("i18n").is_dir()) {
        let config = docusaurus
            .as_deref()
            .and_then(|f| read_text(&dir.join(f)))
            .unwrap_or_default();
        let source = js_string_after(&config, "defaultLocale").unwrap_or_else(|| "en".into());
        let mut locales = js_strings_after(&config, "locales");
        if locales.is_empty() {
            locales = std::fs::read_dir(dir.join("i18n"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect();
            locales.sort();
        }
        let mut folders = vec![(source.clone(), dir.join("docs"))];
        for l in locales.iter().filter(|l| **l != source) {
            let f = dir
                .join("i18n")
                .join(l)
                .join("docusaurus-plugin-content-docs/current");
            if f.is_dir() {
                folders.push((l.clone(), f));
            }
        }
        let evidence = match &docusaurus {
            Some(f) => {
                format!("{f}; docs/ and i18n/<lang>/docusaurus-plugin-content-docs/current/")
            }
            None => "docs/ and i18n/".to_string(),
        };
        return Ok(Found {
            layout: Layout::Docusaurus,
            evidence,
            root: ".".into(),
            roots: BTreeMap::new(),
            folders,
        });
    }
    // Mintlify, or Starlight (src/content/docs).
    let mintlify = first_existing(dir, &["docs.json", "mint.json"]);
    let starlight = dir.join("src/content/docs").is_dir();
    if mintlify.is_some() || starlight {
        let (root_rel, evidence) = match &mintlify {
            Some(f) => (".".to_string(), format!("{f} (Mintlify)")),
            None => (
                "src/content/docs".to_string(),
                "src/content/docs/ (Starlight)".to_string(),
            ),
        };
        let root = if root_rel == "." {
            dir.to_path_buf()
        } else {
            dir.join(&root_rel)
        };
        let langs = language_folders(&root);
        let skip: Vec<PathBuf> = langs.iter().map(|l| root.join(l)).collect();
        let at_root = documents_in(&root, &skip);
        let mut roots = BTreeMap::new();
        let mut folders = Vec::new();
        // A default locale kept at the root (`index.mdx`, `quickstart.mdx` beside `zh/`).
        let root_docs = at_root.iter().filter(|p| !is_readme(p)).count();
        if root_docs > 0 && !langs.iter().any(|l| l == "en") {
            roots.insert("en".to_string(), ".".to_string());
            folders.push(("en".to_string(), root.clone()));
        }
        for l in &langs {
            folders.push((l.clone(), root.join(l)));
        }
        if folders.is_empty() {
            return Err(nothing());
        }
        return Ok(Found {
            layout: Layout::Mintlify,
            evidence,
            root: root_rel,
            roots,
            folders,
        });
    }
    // One folder per language.
    for candidate in ["content", "docs", "."] {
        let root = if candidate == "." {
            dir.to_path_buf()
        } else {
            dir.join(candidate)
        };
        let langs = language_folders(&root);
        if !langs.is_empty() {
            return Ok(Found {
                layout: Layout::Folders,
                evidence: format!(
                    "{}/<lang>/ folders: {}",
                    candidate,
                    langs
                        .iter()
                        .map(|l| format!("{l}/"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                root: candidate.to_string(),
                roots: BTreeMap::new(),
                folders: langs.iter().map(|l| (l.clone(), root.join(l))).collect(),
            });
        }
    }
    Err(nothing())
}

fn is_readme(p: &str) -> bool {
    let name = p.rsplit('/').next().unwrap_or(p).to_ascii_lowercase();
    !p.contains('/') && matches!(name.as_str(), "readme.md" | "changelog.md" | "license.md")
}

/// The top-level front-matter field names of a document (empty without front matter).
fn front_fields(text: &str) -> BTreeMap<String, String> {
    crate::content::raw_front_matter(&crate::content::normalize(text))
        .into_iter()
        .map(|(k, v)| {
            let value = v.raw.trim().trim_matches(['"', '\'']).trim().to_string();
            (k, value)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn package_name(dir: &Path, given: Option<&str>) -> String {
    if let Some(n) = given {
        return n.to_string();
    }
    let from_json = read_text(&dir.join("package.json"))
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("name")?.as_str().map(String::from))
        .filter(|n| crate::npm::validate_package_name(n).is_ok());
    if let Some(n) = from_json {
        return n;
    }
    let folder = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name()?.to_str().map(String::from))
        .unwrap_or_default()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>();
    let folder = folder.trim_matches('-').to_string();
    if crate::npm::validate_package_name(&folder).is_ok() && !folder.is_empty() {
        folder
    } else {
        "docs".into()
    }
}

/// Bundler entry modules (`src/<lang>.ts` with `import Name from "…md?raw"` lines) or a keys
/// file that declare bundle keys for every language.
fn key_source(dir: &Path, languages: &[String]) -> (Option<String>, Option<String>) {
    for pattern in [
        "src/{lang}.ts",
        "src/{lang}.js",
        "src/{lang}.mjs",
        "src/docs/{lang}.ts",
        "src/docs/{lang}.js",
        "{lang}.ts",
        "{lang}.js",
    ] {
        let all = languages.iter().all(|l| {
            let rel = pattern.replace("{lang}", l);
            read_text(&dir.join(&rel)).is_some_and(|t| {
                crate::keys::parse_entry_module(&t, &rel).is_ok_and(|keys| !keys.is_empty())
            })
        });
        if all {
            return (Some(pattern.to_string()), None);
        }
    }
    for file in ["keys.json", "kbrel-keys.json", "src/keys.json"] {
        let ok = read_text(&dir.join(file))
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .is_some_and(|o| !o.is_empty() && o.keys().all(|k| languages.contains(k)));
        if ok {
            return (None, Some(file.to_string()));
        }
    }
    (None, None)
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn toml_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Render the proposal as a commented `kbrel.toml`.
fn render(p: &Proposal) -> String {
    let mut t = String::new();
    t.push_str("# kbrel.toml, proposed by `kbrel init` from what it found in this repository.\n");
    t.push_str("# Every field is documented in the guide's configuration page; run `kbrel check` next.\n\n");
    t.push_str("[package]\n");
    t.push_str(&format!(
        "name = {}        # npm package name\n",
        toml_str(&p.name)
    ));
    t.push_str("# description = \"…\"\n# license = \"MIT\"\n# repository = \"https://github.com/acme/docs\"\n\n");
    t.push_str("[content]\n");
    t.push_str(&format!("# Found: {}.\n", p.layout_evidence));
    t.push_str(&format!("layout = {}\n", toml_str(&p.layout)));
    let root_note = match p.layout.as_str() {
        "folders" => "one folder per language below it",
        "docusaurus" => {
            "the site folder: docs/ is the source language, i18n/<lang>/docusaurus-plugin-content-docs/current/ the others"
        }
        _ => "one <lang>/ folder per language below it",
    };
    t.push_str(&format!(
        "root = {}        # {root_note}\n",
        toml_str(&p.root)
    ));
    let counts: Vec<String> = p
        .languages
        .iter()
        .map(|l| format!("{l} {}", p.documents.get(l).copied().unwrap_or(0)))
        .collect();
    t.push_str(&format!(
        "languages = {}        # the first is the source language; documents: {}\n",
        toml_list(&p.languages),
        counts.join(", ")
    ));
    t.push_str(&format!(
        "pairing = {}        # {}\n",
        toml_str(&p.pairing),
        p.pairing_evidence
    ));
    t.push_str(&format!(
        "required_fields = {}        # the front-matter fields every document has\n",
        toml_list(&p.required_fields)
    ));
    t.push_str("# base_url = \"https://docs.example.com/{lang}/\"   # absolute links under it are checked\n");
    match (&p.keys_from, &p.keys_file) {
        (Some(k), _) => t.push_str(&format!(
            "keys_from = [{}]        # bundler entry modules: import Name from \"…md?raw\" declares a bundle key\n",
            toml_str(k)
        )),
        (None, Some(f)) => t.push_str(&format!(
            "keys_file = {}        # {{\"<lang>\": {{\"<Key>\": \"<path>\"}}}}\n",
            toml_str(f)
        )),
        (None, None) => t.push_str(
            "# keys_from = [\"src/{lang}.ts\"]   # no key source found: documents are bundled under their ids\n",
        ),
    }
    if !p.exclude.is_empty() {
        t.push_str(&format!(
            "exclude = {}        # neither documents nor assets (kbrel check would report each: KB056)\n",
            toml_list(&p.exclude)
        ));
    }
    if !p.roots.is_empty() {
        t.push_str(
            "\n# The default locale is kept at the root, beside the other languages' folders.\n",
        );
        t.push_str("[content.roots]\n");
        for (l, f) in &p.roots {
            t.push_str(&format!("{l} = {}\n", toml_str(f)));
        }
    }
    if !p.mdx_components.is_empty() {
        t.push_str("\n[lint]\n");
        t.push_str(
            "# Components the MDX documents use without importing them: the site provides them.\n",
        );
        t.push_str(&format!(
            "mdx_components = {}\n",
            toml_list(&p.mdx_components)
        ));
    }
    t.push_str("\n[registry]\ndir = \"releases\"        # where `kbrel publish` writes releases\n");
    t
}

fn parse(text: &str, dir: &Path) -> Result<Config> {
    let file = dir.join(CONFIG_FILE);
    Config::parse(text, &file).map_err(|e| {
        InitError::ProposalInvalid {
            reason: e.to_string(),
            file,
        }
        .into()
    })
}

/// Look at the repository in `dir` and propose its configuration (nothing is written).
pub fn propose(dir: &Path, name: Option<&str>) -> Result<Proposal> {
    let found = detect_layout(dir)?;
    let languages: Vec<String> = found.folders.iter().map(|(l, _)| l.clone()).collect();
    // Documents per language, each folder without the other languages' folders inside it.
    let mut docs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (lang, folder) in &found.folders {
        let skip: Vec<PathBuf> = found
            .folders
            .iter()
            .filter(|(l, f)| l != lang && f.starts_with(folder))
            .map(|(_, f)| f.clone())
            .collect();
        let mut list = documents_in(folder, &skip);
        if found.roots.get(lang).is_some_and(|r| r == ".") {
            list.retain(|p| !is_readme(p));
        }
        docs.insert(lang.clone(), list);
    }
    // Front matter of every document.
    let mut fields: Vec<BTreeMap<String, String>> = Vec::new();
    let mut mdx_unimported: BTreeSet<String> = BTreeSet::new();
    for (lang, folder) in &found.folders {
        for p in &docs[lang] {
            let Some(text) = read_text(&folder.join(p)) else {
                continue;
            };
            fields.push(front_fields(&text));
            if crate::files::is_mdx_name(p) {
                let text = crate::content::normalize(&text);
                let body = crate::content::body_of(&text);
                if let Ok(a) = crate::mdx::analyse(body, 1) {
                    for u in a.components {
                        let root = u.name.split('.').next().unwrap_or(&u.name).to_string();
                        if !a.bound.contains(&root) {
                            mdx_unimported.insert(root);
                        }
                    }
                }
            }
        }
    }
    let required_fields: Vec<String> = ["title", "description", "date", "url"]
        .into_iter()
        .filter(|f| !fields.is_empty() && fields.iter().all(|m| m.contains_key(*f)))
        .map(String::from)
        .collect();
    // Pairing: shared relative paths, else front-matter ids or urls.
    let ids = |lang: &str| -> BTreeSet<String> {
        docs[lang]
            .iter()
            .map(|p| crate::files::path_id(p))
            .collect()
    };
    let source_ids = ids(&languages[0]);
    let (mut shared, mut others) = (0usize, 0usize);
    for l in &languages[1..] {
        for id in ids(l) {
            others += 1;
            shared += usize::from(source_ids.contains(&id));
        }
    }
    let share = |k: &str| fields.iter().filter(|m| m.contains_key(k)).count();
    let (pairing, pairing_evidence) = if others == 0 || shared * 2 >= others {
        (
            Pairing::Path,
            format!(
                "{shared} of {others} translated documents have the path of a document in `{}`",
                languages[0]
            ),
        )
    } else if share("id") * 10 >= fields.len() * 8 {
        (
            Pairing::FrontMatterId,
            format!(
                "only {shared} of {others} translations share a path; {} of {} documents have an `id`",
                share("id"),
                fields.len()
            ),
        )
    } else if share("url") * 10 >= fields.len() * 8 {
        (
            Pairing::FrontMatterUrl,
            format!(
                "only {shared} of {others} translations share a path; {} of {} documents have a `url`",
                share("url"),
                fields.len()
            ),
        )
    } else {
        (
            Pairing::Path,
            format!(
                "only {shared} of {others} translations share a path and few documents have an `id` or `url`: check KB006"
            ),
        )
    };
    let pairing = match pairing {
        Pairing::Path => "path",
        Pairing::FrontMatterId => "front-matter:id",
        Pairing::FrontMatterUrl => "front-matter:url",
    };
    let (keys_from, keys_file) = key_source(dir, &languages);
    let mut proposal = Proposal {
        name: package_name(dir, name),
        layout: match found.layout {
            Layout::Folders => "folders",
            Layout::Docusaurus => "docusaurus",
            Layout::Mintlify => "mintlify",
        }
        .into(),
        layout_evidence: found.evidence,
        root: found.root,
        roots: found.roots,
        documents: docs.iter().map(|(l, d)| (l.clone(), d.len())).collect(),
        languages,
        pairing: pairing.into(),
        pairing_evidence,
        keys_from,
        keys_file,
        required_fields,
        mdx_components: mdx_unimported.into_iter().collect(),
        exclude: Vec::new(),
        errors: 0,
        warnings: 0,
        findings: Vec::new(),
        toml: String::new(),
    };
    // Load once to find the files that are neither documents nor assets, and exclude them.
    let cfg = parse(&render(&proposal), dir)?;
    let kb = crate::content::load_dir(&cfg, &cfg.content_root())?;
    let mut exclude: BTreeSet<String> = BTreeSet::new();
    for f in kb.problems.iter().filter(|f| f.code == Code::IgnoredFile) {
        let rest = f.file.split_once('/').map_or(f.file.as_str(), |(_, r)| r);
        let name = rest.rsplit('/').next().unwrap_or(rest);
        match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => {
                exclude.insert(format!("**/*.{ext}"));
            }
            _ => {
                exclude.insert(rest.to_string());
            }
        }
    }
    proposal.exclude = exclude.into_iter().collect();
    // README and the like beside a default locale kept at the root are not documents.
    if proposal.roots.values().any(|r| r == ".") {
        for f in ["README.md", "CHANGELOG.md", "LICENSE.md"] {
            if dir.join(&proposal.root).join(f).is_file() {
                proposal.exclude.push(f.to_string());
            }
        }
    }
    proposal.toml = render(&proposal);
    let cfg = parse(&proposal.toml, dir)?;
    let kb = crate::content::load_dir(&cfg, &cfg.content_root())?;
    let checked = crate::lint::check(&kb, &cfg)?;
    proposal.errors = checked
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    proposal.warnings = checked.findings.len() - proposal.errors;
    proposal.findings = checked.findings;
    Ok(proposal)
}

/// Write `text` as `dir/kbrel.toml`: a temporary file beside it, synced, renamed into place;
/// an existing file is an error unless `force`.
pub fn write(dir: &Path, text: &str, force: bool) -> Result<PathBuf> {
    let path = dir.join(CONFIG_FILE);
    if !force && std::fs::symlink_metadata(&path).is_ok() {
        return Err(InitError::ConfigExists { file: path }.into());
    }
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("create a file in", dir, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    let persisted = if force {
        tmp.persist(&path).map_err(|e| e.error)
    } else {
        tmp.persist_noclobber(&path).map_err(|e| e.error)
    };
    persisted.map_err(|e| Error::io("write", &path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names() {
        for n in ["en", "zh", "pt-BR", "zh-Hans", "zh_CN"] {
            assert!(is_language_name(n), "{n}");
        }
        for n in ["js", "src", "api", "img", "e", "EN", "en-", "docs"] {
            assert!(!is_language_name(n), "{n}");
        }
    }

    #[test]
    fn docusaurus_config_strings() {
        let js = "module.exports = {\n  i18n: {\n    defaultLocale: 'en',\n    locales: ['en', \"zh\"],\n  },\n};";
        assert_eq!(js_string_after(js, "defaultLocale").as_deref(), Some("en"));
        assert_eq!(js_strings_after(js, "locales"), ["en", "zh"]);
    }
}
