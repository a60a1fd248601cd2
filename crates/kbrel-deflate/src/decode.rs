//! Reads a raw deflate stream (RFC 1951) back into the LZ77 tokens its compressor chose,
//! without producing the bytes: the tokens are what `encode` re-codes.

use super::{CL_ORDER, DIST_BASE, DIST_EXTRA, LEN_BASE, LEN_EXTRA, Token};
use std::fmt;

/// Why a stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid deflate stream: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

const TRUNCATED: DecodeError = DecodeError("truncated input");

// A table entry (u64) packs, from the low bits: the bits to consume (code or codes plus extra
// bits), from bit 8 the length of the code part (where extra bits start), from bit 16 flags
// for the kind (none for a literal), from bit 24 a fused match's length minus 3, from bit 32
// the value (byte or bytes, base length or distance, code-length symbol, subtable offset) and
// from bit 48 the mask of the extra bits (or of a subtable's index). Wide entries keep the hot
// loop down to shifts and masks.
const LIT: u64 = 0;
const LEN: u64 = 1 << 16; // a length whose distance follows; in the distance table, a distance
const MATCH: u64 = 1 << 17; // length and distance code in one entry
const EOB: u64 = 1 << 18;
const SUB: u64 = 1 << 19;
const BAD: u64 = 1 << 20; // unused code, or symbol 286/287, distance 30/31
const KIND: u64 = LEN | MATCH | EOB | SUB | BAD;
const PAIR: u64 = 1 << 21; // two literals
// Primary table widths: the most common codes resolve in one lookup, longer ones in two.
const LIT_ROOT: u32 = 11;
const DIST_ROOT: u32 = 8;
const LIT_MASK: usize = (1 << LIT_ROOT) - 1;
const DIST_MASK: usize = (1 << DIST_ROOT) - 1;

/// A length or distance entry: kind, base, and the extra bits (counted in the bits to consume).
fn with_extra(base: u16, extra: u64) -> u64 {
    LEN | u64::from(base) << 32 | ((1 << extra) - 1) << 48 | extra
}

fn lit_entry(sym: usize) -> u64 {
    match sym {
        0..=255 => (sym as u64) << 32,
        256 => EOB,
        257..=285 => with_extra(LEN_BASE[sym - 257], u64::from(LEN_EXTRA[sym - 257])),
        _ => BAD,
    }
}

fn dist_entry(sym: usize) -> u64 {
    match sym {
        0..=29 => with_extra(DIST_BASE[sym], u64::from(DIST_EXTRA[sym])),
        _ => BAD,
    }
}

/// The extra bits of a length or distance entry, as a number.
#[inline(always)]
fn extra(buf: u64, e: u64) -> u64 {
    buf.wrapping_shr((e >> 8) as u32) & (e >> 48)
}

/// LSB-first bit reader. A refill always loads a whole word, padding past the end of the
/// input with zero bytes, so every bit of `buf` is either the stream's own bit at that place
/// or past its end; `over` counts such padding bytes, which `left` takes off again.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    /// The bytes not yet loaded into `buf`.
    rest: &'a [u8],
    over: usize,
    buf: u64,
    /// Bits of `buf` not consumed; at least 56 after a refill.
    cnt: u32,
}

impl Bits<'_> {
    #[inline(always)]
    fn refill(&mut self) {
        // Whole bytes that fit above the unconsumed bits (`cnt` is below 64).
        let n = (!self.cnt & 63) as usize >> 3;
        if let Some(w) = self.rest.first_chunk::<8>() {
            self.buf |= u64::from_le_bytes(*w) << self.cnt;
            self.rest = &self.rest[n..];
        } else {
            self.buf |= tail(self.rest) << self.cnt;
            self.over += n.saturating_sub(self.rest.len());
            self.rest = self.rest.get(n..).unwrap_or_default();
        }
        self.cnt |= 56;
    }

    /// Drops the bits an entry consumes (or `n` bits); at most 48 bits between refills.
    #[inline(always)]
    fn skip(&mut self, e: u64) {
        self.buf >>= e & 63;
        self.cnt -= (e & 63) as u32;
    }

    /// Reads `n` (at most 16) bits.
    fn bits(&mut self, n: u64) -> usize {
        let v = (self.buf & ((1 << n) - 1)) as usize;
        self.skip(n);
        v
    }

    /// Bits of the input not consumed yet; negative once decoding has read past the end.
    #[inline(always)]
    fn left(&self) -> isize {
        (self.rest.len() as isize - self.over as isize) * 8 + self.cnt as isize
    }

    /// Offset in `data` of the first byte with no bit consumed yet.
    fn byte_pos(&self) -> usize {
        self.data.len() - self.rest.len() + self.over - (self.cnt / 8) as usize
    }
}

/// The input's last bytes, zero-padded to a word. Folded rather than copied: a call to
/// `memcpy` here would make the hot loop spill registers.
#[cold]
fn tail(rest: &[u8]) -> u64 {
    rest.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b))
}

// The literal/length table, then the distance table, each a primary part indexed by `root`
// bits and then subtables. Each half is a power of two above the worst case (every long code
// in a subtable of its own: 2048 + 288 * 16, 256 + 32 * 128), so masking an index stands in
// for a bounds check.
const HALF: usize = 1 << 13;
type Tables = [u64; 2 * HALF];

#[inline(always)]
fn lookup(t: &Tables, half: usize, root: u32, buf: u64) -> u64 {
    let e = t[half | (buf as usize & ((1 << root) - 1))];
    if e & SUB == 0 {
        return e;
    }
    let sub = ((buf >> root) & (e >> 48)) as usize;
    t[half | (((e >> 32 & 0xffff) as usize + sub) & (HALF - 1))]
}

/// Builds the lookup table of the canonical code with code lengths `lens` (each 0..=15).
/// `sparse` admits the incomplete codes RFC 1951 allows for distances: one code of length 1,
/// or (as zlib does) none at all.
fn build(
    t: &mut [u64],
    lens: &[u8],
    root: u32,
    entry: fn(usize) -> u64,
    sparse: bool,
) -> Result<(), DecodeError> {
    let mut count = [0u32; 16];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut left = 1i64;
    for &c in &count[1..] {
        left = 2 * left - i64::from(c);
        if left < 0 {
            return Err(DecodeError("oversubscribed code"));
        }
    }
    let used: u32 = count.iter().sum();
    if left > 0 && !(sparse && used <= 1 && count[1] == used) {
        return Err(DecodeError("incomplete code"));
    }
    let max = (1..16).rev().find(|&l| count[l] != 0).unwrap_or(0) as u32;
    let sub = max.saturating_sub(root);
    let mut end = 1 << root;
    t[..end].fill(BAD);
    let mut next = [0u32; 16];
    for l in 1..16 {
        next[l] = (next[l - 1] + count[l - 1]) << 1;
    }
    for (sym, &l) in lens.iter().enumerate().filter(|&(_, &l)| l != 0) {
        let l = u32::from(l);
        let code = next[l as usize];
        next[l as usize] += 1;
        // Deflate sends codes MSB first into an LSB-first stream: index by the reversed code.
        let rev = (code.reverse_bits() >> (32 - l)) as usize;
        let e = entry(sym) + (u64::from(l) << 8) + u64::from(l);
        if l <= root {
            for i in (rev..1 << root).step_by(1 << l) {
                t[i] = e;
            }
            continue;
        }
        let p = rev & ((1 << root) - 1);
        if t[p] & SUB == 0 {
            t.get_mut(end..end + (1 << sub))
                .ok_or(DecodeError("code too large"))?
                .fill(BAD);
            t[p] = SUB | ((1 << sub) - 1) << 48 | (end as u64) << 32;
            end += 1 << sub;
        }
        let off = (t[p] >> 32 & 0xffff) as usize;
        for i in ((rev >> root)..1 << sub).step_by(1 << (l - root)) {
            t[off + i] = e;
        }
    }
    Ok(())
}

/// Where a primary literal/length entry leaves room in its index bits for the whole next code,
/// makes it one entry for both: two literals, or a length and its distance code (the distance's
/// extra bits are read after it). Most matches then take one lookup instead of two.
fn fuse(t: &mut Tables) {
    // Downwards, so the entry of the second code (at a lower index) is still unfused.
    for i in (0..1 << LIT_ROOT).rev() {
        let e = t[i];
        let n = e & 31;
        let rest = i >> n;
        let (e2, pair) = match e & KIND {
            LIT => (t[rest], true),
            LEN => (t[HALF | (rest & DIST_MASK)], false),
            _ => continue,
        };
        let n2 = (e2 >> 8) & 15; // the second code's length, without extra bits
        if n + n2 > u64::from(LIT_ROOT) || e2 & KIND != if pair { LIT } else { LEN } {
            continue;
        }
        t[i] = if pair {
            PAIR | (e2 >> 32) << 40 | (e & 0xff << 32) | (n + (e2 & 31))
        } else {
            let len = (e >> 32 & 0xffff) + extra(i as u64, e);
            MATCH | (e2 & !0xffff_ffff) | (len - 3) << 24 | (n + n2) << 8 | (n + (e2 & 31))
        };
    }
}

/// Append the tokens of the raw deflate stream `raw` to `out` (stored-block bytes become
/// `Token::Literal`s) and return the number of uncompressed bytes they produce. Reads blocks
/// until a block with BFINAL=1 ends, or until the input is used up exactly at a block
/// boundary (the remaining bits of the last byte, if any, are padding). Any malformed
/// input (bad block type, invalid code lengths, incomplete/oversubscribed codes except the
/// single-distance-code case RFC 1951 allows, a distance further back than the bytes
/// produced so far in this stream, a symbol 286/287 or distance 30/31, truncated input)
/// is an error, never a panic, never an infinite loop.
pub fn tokens(raw: &[u8], out: &mut Vec<Token>) -> Result<usize, DecodeError> {
    // Compressed text averages well under two tokens per input byte; this avoids most regrowth.
    out.reserve(raw.len().saturating_mul(2));
    let mut r = Bits {
        data: raw,
        rest: raw,
        over: 0,
        buf: 0,
        cnt: 0,
    };
    let mut produced = 0;
    let mut tables = Box::new([BAD; 2 * HALF]);
    let mut fixed: Option<Box<Tables>> = None;
    loop {
        match r.left() {
            ..0 => return Err(TRUNCATED),
            // No block fits in fewer than 8 bits, so a short tail of the last byte is padding.
            0..8 => return Ok(produced),
            _ => {}
        }
        r.refill();
        let header = r.bits(3);
        match header >> 1 {
            0 => stored(&mut r, out, &mut produced)?,
            1 => {
                let t = fixed.get_or_insert_with(fixed_tables);
                huffman(&mut r, t, out, &mut produced)?;
            }
            2 => {
                dynamic(&mut r, &mut tables)?;
                huffman(&mut r, &tables, out, &mut produced)?;
            }
            _ => return Err(DecodeError("invalid block type")),
        }
        if header & 1 == 1 {
            return Ok(produced);
        }
    }
}

fn stored(r: &mut Bits, out: &mut Vec<Token>, produced: &mut usize) -> Result<(), DecodeError> {
    // Skip to the byte boundary and hand back the whole bytes still buffered.
    let pos = r.byte_pos();
    (r.buf, r.cnt, r.over) = (0, 0, 0);
    let hdr = r.data.get(pos..pos + 4).ok_or(TRUNCATED)?;
    let len = u16::from_le_bytes([hdr[0], hdr[1]]);
    if u16::from_le_bytes([hdr[2], hdr[3]]) != !len {
        return Err(DecodeError("stored block length check failed"));
    }
    let (bytes, rest) = r.data[pos + 4..]
        .split_at_checked(usize::from(len))
        .ok_or(TRUNCATED)?;
    out.extend(bytes.iter().map(|&b| Token::Literal(b)));
    r.rest = rest;
    *produced += bytes.len();
    Ok(())
}

fn fixed_tables() -> Box<Tables> {
    let mut lens = [8u8; 288];
    lens[144..256].fill(9);
    lens[256..280].fill(7);
    let mut t = Box::new([BAD; 2 * HALF]);
    let (lit, dist) = t.split_at_mut(HALF);
    // The fixed codes are complete and short, so building them cannot fail.
    let ok = build(lit, &lens, LIT_ROOT, lit_entry, false)
        .and_then(|()| build(dist, &[5; 32], DIST_ROOT, dist_entry, false));
    debug_assert!(ok.is_ok());
    fuse(&mut t);
    t
}

fn dynamic(r: &mut Bits, t: &mut Tables) -> Result<(), DecodeError> {
    r.refill();
    let hlit = r.bits(5) + 257;
    let hdist = r.bits(5) + 1;
    let hclen = r.bits(4) + 4;
    let mut cl = [0u8; 19];
    for &i in &CL_ORDER[..hclen] {
        r.refill();
        cl[i] = r.bits(3) as u8;
    }
    let mut clt = [BAD; 128];
    build(&mut clt, &cl, 7, |s| (s as u64) << 32, false)?;
    let mut lens = [0u8; 288 + 32];
    let mut i = 0;
    while i < hlit + hdist {
        r.refill();
        let e = clt[(r.buf & 127) as usize];
        r.skip(e);
        let (val, rep) = match e >> 32 {
            sym @ 0..=15 => (sym as u8, 1),
            16 if i == 0 => return Err(DecodeError("repeat with no previous length")),
            16 => (lens[i - 1], 3 + r.bits(2)),
            17 => (0, 3 + r.bits(3)),
            _ => (0, 11 + r.bits(7)),
        };
        if i + rep > hlit + hdist {
            return Err(DecodeError("code lengths overrun"));
        }
        lens[i..i + rep].fill(val);
        i += rep;
    }
    if r.left() < 0 {
        return Err(TRUNCATED);
    }
    if lens[256] == 0 {
        return Err(DecodeError("no end-of-block code"));
    }
    let (lit, dist) = t.split_at_mut(HALF);
    build(lit, &lens[..hlit], LIT_ROOT, lit_entry, false)?;
    build(dist, &lens[hlit..i], DIST_ROOT, dist_entry, true)?;
    fuse(t);
    Ok(())
}

/// Decodes one Huffman block's symbols up to and including end-of-block.
fn huffman(
    r: &mut Bits,
    t: &Tables,
    out: &mut Vec<Token>,
    produced: &mut usize,
) -> Result<(), DecodeError> {
    // Work on copies so the hot state stays in registers, and gather tokens in a local buffer:
    // pushing to `out` keeps reloading and storing its length, and a call in the inner loop
    // would make the compiler spill the state around it.
    let mut b = *r;
    let mut done = *produced;
    let mut tb = [Token::Literal(0); 256];
    b.refill();
    let mut e = t[b.buf as usize & LIT_MASK];
    loop {
        let mut k = 0;
        let end = loop {
            if k + 2 > tb.len() {
                break false;
            }
            // Only a refill that padded past the end can have let decoding run off it.
            if b.rest.len() < 8 && b.left() < 0 {
                return Err(TRUNCATED);
            }
            // `e` was looked up before this refill, which only adds bits above the unread
            // ones, so the refill is off the lookup chain. One refill covers a whole match
            // (48 bits) and still leaves the 15 bits of the next lookup.
            b.refill();
            let (len, dist);
            if e & KIND == LIT {
                b.skip(e);
                // Both slots are written; the second counts only for a pair.
                tb[k & 255] = Token::Literal((e >> 32) as u8);
                tb[(k + 1) & 255] = Token::Literal((e >> 40) as u8);
                let c = 1 + (e & PAIR != 0) as usize;
                k += c;
                done += c;
                e = t[b.buf as usize & LIT_MASK];
                continue;
            } else if e & MATCH != 0 {
                len = (e >> 24 & 0xff) + 3;
                dist = (e >> 32 & 0xffff) + extra(b.buf, e);
                b.skip(e);
            } else if e & LEN != 0 {
                len = (e >> 32 & 0xffff) + extra(b.buf, e);
                b.skip(e);
                let mut d = t[HALF | (b.buf as usize & DIST_MASK)];
                if d & LEN == 0 {
                    d = lookup(t, HALF, DIST_ROOT, b.buf);
                    if d & LEN == 0 {
                        return Err(DecodeError("invalid distance code"));
                    }
                }
                dist = (d >> 32 & 0xffff) + extra(b.buf, d);
                b.skip(d);
            } else if e & SUB != 0 {
                e = lookup(t, 0, LIT_ROOT, b.buf);
                continue;
            } else if e & EOB != 0 {
                b.skip(e);
                break true;
            } else {
                return Err(DecodeError("invalid literal/length code"));
            }
            if dist as usize > done {
                return Err(DecodeError("distance before start of stream"));
            }
            tb[k & 255] = Token::Match {
                len: len as u16,
                dist: dist as u16,
            };
            k += 1;
            done += len as usize;
            e = t[b.buf as usize & LIT_MASK];
        };
        out.extend_from_slice(&tb[..k]);
        if end {
            break;
        }
    }
    if b.left() < 0 {
        return Err(TRUNCATED);
    }
    *r = b;
    *produced = done;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress, Status};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn compress(data: &[u8], level: u32, flush: FlushCompress) -> Vec<u8> {
        let mut c = Compress::new(Compression::new(level), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        loop {
            let status = c.compress_vec(&data[c.total_in() as usize..], &mut out, flush);
            // A sync flush is complete once all input is in and the output did not fill up.
            let synced = c.total_in() as usize == data.len() && out.len() < out.capacity();
            match status.unwrap() {
                Status::StreamEnd => return out,
                _ if synced && flush != FlushCompress::Finish => return out,
                _ => out.reserve(out.capacity()),
            }
        }
    }

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Markdown-like text with headings, repeats, CJK and newlines, from a fixed seed.
    fn text(n: usize, mut seed: u64) -> Vec<u8> {
        let words: Vec<&str> = "the |release |package |notes |for |version |日本語の文書 |\
            changes |`code` |and |\n\n## Heading |. |\n- "
            .split('|')
            .collect();
        let mut out = Vec::with_capacity(n + 32);
        while out.len() < n {
            let r = xorshift(&mut seed);
            out.extend_from_slice(words[(r % 13) as usize].as_bytes());
            if r.is_multiple_of(7) {
                out.extend_from_slice(format!("item{} ", r % 5000).as_bytes());
            }
        }
        out.truncate(n);
        out
    }

    fn random(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n).map(|_| (xorshift(&mut seed) >> 24) as u8).collect()
    }

    fn replay(tokens: &[Token]) -> Vec<u8> {
        let mut out = Vec::new();
        for &t in tokens {
            match t {
                Token::Literal(b) => out.push(b),
                Token::Match { len, dist } => {
                    for _ in 0..len {
                        out.push(out[out.len() - usize::from(dist)]);
                    }
                }
            }
        }
        out
    }

    /// Decodes and replays, checking the returned length against the bytes.
    fn decode(raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut toks = Vec::new();
        let n = tokens(raw, &mut toks)?;
        let bytes = replay(&toks);
        assert_eq!(n, bytes.len());
        Ok(bytes)
    }

    #[test]
    fn round_trips_levels_sizes_and_flushes() {
        for size in [0, 1, 100, 70_000, 1_100_000] {
            for data in [text(size, 7), random(size, 9)] {
                for level in [0, 1, 4, 6, 9] {
                    for flush in [FlushCompress::Sync, FlushCompress::Finish] {
                        let raw = compress(&data, level, flush);
                        assert!(decode(&raw).unwrap() == data, "{size} {level} {flush:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn covers_stored_fixed_and_dynamic_blocks() {
        let btype = |raw: &[u8]| (raw[0] >> 1) & 3;
        let stored = compress(b"abc", 0, FlushCompress::Finish);
        let fixed = compress(b"hello hello hello", 6, FlushCompress::Finish);
        let dynamic = compress(&text(5000, 1), 6, FlushCompress::Finish);
        assert_eq!([btype(&stored), btype(&fixed), btype(&dynamic)], [0, 1, 2]);
        assert_eq!(decode(&stored).unwrap(), b"abc");
        let mut toks = Vec::new();
        assert_eq!(tokens(&fixed, &mut toks), Ok(17));
        assert_eq!(replay(&toks), b"hello hello hello");
        assert!(matches!(toks[..], [.., Token::Match { dist: 6, .. }]));
    }

    #[test]
    fn concatenated_sync_streams_decode_as_one() {
        let (a, b) = (text(20_000, 3), text(40_000, 4));
        let mut both = compress(&a, 6, FlushCompress::Sync);
        both.extend(compress(&b, 9, FlushCompress::Sync));
        assert_eq!(decode(&both).unwrap(), [a.clone(), b].concat());
        // One compressor over two flushes: the second part reaches back into the first.
        let mut c = Compress::new(Compression::new(6), false);
        let (mut first, mut second) = (Vec::with_capacity(99_999), Vec::with_capacity(99_999));
        c.compress_vec(&a, &mut first, FlushCompress::Sync).unwrap();
        c.compress_vec(&a, &mut second, FlushCompress::Sync)
            .unwrap();
        assert!(second.len() < 1000, "the second copy is all matches");
        let err = decode(&second).unwrap_err();
        assert_eq!(err.0, "distance before start of stream");
        assert_eq!(decode(&[first, second].concat()).unwrap(), a.repeat(2));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (data, level) in [(text(300, 5), 6), (text(3000, 6), 9), (random(50, 2), 0)] {
            let raw = compress(&data, level, FlushCompress::Finish);
            for cut in 1..raw.len() {
                assert!(decode(&raw[..cut]).is_err(), "cut {cut} of {}", raw.len());
            }
        }
        assert_eq!(decode(&[]), Ok(vec![]));
    }

    /// LSB-first bit writer for hand-made streams.
    #[derive(Default)]
    struct W(Vec<u8>, u32);

    impl W {
        fn put(&mut self, v: u32, n: u32) -> &mut Self {
            for i in 0..n {
                if self.1.is_multiple_of(8) {
                    self.0.push(0);
                }
                *self.0.last_mut().unwrap() |= ((v >> i & 1) as u8) << (self.1 % 8);
                self.1 += 1;
            }
            self
        }

        /// A Huffman code, most significant bit first.
        fn code(&mut self, c: u32, n: u32) -> &mut Self {
            self.put(c.reverse_bits() >> (32 - n), n)
        }

        /// The canonical code of symbol `sym` under code lengths `lens`.
        fn sym(&mut self, lens: &[u8], sym: usize) -> &mut Self {
            let l = lens[sym];
            let count = |x: u8| lens.iter().filter(|&&y| y == x).count() as u32;
            let first = (1..l).fold(0, |c, x| (c + count(x)) << 1);
            let code = first + lens[..sym].iter().filter(|&&y| y == l).count() as u32;
            self.code(code, u32::from(l))
        }
    }

    /// A final dynamic block header whose code-length code gives each length 0..=15 four bits.
    fn dynamic_header(lit: &[u8], dist: &[u8]) -> W {
        let mut w = W::default();
        w.put(1, 1).put(2, 2).put(lit.len() as u32 - 257, 5);
        w.put(dist.len() as u32 - 1, 5).put(15, 4);
        for i in CL_ORDER {
            w.put(if i < 16 { 4 } else { 0 }, 3);
        }
        for &l in lit.iter().chain(dist) {
            w.code(u32::from(l), 4);
        }
        w
    }

    #[test]
    fn hand_made_fixed_blocks() {
        let fixed = |syms: &[(u32, u32)]| {
            let mut w = W::default();
            w.put(1, 1).put(1, 2);
            for &(c, n) in syms {
                w.code(c, n);
            }
            w.code(0, 7).0.clone() // end of block
        };
        let a = (0x30 + u32::from(b'a'), 8);
        let (len3, dist1) = ((1, 7), (0, 5));
        assert_eq!(decode(&fixed(&[a, len3, dist1])).unwrap(), b"aaaa");
        let err = |syms: &[(u32, u32)]| decode(&fixed(syms)).unwrap_err().0;
        assert_eq!(err(&[len3, dist1]), "distance before start of stream");
        assert_eq!(err(&[a, (0xc6, 8)]), "invalid literal/length code"); // symbol 286
        assert_eq!(err(&[a, len3, (30, 5)]), "invalid distance code");
        assert_eq!(decode(&[0b111]).unwrap_err().0, "invalid block type");
        assert_eq!(decode(&[0b110, 0]).unwrap_err().0, "invalid block type");
    }

    #[test]
    fn hand_made_dynamic_blocks() {
        // Literal 'a', end of block and length 3 in a complete code; one distance code.
        let mut lit = [0u8; 258];
        (lit[97], lit[256], lit[257]) = (1, 2, 2);
        let mut w = dynamic_header(&lit, &[1]);
        w.sym(&lit, 97).sym(&lit, 257).code(0, 1).sym(&lit, 256);
        assert_eq!(decode(&w.0).unwrap(), b"aaaa");
        // The unused half of the single distance code is invalid.
        let mut w = dynamic_header(&lit, &[1]);
        w.sym(&lit, 97).sym(&lit, 257).code(1, 1);
        assert_eq!(decode(&w.0).unwrap_err().0, "invalid distance code");
        let err = |lit: &[u8], dist: &[u8]| decode(&dynamic_header(lit, dist).0).unwrap_err().0;
        assert_eq!(err(&[1; 258], &[1]), "oversubscribed code");
        assert_eq!(err(&lit, &[2, 0]), "incomplete code");
        lit[97] = 2;
        assert_eq!(err(&lit, &[1]), "incomplete code");
        (lit[97], lit[256], lit[255]) = (1, 0, 2);
        assert_eq!(err(&lit, &[1]), "no end-of-block code");
        // A code-length code that is oversubscribed: three codes of length 1.
        let mut w = W::default();
        w.put(1, 1).put(2, 2).put(0, 14);
        w.put(1, 3).put(1, 3).put(1, 3).put(0, 3);
        assert_eq!(decode(&w.0).unwrap_err().0, "oversubscribed code");
    }

    #[test]
    fn codes_longer_than_the_primary_tables() {
        // Lengths 1, 2, ..., 15, 15: 'a', end of block, length 3, length 258, then 'b'..'m'
        // with codes of 5 to 15 bits; distances 1, 2, ..., 9, 9 bits for codes 0..=9.
        let mut lit = [0u8; 286];
        for (l, sym) in (1..).zip([97, 256, 257, 285].into_iter().chain(98..=109)) {
            lit[sym] = l.min(15);
        }
        let dist: Vec<u8> = (1..=9).chain([9]).collect();
        let mut w = dynamic_header(&lit, &dist);
        // 'm' (15 bits), 'a', 258 at distance 1 (one fused entry), 3 at distance 22 (code 8,
        // 9 bits, extra bits 5), 'l' (15 bits), end of block.
        w.sym(&lit, 109).sym(&lit, 97).sym(&lit, 285).sym(&dist, 0);
        w.sym(&lit, 257)
            .sym(&dist, 8)
            .put(5, 3)
            .sym(&lit, 108)
            .sym(&lit, 256);
        let mut toks = Vec::new();
        assert_eq!(tokens(&w.0, &mut toks), Ok(264));
        let [m, a, l] = [b'm', b'a', b'l'].map(Token::Literal);
        let (far, near) = (
            Token::Match { len: 3, dist: 22 },
            Token::Match { len: 258, dist: 1 },
        );
        assert_eq!(toks, [m, a, near, far, l]);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(raw in vec(any::<u8>(), 0..600)) {
            let _ = tokens(&raw, &mut Vec::new());
        }

        #[test]
        fn flipped_bits_never_panic(seed in 1..u64::MAX, flips in vec(any::<u32>(), 1..4)) {
            let mut raw = compress(&text(4000, seed), 6, FlushCompress::Sync);
            for f in flips {
                let len = raw.len();
                raw[f as usize / 8 % len] ^= 1 << (f % 8);
            }
            if let Ok(bytes) = decode(&raw) {
                prop_assert!(bytes.len() <= raw.len() * 8 * 258);
            }
        }

        #[test]
        fn round_trips_small_inputs(data in vec(0u8..4, 0..3000), level in 0u32..10) {
            prop_assert_eq!(decode(&compress(&data, level, FlushCompress::Sync)).unwrap(), data);
        }
    }
}
