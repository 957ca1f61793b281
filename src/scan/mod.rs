//! Scanning: walk the watched trees and hash every regular file, in parallel, streaming
//! each finding to one consumer on the caller's thread (which diffs or stores it while
//! the walk goes on).

pub mod hasher;
mod walk;

use std::sync::mpsc::sync_channel;

use crate::fs::{Attr, AttrSet, Attrs, Entry};
use crate::heuristics::{sample_ranges, Reason, Sample, SampleBuf};
use crate::policy::{Coverage, Policy};

/// What the walk reports, in no particular order.
#[derive(Debug)]
enum Found {
    /// An entry, and what the scan's judge said of it.
    Entry(Entry, Vec<Reason>),
    /// Something about an entry could not be observed; the scan went on.
    Warning { path: Vec<u8>, message: String },
    /// A directory whose contents could not be listed: its baseline children must not
    /// be reported deleted.
    Incomplete(Vec<u8>),
}

/// Paths the scan never records: the baseline's own files, which change on every run.
/// Exact paths only: a prefix would give an intruder a name to hide behind.
#[derive(Debug, Default, Clone)]
pub struct Skip {
    /// Looked up for every entry of every scan.
    paths: std::collections::HashSet<Vec<u8>>,
    /// Directories holding those files: creating and removing a WAL changes their
    /// mtime, ctime and size, which says nothing about an intruder.
    parents: Vec<Vec<u8>>,
}

impl Skip {
    pub fn new(paths: Vec<Vec<u8>>) -> Self {
        let mut parents: Vec<Vec<u8>> = paths
            .iter()
            .filter_map(|p| crate::fs::path::split_parent(p).map(|(dir, _)| dir.to_vec()))
            .collect();
        parents.sort();
        parents.dedup();
        Skip {
            paths: paths.into_iter().collect(),
            parents,
        }
    }

    /// Also skip the file at `path` (such as the event log fim appends to: reporting
    /// it would report each report). The folder holding it is not masked.
    pub fn add_file(&mut self, path: &std::path::Path) {
        if let Ok(abs) = crate::fs::path::absolute(path) {
            self.paths.insert(crate::fs::path::bytes(&abs).to_vec());
        }
        if let Ok(real) = path.canonicalize() {
            self.paths.insert(crate::fs::path::bytes(&real).to_vec());
        }
    }

    pub fn contains(&self, path: &[u8]) -> bool {
        self.paths.contains(path)
    }

    /// Attributes not to compare for `path` because the skipped files change them.
    pub fn masked(&self, path: &[u8]) -> AttrSet {
        if self.parents.iter().any(|p| p == path) {
            [Attr::Mtime, Attr::Ctime, Attr::Size].into_iter().collect()
        } else {
            AttrSet::EMPTY
        }
    }
}

/// Something to scan: an entry and, when `recursive`, everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: Vec<u8>,
    pub recursive: bool,
}

/// Called with each directory's open descriptor and path before it is listed, so that
/// whatever is created in it afterwards is noticed by the caller (the watch daemon
/// places its inotify watch there) and whatever was there before is listed.
pub type DirHook<'a> = &'a (dyn Fn(std::os::fd::BorrowedFd<'_>, &[u8]) + Sync);

/// Judges each entry as the walk records it, regular files with the sample of what
/// was read to hash them: `init` and `policy update` assess everything they take in,
/// and this reads each file once instead of twice (reopening it, and every folder
/// above it, to sample it after the scan was 0.6 s of `init`'s 1.6 s on the Linux tree).
pub type Judge<'a> = &'a JudgeFn<'a>;
pub type JudgeFn<'a> = dyn Fn(&[u8], &Attrs, Option<Sample<'_>>) -> Vec<Reason> + Sync + 'a;

/// How many batches of findings may wait for the consumer before the walk pauses:
/// bounds memory when the consumer (the database) is slower than the hashing.
const QUEUE: usize = 64;

/// At most this many non-recursive targets are looked at on the caller's thread.
const INLINE_STARTS: usize = 64;
// Each inline start sends at most one batch before anything is consumed.
const _: () = assert!(INLINE_STARTS <= QUEUE);

/// What a scan saw besides its entries.
#[derive(Debug, Default)]
pub struct ScanSummary {
    pub warnings: u64,
    /// Directories that could not be listed.
    pub incomplete: Vec<Vec<u8>>,
}

impl ScanSummary {
    /// Is `path` inside a directory the scan could not list (so its absence proves nothing)?
    pub fn unseen(&self, path: &[u8]) -> bool {
        self.incomplete
            .iter()
            .any(|dir| path != &dir[..] && crate::fs::path::relative(path, dir).is_some())
    }
}

/// Scan `targets` (paths inside the policy's watches; every watch root when `None`)
/// and hand each entry to `on_entry`, with the `judge`'s reasons (none without one);
/// warnings are logged and counted, directories that could not be listed are
/// collected. The first error from `on_entry` stops the scan and is returned.
pub fn scan<E>(
    policy: &Policy,
    skip: &Skip,
    targets: Option<&[Target]>,
    on_dir: Option<DirHook<'_>>,
    judge: Option<Judge<'_>>,
    on_entry: impl FnMut(Entry, Vec<Reason>) -> Result<(), E>,
) -> Result<ScanSummary, E> {
    let starts: Vec<_> = match targets {
        None => policy
            .watches
            .iter()
            .map(|w| {
                (
                    w,
                    w.root.clone(),
                    walk::How {
                        descend: true,
                        record: true,
                    },
                )
            })
            .collect(),
        Some(targets) => targets
            .iter()
            .filter(|t| !skip.contains(&t.path))
            .filter_map(|t| {
                let (watch, _) = policy.watch_of(&t.path)?;
                let record = match policy.coverage(&t.path) {
                    Coverage::Monitored => true,
                    // Only to reach the exceptions below an excluded folder.
                    Coverage::Walked => false,
                    Coverage::Outside => return None,
                };
                let how = walk::How {
                    descend: t.recursive || !record,
                    record,
                };
                Some((watch, t.path.clone(), how))
            })
            .collect(),
    };
    let (tx, rx) = sync_channel(QUEUE);
    // The watch daemon's usual look: a few entries, nothing to descend into. Waking a
    // walking thread and the rayon pool for them costs more than the look itself (the
    // latency tail of issue 10); each start sends one small batch, and the queue holds
    // more batches than there are inline starts, so walking before consuming cannot block.
    if starts.len() <= INLINE_STARTS && starts.iter().all(|(_, _, how)| !how.descend) {
        let walker = walk::Walker {
            policy,
            skip,
            on_dir,
            judge,
            tx,
        };
        rayon::in_place_scope(|s| {
            for (watch, path, how) in starts {
                walker.walk_from(s, watch, path, how);
            }
        });
        drop(walker);
        return consume(rx, on_entry);
    }
    std::thread::scope(|threads| {
        threads.spawn(move || {
            let walker = walk::Walker {
                policy,
                skip,
                on_dir,
                judge,
                tx,
            };
            let walker = &walker;
            rayon::scope(|s| {
                for (watch, path, how) in starts {
                    s.spawn(move |s| walker.walk_from(s, watch, path, how));
                }
            });
        });
        consume(rx, on_entry)
    })
}

/// Hand what the walk found to `on_entry` until the walk ends (or `on_entry` fails).
fn consume<E>(
    rx: std::sync::mpsc::Receiver<Vec<Found>>,
    mut on_entry: impl FnMut(Entry, Vec<Reason>) -> Result<(), E>,
) -> Result<ScanSummary, E> {
    let mut summary = ScanSummary::default();
    for found in rx.into_iter().flatten() {
        match found {
            Found::Entry(entry, reasons) => on_entry(entry, reasons)?,
            Found::Warning { path, message } => {
                summary.warnings += 1;
                tracing::warn!("{}: {message}", crate::fs::path::lossy(&path));
            }
            Found::Incomplete(path) => summary.incomplete.push(path),
        }
    }
    Ok(summary)
}

/// A directory inside the watches, opened the way the walk opens it (never through a
/// symlink below the watch root), for reading samples of the files in it.
pub struct SampleDir(std::os::fd::OwnedFd);

impl SampleDir {
    /// Open the directory holding `file` (a path inside the policy's watches).
    pub fn open(policy: &Policy, file: &[u8]) -> std::io::Result<SampleDir> {
        let not_found = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let (watch, _) = policy.watch_of(file).ok_or_else(not_found)?;
        let (dir, _) = crate::fs::path::split_parent(file).ok_or_else(not_found)?;
        walk::open_parent(watch, dir).map(SampleDir)
    }

    /// The sample of the regular file `name` in this directory (never blocking);
    /// `None` when it is no longer a regular file.
    pub fn sample(&self, name: &[u8]) -> std::io::Result<Option<SampleBuf>> {
        let name = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
        let fd = crate::fs::open::open_file_at(std::os::fd::AsFd::as_fd(&self.0), &name)?;
        let stat = crate::fs::open::stat_fd(&fd)?;
        if crate::fs::FileType::from_mode(stat.st_mode) != Some(crate::fs::FileType::File) {
            return Ok(None);
        }
        read_sample(&std::fs::File::from(fd), stat.st_size as u64).map(Some)
    }
}

/// The sample of the open regular `file` of `size` bytes (what it holds of it now).
fn read_sample(file: &std::fs::File, size: u64) -> std::io::Result<SampleBuf> {
    let (head, tail) = sample_ranges(size);
    let read = |range: std::ops::Range<usize>| -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0; range.len()];
        let filled = hasher::read_at_most(file, &mut buf, range.start as u64)?;
        buf.truncate(filled);
        Ok(buf)
    };
    Ok(SampleBuf {
        head: read(head)?,
        tail: read(tail)?,
    })
}

/// A sample of the file at `path` (see `SampleDir::sample`).
pub fn sample(policy: &Policy, path: &[u8]) -> std::io::Result<Option<SampleBuf>> {
    let Some((_, name)) = crate::fs::path::split_parent(path) else {
        return Ok(None);
    };
    SampleDir::open(policy, path)?.sample(name)
}
