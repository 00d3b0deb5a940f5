//! The session cookie: what it looks like to the browser, and that anything
//! but the app's own, current, whole cookie means "logged out".

use std::{sync::Arc, time::Duration};

use civic_auth_poem::{
    session::{MemoryStore, SessionStore},
    ManualClock,
};
use reqwest::StatusCode;
use serde_json::json;
use suite::{app, fake_provider::FakeProvider, profile_status, AppServer, Browser, Page};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn log_in(browser: &Browser, app: &AppServer) -> Page {
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let to_callback = browser
        .navigate(to_provider.location().unwrap().as_str())
        .await;
    let done = browser
        .navigate(to_callback.location().unwrap().as_str())
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    done
}

/// `name=value` pairs of the session cookies a response sets.
fn session_cookies(page: &Page) -> Vec<String> {
    page.set_cookies()
        .into_iter()
        .filter(|c| c.starts_with("civic_session") && !c.contains("Max-Age=0"))
        .collect()
}

fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

#[tokio::test]
async fn the_session_cookie_is_sealed_and_hidden_from_scripts() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let browser = Browser::new();
    let done = log_in(&browser, &app).await;
    let cookies = session_cookies(&done);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("civic_session="));
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http app: {cookie}");
    // No token or claim is readable in it (`eyJ0eXAiOiJKV1Qi` opens every JWT here).
    for secret in [
        "fake-access-token",
        "eyJ0eXAiOiJKV1Qi",
        "user-1",
        "example.com",
    ] {
        assert!(!cookie.contains(secret), "{secret} visible in {cookie}");
    }
    assert_eq!(profile_status(&app, pair(cookie)).await, StatusCode::OK);
}

#[tokio::test]
async fn tampered_truncated_or_foreign_cookies_mean_logged_out() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let done = log_in(&Browser::new(), &app).await;
    let cookie = pair(&session_cookies(&done)[0]).to_owned();
    let value = cookie.trim_start_matches("civic_session=");

    let mut flipped = value.as_bytes().to_vec();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let tampered = format!("civic_session={}", String::from_utf8(flipped).unwrap());
    let truncated = format!("civic_session={}", &value[..value.len() - 10]);
    let garbage = "civic_session=%%%not-a-cookie%%%".to_owned();
    // A value the app sealed for another cookie (a login transaction) does
    // not open as a session: each value is bound to its cookie's name.
    let started = Browser::new()
        .navigate(&format!("{}/auth/login", app.base))
        .await;
    let tx = started
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("civic_auth_tx."))
        .unwrap();
    let tx_value = pair(&tx).split_once('=').unwrap().1.to_owned();
    let moved = format!("civic_session={tx_value}");
    for cookie in [tampered, truncated, garbage, moved] {
        assert_eq!(
            profile_status(&app, &cookie).await,
            StatusCode::UNAUTHORIZED,
            "{cookie}"
        );
    }

    // A cookie sealed by another app (another secret) is foreign here.
    let (_other_fake, other_app) = app::with_fake_provider(|c| c).await;
    let foreign = log_in(&Browser::new(), &other_app).await;
    let foreign = pair(&session_cookies(&foreign)[0]).to_owned();
    assert_eq!(profile_status(&other_app, &foreign).await, StatusCode::OK);
    assert_eq!(
        profile_status(&app, &foreign).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn expired_sessions_mean_logged_out() {
    let clock = ManualClock::now();
    let (_fake, app) = app::with_fake_provider(|c| {
        c.session_duration(HOUR)
            .session_idle_timeout(DAY)
            .clock(clock.clone())
    })
    .await;
    let done = log_in(&Browser::new(), &app).await;
    let cookie = pair(&session_cookies(&done)[0]).to_owned();
    assert!(session_cookies(&done)[0].contains("Max-Age=3600"));
    assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
    // Replayed after its end by a client that ignores Max-Age.
    clock.advance(HOUR);
    assert_eq!(
        profile_status(&app, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The server, not only the cookie's Max-Age, ends an idle cookie session:
/// a client that keeps the cookie past its idle timeout is logged out.
#[tokio::test]
async fn an_idle_cookie_replayed_later_means_logged_out() {
    let clock = ManualClock::now();
    let (_fake, app) =
        app::with_fake_provider(|c| c.session_idle_timeout(HOUR).clock(clock.clone())).await;
    let done = log_in(&Browser::new(), &app).await;
    let cookie = pair(&session_cookies(&done)[0]).to_owned();
    clock.advance(HOUR - Duration::from_secs(1));
    assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        profile_status(&app, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A session opened once is reused from memory, but only for exactly the
/// cookie it was opened from: one changed byte is a cookie that does not open.
#[tokio::test]
async fn a_reused_session_still_needs_the_exact_cookie() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let done = log_in(&Browser::new(), &app).await;
    let cookie = pair(&session_cookies(&done)[0]).to_owned();
    assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
    // Well before the end, where the cache's key does not reach.
    let mut flipped = cookie.clone().into_bytes();
    let at = flipped.len() / 2;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        profile_status(&app, &flipped).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(profile_status(&app, &cookie).await, StatusCode::OK);
}

#[tokio::test]
async fn large_sessions_are_chunked() {
    let (fake, app) = app::with_fake_provider(|c| c).await;
    let groups: Vec<String> = (0..400).map(|i| format!("group-number-{i:04}")).collect();
    fake.update(|s| s.claims = json!({ "groups": groups }));
    let browser = Browser::new();
    let done = log_in(&browser, &app).await;
    let cookies = session_cookies(&done);
    assert!(cookies.len() >= 3, "{} cookies", cookies.len());
    for (i, cookie) in cookies.iter().enumerate() {
        assert!(cookie.starts_with(&format!("civic_session.{i}=")));
        assert!(cookie.len() < 4096, "cookie {i} is {} bytes", cookie.len());
    }
    let user = browser.get(&format!("{}/auth/user", app.base)).await.json();
    assert_eq!(user["groups"].as_array().unwrap().len(), 400);

    // Logout removes every chunk.
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    let removed: Vec<String> = logout
        .set_cookies()
        .into_iter()
        .filter(|c| c.contains("Max-Age=0"))
        .collect();
    for i in 0..cookies.len() {
        assert!(
            removed
                .iter()
                .any(|c| c.starts_with(&format!("civic_session.{i}="))),
            "chunk {i} not removed"
        );
    }
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_login_gets_a_new_session() {
    let (fake, app): (FakeProvider, AppServer) = app::with_fake_provider(|c| c).await;
    let browser = Browser::new();
    log_in(&browser, &app).await;
    fake.update(|s| s.claims = json!({"sub": "user-2", "groups": ["admins"]}));
    log_in(&browser, &app).await;
    let user = browser.get(&format!("{}/auth/user", app.base)).await.json();
    assert_eq!(user["id"], "user-2");
    assert_eq!(user["groups"], json!(["admins"]));
    fake.update(|s| s.claims = json!({}));
    log_in(&browser, &app).await;
    let user = browser.get(&format!("{}/auth/user", app.base)).await.json();
    assert_eq!(user["id"], "user-1");
    assert!(user.get("groups").is_none(), "{user}");
}

#[tokio::test]
async fn protected_handlers_in_every_shape() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let browser = Browser::new();
    // Sync handler with a pattern parameter, logged out: 401 or redirect.
    let api = browser.get(&format!("{}/admin/items/7", app.base)).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    let nav = browser
        .navigate(&format!("{}/admin/items/7?x=1", app.base))
        .await;
    assert_eq!(
        nav.headers["location"].to_str().unwrap(),
        "/auth/login?returnTo=%2Fadmin%2Fitems%2F7%3Fx%3D1"
    );
    assert_eq!(
        browser.get(&format!("{}/maybe", app.base)).await.body,
        "anonymous"
    );

    log_in(&browser, &app).await;
    let item = browser.get(&format!("{}/admin/items/7", app.base)).await;
    assert_eq!(item.body, "item 7 for user-1");
    assert_eq!(
        browser.get(&format!("{}/maybe", app.base)).await.body,
        "user-1"
    );
}

#[tokio::test]
async fn a_stray_chunk_beyond_the_limit_means_logged_out() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let done = log_in(&Browser::new(), &app).await;
    let cookie = pair(&session_cookies(&done)[0]).to_owned();
    let value = cookie.trim_start_matches("civic_session=");
    // The same sealed value, as chunk 0 with a client-made chunk 10 beside it.
    let stuffed = format!("civic_session.0={value}; civic_session.10=x");
    assert_eq!(
        profile_status(&app, &stuffed).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        profile_status(&app, &format!("civic_session.0={value}")).await,
        StatusCode::OK
    );
}

/// Rolling lifetime: activity keeps a session past its idle timeout; silence
/// for longer ends it. With cookies and with a store alike, on the app's clock.
#[tokio::test]
async fn idle_sessions_end_and_activity_keeps_them() {
    for with_store in [false, true] {
        // A clock per app: the test provider's tokens follow real time.
        let clock = ManualClock::now();
        let store = with_store.then(|| -> Arc<dyn SessionStore> {
            Arc::new(MemoryStore::default().with_clock(clock.clone()))
        });
        let (_fake, app) = app::with_fake_provider_store(store.clone(), |c| {
            c.session_idle_timeout(HOUR)
                .session_cache_ttl(Duration::ZERO)
                .clock(clock.clone())
        })
        .await;
        let browser = Browser::new();
        log_in(&browser, &app).await;
        for round in 0..3 {
            clock.advance(HOUR / 2);
            let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
            assert_eq!(
                hello.status,
                StatusCode::OK,
                "round {round}, store: {}",
                store.is_some()
            );
        }
        clock.advance(HOUR + Duration::from_secs(1));
        let cookie = browser.cookie_header(&app.base);
        let hello = profile_status(&app, &cookie).await;
        assert_eq!(
            hello,
            StatusCode::UNAUTHORIZED,
            "store: {}",
            store.is_some()
        );
    }
}

/// Answers that depend on the session, or change it, are not for caches:
/// `Cache-Control: no-store`, or the handler's own caching with `Vary: Cookie`.
#[tokio::test]
async fn answers_that_depend_on_the_session_are_not_stored() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let browser = Browser::new();
    let login = log_in(&browser, &app).await;
    let cache_control = |page: &Page| {
        page.headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(cache_control(&login).as_deref(), Some("no-store"));
    for path in [
        "/admin/profile",
        "/admin/hello",
        "/auth/user",
        "/maybe",
        "/api/me",
    ] {
        let page = browser.get(&format!("{}{path}", app.base)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(cache_control(&page).as_deref(), Some("no-store"), "{path}");
    }
    // A handler's own caching is kept, varied by the session cookie.
    let own = browser.get(&format!("{}/admin/cached", app.base)).await;
    assert_eq!(cache_control(&own).as_deref(), Some("private, max-age=60"));
    let vary = own.headers.get("vary").map(|v| v.to_str().unwrap());
    assert_eq!(vary, Some("Cookie"));
    // A page that never asks who is there is the app's to cache.
    let public = browser.get(&format!("{}/public", app.base)).await;
    assert_eq!(cache_control(&public), None);
}

/// A new login in a browser ends the server-side session it had: its old
/// cookie, kept by someone, opens nothing.
#[tokio::test]
async fn a_new_login_ends_the_previous_stored_session() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    let (_fake, app) =
        app::with_fake_provider_store(Some(store.clone()), |c| c.session_cache_ttl(Duration::ZERO))
            .await;
    let browser = Browser::new();
    let first = pair(&session_cookies(&log_in(&browser, &app).await)[0]).to_owned();
    assert_eq!(profile_status(&app, &first).await, StatusCode::OK);
    let second = pair(&session_cookies(&log_in(&browser, &app).await)[0]).to_owned();
    assert_ne!(first, second);
    assert_eq!(profile_status(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(profile_status(&app, &second).await, StatusCode::OK);
}

/// In an https app the session and login cookies carry the `__Host-`
/// prefix (no sibling subdomain can plant them), and a request with two
/// session cookies of one name is logged out, whichever came first.
#[tokio::test]
async fn https_apps_use_host_cookies_and_refuse_doubled_ones() {
    use poem::{http::header, Endpoint, IntoResponse, Request};
    let fake = FakeProvider::start().await;
    let config = app::config("https://app.example", &fake.oauth_server())
        .build()
        .unwrap();
    let auth = civic_auth_poem::CivicAuth::new(config, civic_auth_poem::SessionSecret::generate());
    let app = app::routes(auth);
    let call = |uri: String, cookie: String| {
        let app = &app;
        async move {
            let req = Request::builder()
                .uri_str(&uri)
                .header(header::COOKIE, cookie)
                .finish();
            let resp = app.call(req).await.unwrap().into_response();
            let set: Vec<String> = resp
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            let location = resp
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_owned());
            (resp.status(), set, location)
        }
    };

    let (_, set, to_provider) = call("/auth/login".into(), String::new()).await;
    let tx = set
        .iter()
        .find(|c| c.starts_with("__Host-civic_auth_tx."))
        .expect("a login cookie");
    assert!(
        tx.contains("Secure") && tx.contains("Path=/;") || tx.ends_with("Path=/"),
        "{tx}"
    );
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(to_provider.unwrap())
        .send()
        .await
        .unwrap();
    let callback = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let callback = format!("{}?{}", callback.path(), callback.query().unwrap());
    let (status, set, _) = call(callback, pair(tx).to_owned()).await;
    assert_eq!(status, StatusCode::FOUND);
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-civic_session=") && !c.contains("Max-Age=0"))
        .expect("a __Host- session cookie");
    assert!(
        session.contains("Secure") && session.contains("Path=/"),
        "{session}"
    );
    let session = pair(session).to_owned();

    let hello = |cookie: String| call("/admin/hello".into(), cookie);
    assert_eq!(hello(session.clone()).await.0, StatusCode::OK);
    let value = session.trim_start_matches("__Host-civic_session=");
    for doubled in [
        format!("__Host-civic_session=planted; {session}"),
        format!("{session}; __Host-civic_session=planted"),
        format!("{session}; {session}"),
        format!("civic_session={value}"),
    ] {
        assert_eq!(
            hello(doubled.clone()).await.0,
            StatusCode::UNAUTHORIZED,
            "{doubled}"
        );
    }
}

/// A cookie session's cookie is rewritten (its idle timer restarted) once a
/// tenth of the idle timeout has passed, never when a refresh is near (the
/// refresh writes it), and a store's never (the store keeps the timer).
#[tokio::test]
async fn a_cookie_is_rewritten_for_idleness_only_when_due() {
    let rewritten = |page: &Page| {
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("civic_session=") && !c.contains("Max-Age=0"))
    };
    for with_store in [false, true] {
        let clock = ManualClock::now();
        let store = with_store.then(|| -> Arc<dyn SessionStore> {
            Arc::new(MemoryStore::default().with_clock(clock.clone()))
        });
        let (fake, app) = app::with_fake_provider_store(store, |c| {
            c.session_idle_timeout(Duration::from_secs(600))
                .session_cache_ttl(Duration::ZERO)
                .clock(clock.clone())
        })
        .await;
        // Tokens for 300 s, refreshed from 290 s on.
        fake.update(|s| s.refresh_tokens = true);
        let browser = Browser::new();
        log_in(&browser, &app).await;
        let hello = format!("{}/admin/hello", app.base);
        clock.advance(Duration::from_secs(30));
        assert!(
            !rewritten(&browser.get(&hello).await),
            "before a tenth of the idle timeout"
        );
        clock.advance(Duration::from_secs(40));
        assert_eq!(
            rewritten(&browser.get(&hello).await),
            !with_store,
            "after a tenth (store: {with_store})"
        );
        // 200 s: the refresh is due within the margin; no idle rewrite.
        clock.advance(Duration::from_secs(130));
        let near = browser.get(&hello).await;
        assert_eq!(near.status, StatusCode::OK);
        assert!(!rewritten(&near), "near a refresh (store: {with_store})");
        assert_eq!(fake.calls("refresh"), 0);
    }
}
