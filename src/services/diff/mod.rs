//! Document-level and line-level differences between two snapshots (pure).
//!
//! A snapshot side is a list of [`ManifestDoc`]s plus a way to get a document's text; texts are
//! only fetched for documents whose hash differs (unchanged documents are skipped by hash, as
//! git skips unchanged blobs). Line counts come from a minimal edit script (Myers without
//! heuristics), so `+added -removed` equals `git diff --numstat --minimal`.

pub mod patch;
pub mod sections;
pub mod word;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use std::time::{Duration, Instant};

use similar::Algorithm;

use crate::FastMap;
use crate::content::{body_of, raw_front_matter};
use crate::error::Result;
use crate::manifest::{ChangeCounts, ChangeStatus, DocChange, ManifestDoc};

/// Minimum similarity (percent) for a removed + added pair to count as a rename.
pub const RENAME_THRESHOLD: u8 = 50;

/// The similarity search for renames between different ids is skipped in a language with more
/// added documents than this (like git's `diff.renameLimit`): it is quadratic. Identical
/// content is still paired.
const RENAME_CANDIDATE_LIMIT: usize = 2000;

/// Lines added and removed by a minimal edit script from `old` to `new` (see [`count_lines`]).
pub fn line_counts(old: &str, new: &str) -> (u64, u64) {
    let c = count_lines(old, new);
    (c.added, c.removed)
}

/// How long the exact search may take before the counts fall back to an approximation.
pub const EXACT_TIME_LIMIT: Duration = Duration::from_secs(2);

/// Up to this many lines (after trimming and dropping one-sided lines) the exact search runs
/// without a time limit.
const UNLIMITED_LINES: usize = 20_000;

/// Line counts of a change; `approximate` when the exact search ran out of time (only for
/// enormous, heavily edited documents), in which case the counts describe a valid but
/// possibly longer edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineCounts {
    pub added: u64,
    pub removed: u64,
    pub approximate: bool,
}

/// Lines added and removed by a minimal edit script from `old` to `new`, as
/// `git diff --numstat --minimal` counts them (a missing final newline makes the last line
/// differ). Lines are compared as whole strings including their `\n`.
///
/// Exact: the common prefix and suffix are trimmed, and lines that occur on one side only
/// are dropped before the search (they can never be kept, so the longest common
/// subsequence, and with it the counts, stays the same); the rest goes through Myers
/// without heuristics. Only when more than 20,000 lines remain is the search limited to
/// [`EXACT_TIME_LIMIT`]; past it, git's default heuristics give the counts (as
/// `git diff --numstat` without `--minimal` would) and the result is flagged `approximate`.
pub fn count_lines<'t>(old: &'t str, new: &'t str) -> LineCounts {
    if old == new {
        return LineCounts::default();
    }
    // One side empty (an added or removed document): every line of the other side counts.
    let lines = |s: &str| s.split_inclusive('\n').count() as u64;
    if old.is_empty() || new.is_empty() {
        return LineCounts {
            added: lines(new),
            removed: lines(old),
            approximate: false,
        };
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    // Lines → dense ids, and on which side each id occurs.
    let mut ids: HashMap<&str, u32> = HashMap::with_capacity(a.len() + b.len());
    let mut sides: Vec<[bool; 2]> = Vec::new();
    let mut intern = |line: &'t str, side: usize| -> u32 {
        let next = sides.len() as u32;
        let id = *ids.entry(line).or_insert(next);
        if id == next {
            sides.push([false; 2]);
        }
        sides[id as usize][side] = true;
        id
    };
    let ia: Vec<u32> = a.iter().map(|l| intern(l, 0)).collect();
    let ib: Vec<u32> = b.iter().map(|l| intern(l, 1)).collect();
    let shared = |id: &u32| sides[*id as usize] == [true, true];
    let ra: Vec<u32> = ia.into_iter().filter(shared).collect();
    let rb: Vec<u32> = ib.into_iter().filter(shared).collect();
    let (kept, approximate) = if ra.is_empty() || rb.is_empty() {
        (0, false)
    } else {
        let deadline =
            (ra.len() + rb.len() > UNLIMITED_LINES).then(|| Instant::now() + EXACT_TIME_LIMIT);
        let ops = similar::capture_diff_slices_deadline(Algorithm::RawMyers, &ra, &rb, deadline);
        let kept = kept_by(&ops);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Out of time: git's heuristics (bounded middle-snake search) give a short
            // script quickly; keep whichever script keeps more lines.
            let ops = similar::capture_diff_slices_deadline(
                Algorithm::Myers,
                &ra,
                &rb,
                Some(Instant::now() + EXACT_TIME_LIMIT / 2),
            );
            (kept.max(kept_by(&ops)), true)
        } else {
            (kept, false)
        }
    };
    LineCounts {
        added: (b.len() - kept) as u64,
        removed: (a.len() - kept) as u64,
        approximate,
    }
}

/// Items an edit script keeps.
fn kept_by(ops: &[similar::DiffOp]) -> usize {
    ops.iter()
        .map(|op| match op {
            similar::DiffOp::Equal { len, .. } => *len,
            _ => 0,
        })
        .sum()
}

/// Similarity of two texts in percent (share of lines kept, as git's rename score).
pub fn similarity(old: &str, new: &str) -> u8 {
    if old == new {
        return 100;
    }
    let total = old.lines().count().max(new.lines().count());
    if total == 0 {
        return 100;
    }
    let (added, _) = line_counts(old, new);
    let kept = new.lines().count() as u64 - added.min(new.lines().count() as u64);
    ((kept * 100) / total as u64) as u8
}

/// A text's multiset of lines, for rename detection: the sorted line hashes (FNV-1a) and a
/// 256-bucket histogram of them.
struct LineBag {
    sorted: Vec<u64>,
    buckets: [u8; 256],
    /// A bucket count hit `u8::MAX`; the histogram bound is then not used.
    saturated: bool,
}

fn line_bag(text: &str) -> LineBag {
    let mut sorted: Vec<u64> = text
        .lines()
        .map(|l| {
            l.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        })
        .collect();
    sorted.sort_unstable();
    let mut buckets = [0u8; 256];
    let mut saturated = false;
    for h in &sorted {
        let b = &mut buckets[(h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize];
        *b = b.saturating_add(1);
        saturated |= *b == u8::MAX;
    }
    LineBag {
        sorted,
        buckets,
        saturated,
    }
}

/// An upper bound of [`similarity`]: the share of lines two texts have in common regardless of
/// order (a longest common subsequence can only be shorter). Cheap, so rename detection can
/// skip the exact computation for pairs that cannot reach the threshold. The histogram gives
/// a coarser bound first (equal lines fall into the same bucket), in a few dozen nanoseconds.
fn similarity_bound(a: &LineBag, b: &LineBag) -> u8 {
    let total = a.sorted.len().max(b.sorted.len());
    if total == 0 {
        return 100;
    }
    if !a.saturated && !b.saturated {
        // At most 256 × 254: fits a u16, which keeps the loop vectorised.
        let coarse = usize::from(
            a.buckets
                .iter()
                .zip(&b.buckets)
                .map(|(x, y)| u16::from(*x.min(y)))
                .sum::<u16>(),
        );
        if coarse * 100 / total < usize::from(RENAME_THRESHOLD) {
            return (coarse * 100 / total) as u8;
        }
    }
    let (a, b) = (&a.sorted, &b.sorted);
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (common * 100 / total) as u8
}

/// Added documents (by index) keyed by language and content hash, each claimable once: a
/// removed document with the same bytes in the same language is a rename. Shared by
/// [`diff_docs`] and the viewer's pairing when no stored diff fits.
pub(crate) struct Twins<'a> {
    by_content: FastMap<(&'a str, &'a str), Vec<usize>>,
    claimed: Vec<bool>,
}

impl<'a> Twins<'a> {
    pub(crate) fn new(added: &[&'a ManifestDoc]) -> Twins<'a> {
        let mut by_content: FastMap<(&str, &str), Vec<usize>> = FastMap::default();
        for (i, a) in added.iter().enumerate() {
            by_content
                .entry((a.lang.as_str(), a.sha256.as_str()))
                .or_default()
                .push(i);
        }
        Twins {
            by_content,
            claimed: vec![false; added.len()],
        }
    }

    /// Whether any added document (claimed or not) has `doc`'s language and content.
    fn any(&self, doc: &ManifestDoc) -> bool {
        self.by_content
            .contains_key(&(doc.lang.as_str(), doc.sha256.as_str()))
    }

    /// The first unclaimed added document with `doc`'s language and content.
    pub(crate) fn find(&self, doc: &ManifestDoc) -> Option<usize> {
        self.by_content
            .get(&(doc.lang.as_str(), doc.sha256.as_str()))
            .and_then(|same| same.iter().copied().find(|&i| !self.claimed[i]))
    }

    pub(crate) fn claim(&mut self, i: usize) {
        self.claimed[i] = true;
    }

    pub(crate) fn is_claimed(&self, i: usize) -> bool {
        self.claimed[i]
    }
}

/// Fetches a document's normalised text.
pub trait TextSource {
    /// The text of `doc`, borrowed when the source holds it (a first release's diff reads
    /// every document: copying each one cost more than counting its lines).
    fn text(&self, doc: &ManifestDoc) -> Result<Cow<'_, str>>;
}

impl<F: Fn(&ManifestDoc) -> Result<String>> TextSource for F {
    fn text(&self, doc: &ManifestDoc) -> Result<Cow<'_, str>> {
        self(doc).map(Cow::Owned)
    }
}

/// Differences between `old` and `new`, sorted by language (in `languages` order), then path.
///
/// Pairing (by id, then renames between different ids) is decided first; the per-document
/// work (fetching texts, line counts, front matter comparison) then runs in parallel.
pub fn diff_docs<'a, 't>(
    languages: &[String],
    old: &'a [ManifestDoc],
    old_text: &'t (dyn TextSource + Sync),
    new: &'a [ManifestDoc],
    new_text: &'t (dyn TextSource + Sync),
) -> Result<Vec<DocChange>> {
    use rayon::prelude::*;
    /// One change to compute; texts already fetched by the rename search are carried along.
    enum Job<'a, 't> {
        Pair(&'a ManifestDoc, &'a ManifestDoc, ChangeStatus),
        Renamed(
            &'a ManifestDoc,
            &'a ManifestDoc,
            Option<Cow<'t, str>>,
            Option<Cow<'t, str>>,
            u8,
        ),
        Added(&'a ManifestDoc, Option<Cow<'t, str>>),
        Removed(&'a ManifestDoc, Option<Cow<'t, str>>),
    }
    // (language, id) → document, both sides built at once (over every document of both
    // releases: see `FastMap`).
    type ById<'a> = FastMap<(&'a str, &'a str), &'a ManifestDoc>;
    let by_id = |docs: &'a [ManifestDoc]| -> ById<'a> {
        docs.iter()
            .map(|d| ((d.lang.as_str(), d.id.as_str()), d))
            .collect()
    };
    let (old_by, new_by) = rayon::join(|| by_id(old), || by_id(new));
    let mut jobs: Vec<Job<'_, 't>> = Vec::new();
    let mut added: Vec<&ManifestDoc> = Vec::new();
    let mut removed: Vec<&ManifestDoc> = Vec::new();
    for n in new {
        match old_by.get(&(n.lang.as_str(), n.id.as_str())) {
            None => added.push(n),
            Some(o) if o.sha256 == n.sha256 && o.path == n.path && o.key == n.key => {}
            Some(o) => {
                let status = if o.path != n.path {
                    ChangeStatus::Renamed
                } else {
                    ChangeStatus::Modified
                };
                jobs.push(Job::Pair(o, n, status));
            }
        }
    }
    for o in old {
        if !new_by.contains_key(&(o.lang.as_str(), o.id.as_str())) {
            removed.push(o);
        }
    }
    // Renames between different ids (path-derived ids): exact hash first, then similarity.
    // The similarity search runs in a language with removals and at most
    // RENAME_CANDIDATE_LIMIT additions; there, the texts it needs are fetched up front, in
    // parallel. Every other text is fetched by its own change's job, so a first release holds
    // no more than one text per thread.
    let mut by_lang: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in added.iter().enumerate() {
        by_lang.entry(a.lang.as_str()).or_default().push(i);
    }
    let removed_langs: std::collections::HashSet<&str> =
        removed.iter().map(|o| o.lang.as_str()).collect();
    let searchable = |lang: &str| {
        removed_langs.contains(lang)
            && by_lang
                .get(lang)
                .is_some_and(|all| all.len() <= RENAME_CANDIDATE_LIMIT)
    };
    let mut twins = Twins::new(&added);
    let fetch = |docs: &[&ManifestDoc], src: &'t (dyn TextSource + Sync)| {
        docs.par_iter()
            .map(|d| searchable(&d.lang).then(|| src.text(d)).transpose())
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Result<Vec<Option<Cow<'t, str>>>>>()
    };
    let removed_texts = fetch(&removed, old_text)?;
    let mut added_texts = fetch(&added, new_text)?;
    let added_bags: Vec<Option<LineBag>> = added_texts
        .par_iter()
        .map(|t| t.as_deref().map(line_bag))
        .collect();
    // The most similar candidate among `candidates` (first one on ties), if it reaches the
    // threshold; the line-multiset bound skips pairs that cannot beat the best so far.
    let best_of = |text: &str, candidates: &[usize], texts: &[Option<Cow<'t, str>>]| {
        let bag = line_bag(text);
        let mut best: Option<(usize, u8)> = None;
        for &i in candidates {
            let (Some(other), Some(other_bag)) = (&texts[i], &added_bags[i]) else {
                continue;
            };
            let bound = similarity_bound(&bag, other_bag);
            if bound < RENAME_THRESHOLD || best.is_some_and(|(_, b)| bound <= b) {
                continue;
            }
            let s = similarity(text, other);
            if s >= RENAME_THRESHOLD && best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best
    };
    // Parallel pre-pass: each removal's best match among all added documents of its language.
    // `None`: not computed (not searchable, or an exact-hash candidate exists).
    let presearch: Vec<Option<Option<(usize, u8)>>> = removed
        .par_iter()
        .zip(&removed_texts)
        .map(|(o, ot)| {
            let (ot, all) = (ot.as_deref()?, by_lang.get(o.lang.as_str())?);
            (!twins.any(o)).then(|| best_of(ot, all, &added_texts))
        })
        .collect();
    // Greedy assignment in removal order, each added document used at most once. A pre-pass
    // result stands when its candidate is still free (then it is also the best among the free
    // ones); otherwise the search reruns over the free candidates.
    for ((o, ot), pre) in removed.into_iter().zip(removed_texts).zip(presearch) {
        let best = match (twins.find(o), pre, &ot) {
            (Some(i), _, _) => Some((i, 100)),
            (None, Some(Some((i, s))), _) if !twins.is_claimed(i) => Some((i, s)),
            (None, Some(None), _) | (None, _, None) => None,
            (None, _, Some(ot)) => {
                let free: Vec<usize> = by_lang
                    .get(o.lang.as_str())
                    .map(|all| {
                        all.iter()
                            .copied()
                            .filter(|&i| !twins.is_claimed(i))
                            .collect()
                    })
                    .unwrap_or_default();
                best_of(ot, &free, &added_texts)
            }
        };
        jobs.push(match best {
            Some((i, sim)) => {
                twins.claim(i);
                Job::Renamed(o, added[i], ot, added_texts[i].take(), sim)
            }
            None => Job::Removed(o, ot),
        });
    }
    for (i, n) in added.iter().enumerate() {
        if !twins.is_claimed(i) {
            jobs.push(Job::Added(n, added_texts[i].take()));
        }
    }
    let text_or = |known: Option<Cow<'t, str>>, src: &'t (dyn TextSource + Sync), d| {
        known.map_or_else(|| src.text(d), Ok)
    };
    let mut changes: Vec<DocChange> = jobs
        .into_par_iter()
        .map(|job| -> Result<DocChange> {
            Ok(match job {
                Job::Pair(o, n, status) => {
                    let (ot, nt) = (old_text.text(o)?, new_text.text(n)?);
                    let sim = (status == ChangeStatus::Renamed).then(|| similarity(&ot, &nt));
                    change(status, Some(o), Some(n), &ot, &nt, sim)
                }
                Job::Renamed(o, n, ot, nt, sim) => {
                    let ot = text_or(ot, old_text, o)?;
                    let nt = text_or(nt, new_text, n)?;
                    change(ChangeStatus::Renamed, Some(o), Some(n), &ot, &nt, Some(sim))
                }
                Job::Added(n, nt) => {
                    let nt = text_or(nt, new_text, n)?;
                    change(ChangeStatus::Added, None, Some(n), "", &nt, None)
                }
                Job::Removed(o, ot) => {
                    let ot = text_or(ot, old_text, o)?;
                    change(ChangeStatus::Removed, Some(o), None, &ot, "", None)
                }
            })
        })
        // In job order, so the error reported is the same whatever the scheduling.
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<_>>()?;
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    // At one path, a removal comes first: a patch must delete a document before another
    // document (a different id) is added or renamed to the same path.
    let not_removed = |c: &DocChange| c.status != ChangeStatus::Removed;
    changes.sort_by(|a, b| {
        (rank(&a.lang), &a.path, not_removed(a), a.status).cmp(&(
            rank(&b.lang),
            &b.path,
            not_removed(b),
            b.status,
        ))
    });
    Ok(changes)
}

fn change(
    status: ChangeStatus,
    old: Option<&ManifestDoc>,
    new: Option<&ManifestDoc>,
    old_text: &str,
    new_text: &str,
    similarity: Option<u8>,
) -> DocChange {
    let counts = count_lines(old_text, new_text);
    // Front-matter fields are compared only when both sides exist.
    let mut fields_changed: Vec<String> = Vec::new();
    if old.is_some() && new.is_some() {
        let (of, nf) = (raw_front_matter(old_text), raw_front_matter(new_text));
        fields_changed = of
            .iter()
            .filter(|(k, v)| nf.get(*k).map(|n| &n.raw) != Some(&v.raw))
            .map(|(k, _)| k.clone())
            .chain(nf.keys().filter(|k| !of.contains_key(*k)).cloned())
            .collect();
        fields_changed.sort();
    }
    let main = new.or(old).expect("a change has at least one side");
    DocChange {
        lang: main.lang.clone(),
        id: main.id.clone(),
        status,
        path: main.path.clone(),
        old_path: old
            .filter(|o| new.is_some_and(|n| n.path != o.path))
            .map(|o| o.path.clone()),
        old_id: old
            .filter(|o| new.is_some_and(|n| n.id != o.id))
            .map(|o| o.id.clone()),
        key: main.key.clone(),
        old_key: old
            .filter(|o| new.is_some_and(|n| n.key != o.key))
            .map(|o| o.key.clone()),
        title: main.title.clone(),
        old_title: old
            .filter(|o| new.is_some_and(|n| n.title != o.title))
            .and_then(|o| o.title.clone()),
        old_sha256: old.map(|o| o.sha256.clone()),
        sha256: new.map(|n| n.sha256.clone()),
        added_lines: counts.added,
        removed_lines: counts.removed,
        similarity,
        fields_changed,
        body_changed: body_of(old_text) != body_of(new_text),
        approximate: counts.approximate,
    }
}

/// Per-language counts for a set of changes; `documents` counts the newer side.
pub fn summarize(
    languages: &[String],
    new: &[ManifestDoc],
    changes: &[DocChange],
) -> BTreeMap<String, ChangeCounts> {
    let mut out: BTreeMap<String, ChangeCounts> = languages
        .iter()
        .map(|l| (l.clone(), ChangeCounts::default()))
        .collect();
    for d in new {
        match out.get_mut(&d.lang) {
            Some(c) => c.documents += 1,
            None => out.entry(d.lang.clone()).or_default().documents += 1,
        }
    }
    for c in changes {
        let e = out.entry(c.lang.clone()).or_default();
        match c.status {
            ChangeStatus::Added => e.added += 1,
            ChangeStatus::Modified => e.modified += 1,
            ChangeStatus::Removed => e.removed += 1,
            ChangeStatus::Renamed => e.renamed += 1,
        }
        e.added_lines += c.added_lines;
        e.removed_lines += c.removed_lines;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, text: &str) -> ManifestDoc {
        ManifestDoc {
            id: id.into(),
            lang: "en".into(),
            path: format!("{id}.md"),
            key: id.into(),
            title: None,
            url: None,
            sha256: crate::content::sha256_hex(text.as_bytes()),
            size: text.len() as u64,
        }
    }

    /// Two removals whose best match is the same added document: the first takes it, the
    /// second falls back to its next best (the parallel pre-pass must not hand both the same).
    #[test]
    fn a_contested_rename_candidate_goes_to_the_first_removal() {
        let texts: HashMap<&str, &str> = [
            ("r1", "a\nb\nc\nd\ne\nf\n"),
            ("r2", "a\nb\nc\nd\ne\nx\n"),
            ("n1", "a\nb\nc\nd\ne\nf\ng\n"),
            ("n2", "a\nb\nc\nq\nr\ns\n"),
            ("n3", "unrelated\n"),
        ]
        .into();
        let old = [doc("r1", texts["r1"]), doc("r2", texts["r2"])];
        let new = [
            doc("n1", texts["n1"]),
            doc("n2", texts["n2"]),
            doc("n3", texts["n3"]),
        ];
        let source = |d: &ManifestDoc| -> Result<String> { Ok(texts[d.id.as_str()].to_string()) };
        assert!(similarity(texts["r2"], texts["n1"]) > similarity(texts["r2"], texts["n2"]));
        let changes = diff_docs(&["en".into()], &old, &source, &new, &source).unwrap();
        let got: Vec<(ChangeStatus, &str, Option<&str>, Option<u8>)> = changes
            .iter()
            .map(|c| (c.status, c.id.as_str(), c.old_id.as_deref(), c.similarity))
            .collect();
        assert_eq!(
            got,
            [
                (ChangeStatus::Renamed, "n1", Some("r1"), Some(85)),
                (ChangeStatus::Renamed, "n2", Some("r2"), Some(50)),
                (ChangeStatus::Added, "n3", None, None),
            ]
        );
    }

    /// Identical content pairs in order, each added document once, never across languages.
    #[test]
    fn exact_renames_pair_in_order_within_a_language() {
        let zh = |mut d: ManifestDoc| {
            d.lang = "zh".into();
            d
        };
        let same = "same text\n";
        let old = [doc("a", same), doc("b", same), zh(doc("c", "only zh\n"))];
        let new = [doc("x", same), doc("y", same), doc("z", "only zh\n")];
        let source = |d: &ManifestDoc| -> Result<String> {
            Ok(if d.id == "c" || d.id == "z" {
                "only zh\n"
            } else {
                same
            }
            .to_string())
        };
        let changes = diff_docs(&["en".into(), "zh".into()], &old, &source, &new, &source).unwrap();
        let got: Vec<(ChangeStatus, &str, Option<&str>)> = changes
            .iter()
            .map(|c| (c.status, c.id.as_str(), c.old_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (ChangeStatus::Renamed, "x", Some("a")),
                (ChangeStatus::Renamed, "y", Some("b")),
                (ChangeStatus::Added, "z", None),
                (ChangeStatus::Removed, "c", None),
            ]
        );
    }

    #[test]
    fn the_similarity_bound_is_never_below_the_similarity() {
        let texts = [
            "a\nb\nc\n",
            "c\nb\na\n",
            "a\nb\n",
            "a\na\nb\nx",
            "",
            "x\n",
            "a\nb\nc\nd\ne\nf\n",
        ];
        for a in texts {
            for b in texts {
                let bound = similarity_bound(&line_bag(a), &line_bag(b));
                assert!(
                    bound >= similarity(a, b),
                    "{a:?} {b:?}: bound {bound} < {}",
                    similarity(a, b)
                );
            }
        }
    }

    proptest::proptest! {
        /// The histogram bound holds whatever different lines share a bucket (hundreds of
        /// distinct lines in 256 buckets collide).
        #[test]
        fn the_bound_holds_for_random_texts(
            a in proptest::collection::vec(0u16..600, 0..80),
            b in proptest::collection::vec(0u16..600, 0..80),
        ) {
            let text = |ls: &[u16]| -> String { ls.iter().map(|l| format!("line {l}\n")).collect() };
            let (a, b) = (text(&a), text(&b));
            let bound = similarity_bound(&line_bag(&a), &line_bag(&b));
            proptest::prop_assert!(bound >= similarity(&a, &b), "bound {bound}");
        }
    }

    /// A bucket count past 254 would make the histogram undercount: the exact bound is used.
    #[test]
    fn saturated_histograms_fall_back_to_the_exact_bound() {
        let a = format!("{}{}", "same\n".repeat(300), "a\n".repeat(250));
        let b = format!("{}{}", "same\n".repeat(300), "b\n".repeat(250));
        let (ba, bb) = (line_bag(&a), line_bag(&b));
        assert!(ba.saturated && bb.saturated);
        // 300 of 550 lines in common: 54 %, though the capped histogram sees only 255 (46 %).
        assert_eq!(similarity_bound(&ba, &bb), 54);
        assert!(similarity_bound(&ba, &bb) >= similarity(&a, &b));
    }

    #[test]
    fn counts_are_minimal() {
        assert_eq!(line_counts("a\nb\nc\n", "a\nB\nc\nd\n"), (2, 1));
        assert_eq!(
            line_counts("x", "x\n"),
            (1, 1),
            "missing final newline is a change, as in git"
        );
        assert_eq!(line_counts("", "a\n"), (1, 0));
    }

    /// Longest common subsequence of two line lists, by dynamic programming (the reference).
    fn lcs_len(a: &[&str], b: &[&str]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diag = 0;
            for (j, y) in b.iter().enumerate() {
                let up = row[j + 1];
                row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
                diag = up;
            }
        }
        row[b.len()]
    }

    /// Deterministic texts of `n` lines drawn from `alphabet` (xorshift, no dependencies).
    fn noise(seed: u64, n: usize, alphabet: &[&str]) -> String {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{}\n", alphabet[(x % alphabet.len() as u64) as usize])
            })
            .collect()
    }

    /// Regression: similar 3's `Algorithm::Myers` takes git-style shortcuts once the edit
    /// distance passes 256, so counts of heavily edited documents with many repeated lines
    /// (tables, blank lines, list markers) came out larger than `git diff --minimal`'s. The
    /// counts must always be those of a minimal edit script: lengths minus the LCS.
    #[test]
    fn counts_stay_minimal_past_the_heuristics_threshold() {
        let alphabet = [
            "",
            "|---|---|",
            "- item",
            "```",
            "提高效率",
            "提升效率",
            "## 标题",
            "text",
        ];
        for seed in [1, 7, 42] {
            let old = noise(seed, 1500, &alphabet);
            let new = noise(seed * 1000 + 3, 1400, &alphabet);
            let (a, b): (Vec<&str>, Vec<&str>) = (
                old.split_inclusive('\n').collect(),
                new.split_inclusive('\n').collect(),
            );
            let lcs = lcs_len(&a, &b);
            let expected = ((b.len() - lcs) as u64, (a.len() - lcs) as u64);
            assert_eq!(line_counts(&old, &new), expected, "seed {seed}");
        }
    }

    #[test]
    fn lines_on_one_side_only_do_not_change_the_counts() {
        // Unique lines are dropped before the search; the counts still include them.
        assert_eq!(line_counts("a\nx\nb\n", "a\nb\ny\nz\n"), (2, 1));
        assert_eq!(line_counts("a\nb\n", "c\nd\ne\n"), (3, 2));
        assert_eq!(line_counts("a\nb", "a\nb\n"), (1, 1));
        assert_eq!(line_counts("a\n", ""), (0, 1));
        assert_eq!(line_counts("b\na\n", "a\nb\n"), (1, 1));
        let c = count_lines("x\n", "y\n");
        assert_eq!(
            c,
            LineCounts {
                added: 1,
                removed: 1,
                approximate: false
            }
        );
    }

    #[test]
    fn enormous_hard_inputs_are_flagged_approximate() {
        // Two unrelated 100,000-line texts of two repeated lines: an exact search would take
        // minutes, so it stops at the time limit; the counts still describe a valid script.
        let old = noise(3, 100_000, &["a", "b"]);
        let new = noise(5, 100_000, &["a", "b"]);
        let c = count_lines(&old, &new);
        assert!(c.approximate, "{c:?}");
        assert_eq!(c.added, c.removed);
        assert!(c.added <= 100_000, "{c:?}");
    }
}

/// One file that differs between two packages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileChange {
    pub path: String,
    pub status: ChangeStatus,
    pub added_lines: u64,
    pub removed_lines: u64,
    /// Not UTF-8 text: no line counts.
    pub binary: bool,
}

/// File-by-file differences between two unpacked packages (as `npm diff` compares them).
pub fn diff_files(old: &[(String, Vec<u8>)], new: &[(String, Vec<u8>)]) -> Vec<FileChange> {
    let old_by: BTreeMap<&str, &[u8]> = old
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let new_by: BTreeMap<&str, &[u8]> = new
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let mut paths: Vec<&str> = old_by.keys().chain(new_by.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|p| {
            let (o, n) = (old_by.get(p).copied(), new_by.get(p).copied());
            if o == n {
                return None;
            }
            let status = match (o, n) {
                (None, _) => ChangeStatus::Added,
                (_, None) => ChangeStatus::Removed,
                _ => ChangeStatus::Modified,
            };
            let ot = std::str::from_utf8(o.unwrap_or_default());
            let nt = std::str::from_utf8(n.unwrap_or_default());
            let (binary, (added_lines, removed_lines)) = match (ot, nt) {
                (Ok(a), Ok(b)) => (false, line_counts(a, b)),
                _ => (true, (0, 0)),
            };
            Some(FileChange {
                path: p.to_string(),
                status,
                added_lines,
                removed_lines,
                binary,
            })
        })
        .collect()
}
