//! The schemas a sink can speak. Each maps the contract's event (as recorded in the
//! outbox) field by field; the README has the same table for humans.
//! - `ecs`: Elastic Common Schema 8.x, as Auditbeat's file_integrity module writes it.
//! - `ocsf`: OCSF 1.1.0 File System Activity (class_uid 1001).
//!
//! Detections have their own mappings, in `finding`.

use serde_json::{json, Map, Value};

use super::finding;
use crate::policy::sink::SinkFormat;

pub const ECS_VERSION: &str = "8.11.0";
pub const OCSF_VERSION: &str = "1.1.0";

/// `event` (the contract's JSON object) in `format`; detections (every category but
/// `file`) are mapped by `finding`.
pub fn render(format: SinkFormat, event: &Value) -> Value {
    let detection = is_detection(event);
    match format {
        SinkFormat::Fim => event.clone(),
        SinkFormat::Ecs if detection => finding::ecs(event),
        SinkFormat::Ocsf if detection => finding::ocsf(event),
        SinkFormat::Ecs => ecs(event),
        SinkFormat::Ocsf => ocsf(event),
    }
}

fn is_detection(event: &Value) -> bool {
    !matches!(str_of(event, "category"), "" | "file")
}

pub(super) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The attributes the event describes: the new state, or the old one for `deleted`.
fn current(event: &Value) -> &Value {
    event
        .get("new")
        .or_else(|| event.get("old"))
        .unwrap_or(&Value::Null)
}

fn changes(event: &Value) -> Vec<&str> {
    event
        .get("changes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Only metadata changed (nothing about what the entry holds or points to).
fn attributes_only(event: &Value) -> bool {
    let changes = changes(event);
    !changes.is_empty()
        && changes
            .iter()
            .all(|c| !matches!(*c, "content" | "size" | "type" | "target"))
}

/// 1 (info) to 5 (critical): OCSF's severity_id, also ECS's numeric event.severity.
pub fn severity_id(severity: &str) -> u8 {
    match severity {
        "info" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

fn split_name(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

fn extension(name: &str) -> Option<&str> {
    let dot = name.rfind('.')?;
    (dot > 0 && dot + 1 < name.len()).then(|| &name[dot + 1..])
}

fn ecs(event: &Value) -> Value {
    let kind = str_of(event, "kind");
    let (action, types) = match kind {
        "new" => ("created", "creation"),
        "deleted" => ("deleted", "deletion"),
        _ if attributes_only(event) => ("attributes_modified", "change"),
        _ => ("updated", "change"),
    };
    let attrs = current(event);
    let path = str_of(event, "path");
    let (directory, name) = split_name(path);
    let mut file = Map::new();
    file.insert("path".into(), json!(path));
    file.insert("name".into(), json!(name));
    file.insert("directory".into(), json!(directory));
    if let Some(ext) = extension(name) {
        file.insert("extension".into(), json!(ext));
    }
    file.insert(
        "type".into(),
        json!(match str_of(event, "type") {
            "block" => "block_device",
            "char" => "char_device",
            other => other,
        }),
    );
    if attrs.is_object() {
        file.insert("mode".into(), json!(str_of(attrs, "mode")));
        for key in ["uid", "gid", "inode"] {
            // ECS keeps these as keywords.
            if let Some(n) = attrs.get(key).and_then(Value::as_u64) {
                file.insert(key.into(), json!(n.to_string()));
            }
        }
        file.insert(
            "size".into(),
            attrs.get("size").cloned().unwrap_or(Value::Null),
        );
        file.insert("mtime".into(), json!(str_of(attrs, "mtime")));
        file.insert("ctime".into(), json!(str_of(attrs, "ctime")));
        if let Some(hash) = attrs.get("blake3") {
            file.insert("hash".into(), json!({ "blake3": hash }));
        }
        if let Some(target) = attrs.get("target") {
            file.insert("target_path".into(), target.clone());
        }
    }
    let severity = str_of(event, "severity");
    let mut fim = json!({
        "changes": changes(event),
        "reasons": event.get("reasons").cloned().unwrap_or(json!([])),
        "severity": severity,
        "source": str_of(event, "source"),
    });
    if let Some(bytes) = event.get("path_bytes") {
        fim["path_bytes"] = bytes.clone();
    }
    if kind == "modified" {
        fim["old"] = event.get("old").cloned().unwrap_or(Value::Null);
    }
    let mut out = json!({
        "@timestamp": str_of(event, "ts"),
        "ecs": { "version": ECS_VERSION },
        "event": {
            "id": str_of(event, "id"),
            "kind": "event",
            "category": ["file"],
            "type": [types],
            "action": action,
            // As Auditbeat names them, so Kibana's file integrity views and rules
            // apply; `agent.type` says fim wrote it.
            "module": "file_integrity",
            "dataset": "file",
            "severity": severity_id(severity),
        },
        "file": file,
        "host": { "name": str_of(event, "host") },
        "agent": { "type": "fim", "version": env!("CARGO_PKG_VERSION") },
        "message": summary(event),
        "fim": fim,
    });
    if let Some(rule) = event.get("rule").and_then(Value::as_str) {
        out["rule"] = json!({ "name": rule });
    }
    out
}

/// One line for humans, e.g. `modified file /etc/passwd (content, size)`. Control
/// characters in a name are escaped: a hostile name cannot forge lines of a message.
pub fn summary(event: &Value) -> String {
    if is_detection(event) {
        return finding::summary(event);
    }
    let path = escape_controls(str_of(event, "path"));
    let mut line = format!("{} {} {path}", str_of(event, "kind"), str_of(event, "type"),);
    let changes = changes(event);
    if !changes.is_empty() {
        line.push_str(&format!(" ({})", changes.join(", ")));
    }
    line
}

pub(super) fn escape_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn ocsf(event: &Value) -> Value {
    let (activity_id, activity) = match str_of(event, "kind") {
        "new" => (1, "Create"),
        "deleted" => (4, "Delete"),
        _ if attributes_only(event) => (6, "Set Attributes"),
        _ => (3, "Update"),
    };
    let (type_id, type_name) = match str_of(event, "type") {
        "file" => (1, "Regular File"),
        "dir" => (2, "Folder"),
        "char" => (3, "Character Device"),
        "block" => (4, "Block Device"),
        "socket" => (5, "Local Socket"),
        "fifo" => (6, "Named Pipe"),
        "symlink" => (7, "Symbolic Link"),
        _ => (0, "Unknown"),
    };
    let severity = str_of(event, "severity");
    let severity_id = severity_id(severity);
    let attrs = current(event);
    let path = str_of(event, "path");
    let (directory, name) = split_name(path);
    let mut file = json!({
        "name": name,
        "path": path,
        "parent_folder": directory,
        "type_id": type_id,
        "type": type_name,
    });
    if attrs.is_object() {
        file["size"] = attrs.get("size").cloned().unwrap_or(Value::Null);
        if let Some(ms) = rfc3339_ms(str_of(attrs, "mtime")) {
            file["modified_time"] = json!(ms);
        }
        if let Some(uid) = attrs.get("uid").and_then(Value::as_u64) {
            file["owner"] = json!({ "uid": uid.to_string() });
        }
        if let Some(inode) = attrs.get("inode").and_then(Value::as_u64) {
            file["uid"] = json!(inode.to_string());
        }
        if let Some(hash) = attrs.get("blake3") {
            file["hashes"] = json!([{ "algorithm_id": 99, "algorithm": "BLAKE3", "value": hash }]);
        }
        if let Some(target) = attrs.get("target") {
            file["xattributes"] = json!({ "link_target": target });
        }
    }
    let time = rfc3339_ms(str_of(event, "ts")).unwrap_or(0);
    let mut out = json!({
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": 1,
        "category_name": "System Activity",
        "class_uid": 1001,
        "class_name": "File System Activity",
        "type_uid": 100100 + activity_id,
        "type_name": format!("File System Activity: {activity}"),
        "severity_id": severity_id,
        "severity": ocsf_severity(severity_id),
        "time": time,
        "message": summary(event),
        // A file integrity monitor sees the result, not who caused it; OCSF requires an
        // actor, so it is an Unknown user (rather than a made-up one).
        "actor": { "user": { "type_id": 0, "type": "Unknown", "name": "unknown" } },
        "device": { "hostname": str_of(event, "host"), "type_id": 1, "type": "Server" },
        "file": file,
        "metadata": {
            "uid": str_of(event, "id"),
            "version": OCSF_VERSION,
            "product": { "name": "fim", "vendor_name": "fim", "version": env!("CARGO_PKG_VERSION") },
            "log_name": str_of(event, "source"),
        },
        "unmapped": {
            "changes": changes(event),
            "reasons": event.get("reasons").cloned().unwrap_or(json!([])),
            "rule": event.get("rule").cloned().unwrap_or(Value::Null),
            "mode": attrs.get("mode").cloned().unwrap_or(Value::Null),
            "gid": attrs.get("gid").cloned().unwrap_or(Value::Null),
            "ctime": attrs.get("ctime").cloned().unwrap_or(Value::Null),
            "nlink": attrs.get("nlink").cloned().unwrap_or(Value::Null),
            "old": event.get("old").cloned().unwrap_or(Value::Null),
        },
    });
    if let Some(bytes) = event.get("path_bytes") {
        out["unmapped"]["path_bytes"] = bytes.clone();
    }
    out
}

pub(super) fn ocsf_severity(id: u8) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    }
}

pub(super) fn rfc3339_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modified(changes: &[&str]) -> Value {
        json!({
            "id": "0193-x", "ts": "2026-11-25T19:13:00.123Z", "kind": "modified",
            "path": "/var/www/html/index.php", "type": "file", "changes": changes,
            "old": {"type": "file", "size": 1, "mode": "0644", "uid": 0, "gid": 0,
                    "mtime": "2026-11-25T19:00:00.000000000Z", "ctime": "2026-11-25T19:00:00.000000000Z",
                    "inode": 7, "nlink": 1, "blake3": "aa"},
            "new": {"type": "file", "size": 2, "mode": "0600", "uid": 33, "gid": 33,
                    "mtime": "2026-11-25T19:13:00.000000000Z", "ctime": "2026-11-25T19:13:00.000000000Z",
                    "inode": 7, "nlink": 1, "blake3": "bb"},
            "severity": "high", "rule": "php", "reasons": [], "source": "watch", "host": "web1"
        })
    }

    #[test]
    fn content_change_is_an_update_and_metadata_change_sets_attributes() {
        let content = ocsf(&modified(&["content", "size"]));
        assert_eq!(content["activity_id"], 3);
        assert_eq!(content["type_uid"], 100103);
        assert_eq!(content["file"]["hashes"][0]["value"], "bb");
        let chmod = ocsf(&modified(&["mode"]));
        assert_eq!(chmod["activity_id"], 6);
        assert_eq!(
            ecs(&modified(&["mode"]))["event"]["action"],
            "attributes_modified"
        );
        assert_eq!(ecs(&modified(&["content"]))["event"]["action"], "updated");
    }

    #[test]
    fn ecs_keeps_ids_as_keywords_and_names_the_file() {
        let out = ecs(&modified(&["content"]));
        assert_eq!(out["file"]["uid"], "33");
        assert_eq!(out["file"]["inode"], "7");
        assert_eq!(out["file"]["name"], "index.php");
        assert_eq!(out["file"]["extension"], "php");
        assert_eq!(out["file"]["directory"], "/var/www/html");
        assert_eq!(out["file"]["hash"]["blake3"], "bb");
        assert_eq!(out["rule"]["name"], "php");
        assert_eq!(out["event"]["severity"], 4);
    }

    #[test]
    fn a_name_cannot_forge_message_lines() {
        let event = json!({"kind": "new", "type": "file", "path": "/www/a\n- critical new file /etc/shadow"});
        assert_eq!(
            summary(&event),
            "new file /www/a\\n- critical new file /etc/shadow"
        );
    }

    #[test]
    fn ocsf_time_is_epoch_milliseconds() {
        let out = ocsf(&modified(&["content"]));
        assert_eq!(out["time"], 1_795_633_980_123_i64);
        assert_eq!(split_name("/x"), ("/", "x"));
    }
}
