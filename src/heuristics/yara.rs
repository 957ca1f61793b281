//! YARA rules, the ecosystem's format for malware signatures, run by yara-x (the pure
//! Rust YARA of VirusTotal: no C library to build or ship). A policy names rule files;
//! their text is recorded with the policy (`YaraSource`), compiled once per process,
//! and every sampled file is scanned: a matching rule is the reason `yara RULE`.

use serde::{Deserialize, Serialize};

use super::Sample;
use crate::policy::Severity;

/// One file of rule text as the policy records it. The files a top-level rule file
/// includes come before it, with the same namespace: that file's path, so that
/// separate rule sets (and their `global` rules) do not meet.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct YaraSource {
    pub namespace: String,
    /// Where the text was read, for messages.
    pub file: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YaraError {
    /// The file at fault (`YaraSource::file`).
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Compiled rules; empty when the policy names none.
#[derive(Clone, Default)]
pub struct YaraRules {
    #[cfg(feature = "yara")]
    compiled: Option<std::sync::Arc<yara_x::Rules>>,
}

impl std::fmt::Debug for YaraRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "YaraRules({} rules)", self.len())
    }
}

/// How long one scan may take before it is abandoned (a rule with a pathological loop
/// must not stall a verify).
#[cfg(feature = "yara")]
const SCAN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(feature = "yara")]
impl YaraRules {
    pub fn compile(sources: &[YaraSource]) -> Result<YaraRules, YaraError> {
        if sources.is_empty() {
            return Ok(YaraRules::default());
        }
        let mut compiler = yara_x::Compiler::new();
        // Recorded sources are self-contained (their includes were inlined when the
        // policy was read): reading files now would make verify depend on them.
        compiler.enable_includes(false);
        // Rule sets are written for libyara, whose regexps take a literal `{` or an
        // unknown escape (php-malware-finder's `\${\$...}`); yara-x refuses them unless
        // relaxed.
        compiler.relaxed_re_syntax(true);
        let mut namespace = None;
        for source in sources {
            if namespace != Some(&source.namespace) {
                compiler.new_namespace(&source.namespace);
                namespace = Some(&source.namespace);
            }
            let code = yara_x::SourceCode::from(source.text.as_str()).with_origin(&source.file);
            if let Err(e) = compiler.add_source(code) {
                return Err(compile_error(&e, sources, source));
            }
        }
        let rules = compiler.build();
        for rule in rules.iter() {
            if let Some(value) = severity_meta(&rule) {
                if let Err(message) = parse_severity(value) {
                    return Err(rule_error(
                        sources,
                        rule.namespace(),
                        rule.identifier(),
                        message,
                    ));
                }
            }
        }
        Ok(YaraRules {
            compiled: Some(std::sync::Arc::new(rules)),
        })
    }

    pub fn len(&self) -> usize {
        self.compiled.as_ref().map_or(0, |r| r.iter().len())
    }

    /// The rules the sample matches, each with its severity (meta `severity`, else
    /// critical), in rule order without repeats.
    pub fn matches(&self, sample: &Sample) -> Vec<(String, Severity)> {
        let Some(rules) = &self.compiled else {
            return Vec::new();
        };
        // A scanner per scan keeps Heuristics free of per-thread state (a scanner
        // borrows the rules); a per-thread scanner was not measured against it.
        let mut scanner = yara_x::Scanner::new(rules);
        scanner.set_timeout(SCAN_TIMEOUT);
        let mut found: Vec<(String, Severity)> = Vec::new();
        for part in [sample.head, sample.tail] {
            if part.is_empty() {
                continue;
            }
            match scanner.scan(part) {
                Ok(results) => {
                    for rule in results.matching_rules() {
                        if found.iter().all(|(id, _)| id != rule.identifier()) {
                            let severity = severity_meta(&rule)
                                .and_then(|v| parse_severity(v).ok())
                                .unwrap_or(Severity::Critical);
                            found.push((rule.identifier().to_owned(), severity));
                        }
                    }
                }
                Err(e) => tracing::warn!("yara scan abandoned: {e}"),
            }
        }
        found
    }
}

#[cfg(not(feature = "yara"))]
impl YaraRules {
    pub fn compile(sources: &[YaraSource]) -> Result<YaraRules, YaraError> {
        match sources.first() {
            None => Ok(YaraRules::default()),
            Some(source) => Err(YaraError {
                file: source.file.clone(),
                line: 1,
                message: "this fim was built without YARA support (cargo feature `yara`)".into(),
            }),
        }
    }

    pub fn len(&self) -> usize {
        0
    }

    pub fn matches(&self, _sample: &Sample) -> Vec<(String, Severity)> {
        Vec::new()
    }
}

impl YaraRules {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(feature = "yara")]
fn severity_meta<'r>(rule: &yara_x::Rule<'_, 'r>) -> Option<yara_x::MetaValue<'r>> {
    rule.metadata()
        .find(|(key, _)| *key == "severity")
        .map(|(_, value)| value)
}

#[cfg(feature = "yara")]
fn parse_severity(value: yara_x::MetaValue<'_>) -> Result<Severity, String> {
    let text = match value {
        yara_x::MetaValue::String(s) => s,
        other => return Err(format!("meta severity {other:?} is not a string")),
    };
    toml::Value::String(text.to_owned())
        .try_into()
        .map_err(|_| {
            format!("meta severity {text:?} is not one of info, low, medium, high, critical")
        })
}

/// The first error of a failed compilation, on one line, at the file and line it names.
#[cfg(feature = "yara")]
fn compile_error(
    e: &yara_x::errors::CompileError,
    sources: &[YaraSource],
    current: &YaraSource,
) -> YaraError {
    let label = e.labels().next();
    let (file, offset) = match &label {
        Some(l) => (
            l.origin().unwrap_or(&current.file).to_owned(),
            l.span().start(),
        ),
        None => (current.file.clone(), 0),
    };
    let text = sources
        .iter()
        .find(|s| s.file == file)
        .map_or("", |s| s.text.as_str());
    let detail = label.as_ref().map(|l| l.text()).unwrap_or_default();
    let message = if detail.is_empty() || detail == e.title() {
        e.title().to_owned()
    } else {
        format!("{}: {detail}", e.title())
    };
    YaraError {
        file,
        line: line_of(text, offset),
        message: format!("YARA: {}", one_line(&message)),
    }
}

/// An error about a compiled rule, at its `rule NAME` line.
#[cfg(feature = "yara")]
fn rule_error(sources: &[YaraSource], namespace: &str, rule: &str, message: String) -> YaraError {
    let declaration = regex::Regex::new(&format!(r"\brule\s+{}\b", regex::escape(rule)))
        .expect("an escaped identifier is a valid pattern");
    let (file, line) = sources
        .iter()
        .filter(|s| s.namespace == namespace)
        .find_map(|s| {
            declaration
                .find(&s.text)
                .map(|m| (&s.file, line_of(&s.text, m.start())))
        })
        .map_or((namespace.to_owned(), 1), |(f, l)| (f.clone(), l));
    YaraError {
        file,
        line,
        message: format!("YARA rule {rule}: {message}"),
    }
}

#[cfg(feature = "yara")]
fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

#[cfg(feature = "yara")]
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(all(test, feature = "yara"))]
mod tests {
    use super::*;

    fn source(file: &str, text: &str) -> YaraSource {
        YaraSource {
            namespace: file.into(),
            file: file.into(),
            text: text.into(),
        }
    }

    fn sample<'a>(head: &'a str, tail: &'a str) -> Sample<'a> {
        Sample {
            head: head.as_bytes(),
            tail: tail.as_bytes(),
        }
    }

    const RULES: &str = r#"
rule EvalPost { strings: $a = "eval($_POST" condition: $a }
rule Mild { meta: severity = "medium" strings: $a = "phpinfo()" condition: $a }
private rule Helper { strings: $a = "helper" condition: $a }
"#;

    #[test]
    fn matches_name_the_rule_with_its_severity() {
        let rules = YaraRules::compile(&[source("a.yar", RULES)]).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(
            rules.matches(&sample("<?php eval($_POST['x']); phpinfo(); helper", "")),
            [
                ("EvalPost".to_string(), Severity::Critical),
                ("Mild".to_string(), Severity::Medium)
            ]
        );
        assert!(rules.matches(&sample("<?php echo 1;", "")).is_empty());
        // The tail of a large file is scanned too, and a rule is named once.
        assert_eq!(
            rules.matches(&sample("<?php", "eval($_POST[0]); eval($_POST[1]);")),
            [("EvalPost".to_string(), Severity::Critical)]
        );
    }

    #[test]
    fn namespaces_keep_global_rules_to_their_file() {
        let only_php = r#"global private rule IsPhp { strings: $p = "<?php" condition: $p }
rule Shell { strings: $a = "system(" condition: $a }"#;
        let other = r#"rule Anywhere { strings: $a = "system(" condition: $a }"#;
        let rules =
            YaraRules::compile(&[source("php.yar", only_php), source("any.yar", other)]).unwrap();
        let names =
            |s: &Sample| -> Vec<String> { rules.matches(s).into_iter().map(|(n, _)| n).collect() };
        assert_eq!(names(&sample("#!/bin/sh system(", "")), ["Anywhere"]);
        assert_eq!(names(&sample("<?php system(", "")), ["Shell", "Anywhere"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad = "rule Ok { condition: true }\n\nrule Broken {\n  strings: $a = \"x\"\n  condition: $b\n}\n";
        let e = YaraRules::compile(&[source("ok.yar", RULES), source("bad.yar", bad)]).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("bad.yar", 5), "{e}");
        assert!(e.message.contains("unknown pattern"), "{e}");
        assert!(!e.message.contains('\n'));

        let severity = "rule A { condition: true }\nrule Loud { meta: severity = \"extreme\" condition: true }";
        let e = YaraRules::compile(&[source("s.yar", severity)]).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("s.yar", 2), "{e}");
        assert!(
            e.message.contains("Loud") && e.message.contains("extreme"),
            "{e}"
        );

        let include = "include \"other.yar\"\nrule A { condition: true }";
        let e = YaraRules::compile(&[source("i.yar", include)]).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("i.yar", 1), "{e}");
    }
}
