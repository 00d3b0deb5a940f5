//! The quickstart's whole journey against the real provider: log in through
//! its forms, see the claims, log out.

use reqwest::StatusCode;
use suite::{confirm_provider_logout, free_port, Browser, Provider, Quickstart};

async fn quickstart() -> (Provider, Quickstart) {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Quickstart::start(port, &provider).await;
    (provider, app)
}

#[tokio::test]
async fn log_in_see_profile_log_out() {
    let (provider, app) = quickstart().await;
    let browser = Browser::new();

    // Logged out: API calls get 401 with WWW-Authenticate, pages redirect.
    let api = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(api.headers.contains_key("www-authenticate"));
    assert_eq!(api.json()["error"], "unauthorized");
    let page = browser
        .navigate(&format!("{}/admin/profile", app.base))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        page.location().unwrap().as_str(),
        format!("{}/auth/login?returnTo=%2Fadmin%2Fprofile", app.base)
    );

    // Through the provider's login and consent forms, back to the page asked for.
    let landed = browser
        .navigate_through_login(&format!("{}/admin/profile", app.base), "ada.lovelace")
        .await;
    assert_eq!(landed.url.path(), "/admin/profile");
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let profile = landed.json();
    assert_eq!(profile["id"], "ada.lovelace");
    assert_eq!(profile["email"], "ada.lovelace@example.com");
    assert_eq!(profile["name"], "Ada Lovelace");
    assert_eq!(
        profile["picture"],
        "https://example.com/avatars/ada.lovelace.png"
    );

    // The id_token carried no profile: userinfo was called once, the token
    // endpoint once, and protected requests call nothing.
    assert_eq!(provider.count("token").await, 1);
    assert_eq!(provider.count("userinfo").await, 1);
    let before = provider.stats().await;
    let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.body, "Hello, authenticated user!");
    let user = browser.get(&format!("{}/auth/user", app.base)).await.json();
    assert_eq!(user["id"], "ada.lovelace");
    // The app's one provider, unnamed by it: `civic`.
    assert_eq!(user["provider"], "civic");
    assert_eq!(user["given_name"], "Ada");
    assert_eq!(user["username"], "ada.lovelace");
    assert_eq!(user["email_verified"], true);
    assert_eq!(
        provider.stats().await,
        before,
        "protected requests call the provider"
    );

    // `/` shows a logged-in user a page instead of looping to login.
    let home = browser.navigate(&format!("{}/", app.base)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Ada Lovelace"), "{}", home.body);

    // Logout clears the session, then ends the provider's session.
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.status, StatusCode::FOUND);
    assert!(logout
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("civic_session=;")
            || c.starts_with("civic_session=") && c.contains("Max-Age=0")));
    let end_session = logout.location().unwrap();
    assert!(end_session
        .as_str()
        .starts_with(&format!("{}session/end", provider.issuer)));
    let params: std::collections::HashMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert!(params.contains_key("id_token_hint"));
    assert_eq!(params["client_id"], suite::CLIENT_ID);
    assert_eq!(params["post_logout_redirect_uri"], format!("{}/", app.base));
    // It comes back to a page of the app's own, which could not check a `state`.
    assert!(!params.contains_key("state"), "{end_session}");
    let confirm = browser.navigate(end_session.as_str()).await;
    let back = confirm_provider_logout(&browser, &confirm).await;
    assert_eq!(
        back.url.as_str().split('?').next(),
        Some(format!("{}/", app.base).as_str())
    );

    let after = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn public_pages_need_no_login_and_home_sends_visitors_to_login() {
    let (_provider, app) = quickstart().await;
    let browser = Browser::new();
    let public = browser.get(&format!("{}/public", app.base)).await;
    assert_eq!(public.status, StatusCode::OK);
    let home = browser.navigate(&format!("{}/", app.base)).await;
    assert_eq!(home.location().unwrap().path(), "/auth/login");
}

#[tokio::test]
async fn two_logins_started_in_two_tabs_both_finish() {
    let (_provider, app) = quickstart().await;
    let browser = Browser::new();
    // Both tabs reach the provider before either comes back.
    let first = browser
        .navigate(&format!("{}/auth/login?returnTo=/admin/hello", app.base))
        .await;
    let second = browser
        .navigate(&format!("{}/auth/login?returnTo=/admin/profile", app.base))
        .await;
    let first = browser
        .navigate_through_login(first.location().unwrap().as_str(), "tab.one")
        .await;
    assert_eq!(first.url.path(), "/admin/hello");
    assert_eq!(first.body, "Hello, authenticated user!");
    let second = browser
        .navigate_through_login(second.location().unwrap().as_str(), "tab.one")
        .await;
    assert_eq!(second.url.path(), "/admin/profile");
    assert_eq!(second.json()["id"], "tab.one");
}

/// The quickstart as a confidential client, set up only by its environment:
/// a private key the provider reads from the app's `/auth/jwks`, and a
/// secret, each logging in.
#[tokio::test]
async fn the_quickstart_as_a_confidential_client() {
    let key = suite::repo_root().join("tests/keys/ec-a.pem");
    let key = key.to_str().unwrap();
    let secret = "a secret from the provider";
    let kinds = [
        ("private_key_jwt", "CIVIC_CLIENT_KEY", key),
        ("client_secret_basic", "CIVIC_CLIENT_SECRET", secret),
    ];
    for (method, variable, value) in kinds {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let registration = match method {
            "private_key_jwt" => {
                serde_json::json!({ "token_endpoint_auth_method": method, "jwks_uri": format!("{base}/auth/jwks") })
            }
            _ => {
                serde_json::json!({ "token_endpoint_auth_method": method, "client_secret": secret })
            }
        };
        let provider = Provider::start_registered(&[&base], registration, &[]).await;
        let app =
            Quickstart::start_with_env("quickstart", port, &provider, &[(variable, value)]).await;
        let browser = Browser::new();
        browser.log_in(&app.base, "ada.lovelace").await;
        let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
        assert_eq!(profile.status, StatusCode::OK, "{method}: {}", profile.body);
        let keys = browser.get(&format!("{}/auth/jwks", app.base)).await;
        let expected = if method == "private_key_jwt" {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(keys.status, expected, "{method}");
    }
}
