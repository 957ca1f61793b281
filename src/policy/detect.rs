//! The detection tables of a policy: `[[log]]` (which access logs to read, in which
//! format, serving which tree) and `[web]` (the web detectors' allow list and
//! per-detector settings). Checked when the policy is read, with the line of the
//! offending table.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::locate::Locator;
use toml::Spanned;

use super::Severity;
use crate::detect::settings::Override;
use crate::logs::parse::LogFormat;
use crate::procs::settings::KINDS;
use crate::procs::ProcessSettings;
use crate::web::settings::configurable;
use crate::web::WebSettings;

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    path: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    docroot: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trusted_proxies: Vec<Spanned<String>>,
}

/// A `[FAMILY.KIND]` table's settings as written.
#[derive(Default)]
struct RawDetector {
    enabled: Option<bool>,
    severity: Option<Severity>,
    /// The rule name events carry (the kind, unless renamed).
    name: Option<String>,
    threshold: Option<u32>,
    window: Option<String>,
    cooldown: Option<String>,
}

const DETECTOR_KEYS: &str = "enabled, severity, name, threshold, window, cooldown";

impl RawDetector {
    /// Read by hand: each wrong key or value is told by its name and line.
    fn from_table(
        path: [&str; 2],
        table: &toml::Table,
        loc: &Locator<'_>,
        fail: Fail<'_>,
    ) -> crate::Result<RawDetector> {
        let [family, kind] = path;
        let mut d = RawDetector::default();
        for (key, value) in table {
            let wrong = |what: &str| {
                fail(
                    loc.key(&path, key),
                    format!("[{family}.{kind}] {key} must be {what}, not {value}"),
                )
            };
            let text = || {
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong("a string"))
            };
            match key.as_str() {
                "enabled" => {
                    d.enabled = Some(value.as_bool().ok_or_else(|| wrong("true or false"))?)
                }
                "severity" => {
                    let known = "one of \"info\", \"low\", \"medium\", \"high\", \"critical\"";
                    d.severity = Some(value.clone().try_into().map_err(|_| wrong(known))?);
                }
                "name" => d.name = Some(text()?),
                "threshold" => {
                    let n = value.as_integer().and_then(|n| u32::try_from(n).ok());
                    d.threshold = Some(n.ok_or_else(|| wrong("a whole number"))?);
                }
                "window" => d.window = Some(text()?),
                "cooldown" => d.cooldown = Some(text()?),
                _ => {
                    return Err(fail(
                        loc.key(&path, key),
                        format!(
                            "[{family}.{kind}] {key}: unknown setting (known: {DETECTOR_KEYS})"
                        ),
                    ))
                }
            }
        }
        Ok(d)
    }
}

/// One `[[log]]` table, checked.
#[derive(Clone, Debug)]
pub struct LogSpec {
    /// Absolute; may be a glob.
    pub path: String,
    pub format: LogFormat,
    /// The format as written (for messages and `analyze --log-format`).
    pub format_text: String,
    /// The tree its requests are served from.
    pub docroot: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
}

pub(super) type Fail<'f> = &'f dyn Fn(usize, String) -> crate::Error;

/// Names → uid → name, for the users that exist on the host.
type WebUsers<'f> = &'f dyn Fn(Option<&[String]>) -> HashMap<u32, String>;

pub(super) fn logs(raw: &[RawLog], fail: Fail<'_>) -> crate::Result<Vec<LogSpec>> {
    let mut out: Vec<LogSpec> = Vec::with_capacity(raw.len());
    for log in raw {
        let at = log.path.span().start;
        let path = log.path.get_ref();
        if !path.starts_with('/') {
            return Err(fail(at, format!("log path {path:?} is not absolute")));
        }
        if let Err(e) = globset::Glob::new(path) {
            return Err(fail(at, format!("log path {path:?}: {}", e.kind())));
        }
        if out.iter().any(|other| other.path == *path) {
            return Err(fail(at, format!("log path {path} is listed twice")));
        }
        let format_text = log
            .format
            .as_ref()
            .map_or("combined".to_owned(), |f| f.get_ref().clone());
        let format = LogFormat::from_policy(&format_text).map_err(|e| {
            let at = log.format.as_ref().map_or(at, |f| f.span().start);
            fail(at, format!("log format: {e}"))
        })?;
        let docroot = match &log.docroot {
            Some(d) if !d.get_ref().starts_with('/') => {
                return Err(fail(
                    d.span().start,
                    format!("docroot {:?} is not absolute", d.get_ref()),
                ))
            }
            Some(d) => Some(d.get_ref().trim_end_matches('/').to_owned()),
            None => None,
        };
        let trusted_proxies = log
            .trusted_proxies
            .iter()
            .map(|c| cidr(c.get_ref()).map_err(|m| fail(c.span().start, m)))
            .collect::<crate::Result<Vec<_>>>()?;
        out.push(LogSpec {
            path: path.clone(),
            format,
            format_text,
            docroot,
            trusted_proxies,
        });
    }
    Ok(out)
}

/// `[web]`: `allow`, and a `[web.KIND]` table per detector. Read by hand (a table of
/// tables keyed by detector name), so every name is checked against the detectors.
pub(super) fn web(
    raw: Option<&toml::Table>,
    loc: &Locator<'_>,
    fail: Fail<'_>,
) -> crate::Result<WebSettings> {
    let Some(raw) = raw else {
        return Ok(WebSettings::default());
    };
    let mut allow = Vec::new();
    let detectors: Vec<&str> = configurable().collect();
    let known: Vec<&str> = std::iter::once("allow").chain(configurable()).collect();
    let mut overrides = HashMap::new();
    for (key, value) in raw {
        if key == "allow" {
            allow = allow_list("web", value, loc.key(&["web"], key), fail)?;
            continue;
        }
        let settings = detector(["web", key], value, &detectors, &known, loc, fail)?;
        overrides.insert(key.clone(), settings);
    }
    Ok(WebSettings { allow, overrides })
}

/// `allow = [CIDR, ...]` of a family's table.
pub(super) fn allow_list(
    family: &str,
    value: &toml::Value,
    at: usize,
    fail: Fail<'_>,
) -> crate::Result<Vec<IpNet>> {
    let list = value
        .as_array()
        .ok_or_else(|| fail(at, format!("[{family}] allow must be a list of CIDRs")))?;
    let mut allow = Vec::new();
    for item in list {
        let text = item
            .as_str()
            .ok_or_else(|| fail(at, format!("[{family}] allow: {item} is not a string")))?;
        allow.push(cidr(text).map_err(|m| fail(at, format!("[{family}] allow: {m}")))?);
    }
    Ok(allow)
}

/// One `[FAMILY.KIND]` table, checked: `kind` must be one of the family's
/// `detectors`; `known` is every key the family's table takes, for the message.
pub(super) fn detector(
    path: [&str; 2],
    value: &toml::Value,
    detectors: &[&str],
    known: &[&str],
    loc: &Locator<'_>,
    fail: Fail<'_>,
) -> crate::Result<Override> {
    let [family, kind] = path;
    let at = loc.table(&path);
    if !detectors.contains(&kind) {
        return Err(fail(
            at,
            format!(
                "[{family}] {kind}: no such setting or detector (known: {})",
                known.join(", ")
            ),
        ));
    }
    let Some(table) = value.as_table() else {
        return Err(fail(
            at,
            format!("[{family}] {kind} is a detector: give its settings ({DETECTOR_KEYS}) in a table [{family}.{kind}]"),
        ));
    };
    let d = RawDetector::from_table(path, table, loc, fail)?;
    override_of(path, &d, loc, fail)
}

/// One `[SECTION.KIND]` detector table, checked.
fn override_of(
    path: [&str; 2],
    d: &RawDetector,
    loc: &Locator<'_>,
    fail: Fail<'_>,
) -> crate::Result<Override> {
    let [section, kind] = path;
    let duration = |what: &str, text: &Option<String>| -> crate::Result<Option<Duration>> {
        text.as_deref()
            .map(|t| {
                humantime::parse_duration(t).map_err(|e| {
                    fail(
                        loc.key(&path, what),
                        format!(
                            "[{section}.{kind}] {what} {t:?}: {e} (write e.g. \"10s\", \"5m\")"
                        ),
                    )
                })
            })
            .transpose()
    };
    if d.threshold == Some(0) {
        return Err(fail(
            loc.key(&path, "threshold"),
            format!("[{section}.{kind}] threshold must be at least 1"),
        ));
    }
    let window = duration("window", &d.window)?;
    if window.is_some_and(|w| w.is_zero()) {
        return Err(fail(
            loc.key(&path, "window"),
            format!("[{section}.{kind}] window must be longer than 0 s"),
        ));
    }
    Ok(Override {
        enabled: d.enabled,
        severity: d.severity,
        name: d.name.clone(),
        threshold: d.threshold,
        window,
        cooldown: duration("cooldown", &d.cooldown)?,
    })
}

/// `[processes]`: `interval`, `web_users`, and a `[processes.KIND]` table per detector.
pub(super) fn processes(
    raw: &toml::Table,
    web_users: WebUsers<'_>,
    fail: Fail<'_>,
) -> crate::Result<ProcessSettings> {
    let mut settings = ProcessSettings {
        interval: crate::procs::settings::DEFAULT_INTERVAL,
        web_users: web_users(None),
        overrides: HashMap::new(),
    };
    for (key, value) in raw {
        match key.as_str() {
            "interval" => {
                let text = value.as_str().ok_or_else(|| {
                    fail(
                        0,
                        "[processes] interval must be a duration such as \"10s\"".into(),
                    )
                })?;
                let interval = humantime::parse_duration(text)
                    .map_err(|e| fail(0, format!("[processes] interval {text:?}: {e}")))?;
                if interval.is_zero() {
                    return Err(fail(
                        0,
                        "[processes] interval must be longer than 0 s".into(),
                    ));
                }
                settings.interval = interval;
            }
            "web_users" => {
                let names = value
                    .as_array()
                    .and_then(|l| {
                        l.iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| {
                        fail(
                            0,
                            "[processes] web_users must be a list of user names".into(),
                        )
                    })?;
                settings.web_users = web_users(Some(&names));
            }
            kind => {
                let known: Vec<&str> = ["interval", "web_users"].into_iter().chain(KINDS).collect();
                // The table's own line is said: `[processes]` is one part's.
                let path = ["processes", kind];
                let detector = detector(path, value, &KINDS, &known, &Locator::new(""), fail)?;
                settings.overrides.insert(kind.to_owned(), detector);
            }
        }
    }
    Ok(settings)
}

/// A CIDR, or a single address.
pub fn cidr(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("{text:?} is not an address or a CIDR such as 192.0.2.0/24"))
}

/// Two `[web]` (or `[logins]`) tables, for the recorded policy: an including policy's
/// settings win; `allow` and `files` lists add up.
pub(super) fn merge_tables(mut mine: toml::Table, theirs: toml::Table) -> toml::Table {
    for (key, value) in theirs {
        match (mine.get_mut(&key), value) {
            (Some(toml::Value::Array(list)), toml::Value::Array(more))
                if key == "allow" || key == "files" =>
            {
                list.extend(more)
            }
            (Some(_), _) => {}
            (None, value) => {
                mine.insert(key, value);
            }
        }
    }
    mine
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::policy::Policy;

    fn parse(text: &str) -> crate::Result<Policy> {
        Policy::parse(text, Path::new("p.toml"))
    }

    fn error_of(text: &str) -> String {
        parse(text).expect_err("rejected").to_string()
    }

    const WATCH: &str = "[[watch]]\npath = \"/var/www/html\"\n";

    #[test]
    fn a_log_is_served_from_the_only_watch_root_unless_it_says() {
        let p = parse(&format!(
            "{WATCH}[[log]]\npath = \"/var/log/nginx/*.log\"\n"
        ))
        .unwrap();
        assert_eq!(p.logs[0].docroot.as_deref(), Some("/var/www/html"));
        assert_eq!(p.logs[0].format_text, "combined");
        let p = parse(&format!(
            "{WATCH}[[log]]\npath = \"/l\"\ndocroot = \"/srv/site/\"\nformat = \"json\"\n"
        ))
        .unwrap();
        assert_eq!(p.logs[0].docroot.as_deref(), Some("/srv/site"));
    }

    #[test]
    fn detector_settings_are_checked_with_their_line() {
        let p = parse(&format!(
            "{WATCH}\n[web]\nallow = [\"192.0.2.0/24\", \"2001:db8::1\"]\n\n[web.sqli]\nenabled = false\n\n[web.flood]\nthreshold = 50\nwindow = \"5s\"\nname = \"dos\"\n"
        ))
        .unwrap();
        assert_eq!(p.web.allow.len(), 2);
        assert!(!p.web.detector("sqli").enabled);
        let flood = p.web.detector("flood");
        assert_eq!((flood.limits.threshold, flood.limits.window_ms), (50, 5000));
        assert_eq!(flood.rule, "dos");
        assert_eq!(p.web.detector("flood-network").limits.threshold, 100);

        let unknown = error_of(&format!("{WATCH}\n[web.sqly]\nenabled = true\n"));
        assert!(
            unknown.contains("p.toml:4") && unknown.contains("no such setting or detector"),
            "{unknown}"
        );
        assert!(unknown.contains("sqli"), "{unknown}");
        // Each wrong key by its name and its own line, in words of the policy.
        let typo = error_of(&format!(
            "{WATCH}\n[web.sqli]\nenabled = true\ntreshold = 1\n"
        ));
        assert!(
            typo.contains("p.toml:6: [web.sqli] treshold: unknown setting"),
            "{typo}"
        );
        let cidr = error_of(&format!("{WATCH}\n[web]\nallow = [\"192.0.2.0/33\"]\n"));
        assert!(
            cidr.contains("p.toml:5") && cidr.contains("192.0.2.0/33"),
            "{cidr}"
        );
        let zero = error_of(&format!(
            "{WATCH}[web.xss]\nwindow = \"1m\"\nthreshold = 0\n"
        ));
        assert!(
            zero.contains("p.toml:5") && zero.contains("at least 1"),
            "{zero}"
        );
        let text = error_of(&format!("{WATCH}[web.xss]\nthreshold = \"many\"\n"));
        assert!(
            text.contains("p.toml:4: [web.xss] threshold must be a whole number, not \"many\""),
            "{text}"
        );
        let flat = error_of(&format!("{WATCH}[web]\nallow = []\nbogus = 1\n"));
        assert!(
            flat.contains("p.toml:5: [web] bogus: no such setting or detector (known: allow, "),
            "{flat}"
        );
        let dotted = error_of(&format!("{WATCH}[web]\nflood.severity = \"hgh\"\n"));
        assert!(
            dotted.contains("p.toml:4: [web.flood] severity must be one of"),
            "{dotted}"
        );
        for leaked in [&typo, &text, &flat, &dotted] {
            assert!(
                !leaked.contains("RawDetector") && !leaked.contains("struct"),
                "{leaked}"
            );
        }
    }

    #[test]
    fn bad_log_tables_are_rejected_with_their_line() {
        let relative = error_of(&format!("{WATCH}\n[[log]]\npath = \"access.log\"\n"));
        assert!(
            relative.contains("p.toml:5") && relative.contains("not absolute"),
            "{relative}"
        );
        let twice = error_of(&format!(
            "{WATCH}[[log]]\npath = \"/l\"\n[[log]]\npath = \"/l\"\n"
        ));
        assert!(twice.contains("twice"), "{twice}");
        let format = error_of(&format!(
            "{WATCH}[[log]]\npath = \"/l\"\nformat = \"$request\"\n"
        ));
        assert!(
            format.contains("p.toml:5") && format.contains("log format"),
            "{format}"
        );
        let proxy = error_of(&format!(
            "{WATCH}[[log]]\npath = \"/l\"\ntrusted_proxies = [\"proxy\"]\n"
        ));
        assert!(proxy.contains("\"proxy\""), "{proxy}");
        let key = error_of(&format!("{WATCH}[[log]]\npath = \"/l\"\ndocrot = \"/x\"\n"));
        assert!(key.contains("docrot"), "{key}");
    }

    #[test]
    fn a_policy_of_detector_settings_alone_is_valid_for_analyze() {
        assert!(parse("[web.sqli]\nenabled = false\n").is_ok());
        assert!(error_of("default_severity = \"low\"\n").contains("watches nothing"));
    }
}
