//! Logging out: the local session ends first, then the provider's; an app
//! that comes back to `/auth/logoutcallback` has the logout's `state` checked.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use suite::{app, confirm_provider_logout, logout_revokes_the_session, Browser};

/// The app's base URL, read back from its redirect URL.
fn base_of(config: &civic_auth_poem::CivicAuthConfigBuilder) -> String {
    let built = config.clone().build().expect("valid config");
    built
        .redirect_url()
        .as_str()
        .trim_end_matches("/auth/callback")
        .to_owned()
}

/// An app that registers `/auth/logoutcallback` as its post-logout URL gets
/// a `state` sent with the logout and checked when the browser comes back;
/// a link to the callback with any other `state` ends nothing.
#[tokio::test]
async fn a_logout_that_returns_to_the_logout_callback_checks_its_state() {
    let (_provider, app) = app::with_provider(&[], |c| {
        let base = base_of(&c);
        c.post_logout_redirect_url(format!("{base}/auth/logoutcallback"))
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    let user_url = format!("{}/auth/user", app.base);

    for forged in ["", "?state=", "?state=not-this-logout"] {
        let page = browser
            .navigate(&format!("{}/auth/logoutcallback{forged}", app.base))
            .await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{forged}: {}",
            page.body
        );
        assert!(
            page.body.contains("not started in this browser"),
            "{}",
            page.body
        );
        assert_eq!(
            browser.get(&user_url).await.status,
            StatusCode::OK,
            "{forged} ended the session"
        );
    }

    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    let end_session = logout.location().unwrap();
    let params: std::collections::HashMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert_eq!(
        params["post_logout_redirect_uri"],
        format!("{}/auth/logoutcallback", app.base)
    );
    assert!(!params["state"].is_empty());
    let confirm = browser.navigate(end_session.as_str()).await;
    let back = confirm_provider_logout(&browser, &confirm).await;
    assert_eq!(back.url.path(), "/auth/logoutcallback");
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    assert_eq!(back.location().unwrap().path(), "/");
    assert_eq!(
        browser.get(&user_url).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The state was used up with its cookie.
    let again = browser.navigate(back.url.as_str()).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
}

/// A logout must come from the app's own pages: a link on another site
/// gets a page whose button logs out; a post from another site is refused.
#[tokio::test]
async fn another_site_cannot_log_the_user_out() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let cookie = browser.cookie_header(&app.base);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let logout = format!("{}/auth/logout", app.base);
    let logged_in = || async { browser.get(&format!("{}/auth/user", app.base)).await.status };

    let from_elsewhere = [
        (reqwest::Method::GET, "sec-fetch-site", "cross-site"),
        (reqwest::Method::GET, "sec-fetch-site", "same-site"),
        (reqwest::Method::GET, "origin", "http://evil.example"),
    ];
    for (method, name, value) in from_elsewhere {
        let page = client
            .request(method, &logout)
            .header("cookie", &cookie)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{name}: {value}");
        let body = page.text().await.unwrap();
        assert!(
            body.contains("<form method=\"post\" action=\"/auth/logout\""),
            "{body}"
        );
        assert_eq!(
            logged_in().await,
            StatusCode::OK,
            "{name}: {value} logged out"
        );
    }
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let refused = client
            .post(&logout)
            .header("cookie", &cookie)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert_eq!(
            logged_in().await,
            StatusCode::OK,
            "a {value} post logged out"
        );
    }

    // The button: a post from the app's own page.
    let own = client
        .post(&logout)
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::FOUND);
    let cleared = own.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("civic_session=")
            && c.to_str().unwrap().contains("Max-Age=0")
    });
    assert!(cleared, "the session cookie is cleared");
}

/// Logout revokes the session's tokens at the provider: a copy of the
/// session cookie taken before logout dies at its next refresh.
#[tokio::test]
async fn a_copied_cookie_dies_at_its_next_refresh_after_logout() {
    let clock = civic_auth_poem::ManualClock::now();
    let (provider, app) =
        app::with_provider(&[("ACCESS_TOKEN_TTL", "60")], |c| c.clock(clock.clone())).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    logout_revokes_the_session(&browser, &provider, &app, &clock).await;
    assert_eq!(
        provider.count("token").await,
        2,
        "the refresh was tried, and refused"
    );
}

/// With no provider to go through (none reachable, or no end-session
/// endpoint), a logout that would have come back to the logout callback
/// lands where the callback would have sent it.
#[tokio::test]
async fn a_logout_without_the_provider_lands_on_the_landing_page() {
    let (_fake, app) = app::with_fake_provider(|c| {
        let base = base_of(&c);
        c.post_logout_redirect_url(format!("{base}/auth/logoutcallback"))
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.status, StatusCode::FOUND);
    assert_eq!(logout.location().unwrap().path(), "/");

    // A post-logout page of the app's own is where it goes, as configured.
    let (_fake, app) = app::with_fake_provider(|c| {
        let base = base_of(&c);
        c.post_logout_redirect_url(format!("{base}/bye"))
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.location().unwrap().path(), "/bye");
}

/// A session cookie planted beside the app's does not keep the real one
/// alive through a logout: every value sent under the name is ended.
#[tokio::test]
async fn a_planted_cookie_cannot_keep_a_session_through_logout() {
    use civic_auth_poem::session::{MemoryStore, SessionStore};
    let store: std::sync::Arc<dyn SessionStore> = std::sync::Arc::new(MemoryStore::default());
    let (_fake, app) = app::with_fake_provider_store(Some(store), |c| {
        c.session_cache_ttl(std::time::Duration::ZERO)
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let real = browser.cookie_header(&app.base);
    let real = real
        .split("; ")
        .find(|c| c.starts_with("civic_session="))
        .unwrap()
        .to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let logout = client
        .get(format!("{}/auth/logout", app.base))
        .header("cookie", format!("civic_session=planted; {real}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    let removed = logout.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("civic_session=")
            && c.to_str().unwrap().contains("Max-Age=0")
    });
    assert!(removed, "the session cookie is removed");
    let replayed = client
        .get(format!("{}/admin/hello", app.base))
        .header("cookie", &real)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
}

/// An instance that reused a stored session (`session_cache_ttl`) forgets
/// it at logout: the old cookie is refused at once, not a second later.
#[tokio::test]
async fn a_logged_out_session_is_not_served_from_memory() {
    use civic_auth_poem::session::{MemoryStore, SessionStore};
    let store: std::sync::Arc<dyn SessionStore> = std::sync::Arc::new(MemoryStore::default());
    let (_fake, app) = app::with_fake_provider_store(Some(store), |c| {
        c.session_cache_ttl(std::time::Duration::from_secs(3600))
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let cookie = browser.cookie_header(&app.base);
    let hello = || async {
        reqwest::Client::new()
            .get(format!("{}/admin/hello", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(hello().await, StatusCode::OK);
    browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(hello().await, StatusCode::UNAUTHORIZED);
}

/// A logout that cannot reach the store does not look done: the user is
/// told it was not finished, the cookie stays, the hook does not run; once
/// the store is back the logout works, and a copy of the cookie opens nothing.
#[tokio::test]
async fn a_logout_while_the_store_is_down_says_it_is_not_done() {
    let mut redis = suite::Redis::start_persistent().await;
    let left = Arc::new(Mutex::new(Vec::new()));
    let record = left.clone();
    let hooks = move |c: civic_auth_poem::CivicAuthConfigBuilder| {
        let record = record.clone();
        c.on_logout(move |logout| {
            let record = record.clone();
            async move { record.lock().unwrap().push(logout.user.id) }
        })
    };
    let (_provider, apps) = app::instances_on_redis(1, &[], hooks, &redis.url()).await;
    let app = &apps[0];
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    let copied = browser.cookie_header(&app.base);
    let status = suite::profile_status(app, &copied).await;
    assert_eq!(status, StatusCode::OK);

    redis.stop().await;
    let refused = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("not finished"), "{}", refused.body);
    assert!(
        refused.set_cookies().is_empty(),
        "{:?}",
        refused.set_cookies()
    );
    assert!(left.lock().unwrap().is_empty(), "the hook ran");

    // The store is back: the session is as it was, and now it ends.
    redis.restart().await;
    assert_eq!(browser.cookie_header(&app.base), copied);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = suite::profile_status(app, &copied).await;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
    let done = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert_eq!(*left.lock().unwrap(), ["ada.lovelace"]);
    // Another instance reuses nothing for long (1 s), and the record is gone.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let status = suite::profile_status(app, &copied).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
