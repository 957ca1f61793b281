//! Auth logs, from line to detection, and the followed ones as a detection source:
//! `[logins] files` read by the one log follower with its cursors, so `watch` and
//! `verify` resume where they stopped. What the detectors learn of users' sources is
//! saved in the baseline after each poll.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::learned::Learned;
use super::parse;
use super::{AuthDetectors, Input, LoginSettings};
use crate::detect::activity::{Activity, Counter};
use crate::detect::source::Source;
use crate::detect::Alert;
use crate::error::Result;
use crate::event::Event;
use crate::logs::follow::{Cursor, Follower, Line};
use crate::policy::Policy;
use crate::store::Baseline;

/// Lines judged by the auth detectors, wherever they come from.
pub struct AuthLogs {
    pub detectors: AuthDetectors,
    /// Logins that succeeded and failed, per hour: saved for the report.
    pub activity: Activity,
    lines: u64,
    understood: u64,
}

impl AuthLogs {
    pub fn new(settings: &LoginSettings, learned: Learned) -> AuthLogs {
        AuthLogs {
            detectors: AuthDetectors::new(settings, learned),
            activity: Activity::default(),
            lines: 0,
            understood: 0,
        }
    }

    /// One syslog line; lines of other programs, or not understood, are skipped
    /// silently (an auth log holds cron's and others' lines too).
    pub fn line(&mut self, line: Line<'_>, out: &mut Vec<Alert>) {
        self.lines += 1;
        let bytes = line.bytes.strip_suffix(b"\n").unwrap_or(line.bytes);
        let text = String::from_utf8_lossy(bytes);
        if let Some(record) = parse::parse(&text, Utc::now()) {
            self.understood += 1;
            let outcome = match record.action {
                parse::Action::Accepted { .. } => Some("ok"),
                parse::Action::Failed | parse::Action::InvalidUser => Some("failed"),
                parse::Action::Disconnected | parse::Action::Command { .. } => None,
            };
            if let Some(outcome) = outcome {
                self.activity
                    .add(record.ts.timestamp_millis(), Counter::Login, outcome);
            }
            let input = Input {
                record: &record,
                line: bytes,
                log: line.file,
            };
            self.detectors.observe(&input, out);
        }
    }

    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.detectors.flush(now_ms, out);
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

/// `[logins] files`, followed from their cursors.
pub struct FollowedAuthLogs {
    follower: Follower,
    auth: AuthLogs,
    /// Its own handle on the baseline, to save what was learned.
    baseline: Baseline,
    last_line: Instant,
    silent_warned: bool,
}

impl FollowedAuthLogs {
    /// `None` when the policy reads no auth log.
    pub fn open(
        baseline: &Baseline,
        policy: &Policy,
        cursors: &HashMap<String, Cursor>,
    ) -> Result<Option<FollowedAuthLogs>> {
        let settings = &policy.logins;
        if settings.files.is_empty() {
            return Ok(None);
        }
        let learned = Learned::new(settings.learning, &baseline.login_sources()?);
        Ok(Some(FollowedAuthLogs {
            follower: Follower::new(patterns(settings), cursors.clone()),
            auth: AuthLogs::new(settings, learned),
            baseline: Baseline::open(baseline.path())?,
            last_line: Instant::now(),
            silent_warned: false,
        }))
    }

    fn silent(&self) -> bool {
        self.last_line.elapsed() >= SILENT_AFTER && sshd_running()
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
        let before = self.auth.lines;
        let auth = &mut self.auth;
        self.follower.poll(&mut |line| auth.line(line, out));
        for warning in self.follower.warnings.drain(..) {
            tracing::warn!("{warning}");
        }
        if self.auth.lines > before {
            self.last_line = Instant::now();
            self.silent_warned = false;
        } else if !self.silent_warned && self.silent() {
            self.silent_warned = true;
            tracing::warn!(
                "the auth logs ({}) have been silent for {} h while sshd runs: is sshd logging elsewhere (the journal)?",
                self.auth_files(),
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

    fn file_event(&mut self, _event: &Event, _live_now_ms: Option<i64>) {}

    fn cursors(&self) -> Vec<(String, Cursor)> {
        self.follower.cursors()
    }

    fn take_activity(&mut self, into: &mut Activity) {
        into.merge(std::mem::take(&mut self.auth.activity));
    }

    fn status(&self) -> String {
        let (lines, understood) = self.auth.counts();
        let mut status = format!("{lines} auth-log lines read ({understood} auth records)");
        if self.silent_warned {
            status.push_str(", auth logs silent while sshd runs");
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
    fn auth_files(&self) -> String {
        self.follower
            .cursors()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|n| !n.starts_with("pattern:"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The cursors `fim init` records: every auth log at its current end.
pub fn cursors_at_end(policy: &Policy) -> Vec<(String, Cursor)> {
    if policy.logins.files.is_empty() {
        return Vec::new();
    }
    let mut follower = Follower::new(patterns(&policy.logins), HashMap::new());
    follower.skip_to_end();
    follower.cursors()
}
