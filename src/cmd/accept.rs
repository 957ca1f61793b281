//! `fim accept`: take the current state of paths (or everything) into the baseline.
//!
//! The scope is compared with the baseline first, as `verify` compares it: what is
//! taken in is listed, its suspicious entries are assessed (see `intake`), and only
//! then is the baseline changed, in one transaction.

use std::io::IsTerminal;

use super::{intake, warnings_note, Ui};
use crate::cli::AcceptArgs;
use crate::compare::{compare, subtree, State};
use crate::error::{Error, Result};
use crate::event::format_ts;
use crate::exit;
use crate::fs::path as bpath;
use crate::fs::Entry;
use crate::progress::{plural, Progress};
use crate::scan::Target;
use crate::store::{own_files, Audit, Baseline};

pub fn run(args: &AcceptArgs, ui: Ui) -> Result<i32> {
    let db = &args.db.db;
    let mut baseline = Baseline::open(db)?;
    baseline.require_writable("accept")?;
    let policy = baseline.recorded_policy()?;
    // Nothing is changed in a baseline that does not pass its own check.
    let (mut known, sign) = super::open_for_change(&baseline, &policy, &args.keys, "accept")?;
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
            // A typo must not pass for an accepted deletion.
            if !known.contains_key(&bytes) && std::fs::symlink_metadata(&abs).is_err() {
                return Err(Error::Usage(format!(
                    "{}: neither in the baseline nor on disk; nothing to accept",
                    abs.display()
                )));
            }
            scopes.push(bytes);
        }
        Some(scopes)
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
    let mut progress = Progress::new("accept", None, ui.quiet);
    let comparison = compare(&policy, &skip, &mut known, targets.as_deref(), None, |a| {
        progress.entry(a)
    })?;
    progress.stop();
    let taken = intake::events(comparison.findings);
    intake::list_taken(ui, &taken);
    let suspicious = intake::check_suspicious(ui, "accept", taken, args.accept_suspicious)?;

    let audit = Audit {
        ts: format_ts(chrono::Utc::now()),
        user: operator(),
        reason: reason(args)?,
        paths: match &scopes {
            None => vec!["--all".to_owned()],
            Some(s) => s.iter().map(|p| bpath::lossy(p).into_owned()).collect(),
        },
    };
    let written = baseline.accept(scopes.as_deref(), &audit, sign.as_ref(), |put| {
        for entry in in_scopes(known, scopes.as_deref()) {
            put(entry)?;
        }
        Ok(())
    })?;
    baseline.record_events(&suspicious)?;
    let note = warnings_note(&comparison.summary);
    let taken = format!(
        "{} under the accepted paths now in the baseline, accepted by {}; seal {}",
        plural(written, "entry", "entries"),
        audit.user,
        baseline.seal_digest()?
    );
    let recorded = intake::recorded_note(&suspicious);
    progress.finish("accept", &format!("{note}; {taken}{recorded}"));
    Ok(exit::CLEAN)
}

/// The entries of the current state inside `scopes` (all when `None`), each once.
fn in_scopes(mut state: State, scopes: Option<&[Vec<u8>]>) -> impl Iterator<Item = Entry> {
    if let Some(scopes) = scopes {
        let mut inside = State::new();
        for scope in scopes {
            let below: Vec<Vec<u8>> = subtree(&state, scope).cloned().collect();
            for path in below.into_iter().chain([scope.clone()]) {
                if let Some(attrs) = state.remove(&path) {
                    inside.insert(path, attrs);
                }
            }
        }
        state = inside;
    }
    state.into_iter().map(|(path, attrs)| Entry { path, attrs })
}

/// `--reason`, else asked for on a terminal (an accept is audited: the reason is what
/// the next reader of the trail needs), else none.
fn reason(args: &AcceptArgs) -> Result<Option<String>> {
    if args.reason.is_some() || !std::io::stdin().is_terminal() {
        return Ok(args.reason.clone());
    }
    eprint!("Reason for this accept (kept in the audit trail): ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("<stdin>", e))?;
    let line = line.trim();
    Ok((!line.is_empty()).then(|| line.to_owned()))
}

/// Who is accepting: the human behind sudo when there is one.
pub(super) fn operator() -> String {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    env("SUDO_USER")
        .or_else(|| env("USER"))
        .or_else(|| env("LOGNAME"))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}
