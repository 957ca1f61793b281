//! The policy: what is watched, what is excluded, which attributes are ignored, and how
//! severe a change is. Parsed from TOML with every key checked, so a typo is an error
//! rather than a silently unmonitored path.

pub mod matcher;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{Error, Result};
use crate::fs::path as bpath;
use crate::fs::{Attr, AttrSet};
use matcher::{BadPattern, Globs, Pattern};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The kind of a change, as events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    New,
    Modified,
    Deleted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Modified => "modified",
            Kind::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default_severity: Option<Severity>,
    rescan_interval: Option<Spanned<String>>,
    #[serde(default)]
    watch: Vec<RawWatch>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    path: Spanned<String>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    ignore: Vec<Attr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    paths: Vec<Spanned<String>>,
    kinds: Option<Vec<Kind>>,
    severity: Option<Severity>,
    #[serde(default)]
    ignore: Vec<Attr>,
}

/// One watched tree.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Absolute, normalized, without a trailing slash (except `/`).
    pub root: Vec<u8>,
    exclude: Globs,
    pub ignore: AttrSet,
}

impl Watch {
    /// Is the entry at `rel` below this root (itself, not its ancestors) excluded?
    pub fn excludes(&self, rel: &[u8], abs: &[u8]) -> bool {
        !rel.is_empty() && self.exclude.matches(rel, abs)
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    paths: Globs,
    kinds: Option<Vec<Kind>>,
    pub severity: Severity,
    pub ignore: AttrSet,
}

/// What the policy decides for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub rule: Option<&'a str>,
    pub severity: Severity,
    /// The watch's ignored attributes plus the rule's.
    pub ignore: AttrSet,
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy exactly as written; recorded in the baseline.
    pub text: String,
    pub default_severity: Severity,
    /// How often `fim watch` rescans everything as a safety net for what inotify cannot
    /// see (another mount namespace, a bind mount, the raw device); `None` disables it.
    pub rescan_interval: Option<Duration>,
    pub watches: Vec<Watch>,
    pub rules: Vec<Rule>,
}

const DEFAULT_RESCAN: Duration = Duration::from_secs(3600);

/// The largest policy file fim reads; a policy is a few kilobytes.
const MAX_POLICY_BYTES: u64 = 4 << 20;

impl Policy {
    /// Read and parse a policy file.
    pub fn load(path: &Path) -> Result<Policy> {
        let bytes = crate::fs::open::read_regular_file(path, MAX_POLICY_BYTES)
            .map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Policy {
            origin: path.to_path_buf(),
            line: line_of(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            ),
            message: "policy is not valid UTF-8".into(),
        })?;
        Policy::parse(&text, path)
    }

    /// The built-in default policy: watch `roots`, exclude nothing, report every change
    /// at medium severity.
    pub fn for_roots(roots: &[PathBuf]) -> Result<Policy> {
        let mut text = String::from(
            "# Built-in default policy of `fim init ROOT...`: every change under these roots\n\
             # is reported at medium severity. Write a policy file to exclude or grade paths.\n\
             default_severity = \"medium\"\n",
        );
        for root in roots {
            let root = root.to_str().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: a watch root must be valid UTF-8 to be written in a policy",
                    root.display()
                ))
            })?;
            text.push_str(&format!(
                "\n[[watch]]\npath = {}\n",
                toml::Value::String(root.to_owned())
            ));
        }
        Policy::parse(&text, Path::new("<built-in default policy>"))
    }

    /// Parse policy text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &Path) -> Result<Policy> {
        let fail = |offset: usize, message: String| Error::Policy {
            origin: origin.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            fail(offset, e.message().trim().replace('\n', " "))
        })?;
        let from_bad = |b: BadPattern| fail(b.offset, b.message);

        if raw.watch.is_empty() {
            return Err(fail(
                0,
                "no [[watch]] table: the policy watches nothing".into(),
            ));
        }
        let mut watches: Vec<Watch> = Vec::with_capacity(raw.watch.len());
        for w in &raw.watch {
            let offset = w.path.span().start;
            let root = normalize_root(w.path.get_ref()).map_err(|m| fail(offset, m))?;
            if watches.iter().any(|other| other.root == root) {
                return Err(fail(
                    offset,
                    format!("watch path {} is listed twice", w.path.get_ref()),
                ));
            }
            watches.push(Watch {
                root,
                exclude: Globs::new(patterns(&w.exclude), true).map_err(from_bad)?,
                ignore: w.ignore.iter().copied().collect(),
            });
        }

        let default_severity = raw.default_severity.unwrap_or(Severity::Medium);
        let rescan_interval = match &raw.rescan_interval {
            None => Some(DEFAULT_RESCAN),
            Some(text) => {
                let every = humantime::parse_duration(text.get_ref()).map_err(|e| {
                    fail(
                        text.span().start,
                        format!("rescan_interval {:?}: {e} (write e.g. \"1h\", \"30m\", \"0s\" to disable)", text.get_ref()),
                    )
                })?;
                (!every.is_zero()).then_some(every)
            }
        };
        let mut rules = Vec::with_capacity(raw.rule.len());
        for r in &raw.rule {
            if r.name.get_ref().trim().is_empty() {
                return Err(fail(r.name.span().start, "rule name is empty".into()));
            }
            if r.paths.is_empty() {
                return Err(fail(
                    r.name.span().start,
                    format!("rule {:?} has no paths", r.name.get_ref()),
                ));
            }
            rules.push(Rule {
                name: r.name.get_ref().clone(),
                paths: Globs::new(patterns(&r.paths), false).map_err(from_bad)?,
                kinds: r.kinds.clone(),
                severity: r.severity.unwrap_or(default_severity),
                ignore: r.ignore.iter().copied().collect(),
            });
        }

        Ok(Policy {
            text: text.to_owned(),
            default_severity,
            rescan_interval,
            watches,
            rules,
        })
    }

    /// The watch an absolute path belongs to (the deepest root containing it) and the
    /// path relative to that root.
    pub fn watch_of<'p>(&self, path: &'p [u8]) -> Option<(&Watch, &'p [u8])> {
        self.watches
            .iter()
            .filter_map(|w| bpath::relative(path, &w.root).map(|rel| (w, rel)))
            .max_by_key(|(w, _)| w.root.len())
    }

    /// Is `path` monitored: inside a watch, and neither it nor an ancestor excluded?
    pub fn monitors(&self, path: &[u8]) -> bool {
        let Some((watch, rel)) = self.watch_of(path) else {
            return false;
        };
        let root_len = path.len() - rel.len();
        !rel.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| i)
            .chain(std::iter::once(rel.len()))
            .any(|end| watch.excludes(&rel[..end], &path[..root_len + end]))
    }

    /// Is `path` the root of a watch other than `current`? The walk of an outer watch
    /// leaves a nested root to its own watch (its own excludes and ignores).
    pub fn is_nested_root(&self, current: &Watch, path: &[u8]) -> bool {
        self.watches
            .iter()
            .any(|w| w.root == path && w.root != current.root)
    }

    /// The first rule that applies to a `kind` event at `path` (relative `rel` to
    /// `watch`), or the default.
    pub fn verdict(&self, watch: &Watch, rel: &[u8], path: &[u8], kind: Kind) -> Verdict<'_> {
        let rule = self.rules.iter().find(|r| {
            r.kinds.as_ref().is_none_or(|k| k.contains(&kind)) && r.paths.matches(rel, path)
        });
        match rule {
            Some(r) => Verdict {
                rule: Some(&r.name),
                severity: r.severity,
                ignore: watch.ignore.union(r.ignore),
            },
            None => Verdict {
                rule: None,
                severity: self.default_severity,
                ignore: watch.ignore,
            },
        }
    }
}

fn patterns(list: &[Spanned<String>]) -> impl Iterator<Item = Pattern<'_>> {
    list.iter().map(|s| Pattern {
        text: s.get_ref(),
        offset: s.span().start,
    })
}

fn normalize_root(path: &str) -> std::result::Result<Vec<u8>, String> {
    if !path.starts_with('/') {
        return Err(format!("watch path {path:?} is not absolute"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(format!("watch path {path:?} contains '..'"));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    Ok(format!("/{}", parts.join("/")).into_bytes())
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy> {
        Policy::parse(text, Path::new("p.toml"))
    }

    fn error_of(text: &str) -> String {
        parse(text)
            .expect_err("policy must be rejected")
            .to_string()
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = error_of("[[watch]]\npath = \"/srv\"\nexclud = [\"x\"]\n");
        assert!(e.starts_with("p.toml:3: "), "{e}");
        assert!(e.contains("exclud"), "{e}");
    }

    #[test]
    fn relative_root_is_rejected_with_its_line() {
        let e = error_of("default_severity = \"low\"\n\n[[watch]]\npath = \"srv/www\"\n");
        assert!(e.starts_with("p.toml:4: "), "{e}");
        assert!(e.contains("not absolute"), "{e}");
    }

    #[test]
    fn bad_glob_is_rejected_with_its_line() {
        let e = error_of(
            "[[watch]]\npath = \"/srv\"\n\n[[rule]]\nname = \"x\"\npaths = [\n  \"a/[b\",\n]\n",
        );
        assert!(e.starts_with("p.toml:7: "), "{e}");
    }

    #[test]
    fn unknown_attribute_and_severity_are_rejected() {
        assert!(
            error_of("[[watch]]\npath = \"/srv\"\nignore = [\"atime\"]\n").contains("p.toml:3")
        );
        assert!(
            error_of("default_severity = \"urgent\"\n[[watch]]\npath = \"/srv\"\n")
                .starts_with("p.toml:1")
        );
    }

    #[test]
    fn first_applicable_rule_wins_and_kinds_filter() {
        let p = parse(
            "[[watch]]\npath = \"/w/\"\nignore = [\"nlink\"]\n\
             [[rule]]\nname = \"uploads-new\"\npaths = [\"up/**\"]\nkinds = [\"new\"]\nseverity = \"critical\"\n\
             [[rule]]\nname = \"all\"\npaths = [\"**\"]\nseverity = \"low\"\nignore = [\"mtime\"]\n",
        )
        .unwrap();
        let (w, rel) = p.watch_of(b"/w/up/a.php").unwrap();
        assert_eq!(rel, b"up/a.php");
        let new = p.verdict(w, rel, b"/w/up/a.php", Kind::New);
        assert_eq!(
            (new.rule, new.severity),
            (Some("uploads-new"), Severity::Critical)
        );
        let modified = p.verdict(w, rel, b"/w/up/a.php", Kind::Modified);
        assert_eq!(
            (modified.rule, modified.severity),
            (Some("all"), Severity::Low)
        );
        assert!(modified.ignore.contains(Attr::Mtime) && modified.ignore.contains(Attr::Nlink));
    }

    #[test]
    fn monitors_checks_ancestors_and_nested_roots() {
        let p = parse(
            "[[watch]]\npath = \"/w\"\nexclude = [\"cache/**\", \"**/*.log\"]\n\
             [[watch]]\npath = \"/w/cache/keep\"\n",
        )
        .unwrap();
        assert!(p.monitors(b"/w/index.php"));
        assert!(!p.monitors(b"/w/cache/a/b"));
        assert!(!p.monitors(b"/w/x/err.log"));
        assert!(p.monitors(b"/w/cache/keep/a"));
        assert!(!p.monitors(b"/elsewhere"));
        assert_eq!(p.default_severity, Severity::Medium);
        assert_eq!(p.watches[0].root, b"/w");
    }

    #[test]
    fn default_policy_round_trips_odd_roots() {
        let p = Policy::for_roots(&[PathBuf::from("/srv/a \"quoted\" dir")]).unwrap();
        assert_eq!(p.watches[0].root, b"/srv/a \"quoted\" dir");
    }
}
