//! Section 7: the host — pending security updates and reboot (the latest check says
//! it), exposed files and package-integrity findings (every one of the period).

use serde_json::Value;

/// Findings listed per kind; the rest are counted.
const LISTED: usize = 100;

pub struct Package {
    pub name: String,
    pub installed: String,
    pub available: String,
}

pub struct Finding {
    pub ts: String,
    pub severity: String,
    pub path: String,
    /// The package, or the URL and status that served the file.
    pub detail: String,
}

#[derive(Default)]
pub struct Host {
    /// The latest `security-updates` event: its packages and how old the lists were.
    pub updates: Option<(Vec<Package>, String)>,
    /// The latest `reboot-required` event's summary.
    pub reboot: Option<String>,
    pub exposed: Vec<Finding>,
    pub package_files: Vec<Finding>,
    pub more: u64,
}

impl Host {
    pub fn add(&mut self, event: &Value) {
        let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
        match s("kind") {
            "security-updates" => {
                let packages = event
                    .get("packages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let f = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                        Package {
                            name: f("name"),
                            installed: f("installed"),
                            available: f("available"),
                        }
                    })
                    .collect();
                let age = event
                    .get("lists_age_days")
                    .and_then(Value::as_f64)
                    .map_or(String::new(), |d| format!("{d:.1} days"));
                self.updates = Some((packages, age));
            }
            "reboot-required" => self.reboot = Some(s("summary").to_owned()),
            kind @ ("exposed-file" | "package-file-changed") => {
                let detail = if kind == "exposed-file" {
                    match (
                        event.get("url").and_then(Value::as_str),
                        event.get("status"),
                    ) {
                        (Some(url), Some(status)) if !status.is_null() => {
                            format!("served at {url} ({status})")
                        }
                        _ => "not served".into(),
                    }
                } else {
                    format!("package {}", s("package"))
                };
                let list = if kind == "exposed-file" {
                    &mut self.exposed
                } else {
                    &mut self.package_files
                };
                if list.len() >= LISTED {
                    self.more += 1;
                    return;
                }
                list.push(Finding {
                    ts: s("ts").to_owned(),
                    severity: s("severity").to_owned(),
                    path: s("path").to_owned(),
                    detail,
                });
            }
            _ => {}
        }
    }

    /// Security updates pending, per the latest check.
    pub fn pending_updates(&self) -> usize {
        self.updates.as_ref().map_or(0, |(p, _)| p.len())
    }
}
