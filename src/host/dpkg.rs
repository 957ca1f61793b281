//! dpkg's own records, read-only, under the `[host] root` (`dpkg --admindir` style:
//! the databases are read there, the paths they name are the host's): the installed
//! packages (`status`), and the package operations of `/var/log/dpkg.log`.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{Local, NaiveDateTime, TimeZone};

use super::owners::Owned;

/// dpkg's database folder under `root`.
pub fn admin_dir(root: &Path) -> PathBuf {
    root.join("var/lib/dpkg")
}

/// An installed package (Status `install ok installed`, or `hold ok installed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub arch: String,
    pub version: String,
    /// (path, MD5 hex) of its configuration files; `obsolete` ones are left out.
    pub conffiles: Vec<(String, String)>,
}

impl Installed {
    /// The name dpkg's info files carry: `libc6:amd64` for a `Multi-Arch: same`
    /// package, else the bare name. Both are tried.
    pub fn info_names(&self) -> [String; 2] {
        [format!("{}:{}", self.name, self.arch), self.name.clone()]
    }
}

/// The fields of each paragraph of a deb822 file (status, Packages, Release), with
/// continuation lines joined by `\n`. Only `wanted` fields are kept.
pub fn paragraphs<'t>(
    text: &'t str,
    wanted: &'t [&'t str],
) -> impl Iterator<Item = Vec<(&'t str, String)>> + 't {
    let mut lines = text.lines().peekable();
    std::iter::from_fn(move || {
        let mut fields: Vec<(&str, String)> = Vec::new();
        let mut keep = false;
        loop {
            let Some(line) = lines.next() else {
                return (!fields.is_empty()).then_some(fields);
            };
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                return Some(fields);
            }
            if line.starts_with([' ', '\t']) {
                if keep {
                    if let Some((_, value)) = fields.last_mut() {
                        value.push('\n');
                        value.push_str(line.trim());
                    }
                }
                continue;
            }
            keep = false;
            if let Some((key, value)) = line.split_once(':') {
                if let Some(name) = wanted.iter().find(|w| key.eq_ignore_ascii_case(w)) {
                    keep = true;
                    fields.push((name, value.trim().to_owned()));
                }
            }
        }
    })
}

fn field<'a>(fields: &'a [(&str, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// The installed packages of `root`'s dpkg status.
pub fn installed(root: &Path) -> io::Result<Vec<Installed>> {
    let path = admin_dir(root).join("status");
    let text = super::read_regular(&path)?;
    let text = String::from_utf8_lossy(&text);
    const WANTED: &[&str] = &["Package", "Status", "Version", "Architecture", "Conffiles"];
    Ok(paragraphs(&text, WANTED)
        .filter_map(|p| {
            let status: Vec<&str> = field(&p, "Status")?.split_whitespace().collect();
            if status.get(1..) != Some(&["ok", "installed"][..]) {
                return None;
            }
            let conffiles = field(&p, "Conffiles")
                .unwrap_or("")
                .lines()
                .filter_map(|l| {
                    let mut words = l.split_whitespace();
                    let (path, md5) = (words.next()?, words.next()?);
                    // `obsolete`: no longer shipped; `remove-on-upgrade`: going away.
                    words
                        .next()
                        .is_none()
                        .then(|| (path.to_owned(), md5.to_owned()))
                })
                .collect();
            Some(Installed {
                name: field(&p, "Package")?.to_owned(),
                arch: field(&p, "Architecture").unwrap_or("all").to_owned(),
                version: field(&p, "Version")?.to_owned(),
                conffiles,
            })
        })
        .collect())
}

/// One line of dpkg.log that changed a package: `install`, `upgrade`, `remove`,
/// `purge`, or `configure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub at_ms: i64,
    pub action: String,
    /// Without its `:arch`.
    pub package: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl Operation {
    /// "package upgrade: nginx 1.22.1-9 → 1.22.1-9+deb12u2".
    pub fn describe(&self) -> String {
        match (self.action.as_str(), &self.old, &self.new) {
            ("upgrade" | "install", Some(old), Some(new)) => {
                format!("package upgrade: {} {old} → {new}", self.package)
            }
            (action, _, Some(new)) => format!("package {action}: {} {new}", self.package),
            (action, Some(old), None) => format!("package {action}: {} {old}", self.package),
            (action, None, None) => format!("package {action}: {}", self.package),
        }
    }
}

/// `2026-11-30 10:00:01 upgrade nginx:amd64 1.22.1-9 1.22.1-9+deb12u2` (local time, as
/// dpkg writes it).
pub fn operation(line: &str) -> Option<Operation> {
    let mut words = line.split_whitespace();
    let (date, time, action) = (words.next()?, words.next()?, words.next()?);
    if !matches!(
        action,
        "install" | "upgrade" | "remove" | "purge" | "configure"
    ) {
        return None;
    }
    let naive =
        NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S").ok()?;
    let at_ms = Local
        .from_local_datetime(&naive)
        .earliest()?
        .timestamp_millis();
    let package = words.next()?;
    let package = package.split_once(':').map_or(package, |(n, _)| n);
    let version = |w: Option<&str>| w.filter(|v| *v != "<none>").map(str::to_owned);
    let (first, second) = (words.next(), words.next());
    let (old, new) = match action {
        // `configure PKG VERSION <none>`, `remove PKG VERSION <none>`.
        "configure" => (None, version(first)),
        "remove" | "purge" => (version(first), None),
        _ => (version(first), version(second)),
    };
    Some(Operation {
        at_ms,
        action: action.to_owned(),
        package: package.to_owned(),
        old,
        new,
    })
}

/// The package operations of dpkg.log (and its first rotation, `dpkg.log.1`), re-read
/// when the log changes.
pub struct History {
    logs: [PathBuf; 2],
    stamp: Option<(u64, std::time::SystemTime)>,
    operations: Vec<Operation>,
}

/// A change this long after a package operation is still its doing (a big upgrade
/// unpacks for minutes), and a little before (dpkg's log has whole seconds).
const UNPACK_SPAN_MS: i64 = 3600 * 1000;
const CLOCK_SLACK_MS: i64 = 120 * 1000;

impl History {
    pub fn new(root: &Path) -> History {
        let log = root.join("var/log/dpkg.log");
        History {
            logs: [log.with_extension("log.1"), log],
            stamp: None,
            operations: Vec::new(),
        }
    }

    pub fn log(&self) -> &Path {
        &self.logs[1]
    }

    fn refresh(&mut self) {
        let stamp = std::fs::metadata(&self.logs[1])
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        if stamp.is_some() && stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        self.operations = self
            .logs
            .iter()
            .filter_map(|log| super::read_regular(log).ok())
            .flat_map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(operation)
                    .collect::<Vec<_>>()
            })
            .collect();
    }

    /// Is an operation on `package` under way (logged in the last minutes)? dpkg
    /// writes a package's files before its checksums.
    pub fn in_progress(&mut self, package: &str, now_ms: i64) -> bool {
        self.refresh();
        self.operations
            .iter()
            .rev()
            .any(|op| op.package == package && op.at_ms >= now_ms.saturating_sub(CLOCK_SLACK_MS))
    }

    /// Does a package operation explain that `changed` differs from dpkg's checksum
    /// (written at `changed_ms`)? Only while the operation runs, or for a configuration
    /// file the operation may have merged: once it is done, every other file of the
    /// package is the package's.
    pub fn explains_difference(&mut self, changed: &Owned, changed_ms: i64, now_ms: i64) -> bool {
        self.in_progress(&changed.package, now_ms)
            || changed.conffile && self.explaining(&changed.package, changed_ms).is_some()
    }

    /// The operation on `package` that explains a file written at `changed_ms`: the
    /// latest one in the hour before it (or just after: dpkg logs in seconds).
    pub fn explaining(&mut self, package: &str, changed_ms: i64) -> Option<&Operation> {
        self.refresh();
        self.operations.iter().rev().find(|op| {
            op.package == package
                && op.at_ms <= changed_ms.saturating_add(CLOCK_SLACK_MS)
                && op.at_ms >= changed_ms.saturating_sub(UNPACK_SPAN_MS)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paragraphs_give_installed_packages_and_conffiles() {
        let text = "Package: nginx-common\nStatus: install ok installed\nArchitecture: all\n\
                    Version: 1.22.1-9\nConffiles:\n /etc/nginx/nginx.conf 0123abc\n \
                    /etc/nginx/old.conf 4567 obsolete\nDescription: x\n more\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                    Package: libc6\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 2.36-9\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        std::fs::write(dir.path().join("var/lib/dpkg/status"), text).unwrap();
        let got = installed(dir.path()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "nginx-common");
        assert_eq!(
            got[0].conffiles,
            [("/etc/nginx/nginx.conf".to_owned(), "0123abc".to_owned())]
        );
        assert_eq!(got[1].info_names()[0], "libc6:amd64");
    }

    #[test]
    fn dpkg_log_lines_are_operations() {
        let op =
            operation("2026-11-30 10:00:01 upgrade nginx:amd64 1.22.1-9 1.22.1-9+deb12u2").unwrap();
        assert_eq!(op.package, "nginx");
        assert_eq!(
            op.describe(),
            "package upgrade: nginx 1.22.1-9 → 1.22.1-9+deb12u2"
        );
        let fresh = operation("2026-11-30 10:00:01 install curl:amd64 <none> 7.88.1-10").unwrap();
        assert_eq!(fresh.old, None);
        assert_eq!(fresh.describe(), "package install: curl 7.88.1-10");
        assert!(operation("2026-11-30 10:00:01 status installed curl:amd64 7.88").is_none());
        assert!(operation("garbage upgrade x 1 2").is_none());
        assert!(operation("").is_none());
    }
}
