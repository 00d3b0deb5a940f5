//! The quickstart in a real browser (Debian's chromium, driven by
//! playwright-core) through the real provider's login and consent pages.

use suite::{browser_journey, free_port, Example, Provider, Quickstart, TlsProxy};

#[tokio::test]
async fn log_in_with_a_browser_and_see_the_profile() {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Quickstart::start(port, &provider).await;

    let profile = browser_journey("login.mjs", &app.base, "katherine.johnson").await;
    assert_eq!(profile["id"], "katherine.johnson");
    assert_eq!(profile["email"], "katherine.johnson@example.com");
    assert_eq!(profile["name"], "Katherine Johnson");
    assert_eq!(
        profile["picture"],
        "https://example.com/avatars/katherine.johnson.png"
    );
}

/// `response_mode=form_post` in a real browser: the app at `localhost`,
/// another site than the provider at 127.0.0.1, so the provider's page
/// posts the answer across sites and only a login cookie that goes with
/// such a post lets the login finish.
#[tokio::test]
async fn a_form_posted_login_finishes_in_a_browser() {
    let base = format!("http://localhost:{}", free_port());
    let provider = Provider::start(&base).await;
    let env = [("CIVIC_RESPONSE_MODE", "form_post")];
    let app = Example::start_at("quickstart", &base, &provider, &env).await;

    let profile = browser_journey("login.mjs", &app.base, "mary.jackson").await;
    assert_eq!(profile["id"], "mary.jackson");
    assert_eq!(profile["email"], "mary.jackson@example.com");
}

/// The same on an https app (behind a TLS-terminating front, as deployed):
/// its login cookies are `__Secure-` prefixed and its session `__Host-`.
#[tokio::test]
async fn a_form_posted_login_finishes_in_a_browser_on_https() {
    let (public_port, app_port) = (free_port(), free_port());
    let public = format!("https://localhost:{public_port}");
    let provider = Provider::start(&public).await;
    let redirect = format!("{public}/auth/callback");
    let landing = format!("{public}/");
    let env = [
        ("CIVIC_RESPONSE_MODE", "form_post"),
        ("CIVIC_REDIRECT_URL", redirect.as_str()),
        ("CIVIC_POST_LOGOUT_REDIRECT_URL", landing.as_str()),
    ];
    let inner = format!("http://127.0.0.1:{app_port}");
    let _app = Example::start_at("quickstart", &inner, &provider, &env).await;
    let front = TlsProxy::start(public_port, app_port).await;

    let profile = browser_journey("login.mjs", &front.base, "dorothy.vaughan").await;
    assert_eq!(profile["id"], "dorothy.vaughan");
}
