//! Writes LZ77 tokens as raw deflate (RFC 1951) blocks, choosing per block the smallest of
//! dynamic Huffman, fixed Huffman and stored, and closing with a sync flush so pieces
//! compressed independently can be concatenated (pigz-style).

use super::{CL_ORDER, DIST_BASE, DIST_EXTRA, LEN_BASE, LEN_EXTRA, Token};

/// Tokens per unit of block splitting. zlib ends a block every 16383 tokens (its symbol
/// buffer is full); merging units greedily adapts block length to the data instead.
const UNIT_TOKENS: usize = 2048;
/// Longest literal/length and distance code (RFC 1951).
const MAX_BITS: usize = 15;
/// Longest code-length code.
const MAX_BL_BITS: usize = 7;
/// Largest stored block payload.
const MAX_STORED: usize = 65535;

/// Length code (0..29) of match length `len - 3`.
const LEN_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 28 {
        let mut i = 0;
        while i < 1 << LEN_EXTRA[c] {
            t[LEN_BASE[c] as usize - 3 + i] = c as u8;
            i += 1;
        }
        c += 1;
    }
    t[255] = 28; // 258 has its own code although code 27's range reaches it
    t
};

/// Distance code of `dist - 1`, indexed as zlib does: `d` below 256, else `256 + (d >> 7)`
/// (codes from 16 up cover whole multiples of 128).
const DIST_CODE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut c = 0;
    while c < 30 {
        let mut i = 0;
        while i < 1 << DIST_EXTRA[c] {
            let d = DIST_BASE[c] as usize - 1 + i;
            t[if d < 256 { d } else { 256 + (d >> 7) }] = c as u8;
            i += 1;
        }
        c += 1;
    }
    t
};

#[inline(always)]
fn dist_code(d: usize) -> usize {
    DIST_CODE[if d < 256 { d } else { 256 + (d >> 7) }] as usize
}

/// A prefix code: bit-reversed canonical codes (deflate sends Huffman codes MSB first into an
/// LSB-first stream) and their lengths.
struct Tree<const N: usize> {
    code: [u16; N],
    len: [u8; N],
}

const fn canonical<const N: usize>(len: [u8; N]) -> Tree<N> {
    let mut count = [0u32; MAX_BITS + 1];
    let mut i = 0;
    while i < N {
        count[len[i] as usize] += 1;
        i += 1;
    }
    count[0] = 0;
    let mut next = [0u32; MAX_BITS + 1];
    let mut b = 1;
    while b <= MAX_BITS {
        next[b] = (next[b - 1] + count[b - 1]) << 1;
        b += 1;
    }
    let mut code = [0u16; N];
    i = 0;
    while i < N {
        let l = len[i] as usize;
        if l != 0 {
            code[i] = (next[l] as u16).reverse_bits() >> (16 - l);
            next[l] += 1;
        }
        i += 1;
    }
    Tree { code, len }
}

const FIXED_LIT: Tree<288> = canonical({
    let mut l = [8u8; 288];
    let mut i = 144;
    while i < 280 {
        l[i] = if i < 256 { 9 } else { 7 };
        i += 1;
    }
    l
});
const FIXED_DIST: Tree<30> = canonical([5; 30]);

/// LSB-first bit writer over a 64-bit buffer, flushed eight bytes at a time.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    buf: u64,
    n: u32,
}

impl Bits<'_> {
    /// Append the low `n` (< 64) bits of `v`; bits above `n` must be zero.
    #[inline(always)]
    fn put(&mut self, v: u64, n: u32) {
        debug_assert!(n < 64 && v >> n == 0);
        self.buf |= v << self.n;
        let total = self.n + n;
        if total >= 64 {
            self.out.extend_from_slice(&self.buf.to_le_bytes());
            // self.n >= 1 here because n < 64, so the shift is in range.
            self.buf = v >> (64 - self.n);
            self.n = total - 64;
        } else {
            self.n = total;
        }
    }

    /// Pad with zero bits to a byte boundary and flush everything to `out`.
    fn align(&mut self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.buf.to_le_bytes()[..bytes]);
        self.buf = 0;
        self.n = 0;
    }
}

/// Append `tokens`, which expand to exactly `data`, to `out` as raw deflate blocks (BFINAL=0)
/// closed by a sync flush (an empty stored block), so `out` ends byte aligned and the
/// piece can be followed by any other deflate blocks. Deterministic: same input, same bytes.
/// `data` is needed for stored blocks (used when they are smaller than Huffman coding).
pub fn encode(tokens: &[Token], data: &[u8], out: &mut Vec<u8>) {
    let mut w = Bits { out, buf: 0, n: 0 };
    let (mut start, mut pos) = (0, 0);
    let mut units = tokens.chunks(UNIT_TOKENS);
    if let Some(first) = units.next() {
        // Greedy block splitting: grow the block unit by unit while one block codes the
        // units in fewer bits than two would (statistics changed less than a header costs).
        let mut stats = Stats::of(first);
        let mut dynamic = Dynamic::of(&stats);
        let mut len = first.len();
        for unit in units {
            let us = Stats::of(unit);
            let ud = Dynamic::of(&us);
            let mut merged = stats.clone();
            merged.add(&us);
            let md = Dynamic::of(&merged);
            if md.bits <= dynamic.bits + ud.bits {
                (stats, dynamic) = (merged, md);
                len += unit.len();
            } else {
                write_block(
                    &mut w,
                    &tokens[start..start + len],
                    &data[pos..],
                    &stats,
                    &dynamic,
                );
                (start, pos) = (start + len, pos + stats.bytes);
                (stats, dynamic, len) = (us, ud, unit.len());
            }
        }
        write_block(&mut w, &tokens[start..], &data[pos..], &stats, &dynamic);
        pos += stats.bytes;
    }
    debug_assert_eq!(pos, data.len(), "tokens do not expand to data");
    w.put(0, 3); // sync flush: empty stored block, BFINAL=0
    w.align();
    w.out.extend_from_slice(&[0, 0, 0xff, 0xff]);
}

/// Symbol counts of a run of tokens (end-of-block excluded) and the bytes they cover.
#[derive(Clone)]
struct Stats {
    lit: [u32; 288],
    dist: [u32; 30],
    bytes: usize,
}

impl Stats {
    fn of(toks: &[Token]) -> Stats {
        let mut s = Stats {
            lit: [0; 288],
            dist: [0; 30],
            bytes: 0,
        };
        for &t in toks {
            match t {
                Token::Literal(b) => {
                    s.lit[b as usize] += 1;
                    s.bytes += 1;
                }
                Token::Match { len, dist } => {
                    debug_assert!((3..=258).contains(&len) && (1..=32768).contains(&dist));
                    let lc = LEN_CODE[len as usize - 3] as usize;
                    let dc = dist_code(dist as usize - 1);
                    s.lit[257 + lc] += 1;
                    s.dist[dc] += 1;
                    s.bytes += len as usize;
                }
            }
        }
        s
    }

    fn add(&mut self, o: &Stats) {
        self.lit.iter_mut().zip(&o.lit).for_each(|(a, b)| *a += b);
        self.dist.iter_mut().zip(&o.dist).for_each(|(a, b)| *a += b);
        self.bytes += o.bytes;
    }

    /// Extra bits of the lengths and distances: the same for every block type.
    fn extra(&self) -> u64 {
        let len_extra: u64 = dot(&self.lit[257..286], &LEN_EXTRA);
        len_extra + dot(&self.dist, &DIST_EXTRA)
    }
}

fn dot(f: &[u32], l: &[u8]) -> u64 {
    f.iter()
        .zip(l)
        .map(|(&f, &l)| u64::from(f) * u64::from(l))
        .sum()
}

/// A dynamic block's code lengths, run-length coded header and exact size in bits (codes
/// are made only for blocks actually written).
struct Dynamic {
    lit: [u8; 288],
    dist: [u8; 30],
    bl: [u8; 19],
    rle: Vec<(u8, u8)>,
    hlit: usize,
    hdist: usize,
    hclen: usize,
    bits: u64,
}

impl Dynamic {
    fn of(s: &Stats) -> Dynamic {
        let mut lit_f = s.lit;
        lit_f[256] = 1;
        let lit = limited_lengths(&lit_f, MAX_BITS);
        let dist = limited_lengths(&s.dist, MAX_BITS);
        let hlit = 1 + lit.iter().rposition(|&l| l != 0).unwrap_or(256);
        let hdist = 1 + dist.iter().rposition(|&l| l != 0).unwrap_or(0);
        let mut rle = Vec::with_capacity(hlit + hdist);
        run_lengths(&lit[..hlit], &mut rle);
        run_lengths(&dist[..hdist], &mut rle);
        let mut bl_f = [0u32; 19];
        for &(s, _) in &rle {
            bl_f[s as usize] += 1;
        }
        let bl = limited_lengths(&bl_f, MAX_BL_BITS);
        let hclen = 4.max(1 + CL_ORDER.iter().rposition(|&s| bl[s] != 0).unwrap_or(0));
        let bits = 3 + 14 + 3 * hclen as u64 + dot(&bl_f, &bl) + dot(&bl_f[16..], &[2, 3, 7]);
        let bits = bits + dot(&lit_f, &lit) + dot(&s.dist, &dist) + s.extra();
        Dynamic {
            lit,
            dist,
            bl,
            rle,
            hlit,
            hdist,
            hclen,
            bits,
        }
    }
}

/// Write `toks` (non-empty, with statistics `s`), whose bytes start `data`, as the smallest
/// of a dynamic, fixed or stored block.
fn write_block(w: &mut Bits, toks: &[Token], data: &[u8], s: &Stats, d: &Dynamic) {
    let fixed = 3 + dot(&s.lit, &FIXED_LIT.len) + 7 + dot(&s.dist, &FIXED_DIST.len) + s.extra();
    // Stored: the first header pads from the current bit position, later ones from a byte
    // boundary (3 header bits + 5 pad); each adds LEN and NLEN.
    let pieces = s.bytes.div_ceil(MAX_STORED) as u64;
    let pad = u64::from((8 - (w.n + 3) % 8) % 8);
    let stored = 3 + pad + (pieces - 1) * 8 + pieces * 32 + 8 * s.bytes as u64;

    if stored < d.bits.min(fixed) {
        for piece in data[..s.bytes].chunks(MAX_STORED) {
            w.put(0, 3);
            w.align();
            let n = piece.len() as u16;
            w.out.extend_from_slice(&n.to_le_bytes());
            w.out.extend_from_slice(&(!n).to_le_bytes());
            w.out.extend_from_slice(piece);
        }
    } else if fixed <= d.bits {
        w.put(0b010, 3);
        write_tokens(w, toks, &FIXED_LIT, &FIXED_DIST);
    } else {
        w.put(0b100, 3);
        w.put((d.hlit - 257) as u64, 5);
        w.put((d.hdist - 1) as u64, 5);
        w.put((d.hclen - 4) as u64, 4);
        for &s in &CL_ORDER[..d.hclen] {
            w.put(u64::from(d.bl[s]), 3);
        }
        let bl = canonical(d.bl);
        for &(s, x) in &d.rle {
            let (s, n) = (s as usize, u32::from(bl.len[s as usize]));
            let xbits = [2, 3, 7].get(s.wrapping_sub(16)).copied().unwrap_or(0);
            w.put(u64::from(bl.code[s]) | u64::from(x) << n, n + xbits);
        }
        write_tokens(w, toks, &canonical(d.lit), &canonical(d.dist));
    }
}

/// Emit `toks` and the end-of-block code; one `put` per token (at most 15+5+15+13 bits).
fn write_tokens(w: &mut Bits, toks: &[Token], lit: &Tree<288>, dist: &Tree<30>) {
    for &t in toks {
        match t {
            Token::Literal(b) => {
                w.put(
                    u64::from(lit.code[b as usize]),
                    u32::from(lit.len[b as usize]),
                );
            }
            Token::Match { len, dist: d } => {
                let lc = LEN_CODE[len as usize - 3] as usize;
                let (ln, lx) = (u32::from(lit.len[257 + lc]), u32::from(LEN_EXTRA[lc]));
                let mut v = u64::from(lit.code[257 + lc]) | u64::from(len - LEN_BASE[lc]) << ln;
                let mut n = ln + lx;
                let d = d as usize - 1;
                let dc = dist_code(d);
                let dn = u32::from(dist.len[dc]);
                v |= (u64::from(dist.code[dc]) | ((d + 1 - DIST_BASE[dc] as usize) as u64) << dn)
                    << n;
                n += dn + u32::from(DIST_EXTRA[dc]);
                w.put(v, n);
            }
        }
    }
    w.put(u64::from(lit.code[256]), u32::from(lit.len[256]));
}

/// Run-length code a code-length sequence with symbols 16 (repeat previous 3..6 times),
/// 17 (3..10 zeros) and 18 (11..138 zeros), as zlib's `scan_tree`/`send_tree` do; pushes
/// (symbol, extra-bits value).
fn run_lengths(lens: &[u8], out: &mut Vec<(u8, u8)>) {
    let mut i = 0;
    while i < lens.len() {
        let cur = lens[i];
        let mut run = lens[i..].iter().take_while(|&&l| l == cur).count();
        i += run;
        if cur == 0 {
            while run >= 11 {
                let r = run.min(138);
                out.push((18, (r - 11) as u8));
                run -= r;
            }
            if run >= 3 {
                out.push((17, (run - 3) as u8));
                run = 0;
            }
        } else {
            out.push((cur, 0));
            run -= 1;
            while run >= 3 {
                let r = run.min(6);
                out.push((16, (r - 3) as u8));
                run -= r;
            }
        }
        out.extend(std::iter::repeat_n((cur, 0), run));
    }
}

/// Optimal code lengths of at most `limit` bits for `freqs`. Like zlib, at least two symbols
/// get a code (unused ones with the lowest indices are added) so every tree is complete,
/// which all decoders accept.
fn limited_lengths<const N: usize>(freqs: &[u32; N], limit: usize) -> [u8; N] {
    let mut lens = [0u8; N];
    // Sort keys: frequency, then symbol (< 512) for determinism.
    let mut keys: Vec<u64> = (freqs.iter().enumerate())
        .filter(|(_, f)| **f > 0)
        .map(|(s, &f)| u64::from(f) << 9 | s as u64)
        .collect();
    if keys.len() < 2 {
        let mut unused = (0..N).filter(|&s| freqs[s] == 0);
        while keys.len() < 2 {
            keys.push(unused.next().unwrap_or(0) as u64);
        }
        keys.iter().for_each(|&k| lens[k as usize & 511] = 1);
        return lens;
    }
    keys.sort_unstable();
    let w: Vec<u64> = keys.iter().map(|k| k >> 9).collect();
    // Plain Huffman is optimal whenever it fits the limit, as it usually does, and is cheaper.
    let mut depth = huffman(&w);
    if depth.iter().any(|&d| usize::from(d) > limit) {
        depth = package_merge(&w, limit);
    }
    keys.iter()
        .zip(depth)
        .for_each(|(&k, d)| lens[k as usize & 511] = d);
    lens
}

/// Huffman code lengths of `w` (sorted ascending, at least 2 weights), by two queues: leaves
/// at 0..n, a sentinel at n, merged nodes from n+1 on, made in increasing weight (unmade
/// ones read as the sentinel). Depths fit in u8 since depth d needs a total weight of at
/// least Fibonacci(d), and weights are u32.
fn huffman(w: &[u64]) -> Vec<u8> {
    let n = w.len();
    let (mut weight, mut parent) = (vec![u64::MAX; 2 * n], vec![0; 2 * n]);
    weight[..n].copy_from_slice(w);
    let (mut leaf, mut node) = (0, n + 1);
    for new in n + 1..2 * n {
        let mut sum = 0;
        for _ in 0..2 {
            // Branch-free: the choice is data dependent.
            let take_leaf = weight[leaf] <= weight[node];
            let child = if take_leaf { leaf } else { node };
            (leaf, node) = (
                leaf + usize::from(take_leaf),
                node + usize::from(!take_leaf),
            );
            parent[child] = new;
            sum += weight[child];
        }
        weight[new] = sum;
    }
    let mut depth = vec![0u8; 2 * n];
    for i in (0..2 * n - 1).rev() {
        depth[i] = depth[parent[i]] + 1; // (meaningless for the sentinel)
    }
    depth.truncate(n);
    depth
}

/// Optimal lengths of at most `limit` bits for `w` (sorted ascending, 2..=2^limit weights)
/// by package-merge. List 0 is the deepest (the leaves); each shallower list merges the
/// leaves with pairs of the list below. Only the first 2n-2 items of a list can be selected.
fn package_merge(w: &[u64], limit: usize) -> Vec<u8> {
    let (n, keep) = (w.len(), 2 * w.len() - 2);
    // Sentinels keep the merge branch-free: past the leaves, u64::MAX; past the packages,
    // pairs summing to at least u64::MAX / 2 (real sums stay far below).
    let leaves: Vec<u64> = w.iter().copied().chain([u64::MAX]).collect();
    let (mut prev, mut cur) = (vec![u64::MAX / 2; keep + 2], vec![u64::MAX / 2; keep + 2]);
    prev[..n].copy_from_slice(w);
    let mut prev_len = n;
    let mut is_pkg = vec![false; keep * limit];
    for flags in is_pkg.chunks_mut(keep).skip(1) {
        let len = (n + prev_len / 2).min(keep);
        let (mut i, mut j) = (0, 0);
        for (k, flag) in flags[..len].iter_mut().enumerate() {
            let pkg = prev[2 * j] + prev[2 * j + 1];
            *flag = pkg < leaves[i];
            cur[k] = if *flag { pkg } else { leaves[i] };
            (i, j) = (i + usize::from(!*flag), j + usize::from(*flag));
        }
        cur[len..].fill(u64::MAX / 2);
        std::mem::swap(&mut prev, &mut cur);
        prev_len = len;
    }
    // Walk back down: the packages among the selected items of a list select twice as many
    // items of the list below; each selected leaf adds one bit to its symbol's length.
    let (mut lens, mut k) = (vec![0u8; n], keep);
    for flags in is_pkg.chunks(keep).rev() {
        let pk = flags[..k].iter().filter(|&&p| p).count();
        lens[..k - pk].iter_mut().for_each(|l| *l += 1);
        k = 2 * pk;
    }
    lens
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes the tokens expand to, appended to `out`.
    fn expand(tokens: &[Token], mut out: Vec<u8>) -> Vec<u8> {
        for &t in tokens {
            match t {
                Token::Literal(b) => out.push(b),
                Token::Match { len, dist } => {
                    (0..len).for_each(|_| out.push(out[out.len() - dist as usize]));
                }
            }
        }
        out
    }

    /// Append the final empty fixed block and inflate, requiring every byte to be consumed
    /// (so no earlier block had BFINAL set).
    fn inflate(mut deflated: Vec<u8>, size: usize) -> Vec<u8> {
        deflated.extend_from_slice(&[0x03, 0x00]);
        let mut d = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(size + 16);
        let st = d.decompress_vec(&deflated, &mut out, flate2::FlushDecompress::Finish);
        assert_eq!(st.unwrap(), flate2::Status::StreamEnd);
        assert_eq!(d.total_in() as usize, deflated.len());
        out
    }

    fn round_trip(tokens: &[Token]) -> Vec<u8> {
        let data = expand(tokens, Vec::new());
        let mut out = Vec::new();
        encode(tokens, &data, &mut out);
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        assert_eq!(out[0] & 1, 0, "BFINAL must be 0");
        assert_eq!(inflate(out.clone(), data.len()), data);
        out
    }

    fn lcg(seed: &mut u64) -> u32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (*seed >> 33) as u32
    }

    fn noise(n: usize, mut seed: u64) -> Vec<Token> {
        (0..n)
            .map(|_| Token::Literal(lcg(&mut seed) as u8))
            .collect()
    }

    /// Text-like bytes: words drawn with a skewed distribution, some numbers and newlines.
    fn text(size: usize) -> Vec<u8> {
        let words: Vec<_> = "the of and to in is that for it as with was on be by this are \
            or from package version release tarball registry deflate block huffman token \
            stream match literal distance length window encoder decoder buffer chunk member"
            .split_whitespace()
            .collect();
        let (mut seed, mut out) = (7, Vec::with_capacity(size));
        while out.len() < size {
            let r = lcg(&mut seed) as usize;
            let n = words.len();
            out.extend_from_slice(words[(r % n) * (r / n % n) / n].as_bytes());
            out.push(if r.is_multiple_of(13) { b'\n' } else { b' ' });
            if r.is_multiple_of(29) {
                out.extend_from_slice(format!("{} ", r % 100_000).as_bytes());
            }
        }
        out.truncate(size);
        out
    }

    /// LZ77 with hash chains (128 deep) and one step of lazy evaluation.
    fn lz77(data: &[u8]) -> Vec<Token> {
        let (mut head, mut prev) = (vec![usize::MAX; 1 << 15], vec![usize::MAX; data.len()]);
        let mut done = 0;
        // Chain every position below `end` that is not chained yet.
        let mut chain_to = |end: usize, prev: &mut [usize]| {
            for j in done..end.min(data.len().saturating_sub(2)) {
                let h = usize::from(data[j]) << 10 ^ usize::from(data[j + 1]) << 5;
                let h = (h ^ usize::from(data[j + 2])) & 0x7fff;
                (prev[j], head[h]) = (head[h], j);
            }
            done = done.max(end);
        };
        let longest = |i: usize, prev: &[usize]| {
            let (mut best, mut cand, mut chain) = ((0, 0), prev[i], 128);
            while cand != usize::MAX && i - cand <= 32768 && chain > 0 {
                let l = data[cand..].iter().zip(&data[i..]).take(258);
                let l = l.take_while(|(a, b)| a == b).count();
                if l > best.0 {
                    best = (l, i - cand);
                }
                (cand, chain) = (prev[cand], chain - 1);
            }
            best
        };
        let (mut toks, mut i) = (Vec::new(), 0);
        while i < data.len() {
            chain_to(i + 2, &mut prev);
            let (len, dist) = longest(i, &prev);
            if len >= 3 && (i + 1 == data.len() || longest(i + 1, &prev).0 <= len) {
                toks.push(Token::Match {
                    len: len as u16,
                    dist: dist as u16,
                });
                i += len;
            } else {
                toks.push(Token::Literal(data[i]));
                i += 1;
            }
        }
        toks
    }

    #[test]
    fn edge_cases_round_trip() {
        assert_eq!(round_trip(&[]), [0, 0, 0, 0xff, 0xff]);
        round_trip(&[Token::Literal(b'x')]);
        round_trip(&(0..=255).map(Token::Literal).collect::<Vec<_>>());
        let mut run = vec![Token::Literal(b'a')];
        run.extend([Token::Match { len: 258, dist: 1 }; 20_000]);
        round_trip(&run);
        let mut far = noise(32768, 1);
        far.extend([258, 3].map(|len| Token::Match { len, dist: 32768 }));
        round_trip(&far);
    }

    #[test]
    fn random_literals_are_stored() {
        let toks = noise(200_000, 3);
        let out = round_trip(&toks);
        assert_eq!(out[0] & 0b110, 0, "first block should be stored");
        assert!(out.len() < toks.len() + 100, "{}", out.len());
    }

    #[test]
    fn text_compresses_close_to_zlib_and_entropy() {
        use std::io::Write;
        let data = text(400_000);
        let toks = lz77(&data);
        assert_eq!(expand(&toks, Vec::new()), data);
        let mut out = Vec::new();
        encode(&toks, &data, &mut out);
        assert_eq!(inflate(out.clone(), data.len()), data);
        // Huffman coding vs the entropy of the same symbols, over zlib-sized blocks: the
        // dynamic size (header included) must stay close to the bound (header excluded).
        let (mut dynamic, mut bound) = (0, 0.0);
        for block in toks.chunks(16383) {
            let s = Stats::of(block);
            dynamic += Dynamic::of(&s).bits;
            let h = |f: &[u32]| {
                let t: f64 = f.iter().map(|&x| f64::from(x)).sum();
                let f = f.iter().filter(|&&x| x > 0).map(|&x| f64::from(x));
                f.map(|x| x * (t / x).log2()).sum::<f64>()
            };
            let mut lit = s.lit;
            lit[256] = 1;
            bound += h(&lit) + h(&s.dist) + s.extra() as f64;
        }
        let (dynamic, bound) = (dynamic as f64 / 8.0, bound / 8.0);
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        z.write_all(&data).unwrap();
        let zlib = z.finish().unwrap().len();
        let (ours, ratio) = (out.len(), out.len() as f64 / zlib as f64);
        println!(
            "{} bytes, {} tokens: ours {ours}, zlib-6 {zlib} ({ratio:.4}); 16383-token blocks: \
             dynamic {dynamic:.0}, entropy {bound:.0} ({:.4})",
            data.len(),
            toks.len(),
            dynamic / bound
        );
        assert!(dynamic < bound * 1.02 + 200.0);
        // Adaptive blocks do no worse here than zlib's fixed 16383-token split.
        assert!((ours as f64) < dynamic + 100.0);
        // The rest of the gap is this test's simpler LZ77 parse.
        assert!(ratio < 1.10);
    }

    /// Text, noise, text: blocks must split where the statistics change, the noise stored.
    #[test]
    fn mixed_content_splits_blocks() {
        let (text1, text2) = (text(150_000), text(60_000));
        let noise = expand(&noise(100_000, 9), Vec::new());
        let data = [&text1[..], &noise, &text2].concat();
        let toks = lz77(&data);
        let alone = |d: &[u8]| {
            let mut out = Vec::new();
            encode(&lz77(d), d, &mut out);
            out.len()
        };
        let out = round_trip(&toks);
        // Units of UNIT_TOKENS straddling the changes cost a little; one block would cost
        // several percent (noise in Huffman codes, text coded with noise-diluted codes).
        let separate = alone(&text1) + noise.len() + alone(&text2);
        assert!(
            out.len() * 100 < separate * 101,
            "{} vs {separate}",
            out.len()
        );
    }

    #[test]
    fn pieces_concatenate() {
        let all = text(100_000);
        let toks = lz77(&all);
        let (t1, t2) = toks.split_at(toks.len() / 2);
        let d1 = expand(t1, Vec::new());
        let d2 = &all[d1.len()..];
        let mut pos = 0;
        let reaches_back = t2.iter().any(|&t| {
            let (n, back) = match t {
                Token::Literal(_) => (1, false),
                Token::Match { len, dist } => (usize::from(len), usize::from(dist) > pos),
            };
            pos += n;
            back
        });
        assert!(reaches_back, "the second piece should copy from the first");
        let mut out = Vec::new();
        encode(t1, &d1, &mut out);
        encode(t2, d2, &mut out);
        assert_eq!(inflate(out, all.len()), all);
    }

    #[test]
    fn deterministic() {
        let data = text(50_000);
        let toks = lz77(&data);
        let (mut a, mut b) = (Vec::new(), vec![9]);
        encode(&toks, &data, &mut a);
        encode(&toks, &data, &mut b);
        assert_eq!(a, b[1..]);
    }

    #[test]
    fn fibonacci_frequencies_need_length_limit() {
        // Frequencies 1, 2, 3, 5, 8, ... (and 1 for end-of-block) make Huffman a chain.
        let (mut fib, mut toks) = ((1, 2), Vec::new());
        for sym in 0..20 {
            toks.extend(std::iter::repeat_n(Token::Literal(sym), fib.0));
            fib = (fib.1, fib.0 + fib.1);
        }
        let data = expand(&toks, Vec::new());
        let s = Stats::of(&toks);
        let mut wts = vec![1]; // end-of-block
        wts.extend(s.lit.iter().filter(|&&f| f > 0).map(|&f| u64::from(f)));
        wts.sort();
        assert!(huffman(&wts).iter().any(|&d| d > 15));
        let d = Dynamic::of(&s);
        assert_eq!(d.lit.iter().max(), Some(&15));
        // One block with the limited tree, then the round trip through block splitting.
        let mut out = Vec::new();
        let mut w = Bits {
            out: &mut out,
            buf: 0,
            n: 0,
        };
        write_block(&mut w, &toks, &data, &s, &d);
        w.align();
        assert_eq!(out[0] & 0b111, 0b100, "expected a dynamic block");
        assert_eq!(inflate(out, data.len()), data);
        round_trip(&toks);
    }

    /// Package-merge matches a brute-force search when the limit binds, and Huffman when it
    /// does not; both give complete codes.
    #[test]
    fn lengths_are_optimal() {
        let mut seed = 5;
        for round in 0..300u32 {
            let n = 2 + round as usize % 7;
            let mut w: Vec<_> = (0..n)
                .map(|_| 1 + u64::from(lcg(&mut seed) % 1000))
                .collect();
            w.sort();
            let cost = |l: &[u8]| {
                w.iter()
                    .zip(l)
                    .map(|(&w, &l)| w * u64::from(l))
                    .sum::<u64>()
            };
            let kraft = |l: &[u8]| l.iter().map(|&l| 1.0 / f64::from(1 << l)).sum::<f64>();
            let best = (0..3usize.pow(n as u32))
                .map(|mut c| {
                    (0..n)
                        .map(|_| (1 + c % 3, c /= 3).0 as u8)
                        .collect::<Vec<_>>()
                })
                .filter(|l| kraft(l) <= 1.0)
                .map(|l| cost(&l))
                .min();
            let pm = package_merge(&w, 3);
            assert_eq!(Some(cost(&pm[..n])), best);
            assert_eq!(kraft(&pm[..n]), 1.0);
            let (pm, h) = (package_merge(&w, 15), huffman(&w));
            assert_eq!(cost(&pm[..n]), cost(&h[..n]));
            assert_eq!((kraft(&pm[..n]), kraft(&h[..n])), (1.0, 1.0));
        }
        assert_eq!(limited_lengths(&[0u32; 19], 7)[..3], [1, 1, 0]);
        assert_eq!(limited_lengths(&[0, 0, 5, 0], 7), [1, 0, 1, 0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_token_streams_round_trip(
            ops in prop::collection::vec((any::<bool>(), any::<u8>(), 3u16..=258, any::<u16>()), 0..6000),
        ) {
            let mut produced = 0usize;
            let toks: Vec<_> = ops.iter().map(|&(m, b, len, d)| {
                let t = if m && produced > 0 {
                    Token::Match { len, dist: 1 + (usize::from(d) % produced.min(32768)) as u16 }
                } else {
                    Token::Literal(b)
                };
                produced += if let Token::Match { len, .. } = t { len as usize } else { 1 };
                t
            }).collect();
            round_trip(&toks);
        }
    }
}
