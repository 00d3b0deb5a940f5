//! What every `SessionStore` promises, checked against both stores the
//! library ships: `MemoryStore` on a manual clock, and `RedisStore` on a real
//! Redis (which expires records by its own clock, so time passes for real):
//! one server, one over TLS, and a cluster of three masters.

use std::time::Duration;

use civic_auth_poem::{
    session::{MemoryStore, Record, RedisStore, SessionStore},
    Error, ManualClock,
};
use suite::{ClientCerts, Redis, RedisCluster, RedisTls};

const LONG: Duration = Duration::from_secs(60);
/// Short enough to wait for with Redis; long enough to outlast a command.
const SHORT: Duration = Duration::from_millis(300);

/// A store, and how time passes for it.
struct Subject {
    store: Box<dyn SessionStore>,
    clock: Option<ManualClock>,
}

impl Subject {
    async fn pass(&self, by: Duration) {
        match &self.clock {
            Some(clock) => clock.advance(by),
            None => tokio::time::sleep(by).await,
        }
    }

    async fn save(&self, id: &str, tags: &[String], ttl: Duration, lifetime: Duration) -> bool {
        let record = Record {
            id,
            value: format!("value of {id}").into_bytes(),
            tags,
            ttl,
            lifetime,
        };
        self.store.save(record, false).await.unwrap()
    }

    async fn replace(&self, id: &str, value: &str) -> bool {
        let record = Record {
            id,
            value: value.as_bytes().to_vec(),
            tags: &[],
            ttl: LONG,
            lifetime: LONG,
        };
        self.store.save(record, true).await.unwrap()
    }

    async fn load(&self, id: &str, ttl: Duration) -> Option<String> {
        let value = self.store.load(id, ttl).await.unwrap();
        value.map(|v| String::from_utf8(v).unwrap())
    }
}

fn memory() -> Subject {
    let clock = ManualClock::now();
    Subject {
        store: Box::new(MemoryStore::default().with_clock(clock.clone())),
        clock: Some(clock),
    }
}

async fn redis(redis: &Redis) -> Subject {
    redis_at(&redis.url()).await
}

async fn redis_at(url: &str) -> Subject {
    Subject {
        store: Box::new(RedisStore::connect(url).await.unwrap()),
        clock: None,
    }
}

/// Records: written, read back, replaced only while live, removed, and
/// expired by the idle time each read restarts.
async fn records(s: &Subject) {
    assert_eq!(s.load("absent", LONG).await, None);
    assert!(s.save("a", &[], LONG, LONG).await);
    assert_eq!(s.load("a", LONG).await.as_deref(), Some("value of a"));

    assert!(!s.replace("b", "new").await, "nothing to replace");
    assert_eq!(s.load("b", LONG).await, None, "and nothing written");
    assert!(s.replace("a", "new").await);
    assert_eq!(s.load("a", LONG).await.as_deref(), Some("new"));
    s.store.remove("a").await.unwrap();
    assert_eq!(s.load("a", LONG).await, None);

    // A read restarts the idle time at the ttl it is given, longer or shorter.
    assert!(s.save("c", &[], SHORT, LONG).await);
    assert!(s.load("c", LONG).await.is_some());
    s.pass(SHORT * 2).await;
    assert!(s.load("c", SHORT).await.is_some(), "kept by the last read");
    s.pass(SHORT * 2).await;
    assert_eq!(
        s.load("c", LONG).await,
        None,
        "idle past the last read's ttl"
    );
    assert!(
        !s.replace("c", "again").await,
        "an expired record is not replaced"
    );

    // No ttl is too short or too long to store.
    assert!(s.save("now", &[], Duration::ZERO, Duration::ZERO).await);
    assert!(s.save("forever", &[], Duration::MAX, Duration::MAX).await);
    s.pass(SHORT).await;
    assert_eq!(s.load("now", LONG).await, None);
    assert!(s.load("forever", Duration::MAX).await.is_some());
}

/// No records.
fn none() -> Vec<(String, Vec<u8>)> {
    Vec::new()
}

/// The records of `ids`, as `remove_tagged` returns those it ended.
fn ended(ids: &[&str]) -> Vec<(String, Vec<u8>)> {
    ids.iter()
        .map(|id| (id.to_string(), format!("value of {id}").into_bytes()))
        .collect()
}

/// Tags: every live record saved with a tag ends with it, read back; tags
/// outlast the records they name, however the records were saved.
async fn tags(s: &Subject) {
    let user = ["sub:ada".to_owned(), "sid:1".to_owned()];
    let other = ["sub:bob".to_owned()];
    assert!(s.save("a1", &user, LONG, LONG).await);
    assert!(s.save("a2", &user[..1], LONG, LONG).await);
    assert!(s.save("b1", &other, LONG, LONG).await);
    assert_eq!(s.store.remove_tagged("sub:nobody").await.unwrap(), none());
    assert_eq!(
        s.store.remove_tagged("sid:1").await.unwrap(),
        ended(&["a1"])
    );
    s.store.remove("a2").await.unwrap();
    assert_eq!(
        s.store.remove_tagged("sub:ada").await.unwrap(),
        none(),
        "sessions already gone do not count"
    );
    assert!(
        s.load("b1", LONG).await.is_some(),
        "another tag's session stays"
    );

    // A short-lived session first, then a long-lived one: the tag lasts as
    // long as the longer. A session whose lifetime is below its ttl keeps
    // its tags for the ttl.
    assert!(s.save("short", &other, SHORT, SHORT).await);
    assert!(s.save("long", &other, LONG, LONG).await);
    let alone = ["sid:2".to_owned()];
    assert!(s.save("odd", &alone, LONG, Duration::ZERO).await);
    s.pass(SHORT * 2).await;
    let mut bobs = s.store.remove_tagged("sub:bob").await.unwrap();
    bobs.sort();
    assert_eq!(bobs, ended(&["b1", "long"]), "not the expired short");
    assert_eq!(
        s.store.remove_tagged("sid:2").await.unwrap(),
        ended(&["odd"])
    );
    assert_eq!(s.load("long", LONG).await, None);
}

/// Locks: one holder, released only by it, or by expiry.
async fn locks(s: &Subject) {
    let store = &s.store;
    assert!(store.try_lock("k", "a", LONG).await.unwrap());
    assert!(!store.try_lock("k", "b", LONG).await.unwrap());
    assert!(store.try_lock("j", "b", LONG).await.unwrap(), "another key");
    store.unlock("k", "b").await.unwrap();
    assert!(
        !store.try_lock("k", "b", LONG).await.unwrap(),
        "only the holder unlocks"
    );
    store.unlock("k", "a").await.unwrap();
    assert!(store.try_lock("k", "b", SHORT).await.unwrap());
    s.pass(SHORT * 2).await;
    assert!(store.try_lock("k", "c", LONG).await.unwrap(), "expired");
    store.unlock("k", "b").await.unwrap();
    assert!(
        !store.try_lock("k", "d", LONG).await.unwrap(),
        "not b's any more"
    );
}

#[tokio::test]
async fn the_memory_store_keeps_the_promises() {
    let s = memory();
    records(&s).await;
    tags(&s).await;
    locks(&s).await;
    assert!(s.store.changes().is_none(), "only this process uses it");
}

#[tokio::test]
async fn the_redis_store_keeps_the_promises() {
    let server = Redis::start().await;
    let s = redis(&server).await;
    records(&s).await;
    tags(&s).await;
    locks(&s).await;
    assert!(
        s.store.changes().is_some(),
        "shared by machines, it reports changes"
    );
}

/// On a cluster every command runs on the node of its key's slot: the
/// records and tag sets of one test land on all three masters.
#[tokio::test]
async fn the_redis_store_keeps_the_promises_on_a_cluster() {
    let cluster = RedisCluster::start().await;
    let s = redis_at(&cluster.url()).await;
    records(&s).await;
    tags(&s).await;
    locks(&s).await;
    assert!(s.store.changes().is_some());
    let mut holders = Vec::new();
    for id in ["a1", "a2", "b1", "c", "forever", "k", "j"] {
        for kind in ["session", "lock"] {
            holders.push(cluster.master_of(&format!("civic:{kind}:{id}")).await);
        }
    }
    holders.sort_unstable();
    holders.dedup();
    assert_eq!(holders.len(), 3, "keys spread over every master");
}

#[tokio::test]
async fn the_redis_store_keeps_the_promises_over_tls() {
    // Redis's certificate checked, none asked of the app: a managed Redis's
    // usual set-up (tests/stores.rs has one that asks for the app's).
    let server = RedisTls::start(ClientCerts::Optional).await;
    let store = RedisStore::builder(server.url())
        .ca_certificate(std::fs::read(server.ca_path()).unwrap())
        .connect()
        .await
        .unwrap();
    let s = Subject {
        store: Box::new(store),
        clock: None,
    };
    records(&s).await;
    tags(&s).await;
    locks(&s).await;
}

/// A certificate that does not match is a start-up error that says what
/// to set, not a store that answers 503 forever.
#[tokio::test]
async fn a_redis_certificate_that_does_not_match_is_a_clear_start_up_error() {
    let server = RedisTls::start(ClientCerts::Required).await;
    let read = |path: &std::path::Path| std::fs::read(path).unwrap();
    let client = || {
        (
            read(server.client_cert_path()),
            read(server.client_key_path()),
        )
    };
    let refused = |result: Result<RedisStore, Error>, what: &str, says: &str| {
        let error = result.map(drop).expect_err(what).to_string();
        assert!(error.contains(says), "{what}: {error}");
    };
    let untrusted = "Redis's TLS certificate was not accepted: name the certificate of the authority that signed it";
    // Signed by another authority, or only the system's roots trusted.
    let (cert, key) = client();
    let other = RedisStore::builder(server.url())
        .ca_certificate(read(server.other_ca_path()))
        .client_certificate(cert, key);
    refused(other.connect().await, "another authority", untrusted);
    let (cert, key) = client();
    let system = RedisStore::builder(server.url()).client_certificate(cert, key);
    refused(system.connect().await, "the system's roots", untrusted);
    // A cluster over TLS: its first node's handshake tells.
    let (cert, key) = client();
    let cluster = server.url().replacen("rediss://", "rediss-cluster://", 1);
    let cluster = RedisStore::builder(cluster.trim_end_matches('/'))
        .ca_certificate(read(server.other_ca_path()))
        .client_certificate(cert, key);
    refused(cluster.connect().await, "a cluster's", untrusted);
    // Redis's certificate is trusted, but it wants one of the app's.
    let without = RedisStore::builder(server.url()).ca_certificate(read(server.ca_path()));
    let ours =
        "Redis did not accept the app's TLS certificate: give one its `tls-ca-cert-file` signed";
    refused(without.connect().await, "no client certificate", ours);
    // Certificates with a plain-text URL are a mistake, not ignored.
    let plain = server.url().replacen("rediss://", "redis://", 1);
    let error = RedisStore::builder(plain)
        .ca_certificate(read(server.ca_path()))
        .connect()
        .await
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(error.contains("use a `rediss://` URL"), "{error}");
}

/// Redis down: each call is a clear "unavailable", never a hang or a panic;
/// Redis back: the store works again by itself.
#[tokio::test]
async fn the_redis_store_says_when_redis_is_unreachable() {
    let mut server = Redis::start().await;
    let s = redis(&server).await;
    server.stop().await;
    let unavailable = |result: Result<_, Error>| {
        assert!(
            matches!(result, Err(Error::SessionStoreUnavailable(_))),
            "{:?}",
            result.map(|_| ())
        )
    };
    unavailable(s.store.load("a", LONG).await.map(drop));
    unavailable(s.store.remove("a").await);
    unavailable(s.store.remove_tagged("sub:ada").await.map(drop));
    unavailable(s.store.try_lock("k", "a", LONG).await.map(drop));
    unavailable(s.store.unlock("k", "a").await);
    let record = Record {
        id: "a",
        value: b"v".to_vec(),
        tags: &[],
        ttl: LONG,
        lifetime: LONG,
    };
    unavailable(s.store.save(record, false).await.map(drop));

    server.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.store.load("a", LONG).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the store did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(s.save("a", &[], LONG, LONG).await);

    let refused = RedisStore::connect("not a redis url").await.map(drop);
    assert!(
        matches!(refused, Err(Error::InvalidConfig { .. })),
        "{refused:?}"
    );
}

/// How many connections hear the stores' change reports.
async fn subscribers(redis: &Redis) -> String {
    let answer = redis.cli(&["PUBSUB", "NUMSUB", "civic:changes"]).await;
    answer.lines().nth(1).unwrap_or_default().to_owned()
}

/// Waits until `expected` connections hear the reports, for at most `within`.
async fn heard(redis: &Redis, expected: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while subscribers(redis).await != expected {
        assert!(
            std::time::Instant::now() < deadline,
            "{expected} subscribers expected within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The subscription to change reports lives as long as the store, through
/// the pings that check it (every 5 s), and no longer: an app that drops
/// its store leaves no connection behind.
#[tokio::test]
async fn a_redis_store_hears_reports_for_as_long_as_it_lives() {
    let server = Redis::start().await;
    let store = RedisStore::connect(&server.url()).await.unwrap();
    heard(&server, "1", Duration::from_secs(5)).await;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        assert_eq!(
            subscribers(&server).await,
            "1",
            "after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let copy = store.clone();
    drop(store);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(subscribers(&server).await, "1", "a clone still hears");
    drop(copy);
    heard(&server, "0", Duration::from_secs(1)).await;
}
