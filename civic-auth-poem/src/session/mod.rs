#![doc = include_str!("../docs/sessions.md")]

mod backend;
mod cache;
mod memory_store;
#[cfg(feature = "redis")]
mod redis_store;
mod refresh;
pub(crate) mod sessions;
pub(crate) mod state;

pub(crate) use self::state::Session;
mod store;

use std::sync::Arc;

#[cfg(feature = "redis")]
pub use self::redis_store::RedisStore;
pub use self::{
    memory_store::MemoryStore,
    store::{Record, SessionStore, StoreChanges, StoreFuture},
};
pub use crate::cookie::SESSION_COOKIE;
use crate::error::Error;

/// The store named by `CIVIC_SESSION_STORE`: unset for the encrypted cookie
/// (`None`), `memory`, or a `redis://` URL.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), civic_auth_poem::Error> {
/// let store = civic_auth_poem::session::store_from_env().await?;
/// # let _ = store; Ok(()) }
/// ```
pub async fn store_from_env() -> Result<Option<Arc<dyn SessionStore>>, Error> {
    match std::env::var("CIVIC_SESSION_STORE")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => Ok(None),
        Some("memory") => Ok(Some(Arc::new(MemoryStore::default()))),
        #[cfg(feature = "redis")]
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(Some(Arc::new(RedisStore::connect(url).await?)))
        }
        #[cfg(not(feature = "redis"))]
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Err(Error::InvalidConfig {
                field: "CIVIC_SESSION_STORE",
                value: url.to_owned(),
                reason: "Redis sessions need civic-auth-poem's `redis` feature (on by default)"
                    .into(),
            })
        }
        Some(other) => Err(Error::InvalidConfig {
            field: "CIVIC_SESSION_STORE",
            value: other.to_owned(),
            reason: "use nothing (encrypted cookie), `memory`, or a `redis://host:port/` URL"
                .into(),
        }),
    }
}
