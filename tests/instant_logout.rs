//! Instant logout across machines: two instances share a real Redis and
//! each remembers opened sessions for a minute, yet a logout or a
//! back-channel logout on one is refused on the other within 100 ms (Redis
//! publishes the change); while the change reports are not heard (Redis
//! stopped), nothing remembered is trusted, and once Redis is back the
//! reports are heard again.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use suite::{app, AppServer, Browser, Provider, Redis};

/// Long enough that only a report can make an instance forget a session.
const REMEMBERED: Duration = Duration::from_secs(60);
const WITHIN: Duration = Duration::from_millis(100);

async fn two_instances(redis: &Redis) -> (Provider, Vec<AppServer>) {
    let instances =
        app::instances_on_redis(2, &[], |c| c.session_cache_ttl(REMEMBERED), &redis.url()).await;
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

/// The second instance serves what it remembers (a session deleted in
/// Redis without a report is still served there), yet a logout on the
/// first is refused there within 100 ms.
async fn a_logout_is_seen_at_once(apps: &[AppServer], redis: &Redis) {
    let (_, remembered) = logged_in_on_both(apps, "ada.lovelace").await;
    delete_sessions_silently(redis).await;
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
    a_logout_is_seen_at_once(&apps, &redis).await;
}

#[tokio::test]
async fn a_back_channel_logout_on_one_instance_is_refused_on_the_other_within_100_ms() {
    let redis = Redis::start().await;
    let (provider, apps) = two_instances(&redis).await;
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
    a_logout_is_seen_at_once(&apps, &redis).await;
}
