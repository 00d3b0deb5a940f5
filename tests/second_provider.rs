//! The quickstart against a second provider implementation, LemonLDAP::NG:
//! a public client logs in through its form, sees the claims and logs out
//! at its end-session endpoint; a confidential client refreshes its
//! short-lived tokens; its JWT and opaque access tokens work as bearer
//! tokens.

use std::time::Duration;

use reqwest::StatusCode;
use suite::{
    free_port,
    lemonldap::{
        lemonldap_access_token, navigate_through_lemonldap_login, LemonLdap, LemonLdapClient,
    },
    Browser, Example,
};

const CLIENT_ID: &str = "quickstart";
/// Plain, as LemonLDAP::NG 2.16 reads Basic credentials (see the harness's
/// `basic_safe`).
const SECRET: &str = "lemonldap-client-secret";

/// LemonLDAP::NG with `client` (made for the app's base URL) registered,
/// and the quickstart as that client.
async fn quickstart(
    client: impl FnOnce(LemonLdapClient) -> LemonLdapClient,
    env: &[(&str, &str)],
) -> (LemonLdap, LemonLdapClient, Example) {
    let base = format!("http://127.0.0.1:{}", free_port());
    let client = client(LemonLdapClient::for_app(CLIENT_ID, &base));
    let provider = LemonLdap::start(std::slice::from_ref(&client)).await;
    let app = provider
        .start_example("quickstart", &base, &client, env)
        .await;
    (provider, client, app)
}

#[tokio::test]
async fn a_public_client_logs_in_sees_the_claims_and_logs_out() {
    let (provider, _, app) = quickstart(|c| c, &[]).await;
    let browser = Browser::new();
    let landed = navigate_through_lemonldap_login(
        &browser,
        &format!("{}/admin/profile", app.base),
        "dwho",
        "dwho",
    )
    .await;
    assert_eq!(landed.url.path(), "/admin/profile");
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let profile = landed.json();
    assert_eq!(profile["id"], "dwho");
    assert_eq!(profile["email"], "dwho@badwolf.org");
    assert_eq!(profile["name"], "Doctor Who");
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.status, StatusCode::OK, "{}", user.body);
    assert_eq!(user.json()["id"], "dwho");
    assert_eq!(user.json()["username"], "dwho");

    // The portal's session cookie (for `.127.0.0.1`) was kept.
    assert!(
        browser
            .cookie_header(&provider.issuer)
            .contains("lemonldap="),
        "{:?}",
        browser.cookie_header(&provider.issuer)
    );

    // Logout ends the portal's session too, and comes back to the app.
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.status, StatusCode::FOUND, "{}", logout.body);
    let end_session = logout.location().expect("a redirect to the provider");
    assert!(
        end_session
            .as_str()
            .starts_with(&format!("{}/oauth2/logout?", provider.issuer)),
        "{end_session}"
    );
    let params: std::collections::HashMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert!(params.contains_key("id_token_hint"), "{end_session}");
    assert_eq!(params["post_logout_redirect_uri"], format!("{}/", app.base));
    let back = browser.navigate(end_session.as_str()).await;
    assert_eq!(
        back.location().map(|to| to.to_string()),
        Some(format!("{}/", app.base)),
        "{}",
        back.body
    );
    let after = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    // A new login asks for the password again.
    let again = browser.follow(&format!("{}/auth/login", app.base)).await;
    assert!(again.body.contains("id=\"lform\""), "{}", again.body);
}

/// How long the confidential client's access tokens live.
const SHORT_LIFETIME: Duration = Duration::from_secs(4);

/// The quickstart as a confidential client (its secret in a Basic header)
/// with short-lived access tokens, and `rtyler` logged in.
async fn confidential_session() -> (LemonLdap, Example, Browser) {
    let (provider, _, app) = quickstart(
        |c| LemonLdapClient {
            secret: Some(SECRET.to_owned()),
            access_token_lifetime: SHORT_LIFETIME,
            ..c
        },
        &[("CIVIC_CLIENT_AUTH_METHOD", "client_secret_basic")],
    )
    .await;
    let browser = Browser::new();
    let landed = navigate_through_lemonldap_login(
        &browser,
        &format!("{}/admin/profile", app.base),
        "rtyler",
        "rtyler",
    )
    .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(landed.json()["id"], "rtyler");
    assert_eq!(provider.requests("POST", "/oauth2/token"), 1);
    (provider, app, browser)
}

/// Past the access token's lifetime, a request refreshes the session's
/// tokens: a token request, and the user is still there.
async fn refreshed(provider: &LemonLdap, app: &Example, browser: &Browser, refreshes: usize) {
    tokio::time::sleep(SHORT_LIFETIME + Duration::from_secs(1)).await;
    let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.json()["id"], "rtyler");
    assert_eq!(
        provider.requests("POST", "/oauth2/token"),
        1 + refreshes,
        "refresh {refreshes}"
    );
}

/// LemonLDAP::NG answers a refresh without a new refresh token, so the
/// session keeps its first one and refreshes with it again.
#[tokio::test]
async fn a_confidential_client_refreshes_its_short_lived_tokens_again_and_again() {
    let (provider, app, browser) = confidential_session().await;
    refreshed(&provider, &app, &browser, 1).await;
    refreshed(&provider, &app, &browser, 2).await;
}

#[tokio::test]
async fn jwt_and_opaque_access_tokens_are_accepted_as_bearer_tokens() {
    for jwt in [true, false] {
        let (provider, client, app) = quickstart(
            |c| LemonLdapClient {
                secret: Some(SECRET.to_owned()),
                access_token_jwt: jwt,
                ..c
            },
            &[],
        )
        .await;
        let token = lemonldap_access_token(&provider, &client, "msmith", "msmith").await;
        assert_eq!(token.split('.').count() == 3, jwt, "{token}");
        let answer = reqwest::Client::new()
            .get(format!("{}/admin/profile", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the app answers");
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "JWT {jwt}: {body}");
        let profile: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(profile["id"], "msmith", "JWT {jwt}");
    }
}
