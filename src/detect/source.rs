//! Where detections come from, as `watch` and `verify` drive them: every source (the
//! followed access logs, the auth logs and the journal, the process table, probes)
//! behind one trait, so the daemon and the nightly run add no code per family.
//! `verify` polls each once and flushes; `watch` polls them in its loop.

use std::collections::HashMap;

use super::activity::Activity;
use super::Alert;
use crate::error::Result;
use crate::event::Event;
use crate::logs::Position;
use crate::policy::Policy;
use crate::store::Baseline;

pub trait Source {
    /// Read what is new; detections go to `out`.
    fn poll(&mut self, out: &mut Vec<Alert>);

    /// Nothing more for now: `now_ms` is the wall clock (live), or `i64::MAX` at the
    /// end of a run, when everything still open is told.
    fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>);

    /// A file event about to be reported: what the source knows of it may change its
    /// reasons and severity (the host checks tell a package upgrade's own files).
    fn explain(&mut self, _event: &mut Event) {}

    /// A file event just reported (`live_now_ms`: the wall clock, when live).
    fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>);

    /// Where the source stands, saved with the detections it produced.
    fn cursors(&self) -> Vec<(String, Position)>;

    /// A few words for the daemon's status.
    fn status(&self) -> String;

    /// Move what was counted per hour since the last call (log sources) into `into`,
    /// to be saved with the detections.
    fn take_activity(&mut self, _into: &mut Activity) {}
}

/// The sources a policy configures.
#[derive(Default)]
pub struct Sources {
    sources: Vec<Box<dyn Source>>,
}

impl Sources {
    /// Every source of `policy`, from the cursors saved in the baseline (`carried`,
    /// the in-memory ones of a daemon reloading, win). `live`: the daemon (exec events
    /// are followed), not one run.
    pub fn open(
        baseline: &Baseline,
        policy: &Policy,
        carried: &HashMap<String, Position>,
        live: bool,
    ) -> Result<Sources> {
        let mut positions = baseline.log_cursors()?;
        positions.extend(carried.iter().map(|(k, c)| (k.clone(), c.clone())));
        let (mut cursors, mut journal) = (HashMap::new(), HashMap::new());
        for (name, position) in positions {
            match position {
                Position::File(c) => {
                    cursors.insert(name, c);
                }
                Position::Journal(j) => {
                    journal.insert(name, j);
                }
            }
        }
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        // The login sessions open now: the auth source keeps it, processes read it.
        let sessions = crate::auth::session::Index::default();
        if let Some(logs) = crate::web::access::FollowedLogs::open(baseline, policy, &cursors)? {
            sources.push(Box::new(logs));
        }
        if let Some(logs) = crate::auth::logs::FollowedAuthLogs::open(
            baseline,
            policy,
            &cursors,
            &journal,
            live,
            sessions.clone(),
        )? {
            sources.push(Box::new(logs));
        }
        if let Some(procs) = crate::procs::Processes::open(baseline, policy, live, sessions)? {
            sources.push(Box::new(procs));
        }
        if let Some(probes) = crate::probe::Probes::open(baseline, policy, live)? {
            sources.push(Box::new(probes));
        }
        if let Some(host) = crate::host::HostChecks::open(policy, live) {
            sources.push(Box::new(host));
        }
        Ok(Sources { sources })
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    pub fn poll(&mut self, out: &mut Vec<Alert>) {
        self.sources.iter_mut().for_each(|s| s.poll(out));
    }

    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        self.sources.iter_mut().for_each(|s| s.flush(now_ms, out));
    }

    /// File events about to be reported, as the sources explain them.
    pub fn explain(&mut self, events: &mut [Event]) {
        for source in &mut self.sources {
            events.iter_mut().for_each(|e| source.explain(e));
        }
    }

    pub fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>) {
        for source in &mut self.sources {
            source.file_event(event, live_now_ms);
        }
    }

    pub fn cursors(&self) -> Vec<(String, Position)> {
        self.sources.iter().flat_map(|s| s.cursors()).collect()
    }

    /// What every source counted since the last call.
    pub fn take_activity(&mut self) -> Activity {
        let mut activity = Activity::default();
        for source in &mut self.sources {
            source.take_activity(&mut activity);
        }
        activity
    }

    /// `None` when there is no source.
    pub fn status(&self) -> Option<String> {
        let parts: Vec<String> = self.sources.iter().map(|s| s.status()).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The cursors `fim init` (and `policy update`, for logs it adds) records: every
/// followed log of every source at its current end.
pub fn cursors_at_end(policy: &Policy) -> Vec<(String, Position)> {
    let mut cursors = crate::web::access::cursors_at_end(policy);
    cursors.extend(crate::auth::logs::cursors_at_end(policy));
    cursors
}
