//! Byte-level decoders for PHP's string functions, as PHP defines them, so that folded
//! expressions yield what the interpreter would (never executing anything). Every
//! output is bounded by `MAX_DECODED`.

use std::io::Read;

use base64::Engine;

/// No decoded value grows past this: a payload is judged from its first MiB.
pub const MAX_DECODED: usize = 1 << 20;

/// `base64_decode` in PHP's default, lenient mode: characters outside the alphabet are
/// skipped and padding is optional.
pub fn base64(input: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    let whole = clean.len() - clean.len() % 4;
    // A trailing lone character carries no full byte: PHP drops it too.
    let usable = if clean.len() % 4 == 1 {
        whole
    } else {
        clean.len()
    };
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&clean[..usable])
        .ok()
}

pub fn hex(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(2) {
        return None;
    }
    input
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}

pub fn rot13(input: &[u8]) -> Vec<u8> {
    input
        .iter()
        .map(|b| match b {
            b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
            b'A'..=b'Z' => (b - b'A' + 13) % 26 + b'A',
            b => *b,
        })
        .collect()
}

/// `urldecode` turns `+` into a space, `rawurldecode` does not.
pub fn url(input: &[u8], plus_is_space: bool) -> Vec<u8> {
    let spaced: Vec<u8>;
    let input = if plus_is_space {
        spaced = input
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        &spaced[..]
    } else {
        input
    };
    percent_encoding::percent_decode(input).collect()
}

/// The three zlib framings PHP offers: raw deflate (`gzinflate`), zlib
/// (`gzuncompress`) and gzip (`gzdecode`).
#[derive(Debug, Clone, Copy)]
pub enum Compression {
    Deflate,
    Zlib,
    Gzip,
}

pub fn inflate(input: &[u8], framing: Compression) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let limit = MAX_DECODED as u64;
    let read = match framing {
        Compression::Deflate => flate2::read::DeflateDecoder::new(input)
            .take(limit)
            .read_to_end(&mut out),
        Compression::Zlib => flate2::read::ZlibDecoder::new(input)
            .take(limit)
            .read_to_end(&mut out),
        Compression::Gzip => flate2::read::GzDecoder::new(input)
            .take(limit)
            .read_to_end(&mut out),
    };
    // A truncated stream still yields its decoded start, which is what matters.
    (read.is_ok() || !out.is_empty()).then_some(out)
}

/// Whatever framing the bytes carry, by their magic: a gzip header, a zlib header, or
/// raw deflate as a last try.
pub fn inflate_any(input: &[u8]) -> Option<Vec<u8>> {
    if input.starts_with(&[0x1f, 0x8b]) {
        return inflate(input, Compression::Gzip);
    }
    let zlib_header = input.len() >= 2
        && input[0] & 0x0f == 8
        && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0;
    if zlib_header {
        return inflate(input, Compression::Zlib);
    }
    inflate(input, Compression::Deflate).filter(|out| !out.is_empty())
}

/// `convert_uudecode`: lines of a length byte and 4-to-3 groups.
pub fn uudecode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for line in input.split(|b| *b == b'\n') {
        let Some((&count, body)) = line.split_first() else {
            continue;
        };
        let count = usize::from(count.wrapping_sub(b' ') & 0x3f);
        if count == 0 {
            break;
        }
        let sixes: Vec<u8> = body.iter().map(|b| b.wrapping_sub(b' ') & 0x3f).collect();
        let mut line_out = Vec::new();
        for group in sixes.chunks(4) {
            let g = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
            let n = g(0) << 18 | g(1) << 12 | g(2) << 6 | g(3);
            line_out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        }
        line_out.truncate(count);
        out.extend(line_out);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_match_php() {
        assert_eq!(base64(b"c3lzdGVt").unwrap(), b"system");
        assert_eq!(base64(b"c3lz\ndGVt==").unwrap(), b"system");
        assert_eq!(hex(b"73797374656d").unwrap(), b"system");
        assert!(hex(b"7g").is_none());
        assert_eq!(rot13(b"flfgrz"), b"system");
        assert_eq!(url(b"a%20b+c", true), b"a b c");
        assert_eq!(url(b"a%20b+c", false), b"a b+c");
        assert_eq!(uudecode(b"&<WES=&5M\n`\n").unwrap(), b"system");
    }

    #[test]
    fn inflates_each_framing() {
        use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
        use std::io::Write;
        let text = b"<?php system($_GET['c']);";
        let mut raw = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(text).unwrap();
        let raw = raw.finish().unwrap();
        let mut zlib = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(text).unwrap();
        let zlib = zlib.finish().unwrap();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(inflate(&raw, Compression::Deflate).unwrap(), text);
        for packed in [&raw, &zlib, &gz] {
            assert_eq!(inflate_any(packed).unwrap(), text);
        }
        assert!(inflate_any(b"plain text, not deflate").is_none());
    }
}
