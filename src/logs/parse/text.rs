//! Field text shared by every format: quoted fields, backslash escapes, lossy UTF-8, the
//! request line, numbers.

use std::borrow::Cow;

use memchr::{memchr, memchr2, memrchr};

/// Index of the quote that closes a field whose text starts at `b[0]`. With `escapes`, a
/// backslash hides the byte after it (Apache writes `\"`, JSON too; nginx writes `"` as `\x22`).
pub(super) fn closing_quote(b: &[u8], escapes: bool) -> Option<usize> {
    if !escapes {
        return memchr(b'"', b);
    }
    let mut i = 0;
    loop {
        let j = i + memchr2(b'"', b'\\', &b[i..])?;
        if b[j] == b'"' {
            return Some(j);
        }
        i = j + 2;
        if i >= b.len() {
            return None;
        }
    }
}

/// Undoes the escapes web servers write in log fields: nginx `\xHH`, Apache `\"`, `\\`, `\n`,
/// `\xhh`, JSON `\uXXXX`. An unknown or cut escape stays as written.
pub(super) fn unescape(b: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr(b'\\', b) else {
        return Cow::Borrowed(b);
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut next = Some(first);
    while let Some(off) = next {
        let at = i + off;
        out.extend_from_slice(&b[i..at]);
        i = at + 1 + decode_escape(&b[at + 1..], &mut out);
        next = memchr(b'\\', &b[i..]);
    }
    out.extend_from_slice(&b[i..]);
    Cow::Owned(out)
}

/// Decodes the escape after a backslash into `out`; returns how many bytes it used.
fn decode_escape(after: &[u8], out: &mut Vec<u8>) -> usize {
    let simple = match after.first() {
        Some(&c @ (b'"' | b'\\' | b'/' | b'\'')) => Some(c),
        Some(b'n') => Some(b'\n'),
        Some(b'r') => Some(b'\r'),
        Some(b't') => Some(b'\t'),
        Some(b'b') => Some(8),
        Some(b'f') => Some(12),
        Some(b'v') => Some(11),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return 1;
    }
    match after.first() {
        Some(b'x') => {
            if let Some(byte) = after.get(1..3).and_then(hex) {
                out.push(byte as u8);
                return 3;
            }
        }
        Some(b'u') => {
            if let Some(unit) = after.get(1..5).and_then(hex) {
                let low = match after.get(5..7) {
                    Some(b"\\u") => after.get(7..11).and_then(hex),
                    _ => None,
                };
                let (c, used) = match (unit, low) {
                    (0xD800..=0xDBFF, Some(low @ 0xDC00..=0xDFFF)) => {
                        let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        (char::from_u32(c), 11)
                    }
                    _ => (char::from_u32(unit), 5),
                };
                let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return used;
            }
        }
        _ => {}
    }
    out.push(b'\\');
    0
}

fn hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc << 4 | v)
    })
}

/// Bytes as text: borrowed when valid UTF-8, a lossy copy otherwise.
pub(super) fn text(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// A field as text, its escapes undone when the format escapes.
pub(super) fn field(b: &[u8], escapes: bool) -> Cow<'_, str> {
    if escapes {
        text(unescape(b))
    } else {
        text(Cow::Borrowed(b))
    }
}

/// `None` for the `-` (or empty) that servers write for a missing value.
pub(super) fn optional(b: &[u8], escapes: bool) -> Option<Cow<'_, str>> {
    match b {
        b"" | b"-" => None,
        _ => Some(field(b, escapes)),
    }
}

/// Same as [`optional`], for text that is already decoded (JSON).
pub(super) fn optional_text(t: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    t.filter(|t| !matches!(t.as_ref(), "" | "-"))
}

/// Method, target and protocol of a request line.
pub(super) type RequestParts<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// Splits `GET /path?q HTTP/1.1`. A line that is not a request (`-`, TLS bytes, junk) has
/// method and protocol `""` and keeps its whole text as the target (`-` gives `""`).
pub(super) fn request(line: Cow<'_, [u8]>) -> RequestParts<'_> {
    let Some((method, target, protocol)) = request_ranges(&line) else {
        let target = match line.as_ref() {
            b"-" => Cow::Borrowed(""),
            _ => text(line),
        };
        return (Cow::Borrowed(""), target, Cow::Borrowed(""));
    };
    match line {
        Cow::Borrowed(b) => (
            text(Cow::Borrowed(&b[method])),
            text(Cow::Borrowed(&b[target])),
            text(Cow::Borrowed(&b[protocol])),
        ),
        Cow::Owned(v) => {
            let own =
                |r: std::ops::Range<usize>| Cow::Owned(String::from_utf8_lossy(&v[r]).into_owned());
            (own(method), own(target), own(protocol))
        }
    }
}

type Range = std::ops::Range<usize>;

fn request_ranges(b: &[u8]) -> Option<(Range, Range, Range)> {
    let sp = memchr(b' ', b)?;
    let method = &b[..sp];
    let is_method = (1..=24).contains(&method.len())
        && method
            .iter()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, b'-' | b'_'));
    if !is_method {
        return None;
    }
    let start = sp + 1;
    let (end, protocol) = match memrchr(b' ', &b[start..]) {
        Some(last) if b[start + last + 1..].starts_with(b"HTTP/") => {
            (start + last, start + last + 1..b.len())
        }
        _ => (b.len(), b.len()..b.len()),
    };
    Some((0..sp, start..end, protocol))
}

/// An HTTP status: one to three digits.
pub(super) fn status(b: &[u8]) -> Option<u16> {
    if b.is_empty() || b.len() > 3 {
        return None;
    }
    b.iter().try_fold(0u16, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
    })
}

/// A byte count; `-` (Apache's `%b` for an empty body) is 0.
pub(super) fn size(b: &[u8]) -> Option<u64> {
    if b == b"-" {
        return Some(0);
    }
    number(b)
}

/// Decimal digits only, no sign, no overflow.
pub(super) fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_of_every_server_are_undone() {
        assert_eq!(unescape(br"a\x22b\x5Cc"), &b"a\"b\\c"[..]);
        assert_eq!(unescape(br#"say \"hi\"\n"#), &b"say \"hi\"\n"[..]);
        assert_eq!(
            unescape(br"\u0001\u00e9\ud83d\ude00"),
            "\u{1}é😀".as_bytes()
        );
        assert_eq!(unescape(br"cut \x4"), &br"cut \x4"[..]);
        assert_eq!(unescape(br"end\"), &br"end\"[..]);
        assert!(matches!(unescape(b"plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn quoted_field_ends_at_an_unescaped_quote() {
        assert_eq!(closing_quote(br#"a \"b\" c" x"#, true), Some(9));
        assert_eq!(closing_quote(br#"a \"#, true), None);
        assert_eq!(closing_quote(br#"a \" b"#, false), Some(3));
    }

    #[test]
    fn request_lines_split_or_stay_whole() {
        let (m, t, p) = request(Cow::Borrowed(b"GET /a b?c HTTP/1.1"));
        assert_eq!((&*m, &*t, &*p), ("GET", "/a b?c", "HTTP/1.1"));
        let (m, t, p) = request(Cow::Borrowed(b"GET /"));
        assert_eq!((&*m, &*t, &*p), ("GET", "/", ""));
        let (m, t, p) = request(Cow::Borrowed(b"-"));
        assert_eq!((&*m, &*t, &*p), ("", "", ""));
        let (m, t, _) = request(unescape(br"\x16\x03\x01\x00\xA5 x"));
        assert_eq!((&*m, &*t), ("", "\u{16}\u{3}\u{1}\u{0}\u{FFFD} x"));
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(status(b"404"), Some(404));
        assert_eq!(status(b"4040"), None);
        assert_eq!(status(b"-"), None);
        assert_eq!(size(b"-"), Some(0));
        assert_eq!(size(b"18446744073709551616"), None);
        assert_eq!(number(b"12a"), None);
    }
}
