//! A folder that has just appeared is one event. It is reported `new` at once (the
//! files in it must be watched and reported without delay), and its listing then
//! keeps changing while it is filled (a file written into it, an archive unpacked):
//! each change moves its mtime and ctime (and size, nlink). Every entry added is
//! reported itself, so such a `modified [mtime, ctime]` of the folder, 100 ms after
//! its `new`, says nothing: it is folded into the `new` for as long as the folder
//! keeps being filled, `SETTLE` after its last change. The observed state still
//! follows the disk, and any other change of the folder (mode, owner) is reported.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::diff::Finding;
use crate::fs::{Attr, AttrSet, FileType};
use crate::policy::Kind;

/// How long after its last change a new folder is still being filled.
pub const SETTLE: Duration = Duration::from_secs(2);

/// New folders still being filled, with the time of their last change.
#[derive(Default)]
pub struct FreshDirs {
    dirs: HashMap<Vec<u8>, Instant>,
}

impl FreshDirs {
    /// Drop from `findings` the listing changes of folders reported new just before.
    pub fn fold(&mut self, findings: &mut Vec<Finding>, now: Instant) {
        self.dirs
            .retain(|_, last| now.duration_since(*last) < SETTLE);
        let listing: AttrSet = [Attr::Mtime, Attr::Ctime, Attr::Size, Attr::Nlink]
            .into_iter()
            .collect();
        findings.retain(|f| {
            let is_dir = f.new.as_ref().is_some_and(|a| a.file_type == FileType::Dir);
            match f.kind {
                Kind::New if is_dir => {
                    self.dirs.insert(f.path.clone(), now);
                    true
                }
                Kind::Modified if is_dir => match self.dirs.get_mut(&f.path) {
                    Some(last) => {
                        *last = now;
                        !f.changes.without(listing).is_empty()
                    }
                    None => true,
                },
                Kind::Deleted => {
                    self.dirs.remove(&f.path);
                    true
                }
                _ => true,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Attrs;
    use crate::policy::Severity;

    fn finding(kind: Kind, path: &str, changes: &[Attr]) -> Finding {
        let dir = Attrs {
            file_type: FileType::Dir,
            ..Attrs::plain_file(0o755)
        };
        Finding {
            kind,
            path: path.as_bytes().to_vec(),
            old: (kind != Kind::New).then(|| dir.clone()),
            new: (kind != Kind::Deleted).then_some(dir),
            changes: changes.iter().copied().collect(),
            severity: Severity::Medium,
            rule: None,
            reasons: Vec::new(),
            suspicion: None,
            report: crate::policy::Report::Always,
        }
    }

    #[test]
    fn a_new_folder_being_filled_is_one_event() {
        let t0 = Instant::now();
        let mut fresh = FreshDirs::default();
        let listing = [Attr::Mtime, Attr::Ctime];
        let mut first = vec![finding(Kind::New, "/w/new", &[])];
        fresh.fold(&mut first, t0);
        assert_eq!(first.len(), 1);
        // Filled for longer than SETTLE, each change within SETTLE of the previous one.
        for i in 1..=3 {
            let mut later = vec![
                finding(Kind::Modified, "/w/new", &listing),
                finding(Kind::Modified, "/w/old", &listing),
            ];
            fresh.fold(&mut later, t0 + SETTLE / 2 * i);
            assert_eq!(later.len(), 1);
            assert_eq!(later[0].path, b"/w/old");
        }
        // Its mode is news.
        let mut mode = vec![finding(
            Kind::Modified,
            "/w/new",
            &[Attr::Mode, Attr::Ctime],
        )];
        fresh.fold(&mut mode, t0 + SETTLE * 2);
        assert_eq!(mode.len(), 1);
        // Settled: a later listing change is reported as for any folder.
        let mut settled = vec![finding(Kind::Modified, "/w/new", &listing)];
        fresh.fold(&mut settled, t0 + SETTLE * 5);
        assert_eq!(settled.len(), 1);
        // Gone, and back: new again.
        let mut gone = vec![finding(Kind::Deleted, "/w/new", &[])];
        fresh.fold(&mut gone, t0 + SETTLE * 5);
        assert_eq!(gone.len(), 1);
    }
}
