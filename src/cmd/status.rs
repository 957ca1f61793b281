//! `fim status`: one screen on the state of things, from the baseline and what the
//! daemon left in it. A line that needs attention starts with `!`, and makes the exit
//! code 1, for scripts and monitoring.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event::format_ts;
use crate::exit;
use crate::store::outbox::Outbox;
use crate::store::{Baseline, DaemonState};

/// A daemon silent for longer than this is hung (it writes at least every 30 s).
const SILENT_MS: i64 = 120_000;
/// Events waiting for a sink longer than this are a backlog, not a delivery under way.
const BACKLOG_MS: i64 = 60_000;
/// Incidents with activity this recent are open.
const OPEN_MS: i64 = 86_400_000;
/// The share of the inotify budget past which the next deploy may not fit.
const WATCH_WARN: f64 = 0.9;

struct Screen {
    lines: Vec<String>,
    attention: bool,
}

impl Screen {
    fn line(&mut self, attention: bool, label: &str, text: impl AsRef<str>) {
        self.attention |= attention;
        let mark = if attention { '!' } else { ' ' };
        self.lines.push(format!(
            "{mark} {label:<12}{}",
            text.as_ref().escape_debug()
        ));
    }
}

pub fn run(db: &Path) -> Result<i32> {
    let baseline = Baseline::open(db)?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut screen = Screen {
        lines: vec![format!(
            "fim status: baseline {}, {} entries",
            db.display(),
            baseline.entry_count()?
        )],
        attention: false,
    };
    daemon(&mut screen, baseline.daemon()?, now);
    match baseline.last_run("verify")? {
        Some(run) => screen.line(
            run.differences + run.detections > 0,
            "last verify",
            format!("{}: {}", at(run.finished_ms, now), run.verdict),
        ),
        None => screen.line(false, "last verify", "never run on this baseline"),
    }
    let (nodes, incidents) = crate::incident::recorded(&baseline, Some(now - 7 * OPEN_MS))?;
    let open: Vec<_> = incidents
        .iter()
        .filter(|i| now - i.last_ms <= OPEN_MS)
        .collect();
    if open.is_empty() {
        screen.line(false, "incidents", "none in the last 24 h");
    }
    for incident in open {
        screen.line(
            true,
            "incident",
            format!(
                "{} [{}] {}",
                incident.id,
                incident.severity,
                incident.headline(&nodes)
            ),
        );
    }
    let probes = baseline.last_probe_checks()?;
    if probes.is_empty() {
        screen.line(false, "probes", "no probe checks recorded");
    }
    for check in probes {
        let state = if check.ok { "up" } else { "down" };
        let timing = check
            .total_ms
            .map_or(String::new(), |t| format!(", {t:.0} ms"));
        let outcome = check
            .error
            .clone()
            .or_else(|| check.status.map(|s| format!("HTTP {s}")))
            .unwrap_or_default();
        screen.line(
            !check.ok,
            "probe",
            format!(
                "{} {state}: {outcome}{timing} at {}",
                check.probe,
                at(check.ts_ms, now)
            ),
        );
    }
    sinks(&mut screen, &baseline, now)?;
    screen.line(
        false,
        "database",
        format!("{:.1} MB", baseline.size_bytes() as f64 / (1024.0 * 1024.0)),
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in &screen.lines {
        writeln!(out, "{line}").map_err(|e| Error::io("<stdout>", e))?;
    }
    Ok(if screen.attention {
        exit::ATTENTION
    } else {
        exit::CLEAN
    })
}

fn daemon(screen: &mut Screen, state: Option<DaemonState>, now: i64) {
    let Some(state) = state else {
        screen.line(true, "daemon", "`fim watch` has never run on this baseline");
        return;
    };
    if !state.alive() {
        screen.line(
            true,
            "daemon",
            format!(
                "not running (pid {} last seen {})",
                state.pid,
                at(state.heartbeat_ms, now)
            ),
        );
        return;
    }
    let silent = now - state.heartbeat_ms > SILENT_MS;
    screen.line(
        silent,
        "daemon",
        format!(
            "running since {} (pid {}){}",
            format_ts(crate::detect::ms_to_time(state.started_ms)),
            state.pid,
            if silent {
                format!(", but silent since {}: hung?", at(state.heartbeat_ms, now))
            } else {
                String::new()
            }
        ),
    );
    screen.line(false, "", &state.status);
    let share = state.watched as f64 / state.watch_limit.max(1) as f64;
    screen.line(
        share >= WATCH_WARN,
        "watches",
        format!(
            "{} of {} inotify watches ({:.0} %; fs.inotify.max_user_watches)",
            state.watched,
            state.watch_limit,
            share * 100.0
        ),
    );
}

fn sinks(screen: &mut Screen, baseline: &Baseline, now: i64) -> Result<()> {
    let policy = baseline.recorded_policy()?;
    if policy.sinks.is_empty() {
        return Ok(());
    }
    let outbox = Outbox::open(baseline.path())?;
    for spec in &policy.sinks {
        let key = spec.key();
        // A sink the recorded policy names but that never ran has no place yet.
        let Ok(cursor) = outbox.cursor(&key) else {
            screen.line(false, "sink", format!("{key}: not started yet"));
            continue;
        };
        let waiting = outbox.backlog(cursor)?;
        let oldest = outbox.gathering(cursor)?.map(|(ts, _)| ts);
        let stuck = oldest.is_some_and(|ts| now - ts > BACKLOG_MS);
        screen.line(
            stuck,
            "sink",
            match oldest {
                Some(ts) => format!(
                    "{key}: {waiting} events waiting, the oldest since {}",
                    at(ts, now)
                ),
                None => format!("{key}: nothing waiting"),
            },
        );
    }
    Ok(())
}

/// "2026-12-01T10:00:00.000Z (5m 3s ago)".
fn at(ms: i64, now: i64) -> String {
    let ago = Duration::from_secs(((now - ms).max(0) / 1000) as u64);
    format!(
        "{} ({} ago)",
        format_ts(crate::detect::ms_to_time(ms)),
        humantime::format_duration(ago)
    )
}
