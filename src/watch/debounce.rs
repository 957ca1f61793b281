//! Per-path debouncing: a burst of writes to one file becomes one look at it, taken
//! when the file is closed (at once) or has been quiet for a moment.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::scan::Target;

/// How long a path must be quiet before it is looked at, when no close says it is done.
pub const QUIET: Duration = Duration::from_millis(100);
/// A path that never goes quiet (a log written all the time) is still looked at this often.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

struct Pending {
    first: Instant,
    due: Instant,
    recursive: bool,
}

#[derive(Default)]
pub struct Debouncer {
    paths: HashMap<Vec<u8>, Pending>,
    /// Everything must be rescanned (an overflow, a watch error, the periodic rescan).
    everything: bool,
}

impl Debouncer {
    pub fn add(&mut self, path: Vec<u8>, recursive: bool, settled: bool, now: Instant) {
        let pending = self.paths.entry(path).or_insert(Pending {
            first: now,
            due: now + QUIET,
            recursive,
        });
        pending.recursive |= recursive;
        pending.due = if settled {
            now
        } else if pending.due <= now {
            // Already due: a later write does not postpone a settled change.
            pending.due
        } else {
            (now + QUIET).min(pending.first + MAX_WAIT)
        };
    }

    pub fn rescan_everything(&mut self) {
        self.everything = true;
    }

    /// When the next look is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        if self.everything {
            return Some(Instant::now());
        }
        self.paths.values().map(|p| p.due).min()
    }

    /// What is due at `now` (everything pending when `flush`): `None` for "rescan every
    /// root", else the targets.
    pub fn take_due(&mut self, now: Instant, flush: bool) -> Option<Option<Vec<Target>>> {
        if self.everything {
            self.everything = false;
            self.paths.clear();
            return Some(None);
        }
        let due: Vec<Vec<u8>> = self
            .paths
            .iter()
            .filter(|(_, p)| flush || p.due <= now)
            .map(|(path, _)| path.clone())
            .collect();
        if due.is_empty() {
            return None;
        }
        let mut targets: Vec<Target> = due
            .into_iter()
            .filter_map(|path| {
                let pending = self.paths.remove(&path)?;
                Some(Target {
                    path,
                    recursive: pending.recursive,
                })
            })
            .collect();
        targets.sort_by(|a, b| a.path.cmp(&b.path));
        Some(Some(targets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_coalesce_and_a_close_settles_at_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        d.add(b"/w/a".to_vec(), false, false, t0);
        d.add(
            b"/w/a".to_vec(),
            false,
            false,
            t0 + Duration::from_millis(50),
        );
        assert!(d.take_due(t0 + Duration::from_millis(100), false).is_none());
        d.add(
            b"/w/a".to_vec(),
            false,
            true,
            t0 + Duration::from_millis(60),
        );
        let due = d
            .take_due(t0 + Duration::from_millis(60), false)
            .unwrap()
            .unwrap();
        assert_eq!(due.len(), 1);
        assert!(d.next_due().is_none());
    }

    #[test]
    fn a_busy_path_is_still_looked_at_within_max_wait() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        for ms in (0..2000).step_by(10) {
            d.add(
                b"/w/log".to_vec(),
                false,
                false,
                t0 + Duration::from_millis(ms),
            );
        }
        assert!(d.next_due().unwrap() <= t0 + MAX_WAIT);
    }

    #[test]
    fn recursive_sticks_and_overflow_means_everything() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        d.add(b"/w/new".to_vec(), true, true, t0);
        d.add(b"/w/new".to_vec(), false, false, t0);
        let due = d.take_due(t0, false).unwrap().unwrap();
        assert!(due[0].recursive);
        d.add(b"/w/x".to_vec(), false, false, t0);
        d.rescan_everything();
        assert_eq!(d.take_due(t0, false), Some(None));
        assert!(d.next_due().is_none());
    }
}
