//! `[heuristics] yara = [GLOB, ...]`: the YARA rule files a policy names, read with the
//! files they include, so that the recorded policy carries every rule it runs.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::heuristics::yara::YaraSource;

/// Rule files an `include` chain may nest.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The files a glob names (relative to the policy `origin`; wildcards in the file name
/// only, as in `/etc/fim/rules/*.yar`), sorted, each read with its includes inlined.
/// `fail` places an error at the glob in the policy.
pub fn load(glob: &str, origin: &Path, fail: &impl Fn(String) -> Error) -> Result<Vec<YaraSource>> {
    let pattern = super::beside(origin, glob);
    let mut sources = Vec::new();
    for file in expand(&pattern).map_err(|m| fail(format!("yara {glob:?}: {m}")))? {
        let namespace = file.display().to_string();
        read_with_includes(&file, &namespace, &mut Vec::new(), &mut sources).map_err(
            |e| match e {
                Error::Io { path, source } => {
                    fail(format!("yara file {}: {source}", path.display()))
                }
                other => other,
            },
        )?;
    }
    Ok(sources)
}

/// The files matching `pattern`; a pattern without wildcards is the file itself.
fn expand(pattern: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    let has_wildcard = |s: &str| s.contains(['*', '?', '[', '{']);
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let folder = pattern.parent().unwrap_or(Path::new(""));
    if has_wildcard(&folder.to_string_lossy()) {
        return Err("wildcards are allowed in the file name only".into());
    }
    if !has_wildcard(name) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let matcher = globset::GlobBuilder::new(name)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("bad glob: {}", e.kind()))?
        .compile_matcher();
    let entries = std::fs::read_dir(if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    })
    .map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| matcher.is_match(e.file_name()) && e.path().is_file())
        .map(|e| folder.join(e.file_name()))
        .collect();
    if files.is_empty() {
        return Err("no file matches".into());
    }
    files.sort();
    Ok(files)
}

/// Push the files `path` includes (depth first), then `path` with its `include` lines
/// turned into comments (the line count stays, so messages keep their line numbers).
fn read_with_includes(
    path: &Path,
    namespace: &str,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<YaraSource>,
) -> Result<()> {
    let text = super::read_policy_text(path)?;
    stack.push(path.to_path_buf());
    let mut body = String::with_capacity(text.len());
    let mut in_comment = false;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let included = (!in_comment).then(|| include_target(line)).flatten();
        in_comment = ends_in_comment(line, in_comment);
        let Some(target) = included else {
            body.push_str(line);
            continue;
        };
        let fail = |message: String| Error::Policy {
            origin: path.to_path_buf(),
            line: number + 1,
            message,
        };
        let file = super::beside(path, target);
        if stack.contains(&file) || stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(fail(format!(
                "include {target:?}: circular or too deeply nested"
            )));
        }
        read_with_includes(&file, namespace, stack, out).map_err(|e| match e {
            Error::Io { source, .. } => fail(format!("include {target:?}: {source}")),
            other => other,
        })?;
        body.push_str("// ");
        body.push_str(line);
    }
    stack.pop();
    out.push(YaraSource {
        namespace: namespace.to_owned(),
        file: path.display().to_string(),
        text: body,
    });
    Ok(())
}

/// `include "FILE"` on a line of its own (an optional `//` comment may follow).
fn include_target(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("include")?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    let after = rest[end + 1..].trim();
    (after.is_empty() || after.starts_with("//")).then_some(&rest[..end])
}

/// Is a `/* ... */` comment open at the end of `line`? (Strings holding `/*` are
/// rare enough in rule files; a miss only keeps an include line for yara-x to refuse.)
fn ends_in_comment(line: &str, mut open: bool) -> bool {
    let mut rest = line;
    loop {
        let marker = if open { "*/" } else { "/*" };
        if !open {
            // A line comment hides what follows it.
            if let Some(slash) = rest.find("//") {
                if rest.find("/*").is_none_or(|b| slash < b) {
                    return false;
                }
            }
        }
        match rest.find(marker) {
            Some(at) => {
                open = !open;
                rest = &rest[at + 2..];
            }
            None => return open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lines_are_recognised_outside_comments_only() {
        assert_eq!(include_target("include \"a.yar\"\n"), Some("a.yar"));
        assert_eq!(
            include_target("  include \"w/b.yar\" // lists\n"),
            Some("w/b.yar")
        );
        assert_eq!(include_target("// include \"a.yar\"\n"), None);
        assert_eq!(include_target("include \"a.yar\" rule x {}\n"), None);
        assert!(ends_in_comment("/* start\n", false));
        assert!(ends_in_comment("still\n", true));
        assert!(!ends_in_comment("end */\n", true));
        assert!(!ends_in_comment("/* one line */ x\n", false));
        assert!(!ends_in_comment("x // a /* in a comment\n", false));
    }

    #[test]
    fn includes_come_first_in_the_namespace_of_their_top_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        std::fs::create_dir(dir.path().join("lists")).unwrap();
        write(
            "main.yar",
            "include \"lists/w.yar\"\n/*\ninclude \"nope.yar\"\n*/\nrule M { condition: W }\n",
        );
        write("lists/w.yar", "rule W { condition: true }\n");
        write("other.yar", "rule O { condition: true }\n");
        let policy = dir.path().join("policy.toml");
        let fail = |m: String| Error::Usage(m);
        let sources = load("*.yar", &policy, &fail).unwrap();
        let seen: Vec<(&str, &str)> = sources
            .iter()
            .map(|s| {
                let file = s.file.rsplit_once(dir.path().to_str().unwrap()).unwrap().1;
                let ns = s.namespace.rsplit('/').next().unwrap();
                (file, ns)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("/lists/w.yar", "main.yar"),
                ("/main.yar", "main.yar"),
                ("/other.yar", "other.yar")
            ]
        );
        assert!(sources[1]
            .text
            .starts_with("// include \"lists/w.yar\"\n/*\ninclude"));
        assert_eq!(sources[1].text.lines().count(), 5);

        let e = load("missing/*.yar", &policy, &fail)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing/*.yar"), "{e}");
        let e = load("*.yara", &policy, &fail).unwrap_err().to_string();
        assert!(e.contains("no file matches"), "{e}");
        write("loop.yar", "include \"loop.yar\"\n");
        let e = load("loop.yar", &policy, &fail).unwrap_err().to_string();
        assert!(e.contains("loop.yar:1") && e.contains("circular"), "{e}");
    }
}
