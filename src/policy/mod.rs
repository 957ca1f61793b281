//! The policy: what is watched, what is excluded, which attributes are ignored, and how
//! severe a change is. Parsed from TOML with every key checked, so a typo is an error
//! rather than a silently unmonitored path.

pub mod detect;
mod host;
mod locate;
mod logins;
pub mod matcher;
pub mod probe;
pub mod sink;
mod yara;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{Error, Result};
use crate::fs::path as bpath;
use crate::fs::{Attr, AttrSet};
use crate::heuristics::yara::{YaraRules, YaraSource};
use crate::heuristics::{Heuristics, Packaged, RawSignature, Signature, Signatures};
pub use detect::LogSpec;
pub use host::{HostSettings, Site};
use matcher::{BadPattern, Globs, Pattern};
pub use probe::ProbeSpec;
pub use sink::SinkSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// When a rule's events are reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    /// Every difference.
    #[default]
    Always,
    /// Only when the heuristics give a reason (a busy upload folder: recorded, but
    /// silent until something in it looks like an attack). A deletion never has one.
    Suspicious,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The kind of a change, as events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    New,
    Modified,
    Deleted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Modified => "modified",
            Kind::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    /// Other policies merged into this one, relative to this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    include: Vec<Spanned<String>>,
    /// `${name}` values for watch paths and globs; an including policy's values win,
    /// so a pack written for `/var/www/html` serves any docroot.
    #[serde(default, skip_serializing)]
    vars: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rescan_interval: Option<Spanned<String>>,
    /// The public key that checks the baseline's signature (absolute path).
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_key: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heuristics: Option<RawHeuristics>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    watch: Vec<RawWatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rule: Vec<RawRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    signature: Vec<Spanned<RawSignature>>,
    /// YARA rule text, as read from the files `[heuristics] yara` names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    yara_source: Vec<YaraSource>,
    /// Checked by `SinkSpec::from_table`, which names the keys each type takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sink: Vec<Spanned<toml::Table>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    log: Vec<detect::RawLog>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    probe: Vec<probe::RawProbe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Not `Spanned`: toml cannot span a table holding tables; errors name the line
    /// of the `[web` header instead.
    web: Option<toml::Table>,
    /// `[logins]`, read by hand like `[web]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    logins: Option<toml::Table>,
    /// `[processes]`: read by hand like `[web]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<toml::Table>,
    /// `[host]`: read by hand like `[processes]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<toml::Table>,
}

#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawHeuristics {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    builtin_signatures: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_users: Option<Vec<String>>,
    /// Signature files, relative to the policy; inlined when the policy is recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    signatures: Vec<Spanned<String>>,
    /// YARA rule files (globs), relative to the policy; inlined like signature files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    yara: Vec<Spanned<String>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    path: Spanned<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    exclude: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore: Vec<Attr>,
    /// A root this host may lack (a shared pack): missing at `init`, it is a warning
    /// rather than an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    optional: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    paths: Vec<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kinds: Option<Vec<Kind>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore: Vec<Attr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
}

/// The web server users whose ownership of a script is suspicious, unless the policy
/// names its own.
const DEFAULT_WEB_USERS: &[&str] = &["www-data", "apache", "nginx", "http", "httpd", "wwwrun"];

/// One watched tree.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Absolute, normalized, without a trailing slash (except `/`).
    pub root: Vec<u8>,
    exclude: Globs,
    /// `!pattern` entries of `exclude`: monitored even inside an excluded folder.
    exceptions: Globs,
    /// The exceptions split into components: an excluded folder is still walked when
    /// an exception could match something below it, and only exceptions are recorded
    /// inside it.
    exception_parts: Vec<Vec<Component>>,
    pub ignore: AttrSet,
    /// The `exclude` patterns as written (after `${vars}`): two watches of one root
    /// with the same patterns cover the same entries.
    pub exclude_text: Vec<String>,
    /// May be missing on this host (`optional = true`); else a missing root is an error
    /// at `init` and a warning on every scan.
    pub optional: bool,
}

impl Watch {
    /// Is the entry at `rel` below this root (itself, not its ancestors) excluded?
    pub fn excludes(&self, rel: &[u8], abs: &[u8]) -> bool {
        !rel.is_empty() && self.exclude.matches(rel, abs) && !self.exceptions.matches(rel, abs)
    }

    /// Must the excluded folder at `rel` still be walked for the exceptions below it?
    pub fn walks_excluded(&self, rel: &[u8]) -> bool {
        let folders: Vec<&[u8]> = rel.split(|b| *b == b'/').collect();
        self.exception_parts
            .iter()
            .any(|parts| could_match_below(parts, &folders))
    }

    /// The exclude pattern that excludes `rel`, if any (for `fim policy explain`).
    pub fn excluded_by(&self, rel: &[u8], abs: &[u8]) -> Option<String> {
        if rel.is_empty() || self.exceptions.matches(rel, abs) {
            return None;
        }
        self.exclude.first_match(rel, abs)
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    paths: Globs,
    kinds: Option<Vec<Kind>>,
    /// `None`: the policy's default severity.
    pub severity: Option<Severity>,
    pub ignore: AttrSet,
    pub report: Report,
}

/// How a policy covers a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Recorded and compared.
    Monitored,
    /// Excluded, but a folder walked to reach the exceptions (`!pattern`) below it.
    Walked,
    /// Not under any watch, or excluded.
    Outside,
}

/// What the policy decides for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub rule: Option<&'a str>,
    pub severity: Severity,
    /// The watch's ignored attributes plus the rule's.
    pub ignore: AttrSet,
    pub report: Report,
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy as recorded in the baseline: as written, or, when it includes other
    /// files or loads signature files, flattened into one self-contained document.
    pub text: String,
    pub default_severity: Severity,
    /// How often `fim watch` rescans everything as a safety net for what inotify cannot
    /// see (another mount namespace, a bind mount, the raw device); `None` disables it.
    pub rescan_interval: Option<Duration>,
    /// The public key that checks the baseline's signature, if the policy names one.
    pub verify_key: Option<PathBuf>,
    pub watches: Vec<Watch>,
    pub rules: Vec<Rule>,
    pub heuristics: Heuristics,
    pub sinks: Vec<SinkSpec>,
    /// The access logs the web detectors read.
    pub logs: Vec<LogSpec>,
    pub web: crate::web::WebSettings,
    /// The auth logs and the auth detectors' settings.
    pub logins: crate::auth::LoginSettings,
    /// The process detectors, when the policy has a `[processes]` table.
    pub processes: Option<crate::procs::ProcessSettings>,
    /// The host checks, when the policy has a `[host]` table.
    pub host: Option<HostSettings>,
    /// The sites the probes ask.
    pub probes: Vec<ProbeSpec>,
}

const DEFAULT_RESCAN: Duration = Duration::from_secs(3600);

/// The largest policy file fim reads; a policy is a few kilobytes.
const MAX_POLICY_BYTES: u64 = 4 << 20;

impl Policy {
    /// Read and parse a policy file (and the files it includes).
    pub fn load(path: &Path) -> Result<Policy> {
        let text = read_policy_text(path)?;
        Policy::parse(&text, path)
    }

    /// The built-in default policy: watch `roots`, exclude nothing, report every change
    /// at medium severity.
    pub fn for_roots(roots: &[PathBuf]) -> Result<Policy> {
        let mut text = String::from(
            "# Built-in default policy of `fim init ROOT...`: every change under these roots\n\
             # is reported at medium severity. Write a policy file to exclude or grade paths.\n\
             default_severity = \"medium\"\n",
        );
        for root in roots {
            let root = root.to_str().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: a watch root must be valid UTF-8 to be written in a policy",
                    root.display()
                ))
            })?;
            text.push_str(&format!(
                "\n[[watch]]\npath = {}\n",
                toml::Value::String(root.to_owned())
            ));
        }
        Policy::parse(&text, Path::new("<built-in default policy>"))
    }

    /// Parse policy text; `origin` names it in error messages, and includes and
    /// signature files are found relative to it.
    pub fn parse(text: &str, origin: &Path) -> Result<Policy> {
        let mut stack = vec![origin.to_path_buf()];
        let part = Part::parse(text, origin, &mut stack, &Vars::new())?;
        // A policy for `fim analyze` may hold only detector settings.
        if part.watches.is_empty()
            && part.logs.is_empty()
            && part.raw.web.is_none()
            && part.raw.logins.is_none()
            && part.raw.processes.is_none()
            && part.raw.host.is_none()
            && part.probes.is_empty()
        {
            return Err(Error::Policy {
                origin: origin.to_path_buf(),
                line: 1,
                message: "no [[watch]] table: the policy watches nothing".into(),
            });
        }
        let text = if part.flattened {
            let body = toml::to_string(&part.raw).map_err(|e| Error::Policy {
                origin: origin.to_path_buf(),
                line: 1,
                message: format!("cannot record the merged policy: {e}"),
            })?;
            format!(
                "# {} with its includes and signature files, merged by fim.\n{body}",
                origin.display()
            )
        } else {
            text.to_owned()
        };
        // A log's requests are served from the only watched tree, unless it says.
        let mut part = part;
        if let [only] = part.watches.as_slice() {
            let root = bpath::lossy(&only.root).into_owned();
            for log in part.logs.iter_mut().filter(|l| l.docroot.is_none()) {
                log.docroot = Some(root.clone());
            }
        }
        let raw_heuristics = part.raw.heuristics.clone().unwrap_or_default();
        let mut signatures = Vec::new();
        if raw_heuristics.builtin_signatures != Some(false) {
            signatures = builtin_signatures();
        }
        signatures.extend(part.signatures);
        let processes = match &part.raw.processes {
            Some(table) => Some(detect::processes(table, &web_users, &|_, m| {
                Error::Policy {
                    origin: origin.to_path_buf(),
                    line: part.processes_line,
                    message: m,
                }
            })?),
            None => None,
        };
        let host = match &part.raw.host {
            Some(table) => Some(host::host(table, &|_, m| Error::Policy {
                origin: origin.to_path_buf(),
                line: part.host_line,
                message: m,
            })?),
            None => None,
        };
        let yara = YaraRules::compile(&part.raw.yara_source).map_err(|e| Error::Policy {
            origin: PathBuf::from(e.file),
            line: e.line,
            message: e.message,
        })?;
        let signatures = Signatures::new(signatures).map_err(|message| Error::Policy {
            origin: origin.to_path_buf(),
            line: 1,
            message,
        })?;
        let heuristics = Heuristics {
            enabled: raw_heuristics.enabled != Some(false),
            signatures,
            yara,
            web_users: web_users(raw_heuristics.web_users.as_deref()),
            packaged: Packaged::new(part.watches.iter().map(|w| w.root.clone()).collect()),
        };
        Ok(Policy {
            text,
            default_severity: part.raw.default_severity.unwrap_or(Severity::Medium),
            rescan_interval: part.rescan_interval.unwrap_or(Some(DEFAULT_RESCAN)),
            verify_key: part
                .raw
                .verify_key
                .as_ref()
                .map(|k| PathBuf::from(k.get_ref())),
            watches: part.watches,
            rules: part.rules,
            heuristics,
            sinks: part.sinks,
            logs: part.logs,
            web: part.web,
            logins: part.logins,
            processes,
            host,
            probes: part.probes,
        })
    }

    /// The watch roots, as text (for messages that group events by root).
    pub fn root_names(&self) -> Vec<String> {
        self.watches
            .iter()
            .map(|w| bpath::lossy(&w.root).into_owned())
            .collect()
    }

    /// The watch an absolute path belongs to (the deepest root containing it) and the
    /// path relative to that root.
    pub fn watch_of<'p>(&self, path: &'p [u8]) -> Option<(&Watch, &'p [u8])> {
        self.watches
            .iter()
            .filter_map(|w| bpath::relative(path, &w.root).map(|rel| (w, rel)))
            .max_by_key(|(w, _)| w.root.len())
    }

    /// Is `path` monitored: inside a watch, and neither it nor an ancestor excluded
    /// (an excluded ancestor still walked for exceptions does not count)?
    pub fn monitors(&self, path: &[u8]) -> bool {
        self.coverage(path) == Coverage::Monitored
    }

    /// How the policy covers `path`.
    pub fn coverage(&self, path: &[u8]) -> Coverage {
        let Some((watch, rel)) = self.watch_of(path) else {
            return Coverage::Outside;
        };
        let root_len = path.len() - rel.len();
        let ancestors = rel
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| i);
        for end in ancestors {
            if watch.excludes(&rel[..end], &path[..root_len + end])
                && !watch.walks_excluded(&rel[..end])
            {
                return Coverage::Outside;
            }
        }
        if !watch.excludes(rel, path) {
            Coverage::Monitored
        } else if watch.walks_excluded(rel) {
            Coverage::Walked
        } else {
            Coverage::Outside
        }
    }

    /// Is `path` the root of a watch other than `current`? The walk of an outer watch
    /// leaves a nested root to its own watch (its own excludes and ignores).
    pub fn is_nested_root(&self, current: &Watch, path: &[u8]) -> bool {
        self.watches
            .iter()
            .any(|w| w.root == path && w.root != current.root)
    }

    /// The first rule that applies to a `kind` event at `path` (relative `rel` to
    /// `watch`), or the default.
    pub fn verdict(&self, watch: &Watch, rel: &[u8], path: &[u8], kind: Kind) -> Verdict<'_> {
        let rule = self.rules.iter().find(|r| {
            r.kinds.as_ref().is_none_or(|k| k.contains(&kind)) && r.paths.matches(rel, path)
        });
        match rule {
            Some(r) => Verdict {
                rule: Some(&r.name),
                severity: r.severity.unwrap_or(self.default_severity),
                ignore: watch.ignore.union(r.ignore),
                report: r.report,
            },
            None => Verdict {
                rule: None,
                severity: self.default_severity,
                ignore: watch.ignore,
                report: Report::Always,
            },
        }
    }
}

/// One policy file, checked, with its includes merged in (its own rules first, so a
/// site policy's rules win over a pack's).
struct Part {
    raw: RawPolicy,
    flattened: bool,
    rescan_interval: Option<Option<Duration>>,
    watches: Vec<Watch>,
    rules: Vec<Rule>,
    signatures: Vec<Signature>,
    sinks: Vec<SinkSpec>,
    logs: Vec<LogSpec>,
    probes: Vec<ProbeSpec>,
    web: crate::web::WebSettings,
    logins: crate::auth::LoginSettings,
    /// The line of the `[processes]` header, for messages.
    processes_line: usize,
    /// The line of the `[host]` header, for messages.
    host_line: usize,
}

/// Policies a policy may include, nested.
const MAX_INCLUDE_DEPTH: usize = 8;

impl Part {
    fn parse(
        text: &str,
        origin: &Path,
        stack: &mut Vec<PathBuf>,
        inherited: &Vars,
    ) -> Result<Part> {
        let fail = |offset: usize, message: String| Error::Policy {
            origin: origin.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let mut raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            fail(offset, e.message().trim().replace('\n', " "))
        })?;
        let mut vars = std::mem::take(&mut raw.vars);
        vars.extend(inherited.iter().map(|(k, v)| (k.clone(), v.clone())));
        let expand = |s: &mut Spanned<String>| -> Result<()> {
            let value = substitute(s.get_ref(), &vars).map_err(|m| fail(s.span().start, m))?;
            *s = Spanned::new(s.span(), value);
            Ok(())
        };
        for w in &mut raw.watch {
            expand(&mut w.path)?;
            w.exclude.iter_mut().try_for_each(expand)?;
        }
        for r in &mut raw.rule {
            r.paths.iter_mut().try_for_each(expand)?;
        }
        let from_bad = |b: BadPattern| fail(b.offset, b.message);

        let mut watches: Vec<Watch> = Vec::with_capacity(raw.watch.len());
        for w in &raw.watch {
            let offset = w.path.span().start;
            let root = normalize_root(w.path.get_ref()).map_err(|m| fail(offset, m))?;
            if watches.iter().any(|other| other.root == root) {
                return Err(fail(
                    offset,
                    format!("watch path {} is listed twice", w.path.get_ref()),
                ));
            }
            let (exceptions, excludes): (Vec<_>, Vec<_>) =
                w.exclude.iter().partition(|p| p.get_ref().starts_with('!'));
            let exception_patterns: Vec<Pattern<'_>> = exceptions
                .iter()
                .map(|p| Pattern {
                    text: &p.get_ref()[1..],
                    offset: p.span().start,
                })
                .collect();
            let exception_parts = exception_patterns
                .iter()
                .map(|p| components(p.text).map_err(|m| fail(p.offset, m)))
                .collect::<Result<Vec<_>>>()?;
            watches.push(Watch {
                root,
                exclude: Globs::new(excludes.iter().map(|p| pattern(p)), true).map_err(from_bad)?,
                exceptions: Globs::new(exception_patterns, true).map_err(from_bad)?,
                exception_parts,
                ignore: w.ignore.iter().copied().collect(),
                exclude_text: w.exclude.iter().map(|p| p.get_ref().clone()).collect(),
                optional: w.optional,
            });
        }

        let rescan_interval = match &raw.rescan_interval {
            None => None,
            Some(text) => {
                let every = humantime::parse_duration(text.get_ref()).map_err(|e| {
                    fail(
                        text.span().start,
                        format!(
                            "rescan_interval {:?}: {e} (write e.g. \"1h\", \"30m\", or \"0s\" to disable)",
                            text.get_ref()
                        ),
                    )
                })?;
                Some((!every.is_zero()).then_some(every))
            }
        };
        let mut rules = Vec::with_capacity(raw.rule.len());
        for r in &raw.rule {
            if r.name.get_ref().trim().is_empty() {
                return Err(fail(r.name.span().start, "rule name is empty".into()));
            }
            if r.paths.is_empty() {
                return Err(fail(
                    r.name.span().start,
                    format!("rule {:?} has no paths", r.name.get_ref()),
                ));
            }
            rules.push(Rule {
                name: r.name.get_ref().clone(),
                paths: Globs::new(patterns(&r.paths), false).map_err(from_bad)?,
                kinds: r.kinds.clone(),
                severity: r.severity,
                ignore: r.ignore.iter().copied().collect(),
                report: r.report.unwrap_or_default(),
            });
        }

        if let Some(key) = &raw.verify_key {
            if !key.get_ref().starts_with('/') {
                return Err(fail(
                    key.span().start,
                    format!("verify_key {:?} is not an absolute path", key.get_ref()),
                ));
            }
        }
        let mut signatures = Vec::new();
        for s in &raw.signature {
            signatures.push(Signature::compile(s.get_ref()).map_err(|m| fail(s.span().start, m))?);
        }
        let mut sinks: Vec<SinkSpec> = Vec::with_capacity(raw.sink.len());
        for table in &raw.sink {
            let spec =
                SinkSpec::from_table(table.get_ref()).map_err(|m| fail(table.span().start, m))?;
            if sinks.iter().any(|s| s.key() == spec.key()) {
                return Err(fail(
                    table.span().start,
                    format!("sink {} is listed twice (give one a `name`)", spec.key()),
                ));
            }
            sinks.push(spec);
        }
        let logs = detect::logs(&raw.log, &fail)?;
        let probes = probe::probes(&raw.probe, &fail)?;
        let loc = locate::Locator::new(text);
        let web = detect::web(raw.web.as_ref(), &loc, &fail)?;
        let logins = logins::logins(raw.logins.as_ref(), &loc, &fail)?;
        let header_line = |header: &str| {
            text.match_indices(header)
                .find(|(i, _)| *i == 0 || text.as_bytes()[i - 1] == b'\n')
                .map_or(1, |(i, _)| line_of(text, i))
        };
        let processes_line = header_line("[processes");
        let host_line = header_line("[host");
        let mut flattened = false;
        // Signature files are inlined, so the recorded policy stands on its own.
        if let Some(h) = raw.heuristics.as_mut() {
            for file in std::mem::take(&mut h.signatures) {
                flattened = true;
                let path = beside(origin, file.get_ref());
                let sig_text = read_policy_text(&path).map_err(|e| match e {
                    Error::Io { source, .. } => fail(
                        file.span().start,
                        format!("signature file {}: {source}", path.display()),
                    ),
                    other => other,
                })?;
                let sig_fail = |offset: usize, message: String| Error::Policy {
                    origin: path.clone(),
                    line: line_of(&sig_text, offset),
                    message,
                };
                let raws = crate::heuristics::signatures::parse(&sig_text)
                    .map_err(|(offset, m)| sig_fail(offset, m))?;
                for raw_sig in raws {
                    signatures.push(Signature::compile(&raw_sig).map_err(|m| sig_fail(0, m))?);
                    raw.signature.push(Spanned::new(0..0, raw_sig));
                }
            }
            for glob in std::mem::take(&mut h.yara) {
                flattened = true;
                let at_glob = |message| fail(glob.span().start, message);
                raw.yara_source
                    .extend(yara::load(glob.get_ref(), origin, &at_glob)?);
            }
        }

        let mut part = Part {
            raw,
            flattened,
            rescan_interval,
            watches,
            rules,
            signatures,
            sinks,
            logs,
            probes,
            web,
            logins,
            processes_line,
            host_line,
        };
        for include in std::mem::take(&mut part.raw.include) {
            part.flattened = true;
            let path = beside(origin, include.get_ref());
            if stack.contains(&path) || stack.len() > MAX_INCLUDE_DEPTH {
                return Err(fail(
                    include.span().start,
                    format!("include {}: circular or too deeply nested", path.display()),
                ));
            }
            let inc_text = read_policy_text(&path).map_err(|e| match e {
                Error::Io { source, .. } => fail(
                    include.span().start,
                    format!("include {}: {source}", path.display()),
                ),
                other => other,
            })?;
            stack.push(path.clone());
            let included = Part::parse(&inc_text, &path, stack, &vars)?;
            stack.pop();
            part.merge(included, &fail, include.span().start)?;
        }
        // Rules without a severity take the merged default.
        Ok(part)
    }

    fn merge(
        &mut self,
        other: Part,
        fail: &impl Fn(usize, String) -> Error,
        offset: usize,
    ) -> Result<()> {
        for w in other.watches {
            if self.watches.iter().any(|mine| mine.root == w.root) {
                return Err(fail(
                    offset,
                    format!(
                        "watch path {} is listed twice (also in an included policy)",
                        bpath::lossy(&w.root)
                    ),
                ));
            }
            self.watches.push(w);
        }
        self.rules.extend(other.rules);
        self.signatures.extend(other.signatures);
        for sink in other.sinks {
            if self.sinks.iter().any(|mine| mine.key() == sink.key()) {
                return Err(fail(
                    offset,
                    format!(
                        "sink {} is listed twice (also in an included policy)",
                        sink.key()
                    ),
                ));
            }
            self.sinks.push(sink);
        }
        self.rescan_interval = self.rescan_interval.or(other.rescan_interval);
        let raw = other.raw;
        self.raw.default_severity = self.raw.default_severity.or(raw.default_severity);
        if self.raw.verify_key.is_none() {
            self.raw.verify_key = raw.verify_key;
        }
        if self.raw.rescan_interval.is_none() {
            self.raw.rescan_interval = raw.rescan_interval;
        }
        self.raw.heuristics = match (self.raw.heuristics.take(), raw.heuristics) {
            (Some(mine), Some(theirs)) => Some(RawHeuristics {
                enabled: mine.enabled.or(theirs.enabled),
                builtin_signatures: mine.builtin_signatures.or(theirs.builtin_signatures),
                web_users: mine.web_users.or(theirs.web_users),
                signatures: Vec::new(),
                yara: Vec::new(),
            }),
            (mine, theirs) => mine.or(theirs),
        };
        self.raw.watch.extend(raw.watch);
        self.raw.rule.extend(raw.rule);
        self.raw.signature.extend(raw.signature);
        self.raw.yara_source.extend(raw.yara_source);
        self.raw.sink.extend(raw.sink);
        for log in other.logs {
            if self.logs.iter().any(|mine| mine.path == log.path) {
                return Err(fail(
                    offset,
                    format!(
                        "log path {} is listed twice (also in an included policy)",
                        log.path
                    ),
                ));
            }
            self.logs.push(log);
        }
        self.raw.log.extend(raw.log);
        for probe in other.probes {
            if self.probes.iter().any(|mine| mine.name == probe.name) {
                return Err(fail(
                    offset,
                    format!(
                        "probe name {:?} is used twice (also in an included policy)",
                        probe.name
                    ),
                ));
            }
            self.probes.push(probe);
        }
        self.raw.probe.extend(raw.probe);
        self.web.merge(other.web);
        if self.raw.processes.is_none() {
            self.raw.processes = raw.processes;
        }
        if self.raw.host.is_none() {
            self.raw.host = raw.host;
        }
        self.raw.web = match (self.raw.web.take(), raw.web) {
            (Some(mine), Some(theirs)) => Some(detect::merge_tables(mine, theirs)),
            (mine, theirs) => mine.or(theirs),
        };
        self.logins.merge(other.logins);
        self.raw.logins = match (self.raw.logins.take(), raw.logins) {
            (Some(mine), Some(theirs)) => Some(detect::merge_tables(mine, theirs)),
            (mine, theirs) => mine.or(theirs),
        };
        Ok(())
    }
}

type Vars = std::collections::BTreeMap<String, String>;

/// Replace every `${name}` in `text`.
fn substitute(text: &str, vars: &Vars) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        let name = &after[..end];
        let value = vars.get(name).ok_or_else(|| {
            format!("unknown variable ${{{name}}} in {text:?} (set it in [vars])")
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Read a policy or signature file as UTF-8, refusing FIFOs, devices and huge files.
fn read_policy_text(path: &Path) -> Result<String> {
    crate::keys::check_trusted(path, "policy")?;
    let bytes = crate::fs::open::read_regular_file(path, MAX_POLICY_BYTES)
        .map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| Error::Policy {
        origin: path.to_path_buf(),
        line: line_of(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        ),
        message: "not valid UTF-8".into(),
    })
}

/// `name` relative to the folder of the policy `origin` (absolute names stay).
fn beside(origin: &Path, name: &str) -> PathBuf {
    origin.parent().unwrap_or(Path::new("")).join(name)
}

/// One `/`-separated part of a glob.
#[derive(Debug, Clone)]
enum Component {
    /// `**`: any number of folders.
    Any,
    One(globset::GlobMatcher),
}

fn components(glob: &str) -> std::result::Result<Vec<Component>, String> {
    glob.split('/')
        .map(|part| {
            if part == "**" {
                return Ok(Component::Any);
            }
            globset::GlobBuilder::new(part)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g| Component::One(g.compile_matcher()))
                .map_err(|e| format!("bad glob {glob:?}: {}", e.kind()))
        })
        .collect()
}

/// Could a glob (split into `parts`) match an entry strictly below the folder whose
/// components are `folders`?
fn could_match_below(parts: &[Component], folders: &[&[u8]]) -> bool {
    match (parts.first(), folders.first()) {
        (Some(Component::Any), _) => true,
        // The folder is matched so far: something below it can still match if the
        // glob has more parts.
        (Some(_), None) => true,
        (None, _) => false,
        (Some(Component::One(glob)), Some(folder)) => {
            glob.is_match(bpath::as_path(folder)) && could_match_below(&parts[1..], &folders[1..])
        }
    }
}

/// The built-in signatures, compiled once per process.
fn builtin_signatures() -> Vec<Signature> {
    static BUILTIN: std::sync::OnceLock<Vec<Signature>> = std::sync::OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            // The built-in file is tested to compile; should it ever fail, run without
            // it rather than refuse to monitor.
            crate::heuristics::signatures::builtin().unwrap_or_else(|e| {
                tracing::error!("built-in signatures: {e}");
                Vec::new()
            })
        })
        .clone()
}

/// uid → name for the web server users listed (or the usual ones) in /etc/passwd.
fn web_users(names: Option<&[String]>) -> HashMap<u32, String> {
    let wanted: Vec<&str> = match names {
        Some(names) => names.iter().map(String::as_str).collect(),
        None => DEFAULT_WEB_USERS.to_vec(),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            wanted.contains(&name).then(|| (uid, name.to_owned()))
        })
        .collect()
}

fn pattern(s: &Spanned<String>) -> Pattern<'_> {
    Pattern {
        text: s.get_ref(),
        offset: s.span().start,
    }
}

fn patterns(list: &[Spanned<String>]) -> impl Iterator<Item = Pattern<'_>> {
    list.iter().map(pattern)
}

fn normalize_root(path: &str) -> std::result::Result<Vec<u8>, String> {
    if !path.starts_with('/') {
        return Err(format!("watch path {path:?} is not absolute"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(format!("watch path {path:?} contains '..'"));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    Ok(format!("/{}", parts.join("/")).into_bytes())
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy> {
        Policy::parse(text, Path::new("p.toml"))
    }

    fn error_of(text: &str) -> String {
        parse(text)
            .expect_err("policy must be rejected")
            .to_string()
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = error_of("[[watch]]\npath = \"/srv\"\nexclud = [\"x\"]\n");
        assert!(e.starts_with("p.toml:3: "), "{e}");
        assert!(e.contains("exclud"), "{e}");
    }

    #[test]
    fn relative_root_is_rejected_with_its_line() {
        let e = error_of("default_severity = \"low\"\n\n[[watch]]\npath = \"srv/www\"\n");
        assert!(e.starts_with("p.toml:4: "), "{e}");
        assert!(e.contains("not absolute"), "{e}");
    }

    #[test]
    fn bad_glob_is_rejected_with_its_line() {
        let e = error_of(
            "[[watch]]\npath = \"/srv\"\n\n[[rule]]\nname = \"x\"\npaths = [\n  \"a/[b\",\n]\n",
        );
        assert!(e.starts_with("p.toml:7: "), "{e}");
    }

    #[test]
    fn unknown_attribute_and_severity_are_rejected() {
        assert!(
            error_of("[[watch]]\npath = \"/srv\"\nignore = [\"atime\"]\n").contains("p.toml:3")
        );
        assert!(
            error_of("default_severity = \"urgent\"\n[[watch]]\npath = \"/srv\"\n")
                .starts_with("p.toml:1")
        );
    }

    #[test]
    fn first_applicable_rule_wins_and_kinds_filter() {
        let p = parse(
            "[[watch]]\npath = \"/w/\"\nignore = [\"nlink\"]\n\
             [[rule]]\nname = \"uploads-new\"\npaths = [\"up/**\"]\nkinds = [\"new\"]\nseverity = \"critical\"\n\
             [[rule]]\nname = \"all\"\npaths = [\"**\"]\nseverity = \"low\"\nignore = [\"mtime\"]\n",
        )
        .unwrap();
        let (w, rel) = p.watch_of(b"/w/up/a.php").unwrap();
        assert_eq!(rel, b"up/a.php");
        let new = p.verdict(w, rel, b"/w/up/a.php", Kind::New);
        assert_eq!(
            (new.rule, new.severity),
            (Some("uploads-new"), Severity::Critical)
        );
        let modified = p.verdict(w, rel, b"/w/up/a.php", Kind::Modified);
        assert_eq!(
            (modified.rule, modified.severity),
            (Some("all"), Severity::Low)
        );
        assert!(modified.ignore.contains(Attr::Mtime) && modified.ignore.contains(Attr::Nlink));
    }

    #[test]
    fn monitors_checks_ancestors_and_nested_roots() {
        let p = parse(
            "[[watch]]\npath = \"/w\"\nexclude = [\"cache/**\", \"**/*.log\"]\n\
             [[watch]]\npath = \"/w/cache/keep\"\n",
        )
        .unwrap();
        assert!(p.monitors(b"/w/index.php"));
        assert!(!p.monitors(b"/w/cache/a/b"));
        assert!(!p.monitors(b"/w/x/err.log"));
        assert!(p.monitors(b"/w/cache/keep/a"));
        assert!(!p.monitors(b"/elsewhere"));
        assert_eq!(p.default_severity, Severity::Medium);
        assert_eq!(p.watches[0].root, b"/w");
    }

    #[test]
    fn default_policy_round_trips_odd_roots() {
        let p = Policy::for_roots(&[PathBuf::from("/srv/a \"quoted\" dir")]).unwrap();
        assert_eq!(p.watches[0].root, b"/srv/a \"quoted\" dir");
    }
}
