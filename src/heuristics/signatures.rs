//! Content signatures: regular expressions over the sampled bytes of a file, loaded
//! from TOML (`[[signature]]` tables) so that they are data, not code.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::Sample;
use crate::fs::path::as_path;
use crate::policy::Severity;

/// The signatures shipped with fim.
const BUILTIN: &str = include_str!("../../policies/signatures/webshells.toml");

/// A signature as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignature {
    pub id: String,
    pub description: String,
    pub pattern: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// A string the sampled content must hold for the pattern to be tried at all: `<?`
    /// for PHP, whose code runs only inside its tags. A fast pre-check: `init` looks
    /// at every file of a tree, and most hold no PHP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    #[serde(default)]
    signature: Vec<RawSignature>,
}

#[derive(Debug, Clone)]
pub struct Signature {
    pub id: String,
    pub description: String,
    pub severity: Severity,
    pattern: String,
    files: Option<GlobSet>,
    needs: Option<memchr::memmem::Finder<'static>>,
}

impl Signature {
    pub fn compile(raw: &RawSignature) -> Result<Signature, String> {
        if raw.id.trim().is_empty() || raw.id.contains(char::is_whitespace) {
            return Err(format!("signature id {:?} must be one word", raw.id));
        }
        // Parsed alone to name the signature whose pattern is bad; compiled only in the
        // set (compiling each as well doubled the 4 ms the built-in ones cost every run).
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(&raw.pattern)
            .map_err(|e| {
                format!(
                    "signature {}: bad pattern: {}",
                    raw.id,
                    one_line(&e.to_string())
                )
            })?;
        let files = match &raw.files {
            None => None,
            Some(globs) => {
                let mut set = GlobSetBuilder::new();
                for g in globs {
                    set.add(
                        GlobBuilder::new(g)
                            .literal_separator(true)
                            .build()
                            .map_err(|e| {
                                format!("signature {}: bad glob {g:?}: {}", raw.id, e.kind())
                            })?,
                    );
                }
                Some(set.build().map_err(|e| e.to_string())?)
            }
        };
        Ok(Signature {
            id: raw.id.clone(),
            description: raw.description.clone(),
            severity: raw.severity.unwrap_or(Severity::Critical),
            pattern: raw.pattern.clone(),
            files,
            needs: match raw.needs.as_deref() {
                Some("") => return Err(format!("signature {}: `needs` is empty", raw.id)),
                Some(needle) => Some(memchr::memmem::Finder::new(needle.as_bytes()).into_owned()),
                None => None,
            },
        })
    }

    /// Do the signature's file globs (if any) cover the file `name`?
    fn covers(&self, name: &str) -> bool {
        self.files
            .as_ref()
            .is_none_or(|set| set.is_match(as_path(name.as_bytes())))
    }
}

/// Memory the signature set's lazy DFA may keep for its states, per thread. With the
/// regex crate's 2 MiB, PHPMailer.php (180 KB) filled it three times over and the set
/// fell back to a slower engine: 2.1-2.6 ms instead of 0.4.
const DFA_CACHE: usize = 16 << 20;

/// The signatures of a policy, their patterns matched in one pass over the content
/// (a regex set: thirteen patterns one by one made a third of a PHP file's checks).
#[derive(Debug, Clone, Default)]
pub struct Signatures {
    list: Vec<Signature>,
    set: Option<regex::bytes::RegexSet>,
    /// The distinct strings the signatures need (all of fim's own need `<?`), each
    /// looked for once per file, and which of them each signature needs.
    needles: Vec<memchr::memmem::Finder<'static>>,
    needle_of: Vec<Option<usize>>,
}

impl Signatures {
    pub fn new(list: Vec<Signature>) -> Result<Signatures, String> {
        // 4 MiB of compiled program per signature, on average: the one place the
        // patterns are compiled.
        let set = regex::bytes::RegexSetBuilder::new(list.iter().map(|s| &s.pattern))
            .unicode(false)
            .size_limit(list.len().max(1) * (4 << 20))
            .dfa_size_limit(DFA_CACHE)
            .build()
            .map_err(|e| format!("signatures: {}", one_line(&e.to_string())))?;
        let mut needles: Vec<memchr::memmem::Finder<'static>> = Vec::new();
        let needle_of = list
            .iter()
            .map(|signature| {
                let needs = signature.needs.as_ref()?;
                let known = needles.iter().position(|n| n.needle() == needs.needle());
                Some(known.unwrap_or_else(|| {
                    needles.push(needs.clone());
                    needles.len() - 1
                }))
            })
            .collect();
        Ok(Signatures {
            set: (!list.is_empty()).then_some(set),
            list,
            needles,
            needle_of,
        })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The signatures the sampled content of the file `name` matches.
    pub fn matching(&self, name: &str, sample: &Sample) -> Vec<&Signature> {
        let Some(set) = &self.set else {
            return Vec::new();
        };
        let held: Vec<bool> = self
            .needles
            .iter()
            .map(|n| n.find(sample.head).is_some() || n.find(sample.tail).is_some())
            .collect();
        let applies: Vec<bool> = self
            .list
            .iter()
            .zip(&self.needle_of)
            .map(|(s, needle)| s.covers(name) && needle.is_none_or(|n| held[n]))
            .collect();
        if !applies.contains(&true) {
            return Vec::new();
        }
        // Most files match no signature: telling that stops at no match's end and
        // runs about three times faster than finding every match (overlapping).
        if !set.is_match(sample.head) && !set.is_match(sample.tail) {
            return Vec::new();
        }
        let head = set.matches(sample.head);
        let tail = set.matches(sample.tail);
        self.list
            .iter()
            .enumerate()
            .filter(|(i, _)| applies[*i] && (head.matched(*i) || tail.matched(*i)))
            .map(|(_, signature)| signature)
            .collect()
    }
}

/// Parse a signature file; `Err((byte offset, message))`.
pub fn parse(text: &str) -> Result<Vec<RawSignature>, (usize, String)> {
    toml::from_str::<SignatureFile>(text)
        .map(|f| f.signature)
        .map_err(|e| (e.span().map_or(0, |s| s.start), one_line(e.message())))
}

/// The built-in signatures, compiled.
pub fn builtin() -> Result<Vec<Signature>, String> {
    parse(BUILTIN)
        .map_err(|(_, m)| m)?
        .iter()
        .map(Signature::compile)
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_spares_the_pattern_only_where_the_whole_file_lacks_it() {
        let raw = RawSignature {
            id: "exec".into(),
            description: String::new(),
            pattern: r"system\(\$_GET".into(),
            severity: None,
            files: None,
            needs: Some("<?".into()),
        };
        let sigs = Signatures::new(vec![Signature::compile(&raw).unwrap()]).unwrap();
        let sig = MatchesOne(&sigs);
        let sample = |head: &'static str, tail: &'static str| Sample {
            head: head.as_bytes(),
            tail: tail.as_bytes(),
        };
        assert!(sig.matches("a.php", &sample("<?php system($_GET['c']);", "")));
        assert!(!sig.matches("a.rs", &sample("// system($_GET['c'])", "")));
        // Head and tail of a large file are read: the tag may be in either.
        assert!(sig.matches("big.php", &sample("<?php", "system($_GET['c']);")));
        assert!(sig.matches("big.php", &sample("<html>", "<?php system($_GET['c']);")));
        assert!(!sig.matches("big.js", &sample("<html>", "system($_GET['c']);")));
        let empty = RawSignature {
            needs: Some(String::new()),
            ..raw
        };
        assert!(Signature::compile(&empty).is_err());
    }

    #[test]
    fn a_bad_pattern_is_named_before_any_set_is_built() {
        let raw = |pattern: &str| RawSignature {
            id: "broken".into(),
            description: String::new(),
            pattern: pattern.into(),
            severity: None,
            files: None,
            needs: None,
        };
        let err = Signature::compile(&raw(r"eval\((")).unwrap_err();
        assert!(err.starts_with("signature broken: bad pattern: "), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        // Bytes that are not UTF-8 are a pattern over bytes, as the set reads them.
        let bytes = Signature::compile(&raw(r"(?-u:\xff\xd8)<\?php")).unwrap();
        let sigs = Signatures::new(vec![bytes]).unwrap();
        let jpeg = Sample::of_whole(b"\xff\xd8<?php system($_GET['c']);");
        assert!(MatchesOne(&sigs).matches("x.jpg", &jpeg));
        assert!(!MatchesOne(&sigs).matches("x.jpg", &Sample::of_whole(b"<?php")));
    }

    struct MatchesOne<'a>(&'a Signatures);

    impl MatchesOne<'_> {
        fn matches(&self, name: &str, sample: &Sample) -> bool {
            !self.0.matching(name, sample).is_empty()
        }
    }

    #[test]
    fn a_set_reports_each_matching_signature_once() {
        let raw = |id: &str, pattern: &str| RawSignature {
            id: id.into(),
            description: String::new(),
            pattern: pattern.into(),
            severity: None,
            files: None,
            needs: None,
        };
        let list = [
            raw("eval", r"eval\("),
            raw("exec", r"exec\("),
            raw("never", "zzz"),
        ]
        .iter()
        .map(|r| Signature::compile(r).unwrap())
        .collect();
        let sigs = Signatures::new(list).unwrap();
        let sample = Sample {
            head: b"eval($a); exec($b);",
            tail: b"eval($c);",
        };
        let ids: Vec<&str> = sigs
            .matching("x.php", &sample)
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["eval", "exec"]);
        assert!(Signatures::default().matching("x.php", &sample).is_empty());
    }

    #[test]
    fn builtin_signatures_compile_with_unique_ids() {
        let sigs = builtin().unwrap();
        assert!(sigs.len() >= 10);
        let mut ids: Vec<_> = sigs.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), sigs.len());
    }
}
