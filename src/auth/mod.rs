//! The auth detectors: auth-log records in, `auth` detections out. Each is a subject
//! (a client, its /24 or /64, a user) fed into the one counter engine
//! (`crate::detect::window`) on the records' own time, so a replay gives what live
//! reading gave. `learned` keeps each user's known source networks.

pub mod journal;
pub mod learned;
pub mod logs;
pub mod parse;
pub mod session;
pub mod settings;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Local;
use ipnet::IpNet;

use crate::detect::distinct::{hash_of, Distinct};
use crate::detect::window::{at_threshold, Fired};
use crate::detect::{
    evidence_line, ms_to_time, network_of, Alert, AuthFields, Category, Detection, Evidence,
    Fields, MAX_EVIDENCE,
};
use crate::progress::plural;
use learned::Learned;
use parse::{Action, AuthRecord};
pub use settings::LoginSettings;
use settings::QuietHours;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Subject {
    /// A client, or its network.
    Net(IpNet),
    /// A local user (sudo, su), or a user on their own.
    User(String),
}

#[derive(Default, Debug)]
struct Aggregate {
    /// The first few user names, for the event.
    users: Vec<String>,
    distinct_users: Distinct,
    clients: Vec<IpAddr>,
    service: &'static str,
    /// The last observation was this success (login-after-failures); boxed, as it is
    /// rare and every subject carries the field.
    success: Option<Box<(String, String, Evidence)>>,
    failures: u64,
    method: Option<String>,
}

const MAX_CLIENTS: usize = 16;
/// A network brute force needs this many distinct clients (one is `brute-force` itself).
const NETWORK_CLIENTS: usize = 3;

impl Aggregate {
    /// Is the last observation a login after at least `need` failures?
    fn login_after_failures(&self, need: u64) -> bool {
        self.success.is_some() && self.failures >= need
    }

    /// `names`: keep the user names (the summaries that list them).
    fn add(&mut self, r: &AuthRecord<'_>, names: bool) {
        self.service = r.service;
        if let Some(user) = r.user.filter(|_| names) {
            self.distinct_users.add(user);
            if self.users.len() < MAX_EVIDENCE && !self.users.iter().any(|u| u == user) {
                self.users.push(short(user));
            }
        }
        if let Some(c) = r.client {
            if self.clients.len() < MAX_CLIENTS && !self.clients.contains(&c) {
                self.clients.push(c);
            }
        }
        match r.action {
            Action::Failed | Action::InvalidUser => {
                // A login uses up the failures before it, reported or not: a typo a
                // day and a login after each never add up to an attack.
                if self.success.take().is_some() {
                    self.failures = 0;
                }
                self.failures += 1;
            }
            Action::Accepted { method } => {
                self.method = Some(method.to_owned());
            }
            _ => {}
        }
    }
}

mod slot {
    pub const BRUTE: usize = 0;
    pub const BRUTE_NET: usize = 1;
    pub const ENUM: usize = 2;
    pub const AFTER: usize = 3;
    pub const QUIET: usize = 4;
    pub const NEW: usize = 5;
    pub const ROOT: usize = 6;
}

type Detector = crate::detect::settings::Detector<Subject, Aggregate>;

pub struct AuthDetectors {
    allow: Vec<IpNet>,
    /// `login-after-failures`: how many failures before a login make it one.
    after_failures: u64,
    quiet: Option<QuietHours>,
    detectors: Vec<Detector>,
    pub learned: Learned,
}

/// One record with its raw line.
pub struct Input<'r, 'a> {
    pub record: &'r AuthRecord<'a>,
    pub line: &'r [u8],
    pub log: &'r Arc<str>,
    /// The line as evidence, made once for all the subjects it counts for.
    evidence: std::cell::OnceCell<Evidence>,
}

impl<'r, 'a> Input<'r, 'a> {
    pub fn new(record: &'r AuthRecord<'a>, line: &'r [u8], log: &'r Arc<str>) -> Self {
        Input {
            record,
            line,
            log,
            evidence: std::cell::OnceCell::new(),
        }
    }

    pub fn evidence(&self) -> Evidence {
        self.evidence
            .get_or_init(|| evidence_line(self.log, self.line))
            .clone()
    }
}

impl AuthDetectors {
    pub fn new(settings: &LoginSettings, learned: Learned) -> AuthDetectors {
        let detectors = settings::KINDS
            .iter()
            .map(|kind| Detector::new(kind, settings.detector(kind)))
            .collect();
        AuthDetectors {
            allow: settings.allow.clone(),
            after_failures: settings
                .detector(settings::KINDS[slot::AFTER])
                .limits
                .threshold
                .into(),
            quiet: settings.quiet_hours,
            detectors,
            learned,
        }
    }

    pub fn dropped(&self) -> u64 {
        self.detectors.iter().map(|d| d.tracker.dropped()).sum()
    }

    pub fn observe(&mut self, input: &Input<'_, '_>, out: &mut Vec<Alert>) {
        let r = input.record;
        let at = r.ts.timestamp_millis();
        self.report_due(at, out);
        if r.client
            .is_some_and(|c| self.allow.iter().any(|n| n.contains(&c)))
        {
            return;
        }
        let host = r.client.map(|c| Subject::Net(IpNet::from(c)));
        let net = r.client.map(|c| Subject::Net(network_of(c)));
        let local = || Subject::User(format!("{}:{}", r.service, r.user.unwrap_or("")));
        let user_hash = r.user.map(hash_of);
        match r.action {
            Action::Failed => {
                self.feed(
                    slot::BRUTE,
                    host.clone().unwrap_or_else(local),
                    None,
                    input,
                    at_threshold,
                    out,
                );
                if let (Some(host), Some(net)) = (host, net) {
                    let decide = |a: &Aggregate, reached: bool| {
                        reached && a.clients.len() >= NETWORK_CLIENTS
                    };
                    self.feed(slot::BRUTE_NET, net.clone(), None, input, decide, out);
                    self.feed(
                        slot::ENUM,
                        host.clone(),
                        user_hash,
                        input,
                        at_threshold,
                        out,
                    );
                    self.feed(slot::AFTER, host, None, input, |_, _| false, out);
                    self.feed(slot::AFTER, net, None, input, |_, _| false, out);
                }
            }
            Action::InvalidUser => {
                if let Some(host) = host {
                    self.feed(slot::ENUM, host, user_hash, input, at_threshold, out);
                }
            }
            Action::Accepted { method } => {
                let user = r.user.unwrap_or("");
                if let (Some(host), Some(net), Some(client)) = (host.clone(), net.clone(), r.client)
                {
                    let success = Box::new((user.to_owned(), method.to_owned(), input.evidence()));
                    let need = self.after_failures;
                    let decide = |a: &Aggregate, _| a.login_after_failures(need);
                    let used = std::cell::Cell::new(0);
                    let before = out.len();
                    self.feed_with(
                        slot::AFTER,
                        host,
                        None,
                        input,
                        |a| {
                            a.success = Some(success.clone());
                            used.set(a.failures);
                        },
                        decide,
                        out,
                    );
                    // One login, one event: the client's, which says more. The network
                    // counts it, but has no login of its own to tell, now or when its
                    // watch ends, and the client's failures it used up are not counted
                    // against the next login from the network.
                    let told = out.len() > before;
                    self.feed_with(
                        slot::AFTER,
                        net,
                        None,
                        input,
                        |a| {
                            if told {
                                a.failures = a.failures.saturating_sub(used.get());
                            } else {
                                a.success = Some(success);
                            }
                        },
                        decide,
                        out,
                    );
                    let network = network_of(client);
                    if self.learned.learn(user, network, at) {
                        let key = Subject::User(format!("{user}@{network}"));
                        self.feed(slot::NEW, key, None, input, at_threshold, out);
                    }
                }
                if user == "root" && r.service == "sshd" {
                    self.feed(
                        slot::ROOT,
                        host.unwrap_or_else(local),
                        None,
                        input,
                        at_threshold,
                        out,
                    );
                }
                let local_time = r.ts.with_timezone(&Local).time();
                if self.quiet.is_some_and(|q| q.contains(local_time)) {
                    self.feed(
                        slot::QUIET,
                        Subject::User(user.to_owned()),
                        None,
                        input,
                        at_threshold,
                        out,
                    );
                }
            }
            Action::Disconnected | Action::Abandoned | Action::Closed | Action::Command { .. } => {}
        }
    }

    /// At the end of the records (`i64::MAX`) everything is told; live, cooldowns end
    /// on the records' time only.
    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        if now_ms == i64::MAX {
            self.report_due(now_ms, out);
        }
    }

    fn report_due(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        let (quiet, need) = (self.quiet, self.after_failures);
        for (slot, d) in self.detectors.iter_mut().enumerate() {
            for (key, fired) in d.tracker.due(now_ms) {
                // Failures after a reported login are not a login of their own, nor
                // is a login already told by its client's event (its network counts it
                // without keeping it as its success), nor logins without failures.
                if slot == slot::AFTER && !fired.aggregate.login_after_failures(need) {
                    continue;
                }
                let follows = fired.follows_ms;
                out.push(report(d, slot, &key, fired, quiet).following(follows));
            }
        }
    }

    fn feed(
        &mut self,
        slot: usize,
        key: Subject,
        distinct: Option<u64>,
        input: &Input<'_, '_>,
        decide: impl FnOnce(&Aggregate, bool) -> bool,
        out: &mut Vec<Alert>,
    ) {
        self.feed_with(slot, key, distinct, input, |_| {}, decide, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn feed_with(
        &mut self,
        slot: usize,
        key: Subject,
        distinct: Option<u64>,
        input: &Input<'_, '_>,
        update: impl FnOnce(&mut Aggregate),
        decide: impl FnOnce(&Aggregate, bool) -> bool,
        out: &mut Vec<Alert>,
    ) {
        let quiet = self.quiet;
        let d = &mut self.detectors[slot];
        if !d.settings.enabled {
            return;
        }
        let fired = d.tracker.observe(
            &key,
            input.record.ts.timestamp_millis(),
            distinct,
            || input.evidence(),
            |a| {
                a.add(input.record, slot != slot::AFTER);
                update(a)
            },
            decide,
        );
        if let Some(fired) = fired {
            out.push(report(d, slot, &key, fired, quiet));
        }
    }
}

/// User names are kept up to this length in events (a 1 MB name is cut).
const MAX_NAME: usize = 64;

pub(crate) fn short(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
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

fn report(
    d: &Detector,
    slot: usize,
    key: &Subject,
    mut f: Fired<Aggregate>,
    quiet: Option<QuietHours>,
) -> Alert {
    let a = &f.aggregate;
    let client = match (slot, key) {
        (slot::BRUTE_NET, Subject::Net(n)) => Some(n.to_string()),
        (slot::AFTER, Subject::Net(n)) if n.prefix_len() < n.max_prefix_len() => {
            Some(n.to_string())
        }
        _ => a.clients.first().map(IpAddr::to_string),
    };
    let (success_user, method) = match &a.success {
        Some(s) => (Some(s.0.clone()), Some(s.1.clone())),
        None => (None, a.method.clone()),
    };
    let user = success_user.or_else(|| match slot {
        slot::BRUTE | slot::ENUM | slot::BRUTE_NET if a.users.len() != 1 => None,
        _ => a.users.first().cloned(),
    });
    let who = client.clone().unwrap_or_else(|| "a local user".into());
    let name = user.clone().unwrap_or_else(|| "?".into());
    let method = method.unwrap_or_default();
    let n = f.count;
    let users = a.users.join(", ");
    let summary = match slot {
        slot::BRUTE => format!(
            "{who} failed {} in {} ({}: {users})",
            plural(n, "login", "logins"),
            span(&f),
            a.service
        ),
        slot::BRUTE_NET => format!(
            "{who} ({}+ clients) failed {} in {} ({users})",
            a.clients.len(),
            plural(n, "login", "logins"),
            span(&f)
        ),
        slot::ENUM => format!(
            "{who} tried {} in {} ({users})",
            a.distinct_users.words("user name", "user names"),
            span(&f)
        ),
        slot::AFTER => format!(
            "{name} logged in from {who} ({method}) after {} failed attempts in {}",
            a.failures,
            span(&f)
        ),
        slot::QUIET => {
            let local = ms_to_time(f.last_ms).with_timezone(&Local);
            let hours = quiet.map_or(String::new(), |q| {
                format!(" {}-{}", q.start.format("%H:%M"), q.end.format("%H:%M"))
            });
            format!(
                "{name} logged in ({}) at {} local time, in the quiet hours{hours}",
                a.service,
                local.format("%H:%M")
            )
        }
        slot::NEW => format!("{name} logged in from a new network: {who} ({method})"),
        slot::ROOT => format!("root logged in directly from {who} ({method})"),
        _ => format!("{who}: {n} lines"),
    };
    if let Some(line) = a.success.as_ref().map(|s| &s.2) {
        // The success is the line that matters: keep it when the failures filled the list.
        if !f.evidence.contains(line) {
            if f.evidence.len() >= MAX_EVIDENCE {
                f.evidence.pop();
            }
            f.evidence.push(line.clone());
        }
    }
    let fields = AuthFields {
        user,
        client,
        service: a.service.to_owned(),
    };
    Alert {
        id: crate::event::new_id(),
        detection: Detection {
            category: Category::Auth,
            kind: match d.kind {
                "brute-force-network" => "brute-force",
                kind => kind,
            },
            summary,
            count: f.count,
            first_ts: ms_to_time(f.first_ms),
            last_ts: ms_to_time(f.last_ms),
            evidence: f.evidence,
            related: Vec::new(),
            fields: Fields::Auth(fields),
        },
        severity: d.settings.severity,
        rule: d.settings.rule.clone(),
        reasons: Vec::new(),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
