//! Transparent refresh against the real provider, which rotates refresh
//! tokens and revokes the grant when one is used twice: a session is
//! refreshed once however many requests carry its stale cookie, on one
//! machine or several sharing Redis.

use std::{sync::Arc, time::Duration};

use civic_auth_poem::session::{MemoryStore, RedisStore, SessionStore};
use reqwest::StatusCode;
use suite::{app, AppServer, Browser, Provider, Redis};
use tokio::task::JoinSet;

/// Access tokens live 3 s: old enough to refresh after a short sleep.
const SHORT_TOKENS: &[(&str, &str)] = &[("ACCESS_TOKEN_TTL", "3"), ("ID_TOKEN_TTL", "3")];

async fn wait_for_expiry() {
    tokio::time::sleep(Duration::from_millis(3500)).await;
}

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
async fn refresh_once_per_round(provider: &Provider, apps: &[&AppServer]) {
    let browser = Browser::new();
    browser.log_in(&apps[0].base, "katherine.johnson").await;
    let mut cookie = browser.cookie_header(&apps[0].base);
    assert_eq!(
        provider.count("token").await,
        1,
        "the login's code exchange"
    );
    for round in 1..=2 {
        wait_for_expiry().await;
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

#[tokio::test]
async fn cookie_sessions_refresh_once_under_concurrency() {
    let (provider, apps) = app::instances(1, SHORT_TOKENS, |c| c, || async { None }).await;
    refresh_once_per_round(&provider, &[&apps[0]]).await;
}

#[tokio::test]
async fn memory_sessions_refresh_once_under_concurrency() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    let (provider, apps) =
        app::instances(1, SHORT_TOKENS, |c| c, || async { Some(store.clone()) }).await;
    refresh_once_per_round(&provider, &[&apps[0]]).await;
}

#[tokio::test]
async fn two_machines_sharing_redis_refresh_once() {
    let redis = Redis::start().await;
    let url = redis.url();
    let (provider, apps) = app::instances(
        2,
        SHORT_TOKENS,
        |c| c,
        || {
            let url = url.clone();
            async move {
                let store: Arc<dyn SessionStore> =
                    Arc::new(RedisStore::connect(&url).await.unwrap());
                Some(store)
            }
        },
    )
    .await;
    refresh_once_per_round(&provider, &[&apps[0], &apps[1]]).await;
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
