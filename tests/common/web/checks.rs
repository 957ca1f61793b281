//! What every web detection must look like (the contract's fields and types), and ways
//! to pick detections out of fim's output.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::read_lines;

pub const KINDS: &[&str] = &[
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
    "error-burst",
    "webshell-access",
    "planted-file",
];

/// `fim analyze ARGS...`: the exit code must say whether something was detected, and
/// every detection must be well formed (see `check_detection`) against `logs`.
pub fn analyze(args: &[&str], logs: &[&Path]) -> Vec<Value> {
    let mut full = vec!["analyze"];
    full.extend_from_slice(args);
    let run = crate::common::fim(&full);
    assert!(
        run.code == 0 || run.code == 1,
        "analyze exit {}; stderr: {}",
        run.code,
        run.stderr
    );
    let events = run.events();
    assert_eq!(
        run.code,
        i32::from(!events.is_empty()),
        "exit code vs detections; stderr: {}\n{events:#?}",
        run.stderr
    );
    for e in &events {
        check_detection(e, "analyze", logs);
    }
    events
}

/// The kinds detected for `client`.
pub fn kinds_for(events: &[Value], client: &str) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["client"] == client)
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The detections of `kind` for `client`.
pub fn detections<'a>(events: &'a [Value], kind: &str, client: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["client"] == client)
        .collect()
}

fn is_ts(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not a list: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{what} holds a non-string: {v}"))
                .to_owned()
        })
        .collect()
}

/// Every field of the contract, with its type; evidence lines are real lines of the
/// logs given (read whole, decompressed when gzip'd).
pub fn check_detection(e: &Value, source: &str, logs: &[&Path]) {
    let ctx = || format!("{e:#}");
    assert!(
        e["id"].as_str().is_some_and(|s| !s.is_empty()),
        "id: {}",
        ctx()
    );
    assert!(is_ts(&e["ts"]), "ts: {}", ctx());
    assert_eq!(e["category"], "web", "{}", ctx());
    let kind = e["kind"].as_str().unwrap_or_default();
    assert!(KINDS.contains(&kind), "kind: {}", ctx());
    assert!(
        e["rule"].as_str().is_some_and(|s| !s.is_empty()),
        "rule: {}",
        ctx()
    );
    assert!(
        ["info", "low", "medium", "high", "critical"]
            .contains(&e["severity"].as_str().unwrap_or("")),
        "severity: {}",
        ctx()
    );
    assert!(
        e["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && !s.contains('\n')),
        "summary: {}",
        ctx()
    );
    assert_eq!(e["source"], source, "{}", ctx());
    assert!(
        e["host"].as_str().is_some_and(|s| !s.is_empty()),
        "host: {}",
        ctx()
    );
    let count = e["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("count: {}", ctx()));
    assert!(
        is_ts(&e["first_ts"]) && is_ts(&e["last_ts"]),
        "first/last_ts: {}",
        ctx()
    );
    assert!(
        e["first_ts"].as_str() <= e["last_ts"].as_str(),
        "first_ts > last_ts: {}",
        ctx()
    );
    let evidence = e["evidence"]
        .as_array()
        .unwrap_or_else(|| panic!("evidence: {}", ctx()));
    assert!(
        evidence.len() <= 20,
        "more than 20 evidence lines: {}",
        ctx()
    );
    assert!(
        count >= evidence.len() as u64 && count >= 1,
        "count: {}",
        ctx()
    );
    if !logs.is_empty() {
        let known: Vec<(String, BTreeSet<String>)> = logs
            .iter()
            .map(|p| {
                (
                    p.to_str().unwrap().to_owned(),
                    log_text(p).into_iter().collect(),
                )
            })
            .collect();
        for ev in evidence {
            let file = ev["file"]
                .as_str()
                .unwrap_or_else(|| panic!("evidence file: {}", ctx()));
            let line = ev["line"]
                .as_str()
                .unwrap_or_else(|| panic!("evidence line: {}", ctx()));
            assert!(
                known.iter().any(|(_, lines)| lines.contains(line)),
                "evidence line {line:?} ({file}) is in none of the logs: {}",
                ctx()
            );
        }
    }
    strings(&e["related"], "related");
    if let Some(reasons) = e.get("reasons") {
        strings(reasons, "reasons");
    }
    match kind {
        "error-burst" => assert!(e["client"].is_null(), "error-burst has a client: {}", ctx()),
        _ => assert!(
            e["client"].as_str().is_some_and(|s| !s.is_empty()),
            "client: {}",
            ctx()
        ),
    }
    assert!(
        e["vhost"].is_null() || e["vhost"].is_string(),
        "vhost: {}",
        ctx()
    );
    assert!(
        e["log"].as_str().is_some_and(|s| s.starts_with('/')),
        "log: {}",
        ctx()
    );
    let statuses = e["statuses"]
        .as_object()
        .unwrap_or_else(|| panic!("statuses: {}", ctx()));
    for (code, n) in statuses {
        assert!(
            code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && n.as_u64().is_some(),
            "statuses: {}",
            ctx()
        );
    }
    let paths = strings(&e["paths"], "paths");
    assert!(paths.len() <= 20, "more than 20 paths: {}", ctx());
    assert_eq!(
        paths.iter().collect::<BTreeSet<_>>().len(),
        paths.len(),
        "paths repeat: {}",
        ctx()
    );
    assert!(
        e["user_agent"].is_null() || e["user_agent"].is_string(),
        "user_agent: {}",
        ctx()
    );
    strings(&e["files"], "files");
}

/// The lines of a log, gunzipped when its name ends in `.gz`.
pub fn log_text(path: &Path) -> Vec<String> {
    if path.extension().is_some_and(|x| x == "gz") {
        let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
        assert!(out.status.success(), "gzip -dc {}", path.display());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    } else {
        read_lines(path)
    }
}
