//! Counting distinct things a subject did (paths requested, user names tried) past
//! the few that a report lists.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::progress::plural;

/// Distinct values are counted up to this many (a scanner's run is some thousands).
const MAX_DISTINCT: usize = 100_000;

/// The key of a value in the counter engine's distinct windows and here.
pub fn hash_of(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Hashes of the distinct values seen, up to `MAX_DISTINCT`.
#[derive(Default, Debug)]
pub struct Distinct(HashSet<u64>);

impl Distinct {
    pub fn add(&mut self, value: &str) {
        self.insert(hash_of(value));
    }

    /// `add`, given the value's `hash_of`.
    pub fn insert(&mut self, hash: u64) {
        if self.0.len() < MAX_DISTINCT {
            self.0.insert(hash);
        }
    }

    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The count in words: "4574 paths", "100000+ paths" past the limit.
    pub fn words(&self, one: &str, many: &str) -> String {
        let words = plural(self.len(), one, many);
        if self.0.len() >= MAX_DISTINCT {
            words.replacen(' ', "+ ", 1)
        } else {
            words
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_value_once_and_says_when_it_stopped_counting() {
        let mut d = Distinct::default();
        for path in ["/a", "/b", "/a"] {
            d.add(path);
        }
        assert_eq!(d.words("path", "paths"), "2 paths");
        for i in 0..MAX_DISTINCT + 5 {
            d.add(&i.to_string());
        }
        assert_eq!(d.len(), MAX_DISTINCT as u64);
        assert_eq!(d.words("path", "paths"), format!("{MAX_DISTINCT}+ paths"));
    }
}
