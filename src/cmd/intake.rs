//! What `init` and `accept` take into a baseline, shown before it is taken: the
//! differences `accept` takes in, and the entries the heuristics find suspicious,
//! assessed as a new or changed entry is by `verify`. Suspicious entries are listed and
//! recorded in the history; critically suspicious ones are refused unless the operator
//! says `--accept-suspicious`, so that a compromised site is never baselined silently.

use super::Ui;
use crate::diff::Finding;
use crate::error::{Error, Result};
use crate::event::{hostname, Event, Source};
use crate::policy::Severity;

/// How many differences `accept` lists one by one; beyond that, it counts.
const LISTED: usize = 50;
/// How many refused paths the one-line error names.
const NAMED: usize = 10;

/// Findings as the events they are recorded as. The contract's sources are verify,
/// watch and analyze: an assessment made by `init` or `accept` is a full look at the
/// disk, as `verify` makes, so it is recorded as `verify`'s.
pub fn events(findings: Vec<Finding>) -> Vec<(Event, Option<Severity>)> {
    let host = hostname();
    findings
        .into_iter()
        .map(|f| {
            let suspicion = f.suspicion;
            (Event::from_finding(f, Source::Verify, &host), suspicion)
        })
        .collect()
}

/// List `events` on stderr under `header`, at most `max` of them.
fn list<'a>(ui: Ui, header: &str, events: impl ExactSizeIterator<Item = &'a Event>, max: usize) {
    if ui.quiet || events.len() == 0 {
        return;
    }
    let total = events.len();
    let mut out = format!("{header}\n");
    for event in events.take(max) {
        let json = serde_json::from_str(&event.to_json()).unwrap_or_default();
        out.push_str(&format!("  {}\n", crate::sink::text::line(&json)));
    }
    if total > max {
        out.push_str(&format!("  ... and {} more\n", total - max));
    }
    eprint!("{out}");
}

/// The differences `accept` is taking in.
pub fn list_taken(ui: Ui, taken: &[(Event, Option<Severity>)]) {
    let header = match taken.len() {
        1 => "fim accept: taking in 1 difference:".to_owned(),
        n => format!("fim accept: taking in {n} differences:"),
    };
    list(ui, &header, taken.iter().map(|(e, _)| e), LISTED);
}

/// Keep the suspicious ones (with reasons), list each on stderr, and refuse (an
/// error, exit 2, naming them) when some are critically so and not `allowed`.
pub fn check_suspicious(
    ui: Ui,
    verb: &str,
    events: Vec<(Event, Option<Severity>)>,
    allowed: bool,
) -> Result<Vec<Event>> {
    let (suspicious, suspicion): (Vec<Event>, Vec<Option<Severity>>) = events
        .into_iter()
        .filter(|(e, _)| !e.reasons.is_empty())
        .unzip();
    let header = match suspicious.len() {
        1 => format!("fim {verb}: 1 suspicious entry:"),
        n => format!("fim {verb}: {n} suspicious entries:"),
    };
    list(ui, &header, suspicious.iter(), usize::MAX);
    let critical: Vec<String> = suspicious
        .iter()
        .zip(&suspicion)
        .filter(|(_, s)| **s == Some(Severity::Critical))
        .filter_map(|(e, _)| e.file().map(|f| f.path_lossy().into_owned()))
        .collect();
    if critical.is_empty() || allowed {
        return Ok(suspicious);
    }
    let mut named = critical[..critical.len().min(NAMED)].join(", ");
    if critical.len() > NAMED {
        named.push_str(&format!(" and {} more", critical.len() - NAMED));
    }
    let (what, them) = match critical.len() {
        1 => ("1 critically suspicious entry".to_owned(), "it"),
        n => (format!("{n} critically suspicious entries"), "them"),
    };
    Err(Error::Usage(format!(
        "{what} not taken into the baseline, nothing changed: {named}; look at {them}, \
         or pass --accept-suspicious to take {them} in anyway"
    )))
}

/// "; 2 suspicious entries recorded in the history", or nothing.
pub fn recorded_note(suspicious: &[Event]) -> String {
    match suspicious.len() {
        0 => String::new(),
        n => format!(
            "; {} recorded in the history (fim events)",
            crate::progress::plural(n as u64, "suspicious entry", "suspicious entries")
        ),
    }
}
