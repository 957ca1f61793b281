//! A probe's state machine: up or down, and the streaks that move it. Alerting without
//! noise means consecutive checks, not a window: one blip never makes `down`, one good
//! answer amid an outage never makes `recovered`. The state is saved after each check
//! (`store::probes`), so a restarted daemon goes on where it stopped.
//!
//! Pure: fed checks with their times, it says what to report.

use serde::{Deserialize, Serialize};

use crate::policy::ProbeSpec;

/// What one check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub at_ms: i64,
    /// Why the check failed (no answer, timeout, TLS error, status, body), if it did.
    pub failure: Option<String>,
    /// Whole response time, ms.
    pub total_ms: f64,
    /// Certificate: (expiry in ms, why it does not verify).
    pub cert: Option<(Option<i64>, Option<String>)>,
}

/// What to report after a check.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// `count` failed checks (since the previous report, for a reminder), the outage
    /// began at `since_ms`.
    Down {
        count: u64,
        since_ms: i64,
        first_ms: i64,
        reminder: bool,
    },
    /// Up again after an outage that began at `down_since_ms`.
    Recovered {
        count: u64,
        down_since_ms: i64,
        first_ms: i64,
    },
    /// `since_ms`: the first slow check of this spell.
    Slow {
        count: u64,
        first_ms: i64,
        since_ms: i64,
    },
    /// Expires in fewer days than `threshold`, as it has since `since_ms` (the
    /// threshold's crossing).
    CertExpiring {
        threshold: u32,
        expires_ms: i64,
        since_ms: i64,
    },
    /// Does not verify, as since `since_ms` (the first check that said so).
    CertInvalid { reason: String, since_ms: i64 },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeState {
    /// The URL the state is about: a probe pointed elsewhere starts afresh.
    pub url: String,
    pub down: bool,
    /// When the current state began (for `down`, the first failed check).
    pub since_ms: i64,
    pub fails: u32,
    pub first_fail_ms: i64,
    pub oks: u32,
    pub first_ok_ms: i64,
    pub slows: u32,
    pub first_slow_ms: i64,
    /// The last `down` and `slow` reports, and what came since (cooldown).
    pub down_reported_ms: i64,
    pub down_unreported: u32,
    pub slow_reported_ms: Option<i64>,
    pub slow_unreported: u32,
    /// The certificate warned about, and the smallest threshold told for it.
    pub cert_expires_ms: Option<i64>,
    pub cert_warned: Option<u32>,
    /// The invalid-certificate reason told, and when.
    pub cert_invalid: Option<(String, i64)>,
    /// Since when the certificate has been invalid (for that reason).
    #[serde(default)]
    pub cert_invalid_since_ms: Option<i64>,
    /// Checks seen (a fresh state has none: its `since` is its first check).
    pub checks: u64,
}

const DAY_MS: i64 = 86_400_000;

/// An answer that took longer than the probe's `max_response_time`.
pub fn is_slow(spec: &ProbeSpec, check: &Check) -> bool {
    spec.max_response_time
        .is_some_and(|max| check.total_ms > max.as_secs_f64() * 1000.0)
}

impl ProbeState {
    pub fn fresh(url: &str) -> ProbeState {
        ProbeState {
            url: url.to_owned(),
            ..ProbeState::default()
        }
    }

    /// Take one check; `cooldown_ms` spaces the reminders of an ongoing outage or
    /// slowness.
    pub fn observe(&mut self, spec: &ProbeSpec, check: &Check, cooldown_ms: i64) -> Vec<Verdict> {
        let at = check.at_ms;
        if self.checks == 0 {
            self.since_ms = at;
        }
        self.checks += 1;
        let mut out = self.certificate(spec, check, cooldown_ms);
        if check.failure.is_some() {
            self.oks = 0;
            self.slows = 0;
            self.slow_reported_ms = None;
            if self.fails == 0 {
                self.first_fail_ms = at;
            }
            self.fails = self.fails.saturating_add(1);
            if !self.down {
                if self.fails >= spec.failures {
                    self.down = true;
                    self.since_ms = self.first_fail_ms;
                    self.down_reported_ms = at;
                    self.down_unreported = 0;
                    out.push(Verdict::Down {
                        count: self.fails.into(),
                        since_ms: self.since_ms,
                        first_ms: self.first_fail_ms,
                        reminder: false,
                    });
                }
            } else {
                self.down_unreported += 1;
                if at >= self.down_reported_ms.saturating_add(cooldown_ms) {
                    out.push(Verdict::Down {
                        count: self.down_unreported.into(),
                        since_ms: self.since_ms,
                        first_ms: self.down_reported_ms,
                        reminder: true,
                    });
                    self.down_reported_ms = at;
                    self.down_unreported = 0;
                }
            }
            return out;
        }
        if self.oks == 0 {
            self.first_ok_ms = at;
        }
        self.oks = self.oks.saturating_add(1);
        if self.down {
            if self.oks >= spec.successes {
                out.push(Verdict::Recovered {
                    count: self.oks.into(),
                    down_since_ms: self.since_ms,
                    first_ms: self.first_ok_ms,
                });
                self.down = false;
                self.since_ms = self.first_ok_ms;
                self.fails = 0;
            }
        } else {
            self.fails = 0;
        }
        if !self.down {
            out.extend(self.slowness(spec, check, cooldown_ms));
        }
        out
    }

    fn slowness(&mut self, spec: &ProbeSpec, check: &Check, cooldown_ms: i64) -> Option<Verdict> {
        spec.max_response_time?;
        let at = check.at_ms;
        if !is_slow(spec, check) {
            self.slows = 0;
            self.slow_reported_ms = None;
            return None;
        }
        if self.slows == 0 {
            self.first_slow_ms = at;
        }
        self.slows = self.slows.saturating_add(1);
        match self.slow_reported_ms {
            None if self.slows >= spec.failures => {
                self.slow_reported_ms = Some(at);
                self.slow_unreported = 0;
                Some(Verdict::Slow {
                    count: self.slows.into(),
                    first_ms: self.first_slow_ms,
                    since_ms: self.first_slow_ms,
                })
            }
            Some(last) => {
                self.slow_unreported += 1;
                (at >= last.saturating_add(cooldown_ms)).then(|| {
                    self.slow_reported_ms = Some(at);
                    let count = std::mem::take(&mut self.slow_unreported);
                    Verdict::Slow {
                        count: count.into(),
                        first_ms: last,
                        since_ms: self.first_slow_ms,
                    }
                })
            }
            None => None,
        }
    }

    /// Certificate events: invalid at once (again after the cooldown while it lasts),
    /// expiring once per threshold crossed, for each certificate served.
    pub fn certificate(
        &mut self,
        spec: &ProbeSpec,
        check: &Check,
        cooldown_ms: i64,
    ) -> Vec<Verdict> {
        let mut out = Vec::new();
        let Some((expires, invalid)) = &check.cert else {
            return out;
        };
        match invalid {
            Some(reason) => {
                let same = self.cert_invalid.as_ref().is_some_and(|(r, _)| r == reason);
                if !same || self.cert_invalid_since_ms.is_none() {
                    self.cert_invalid_since_ms = Some(check.at_ms);
                }
                let told = self.cert_invalid.as_ref().is_some_and(|(r, at)| {
                    r == reason && check.at_ms < at.saturating_add(cooldown_ms)
                });
                if !told {
                    self.cert_invalid = Some((reason.clone(), check.at_ms));
                    out.push(Verdict::CertInvalid {
                        reason: reason.clone(),
                        since_ms: self.cert_invalid_since_ms.unwrap_or(check.at_ms),
                    });
                }
            }
            None => {
                self.cert_invalid = None;
                self.cert_invalid_since_ms = None;
            }
        }
        let Some(expires_ms) = *expires else {
            return out;
        };
        if self.cert_expires_ms != Some(expires_ms) {
            // Another certificate (renewed): its thresholds are new.
            self.cert_expires_ms = Some(expires_ms);
            self.cert_warned = None;
        }
        let left_ms = expires_ms - check.at_ms;
        if left_ms <= 0 {
            return out; // expired: certificate-invalid says so
        }
        let crossed = spec
            .certificate_warn_days
            .iter()
            .copied()
            .filter(|d| left_ms < i64::from(*d) * DAY_MS)
            .min();
        if let Some(threshold) = crossed {
            if self.cert_warned.is_none_or(|told| threshold < told) {
                self.cert_warned = Some(threshold);
                let crossed_ms = expires_ms - i64::from(threshold) * DAY_MS;
                out.push(Verdict::CertExpiring {
                    threshold,
                    expires_ms,
                    since_ms: crossed_ms.min(check.at_ms),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProbeSpec {
        let p = crate::policy::Policy::parse(
            "[[probe]]\nname = \"shop\"\nurl = \"https://shop.example/\"\nmax_response_time = \"1s\"\n",
            std::path::Path::new("p.toml"),
        )
        .unwrap();
        p.probes[0].clone()
    }

    fn check(at_ms: i64, ok: bool, total_ms: f64) -> Check {
        Check {
            at_ms,
            failure: (!ok).then(|| "HTTP 500".into()),
            total_ms,
            cert: None,
        }
    }

    const COOL: i64 = 300_000;

    #[test]
    fn one_blip_is_nothing_and_three_failures_are_down_once() {
        let spec = spec();
        let mut s = ProbeState::fresh("u");
        assert!(s.observe(&spec, &check(0, true, 10.0), COOL).is_empty());
        assert!(s
            .observe(&spec, &check(60_000, false, 10.0), COOL)
            .is_empty());
        assert!(s
            .observe(&spec, &check(120_000, true, 10.0), COOL)
            .is_empty());
        assert!(s
            .observe(&spec, &check(180_000, false, 10.0), COOL)
            .is_empty());
        assert!(s
            .observe(&spec, &check(240_000, false, 10.0), COOL)
            .is_empty());
        let v = s.observe(&spec, &check(300_000, false, 10.0), COOL);
        assert_eq!(
            v,
            vec![Verdict::Down {
                count: 3,
                since_ms: 180_000,
                first_ms: 180_000,
                reminder: false
            }]
        );
        // Still down: silent during the cooldown, then a reminder counting what came since.
        for i in 1..5 {
            assert!(s
                .observe(&spec, &check(300_000 + i * 60_000, false, 1.0), COOL)
                .is_empty());
        }
        let v = s.observe(&spec, &check(600_000, false, 1.0), COOL);
        assert_eq!(
            v,
            vec![Verdict::Down {
                count: 5,
                since_ms: 180_000,
                first_ms: 300_000,
                reminder: true
            }]
        );
        // One good answer amid the outage is not a recovery; two are.
        assert!(s
            .observe(&spec, &check(660_000, true, 1.0), COOL)
            .is_empty());
        assert!(s
            .observe(&spec, &check(720_000, false, 1.0), COOL)
            .is_empty());
        assert!(s
            .observe(&spec, &check(780_000, true, 1.0), COOL)
            .is_empty());
        let v = s.observe(&spec, &check(840_000, true, 1.0), COOL);
        assert_eq!(
            v,
            vec![Verdict::Recovered {
                count: 2,
                down_since_ms: 180_000,
                first_ms: 780_000
            }]
        );
        assert!(!s.down);
        assert_eq!(s.since_ms, 780_000);
    }

    #[test]
    fn slow_needs_a_streak_and_a_fast_answer_ends_it() {
        let spec = spec();
        let mut s = ProbeState::fresh("u");
        assert!(s.observe(&spec, &check(0, true, 1500.0), COOL).is_empty());
        assert!(s.observe(&spec, &check(1, true, 1500.0), COOL).is_empty());
        assert!(s.observe(&spec, &check(2, true, 900.0), COOL).is_empty());
        assert!(s.observe(&spec, &check(3, true, 1500.0), COOL).is_empty());
        assert!(s.observe(&spec, &check(4, true, 1500.0), COOL).is_empty());
        let v = s.observe(&spec, &check(5, true, 1500.0), COOL);
        assert_eq!(
            v,
            vec![Verdict::Slow {
                count: 3,
                first_ms: 3,
                since_ms: 3
            }]
        );
        assert!(s.observe(&spec, &check(6, true, 1500.0), COOL).is_empty());
    }

    #[test]
    fn certificate_thresholds_are_told_once_each() {
        let spec = spec();
        let mut s = ProbeState::fresh("u");
        let at = |days: f64, now: i64| Check {
            at_ms: now,
            failure: None,
            total_ms: 1.0,
            cert: Some((Some(now + (days * DAY_MS as f64) as i64), None)),
        };
        let expires = 30 * DAY_MS;
        let mut told = vec![];
        for day in 0..31 {
            let now = day * DAY_MS + 1;
            let c = Check {
                cert: Some((Some(expires), None)),
                ..at(0.0, now)
            };
            for v in s.observe(&spec, &c, COOL) {
                if let Verdict::CertExpiring { threshold, .. } = v {
                    told.push(threshold);
                }
            }
        }
        assert_eq!(told, vec![21, 14, 7, 3, 1]);
        // A renewed certificate starts afresh; 5 days left is told once, at 7.
        let renewed = at(5.0, 40 * DAY_MS);
        let v = s.observe(&spec, &renewed, COOL);
        assert!(
            matches!(v[..], [Verdict::CertExpiring { threshold: 7, .. }]),
            "{v:?}"
        );
        let later = Check {
            at_ms: renewed.at_ms + 1000,
            ..renewed
        };
        assert!(s.observe(&spec, &later, COOL).is_empty());
    }
}
