//! Access-log line parsers: bytes of one line in, one [`AccessRecord`] out.
//!
//! Every format borrows from the line; text is copied only when it must be unescaped or is not
//! valid UTF-8. Bad input gives a [`ParseError`], never a panic.

mod addr;
mod clf;
mod json;
mod template;
mod text;
pub(crate) mod time;

use std::borrow::Cow;

use ipnet::IpNet;

use crate::logs::record::AccessRecord;

pub use template::Template;

/// How the lines of one log are written (the `format` of a `[[log]]` table).
#[derive(Debug, Clone, Default)]
pub enum LogFormat {
    /// `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"` (nginx's and Apache's default,
    /// and the policy's).
    #[default]
    Combined,
    /// `%h %l %u %t "%r" %>s %b`.
    Common,
    /// Apache's `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`.
    VhostCombined,
    /// One JSON object per line, keyed by nginx variable names.
    Json,
    /// An nginx `log_format` or Apache `LogFormat` string.
    Template(Template),
}

impl LogFormat {
    /// `"combined"` | `"common"` | `"vhost_combined"` | `"json"` | any nginx `log_format` string
    /// (with `$variables`, optionally `escape=json|default|none` first, optionally pasted with the
    /// directive and its name: `log_format main '…';`) or Apache `LogFormat` string (with `%`
    /// directives, optionally pasted as `LogFormat "…" nick`).
    pub fn from_policy(text: &str) -> Result<LogFormat, FormatError> {
        let text = text.trim();
        let named = [
            ("combined", LogFormat::Combined),
            ("common", LogFormat::Common),
            ("vhost_combined", LogFormat::VhostCombined),
            ("json", LogFormat::Json),
        ];
        if let Some((_, format)) = named
            .into_iter()
            .find(|(name, _)| text.eq_ignore_ascii_case(name))
        {
            return Ok(format);
        }
        Template::from_policy(text).map(LogFormat::Template)
    }
}

/// Why a `format` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the log format is empty")]
    Empty,
    #[error(
        "unknown log format {0:?}: expected combined, common, vhost_combined, json, an nginx \
         log_format string ($variables) or an Apache LogFormat string (% directives)"
    )]
    Unknown(String),
    #[error("the log format has no {0}")]
    Missing(&'static str),
    #[error("{0} and {1} touch with no text between them: cannot tell where one ends")]
    Adjacent(String, String),
    #[error("unknown Apache LogFormat directive {0:?}")]
    Directive(String),
    #[error(
        "Apache time format %{{{0}}}t is not supported: use a whole date and time of fixed-width \
         fields (%Y %m %d %H %M %S %b %z %T %F), %t, %{{sec}}t or %{{msec}}t"
    )]
    TimeFormat(String),
    #[error("unknown nginx escape={0:?}: expected default, json or none")]
    Escape(String),
    #[error("the log format has an unterminated {0}")]
    Unterminated(&'static str),
}

/// Why a line did not parse. Small and `Copy`: a bad line costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("line ends before the {0}")]
    Truncated(Field),
    #[error("bad {0}")]
    Bad(Field),
    #[error("no {0}")]
    Missing(Field),
    #[error("text before the {0} does not match the format")]
    Mismatch(Field),
    #[error("the {0} is not followed by what the format says")]
    Unended(Field),
    #[error("not a JSON object of an access record")]
    Json,
}

/// The part of a line a [`ParseError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Client,
    Time,
    Request,
    Status,
    Bytes,
    Referer,
    UserAgent,
    Vhost,
    User,
    /// A field the record does not keep (`$request_time`, `%D`, …).
    Other,
    /// The end of the line.
    End,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Field::Client => "client address",
            Field::Time => "time stamp",
            Field::Request => "request",
            Field::Status => "status",
            Field::Bytes => "size",
            Field::Referer => "referer",
            Field::UserAgent => "user agent",
            Field::Vhost => "virtual host",
            Field::User => "user",
            Field::Other => "next field",
            Field::End => "end of the line",
        })
    }
}

/// A record and the raw `X-Forwarded-For` of its line, when the format logs one.
type Parsed<'a> = (AccessRecord<'a>, Option<Cow<'a, [u8]>>);

/// Parses the lines of one log: its format and the proxies whose `X-Forwarded-For` it believes.
#[derive(Debug, Clone)]
pub struct Parser {
    format: LogFormat,
    trusted_proxies: Vec<IpNet>,
}

impl Parser {
    pub fn new(format: LogFormat, trusted_proxies: Vec<IpNet>) -> Parser {
        Parser {
            format,
            trusted_proxies,
        }
    }

    /// One line, with or without its `\n` / `\r\n`.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<AccessRecord<'a>, ParseError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            return Err(ParseError::Empty);
        }
        let (mut record, xff) = match &self.format {
            LogFormat::Combined => clf::combined(line)?,
            LogFormat::Common => clf::common(line)?,
            LogFormat::VhostCombined => clf::vhost_combined(line)?,
            LogFormat::Json => json::parse(line)?,
            LogFormat::Template(template) => template.parse(line)?,
        };
        if let Some(xff) = xff {
            if !self.trusted_proxies.is_empty() {
                record.client = addr::forwarded_client(record.client, &xff, &self.trusted_proxies);
            }
        }
        Ok(record)
    }
}

/// A UTC instant written in RFC 3339, for the tests' expectations.
#[cfg(test)]
pub(crate) fn utc(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .to_utc()
}

#[cfg(test)]
mod tests;
