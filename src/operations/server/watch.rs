//! The registry folder's watch: changes of `index.json` seen through inotify (Linux), so that a
//! request can know the loaded index is current without touching the disk on an async worker.
//! Elsewhere there is no watch and every request checks `index.json` on the blocking pool.

use std::sync::atomic::{AtomicBool, Ordering};

/// Changes of a registry folder's `index.json` seen through inotify, so that a request can
/// know the loaded index is current without a `stat` on the async worker. Events are queued
/// by the kernel inside the `rename` or `write` that causes them, so once a publish has
/// returned, a request sees them waiting ([`Self::quiet`]) until the watch's thread has read
/// them and reloaded the index.
pub(super) struct IndexWatch {
    inotify: std::fs::File,
    /// The folder's (device, inode) when the watch was added.
    folder: (u64, u64),
    dir: std::path::PathBuf,
    /// Set while the watch's thread takes in events (and until its first pass).
    unsettled: AtomicBool,
}

/// What the events read at once said.
pub(super) struct Seen {
    /// Any event in the folder.
    pub(super) any: bool,
    /// The folder itself moved or went away (or events were lost): the watch is no longer
    /// worth anything.
    pub(super) broken: bool,
}

#[cfg(target_os = "linux")]
impl IndexWatch {
    pub(super) fn new(dir: &std::path::Path) -> Option<IndexWatch> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir).ok()?;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: plain system calls; the descriptor is owned by the File from here on.
        let inotify = unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return None;
            }
            std::fs::File::from_raw_fd(fd)
        };
        // Finished changes only: a file being written (IN_MODIFY, IN_CREATE) is read when it
        // is closed, as a request after the writer is done would read it. A new hard link is
        // left to the periodic look.
        let mask = libc::IN_DELETE
            | libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_FROM
            | libc::IN_MOVED_TO
            | libc::IN_ATTRIB
            | libc::IN_DELETE_SELF
            | libc::IN_MOVE_SELF
            | libc::IN_ONLYDIR;
        use std::os::fd::AsRawFd;
        // SAFETY: a valid descriptor and a NUL-terminated path.
        if unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), mask) } < 0 {
            return None;
        }
        Some(IndexWatch {
            inotify,
            folder: (meta.dev(), meta.ino()),
            dir: dir.to_path_buf(),
            unsettled: AtomicBool::new(true),
        })
    }

    /// No event is waiting and the watch's thread has taken in every earlier one (one `ioctl`
    /// on the inotify descriptor: never blocks, never touches the disk).
    ///
    /// In this order: an event queued before the request is either still waiting, or was read
    /// by the thread, which unsettled the watch before reading it and settles it only once the
    /// index is reloaded; the flag read first could be stale by the time the queue is empty.
    pub(super) fn quiet(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int.
        let r = unsafe { libc::ioctl(self.inotify.as_raw_fd(), libc::FIONREAD as _, &mut waiting) };
        r == 0 && waiting == 0 && !self.unsettled.load(Ordering::SeqCst)
    }

    pub(super) fn unsettle(&self) {
        self.unsettled.store(true, Ordering::SeqCst);
    }

    /// Quiet again, unless an event came meanwhile (the next pass takes it in).
    pub(super) fn settle(&self) {
        self.unsettled.store(false, Ordering::SeqCst);
    }

    /// Read every waiting event.
    pub(super) fn drain(&self) -> Seen {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let mut seen = Seen {
            any: false,
            broken: !std::fs::metadata(&self.dir).is_ok_and(|m| (m.dev(), m.ino()) == self.folder),
        };
        let mut buf = [0u8; 4096];
        while let Ok(n) = (&self.inotify).read(&mut buf) {
            let mut at = 0;
            // struct inotify_event: wd (i32), mask (u32), cookie (u32), len (u32), name.
            while n > 0 && at + 16 <= n {
                let word = |i: usize| {
                    u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap_or([0; 4]))
                };
                let (mask, len) = (word(4), word(12) as usize);
                seen.any = true;
                // Lost events (IN_Q_OVERFLOW) are harmless: index.json is looked at next.
                seen.broken |=
                    mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0;
                at += 16 + len;
            }
            if n == 0 {
                break;
            }
        }
        seen
    }

    pub(super) fn clone_fd(&self) -> Option<std::fs::File> {
        self.inotify.try_clone().ok()
    }

    /// Wait up to `ms` for `fd` to have an event.
    pub(super) fn wait(fd: &std::fs::File, ms: i32) {
        use std::os::fd::AsRawFd;
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) };
    }
}

/// Elsewhere there is no watch: every request checks `index.json` on the blocking pool.
#[cfg(not(target_os = "linux"))]
impl IndexWatch {
    pub(super) fn new(_dir: &std::path::Path) -> Option<IndexWatch> {
        None
    }
    pub(super) fn quiet(&self) -> bool {
        false
    }
    pub(super) fn unsettle(&self) {}
    pub(super) fn settle(&self) {}
    pub(super) fn drain(&self) -> Seen {
        Seen {
            any: false,
            broken: true,
        }
    }
    pub(super) fn clone_fd(&self) -> Option<std::fs::File> {
        None
    }
    pub(super) fn wait(_fd: &std::fs::File, _ms: i32) {}
}
