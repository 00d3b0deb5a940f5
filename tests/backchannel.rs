//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the real
//! provider ends the app's session server to server, and every malformed
//! logout token is refused with 400.

use std::{sync::Arc, time::Duration};

use civic_auth_poem::session::{MemoryStore, SessionStore};
use reqwest::StatusCode;
use serde_json::json;
use suite::{
    app,
    fake_provider::{Signing, TestKey},
    AppServer, Browser,
};

async fn post_logout_token(app: &AppServer, token: Option<&str>) -> (StatusCode, String) {
    let form: Vec<(&str, &str)> = token.map(|t| ("logout_token", t)).into_iter().collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout", app.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_provider_ends_the_session_server_to_server() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    let (provider, apps) = app::instances(1, &[], |c| c, || async { Some(store.clone()) }).await;
    let app = &apps[0];
    let browser = Browser::new();
    browser.log_in(&app.base, "mary.jackson").await;
    assert_eq!(
        browser
            .get(&format!("{}/admin/hello", app.base))
            .await
            .status,
        StatusCode::OK
    );

    suite::log_out_at_provider(&browser, &provider, &app.base).await;

    let hello = format!("{}/admin/hello", app.base);
    let status = suite::status_soon(&browser, &hello, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session outlived the provider's logout"
    );
}

#[tokio::test]
async fn logout_tokens_are_validated() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    // Sessions reused from memory for long: a back-channel logout must
    // forget them, not wait for them to go stale.
    let (fake, app) = app::with_fake_provider_store(Some(store), |c| {
        c.session_cache_ttl(Duration::from_secs(3600))
    })
    .await;
    let browser = Browser::new();
    browser.log_in(&app.base, "any").await;
    let now = jsonwebtoken::get_current_timestamp();
    let key = || Signing::Key(TestKey::RsaA);

    let cases = [
        (
            fake.logout_token(json!({}), Signing::KeyClaimingKid(TestKey::RsaB, "rsa-a")),
            "signature does not verify",
        ),
        (
            fake.logout_token(json!({}), Signing::None),
            "alg=none is refused",
        ),
        (
            fake.logout_token(json!({}), Signing::HmacWithPublicKey),
            "only public-key signatures",
        ),
        (
            fake.logout_token(json!({"events": null}), key()),
            "logout event",
        ),
        (
            fake.logout_token(json!({"events": {"other": {}}}), key()),
            "logout event",
        ),
        (fake.logout_token(json!({"nonce": "n"}), key()), "nonce"),
        (
            fake.logout_token(json!({"aud": "other-client"}), key()),
            "another client",
        ),
        (
            fake.logout_token(json!({"iss": "https://evil.example/"}), key()),
            "another provider",
        ),
        (
            fake.logout_token(json!({"sid": null, "sub": null}), key()),
            "neither `sid` nor `sub`",
        ),
        (fake.logout_token(json!({"iat": null}), key()), "`iat`"),
        (fake.logout_token(json!({"jti": null}), key()), "no `jti`"),
        (
            fake.logout_token(json!({"iat": now - 700}), key()),
            "too long ago",
        ),
        (
            fake.logout_token(json!({"iat": now + 600}), key()),
            "in the future",
        ),
        (
            fake.logout_token(json!({"iat": u64::MAX}), key()),
            "in the future",
        ),
        (
            fake.logout_token(json!({"exp": now - 300}), key()),
            "expired",
        ),
        ("not a jwt".to_owned(), "not a signed JWT"),
    ];
    for (token, reason) in cases {
        let (status, body) = post_logout_token(&app, Some(&token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}: {body}");
        assert!(body.contains(reason), "expected {reason:?} in {body}");
        // The session survives every bad token.
        let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
        assert_eq!(hello.status, StatusCode::OK, "{reason}");
    }
    let (status, body) = post_logout_token(&app, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A valid token for another provider session ends nothing, and is
    // good once; one for this session ends it.
    let other = fake.logout_token(json!({"sid": "another-sid", "sub": null}), key());
    assert_eq!(
        post_logout_token(&app, Some(&other)).await.0,
        StatusCode::OK
    );
    let (status, body) = post_logout_token(&app, Some(&other)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("already used"), "{body}");
    assert_eq!(
        browser
            .get(&format!("{}/admin/hello", app.base))
            .await
            .status,
        StatusCode::OK
    );
    let this = fake.logout_token(json!({}), key());
    assert_eq!(post_logout_token(&app, Some(&this)).await.0, StatusCode::OK);
    assert_eq!(
        browser
            .get(&format!("{}/admin/hello", app.base))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_logout_token_with_only_sub_ends_every_session_of_the_user() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    // Reused from memory for long: only forgetting them logs out at once.
    let (fake, app) = app::with_fake_provider_store(Some(store), |c| {
        c.session_cache_ttl(Duration::from_secs(3600))
    })
    .await;
    let (first, second) = (Browser::new(), Browser::new());
    first.log_in(&app.base, "any").await;
    fake.update(|s| s.claims = json!({"sid": "second-sid"}));
    second.log_in(&app.base, "any").await;
    for browser in [&first, &second] {
        let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
        assert_eq!(hello.status, StatusCode::OK);
    }
    let token = fake.logout_token(json!({"sid": null}), Signing::Key(TestKey::RsaA));
    assert_eq!(
        post_logout_token(&app, Some(&token)).await.0,
        StatusCode::OK
    );
    for browser in [&first, &second] {
        let status = browser
            .get(&format!("{}/admin/hello", app.base))
            .await
            .status;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn cookie_sessions_cannot_be_ended_from_the_server() {
    let (fake, app) = app::with_fake_provider(|c| c).await;
    let token = fake.logout_token(json!({}), Signing::Key(TestKey::RsaA));
    let (status, body) = post_logout_token(&app, Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(body.contains("server-side session store"), "{body}");
}

/// Anyone can post here: the body is read no further than a logout token
/// can need, so a huge one is answered after a megabyte.
#[tokio::test]
async fn a_huge_post_is_refused_without_reading_it() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    let (_fake, app) = app::with_fake_provider_store(Some(store), |c| c).await;
    let status =
        suite::post_without_finishing(&app.base, "/auth/backchannel-logout", 64 << 20, 1 << 20)
            .await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
}

/// A used logout token is refused for as long as it would be accepted at
/// all, and the body limit leaves room for the longest token accepted.
#[tokio::test]
async fn a_logout_token_is_refused_again_while_it_is_valid() {
    let clock = civic_auth_poem::ManualClock::now();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default().with_clock(clock.clone()));
    let (fake, app) = app::with_fake_provider_store(Some(store), |c| c.clock(clock.clone())).await;
    let token = fake.logout_token(
        json!({"sid": "some-sid", "sub": null, "exp": null}),
        Signing::Key(TestKey::RsaA),
    );
    assert_eq!(
        post_logout_token(&app, Some(&token)).await.0,
        StatusCode::OK
    );
    // Ten minutes on, it is still within its accepted age (plus leeway).
    clock.advance(Duration::from_secs(600));
    let (status, body) = post_logout_token(&app, Some(&token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("already used"), "{body}");

    let longest = "a".repeat(16 * 1024);
    let (status, body) = post_logout_token(&app, Some(&longest)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not a signed JWT"), "read whole: {body}");
}
