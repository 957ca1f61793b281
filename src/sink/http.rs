//! HTTP(S) POSTs: the `webhook` sink (a JSON array of events per request) and the
//! `slack` sink (one readable message, `{"text": ...}`, which Mattermost takes too).
//! Only a 2xx answer acknowledges what was posted.

use std::time::Duration;

use super::deliver::{Digests, Lines, Record};
use super::digest::Digest;

pub struct Post {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
}

impl Post {
    pub fn new(
        url: String,
        headers: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Post, String> {
        crate::policy::sink::url(&url)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(true)
            .user_agent(concat!("fim/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Post {
            agent,
            url,
            headers,
        })
    }

    fn post(&self, body: &str) -> Result<(), String> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.send(body).map(drop).map_err(|e| match e {
            ureq::Error::StatusCode(code) => format!("HTTP {code}"),
            other => other.to_string(),
        })
    }
}

impl Lines for Post {
    fn send(&mut self, records: &[Record]) -> Result<(), String> {
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        self.post(&format!("[{}]", texts.join(",")))
    }
}

impl Digests for Post {
    fn send(&mut self, digest: &Digest) -> Result<(), String> {
        let text = format!("*{}*\n{}", digest.subject, digest.body);
        self.post(&serde_json::json!({ "text": text }).to_string())
    }
}
