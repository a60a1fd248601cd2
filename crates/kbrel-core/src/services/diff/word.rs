//! Word-level differences that ignore re-wrapping: texts are split into words (Unicode word
//! boundaries, so Chinese is one token per character), whitespace is not compared, and
//! adjacent changes are merged. A one-character change inside Chinese text is widened to the
//! two-character word it most likely belongs to, so 提高→提升 reads as one change.

use similar::{Algorithm, DiffOp};
use unicode_segmentation::UnicodeSegmentation;

/// One piece of a word diff, with the whitespace that followed it in its own text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Equal(String),
    Delete(String),
    Insert(String),
}

struct Token<'a> {
    word: &'a str,
    /// The word plus the whitespace after it, as written.
    text: &'a str,
}

fn tokens(s: &str) -> Vec<Token<'_>> {
    let mut out: Vec<Token<'_>> = Vec::new();
    let mut offset = 0;
    let mut leading_ws = 0;
    for w in s.split_word_bounds() {
        let start = offset;
        offset += w.len();
        if w.trim().is_empty() {
            match out.last_mut() {
                Some(t) => {
                    let begin = t.text.as_ptr() as usize - s.as_ptr() as usize;
                    t.text = &s[begin..offset];
                }
                None => leading_ws = offset,
            }
            continue;
        }
        out.push(Token {
            word: w,
            text: &s[start..offset],
        });
    }
    let _ = leading_ws;
    out
}

fn is_cjk(s: &str) -> bool {
    s.chars().next().is_some_and(|c| {
        matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
    })
}

/// Word diff of two texts.
pub fn word_diff(old: &str, new: &str) -> Vec<Piece> {
    let (a, b) = (tokens(old), tokens(new));
    let aw: Vec<&str> = a.iter().map(|t| t.word).collect();
    let bw: Vec<&str> = b.iter().map(|t| t.word).collect();
    let ops = similar::capture_diff_slices(Algorithm::Myers, &aw, &bw);
    // (kind, old range, new range) with kind 0 equal, 1 change.
    let mut runs: Vec<(bool, std::ops::Range<usize>, std::ops::Range<usize>)> = Vec::new();
    for op in ops {
        let (changed, or, nr) = match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => (
                false,
                old_index..old_index + len,
                new_index..new_index + len,
            ),
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (true, old_index..old_index + old_len, new_index..new_index),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (true, old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                true,
                old_index..old_index + old_len,
                new_index..new_index + new_len,
            ),
        };
        match runs.last_mut() {
            Some(last) if last.0 == changed => {
                last.1.end = or.end;
                last.2.end = nr.end;
            }
            _ => runs.push((changed, or, nr)),
        }
    }
    // Widen one-character CJK changes by the equal CJK character before them (else after).
    for i in 0..runs.len() {
        let (changed, ref or, ref nr) = runs[i];
        let single = or.len() <= 1 && nr.len() <= 1;
        if !changed
            || !single
            || !aw[or.clone()]
                .iter()
                .chain(&bw[nr.clone()])
                .all(|w| is_cjk(w))
        {
            continue;
        }
        let glued = |t: &Token<'_>| t.text.len() == t.word.len();
        if i > 0 && !runs[i - 1].0 && !runs[i - 1].1.is_empty() {
            let last = runs[i - 1].1.end - 1;
            if is_cjk(aw[last]) && glued(&a[last]) {
                runs[i - 1].1.end -= 1;
                runs[i - 1].2.end -= 1;
                runs[i].1.start -= 1;
                runs[i].2.start -= 1;
                continue;
            }
        }
        if i + 1 < runs.len() && !runs[i + 1].0 && !runs[i + 1].1.is_empty() {
            let first = runs[i + 1].1.start;
            let end_glued = or.is_empty() || glued(&a[or.end - 1]);
            if is_cjk(aw[first]) && end_glued {
                runs[i + 1].1.start += 1;
                runs[i + 1].2.start += 1;
                runs[i].1.end += 1;
                runs[i].2.end += 1;
            }
        }
    }
    let join = |toks: &[Token<'_>]| toks.iter().map(|t| t.text).collect::<String>();
    let mut out = Vec::new();
    for (changed, or, nr) in runs {
        if !changed {
            if !nr.is_empty() {
                out.push(Piece::Equal(join(&b[nr])));
            }
            continue;
        }
        if !or.is_empty() {
            out.push(Piece::Delete(join(&a[or])));
        }
        if !nr.is_empty() {
            out.push(Piece::Insert(join(&b[nr])));
        }
    }
    out
}

/// git's `--word-diff=plain` rendering: `[-old-]{+new+}`.
pub fn render_plain(pieces: &[Piece]) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Equal(t) => s.push_str(t),
            Piece::Delete(t) => {
                let (w, ws) = split_trailing_ws(t);
                s.push_str(&format!("[-{w}-]{ws}"));
            }
            Piece::Insert(t) => {
                let (w, ws) = split_trailing_ws(t);
                s.push_str(&format!("{{+{w}+}}{ws}"));
            }
        }
    }
    s
}

pub fn split_trailing_ws(t: &str) -> (&str, &str) {
    let trimmed = t.trim_end();
    (trimmed, &t[trimmed.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrapping_is_not_a_change() {
        let pieces = word_diff("one two\nthree four\n", "one two three\nfour\n");
        assert!(
            pieces.iter().all(|p| matches!(p, Piece::Equal(_))),
            "{pieces:?}"
        );
    }

    #[test]
    fn chinese_change_reads_as_one_word() {
        let pieces = word_diff("我们提高了效率。", "我们提升了效率。");
        assert_eq!(render_plain(&pieces), "我们[-提高-]{+提升+}了效率。");
    }

    #[test]
    fn chinese_change_at_start_widens_right() {
        let pieces = word_diff("\"快速上手\"", "\"迅速上手\"");
        assert_eq!(render_plain(&pieces), "\"[-快速-]{+迅速+}上手\"");
    }

    #[test]
    fn english_words() {
        let pieces = word_diff("the quick brown fox", "the slow brown fox");
        assert_eq!(render_plain(&pieces), "the [-quick-] {+slow+} brown fox");
    }
}
