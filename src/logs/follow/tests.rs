//! The follower on real files: appends, partial lines, both kinds of rotation, a
//! restart from saved cursors (also across a rotation and compression while stopped),
//! a reused inode, globs and late files.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::{Cursor, Follower};

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn lines(n: std::ops::Range<u32>) -> String {
    n.map(|i| format!("line {i}\n")).collect()
}

/// Poll and return the lines read (without newlines) with their file names.
fn poll(f: &mut Follower) -> Vec<String> {
    let mut out = Vec::new();
    f.poll(&mut |line| {
        out.push(String::from_utf8_lossy(line.bytes).trim_end().to_owned());
    });
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    out
}

fn expect(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

fn follower_of(pattern: &Path, saved: HashMap<String, Cursor>) -> Follower {
    Follower::new(vec![(pattern.to_string_lossy().into_owned(), 0)], saved)
}

/// A follower as `fim init` leaves it: the log taken at its end.
fn started(pattern: &Path) -> HashMap<String, Cursor> {
    let mut f = follower_of(pattern, HashMap::new());
    f.skip_to_end();
    f.cursors().into_iter().collect()
}

#[test]
fn appends_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines(0..3));
    let mut f = follower_of(&log, started(&log));
    assert!(
        poll(&mut f).is_empty(),
        "what was there at init is not read"
    );
    append(&log, &lines(3..5));
    append(&log, "line 5 is not fin");
    assert_eq!(poll(&mut f), expect(3..5));
    append(&log, "ished\n");
    assert_eq!(poll(&mut f), vec!["line 5 is not finished"]);
}

#[test]
fn rename_and_create_rotation_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let mut f = follower_of(&log, started(&log));
    append(&log, &lines(0..10));
    assert_eq!(poll(&mut f), expect(0..10));
    // The server still writes into the renamed file before it reopens its log.
    append(&log, &lines(10..12));
    fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&dir.path().join("access.log.1"), &lines(12..14));
    append(&log, &lines(14..20));
    assert_eq!(poll(&mut f), expect(10..20));
    append(&log, &lines(20..21));
    assert_eq!(poll(&mut f), expect(20..21));
    // Until its USR1, nginx writes on into the renamed file, after the new log was
    // read: those lines are read too, once.
    append(&dir.path().join("access.log.1"), &lines(21..23));
    append(&log, &lines(23..24));
    assert_eq!(poll(&mut f), expect(21..24));
    assert!(poll(&mut f).is_empty());
}

/// A FIFO (or a device) put where a log is expected is refused with a warning: opening
/// it would block the daemon, SIGTERM and all, until a writer came.
#[test]
fn a_fifo_in_place_of_a_log_is_refused_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &log,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let mut f = follower_of(&log, started(&log));
    f.poll(&mut |_| panic!("nothing to read"));
    assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    assert!(
        f.warnings[0].contains("access.log: not a regular file (it is a fifo)"),
        "{:?}",
        f.warnings
    );
}

#[test]
fn copytruncate_reads_the_copy_then_the_log_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines(0..2));
    let mut f = follower_of(&log, started(&log));
    append(&log, &lines(2..5));
    assert_eq!(poll(&mut f), expect(2..5));
    append(&log, &lines(5..7));
    fs::copy(&log, dir.path().join("access.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &lines(7..9));
    assert_eq!(poll(&mut f), expect(5..9));
    // Cut again, and refilled past the old end before the next look.
    fs::copy(&log, dir.path().join("access.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &lines(10..13));
    assert_eq!(poll(&mut f), expect(10..13));
}

#[test]
fn a_restart_resumes_exactly_also_across_rotation_and_compression() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let mut f = follower_of(&log, started(&log));
    append(&log, &lines(0..5));
    assert_eq!(poll(&mut f), expect(0..5));
    let saved: HashMap<String, Cursor> = f.cursors().into_iter().collect();
    drop(f);

    // While stopped: more lines, a rotation, and the old file compressed.
    append(&log, &lines(5..8));
    let rotated = dir.path().join("access.log.1");
    fs::rename(&log, &rotated).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(dir.path().join("access.log.1.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&fs::read(&rotated).unwrap()).unwrap();
    gz.finish().unwrap();
    fs::remove_file(&rotated).unwrap();
    append(&log, &lines(8..10));

    let mut f = follower_of(&log, saved);
    assert_eq!(poll(&mut f), expect(5..10));
    let saved: HashMap<String, Cursor> = f.cursors().into_iter().collect();
    let mut again = follower_of(&log, saved);
    assert!(poll(&mut again).is_empty(), "nothing is read twice");
}

#[test]
fn a_replaced_log_with_other_content_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines(0..3));
    let saved = started(&log);
    // Same inode, other content, longer than before: the fingerprint tells.
    let text: String = (0..6).map(|i| format!("other {i}\n")).collect();
    fs::write(&log, text).unwrap();
    let mut f = follower_of(&log, saved);
    let read = poll(&mut f);
    assert_eq!(read.len(), 6, "{read:?}");
    assert_eq!(read[0], "other 0");
}

#[test]
fn late_files_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("later.log");
    let pattern = dir.path().join("*.log");
    append(&dir.path().join("a.log"), &lines(0..2));
    let mut saved = started(&missing);
    saved.extend(started(&pattern));
    let mut late = follower_of(&missing, saved.clone());
    let mut glob = follower_of(&pattern, saved);
    assert!(poll(&mut late).is_empty());
    assert!(poll(&mut glob).is_empty());
    append(&missing, &lines(0..2));
    assert_eq!(
        poll(&mut late),
        expect(0..2),
        "a log that appears is read from its start"
    );
    append(&dir.path().join("b.log"), &lines(5..7));
    append(&dir.path().join("a.log.1"), &lines(9..10));
    let mut read = poll(&mut glob);
    read.sort();
    // later.log matches the glob too; rotated copies do not.
    assert_eq!(read, vec!["line 0", "line 1", "line 5", "line 6"]);
}

#[test]
fn huge_and_non_utf8_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let mut f = follower_of(&log, started(&log));
    let mut big = "x".repeat(3 << 20);
    big.push('\n');
    append(&log, &big);
    append(&log, "after\n");
    OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"\xff\xfe bytes\n")
        .unwrap();
    let read = poll(&mut f);
    assert_eq!(read.len(), 3);
    assert_eq!(read[0].len(), super::MAX_LINE);
    assert_eq!(read[1], "after");
    assert!(read[2].ends_with(" bytes"));
}

#[test]
fn an_unreadable_log_is_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines(0..1));
    let mut f = follower_of(&log, started(&log));
    // A folder where the log was: it cannot be read, poll after poll.
    fs::remove_file(&log).unwrap();
    fs::create_dir(&log).unwrap();
    let mut warnings = 0;
    for _ in 0..3 {
        f.poll(&mut |_| {});
        warnings += f.warnings.drain(..).count();
    }
    assert_eq!(warnings, 1);
    fs::remove_dir(&log).unwrap();
    append(&log, &lines(1..2));
    assert_eq!(poll(&mut f), expect(1..2), "read again once it is a log");
}
