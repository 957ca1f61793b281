//! The diff: one pure function decides what changed between two observations of an
//! entry, and the policy decides whether and how loudly that is reported. `verify`
//! and (later) `watch` both come through here.

use crate::fs::{Attr, AttrSet, Attrs, FileType};
use crate::policy::{Kind, Policy, Report, Severity};

/// The attributes that differ between `old` and `new`.
pub fn changed(old: &Attrs, new: &Attrs) -> AttrSet {
    let mut set = AttrSet::EMPTY;
    let mut check = |attr, differs: bool| {
        if differs {
            set.insert(attr);
        }
    };
    // Content is compared only where both sides have a trustworthy hash; a type
    // change is reported as `type`.
    let content_differs = old.file_type == FileType::File
        && new.file_type == FileType::File
        && matches!((old.blake3, new.blake3), (Some(a), Some(b)) if a != b);
    check(Attr::Content, content_differs);
    check(Attr::Size, old.size != new.size);
    check(Attr::Mode, old.mode != new.mode);
    check(Attr::Uid, old.uid != new.uid);
    check(Attr::Gid, old.gid != new.gid);
    check(Attr::Mtime, old.mtime != new.mtime);
    check(Attr::Ctime, old.ctime != new.ctime);
    check(Attr::Inode, old.inode != new.inode);
    check(Attr::Nlink, old.nlink != new.nlink);
    check(Attr::Type, old.file_type != new.file_type);
    check(Attr::Target, old.target != new.target);
    check(Attr::Xattrs, old.xattrs != new.xattrs);
    set
}

/// A reportable difference, graded by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub path: Vec<u8>,
    pub old: Option<Attrs>,
    pub new: Option<Attrs>,
    /// Non-empty for `modified`, empty otherwise.
    pub changes: AttrSet,
    pub severity: Severity,
    pub rule: Option<String>,
    /// Why the entry looks suspicious (heuristics); filled in by the comparison.
    pub reasons: Vec<String>,
    /// The severity of the strongest of those reasons (whatever the rule says):
    /// `init` and `accept` refuse to take in what is critically suspicious.
    pub suspicion: Option<Severity>,
    /// The rule's `report`: a `Suspicious` finding without reasons is not reported.
    pub report: Report,
}

/// Compare the two observations of the entry at `path`, not comparing `masked`
/// attributes besides those the policy ignores. `None` when nothing reportable
/// changed, or when the policy does not watch `path`.
pub fn diff(
    policy: &Policy,
    path: &[u8],
    old: Option<Attrs>,
    new: Option<Attrs>,
    masked: AttrSet,
) -> Option<Finding> {
    let (watch, rel) = policy.watch_of(path)?;
    let (kind, changes) = match (&old, &new) {
        (None, None) => return None,
        (None, Some(_)) => (Kind::New, AttrSet::EMPTY),
        (Some(_), None) => (Kind::Deleted, AttrSet::EMPTY),
        (Some(o), Some(n)) => (Kind::Modified, changed(o, n)),
    };
    if kind == Kind::Modified && changes.is_empty() {
        return None;
    }
    let verdict = policy.verdict(watch, rel, path, kind);
    let changes = changes.without(verdict.ignore.union(masked));
    if kind == Kind::Modified && changes.is_empty() {
        return None;
    }
    Some(Finding {
        kind,
        path: path.to_vec(),
        old,
        new,
        changes,
        severity: verdict.severity,
        rule: verdict.rule.map(str::to_owned),
        reasons: Vec::new(),
        suspicion: None,
        report: verdict.report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Timestamp;
    use proptest::prelude::*;
    use std::path::Path;

    fn attrs_strategy() -> impl Strategy<Value = Attrs> {
        (
            prop::sample::select(FileType::ALL.to_vec()),
            0u64..4,
            prop::sample::select(vec![0o644u32, 0o755, 0o4755]),
            0u32..2,
            0u32..2,
            (0i64..2, 0u32..2),
            (0i64..2, 0u32..2),
            0u64..2,
            1u64..3,
            prop::option::of(prop::sample::select(vec![b"a".to_vec(), b"b".to_vec()])),
            prop::option::of(prop::sample::select(vec![[1u8; 32], [2u8; 32]])),
        )
            .prop_map(
                |(t, size, mode, uid, gid, m, c, inode, nlink, target, blake3)| Attrs {
                    file_type: t,
                    size,
                    mode,
                    uid,
                    gid,
                    mtime: Timestamp {
                        sec: m.0,
                        nsec: m.1,
                    },
                    ctime: Timestamp {
                        sec: c.0,
                        nsec: c.1,
                    },
                    inode,
                    nlink,
                    target,
                    xattrs: Vec::new(),
                    blake3,
                },
            )
    }

    fn policy(extra: &str) -> Policy {
        Policy::parse(
            &format!("[[watch]]\npath = \"/w\"\n{extra}"),
            Path::new("t"),
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn identical_entries_never_differ(a in attrs_strategy()) {
            prop_assert!(changed(&a, &a).is_empty());
            prop_assert_eq!(diff(&policy(""), b"/w/x", Some(a.clone()), Some(a), AttrSet::EMPTY), None);
        }

        #[test]
        fn changes_are_symmetric(a in attrs_strategy(), b in attrs_strategy()) {
            prop_assert_eq!(changed(&a, &b), changed(&b, &a));
        }

        #[test]
        fn a_modified_finding_lists_what_differs_minus_ignored(a in attrs_strategy(), b in attrs_strategy()) {
            let p = policy("ignore = [\"mtime\", \"ctime\"]\n");
            let expected = changed(&a, &b).without([Attr::Mtime, Attr::Ctime].into_iter().collect());
            match diff(&p, b"/w/x", Some(a), Some(b), AttrSet::EMPTY) {
                None => prop_assert!(expected.is_empty()),
                Some(f) => {
                    prop_assert_eq!(f.kind, Kind::Modified);
                    prop_assert!(!f.changes.is_empty());
                    prop_assert_eq!(f.changes, expected);
                }
            }
        }

        #[test]
        fn ignoring_every_attribute_never_hides_new_or_deleted(a in attrs_strategy()) {
            let p = policy("ignore = [\"content\",\"size\",\"mode\",\"uid\",\"gid\",\"mtime\",\"ctime\",\"inode\",\"nlink\",\"type\",\"target\",\"xattrs\"]\n");
            prop_assert_eq!(diff(&p, b"/w/x", None, Some(a.clone()), AttrSet::EMPTY).map(|f| f.kind), Some(Kind::New));
            prop_assert_eq!(diff(&p, b"/w/x", Some(a.clone()), None, AttrSet::EMPTY).map(|f| f.kind), Some(Kind::Deleted));
        }

        #[test]
        fn unwatched_paths_are_never_reported(a in attrs_strategy()) {
            prop_assert_eq!(diff(&policy(""), b"/elsewhere/x", None, Some(a), AttrSet::EMPTY), None);
        }
    }

    #[test]
    fn unknown_hash_is_not_a_content_change() {
        let mut a = Attrs {
            size: 1,
            blake3: Some([1; 32]),
            ..Attrs::plain_file(0o644)
        };
        let mut b = a.clone();
        b.blake3 = None;
        assert!(changed(&a, &b).is_empty());
        a.blake3 = Some([2; 32]);
        b.blake3 = Some([3; 32]);
        assert_eq!(
            changed(&a, &b).iter().collect::<Vec<_>>(),
            vec![Attr::Content]
        );
    }
}
