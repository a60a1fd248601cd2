//! Bundle keys: where they are declared and how they are read.
//!
//! A key names a document in a language's bundle (`docs.Slack`, `window.DocsEn.Slack`). Keys
//! come from three sources, read in this order and merged into one many-to-one map per
//! language (any number of keys per document):
//!
//! 1. `content.keys_file`: JSON `{ "<lang>": { "<key>": "<path>" } }`, paths relative to the
//!    language folder;
//! 2. `[content.keys.<lang>]` in kbrel.toml, the same shape inline;
//! 3. `content.keys_from`: the bundler entry modules a team already has (`src/{lang}.ts`),
//!    read with the grammar of [`parse_entry_module`].
//!
//! A key defined by two sources for two different paths is an error naming both; the same
//! definition twice is accepted. Front-matter `key:` fields are a fourth source, handled by
//! [`crate::content`]. Every source is read through a [`Reader`], so the key map of a git
//! revision is read at that revision, like its documents.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};

/// Where one key is declared and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDef {
    /// The document, relative to the language folder (`integrations/8.3 Slack.md`).
    pub path: String,
    /// The file that declares the key, as configured (`src/en.ts`, `keys.json`, `kbrel.toml`).
    pub source: String,
    /// 1-based line of the declaration in `source` (0 when the source has no lines to name).
    pub line: usize,
    /// Declaration order across all sources: the first key of a document is its primary key.
    #[serde(skip)]
    pub order: usize,
}

/// key → declaration, per language.
pub type KeyMap = BTreeMap<String, BTreeMap<String, KeyDef>>;

/// Reads a file named in kbrel.toml (relative to its folder): from the working tree, or from a
/// git revision. `Ok(None)`: the file does not exist.
pub type Reader<'r> = dyn Fn(&Path) -> Result<Option<Vec<u8>>> + 'r;

/// A reader of the working tree below `base`: regular files only, opened without blocking (a
/// FIFO or device in place of a key source is an error naming it, never a hang).
pub fn fs_reader(base: &Path) -> impl Fn(&Path) -> Result<Option<Vec<u8>>> + '_ {
    move |rel: &Path| {
        let path = base.join(rel);
        match crate::fsx::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }
}

fn key_error(source: &str, line: usize, message: String) -> Error {
    Error::Keys {
        path: PathBuf::from(source),
        line,
        message,
    }
}

/// Read every configured key source through `read`. `root` is the content root the documents
/// are read from (relative to kbrel.toml's folder): entry-module imports must point below it.
/// A source that does not exist is an error, except with `missing_ok` (a git revision older
/// than the source: it had no keys from it).
pub fn load(cfg: &Config, root: &Path, read: &Reader<'_>, missing_ok: bool) -> Result<KeyMap> {
    let mut map = KeyMap::new();
    let mut order = 0usize;
    let mut add = |map: &mut KeyMap, lang: &str, key: String, def: KeyDef| -> Result<()> {
        let mut def = def;
        def.order = order;
        order += 1;
        let keys = map.entry(lang.to_string()).or_default();
        match keys.get(&key) {
            Some(old) if old.path != def.path => Err(key_error(
                &def.source,
                def.line,
                format!(
                    "key `{key}` ({lang}) names `{}` here but `{}` in {}{}",
                    def.path,
                    old.path,
                    old.source,
                    line_suffix(old.line)
                ),
            )),
            Some(_) => Ok(()),
            None => {
                keys.insert(key, def);
                Ok(())
            }
        }
    };
    if let Some(file) = &cfg.content.keys_file {
        let source = file.display().to_string();
        let bytes = match read(file)? {
            Some(b) => Some(b),
            None if missing_ok => None,
            None => {
                return Err(key_error(&source, 0, "the keys file does not exist".into()));
            }
        };
        if let Some(bytes) = bytes {
            let text = String::from_utf8(bytes)
                .map_err(|_| key_error(&source, 0, "the keys file is not UTF-8".into()))?;
            for (lang, key, path, line) in parse_keys_file(&text, &source, &cfg.content.languages)?
            {
                let def = KeyDef {
                    path: check_doc_path(&path, &source, line, &key)?,
                    source: source.clone(),
                    line,
                    order: 0,
                };
                add(&mut map, &lang, key, def)?;
            }
        }
    }
    for (lang, keys) in &cfg.content.keys {
        for (key, path) in keys {
            let def = KeyDef {
                path: check_doc_path(path, "kbrel.toml", 0, key)?,
                source: "kbrel.toml".into(),
                line: 0,
                order: 0,
            };
            add(&mut map, lang, key.clone(), def)?;
        }
    }
    for pattern in &cfg.content.keys_from {
        for lang in &cfg.content.languages {
            let module = PathBuf::from(pattern.replace("{lang}", lang));
            let source = module.display().to_string();
            let bytes = match read(&module)? {
                Some(b) => b,
                None if missing_ok => continue,
                None => {
                    return Err(key_error(
                        &source,
                        0,
                        format!("the entry module of `{lang}` does not exist (content.keys_from)"),
                    ));
                }
            };
            let text = String::from_utf8(bytes)
                .map_err(|_| key_error(&source, 0, "the entry module is not UTF-8".into()))?;
            let lang_dir = lexical(&cfg.language_root(root, lang));
            for entry in parse_entry_module(&text, &source)? {
                let target = lexical(&module.parent().unwrap_or(Path::new("")).join(&entry.spec));
                let rel = target.strip_prefix(&lang_dir).ok().and_then(Path::to_str);
                let Some(rel) = rel.filter(|r| !r.is_empty()) else {
                    return Err(key_error(
                        &source,
                        entry.line,
                        format!(
                            "key `{}`: `{}` is not below the `{lang}` folder of the content root (`{}`)",
                            entry.key,
                            entry.spec,
                            lang_dir.display()
                        ),
                    ));
                };
                let def = KeyDef {
                    path: check_doc_path(rel, &source, entry.line, &entry.key)?,
                    source: source.clone(),
                    line: entry.line,
                    order: 0,
                };
                add(&mut map, lang, entry.key, def)?;
            }
        }
    }
    Ok(map)
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" line {line}")
    }
}

/// A key's document path: relative, `/`-separated, no `..`, a markdown file.
fn check_doc_path(path: &str, source: &str, line: usize, key: &str) -> Result<String> {
    let bad = |why: &str| {
        Err(key_error(
            source,
            line,
            format!("key `{key}` names `{path}`: {why}"),
        ))
    };
    if path.is_empty() {
        return bad("the path is empty");
    }
    if path.starts_with('/') || path.contains('\\') || Path::new(path).has_root() {
        return bad("the path must be relative to the language folder");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("the path leaves the language folder or has empty parts");
    }
    if path.ends_with('/') || !crate::files::is_document_name(path) {
        return bad(
            "a key must name a markdown or MDX document (`*.md`, `*.mdx`), not a folder or another file",
        );
    }
    Ok(path.to_string())
}

/// `a/./b/../c` → `a/c`, without touching the filesystem (`..` above the start is kept).
fn lexical(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// `(lang, key, path, line)` of each entry of a keys file.
fn parse_keys_file(
    text: &str,
    source: &str,
    languages: &[String],
) -> Result<Vec<(String, String, String, usize)>> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| key_error(source, e.line(), format!("not valid JSON: {e}")))?;
    let shape = "a keys file must be {\"<lang>\": {\"<key>\": \"<path>\"}}";
    let serde_json::Value::Object(langs) = value else {
        return Err(key_error(
            source,
            1,
            format!("{shape}: the top level is not an object"),
        ));
    };
    // Lines are found by the text of each quoted name, in order (JSON values carry no positions).
    let mut cursor = 0usize;
    let mut line_of = |needle: &str| -> usize {
        let quoted = serde_json::to_string(needle).expect("a string");
        match text[cursor..].find(&quoted) {
            Some(at) => {
                cursor += at + quoted.len();
                text[..cursor].matches('\n').count() + 1
            }
            None => 0,
        }
    };
    let mut out = Vec::new();
    for (lang, keys) in langs {
        let lang_line = line_of(&lang);
        if !languages.contains(&lang) {
            return Err(key_error(
                source,
                lang_line,
                format!("unknown language `{lang}` (content.languages lists {languages:?})"),
            ));
        }
        let serde_json::Value::Object(keys) = keys else {
            return Err(key_error(
                source,
                lang_line,
                format!("{shape}: `{lang}` is not an object"),
            ));
        };
        for (key, path) in keys {
            let line = line_of(&key);
            let serde_json::Value::String(path) = path else {
                return Err(key_error(
                    source,
                    line,
                    format!("{shape}: key `{key}` ({lang}) does not map to a string"),
                ));
            };
            out.push((lang.clone(), key, path, line));
        }
    }
    Ok(out)
}

/// One key an entry module declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKey {
    pub key: String,
    /// The import specifier without `?raw`, relative to the module.
    pub spec: String,
    /// 1-based line of the key's declaration (its export, else its import).
    pub line: usize,
}

/// Read the keys of a bundler entry module. The grammar, line by line:
///
/// - blank lines and lines that are a `//` comment are skipped;
/// - `import Name from "<path>.md?raw"` (or `.md`, single or double quotes, optional `;`)
///   declares key `Name` for that document, the path relative to the module;
/// - `export default { … }` (on one line or many, optional `;`) lists the keys: `Name`
///   (shorthand), `Key: Name` or `"Key": Name` (an alias of `Name`'s document), separated by
///   commas, a trailing comma allowed. Without it every import is a key.
///
/// Anything else — other imports, dynamic `import()`, re-exports, comments between tokens,
/// other statements — is an error naming the line, so a key is never dropped unnoticed.
pub fn parse_entry_module(text: &str, source: &str) -> Result<Vec<EntryKey>> {
    let mut imports: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut export: Option<(String, usize)> = None;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((n, line)) = lines.next() {
        let t = line.trim();
        if t.is_empty() || (t.starts_with("//") && !t.contains("*/")) {
            continue;
        }
        if let Some(rest) = t.strip_prefix("export default") {
            if export.is_some() {
                return Err(key_error(source, n, "a second `export default`".into()));
            }
            let mut body = rest.to_string();
            while !body.contains('}') {
                match lines.next() {
                    Some((_, more)) => {
                        body.push('\n');
                        body.push_str(more);
                    }
                    None => {
                        return Err(key_error(
                            source,
                            n,
                            "`export default {` is not closed with `}`".into(),
                        ));
                    }
                }
            }
            export = Some((body, n));
            continue;
        }
        let Some((name, spec)) = parse_import(t) else {
            let what = if t.contains("import(") {
                "a dynamic `import()`"
            } else if t.starts_with("export") {
                "a re-export or named export"
            } else if t.contains("/*") || t.contains("//") {
                "a comment between tokens"
            } else if t.starts_with("import") {
                "an import of something other than a markdown document"
            } else {
                "a statement"
            };
            return Err(key_error(
                source,
                n,
                format!(
                    "cannot read {what}: `{}` (entry modules may hold only `import Name from \"<path>.md?raw\"` lines and one `export default {{ … }}`)",
                    t.chars().take(120).collect::<String>()
                ),
            ));
        };
        if let Some((_, first)) = imports.get(&name) {
            return Err(key_error(
                source,
                n,
                format!("`{name}` is imported twice (first on line {first})"),
            ));
        }
        imports.insert(name, (spec, n));
    }
    let Some((body, line)) = export else {
        return Ok(imports
            .into_iter()
            .map(|(key, (spec, line))| EntryKey { key, spec, line })
            .collect());
    };
    let body = body.trim();
    let inner = body
        .strip_prefix('{')
        .and_then(|b| {
            let b = b.trim_end();
            let b = b.strip_suffix(';').unwrap_or(b).trim_end();
            b.strip_suffix('}')
        })
        .ok_or_else(|| {
            key_error(
                source,
                line,
                "`export default` must be followed by an object `{ Name, Key: Name }`".into(),
            )
        })?;
    let mut out = Vec::new();
    for (i, part) in inner.split(',').enumerate() {
        let at = line
            + inner
                .split(',')
                .take(i)
                .map(|p| p.matches('\n').count())
                .sum::<usize>();
        let item = part.trim();
        if item.is_empty() {
            continue;
        }
        let at = at + part[..part.find(item).unwrap_or(0)].matches('\n').count();
        let bad = |why: &str| {
            key_error(
                source,
                at,
                format!("cannot read `{item}` in `export default`: {why}"),
            )
        };
        let (key, name) = match item.split_once(':') {
            Some((k, v)) => {
                let k = k.trim();
                let key = if let Some(q) = quoted(k) {
                    q
                } else if is_plain_identifier(k) {
                    k.to_string()
                } else {
                    return Err(bad("a key must be a name or a quoted string"));
                };
                (key, v.trim().to_string())
            }
            None => (item.to_string(), item.to_string()),
        };
        if !is_plain_identifier(&name) {
            return Err(bad("the value must be the name of an imported document"));
        }
        let Some((spec, _)) = imports.get(&name) else {
            return Err(bad(&format!("`{name}` is not imported in this module")));
        };
        if out.iter().any(|e: &EntryKey| e.key == key) {
            return Err(bad(&format!("key `{key}` is listed twice")));
        }
        out.push(EntryKey {
            key,
            spec: spec.clone(),
            line: at,
        });
    }
    Ok(out)
}

/// `import Name from "x.md?raw";` → (Name, x.md).
fn parse_import(t: &str) -> Option<(String, String)> {
    let rest = t.strip_prefix("import ")?.trim_start();
    let (name, rest) = rest.split_once(char::is_whitespace)?;
    if !is_plain_identifier(name) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix("from")?.trim_start();
    let rest = rest.strip_suffix(';').unwrap_or(rest).trim_end();
    let spec = quoted(rest)?;
    let spec = spec.strip_suffix("?raw").unwrap_or(&spec).to_string();
    crate::files::is_document_name(&spec).then_some((name.to_string(), spec))
}

/// The text of `"…"` or `'…'` (no escapes inside), the whole of `s`.
fn quoted(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = s.strip_prefix(q)?.strip_suffix(q)?;
    (!inner.contains(q) && !inner.contains('\\')).then(|| inner.to_string())
}

/// An ASCII identifier as entry modules write names (`Slack`, `_x`, `$y`).
fn is_plain_identifier(s: &str) -> bool {
    crate::js::is_identifier(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_module_both_quotes_aliases_and_comments() {
        let text = "// docs\nimport Slack from \"../docs/en/integrations/8.3 Slack.md?raw\";\nimport Lark from '../docs/en/lark.md?raw'\n\nexport default {\n  Slack,\n  OldSlack: Slack,\n  \"lark-x\": Lark,\n};\n";
        let keys = parse_entry_module(text, "src/en.ts").unwrap();
        let got: Vec<(&str, &str, usize)> = keys
            .iter()
            .map(|k| (k.key.as_str(), k.spec.as_str(), k.line))
            .collect();
        assert_eq!(
            got,
            [
                ("Slack", "../docs/en/integrations/8.3 Slack.md", 6),
                ("OldSlack", "../docs/en/integrations/8.3 Slack.md", 7),
                ("lark-x", "../docs/en/lark.md", 8),
            ]
        );
    }

    #[test]
    fn entry_module_without_export_keys_every_import() {
        let keys = parse_entry_module("import B from './b.md'\nimport A from './a.md?raw'\n", "m")
            .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].key, "A");
        assert_eq!(keys[0].line, 2);
    }

    #[test]
    fn entry_module_refuses_what_it_cannot_read_with_the_line() {
        for (text, line, what) in [
            (
                "import A from './a.md'\nconst x = import('./b.md')\n",
                2,
                "dynamic",
            ),
            ("export { A } from './a.js'\n", 1, "re-export"),
            (
                "import A /* x */ from './a.md'\n",
                1,
                "comment between tokens",
            ),
            ("import A from './a.js'\n", 1, "other than a markdown"),
            (
                "import A from './a.md'\nexport default { B }\n",
                2,
                "not imported",
            ),
            (
                "import A from './a.md'\nexport default {\n A,\n A,\n}\n",
                4,
                "listed twice",
            ),
            (
                "import A from './a.md'\nimport A from './b.md'\n",
                2,
                "imported twice",
            ),
            (
                "import A from './a.md'\nexport default {\n A,\n",
                2,
                "not closed",
            ),
        ] {
            match parse_entry_module(text, "src/en.ts") {
                Err(Error::Keys {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{text}: {message}");
                    assert!(message.contains(what), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn keys_file_errors_name_the_line() {
        let langs = ["en".to_string()];
        let e =
            parse_keys_file("{\n \"en\": {\n  \"A\": 3\n }\n}", "keys.json", &langs).unwrap_err();
        assert!(matches!(e, Error::Keys { line: 3, .. }), "{e:?}");
        let e = parse_keys_file("[1]", "keys.json", &langs).unwrap_err();
        assert!(e.to_string().contains("not an object"), "{e}");
        let e = parse_keys_file("{\"fr\": {}}", "keys.json", &langs).unwrap_err();
        assert!(e.to_string().contains("unknown language `fr`"), "{e}");
    }

    #[test]
    fn doc_paths_are_checked() {
        assert!(check_doc_path("a/b.md", "s", 1, "K").is_ok());
        for bad in [
            "",
            "/etc/passwd.md",
            "../x.md",
            "a//b.md",
            "dir/",
            "a.txt",
            "a\\b.md",
        ] {
            assert!(check_doc_path(bad, "s", 1, "K").is_err(), "{bad}");
        }
    }
}
