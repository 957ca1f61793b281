//! `fim events`: the recorded event history, as JSON Lines or as text for people, or
//! the accept audit trail.

use std::collections::HashMap;
use std::io::Write;

use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;

use crate::cli::EventsArgs;
use crate::error::{Error, Result};
use crate::exit;
use crate::fs::path as bpath;
use crate::progress::plural;
use crate::sink::{text, Format};
use crate::store::{AcceptRecord, Baseline, EventQuery};

pub fn run(args: &EventsArgs) -> Result<i32> {
    let baseline = Baseline::open(&args.db.db)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut emit = |line: &str| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("<stdout>", e))
    };
    let since_ms = args.since.map(|t| t.timestamp_millis());
    if args.accepts {
        baseline.accepts(|record| {
            let at = chrono::DateTime::parse_from_rfc3339(&record.ts).map(|t| t.timestamp_millis());
            if since_ms.is_some_and(|since| at.is_ok_and(|at| at < since)) {
                return Ok(());
            }
            match args.format {
                Format::Jsonl => emit(&serde_json::to_string(&record).unwrap_or_default()),
                Format::Text => emit(&accept_line(&record)),
            }
        })?;
        return Ok(exit::CLEAN);
    }
    if let Some(id) = &args.incident {
        return incident(&baseline, id, since_ms, args.format, &mut emit);
    }
    let glob = args.path.as_deref().map(path_glob).transpose()?;
    if let Some(kind) = args.kind.as_deref() {
        let file_kinds = ["new", "modified", "deleted"];
        let known = || {
            file_kinds
                .into_iter()
                .chain(crate::web::settings::configurable())
        };
        if !known().any(|k| k == kind) {
            return Err(Error::Usage(format!(
                "--kind {kind:?}: no such kind (known: {})",
                known().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let query = EventQuery {
        since_ms,
        kind: args.kind.clone(),
        category: args.category.clone(),
    };
    let wanted = |path: &[u8]| {
        glob.as_ref()
            .is_none_or(|g| g.is_match(bpath::as_path(path)))
    };
    match args.format {
        Format::Jsonl => baseline.events(&query, |path, json| {
            if wanted(path) {
                emit(json)?;
            }
            Ok(())
        })?,
        Format::Text => {
            let mut repeats = Repeats::default();
            baseline.events(&query, |path, json| {
                if wanted(path) {
                    repeats.add(serde_json::from_str(json).unwrap_or_default());
                }
                Ok(())
            })?;
            for line in repeats.lines() {
                emit(&line)?;
            }
        }
    }
    Ok(exit::CLEAN)
}

/// `--incident ID`: its events in story order, as their JSON lines, or the headline
/// and a line per step.
fn incident(
    baseline: &Baseline,
    id: &str,
    since_ms: Option<i64>,
    format: Format,
    emit: &mut impl FnMut(&str) -> Result<()>,
) -> Result<i32> {
    let (nodes, incidents) = crate::incident::recorded(baseline, since_ms)?;
    let Some(found) = crate::incident::find(&incidents, &nodes, id) else {
        return Err(Error::Usage(format!(
            "--incident {id:?}: no incident with this id (or holding this event) in {}",
            baseline.path().display()
        )));
    };
    if format == Format::Text {
        emit(&found.headline(&nodes).escape_debug().to_string())?;
        for &step in &found.steps {
            emit(&crate::incident::story_line(&nodes[step]))?;
        }
        return Ok(exit::CLEAN);
    }
    let order: HashMap<&str, usize> = found
        .steps
        .iter()
        .enumerate()
        .map(|(n, &i)| (nodes[i].id.as_str(), n))
        .collect();
    let mut lines: Vec<(usize, String)> = Vec::new();
    let query = EventQuery {
        since_ms,
        ..EventQuery::default()
    };
    baseline.events(&query, |_, json| {
        let id = serde_json::from_str::<Value>(json)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
        if let Some(&n) = id.as_deref().and_then(|id| order.get(id)) {
            lines.push((n, json.to_owned()));
        }
        Ok(())
    })?;
    lines.sort_by_key(|(n, _)| *n);
    for (_, line) in lines {
        emit(&line)?;
    }
    Ok(exit::CLEAN)
}

/// `--path`: events hold absolute paths, so a relative glob would silently match
/// nothing; it is refused instead.
fn path_glob(glob: &str) -> Result<GlobMatcher> {
    if !glob.starts_with('/') && !glob.starts_with("**") {
        return Err(Error::Usage(format!(
            "--path {glob:?}: events hold absolute paths: give an absolute glob \
             (/var/www/html/{glob}) or start it with **/ (**/{glob})"
        )));
    }
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::Usage(format!("--path {glob:?}: {}", e.kind())))
}

/// The text history: a difference that each nightly verify recorded again (the same
/// entry, the same change, the same states) is one line, with how many times and when
/// last. The JSON history keeps every record: each is an event with its own id.
#[derive(Default)]
struct Repeats {
    /// The first event of each group, how many, and the last time stamp.
    groups: Vec<(Value, usize, String)>,
    by_key: HashMap<String, usize>,
}

impl Repeats {
    fn add(&mut self, event: Value) {
        let ts = event
            .get("ts")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let mut key = event.clone();
        if let Some(map) = key.as_object_mut() {
            map.remove("id");
            map.remove("ts");
        }
        let key = key.to_string();
        match self.by_key.get(&key) {
            Some(&i) => {
                let group = &mut self.groups[i];
                group.1 += 1;
                group.2 = ts;
            }
            None => {
                self.by_key.insert(key, self.groups.len());
                self.groups.push((event, 1, ts));
            }
        }
    }

    fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.groups.iter().map(|(event, count, last)| {
            let str_of = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
            let mut line = format!(
                "{}  {:<7} {}",
                str_of("ts"),
                str_of("source"),
                text::line(event)
            );
            if *count > 1 {
                line.push_str(&format!("  ({count} times, last {last})"));
            }
            line
        })
    }
}

/// `TS  USER  N entries  PATHS  — REASON`, each field escaped: a reason or a name
/// with a line break must not forge a record.
fn accept_line(record: &AcceptRecord) -> String {
    let paths: Vec<String> = record
        .paths
        .iter()
        .map(|p| p.escape_debug().to_string())
        .collect();
    format!(
        "{}  {}  {}  {}  — {}",
        record.ts,
        record.user.escape_debug(),
        plural(record.count.max(0) as u64, "entry", "entries"),
        paths.join(", "),
        record
            .reason
            .as_deref()
            .unwrap_or("(no reason given)")
            .escape_debug()
    )
}
