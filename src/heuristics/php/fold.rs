//! Constant folding: what a PHP expression built only from literals (and variables
//! holding such values) evaluates to, with the string operations that built it
//! (`str_rot13`, `chr`, concatenation, `base64_decode`, ...). Nothing is executed:
//! only a fixed set of pure functions is modelled.

use std::collections::HashMap;

use tree_sitter::Node;

use super::decode::{self, Compression, MAX_DECODED};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    Int(i64),
    Array(Vec<(Value, Value)>),
}

impl Value {
    fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string().into_bytes()),
            Value::Array(_) => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            Value::Array(_) => None,
        }
    }

    fn size(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Int(_) => 8,
            Value::Array(items) => items.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }
}

/// A folded value and the operations that produced it, in order, without repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    pub value: Value,
    pub via: Vec<&'static str>,
}

impl Folded {
    fn literal(value: Value) -> Folded {
        Folded {
            value,
            via: Vec::new(),
        }
    }

    fn through(mut self, op: &'static str) -> Folded {
        if !self.via.contains(&op) {
            self.via.push(op);
        }
        self
    }

    fn merge(parts: Vec<Folded>, value: Value, op: Option<&'static str>) -> Folded {
        let mut out = Folded::literal(value);
        for part in parts {
            for step in part.via {
                out = out.through(step);
            }
        }
        match op {
            Some(op) => out.through(op),
            None => out,
        }
    }

    /// The value as a function name: a string, lower-cased, without a leading `\`.
    pub fn name(&self) -> Option<String> {
        let Value::Str(s) = &self.value else {
            return None;
        };
        let s = std::str::from_utf8(s).ok()?.trim();
        let s = s.strip_prefix('\\').unwrap_or(s);
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| s.to_ascii_lowercase())
    }

    /// The value as text, lower-cased (for paths and wrappers).
    pub fn value_text(&self) -> String {
        self.value
            .bytes()
            .map(|b| String::from_utf8_lossy(&b).trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// Was the value decoded or de-obfuscated (rather than merely concatenated)?
    pub fn decoded(&self) -> bool {
        self.via.iter().any(|op| DECODERS.contains(op))
    }
}

/// Byte-wise `^`, `&`, `|`, `~` on strings.
pub const BITWISE: &str = "bitwise string operations";

/// Functions that turn an encoded string into code or a name.
pub const DECODERS: &[&str] = &[
    "base64_decode",
    "gzinflate",
    "gzuncompress",
    "gzdecode",
    "str_rot13",
    "strrev",
    "hex2bin",
    "convert_uudecode",
    "urldecode",
    "rawurldecode",
    "pack",
    BITWISE,
];

/// Variables with a known value, per scope (a function body, or 0 for the file).
pub type Constants = HashMap<(usize, String), Folded>;

/// Folding stops this deep in a nested expression (concatenation chains are walked
/// without recursion).
const MAX_NESTING: usize = 200;

pub struct Folder<'a> {
    pub src: &'a [u8],
    pub constants: &'a Constants,
}

impl Folder<'_> {
    pub fn text<'n>(&'n self, node: Node) -> &'n [u8] {
        &self.src[node.byte_range()]
    }

    pub fn fold(&self, node: Node, scope: usize) -> Option<Folded> {
        self.fold_at(node, scope, 0)
            .filter(|f| f.value.size() <= MAX_DECODED)
    }

    fn fold_at(&self, node: Node, scope: usize, nesting: usize) -> Option<Folded> {
        if nesting > MAX_NESTING {
            return None;
        }
        let sub = |n: Node| self.fold_at(n, scope, nesting + 1);
        match node.kind() {
            "string" => Some(Folded::literal(Value::Str(single_quoted(self.text(node))))),
            "encapsed_string" | "heredoc" => self.interpolated(node, scope, nesting),
            "nowdoc" => {
                let body = node.child_by_field_name("value")?;
                Some(Folded::literal(Value::Str(strip_heredoc_newline(
                    self.text(body),
                ))))
            }
            "integer" => integer(self.text(node)).map(|i| Folded::literal(Value::Int(i))),
            "parenthesized_expression" | "error_suppression_expression" | "argument" => {
                sub(node.named_child(node.named_child_count().checked_sub(1)?)?)
            }
            "cast_expression" => {
                let value = sub(node.child_by_field_name("value")?)?;
                Some(value)
            }
            "variable_name" => {
                let name = std::str::from_utf8(self.text(node))
                    .ok()?
                    .trim_start_matches('$');
                self.constants.get(&(scope, name.to_string())).cloned()
            }
            "binary_expression" => self.binary(node, scope, nesting),
            "unary_op_expression" => {
                let operator = node.child_by_field_name("operator")?;
                let value = sub(node.child_by_field_name("argument")?)?;
                match (self.text(operator), &value.value) {
                    (b"~", Value::Str(s)) => {
                        let inverted = s.iter().map(|b| !b).collect();
                        Some(Folded::merge(
                            vec![value],
                            Value::Str(inverted),
                            Some(BITWISE),
                        ))
                    }
                    (b"-", Value::Int(i)) => Some(Folded::literal(Value::Int(i.checked_neg()?))),
                    _ => None,
                }
            }
            // A bare word is an undefined constant, which PHP before 8 read as its
            // own name.
            "name"
                if node
                    .parent()
                    .is_some_and(|p| p.kind() != "function_call_expression") =>
            {
                Some(Folded::literal(Value::Str(self.text(node).to_vec())))
            }
            "array_creation_expression" => self.array(node, scope, nesting),
            "subscript_expression" => {
                let parts = operands(node);
                let base = sub(*parts.first()?)?;
                let key = sub(*parts.get(1)?)?;
                let value = match &base.value {
                    Value::Str(s) => {
                        let at = usize::try_from(key.value.int()?).ok()?;
                        Value::Str(vec![*s.get(at)?])
                    }
                    Value::Array(items) => items
                        .iter()
                        .find(|(k, _)| k.bytes() == key.value.bytes())?
                        .1
                        .clone(),
                    Value::Int(_) => return None,
                };
                Some(Folded::merge(vec![base, key], value, None))
            }
            "function_call_expression" => {
                let name = std::str::from_utf8(self.text(node.child_by_field_name("function")?))
                    .ok()?
                    .trim_start_matches('\\')
                    .to_ascii_lowercase();
                let args = node.child_by_field_name("arguments")?;
                let folded: Option<Vec<Folded>> = operands(args).into_iter().map(sub).collect();
                call(&name, folded?)
            }
            _ => None,
        }
    }

    fn interpolated(&self, node: Node, scope: usize, nesting: usize) -> Option<Folded> {
        let parts_of = if node.kind() == "heredoc" {
            node.child_by_field_name("value")?
        } else {
            node
        };
        let mut out = Vec::new();
        let mut folded = Vec::new();
        let mut cursor = parts_of.walk();
        for part in parts_of.named_children(&mut cursor) {
            match part.kind() {
                "string_content" | "string_value" => out.extend_from_slice(self.text(part)),
                "escape_sequence" => out.extend(unescape(self.text(part))),
                _ => {
                    let value = self.fold_at(part, scope, nesting + 1)?;
                    out.extend(value.value.bytes()?);
                    folded.push(value);
                }
            }
        }
        if node.kind() == "heredoc" {
            out = strip_heredoc_newline(&out);
        }
        Some(Folded::merge(folded, Value::Str(out), None))
    }

    fn binary(&self, node: Node, scope: usize, nesting: usize) -> Option<Folded> {
        let op = |n: Node| {
            n.child_by_field_name("operator")
                .map(|o| self.text(o).to_vec())
        };
        let this_op = op(node)?;
        if this_op == b"." {
            // `a . b . c` nests to the left: walk the spine, not the stack.
            let mut operands = Vec::new();
            let mut left = node;
            while left.kind() == "binary_expression" && op(left).as_deref() == Some(b".") {
                operands.push(left.child_by_field_name("right")?);
                left = left.child_by_field_name("left")?;
            }
            operands.push(left);
            let mut bytes = Vec::new();
            let mut parts = Vec::new();
            for operand in operands.into_iter().rev() {
                let part = self.fold_at(operand, scope, nesting + 1)?;
                bytes.extend(part.value.bytes()?);
                if bytes.len() > MAX_DECODED {
                    return None;
                }
                parts.push(part);
            }
            let several_literals = parts.len() > 1;
            return Some(Folded::merge(
                parts,
                Value::Str(bytes),
                several_literals.then_some("concatenation"),
            ));
        }
        let left = self.fold_at(node.child_by_field_name("left")?, scope, nesting + 1)?;
        let right = self.fold_at(node.child_by_field_name("right")?, scope, nesting + 1)?;
        let value = match (&this_op[..], &left.value, &right.value) {
            // Bitwise operators on two strings work byte by byte: the obfuscator's
            // favourite way to spell a name from noise.
            (op @ (b"^" | b"&" | b"|"), Value::Str(a), Value::Str(b)) => {
                let bytes = bitwise(op[0], a, b);
                return Some(Folded::merge(
                    vec![left, right],
                    Value::Str(bytes),
                    Some(BITWISE),
                ));
            }
            (op, a, b) => {
                let (a, b) = (a.int()?, b.int()?);
                Value::Int(match op {
                    b"+" => a.checked_add(b)?,
                    b"-" => a.checked_sub(b)?,
                    b"*" => a.checked_mul(b)?,
                    b"^" => a ^ b,
                    b"|" => a | b,
                    b"&" => a & b,
                    b"%" if b != 0 => a % b,
                    _ => return None,
                })
            }
        };
        Some(Folded::merge(vec![left, right], value, None))
    }

    fn array(&self, node: Node, scope: usize, nesting: usize) -> Option<Folded> {
        let mut items = Vec::new();
        let mut parts = Vec::new();
        let mut next_index = 0;
        for element in operands(node) {
            let values = operands(element);
            let (key, value) = match values[..] {
                [value] => {
                    next_index += 1;
                    (Value::Int(next_index - 1), value)
                }
                [key, value] => (self.fold_at(key, scope, nesting + 1)?.value, value),
                _ => return None,
            };
            let value = self.fold_at(value, scope, nesting + 1)?;
            items.push((key, value.value.clone()));
            parts.push(value);
        }
        Some(Folded::merge(parts, Value::Array(items), None))
    }
}

/// A node's named children but comments (obfuscators put comments everywhere).
pub fn operands(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    let children: Vec<Node> = node
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    children
}

/// The pure functions folded, applied to folded arguments.
fn call(name: &str, args: Vec<Folded>) -> Option<Folded> {
    let arg = |i: usize| args.get(i).and_then(|a| a.value.bytes());
    let op: &'static str = match name {
        "base64_decode" => "base64_decode",
        "gzinflate" => "gzinflate",
        "gzuncompress" => "gzuncompress",
        "gzdecode" => "gzdecode",
        "str_rot13" => "str_rot13",
        "strrev" => "strrev",
        "hex2bin" => "hex2bin",
        "convert_uudecode" => "convert_uudecode",
        "urldecode" => "urldecode",
        "rawurldecode" => "rawurldecode",
        "pack" => "pack",
        "chr" => "chr",
        "str_replace" | "str_ireplace" => "str_replace",
        "implode" | "join" => "implode",
        "substr" => "substr",
        _ => "",
    };
    let value = match name {
        "base64_decode" => Value::Str(decode::base64(&arg(0)?)?),
        "gzinflate" => Value::Str(decode::inflate(&arg(0)?, Compression::Deflate)?),
        "gzuncompress" => Value::Str(decode::inflate(&arg(0)?, Compression::Zlib)?),
        "gzdecode" => Value::Str(decode::inflate(&arg(0)?, Compression::Gzip)?),
        "str_rot13" => Value::Str(decode::rot13(&arg(0)?)),
        "strrev" => Value::Str(arg(0)?.into_iter().rev().collect()),
        "hex2bin" => Value::Str(decode::hex(&arg(0)?)?),
        "convert_uudecode" => Value::Str(decode::uudecode(&arg(0)?)?),
        "urldecode" => Value::Str(decode::url(&arg(0)?, true)),
        "rawurldecode" => Value::Str(decode::url(&arg(0)?, false)),
        "pack" if matches!(&arg(0)?[..], b"H*" | b"h*") => Value::Str(decode::hex(&arg(1)?)?),
        "chr" => Value::Str(vec![args.first()?.value.int()?.rem_euclid(256) as u8]),
        "ord" => Value::Int(i64::from(*arg(0)?.first()?)),
        "strtolower" => Value::Str(arg(0)?.to_ascii_lowercase()),
        "strtoupper" => Value::Str(arg(0)?.to_ascii_uppercase()),
        "trim" if args.len() == 1 => Value::Str(arg(0)?.trim_ascii().to_vec()),
        "strval" => Value::Str(arg(0)?),
        "intval" => Value::Int(args.first()?.value.int()?),
        "substr" => {
            let s = arg(0)?;
            let len = s.len() as i64;
            let start = args.get(1)?.value.int()?;
            let start = if start < 0 {
                (len + start).max(0)
            } else {
                start.min(len)
            };
            let end = match args.get(2) {
                None => len,
                Some(l) => {
                    let l = l.value.int()?;
                    if l < 0 {
                        (len + l).max(start)
                    } else {
                        (start + l).min(len)
                    }
                }
            };
            Value::Str(s[start as usize..end.max(start) as usize].to_vec())
        }
        "str_replace" | "str_ireplace" if args.len() == 3 => {
            let subject = arg(2)?;
            let replace = arg(1)?;
            let searches = match &args[0].value {
                Value::Array(items) => items
                    .iter()
                    .map(|(_, v)| v.bytes())
                    .collect::<Option<_>>()?,
                v => vec![v.bytes()?],
            };
            let mut out = subject;
            for search in searches.iter().filter(|s| !s.is_empty()) {
                out = replace_all(&out, search, &replace);
            }
            Value::Str(out)
        }
        "implode" | "join" => {
            let (glue, items) = match (&args.first()?.value, args.get(1).map(|a| &a.value)) {
                (Value::Array(items), None) => (Vec::new(), items),
                (Value::Array(items), Some(glue)) | (glue, Some(Value::Array(items))) => {
                    (glue.bytes()?, items)
                }
                _ => return None,
            };
            let parts: Option<Vec<Vec<u8>>> = items.iter().map(|(_, v)| v.bytes()).collect();
            Value::Str(parts?.join(&glue[..]))
        }
        _ => return None,
    };
    let op = (!op.is_empty()).then_some(op);
    Some(Folded::merge(args, value, op))
}

/// `a ^ b`, `a & b` (as long as the shorter) and `a | b` (as long as the longer) on
/// strings.
fn bitwise(op: u8, a: &[u8], b: &[u8]) -> Vec<u8> {
    let both = a.iter().zip(b);
    match op {
        b'^' => both.map(|(x, y)| x ^ y).collect(),
        b'&' => both.map(|(x, y)| x & y).collect(),
        _ => {
            let longer = if a.len() >= b.len() { a } else { b };
            let mut out: Vec<u8> = both.map(|(x, y)| x | y).collect();
            out.extend_from_slice(&longer[out.len()..]);
            out
        }
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut last = 0;
    for at in memchr::memmem::find_iter(haystack, needle) {
        if at < last {
            continue;
        }
        out.extend_from_slice(&haystack[last..at]);
        out.extend_from_slice(with);
        last = at + needle.len();
    }
    out.extend_from_slice(&haystack[last..]);
    out
}

/// `'...'`: only `\'` and `\\` are escapes.
fn single_quoted(text: &[u8]) -> Vec<u8> {
    let start = text.iter().position(|b| *b == b'\'').map_or(0, |p| p + 1);
    let body = &text[start..text.len().saturating_sub(1).max(start)];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' && matches!(body.get(i + 1), Some(b'\'' | b'\\')) {
            out.push(body[i + 1]);
            i += 2;
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// One double-quoted escape sequence, as PHP reads it.
fn unescape(seq: &[u8]) -> Vec<u8> {
    let Some((&b'\\', rest)) = seq.split_first() else {
        return seq.to_vec();
    };
    let simple = match rest {
        b"n" => Some(b'\n'),
        b"t" => Some(b'\t'),
        b"r" => Some(b'\r'),
        b"v" => Some(0x0b),
        b"e" => Some(0x1b),
        b"f" => Some(0x0c),
        b"\\" | b"$" | b"\"" => Some(rest[0]),
        _ => None,
    };
    if let Some(b) = simple {
        return vec![b];
    }
    let text = std::str::from_utf8(rest).unwrap_or("");
    let number = if let Some(hex) = text.strip_prefix(['x', 'X']) {
        u32::from_str_radix(hex, 16).ok()
    } else if let Some(code) = text.strip_prefix("u{").and_then(|t| t.strip_suffix('}')) {
        let c = u32::from_str_radix(code, 16).ok().and_then(char::from_u32);
        return c.map_or_else(|| seq.to_vec(), |c| c.to_string().into_bytes());
    } else {
        u32::from_str_radix(text, 8).ok()
    };
    number.map_or_else(|| seq.to_vec(), |n| vec![(n & 0xff) as u8])
}

fn strip_heredoc_newline(body: &[u8]) -> Vec<u8> {
    let body = body.strip_prefix(b"\n").unwrap_or(body);
    body.strip_suffix(b"\n").unwrap_or(body).to_vec()
}

fn integer(text: &[u8]) -> Option<i64> {
    let text: String = std::str::from_utf8(text).ok()?.replace('_', "");
    let lower = text.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(lower.trim_start_matches("0o").trim_start_matches('0'), 8)
            .ok()
            .or(Some(0))
    } else {
        lower.parse().ok()
    }
}

/// `$a .= $b` on two folded strings.
pub fn concat(head: &Folded, tail: &Folded) -> Option<Folded> {
    let mut bytes = head.value.bytes()?;
    bytes.extend(tail.value.bytes()?);
    (bytes.len() <= MAX_DECODED).then(|| {
        Folded::merge(
            vec![head.clone(), tail.clone()],
            Value::Str(bytes),
            Some("concatenation"),
        )
    })
}
