//! A session store that fails on purpose, around a real `MemoryStore`: the
//! refresh's retries and lock waits need a store that says no.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use civic_auth_poem::{
    session::{MemoryStore, Record, SessionStore, StoreFuture},
    Error,
};

#[derive(Default)]
pub struct FlakyStore {
    inner: MemoryStore,
    /// Refreshed records (saves over a live one) refused before one is taken.
    failing_replaces: AtomicUsize,
    /// Lock attempts refused, as if another machine held the lock.
    busy_locks: AtomicUsize,
}

impl FlakyStore {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The next `count` saves of refreshed records fail (`usize::MAX`: all).
    pub fn fail_replaces(&self, count: usize) {
        self.failing_replaces.store(count, Ordering::SeqCst);
    }

    /// The next `count` lock attempts find the lock taken (`usize::MAX`: all).
    pub fn hold_lock(&self, count: usize) {
        self.busy_locks.store(count, Ordering::SeqCst);
    }

    /// Takes one from `counter` if any is left.
    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                (left > 0).then(|| if left == usize::MAX { left } else { left - 1 })
            })
            .is_ok()
    }
}

impl SessionStore for FlakyStore {
    fn load<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load(id, ttl)
    }

    fn save<'a>(&'a self, record: Record<'a>, only_if_present: bool) -> StoreFuture<'a, bool> {
        if only_if_present && Self::take(&self.failing_replaces) {
            return Box::pin(async {
                Err(Error::SessionStoreUnavailable("refused on purpose".into()))
            });
        }
        self.inner.save(record, only_if_present)
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.inner.remove(id)
    }

    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, Vec<(String, Vec<u8>)>> {
        self.inner.remove_tagged(tag)
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        if Self::take(&self.busy_locks) {
            return Box::pin(async { Ok(false) });
        }
        self.inner.try_lock(key, owner, ttl)
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        self.inner.unlock(key, owner)
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    fn changes(&self) -> Option<civic_auth_poem::session::StoreChanges> {
        self.inner.changes()
    }
}
