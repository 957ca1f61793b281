//! Encoded payloads in a script's text: long base64 runs, hex escapes, and packed
//! code (near-random text on very long lines).

use std::ops::Range;

use crate::policy::Severity;

use super::Sample;

/// Why a script's sample looks like it carries an encoded payload.
pub fn assess(sample: &Sample, add: &mut impl FnMut(String, Severity)) {
    let content = [sample.head, sample.tail];
    if content
        .iter()
        .any(|c| long_runs(c, is_base64, LONG_BASE64).next().is_some())
    {
        add("long base64 run in a script".into(), Severity::High);
    }
    if content
        .iter()
        .any(|c| longest_hex_escapes(c) >= LONG_HEX_ESCAPES)
    {
        add("long run of hex escapes in a script".into(), Severity::High);
    }
    if looks_obfuscated(sample.head) {
        add(
            "obfuscated code (high entropy, very long lines)".into(),
            Severity::High,
        );
    }
}

/// A base64 run this long in a script is a hidden payload (a data URI of an icon is
/// far shorter).
const LONG_BASE64: usize = 4000;
/// `\x41\x42...` escapes in a row.
const LONG_HEX_ESCAPES: usize = 200;

pub(super) fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// The maximal runs of at least `min` bytes for which `member` holds, in order. Until
/// one is found only every `min`th byte is looked at: a run that long covers one of
/// them, and most content (code, text) is short words.
pub(super) fn long_runs<'a>(
    bytes: &'a [u8],
    member: impl Fn(u8) -> bool + 'a,
    min: usize,
) -> impl Iterator<Item = Range<usize>> + 'a {
    let min = min.max(1);
    // No run of `min` starts before `at`, and `bytes[at - 1]` is no member.
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(&probe) = bytes.get(at + min - 1) {
            let probe_at = at + min - 1;
            if !member(probe) {
                at = probe_at + 1;
                continue;
            }
            let start = bytes[at..probe_at]
                .iter()
                .rposition(|b| !member(*b))
                .map_or(at, |n| at + n + 1);
            let end = bytes[probe_at..]
                .iter()
                .position(|b| !member(*b))
                .map_or(bytes.len(), |n| probe_at + n);
            at = end;
            if end - start >= min {
                return Some(start..end);
            }
        }
        None
    })
}

/// The longest run of `\x41\x42...` escapes in a row.
fn longest_hex_escapes(bytes: &[u8]) -> usize {
    let (mut best, mut run, mut run_end) = (0, 0, None);
    for at in memchr::memchr_iter(b'\\', bytes) {
        let escape = bytes.get(at..at + 4).is_some_and(|e| {
            e[1].eq_ignore_ascii_case(&b'x') && e[2].is_ascii_hexdigit() && e[3].is_ascii_hexdigit()
        });
        if escape {
            run = if run_end == Some(at) { run + 1 } else { 1 };
            run_end = Some(at + 4);
            best = best.max(run);
        }
    }
    best
}

/// Packed, encoded payloads read as near-random text on very long lines; source code,
/// even minified, does not.
fn looks_obfuscated(head: &[u8]) -> bool {
    let ends = memchr::memchr_iter(b'\n', head).chain([head.len()]);
    let longest_line = ends
        .scan(0, |start, end| {
            let len = end - *start;
            *start = end + 1;
            Some(len)
        })
        .max()
        .unwrap_or(0);
    longest_line >= 1000 && entropy(head) > 5.6
}

fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_runs_are_every_maximal_run_of_the_length() {
        let naive = |bytes: &[u8], min: usize| {
            let mut runs = Vec::new();
            let mut start = None;
            for (at, b) in bytes.iter().chain([&b' ']).enumerate() {
                match (is_base64(*b), start) {
                    (true, None) => start = Some(at),
                    (false, Some(s)) => {
                        if at - s >= min {
                            runs.push(s..at);
                        }
                        start = None;
                    }
                    _ => {}
                }
            }
            runs
        };
        let text = b"ab cdefgh ij klmnopqrstu vwx yzABCDEFGHIJ  K LMNOPQRSTUVWXYZ0123 4 56789";
        for min in 1..30 {
            for cut in [0, 1, 5, 17] {
                let bytes = &text[cut..];
                let fast: Vec<_> = long_runs(bytes, is_base64, min).collect();
                assert_eq!(fast, naive(bytes, min), "min {min} cut {cut}");
            }
        }
        assert_eq!(longest_hex_escapes(br"x\x41\x42\x43 \x44\x45\\x46"), 3);
    }
}
