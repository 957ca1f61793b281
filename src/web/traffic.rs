//! "Know your status codes": what `fim analyze --format text` says of the traffic
//! besides its detections. Bounded: past `MAX_KEYS` distinct clients or paths, new
//! ones are counted in the totals only.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::logs::record::AccessRecord;

const MAX_KEYS: usize = 200_000;
const TOP: usize = 10;

#[derive(Default)]
pub struct Traffic {
    requests: u64,
    /// 1xx..5xx, and anything else at 0.
    classes: [u64; 6],
    clients: HashMap<IpAddr, u64>,
    not_found: HashMap<String, u64>,
}

impl Traffic {
    pub fn add(&mut self, r: &AccessRecord<'_>) {
        self.requests += 1;
        let class = usize::from(r.status / 100);
        self.classes[if (1..=5).contains(&class) { class } else { 0 }] += 1;
        count(&mut self.clients, r.client);
        if r.status == 404 {
            let path = r.target.split('?').next().unwrap_or_default();
            if let Some(n) = self.not_found.get_mut(path) {
                *n += 1;
            } else if self.not_found.len() < MAX_KEYS {
                self.not_found.insert(path.to_owned(), 1);
            }
        }
    }

    /// The summary, as lines.
    pub fn lines(&self, unparsed: u64) -> Vec<String> {
        let mut lines = vec![format!(
            "{} requests{}",
            self.requests,
            match unparsed {
                0 => String::new(),
                n => format!(", {n} lines not understood"),
            }
        )];
        let classes: Vec<String> = (1..=5)
            .map(|c| format!("{c}xx {}", self.classes[c]))
            .chain((self.classes[0] > 0).then(|| format!("other {}", self.classes[0])))
            .collect();
        lines.push(format!("by status: {}", classes.join(", ")));
        lines.push("top clients:".into());
        for (client, n) in top(&self.clients) {
            lines.push(format!("  {n:>8}  {client}"));
        }
        if !self.not_found.is_empty() {
            lines.push("top 404 paths:".into());
            for (path, n) in top(&self.not_found) {
                lines.push(format!("  {n:>8}  {}", path.escape_debug()));
            }
        }
        lines
    }
}

fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u64>, key: K) {
    let full = map.len() >= MAX_KEYS;
    match map.get_mut(&key) {
        Some(n) => *n += 1,
        None if !full => {
            map.insert(key, 1);
        }
        None => {}
    }
}

fn top<K: Ord + Clone>(map: &HashMap<K, u64>) -> Vec<(K, u64)> {
    let mut all: Vec<(K, u64)> = map.iter().map(|(k, n)| (k.clone(), *n)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(TOP);
    all
}
