//! The process detectors' settings: defaults, overridden by `[processes]` (the scan
//! interval, the web users) and its `[processes.KIND]` tables, as `[web]` does.

use std::collections::HashMap;
use std::time::Duration;

use crate::detect::settings::{DetectorSettings, Override};
use crate::policy::Severity;

pub const KINDS: [&str; 6] = [
    "deleted-executable",
    "exec-from-writable",
    "web-shell-spawn",
    "new-listener",
    "miner",
    "stale-code",
];

const SEVERITIES: [Severity; 6] = [
    Severity::High,
    Severity::High,
    Severity::Critical,
    Severity::Medium,
    Severity::Critical,
    Severity::Low,
];

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSettings {
    pub interval: Duration,
    /// uid → name of the web server users (the policy's, or those of the usual names
    /// that exist on the host).
    pub web_users: HashMap<u32, String>,
    pub overrides: HashMap<String, Override>,
}

impl ProcessSettings {
    pub fn detector(&self, kind: &str) -> DetectorSettings {
        let at = KINDS
            .iter()
            .position(|k| *k == kind)
            .expect("a known detector");
        // One sighting of a process is decisive; the window only bounds memory.
        let own = self.overrides.get(kind).cloned().unwrap_or_default();
        own.apply(kind, (1, 60_000, SEVERITIES[at]), 1)
    }

    pub fn defaults() -> impl Iterator<Item = (&'static str, Severity)> {
        KINDS.into_iter().zip(SEVERITIES)
    }
}
