//! A probe's verdicts as detections, with lines a person reads in Slack or an e-mail
//! digest: "shop is DOWN (HTTP 500, 3 checks, since 14:02:10Z)", "shop recovered
//! after 6 min".

use crate::progress::plural;
use chrono::{DateTime, Utc};

use super::state::{Check, Verdict};
use super::{diagnose, http, Probe, Probes};
use crate::detect::{ms_to_time, Alert, Category, Detection, Fields, ServiceFields};
use crate::policy::Severity;

impl Probes {
    pub(super) fn alert(
        &self,
        i: usize,
        verdict: Verdict,
        check: &Check,
        outcome: &http::Outcome,
    ) -> Alert {
        let probe = &self.probes[i];
        let name = &probe.spec.name;
        let failure = check.failure.clone();
        let what = failure.as_deref().unwrap_or("no answer");
        let at = check.at_ms;
        let mut reasons = Vec::new();
        let mut related = Vec::new();
        let (kind, severity, summary, count, first_ms, since_ms) = match verdict {
            Verdict::Down {
                count,
                since_ms,
                first_ms,
                reminder,
            } => {
                let checks = plural(count, "check", "checks");
                let summary = if reminder {
                    format!(
                        "{name} is still DOWN ({what}, {checks} more, since {})",
                        clock(since_ms, at)
                    )
                } else {
                    format!(
                        "{name} is DOWN ({what}, {checks}, since {})",
                        clock(since_ms, at)
                    )
                };
                reasons = diagnose::reasons(outcome.addr, &self.trees);
                if !reminder {
                    let files = self.related(since_ms);
                    related = files.iter().map(|f| f.id.clone()).collect();
                    for f in files.iter().rev().take(5) {
                        reasons.push(format!(
                            "{} {} at {}, before the first failure",
                            f.path,
                            f.kind,
                            clock(f.at_ms, at)
                        ));
                    }
                    if files.len() > 5 {
                        reasons.push(format!("and {} more file changes", files.len() - 5));
                    }
                }
                ("down", Severity::High, summary, count, first_ms, since_ms)
            }
            Verdict::Recovered {
                count,
                down_since_ms,
                first_ms,
            } => (
                "recovered",
                Severity::Info,
                format!(
                    "{name} recovered after {} (down since {})",
                    span(first_ms - down_since_ms),
                    clock(down_since_ms, at)
                ),
                count,
                first_ms,
                first_ms,
            ),
            Verdict::Slow {
                count,
                first_ms,
                since_ms,
            } => {
                let max = probe.spec.max_response_time.unwrap_or_default();
                (
                    "slow",
                    Severity::Medium,
                    format!(
                        "{name} is slow ({:.0} ms > {} ms, {})",
                        check.total_ms,
                        max.as_millis(),
                        plural(count, "check", "checks")
                    ),
                    count,
                    first_ms,
                    since_ms,
                )
            }
            Verdict::CertExpiring {
                threshold,
                expires_ms,
                since_ms,
            } => {
                let days = (expires_ms - at) as f64 / 86_400_000.0;
                let severity = match threshold {
                    0..=3 => Severity::High,
                    4..=7 => Severity::Medium,
                    _ => Severity::Low,
                };
                (
                    "certificate-expiring",
                    severity,
                    format!(
                        "{name}'s certificate expires in {days:.1} days, on {} (warned under {threshold} days)",
                        crate::event::format_ts(ms_to_time(expires_ms))
                    ),
                    1,
                    at,
                    since_ms,
                )
            }
            Verdict::CertInvalid { reason, since_ms } => (
                "certificate-invalid",
                Severity::High,
                format!("{name} serves an invalid certificate: {reason}"),
                1,
                at,
                since_ms,
            ),
        };
        Alert {
            id: crate::event::new_id(),
            detection: Detection {
                category: Category::Service,
                kind,
                summary,
                count,
                first_ts: ms_to_time(first_ms),
                last_ts: ms_to_time(at),
                evidence: Vec::new(),
                related,
                fields: Fields::Service(ServiceFields {
                    probe: name.clone(),
                    url: probe.spec.url.to_string(),
                    status: outcome.status,
                    error: failure,
                    timings: outcome.timings,
                    since: ms_to_time(since_ms),
                    cert_expires: outcome
                        .cert
                        .as_ref()
                        .and_then(|c| c.expires_ms)
                        .map(ms_to_time),
                }),
            },
            severity,
            rule: kind.to_owned(),
            reasons,
        }
    }
}

/// `14:02:10Z` within a day of `now_ms`, else the date too.
fn clock(ms: i64, now_ms: i64) -> String {
    let t: DateTime<Utc> = ms_to_time(ms);
    if (now_ms - ms).abs() < 86_400_000 {
        t.format("%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%SZ").to_string()
    }
}

/// `45 s`, `6 min`, `2 h 5 min`, `3 days`.
fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=89 => format!("{s} s"),
        90..=5399 => format!("{} min", (s + 30) / 60),
        5400..=172_799 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} days", s / 86_400),
    }
}

/// `shop up (HTTP 200, 43 ms)`, `shop DOWN since 14:02:10Z (HTTP 500)`.
pub(super) fn status_of(probe: &Probe) -> String {
    let name = &probe.spec.name;
    let Some((check, status)) = &probe.last else {
        return match probe.state.down {
            true => format!(
                "{name} DOWN since {} (not checked yet)",
                clock(probe.state.since_ms, probe.state.since_ms)
            ),
            false => format!("{name} not checked yet"),
        };
    };
    let answer = match (&check.failure, status) {
        (Some(f), _) => f.clone(),
        (None, Some(s)) => format!("HTTP {s}, {:.0} ms", check.total_ms),
        (None, None) => format!("{:.0} ms", check.total_ms),
    };
    let now = chrono::Utc::now().timestamp_millis();
    if probe.state.down {
        format!(
            "{name} DOWN since {} ({answer})",
            clock(probe.state.since_ms, now)
        )
    } else {
        format!("{name} up ({answer})")
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::{Check, ProbeState};
    use super::super::{http, Probe};

    #[test]
    fn the_status_line_says_up_or_down_and_the_last_answer() {
        let policy = crate::policy::Policy::parse(
            "[[probe]]\nname = \"shop\"\nurl = \"http://127.0.0.1/\"\n",
            std::path::Path::new("p.toml"),
        )
        .unwrap();
        let spec = policy.probes[0].clone();
        let mut probe = Probe {
            target: http::Target::new(spec.url.clone(), None, None).unwrap(),
            state: ProbeState::fresh(spec.url.as_str()),
            spec,
            last: None,
        };
        assert_eq!(super::status_of(&probe), "shop not checked yet");
        let check = Check {
            at_ms: 0,
            failure: None,
            total_ms: 42.6,
            cert: None,
        };
        probe.last = Some((check.clone(), Some(200)));
        assert_eq!(super::status_of(&probe), "shop up (HTTP 200, 43 ms)");
        probe.state.down = true;
        probe.state.since_ms = chrono::Utc::now().timestamp_millis();
        let failed = Check {
            failure: Some("HTTP 500".into()),
            ..check
        };
        probe.last = Some((failed, Some(500)));
        let line = super::status_of(&probe);
        assert!(
            line.starts_with("shop DOWN since ") && line.ends_with("Z (HTTP 500)"),
            "{line}"
        );
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(super::span(45_000), "45 s");
        assert_eq!(super::span(360_000), "6 min");
        assert_eq!(super::span(7_500_000), "2 h 5 min");
        assert_eq!(super::span(3 * 86_400_000), "3 days");
    }
}
