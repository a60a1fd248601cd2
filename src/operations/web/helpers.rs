//! Escaping, percent-encoding, URLs and small formatting helpers.

use super::*;

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
pub(super) fn enc_path(p: &str) -> String {
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

pub(super) fn diff_url(from: &str, to: &str) -> String {
    format!("/diff/{}...{}", enc(from), enc(to))
}

/// A query parameter, decoded (`+` is a space).
pub(super) fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| decode_query(v))
    })
}

pub(super) fn decode_query(v: &str) -> String {
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
pub(super) fn num(n: u64) -> String {
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

pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", num(n), if n == 1 { one } else { many })
}

pub(super) fn date_of(published: &str) -> &str {
    published.get(..10).unwrap_or(published)
}

pub(super) fn status_word(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Added => "added",
        ChangeStatus::Modified => "modified",
        ChangeStatus::Renamed => "renamed",
        ChangeStatus::Removed => "removed",
    }
}

/// `+12 -3` with a spoken form.
pub(super) fn counts_html(added: u64, removed: u64) -> String {
    format!(
        "<span class=\"counts\" title=\"{a} added, {r} removed\"><span class=\"plus\">+{an}</span> <span class=\"minus\">-{rn}</span><span class=\"sr\"> ({a} added, {r} removed)</span></span>",
        a = plural(added, "line", "lines"),
        r = plural(removed, "line", "lines"),
        an = num(added),
        rn = num(removed),
    )
}

/// The version `latest` points at, else the highest.
pub(super) fn latest(index: &Index) -> Option<&IndexVersion> {
    index
        .dist_tags
        .get("latest")
        .and_then(|v| index.get_version(v))
        .or_else(|| index.versions.last())
}
