//! `fim analyze LOG...`: the log detectors over whole log files, for incident
//! response, replays and benchmarks. The same detectors as `watch` and `verify`; only
//! the lines come from files read start to end. A log is an auth log with
//! `--log-format auth`, when the policy's `[logins] files` name it, or, with neither
//! a format nor a `[[log]]` for it, when its first line is a syslog line.

use std::path::Path;

use crate::auth::learned::Learned;
use crate::auth::logs::{is_syslog, AuthLogs};
use crate::auth::LoginSettings;
use crate::cli::AnalyzeArgs;
use crate::error::{Error, Result};
use crate::event::{hostname, Event, Source};
use crate::exit;
use crate::logs::parse::LogFormat;
use crate::logs::whole::read_whole;
use crate::policy::{LogSpec, Policy};
use crate::sink::{Format, Output};
use crate::store::Baseline;
use crate::web::access::AccessLogs;
use crate::web::WebSettings;

pub fn run(args: &AnalyzeArgs) -> Result<i32> {
    let mut baseline = args.db.as_deref().map(Baseline::open).transpose()?;
    if let Some(baseline) = &baseline {
        baseline.require_writable("analyze --db")?;
    }
    // As `watch` and `verify` do: the policy recorded in the baseline unless told.
    let policy = match (&args.policy, &baseline) {
        (Some(path), _) => Some(Policy::load(path)?),
        (None, Some(baseline)) => Some(baseline.recorded_policy()?),
        (None, None) => None,
    };
    let auth_format = args.log_format.as_deref() == Some("auth");
    let format = args
        .log_format
        .as_deref()
        .filter(|_| !auth_format)
        .map(|f| {
            LogFormat::from_policy(f)
                .map(|format| (format, f.to_owned()))
                .map_err(|e| Error::Usage(format!("--log-format {f:?}: {e}")))
        })
        .transpose()?;
    let specs: Vec<LogSpec> = args
        .logs
        .iter()
        .map(|log| spec_for(log, policy.as_ref(), format.as_ref()))
        .collect();
    let web = policy
        .as_ref()
        .map_or_else(WebSettings::default, |p| p.web.clone());
    let mut access = AccessLogs::new(&specs, &web);
    let logins = policy
        .as_ref()
        .map_or_else(LoginSettings::default, |p| p.logins.clone());
    let mut kinds: Vec<Kind> = args
        .logs
        .iter()
        .map(|log| kind_of(log, policy.as_ref(), auth_format, format.is_some()))
        .collect();
    let saved = match &baseline {
        Some(b) => b.login_sources()?,
        None => Vec::new(),
    };
    let mut auth = AuthLogs::new(&logins, Learned::new(logins.learning, &saved));
    if let Some(baseline) = &baseline {
        access.add_file_events(crate::web::FileRef::recorded(baseline, i64::MIN)?);
    }
    let mut output = Output::open(args.output.as_deref(), args.format)?;
    let host = hostname();
    let mut events: Vec<Event> = Vec::new();
    let mut alerts = Vec::new();
    let mut written: Result<()> = Ok(());
    let mut emit = |alerts: &mut Vec<crate::detect::Alert>, events: &mut Vec<Event>| {
        for alert in alerts.drain(..) {
            let event = alert.into_event(Source::Analyze, &host);
            if written.is_ok() {
                written = output.write(&event);
            }
            events.push(event);
        }
    };
    // A log of which no line was understood is the wrong file or the wrong format: an
    // error once everything else is told and recorded, not a clean "nothing detected".
    let mut foreign: Option<(usize, u64)> = None;
    for (index, log) in args.logs.iter().enumerate() {
        let kind = &mut kinds[index];
        let before = (access.understood(), access.counts().1);
        read_whole(log, index, &mut |line| {
            if *kind == Kind::Unknown && !line.bytes.iter().all(u8::is_ascii_whitespace) {
                *kind = if is_syslog(line.bytes) {
                    Kind::Auth
                } else {
                    Kind::Web
                };
            }
            match kind {
                Kind::Auth => auth.line(line, &mut alerts),
                _ => access.line(line, &mut alerts),
            }
            if !alerts.is_empty() {
                emit(&mut alerts, &mut events);
            }
        })
        .map_err(|e| Error::io(log, e))?;
        let unparsed = access.counts().1 - before.1;
        if unparsed > 0 && access.understood() == before.0 && foreign.is_none() {
            foreign = Some((index, unparsed));
        }
    }
    access.flush(i64::MAX, &mut alerts);
    auth.flush(i64::MAX, &mut alerts);
    emit(&mut alerts, &mut events);
    let traffic = access.traffic_lines();
    let recorded = match &mut baseline {
        Some(baseline) => {
            let mut activity = std::mem::take(&mut access.activity);
            activity.merge(std::mem::take(&mut auth.activity));
            baseline
                .record_events(&events)
                .and_then(|()| {
                    baseline.record_login_sources(&auth.detectors.learned.take_changes())
                })
                .and_then(|()| baseline.record_activity(&mut activity))
        }
        None => Ok(()),
    };
    written.and(recorded)?;
    let (web_lines, unparsed) = access.counts();
    let (auth_lines, _) = auth.counts();
    let lines = web_lines + auth_lines;
    if output.format() == Format::Text && web_lines > 0 {
        output.write_line("")?;
        for line in traffic {
            output.write_line(&line)?;
        }
    }
    tracing::info!(
        "{} detections in {lines} lines ({unparsed} not understood)",
        events.len()
    );
    if let Some((index, read)) = foreign {
        return Err(Error::Usage(format!(
            "{}: {} read and not one is an access log line in the {:?} format (the wrong \
             file? give its format with --log-format, or auth for an authentication log)",
            args.logs[index].display(),
            crate::progress::plural(read, "line", "lines"),
            specs[index].format_text
        )));
    }
    Ok(if events.is_empty() {
        exit::CLEAN
    } else {
        exit::DIFFERENCES
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Web,
    Auth,
    /// Told by its first line.
    Unknown,
}

fn kind_of(log: &Path, policy: Option<&Policy>, auth_format: bool, web_format: bool) -> Kind {
    let matches = |pattern: &str| {
        pattern == log.to_string_lossy()
            || globset::Glob::new(pattern).is_ok_and(|g| g.compile_matcher().is_match(log))
    };
    if auth_format || policy.is_some_and(|p| p.logins.files.iter().any(|f| matches(f))) {
        Kind::Auth
    } else if web_format || policy.is_some_and(|p| p.logs.iter().any(|l| matches(&l.path))) {
        Kind::Web
    } else {
        Kind::Unknown
    }
}

/// A LOG takes the format and docroot of the policy's `[[log]]` whose path matches it;
/// `--log-format` wins over both.
fn spec_for(log: &Path, policy: Option<&Policy>, format: Option<&(LogFormat, String)>) -> LogSpec {
    let name = log.to_string_lossy().into_owned();
    let matching = policy.and_then(|p| {
        p.logs.iter().find(|spec| {
            spec.path == name
                || globset::Glob::new(&spec.path).is_ok_and(|g| g.compile_matcher().is_match(log))
        })
    });
    let docroot = matching.and_then(|m| m.docroot.clone()).or_else(|| {
        policy
            .filter(|p| p.watches.len() == 1)
            .map(|p| crate::fs::path::lossy(&p.watches[0].root).into_owned())
    });
    let (format, format_text) = match (format, matching) {
        (Some((f, text)), _) => (f.clone(), text.clone()),
        (None, Some(m)) => (m.format.clone(), m.format_text.clone()),
        (None, None) => (LogFormat::Combined, "combined".into()),
    };
    LogSpec {
        path: name,
        format,
        format_text,
        docroot,
        trusted_proxies: matching
            .map(|m| m.trusted_proxies.clone())
            .unwrap_or_default(),
    }
}
