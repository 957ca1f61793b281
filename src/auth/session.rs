//! What a login's session did. A login worth an event (`login-after-failures`,
//! `login-quiet-hours`, `login-new-source`, `root-login`) is sent at once; its session
//! is then followed: from the login line to its close line (sshd's `Disconnected from
//! user ...` or PAM's `session closed`, by the session process's pid), or, live, until
//! that process is gone, and never past `MAX_SESSION_MS`. The file events fim reports
//! meanwhile are tied to it by a follow-up event of the same kind on the same subject,
//! whose `related` names the login events and those file events. The session's
//! processes (its pid's descendants, or those sharing its audit `sessionid` and
//! `loginuid`) name the login in `related` too, through `Index` (`procs` asks it).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use chrono::Utc;

use crate::detect::{ms_to_time, Alert, AuthFields, Category, Detection, Evidence, Fields};
use crate::event::Event;

use super::parse::AuthRecord;

/// A session is followed this long at most (a login left open for days ties nothing
/// after this).
const MAX_SESSION_MS: i64 = 12 * 3600 * 1000;
/// Sessions followed at once; past it the oldest is dropped.
const MAX_SESSIONS: usize = 256;
/// File events kept to tie (a verify finds them before it reads the logins).
const MAX_CHANGES: usize = 10_000;
/// Log times have a second's resolution: files changed this much before the login line
/// or after the close line may still be the session's.
const SLACK_MS: i64 = 2_000;
/// Live, the file events of a session are told in batches: the first one waits this
/// long (wall clock) for others.
const BATCH_MS: i64 = 30_000;
/// File events named by one follow-up (the summary counts them all).
const MAX_RELATED: usize = 100;
/// Live, how often the sessions' processes are looked for.
const CHECK_MS: i64 = 2_000;

/// The login kinds that open a followed session, most telling first.
const LOGIN_KINDS: [&str; 4] = [
    "login-after-failures",
    "login-quiet-hours",
    "login-new-source",
    "root-login",
];

struct Login {
    id: String,
    kind: &'static str,
    severity: crate::policy::Severity,
    rule: String,
}

struct Session {
    logins: Vec<Login>,
    fields: AuthFields,
    /// sshd's process for this connection (the one that logged the login).
    pid: Option<u32>,
    start_ms: i64,
    end_ms: Option<i64>,
    evidence: Vec<Evidence>,
    /// File events already told, by their place in `changes` (a count of all ever kept).
    told: u64,
    /// When its untold file events are to be reported (live: a batch; verify: the end).
    due_ms: Option<i64>,
}

impl Session {
    fn covers(&self, at_ms: i64) -> bool {
        at_ms >= self.start_ms - SLACK_MS
            && at_ms
                <= self
                    .end_ms
                    .map_or(i64::MAX, |end| end.saturating_add(SLACK_MS))
            && at_ms <= self.start_ms.saturating_add(MAX_SESSION_MS)
    }
}

/// A file event: its id, its path, when the change happened.
struct Change {
    seq: u64,
    id: String,
    path: String,
    at_ms: i64,
}

/// An open session: its sshd process and the ids of the login events it began with.
type OpenSession = (u32, Vec<String>);

/// The login sessions open now, for `procs`: which login a process belongs to.
#[derive(Clone, Default)]
pub struct Index(Rc<RefCell<Vec<OpenSession>>>);

impl Index {
    /// The login events of the session `pid` runs in: one of its ancestors is a
    /// session's sshd process, or it shares that process's audit session (the
    /// `sessionid` and `loginuid` PAM's `pam_loginuid` gives the session).
    pub fn logins_of(&self, pid: i32) -> Vec<String> {
        let open = self.0.borrow();
        if open.is_empty() || pid <= 0 {
            return Vec::new();
        }
        let audit = audit_session(pid as u32);
        for (session_pid, ids) in open.iter() {
            if audit.is_some() && audit == audit_session(*session_pid) {
                return ids.clone();
            }
        }
        let mut at = pid as u32;
        for _ in 0..64 {
            if let Some((_, ids)) = open.iter().find(|(p, _)| *p == at) {
                return ids.clone();
            }
            match parent(at) {
                Some(p) if p > 1 => at = p,
                _ => break,
            }
        }
        Vec::new()
    }
}

/// `/proc/PID/sessionid` and `loginuid`, when the audit session is set.
fn audit_session(pid: u32) -> Option<(u32, u32)> {
    let read = |name: &str| -> Option<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|v| *v != u32::MAX)
    };
    Some((read("sessionid")?, read("loginuid")?))
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Default)]
pub struct Sessions {
    open: Vec<Session>,
    changes: VecDeque<Change>,
    seq: u64,
    live: bool,
    next_check_ms: i64,
    index: Index,
}

impl Sessions {
    pub fn new(live: bool, index: Index) -> Sessions {
        Sessions {
            live,
            index,
            ..Sessions::default()
        }
    }

    /// A successful login, and the alerts its line just produced.
    pub fn login(&mut self, record: &AuthRecord<'_>, line: Evidence, alerts: &[Alert]) {
        let ts = record.ts.timestamp_millis();
        let mut logins: Vec<Login> = alerts
            .iter()
            .filter(|a| a.detection.category == Category::Auth)
            .filter(|a| a.detection.last_ts.timestamp_millis() == ts)
            .filter_map(|a| {
                let kind = LOGIN_KINDS.into_iter().find(|k| *k == a.detection.kind)?;
                Some(Login {
                    id: a.id.clone(),
                    kind,
                    severity: a.severity,
                    rule: a.rule.clone(),
                })
            })
            .collect();
        if logins.is_empty() {
            return;
        }
        logins.sort_by_key(|l| LOGIN_KINDS.iter().position(|k| *k == l.kind));
        if self.open.len() >= MAX_SESSIONS {
            self.open.remove(0);
        }
        let mut session = Session {
            logins,
            fields: AuthFields {
                user: record.user.map(super::short),
                client: record.client.map(|c| c.to_string()),
                service: record.service.to_owned(),
            },
            pid: record.pid,
            start_ms: ts,
            end_ms: None,
            evidence: vec![line],
            told: 0,
            due_ms: None,
        };
        // Changes already known (verify finds them before the logins) are the
        // session's if they came after it.
        if self.changes.iter().any(|c| session.covers(c.at_ms)) {
            session.due_ms = Some(self.due_from(None));
        }
        self.open.push(session);
        self.reindex();
    }

    /// A session's close line (by its process).
    pub fn closed(&mut self, record: &AuthRecord<'_>, line: impl FnOnce() -> Evidence) {
        let Some(pid) = record.pid else { return };
        let ts = record.ts.timestamp_millis();
        if let Some(s) = self
            .open
            .iter_mut()
            .rev()
            .find(|s| s.pid == Some(pid) && s.end_ms.is_none() && ts >= s.start_ms)
        {
            s.end_ms = Some(ts);
            s.evidence.push(line());
            // What it changed is told now, and the session let go.
            s.due_ms = Some(i64::MIN);
            self.reindex();
        }
    }

    fn due_from(&self, live_now_ms: Option<i64>) -> i64 {
        match live_now_ms {
            Some(now) if self.live => now.saturating_add(BATCH_MS),
            _ => i64::MAX,
        }
    }

    /// A file event fim reported.
    pub fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>) {
        let Some(change) = event.file() else { return };
        let at_ms = change.new.as_ref().map_or(event.ts_ms(), |attrs| {
            attrs.ctime.sec.saturating_mul(1000) + i64::from(attrs.ctime.nsec / 1_000_000)
        });
        if self.changes.len() >= MAX_CHANGES {
            self.changes.pop_front();
        }
        self.seq += 1;
        self.changes.push_back(Change {
            seq: self.seq,
            id: event.id.clone(),
            path: change.path_lossy().into_owned(),
            at_ms,
        });
        let due = self.due_from(live_now_ms);
        for s in self.open.iter_mut().filter(|s| s.covers(at_ms)) {
            s.due_ms = Some(s.due_ms.map_or(due, |d| d.min(due)));
        }
    }

    /// Live: sessions whose sshd process is gone have ended.
    pub fn check(&mut self) {
        let now = Utc::now().timestamp_millis();
        if !self.live || now < self.next_check_ms {
            return;
        }
        self.next_check_ms = now + CHECK_MS;
        let mut ended = false;
        for s in self.open.iter_mut().filter(|s| s.end_ms.is_none()) {
            let gone = s
                .pid
                .is_none_or(|p| !std::path::Path::new(&format!("/proc/{p}")).exists());
            if gone || now > s.start_ms.saturating_add(MAX_SESSION_MS) {
                s.end_ms = Some(now);
                s.due_ms = Some(i64::MIN);
                ended = true;
            }
        }
        if ended {
            self.reindex();
        }
    }

    /// Follow-ups due by `now_ms` (`i64::MAX`: all); ended sessions are let go.
    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        let changes = &self.changes;
        for s in &mut self.open {
            if s.due_ms.is_none_or(|d| d > now_ms) {
                continue;
            }
            s.due_ms = None;
            let told = s.told;
            let new: Vec<&Change> = changes
                .iter()
                .filter(|c| c.seq > told && s.covers(c.at_ms))
                .collect();
            if let Some(last) = new.last() {
                s.told = last.seq;
                out.push(follow_up(s, &new));
            }
        }
        let before = self.open.len();
        self.open
            .retain(|s| s.end_ms.is_none() || s.due_ms.is_some());
        if self.open.len() != before {
            self.reindex();
        }
    }

    fn reindex(&self) {
        *self.index.0.borrow_mut() = self
            .open
            .iter()
            .filter(|s| s.end_ms.is_none())
            .filter_map(|s| Some((s.pid?, s.logins.iter().map(|l| l.id.clone()).collect())))
            .collect();
    }
}

fn follow_up(s: &Session, changes: &[&Change]) -> Alert {
    let login = &s.logins[0];
    let who = s.fields.user.as_deref().unwrap_or("?");
    let from = s.fields.client.as_deref().unwrap_or("a local terminal");
    let mut paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    paths.dedup();
    let shown = paths.len().min(5);
    let more = if paths.len() > shown {
        format!(" and {} more", paths.len() - shown)
    } else {
        String::new()
    };
    let n = changes.len();
    let summary = format!(
        "{who}'s session from {from} ({}, logged in {}) changed {n} watched file{}: {}{more}",
        login.kind,
        ms_to_time(s.start_ms).format("%Y-%m-%d %H:%M:%S UTC"),
        if n == 1 { "" } else { "s" },
        paths[..shown].join(", ")
    );
    let mut related: Vec<String> = s.logins.iter().map(|l| l.id.clone()).collect();
    related.extend(changes.iter().take(MAX_RELATED).map(|c| c.id.clone()));
    Alert {
        id: crate::event::new_id(),
        detection: Detection {
            category: Category::Auth,
            kind: login.kind,
            summary,
            count: n as u64,
            first_ts: ms_to_time(changes[0].at_ms),
            last_ts: ms_to_time(changes[n - 1].at_ms),
            evidence: s.evidence.clone(),
            related,
            fields: Fields::Auth(s.fields.clone()),
        },
        severity: login.severity,
        rule: login.rule.clone(),
        reasons: Vec::new(),
    }
}
