//! Sessions in the process's memory: bounded and expiring.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use super::store::{Record, SessionStore, StoreFuture};
use crate::clock::Clock;

/// `now + ttl`, saturating: a configured "forever" must not overflow.
fn later(now: Duration, ttl: Duration) -> Duration {
    now.saturating_add(ttl)
}

/// Sessions kept in this process; they end when it restarts. At most
/// `capacity` live sessions (default 100,000): past that, expired ones are
/// dropped, then the ones closest to expiry.
///
/// ```
/// use civic_auth_poem::session::MemoryStore;
///
/// let store = MemoryStore::with_capacity(10_000);
/// // Tests of idle timeouts move time with the app's clock:
/// let clock = civic_auth_poem::ManualClock::now();
/// let store = MemoryStore::default().with_clock(clock.clone());
/// # let _ = store;
/// ```
pub struct MemoryStore {
    capacity: usize,
    clock: Clock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    records: HashMap<String, Stored>,
    locks: HashMap<String, (String, Duration)>,
}

/// Exactly as long as its contents (a serialised value's buffer has room
/// to spare), since a busy store holds many.
struct Stored {
    value: Box<[u8]>,
    tags: Box<[Box<str>]>,
    expires: Duration,
}

impl Stored {
    /// Whether the record is live at `now`: it ends at its expiry.
    fn live(&self, now: Duration) -> bool {
        self.expires > now
    }
}

/// Whether a lock taken `until` is still held at `now`.
fn held(until: Duration, now: Duration) -> bool {
    until > now
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl MemoryStore {
    /// A store of at most `capacity` sessions.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: Clock::system(),
            state: Mutex::default(),
        }
    }

    /// Expires records by `clock` (the system clock by default), the one
    /// the app's config has.
    pub fn with_clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many sessions are stored (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.state().records.len()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        let now = self.clock.ticks();
        let value = self
            .state()
            .records
            .get_mut(id)
            .filter(|r| r.live(now))
            .map(|r| {
                r.expires = later(now, ttl);
                r.value.to_vec()
            });
        Box::pin(async move { Ok(value) })
    }

    fn save<'a>(&'a self, record: Record<'a>, only_if_present: bool) -> StoreFuture<'a, bool> {
        let now = self.clock.ticks();
        let mut state = self.state();
        let present = state.records.get(record.id).is_some_and(|r| r.live(now));
        if only_if_present && !present {
            return Box::pin(async { Ok(false) });
        }
        if state.records.len() >= self.capacity && !present {
            state.records.retain(|_, r| r.live(now));
            while state.records.len() >= self.capacity {
                let soonest = state
                    .records
                    .iter()
                    .min_by_key(|(_, r)| r.expires)
                    .map(|(k, _)| k.clone());
                match soonest {
                    Some(key) => state.records.remove(&key),
                    None => break,
                };
            }
        }
        state.records.insert(
            record.id.to_owned(),
            Stored {
                value: record.value.into_boxed_slice(),
                tags: record.tags.iter().map(|tag| tag.as_str().into()).collect(),
                expires: later(now, record.ttl),
            },
        );
        Box::pin(async { Ok(true) })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.state().records.remove(id);
        Box::pin(async { Ok(()) })
    }

    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, Vec<(String, Vec<u8>)>> {
        let now = self.clock.ticks();
        // Expired records go too, but only live ones are ended sessions.
        let mut removed = Vec::new();
        self.state().records.retain(|id, r| {
            let tagged = r.tags.iter().any(|t| &**t == tag);
            if tagged && r.live(now) {
                removed.push((id.clone(), r.value.to_vec()));
            }
            !tagged
        });
        Box::pin(async move { Ok(removed) })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let now = self.clock.ticks();
        let mut state = self.state();
        let free = state
            .locks
            .get(key)
            .is_none_or(|(_, until)| !held(*until, now));
        if free {
            state.locks.retain(|_, (_, until)| held(*until, now));
            state
                .locks
                .insert(key.to_owned(), (owner.to_owned(), later(now, ttl)));
        }
        Box::pin(async move { Ok(free) })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        let mut state = self.state();
        if state
            .locks
            .get(key)
            .is_some_and(|(holder, _)| holder == owner)
        {
            state.locks.remove(key);
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const MINUTE: Duration = Duration::from_secs(60);
    const MILLI: Duration = Duration::from_millis(1);

    async fn put(store: &MemoryStore, id: &str, ttl: Duration) -> bool {
        let record = Record {
            id,
            value: id.into(),
            tags: &[],
            ttl,
            lifetime: ttl,
        };
        store.save(record, false).await.unwrap()
    }

    #[tokio::test]
    async fn records_expire() {
        let store = MemoryStore::default();
        put(&store, "a", Duration::ZERO).await;
        assert_eq!(store.load("a", MINUTE).await.unwrap(), None);
        put(&store, "b", MINUTE).await;
        assert!(store.load("b", Duration::ZERO).await.unwrap().is_some());
        assert_eq!(
            store.load("b", MINUTE).await.unwrap(),
            None,
            "a load restarts the expiry"
        );
    }

    #[tokio::test]
    async fn the_store_is_bounded() {
        let store = MemoryStore::with_capacity(2);
        put(&store, "a", MINUTE).await;
        put(&store, "b", MINUTE * 2).await;
        put(&store, "c", MINUTE * 3).await;
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.load("a", MINUTE).await.unwrap(),
            None,
            "closest to expiry goes"
        );
        assert!(store.load("c", MINUTE).await.unwrap().is_some());
        // A store with room does not sweep at each save (a scan of every
        // session per login): expired records wait until it is full.
        let store = MemoryStore::with_capacity(3);
        put(&store, "gone", Duration::ZERO).await;
        put(&store, "b", MINUTE).await;
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn a_replace_writes_only_over_a_live_record() {
        let store = MemoryStore::default();
        let record = |id| Record {
            id,
            value: b"v".to_vec(),
            tags: &[],
            ttl: MINUTE,
            lifetime: MINUTE,
        };
        assert!(!store.save(record("a"), true).await.unwrap());
        assert_eq!(store.load("a", MINUTE).await.unwrap(), None);
        put(&store, "a", MINUTE).await;
        assert!(store.save(record("a"), true).await.unwrap());
    }

    #[tokio::test]
    async fn a_lock_has_one_holder_until_released_or_expired() {
        let store = MemoryStore::default();
        assert!(store.try_lock("k", "a", MINUTE).await.unwrap());
        assert!(!store.try_lock("k", "b", MINUTE).await.unwrap());
        store.unlock("k", "b").await.unwrap();
        assert!(
            !store.try_lock("k", "b", MINUTE).await.unwrap(),
            "only the holder unlocks"
        );
        store.unlock("k", "a").await.unwrap();
        assert!(store.try_lock("k", "b", Duration::ZERO).await.unwrap());
        assert!(
            store.try_lock("k", "c", MINUTE).await.unwrap(),
            "expired lock"
        );
    }

    fn tagged<'a>(id: &'a str, tags: &'a [String]) -> Record<'a> {
        Record {
            id,
            value: id.into(),
            tags,
            ttl: MINUTE,
            lifetime: MINUTE,
        }
    }

    #[tokio::test]
    async fn records_and_locks_end_exactly_at_their_time() {
        let clock = ManualClock::now();
        let store = MemoryStore::default().with_clock(clock.clone());
        put(&store, "a", MINUTE).await;
        clock.advance(MINUTE - MILLI);
        assert!(store.load("a", MINUTE).await.unwrap().is_some());
        clock.advance(MINUTE);
        assert_eq!(
            store.load("a", MINUTE).await.unwrap(),
            None,
            "ends at its expiry"
        );
        put(&store, "b", MINUTE).await;
        clock.advance(MINUTE);
        assert!(
            !store.save(tagged("b", &[]), true).await.unwrap(),
            "no replacing at its expiry"
        );
        let user = ["sub:u".to_owned()];
        store.save(tagged("c", &user), false).await.unwrap();
        clock.advance(MINUTE);
        assert_eq!(
            store.remove_tagged("sub:u").await.unwrap().len(),
            0,
            "not ended by a logout at its expiry: it had ended"
        );

        assert!(store.try_lock("k", "a", MINUTE).await.unwrap());
        clock.advance(MINUTE - MILLI);
        assert!(
            store.try_lock("j", "b", MINUTE).await.unwrap(),
            "another key"
        );
        assert!(
            !store.try_lock("k", "c", MINUTE).await.unwrap(),
            "a live lock outlasts the taking of others"
        );
        clock.advance(MILLI);
        assert!(
            store.try_lock("k", "c", MINUTE).await.unwrap(),
            "ends at its expiry"
        );
    }

    #[tokio::test]
    async fn a_full_store_replaces_in_place_and_counts_what_a_tag_ends() {
        let store = MemoryStore::with_capacity(2);
        assert!(store.is_empty());
        let user = ["sub:u".to_owned()];
        store.save(tagged("a", &user), false).await.unwrap();
        store.save(tagged("b", &user), false).await.unwrap();
        assert!(!store.is_empty());
        store.save(tagged("a", &user), true).await.unwrap();
        assert_eq!(store.len(), 2, "a replace evicts nothing");
        assert!(store.load("b", MINUTE).await.unwrap().is_some());
        assert_eq!(store.remove_tagged("sub:other").await.unwrap().len(), 0);
        assert_eq!(store.remove_tagged("sub:u").await.unwrap().len(), 2);
        assert!(store.is_empty());
    }
}
