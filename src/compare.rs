//! Compare what is on disk with a known state: the baseline for `verify`, the last
//! observed state for `watch`. One code path decides what changed, whichever way the
//! change was noticed; the callers differ only in which paths they rescan.

use std::collections::{BTreeMap, BTreeSet};

use crate::diff::{diff, Finding};
use crate::error::Result;
use crate::fs::path as bpath;
use crate::fs::{AttrSet, Attrs};
use crate::heuristics::{SAMPLE_HEAD, SAMPLE_TAIL};
use crate::policy::Policy;
use crate::scan::{self, scan, DirHook, ScanSummary, Skip, Target};

/// Entries by raw path, in byte order (so a subtree is a range).
pub type State = BTreeMap<Vec<u8>, Attrs>;

pub struct Comparison {
    /// Reportable differences, sorted by path.
    pub findings: Vec<Finding>,
    /// Every observation that differs from the known state in any way (reported or
    /// not): the new attributes, or `None` for an entry that is gone.
    pub updates: Vec<(Vec<u8>, Option<Attrs>)>,
    pub summary: ScanSummary,
}

/// Rescan `targets` (every watch root when `None`), compare with `known`, and bring
/// `known` up to date. `on_entry` sees each scanned entry (for progress).
///
/// Each scanned entry moves its known state out of `known`, so what is left in the
/// rescanned scope afterwards is exactly what the scan did not find: no second set of
/// paths is built, and memory stays that of one state.
pub fn compare(
    policy: &Policy,
    skip: &Skip,
    known: &mut State,
    targets: Option<&[Target]>,
    on_dir: Option<DirHook<'_>>,
    mut on_entry: impl FnMut(&Attrs),
) -> Result<Comparison> {
    let mut findings = Vec::new();
    let mut updates = Vec::new();
    let mut seen = State::new();
    let summary = scan(policy, skip, targets, on_dir, |entry| {
        on_entry(&entry.attrs);
        // Overlapping targets can show an entry twice: the second time, compare with
        // the first.
        let old = known
            .remove(&entry.path)
            .or_else(|| seen.get(&entry.path).cloned());
        if old.as_ref() != Some(&entry.attrs) {
            let masked = skip.masked(&entry.path);
            findings.extend(diff(
                policy,
                &entry.path,
                old,
                Some(entry.attrs.clone()),
                masked,
            ));
            updates.push((entry.path.clone(), Some(entry.attrs.clone())));
        }
        seen.insert(entry.path, entry.attrs);
        Ok::<_, crate::Error>(())
    })?;

    // Known entries left in the rescanned scope were not found: gone, unless the policy
    // no longer watches them or they sit in a directory that could not be listed. A
    // target that is itself gone takes its whole subtree with it.
    let mut candidates = BTreeSet::new();
    match targets {
        None => candidates.extend(known.keys().cloned()),
        Some(targets) => {
            for target in targets {
                if known.contains_key(&target.path) {
                    candidates.insert(target.path.clone());
                }
                if target.recursive || !seen.contains_key(&target.path) {
                    candidates.extend(subtree(known, &target.path).cloned());
                }
            }
        }
    }
    for path in candidates {
        if policy.monitors(&path) && !skip.contains(&path) && !summary.unseen(&path) {
            let old = known.remove(&path);
            findings.extend(diff(policy, &path, old, None, AttrSet::EMPTY));
            updates.push((path, None));
        }
    }
    known.append(&mut seen);
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    for finding in &mut findings {
        assess(policy, finding);
    }
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

/// Apply the heuristics to a new or modified entry: its reasons, and a severity raised
/// to the strongest of them.
fn assess(policy: &Policy, finding: &mut Finding) {
    let heuristics = &policy.heuristics;
    let Some(new) = &finding.new else {
        return;
    };
    let sample = if heuristics.wants_sample(finding.kind, new) {
        match scan::sample(policy, &finding.path, SAMPLE_HEAD, SAMPLE_TAIL) {
            Ok(sample) => sample,
            Err(e) => {
                tracing::warn!(
                    "{}: cannot read for content checks: {e}",
                    bpath::lossy(&finding.path)
                );
                None
            }
        }
    } else {
        None
    };
    let rel = policy
        .watch_of(&finding.path)
        .map_or(&b""[..], |(_, rel)| rel);
    let reasons = heuristics.assess(
        &finding.path,
        rel,
        finding.old.as_ref(),
        new,
        sample.as_ref(),
    );
    for reason in reasons {
        finding.severity = finding.severity.max(reason.severity);
        finding.reasons.push(reason.text);
    }
}
