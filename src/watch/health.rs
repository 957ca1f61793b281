//! The daemon's view of itself: the periodic health line for the log, and the
//! process resources it keeps an eye on (memory, the inotify watch limit).

use std::time::{Duration, Instant};

/// The periodic one-line health summary: the status, what happened since the previous
/// summary, and the memory in use.
pub struct Health {
    every: Option<Duration>,
    next: Option<Instant>,
    /// Events reported and overflows at the previous summary.
    base: (u64, u64),
}

impl Health {
    /// Every `every`, or never.
    pub fn new(every: Option<Duration>) -> Health {
        Health {
            every,
            next: every.map(|every| Instant::now() + every),
            base: (0, 0),
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    pub fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|at| now >= at)
    }

    /// Log the summary (`reported` and `overflows` are the totals so far).
    pub fn log(&mut self, now: Instant, status: &str, reported: u64, overflows: u64) {
        let Some(every) = self.every else {
            return;
        };
        let rss = rss_mb().map_or(String::new(), |mb| format!("; RSS {mb} MB"));
        tracing::info!(
            "health: {status}; in the last {}: {} events, {} overflows{rss}",
            humantime::format_duration(every),
            reported - self.base.0,
            overflows - self.base.1
        );
        self.base = (reported, overflows);
        self.next = Some(now + every);
    }
}

/// Resident memory, from /proc.
fn rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb >> 10)
}

// The allocator's own functions (mimalloc is the binary's global allocator; linked
// through the `mimalloc` crate).
extern "C" {
    fn mi_collect(force: bool);
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t`.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
/// The allocator's own purge delay in the daemon (its arenas wait ten times longer).
const PURGE_DELAY_MS: std::ffi::c_long = 60_000;

/// mimalloc hands freed memory back to the system (`madvise`) from whichever thread
/// allocates first once a delay has passed: in the daemon, mostly the look at the
/// next change, which then paid some twenty `madvise` calls (the first event after
/// READY took about 1 ms more than the others for it). The daemon hands memory back
/// itself when it is idle (`release_free_memory`); the allocator's timer only backs
/// it up.
pub fn purge_freed_memory_when_idle() {
    // SAFETY: sets an integer option; mimalloc reads its options at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

/// Hand the memory freed since (a full scan's transient buffers, a large file's
/// content) back to the system: mimalloc's, and glibc's (SQLite allocates through
/// it), whose arenas otherwise keep it for the daemon's lifetime.
pub fn release_free_memory() {
    // SAFETY: mi_collect only frees the allocator's unused pages; it takes no pointers.
    unsafe { mi_collect(true) }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns unused heap pages to the kernel; it takes no
        // pointers and is safe to call at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

pub fn max_user_watches() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(8192)
}

/// How often the daemon leaves its state in the baseline for `fim status`, at least.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// The daemon's state in the baseline (`fim status` reads it): written at start,
/// when the status changes, and every `HEARTBEAT`.
pub struct Heartbeat {
    started_ms: i64,
    proc_start: u64,
    next: Instant,
    last_status: String,
}

impl Heartbeat {
    pub fn new() -> Heartbeat {
        Heartbeat {
            started_ms: chrono::Utc::now().timestamp_millis(),
            proc_start: crate::store::proc_start(std::process::id()).unwrap_or(0),
            next: Instant::now(),
            last_status: String::new(),
        }
    }

    /// Write the state if it changed or is due.
    pub fn beat(&mut self, baseline: &crate::store::Baseline, status: &str, watched: u64) {
        let now = Instant::now();
        if now < self.next && status == self.last_status {
            return;
        }
        let state = crate::store::DaemonState {
            pid: std::process::id(),
            proc_start: self.proc_start,
            started_ms: self.started_ms,
            heartbeat_ms: chrono::Utc::now().timestamp_millis(),
            watched,
            watch_limit: max_user_watches(),
            status: status.to_owned(),
        };
        if let Err(e) = baseline.record_daemon(&state) {
            tracing::warn!("daemon state not saved for `fim status`: {e}");
        }
        self.next = now + HEARTBEAT;
        status.clone_into(&mut self.last_status);
    }
}
