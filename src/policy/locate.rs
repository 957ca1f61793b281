//! Where a key of a hand-read table is written. `[web]`, `[logins]` and their
//! `[FAMILY.KIND]` tables are read as plain tables (toml keeps no spans inside a table
//! of tables), so a message's line is found in the text: the key's line in its table,
//! else the table's header, else its parent's.

pub(super) struct Locator<'t> {
    text: &'t str,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Locator<'t> {
        Locator { text }
    }

    /// The byte offset of `key = ...` in table `path`, or of the table itself.
    pub fn key(&self, path: &[&str], key: &str) -> usize {
        self.find_key(path, key).unwrap_or_else(|| self.table(path))
    }

    /// The byte offset of table `path`'s header, or of the line of its parent that
    /// names it (`flood.threshold = 5`, `flood = { ... }`), or of the parent.
    pub fn table(&self, path: &[&str]) -> usize {
        let mut path = path;
        while let Some((last, parent)) = path.split_last() {
            if let Some(at) = self.header(path) {
                return at;
            }
            if let Some(at) = self.find_key(parent, last) {
                return at;
            }
            path = parent;
        }
        0
    }

    /// The lines of the text with their byte offsets.
    fn lines(&self) -> impl Iterator<Item = (usize, &'t str)> {
        self.text.split_inclusive('\n').scan(0, |at, line| {
            let start = *at;
            *at += line.len();
            Some((start, line))
        })
    }

    fn header(&self, path: &[&str]) -> Option<usize> {
        self.lines()
            .find(|(_, line)| header_of(line).is_some_and(|h| names(&h, path)))
            .map(|(at, _)| at)
    }

    /// `key = ...` (or `key.more = ...`) among the lines of table `path`.
    fn find_key(&self, path: &[&str], key: &str) -> Option<usize> {
        let mut inside = path.is_empty();
        for (at, line) in self.lines() {
            if let Some(header) = header_of(line) {
                inside = names(&header, path);
                continue;
            }
            if inside && first_key(line).is_some_and(|k| k == key) {
                return Some(at);
            }
        }
        None
    }
}

/// The dotted name of a `[a.b]` header line (not `[[a]]`).
fn header_of(line: &str) -> Option<Vec<String>> {
    let inner = line.trim_start().strip_prefix('[')?;
    if inner.starts_with('[') {
        return Some(vec![String::new()]); // an array table ends the table before it
    }
    let (inner, _) = inner.split_once(']')?;
    Some(inner.split('.').map(unquote).collect())
}

fn names(header: &[String], path: &[&str]) -> bool {
    header.len() == path.len() && header.iter().zip(path).all(|(h, p)| h == p)
}

/// The first part of the key a `key = value` line sets.
fn first_key(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let first = key.split('.').next()?;
    Some(unquote(first))
}

fn unquote(part: &str) -> String {
    part.trim().trim_matches(['"', '\'']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tables_and_their_fallbacks() {
        let text = "[[watch]]\npath = \"/srv\"\n\n[web]\nallow = []\nflood.window = \"1m\"\n\n\
                    [web.\"not-found-burst\"]\nthreshold = 5\n\n[logins]\nfilez = []\n";
        let loc = Locator::new(text);
        let line = |at: usize| text[..at].matches('\n').count() + 1;
        assert_eq!(line(loc.key(&["web", "not-found-burst"], "threshold")), 9);
        assert_eq!(line(loc.key(&["web", "not-found-burst"], "window")), 8);
        assert_eq!(line(loc.table(&["web", "flood"])), 6);
        assert_eq!(line(loc.key(&["web", "flood"], "window")), 6);
        assert_eq!(line(loc.key(&["logins"], "filez")), 12);
        assert_eq!(line(loc.table(&["web", "sqli"])), 4);
        assert_eq!(line(loc.key(&["processes"], "interval")), 1);
    }
}
