//! What the logs show besides detections, counted per hour: requests by status class,
//! by client and 404 paths (web), logins that succeeded or failed (auth). The sources
//! count as they read; the driver saves the counts into the baseline (`activity`
//! table) with each batch, and the report draws them. Bounded: past `MAX_KEYS`
//! distinct keys between two saves, new clients and paths are dropped (the classes
//! and login counts, a handful of keys, are always kept).

use std::collections::HashMap;

/// Distinct (hour, counter, key) kept between saves.
const MAX_KEYS: usize = 100_000;

pub const HOUR_MS: i64 = 3_600_000;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Requests by status class: "1xx" .. "5xx", "other".
    Status,
    /// Requests by client address.
    Client,
    /// Requests answered 404, by path.
    NotFound,
    /// Logins: "ok" or "failed".
    Login,
}

impl Counter {
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Status => "status",
            Counter::Client => "client",
            Counter::NotFound => "not-found",
            Counter::Login => "login",
        }
    }

    /// A few keys each: never dropped at the cap.
    fn small(self) -> bool {
        matches!(self, Counter::Status | Counter::Login)
    }
}

/// Counts since the last save, by (hour start in ms, counter, key).
#[derive(Default, Debug)]
pub struct Activity {
    counts: HashMap<(i64, Counter, String), u64>,
}

impl Activity {
    /// One observation at `ts_ms` (record time).
    pub fn add(&mut self, ts_ms: i64, counter: Counter, key: &str) {
        let hour = ts_ms.div_euclid(HOUR_MS) * HOUR_MS;
        // A lookup with a borrowed key would need a second map layer; the key is short.
        let slot = (hour, counter, key.to_owned());
        if let Some(n) = self.counts.get_mut(&slot) {
            *n += 1;
        } else if counter.small() || self.counts.len() < MAX_KEYS {
            self.counts.insert(slot, 1);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Everything counted, oldest hour first; leaves the counts empty.
    pub fn take(&mut self) -> Vec<(i64, Counter, String, u64)> {
        let mut all: Vec<_> = self
            .counts
            .drain()
            .map(|((hour, counter, key), n)| (hour, counter, key, n))
            .collect();
        all.sort();
        all
    }

    /// Add what `other` counted.
    pub fn merge(&mut self, other: Activity) {
        for (slot, n) in other.counts {
            *self.counts.entry(slot).or_default() += n;
        }
    }

    /// The total per key of `counter`, over every hour.
    pub fn totals(&self, counter: Counter) -> HashMap<&str, u64> {
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for ((_, c, key), n) in &self.counts {
            if *c == counter {
                *totals.entry(key.as_str()).or_default() += n;
            }
        }
        totals
    }
}

/// The status class of an HTTP status: "2xx", or "other".
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_hour_and_drains() {
        let mut a = Activity::default();
        a.add(HOUR_MS + 5, Counter::Status, "2xx");
        a.add(HOUR_MS + 10, Counter::Status, "2xx");
        a.add(2 * HOUR_MS, Counter::Status, "2xx");
        a.add(-1, Counter::Login, "ok");
        assert_eq!(a.totals(Counter::Status)["2xx"], 3);
        let rows = a.take();
        assert_eq!(
            rows,
            vec![
                (-HOUR_MS, Counter::Login, "ok".into(), 1),
                (HOUR_MS, Counter::Status, "2xx".into(), 2),
                (2 * HOUR_MS, Counter::Status, "2xx".into(), 1),
            ]
        );
        assert!(a.is_empty());
    }

    #[test]
    fn many_clients_are_capped_but_classes_are_not() {
        let mut a = Activity::default();
        for i in 0..MAX_KEYS + 10 {
            a.add(0, Counter::Client, &i.to_string());
        }
        a.add(0, Counter::Status, "4xx");
        assert_eq!(a.counts.len(), MAX_KEYS + 1);
    }
}
