//! Ranges and streamed bodies: which byte range of a file to send (RFC 9110), and files over
//! 64 MiB sent from disk in chunks, hashed as sent, the last chunk held back until they match.

use super::*;

/// A request's `Range` and `If-Range` headers (empty when absent).
pub(super) struct Ranges<'a> {
    pub(super) range: &'a str,
    pub(super) if_range: &'a str,
}

impl Ranges<'_> {
    /// The `Range` to honour for a representation whose ETag is `etag`: none when `If-Range`
    /// names another (RFC 9110 13.1.5: a strong comparison, so a weak ETag never matches, and
    /// a date never does either, since no `Last-Modified` is sent); the whole file is then sent.
    pub(super) fn wanted(&self, etag: Option<&str>) -> &str {
        let validator = self.if_range.trim();
        if validator.is_empty() || Some(validator) == etag && !validator.starts_with("W/") {
            self.range
        } else {
            ""
        }
    }
}

/// One `Range: bytes=…` over `len` bytes (RFC 9110 14.1.2: `a-b`, `a-`, `-n`), as the first
/// and last byte: `None` when there is none, or it is not a single well-formed range of bytes
/// (the whole file is then sent); `Some(Err(()))` when it is not satisfiable (416).
pub(super) fn byte_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let last = len.checked_sub(1);
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        match last {
            Some(last) if n > 0 => (len.saturating_sub(n), last),
            _ => return Some(Err(())),
        }
    } else {
        let start: u64 = a.parse().ok()?;
        let end = match b {
            "" => u64::MAX,
            b => b.parse::<u64>().ok().filter(|&e| e >= start)?,
        };
        match last {
            Some(last) if start <= last => (start, end.min(last)),
            _ => return Some(Err(())),
        }
    };
    Some(Ok((start, end)))
}

impl Streamed {
    /// The bytes this response sends: its range's, or the whole file's.
    pub(super) fn len(&self) -> u64 {
        self.range.map_or(self.size, |(start, end)| end - start + 1)
    }
}

pub(super) type FrameSender = tokio::sync::mpsc::Sender<std::io::Result<hyper::body::Frame<Bytes>>>;

/// The body of a streamed file: read on the blocking pool in [`STREAM_CHUNK`]s, at most two
/// chunks ahead of the client. The whole file is hashed as it is sent, and its last chunk is
/// sent only when the bytes match the file's sha256: a read error, a file cut short or other
/// bytes end the body with an error instead, which aborts the connection, so a client sees a
/// response shorter than its Content-Length, never a complete wrong one. A file sent whole and
/// matching is remembered as verified ([`Verified`]). A byte range is read from the file at its
/// offset when the file is verified and unchanged since; otherwise the whole file is hashed
/// first, and a mismatch ends the body before its first byte.
pub(super) fn stream_body(s: Streamed, log: Log) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        // `Err(None)`: the client went away, nobody to tell.
        if let Err(Some(p)) = send_streamed(s, &tx) {
            log(&format!("error: {p}; the response was cut short"));
            let _ = tx.blocking_send(Err(std::io::Error::other(p)));
        }
    });
    StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))).boxed()
}

/// Send `s` as [`stream_body`] says. `Err(Some(problem))` when the body must end in error,
/// `Err(None)` when the client went away.
pub(super) fn send_streamed(
    s: Streamed,
    tx: &FrameSender,
) -> std::result::Result<(), Option<String>> {
    use sha2::Digest;
    use std::io::{Seek, SeekFrom};
    let Streamed {
        mut file,
        size,
        sha256,
        rel,
        key,
        verified,
        range,
    } = s;
    let mismatch = || {
        Some(format!(
            "{rel} does not match its sha256 {sha256} (run `kbrel verify`)"
        ))
    };
    let remember = |ok: bool| {
        let mut v = verified.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            v.insert(rel.clone(), key);
        } else {
            v.remove(&rel);
        }
    };
    let send = |buf: Vec<u8>| {
        tx.blocking_send(Ok(hyper::body::Frame::data(Bytes::from(buf))))
            .map_err(|_| None)
    };
    let Some((start, end)) = range else {
        let mut hasher = sha2::Sha256::new();
        return read_chunks(&mut file, &rel, size, |buf, left| {
            hasher.update(&buf);
            if left == 0 {
                let matched = crate::hash::hex(&hasher.clone().finalize()) == sha256;
                remember(matched);
                if !matched {
                    return Err(mismatch());
                }
            }
            send(buf)
        });
    };
    let known = verified.lock().unwrap_or_else(|p| p.into_inner()).get(&rel) == Some(&key);
    if !known {
        let mut hasher = sha2::Sha256::new();
        read_chunks(&mut file, &rel, size, |buf, _| {
            hasher.update(&buf);
            Ok(())
        })?;
        let matched = crate::hash::hex(&hasher.finalize()) == sha256;
        remember(matched);
        if !matched {
            return Err(mismatch());
        }
    }
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Some(format!("cannot read {rel}: {e}")))?;
    read_chunks(&mut file, &rel, end - start + 1, |buf, _| send(buf))
}

/// Read `n` bytes of `file` from where it stands in [`STREAM_CHUNK`]s, each given to `each`
/// with the bytes left after it; a read error or an early end is the problem it names.
pub(super) fn read_chunks(
    file: &mut std::fs::File,
    rel: &str,
    n: u64,
    mut each: impl FnMut(Vec<u8>, u64) -> std::result::Result<(), Option<String>>,
) -> std::result::Result<(), Option<String>> {
    use std::io::Read;
    let mut left = n;
    while left > 0 {
        let mut buf = vec![0u8; STREAM_CHUNK.min(left) as usize];
        match file.read(&mut buf) {
            Ok(0) => return Err(Some(format!("{rel} ended {left} bytes early"))),
            Ok(got) => {
                buf.truncate(got);
                left -= got as u64;
                each(buf, left)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(format!("cannot read {rel}: {e}"))),
        }
    }
    Ok(())
}
