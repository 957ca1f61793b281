//! PHP code analysis: parse the file (tree-sitter-php: an error-tolerant parser, so
//! broken or truncated samples still yield a tree, maintained with the grammar used
//! by GitHub and editors; mago-syntax is faster but pulls in a whole toolchain's
//! crates), follow request input to code and command sinks, fold computed function
//! names, and decode hidden payloads to analyse them in turn.

mod decode;
mod fold;
mod gate;
mod grammar;
mod recall;
mod sinks;
mod taint;
#[cfg(test)]
mod tests;

use tree_sitter::Tree;

use fold::Constants;
use grammar::Kinds;
pub use sinks::Finding;
use sinks::{Judge, Summaries};
use taint::{Flow, Visited};

/// Decoded payloads are analysed this deep (a payload in a payload in ...).
const MAX_DEPTH: usize = 4;
/// A string literal this long may be an encoded payload.
const LONG_LITERAL: usize = 256;
/// Rounds to settle which functions hand their parameters to sinks.
const SUMMARY_ROUNDS: usize = 4;
/// Findings kept per file: the first say enough.
const MAX_FINDINGS: usize = 6;

/// Does this content hold PHP at all (`<?php`, `<?=`)?
pub fn holds_php(content: &[u8]) -> bool {
    memchr::memmem::find_iter(content, b"<?").any(|at| {
        let tag = &content[at + 2..content.len().min(at + 5)];
        tag.eq_ignore_ascii_case(b"php") || tag.starts_with(b"=")
    })
}

/// What the PHP code in a sample does that a web application should not. The tail
/// of a long file starts inside code: it is read as code. A PHP script without an
/// opening tag (a fragment meant for `include` or `eval`) is read as code too.
pub fn assess_sample(head: &[u8], tail: &[u8], php_script: bool) -> Vec<Finding> {
    let tagged = holds_php(head) || holds_php(tail);
    if !tagged && !php_script {
        return Vec::new();
    }
    let mut findings = if tagged {
        analyse(head)
    } else {
        analyse(&opened(head))
    };
    if !tail.is_empty() {
        for finding in analyse(&opened(tail)) {
            if !findings.contains(&finding) {
                findings.push(finding);
            }
        }
    }
    findings
}

/// What the PHP code in `content` does that a web application should not.
pub fn analyse(content: &[u8]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for code in islands(content) {
        analyse_at(code, 0, &mut findings);
    }
    findings.truncate(MAX_FINDINGS);
    findings
}

/// The code of `content`: all of it, or in binary content (an image with PHP inside,
/// a font whose bytes happen to spell `<?=`) each island from an opening tag to its
/// closing tag or the next NUL byte. PHP runs only what compiles; parsing a binary
/// file whole costs seconds of error recovery and finds nothing.
fn islands(content: &[u8]) -> Vec<&[u8]> {
    if memchr::memchr(0, content).is_none() {
        return vec![content];
    }
    let mut islands = Vec::new();
    let mut at = 0;
    while let Some(open) = memchr::memmem::find(&content[at..], b"<?").map(|n| at + n) {
        let rest = &content[open + 2..];
        let end = memchr::memmem::find(rest, b"?>")
            .map(|n| n + 2)
            .into_iter()
            .chain(memchr::memchr(0, rest))
            .min()
            .map_or(content.len(), |n| open + 2 + n);
        if holds_php(&content[open..end.min(open + 5)]) {
            islands.push(&content[open..end]);
        }
        at = end.max(open + 2);
    }
    islands
}

fn analyse_at(content: &[u8], depth: usize, findings: &mut Vec<Finding>) {
    // Decoded payloads are read whole: they were hidden for a reason.
    let parse = if depth == 0 {
        gate::regions(content, LONG_LITERAL)
    } else {
        gate::Parse::Whole
    };
    let (found, payloads) = match parse {
        gate::Parse::Nothing => return,
        gate::Parse::Whole => parse_and_judge(content),
        gate::Parse::Regions(regions) => {
            let mut all = (Vec::new(), Vec::new());
            for region in regions {
                let (found, payloads) = parse_and_judge(&opened(&content[region]));
                all.0.extend(found);
                all.1.extend(payloads);
            }
            all
        }
    };
    let suffix = if depth > 0 {
        " in a decoded payload"
    } else {
        ""
    };
    for finding in found {
        let text = format!(
            "{}{suffix}",
            finding.text.trim_end_matches(" in a decoded payload")
        );
        if !findings.iter().any(|f| f.text == text) {
            findings.push(Finding { text, ..finding });
        }
    }
    if depth + 1 > MAX_DEPTH {
        return;
    }
    for payload in payloads {
        let code = if holds_php(&payload) {
            payload
        } else {
            opened(&payload)
        };
        analyse_at(&code, depth + 1, findings);
    }
}

fn parse_and_judge(code: &[u8]) -> recall::Verdict {
    recall::verdict(code, judge)
}

/// The findings in one parsed file, and the payloads it decodes.
fn judge(src: &[u8], tree: &Tree) -> recall::Verdict {
    let nodes = nodes_of(tree);
    let mut constants = Constants::new();
    let flow = Flow::new(src, &mut constants, &nodes);
    let mut summaries = Summaries::new();
    let mut judge = None;
    for _round in 0..SUMMARY_ROUNDS {
        let mut round = Judge {
            flow: &flow,
            summaries: summaries.clone(),
            findings: Vec::new(),
            payloads: Vec::new(),
        };
        for visited in &nodes {
            round.node(visited);
        }
        let settled = round.summaries == summaries;
        summaries = round.summaries.clone();
        judge = Some(round);
        if settled {
            break;
        }
    }
    let Some(mut judge) = judge else {
        return (Vec::new(), Vec::new());
    };
    let literals = nodes.iter().filter(|v| {
        matches!(
            v.node.kind(),
            "string" | "encapsed_string" | "nowdoc" | "heredoc"
        )
    });
    for &Visited { node, scope, .. } in literals {
        if node.byte_range().len() < LONG_LITERAL {
            continue;
        }
        let Some(fold::Value::Str(text)) = flow.folder.fold(node, scope).map(|f| f.value) else {
            continue;
        };
        if let Some(code) = decode_literal(&text) {
            judge.payloads.push(code);
        }
    }
    (judge.findings, judge.payloads)
}

/// A long literal that is base64 or hex of text (maybe compressed): the text.
fn decode_literal(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    let hex = text.len().is_multiple_of(2) && text.iter().all(u8::is_ascii_hexdigit);
    let base64 = !hex
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r'));
    let bytes = if hex {
        decode::hex(text)?
    } else if base64 {
        decode::base64(text)?
    } else {
        return None;
    };
    let bytes = if looks_like_text(&bytes) {
        bytes
    } else {
        decode::inflate_any(&bytes).filter(|b| looks_like_text(b))?
    };
    Some(bytes)
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(4096)];
    let printable = sample
        .iter()
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    !sample.is_empty() && printable * 100 >= sample.len() * 95
}

/// `code` read as PHP: behind an opening tag (a tail, a fragment, a decoded payload).
fn opened(code: &[u8]) -> Vec<u8> {
    [&b"<?php "[..], code].concat()
}

/// The nodes the analysis looks at, in source order, with their scopes. One cursor
/// walks the tree (no recursion: deep concatenation chains would overflow the stack),
/// 12 % faster than collecting each node's children into a list.
fn nodes_of(tree: &Tree) -> Vec<Visited<'_>> {
    let kinds = Kinds::of(tree);
    let mut nodes = Vec::new();
    let mut cursor = tree.walk();
    // What the children of each node on the cursor's path see: its scope and function.
    let mut context = vec![Visited {
        node: tree.root_node(),
        scope: 0,
        function: None,
    }];
    loop {
        let node = cursor.node();
        let outer = *context.last().expect("the root's context is never popped");
        if kinds.looked_at(node) {
            nodes.push(Visited { node, ..outer });
        }
        if cursor.goto_first_child() {
            context.push(if kinds.function(node) {
                Visited {
                    node,
                    scope: node.id(),
                    function: Some(node),
                }
            } else if kinds.closure(node) {
                Visited {
                    node,
                    scope: node.id(),
                    function: None,
                }
            } else {
                outer
            });
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return nodes;
            }
            context.pop();
        }
    }
}
