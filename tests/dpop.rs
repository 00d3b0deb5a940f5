//! DPoP (RFC 9449) against the real provider requiring DPoP-bound tokens
//! and nonces: the login, a refresh and userinfo carry proofs of the
//! session's own key, kept sealed with the session (in its cookie, or in a
//! store), and a stolen refresh token is useless without that key.

use std::{sync::Arc, time::Duration};

use civic_auth_poem::{session::MemoryStore, DpopKey, ManualClock};
use reqwest::StatusCode;
use serde_json::Value;
use suite::{
    app, fake_provider::FakeProvider, provider_access_token_with, token_request, AppServer,
    Browser, Provider, CLIENT_ID,
};

const ENV: [(&str, &str); 2] = [("PROVIDER_REQUIRE_DPOP", "1"), ("ACCESS_TOKEN_TTL", "60")];

/// A refresh at the token endpoint as a thief would try it.
async fn steal(provider: &Provider, refresh_token: &str, key: Option<&DpopKey>) -> Value {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", CLIENT_ID),
    ];
    token_request(provider, &form, key).await
}

async fn journey(with_store: bool) {
    let clock = ManualClock::now();
    let tweak = |c: civic_auth_poem::CivicAuthConfigBuilder| c.dpop(true).clock(clock.clone());
    let (provider, app): (Provider, AppServer) = if with_store {
        let store = Arc::new(MemoryStore::default());
        let (provider, mut apps) = app::instances(1, &ENV, tweak, || {
            let store = store.clone();
            async move { Some(store as Arc<dyn civic_auth_poem::session::SessionStore>) }
        })
        .await;
        (provider, apps.remove(0))
    } else {
        app::with_provider(&ENV, tweak).await
    };
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    // The profile comes from userinfo, called with the bound token and a proof.
    let profile_url = format!("{}/admin/profile", app.base);
    let profile = browser.get(&profile_url).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.json()["email"], "ada@example.com");
    assert_eq!(provider.count("userinfo").await, 1);

    // A refresh, with a proof of the same key, which the provider requires.
    let tokens = provider.count("token").await;
    clock.advance(Duration::from_secs(61));
    assert_eq!(browser.get(&profile_url).await.status, StatusCode::OK);
    assert_eq!(provider.count("token").await, tokens + 1, "one refresh");

    // The session's refresh token, stolen: useless without its key.
    let stolen = provider.last_refresh_token().await;
    let without_proof = steal(&provider, &stolen, None).await;
    assert_eq!(without_proof["error"], "invalid_grant", "{without_proof}");
    let thiefs_key = DpopKey::generate();
    let with_another_key = steal(&provider, &stolen, Some(&thiefs_key)).await;
    assert_eq!(
        with_another_key["error"], "invalid_grant",
        "{with_another_key}"
    );
    assert!(with_another_key.get("access_token").is_none());

    // The session itself still refreshes with its key.
    let tokens = provider.count("token").await;
    clock.advance(Duration::from_secs(61));
    assert_eq!(browser.get(&profile_url).await.status, StatusCode::OK);
    assert_eq!(provider.count("token").await, tokens + 1);
}

#[tokio::test]
async fn cookie_sessions_bind_their_tokens_to_their_own_key() {
    journey(false).await;
}

#[tokio::test]
async fn stored_sessions_bind_their_tokens_to_their_own_key() {
    journey(true).await;
}

#[tokio::test]
async fn without_dpop_a_provider_that_requires_it_refuses_the_tokens() {
    let (_provider, app) = app::with_provider(&ENV, |c| c).await;
    let browser = Browser::new();
    let page = browser.log_in(&app.base, "ada").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert_eq!(
        browser.get(&format!("{}/auth/user", app.base)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn dpop_needs_a_provider_that_offers_it_with_es256() {
    for algs in [vec![], vec!["EdDSA", "ES384"]] {
        // An app each: the discovery document is read once.
        let (fake, app) = app::with_fake_provider(|c| c.dpop(true)).await;
        fake.update(|s| s.dpop_algs = algs.clone());
        let page = Browser::new()
            .navigate(&format!("{}/auth/login", app.base))
            .await;
        assert_eq!(
            page.status,
            StatusCode::BAD_GATEWAY,
            "{algs:?}: {}",
            page.body
        );
        assert!(
            page.body.contains("dpop_signing_alg_values_supported"),
            "{}",
            page.body
        );
    }
}

/// An API call to `url` with `token` as `scheme`, and these proofs.
async fn call(url: &str, scheme: &str, token: &str, proofs: &[String]) -> (StatusCode, String) {
    call_as(reqwest::Method::GET, url, scheme, token, proofs).await
}

/// [`call`] with another method.
async fn call_as(
    method: reqwest::Method,
    url: &str,
    scheme: &str,
    token: &str,
    proofs: &[String],
) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("authorization", format!("{scheme} {token}"));
    for proof in proofs {
        request = request.header("dpop", proof);
    }
    let answer = request.send().await.unwrap();
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (answer.status(), challenge)
}

#[tokio::test]
async fn api_clients_prove_the_key_of_their_bound_tokens() {
    let (provider, app) = app::with_provider(&ENV, |c| c).await;
    let key = DpopKey::generate();
    let redirect = format!("{}/docs/oauth-receiver.html", app.base);
    let token =
        provider_access_token_with(&provider, CLIENT_ID, &redirect, "grace", Some(&key)).await;
    let url = format!("{}/admin/profile", app.base);
    let proof = key.proof("GET", &url, Some(&token));

    let (status, _) = call(&url, "DPoP", &token, std::slice::from_ref(&proof)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, challenge) = call(&url, "DPoP", &token, &[proof]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a proof is used once");
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");

    let refused = [
        ("DPoP", vec![]),
        (
            "DPoP",
            vec![DpopKey::generate().proof("GET", &url, Some(&token))],
        ),
        ("DPoP", vec![key.proof("POST", &url, Some(&token))]),
        (
            "DPoP",
            vec![key.proof("GET", &format!("{}/admin/hello", app.base), Some(&token))],
        ),
        ("DPoP", vec![key.proof("GET", &url, Some("another token"))]),
        (
            "DPoP",
            vec![
                key.proof("GET", &url, Some(&token)),
                key.proof("GET", &url, Some(&token)),
            ],
        ),
        ("Bearer", vec![]),
    ];
    for (scheme, proofs) in refused {
        let (status, _) = call(&url, scheme, &token, &proofs).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{scheme} with {} proofs",
            proofs.len()
        );
    }
    let (status, _) = call(
        &url,
        "DPoP",
        &token,
        &[key.proof("GET", &url, Some(&token))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a fresh proof of the right key");

    // A HEAD request (answered by the GET handler) needs a proof for HEAD.
    let head = |method: &str| vec![key.proof(method, &url, Some(&token))];
    let (status, _) = call_as(reqwest::Method::HEAD, &url, "DPoP", &token, &head("GET")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a GET proof for HEAD");
    let (status, _) = call_as(reqwest::Method::HEAD, &url, "DPoP", &token, &head("HEAD")).await;
    assert_eq!(status, StatusCode::OK, "a HEAD proof for HEAD");
}

#[tokio::test]
async fn jwt_access_tokens_say_their_key_in_cnf() {
    let (fake, app): (FakeProvider, AppServer) = app::with_fake_provider(|c| c).await;
    let key = DpopKey::generate();
    let url = format!("{}/admin/profile", app.base);
    let bound = fake.access_token(serde_json::json!({ "cnf": { "jkt": key.thumbprint() } }));
    let proof = key.proof("GET", &url, Some(&bound));
    assert_eq!(call(&url, "DPoP", &bound, &[proof]).await.0, StatusCode::OK);
    assert_eq!(
        call(&url, "Bearer", &bound, &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let unbound = fake.access_token(serde_json::json!({}));
    let proof = key.proof("GET", &url, Some(&unbound));
    assert_eq!(
        call(&url, "DPoP", &unbound, &[proof]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&url, "Bearer", &unbound, &[]).await.0, StatusCode::OK);
}

/// Instances of one app behind one name, sharing Redis: a proof used on one
/// is refused on every other, as on the one that saw it.
#[tokio::test]
async fn a_proof_used_on_one_instance_is_refused_on_the_others() {
    let redis = suite::Redis::start().await;
    // One public origin for both, as behind a load balancer: a proof's
    // `htu` is that origin's URL, whichever instance answers.
    let origin = "http://app.example";
    let same_origin = |c: civic_auth_poem::CivicAuthConfigBuilder| {
        c.redirect_url(format!("{origin}/auth/callback"))
            .post_logout_redirect_url(format!("{origin}/"))
    };
    let (provider, apps) = app::instances_on_redis(2, &ENV, same_origin, &redis.url()).await;
    let key = DpopKey::generate();
    let redirect = format!("{}/docs/oauth-receiver.html", apps[0].base);
    let token =
        provider_access_token_with(&provider, CLIENT_ID, &redirect, "grace", Some(&key)).await;
    let proof = key.proof("GET", &format!("{origin}/admin/profile"), Some(&token));
    let on = |app: &AppServer| format!("{}/admin/profile", app.base);

    let (status, _) = call(&on(&apps[0]), "DPoP", &token, std::slice::from_ref(&proof)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, challenge) = call(&on(&apps[1]), "DPoP", &token, &[proof]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "replayed on the other");
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    let fresh = key.proof("GET", &format!("{origin}/admin/profile"), Some(&token));
    let (status, _) = call(&on(&apps[1]), "DPoP", &token, &[fresh]).await;
    assert_eq!(status, StatusCode::OK, "a fresh proof on the other");
}
