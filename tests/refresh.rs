//! Transparent refresh against the real provider, which rotates refresh
//! tokens and revokes the grant when one is used twice: a session is
//! refreshed once however many requests carry its stale cookie, on one
//! machine or several sharing Redis.

use std::{sync::Arc, time::Duration};

use civic_auth_poem::{
    session::{MemoryStore, SessionStore},
    ManualClock,
};
use reqwest::StatusCode;
use suite::{
    app,
    fake_provider::{Signing, TestKey},
    AppServer, Browser, Provider, Redis,
};
use tokio::task::JoinSet;

/// Access tokens live a minute; the tests move the apps' clock past it.
const SHORT_TOKENS: &[(&str, &str)] = &[("ACCESS_TOKEN_TTL", "60")];
const PAST_EXPIRY: Duration = Duration::from_secs(61);

/// Sends `count` requests at once, spread over `apps`, all with `cookie`;
/// returns their statuses and the new session cookie they set.
async fn burst(apps: &[&AppServer], cookie: &str, count: usize) -> (Vec<StatusCode>, Vec<String>) {
    let mut requests = JoinSet::new();
    for i in 0..count {
        let url = format!("{}/admin/profile", apps[i % apps.len()].base);
        let cookie = cookie.to_owned();
        requests.spawn(async move {
            let resp = reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let set: Vec<String> = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter(|c| c.starts_with("civic_session") && !c.contains("Max-Age=0"))
                .map(|c| c.split(';').next().unwrap().to_owned())
                .collect();
            (resp.status(), set)
        });
    }
    let answers = requests.join_all().await;
    let statuses = answers.iter().map(|(s, _)| *s).collect();
    let cookies = answers.into_iter().flat_map(|(_, c)| c).collect();
    (statuses, cookies)
}

/// Two rounds of 50 concurrent requests with an expired session: one token
/// call each, every request answered 200, and the session refreshable again.
async fn refresh_once_per_round(provider: &Provider, apps: &[&AppServer], clock: &ManualClock) {
    let browser = Browser::new();
    browser.log_in(&apps[0].base, "katherine.johnson").await;
    let mut cookie = browser.cookie_header(&apps[0].base);
    assert_eq!(
        provider.count("token").await,
        1,
        "the login's code exchange"
    );
    for round in 1..=2 {
        clock.advance(PAST_EXPIRY);
        let (statuses, cookies) = burst(apps, &cookie, 50).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            provider.count("token").await,
            1 + round,
            "round {round}: one refresh"
        );
        cookie = cookies
            .into_iter()
            .next()
            .expect("a refreshed session cookie");
    }
    // The latest cookie still works, and was not refreshed again.
    let (statuses, _) = burst(apps, &cookie, 5).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    assert_eq!(provider.count("token").await, 3);
}

/// One app with cookie sessions, on `clock`, and its provider.
async fn with_cookie_sessions(clock: &ManualClock) -> (Provider, Vec<AppServer>) {
    app::instances(
        1,
        SHORT_TOKENS,
        |c| c.clock(clock.clone()),
        || async { None },
    )
    .await
}

#[tokio::test]
async fn cookie_sessions_refresh_once_under_concurrency() {
    let clock = ManualClock::now();
    let (provider, apps) = with_cookie_sessions(&clock).await;
    refresh_once_per_round(&provider, &[&apps[0]], &clock).await;
}

/// An old cookie sent again after its session's refresh, when the new
/// tokens are due in turn (a minute later, still within the time a
/// refresh's result is shared): the shared result is refreshed again,
/// not handed out due.
#[tokio::test]
async fn an_old_cookie_after_the_new_tokens_are_due_refreshes_them() {
    let clock = ManualClock::now();
    let (provider, apps) = with_cookie_sessions(&clock).await;
    let browser = Browser::new();
    browser.log_in(&apps[0].base, "katherine.johnson").await;
    let old = browser.cookie_header(&apps[0].base);
    clock.advance(PAST_EXPIRY);
    let (statuses, _) = burst(&[&apps[0]], &old, 1).await;
    assert_eq!(statuses, [StatusCode::OK]);
    assert_eq!(
        provider.count("token").await,
        2,
        "the login and one refresh"
    );
    clock.advance(PAST_EXPIRY);
    let (statuses, cookies) = burst(&[&apps[0]], &old, 1).await;
    assert_eq!(statuses, [StatusCode::OK]);
    assert_eq!(
        provider.count("token").await,
        3,
        "the shared result, refreshed"
    );
    // What it set is current: used again, nothing is refreshed.
    let (statuses, _) = burst(&[&apps[0]], &cookies[0], 3).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    assert_eq!(provider.count("token").await, 3);
}

#[tokio::test]
async fn memory_sessions_refresh_once_under_concurrency() {
    let clock = ManualClock::now();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default().with_clock(clock.clone()));
    let (provider, apps) = app::instances(
        1,
        SHORT_TOKENS,
        |c| c.clock(clock.clone()),
        || async { Some(store.clone()) },
    )
    .await;
    refresh_once_per_round(&provider, &[&apps[0]], &clock).await;
}

#[tokio::test]
async fn two_machines_sharing_redis_refresh_once() {
    let redis = Redis::start().await;
    let clock = ManualClock::now();
    let (provider, apps) =
        app::instances_on_redis(2, SHORT_TOKENS, |c| c.clock(clock.clone()), &redis.url()).await;
    refresh_once_per_round(&provider, &[&apps[0], &apps[1]], &clock).await;
}

#[tokio::test]
async fn a_failed_refresh_logs_out_cleanly() {
    // The refresh token outlives the access token by only a second.
    let env = &[
        ("ACCESS_TOKEN_TTL", "1"),
        ("ID_TOKEN_TTL", "1"),
        ("REFRESH_TOKEN_TTL", "2"),
    ];
    let (_provider, apps) = app::instances(1, env, |c| c, || async { None }).await;
    let app = &apps[0];
    let browser = Browser::new();
    browser.log_in(&app.base, "annie.easley").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;

    let api = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "{}", api.body);
    assert!(api
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("civic_session") && c.contains("Max-Age=0")));
    let page = browser
        .navigate(&format!("{}/admin/profile", app.base))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.location().unwrap().path(), "/auth/login");
}

/// A refresh whose new ID token is about another user ends the session.
#[tokio::test]
async fn a_refreshed_id_token_about_someone_else_ends_the_session() {
    let clock = ManualClock::now();
    let (fake, app) = app::with_fake_provider(|c| c.clock(clock.clone())).await;
    fake.update(|s| s.refresh_tokens = true);
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let profile = format!("{}/admin/profile", app.base);
    assert_eq!(browser.get(&profile).await.status, StatusCode::OK);

    fake.update(|s| s.claims = serde_json::json!({"sub": "user-2"}));
    clock.advance(Duration::from_secs(300));
    let answer = browser.get(&profile).await;
    assert_eq!(fake.calls("refresh"), 1, "a refresh was tried");
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(browser.get(&profile).await.status, StatusCode::UNAUTHORIZED);
}

/// A refreshed ID token whose key cannot be fetched now (the key set is
/// down while the token endpoint answers) is taken at its `sub`, since it
/// came straight from the token endpoint: the same user keeps the session
/// and its new tokens; another user ends it.
#[tokio::test]
async fn a_refresh_while_the_key_set_is_down_trusts_the_token_endpoint_for_the_same_user() {
    for (sub, expected) in [
        ("user-1", StatusCode::OK),
        ("user-2", StatusCode::UNAUTHORIZED),
    ] {
        let clock = ManualClock::now();
        let (fake, app) = app::with_fake_provider(|c| {
            c.clock(clock.clone()).jwks_refresh_interval(Duration::ZERO)
        })
        .await;
        fake.update(|s| s.refresh_tokens = true);
        let browser = Browser::new();
        browser.log_in(&app.base, "any").await;
        let profile = format!("{}/admin/profile", app.base);
        assert_eq!(browser.get(&profile).await.status, StatusCode::OK);

        // Signed by a key the app has not seen, whose set cannot be fetched.
        fake.update(|s| {
            s.signing = Signing::Key(TestKey::RsaB);
            s.jwks_status = Some(503);
            s.claims = serde_json::json!({ "sub": sub });
        });
        clock.advance(Duration::from_secs(300));
        let answer = browser.get(&profile).await;
        assert_eq!(fake.calls("refresh"), 1, "a refresh was tried");
        assert_eq!(answer.status, expected, "{sub}: {}", answer.body);
    }
}

/// A logout while a refresh is on its way stays a logout: the refreshed
/// tokens do not bring the stored session back.
#[tokio::test]
async fn a_logout_during_a_refresh_stays_a_logout() {
    let clock = ManualClock::now();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default().with_clock(clock.clone()));
    let (fake, app) = app::with_fake_provider_store(Some(store), |c| c.clock(clock.clone())).await;
    fake.update(|s| s.refresh_tokens = true);
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let cookie = browser.cookie_header(&app.base);
    let profile = format!("{}/admin/profile", app.base);

    fake.update(|s| s.token_delay = Duration::from_millis(800));
    clock.advance(Duration::from_secs(300));
    let refreshing = {
        let (profile, cookie) = (profile.clone(), cookie.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(profile)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.status, StatusCode::FOUND);
    assert_eq!(refreshing.await.unwrap(), StatusCode::UNAUTHORIZED);
    assert_eq!(fake.calls("refresh"), 1);

    // The cookie from before the logout names a session that is gone.
    let replayed = reqwest::Client::new()
        .get(&profile)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
}

mod faults {
    //! The refresh against a store that fails on purpose: its retries, its
    //! wait for another machine's lock, and how long its answer is shared.

    use std::{sync::Arc, time::Duration};

    use civic_auth_poem::ManualClock;
    use reqwest::StatusCode;
    use suite::{
        app, fake_provider::FakeProvider, flaky_store::FlakyStore, profile_status, AppServer,
        Browser,
    };

    /// Past the test provider's 300 s tokens.
    const EXPIRED: Duration = Duration::from_secs(300);

    async fn flaky(clock: &ManualClock) -> (FakeProvider, AppServer, Arc<FlakyStore>, String) {
        let store = FlakyStore::new();
        let (fake, app) = app::with_fake_provider_store(Some(store.clone()), |c| {
            c.clock(clock.clone())
                .session_cache_ttl(Duration::ZERO)
                .http_timeout(Duration::from_secs(1))
        })
        .await;
        fake.update(|s| s.refresh_tokens = true);
        let browser = Browser::new();
        browser.log_in(&app.base, "any").await;
        let cookie = browser.cookie_header(&app.base);
        (fake, app, store, cookie)
    }

    /// Long after the refresh (its shared answer forgotten), before the new
    /// tokens need one: served from the store's record, or logged out if the
    /// record still holds the spent refresh token.
    async fn later(clock: &ManualClock, app: &AppServer, cookie: &str) -> StatusCode {
        clock.advance(Duration::from_secs(130));
        profile_status(app, cookie).await
    }

    #[tokio::test]
    async fn a_refresh_retries_a_store_that_fails_three_times() {
        let clock = ManualClock::now();
        let (fake, app, store, cookie) = flaky(&clock).await;
        store.fail_replaces(3);
        clock.advance(EXPIRED);
        assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
        assert_eq!(
            later(&clock, &app, &cookie).await,
            StatusCode::OK,
            "stored on the 4th try"
        );
        assert_eq!(fake.calls("refresh"), 1);
    }

    #[tokio::test]
    async fn a_refresh_gives_up_on_a_store_after_four_failures() {
        let clock = ManualClock::now();
        let (fake, app, store, cookie) = flaky(&clock).await;
        store.fail_replaces(4);
        clock.advance(EXPIRED);
        // The user is served with the new tokens this once ...
        assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
        // ... but the store kept the spent refresh token.
        assert_eq!(later(&clock, &app, &cookie).await, StatusCode::UNAUTHORIZED);
        assert_eq!(fake.calls("refresh"), 2);
    }

    #[tokio::test]
    async fn a_refresh_waits_for_another_machines_lock() {
        let clock = ManualClock::now();
        let (fake, app, store, cookie) = flaky(&clock).await;
        store.hold_lock(3);
        clock.advance(EXPIRED);
        assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
        assert_eq!(fake.calls("refresh"), 1, "refreshed once the lock was free");
    }

    #[tokio::test]
    async fn a_lock_that_stays_taken_leaves_the_session_as_it_is() {
        let clock = ManualClock::now();
        let (fake, app, store, cookie) = flaky(&clock).await;
        store.hold_lock(usize::MAX);
        clock.advance(EXPIRED);
        // After waiting out the lock's lifetime: served, not refreshed here.
        assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
        assert_eq!(fake.calls("refresh"), 0);
    }

    /// A provider that fails a refresh for its own reasons (not a refused
    /// grant) leaves the session as it is, to try again later.
    #[tokio::test]
    async fn a_refresh_the_provider_fails_keeps_the_session() {
        let clock = ManualClock::now();
        let (fake, app, _store, cookie) = flaky(&clock).await;
        fake.update(|s| s.token_error = Some("server_error"));
        clock.advance(EXPIRED);
        assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
        assert_eq!(fake.calls("refresh"), 1);
    }

    /// A request sent with the old cookie well after the refresh gets the
    /// refreshed session, not a second use of the spent refresh token.
    #[tokio::test]
    async fn the_old_cookie_shares_the_refresh_for_a_while() {
        let clock = ManualClock::now();
        let (fake, app) = app::with_fake_provider(|c| c.clock(clock.clone())).await;
        fake.update(|s| s.refresh_tokens = true);
        let browser = Browser::new();
        browser.log_in(&app.base, "any").await;
        let old = browser.cookie_header(&app.base);
        clock.advance(EXPIRED);
        assert_eq!(profile_status(&app, &old).await, StatusCode::OK);
        clock.advance(Duration::from_secs(30));
        assert_eq!(profile_status(&app, &old).await, StatusCode::OK);
        assert_eq!(fake.calls("refresh"), 1);
    }
}
