//! Each user's known source networks (/24, /64). A success from a network not yet
//! known is `login-new-source`, except while the host is still learning: the first
//! `learning` (a week by default) after the first login fim saw, so a new install does
//! not report every usual source once. Loaded from and saved to the baseline.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::store::LoginSource;

/// Networks kept per user, and users kept: an attacker logging in from everywhere
/// cannot grow memory without bound (past the cap, nothing more is learned).
const MAX_NETWORKS: usize = 1024;
const MAX_USERS: usize = 100_000;

#[derive(Default)]
pub struct Learned {
    known: HashMap<String, HashMap<IpNet, (i64, i64)>>,
    /// The first login seen (learning starts there).
    since_ms: Option<i64>,
    learning_ms: i64,
    /// Sources learned or refreshed since the last `take_changes`.
    changed: Vec<(String, IpNet)>,
}

impl Learned {
    pub fn new(learning: Duration, saved: &[LoginSource]) -> Learned {
        let mut learned = Learned {
            learning_ms: learning.as_millis().min(i64::MAX as u128) as i64,
            ..Learned::default()
        };
        for (user, network, first, last) in saved {
            let Ok(net) = network.parse::<IpNet>() else {
                continue;
            };
            learned.since_ms = Some(learned.since_ms.map_or(*first, |s| s.min(*first)));
            learned
                .known
                .entry(user.clone())
                .or_default()
                .insert(net, (*first, *last));
        }
        learned
    }

    /// Note a success of `user` from `network` at `at_ms`: is it worth reporting (new,
    /// and the host has finished learning)?
    pub fn learn(&mut self, user: &str, network: IpNet, at_ms: i64) -> bool {
        let since = *self.since_ms.get_or_insert(at_ms);
        let full = self.known.len() >= MAX_USERS;
        let nets = match self.known.get_mut(user) {
            Some(nets) => nets,
            None if full => return false,
            None => self.known.entry(user.to_owned()).or_default(),
        };
        let count = nets.len();
        let new = match nets.get_mut(&network) {
            Some((_, last)) => {
                *last = (*last).max(at_ms);
                false
            }
            None if count >= MAX_NETWORKS => return false,
            None => {
                nets.insert(network, (at_ms, at_ms));
                true
            }
        };
        self.changed.push((user.to_owned(), network));
        new && at_ms.saturating_sub(since) >= self.learning_ms
    }

    /// What changed since the last call, to save.
    pub fn take_changes(&mut self) -> Vec<LoginSource> {
        let mut out: Vec<LoginSource> = Vec::new();
        for (user, net) in std::mem::take(&mut self.changed) {
            if out
                .iter()
                .any(|(u, n, ..)| *u == user && *n == net.to_string())
            {
                continue;
            }
            if let Some((first, last)) = self.known.get(&user).and_then(|n| n.get(&net)) {
                out.push((user, net.to_string(), *first, *last));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_first_week_only_learns_then_new_networks_are_reported() {
        let week = Duration::from_secs(7 * 86_400);
        let mut l = Learned::new(week, &[]);
        let a: IpNet = "192.0.2.0/24".parse().unwrap();
        let b: IpNet = "198.51.100.0/24".parse().unwrap();
        assert!(!l.learn("alice", a, 0), "learning");
        assert!(!l.learn("alice", b, 6 * DAY), "still learning");
        assert!(!l.learn("alice", b, 8 * DAY), "known");
        let c: IpNet = "203.0.113.0/24".parse().unwrap();
        assert!(l.learn("alice", c, 8 * DAY), "new after the week");
        assert!(l.learn("bob", a, 9 * DAY), "a network is new per user");
        let saved = l.take_changes();
        assert_eq!(saved.len(), 4);
        assert!(l.take_changes().is_empty());
        // What was saved is known after a restart, and the week is not restarted.
        let mut again = Learned::new(week, &saved);
        assert!(!again.learn("alice", c, 10 * DAY));
        let d: IpNet = "2001:db8::/64".parse().unwrap();
        assert!(again.learn("alice", d, 10 * DAY));
    }
}
