//! Raw deflate (RFC 1951) as LZ77 token streams: [`decode`] reads the tokens a compressor
//! chose, [`encode`] writes tokens as Huffman-coded blocks. The package uses them to compress
//! each document once although the tarball holds it twice (see `package`).

pub mod decode;
pub mod encode;

/// One LZ77 symbol of a deflate stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One byte, as itself.
    Literal(u8),
    /// Copy `len` bytes (3..=258) from `dist` bytes back (1..=32768).
    Match { len: u16, dist: u16 },
}
