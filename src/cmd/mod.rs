//! Thin orchestration, one module per subcommand. The scan, the diff and the store
//! live in the library; this is where they are wired together with the operator's UI.

mod accept;
mod events;
mod init;
mod verify;

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::fs::Entry;
use crate::policy::Policy;
use crate::progress::Progress;
use crate::scan::{self, Found, Skip};

/// Run the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    raise_fd_limit();
    let ui = Ui { quiet: cli.quiet };
    Ok(match cli.command {
        Command::Init(args) => init::run(&args, ui)?,
        Command::Verify(args) => verify::run(&args, ui)?,
        Command::Accept(args) => accept::run(&args, ui)?,
        Command::Events(args) => events::run(&args)?,
    })
}

#[derive(Clone, Copy)]
struct Ui {
    quiet: bool,
}

/// What a scan saw besides its entries.
struct ScanReport {
    progress: Progress,
    warnings: u64,
    /// Directories that could not be listed.
    incomplete: Vec<Vec<u8>>,
}

impl ScanReport {
    /// Is `path` inside a directory the scan could not list (so its absence proves nothing)?
    fn unseen(&self, path: &[u8]) -> bool {
        self.incomplete
            .iter()
            .any(|dir| path != &dir[..] && crate::fs::path::relative(path, dir).is_some())
    }

    fn finish(&self, verb: &str, suffix: &str) {
        let warned = match self.warnings {
            0 => String::new(),
            n => format!("; {n} warnings"),
        };
        self.progress.finish(verb, &format!("{warned}{suffix}"));
    }
}

/// Scan with a progress bar, logging warnings, handing each entry to `on_entry`.
fn scan_entries(
    ui: Ui,
    verb: &str,
    policy: &Policy,
    skip: &Skip,
    targets: Option<&[Vec<u8>]>,
    expected: Option<u64>,
    mut on_entry: impl FnMut(Entry) -> Result<()>,
) -> Result<ScanReport> {
    let mut report = ScanReport {
        progress: Progress::new(verb, expected, ui.quiet),
        warnings: 0,
        incomplete: Vec::new(),
    };
    scan::scan(policy, skip, targets, |found| {
        match found {
            Found::Entry(entry) => {
                report.progress.entry(&entry.attrs);
                on_entry(entry)?;
            }
            Found::Warning { path, message } => {
                report.warnings += 1;
                tracing::warn!("{}: {message}", crate::fs::path::lossy(&path));
            }
            Found::Incomplete(path) => report.incomplete.push(path),
        }
        Ok(())
    })?;
    Ok(report)
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
