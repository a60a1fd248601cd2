//! Unified hunks as HTML: line numbers, collapsed context, word-level marks within changed lines.

use super::*;

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

pub(super) fn hunk_range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

pub(super) fn line(l: &str) -> &str {
    l.strip_suffix('\n').unwrap_or(l)
}

pub(super) fn whole(tag: &str, l: &str) -> String {
    format!("<{tag} class=\"line\">{}</{tag}>", esc(line(l)))
}

pub(super) fn row(m: &mut String, class: &str, o: Option<usize>, n: Option<usize>, html: &str) {
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
pub(super) fn gap(m: &mut String, lines: &[&str]) {
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
pub(super) fn intraline(old: &str, new: &str) -> Option<(String, String)> {
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
