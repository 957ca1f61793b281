//! One parsed access-log line.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

/// One request as the web server logged it. Text borrows from the line when it needs no
/// unescaping and is valid UTF-8; otherwise it is an owned, lossily decoded copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// The log's own time stamp, converted to UTC.
    pub ts: DateTime<Utc>,
    /// The client, after `trusted_proxies`; `::ffff:a.b.c.d` is normalised to V4.
    pub client: IpAddr,
    /// `""` when the request line is not an HTTP request (`-`, TLS bytes sent to a plain port).
    pub method: Cow<'a, str>,
    /// The request-target as logged (path?query). For a request line that is not HTTP, the
    /// whole line (so evidence and scanner detection still see it); `""` for `-`.
    pub target: Cow<'a, str>,
    /// `"HTTP/1.1"`, or `""` when the request line has none.
    pub protocol: Cow<'a, str>,
    pub status: u16,
    /// Body bytes (`-` is 0); the whole response size when the format logs only that (`%O`).
    pub bytes: u64,
    /// `None` for `-`, empty or absent.
    pub referer: Option<Cow<'a, str>>,
    /// `None` for `-`, empty or absent.
    pub user_agent: Option<Cow<'a, str>>,
    /// The virtual host (vhost_combined, `$host`, `%v`, the JSON `host`).
    pub vhost: Option<Cow<'a, str>>,
    /// The authenticated remote user, `None` for `-`.
    pub user: Option<Cow<'a, str>>,
}

impl AccessRecord<'_> {
    /// A copy that no longer borrows from the line, for keeping past the read buffer.
    pub fn into_owned(self) -> AccessRecord<'static> {
        fn own(text: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(text.into_owned())
        }
        AccessRecord {
            ts: self.ts,
            client: self.client,
            method: own(self.method),
            target: own(self.target),
            protocol: own(self.protocol),
            status: self.status,
            bytes: self.bytes,
            referer: self.referer.map(own),
            user_agent: self.user_agent.map(own),
            vhost: self.vhost.map(own),
            user: self.user.map(own),
        }
    }
}
