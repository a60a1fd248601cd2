//! `/status`: translation status of the latest version.

use super::*;

/// Translation status of the latest version after the published history.
pub fn status_page(reg: &Registry, index: &Index, page: usize) -> Result<Page> {
    let Some(v) = latest(index) else {
        return Ok(not_found(index, "Nothing is published yet."));
    };
    let man = manifest_of(reg, v)?;
    let statuses = statuses_of(reg, index, v, &man)?;
    let mut m = String::new();
    summary(&mut m, index, v, &man, &statuses);
    outdated(
        &mut m,
        reg,
        v,
        &man,
        &in_state(&statuses, Drift::Outdated),
        page,
    )?;
    for (state, title, what) in [
        (Drift::Missing, "Missing translations", "no translation"),
        (
            Drift::Orphaned,
            "Orphaned translations",
            "no source document",
        ),
    ] {
        untranslated(
            &mut m,
            v,
            &man,
            state,
            title,
            what,
            &in_state(&statuses, state),
        );
    }
    current(&mut m, v, &in_state(&statuses, Drift::Current));
    Ok(Page::ok(layout(
        index,
        &format!("Translation status of {}", v.version),
        Nav::Status,
        &m,
    )))
}

/// Every pair's drift in version `v` after the published history before it.
fn statuses_of(
    reg: &Registry,
    index: &Index,
    v: &IndexVersion,
    man: &Manifest,
) -> Result<Vec<PairStatus>> {
    let acks = history::Acks {
        schema_version: manifest::SCHEMA_VERSION,
        acks: Vec::new(),
    };
    history::status_after_history(
        &man.languages,
        &man.source_language,
        reg,
        Some(index),
        history::HistoryFilter {
            keep: &|x, _| x.version < v.version,
            stop_at_same: false,
        },
        &v.version.to_string(),
        &man.documents,
        &acks,
    )
}

fn in_state(statuses: &[PairStatus], d: Drift) -> Vec<&PairStatus> {
    statuses.iter().filter(|s| s.state == d).collect()
}

/// The heading, what the page shows, and the counts per translation language.
fn summary(
    m: &mut String,
    index: &Index,
    v: &IndexVersion,
    man: &Manifest,
    statuses: &[PairStatus],
) {
    let counts = history::drift_counts(statuses);
    let source = man.source_language.as_str();
    let _ = writeln!(
        m,
        "<h1>Translation status of {}</h1>",
        esc(&v.version.to_string())
    );
    let _ = writeln!(
        m,
        "<p>Every translation of version {} against its {} source, after the published history of {}. \
Acknowledgements made with <code>kbrel ack</code> are kept in the project, not in the registry, so they are not \
applied here (the drift recorded at publish time on the <a href=\"/\">versions page</a> includes them).</p>",
        esc(&v.version.to_string()),
        esc(source),
        plural(index.versions.len() as u64, "version", "versions")
    );
    m.push_str(
        "<table class=\"grid drift\">\n<thead><tr><th scope=\"col\">Language</th><th scope=\"col\" class=\"num\">Current</th>\
<th scope=\"col\" class=\"num\">Outdated</th><th scope=\"col\" class=\"num\">Missing</th><th scope=\"col\" class=\"num\">Orphaned</th></tr></thead>\n<tbody>\n",
    );
    for l in man.languages.iter().filter(|l| l.as_str() != source) {
        let c = counts.get(l).cloned().unwrap_or_default();
        let _ = writeln!(
            m,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(l),
            num(c.current),
            num(c.outdated),
            num(c.missing),
            num(c.orphaned)
        );
    }
    m.push_str("</tbody>\n</table>\n");
}

/// The outdated translations of one page, each with the source changes it has not absorbed.
fn outdated(
    m: &mut String,
    reg: &Registry,
    v: &IndexVersion,
    man: &Manifest,
    outdated: &[&PairStatus],
    page: usize,
) -> Result<()> {
    let source = man.source_language.as_str();
    let _ = writeln!(
        m,
        "<h2 id=\"outdated\">Outdated translations ({})</h2>",
        num(outdated.len() as u64)
    );
    if outdated.is_empty() {
        m.push_str("<p>None: every translation has absorbed its source's changes.</p>\n");
    } else {
        m.push_str("<p>Each shows the source changes the translation has not absorbed yet.</p>\n");
    }
    let pages = outdated.len().div_ceil(STATUS_PAGE_SIZE).max(1);
    let page = page.min(pages);
    let start = (page - 1) * STATUS_PAGE_SIZE;
    let nav = pager("/status", "", page, pages);
    m.push_str(&nav);
    for s in &outdated[start.min(outdated.len())..(start + STATUS_PAGE_SIZE).min(outdated.len())] {
        let src_path = s.source_path.as_deref().unwrap_or(&s.path);
        let anchor = doc_anchor(&s.lang, &s.path);
        let _ = writeln!(
            m,
            "<section class=\"doc\" data-nav tabindex=\"-1\" id=\"{a}\" aria-labelledby=\"h-{a}\">\n<h3 id=\"h-{a}\"><a href=\"{}\" lang=\"{l}\">{}</a></h3>",
            esc(&doc_url(&v.version.to_string(), &s.lang, &s.path)),
            esc(&format!("{}/{}", s.lang, s.path)),
            a = esc(&anchor),
            l = esc(&s.lang)
        );
        let _ = writeln!(
            m,
            "<div class=\"side\"><p class=\"meta\">Source <a href=\"{}\">{}</a> changed in {}; the translation was last in step at {}.</p>",
            esc(&doc_url(&v.version.to_string(), source, src_path)),
            esc(&format!("{source}/{src_path}")),
            esc(s.since.as_deref().unwrap_or("?")),
            esc(s.synced_at.as_deref().unwrap_or("?"))
        );
        if let (Some(then), Some(now)) = (&s.source_sha256_then, &s.source_sha256_now) {
            let (a, b) = (blob_text(reg, then)?, blob_text(reg, now)?);
            let p = format!("{source}/{src_path}");
            let (added, removed) = diff::line_counts(&a, &b);
            let _ = writeln!(
                m,
                "<p class=\"meta\">Unabsorbed source changes: {}</p>",
                counts_html(added, removed)
            );
            render_hunks(m, source, &a, &b);
            let unified =
                patch::unified_paths(ChangeStatus::Modified, &p, &p, None, &a, &b, CONTEXT);
            let _ = writeln!(
                m,
                "<details><summary>Unified diff</summary><pre lang=\"{}\">{}</pre></details>",
                esc(source),
                esc(&unified)
            );
        }
        m.push_str("</div>\n</section>\n");
    }
    m.push_str(&nav);
    Ok(())
}

/// The missing or the orphaned translations.
fn untranslated(
    m: &mut String,
    v: &IndexVersion,
    man: &Manifest,
    state: Drift,
    title: &str,
    what: &str,
    list: &[&PairStatus],
) {
    let source = man.source_language.as_str();
    let _ = writeln!(
        m,
        "<h2 id=\"{}\">{title} ({})</h2>",
        if state == Drift::Missing {
            "missing"
        } else {
            "orphaned"
        },
        num(list.len() as u64)
    );
    if list.is_empty() {
        m.push_str("<p>None.</p>\n");
        return;
    }
    m.push_str("<ul>\n");
    for s in list {
        let (lang, path) = if state == Drift::Missing {
            (source, s.path.as_str())
        } else {
            (s.lang.as_str(), s.path.as_str())
        };
        let _ = writeln!(
            m,
            "<li><a href=\"{}\">{}</a>: {what} in {}</li>",
            esc(&doc_url(&v.version.to_string(), lang, path)),
            esc(&format!("{lang}/{path}")),
            esc(if state == Drift::Missing {
                &s.lang
            } else {
                source
            })
        );
    }
    m.push_str("</ul>\n");
}

/// The current translations (a folded list).
fn current(m: &mut String, v: &IndexVersion, current: &[&PairStatus]) {
    let _ = writeln!(
        m,
        "<h2 id=\"current\">Current translations ({})</h2>",
        num(current.len() as u64)
    );
    if !current.is_empty() {
        m.push_str("<details><summary>Show the current translations</summary>\n<ul>\n");
        for s in current.iter().take(LIST_PAGE_SIZE) {
            let _ = writeln!(
                m,
                "<li><a href=\"{}\" lang=\"{}\">{}</a></li>",
                esc(&doc_url(&v.version.to_string(), &s.lang, &s.path)),
                esc(&s.lang),
                esc(&format!("{}/{}", s.lang, s.path))
            );
        }
        if current.len() > LIST_PAGE_SIZE {
            let _ = writeln!(
                m,
                "<li>… and {} more</li>",
                num((current.len() - LIST_PAGE_SIZE) as u64)
            );
        }
        m.push_str("</ul>\n</details>\n");
    }
}
