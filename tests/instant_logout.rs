//! Instant logout across machines: two instances share a real Redis and
//! each remembers opened sessions for a minute, yet a logout or a
//! back-channel logout on one is refused on the other within 100 ms (Redis
//! publishes the change); while the change reports are not heard (Redis
//! stopped), nothing remembered is trusted, and once Redis is back the
//! reports are heard again. On a Redis Cluster the same, before and after
//! a master fails and its replica takes over.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use suite::{app, AppServer, Browser, Provider, Redis, RedisCluster};

/// Long enough that only a report can make an instance forget a session.
const REMEMBERED: Duration = Duration::from_secs(60);
const WITHIN: Duration = Duration::from_millis(100);

async fn two_instances(redis: &Redis) -> (Provider, Vec<AppServer>) {
    instances(2, &redis.url()).await
}

async fn instances(count: usize, store: &str) -> (Provider, Vec<AppServer>) {
    let instances =
        app::instances_on_redis(count, &[], |c| c.session_cache_ttl(REMEMBERED), store).await;
    // The instances subscribe to the reports as they start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    instances
}

async fn status(app: &AppServer, cookie: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/admin/hello", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// How soon `app` answers `expected` to `cookie`, polling until `limit`.
async fn answered_within(
    app: &AppServer,
    cookie: &str,
    expected: StatusCode,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() <= limit {
        if status(app, cookie).await == expected {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Deletes every session in Redis behind the instances' backs (no report).
async fn delete_sessions_silently(redis: &Redis) {
    let keys = redis.cli(&["--scan", "--pattern", "civic:session:*"]).await;
    for key in keys.lines() {
        redis.cli(&["DEL", key]).await;
    }
}

/// A browser logged in on `apps[0]`, its session opened (remembered) on
/// `apps[1]`; its cookie.
async fn logged_in_on_both(apps: &[AppServer], login: &str) -> (Browser, String) {
    let browser = Browser::new();
    let landing = browser.log_in(&apps[0].base, login).await;
    let cookie = browser.cookie_header(&apps[0].base);
    assert!(
        cookie.contains("civic_session="),
        "not logged in: {}",
        landing.body
    );
    assert_eq!(status(&apps[1], &cookie).await, StatusCode::OK);
    (browser, cookie)
}

/// Deletes every session in a cluster behind the instances' backs.
async fn delete_cluster_sessions_silently(cluster: &RedisCluster) {
    for key in cluster.keys("civic:session:*").await {
        let master = cluster.master_of(&key).await;
        cluster.cli(master, &["DEL", &key]).await;
    }
}

/// The second instance serves what it remembers (a session deleted in
/// Redis without a report, by `delete_silently`, is still served there),
/// yet a logout on the first is refused there within 100 ms.
async fn a_logout_is_seen_at_once(apps: &[AppServer], delete_silently: impl Future<Output = ()>) {
    let (_, remembered) = logged_in_on_both(apps, "ada.lovelace").await;
    delete_silently.await;
    assert_eq!(status(&apps[1], &remembered).await, StatusCode::OK);

    let (browser, cookie) = logged_in_on_both(apps, "grace.hopper").await;
    browser
        .follow(&format!("{}/auth/logout", apps[0].base))
        .await;
    let took = answered_within(&apps[1], &cookie, StatusCode::UNAUTHORIZED, WITHIN).await;
    assert!(
        took.is_some(),
        "the other instance served the session past {WITHIN:?}"
    );
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_100_ms() {
    let redis = Redis::start().await;
    let (_provider, apps) = two_instances(&redis).await;
    a_logout_is_seen_at_once(&apps, delete_sessions_silently(&redis)).await;
}

#[tokio::test]
async fn a_back_channel_logout_on_one_instance_is_refused_on_the_other_within_100_ms() {
    let redis = Redis::start().await;
    a_back_channel_logout_is_seen_at_once(&redis.url()).await;
}

/// On a cluster a user's tag sets and session lie on whichever nodes their
/// keys' slots are, and each report on the node of the session it ends.
#[tokio::test]
async fn a_back_channel_logout_on_a_redis_cluster_is_refused_everywhere_within_100_ms() {
    let cluster = RedisCluster::start().await;
    a_back_channel_logout_is_seen_at_once(&cluster.url()).await;
}

async fn a_back_channel_logout_is_seen_at_once(store: &str) {
    let (provider, apps) = instances(2, store).await;
    let (browser, cookie) = logged_in_on_both(&apps, "mary.jackson").await;

    // The user logs out at the provider, which tells the first instance.
    suite::log_out_at_provider(&browser, &provider, &apps[0].base).await;
    answered_within(
        &apps[0],
        &cookie,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(5),
    )
    .await
    .expect("the provider's back-channel logout reached the first instance");
    let took = answered_within(&apps[1], &cookie, StatusCode::UNAUTHORIZED, WITHIN).await;
    assert!(
        took.is_some(),
        "the other instance served the session past {WITHIN:?}"
    );
}

#[tokio::test]
async fn without_the_reports_nothing_remembered_is_trusted_until_redis_is_back() {
    let mut redis = Redis::start().await;
    let (_provider, apps) = two_instances(&redis).await;
    let (_, cookie) = logged_in_on_both(&apps, "hedy.lamarr").await;

    // Redis stops: the second instance no longer serves the session from
    // memory (it asks Redis, which is down).
    redis.stop().await;
    answered_within(
        &apps[1],
        &cookie,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(1),
    )
    .await
    .expect("the session was served from memory without Redis's reports");

    // Back (empty): the reports are heard again, and a logout is instant again.
    redis.restart().await;
    for app in &apps {
        answered_within(
            app,
            &cookie,
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(10),
        )
        .await
        .expect("the instances reach Redis again");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    a_logout_is_seen_at_once(&apps, delete_sessions_silently(&redis)).await;
}

/// A cluster of three masters and three replicas: logouts are instant;
/// the master the instances hear the reports from dies, and while its
/// replica takes over, the sessions answer 200 or 503 (never 401: none was
/// logged out) but the one logged out meanwhile, which is never served
/// again; then every session is served, by an instance that never saw them
/// too (it reads them from the promoted replica), and logouts are instant
/// again.
#[tokio::test]
async fn on_a_redis_cluster_logouts_are_instant_and_sessions_outlive_a_failover() {
    let mut cluster = RedisCluster::start().await;
    let dead = cluster.masters().await[0];
    let (_provider, apps) = instances(3, &cluster.url_from(dead)).await;
    a_logout_is_seen_at_once(&apps, delete_cluster_sessions_silently(&cluster)).await;

    // Users whose sessions lie on the master that dies and on others.
    let mut sessions = Vec::new();
    let logins = [
        "mae.jemison",
        "sally.ride",
        "ellen.ochoa",
        "judith.resnik",
        "eileen.collins",
        "kalpana.chawla",
        "peggy.whitson",
        "chiaki.mukai",
    ];
    for login in logins {
        let before = cluster.keys("civic:session:*").await;
        let (browser, cookie) = logged_in_on_both(&apps, login).await;
        let key = cluster
            .keys("civic:session:*")
            .await
            .into_iter()
            .find(|k| !before.contains(k))
            .expect("a new session key");
        sessions.push((browser, cookie, cluster.master_of(&key).await));
        let on_dead = sessions.iter().filter(|s| s.2 == dead).count();
        if on_dead >= 1 && sessions.len() - on_dead >= 2 {
            break;
        }
    }
    let on_dead = sessions.iter().filter(|s| s.2 == dead).count();
    assert!(
        on_dead >= 1 && sessions.len() - on_dead >= 2,
        "sessions on the master that dies and others"
    );
    cluster.replicate().await;
    cluster.kill(dead).await;

    // One user elsewhere logs out on the first instance during the election.
    let leaving = sessions.iter().position(|s| s.2 != dead).unwrap();
    let (browser, left, _) = sessions.remove(leaving);
    browser
        .follow(&format!("{}/auth/logout", apps[0].base))
        .await;

    // While the replica takes over: the session or a clear 503, soon;
    // nothing else (a 401 would be a session lost), and never the session
    // that was logged out.
    let statuses = async {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut all = true;
            for app in &apps {
                let asked = Instant::now();
                let answer = status(app, &left).await;
                assert_ne!(answer, StatusCode::OK, "a logged-out session served");
                seen.push((answer, asked.elapsed()));
                for (_, cookie, _) in &sessions {
                    let asked = Instant::now();
                    let answer = status(app, cookie).await;
                    all &= answer == StatusCode::OK;
                    seen.push((answer, asked.elapsed()));
                }
            }
            if all || Instant::now() > deadline {
                return seen;
            }
        }
    };
    let (promoted, seen) = tokio::join!(cluster.wait_promoted(dead), statuses);
    let unexpected: Vec<_> = seen
        .iter()
        .filter(|(s, took)| {
            ![
                StatusCode::OK,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::UNAUTHORIZED,
            ]
            .contains(s)
                || *took > Duration::from_secs(4)
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?} of {seen:?}");
    assert!(
        seen.iter()
            .any(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE),
        "no 503 during the election: {seen:?}"
    );
    for app in &apps {
        assert_eq!(status(app, &left).await, StatusCode::UNAUTHORIZED);
        for (_, cookie, _) in &sessions {
            assert_eq!(
                status(app, cookie).await,
                StatusCode::OK,
                "after {dead} gave way to {promoted}"
            );
        }
    }
    a_logout_is_seen_at_once(&apps, delete_cluster_sessions_silently(&cluster)).await;
}

/// A node that left the cluster (reset) still answers and keeps its
/// subscribers, but hears no report: an instance subscribed there notices
/// within seconds, by its heartbeat, and stops serving what it remembers,
/// so a logout on another instance is refused there.
#[tokio::test]
async fn an_instance_hearing_a_node_that_left_the_cluster_stops_trusting_what_it_remembers() {
    let cluster = RedisCluster::start().await;
    let replica = cluster.replicas().await[0];
    let (_provider, apps) = instances(2, &cluster.url_from(replica)).await;
    let (browser, cookie) = logged_in_on_both(&apps, "valentina.tereshkova").await;
    let reset = cluster.cli(replica, &["CLUSTER", "RESET", "SOFT"]).await;
    assert_eq!(reset.trim(), "OK");
    browser
        .follow(&format!("{}/auth/logout", apps[0].base))
        .await;
    let took = answered_within(
        &apps[1],
        &cookie,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(4),
    )
    .await;
    assert!(
        took.is_some(),
        "the second instance kept serving a logged-out session"
    );
}
