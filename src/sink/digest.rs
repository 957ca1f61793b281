//! Messages for people: a burst of events becomes one digest, grouped by watch root,
//! counted by severity, the most severe listed first. Built one event at a time, so a
//! digest of a 100,000-file deploy holds only its counts and the lines it lists.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde_json::Value;

use super::schema::{severity_id, summary};

pub struct Digest {
    pub subject: String,
    pub body: String,
}

#[derive(Default)]
struct Group {
    total: usize,
    /// By severity, most severe first.
    counts: BTreeMap<Reverse<u8>, (String, usize)>,
    /// (severity, arrival, line): the lines that may be listed.
    listed: Vec<(Reverse<u8>, usize, String)>,
}

pub struct DigestBuilder<'a> {
    roots: &'a [String],
    list: usize,
    host: String,
    total: usize,
    suppressed: usize,
    top: (u8, String),
    /// (is a detection group, watch root or category) → its events.
    groups: BTreeMap<(bool, String), Group>,
}

impl<'a> DigestBuilder<'a> {
    /// Events are grouped under the deepest of `roots` holding them; `list` lines are
    /// listed per root.
    pub fn new(roots: &'a [String], list: usize) -> DigestBuilder<'a> {
        DigestBuilder {
            roots,
            list,
            host: String::new(),
            total: 0,
            suppressed: 0,
            top: (0, String::new()),
            groups: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// An identical repeat of something already said, left out.
    pub fn suppressed(&mut self) {
        self.suppressed += 1;
    }

    pub fn add(&mut self, event: &Value) {
        let field = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        if self.host.is_empty() {
            self.host = field("host").to_owned();
        }
        let severity = field("severity");
        let rank = severity_id(severity);
        self.top = self.top.clone().max((rank, severity.to_owned()));
        // Files are grouped by watch root, detections by category, after the files.
        let key = match field("category") {
            "" | "file" => (false, root_of(field("path"), self.roots).to_owned()),
            category => (true, category.to_owned()),
        };
        let group = self.groups.entry(key).or_default();
        group
            .counts
            .entry(Reverse(rank))
            .or_insert((severity.to_owned(), 0))
            .1 += 1;
        let arrival = group.total;
        group.total += 1;
        self.total += 1;
        let mut line = format!("- {severity} {}", summary(event));
        let reasons: Vec<&str> = event
            .get("reasons")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !reasons.is_empty() {
            line.push_str(&format!(" — {}", reasons.join("; ")));
        }
        group.listed.push((Reverse(rank), arrival, line));
        // Keep only what can still be listed (sorted now and then, not per event).
        if group.listed.len() > 2 * self.list.max(1) {
            group.listed.sort();
            group.listed.truncate(self.list);
        }
    }

    pub fn finish(mut self) -> Digest {
        let mut body = String::new();
        for ((detections, name), group) in &mut self.groups {
            group.listed.sort();
            let counts: Vec<String> = group
                .counts
                .values()
                .map(|(s, n)| format!("{} {s}", thousands(*n)))
                .collect();
            let heading = match (*detections, group.total == 1) {
                // Folders, links and files alike: each is a change, not a file.
                (false, true) => format!("1 change under {name}"),
                (false, false) => format!("{} changes under {name}", thousands(group.total)),
                (true, true) => format!("1 {name} detection"),
                (true, false) => format!("{} {name} detections", thousands(group.total)),
            };
            body.push_str(&format!("{heading}: {}", counts.join(", ")));
            if group.total > self.list {
                body.push_str(&format!("; first {} listed", self.list));
            }
            body.push('\n');
            for (_, _, line) in group.listed.iter().take(self.list) {
                body.push_str(line);
                body.push('\n');
            }
            body.push('\n');
        }
        if self.suppressed > 0 {
            body.push_str(&format!(
                "({} identical repeat{} of changes already reported left out.)\n",
                thousands(self.suppressed),
                if self.suppressed == 1 { "" } else { "s" }
            ));
        }
        let subject = format!(
            "fim on {}: {} change{}{}",
            self.host,
            thousands(self.total),
            if self.total == 1 { "" } else { "s" },
            if self.top.0 >= severity_id("high") {
                format!(", {} the highest", self.top.1)
            } else {
                String::new()
            }
        );
        Digest {
            subject,
            body: body.trim_end().to_owned(),
        }
    }
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
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
        let roots = vec![
            "/var/www/html".to_owned(),
            "/etc".to_owned(),
            "/var/www".to_owned(),
        ];
        let mut digest = DigestBuilder::new(&roots, 20);
        for i in 0..5214 {
            digest.add(
                &json!({"kind": "new", "type": "file", "path": format!("/var/www/html/f{i}"),
                               "severity": "medium", "host": "web1", "reasons": []}),
            );
            if i == 3000 {
                digest.add(&json!({"kind": "new", "type": "file", "path": "/var/www/html/up/x.php",
                                   "severity": "critical", "host": "web1", "reasons": ["webshell"]}));
            }
        }
        digest.add(&json!({"kind": "modified", "type": "file", "path": "/etc/passwd", "changes": ["content"],
                           "severity": "high", "host": "web1", "reasons": []}));
        for _ in 0..3 {
            digest.suppressed();
        }
        let digest = digest.finish();
        assert_eq!(
            digest.subject,
            "fim on web1: 5,216 changes, critical the highest"
        );
        assert!(digest.body.contains("1 change under /etc: 1 high\n"));
        assert!(digest.body.contains(
            "5,215 changes under /var/www/html: 1 critical, 5,214 medium; first 20 listed\n\
             - critical new file /var/www/html/up/x.php — webshell\n\
             - medium new file /var/www/html/f0\n\
             - medium new file /var/www/html/f1\n"
        ));
        assert!(digest.body.contains("3 identical repeats"));
        assert_eq!(digest.body.matches("\n- medium").count(), 19);
    }
}
