//! Operator feedback on stderr: a progress bar on a terminal, a one-line summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fs::{Attrs, FileType};

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    pub entries: u64,
    pub bytes: u64,
    quiet: bool,
    /// How long the scan took, fixed when the bar is cleared: the speed is the
    /// scan's, not that of what follows (writing the report, retrying sinks).
    took: Option<Duration>,
}

impl Progress {
    /// `expected`: how many entries the scan should find, when known (the baseline's).
    pub fn new(verb: &str, expected: Option<u64>, quiet: bool) -> Progress {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = match expected {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template(
                            "{prefix} [{bar:30}] {pos}/{len} entries, {msg} ({elapsed})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    ),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template(
                            "{prefix} {spinner} {pos} entries, {msg} ({elapsed})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    ),
            };
            bar.set_prefix(verb.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        Progress {
            bar,
            started: Instant::now(),
            entries: 0,
            bytes: 0,
            quiet,
            took: None,
        }
    }

    pub fn entry(&mut self, attrs: &Attrs) {
        self.entries += 1;
        if attrs.file_type == FileType::File && attrs.blake3.is_some() {
            self.bytes += attrs.size;
        }
        if self.entries.is_multiple_of(256) && !self.bar.is_hidden() {
            self.bar.set_position(self.entries);
            self.bar.set_message(human_bytes(self.bytes));
        }
    }

    /// The scan is over: clear the bar (before anything else is printed on the
    /// terminal) and fix its duration.
    pub fn stop(&mut self) {
        self.bar.finish_and_clear();
        self.took.get_or_insert_with(|| self.started.elapsed());
    }

    /// Stop, and print `fim VERB: N entries, X MB hashed in S s (R MB/s)SUFFIX`.
    pub fn finish(mut self, verb: &str, suffix: &str) {
        self.stop();
        if self.quiet {
            return;
        }
        let secs = self.took.unwrap_or_default().as_secs_f64();
        let entries = plural(self.entries, "entry", "entries");
        let hashed = match self.bytes {
            0 => format!("nothing hashed, in {secs:.2} s"),
            b => format!(
                "{} hashed in {secs:.2} s ({:.0} MB/s)",
                human_bytes(b),
                b as f64 / 1e6 / secs.max(1e-9)
            ),
        };
        eprintln!("fim {verb}: {entries}, {hashed}{suffix}");
    }
}

/// "1 entry", "2 entries".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}
