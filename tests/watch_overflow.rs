//! A forced inotify queue overflow: nothing may be missed for good, nothing reported
//! twice. In its own test binary because it lowers a system-wide setting.

mod common;

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use common::*;

const QUEUE_SETTING: &str = "/proc/sys/fs/inotify/max_queued_events";

/// Lowers `fs.inotify.max_queued_events` while alive (the limit is taken when an inotify
/// instance is created), restoring it on drop. `None` when not allowed (not root).
struct LowQueue(String);

impl LowQueue {
    fn set(events: u32) -> Option<LowQueue> {
        let old = fs::read_to_string(QUEUE_SETTING).ok()?;
        fs::write(QUEUE_SETTING, events.to_string()).ok()?;
        Some(LowQueue(old))
    }
}

impl Drop for LowQueue {
    fn drop(&mut self) {
        let _ = fs::write(QUEUE_SETTING, self.0.trim());
    }
}

#[test]
fn a_burst_through_an_overflowing_queue_is_reported_exactly_once() {
    let env = Env::new();
    env.init();
    let low = LowQueue::set(64);
    let lowered = low.is_some();
    if !lowered {
        eprintln!(
            "note: cannot lower {QUEUE_SETTING} here; the burst runs without a forced overflow"
        );
    }
    let mut d = Daemon::start_logged(&env, &[]);
    drop(low);

    const FILES: usize = 3000;
    let existing = env.path("sub");
    let fresh = env.path("fresh");
    fs::create_dir(&fresh).unwrap();
    let mut expected = Vec::new();
    for i in 0..FILES {
        for dir in [&existing, &fresh] {
            let path = dir.join(format!("burst-{i}.php"));
            fs::write(&path, format!("<?php {i}")).unwrap();
            expected.push(path.to_str().unwrap().to_owned());
        }
    }
    let start = Instant::now();
    let mut counts: HashMap<String, usize> = HashMap::new();
    while start.elapsed() < Duration::from_secs(60) {
        counts.clear();
        for e in d.drain() {
            if e["kind"] == "new" {
                *counts
                    .entry(e["path"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        if expected.iter().all(|p| counts.contains_key(p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let missing: Vec<_> = expected
        .iter()
        .filter(|p| !counts.contains_key(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} missed, e.g. {:?}",
        missing.len(),
        expected.len(),
        missing.first()
    );
    // Let any rescans still queued finish, then check nothing was reported twice.
    std::thread::sleep(Duration::from_millis(1500));
    counts.clear();
    for e in d.drain() {
        if e["kind"] == "new" {
            *counts
                .entry(e["path"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "reported more than once: {twice:?}");
    if lowered {
        let statuses = d.statuses();
        assert!(
            statuses.iter().any(|s| !s.ends_with(" 0 overflows")),
            "the queue never overflowed, the test proved nothing: {statuses:?}"
        );
        // Logged at the default level, with the count.
        d.expect_log("inotify queue overflowed");
    }
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);
}
