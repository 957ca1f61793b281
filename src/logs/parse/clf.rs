//! The NCSA family, parsed by hand for speed: common, combined and Apache's vhost_combined.
//! Nginx and Apache both write them; Apache escapes `"` as `\"`, nginx as `\x22`, so quoted
//! fields are scanned with backslash escapes and unescaped only when they hold one.

use std::borrow::Cow;

use memchr::{memchr, memrchr};

use super::text::{closing_quote, optional, request, size, status, unescape};
use super::time::{clf, CLF_LEN};
use super::{addr, Field, ParseError, Parsed};
use crate::logs::record::AccessRecord;

/// `%h %l %u %t "%r" %>s %b`.
pub(super) fn common(line: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let mut cur = Cursor { line, pos: 0 };
    let record = head(&mut cur, None)?;
    Ok((record, None))
}

/// Common plus `"%{Referer}i" "%{User-Agent}i"`. Whatever follows (nginx setups often append
/// `"$http_x_forwarded_for"` or timings) is ignored; a common line is accepted with no referer
/// and no user agent, so a log whose format changed mid-way loses nothing.
pub(super) fn combined(line: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let mut cur = Cursor { line, pos: 0 };
    let mut record = head(&mut cur, None)?;
    tail(&mut cur, &mut record)?;
    Ok((record, None))
}

/// `%v:%p` then combined (with `%O`, all bytes sent, where combined has `%b`).
pub(super) fn vhost_combined(line: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let mut cur = Cursor { line, pos: 0 };
    let first = cur.token(Field::Vhost)?;
    // The port is after the last colon; a name without one is taken whole.
    let vhost = match memrchr(b':', first) {
        Some(colon) if first[colon + 1..].iter().all(u8::is_ascii_digit) => &first[..colon],
        _ => first,
    };
    let mut record = head(&mut cur, optional(vhost, true))?;
    tail(&mut cur, &mut record)?;
    Ok((record, None))
}

/// Everything up to and including `%b`.
fn head<'a>(
    cur: &mut Cursor<'a>,
    vhost: Option<Cow<'a, str>>,
) -> Result<AccessRecord<'a>, ParseError> {
    let client = addr::ip(cur.token(Field::Client)?).ok_or(ParseError::Bad(Field::Client))?;
    cur.token(Field::User)?; // identd: nobody runs it, nobody believes it
    let user = cur.user()?;
    let ts = cur.time()?;
    cur.space(Field::Request)?;
    let (method, target, protocol) = request(unescape(cur.quoted(Field::Request)?));
    cur.space(Field::Status)?;
    let status = status(cur.token(Field::Status)?).ok_or(ParseError::Bad(Field::Status))?;
    let bytes = size(cur.token(Field::Bytes)?).ok_or(ParseError::Bad(Field::Bytes))?;
    Ok(AccessRecord {
        ts,
        client,
        method,
        target,
        protocol,
        status,
        bytes,
        referer: None,
        user_agent: None,
        vhost,
        user: optional(user, true),
    })
}

/// `"%{Referer}i" "%{User-Agent}i"`, when the line goes on.
fn tail<'a>(cur: &mut Cursor<'a>, record: &mut AccessRecord<'a>) -> Result<(), ParseError> {
    if cur.at_end() {
        return Ok(());
    }
    record.referer = optional(cur.quoted(Field::Referer)?, true);
    cur.space(Field::UserAgent)?;
    record.user_agent = optional(cur.quoted(Field::UserAgent)?, true);
    Ok(())
}

/// A position in a line; each method consumes one field and the separator after it.
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.line[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Text up to the next space (or the end), and the space.
    fn token(&mut self, field: Field) -> Result<&'a [u8], ParseError> {
        let rest = self.rest();
        if rest.is_empty() {
            return Err(ParseError::Truncated(field));
        }
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        self.pos += (len + 1).min(rest.len());
        Ok(&rest[..len])
    }

    fn space(&mut self, next: Field) -> Result<(), ParseError> {
        match self.rest().first() {
            Some(b' ') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(ParseError::Mismatch(next)),
            None => Err(ParseError::Truncated(next)),
        }
    }

    /// The remote user: up to the ` [` of the time stamp (a user name may hold spaces).
    fn user(&mut self) -> Result<&'a [u8], ParseError> {
        let rest = self.rest();
        let bracket = memchr(b'[', rest).ok_or(ParseError::Truncated(Field::Time))?;
        if bracket == 0 || rest[bracket - 1] != b' ' {
            return Err(ParseError::Mismatch(Field::Time));
        }
        self.pos += bracket;
        Ok(&rest[..bracket - 1])
    }

    /// `[10/Oct/2000:13:55:36 -0700]`.
    fn time(&mut self) -> Result<chrono::DateTime<chrono::Utc>, ParseError> {
        let rest = self.rest();
        let stamp = rest
            .get(1..=CLF_LEN)
            .ok_or(ParseError::Truncated(Field::Time))?;
        if rest.get(CLF_LEN + 1) != Some(&b']') {
            return Err(ParseError::Bad(Field::Time));
        }
        self.pos += CLF_LEN + 2;
        clf(stamp).ok_or(ParseError::Bad(Field::Time))
    }

    /// `"…"`: the text between the quotes, escapes left in.
    fn quoted(&mut self, field: Field) -> Result<&'a [u8], ParseError> {
        let rest = self.rest();
        match rest.first() {
            Some(b'"') => {}
            Some(_) => return Err(ParseError::Mismatch(field)),
            None => return Err(ParseError::Truncated(field)),
        }
        let len = closing_quote(&rest[1..], true).ok_or(ParseError::Truncated(field))?;
        self.pos += len + 2;
        Ok(&rest[1..=len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn nginx_default_combined() {
        let line = br#"203.0.113.7 - - [01/Dec/2026:20:22:32 +0100] "GET /wp-login.php?redirect_to=%2F HTTP/1.1" 200 4523 "https://example.org/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0""#;
        let (r, xff) = combined(line).unwrap();
        assert_eq!(r.ts, at("2026-12-01T19:22:32Z"));
        assert_eq!(r.client, "203.0.113.7".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/wp-login.php?redirect_to=%2F");
        assert_eq!(r.protocol, "HTTP/1.1");
        assert_eq!((r.status, r.bytes), (200, 4523));
        assert_eq!(r.referer.as_deref(), Some("https://example.org/"));
        assert!(r
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("Mozilla/5.0 (X11"));
        assert_eq!((r.user, r.vhost, xff), (None, None, None));
        // Nothing was copied.
        assert!(matches!(r.target, Cow::Borrowed(_)));
        assert!(matches!(r.user_agent, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn apache_combined_with_user_escapes_and_dash_size() {
        let line = br#"2001:db8::7 - alice smith [10/Oct/2000:13:55:36 -0700] "POST /q?s=\"x\" HTTP/1.0" 304 - "-" "curl/8.5.0""#;
        let (r, _) = combined(line).unwrap();
        assert_eq!(r.client, "2001:db8::7".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(r.user.as_deref(), Some("alice smith"));
        assert_eq!(r.target, "/q?s=\"x\"");
        assert_eq!((r.status, r.bytes), (304, 0));
        assert_eq!(r.referer, None);
        assert_eq!(r.user_agent.as_deref(), Some("curl/8.5.0"));
    }

    #[test]
    fn tls_sent_to_a_plain_port_is_a_record_without_method() {
        let line = br#"198.51.100.23 - - [01/Dec/2026:20:22:32 +0000] "\x16\x03\x01\x00\xF7\x01\x00\x00\xF3\x03\x03" 400 157 "-" "-""#;
        let (r, _) = combined(line).unwrap();
        assert_eq!(
            (r.method.as_ref(), r.protocol.as_ref(), r.status),
            ("", "", 400)
        );
        assert!(r.target.starts_with("\u{16}\u{3}\u{1}"));
        assert_eq!(r.user_agent, None);
    }

    #[test]
    fn common_lines_and_extra_fields() {
        let line =
            br#"::ffff:192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 2326"#;
        let (r, _) = common(line).unwrap();
        assert_eq!(r.client, "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
        // A common line read as combined, and a combined line with nginx's appended XFF.
        assert_eq!(combined(line).unwrap().0, r);
        let longer =
            br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-" "10.0.0.1" rt=0.001"#;
        let (r, _) = combined(longer).unwrap();
        assert_eq!(
            (r.method.as_ref(), r.target.as_ref(), r.status),
            ("", "", 400)
        );
    }

    #[test]
    fn vhost_combined_takes_the_host_before_the_port() {
        let line = br#"www.example.org:443 192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /.env HTTP/1.1" 404 437 "-" "Go-http-client/1.1""#;
        let (r, _) = vhost_combined(line).unwrap();
        assert_eq!(r.vhost.as_deref(), Some("www.example.org"));
        assert_eq!((r.target.as_ref(), r.status, r.bytes), ("/.env", 404, 437));
        assert_eq!(r.user_agent.as_deref(), Some("Go-http-client/1.1"));
    }

    #[test]
    fn broken_lines_say_where() {
        let ok =
            br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 2326 "-" "ua""#;
        for cut in 0..ok.len() {
            // Every prefix fails cleanly or is a common line (cut after the size).
            let _ = combined(&ok[..cut]);
        }
        let err = |l: &[u8]| combined(l).unwrap_err();
        assert_eq!(err(b"host.example - - [x]"), ParseError::Bad(Field::Client));
        assert_eq!(err(b"192.0.2.1 - -"), ParseError::Truncated(Field::Time));
        assert_eq!(err(b"192.0.2.1"), ParseError::Truncated(Field::User));
        assert_eq!(
            err(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /"#),
            ParseError::Truncated(Field::Request)
        );
        assert_eq!(
            err(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /" OK 5"#),
            ParseError::Bad(Field::Status)
        );
        assert_eq!(
            err(br#"192.0.2.1 - - [10/Oct/2000:13:55:36] "GET /" 200 5"#),
            ParseError::Bad(Field::Time)
        );
        assert_eq!(
            err(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /" 200 5 "-"#),
            ParseError::Truncated(Field::Referer)
        );
    }
}
