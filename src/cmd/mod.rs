//! Thin orchestration, one module per subcommand. The scan, the diff and the store
//! live in the library; this is where they are wired together with the operator's UI.

mod accept;
mod analyze;
mod docs;
mod events;
mod init;
mod intake;
mod keygen;
mod policy;
mod policy_update;
mod report;
mod status;
mod verify;
mod watch;

use crate::cli::{Cli, Command, ResealArgs};
use crate::compare::State;
use crate::error::{Error, Result};
use crate::fs::Entry;
use crate::heuristics::Reason;
use crate::policy::Policy;
use crate::progress::Progress;
use crate::scan::{scan, Judge, ScanSummary, Skip, Target};
use crate::store::{Baseline, SealCheck};

/// Run the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    raise_fd_limit();
    let ui = Ui { quiet: cli.quiet };
    Ok(match cli.command {
        Command::Init(args) => init::run(&args, ui)?,
        Command::Verify(args) => verify::run(&args, ui)?,
        Command::Accept(args) => accept::run(&args, ui)?,
        Command::Watch(args) => watch::run(&args)?,
        Command::Policy(command) => policy::run(&command, ui)?,
        Command::Keygen { out, passphrase } => keygen::run(&out, passphrase)?,
        Command::Events(args) => events::run(&args)?,
        Command::Analyze(args) => analyze::run(&args)?,
        Command::Report(args) => report::run(&args)?,
        Command::Status { db } => status::run(&db.db)?,
        Command::Completions { shell } => docs::completions(shell)?,
        Command::Manpage { out } => docs::manpage(out.as_deref())?,
    })
}

#[derive(Clone, Copy)]
struct Ui {
    quiet: bool,
}

/// Scan with a progress bar, handing each entry to `on_entry`; returns the progress
/// (for the summary line) and what the scan saw besides entries.
fn scan_with_progress(
    ui: Ui,
    verb: &str,
    policy: &Policy,
    skip: &Skip,
    targets: Option<&[Target]>,
    judge: Option<Judge<'_>>,
    mut on_entry: impl FnMut(Entry, Vec<Reason>) -> Result<()>,
) -> Result<(Progress, ScanSummary)> {
    let mut progress = Progress::new(verb, None, ui.quiet);
    let summary = scan(policy, skip, targets, None, judge, |entry, reasons| {
        progress.entry(&entry.attrs);
        on_entry(entry, reasons)
    })?;
    Ok((progress, summary))
}

/// Before `accept` or `policy update` changes the baseline: check its seal (with
/// `--verify-key`, else the policy's key, else the digest), and load the key to reseal
/// it with; a signed baseline cannot be changed without one. Returns the checked
/// entries and the key.
fn open_for_change(
    baseline: &Baseline,
    policy: &Policy,
    keys: &ResealArgs,
    verb: &str,
) -> Result<(State, Option<ed25519_dalek::SigningKey>)> {
    let check = SealCheck::choose(keys.verify_key.as_deref(), policy)?;
    let known = baseline.load_entries(&check)?;
    let sign = keys
        .sign_key
        .as_deref()
        .map(crate::keys::load_signing)
        .transpose()?;
    if sign.is_none() && baseline.is_signed()? {
        return Err(Error::Usage(format!(
            "{}: the baseline is signed: {verb} needs --sign-key to reseal it",
            baseline.path().display()
        )));
    }
    Ok((known, sign))
}

/// "; N warnings" for the summary line, or nothing.
fn warnings_note(summary: &ScanSummary) -> String {
    match summary.warnings {
        0 => String::new(),
        n => format!("; {n} warnings"),
    }
}

/// Many directories are open at once during a parallel walk: use the hard limit.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
