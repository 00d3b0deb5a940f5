//! Confidential clients against the real provider: a client secret (in a
//! Basic header or the body) and a signed client assertion
//! (`private_key_jwt`, with the app's key read by the provider from the
//! app's `/auth/jwks` or registered with the client). Each logs in, reads
//! userinfo, refreshes, has an opaque bearer token introspected and revokes
//! at logout; wrong credentials are refused by the provider and shown
//! clearly.

use std::time::Duration;

use civic_auth_poem::{ClientAuthMethod, ClientKey, ManualClock, PushedAuthorization};
use reqwest::StatusCode;
use serde_json::{json, Value};
use suite::{
    app, assertion_fields, client_assertion, logout_revokes_the_session, profile_status,
    provider_access_token_as, repo_root, AppServer, Browser, Provider, CLIENT_ID,
};

const SHORT_TOKENS: &[(&str, &str)] = &[("ACCESS_TOKEN_TTL", "60")];
const SECRET: &str = "a client secret: with signs & spaces%";

fn pem(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/keys").join(name)).expect("test key")
}

fn public_keys(name: &str) -> Value {
    let key = ClientKey::from_pem(&pem(name)).expect("key");
    serde_json::to_value(key.public_key_set()).expect("JWK set")
}

/// What a confidential client adds to a token request the harness makes.
enum Harness {
    Secret,
    Assertion(&'static str),
}

impl Harness {
    fn credentials(&self, provider: &Provider) -> Vec<(&'static str, String)> {
        match self {
            Harness::Secret => vec![("client_secret", SECRET.to_owned())],
            Harness::Assertion(key) => assertion_fields(provider, key, CLIENT_ID),
        }
    }
}

/// The whole life of a session of a confidential client, and an API
/// client's opaque token checked by introspection.
async fn journey(
    registration: impl FnOnce(&str) -> Value,
    tweak: impl FnOnce(
        civic_auth_poem::CivicAuthConfigBuilder,
    ) -> civic_auth_poem::CivicAuthConfigBuilder,
    harness: Harness,
) {
    let clock = ManualClock::now();
    let (provider, app) = app::with_registered_provider(registration, SHORT_TOKENS, |c| {
        tweak(c.clock(clock.clone()))
    })
    .await;
    let browser = Browser::new();
    let landed = browser.log_in(&app.base, "ada.lovelace").await;
    assert_eq!(landed.url.path(), "/", "landed: {}", landed.body);
    let me = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(me.status, StatusCode::OK);
    // The email comes from userinfo (the ID token has no profile claims).
    assert_eq!(me.json()["email"], "ada.lovelace@example.com");
    assert_eq!(provider.count("token").await, 1);

    // Through the browser, which keeps the refreshed session's cookie.
    clock.advance(Duration::from_secs(61));
    let refreshed = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "refreshed");
    assert_eq!(provider.count("token").await, 2, "one refresh");

    let token = provider_access_token_as(
        &provider,
        CLIENT_ID,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "grace.hopper",
        None,
        &|| harness.credentials(&provider),
    )
    .await;
    let before = provider.count("introspection").await;
    let bearer = reqwest::Client::new()
        .get(format!("{}/admin/profile", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    assert_eq!(provider.count("introspection").await, before + 1);

    logout_revokes_the_session(&browser, &provider, &app, &clock).await;
}

#[tokio::test]
async fn a_client_secret_in_a_basic_header() {
    journey(
        |_| json!({ "token_endpoint_auth_method": "client_secret_basic", "client_secret": SECRET }),
        |c| c.client_secret(SECRET),
        Harness::Secret,
    )
    .await;
}

#[tokio::test]
async fn a_client_secret_in_the_body() {
    journey(
        |_| json!({ "token_endpoint_auth_method": "client_secret_post", "client_secret": SECRET }),
        |c| {
            c.client_secret(SECRET)
                .client_auth_method(ClientAuthMethod::ClientSecretPost)
        },
        Harness::Secret,
    )
    .await;
}

/// The provider reads the app's key where the app serves it.
#[tokio::test]
async fn an_ec_key_the_provider_reads_from_the_apps_jwks() {
    journey(
        |base| json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": format!("{base}/auth/jwks") }),
        |c| c.client_key(ClientKey::from_pem(&pem("ec-a.pem")).unwrap()),
        Harness::Assertion("ec-a.pem"),
    )
    .await;
}

#[tokio::test]
async fn an_rsa_key_registered_with_the_client() {
    journey(
        |_| json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": public_keys("rsa-a.pem") }),
        |c| c.client_key(ClientKey::from_pem(&pem("rsa-a.pem")).unwrap()),
        Harness::Assertion("rsa-a.pem"),
    )
    .await;
}

/// A login the provider refuses for the client's credentials at `endpoint`
/// (its pushed authorization request endpoint, or with pushed requests off
/// its token endpoint): a clear page naming the setting, no session.
async fn refused_login(
    registration: Value,
    tweak: impl FnOnce(
        civic_auth_poem::CivicAuthConfigBuilder,
    ) -> civic_auth_poem::CivicAuthConfigBuilder,
    setting: &str,
    endpoint: &str,
) {
    let (_provider, app) = app::with_registered_provider(|_| registration, &[], tweak).await;
    let browser = Browser::new();
    let page = browser.log_in(&app.base, "ada.lovelace").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    for said in [
        "refused this app&#39;s client authentication",
        "invalid_client (",
        setting,
        endpoint,
    ] {
        assert!(page.body.contains(said), "{said}: {}", page.body);
    }
    let cookie = browser.cookie_header(&app.base);
    assert_eq!(
        profile_status(&app, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_named() {
    refused_login(
        json!({ "token_endpoint_auth_method": "client_secret_basic", "client_secret": SECRET }),
        |c| {
            c.client_secret("not the secret")
                .pushed_authorization(PushedAuthorization::Off)
        },
        "CIVIC_CLIENT_SECRET",
        "token endpoint",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_named() {
    refused_login(
        json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": public_keys("rsa-a.pem") }),
        |c| c.client_key(ClientKey::from_pem(&pem("rsa-b.pem")).unwrap()),
        "CIVIC_CLIENT_KEY",
        "pushed authorization request",
    )
    .await;
}

/// The provider checks each assertion's signature and claims, so a key is
/// what the app must hold: an altered assertion, one about another client,
/// and one used twice are refused.
#[tokio::test]
async fn a_tampered_assertion_is_refused_by_the_provider() {
    let provider = Provider::start_registered(
        &["http://127.0.0.1:1"],
        json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": public_keys("ec-a.pem") }),
        &[],
    )
    .await;
    let post = |assertion: String| {
        let endpoint = format!("{}token", provider.issuer);
        async move {
            let answer = reqwest::Client::new()
                .post(endpoint)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", "unknown"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ])
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let body: Value = answer.json().await.unwrap();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let genuine = client_assertion(&provider, "ec-a.pem", CLIENT_ID);
    // Authenticated, then refused for the made-up grant.
    assert_eq!(
        post(genuine.clone()).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let refused = (StatusCode::UNAUTHORIZED, "invalid_client".to_owned());
    assert_eq!(post(genuine.clone()).await, refused, "used twice");
    let mut parts: Vec<String> = client_assertion(&provider, "ec-a.pem", CLIENT_ID)
        .split('.')
        .map(str::to_owned)
        .collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_u64().unwrap() + 3600);
    parts[1] = b64.encode(claims.to_string());
    assert_eq!(post(parts.join(".")).await, refused, "altered");
    assert_eq!(
        post(client_assertion(&provider, "rsa-a.pem", CLIENT_ID)).await,
        refused,
        "signed with a key the client does not have"
    );
}

/// A provider that takes none of the methods the app can use fails the
/// start-up check, naming both.
#[tokio::test]
async fn a_provider_without_the_apps_method_fails_the_start() {
    let (acceptor, base) = AppServer::bind().await;
    drop(acceptor);
    let provider = Provider::start_registered(
        &[&base],
        json!({}),
        &[("PROVIDER_CLIENT_AUTH_METHODS", "none,private_key_jwt")],
    )
    .await;
    let config = app::config(&base, &provider.oauth_server())
        .client_secret(SECRET)
        .build()
        .unwrap();
    let auth = civic_auth_poem::CivicAuth::new(config, civic_auth_poem::SessionSecret::generate());
    let message = auth.check_provider().await.unwrap_err().to_string();
    for said in [
        "none, private_key_jwt",
        "client_secret_basic, client_secret_post",
        "CIVIC_CLIENT_KEY",
    ] {
        assert!(message.contains(said), "{said}: {message}");
    }
    assert!(!message.contains(SECRET));
    let public = app::config(&base, &provider.oauth_server())
        .build()
        .unwrap();
    let auth = civic_auth_poem::CivicAuth::new(public, civic_auth_poem::SessionSecret::generate());
    auth.check_provider().await.expect("a public client fits");
}
