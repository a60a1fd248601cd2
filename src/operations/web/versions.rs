//! `/`: the package and every version.

use super::*;

/// The home page: package name, dist-tags, every version newest first.
pub fn index_page(reg: &Registry, index: &Index) -> Result<String> {
    let mut m = String::new();
    let _ = writeln!(m, "<h1>{}</h1>", esc(&index.name));
    let languages = match latest(index) {
        Some(l) => manifest_of(reg, l)?.languages.clone(),
        None => Vec::new(),
    };
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    let _ = writeln!(
        m,
        "<p>{} published. Languages: {}.</p>",
        plural(index.versions.len() as u64, "version", "versions"),
        if languages.is_empty() {
            "none".to_string()
        } else {
            esc(&languages.join(", "))
        }
    );
    m.push_str("<section aria-labelledby=\"tags-h\">\n<h2 id=\"tags-h\">Dist-tags</h2>\n");
    if index.dist_tags.is_empty() {
        m.push_str("<p>No dist-tags.</p>\n");
    } else {
        m.push_str("<ul class=\"tags-list\">\n");
        for (tag, v) in &index.dist_tags {
            let _ = writeln!(
                m,
                "<li><span class=\"tag\">{}</span> → <a href=\"#v-{}\">{}</a></li>",
                esc(tag),
                esc(&v.to_string()),
                esc(&v.to_string())
            );
        }
        m.push_str("</ul>\n");
    }
    m.push_str("</section>\n<section aria-labelledby=\"versions-h\">\n<h2 id=\"versions-h\">Versions</h2>\n");
    m.push_str(
        "<table class=\"grid versions\">\n<thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Published</th>\
<th scope=\"col\">Documents</th><th scope=\"col\">Changes</th><th scope=\"col\">Translation drift</th></tr></thead>\n<tbody>\n",
    );
    for v in index.versions.iter().rev() {
        let tags: Vec<&String> = index
            .dist_tags
            .iter()
            .filter(|(_, x)| **x == v.version)
            .map(|(t, _)| t)
            .collect();
        let _ = write!(
            m,
            "<tr id=\"v-{id}\" data-nav tabindex=\"-1\">\n<th scope=\"row\"><a href=\"/v/{u}/\">{ver}</a>",
            id = esc(&v.version.to_string()),
            u = esc(&enc(&v.version.to_string())),
            ver = esc(&v.version.to_string())
        );
        for t in tags {
            let _ = write!(m, " <span class=\"tag\">{}</span>", esc(t));
        }
        let _ = writeln!(
            m,
            "</th>\n<td><time datetime=\"{}\">{}</time></td>",
            esc(&v.published),
            esc(date_of(&v.published))
        );
        let mut langs: Vec<(&String, &manifest::ChangeCounts)> = v.summary.iter().collect();
        langs.sort_by_key(|(l, _)| (rank(l), (*l).clone()));
        m.push_str("<td><ul class=\"plain\">");
        for (l, c) in &langs {
            let _ = write!(
                m,
                "<li><span class=\"lang\">{}</span>: {}</li>",
                esc(l),
                plural(c.documents, "document", "documents")
            );
        }
        m.push_str("</ul></td>\n<td>");
        match &v.previous {
            Some(p) => {
                let p = &p.to_string();
                let _ = write!(m, "<p class=\"meta\">Since {}:</p>", esc(p));
            }
            None => m.push_str("<p class=\"meta\">First release:</p>"),
        }
        m.push_str("<ul class=\"plain\">");
        for (l, c) in &langs {
            let _ = write!(
                m,
                "<li><span class=\"lang\">{}</span>: {} added, {} changed, {} removed, {} renamed {}</li>",
                esc(l),
                num(c.added),
                num(c.modified),
                num(c.removed),
                num(c.renamed),
                counts_html(c.added_lines, c.removed_lines)
            );
        }
        m.push_str("</ul>");
        if let Some(p) = &v.previous {
            let p = &p.to_string();
            let _ = write!(
                m,
                "<p><a href=\"{}\">Changes from {} to {}</a></p>",
                esc(&diff_url(p, &v.version.to_string())),
                esc(p),
                esc(&v.version.to_string())
            );
        }
        m.push_str("</td>\n<td>");
        let drift = drift_of(reg, v)?;
        if drift.is_empty() {
            m.push_str("<span class=\"muted\">not recorded</span>");
        } else {
            m.push_str("<ul class=\"plain\">");
            for (l, d) in &drift {
                let _ = write!(
                    m,
                    "<li><span class=\"lang\">{}</span>: {} current, {} outdated, {} missing, {} orphaned</li>",
                    esc(l),
                    num(d.current),
                    num(d.outdated),
                    num(d.missing),
                    num(d.orphaned)
                );
            }
            m.push_str("</ul>");
        }
        m.push_str("</td>\n</tr>\n");
    }
    m.push_str("</tbody>\n</table>\n</section>\n");
    Ok(layout(index, "Versions", Nav::Versions, &m))
}
