//! Thin orchestration, one module per subcommand. The scan, the diff and the store
//! live in the library; this is where they are wired together with the operator's UI.

mod accept;
mod events;
mod init;
mod intake;
mod keygen;
mod policy;
mod verify;
mod watch;

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::fs::Entry;
use crate::policy::Policy;
use crate::progress::Progress;
use crate::scan::{scan, ScanSummary, Skip, Target};

/// Run the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    raise_fd_limit();
    let ui = Ui { quiet: cli.quiet };
    Ok(match cli.command {
        Command::Init(args) => init::run(&args, ui)?,
        Command::Verify(args) => verify::run(&args, ui)?,
        Command::Accept(args) => accept::run(&args, ui)?,
        Command::Watch(args) => watch::run(&args)?,
        Command::Policy(command) => policy::run(&command)?,
        Command::Keygen { out, passphrase } => keygen::run(&out, passphrase)?,
        Command::Events(args) => events::run(&args)?,
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
    mut on_entry: impl FnMut(Entry) -> Result<()>,
) -> Result<(Progress, ScanSummary)> {
    let mut progress = Progress::new(verb, None, ui.quiet);
    let summary = scan(policy, skip, targets, None, |entry| {
        progress.entry(&entry.attrs);
        on_entry(entry)
    })?;
    Ok((progress, summary))
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
