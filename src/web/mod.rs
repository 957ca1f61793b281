//! The web detectors: access-log records in, detections out. Each detector is a
//! classification of the request (`classify`) fed into the one counter engine
//! (`crate::detect::window`) under its subject (a client, a network, the whole
//! server); `correlate` ties requests to the files fim reported. Time is the records'
//! own, so a replay gives what live reading gave.

pub mod access;
pub mod classify;
pub mod correlate;
pub mod settings;
pub mod traffic;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::detect::distinct::{hash_of, Distinct};
use crate::detect::window::{at_threshold, Fired};
pub use crate::detect::{evidence_line, ms_to_time, network_of};
use crate::detect::{Alert, Category, Detection, Fields, WebFields, MAX_EVIDENCE};
use crate::logs::record::AccessRecord;
use crate::policy::Severity;
use crate::progress::plural;
use classify::{Flags, Signatures};
use correlate::Hit;
pub use correlate::{Correlator, FileRef};
pub use settings::WebSettings;

/// One record as the detectors see it: the parsed fields, the raw line and its log.
pub struct Input<'r, 'a> {
    pub record: &'r AccessRecord<'a>,
    pub line: &'r [u8],
    pub log: &'r Arc<str>,
    /// The tree the log's requests are served from, when known.
    pub docroot: Option<&'r str>,
}

/// Subjects: a client or a network (an `IpNet`), with a tag that splits one subject
/// into independent ones (a served probe apart from the others, one file per client).
type Key = (IpNet, u64);

/// What a report says of its requests.
#[derive(Default, Debug)]
pub struct Aggregate {
    statuses: BTreeMap<u16, u64>,
    /// The first few distinct paths, for the event.
    paths: Vec<String>,
    /// Every distinct path, for the count (only the summaries that say it fill it).
    distinct: Distinct,
    agents: Vec<(String, u64)>,
    vhost: Option<String>,
    log: Option<Arc<str>>,
    /// Requests answered 2xx with a body.
    served: u64,
    /// Distinct clients (networks and the whole server), up to a few.
    clients: Vec<IpAddr>,
    /// Kinds of probe seen (scanner behaviour), as bits of `Flags`.
    probe_bits: u8,
    files: Vec<String>,
    /// The file event the requests are tied to (webshell-access), and the ids of the
    /// events to name in `related`.
    tied: Option<FileRef>,
    related: Vec<String>,
}

const MAX_AGENTS: usize = 4;
const MAX_CLIENTS: usize = 16;
/// Request targets are kept in events up to this length.
const MAX_TARGET: usize = 512;

impl Aggregate {
    /// Count one request; `paths` keeps the path of its target (the query, where
    /// injections are, is in the evidence). `path_hash`: count the path as distinct
    /// (the hash `classify` already made of it), for the summaries that say the count.
    fn add(&mut self, input: &Input<'_, '_>, path_hash: Option<u64>) {
        let r = input.record;
        let target: &str = &r.target;
        *self.statuses.entry(r.status).or_default() += 1;
        let path = target.split('?').next().unwrap_or(target);
        if let Some(hash) = path_hash {
            self.distinct.insert(hash);
        }
        if self.paths.len() < MAX_EVIDENCE && !self.paths.iter().any(|p| p == path) {
            self.paths.push(truncate(path, MAX_TARGET));
        }
        if let Some(ua) = r.user_agent.as_deref() {
            let full = self.agents.len() >= MAX_AGENTS;
            match self.agents.iter_mut().find(|(a, _)| a == ua) {
                Some((_, n)) => *n += 1,
                None if !full => self.agents.push((truncate(ua, MAX_TARGET), 1)),
                None => {}
            }
        }
        if self.vhost.is_none() {
            self.vhost = r.vhost.as_deref().map(str::to_owned);
        }
        if self.log.is_none() {
            self.log = Some(input.log.clone());
        }
        if served(r) {
            self.served += 1;
        }
        if self.clients.len() < MAX_CLIENTS && !self.clients.contains(&r.client) {
            self.clients.push(r.client);
        }
    }

    /// The file a served request maps to under the log's docroot, when it exists.
    fn name_file(&mut self, input: &Input<'_, '_>) {
        let r = input.record;
        if !(200..300).contains(&r.status) || self.files.len() >= MAX_EVIDENCE {
            return;
        }
        let Some(path) = input
            .docroot
            .and_then(|root| correlate::disk_path(root, &r.target))
        else {
            return;
        };
        if !self.files.contains(&path) && std::fs::symlink_metadata(&path).is_ok() {
            self.files.push(path);
        }
    }

    fn user_agent(&self) -> Option<String> {
        self.agents
            .iter()
            .max_by_key(|(_, n)| *n)
            .map(|(a, _)| a.clone())
    }
}

fn served(r: &AccessRecord<'_>) -> bool {
    (200..300).contains(&r.status) && r.bytes > 0
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn host_net(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// Every detector of the `web` category, with its counters.
pub struct WebDetectors {
    signatures: &'static Signatures,
    allow: Vec<IpNet>,
    detectors: Vec<Detector>,
    errors: ErrorRate,
    pub correlator: Correlator,
}

type Detector = crate::detect::settings::Detector<Key, Aggregate>;

/// Indices of `WebDetectors::detectors`, in `settings::KINDS` order.
mod slot {
    pub const SENSITIVE: usize = 0;
    pub const BACKDOOR: usize = 1;
    pub const ADMIN: usize = 2;
    pub const SCANNER: usize = 3;
    pub const TRAVERSAL: usize = 4;
    pub const SQLI: usize = 5;
    pub const XSS: usize = 6;
    pub const NOT_FOUND: usize = 7;
    pub const BRUTE_FORCE: usize = 8;
    pub const FLOOD: usize = 9;
    pub const FLOOD_NET: usize = 10;
    pub const ERROR_BURST: usize = 11;
    pub const WEBSHELL_ACCESS: usize = 12;
    pub const PLANTED: usize = 13;
}

impl WebDetectors {
    pub fn new(settings: &WebSettings) -> WebDetectors {
        let detectors = settings::KINDS
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let mut detector = Detector::new(kind, settings.detector(kind));
                if i == slot::FLOOD || i == slot::FLOOD_NET {
                    // They see every request: keep memory for the few that matter.
                    detector.tracker = detector.tracker.evidence_cap(3);
                }
                detector
            })
            .collect();
        WebDetectors {
            signatures: Signatures::builtin(),
            allow: settings.allow.clone(),
            detectors,
            errors: ErrorRate::default(),
            correlator: Correlator::default(),
        }
    }

    /// Subjects dropped at the counters' caps (for the daemon's status).
    pub fn dropped(&self) -> u64 {
        self.detectors.iter().map(|d| d.tracker.dropped()).sum()
    }

    /// Judge one record; what it completes is appended to `out`.
    pub fn observe(&mut self, input: &Input<'_, '_>, out: &mut Vec<Alert>) {
        let r = input.record;
        let at = r.ts.timestamp_millis();
        self.report_due(at, out);
        let request = self
            .signatures
            .classify(&r.method, &r.target, r.user_agent.as_deref());
        let flags = request.flags;
        let client = host_net(r.client);
        let allowed = self.allow.iter().any(|n| n.contains(&r.client));

        // The whole server first: allowed clients see failures too.
        let error_min = u64::from(self.detectors[slot::ERROR_BURST].tracker.limits().threshold);
        let failing = self.errors.add(at, r.status, r.client, error_min);
        if r.status >= 500 {
            let key = (global(), 0);
            self.feed(slot::ERROR_BURST, key, None, input, |_, _| failing, out);
        }
        let mut hits = Vec::new();
        self.correlator.observe(input, input.docroot, &mut hits);
        for hit in hits {
            self.tie(hit, Some(input), allowed, out);
        }
        if allowed {
            return;
        }
        let path = Some(hash_of(&request.path));
        let is_4xx = (400..500).contains(&r.status);
        let bursty = !flags.static_asset;
        let served_tag = u64::from(served(r));
        let login_failure = (flags.login && r.status == 200) || (r.status == 401 && bursty);

        if flags.sensitive {
            let decide = |a: &Aggregate, reached: bool| reached || a.served > 0;
            self.feed(
                slot::SENSITIVE,
                (client, served_tag),
                path,
                input,
                decide,
                out,
            );
        }
        // (applies, detector, subject tag, distinct key): the detectors that report at
        // their threshold.
        let plain = [
            (flags.backdoor, slot::BACKDOOR, served_tag, path),
            (flags.admin && r.status == 404, slot::ADMIN, 0, path),
            (flags.traversal, slot::TRAVERSAL, 0, None),
            (flags.sqli, slot::SQLI, 0, None),
            (flags.xss, slot::XSS, 0, None),
            (is_4xx && bursty, slot::NOT_FOUND, 0, path),
            (login_failure, slot::BRUTE_FORCE, 0, None),
            (bursty, slot::FLOOD, 0, None),
        ];
        for (applies, slot, tag, distinct) in plain {
            if applies {
                self.feed(slot, (client, tag), distinct, input, at_threshold, out);
            }
        }
        if flags.scanner_agent || flags.probe_kinds() > 0 || (is_4xx && bursty) {
            let bits = probe_bits(&flags);
            let agent = flags.scanner_agent;
            let decide = move |a: &Aggregate, reached: bool| {
                agent || reached || (a.probe_bits | bits).count_ones() >= SCANNER_PROBE_KINDS
            };
            let update = |a: &mut Aggregate| a.probe_bits |= bits;
            out.extend(self.feed_with(slot::SCANNER, (client, 0), path, input, update, decide));
        }
        if bursty {
            let network = (network_of(r.client), 0);
            let decide =
                |a: &Aggregate, reached: bool| reached && a.clients.len() >= FLOOD_NETWORK_CLIENTS;
            self.feed(slot::FLOOD_NET, network, None, input, decide, out);
        }
    }

    /// Cooldowns end on the records' time only (a backlog read late gives what live
    /// reading gave); the wall clock (`now_ms`, live) only ends the wait of new files
    /// for their planter. At the end of the records (`i64::MAX`) everything is told.
    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        if now_ms == i64::MAX {
            self.report_due(now_ms, out);
        }
        let mut hits = Vec::new();
        self.correlator.flush(now_ms, &mut hits);
        for hit in hits {
            self.tie(hit, None, false, out);
        }
    }

    /// The reports of what came during cooldowns that have ended by `now_ms`.
    fn report_due(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        for (slot, detector) in self.detectors.iter_mut().enumerate() {
            for (key, fired) in detector.tracker.due(now_ms) {
                let follows = fired.follows_ms;
                out.push(report(detector, slot, key.0, fired).following(follows));
            }
        }
    }

    /// A file fim reported, to tie later (or, live, just written) requests to.
    pub fn add_file(&mut self, file: FileRef, live_now_ms: Option<i64>) {
        self.correlator.add_file(file, live_now_ms);
    }

    /// The events of what the correlator found.
    fn tie(
        &mut self,
        hit: Hit,
        input: Option<&Input<'_, '_>>,
        allowed: bool,
        out: &mut Vec<Alert>,
    ) {
        match hit {
            Hit::Access { file, planted_by } => {
                let (Some(input), false) = (input, allowed) else {
                    return;
                };
                let key = (host_net(input.record.client), hash_of(&file.path));
                let alert = self.feed_with(
                    slot::WEBSHELL_ACCESS,
                    key,
                    None,
                    input,
                    |a| {
                        if a.tied.is_none() {
                            if !a.files.contains(&file.path) {
                                a.files.push(file.path.clone());
                            }
                            a.related.push(file.event_id.clone());
                            a.related.extend(planted_by);
                            a.tied = Some(file);
                        }
                    },
                    at_threshold,
                );
                out.extend(alert);
            }
            Hit::Planted { file, write } => {
                let detector = &self.detectors[slot::PLANTED];
                if !detector.settings.enabled
                    || self.allow.iter().any(|n| n.contains(&write.client))
                {
                    return;
                }
                let mut alert = planted_alert(detector, &file, write);
                downgrade_unflagged(&mut alert, &file);
                self.correlator.planted(&file.path, &alert.id);
                out.push(alert);
            }
        }
    }

    /// One observation of `key` by the detector in `slot`, at the record's time.
    fn feed(
        &mut self,
        slot: usize,
        key: Key,
        distinct: Option<u64>,
        input: &Input<'_, '_>,
        decide: impl FnOnce(&Aggregate, bool) -> bool,
        out: &mut Vec<Alert>,
    ) {
        out.extend(self.feed_with(slot, key, distinct, input, |_| {}, decide));
    }

    /// `feed`, with a detector-specific update of the aggregate; returns the report.
    fn feed_with(
        &mut self,
        slot: usize,
        key: Key,
        distinct: Option<u64>,
        input: &Input<'_, '_>,
        update: impl FnOnce(&mut Aggregate),
        decide: impl FnOnce(&Aggregate, bool) -> bool,
    ) -> Option<Alert> {
        let detector = &mut self.detectors[slot];
        if !detector.settings.enabled {
            return None;
        }
        // Rates see every request: naming files on disk is for the probes.
        let name_files = !matches!(slot, slot::FLOOD | slot::FLOOD_NET | slot::ERROR_BURST);
        let path_hash = distinct.filter(|_| COUNTS_PATHS.contains(&slot));
        let fired = detector.tracker.observe(
            &key,
            input.record.ts.timestamp_millis(),
            distinct,
            || evidence_line(input.log, input.line),
            |a| {
                a.add(input, path_hash);
                if name_files {
                    a.name_file(input);
                }
                update(a)
            },
            decide,
        );
        fired.map(|fired| report(detector, slot, key.0, fired))
    }
}

/// The detectors whose summaries count the distinct paths requested.
const COUNTS_PATHS: [usize; 3] = [slot::SENSITIVE, slot::ADMIN, slot::NOT_FOUND];

/// A client trying this many kinds of probe (sensitive files, webshells, admin pages,
/// traversal, SQL, scripts) within the window is a scanner, whatever it calls itself.
const SCANNER_PROBE_KINDS: u32 = 3;
/// A network flood needs this many distinct clients (one client is `flood` itself).
const FLOOD_NETWORK_CLIENTS: usize = 3;

fn probe_bits(f: &Flags) -> u8 {
    [f.sensitive, f.backdoor, f.admin, f.traversal, f.sqli, f.xss]
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .fold(0, |bits, (i, _)| bits | (1 << i))
}

/// The subject of server-wide detectors.
fn global() -> IpNet {
    IpNet::from(IpAddr::from([0, 0, 0, 0]))
}

fn span(f: &Fired<Aggregate>) -> String {
    let secs = (f.last_ms - f.first_ms) as f64 / 1000.0;
    if secs < 1.0 {
        "under a second".to_owned()
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else {
        format!("{:.0} min", secs / 60.0)
    }
}

fn statuses_note(a: &Aggregate) -> String {
    let parts: Vec<String> = a
        .statuses
        .iter()
        .map(|(status, n)| format!("{n}× {status}"))
        .collect();
    parts.join(", ")
}

/// The event of a fired detector: severity, summary and fields by kind.
fn report(detector: &Detector, slot: usize, subject: IpNet, f: Fired<Aggregate>) -> Alert {
    let a = &f.aggregate;
    let who = if slot == slot::ERROR_BURST {
        None
    } else if slot == slot::FLOOD_NET {
        Some(subject.to_string())
    } else {
        Some(subject.addr().to_string())
    };
    let name = who.clone().unwrap_or_else(|| "the server".into());
    let n = f.count;
    let requests = plural(n, "request", "requests");
    let served_note = match a.served {
        0 => String::new(),
        s => format!(", {s} answered 2xx"),
    };
    let mut severity = detector.settings.severity;
    let mut reasons = Vec::new();
    let summary = match slot {
        slot::SENSITIVE => {
            if a.served > 0 {
                severity = severity.max(Severity::Critical);
                reasons
                    .push("a file that must never be served was answered 2xx with a body".into());
            }
            format!(
                "{name} requested {} in {} ({requests}{served_note})",
                a.distinct.words("sensitive file", "sensitive files"),
                span(&f)
            )
        }
        slot::BACKDOOR => {
            if a.served > 0 {
                severity = severity.max(Severity::High);
                reasons.push("a well-known webshell name was answered 2xx".into());
            }
            format!("{name} requested well-known webshell names ({requests}{served_note})")
        }
        slot::ADMIN => format!(
            "{name} probed {} that do not exist here",
            a.distinct.words("admin interface", "admin interfaces")
        ),
        slot::SCANNER => {
            let by = match a.user_agent() {
                Some(ua)
                    if Signatures::builtin()
                        .classify("GET", "/", Some(&ua))
                        .flags
                        .scanner_agent =>
                {
                    format!("user agent {:?}", truncate(&ua, 60))
                }
                _ => "behaviour".into(),
            };
            reasons.push(format!("scanner by {by}"));
            format!(
                "{name} is scanning the site ({requests}, {}; by {by})",
                statuses_note(a)
            )
        }
        slot::TRAVERSAL => format!("{name} tried path traversal ({requests}{served_note})"),
        slot::SQLI => format!("{name} tried SQL injection ({requests}{served_note})"),
        slot::XSS => format!("{name} tried script injection ({requests}{served_note})"),
        slot::NOT_FOUND => format!(
            "{name} requested {} that do not exist in {} ({})",
            a.distinct.words("path", "paths"),
            span(&f),
            statuses_note(a)
        ),
        slot::BRUTE_FORCE => format!(
            "{name} made {} failed login attempts in {} on {}",
            n,
            span(&f),
            a.paths.first().map_or("", |p| p.as_str())
        ),
        slot::FLOOD => format!("{name} sent {requests} in {}", span(&f)),
        slot::FLOOD_NET => format!(
            "{name} ({}+ clients) sent {requests} in {}",
            a.clients.len(),
            span(&f)
        ),
        slot::WEBSHELL_ACCESS => match &a.tied {
            Some(file) => {
                if file.reasons.is_empty() {
                    severity = severity.min(Severity::High);
                } else {
                    reasons.extend(file.reasons.iter().cloned());
                }
                format!(
                    "{name} requested {} ({requests}: {}), which fim reported {}",
                    file.path,
                    statuses_note(a),
                    file_note(file)
                )
            }
            None => format!("{name} requested a file fim reported ({requests})"),
        },
        slot::ERROR_BURST => format!(
            "the server answered 5xx to {requests} in {} from {} clients ({})",
            span(&f),
            a.clients.len(),
            statuses_note(a)
        ),
        _ => format!("{name}: {requests}"),
    };
    let fields = WebFields {
        client: who,
        vhost: a.vhost.clone(),
        log: a.log.as_deref().unwrap_or_default().to_owned(),
        statuses: a
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        paths: a.paths.clone(),
        user_agent: a.user_agent(),
        files: a.files.clone(),
    };
    Alert {
        id: crate::event::new_id(),
        detection: Detection {
            category: Category::Web,
            kind: kind_name(detector),
            summary,
            count: f.count,
            first_ts: ms_to_time(f.first_ms),
            last_ts: ms_to_time(f.last_ms),
            evidence: f.evidence,
            related: a.related.clone(),
            fields: Fields::Web(fields),
        },
        severity,
        rule: detector.settings.rule.clone(),
        reasons,
    }
}

/// The contract's kind of a detector: the network flood is a `flood` too.
fn kind_name(detector: &Detector) -> &'static str {
    match detector.kind {
        "flood-network" => "flood",
        kind => kind,
    }
}

/// 5xx answers against the recent normal, for the whole server: 10 s buckets over the
/// last 10 minutes.
#[derive(Default)]
struct ErrorRate {
    buckets: std::collections::VecDeque<Bucket>,
}

#[derive(Default, Clone)]
struct Bucket {
    start_ms: i64,
    total: u64,
    errors: u64,
    clients: Vec<IpAddr>,
}

const BUCKET_MS: i64 = 10_000;
const RECENT_BUCKETS: usize = 6;
const HISTORY_BUCKETS: usize = 60;
/// Failing: at least `error_min` 5xx in the last minute, this share of all answers,
const ERROR_SHARE: f64 = 0.3;
/// at least this many times the share before,
const ERROR_RISE: f64 = 3.0;
/// seen by at least this many clients.
const ERROR_CLIENTS: usize = 2;

impl ErrorRate {
    /// Count one answer; is the server failing now (`error_min` 5xx in the last minute,
    /// and the rest of the conditions)?
    fn add(&mut self, at: i64, status: u16, client: IpAddr, error_min: u64) -> bool {
        let start = at - at.rem_euclid(BUCKET_MS);
        match self.buckets.back() {
            Some(b) if b.start_ms == start => {}
            Some(b) if b.start_ms > start => {} // late line: counted in the newest bucket
            _ => self.buckets.push_back(Bucket {
                start_ms: start,
                ..Bucket::default()
            }),
        }
        while self
            .buckets
            .front()
            .is_some_and(|b| b.start_ms <= start - BUCKET_MS * HISTORY_BUCKETS as i64)
        {
            self.buckets.pop_front();
        }
        let bucket = self.buckets.back_mut().expect("pushed above");
        bucket.total += 1;
        if status < 500 {
            return false;
        }
        bucket.errors += 1;
        if bucket.clients.len() < MAX_CLIENTS && !bucket.clients.contains(&client) {
            bucket.clients.push(client);
        }
        let recent_from = start - BUCKET_MS * (RECENT_BUCKETS as i64 - 1);
        let (mut total, mut errors, mut before_total, mut before_errors) = (0, 0, 0, 0);
        let mut clients: Vec<IpAddr> = Vec::new();
        for b in &self.buckets {
            if b.start_ms >= recent_from {
                total += b.total;
                errors += b.errors;
                for c in &b.clients {
                    if !clients.contains(c) {
                        clients.push(*c);
                    }
                }
            } else {
                before_total += b.total;
                before_errors += b.errors;
            }
        }
        let share = errors as f64 / total.max(1) as f64;
        let before = before_errors as f64 / before_total.max(1) as f64;
        errors >= error_min
            && share >= ERROR_SHARE
            && share >= before * ERROR_RISE
            && clients.len() >= ERROR_CLIENTS
    }
}

fn file_note(file: &FileRef) -> String {
    let what = if file.new { "new" } else { "changed" };
    match file.reasons.first() {
        Some(reason) => format!("{what}: {reason}"),
        None => what.to_owned(),
    }
}

/// A new script the heuristics found nothing in may be a deploy: high, not critical.
fn downgrade_unflagged(alert: &mut Alert, file: &FileRef) {
    if file.reasons.is_empty() {
        alert.severity = alert.severity.min(Severity::High);
    } else {
        alert.reasons.extend(file.reasons.iter().cloned());
    }
}

fn planted_alert(detector: &Detector, file: &FileRef, write: correlate::Write) -> Alert {
    let offset_s = (file.birth_ms - write.at_ms) as f64 / 1000.0;
    let when = if offset_s.abs() < 1.0 {
        "as it appeared".to_owned()
    } else if offset_s > 0.0 {
        format!("{offset_s:.0} s before it appeared")
    } else {
        format!("{:.0} s after it appeared", -offset_s)
    };
    let summary = format!(
        "{} {} {} most likely planted {} ({when}; {})",
        write.client,
        write.method,
        truncate(&write.target, 120),
        file.path,
        file_note(file)
    );
    let fields = WebFields {
        client: Some(write.client.to_string()),
        vhost: write.vhost,
        log: write.evidence.file.to_string(),
        statuses: BTreeMap::from([(write.status.to_string(), 1)]),
        paths: vec![truncate(&write.target, MAX_TARGET)],
        user_agent: write.user_agent,
        files: vec![file.path.clone()],
    };
    let at = ms_to_time(write.at_ms);
    Alert {
        id: crate::event::new_id(),
        detection: Detection {
            category: Category::Web,
            kind: kind_name(detector),
            summary,
            count: 1,
            first_ts: at,
            last_ts: at,
            evidence: vec![write.evidence],
            related: vec![file.event_id.clone()],
            fields: Fields::Web(fields),
        },
        severity: detector.settings.severity,
        rule: detector.settings.rule.clone(),
        reasons: Vec::new(),
    }
}
