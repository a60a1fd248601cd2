//! The bundles compressed with the matches of `docs/` (package format 2).
//!
//! The tarball holds every document twice: as `docs/<lang>/<path>` and, escaped, as a value of
//! its language's bundle object (the ESM and IIFE bundles already share one compressed copy).
//! Most of deflate's time goes into choosing matches, and the matches zlib chooses for the
//! documents are, escapes aside, matches in the bundle too. So `docs/` is compressed normally,
//! in chunks cut where the bundle's 1 MiB chunks are cut (format 2 stores each language's
//! `docs/` in bundle-key order, right after its bundles), and each bundle chunk reuses the
//! matches of its `docs/` chunks: their deflate streams are read back as tokens
//! ([`kbrel_deflate::decode`]), each match is carried over to the bundle's offsets (escapes
//! added; a match that reached into a tar header has no counterpart), checked against the
//! bytes, and the tokens are Huffman-coded ([`kbrel_deflate::encode`]). What has no match to
//! carry (keys and punctuation between values, the rest of an escape) is matched against the
//! byte before, the same place before the previous value, and the last place its four bytes
//! were seen at a token start.
//!
//! Every match emitted is compared byte for byte with what it copies, so a mapping that is
//! off can cost compression, never correctness. Carrying a match over is also why `docs/`
//! and not the bundle is the one compressed by zlib: the tar stream is longer (512-byte
//! headers against a few bytes of punctuation between documents), so the bundle's distances
//! are shorter and always fit deflate's 32 KiB window, while the other way round about half of
//! them did not.

use super::{BundleBody, GZIP_CHUNK, js_escape, next_special};
use kbrel_deflate::Token;

/// Where a bundle entry's document sits in the tar stream.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placed {
    /// Offset of its tar header(s): the first byte after the previous entry's padding.
    pub header: usize,
    /// Offset of its first content byte.
    pub content: usize,
}

/// A language's documents in the tar stream, in the order of its bundle object.
pub(super) struct MirrorBody<'a> {
    pub body: std::sync::Arc<BundleBody<'a>>,
    /// Per entry of `body`, in order; the entries follow each other in the tar stream.
    pub placed: Vec<Placed>,
    /// Where this language's part of `docs/` starts (its first header) and ends (after the
    /// last document's padding).
    pub start: usize,
    pub end: usize,
}

/// A `docs/` chunk: tar bytes `[start, end)`, holding documents of chunk `chunk` of the
/// bundle body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cut {
    pub start: usize,
    pub end: usize,
    pub chunk: usize,
}

/// `docs/` chunks hold at most this many tar bytes: a knowledge base of tiny documents has far
/// more header than bundle bytes per document, and one bundle chunk's documents would
/// otherwise make one huge `docs/` chunk (a bundle chunk then reuses several).
const MAX_CUT: usize = GZIP_CHUNK + GZIP_CHUNK / 2;

impl MirrorBody<'_> {
    /// The chunks of this language's part of `docs/`, in order.
    pub fn cuts(&self) -> Vec<Cut> {
        let chunks = self.body.len().div_ceil(GZIP_CHUNK);
        let mut starts: Vec<usize> = (0..chunks)
            .map(|c| {
                if c == 0 {
                    self.start
                } else {
                    self.raw_of(c * GZIP_CHUNK)
                }
            })
            .collect();
        starts.push(self.end);
        let mut cuts = Vec::new();
        for c in 0..chunks {
            let (mut at, end) = (starts[c], starts[c + 1]);
            while at < end {
                let to = end.min(at + MAX_CUT);
                cuts.push(Cut {
                    start: at,
                    end: to,
                    chunk: c,
                });
                at = to;
            }
        }
        cuts
    }

    /// The tar offset where the `docs/` counterpart of body offset `x` starts: the first
    /// content byte whose escaped form starts at or after `x`, or the header of the entry
    /// whose key holds `x`.
    fn raw_of(&self, x: usize) -> usize {
        let body = &self.body;
        let k = body.offsets.partition_point(|&o| o <= x).saturating_sub(1);
        let Some(placed) = self.placed.get(k) else {
            return self.end;
        };
        let value = body.value_start(k);
        let text = body.entries[k].1.as_bytes();
        if x <= value {
            return placed.header;
        }
        // `esc` is where byte `i`'s escaped form starts.
        let (mut esc, mut i) = (value, 0);
        while i < text.len() {
            if esc >= x {
                return placed.content + i;
            }
            let j = next_special(text, i);
            if esc + (j - i) >= x {
                return placed.content + i + (x - esc);
            }
            esc += j - i;
            if j == text.len() {
                break;
            }
            let (len, used) = match js_escape(text, j) {
                Some((e, used)) => (e.len(), used),
                None => (1, 1),
            };
            esc += len;
            i = j + used;
        }
        self.placed.get(k + 1).map_or(self.end, |next| next.header)
    }
}

/// Per-thread scratch space for [`derive`].
#[derive(Default)]
pub(super) struct Scratch {
    /// Body offset (relative to the bundle chunk) of each tar byte of the cut, or `NONE`.
    esc_of_raw: Vec<u32>,
    /// Tar offset (relative to the cut) of each body offset of the bundle chunk, or `NONE`.
    raw_of_esc: Vec<u32>,
    /// Last offset of each hashed four bytes, for the bytes the `docs/` copy has no match for.
    recent: Vec<u32>,
    /// Tokens of the cut's `docs/` chunks, in order.
    pub raw: Vec<Token>,
    out: Vec<Token>,
}

const NONE: u32 = u32::MAX;
const HASH_BITS: u32 = 13;

fn hash4(input: &[u8], x: usize) -> usize {
    let v = u32::from_le_bytes(input[x..x + 4].try_into().expect("four bytes"));
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// The tokens of the bundle chunk `input` (chunk `cut.chunk` of the body), given in
/// `scratch.raw` the tokens of the `docs/` chunks of `cut`, which hold the same documents.
pub(super) fn derive<'t>(
    mirror: &MirrorBody<'_>,
    cut: &Cut,
    input: &[u8],
    scratch: &'t mut Scratch,
) -> &'t [Token] {
    let Scratch {
        esc_of_raw,
        raw_of_esc,
        recent,
        raw,
        out,
    } = scratch;
    out.clear();
    recent.clear();
    recent.resize(1 << HASH_BITS, NONE);
    let x0 = cut.chunk * GZIP_CHUNK;
    // The maps are filled as the walk advances, so that the offsets a match copies from (up
    // to 32 KiB back) are still in the cache when they are looked up.
    let mut maps = Maps {
        mirror,
        cut,
        x0,
        span: input.len(),
        esc_of_raw,
        raw_of_esc,
        entry: 0,
        i: 0,
        esc: 0,
    };
    maps.rewind();
    let body = &mirror.body;
    // The entry holding the current offset, for the alignment of the bytes between values.
    let mut entry = body.offsets.partition_point(|&o| o <= x0).saturating_sub(1);
    let (mut ti, mut tr) = (0usize, 0usize);
    let mut x = 0;
    while x < input.len() {
        maps.fill_past(x);
        let (esc_of_raw, raw_of_esc) = (&*maps.esc_of_raw, &*maps.raw_of_esc);
        // Where each token starts is remembered for the bytes without a match to carry.
        let seen_at = if x + 4 <= input.len() {
            std::mem::replace(&mut recent[hash4(input, x)], x as u32)
        } else {
            NONE
        };
        let r = raw_of_esc[x];
        if r != NONE {
            // A document byte: carry over the match the `docs/` copy has here, if any.
            let r = r as usize;
            while ti < raw.len() && tr + token_len(raw[ti]) <= r {
                tr += token_len(raw[ti]);
                ti += 1;
            }
            if let Some(&Token::Match { dist, .. }) = raw.get(ti)
                && let Some(sx) = r
                    .checked_sub(usize::from(dist))
                    .and_then(|q| esc_of_raw.get(q))
                    .copied()
                    .filter(|&sx| sx != NONE && (sx as usize) < x && x - sx as usize <= 32768)
            {
                let n = common_prefix(input, sx as usize, x, 258);
                if n >= 3 {
                    out.push(Token::Match {
                        len: n as u16,
                        dist: (x - sx as usize) as u16,
                    });
                    x += n;
                    continue;
                }
            }
        }
        // No match to carry over: the key and punctuation between values, the rest of an
        // escape, a literal of the `docs/` copy, or a match there that copies a tar header.
        // Try the byte before (runs), the same place before the previous value and in the
        // previous entry, and the last place the next four bytes were seen.
        while entry + 1 < body.offsets.len() && body.offsets[entry + 1] <= x0 + x {
            entry += 1;
        }
        let k = if x0 + x < body.value_start(entry) {
            entry
        } else {
            entry + 1
        };
        let (value_shift, entry_shift) = if k >= 1 && k < body.offsets.len() {
            (
                body.value_start(k) - body.value_start(k - 1),
                body.offsets[k] - body.offsets[k - 1],
            )
        } else {
            (0, 0)
        };
        let seen = match seen_at {
            NONE => 0,
            at => x - at as usize,
        };
        let best = [1, value_shift, entry_shift, seen]
            .into_iter()
            .filter(|&d| d >= 1 && d <= x && d <= 32768)
            .map(|d| (common_prefix(input, x - d, x, 258), d))
            .max_by_key(|&(n, d)| (n, std::cmp::Reverse(d)));
        match best {
            Some((n, d)) if n >= 3 => {
                out.push(Token::Match {
                    len: n as u16,
                    dist: d as u16,
                });
                x += n;
            }
            _ => {
                out.push(Token::Literal(input[x]));
                x += 1;
            }
        }
    }
    out
}

fn token_len(t: Token) -> usize {
    match t {
        Token::Literal(_) => 1,
        Token::Match { len, .. } => usize::from(len),
    }
}

/// How many bytes from `p` equal those from `q` (`q < p`; the ranges may overlap, as a
/// deflate copy does), at most `limit` and not past the end of `input`.
fn common_prefix(input: &[u8], q: usize, p: usize, limit: usize) -> usize {
    let limit = limit.min(input.len() - p);
    let (a, b) = (&input[q..q + limit], &input[p..p + limit]);
    let mut n = 0;
    while n + 8 <= limit {
        let x = u64::from_le_bytes(a[n..n + 8].try_into().expect("eight bytes"))
            ^ u64::from_le_bytes(b[n..n + 8].try_into().expect("eight bytes"));
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < limit && a[n] == b[n] {
        n += 1;
    }
    n
}

/// `esc_of_raw` (per tar byte of the cut) and `raw_of_esc` (per body offset of the bundle
/// chunk) map each other's offsets for the content bytes of the cut that start a character's
/// escaped form, `NONE` elsewhere; both are written once, in order, as far as needed.
struct Maps<'m, 'a> {
    mirror: &'m MirrorBody<'a>,
    cut: &'m Cut,
    x0: usize,
    span: usize,
    esc_of_raw: &'m mut Vec<u32>,
    raw_of_esc: &'m mut Vec<u32>,
    /// The entry being mapped, the next byte of its text and where its escaped form starts.
    entry: usize,
    i: usize,
    esc: usize,
}

impl Maps<'_, '_> {
    /// Empty maps, positioned at the entry holding the cut's first byte.
    fn rewind(&mut self) {
        self.esc_of_raw.clear();
        self.raw_of_esc.clear();
        self.entry = self
            .mirror
            .placed
            .partition_point(|p| p.content <= self.cut.start)
            .saturating_sub(1);
        self.i = 0;
        self.esc = self.mirror.body.value_start(self.entry);
    }

    /// Map until body offset `x` (relative) is covered.
    fn fill_past(&mut self, x: usize) {
        let (body, placed) = (&self.mirror.body, &self.mirror.placed);
        while self.raw_of_esc.len() <= x {
            let Some(place) = placed.get(self.entry).filter(|p| p.content < self.cut.end) else {
                self.esc_of_raw.resize(self.cut.end - self.cut.start, NONE);
                self.raw_of_esc.resize(self.span, NONE);
                return;
            };
            let text = body.entries[self.entry].1.as_bytes();
            if self.i >= text.len() {
                self.entry += 1;
                self.i = 0;
                if self.entry < placed.len() {
                    self.esc = body.value_start(self.entry);
                }
                continue;
            }
            let (i, esc) = (self.i, self.esc);
            let j = next_special(text, i);
            // A run of bytes that stand for themselves, then one that may be escaped.
            self.map(place.content + i, esc, j - i);
            self.esc += j - i;
            self.i = j;
            if j < text.len() {
                self.map(place.content + j, self.esc, 1);
                let (elen, used) = match js_escape(text, j) {
                    Some((e, used)) => (e.len(), used),
                    None => (1, 1),
                };
                self.esc += elen;
                self.i = j + used;
            }
        }
    }

    /// Map `n` consecutive bytes from tar offset `raw` and body offset `x`, clipped to the cut
    /// and the bundle chunk. Called in increasing order of both.
    fn map(&mut self, raw: usize, x: usize, n: usize) {
        let (cut, x0) = (self.cut, self.x0);
        let skip = cut.start.saturating_sub(raw).max(x0.saturating_sub(x));
        let n = n
            .min(cut.end.saturating_sub(raw))
            .min((x0 + self.span).saturating_sub(x));
        if skip >= n {
            return;
        }
        let (r, xr, n) = (raw + skip - cut.start, x + skip - x0, n - skip);
        debug_assert!(r >= self.esc_of_raw.len() && xr >= self.raw_of_esc.len());
        self.esc_of_raw.resize(r, NONE);
        self.esc_of_raw.extend(xr as u32..(xr + n) as u32);
        self.raw_of_esc.resize(xr, NONE);
        self.raw_of_esc.extend(r as u32..(r + n) as u32);
    }
}
