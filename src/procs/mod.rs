//! Processes: what is running that should not be. A full `/proc` scan every
//! `interval`, and exec events from the kernel's process connector between scans; each
//! process is judged once per detector (`judge`), and the Tracker dedupes per
//! (detector, executable) with its cooldown.

pub mod connector;
pub mod judge;
pub mod net;
pub mod read;
pub mod settings;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::detect::source::Source;
use crate::detect::window::at_threshold;
use crate::detect::{Alert, Category, Detection, Fields};
use crate::event::Event;
use crate::policy::Policy;
use judge::{Finding, Judge};
use read::Proc;
pub use settings::ProcessSettings;

/// The listeners of the host now, for the baseline's known state.
pub fn current_listeners() -> Vec<String> {
    net::listeners(std::path::Path::new("/proc/net"))
        .into_iter()
        .map(|l| l.listen)
        .collect()
}

type Detector = crate::detect::settings::Detector<Vec<u8>, Option<Finding>>;

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
        let (connector, connector_note) = if live {
            match connector::Connector::start(proc_root.clone()) {
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
        let watched = policy.watches.iter().map(|w| w.root.clone()).collect();
        Ok(Some(Processes {
            proc_root,
            interval_ms: settings.interval.as_millis().max(1) as i64,
            judge: Judge::new(settings.web_users.clone(), watched, known),
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
        let procs: Vec<Proc> = self.table.values().cloned().collect();
        let mut findings = self
            .judge
            .scan(&self.proc_root, &procs, &self.table, now_ms);
        findings.extend(self.judge.listeners(&self.proc_root, &pids, &self.table));
        for finding in findings {
            self.observe(finding, now_ms, out);
        }
    }

    fn exec(&mut self, proc: Proc, now_ms: i64, out: &mut Vec<Alert>) {
        self.execs += 1;
        let findings = self.judge.process(&proc, &self.table);
        self.table.insert(proc.pid, proc);
        for finding in findings {
            self.observe(finding, now_ms, out);
        }
    }

    fn observe(&mut self, finding: Finding, now_ms: i64, out: &mut Vec<Alert>) {
        let slot = finding.slot;
        let detector = &mut self.detectors[slot];
        if !detector.settings.enabled {
            return;
        }
        let once = (slot, finding.fields.pid, finding.start);
        if !self.judged.insert(once) {
            return;
        }
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
            out.extend(report(detector, f, &self.logins));
        }
    }
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn report(
    detector: &Detector,
    f: crate::detect::window::Fired<Option<Finding>>,
    logins: &crate::auth::session::Index,
) -> Option<Alert> {
    let finding = f.aggregate?;
    let related = logins.logins_of(finding.fields.pid);
    let summary = if f.count > 1 {
        format!("{} ({} processes)", finding.summary, f.count)
    } else {
        finding.summary
    };
    Some(Alert {
        id: crate::event::new_id(),
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
        for proc in execs {
            self.exec(proc, now_ms, out);
        }
        if now_ms >= self.next_scan_ms {
            self.next_scan_ms = now_ms.saturating_add(self.interval_ms);
            self.scan(now_ms, out);
        }
    }

    fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        for detector in &mut self.detectors {
            let due = detector.tracker.due(now_ms);
            for (_, fired) in due {
                out.extend(report(detector, fired, &self.logins));
            }
        }
    }

    fn file_event(&mut self, _event: &Event, _live_now_ms: Option<i64>) {}

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
