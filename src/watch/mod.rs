//! `fim watch`: the real-time daemon. inotify → debounce → the same scan, hash and
//! comparison as `verify` (`compare.rs`) → events. Changes are compared with the last
//! observed state, kept in the baseline database, so each is reported once and a
//! restart reports what changed while the daemon was down.

mod debounce;
mod fresh;
mod health;
mod inotify;
mod readiness;
mod selfcheck;
mod signals;

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use crate::compare::{compare, State};
use crate::detect::source::Sources;
use crate::error::{Error, Result};
use crate::event::{hostname, Event, Source};
use crate::fs::FileType;
use crate::policy::Policy;
use crate::scan::{Skip, Target};
use crate::sink::{skip_outputs, Dispatch, Format, Output, Sinks};
use crate::store::{own_files, warn_if_unrecorded, Baseline, SealCheck};
use debounce::Debouncer;
use fresh::FreshDirs;
use health::{
    max_user_watches, purge_freed_memory_when_idle, release_free_memory, Health, Heartbeat,
};
use inotify::{Change, Watcher};
use readiness::Notifier;
use signals::Signals;

/// How often the daemon checks its own files and the baseline file, and pings the
/// systemd watchdog (at least twice per `WatchdogSec`).
const TICK: Duration = Duration::from_secs(1);

/// Two looks this close together mean a burst: the next one waits `BATCH` so that it
/// takes many paths at once (a single change is still reported within milliseconds).
const BURST_GAP: Duration = Duration::from_millis(2);
const BATCH: Duration = Duration::from_millis(5);

/// Freed memory is handed back at most this often (the look after it faults its
/// pages in again: up to a millisecond more), at a tick when no look has run for
/// `IDLE`: not in the middle of a burst, nor just before the next change of a
/// steady stream.
const RELEASE_EVERY: Duration = Duration::from_secs(60);
const IDLE: Duration = Duration::from_millis(20);

/// While some directories cannot be watched (the inotify limit), they are covered by
/// a rescan at least this often.
const LIMITED_RESCAN: Duration = Duration::from_secs(60);

/// How often the followed logs are read: new lines are seen within a second.
const LOG_POLL: Duration = Duration::from_millis(250);

/// How long a stopping daemon waits for sinks in the middle of a delivery (within the
/// 2 s a service manager allows; an unfinished batch is sent again at the next start).
const SINK_GRACE: Duration = Duration::from_millis(700);

pub struct Config {
    pub db: PathBuf,
    pub policy: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub verify_key: Option<PathBuf>,
    /// How often to log a health summary; `None`: never.
    pub health_interval: Option<Duration>,
}

/// Run the daemon until SIGTERM or SIGINT.
pub fn run(config: &Config) -> Result<()> {
    let signals = Signals::install().map_err(|e| Error::io("<signal handlers>", e))?;
    purge_freed_memory_when_idle();
    let mut daemon = Daemon::start(config)?;
    // Logged once the baseline passed its checks: a failed start is one error line.
    tracing::info!(
        "starting fim {} watch: baseline {}, policy from {}, events to {}; reconciling",
        env!("CARGO_PKG_VERSION"),
        config.db.display(),
        policy_source(config),
        config
            .output
            .as_ref()
            .map_or("stdout".to_owned(), |o| o.display().to_string())
    );
    // Watches are placed by the reconcile scan itself, before each directory is
    // listed: nothing changed during start-up is lost.
    daemon.look(None)?;
    // Lines written while the daemon was down are analysed before READY.
    daemon.poll_logs();
    daemon.watch_roots_that_are_not_folders();
    daemon.warn_near_watch_limit();
    daemon.warm_up();
    crate::scan::hasher::warm_up();
    daemon.release_free_memory();
    let status = daemon.status();
    tracing::info!("ready: {status}");
    // Before READY: whoever waits for it finds the daemon in `fim status`.
    daemon.beat();
    daemon.notifier.ready(&status);
    daemon.serve(&signals)
}

struct Daemon<'c> {
    config: &'c Config,
    baseline: Baseline,
    /// Device and inode of the baseline file when it was opened: `init --force`
    /// renames a new one into place, which the daemon must then switch to.
    baseline_id: Option<(u64, u64)>,
    policy: Policy,
    skip: Skip,
    observed: State,
    watcher: Watcher,
    debouncer: Debouncer,
    fresh: FreshDirs,
    output: Output,
    sinks: Dispatch,
    /// The sinks' last state sent in `STATUS=`.
    sinks_status: Option<String>,
    host: String,
    next_rescan: Option<Instant>,
    limited: bool,
    reported: u64,
    overflows: u64,
    notifier: Notifier,
    self_files: selfcheck::SelfFiles,
    next_tick: Instant,
    tick: Duration,
    /// When the last look ended, and until when the next one waits (bursts).
    last_look: Instant,
    hold_until: Instant,
    /// When freed memory was last handed back.
    last_release: Instant,
    /// The detection sources (the `[[log]]`s, …) and their detectors.
    sources: Sources,
    next_log_poll: Instant,
    /// The cursors last saved, so an idle poll writes nothing.
    saved_cursors: Vec<(String, crate::logs::Position)>,
    detections: u64,
    health: Health,
    heartbeat: Heartbeat,
}

impl<'c> Daemon<'c> {
    fn start(config: &'c Config) -> Result<Daemon<'c>> {
        let (baseline, policy, observed) = open_checked(config)?;
        let output = Output::open(config.output.as_deref(), Format::Jsonl)?;
        let sinks = Sinks::prepare(&config.db, &policy.sinks, policy.root_names())?.start();
        let skip = unreported(config, &policy);
        let watcher = Watcher::new().map_err(|e| Error::io("<inotify>", e))?;
        let sources = Sources::open(&baseline, &policy, &Default::default(), true)?;
        let mut daemon = Daemon {
            config,
            baseline_id: file_id(&config.db),
            baseline,
            policy,
            skip,
            observed,
            watcher,
            debouncer: Debouncer::default(),
            fresh: FreshDirs::default(),
            output,
            sinks,
            sinks_status: None,
            host: hostname(),
            next_rescan: None,
            limited: false,
            reported: 0,
            overflows: 0,
            notifier: Notifier::default(),
            self_files: selfcheck::SelfFiles::new(config.policy.as_deref()),
            next_tick: Instant::now() + TICK,
            last_look: Instant::now(),
            hold_until: Instant::now(),
            last_release: Instant::now(),
            tick: watchdog_interval().map_or(TICK, |w| (w / 2).min(TICK)),
            sources,
            next_log_poll: Instant::now(),
            saved_cursors: Vec::new(),
            detections: 0,
            health: Health::new(config.health_interval),
            heartbeat: Heartbeat::new(),
        };
        daemon.schedule_rescan(Instant::now());
        Ok(daemon)
    }

    fn rescan_interval(&self) -> Option<Duration> {
        let every = self.policy.rescan_interval;
        if self.limited {
            Some(every.map_or(LIMITED_RESCAN, |e| e.min(LIMITED_RESCAN)))
        } else {
            every
        }
    }

    fn schedule_rescan(&mut self, now: Instant) {
        self.next_rescan = self.rescan_interval().map(|every| now + every);
    }

    /// The event loop.
    fn serve(&mut self, signals: &Signals) -> Result<()> {
        loop {
            if signals.stop_requested() {
                // Every change already noticed is looked at and written before exit. A
                // pending full rescan (after an overflow) could outlast the 2 s a service
                // manager allows: the next start's reconcile does it instead, so nothing
                // is lost.
                match self.debouncer.take_due(Instant::now(), true) {
                    Some(Some(targets)) => self.look_logged(Some(&targets)),
                    Some(None) => tracing::warn!(
                        "stopping with a full rescan pending: the next start reports what it finds"
                    ),
                    None => {}
                }
                self.notifier.stopping();
                tracing::info!("stopping: {}", self.status());
                std::mem::replace(&mut self.sinks, Dispatch::none()).stop(SINK_GRACE);
                return Ok(());
            }
            if signals.take_reload() {
                self.reload();
            }
            self.wait(signals);
            // Before anything is recorded: into the baseline now at that path.
            if file_id(&self.config.db) != self.baseline_id {
                self.reopen_baseline();
            }
            let now = Instant::now();
            if now >= self.next_tick {
                self.housekeeping();
                self.next_tick = now + self.tick;
            }
            if !self.sources.is_empty() && now >= self.next_log_poll {
                self.poll_logs();
                self.next_log_poll = now + LOG_POLL;
            }
            if self.health.due(now) {
                let status = self.status();
                self.health.log(now, &status, self.reported, self.overflows);
            }
            if self.next_rescan.is_some_and(|at| now >= at) {
                tracing::info!("periodic rescan");
                self.debouncer.rescan_everything();
                self.schedule_rescan(now);
            }
            if now < self.hold_until {
                continue;
            }
            if let Some(targets) = self.debouncer.take_due(now, false) {
                let burst = now.duration_since(self.last_look) < BURST_GAP;
                self.look_logged(targets.as_deref());
                self.last_look = Instant::now();
                if burst {
                    self.hold_until = self.last_look + BATCH;
                }
            }
        }
    }

    /// Sleep until inotify or a signal has something, or the next deadline.
    fn wait(&mut self, signals: &Signals) {
        let now = Instant::now();
        let next = [
            self.debouncer.next_due(),
            self.next_rescan,
            self.health.next(),
            Some(self.next_tick),
            (!self.sources.is_empty()).then_some(self.next_log_poll),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.max(self.hold_until));
        let timeout = next.map(|at| {
            let d = at.saturating_duration_since(now);
            Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            }
        });
        let ready = {
            let mut fds = [
                PollFd::from_borrowed_fd(self.watcher.fd(), PollFlags::IN),
                PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN),
            ];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => [fds[0].revents(), fds[1].revents()].map(|r| !r.is_empty()),
                Err(Errno::INTR) => [false, true],
                Err(e) => {
                    tracing::error!("poll: {e}");
                    [true, true]
                }
            }
        };
        if ready[1] {
            signals.drain();
        }
        if ready[0] {
            self.read_inotify();
        }
    }

    fn read_inotify(&mut self) {
        let now = Instant::now();
        let (debouncer, skip) = (&mut self.debouncer, &self.skip);
        let mut overflows = 0;
        let result = self.watcher.read(|change| match change {
            Change::Path {
                path,
                recursive,
                settled,
            } => {
                if !skip.contains(&path) {
                    debouncer.add(path, recursive, settled, now);
                }
            }
            Change::Overflow => {
                overflows += 1;
                debouncer.rescan_everything();
            }
        });
        if overflows > 0 {
            self.overflows += overflows;
            tracing::warn!(
                "inotify queue overflowed (fs.inotify.max_queued_events): events were lost, \
                 rescanning every watched tree; {} overflows so far",
                self.overflows
            );
            let status = self.status();
            self.notifier.status(&status, true);
        }
        if let Err(e) = result {
            tracing::warn!("reading inotify events failed ({e}): rescanning every watched tree");
            self.debouncer.rescan_everything();
        }
    }

    /// A watch root that is a file (or missing) gets no watch from the scan: watch its
    /// folder, so it is seen changing (or appearing).
    fn watch_roots_that_are_not_folders(&self) {
        for watch in &self.policy.watches {
            let is_dir = rustix::fs::lstat(crate::fs::path::as_path(&watch.root))
                .ok()
                .and_then(|st| FileType::from_mode(st.st_mode))
                == Some(FileType::Dir);
            if !is_dir {
                self.watcher.add_parent_of(&watch.root);
            }
        }
    }

    /// Once a tick: the watchdog ping (the event loop is alive), and the daemon's own
    /// policy and binary.
    fn housekeeping(&mut self) {
        if watchdog_interval().is_some() {
            self.notifier.watchdog();
        }
        self.beat();
        let now = Instant::now();
        if self.last_look > self.last_release
            && now.duration_since(self.last_release) >= RELEASE_EVERY
            && now.duration_since(self.last_look) >= IDLE
        {
            self.release_free_memory();
        }
        let sinks = self.sinks.status();
        if sinks != self.sinks_status {
            self.sinks_status = sinks;
            let status = self.status();
            self.notifier.status(&status, false);
        }
        if !self.sources.is_empty() {
            let mut alerts = Vec::new();
            self.sources
                .flush(chrono::Utc::now().timestamp_millis(), &mut alerts);
            self.report_detections(alerts);
        }
        let findings = self.self_files.check();
        if findings.is_empty() {
            return;
        }
        if let Err(e) = self.report(findings, &[]) {
            tracing::error!("{e}");
        }
    }

    /// Write the findings as events (out first: the event line is what an operator or
    /// a SIEM is waiting for), then record them with the observations they came from.
    /// Both are attempted whatever happens to the other. Returns how many events.
    fn report(
        &mut self,
        findings: Vec<crate::diff::Finding>,
        observed: &[(Vec<u8>, Option<crate::fs::Attrs>)],
    ) -> Result<usize> {
        let mut events: Vec<Event> = findings
            .into_iter()
            .map(|f| Event::from_finding(f, Source::Watch, &self.host))
            .collect();
        self.sources.explain(&mut events);
        let followed = if events.is_empty() {
            Ok(())
        } else {
            self.output.follow()
        };
        let written = followed.and_then(|()| events.iter().try_for_each(|e| self.output.write(e)));
        let recorded = self.baseline.record(&events, observed, &[]);
        if recorded.is_ok() && !events.is_empty() {
            self.sinks.wake();
        }
        self.reported += events.len() as u64;
        let now = chrono::Utc::now().timestamp_millis();
        for event in &events {
            self.sources.file_event(event, Some(now));
        }
        written.and(recorded).map(|()| events.len())
    }

    /// Read what the sources have new and report what the detectors make of it.
    fn poll_logs(&mut self) {
        let mut alerts = Vec::new();
        self.sources.poll(&mut alerts);
        self.report_detections(alerts);
    }

    /// Write and record detections, with the log cursors they were read up to.
    fn report_detections(&mut self, alerts: Vec<crate::detect::Alert>) {
        let cursors = self.sources.cursors();
        let mut activity = self.sources.take_activity();
        if alerts.is_empty() && cursors == self.saved_cursors && activity.is_empty() {
            return;
        }
        if let Err(e) = self.baseline.record_activity(&mut activity) {
            tracing::warn!("request and login counts not saved: {e}");
        }
        let events: Vec<Event> = alerts
            .into_iter()
            .map(|a| a.into_event(Source::Watch, &self.host))
            .collect();
        let followed = if events.is_empty() {
            Ok(())
        } else {
            self.output.follow()
        };
        let written = followed.and_then(|()| events.iter().try_for_each(|e| self.output.write(e)));
        let recorded = self.baseline.record(&events, &[], &cursors);
        match &recorded {
            Ok(()) => {
                self.saved_cursors = cursors;
                if !events.is_empty() {
                    self.sinks.wake();
                }
            }
            Err(e) => tracing::error!("{e}"),
        }
        if let Err(e) = written {
            tracing::error!("{e}");
        }
        self.detections += events.len() as u64;
    }

    /// `look`, logging a failure instead of stopping the daemon: detection goes on.
    fn look_logged(&mut self, targets: Option<&[Target]>) {
        if let Err(e) = self.look(targets) {
            tracing::error!("{e}");
        }
    }

    /// Rescan `targets` (everything when `None`), report what changed since the last
    /// observation, and remember the new state.
    fn look(&mut self, targets: Option<&[Target]>) -> Result<()> {
        let started = Instant::now();
        let watcher = &self.watcher;
        let hook = |fd: BorrowedFd<'_>, path: &[u8]| watcher.add(fd, path);
        let mut comparison = compare(
            &self.policy,
            &self.skip,
            &mut self.observed,
            targets,
            Some(&hook),
            |_| {},
        )?;
        self.fresh.fold(&mut comparison.findings, Instant::now());
        let gone_dirs: Vec<Vec<u8>> = comparison
            .findings
            .iter()
            .filter(|f| {
                f.new.is_none() && f.old.as_ref().is_some_and(|o| o.file_type == FileType::Dir)
            })
            .map(|f| f.path.clone())
            .collect();
        if !gone_dirs.is_empty() {
            self.watcher.forget(&gone_dirs);
        }
        // A root that is gone is watched through its folder, to see it come back.
        for root in &comparison.missing_roots {
            self.watcher.add_parent_of(root);
        }
        let reported = self.report(comparison.findings, &comparison.updates);
        if targets.is_none() {
            self.release_free_memory();
        }
        self.check_watch_limit();
        let status = self.status();
        self.notifier.status(&status, false);
        tracing::debug!(
            "looked at {} in {:.1?}: {} events",
            targets.map_or("everything".to_owned(), |t| format!("{} paths", t.len())),
            started.elapsed(),
            reported.as_ref().map_or(0, |n| *n)
        );
        reported.map(drop)
    }

    fn check_watch_limit(&mut self) {
        let unwatched = self.watcher.take_unwatched();
        if unwatched == 0 {
            return;
        }
        let limit = max_user_watches();
        let needed = (limit + unwatched * 2).max(limit * 2);
        tracing::error!(
            "{unwatched} directories could not be watched: the inotify watch limit \
             (fs.inotify.max_user_watches = {limit}) is reached. Run \
             `sysctl -w fs.inotify.max_user_watches={needed}` (and persist it in \
             /etc/sysctl.d/); until then they are covered by a rescan every {} s",
            LIMITED_RESCAN.as_secs()
        );
        if !self.limited {
            self.limited = true;
            self.schedule_rescan(Instant::now());
        }
    }

    /// At start: the directories fit, but so closely that the next deploy may not.
    fn warn_near_watch_limit(&self) {
        let limit = max_user_watches();
        let watched = self.watcher.watched() as u64;
        if !self.limited && watched * 10 >= limit * 9 {
            tracing::warn!(
                "{watched} directories are watched, close to the inotify limit \
                 (fs.inotify.max_user_watches = {limit}, shared by all of this user's \
                 processes): run `sysctl -w fs.inotify.max_user_watches={}`",
                limit * 2
            );
        }
    }

    /// SIGHUP: load the policy again and rebuild the watches from a full rescan. A
    /// broken policy is reported and the current one kept.
    fn reload(&mut self) {
        // The output file first, whatever the policy: logrotate's postrotate may send it.
        if let Err(e) = self.output.reopen() {
            tracing::error!("output not reopened: {e}");
        }
        let policy = match load_policy(self.config, &self.baseline) {
            Ok(policy) => policy,
            Err(e) => {
                tracing::error!("policy not reloaded, keeping the current one: {e}");
                return;
            }
        };
        match Watcher::new() {
            Ok(watcher) => self.watcher = watcher,
            Err(e) => {
                tracing::error!("policy not reloaded: cannot create an inotify instance: {e}");
                return;
            }
        }
        // Sinks restart too: files are reopened, secrets read again.
        self.restart_sinks(&policy);
        let carried = self.sources.cursors().into_iter().collect();
        self.sources = Sources::open(&self.baseline, &policy, &carried, true).unwrap_or_else(|e| {
            tracing::error!("detections stopped: {e}");
            Sources::default()
        });
        self.skip = unreported(self.config, &policy);
        self.policy = policy;
        self.warm_up();
        self.watch_roots_that_are_not_folders();
        self.limited = false;
        self.schedule_rescan(Instant::now());
        // `fim policy update` grows and trims the observed state with the baseline.
        match self.baseline.load_observed() {
            Ok(observed) => self.observed = observed,
            Err(e) => tracing::error!("observed state not reloaded, keeping the current one: {e}"),
        }
        self.debouncer.rescan_everything();
        tracing::info!(
            "policy reloaded from {}; rescanning",
            policy_source(self.config)
        );
        self.notifier.status("policy reloaded; rescanning", true);
    }

    /// The baseline file was replaced (`init --force`) or removed: switch to the new
    /// one and compare everything with it. Without a usable baseline, keep going with
    /// the one still open.
    fn reopen_baseline(&mut self) {
        let id = file_id(&self.config.db);
        let reopened = open_checked(self.config);
        self.baseline_id = id;
        match reopened {
            Ok((baseline, policy, observed)) => {
                tracing::warn!(
                    "baseline {} was replaced: switching to it",
                    self.config.db.display()
                );
                self.sources = Sources::open(&baseline, &policy, &Default::default(), true)
                    .unwrap_or_else(|e| {
                        tracing::error!("detections stopped: {e}");
                        Sources::default()
                    });
                self.saved_cursors.clear();
                self.baseline = baseline;
                self.restart_sinks(&policy);
                self.skip = unreported(self.config, &policy);
                self.policy = policy;
                self.observed = observed;
                self.debouncer.rescan_everything();
            }
            Err(e) => tracing::error!(
                "baseline {} changed but cannot be used ({e}); keeping the one open",
                self.config.db.display()
            ),
        }
    }

    /// Replace the sinks with `policy`'s; should they fail to start (a secret gone),
    /// the current policy's are started again.
    fn restart_sinks(&mut self, policy: &Policy) {
        let db = &self.config.db;
        let prepared = Sinks::prepare(db, &policy.sinks, policy.root_names()).or_else(|e| {
            tracing::error!("sinks not restarted, keeping the previous ones: {e}");
            Sinks::prepare(db, &self.policy.sinks, self.policy.root_names())
        });
        std::mem::replace(&mut self.sinks, Dispatch::none()).stop(SINK_GRACE);
        match prepared {
            Ok(sinks) => self.sinks = sinks.start(),
            Err(e) => tracing::error!("sinks stopped: {e}"),
        }
    }

    /// Leave the state for `fim status`.
    fn beat(&mut self) {
        let status = self.status();
        let watched = self.watcher.watched() as u64;
        self.heartbeat.beat(&self.baseline, &status, watched);
    }

    /// Hand freed memory back to the system, and note when: housekeeping does it
    /// again only after a minute and a look.
    fn release_free_memory(&mut self) {
        release_free_memory();
        self.last_release = Instant::now();
    }

    /// Build the heuristics' caches before the first event, on this thread (the one
    /// that judges events), meeting the site's own largest scripts.
    fn warm_up(&self) {
        let heuristics = &self.policy.heuristics;
        let samples: Vec<_> = heuristics
            .warm_up_paths(self.observed.iter())
            .into_iter()
            .filter_map(|path| crate::scan::sample(&self.policy, path).ok().flatten())
            .collect();
        let views: Vec<_> = samples.iter().map(|s| s.view()).collect();
        let started = Instant::now();
        heuristics.warm_up(&views);
        tracing::debug!(
            "heuristics warmed up on {} scripts ({} KiB) in {:.1?}",
            views.len(),
            views
                .iter()
                .map(|s| s.head.len() + s.tail.len())
                .sum::<usize>()
                >> 10,
            started.elapsed()
        );
    }

    fn status(&self) -> String {
        use crate::progress::plural;
        let mut status = format!(
            "watching {}, {}; {} reported, {}",
            plural(self.watcher.watched() as u64, "directory", "directories"),
            plural(self.observed.len() as u64, "entry", "entries"),
            plural(self.reported, "event", "events"),
            plural(self.overflows, "overflow", "overflows"),
        );
        if let Some(sources) = self.sources.status() {
            let detections = plural(self.detections, "detection", "detections");
            status.push_str(&format!("; {sources}, {detections}"));
        }
        if let Some(sinks) = self.sinks.status() {
            status.push_str("; ");
            status.push_str(&sinks);
        }
        status
    }
}

/// What the daemon never reports: its baseline's files and the files it writes into.
fn unreported(config: &Config, policy: &Policy) -> Skip {
    let mut skip = own_files(&config.db);
    skip_outputs(&mut skip, config.output.as_deref(), &policy.sinks);
    skip
}

/// Open the baseline, check its seal (the observed state starts from it), and load
/// the policy and the last observed state.
fn open_checked(config: &Config) -> Result<(Baseline, Policy, State)> {
    let mut baseline = Baseline::open(&config.db)?;
    baseline.require_writable("watch")?;
    baseline.relax_sync()?;
    let policy = load_policy(config, &baseline)?;
    let check = SealCheck::choose(config.verify_key.as_deref(), &policy)?;
    drop(baseline.load_entries(&check)?);
    let observed = baseline.load_observed()?;
    Ok((baseline, policy, observed))
}

/// The `--policy` file (which may not be the recorded one yet: say so), or the policy
/// recorded in the baseline.
fn load_policy(config: &Config, baseline: &Baseline) -> Result<Policy> {
    match &config.policy {
        Some(path) => {
            let policy = Policy::load(path)?;
            warn_if_unrecorded(baseline, &policy, path);
            Ok(policy)
        }
        None => baseline.recorded_policy(),
    }
}

/// Where the policy comes from, for the log.
fn policy_source(config: &Config) -> String {
    match &config.policy {
        Some(path) => path.display().to_string(),
        None => format!("the baseline {} (recorded policy)", config.db.display()),
    }
}

/// `WatchdogSec=` of the systemd unit, when it asks for pings.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    // WATCHDOG_PID, when set, names the process meant to ping.
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        if pid != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    rustix::fs::stat(path).ok().map(|st| (st.st_dev, st.st_ino))
}
