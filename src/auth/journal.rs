//! The systemd journal as an auth source, read through `journalctl -o json` from the
//! cursor saved in the baseline: `verify` reads to the end once, `watch` keeps a child
//! `journalctl --follow` whose lines a thread hands over, so the daemon loop never
//! blocks on it. journalctl rather than a crate: the `systemd` crate binds the C
//! sd-journal API (libsystemd-dev at build time, libsystemd at run time, unsafe FFI);
//! journalctl is on every journald host, reads every journal file version and
//! namespace, and its JSON export is a stable, documented interface.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::parse::Header;

const JOURNALCTL: &str = "journalctl";
/// The fields read; journalctl adds `__CURSOR` and `__REALTIME_TIMESTAMP`.
const FIELDS: &str = "SYSLOG_IDENTIFIER,_COMM,MESSAGE,_PID,_HOSTNAME";
/// A follower that died is started again after this long.
const RESTART_AFTER: Duration = Duration::from_secs(5);
/// Entries taken per poll of the daemon, so a backlog does not stall its loop.
const PER_POLL: usize = 50_000;
/// Entries queued between the reading thread and the loop (journalctl waits beyond).
const QUEUE: usize = 8192;

/// The programs whose entries are auth records (`SYSLOG_IDENTIFIER`, else `_COMM`).
fn wanted(program: &str) -> bool {
    matches!(program, "sshd" | "sshd-session" | "sudo" | "su" | "login")
}

/// Which journal: the system's, or a journald namespace (`journalctl --namespace`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSpec {
    pub namespace: Option<String>,
}

impl JournalSpec {
    /// The key of its cursor in the baseline, and the `file` of its evidence.
    pub fn name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("journal:{ns}"),
            None => "journal".to_owned(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(JOURNALCTL);
        if let Some(ns) = &self.namespace {
            c.arg(format!("--namespace={ns}"));
        }
        c.arg("--no-pager");
        c.stdin(Stdio::null());
        c
    }

    /// The journal's current end (`fim init`): `""` for an empty journal (all that
    /// comes is new); an error when journalctl cannot tell.
    pub fn end_cursor(&self) -> Result<String, String> {
        let out = self
            .command()
            .args(["-n", "0", "--show-cursor"])
            .output()
            .map_err(|e| format!("cannot run {JOURNALCTL}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(cursor) = text.lines().find_map(|l| l.strip_prefix("-- cursor: ")) {
            return Ok(cursor.trim().to_owned());
        }
        if text.contains("-- No entries --") {
            return Ok(String::new());
        }
        Err(first_line(&out.stderr, &out.status.to_string()))
    }

    /// `journalctl -o json` after `cursor` ("" or none: from the start).
    fn spawn(&self, cursor: &str, follow: bool) -> std::io::Result<Child> {
        let mut c = self.command();
        c.args(["-o", "json", "--all", "--no-tail"])
            .arg(format!("--output-fields={FIELDS}"));
        if !cursor.is_empty() {
            c.arg(format!("--after-cursor={cursor}"));
        }
        if follow {
            c.arg("--follow");
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
    }
}

fn first_line(stderr: &[u8], otherwise: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    format!("{JOURNALCTL}: {}", line.unwrap_or(otherwise))
}

/// One journal entry, as journalctl exports it. A field is a string, a byte array
/// (not UTF-8, or with control characters), a list (a field set more than once), or
/// null (too large without `--all`).
#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "__CURSOR")]
    cursor: String,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<Value>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    ident: Option<Value>,
    #[serde(rename = "_COMM")]
    comm: Option<Value>,
    #[serde(rename = "MESSAGE")]
    message: Option<Value>,
    #[serde(rename = "_PID")]
    pid: Option<Value>,
    #[serde(rename = "_HOSTNAME")]
    host: Option<Value>,
}

/// A field's bytes: the first value of a list.
fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.clone().into_bytes()),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            items.iter().map(|b| b.as_u64().map(|b| b as u8)).collect()
        }
        Value::Array(items) => items.first().and_then(bytes),
        _ => None,
    }
}

fn text(v: &Option<Value>) -> Option<String> {
    v.as_ref()
        .and_then(bytes)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// An auth entry: its time, program, pid and message, and the syslog-style line that
/// is its evidence.
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub ts: DateTime<Utc>,
    pub program: String,
    pub pid: Option<u32>,
    pub message: String,
    pub line: String,
}

impl Entry {
    pub fn header(&self) -> Header<'_> {
        Header {
            ts: self.ts,
            program: &self.program,
            pid: self.pid,
            message: &self.message,
        }
    }
}

/// A line of journalctl's output: its cursor, and the entry when it is an auth one.
/// `None` for a line that is no entry.
pub fn entry(line: &[u8]) -> Option<(String, Option<Entry>)> {
    let raw: Raw = serde_json::from_slice(line).ok()?;
    let program = text(&raw.ident)
        .filter(|p| wanted(p))
        .or_else(|| text(&raw.comm).filter(|p| wanted(p)));
    let usecs = text(&raw.realtime).and_then(|t| t.parse::<i64>().ok());
    let auth = match (program, usecs, text(&raw.message)) {
        (Some(program), Some(usecs), Some(message)) => {
            DateTime::from_timestamp_micros(usecs).map(|ts| {
                let pid = text(&raw.pid).and_then(|p| p.parse().ok());
                let host = text(&raw.host).unwrap_or_else(|| "-".into());
                let tag = match pid {
                    Some(pid) => format!("{program}[{pid}]"),
                    None => program.clone(),
                };
                let message = message.trim_end().to_owned();
                Entry {
                    line: format!(
                        "{} {host} {tag}: {message}",
                        ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    ),
                    ts,
                    program,
                    pid,
                    message,
                }
            })
        }
        _ => None,
    };
    Some((raw.cursor, auth))
}

/// Each line of `out` to `each`, until the end or `each` says stop.
fn lines(out: impl Read, mut each: impl FnMut(Vec<u8>) -> bool) {
    let mut reader = BufReader::new(out);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if !each(line) => return,
            Ok(_) => {}
        }
    }
}

/// What journalctl said on stderr (its first 64 KiB), once it has ended.
fn said(mut stderr: impl Read) -> Vec<u8> {
    let mut said = Vec::new();
    let _ = stderr.by_ref().take(64 << 10).read_to_end(&mut said);
    said
}

/// What the reading thread hands over.
enum Msg {
    Line(Vec<u8>),
    /// journalctl's output ended: what it said on stderr.
    Ended(Vec<u8>),
}

/// A running `journalctl --follow`.
struct Follow {
    child: Child,
    rx: Receiver<Msg>,
}

impl Follow {
    fn start(spec: &JournalSpec, cursor: &str) -> std::io::Result<Follow> {
        let mut child = spec.spawn(cursor, true)?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("journalctl".into())
            .spawn(move || {
                lines(stdout, |line| tx.send(Msg::Line(line)).is_ok());
                let _ = tx.send(Msg::Ended(said(stderr)));
            })?;
        Ok(Follow { child, rx })
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        // On exit and on reload: no journalctl outlives its reader.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The journal read from a cursor: at once to the end (`verify`), or followed (`watch`).
pub struct Journal {
    spec: JournalSpec,
    pub name: Arc<str>,
    /// The last entry read ("": none yet, from the start).
    cursor: String,
    live: bool,
    follow: Option<Follow>,
    restart_at: Option<Instant>,
    pub warnings: Vec<String>,
    /// The last failure said: a journalctl failing the same way every 5 s is said once.
    said: Option<String>,
    /// Entries read (any program), for the silence check.
    pub entries: u64,
}

impl Journal {
    /// From `saved` (the baseline's cursor); without one, from the journal's end now,
    /// as `fim init` would have taken it.
    pub fn open(spec: JournalSpec, saved: Option<&String>, live: bool) -> Journal {
        let mut warnings = Vec::new();
        let cursor = match saved {
            Some(c) => c.clone(),
            None => spec.end_cursor().unwrap_or_else(|e| {
                warnings.push(format!("the journal: {e}"));
                String::new()
            }),
        };
        Journal {
            name: spec.name().into(),
            spec,
            cursor,
            live,
            follow: None,
            restart_at: None,
            warnings,
            said: None,
            entries: 0,
        }
    }

    pub fn cursor(&self) -> &str {
        &self.cursor
    }

    fn warn(&mut self, warning: String) {
        if self.said.as_ref() != Some(&warning) {
            self.warnings.push(warning.clone());
            self.said = Some(warning);
        }
    }

    fn take(&mut self, line: &[u8], each: &mut dyn FnMut(&Entry, &Arc<str>)) {
        if let Some((cursor, auth)) = entry(line) {
            self.said = None;
            self.entries += 1;
            if let Some(auth) = auth {
                each(&auth, &self.name);
            }
            self.cursor = cursor;
        }
    }

    /// What is new: every auth entry to `each`.
    pub fn poll(&mut self, each: &mut dyn FnMut(&Entry, &Arc<str>)) {
        if self.live {
            self.poll_follow(each);
        } else {
            self.read_to_end(each);
        }
    }

    fn read_to_end(&mut self, each: &mut dyn FnMut(&Entry, &Arc<str>)) {
        let mut child = match self.spec.spawn(&self.cursor, false) {
            Ok(c) => c,
            Err(e) => {
                self.warnings
                    .push(format!("the journal: cannot run {JOURNALCTL}: {e}"));
                return;
            }
        };
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        // stderr drains beside stdout: journalctl blocked on a full stderr pipe would
        // never finish stdout.
        let stderr = std::thread::spawn(move || said(stderr));
        lines(stdout, |line| {
            self.take(&line, each);
            true
        });
        let status = child.wait();
        let said = stderr.join().unwrap_or_default();
        if !status.is_ok_and(|s| s.success()) {
            self.warnings
                .push(format!("the journal: {}", first_line(&said, "failed")));
        }
    }

    fn poll_follow(&mut self, each: &mut dyn FnMut(&Entry, &Arc<str>)) {
        if self.follow.is_none() {
            if self.restart_at.is_some_and(|at| Instant::now() < at) {
                return;
            }
            match Follow::start(&self.spec, &self.cursor) {
                Ok(f) => self.follow = Some(f),
                Err(e) => {
                    self.warn(format!("the journal: cannot run {JOURNALCTL}: {e}"));
                    self.restart_at = Some(Instant::now() + RESTART_AFTER);
                    return;
                }
            }
        }
        for _ in 0..PER_POLL {
            let msg = match self.follow.as_ref().map(|f| f.rx.try_recv()) {
                Some(Ok(msg)) => msg,
                Some(Err(TryRecvError::Empty)) | None => return,
                Some(Err(TryRecvError::Disconnected)) => Msg::Ended(Vec::new()),
            };
            match msg {
                Msg::Line(line) => self.take(&line, each),
                Msg::Ended(said) => {
                    let mut follow = self.follow.take().expect("polled");
                    let status = follow
                        .child
                        .wait()
                        .map_or_else(|e| e.to_string(), |s| s.to_string());
                    self.warn(format!(
                        "the journal: {} stopped ({}); started again in {} s from the last entry read",
                        JOURNALCTL,
                        first_line(&said, &status),
                        RESTART_AFTER.as_secs()
                    ));
                    self.restart_at = Some(Instant::now() + RESTART_AFTER);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_by_their_fields() {
        let line = br#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1796166642827733","_COMM":"sshd","SYSLOG_IDENTIFIER":"sshd","_PID":"77","_HOSTNAME":"web","MESSAGE":"Failed password for root from 10.0.0.1 port 22 ssh2"}"#;
        let (cursor, e) = entry(line).unwrap();
        let e = e.unwrap();
        assert_eq!(cursor, "s=1;i=2");
        assert_eq!((e.program.as_str(), e.pid), ("sshd", Some(77)));
        assert_eq!(e.ts.timestamp_micros(), 1796166642827733);
        assert!(e
            .line
            .ends_with(" web sshd[77]: Failed password for root from 10.0.0.1 port 22 ssh2"));
        // Not an auth program: the cursor still moves on.
        let cron = br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","_COMM":"cron","MESSAGE":"Failed password for root from 1.2.3.4 port 1 ssh2"}"#;
        assert_eq!(entry(cron), Some(("c".into(), None)));
        // The identifier set by the program wins over _COMM; _COMM when there is none.
        let by_comm =
            br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","_COMM":"sshd-session","MESSAGE":"x"}"#;
        assert_eq!(entry(by_comm).unwrap().1.unwrap().program, "sshd-session");
        // A message that is not UTF-8 comes as a byte array.
        let bytes = br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"sshd","MESSAGE":[73,110,118,97,108,105,100,32,117,115,101,114,32,255,32,102,114,111,109,32,49,46,50,46,51,46,52,32,112,111,114,116,32,49]}"#;
        let e = entry(bytes).unwrap().1.unwrap();
        assert_eq!(e.message, "Invalid user \u{fffd} from 1.2.3.4 port 1");
        assert!(super::super::parse::record(&e.header()).is_some());
        // Garbage, and entries without a cursor, are no entries.
        assert_eq!(entry(b"garbage"), None);
        assert_eq!(entry(br#"{"MESSAGE":"x"}"#), None);
        // A field set twice, and a null (too large) message.
        let twice = br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":["sudo","x"],"MESSAGE":null}"#;
        assert_eq!(entry(twice), Some(("c".into(), None)));
    }
}
