//! Messages for people: a burst of events becomes one digest per delivery, grouped by
//! watch root, counted by severity, the most severe listed first.

use std::collections::BTreeMap;

use serde_json::Value;

use super::schema::{severity_id, summary};

pub struct Digest {
    pub subject: String,
    pub body: String,
}

/// The digest of `events` (the contract's JSON), under the deepest of `roots` that
/// holds each; `suppressed` repeats were left out.
pub fn compose(events: &[&Value], roots: &[String], list: usize, suppressed: usize) -> Digest {
    let mut by_root: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for event in events {
        let path = event.get("path").and_then(Value::as_str).unwrap_or("");
        by_root.entry(root_of(path, roots)).or_default().push(event);
    }
    let host = events
        .first()
        .and_then(|e| e.get("host"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut body = String::new();
    let mut top = (0u8, "");
    for (root, mut group) in by_root {
        // Most severe first; the order of detection within a severity.
        group.sort_by_key(|e| std::cmp::Reverse(severity_id(severity(e))));
        top = top.max((severity_id(severity(group[0])), severity(group[0])));
        let noun = if group.len() == 1 { "file" } else { "files" };
        body.push_str(&format!(
            "{} {noun} changed under {root}: {}",
            thousands(group.len()),
            counts(&group)
        ));
        if group.len() > list {
            body.push_str(&format!("; first {list} listed"));
        }
        body.push('\n');
        for event in group.iter().take(list) {
            body.push_str(&format!("- {} {}", severity(event), summary(event)));
            let reasons: Vec<&str> = event
                .get("reasons")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !reasons.is_empty() {
                body.push_str(&format!(" — {}", reasons.join("; ")));
            }
            body.push('\n');
        }
        body.push('\n');
    }
    if suppressed > 0 {
        body.push_str(&format!(
            "({} identical repeat{} of changes already reported left out.)\n",
            thousands(suppressed),
            if suppressed == 1 { "" } else { "s" }
        ));
    }
    let subject = format!(
        "fim on {host}: {} change{}{}",
        thousands(events.len()),
        if events.len() == 1 { "" } else { "s" },
        if top.0 >= severity_id("high") {
            format!(", {} the highest", top.1)
        } else {
            String::new()
        }
    );
    Digest {
        subject,
        body: body.trim_end().to_owned(),
    }
}

fn severity(event: &Value) -> &str {
    event.get("severity").and_then(Value::as_str).unwrap_or("")
}

/// "12 critical, 40 high, 5,162 medium"
fn counts(group: &[&Value]) -> String {
    let mut counts: BTreeMap<std::cmp::Reverse<u8>, (&str, usize)> = BTreeMap::new();
    for event in group {
        let s = severity(event);
        counts
            .entry(std::cmp::Reverse(severity_id(s)))
            .or_insert((s, 0))
            .1 += 1;
    }
    counts
        .values()
        .map(|(s, n)| format!("{} {s}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn root_of<'a>(path: &'a str, roots: &'a [String]) -> &'a str {
    roots
        .iter()
        .filter(|r| {
            path.strip_prefix(r.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || r.ends_with('/'))
        })
        .max_by_key(|r| r.len())
        .map_or("/", |r| r.as_str())
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_burst_is_one_digest_per_root_most_severe_first() {
        let mut events: Vec<Value> = (0..5214)
            .map(|i| {
                json!({"kind": "new", "type": "file", "path": format!("/var/www/html/f{i}"),
                            "severity": "medium", "host": "web1", "reasons": []})
            })
            .collect();
        events.push(
            json!({"kind": "new", "type": "file", "path": "/var/www/html/up/x.php",
                           "severity": "critical", "host": "web1", "reasons": ["webshell"]}),
        );
        events.push(json!({"kind": "modified", "type": "file", "path": "/etc/passwd", "changes": ["content"],
                           "severity": "high", "host": "web1", "reasons": []}));
        let refs: Vec<&Value> = events.iter().collect();
        let roots = vec![
            "/var/www/html".to_owned(),
            "/etc".to_owned(),
            "/var/www".to_owned(),
        ];
        let digest = compose(&refs, &roots, 20, 3);
        assert_eq!(
            digest.subject,
            "fim on web1: 5,216 changes, critical the highest"
        );
        assert!(digest.body.contains("1 file changed under /etc: 1 high\n"));
        assert!(digest.body.contains(
            "5,215 files changed under /var/www/html: 1 critical, 5,214 medium; first 20 listed\n\
             - critical new file /var/www/html/up/x.php — webshell\n"
        ));
        assert!(digest.body.contains("3 identical repeats"));
        assert_eq!(digest.body.matches("\n- medium").count(), 19);
    }
}
