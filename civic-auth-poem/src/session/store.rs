//! The storage trait of server-side sessions.

use std::{future::Future, pin::Pin, time::Duration};

use crate::error::Error;

/// One session as a store keeps it.
pub struct Record<'a> {
    /// The random session id.
    pub id: &'a str,
    /// The session, opaque to the store.
    pub value: String,
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
/// Records are opaque strings keyed by random session ids; `tags` (the
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
/// let record = Record { id: "id-1", value: "{}".into(), tags: &tags, ttl: Duration::from_secs(60), lifetime: Duration::from_secs(600) };
/// assert!(store.save(record, false).await?);
/// let idle = Duration::from_secs(120);
/// assert_eq!(store.load("id-1", idle).await?.as_deref(), Some("{}"));
/// assert_eq!(store.remove_tagged("sub:ada").await?, 1);
/// assert_eq!(store.load("id-1", idle).await?, None);
/// # Ok(()) }
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// The record of `id`, unless absent or expired; its expiry restarts at
    /// `ttl` (the session's idle timer), leaving the record as it is.
    fn load<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, Option<String>>;

    /// Writes `record`; with `only_if_present`, only over a live record of
    /// the same id (a refresh must not bring back a session that ended
    /// meanwhile). Returns whether it was written.
    fn save<'a>(&'a self, record: Record<'a>, only_if_present: bool) -> StoreFuture<'a, bool>;

    /// Deletes the record of `id`.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Deletes every record saved with `tag`; returns how many.
    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, usize>;

    /// Takes a short lock named `key` for `owner` unless another holds it:
    /// refresh uses it so that one machine refreshes a session at a time.
    fn try_lock<'a>(&'a self, key: &'a str, owner: &'a str, ttl: Duration)
        -> StoreFuture<'a, bool>;

    /// Releases the lock `key` if `owner` still holds it.
    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()>;
}
