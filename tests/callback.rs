//! Every check of `/auth/callback`, each with a case that fails it. The small
//! provider in `support::fake_provider` sends what the real one never would.

use std::time::Duration;

use civic_auth_poem::ManualClock;

use reqwest::StatusCode;
use serde_json::json;
use suite::{
    app,
    fake_provider::{self, FakeProvider, Signing, TestKey},
    AppServer, Browser, Page,
};

async fn setup() -> (FakeProvider, AppServer) {
    app::with_fake_provider(|c| c).await
}

/// Logs in through the fake provider, which approves at once; returns the
/// callback's answer (not followed further).
async fn callback_answer(browser: &Browser, app: &AppServer, login_query: &str) -> Page {
    fake_provider::log_in_from(browser, &format!("{}/auth/login{login_query}", app.base)).await
}

/// Starts a login in `browser` and takes the provider's answer to it: the
/// callback URL, not yet visited.
async fn callback_url(browser: &Browser, app: &AppServer) -> url::Url {
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    browser
        .navigate(to_provider.location().unwrap().as_str())
        .await
        .location()
        .unwrap()
}

async fn logged_in_as(browser: &Browser, app: &AppServer) -> Option<String> {
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    (user.status == StatusCode::OK).then(|| user.json()["id"].as_str().unwrap().to_owned())
}

/// A login through the callback succeeds, as `user-1`.
async fn assert_logs_in(app: &AppServer) {
    let browser = Browser::new();
    callback_answer(&browser, app, "").await;
    assert_eq!(logged_in_as(&browser, app).await.as_deref(), Some("user-1"));
}

/// Logs in a new browser and returns the profile the app then shows.
async fn profile_after_login(app: &AppServer) -> serde_json::Value {
    let browser = Browser::new();
    callback_answer(&browser, app, "").await;
    let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
    profile.json()
}

/// Starts a login in `browser` (its login cookie set); returns its `state`.
async fn start_login(browser: &Browser, app: &AppServer) -> String {
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let location = to_provider.location().expect("a redirect to the provider");
    let state = location.query_pairs().find(|(k, _)| k == "state");
    state.expect("a state").1.into_owned()
}

/// The callback refused the login with a readable page naming `reason`.
/// A login whose answer failed a check is refused as such: a 4xx page
/// naming the check, no session.
async fn assert_refused(fake: &FakeProvider, app: &AppServer, reason: &str) {
    assert_answered(fake, app, reason, |status| status.is_client_error()).await;
}

/// A provider answer that cannot be read at all is the provider's fault:
/// 502 or 503, no session.
async fn assert_unusable(fake: &FakeProvider, app: &AppServer, reason: &str) {
    assert_answered(fake, app, reason, |status| {
        [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE].contains(&status)
    })
    .await;
}

async fn assert_answered(
    fake: &FakeProvider,
    app: &AppServer,
    reason: &str,
    expected: impl Fn(StatusCode) -> bool,
) {
    let browser = Browser::new();
    let page = callback_answer(&browser, app, "").await;
    assert!(expected(page.status), "{}: {}", page.status, page.body);
    assert!(
        page.body.contains(reason),
        "expected {reason:?} in {}",
        page.body
    );
    assert_eq!(logged_in_as(&browser, app).await, None);
    let _ = fake;
}

#[tokio::test]
async fn a_valid_login_starts_a_session() {
    let (_fake, app) = setup().await;
    let browser = Browser::new();
    let page = callback_answer(&browser, &app, "?returnTo=/admin/profile").await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.location().unwrap().path(), "/admin/profile");
    assert_eq!(
        logged_in_as(&browser, &app).await.as_deref(),
        Some("user-1")
    );
}

#[tokio::test]
async fn es256_tokens_are_accepted() {
    let (fake, app) = setup().await;
    fake.update(|s| s.signing = Signing::Key(TestKey::EcA));
    assert_logs_in(&app).await;
}

/// An ID token signed with an algorithm the provider does not list for
/// ID tokens is refused, though its key and signature are good.
#[tokio::test]
async fn an_id_token_algorithm_the_provider_does_not_list_is_refused() {
    for (listed, accepted) in [(["ES256", "PS256"], false), (["ES256", "RS256"], true)] {
        let (fake, app) = setup().await;
        fake.update(|s| s.id_token_algs = Some(listed.to_vec()));
        if accepted {
            assert_logs_in(&app).await;
        } else {
            assert_refused(&fake, &app, "does not list for ID tokens").await;
        }
    }
}

#[tokio::test]
async fn state_from_another_browser_is_refused() {
    let (_fake, app) = setup().await;
    let victim = Browser::new();
    let callback = callback_url(&victim, &app).await;
    // An attacker's browser, without the login cookie, presents the callback.
    let attacker = Browser::new();
    let page = attacker.navigate(callback.as_str()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("not started in this browser"),
        "{}",
        page.body
    );
    assert_eq!(logged_in_as(&attacker, &app).await, None);
    // A state this browser never saw is refused as well.
    let forged = callback.as_str().replace("state=", "state=x");
    let page = victim.navigate(&forged).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("not started in this browser"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_callback_cannot_be_replayed() {
    let (_fake, app) = setup().await;
    let browser = Browser::new();
    let callback = callback_url(&browser, &app).await;
    let cookies = browser.cookie_header(callback.as_str());
    let done = browser.navigate(callback.as_str()).await;
    assert_eq!(done.status, StatusCode::FOUND);
    // The browser dropped the login cookie; a client that kept it is refused too.
    let replay = reqwest::Client::new()
        .get(callback.as_str())
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let body = replay.text().await.unwrap();
    assert!(body.contains("already completed"), "{body}");
}

/// Only a login that finished keeps its `state` spent: a callback that
/// failed (here the provider was busy) takes no room, so the same callback
/// is heard again, and logs in once the provider takes the code.
#[tokio::test]
async fn a_failed_callback_does_not_spend_its_state() {
    let (fake, app) = setup().await;
    let browser = Browser::new();
    let callback = callback_url(&browser, &app).await;
    fake.update(|s| s.token_error = Some("temporarily_unavailable"));
    let failed = browser.navigate(callback.as_str()).await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    fake.update(|s| s.token_error = None);
    let again = browser.navigate(callback.as_str()).await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.body);
    assert_eq!(
        logged_in_as(&browser, &app).await.as_deref(),
        Some("user-1")
    );
    // Finished, it is spent.
    let replay = browser.navigate(callback.as_str()).await;
    assert!(replay.body.contains("already completed"), "{}", replay.body);
}

#[tokio::test]
async fn provider_errors_are_a_readable_page() {
    let (fake, app) = setup().await;
    let browser = Browser::new();
    let state = start_login(&browser, &app).await;
    let iss = url::form_urlencoded::byte_serialize(fake.issuer.as_bytes()).collect::<String>();
    let page = browser
        .navigate(&format!(
            "{}/auth/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={state}&iss={iss}",
            app.base
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.body.contains("access_denied"), "{}", page.body);
    // The description is shown, escaped.
    assert!(
        page.body.contains("&lt;script&gt;alert(1)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>"), "{}", page.body);

    // A crafted link's text is not shown for a login this browser never started.
    let crafted = Browser::new()
        .navigate(&format!(
            "{}/auth/callback?error=x&error_description=Call+0800+now&state=abc",
            app.base
        ))
        .await;
    assert_eq!(crafted.status, StatusCode::BAD_REQUEST);
    assert!(!crafted.body.contains("0800"), "{}", crafted.body);
}

/// Each malformed callback is refused by its own rule, with this browser's
/// login cookie present (so no earlier check answers for it).
#[tokio::test]
async fn malformed_callbacks_are_client_errors() {
    let (fake, app) = setup().await;
    let long = "a".repeat(5000);
    let iss = url::form_urlencoded::byte_serialize(fake.issuer.as_bytes()).collect::<String>();
    let cases = [
        ("?code=abc", "missing its `state`"),
        ("?state={state}", "missing its `code`"),
        ("?state={state}&code=", "missing its `code`"),
        ("?state={state}&code=x&code=y", "missing its `code`"),
        ("?state={state}&state={state}&code=x", "missing its `state`"),
        ("?state=%FF%FE&code=1", "not started in this browser"),
        ("?state={long}&code=x", "missing its `state`"),
    ];
    for (query, reason) in cases {
        // A fresh login for each case: a callback uses up its state.
        let browser = Browser::new();
        let state = start_login(&browser, &app).await;
        let query = format!(
            "{}&iss={iss}",
            query.replace("{state}", &state).replace("{long}", &long)
        );
        let page = browser
            .navigate(&format!("{}/auth/callback{query}", app.base))
            .await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            page.body
        );
        assert!(
            page.body.contains(reason),
            "{query}: expected {reason:?} in {}",
            page.body
        );
    }
}

#[tokio::test]
async fn response_issuer_is_checked() {
    let (fake, app) = setup().await;
    fake.update(|s| s.response_iss = Some("http://127.0.0.1:1/oauth/".into()));
    assert_refused(&fake, &app, "unexpected issuer").await;
    // The provider advertises RFC 9207 support, so a missing `iss` is refused.
    fake.update(|s| s.response_iss = None);
    assert_refused(&fake, &app, "unexpected issuer").await;
}

/// RFC 9207 2.4: an error answer names its issuer too; one from another
/// provider is not shown as this provider's refusal.
#[tokio::test]
async fn an_error_answer_from_another_issuer_is_refused() {
    let (_fake, app) = setup().await;
    let browser = Browser::new();
    let state = start_login(&browser, &app).await;
    for iss in ["&iss=http%3A%2F%2F127.0.0.1%3A1%2Foauth%2F", ""] {
        let page = browser
            .navigate(&format!(
                "{}/auth/callback?error=access_denied&state={state}{iss}",
                app.base
            ))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.body.contains("unexpected issuer"), "{}", page.body);
        assert!(!page.body.contains("access_denied"), "{}", page.body);
    }
}

#[tokio::test]
async fn discovery_of_another_issuer_is_refused() {
    let (fake, app) = setup().await;
    fake.update(|s| s.advertised_issuer = Some("https://auth.civic.com/oauth/".into()));
    let browser = Browser::new();
    let page = browser.navigate(&format!("{}/auth/login", app.base)).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.body.contains("says its issuer is"), "{}", page.body);
}

#[tokio::test]
async fn signature_by_an_unpublished_key_is_refused() {
    let (fake, app) = setup().await;
    fake.update(|s| s.signing = Signing::KeyClaimingKid(TestKey::RsaB, "rsa-a"));
    assert_refused(&fake, &app, "signature does not verify").await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (fake, app) = setup().await;
    fake.update(|s| s.signing = Signing::None);
    assert_refused(&fake, &app, "alg=none is refused").await;
}

#[tokio::test]
async fn hmac_with_the_public_key_is_refused() {
    let (fake, app) = setup().await;
    fake.update(|s| s.signing = Signing::HmacWithPublicKey);
    assert_refused(&fake, &app, "only public-key signatures").await;
}

#[tokio::test]
async fn id_token_claims_are_checked() {
    let (fake, app) = setup().await;
    let now = jsonwebtoken::get_current_timestamp();
    let cases = [
        (
            json!({"iss": "https://evil.example/oauth/"}),
            "another provider (`iss`)",
        ),
        (json!({"aud": "someone-else"}), "another client (`aud`)"),
        (json!({"azp": "someone-else"}), "another client (`azp`)"),
        (
            json!({"aud": [suite::CLIENT_ID, "other"]}),
            "no `azp` claim",
        ),
        (json!({"exp": now - 120}), "expired"),
        (json!({"iat": now + 600}), "issued in the future"),
        (json!({"nonce": "not-this-login"}), "nonce does not match"),
        (json!({"nonce": null}), "nonce does not match"),
        (json!({"sub": null}), "lacks the `sub` claim"),
        (json!({"exp": null}), "lacks the `exp` claim"),
        (json!({"iss": null}), "lacks the `iss` claim"),
        (json!({"aud": null}), "lacks the `aud` claim"),
        (json!({"iat": null}), "lacks the `iat` claim"),
        (json!({"iat": "yesterday"}), "not a number of seconds"),
        (json!({"nbf": now + 600}), "not valid yet"),
    ];
    for (claims, reason) in cases {
        fake.update(|s| s.claims = claims.clone());
        assert_refused(&fake, &app, reason).await;
    }
    // Within the 60 s leeway, clocks may differ.
    fake.update(|s| s.claims = json!({"iat": now + 30, "exp": now - 30}));
    assert_logs_in(&app).await;
}

#[tokio::test]
async fn rotated_keys_are_fetched_once() {
    let clock = ManualClock::now();
    let (fake, app) = app::with_fake_provider(|c| {
        c.jwks_refresh_interval(Duration::from_secs(30))
            .clock(clock.clone())
    })
    .await;
    let browser = Browser::new();
    callback_answer(&browser, &app, "").await;
    assert_eq!(fake.calls("jwks"), 1);

    // The provider rotates to key B: the unknown kid makes the app look again.
    clock.advance(Duration::from_secs(30));
    fake.update(|s| {
        s.published = vec![TestKey::RsaB];
        s.signing = Signing::Key(TestKey::RsaB);
    });
    assert_logs_in(&app).await;
    assert_eq!(fake.calls("jwks"), 2);

    // Another unknown kid right away: no new fetch (rate limit), refused.
    fake.update(|s| s.signing = Signing::KeyClaimingKid(TestKey::RsaB, "rsa-z"));
    assert_refused(&fake, &app, "which the provider does not publish").await;
    assert_eq!(fake.calls("jwks"), 2);
    // A known kid keeps working from the cache.
    fake.update(|s| s.signing = Signing::Key(TestKey::RsaB));
    assert_logs_in(&app).await;
    assert_eq!(fake.calls("jwks"), 2);
}

#[tokio::test]
async fn userinfo_fills_the_profile_for_the_same_user_only() {
    let (fake, app) = setup().await;
    fake.update(|s| {
        s.claims = json!({"email": null, "name": null, "picture": null});
        s.userinfo = json!({"sub": "user-1", "email": "u1@example.com", "name": "From Userinfo"});
    });
    let profile = profile_after_login(&app).await;
    assert_eq!(profile["name"], "From Userinfo");
    assert_eq!(fake.calls("userinfo"), 1);

    fake.update(|s| s.userinfo = json!({"sub": "someone-else", "name": "Mallory"}));
    assert_refused(&fake, &app, "describes another user").await;
}

/// Every login asks userinfo (OpenID Connect Core 5.3) and takes the
/// profile from it; an option spares the call when the ID token has it.
#[tokio::test]
async fn the_profile_comes_from_userinfo_unless_the_id_token_may_do() {
    let (fake, app) = setup().await;
    fake.update(|s| s.userinfo = json!({"name": "Current Name"}));
    let profile = profile_after_login(&app).await;
    assert_eq!(profile["name"], "Current Name");
    assert_eq!(
        profile["email"], "user-1@example.com",
        "kept from the ID token"
    );
    assert_eq!(fake.calls("userinfo"), 1);

    let (fake, app) = app::with_fake_provider(|c| c.userinfo_at_login(false)).await;
    assert_logs_in(&app).await;
    assert_eq!(fake.calls("token"), 1);
    assert_eq!(fake.calls("userinfo"), 0);
}

#[tokio::test]
async fn return_to_only_accepts_local_paths() {
    let (_fake, app) = setup().await;
    for (return_to, lands) in [
        ("/admin/hello?x=1", "/admin/hello?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/%5Cevil.example", "/%5Cevil.example"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let browser = Browser::new();
        let query = format!("?returnTo={}", urlencode(return_to));
        let page = callback_answer(&browser, &app, &query).await;
        assert_eq!(page.status, StatusCode::FOUND);
        let location = page.headers["location"].to_str().unwrap();
        assert_eq!(location, lands, "returnTo={return_to}");
    }
}

#[tokio::test]
async fn a_hanging_token_endpoint_gives_a_bounded_clear_answer() {
    let (fake, app) = app::with_fake_provider(|c| c.http_timeout(Duration::from_millis(500))).await;
    fake.update(|s| s.token_delay = Duration::from_secs(5));
    let started = std::time::Instant::now();
    let browser = Browser::new();
    let page = callback_answer(&browser, &app, "").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(page.body.contains("no answer in time"), "{}", page.body);
    assert!(started.elapsed() < Duration::from_secs(4));
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn a_missing_iss_is_accepted_from_a_provider_that_never_sends_it() {
    let (fake, app) = setup().await;
    fake.update(|s| {
        s.advertise_iss = false;
        s.response_iss = None;
    });
    assert_logs_in(&app).await;
}

#[tokio::test]
async fn the_token_request_does_not_follow_redirects() {
    let (fake, app) = setup().await;
    fake.update(|s| s.token_redirect = true);
    assert_unusable(&fake, &app, "token response").await;
    assert_eq!(fake.calls("token-elsewhere"), 0);
}

#[tokio::test]
async fn oversized_provider_answers_are_refused() {
    let (fake, app) = setup().await;
    fake.update(|s| {
        s.claims = json!({"email": null, "name": null, "picture": null});
        s.userinfo = json!({"sub": "user-1", "padding": "x".repeat(600_000)});
    });
    assert_unusable(&fake, &app, "larger than").await;
}

#[tokio::test]
async fn provider_answers_of_exactly_the_limit_are_read() {
    // `{"jti":"…","sub":"user-1"}`: 25 bytes around the padding, which is
    // a claim about the token, not the user (so not kept in the session).
    const LIMIT: usize = 512 * 1024;
    for (len, logs_in) in [(LIMIT, true), (LIMIT + 1, false)] {
        let (fake, app) = setup().await;
        fake.update(|s| {
            s.userinfo = json!({"sub": "user-1", "jti": "x".repeat(len - 25)});
        });
        let browser = Browser::new();
        let page = callback_answer(&browser, &app, "").await;
        assert_eq!(
            logged_in_as(&browser, &app).await.is_some(),
            logs_in,
            "{len}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn concurrent_logins_after_a_rotation_fetch_the_keys_once() {
    let clock = ManualClock::now();
    let (fake, app) = app::with_fake_provider(|c| {
        c.jwks_refresh_interval(Duration::from_secs(30))
            .clock(clock.clone())
    })
    .await;
    callback_answer(&Browser::new(), &app, "").await;
    assert_eq!(fake.calls("jwks"), 1);
    clock.advance(Duration::from_secs(30));
    fake.update(|s| {
        s.published = vec![TestKey::RsaB];
        s.signing = Signing::Key(TestKey::RsaB);
    });
    let (a, b, c) = (Browser::new(), Browser::new(), Browser::new());
    tokio::join!(
        callback_answer(&a, &app, ""),
        callback_answer(&b, &app, ""),
        callback_answer(&c, &app, ""),
    );
    for browser in [&a, &b, &c] {
        assert_eq!(logged_in_as(browser, &app).await.as_deref(), Some("user-1"));
    }
    assert_eq!(fake.calls("jwks"), 2);
}

#[tokio::test]
async fn a_broken_key_set_is_a_clear_bad_gateway() {
    for body in [
        "<html>not json</html>",
        r#"{"keys": "nope"}"#,
        r#"{"keys": []}"#,
    ] {
        let (fake, app) = setup().await;
        fake.update(|s| s.jwks_body = Some(body.to_owned()));
        let browser = Browser::new();
        let page = callback_answer(&browser, &app, "").await;
        assert!(
            page.status == StatusCode::BAD_GATEWAY || page.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            page.status,
            page.body
        );
        assert_eq!(logged_in_as(&browser, &app).await, None);
    }
}

/// Abandoned logins do not pile up: a browser keeps the newest few, so its
/// `Cookie` header stays small, and the newest still finishes.
#[tokio::test]
async fn pending_logins_are_bounded_per_browser() {
    let (_fake, app) = setup().await;
    let browser = Browser::new();
    let first = start_login(&browser, &app).await;
    let mut last = String::new();
    for _ in 0..60 {
        last = start_login(&browser, &app).await;
    }
    let cookies = browser.cookie_header(&app.base);
    let pending = cookies
        .split("; ")
        .filter(|c| c.starts_with("civic_auth_tx."))
        .count();
    assert!(pending <= 3, "{pending} pending logins: {cookies}");
    assert!(cookies.len() < 4096, "{} bytes", cookies.len());
    // The oldest was dropped; the newest is still there.
    assert!(!cookies.contains(&format!("civic_auth_tx.{first}=")));
    assert!(cookies.contains(&format!("civic_auth_tx.{last}=")));
}

/// A provider that is busy or failing at the code exchange is a 503, not
/// the user's fault; a refused code is a 400 that says so.
#[tokio::test]
async fn code_exchange_errors_are_classed() {
    let (fake, app) = setup().await;
    for (error, status) in [
        ("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE),
        ("server_error", StatusCode::SERVICE_UNAVAILABLE),
        ("invalid_grant", StatusCode::BAD_REQUEST),
    ] {
        fake.update(|s| s.token_error = Some(error));
        let page = callback_answer(&Browser::new(), &app, "").await;
        assert_eq!(page.status, status, "{error}: {}", page.body);
    }
}

/// A provider that lists its scopes without `offline_access` (and refuses
/// what it does not offer): the default login asks only for what it offers,
/// without `prompt=consent`; scopes the app chose are asked as they are.
#[tokio::test]
async fn default_scopes_follow_what_the_provider_offers() {
    let (fake, app) = setup().await;
    fake.update(|s| s.scopes_supported = Some(vec!["openid", "email", "profile"]));
    assert_logs_in(&app).await;
    let asked = fake.last_authorization().unwrap();
    assert_eq!(asked.scope, "openid email profile");
    assert_eq!(asked.prompt, None);

    let chosen = ["openid", "email", "offline_access"];
    let (fake, app) = app::with_fake_provider(|c| c.scopes(chosen)).await;
    fake.update(|s| s.scopes_supported = Some(vec!["openid", "email", "profile"]));
    let page = callback_answer(&Browser::new(), &app, "").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("invalid_scope"), "{}", page.body);
    let asked = fake.last_authorization().unwrap();
    assert_eq!(asked.scope, "openid email offline_access");
    assert_eq!(asked.prompt.as_deref(), Some("consent"));

    // A provider that does not list its scopes gets the defaults.
    let (fake, app) = setup().await;
    assert_logs_in(&app).await;
    let asked = fake.last_authorization().unwrap();
    assert_eq!(asked.scope, civic_auth_poem::DEFAULT_SCOPES);
    assert_eq!(asked.prompt.as_deref(), Some("consent"));
}

/// Every login sends `max_age`, so any conforming provider names
/// `auth_time`: 400 days (longer than any provider session) unless the
/// login asks for a step-up's own.
#[tokio::test]
async fn every_login_sends_max_age() {
    let (fake, app) = setup().await;
    assert_logs_in(&app).await;
    let asked = fake.last_authorization().unwrap();
    assert_eq!(asked.max_age.as_deref(), Some("34560000"));
    callback_answer(&Browser::new(), &app, "?max_age=60").await;
    let asked = fake.last_authorization().unwrap();
    assert_eq!(asked.max_age.as_deref(), Some("60"));
}
