//! `fim accept`: take the current state of paths (or everything) into the baseline.

use super::{scan_with_progress, warnings_note, Ui};
use crate::cli::AcceptArgs;
use crate::error::{Error, Result};
use crate::event::format_ts;
use crate::exit;
use crate::fs::path as bpath;
use crate::scan::Target;
use crate::store::{own_files, Audit, Baseline};

pub fn run(args: &AcceptArgs, ui: Ui) -> Result<i32> {
    let db = &args.db.db;
    let mut baseline = Baseline::open(db)?;
    let policy = baseline.recorded_policy()?;
    // Nothing is changed in a baseline that does not pass its own check.
    let (known, sign) = super::open_for_change(&baseline, &policy, &args.keys, "accept")?;
    drop(known);
    if args.listeners {
        let listeners = crate::procs::current_listeners();
        let audit = Audit {
            ts: format_ts(chrono::Utc::now()),
            user: operator(),
            reason: args.reason.clone(),
            paths: vec!["--listeners".to_owned()],
        };
        baseline.accept_listeners(&listeners, &audit)?;
        if !ui.quiet {
            eprintln!(
                "fim accept: {} listeners taken as known by {}",
                listeners.len(),
                audit.user
            );
        }
        return Ok(exit::CLEAN);
    }
    let skip = own_files(db);

    let scopes: Option<Vec<Vec<u8>>> = if args.all {
        None
    } else {
        let mut scopes = Vec::with_capacity(args.paths.len());
        for path in &args.paths {
            let abs = bpath::absolute(path).map_err(|e| Error::io(path, e))?;
            let bytes = bpath::bytes(&abs).to_vec();
            if policy.watch_of(&bytes).is_none() {
                return Err(Error::Usage(format!(
                    "{}: not under any watched root of the baseline's policy",
                    abs.display()
                )));
            }
            if !policy.monitors(&bytes) {
                return Err(Error::Usage(format!(
                    "{}: excluded by the baseline's policy; nothing to accept",
                    abs.display()
                )));
            }
            scopes.push(bytes);
        }
        Some(scopes)
    };

    let audit = Audit {
        ts: format_ts(chrono::Utc::now()),
        user: operator(),
        reason: args.reason.clone(),
        paths: match &scopes {
            None => vec!["--all".to_owned()],
            Some(s) => s.iter().map(|p| bpath::lossy(p).into_owned()).collect(),
        },
    };
    let targets: Option<Vec<Target>> = scopes.as_ref().map(|scopes| {
        scopes
            .iter()
            .map(|path| Target {
                path: path.clone(),
                recursive: true,
            })
            .collect()
    });
    let mut scanned = None;
    let written = baseline.accept(scopes.as_deref(), &audit, sign.as_ref(), |put| {
        let targets = targets.as_deref();
        scanned = Some(scan_with_progress(
            ui, "accept", &policy, &skip, targets, put,
        )?);
        Ok(())
    })?;
    if let Some((progress, summary)) = scanned {
        let note = warnings_note(&summary);
        let taken = format!(
            "{written} entries taken into the baseline by {}; seal {}",
            audit.user,
            baseline.seal_digest()?
        );
        progress.finish("accept", &format!("{note}; {taken}"));
    }
    Ok(exit::CLEAN)
}

/// Who is accepting: the human behind sudo when there is one.
pub(super) fn operator() -> String {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    env("SUDO_USER")
        .or_else(|| env("USER"))
        .or_else(|| env("LOGNAME"))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}
