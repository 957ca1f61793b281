//! Formats given as an nginx `log_format` or Apache `LogFormat` string: the string is compiled
//! once into steps (literal text to match, fields to cut), then each line is walked left to
//! right with them. `syntax` reads the two servers' spellings into the same pieces.

mod syntax;

use std::borrow::Cow;

use memchr::memmem::Finder;

use super::text::{closing_quote, field, optional, request, size, status, unescape};
use super::{addr, time, Field, FormatError, ParseError, Parsed};
use crate::logs::record::AccessRecord;

/// What a template variable or directive means to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Client,
    RemoteHost,
    User,
    TimeClf,
    TimeBracketed,
    TimeIso,
    Epoch,
    EpochMs,
    EpochUs,
    Request,
    Method,
    Uri,
    Path,
    Query,
    IsArgs,
    Protocol,
    Status,
    BodyBytes,
    BytesSent,
    Referer,
    UserAgent,
    Xff,
    Vhost,
    HostHeader,
    Other,
}

const VARS: usize = Var::Other as usize + 1;

impl Var {
    fn field(self) -> Field {
        match self {
            Var::Client | Var::RemoteHost => Field::Client,
            Var::User => Field::User,
            Var::TimeClf
            | Var::TimeBracketed
            | Var::TimeIso
            | Var::Epoch
            | Var::EpochMs
            | Var::EpochUs => Field::Time,
            Var::Request
            | Var::Method
            | Var::Uri
            | Var::Path
            | Var::Query
            | Var::IsArgs
            | Var::Protocol => Field::Request,
            Var::Status => Field::Status,
            Var::BodyBytes | Var::BytesSent => Field::Bytes,
            Var::Referer => Field::Referer,
            Var::UserAgent => Field::UserAgent,
            Var::Vhost | Var::HostHeader => Field::Vhost,
            Var::Xff | Var::Other => Field::Other,
        }
    }

    /// Fields whose width is known, so they need no separator after them.
    fn width(self) -> Option<usize> {
        match self {
            Var::TimeClf => Some(time::CLF_LEN),
            Var::TimeBracketed => Some(time::CLF_LEN + 2),
            _ => None,
        }
    }
}

/// A format string, read: literal text and variables, with how each variable was written (for
/// error messages).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(Vec<u8>),
    Var(Var, String),
}

/// A compiled `log_format` / `LogFormat` string.
#[derive(Debug, Clone)]
pub struct Template {
    steps: Vec<Step>,
    /// Whether the server escapes field text (nginx default and json, Apache); nginx
    /// `escape=none` writes it raw.
    escapes: bool,
}

#[derive(Debug, Clone)]
enum Step {
    /// Text the line must hold here; `before` names the field that follows, for errors.
    Lit {
        text: Box<[u8]>,
        before: Field,
    },
    Cut {
        var: Var,
        end: End,
    },
}

/// Where a field ends.
#[derive(Debug, Clone)]
enum End {
    Line,
    Width(usize),
    /// At the next unescaped `"`: the field sits between quotes in the format.
    Quote,
    /// At the next occurrence of the literal after it.
    Before(Finder<'static>),
}

impl Template {
    /// Reads an nginx or Apache format string as an operator pastes it (see
    /// [`super::LogFormat::from_policy`]).
    pub fn from_policy(text: &str) -> Result<Template, FormatError> {
        let (pieces, escapes) = syntax::read(text)?;
        Template::compile(fuse(pieces), escapes)
    }

    fn compile(pieces: Vec<Piece>, escapes: bool) -> Result<Template, FormatError> {
        let has = |wanted: &[Var]| {
            pieces
                .iter()
                .any(|p| matches!(p, Piece::Var(v, _) if wanted.contains(v)))
        };
        if !has(&[Var::Client, Var::RemoteHost]) {
            return Err(FormatError::Missing(
                "client address ($remote_addr, %h or %a)",
            ));
        }
        let times = [
            Var::TimeClf,
            Var::TimeBracketed,
            Var::TimeIso,
            Var::Epoch,
            Var::EpochMs,
            Var::EpochUs,
        ];
        if !has(&times) {
            return Err(FormatError::Missing(
                "time stamp ($time_local, $time_iso8601, $msec, %t, %{sec}t, %{msec}t)",
            ));
        }
        if !has(&[Var::Status]) {
            return Err(FormatError::Missing("status ($status, %s or %>s)"));
        }
        let mut steps = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            let next = pieces.get(i + 1);
            match piece {
                Piece::Lit(text) => {
                    let before = match next {
                        Some(Piece::Var(var, _)) => var.field(),
                        _ => Field::End,
                    };
                    steps.push(Step::Lit {
                        text: text.clone().into_boxed_slice(),
                        before,
                    });
                }
                Piece::Var(var, written) => {
                    let after_quote =
                        i > 0 && matches!(&pieces[i - 1], Piece::Lit(l) if l.ends_with(b"\""));
                    let end = match (var.width(), next) {
                        (Some(width), _) => End::Width(width),
                        (None, None) => End::Line,
                        (None, Some(Piece::Lit(l))) if after_quote && l.starts_with(b"\"") => {
                            End::Quote
                        }
                        (None, Some(Piece::Lit(l))) => End::Before(Finder::new(l).into_owned()),
                        (None, Some(Piece::Var(_, other))) => {
                            return Err(FormatError::Adjacent(written.clone(), other.clone()))
                        }
                    };
                    steps.push(Step::Cut { var: *var, end });
                }
            }
        }
        Ok(Template { steps, escapes })
    }

    pub(super) fn parse<'a>(&self, line: &'a [u8]) -> Result<Parsed<'a>, ParseError> {
        let mut cuts: [Option<&'a [u8]>; VARS] = [None; VARS];
        let mut pos = 0;
        for step in &self.steps {
            let rest = &line[pos..];
            match step {
                Step::Lit { text, before } => {
                    if !rest.starts_with(text) {
                        return Err(if text.starts_with(rest) {
                            ParseError::Truncated(*before)
                        } else {
                            ParseError::Mismatch(*before)
                        });
                    }
                    pos += text.len();
                }
                Step::Cut { var, end } => {
                    let short = ParseError::Truncated(var.field());
                    let len = match end {
                        End::Line => rest.len(),
                        End::Width(width) if rest.len() >= *width => *width,
                        End::Width(_) => return Err(short),
                        End::Quote => closing_quote(rest, self.escapes).ok_or(short)?,
                        End::Before(finder) => {
                            finder.find(rest).ok_or(ParseError::Unended(var.field()))?
                        }
                    };
                    cuts[*var as usize] = Some(&rest[..len]);
                    pos += len;
                }
            }
        }
        self.record(&cuts)
    }

    fn record<'a>(&self, cuts: &[Option<&'a [u8]>; VARS]) -> Result<Parsed<'a>, ParseError> {
        let get = |var: Var| cuts[var as usize];
        let esc = self.escapes;
        let client = get(Var::Client)
            .or(get(Var::RemoteHost))
            .ok_or(ParseError::Missing(Field::Client))?;
        let client = addr::ip(client).ok_or(ParseError::Bad(Field::Client))?;
        let ts = timestamp(cuts).ok_or(ParseError::Bad(Field::Time))?;
        let (method, target, protocol) = match get(Var::Request) {
            Some(line) if esc => request(unescape(line)),
            Some(line) => request(Cow::Borrowed(line)),
            None => (
                get(Var::Method).map_or(Cow::Borrowed(""), |m| field(m, esc)),
                target(get(Var::Uri), get(Var::Path), get(Var::Query), esc),
                get(Var::Protocol).map_or(Cow::Borrowed(""), |p| field(p, esc)),
            ),
        };
        let status = get(Var::Status)
            .and_then(status)
            .ok_or(ParseError::Bad(Field::Status))?;
        let bytes = match get(Var::BodyBytes).or(get(Var::BytesSent)) {
            Some(b) => size(b).ok_or(ParseError::Bad(Field::Bytes))?,
            None => 0,
        };
        let opt = |var: Var| get(var).and_then(|b| optional(b, esc));
        let record = AccessRecord {
            ts,
            client,
            method,
            target,
            protocol,
            status,
            bytes,
            referer: opt(Var::Referer),
            user_agent: opt(Var::UserAgent),
            vhost: opt(Var::Vhost).or_else(|| opt(Var::HostHeader)),
            user: opt(Var::User),
        };
        Ok((record, get(Var::Xff).map(Cow::Borrowed)))
    }
}

/// The first time stamp the format has, in whatever unit it is written.
fn timestamp(cuts: &[Option<&[u8]>; VARS]) -> Option<chrono::DateTime<chrono::Utc>> {
    let get = |var: Var| cuts[var as usize];
    if let Some(t) = get(Var::TimeClf) {
        time::clf(t)
    } else if let Some(t) = get(Var::TimeBracketed) {
        time::clf(t.strip_prefix(b"[")?.strip_suffix(b"]")?)
    } else if let Some(t) = get(Var::TimeIso) {
        time::iso8601(t)
    } else if let Some(t) = get(Var::Epoch) {
        time::epoch(t)
    } else if let Some(t) = get(Var::EpochMs) {
        time::epoch_units(t, 1_000)
    } else {
        time::epoch_units(get(Var::EpochUs)?, 1_000_000)
    }
}

/// The request-target from `$request_uri`, or put together from a path and a query string
/// (`%U` and `%q`, which carries its `?`; `$uri` and `$args`, which does not).
fn target<'a>(
    uri: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
    query: Option<&'a [u8]>,
    esc: bool,
) -> Cow<'a, str> {
    if let Some(uri) = uri {
        return field(uri, esc);
    }
    let path = path.map_or(Cow::Borrowed(""), |p| field(p, esc));
    match query {
        None | Some(b"" | b"-" | b"?") => path,
        Some(query) => {
            let query = field(query, esc);
            let mark = if query.starts_with('?') { "" } else { "?" };
            Cow::Owned(format!("{path}{mark}{query}"))
        }
    }
}

/// Joins what the servers write as two or three touching variables for one request-target
/// (`$uri$is_args$args`, `%U%q`), and merges touching literals.
fn fuse(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (out.last_mut(), piece) {
            (Some(Piece::Lit(prev)), Piece::Lit(text)) => prev.extend_from_slice(&text),
            (Some(Piece::Var(Var::Path, written)), Piece::Var(Var::IsArgs, more)) => {
                written.push_str(&more);
            }
            (Some(Piece::Var(prev @ Var::Path, written)), Piece::Var(Var::Query, more)) => {
                *prev = Var::Uri;
                written.push_str(&more);
            }
            (_, piece) => out.push(piece),
        }
    }
    out
}

#[cfg(test)]
mod tests;
