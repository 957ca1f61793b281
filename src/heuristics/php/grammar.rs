//! The two dialects of tree-sitter-php, and which one reads a piece of code. The
//! `php` dialect lets HTML (`?> … <?php`) appear between any two tokens, which makes
//! every parse state consider it; `php_only` reads code after one opening tag and
//! parses a quarter faster. Code that never leaves PHP gives the same tree in both,
//! so it is read as `php_only`, and anything else as `php`.

use std::cell::RefCell;
use std::sync::LazyLock;

use tree_sitter::{Language, Node, Parser, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PHP with HTML around and between its blocks.
    Php,
    /// One block of PHP, from its opening tag to the end (or a closing tag at the end).
    PhpOnly,
}

impl Dialect {
    /// The dialect that reads `code` fastest and as the `php` dialect would: `php_only`
    /// for code that opens with `<?php` and never closes it before its end.
    pub fn of(code: &[u8]) -> Dialect {
        let opens = code.len() > 5
            && code[..5].eq_ignore_ascii_case(b"<?php")
            && code[5].is_ascii_whitespace();
        let body = code.trim_ascii_end();
        let body = body.strip_suffix(b"?>").unwrap_or(body);
        if opens && memchr::memmem::find(body, b"?>").is_none() {
            Dialect::PhpOnly
        } else {
            Dialect::Php
        }
    }

    fn language(self) -> Language {
        match self {
            Dialect::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Dialect::PhpOnly => tree_sitter_php::LANGUAGE_PHP_ONLY.into(),
        }
    }
}

thread_local! {
    static PARSERS: RefCell<[Parser; 2]> = RefCell::new(
        [Dialect::Php, Dialect::PhpOnly].map(|dialect| {
            let mut parser = Parser::new();
            parser
                .set_language(&dialect.language())
                .expect("the PHP grammars match the tree-sitter version");
            parser
        }),
    );
}

/// `code` parsed in `dialect`, from `base` (an edited tree of the same dialect) if any.
pub fn parse(code: &[u8], dialect: Dialect, base: Option<&Tree>) -> Option<Tree> {
    PARSERS.with(|parsers| parsers.borrow_mut()[dialect as usize].parse(code, base))
}

/// The node kinds the analysis looks at, by kind id of a dialect: comparing each
/// node's kind name with a list of names was a fifth of the judgement.
pub struct Kinds {
    looked_at: Vec<bool>,
    functions: Vec<bool>,
    closures: Vec<bool>,
}

static KINDS: LazyLock<[Kinds; 2]> = LazyLock::new(|| {
    [Dialect::Php, Dialect::PhpOnly].map(|dialect| {
        let language = dialect.language();
        Kinds {
            looked_at: kind_ids(&language, LOOKED_AT),
            functions: kind_ids(&language, &["function_definition", "method_declaration"]),
            closures: kind_ids(&language, &["anonymous_function"]),
        }
    })
});

const LOOKED_AT: &[&str] = &[
    "assignment_expression",
    "augmented_assignment_expression",
    "reference_assignment_expression",
    "foreach_statement",
    "global_declaration",
    "function_definition",
    "method_declaration",
    "function_call_expression",
    "object_creation_expression",
    "include_expression",
    "include_once_expression",
    "require_expression",
    "require_once_expression",
    "shell_command_expression",
    "dynamic_variable_name",
    "string",
    "encapsed_string",
    "nowdoc",
    "heredoc",
];

impl Kinds {
    /// The kind tables of the dialect `tree` was parsed in.
    pub fn of(tree: &Tree) -> &'static Kinds {
        let php_only = tree.language().name() == Some("php_only");
        &KINDS[usize::from(php_only)]
    }

    pub fn looked_at(&self, node: Node) -> bool {
        is_kind(&self.looked_at, node)
    }

    pub fn function(&self, node: Node) -> bool {
        is_kind(&self.functions, node)
    }

    pub fn closure(&self, node: Node) -> bool {
        is_kind(&self.closures, node)
    }
}

fn is_kind(kinds: &[bool], node: Node) -> bool {
    kinds.get(usize::from(node.kind_id())) == Some(&true)
}

/// Which kind ids of `language` have one of these names (a name can have several
/// ids: a named node, an alias, a keyword).
fn kind_ids(language: &Language, kinds: &[&str]) -> Vec<bool> {
    (0..language.node_kind_count())
        .map(|id| {
            u16::try_from(id)
                .ok()
                .and_then(|id| language.node_kind_for_id(id))
                .is_some_and(|kind| kinds.contains(&kind))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_that_stays_in_php_is_read_as_php_only() {
        assert_eq!(Dialect::of(b"<?php\necho 1;\n"), Dialect::PhpOnly);
        assert_eq!(Dialect::of(b"<?PHP echo 1; ?>\n"), Dialect::PhpOnly);
        assert_eq!(Dialect::of(b"<?php echo 1; ?><b>x</b>"), Dialect::Php);
        assert_eq!(Dialect::of(b"<?php echo '?>'; "), Dialect::Php);
        assert_eq!(Dialect::of(b"<html><?php echo 1;"), Dialect::Php);
        assert_eq!(Dialect::of(b"<?= 1 ?>"), Dialect::Php);
        assert_eq!(Dialect::of(b"<?phpx"), Dialect::Php);
    }
}
