//! Host checks (`[host]`): is the server vulnerable? Pending security updates and
//! reboots (`updates`), package files that are not the package's (file events on
//! them, and a full pass with `packages`), and files a served tree must never hold
//! (`exposure`, asked of the `sites` over HTTP). All read-only: the package manager
//! is never run, and the network is only the configured sites.
//!
//! `verify` runs a full round each time; `watch` at start, daily, and soon after
//! dpkg.log shows a package operation (followed by the one log follower). A round's
//! slow parts (hashing package files, asking sites) run on a worker thread under
//! `watch`, so the event loop never waits for them.

pub mod dpkg;
pub mod exposure;
pub mod integrity;
pub mod owners;
pub mod updates;
pub mod version;

mod round;

pub use crate::fs::open::open_regular;
use std::collections::HashSet;
use std::sync::mpsc::{Receiver, Sender};

use chrono::Utc;

use crate::detect::source::Source;
use crate::detect::{Alert, Category, Detection, Fields, HostFields};
use crate::event::{Body, Event};
use crate::fs::path as bpath;
use crate::fs::FileType;
use crate::logs::follow::Follower;
use crate::policy::{HostSettings, Policy, Severity, Site};
use round::{Job, Round};

/// How often `watch` runs a full round without a package operation.
const DAILY_MS: i64 = 24 * 3600 * 1000;
/// A package operation is followed by a round once dpkg.log has been quiet this long
/// (one round for a whole `apt upgrade`).
const QUIET_MS: i64 = 5_000;
/// Time a site gets to answer one request.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct HostChecks {
    settings: HostSettings,
    /// The trees the exposure rule judges file events in.
    served: Vec<Vec<u8>>,
    owners: owners::Owners,
    history: dpkg::History,
    /// Package files already judged on a file event (a full pass skips them).
    judged: HashSet<Vec<u8>>,
    /// Detections of file events, reported at the next poll.
    pending: Vec<Alert>,
    /// `watch`: the worker thread's queue and answers; `None` under `verify`, which
    /// runs everything in its one poll.
    worker: Option<(Sender<Job>, Receiver<round::Output>)>,
    round: Round,
    next_round_ms: i64,
    dpkg_log: Option<Follower>,
    /// When dpkg.log last showed a package operation not yet followed by a round.
    operation_ms: Option<i64>,
    rounds: u64,
    /// Sites asked about new entries since the last round (bounded).
    asked: usize,
    warned: HashSet<String>,
}

impl HostChecks {
    /// `None` when the policy has no `[host]` table.
    pub fn open(policy: &Policy, live: bool) -> Option<HostChecks> {
        let settings = policy.host.clone()?;
        let watched: Vec<Vec<u8>> = policy.watches.iter().map(|w| w.root.clone()).collect();
        let mut served: Vec<Vec<u8>> = settings
            .sites
            .iter()
            .map(|s| s.docroot.as_bytes().to_vec())
            .chain(
                policy
                    .logs
                    .iter()
                    .filter_map(|l| l.docroot.clone())
                    .map(String::into_bytes),
            )
            .collect();
        if served.is_empty() {
            served = watched.clone();
        }
        served.sort();
        served.dedup();
        let history = dpkg::History::new(&settings.root);
        let dpkg_log = live.then(|| {
            let log = history.log().to_string_lossy().into_owned();
            let mut follower = Follower::new(vec![(log, 0)], Default::default());
            follower.skip_to_end();
            follower
        });
        let round = Round {
            settings: settings.clone(),
            watched: watched.clone(),
            full: true,
        };
        let worker = live.then(round::spawn);
        Some(HostChecks {
            owners: owners::Owners::new(&settings.root, watched),
            history,
            settings,
            served,
            judged: HashSet::new(),
            pending: Vec::new(),
            worker,
            round,
            next_round_ms: i64::MIN,
            dpkg_log,
            operation_ms: None,
            rounds: 0,
            asked: 0,
            warned: HashSet::new(),
        })
    }

    fn warn(&mut self, message: String) {
        if self.warned.insert(message.clone()) {
            tracing::warn!("host checks: {message}");
        }
    }

    /// A round now: on the worker under `watch`, here under `verify`.
    fn start_round(&mut self, full: bool, out: &mut Vec<Alert>) {
        self.rounds += 1;
        self.asked = 0;
        let round = Round {
            full,
            ..self.round.clone()
        };
        match &self.worker {
            Some((jobs, _)) => {
                // The worker lives as long as the sender: a send cannot fail.
                let _ = jobs.send(Job::Round(round, self.judged.clone()));
            }
            None => {
                let output = round.run(&self.judged);
                self.take(output, out);
            }
        }
    }

    fn take(&mut self, output: round::Output, out: &mut Vec<Alert>) {
        for warning in output.warnings {
            self.warn(warning);
        }
        out.extend(output.alerts);
    }

    /// Did dpkg.log show a package operation since the last poll?
    fn operations_seen(&mut self) -> bool {
        let Some(follower) = &mut self.dpkg_log else {
            return false;
        };
        let mut seen = false;
        follower.poll(&mut |line| {
            seen |= dpkg::operation(&String::from_utf8_lossy(line.bytes)).is_some();
        });
        seen
    }

    /// The exposure rule on a new entry.
    fn exposure_event(&mut self, path: &[u8], is_dir: bool, event_id: &str) {
        let Some(tree) = self
            .served
            .iter()
            .find(|t| bpath::relative(path, t).is_some())
        else {
            return;
        };
        let mut site = site_of(&self.settings.sites, path).cloned();
        let stems: Vec<String> = site.iter().flat_map(exposure::stems).collect();
        let Some(why) = exposure::judge(tree, path, is_dir, &stems) else {
            return;
        };
        if site.is_some() {
            self.asked += 1;
            if self.asked > exposure::MAX_PROBES {
                self.warn(format!(
                    "more than {} new exposed entries since the last round: the others are \
                     reported without asking the site",
                    exposure::MAX_PROBES
                ));
                site = None;
            }
        }
        let found = round::Found {
            path: path.to_vec(),
            is_dir,
            why,
            related: vec![event_id.to_owned()],
        };
        match (site, &self.worker) {
            (Some(site), Some((jobs, _))) => {
                let _ = jobs.send(Job::Ask(site, found));
            }
            (Some(site), None) => {
                let mut asker = exposure::Asker::new(ASK_TIMEOUT);
                let answer = asker.ask(&site, path, is_dir);
                self.pending.push(round::exposed(found, answer, true));
            }
            (None, _) => self.pending.push(round::exposed(found, None, true)),
        }
    }

    /// A package file in a file event: the package's own content after a package
    /// operation is said so (and is `info`); other content, with no operation to
    /// explain it, is `package-file-changed`.
    fn package_event(&mut self, event: &mut Event, path: &[u8], changed_ms: i64) {
        let Some(owned) = self.owners.lookup(path) else {
            if let Some(w) = self.owners.warning.clone() {
                self.warn(w);
            }
            return;
        };
        self.judged.insert(path.to_vec());
        match integrity::check(path, owned) {
            Some(Ok(owned)) => {
                if let Some(operation) = self.history.explaining(&owned.package, changed_ms) {
                    event.reasons.push(operation.describe());
                    event.severity = Severity::Info;
                }
            }
            Some(Err(changed)) => {
                let now_ms = Utc::now().timestamp_millis();
                if !self
                    .history
                    .explains_difference(&changed.owned, changed_ms, now_ms)
                {
                    self.pending
                        .push(round::package_file_changed(changed, vec![event.id.clone()]));
                }
            }
            None => {}
        }
    }
}

impl Source for HostChecks {
    fn poll(&mut self, out: &mut Vec<Alert>) {
        out.append(&mut self.pending);
        let now_ms = Utc::now().timestamp_millis();
        if self.operations_seen() {
            self.operation_ms = Some(now_ms);
        }
        if now_ms >= self.next_round_ms {
            self.next_round_ms = now_ms.saturating_add(DAILY_MS);
            self.operation_ms = None;
            self.start_round(true, out);
        } else if self
            .operation_ms
            .is_some_and(|at| now_ms.saturating_sub(at) >= QUIET_MS)
        {
            self.operation_ms = None;
            self.start_round(false, out);
        }
        let answers: Vec<round::Output> = self
            .worker
            .as_ref()
            .map(|(_, answers)| answers.try_iter().collect())
            .unwrap_or_default();
        for output in answers {
            self.take(output, out);
        }
    }

    fn flush(&mut self, _now_ms: i64, out: &mut Vec<Alert>) {
        out.append(&mut self.pending);
    }

    fn explain(&mut self, event: &mut Event) {
        let Body::File(file) = &event.body else {
            return;
        };
        let Some(new) = &file.new else {
            return;
        };
        let (path, file_type, kind) = (file.path.clone(), new.file_type, file.kind);
        let changed_ms = new.ctime.sec.saturating_mul(1000);
        if self.settings.exposure && kind == crate::policy::Kind::New {
            self.exposure_event(&path, file_type == FileType::Dir, &event.id.clone());
        }
        if file_type == FileType::File {
            self.package_event(event, &path, changed_ms);
        }
    }

    fn file_event(&mut self, _event: &Event, _live_now_ms: Option<i64>) {}

    fn cursors(&self) -> Vec<(String, crate::logs::Position)> {
        Vec::new()
    }

    fn status(&self) -> String {
        format!("{} host check rounds", self.rounds)
    }
}

/// The whole content of a regular file (`open_regular`).
pub fn read_regular(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_regular(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A host detection: one check, now.
fn alert(
    kind: &'static str,
    severity: Severity,
    summary: String,
    fields: HostFields,
    related: Vec<String>,
    reasons: Vec<String>,
) -> Alert {
    let now = Utc::now();
    Alert {
        id: crate::event::new_id(),
        detection: Detection {
            category: Category::Host,
            kind,
            summary,
            count: fields
                .packages
                .as_ref()
                .map_or(1, |p| p.len().max(1) as u64),
            first_ts: now,
            last_ts: now,
            evidence: Vec::new(),
            related,
            fields: Fields::Host(fields),
        },
        severity,
        rule: kind.to_owned(),
        reasons,
    }
}

/// The site serving `path`, if one does.
fn site_of<'s>(sites: &'s [Site], path: &[u8]) -> Option<&'s Site> {
    sites
        .iter()
        .find(|s| bpath::relative(path, s.docroot.as_bytes()).is_some())
}
