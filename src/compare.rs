//! Compare what is on disk with a known state: the baseline for `verify`, the last
//! observed state for `watch`. One code path decides what changed, whichever way the
//! change was noticed; the callers differ only in which paths they rescan.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::diff::{diff, Finding};
use crate::error::Result;
use crate::fs::path as bpath;
use crate::fs::{AttrSet, Attrs};
use crate::policy::Policy;
use crate::scan::{scan_entries, DirHook, ScanSummary, Skip, Target};

/// Entries by raw path, in byte order (so a subtree is a range).
pub type State = BTreeMap<Vec<u8>, Attrs>;

pub struct Comparison {
    /// Reportable differences, sorted by path.
    pub findings: Vec<Finding>,
    /// Every observation that differs from the known state in any way (reported or
    /// not): the new attributes, or `None` for an entry that is gone. Applying them to
    /// the known state gives the current one.
    pub updates: Vec<(Vec<u8>, Option<Attrs>)>,
    pub summary: ScanSummary,
}

/// Rescan `targets` (every watch root when `None`) and compare with `known`.
/// `on_entry` sees each scanned entry (for progress).
pub fn compare(
    policy: &Policy,
    skip: &Skip,
    known: &State,
    targets: Option<&[Target]>,
    on_dir: Option<DirHook<'_>>,
    mut on_entry: impl FnMut(&Attrs),
) -> Result<Comparison> {
    let mut findings = Vec::new();
    let mut updates = Vec::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let summary = scan_entries(policy, skip, targets, on_dir, |entry| {
        on_entry(&entry.attrs);
        let old = known.get(&entry.path);
        if old != Some(&entry.attrs) {
            let masked = skip.masked(&entry.path);
            findings.extend(diff(
                policy,
                &entry.path,
                old.cloned(),
                Some(entry.attrs.clone()),
                masked,
            ));
            updates.push((entry.path.clone(), Some(entry.attrs)));
        }
        seen.insert(entry.path);
        Ok::<_, crate::Error>(())
    })?;

    // Known entries in the rescanned scope that the scan did not find are gone, unless
    // the policy no longer watches them or they sit in a directory that could not be
    // listed. A target that is itself gone takes its whole subtree with it.
    let mut gone = BTreeSet::new();
    let mut consider = |path: &Vec<u8>| {
        if !seen.contains(path)
            && policy.monitors(path)
            && !skip.contains(path)
            && !summary.unseen(path)
        {
            gone.insert(path.clone());
        }
    };
    match targets {
        None => known.keys().for_each(&mut consider),
        Some(targets) => {
            for target in targets {
                if known.contains_key(&target.path) {
                    consider(&target.path);
                }
                if target.recursive || !seen.contains(&target.path) {
                    subtree(known, &target.path).for_each(&mut consider);
                }
            }
        }
    }
    for path in gone {
        let old = known.get(&path).cloned();
        findings.extend(diff(policy, &path, old, None, AttrSet::EMPTY));
        updates.push((path, None));
    }
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Comparison {
        findings,
        updates,
        summary,
    })
}

/// The paths strictly below `dir` in `state`.
fn subtree<'a>(state: &'a State, dir: &[u8]) -> impl Iterator<Item = &'a Vec<u8>> {
    let (start, end) = bpath::subtree_bounds(dir);
    state.range(start..end).map(|(path, _)| path)
}
