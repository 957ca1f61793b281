//! When probes run. Live, each probe has its own thread on a fixed grid (start + k ×
//! interval, plus a little jitter per check), so a check's own duration never shifts
//! the next one and a hung site holds only its own thread, for at most its timeout; a
//! slot missed behind a slow check is skipped, not run late in a burst. `verify` checks
//! every probe at once, up to `failures` times a second apart.

use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::http::{self, Outcome, Target};
use super::state::is_slow;
use crate::policy::ProbeSpec;

/// The first check comes within this (spread over the interval when shorter), so many
/// probes started together do not all fire at once.
const FIRST_SPREAD: Duration = Duration::from_secs(5);
/// Each check's jitter: up to 1% of the interval, at most this.
const MAX_JITTER: Duration = Duration::from_millis(250);
/// `verify`'s pause between the checks of one probe.
const VERIFY_GAP: Duration = Duration::from_secs(1);

/// Start probe `i`'s thread; it sends each check to `results` and ends when the
/// returned sender is dropped (after its current check).
pub fn start(
    i: usize,
    target: &Target,
    spec: &ProbeSpec,
    results: Sender<(usize, i64, Outcome)>,
) -> std::io::Result<Sender<()>> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let target = target.clone();
    let (interval, timeout) = (spec.interval, spec.timeout);
    let mut rng = Rng::new();
    std::thread::Builder::new()
        .name(format!("fim-probe-{i}"))
        .spawn(move || {
            let mut grid = Instant::now() + rng.below(interval.min(FIRST_SPREAD));
            loop {
                let wake = grid + rng.below((interval / 100).min(MAX_JITTER));
                match stopped.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let at_ms = chrono::Utc::now().timestamp_millis();
                let outcome = http::get(&target, timeout);
                if results.send((i, at_ms, outcome)).is_err() {
                    return;
                }
                grid += interval;
                let now = Instant::now();
                if grid <= now {
                    let behind = (now - grid).as_nanos() / interval.as_nanos().max(1);
                    grid += interval * (behind as u32 + 1);
                }
            }
        })?;
    Ok(stop)
}

/// `verify`'s round: per probe, its checks (time, answer) until one succeeds in time,
/// at most `failures` of them.
pub fn round<'a>(
    probes: impl Iterator<Item = (&'a Target, &'a ProbeSpec)>,
) -> Vec<Vec<(i64, Outcome)>> {
    let probes: Vec<_> = probes.collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|(target, spec)| {
                scope.spawn(move || {
                    let mut checks = Vec::new();
                    for n in 0..spec.failures {
                        if n > 0 {
                            std::thread::sleep(VERIFY_GAP);
                        }
                        let at_ms = chrono::Utc::now().timestamp_millis();
                        let outcome = http::get(target, spec.timeout);
                        let check = super::judge(spec, at_ms, &outcome);
                        let good = check.failure.is_none() && !is_slow(spec, &check);
                        checks.push((at_ms, outcome));
                        if good {
                            break;
                        }
                    }
                    checks
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// xorshift64*, seeded from the OS: jitter needs no more.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut seed = [0u8; 8];
        let _ = getrandom::getrandom(&mut seed);
        Rng(u64::from_le_bytes(seed) | 1)
    }

    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let nanos = max.as_nanos() as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(r % nanos)
        }
    }
}
