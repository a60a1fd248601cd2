//! The page layout, not-found and error pages, the pager.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Versions,
    Status,
    Diff,
    Doc,
    None,
}

pub(super) fn layout(index: &Index, title: &str, nav: Nav, main: &str) -> String {
    let mut s = String::with_capacity(main.len() + 2048);
    let cur = |n: Nav| {
        if n == nav {
            " aria-current=\"page\""
        } else {
            ""
        }
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} · {name}</title>\n\
<link rel=\"icon\" href=\"data:,\">\n\
<link rel=\"stylesheet\" href=\"/assets/kbrel.css\">\n\
<script src=\"/assets/kbrel.js\" defer></script>\n\
</head>\n<body>\n\
<a class=\"skip\" href=\"#main\">Skip to content</a>\n\
<header class=\"site\">\n<nav aria-label=\"Site\">\n<ul>\n\
<li><a class=\"brand\" href=\"/\">{name}</a></li>\n\
<li><a href=\"/\"{c1}>Versions</a></li>\n",
        title = esc(title),
        name = esc(&index.name),
        c1 = cur(Nav::Versions),
    );
    if let Some(l) = latest(index) {
        if let Some(p) = &l.previous {
            let p = &p.to_string();
            let _ = writeln!(
                s,
                "<li><a href=\"{}\"{}>Latest changes</a></li>",
                esc(&diff_url(p, &l.version.to_string())),
                cur(Nav::Diff)
            );
        }
        let _ = writeln!(
            s,
            "<li><a href=\"/v/{}/\"{}>Documents</a></li>",
            esc(&enc(&l.version.to_string())),
            cur(Nav::Doc)
        );
    }
    let _ = write!(
        s,
        "<li><a href=\"/status\"{}>Translation status</a></li>\n</ul>\n</nav>\n</header>\n\
<main id=\"main\" tabindex=\"-1\">\n{main}</main>\n\
<footer class=\"site\"><p>Served by kbrel. Keyboard: <span class=\"kbd\">j</span> next document, \
<span class=\"kbd\">k</span> previous document.</p></footer>\n</body>\n</html>\n",
        cur(Nav::Status)
    );
    s
}

/// A 404 page with links back.
pub fn not_found(index: &Index, message: &str) -> Page {
    let mut m = String::new();
    let _ = writeln!(m, "<h1>Not found</h1>\n<p>{}</p>", esc(message));
    m.push_str("<p>Go to <a href=\"/\">all versions</a> or the <a href=\"/status\">translation status</a>.</p>\n");
    if !index.versions.is_empty() {
        m.push_str("<h2>Published versions</h2>\n<ul>\n");
        for v in index.versions.iter().rev() {
            let _ = writeln!(
                m,
                "<li><a href=\"/v/{}/\">{}</a></li>",
                esc(&enc(&v.version.to_string())),
                esc(&v.version.to_string())
            );
        }
        m.push_str("</ul>\n");
    }
    Page::html(404, layout(index, "Not found", Nav::None, &m))
}

pub(super) fn error_page(index: &Index, e: &Error) -> Page {
    let (status, title) = match e {
        Error::Core(crate::error::CoreError::UnknownVersion { .. }) => {
            return not_found(index, &e.to_string());
        }
        _ => (500, "Error"),
    };
    let m = format!(
        "<h1>{title}</h1>\n<p>The registry could not be read: {}</p>\n<p>Run <code>kbrel verify</code> on the registry. \
Go to <a href=\"/\">all versions</a>.</p>\n",
        esc(&e.to_string())
    );
    Page::html(status, layout(index, title, Nav::None, &m))
}

/// `<nav>` with previous/next links, or nothing for a single page.
pub(super) fn pager(base: &str, filter: &str, page: usize, pages: usize) -> String {
    if pages <= 1 {
        return String::new();
    }
    let url = |p: usize| {
        let mut u = format!("{base}?page={p}");
        if !filter.is_empty() {
            u.push_str("&q=");
            u.push_str(&enc(filter));
        }
        esc(&u)
    };
    let mut s = String::from("<nav class=\"pages\" aria-label=\"Pages\">\n<ul>\n");
    if page > 1 {
        let _ = writeln!(s, "<li><a href=\"{}\">First page</a></li>", url(1));
        let _ = writeln!(
            s,
            "<li><a href=\"{}\" rel=\"prev\">Previous page</a></li>",
            url(page - 1)
        );
    }
    let _ = writeln!(
        s,
        "<li aria-current=\"page\">Page {} of {}</li>",
        num(page as u64),
        num(pages as u64)
    );
    if page < pages {
        let _ = writeln!(
            s,
            "<li><a href=\"{}\" rel=\"next\">Next page</a></li>",
            url(page + 1)
        );
        let _ = writeln!(s, "<li><a href=\"{}\">Last page</a></li>", url(pages));
    }
    s.push_str("</ul>\n</nav>\n");
    s
}
