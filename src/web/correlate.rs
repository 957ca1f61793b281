//! What no log tool can do: tie requests to the files fim reported. The log's docroot
//! maps request paths to files. A request for a file fim reported as new (a script)
//! or suspicious is `webshell-access`; the POST or PUT answered 2xx just before a new
//! file appeared most likely planted it (`planted-file`). Files may be known before
//! the requests (verify, analyze --db: from the history) or after them (watch: the
//! log line of an upload is written when the response is sent): both ways meet here.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

use crate::detect::Evidence;

use super::{classify, evidence_line, Input};

/// A file event the requests may be tied to.
#[derive(Clone, Debug)]
pub struct FileRef {
    pub event_id: String,
    /// Absolute path (lossy UTF-8, as events name it).
    pub path: String,
    /// When it appeared or changed: its ctime, else the event's time.
    pub birth_ms: i64,
    /// Reported `new` (else: modified, with reasons).
    pub new: bool,
    pub reasons: Vec<String>,
}

/// Recorded file events older than this are not tied to anything any more.
pub const TIE_DAYS: i64 = 30;

impl FileRef {
    /// The file events recorded in `baseline` since `since_ms` that may be tied to,
    /// oldest first.
    pub fn recorded(
        baseline: &crate::store::Baseline,
        since_ms: i64,
    ) -> crate::Result<Vec<FileRef>> {
        Ok(baseline
            .file_events_to_tie(since_ms)?
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .filter_map(|event| FileRef::from_json(&event))
            .collect())
    }

    /// The recorded file events of the last `TIE_DAYS`.
    pub fn recent(baseline: &crate::store::Baseline) -> crate::Result<Vec<FileRef>> {
        let since = chrono::Utc::now().timestamp_millis() - TIE_DAYS * 86_400_000;
        FileRef::recorded(baseline, since)
    }

    /// From a recorded file event: `new` ones, and others with reasons.
    pub fn from_json(event: &serde_json::Value) -> Option<FileRef> {
        let field = |k: &str| event.get(k).and_then(serde_json::Value::as_str);
        if field("category").unwrap_or("file") != "file" {
            return None;
        }
        let kind = field("kind")?;
        let reasons: Vec<String> = event
            .get("reasons")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !ties(kind, &reasons) {
            return None;
        }
        let time = |t: Option<&str>| {
            t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        };
        let ctime = event
            .get("new")
            .and_then(|n| n.get("ctime"))
            .and_then(|c| c.as_str());
        Some(FileRef {
            event_id: field("id")?.to_owned(),
            path: field("path")?.to_owned(),
            birth_ms: time(ctime).or(time(field("ts")))?,
            new: kind == "new",
            reasons,
        })
    }

    /// From an event just reported (the same selection as `from_json`, without a
    /// round trip through JSON for every event of a burst).
    pub fn from_event(event: &crate::event::Event) -> Option<FileRef> {
        let change = event.file()?;
        if !ties(change.kind.as_str(), &event.reasons) {
            return None;
        }
        let birth_ms = change.new.as_ref().map_or(event.ts_ms(), |attrs| {
            attrs.ctime.sec.saturating_mul(1000) + i64::from(attrs.ctime.nsec / 1_000_000)
        });
        Some(FileRef {
            event_id: event.id.clone(),
            path: change.path_lossy().into_owned(),
            birth_ms,
            new: change.kind == crate::policy::Kind::New,
            reasons: event.reasons.clone(),
        })
    }

    /// Worth tying requests to: what the heuristics flagged, or a new script. A new
    /// image everyone then views is no webshell.
    pub fn worth_tying(&self) -> bool {
        !self.reasons.is_empty() || (self.new && is_script(&self.path))
    }
}

fn is_script(path: &str) -> bool {
    const SCRIPT: &[&str] = &[
        "php", "php3", "php4", "php5", "php7", "php8", "phtml", "phar", "pht", "phps", "inc",
        "cgi", "pl", "py", "rb", "sh", "jsp", "jspx", "asp", "aspx", "ashx", "shtml",
    ];
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| SCRIPT.contains(&ext))
}

/// File events requests are tied to: `new` ones, and changes with reasons.
fn ties(kind: &str, reasons: &[String]) -> bool {
    kind == "new" || (kind != "deleted" && !reasons.is_empty())
}

/// A write request answered 2xx: a candidate planter.
#[derive(Clone, Debug)]
pub struct Write {
    pub at_ms: i64,
    pub client: IpAddr,
    pub method: String,
    pub target: String,
    pub disk: Option<String>,
    pub status: u16,
    pub vhost: Option<String>,
    pub user_agent: Option<String>,
    pub evidence: Evidence,
}

/// What the correlator found; `WebDetectors` makes the events.
#[derive(Debug)]
pub enum Hit {
    Access {
        file: FileRef,
        planted_by: Option<String>,
    },
    Planted {
        file: FileRef,
        write: Write,
    },
}

/// How long before a new file's birth its planter may have come (a slow upload), and
/// after (log times have one-second resolution and are written at the response).
const PLANT_BEFORE_MS: i64 = 120_000;
const PLANT_AFTER_MS: i64 = 5_000;
/// Requests just before a file's birth are not accesses to it (clock resolution).
const ACCESS_SLACK_MS: i64 = 2_000;
/// Live: a new file waits this long (wall clock) for the log line of its planter.
const LIVE_WAIT_MS: i64 = 10_000;
const MAX_WRITES: usize = 10_000;

struct Known {
    file: FileRef,
    planted_by: Option<String>,
}

struct Pending {
    best: Option<((u8, i64), Write)>,
    /// Wall-clock time after which a live file stops waiting.
    wall_deadline_ms: i64,
}

#[derive(Default)]
pub struct Correlator {
    files: HashMap<String, Known>,
    /// New files looking for their planter, by (birth, path).
    pending: BTreeMap<(i64, String), Pending>,
    writes: VecDeque<Write>,
    latest_ms: i64,
    /// A pending file has found its certain planter.
    certain_waiting: bool,
}

impl Correlator {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// A file fim reported. `live_now_ms`: the wall clock when it is reported live (it
    /// then also waits for log lines not written yet).
    pub fn add_file(&mut self, file: FileRef, live_now_ms: Option<i64>) {
        if !file.worth_tying() {
            return;
        }
        if file.new {
            let mut pending = Pending {
                best: None,
                wall_deadline_ms: live_now_ms.map_or(i64::MIN, |now| now + LIVE_WAIT_MS),
            };
            for write in &self.writes {
                self.certain_waiting |= consider(&mut pending, &file, write);
            }
            self.pending
                .insert((file.birth_ms, file.path.clone()), pending);
        }
        self.files.insert(
            file.path.clone(),
            Known {
                file,
                planted_by: None,
            },
        );
    }

    /// Remember which detection planted a file, for the accesses that follow.
    pub fn planted(&mut self, path: &str, detection_id: &str) {
        if let Some(known) = self.files.get_mut(path) {
            known.planted_by = Some(detection_id.to_owned());
        }
    }

    /// One request: a candidate planter, an access to a known file, or neither.
    pub fn observe(&mut self, input: &Input<'_, '_>, docroot: Option<&str>, hits: &mut Vec<Hit>) {
        let r = input.record;
        let at = r.ts.timestamp_millis();
        self.latest_ms = self.latest_ms.max(at);
        let is_write =
            matches!(&*r.method, "POST" | "PUT" | "PATCH") && (200..300).contains(&r.status);
        if !is_write && self.files.is_empty() {
            return;
        }
        let disk = docroot.and_then(|root| disk_path(root, &r.target));
        if is_write {
            let write = Write {
                at_ms: at,
                client: r.client,
                method: r.method.to_string(),
                target: r.target.to_string(),
                disk: disk.clone(),
                status: r.status,
                vhost: r.vhost.as_deref().map(str::to_owned),
                user_agent: r.user_agent.as_deref().map(str::to_owned),
                evidence: evidence_line(input.log, input.line),
            };
            let from = (at - PLANT_AFTER_MS, String::new());
            let to = (at + PLANT_BEFORE_MS, String::new());
            for ((_, path), pending) in self.pending.range_mut(from..to) {
                if let Some(known) = self.files.get(path) {
                    self.certain_waiting |= consider(pending, &known.file, &write);
                }
            }
            self.writes.push_back(write);
            while self.writes.len() > MAX_WRITES
                || self
                    .writes
                    .front()
                    .is_some_and(|w| w.at_ms < at - PLANT_BEFORE_MS - PLANT_AFTER_MS)
            {
                self.writes.pop_front();
            }
        }
        let first_passed = self
            .pending
            .keys()
            .next()
            .is_some_and(|(birth, _)| birth + PLANT_AFTER_MS < self.latest_ms);
        if first_passed || self.certain_waiting {
            self.settle(i64::MIN, hits);
        }
        let Some(disk) = disk else { return };
        let Some(known) = self.files.get(&disk) else {
            return;
        };
        let planting = r.method == "PUT" && at <= known.file.birth_ms + PLANT_AFTER_MS;
        if at + ACCESS_SLACK_MS >= known.file.birth_ms && !planting {
            hits.push(Hit::Access {
                file: known.file.clone(),
                planted_by: known.planted_by.clone(),
            });
        }
    }

    /// Decide the new files whose planter can no longer come: the log has moved past
    /// them (and, live, their wait is over). `now_ms`: the wall clock, or `i64::MAX`
    /// at the end of the records.
    pub fn flush(&mut self, now_ms: i64, hits: &mut Vec<Hit>) {
        self.settle(now_ms, hits);
    }

    /// `now_ms`: `i64::MIN` from a record (only the log's time counts), the wall clock
    /// from a live flush, `i64::MAX` at the end.
    fn settle(&mut self, now_ms: i64, hits: &mut Vec<Hit>) {
        self.certain_waiting = false;
        let latest = self.latest_ms;
        let mut done = Vec::new();
        for ((birth, path), pending) in &self.pending {
            let log_passed = *birth + PLANT_AFTER_MS < latest;
            let waited = pending.wall_deadline_ms != i64::MIN && now_ms >= pending.wall_deadline_ms;
            // A PUT of the file itself leaves no doubt: no need to wait for others.
            let certain = pending
                .best
                .as_ref()
                .is_some_and(|((inexact, _), _)| *inexact == 0);
            if log_passed || waited || certain || now_ms == i64::MAX {
                done.push((*birth, path.clone()));
            }
        }
        for key in done {
            let Some(pending) = self.pending.remove(&key) else {
                continue;
            };
            if let (Some((_, write)), Some(known)) = (pending.best, self.files.get(&key.1)) {
                hits.push(Hit::Planted {
                    file: known.file.clone(),
                    write,
                });
            }
        }
    }
}

/// Keep the likelier planter: a PUT of the file itself, else the closest in time.
/// Returns whether the planter is now certain.
fn consider(pending: &mut Pending, file: &FileRef, write: &Write) -> bool {
    let offset = write.at_ms - file.birth_ms;
    if !(-PLANT_BEFORE_MS..=PLANT_AFTER_MS).contains(&offset) {
        return false;
    }
    let exact = write.disk.as_deref() == Some(file.path.as_str());
    let score = (u8::from(!exact), offset.abs());
    if pending.best.as_ref().is_none_or(|(best, _)| score < *best) {
        pending.best = Some((score, write.clone()));
    }
    exact
}

/// The file a request names under `docroot`: decoded, normalised, case kept.
pub fn disk_path(docroot: &str, target: &str) -> Option<String> {
    let raw_path = target.split('?').next().unwrap_or(target);
    if !raw_path.starts_with('/') {
        return None;
    }
    let decoded = classify::decode(raw_path);
    let path: Cow<'_, str> = classify::normalize(&decoded);
    if path.ends_with('/') {
        return None;
    }
    Some(format!("{}{}", docroot.trim_end_matches('/'), path))
}
