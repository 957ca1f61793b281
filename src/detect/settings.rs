//! What every family's detectors share about their settings: a detector's resolved
//! settings, the policy's per-detector table (`[FAMILY.KIND]`), and a detector with its
//! counters. The defaults are each family's own (`web::settings`, `auth::settings`,
//! `procs::settings`).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use super::window::{Limits, Tracker};
use crate::policy::Severity;

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

/// One detector of a family: its kind, its settings and its counters over subjects `K`
/// with aggregates `A`.
pub struct Detector<K, A> {
    pub kind: &'static str,
    pub settings: DetectorSettings,
    pub tracker: Tracker<K, A>,
}

impl<K: Hash + Eq + Ord + Clone, A: Default> Detector<K, A> {
    pub fn new(kind: &'static str, settings: DetectorSettings) -> Self {
        Detector {
            kind,
            tracker: Tracker::new(settings.limits),
            settings,
        }
    }
}
