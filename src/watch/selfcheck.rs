//! The daemon keeps an eye on itself: its policy file and its own binary. An intruder
//! who edits the policy (to exclude a backdoor) or replaces the binary gets a critical
//! event, whether or not those files sit inside a watched tree.

use std::path::{Path, PathBuf};

use crate::diff::{changed, Finding};
use crate::fs::open::{attrs_from_stat, open_file_at, stat_fd};
use crate::fs::{AttrSet, Attrs, FileType};
use crate::policy::{Kind, Severity};
use crate::scan::hasher::{hash_stable, Hashed};

pub const RULE: &str = "fim-self";

struct Watched {
    path: PathBuf,
    what: &'static str,
    last: Option<Attrs>,
}

pub struct SelfFiles {
    files: Vec<Watched>,
}

impl SelfFiles {
    pub fn new(policy: Option<&Path>) -> SelfFiles {
        let mut files = Vec::new();
        if let Some(policy) = policy.and_then(|p| p.canonicalize().ok()) {
            files.push((policy, "fim's policy file"));
        }
        if let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) {
            files.push((exe, "the fim binary"));
        }
        SelfFiles {
            files: files
                .into_iter()
                .map(|(path, what)| Watched {
                    last: observe(&path),
                    path,
                    what,
                })
                .collect(),
        }
    }

    /// What changed since the last look, as critical findings.
    pub fn check(&mut self) -> Vec<Finding> {
        let mut findings = Vec::new();
        for file in &mut self.files {
            // A stat each tick; the content is hashed again only when the metadata
            // says the file changed (a writer cannot avoid changing ctime).
            let unchanged = match (&file.last, stat_path(&file.path)) {
                (Some(last), Some(now)) => {
                    let mut now = now;
                    now.blake3 = last.blake3;
                    changed(last, &now).is_empty()
                }
                (None, None) => true,
                _ => false,
            };
            if unchanged {
                continue;
            }
            let now = observe(&file.path);
            let (kind, changes) = match (&file.last, &now) {
                (None, None) => continue,
                (None, Some(_)) => (Kind::New, AttrSet::EMPTY),
                (Some(_), None) => (Kind::Deleted, AttrSet::EMPTY),
                (Some(old), Some(new)) => match changed(old, new) {
                    changes if changes.is_empty() => continue,
                    changes => (Kind::Modified, changes),
                },
            };
            findings.push(Finding {
                kind,
                path: crate::fs::path::bytes(&file.path).to_vec(),
                old: file.last.take(),
                new: now.clone(),
                changes,
                severity: Severity::Critical,
                rule: Some(RULE.to_owned()),
                reasons: vec![format!("{} changed under the running daemon", file.what)],
                suspicion: Some(Severity::Critical),
                report: crate::policy::Report::Always,
            });
            file.last = now;
        }
        findings
    }
}

fn stat_path(path: &Path) -> Option<Attrs> {
    attrs_from_stat(&rustix::fs::lstat(path).ok()?)
}

/// Attributes and hash of `path` (a regular file), or `None` when it is gone.
fn observe(path: &Path) -> Option<Attrs> {
    let dir = crate::fs::open::open_dir_path(crate::fs::path::bytes(path.parent()?)).ok()?;
    let name = std::ffi::CString::new(crate::fs::path::bytes(path.file_name()?.as_ref())).ok()?;
    let fd = open_file_at(std::os::fd::AsFd::as_fd(&dir), &name).ok()?;
    let stat = stat_fd(&fd).ok()?;
    let mut attrs = attrs_from_stat(&stat)?;
    if attrs.file_type == FileType::File {
        if let Ok(Hashed::Stable { digest, .. }) = hash_stable(&std::fs::File::from(fd), stat) {
            attrs.blake3 = Some(digest);
        }
    }
    Some(attrs)
}
