//! Section 3: file changes, grouped by watch root and rule, with reasons and whether
//! each was accepted since.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::AcceptRecord;

/// Entries listed per group; the rest are counted.
const LISTED: usize = 50;

pub struct FileGroup {
    pub root: String,
    pub rule: String,
    pub new: u64,
    pub modified: u64,
    pub deleted: u64,
    pub entries: Vec<FileRow>,
    /// Changes not listed.
    pub more: u64,
}

pub struct FileRow {
    pub ts: String,
    pub kind: String,
    pub severity: String,
    pub path: String,
    pub changes: String,
    pub reasons: String,
    /// "accepted by USER at TS" or "not accepted".
    pub accepted: Option<String>,
}

#[derive(Default)]
pub struct Files {
    roots: Vec<String>,
    accepts: Vec<AcceptRecord>,
    groups: BTreeMap<(String, String), FileGroup>,
    /// Paths whose last change is not accepted.
    open: BTreeMap<String, bool>,
}

impl Files {
    pub fn new(roots: Vec<String>, accepts: Vec<AcceptRecord>) -> Files {
        Files {
            roots,
            accepts,
            ..Files::default()
        }
    }

    pub fn add(&mut self, event: &Value) {
        let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
        let list = |k: &str| -> String {
            event
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let path = s("path").to_owned();
        let ts = s("ts").to_owned();
        let root = self
            .roots
            .iter()
            .filter(|r| path == **r || path.starts_with(&format!("{}/", r.trim_end_matches('/'))))
            .max_by_key(|r| r.len())
            .cloned()
            .unwrap_or_else(|| "(outside the watched trees)".into());
        let rule = event
            .get("rule")
            .and_then(Value::as_str)
            .unwrap_or("(no rule)")
            .to_owned();
        let accepted = self.accepted(&path, &ts);
        self.open.insert(path.clone(), accepted.is_none());
        let group = self
            .groups
            .entry((root.clone(), rule.clone()))
            .or_insert_with(|| FileGroup {
                root,
                rule,
                new: 0,
                modified: 0,
                deleted: 0,
                entries: Vec::new(),
                more: 0,
            });
        match s("kind") {
            "new" => group.new += 1,
            "deleted" => group.deleted += 1,
            _ => group.modified += 1,
        }
        if group.entries.len() >= LISTED {
            group.more += 1;
            return;
        }
        group.entries.push(FileRow {
            ts,
            kind: s("kind").to_owned(),
            severity: s("severity").to_owned(),
            path,
            changes: list("changes"),
            reasons: list("reasons"),
            accepted,
        });
    }

    /// The first accept after the change that covers its path.
    fn accepted(&self, path: &str, ts: &str) -> Option<String> {
        self.accepts
            .iter()
            .find(|a| {
                a.ts.as_str() > ts
                    && a.paths.iter().any(|p| {
                        p == "--all"
                            || p == path
                            || path.starts_with(&format!("{}/", p.trim_end_matches('/')))
                    })
            })
            .map(|a| format!("accepted by {} at {}", a.user, a.ts))
    }

    /// How many changed paths are not accepted since their last change.
    pub fn unaccepted(&self) -> usize {
        self.open.values().filter(|open| **open).count()
    }

    pub fn groups(self) -> Vec<FileGroup> {
        self.groups.into_values().collect()
    }
}
