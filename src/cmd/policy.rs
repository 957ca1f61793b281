//! `fim policy check` and `fim policy explain`: what a policy does, without a scan
//! (`fim policy update` is in `policy_update.rs`).

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::PolicyCommand;
use crate::error::{Error, Result};
use crate::exit;
use crate::fs::open::attrs_from_stat;
use crate::fs::path as bpath;
use crate::fs::{Attrs, FileType};
use crate::policy::{Coverage, Kind, Policy};
use crate::store::Baseline;

pub fn run(command: &PolicyCommand, ui: super::Ui) -> Result<i32> {
    match command {
        PolicyCommand::Update(args) => return super::policy_update::run(args, ui),
        PolicyCommand::Check { file } => {
            let policy = Policy::load(file)?;
            let sinks: Vec<String> = policy.sinks.iter().map(|s| s.key()).collect();
            println!(
                "{}: ok: {} watches, {} rules, {} signatures, {} YARA rules, heuristics {}, {} sinks{}",
                file.display(),
                policy.watches.len(),
                policy.rules.len(),
                policy.heuristics.signatures.len(),
                policy.heuristics.yara.len(),
                if policy.heuristics.enabled {
                    "on"
                } else {
                    "off"
                },
                sinks.len(),
                if sinks.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", sinks.join(", "))
                }
            );
            for log in &policy.logs {
                println!(
                    "log {}: format {}, docroot {}{}",
                    log.path,
                    log.format_text,
                    log.docroot.as_deref().unwrap_or("unknown"),
                    match log.trusted_proxies.len() {
                        0 => String::new(),
                        n => format!(", {n} trusted proxies"),
                    }
                );
            }
            if !policy.logs.is_empty() {
                let off: Vec<&str> = crate::web::settings::configurable()
                    .filter(|k| !policy.web.detector(k).enabled)
                    .collect();
                if !off.is_empty() {
                    println!("web detectors off: {}", off.join(", "));
                }
            }
            for probe in &policy.probes {
                let every = humantime::format_duration(probe.interval);
                let timeout = humantime::format_duration(probe.timeout);
                println!(
                    "probe {}: {} every {every}, timeout {timeout}, down after {} failures",
                    probe.name, probe.url, probe.failures
                );
                if probe
                    .max_response_time
                    .is_some_and(|max| max >= probe.timeout)
                {
                    eprintln!(
                        "fim: warning: probe {}: max_response_time is not under the timeout ({timeout}): it is never `slow`, only down",
                        probe.name
                    );
                }
            }
            for watch in policy.watches.iter().filter(|w| !w.optional) {
                let root = bpath::as_path(&watch.root);
                if std::fs::symlink_metadata(root).is_err() {
                    eprintln!(
                        "fim: warning: watch root {} does not exist on this host: `fim init` refuses it unless its [[watch]] says `optional = true`",
                        root.display()
                    );
                }
            }
            for sink in policy.sinks.iter().filter(|s| s.secret_in_policy()) {
                eprintln!(
                    "fim: warning: sink {}: its URL is its credential and is written in the policy, where anyone who reads the policy (or the baseline) can post with it; prefer {{ env = \"NAME\" }} or {{ file = \"/etc/fim/NAME\" }}",
                    sink.key()
                );
            }
            for sink in &policy.sinks {
                for why in crate::sink::unreadable_values(sink) {
                    eprintln!(
                        "fim: warning: sink {}: {why} here: `fim watch` and `fim verify` refuse to start without it (give it where they run: the unit's Environment= or EnvironmentFile=)",
                        sink.key()
                    );
                }
            }
        }
        PolicyCommand::Explain { policy, db, paths } => {
            let policy = match policy {
                Some(file) => Policy::load(file)?,
                None => Baseline::open(&db.db)?.recorded_policy()?,
            };
            for path in paths {
                print!("{}", explain(&policy, path)?);
            }
        }
    }
    Ok(exit::CLEAN)
}

fn explain(policy: &Policy, path: &Path) -> Result<String> {
    let abs = bpath::absolute(path).map_err(|e| Error::io(path, e))?;
    let bytes = bpath::bytes(&abs);
    let mut out = format!("{}\n", abs.display());
    let Some((watch, rel)) = policy.watch_of(bytes) else {
        out.push_str("  not under any watched root: not monitored\n\n");
        return Ok(out);
    };
    let shown_rel = if rel.is_empty() {
        "."
    } else {
        &bpath::lossy(rel)
    };
    let _ = writeln!(
        out,
        "  watch {} (as {shown_rel})",
        bpath::lossy(&watch.root)
    );
    let attrs = rustix::fs::lstat(&abs)
        .ok()
        .and_then(|st| attrs_from_stat(&st));
    let is_dir = attrs.as_ref().is_some_and(|a| a.file_type == FileType::Dir);
    match policy.coverage(bytes) {
        Coverage::Monitored => out.push_str("  monitored\n"),
        Coverage::Walked if is_dir => out
            .push_str("  excluded, but walked: exceptions (`!` patterns) below it are monitored\n"),
        Coverage::Walked | Coverage::Outside => {
            let by = excluded_by(policy, bytes).unwrap_or_default();
            let _ = writeln!(out, "  excluded by {by:?}: not monitored, not read\n");
            return Ok(out);
        }
    }
    for kind in [Kind::New, Kind::Modified, Kind::Deleted] {
        let verdict = policy.verdict(watch, rel, bytes, kind);
        let rule = verdict
            .rule
            .map_or("no rule".to_owned(), |r| format!("rule {r}"));
        let _ = write!(
            out,
            "  {:<9} {rule}, severity {}",
            kind.as_str(),
            verdict.severity.as_str()
        );
        if kind == Kind::Modified && !verdict.ignore.is_empty() {
            let ignored: Vec<_> = verdict.ignore.iter().map(|a| a.as_str()).collect();
            let _ = write!(out, ", ignoring {}", ignored.join(", "));
        }
        if policy.heuristics.silences(verdict.report) {
            out.push_str(match kind {
                Kind::Deleted => ", not reported (report = \"suspicious\")",
                _ => ", reported only when suspicious (report = \"suspicious\")",
            });
        }
        out.push('\n');
    }
    // What the heuristics would say if it appeared as it is now (or, for a path that
    // does not exist, as a plain file: what its name alone gives away).
    let (attrs, as_what) = match attrs {
        Some(attrs) => (attrs, "as it is now"),
        None => (Attrs::plain_file(0o644), "as a plain file"),
    };
    let sample = if policy.heuristics.wants_sample(Kind::New, &attrs) {
        crate::scan::sample(policy, bytes).ok().flatten()
    } else {
        None
    };
    let reasons = policy.heuristics.assess(
        bytes,
        rel,
        None,
        &attrs,
        sample.as_ref().map(|s| s.view()).as_ref(),
    );
    if reasons.is_empty() {
        let quiet = policy
            .heuristics
            .silences(policy.verdict(watch, rel, bytes, Kind::New).report);
        let _ = writeln!(
            out,
            "  heuristics: nothing suspicious if it appeared {as_what}{}",
            if quiet { ": not reported" } else { "" }
        );
    }
    for r in reasons {
        let _ = writeln!(
            out,
            "  heuristics: {} ({}) if it appeared {as_what}",
            r.text,
            r.severity.as_str()
        );
    }
    out.push('\n');
    Ok(out)
}

/// The exclude pattern responsible, on the path or the first excluded ancestor.
fn excluded_by(policy: &Policy, path: &[u8]) -> Option<String> {
    let (watch, rel) = policy.watch_of(path)?;
    let root_len = path.len() - rel.len();
    rel.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(|(i, _)| i)
        .chain(std::iter::once(rel.len()))
        .find_map(|end| watch.excluded_by(&rel[..end], &path[..root_len + end]))
}
