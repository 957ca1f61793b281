//! Pending security updates and reboots, from what the package manager has cached,
//! read-only (apt is never run): the security suites' `Packages` lists under
//! `/var/lib/apt/lists` against dpkg's installed versions, and `/run/reboot-required`
//! or a running kernel older than the newest installed one.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::dpkg::{paragraphs, Installed};
use super::version;

/// One package with a pending security update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageUpdate {
    pub name: String,
    pub installed: String,
    pub available: String,
}

#[derive(Debug, Default)]
pub struct Pending {
    pub packages: Vec<PackageUpdate>,
    /// Days since the security lists were last fetched (`None`: there are none).
    pub lists_age_days: Option<u64>,
    /// What makes the answer incomplete or stale, for a person.
    pub warnings: Vec<String>,
}

/// Lists older than this say little about what is pending now.
pub const STALE_DAYS: u64 = 7;

pub fn lists_dir(root: &Path) -> PathBuf {
    root.join("var/lib/apt/lists")
}

/// A Release file's fields that tell a security suite.
fn is_security(release: &[(&str, String)]) -> bool {
    let get = |k: &str| {
        release
            .iter()
            .find(|(key, _)| *key == k)
            .map_or("", |(_, v)| v.as_str())
    };
    get("Suite").contains("-security")
        || get("Codename").contains("-security")
        || get("Label") == "Debian-Security"
}

/// A `Packages` list's text, plain or compressed as apt keeps it.
fn read_list(path: &Path) -> Result<String, String> {
    let file = super::open_regular(path).map_err(|e| e.to_string())?;
    let name = path.to_string_lossy();
    let mut reader: Box<dyn Read> = if name.ends_with(".lz4") {
        Box::new(lz4_flex::frame::FrameDecoder::new(file))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if name.ends_with("_Packages") {
        Box::new(file)
    } else {
        return Err("compression not supported (plain, .gz and .lz4 are)".into());
    };
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The security updates pending for `installed`, from `root`'s apt lists.
pub fn pending(root: &Path, installed: &[Installed], now: SystemTime) -> Pending {
    let mut out = Pending::default();
    let dir = lists_dir(root);
    let names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(e) => {
            let rpm = ["var/lib/rpm", "usr/lib/sysimage/rpm"]
                .iter()
                .any(|d| root.join(d).is_dir());
            out.warnings.push(if rpm {
                "this is an RPM system: fim reads only apt's cached lists, security updates \
                 are not checked here (use `dnf updateinfo list --security`)"
                    .into()
            } else {
                format!("{}: {e}: security updates are not checked", dir.display())
            });
            return out;
        }
    };
    // Each Release file by the prefix its lists share.
    let mut releases: Vec<(String, bool, Option<SystemTime>)> = Vec::new();
    for name in &names {
        let Some(prefix) = name
            .strip_suffix("InRelease")
            .or_else(|| name.strip_suffix("Release"))
        else {
            continue;
        };
        let path = dir.join(name);
        let text = super::read_regular(&path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        const WANTED: &[&str] = &["Suite", "Codename", "Label", "Origin"];
        let security = paragraphs(&text, WANTED)
            .next()
            .is_some_and(|p| is_security(&p));
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        releases.push((prefix.to_owned(), security, mtime));
    }
    let mut available: HashMap<(String, String), String> = HashMap::new();
    let mut security_lists = 0;
    for name in names.iter().filter(|n| n.contains("_Packages")) {
        let release = releases
            .iter()
            .filter(|(prefix, ..)| name.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, ..)| prefix.len());
        let security = match release {
            Some((_, security, _)) => *security,
            None => name.contains("-security_") || name.contains("_debian-security_"),
        };
        if !security {
            continue;
        }
        security_lists += 1;
        let text = match read_list(&dir.join(name)) {
            Ok(text) => text,
            Err(e) => {
                out.warnings
                    .push(format!("{}: {e}", dir.join(name).display()));
                continue;
            }
        };
        const WANTED: &[&str] = &["Package", "Version", "Architecture"];
        for p in paragraphs(&text, WANTED) {
            let get = |k: &str| p.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone());
            let (Some(package), Some(v)) = (get("Package"), get("Version")) else {
                continue;
            };
            let arch = get("Architecture").unwrap_or_else(|| "all".into());
            let slot = available.entry((package, arch)).or_default();
            if slot.is_empty() || version::compare(&v, slot) == Ordering::Greater {
                *slot = v;
            }
        }
    }
    if security_lists == 0 {
        out.warnings.push(format!(
            "{}: no security suite's package list (is a -security suite in apt's sources?)",
            dir.display()
        ));
    }
    for package in installed {
        let candidates = [
            (package.name.clone(), package.arch.clone()),
            (package.name.clone(), "all".to_owned()),
        ];
        let best = candidates
            .iter()
            .filter_map(|key| available.get(key))
            .max_by(|a, b| version::compare(a, b));
        if let Some(best) = best {
            if version::compare(best, &package.version) == Ordering::Greater {
                out.packages.push(PackageUpdate {
                    name: package.name.clone(),
                    installed: package.version.clone(),
                    available: best.clone(),
                });
            }
        }
    }
    out.packages.sort_by(|a, b| a.name.cmp(&b.name));
    out.packages.dedup_by(|a, b| a.name == b.name);
    let newest = releases
        .iter()
        .filter(|(_, security, _)| *security)
        .filter_map(|(.., mtime)| *mtime)
        .max();
    out.lists_age_days = newest.map(|t| now.duration_since(t).map_or(0, |d| d.as_secs() / 86_400));
    if let Some(days) = out.lists_age_days.filter(|d| *d > STALE_DAYS) {
        out.warnings.push(format!(
            "the package lists are {days} days old: run `apt-get update` (or enable \
             unattended-upgrades) for the pending updates to mean anything"
        ));
    }
    out
}

/// Why a reboot is needed, if it is: the system's flag, or the running kernel `running`
/// (its release, as uname gives it) older than the newest installed kernel.
pub fn reboot_reasons(root: &Path, running: &str, installed: &[Installed]) -> Vec<String> {
    let mut reasons = Vec::new();
    let flag = root.join("run/reboot-required");
    if flag.exists() {
        let pkgs = super::read_regular(&root.join("run/reboot-required.pkgs"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut pkgs: Vec<&str> = pkgs.split_whitespace().collect();
        pkgs.sort_unstable();
        pkgs.dedup();
        reasons.push(if pkgs.is_empty() {
            format!("{} exists", flag.display())
        } else {
            format!("{} exists (for {})", flag.display(), pkgs.join(", "))
        });
    }
    // linux-image-6.1.0-28-amd64 and the like (not the linux-image-amd64 metapackage).
    let kernels: Vec<&Installed> = installed
        .iter()
        .filter(|p| {
            p.name
                .strip_prefix("linux-image-")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    let current = kernels
        .iter()
        .find(|p| p.name.strip_prefix("linux-image-") == Some(running));
    let newest = kernels
        .iter()
        .max_by(|a, b| version::compare(&a.version, &b.version));
    if let (Some(current), Some(newest)) = (current, newest) {
        if version::compare(&newest.version, &current.version) == Ordering::Greater {
            reasons.push(format!(
                "the running kernel {running} ({}) is older than the installed {} ({})",
                current.version,
                newest.name.trim_start_matches("linux-image-"),
                newest.version
            ));
        }
    }
    reasons
}
