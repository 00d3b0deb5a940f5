//! Sessions in Redis, shared by every machine of an app.

use std::time::Duration;

use redis::{aio::ConnectionManager, AsyncCommands};

use super::store::{Record, SessionStore, StoreFuture};
use crate::error::Error;

/// Sessions in Redis: every instance of the app that uses the same Redis
/// (and the same session secret) shares them. Reconnects by itself after
/// Redis comes back; while it is down, routes that need a session answer 503.
///
/// ```no_run
/// # async fn run() -> Result<(), civic_auth_poem::Error> {
/// let store = civic_auth_poem::session::RedisStore::connect("redis://127.0.0.1:6379/").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

/// How long one Redis command may take before the store counts as down.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://host:port/db`). Keys are
    /// prefixed with `civic:`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(|e| Error::InvalidConfig {
            field: "session store",
            value: url.to_owned(),
            reason: e.to_string(),
        })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            connection,
            prefix: "civic:".into(),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }
}

fn unavailable(error: redis::RedisError) -> Error {
    Error::SessionStoreUnavailable(error.to_string())
}

/// Milliseconds for Redis, which takes at most `i64::MAX`.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64)
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            // GETEX reads and restarts the expiry in one round trip.
            redis::cmd("GETEX")
                .arg(self.key("session", id))
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut connection)
                .await
                .map_err(unavailable)
        })
    }

    fn save<'a>(&'a self, record: Record<'a>, only_if_present: bool) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // One script, so the condition and the writes are one step. Tag
            // sets live as long as their longest-lived session: NX sets a
            // first expiry, GT only ever extends it.
            let script = redis::Script::new(
                r"
                if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
                redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
                for i = 2, #KEYS do
                    redis.call('SADD', KEYS[i], ARGV[5])
                    redis.call('PEXPIRE', KEYS[i], ARGV[3], 'NX')
                    redis.call('PEXPIRE', KEYS[i], ARGV[3], 'GT')
                end
                return 1
                ",
            );
            let mut invocation = script.key(self.key("session", record.id));
            for tag in record.tags {
                invocation.key(self.key("tag", tag));
            }
            invocation
                .arg(record.value)
                .arg(millis(record.ttl))
                .arg(millis(record.lifetime.max(record.ttl)))
                .arg(if only_if_present { "1" } else { "0" })
                .arg(record.id);
            let mut connection = self.connection.clone();
            let written: i64 = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(written == 1)
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection
                .del::<_, ()>(self.key("session", id))
                .await
                .map_err(unavailable)
        })
    }

    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let tag_key = self.key("tag", tag);
            let ids: Vec<String> = connection.smembers(&tag_key).await.map_err(unavailable)?;
            let mut keys: Vec<String> = ids.iter().map(|id| self.key("session", id)).collect();
            keys.push(tag_key);
            let removed: usize = connection.del(keys).await.map_err(unavailable)?;
            Ok(removed.saturating_sub(1).min(ids.len()))
        })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let options = redis::SetOptions::default()
                .conditional_set(redis::ExistenceCheck::NX)
                .with_expiration(redis::SetExpiry::PX(millis(ttl)));
            let taken: Option<String> = connection
                .set_options(self.key("lock", key), owner, options)
                .await
                .map_err(unavailable)?;
            Ok(taken.is_some())
        })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // Compare and delete in one step: a lock that expired and went
            // to another machine is not ours to release.
            let script = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            );
            let mut connection = self.connection.clone();
            script
                .key(self.key("lock", key))
                .arg(owner)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(unavailable)
        })
    }
}
