//! The web detectors' settings: documented defaults (CrowdSec's scenario thresholds
//! where it has one), overridden per detector by the policy's `[web.KIND]` tables.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::detect::window::Limits;
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

/// The contract's default cooldown.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq)]
pub struct DetectorSettings {
    pub enabled: bool,
    pub severity: Severity,
    /// The name events carry in `rule`.
    pub rule: String,
    pub limits: Limits,
}

/// What the policy sets for one detector; `None` keeps the default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Override {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub name: Option<String>,
    pub threshold: Option<u32>,
    pub window: Option<Duration>,
    pub cooldown: Option<Duration>,
}

/// A detector's settings from its family's `defaults` (kind, threshold, window,
/// severity) and the policy's `overrides`; `network` = (kind, base): the network-wide
/// side of `base`, set by `base`'s table with twice its threshold.
pub fn settings_of(
    defaults: &[(&str, u32, i64, Severity)],
    overrides: &HashMap<String, Override>,
    kind: &str,
    (network, base): (&str, &str),
) -> DetectorSettings {
    let (_, threshold, window_ms, severity) = defaults
        .iter()
        .find(|(k, ..)| *k == kind)
        .copied()
        .expect("a known detector");
    let (rule, scale) = if kind == network {
        (base, 2)
    } else {
        (kind, 1)
    };
    overrides.get(rule).cloned().unwrap_or_default().apply(
        rule,
        (threshold, window_ms, severity),
        scale,
    )
}

impl Override {
    /// The settings of a detector named `rule` whose defaults are (threshold, window,
    /// severity), with what the policy sets; `scale` multiplies a set threshold (a
    /// network-wide detector counts for many clients).
    pub fn apply(
        self,
        rule: &str,
        (threshold, window_ms, severity): (u32, i64, Severity),
        scale: u32,
    ) -> DetectorSettings {
        let ms = |d: Duration| d.as_millis().min(i64::MAX as u128) as i64;
        DetectorSettings {
            enabled: self.enabled.unwrap_or(true),
            severity: self.severity.unwrap_or(severity),
            rule: self.name.unwrap_or_else(|| rule.into()),
            limits: Limits {
                threshold: self
                    .threshold
                    .map_or(threshold, |t| t.saturating_mul(scale)),
                window_ms: self.window.map_or(window_ms, ms),
                cooldown_ms: ms(self.cooldown.unwrap_or(DEFAULT_COOLDOWN)),
            },
        }
    }
}

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
