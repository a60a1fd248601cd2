//! Document-level and line-level differences between two snapshots (pure).
//!
//! A snapshot side is a list of [`ManifestDoc`]s plus a way to get a document's text; texts are
//! only fetched for documents whose hash differs (unchanged documents are skipped by hash, as
//! git skips unchanged blobs). Line counts come from a minimal edit script (Myers without
//! heuristics), so `+added -removed` equals `git diff --numstat --minimal`.

pub mod gitfmt;
pub mod patch;
pub mod sections;
pub mod word;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use std::time::{Duration, Instant};

use similar::Algorithm;

use crate::FastMap;
use crate::content::{front_matter_and_body, raw_front_matter};
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
    // Only the lines between the common prefix and suffix are split and searched.
    let (old, new) = trim_common_lines(old, new);
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let (a, b) = (a.as_slice(), b.as_slice());
    // Lines → dense ids, and on which side each id occurs.
    let mut ids: FastMap<&str, u32> =
        FastMap::with_capacity_and_hasher(a.len() + b.len(), Default::default());
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

/// `a` and `b` without the whole lines they begin and end with in common, found on the
/// bytes (as comparing line by line would find them, without splitting the lines first).
fn trim_common_lines<'t>(a: &'t str, b: &'t str) -> (&'t str, &'t str) {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    // Up to the last line end among the bytes both begin with.
    let same = common_len(x.iter().zip(y), x.len().min(y.len()), |i| {
        (&x[i..i + 64], &y[i..i + 64])
    });
    let start = x[..same]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let (x, y) = (&x[start..], &y[start..]);
    // From the first line start among the bytes both end with that starts a line on both.
    let (lx, ly) = (x.len(), y.len());
    let same = common_len(x.iter().rev().zip(y.iter().rev()), lx.min(ly), |i| {
        (&x[lx - i - 64..lx - i], &y[ly - i - 64..ly - i])
    });
    let (ex, ey) = (lx - same, ly - same);
    let starts_line = |s: &[u8], i: usize| i == 0 || s[i - 1] == b'\n';
    let skip = if starts_line(x, ex) && starts_line(y, ey) {
        0
    } else {
        x[ex..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(same, |i| i + 1)
    };
    let end = same - skip;
    (&a[start..start + lx - end], &b[start..start + ly - end])
}

/// How many of the `n` byte pairs of `pairs` are equal before the first that differs;
/// `chunk(i)` gives the 64 bytes of each side from the `i`-th pair on, compared whole first.
fn common_len<'b>(
    mut pairs: impl Iterator<Item = (&'b u8, &'b u8)>,
    n: usize,
    chunk: impl Fn(usize) -> (&'b [u8], &'b [u8]),
) -> usize {
    let mut i = 0;
    while i + 64 <= n && {
        let (p, q) = chunk(i);
        p == q
    } {
        i += 64;
    }
    if i > 0 {
        pairs.nth(i - 1);
    }
    i + pairs.take_while(|(p, q)| p == q).count()
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
#[doc(hidden)]
pub struct Twins<'a> {
    by_content: FastMap<(&'a str, &'a str), Vec<usize>>,
    claimed: Vec<bool>,
}

impl<'a> Twins<'a> {
    pub fn new(added: &[&'a ManifestDoc]) -> Twins<'a> {
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

    /// The first unclaimed added document with `doc`'s language and content.
    pub fn find(&self, doc: &ManifestDoc) -> Option<usize> {
        self.by_content
            .get(&(doc.lang.as_str(), doc.sha256.as_str()))
            .and_then(|same| same.iter().copied().find(|&i| !self.claimed[i]))
    }

    pub fn claim(&mut self, i: usize) {
        self.claimed[i] = true;
    }

    pub fn is_claimed(&self, i: usize) -> bool {
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

/// How identity and path pair two document lists (indexes into them); what is left goes to
/// the rename search.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Pairing {
    /// (old, new) pairs: same unique id, or, among the rest, same path.
    pub pairs: Vec<(usize, usize)>,
    /// Old documents left unpaired, in (language, path) order.
    pub removed: Vec<usize>,
    /// New documents left unpaired, in (language, path) order.
    pub added: Vec<usize>,
}

/// Pair two document lists by identity, as a total and stable relation, in this order:
///
/// 0. the same bytes at the same path in the same language (an unchanged file);
/// 1. the same id in the same language, when that id names exactly one document on each
///    side;
/// 2. among the rest, the same path in the same language (the id changed — a document that
///    gained or edited its `url` — or is duplicated: documents sharing an id are told apart
///    by their paths, and a duplicated id never pairs two documents by itself).
///
/// The rest (left in (language, path) order on each side) is for the rename search. Every
/// rule is symmetric, so pairing B with A gives the same pairs swapped.
pub(crate) fn pair_by_identity<'a>(
    old: &'a [ManifestDoc],
    new: &'a [ManifestDoc],
    by_path: bool,
) -> Pairing {
    type Count<'a> = FastMap<(&'a str, &'a str), (u32, usize)>;
    let mut old_paired = vec![false; old.len()];
    let mut new_paired = vec![false; new.len()];
    let mut pairs = Vec::new();
    // 0. The same bytes at the same path are the same document, whatever its id now says
    //    (an id can change without its file: a url another document now claims first gives
    //    way to the path id, a key map moves).
    if by_path {
        let old_at: FastMap<(&str, &str, &str), usize> = old
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.lang.as_str(), d.path.as_str(), d.sha256.as_str()), i))
            .collect();
        for (n, d) in new.iter().enumerate() {
            if let Some(&o) = old_at.get(&(d.lang.as_str(), d.path.as_str(), d.sha256.as_str())) {
                pairs.push((o, n));
                old_paired[o] = true;
                new_paired[n] = true;
            }
        }
    }
    // Ids counted over the documents still unpaired.
    let count_left = |docs: &'a [ManifestDoc], paired: &[bool]| -> Count<'a> {
        let mut m: Count<'a> = FastMap::default();
        for (i, d) in docs.iter().enumerate().filter(|(i, _)| !paired[*i]) {
            let e = m.entry((d.lang.as_str(), d.id.as_str())).or_insert((0, i));
            e.0 += 1;
        }
        m
    };
    let (old_ids, new_ids) = rayon::join(
        || count_left(old, &old_paired),
        || count_left(new, &new_paired),
    );
    for (n, d) in new.iter().enumerate() {
        if new_paired[n] {
            continue;
        }
        let k = (d.lang.as_str(), d.id.as_str());
        if let (Some(&(1, o)), Some(&(1, _))) = (old_ids.get(&k), new_ids.get(&k)) {
            pairs.push((o, n));
            old_paired[o] = true;
            new_paired[n] = true;
        }
    }
    let new_by_path: FastMap<(&str, &str), usize> = new
        .iter()
        .enumerate()
        .filter(|(i, _)| !new_paired[*i])
        .map(|(i, d)| ((d.lang.as_str(), d.path.as_str()), i))
        .collect();
    for (o, d) in old.iter().enumerate() {
        if old_paired[o] || !by_path {
            continue;
        }
        if let Some(&n) = new_by_path.get(&(d.lang.as_str(), d.path.as_str()))
            && !new_paired[n]
        {
            pairs.push((o, n));
            old_paired[o] = true;
            new_paired[n] = true;
        }
    }
    let left = |docs: &[ManifestDoc], paired: &[bool]| {
        let mut v: Vec<usize> = (0..docs.len()).filter(|&i| !paired[i]).collect();
        v.sort_by(|&a, &b| (&docs[a].lang, &docs[a].path).cmp(&(&docs[b].lang, &docs[b].path)));
        v
    };
    Pairing {
        removed: left(old, &old_paired),
        added: left(new, &new_paired),
        pairs,
    }
}

/// Assign renames from scored candidates `(similarity, removed, added)`: the most similar
/// pair first, ties broken by the two paths (the smaller one first, so the order does not
/// depend on which side is old), each document used at most once. Removed index → (added
/// index, similarity).
fn assign_renames(
    mut candidates: Vec<(u8, usize, usize)>,
    removed: &[&ManifestDoc],
    added: &[&ManifestDoc],
) -> HashMap<usize, (usize, u8)> {
    let key = |&(s, r, a): &(u8, usize, usize)| {
        let (p, q) = (removed[r].path.as_str(), added[a].path.as_str());
        (std::cmp::Reverse(s), p.min(q), p.max(q))
    };
    candidates.sort_by(|x, y| key(x).cmp(&key(y)));
    let mut taken = vec![false; added.len()];
    let mut out = HashMap::new();
    for (s, r, a) in candidates {
        if taken[a] || out.contains_key(&r) {
            continue;
        }
        taken[a] = true;
        out.insert(r, (a, s));
    }
    out
}

/// [`Rules::Before20`]'s assignment: each removal in order takes its most similar free
/// addition (the first one on ties).
fn assign_in_removal_order(
    candidates: Vec<(u8, usize, usize)>,
    removed: usize,
    added: usize,
) -> HashMap<usize, (usize, u8)> {
    let mut by_removal: Vec<Vec<(u8, usize)>> = vec![Vec::new(); removed];
    for (s, r, a) in candidates {
        by_removal[r].push((s, a));
    }
    let mut taken = vec![false; added];
    let mut out = HashMap::new();
    for (r, mut cands) in by_removal.into_iter().enumerate() {
        cands.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        if let Some(&(s, a)) = cands.iter().find(|(_, a)| !taken[*a]) {
            taken[a] = true;
            out.insert(r, (a, s));
        }
    }
    out
}

/// Differences between `old` and `new`, sorted by language (in `languages` order), then path.
///
/// Pairing is decided first ([`pair_by_identity`]: unique id, then path; then, among what is
/// left, exact content and similarity, see [`assign_renames`]); the per-document work
/// (fetching texts, line counts, front matter comparison) then runs in parallel. Every step
/// is symmetric: `diff(B, A)` is the inverse of `diff(A, B)`, and a side against itself is
/// empty whatever ids it duplicates.
pub fn diff_docs<'a, 't>(
    languages: &[String],
    old: &'a [ManifestDoc],
    old_text: &'t (dyn TextSource + Sync),
    new: &'a [ManifestDoc],
    new_text: &'t (dyn TextSource + Sync),
) -> Result<Vec<DocChange>> {
    diff_docs_with(Rules::Current, languages, old, old_text, new, new_text)
}

/// Which pairing rules a diff follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Unique id, then path, then content, then similarity (most similar pair first).
    Current,
    /// The rules of kbrel before the path step (the `diff.json` of releases published
    /// then): id, then content, then similarity with each removal, in path order, taking
    /// its most similar free addition; the search skipped only for more than
    /// RENAME_CANDIDATE_LIMIT additions. `verify` accepts a stored diff that either rule
    /// set reproduces. (Published releases never hold duplicated ids: lint refuses them.)
    Before20,
}

/// [`diff_docs`] under the given [`Rules`].
pub fn diff_docs_with<'a, 't>(
    rules: Rules,
    languages: &[String],
    old: &'a [ManifestDoc],
    old_text: &'t (dyn TextSource + Sync),
    new: &'a [ManifestDoc],
    new_text: &'t (dyn TextSource + Sync),
) -> Result<Vec<DocChange>> {
    use rayon::prelude::*;
    let pairing = pair_by_identity(old, new, rules == Rules::Current);
    let mut jobs: Vec<Job<'_, 't>> = Vec::new();
    for &(o, n) in &pairing.pairs {
        let (o, n) = (&old[o], &new[n]);
        if o.sha256 == n.sha256 && o.path == n.path && o.key == n.key && o.id == n.id {
            continue;
        }
        let status = if o.path != n.path {
            ChangeStatus::Renamed
        } else {
            ChangeStatus::Modified
        };
        jobs.push(Job::Pair(o, n, status));
    }
    let removed: Vec<&ManifestDoc> = pairing.removed.iter().map(|&i| &old[i]).collect();
    let added: Vec<&ManifestDoc> = pairing.added.iter().map(|&i| &new[i]).collect();
    // Renames among what identity and path left: exact content first, then similarity. The
    // similarity search runs in a language where neither side has more than
    // RENAME_CANDIDATE_LIMIT leftovers (symmetric, so A→B and B→A pair alike); there, the
    // texts it needs are fetched up front, in parallel. Every other text is fetched by its
    // own change's job, so a first release holds no more than one text per thread.
    let mut added_by_lang: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in added.iter().enumerate() {
        added_by_lang.entry(a.lang.as_str()).or_default().push(i);
    }
    let mut removed_per_lang: HashMap<&str, usize> = HashMap::new();
    for o in &removed {
        *removed_per_lang.entry(o.lang.as_str()).or_default() += 1;
    }
    let searchable = |lang: &str| {
        let (r, a) = (
            removed_per_lang.get(lang).copied().unwrap_or(0),
            added_by_lang.get(lang).map_or(0, Vec::len),
        );
        match rules {
            Rules::Current => r > 0 && a > 0 && r.max(a) <= RENAME_CANDIDATE_LIMIT,
            Rules::Before20 => r > 0 && a > 0 && a <= RENAME_CANDIDATE_LIMIT,
        }
    };
    // Exact content, in path order on both sides (symmetric).
    let mut twins = Twins::new(&added);
    let mut exact: Vec<Option<usize>> = Vec::with_capacity(removed.len());
    for o in &removed {
        let found = twins.find(o);
        if let Some(i) = found {
            twins.claim(i);
        }
        exact.push(found);
    }
    let searched = |o: &ManifestDoc, e: &Option<usize>| e.is_none() && searchable(&o.lang);
    let removed_texts: Vec<Option<Cow<'t, str>>> = removed
        .par_iter()
        .zip(&exact)
        .map(|(o, e)| searched(o, e).then(|| old_text.text(o)).transpose())
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<_>>()?;
    let mut added_texts: Vec<Option<Cow<'t, str>>> = added
        .par_iter()
        .enumerate()
        .map(|(i, n)| {
            (!twins.is_claimed(i) && searchable(&n.lang))
                .then(|| new_text.text(n))
                .transpose()
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<_>>()?;
    let candidates = rename_candidates(&removed, &removed_texts, &added_by_lang, &added_texts);
    let renames = match rules {
        Rules::Current => assign_renames(candidates, &removed, &added),
        Rules::Before20 => assign_in_removal_order(candidates, removed.len(), added.len()),
    };
    let mut removed_texts = removed_texts;
    for (r, o) in removed.iter().enumerate() {
        let (i, sim) = match (exact[r], renames.get(&r)) {
            (Some(i), _) => (i, 100),
            (None, Some(&(i, sim))) => (i, sim),
            (None, None) => {
                jobs.push(Job::Removed(o, removed_texts[r].take()));
                continue;
            }
        };
        twins.claim(i);
        jobs.push(Job::Renamed(
            o,
            added[i],
            removed_texts[r].take(),
            added_texts[i].take(),
            sim,
        ));
    }
    for (i, n) in added.iter().enumerate() {
        if !twins.is_claimed(i) {
            jobs.push(Job::Added(n, added_texts[i].take()));
        }
    }
    let mut changes = compute_changes(jobs, old_text, new_text)?;
    sort_changes(&mut changes, languages);
    Ok(changes)
}

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

/// Every (removed, added) pair of one language that reaches the rename threshold, with its
/// similarity: `(similarity, removed index, added index)`.
fn rename_candidates<'t>(
    removed: &[&ManifestDoc],
    removed_texts: &[Option<Cow<'t, str>>],
    added_by_lang: &HashMap<&str, Vec<usize>>,
    added_texts: &[Option<Cow<'t, str>>],
) -> Vec<(u8, usize, usize)> {
    use rayon::prelude::*;
    let added_bags: Vec<Option<LineBag>> = added_texts
        .par_iter()
        .map(|t| t.as_deref().map(line_bag))
        .collect();
    // Every (removed, added) pair of one language that reaches the threshold; the
    // line-multiset bound skips pairs that cannot.
    removed
        .par_iter()
        .zip(removed_texts)
        .enumerate()
        .flat_map_iter(|(r, (o, ot))| {
            let mut found = Vec::new();
            if let (Some(ot), Some(all)) = (ot.as_deref(), added_by_lang.get(o.lang.as_str())) {
                let bag = line_bag(ot);
                for &i in all {
                    let (Some(other), Some(other_bag)) = (&added_texts[i], &added_bags[i]) else {
                        continue;
                    };
                    if similarity_bound(&bag, other_bag) < RENAME_THRESHOLD {
                        continue;
                    }
                    let s = similarity(ot, other);
                    if s >= RENAME_THRESHOLD {
                        found.push((s, r, i));
                    }
                }
            }
            found
        })
        .collect()
}

/// Compute every change (in parallel), reporting the first error in job order.
fn compute_changes<'a, 't>(
    jobs: Vec<Job<'a, 't>>,
    old_text: &'t (dyn TextSource + Sync),
    new_text: &'t (dyn TextSource + Sync),
) -> Result<Vec<DocChange>> {
    use rayon::prelude::*;
    let text_or = |known: Option<Cow<'t, str>>, src: &'t (dyn TextSource + Sync), d| {
        known.map_or_else(|| src.text(d), Ok)
    };
    jobs.into_par_iter()
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
        .collect()
}

/// Languages in configuration order, then paths; at one path, a removal first.
fn sort_changes(changes: &mut [DocChange], languages: &[String]) {
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
    // Front-matter fields are compared only when both sides exist, and only when the front
    // matter's text differs (the same text reads as the same fields).
    let mut fields_changed: Vec<String> = Vec::new();
    let (old_fm, old_body) = front_matter_and_body(old_text);
    let (new_fm, new_body) = front_matter_and_body(new_text);
    if old.is_some() && new.is_some() && old_fm != new_fm {
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
        body_changed: old_body != new_body,
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
            aliases: Vec::new(),
            bundled: true,
            title: None,
            url: None,
            sha256: crate::hash::sha256_hex(text.as_bytes()),
            size: text.len() as u64,
        }
    }

    /// A document at `lang/path` with `id` and `text`.
    fn at(lang: &str, path: &str, id: &str, text: &str) -> ManifestDoc {
        ManifestDoc {
            lang: lang.into(),
            path: path.into(),
            ..doc(id, text)
        }
    }

    /// Texts by content hash, for trees built with [`at`].
    fn source_of(sides: &[&[(ManifestDoc, String)]]) -> HashMap<String, String> {
        sides
            .iter()
            .flat_map(|s| s.iter())
            .map(|(d, t)| (d.sha256.clone(), t.clone()))
            .collect()
    }

    fn run(old: &[(ManifestDoc, String)], new: &[(ManifestDoc, String)]) -> Vec<DocChange> {
        let texts = source_of(&[old, new]);
        let src = |d: &ManifestDoc| -> Result<String> { Ok(texts[&d.sha256].clone()) };
        let o: Vec<ManifestDoc> = old.iter().map(|(d, _)| d.clone()).collect();
        let n: Vec<ManifestDoc> = new.iter().map(|(d, _)| d.clone()).collect();
        diff_docs(&["en".into(), "zh".into()], &o, &src, &n, &src).unwrap()
    }

    fn with_text(lang: &str, path: &str, id: &str, text: &str) -> (ManifestDoc, String) {
        (at(lang, path, id, text), text.to_string())
    }

    /// The phantom renames of a real history: two documents claiming the same url (id), one
    /// of them similar to a third document. A tree against itself is empty, and an edit of
    /// one duplicate is a modification at its path, never a rename to another duplicate.
    #[test]
    fn duplicated_ids_pair_by_path_and_never_rename_into_each_other() {
        let tree = vec![
            with_text("zh", "0. 概览/1. 简介.md", "intro", "# 简介\na\nb\nc\n"),
            with_text(
                "zh",
                "5. 集成/LDAP 集成指引.md",
                "intro",
                "# LDAP\na\nb\nx\n",
            ),
            with_text("zh", "other.md", "other", "# other\n"),
        ];
        assert_eq!(run(&tree, &tree), []);
        let mut edited = tree.clone();
        edited[1] = with_text(
            "zh",
            "5. 集成/LDAP 集成指引.md",
            "intro",
            "# LDAP\na\nb\ny\n",
        );
        let changes = run(&tree, &edited);
        let got: Vec<(ChangeStatus, &str, Option<&str>, u64, u64)> = changes
            .iter()
            .map(|c| {
                (
                    c.status,
                    c.path.as_str(),
                    c.old_path.as_deref(),
                    c.added_lines,
                    c.removed_lines,
                )
            })
            .collect();
        assert_eq!(
            got,
            [(
                ChangeStatus::Modified,
                "5. 集成/LDAP 集成指引.md",
                None,
                1,
                1
            )]
        );
    }

    /// A document that gains a `url` (a new id) on the same path is modified, with the old
    /// id shown, and counted against its own old text (not delete + add).
    #[test]
    fn an_identity_change_on_a_fixed_path_is_a_modification() {
        let old = vec![with_text("en", "guide/a.md", "guide/a", "# A\none\ntwo\n")];
        let new = vec![with_text(
            "en",
            "guide/a.md",
            "docs-a",
            "---\nurl: /docs-a\n---\n# A\none\ntwo\n",
        )];
        let changes = run(&old, &new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let c = &changes[0];
        assert_eq!(
            (
                c.status,
                c.id.as_str(),
                c.old_id.as_deref(),
                c.old_path.as_deref()
            ),
            (ChangeStatus::Modified, "docs-a", Some("guide/a"), None)
        );
        assert_eq!((c.added_lines, c.removed_lines), (3, 0));
    }

    /// The rules of releases published before the path step still reproduce their diffs
    /// (what `verify` checks old registries with): the same id change on a fixed path was a
    /// removal and an addition (or a rename onto the same path), and the removals took their
    /// renames in order.
    #[test]
    fn the_earlier_rules_reproduce_earlier_diffs() {
        let old = vec![with_text("en", "guide/a.md", "guide/a", "# A\none\ntwo\n")];
        let new = vec![with_text(
            "en",
            "guide/a.md",
            "docs-a",
            "---\nurl: /docs-a\n---\n# A\nx\n",
        )];
        let texts = source_of(&[&old, &new]);
        let src = |d: &ManifestDoc| -> Result<String> { Ok(texts[&d.sha256].clone()) };
        let o: Vec<ManifestDoc> = old.iter().map(|(d, _)| d.clone()).collect();
        let n: Vec<ManifestDoc> = new.iter().map(|(d, _)| d.clone()).collect();
        let langs = ["en".to_string()];
        let before = diff_docs_with(Rules::Before20, &langs, &o, &src, &n, &src).unwrap();
        let statuses: Vec<ChangeStatus> = before.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [ChangeStatus::Removed, ChangeStatus::Added]);
        let now = diff_docs(&langs, &o, &src, &n, &src).unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].status, ChangeStatus::Modified);
        // Contested: the first removal takes the best candidate under the earlier rules,
        // the most similar pair wins under the current ones.
        let old = vec![
            with_text("en", "r1.md", "r1", "a\nb\nc\nd\nx\n"),
            with_text("en", "r2.md", "r2", "a\nb\nc\nd\ne\n"),
        ];
        let new = vec![
            with_text("en", "n1.md", "n1", "a\nb\nc\nd\ne\nf\n"),
            with_text("en", "n2.md", "n2", "a\nb\nc\nq\n"),
        ];
        let texts = source_of(&[&old, &new]);
        let src = |d: &ManifestDoc| -> Result<String> { Ok(texts[&d.sha256].clone()) };
        let o: Vec<ManifestDoc> = old.iter().map(|(d, _)| d.clone()).collect();
        let n: Vec<ManifestDoc> = new.iter().map(|(d, _)| d.clone()).collect();
        let pairs = |rules| -> Vec<(String, Option<String>)> {
            diff_docs_with(rules, &langs, &o, &src, &n, &src)
                .unwrap()
                .into_iter()
                .map(|c| (c.id, c.old_id))
                .collect()
        };
        assert_eq!(
            pairs(Rules::Before20),
            [
                ("n1".into(), Some("r1".into())),
                ("n2".into(), Some("r2".into()))
            ]
        );
        assert_eq!(
            pairs(Rules::Current),
            [
                ("n1".into(), Some("r2".into())),
                ("n2".into(), Some("r1".into()))
            ]
        );
    }

    /// A unique id moving to another path is a rename even when the path it left is now
    /// taken by another document (whose own id it pairs with, or which is added).
    #[test]
    fn a_unique_id_wins_over_the_path() {
        let old = vec![
            with_text("en", "a.md", "x", "x text\n"),
            with_text("en", "b.md", "y", "y text\n"),
        ];
        let new = vec![
            with_text("en", "a.md", "y", "y text\n"),
            with_text("en", "b.md", "x", "x text\n"),
        ];
        let changes = run(&old, &new);
        let got: Vec<(ChangeStatus, &str, Option<&str>)> = changes
            .iter()
            .map(|c| (c.status, c.path.as_str(), c.old_path.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (ChangeStatus::Renamed, "a.md", Some("b.md")),
                (ChangeStatus::Renamed, "b.md", Some("a.md")),
            ]
        );
    }

    /// The two ends of a change: (old lang/path, new lang/path), the counts and the ids.
    type Ends = (
        Option<String>,
        Option<String>,
        u64,
        u64,
        Option<u8>,
        Option<String>,
        Option<String>,
    );

    fn ends(c: &DocChange, reverse: bool) -> Ends {
        let path = format!("{}/{}", c.lang, c.path);
        let old_path = c.old_path.as_ref().map(|p| format!("{}/{}", c.lang, p));
        let (o, n) = match c.status {
            ChangeStatus::Added => (None, Some(path)),
            ChangeStatus::Removed => (Some(path), None),
            ChangeStatus::Modified => (Some(path.clone()), Some(path)),
            ChangeStatus::Renamed => (old_path, Some(path)),
        };
        let old_id = c
            .old_id
            .clone()
            .or_else(|| (c.status != ChangeStatus::Added).then(|| c.id.clone()));
        let new_id = (c.status != ChangeStatus::Removed).then(|| c.id.clone());
        if reverse {
            (
                n,
                o,
                c.removed_lines,
                c.added_lines,
                c.similarity,
                new_id,
                old_id,
            )
        } else {
            (
                o,
                n,
                c.added_lines,
                c.removed_lines,
                c.similarity,
                old_id,
                new_id,
            )
        }
    }

    /// A generated tree: (lang, path slot, id slot, text lines), paths unique per language.
    fn tree_of(spec: &[(bool, u8, u8, Vec<u8>)]) -> Vec<(ManifestDoc, String)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (zh, p, id, lines) in spec {
            let lang = if *zh { "zh" } else { "en" };
            let path = format!("dir {}/文档 {p}.md", p % 3);
            if !seen.insert((lang, path.clone())) {
                continue;
            }
            let text: String = lines.iter().map(|l| format!("line {}\n", l % 12)).collect();
            out.push(with_text(lang, &path, &format!("id{}", id % 6), &text));
        }
        out
    }

    fn spec() -> impl proptest::strategy::Strategy<Value = Vec<(bool, u8, u8, Vec<u8>)>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                any::<bool>(),
                0u8..10,
                0u8..6,
                proptest::collection::vec(0u8..12, 0..8),
            ),
            0..12,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Over trees with duplicated ids, id changes, moves and edits: a tree against itself
        /// is empty, and B→A is A→B inverted, change for change.
        #[test]
        fn self_diff_is_empty_and_reverse_is_inverse(a in spec(), b in spec()) {
            let (a, b) = (tree_of(&a), tree_of(&b));
            proptest::prop_assert_eq!(run(&a, &a), vec![]);
            proptest::prop_assert_eq!(run(&b, &b), vec![]);
            let mut fwd: Vec<Ends> = run(&a, &b).iter().map(|c| ends(c, false)).collect();
            let mut back: Vec<Ends> = run(&b, &a).iter().map(|c| ends(c, true)).collect();
            fwd.sort();
            back.sort();
            proptest::prop_assert_eq!(fwd, back);
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

    proptest::proptest! {
        /// Whatever the texts share at their ends (whole lines or not, a final newline or
        /// not), the counts are the lengths less the longest common subsequence of lines.
        #[test]
        fn counts_are_lengths_less_the_lcs(
            head in proptest::collection::vec(0u8..4, 0..80),
            old in proptest::collection::vec(0u8..4, 0..12),
            new in proptest::collection::vec(0u8..4, 0..12),
            tail in proptest::collection::vec(0u8..4, 0..80),
            ends in 0u8..4,
        ) {
            let alphabet = ["a\n", "b\n", "a", "\n"];
            let text = |parts: &[&Vec<u8>], end: bool| {
                let mut t: String = parts.iter().flat_map(|p| p.iter()).map(|i| alphabet[*i as usize]).collect();
                if end { t.push_str("ab"); }
                t
            };
            let old = text(&[&head, &old, &tail], ends & 1 == 1);
            let new = text(&[&head, &new, &tail], ends & 2 == 2);
            let (a, b): (Vec<&str>, Vec<&str>) = (
                old.split_inclusive('\n').collect(),
                new.split_inclusive('\n').collect(),
            );
            let lcs = lcs_len(&a, &b);
            proptest::prop_assert_eq!(
                line_counts(&old, &new),
                ((b.len() - lcs) as u64, (a.len() - lcs) as u64)
            );
        }
    }

    #[test]
    fn trimming_keeps_whole_lines_only() {
        assert_eq!(trim_common_lines("ab\ncd\n", "ab\nxd\n"), ("cd\n", "xd\n"));
        assert_eq!(
            trim_common_lines("x\nab\n", "y\nzab\n"),
            ("x\nab\n", "y\nzab\n")
        );
        assert_eq!(trim_common_lines("a\nb", "a\nb\nc\n"), ("b", "b\nc\n"));
        let long = "line of text\n".repeat(20);
        let (a, b) = (format!("{long}old\n{long}"), format!("{long}new\n{long}"));
        assert_eq!(trim_common_lines(&a, &b), ("old\n", "new\n"));
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

/// The asset changes between two asset lists (each sorted by path), by path: a path on one
/// side only is added or removed, a path on both with other bytes is modified. Pure.
pub fn diff_assets(
    old: &[crate::manifest::ManifestAsset],
    new: &[crate::manifest::ManifestAsset],
) -> Vec<crate::manifest::AssetChange> {
    use crate::manifest::{AssetChange, ChangeStatus};
    let olds: BTreeMap<&str, &crate::manifest::ManifestAsset> =
        old.iter().map(|a| (a.path.as_str(), a)).collect();
    let news: BTreeMap<&str, &crate::manifest::ManifestAsset> =
        new.iter().map(|a| (a.path.as_str(), a)).collect();
    let mut paths: Vec<&str> = olds.keys().chain(news.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|p| {
            let (o, n) = (olds.get(p), news.get(p));
            let status = match (o, n) {
                (Some(o), Some(n)) if o.sha256 == n.sha256 => return None,
                (Some(_), Some(_)) => ChangeStatus::Modified,
                (Some(_), None) => ChangeStatus::Removed,
                (None, Some(_)) => ChangeStatus::Added,
                (None, None) => return None,
            };
            Some(AssetChange {
                path: p.to_string(),
                status,
                old_sha256: o.map(|a| a.sha256.clone()),
                new_sha256: n.map(|a| a.sha256.clone()),
                old_size: o.map(|a| a.size),
                new_size: n.map(|a| a.size),
            })
        })
        .collect()
}

#[cfg(test)]
mod asset_tests {
    use super::*;
    use crate::manifest::{ChangeStatus, ManifestAsset};

    fn a(path: &str, sha: char, size: u64) -> ManifestAsset {
        ManifestAsset {
            path: path.into(),
            sha256: sha.to_string().repeat(64),
            size,
            referenced_by: Vec::new(),
        }
    }

    #[test]
    fn assets_diff_by_path() {
        let old = [
            a("en/a.png", '1', 10),
            a("en/b.png", '2', 20),
            a("x.pdf", '3', 30),
        ];
        let new = [
            a("en/a.png", '1', 10),
            a("en/b.png", '4', 25),
            a("y.pdf", '3', 30),
        ];
        let got: Vec<(String, ChangeStatus, Option<u64>, Option<u64>)> = diff_assets(&old, &new)
            .into_iter()
            .map(|c| (c.path, c.status, c.old_size, c.new_size))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "en/b.png".into(),
                    ChangeStatus::Modified,
                    Some(20),
                    Some(25)
                ),
                ("x.pdf".into(), ChangeStatus::Removed, Some(30), None),
                ("y.pdf".into(), ChangeStatus::Added, None, Some(30)),
            ]
        );
        assert!(diff_assets(&new, &new).is_empty());
    }
}
