//! Values that may be used once: login `state`s whose callback completed
//! and logout-token `jti`s, each remembered as long as it could be replayed.

use std::{collections::HashMap, sync::Mutex};

use crate::clock::Clock;

/// Past this many remembered values, expired ones are swept.
const SWEEP_AT: usize = 1024;

pub(crate) struct Spent {
    used: Mutex<HashMap<String, u64>>,
    clock: Clock,
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
        used.get(key)
            .is_some_and(|until| *until > self.clock.now_secs())
    }

    /// Marks `key` used until `until` (seconds); false when it already was.
    pub(crate) fn spend(&self, key: &str, until: u64) -> bool {
        let now = self.clock.now_secs();
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= SWEEP_AT {
            used.retain(|_, until| *until > now);
        }
        match used.insert(key.to_owned(), until) {
            Some(earlier) => earlier <= now,
            None => true,
        }
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
        clock.advance(std::time::Duration::from_secs(61));
        assert!(!spent.contains("s"));
    }
}
