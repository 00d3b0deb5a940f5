//! Recently opened sessions, so a busy user's requests skip decryption and
//! parsing (cookie sessions) or the store round trip (server sessions).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::Session;

/// At most this many sessions are remembered; past it, the cache starts over.
const CAPACITY: usize = 10_000;
/// Keys are the last bytes of the cookie value: for a sealed session that
/// is its authentication tag, unique per value; the whole value is compared
/// on a hit, so a look-alike cannot borrow another session.
const KEY_LEN: usize = 24;

pub(crate) struct OpenedSessions {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    cookie: Arc<str>,
    session: Arc<Session>,
    until: Instant,
}

impl OpenedSessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
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
        (entry.until > Instant::now() && &*entry.cookie == cookie).then(|| entry.session.clone())
    }

    pub(crate) fn put(&self, cookie: &str, session: Arc<Session>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let now = Instant::now();
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
                until: Instant::now() + self.ttl,
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
