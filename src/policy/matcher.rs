//! Glob matching for policy paths. Patterns are relative to the watch root, or
//! absolute when they start with `/`. `*` and `?` never cross `/` (only `**` does),
//! and a leading dot is not special: `*` matches `.htaccess`, because an integrity
//! monitor must not hide dotfiles.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::fs::path::as_path;

#[derive(Debug, Clone)]
pub struct Globs {
    relative: GlobSet,
    absolute: GlobSet,
    /// The patterns as written, in the order of the two sets' indices.
    relative_text: Vec<String>,
    absolute_text: Vec<String>,
    empty: bool,
}

/// A pattern as written, with the byte offset where it stands in the policy text.
pub struct Pattern<'a> {
    pub text: &'a str,
    pub offset: usize,
}

/// A pattern that failed to compile, with where it stands.
pub struct BadPattern {
    pub offset: usize,
    pub message: String,
}

impl Globs {
    /// Compile `patterns`. With `whole_subtree`, `dir/**` also matches `dir` itself:
    /// excluding a folder's contents should exclude the folder too, or its mtime
    /// would keep reporting what the exclusion meant to silence.
    pub fn new<'a>(
        patterns: impl IntoIterator<Item = Pattern<'a>>,
        whole_subtree: bool,
    ) -> Result<Globs, BadPattern> {
        let mut relative = GlobSetBuilder::new();
        let mut absolute = GlobSetBuilder::new();
        let mut relative_text = Vec::new();
        let mut absolute_text = Vec::new();
        let mut empty = true;
        for pattern in patterns {
            let bad = |message: String| BadPattern {
                offset: pattern.offset,
                message,
            };
            if pattern.text.is_empty() {
                return Err(bad("empty glob".into()));
            }
            let mut variants = vec![pattern.text];
            if whole_subtree {
                if let Some(dir) = pattern.text.strip_suffix("/**") {
                    if !dir.is_empty() {
                        variants.push(dir);
                    }
                }
            }
            for variant in variants {
                let glob = GlobBuilder::new(variant)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| bad(format!("bad glob {:?}: {}", pattern.text, e.kind())))?;
                if variant.starts_with('/') {
                    absolute.add(glob);
                    absolute_text.push(pattern.text.to_owned());
                } else {
                    relative.add(glob);
                    relative_text.push(pattern.text.to_owned());
                }
            }
            empty = false;
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| BadPattern {
                offset: 0,
                message: e.to_string(),
            })
        };
        Ok(Globs {
            relative: build(relative)?,
            absolute: build(absolute)?,
            relative_text,
            absolute_text,
            empty,
        })
    }

    /// The first pattern (as written) that matches, if any.
    pub fn first_match(&self, rel: &[u8], abs: &[u8]) -> Option<String> {
        let first = |set: &GlobSet, texts: &[String], path: &[u8]| {
            set.matches(as_path(path))
                .into_iter()
                .min()
                .map(|i| texts[i].clone())
        };
        first(&self.relative, &self.relative_text, rel)
            .or_else(|| first(&self.absolute, &self.absolute_text, abs))
    }

    /// Does any pattern match the entry at `rel` (below the watch root) / `abs`?
    pub fn matches(&self, rel: &[u8], abs: &[u8]) -> bool {
        !self.empty
            && (self.relative.is_match(as_path(rel)) || self.absolute.is_match(as_path(abs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(patterns: &[&str], whole_subtree: bool) -> Globs {
        Globs::new(
            patterns.iter().map(|text| Pattern { text, offset: 0 }),
            whole_subtree,
        )
        .ok()
        .expect("valid globs")
    }

    #[test]
    fn star_does_not_cross_slash() {
        let g = globs(&["*.php"], false);
        assert!(g.matches(b"index.php", b"/w/index.php"));
        assert!(!g.matches(b"a/index.php", b"/w/a/index.php"));
        assert!(globs(&["**/*.php"], false).matches(b"a/b/index.php", b"/w/a/b/index.php"));
    }

    #[test]
    fn dotfiles_are_not_special() {
        assert!(globs(&["*"], false).matches(b".htaccess", b"/w/.htaccess"));
        assert!(globs(&["**/*.ini"], false).matches(b"a/.user.ini", b"/w/a/.user.ini"));
    }

    #[test]
    fn subtree_exclusion_covers_the_folder() {
        let g = globs(&["cache/**"], true);
        assert!(g.matches(b"cache", b"/w/cache"));
        assert!(g.matches(b"cache/x/y", b"/w/cache/x/y"));
        assert!(!g.matches(b"cache2", b"/w/cache2"));
        assert!(!globs(&["cache/**"], false).matches(b"cache", b"/w/cache"));
    }

    #[test]
    fn absolute_patterns_match_absolute_paths() {
        let g = globs(&["/etc/ssh/*"], false);
        assert!(g.matches(b"ssh/sshd_config", b"/etc/ssh/sshd_config"));
        assert!(!g.matches(b"etc/ssh/x", b"/srv/etc/ssh/x"));
    }

    #[test]
    fn non_utf8_names_match() {
        assert!(globs(&["**/*.php"], false).matches(b"up/\xff\xfe.php", b"/w/up/\xff\xfe.php"));
    }
}
