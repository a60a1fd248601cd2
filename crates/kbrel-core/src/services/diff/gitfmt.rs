//! git's `--name-status` and `--stat` formats for document changes (pure).
//!
//! Written to git's documentation (`git diff --help`, "Raw output format" and `--stat`) and
//! to `diff.c`: paths are `<lang>/<path>`, C-quoted as git quotes them with
//! `core.quotePath=false` (UTF-8 kept; `"`, `\` and control characters escaped, the whole
//! name then in double quotes), so no name can break a line or a field. A rename always
//! carries its score and both paths; kbrel never reports copies.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use crate::manifest::{ChangeStatus, DocChange};

/// A path as git prints it with `core.quotePath=false`: verbatim unless it holds `"`, `\` or
/// a control character, then C-quoted (`\t`, `\n`, `\"`, `\\`, other bytes as `\ooo`).
pub fn quote_path(path: &str) -> String {
    let special = |b: u8| b < 0x20 || b == 0x7f || b == b'"' || b == b'\\';
    if !path.bytes().any(special) {
        return path.to_string();
    }
    let mut out = String::with_capacity(path.len() + 8);
    out.push('"');
    for c in path.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The old and new `<lang>/<path>` of a change (`None` for the side that does not exist).
fn sides(c: &DocChange) -> (Option<String>, Option<String>) {
    let path = format!("{}/{}", c.lang, c.path);
    match c.status {
        ChangeStatus::Added => (None, Some(path)),
        ChangeStatus::Removed => (Some(path), None),
        ChangeStatus::Modified => (Some(path.clone()), Some(path)),
        ChangeStatus::Renamed => match &c.old_path {
            Some(old) => (Some(format!("{}/{old}", c.lang)), Some(path)),
            None => (Some(path.clone()), Some(path)),
        },
    }
}

/// `git diff --name-status -M` lines: `A\tpath`, `D\tpath`, `M\tpath`, `R<score>\told\tnew`
/// (score in three digits; a rename whose path did not change is an `M`).
pub fn name_status(changes: &[DocChange]) -> String {
    let mut s = String::new();
    for c in changes {
        match sides(c) {
            (Some(old), Some(new)) if old != new => {
                let _ = writeln!(
                    s,
                    "R{:03}\t{}\t{}",
                    c.similarity.unwrap_or(100).min(100),
                    quote_path(&old),
                    quote_path(&new)
                );
            }
            (_, Some(new)) if c.status == ChangeStatus::Added => {
                let _ = writeln!(s, "A\t{}", quote_path(&new));
            }
            (Some(old), None) => {
                let _ = writeln!(s, "D\t{}", quote_path(&old));
            }
            (_, Some(new)) => {
                let _ = writeln!(s, "M\t{}", quote_path(&new));
            }
            (None, None) => {}
        }
    }
    s
}

/// git's name of a rename in `--stat`: the common leading directories and trailing part
/// outside braces, `a/{old => new}/c`, or `old => new` when nothing is shared (`pprint_rename`
/// in git's diff.c).
pub fn rename_name(a: &str, b: &str) -> String {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let mut pfx = 0;
    let mut i = 0;
    while i < ab.len() && i < bb.len() && ab[i] == bb[i] {
        if ab[i] == b'/' {
            pfx = i + 1;
        }
        i += 1;
    }
    // The common suffix, starting at a slash; with a prefix, the scan may reach back onto
    // the prefix's own slash.
    let adjust = usize::from(pfx > 0);
    let (mut oi, mut ni) = (ab.len() as isize, bb.len() as isize);
    let mut sfx = 0usize;
    let at = |s: &[u8], i: isize| {
        if i as usize == s.len() {
            0
        } else {
            s[i as usize]
        }
    };
    while (pfx as isize - adjust as isize) <= oi
        && (pfx as isize - adjust as isize) <= ni
        && oi >= 0
        && ni >= 0
        && at(ab, oi) == at(bb, ni)
    {
        if at(ab, oi) == b'/' {
            sfx = ab.len() - oi as usize;
        }
        oi -= 1;
        ni -= 1;
    }
    let a_mid = ab.len().saturating_sub(pfx + sfx);
    let b_mid = bb.len().saturating_sub(pfx + sfx);
    let mut out = String::new();
    if pfx + sfx > 0 {
        out.push_str(&a[..pfx]);
        out.push('{');
    }
    out.push_str(&a[pfx..pfx + a_mid]);
    out.push_str(" => ");
    out.push_str(&b[pfx..pfx + b_mid]);
    if pfx + sfx > 0 {
        out.push('}');
        out.push_str(&a[a.len() - sfx..]);
    }
    out
}

/// One `--stat` row before layout: the printed name and the counts.
struct Row {
    name: String,
    added: u64,
    removed: u64,
}

fn scale_linear(it: u64, width: u64, max_change: u64) -> u64 {
    if it == 0 {
        0
    } else {
        1 + it * (width - 1) / max_change
    }
}

fn decimal_width(n: u64) -> usize {
    n.to_string().len()
}

/// `git diff --stat` for `changes` at a total `width` (git's default is 80 columns when
/// the output is not a terminal): ` name | N +++--` per document, names cut from the left
/// with `...` when too long, the graph scaled as git scales it, and the
/// ` N files changed, X insertions(+), Y deletions(-)` summary. Empty for no changes.
pub fn stat(changes: &[DocChange], width: usize) -> String {
    let rows: Vec<Row> = changes
        .iter()
        .map(|c| {
            let name = match sides(c) {
                (Some(old), Some(new)) if old != new => {
                    rename_name(&quote_path(&old), &quote_path(&new))
                }
                (_, Some(p)) | (Some(p), None) => quote_path(&p),
                (None, None) => String::new(),
            };
            Row {
                name,
                added: c.added_lines,
                removed: c.removed_lines,
            }
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let max_len = rows.iter().map(|r| r.name.width()).max().unwrap_or(0) as i64;
    let max_change = rows.iter().map(|r| r.added + r.removed).max().unwrap_or(0);
    let number_width = decimal_width(max_change) as i64;
    let mut width = width as i64;
    if width < 16 + 6 + number_width {
        width = 16 + 6 + number_width;
    }
    let mut graph_width = max_change as i64;
    let mut name_width = max_len;
    if name_width + number_width + 6 + graph_width > width {
        if graph_width > width * 3 / 8 - number_width - 6 {
            graph_width = (width * 3 / 8 - number_width - 6).max(6);
        }
        if name_width > width - number_width - 6 - graph_width {
            name_width = width - number_width - 6 - graph_width;
        } else {
            graph_width = width - number_width - 6 - name_width;
        }
    }
    let mut s = String::new();
    let (mut insertions, mut deletions) = (0u64, 0u64);
    for r in &rows {
        insertions += r.added;
        deletions += r.removed;
        let mut name: &str = &r.name;
        let mut prefix = "";
        let mut len = name_width;
        let mut name_len = name.width() as i64;
        if name_width < name_len {
            prefix = "...";
            len = (len - 3).max(0);
            let mut chars = name.char_indices();
            while name_len > len {
                let Some((_, c)) = chars.next() else { break };
                name_len -= unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) as i64;
                name = &r.name[chars.offset()..];
            }
            if let Some(slash) = name.find('/') {
                name = &name[slash..];
            }
        }
        let padding = (len - name.width() as i64).max(0) as usize;
        let (mut add, mut del) = (r.added, r.removed);
        let gw = graph_width as u64;
        if gw <= max_change {
            let mut total = scale_linear(add + del, gw, max_change);
            if total < 2 && add > 0 && del > 0 {
                total = 2;
            }
            if add < del {
                add = scale_linear(add, gw, max_change);
                del = total - add;
            } else {
                del = scale_linear(del, gw, max_change);
                add = total - del;
            }
        }
        let changed = r.added + r.removed;
        let _ = writeln!(
            s,
            " {prefix}{name}{:padding$} | {changed:>nw$}{}{}{}",
            "",
            if changed > 0 { " " } else { "" },
            "+".repeat(add as usize),
            "-".repeat(del as usize),
            nw = number_width as usize,
        );
    }
    let files = rows.len();
    let _ = write!(
        s,
        " {files} file{} changed",
        if files == 1 { "" } else { "s" }
    );
    if insertions > 0 || deletions == 0 {
        let _ = write!(
            s,
            ", {insertions} insertion{}(+)",
            if insertions == 1 { "" } else { "s" }
        );
    }
    if deletions > 0 || insertions == 0 {
        let _ = write!(
            s,
            ", {deletions} deletion{}(-)",
            if deletions == 1 { "" } else { "s" }
        );
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_are_named_as_git_names_them() {
        assert_eq!(rename_name("a/b/c.md", "a/d/c.md"), "a/{b => d}/c.md");
        assert_eq!(rename_name("a.md", "b.md"), "a.md => b.md");
        assert_eq!(
            rename_name("en/moved.md", "en/guide/moved-here.md"),
            "en/{moved.md => guide/moved-here.md}"
        );
        assert_eq!(rename_name("en/x/a.md", "en/a.md"), "en/{x => }/a.md");
        assert_eq!(
            rename_name("zh/文档/a.md", "zh/指南/a.md"),
            "zh/{文档 => 指南}/a.md"
        );
    }

    #[test]
    fn names_are_quoted_only_when_git_would() {
        assert_eq!(quote_path("en/文档 1.md"), "en/文档 1.md");
        assert_eq!(quote_path("en/a\tb.md"), "\"en/a\\tb.md\"");
        assert_eq!(quote_path("en/a\"b\\.md"), "\"en/a\\\"b\\\\.md\"");
        assert_eq!(quote_path("en/\u{1}.md"), "\"en/\\001.md\"");
    }
}
