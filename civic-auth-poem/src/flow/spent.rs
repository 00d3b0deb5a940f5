//! Values that may be used once: login `state`s whose callback completed
//! and logout-token `jti`s, each remembered as long as it could be replayed.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::Mutex,
};

use crate::clock::Clock;

/// At most this many values are remembered; past it the soonest to expire
/// goes (a login's state is also guarded by its deleted cookie and the
/// provider's single-use code).
const CAPACITY: usize = 100_000;

pub(crate) struct Spent {
    used: Mutex<Used>,
    clock: Clock,
}

#[derive(Default)]
struct Used {
    until: HashMap<String, u64>,
    /// The same values by expiry, soonest first: expired ones are dropped
    /// from the front, never by a scan of them all.
    expiry: BinaryHeap<Reverse<(u64, String)>>,
}

impl Used {
    /// Drops what expired by `now`, and the soonest beyond `keep` values.
    fn sweep(&mut self, now: u64, keep: usize) {
        while let Some(Reverse((until, _))) = self.expiry.peek() {
            if *until > now && self.expiry.len() <= keep {
                break;
            }
            let Some(Reverse((until, key))) = self.expiry.pop() else {
                break;
            };
            // A value spent again later has a newer entry: keep that one.
            if self.until.get(&key) == Some(&until) {
                self.until.remove(&key);
            }
        }
    }
}

impl Spent {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            used: Mutex::default(),
            clock,
        }
    }

    /// Whether `key` was used and could still be replayed.
    pub(crate) fn contains(&self, key: &str) -> bool {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.until
            .get(key)
            .is_some_and(|until| *until > self.clock.now_secs())
    }

    /// Marks `key` used until `until` (seconds); false when it already was.
    pub(crate) fn spend(&self, key: &str, until: u64) -> bool {
        let now = self.clock.now_secs();
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // What is left after the sweep could still be replayed.
        used.sweep(now, CAPACITY - 1);
        if used.until.contains_key(key) {
            return false;
        }
        used.until.insert(key.to_owned(), until);
        used.expiry.push(Reverse((until, key.to_owned())));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_value_is_spent_once_until_it_expires() {
        let clock = ManualClock::now();
        let spent = Spent::new(clock.clone().into());
        let until = Clock::from(clock.clone()).now_secs() + 60;
        assert!(spent.spend("s", until));
        assert!(spent.contains("s"));
        assert!(!spent.spend("s", until));
        assert!(spent.spend("t", until));
        // Spent up to, not at, its end.
        clock.advance(std::time::Duration::from_secs(59));
        assert!(spent.contains("s"));
        assert!(!spent.spend("s", until));
        clock.advance(std::time::Duration::from_secs(1));
        assert!(!spent.contains("s"));
        assert!(spent.spend("s", until + 60), "usable again once forgotten");
    }

    #[test]
    fn at_most_capacity_values_are_remembered() {
        let clock = ManualClock::now();
        let spent = Spent::new(clock.clone().into());
        let until = Clock::from(clock).now_secs() + 600;
        for i in 0..=CAPACITY {
            spent.spend(&i.to_string(), until + i as u64);
        }
        let used = spent.used.lock().unwrap();
        assert_eq!(used.until.len(), CAPACITY);
        assert!(!used.until.contains_key("0"), "the soonest to expire went");
    }

    #[test]
    fn expired_values_are_swept_and_the_set_is_bounded() {
        let clock = ManualClock::now();
        let spent = Spent::new(clock.clone().into());
        let now = Clock::from(clock.clone()).now_secs();
        for i in 0..10 {
            assert!(spent.spend(&format!("old-{i}"), now + 10));
        }
        clock.advance(std::time::Duration::from_secs(10));
        assert!(spent.spend("new", now + 100));
        let used = spent.used.lock().unwrap();
        assert_eq!(used.until.len(), 1, "the expired ones were dropped");
        assert_eq!(used.expiry.len(), 1);
        drop(used);
        let mut used = Used::default();
        for i in 0..5u64 {
            used.until.insert(format!("k{i}"), now + 100 + i);
            used.expiry.push(Reverse((now + 100 + i, format!("k{i}"))));
        }
        used.sweep(now, 3);
        assert_eq!(used.until.len(), 3);
        assert!(!used.until.contains_key("k0") && used.until.contains_key("k4"));
    }
}
