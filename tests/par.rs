//! Pushed authorization requests (RFC 9126): a login's request goes to the
//! provider server to server, and the browser carries only `client_id` and
//! `request_uri`. Against the real provider (which offers it, and can
//! require it) and the test provider (which has no such endpoint).

use civic_auth_poem::PushedAuthorization;
use reqwest::StatusCode;
use suite::{app, Browser};

const REQUIRE_PAR: [(&str, &str); 1] = [("PROVIDER_REQUIRE_PAR", "1")];

#[tokio::test]
async fn logins_are_pushed_to_a_provider_that_requires_it() {
    let (provider, app) = app::with_provider(&REQUIRE_PAR, |c| c).await;
    let browser = Browser::new();
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let location = to_provider.location().expect("a redirect to the provider");
    let mut keys: Vec<String> = location
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["client_id", "request_uri"], "{location}");
    assert_eq!(provider.count("pushed_authorization_request").await, 1);

    let landed = browser.log_in(&app.base, "ada").await;
    assert_eq!(
        landed.url.path(),
        "/",
        "the landing page, after the callback"
    );
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.json()["id"], "ada");
}

#[tokio::test]
async fn with_pushing_off_the_request_travels_in_the_url() {
    let (provider, app) = app::with_provider(&REQUIRE_PAR, |c| {
        c.pushed_authorization(PushedAuthorization::Off)
    })
    .await;
    let browser = Browser::new();
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let location = to_provider.location().expect("a redirect to the provider");
    assert!(
        location.query_pairs().any(|(k, _)| k == "code_challenge"),
        "{location}"
    );
    // This provider requires pushing: it refuses the login, and the app
    // says so on a readable page.
    let refused = browser.log_in(&app.base, "ada").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Pushed Authorization Request must be used"),
        "{}",
        refused.body
    );
    assert_eq!(provider.count("pushed_authorization_request").await, 0);
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_provider_without_pushing_gets_the_plain_request_unless_pushing_is_required() {
    let (_fake, app) = app::with_fake_provider(|c| c).await;
    let browser = Browser::new();
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let location = to_provider.location().expect("a redirect to the provider");
    assert!(
        location.query_pairs().any(|(k, _)| k == "state"),
        "{location}"
    );

    let (_fake, app) =
        app::with_fake_provider(|c| c.pushed_authorization(PushedAuthorization::Required)).await;
    let page = browser.navigate(&format!("{}/auth/login", app.base)).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(
        page.body.contains("pushed_authorization_request_endpoint"),
        "{}",
        page.body
    );
}
