//! Sections 4 and 5: web traffic and logins, from the per-hour counts the log sources
//! saved (`activity`) and the detections recorded.

use std::collections::BTreeMap;

use plotters::style::RGBColor;
use serde_json::Value;

use super::chart::{self, Axis, Series};
use crate::detect::activity::{Counter, HOUR_MS};
use crate::error::Result;
use crate::store::Baseline;

/// Rows of the top tables.
const TOP: usize = 10;

/// Detections of one kind.
pub struct KindRow {
    pub kind: String,
    pub events: u64,
    /// Observations (requests, failures) they aggregate.
    pub count: u64,
    pub worst: String,
    /// A few of the clients (or users) they name.
    pub subjects: String,
}

/// One login worth a look (a new source, a quiet-hours login).
pub struct LoginRow {
    pub ts: String,
    pub kind: String,
    pub user: String,
    pub client: String,
    pub summary: String,
}

pub struct Web {
    pub requests: u64,
    /// Requests per class over the period: (class, count).
    pub classes: Vec<(&'static str, u64)>,
    pub chart: String,
    pub clients: Vec<(String, u64)>,
    pub not_found: Vec<(String, u64)>,
    pub kinds: Vec<KindRow>,
}

pub struct Logins {
    pub ok: u64,
    pub failed: u64,
    pub chart: String,
    pub notable: Vec<LoginRow>,
    pub kinds: Vec<KindRow>,
}

/// Detections by kind, for one category.
#[derive(Default)]
pub struct Kinds(BTreeMap<String, (u64, u64, String, Vec<String>)>);

impl Kinds {
    pub fn add(&mut self, event: &Value, subject: &str) {
        let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
        let row = self.0.entry(s("kind").to_owned()).or_default();
        row.0 += 1;
        row.1 += event.get("count").and_then(Value::as_u64).unwrap_or(1);
        let severity = s("severity");
        if crate::incident::severity_rank(severity) >= crate::incident::severity_rank(&row.2) {
            severity.clone_into(&mut row.2);
        }
        let subject = s(subject);
        if !subject.is_empty() && row.3.len() < 5 && !row.3.iter().any(|c| c == subject) {
            row.3.push(subject.to_owned());
        }
    }

    pub fn rows(self) -> Vec<KindRow> {
        let mut rows: Vec<KindRow> = self
            .0
            .into_iter()
            .map(|(kind, (events, count, worst, subjects))| KindRow {
                kind,
                events,
                count,
                worst,
                subjects: subjects.join(", "),
            })
            .collect();
        rows.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.kind.cmp(&b.kind)));
        rows
    }
}

/// Hourly buckets over the period.
pub fn hours(since_ms: i64, until_ms: i64) -> Axis {
    let start_ms = since_ms.div_euclid(HOUR_MS) * HOUR_MS;
    Axis {
        start_ms,
        bucket_ms: HOUR_MS,
        buckets: ((until_ms - start_ms) / HOUR_MS + 1).clamp(1, 24 * 62) as usize,
    }
}

/// `counter`'s per-hour counts as one series per key of `keys`.
fn series(
    baseline: &Baseline,
    axis: &Axis,
    counter: Counter,
    keys: &[(&'static str, &'static str, RGBColor)],
) -> Result<(Vec<Series>, BTreeMap<String, u64>)> {
    let mut series: Vec<Series> = keys
        .iter()
        .map(|&(_, label, color)| Series {
            label,
            color,
            values: vec![0.0; axis.buckets],
        })
        .collect();
    let mut totals = BTreeMap::new();
    for (hour, key, n) in baseline.activity_per_hour(counter, axis.start_ms)? {
        *totals.entry(key.clone()).or_default() += n;
        let bucket = ((hour - axis.start_ms) / axis.bucket_ms) as usize;
        if let (Some(i), true) = (
            keys.iter().position(|(k, _, _)| *k == key),
            bucket < axis.buckets,
        ) {
            series[i].values[bucket] += n as f64;
        }
    }
    Ok((series, totals))
}

pub fn web(baseline: &Baseline, axis: &Axis, kinds: Kinds) -> Result<Web> {
    let classes = [
        ("1xx", "1xx", RGBColor(148, 163, 184)),
        ("2xx", "2xx", RGBColor(22, 163, 74)),
        ("3xx", "3xx", RGBColor(37, 99, 235)),
        ("4xx", "4xx", RGBColor(234, 179, 8)),
        ("5xx", "5xx", RGBColor(220, 38, 38)),
        ("other", "other", RGBColor(100, 100, 100)),
    ];
    let (series, totals) = series(baseline, axis, Counter::Status, &classes)?;
    let since = axis.start_ms;
    Ok(Web {
        requests: totals.values().sum(),
        classes: classes
            .iter()
            .map(|(k, _, _)| (*k, totals.get(*k).copied().unwrap_or(0)))
            .collect(),
        chart: chart::stacked(axis, &series, &[], "requests per hour"),
        clients: baseline.activity_top(Counter::Client, since, TOP)?,
        not_found: baseline.activity_top(Counter::NotFound, since, TOP)?,
        kinds: kinds.rows(),
    })
}

pub fn logins(
    baseline: &Baseline,
    axis: &Axis,
    kinds: Kinds,
    notable: Vec<LoginRow>,
) -> Result<Logins> {
    let keys = [
        ("ok", "successes", RGBColor(22, 163, 74)),
        ("failed", "failures", RGBColor(220, 38, 38)),
    ];
    let (series, totals) = series(baseline, axis, Counter::Login, &keys)?;
    Ok(Logins {
        ok: totals.get("ok").copied().unwrap_or(0),
        failed: totals.get("failed").copied().unwrap_or(0),
        chart: chart::stacked(axis, &series, &[], "logins per hour"),
        notable,
        kinds: kinds.rows(),
    })
}

/// A login worth listing, from an auth detection.
pub fn notable_login(event: &Value) -> Option<LoginRow> {
    let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
    matches!(
        s("kind"),
        "login-new-source" | "login-quiet-hours" | "login-after-failures" | "root-login"
    )
    .then(|| LoginRow {
        ts: s("first_ts").to_owned(),
        kind: s("kind").to_owned(),
        user: s("user").to_owned(),
        client: s("client").to_owned(),
        summary: s("summary").to_owned(),
    })
}
