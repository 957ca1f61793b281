//! `[logins]`: which auth logs to read, quiet hours, and the auth detectors' documented
//! defaults (fail2ban's `maxretry = 5`, `findtime = 10m` for brute force), overridden
//! per detector by `[logins.KIND]` tables as in `[web]`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveTime;
use ipnet::IpNet;

use super::journal::JournalSpec;
use crate::detect::settings::{settings_of, DetectorSettings, Override};
use crate::policy::Severity;

/// Every detector, in the order `AuthDetectors` keeps them. `brute-force-network` is
/// the per-/24 and /64 side of `brute-force`, set by the same `[logins.brute-force]`.
pub const KINDS: [&str; 7] = [
    "brute-force",
    "brute-force-network",
    "user-enumeration",
    "login-after-failures",
    "login-quiet-hours",
    "login-new-source",
    "root-login",
];

/// The kinds a policy may configure.
pub fn configurable() -> impl Iterator<Item = &'static str> {
    KINDS.into_iter().filter(|k| *k != "brute-force-network")
}

const MIN: i64 = 60_000;

/// (kind, threshold, window ms, severity): the defaults, also in the README.
/// `login-after-failures`: the failures before the success (one typo is not an attack).
const DEFAULTS: [(&str, u32, i64, Severity); 7] = [
    ("brute-force", 5, 10 * MIN, Severity::Medium),
    ("brute-force-network", 10, 10 * MIN, Severity::Medium),
    ("user-enumeration", 5, 10 * MIN, Severity::Medium),
    ("login-after-failures", 3, 60 * MIN, Severity::Critical),
    ("login-quiet-hours", 1, MIN, Severity::Medium),
    ("login-new-source", 1, MIN, Severity::Low),
    ("root-login", 1, MIN, Severity::High),
];

/// How long a new host only learns its users' sources.
pub const DEFAULT_LEARNING: Duration = Duration::from_secs(7 * 86_400);

/// Quiet hours in local time; `start > end` spans midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// `"22:00-06:00"`.
    pub fn parse(text: &str) -> Result<QuietHours, String> {
        let bad = || format!("quiet_hours {text:?}: write e.g. \"22:00-06:00\" (local time)");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let t = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
        let (start, end) = (t(a)?, t(b)?);
        if start == end {
            return Err(bad());
        }
        Ok(QuietHours { start, end })
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoginSettings {
    /// Auth logs (absolute; globs allowed).
    pub files: Vec<String>,
    /// The systemd journal, when read.
    pub journal: Option<JournalSpec>,
    pub quiet_hours: Option<QuietHours>,
    pub learning: Duration,
    /// Clients never reported.
    pub allow: Vec<IpNet>,
    pub overrides: HashMap<String, Override>,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            files: Vec::new(),
            journal: None,
            quiet_hours: None,
            learning: DEFAULT_LEARNING,
            allow: Vec::new(),
            overrides: HashMap::new(),
        }
    }
}

impl LoginSettings {
    /// An including policy's settings win; lists add up.
    pub fn merge(&mut self, theirs: LoginSettings) {
        for f in theirs.files {
            if !self.files.contains(&f) {
                self.files.push(f);
            }
        }
        self.journal = self.journal.take().or(theirs.journal);
        self.quiet_hours = self.quiet_hours.or(theirs.quiet_hours);
        self.allow.extend(theirs.allow);
        for (kind, o) in theirs.overrides {
            self.overrides.entry(kind).or_insert(o);
        }
    }

    pub fn detector(&self, kind: &str) -> DetectorSettings {
        settings_of(
            &DEFAULTS,
            &self.overrides,
            kind,
            ("brute-force-network", "brute-force"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_across_midnight() {
        let q = QuietHours::parse("22:00-06:00").unwrap();
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        assert!(q.contains(t("23:30")) && q.contains(t("03:00")) && q.contains(t("22:00")));
        assert!(!q.contains(t("06:00")) && !q.contains(t("12:00")));
        let day = QuietHours::parse("09:00-17:00").unwrap();
        assert!(day.contains(t("12:00")) && !day.contains(t("18:00")));
        assert!(QuietHours::parse("22:00").is_err());
        assert!(QuietHours::parse("25:00-06:00").is_err());
        assert!(QuietHours::parse("06:00-06:00").is_err());
    }
}
