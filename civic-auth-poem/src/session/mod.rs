#![doc = include_str!("../docs/sessions.md")]

mod backend;
mod cache;
mod memory_store;
#[cfg(feature = "redis")]
mod redis_store;
pub(crate) mod refresh;
pub(crate) mod sessions;
pub(crate) mod state;

pub(crate) use self::state::Session;
mod store;

use std::sync::Arc;

#[cfg(feature = "redis")]
pub use self::redis_store::{RedisStore, RedisStoreBuilder};
pub use self::{
    memory_store::MemoryStore,
    store::{Record, SessionStore, StoreChanges, StoreFuture},
};
pub use crate::cookie::SESSION_COOKIE;
use crate::error::Error;

/// The store named by `CIVIC_SESSION_STORE`: unset for the encrypted cookie
/// (`None`), `memory`, or a Redis URL ([`RedisStore::connect`] says which:
/// `redis://`, `rediss://`, `redis-cluster://`, `rediss-cluster://`), with
/// the TLS certificates `CIVIC_REDIS_CA_CERT`, `CIVIC_REDIS_CLIENT_CERT` and
/// `CIVIC_REDIS_CLIENT_KEY` name (PEM file paths).
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
        Some(url) if is_redis(url) => {
            let store = RedisStore::builder(url).certificates_from_env()?;
            Ok(Some(Arc::new(store.connect().await?)))
        }
        #[cfg(not(feature = "redis"))]
        Some(url) if is_redis(url) => {
            Err(Error::InvalidConfig {
                field: "CIVIC_SESSION_STORE",
                value: crate::error::without_password(url),
                reason: "Redis sessions need civic-auth-poem's `redis` feature (on by default)"
                    .into(),
            })
        }
        Some(other) => Err(Error::InvalidConfig {
            field: "CIVIC_SESSION_STORE",
            value: crate::error::without_password(other),
            reason: "use nothing (encrypted cookie), `memory`, a `redis://host:port/` URL (`rediss://` for TLS), or `redis-cluster://host:port,host:port,...`"
                .into(),
        }),
    }
}

fn is_redis(url: &str) -> bool {
    [
        "redis://",
        "rediss://",
        "redis-cluster://",
        "rediss-cluster://",
    ]
    .iter()
    .any(|scheme| url.starts_with(scheme))
}
