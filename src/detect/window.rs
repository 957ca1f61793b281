//! The one counter engine of every detector: per subject (a client, a network, a user,
//! a process, a probe) a sliding window of observations on record time, a threshold,
//! a cooldown after each report, and what the report will carry (count, first and last
//! time, evidence lines, a detector-specific aggregate).
//!
//! Memory stays bounded whatever the input: subjects whose window has passed are swept
//! out as the record time advances, and past `cap` live subjects the least recently
//! seen are dropped (counted in `dropped`, shown in the daemon's status).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hash;

use super::{Evidence, MAX_EVIDENCE};

/// How a detector fires for one subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Observations (distinct ones, when the detector counts distinct keys) within
    /// `window_ms` that make a report.
    pub threshold: u32,
    pub window_ms: i64,
    /// Silence after a report; what comes meanwhile is counted into the next one.
    pub cooldown_ms: i64,
}

/// What a report carries.
#[derive(Debug)]
pub struct Fired<A> {
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub evidence: Vec<Evidence>,
    pub aggregate: A,
    /// When the previous report of this subject was made, if this one tells what
    /// came during its cooldown.
    pub follows_ms: Option<i64>,
}

/// The usual decision: report when the window holds `threshold` observations.
pub fn at_threshold<A>(_: &A, reached: bool) -> bool {
    reached
}

struct Subject<A> {
    /// (time, distinct key) of the observations in the current window.
    window: VecDeque<(i64, u64)>,
    count: u64,
    first_ms: i64,
    last_ms: i64,
    evidence: Vec<Evidence>,
    aggregate: A,
    quiet_until: i64,
}

impl<A: Default> Subject<A> {
    fn new() -> Self {
        Subject {
            window: VecDeque::new(),
            count: 0,
            first_ms: 0,
            last_ms: 0,
            evidence: Vec::new(),
            aggregate: A::default(),
            quiet_until: i64::MIN,
        }
    }

    fn stale(&self, now_ms: i64, limits: &Limits) -> bool {
        now_ms >= self.quiet_until && self.last_ms < now_ms - limits.window_ms
    }
}

pub struct Tracker<K, A> {
    limits: Limits,
    evidence_cap: usize,
    /// aHash: keyed at random per process (addresses and user names come from
    /// attackers), and a fraction of SipHash's cost on every log line.
    subjects: HashMap<K, Subject<A>, ahash::RandomState>,
    cap: usize,
    next_sweep: usize,
    dropped: u64,
    /// Subjects in a cooldown, by its end: what came meanwhile is reported then.
    cooling: BinaryHeap<Reverse<(i64, K)>>,
}

fn take_report<A: Default>(subject: &mut Subject<A>) -> Fired<A> {
    let fired = Fired {
        count: subject.count,
        first_ms: subject.first_ms,
        last_ms: subject.last_ms,
        evidence: std::mem::take(&mut subject.evidence),
        aggregate: std::mem::take(&mut subject.aggregate),
        follows_ms: None,
    };
    subject.count = 0;
    fired
}

/// aHash keyed from the system's random source, once per tracker.
fn hasher() -> ahash::RandomState {
    let mut seed = [0u8; 32];
    // Without entropy (never on Linux) the key is fixed: correct, only predictable.
    let _ = getrandom::getrandom(&mut seed);
    let k = |i: usize| u64::from_le_bytes(seed[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    ahash::RandomState::with_seeds(k(0), k(1), k(2), k(3))
}

/// Live subjects kept per detector before the least recently seen are dropped.
pub const DEFAULT_CAP: usize = 100_000;

impl<K: Hash + Eq + Ord + Clone, A: Default> Tracker<K, A> {
    pub fn new(limits: Limits) -> Self {
        Tracker::with_cap(limits, DEFAULT_CAP)
    }

    pub fn with_cap(limits: Limits, cap: usize) -> Self {
        Tracker {
            limits,
            evidence_cap: MAX_EVIDENCE,
            subjects: HashMap::with_hasher(hasher()),
            cap: cap.max(16),
            next_sweep: 1024,
            dropped: 0,
            cooling: BinaryHeap::new(),
        }
    }

    /// Keep at most `n` evidence lines per subject before a report (memory: a detector
    /// that sees every request keeps fewer).
    pub fn evidence_cap(mut self, n: usize) -> Self {
        self.evidence_cap = n.min(MAX_EVIDENCE);
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Subjects dropped at the cap so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn live(&self) -> usize {
        self.subjects.len()
    }

    /// Whether `key` is in its cooldown at `now_ms`.
    pub fn quiet(&self, key: &K, now_ms: i64) -> bool {
        self.subjects
            .get(key)
            .is_some_and(|s| now_ms < s.quiet_until)
    }

    /// One observation of `key` at `at_ms`. `distinct`: the key of what is counted
    /// when the detector counts distinct things (paths, users); `None` counts every
    /// observation. `decide` says, from the aggregate and whether the threshold is
    /// reached, if this observation completes a report (a detector may judge by rates,
    /// or by one decisive line); the report is returned.
    pub fn observe(
        &mut self,
        key: &K,
        at_ms: i64,
        distinct: Option<u64>,
        evidence: impl FnOnce() -> Evidence,
        update: impl FnOnce(&mut A),
        decide: impl FnOnce(&A, bool) -> bool,
    ) -> Option<Fired<A>> {
        let limits = self.limits;
        if !self.subjects.contains_key(key) {
            self.make_room(at_ms);
            self.subjects.insert(key.clone(), Subject::new());
        }
        let subject = self.subjects.get_mut(key).expect("inserted above");
        let cooling = at_ms < subject.quiet_until;
        while subject
            .window
            .front()
            .is_some_and(|(t, _)| *t <= at_ms - limits.window_ms)
        {
            subject.window.pop_front();
        }
        if !cooling && subject.window.is_empty() {
            // A window passed without a report: what came before is not part of the
            // next one.
            subject.count = 0;
            subject.evidence.clear();
            subject.aggregate = A::default();
        }
        let seen = distinct.is_some_and(|d| subject.window.iter().any(|(_, k)| *k == d));
        if !seen {
            if subject.window.len() >= limits.threshold.max(1) as usize {
                subject.window.pop_front();
            }
            subject.window.push_back((at_ms, distinct.unwrap_or(0)));
        }
        if subject.count == 0 {
            subject.first_ms = at_ms;
        }
        subject.count += 1;
        subject.last_ms = subject.last_ms.max(at_ms);
        if subject.evidence.len() < self.evidence_cap {
            subject.evidence.push(evidence());
        }
        update(&mut subject.aggregate);
        if cooling {
            return None;
        }
        let reached = subject.window.len() >= limits.threshold.max(1) as usize;
        if !decide(&subject.aggregate, reached) {
            return None;
        }
        subject.window.clear();
        let fired = take_report(subject);
        self.cool(key.clone(), at_ms);
        Some(fired)
    }

    fn cool(&mut self, key: K, from_ms: i64) {
        let until = from_ms.saturating_add(self.limits.cooldown_ms);
        if let Some(subject) = self.subjects.get_mut(&key) {
            subject.quiet_until = until;
            self.cooling.push(Reverse((until, key)));
        }
    }

    /// The subjects whose cooldown has ended by `now_ms` (all of them at `i64::MAX`,
    /// the end of the records) and that were seen meanwhile: their report of what came
    /// since the previous one. Each then cools down again.
    pub fn due(&mut self, now_ms: i64) -> Vec<(K, Fired<A>)> {
        let mut out = Vec::new();
        while let Some(Reverse((until, _))) = self.cooling.peek() {
            if *until > now_ms {
                break;
            }
            let Some(Reverse((until, key))) = self.cooling.pop() else {
                break;
            };
            let Some(subject) = self.subjects.get_mut(&key) else {
                continue;
            };
            // An entry for an older cooldown of this subject, or nothing came since.
            if subject.quiet_until != until || subject.count == 0 {
                continue;
            }
            let fired = Fired {
                follows_ms: Some(until.saturating_sub(self.limits.cooldown_ms)),
                ..take_report(subject)
            };
            subject.window.clear();
            if now_ms == i64::MAX {
                subject.quiet_until = i64::MIN;
            } else {
                self.cool(key.clone(), until);
            }
            out.push((key, fired));
        }
        out
    }

    /// Before a new subject: sweep out the stale ones now and then, and past the cap
    /// drop the least recently seen tenth.
    fn make_room(&mut self, now_ms: i64) {
        if self.subjects.len() < self.next_sweep.min(self.cap) {
            return;
        }
        let limits = self.limits;
        self.subjects.retain(|_, s| !s.stale(now_ms, &limits));
        if self.subjects.len() >= self.cap {
            let mut seen: Vec<i64> = self.subjects.values().map(|s| s.last_ms).collect();
            let cut = seen.len() / 10;
            let (_, cutoff, _) = seen.select_nth_unstable(cut);
            let cutoff = *cutoff;
            let before = self.subjects.len();
            self.subjects.retain(|_, s| s.last_ms > cutoff);
            self.dropped += (before - self.subjects.len()) as u64;
        }
        self.next_sweep = (self.subjects.len() * 2).max(1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32) -> Evidence {
        Evidence {
            file: "log".into(),
            line: format!("line {n}").into(),
        }
    }

    fn limits(threshold: u32) -> Limits {
        Limits {
            threshold,
            window_ms: 10_000,
            cooldown_ms: 300_000,
        }
    }

    #[test]
    fn fires_at_threshold_then_cools_down_and_counts_since() {
        let mut t: Tracker<u32, ()> = Tracker::new(limits(3));
        let mut fired = vec![];
        for i in 0..10 {
            if let Some(f) = t.observe(&1, i * 1000, None, || ev(i as u32), |_| {}, at_threshold) {
                fired.push((i, f.count, f.evidence.len()));
            }
        }
        assert_eq!(fired, vec![(2, 3, 3)]);
        // After the cooldown, the next burst reports what came since the first report.
        let mut later = None;
        for i in 0..3 {
            later =
                later.or(t.observe(&1, 400_000 + i * 1000, None, || ev(0), |_| {}, at_threshold));
        }
        let later = later.expect("fires again after the cooldown");
        assert_eq!(later.count, 3, "observations before the gap were reset");
        assert_eq!(later.follows_ms, None, "a burst of its own");
    }

    #[test]
    fn what_came_during_the_cooldown_is_reported_when_it_ends() {
        let mut t: Tracker<u32, ()> = Tracker::new(limits(1));
        assert!(t
            .observe(&1, 0, None, || ev(0), |_| {}, at_threshold)
            .is_some());
        for i in 1..=9 {
            assert!(t
                .observe(&1, i * 1000, None, || ev(0), |_| {}, at_threshold)
                .is_none());
        }
        assert!(t.due(299_999).is_empty());
        let due = t.due(300_000);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.count, 9);
        assert_eq!(due[0].1.follows_ms, Some(0), "it follows the report at 0");
        assert!(t.due(i64::MAX).is_empty(), "nothing came since");
    }

    #[test]
    fn slow_observations_never_fire() {
        let mut t: Tracker<u32, ()> = Tracker::new(limits(3));
        for i in 0..100 {
            assert!(t
                .observe(&1, i * 6000, None, || ev(0), |_| {}, at_threshold)
                .is_none());
        }
    }

    #[test]
    fn distinct_keys_count_once() {
        let mut t: Tracker<u32, ()> = Tracker::new(limits(3));
        for i in 0..10 {
            assert!(t
                .observe(&1, i, Some(7), || ev(0), |_| {}, at_threshold)
                .is_none());
        }
        assert!(t
            .observe(&1, 11, Some(8), || ev(0), |_| {}, at_threshold)
            .is_none());
        let f = t
            .observe(&1, 12, Some(9), || ev(0), |_| {}, at_threshold)
            .unwrap();
        assert_eq!(f.count, 12);
        assert!(f.evidence.len() <= MAX_EVIDENCE);
    }

    #[test]
    fn memory_is_bounded_by_the_cap() {
        let mut t: Tracker<u32, ()> = Tracker::with_cap(limits(5), 1000);
        for i in 0..100_000u32 {
            t.observe(&i, 5, None, || ev(i), |_| {}, at_threshold);
        }
        assert!(t.live() <= 1000, "{} live", t.live());
        assert!(t.dropped() > 90_000);
    }

    #[test]
    fn stale_subjects_are_swept() {
        let mut t: Tracker<u32, ()> = Tracker::with_cap(limits(5), 1_000_000);
        for i in 0..100_000u32 {
            t.observe(&i, i as i64 * 100, None, || ev(i), |_| {}, at_threshold);
        }
        assert!(t.live() < 5000, "{} live", t.live());
        assert_eq!(t.dropped(), 0);
    }
}
