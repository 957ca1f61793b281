//! `fim report`: one self-contained HTML page of a period — the verdict, the incidents
//! as stories, file changes, web traffic, logins, probes, the host. One pass over the
//! recorded events feeds every section's aggregate (the page lists what matters and
//! counts the rest: a busy day stays a small page); the incidents' events are read
//! again for their details. Charts are SVG drawn by `plotters`; the page is an
//! `askama` template, compiled with the binary and escaping everything by default.

pub mod chart;
mod files;
mod host;
mod logs;
mod page;
mod probes;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Result;
use crate::event::format_ts;
use crate::incident::{self, Incident, Node};
use crate::store::Baseline;

/// Incidents drawn; more are counted.
const INCIDENTS: usize = 20;
/// Steps of an incident drawn; more are counted.
const STEPS: usize = 60;
/// Evidence lines shown per event.
const EVIDENCE: usize = 5;

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// Everything the page shows.
pub struct Report {
    pub host: String,
    pub db: String,
    pub generated: String,
    pub since: String,
    pub until: String,
    pub verdict: Verdict,
    pub incidents: Vec<IncidentView>,
    pub more_incidents: usize,
    pub files: Vec<files::FileGroup>,
    pub web: logs::Web,
    pub logins: logs::Logins,
    pub processes: Vec<logs::KindRow>,
    pub probes: Vec<probes::Probe>,
    pub host_checks: host::Host,
    pub details: Vec<Detail>,
}

pub struct Verdict {
    pub findings: u64,
    /// Events per severity, worst first, those with none left out.
    pub by_severity: Vec<(&'static str, u64)>,
    /// What is still wrong now.
    pub open: Vec<String>,
}

pub struct IncidentView {
    pub anchor: String,
    pub id: String,
    pub headline: String,
    pub severity: String,
    pub first: String,
    pub last: String,
    pub steps: Vec<Step>,
    pub more_steps: usize,
}

pub struct Step {
    pub anchor: String,
    pub at: String,
    pub what: String,
    pub severity: String,
    pub text: String,
    /// Where on the time line: 0..1000 across, a lane per category down.
    pub x: u32,
    pub y: u32,
}

/// One event in full (an incident's step links here).
pub struct Detail {
    pub anchor: String,
    pub id: String,
    pub ts: String,
    pub what: String,
    pub severity: String,
    pub summary: String,
    pub fields: Vec<(String, String)>,
    pub evidence: Vec<String>,
}

/// The page for the events recorded since `since`.
pub fn render(baseline: &Baseline, since: DateTime<Utc>) -> Result<String> {
    let report = gather(baseline, since)?;
    page::render(&report)
}

pub fn gather(baseline: &Baseline, since: DateTime<Utc>) -> Result<Report> {
    let now = Utc::now();
    let (since_ms, until_ms) = (since.timestamp_millis(), now.timestamp_millis());
    let policy = baseline.recorded_policy()?;
    let mut accepts = Vec::new();
    baseline.accepts(|a| {
        accepts.push(a);
        Ok(())
    })?;
    let roots = policy
        .watches
        .iter()
        .map(|w| crate::fs::path::lossy(&w.root).into_owned())
        .collect();
    let mut files = files::Files::new(roots, accepts);
    let mut web_kinds = logs::Kinds::default();
    let mut login_kinds = logs::Kinds::default();
    let mut process_kinds = logs::Kinds::default();
    let mut notable_logins = Vec::new();
    let mut service = probes::ServiceEvents::default();
    let mut host_checks = host::Host::default();
    let mut severities: HashMap<String, u64> = HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    baseline.parsed_events(Some(since_ms), |event| {
        let Some(node) = Node::from_json(&event) else {
            return Ok(());
        };
        *severities.entry(node.severity.clone()).or_default() += 1;
        match node.category.as_str() {
            "file" => files.add(&event),
            "web" => web_kinds.add(&event, "client"),
            "auth" => {
                login_kinds.add(&event, "client");
                notable_logins.extend(logs::notable_login(&event));
            }
            "process" => process_kinds.add(&event, "exe"),
            "service" => service.add(&event),
            "host" => host_checks.add(&event),
            _ => {}
        }
        nodes.push(node);
        Ok(())
    })?;
    let incidents = incident::build(&nodes);
    let axis = logs::hours(since_ms, until_ms);
    let probes = probes::probes(
        &baseline.probe_checks(since_ms)?,
        service,
        since_ms,
        until_ms,
    );
    let verdict = verdict(&severities, &files, &probes, &host_checks, incidents.len());
    let shown: Vec<&Incident> = incidents.iter().take(INCIDENTS).collect();
    let details = details(baseline, &nodes, &shown)?;
    Ok(Report {
        host: crate::event::hostname(),
        db: baseline.path().display().to_string(),
        generated: format_ts(now),
        since: format_ts(since),
        until: format_ts(now),
        verdict,
        incidents: shown.iter().map(|i| view(i, &nodes)).collect(),
        more_incidents: incidents.len().saturating_sub(INCIDENTS),
        files: files.groups(),
        web: logs::web(baseline, &axis, web_kinds)?,
        logins: logs::logins(baseline, &axis, login_kinds, notable_logins)?,
        processes: process_kinds.rows(),
        probes,
        host_checks,
        details,
    })
}

fn verdict(
    severities: &HashMap<String, u64>,
    files: &files::Files,
    probes: &[probes::Probe],
    host: &host::Host,
    incidents: usize,
) -> Verdict {
    let by_severity: Vec<(&'static str, u64)> = SEVERITIES
        .iter()
        .filter_map(|s| severities.get(*s).map(|n| (*s, *n)))
        .collect();
    let mut open = Vec::new();
    let plural = crate::progress::plural;
    if incidents > 0 {
        open.push(plural(incidents as u64, "incident", "incidents"));
    }
    match files.unaccepted() {
        0 => {}
        n => open.push(format!(
            "{} not accepted (drift reported until `fim accept`)",
            plural(n as u64, "changed file", "changed files")
        )),
    }
    for p in probes.iter().filter(|p| p.state == "down") {
        open.push(format!("probe {} is down", p.name));
    }
    match host.pending_updates() {
        0 => {}
        n => open.push(format!(
            "{} pending",
            plural(n as u64, "security update", "security updates")
        )),
    }
    if host.reboot.is_some() {
        open.push("reboot required".into());
    }
    Verdict {
        findings: by_severity.iter().map(|(_, n)| n).sum(),
        by_severity,
        open,
    }
}

/// Lanes of the time line, top to bottom: the order an attack usually takes.
const LANES: [&str; 6] = ["auth", "web", "file", "process", "service", "host"];

fn view(incident: &Incident, nodes: &[Node]) -> IncidentView {
    let span = (incident.last_ms - incident.first_ms).max(1) as f64;
    let steps = incident
        .steps
        .iter()
        .take(STEPS)
        .map(|&i| {
            let n = &nodes[i];
            let lane = LANES.iter().position(|l| *l == n.category).unwrap_or(5);
            Step {
                anchor: format!("ev-{}", n.id),
                at: format_ts(crate::detect::ms_to_time(n.at_ms)),
                what: format!("{}/{}", n.category, n.kind),
                severity: n.severity.clone(),
                text: n.step.clone(),
                x: 60 + ((n.at_ms - incident.first_ms) as f64 / span * 900.0) as u32,
                y: 20 + 24 * lane as u32,
            }
        })
        .collect();
    IncidentView {
        anchor: format!("inc-{}", incident.id),
        id: incident.id.clone(),
        headline: incident.headline(nodes),
        severity: incident.severity.clone(),
        first: format_ts(crate::detect::ms_to_time(incident.first_ms)),
        last: format_ts(crate::detect::ms_to_time(incident.last_ms)),
        steps,
        more_steps: incident.steps.len().saturating_sub(STEPS),
    }
}

/// The shown incidents' events in full, in story order.
fn details(baseline: &Baseline, nodes: &[Node], incidents: &[&Incident]) -> Result<Vec<Detail>> {
    let wanted: BTreeMap<&str, usize> = incidents
        .iter()
        .flat_map(|i| i.steps.iter().take(STEPS))
        .enumerate()
        .map(|(order, &i)| (nodes[i].id.as_str(), order))
        .collect();
    let mut found: Vec<(usize, Detail)> = Vec::new();
    let ids: Vec<&str> = wanted.keys().copied().collect();
    baseline.events_by_id(&ids, |event| {
        let id = event.get("id").and_then(Value::as_str).unwrap_or("");
        if let Some(&order) = wanted.get(id) {
            found.push((order, detail(&event)));
        }
        Ok(())
    })?;
    found.sort_by_key(|(order, _)| *order);
    Ok(found.into_iter().map(|(_, d)| d).collect())
}

/// Fields worth showing, by name, when present.
const FIELDS: [&str; 22] = [
    "path",
    "client",
    "user",
    "service",
    "vhost",
    "user_agent",
    "paths",
    "files",
    "statuses",
    "changes",
    "reasons",
    "rule",
    "pid",
    "ppid",
    "exe",
    "cmdline",
    "parent_exe",
    "listen",
    "probe",
    "url",
    "error",
    "related",
];

fn detail(event: &Value) -> Detail {
    let s = |k: &str| {
        event
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let category = event
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or("file");
    let fields = FIELDS
        .iter()
        .filter_map(|k| {
            let v = event.get(*k)?;
            let text = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                Value::Array(a) if a.is_empty() => return None,
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some(((*k).to_owned(), text))
        })
        .collect();
    let evidence = event
        .get("evidence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(EVIDENCE)
        .filter_map(|e| e.get("line").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let id = s("id");
    Detail {
        anchor: format!("ev-{id}"),
        ts: s("ts"),
        what: format!("{category}/{}", s("kind")),
        severity: s("severity"),
        summary: match category {
            "file" => s("path"),
            _ => s("summary"),
        },
        fields,
        evidence,
        id,
    }
}
