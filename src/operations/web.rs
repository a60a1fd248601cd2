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

use crate::config::Config;
use crate::content::{body_of, raw_front_matter};
use crate::diff::{self, patch, word};
use crate::error::{Error, Result};
use crate::history::{self, Drift, PairStatus};
use crate::manifest::DriftCounts;
use crate::manifest::{
    self, ChangeStatus, DiffFile, DocChange, Index, IndexVersion, Manifest, ManifestDoc,
};
use crate::registry::Registry;

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

const CSS: &str = include_str!("web/kbrel.css");
const JS: &str = include_str!("web/kbrel.js");
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
    if content_type == HTML {
        PAGE
    } else if [CSS_TYPE, JS_TYPE, PATCH_TYPE].contains(&content_type) {
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

// ---------------------------------------------------------------------------------------------
// Escaping and small helpers

/// HTML-escape text for element content and (double-quoted) attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a URL path segment or query value (everything but RFC 3986 unreserved).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-encode a `/`-separated path, keeping the slashes.
fn enc_path(p: &str) -> String {
    p.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// An element id (and fragment) for one document in one language: `en/guide/a.md`, with
/// whitespace and `%` percent-encoded (ids may not contain whitespace).
pub fn doc_anchor(lang: &str, path: &str) -> String {
    let mut s = String::new();
    for c in format!("{lang}/{path}").chars() {
        if c.is_whitespace() || c == '%' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(s, "%{b:02X}");
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// The viewer URL of one document.
pub fn doc_url(version: &str, lang: &str, path: &str) -> String {
    format!("/v/{}/{}/{}", enc(version), enc(lang), enc_path(path))
}

fn diff_url(from: &str, to: &str) -> String {
    format!("/diff/{}...{}", enc(from), enc(to))
}

/// A query parameter, decoded (`+` is a space).
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| decode_query(v))
    })
}

fn decode_query(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `20000` → `20,000`.
fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", num(n), if n == 1 { one } else { many })
}

fn date_of(published: &str) -> &str {
    published.get(..10).unwrap_or(published)
}

fn status_word(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Added => "added",
        ChangeStatus::Modified => "modified",
        ChangeStatus::Renamed => "renamed",
        ChangeStatus::Removed => "removed",
    }
}

/// `+12 -3` with a spoken form.
fn counts_html(added: u64, removed: u64) -> String {
    format!(
        "<span class=\"counts\" title=\"{a} added, {r} removed\"><span class=\"plus\">+{an}</span> <span class=\"minus\">-{rn}</span><span class=\"sr\"> ({a} added, {r} removed)</span></span>",
        a = plural(added, "line", "lines"),
        r = plural(removed, "line", "lines"),
        an = num(added),
        rn = num(removed),
    )
}

fn semver_of(v: &str) -> Option<semver::Version> {
    semver::Version::parse(v).ok()
}

/// The version `latest` points at, else the highest.
fn latest(index: &Index) -> Option<&IndexVersion> {
    index
        .dist_tags
        .get("latest")
        .and_then(|v| index.get(v))
        .or_else(|| index.versions.last())
}

// ---------------------------------------------------------------------------------------------
// Verified reads with small caches (manifests are immutable and named by their sha256)

/// The most recently used parsed registry files, keyed by registry and sha256 (the files are
/// immutable, so an entry never goes stale).
type Recent<T> = Mutex<Vec<(String, Arc<T>)>>;

fn recent<T>(cache: &Recent<T>, key: String, load: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
    {
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = c.iter().position(|(k, _)| *k == key) {
            let hit = c.remove(i);
            let v = hit.1.clone();
            c.push(hit);
            return Ok(v);
        }
    }
    let v = Arc::new(load()?);
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 8 {
        c.remove(0);
    }
    c.push((key, v.clone()));
    Ok(v)
}

/// A version's manifest, verified; the last few are kept in memory.
fn manifest_of(reg: &Registry, v: &IndexVersion) -> Result<Arc<Manifest>> {
    static CACHE: OnceLock<Recent<Manifest>> = OnceLock::new();
    let key = format!("{}:{}", reg.dir.display(), v.manifest.sha256);
    recent(CACHE.get_or_init(Default::default), key, || {
        reg.read_manifest(v)
    })
}

/// The drift recorded in a version's manifest (parsed without keeping the documents).
fn drift_of(reg: &Registry, v: &IndexVersion) -> Result<BTreeMap<String, DriftCounts>> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        drift: BTreeMap<String, DriftCounts>,
    }
    static CACHE: OnceLock<Mutex<HashMap<String, BTreeMap<String, DriftCounts>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = format!("{}:{}", reg.dir.display(), v.manifest.sha256);
    if let Some(d) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(d.clone());
    }
    let bytes = reg.read_verified(&v.manifest)?;
    let only: Only = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(reg.path(&v.manifest.path), format!("manifest: {e}")))?;
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 4096 {
        c.clear();
    }
    c.insert(key, only.drift.clone());
    Ok(only.drift)
}

fn blob_text(reg: &Registry, sha256: &str) -> Result<String> {
    let bytes = reg.read_blob(sha256)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::corrupt(
            reg.path(&crate::registry::blob_path(sha256)),
            "blob is not UTF-8",
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Layout

#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Versions,
    Status,
    Diff,
    Doc,
    None,
}

fn layout(index: &Index, title: &str, nav: Nav, main: &str) -> String {
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
            let _ = writeln!(
                s,
                "<li><a href=\"{}\"{}>Latest changes</a></li>",
                esc(&diff_url(p, &l.version)),
                cur(Nav::Diff)
            );
        }
        let _ = writeln!(
            s,
            "<li><a href=\"/v/{}/\"{}>Documents</a></li>",
            esc(&enc(&l.version)),
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
                esc(&enc(&v.version)),
                esc(&v.version)
            );
        }
        m.push_str("</ul>\n");
    }
    Page::html(404, layout(index, "Not found", Nav::None, &m))
}

fn error_page(index: &Index, e: &Error) -> Page {
    let (status, title) = match e {
        Error::UnknownVersion { .. } => return not_found(index, &e.to_string()),
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
fn pager(base: &str, filter: &str, page: usize, pages: usize) -> String {
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

// ---------------------------------------------------------------------------------------------
// `/`: versions

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
                esc(v),
                esc(v)
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
            id = esc(&v.version),
            u = esc(&enc(&v.version)),
            ver = esc(&v.version)
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
            let _ = write!(
                m,
                "<p><a href=\"{}\">Changes from {} to {}</a></p>",
                esc(&diff_url(p, &v.version)),
                esc(p),
                esc(&v.version)
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

// ---------------------------------------------------------------------------------------------
// `/diff/<from>...<to>`

/// One document in one language that differs.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    lang: &'a str,
    /// The id it is grouped under (the newer id, or the old one for removals).
    group: &'a str,
    status: ChangeStatus,
    old: Option<&'a ManifestDoc>,
    new: Option<&'a ManifestDoc>,
    /// Line counts, when known without reading texts (from the release's stored diff).
    counts: Option<(u64, u64)>,
}

impl Entry<'_> {
    fn path(&self) -> &str {
        &self.new.or(self.old).expect("an entry has a side").path
    }
    fn paths(&self) -> Vec<String> {
        let mut v = vec![format!("{}/{}", self.lang, self.path())];
        if let (Some(o), Some(n)) = (self.old, self.new)
            && o.path != n.path
        {
            v.push(format!("{}/{}", self.lang, o.path));
        }
        v
    }
}

type ByKey<'a> = HashMap<(&'a str, &'a str), &'a ManifestDoc>;

fn by_key(docs: &[ManifestDoc]) -> ByKey<'_> {
    docs.iter()
        .map(|d| ((d.lang.as_str(), d.id.as_str()), d))
        .collect()
}

/// Document-level differences: from the release's stored diff when `to` was diffed against
/// `from` at publish time (renames by similarity and line counts included), else by comparing
/// hashes (renames between ids only when the text is identical). No text is read.
fn entries<'a>(
    old: &'a Manifest,
    new: &'a Manifest,
    stored: Option<&'a DiffFile>,
) -> Vec<Entry<'a>> {
    let (old_by, new_by) = (by_key(&old.documents), by_key(&new.documents));
    if let Some(d) = stored {
        let mut out = Vec::with_capacity(d.changes.len());
        let mut consistent = true;
        for c in &d.changes {
            let n = (c.status != ChangeStatus::Removed)
                .then(|| new_by.get(&(c.lang.as_str(), c.id.as_str())).copied());
            let o = (c.status != ChangeStatus::Added).then(|| {
                old_by
                    .get(&(c.lang.as_str(), c.old_id.as_deref().unwrap_or(&c.id)))
                    .copied()
            });
            if n.is_some_and(|x| x.is_none()) || o.is_some_and(|x| x.is_none()) {
                consistent = false;
                break;
            }
            out.push(Entry {
                lang: &c.lang,
                group: &c.id,
                status: c.status,
                old: o.flatten(),
                new: n.flatten(),
                counts: Some((c.added_lines, c.removed_lines)),
            });
        }
        if consistent {
            return out;
        }
    }
    let mut out = Vec::new();
    let mut added: Vec<&ManifestDoc> = Vec::new();
    for n in &new.documents {
        match old_by.get(&(n.lang.as_str(), n.id.as_str())) {
            None => added.push(n),
            Some(o) if o.sha256 == n.sha256 && o.path == n.path && o.key == n.key => {}
            Some(o) => out.push(Entry {
                lang: &n.lang,
                group: &n.id,
                status: if o.path != n.path {
                    ChangeStatus::Renamed
                } else {
                    ChangeStatus::Modified
                },
                old: Some(o),
                new: Some(n),
                counts: None,
            }),
        }
    }
    let mut twins = diff::Twins::new(&added);
    for o in &old.documents {
        if new_by.contains_key(&(o.lang.as_str(), o.id.as_str())) {
            continue;
        }
        match twins.find(o) {
            Some(i) => {
                twins.claim(i);
                out.push(Entry {
                    lang: &o.lang,
                    group: &added[i].id,
                    status: ChangeStatus::Renamed,
                    old: Some(o),
                    new: Some(added[i]),
                    counts: Some((0, 0)),
                });
            }
            None => out.push(Entry {
                lang: &o.lang,
                group: &o.id,
                status: ChangeStatus::Removed,
                old: Some(o),
                new: None,
                counts: None,
            }),
        }
    }
    for (i, n) in added.iter().enumerate() {
        if !twins.is_claimed(i) {
            out.push(Entry {
                lang: &n.lang,
                group: &n.id,
                status: ChangeStatus::Added,
                old: None,
                new: Some(n),
                counts: None,
            });
        }
    }
    out
}

/// Entries grouped by id, each group's entries in language order, groups by path.
fn group<'a>(languages: &[String], entries: Vec<Entry<'a>>) -> Vec<(&'a str, Vec<Entry<'a>>)> {
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    let mut map: HashMap<&'a str, Vec<Entry<'a>>> = HashMap::new();
    for e in entries {
        map.entry(e.group).or_default().push(e);
    }
    let mut groups: Vec<(&'a str, Vec<Entry<'a>>)> = map.into_iter().collect();
    for (_, es) in &mut groups {
        es.sort_by(|a, b| (rank(a.lang), a.lang, a.path()).cmp(&(rank(b.lang), b.lang, b.path())));
    }
    groups.sort_by(|a, b| (a.1[0].path(), a.0).cmp(&(b.1[0].path(), b.0)));
    groups
}

fn matches_filter(entries: &[Entry<'_>], id: &str, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    id.to_lowercase().contains(&f)
        || entries
            .iter()
            .flat_map(|e| e.paths())
            .any(|p| p.to_lowercase().contains(&f))
}

/// The two sides of a diff request, in ascending order, and whether they were swapped.
struct Pair<'a> {
    from: &'a IndexVersion,
    to: &'a IndexVersion,
    swapped: bool,
}

fn pair<'a>(index: &'a Index, from: &str, to: &str) -> std::result::Result<Pair<'a>, String> {
    let f = crate::snapshot::resolve_version(Some(index), from).map_err(|e| e.to_string())?;
    let t = crate::snapshot::resolve_version(Some(index), to).map_err(|e| e.to_string())?;
    let swapped = match (semver_of(&f.version), semver_of(&t.version)) {
        (Some(a), Some(b)) => a > b,
        _ => false,
    };
    Ok(if swapped {
        Pair {
            from: t,
            to: f,
            swapped,
        }
    } else {
        Pair {
            from: f,
            to: t,
            swapped,
        }
    })
}

/// Two published versions being compared, with what the diff pages read of them.
struct Comparison<'a> {
    pair: Pair<'a>,
    old: Arc<Manifest>,
    new: Arc<Manifest>,
    stored: Option<Arc<DiffFile>>,
}

impl<'a> Comparison<'a> {
    /// The comparison, or (inner `Err`) the 404 page naming an unknown version.
    fn load(
        reg: &Registry,
        index: &'a Index,
        from: &str,
        to: &str,
    ) -> Result<std::result::Result<Comparison<'a>, Page>> {
        let pair = match pair(index, from, to) {
            Ok(p) => p,
            Err(msg) => return Ok(Err(not_found(index, &msg))),
        };
        let (old, new) = (manifest_of(reg, pair.from)?, manifest_of(reg, pair.to)?);
        let stored = stored_diff(reg, &pair)?;
        Ok(Ok(Comparison {
            pair,
            old,
            new,
            stored,
        }))
    }

    /// Changed documents grouped by id, in the newer version's language order.
    fn groups(&self) -> Vec<(&str, Vec<Entry<'_>>)> {
        group(
            &self.new.languages,
            entries(&self.old, &self.new, self.stored.as_deref()),
        )
    }
}

/// The stored diff of `to` when it was taken against `from`.
fn stored_diff(reg: &Registry, p: &Pair<'_>) -> Result<Option<Arc<DiffFile>>> {
    static CACHE: OnceLock<Recent<DiffFile>> = OnceLock::new();
    if p.to.previous.as_deref() != Some(p.from.version.as_str()) {
        return Ok(None);
    }
    let key = format!("{}:{}", reg.dir.display(), p.to.diff.sha256);
    let load = || {
        let bytes = reg.read_verified(&p.to.diff)?;
        manifest::parse_diff(&bytes, &reg.path(&p.to.diff.path))
    };
    recent(CACHE.get_or_init(Default::default), key, load).map(Some)
}

/// The texts of an entry's two sides (empty for a missing side).
fn texts(reg: &Registry, e: &Entry<'_>) -> Result<(String, String)> {
    let old = match e.old {
        Some(o) => blob_text(reg, &o.sha256)?,
        None => String::new(),
    };
    let new = match (e.new, e.old) {
        (Some(n), Some(o)) if n.sha256 == o.sha256 => old.clone(),
        (Some(n), _) => blob_text(reg, &n.sha256)?,
        (None, _) => String::new(),
    };
    Ok((old, new))
}

/// The full [`DocChange`] of an entry, as [`diff::diff_docs`] computes it.
fn doc_change(languages: &[String], e: &Entry<'_>, old: &str, new: &str) -> Result<DocChange> {
    let olds: Vec<ManifestDoc> = e.old.into_iter().cloned().collect();
    let news: Vec<ManifestDoc> = e.new.into_iter().cloned().collect();
    let old_sha = e.old.map(|o| o.sha256.clone());
    let src = |d: &ManifestDoc| -> Result<String> {
        Ok(if Some(&d.sha256) == old_sha.as_ref() {
            old.to_string()
        } else {
            new.to_string()
        })
    };
    let changes = diff::diff_docs(languages, &olds, &src, &news, &src)?;
    let found = changes
        .iter()
        .position(|c| c.status == e.status)
        .unwrap_or(0);
    changes
        .into_iter()
        .nth(found)
        .ok_or_else(|| Error::corrupt(".", "document change without a difference"))
}

/// The diff page between two versions.
pub fn diff_page(
    reg: &Registry,
    index: &Index,
    from: &str,
    to: &str,
    page: usize,
    filter: &str,
) -> Result<Page> {
    let c = match Comparison::load(reg, index, from, to)? {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let (p, new) = (&c.pair, &c.new);
    let languages = new.languages.clone();
    let groups = c.groups();
    let total_groups = groups.len();
    let mut per_lang: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    let mut lines: BTreeMap<&str, Option<(u64, u64)>> = BTreeMap::new();
    for (_, es) in &groups {
        for e in es {
            let c = per_lang.entry(e.lang).or_default();
            c[match e.status {
                ChangeStatus::Added => 0,
                ChangeStatus::Modified => 1,
                ChangeStatus::Removed => 2,
                ChangeStatus::Renamed => 3,
            }] += 1;
            let l = lines.entry(e.lang).or_insert(Some((0, 0)));
            *l = match (*l, e.counts) {
                (Some((a, r)), Some((x, y))) => Some((a + x, r + y)),
                _ => None,
            };
        }
    }
    let shown: Vec<&(&str, Vec<Entry<'_>>)> = groups
        .iter()
        .filter(|(id, es)| matches_filter(es, id, filter))
        .collect();
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages);
    let start = (page - 1) * PAGE_SIZE;
    let on_page = &shown[start.min(shown.len())..(start + PAGE_SIZE).min(shown.len())];
    let (fv, tv) = (&p.from.version, &p.to.version);
    let base = diff_url(fv, tv);
    let new_by = by_key(&new.documents);

    let mut m = String::new();
    let _ = writeln!(m, "<h1>Changes from {} to {}</h1>", esc(fv), esc(tv));
    if p.swapped {
        let _ = writeln!(
            m,
            "<p class=\"notice\" role=\"status\">You asked for the changes from {} to {}, but {} is the newer version, \
so the versions were swapped: this page shows the changes from {} to {}.</p>",
            esc(&p.to.version),
            esc(&p.from.version),
            esc(&p.to.version),
            esc(fv),
            esc(tv)
        );
    }
    let _ = writeln!(
        m,
        "<p>{} published {}; {} published {}. {} changed.</p>",
        esc(fv),
        esc(date_of(&p.from.published)),
        esc(tv),
        esc(date_of(&p.to.published)),
        plural(total_groups as u64, "document", "documents")
    );
    // Summary per language.
    m.push_str(
        "<table class=\"grid summary\">\n<caption class=\"sr\">Summary per language</caption>\n<thead><tr><th scope=\"col\">Language</th>\
<th scope=\"col\" class=\"num\">Added</th><th scope=\"col\" class=\"num\">Changed</th><th scope=\"col\" class=\"num\">Removed</th>\
<th scope=\"col\" class=\"num\">Renamed</th><th scope=\"col\">Lines</th></tr></thead>\n<tbody>\n",
    );
    for l in &languages {
        let c = per_lang.get(l.as_str()).copied().unwrap_or_default();
        let ln = match lines.get(l.as_str()).copied().unwrap_or(Some((0, 0))) {
            Some((a, r)) => counts_html(a, r),
            None => "<span class=\"muted\">per document below</span>".to_string(),
        };
        let _ = writeln!(
            m,
            "<tr><th scope=\"row\" lang=\"{}\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(l),
            esc(l),
            num(c[0]),
            num(c[1]),
            num(c[2]),
            num(c[3]),
            ln
        );
    }
    m.push_str("</tbody>\n</table>\n");
    // Toolbar: filter (a GET form: works without JavaScript, across pages) and language toggle.
    let patch_url = if filter.is_empty() {
        format!("{base}.patch")
    } else {
        format!("{base}.patch?q={}", enc(filter))
    };
    let _ = write!(
        m,
        "<div class=\"toolbar\">\n<form method=\"get\" action=\"{base}\" role=\"search\">\n\
<label for=\"filter\">Filter by path</label>\n\
<input id=\"filter\" name=\"q\" type=\"search\" value=\"{q}\" placeholder=\"e.g. guide/\" autocomplete=\"off\">\n\
<button type=\"submit\">Filter all pages</button>\n</form>\n\
<span id=\"filter-count\" class=\"muted\" aria-live=\"polite\"></span>\n\
<fieldset id=\"lang-toggle\" hidden>\n<legend>Show</legend>\n\
<label><input type=\"radio\" name=\"lang\" value=\"all\" checked> All languages</label>\n",
        base = esc(&base),
        q = esc(filter)
    );
    for l in &languages {
        let _ = writeln!(
            m,
            "<label><input type=\"radio\" name=\"lang\" value=\"{0}\"> {0} only</label>",
            esc(l)
        );
    }
    let _ = write!(
        m,
        "</fieldset>\n<a href=\"{}\" download>Download as a patch</a>\n</div>\n",
        esc(&patch_url)
    );
    if !filter.is_empty() {
        let _ = writeln!(
            m,
            "<p class=\"notice\" role=\"status\">{} match “{}”. <a href=\"{}\">Show all documents</a>.</p>",
            plural(shown.len() as u64, "document", "documents"),
            esc(filter),
            esc(&base)
        );
    }
    if shown.len() > PAGE_SIZE {
        let _ = writeln!(
            m,
            "<p class=\"notice pagination\" role=\"status\">This diff is large: {} changed documents are shown \
{} per page. This is page {} of {} (documents {}–{}).</p>",
            num(shown.len() as u64),
            PAGE_SIZE,
            num(page as u64),
            num(pages as u64),
            num(start as u64 + 1),
            num((start + on_page.len()) as u64)
        );
    }
    let nav = pager(&base, filter, page, pages);
    m.push_str(&nav);
    if shown.is_empty() {
        m.push_str("<p>No document changed.</p>\n");
    }
    let cx = GroupContext {
        reg,
        languages: &languages,
        new_by: &new_by,
        to: tv,
        base: &base,
    };
    for (n, (id, es)) in on_page.iter().enumerate() {
        render_group(&mut m, &cx, start + n + 1, id, es)?;
    }
    m.push_str(&nav);
    let title = format!("Changes from {fv} to {tv}");
    Ok(Page::ok(layout(index, &title, Nav::Diff, &m)))
}

/// What every document group of one diff page shares.
struct GroupContext<'a> {
    reg: &'a Registry,
    languages: &'a [String],
    new_by: &'a ByKey<'a>,
    /// The newer version.
    to: &'a str,
    /// The diff page's path.
    base: &'a str,
}

fn render_group(
    m: &mut String,
    cx: &GroupContext<'_>,
    n: usize,
    id: &str,
    es: &[Entry<'_>],
) -> Result<()> {
    let paths: Vec<String> = es.iter().flat_map(|e| e.paths()).collect();
    let title = es
        .iter()
        .find_map(|e| e.new.or(e.old).and_then(|d| d.title.clone()));
    let _ = write!(
        m,
        "<section class=\"doc\" data-nav tabindex=\"-1\" data-paths=\"{}\" aria-labelledby=\"g{n}\">\n<h2 id=\"g{n}\">{}",
        esc(&paths.join("\n")).replace('\n', "&#10;"),
        esc(id)
    );
    if let Some(t) = &title {
        let lang = es[0].lang;
        let _ = write!(
            m,
            " <span class=\"muted\" lang=\"{}\">{}</span>",
            esc(lang),
            esc(t)
        );
    }
    m.push_str("</h2>\n<div class=\"sides\">\n");
    // One column per language: the change, or what the document is in that language.
    let mut langs: Vec<&str> = cx.languages.iter().map(String::as_str).collect();
    for e in es {
        if !langs.contains(&e.lang) {
            langs.push(e.lang);
        }
    }
    for lang in langs {
        let _ = writeln!(m, "<div class=\"side\" data-lang=\"{}\">", esc(lang));
        match es.iter().find(|e| e.lang == lang) {
            Some(e) => render_entry(m, cx, e)?,
            None => {
                let note = match cx.new_by.get(&(lang, id)) {
                    Some(d) => format!(
                        "<a href=\"{}\">{}</a> is unchanged in {}.",
                        esc(&doc_url(cx.to, lang, &d.path)),
                        esc(&format!("{lang}/{}", d.path)),
                        esc(cx.to)
                    ),
                    None => format!("No {} document in {}.", esc(lang), esc(cx.to)),
                };
                let _ = writeln!(
                    m,
                    "<h3>{}</h3>\n<p class=\"unchanged\">{note}</p>",
                    esc(lang)
                );
            }
        }
        m.push_str("</div>\n");
    }
    m.push_str("</div>\n</section>\n");
    Ok(())
}

fn render_entry(m: &mut String, cx: &GroupContext<'_>, e: &Entry<'_>) -> Result<()> {
    let (old, new) = texts(cx.reg, e)?;
    let c = doc_change(cx.languages, e, &old, &new)?;
    let anchor = doc_anchor(e.lang, e.path());
    let full = format!("{}/{}", e.lang, e.path());
    let _ = writeln!(
        m,
        "<h3 id=\"{a}\"><a href=\"#{a}\" title=\"Link to this document\">{p}</a></h3>",
        a = esc(&anchor),
        p = esc(&full)
    );
    let _ = write!(
        m,
        "<p class=\"meta\"><span class=\"tag\">{}</span> ",
        status_word(c.status)
    );
    m.push_str(&counts_html(c.added_lines, c.removed_lines));
    if c.approximate {
        m.push_str(" <span class=\"muted\">(approximate)</span>");
    }
    if e.new.is_some() {
        let _ = write!(
            m,
            " · <a href=\"{}\">View in {}</a>",
            esc(&doc_url(cx.to, e.lang, e.path())),
            esc(cx.to)
        );
    }
    let _ = writeln!(
        m,
        " · <a href=\"{}\">Only this document</a></p>",
        esc(&format!("{}?q={}#{}", cx.base, enc(&full), anchor))
    );
    let lang = esc(e.lang);
    if let Some(op) = &c.old_path {
        let _ = writeln!(
            m,
            "<p class=\"change\">Renamed from <del><code>{}</code></del> to <ins><code>{}</code></ins>{}</p>",
            esc(&format!("{}/{op}", e.lang)),
            esc(&full),
            c.similarity
                .map(|s| format!(" ({s}% similar)"))
                .unwrap_or_default()
        );
    }
    if let Some(ot) = &c.old_title {
        let _ = writeln!(
            m,
            "<p class=\"change\">Title: <del lang=\"{lang}\">{}</del> → <ins lang=\"{lang}\">{}</ins></p>",
            esc(ot),
            esc(c.title.as_deref().unwrap_or(""))
        );
    } else if c.status != ChangeStatus::Modified
        && let Some(t) = &c.title
    {
        let _ = writeln!(
            m,
            "<p class=\"meta\">Title: <span lang=\"{lang}\">{}</span></p>",
            esc(t)
        );
    }
    if let Some(ok) = &c.old_key {
        let _ = writeln!(
            m,
            "<p class=\"change\">Key: <del><code>{}</code></del> → <ins><code>{}</code></ins></p>",
            esc(ok),
            esc(&c.key)
        );
    }
    if !c.fields_changed.is_empty() {
        let (of, nf) = (raw_front_matter(&old), raw_front_matter(&new));
        m.push_str("<details class=\"fm-changes\" open>\n<summary>Front matter changed: ");
        m.push_str(&esc(&c.fields_changed.join(", ")));
        let _ = writeln!(m, "</summary>\n<dl class=\"fm change\" lang=\"{lang}\">");
        for f in &c.fields_changed {
            let o = of
                .get(f)
                .map(|x| format!("<del>{}</del>", esc(&x.raw)))
                .unwrap_or_else(|| "<span class=\"muted\">(absent)</span>".into());
            let n = nf
                .get(f)
                .map(|x| format!("<ins>{}</ins>", esc(&x.raw)))
                .unwrap_or_else(|| "<span class=\"muted\">(absent)</span>".into());
            let _ = writeln!(m, "<dt>{}</dt><dd>{o} → {n}</dd>", esc(f));
        }
        m.push_str("</dl>\n</details>\n");
    }
    render_hunks(m, e.lang, &old, &new);
    Ok(())
}

/// Unified hunks (3 lines of context) as a table: old and new line numbers, a `+`/`-` marker
/// and the line, with word-level `<ins>`/`<del>` inside changed line pairs. Unchanged runs
/// between hunks are collapsed (expandable when short).
pub fn render_hunks(m: &mut String, lang: &str, old: &str, new: &str) {
    if old == new {
        m.push_str("<p class=\"unchanged\">The text is unchanged.</p>\n");
        return;
    }
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .diff_lines(old, new);
    let ol: Vec<&str> = old.split_inclusive('\n').collect();
    let nl: Vec<&str> = new.split_inclusive('\n').collect();
    let _ = writeln!(
        m,
        "<table class=\"hunks\" lang=\"{}\">\n<colgroup><col class=\"ln\"><col class=\"ln\"><col class=\"mk\"><col></colgroup>\n\
<thead class=\"sr\"><tr><th scope=\"col\">Old line</th><th scope=\"col\">New line</th><th scope=\"col\">Change</th><th scope=\"col\">Text</th></tr></thead>\n<tbody>",
        esc(lang)
    );
    let mut done_old = 0;
    for g in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (g.first(), g.last()) else {
            continue;
        };
        let (os, ns) = (first.old_range().start, first.new_range().start);
        let (oe, ne) = (last.old_range().end, last.new_range().end);
        gap(m, &ol[done_old..os]);
        let _ = writeln!(
            m,
            "<tr class=\"hunk\"><td colspan=\"4\">@@ -{} +{} @@</td></tr>",
            hunk_range(os, oe - os),
            hunk_range(ns, ne - ns)
        );
        for op in &g {
            match *op {
                DiffOp::Equal {
                    old_index,
                    new_index,
                    len,
                } => {
                    for i in 0..len {
                        row(
                            m,
                            "ctx",
                            Some(old_index + i),
                            Some(new_index + i),
                            &esc(line(ol[old_index + i])),
                        );
                    }
                }
                DiffOp::Delete {
                    old_index, old_len, ..
                } => {
                    for (i, l) in ol.iter().enumerate().skip(old_index).take(old_len) {
                        row(m, "del", Some(i), None, &whole("del", l));
                    }
                }
                DiffOp::Insert {
                    new_index, new_len, ..
                } => {
                    for (i, l) in nl.iter().enumerate().skip(new_index).take(new_len) {
                        row(m, "add", None, Some(i), &whole("ins", l));
                    }
                }
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let pairs: Vec<Option<(String, String)>> = (0..old_len.min(new_len))
                        .map(|i| intraline(ol[old_index + i], nl[new_index + i]))
                        .collect();
                    for i in 0..old_len {
                        let html = match pairs.get(i) {
                            Some(Some((o, _))) => o.clone(),
                            _ => whole("del", ol[old_index + i]),
                        };
                        row(m, "del", Some(old_index + i), None, &html);
                    }
                    for i in 0..new_len {
                        let html = match pairs.get(i) {
                            Some(Some((_, n))) => n.clone(),
                            _ => whole("ins", nl[new_index + i]),
                        };
                        row(m, "add", None, Some(new_index + i), &html);
                    }
                }
            }
        }
        done_old = oe;
    }
    gap(m, &ol[done_old.min(ol.len())..]);
    m.push_str("</tbody>\n</table>\n");
}

fn hunk_range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

fn line(l: &str) -> &str {
    l.strip_suffix('\n').unwrap_or(l)
}

fn whole(tag: &str, l: &str) -> String {
    format!("<{tag} class=\"line\">{}</{tag}>", esc(line(l)))
}

fn row(m: &mut String, class: &str, o: Option<usize>, n: Option<usize>, html: &str) {
    let ln = |x: Option<usize>| x.map(|i| (i + 1).to_string()).unwrap_or_default();
    let (mark, spoken) = match class {
        "add" => ("+", "added"),
        "del" => ("-", "removed"),
        _ => (" ", "unchanged"),
    };
    let _ = writeln!(
        m,
        "<tr class=\"{class}\"><td class=\"ln\">{}</td><td class=\"ln\">{}</td><td class=\"mk\"><span aria-hidden=\"true\">{mark}</span><span class=\"sr\">{spoken}</span></td><td class=\"code\">{html}</td></tr>",
        ln(o),
        ln(n)
    );
}

/// A collapsed run of unchanged lines.
fn gap(m: &mut String, lines: &[&str]) {
    if lines.is_empty() {
        return;
    }
    let n = lines.len() as u64;
    let label = format!(
        "⋯ {} unchanged {}",
        num(n),
        if n == 1 { "line" } else { "lines" }
    );
    if lines.len() <= EXPANDABLE_GAP {
        let text: String = lines.concat();
        let _ = writeln!(
            m,
            "<tr class=\"gap\"><td colspan=\"4\"><details><summary>{label}</summary><pre>{}</pre></details></td></tr>",
            esc(text.strip_suffix('\n').unwrap_or(&text))
        );
    } else {
        let _ = writeln!(m, "<tr class=\"gap\"><td colspan=\"4\">{label}</td></tr>");
    }
}

/// Word-level rendering of a changed line pair (`<del>` in the old line, `<ins>` in the new),
/// or `None` when the lines have too little in common for it to help.
fn intraline(old: &str, new: &str) -> Option<(String, String)> {
    let (o, n) = (line(old), line(new));
    if o.len() > INTRALINE_MAX || n.len() > INTRALINE_MAX {
        return None;
    }
    let lead = |s: &str| s.len() - s.trim_start().len();
    let (lo, lnn) = (lead(o), lead(n));
    let (ot, nt) = (&o[lo..], &n[lnn..]);
    let (mut oh, mut nh) = (esc(&o[..lo]), esc(&n[..lnn]));
    let (mut op, mut np) = (String::new(), String::new());
    let mut common = 0usize;
    for p in word::word_diff(ot, nt) {
        match p {
            word::Piece::Equal(t) => {
                op.push_str(&t);
                np.push_str(&t);
                oh.push_str(&esc(&t));
                nh.push_str(&esc(&t));
                common += t.trim().chars().count();
            }
            word::Piece::Delete(t) => {
                let (w, ws) = word::split_trailing_ws(&t);
                let _ = write!(oh, "<del>{}</del>{}", esc(w), esc(ws));
                op.push_str(&t);
            }
            word::Piece::Insert(t) => {
                let (w, ws) = word::split_trailing_ws(&t);
                let _ = write!(nh, "<ins>{}</ins>{}", esc(w), esc(ws));
                np.push_str(&t);
            }
        }
    }
    // Equal pieces carry the newer whitespace: when that differs, the old line would not be
    // reproduced exactly, so fall back to whole-line marks.
    if op != ot || np != nt {
        return None;
    }
    let longest = ot.trim().chars().count().max(nt.trim().chars().count());
    if common == 0 || common * 3 < longest {
        return None;
    }
    Some((oh, nh))
}

/// `/diff/<from>...<to>.patch`: the unified patch of the same changes (all pages).
pub fn diff_patch(
    reg: &Registry,
    index: &Index,
    from: &str,
    to: &str,
    filter: &str,
) -> Result<Page> {
    let c = match Comparison::load(reg, index, from, to)? {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let new = &c.new;
    let languages = new.languages.clone();
    let groups = c.groups();
    let mut out = String::new();
    // Patch order: by language, then path (as `kbrel diff --patch`).
    let mut es: Vec<Entry<'_>> = groups
        .into_iter()
        .filter(|(id, es)| matches_filter(es, id, filter))
        .flat_map(|(_, es)| es)
        .collect();
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    es.sort_by(|a, b| (rank(a.lang), a.path()).cmp(&(rank(b.lang), b.path())));
    for e in &es {
        let (o, n) = texts(reg, e)?;
        let c = doc_change(&languages, e, &o, &n)?;
        out.push_str(&patch::unified(&c, &o, &n, CONTEXT));
    }
    Ok(Page {
        status: 200,
        content_type: PATCH_TYPE,
        body: out,
    })
}

// ---------------------------------------------------------------------------------------------
// `/v/<version>/` and `/v/<version>/<lang>/<path>`

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
    let base = format!("/v/{}/", enc(&v.version));
    let mut m = String::new();
    let _ = writeln!(m, "<h1>{} {}</h1>", esc(&index.name), esc(&v.version));
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
                esc(&doc_url(&v.version, &d.lang, &d.path)),
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
        esc(&enc(&v.version)),
        esc(&v.version),
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
                    esc(&doc_url(&v.version, &d.lang, &d.path)),
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
        let full = format!("{}/{}", doc.lang, doc.path);
        let _ = write!(
            m,
            " · <a href=\"{}\">Changes since {}</a>",
            esc(&format!(
                "{}?q={}#{}",
                diff_url(p, &v.version),
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

// ---------------------------------------------------------------------------------------------
// `/status`

/// Translation status of the latest version after the published history.
pub fn status_page(reg: &Registry, index: &Index, page: usize) -> Result<Page> {
    let Some(v) = latest(index) else {
        return Ok(not_found(index, "Nothing is published yet."));
    };
    let man = manifest_of(reg, v)?;
    let mut cfg = Config::default_for(&index.name, std::path::Path::new("."));
    cfg.content.languages = man.languages.clone();
    cfg.content.source_language = Some(man.source_language.clone());
    let acks = history::Acks {
        schema_version: manifest::SCHEMA_VERSION,
        acks: Vec::new(),
    };
    let before = semver_of(&v.version);
    let statuses = history::status_after_history(
        &cfg,
        reg,
        Some(index),
        history::HistoryFilter {
            keep: &|x, _| match (&before, semver_of(&x.version)) {
                (Some(b), Some(p)) => p < *b,
                _ => true,
            },
            stop_at_same: false,
        },
        &v.version,
        &man.documents,
        &acks,
    )?;
    let counts = history::drift_counts(&statuses);
    let source = man.source_language.as_str();
    let mut m = String::new();
    let _ = writeln!(m, "<h1>Translation status of {}</h1>", esc(&v.version));
    let _ = writeln!(
        m,
        "<p>Every translation of version {} against its {} source, after the published history of {}. \
Acknowledgements made with <code>kbrel ack</code> are kept in the project, not in the registry, so they are not \
applied here (the drift recorded at publish time on the <a href=\"/\">versions page</a> includes them).</p>",
        esc(&v.version),
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
    let of = |d: Drift| {
        statuses
            .iter()
            .filter(move |s| s.state == d)
            .collect::<Vec<&PairStatus>>()
    };
    let outdated = of(Drift::Outdated);
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
            esc(&doc_url(&v.version, &s.lang, &s.path)),
            esc(&format!("{}/{}", s.lang, s.path)),
            a = esc(&anchor),
            l = esc(&s.lang)
        );
        let _ = writeln!(
            m,
            "<div class=\"side\"><p class=\"meta\">Source <a href=\"{}\">{}</a> changed in {}; the translation was last in step at {}.</p>",
            esc(&doc_url(&v.version, source, src_path)),
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
            render_hunks(&mut m, source, &a, &b);
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
    for (state, title, what) in [
        (Drift::Missing, "Missing translations", "no translation"),
        (
            Drift::Orphaned,
            "Orphaned translations",
            "no source document",
        ),
    ] {
        let list = of(state);
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
            continue;
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
                esc(&doc_url(&v.version, lang, path)),
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
    let current = of(Drift::Current);
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
                esc(&doc_url(&v.version, &s.lang, &s.path)),
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
    Ok(Page::ok(layout(
        index,
        &format!("Translation status of {}", v.version),
        Nav::Status,
        &m,
    )))
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
