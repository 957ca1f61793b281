//! The two servers' spellings of a log format, read into [`Piece`]s: nginx `log_format`
//! (`$variable`, `${variable}`, quoted strings joined, `escape=`) and Apache `LogFormat`
//! (`%h`, `%>s`, `%{Referer}i`, `\"` for a quote in the config).

use super::{Piece, Var};
use crate::logs::parse::FormatError;

/// The pieces of a format and whether its fields are escaped.
pub(super) fn read(text: &str) -> Result<(Vec<Piece>, bool), FormatError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FormatError::Empty);
    }
    if let Some(rest) = after_word(text, "log_format") {
        let (mut tokens, _) = nginx_tokens(rest)?;
        if tokens.is_empty() {
            return Err(FormatError::Missing("name after log_format"));
        }
        tokens.remove(0);
        return nginx(tokens);
    }
    if let Some(rest) = after_word(text, "LogFormat") {
        let rest = rest.trim();
        let format = match apache_quoted(rest)? {
            Some(format) => format,
            None => rest.split_whitespace().next().unwrap_or("").to_owned(),
        };
        return Ok((apache(&format)?, true));
    }
    if text.starts_with("escape=") || looks_nginx(text) {
        let mut tokens = Vec::new();
        let mut format = text;
        if let Some((escape, rest)) = text.split_once(char::is_whitespace) {
            if escape.starts_with("escape=") {
                tokens.push(escape.to_owned());
                format = rest.trim_start();
            }
        }
        tokens.extend(nginx_strings(format)?);
        return nginx(tokens);
    }
    if text.contains('%') {
        let format = match apache_quoted(text)? {
            Some(format) => format,
            None => unquote_config(text),
        };
        return Ok((apache(&format)?, true));
    }
    Err(FormatError::Unknown(text.to_owned()))
}

/// The text after a leading directive name (`log_format main …` → `main …`).
fn after_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && rest.starts_with(char::is_whitespace)).then_some(rest)
}

fn looks_nginx(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'$' && (w[1].is_ascii_alphabetic() || w[1] == b'_' || w[1] == b'{'))
}

/// The format strings of a `log_format` pasted without the directive: `'…' '…';` is read with
/// nginx's token rules only when it is all quoted strings, as in a config; otherwise the text is
/// the format itself (`"$request" $status …` starts with a quote but is not one).
fn nginx_strings(text: &str) -> Result<Vec<String>, FormatError> {
    if text.starts_with(['\'', '"']) {
        if let Ok((tokens, true)) = nginx_tokens(text) {
            return Ok(tokens);
        }
    }
    Ok(vec![text.to_owned()])
}

/// nginx's own token rules: quoted strings (`'…'`, `"…"`, with `\'`, `\"`, `\\`, `\n`, `\t`,
/// `\r`) or bare words, up to the `;` that ends the directive; and whether all were quoted.
fn nginx_tokens(text: &str) -> Result<(Vec<String>, bool), FormatError> {
    let mut tokens = Vec::new();
    let mut all_quoted = true;
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        if first == ';' {
            break;
        }
        let mut token = String::new();
        if first == '\'' || first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(FormatError::Unterminated("quoted string")),
                    Some(c) if c == first => break,
                    Some('\\') => match chars.next() {
                        Some('n') => token.push('\n'),
                        Some('t') => token.push('\t'),
                        Some('r') => token.push('\r'),
                        Some(c @ ('\'' | '"' | '\\')) => token.push(c),
                        Some(c) => {
                            token.push('\\');
                            token.push(c);
                        }
                        None => return Err(FormatError::Unterminated("quoted string")),
                    },
                    Some(c) => token.push(c),
                }
            }
        } else {
            all_quoted = false;
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != ';') {
                token.push(c);
            }
        }
        tokens.push(token);
    }
    Ok((tokens, all_quoted))
}

/// `[escape=…] string…` of a `log_format`: the strings are joined, as nginx does.
fn nginx(tokens: Vec<String>) -> Result<(Vec<Piece>, bool), FormatError> {
    let mut tokens = tokens.into_iter().peekable();
    let mut escapes = true;
    if let Some(mode) = tokens.next_if(|t| t.starts_with("escape=")) {
        escapes = match &mode["escape=".len()..] {
            "default" | "json" => true,
            "none" => false,
            other => return Err(FormatError::Escape(other.to_owned())),
        };
    }
    let format: String = tokens.collect();
    if format.is_empty() {
        return Err(FormatError::Empty);
    }
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = format.as_str();
    while let Some(dollar) = rest.find('$') {
        lit.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            let close = braced
                .find('}')
                .ok_or(FormatError::Unterminated("${ in the nginx log_format"))?;
            (&braced[..close], close + 2)
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..len], len)
        };
        if name.is_empty() {
            lit.push('$');
        } else {
            push_lit(&mut pieces, &mut lit);
            pieces.push(Piece::Var(nginx_var(name), format!("${name}")));
        }
        rest = &after[used..];
    }
    lit.push_str(rest);
    push_lit(&mut pieces, &mut lit);
    Ok((pieces, escapes))
}

fn nginx_var(name: &str) -> Var {
    match name {
        "remote_addr" => Var::Client,
        "remote_user" => Var::User,
        "time_local" => Var::TimeClf,
        "time_iso8601" => Var::TimeIso,
        "msec" => Var::Epoch,
        "request" => Var::Request,
        "request_method" => Var::Method,
        "request_uri" => Var::Uri,
        "uri" | "document_uri" => Var::Path,
        "args" | "query_string" => Var::Query,
        "is_args" => Var::IsArgs,
        "server_protocol" => Var::Protocol,
        "status" => Var::Status,
        "body_bytes_sent" => Var::BodyBytes,
        "bytes_sent" => Var::BytesSent,
        "http_referer" => Var::Referer,
        "http_user_agent" => Var::UserAgent,
        "http_x_forwarded_for" => Var::Xff,
        "host" | "server_name" => Var::Vhost,
        "http_host" => Var::HostHeader,
        _ => Var::Other,
    }
}

fn push_lit(pieces: &mut Vec<Piece>, lit: &mut String) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit).into_bytes()));
    }
}

/// The format of `"…" [nickname]` (a `LogFormat` line without or after its directive), its `\"`
/// undone; `None` when the text is not one quoted string and at most a nickname (then it is a
/// format that merely starts with a quote: `"%r" %>s %h …`).
fn apache_quoted(text: &str) -> Result<Option<String>, FormatError> {
    let Some(quoted) = text.strip_prefix('"') else {
        return Ok(None);
    };
    let mut end = None;
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.ok_or(FormatError::Unterminated("quoted LogFormat string"))?;
    let after = quoted[end + 1..].trim();
    let nickname =
        after.is_empty() || !(after.contains(char::is_whitespace) || after.contains('%'));
    Ok(nickname.then(|| unquote_config(&quoted[..end])))
}

/// Apache's config escapes: `\"` is a quote, `\\` a backslash, `\n` and `\t` what they say.
fn unquote_config(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(c @ ('"' | '\\')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `%h %l %u %t \"%r\" %>s %b …`: `%` with optional `<`/`>`, `!` and status-code conditions,
/// an optional `{argument}`, then the directive letter.
fn apache(format: &str) -> Result<Vec<Piece>, FormatError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = format.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if chars.next_if(|&(_, c)| c == '%').is_some() {
            lit.push('%');
            continue;
        }
        while chars
            .next_if(|&(_, c)| matches!(c, '<' | '>' | '!' | ',') || c.is_ascii_digit())
            .is_some()
        {}
        let mut arg = None;
        if chars.next_if(|&(_, c)| c == '{').is_some() {
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some((_, '}')) => break,
                    Some((_, c)) => text.push(c),
                    None => return Err(FormatError::Unterminated("%{ in the Apache LogFormat")),
                }
            }
            arg = Some(text);
        }
        let Some((at, letter)) = chars.next() else {
            return Err(FormatError::Directive(format[start..].to_owned()));
        };
        let mut end = at + letter.len_utf8();
        if letter == '^' {
            // `%{Name}^ti` / `^to`: trailer fields, two letters.
            for _ in 0..2 {
                end += chars.next().map_or(0, |(_, c)| c.len_utf8());
            }
        }
        let written = &format[start..end];
        let var = apache_var(letter, arg.as_deref(), written)?;
        push_lit(&mut pieces, &mut lit);
        pieces.push(Piece::Var(var, written.to_owned()));
    }
    push_lit(&mut pieces, &mut lit);
    Ok(pieces)
}

fn apache_var(letter: char, arg: Option<&str>, written: &str) -> Result<Var, FormatError> {
    Ok(match (letter, arg) {
        ('h', _) => Var::RemoteHost,
        ('a', Some("c")) => Var::Other,
        ('a', _) => Var::Client,
        ('u', _) => Var::User,
        ('t', None) => Var::TimeBracketed,
        ('t', Some(arg)) => {
            let unit = arg
                .strip_prefix("begin:")
                .or_else(|| arg.strip_prefix("end:"))
                .unwrap_or(arg);
            match unit {
                "sec" => Var::Epoch,
                "msec" => Var::EpochMs,
                "usec" => Var::EpochUs,
                "msec_frac" | "usec_frac" => Var::Other,
                _ => return Err(FormatError::TimeFormat(arg.to_owned())),
            }
        }
        ('r', _) => Var::Request,
        ('m', _) => Var::Method,
        ('U', _) => Var::Path,
        ('q', _) => Var::Query,
        ('H', _) => Var::Protocol,
        ('s', _) => Var::Status,
        ('b' | 'B', _) => Var::BodyBytes,
        ('O', _) => Var::BytesSent,
        ('v' | 'V', _) => Var::Vhost,
        ('i', Some(header)) => match header.to_ascii_lowercase().as_str() {
            "referer" => Var::Referer,
            "user-agent" => Var::UserAgent,
            "x-forwarded-for" => Var::Xff,
            "host" => Var::HostHeader,
            _ => Var::Other,
        },
        ('o' | 'e' | 'n' | 'C' | 'x' | '^', Some(_)) => Var::Other,
        ('A' | 'l' | 'D' | 'T' | 'I' | 'S' | 'k' | 'L' | 'P' | 'R' | 'X' | 'f' | 'p', _) => {
            Var::Other
        }
        _ => return Err(FormatError::Directive(written.to_owned())),
    })
}
