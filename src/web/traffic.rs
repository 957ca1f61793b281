//! "Know your status codes": the traffic besides the detections, counted per hour
//! (`crate::detect::activity`): requests by status class, by client, 404 paths. Saved
//! in the baseline for the report; summed up for `fim analyze --format text`.

use crate::detect::activity::{status_class, Activity, Counter};
use crate::logs::record::AccessRecord;

const TOP: usize = 10;

/// Count one request.
pub fn add(activity: &mut Activity, r: &AccessRecord<'_>) {
    let ts = r.ts.timestamp_millis();
    activity.add(ts, Counter::Status, status_class(r.status));
    activity.add(ts, Counter::Client, &r.client.to_string());
    if r.status == 404 {
        let path = r.target.split('?').next().unwrap_or_default();
        activity.add(ts, Counter::NotFound, path);
    }
}

/// The summary, as lines.
pub fn lines(activity: &Activity, unparsed: u64) -> Vec<String> {
    let classes = activity.totals(Counter::Status);
    let requests: u64 = classes.values().sum();
    let mut lines = vec![format!(
        "{requests} requests{}",
        match unparsed {
            0 => String::new(),
            n => format!(", {n} lines not understood"),
        }
    )];
    let by_class: Vec<String> = ["1xx", "2xx", "3xx", "4xx", "5xx"]
        .into_iter()
        .map(|c| format!("{c} {}", classes.get(c).copied().unwrap_or(0)))
        .chain(classes.get("other").map(|n| format!("other {n}")))
        .collect();
    lines.push(format!("by status: {}", by_class.join(", ")));
    lines.push("top clients:".into());
    for (client, n) in top(activity, Counter::Client) {
        lines.push(format!("  {n:>8}  {client}"));
    }
    let not_found = top(activity, Counter::NotFound);
    if !not_found.is_empty() {
        lines.push("top 404 paths:".into());
        for (path, n) in not_found {
            lines.push(format!("  {n:>8}  {}", path.escape_debug()));
        }
    }
    lines
}

fn top(activity: &Activity, counter: Counter) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = activity.totals(counter).into_iter().collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    all.truncate(TOP);
    all
}
