//! JSON lines: one object per line keyed by nginx variable names, in any order. Strings are
//! borrowed from the line unless they hold an escape; numbers may be JSON numbers or strings.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

use super::text::{optional_text, request, size, status};
use super::{addr, time, Field, ParseError, Parsed};
use crate::logs::record::AccessRecord;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    remote_addr: Option<Str<'a>>,
    #[serde(borrow)]
    time_iso8601: Option<Str<'a>>,
    #[serde(borrow)]
    time_local: Option<Str<'a>>,
    #[serde(borrow)]
    msec: Option<Scalar<'a>>,
    #[serde(borrow)]
    request: Option<Str<'a>>,
    #[serde(borrow)]
    request_method: Option<Str<'a>>,
    #[serde(borrow)]
    request_uri: Option<Str<'a>>,
    #[serde(borrow)]
    server_protocol: Option<Str<'a>>,
    #[serde(borrow)]
    status: Option<Scalar<'a>>,
    #[serde(borrow)]
    body_bytes_sent: Option<Scalar<'a>>,
    #[serde(borrow)]
    bytes_sent: Option<Scalar<'a>>,
    #[serde(borrow)]
    http_referer: Option<Str<'a>>,
    #[serde(borrow)]
    http_user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    http_x_forwarded_for: Option<Str<'a>>,
    #[serde(borrow)]
    host: Option<Str<'a>>,
    #[serde(borrow)]
    http_host: Option<Str<'a>>,
    #[serde(borrow)]
    remote_user: Option<Str<'a>>,
}

/// A string borrowed when serde_json can (`Option<Cow<str>>` with `#[serde(borrow)]` always
/// copies: serde borrows only a bare `Cow` field).
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A number as a JSON number or as the string nginx writes when the template quotes it.
enum Scalar<'a> {
    Int(u64),
    Float(f64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("negative"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar<'_> {
    fn integer(&self, parse: fn(&[u8]) -> Option<u64>) -> Option<u64> {
        match self {
            Scalar::Int(n) => Some(*n),
            Scalar::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64 => {
                Some(*f as u64)
            }
            Scalar::Float(_) => None,
            Scalar::Text(t) => parse(t.as_bytes()),
        }
    }

    fn epoch(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Scalar::Int(n) => chrono::DateTime::from_timestamp(i64::try_from(*n).ok()?, 0),
            // `$msec` has millisecond precision; rounding there undoes the binary fraction.
            Scalar::Float(f) => {
                chrono::DateTime::from_timestamp_millis((f * 1000.0).round() as i64)
            }
            Scalar::Text(t) => time::epoch(t.as_bytes()),
        }
    }
}

pub(super) fn parse(line: &[u8]) -> Result<Parsed<'_>, ParseError> {
    match serde_json::from_slice::<Line>(line) {
        Ok(fields) => record(fields),
        // nginx's escape=json copies bytes above 0x7f as they are: a line that is not UTF-8 is
        // read again, lossily, and its record owns its text.
        Err(_) if std::str::from_utf8(line).is_err() => {
            let lossy = String::from_utf8_lossy(line);
            let fields = serde_json::from_str::<Line>(&lossy).map_err(|_| ParseError::Json)?;
            let (record, xff) = record(fields)?;
            Ok((record.into_owned(), xff.map(|x| Cow::Owned(x.into_owned()))))
        }
        Err(_) => Err(ParseError::Json),
    }
}

fn record(f: Line<'_>) -> Result<Parsed<'_>, ParseError> {
    let client = f.remote_addr.ok_or(ParseError::Missing(Field::Client))?.0;
    let client = addr::ip(client.as_bytes()).ok_or(ParseError::Bad(Field::Client))?;
    let ts = if let Some(Str(t)) = &f.time_iso8601 {
        time::iso8601(t.as_bytes())
    } else if let Some(Str(t)) = &f.time_local {
        let t = t.as_bytes();
        let t = t
            .strip_prefix(b"[")
            .and_then(|t| t.strip_suffix(b"]"))
            .unwrap_or(t);
        time::clf(t)
    } else if let Some(t) = &f.msec {
        t.epoch()
    } else {
        return Err(ParseError::Missing(Field::Time));
    };
    let ts = ts.ok_or(ParseError::Bad(Field::Time))?;
    let (method, target, protocol) = match f.request {
        Some(Str(line)) => split(line),
        None => (
            text(f.request_method).unwrap_or_default(),
            text(f.request_uri).unwrap_or_default(),
            text(f.server_protocol).unwrap_or_default(),
        ),
    };
    let status = f
        .status
        .ok_or(ParseError::Missing(Field::Status))?
        .integer(|b| status(b).map(u64::from))
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(ParseError::Bad(Field::Status))?;
    let bytes = match f.body_bytes_sent.or(f.bytes_sent) {
        Some(b) => b.integer(size).ok_or(ParseError::Bad(Field::Bytes))?,
        None => 0,
    };
    let xff = text(f.http_x_forwarded_for).map(|x| match x {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    });
    let record = AccessRecord {
        ts,
        client,
        method,
        target,
        protocol,
        status,
        bytes,
        referer: optional_text(text(f.http_referer)),
        user_agent: optional_text(text(f.http_user_agent)),
        vhost: optional_text(text(f.host)).or_else(|| optional_text(text(f.http_host))),
        user: optional_text(text(f.remote_user)),
    };
    Ok((record, xff))
}

fn text(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(|s| s.0)
}

/// `request` split like a logged request line, keeping the borrow when there is one.
fn split(line: Cow<'_, str>) -> super::text::RequestParts<'_> {
    match line {
        Cow::Borrowed(s) => request(Cow::Borrowed(s.as_bytes())),
        Cow::Owned(s) => request(Cow::Owned(s.into_bytes())),
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
    fn nginx_json_line_with_request_and_string_numbers() {
        let line = br#"{"time_iso8601":"2026-12-01T20:22:32+01:00","remote_addr":"2001:db8::5","remote_user":"","request":"GET /index.php?id=1%27%20OR%201=1 HTTP/2.0","status":"200","body_bytes_sent":"612","http_referer":"","http_user_agent":"sqlmap/1.8#stable (https://sqlmap.org)","http_x_forwarded_for":"","host":"shop.example.org","request_time":"0.004"}"#;
        let (r, xff) = parse(line).unwrap();
        assert_eq!(r.ts, at("2026-12-01T19:22:32Z"));
        assert_eq!(r.client, "2001:db8::5".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(
            (r.method.as_ref(), r.protocol.as_ref()),
            ("GET", "HTTP/2.0")
        );
        assert_eq!(r.target, "/index.php?id=1%27%20OR%201=1");
        assert_eq!((r.status, r.bytes), (200, 612));
        assert_eq!((r.referer, r.user), (None, None));
        assert!(r.user_agent.unwrap().starts_with("sqlmap/"));
        assert_eq!(r.vhost.as_deref(), Some("shop.example.org"));
        assert_eq!(xff.as_deref(), Some(&b""[..]));
        assert!(matches!(r.target, Cow::Borrowed(_)));
    }

    #[test]
    fn method_and_uri_numbers_and_epoch() {
        let line = br#"{"msec":1700000000.123,"remote_addr":"::ffff:192.0.2.7","request_method":"POST","request_uri":"/xmlrpc.php","server_protocol":"HTTP/1.1","status":401,"bytes_sent":89,"http_user_agent":"a \"quoted\" \u00e9 agent"}"#;
        let (r, _) = parse(line).unwrap();
        assert_eq!(r.ts, at("2023-11-14T22:13:20.123Z"));
        assert_eq!(r.client, "192.0.2.7".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(
            (r.method.as_ref(), r.target.as_ref()),
            ("POST", "/xmlrpc.php")
        );
        assert_eq!((r.status, r.bytes), (401, 89));
        assert_eq!(r.user_agent.as_deref(), Some("a \"quoted\" é agent"));
    }

    #[test]
    fn time_local_and_raw_high_bytes() {
        let line = b"{\"time_local\":\"10/Oct/2000:13:55:36 -0700\",\"remote_addr\":\"192.0.2.1\",\"request\":\"GET /caf\xe9 HTTP/1.1\",\"status\":404}";
        let (r, _) = parse(line).unwrap();
        assert_eq!(r.ts, at("2000-10-10T20:55:36Z"));
        assert_eq!(r.target, "/caf\u{FFFD}");
        assert_eq!(r.bytes, 0);
    }

    #[test]
    fn what_is_missing_or_wrong_is_named() {
        let err = |l: &[u8]| parse(l).unwrap_err();
        assert_eq!(err(b"not json"), ParseError::Json);
        assert_eq!(err(br#"{"remote_addr":"192.0.2.1""#), ParseError::Json);
        assert_eq!(err(br#"[1,2]"#), ParseError::Json);
        assert_eq!(
            err(br#"{"status":200,"msec":"1"}"#),
            ParseError::Missing(Field::Client)
        );
        assert_eq!(
            err(br#"{"remote_addr":"192.0.2.1","status":200}"#),
            ParseError::Missing(Field::Time)
        );
        assert_eq!(
            err(br#"{"remote_addr":"192.0.2.1","msec":"1","status":"OK"}"#),
            ParseError::Bad(Field::Status)
        );
        assert_eq!(
            err(br#"{"remote_addr":"192.0.2.1","msec":"1","status":70000}"#),
            ParseError::Bad(Field::Status)
        );
        assert_eq!(err(br#"{"remote_addr":{"a":1}}"#), ParseError::Json);
    }
}
