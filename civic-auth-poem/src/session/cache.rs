//! Recently opened sessions, so a busy user's requests skip decryption and
//! parsing (cookie sessions) or the store round trip (server sessions).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::state::Session;
use crate::clock::Clock;

/// At most this many sessions are remembered; past it, the cache starts over.
const CAPACITY: usize = 10_000;
/// Keys are the last bytes of the cookie value: for a sealed session that
/// is its authentication tag, unique per value; the whole value is compared
/// on a hit, so a look-alike cannot borrow another session.
const KEY_LEN: usize = 24;

pub(crate) struct OpenedSessions {
    ttl: Duration,
    clock: Clock,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    cookie: Arc<str>,
    session: Arc<Session>,
    until: Duration,
}

impl OpenedSessions {
    pub(crate) fn new(ttl: Duration, clock: Clock) -> Self {
        Self {
            ttl,
            clock,
            entries: Mutex::default(),
        }
    }

    fn key(cookie: &str) -> &str {
        cookie
            .get(cookie.len().saturating_sub(KEY_LEN)..)
            .unwrap_or(cookie)
    }

    /// The session opened from exactly this cookie value, if still fresh.
    pub(crate) fn get(&self, cookie: &str) -> Option<Arc<Session>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(Self::key(cookie))?;
        (entry.until > self.clock.ticks() && &*entry.cookie == cookie)
            .then(|| entry.session.clone())
    }

    pub(crate) fn put(&self, cookie: &str, session: Arc<Session>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let now = self.clock.ticks();
            entries.retain(|_, e| e.until > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            Self::key(cookie).to_owned(),
            Entry {
                cookie: cookie.into(),
                session,
                until: self.clock.ticks_after(self.ttl),
            },
        );
    }

    /// Forgets everything (sessions were ended by some other key).
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Forgets the session opened from `cookie` (it was ended or replaced).
    pub(crate) fn forget(&self, cookie: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries
            .get(Self::key(cookie))
            .is_some_and(|e| &*e.cookie == cookie)
        {
            entries.remove(Self::key(cookie));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::ManualClock, oidc::client::TokenSet, user::CivicUser};

    fn session() -> Arc<Session> {
        let user: CivicUser = serde_json::from_value(serde_json::json!({"id": "u"})).unwrap();
        let tokens = TokenSet {
            access_token: "at".into(),
            expires_in: None,
            refresh_token: None,
            id_token: None,
            dpop_bound: false,
        };
        Arc::new(Session::new(user, tokens, None, Duration::from_secs(60), 0))
    }

    #[test]
    fn a_session_is_reused_only_for_its_exact_cookie_and_only_while_fresh() {
        let clock = ManualClock::now();
        let opened = OpenedSessions::new(Duration::from_secs(1), clock.clone().into());
        let cookie = format!("{}{}", "a".repeat(40), "t".repeat(KEY_LEN));
        opened.put(&cookie, session());
        assert!(opened.get(&cookie).is_some());
        // Same key (the last bytes), another value.
        let look_alike = format!("{}{}", "b".repeat(40), "t".repeat(KEY_LEN));
        assert!(opened.get(&look_alike).is_none());
        opened.forget(&look_alike);
        assert!(
            opened.get(&cookie).is_some(),
            "a look-alike cannot evict it"
        );
        clock.advance(Duration::from_secs(1));
        assert!(opened.get(&cookie).is_none(), "expired");
    }

    #[test]
    fn sessions_are_remembered_side_by_side() {
        let opened = OpenedSessions::new(Duration::from_secs(60), Clock::system());
        let (a, b) = ("a".repeat(30), "b".repeat(30));
        opened.put(&a, session());
        opened.put(&b, session());
        assert!(opened.get(&a).is_some() && opened.get(&b).is_some());
    }

    #[test]
    fn a_full_cache_drops_the_expired_and_then_starts_over() {
        let clock = ManualClock::now();
        let opened = OpenedSessions::new(Duration::from_secs(1), clock.clone().into());
        let cookie = |i: usize| format!("cookie-{i:0>30}");
        for i in 0..CAPACITY / 2 {
            opened.put(&cookie(i), session());
        }
        clock.advance(Duration::from_millis(500));
        for i in CAPACITY / 2..CAPACITY {
            opened.put(&cookie(i), session());
        }
        // The first half ends exactly now: swept, the second half stays.
        clock.advance(Duration::from_millis(500));
        opened.put(&cookie(CAPACITY), session());
        assert_eq!(opened.entries.lock().unwrap().len(), CAPACITY / 2 + 1);
        assert!(opened.get(&cookie(CAPACITY - 1)).is_some());
        assert!(opened.get(&cookie(0)).is_none());
        // Full of live ones: it starts over rather than grow.
        for i in 0..CAPACITY {
            opened.put(&cookie(CAPACITY + 1 + i), session());
        }
        assert!(opened.entries.lock().unwrap().len() <= CAPACITY);
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let opened = OpenedSessions::new(Duration::ZERO, Clock::system());
        opened.put("cookie", session());
        assert!(opened.get("cookie").is_none());
    }
}
