//! The text report for people: one line per event, from its JSON form, so that
//! `verify --format text` and `fim events --format text` read the same.

use base64::Engine;
use serde_json::Value;

/// `KIND SEVERITY PATH  [changes]  rule=RULE  — reason; reason` (a detection shows its
/// summary where a file event shows its path).
pub fn line(event: &Value) -> String {
    let str_of = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
    // A name that is not UTF-8 is shown from its bytes: its `path` has replacement
    // characters, which another name could have too.
    let raw = event
        .get("path_bytes")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    let what = match (raw, event.get("path").and_then(Value::as_str)) {
        (Some(raw), _) => crate::fs::path::escaped(&raw),
        (None, Some(path)) => path.escape_debug().to_string(),
        (None, None) => str_of("summary").escape_debug().to_string(),
    };
    let mut line = format!("{:<9} {:<8} {what}", str_of("kind"), str_of("severity"));
    let list = |key: &str| -> Vec<&str> {
        event
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let changes = list("changes");
    if !changes.is_empty() {
        line.push_str(&format!("  [{}]", changes.join(", ")));
    }
    if let Some(rule) = event.get("rule").and_then(Value::as_str) {
        line.push_str(&format!("  rule={rule}"));
    }
    let reasons = list("reasons");
    if !reasons.is_empty() {
        line.push_str(&format!("  — {}", reasons.join("; ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_rule_and_reasons_are_shown() {
        let e = json!({"kind": "new", "severity": "critical", "path": "/w/up/x.php",
                       "rule": "upload-code", "reasons": ["signature exec-request", "hidden file"]});
        assert_eq!(
            line(&e),
            "new       critical /w/up/x.php  rule=upload-code  — signature exec-request; hidden file"
        );
        let e = json!({"kind": "modified", "severity": "medium", "path": "/w/a",
                       "changes": ["content", "size"], "rule": null, "reasons": []});
        assert_eq!(line(&e), "modified  medium   /w/a  [content, size]");
        let e = json!({"kind": "new", "severity": "medium", "path": "/w/x\u{fffd}y",
                       "path_bytes": "L3cveP95"});
        assert_eq!(line(&e), "new       medium   /w/x\\xffy");
    }
}
