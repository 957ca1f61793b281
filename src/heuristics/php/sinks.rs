//! The judgement: request input reaching a code or command sink, directly, through a
//! computed (folded) function name, through a callback, or through a function of the
//! file that hands its parameter on; and code decoded from an encoded payload.

use std::collections::HashMap;

use tree_sitter::Node;

use super::fold::{operands, Folded, Value, DECODERS};
use super::taint::{
    called_name, is_superglobal, param_bit, variable_name, Flow, Taint, Visited, REQUEST,
};
use crate::policy::Severity;

/// Functions that run their argument as PHP code.
const CODE_SINKS: &[&str] = &["eval", "assert", "create_function"];
/// Functions that run a shell command.
const COMMAND_SINKS: &[&str] = &[
    "system",
    "exec",
    "passthru",
    "shell_exec",
    "popen",
    "proc_open",
    "pcntl_exec",
    "expect_popen",
];
/// Functions that write where an argument says: an uploader or a mass mailer lets the
/// request choose.
const WRITE_SINKS: &[(&str, usize, &str)] = &[
    ("move_uploaded_file", 1, "file written by"),
    ("copy", 1, "file written by"),
    ("mail", 0, "recipients of"),
    // `-X/var/www/x.php`: sendmail logs the message, code and all, into a file.
    ("mail", 4, "sendmail options of"),
];
/// Functions that call a callback, and the position of the callback.
const CALLBACK_SINKS: &[(&str, usize)] = &[
    ("call_user_func", 0),
    ("call_user_func_array", 0),
    ("forward_static_call", 0),
    ("forward_static_call_array", 0),
    ("array_map", 0),
    ("usort", 1),
    ("uasort", 1),
    ("uksort", 1),
    ("array_filter", 1),
    ("array_walk", 1),
    ("array_walk_recursive", 1),
    ("array_reduce", 1),
    ("iterator_apply", 1),
    ("preg_replace_callback", 1),
    ("register_shutdown_function", 0),
    ("register_tick_function", 0),
    ("ob_start", 0),
    ("set_error_handler", 0),
    ("set_exception_handler", 0),
    ("header_register_callback", 0),
];
/// Classes whose objects call the function a constructor argument names (`->invoke()`),
/// and the position of that argument.
const CALLBACK_CLASSES: &[(&str, usize)] = &[("ReflectionFunction", 0)];

/// The names of every sink: a file without any (or a computed call) runs and writes
/// nothing the request chooses.
pub fn names() -> impl Iterator<Item = &'static str> {
    CODE_SINKS
        .iter()
        .chain(COMMAND_SINKS)
        .copied()
        .chain(WRITE_SINKS.iter().map(|(name, ..)| *name))
        .chain(
            CALLBACK_SINKS
                .iter()
                .chain(CALLBACK_CLASSES)
                .map(|(name, _)| *name),
        )
}

/// Where the callback of `name` (any case) sits among its arguments, when it takes one.
pub fn callback_position(name: &[u8]) -> Option<usize> {
    CALLBACK_SINKS
        .iter()
        .find(|(callback, _)| callback.as_bytes().eq_ignore_ascii_case(name))
        .map(|(_, at)| *at)
}

/// The step a folded name takes when a callback function calls it.
const CALLED_BACK: &str = "a callback";

/// Something found, and what the file's function would do with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub text: String,
    pub severity: Severity,
}

/// For each function of the file (by lower-case name): parameter index → the sink it
/// reaches, described ("system()").
pub type Summaries = HashMap<String, Vec<(usize, String)>>;

pub struct Judge<'f, 'a> {
    pub flow: &'f Flow<'a>,
    pub summaries: Summaries,
    pub findings: Vec<Finding>,
    /// Folded code handed to eval: analysed again by the caller.
    pub payloads: Vec<Vec<u8>>,
}

impl Judge<'_, '_> {
    fn src(&self) -> &[u8] {
        self.flow.folder.src
    }

    fn add(&mut self, text: String, severity: Severity) {
        if !self.findings.iter().any(|f| f.text == text) {
            self.findings.push(Finding { text, severity });
        }
    }

    fn args<'t>(call: Node<'t>) -> Vec<Node<'t>> {
        let Some(args) = call.child_by_field_name("arguments") else {
            return Vec::new();
        };
        operands(args)
    }

    fn args_taint(&self, args: &[Node], scope: usize) -> Taint {
        args.iter().fold(0, |t, a| t | self.flow.taint(*a, scope))
    }

    /// Records that the enclosing function hands parameter bits of `taint` to `sink`.
    fn summarise(&mut self, function: Option<Node>, taint: Taint, sink: &str) {
        let Some(function) = function else {
            return;
        };
        let Some(name) = function
            .child_by_field_name("name")
            .map(|n| String::from_utf8_lossy(&self.src()[n.byte_range()]).to_ascii_lowercase())
        else {
            return;
        };
        let entry = self.summaries.entry(name).or_default();
        for i in 0..30 {
            if taint & param_bit(i) != 0 && !entry.iter().any(|(p, _)| *p == i) {
                entry.push((i, sink.to_string()));
            }
        }
    }

    pub fn node(&mut self, visited: &Visited) {
        let Visited {
            node,
            scope,
            function,
        } = *visited;
        match node.kind() {
            "function_call_expression" => self.call(node, scope, function),
            "object_creation_expression" => self.object(node, scope, function),
            "include_expression"
            | "include_once_expression"
            | "require_expression"
            | "require_once_expression" => {
                let Some(path) = node.named_child(0) else {
                    return;
                };
                if self.flow.leads_with_request(path, scope) {
                    self.add(
                        "request input chooses the file included".into(),
                        Severity::Critical,
                    );
                }
                if let Some(folded) = self.flow.folder.fold(path, scope) {
                    let text = folded.value_text();
                    if text.starts_with("php://input") || text.starts_with("data:") {
                        self.add(
                            format!("include of {}", text.split(',').next().unwrap_or("")),
                            Severity::Critical,
                        );
                    } else if folded.decoded() {
                        self.add(
                            format!("include of a decoded path ({})", folded.via.join(", ")),
                            Severity::Critical,
                        );
                    }
                }
            }
            "shell_command_expression" => {
                let taint = self.flow.taint(node, scope);
                if taint & REQUEST != 0 {
                    self.add(
                        "request input reaches a backtick command".into(),
                        Severity::Critical,
                    );
                }
                self.summarise(function, taint, "a backtick command");
            }
            "dynamic_variable_name" => {
                let Some(inner) = node.named_child(0) else {
                    return;
                };
                if self.flow.taint(inner, scope) & REQUEST != 0 {
                    self.add("request input names a variable ($$)".into(), Severity::High);
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, call: Node, scope: usize, function: Option<Node>) {
        let args = Self::args(call);
        if let Some(name) = called_name(self.src(), call) {
            self.named_call(function, &name, None, &args, scope);
            return;
        }
        let Some(callee) = call.child_by_field_name("function") else {
            return;
        };
        if let Some(name) = self
            .flow
            .folder
            .fold(callee, scope)
            .and_then(|f| Some((f.name()?, f)))
        {
            let (name, folded) = name;
            self.named_call(function, &name, Some(&folded), &args, scope);
            return;
        }
        let object = variable_name(self.src(), callee)
            .is_some_and(|name| self.flow.objects.contains(&(scope, name.to_string())));
        if object
            || matches!(
                callee.kind(),
                "anonymous_function" | "arrow_function" | "parenthesized_expression"
            )
        {
            return;
        }
        if self.flow.taint(callee, scope) & REQUEST != 0 {
            self.add(
                "request input chooses the function called".into(),
                Severity::Critical,
            );
        } else if self.args_taint(&args, scope) & REQUEST != 0 {
            self.add(
                "variable function called with request input".into(),
                Severity::Critical,
            );
        }
    }

    /// `new ReflectionFunction($f)`: an object that calls `$f` when it is invoked.
    fn object(&mut self, creation: Node, scope: usize, function: Option<Node>) {
        let Some(class) = creation
            .named_child(0)
            .filter(|c| matches!(c.kind(), "name" | "qualified_name"))
        else {
            return;
        };
        let class = &self.src()[class.byte_range()];
        let class = class.rsplit(|b| *b == b'\\').next().unwrap_or(class);
        let Some((name, at)) = CALLBACK_CLASSES
            .iter()
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(class))
        else {
            return;
        };
        let mut cursor = creation.walk();
        let args = creation
            .named_children(&mut cursor)
            .find(|c| c.kind() == "arguments")
            .map(operands)
            .unwrap_or_default();
        self.callback(function, name, *at, &args, scope);
    }

    /// A call to `name`, written plainly or (`folded`) computed.
    fn named_call(
        &mut self,
        function: Option<Node>,
        name: &str,
        folded: Option<&Folded>,
        args: &[Node],
        scope: usize,
    ) {
        let steps: Vec<&str> = folded
            .map(|f| {
                f.via
                    .iter()
                    .copied()
                    .filter(|s| *s != CALLED_BACK)
                    .collect()
            })
            .unwrap_or_default();
        let called_back = folded.is_some_and(|f| f.via.contains(&CALLED_BACK));
        let obfuscated = !steps.is_empty();
        let how = match (folded, obfuscated, called_back) {
            (None, ..) => String::new(),
            (Some(_), false, false) => " through a variable function".into(),
            (Some(_), false, true) => " through a callback".into(),
            (Some(_), true, _) => format!(" through a name built by {}", steps.join(", ")),
        };
        let code = CODE_SINKS.contains(&name);
        let command = COMMAND_SINKS.contains(&name);
        if code || command {
            let taint = self.args_taint(args, scope);
            if taint & REQUEST != 0 {
                self.add(
                    format!("request input reaches {name}(){how}"),
                    Severity::Critical,
                );
            } else if obfuscated {
                self.add(format!("{name}() called{how}"), Severity::Critical);
            }
            self.summarise(function, taint, &format!("{name}()"));
            if code {
                self.code(name, args, scope);
            }
            return;
        }
        if name == "preg_replace" {
            let pattern = args.first().and_then(|p| self.flow.folder.fold(*p, scope));
            if pattern.is_some_and(|p| evaluates_replacement(&p.value)) {
                let taint = self.args_taint(args, scope);
                let severity = if taint & REQUEST != 0 {
                    Severity::Critical
                } else {
                    Severity::High
                };
                let input = if taint & REQUEST != 0 {
                    "request input reaches "
                } else {
                    ""
                };
                self.add(
                    format!("{input}preg_replace() with the /e modifier (runs code)"),
                    severity,
                );
            }
            return;
        }
        let writes: Vec<_> = WRITE_SINKS.iter().filter(|(n, ..)| *n == name).collect();
        for (_, at, what) in &writes {
            if args
                .get(*at)
                .is_some_and(|a| self.flow.taint(*a, scope) & REQUEST != 0)
            {
                self.add(
                    format!("request input names the {what} {name}()"),
                    Severity::High,
                );
            }
        }
        if !writes.is_empty() {
            return;
        }
        if let Some((_, at)) = CALLBACK_SINKS.iter().find(|(n, _)| *n == name) {
            self.callback(function, name, *at, args, scope);
            return;
        }
        if let Some(sinks) = self.summaries.get(name).cloned() {
            for (param, sink) in sinks {
                let Some(arg) = args.get(param) else { continue };
                let taint = self.flow.taint(*arg, scope);
                if taint & REQUEST != 0 {
                    self.add(
                        format!("request input reaches {sink} through {name}(){how}"),
                        Severity::Critical,
                    );
                }
                self.summarise(function, taint, &sink);
            }
        }
    }

    /// `call_user_func($cb, ...)`, `array_map($cb, ...)`: a callback chosen by the
    /// request, or a named one judged as if called with the other arguments (a
    /// callback from an ordinary variable is how libraries work).
    fn callback(
        &mut self,
        function: Option<Node>,
        name: &str,
        at: usize,
        args: &[Node],
        scope: usize,
    ) {
        let Some(callback) = args.get(at) else { return };
        // `$control['callback']`: an entry of the application's own registry.
        let registry_entry = callback.kind() == "subscript_expression"
            && operands(*callback).first().is_some_and(|base| {
                base.kind() == "variable_name" && !is_superglobal(self.src(), *base)
            });
        if registry_entry {
            return;
        }
        if self.flow.direct_taint(*callback, scope) & REQUEST != 0 {
            self.add(
                format!("request input chooses the function called by {name}()"),
                Severity::Critical,
            );
            return;
        }
        let Some(folded) = self.flow.folder.fold(*callback, scope) else {
            return;
        };
        let Some(target) = folded.name() else { return };
        let mut rest: Vec<Node> = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, a)| *a)
            .collect();
        // `call_user_func_array($f, array($a, $b))` calls `$f($a, $b)`.
        if let ([list], true) = (&rest[..], name.ends_with("_array")) {
            let list = operands(*list).first().map_or(*list, |value| *value);
            if list.kind() == "array_creation_expression" {
                rest = operands(list)
                    .into_iter()
                    .filter_map(|element| operands(element).last().copied())
                    .collect();
            }
        }
        let through = Folded {
            via: [&folded.via[..], &[CALLED_BACK]].concat(),
            ..folded
        };
        self.named_call(function, &target, Some(&through), &rest, scope);
    }

    /// eval of a payload decoded from literals: say so, and keep the code to analyse.
    fn code(&mut self, name: &str, args: &[Node], scope: usize) {
        let Some(arg) = args.first() else { return };
        let folded = self.flow.folder.fold(*arg, scope);
        let steps: Vec<&str> = match &folded {
            Some(f) => f
                .via
                .iter()
                .copied()
                .filter(|op| DECODERS.contains(op))
                .collect(),
            None => self.decoders_called(*arg, scope),
        };
        if !steps.is_empty() {
            self.add(
                format!("{name} of decoded payload ({})", steps.join(", ")),
                Severity::Critical,
            );
        }
        if let Some(Folded {
            value: Value::Str(code),
            ..
        }) = folded
        {
            self.payloads.push(code);
        }
    }

    /// The decoding functions called within an expression (by plain or folded name).
    fn decoders_called(&self, expr: Node, scope: usize) -> Vec<&'static str> {
        let mut found = Vec::new();
        let mut stack = vec![expr];
        while let Some(node) = stack.pop() {
            if node.kind() == "function_call_expression" {
                let name = self.flow.resolved_name(node, scope);
                if let Some(op) = name.and_then(|n| DECODERS.iter().find(|d| **d == n)) {
                    if !found.contains(op) {
                        found.push(*op);
                    }
                }
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        found.reverse();
        found
    }
}

/// A `preg_replace` pattern (or list of them) with the `e` modifier, which evaluated
/// the replacement as PHP before PHP 7.
fn evaluates_replacement(pattern: &Value) -> bool {
    match pattern {
        Value::Array(items) => items.iter().any(|(_, p)| evaluates_replacement(p)),
        Value::Str(p) => pattern_evaluates(p),
        Value::Int(_) => false,
    }
}

/// Does the pattern `p` carry the `e` modifier after its closing delimiter?
pub fn pattern_evaluates(p: &[u8]) -> bool {
    let p = p.trim_ascii();
    let Some(&open) = p.first() else { return false };
    let close = match open {
        b'(' => b')',
        b'{' => b'}',
        b'[' => b']',
        b'<' => b'>',
        b if b.is_ascii_alphanumeric() || b == b'\\' => return false,
        b => b,
    };
    let Some(end) = p.iter().rposition(|b| *b == close).filter(|e| *e > 0) else {
        return false;
    };
    p[end + 1..].contains(&b'e')
}
