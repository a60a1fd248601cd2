//! Hex digests: the sha256 that addresses every blob and document.

use sha2::{Digest, Sha256};

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The sha256 and length of everything `reader` yields, read through a fixed 64 KiB buffer:
/// memory stays bounded whatever the size (a 2 GB video is hashed, never held).
pub fn sha256_reader(mut reader: impl std::io::Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.finalize()), len))
}

/// A reader that hashes what passes through it: a copy and its hash in one pass.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: std::io::Read> HashingReader<R> {
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The sha256 (lowercase hex) and length of the bytes read so far.
    pub fn finish(self) -> (String, u64) {
        (hex(&self.hasher.finalize()), self.len)
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_hashes_equal_whole_hashes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = sha256_hex(&data);
        assert_eq!(
            sha256_reader(&data[..]).unwrap(),
            (whole.clone(), data.len() as u64)
        );
        let mut r = HashingReader::new(&data[..]);
        let mut copy = Vec::new();
        std::io::copy(&mut r, &mut copy).unwrap();
        assert_eq!(copy, data);
        assert_eq!(r.finish(), (whole, data.len() as u64));
        assert_ne!(sha256_reader(&data[1..]).unwrap().0, sha256_hex(&data));
    }
}
