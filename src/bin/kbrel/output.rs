//! The only module that prints. Data goes to stdout, messages to stderr. A closed stdout
//! (`kbrel … | head`) is not an error.

use std::fmt::Write as _;
use std::io::Write;

use kbrel::lint::{Finding, Severity};
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
            if c.is_control() && c != '\n' && c != '\t' {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub fn error(err: &anyhow::Error) {
    let mut s = format!("error: {}\n", sanitize(&err.to_string()));
    for cause in err.chain().skip(1) {
        let _ = writeln!(s, "  caused by: {}", sanitize(&cause.to_string()));
    }
    if let Some(k) = err.downcast_ref::<kbrel::Error>() {
        if let kbrel::Error::LintFailed { findings } = k {
            for f in findings.iter().filter(|f| f.severity == Severity::Error) {
                s.push_str(&finding_line(f));
            }
        }
        if let kbrel::Error::VersionConflict { detail, .. } = k {
            let _ = writeln!(s, "  differences: {}", sanitize(detail));
        }
        if let Some(h) = k.hint() {
            let _ = writeln!(s, "hint: {h}");
        }
    }
    eprint!("{s}");
}

fn finding_line(f: &Finding) -> String {
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!(
        "{}:{}: {sev}[{}]: {}\n",
        sanitize(&f.file),
        f.line,
        f.code,
        sanitize(&f.message)
    )
}

#[derive(Serialize)]
struct CheckJson<'a> {
    schema_version: u32,
    findings: &'a [Finding],
    errors: usize,
    warnings: usize,
}

pub fn findings(findings: &[Finding], documents: usize, as_json: bool, quiet: bool) -> anyhow::Result<()> {
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    if as_json {
        return json(&CheckJson {
            schema_version: kbrel::manifest::SCHEMA_VERSION,
            findings,
            errors,
            warnings,
        });
    }
    let mut s = String::new();
    for f in findings {
        s.push_str(&finding_line(f));
    }
    emit(&s)?;
    if !quiet {
        eprintln!("checked {documents} documents: {errors} error(s), {warnings} warning(s)");
    }
    Ok(())
}

pub fn publish(r: &PublishReport, reg: &Registry, as_json: bool, quiet: bool) -> anyhow::Result<()> {
    if !quiet {
        for w in &r.warnings {
            eprint!("{}", finding_line(w));
        }
    }
    if as_json {
        return json(r);
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
        let _ = writeln!(s, "  identical content is already in {} (published {})", reg.dir.display(), r.published);
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
        let latest = r.dist_tags.get("latest").map(String::as_str).unwrap_or("?");
        let _ = writeln!(s, "  backport: `latest` stays at {latest}");
    }
    if !r.tags_set.is_empty() {
        let _ = writeln!(s, "  dist-tags: {} → {}", r.tags_set.join(", "), r.version);
    }
    if r.outcome != Outcome::AlreadyPublished || !r.files.is_empty() {
        let would = if r.outcome == Outcome::DryRun { "would write" } else { "wrote" };
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
