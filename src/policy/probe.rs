//! `[[probe]]` tables: which sites fim asks, how often, and what a good answer is.
//! Checked when the policy is read, each error with the line of the offending key.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::detect::Fail;

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    name: Spanned<String>,
    url: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_status: Option<Spanned<toml::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contains: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_response_time: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failures: Option<Spanned<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    successes: Option<Spanned<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_warn_days: Option<Spanned<Vec<i64>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolve: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<Spanned<String>>,
}

/// One `[[probe]]` table, checked, with the contract's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    pub name: String,
    pub url: url::Url,
    pub interval: Duration,
    pub timeout: Duration,
    /// Inclusive ranges of the statuses that count as up.
    pub expect_status: Vec<(u16, u16)>,
    pub contains: Option<String>,
    pub max_response_time: Option<Duration>,
    pub failures: u32,
    pub successes: u32,
    /// Days before expiry at which to warn, largest first.
    pub certificate_warn_days: Vec<u32>,
    pub resolve: Option<(IpAddr, Option<u16>)>,
    pub ca: Option<PathBuf>,
}

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FAILURES: u32 = 3;
pub const DEFAULT_SUCCESSES: u32 = 2;
pub const DEFAULT_WARN_DAYS: [u32; 5] = [21, 14, 7, 3, 1];
/// The shortest interval and timeout (tests and fast local checks use sub-second ones).
const MIN_DURATION: Duration = Duration::from_millis(50);

impl ProbeSpec {
    /// Whether `status` is one the probe expects.
    pub fn expects(&self, status: u16) -> bool {
        self.expect_status
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

pub(super) fn probes(raw: &[RawProbe], fail: Fail<'_>) -> crate::Result<Vec<ProbeSpec>> {
    let mut out: Vec<ProbeSpec> = Vec::with_capacity(raw.len());
    for p in raw {
        let spec = probe(p, fail)?;
        if out.iter().any(|o| o.name == spec.name) {
            return Err(fail(
                p.name.span().start,
                format!("probe name {:?} is used twice", spec.name),
            ));
        }
        out.push(spec);
    }
    Ok(out)
}

fn probe(p: &RawProbe, fail: Fail<'_>) -> crate::Result<ProbeSpec> {
    let name = p.name.get_ref().trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(fail(
            p.name.span().start,
            "probe name must be non-empty printable text".into(),
        ));
    }
    let what = |key: &str| format!("probe {name:?}: {key}");
    let url = url::Url::parse(p.url.get_ref()).map_err(|e| {
        fail(
            p.url.span().start,
            format!("{} {:?}: {e}", what("url"), p.url.get_ref()),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(fail(
            p.url.span().start,
            format!(
                "{} {:?}: must be http:// or https:// with a host",
                what("url"),
                p.url.get_ref()
            ),
        ));
    }
    let duration = |key: &str, v: &Option<Spanned<String>>, default: Option<Duration>| {
        let Some(v) = v else {
            return Ok(default);
        };
        let d = humantime::parse_duration(v.get_ref()).map_err(|e| {
            fail(
                v.span().start,
                format!(
                    "{} {:?}: {e} (write e.g. \"60s\", \"500ms\")",
                    what(key),
                    v.get_ref()
                ),
            )
        })?;
        if d < MIN_DURATION {
            return Err(fail(
                v.span().start,
                format!("{} must be at least 50ms", what(key)),
            ));
        }
        Ok(Some(d))
    };
    let count = |key: &str, v: &Option<Spanned<i64>>, default: u32| match v {
        None => Ok(default),
        Some(v) => match u32::try_from(*v.get_ref()) {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(fail(
                v.span().start,
                format!("{} must be between 1 and 1000", what(key)),
            )),
        },
    };
    let interval =
        duration("interval", &p.interval, Some(DEFAULT_INTERVAL))?.unwrap_or(DEFAULT_INTERVAL);
    let timeout =
        duration("timeout", &p.timeout, Some(DEFAULT_TIMEOUT))?.unwrap_or(DEFAULT_TIMEOUT);
    let expect_status = match &p.expect_status {
        None => vec![(200, 399)],
        Some(v) => statuses(v.get_ref())
            .map_err(|m| fail(v.span().start, format!("{} {m}", what("expect_status"))))?,
    };
    let warn_days = match &p.certificate_warn_days {
        None => DEFAULT_WARN_DAYS.to_vec(),
        Some(v) => {
            let mut days = Vec::new();
            for d in v.get_ref() {
                match u32::try_from(*d) {
                    Ok(d) if (1..=3650).contains(&d) => days.push(d),
                    _ => {
                        return Err(fail(
                            v.span().start,
                            format!(
                                "{}: {d} is not a number of days (1 to 3650)",
                                what("certificate_warn_days")
                            ),
                        ))
                    }
                }
            }
            days.sort_unstable_by(|a, b| b.cmp(a));
            days.dedup();
            days
        }
    };
    let resolve = match &p.resolve {
        None => None,
        Some(v) => Some(resolve(v.get_ref()).ok_or_else(|| {
            fail(
                v.span().start,
                format!(
                    "{} {:?}: not an IP address, optionally with :PORT (\"127.0.0.1\", \"[::1]:8443\")",
                    what("resolve"),
                    v.get_ref()
                ),
            )
        })?),
    };
    let ca = match &p.ca {
        None => None,
        Some(v) => {
            let path = PathBuf::from(v.get_ref());
            if !path.is_absolute() {
                return Err(fail(
                    v.span().start,
                    format!("{} {:?} is not an absolute path", what("ca"), v.get_ref()),
                ));
            }
            crate::probe::http::load_roots(Some(&path))
                .map_err(|m| fail(v.span().start, format!("probe {name:?}: {m}")))?;
            Some(path)
        }
    };
    if let Some(c) = &p.contains {
        if c.get_ref().is_empty() || c.get_ref().len() > crate::probe::http::MAX_BODY {
            return Err(fail(
                c.span().start,
                format!("{} must be a non-empty string", what("contains")),
            ));
        }
    }
    Ok(ProbeSpec {
        name: name.to_owned(),
        url,
        interval,
        timeout,
        expect_status,
        contains: p.contains.as_ref().map(|c| c.get_ref().clone()),
        max_response_time: duration("max_response_time", &p.max_response_time, None)?,
        failures: count("failures", &p.failures, DEFAULT_FAILURES)?,
        successes: count("successes", &p.successes, DEFAULT_SUCCESSES)?,
        certificate_warn_days: warn_days,
        resolve,
        ca,
    })
}

/// `200`, `[200, 301]`, `"200-299"` or a list mixing them.
fn statuses(value: &toml::Value) -> Result<Vec<(u16, u16)>, String> {
    let one = |v: &toml::Value| -> Result<(u16, u16), String> {
        let code = |n: i64| {
            u16::try_from(n)
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("{n} is not an HTTP status (100 to 599)"))
        };
        match v {
            toml::Value::Integer(n) => code(*n).map(|c| (c, c)),
            toml::Value::String(s) => {
                let (lo, hi) = s.split_once('-').unwrap_or((s, s));
                let parse = |t: &str| {
                    t.trim()
                        .parse::<i64>()
                        .map_err(|_| {
                            format!("{s:?} is not a status or a range such as \"200-299\"")
                        })
                        .and_then(code)
                };
                let (lo, hi) = (parse(lo)?, parse(hi)?);
                if lo > hi {
                    return Err(format!("{s:?}: the range is empty"));
                }
                Ok((lo, hi))
            }
            other => Err(format!(
                "{other} is not a status or a range such as \"200-299\""
            )),
        }
    };
    match value {
        toml::Value::Array(items) if items.is_empty() => Err("must not be empty".into()),
        toml::Value::Array(items) => items.iter().map(one).collect(),
        single => Ok(vec![one(single)?]),
    }
}

/// `IP` or `IP:PORT` (`[v6]:PORT`).
fn resolve(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let addr = text.parse::<SocketAddr>().ok()?;
    Some((addr.ip(), Some(addr.port())))
}

#[cfg(test)]
mod tests {
    use crate::policy::Policy;

    fn parse(text: &str) -> crate::Result<Policy> {
        Policy::parse(text, std::path::Path::new("p.toml"))
    }

    #[test]
    fn defaults_are_the_contract_s() {
        let p = parse("[[probe]]\nname = \"shop\"\nurl = \"https://shop.example/\"\n").unwrap();
        let s = &p.probes[0];
        assert_eq!(s.interval.as_secs(), 60);
        assert_eq!(s.timeout.as_secs(), 10);
        assert_eq!(s.expect_status, vec![(200, 399)]);
        assert_eq!((s.failures, s.successes), (3, 2));
        assert_eq!(s.certificate_warn_days, vec![21, 14, 7, 3, 1]);
        assert!(s.expects(301) && !s.expects(404));
    }

    #[test]
    fn bad_probe_values_name_their_line() {
        let cases = [
            ("url = \"ftp://x/\"", "must be http"),
            ("url = \"https://x/\"\ntimeout = \"soon\"", "timeout"),
            ("url = \"https://x/\"\nfailures = 0", "between 1 and 1000"),
            ("url = \"https://x/\"\nexpect_status = \"299-200\"", "empty"),
            (
                "url = \"https://x/\"\nexpect_status = [700]",
                "not an HTTP status",
            ),
            (
                "url = \"https://x/\"\nresolve = \"localhost\"",
                "not an IP address",
            ),
            (
                "url = \"https://x/\"\nca = \"rel.pem\"",
                "not an absolute path",
            ),
            (
                "url = \"https://x/\"\nca = \"/nonexistent/ca.pem\"",
                "ca /nonexistent/ca.pem",
            ),
            ("url = \"https://x/\"\ninterval = \"1ms\"", "at least 50ms"),
            ("url = \"https://x/\"\nretries = 3", "unknown field"),
        ];
        for (body, want) in cases {
            let text = format!("[[watch]]\npath = \"/srv\"\n\n[[probe]]\nname = \"a\"\n{body}\n");
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{body}: {e}");
            let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
            assert!(line >= 5, "{body}: {e}");
        }
        let twice = "[[probe]]\nname = \"a\"\nurl = \"http://x/\"\n[[probe]]\nname = \"a\"\nurl = \"http://y/\"\n";
        assert!(parse(twice)
            .unwrap_err()
            .to_string()
            .contains("p.toml:5: probe name \"a\" is used twice"));
    }

    #[test]
    fn statuses_and_resolve_take_their_forms() {
        let p = parse(
            "[[probe]]\nname = \"a\"\nurl = \"http://x/\"\nexpect_status = [200, \"300-302\"]\n\
             resolve = \"[::1]:8080\"\ninterval = \"500ms\"\n",
        )
        .unwrap();
        let s = &p.probes[0];
        assert_eq!(s.expect_status, vec![(200, 200), (300, 302)]);
        assert_eq!(s.resolve, Some(("::1".parse().unwrap(), Some(8080))));
        assert_eq!(s.interval.as_millis(), 500);
    }
}
