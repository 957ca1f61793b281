//! Probes: is the site up, fast, and serving the right certificate, and what changed
//! on the box just before it broke. Each `[[probe]]` is checked on its own thread
//! (`schedule`), so a hung site never delays another probe or the daemon; the checks
//! come back to the source's `poll`, where each probe's state machine (`state`) decides
//! what to report, and the state and the check are saved in the baseline database.

pub mod diagnose;
pub mod http;
mod report;
mod schedule;
pub mod state;

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

use crate::detect::source::Source;
use crate::detect::Alert;
use crate::event::Event;
use crate::logs::Position;
use crate::policy::{Policy, ProbeSpec};
use crate::store::probes::{CheckRow, FileNote, ProbeStore};
use state::{Check, ProbeState, Verdict};

/// Reminders of an ongoing outage (and of slowness, an invalid certificate) come this
/// often at most: the contract's cooldown.
const COOLDOWN_MS: i64 = crate::detect::settings::DEFAULT_COOLDOWN.as_millis() as i64;
/// How far before the first failure file changes are tied to a `down`.
const RELATED_MS: i64 = 15 * 60 * 1000;
/// File events kept for that: this long, and at most this many.
const KEEP_FILES_MS: i64 = 2 * 3600 * 1000;
const KEEP_FILES: usize = 10_000;

struct Probe {
    spec: ProbeSpec,
    target: http::Target,
    state: ProbeState,
    /// The latest check, for the status line.
    last: Option<(Check, Option<u16>)>,
}

pub struct Probes {
    probes: Vec<Probe>,
    store: ProbeStore,
    trees: Vec<PathBuf>,
    /// Live: the checks the probe threads send; their stop channels (dropped with the
    /// source: every thread ends after its current check).
    results: Option<Receiver<(usize, i64, http::Outcome)>>,
    _stops: Vec<Sender<()>>,
    /// `verify`: one round, on the first poll.
    round_done: bool,
    files: VecDeque<FileNote>,
    checks: u64,
}

impl Probes {
    /// `None` when the policy has no `[[probe]]`. `live`: the daemon (threads on a
    /// schedule); else `verify`'s one round.
    pub fn open(
        baseline: &crate::store::Baseline,
        policy: &Policy,
        live: bool,
    ) -> crate::Result<Option<Probes>> {
        if policy.probes.is_empty() {
            return Ok(None);
        }
        let store = ProbeStore::open(baseline)?;
        let mut probes = Vec::with_capacity(policy.probes.len());
        for spec in &policy.probes {
            let target = http::Target::new(spec.url.clone(), spec.resolve, spec.ca.as_deref())
                .map_err(|m| crate::Error::Usage(format!("probe {:?}: {m}", spec.name)))?;
            let state = saved_state(&store, &spec.name, spec.url.as_str())?;
            probes.push(Probe {
                spec: spec.clone(),
                target,
                state,
                last: None,
            });
        }
        let now = chrono::Utc::now().timestamp_millis();
        let files = store
            .file_events(now - KEEP_FILES_MS)?
            .into_iter()
            .collect();
        let (results, stops) = if live {
            let (tx, rx) = std::sync::mpsc::channel();
            let stops = probes
                .iter()
                .enumerate()
                .map(|(i, p)| schedule::start(i, &p.target, &p.spec, tx.clone()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| crate::Error::Usage(format!("cannot start a probe thread: {e}")))?;
            (Some(rx), stops)
        } else {
            (None, Vec::new())
        };
        Ok(Some(Probes {
            probes,
            store,
            trees: policy
                .watches
                .iter()
                .map(|w| PathBuf::from(std::ffi::OsStr::from_bytes(&w.root)))
                .collect(),
            results,
            _stops: stops,
            round_done: false,
            files,
            checks: 0,
        }))
    }

    /// One live check of probe `i`.
    fn take(&mut self, i: usize, at_ms: i64, outcome: http::Outcome, out: &mut Vec<Alert>) {
        let probe = &mut self.probes[i];
        let check = judge(&probe.spec, at_ms, &outcome);
        let verdicts = probe.state.observe(&probe.spec, &check, COOLDOWN_MS);
        self.save(i, &check, &outcome, true);
        for verdict in verdicts {
            out.push(self.alert(i, verdict, &check, &outcome));
        }
    }

    /// `verify`: every probe checked up to `failures` times, a second apart, at once.
    fn round(&mut self, out: &mut Vec<Alert>) {
        let rounds = schedule::round(self.probes.iter().map(|p| (&p.target, &p.spec)));
        for (i, checks) in rounds.into_iter().enumerate() {
            let judged: Vec<(Check, http::Outcome)> = checks
                .into_iter()
                .map(|(at, o)| (judge(&self.probes[i].spec, at, &o), o))
                .collect();
            for (check, outcome) in &judged {
                self.save(i, check, outcome, false);
            }
            let Some((last, outcome)) = judged.last() else {
                continue;
            };
            let probe = &mut self.probes[i];
            let mut verdicts = judged
                .iter()
                .find(|(c, _)| c.cert.is_some())
                // An invalid certificate is told every run, as a down site is; the
                // expiry thresholds once each.
                .map(|(c, _)| probe.state.certificate(&probe.spec, c, 0))
                .unwrap_or_default();
            let first_ms = judged[0].0.at_ms;
            if judged.iter().all(|(c, _)| c.failure.is_some()) {
                verdicts.push(Verdict::Down {
                    count: judged.len() as u64,
                    since_ms: first_ms,
                    first_ms,
                    reminder: false,
                });
            }
            let slow = |c: &Check| c.failure.is_none() && state::is_slow(&probe.spec, c);
            if judged.len() >= probe.spec.failures as usize && judged.iter().all(|(c, _)| slow(c)) {
                verdicts.push(Verdict::Slow {
                    count: judged.len() as u64,
                    first_ms,
                    since_ms: first_ms,
                });
            }
            self.save_certificate_state(i);
            for verdict in verdicts {
                out.push(self.alert(i, verdict, last, outcome));
            }
        }
    }

    /// Record a check, and with `state` the probe's state after it.
    fn save(&mut self, i: usize, check: &Check, outcome: &http::Outcome, state: bool) {
        self.checks += 1;
        let probe = &mut self.probes[i];
        probe.last = Some((check.clone(), outcome.status));
        let row = CheckRow {
            probe: &probe.spec.name,
            ts_ms: check.at_ms,
            ok: check.failure.is_none(),
            status: outcome.status,
            error: check.failure.as_deref(),
            timings: &outcome.timings,
        };
        let state = state.then(|| serde_json::to_string(&probe.state).unwrap_or_default());
        if let Err(e) = self.store.save(state.as_deref(), &row) {
            tracing::warn!("probe {}: {e}", probe.spec.name);
        }
    }

    /// `verify`: the certificate thresholds told, into the state as saved now (a
    /// daemon may have moved it on since this run read it).
    fn save_certificate_state(&mut self, i: usize) {
        let probe = &self.probes[i];
        let mut saved = match saved_state(&self.store, &probe.spec.name, &probe.state.url) {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!("probe {}: {e}", probe.spec.name);
                return;
            }
        };
        saved.cert_expires_ms = probe.state.cert_expires_ms;
        saved.cert_warned = probe.state.cert_warned;
        saved.cert_invalid.clone_from(&probe.state.cert_invalid);
        saved.cert_invalid_since_ms = probe.state.cert_invalid_since_ms;
        let state = serde_json::to_string(&saved).unwrap_or_default();
        if let Err(e) = self.store.save_state(&probe.spec.name, &state) {
            tracing::warn!("probe {}: {e}", probe.spec.name);
        }
    }

    /// The file events in the 15 minutes up to `first_ms`.
    fn related(&self, first_ms: i64) -> Vec<&FileNote> {
        self.files
            .iter()
            .filter(|f| (first_ms - RELATED_MS..=first_ms).contains(&f.at_ms))
            .collect()
    }
}

/// A probe's saved state, if it is about this URL; else a fresh one.
fn saved_state(store: &ProbeStore, name: &str, url: &str) -> crate::Result<ProbeState> {
    Ok(store
        .state(name)?
        .and_then(|json| serde_json::from_str::<ProbeState>(&json).ok())
        .filter(|s| s.url == url)
        .unwrap_or_else(|| ProbeState::fresh(url)))
}

/// A check's verdict on an answer: the transport's error, else an unexpected status,
/// else a body without the expected text.
fn judge(spec: &ProbeSpec, at_ms: i64, outcome: &http::Outcome) -> Check {
    let failure = if let Some(e) = &outcome.error {
        Some(e.clone())
    } else if let Some(status) = outcome.status.filter(|s| !spec.expects(*s)) {
        Some(format!("HTTP {status}"))
    } else {
        spec.contains
            .as_ref()
            .filter(|want| memchr::memmem::find(&outcome.body, want.as_bytes()).is_none())
            .map(|want| format!("body lacks {want:?}"))
    };
    Check {
        at_ms,
        failure,
        total_ms: outcome.timings.total_ms.unwrap_or(0.0),
        cert: outcome
            .cert
            .as_ref()
            .map(|c| (c.expires_ms, c.invalid.clone())),
    }
}

impl Source for Probes {
    fn poll(&mut self, out: &mut Vec<Alert>) {
        match &self.results {
            Some(results) => {
                let done: Vec<_> = results.try_iter().collect();
                for (i, at_ms, outcome) in done {
                    self.take(i, at_ms, outcome, out);
                }
            }
            None if !self.round_done => {
                self.round_done = true;
                self.round(out);
            }
            None => {}
        }
    }

    fn flush(&mut self, _now_ms: i64, _out: &mut Vec<Alert>) {}

    fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>) {
        let Some(change) = event.file() else {
            return;
        };
        let at_ms = change.new.as_ref().map_or(event.ts_ms(), |attrs| {
            attrs.ctime.sec.saturating_mul(1000) + i64::from(attrs.ctime.nsec / 1_000_000)
        });
        self.files.push_back(FileNote {
            id: event.id.clone(),
            at_ms,
            kind: change.kind.as_str().to_owned(),
            path: change.path_lossy().into_owned(),
        });
        let now = live_now_ms.unwrap_or(at_ms);
        while self.files.len() > KEEP_FILES
            || self
                .files
                .front()
                .is_some_and(|f| f.at_ms < now - KEEP_FILES_MS)
        {
            self.files.pop_front();
        }
    }

    fn cursors(&self) -> Vec<(String, Position)> {
        Vec::new()
    }

    fn status(&self) -> String {
        let parts: Vec<String> = self.probes.iter().map(report::status_of).collect();
        format!("{} probe checks ({})", self.checks, parts.join(", "))
    }
}
