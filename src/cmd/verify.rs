//! `fim verify`: rehash everything and compare with the baseline.

use super::{warnings_note, Ui};
use crate::cli::VerifyArgs;
use crate::compare::compare;
use crate::detect::source::Sources;
use crate::error::Result;
use crate::event::{hostname, Event, Source};
use crate::exit;
use crate::policy::Policy;
use crate::progress::Progress;
use crate::sink::{skip_outputs, Format, Output, Sinks};
use crate::store::{own_files, warn_if_unrecorded, Baseline, Run, SealCheck};

/// How long `verify` keeps trying to deliver to failing sinks before it leaves the
/// events in the outbox (for the next run, or `fim watch`): a cron job must end.
const SINK_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

pub fn run(args: &VerifyArgs, ui: Ui) -> Result<i32> {
    let db = &args.check.db.db;
    let mut baseline = Baseline::open(db)?;
    let policy = match &args.check.policy {
        Some(path) => {
            let policy = Policy::load(path)?;
            warn_if_unrecorded(&baseline, &policy, path);
            policy
        }
        None => baseline.recorded_policy()?,
    };
    // Open the output before the long scan, so a bad --output fails at once.
    let mut output = Output::open(args.check.output.as_deref(), args.format)?;
    // Sinks are built (their secrets read) and placed in the outbox before anything of
    // this run is recorded.
    let sinks = Sinks::prepare(db, &policy.sinks, policy.root_names())?;
    let check = SealCheck::choose(args.check.verify_key.as_deref(), &policy)?;
    let started = std::time::Instant::now();
    let mut known = baseline.load_entries(&check)?;
    tracing::debug!(
        "{} baseline entries loaded and their seal checked in {:.0?}",
        known.len(),
        started.elapsed()
    );
    let mut skip = own_files(db);
    skip_outputs(&mut skip, args.check.output.as_deref(), &policy.sinks);

    let mut progress = Progress::new("verify", Some(known.len() as u64), ui.quiet);
    let comparison = compare(&policy, &skip, &mut known, None, None, |attrs| {
        progress.entry(attrs)
    })?;
    drop(known);
    // The bar is cleared before the report: on a terminal both share the screen.
    progress.stop();

    let host = hostname();
    let mut events: Vec<Event> = comparison
        .findings
        .into_iter()
        .map(|f| Event::from_finding(f, Source::Verify, &host))
        .collect();
    let differences = events.len();
    // The detection sources: the logs from where the previous run stopped to their end.
    let mut sources = Sources::open(&baseline, &policy, &Default::default(), false)?;
    sources.explain(&mut events);
    for event in &events {
        sources.file_event(event, None);
    }
    let mut alerts = Vec::new();
    sources.poll(&mut alerts);
    sources.flush(i64::MAX, &mut alerts);
    events.extend(
        alerts
            .into_iter()
            .map(|a| a.into_event(Source::Verify, &host)),
    );
    let cursors = sources.cursors();
    let mut activity = sources.take_activity();
    // The report comes first, and each of the two is attempted whatever happens to the
    // other: a history that cannot be recorded (a full disk) must not hide the
    // differences, and a closed output must not lose them from the history.
    let written = events.iter().try_for_each(|event| output.write(event));
    // A read-only baseline is a copy in memory: what is recorded there is dropped.
    if baseline.read_only() {
        tracing::warn!(
            "{}: the baseline is read-only: this run's events are reported, not recorded in its history",
            db.display()
        );
    }
    let recorded = baseline
        .record(&events, &[], &cursors)
        .and_then(|()| baseline.record_activity(&mut activity));
    written.and(recorded)?;
    for left_behind in sinks.drain(SINK_BUDGET) {
        tracing::warn!("{left_behind}");
    }
    let summary = format!(
        "{}{}; baseline {}, seal {}",
        summary(&events[..differences]),
        detections_note(events.len() - differences),
        db.display(),
        baseline.seal_digest()?
    );
    if output.format() == Format::Text {
        output.write_line(&summary)?;
    }
    let note = warnings_note(&comparison.summary);
    progress.finish("verify", &format!("{note}; {summary}"));
    let run = Run {
        finished_ms: chrono::Utc::now().timestamp_millis(),
        differences: differences as u64,
        detections: (events.len() - differences) as u64,
        verdict: summary,
    };
    if let Err(e) = baseline.record_run("verify", &run) {
        tracing::warn!("{e}");
    }
    if let Some(out) = &args.report {
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        super::report::write(&baseline, since, out)?;
    }
    Ok(if events.is_empty() {
        exit::CLEAN
    } else {
        exit::DIFFERENCES
    })
}

fn detections_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "; 1 detection".into(),
        n => format!("; {n} detections"),
    }
}

/// "3 differences: 1 new, 2 modified, 0 deleted; 1 critical, 2 medium".
fn summary(events: &[Event]) -> String {
    use crate::policy::{Kind, Severity};
    if events.is_empty() {
        return "no differences".into();
    }
    let count = |kind| {
        events
            .iter()
            .filter(|e| e.file().is_some_and(|f| f.kind == kind))
            .count()
    };
    let by_severity: Vec<String> = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ]
    .into_iter()
    .filter_map(
        |s| match events.iter().filter(|e| e.severity == s).count() {
            0 => None,
            n => Some(format!("{n} {}", s.as_str())),
        },
    )
    .collect();
    format!(
        "{} difference{}: {} new, {} modified, {} deleted; {}",
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        count(Kind::New),
        count(Kind::Modified),
        count(Kind::Deleted),
        by_severity.join(", ")
    )
}
