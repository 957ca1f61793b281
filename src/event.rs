//! Events as the contract fixes them: one JSON object per line. Every event has the
//! same header (id, time, severity, rule, reasons, source, host) and a body of its
//! family: a file change, or a detection (`crate::detect`).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::detect::Detection;
use crate::diff::Finding;
use crate::fs::path as bpath;
use crate::fs::{Attr, Attrs, FileType};
use crate::policy::{Kind, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Verify,
    Watch,
    Analyze,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Verify => "verify",
            Source::Watch => "watch",
            Source::Analyze => "analyze",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub ts: DateTime<Utc>,
    pub severity: Severity,
    pub rule: Option<String>,
    pub reasons: Vec<String>,
    pub source: Source,
    pub host: String,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    File(FileChange),
    Detection(Detection),
}

/// A difference between two states of one entry (category `file`).
#[derive(Debug, Clone)]
pub struct FileChange {
    pub kind: Kind,
    pub path: Vec<u8>,
    pub file_type: FileType,
    pub changes: Vec<Attr>,
    pub old: Option<Attrs>,
    pub new: Option<Attrs>,
}

impl Event {
    pub fn from_finding(finding: Finding, source: Source, host: &str) -> Event {
        let file_type = finding
            .new
            .as_ref()
            .or(finding.old.as_ref())
            .map_or(FileType::File, |a| a.file_type);
        Event {
            id: new_id(),
            ts: Utc::now(),
            severity: finding.severity,
            rule: finding.rule,
            reasons: finding.reasons,
            source,
            host: host.to_owned(),
            body: Body::File(FileChange {
                kind: finding.kind,
                path: finding.path,
                file_type,
                changes: finding.changes.iter().collect(),
                old: finding.old,
                new: finding.new,
            }),
        }
    }

    pub fn from_detection(
        id: String,
        detection: Detection,
        severity: Severity,
        rule: String,
        reasons: Vec<String>,
        source: Source,
        host: &str,
    ) -> Event {
        Event {
            id,
            ts: Utc::now(),
            severity,
            rule: Some(rule),
            reasons,
            source,
            host: host.to_owned(),
            body: Body::Detection(detection),
        }
    }

    pub fn ts_ms(&self) -> i64 {
        self.ts.timestamp_millis()
    }

    /// The file change, for events of category `file`.
    pub fn file(&self) -> Option<&FileChange> {
        match &self.body {
            Body::File(change) => Some(change),
            Body::Detection(_) => None,
        }
    }

    pub fn category(&self) -> &'static str {
        match &self.body {
            Body::File(_) => "file",
            Body::Detection(d) => d.category.as_str(),
        }
    }

    /// The event's kind: a change kind for files, the detection otherwise.
    pub fn kind(&self) -> &str {
        match &self.body {
            Body::File(change) => change.kind.as_str(),
            Body::Detection(d) => d.kind,
        }
    }

    /// The path the history indexes the event by (empty for detections).
    pub fn path_bytes(&self) -> &[u8] {
        self.file().map_or(&[], |f| &f.path)
    }

    pub fn to_json(&self) -> String {
        let header = Header {
            id: &self.id,
            ts: format_ts(self.ts),
            category: self.category(),
            severity: self.severity,
            rule: self.rule.as_deref(),
            reasons: &self.reasons,
            source: self.source,
            host: &self.host,
        };
        let result = match &self.body {
            Body::File(change) => serde_json::to_string(&FileWire {
                header,
                kind: change.kind,
                path: change.path_lossy(),
                path_bytes: non_utf8_base64(&change.path),
                file_type: change.file_type,
                changes: (change.kind == Kind::Modified).then_some(&change.changes),
                old: change.old.as_ref().map(AttrsWire::from),
                new: change.new.as_ref().map(AttrsWire::from),
            }),
            Body::Detection(detection) => serde_json::to_string(&DetectionWire {
                header,
                detection,
            }),
        };
        result.expect("an event always serializes")
    }
}

impl FileChange {
    pub fn path_lossy(&self) -> std::borrow::Cow<'_, str> {
        bpath::lossy(&self.path)
    }
}

/// UUIDv7: unique, and ordered by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// RFC 3339 UTC with exactly three fraction digits.
pub fn format_ts(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The machine's name, as gethostname(2) gives it.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn non_utf8_base64(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes)
        .is_err()
        .then(|| base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The fields every event has; flattened into each family's wire form.
#[derive(Serialize)]
struct Header<'a> {
    id: &'a str,
    ts: String,
    category: &'static str,
    severity: Severity,
    rule: Option<&'a str>,
    reasons: &'a [String],
    source: Source,
    host: &'a str,
}

#[derive(Serialize)]
struct DetectionWire<'a> {
    #[serde(flatten)]
    header: Header<'a>,
    #[serde(flatten)]
    detection: &'a Detection,
}

#[derive(Serialize)]
struct FileWire<'a> {
    #[serde(flatten)]
    header: Header<'a>,
    kind: Kind,
    path: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_bytes: Option<String>,
    #[serde(rename = "type")]
    file_type: FileType,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a Vec<Attr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<AttrsWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<AttrsWire<'a>>,
}

#[derive(Serialize)]
struct AttrsWire<'a> {
    #[serde(rename = "type")]
    file_type: FileType,
    size: u64,
    mode: String,
    uid: u32,
    gid: u32,
    mtime: String,
    ctime: String,
    inode: u64,
    nlink: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    blake3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_bytes: Option<String>,
    /// Extended attributes, name to base64 value; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    xattrs: Option<std::collections::BTreeMap<std::borrow::Cow<'a, str>, String>>,
}

impl<'a> From<&'a Attrs> for AttrsWire<'a> {
    fn from(a: &'a Attrs) -> Self {
        let b64 = &base64::engine::general_purpose::STANDARD;
        AttrsWire {
            file_type: a.file_type,
            size: a.size,
            mode: format!("{:04o}", a.mode),
            uid: a.uid,
            gid: a.gid,
            mtime: a.mtime.to_rfc3339(),
            ctime: a.ctime.to_rfc3339(),
            inode: a.inode,
            nlink: a.nlink,
            blake3: a
                .blake3
                .map(|h| blake3::Hash::from_bytes(h).to_hex().to_string()),
            target: a.target.as_deref().map(bpath::lossy),
            target_bytes: a.target.as_deref().and_then(non_utf8_base64),
            xattrs: (!a.xattrs.is_empty()).then(|| {
                a.xattrs
                    .iter()
                    .map(|(k, v)| (bpath::lossy(k), b64.encode(v)))
                    .collect()
            }),
        }
    }
}
