//! The registry directory (`releases/`): read with verification, lock, atomic commit.
//!
//! Architecture invariant: a version becomes visible only when `index.json` (written last,
//! temp file + fsync + rename) lists it, and everything it lists is already durable. Files are
//! staged in `.staging-*` inside the registry, fsynced and renamed into place. Blobs are
//! content-addressed and verified by hash before use.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{CoreError, Error, Result};
use crate::hash::sha256_hex;
use crate::manifest::{self, FileRef, Index, IndexVersion, Manifest};

pub const INDEX_FILE: &str = "index.json";
pub const LOCK_FILE: &str = ".lock";
pub const STAGING_PREFIX: &str = ".staging-";
/// The largest `index.json` any command reads (one entry is a few hundred bytes).
pub const MAX_INDEX_BYTES: u64 = 256 << 20;
/// The largest blob read without a recorded size.
pub const MAX_BLOB_BYTES: u64 = 1 << 30;

/// A registry directory (which need not exist yet).
#[derive(Debug, Clone)]
pub struct Registry {
    pub dir: PathBuf,
}

/// Held while publishing; dropping it releases the OS lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

/// Everything one release adds to the registry.
pub struct Commit<'a> {
    pub version: &'a str,
    pub manifest_json: &'a [u8],
    pub diff_json: &'a [u8],
    pub package_json: &'a [u8],
    pub tarball_name: &'a str,
    /// Derived mutable files replaced atomically after the index (e.g. the npm packument).
    pub extra: Vec<(String, Vec<u8>)>,
    /// The new index; written last.
    pub index: &'a Index,
    /// `index.json.sig` for exactly the bytes of `index` (written right after it).
    pub index_sig: Option<Vec<u8>>,
    /// The caller's last check of what was staged (reading it back), run while the staged
    /// files are made durable; an error stops the commit before anything is renamed.
    pub verify: &'a (dyn Fn() -> Result<()> + Sync),
    /// `[registry] precompress`: write the `.gz` siblings [`precompressed`] names. The
    /// index's is written whenever one exists already, so it never goes stale.
    pub precompress: bool,
}

/// This publish's staging directory inside the registry (see [`Registry::begin`]); removed
/// when dropped, so a failed publish leaves nothing staged behind.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
}

const STAGED_TARBALL: &str = "tarball";

impl Staging {
    /// Create the file the tarball is streamed into; [`Registry::commit`] makes it durable
    /// and renames it into place.
    pub fn tarball(&self) -> Result<StagedFile> {
        let path = self.dir.join(STAGED_TARBALL);
        let file = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        Ok(StagedFile { path, file })
    }

    /// Where the staged tarball is, to read it back (until [`Registry::commit`] renames it).
    pub fn tarball_path(&self) -> PathBuf {
        self.dir.join(STAGED_TARBALL)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A file being written in a [`Staging`] directory.
#[derive(Debug)]
pub struct StagedFile {
    path: PathBuf,
    file: File,
}

impl StagedFile {
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io("write", &self.path, e))
    }
}

/// The suffix of a precompressed sibling (`index.json.gz` beside `index.json`).
pub const GZ_SUFFIX: &str = ".gz";

/// Whether the registry file `rel` gets a precompressed `<rel>.gz` sibling when
/// `[registry] precompress` is on, for static hosts that serve it as is (nginx `gzip_static`,
/// a bucket object with `Content-Encoding: gzip`): what a consumer reads — `index.json`, each
/// version's `manifest.json`, `diff.json` and `package.json`, and the blobs
/// (`blobs/sha256/<aa>/<rest>`). Not the tarballs (gzip already), not `index.json.sig` (a few
/// hundred bytes) and not the packument (npm's clients read it from `kbrel serve` or compress
/// on the fly). A blob's sibling is written only for a document (markdown; an asset is most
/// often a compressed format already, and is served as it is) and only when gzip makes it
/// smaller ([`blob_sibling`]): a tiny document has none, and a static host sends the plain
/// file (nginx `gzip_static` falls back to it). The one rule: the writers, `verify`, the
/// bucket uploads and mirrors, and `kbrel serve` ask this function; a reader never needs a
/// sibling to exist.
pub fn precompressed(rel: &str) -> bool {
    if rel == INDEX_FILE {
        return true;
    }
    if let Some(rest) = rel.strip_prefix("blobs/sha256/") {
        return matches!(rest.split_once('/'), Some((aa, b))
            if aa.len() == 2 && b.len() == 62 && manifest::is_sha256_hex(&format!("{aa}{b}")));
    }
    let mut parts = rel.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("v"), Some(v), Some("manifest.json" | "diff.json" | "package.json"), None) if !v.is_empty()
    )
}

/// The `.gz` sibling of a document's blob (bytes `text`), when [`precompressed`] gives it one:
/// [`gzip_static`] of it, kept only when smaller than the document.
pub fn blob_sibling(text: &[u8]) -> Option<Vec<u8>> {
    let gz = gzip_static(text);
    (gz.len() < text.len()).then_some(gz)
}

/// The bytes of a `.gz` sibling: gzip at the best level with a fixed header (mtime 0, no file
/// name, OS 255 "unknown"), so the same input gives the same bytes. `verify` compares what a
/// sibling decompresses to, never these bytes, so a different deflate implementation does not
/// make existing siblings wrong.
pub fn gzip_static(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(
            Vec::with_capacity(bytes.len() / 4 + 64),
            flate2::Compression::best(),
        );
    // Writing into a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// What a `.gz` sibling decompresses to, read at most `limit` bytes far.
pub fn gunzip_limited(gz: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("decompresses to more than {limit} bytes"),
        ));
    }
    Ok(out)
}

pub fn blob_path(sha256: &str) -> String {
    format!("blobs/sha256/{}/{}", &sha256[..2], &sha256[2..])
}

pub fn manifest_path(version: &str) -> String {
    format!("v/{version}/manifest.json")
}

pub fn diff_path(version: &str) -> String {
    format!("v/{version}/diff.json")
}

pub fn package_json_path(version: &str) -> String {
    format!("v/{version}/package.json")
}

impl Registry {
    pub fn new(dir: impl Into<PathBuf>) -> Registry {
        Registry { dir: dir.into() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The error for a folder where a registry was expected and there is none: it does not
    /// exist, is not a folder, or nothing is published there. Not corruption.
    pub fn not_a_registry(&self) -> Error {
        let reason = if !self.dir.exists() {
            "it does not exist"
        } else if !self.dir.is_dir() {
            "it is not a folder"
        } else {
            "it has no index.json (nothing was published here, or this is another folder)"
        };
        Error::NoRegistry {
            path: self.dir.clone(),
            reason: reason.into(),
        }
    }

    /// The index, or `None` for a registry nothing was published to yet. A corrupt index is
    /// an error: the registry is never touched on a guess.
    pub fn read_index(&self) -> Result<Option<(Index, Vec<u8>)>> {
        let path = self.path(INDEX_FILE);
        match crate::fsx::read_regular(&path, MAX_INDEX_BYTES) {
            Ok(bytes) => Ok(Some((manifest::parse_index(&bytes, &path)?, bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.dir.exists() && !self.dir.is_dir() {
                    return Err(Error::corrupt(
                        &self.dir,
                        "the registry path is not a directory",
                    ));
                }
                Ok(None)
            }
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Read a registry file and check it against its recorded hash.
    pub fn read_verified(&self, file: &FileRef) -> Result<Vec<u8>> {
        let path = self.path(&file.path);
        // Never more than the recorded size: a file cannot choose how much memory it takes.
        let bytes = crate::fsx::read_regular(&path, crate::fsx::bound(file.size))
            .map_err(|e| Error::io("read", &path, e))?;
        let actual = sha256_hex(&bytes);
        if actual != file.sha256 {
            return Err(Error::corrupt(
                path,
                format!("sha256 mismatch: expected {}, found {actual}", file.sha256),
            ));
        }
        Ok(bytes)
    }

    pub fn read_manifest(&self, v: &IndexVersion) -> Result<Manifest> {
        let bytes = self.read_verified(&v.manifest)?;
        Ok(manifest::parse_manifest(
            &bytes,
            &self.path(&v.manifest.path),
        )?)
    }

    /// A document's bytes, verified against its name.
    pub fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        self.read_blob_sized(sha256, MAX_BLOB_BYTES / 2)
    }

    /// A document's bytes, verified against its name, read only when the blob holds at most
    /// `size` bytes (the size its manifest records).
    pub fn read_blob_sized(&self, sha256: &str, size: u64) -> Result<Vec<u8>> {
        if !manifest::is_sha256_hex(sha256) {
            return Err(Error::corrupt(
                &self.dir,
                format!("invalid blob name `{sha256}`"),
            ));
        }
        let path = self.path(&blob_path(sha256));
        let bytes = crate::fsx::read_regular(&path, crate::fsx::bound(size))
            .map_err(|e| Error::io("read blob", &path, e))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(Error::corrupt(
                path,
                format!("blob content hashes to {actual}, not to its name {sha256}"),
            ));
        }
        Ok(bytes)
    }

    /// Take the publish lock, waiting up to `wait` for another publisher to finish.
    pub fn lock(&self, wait: Duration) -> Result<LockGuard> {
        create_dir_all(&self.dir)?;
        let path = self.path(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("create lock file", &path, e))?;
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { _file: file }),
                Err(fs::TryLockError::WouldBlock) if waited < wait => {
                    std::thread::sleep(step);
                    waited += step;
                }
                Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked { path }),
                Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
            }
        }
    }

    /// Staging directories left by an interrupted publish (names relative to the registry,
    /// with what each is: only real folders are kbrel's). Only garbage while the lock is held.
    pub fn stale_staging(&self) -> Result<Vec<(String, crate::fsx::Kind)>> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        Ok(self
            .list("")?
            .into_iter()
            .filter(|(n, _)| n.starts_with(STAGING_PREFIX))
            .collect())
    }

    /// The entries of the real folder `rel` of the registry, never through a link (a link or
    /// special file on the way is an error naming it).
    pub fn list(&self, rel: &str) -> Result<Vec<(String, crate::fsx::Kind)>> {
        crate::fsx::list_within(&self.dir, Path::new(rel)).map_err(|e| self.unsafe_error(rel, e))
    }

    /// Remove `rel` (a regular file or a real folder) without following any link.
    pub fn remove(&self, rel: &str) -> Result<()> {
        crate::fsx::remove_within(&self.dir, Path::new(rel)).map_err(|e| self.unsafe_error(rel, e))
    }

    fn unsafe_error(&self, rel: &str, e: crate::fsx::RemoveError) -> Error {
        match e {
            crate::fsx::RemoveError::Unsafe(u) => Error::corrupt(
                self.path(&u.rel),
                format!(
                    "is {}; kbrel does not write, remove or follow links or special files inside a registry (replace it with a real folder or remove it by hand)",
                    u.found.describe()
                ),
            ),
            crate::fsx::RemoveError::Io(e) => Error::io("remove or list", self.path(rel), e),
        }
    }

    /// Refuse a registry whose own folders (`v`, `blobs`, `blobs/sha256` and its fan-out
    /// folders) are links or special files: writing or cleaning up through them would change
    /// files outside the registry.
    pub fn check_own_folders(&self) -> Result<()> {
        for rel in ["v", "blobs", "blobs/sha256"] {
            match crate::fsx::kind(&self.path(rel)) {
                crate::fsx::Kind::Dir | crate::fsx::Kind::Missing => {}
                k => {
                    return Err(self.unsafe_error(
                        rel,
                        crate::fsx::RemoveError::Unsafe(crate::fsx::Unsafe {
                            rel: rel.into(),
                            found: k,
                        }),
                    ));
                }
            }
        }
        for (name, k) in self.list("blobs/sha256")? {
            if k != crate::fsx::Kind::Dir {
                let rel = format!("blobs/sha256/{name}");
                return Err(self.unsafe_error(
                    &rel,
                    crate::fsx::RemoveError::Unsafe(crate::fsx::Unsafe {
                        rel: rel.clone(),
                        found: k,
                    }),
                ));
            }
        }
        Ok(())
    }

    /// Start writing a release: remove what killed publishes left, then create this
    /// publish's staging directory (removed again when the [`Staging`] is dropped).
    pub fn begin(&self, lock: &LockGuard) -> Result<Staging> {
        self.check_own_folders()?;
        self.remove_leftovers(lock)?;
        let dir = self.path(&format!("{STAGING_PREFIX}{}", std::process::id()));
        create_dir_all(&dir)?;
        Ok(Staging { dir })
    }

    /// Remove what a killed publish left and nothing can reference: staging directories and
    /// blob temporary files (`blobs/sha256/<aa>/.<rest>.tmp-<pid>`). Only garbage while the lock
    /// is held, since only a lock holder writes them.
    /// Nothing is followed: a link or special file where kbrel's own folders or temporary
    /// files belong is an error naming it, and nothing behind it is touched.
    pub fn remove_leftovers(&self, _lock: &LockGuard) -> Result<()> {
        use crate::fsx::Kind;
        for (stale, _) in self.stale_staging()? {
            self.remove(&stale)?;
        }
        for (aa, k) in self.list("blobs/sha256")? {
            if k != Kind::Dir {
                continue;
            }
            for (name, k) in self.list(&format!("blobs/sha256/{aa}"))? {
                if name.starts_with('.') && name.contains(".tmp-") && k == Kind::File {
                    self.remove(&format!("blobs/sha256/{aa}/{name}"))?;
                }
            }
        }
        Ok(())
    }

    /// Whether the readable index lists `version` (a commit that failed after the index was
    /// written published it: its blobs must stay).
    pub fn index_lists(&self, version: &str) -> bool {
        matches!(self.read_index(), Ok(Some((i, _))) if i.get(version).is_some())
    }

    /// Remove blobs written by a publish that then failed (best effort, under the lock).
    /// A blob's `.gz` sibling goes first, so a removal cut short leaves no sibling without
    /// its blob.
    pub fn remove_blobs(&self, _lock: &LockGuard, shas: &[&str]) {
        for sha in shas {
            let rel = blob_path(sha);
            for rel in [format!("{rel}{GZ_SUFFIX}"), rel] {
                if crate::fsx::check_within(&self.dir, Path::new(&rel))
                    .is_ok_and(|k| k == crate::fsx::Kind::File)
                {
                    let _ = self.remove(&rel);
                }
            }
        }
    }

    /// Write blobs into the store. A blob whose fan-out folder (`blobs/sha256/<aa>/`) exists is
    /// written to a temporary name there, then renamed. Blobs of a fan-out folder that does not
    /// exist yet (every blob of a first release) are written under their final names into that
    /// folder staged in `staging`, and the finished folder is renamed into place: one rename per
    /// folder instead of one per blob, and nothing is visible before it is complete.
    /// No fsync per blob: [`commit`](Self::commit) makes everything durable with one filesystem
    /// sync before the index can reference them. A blob torn by a crash fails its hash check on
    /// every read and is rewritten by the next publish that needs it. Content-addressed, so
    /// blobs written by a publish that fails later are harmless (`kbrel verify --repair` removes
    /// unreferenced ones). With `precompress`, a document's blob gets its `.gz` sibling
    /// ([`blob_sibling`]), written the same way right after the blob (in the same staged
    /// folder, or to a temporary name renamed after the blob's).
    pub fn write_blobs(
        &self,
        _lock: &LockGuard,
        staging: &Staging,
        blobs: &[(&str, BlobData<'_>)],
        precompress: bool,
    ) -> Result<()> {
        let staged = staging.dir.join("blobs");
        // Fan-out folders that do not exist yet are built whole in the staging directory.
        let fanout: std::collections::BTreeSet<&str> =
            blobs.iter().map(|(sha, _)| &sha[..2]).collect();
        let mut fresh = std::collections::BTreeSet::new();
        for aa in fanout {
            if !self.path(&format!("blobs/sha256/{aa}")).exists() {
                create_dir_all(&staged.join(aa))?;
                fresh.insert(aa);
            }
        }
        let pid = std::process::id();
        io_pool().install(|| {
            blobs.par_iter().try_for_each(|(sha, bytes)| -> Result<()> {
                let sibling = match bytes {
                    BlobData::Bytes(text) if precompress => blob_sibling(text),
                    _ => None,
                };
                let gz_name = format!("{}{GZ_SUFFIX}", &sha[2..]);
                if fresh.contains(&sha[..2]) {
                    let dir = staged.join(&sha[..2]);
                    // The staging directory is removed whole if anything fails.
                    bytes.write_to(&dir.join(&sha[2..]), sha)?;
                    return sibling.map_or(Ok(()), |gz| {
                        let p = dir.join(&gz_name);
                        fs::write(&p, gz).map_err(|e| Error::io("write", &p, e))
                    });
                }
                let dest = self.path(&blob_path(sha));
                let tmp = dest.with_file_name(format!(".{}.tmp-{pid}", &sha[2..]));
                let gz_dest = dest.with_file_name(&gz_name);
                let gz_tmp = dest.with_file_name(format!(".{gz_name}.tmp-{pid}"));
                // A failed write (e.g. a full filesystem) leaves no partial temporary file.
                let written = bytes
                    .write_to(&tmp, sha)
                    .and_then(|_| {
                        fs::rename(&tmp, &dest).map_err(|e| Error::io("rename into", &dest, e))
                    })
                    .and_then(|_| {
                        sibling.map_or(Ok(()), |gz| {
                            fs::write(&gz_tmp, gz).map_err(|e| Error::io("write", &gz_tmp, e))?;
                            fs::rename(&gz_tmp, &gz_dest)
                                .map_err(|e| Error::io("rename into", &gz_dest, e))
                        })
                    });
                if written.is_err() {
                    let _ = fs::remove_file(&tmp);
                    let _ = fs::remove_file(&gz_tmp);
                }
                written
            })
        })?;
        if !fresh.is_empty() {
            let store = self.path("blobs/sha256");
            create_dir_all(&store)?;
            for aa in fresh {
                let dest = store.join(aa);
                fs::rename(staged.join(aa), &dest)
                    .map_err(|e| Error::io("rename into", &dest, e))?;
            }
        }
        Ok(())
    }

    /// Names (sha256) of the files in the blob store (not their `.gz` siblings), from one
    /// listing per fan-out folder; nothing is read or verified. A folder that cannot be listed contributes nothing.
    pub fn stored_blobs(&self) -> std::collections::HashSet<String> {
        let mut out = std::collections::HashSet::new();
        let Ok(fanout) = fs::read_dir(self.path("blobs/sha256")) else {
            return out;
        };
        for dir in fanout.flatten() {
            let aa = dir.file_name().to_string_lossy().into_owned();
            let Ok(entries) = fs::read_dir(dir.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.ends_with(GZ_SUFFIX) {
                    out.insert(format!("{aa}{name}"));
                }
            }
        }
        out
    }

    /// Make everything written so far durable (one filesystem sync; see [`Self::commit`]).
    pub fn sync_to_disk(&self) -> Result<()> {
        sync_filesystem(&self.dir)
    }

    /// Write one release whose tarball is staged in `staging` ([`Staging::tarball`]) and whose
    /// blobs are already written ([`Self::write_blobs`]; the caller removes them again if this
    /// fails before the index lists the version). The caller holds the lock and has checked
    /// immutability. The staging directory is removed whatever happens (when `staging` drops).
    pub fn commit(&self, _lock: &LockGuard, staging: Staging, c: &Commit<'_>) -> Result<()> {
        let stage = staging.dir.as_path();
        // 1. Stage the version directory and the tarball, then one filesystem sync makes the
        //    blobs and the staged files durable.
        let vstage = stage.join("v");
        create_dir_all(&vstage)?;
        for (name, bytes) in [
            ("manifest.json", c.manifest_json),
            ("diff.json", c.diff_json),
            ("package.json", c.package_json),
        ] {
            let p = vstage.join(name);
            fs::write(&p, bytes).map_err(|e| Error::io("write", &p, e))?;
            if c.precompress {
                // Inside the version directory: renamed into place with it, in one step.
                let gz = vstage.join(format!("{name}{GZ_SUFFIX}"));
                fs::write(&gz, gzip_static(bytes)).map_err(|e| Error::io("write", &gz, e))?;
            }
        }
        let tstage = stage.join(STAGED_TARBALL);
        if !tstage.is_file() {
            return Err(Error::io(
                "find the staged tarball",
                &tstage,
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        // Derived files are staged now too, so a failure to write them happens before anything
        // is visible; a destination that cannot be replaced is refused up front.
        let mut staged_extra = Vec::new();
        for (i, (rel, bytes)) in c.extra.iter().enumerate() {
            let dest = self.path(rel);
            if dest.is_dir() {
                return Err(Error::corrupt(
                    &dest,
                    "is a directory; it must be a file (kbrel writes the npm packument there)",
                ));
            }
            let tmp = stage.join(format!("extra-{i}"));
            fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
            staged_extra.push((tmp, dest));
        }
        let sig_tmp = stage.join(crate::sign::SIG_FILE);
        if let Some(sig) = &c.index_sig {
            fs::write(&sig_tmp, sig).map_err(|e| Error::io("write", &sig_tmp, e))?;
        }
        let dir = &self.dir;
        let (synced, verified) = std::thread::scope(|s| {
            let sync = s.spawn(|| sync_filesystem(dir));
            let verified = (c.verify)();
            let synced = sync
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (synced, verified)
        });
        verified?;
        synced?;
        // 2. Rename into place: the version directory in one step, then the tarball.
        let vdir = self.path(&format!("v/{}", c.version));
        if vdir.symlink_metadata().is_ok() {
            // Not listed in the index (checked by the caller): left by a crashed publish.
            self.remove(&format!("v/{}", c.version))?;
        }
        rename_into(&vstage, &vdir)?;
        let mut created = vec![vdir.clone()];
        let undo = |created: &[PathBuf]| {
            for p in created {
                let _ = if p.is_dir() {
                    fs::remove_dir_all(p)
                } else {
                    fs::remove_file(p)
                };
            }
        };
        let tdest = self.path(c.tarball_name);
        if let Err(e) = rename_into(&tstage, &tdest) {
            undo(&created);
            return Err(e);
        }
        created.push(tdest);
        // 3. The index, last; its `.gz` sibling is staged durable beside it and renamed right
        //    after it (a reader of the sibling sees the previous release until then).
        let tmp = stage.join(INDEX_FILE);
        let index_bytes = manifest::to_json_bytes(c.index);
        let gz_name = format!("{INDEX_FILE}{GZ_SUFFIX}");
        let gz = (c.precompress || self.path(&gz_name).symlink_metadata().is_ok())
            .then(|| (stage.join(&gz_name), self.path(&gz_name)));
        let written = gz
            .as_ref()
            .map_or(Ok(()), |(t, _)| {
                write_durable(t, &gzip_static(&index_bytes))
            })
            .and_then(|_| write_durable(&tmp, &index_bytes))
            .and_then(|_| rename_into(&tmp, &self.path(INDEX_FILE)));
        if let Err(e) = written {
            undo(&created);
            return Err(e);
        }
        // Derived files follow the index (the static npm packument, the signature): a reader
        // racing the renames sees the previous ones; a crash here is repaired by re-running the
        // same publish.
        let derived = || -> Result<()> {
            if let Some((t, d)) = &gz {
                rename_into(t, d)?;
            }
            for (tmp, dest) in staged_extra {
                rename_into(&tmp, &dest)?;
            }
            if c.index_sig.is_some() {
                rename_into(&sig_tmp, &self.path(crate::sign::SIG_FILE))?;
            }
            Ok(())
        };
        derived().map_err(|e| Error::PartlyPublished {
            version: c.version.to_string(),
            cause: Box::new(e),
        })
    }
}

/// Blob files are created on a pool of their own, one thread per core (at least two). The
/// work is in the kernel, and on a warm page cache it is CPU work: more threads than cores
/// measured more CPU time (lock contention in the filesystem), not less wall time.
fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores.max(2))
            .build()
            .unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new()
                    .build()
                    .expect("a thread pool")
            })
    })
}

/// Make everything written so far on the filesystem holding `dir` durable (one `syncfs`).
fn sync_filesystem(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `f` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(Error::io(
                "sync filesystem of",
                dir,
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        f.sync_all().map_err(|e| Error::io("fsync", dir, e))
    }
}

fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// Write a file and fsync it.
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    let mut f = File::create(path).map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))?;
    Ok(())
}

/// Write consecutive parts as one file (made durable by the caller).
/// Rename into place (creating parents) and fsync the destination directory.
pub fn rename_into(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    create_dir_all(parent)?;
    fs::rename(from, to).map_err(|e| Error::io("rename into", to, e))?;
    fsync_dir(parent)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Write a file atomically outside the registry (temp file in the same folder + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dir_all(parent)?;
    // A replaced file keeps its permissions; a new one gets those of any new file
    // (0666 minus the umask), not the temporary file's private 0600.
    let existing = fs::metadata(path).ok().map(|m| m.permissions());
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(parent)
        .map_err(|e| Error::io("create temp file in", parent, e))?;
    if let Some(perms) = existing {
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| Error::io("set permissions of", path, e))?;
    }
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("fsync", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    fsync_dir(parent)
}

/// The `package.json` of every version, verified against the index.
pub fn version_documents(reg: &Registry, index: &Index) -> Result<BTreeMap<String, Value>> {
    index
        .versions
        .iter()
        .map(|v| {
            let bytes = reg.read_verified(&v.package_json)?;
            let doc: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(reg.path(&v.package_json.path), e.to_string()))?;
            Ok((v.version.to_string(), doc))
        })
        .collect()
}

/// What a blob is written from: bytes in memory (a document), or a file streamed through a
/// fixed buffer and hashed as it is copied (an asset, however large).
#[derive(Debug, Clone, Copy)]
pub enum BlobData<'a> {
    Bytes(&'a [u8]),
    /// An asset's file or git blob, expected to hold `size` bytes hashing to the blob's name.
    Asset {
        source: &'a crate::content::AssetSource,
        size: u64,
    },
}

impl BlobData<'_> {
    /// Write the blob to `dest` (a new file). A streamed file is copied and hashed in one
    /// pass; one that changed since it was hashed is refused, naming it.
    fn write_to(&self, dest: &Path, sha256: &str) -> Result<()> {
        match self {
            BlobData::Bytes(bytes) => {
                fs::write(dest, bytes).map_err(|e| Error::io("write", dest, e))
            }
            BlobData::Asset { source, size } => {
                let path = source.describe();
                let (actual, len) = crate::git::with_asset_reader(source, |file| {
                    let mut reader = crate::hash::HashingReader::new(std::io::Read::take(
                        file,
                        size.saturating_add(1),
                    ));
                    let mut out =
                        fs::File::create(dest).map_err(|e| Error::io("write", dest, e))?;
                    std::io::copy(&mut reader, &mut out)
                        .map_err(|e| Error::io("copy", &path, e))?;
                    Ok(reader.finish())
                })?;
                if actual != sha256 || len != *size {
                    return Err(Error::from(CoreError::Content {
                        path,
                        message: format!(
                            "the file changed while it was published (it held {size} bytes hashing to {sha256}, now {len} bytes hashing to {actual}); publish again"
                        ),
                    }));
                }
                Ok(())
            }
        }
    }
}
