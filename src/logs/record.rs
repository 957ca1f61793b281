//! One parsed access-log line.

use std::borrow::Cow;

pub struct AccessRecord<'a> {
    pub ts: chrono::DateTime<chrono::Utc>,
    pub client: std::net::IpAddr,
    pub method: Cow<'a, str>,
    pub target: Cow<'a, str>,
    pub protocol: Cow<'a, str>,
    pub status: u16,
    pub bytes: u64,
    pub referer: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub vhost: Option<Cow<'a, str>>,
    pub user: Option<Cow<'a, str>>,
}
