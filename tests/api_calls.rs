//! Handlers that call APIs for the user, against the real provider with
//! access tokens of three seconds: the quickstart's `/admin/api-call`
//! calls the provider's userinfo endpoint with the session's token
//! (`AccessToken`), and `examples/openapi.rs` proxies `/bff/*` to the
//! provider's `/oauth` (`BffProxy`, so `/bff/me` is its userinfo); both
//! keep working after the token expires (one refresh for many requests at
//! once), DPoP-bound or not. `tests/bff.rs` has what the proxy forwards.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use suite::{call, free_port, provider_access_token, Browser, Provider, Quickstart};
use tokio::task::JoinSet;

/// Access tokens live 3 s: the session renews them a second before.
const SHORT_TOKENS: (&str, &str) = ("ACCESS_TOKEN_TTL", "3");
const PAST_RENEWAL: Duration = Duration::from_millis(2_300);

/// `count` API calls at once with the browser's session cookie, each
/// answered by userinfo about `login`.
async fn calls_at_once(app: &Quickstart, browser: &Browser, login: &str, count: usize) {
    let cookie = browser.cookie_header(&app.base);
    let mut calls = JoinSet::new();
    for _ in 0..count {
        let url = format!("{}/admin/api-call", app.base);
        let cookie = cookie.clone();
        calls.spawn(async move {
            let answer = reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            (answer.status(), answer.text().await.unwrap())
        });
    }
    for (status, body) in calls.join_all().await {
        assert_eq!(status, StatusCode::OK, "{body}");
        let claims: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(claims["sub"], login, "{body}");
    }
}

async fn calls_outlive_the_token(provider_env: &[(&str, &str)], app_env: &[(&str, &str)]) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start_with(&base, provider_env).await;
    let app = Quickstart::start_with_env("quickstart", port, &provider, app_env).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "grace").await;
    let api_call = format!("{}/admin/api-call", app.base);
    let first = browser.get(&api_call).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.json()["email"], "grace@example.com");
    let tokens = provider.count("token").await;
    let userinfo = provider.count("userinfo").await;

    // The token has expired: the first of 30 calls renews it, the others
    // wait for that one renewal.
    tokio::time::sleep(PAST_RENEWAL).await;
    calls_at_once(&app, &browser, "grace", 30).await;
    assert_eq!(provider.count("token").await, tokens + 1, "one refresh");
    assert!(provider.count("userinfo").await >= userinfo + 30);

    // And again: the renewed session renews in turn (counted from here,
    // however long the calls above took).
    let renewed = provider.count("token").await;
    tokio::time::sleep(PAST_RENEWAL).await;
    let page = browser.get(&api_call).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(provider.count("token").await, renewed + 1);
}

#[tokio::test]
async fn a_handler_calls_an_api_for_the_user_after_its_token_expires() {
    calls_outlive_the_token(&[SHORT_TOKENS], &[]).await;
}

/// Tokens bound to the session's key; the provider asks for a nonce at
/// userinfo, which the API call learns and sends again.
#[tokio::test]
async fn a_dpop_bound_handler_calls_an_api_with_proofs_and_nonces() {
    calls_outlive_the_token(
        &[SHORT_TOKENS, ("PROVIDER_REQUIRE_DPOP", "1")],
        &[("CIVIC_DPOP", "true")],
    )
    .await;
}

#[tokio::test]
async fn only_a_session_with_a_current_token_calls_apis() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start_with(&base, &[SHORT_TOKENS]).await;
    // No refresh token: the access token cannot be renewed.
    let app = Quickstart::start_with_env(
        "quickstart",
        port,
        &provider,
        &[("CIVIC_SCOPES", "openid email profile")],
    )
    .await;
    let api_call = format!("{}/admin/api-call", app.base);

    let anonymous = Browser::new().get(&api_call).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // An API client's own token is not the session's to pass on.
    let token = provider_access_token(&provider, &format!("{base}/auth/callback"), "ada").await;
    let bearer = reqwest::Client::new()
        .get(&api_call)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = bearer.json().await.unwrap();
    assert_eq!(body["error"], "session_required", "{body}");

    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    assert_eq!(browser.get(&api_call).await.status, StatusCode::OK);
    tokio::time::sleep(PAST_RENEWAL).await;
    let expired = browser.get(&api_call).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED, "{}", expired.body);
    assert_eq!(expired.json()["error"], "access_token_expired");
    assert!(expired.headers.contains_key("www-authenticate"));
    // A page goes to log in again, and comes back.
    let page = browser.navigate(&api_call).await;
    assert_eq!(page.status, StatusCode::FOUND);
    let location = page.location().unwrap();
    assert_eq!(location.path(), "/auth/login");
    assert_eq!(location.query(), Some("returnTo=%2Fadmin%2Fapi-call"));
    // The rest of the session is still there.
    assert_eq!(
        browser
            .get(&format!("{}/admin/profile", app.base))
            .await
            .status,
        StatusCode::OK
    );
}

const CSRF: (&str, &str) = ("x-csrf", "1");

async fn the_proxy_calls_userinfo_for_the_browser(
    provider_env: &[(&str, &str)],
    app_env: &[(&str, &str)],
) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start_with(&base, provider_env).await;
    let mut env = vec![
        ("CIVIC_BFF_UPSTREAM", provider.oauth_server()),
        ("CIVIC_SESSION_STORE", "memory".to_owned()),
    ];
    env.extend(app_env.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = Quickstart::start_with_env("openapi", port, &provider, &env).await;
    let me = format!("{}/bff/me", app.base);

    let anonymous = Browser::new();
    let page = [("accept", "text/html"), CSRF];
    let (status, _, body) = call(&anonymous, Method::GET, &me, &page).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "not a login redirect: {body}"
    );

    let browser = Browser::new();
    browser.log_in(&app.base, "grace").await;
    let (status, _, body) = call(&browser, Method::GET, &me, &[CSRF]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(claims["sub"], "grace");
    assert_eq!(claims["email"], "grace@example.com");
    let own_page = [
        CSRF,
        ("sec-fetch-site", "same-origin"),
        ("origin", app.base.as_str()),
    ];
    assert_eq!(
        call(&browser, Method::GET, &me, &own_page).await.0,
        StatusCode::OK
    );

    // Only the app's own scripts: with the header, and not from another site.
    for refused in [
        &[][..],
        &[("x-csrf", "0")],
        &[CSRF, ("sec-fetch-site", "cross-site")],
        &[CSRF, ("sec-fetch-site", "same-site")],
        &[CSRF, ("origin", "http://evil.example")],
    ] {
        let (status, _, body) = call(&browser, Method::GET, &me, refused).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused:?}: {body}");
    }

    // The token expires; the proxy renews it first.
    let tokens = provider.count("token").await;
    tokio::time::sleep(PAST_RENEWAL).await;
    let (status, _, body) = call(&browser, Method::GET, &me, &[CSRF]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(provider.count("token").await, tokens + 1);

    // Logged out: the session's cookie, sent again, opens nothing.
    let cookie = browser.cookie_header(&app.base);
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.status, StatusCode::FOUND);
    let stale = Browser::new();
    let (status, _, body) = call(
        &stale,
        Method::GET,
        &me,
        &[CSRF, ("cookie", cookie.as_str()), ("accept", "text/html")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "unauthorized"
    );
}

#[tokio::test]
async fn the_proxy_calls_an_api_for_a_logged_in_browser_only() {
    the_proxy_calls_userinfo_for_the_browser(&[SHORT_TOKENS], &[]).await;
}

#[tokio::test]
async fn the_proxy_proves_dpop_bound_tokens() {
    the_proxy_calls_userinfo_for_the_browser(
        &[SHORT_TOKENS, ("PROVIDER_REQUIRE_DPOP", "1")],
        &[("CIVIC_DPOP", "true")],
    )
    .await;
}
