//! Detections: what fim concludes from records (log lines, and later logins,
//! processes, probes). A detector is a pure function of the records it is fed and of
//! its windowed counters (`window`); the same detectors run under `watch`, `verify`
//! and `analyze`, which differ only in where the records come from.

pub mod activity;
pub mod distinct;
pub mod settings;
pub mod source;
pub mod window;

use std::collections::BTreeMap;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use ipnet::IpNet;
use serde::{Serialize, Serializer};

use crate::event::{format_ts, Event, Source as EventSource};
use crate::policy::Severity;

/// A detection with what the policy says of it; the driver makes it an event.
#[derive(Debug)]
pub struct Alert {
    /// The event id it will have (so later detections can name it in `related`).
    pub id: String,
    pub detection: Detection,
    pub severity: Severity,
    pub rule: String,
    pub reasons: Vec<String>,
}

impl Alert {
    /// A report of what came during a cooldown says which report it follows: "failed
    /// 1 login" alone reads as an attack of its own.
    pub fn following(mut self, follows_ms: Option<i64>) -> Self {
        if let Some(ms) = follows_ms {
            let at = format_ts(ms_to_time(ms));
            self.detection
                .summary
                .push_str(&format!(" (more since its report of {at})"));
        }
        self
    }

    pub fn into_event(self, source: EventSource, host: &str) -> Event {
        Event::from_detection(
            self.id,
            self.detection,
            self.severity,
            self.rule,
            self.reasons,
            source,
            host,
        )
    }
}

/// The family of a detection: the event's `category`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    Web,
    Auth,
    Process,
    Service,
    Host,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Web => "web",
            Category::Auth => "auth",
            Category::Process => "process",
            Category::Service => "service",
            Category::Host => "host",
        }
    }
}

/// The contract's common detection fields, and the family's own.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    #[serde(skip)]
    pub category: Category,
    pub kind: &'static str,
    pub summary: String,
    pub count: u64,
    #[serde(serialize_with = "ts")]
    pub first_ts: DateTime<Utc>,
    #[serde(serialize_with = "ts")]
    pub last_ts: DateTime<Utc>,
    pub evidence: Vec<Evidence>,
    pub related: Vec<String>,
    #[serde(flatten)]
    pub fields: Fields,
}

/// One raw line that caused a detection.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Evidence {
    pub file: std::sync::Arc<str>,
    /// Shared: one line is the evidence of every subject it counts for.
    pub line: std::sync::Arc<str>,
}

/// The most evidence lines an event carries (the contract).
pub const MAX_EVIDENCE: usize = 20;

/// Family-specific fields.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Fields {
    Web(WebFields),
    Auth(AuthFields),
    Process(ProcessFields),
    Host(HostFields),
    Service(ServiceFields),
}

/// The host checks' fields: only those of the kind (the contract names them per kind).
#[derive(Debug, Clone, Serialize, Default)]
pub struct HostFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<crate::host::updates::PackageUpdate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lists_age_days: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// A probe's answer (`service` detections).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceFields {
    pub probe: String,
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub timings: crate::probe::http::Timings,
    #[serde(serialize_with = "ts")]
    pub since: DateTime<Utc>,
    #[serde(
        serialize_with = "optional_ts",
        skip_serializing_if = "Option::is_none"
    )]
    pub cert_expires: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct AuthFields {
    pub user: Option<String>,
    pub client: Option<String>,
    pub service: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ProcessFields {
    pub pid: i32,
    pub ppid: i32,
    pub user: Option<String>,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub cwd: Option<String>,
    pub parent_exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct WebFields {
    pub client: Option<String>,
    pub vhost: Option<String>,
    pub log: String,
    pub statuses: BTreeMap<String, u64>,
    pub paths: Vec<String>,
    pub user_agent: Option<String>,
    pub files: Vec<String>,
}

/// Evidence lines are kept up to this length (a 1 MB line is cut, and says so).
const MAX_LINE: usize = 8192;

/// The raw line as evidence: lossy UTF-8, without its line ending, cut when huge.
pub fn evidence_line(file: &Arc<str>, line: &[u8]) -> Evidence {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text: Arc<str> = if line.len() > MAX_LINE {
        format!(
            "{} …[{} more bytes]",
            String::from_utf8_lossy(&line[..MAX_LINE]),
            line.len() - MAX_LINE
        )
        .into()
    } else {
        // Valid UTF-8 is borrowed: one allocation, the shared line itself.
        match std::str::from_utf8(line) {
            Ok(text) => Arc::from(text),
            Err(_) => Arc::from(&*String::from_utf8_lossy(line)),
        }
    };
    Evidence {
        file: file.clone(),
        line: text,
    }
}

/// The network a client is counted in for distributed floods: /24 or /64.
pub fn network_of(ip: IpAddr) -> IpNet {
    let prefix = if ip.is_ipv4() { 24 } else { 64 };
    IpNet::new(ip, prefix)
        .expect("24 and 64 are valid prefixes")
        .trunc()
}

/// A record time in ms as a time stamp.
pub fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn ts<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_ts(*ts))
}

fn optional_ts<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(t) => s.serialize_str(&format_ts(*t)),
        None => s.serialize_none(),
    }
}
