//! Section 6: probes — uptime, response times per interval (median phases stacked,
//! p95 of the total), outages as bands, certificate expiry. From the recorded checks
//! when there are any, else from the `service` events alone.

use std::collections::BTreeMap;

use plotters::style::RGBColor;
use serde_json::Value;

use super::chart::{self, Axis, Series};
use crate::event::format_ts;
use crate::store::ProbeCheck;

/// Intervals of a response-time chart.
const BUCKETS: usize = 48;

pub struct Probe {
    pub name: String,
    pub url: String,
    pub checks: usize,
    /// "99.31 %", or "—" without checks.
    pub uptime: String,
    /// "up", "down", or "unknown".
    pub state: String,
    pub last: String,
    pub chart: String,
    /// Outages: (from, to or "now", what failed).
    pub outages: Vec<(String, String, String)>,
    pub cert_expires: Option<String>,
}

#[derive(Default)]
struct FromEvents {
    url: String,
    /// The state the last event left, and since when.
    down_since: Option<i64>,
    outages: Vec<(i64, Option<i64>, String)>,
    cert_expires: Option<String>,
}

/// What the `service` events say of each probe.
#[derive(Default)]
pub struct ServiceEvents(BTreeMap<String, FromEvents>);

impl ServiceEvents {
    pub fn add(&mut self, event: &Value) {
        let s = |k: &str| event.get(k).and_then(Value::as_str);
        let ms = |k: &str| {
            s(k).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        };
        let Some(name) = s("probe") else { return };
        let probe = self.0.entry(name.to_owned()).or_default();
        if let Some(url) = s("url") {
            url.clone_into(&mut probe.url);
        }
        if let Some(expires) = s("cert_expires") {
            probe.cert_expires = Some(expires.to_owned());
        }
        let at = ms("since").or(ms("first_ts")).or(ms("ts")).unwrap_or(0);
        match s("kind") {
            // A reminder of an outage already open is no new outage.
            Some("down") if probe.down_since.is_none() => {
                probe.down_since = Some(at);
                let why = s("error")
                    .map(str::to_owned)
                    .or_else(|| {
                        event
                            .get("status")
                            .and_then(Value::as_u64)
                            .map(|c| format!("HTTP {c}"))
                    })
                    .unwrap_or_default();
                probe.outages.push((at, None, why));
            }
            Some("recovered") => {
                probe.down_since = None;
                if let Some(open) = probe.outages.last_mut().filter(|o| o.1.is_none()) {
                    open.1 = Some(ms("first_ts").unwrap_or(at));
                }
            }
            _ => {}
        }
    }
}

fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() - 1) as f64 * p).round() as usize;
    Some(values[rank])
}

/// Every probe seen in the checks or the events, by name.
pub fn probes(
    checks: &[ProbeCheck],
    events: ServiceEvents,
    since_ms: i64,
    until_ms: i64,
) -> Vec<Probe> {
    let mut by_probe: BTreeMap<&str, Vec<&ProbeCheck>> = BTreeMap::new();
    for check in checks {
        by_probe.entry(&check.probe).or_default().push(check);
    }
    let mut events = events.0;
    let mut names: Vec<String> = by_probe.keys().map(|k| k.to_string()).collect();
    names.extend(
        events
            .keys()
            .filter(|k| !by_probe.contains_key(k.as_str()))
            .cloned(),
    );
    let span = (until_ms - since_ms).max(60_000);
    let axis = Axis {
        start_ms: since_ms,
        bucket_ms: (span / BUCKETS as i64).max(1),
        buckets: BUCKETS,
    };
    let offset =
        |ms: i64| ((ms - since_ms) as f64 / axis.bucket_ms as f64).clamp(0.0, BUCKETS as f64);
    names
        .into_iter()
        .map(|name| {
            let from_events = events.remove(&name).unwrap_or_default();
            let checks = by_probe.get(name.as_str()).cloned().unwrap_or_default();
            let outages: Vec<(i64, Option<i64>, String)> = if checks.is_empty() {
                from_events.outages.clone()
            } else {
                outages_of(&checks)
            };
            let bands: Vec<(f64, f64)> = outages
                .iter()
                .map(|(from, to, _)| (offset(*from), offset(to.unwrap_or(until_ms))))
                .collect();
            let ok = checks.iter().filter(|c| c.ok).count();
            let state = match checks.last() {
                Some(c) if c.ok => "up",
                Some(_) => "down",
                None if from_events.down_since.is_some() => "down",
                None if !from_events.outages.is_empty() => "up",
                None => "unknown",
            };
            Probe {
                url: from_events.url.clone(),
                checks: checks.len(),
                uptime: if checks.is_empty() {
                    "—".into()
                } else {
                    format!("{:.2} %", ok as f64 * 100.0 / checks.len() as f64)
                },
                state: state.into(),
                last: checks.last().map(|c| describe(c)).unwrap_or_default(),
                chart: if checks.is_empty() {
                    String::new()
                } else {
                    timing_chart(&axis, &checks, &bands)
                },
                outages: outages
                    .iter()
                    .map(|(from, to, why)| {
                        (
                            format_ts(crate::detect::ms_to_time(*from)),
                            to.map_or("now".into(), |t| format_ts(crate::detect::ms_to_time(t))),
                            why.clone(),
                        )
                    })
                    .collect(),
                cert_expires: from_events.cert_expires,
                name,
            }
        })
        .collect()
}

/// Runs of failed checks: from the first failure to the next success.
fn outages_of(checks: &[&ProbeCheck]) -> Vec<(i64, Option<i64>, String)> {
    let mut outages: Vec<(i64, Option<i64>, String)> = Vec::new();
    let mut open = false;
    for c in checks {
        match (c.ok, open) {
            (false, false) => {
                let why = c
                    .error
                    .clone()
                    .or_else(|| c.status.map(|s| format!("HTTP {s}")))
                    .unwrap_or_default();
                outages.push((c.ts_ms, None, why));
                open = true;
            }
            (true, true) => {
                if let Some(last) = outages.last_mut() {
                    last.1 = Some(c.ts_ms);
                }
                open = false;
            }
            _ => {}
        }
    }
    outages
}

/// "HTTP 200 in 41.2 ms (dns 1.0, connect 0.3, tls 12.0, ttfb 27.9)".
fn describe(c: &ProbeCheck) -> String {
    let phase = |name: &str, v: Option<f64>| v.map(|v| format!("{name} {v:.1}"));
    let phases: Vec<String> = [
        phase("dns", c.dns_ms),
        phase("connect", c.connect_ms),
        phase("tls", c.tls_ms),
        phase("ttfb", c.ttfb_ms),
    ]
    .into_iter()
    .flatten()
    .collect();
    let outcome = match (&c.error, c.status) {
        (Some(e), _) => e.clone(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "no answer".into(),
    };
    match c.total_ms {
        Some(total) => format!("{outcome} in {total:.1} ms ({})", phases.join(", ")),
        None => outcome,
    }
}

fn timing_chart(axis: &Axis, checks: &[&ProbeCheck], bands: &[(f64, f64)]) -> String {
    let mut buckets: Vec<Vec<&ProbeCheck>> = vec![Vec::new(); axis.buckets];
    for c in checks.iter().filter(|c| c.ok) {
        let b = ((c.ts_ms - axis.start_ms) / axis.bucket_ms) as usize;
        if let Some(bucket) = buckets.get_mut(b) {
            bucket.push(c);
        }
    }
    let median = |f: fn(&ProbeCheck) -> Option<f64>| -> Vec<f64> {
        buckets
            .iter()
            .map(|b| {
                let mut v: Vec<f64> = b.iter().filter_map(|c| f(c)).collect();
                percentile(&mut v, 0.5).unwrap_or(0.0)
            })
            .collect()
    };
    let series = [
        Series {
            label: "dns p50",
            color: RGBColor(147, 197, 253),
            values: median(|c| c.dns_ms),
        },
        Series {
            label: "connect p50",
            color: RGBColor(59, 130, 246),
            values: median(|c| c.connect_ms),
        },
        Series {
            label: "tls p50",
            color: RGBColor(129, 140, 248),
            values: median(|c| c.tls_ms),
        },
        Series {
            label: "ttfb p50",
            color: RGBColor(16, 185, 129),
            values: median(|c| c.ttfb_ms),
        },
    ];
    let p95: Vec<Option<f64>> = buckets
        .iter()
        .map(|b| {
            let mut v: Vec<f64> = b.iter().filter_map(|c| c.total_ms).collect();
            percentile(&mut v, 0.95)
        })
        .collect();
    chart::stacked_with_line(
        axis,
        &series,
        ("total p95", RGBColor(17, 24, 39), p95),
        bands,
        "ms",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ts_ms: i64, ok: bool) -> ProbeCheck {
        ProbeCheck {
            probe: "site".into(),
            ts_ms,
            ok,
            status: Some(if ok { 200 } else { 503 }),
            error: None,
            dns_ms: Some(1.0),
            connect_ms: Some(2.0),
            tls_ms: None,
            ttfb_ms: Some(10.0),
            total_ms: Some(13.0),
        }
    }

    #[test]
    fn an_outage_runs_from_the_first_failure_to_the_next_success() {
        let checks: Vec<ProbeCheck> = vec![
            check(0, true),
            check(60_000, false),
            check(120_000, false),
            check(180_000, true),
            check(240_000, false),
        ];
        let probes = probes(&checks, ServiceEvents::default(), 0, 300_000);
        let p = &probes[0];
        assert_eq!(p.uptime, "40.00 %");
        assert_eq!(p.state, "down");
        assert_eq!(p.outages.len(), 2);
        assert_eq!(p.outages[0].2, "HTTP 503");
        assert_eq!(p.outages[1].1, "now");
        assert!(p.chart.contains("<svg"));
    }
}
