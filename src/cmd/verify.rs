//! `fim verify`: rehash everything and compare with the baseline.

use std::path::Path;

use super::{scan_entries, Ui};
use crate::cli::VerifyArgs;
use crate::diff::{diff, Finding};
use crate::error::Result;
use crate::event::{hostname, Event, Source};
use crate::exit;
use crate::fs::AttrSet;
use crate::policy::Policy;
use crate::sink::{Format, Output};
use crate::store::{own_files, Baseline};

pub fn run(args: &VerifyArgs, ui: Ui) -> Result<i32> {
    let db = &args.db.db;
    let mut baseline = Baseline::open(db)?;
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => recorded_policy(&baseline)?,
    };
    // Open the output before the long scan, so a bad --output fails at once.
    let mut output = Output::open(args.output.as_deref(), args.format)?;
    let mut known = baseline.load_entries()?;
    let skip = own_files(db);

    let mut findings: Vec<Finding> = Vec::new();
    let report = scan_entries(
        ui,
        "verify",
        &policy,
        &skip,
        None,
        Some(known.len() as u64),
        |entry| {
            let old = known.remove(&entry.path);
            let masked = skip.masked(&entry.path);
            findings.extend(diff(&policy, &entry.path, old, Some(entry.attrs), masked));
            Ok(())
        },
    )?;
    // What the baseline has and the scan did not find is deleted, unless the current
    // policy no longer watches it or it sits in a directory that could not be listed.
    for (path, attrs) in known {
        if policy.monitors(&path) && !skip.contains(&path) && !report.unseen(&path) {
            findings.extend(diff(&policy, &path, Some(attrs), None, AttrSet::EMPTY));
        }
    }
    findings.sort_by(|a, b| a.path.cmp(&b.path));

    let host = hostname();
    let events: Vec<Event> = findings
        .into_iter()
        .map(|f| Event::from_finding(f, Source::Verify, &host))
        .collect();
    baseline.record_events(&events)?;
    for event in &events {
        output.write(event)?;
    }
    let summary = summary(&events);
    if output.format() == Format::Text {
        output.write_line(&summary)?;
    }
    report.finish("verify", &format!("; {summary}"));
    Ok(if events.is_empty() {
        exit::CLEAN
    } else {
        exit::DIFFERENCES
    })
}

/// The policy recorded in the baseline; an error in it is reported against the baseline.
pub fn recorded_policy(baseline: &Baseline) -> Result<Policy> {
    let origin = format!("{} (recorded policy)", baseline.path().display());
    Policy::parse(&baseline.meta()?.policy, Path::new(&origin))
}

fn summary(events: &[Event]) -> String {
    use crate::policy::Kind;
    if events.is_empty() {
        return "no differences".into();
    }
    let count = |kind| events.iter().filter(|e| e.kind == kind).count();
    format!(
        "{} difference{}: {} new, {} modified, {} deleted",
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        count(Kind::New),
        count(Kind::Modified),
        count(Kind::Deleted)
    )
}
