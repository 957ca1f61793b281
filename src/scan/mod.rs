//! Scanning: walk the watched trees and hash every regular file, in parallel, streaming
//! each finding to one consumer on the caller's thread (which diffs or stores it while
//! the walk goes on).

pub mod hasher;
mod walk;

use std::sync::mpsc::sync_channel;

use crate::fs::{Attr, AttrSet, Entry};
use crate::policy::Policy;

/// What the scan reports, in no particular order.
#[derive(Debug)]
pub enum Found {
    Entry(Entry),
    /// Something about an entry could not be observed; the scan went on.
    Warning {
        path: Vec<u8>,
        message: String,
    },
    /// A directory whose contents could not be listed: its baseline children must not
    /// be reported deleted.
    Incomplete(Vec<u8>),
}

/// Paths the scan never records: the baseline's own files, which change on every run.
/// Exact paths only: a prefix would give an intruder a name to hide behind.
#[derive(Debug, Default, Clone)]
pub struct Skip {
    paths: Vec<Vec<u8>>,
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
        Skip { paths, parents }
    }

    pub fn contains(&self, path: &[u8]) -> bool {
        self.paths.iter().any(|p| p == path)
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

/// How many findings may wait for the consumer before the walk pauses: bounds memory
/// when the consumer (the database) is slower than the hashing.
const QUEUE: usize = 8192;

/// Scan `targets` (absolute paths inside the policy's watches; every watch root when
/// `None`) and hand each finding to `consume`. The first error from `consume` stops
/// the scan and is returned.
pub fn scan<E>(
    policy: &Policy,
    skip: &Skip,
    targets: Option<&[Vec<u8>]>,
    mut consume: impl FnMut(Found) -> Result<(), E>,
) -> Result<(), E> {
    let starts: Vec<_> = match targets {
        None => policy.watches.iter().map(|w| (w, w.root.clone())).collect(),
        Some(paths) => paths
            .iter()
            .filter(|p| policy.monitors(p) && !skip.contains(p))
            .filter_map(|p| policy.watch_of(p).map(|(w, _)| (w, p.clone())))
            .collect(),
    };
    std::thread::scope(|threads| {
        let (tx, rx) = sync_channel(QUEUE);
        threads.spawn(move || {
            let walker = walk::Walker { policy, skip, tx };
            let walker = &walker;
            rayon::scope(|s| {
                for (watch, path) in starts {
                    s.spawn(move |s| walker.walk_from(s, watch, path));
                }
            });
        });
        for found in rx {
            consume(found)?;
        }
        Ok(())
    })
}
