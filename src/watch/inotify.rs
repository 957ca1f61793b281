//! The only code that touches inotify. Directories are watched (never files), each one
//! through the descriptor the scan opened it with (`/proc/self/fd/N`), so the watch
//! lands on exactly the directory that was listed, and only directories the policy
//! monitors are ever watched: the scan never enters an excluded one.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::fs::path as bpath;

/// What an inotify event means for the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Look at this entry again; `recursive` for a directory that appeared or vanished
    /// as a whole (created, moved in or out), whose contents inotify cannot vouch for.
    Path {
        path: Vec<u8>,
        recursive: bool,
        /// The change is complete (file closed after writing, entry deleted or moved):
        /// report it now rather than after a quiet period.
        settled: bool,
    },
    /// The kernel queue overflowed: events were lost, rescan everything.
    Overflow,
}

const MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MODIFY)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::EXCL_UNLINK)
    .union(WatchMask::ONLYDIR);

pub struct Watcher {
    inotify: Inotify,
    /// Watch descriptor id → the descriptor and the directory's path.
    dirs: Mutex<HashMap<i32, (WatchDescriptor, Vec<u8>)>>,
    /// Directories left unwatched because the watch limit was reached.
    unwatched: AtomicU64,
    buffer: Vec<u8>,
}

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        Ok(Watcher {
            inotify: Inotify::init()?,
            dirs: Mutex::new(HashMap::new()),
            unwatched: AtomicU64::new(0),
            buffer: vec![0; 256 << 10],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Watch the directory open as `fd`, known as `path`. Called by the scan before it
    /// lists the directory, so nothing created in it can slip between list and watch.
    pub fn add(&self, fd: BorrowedFd<'_>, path: &[u8]) {
        let via_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let result = match self.inotify.watches().add(&via_fd, MASK) {
            // No /proc (a chroot): by path, refusing a symlink swapped in meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => self
                .inotify
                .watches()
                .add(bpath::as_path(path), MASK | WatchMask::DONT_FOLLOW),
            other => other,
        };
        match result {
            Ok(wd) => {
                let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
                dirs.insert(wd.get_watch_descriptor_id(), (wd, path.to_vec()));
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) => {
                self.unwatched.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("{}: cannot watch: {e}", bpath::lossy(path)),
        }
    }

    /// Watch the folder holding `root`, a watch root that is not a directory (a file,
    /// or not there yet): inotify watches folders, so its changes are seen there.
    pub fn add_parent_of(&self, root: &[u8]) {
        let Some((parent, _)) = bpath::split_parent(root) else {
            return;
        };
        match crate::fs::open::open_dir_path(parent) {
            Ok(fd) => self.add(fd.as_fd(), parent),
            Err(e) => tracing::warn!(
                "{}: cannot watch the folder of watch root {}: {e}",
                bpath::lossy(parent),
                bpath::lossy(root)
            ),
        }
    }

    /// Stop watching the directories at or below `gone`: a tree moved out of the
    /// watched area keeps its watches (its inodes live on) unless they are removed.
    pub fn forget(&self, gone: &[Vec<u8>]) {
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let mut watches = self.inotify.watches();
        dirs.retain(|_, (wd, path)| {
            let under = gone.iter().any(|g| bpath::relative(path, g).is_some());
            if under {
                // Already gone when the directory was deleted: nothing to undo.
                let _ = watches.remove(wd.clone());
            }
            !under
        });
    }

    pub fn watched(&self) -> usize {
        self.dirs.lock().map_or(0, |d| d.len())
    }

    /// Directories that could not be watched since the last call (watch limit).
    pub fn take_unwatched(&self) -> u64 {
        self.unwatched.swap(0, Ordering::Relaxed)
    }

    /// Read what is queued (never blocks) and translate it into changes.
    pub fn read(&mut self, mut on_change: impl FnMut(Change)) -> io::Result<()> {
        loop {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
            for event in events {
                let mask = event.mask;
                if mask.contains(EventMask::Q_OVERFLOW) {
                    on_change(Change::Overflow);
                    continue;
                }
                let id = event.wd.get_watch_descriptor_id();
                if mask.contains(EventMask::IGNORED) {
                    dirs.remove(&id);
                    continue;
                }
                let Some((_, dir)) = dirs.get(&id) else {
                    continue;
                };
                let Some(name) = event.name else {
                    // The watched directory itself is gone: its parent says so too,
                    // except for a watch root, whose parent is not watched.
                    if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
                        on_change(Change::Path {
                            path: dir.clone(),
                            recursive: true,
                            settled: true,
                        });
                    } else if mask.contains(EventMask::ATTRIB) {
                        // Its attributes.
                        on_change(Change::Path {
                            path: dir.clone(),
                            recursive: false,
                            settled: false,
                        });
                    }
                    continue;
                };
                use std::os::unix::ffi::OsStrExt;
                let path = bpath::join(dir, name.as_bytes());
                let is_dir = mask.contains(EventMask::ISDIR);
                let appeared = mask.intersects(EventMask::CREATE | EventMask::MOVED_TO);
                let vanished = mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM);
                if appeared || vanished {
                    // The directory's own mtime and ctime changed with its listing.
                    on_change(Change::Path {
                        path: dir.clone(),
                        recursive: false,
                        settled: false,
                    });
                }
                on_change(Change::Path {
                    path,
                    recursive: is_dir && (appeared || vanished),
                    // A created file is reported at its close (or after a quiet
                    // period); everything else here is complete as it stands.
                    settled: mask.intersects(
                        EventMask::CLOSE_WRITE
                            | EventMask::DELETE
                            | EventMask::MOVED_FROM
                            | EventMask::MOVED_TO,
                    ) || (is_dir && appeared),
                });
            }
        }
    }
}
