//! Hostile-tree file access: the only way kbrel reads files from a registry, a cache or a
//! content tree, and the only way it removes anything inside them.
//!
//! - [`read_regular`] opens without blocking (`O_NONBLOCK`: a FIFO would block `open()` until
//!   a writer appears) and refuses anything but a regular file before reading a byte (a FIFO,
//!   a device such as `/dev/zero`, a socket), and reads at most a given number of bytes (a
//!   size recorded in an index or manifest), so a file cannot choose how much memory it takes.
//! - [`remove_within`] removes a path below a root only when every folder on the way is a
//!   real folder (opened with `O_NOFOLLOW`, one component at a time, through `cap-std`) and the
//!   entry itself is a regular file or a real folder: no removal ever follows a symbolic link
//!   or leaves the root. Anything else is an [`Unsafe`] error for a human to look at.
//! - [`kind`] says what an entry is without following it, for listings that judge garbage.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path};

use cap_fs_ext::DirExt;

/// What a directory entry is, without following a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    Device,
    Missing,
    Other,
}

impl Kind {
    /// How a message names it ("a symbolic link", "a FIFO (named pipe)", …).
    pub fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a folder",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::Device => "a device",
            Kind::Missing => "missing",
            Kind::Other => "not a regular file or folder",
        }
    }

    fn of(ft: std::fs::FileType) -> Kind {
        #[cfg(unix)]
        use std::os::unix::fs::FileTypeExt;
        if ft.is_symlink() {
            return Kind::Symlink;
        }
        if ft.is_file() {
            return Kind::File;
        }
        if ft.is_dir() {
            return Kind::Dir;
        }
        #[cfg(unix)]
        {
            if ft.is_fifo() {
                return Kind::Fifo;
            }
            if ft.is_socket() {
                return Kind::Socket;
            }
            if ft.is_block_device() || ft.is_char_device() {
                return Kind::Device;
            }
        }
        Kind::Other
    }
}

fn cap_kind(ft: cap_std::fs::FileType) -> Kind {
    use cap_fs_ext::FileTypeExt;
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else if ft.is_block_device() || ft.is_char_device() {
        Kind::Device
    } else {
        Kind::Other
    }
}

/// What `path` is, without following it when it is a link.
pub fn kind(path: &Path) -> Kind {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Kind::of(m.file_type()),
        Err(_) => Kind::Missing,
    }
}

/// What a listed entry is (`DirEntry::file_type` does not follow links).
pub fn entry_kind(e: &std::fs::DirEntry) -> Kind {
    e.file_type().map(Kind::of).unwrap_or(Kind::Missing)
}

fn not_regular(kind: Kind) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it is {}, not a regular file (kbrel reads only regular files here)",
            kind.describe()
        ),
    )
}

/// Open `path` (following links: the target must be a regular file) without blocking, and
/// check that it is a regular file. Returns the file and its size.
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(Kind::of(meta.file_type())));
    }
    #[cfg(unix)]
    {
        // Regular files ignore O_NONBLOCK, but clear it so nothing downstream is surprised.
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a file descriptor we own for the duration of the call.
        unsafe {
            let fd = file.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok((file, meta.len()))
}

/// Read a regular file of at most `limit` bytes (refused before reading when it is larger,
/// and never more than `limit` bytes read even if it grows meanwhile).
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > limit {
        return Err(too_large(len, limit));
    }
    let mut out = Vec::with_capacity(len as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_large(out.len() as u64, limit));
    }
    Ok(out)
}

/// The most bytes read for a file whose recorded size is `size`: enough to see that a wrong
/// file is wrong (its hash then says so), never what the file itself chooses.
pub fn bound(size: u64) -> u64 {
    size.saturating_mul(2).saturating_add(64 << 10)
}

/// [`read_regular`] without a size limit of its own (files whose size nothing records:
/// `index.json`, a changelog, a document in the content tree), still at most 4 GiB.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    read_regular(path, 4 << 30)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

fn too_large(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("it holds {len} bytes, more than the {limit} expected"),
    )
}

/// Why [`remove_within`] refused: the path and what was found there.
#[derive(Debug)]
pub struct Unsafe {
    /// The offending path (relative to the root).
    pub rel: String,
    pub found: Kind,
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is {}; kbrel never removes anything through or other than a regular file or a real folder (fix it by hand)",
            self.rel,
            self.found.describe()
        )
    }
}

/// The outcome of [`remove_within`].
#[derive(Debug)]
pub enum RemoveError {
    /// Something on the way is not a real folder, or the entry is not a file or folder.
    Unsafe(Unsafe),
    /// A plain I/O error.
    Io(io::Error),
}

impl std::fmt::Display for RemoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoveError::Unsafe(u) => u.fmt(f),
            RemoveError::Io(e) => e.fmt(f),
        }
    }
}

impl From<RemoveError> for io::Error {
    fn from(e: RemoveError) -> io::Error {
        match e {
            RemoveError::Io(e) => e,
            RemoveError::Unsafe(u) => io::Error::new(io::ErrorKind::InvalidInput, u.to_string()),
        }
    }
}

/// Check that every folder from `root` down to the parent of `rel` is a real folder (no link
/// followed) and what `rel` itself is. `rel` must be relative, without `..`.
pub fn check_within(root: &Path, rel: &Path) -> Result<Kind, RemoveError> {
    let Some((dir, name)) = missing_is_none(open_parent(root, rel))? else {
        return Ok(Kind::Missing);
    };
    Ok(match dir.symlink_metadata(&name) {
        Ok(m) => cap_kind(m.file_type()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Kind::Missing,
        Err(e) => return Err(RemoveError::Io(e)),
    })
}

/// Remove `root/rel` (a regular file, or a real folder with everything in it, links inside
/// removed as links) without following any link on the way. A missing entry is not an error.
pub fn remove_within(root: &Path, rel: &Path) -> Result<(), RemoveError> {
    let Some((dir, name)) = missing_is_none(open_parent(root, rel))? else {
        return Ok(());
    };
    let found = match dir.symlink_metadata(&name) {
        Ok(m) => cap_kind(m.file_type()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RemoveError::Io(e)),
    };
    let r = match found {
        Kind::File => dir.remove_file(&name),
        Kind::Dir => dir.remove_dir_all(&name),
        other => {
            return Err(RemoveError::Unsafe(Unsafe {
                rel: rel.to_string_lossy().into_owned(),
                found: other,
            }));
        }
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RemoveError::Io(e)),
        _ => Ok(()),
    }
}

/// A folder on the way that does not exist: nothing there.
fn missing_is_none<T>(r: Result<T, RemoveError>) -> Result<Option<T>, RemoveError> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(RemoveError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The real folder holding `rel`, opened one component at a time with `O_NOFOLLOW`, and the
/// last component's name.
fn open_parent(root: &Path, rel: &Path) -> Result<(cap_std::fs::Dir, String), RemoveError> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(RemoveError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is not a plain relative path", rel.display()),
                )));
            }
        }
    }
    let Some(name) = parts.pop() else {
        return Err(RemoveError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to remove the root itself",
        )));
    };
    let mut dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
        .map_err(RemoveError::Io)?;
    let mut so_far = String::new();
    for p in parts {
        if !so_far.is_empty() {
            so_far.push('/');
        }
        so_far.push_str(&p);
        let found = match dir.symlink_metadata(&p) {
            Ok(m) => cap_kind(m.file_type()),
            Err(e) => return Err(RemoveError::Io(e)),
        };
        if found != Kind::Dir {
            return Err(RemoveError::Unsafe(Unsafe { rel: so_far, found }));
        }
        dir = dir.open_dir_nofollow(&p).map_err(|e| {
            // Swapped for a link between the two calls.
            if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::ENOTDIR) {
                RemoveError::Unsafe(Unsafe {
                    rel: so_far.clone(),
                    found: Kind::Symlink,
                })
            } else {
                RemoveError::Io(e)
            }
        })?;
    }
    Ok((dir, name))
}

/// Every entry of the real folder `root/rel` (not followed when it is a link: then, or when
/// it is anything but a folder, the [`Unsafe`] error says what it is), with what each is.
/// A missing folder lists nothing.
pub fn list_within(root: &Path, rel: &Path) -> Result<Vec<(String, Kind)>, RemoveError> {
    let dir = if rel.as_os_str().is_empty() {
        cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
            .map_err(RemoveError::Io)?
    } else {
        let Some((parent, name)) = missing_is_none(open_parent(root, rel))? else {
            return Ok(Vec::new());
        };
        match parent.symlink_metadata(&name) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                return Err(RemoveError::Unsafe(Unsafe {
                    rel: rel.to_string_lossy().into_owned(),
                    found: cap_kind(m.file_type()),
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RemoveError::Io(e)),
        }
        parent.open_dir_nofollow(&name).map_err(RemoveError::Io)?
    };
    let mut out = Vec::new();
    for e in dir.entries().map_err(RemoveError::Io)? {
        let e = e.map_err(RemoveError::Io)?;
        let k = e.file_type().map(cap_kind).unwrap_or(Kind::Missing);
        out.push((e.file_name().to_string_lossy().into_owned(), k));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_never_follows_links() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), root.join("a/file-link")).unwrap();
        let e = remove_within(&root, Path::new("link/f")).unwrap_err();
        assert!(
            matches!(&e, RemoveError::Unsafe(u) if u.rel == "link" && u.found == Kind::Symlink),
            "{e}"
        );
        let e = remove_within(&root, Path::new("link")).unwrap_err();
        assert!(matches!(e, RemoveError::Unsafe(_)));
        let e = remove_within(&root, Path::new("a/file-link")).unwrap_err();
        assert!(matches!(e, RemoveError::Unsafe(_)));
        assert!(list_within(&root, Path::new("link")).is_err());
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"keep");
        // A real folder holding a link: the link goes, its target stays.
        remove_within(&root, Path::new("a")).unwrap();
        assert!(!root.join("a").exists());
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"keep");
        assert!(remove_within(&root, Path::new("../outside/f")).is_err());
        assert!(outside.join("f").exists());
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("device"), "{e}");
        let f = tmp.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert!(read_regular(&f, 4).is_err());
        assert_eq!(read_regular(&f, 5).unwrap(), b"12345");
    }
}
