//! Access logs, from line to detection: the line is parsed with its log's format and
//! judged by the web detectors. `watch`, `verify` and `analyze` all feed lines here;
//! they differ only in where the lines come from (the follower, or whole files).

use std::collections::HashMap;
use std::sync::Arc;

use super::traffic;
use super::{FileRef, Input, WebDetectors, WebSettings};
use crate::detect::activity::Activity;
use crate::detect::source::Source as DetectionSource;
use crate::detect::Alert;
use crate::error::Result;
use crate::event::Event;
use crate::logs::follow::{Cursor, Follower, Line};
use crate::logs::parse::Parser;
use crate::logs::{positions, Position};
use crate::policy::{LogSpec, Policy};
use crate::store::Baseline;

/// Unparsable lines warned about per log before going quiet (they are still counted).
const WARNINGS_PER_LOG: u32 = 5;

pub struct AccessLogs {
    sources: Vec<Source>,
    pub detectors: WebDetectors,
    /// Requests per hour by status class, client, 404 path: saved for the report.
    pub activity: Activity,
    lines: u64,
    understood: u64,
    unparsed: u64,
    warned: HashMap<Arc<str>, u32>,
}

struct Source {
    parser: Parser,
    docroot: Option<String>,
}

impl AccessLogs {
    pub fn new(specs: &[LogSpec], web: &WebSettings) -> AccessLogs {
        AccessLogs {
            sources: specs
                .iter()
                .map(|s| Source {
                    parser: Parser::new(s.format.clone(), s.trusted_proxies.clone()),
                    docroot: s.docroot.clone(),
                })
                .collect(),
            detectors: WebDetectors::new(web),
            activity: Activity::default(),
            lines: 0,
            understood: 0,
            unparsed: 0,
            warned: HashMap::new(),
        }
    }

    /// The follower's patterns: each spec's path, by index.
    pub fn patterns(specs: &[LogSpec]) -> Vec<(String, usize)> {
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.path.clone(), i))
            .collect()
    }

    pub fn line(&mut self, line: Line<'_>, out: &mut Vec<Alert>) {
        self.lines += 1;
        let Some(source) = self.sources.get(line.source) else {
            return;
        };
        let bytes = line.bytes.strip_suffix(b"\n").unwrap_or(line.bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match source.parser.parse(bytes) {
            Ok(record) => {
                self.understood += 1;
                traffic::add(&mut self.activity, &record);
                let input = Input {
                    record: &record,
                    line: bytes,
                    log: line.file,
                    docroot: source.docroot.as_deref(),
                };
                self.detectors.observe(&input, out);
            }
            Err(e) => {
                self.unparsed += 1;
                let warned = self.warned.entry(line.file.clone()).or_default();
                *warned += 1;
                if *warned <= WARNINGS_PER_LOG {
                    tracing::warn!(
                        "{}:{}: line not understood ({e}), skipped{}",
                        line.file,
                        line.number,
                        if *warned == WARNINGS_PER_LOG {
                            "; further ones in this log are counted, not shown"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }

    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.detectors.flush(now_ms, out);
    }

    /// File events (recorded JSON) to tie requests to.
    pub fn add_file_events(&mut self, files: impl IntoIterator<Item = FileRef>) {
        for file in files {
            self.detectors.add_file(file, None);
        }
    }

    /// Lines read, and lines not understood.
    pub fn counts(&self) -> (u64, u64) {
        (self.lines, self.unparsed)
    }

    /// Lines read as requests (blank lines are neither these nor not understood).
    pub fn understood(&self) -> u64 {
        self.understood
    }

    /// The traffic summary of `fim analyze --format text`.
    pub fn traffic_lines(&self) -> Vec<String> {
        traffic::lines(&self.activity, self.unparsed)
    }
}

/// The policy's `[[log]]`s followed from their cursors: `verify` reads them once,
/// `watch` again and again.
pub struct FollowedLogs {
    follower: Follower,
    access: AccessLogs,
}

impl FollowedLogs {
    /// `None` when the policy reads no log. Starts from `cursors` (the saved ones), and
    /// knows the file events recorded in the baseline.
    pub fn open(
        baseline: &Baseline,
        policy: &Policy,
        cursors: &HashMap<String, Cursor>,
    ) -> Result<Option<FollowedLogs>> {
        if policy.logs.is_empty() {
            return Ok(None);
        }
        let mut logs = FollowedLogs {
            follower: Follower::new(AccessLogs::patterns(&policy.logs), cursors.clone()),
            access: AccessLogs::new(&policy.logs, &policy.web),
        };
        logs.access.add_file_events(FileRef::recent(baseline)?);
        Ok(Some(logs))
    }
}

impl DetectionSource for FollowedLogs {
    fn poll(&mut self, out: &mut Vec<Alert>) {
        let access = &mut self.access;
        self.follower.poll(&mut |line| access.line(line, out));
        for warning in self.follower.warnings.drain(..) {
            tracing::warn!("{warning}");
        }
    }

    fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.access.flush(now_ms, out);
    }

    fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>) {
        if let Some(file) = FileRef::from_event(event) {
            self.access.detectors.add_file(file, live_now_ms);
        }
    }

    fn cursors(&self) -> Vec<(String, Position)> {
        positions(self.follower.cursors())
    }

    fn take_activity(&mut self, into: &mut Activity) {
        into.merge(std::mem::take(&mut self.access.activity));
    }

    fn status(&self) -> String {
        let (lines, unparsed) = self.access.counts();
        let mut status = format!("{lines} access-log lines read");
        if unparsed > 0 {
            status.push_str(&format!(" ({unparsed} not understood)"));
        }
        let dropped = self.access.detectors.dropped();
        if dropped > 0 {
            status.push_str(&format!(", {dropped} counters dropped at the memory cap"));
        }
        status
    }
}

/// The cursors `fim init` records: every log at its current end.
pub fn cursors_at_end(policy: &Policy) -> Vec<(String, Position)> {
    if policy.logs.is_empty() {
        return Vec::new();
    }
    let mut follower = Follower::new(AccessLogs::patterns(&policy.logs), HashMap::new());
    follower.skip_to_end();
    positions(follower.cursors())
}
