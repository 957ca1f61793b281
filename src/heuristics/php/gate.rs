//! Which parts of a file are worth parsing. Parsing is most of the analysis' cost
//! (tree-sitter reads PHP at about 8 MB/s here), and most PHP can be cleared from its
//! tokens: an attack needs something that brings input or hides code (request input,
//! a decoder, an obfuscation trick) near something that runs or writes (a sink, an
//! include, a call of a computed name). Only the regions where the two meet are
//! parsed, and a small file, or one that is mostly such regions, as a whole.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use super::super::text::{is_base64, long_runs};
use super::fold;
use super::sinks;

/// How near (in bytes) an enabler and a sink must be to be read together. A
/// webshell's input and its sink are a few statements apart; far apart, in two
/// functions of a large file, they are an application's ordinary work.
const REACH: usize = 1024;
/// Files this small are parsed whole when they have an enabler and a sink, or a
/// long literal.
const SMALL: usize = 16 << 10;

/// How far after `include` its path is looked at.
const PATH_LIMIT: usize = 256;

/// How far back a region's enclosing function is looked for.
const ENCLOSING: usize = 8 << 10;

/// What to parse of a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    Nothing,
    Whole,
    Regions(Vec<Range<usize>>),
}

/// Tokens that bring request input or hide code.
fn enablers() -> impl Iterator<Item = String> {
    // The decoders by name, but `pack(` (not `package`) and the bitwise operators by
    // their tokens.
    let decoders = fold::DECODERS
        .iter()
        .copied()
        .filter(|d| *d != "pack" && *d != fold::BITWISE);
    [
        "$_get",
        "$_post",
        "$_request",
        "$_cookie",
        "$_files",
        "$_server",
        "$http_",
        "getallheaders",
        "apache_request_headers",
        "getenv",
        "filter_input",
        "php://input",
        "data:",
        "pack(",
        "chr(",
        "$$",
        // A variable by a computed name: `${$k}`, `${'_GE' . 'T'}`.
        "${$",
        "${'",
        "${\"",
        "\\x",
        "~'",
        "~\"",
    ]
    .into_iter()
    .map(String::from)
    .chain(decoders.map(String::from))
    .chain(bitwise_on_literals())
}

/// The names of sinks, and the keywords that run code, as whole words.
fn sink_words() -> impl Iterator<Item = &'static str> {
    sinks::names().chain(["include", "require", "preg_replace", "$$", "`"])
}

/// Enablers and sink words in one automaton, the enablers first (their pattern ids
/// are below `.1`): a large file is scanned once for both. Overlapping matches are
/// all reported, as two automata would (`$$` is in both lists).
static TOKENS: LazyLock<(AhoCorasick, usize)> = LazyLock::new(|| {
    let enablers: Vec<String> = enablers().collect();
    let count = enablers.len();
    let automaton = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(enablers.into_iter().chain(sink_words().map(String::from)))
        .expect("literal patterns build");
    (automaton, count)
});

/// `'…' ^ '…'`: a bitwise operator between two string literals, as obfuscators write
/// it (with or without spaces).
fn bitwise_on_literals() -> impl Iterator<Item = String> {
    let quotes = [('\'', '\''), ('\'', '"'), ('"', '\''), ('"', '"')];
    let spaces = [("", ""), (" ", ""), ("", " "), (" ", " ")];
    quotes.into_iter().flat_map(move |(open, close)| {
        spaces.into_iter().flat_map(move |(before, after)| {
            ['^', '|', '&'].map(|op| format!("{open}{before}{op}{after}{close}"))
        })
    })
}

/// Is the enabler matched at `at` one: a `\x` escape counts at the start of a run of
/// printable escapes, hex or octal (obfuscated names and code are written so:
/// `"\x62\141\163\145"`; binary magic such as `"\x89PNG"` or `"\x00\x00"`, a
/// pattern's `\\x` and its character classes are a parser's).
fn enables(content: &[u8], at: usize) -> bool {
    if !content[at..].starts_with(b"\\x") && !content[at..].starts_with(b"\\X") {
        return true;
    }
    // Judged from where the run starts: a name spelt in escapes starts printable;
    // binary magic (`"\x00\x00\x00\x0Cencd"`) does not, wherever it turns printable.
    // Only the run's first hex escape judges it (each judging its own run would cost
    // the square of a payload's length); octal escapes before it are its run's too.
    let mut start = at;
    while let Some(len) = (2..=4).find(|len| {
        start >= *len && escape(&content[start - len..start]).is_some_and(|e| e.1 == *len)
    }) {
        if content[start - len + 1].eq_ignore_ascii_case(&b'x') {
            return false;
        }
        start -= len;
    }
    let in_pattern = start > 0 && content[start - 1] == b'\\';
    let mut run = Vec::new();
    let mut next = start;
    while let (Some((value, len)), true) = (escape(&content[next..]), run.len() < LONG_ESCAPES) {
        run.push(value);
        next += len;
    }
    // Three or more: a name is; a pattern's character class (`[\x21\x23-\x5B]`) is not.
    let printable = run.len() >= 3 && run[..3].iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    // A long run is a payload, however it starts (XOR-encrypted bytes are binary).
    (printable || run.len() >= LONG_ESCAPES) && !in_pattern
}

/// Escapes in a row that make a payload rather than a file format's magic number.
const LONG_ESCAPES: usize = 16;

/// The byte a double-quoted string's escape at the start of `code` stands for, and
/// the escape's length: `\x4` to `\x41`, `\1` to `\101`.
fn escape(code: &[u8]) -> Option<(u8, usize)> {
    let rest = code.strip_prefix(b"\\")?;
    // The digits start after the `x` of a hex escape, at once for an octal one.
    let (digits, radix, from) = match rest.first()? {
        b'x' | b'X' => (
            rest[1..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_hexdigit())
                .count(),
            16,
            1,
        ),
        b'0'..=b'7' => (
            rest.iter()
                .take(3)
                .take_while(|b| (b'0'..=b'7').contains(b))
                .count(),
            8,
            0,
        ),
        _ => return None,
    };
    if digits == 0 {
        return None;
    }
    let text = std::str::from_utf8(&rest[from..from + digits]).ok()?;
    let value = u32::from_str_radix(text, radix).ok()?;
    Some(((value & 0xff) as u8, 1 + from + digits))
}

/// The regions of `content` where an enabler comes within `REACH` of a sink, and the
/// long literals that may be encoded payloads (with the code before them, that
/// decodes them).
pub fn regions(content: &[u8], long_literal: usize) -> Parse {
    let (tokens, enabler_count) = &*TOKENS;
    let (mut enablers, mut words) = (Vec::new(), Vec::new());
    for token in tokens.find_overlapping_iter(content) {
        if token.pattern().as_usize() < *enabler_count {
            enablers.push(token.start());
        } else {
            words.push(token.range());
        }
    }
    enablers.retain(|at| enables(content, *at) && !in_comment_line(content, *at));
    enablers.dedup();
    let sinks = if enablers.is_empty() {
        Vec::new()
    } else {
        sinks_in(content, words)
    };
    // A small file's input and sinks are read together however far apart.
    if content.len() <= SMALL && !enablers.is_empty() && !sinks.is_empty() {
        return Parse::Whole;
    }
    let near_sinks = enablers.into_iter().filter_map(|at| {
        let first = sinks.partition_point(|s| *s + REACH < at);
        let near = sinks.get(first).is_some_and(|s| *s <= at + REACH);
        near.then(|| at.saturating_sub(REACH)..content.len().min(at + REACH))
    });
    let literals = long_runs(content, is_base64, long_literal)
        .map(|run| run.start.saturating_sub(REACH)..content.len().min(run.end + REACH));
    let mut regions = merge(near_sinks.chain(literals));
    for region in &mut regions {
        *region = statements(content, region.clone());
    }
    regions.retain(|r| !r.is_empty());
    let covered: usize = regions.iter().map(|r| r.len()).sum();
    match regions.len() {
        0 => Parse::Nothing,
        _ if content.len() <= SMALL || covered * 2 >= content.len() => Parse::Whole,
        _ => Parse::Regions(merge(regions.into_iter())),
    }
}

/// Ranges in order of their start, overlapping ones joined.
fn merge(ranges: impl Iterator<Item = Range<usize>>) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = ranges.collect();
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// `region` widened to whole statements (as far as lines tell: to a line that ends
/// one, or a blank line, or the end of an HTML line, so that a long string or a call
/// spread over lines is read whole),
/// and started after a block comment it begins in (read as code, a comment's words
/// would be taken for calls).
fn statements(content: &[u8], region: Range<usize>) -> Range<usize> {
    let line_start = |at: usize| memchr::memrchr(b'\n', &content[..at]).map_or(0, |n| n + 1);
    let ends_statement = |line_end: usize| {
        matches!(
            content[line_start(line_end)..line_end]
                .trim_ascii_end()
                .last(),
            None | Some(b';' | b'{' | b'}' | b':' | b'>')
        )
    };
    let line_end =
        |at: usize| memchr::memchr(b'\n', &content[at..]).map_or(content.len(), |n| at + n);
    let mut start = line_start(region.start);
    while start > 0 && !ends_statement(start - 1) {
        start = line_start(start - 1);
    }
    // Better, from the enclosing function's first line (a line indented at most one
    // level that opens a block): the parser reads a whole function far faster than
    // a cut one (`case` lines outside their `switch` cost a millisecond each), and the
    // flow of its input is seen from the start.
    // Failing that, a `case` is started from its `switch`: the nearest line above,
    // indented less, that opens a block.
    let first = &content[start..line_end(start)];
    let first_word = first.trim_ascii_start();
    let in_switch = first_word.starts_with(b"case ") || first_word.starts_with(b"default");
    let case_indent = indent(first);
    let mut line = start;
    let mut opener = None;
    while line > 0 && start - line < ENCLOSING {
        line = line_start(line - 1);
        let text = &content[line..line_end(line)];
        let opens = text.trim_ascii_end().ends_with(b"{");
        if opens && indent(text) <= 4 {
            opener = Some(line);
            break;
        }
        if opens && in_switch && opener.is_none() && indent(text) < case_indent {
            opener = Some(line);
        }
    }
    if let Some(line) = opener {
        start = line;
    }
    let mut end = line_end(region.end);
    while end < content.len() && !ends_statement(end) {
        end = line_end(end + 1);
    }
    // Lines that only close what began before the region: the parser's error recovery
    // on an unmatched `}` costs more than the rest of the region.
    while start < end
        && matches!(
            content[start..].trim_ascii_start().first(),
            Some(b'}' | b')' | b']')
        )
    {
        start = line_end(start) + 1;
    }
    let start = start.min(end);
    let start = match unclosed_comment(&content[..start]) {
        Some(_) => {
            memchr::memmem::find(&content[start..end], b"*/").map_or(end, |at| start + at + 2)
        }
        None => start,
    };
    // And ended before a block comment it would cut: an unclosed comment sends the
    // parser into seconds of error recovery.
    let end = unclosed_comment(&content[start..end]).map_or(end, |open| start + open);
    start..end
}

/// How far a line is indented, a tab counting four.
fn indent(line: &[u8]) -> usize {
    line.iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .map(|b| if *b == b'\t' { 4 } else { 1 })
        .sum()
}

/// Where the last block comment of `text` opens when `text` ends inside it. Only a
/// `/*` first on its line counts: in code it is also a glob or a path in a string.
fn unclosed_comment(text: &[u8]) -> Option<usize> {
    let open = memchr::memmem::rfind(text, b"/*")?;
    let closed = memchr::memmem::rfind(text, b"*/").is_some_and(|close| close > open);
    let line = memchr::memrchr(b'\n', &text[..open]).map_or(0, |n| n + 1);
    let first_on_line = text[line..open].iter().all(u8::is_ascii_whitespace);
    (!closed && first_on_line).then_some(open)
}

/// Where sinks are named as words (of the sink `words` found), and where computed
/// names are called (`$f(`, `)(`, `'…'(`), in order.
fn sinks_in(content: &[u8], words: Vec<Range<usize>>) -> Vec<usize> {
    let named = words
        .into_iter()
        .filter(|word| names_sink(content, word.clone()))
        .map(|word| word.start);
    let computed = memchr::memchr_iter(b'(', content).filter(|at| calls_computed(&content[..*at]));
    let mut sinks: Vec<usize> = named
        .chain(computed)
        .filter(|at| !in_comment_line(content, *at))
        .collect();
    sinks.sort_unstable();
    sinks.dedup();
    sinks
}

/// Is `at` on a comment's line, before any `*/` on it: a docblock's ` * ` line, or a
/// line that starts with `//` or `#` (not a `#[` attribute). A library's docs name
/// `mail()`, `$_SERVER` and backticks all the time; read as code they would make
/// regions of prose.
fn in_comment_line(content: &[u8], at: usize) -> bool {
    let start = memchr::memrchr(b'\n', &content[..at]).map_or(0, |n| n + 1);
    let before = &content[start..at];
    let text = before.trim_ascii_start();
    let comment = text.starts_with(b"*")
        || text.starts_with(b"/*")
        || text.starts_with(b"//")
        || (text.starts_with(b"#") && !text.starts_with(b"#["));
    comment && memchr::memmem::find(before, b"*/").is_none()
}

/// Is the word at `word` a sink: `$$` or a backtick, `include`/`require`(`_once`), a
/// call of a sink function (not a method of the same name), or its name as a
/// callback string?
fn names_sink(content: &[u8], word: Range<usize>) -> bool {
    let text = &content[word.clone()];
    if !text[0].is_ascii_alphabetic() {
        return true;
    }
    let before = &content[..word.start];
    let after = &content[word.end..];
    if before.last().is_some_and(|b| is_ident(*b))
        || before.ends_with(b"->")
        || before.ends_with(b"::")
    {
        return false;
    }
    let keyword = text.eq_ignore_ascii_case(b"include") || text.eq_ignore_ascii_case(b"require");
    if keyword {
        // Only a path with a variable or a stream wrapper in it can be the request's.
        let word_ends = after.first().is_none_or(|b| !is_ident(*b)) || after.starts_with(b"_once");
        let after = after.strip_prefix(b"_once").unwrap_or(after);
        if !starts_expression(after) {
            return false;
        }
        let path = &after[..after.len().min(PATH_LIMIT)];
        let path = &path[..memchr::memchr(b';', path).unwrap_or(path.len())];
        let chosen = memchr::memchr(b'$', path).is_some()
            || memchr::memmem::find(path, b"://").is_some()
            || memchr::memmem::find(path, b"data:").is_some();
        return word_ends && chosen;
    }
    let quoted = matches!(
        (before.last(), after.first()),
        (Some(b'\''), Some(b'\'')) | (Some(b'"'), Some(b'"'))
    );
    if quoted {
        return !compared_or_key(&before[..before.len() - 1], &after[1..]);
    }
    match after.trim_ascii_start().split_first() {
        Some((b'(', arguments)) => call_can_matter(text, arguments),
        _ => false,
    }
}

/// Is the literal between `before` and `after` compared (`'mail' === $mailer`,
/// `case 'mail':`) or an array key (`['system']`, `'exec' =>`): a name the code looks
/// at, not one it calls.
fn compared_or_key(before: &[u8], after: &[u8]) -> bool {
    let before = before.trim_ascii_end();
    let after = after.trim_ascii_start();
    let comparison = |code: &[u8]| code.starts_with(b"==") || code.starts_with(b"!=");
    comparison(after)
        || after.starts_with(b"=>")
        || before.ends_with(b"==")
        || before.ends_with(b"!=")
        || (before.len() >= 4 && before[before.len() - 4..].eq_ignore_ascii_case(b"case"))
        || (before.ends_with(b"[") && after.starts_with(b"]"))
}

/// Does the code after `include` begin an expression: a variable, a literal, a
/// parenthesis, or a name that is called, concatenated or a class's (`dirname(`,
/// `__DIR__ .`, `Foo::`)? Prose that says "does not include a name" does not.
fn starts_expression(after: &[u8]) -> bool {
    let code = after.trim_ascii_start();
    let name = code.iter().take_while(|b| is_ident(**b)).count();
    if name == 0 || code[0].is_ascii_digit() {
        return true;
    }
    matches!(
        code[name..].trim_ascii_start().first(),
        None | Some(b'(' | b'.' | b':' | b';')
    )
}

/// Can a call of the sink `name` (with `arguments` following its `(`) be judged a
/// fault? A callback that is absent, a plain name (a sink's name in quotes is a sink
/// of its own), a closure (its body is read on its own) or the object's own method is
/// the application's; so is a `preg_replace` whose literal pattern lacks the `e`
/// modifier (PHP 7 dropped it). Such calls make no region: WordPress maps
/// `'absint'` over its input on every page.
fn call_can_matter(name: &[u8], arguments: &[u8]) -> bool {
    if name.eq_ignore_ascii_case(b"preg_replace") {
        return argument(arguments, 0).is_none_or(|pattern| {
            joined_literals(pattern).is_none_or(|pattern| sinks::pattern_evaluates(&pattern))
        });
    }
    let Some(at) = sinks::callback_position(name) else {
        return true;
    };
    argument(arguments, at).is_some_and(|callback| {
        // `'absint'`, `'Class::method'`.
        let plain_name =
            quoted_literal(callback).is_some_and(|n| n.iter().all(|b| is_ident(*b) || *b == b':'));
        let closure = [&b"function"[..], b"fn", b"static"]
            .iter()
            .any(|word| starts_word(callback, word));
        let own_method = [&b"array("[..], b"array (", b"["].iter().any(|open| {
            callback.strip_prefix(*open).is_some_and(|rest| {
                let rest = rest.trim_ascii_start();
                starts_word(rest, b"$this") || starts_word(rest, b"__CLASS__")
            })
        });
        !(plain_name || closure || own_method)
    })
}

/// Does `code` begin with the word `word`?
fn starts_word(code: &[u8], word: &[u8]) -> bool {
    code.len() >= word.len()
        && code[..word.len()].eq_ignore_ascii_case(word)
        && code.get(word.len()).is_none_or(|b| !is_ident(*b))
}

/// The inside of `code` when it is one quoted string literal and nothing more.
fn quoted_literal(code: &[u8]) -> Option<&[u8]> {
    let (&quote, rest) = code.split_first()?;
    if !matches!(quote, b'\'' | b'"') {
        return None;
    }
    let end = literal_end(rest, quote)?;
    (end + 1 == rest.len()).then(|| &rest[..end])
}

/// The text of `code` when it is string literals joined by `.` and nothing more
/// (`'/<\?xml.*?\?' . '>/s'`). A double-quoted literal with an escape or a variable
/// in it is not its text as written (`"/x/\x65"` ends in `e`): `None`.
fn joined_literals(code: &[u8]) -> Option<Vec<u8>> {
    let mut text = Vec::new();
    let mut rest = code;
    loop {
        let (&quote, after) = rest.split_first()?;
        if !matches!(quote, b'\'' | b'"') {
            return None;
        }
        let end = literal_end(after, quote)?;
        let interpreted = quote == b'"' && after[..end].iter().any(|b| matches!(b, b'\\' | b'$'));
        if interpreted {
            return None;
        }
        text.extend_from_slice(&after[..end]);
        rest = after[end + 1..].trim_ascii_start();
        match rest.split_first() {
            None => return Some(text),
            Some((b'.', more)) => rest = more.trim_ascii_start(),
            Some(_) => return None,
        }
    }
}

/// Where the literal opened by `quote` before `rest` closes (a backslash escapes).
fn literal_end(rest: &[u8], quote: u8) -> Option<usize> {
    let mut at = 0;
    while at < rest.len() {
        match rest[at] {
            b'\\' => at += 2,
            b if b == quote => return Some(at),
            _ => at += 1,
        }
    }
    None
}

/// How far an argument list is scanned for one argument.
const ARGUMENTS_LIMIT: usize = 4096;

/// The `index`th argument (trimmed) of the list that `arguments` opens, as far as
/// brackets and quotes tell; `None` when the list has fewer.
fn argument(arguments: &[u8], index: usize) -> Option<&[u8]> {
    let arguments = &arguments[..arguments.len().min(ARGUMENTS_LIMIT)];
    let (mut depth, mut start, mut count, mut at) = (0usize, 0, 0, 0);
    while at < arguments.len() {
        let byte = arguments[at];
        match byte {
            b'\'' | b'"' => match literal_end(&arguments[at + 1..], byte) {
                Some(end) => at += end + 1,
                None => break,
            },
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth > 0 => depth -= 1,
            b',' | b')' | b']' | b'}' if depth == 0 => {
                if count == index {
                    let found = arguments[start..at].trim_ascii();
                    return (!found.is_empty()).then_some(found);
                }
                if byte != b',' {
                    return None;
                }
                count += 1;
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    // An unterminated list is read as far as it goes: its argument may be there.
    (count == index).then(|| arguments[start..].trim_ascii())
}

/// Does the code before a `(` end in something computed: `)`, `]`, `}` or a string
/// literal right before it (`('sys'.'tem')(`, `$_GET['a'](`, `'sys'.'tem'(`, not the
/// `('(` of a pattern or the `) (` of prose), or a variable's name (`$f (`, not the
/// `%1$s (` of a format string)?
fn calls_computed(before: &[u8]) -> bool {
    match before.last() {
        Some(b')' | b']' | b'}') => return true,
        Some(b'\'' | b'"') => {
            return before[..before.len() - 1].last().is_some_and(|b| {
                !matches!(b, b'(' | b',' | b'=' | b'.' | b'[') && !b.is_ascii_whitespace()
            })
        }
        _ => {}
    }
    let code = before.trim_ascii_end();
    let Some(name_start) = code.iter().rposition(|b| !is_ident(*b)) else {
        return false;
    };
    let variable = code[name_start] == b'$' && name_start + 1 < code.len();
    variable
        && code[..name_start]
            .last()
            .is_none_or(|b| !is_ident(*b) && *b != b'%')
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library-like function: request input handled with care, no sink near it.
    fn ordinary(i: usize) -> String {
        format!(
            "/**\n * Handles form {i}.\n *\n * @param array $args {{\n */\nfunction handle_{i}( $args ) {{\n\t$action = isset( $_GET['action'] ) ? sanitize_key( $_GET['action'] ) : '';\n\tif ( 'save' === $action ) {{\n\t\tupdate_option( 'form_{i}', $args );\n\t}}\n\treturn $action;\n}}\n\n"
        )
    }

    fn library(functions: std::ops::Range<usize>) -> String {
        functions.map(ordinary).collect()
    }

    fn findings(code: &str) -> Vec<String> {
        crate::heuristics::php::analyse(code.as_bytes())
            .into_iter()
            .map(|f| f.text)
            .collect()
    }

    #[test]
    fn input_far_from_any_sink_is_not_parsed() {
        let code = format!("<?php\n{}", library(0..200));
        assert_eq!(regions(code.as_bytes(), 256), Parse::Nothing);
        let small = format!("<?php\n{}", library(0..2));
        assert_eq!(regions(small.as_bytes(), 256), Parse::Nothing);
    }

    #[test]
    fn a_shell_inside_a_large_file_is_read_in_its_region() {
        let shell = "function helper_x() {\n\t$f = str_rot13('flfgrz');\n\t$f($_COOKIE['c']);\n}\n";
        let code = format!("<?php\n{}{shell}{}", library(0..100), library(100..200));
        let Parse::Regions(regions) = regions(code.as_bytes(), 256) else {
            panic!("expected regions");
        };
        let shell_at = code.find(shell).unwrap();
        assert!(regions
            .iter()
            .any(|r| r.start <= shell_at && shell_at + shell.len() <= r.end));
        assert!(regions.iter().map(|r| r.len()).sum::<usize>() < code.len() / 4);
        let found = findings(&code);
        assert!(
            found
                .iter()
                .any(|f| f.contains("system()") && f.contains("str_rot13")),
            "{found:?}"
        );
    }

    #[test]
    fn input_and_sink_far_apart_in_a_small_file_are_read_together() {
        let padding = "// mass mailer settings\n".repeat(120);
        let code = format!("<?php\n$to = $_POST['emails'];\n{padding}mail($to, 'hi', 'body');\n");
        assert!(code.len() <= SMALL);
        assert_eq!(regions(code.as_bytes(), 256), Parse::Whole);
    }

    /// A sink whose name starts with another's (`preg_replace_callback`, behind
    /// `preg_replace`) is found too: a scan that took the first name seen and went
    /// on after it hid the longer one.
    #[test]
    fn a_sink_named_after_another_sink_is_found() {
        let code = format!(
            "<?php\n{}\n$out = preg_replace_callback('/x/', $_GET['f'], $text);\n{}",
            library(0..100),
            library(100..200)
        );
        assert!(code.len() > SMALL);
        assert!(matches!(regions(code.as_bytes(), 256), Parse::Regions(_)));
        let found = findings(&code);
        assert!(
            found.iter().any(|f| f.contains("preg_replace_callback")),
            "{found:?}"
        );
    }

    #[test]
    fn regions_start_and_end_outside_block_comments() {
        let code = format!(
            "<?php\n{}/**\n * Runs eval( $_GET['x'] ) in the documentation {{\n * only.\n */\nfunction documented() {{}}\n{}",
            library(0..100),
            library(100..200)
        );
        if let Parse::Regions(regions) = regions(code.as_bytes(), 256) {
            for region in regions {
                let text = &code[region];
                let opened = text.rfind("/*");
                assert!(opened.is_none_or(|o| text[o..].contains("*/")), "{text}");
            }
        }
        assert_eq!(findings(&code), Vec::<String>::new());
    }

    #[test]
    fn computed_calls_are_told_from_prose_and_patterns() {
        for computed in [
            "$f(",
            "$f (",
            "$_GET['a'](",
            "('sys'.'tem')(",
            "'sys'.'tem'(",
        ] {
            let before = &computed.as_bytes()[..computed.len() - 1];
            assert!(calls_computed(before), "{computed}");
        }
        for plain in [
            "strlen(",
            "%1$s (",
            "'none' (",
            "preg_match('(",
            "$this->run(",
        ] {
            let before = &plain.as_bytes()[..plain.len() - 1];
            assert!(!calls_computed(before), "{plain}");
        }
    }

    #[test]
    fn sink_names_are_words_that_are_called() {
        let sink = |code: &str, word: &str| {
            let at = code.find(word).unwrap();
            names_sink(code.as_bytes(), at..at + word.len())
        };
        assert!(sink("system($c)", "system"));
        assert!(sink("array_map('system', $a)", "system"));
        assert!(sink("$f = 'system';", "system"));
        assert!(sink("$f = $x ? 'exec' : 'system';", "exec"));
        assert!(!sink("if ('mail' === $this->Mailer)", "mail"));
        assert!(!sink("if ($this->Mailer !== 'mail')", "mail"));
        assert!(!sink("case 'mail':", "mail"));
        assert!(!sink("$handlers['exec'] = 1;", "exec"));
        assert!(!sink("['exec' => 1]", "exec"));
        assert!(sink("include $_GET['p'];", "include"));
        assert!(sink("require_once($dir . '/x.php');", "require"));
        assert!(!sink("$fs->filesystem($c)", "system"));
        assert!(!sink("$pdo->exec($sql)", "exec"));
        assert!(!sink(
            "require_once ABSPATH . 'wp-admin/admin.php';",
            "require"
        ));
        assert!(!sink("This plugin requires PHP", "require"));
        assert!(!sink(
            "'Exporter does not include a callback: %s.', $e",
            "include"
        ));
        assert!(sink("include dirname(__FILE__) . $page;", "include"));
        assert!(sink("include_once $_GET['p'];", "include"));
    }

    #[test]
    fn callbacks_and_patterns_the_application_names_are_no_sinks() {
        let sink = |code: &str| {
            let word = code.find('(').unwrap();
            let start = code[..word].rfind(' ').map_or(0, |n| n + 1);
            names_sink(code.as_bytes(), start..word)
        };
        for computed in [
            "array_map($f, $a)",
            "call_user_func( $callback, $email )",
            "array_filter($a, $_GET['f'])",
            "ob_start($cb)",
            "usort($a, 'sy' . 'stem')",
            "preg_replace('/.*/e', $_GET['c'], '')",
            "preg_replace(\"#x#ie\", $r, $s)",
            "preg_replace($pattern, $r, $s)",
            "preg_replace('/x/' . 'e', $r, $s)",
            "preg_replace(\"/.*/\\x65\", $_GET['c'], '')",
            "array_map($f",
        ] {
            assert!(sink(computed), "{computed}");
        }
        for named in [
            "array_map( 'absint', $_POST['ids'] )",
            "array_filter( $closed )",
            "ob_start();",
            "usort($a, function ($x, $y) { return $x <=> $y; })",
            "array_map(fn($x) => $x + 1, $a)",
            "array_walk($a, array( $this, 'clean' ))",
            "array_map([$this, 'clean'], $a)",
            "preg_replace( '/[^a-z0-9_\\-]/', '', $x)",
            "preg_replace('#(,)\\s*#', '$1', $s)",
            "preg_replace( '/<\\?xml.*?\\?'.'>/s', '', $m)",
            "array_map('getid3_lib::PrintHexBytes', $a)",
        ] {
            assert!(!sink(named), "{named}");
        }
    }

    #[test]
    fn escapes_enable_when_they_spell_text() {
        let enabled = |code: &str| enables(code.as_bytes(), code.find("\\x").unwrap());
        assert!(enabled(r#"$f = "\x73\x79\x73\x74\x65\x6d";"#));
        assert!(!enabled(r#"if ($magic == "\x89\x50\x4E\x47")"#));
        assert!(!enabled(r#"case "\x00\x00\x00\x00":"#));
        assert!(!enabled(r#"preg_match('#^\\xFF\\xD8#', $d)"#));
        assert!(!enabled(r#"$lone = "\x41";"#));
        assert!(enabled(r#"$f = "\x62\141\163\145\66\x34";"#));
        let octal_first = r#"$f = "\142\x61\163\145";"#;
        assert!(enables(
            octal_first.as_bytes(),
            octal_first.find(r"\x").unwrap()
        ));
        let payload = format!(r#"$p = "{}";"#, r"\x7\x3C\x1E".repeat(6));
        assert!(enabled(&payload));
        // Only a run's first hex escape judges it: a payload is looked at once.
        let second = payload.find(r"\x3C").unwrap();
        assert!(!enables(payload.as_bytes(), second));
        let magic = r#"if ($d == "\x00\x00\x00\x0C\x65\x6E\x63\x64")"#;
        assert!(!enables(magic.as_bytes(), magic.find(r"\x65").unwrap()));
        assert!(!enabled(r#"'/[\x21\x23-\x5B\x5D-\x7E]/'"#));
    }

    #[test]
    fn prose_in_comments_makes_no_region() {
        let mut code = String::from("<?php\n");
        code.push_str(&"function f() { return 1; }\n".repeat(1000));
        code.push_str(
            "/**\n * Sends with mail() as $_SERVER['SERVER_NAME'], or `sendmail`.\n */\n",
        );
        code.push_str("// eval($_GET['x']) is what a shell does\n# and system($_POST['c'])\n");
        assert!(matches!(regions(code.as_bytes(), 256), Parse::Nothing));
        // Code after a comment closed on its line is code.
        code.push_str("/* x */ eval($_GET['x']);\n");
        assert!(matches!(regions(code.as_bytes(), 256), Parse::Regions(_)));
    }

    #[test]
    fn a_case_far_inside_a_function_starts_from_its_switch() {
        let mut code = String::from("<?php\nfunction parse($atom) {\n");
        code.push_str(
            &"\t$x = strlen($atom) + 1; // padding that is no statement of interest\n".repeat(200),
        );
        code.push_str("\t\tswitch ($atom) {\n");
        code.push_str(&"\t\t\tcase 'a':\n\t\t\t\t$y = 1;\n\t\t\t\tbreak;\n".repeat(60));
        code.push_str("\t\t\tcase 'b':\n\t\t\t\t$f = $_GET['f'];\n\t\t\t\teval($f);\n\t\t}\n}\n");
        code.push_str(&"function g() { return 1; }\n".repeat(800));
        let Parse::Regions(found) = regions(code.as_bytes(), 256) else {
            panic!("one region");
        };
        let text = &code[found[0].clone()];
        assert!(text.starts_with("\t\tswitch ($atom) {"), "{text}");
    }
}
