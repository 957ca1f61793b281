//! One round of host checks, and the worker thread `watch` runs rounds and site
//! requests on.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::SystemTime;

use super::exposure::{self, Answer, Asker};
use super::integrity::{self, Changed};
use super::{alert, dpkg, owners, updates, ASK_TIMEOUT};
use crate::detect::{Alert, HostFields};
use crate::fs::path as bpath;
use crate::policy::{HostSettings, Severity, Site};

#[derive(Clone)]
pub struct Round {
    pub settings: HostSettings,
    pub watched: Vec<Vec<u8>>,
    /// With the package-integrity pass and the sites' exposure; else updates only
    /// (after a package operation).
    pub full: bool,
}

#[derive(Default)]
pub struct Output {
    pub alerts: Vec<Alert>,
    pub warnings: Vec<String>,
}

/// An entry the exposure rule reports.
pub struct Found {
    pub path: Vec<u8>,
    pub is_dir: bool,
    pub why: String,
    pub related: Vec<String>,
}

pub enum Job {
    /// A round, skipping the package files already judged on file events.
    Round(Round, HashSet<Vec<u8>>),
    /// Ask the site whether it serves a new entry.
    Ask(Site, Found),
}

/// The worker: jobs in, outputs back, until the sender is dropped.
pub fn spawn() -> (Sender<Job>, Receiver<Output>) {
    let (jobs, inbox) = mpsc::channel::<Job>();
    let (outbox, answers) = mpsc::channel();
    std::thread::Builder::new()
        .name("fim-host".into())
        .spawn(move || {
            let mut asker = Asker::new(ASK_TIMEOUT);
            for job in inbox {
                let output = match job {
                    Job::Round(round, judged) => round.run(&judged),
                    Job::Ask(site, found) => {
                        let answer = asker.ask(&site, &found.path, found.is_dir);
                        Output {
                            alerts: vec![exposed(found, answer, true)],
                            warnings: Vec::new(),
                        }
                    }
                };
                if outbox.send(output).is_err() {
                    return;
                }
            }
        })
        .expect("a thread can be started");
    (jobs, answers)
}

impl Round {
    pub fn run(&self, judged: &HashSet<Vec<u8>>) -> Output {
        let mut out = Output::default();
        let root = &self.settings.root;
        if self.settings.updates {
            match dpkg::installed(root) {
                Ok(installed) => self.updates(&installed, &mut out),
                Err(e) => out.warnings.push(format!(
                    "{}: {e}: security updates and reboots are not checked",
                    dpkg::admin_dir(root).join("status").display()
                )),
            }
        }
        if self.full && self.settings.packages {
            let started = std::time::Instant::now();
            let mut owners = owners::Owners::new(root, self.watched.clone());
            let files: Vec<_> = owners
                .files()
                .into_iter()
                .filter(|(path, _)| !judged.contains(path))
                .collect();
            out.warnings.extend(owners.warning.take());
            let mut history = dpkg::History::new(root);
            let checked = files.len();
            let changed = integrity::check_all(files);
            tracing::info!(
                "host checks: {checked} package files under the watched trees checked \
                 against dpkg's checksums in {:.2} s, {} differ",
                started.elapsed().as_secs_f64(),
                changed.len()
            );
            let now_ms = chrono::Utc::now().timestamp_millis();
            for changed in changed {
                let changed_ms = std::fs::metadata(bpath::as_path(&changed.path))
                    .map_or(0, |m| std::os::unix::fs::MetadataExt::ctime(&m) * 1000);
                if !history.explains_difference(&changed.owned, changed_ms, now_ms) {
                    out.alerts.push(package_file_changed(changed, Vec::new()));
                }
            }
        }
        if self.full && self.settings.exposure {
            for site in &self.settings.sites {
                self.ask_site(site, &mut out);
            }
        }
        out
    }

    fn updates(&self, installed: &[dpkg::Installed], out: &mut Output) {
        let root = &self.settings.root;
        let pending = updates::pending(root, installed, SystemTime::now());
        out.warnings.extend(pending.warnings.iter().cloned());
        if !pending.packages.is_empty() {
            let shown: Vec<String> = pending
                .packages
                .iter()
                .take(5)
                .map(|p| format!("{} {} → {}", p.name, p.installed, p.available))
                .collect();
            let more = pending.packages.len().saturating_sub(shown.len());
            let summary = format!(
                "{} package{} with a pending security update: {}{}{}",
                pending.packages.len(),
                if pending.packages.len() == 1 { "" } else { "s" },
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                pending
                    .lists_age_days
                    .map_or(String::new(), |d| format!(" (lists {d} days old)"))
            );
            let stale: Vec<String> = pending
                .lists_age_days
                .filter(|d| *d > updates::STALE_DAYS)
                .map(|d| format!("package lists {d} days old: more may be pending"))
                .into_iter()
                .collect();
            out.alerts.push(alert(
                "security-updates",
                Severity::High,
                summary,
                HostFields {
                    packages: Some(pending.packages),
                    lists_age_days: pending.lists_age_days,
                    ..HostFields::default()
                },
                Vec::new(),
                stale,
            ));
        }
        let running = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        let reasons = updates::reboot_reasons(root, &running, installed);
        if !reasons.is_empty() {
            out.alerts.push(alert(
                "reboot-required",
                Severity::Medium,
                format!("a reboot is needed: {}", reasons.join("; ")),
                HostFields::default(),
                Vec::new(),
                reasons,
            ));
        }
    }

    /// The exposed entries under a site's docroot that the site serves.
    fn ask_site(&self, site: &Site, out: &mut Output) {
        let stems = exposure::stems(site);
        let found = exposure::find(&site.docroot, &stems, exposure::MAX_PROBES + 1);
        if found.len() > exposure::MAX_PROBES {
            out.warnings.push(format!(
                "{}: more than {} entries that must never be public; the first {} are asked for",
                site.docroot,
                exposure::MAX_PROBES,
                exposure::MAX_PROBES
            ));
        }
        let mut asker = Asker::new(ASK_TIMEOUT);
        for (path, is_dir, why) in found.into_iter().take(exposure::MAX_PROBES) {
            let answer = asker.ask(site, &path, is_dir);
            if answer.as_ref().is_some_and(|a| a.served) {
                let found = Found {
                    path,
                    is_dir,
                    why,
                    related: Vec::new(),
                };
                out.alerts.push(exposed(found, answer, false));
            }
        }
    }
}

pub fn package_file_changed(changed: Changed, related: Vec<String>) -> Alert {
    let mut reasons = Vec::new();
    if changed.owned.conffile {
        reasons.push("a configuration file: an administrator's edit is possible".to_owned());
    }
    alert(
        "package-file-changed",
        changed.severity,
        changed.summary(),
        HostFields {
            package: Some(changed.owned.package.clone()),
            path: Some(bpath::lossy(&changed.path).into_owned()),
            ..HostFields::default()
        },
        related,
        reasons,
    )
}

/// An exposed-file detection: critical when the site serves it, else high (when it
/// appeared: `new`) — a round reports only what is served.
pub fn exposed(found: Found, answer: Option<Answer>, new: bool) -> Alert {
    let shown = bpath::lossy(&found.path).into_owned();
    let served = answer.as_ref().is_some_and(|a| a.served);
    let said = match &answer {
        Some(Answer {
            url,
            status: Some(status),
            ..
        }) if served => {
            format!("; {url} serves it ({status})")
        }
        Some(Answer {
            url,
            status: Some(status),
            ..
        }) => {
            format!("; {url} answers {status}, not the file")
        }
        Some(Answer {
            url,
            error: Some(e),
            ..
        }) => format!("; {url}: {e}"),
        _ => String::new(),
    };
    let mut reasons = vec![found.why.clone()];
    if new && !served {
        reasons.push("appeared in a served tree".into());
    }
    alert(
        "exposed-file",
        if served {
            Severity::Critical
        } else {
            Severity::High
        },
        format!("{shown}: {}{said}", found.why),
        HostFields {
            path: Some(shown),
            url: answer
                .as_ref()
                .filter(|a| a.status.is_some())
                .map(|a| a.url.clone()),
            status: answer.as_ref().and_then(|a| a.status),
            ..HostFields::default()
        },
        found.related,
        reasons,
    )
}
