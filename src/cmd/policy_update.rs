//! `fim policy update FILE` (Tripwire's `--update-policy`): record a new policy in the
//! baseline without `init --force`, which would swallow every drift. Only the watches
//! whose coverage changed are scanned; of what they hold, only entries the old policy
//! did not monitor are taken in.

use super::{intake, scan_with_progress, warnings_note, Ui};
use crate::cli::PolicyUpdateArgs;
use crate::error::{Error, Result};
use crate::event::format_ts;
use crate::exit;
use crate::fs::path as bpath;
use crate::policy::Policy;
use crate::scan::Target;
use crate::store::{own_files, Audit, Baseline};

pub fn run(args: &PolicyUpdateArgs, ui: Ui) -> Result<i32> {
    let db = &args.db.db;
    let mut baseline = Baseline::open(db)?;
    baseline.require_writable("policy update")?;
    let old = baseline.recorded_policy()?;
    let new = Policy::load(&args.file)?;
    super::init::check_roots(&new, &args.file)?;
    // Nothing is changed in a baseline that does not pass its own check.
    let (known, sign) = super::open_for_change(&baseline, &old, &args.keys, "policy update")?;
    let file = bpath::absolute(&args.file).map_err(|e| Error::io(&args.file, e))?;
    if new.text == old.text {
        if !ui.quiet {
            eprintln!(
                "fim policy update: {} is the recorded policy already; nothing changed",
                file.display()
            );
        }
        return Ok(exit::CLEAN);
    }

    let audit = Audit {
        ts: format_ts(chrono::Utc::now()),
        user: super::accept::operator(),
        reason: args.reason.clone(),
        paths: vec![format!("--policy {}", file.display())],
    };
    // Logs the new policy adds are taken at their end now, as `init` does.
    let saved = baseline.log_cursors()?;
    let new_logs: Vec<_> = crate::detect::source::cursors_at_end(&new)
        .into_iter()
        .filter(|(path, _)| !saved.contains_key(path))
        .collect();
    let targets = rescan_targets(&old, &new);
    let skip = own_files(db);
    // What is newly watched is graded as `init` grades what it takes in: a tree that
    // is already compromised is not taken in silently.
    let judge_new = crate::compare::judge_new(&new);
    let old = &old;
    let judge = judge_new.as_ref().map(|judge| {
        move |path: &[u8],
              attrs: &crate::fs::Attrs,
              sample: Option<crate::heuristics::Sample<'_>>| {
            if old.monitors(path) {
                Vec::new()
            } else {
                judge(path, attrs, sample)
            }
        }
    });
    let mut scanned = None;
    let mut suspicious = Vec::new();
    let update = baseline.update_policy(&new, &known, &audit, &new_logs, sign.as_ref(), |put| {
        if targets.is_empty() {
            return Ok(());
        }
        let mut judged = Vec::new();
        let judge = judge.as_ref().map(|j| j as crate::scan::Judge<'_>);
        let (mut progress, summary) = scan_with_progress(
            ui,
            "policy update",
            &new,
            &skip,
            Some(&targets),
            judge,
            |e, reasons| {
                if old.monitors(&e.path) {
                    // Kept as the baseline has it (or lacks it): drift stays reported.
                    return Ok(());
                }
                if !reasons.is_empty() {
                    judged.push((e.clone(), reasons));
                }
                put(e)
            },
        )?;
        progress.stop();
        // Refusing critical entries fails the closure: nothing is recorded.
        let assessed = intake::events(crate::compare::suspicious_new(&new, judged));
        suspicious =
            intake::check_suspicious(ui, "policy update", assessed, args.accept_suspicious)?;
        scanned = Some((progress, summary));
        Ok(())
    })?;
    if !suspicious.is_empty() {
        baseline.record_events(&suspicious)?;
    }
    if !ui.quiet {
        let note = scanned
            .as_ref()
            .map(|(_, summary)| warnings_note(summary))
            .unwrap_or_default();
        let kept = known.len() as u64 - update.dropped;
        eprintln!(
            "fim policy update: policy recorded from {} by {}: {} newly watched entries \
             taken in, {} no longer watched dropped, {kept} kept as they were{note}; \
             {} watch roots scanned; seal {}",
            file.display(),
            audit.user,
            update.added,
            update.dropped,
            targets.len(),
            baseline.seal_digest()?
        );
    }
    Ok(exit::CLEAN)
}

/// The roots of `new` whose coverage may differ from `old`'s: roots `old` lacks, and
/// roots whose excludes or nested roots changed. Only these are scanned.
fn rescan_targets(old: &Policy, new: &Policy) -> Vec<Target> {
    new.watches
        .iter()
        .filter(|w| {
            let unchanged = old.watches.iter().any(|o| {
                o.root == w.root
                    && o.exclude_text == w.exclude_text
                    && nested_roots(old, &o.root) == nested_roots(new, &w.root)
            });
            !unchanged
        })
        .map(|w| Target {
            path: w.root.clone(),
            recursive: true,
        })
        .collect()
}

/// The watch roots strictly below `root`, sorted.
fn nested_roots<'p>(policy: &'p Policy, root: &[u8]) -> Vec<&'p [u8]> {
    let mut roots: Vec<&[u8]> = policy
        .watches
        .iter()
        .map(|w| &w.root[..])
        .filter(|r| *r != root && bpath::relative(r, root).is_some())
        .collect();
    roots.sort_unstable();
    roots
}
