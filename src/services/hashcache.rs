//! The project's local cache of asset hashes (`.kbrel-cache/asset-hashes`, beside
//! `kbrel.toml`): the sha256 of every asset file a publish read, with the [`FileStamp`] it had,
//! so that the next publish takes the hash of an unchanged file instead of reading it again
//! (`content::load_dir_with`). This module owns the file's format.
//!
//! A cache, never the truth, and used only when it vouches for itself:
//! - written atomically (a temporary file in the folder, fsync, rename) after a publish that
//!   hashed every asset it packed; removed when a publish fails, so a stale entry is used at
//!   most once;
//! - its last line is the sha256 of everything before it: a cut or edited file is ignored whole;
//! - an entry whose file was modified or changed at or after the moment the cache was written
//!   (its mtime or ctime not older than the cache file's mtime) is not used: a write in the same
//!   clock tick as the hashing would not show in the stamp (git's "racily clean" entries);
//! - whatever packs an asset hashes the bytes it streams and refuses the release when they
//!   differ from the hash the load gave (`package`'s `emit_assets`), so a stale entry that got
//!   through fails the publish, it is never released; a publish that packs nothing (the version
//!   is already published, a dry run) hashes the files it took from the cache again
//!   ([`confirm`]) before it reports on them.
//!
//! The folder holds a `.gitignore` of `*` and a `CACHEDIR.TAG`, so git and backup tools leave it
//! out. A folder that is a symbolic link, or anything else unexpected, is neither read nor written.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::content::{Asset, AssetSource, FileStamp, KnownHashes};
use crate::error::{CoreError, Error, Result};
use crate::hash::sha256_hex;

/// The cache folder's name, beside `kbrel.toml`.
pub const CACHE_DIR: &str = ".kbrel-cache";
const FILE: &str = "asset-hashes";
const HEADER: &str = "kbrel asset hashes 1\n";
/// Larger than any honest cache (about 150 bytes an asset): not read.
const MAX_BYTES: u64 = 256 << 20;
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This folder is a cache of kbrel (asset hashes); it can be deleted at any time.\n";

/// The cache folder of the project whose `kbrel.toml` is in `base_dir`.
pub fn cache_dir(base_dir: &Path) -> PathBuf {
    base_dir.join(CACHE_DIR)
}

/// The hashes recorded in `dir`, those that can be used: an absent, unreadable, cut or
/// edited cache is an empty one (the assets are then hashed from their files).
pub fn read(dir: &Path) -> KnownHashes {
    if !is_real_dir(dir) {
        return KnownHashes::default();
    }
    let path = dir.join(FILE);
    let Ok((mut file, size)) = crate::fsx::open_regular(&path) else {
        return KnownHashes::default();
    };
    let written = file.metadata().ok().and_then(|m| FileStamp::of(&m));
    let mut bytes = Vec::new();
    if size > MAX_BYTES || std::io::Read::read_to_end(&mut file, &mut bytes).is_err() {
        return KnownHashes::default();
    }
    match (written, parse(&bytes)) {
        (Some(w), Some(mut known)) => {
            known
                .entries
                .retain(|_, (s, _)| s.mtime < w.mtime && s.ctime < w.mtime);
            known
        }
        _ => KnownHashes::default(),
    }
}

/// Record the hashes of `assets` read from working-tree files (those with a stamp) in `dir`,
/// replacing what was there, atomically.
pub fn write(dir: &Path, assets: &[Asset]) -> Result<()> {
    let path = dir.join(FILE);
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::io(
                "write",
                &path,
                std::io::Error::other(format!(
                    "{} is not a folder (a symbolic link or a file); remove it",
                    dir.display()
                )),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).map_err(|e| Error::io("create", dir, e))?;
            std::fs::write(dir.join(".gitignore"), "*\n")
                .and_then(|()| std::fs::write(dir.join("CACHEDIR.TAG"), CACHEDIR_TAG))
                .map_err(|e| Error::io("write", dir, e))?;
        }
        Err(e) => return Err(Error::io("stat", dir, e)),
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("write", &path, e))?;
    tmp.write_all(&to_bytes(assets))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", &path, e))?;
    tmp.persist(&path)
        .map_err(|e| Error::io("write", &path, e.error))?;
    Ok(())
}

/// Forget every recorded hash (after a failed publish: the next one reads every asset).
pub fn remove(dir: &Path) -> Result<()> {
    if !is_real_dir(dir) {
        return Ok(());
    }
    let path = dir.join(FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &path, e)),
        _ => Ok(()),
    }
}

/// Hash again, from their files, the assets whose hash the load took from `known`: what a
/// publish that packs no tarball (a version already published, a dry run) checks before it
/// reports on them, since nothing else read those files. The first that differs is an error
/// naming it.
pub fn confirm(assets: &[Asset], known: &KnownHashes) -> Result<()> {
    use rayon::prelude::*;
    assets
        .par_iter()
        .filter(|a| {
            a.stamp.as_ref().and_then(|s| known.get(&a.path, s)) == Some(a.sha256.as_str())
        })
        .try_for_each(|a| {
            let AssetSource::File(path) = &a.source else {
                return Ok(());
            };
            let (file, _) = crate::fsx::open_regular(path).map_err(|e| Error::io("read", path, e))?;
            let (sha, len) =
                crate::hash::sha256_reader(std::io::Read::take(file, a.size.saturating_add(1)))
                    .map_err(|e| Error::io("read", path, e))?;
            if sha == a.sha256 && len == a.size {
                return Ok(());
            }
            Err(CoreError::Content {
                path: path.clone(),
                message: format!(
                    "the file changed without a change of its size, times or inode: the asset hash cache ({CACHE_DIR}/{FILE}) recorded {} bytes hashing to {}, it holds {len} bytes hashing to {sha}; publish again (the cache is dropped)",
                    a.size, a.sha256
                ),
            }
            .into())
        })
}

fn is_real_dir(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
}

/// The file's bytes: the header, one line per asset (`sha256 size mtime ctime inode device
/// path`, times as `seconds.nanoseconds`, the path last and whole), then `sha256 <hex>` of
/// everything before. Paths holding a line break are left out.
fn to_bytes(assets: &[Asset]) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for a in assets {
        let Some(st) = a.stamp else { continue };
        if a.path.contains(['\n', '\r']) {
            continue;
        }
        let _ = writeln!(
            s,
            "{} {} {}.{} {}.{} {} {} {}",
            a.sha256,
            st.size,
            st.mtime.0,
            st.mtime.1,
            st.ctime.0,
            st.ctime.1,
            st.ino,
            st.dev,
            a.path
        );
    }
    let sum = sha256_hex(s.as_bytes());
    let _ = writeln!(s, "sha256 {sum}");
    s.into_bytes()
}

fn parse(bytes: &[u8]) -> Option<KnownHashes> {
    let text = std::str::from_utf8(bytes).ok()?;
    let body_end = text.strip_suffix('\n')?.rfind('\n')? + 1;
    let (body, last) = text.split_at(body_end);
    if last.strip_prefix("sha256 ")?.strip_suffix('\n')? != sha256_hex(body.as_bytes()) {
        return None;
    }
    let mut known = KnownHashes::default();
    for line in body.strip_prefix(HEADER)?.lines() {
        let mut f = line.splitn(7, ' ');
        let sha = f.next()?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let size = f.next()?.parse().ok()?;
        let time = |t: &str| -> Option<(i64, i64)> {
            let (s, ns) = t.split_once('.')?;
            Some((s.parse().ok()?, ns.parse().ok()?))
        };
        let stamp = FileStamp {
            size,
            mtime: time(f.next()?)?,
            ctime: time(f.next()?)?,
            ino: f.next()?.parse().ok()?,
            dev: f.next()?.parse().ok()?,
        };
        let path = f.next()?;
        known
            .entries
            .insert(path.to_string(), (stamp, sha.to_string()));
    }
    Some(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(path: &str, sha: char, stamp: FileStamp) -> Asset {
        Asset {
            path: path.into(),
            sha256: sha.to_string().repeat(64),
            size: stamp.size,
            source: AssetSource::File(PathBuf::from(path)),
            declared: false,
            stamp: Some(stamp),
        }
    }

    fn stamp(size: u64, t: i64) -> FileStamp {
        FileStamp {
            size,
            mtime: (t, 5),
            ctime: (t, 7),
            ino: 42,
            dev: 3,
        }
    }

    #[test]
    fn what_is_written_reads_back_and_a_touched_byte_voids_it_all() {
        let assets = [
            asset("images/a b.png", 'a', stamp(10, 100)),
            asset("en/img/c.png", 'c', stamp(20, 200)),
        ];
        let bytes = to_bytes(&assets);
        let known = parse(&bytes).expect("reads back");
        assert_eq!(
            known.get("images/a b.png", &stamp(10, 100)),
            Some(&*"a".repeat(64))
        );
        assert_eq!(
            known.get("en/img/c.png", &stamp(20, 200)),
            Some(&*"c".repeat(64))
        );
        // Another stamp (a write since) is no hit.
        assert_eq!(known.get("en/img/c.png", &stamp(20, 201)), None);
        for i in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[i] ^= 1;
            assert_eq!(parse(&edited), None, "byte {i} flipped");
        }
        assert_eq!(parse(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn entries_not_older_than_the_cache_file_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_dir(dir.path());
        let now = 4_000_000_000; // far in the future: written after the file
        let old = 1_000_000_000;
        write(
            &cache,
            &[
                asset("old.png", 'a', stamp(1, old)),
                asset("new.png", 'b', stamp(1, now)),
            ],
        )
        .unwrap();
        let known = read(&cache);
        assert!(known.get("old.png", &stamp(1, old)).is_some());
        assert_eq!(known.entries.len(), 1, "{known:?}");
        assert_eq!(
            std::fs::read_to_string(cache.join(".gitignore")).unwrap(),
            "*\n"
        );
        remove(&cache).unwrap();
        assert_eq!(read(&cache), KnownHashes::default());
    }

    #[test]
    fn a_linked_cache_folder_is_neither_read_nor_written() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let cache = cache_dir(dir.path());
        std::os::unix::fs::symlink(outside.path(), &cache).unwrap();
        let err = write(&cache, &[asset("a.png", 'a', stamp(1, 1))]).unwrap_err();
        let why = std::error::Error::source(&err).map(|e| e.to_string());
        assert!(why.is_some_and(|w| w.contains("not a folder")), "{err:?}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(read(&cache), KnownHashes::default());
    }
}
