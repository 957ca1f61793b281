//! One sink's delivery from the outbox: the next batch after its cursor, rendered in
//! its schema, sent, and only then acknowledged. Machine-facing sinks get every event;
//! human-facing ones get digests (a window's worth at once, critical events at once,
//! identical repeats left out for a while).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::digest::{Digest, DigestBuilder};
use super::secret::resolve;
use super::{email::Email, file::FileSink, http::Post, schema, syslog::Syslog};
use crate::error::Result;
use crate::policy::sink::{file_path, SinkFormat, SinkSpec, SinkType, DEFAULT_ADDRESS};
use crate::policy::Severity;
use crate::store::outbox::{Outbox, Pending};

/// One event for a sink: as recorded (the contract's schema), and the JSON text the
/// sink sends (in the `fim` format, the recorded line itself: no second serialization).
pub struct Record {
    pub event: Value,
    pub text: String,
}

/// A sink that takes events in order, a batch at a time.
pub trait Lines: Send {
    fn send(&mut self, records: &[Record]) -> std::result::Result<(), String>;
}

/// A sink that takes digests for people.
pub trait Digests: Send {
    fn send(&mut self, digest: &Digest) -> std::result::Result<(), String>;
}

enum Transport {
    Lines(Box<dyn Lines>),
    Digests(Box<dyn Digests>),
}

/// The most events per batch for sinks without a `batch` setting.
const LINE_BATCH: usize = 500;
/// The most events one digest covers (the rest make the next one), read this many at a
/// time.
const DIGEST_MAX: usize = 1_000_000;
const DIGEST_CHUNK: usize = 1_000;

pub enum Step {
    /// Nothing waits.
    Idle,
    /// A batch went out (or was all filtered away): look again at once.
    Sent,
    /// A digest is being gathered: look again after this long (or on new events).
    Later(Duration),
    /// The receiver failed; the batch stays in the outbox.
    Failed(String),
}

pub struct Courier {
    spec: SinkSpec,
    key: String,
    transport: Transport,
    roots: Arc<Vec<String>>,
}

impl Courier {
    /// Build the sink, reading its secrets now: a missing one is an error at start-up,
    /// not at the first alert.
    pub fn build(spec: &SinkSpec, roots: Arc<Vec<String>>) -> std::result::Result<Courier, String> {
        let key = spec.key();
        let required = |value: &Option<crate::policy::sink::Value>, name: &str| {
            value
                .as_ref()
                .ok_or_else(|| format!("{name} is missing"))
                .and_then(|v| resolve(v, name))
        };
        let optional = |value: &Option<crate::policy::sink::Value>, name: &str| {
            value.as_ref().map(|v| resolve(v, name)).transpose()
        };
        let transport = match spec.kind {
            SinkType::File => {
                let path = required(&spec.path, "path")?;
                file_path(&path)?;
                Transport::Lines(Box::new(FileSink::open(path.into())?))
            }
            SinkType::Syslog => Transport::Lines(Box::new(Syslog::new(
                &optional(&spec.address, "address")?.unwrap_or_else(|| DEFAULT_ADDRESS.into()),
                optional(&spec.facility, "facility")?.as_deref(),
                optional(&spec.app_name, "app_name")?.as_deref(),
                spec.timeout(),
            )?)),
            SinkType::Webhook => {
                let headers = spec
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        Ok((name.clone(), resolve(value, &format!("header {name}"))?))
                    })
                    .collect::<std::result::Result<Vec<_>, String>>()?;
                Transport::Lines(Box::new(Post::new(
                    required(&spec.url, "url")?,
                    headers,
                    spec.timeout(),
                )?))
            }
            SinkType::Slack => Transport::Digests(Box::new(Post::new(
                required(&spec.url, "url")?,
                Vec::new(),
                spec.timeout(),
            )?)),
            SinkType::Email => {
                let password = match (&spec.password, &spec.password_env) {
                    (Some(value), _) => Some(resolve(value, "password")?),
                    (None, Some(env)) => Some(resolve(
                        &crate::policy::sink::Value::Env { env: env.clone() },
                        "password_env",
                    )?),
                    (None, None) => None,
                };
                let username = optional(&spec.username, "username")?;
                let credentials = match (username, password) {
                    (Some(user), Some(password)) => Some((user, password)),
                    (None, None) => None,
                    _ => return Err("username and password go together".into()),
                };
                Transport::Digests(Box::new(Email::new(
                    &required(&spec.smtp, "smtp")?,
                    &required(&spec.from, "from")?,
                    &spec
                        .to
                        .iter()
                        .map(|to| resolve(to, "to"))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                    credentials,
                    spec.timeout(),
                )?))
            }
        };
        Ok(Courier {
            spec: spec.clone(),
            key,
            transport,
            roots,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn retry_max(&self) -> Duration {
        self.spec.retry_max()
    }

    /// The recorded event, if the sink wants it (its `min_severity`).
    fn wanted(&self, pending: &Pending) -> Option<Value> {
        let event: Value = match serde_json::from_str(&pending.json) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(
                    "event #{} in the history is not JSON ({e}): skipped",
                    pending.seq
                );
                return None;
            }
        };
        let severity: Option<Severity> = event
            .get("severity")
            .and_then(|s| serde_json::from_value(s.clone()).ok());
        match (self.spec.min_severity, severity) {
            (Some(min), Some(severity)) if severity < min => None,
            _ => Some(event),
        }
    }

    /// Deliver the next batch. `flush`: a one-shot command is ending, so digests go
    /// out now instead of waiting for their window.
    pub fn step(&mut self, outbox: &mut Outbox, flush: bool) -> Result<Step> {
        let cursor = outbox.cursor(&self.key)?;
        if matches!(self.transport, Transport::Digests(_)) {
            return self.digest_step(outbox, cursor, flush);
        }
        let limit = match self.spec.kind {
            SinkType::Webhook => self.spec.batch(),
            _ => LINE_BATCH,
        };
        let pending = outbox.pending(cursor, limit)?;
        let Some(last) = pending.last().map(|p| p.seq) else {
            return Ok(Step::Idle);
        };
        let records: Vec<Record> = pending
            .into_iter()
            .filter_map(|p| {
                let event = self.wanted(&p)?;
                let text = match self.spec.format {
                    SinkFormat::Fim => p.json,
                    format => schema::render(format, &event).to_string(),
                };
                Some(Record { event, text })
            })
            .collect();
        if let (false, Transport::Lines(sink)) = (records.is_empty(), &mut self.transport) {
            if let Err(e) = sink.send(&records) {
                return Ok(Step::Failed(e));
            }
        }
        outbox.advance(&self.key, last, &[], 0, 0)?;
        Ok(Step::Sent)
    }

    fn digest_step(&mut self, outbox: &mut Outbox, cursor: i64, flush: bool) -> Result<Step> {
        // Whether to send yet is decided without reading the events: the first one's
        // age and whether any is critical (a burst wakes this thread many times).
        let Some((first_ts_ms, critical)) = outbox.gathering(cursor)? else {
            return Ok(Step::Idle);
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let window = self.spec.window().as_millis() as i64;
        let age = now_ms - first_ts_ms;
        if !flush && !critical && age < window {
            return Ok(Step::Later(Duration::from_millis((window - age) as u64)));
        }
        let since = now_ms - self.spec.suppress().as_millis() as i64;
        let mut digest = DigestBuilder::new(&self.roots, self.spec.list());
        let mut fingerprints = Vec::new();
        let mut in_this_digest = HashSet::new();
        let mut last = cursor;
        while last - cursor < DIGEST_MAX as i64 {
            let pending = outbox.pending(last, DIGEST_CHUNK)?;
            let Some(chunk_last) = pending.last().map(|p| p.seq) else {
                break;
            };
            for event in pending.iter().filter_map(|p| self.wanted(p)) {
                let fp = fingerprint(&event);
                if !in_this_digest.insert(fp) || outbox.said_since(&self.key, &fp, since)? {
                    digest.suppressed();
                } else {
                    fingerprints.push(fp);
                    digest.add(&event);
                }
            }
            last = chunk_last;
        }
        if let (false, Transport::Digests(sink)) = (digest.is_empty(), &mut self.transport) {
            if let Err(e) = sink.send(&digest.finish()) {
                return Ok(Step::Failed(e));
            }
        }
        outbox.advance(&self.key, last, &fingerprints, now_ms, since)?;
        Ok(Step::Sent)
    }
}

/// What makes two events "the same change" for people: the entry, the kind, what
/// changed, why it looks suspicious — not the new timestamps or hashes, so a file
/// rewritten again and again, or a difference `verify` reports every night until it is
/// accepted, is said once per `suppress` period.
fn fingerprint(event: &Value) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for key in [
        "kind",
        "path",
        "path_bytes",
        "severity",
        "changes",
        "reasons",
    ] {
        let value = event.get(key).map(Value::to_string).unwrap_or_default();
        hasher.update(key.as_bytes());
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    *hasher.finalize().as_bytes()
}
