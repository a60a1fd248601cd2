//! Findings over a [`KnowledgeBase`]: one stable code per rule, a file, a line, a severity.
//!
//! Errors block `publish`; warnings are reported and recorded in the version manifest.

use crate::config::Config;
use crate::content::KnowledgeBase;
use crate::error::{Error, Result};
use crate::findings::{Code, Finding, Level, Severity};

/// Every asset of `kb` and the documents that link to it (content-root paths, sorted).
pub fn asset_references(
    kb: &KnowledgeBase,
    cfg: &Config,
) -> std::collections::BTreeMap<String, Vec<String>> {
    rules::asset_references(kb, cfg)
}

/// All findings for a knowledge base, sorted (file, line, code).
pub fn lint(kb: &KnowledgeBase, cfg: &Config) -> Vec<Finding> {
    let mut out = kb.problems.clone();
    rules::run(kb, cfg, &mut out);
    out.sort();
    out.dedup();
    out
}

pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

/// The findings `check` and `publish` act on: [`lint`]'s, at the level `kbrel.toml` gives
/// their code and file (`[lint]`, `[[lint.overrides]]`), less those an inline comment
/// suppresses, plus KB016 for comments that suppress nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Sorted (file, line, code); `allow`ed and suppressed findings are not here.
    pub findings: Vec<Finding>,
    /// Findings dropped by an `allow` level.
    pub allowed: usize,
    /// Findings dropped by an inline `<!-- kbrel-disable… -->` comment.
    pub suppressed: usize,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Lint `kb` and apply the lint policy of `cfg`. A suppression comment naming no code or an
/// unknown one is an error (the file and line are named), like a bad `kbrel.toml` key.
pub fn check(kb: &KnowledgeBase, cfg: &Config) -> Result<Checked> {
    let policy = policy::Policy::new(cfg)?;
    let raw = lint(kb, cfg);
    policy::apply(kb, cfg, &policy, raw)
}

/// Levels, overrides and inline suppressions.
mod policy {
    use super::*;
    use crate::FastMap;
    use crate::error::ConfigError;

    /// One `[[lint.overrides]]` table: its path globs and its levels.
    type Override = (Vec<globset::GlobSet>, Vec<(Code, Level)>);

    pub struct Policy {
        levels: FastMap<Code, Level>,
        /// In file order: for a code, the last matching override wins.
        overrides: Vec<Override>,
    }

    impl Policy {
        pub fn new(cfg: &Config) -> Result<Policy> {
            let bad = |key: String, value: Option<&str>, message: String| {
                Error::from(ConfigError::value(
                    cfg.base_dir.join(crate::config::CONFIG_FILE),
                    key,
                    value,
                    message,
                ))
            };
            let mut levels = FastMap::default();
            let fatal = |key: String, c: Code, level: Level| {
                if c.is_fatal() && level != Level::Error {
                    Err(bad(
                        key.clone(),
                        None,
                        format!(
                            "{key}: {c} cannot be lowered: such a release could not be unpacked everywhere or read back"
                        ),
                    ))
                } else {
                    Ok(())
                }
            };
            for (code, level) in &cfg.lint.levels {
                let c = Code::parse(code).map_err(|m| {
                    bad(
                        format!("lint.{code}"),
                        Some(code),
                        format!("lint.{code}: {m}"),
                    )
                })?;
                fatal(format!("lint.{code}"), c, *level)?;
                levels.insert(c, *level);
            }
            let mut overrides = Vec::new();
            for (i, o) in cfg.lint.overrides.iter().enumerate() {
                let mut sets = Vec::new();
                for (j, p) in o.paths.iter().enumerate() {
                    sets.push(crate::config::path_glob(p, &cfg.content.languages).map_err(
                        |m| {
                            bad(
                                format!("lint.overrides[{i}].paths[{j}]"),
                                Some(p),
                                format!("lint.overrides[{i}].paths[{j}] `{p}`: {m}"),
                            )
                        },
                    )?);
                }
                let mut codes = Vec::new();
                for (field, list, level) in [
                    ("error", &o.error, Level::Error),
                    ("warn", &o.warn, Level::Warn),
                    ("allow", &o.allow, Level::Allow),
                ] {
                    for (j, code) in list.iter().enumerate() {
                        let c = Code::parse(code).map_err(|m| {
                            bad(
                                format!("lint.overrides[{i}].{field}[{j}]"),
                                Some(code),
                                format!("lint.overrides[{i}].{field}[{j}] `{code}`: {m}"),
                            )
                        })?;
                        fatal(format!("lint.overrides[{i}].{field}[{j}]"), c, level)?;
                        codes.push((c, level));
                    }
                }
                overrides.push((sets, codes));
            }
            Ok(Policy { levels, overrides })
        }

        /// The level of `code` in `file` (relative to the content root).
        pub fn level(&self, code: Code, file: &str) -> Level {
            for (sets, codes) in self.overrides.iter().rev() {
                if let Some(&(_, level)) = codes.iter().rev().find(|(c, _)| *c == code)
                    && sets.iter().any(|s| s.is_match(file))
                {
                    return level;
                }
            }
            self.levels
                .get(&code)
                .copied()
                .unwrap_or_else(|| code.default_level())
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        NextLine,
        Disable,
        Enable,
        File,
    }

    impl Kind {
        fn word(self) -> &'static str {
            match self {
                Kind::NextLine => "kbrel-disable-next-line",
                Kind::Disable => "kbrel-disable",
                Kind::Enable => "kbrel-enable",
                Kind::File => "kbrel-disable-file",
            }
        }
    }

    /// One code of one directive, and the lines it covers.
    struct Scope {
        code: Code,
        kind: Kind,
        /// The directive's line.
        line: usize,
        /// Covered lines, inclusive.
        from: usize,
        to: usize,
        used: bool,
    }

    /// The directives of one file's body: their scopes, KB016 for stray `kbrel-enable`s, and
    /// the malformed ones (`line: message`).
    fn directives(body_line: usize, body: &str) -> (Vec<Scope>, Vec<(usize, String)>) {
        let mut scopes: Vec<Scope> = Vec::new();
        let mut bad = Vec::new();
        let mut fence: Option<(char, usize)> = None;
        let total = body_line + body.lines().count();
        for (n, raw) in (body_line..).zip(body.lines()) {
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let t = raw.trim();
            // Fenced code blocks hold examples, not directives.
            if indent < 4 {
                let ch = t.chars().next().unwrap_or(' ');
                if ch == '`' || ch == '~' {
                    let run = t.chars().take_while(|&c| c == ch).count();
                    if run >= 3 {
                        match fence {
                            None => fence = Some((ch, run)),
                            Some((c, r)) if c == ch && run >= r && t[run..].trim().is_empty() => {
                                fence = None
                            }
                            _ => {}
                        }
                        continue;
                    }
                }
            }
            if fence.is_some() || indent >= 4 {
                continue;
            }
            let Some(inner) = t.strip_prefix("<!--").and_then(|r| r.strip_suffix("-->")) else {
                continue;
            };
            let inner = inner.trim();
            let mut words = inner.split_whitespace();
            let kind = match words.next() {
                Some("kbrel-disable-next-line") => Kind::NextLine,
                Some("kbrel-disable") => Kind::Disable,
                Some("kbrel-enable") => Kind::Enable,
                Some("kbrel-disable-file") => Kind::File,
                Some(w) if w.starts_with("kbrel-") => {
                    bad.push((
                        n,
                        format!(
                            "`{t}`: unknown directive `{w}` (use kbrel-disable-next-line, kbrel-disable, kbrel-enable or kbrel-disable-file)"
                        ),
                    ));
                    continue;
                }
                _ => continue,
            };
            // Codes, separated by spaces and/or commas; `--` starts a free-text reason.
            let rest: Vec<&str> = words.collect();
            let mut codes = Vec::new();
            let mut failed = false;
            for w in rest.iter().take_while(|w| **w != "--") {
                for part in w.split(',').filter(|p| !p.is_empty()) {
                    match Code::parse(part) {
                        Ok(c) => codes.push(c),
                        Err(m) => {
                            bad.push((n, format!("`{t}`: {m}")));
                            failed = true;
                        }
                    }
                }
            }
            if failed {
                continue;
            }
            if codes.is_empty() {
                bad.push((
                    n,
                    format!(
                        "`{t}` names no code: write e.g. `<!-- {} KB012 -->` (suppressing every code is not supported)",
                        kind.word()
                    ),
                ));
                continue;
            }
            for code in codes {
                match kind {
                    Kind::NextLine => scopes.push(Scope {
                        code,
                        kind,
                        line: n,
                        from: n + 1,
                        to: n + 1,
                        used: false,
                    }),
                    Kind::File => scopes.push(Scope {
                        code,
                        kind,
                        line: n,
                        from: 1,
                        to: total,
                        used: false,
                    }),
                    Kind::Disable => scopes.push(Scope {
                        code,
                        kind,
                        line: n,
                        from: n,
                        to: total,
                        used: false,
                    }),
                    Kind::Enable => {
                        let open = scopes
                            .iter_mut()
                            .rev()
                            .find(|s| s.kind == Kind::Disable && s.code == code && s.to == total);
                        match open {
                            Some(s) => s.to = n,
                            // Reported as unused: it re-enables nothing.
                            None => scopes.push(Scope {
                                code,
                                kind,
                                line: n,
                                from: 0,
                                to: 0,
                                used: false,
                            }),
                        }
                    }
                }
            }
        }
        (scopes, bad)
    }

    pub fn apply(
        kb: &KnowledgeBase,
        cfg: &Config,
        policy: &Policy,
        raw: Vec<Finding>,
    ) -> Result<Checked> {
        let mut out = Checked::default();
        let mut by_file: FastMap<String, Vec<Scope>> = FastMap::default();
        let mut malformed: Vec<(String, usize, String)> = Vec::new();
        for doc in &kb.documents {
            let body = doc.body();
            if !body.contains("kbrel-") {
                continue;
            }
            let file = doc.full_path();
            let (scopes, bad) = directives(doc.body_line, body);
            malformed.extend(bad.into_iter().map(|(l, m)| (file.clone(), l, m)));
            if !scopes.is_empty() {
                by_file.insert(file, scopes);
            }
        }
        if let Some((file, line, message)) = malformed.first() {
            let more = match malformed.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more malformed suppression comment(s))"),
            };
            return Err(Error::Content {
                path: cfg.content_root().join(file),
                message: format!("line {line}: {message}{more}"),
            });
        }
        for mut f in raw {
            let level = policy.level(f.code, &f.file);
            if level == Level::Allow {
                out.allowed += 1;
                continue;
            }
            if let Some(scopes) = by_file.get_mut(&f.file)
                && !f.code.is_fatal()
                && let Some(s) = scopes.iter_mut().find(|s| {
                    s.code == f.code && s.kind != Kind::Enable && (s.from..=s.to).contains(&f.line)
                })
            {
                s.used = true;
                out.suppressed += 1;
                continue;
            }
            f.severity = match level {
                Level::Error => Severity::Error,
                _ => Severity::Warning,
            };
            out.findings.push(f);
        }
        let mut files: Vec<(&String, &Vec<Scope>)> = by_file.iter().collect();
        files.sort_by(|a, b| a.0.cmp(b.0));
        for (file, scopes) in files {
            for s in scopes.iter().filter(|s| !s.used) {
                let level = policy.level(Code::UnusedSuppression, file);
                if level == Level::Allow {
                    out.allowed += 1;
                    continue;
                }
                let message = match s.kind {
                    Kind::Enable => format!(
                        "`kbrel-enable {}` has no `kbrel-disable {}` before it; remove it",
                        s.code, s.code
                    ),
                    Kind::NextLine => format!(
                        "`kbrel-disable-next-line {}` suppresses nothing: line {} has no {} finding; remove it",
                        s.code, s.from, s.code
                    ),
                    Kind::Disable => format!(
                        "`kbrel-disable {}` suppresses nothing (lines {}–{}); remove it",
                        s.code, s.from, s.to
                    ),
                    Kind::File => format!(
                        "`kbrel-disable-file {}` suppresses nothing: the file has no {} finding; remove it",
                        s.code, s.code
                    ),
                };
                out.findings.push(Finding {
                    file: file.clone(),
                    line: s.line,
                    code: Code::UnusedSuppression,
                    severity: if level == Level::Error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    message,
                });
            }
        }
        out.findings.sort();
        Ok(out)
    }
}

mod rules {
    use crate::{FastMap, FastSet};
    use std::borrow::Cow;
    use std::hash::Hash;

    use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
    use rayon::prelude::*;

    use super::*;
    use crate::config::Pairing;
    use crate::content::{self, Document};

    /// Everything the rules share: documents grouped per language and the lookups built once.
    struct Ctx<'a> {
        cfg: &'a Config,
        /// One entry per configured language, in configured order.
        langs: Vec<LangIndex<'a>>,
        /// Every file below the content root.
        files: FastSet<&'a str>,
        /// Files that raised KB001: their front matter (and so their fields) is not trustworthy.
        bad_front_matter: FastSet<&'a str>,
        /// `(lang, base URL)` for every configured language when `base_url` is set.
        bases: Vec<(&'a str, String)>,
        /// Files that exist but are not released (KB050).
        unreleased: FastSet<&'a str>,
        /// The asset extensions in force (KB053 for a link climbing out to one).
        asset_extensions: Vec<String>,
    }

    struct LangIndex<'a> {
        lang: &'a str,
        docs: Vec<&'a Document>,
        ids: FastSet<&'a str>,
        slugs: FastSet<&'a str>,
    }

    impl<'a> Ctx<'a> {
        fn new(kb: &'a KnowledgeBase, cfg: &'a Config) -> Ctx<'a> {
            let mut langs: Vec<LangIndex<'a>> = cfg
                .content
                .languages
                .iter()
                .map(|l| LangIndex {
                    lang: l.as_str(),
                    docs: Vec::new(),
                    ids: FastSet::default(),
                    slugs: FastSet::default(),
                })
                .collect();
            let rank: FastMap<&str, usize> = cfg
                .content
                .languages
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect();
            for doc in &kb.documents {
                let Some(&i) = rank.get(doc.lang.as_str()) else {
                    continue;
                };
                let idx = &mut langs[i];
                idx.docs.push(doc);
                idx.ids.insert(doc.id.as_str());
                if let Some(slug) = &doc.slug {
                    idx.slugs.insert(slug.as_str());
                }
            }
            let bases = match &cfg.content.base_url {
                Some(base) if !base.trim().is_empty() => cfg
                    .content
                    .languages
                    .iter()
                    .map(|l| (l.as_str(), base.trim().replace("{lang}", l)))
                    .collect(),
                _ => Vec::new(),
            };
            Ctx {
                cfg,
                langs,
                files: kb.files.iter().map(String::as_str).collect(),
                bad_front_matter: kb
                    .problems
                    .iter()
                    .filter(|f| f.code == Code::FrontMatter)
                    .map(|f| f.file.as_str())
                    .collect(),
                bases,
                unreleased: kb.unreleased.iter().map(String::as_str).collect(),
                asset_extensions: cfg.content.asset_extensions(),
            }
        }

        fn is_asset_name(&self, path: &str) -> bool {
            let name = path.rsplit('/').next().unwrap_or(path);
            name.rsplit_once('.')
                .is_some_and(|(_, e)| self.asset_extensions.contains(&e.to_ascii_lowercase()))
        }

        fn lang(&self, lang: &str) -> Option<&LangIndex<'a>> {
            self.langs.iter().find(|l| l.lang == lang)
        }

        fn has_bad_front_matter(&self, doc: &Document) -> bool {
            !self.bad_front_matter.is_empty()
                && self.bad_front_matter.contains(doc.full_path().as_str())
        }

        /// The line the document's identity comes from.
        fn id_line(&self, doc: &Document) -> usize {
            match self.cfg.content.pairing {
                Pairing::Path => 1,
                Pairing::FrontMatterId => field_line(doc, "id"),
                Pairing::FrontMatterUrl if doc.slug.is_some() => field_line(doc, "url"),
                Pairing::FrontMatterUrl => 1,
            }
        }
    }

    pub(super) fn run(kb: &KnowledgeBase, cfg: &Config, out: &mut Vec<Finding>) {
        let ctx = Ctx::new(kb, cfg);
        missing_fields(&ctx, out);
        duplicate_ids(&ctx, out);
        duplicate_keys(&ctx, out);
        duplicate_slugs(&ctx, out);
        missing_translations(&ctx, out);
        key_mismatches(&ctx, out);
        duplicate_bodies(&ctx, out);
        empty_documents(&ctx, out);
        portable_names(&ctx, out);
        portable_asset_names(kb, out);
        let per_doc: Vec<DocOut> = kb
            .documents
            .par_iter()
            .map(|doc| document_rules(&ctx, doc))
            .collect();
        let mut referenced: FastSet<&str> = FastSet::default();
        for d in &per_doc {
            referenced.extend(d.refs.iter().map(String::as_str));
        }
        unreferenced_assets(kb, &referenced, out);
        for d in per_doc {
            out.extend(d.findings);
        }
    }

    /// KB051: an asset no document links to, outside the declared `[content] assets` folders.
    fn unreferenced_assets(kb: &KnowledgeBase, referenced: &FastSet<&str>, out: &mut Vec<Finding>) {
        for a in &kb.assets {
            if !a.declared && !referenced.contains(a.path.as_str()) {
                out.push(Finding::warning(
                    Code::UnreferencedAsset,
                    &a.path,
                    1,
                    "no document links to this asset; it is released anyway (exclude it, or declare its folder in `[content] assets`)".into(),
                ));
            }
        }
    }

    /// Every asset a document links to: asset path → the documents (content-root paths) that
    /// link to it, sorted. Assets nothing links to are listed with no documents.
    pub(super) fn asset_references(
        kb: &KnowledgeBase,
        cfg: &Config,
    ) -> std::collections::BTreeMap<String, Vec<String>> {
        let ctx = Ctx::new(kb, cfg);
        let mut map: std::collections::BTreeMap<String, Vec<String>> = kb
            .assets
            .iter()
            .map(|a| (a.path.clone(), Vec::new()))
            .collect();
        let per_doc: Vec<(String, Vec<String>)> = kb
            .documents
            .par_iter()
            .map(|doc| (doc.full_path(), document_rules(&ctx, doc).refs))
            .collect();
        for (doc, refs) in per_doc {
            for r in refs {
                if let Some(v) = map.get_mut(&r) {
                    v.push(doc.clone());
                }
            }
        }
        for v in map.values_mut() {
            v.sort();
        }
        map
    }

    /// KB030: a document whose path has a name that is not portable (kbrel's own registry
    /// reader refuses `:` and `\`: a publish would brick the registry). KB031: two documents
    /// of one language whose paths are equal under case folding or NFC, each naming the other.
    fn portable_names(ctx: &Ctx, out: &mut Vec<Finding>) {
        use unicode_normalization::UnicodeNormalization;
        for l in &ctx.langs {
            let mut seen: FastMap<String, &Document> = FastMap::default();
            for doc in &l.docs {
                let full = doc.full_path();
                if let Some((seg, why)) = full
                    .split('/')
                    .find_map(|s| crate::manifest::portable_name_problem(s).map(|w| (s, w)))
                {
                    out.push(Finding::error(
                        Code::PortableName,
                        &full,
                        1,
                        format!(
                            "the name `{}` {why}; rename the file (it could not be unpacked everywhere, and kbrel would not read the release back)",
                            seg.escape_debug()
                        ),
                    ));
                }
                let folded: String = doc.path.nfc().collect::<String>().to_lowercase();
                match seen.get(&folded) {
                    Some(other) => {
                        for (a, b) in [(*doc, *other), (*other, *doc)] {
                            out.push(Finding::error(
                                Code::NameCollision,
                                &a.full_path(),
                                1,
                                format!(
                                    "`{}` and `{}` are the same name on case-insensitive or normalising file systems (macOS, Windows); rename one",
                                    a.full_path().escape_debug(),
                                    b.full_path().escape_debug()
                                ),
                            ));
                        }
                    }
                    None => {
                        seen.insert(folded, doc);
                    }
                }
            }
        }
    }

    /// KB030 for an asset too: a name kbrel's registry reader refuses (`\`, `:`, a control
    /// character…) would stop the publish only when the manifest is read back, after the
    /// whole release was built; `check` and the lint gate name it first, from the working tree
    /// and from git alike.
    fn portable_asset_names(kb: &KnowledgeBase, out: &mut Vec<Finding>) {
        for a in &kb.assets {
            if let Some((seg, why)) = (a.path.split('/'))
                .find_map(|s| crate::manifest::portable_name_problem(s).map(|w| (s, w)))
            {
                out.push(Finding::error(
                    Code::PortableName,
                    &a.path,
                    1,
                    format!(
                        "the asset name `{}` {why}; rename the file (it could not be unpacked everywhere, and kbrel would not read the release back)",
                        seg.escape_debug()
                    ),
                ));
            }
        }
    }

    /// The line of a front-matter field, or 1 when the field is absent.
    fn field_line(doc: &Document, name: &str) -> usize {
        doc.fields.get(name).map_or(1, |f| f.line)
    }

    /// Groups of two or more documents sharing a key, in document order.
    fn groups<'a, K: Hash + Eq>(
        docs: &[&'a Document],
        key: impl Fn(&'a Document) -> Option<K>,
    ) -> Vec<Vec<&'a Document>> {
        let mut index: FastMap<K, usize> =
            FastMap::with_capacity_and_hasher(docs.len(), Default::default());
        let mut all: Vec<Vec<&'a Document>> = Vec::new();
        for &doc in docs {
            let Some(k) = key(doc) else { continue };
            match index.get(&k) {
                Some(&i) => all[i].push(doc),
                None => {
                    index.insert(k, all.len());
                    all.push(vec![doc]);
                }
            }
        }
        all.retain(|g| g.len() > 1);
        all
    }

    /// For each document of a group, the first other document of the group; with
    /// `distinct_ids`, only documents with a different id count as "other" (and groups whose
    /// documents all share one id yield nothing).
    fn pairs<'a, 'g>(
        group: &'g [&'a Document],
        distinct_ids: bool,
    ) -> impl Iterator<Item = (&'a Document, &'a Document)> + 'g {
        // Linear in the group size: the first other document is the group's first, or (for
        // documents that share the first's id) the first one that differs from it.
        let first = group[0];
        let second = if distinct_ids {
            group.iter().copied().find(|d| d.id != first.id)
        } else {
            group.get(1).copied()
        };
        group.iter().filter_map(move |&doc| {
            let other_is_first = if distinct_ids {
                first.id != doc.id
            } else {
                !std::ptr::eq(doc, first)
            };
            if other_is_first {
                Some((doc, first))
            } else {
                second.map(|other| (doc, other))
            }
        })
    }

    /// KB002: a required field is missing or empty in a document whose front matter parsed.
    fn missing_fields(ctx: &Ctx, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            for &doc in &idx.docs {
                if !doc.has_front_matter || ctx.has_bad_front_matter(doc) {
                    continue;
                }
                let file = doc.full_path();
                for name in &ctx.cfg.content.required_fields {
                    match doc.fields.get(name.as_str()) {
                        None => out.push(Finding::error(
                            Code::MissingField,
                            &file,
                            1,
                            format!("missing required field `{name}`"),
                        )),
                        Some(field) => {
                            let parsed = match name.as_str() {
                                "title" => Some(&doc.title),
                                "description" => Some(&doc.description),
                                "date" => Some(&doc.date),
                                "url" => Some(&doc.url),
                                _ => None,
                            };
                            let empty = match parsed {
                                Some(value) => value.as_deref().is_none_or(|v| v.trim().is_empty()),
                                None => raw_is_empty(&field.raw),
                            };
                            if empty {
                                out.push(Finding::error(
                                    Code::MissingField,
                                    &file,
                                    field.line,
                                    format!("required field `{name}` is empty"),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether a verbatim YAML value is empty: nothing, `""`, `''`, `~`, `null`, `[]`, `{}`.
    pub(super) fn raw_is_empty(raw: &str) -> bool {
        let v = raw.trim();
        let unquoted = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
        match unquoted {
            Some(inner) => inner.trim().is_empty(),
            None => matches!(v, "" | "~" | "null" | "Null" | "NULL" | "[]" | "{}"),
        }
    }

    /// KB003: two documents in one language share an id.
    fn duplicate_ids(ctx: &Ctx, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            for group in groups(&idx.docs, |d| Some(d.id.as_str())) {
                for (doc, other) in pairs(&group, false) {
                    out.push(Finding::error(
                        Code::DuplicateId,
                        &doc.full_path(),
                        ctx.id_line(doc),
                        format!("id `{}` is also used by `{}`", doc.id, other.full_path()),
                    ));
                }
            }
        }
    }

    /// KB004: two different documents (different ids) in one language share a bundle key.
    fn duplicate_keys(ctx: &Ctx, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            for group in groups(&idx.docs, |d| Some(d.key.as_str())) {
                for (doc, other) in pairs(&group, true) {
                    let line = match doc.fields.get("key") {
                        Some(f) => f.line,
                        None => ctx.id_line(doc),
                    };
                    out.push(Finding::error(
                        Code::DuplicateKey,
                        &doc.full_path(),
                        line,
                        format!(
                            "bundle key `{}` is also used by `{}` (id `{}`)",
                            doc.key,
                            other.full_path(),
                            other.id
                        ),
                    ));
                }
            }
            // A document's other keys (aliases) share the bundle with every key.
            if idx.docs.iter().all(|d| d.aliases.is_empty()) {
                continue;
            }
            let mut owner: FastMap<&str, &Document> = FastMap::default();
            for &doc in &idx.docs {
                owner.entry(doc.key.as_str()).or_insert(doc);
            }
            for &doc in &idx.docs {
                for alias in &doc.aliases {
                    match owner.get(alias.as_str()) {
                        Some(other) if other.id != doc.id => out.push(Finding::error(
                            Code::DuplicateKey,
                            &doc.full_path(),
                            ctx.id_line(doc),
                            format!(
                                "bundle key `{alias}` (declared for this document) is also used by `{}` (id `{}`)",
                                other.full_path(),
                                other.id
                            ),
                        )),
                        Some(_) => {}
                        None => {
                            owner.insert(alias, doc);
                        }
                    }
                }
            }
        }
    }

    /// KB005: two documents in one language share a URL slug (with `front-matter:url`
    /// pairing, the later ones were given their path ids: see `content::build`).
    fn duplicate_slugs(ctx: &Ctx, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            for group in groups(&idx.docs, |d| d.slug.as_deref()) {
                for (doc, other) in pairs(&group, false) {
                    out.push(Finding::error(
                        Code::DuplicateSlug,
                        &doc.full_path(),
                        field_line(doc, "url"),
                        format!(
                            "URL slug `{}` is also used by `{}`",
                            doc.slug.as_deref().unwrap_or_default(),
                            other.full_path()
                        ),
                    ));
                }
            }
        }
    }

    /// KB006: a document id present in one language but not in another.
    fn missing_translations(ctx: &Ctx, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            for other in ctx.langs.iter().filter(|o| o.lang != idx.lang) {
                for &doc in &idx.docs {
                    if !other.ids.contains(doc.id.as_str()) {
                        out.push(Finding::warning(
                            Code::MissingTranslation,
                            &doc.full_path(),
                            ctx.id_line(doc),
                            format!("no `{}` translation (id `{}`)", other.lang, doc.id),
                        ));
                    }
                }
            }
        }
    }

    /// KB007: one bundle key names different documents (ids) in different languages. The
    /// first language (in configured order) using the key is the reference.
    fn key_mismatches(ctx: &Ctx, out: &mut Vec<Finding>) {
        let mut reference: FastMap<&str, &Document> = FastMap::default();
        for idx in &ctx.langs {
            for &doc in &idx.docs {
                reference.entry(doc.key.as_str()).or_insert(doc);
            }
        }
        for idx in &ctx.langs {
            for &doc in &idx.docs {
                let r = reference[doc.key.as_str()];
                if r.lang != doc.lang && r.id != doc.id {
                    let line = match doc.fields.get("key") {
                        Some(f) => f.line,
                        None => ctx.id_line(doc),
                    };
                    out.push(Finding::error(
                        Code::KeyMismatch,
                        &doc.full_path(),
                        line,
                        format!(
                            "bundle key `{}` names id `{}` here but id `{}` in `{}`",
                            doc.key,
                            doc.id,
                            r.id,
                            r.full_path()
                        ),
                    ));
                }
            }
        }
    }

    /// KB008: byte-identical non-empty bodies under two different ids in one language.
    fn duplicate_bodies<'a>(ctx: &Ctx<'a>, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            // Grouped by length and CRC-32 first (cheap to hash), then by the exact bytes.
            let fingerprint = |d: &'a Document| {
                let body = d.body();
                (!body.trim().is_empty()).then(|| (body.len(), crc32fast::hash(body.as_bytes())))
            };
            let exact = groups(&idx.docs, fingerprint)
                .into_iter()
                .flat_map(|candidates| groups(&candidates, |d: &'a Document| Some(d.body())));
            for group in exact {
                for (doc, other) in pairs(&group, true) {
                    let body = doc.body();
                    let lead = &body[..body.len() - body.trim_start().len()];
                    let line = doc.body_line + lead.matches('\n').count();
                    out.push(Finding::error(
                        Code::DuplicateBody,
                        &doc.full_path(),
                        line,
                        format!(
                            "body is byte-identical to `{}` (id `{}`)",
                            other.full_path(),
                            other.id
                        ),
                    ));
                }
            }
        }
    }

    /// KB013: a parseable document whose body is empty or whitespace.
    fn empty_documents(ctx: &Ctx, out: &mut Vec<Finding>) {
        for idx in &ctx.langs {
            for &doc in &idx.docs {
                if !doc.body().trim().is_empty() || ctx.has_bad_front_matter(doc) {
                    continue;
                }
                let line = if doc.has_front_matter {
                    doc.body_line.saturating_sub(1).max(1)
                } else {
                    1
                };
                out.push(Finding::error(
                    Code::EmptyDocument,
                    &doc.full_path(),
                    line,
                    format!("document `{}` has no body", doc.id),
                ));
            }
        }
    }

    /// Maps byte offsets of the body to 1-based lines of the file.
    struct Lines {
        first: usize,
        newlines: Vec<usize>,
    }

    impl Lines {
        fn new(doc: &Document) -> Lines {
            let newlines = doc
                .body()
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect();
            Lines {
                first: doc.body_line,
                newlines,
            }
        }

        fn line(&self, offset: usize) -> usize {
            self.first + self.newlines.partition_point(|&n| n < offset)
        }
    }

    /// An HTML fragment collected from the markdown: its text and where its pieces start
    /// in the body (`(offset in text, offset in body)`, ascending).
    #[derive(Default)]
    struct Fragment {
        text: String,
        segments: Vec<(usize, usize)>,
    }

    impl Fragment {
        fn push(&mut self, text: &str, body_offset: usize) {
            self.segments.push((self.text.len(), body_offset));
            self.text.push_str(text);
        }

        fn body_offset(&self, pos: usize) -> usize {
            let i = self
                .segments
                .partition_point(|&(t, _)| t <= pos)
                .saturating_sub(1);
            match self.segments.get(i) {
                Some(&(t, b)) => b + (pos - t),
                None => pos,
            }
        }
    }

    /// What the link rules find in one document: findings, and the files its relative links
    /// and images name (relative to the content root, each once).
    #[derive(Default)]
    pub(super) struct DocOut {
        pub findings: Vec<Finding>,
        pub refs: Vec<String>,
    }

    /// KB009–KB012, KB050, KB053 for one document: links, images, HTML tags.
    fn document_rules(ctx: &Ctx, doc: &Document) -> DocOut {
        let body = doc.body();
        let mut out = DocOut::default();
        if body.is_empty() {
            return out;
        }
        let file = doc.full_path();
        let lines = Lines::new(doc);
        let mut tags: Vec<(html::Tag, usize)> = Vec::new();
        let mut block: Option<Fragment> = None;
        let opts = Options::ENABLE_TABLES
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS;
        for (event, range) in Parser::new_ext(body, opts).into_offset_iter() {
            match event {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    ..
                }) if link_type != LinkType::Email => {
                    let line = lines.line(range.start);
                    check_target(ctx, doc, &file, &dest_url, false, line, &mut out);
                }
                Event::Start(Tag::Image { dest_url, .. }) => {
                    let line = lines.line(range.start);
                    check_target(ctx, doc, &file, &dest_url, true, line, &mut out);
                }
                Event::Start(Tag::HtmlBlock) => block = Some(Fragment::default()),
                Event::End(TagEnd::HtmlBlock) => {
                    if let Some(fragment) = block.take() {
                        html_fragment(ctx, doc, &file, &lines, &fragment, &mut tags, &mut out);
                    }
                }
                Event::Html(text) | Event::InlineHtml(text) => match block.as_mut() {
                    Some(fragment) => fragment.push(&text, range.start),
                    None => {
                        let mut fragment = Fragment::default();
                        fragment.push(&text, range.start);
                        html_fragment(ctx, doc, &file, &lines, &fragment, &mut tags, &mut out);
                    }
                },
                _ => {}
            }
        }
        if let Some(fragment) = block.take() {
            html_fragment(ctx, doc, &file, &lines, &fragment, &mut tags, &mut out);
        }
        out.refs.sort();
        out.refs.dedup();
        if doc.is_mdx() {
            // JSX, not HTML: markdown-rs parses it (KB060, KB061).
            mdx_rules(ctx, doc, &file, &mut out.findings);
            return out;
        }
        // MDX-style components in markdown (`<Tabs>`, `<Note />`) are not HTML: a site's MDX
        // pipeline renders them, and their children are markdown the HTML view cannot follow.
        let html_tags = tags
            .iter()
            .filter(|(t, _)| !looks_like_component(&t.spelled))
            .map(|(t, l)| (t, *l));
        for (line, message) in html::balance(html_tags) {
            out.findings
                .push(Finding::error(Code::UnbalancedHtml, &file, line, message));
        }
        // The components are balanced on their own, read from the text as an MDX pipeline
        // reads it (indentation is not a code block there; fenced code and code spans are).
        if tags.iter().any(|(t, _)| looks_like_component(&t.spelled)) {
            let text = without_code(body);
            let components: Vec<(html::Tag, usize)> = html::tokenize(&text)
                .into_iter()
                .filter(|t| looks_like_component(&t.spelled))
                .map(|t| {
                    let line = lines.line(t.pos);
                    (t, line)
                })
                .collect();
            for (line, message) in html::balance(components.iter().map(|(t, l)| (t, *l))) {
                out.findings.push(Finding::error(
                    Code::UnbalancedHtml,
                    &file,
                    line,
                    format!("component {message}"),
                ));
            }
        }
        out
    }

    /// `body` with fenced code blocks and code spans blanked out (same length, newlines kept).
    fn without_code(body: &str) -> String {
        let mut out = String::with_capacity(body.len());
        let mut fence: Option<&str> = None;
        for line in body.split_inclusive('\n') {
            let t = line.trim_start();
            let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
            let blank = |out: &mut String, l: &str| {
                out.extend(l.chars().map(|c| if c == '\n' { '\n' } else { ' ' }))
            };
            match (fence, marker) {
                (None, Some(m)) => {
                    fence = Some(m);
                    blank(&mut out, line);
                }
                (Some(f), Some(m)) if f == m => {
                    fence = None;
                    blank(&mut out, line);
                }
                (Some(_), _) => blank(&mut out, line),
                (None, None) => {
                    let mut in_span = false;
                    for c in line.chars() {
                        if c == '`' {
                            in_span = !in_span;
                            out.push(' ');
                        } else if in_span && c != '\n' {
                            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
                        } else {
                            out.push(c);
                        }
                    }
                }
            }
        }
        out
    }

    /// A JSX component name in a markdown file: `Foo.Bar`, or capitalised with a lowercase
    /// letter (`Tabs`, `TabItem`; `DIV` stays an HTML tag written in capitals).
    fn looks_like_component(name: &str) -> bool {
        name.contains('.')
            || (name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().any(|c| c.is_ascii_lowercase()))
    }

    /// KB060 and KB061 for an MDX document.
    fn mdx_rules(ctx: &Ctx, doc: &Document, file: &str, out: &mut Vec<Finding>) {
        match crate::mdx::analyse(doc.body(), doc.body_line) {
            Err(e) => out.push(Finding::error(
                Code::MdxSyntax,
                file,
                e.line,
                format!("MDX does not parse: {}", e.message),
            )),
            Ok(a) => {
                let configured = &ctx.cfg.lint.mdx_components;
                let mut reported: FastSet<&str> = FastSet::default();
                for u in &a.components {
                    let root = u.name.split('.').next().unwrap_or(&u.name);
                    let known = a.bound.contains(root)
                        || configured.iter().any(|c| c == &u.name || c == root);
                    if !known && reported.insert(u.name.as_str()) {
                        out.push(Finding::warning(
                            Code::UnknownComponent,
                            file,
                            u.line,
                            format!(
                                "component `<{}>` is not imported by this file; import it, or list it in [lint] mdx_components if the site provides it",
                                u.name
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// Tokenize an HTML fragment: its tags (with lines) for the balance check, and the links
    /// of `<img src>` and `<a href>` checked like markdown links.
    fn html_fragment(
        ctx: &Ctx,
        doc: &Document,
        file: &str,
        lines: &Lines,
        fragment: &Fragment,
        tags: &mut Vec<(html::Tag, usize)>,
        out: &mut DocOut,
    ) {
        for tag in html::tokenize(&fragment.text) {
            let line = lines.line(fragment.body_offset(tag.pos));
            if tag.kind != html::Kind::Close {
                for attr in &tag.attrs {
                    let is_link = matches!(
                        (tag.name.as_str(), attr.name.as_str()),
                        ("img", "src") | ("a", "href")
                    );
                    if is_link {
                        let value = attr.value.replace("&amp;", "&");
                        let line = lines.line(fragment.body_offset(attr.pos));
                        check_target(ctx, doc, file, &value, tag.name == "img", line, out);
                    }
                }
            }
            tags.push((tag, line));
        }
    }

    /// Whether a URL starts with a scheme (`https:`, `mailto:`, `data:` …).
    pub(super) fn has_scheme(url: &str) -> bool {
        let Some(colon) = url.find(':') else {
            return false;
        };
        let scheme = &url[..colon];
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    }

    /// Decode `%XX` escapes; the input unchanged when they do not decode to UTF-8.
    pub(super) fn percent_decode(s: &str) -> Cow<'_, str> {
        if !s.contains('%') {
            return Cow::Borrowed(s);
        }
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
            {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        match String::from_utf8(out) {
            Ok(s) => Cow::Owned(s),
            Err(_) => Cow::Borrowed(s),
        }
    }

    fn hex_val(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }

    /// What a link target is, for the link rules.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum Target<'a> {
        /// Nothing to check: an anchor, an empty target, a non-http scheme, `//host/…`.
        Skip,
        /// `http(s)://…`
        Absolute(&'a str),
        /// A file path, fragment and query stripped, percent-decoded.
        Relative(Cow<'a, str>),
    }

    pub(super) fn classify(target: &str) -> Target<'_> {
        let t = target.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
            return Target::Skip;
        }
        if has_scheme(t) {
            let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                return Target::Absolute(t);
            }
            return Target::Skip;
        }
        let path = t.split(['#', '?']).next().unwrap_or("");
        if path.is_empty() {
            return Target::Skip;
        }
        Target::Relative(percent_decode(path))
    }

    fn check_target(
        ctx: &Ctx,
        doc: &Document,
        file: &str,
        target: &str,
        image: bool,
        line: usize,
        out: &mut DocOut,
    ) {
        let what = if image { "image" } else { "link" };
        match classify(target) {
            Target::Skip => {}
            Target::Relative(path) => match content::resolve_relative(file, &path) {
                None if image || ctx.is_asset_name(&path) => out.findings.push(Finding::error(
                    Code::AssetOutsideRoot,
                    file,
                    line,
                    format!(
                        "{what} `{target}` climbs above the content root: a release holds only what is inside it; move the file into the content root"
                    ),
                )),
                None => out.findings.push(Finding::error(
                    Code::BrokenLink,
                    file,
                    line,
                    format!("broken {what} `{target}`: it climbs above the content root"),
                )),
                Some(resolved) if ctx.unreleased.contains(resolved.as_str()) => {
                    out.findings.push(Finding::error(
                        Code::UnreleasedTarget,
                        file,
                        line,
                        format!(
                            "{what} `{target}`: `{resolved}` exists but is not released (ignored or excluded), so consumers would get a broken {what}; add its extension to `[content] asset_extensions` or its folder to `[content] assets`"
                        ),
                    ));
                }
                Some(resolved) if !ctx.files.contains(resolved.as_str()) => {
                    out.findings.push(Finding::error(
                        Code::BrokenLink,
                        file,
                        line,
                        format!("broken {what} `{target}`: `{resolved}` does not exist"),
                    ))
                }
                Some(resolved) => out.refs.push(resolved),
            },
            Target::Absolute(url) => check_absolute(ctx, doc, file, url, line, &mut out.findings),
        }
    }

    /// KB010 / KB011: absolute links under the configured docs base URL.
    fn check_absolute(
        ctx: &Ctx,
        doc: &Document,
        file: &str,
        url: &str,
        line: usize,
        out: &mut Vec<Finding>,
    ) {
        let matched = ctx
            .bases
            .iter()
            .filter(|(_, base)| {
                url.starts_with(base.as_str())
                    && (base.ends_with('/')
                        || matches!(
                            url[base.len()..].chars().next(),
                            None | Some('/' | '?' | '#')
                        ))
            })
            // The own language wins ties (a base without `{lang}`), then the longest base.
            .max_by_key(|(lang, base)| (base.len(), *lang == doc.lang));
        let Some((lang, _)) = matched else { return };
        if *lang != doc.lang {
            out.push(Finding::error(
                Code::CrossLanguageLink,
                file,
                line,
                format!(
                    "link `{url}` points into the `{lang}` site, but this document is `{}`",
                    doc.lang
                ),
            ));
            return;
        }
        let Some(slug) = content::url_slug(url, &ctx.cfg.content.languages) else {
            return;
        };
        let known = ctx
            .lang(&doc.lang)
            .is_some_and(|idx| idx.slugs.contains(slug.as_str()));
        if !known {
            out.push(Finding::error(
                Code::UnknownSlug,
                file,
                line,
                format!(
                    "link `{url}` names slug `{slug}`, which no `{}` document declares",
                    doc.lang
                ),
            ));
        }
    }

    /// A small HTML tag tokenizer and balance checker, enough for tags written in markdown.
    pub(super) mod html {
        /// Elements that never have a closing tag.
        const VOID: [&str; 14] = [
            "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
            "source", "track", "wbr",
        ];
        /// Elements whose content is raw text (tags inside are not tags).
        const RAW_TEXT: [&str; 4] = ["script", "style", "textarea", "title"];

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            Open,
            Close,
            SelfClosing,
        }

        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Attr {
            /// Lowercase.
            pub name: String,
            pub value: String,
            /// Byte offset of the attribute name in the tokenized text.
            pub pos: usize,
        }

        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Tag {
            pub kind: Kind,
            /// Lowercase.
            pub name: String,
            /// As the author wrote it (`Tabs`), for messages.
            pub spelled: String,
            /// Byte offset of `<` in the tokenized text.
            pub pos: usize,
            pub attrs: Vec<Attr>,
        }

        pub fn is_void(name: &str) -> bool {
            VOID.contains(&name)
        }

        /// The tags of an HTML fragment, in order. Comments, `<!…>`, `<?…>`, CDATA and
        /// anything that is not a well-formed tag (`a < b`, `<3`) are skipped.
        pub fn tokenize(s: &str) -> Vec<Tag> {
            let mut out = Vec::new();
            let mut i = 0;
            while let Some(off) = s[i..].find('<') {
                let start = i + off;
                let rest = &s[start..];
                let skip_to = |open: usize, close: &str| {
                    rest[open..]
                        .find(close)
                        .map_or(s.len(), |e| start + open + e + close.len())
                };
                if rest.starts_with("<!--") {
                    i = skip_to(4, "-->");
                    continue;
                }
                if rest.starts_with("<![CDATA[") {
                    i = skip_to(9, "]]>");
                    continue;
                }
                if rest.starts_with("<!") || rest.starts_with("<?") {
                    i = skip_to(2, ">");
                    continue;
                }
                match parse_tag(s, start) {
                    Some((tag, end)) => {
                        i = end;
                        if tag.kind == Kind::Open && RAW_TEXT.contains(&tag.name.as_str()) {
                            i = find_close(s, end, &tag.name);
                        }
                        out.push(tag);
                    }
                    None => i = start + 1,
                }
            }
            out
        }

        /// The offset of `</name` (case-insensitive) at or after `from`, or the end.
        fn find_close(s: &str, from: usize, name: &str) -> usize {
            let mut i = from;
            while let Some(off) = s[i..].find("</") {
                let at = i + off;
                let after = &s.as_bytes()[at + 2..];
                if after.len() >= name.len()
                    && after[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                {
                    return at;
                }
                i = at + 2;
            }
            s.len()
        }

        /// Parse the tag at `start` (`s[start] == '<'`); the tag and the offset after `>`.
        fn parse_tag(s: &str, start: usize) -> Option<(Tag, usize)> {
            let b = s.as_bytes();
            let closing = b.get(start + 1) == Some(&b'/');
            let name_start = start + if closing { 2 } else { 1 };
            let mut j = name_start;
            if !b.get(j)?.is_ascii_alphabetic() {
                return None;
            }
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'-' | b':' | b'_' | b'.'))
            {
                j += 1;
            }
            let spelled = s[name_start..j].to_string();
            let name = spelled.to_ascii_lowercase();
            let mut attrs = Vec::new();
            let ws = |c: u8| c.is_ascii_whitespace();
            loop {
                let before_ws = j;
                while j < b.len() && ws(b[j]) {
                    j += 1;
                }
                match *b.get(j)? {
                    b'>' => {
                        let kind = if closing { Kind::Close } else { Kind::Open };
                        return Some((
                            Tag {
                                kind,
                                name,
                                spelled,
                                pos: start,
                                attrs,
                            },
                            j + 1,
                        ));
                    }
                    b'/' if b.get(j + 1) == Some(&b'>') => {
                        let kind = if closing {
                            Kind::Close
                        } else {
                            Kind::SelfClosing
                        };
                        return Some((
                            Tag {
                                kind,
                                name,
                                spelled,
                                pos: start,
                                attrs,
                            },
                            j + 2,
                        ));
                    }
                    b'/' => {
                        j += 1;
                        continue;
                    }
                    _ => {}
                }
                // An attribute must be separated from what precedes it by whitespace.
                if j == before_ws {
                    return None;
                }
                let attr_start = j;
                while j < b.len()
                    && !ws(b[j])
                    && !matches!(b[j], b'=' | b'>' | b'/' | b'<' | b'"' | b'\'')
                {
                    j += 1;
                }
                if j == attr_start {
                    return None;
                }
                let attr_name = s[attr_start..j].to_ascii_lowercase();
                let mut k = j;
                while k < b.len() && ws(b[k]) {
                    k += 1;
                }
                let mut value = String::new();
                if b.get(k) == Some(&b'=') {
                    k += 1;
                    while k < b.len() && ws(b[k]) {
                        k += 1;
                    }
                    match *b.get(k)? {
                        q @ (b'"' | b'\'') => {
                            let end = s[k + 1..].find(q as char)? + k + 1;
                            value = s[k + 1..end].to_string();
                            k = end + 1;
                        }
                        _ => {
                            let v0 = k;
                            while k < b.len() && !ws(b[k]) && b[k] != b'>' {
                                k += 1;
                            }
                            if k == v0 {
                                return None;
                            }
                            value = s[v0..k].to_string();
                        }
                    }
                    j = k;
                }
                attrs.push(Attr {
                    name: attr_name,
                    value,
                    pos: attr_start,
                });
            }
        }

        /// Check that tags nest: `(line, message)` for every problem, in tag order.
        pub fn balance<'t>(
            tags: impl IntoIterator<Item = (&'t Tag, usize)>,
        ) -> Vec<(usize, String)> {
            // (lowercase name, as spelled, line)
            let mut stack: Vec<(&str, &str, usize)> = Vec::new();
            let mut out = Vec::new();
            for (tag, line) in tags {
                let name = tag.name.as_str();
                let spelled = tag.spelled.as_str();
                match tag.kind {
                    Kind::SelfClosing => {}
                    Kind::Open if is_void(name) => {}
                    Kind::Open => stack.push((name, spelled, line)),
                    Kind::Close if is_void(name) => {}
                    Kind::Close => match stack.last() {
                        None => out.push((
                            line,
                            format!("closing tag `</{spelled}>` has no matching opening tag"),
                        )),
                        Some(&(top, _, _)) if top == name => {
                            stack.pop();
                        }
                        Some(&(_, top, top_line)) => {
                            match stack.iter().rposition(|&(n, _, _)| n == name) {
                                Some(pos) => {
                                    for &(_, open, open_line) in stack[pos + 1..].iter().rev() {
                                        out.push((
                                            open_line,
                                            format!(
                                                "`<{open}>` is not closed before `</{spelled}>` on line {line}"
                                            ),
                                        ));
                                    }
                                    stack.truncate(pos);
                                }
                                None => {
                                    out.push((
                                        line,
                                        format!(
                                            "closing tag `</{spelled}>` does not match `<{top}>` opened on line {top_line}"
                                        ),
                                    ));
                                    stack.pop();
                                }
                            }
                        }
                    },
                }
            }
            for (_, open, open_line) in stack {
                out.push((open_line, format!("`<{open}>` is never closed")));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::rules::html::{self, Kind};
    use super::rules::{Target, classify, has_scheme, percent_decode, raw_is_empty};
    use super::*;
    use crate::content::{self, SourceFile};

    fn kinds(s: &str) -> Vec<(Kind, String)> {
        html::tokenize(s)
            .into_iter()
            .map(|t| (t.kind, t.name))
            .collect()
    }

    fn problems(s: &str) -> Vec<(usize, String)> {
        let tags = html::tokenize(s);
        let with_lines = tags
            .iter()
            .map(|t| (t, s[..t.pos].matches('\n').count() + 1));
        html::balance(with_lines)
    }

    #[test]
    fn tokenizer_finds_tags_and_attributes() {
        let tags =
            html::tokenize(r#"<DIV class="a b" hidden><img src='x.png' alt=hi/><br></div >"#);
        assert_eq!(tags.len(), 4);
        assert_eq!((tags[0].kind, tags[0].name.as_str()), (Kind::Open, "div"));
        assert_eq!(tags[0].attrs[0].name, "class");
        assert_eq!(tags[0].attrs[0].value, "a b");
        assert_eq!(tags[0].attrs[1].name, "hidden");
        assert_eq!(tags[1].name, "img");
        assert_eq!(tags[1].attrs[0].value, "x.png");
        // `alt=hi/>`: an unquoted value runs to `>`, so this is an open (void) tag.
        assert_eq!(tags[2].name, "br");
        assert_eq!((tags[3].kind, tags[3].name.as_str()), (Kind::Close, "div"));
        assert_eq!(tags[3].pos, 53);
    }

    #[test]
    fn tokenizer_skips_comments_declarations_and_non_tags() {
        assert_eq!(
            kinds("<!-- <div> --><!DOCTYPE html><?xml x?><![CDATA[<p>]]>a < b, <3, <-x"),
            vec![]
        );
        assert_eq!(
            kinds("<x-card/><p>"),
            vec![
                (Kind::SelfClosing, "x-card".to_string()),
                (Kind::Open, "p".to_string())
            ]
        );
        // An unterminated comment swallows the rest.
        assert_eq!(kinds("<!-- <div>"), vec![]);
        // A quote that never closes is not a tag.
        assert_eq!(kinds(r#"<a href="x>"#), vec![]);
    }

    #[test]
    fn tokenizer_treats_script_content_as_text() {
        assert_eq!(
            kinds("<script>if (a <b) { x = '</div>' }</SCRIPT><span>"),
            vec![
                (Kind::Open, "script".to_string()),
                (Kind::Close, "script".to_string()),
                (Kind::Open, "span".to_string())
            ]
        );
    }

    #[test]
    fn tokenizer_handles_multiline_tags() {
        let tags = html::tokenize("<div\n  class=\"x\"\n  id=y>");
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].attrs[1].value, "y");
        assert_eq!(tags[0].attrs[1].pos, 19);
    }

    #[test]
    fn balance_reports_misspelled_close_once() {
        assert_eq!(
            problems("<div>\ntext\n</dev>\n"),
            vec![(
                3,
                "closing tag `</dev>` does not match `<div>` opened on line 1".to_string()
            )]
        );
    }

    #[test]
    fn balance_reports_stray_and_unclosed() {
        assert_eq!(
            problems("</span>\n<section>\n<p>"),
            vec![
                (
                    1,
                    "closing tag `</span>` has no matching opening tag".to_string()
                ),
                (2, "`<section>` is never closed".to_string()),
                (3, "`<p>` is never closed".to_string()),
            ]
        );
    }

    #[test]
    fn balance_pops_to_a_deeper_match() {
        assert_eq!(
            problems("<div>\n<span>\n<b>\n</div>"),
            vec![
                (
                    3,
                    "`<b>` is not closed before `</div>` on line 4".to_string()
                ),
                (
                    2,
                    "`<span>` is not closed before `</div>` on line 4".to_string()
                ),
            ]
        );
    }

    #[test]
    fn balance_ignores_void_and_self_closing() {
        assert!(problems("<div><br><hr/><img src=a.png><input></br><x-y/></div>").is_empty());
        assert!(problems("<details>\n<summary>S</summary>\n</details>").is_empty());
    }

    #[test]
    fn link_targets_are_classified() {
        assert_eq!(classify(""), Target::Skip);
        assert_eq!(classify("#anchor"), Target::Skip);
        assert_eq!(classify("//cdn.x.com/a.js"), Target::Skip);
        assert_eq!(classify("mailto:a@b.c"), Target::Skip);
        assert_eq!(classify("data:image/png;base64,xx"), Target::Skip);
        assert_eq!(classify("?tab=1"), Target::Skip);
        assert_eq!(
            classify("HTTPS://x.com/a"),
            Target::Absolute("HTTPS://x.com/a")
        );
        assert_eq!(
            classify("../a%20b.md?x=1#top"),
            Target::Relative("../a b.md".into())
        );
        assert_eq!(classify("a.md#x"), Target::Relative("a.md".into()));
        assert!(has_scheme("tel:+1"));
        assert!(!has_scheme("a/b:c"));
        assert!(!has_scheme("1x:y"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("%E4%B8%AD.md"), "中.md");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        // Not UTF-8 once decoded: left as written.
        assert_eq!(percent_decode("%ff"), "%ff");
    }

    #[test]
    fn empty_raw_values() {
        for v in ["", "  ", "\"\"", "''", "' '", "~", "null", "[]", "{}"] {
            assert!(raw_is_empty(v), "{v:?}");
        }
        for v in ["a", "\"a\"", "0", "- x"] {
            assert!(!raw_is_empty(v), "{v:?}");
        }
    }

    fn front(id: &str, lang: &str) -> String {
        format!(
            "---\ntitle: T\ndescription: D\ndate: 2026-01-01\nurl: https://kbrel.dev/{lang}/{id}\n---\n"
        )
    }

    /// The findings of `en/a.md` made of `body` (with front matter) and a plain `zh/a.md`.
    fn run_en_page(body: &str) -> Vec<(Code, String, usize)> {
        let a = front("a", "en") + body;
        let za = front("a", "zh") + "za\n";
        run(&[("en/a.md", a), ("zh/a.md", za)], &[])
    }

    /// [`run_en_page`] with a plain `b.md` in both languages too, and `extra` files.
    fn run_en_pages(body: &str, extra: &[&str]) -> Vec<(Code, String, usize)> {
        let a = front("a", "en") + body;
        let b = front("b", "en") + "b\n";
        let za = front("a", "zh") + "za\n";
        let zb = front("b", "zh") + "zb\n";
        let files = [
            ("en/a.md", a),
            ("en/b.md", b),
            ("zh/a.md", za),
            ("zh/b.md", zb),
        ];
        run(&files, extra)
    }

    /// Findings in `en/a.md`: `(code, line)` as [`run`] returns them.
    fn in_en_a(found: &[(Code, usize)]) -> Vec<(Code, String, usize)> {
        found
            .iter()
            .map(|(code, line)| (*code, "en/a.md".to_string(), *line))
            .collect()
    }

    /// The knowledge base of `files` (content path, text) under `cfg`; `extra` names more
    /// files that exist (assets).
    fn build_kb(cfg: &Config, files: &[(&str, String)], extra: &[&str]) -> KnowledgeBase {
        let sources: Vec<SourceFile> = files
            .iter()
            .map(|(p, t)| SourceFile {
                path: p.to_string(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect();
        let mut all: BTreeSet<String> = files.iter().map(|(p, _)| p.to_string()).collect();
        all.extend(extra.iter().map(|s| s.to_string()));
        content::build(cfg, sources, all, &Default::default()).unwrap()
    }

    fn run(files: &[(&str, String)], extra: &[&str]) -> Vec<(Code, String, usize)> {
        let mut cfg = Config::default_for("t", Path::new("."));
        cfg.content.base_url = Some("https://kbrel.dev/{lang}/".into());
        let kb = build_kb(&cfg, files, extra);
        lint(&kb, &cfg)
            .into_iter()
            .map(|f| {
                assert!(!f.message.is_empty());
                (f.code, f.file, f.line)
            })
            .collect()
    }

    #[test]
    fn links_in_code_are_ignored_and_lines_are_file_lines() {
        let body = "\n# A\n\n`[x](nope.md)`\n\n```md\n[x](nope.md)\n<div>\n```\n\n    [x](nope.md)\n\n[ok](b.md) ![i](img/x.png)\n[bad](c.md)\n\n[ref]: missing.md\n[r][ref]\n";
        let found = run_en_pages(body, &["en/img/x.png"]);
        // Front matter is 6 lines; the body starts on line 7.
        assert_eq!(
            found,
            in_en_a(&[(Code::BrokenLink, 20), (Code::BrokenLink, 23)])
        );
    }

    #[test]
    fn html_across_blocks_and_html_links() {
        let body = "\n<details>\n<summary>S</summary>\n\n**md** <a href=\"gone.md\">x</a>\n\n</details>\n\n<div class=\"x\">\n<img\n  src=\"nope.png\">\n\n</dev>\n";
        let found = run_en_page(body);
        assert_eq!(
            found,
            in_en_a(&[
                (Code::BrokenLink, 11),
                (Code::BrokenLink, 17),
                (Code::UnbalancedHtml, 19),
            ])
        );
    }

    #[test]
    fn absolute_docs_links() {
        let body = "[ok](https://kbrel.dev/en/b#x)\n[home](https://kbrel.dev/en/)\n[gone](https://kbrel.dev/en/nope)\n[zh](https://kbrel.dev/zh/b)\n[other](https://example.com/en/x)\n";
        let found = run_en_pages(body, &[]);
        assert_eq!(
            found,
            in_en_a(&[(Code::UnknownSlug, 9), (Code::CrossLanguageLink, 10)])
        );
    }

    #[test]
    fn components_in_markdown_are_not_html() {
        // A Docusaurus page written as .md: indented tab content is not a code block to the
        // site, and the components are not HTML tags; a real HTML mistake is still reported.
        // (`    </Note>` after a blank line is an indented code block to CommonMark.)
        let body = "\n<Tabs>\n  <Tab title=\"A\">\n    <Note>\n\n      Inner.\n\n    </Note>\n  </Tab>\n</Tabs>\n\n<Note />\n\n<div>\n</dev>\n";
        let found = run_en_page(body);
        assert_eq!(found, in_en_a(&[(Code::UnbalancedHtml, 21)]));
    }

    #[test]
    fn mdx_components_balanced_imported_or_configured() {
        let ok = "import Tabs from '@theme/Tabs'\nimport { TabItem } from '@theme/TabItem'\n\n# Setup\n\n<Tabs>\n  <TabItem value=\"npm\">\n\n  [next](b.mdx)\n\n  </TabItem>\n</Tabs>\n\n<Note>Global.</Note>\n\n<Badge />\n";
        let unbalanced = "# Setup\n\n<Tabs>\n  <TabItem value=\"npm\">\n\n  text\n\n</Tabs>\n";
        let stray = "# Setup\n\ntext\n\n</Note>\n";
        let files = [
            ("en/a.mdx", front("a", "en") + ok),
            ("en/b.mdx", front("b", "en") + unbalanced),
            ("en/c.mdx", front("c", "en") + stray),
            ("zh/a.md", front("a", "zh") + "za\n"),
            ("zh/b.md", front("b", "zh") + "zb\n"),
            ("zh/c.md", front("c", "zh") + "zc\n"),
        ];
        let mut cfg = Config::default_for("t", Path::new("."));
        cfg.lint.mdx_components = vec!["Note".into()];
        let kb = build_kb(&cfg, &files, &[]);
        // x.md in zh pairs with x.mdx in en: no missing translation.
        let ids: Vec<(&str, &str)> = kb
            .documents
            .iter()
            .map(|d| (d.lang.as_str(), d.id.as_str()))
            .collect();
        assert!(
            ids.contains(&("en", "a")) && ids.contains(&("zh", "a")),
            "{ids:?}"
        );
        let found: Vec<(Code, String, usize, String)> = lint(&kb, &cfg)
            .into_iter()
            .filter(|f| f.code != Code::MissingField)
            .map(|f| (f.code, f.file, f.line, f.message))
            .collect();
        let codes: Vec<(Code, &str, usize)> = found
            .iter()
            .map(|(c, f, l, _)| (*c, f.as_str(), *l))
            .collect();
        // Front matter is 6 lines: the body starts on line 7.
        assert_eq!(
            codes,
            vec![
                (Code::UnknownComponent, "en/a.mdx", 22),
                (Code::MdxSyntax, "en/b.mdx", 14),
                (Code::MdxSyntax, "en/c.mdx", 11),
            ],
            "{found:#?}"
        );
        assert!(found[0].3.contains("`<Badge>`"), "{}", found[0].3);
        assert!(found[1].3.contains("TabItem"), "{}", found[1].3);
    }

    fn checked(en_body: &str, lint_toml: &str) -> Result<Checked> {
        let toml = format!(
            "[package]\nname = \"t\"\n[content]\nbase_url = \"https://kbrel.dev/{{lang}}/\"\n{lint_toml}"
        );
        let cfg = Config::parse(&toml, Path::new("kbrel.toml")).unwrap();
        let files = [
            ("en/a.md", front("a", "en") + en_body),
            ("zh/a.md", front("a", "zh") + "za\n"),
        ];
        let kb = build_kb(&cfg, &files, &[]);
        check(&kb, &cfg)
    }

    fn summary(c: &Checked) -> Vec<(Code, usize, Severity)> {
        c.findings
            .iter()
            .map(|f| (f.code, f.line, f.severity))
            .collect()
    }

    #[test]
    fn suppression_scopes_and_unused_directives() {
        // Front matter is 6 lines; the body starts on line 7.
        let body = "\n<!-- kbrel-disable-next-line KB009 -->\n[x](gone.md)\n[y](gone.md)\n\n<!-- kbrel-disable KB012, KB009 -- legacy -->\n<div>\n</dev>\n<!-- kbrel-enable KB012 -->\n</dev>\n\n```md\n<!-- kbrel-disable KB999 -->\n```\n<!-- kbrel-enable KB011 -->\n";
        let c = checked(body, "").unwrap();
        assert_eq!(
            summary(&c),
            vec![
                (Code::BrokenLink, 10, Severity::Error),
                // KB009 is disabled from line 12 to the end, where there is none.
                (Code::UnusedSuppression, 12, Severity::Warning),
                (Code::UnbalancedHtml, 16, Severity::Error),
                // An enable without a disable.
                (Code::UnusedSuppression, 21, Severity::Warning),
            ]
        );
        assert_eq!((c.suppressed, c.allowed), (2, 0));
    }

    #[test]
    fn levels_overrides_last_wins_and_malformed_directives() {
        let body = "\n[gone](https://kbrel.dev/en/nope)\n";
        let c = checked(body, "[lint]\nKB010 = \"warn\"\n").unwrap();
        assert_eq!(summary(&c), vec![(Code::UnknownSlug, 8, Severity::Warning)]);
        let c = checked(
            body,
            "[[lint.overrides]]\npaths = [\"**\"]\nallow = [\"KB010\"]\n[[lint.overrides]]\npaths = [\"{lang}/a.md\"]\nerror = [\"KB010\"]\n",
        )
        .unwrap();
        assert_eq!(summary(&c), vec![(Code::UnknownSlug, 8, Severity::Error)]);
        let c = checked(
            body,
            "[[lint.overrides]]\npaths = [\"zh/**\"]\nallow = [\"KB010\"]\n",
        )
        .unwrap();
        assert_eq!(c.findings.len(), 1);
        let c = checked(
            body,
            "[[lint.overrides]]\npaths = [\"en/*.md\"]\nallow = [\"KB010\"]\n",
        )
        .unwrap();
        assert_eq!((c.findings.len(), c.allowed), (0, 1));
        let err = checked("\n<!-- kbrel-disable-next-line -->\nx\n", "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("en/a.md") && err.contains("line 8") && err.contains("names no code"),
            "{err}"
        );
        let err = checked("\n<!-- kbrel-disable KB09 -->\n", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("KB09"), "{err}");
        let err = checked("", "[lint]\nKB099 = \"warn\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lint.KB099"), "{err}");
        let err = checked("", "[lint]\nKB030 = \"allow\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lint.KB030") && err.contains("cannot be lowered"),
            "{err}"
        );
    }
}
