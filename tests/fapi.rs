//! The FAPI 2.0 Security Profile as one setting, against the real provider
//! running its FAPI 2.0 profile (pushed requests and DPoP with nonces
//! required): a login, userinfo, a refresh, an API client's token checked
//! by introspection and a revoking logout, with `private_key_jwt` and
//! DPoP-bound tokens; an ID token signed with an
//! algorithm the profile does not allow is refused; a provider that lacks
//! what the profile needs fails the start-up check, naming all of it.

use std::time::Duration;

use civic_auth_poem::{CivicAuth, ClientKey, DpopKey, ManualClock, SecurityProfile, SessionSecret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use suite::{
    app, assertion_fields, fake_provider::FakeProvider, logout_revokes_the_session, profile_status,
    provider_access_token_as, repo_root, Browser, CLIENT_ID,
};

fn key(name: &str) -> ClientKey {
    ClientKey::from_pem_file(repo_root().join("tests/keys").join(name)).expect("test key")
}

/// The client as a FAPI 2.0 provider registers it: `private_key_jwt` with
/// the app's public key, ID tokens signed with `alg`.
fn registration(alg: &'static str) -> impl FnOnce(&str) -> Value {
    move |_| {
        json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": serde_json::to_value(key("rsa-a.pem").public_key_set()).unwrap(),
            "id_token_signed_response_alg": alg,
        })
    }
}

#[tokio::test]
async fn a_session_under_the_fapi2_profile() {
    let clock = ManualClock::now();
    let env = [("PROVIDER_FAPI", "1"), ("ACCESS_TOKEN_TTL", "60")];
    let (provider, app) = app::with_registered_provider(registration("PS256"), &env, |c| {
        c.profile(SecurityProfile::Fapi2)
            .client_key(key("rsa-a.pem"))
            .clock(clock.clone())
    })
    .await;
    let browser = Browser::new();
    let landed = browser.log_in(&app.base, "ada.lovelace").await;
    assert_eq!(landed.url.path(), "/", "{}", landed.body);
    let me = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(
        me.json()["email"],
        "ada.lovelace@example.com",
        "userinfo, with a DPoP proof"
    );
    assert_eq!(provider.count("pushed_authorization_request").await, 1);

    // (A token call may take two requests: one more with a new DPoP nonce.)
    let before = provider.count("token").await;
    clock.advance(Duration::from_secs(61));
    let refreshed = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert!(provider.count("token").await > before, "refreshed");

    // An API client's opaque, DPoP-bound token, checked by introspection
    // with the app's assertion.
    let key = DpopKey::generate();
    let token = provider_access_token_as(
        &provider,
        CLIENT_ID,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "grace.hopper",
        Some(&key),
        &|| assertion_fields(&provider, "rsa-a.pem", CLIENT_ID),
    )
    .await;
    let before = provider.count("introspection").await;
    let url = format!("{}/admin/profile", app.base);
    let api = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("GET", &url, Some(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert_eq!(provider.count("introspection").await, before + 1);

    logout_revokes_the_session(&browser, &provider, &app, &clock).await;
}

/// RS256 is fine elsewhere, not under FAPI 2.0 (PS256, ES256, EdDSA only).
#[tokio::test]
async fn an_id_token_the_profile_does_not_allow_is_refused() {
    let (_provider, app) =
        app::with_registered_provider(registration("RS256"), &[("PROVIDER_FAPI", "1")], |c| {
            c.profile(SecurityProfile::Fapi2)
                .client_key(key("rsa-a.pem"))
        })
        .await;
    let browser = Browser::new();
    let page = browser.log_in(&app.base, "ada.lovelace").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.body.contains("allows only PS256, ES256 and EdDSA"),
        "{}",
        page.body
    );
    assert_eq!(
        profile_status(&app, &browser.cookie_header(&app.base)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A provider without pushed requests, DPoP or `iss` in its answers cannot
/// serve a FAPI 2.0 client: the start-up check names all three.
#[tokio::test]
async fn a_provider_without_what_the_profile_needs_fails_the_start() {
    let fake = FakeProvider::start().await;
    fake.update(|s| {
        s.advertise_iss = false;
        s.id_token_algs = Some(vec!["RS256"]);
    });
    let config = app::config("http://127.0.0.1:5000", &fake.oauth_server())
        .profile(SecurityProfile::Fapi2)
        .client_key(key("ec-a.pem"))
        .build()
        .unwrap();
    let auth = CivicAuth::new(config, SessionSecret::generate());
    let message = auth.check_provider().await.unwrap_err().to_string();
    for lacking in [
        "pushed_authorization_request_endpoint",
        "dpop_signing_alg_values_supported",
        "authorization_response_iss_parameter_supported",
        "ID tokens signed with PS256, ES256 or EdDSA",
    ] {
        assert!(message.contains(lacking), "{lacking}: {message}");
    }
}
