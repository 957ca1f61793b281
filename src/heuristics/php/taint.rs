//! Where request input flows: which variables (per function scope) hold it, and which
//! hold a function's parameters (so a function that passes a parameter to a sink can
//! be judged at its call sites). Flow-insensitive: an assignment anywhere in a scope
//! counts. Variables with a constant value are folded here too, in source order.

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::fold::{Constants, Folder, Value};

/// Taint is a bit set: request input, or the value of parameter i of the enclosing
/// function (bit i + 1).
pub type Taint = u32;
pub const REQUEST: Taint = BODY | HEADER;
/// What the request's query, body and cookies carry.
pub const BODY: Taint = 1;
/// What its headers carry (bit 31: parameter bits stop below).
pub const HEADER: Taint = 1 << 31;
const MAX_PARAMS: usize = 30;

pub fn param_bit(index: usize) -> Taint {
    if index < MAX_PARAMS {
        1 << (index + 1)
    } else {
        0
    }
}

/// The superglobals (and their PHP 4 names) that hold what the client sent.
const REQUEST_VARIABLES: &[&str] = &[
    "_GET",
    "_POST",
    "_REQUEST",
    "_COOKIE",
    "_FILES",
    "HTTP_GET_VARS",
    "HTTP_POST_VARS",
    "HTTP_COOKIE_VARS",
    "HTTP_POST_FILES",
];
/// Calls that return request input.
const REQUEST_FUNCTIONS: &[&str] = &["getallheaders", "apache_request_headers", "filter_input"];
/// Calls whose result says nothing the caller chose: a number, a boolean, a hash, an
/// escaped shell argument.
const CLEAN_FUNCTIONS: &[&str] = &[
    "isset",
    "empty",
    "count",
    "sizeof",
    "strlen",
    "intval",
    "floatval",
    "boolval",
    "abs",
    "round",
    "min",
    "max",
    "is_numeric",
    "is_string",
    "is_array",
    "is_int",
    "is_file",
    "is_dir",
    "file_exists",
    "function_exists",
    "in_array",
    "array_key_exists",
    "md5",
    "sha1",
    "crc32",
    "hash",
    "preg_match",
    "strcmp",
    "strcasecmp",
    "strpos",
    "stripos",
    "escapeshellarg",
    "ctype_digit",
    "ctype_alnum",
    "ctype_alpha",
];
/// Operators whose result is a boolean.
const BOOLEAN_OPERATORS: &[&str] = &[
    "==",
    "===",
    "!=",
    "!==",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "<=>",
    "&&",
    "||",
    "and",
    "or",
    "xor",
    "instanceof",
];

/// The variables of one file: constants and taints, keyed by (scope, name).
pub struct Flow<'a> {
    pub folder: Folder<'a>,
    pub taints: HashMap<(usize, String), Taint>,
    /// Variables only ever assigned an object of a class named in the code: calling
    /// one runs that class's `__invoke`, a function the code chose.
    pub objects: HashSet<(usize, String)>,
    /// Scopes that `extract()` or `parse_str()` request input into: any variable
    /// there may be the client's.
    extracted: HashSet<usize>,
}

/// A node the analysis looks at, with its scope: the id of the enclosing function,
/// method or closure, or 0 at file level (arrow functions see their parent's
/// variables), and the enclosing named function, whose parameters it may pass on.
#[derive(Debug, Clone, Copy)]
pub struct Visited<'t> {
    pub node: Node<'t>,
    pub scope: usize,
    pub function: Option<Node<'t>>,
}

/// The variables every assignment of which is `new Name(...)` (see `Flow::objects`).
fn objects(src: &[u8], nodes: &[Visited]) -> HashSet<(usize, String)> {
    let (mut objects, mut others) = (HashSet::new(), HashSet::new());
    for &Visited { node, scope, .. } in nodes {
        if !node.kind().ends_with("assignment_expression") {
            continue;
        }
        let Some(name) = node
            .child_by_field_name("left")
            .and_then(|left| variable_name(src, left))
        else {
            continue;
        };
        let named_class = node.child_by_field_name("right").is_some_and(|right| {
            right.kind() == "object_creation_expression"
                && right
                    .named_child(0)
                    .is_some_and(|class| matches!(class.kind(), "name" | "qualified_name"))
        });
        let key = (scope, name.to_string());
        if named_class && node.kind() == "assignment_expression" {
            objects.insert(key);
        } else {
            others.insert(key);
        }
    }
    objects.retain(|key| !others.contains(key));
    objects
}

pub fn variable_name<'s>(src: &'s [u8], node: Node) -> Option<&'s str> {
    (node.kind() == "variable_name")
        .then(|| std::str::from_utf8(&src[node.byte_range()]).ok())
        .flatten()
        .map(|n| n.trim_start_matches('$'))
}

pub fn is_superglobal(src: &[u8], node: Node) -> bool {
    variable_name(src, node).is_some_and(|n| REQUEST_VARIABLES.contains(&n))
}

/// The name a call is made by, when it is written as a plain name: lower-case,
/// without namespace.
pub fn called_name(src: &[u8], call: Node) -> Option<String> {
    let function = call.child_by_field_name("function")?;
    if !matches!(function.kind(), "name" | "qualified_name") {
        return None;
    }
    let text = std::str::from_utf8(&src[function.byte_range()]).ok()?;
    Some(text.rsplit('\\').next()?.to_ascii_lowercase())
}

impl<'a> Flow<'a> {
    /// Folds constants (source order) and spreads taint (to a fixed point) over the
    /// file's assignments and `foreach` loops.
    pub fn new(src: &'a [u8], constants: &'a mut Constants, nodes: &[Visited]) -> Flow<'a> {
        let mut taints = HashMap::new();
        for Visited { node, .. } in nodes {
            if matches!(node.kind(), "function_definition" | "method_declaration") {
                let Some(params) = node.child_by_field_name("parameters") else {
                    continue;
                };
                let mut cursor = params.walk();
                for (i, param) in params.named_children(&mut cursor).enumerate() {
                    let name = param
                        .child_by_field_name("name")
                        .and_then(|n| variable_name(src, n));
                    if let Some(name) = name {
                        taints.insert((node.id(), name.to_string()), param_bit(i));
                    }
                }
            }
        }
        fold_constants(src, constants, nodes);
        let objects = objects(src, nodes);
        let mut flow = Flow {
            folder: Folder { src, constants },
            taints,
            objects,
            extracted: HashSet::new(),
        };
        flow.extracted = nodes
            .iter()
            .filter(|v| flow.extracts_request(v.node, v.scope))
            .map(|v| v.scope)
            .collect();
        for _round in 0..6 {
            let mut changed = false;
            for visited in nodes {
                for (target, taint) in flow.assigned(visited) {
                    if taint != 0 {
                        let slot = flow.taints.entry(target).or_insert(0);
                        changed |= *slot | taint != *slot;
                        *slot |= taint;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        flow
    }

    /// `extract($_POST)`, `parse_str($_SERVER['QUERY_STRING'])`: request input made
    /// into the scope's variables.
    fn extracts_request(&self, node: Node, scope: usize) -> bool {
        if node.kind() != "function_call_expression" {
            return false;
        }
        let Some(name) = called_name(self.folder.src, node) else {
            return false;
        };
        let args = node
            .child_by_field_name("arguments")
            .map(super::fold::operands)
            .unwrap_or_default();
        let into_scope = match name.as_str() {
            "extract" => true,
            "parse_str" => args.len() == 1,
            _ => false,
        };
        into_scope
            && args
                .first()
                .is_some_and(|a| self.direct_taint(*a, scope) & REQUEST != 0)
    }

    /// The variables an assignment or loop writes, with the taint it gives them.
    fn assigned(&self, visited: &Visited) -> Vec<((usize, String), Taint)> {
        let Visited { node, scope, .. } = *visited;
        let (targets, source) = match node.kind() {
            "assignment_expression"
            | "augmented_assignment_expression"
            | "reference_assignment_expression" => {
                let (Some(left), Some(right)) = (
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ) else {
                    return Vec::new();
                };
                (vec![left], right)
            }
            "foreach_statement" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                let Some((source, rest)) = children.split_first() else {
                    return Vec::new();
                };
                let targets = rest
                    .iter()
                    .filter(|n| matches!(n.kind(), "pair" | "variable_name" | "by_ref"))
                    .copied()
                    .collect();
                (targets, *source)
            }
            // `global $cmd;` inside a function sees the file-level variable.
            "global_declaration" => {
                let mut cursor = node.walk();
                let names: Vec<&str> = node
                    .named_children(&mut cursor)
                    .filter_map(|n| variable_name(self.folder.src, n))
                    .collect();
                return names
                    .into_iter()
                    .map(|name| {
                        let global = self.taints.get(&(0, name.to_string())).copied();
                        ((scope, name.to_string()), global.unwrap_or(0))
                    })
                    .collect();
            }
            _ => return Vec::new(),
        };
        let taint = self.taint(source, scope);
        let mut out = Vec::new();
        for target in targets {
            for name in written_variables(self.folder.src, target) {
                out.push(((scope, name), taint));
            }
        }
        out
    }

    /// What an expression's value may carry: request input, parameters.
    pub fn taint(&self, expr: Node, scope: usize) -> Taint {
        self.taint_of(expr, scope, true)
    }

    /// Request input written in the expression itself, not through its variables:
    /// what a callback needs to be "chosen by the request" (flow-insensitive variables
    /// would blame an application's registry entry).
    pub fn direct_taint(&self, expr: Node, scope: usize) -> Taint {
        self.taint_of(expr, scope, false)
    }

    fn taint_of(&self, expr: Node, scope: usize, through_variables: bool) -> Taint {
        let src = self.folder.src;
        let mut taint = 0;
        let mut stack = vec![expr];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "variable_name" => {
                    let Some(name) = variable_name(src, node) else {
                        continue;
                    };
                    if REQUEST_VARIABLES.contains(&name) {
                        taint |= BODY;
                    } else if through_variables {
                        match self.taints.get(&(scope, name.to_string())) {
                            Some(t) => taint |= t,
                            None if self.extracted.contains(&scope) && name != "this" => {
                                taint |= BODY;
                            }
                            None => {}
                        }
                    }
                    continue;
                }
                // `${'_GE' . 'T'}`: a superglobal by a computed name.
                "dynamic_variable_name" => {
                    let named = node
                        .named_child(0)
                        .and_then(|inner| self.folder.fold(inner, scope))
                        .and_then(|f| f.name());
                    let request =
                        |n: &String| REQUEST_VARIABLES.iter().any(|v| v.eq_ignore_ascii_case(n));
                    if named.is_some_and(|n| request(&n)) {
                        taint |= BODY;
                    }
                }
                "subscript_expression" if self.is_request_header(node, scope) => {
                    taint |= HEADER;
                    continue;
                }
                // `$registry[$_POST['id']]` is an entry the application chose, looked up
                // by the request: only the array's own taint flows.
                "subscript_expression" => {
                    stack.extend(node.named_child(0));
                    continue;
                }
                "function_call_expression" => match self.resolved_name(node, scope).as_deref() {
                    Some(name) if CLEAN_FUNCTIONS.contains(&name) => continue,
                    Some(name) if REQUEST_FUNCTIONS.contains(&name) => {
                        taint |= HEADER;
                        continue;
                    }
                    name if self.reads_request(name, node, scope) => {
                        taint |= REQUEST;
                        continue;
                    }
                    _ => {}
                },
                // What a method returns is the object's business; closures run later.
                "member_call_expression"
                | "nullsafe_member_call_expression"
                | "scoped_call_expression"
                | "anonymous_function"
                | "arrow_function"
                | "cast_expression" => {
                    let to_text = node
                        .child_by_field_name("type")
                        .is_some_and(|t| src[t.byte_range()].eq_ignore_ascii_case(b"string"));
                    if node.kind() == "cast_expression" && to_text {
                        stack.extend(node.child_by_field_name("value"));
                    }
                    continue;
                }
                "binary_expression" => {
                    let op = node
                        .child_by_field_name("operator")
                        .map(|o| String::from_utf8_lossy(&src[o.byte_range()]).to_lowercase());
                    if op.is_some_and(|op| BOOLEAN_OPERATORS.contains(&op.as_str())) {
                        continue;
                    }
                }
                "conditional_expression" => {
                    stack.extend(node.child_by_field_name("body"));
                    stack.extend(node.child_by_field_name("alternative"));
                    continue;
                }
                "unary_op_expression" => continue,
                // An object is of the class named, whatever it was built from: only a
                // class chosen by the request (`new $_GET['c']`) makes it theirs.
                "object_creation_expression" => {
                    let mut cursor = node.walk();
                    stack.extend(
                        node.named_children(&mut cursor)
                            .filter(|c| c.kind() != "arguments"),
                    );
                    continue;
                }
                _ => {}
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        taint
    }

    /// `$_SERVER['HTTP_…']`, `$_SERVER['QUERY_STRING']`: headers and the query.
    fn is_request_header(&self, subscript: Node, scope: usize) -> bool {
        let src = self.folder.src;
        let base = subscript.named_child(0);
        if base.is_none_or(|b| variable_name(src, b) != Some("_SERVER")) {
            return false;
        }
        let key = subscript
            .named_child(1)
            .and_then(|k| self.folder.fold(k, scope))
            .and_then(|k| k.name());
        key.is_some_and(|k| k.starts_with("http_") || k == "query_string")
    }

    /// Does request input lead a path (`$_GET['p']`, `$_GET['p'] . '.php'`), so
    /// that it chooses the file or stream, rather than a part within a fixed folder?
    /// Headers do not count: Debian's wp-config.php picks its configuration file by
    /// the Host header.
    pub fn leads_with_request(&self, path: Node, scope: usize) -> bool {
        let mut lead = path;
        loop {
            lead = match lead.kind() {
                "parenthesized_expression" | "binary_expression" | "encapsed_string" => {
                    match lead.named_child(0) {
                        Some(first) => first,
                        None => return false,
                    }
                }
                _ => break,
            };
        }
        self.taint(lead, scope) & BODY != 0
    }

    /// The function a call names, plainly or by a folded expression.
    pub fn resolved_name(&self, call: Node, scope: usize) -> Option<String> {
        called_name(self.folder.src, call).or_else(|| {
            let callee = call.child_by_field_name("function")?;
            self.folder.fold(callee, scope)?.name()
        })
    }

    /// `file_get_contents('php://input')`, `fopen('php://input', …)`,
    /// `getenv('HTTP_…')`: a call whose first argument names request input.
    fn reads_request(&self, name: Option<&str>, call: Node, scope: usize) -> bool {
        let (input, header) = match name {
            Some("file_get_contents" | "fopen" | "file") => (true, false),
            Some("getenv") => (false, true),
            _ => return false,
        };
        let Some(args) = call.child_by_field_name("arguments") else {
            return false;
        };
        let first = args.named_child(0).and_then(|a| self.folder.fold(a, scope));
        let Some(Value::Str(text)) = first.map(|f| f.value) else {
            return false;
        };
        let text = text.to_ascii_lowercase();
        input && text == b"php://input" || header && text.starts_with(b"http_")
    }
}

/// The variables an assignment's left side names: `$a`, `$a[...]` (the array),
/// `list($a, $b)`, `$k => $v`.
fn written_variables(src: &[u8], target: Node) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![target];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "variable_name" => names.extend(variable_name(src, node).map(str::to_string)),
            "subscript_expression" | "by_ref" => stack.extend(node.named_child(0)),
            "list_literal" | "pair" | "array_creation_expression" | "array_element_initializer" => {
                let mut cursor = node.walk();
                stack.extend(node.named_children(&mut cursor));
            }
            _ => {}
        }
    }
    names
}

/// Variables assigned constant values: `=` sets, `.=` appends, anything not foldable
/// forgets. Source order, once: obfuscators build a name step by step.
fn fold_constants(src: &[u8], constants: &mut Constants, nodes: &[Visited]) {
    for &Visited { node, scope, .. } in nodes {
        let augmented = node.kind() == "augmented_assignment_expression";
        if node.kind() != "assignment_expression" && !augmented {
            continue;
        }
        let (Some(left), Some(right)) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
        ) else {
            continue;
        };
        let Some(name) = variable_name(src, left) else {
            continue;
        };
        let key = (scope, name.to_string());
        let folded = Folder { src, constants }.fold(right, scope);
        let value = match (augmented, folded) {
            (false, value) => value,
            (true, Some(tail)) => {
                let op = node.child_by_field_name("operator");
                let appends = op.is_some_and(|o| &src[o.byte_range()] == b".=");
                constants
                    .get(&key)
                    .filter(|_| appends)
                    .and_then(|head| super::fold::concat(head, &tail))
            }
            (true, None) => None,
        };
        match value {
            Some(value) => constants.insert(key, value),
            None => constants.remove(&key),
        };
    }
}
