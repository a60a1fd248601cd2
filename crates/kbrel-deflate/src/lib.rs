//! Raw deflate (RFC 1951) as LZ77 token streams: [`decode`] reads the tokens a compressor
//! chose, [`encode`] writes tokens as Huffman-coded blocks. kbrel's package uses them to
//! compress each document once although the tarball holds it twice (see `package::mirror`).
//!
//! The contract, tokens in, bytes out: [`encode::encode`] turns tokens that expand to
//! `data` into deflate blocks any inflater expands to exactly `data`, deterministically (same
//! tokens, same bytes: kbrel's releases rebuild byte for byte from them), and
//! [`decode::tokens`] reads any raw deflate stream back into tokens that expand to what the
//! stream inflates to, refusing malformed input without panicking. The tests hold both to
//! zlib; `fuzz/fuzz_targets/deflate_tokens.rs` fuzzes the round trip.

pub mod decode;
pub mod encode;

// RFC 1951's tables, for both directions.

/// Base match length of length codes 257..=285.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
/// Extra bits of length codes 257..=285.
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Base distance of distance codes 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
/// Extra bits of distance codes 0..=29.
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Order in which the code-length code's lengths are sent.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// One LZ77 symbol of a deflate stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One byte, as itself.
    Literal(u8),
    /// Copy `len` bytes (3..=258) from `dist` bytes back (1..=32768).
    Match { len: u16, dist: u16 },
}
