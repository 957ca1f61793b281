//! Auth-log lines, from text to what happened: the syslog header (a traditional stamp
//! without year or zone, or RFC 3339 / rsyslog's high-precision one), the program and
//! its pid, then the message of sshd (also 9.8+'s `sshd-session`), sudo or su. Matched
//! by hand on fixed prefixes: a regex per form costs more than the rest of the line,
//! and these messages have been stable for decades. Anything else is `None`.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Local, NaiveDate, TimeZone, Utc};

use crate::logs::parse::time;

/// What one line says.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthRecord<'a> {
    pub ts: DateTime<Utc>,
    pub service: &'static str,
    pub action: Action<'a>,
    pub user: Option<&'a str>,
    pub client: Option<IpAddr>,
    /// The process that wrote it (sshd's per-connection child: its session).
    pub pid: Option<u32>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Action<'a> {
    /// An authentication that failed (a password, a key, PAM).
    Failed,
    /// A user name that does not exist was tried.
    InvalidUser,
    /// A login (sshd) or a change of user (su) that succeeded.
    Accepted { method: &'a str },
    /// A connection closed before authentication: the source is alive, nothing failed.
    Disconnected,
    /// A connection closed by its client while authenticating a known user: a key
    /// refused (sshd logs nothing else for it at INFO) or a password prompt left, so
    /// a failure unless its connection already told one.
    Abandoned,
    /// An sshd session ended (`Disconnected from user ...`, PAM's `session closed`).
    Closed,
    /// sudo ran a command as `target`.
    Command { target: &'a str },
}

/// A syslog line's header.
#[derive(Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub ts: DateTime<Utc>,
    pub program: &'a str,
    pub pid: Option<u32>,
    pub message: &'a str,
}

/// A whole line. `now` gives the year of traditional stamps (which have none).
pub fn parse(line: &str, now: DateTime<Utc>) -> Option<AuthRecord<'_>> {
    record(&header(line, now)?)
}

/// What a syslog header and its message say (a log line's, or a journal entry's).
pub fn record<'a>(h: &Header<'a>) -> Option<AuthRecord<'a>> {
    let (service, action, user, client) = message(h.program, h.message)?;
    Some(AuthRecord {
        ts: h.ts,
        service,
        action,
        user,
        client,
        pid: h.pid,
    })
}

type Parts<'a> = (&'static str, Action<'a>, Option<&'a str>, Option<IpAddr>);

/// The message of `program` (a syslog tag, or the journal's `SYSLOG_IDENTIFIER`).
pub fn message<'a>(program: &str, msg: &'a str) -> Option<Parts<'a>> {
    match program {
        "sshd" | "sshd-session" => sshd(msg),
        "sudo" => sudo(msg),
        "su" => su(msg),
        _ => None,
    }
}

/// The time lines are read at (the year of traditional stamps), and the last such
/// stamp: the lines of one second share it, and the time zone is asked once.
pub struct Clock {
    pub now: DateTime<Utc>,
    last: Option<([u8; 15], DateTime<Utc>)>,
}

impl Clock {
    pub fn new(now: DateTime<Utc>) -> Clock {
        Clock { now, last: None }
    }

    fn traditional(&mut self, stamp: &[u8]) -> Option<DateTime<Utc>> {
        match &self.last {
            Some((last, ts)) if last[..] == *stamp => Some(*ts),
            _ => {
                let ts = traditional(stamp, self.now)?;
                self.last = Some((stamp.try_into().ok()?, ts));
                Some(ts)
            }
        }
    }
}

/// `Dec  1 21:14:49 host prog[pid]: msg` or `2026-12-01T21:14:49.123456+01:00 host prog: msg`.
pub fn header(line: &str, now: DateTime<Utc>) -> Option<Header<'_>> {
    header_at(line, &mut Clock::new(now))
}

/// `header`, with the last stamp's time kept in `clock`.
pub fn header_at<'a>(line: &'a str, clock: &mut Clock) -> Option<Header<'a>> {
    // A priority, as lines relayed unchanged from the network keep it.
    let line = match line.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((pri, rest))
            if !pri.is_empty() && pri.len() <= 3 && pri.bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => line,
    };
    if let Some(rest) = line.strip_prefix("1 ") {
        return rfc5424(rest);
    }
    let b = line.as_bytes();
    let (ts, rest) = if b.len() > 19 && b[4] == b'-' && b[0].is_ascii_digit() {
        let end = line.find(' ')?;
        (time::iso8601(&b[..end])?, &line[end + 1..])
    } else {
        (clock.traditional(b.get(..15)?)?, line.get(16..)?)
    };
    let (_host, rest) = rest.split_once(' ')?;
    let (tag, message) = rest.split_once(": ")?;
    let (program, pid) = match tag.find('[') {
        Some(open) if tag.ends_with(']') => {
            (&tag[..open], tag[open + 1..tag.len() - 1].parse().ok())
        }
        Some(_) => return None,
        None => (tag, None),
    };
    Some(Header {
        ts,
        program,
        pid,
        message: message.trim_end(),
    })
}

/// RFC 5424 after its version: `STAMP HOST APP PROCID MSGID SD MSG`, where `-` is
/// a field left out and SD is `-` or `[id key="value" ...]...`.
fn rfc5424(line: &str) -> Option<Header<'_>> {
    let mut fields = line.splitn(6, ' ');
    let ts = time::iso8601(fields.next()?.as_bytes())?;
    let (_host, program, pid) = (fields.next()?, fields.next()?, fields.next()?);
    let (_msgid, rest) = (fields.next()?, fields.next()?);
    let message = skip_structured_data(rest)?;
    Some(Header {
        ts,
        program,
        pid: pid.parse().ok(),
        message: message.trim_start_matches('\u{feff}').trim_end(),
    })
}

/// The message after RFC 5424's structured data (`-`, or bracketed elements whose
/// quoted values may hold an escaped `]`).
fn skip_structured_data(text: &str) -> Option<&str> {
    if let Some(rest) = text.strip_prefix('-') {
        return Some(rest.strip_prefix(' ').unwrap_or(rest));
    }
    let b = text.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let (mut quoted, mut escaped) = (false, false);
        loop {
            i += 1;
            match *b.get(i)? {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
        }
        i += 1;
    }
    let rest = text.get(i..)?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `Mmm dd hh:mm:ss` in the host's time zone, in the year that puts it at most a day
/// ahead of `now` (a December line read in January is last year's).
fn traditional(b: &[u8], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let month = time::month(&b[..3])?;
    let day_text = std::str::from_utf8(&b[4..6]).ok()?.trim_start();
    let day: u32 = day_text.parse().ok()?;
    let digits = |at: usize| -> Option<u32> {
        let (h, l) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
        (h < 10 && l < 10).then(|| u32::from(h * 10 + l))
    };
    let t = chrono::NaiveTime::from_hms_opt(digits(7)?, digits(10)?, digits(13)?)?;
    let local_now = now.with_timezone(&Local);
    let at = |year: i32| -> Option<DateTime<Utc>> {
        let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_time(t);
        // In the hour a DST change repeats, the earlier reading; in the hour it skips,
        // none exists and the line is not a time.
        Some(Local.from_local_datetime(&naive).earliest()?.to_utc())
    };
    let year = local_now.year();
    match at(year) {
        Some(ts) if ts <= now + chrono::Duration::days(1) => Some(ts),
        _ => at(year - 1),
    }
}

fn ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// `USER from ADDR port N ...` → (user, address).
fn from_port(rest: &str) -> Option<(&str, Option<IpAddr>)> {
    let (user, after) = rest.rsplit_once(" from ")?;
    let addr = after.split(' ').next()?;
    Some((user, ip(addr)))
}

fn sshd(msg: &str) -> Option<Parts<'_>> {
    let svc = "sshd";
    if let Some(rest) = msg.strip_prefix("Failed ") {
        // `Failed password for [invalid user ]NAME from ADDR port N ssh2`
        let (_method, rest) = rest.split_once(" for ")?;
        let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
        let (user, client) = from_port(rest)?;
        return Some((svc, Action::Failed, Some(user), client));
    }
    if let Some(rest) = msg.strip_prefix("Accepted ") {
        let (method, rest) = rest.split_once(" for ")?;
        let (user, client) = from_port(rest)?;
        return Some((svc, Action::Accepted { method }, Some(user), client));
    }
    if let Some(rest) = msg.strip_prefix("Invalid user ") {
        let (user, client) = from_port(rest)?;
        return Some((svc, Action::InvalidUser, Some(user), client));
    }
    if let Some(rest) = msg
        .strip_prefix("error: maximum authentication attempts exceeded for ")
        .or_else(|| msg.strip_prefix("maximum authentication attempts exceeded for "))
    {
        // The disconnect after the last `Failed ...` line: not one more failure.
        let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
        let (user, client) = from_port(rest)?;
        return Some((svc, Action::Disconnected, Some(user), client));
    }
    if let Some(rest) = msg.strip_prefix("error: PAM: Authentication failure for ") {
        // Keyboard-interactive through PAM: no `Failed password` line follows it.
        let rest = rest.strip_prefix("illegal user ").unwrap_or(rest);
        let (user, after) = rest.rsplit_once(" from ")?;
        return Some((svc, Action::Failed, Some(user), ip(after.trim())));
    }
    if let Some(rest) = msg
        .strip_prefix("Disconnected from user ")
        .filter(|_| !msg.ends_with("[preauth]"))
    {
        // `Disconnected from user NAME ADDR port N`: the end of a session.
        let mut words = rest.split(' ');
        let user = words.next();
        return Some((svc, Action::Closed, user, words.next().and_then(ip)));
    }
    if let Some(user) = msg.strip_prefix("pam_unix(sshd:session): session closed for user ") {
        return Some((svc, Action::Closed, Some(user.trim()), None));
    }
    // `Connection closed by [authenticating|invalid] user NAME ADDR port N [preauth]`,
    // `Disconnected from ...`, `Received disconnect from ADDR port N:11: ... [preauth]`.
    if msg.ends_with("[preauth]") {
        let rest = msg
            .strip_prefix("Connection closed by ")
            .or_else(|| msg.strip_prefix("Disconnected from "))
            .or_else(|| msg.strip_prefix("Connection reset by "))
            .or_else(|| msg.strip_prefix("Received disconnect from "))?;
        let (who, _) = rest.split_once(" port ")?;
        let mut words = who.rsplitn(2, ' ');
        let addr = words.next()?;
        let addr = ip(addr.split(':').next().unwrap_or(addr));
        let named = words.next();
        if let Some(user) = named.and_then(|w| w.strip_prefix("authenticating user ")) {
            return Some((svc, Action::Abandoned, Some(user), addr));
        }
        let user = named.and_then(|w| {
            w.strip_prefix("invalid user ")
                .or_else(|| w.strip_prefix("user "))
        });
        return Some((svc, Action::Disconnected, user, addr));
    }
    None
}

/// `pam_unix(SERVICE:auth): authentication failure; logname=... rhost=ADDR  user=NAME`.
fn pam_failure(msg: &str) -> Option<(Option<&str>, Option<IpAddr>)> {
    let (_, fields) = msg.split_once("): authentication failure; ")?;
    let field = |name: &str| {
        fields
            .split(' ')
            .find_map(|f| f.strip_prefix(name))
            .filter(|v| !v.is_empty())
    };
    Some((
        field("user=").or(field("ruser=")),
        field("rhost=").and_then(ip),
    ))
}

fn sudo(msg: &str) -> Option<Parts<'_>> {
    if msg.starts_with("pam_unix(sudo:auth): authentication failure;") {
        let (user, client) = pam_failure(msg)?;
        return Some(("sudo", Action::Failed, user, client));
    }
    // `   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id`
    // `   alice : 3 incorrect password attempts ; TTY=...`, `... : user NOT in sudoers ; ...`
    let (user, rest) = msg.trim_start().split_once(" : ")?;
    let user = user.trim();
    if rest.contains("incorrect password attempt") || rest.starts_with("user NOT in sudoers") {
        return Some(("sudo", Action::Failed, Some(user), None));
    }
    if rest.contains("COMMAND=") {
        let target = rest
            .split(" ; ")
            .find_map(|f| f.strip_prefix("USER="))
            .unwrap_or("root");
        return Some(("sudo", Action::Command { target }, Some(user), None));
    }
    None
}

fn su(msg: &str) -> Option<Parts<'_>> {
    if msg.starts_with("pam_unix(su:auth): authentication failure;")
        || msg.starts_with("pam_unix(su-l:auth): authentication failure;")
    {
        let (user, client) = pam_failure(msg)?;
        return Some(("su", Action::Failed, user, client));
    }
    // `FAILED SU (to root) alice on pts/0`, `(to root) alice on pts/0` (util-linux).
    let (failed, rest) = match msg.strip_prefix("FAILED SU ") {
        Some(rest) => (true, rest),
        None => (false, msg),
    };
    let rest = rest.strip_prefix("(to ")?;
    let (target, _by) = rest.split_once(") ")?;
    let action = if failed {
        Action::Failed
    } else {
        Action::Accepted { method: "su" }
    };
    Some(("su", action, Some(target), None))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
