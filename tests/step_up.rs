//! Step-up: routes that need a recent login (`max_age`) or a login at a
//! level (`acr`). Against the real provider with both clocks moved (the
//! provider then really asks the user to log in again), and against the
//! test provider for what the real one cannot be made to send (an `acr`,
//! an old `auth_time`, none at all).

use std::time::Duration;

use civic_auth_poem::ManualClock;
use reqwest::StatusCode;
use serde_json::json;
use suite::{
    app,
    fake_provider::{log_in_from, FakeProvider},
    AppServer, Browser, Page,
};

const LATER: Duration = Duration::from_secs(400);

fn assert_challenge(page: &Page, param: &str) {
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    let challenge = page.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\"")
            && challenge.contains(param),
        "{challenge}"
    );
    assert_eq!(page.json()["error"], "insufficient_user_authentication");
}

/// The redirect of a page navigation that needs a new login, checked to
/// come back to `path` and to ask for `param`; returns the login URL.
fn step_up_login(page: &Page, path: &str, param: (&str, &str)) -> String {
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let login = page.location().expect("a redirect to login");
    assert_eq!(login.path(), "/auth/login");
    let query: Vec<(String, String)> = login.query_pairs().into_owned().collect();
    assert!(query.contains(&("returnTo".into(), path.into())), "{login}");
    assert!(query.contains(&(param.0.into(), param.1.into())), "{login}");
    login.to_string()
}

#[tokio::test]
async fn a_stale_login_steps_up_through_the_provider() {
    let clock = ManualClock::now();
    let (provider, app) = app::with_provider(&[], |c| c.clock(clock.clone())).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    let recent = format!("{}/admin/recent", app.base);
    let api_recent = format!("{}/api/recent", app.base);
    assert_eq!(browser.get(&recent).await.status, StatusCode::OK);
    assert_eq!(browser.get(&api_recent).await.status, StatusCode::OK);

    clock.advance(LATER);
    provider.advance_clock(LATER).await;
    assert_challenge(&browser.get(&recent).await, "max_age=\"300\"");
    assert_challenge(&browser.get(&api_recent).await, "max_age=\"300\"");
    // A route without step-up does not care how old the login is.
    let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.status, StatusCode::OK);

    let login = step_up_login(
        &browser.navigate(&recent).await,
        "/admin/recent",
        ("max_age", "300"),
    );
    // The request, `max_age` in it, is pushed to the provider (RFC 9126),
    // which then asks the user to log in again.
    let forms_before = provider.count("submit").await;
    let landed = browser.navigate_through_login(&login, "ada").await;
    assert!(
        provider.count("submit").await > forms_before,
        "the provider asked the user to log in again"
    );
    assert_eq!(landed.url.path(), "/admin/recent");
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(landed.body, "recent login of ada");
    assert_eq!(browser.get(&api_recent).await.status, StatusCode::OK);
}

/// oidc-provider, like many providers, takes no `claims` request
/// parameter (the test provider keeps that default); a fresh login must
/// still carry `auth_time` and serve a `max_age` route without another trip.
#[tokio::test]
async fn a_fresh_login_serves_a_max_age_route_without_the_claims_parameter() {
    let (provider, app) = app::with_provider(&[], |c| c).await;
    let discovery: serde_json::Value = reqwest::get(format!(
        "{}.well-known/openid-configuration",
        provider.issuer
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_ne!(discovery["claims_parameter_supported"], true);
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    let logins = provider.count("auth").await;
    let recent = browser
        .navigate(&format!("{}/admin/recent", app.base))
        .await;
    assert_eq!(recent.status, StatusCode::OK, "{}", recent.body);
    assert_eq!(recent.body, "recent login of ada");
    assert_eq!(provider.count("auth").await, logins, "no second trip");
}

#[tokio::test]
async fn a_login_the_provider_did_not_renew_is_refused() {
    // Only the app's clock moves: the provider finds the login recent
    // enough and sends the old `auth_time` back without asking the user.
    let clock = ManualClock::now();
    let (_provider, app) = app::with_provider(&[], |c| c.clock(clock.clone())).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    clock.advance(LATER);
    let recent = format!("{}/admin/recent", app.base);
    let login = step_up_login(
        &browser.navigate(&recent).await,
        "/admin/recent",
        ("max_age", "300"),
    );
    let refused = browser.navigate_through_login(&login, "ada").await;
    assert_eq!(refused.url.path(), "/auth/callback");
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("more than 300 seconds ago"),
        "{}",
        refused.body
    );
    // No loop, and the session the browser had is kept as it was.
    assert_challenge(&browser.get(&recent).await, "max_age=\"300\"");
    let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.status, StatusCode::OK);
}

async fn fake_app() -> (FakeProvider, AppServer) {
    app::with_fake_provider(|c| c).await
}

#[tokio::test]
async fn a_route_can_require_a_level_of_login() {
    let (fake, app) = fake_app().await;
    fake.update(|s| s.claims = json!({ "acr": "urn:example:silver" }));
    let browser = Browser::new();
    log_in_from(&browser, &format!("{}/auth/login", app.base)).await;
    let gold = format!("{}/admin/gold", app.base);
    assert_challenge(
        &browser.get(&gold).await,
        "acr_values=\"urn:example:gold urn:example:platinum\"",
    );

    let login = step_up_login(
        &browser.navigate(&gold).await,
        "/admin/gold",
        ("acr_values", "urn:example:gold urn:example:platinum"),
    );
    // The provider logs the user in at the old level again: refused.
    let refused = log_in_from(&browser, &login).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("`acr` must be"), "{}", refused.body);
    assert_eq!(browser.get(&gold).await.status, StatusCode::UNAUTHORIZED);

    fake.update(|s| s.claims = json!({ "acr": "urn:example:platinum" }));
    let done = log_in_from(&browser, &login).await;
    assert_eq!(done.location().unwrap().path(), "/admin/gold");
    assert_eq!(browser.get(&gold).await.status, StatusCode::OK);
}

#[tokio::test]
async fn only_the_id_token_says_when_the_user_logged_in() {
    let (fake, app) = fake_app().await;
    let now = jsonwebtoken::get_current_timestamp();
    let browser = Browser::new();
    let recent = format!("{}/admin/recent", app.base);

    // Userinfo's answer is not signed: its `auth_time` does not count.
    fake.update(|s| s.userinfo = json!({ "auth_time": now, "acr": "urn:example:gold" }));
    log_in_from(&browser, &format!("{}/auth/login", app.base)).await;
    assert_challenge(&browser.get(&recent).await, "max_age=\"300\"");
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.json().get("auth_time"), None);

    // A login that asked for `max_age` needs an ID token that says when.
    let login = format!("{}/auth/login?returnTo=/admin/recent&max_age=300", app.base);
    let refused = log_in_from(&browser, &login).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("auth_time"), "{}", refused.body);

    // An old one is refused; a recent one lands on the page.
    fake.update(|s| s.claims = json!({ "auth_time": now - 1000 }));
    let refused = log_in_from(&browser, &login).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    fake.update(|s| s.claims = json!({ "auth_time": now }));
    let done = log_in_from(&browser, &login).await;
    assert_eq!(done.location().unwrap().path(), "/admin/recent");
    assert_eq!(browser.get(&recent).await.status, StatusCode::OK);
}

#[tokio::test]
async fn step_up_parameters_of_a_login_are_checked() {
    let (_fake, app) = fake_app().await;
    let browser = Browser::new();
    for query in ["max_age=soon", "max_age=1&max_age=2", "acr_values=a%0Ab"] {
        let page = browser
            .navigate(&format!("{}/auth/login?{query}", app.base))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            page.body.contains("login request is invalid"),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn bearer_tokens_step_up_with_their_own_auth_time() {
    let (fake, app) = fake_app().await;
    let now = jsonwebtoken::get_current_timestamp();
    let client = reqwest::Client::new();
    let call = |token: String| {
        let client = client.clone();
        let url = format!("{}/api/recent", app.base);
        async move {
            let resp = client.get(url).bearer_auth(token).send().await.unwrap();
            (resp.status(), resp.headers().clone())
        }
    };
    let (status, _) = call(fake.access_token(json!({ "auth_time": now }))).await;
    assert_eq!(status, StatusCode::OK);
    for stale in [json!({ "auth_time": now - 1000 }), json!({})] {
        let (status, headers) = call(fake.access_token(stale)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("insufficient_user_authentication"),
            "{challenge}"
        );
    }
}
