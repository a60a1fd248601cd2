//! Reading back the tarball a publish wrote, without inflating it serially a second time.
//!
//! What is proven before the index may point at a tarball, in three parts that together say
//! "the file decompresses to an archive holding exactly what was meant":
//!
//! 1. **Each compressed chunk decompresses to its input.** The thread that compressed a chunk
//!    inflates it at once, on its own (a fresh window: no reference reaches before it), and
//!    compares the result with the chunk's input; a chunk that is not a sync-flushed run of
//!    non-final blocks (the next chunk could not follow it in one stream) fails too
//!    ([`inflates_to`]). The emitter refuses to write a chunk that failed. This runs in
//!    parallel, overlapped with the compression of the other chunks.
//! 2. **The file holds the bytes emitted.** The chunks tile the archive in order
//!    ([`Written::check`] checks the tiling), the emitter keeps the CRC-32 and length of every
//!    byte it wrote, and the staged file is read again and compared with them.
//! 3. **The archive holds what was meant.** The archive those chunks compress (kept as the
//!    segments it was cut from: headers, document texts, bundle bodies; assets as the sha256
//!    of the bytes streamed from their files) is walked with the reader every command uses
//!    (the same entry checks as [`super::for_each_entry`]: names, types, sizes, duplicates,
//!    limits), skipping the bundles' bytes; its entry names, order and total size must be
//!    those built, `package.json` and `manifest.json` byte for byte, and each document and
//!    asset the manifest lists must be there with its sha256 (documents hashed in parallel).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use rayon::prelude::*;

use super::{Package, Segment, UnpackLimits};
use crate::error::{Error, PackageError};

/// The empty final block (fixed Huffman codes, end of block at once): appended to a chunk
/// that must end on a block boundary, it ends the stream there and nowhere else.
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// The error a chunk that does not read back becomes: nothing is written after it.
pub(super) fn refused(detail: &str) -> Error {
    PackageError::ChunkReadBack {
        detail: detail.to_string(),
    }
    .into()
}

/// Check that `compressed`, read as raw deflate on its own (a fresh window), decompresses to
/// exactly `expected`, all of it consumed. Unless `last`, it must hold no final block and end
/// on a block boundary (checked by appending an empty final block, which must end the stream
/// without a byte more); with `last`, it must end with the final block.
pub(super) fn inflates_to(compressed: &[u8], expected: &[u8], last: bool) -> Result<(), String> {
    thread_local! {
        static INFLATE: RefCell<Option<(flate2::Decompress, Vec<u8>)>> =
            const { RefCell::new(None) };
    }
    INFLATE.with_borrow_mut(|slot| {
        let (d, out) = slot.get_or_insert_with(|| (flate2::Decompress::new(false), Vec::new()));
        d.reset(false);
        out.clear();
        out.reserve(expected.len() + 1);
        let limit = expected.len();
        let ended = feed(d, compressed, out, limit)?;
        match (ended, last) {
            (true, false) => return Err("it holds a final block before the end".into()),
            (false, true) => return Err("it does not end the stream".into()),
            (false, false) => {
                let before = out.len();
                if !feed(d, &FINAL_EMPTY_BLOCK, out, limit)? || out.len() != before {
                    return Err("it does not end on a block boundary".into());
                }
            }
            (true, true) => {}
        }
        if out.as_slice() != expected {
            let at = out
                .iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .unwrap_or(out.len().min(expected.len()));
            return Err(format!(
                "it decompresses to {} bytes where {} were compressed, differing from byte {at}",
                out.len(),
                expected.len()
            ));
        }
        Ok(())
    })
}

/// Feed all of `input` to `d`; true when the stream ended exactly at its end. More output
/// than `limit` bytes, trailing input after the end or invalid data are errors.
fn feed(
    d: &mut flate2::Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, String> {
    let mut at = 0;
    loop {
        if out.capacity() - out.len() < 32 * 1024 {
            out.reserve(256 * 1024);
        }
        let (in0, out0) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(&input[at..], out, flate2::FlushDecompress::None)
            .map_err(|e| format!("it is not valid deflate data ({e})"))?;
        at += (d.total_in() - in0) as usize;
        if out.len() > limit {
            return Err(format!(
                "it decompresses to more than the {limit} bytes compressed"
            ));
        }
        if status == flate2::Status::StreamEnd {
            return if at == input.len() {
                Ok(true)
            } else {
                Err("bytes follow the end of its stream".into())
            };
        }
        if d.total_in() == in0 && d.total_out() == out0 {
            return if at == input.len() {
                Ok(false)
            } else {
                Err("the decompressor stopped before its end".into())
            };
        }
    }
}

/// An asset entry as the emitter wrote it: its header, and the size and sha256 of the bytes
/// streamed from its file (emitted as they were hashed).
pub(super) struct AssetWritten {
    pub(super) header: Vec<u8>,
    pub(super) size: u64,
    pub(super) sha256: String,
}

/// What [`super::Started::finish`] wrote, for [`Written::check`]: the archive as the segments
/// its chunks were compressed from (each chunk checked by [`inflates_to`] as it was
/// compressed), the chunks' ranges, and the CRC-32 and length of the `.tgz` bytes emitted.
pub struct Written<'a> {
    /// The release's entries and the first bundle's header: owned copies, the large ones
    /// (`manifest.json`) as their length and sha256.
    pub(super) head: Vec<Piece<'a>>,
    pub(super) head_total: usize,
    /// Everything after them up to the assets (the workers' stream).
    pub(super) body: Arc<super::Plan<'a>>,
    /// `(start, len)` of the chunks of `head`, then of `body`, in emitted order.
    pub(super) head_jobs: Vec<(usize, usize)>,
    /// The asset entries, then the archive's end (1024 zero bytes), when there are assets.
    pub(super) assets: Vec<AssetWritten>,
    pub(super) crc32: u32,
    pub(super) size: u64,
}

/// A piece of the release's entries as [`Written`] keeps it.
pub(super) enum Piece<'a> {
    Seg(Segment<'a>),
    /// Bytes not kept: their length and sha256.
    Hashed(usize, String),
}

impl Piece<'_> {
    /// `seg` kept: copied, or hashed when larger than `limit`; `None` for a bundle body.
    pub(super) fn of(seg: &Segment<'_>, limit: usize) -> Option<Piece<'static>> {
        let bytes: &[u8] = match seg {
            Segment::Bytes(v) => v,
            Segment::Slice(b) => b,
            Segment::Shared(_) => return None,
        };
        Some(if bytes.len() > limit {
            Piece::Hashed(bytes.len(), crate::hash::sha256_hex(bytes))
        } else {
            Piece::Seg(Segment::Bytes(bytes.to_vec()))
        })
    }
}

/// One piece of the archive, for reading it back.
enum Src<'v, 'a> {
    Seg(&'v Segment<'a>),
    Bytes(&'v [u8]),
    Zeros(usize),
    /// Bytes not held (an asset's contents, `manifest.json`): their length and sha256.
    Hashed(usize, &'v str),
}

impl Src<'_, '_> {
    fn len(&self) -> usize {
        match self {
            Src::Seg(s) => s.len(),
            Src::Bytes(b) => b.len(),
            Src::Zeros(n) | Src::Hashed(n, _) => *n,
        }
    }
}

/// The whole archive of a [`Written`], random access by offset.
struct View<'v, 'a> {
    pieces: Vec<(usize, Src<'v, 'a>)>,
    total: usize,
}

impl<'v, 'a> View<'v, 'a> {
    fn new(w: &'v Written<'a>) -> View<'v, 'a> {
        let mut view = View {
            pieces: Vec::new(),
            total: 0,
        };
        for piece in &w.head {
            view.push(match piece {
                Piece::Seg(seg) => Src::Seg(seg),
                Piece::Hashed(n, sha) => Src::Hashed(*n, sha),
            });
        }
        for seg in &w.body.tar.segments {
            view.push(Src::Seg(seg));
        }
        for a in &w.assets {
            view.push(Src::Bytes(&a.header));
            view.push(Src::Hashed(a.size as usize, &a.sha256));
            view.push(Src::Zeros(((512 - a.size % 512) % 512) as usize));
        }
        if !w.assets.is_empty() {
            view.push(Src::Zeros(1024));
        }
        view
    }

    fn push(&mut self, src: Src<'v, 'a>) {
        let n = src.len();
        if n > 0 {
            self.pieces.push((self.total, src));
            self.total += n;
        }
    }

    /// The piece holding byte `pos` (< total).
    fn piece_at(&self, pos: usize) -> usize {
        self.pieces.partition_point(|(start, _)| *start <= pos) - 1
    }

    /// Bytes `[pos, pos+len)` (borrowed when one piece holds them); `None` where an asset's
    /// contents would be needed.
    fn bytes(&self, pos: usize, len: usize) -> Option<Cow<'v, [u8]>> {
        if len == 0 {
            return Some(Cow::Borrowed(&[]));
        }
        let end = pos.checked_add(len).filter(|&e| e <= self.total)?;
        let first = self.piece_at(pos);
        let (start, src) = &self.pieces[first];
        if end <= start + src.len() {
            let (from, to) = (pos - start, end - start);
            match src {
                Src::Seg(Segment::Bytes(v)) => return Some(Cow::Borrowed(&v[from..to])),
                Src::Seg(Segment::Slice(b)) => return Some(Cow::Borrowed(&b[from..to])),
                Src::Bytes(b) => return Some(Cow::Borrowed(&b[from..to])),
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(len);
        for (start, src) in &self.pieces[first..] {
            if *start >= end {
                break;
            }
            let n = src.len();
            let (from, to) = (pos.max(*start) - start, end.min(start + n) - start);
            match src {
                Src::Seg(Segment::Bytes(v)) => out.extend_from_slice(&v[from..to]),
                Src::Seg(Segment::Slice(b)) => out.extend_from_slice(&b[from..to]),
                Src::Seg(Segment::Shared(body)) => body.copy_range(from, to, &mut out),
                Src::Bytes(b) => out.extend_from_slice(&b[from..to]),
                Src::Zeros(_) => out.resize(out.len() + (to - from), 0),
                Src::Hashed(..) => return None,
            }
        }
        Some(Cow::Owned(out))
    }
}

/// [`View`] as a file for the tar reader (which seeks over the contents it does not read).
struct Cursor<'c, 'v, 'a> {
    view: &'c View<'v, 'a>,
    pos: u64,
}

impl Read for Cursor<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let total = self.view.total as u64;
        if self.pos >= total || buf.is_empty() {
            return Ok(0);
        }
        let pos = self.pos as usize;
        let (start, src) = &self.view.pieces[self.view.piece_at(pos)];
        let n = buf.len().min(start + src.len() - pos).min(1 << 20);
        let bytes = self
            .view
            .bytes(pos, n)
            .ok_or_else(|| std::io::Error::other("contents kept only as a hash were read"))?;
        buf[..n].copy_from_slice(&bytes);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor<'_, '_, '_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => (self.view.total as u64).checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

impl Written<'_> {
    /// Check the `.tgz` read from `file` (the staged tarball) and the archive it compresses
    /// against what was meant to be written: see the module documentation. The error says
    /// what differs.
    pub fn check(
        &self,
        file: impl Read,
        pkg: &Package,
        manifest_json: &[u8],
        documents: &[crate::manifest::ManifestDoc],
        assets: &[crate::manifest::ManifestAsset],
    ) -> Result<(), String> {
        self.check_file(file, pkg)?;
        self.check_tiling()?;
        self.check_archive(pkg, manifest_json, documents, assets)
    }

    /// The file holds the bytes emitted: same length, same CRC-32.
    fn check_file(&self, mut file: impl Read, pkg: &Package) -> Result<(), String> {
        let mut crc = crc32fast::Hasher::new();
        let mut len = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading it failed: {e}")),
            };
            crc.update(&buf[..n]);
            len += n as u64;
        }
        if len != self.size || len != pkg.size || crc.finalize() != self.crc32 {
            return Err(format!(
                "the tarball written ({len} bytes) is not the one built ({} bytes, sha256 {})",
                pkg.size, pkg.sha256
            ));
        }
        Ok(())
    }

    /// The chunks emitted tile the archive: each starts where the one before ended, from the
    /// first byte of the release's entries to the last byte before the assets.
    fn check_tiling(&self) -> Result<(), String> {
        let tiles = |jobs: &mut dyn Iterator<Item = (usize, usize)>, total: usize, part: &str| {
            let mut at = 0;
            for (k, (start, len)) in jobs.enumerate() {
                if start != at {
                    return Err(format!(
                        "compressed chunk {k} of {part} starts at byte {start}, not {at}"
                    ));
                }
                at += len;
            }
            if at == total {
                Ok(())
            } else {
                Err(format!(
                    "the compressed chunks of {part} cover {at} of its {total} bytes"
                ))
            }
        };
        tiles(
            &mut self.head_jobs.iter().copied(),
            self.head_total,
            "the release's entries",
        )?;
        tiles(
            &mut self.body.jobs.iter().map(|j| (j.start, j.len)),
            self.body.tar.total,
            "the bundles and docs/",
        )
    }

    /// The archive holds what was meant (read with the reader every command uses).
    fn check_archive(
        &self,
        pkg: &Package,
        manifest_json: &[u8],
        documents: &[crate::manifest::ManifestDoc],
        assets: &[crate::manifest::ManifestAsset],
    ) -> Result<(), String> {
        let view = View::new(self);
        let listed: Vec<(String, &String)> = documents
            .iter()
            .map(|d| (format!("docs/{}/{}", d.lang, d.path), &d.sha256))
            .chain(
                assets
                    .iter()
                    .map(|a| (format!("docs/{}", a.path), &a.sha256)),
            )
            .collect();
        let wanted: HashMap<&str, &String> = listed.iter().map(|(p, h)| (p.as_str(), *h)).collect();
        // Where contents kept only as a hash start: (length, sha256).
        let hashed_at: HashMap<usize, (usize, &str)> = view
            .pieces
            .iter()
            .filter_map(|(start, src)| match src {
                Src::Hashed(n, sha) => Some((*start, (*n, *sha))),
                _ => None,
            })
            .collect();
        // Entries whose contents are compared: (path, offset in the archive, size).
        let mut found: Vec<(String, usize, usize)> = Vec::new();
        // Entry names, compared as they come: how many, and the first that differs.
        let (mut count, mut first_diff) = (0usize, None::<(usize, String)>);
        let mut unpacked = 0u64;
        let (mut package_json_ok, mut manifest_ok) = (false, false);
        let mut archive = tar::Archive::new(Cursor {
            view: &view,
            pos: 0,
        });
        let what = "the tarball written";
        let bad = |message: String| Error::corrupt(what, message);
        let mut admission = super::Admission::new(UnpackLimits::default());
        let entries = archive
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar archive: {e}")).to_string())?;
        let mut buf = vec![0u8; 64 << 10];
        // Where the last entry's padded contents end.
        let mut end = 0usize;
        for entry in entries {
            let mut entry = entry
                .map_err(|e| bad(format!("unreadable tar entry: {e}")))
                .map_err(|e| e.to_string())?;
            let (rel, size) = admission.admit(&entry, &bad).map_err(|e| e.to_string())?;
            if first_diff.is_none()
                && pkg
                    .files
                    .get(count)
                    .and_then(|f| f.strip_prefix("package/"))
                    != Some(&rel)
            {
                first_diff = Some((count, format!("package/{rel}")));
            }
            count += 1;
            unpacked += size;
            end = (entry.raw_file_position() as usize)
                .saturating_add((size as usize).next_multiple_of(512));
            if end > view.total {
                return Err(format!("its entry `{rel}` is cut short"));
            }
            let against = match rel.as_str() {
                "package.json" => Some((&mut package_json_ok, pkg.package_json.as_slice())),
                "manifest.json" => Some((&mut manifest_ok, manifest_json)),
                _ => None,
            };
            let at = entry.raw_file_position() as usize;
            if let Some((ok, meant)) = against {
                *ok = match hashed_at.get(&at) {
                    Some(&(n, sha)) => {
                        n == meant.len()
                            && n == size as usize
                            && crate::hash::sha256_hex(meant) == sha
                    }
                    None => {
                        // Compared as read, a piece at a time.
                        let (mut read, mut same) = (0usize, true);
                        loop {
                            let n = entry
                                .read(&mut buf)
                                .map_err(|e| bad(format!("entry `{rel}`: {e}")).to_string())?;
                            if n == 0 {
                                break;
                            }
                            same = same && meant.get(read..read + n) == Some(&buf[..n]);
                            read += n;
                        }
                        same && read == meant.len()
                    }
                };
            } else if wanted.contains_key(rel.as_str()) {
                found.push((rel, at, size as usize));
            }
        }
        // The archive ends with its two zero blocks (and nothing else).
        let ending = view.bytes(end, view.total - end);
        if !ending.is_some_and(|b| b.len() >= 1024 && b.iter().all(|&x| x == 0)) {
            return Err(format!(
                "it does not end with the end of an archive after its last entry (at byte {end} of {})",
                view.total
            ));
        }
        if first_diff.is_some() || count != pkg.files.len() {
            let (first, name) = first_diff.map_or((count, None), |(k, n)| (k, Some(n)));
            return Err(format!(
                "it holds {count} entries where {} were written; the first difference is entry {first} ({name:?} instead of {:?})",
                pkg.files.len(),
                pkg.files.get(first)
            ));
        }
        if unpacked != pkg.unpacked_size {
            return Err(format!(
                "it unpacks to {unpacked} bytes where {} were written",
                pkg.unpacked_size
            ));
        }
        for (path, ok) in [
            ("package.json", package_json_ok),
            ("manifest.json", manifest_ok),
        ] {
            if !ok {
                return Err(format!("its {path} is not the one written"));
            }
        }
        check_hashes(&view, &hashed_at, &found, &listed)
    }
}

/// Each document `found` (path, offset, size) hashed from the archive's bytes, an asset by
/// the hash of the bytes streamed into it, in parallel; each of `listed` (path, sha256) must
/// be there with its sha256.
fn check_hashes(
    view: &View<'_, '_>,
    hashed_at: &HashMap<usize, (usize, &str)>,
    found: &[(String, usize, usize)],
    listed: &[(String, &String)],
) -> Result<(), String> {
    let sha_of = |&(_, at, size): &(String, usize, usize)| -> Option<String> {
        match hashed_at.get(&at) {
            Some(&(n, sha)) if n == size => Some(sha.to_string()),
            _ => view.bytes(at, size).map(|b| crate::hash::sha256_hex(&b)),
        }
    };
    let wanted: HashMap<&str, &String> = listed.iter().map(|(p, h)| (p.as_str(), *h)).collect();
    let hashes: Vec<Option<String>> = found.par_iter().map(sha_of).collect();
    let verdicts: HashMap<&str, bool> = found
        .iter()
        .zip(&hashes)
        .map(|((rel, _, _), h)| {
            (
                rel.as_str(),
                h.as_ref() == wanted.get(rel.as_str()).copied(),
            )
        })
        .collect();
    for (path, sha256) in listed {
        match verdicts.get(path.as_str()) {
            Some(true) => {}
            Some(false) => return Err(format!("{path} does not match its sha256 {sha256}")),
            None => return Err(format!("{path} is missing")),
        }
    }
    Ok(())
}
