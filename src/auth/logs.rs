//! Auth logs, from line to detection, and the followed ones as a detection source:
//! `[logins] files` read by the one log follower with its cursors, and the journal
//! from its own cursor, so `watch` and `verify` resume where they stopped. What the detectors learn of users' sources is
//! saved in the baseline after each poll.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::journal::Journal;
use super::learned::Learned;
use super::parse::{self, Action, Header};
use super::session::{Index, Sessions};
use super::{AuthDetectors, Input, LoginSettings};
use crate::detect::activity::{Activity, Counter};
use crate::detect::source::Source;
use crate::detect::{evidence_line, Alert};
use crate::error::Result;
use crate::event::Event;
use crate::logs::follow::{Cursor, Follower, Line};
use crate::logs::{positions, Position};
use crate::policy::Policy;
use crate::store::Baseline;

/// Lines judged by the auth detectors, wherever they come from.
pub struct AuthLogs {
    pub detectors: AuthDetectors,
    /// The sessions of the logins reported, to tie what they changed.
    pub sessions: Sessions,
    clock: parse::Clock,
    /// Logins that succeeded and failed, per hour: saved for the report.
    pub activity: Activity,
    lines: u64,
    understood: u64,
    failed_connections: FailedConnections,
}

/// The sshd connections (by pid) that told a failure lately: a connection its client
/// then abandons is no further failure.
#[derive(Default)]
struct FailedConnections(VecDeque<u32>);

/// Connections remembered: far more than sshd lets authenticate at once
/// (`MaxStartups`, 10 by default).
const FAILED_CONNECTIONS: usize = 512;

impl FailedConnections {
    /// Is `record` a failure, once abandoned connections that told none count as one?
    fn judge(&mut self, record: &mut parse::AuthRecord<'_>) {
        let Some(pid) = record.pid else {
            return;
        };
        match record.action {
            Action::Failed | Action::InvalidUser if !self.0.contains(&pid) => {
                if self.0.len() == FAILED_CONNECTIONS {
                    self.0.pop_front();
                }
                self.0.push_back(pid);
            }
            Action::Abandoned if !self.0.contains(&pid) => record.action = Action::Failed,
            _ => {}
        }
    }
}

impl AuthLogs {
    pub fn new(settings: &LoginSettings, learned: Learned) -> AuthLogs {
        AuthLogs {
            detectors: AuthDetectors::new(settings, learned),
            sessions: Sessions::default(),
            clock: parse::Clock::new(Utc::now()),
            activity: Activity::default(),
            lines: 0,
            understood: 0,
            failed_connections: FailedConnections::default(),
        }
    }

    /// One syslog line; lines of other programs, or not understood, are skipped
    /// silently (an auth log holds cron's and others' lines too).
    pub fn line(&mut self, line: Line<'_>, out: &mut Vec<Alert>) {
        self.lines += 1;
        let bytes = line.bytes.strip_suffix(b"\n").unwrap_or(line.bytes);
        // Checked first: valid UTF-8 (nearly every line) is borrowed, and checking is
        // much cheaper than the lossy conversion's walk.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        self.clock.now = Utc::now();
        if let Some(header) = parse::header_at(&text, &mut self.clock) {
            self.record(&header, bytes, line.file, out);
        }
    }

    /// A syslog header and message (a line's, or a journal entry's), with its raw line.
    pub fn record(
        &mut self,
        header: &Header<'_>,
        line: &[u8],
        log: &Arc<str>,
        out: &mut Vec<Alert>,
    ) {
        if let Some(mut record) = parse::record(header) {
            self.understood += 1;
            self.failed_connections.judge(&mut record);
            let outcome = match record.action {
                Action::Accepted { .. } => Some("ok"),
                Action::Failed | Action::InvalidUser => Some("failed"),
                _ => None,
            };
            if let Some(outcome) = outcome {
                self.activity
                    .add(record.ts.timestamp_millis(), Counter::Login, outcome);
            }
            let input = Input::new(&record, line, log);
            let mark = out.len();
            self.detectors.observe(&input, out);
            match record.action {
                Action::Accepted { .. } if out.len() > mark => {
                    self.sessions
                        .login(&record, evidence_line(log, line), &out[mark..]);
                }
                Action::Closed => self.sessions.closed(&record, || evidence_line(log, line)),
                _ => {}
            }
        }
    }

    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.detectors.flush(now_ms, out);
        self.sessions.flush(now_ms, out);
    }

    /// Lines read, and lines understood (logins, failures, sudo, su).
    pub fn counts(&self) -> (u64, u64) {
        (self.lines, self.understood)
    }
}

/// Whether `line` is a syslog line (`fim analyze` tells auth logs by their first line).
pub fn is_syslog(line: &[u8]) -> bool {
    parse::header(&String::from_utf8_lossy(line), Utc::now()).is_some()
}

/// A followed source silent this long while sshd runs is worth a warning.
const SILENT_AFTER: Duration = Duration::from_secs(6 * 3600);

/// `[logins]`: its `files` followed from their cursors, and the journal from its own.
pub struct FollowedAuthLogs {
    follower: Option<Follower>,
    journal: Option<Journal>,
    auth: AuthLogs,
    /// Its own handle on the baseline, to save what was learned.
    baseline: Baseline,
    last_line: Instant,
    silent_warned: bool,
}

impl FollowedAuthLogs {
    /// `None` when the policy reads no auth log. `journal`: the saved journal cursors.
    pub fn open(
        baseline: &Baseline,
        policy: &Policy,
        cursors: &HashMap<String, Cursor>,
        journal: &HashMap<String, String>,
        live: bool,
        sessions: Index,
    ) -> Result<Option<FollowedAuthLogs>> {
        let settings = &policy.logins;
        if settings.files.is_empty() && settings.journal.is_none() {
            return Ok(None);
        }
        let learned = Learned::new(settings.learning, &baseline.login_sources()?);
        let mut auth = AuthLogs::new(settings, learned);
        auth.sessions = Sessions::new(live, sessions);
        Ok(Some(FollowedAuthLogs {
            follower: (!settings.files.is_empty())
                .then(|| Follower::new(patterns(settings), cursors.clone())),
            journal: settings
                .journal
                .clone()
                .map(|spec| Journal::open(spec.clone(), journal.get(&spec.name()), live)),
            auth,
            baseline: Baseline::open(baseline.path())?,
            last_line: Instant::now(),
            silent_warned: false,
        }))
    }

    fn silent(&self) -> bool {
        self.last_line.elapsed() >= SILENT_AFTER && sshd_running()
    }

    /// What was read since the last poll (lines, and journal entries of any program).
    fn read(&self) -> u64 {
        self.auth.lines + self.journal.as_ref().map_or(0, |j| j.entries)
    }
}

fn patterns(settings: &LoginSettings) -> Vec<(String, usize)> {
    settings.files.iter().map(|f| (f.clone(), 0)).collect()
}

/// Whether an sshd (or 9.8+'s per-connection `sshd-session`) process runs.
fn sshd_running() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm"))
            .is_ok_and(|c| matches!(c.trim_end(), "sshd" | "sshd-session"))
    })
}

impl Source for FollowedAuthLogs {
    fn poll(&mut self, out: &mut Vec<Alert>) {
        let before = self.read();
        let auth = &mut self.auth;
        if let Some(follower) = &mut self.follower {
            follower.poll(&mut |line| auth.line(line, out));
            for warning in follower.warnings.drain(..) {
                tracing::warn!("{warning}");
            }
        }
        if let Some(journal) = &mut self.journal {
            journal.poll(&mut |entry, name| {
                auth.record(&entry.header(), entry.line.as_bytes(), name, out)
            });
            for warning in journal.warnings.drain(..) {
                tracing::warn!("{warning}");
            }
        }
        self.auth.sessions.check();
        if self.read() > before {
            self.last_line = Instant::now();
            self.silent_warned = false;
        } else if !self.silent_warned && self.silent() {
            self.silent_warned = true;
            tracing::warn!(
                "the auth sources ({}) have been silent for {} h while sshd runs: is sshd logging elsewhere?",
                self.names(),
                SILENT_AFTER.as_secs() / 3600
            );
        }
        let changes = self.auth.detectors.learned.take_changes();
        if let Err(e) = self.baseline.record_login_sources(&changes) {
            tracing::warn!("cannot save the learned login sources: {e}");
        }
    }

    fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.auth.flush(now_ms, out);
    }

    fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>) {
        self.auth.sessions.file_event(event, live_now_ms);
    }

    fn cursors(&self) -> Vec<(String, Position)> {
        let mut out = self
            .follower
            .as_ref()
            .map(|f| positions(f.cursors()))
            .unwrap_or_default();
        if let Some(journal) = &self.journal {
            out.push((
                journal.name.to_string(),
                Position::Journal(journal.cursor().to_owned()),
            ));
        }
        out
    }

    fn take_activity(&mut self, into: &mut Activity) {
        into.merge(std::mem::take(&mut self.auth.activity));
    }

    fn status(&self) -> String {
        let (lines, understood) = self.auth.counts();
        let mut status = format!("{lines} auth-log lines read");
        if let Some(journal) = &self.journal {
            status.push_str(&format!(", {} journal entries", journal.entries));
        }
        status.push_str(&format!(" ({understood} auth records)"));
        if self.silent_warned {
            status.push_str(", auth sources silent while sshd runs");
        }
        let dropped = self.auth.detectors.dropped();
        if dropped > 0 {
            status.push_str(&format!(
                ", {dropped} auth counters dropped at the memory cap"
            ));
        }
        status
    }
}

impl FollowedAuthLogs {
    fn names(&self) -> String {
        self.cursors()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|n| !n.starts_with("pattern:"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The cursors `fim init` records: every auth log, and the journal, at its current end.
pub fn cursors_at_end(policy: &Policy) -> Vec<(String, Position)> {
    let mut out = Vec::new();
    if !policy.logins.files.is_empty() {
        let mut follower = Follower::new(patterns(&policy.logins), HashMap::new());
        follower.skip_to_end();
        out = positions(follower.cursors());
    }
    if let Some(spec) = &policy.logins.journal {
        match spec.end_cursor() {
            Ok(cursor) => out.push((spec.name(), Position::Journal(cursor))),
            // Without a cursor the first run starts at the journal's end then.
            Err(e) => tracing::warn!("the journal: {e}"),
        }
    }
    out
}
