//! Incidents: recorded events tied into one story. Two events belong together when one
//! names the other in `related` (a planted file and the request that made it), or
//! when they share a subject — the same client address, the same user, the same
//! process (pid), the same file path, the web server's workers after a request to a
//! webshell — within `BOUND` of each other. A group of two or more events with at least
//! one detection is an incident; its id is the id of its first event, so it stays the
//! same as later events join it. `fim events --incident` and the report both use this.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::Result;
use crate::store::Baseline;

/// Events sharing a subject further apart than this are separate stories.
pub const BOUND_MS: i64 = 3_600_000;

/// Steps named in a headline before "… N more".
const HEADLINE_STEPS: usize = 10;

/// What the builder keeps of an event: a few fields, not its JSON.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    /// When it happened: a detection's first observation, a file's change time.
    pub at_ms: i64,
    pub category: String,
    pub kind: String,
    pub severity: String,
    /// A short step of a story ("41 failed logins", "listener on 0.0.0.0:4444/tcp").
    pub step: String,
    label: Label,
    count: u64,
    /// The line for people: the summary, or the file event's kind and path.
    pub summary: String,
    subjects: Vec<String>,
    related: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Incident {
    /// The id of its first event.
    pub id: String,
    /// Its events in story order (indices into the nodes given to `build`).
    pub steps: Vec<usize>,
    /// Who or what it is about: the client, user or file most of its steps share.
    pub subject: String,
    pub severity: String,
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Incident {
    /// "203.0.113.7: 41 failed logins → login as root → …": each kind of step once,
    /// where it first happened, its counts added up (a detector reporting again after
    /// its cooldown, or the same lines told by two runs, is one step).
    pub fn headline(&self, nodes: &[Node]) -> String {
        let mut steps: Vec<(&Label, u64)> = Vec::new();
        for &i in &self.steps {
            let node = &nodes[i];
            match steps.iter_mut().find(|(l, _)| **l == node.label) {
                Some((_, n)) => *n += node.count,
                None => steps.push((&node.label, node.count)),
            }
        }
        let more = steps.len().saturating_sub(HEADLINE_STEPS);
        let mut text: Vec<String> = steps
            .iter()
            .take(HEADLINE_STEPS)
            .map(|(label, n)| label.with(*n))
            .collect();
        if more > 0 {
            text.push(format!("… {more} more"));
        }
        format!("{}: {}", self.subject, text.join(" → "))
    }
}

/// A step's words: counted ("41 failed logins", "1 failed login") or not ("login
/// as root").
#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Counted { one: String, many: String },
    Plain(String),
}

impl Label {
    fn with(&self, count: u64) -> String {
        match self {
            Label::Counted { one, .. } if count == 1 => format!("1 {one}"),
            Label::Counted { many, .. } => format!("{count} {many}"),
            Label::Plain(what) => what.clone(),
        }
    }
}

impl Node {
    /// From a recorded event's JSON; `None` for something that is not an event.
    pub fn from_json(event: &Value) -> Option<Node> {
        let s = |k: &str| event.get(k).and_then(Value::as_str);
        let list = |k: &str| -> Vec<&str> {
            event
                .get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let ms = |t: Option<&str>| {
            t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        };
        let id = s("id")?.to_owned();
        let category = s("category").unwrap_or("file").to_owned();
        let kind = s("kind")?.to_owned();
        let ts = ms(s("ts"))?;
        let mut subjects = Vec::new();
        let count = event.get("count").and_then(Value::as_u64).unwrap_or(1);
        let (at_ms, label, summary);
        if category == "file" {
            let path = s("path").unwrap_or("");
            let ctime = ms(event.pointer("/new/ctime").and_then(Value::as_str));
            at_ms = ctime.map_or(ts, |c| c.min(ts));
            let reasons = list("reasons");
            summary = match reasons.first() {
                Some(reason) => format!("{kind} {path} ({reason})"),
                None => format!("{kind} {path}"),
            };
            label = Label::Plain(summary.clone());
            subjects.push(format!("path {path}"));
        } else {
            at_ms = ms(s("first_ts")).unwrap_or(ts);
            summary = s("summary").unwrap_or("").to_owned();
            label =
                label_of(&category, &kind, event).unwrap_or_else(|| Label::Plain(summary.clone()));
            subjects.extend(subjects_of(&category, &kind, event));
        }
        Some(Node {
            id,
            at_ms,
            category,
            kind,
            severity: s("severity").unwrap_or("info").to_owned(),
            step: label.with(count),
            label,
            count,
            summary,
            subjects,
            related: list("related").into_iter().map(str::to_owned).collect(),
        })
    }

    fn is_detection(&self) -> bool {
        self.category != "file"
    }
}

/// The short step for a story, by kind; `None`: the summary says it best.
fn label_of(category: &str, kind: &str, event: &Value) -> Option<Label> {
    let s = |k: &str| event.get(k).and_then(Value::as_str);
    let first_path = || event.pointer("/paths/0").and_then(Value::as_str);
    let counted = |one: String, many: String| Some(Label::Counted { one, many });
    Some(Label::Plain(match (category, kind) {
        ("auth", "brute-force") => return counted("failed login".into(), "failed logins".into()),
        ("auth", "user-enumeration") => {
            return counted(
                "failed login for many users".into(),
                "failed logins for many users".into(),
            )
        }
        ("auth", _) if kind.starts_with("login") || kind == "root-login" => {
            format!("login as {}", s("user")?)
        }
        ("web", "planted-file") => format!("upload {}", first_path()?),
        ("web", "webshell-access") => {
            let path = first_path()?;
            return counted(format!("request to {path}"), format!("requests to {path}"));
        }
        ("web", _) => return counted(format!("{kind} request"), format!("{kind} requests")),
        ("process", "new-listener") => format!("listener on {}", s("listen")?),
        ("process", "web-shell-spawn") => {
            let cmdline: Vec<&str> = event
                .get("cmdline")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let parent =
                s("parent_exe").map_or("the web server", |p| p.rsplit('/').next().unwrap_or(p));
            format!("{} under {parent}", cmdline.join(" "))
        }
        ("process", _) => format!("{kind} {}", s("exe")?),
        ("service", _) => format!("{} {kind}", s("probe")?),
        ("host", _) => match s("path") {
            Some(path) => format!("{kind} {path}"),
            None => return None,
        },
        _ => return None,
    }))
}

/// What a detection is about, as keys shared with the events of the same story.
fn subjects_of(category: &str, kind: &str, event: &Value) -> Vec<String> {
    let s = |k: &str| event.get(k).and_then(Value::as_str);
    let mut keys = Vec::new();
    if let Some(client) = s("client") {
        keys.push(format!("client {client}"));
    }
    match category {
        // Failures for many names say nothing of who logs in later.
        "auth" if !matches!(kind, "brute-force" | "user-enumeration") => {
            if let Some(user) = s("user") {
                keys.push(format!("user {user}"));
            }
        }
        "web" => {
            for file in event
                .get("files")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                keys.push(format!("path {file}"));
            }
            // What runs under the web server after a request to a webshell is its doing.
            if kind == "webshell-access" {
                keys.push("web workers".into());
            }
        }
        "process" => {
            for pid in ["pid", "ppid"] {
                if let Some(pid) = event.get(pid).and_then(Value::as_i64).filter(|p| *p > 1) {
                    keys.push(format!("pid {pid}"));
                }
            }
            if let Some(exe) = s("exe") {
                keys.push(format!("path {exe}"));
            }
            if kind == "web-shell-spawn" {
                keys.push("web workers".into());
            }
        }
        "host" => {
            if let Some(path) = s("path") {
                keys.push(format!("path {path}"));
            }
        }
        _ => {}
    }
    keys
}

/// Union-find over node indices.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// The incidents among `nodes` (given in recording order), most recent first.
pub fn build(nodes: &[Node]) -> Vec<Incident> {
    let mut groups = Groups((0..nodes.len()).collect());
    let by_id: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        for related in &node.related {
            if let Some(&j) = by_id.get(related.as_str()) {
                groups.join(i, j);
            }
        }
    }
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (nodes[i].at_ms, i));
    // Per subject, the last event seen with it: a chain of events each within the
    // bound of the previous one is one story.
    let mut last: HashMap<&str, (usize, i64)> = HashMap::new();
    for &i in &order {
        for subject in &nodes[i].subjects {
            if let Some(&(j, at)) = last.get(subject.as_str()) {
                if nodes[i].at_ms - at <= BOUND_MS {
                    groups.join(i, j);
                }
            }
            last.insert(subject, (i, nodes[i].at_ms));
        }
    }
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &order {
        let root = groups.root(i);
        members.entry(root).or_default().push(i);
    }
    let mut incidents: Vec<Incident> = members
        .into_values()
        .filter(|steps| steps.len() >= 2 && steps.iter().any(|&i| nodes[i].is_detection()))
        .map(|steps| incident(nodes, steps))
        .collect();
    incidents.sort_by(|a, b| b.first_ms.cmp(&a.first_ms).then_with(|| a.id.cmp(&b.id)));
    incidents
}

fn incident(nodes: &[Node], steps: Vec<usize>) -> Incident {
    let mut shared: HashMap<&str, usize> = HashMap::new();
    for &i in &steps {
        for subject in &nodes[i].subjects {
            *shared.entry(subject).or_default() += 1;
        }
    }
    // Clients first, then users, then files: the attacker before what they touched.
    let rank = |s: &str| match s.split(' ').next() {
        Some("client") => 0,
        Some("user") => 1,
        Some("path") => 2,
        _ => 3,
    };
    let subject = shared
        .into_iter()
        .filter(|(s, _)| rank(s) < 3)
        .min_by(|a, b| {
            rank(a.0)
                .cmp(&rank(b.0))
                .then(b.1.cmp(&a.1))
                .then(a.0.cmp(b.0))
        })
        .map(|(s, _)| s.split_once(' ').map_or(s, |(_, v)| v).to_owned())
        .unwrap_or_else(|| nodes[steps[0]].summary.clone());
    let severity = steps
        .iter()
        .map(|&i| nodes[i].severity.as_str())
        .max_by_key(|s| severity_rank(s))
        .unwrap_or("info")
        .to_owned();
    Incident {
        id: nodes[steps[0]].id.clone(),
        subject,
        severity,
        first_ms: nodes[steps[0]].at_ms,
        last_ms: steps.iter().map(|&i| nodes[i].at_ms).max().unwrap_or(0),
        steps,
    }
}

/// Severities in order, for sorting: info 0 … critical 4.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// The nodes of the events recorded since `since_ms`, in recording order, and the
/// incidents among them.
pub fn recorded(baseline: &Baseline, since_ms: Option<i64>) -> Result<(Vec<Node>, Vec<Incident>)> {
    let mut nodes = Vec::new();
    baseline.parsed_events(since_ms, |event| {
        nodes.extend(Node::from_json(&event));
        Ok(())
    })?;
    let incidents = build(&nodes);
    Ok((nodes, incidents))
}

/// A story line: `TIME  CATEGORY/KIND  SEVERITY  SUMMARY  (event ID)`.
pub fn story_line(node: &Node) -> String {
    format!(
        "{}  {:<24} {:<8} {}  (event {})",
        crate::event::format_ts(crate::detect::ms_to_time(node.at_ms)),
        format!("{}/{}", node.category, node.kind),
        node.severity,
        node.summary.escape_debug(),
        node.id
    )
}

/// The incident with this id, or the one this event belongs to.
pub fn find<'i>(incidents: &'i [Incident], nodes: &[Node], id: &str) -> Option<&'i Incident> {
    incidents.iter().find(|i| i.id == id).or_else(|| {
        incidents
            .iter()
            .find(|i| i.steps.iter().any(|&s| nodes[s].id == id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nodes(events: &[Value]) -> Vec<Node> {
        events.iter().filter_map(Node::from_json).collect()
    }

    fn attack() -> Vec<Value> {
        vec![
            json!({"id": "a", "ts": "2026-12-01T10:05:00.000Z", "category": "auth",
                   "kind": "brute-force", "severity": "high", "count": 41,
                   "first_ts": "2026-12-01T10:00:00.000Z", "client": "203.0.113.7",
                   "user": "root", "summary": "41 failures", "related": []}),
            json!({"id": "b", "ts": "2026-12-01T10:06:00.000Z", "category": "auth",
                   "kind": "login-after-failures", "severity": "critical", "count": 1,
                   "first_ts": "2026-12-01T10:06:00.000Z", "client": "203.0.113.7",
                   "user": "root", "summary": "login", "related": []}),
            json!({"id": "f", "ts": "2026-12-01T10:20:00.000Z", "category": "file",
                   "kind": "new", "severity": "critical", "path": "/w/uploads/x.php",
                   "reasons": ["webshell signature"],
                   "new": {"ctime": "2026-12-01T10:10:00.000000000Z"}}),
            json!({"id": "c", "ts": "2026-12-01T10:21:00.000Z", "category": "web",
                   "kind": "planted-file", "severity": "critical", "count": 1,
                   "first_ts": "2026-12-01T10:09:59.000Z", "client": "203.0.113.7",
                   "paths": ["/upload.php"], "files": [], "summary": "s", "related": ["f"]}),
            json!({"id": "d", "ts": "2026-12-01T10:22:00.000Z", "category": "web",
                   "kind": "webshell-access", "severity": "critical", "count": 12,
                   "first_ts": "2026-12-01T10:11:00.000Z", "client": "198.51.100.9",
                   "paths": ["/uploads/x.php"], "files": ["/w/uploads/x.php"],
                   "summary": "s", "related": ["f"]}),
            json!({"id": "e", "ts": "2026-12-01T10:23:00.000Z", "category": "process",
                   "kind": "web-shell-spawn", "severity": "critical", "count": 1,
                   "first_ts": "2026-12-01T10:12:00.000Z", "pid": 900, "ppid": 800,
                   "cmdline": ["sh", "-c", "id"], "parent_exe": "/usr/sbin/php-fpm8.2",
                   "summary": "s", "related": []}),
            json!({"id": "g", "ts": "2026-12-01T10:24:00.000Z", "category": "process",
                   "kind": "new-listener", "severity": "high", "count": 1,
                   "first_ts": "2026-12-01T10:13:00.000Z", "pid": 901, "ppid": 900,
                   "listen": "0.0.0.0:4444/tcp", "summary": "s", "related": []}),
            // Someone else, another day.
            json!({"id": "z", "ts": "2026-12-02T10:00:00.000Z", "category": "auth",
                   "kind": "brute-force", "severity": "high", "count": 9,
                   "first_ts": "2026-12-02T09:00:00.000Z", "client": "192.0.2.1",
                   "summary": "9 failures", "related": []}),
        ]
    }

    #[test]
    fn an_attack_is_one_story_in_time_order() {
        let nodes = nodes(&attack());
        let incidents = build(&nodes);
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        let incident = &incidents[0];
        assert_eq!(incident.id, "a");
        let ids: Vec<&str> = incident
            .steps
            .iter()
            .map(|&i| nodes[i].id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "f", "d", "e", "g"]);
        assert_eq!(incident.severity, "critical");
        assert_eq!(
            incident.headline(&nodes),
            "203.0.113.7: 41 failed logins → login as root → upload /upload.php → \
             new /w/uploads/x.php (webshell signature) → 12 requests to /uploads/x.php → \
             sh -c id under php-fpm8.2 → listener on 0.0.0.0:4444/tcp"
        );
        assert!(find(&incidents, &nodes, "g").is_some_and(|i| i.id == "a"));
        assert!(find(&incidents, &nodes, "z").is_none());
    }

    #[test]
    fn the_same_client_hours_apart_is_two_stories() {
        let mut events = attack();
        events.truncate(2);
        events.push(
            json!({"id": "late", "ts": "2026-12-01T14:00:00.000Z", "category": "auth",
            "kind": "brute-force", "severity": "high", "count": 5,
            "first_ts": "2026-12-01T13:00:00.000Z", "client": "203.0.113.7",
            "summary": "5 failures", "related": []}),
        );
        let nodes = nodes(&events);
        let incidents = build(&nodes);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].steps.len(), 2);
        // A lone detection is no incident.
        assert!(find(&incidents, &nodes, "late").is_none());
    }

    #[test]
    fn garbage_is_no_node() {
        assert!(Node::from_json(&json!({"kind": "new"})).is_none());
        assert!(Node::from_json(&json!([1, 2])).is_none());
        assert!(Node::from_json(&json!({"id": "x", "kind": "new", "ts": "yesterday"})).is_none());
    }
}
