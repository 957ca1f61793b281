//! The sinks' threads. Each sink delivers on its own thread with its own database
//! connection, so a receiver that hangs or fails delays nothing but itself: detection
//! only records events and wakes the threads. Failures back off exponentially with
//! jitter up to the sink's `retry_max`; the events wait in the outbox meanwhile.

use crate::progress::plural;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::deliver::{Courier, Step};
use crate::error::{Error, Result};
use crate::policy::SinkSpec;
use crate::store::outbox::Outbox;

/// How often an idle sink looks for events recorded by another process (a `verify`
/// run beside the daemon), and renews its lease.
const POLL: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Health {
    failures: u32,
    last_error: Option<String>,
    waiting: u64,
    held_by: Option<i64>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    generation: Mutex<u64>,
    wake: Condvar,
}

impl Shared {
    /// Sleep up to `timeout`; new events end the sleep when `on_events`, a stop always.
    fn sleep(&self, seen: &mut u64, timeout: Duration, on_events: bool) {
        let deadline = Instant::now() + timeout;
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            if self.stop.load(Ordering::SeqCst)
                || (on_events && *generation != *seen)
                || now >= deadline
            {
                break;
            }
            generation = self
                .wake
                .wait_timeout(generation, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *seen = *generation;
    }
}

/// A poisoned lock still holds usable health figures.
fn lock(health: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    health.lock().unwrap_or_else(|e| e.into_inner())
}

struct Worker {
    key: String,
    health: Arc<Mutex<Health>>,
    thread: JoinHandle<()>,
}

/// The running sinks of a daemon.
pub struct Dispatch {
    shared: Arc<Shared>,
    workers: Vec<Worker>,
}

fn backoff(failures: u32, max: Duration) -> Duration {
    let exp = FIRST_RETRY.saturating_mul(1 << failures.saturating_sub(1).min(20));
    let cap = exp.min(max).max(Duration::from_millis(100));
    // "Equal jitter": between half and all of the delay, so that many agents behind one
    // collector do not retry in step, yet no retry comes much sooner than planned.
    let mut random = [0u8; 4];
    let _ = getrandom::getrandom(&mut random);
    let fraction = f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX);
    cap.mul_f64(0.5 + fraction / 2.0)
}

/// What a delivery thread does until the daemon stops (`deadline: None`) or, for a
/// one-shot command, until its outbox is empty or the deadline passes.
fn deliver(
    mut courier: Courier,
    db: PathBuf,
    shared: Arc<Shared>,
    health: Arc<Mutex<Health>>,
    deadline: Option<Instant>,
) {
    let key = courier.key().to_owned();
    let mut seen = 0;
    let mut outbox = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let (pause, on_events) = match attempt(&mut courier, &db, &mut outbox, deadline.is_some()) {
            Ok(Attempt::Held(pid)) => {
                lock(&health).held_by = Some(pid);
                if deadline.is_some() {
                    break;
                }
                (POLL, false)
            }
            Ok(Attempt::Step(Step::Sent)) => {
                let mut h = lock(&health);
                if h.failures > 0 {
                    tracing::info!(
                        "sink {key}: delivering again after {} failed attempts",
                        h.failures
                    );
                }
                *h = Health::default();
                continue;
            }
            Ok(Attempt::Step(Step::Idle)) => {
                lock(&health).held_by = None;
                if deadline.is_some() {
                    break;
                }
                (POLL, true)
            }
            Ok(Attempt::Step(Step::Later(wait))) => (wait.min(POLL), true),
            Ok(Attempt::Step(Step::Failed(error))) | Err(error) => {
                let waiting = outbox
                    .as_ref()
                    .and_then(|o: &Outbox| o.cursor(&key).and_then(|c| o.backlog(c)).ok())
                    .unwrap_or(0);
                let failures = {
                    let mut h = lock(&health);
                    h.failures += 1;
                    h.last_error = Some(error.clone());
                    h.waiting = waiting;
                    h.failures
                };
                let pause = backoff(failures, courier.retry_max());
                // The first failure, then every tenth: a receiver down for an hour
                // does not flood the log.
                if failures == 1 || failures % 10 == 0 {
                    tracing::warn!(
                        "sink {key}: delivery failed ({error}); {} in the outbox; \
                         attempt {failures}, next in {:.1?}",
                        plural(waiting, "event waits", "events wait"),
                        pause
                    );
                }
                if deadline.is_some_and(|d| Instant::now() + pause >= d) {
                    break;
                }
                (pause, false)
            }
        };
        let pause = match deadline {
            Some(d) => pause.min(d.saturating_duration_since(Instant::now())),
            None => pause,
        };
        shared.sleep(&mut seen, pause, on_events);
    }
    if let Some(outbox) = &outbox {
        if let Err(e) = outbox.release(&key) {
            tracing::debug!("sink {key}: releasing the lease: {e}");
        }
    }
}

enum Attempt {
    /// Another live process delivers this sink.
    Held(i64),
    Step(Step),
}

fn attempt(
    courier: &mut Courier,
    db: &Path,
    outbox: &mut Option<Outbox>,
    flush: bool,
) -> std::result::Result<Attempt, String> {
    if outbox.is_none() {
        *outbox = Some(Outbox::open(db).map_err(|e| e.to_string())?);
    }
    let outbox = outbox.as_mut().expect("opened above");
    let now_ms = chrono::Utc::now().timestamp_millis();
    if let Some(pid) = outbox
        .lease(courier.key(), now_ms)
        .map_err(|e| e.to_string())?
    {
        return Ok(Attempt::Held(pid));
    }
    courier
        .step(outbox, flush)
        .map(Attempt::Step)
        .map_err(|e| e.to_string())
}

impl Dispatch {
    /// No sinks (a placeholder while they are replaced).
    pub fn none() -> Dispatch {
        Dispatch {
            shared: Arc::new(Shared::default()),
            workers: Vec::new(),
        }
    }

    /// New events are recorded.
    pub fn wake(&self) {
        if let Ok(mut generation) = self.shared.generation.lock() {
            *generation += 1;
        }
        self.shared.wake.notify_all();
    }

    /// The sinks' state for `STATUS=` and the log, when there are sinks.
    pub fn status(&self) -> Option<String> {
        if self.workers.is_empty() {
            return None;
        }
        let failing: Vec<String> = self
            .workers
            .iter()
            .filter_map(|w| {
                let h = lock(&w.health);
                let error = h.last_error.as_ref()?;
                // One line: STATUS= is a newline-separated protocol.
                let error = error.replace(['\n', '\r'], " ");
                Some(format!(
                    "sink {} failing ({}, {} waiting: {error})",
                    w.key,
                    plural(h.failures as u64, "attempt", "attempts"),
                    plural(h.waiting, "event", "events")
                ))
            })
            .collect();
        Some(if failing.is_empty() {
            format!("{} sinks ok", self.workers.len())
        } else {
            failing.join("; ")
        })
    }

    /// Stop the threads, waiting up to `grace` for those mid-delivery; any still busy
    /// are left to end with the process (their batch stays unacknowledged, so it is
    /// sent again next time).
    pub fn stop(self, grace: Duration) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.wake();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.workers.iter().any(|w| !w.thread.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn spawn(
    db: &Path,
    couriers: Vec<Courier>,
    shared: &Arc<Shared>,
    deadline: Option<Instant>,
) -> Vec<Worker> {
    couriers
        .into_iter()
        .map(|courier| {
            let key = courier.key().to_owned();
            let health = Arc::new(Mutex::new(Health::default()));
            let (db, shared, h) = (db.to_path_buf(), shared.clone(), health.clone());
            let thread = std::thread::Builder::new()
                .name(format!("sink {key}"))
                .spawn(move || deliver(courier, db, shared, h, deadline))
                .expect("a thread can be spawned");
            Worker {
                key,
                health,
                thread,
            }
        })
        .collect()
}

/// The policy's sinks, built (their secrets read, their files opened) and given their
/// place in the outbox before any event of this run is recorded; nothing runs yet.
pub struct Sinks {
    db: PathBuf,
    couriers: Vec<Courier>,
}

impl Sinks {
    pub fn prepare(db: &Path, specs: &[SinkSpec], roots: Vec<String>) -> Result<Sinks> {
        let mut sinks = Sinks {
            db: db.to_path_buf(),
            couriers: Vec::new(),
        };
        if specs.is_empty() {
            return Ok(sinks);
        }
        let roots = Arc::new(roots);
        sinks.couriers = specs
            .iter()
            .map(|spec| {
                Courier::build(spec, roots.clone())
                    .map_err(|e| Error::Usage(format!("sink {}: {e}", spec.key())))
            })
            .collect::<Result<Vec<_>>>()?;
        let outbox = Outbox::open(db)?;
        for courier in &sinks.couriers {
            outbox.register(courier.key())?;
        }
        Ok(sinks)
    }

    /// For the daemon: one delivery thread per sink, until stopped.
    pub fn start(self) -> Dispatch {
        let shared = Arc::new(Shared::default());
        let workers = spawn(&self.db, self.couriers, &shared, None);
        Dispatch { shared, workers }
    }

    /// Deliver what waits, for at most `budget`; what cannot be delivered stays in the
    /// outbox for the next run or the daemon. Returns one line per sink left behind.
    pub fn drain(self, budget: Duration) -> Vec<String> {
        let shared = Arc::new(Shared::default());
        let workers = spawn(
            &self.db,
            self.couriers,
            &shared,
            Some(Instant::now() + budget),
        );
        let mut left = Vec::new();
        for worker in workers {
            let _ = worker.thread.join();
            let h = lock(&worker.health);
            if let Some(error) = &h.last_error {
                left.push(format!(
                    "sink {}: not delivered ({error}); {} in the outbox for the next run or `fim watch`",
                    worker.key,
                    plural(h.waiting, "event waits", "events wait")
                ));
            } else if let Some(pid) = h.held_by {
                left.push(format!(
                    "sink {}: left to the running fim (pid {pid}) that delivers it",
                    worker.key
                ));
            }
        }
        left
    }
}
