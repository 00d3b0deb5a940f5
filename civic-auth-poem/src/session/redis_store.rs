//! Sessions in Redis, shared by every machine of an app: one server or a
//! cluster, in plain text or over TLS. Every change to a session (a logout,
//! a back-channel logout, a refresh) is published on one channel, to which
//! each machine subscribes, so the sessions each remembers for a moment are
//! forgotten as soon as they change anywhere.
//!
//! Every command and script touches one key, so each runs on the one node
//! that holds its slot: a session's record, a tag set (the sessions of a
//! user or a provider session), a lock. What spans keys (a session and its
//! tags, a back-channel logout's sessions) is done key by key, in an order
//! that is safe at every step.

mod connection;
mod subscription;

use std::{path::Path, sync::Arc, time::Duration};

use redis::AsyncCommands;

use self::{
    connection::{unavailable, Certificates, Connection, Target},
    subscription::Subscription,
};
use super::store::{Record, SessionStore, StoreChanges, StoreFuture};
use crate::error::Error;

/// Sessions in Redis: every instance of the app that uses the same Redis
/// (and the same session secret) shares them. Reconnects by itself after
/// Redis comes back; while it is down, routes that need a session answer 503.
///
/// One server (`redis://`, or `rediss://` over TLS) or a Redis Cluster
/// (`redis-cluster://host:port,host:port,...`, or `rediss-cluster://`): on a
/// cluster, while a master that failed is being replaced by its replica,
/// requests for its sessions answer 503 for a few seconds, and are served
/// again once the replica has taken over.
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
    connection: Connection,
    changes: StoreChanges,
    /// Stops the subscription when the last clone goes.
    _subscription: Arc<Subscription>,
}

/// How to connect a [`RedisStore`]: its URL, and for TLS the certificates.
///
/// ```no_run
/// # async fn run() -> Result<(), civic_auth_poem::Error> {
/// use civic_auth_poem::session::RedisStore;
///
/// let store = RedisStore::builder("rediss://redis.internal:6380/")
///     .ca_certificate(std::fs::read("/etc/redis/ca.pem").unwrap())
///     .client_certificate(
///         std::fs::read("/etc/redis/app.pem").unwrap(),
///         std::fs::read("/etc/redis/app-key.pem").unwrap(),
///     )
///     .connect()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    certificates: Certificates,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = Target::parse(&self.url).map(|t| t.shown().to_owned());
        f.debug_struct("RedisStoreBuilder")
            .field("url", &shown.unwrap_or_else(|_| "<invalid>".into()))
            .field("ca_certificate", &self.certificates.authority.is_some())
            .field("client_certificate", &self.certificates.client.is_some())
            .finish()
    }
}

impl RedisStoreBuilder {
    /// Trusts the certificate authority in `pem` (PEM; one or more
    /// certificates) for Redis's TLS certificate, instead of the system's
    /// roots: for a Redis whose certificate a private authority signed.
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.certificates.authority = Some(pem.into());
        self
    }

    /// Presents this certificate and its private key (both PEM) to a Redis
    /// that asks clients for one (`tls-auth-clients`).
    pub fn client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.certificates.client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The certificates the environment names: `CIVIC_REDIS_CA_CERT`, and
    /// `CIVIC_REDIS_CLIENT_CERT` with `CIVIC_REDIS_CLIENT_KEY` (PEM file paths).
    pub(crate) fn certificates_from_env(mut self) -> Result<Self, Error> {
        let read = |env: &'static str| -> Result<Option<Vec<u8>>, Error> {
            let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) else {
                return Ok(None);
            };
            std::fs::read(Path::new(&path))
                .map(Some)
                .map_err(|e| Error::InvalidConfig {
                    field: env,
                    value: Path::new(&path).display().to_string(),
                    reason: format!("cannot read the file: {e}"),
                })
        };
        if let Some(pem) = read("CIVIC_REDIS_CA_CERT")? {
            self = self.ca_certificate(pem);
        }
        match (
            read("CIVIC_REDIS_CLIENT_CERT")?,
            read("CIVIC_REDIS_CLIENT_KEY")?,
        ) {
            (Some(cert), Some(key)) => self = self.client_certificate(cert, key),
            (None, None) => {}
            // A certificate without its key, or the other way round.
            (Some(_), None) => {
                return Err(Error::MissingConfig {
                    field: "Redis client certificate's key",
                    env: "CIVIC_REDIS_CLIENT_KEY",
                })
            }
            (None, Some(_)) => {
                return Err(Error::MissingConfig {
                    field: "Redis client certificate",
                    env: "CIVIC_REDIS_CLIENT_CERT",
                })
            }
        }
        Ok(self)
    }

    /// Connects: checks the URL and certificates, reaches Redis, and
    /// subscribes to the change reports. Keys are prefixed with `civic:`.
    pub async fn connect(self) -> Result<RedisStore, Error> {
        let target = Target::parse(&self.url)?;
        let nodes = target.clients(&self.certificates)?;
        let connection = target.connect(&nodes, &self.certificates).await?;
        let changes = StoreChanges::new();
        let subscription = Subscription::start(nodes, connection.clone(), CHANNEL, changes.clone());
        Ok(RedisStore {
            connection,
            changes,
            _subscription: Arc::new(subscription),
        })
    }
}

impl RedisStore {
    /// Connects to the Redis at `url`: `redis://host:port/db`, `rediss://`
    /// for TLS (trusting the system's roots), or
    /// `redis-cluster://host:port,host:port,...` (`rediss-cluster://`) for a
    /// cluster, any of its nodes. Keys are prefixed with `civic:`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url).connect().await
    }

    /// A store at `url` (as [`Self::connect`] takes it), with TLS settings
    /// to add before it connects.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            certificates: Certificates::default(),
        }
    }

    /// Deletes the session `id` and reports it, in one step on its node;
    /// returns its record if it was live.
    async fn end(&self, id: &str) -> Result<Option<Vec<u8>>, redis::RedisError> {
        let script = redis::Script::new(
            "local value = redis.call('GETDEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return value",
        );
        let mut connection = self.connection.clone();
        script
            .key(redis_key("session", id))
            .arg(CHANNEL)
            .arg(id)
            .invoke_async(&mut connection)
            .await
    }
}

/// Where every machine publishes and hears the change reports.
const CHANNEL: &str = "civic:changes";

/// The key of `kind` (a session, a tag set, a lock) for `id`.
fn redis_key(kind: &str, id: &str) -> String {
    format!("civic:{kind}:{id}")
}

/// Milliseconds for Redis, which refuses 0 and any expiry past `i64::MAX`
/// milliseconds after the epoch: half of that leaves room for the present.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64 / 2)
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            // GETEX reads and restarts the expiry in one round trip.
            redis::cmd("GETEX")
                .arg(redis_key("session", id))
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut connection)
                .await
                .map_err(unavailable)
        })
    }

    fn save<'a>(&'a self, record: Record<'a>, only_if_present: bool) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Tags first: a back-channel logout that runs between the steps
            // finds the session by them, and ends it before or after it is
            // written (a refresh then writes nothing: the record is gone).
            // A tag left by a write that did not happen names no record.
            // Tag sets live as long as their longest-lived session: NX sets
            // a first expiry, GT only ever extends it.
            let tag_script = redis::Script::new(
                r"
                redis.call('SADD', KEYS[1], ARGV[1])
                redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
                redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
                ",
            );
            let lifetime = millis(record.lifetime.max(record.ttl));
            let tags = record.tags.iter().map(|tag| {
                let mut connection = self.connection.clone();
                let mut invocation = tag_script.key(redis_key("tag", tag));
                invocation.arg(record.id).arg(lifetime);
                async move { invocation.invoke_async::<()>(&mut connection).await }
            });
            futures_util::future::try_join_all(tags)
                .await
                .map_err(unavailable)?;
            // The condition and the write are one step.
            let script = redis::Script::new(
                r"
                if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
                redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
                if ARGV[3] == '1' then redis.call('PUBLISH', ARGV[5], ARGV[4]) end
                return 1
                ",
            );
            let mut connection = self.connection.clone();
            let written: i64 = script
                .key(redis_key("session", record.id))
                .arg(record.value)
                .arg(millis(record.ttl))
                .arg(if only_if_present { "1" } else { "0" })
                .arg(record.id)
                .arg(CHANNEL)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(written == 1)
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.end(id).await.map(drop).map_err(unavailable) })
    }

    fn remove_tagged<'a>(&'a self, tag: &'a str) -> StoreFuture<'a, Vec<(String, Vec<u8>)>> {
        Box::pin(async move {
            // Each session is ended (a record read is one that ended, and
            // its end is reported), then the tag set forgets those only:
            // when one cannot be ended (its node failing over), the logout
            // fails with the set whole, and the provider's retry finds them.
            let tag_key = redis_key("tag", tag);
            let mut connection = self.connection.clone();
            let ids: Vec<String> = connection.smembers(&tag_key).await.map_err(unavailable)?;
            let ended = ids.iter().map(|id| async move {
                let value = self.end(id).await?;
                Ok::<_, redis::RedisError>(value.map(|value| (id.clone(), value)))
            });
            let ended = futures_util::future::try_join_all(ended)
                .await
                .map_err(unavailable)?;
            if !ids.is_empty() {
                connection
                    .srem::<_, _, ()>(&tag_key, &ids)
                    .await
                    .map_err(unavailable)?;
            }
            Ok(ended.into_iter().flatten().collect())
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
                .set_options(redis_key("lock", key), owner, options)
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
                .key(redis_key("lock", key))
                .arg(owner)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The certificates the examples' environment names: a blank variable
    /// is unset, a file that cannot be read or a certificate without its key
    /// is an error naming the variable. (Only this test sets them.)
    #[test]
    fn certificates_come_from_the_environment() {
        let dir = std::env::temp_dir().join(format!("civic-redis-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str| {
            let path = dir.join(name);
            std::fs::write(&path, name).unwrap();
            path
        };
        let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
        let set = |vars: [(&str, &std::ffi::OsStr); 3]| {
            for (name, value) in vars {
                std::env::set_var(name, value);
            }
            RedisStore::builder("rediss://redis:6380/").certificates_from_env()
        };
        let blank = std::ffi::OsStr::new("");
        let names = [
            "CIVIC_REDIS_CA_CERT",
            "CIVIC_REDIS_CLIENT_CERT",
            "CIVIC_REDIS_CLIENT_KEY",
        ];

        let none = set([(names[0], blank), (names[1], blank), (names[2], blank)]).unwrap();
        assert!(none.certificates.authority.is_none() && none.certificates.client.is_none());
        let all = set([
            (names[0], ca.as_os_str()),
            (names[1], cert.as_os_str()),
            (names[2], key.as_os_str()),
        ])
        .unwrap();
        assert_eq!(all.certificates.authority.as_deref(), Some(&b"ca.pem"[..]));
        let client = all.certificates.client.as_ref().unwrap();
        assert_eq!(
            (&client.0[..], &client.1[..]),
            (&b"cert.pem"[..], &b"key.pem"[..])
        );
        assert_eq!(
            format!("{all:?}"),
            r#"RedisStoreBuilder { url: "rediss://redis:6380/", ca_certificate: true, client_certificate: true }"#
        );

        let error = set([
            (names[0], blank),
            (names[1], cert.as_os_str()),
            (names[2], blank),
        ])
        .unwrap_err();
        assert!(
            error.to_string().contains("CIVIC_REDIS_CLIENT_KEY"),
            "{error}"
        );
        let error = set([
            (names[0], blank),
            (names[1], blank),
            (names[2], key.as_os_str()),
        ])
        .unwrap_err();
        assert!(
            error.to_string().contains("CIVIC_REDIS_CLIENT_CERT"),
            "{error}"
        );
        let missing = dir.join("absent.pem");
        let error = set([
            (names[0], missing.as_os_str()),
            (names[1], blank),
            (names[2], blank),
        ])
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`CIVIC_REDIS_CA_CERT` is invalid"),
            "{error}"
        );
        for name in names {
            std::env::remove_var(name);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_builder_shows_no_password() {
        let builder = RedisStore::builder("redis-cluster://app:hunter2@a:1,b:2");
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("app:***@a:1,b:2"),
            "{shown}"
        );
        assert!(
            shown.contains("ca_certificate: false, client_certificate: false"),
            "{shown}"
        );
        let invalid = format!("{:?}", RedisStore::builder("nonsense"));
        assert!(invalid.contains(r#"url: "<invalid>""#), "{invalid}");
    }
}
