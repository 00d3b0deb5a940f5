//! The storage trait of server-side sessions.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

use crate::error::Error;

/// One session as a store keeps it.
pub struct Record<'a> {
    /// The random session id.
    pub id: &'a str,
    /// The session, sealed: opaque bytes to the store.
    pub value: Vec<u8>,
    /// Tags to find it by (`sid:...`, `sub:...`).
    pub tags: &'a [String],
    /// When the record expires unless read again (the idle timer).
    pub ttl: Duration,
    /// The longest the session can live: how long its tags must be kept.
    pub lifetime: Duration,
}

/// A boxed future, so that stores can be chosen at run time.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Where server-side sessions live: [`MemoryStore`](super::MemoryStore) in
/// the process, [`RedisStore`](super::RedisStore) across machines, or your own.
///
/// Records are opaque bytes keyed by random session ids; `tags` (the
/// provider's `sid` and the user's `sub`) let back-channel logout find the
/// sessions of a provider session or user. A store must expire records by
/// their `ttl`, and report an unreachable backend as
/// [`Error::SessionStoreUnavailable`].
///
/// ```
/// use std::time::Duration;
/// use civic_auth_poem::session::{MemoryStore, Record, SessionStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), civic_auth_poem::Error> {
/// let store = MemoryStore::default();
/// let tags = ["sub:ada".to_owned()];
/// let record = Record { id: "id-1", value: b"sealed".to_vec(), tags: &tags, ttl: Duration::from_secs(60), lifetime: Duration::from_secs(600) };
/// assert!(store.save(record, false).await?);
/// let idle = Duration::from_secs(120);
/// assert_eq!(store.load("id-1", idle).await?.as_deref(), Some(&b"sealed"[..]));
/// let ended = store.remove_tagged("sub:ada").await?;
/// assert_eq!(ended, [("id-1".to_owned(), b"sealed".to_vec())]);
/// assert_eq!(store.load("id-1", idle).await?, None);
/// # Ok(()) }
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// The record of `id`, unless absent or expired; its expiry restarts at
    /// `ttl` (the session's idle timer), leaving the record as it is.
    fn load<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Writes `record`; with `only_if_present`, only over a live record of
    /// the same id (a refresh must not bring back a session that ended
    /// meanwhile). Returns whether it was written.
    fn save<'a>(&'a self, record: Record<'a>, only_if_present: bool) -> StoreFuture<'a, bool>;

    /// Deletes the record of `id`.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Deletes every record saved with `tag`; returns the ids and values
    /// of those that were live (so the app's logout hook hears who left).
    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, Vec<(String, Vec<u8>)>>;

    /// Takes a short lock named `key` for `owner` unless another holds it:
    /// refresh uses it so that one machine refreshes a session at a time.
    fn try_lock<'a>(&'a self, key: &'a str, owner: &'a str, ttl: Duration)
        -> StoreFuture<'a, bool>;

    /// Releases the lock `key` if `owner` still holds it.
    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()>;

    /// Whether several machines share this store. One-time values (a
    /// login's `state`, DPoP proofs, logout tokens) are then remembered in
    /// it as used, as locks ([`try_lock`](Self::try_lock)) never released
    /// before they expire, so that a value used on one machine is refused on
    /// every other. `false` (the default): each process remembers its own.
    /// A store that wraps another forwards this (and [`changes`](Self::changes)).
    fn is_shared(&self) -> bool {
        false
    }

    /// How a store shared by several machines reports sessions that
    /// changed or ended, on any of them, as it happens: each machine then
    /// drops the sessions it remembers for a moment (`session_cache_ttl`)
    /// at once, so a logout anywhere is seen everywhere. `None` (the
    /// default) for a store only this process uses: what it remembers is
    /// then kept for `session_cache_ttl`.
    fn changes(&self) -> Option<StoreChanges> {
        None
    }
}

/// What changed in a shared store, as it reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change<'a> {
    /// This session changed or ended.
    Session(&'a str),
    /// Anything may have changed (reports were missed).
    Everything,
}

pub(crate) type Listener = dyn Fn(Change<'_>) + Send + Sync;

/// The reports of a shared store ([`SessionStore::changes`]): the store
/// calls [`changed`](Self::changed) for every session changed or ended on
/// any machine, and [`set_connected`](Self::set_connected) as it starts and
/// stops hearing them. While it does not hear them, the machines do not
/// trust what they remember and ask the store at every request.
///
/// ```
/// use civic_auth_poem::session::StoreChanges;
///
/// let changes = StoreChanges::new();
/// changes.set_connected(true); // subscribed to the store's reports
/// changes.changed("session-id"); // one arrived
/// changes.set_connected(false); // the subscription dropped
/// ```
#[derive(Clone, Default)]
pub struct StoreChanges {
    inner: Arc<ChangesInner>,
}

#[derive(Default)]
struct ChangesInner {
    connected: AtomicBool,
    /// Bumped at every report: a session read before it may be stale.
    version: AtomicU64,
    listeners: Mutex<Vec<Weak<Listener>>>,
}

impl StoreChanges {
    /// Reports that start out unheard (not connected).
    pub fn new() -> Self {
        Self::default()
    }

    /// The session `id` changed or ended.
    pub fn changed(&self, id: &str) {
        self.inner.version.fetch_add(1, Ordering::SeqCst);
        self.notify(Change::Session(id));
    }

    /// Whether the reports are heard. Once they are heard again after a
    /// gap, everything remembered is forgotten first: reports may have
    /// been missed meanwhile.
    pub fn set_connected(&self, connected: bool) {
        self.inner.version.fetch_add(1, Ordering::SeqCst);
        if connected {
            self.notify(Change::Everything);
            self.inner.connected.store(true, Ordering::SeqCst);
        } else {
            self.inner.connected.store(false, Ordering::SeqCst);
            self.notify(Change::Everything);
        }
    }

    /// Whether what was read at `version` is still current: nothing was
    /// reported since, and reports are heard.
    pub(crate) fn current(&self, version: u64) -> bool {
        self.is_connected() && self.version() == version
    }

    fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }

    pub(crate) fn version(&self) -> u64 {
        self.inner.version.load(Ordering::SeqCst)
    }

    /// Calls `listener` at every report for as long as it lives.
    pub(crate) fn listen(&self, listener: &Arc<Listener>) {
        let mut listeners = self.listeners();
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(Arc::downgrade(listener));
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Listener>>> {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, change: Change<'_>) {
        let listeners: Vec<_> = self.listeners().iter().filter_map(Weak::upgrade).collect();
        for listener in listeners {
            listener(change);
        }
    }
}

impl std::fmt::Debug for StoreChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreChanges")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A listener that counts the reports it hears, and what it heard last.
    fn counter() -> (Arc<Listener>, Arc<(AtomicUsize, Mutex<String>)>) {
        let heard = Arc::new((AtomicUsize::new(0), Mutex::new(String::new())));
        let seen = heard.clone();
        let listener: Arc<Listener> = Arc::new(move |change| {
            seen.0.fetch_add(1, Ordering::SeqCst);
            *seen.1.lock().unwrap() = format!("{change:?}");
        });
        (listener, heard)
    }

    #[test]
    fn what_was_read_is_current_only_while_heard_and_unchanged() {
        let changes = StoreChanges::new();
        assert!(!changes.current(changes.version()), "unheard at first");
        changes.set_connected(true);
        let read = changes.version();
        assert!(changes.current(read));
        changes.changed("s1");
        assert!(!changes.current(read), "a report makes it stale");
        let read = changes.version();
        changes.set_connected(false);
        assert!(!changes.current(read), "not heard");
        assert!(!changes.current(changes.version()), "not heard");
        assert_eq!(
            format!("{changes:?}"),
            "StoreChanges { connected: false, .. }"
        );
    }

    #[test]
    fn reports_reach_the_listeners_alive_and_dead_ones_are_dropped() {
        let changes = StoreChanges::new();
        let (listener, heard) = counter();
        changes.listen(&listener);
        changes.changed("s1");
        assert_eq!(heard.0.load(Ordering::SeqCst), 1);
        assert_eq!(*heard.1.lock().unwrap(), r#"Session("s1")"#);
        changes.set_connected(true);
        assert_eq!(*heard.1.lock().unwrap(), "Everything");
        changes.set_connected(false);
        assert_eq!(heard.0.load(Ordering::SeqCst), 3);

        let (gone, gone_heard) = counter();
        changes.listen(&gone);
        drop(gone);
        changes.changed("s2");
        assert_eq!(gone_heard.0.load(Ordering::SeqCst), 0);
        // The next listener to come takes the dead one's place, and the
        // live ones keep hearing.
        let (next, next_heard) = counter();
        changes.listen(&next);
        assert_eq!(changes.listeners().len(), 2);
        changes.changed("s3");
        assert_eq!(heard.0.load(Ordering::SeqCst), 5);
        assert_eq!(next_heard.0.load(Ordering::SeqCst), 1);
    }
}
