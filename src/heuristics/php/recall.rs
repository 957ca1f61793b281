//! The last parses on this thread, kept so that code changed a little is not read
//! from scratch. `fim watch` checks the same files again as they are edited: a
//! region that did not change keeps its verdict, and a file with a line appended or
//! a function edited is re-parsed from its old tree (tree-sitter's incremental
//! parsing: only the edited part is lexed again). Vendored copies of one library
//! met during `init` are judged once.

use std::cell::RefCell;
use std::collections::VecDeque;

use tree_sitter::{InputEdit, Point, Tree};

use super::grammar::{self, Dialect};
use super::Finding;

/// Parses kept per thread, and the code they may hold in all: a few files' worth,
/// so that the memory a daemon keeps for them stays small.
const KEPT: usize = 16;
const KEPT_BYTES: usize = 1 << 20;

pub type Verdict = (Vec<Finding>, Vec<Vec<u8>>);

struct Parsed {
    code: Vec<u8>,
    dialect: Dialect,
    /// `None` when the tree had errors: an error-free tree is the only base an
    /// edit is parsed from, so a re-parse reads exactly as a fresh one.
    tree: Option<Tree>,
    verdict: Verdict,
}

thread_local! {
    static RECENT: RefCell<VecDeque<Parsed>> = const { RefCell::new(VecDeque::new()) };
}

/// `judge`'s verdict on `code`: the kept one when this code was judged lately, else
/// judged from a parse that starts from the most similar kept tree, if any.
pub fn verdict(code: &[u8], judge: impl FnOnce(&[u8], &Tree) -> Verdict) -> Verdict {
    let dialect = Dialect::of(code);
    let (kept, base) = RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some(at) = recent.iter().position(|p| p.code == code) {
            let parsed = recent.remove(at).expect("the position is in range");
            let verdict = parsed.verdict.clone();
            recent.push_front(parsed);
            return (Some(verdict), None);
        }
        (None, nearest(&recent, code, dialect))
    });
    if let Some(verdict) = kept {
        return verdict;
    }
    let parse = |base: Option<&Tree>| grammar::parse(code, dialect, base);
    // Error recovery may read the same bytes differently from another start: a
    // re-parse that found errors is done again from scratch.
    let tree = match parse(base.as_ref()) {
        Some(tree) if base.is_some() && tree.root_node().has_error() => parse(None),
        tree => tree,
    };
    let Some(tree) = tree else {
        return (Vec::new(), Vec::new());
    };
    let verdict = judge(code, &tree);
    let tree = (!tree.root_node().has_error()).then_some(tree);
    keep(Parsed {
        code: code.to_vec(),
        dialect,
        tree,
        verdict: verdict.clone(),
    });
    verdict
}

/// The kept tree of `dialect` that shares most of `code` at its two ends (at least
/// half of it), edited into a base for parsing `code`.
fn nearest(recent: &VecDeque<Parsed>, code: &[u8], dialect: Dialect) -> Option<Tree> {
    let (shared, old, tree) = recent
        .iter()
        .filter(|p| p.dialect == dialect)
        .filter_map(|p| Some((shared_ends(&p.code, code), &p.code, p.tree.as_ref()?)))
        .max_by_key(|((prefix, suffix), _, _)| prefix + suffix)?;
    if (shared.0 + shared.1) * 2 < code.len() {
        return None;
    }
    let mut tree = tree.clone();
    tree.edit(&edit(old, code, shared));
    Some(tree)
}

/// How many bytes `old` and `new` share at their start, and then at their end.
fn shared_ends(old: &[u8], new: &[u8]) -> (usize, usize) {
    let prefix = shared_start(old, new);
    let room = old.len().min(new.len()) - prefix;
    let suffix = shared_start_by(room, |at, len| {
        old[old.len() - at - len..old.len() - at] == new[new.len() - at - len..new.len() - at]
    });
    (prefix, suffix)
}

fn shared_start(a: &[u8], b: &[u8]) -> usize {
    shared_start_by(a.len().min(b.len()), |at, len| {
        a[at..at + len] == b[at..at + len]
    })
}

/// The length of the shared run, up to `limit`, given whether the `len` bytes `at`
/// into it are equal: compared a block at a time (a byte at a time was a twentieth
/// of a small file's check), then bytewise in the block that differs.
fn shared_start_by(limit: usize, same: impl Fn(usize, usize) -> bool) -> usize {
    const BLOCK: usize = 64;
    let mut at = 0;
    while at + BLOCK <= limit && same(at, BLOCK) {
        at += BLOCK;
    }
    while at < limit && same(at, 1) {
        at += 1;
    }
    at
}

/// The edit that turns `old` into `new`: the bytes between the shared ends replaced.
fn edit(old: &[u8], new: &[u8], (prefix, suffix): (usize, usize)) -> InputEdit {
    InputEdit {
        start_byte: prefix,
        old_end_byte: old.len() - suffix,
        new_end_byte: new.len() - suffix,
        start_position: point(old, prefix),
        old_end_position: point(old, old.len() - suffix),
        new_end_position: point(new, new.len() - suffix),
    }
}

/// Row and byte column of `at` in `text`, as tree-sitter counts them.
fn point(text: &[u8], at: usize) -> Point {
    let before = &text[..at];
    Point {
        row: memchr::memchr_iter(b'\n', before).count(),
        column: memchr::memrchr(b'\n', before).map_or(at, |n| at - n - 1),
    }
}

fn keep(parsed: Parsed) {
    if parsed.code.len() > KEPT_BYTES {
        return;
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        recent.push_front(parsed);
        let mut bytes = 0;
        let fits = recent
            .iter()
            .take(KEPT)
            .take_while(|p| {
                bytes += p.code.len();
                bytes <= KEPT_BYTES
            })
            .count();
        recent.truncate(fits);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(code: &[u8], dialect: Dialect) -> Tree {
        grammar::parse(code, dialect, None).expect("parses")
    }

    /// An edited tree re-parsed is the tree a fresh parse gives, wherever the edit
    /// falls: at the end, in the middle, replacing, growing or shrinking.
    #[test]
    fn a_reparse_from_an_edited_tree_reads_as_a_fresh_parse() {
        let old: &[u8] = b"<?php\nfunction f($a) {\n    return strlen($a);\n}\necho f('x');\n";
        let edits: &[&[u8]] = &[
            b"<?php\nfunction f($a) {\n    return strlen($a);\n}\necho f('x');\n// tail\n",
            b"<?php\nfunction f($a) {\n    system($_GET['c']);\n    return strlen($a);\n}\necho f('x');\n",
            b"<?php\nfunction g($b, $c) {\n    return strlen($a);\n}\necho f('x');\n",
            b"<?php\necho f('x');\n",
            b"<?php\r\nfunction f($a) {\r\n    return strlen($a);\n}\necho f('\xc3\xa9');\n",
        ];
        for (new, dialect) in edits
            .iter()
            .flat_map(|new| [(new, Dialect::Php), (new, Dialect::PhpOnly)])
        {
            let mut tree = fresh(old, dialect);
            tree.edit(&edit(old, new, shared_ends(old, new)));
            let reparsed = grammar::parse(new, dialect, Some(&tree)).expect("parses");
            assert_eq!(
                reparsed.root_node().to_sexp(),
                fresh(new, dialect).root_node().to_sexp(),
                "{dialect:?}: {}",
                String::from_utf8_lossy(new)
            );
        }
    }

    #[test]
    fn shared_ends_never_overlap() {
        assert_eq!(shared_ends(b"abcabc", b"abc"), (3, 0));
        assert_eq!(shared_ends(b"abc", b"abcabc"), (3, 0));
        assert_eq!(shared_ends(b"xabc", b"yabc"), (0, 3));
        assert_eq!(shared_ends(b"aXa", b"aYYa"), (1, 1));
        assert_eq!(shared_ends(b"", b"a"), (0, 0));
        // Past a block: the byte that differs is found inside its block.
        let old = vec![b'a'; 300];
        let mut new = old.clone();
        new[130] = b'b';
        assert_eq!(shared_ends(&old, &new), (130, 169));
        new.insert(200, b'c');
        assert_eq!(shared_ends(&old, &new), (130, 100));
    }

    #[test]
    fn points_count_rows_and_byte_columns() {
        assert_eq!(point(b"ab\ncd", 0), Point { row: 0, column: 0 });
        assert_eq!(point(b"ab\ncd", 2), Point { row: 0, column: 2 });
        assert_eq!(point(b"ab\ncd", 3), Point { row: 1, column: 0 });
        assert_eq!(point(b"ab\ncd", 5), Point { row: 1, column: 2 });
    }

    /// What a region is judged to do follows its code, not what was kept: the sink
    /// put in is found, and once taken out it is gone, whatever was judged before.
    #[test]
    fn a_kept_verdict_is_only_given_for_the_same_code() {
        let clean = b"<?php\n$n = count($_GET);\necho $n;\n".to_vec();
        let shell = b"<?php\n$n = count($_GET);\nsystem($_GET['c']);\necho $n;\n".to_vec();
        let judged = |code: &[u8]| super::super::parse_and_judge(code).0.len();
        assert_eq!(judged(&clean), 0);
        assert!(judged(&shell) > 0, "the sink put in is found");
        assert_eq!(judged(&clean), 0, "and is gone once taken out");
        assert!(judged(&shell) > 0, "the kept verdict of the same code");
    }

    #[test]
    fn what_is_kept_stays_within_its_bounds() {
        for n in 0..KEPT * 2 {
            super::super::parse_and_judge(format!("<?php echo {n};").as_bytes());
        }
        let big = vec![b' '; KEPT_BYTES / 2 + 1];
        super::super::parse_and_judge(&big);
        super::super::parse_and_judge(&[b"<?php ", &big[..]].concat());
        RECENT.with(|recent| {
            let recent = recent.borrow();
            assert!(recent.len() <= KEPT);
            assert!(recent.iter().map(|p| p.code.len()).sum::<usize>() <= KEPT_BYTES);
        });
    }
}
