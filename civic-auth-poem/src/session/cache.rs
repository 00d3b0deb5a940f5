//! Recently opened sessions, so a busy user's requests skip decryption and
//! parsing (cookie sessions) or the store round trip (server sessions).
//! With a shared store that reports changes, a session changed or ended on
//! any machine is forgotten as the report arrives, and while reports are
//! not heard nothing is remembered (what was is forgotten when they stop).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::{
    state::Session,
    store::{Change, Listener, StoreChanges},
};
use crate::clock::Clock;

/// At most this many sessions are remembered; past it, the cache starts over.
const CAPACITY: usize = 10_000;
/// Keys are the last bytes of the cookie value: for a sealed session that
/// is its authentication tag, unique per value; the whole value is compared
/// on a hit, so a look-alike cannot borrow another session.
const KEY_LEN: usize = 24;

type Entries = Arc<Mutex<HashMap<String, Entry>>>;

pub(crate) struct OpenedSessions {
    ttl: Duration,
    clock: Clock,
    entries: Entries,
    /// A shared store's reports, and what they call here (kept alive by
    /// this cache; the reports hold it weakly).
    changes: Option<(StoreChanges, Arc<Listener>)>,
}

struct Entry {
    cookie: Arc<str>,
    session: Arc<Session>,
    until: Duration,
}

impl OpenedSessions {
    pub(crate) fn new(ttl: Duration, clock: Clock, changes: Option<StoreChanges>) -> Self {
        let entries = Entries::default();
        let changes = changes.map(|changes| {
            let shared = Arc::clone(&entries);
            let listener: Arc<Listener> = Arc::new(move |change| {
                let mut entries = lock(&shared);
                match change {
                    Change::Session(id) => entries.retain(|_, e| e.session.id.as_str() != id),
                    Change::Everything => entries.clear(),
                }
            });
            changes.listen(&listener);
            (changes, listener)
        });
        Self {
            ttl,
            clock,
            entries,
            changes,
        }
    }

    /// What to hand [`Self::put`] for a session about to be read: with
    /// a shared store, it is remembered only if nothing was reported
    /// between the read and the put.
    pub(crate) fn version(&self) -> u64 {
        self.changes
            .as_ref()
            .map_or(0, |(changes, _)| changes.version())
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
        let entries = lock(&self.entries);
        let entry = entries.get(Self::key(cookie))?;
        (entry.until > self.clock.ticks() && &*entry.cookie == cookie)
            .then(|| entry.session.clone())
    }

    /// Remembers `session`, read from the store at `version`.
    pub(crate) fn put(&self, cookie: &str, session: Arc<Session>, version: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = lock(&self.entries);
        // Checked under the lock a report's eviction takes.
        if let Some((changes, _)) = &self.changes {
            if !changes.current(version) {
                return;
            }
        }
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
        lock(&self.entries).clear();
    }

    /// Forgets the session opened from `cookie` (it was ended or replaced).
    pub(crate) fn forget(&self, cookie: &str) {
        let mut entries = lock(&self.entries);
        if entries
            .get(Self::key(cookie))
            .is_some_and(|e| &*e.cookie == cookie)
        {
            entries.remove(Self::key(cookie));
        }
    }
}

fn lock(entries: &Entries) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
    entries.lock().unwrap_or_else(|e| e.into_inner())
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
        let opened = OpenedSessions::new(Duration::from_secs(1), clock.clone().into(), None);
        let cookie = format!("{}{}", "a".repeat(40), "t".repeat(KEY_LEN));
        opened.put(&cookie, session(), 0);
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
        let opened = OpenedSessions::new(Duration::from_secs(60), Clock::system(), None);
        let (a, b) = ("a".repeat(30), "b".repeat(30));
        opened.put(&a, session(), 0);
        opened.put(&b, session(), 0);
        assert!(opened.get(&a).is_some() && opened.get(&b).is_some());
    }

    #[test]
    fn a_full_cache_drops_the_expired_and_then_starts_over() {
        let clock = ManualClock::now();
        let opened = OpenedSessions::new(Duration::from_secs(1), clock.clone().into(), None);
        let cookie = |i: usize| format!("cookie-{i:0>30}");
        for i in 0..CAPACITY / 2 {
            opened.put(&cookie(i), session(), 0);
        }
        clock.advance(Duration::from_millis(500));
        for i in CAPACITY / 2..CAPACITY {
            opened.put(&cookie(i), session(), 0);
        }
        // The first half ends exactly now: swept, the second half stays.
        clock.advance(Duration::from_millis(500));
        opened.put(&cookie(CAPACITY), session(), 0);
        assert_eq!(opened.entries.lock().unwrap().len(), CAPACITY / 2 + 1);
        assert!(opened.get(&cookie(CAPACITY - 1)).is_some());
        assert!(opened.get(&cookie(0)).is_none());
        // Full of live ones: it starts over rather than grow.
        for i in 0..CAPACITY {
            opened.put(&cookie(CAPACITY + 1 + i), session(), 0);
        }
        assert!(opened.entries.lock().unwrap().len() <= CAPACITY);
    }

    #[test]
    fn a_shared_stores_reports_evict_and_gate_what_is_remembered() {
        let changes = StoreChanges::new();
        let opened = OpenedSessions::new(
            Duration::from_secs(60),
            Clock::system(),
            Some(changes.clone()),
        );
        let (a, b) = ("a".repeat(30), "b".repeat(30));
        let (first, second) = (session(), session());
        // Not heard yet: nothing is remembered.
        opened.put(&a, first.clone(), opened.version());
        assert!(opened.get(&a).is_none());
        changes.set_connected(true);
        opened.put(&a, first.clone(), opened.version());
        opened.put(&b, second.clone(), opened.version());
        assert!(opened.get(&a).is_some() && opened.get(&b).is_some());
        // A report about one session forgets that one only.
        changes.changed(first.id.as_str());
        assert!(opened.get(&a).is_none());
        assert!(opened.get(&b).is_some());
        // A session read before a report is not remembered after it.
        let read_at = opened.version();
        changes.changed("another-session");
        opened.put(&a, first.clone(), read_at);
        assert!(opened.get(&a).is_none());
        // Unheard: nothing is trusted; heard again: everything was forgotten.
        changes.set_connected(false);
        assert!(opened.get(&b).is_none());
        changes.set_connected(true);
        assert!(opened.get(&b).is_none());
        // Dropped, the cache no longer listens.
        drop(opened);
        changes.changed(second.id.as_str());
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let opened = OpenedSessions::new(Duration::ZERO, Clock::system(), None);
        opened.put("cookie", session(), 0);
        assert!(opened.get("cookie").is_none());
    }
}
