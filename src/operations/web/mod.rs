//! The release viewer: server-rendered HTML pages over a registry, served by `kbrel serve` to
//! browsers (issue #8). Pure functions of the registry: every page is rendered from verified
//! registry reads, with a little external CSS and JavaScript (`/assets/`) and no build step.
//!
//! Pages (all paths below the server root):
//!
//! - `/`: the package, its dist-tags and every version (newest first) with its date, document
//!   counts, change summary and translation drift per language;
//! - `/diff/<from>...<to>`: every changed document grouped by id, its languages side by side,
//!   with unified hunks (3 lines of context), word-level highlighting and front-matter
//!   changes; `?q=` filters by path, `?page=N` pages through huge diffs ([`PAGE_SIZE`]
//!   documents a page; only the documents on the page are read and diffed);
//!   `/diff/<from>...<to>.patch` is the same diff as a unified patch (`text/x-diff`);
//! - `/v/<version>/`: the documents of a version; `/v/<version>/<lang>/<path>`: one document
//!   rendered from markdown (raw HTML escaped, unsafe link schemes dropped);
//!   `/v/<version>/<asset path>`: an asset of the version ([`asset_at`], served by the server
//!   from its blob with the content type of its extension), so relative image links work;
//! - `/status`: translation status of the latest version after the published history, with the
//!   source changes each outdated translation has not absorbed;
//! - `/assets/kbrel.css`, `/assets/kbrel.js`.
//!
//! Security invariant: everything that comes from documents, paths, titles, front matter or the
//! request is HTML-escaped ([`esc`]) or percent-encoded ([`enc`]) where it is written, and the
//! pages need no inline script or style, so [`CSP`] can forbid both.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use similar::{Algorithm, DiffOp, TextDiff};

use crate::content::{body_of, raw_front_matter};
use crate::diff::{self, patch, word};
use crate::error::{Error, Result};
use crate::history::{self, Drift, PairStatus};
use crate::manifest::DriftCounts;
use crate::manifest::{
    self, ChangeStatus, DiffFile, DocChange, Index, IndexVersion, Manifest, ManifestDoc,
};
use crate::registry::Registry;

mod diffs;
mod documents;
mod helpers;
mod hunks;
mod layout;
mod media;
mod reads;
mod status;
mod versions;

pub use diffs::*;
pub use documents::*;
pub use helpers::*;
pub use hunks::*;
pub use layout::*;
pub use media::*;
use reads::*;
pub use status::*;
pub use versions::*;

/// The Content-Security-Policy of every page: no inline script or style, nothing from other
/// origins, images only from the server or `data:` URLs.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'";
/// Documents (ids, with all their languages) on one page of a diff.
pub const PAGE_SIZE: usize = 200;
/// Outdated translations (each with its source diff) on one page of `/status`.
pub const STATUS_PAGE_SIZE: usize = 100;
/// Documents on one page of a version's document list.
pub const LIST_PAGE_SIZE: usize = 1000;
/// Lines of context around changes (as `git diff`).
pub const CONTEXT: usize = 3;
pub const HTML: &str = "text/html; charset=utf-8";
pub const CSS_TYPE: &str = "text/css; charset=utf-8";
pub const JS_TYPE: &str = "text/javascript; charset=utf-8";
pub const PATCH_TYPE: &str = "text/x-diff; charset=utf-8";

const CSS: &str = include_str!("kbrel.css");
const JS: &str = include_str!("kbrel.js");
/// Collapsed unchanged runs up to this many lines can be expanded in place (`<details>`).
const EXPANDABLE_GAP: usize = 400;
/// Lines longer than this get no word-level highlighting (cost bound).
const INTRALINE_MAX: usize = 4000;

/// Extra response headers for the viewer's content types: the [`CSP`] on pages, and
/// `nosniff` on everything the viewer serves. Nothing for other content types.
pub fn security_headers(content_type: &str) -> &'static [(&'static str, &'static str)] {
    const PAGE: &[(&str, &str)] = &[
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ];
    const OTHER: &[(&str, &str)] = &[("x-content-type-options", "nosniff")];
    const SVG: &[(&str, &str)] = &[
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        ),
        ("x-content-type-options", "nosniff"),
    ];
    if content_type == HTML {
        PAGE
    } else if content_type == SVG_TYPE {
        SVG
    } else if [CSS_TYPE, JS_TYPE, PATCH_TYPE].contains(&content_type)
        || content_type.starts_with("image/")
        || content_type.starts_with("video/")
        || content_type.starts_with("audio/")
        || content_type == "application/pdf"
        || content_type == "application/octet-stream"
    {
        OTHER
    } else {
        &[]
    }
}

/// A rendered response: the server adds ETag, caching and security headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Page {
    fn html(status: u16, body: String) -> Page {
        Page {
            status,
            content_type: HTML,
            body,
        }
    }
    fn ok(body: String) -> Page {
        Page::html(200, body)
    }
}

/// Whether a request path (percent-decoded, without the leading `/`) belongs to the viewer
/// rather than to the registry files or npm's read API. A path that could also be the npm
/// route of a package with the same first segment (a package named `diff` or `status`) is the
/// viewer's only for clients that accept `text/html`.
pub fn is_ui_path(rest: &str, accept: &str, package: &str) -> bool {
    if rest.is_empty() {
        return true;
    }
    let first = rest.split('/').next().unwrap_or("");
    let ui = match first {
        "status" => rest == "status" || rest == "status/",
        "diff" => rest.len() > "diff/".len() && rest.starts_with("diff/"),
        "assets" => rest.starts_with("assets/"),
        "v" => {
            let mut it = rest.splitn(3, '/');
            it.next();
            match (it.next(), it.next()) {
                // `/v/<version>` and `/v/<version>/`: the document list.
                (Some(v), None) => !v.is_empty(),
                // `/v/<version>/manifest.json` etc. are registry files: a document path ends
                // in `.md` or has at least two segments (`<lang>/<path>`).
                (Some(v), Some(file)) => {
                    !v.is_empty()
                        && (file.is_empty() || file.contains('/') || file.ends_with(".md"))
                }
                _ => false,
            }
        }
        _ => false,
    };
    let package_first = package.split('/').next().unwrap_or(package);
    ui && (first != package_first || accept.contains("text/html"))
}

/// Render the viewer page for `rest` (percent-decoded path without the leading `/`) and the
/// raw query string. Errors become an HTML error page.
pub fn render(reg: &Registry, index: &Index, rest: &str, query: &str) -> Page {
    match route(reg, index, rest, query) {
        Ok(p) => p,
        Err(e) => error_page(index, &e),
    }
}

fn route(reg: &Registry, index: &Index, rest: &str, query: &str) -> Result<Page> {
    let page = param(query, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let filter = param(query, "q").unwrap_or_default();
    if rest.is_empty() {
        return Ok(Page::ok(index_page(reg, index)?));
    }
    if rest == "status" || rest == "status/" {
        return status_page(reg, index, page);
    }
    if let Some(name) = rest.strip_prefix("assets/") {
        return Ok(match name {
            "kbrel.css" => Page {
                status: 200,
                content_type: CSS_TYPE,
                body: CSS.to_string(),
            },
            "kbrel.js" => Page {
                status: 200,
                content_type: JS_TYPE,
                body: JS.to_string(),
            },
            _ => not_found(index, &format!("There is no asset named “{name}”.")),
        });
    }
    if let Some(spec) = rest.strip_prefix("diff/") {
        let Some((from, to)) = spec.split_once("...") else {
            return Ok(not_found(
                index,
                "A diff address names two versions: /diff/<from>...<to> (for example /diff/1.0.0...1.1.0).",
            ));
        };
        if let Some(bare) = to.strip_suffix(".patch")
            && crate::snapshot::resolve_version(Some(index), to).is_err()
        {
            return diff_patch(reg, index, from, bare, &filter);
        }
        return diff_page(reg, index, from, to, page, &filter);
    }
    if let Some(vrest) = rest.strip_prefix("v/") {
        let (version, file) = vrest.split_once('/').unwrap_or((vrest, ""));
        if file.is_empty() {
            return version_page(reg, index, version, page, &filter);
        }
        let (lang, path) = file.split_once('/').unwrap_or(("", file));
        return doc_page(reg, index, version, lang, path);
    }
    Ok(not_found(index, "There is no page at this address."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(enc("a b/ç"), "a%20b%2F%C3%A7");
        assert_eq!(
            doc_url("1.0.0", "zh", "指南/a b.md"),
            "/v/1.0.0/zh/%E6%8C%87%E5%8D%97/a%20b.md"
        );
        assert_eq!(doc_anchor("en", "a b%.md"), "en/a%20b%25.md");
        assert_eq!(decode_query("a+b%2Fc%zz"), "a b/c%zz");
        assert_eq!(param("page=3&q=en%2Ffaq", "q").as_deref(), Some("en/faq"));
        assert_eq!(num(20000), "20,000");
        assert_eq!(num(999), "999");
    }

    #[test]
    fn ui_paths() {
        let ui = |p: &str| is_ui_path(p, "*/*", "acme-kb");
        assert!(ui(""));
        assert!(ui("status"));
        assert!(ui("diff/1.0.0...1.1.0"));
        assert!(ui("assets/kbrel.css"));
        assert!(ui("v/1.0.0/en/faq.md"));
        assert!(ui("v/1.0.0/en/guide/setup"));
        assert!(ui("v/1.0.0/"));
        assert!(!ui("v/1.0.0/manifest.json"));
        assert!(!ui("v/1.0.0/diff.json"));
        assert!(!ui("v/1.0.0/package.json"));
        assert!(!ui("acme-kb"));
        assert!(!ui("index.json"));
        // A package named like a viewer route keeps its npm routes for npm clients.
        assert!(!is_ui_path("diff/1.0.0", "application/json", "diff"));
        assert!(is_ui_path("diff/1.0.0...1.1.0", "text/html,*/*", "diff"));
    }

    #[test]
    fn urls_are_sanitised() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:x",
            " java\tscript:x",
            "vbscript:x",
            "data:text/html,x",
        ] {
            assert!(!safe_url(bad, false), "{bad}");
        }
        for good in [
            "https://x.org",
            "http://x",
            "mailto:a@b",
            "../a.md",
            "#top",
            "a.md?x=1:2",
            "/abs",
        ] {
            assert!(safe_url(good, false), "{good}");
        }
        assert!(safe_url("data:image/png;base64,AAAA", true));
        assert!(!safe_url("data:image/svg+xml,<svg onload=alert(1)>", true));
        assert!(!safe_url("data:image/png;base64,AAAA", false));
    }

    #[test]
    fn raw_html_is_inert() {
        let html = render_markdown(
            "# Title\n\n<script>window.pwned=1</script>\n\nText <img src=x onerror=\"window.pwned=1\"> and [x](javascript:alert(1)).\n\n[ok](../a.md)\n",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=\"window.pwned=1\"&gt;"),
            "{html}"
        );
        assert!(html.contains("<a href=\"#\">x</a>"), "{html}");
        assert!(html.contains("<a href=\"../a.md\">ok</a>"), "{html}");
        assert!(html.contains("<h1 id=\"title\">Title</h1>"), "{html}");
    }

    #[test]
    fn word_level_marks() {
        let (o, n) = intraline("  the quick brown fox\n", "  the slow brown fox\n").unwrap();
        assert_eq!(o, "  the <del>quick</del> brown fox");
        assert_eq!(n, "  the <ins>slow</ins> brown fox");
        let (o, n) = intraline("我们提高了效率。", "我们提升了效率。").unwrap();
        assert_eq!(o, "我们<del>提高</del>了效率。");
        assert_eq!(n, "我们<ins>提升</ins>了效率。");
        assert!(intraline("completely different", "nothing alike here").is_none());
    }

    #[test]
    fn hunks_collapse_context() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n");
        let mut m = String::new();
        render_hunks(&mut m, "en", &old, &new);
        assert!(m.contains("@@ -7,7 +7,7 @@"), "{m}");
        assert!(m.contains("⋯ 6 unchanged lines"), "{m}");
        assert!(m.contains("⋯ 7 unchanged lines"), "{m}");
        assert!(m.contains("line <ins>ten</ins>"), "{m}");
    }
}
