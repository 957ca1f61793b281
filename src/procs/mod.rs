//! Processes: what is running that should not be. A full `/proc` scan every
//! `interval`, and exec events from the kernel's process connector between scans; each
//! process is judged once per detector (`judge`), and the Tracker dedupes per
//! (detector, executable) with its cooldown.

pub mod connector;
pub mod judge;
pub mod net;
pub mod read;
pub mod settings;
mod ties;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::detect::source::Source;
use crate::detect::window::at_threshold;
use crate::detect::{Alert, Category, Detection, Fields};
use crate::event::Event;
use crate::policy::Policy;
use crate::web::FileRef;
use judge::{Finding, Judge};
use read::Proc;
pub use settings::ProcessSettings;
use ties::Ties;

/// The listeners of the host now, for the baseline's known state.
pub fn current_listeners() -> Vec<String> {
    net::listeners(std::path::Path::new("/proc/net"))
        .into_iter()
        .map(|l| l.listen)
        .collect()
}

type Detector = crate::detect::settings::Detector<Vec<u8>, Option<Finding>>;

/// Live, a program run from a file written a moment ago can come before the file's
/// event (the watcher lets a change settle first): it waits this long for it.
const HOLD_MS: i64 = 1_500;

/// A finding waiting for the file event it is to be tied to.
struct Held {
    until_ms: i64,
    seen_ms: i64,
    finding: Finding,
    proc: Proc,
    parent: Option<Proc>,
}

pub struct Processes {
    proc_root: PathBuf,
    interval_ms: i64,
    judge: Judge,
    detectors: Vec<Detector>,
    connector: Option<connector::Connector>,
    connector_note: String,
    next_scan_ms: i64,
    /// What the last scan and the exec events since showed, by pid (parent chains).
    table: HashMap<i32, Proc>,
    /// (detector, pid, start) already judged: each process is told once.
    judged: HashSet<(usize, i32, u64)>,
    ties: Ties,
    held: Vec<Held>,
    live: bool,
    scans: u64,
    execs: u64,
    /// The login sessions open now: a process of one names its login in `related`.
    logins: crate::auth::session::Index,
}

impl Processes {
    /// `None` when the policy has no `[processes]` table. `live`: subscribe to exec
    /// events (the daemon); `verify` takes one snapshot.
    pub fn open(
        baseline: &crate::store::Baseline,
        policy: &Policy,
        live: bool,
        logins: crate::auth::session::Index,
    ) -> crate::Result<Option<Processes>> {
        let Some(settings) = &policy.processes else {
            return Ok(None);
        };
        let proc_root = PathBuf::from("/proc");
        let watched: Vec<Vec<u8>> = policy.watches.iter().map(|w| w.root.clone()).collect();
        let interest = judge::Interest::new(watched.clone());
        let (connector, connector_note) = if live {
            match connector::Connector::start(proc_root.clone(), interest.clone()) {
                Ok(c) => (Some(c), "exec events on".to_owned()),
                Err(e) => {
                    tracing::warn!(
                        "{e}: exec events need root (CAP_NET_ADMIN); short-lived processes \
                         are missed, the /proc scan every {} s goes on",
                        settings.interval.as_secs()
                    );
                    (
                        None,
                        "exec events unavailable (needs root), scans only".to_owned(),
                    )
                }
            }
        } else {
            (None, String::new())
        };
        let known: HashSet<String> = baseline.known_listeners()?.into_iter().collect();
        Ok(Some(Processes {
            proc_root,
            interval_ms: settings.interval.as_millis().max(1) as i64,
            judge: Judge::new(settings.web_users.clone(), interest.clone(), known),
            detectors: settings::KINDS
                .iter()
                .map(|k| {
                    let mut detector = Detector::new(k, settings.detector(k));
                    detector.tracker = detector.tracker.evidence_cap(0);
                    detector
                })
                .collect(),
            connector,
            connector_note,
            next_scan_ms: i64::MIN,
            table: HashMap::new(),
            judged: HashSet::new(),
            ties: Ties::new(FileRef::recent(baseline)?, watched),
            held: Vec::new(),
            live,
            scans: 0,
            execs: 0,
            logins,
        }))
    }

    fn scan(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.scans += 1;
        let pids = read::pids(&self.proc_root);
        let me = std::process::id() as i32;
        self.table = pids
            .iter()
            .filter(|p| **p != me)
            .filter_map(|p| Proc::read(&self.proc_root, *p))
            .map(|p| (p.pid, p))
            .collect();
        let live: HashSet<(i32, u64)> = self.table.values().map(|p| (p.pid, p.start)).collect();
        self.judged
            .retain(|(_, pid, start)| live.contains(&(*pid, *start)));
        self.ties.retain(&live);
        let mut findings = self.judge.scan(&self.proc_root, &self.table, now_ms);
        findings.extend(self.judge.listeners(&self.proc_root, &pids, &self.table));
        for finding in findings {
            self.observe(finding, now_ms, out);
        }
    }

    fn exec(&mut self, proc: Proc, now_ms: i64, out: &mut Vec<Alert>) {
        self.execs += 1;
        if !proc.partial {
            self.complete_ancestors(proc.ppid);
        }
        let findings = self.judge.process(&proc, &self.table);
        self.ties.exec(&proc, &self.table);
        self.table.insert(proc.pid, proc);
        for finding in findings {
            self.observe(finding, now_ms, out);
        }
    }

    /// A process read in full is judged by its ancestors' names, users and scripts:
    /// those read only in part at their exec are read again while they live.
    fn complete_ancestors(&mut self, mut pid: i32) {
        for _ in 0..32 {
            let Some(known) = self.table.get(&pid).filter(|_| pid > 1) else {
                return;
            };
            if known.partial {
                let start = known.start;
                match Proc::read(&self.proc_root, pid).filter(|p| p.start == start) {
                    Some(full) => {
                        self.table.insert(pid, full);
                    }
                    None => return,
                }
            }
            pid = self.table[&pid].ppid;
        }
    }

    fn observe(&mut self, mut finding: Finding, now_ms: i64, out: &mut Vec<Alert>) {
        let slot = finding.slot;
        if !self.detectors[slot].settings.enabled {
            return;
        }
        let once = (slot, finding.fields.pid, finding.start);
        if !self.judged.insert(once) {
            return;
        }
        if self.tie(&mut finding, now_ms) {
            let proc = self.table[&finding.fields.pid].clone();
            let parent = self.table.get(&proc.ppid).cloned();
            self.held.push(Held {
                until_ms: now_ms.saturating_add(HOLD_MS),
                seen_ms: now_ms,
                finding,
                proc,
                parent,
            });
            return;
        }
        self.count(finding, now_ms, out);
    }

    /// Held findings whose file event came, or that waited long enough.
    fn release(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        for held in std::mem::take(&mut self.held) {
            let files = self.ties.files_of(&held.proc, held.parent.as_ref());
            if files.is_empty() && now_ms < held.until_ms {
                self.held.push(held);
                continue;
            }
            let mut finding = held.finding;
            for id in files {
                if !finding.related.contains(&id) {
                    finding.related.push(id);
                }
            }
            self.count(finding, held.seen_ms, out);
        }
    }

    fn count(&mut self, finding: Finding, now_ms: i64, out: &mut Vec<Alert>) {
        let detector = &mut self.detectors[finding.slot];
        let key = finding.subject.clone();
        let fired = detector.tracker.observe(
            &key,
            now_ms,
            None,
            // Processes have no log lines: `evidence` stays `[]`.
            || crate::detect::Evidence {
                file: "/proc".into(),
                line: "".into(),
            },
            |a| {
                if a.is_none() {
                    *a = Some(finding);
                }
            },
            at_threshold,
        );
        if let Some(f) = fired {
            out.extend(report(detector, f, &mut self.ties, &self.logins));
        }
    }

    /// `related`: the file events of what a spawn, a writable-place program or a
    /// listener runs from, and the spawn a listener descends from. True when, live,
    /// the file event may still come.
    fn tie(&mut self, finding: &mut Finding, now_ms: i64) -> bool {
        let Some(p) = self.table.get(&finding.fields.pid) else {
            return false;
        };
        let kind = settings::KINDS[finding.slot];
        if kind == "web-shell-spawn" {
            self.ties.spawn(p, &finding.subject);
        }
        if matches!(
            kind,
            "web-shell-spawn" | "exec-from-writable" | "new-listener"
        ) {
            finding.related = self.ties.files_of(p, self.table.get(&p.ppid));
        }
        if kind == "new-listener" {
            finding.related.extend(self.ties.spawn_of(p, &self.table));
        }
        self.live
            && finding.related.is_empty()
            && matches!(kind, "web-shell-spawn" | "exec-from-writable")
            && self.ties.awaits_file(p, self.table.get(&p.ppid), now_ms)
    }
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The event of what fired, tied to the files it runs from and the login session it
/// runs in; a web-shell-spawn's is remembered for the listeners that descend from it.
fn report(
    detector: &Detector,
    f: crate::detect::window::Fired<Option<Finding>>,
    ties: &mut Ties,
    logins: &crate::auth::session::Index,
) -> Option<Alert> {
    let finding = f.aggregate?;
    let id = crate::event::new_id();
    if settings::KINDS[finding.slot] == "web-shell-spawn" {
        ties.spawn_reported(&finding.subject, &id);
    }
    let mut related = finding.related;
    related.extend(logins.logins_of(finding.fields.pid));
    let summary = if f.count > 1 {
        format!("{} ({} processes)", finding.summary, f.count)
    } else {
        finding.summary
    };
    Some(Alert {
        id,
        detection: Detection {
            category: Category::Process,
            kind: settings::KINDS[finding.slot],
            summary,
            count: f.count,
            first_ts: ms_to_time(f.first_ms),
            last_ts: ms_to_time(f.last_ms),
            evidence: Vec::new(),
            related,
            fields: Fields::Process(finding.fields),
        },
        severity: detector.settings.severity,
        rule: detector.settings.rule.clone(),
        reasons: finding.reasons,
    })
}

impl Source for Processes {
    fn poll(&mut self, out: &mut Vec<Alert>) {
        let now_ms = Utc::now().timestamp_millis();
        let execs: Vec<Proc> = self
            .connector
            .as_ref()
            .map(|c| c.drain().collect())
            .unwrap_or_default();
        self.release(now_ms, out);
        for proc in execs {
            self.exec(proc, now_ms, out);
        }
        if now_ms >= self.next_scan_ms {
            self.next_scan_ms = now_ms.saturating_add(self.interval_ms);
            self.scan(now_ms, out);
        }
    }

    fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.release(now_ms, out);
        for detector in &mut self.detectors {
            let due = detector.tracker.due(now_ms);
            for (_, fired) in due {
                let follows = fired.follows_ms;
                let alert = report(detector, fired, &mut self.ties, &self.logins);
                out.extend(alert.map(|a| a.following(follows)));
            }
        }
    }

    fn file_event(&mut self, event: &Event, _live_now_ms: Option<i64>) {
        if let Some(file) = FileRef::from_event(event) {
            self.ties.file(file);
        }
    }

    fn cursors(&self) -> Vec<(String, crate::logs::Position)> {
        Vec::new()
    }

    fn status(&self) -> String {
        let mut status = format!("{} process scans", self.scans);
        if !self.connector_note.is_empty() {
            status.push_str(&format!(", {}", self.connector_note));
        }
        if self.connector.is_some() {
            status.push_str(&format!(" ({} execs", self.execs));
            let dropped = self
                .connector
                .as_ref()
                .map_or(0, |c| c.dropped.load(std::sync::atomic::Ordering::Relaxed));
            if dropped > 0 {
                status.push_str(&format!(", {dropped} lost in bursts"));
            }
            status.push(')');
        }
        status
    }
}
