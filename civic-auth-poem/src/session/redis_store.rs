//! Sessions in Redis, shared by every machine of an app. Every change to
//! a session (a logout, a back-channel logout, a refresh) is published on
//! one channel, to which each machine subscribes, so the sessions each
//! remembers for a moment are forgotten as soon as they change anywhere.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt as _;
use redis::{aio::ConnectionManager, AsyncCommands};

use super::store::{Record, SessionStore, StoreChanges, StoreFuture};
use crate::error::Error;

/// Sessions in Redis: every instance of the app that uses the same Redis
/// (and the same session secret) shares them. Reconnects by itself after
/// Redis comes back; while it is down, routes that need a session answer 503.
///
/// A logout, back-channel logout or refresh on one instance is published
/// on Redis (`civic:changes`), and every instance forgets that session at
/// once; while an instance is not subscribed (Redis down, or the
/// subscription lost), it asks Redis at every request rather than trust
/// what it remembers.
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
    changes: StoreChanges,
    /// Stops the subscription when the last clone goes.
    _subscription: Arc<Subscription>,
}

/// How long one Redis command may take before the store counts as down.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscription is checked by a ping: a connection that died
/// without closing is noticed within this and the command timeout.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long to wait before subscribing again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(200);

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
        let prefix = "civic:".to_owned();
        let changes = StoreChanges::new();
        let channel = format!("{prefix}changes");
        let subscription = Subscription(tokio::spawn(subscribe(client, channel, changes.clone())));
        Ok(Self {
            connection,
            prefix,
            changes,
            _subscription: Arc::new(subscription),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }
}

/// The task that hears the change reports.
struct Subscription(tokio::task::JoinHandle<()>);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Hears `channel` for as long as the store lives, subscribing again
/// whenever the connection drops; `changes` says when it is heard.
async fn subscribe(client: redis::Client, channel: String, changes: StoreChanges) {
    loop {
        if let Err(error) = hear(&client, &channel, &changes).await {
            tracing::warn!(%error, "lost Redis's session change reports; asking Redis at every request until they are back");
        }
        changes.set_connected(false);
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

/// One subscription, until its connection fails.
async fn hear(
    client: &redis::Client,
    channel: &str,
    changes: &StoreChanges,
) -> Result<(), redis::RedisError> {
    let connect = tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub());
    let mut pubsub = connect.await.map_err(|_| {
        redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
    })??;
    pubsub.subscribe(channel).await?;
    let (mut sink, mut stream) = pubsub.split();
    changes.set_connected(true);
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => {
                    if let Ok(id) = message.get_payload::<String>() {
                        changes.changed(&id);
                    }
                }
                None => return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()),
            },
            _ = ping.tick() => {
                // Subscribed, Redis answers a PING with an array, not a string.
                match tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return Err(error),
                    Err(_) => return Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
                }
            }
        }
    }
}

fn unavailable(error: redis::RedisError) -> Error {
    Error::SessionStoreUnavailable(error.to_string())
}

/// Milliseconds for Redis, which refuses 0 and any expiry past `i64::MAX`
/// milliseconds after the epoch: half of that leaves room for the present.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64 / 2)
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
                if ARGV[4] == '1' then redis.call('PUBLISH', ARGV[6], ARGV[5]) end
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
                .arg(record.id)
                .arg(self.channel());
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
            redis::pipe()
                .del(self.key("session", id))
                .publish(self.channel(), id)
                .exec_async(&mut connection)
                .await
                .map_err(unavailable)
        })
    }

    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, Vec<(String, String)>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let tag_key = self.key("tag", tag);
            let ids: Vec<String> = connection.smembers(&tag_key).await.map_err(unavailable)?;
            let keys: Vec<String> = ids.iter().map(|id| self.key("session", id)).collect();
            let mut pipe = redis::pipe();
            // Read and deleted at once: a record read is one that ended.
            pipe.atomic();
            if !keys.is_empty() {
                pipe.mget(&keys);
            }
            pipe.del(&tag_key).ignore();
            if !keys.is_empty() {
                pipe.del(&keys).ignore();
            }
            for id in &ids {
                pipe.publish(self.channel(), id).ignore();
            }
            let values: Vec<Vec<Option<String>>> = pipe
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            let values = values.into_iter().flatten();
            Ok(ids
                .into_iter()
                .zip(values)
                .filter_map(|(id, value)| Some((id, value?)))
                .collect())
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

    fn is_shared(&self) -> bool {
        true
    }

    fn changes(&self) -> Option<StoreChanges> {
        Some(self.changes.clone())
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
