//! The login and logout hooks against the real provider: app data attached
//! at login is read by handlers, survives refreshes and ends with the
//! session; a refusal is a readable 403 and no session; the logout hook
//! sees who left.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use civic_auth_poem::{
    hooks::{Login, LoginRefusal},
    session::{MemoryStore, SessionStore},
    ManualClock,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use suite::{app, fake_provider, Browser};

/// Access tokens live a minute; the tests move the apps' clock past it.
const SHORT_TOKENS: &[(&str, &str)] = &[("ACCESS_TOKEN_TTL", "60")];

/// What the app keeps per login: a plan chosen from the user's email, and
/// the length of the access token it saw (so the test knows it had one).
async fn plan_of(login: Login) -> Result<Value, LoginRefusal> {
    let email = login.user.email.unwrap_or_default();
    if email.starts_with("mallory") {
        return Err(LoginRefusal::new("this account is suspended <for now>"));
    }
    Ok(json!({
        "plan": if email.starts_with("ada") { "pro" } else { "free" },
        "user": login.user.id,
        "saw_tokens": !login.access_token.is_empty() && login.id_token.split('.').count() == 3,
    }))
}

async fn app_data_survives_refresh(store: Option<Arc<dyn SessionStore>>) {
    let clock = ManualClock::now();
    let (provider, apps) = app::instances(
        1,
        SHORT_TOKENS,
        |c| c.clock(clock.clone()).on_login(plan_of),
        || {
            let store = store.clone();
            async move { store }
        },
    )
    .await;
    let app = &apps[0];
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    let account = browser.get(&format!("{}/admin/account", app.base)).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.body);
    let data = account.json();
    assert_eq!(data["plan"], "pro");
    assert_eq!(data["saw_tokens"], true);
    let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(data["user"], profile.json()["id"]);

    // Past the access token's end: the session is refreshed, the data stays.
    let tokens_before = provider.count("token").await;
    clock.advance(Duration::from_secs(61));
    let after = browser.get(&format!("{}/admin/account", app.base)).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    assert_eq!(provider.count("token").await, tokens_before + 1);
    assert_eq!(after.json(), data);

    // Logged out, it is gone with the session.
    browser.follow(&format!("{}/auth/logout", app.base)).await;
    let gone = browser.get(&format!("{}/admin/account", app.base)).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn app_data_survives_refresh_in_cookie_sessions() {
    app_data_survives_refresh(None).await;
}

#[tokio::test]
async fn app_data_survives_refresh_in_stored_sessions() {
    app_data_survives_refresh(Some(Arc::new(MemoryStore::default()))).await;
}

#[tokio::test]
async fn a_login_the_hook_refuses_gets_a_page_and_no_session() {
    let (_provider, app) = app::with_provider(&[], |c| c.on_login(plan_of)).await;
    let browser = Browser::new();
    let page = browser.log_in(&app.base, "mallory.malicious").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.url.path().ends_with("/auth/callback"), "{}", page.url);
    assert!(
        page.body
            .contains("this account is suspended &lt;for now&gt;"),
        "{}",
        page.body
    );
    assert!(
        !page
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("civic_session=") && !c.contains("Max-Age=0")),
        "{:?}",
        page.set_cookies()
    );
    let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(profile.status, StatusCode::UNAUTHORIZED);

    // Another user of the same app is let in.
    let other = Browser::new();
    other.log_in(&app.base, "grace.hopper").await;
    let account = other.get(&format!("{}/admin/account", app.base)).await;
    assert_eq!(account.json()["plan"], "free");
}

#[tokio::test]
async fn the_logout_hook_sees_who_left_and_their_app_data() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let (_provider, app) = app::with_provider(&[], move |c| {
        c.on_login(plan_of).on_logout(move |logout| {
            let record = record.clone();
            async move {
                let plan = logout.data::<Value>().map(|data| data["plan"].clone());
                record.lock().unwrap().push((logout.user.id, plan));
            }
        })
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    let id = browser
        .get(&format!("{}/admin/profile", app.base))
        .await
        .json()["id"]
        .clone();
    browser.follow(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        [(id.as_str().unwrap().to_owned(), Some(json!("pro")))]
    );
    // No session, no hook.
    Browser::new()
        .follow(&format!("{}/auth/logout", app.base))
        .await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// A back-channel logout ends sessions without the browser: the hook hears
/// each, with its data, whatever the store.
async fn the_logout_hook_hears_back_channel_logouts(store: Arc<dyn SessionStore>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let hooks = move |c: civic_auth_poem::CivicAuthConfigBuilder| {
        let record = record.clone();
        c.on_login(plan_of).on_logout(move |logout| {
            let record = record.clone();
            async move {
                let plan = logout.data::<Value>().map(|data| data["plan"].clone());
                record.lock().unwrap().push((logout.user.id, plan));
            }
        })
    };
    let (provider, apps) = app::instances(1, &[], hooks, || {
        let store = store.clone();
        async move { Some(store) }
    })
    .await;
    let app = &apps[0];
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    suite::log_out_at_provider(&browser, &provider, &app.base).await;
    for _ in 0..50 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [("ada.lovelace".to_owned(), Some(json!("pro")))]
    );
    let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_logout_hook_hears_back_channel_logouts_in_memory() {
    the_logout_hook_hears_back_channel_logouts(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn the_logout_hook_hears_back_channel_logouts_on_redis() {
    let redis = suite::Redis::start().await;
    let store = civic_auth_poem::session::RedisStore::connect(&redis.url())
        .await
        .unwrap();
    the_logout_hook_hears_back_channel_logouts(Arc::new(store)).await;
}

#[tokio::test]
async fn a_session_without_app_data_says_so() {
    let (_provider, app) = app::with_provider(&[], |c| c).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada.lovelace").await;
    let account = browser.get(&format!("{}/admin/account", app.base)).await;
    assert_eq!(account.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(account.json()["message"]
        .as_str()
        .unwrap()
        .contains("has no app data"));
}

#[tokio::test]
async fn app_data_and_sessions_too_large_are_refused_at_login() {
    let (_provider, app) = app::with_provider(&[], |c| {
        c.on_login(|_| async { Ok::<_, LoginRefusal>("x".repeat(9 * 1024)) })
    })
    .await;
    let page = Browser::new().log_in(&app.base, "ada.lovelace").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        page.body.contains("over the limit of 8192"),
        "{}",
        page.body
    );

    // A profile too large for the cookies a browser sends back: a clear
    // error at login, not a session that cannot be read.
    let (fake, app) = app::with_fake_provider(|c| c).await;
    fake.update(|s| s.userinfo = json!({ "bio": "x".repeat(40_000) }));
    let browser = Browser::new();
    let page = fake_provider::log_in_from(&browser, &format!("{}/auth/login", app.base)).await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        page.body.contains("use a server-side session store"),
        "{}",
        page.body
    );
    assert!(page
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("civic_session")));
}
