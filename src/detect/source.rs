//! Where detections come from, as `watch` and `verify` drive them: every source (the
//! followed access logs; later auth logs, the journal, the process table, probes)
//! behind one trait, so the daemon and the nightly run add no code per family.
//! `verify` polls each once and flushes; `watch` polls them in its loop.

use std::collections::HashMap;

use super::activity::Activity;
use super::Alert;
use crate::error::Result;
use crate::event::Event;
use crate::logs::follow::Cursor;
use crate::policy::Policy;
use crate::store::Baseline;

pub trait Source {
    /// Read what is new; detections go to `out`.
    fn poll(&mut self, out: &mut Vec<Alert>);

    /// Nothing more for now: `now_ms` is the wall clock (live), or `i64::MAX` at the
    /// end of a run, when everything still open is told.
    fn flush(&mut self, now_ms: i64, out: &mut Vec<Alert>);

    /// A file event just reported (`live_now_ms`: the wall clock, when live).
    fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>);

    /// Where the source stands, saved with the detections it produced.
    fn cursors(&self) -> Vec<(String, Cursor)>;

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
        carried: &HashMap<String, Cursor>,
        live: bool,
    ) -> Result<Sources> {
        let mut cursors = baseline.log_cursors()?;
        cursors.extend(carried.iter().map(|(k, c)| (k.clone(), c.clone())));
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        if let Some(logs) = crate::web::access::FollowedLogs::open(baseline, policy, &cursors)? {
            sources.push(Box::new(logs));
        }
        if let Some(logs) = crate::auth::logs::FollowedAuthLogs::open(baseline, policy, &cursors)? {
            sources.push(Box::new(logs));
        }
        if let Some(procs) = crate::procs::Processes::open(baseline, policy, live)? {
            sources.push(Box::new(procs));
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

    pub fn file_event(&mut self, event: &Event, live_now_ms: Option<i64>) {
        for source in &mut self.sources {
            source.file_event(event, live_now_ms);
        }
    }

    pub fn cursors(&self) -> Vec<(String, Cursor)> {
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
pub fn cursors_at_end(policy: &Policy) -> Vec<(String, Cursor)> {
    let mut cursors = crate::web::access::cursors_at_end(policy);
    cursors.extend(crate::auth::logs::cursors_at_end(policy));
    cursors
}
