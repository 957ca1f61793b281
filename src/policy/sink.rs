//! `[[sink]]` tables: where events go besides stdout. Checked when the policy is
//! parsed (every key, per type), so a typo fails `fim policy check`, not the first alert.
//! Secrets stay references (`{ env = "NAME" }`, `{ file = "/etc/fim/secret" }`) until a
//! sink is built, so the recorded policy never holds them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Severity;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    File,
    Syslog,
    Webhook,
    Slack,
    Email,
}

impl SinkType {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkType::File => "file",
            SinkType::Syslog => "syslog",
            SinkType::Webhook => "webhook",
            SinkType::Slack => "slack",
            SinkType::Email => "email",
        }
    }

    /// Human-facing sinks get digests, not every event.
    pub fn is_human(self) -> bool {
        matches!(self, SinkType::Slack | SinkType::Email)
    }

    /// The keys a sink of this type takes besides the common ones, and which of them
    /// it requires.
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            SinkType::File => (&["path"], &["path"]),
            SinkType::Syslog => (&["address", "facility", "app_name"], &[]),
            SinkType::Webhook => (&["url", "headers", "batch", "timeout"], &["url"]),
            SinkType::Slack => (&["url", "timeout"], &["url"]),
            SinkType::Email => (
                &[
                    "smtp",
                    "from",
                    "to",
                    "username",
                    "password",
                    "password_env",
                    "timeout",
                ],
                &["smtp", "from", "to"],
            ),
        }
    }
}

/// The keys every sink takes.
const COMMON_KEYS: &[&str] = &[
    "type",
    "name",
    "format",
    "min_severity",
    "retry_max",
    "window",
    "suppress",
    "list",
];

/// Keys only human-facing sinks take.
const HUMAN_KEYS: &[&str] = &["window", "suppress", "list"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    #[default]
    Fim,
    Ecs,
    Ocsf,
}

/// A value given in the policy, or a reference to where it lives (any string value of
/// a sink may be one; secrets must be).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Value {
    Plain(String),
    Env {
        env: String,
    },
    /// A file readable only by its owner (root or the user fim runs as).
    File {
        file: String,
    },
}

/// One sink as the policy describes it, checked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct SinkSpec {
    #[serde(rename = "type")]
    pub kind: SinkType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub format: SinkFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<usize>,
}

pub const DEFAULT_BATCH: usize = 100;
pub const DEFAULT_ADDRESS: &str = "unix:///dev/log";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(60);
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_SUPPRESS: Duration = Duration::from_secs(3600);
const DEFAULT_LIST: usize = 20;

impl SinkSpec {
    /// Every value the sink reads at start-up, by the key it is given under.
    pub fn values(&self) -> Vec<(String, Value)> {
        let named = [
            ("path", &self.path),
            ("address", &self.address),
            ("facility", &self.facility),
            ("app_name", &self.app_name),
            ("url", &self.url),
            ("smtp", &self.smtp),
            ("from", &self.from),
            ("username", &self.username),
            ("password", &self.password),
        ];
        // `password_env` is read only when no `password` is given (as the email sink does).
        let password_env = self.password_env.iter().filter(|_| self.password.is_none());
        let password_env = password_env.map(|env| {
            let env = Value::Env { env: env.clone() };
            ("password_env".to_owned(), env)
        });
        named
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value.clone()?)))
            .chain(
                self.headers
                    .iter()
                    .map(|(n, v)| (format!("header {n}"), v.clone())),
            )
            .chain(self.to.iter().map(|to| ("to".to_owned(), to.clone())))
            .chain(password_env)
            .collect()
    }

    /// Parse and check one `[[sink]]` table; the error is a message for the line of
    /// the table.
    pub fn from_table(table: &toml::Table) -> Result<SinkSpec, String> {
        let kind = table
            .get("type")
            .ok_or("sink has no `type` (file, syslog, webhook, slack or email)")?;
        let kind: SinkType = kind.clone().try_into().map_err(|_| {
            format!("sink type {kind} is not one of file, syslog, webhook, slack, email")
        })?;
        let (own, required) = kind.keys();
        for key in table.keys() {
            let known = own.contains(&key.as_str())
                || (COMMON_KEYS.contains(&key.as_str())
                    && (kind.is_human() || !HUMAN_KEYS.contains(&key.as_str())));
            if !known {
                let common = COMMON_KEYS
                    .iter()
                    .filter(|k| **k != "type" && (kind.is_human() || !HUMAN_KEYS.contains(k)));
                let takes: Vec<&str> = own.iter().chain(common).copied().collect();
                return Err(format!(
                    "unknown key `{key}` for a {} sink (it takes {})",
                    kind.as_str(),
                    takes.join(", ")
                ));
            }
        }
        if let Some(missing) = required.iter().find(|k| !table.contains_key(**k)) {
            return Err(format!("{} sink needs `{missing}`", kind.as_str()));
        }
        let spec: SinkSpec =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    format!("{} sink: {}", kind.as_str(), e.message().trim())
                })?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        for (key, text) in [
            ("timeout", &self.timeout),
            ("retry_max", &self.retry_max),
            ("window", &self.window),
            ("suppress", &self.suppress),
        ] {
            if let Some(text) = text {
                humantime::parse_duration(text)
                    .map_err(|e| format!("{key} {text:?}: {e} (write e.g. \"30s\", \"5m\")"))?;
            }
        }
        if self.batch == Some(0) {
            return Err("batch must be at least 1".into());
        }
        plain(&self.path, file_path)?;
        plain(&self.url, url)?;
        plain(&self.smtp, SmtpServer::parse)?;
        plain(&self.address, SyslogAddress::parse)?;
        plain(&self.facility, facility)?;
        if self.kind == SinkType::Email {
            if self.to.is_empty() {
                return Err("email sink `to` lists no recipient".into());
            }
            if let Some(Value::Plain(_)) = &self.password {
                return Err(
                    "email sink password must not be written in the policy: use { env = \"NAME\" } or { file = \"/etc/fim/smtp.secret\" }"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// A stable name for the sink's place in the outbox and in messages: the one given,
    /// else its type and destination (URLs redacted), so editing headers or format
    /// keeps its position.
    pub fn key(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let destination = match self.kind {
            SinkType::File => describe(self.path.as_ref()),
            SinkType::Syslog => match &self.address {
                None => DEFAULT_ADDRESS.to_owned(),
                address => describe(address.as_ref()),
            },
            SinkType::Webhook | SinkType::Slack => redacted(self.url.as_ref()),
            SinkType::Email => {
                let to: Vec<String> = self.to.iter().map(|t| describe(Some(t))).collect();
                format!("{}>{}", redacted(self.smtp.as_ref()), to.join(","))
            }
        };
        format!("{}:{destination}", self.kind.as_str())
    }

    /// A Slack (or Mattermost) incoming webhook's URL is its credential: written in the
    /// policy, anyone who reads the policy or the baseline can post with it.
    pub fn secret_in_policy(&self) -> bool {
        self.kind == SinkType::Slack && matches!(self.url, Some(Value::Plain(_)))
    }

    pub fn batch(&self) -> usize {
        self.batch.unwrap_or(DEFAULT_BATCH)
    }

    pub fn timeout(&self) -> Duration {
        duration(&self.timeout, DEFAULT_TIMEOUT)
    }

    pub fn retry_max(&self) -> Duration {
        duration(&self.retry_max, DEFAULT_RETRY_MAX)
    }

    pub fn window(&self) -> Duration {
        duration(&self.window, DEFAULT_WINDOW)
    }

    pub fn suppress(&self) -> Duration {
        duration(&self.suppress, DEFAULT_SUPPRESS)
    }

    pub fn list(&self) -> usize {
        self.list.unwrap_or(DEFAULT_LIST)
    }
}

// The checks of single values, shared by the policy (for values written in it) and by
// the sinks when they start (for values read from the environment or a file).

/// A file sink's path.
pub fn file_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(format!("file sink path {path:?} must be absolute"))
    }
}

/// A webhook's or Slack's URL: one that can never work would be retried forever.
pub fn url(url: &str) -> Result<(), String> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!("url {url:?} must start with http:// or https://"));
    }
    let parsed: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("url {url:?} is not a URL: {e}"))?;
    if parsed.host().is_none() {
        return Err(format!("url {url:?} names no host"));
    }
    Ok(())
}

/// Where a syslog sink sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogAddress {
    Unix(String),
    Udp(String),
    Tcp(String),
}

impl SyslogAddress {
    pub fn parse(address: &str) -> Result<SyslogAddress, String> {
        let parsed = if let Some(path) = address.strip_prefix("unix://") {
            SyslogAddress::Unix(path.to_owned())
        } else if let Some(host) = address.strip_prefix("udp://") {
            SyslogAddress::Udp(host.to_owned())
        } else if let Some(host) = address.strip_prefix("tcp://") {
            SyslogAddress::Tcp(host.to_owned())
        } else {
            return Err(format!(
                "syslog address {address:?} must start with unix://, udp:// or tcp://"
            ));
        };
        if let SyslogAddress::Udp(host) | SyslogAddress::Tcp(host) = &parsed {
            let port = host.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(format!(
                    "syslog address {address:?} needs a port (HOST:PORT)"
                ));
            }
        }
        Ok(parsed)
    }
}

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The facility fim logs to unless told otherwise: authpriv, security and
/// authorization messages kept from ordinary users.
pub const DEFAULT_FACILITY: u8 = 10;

/// A syslog facility's code, from its name.
pub fn facility(name: &str) -> Result<u8, String> {
    FACILITIES
        .iter()
        .position(|f| *f == name)
        .map(|i| i as u8)
        .ok_or_else(|| {
            format!(
                "syslog facility {name:?} is not one of {}",
                FACILITIES.join(", ")
            )
        })
}

/// An e-mail sink's server: `smtp://` (STARTTLS when offered, port 587 by default) or
/// `smtps://` (TLS from the first byte, port 465).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpServer {
    pub implicit_tls: bool,
    pub host: String,
    pub port: u16,
}

impl SmtpServer {
    pub fn parse(smtp: &str) -> Result<SmtpServer, String> {
        let (implicit_tls, rest) = if let Some(rest) = smtp.strip_prefix("smtps://") {
            (true, rest)
        } else if let Some(rest) = smtp.strip_prefix("smtp://") {
            (false, rest)
        } else {
            return Err(format!("smtp {smtp:?} must start with smtp:// or smtps://"));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("smtp {smtp:?}: bad port {port:?}"))?,
            ),
            None => (rest, if implicit_tls { 465 } else { 587 }),
        };
        Ok(SmtpServer {
            implicit_tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }
}

/// Check a value written in the policy; references are checked when the sink starts.
fn plain<T>(
    value: &Option<Value>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<(), String> {
    match value {
        Some(Value::Plain(text)) => check(text).map(drop),
        _ => Ok(()),
    }
}

/// A value for naming: the value itself, or where the secret comes from.
fn describe(value: Option<&Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::Plain(s)) => s.clone(),
        Some(Value::Env { env }) => format!("env:{env}"),
        Some(Value::File { file }) => format!("file:{file}"),
    }
}

/// A URL for naming in logs and `STATUS=`: its path, query and credentials often are
/// the secret (a Slack webhook's path is its token), so only the scheme and host are
/// shown, with a short digest of the whole that keeps two URLs of one host apart.
fn redacted(value: Option<&Value>) -> String {
    let Some(Value::Plain(url)) = value else {
        return describe(value);
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let digest = blake3::hash(url.as_bytes()).to_hex();
    format!("{scheme}://{host}/…#{}", &digest[..8])
}

fn duration(text: &Option<String>, default: Duration) -> Duration {
    text.as_deref()
        .and_then(|t| humantime::parse_duration(t).ok())
        .unwrap_or(default)
}
