//! `Authorization: Bearer` for API clients: the provider's own (opaque)
//! access tokens checked once (introspection, then userinfo), only this
//! app's accepted, JWT access tokens verified against the provider's keys,
//! and every bad token a 401 that says so.

use reqwest::StatusCode;
use serde_json::json;
use suite::{app, provider_access_token, provider_access_token_for, AppServer, OTHER_CLIENT_ID};

async fn bearer_get(app: &AppServer, path: &str, token: &str) -> (StatusCode, String, String) {
    bearer_get_url(format!("{}{path}", app.base), token.to_owned()).await
}

async fn bearer_get_url(url: String, token: String) -> (StatusCode, String, String) {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (resp.status(), challenge, resp.text().await.unwrap())
}

#[tokio::test]
async fn a_real_access_token_works_and_many_requests_make_one_provider_call() {
    let (provider, app) = app::with_provider(&[], |c| c).await;
    let token = provider_access_token(
        &provider,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "dorothy.vaughan",
    )
    .await;
    let before = (
        provider.count("introspection").await,
        provider.count("userinfo").await,
    );
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        requests.spawn(bearer_get_url(
            format!("{}/admin/profile", app.base),
            token.clone(),
        ));
    }
    let answers = requests.join_all().await;
    for (status, _, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        let profile: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(profile["id"], "dorothy.vaughan");
        assert_eq!(profile["email"], "dorothy.vaughan@example.com");
    }
    assert_eq!(provider.count("introspection").await - before.0, 1);
    assert_eq!(provider.count("userinfo").await - before.1, 1);
    // On poem-openapi operations too.
    let (status, _, body) = bearer_get(&app, "/api/me", &token).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "dorothy.vaughan"));

    // A token the provider does not know is refused, with the reason in the challenge.
    let (status, challenge, body) = bearer_get(&app, "/admin/profile", "not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(body.contains("invalid_token"), "{body}");
}

#[tokio::test]
async fn jwt_access_tokens_are_verified() {
    let (fake, app) = app::with_fake_provider(|c| c).await;
    let now = jsonwebtoken::get_current_timestamp();

    let valid = fake.access_token(json!({}));
    let (status, _, body) = bearer_get(&app, "/admin/profile", &valid).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("api-user"), "{body}");
    // An API audience is fine when the token names this client otherwise (RFC 9068).
    let for_api =
        fake.access_token(json!({"aud": "https://api.example", "client_id": suite::CLIENT_ID}));
    assert_eq!(
        bearer_get(&app, "/admin/profile", &for_api).await.0,
        StatusCode::OK
    );

    // Change a signature character well inside it (the last one may carry
    // only padding bits, which decoders ignore).
    let mut tampered = valid.clone().into_bytes();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = [
        (fake.access_token(json!({"exp": now - 120})), "expired"),
        (tampered, "signature does not verify"),
        (
            fake.access_token(json!({"aud": "https://api.example", "client_id": "someone-else"})),
            "another client",
        ),
        // An ID token names this client in `aud`, but is no access token.
        (
            fake.access_token(json!({"client_id": null, "nonce": "n"})),
            "not an access token",
        ),
        (
            fake.access_token(json!({"iss": "https://evil.example/"})),
            "another provider",
        ),
        (
            fake.access_token(json!({"sub": null})),
            "lacks the `sub` claim",
        ),
    ];
    for (token, reason) in cases {
        let (status, challenge, body) = bearer_get(&app, "/admin/profile", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}: {body}");
        assert!(challenge.contains("invalid_token"), "{challenge}");
        assert!(body.contains(reason), "expected {reason:?} in {body}");
    }
    // JWTs are checked locally: no userinfo call.
    assert_eq!(fake.calls("userinfo"), 0);
}

#[tokio::test]
async fn claims_requirements_answer_403_when_unmet() {
    let (fake, app) = app::with_fake_provider(|c| c).await;
    let staff =
        fake.access_token(json!({"sub": "user-1", "groups": ["staff"], "email_verified": true}));
    let outsider = fake.access_token(json!({"sub": "user-1", "groups": ["guests"]}));
    let other_staff = fake.access_token(json!({"sub": "user-2", "groups": ["staff"]}));

    let (status, _, body) = bearer_get(&app, "/admin/staff", &staff).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "staff member user-1")
    );
    let (status, _, body) = bearer_get(&app, "/admin/staff", &outsider).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("\"forbidden\"") && body.contains("groups"),
        "{body}"
    );
    let (status, _, body) = bearer_get(&app, "/admin/staff", &other_staff).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("is_user_one"), "{body}");

    // The same on a poem-openapi operation.
    assert_eq!(
        bearer_get(&app, "/api/verified", &staff).await.0,
        StatusCode::OK
    );
    let (status, _, body) = bearer_get(&app, "/api/verified", &outsider).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("email_verified"), "{body}");
    // Logged out is still 401, not 403.
    let anonymous = reqwest::get(format!("{}/api/verified", app.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// A bearer token's user is remembered at most until the token expires,
/// however long the cache would keep it.
#[tokio::test]
async fn a_remembered_bearer_token_still_expires_with_the_token() {
    let clock = civic_auth_poem::ManualClock::now();
    let (fake, app) = app::with_fake_provider(|c| {
        c.bearer_cache_ttl(std::time::Duration::from_secs(3600))
            .clock(clock.clone())
    })
    .await;
    // The app's time, not the system's: a slow start-up must not eat into
    // the token's lifetime.
    let now = civic_auth_poem::Clock::from(clock.clone()).now().as_secs();
    let token = fake.access_token(json!({"exp": now + 10}));
    assert_eq!(
        bearer_get(&app, "/admin/profile", &token).await.0,
        StatusCode::OK
    );
    // Past `exp` and the clock leeway.
    clock.advance(std::time::Duration::from_secs(10 + 61));
    let (status, _, body) = bearer_get(&app, "/admin/profile", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("expired"), "{body}");
}

/// An opaque token the provider issued to another app is refused here: the
/// provider's introspection says it is not this app's.
#[tokio::test]
async fn an_opaque_token_of_another_app_is_refused() {
    let (provider, app) = app::with_provider(&[], |c| c).await;
    let theirs = provider_access_token_for(
        &provider,
        OTHER_CLIENT_ID,
        &format!("{}/other/callback", app.base),
        "mallory",
    )
    .await;
    let (status, challenge, body) = bearer_get(&app, "/admin/profile", &theirs).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(body.contains("not issued to this app"), "{body}");
    assert_eq!(
        provider.count("userinfo").await,
        0,
        "refused before userinfo"
    );
}

/// A provider that cannot say which app an opaque token is for gets its
/// opaque tokens refused, unless the app accepts unbound ones.
#[tokio::test]
async fn unbound_opaque_tokens_are_refused_unless_allowed() {
    let (fake, app) = app::with_fake_provider(|c| c).await;
    let (status, _, body) = bearer_get(&app, "/admin/profile", "fake-access-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("no introspection endpoint"), "{body}");
    assert_eq!(fake.calls("userinfo"), 0);

    let (fake, app) = app::with_fake_provider(|c| c.allow_unbound_opaque_tokens(true)).await;
    let (status, _, body) = bearer_get(&app, "/admin/profile", "fake-access-token").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.calls("userinfo"), 1);
}

/// Made-up opaque tokens, each new, cost provider calls at a bounded rate.
#[tokio::test]
async fn a_flood_of_new_opaque_tokens_is_checked_at_a_bounded_rate() {
    let (provider, app) = app::with_provider(&[], |c| c).await;
    let started = std::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..300 {
        requests.spawn(bearer_get_url(
            format!("{}/admin/profile", app.base),
            format!("made-up-token-{i}"),
        ));
    }
    let answers = requests.join_all().await;
    let seconds = started.elapsed().as_secs_f64();
    for (status, _, body) in &answers {
        assert!(
            *status == StatusCode::UNAUTHORIZED || *status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {body}"
        );
    }
    let checked = provider.count("introspection").await as f64;
    // 40 at once, then 20 a second.
    assert!(
        checked <= 40.0 + 20.0 * seconds + 1.0,
        "{checked} checks in {seconds:.1} s"
    );
    assert!(answers
        .iter()
        .any(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE));
}

/// A flood of made-up tokens from one address spends that address's share
/// of checks: a real new token from another still gets through, and what
/// cannot be a token costs no provider call at all.
#[tokio::test]
async fn a_flood_from_one_caller_does_not_keep_others_out() {
    let (provider, app) = app::with_provider(&[], |c| c).await;
    let flooder = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let url = format!("{}/admin/profile", app.base);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200 {
        let request = flooder.get(&url).bearer_auth(format!("made-up-token-{i}"));
        requests.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = requests.join_all().await;
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
    let checked = provider.count("introspection").await;
    assert!(checked <= 15, "{checked} checks for one caller");

    let token = provider_access_token(
        &provider,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "ada.lovelace",
    )
    .await;
    let (status, _, body) = bearer_get(&app, "/admin/profile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Not token characters: refused before any check.
    let before = provider.count("introspection").await;
    for junk in ["not a token", "<script>", "a,b"] {
        let status = flooder
            .get(&url)
            .bearer_auth(junk)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{junk}");
    }
    assert_eq!(provider.count("introspection").await, before);
}

/// An introspection endpoint that will not answer this public client
/// cannot bind a token either: refused, unless unbound ones are allowed.
#[tokio::test]
async fn an_introspection_endpoint_closed_to_this_client_binds_nothing() {
    for allow in [false, true] {
        let (fake, app) = app::with_fake_provider(|c| c.allow_unbound_opaque_tokens(allow)).await;
        fake.update(|s| s.introspection_refuses = Some(401));
        let (status, _, body) = bearer_get(&app, "/admin/profile", "fake-access-token").await;
        assert_eq!(fake.calls("introspection"), 1);
        if allow {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert!(body.contains("would not check it"), "{body}");
            assert_eq!(fake.calls("userinfo"), 0);
        }
    }
}

/// Tokens are bounded in length before anything else, and a remembered
/// answer is reused until exactly its time is up.
#[tokio::test]
async fn token_length_and_the_reuse_of_answers() {
    let clock = civic_auth_poem::ManualClock::now();
    let (fake, app) = app::with_fake_provider(|c| {
        c.allow_unbound_opaque_tokens(true)
            .bearer_cache_ttl(std::time::Duration::from_secs(60))
            .clock(clock.clone())
    })
    .await;
    let too_long = "a".repeat(16 * 1024 + 1);
    let (status, _, body) = bearer_get(&app, "/admin/profile", &too_long).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("empty or too long"), "{body}");
    let longest = "a".repeat(16 * 1024);
    let (_, _, body) = bearer_get(&app, "/admin/profile", &longest).await;
    assert!(!body.contains("too long"), "{body}");
    let asked = fake.calls("userinfo");

    assert_eq!(
        bearer_get(&app, "/admin/profile", "fake-access-token")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        bearer_get(&app, "/admin/profile", "fake-access-token")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        fake.calls("userinfo"),
        asked + 1,
        "the second was answered from memory"
    );
    clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(
        bearer_get(&app, "/admin/profile", "fake-access-token")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        fake.calls("userinfo"),
        asked + 2,
        "asked again when its time was up"
    );
}

/// A provider that publishes introspection and revocation only in its OAuth
/// metadata (RFC 8414): bearer tokens are checked there, and a logout
/// revokes there. While that document cannot be fetched, nothing is
/// remembered without it.
#[tokio::test]
async fn endpoints_only_in_the_oauth_metadata_are_used() {
    let (fake, app) = app::with_fake_provider(|c| c).await;
    fake.update(|s| {
        s.oauth_metadata_only = true;
        s.oauth_metadata_down = true;
        s.introspection_refuses = Some(401);
    });
    let (status, _, body) = bearer_get(&app, "/admin/profile", "fake-access-token").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    fake.update(|s| s.oauth_metadata_down = false);
    let (status, _, body) = bearer_get(&app, "/admin/profile", "fake-access-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("would not check it"), "{body}");
    assert_eq!(fake.calls("introspection"), 1);

    let browser = suite::Browser::new();
    suite::fake_provider::log_in_from(&browser, &format!("{}/auth/login", app.base)).await;
    browser.navigate(&format!("{}/auth/logout", app.base)).await;
    for _ in 0..50 {
        if fake.calls("revocation") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(fake.calls("revocation") > 0, "the logout revoked nothing");
}
