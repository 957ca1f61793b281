//! The web detectors' settings: documented defaults (CrowdSec's scenario thresholds
//! where it has one), overridden per detector by the policy's `[web.KIND]` tables.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::detect::settings::{settings_of, DetectorSettings, Override};
use crate::policy::Severity;

/// Every detector, in the order `WebDetectors` keeps them. `flood-network` is the
/// per-/24 and /64 side of `flood`, set by the same `[web.flood]` table.
pub const KINDS: [&str; 14] = [
    "sensitive-file-probe",
    "backdoor-probe",
    "admin-probe",
    "scanner",
    "path-traversal",
    "sqli",
    "xss",
    "not-found-burst",
    "brute-force",
    "flood",
    "flood-network",
    "error-burst",
    "webshell-access",
    "planted-file",
];

/// The kinds a policy may configure.
pub fn configurable() -> impl Iterator<Item = &'static str> {
    KINDS.into_iter().filter(|k| *k != "flood-network")
}

const MIN: i64 = 60_000;

/// (kind, threshold, window ms, severity): the defaults, also in the README.
const DEFAULTS: [(&str, u32, i64, Severity); 14] = [
    ("sensitive-file-probe", 4, 5_000, Severity::Medium),
    ("backdoor-probe", 1, MIN, Severity::Medium),
    ("admin-probe", 2, MIN, Severity::Low),
    ("scanner", 30, MIN, Severity::Medium),
    ("path-traversal", 1, MIN, Severity::High),
    ("sqli", 1, MIN, Severity::High),
    ("xss", 1, MIN, Severity::Medium),
    ("not-found-burst", 10, 10_000, Severity::Low),
    ("brute-force", 5, 10_000, Severity::High),
    ("flood", 200, 10_000, Severity::Medium),
    ("flood-network", 400, 10_000, Severity::Medium),
    ("error-burst", 20, MIN, Severity::High),
    ("webshell-access", 1, MIN, Severity::Critical),
    ("planted-file", 1, MIN, Severity::Critical),
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebSettings {
    /// Clients never reported.
    pub allow: Vec<IpNet>,
    pub overrides: HashMap<String, Override>,
}

impl WebSettings {
    /// An including policy's settings win; allow lists add up.
    pub fn merge(&mut self, theirs: WebSettings) {
        self.allow.extend(theirs.allow);
        for (kind, o) in theirs.overrides {
            self.overrides.entry(kind).or_insert(o);
        }
    }

    pub fn detector(&self, kind: &str) -> DetectorSettings {
        settings_of(&DEFAULTS, &self.overrides, kind, ("flood-network", "flood"))
    }
}

/// Defaults as a table for `fim policy explain` and the README:
/// (kind, threshold, window, severity).
pub fn defaults() -> impl Iterator<Item = (&'static str, u32, Duration, Severity)> {
    DEFAULTS
        .into_iter()
        .map(|(k, t, w, s)| (k, t, Duration::from_millis(w as u64), s))
}
