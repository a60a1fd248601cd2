//! The only module that prints. Data goes to stdout, messages to stderr. A closed stdout
//! (`kbrel … | head`) is not an error.

use std::fmt::Write as _;
use std::io::Write;

use kbrel::diff::sections::{self, SectionStatus};
use kbrel::diff::{FileChange, patch, word};
use kbrel::error::CoreError;
use kbrel::findings::{Finding, Severity};
use kbrel::manifest::{ChangeStatus, DiffFile};
use kbrel::publish::{Outcome, PublishReport};
use kbrel::registry::Registry;
use serde::Serialize;

/// Write to stdout, treating a broken pipe as success.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    emit(&s)
}

/// Escape control characters in untrusted text before it reaches a terminal.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            // Control characters, and bidirectional overrides/isolates that could make a
            // terminal show a name other than the real one.
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
            if (c.is_control() && c != '\n' && c != '\t') || bidi {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A name (a file, a path, a tag) from untrusted input, for one line of output: like
/// [`sanitize`], and newlines and tabs escaped too, so a name can never start a line of its
/// own (a forged finding or log line) or shift a tab-separated column.
pub fn name(s: &str) -> String {
    sanitize(s).replace('\n', "\\u{a}").replace('\t', "\\u{9}")
}

pub fn error(err: &anyhow::Error) {
    let mut s = format!("error: {}\n", sanitize(&err.to_string()));
    for cause in err.chain().skip(1) {
        let _ = writeln!(s, "  caused by: {}", sanitize(&cause.to_string()));
    }
    if let Some(k) = core_error(err) {
        if let CoreError::LintFailed { findings, .. } = k {
            for f in findings.iter().filter(|f| f.severity == Severity::Error) {
                s.push_str(&finding_line(f));
            }
        }
        if let CoreError::VersionConflict { detail, .. } = k {
            let _ = writeln!(s, "  differences: {}", sanitize(detail));
        }
    }
    let hint = match err.downcast_ref::<kbrel::Error>() {
        Some(k) => k.hint(),
        None => err.downcast_ref::<CoreError>().and_then(CoreError::hint),
    };
    if let Some(h) = hint {
        let _ = writeln!(s, "hint: {h}");
    }
    eprint!("{s}");
}

/// kbrel-core's error at the head of `err`: inside the library's error, or as it is when the
/// binary called kbrel-core directly (loading kbrel.toml).
pub fn core_error(err: &anyhow::Error) -> Option<&CoreError> {
    match err.downcast_ref::<kbrel::Error>() {
        Some(k) => k.core(),
        None => err.downcast_ref::<CoreError>(),
    }
}

fn finding_line(f: &Finding) -> String {
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!(
        "{}:{}: {sev}[{}]: {}\n",
        name(&f.file),
        f.line,
        f.code,
        name(&f.message)
    )
}

/// What `kbrel check` found, for every output format.
pub struct CheckView<'a> {
    pub checked: &'a kbrel::lint::Checked,
    pub documents: usize,
    /// The content root relative to the repository (`docs/`, or empty); with a layout other
    /// than one folder per language, kbrel.toml's folder.
    pub prefix: String,
    /// The configuration, when its layout is not one folder per language.
    pub layout: Option<&'a kbrel::config::Config>,
    /// Error-level findings the baseline holds.
    pub baselined: usize,
    /// Baseline entries no finding matches any more.
    pub prunable: Vec<kbrel::baseline::Entry>,
    /// Error-level findings not in the baseline (all of them without a baseline).
    pub new_errors: usize,
    /// The baseline file used and the findings it holds (left out of the listing).
    pub baseline: Option<(std::path::PathBuf, Vec<Finding>)>,
    /// `--write-baseline`: the file written and its number of entries.
    pub wrote_baseline: Option<(std::path::PathBuf, usize)>,
}

impl CheckView<'_> {
    /// The findings to list: everything but the baselined ones (and, after
    /// `--write-baseline`, no errors).
    fn listed(&self) -> Vec<&Finding> {
        let held: std::collections::BTreeSet<&Finding> = self
            .baseline
            .as_ref()
            .map(|(_, b)| b.iter().collect())
            .unwrap_or_default();
        self.checked
            .findings
            .iter()
            .filter(|f| !held.contains(f))
            .filter(|f| self.wrote_baseline.is_none() || f.severity == Severity::Warning)
            .collect()
    }

    fn path(&self, f: &Finding) -> String {
        format!("{}{}", self.prefix, self.display(&f.file))
    }

    /// A finding's file as the user finds it: relative to the content root with one folder
    /// per language; with another layout, the real file relative to kbrel.toml's folder
    /// (`zh/a.mdx` → `i18n/zh/docusaurus-plugin-content-docs/current/a.mdx`).
    fn display(&self, file: &str) -> String {
        match self.layout {
            Some(cfg) => cfg.source_path(file),
            None => file.to_string(),
        }
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    /// Relative to the repository (the content root's prefix added).
    path: String,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    schema_version: u32,
    findings: Vec<JsonFinding<'a>>,
    errors: usize,
    warnings: usize,
    baselined: usize,
    allowed: usize,
    suppressed: usize,
    prunable: &'a [kbrel::baseline::Entry],
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<String>,
}

pub fn check(
    v: &CheckView<'_>,
    format: crate::cli::CheckFormat,
    quiet: bool,
) -> anyhow::Result<()> {
    use crate::cli::CheckFormat;
    let listed = v.listed();
    let errors = listed
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = listed.len() - errors;
    match format {
        CheckFormat::Json => {
            return json(&CheckJson {
                schema_version: kbrel::manifest::SCHEMA_VERSION,
                findings: listed
                    .iter()
                    .map(|f| JsonFinding {
                        finding: f,
                        path: v.path(f),
                    })
                    .collect(),
                errors,
                warnings,
                baselined: v.baselined,
                allowed: v.checked.allowed,
                suppressed: v.checked.suppressed,
                prunable: &v.prunable,
                baseline: v
                    .baseline
                    .as_ref()
                    .map(|(p, _)| p.display().to_string())
                    .or_else(|| {
                        v.wrote_baseline
                            .as_ref()
                            .map(|(p, _)| p.display().to_string())
                    }),
            });
        }
        CheckFormat::Github => {
            let mut s = String::new();
            for f in &listed {
                s.push_str(&github_annotation(f, &v.path(f)));
            }
            emit(&s)?;
        }
        CheckFormat::Sarif => return json(&sarif(v, &listed)),
        CheckFormat::Human => emit(&grouped(&listed, &|file| v.display(file)))?,
    }
    if quiet {
        return Ok(());
    }
    let mut s = String::new();
    if format == CheckFormat::Human && !listed.is_empty() {
        let mut per_code: std::collections::BTreeMap<(kbrel::findings::Code, Severity), usize> =
            Default::default();
        for f in &listed {
            *per_code.entry((f.code, f.severity)).or_default() += 1;
        }
        for ((code, sev), n) in &per_code {
            let _ = writeln!(
                s,
                "{code} {n:>5} {} ({})",
                match sev {
                    Severity::Error => "error(s)",
                    Severity::Warning => "warning(s)",
                },
                code.summary()
            );
        }
    }
    let mut extra = Vec::new();
    if v.baselined > 0 {
        extra.push(format!("{} baselined", v.baselined));
    }
    if v.checked.allowed > 0 {
        extra.push(format!("{} allowed", v.checked.allowed));
    }
    if v.checked.suppressed > 0 {
        extra.push(format!("{} suppressed", v.checked.suppressed));
    }
    let _ = writeln!(
        s,
        "checked {} documents: {errors} error(s), {warnings} warning(s){}",
        v.documents,
        if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        }
    );
    if let Some((path, entries)) = &v.wrote_baseline {
        let _ = writeln!(
            s,
            "wrote {} ({entries} entries, {} error(s)); commit it: from now on only new errors fail `check` and `publish`",
            sanitize(&path.display().to_string()),
            v.baselined
        );
    }
    if !v.prunable.is_empty() {
        let n: u32 = v.prunable.iter().map(|e| e.count).sum();
        let _ = writeln!(
            s,
            "{n} baselined finding(s) are fixed; remove their entries with `kbrel check --prune-baseline`:"
        );
        for e in v.prunable.iter().take(10) {
            let _ = writeln!(
                s,
                "  {} {}{}: {}",
                e.code,
                name(&e.file),
                if e.count > 1 {
                    format!(" ×{}", e.count)
                } else {
                    String::new()
                },
                sanitize(&e.text)
            );
        }
        if v.prunable.len() > 10 {
            let _ = writeln!(s, "  … and {} more", v.prunable.len() - 10);
        }
    }
    if errors > 0 {
        let _ = writeln!(
            s,
            "hint: errors block `kbrel publish`. Fix them, set a code's level in [lint] of kbrel.toml (e.g. KB010 = \"warn\", or per path with [[lint.overrides]]), suppress one with <!-- kbrel-disable-next-line CODE -->, or accept today's with `kbrel check --write-baseline`"
        );
    }
    eprint!("{s}");
    Ok(())
}

/// `kbrel pack`: the files (with `list`), then a summary like `npm pack --dry-run`'s.
pub fn pack(
    r: &kbrel::pack::PackReport,
    as_json: bool,
    list: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(r);
    }
    let mut s = String::new();
    if list {
        for f in &r.files {
            s.push_str(&format!("{:>10}  {}\n", f.size, sanitize(&f.path)));
        }
    }
    emit(&s)?;
    if !quiet {
        eprintln!(
            "{}@{}: {} ({} bytes), {} files, {} bytes unpacked, {}",
            sanitize(&r.name),
            r.version,
            sanitize(&r.filename),
            r.size,
            r.entry_count,
            r.unpacked_size,
            r.integrity
        );
        if let Some(out) = &r.out {
            eprintln!(
                "wrote {} files into {}",
                r.entry_count,
                sanitize(&out.display().to_string())
            );
        }
    }
    Ok(())
}

/// `kbrel compare-package`.
pub fn compare_package(
    r: &kbrel::compat::CompatReport,
    old: &str,
    version: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(r);
    }
    let mut s = String::new();
    for e in &r.entries {
        let size = match e.new_gzip_size {
            Some(n) => format!("{} → {n} bytes gzip'd", e.old_gzip_size),
            None => format!("{} bytes gzip'd → missing", e.old_gzip_size),
        };
        s.push_str(&format!(
            "{} ({}): {} keys, {} missing, {} changed, {} added; {size}\n",
            sanitize(&e.path),
            e.kind,
            e.keys,
            e.missing_keys.len(),
            e.changed_keys.len(),
            e.added_keys.len()
        ));
        if e.missing_entry {
            s.push_str("  the release has no file at this path\n");
        }
        if let Some((o, n)) = &e.changed_global {
            s.push_str(&format!(
                "  global: {} → {}\n",
                sanitize(o.as_deref().unwrap_or("(none)")),
                sanitize(n.as_deref().unwrap_or("(none)"))
            ));
        }
        for k in &e.missing_keys {
            s.push_str(&format!("  missing: {}\n", sanitize(k)));
        }
        for k in &e.changed_keys {
            s.push_str(&format!("  changed: {}\n", sanitize(k)));
        }
    }
    s.push_str(&format!(
        "{} against {version}: {} missing key(s), {} changed value(s), {} changed global(s)\n",
        sanitize(old),
        r.missing_keys,
        r.changed_keys,
        r.changed_globals
    ));
    emit(&s)
}

/// `kbrel keys`.
/// `kbrel init`: the proposal (stdout: the kbrel.toml with --dry-run, or the JSON report) and
/// what was found and written (stderr).
pub fn init(
    p: &kbrel::init::Proposal,
    written: Option<&std::path::Path>,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(p);
    }
    if written.is_none() {
        emit(&p.toml)?;
    }
    let langs: Vec<String> = p
        .languages
        .iter()
        .map(|l| {
            format!(
                "{} ({} documents)",
                sanitize(l),
                p.documents.get(l).copied().unwrap_or(0)
            )
        })
        .collect();
    let keys = match (&p.keys_from, &p.keys_file) {
        (Some(k), _) => format!("entry modules {}", sanitize(k)),
        (None, Some(f)) => format!("keys file {}", sanitize(f)),
        (None, None) => "none (documents bundled under their ids)".into(),
    };
    let mut s = format!(
        "layout:    {} ({})
languages: {}
pairing:   {} ({})
keys:      {keys}
",
        p.layout,
        sanitize(&p.layout_evidence),
        langs.join(", "),
        p.pairing,
        sanitize(&p.pairing_evidence),
    );
    s.push_str(&format!(
        "check:     {} error(s), {} warning(s) under this configuration
",
        p.errors, p.warnings
    ));
    match written {
        Some(path) => s.push_str(&format!(
            "wrote {}; next: kbrel check\n",
            sanitize(&path.display().to_string())
        )),
        None => s.push_str("(dry run: nothing written)\n"),
    }
    eprint!("{s}");
    Ok(())
}

pub fn keys(keys: &[kbrel::content::EffectiveKey], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct KeysJson<'a> {
            schema_version: u32,
            keys: &'a [kbrel::content::EffectiveKey],
        }
        return json(&KeysJson {
            schema_version: kbrel::manifest::SCHEMA_VERSION,
            keys,
        });
    }
    let width = keys
        .iter()
        .map(|k| k.key.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let mut s = String::new();
    for k in keys {
        let from = match (&k.source, k.origin) {
            (_, kbrel::content::KeyOrigin::Id) => "id (no declared key)".to_string(),
            (Some(src), _) if k.line > 0 => format!("{}:{}", sanitize(src), k.line),
            (Some(src), _) => sanitize(src),
            (None, _) => String::new(),
        };
        let target = match &k.id {
            Some(_) => sanitize(&k.path),
            None => format!("{} (MISSING)", sanitize(&k.path)),
        };
        let alias = if k.primary || k.id.is_none() {
            ""
        } else {
            " (alias)"
        };
        s.push_str(&format!(
            "{}  {:<width$}  {target}{alias}  [{from}]\n",
            k.lang,
            sanitize(&k.key),
        ));
    }
    emit(&s)
}

/// Human output: a header per file, then `line: severity[code]: message`.
fn grouped(listed: &[&Finding], display: &dyn Fn(&str) -> String) -> String {
    let mut s = String::new();
    let mut current: Option<&str> = None;
    for f in listed {
        if current != Some(f.file.as_str()) {
            if current.is_some() {
                s.push('\n');
            }
            let _ = writeln!(s, "{}", name(&display(&f.file)));
            current = Some(&f.file);
        }
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            s,
            "  {}:{}: {sev}[{}]: {}",
            name(&display(&f.file)),
            f.line,
            f.code,
            name(&f.message)
        );
    }
    s
}

/// One GitHub Actions workflow command (`::error file=…,line=…,title=…::message`).
fn github_annotation(f: &Finding, path: &str) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let kind = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!(
        "::{kind} file={},line={},title={}::{}\n",
        property(path),
        f.line,
        property(&format!("{} {}", f.code, f.code.summary())),
        data(&f.message)
    )
}

/// A SARIF 2.1.0 log with one run.
fn sarif(v: &CheckView<'_>, listed: &[&Finding]) -> serde_json::Value {
    use serde_json::json;
    let rules: Vec<serde_json::Value> = kbrel::findings::Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": { "text": c.summary() },
                "helpUri": format!("https://kbrel.dev/en/configuration#{}", c.as_str().to_lowercase()),
                "defaultConfiguration": { "level": match c.default_level() {
                    kbrel::findings::Level::Error => "error",
                    _ => "warning",
                } },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = listed
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.code.as_str(),
                "ruleIndex": kbrel::findings::Code::ALL.iter().position(|c| *c == f.code).unwrap_or(0),
                "level": match f.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri_path(&v.path(f)) },
                        "region": { "startLine": f.line.max(1) },
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "kbrel",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://kbrel.dev/",
                "rules": rules,
            } },
            "results": results,
        }],
    })
}

/// A relative path as a URI reference: every byte outside RFC 3986's unreserved set and `/`
/// percent-encoded (spaces, CJK, `#`, `?`).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub fn publish(
    r: &PublishReport,
    reg: &Registry,
    as_json: bool,
    quiet: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    if !quiet {
        for w in &r.warnings {
            eprint!("{}", finding_line(w));
        }
    }
    if !quiet {
        for n in &r.notes {
            eprintln!("note: {}", sanitize(n));
        }
    }
    if as_json {
        return json(r);
    }
    if quiet {
        // Errors only: what was published is in the registry (and in `--json`).
        return Ok(());
    }
    let mut s = String::new();
    let verb = match r.outcome {
        Outcome::Published => "Published",
        Outcome::AlreadyPublished => "Already published",
        Outcome::DryRun => "Would publish (dry run)",
    };
    let _ = writeln!(
        s,
        "{verb} {}@{} ({})",
        r.name,
        r.version,
        match &r.previous {
            Some(p) => format!("changes against {p}"),
            None => "first release".into(),
        }
    );
    if r.outcome == Outcome::AlreadyPublished {
        let _ = writeln!(
            s,
            "  identical content is already in {} (published {})",
            reg.dir.display(),
            r.published
        );
    }
    for (lang, c) in &r.summary {
        let _ = writeln!(
            s,
            "  {lang}: {} documents; {} added, {} modified, {} renamed, {} removed (+{} -{} lines)",
            c.documents, c.added, c.modified, c.renamed, c.removed, c.added_lines, c.removed_lines
        );
    }
    let _ = writeln!(
        s,
        "  tarball {} ({} files, {} bytes, {})",
        r.tarball.path, r.tarball.file_count, r.tarball.size, r.tarball.integrity
    );
    if r.backport {
        let latest = r
            .dist_tags
            .get("latest")
            .map_or_else(|| "?".to_string(), ToString::to_string);
        let _ = writeln!(s, "  backport: `latest` stays at {latest}");
    }
    if !r.tags_set.is_empty() {
        let _ = writeln!(s, "  dist-tags: {} → {}", r.tags_set.join(", "), r.version);
    }
    if r.outcome != Outcome::AlreadyPublished || !r.files.is_empty() {
        // An already-published version under --dry-run may list a missing changelog section.
        let would = if r.outcome == Outcome::DryRun || dry_run {
            "would write"
        } else {
            "wrote"
        };
        let _ = writeln!(s, "  {would} {} new blob(s) and:", r.new_blobs);
        for f in r.files.iter().filter(|f| !f.starts_with("blobs/")) {
            let _ = writeln!(s, "    {}", reg.path(f).display());
        }
        if r.outcome != Outcome::AlreadyPublished {
            let _ = writeln!(s, "    {} (new section)", r.changelog.display());
        }
    }
    emit(&s)
}

/// How `kbrel diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffMode {
    Stat,
    NameStatus,
    Patch(usize),
    Word,
    Sections,
    Json,
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn add(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn del(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn meta(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn hunk(&self, s: &str) -> String {
        self.wrap("36", s)
    }
}

fn doc_label(c: &kbrel::manifest::DocChange) -> String {
    match &c.old_path {
        Some(old) => format!("{}/{} → {}/{}", c.lang, old, c.lang, c.path),
        None => format!("{}/{}", c.lang, c.path),
    }
}

/// `M en/guide/a.md` in bold: the heading of one document in --word and --sections output.
fn doc_heading(c: &kbrel::manifest::DocChange, p: &Paint) -> String {
    p.meta(&format!("{} {}", c.status.letter(), name(&doc_label(c))))
}

fn name_status_line(
    status: ChangeStatus,
    similarity: Option<u8>,
    old: Option<&str>,
    new: &str,
) -> String {
    match (status, old) {
        (ChangeStatus::Renamed, Some(old)) => {
            format!(
                "R{:03}\t{}\t{}\n",
                similarity.unwrap_or(100),
                name(old),
                name(new)
            )
        }
        _ => format!("{}\t{}\n", status.letter(), name(new)),
    }
}

fn color_patch(patch: &str, p: &Paint) -> String {
    if !p.0 {
        return patch.to_string();
    }
    let mut s = String::with_capacity(patch.len() + 64);
    for line in patch.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let painted = if body.starts_with("diff --git")
            || body.starts_with("--- ")
            || body.starts_with("+++ ")
            || body.starts_with("new file")
            || body.starts_with("deleted file")
            || body.starts_with("similarity")
            || body.starts_with("rename ")
        {
            p.meta(body)
        } else if body.starts_with("@@") {
            p.hunk(body)
        } else if body.starts_with('+') {
            p.add(body)
        } else if body.starts_with('-') {
            p.del(body)
        } else {
            body.to_string()
        };
        s.push_str(&painted);
        if line.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// Lines of a word diff that contain a change, with one line of context, `…` between gaps.
fn word_excerpt(pieces: &[word::Piece], p: &Paint) -> String {
    let mut rendered = String::new();
    let mut changed_lines = std::collections::BTreeSet::new();
    let mut line = 0usize;
    for piece in pieces {
        let (text, kind) = match piece {
            word::Piece::Equal(t) => (t, 0),
            word::Piece::Delete(t) => (t, 1),
            word::Piece::Insert(t) => (t, 2),
        };
        // The content is escaped before it is painted: kbrel's own colour codes must reach
        // the terminal as codes. `sanitize` keeps line breaks, so lines count the same.
        let text = &sanitize(text);
        if kind != 0 {
            let (w, ws) = word::split_trailing_ws(text);
            // Every line the change spans (a multi-line insertion is shown whole).
            changed_lines.extend(line..=line + w.matches('\n').count());
            let marked = if kind == 1 {
                if p.0 {
                    p.wrap("31;9", w)
                } else {
                    format!("[-{w}-]")
                }
            } else if p.0 {
                p.add(w)
            } else {
                format!("{{+{w}+}}")
            };
            rendered.push_str(&marked);
            rendered.push_str(ws);
            line += text.matches('\n').count();
        } else {
            rendered.push_str(text);
            line += text.matches('\n').count();
        }
    }
    let lines: Vec<&str> = rendered.lines().collect();
    let mut keep = std::collections::BTreeSet::new();
    for &l in &changed_lines {
        for k in l.saturating_sub(1)..=(l + 1).min(lines.len().saturating_sub(1)) {
            keep.insert(k);
        }
    }
    let mut s = String::new();
    let mut last: Option<usize> = None;
    for k in keep {
        if last.is_some_and(|l| k > l + 1) {
            s.push_str("…\n");
        }
        if let Some(l) = lines.get(k) {
            s.push_str(l);
            s.push('\n');
        }
        last = Some(k);
    }
    s
}

/// A diff report in `mode`; `texts` gives a change's old and new text (for the patch, word
/// and section modes only).
/// The asset rows of a diff, as git shows binary files: `--stat` `path | Bin 120 -> 240
/// bytes`, `--name-status` `M\tpath`, `--patch` `Binary files a/path and b/path differ`.
fn asset_rows(assets: &[kbrel::manifest::AssetChange], mode: DiffMode) -> String {
    use kbrel::manifest::ChangeStatus;
    let mut s = String::new();
    for a in assets {
        let path = sanitize(&a.path);
        match mode {
            DiffMode::Stat => {
                let _ = writeln!(
                    s,
                    " {path} | Bin {} -> {} bytes",
                    a.old_size.unwrap_or(0),
                    a.new_size.unwrap_or(0)
                );
            }
            DiffMode::NameStatus => {
                let _ = writeln!(s, "{}\t{path}", a.status.letter());
            }
            DiffMode::Patch(_) => {
                let (old, new) = match a.status {
                    ChangeStatus::Added => ("/dev/null".to_string(), format!("b/{path}")),
                    ChangeStatus::Removed => (format!("a/{path}"), "/dev/null".to_string()),
                    _ => (format!("a/{path}"), format!("b/{path}")),
                };
                let _ = writeln!(s, "Binary files {old} and {new} differ");
            }
            DiffMode::Word | DiffMode::Sections | DiffMode::Json => {
                let _ = writeln!(
                    s,
                    "{} {path} ({} -> {} bytes)",
                    a.status.letter(),
                    a.old_size.unwrap_or(0),
                    a.new_size.unwrap_or(0)
                );
            }
        }
    }
    s
}

pub fn diff(
    report: &DiffFile,
    texts: &dyn Fn(&kbrel::manifest::DocChange) -> anyhow::Result<(String, String)>,
    mode: DiffMode,
    color: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let p = Paint(color);
    let mut s = String::new();
    match mode {
        DiffMode::Json => return json(report),
        // git's own formats: C-quoted names (no control character reaches the terminal),
        // so no further escaping.
        DiffMode::Stat => s.push_str(&kbrel::diff::gitfmt::stat(&report.changes, 80)),
        DiffMode::NameStatus => s.push_str(&kbrel::diff::gitfmt::name_status(&report.changes)),
        DiffMode::Patch(context) => {
            for c in &report.changes {
                let (old, new) = texts(c)?;
                s.push_str(&color_patch(&patch::unified(c, &old, &new, context), &p));
            }
        }
        DiffMode::Word => {
            for c in &report.changes {
                let (old, new) = texts(c)?;
                let _ = writeln!(s, "{}", doc_heading(c, &p));
                s.push_str(&word_excerpt(&word::word_diff(&old, &new), &p));
            }
        }
        DiffMode::Sections => {
            for c in &report.changes {
                let (old, new) = texts(c)?;
                let _ = writeln!(s, "{}", doc_heading(c, &p));
                for sc in sections::section_changes(
                    kbrel::content::body_of(&old),
                    kbrel::content::body_of(&new),
                ) {
                    let (mark, painted) = match sc.status {
                        SectionStatus::Added => ("+", p.add(&format!("+ #{}", sc.anchor))),
                        SectionStatus::Removed => ("-", p.del(&format!("- #{}", sc.anchor))),
                        SectionStatus::Changed => ("~", format!("~ #{}", sc.anchor)),
                    };
                    let _ = mark;
                    let _ = writeln!(s, "  {} ({})", painted, sanitize(&sc.title));
                }
            }
        }
    }
    s.push_str(&asset_rows(&report.assets, mode));
    for c in report.changes.iter().filter(|c| c.approximate) {
        eprintln!(
            "warning: {}/{}: line counts are approximate (the exact count ran out of time)",
            c.lang,
            sanitize(&c.path)
        );
    }
    if report.changes.is_empty() && report.assets.is_empty() && !quiet {
        eprintln!(
            "no changes between {} and {}",
            report.from.as_deref().unwrap_or("nothing"),
            report.to
        );
    }
    emit(&s)
}

/// `kbrel diff --summary`: one line per document, or its data as JSON.
pub fn diff_summary(docs: &[kbrel::changelog::DocSummary], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct Summary<'a> {
            schema_version: u32,
            documents: &'a [kbrel::changelog::DocSummary],
        }
        return json(&Summary {
            schema_version: kbrel::manifest::SCHEMA_VERSION,
            documents: docs,
        });
    }
    emit(&sanitize(&kbrel::changelog::render_summary(docs)))
}

pub fn package_diff(
    from: &str,
    to: &str,
    changes: &[FileChange],
    old: &[(String, Vec<u8>)],
    new: &[(String, Vec<u8>)],
    mode: DiffMode,
    color: bool,
) -> anyhow::Result<()> {
    let p = Paint(color);
    let mut s = String::new();
    let text_of = |files: &[(String, Vec<u8>)], path: &str| -> String {
        files
            .iter()
            .find(|(f, _)| f == path)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    match mode {
        DiffMode::Json => {
            #[derive(Serialize)]
            struct PackageDiff<'a> {
                schema_version: u32,
                from: &'a str,
                to: &'a str,
                files: &'a [FileChange],
            }
            return json(&PackageDiff {
                schema_version: kbrel::manifest::SCHEMA_VERSION,
                from,
                to,
                files: changes,
            });
        }
        DiffMode::NameStatus => {
            for c in changes {
                s.push_str(&sanitize(&name_status_line(c.status, None, None, &c.path)));
            }
        }
        DiffMode::Patch(context) => {
            for c in changes {
                if c.binary {
                    let _ = writeln!(s, "Binary files a/{0} and b/{0} differ", name(&c.path));
                    continue;
                }
                let patch = patch::unified_paths(
                    c.status,
                    &c.path,
                    &c.path,
                    None,
                    &text_of(old, &c.path),
                    &text_of(new, &c.path),
                    context,
                );
                s.push_str(&color_patch(&patch, &p));
            }
        }
        _ => {
            let (mut add, mut del) = (0, 0);
            for c in changes {
                add += c.added_lines;
                del += c.removed_lines;
                let _ = writeln!(
                    s,
                    "- {} {} {}",
                    sanitize(&c.path),
                    p.add(&format!("+{}", c.added_lines)),
                    p.del(&format!("-{}", c.removed_lines))
                );
            }
            let _ = writeln!(
                s,
                "{} file(s) changed between {from} and {to}, {} {}",
                changes.len(),
                p.add(&format!("+{add}")),
                p.del(&format!("-{del}"))
            );
        }
    }
    emit(&s)
}

pub fn changelog(ctx: &kbrel::changelog::ChangelogContext, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(ctx);
    }
    emit(&kbrel::changelog::render(ctx))
}

pub fn bump(
    current: Option<&semver::Version>,
    s: &kbrel::publish::BumpSuggestion,
    as_json: bool,
) -> anyhow::Result<()> {
    let report = kbrel::publish::BumpReport::new(current, s);
    if as_json {
        return json(&report);
    }
    let next = report.next;
    let mut out = String::new();
    match (&next, s.bump) {
        (Some(n), Some(b)) => {
            let _ = writeln!(out, "{n} ({})", format!("{b:?}").to_lowercase());
        }
        (Some(n), None) => {
            let _ = writeln!(out, "{n}");
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "no changes since {}",
                current.map(ToString::to_string).unwrap_or_default()
            );
        }
    }
    for r in &s.reasons {
        let _ = writeln!(out, "  {}", sanitize(r));
    }
    emit(&out)
}

pub fn status(
    statuses: &[kbrel::history::PairStatus],
    source: &str,
    diffs: &[String],
    all: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    use kbrel::history::Drift;
    if as_json {
        return json(&kbrel::history::StatusReport::new(statuses));
    }
    let mut s = String::new();
    for st in statuses
        .iter()
        .filter(|st| all || st.state != Drift::Current)
    {
        // Each language's own path: a missing translation has none, so its line names the
        // source document, under the source language.
        let path = match st.state {
            Drift::Missing => format!("{source}/{}", st.source_path.as_deref().unwrap_or(&st.path)),
            _ => format!("{}/{}", st.lang, st.path),
        };
        let detail = match st.state {
            Drift::Outdated => format!(
                "source changed in {}, translation last in step at {}",
                st.since.as_deref().unwrap_or("?"),
                st.synced_at.as_deref().unwrap_or("?")
            ),
            Drift::Missing => format!("no {} translation of this document", st.lang),
            Drift::Orphaned => "the source document is gone".into(),
            Drift::Current => String::new(),
        };
        let state = format!("{:?}", st.state).to_lowercase();
        let _ = writeln!(s, "{state:<9} {}  {}", name(&path), detail);
    }
    for (lang, c) in kbrel::history::drift_counts(statuses) {
        let _ = writeln!(
            s,
            "{lang}: {} current, {} outdated, {} missing, {} orphaned",
            c.current, c.outdated, c.missing, c.orphaned
        );
    }
    for d in diffs {
        s.push('\n');
        s.push_str(&sanitize(d));
    }
    emit(&s)
}

pub fn ack(id: &str, added: &[String], path: &std::path::Path, quiet: bool) {
    if quiet {
        return;
    }
    if added.is_empty() {
        eprintln!("already acknowledged: {id}");
    } else {
        eprintln!(
            "acknowledged {id} for {} in {}",
            added.join(", "),
            path.display()
        );
    }
}

pub fn import(r: &kbrel::import::ImportReport, dry_run: bool, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(r);
    }
    let mut s = String::new();
    for t in &r.imported {
        let what = match (t.outcome, dry_run) {
            (Outcome::AlreadyPublished, _) => "already in the registry (identical)",
            (_, true) => "would import",
            _ => "imported",
        };
        let _ = writeln!(
            s,
            "{:<12} {} ({}, {}) {what}: {} documents, {} error(s), {} warning(s){}",
            sanitize(&t.tag),
            t.version,
            &t.commit[..7.min(t.commit.len())],
            &t.date[..10.min(t.date.len())],
            t.documents,
            t.errors,
            t.warnings,
            if t.skipped_files.is_empty() {
                String::new()
            } else {
                format!(
                    "; skipped (not UTF-8): {}",
                    t.skipped_files
                        .iter()
                        .map(|f| sanitize(f))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    for t in &r.skipped {
        let _ = writeln!(s, "{:<12} skipped: not a semver version", sanitize(t));
    }
    emit(&s)
}

pub fn verify(
    r: &kbrel::verify::VerifyReport,
    reg: &Registry,
    as_json: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct VerifyJson<'a> {
            schema_version: u32,
            ok: bool,
            #[serde(flatten)]
            report: &'a kbrel::verify::VerifyReport,
        }
        return json(&VerifyJson {
            schema_version: kbrel::manifest::SCHEMA_VERSION,
            ok: r.ok(),
            report: r,
        });
    }
    let mut s = String::new();
    for p in &r.problems {
        let kind = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let _ = writeln!(s, "{}: {kind}: {}", name(&p.path), name(&p.message));
    }
    for p in &r.repaired {
        let _ = writeln!(s, "{}: removed", name(p));
    }
    emit(&s)?;
    if !quiet {
        eprintln!(
            "verified {}: {} version(s), {} blob(s), {} problem(s)",
            reg.dir.display(),
            r.versions,
            r.blobs,
            r.problems.len()
        );
    }
    Ok(())
}

pub fn push(r: &kbrel::push::PushReport, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(r);
    }
    let what = match r.outcome {
        kbrel::push::PushOutcome::Published => "pushed",
        kbrel::push::PushOutcome::AlreadyPresent => "already present (identical)",
    };
    emit(&format!(
        "{}@{} {what} at {} (dist-tag {})\n",
        r.name, r.version, r.registry, r.tag
    ))
}

pub fn public_key(key: &str) -> anyhow::Result<()> {
    emit(&format!("{key}\n"))
}

pub fn sync(
    r: &kbrel::sync::SyncReport,
    cache: &std::path::Path,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(r);
    }
    let mut s = String::new();
    let head = if r.up_to_date {
        format!("{}@{} is current in {}", r.name, r.version, cache.display())
    } else {
        let verb = if r.dry_run { "would update" } else { "updated" };
        format!(
            "{verb} {} {} → {}",
            cache.display(),
            r.previous.as_deref().unwrap_or("(empty)"),
            r.version
        )
    };
    let _ = writeln!(
        s,
        "{}{}",
        sanitize(&head),
        if r.not_modified {
            " (index not modified)"
        } else {
            ""
        }
    );
    for (lang, c) in &r.changes {
        let _ = writeln!(
            s,
            "  {lang}: {} added, {} updated, {} removed",
            c.added, c.updated, c.removed
        );
    }
    let wire = if r.bytes_on_wire == r.bytes_decoded {
        String::new()
    } else {
        format!(" ({} on the wire)", r.bytes_on_wire)
    };
    let _ = writeln!(
        s,
        "  fetched {} document(s){}, {} bytes{wire} in {} request(s){}",
        r.documents_fetched,
        if r.assets_fetched > 0 {
            format!(" and {} asset(s)", r.assets_fetched)
        } else {
            String::new()
        },
        r.bytes_fetched,
        r.requests,
        if r.delta {
            ", with the delta against the held version"
        } else {
            ""
        }
    );
    emit(&s)
}

/// `kbrel sync --json` when the sync failed (the message also goes to stderr).
pub fn sync_failure(f: &kbrel::sync::FailureJson) -> anyhow::Result<()> {
    json(f)
}

pub fn sync_offline(r: &kbrel::sync::OfflineReport, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(r);
    }
    let mut s = String::new();
    for p in &r.problems {
        let _ = writeln!(s, "{}", sanitize(p));
    }
    let _ = writeln!(
        s,
        "{}@{}: {} documents, {} problem(s)",
        r.name.as_deref().unwrap_or("?"),
        r.version.as_deref().unwrap_or("?"),
        r.documents,
        r.problems.len()
    );
    emit(&s)
}

/// What a publish, import or push wrote into object storage.
pub fn uploaded(up: &kbrel::remote::Uploaded, url: &str, quiet: bool) {
    if quiet {
        return;
    }
    if up.objects == 0 {
        eprintln!("{}: up to date, nothing uploaded", sanitize(url));
    } else {
        eprintln!(
            "uploaded {} objects ({} bytes) to {}, index.json last{}",
            up.objects,
            up.bytes,
            sanitize(url),
            if up.versions.is_empty() {
                String::new()
            } else {
                format!(" (lists {})", up.versions.join(", "))
            }
        );
    }
}

/// `serve` mirrored a changed index of the bucket it serves.
pub fn mirrored(p: &kbrel::remote::Pulled, url: &str, quiet: bool) {
    if quiet {
        return;
    }
    let listed = p.index.as_ref().map_or_else(String::new, |i| {
        let vs: Vec<String> = i.versions.iter().map(|v| v.version.to_string()).collect();
        format!(": sequence {}, lists {}", i.sequence, vs.join(", "))
    });
    eprintln!(
        "mirrored {} ({} new files){listed}",
        sanitize(url),
        p.fetched
    );
}

/// `serve` could not follow the bucket it serves this time.
pub fn mirror_failed(e: &kbrel::Error, url: &str, retry_in: std::time::Duration) {
    eprintln!(
        "error: cannot follow {}: {}; still serving the last mirrored index (next try in {} s)",
        sanitize(url),
        sanitize(&e.chain()),
        retry_in.as_secs()
    );
}

/// Objects under a registry prefix that its index does not account for.
pub fn remote_leftovers(
    leftovers: &[kbrel::remote::Leftover],
    removed: usize,
    remote: &kbrel::remote::Remote,
    as_json: bool,
    quiet: bool,
) {
    if as_json || (quiet && leftovers.is_empty()) {
        for l in leftovers {
            eprintln!("leftover: {}", sanitize(&remote.object_url(&l.rel)));
        }
        return;
    }
    for l in leftovers {
        let what = match (l.ours, removed > 0) {
            (true, true) => "removed leftover",
            (true, false) => {
                "leftover (not listed by index.json; `kbrel verify --repair` removes it)"
            }
            (false, _) => "not kbrel's (left alone)",
        };
        eprintln!("{what}: {}", sanitize(&remote.object_url(&l.rel)));
    }
    if leftovers.is_empty() {
        eprintln!("{}: no leftovers", sanitize(remote.url()));
    }
}
