//! The schemas of detections (every category but `file`):
//! - ECS 8.x alert (`event.kind: alert`), with `source.ip`, `url.original`,
//!   `http.response.status_code`, `user_agent.original`, …, and the rest under `fim.*`;
//! - OCSF 1.1.0 Detection Finding (class_uid 2004).

use serde_json::{json, Map, Value};

use super::schema::{
    escape_controls, ocsf_severity, rfc3339_ms, severity_id, str_of, ECS_VERSION, OCSF_VERSION,
};

/// ECS `event.category` and `event.type` of a detection.
fn ecs_category(event: &Value) -> (&'static str, &'static str) {
    match (str_of(event, "category"), str_of(event, "kind")) {
        ("web", "error-burst") => ("web", "error"),
        ("web", _) => ("web", "access"),
        ("auth", kind) if kind.starts_with("login") || kind == "root-login" => {
            ("authentication", "start")
        }
        ("auth", _) => ("authentication", "info"),
        ("process", _) => ("process", "info"),
        ("service", _) => ("network", "connection"),
        ("host", "security-updates" | "reboot-required") => ("package", "info"),
        ("host", "package-file-changed") => ("file", "change"),
        ("host", "exposed-file") => ("file", "info"),
        _ => ("host", "info"),
    }
}

/// The client as an address, when it is one (a network aggregate is a CIDR).
fn client_ip(event: &Value) -> Option<&str> {
    event
        .get("client")
        .and_then(Value::as_str)
        .filter(|c| c.parse::<std::net::IpAddr>().is_ok())
}

/// The most frequent status of the matched requests.
fn main_status(event: &Value) -> Option<u64> {
    event
        .get("statuses")
        .and_then(Value::as_object)?
        .iter()
        .max_by_key(|(_, n)| n.as_u64().unwrap_or(0))
        .and_then(|(status, _)| status.parse().ok())
}

fn first_str<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event.get(key)?.as_array()?.first()?.as_str()
}

pub(super) fn ecs(event: &Value) -> Value {
    let (category, kind) = ecs_category(event);
    let severity = str_of(event, "severity");
    let mut out = json!({
        "@timestamp": str_of(event, "ts"),
        "ecs": { "version": ECS_VERSION },
        "event": {
            "id": str_of(event, "id"),
            "kind": "alert",
            "category": [category],
            "type": [kind],
            "action": str_of(event, "kind"),
            "module": "fim",
            "dataset": format!("fim.{}", str_of(event, "category")),
            "severity": severity_id(severity),
            "start": str_of(event, "first_ts"),
            "end": str_of(event, "last_ts"),
            "reason": str_of(event, "summary"),
        },
        "message": str_of(event, "summary"),
        "host": { "name": str_of(event, "host") },
        "agent": { "type": "fim", "version": env!("CARGO_PKG_VERSION") },
    });
    if let Some(rule) = event.get("rule").and_then(Value::as_str) {
        out["rule"] = json!({ "name": rule });
    }
    match (
        client_ip(event),
        event.get("client").and_then(Value::as_str),
    ) {
        (Some(ip), _) => {
            out["source"] = json!({ "ip": ip, "address": ip });
            out["related"] = json!({ "ip": [ip] });
        }
        (None, Some(network)) => out["source"] = json!({ "address": network }),
        _ => {}
    }
    if let Some(user) = event.get("user").and_then(Value::as_str) {
        out["user"] = json!({ "name": user });
        out["related"]["user"] = json!([user]);
    }
    if let Some(path) = first_str(event, "paths") {
        out["url"] = json!({ "original": path });
    }
    if let Some(status) = main_status(event) {
        out["http"] = json!({ "response": { "status_code": status } });
    }
    if str_of(event, "category") == "service" {
        service_ecs(event, &mut out);
    }
    if let Some(ua) = event.get("user_agent").and_then(Value::as_str) {
        out["user_agent"] = json!({ "original": ua });
    }
    if let Some(file) = first_str(event, "files").or_else(|| event.get("path")?.as_str()) {
        out["file"] = json!({ "path": file });
    }
    // A probe's URL and answer are already mapped, in more detail.
    if let (Some(url), true) = (
        event.get("url").and_then(Value::as_str),
        out["url"].is_null(),
    ) {
        out["url"] = json!({ "full": url, "original": url });
    }
    if let (Some(status), true) = (
        event.get("status").and_then(Value::as_u64),
        out["http"].is_null(),
    ) {
        out["http"] = json!({ "response": { "status_code": status } });
    }
    if let Some(package) = event.get("package").and_then(Value::as_str) {
        out["package"] = json!({ "name": package });
    }
    if let Some(log) = event
        .get("log")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
    {
        out["log"] = json!({ "file": { "path": log } });
    }
    if let Some(pid) = event.get("pid").filter(|v| v.is_number()) {
        let mut process = json!({ "pid": pid, "parent": { "pid": event["ppid"] } });
        for (ours, ecs) in [("exe", "executable"), ("cwd", "working_directory")] {
            if let Some(v) = event.get(ours).filter(|v| !v.is_null()) {
                process[ecs] = v.clone();
            }
        }
        if let Some(args) = event.get("cmdline").and_then(Value::as_array) {
            process["args"] = json!(args);
            process["command_line"] = json!(args
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "));
        }
        if let Some(v) = event.get("parent_exe").filter(|v| !v.is_null()) {
            process["parent"]["executable"] = v.clone();
        }
        out["process"] = process;
    }
    // Everything else of the contract's event, as fim names it.
    let mut fim = Map::new();
    for key in [
        "count",
        "evidence",
        "related",
        "reasons",
        "statuses",
        "paths",
        "files",
        "vhost",
        "client",
        "service",
        "source",
        "severity",
        "first_ts",
        "last_ts",
        "listen",
        "probe",
        "error",
        "timings",
        "since",
        "cert_expires",
        "packages",
        "lists_age_days",
    ] {
        if let Some(value) = event.get(key).filter(|v| !v.is_null()) {
            fim.insert(key.into(), value.clone());
        }
    }
    out["fim"] = Value::Object(fim);
    out
}

/// A probe's answer: `url.*`, `http.response.status_code`, `event.duration` (ns),
/// `tls.server.not_after`, `error.message`.
fn service_ecs(event: &Value, out: &mut Value) {
    let url = str_of(event, "url");
    if let Ok(parsed) = url::Url::parse(url) {
        out["url"] = json!({
            "original": url,
            "scheme": parsed.scheme(),
            "domain": parsed.host_str(),
            "port": parsed.port_or_known_default(),
            "path": parsed.path(),
        });
    }
    if let Some(status) = event.get("status").filter(|s| s.is_u64()) {
        out["http"] = json!({ "response": { "status_code": status } });
    }
    if let Some(total) = event["timings"]["total_ms"].as_f64() {
        out["event"]["duration"] = json!((total * 1e6) as u64);
    }
    if let Some(expires) = event.get("cert_expires").and_then(Value::as_str) {
        out["tls"] = json!({ "server": { "not_after": expires } });
    }
    if let Some(error) = event.get("error").and_then(Value::as_str) {
        out["error"] = json!({ "message": error });
    }
}

pub(super) fn ocsf(event: &Value) -> Value {
    let severity = str_of(event, "severity");
    let severity_id = severity_id(severity);
    let time = rfc3339_ms(str_of(event, "ts")).unwrap_or(0);
    let first = rfc3339_ms(str_of(event, "first_ts")).unwrap_or(time);
    let last = rfc3339_ms(str_of(event, "last_ts")).unwrap_or(time);
    let ip = client_ip(event);
    let endpoint = ip.map(|ip| json!({ "ip": ip }));
    let evidences: Vec<Value> = event
        .get("evidence")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .map(|line| {
                    let mut e = json!({ "data": line });
                    if let Some(endpoint) = &endpoint {
                        e["src_endpoint"] = endpoint.clone();
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default();
    let mut observables = vec![
        json!({ "name": "host", "type_id": 1, "type": "Hostname", "value": str_of(event, "host") }),
    ];
    if let Some(ip) = ip {
        observables
            .push(json!({ "name": "client", "type_id": 2, "type": "IP Address", "value": ip }));
    }
    if let Some(user) = event.get("user").and_then(Value::as_str) {
        observables
            .push(json!({ "name": "user", "type_id": 4, "type": "User Name", "value": user }));
    }
    if let Some(file) = first_str(event, "files").or_else(|| event.get("path")?.as_str()) {
        observables
            .push(json!({ "name": "file", "type_id": 7, "type": "File Name", "value": file }));
    }
    if let Some(url) = event.get("url").and_then(Value::as_str) {
        observables
            .push(json!({ "name": "url", "type_id": 6, "type": "URL String", "value": url }));
    }
    let related: Vec<Value> = event
        .get("related")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(|id| json!({ "uid": id }))
                .collect()
        })
        .unwrap_or_default();
    let mut finding = json!({
        "uid": str_of(event, "id"),
        "title": str_of(event, "summary"),
        "desc": str_of(event, "summary"),
        "types": [str_of(event, "kind")],
        "first_seen_time": first,
        "last_seen_time": last,
        "analytic": { "type_id": 1, "type": "Rule", "name": str_of(event, "rule"), "category": str_of(event, "category") },
    });
    if !related.is_empty() {
        finding["related_events"] = Value::Array(related);
    }
    let mut unmapped = Map::new();
    for (key, value) in event.as_object().into_iter().flatten() {
        if !matches!(
            key.as_str(),
            "id" | "ts" | "severity" | "summary" | "evidence" | "host" | "rule" | "count"
        ) {
            unmapped.insert(key.clone(), value.clone());
        }
    }
    json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": ocsf_severity(severity_id),
        "status_id": 1,
        "status": "New",
        "time": time,
        "start_time": first,
        "end_time": last,
        "count": event.get("count").and_then(Value::as_u64).unwrap_or(1),
        "message": str_of(event, "summary"),
        "finding_info": finding,
        "evidences": evidences,
        "observables": observables,
        "metadata": {
            "uid": str_of(event, "id"),
            "version": OCSF_VERSION,
            "product": { "name": "fim", "vendor_name": "fim", "version": env!("CARGO_PKG_VERSION") },
            "log_name": str_of(event, "source"),
        },
        "unmapped": unmapped,
    })
}

/// One line for humans: the kind and the detection's own summary.
pub(super) fn summary(event: &Value) -> String {
    format!(
        "{}: {}",
        str_of(event, "kind"),
        escape_controls(str_of(event, "summary"))
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn host_fields_map_to_ecs_file_url_and_package() {
        let exposed = json!({
            "category": "host", "kind": "exposed-file", "severity": "critical",
            "path": "/var/www/html/.env", "url": "https://example.com/.env", "status": 200
        });
        let ecs = super::ecs(&exposed);
        assert_eq!(ecs["event"]["category"], json!(["file"]));
        assert_eq!(ecs["file"]["path"], "/var/www/html/.env");
        assert_eq!(ecs["url"]["full"], "https://example.com/.env");
        assert_eq!(ecs["http"]["response"]["status_code"], 200);
        let ocsf = super::ocsf(&exposed);
        let observables = ocsf["observables"].as_array().unwrap();
        assert!(observables.iter().any(|o| o["type_id"] == 6));
        assert_eq!(ocsf["unmapped"]["status"], 200);

        let updates = json!({
            "category": "host", "kind": "security-updates", "severity": "high",
            "packages": [{"name": "nginx", "installed": "1", "available": "2"}],
            "lists_age_days": 3
        });
        let ecs = super::ecs(&updates);
        assert_eq!(ecs["event"]["category"], json!(["package"]));
        assert_eq!(ecs["fim"]["packages"][0]["name"], "nginx");
        assert_eq!(ecs["fim"]["lists_age_days"], 3);
        let changed = json!({"category": "host", "kind": "package-file-changed",
            "package": "nginx", "path": "/usr/sbin/nginx"});
        let ecs = super::ecs(&changed);
        assert_eq!(ecs["package"]["name"], "nginx");
        assert_eq!(ecs["event"]["type"], json!(["change"]));
    }

    #[test]
    fn process_fields_map_to_ecs_process() {
        let event = json!({
            "category": "process", "kind": "web-shell-spawn", "severity": "critical",
            "pid": 42, "ppid": 7, "user": "www-data", "exe": "/usr/bin/dash",
            "cmdline": ["sh", "-c", "id"], "cwd": "/var/www", "parent_exe": "/usr/sbin/php-fpm8.2",
            "listen": "0.0.0.0:4444/tcp"
        });
        let ecs = super::ecs(&event);
        assert_eq!(ecs["process"]["pid"], 42);
        assert_eq!(
            ecs["process"]["parent"],
            json!({"pid": 7, "executable": "/usr/sbin/php-fpm8.2"})
        );
        assert_eq!(ecs["process"]["command_line"], "sh -c id");
        assert_eq!(ecs["process"]["working_directory"], "/var/www");
        assert_eq!(ecs["user"]["name"], "www-data");
        assert_eq!(ecs["fim"]["listen"], "0.0.0.0:4444/tcp");
        assert!(super::ecs(&json!({"category": "web"}))
            .get("process")
            .is_none());
    }

    #[test]
    fn probe_fields_map_to_ecs_url_http_and_tls() {
        let event = json!({
            "category": "service", "kind": "down", "severity": "high", "probe": "shop",
            "url": "https://shop.example:8443/health", "status": 500, "error": "HTTP 500",
            "timings": {"dns_ms": null, "connect_ms": 1.0, "tls_ms": 2.0, "ttfb_ms": 3.0, "total_ms": 7.5},
            "since": "2026-12-01T14:02:10.000Z", "cert_expires": "2027-01-01T00:00:00.000Z"
        });
        let ecs = super::ecs(&event);
        assert_eq!(ecs["event"]["category"], json!(["network"]));
        assert_eq!(ecs["url"]["domain"], "shop.example");
        assert_eq!(ecs["url"]["port"], 8443);
        assert_eq!(ecs["http"]["response"]["status_code"], 500);
        assert_eq!(ecs["event"]["duration"], 7_500_000);
        assert_eq!(
            ecs["tls"]["server"]["not_after"],
            "2027-01-01T00:00:00.000Z"
        );
        assert_eq!(ecs["error"]["message"], "HTTP 500");
        assert_eq!(ecs["fim"]["probe"], "shop");
        assert_eq!(ecs["fim"]["timings"]["tls_ms"], 2.0);
        let ocsf = super::ocsf(&event);
        assert_eq!(ocsf["class_uid"], 2004);
        assert_eq!(ocsf["unmapped"]["probe"], "shop");
        assert!(ocsf["observables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type_id"] == 6));
    }
}
