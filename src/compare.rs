//! Compare what is on disk with a known state: the baseline for `verify`, the last
//! observed state for `watch`. One code path decides what changed, whichever way the
//! change was noticed; the callers differ only in which paths they rescan.

use std::collections::{BTreeMap, BTreeSet};

use crate::diff::{diff, Finding};
use crate::error::Result;
use crate::fs::path as bpath;
use crate::fs::{AttrSet, Attrs};
use crate::heuristics::{Reason, Sample};
use crate::policy::{Kind, Policy};
use crate::scan::{scan, DirHook, JudgeFn, SampleDir, ScanSummary, Skip, Target};

/// Entries by raw path, in byte order (so a subtree is a range).
pub type State = BTreeMap<Vec<u8>, Attrs>;

pub struct Comparison {
    /// Reportable differences, sorted by path.
    pub findings: Vec<Finding>,
    /// Every observation that differs from the known state in any way (reported or
    /// not): the new attributes, or `None` for an entry that is gone.
    pub updates: Vec<(Vec<u8>, Option<Attrs>)>,
    pub summary: ScanSummary,
    /// Watch roots in the rescanned scope that are not there (each already warned
    /// about, unless optional and never recorded).
    pub missing_roots: Vec<Vec<u8>>,
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
    let summary = scan(policy, skip, targets, on_dir, None, |entry, _| {
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

    let missing_roots = missing_roots(policy, skip, known, &seen, &summary, targets);

    // Known entries left in the rescanned scope were not found: gone, unless the policy
    // no longer watches them or they sit in a directory that could not be listed. A
    // target that is itself gone takes its whole subtree with it; a target outside
    // every watch (the folder of a root, watched to see the root come and go) is never
    // scanned, and its absence from the scan says nothing of the roots in it.
    let mut candidates = BTreeSet::new();
    match targets {
        None => candidates.extend(known.keys().cloned()),
        Some(targets) => {
            for target in targets {
                if known.contains_key(&target.path) {
                    candidates.insert(target.path.clone());
                }
                let scanned = policy.watch_of(&target.path).is_some();
                if scanned && (target.recursive || !seen.contains_key(&target.path)) {
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
    // `BTreeMap::append` rebuilds the whole tree: a watched change of one file must not
    // cost a pass over every known entry. The two maps are disjoint (each scanned entry
    // was moved out of `known`), so the smaller is inserted into the larger.
    if seen.len() > known.len() {
        std::mem::swap(known, &mut seen);
    }
    known.extend(seen);
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    assess_all(policy, &mut findings);
    Ok(Comparison {
        findings,
        updates,
        summary,
        missing_roots,
    })
}

/// The watch roots in scope that the scan did not find, each warned about: a mistyped
/// or vanished root must never look like a clean tree. An optional root that was never
/// recorded is expected to be absent and is not mentioned.
fn missing_roots(
    policy: &Policy,
    skip: &Skip,
    known: &State,
    seen: &State,
    summary: &ScanSummary,
    targets: Option<&[Target]>,
) -> Vec<Vec<u8>> {
    let in_scope = |root: &[u8]| targets.is_none_or(|t| t.iter().any(|t| t.path == root));
    let mut missing = Vec::new();
    for watch in &policy.watches {
        let root = &watch.root;
        if !in_scope(root)
            || seen.contains_key(root)
            || skip.contains(root)
            || summary.incomplete.contains(root)
            || summary.unseen(root)
        {
            continue;
        }
        let shown = bpath::lossy(root);
        if known.contains_key(root) {
            tracing::warn!(
                "{shown}: watch root is gone: it is reported deleted with everything under it"
            );
        } else if !watch.optional {
            tracing::warn!(
                "{shown}: watch root does not exist: nothing under it is monitored \
                 (mistyped? mark its [[watch]] `optional = true` if this host may lack it)"
            );
        } else {
            continue;
        }
        missing.push(root.clone());
    }
    missing
}

/// Grades each entry `init` or `policy update` takes in as a new one would be graded,
/// as the scan records it (see `scan::Judge`): a site that is already compromised
/// must not be baselined silently. `None` with the heuristics off.
pub fn judge_new(policy: &Policy) -> Option<Box<JudgeFn<'_>>> {
    let heuristics = &policy.heuristics;
    let judge = move |path: &[u8], new: &Attrs, sample: Option<Sample<'_>>| {
        let sample = sample.filter(|_| heuristics.wants_sample(Kind::New, new));
        heuristics.assess(path, rel_of(policy, path), None, new, sample.as_ref())
    };
    heuristics
        .enabled
        .then(|| Box::new(judge) as Box<JudgeFn<'_>>)
}

/// The findings of entries taken in with their judged reasons (`judge_new`): the
/// suspicious ones, sorted by path.
pub fn suspicious_new(
    policy: &Policy,
    judged: Vec<(crate::fs::Entry, Vec<Reason>)>,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = judged
        .into_iter()
        .filter(|(_, reasons)| !reasons.is_empty())
        .filter_map(|(entry, reasons)| {
            let mut finding = diff(policy, &entry.path, None, Some(entry.attrs), AttrSet::EMPTY)?;
            take_reasons(&mut finding, reasons);
            Some(finding)
        })
        .collect();
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    findings
}

/// `path` relative to the root of the watch it is in.
fn rel_of<'p>(policy: &Policy, path: &'p [u8]) -> &'p [u8] {
    policy.watch_of(path).map_or(&b""[..], |(_, rel)| rel)
}

/// A finding's severity is raised to the strongest of its reasons.
fn take_reasons(finding: &mut Finding, reasons: Vec<Reason>) {
    for reason in reasons {
        finding.severity = finding.severity.max(reason.severity);
        finding.suspicion = finding.suspicion.max(Some(reason.severity));
        finding.reasons.push(reason.text);
    }
}

/// The paths strictly below `dir` in `state`.
pub fn subtree<'a>(state: &'a State, dir: &[u8]) -> impl Iterator<Item = &'a Vec<u8>> {
    let (start, end) = bpath::subtree_bounds(dir);
    state.range(start..end).map(|(path, _)| path)
}

/// At most this many findings are assessed without the rayon pool.
const SEQUENTIAL_FINDINGS: usize = 16;

/// Apply the heuristics to new and modified entries: their reasons, and a severity
/// raised to the strongest of them; then drop the findings of `report = "suspicious"`
/// rules that got no reason (`Heuristics::silences`). This is the one place that
/// decides it, for `verify`, `watch`, `accept` and `init` alike.
fn assess_all(policy: &Policy, findings: &mut Vec<Finding>) {
    if !policy.heuristics.enabled {
        return;
    }
    assess_each(policy, findings);
    findings.retain(|f| !policy.heuristics.silences(f.report) || !f.reasons.is_empty());
}

/// Content checks read each changed file again, on every core and opening each
/// directory once, so a burst of thousands of new files is assessed about as fast as
/// it was hashed. Each sample is dropped once judged: `init` of a large tree never
/// holds more than one per core.
fn assess_each(policy: &Policy, findings: &mut [Finding]) {
    use rayon::prelude::*;
    let heuristics = &policy.heuristics;
    let view: &[Finding] = findings;
    let mut by_dir: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    let mut unsampled = Vec::new();
    for (i, f) in view.iter().enumerate() {
        let Some(new) = &f.new else { continue };
        match bpath::split_parent(&f.path) {
            Some((dir, _)) if heuristics.wants_sample(f.kind, new) => {
                by_dir.entry(dir).or_default().push(i)
            }
            _ => unsampled.push(i),
        }
    }
    let reasons_of = |i: usize, sample: Option<Sample<'_>>| {
        let finding = &view[i];
        let new = finding.new.as_ref()?;
        let rel = rel_of(policy, &finding.path);
        let reasons = heuristics.assess(
            &finding.path,
            rel,
            finding.old.as_ref(),
            new,
            sample.as_ref(),
        );
        Some((i, reasons))
    };
    let assess_dir = |(_, indices): (&[u8], Vec<usize>)| {
        let dir = SampleDir::open(policy, &view[indices[0]].path);
        indices.into_iter().filter_map(move |i| {
            let path = &view[i].path;
            let name = bpath::split_parent(path).map_or(&b""[..], |(_, n)| n);
            let sample = match &dir {
                Ok(dir) => dir.sample(name),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            let sample = sample.unwrap_or_else(|e| {
                tracing::warn!(
                    "{}: cannot read for content checks: {e}",
                    bpath::lossy(path)
                );
                None
            });
            reasons_of(i, sample.as_ref().map(|s| s.view()))
        })
    };
    // A few findings (the watch daemon's usual look) are assessed on this thread:
    // handing them to the pool and waiting for it costs more than the checks.
    let judged: Vec<(usize, Vec<crate::heuristics::Reason>)> =
        if findings.len() <= SEQUENTIAL_FINDINGS {
            by_dir.into_iter().flat_map(assess_dir).collect()
        } else {
            by_dir.into_par_iter().flat_map_iter(assess_dir).collect()
        };
    let unsampled: Vec<_> = unsampled
        .into_iter()
        .filter_map(|i| reasons_of(i, None))
        .collect();
    for (i, reasons) in judged.into_iter().chain(unsampled) {
        take_reasons(&mut findings[i], reasons);
    }
}
