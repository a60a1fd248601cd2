//! `/v/<version>/` and `/v/<version>/<lang>/<path>`: a version's documents and one document rendered.

use super::*;

/// The documents of one version, per language.
pub fn version_page(
    reg: &Registry,
    index: &Index,
    version: &str,
    page: usize,
    filter: &str,
) -> Result<Page> {
    let Ok(v) = crate::snapshot::resolve_version(Some(index), version) else {
        return Ok(not_found(
            index,
            &format!("Version “{version}” is not published."),
        ));
    };
    let man = manifest_of(reg, v)?;
    let f = filter.to_lowercase();
    let docs: Vec<&ManifestDoc> = man
        .documents
        .iter()
        .filter(|d| f.is_empty() || format!("{}/{}", d.lang, d.path).to_lowercase().contains(&f))
        .collect();
    let pages = docs.len().div_ceil(LIST_PAGE_SIZE).max(1);
    let page = page.min(pages);
    let start = (page - 1) * LIST_PAGE_SIZE;
    let base = format!("/v/{}/", enc(&v.version.to_string()));
    let mut m = String::new();
    let _ = writeln!(
        m,
        "<h1>{} {}</h1>",
        esc(&index.name),
        esc(&v.version.to_string())
    );
    let _ = writeln!(
        m,
        "<p>Published {}. {}.</p>",
        esc(date_of(&v.published)),
        plural(man.documents.len() as u64, "document", "documents")
    );
    let _ = write!(
        m,
        "<div class=\"toolbar\">\n<form method=\"get\" action=\"{}\" role=\"search\">\n<label for=\"filter\">Filter by path</label>\n\
<input id=\"filter\" name=\"q\" type=\"search\" value=\"{}\" autocomplete=\"off\">\n<button type=\"submit\">Filter all pages</button>\n</form>\n\
<span id=\"filter-count\" class=\"muted\" aria-live=\"polite\"></span>\n</div>\n",
        esc(&base),
        esc(filter)
    );
    let nav = pager(&base, filter, page, pages);
    m.push_str(&nav);
    let on_page = &docs[start.min(docs.len())..(start + LIST_PAGE_SIZE).min(docs.len())];
    for lang in &man.languages {
        let in_lang: Vec<&&ManifestDoc> = on_page.iter().filter(|d| &d.lang == lang).collect();
        if in_lang.is_empty() {
            continue;
        }
        let _ = writeln!(m, "<h2>{}</h2>\n<ul class=\"doc-list\">", esc(lang));
        for d in in_lang {
            let _ = write!(
                m,
                "<li data-paths=\"{}\"><a href=\"{}\">{}</a>",
                esc(&format!("{}/{}", d.lang, d.path)),
                esc(&doc_url(&v.version.to_string(), &d.lang, &d.path)),
                esc(&d.path)
            );
            if let Some(t) = &d.title {
                let _ = write!(m, " — <span lang=\"{}\">{}</span>", esc(&d.lang), esc(t));
            }
            m.push_str("</li>\n");
        }
        m.push_str("</ul>\n");
    }
    m.push_str(&nav);
    Ok(Page::ok(layout(
        index,
        &format!("{} documents", v.version),
        Nav::Doc,
        &m,
    )))
}

/// One document of one version, rendered.
pub fn doc_page(
    reg: &Registry,
    index: &Index,
    version: &str,
    lang: &str,
    path: &str,
) -> Result<Page> {
    let Ok(v) = crate::snapshot::resolve_version(Some(index), version) else {
        return Ok(not_found(
            index,
            &format!("Version “{version}” is not published."),
        ));
    };
    let man = manifest_of(reg, v)?;
    let with_md = format!("{path}.md");
    let Some(doc) = man
        .documents
        .iter()
        .find(|d| d.lang == lang && (d.path == path || d.path == with_md))
    else {
        return Ok(not_found(
            index,
            &format!("Version {} has no document “{lang}/{path}”.", v.version),
        ));
    };
    let text = blob_text(reg, &doc.sha256)?;
    let mut m = String::new();
    let _ = writeln!(
        m,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><ol><li><a href=\"/\">{}</a></li><li><a href=\"/v/{}/\">{}</a></li><li>{}</li><li aria-current=\"page\">{}</li></ol></nav>",
        esc(&index.name),
        esc(&enc(&v.version.to_string())),
        esc(&v.version.to_string()),
        esc(&doc.lang),
        esc(&doc.path)
    );
    m.push_str("<p class=\"meta\">");
    let others: Vec<&ManifestDoc> = man
        .documents
        .iter()
        .filter(|d| d.id == doc.id && d.lang != doc.lang)
        .collect();
    if !others.is_empty() {
        m.push_str("Other languages: ");
        let links: Vec<String> = others
            .iter()
            .map(|d| {
                format!(
                    "<a href=\"{}\" hreflang=\"{l}\" lang=\"{l}\">{}</a>",
                    esc(&doc_url(&v.version.to_string(), &d.lang, &d.path)),
                    esc(&format!("{}/{}", d.lang, d.path)),
                    l = esc(&d.lang)
                )
            })
            .collect();
        m.push_str(&links.join(", "));
        m.push_str(" · ");
    }
    let _ = write!(
        m,
        "<a href=\"/{}\" type=\"text/markdown\">Raw markdown</a>",
        esc(&crate::registry::blob_path(&doc.sha256))
    );
    if let Some(p) = &v.previous {
        let p = &p.to_string();
        let full = format!("{}/{}", doc.lang, doc.path);
        let _ = write!(
            m,
            " · <a href=\"{}\">Changes since {}</a>",
            esc(&format!(
                "{}?q={}#{}",
                diff_url(p, &v.version.to_string()),
                enc(&full),
                doc_anchor(&doc.lang, &doc.path)
            )),
            esc(p)
        );
    }
    m.push_str("</p>\n");
    let fm = raw_front_matter(&text);
    if !fm.is_empty() {
        let _ = writeln!(
            m,
            "<details class=\"front-matter\">\n<summary>Front matter</summary>\n<dl class=\"fm\" lang=\"{}\">",
            esc(&doc.lang)
        );
        for (k, f) in &fm {
            let _ = writeln!(m, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&f.raw));
        }
        m.push_str("</dl>\n</details>\n");
    }
    let title = doc
        .title
        .clone()
        .unwrap_or_else(|| format!("{}/{}", doc.lang, doc.path));
    let body = render_markdown(body_of(&text));
    let _ = writeln!(
        m,
        "<article class=\"markdown\" lang=\"{}\">",
        esc(&doc.lang)
    );
    // Every page has a level-1 heading: the document's own, else its title.
    if !body.contains("<h1") {
        let _ = writeln!(m, "<h1>{}</h1>", esc(&title));
    }
    m.push_str(&body);
    m.push_str("</article>\n");
    Ok(Page::ok(layout(
        index,
        &format!("{title} ({} {})", doc.lang, v.version),
        Nav::Doc,
        &m,
    )))
}

/// Markdown to HTML with pulldown-cmark. Raw HTML (blocks and inline) is shown as escaped
/// text, link URLs with a scheme other than http(s)/mailto are replaced by `#`, images with
/// one other than those or `data:image/` (not SVG) are dropped for their alt text, and
/// headings get GitHub-style ids.
pub fn render_markdown(body: &str) -> String {
    use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM;
    let events: Vec<Event<'_>> = Parser::new_ext(body, opts).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len());
    let mut dropped_image = false;
    for (i, ev) in events.iter().enumerate() {
        let mapped = match ev {
            Event::Html(s) | Event::InlineHtml(s) => Event::Text(s.clone()),
            Event::Start(Tag::HtmlBlock) => {
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(CowStr::from("html"))))
            }
            Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::CodeBlock),
            Event::Start(Tag::Heading { level, .. }) => {
                let mut title = String::new();
                for e in &events[i + 1..] {
                    match e {
                        Event::End(TagEnd::Heading(_)) => break,
                        Event::Text(t) | Event::Code(t) => title.push_str(t),
                        _ => {}
                    }
                }
                let base = crate::diff::sections::anchor(&title);
                let n = seen.entry(base.clone()).or_insert(0);
                let id = if *n == 0 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                };
                *n += 1;
                Event::Start(Tag::Heading {
                    level: *level,
                    id: (!id.is_empty()).then(|| CowStr::from(id)),
                    classes: Vec::new(),
                    attrs: Vec::new(),
                })
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Link {
                link_type: *link_type,
                dest_url: if safe_url(dest_url, false) {
                    dest_url.clone()
                } else {
                    CowStr::from("#")
                },
                title: title.clone(),
                id: id.clone(),
            }),
            // An image with an unsafe URL is dropped; its alt text stays as text.
            Event::Start(Tag::Image { dest_url, .. }) if !safe_url(dest_url, true) => {
                dropped_image = true;
                continue;
            }
            Event::End(TagEnd::Image) if dropped_image => {
                dropped_image = false;
                continue;
            }
            other => other.clone(),
        };
        out.push(mapped);
    }
    let mut html = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, out.into_iter());
    html
}

/// Whether a link (or image) URL is safe to emit: relative, or http(s)/mailto (images also
/// `data:image/` other than SVG). Whitespace and control characters, which browsers ignore
/// inside a scheme, are ignored here too.
pub fn safe_url(url: &str, image: bool) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    let lower = cleaned.to_ascii_lowercase();
    match lower.find([':', '/', '?', '#']) {
        Some(i) if lower.as_bytes()[i] == b':' => {
            let scheme = &lower[..i];
            matches!(scheme, "http" | "https" | "mailto")
                || (image
                    && scheme == "data"
                    && lower[i + 1..].starts_with("image/")
                    && !lower[i + 1..].starts_with("image/svg"))
        }
        _ => true,
    }
}
