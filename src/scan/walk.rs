//! The walk: every entry is opened relative to its parent directory's descriptor with
//! `O_NOFOLLOW`, so a directory swapped for a symlink mid-walk cannot lead fim out of
//! the tree, and a symlink is recorded as a link. Directories are walked as rayon tasks
//! and the files of a directory are hashed in parallel, so the walk and the hashing
//! overlap on every core; results stream to the caller's thread through a channel.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use rayon::prelude::*;
use rustix::fs::{Dir, FileType as DType};
use rustix::io::Errno;

use super::hasher::{hash_stable, with_hashed_bytes, Hashed, SMALL_FILE};
use super::{read_sample, DirHook, Found, Judge, Skip};
use crate::fs::open::{self, attrs_from_stat};
use crate::fs::path as bpath;
use crate::fs::{Attrs, Entry, FileType};
use crate::heuristics::Sample;
use crate::policy::{Policy, Watch};

pub(super) struct Walker<'a> {
    pub policy: &'a Policy,
    pub skip: &'a Skip,
    pub on_dir: Option<DirHook<'a>>,
    pub judge: Option<Judge<'a>>,
    pub tx: SyncSender<Vec<Found>>,
}

/// A directory whose children are still being visited; shared by their tasks.
type Parent = Arc<Dir>;

/// What to do with an entry: record it, and (for a directory) walk what is below it.
/// An excluded folder that holds exceptions (`!pattern`) is walked, not recorded.
#[derive(Clone, Copy)]
pub struct How {
    pub descend: bool,
    pub record: bool,
}

const WALK: How = How {
    descend: true,
    record: true,
};

impl<'a> Walker<'a> {
    fn batch(&self) -> Batch<'_> {
        Batch {
            tx: &self.tx,
            judge: self.judge,
            found: Vec::new(),
        }
    }

    /// Visit the entry at `path` (a watch root or a path below it) and, when it is a
    /// directory and `recursive`, everything below it that the policy monitors.
    pub fn walk_from<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        watch: &'s Watch,
        path: Vec<u8>,
        how: How,
    ) {
        let out = &mut self.batch();
        let Some((parent_path, name)) = bpath::split_parent(&path) else {
            // Watching `/` itself: it has no parent to open it from.
            match open::open_dir_path(b"/") {
                Ok(fd) => self.visit_dir(scope, watch, fd, path, how, out),
                Err(e) => out.incomplete(path, format!("cannot open: {e}")),
            }
            return;
        };
        let Ok(name) = CString::new(name) else {
            return;
        };
        match open_parent(watch, parent_path) {
            Ok(parent) => {
                let parent = match Dir::new(parent) {
                    Ok(dir) => Arc::new(dir),
                    Err(e) => return out.incomplete(path, format!("cannot read parent: {e}")),
                };
                self.visit(scope, watch, &parent, name, path, DType::Unknown, how, out);
            }
            // The entry is gone, or an ancestor below the root is now a symlink (so the
            // path no longer exists inside the tree): nothing to record.
            Err(e) if is_gone(&e) => {}
            Err(e) => out.incomplete(path, format!("cannot open parent directory: {e}")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn visit<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        watch: &'s Watch,
        parent: &Parent,
        name: CString,
        path: Vec<u8>,
        hint: DType,
        how: How,
        out: &mut Batch<'_>,
    ) {
        let parent_fd = dir_fd(parent);
        match hint {
            DType::Directory | DType::Unknown => match open::open_dir_at(parent_fd, &name) {
                Ok(fd) => self.visit_dir(scope, watch, fd, path, how, out),
                Err(_) if !how.record => {}
                Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
                    self.visit_file(scope, watch, parent_fd, &name, path, how, out)
                }
                Err(e) => out.unopened(parent_fd, &name, path, e),
            },
            _ if !how.record => {}
            DType::RegularFile => self.visit_file(scope, watch, parent_fd, &name, path, how, out),
            _ => out.special(parent_fd, &name, path),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn visit_file<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        watch: &'s Watch,
        parent: BorrowedFd<'_>,
        name: &CStr,
        path: Vec<u8>,
        how: How,
        out: &mut Batch<'_>,
    ) {
        let fd = match open::open_file_at(parent, name) {
            Ok(fd) => fd,
            Err(e) => return out.unopened(parent, name, path, e),
        };
        let stat = match open::stat_fd(&fd) {
            Ok(st) => st,
            Err(e) => return out.warn(path, format!("cannot stat: {e}")),
        };
        match FileType::from_mode(stat.st_mode) {
            Some(FileType::File) => {}
            // Replaced by a directory since it was listed: walk what is there now.
            Some(FileType::Dir) => return self.visit_dir(scope, watch, fd, path, how, out),
            // A FIFO, socket or device: recorded, never read.
            _ => return out.special(parent, name, path),
        }
        let xattrs = open::xattrs_fd(fd.as_fd());
        let file = File::from(fd);
        let (stat, digest) = match hash_stable(&file, stat) {
            Ok(Hashed::Stable { stat, digest }) => (stat, Some(digest)),
            Ok(Hashed::KeptChanging { stat }) => {
                out.warn(
                    path.clone(),
                    "kept changing while it was hashed; recorded without a content hash".into(),
                );
                (stat, None)
            }
            Err(e) => {
                out.warn(
                    path.clone(),
                    format!("cannot read: {e}; recorded without a content hash"),
                );
                (stat, None)
            }
        };
        let Some(mut attrs) = attrs_from_stat(&stat) else {
            return;
        };
        attrs.blake3 = digest;
        attrs.xattrs = out.xattrs_or_warn(&path, xattrs);
        if out.judge.is_none() || attrs.size == 0 {
            return out.emit(path, attrs);
        }
        match digest {
            // Nothing was read between the hash and this: the bytes are still there.
            Some(_) if attrs.size <= SMALL_FILE => with_hashed_bytes(attrs.size, |bytes| {
                out.record(path, attrs, Some(Sample::of_whole(bytes)))
            }),
            _ => match read_sample(&file, attrs.size) {
                Ok(sample) => out.record(path, attrs, Some(sample.view())),
                Err(e) => {
                    out.warn(path.clone(), format!("cannot read for content checks: {e}"));
                    out.emit(path, attrs)
                }
            },
        }
    }

    fn visit_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        watch: &'s Watch,
        fd: OwnedFd,
        path: Vec<u8>,
        how: How,
        out: &mut Batch<'_>,
    ) {
        if how.record {
            let stat = match open::stat_fd(&fd) {
                Ok(st) => st,
                Err(e) => return out.incomplete(path, format!("cannot stat: {e}")),
            };
            let xattrs = open::xattrs_fd(fd.as_fd());
            if let Some(mut attrs) = attrs_from_stat(&stat) {
                attrs.xattrs = out.xattrs_or_warn(&path, xattrs);
                out.emit(path.clone(), attrs);
            }
        }
        if !how.descend {
            return;
        }
        if let Some(on_dir) = self.on_dir {
            on_dir(fd.as_fd(), &path);
        }
        let mut dir = match Dir::new(fd) {
            Ok(dir) => dir,
            Err(e) => return out.incomplete(path, format!("cannot read directory: {e}")),
        };
        let mut subdirs = Vec::new();
        let mut others = Vec::new();
        for item in dir.by_ref() {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    out.incomplete(path.clone(), format!("cannot read directory: {e}"));
                    break;
                }
            };
            let name = item.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let child = bpath::join(&path, name.to_bytes());
            let rel = bpath::relative(&child, &watch.root).unwrap_or_default();
            let hint = item.file_type();
            let could_be_dir = matches!(hint, DType::Directory | DType::Unknown);
            let how = if !watch.excludes(rel, &child) {
                WALK
            } else if could_be_dir && watch.walks_excluded(rel) {
                How {
                    descend: true,
                    record: false,
                }
            } else {
                continue;
            };
            if self.skip.contains(&child) || self.policy.is_nested_root(watch, &child) {
                continue;
            }
            let name = name.to_owned();
            match hint {
                DType::Directory => subdirs.push((name, child, how)),
                hint => others.push((name, child, hint, how)),
            }
        }
        let dir: Parent = Arc::new(dir);
        for (name, child, how) in subdirs {
            let dir = Arc::clone(&dir);
            scope.spawn(move |scope| {
                let out = &mut self.batch();
                self.visit(scope, watch, &dir, name, child, DType::Directory, how, out)
            });
        }
        // Small files hash in microseconds: splitting them finer than a few per job
        // costs more in hand-offs than it gains.
        others
            .into_par_iter()
            .with_min_len(FILES_PER_JOB)
            .for_each_init(
                || self.batch(),
                |out, (name, child, hint, how)| {
                    self.visit(scope, watch, &dir, name, child, hint, how, out)
                },
            );
    }
}

/// How many findings a task gathers before handing them to the consumer: one channel
/// hand-off (and wake-up) per batch, not per entry.
const BATCH: usize = 128;

/// Files of one directory hashed by one job, at least.
const FILES_PER_JOB: usize = 8;

/// What one walking task found, sent in batches; the rest is sent when it is dropped.
pub(super) struct Batch<'a> {
    tx: &'a SyncSender<Vec<Found>>,
    judge: Option<Judge<'a>>,
    found: Vec<Found>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.send();
    }
}

impl Batch<'_> {
    fn push(&mut self, found: Found) {
        self.found.push(found);
        if self.found.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        if !self.found.is_empty() {
            // A closed channel means the consumer failed and is reporting it; stop quietly.
            let _ = self.tx.send(std::mem::take(&mut self.found));
        }
    }

    /// Record a symlink, FIFO, socket or device from `lstat`, never opening it.
    fn special(&mut self, parent: BorrowedFd<'_>, name: &CStr, path: Vec<u8>) {
        let Some(attrs) = self.lstat_attrs(parent, name, &path) else {
            return;
        };
        self.emit(path, attrs);
    }

    /// The entry could not be opened: record what `lstat` says, and say why there is
    /// no hash or no listing when that is not simply what the entry is.
    fn unopened(&mut self, parent: BorrowedFd<'_>, name: &CStr, path: Vec<u8>, err: io::Error) {
        if is_gone(&err) && err.raw_os_error() != Some(Errno::LOOP.raw_os_error()) {
            return;
        }
        let Some(attrs) = self.lstat_attrs(parent, name, &path) else {
            return;
        };
        match attrs.file_type {
            FileType::File => self.warn(
                path.clone(),
                format!("cannot open: {err}; recorded without a content hash"),
            ),
            FileType::Dir => self.incomplete(path.clone(), format!("cannot open directory: {err}")),
            _ => {}
        }
        self.emit(path, attrs);
    }

    fn lstat_attrs(&mut self, parent: BorrowedFd<'_>, name: &CStr, path: &[u8]) -> Option<Attrs> {
        let stat = match open::stat_at(parent, name) {
            Ok(st) => st,
            Err(e) if is_gone(&e) => return None,
            Err(e) => {
                self.warn(path.to_vec(), format!("cannot stat: {e}"));
                return None;
            }
        };
        let mut attrs = attrs_from_stat(&stat)?;
        if attrs.file_type == FileType::Symlink {
            match open::read_link_at(parent, name) {
                Ok(target) => attrs.target = Some(target),
                Err(e) => self.warn(path.to_vec(), format!("cannot read link: {e}")),
            }
        }
        attrs.xattrs = self.xattrs_or_warn(path, open::xattrs_path(path));
        Some(attrs)
    }

    fn xattrs_or_warn(
        &mut self,
        path: &[u8],
        xattrs: io::Result<crate::fs::Xattrs>,
    ) -> crate::fs::Xattrs {
        xattrs.unwrap_or_else(|e| {
            self.warn(
                path.to_vec(),
                format!("cannot read extended attributes: {e}"),
            );
            Vec::new()
        })
    }

    /// Record an entry without a sample of its content.
    fn emit(&mut self, path: Vec<u8>, attrs: Attrs) {
        self.record(path, attrs, None)
    }

    /// Record an entry, with what the judge (if any) says of it and its `sample`.
    fn record(&mut self, path: Vec<u8>, attrs: Attrs, sample: Option<Sample<'_>>) {
        let reasons = self
            .judge
            .map(|judge| judge(&path, &attrs, sample))
            .unwrap_or_default();
        self.push(Found::Entry(Entry { path, attrs }, reasons));
    }

    fn warn(&mut self, path: Vec<u8>, message: String) {
        self.push(Found::Warning { path, message });
    }

    fn incomplete(&mut self, path: Vec<u8>, message: String) {
        self.warn(path.clone(), message);
        self.push(Found::Incomplete(path));
    }
}

/// Open `dir` (the root's parent, or a directory inside the watch) for `*at` calls.
/// Below the watch root every component is opened without following symlinks.
pub(super) fn open_parent(watch: &Watch, dir: &[u8]) -> io::Result<OwnedFd> {
    let Some(rel) = bpath::relative(dir, &watch.root) else {
        return open::open_dir_path(dir);
    };
    let (mut fd, components) = match bpath::split_parent(&watch.root) {
        Some((root_parent, root_name)) => {
            let fd = open::open_dir_path(root_parent)?;
            let name = std::iter::once(root_name);
            (
                fd,
                name.chain(rel.split(|b| *b == b'/')).collect::<Vec<_>>(),
            )
        }
        None => (
            open::open_dir_path(b"/")?,
            rel.split(|b| *b == b'/').collect(),
        ),
    };
    for component in components.into_iter().filter(|c| !c.is_empty()) {
        let name = CString::new(component).map_err(|_| io::Error::from(Errno::INVAL))?;
        fd = open::open_dir_at(fd.as_fd(), &name)?;
    }
    Ok(fd)
}

fn dir_fd(dir: &Dir) -> BorrowedFd<'_> {
    dir.fd().expect("a Dir always has its descriptor")
}

/// Errors that mean "there is no such entry in the tree (any more)": it vanished, or
/// a component became a symlink (which `O_NOFOLLOW` refuses to cross) or a non-directory.
fn is_gone(e: &io::Error) -> bool {
    [Errno::NOENT, Errno::LOOP, Errno::NOTDIR]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}
