//! Debian version comparison, as dpkg does it (`lib/dpkg/version.c`): the epoch as a
//! number, then the upstream version and the revision each by `verrevcmp`. Written
//! here rather than taken from a crate: the algorithm is twenty lines, and the crates
//! that have it (`debversion`) bring regex-based parsing and more dependencies for it.

use std::cmp::Ordering;

/// A version as dpkg splits it: `[epoch:]upstream[-revision]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    epoch: u64,
    upstream: &'a [u8],
    revision: &'a [u8],
}

fn parts(version: &str) -> Parts<'_> {
    let version = version.trim();
    let (epoch, rest) = match version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, version),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    Parts {
        epoch,
        upstream: upstream.as_bytes(),
        revision: revision.as_bytes(),
    }
}

/// Compare two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parts(a), parts(b));
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// The weight of a non-digit character: `~` sorts before everything, even the end of
/// the string; letters before the other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let digit = |s: &[u8], i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::{self, Equal, Greater, Less};

    fn check(vectors: &[(&str, &str, Ordering)]) {
        for (a, b, expected) in vectors {
            assert_eq!(compare(a, b), *expected, "{a} vs {b}");
            assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    /// dpkg's own vectors (`lib/dpkg/t/t-version.c`, `test_version_compare`).
    #[test]
    fn dpkg_vectors() {
        check(&[
            ("0:0-0", "0:0-0", Equal),
            ("0:0-0", "0:0", Equal),
            ("0:0", "0:0", Equal),
            ("0:0-00", "0:00-0", Equal),
            ("1:2-3", "1:2-3", Equal),
            ("0:4-5", "0:4-5", Equal),
            ("1:2-3", "2:2-3", Less),
            ("0:4-5", "1:4-5", Less),
            ("0:1-0", "0:2-0", Less),
            ("0:1-0", "0:0-0", Greater),
            ("0:0-1", "0:0-2", Less),
            ("0:1-1", "0:1-0", Greater),
            ("0:0-1", "0:0-0", Greater),
            ("0:a-0", "0:b-0", Less),
            ("0:b-0", "0:a-0", Greater),
            ("0:0-a", "0:0-b", Less),
            ("0:0-b", "0:0-a", Greater),
            ("0:1.2-3", "0:1.2-3", Equal),
            ("1:1.2-3", "0:1.2-3", Greater),
            ("0:1.2-4", "0:1.2-3", Greater),
            ("0:1.2.3-1", "0:1.2-3", Greater),
            ("0:1.2~rc1-1", "0:1.2-1", Less),
        ]);
    }

    /// Debian Policy §5.6.12: `~` sorts before anything, even the end of a part.
    #[test]
    fn tildes_sort_first() {
        check(&[
            ("1.0~~", "1.0~~a", Less),
            ("1.0~~a", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("2.0~beta1", "1.9", Greater),
        ]);
    }

    #[test]
    fn epochs_revisions_and_security_suffixes() {
        check(&[
            ("1:0.9", "2.0", Greater),
            ("2:1", "1:9", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0", "1.0-1", Less),
            ("1.0-0", "1.0", Equal),
            ("1.002", "1.2", Equal),
            ("10", "9", Greater),
            ("1.0.0", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("7.6p2-4", "7.6-0", Greater),
            ("1.22.1-9", "1.22.1-9+deb12u2", Less),
            ("1.22.1-9+deb12u1", "1.22.1-9+deb12u2", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("2.30-1ubuntu1", "2.30-1ubuntu1.1", Less),
            ("1:9.18.28-1~deb12u2", "1:9.18.33-1~deb12u2", Less),
            ("1.2-3-4", "1.2-3-5", Less),
        ]);
    }
}
