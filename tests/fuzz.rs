//! Property-based fuzzing of the two parsers of untrusted input: the policy (TOML)
//! and the baseline reader (SQLite files edited or corrupted by anyone). Neither may
//! panic or hang; every failure is an error with a one-line message. CI runs the
//! default number of cases; run longer with e.g. `PROPTEST_CASES=100000 cargo test
//! --release --test fuzz`.

use std::path::Path;

use proptest::prelude::*;

use fim::fs::{Attrs, Entry, FileType, Timestamp};
use fim::policy::Policy;
use fim::store::{Baseline, Meta, NewBaseline, SealCheck};

const VALID: &str = r#"include = []
default_severity = "high"
rescan_interval = "30m"
[vars]
root = "/srv/www"
[heuristics]
enabled = true
web_users = ["www-data"]
[[watch]]
path = "${root}"
exclude = ["cache/**", "!cache/**/*.php", "**/*.log"]
ignore = ["mtime"]
[[rule]]
name = "code"
paths = ["**/*.{php,inc}", "/etc/*"]
kinds = ["new", "modified"]
severity = "critical"
ignore = ["ctime"]
[[signature]]
id = "x"
description = "y"
pattern = '(?i)eval\s*\('
files = ["*.php"]
"#;

fn assert_clean_error(result: Result<Policy, fim::Error>) {
    if let Err(e) = result {
        let message = e.to_string();
        assert!(!message.is_empty());
        assert!(!message.contains('\n'), "multi-line error: {message:?}");
    }
}

fn mutate(text: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, op, c) in edits {
        if chars.is_empty() {
            chars.push(c);
            continue;
        }
        let at = at % chars.len();
        match op % 3 {
            0 => chars[at] = c,
            1 => chars.insert(at, c),
            _ => {
                chars.remove(at);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #[test]
    fn policy_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        assert_clean_error(Policy::parse(&text, Path::new("fuzz.toml")));
    }

    #[test]
    fn policy_parser_never_panics_on_mutated_policies(
        edits in prop::collection::vec(
            (any::<usize>(), any::<u8>(), prop::sample::select(vec!['"', '\'', '[', ']', '{', '}', '=', '\n', '*', '!', '$', '/', '\\', ',', '#', 'a', '.', '?', '(', '\0'])),
            1..8,
        )
    ) {
        assert_clean_error(Policy::parse(&mutate(VALID, &edits), Path::new("fuzz.toml")));
    }
}

fn entry(i: u64) -> Entry {
    Entry {
        path: format!("/srv/www/f{i}").into_bytes(),
        attrs: Attrs {
            file_type: FileType::File,
            size: i,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: Timestamp { sec: 1, nsec: 2 },
            ctime: Timestamp { sec: 3, nsec: 4 },
            inode: i,
            nlink: 1,
            target: None,
            xattrs: vec![(b"user.a".to_vec(), b"b".to_vec())],
            blake3: Some([i as u8; 32]),
        },
    }
}

/// A valid baseline's bytes.
fn template() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let meta = Meta {
        policy: "[[watch]]\npath = \"/srv/www\"\n".into(),
        host: "h".into(),
        fim_version: "0".into(),
        created: "2026-01-01T00:00:00.000Z".into(),
    };
    let mut new = NewBaseline::create(&db, false, &meta).unwrap();
    for i in 0..40 {
        new.insert(&entry(i)).unwrap();
    }
    new.finish(None).unwrap();
    std::fs::read(&db).unwrap()
}

/// Open and read a baseline file: an error is fine, a panic is not.
fn read_baseline(bytes: &[u8]) -> Option<fim::Error> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    std::fs::write(&db, bytes).unwrap();
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let opened = Baseline::open(&db).and_then(|b| {
        b.recorded_policy()?;
        b.load_entries(&SealCheck::Digest)
    });
    opened.err()
}

proptest! {
    // Each case writes and opens a database: fewer by default, PROPTEST_CASES for more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn baseline_reader_never_panics_on_random_files(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        read_baseline(&bytes);
    }

    #[test]
    fn baseline_reader_never_panics_on_corrupted_baselines(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..16)
    ) {
        let mut bytes = template();
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        read_baseline(&bytes);
    }

    #[test]
    fn edited_rows_fail_the_check_without_panicking(
        column in prop::sample::select(vec!["path", "type", "size", "mode", "uid", "mtime_ns", "inode", "target", "xattrs", "blake3"]),
        value in prop::sample::select(vec!["NULL", "-1", "9223372036854775807", "'text'", "x''", "x'00ff'", "zeroblob(32)", "x'0100000041'", "4.5"]),
        row in 0u64..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        std::fs::write(&db, template()).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        let statement = format!("UPDATE entries SET {column} = {value} WHERE path = CAST('/srv/www/f{row}' AS BLOB)");
        // Constraint violations (NOT NULL, duplicate key) leave the file unchanged.
        let changed = conn.execute_batch(&statement).is_ok();
        drop(conn);
        let error = read_baseline(&std::fs::read(&db).unwrap());
        if changed {
            let unchanged_value = matches!((column, value), ("target", "NULL"));
            prop_assert!(
                unchanged_value || matches!(error, Some(fim::Error::Integrity { .. })),
                "{statement}: {error:?}"
            );
        }
    }
}
