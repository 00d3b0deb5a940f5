//! Silent login (`prompt=none`, `silent_login(true)`): a browser new to
//! the app whose user is logged in at the provider gets a session from its
//! first page view without seeing a provider page; one the provider does
//! not know stays anonymous on the page it asked for, and is not tried
//! again for a while. Against the real provider.

use reqwest::StatusCode;
use suite::{app, AppServer, Browser, Provider};

async fn silent_app() -> (Provider, AppServer) {
    app::with_provider(&[], |c| c.silent_login(true)).await
}

async fn user_of(browser: &Browser, app: &AppServer) -> Option<String> {
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    (user.status == StatusCode::OK).then(|| user.json()["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_user_known_to_the_provider_is_logged_in_without_a_page() {
    let (provider, app) = silent_app().await;
    let at_provider = Browser::new();
    at_provider.log_in(&app.base, "ada").await;
    let forms = provider.count("submit").await;

    let browser = at_provider.with_provider_cookies_of(&provider);
    assert_eq!(user_of(&browser, &app).await, None, "new to the app");
    let page = browser
        .follow(&format!("{}/public?from=mail", app.base))
        .await;
    assert_eq!(page.url.path(), "/public");
    assert_eq!(page.url.query(), Some("from=mail"));
    assert_eq!(page.body, "public");
    assert_eq!(user_of(&browser, &app).await.as_deref(), Some("ada"));
    assert_eq!(
        provider.count("submit").await,
        forms,
        "no provider page was shown"
    );
}

#[tokio::test]
async fn an_unknown_browser_stays_anonymous_and_is_not_tried_again() {
    let (provider, app) = silent_app().await;
    let browser = Browser::new();
    let public = format!("{}/public", app.base);
    let first = browser.navigate(&public).await;
    assert_eq!(first.status, StatusCode::FOUND, "tried once");
    assert!(
        first
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("civic_auth_silent=")),
        "{:?}",
        first.set_cookies()
    );
    let landed = browser.follow(first.location().unwrap().as_str()).await;
    assert_eq!(landed.url.path(), "/public", "back where it was going");
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(user_of(&browser, &app).await, None);
    assert_eq!(provider.count("submit").await, 0);

    let again = browser.navigate(&public).await;
    assert_eq!(again.status, StatusCode::OK, "not tried again");
    // The auth routes are never interrupted, tried or not.
    let fresh = Browser::new();
    let user = fresh.navigate(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.status, StatusCode::UNAUTHORIZED);
    let back = fresh
        .navigate(&format!("{}/auth/logoutcallback?state=x", app.base))
        .await;
    assert_eq!(back.status, StatusCode::BAD_REQUEST);
    // API calls are never sent anywhere.
    let api = Browser::new().get(&public).await;
    assert_eq!(api.status, StatusCode::OK);
}

#[tokio::test]
async fn a_logout_is_not_undone_and_a_provider_outage_serves_the_page() {
    let (mut provider, app) = silent_app().await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert!(
        logout
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("civic_auth_silent=")),
        "{:?}",
        logout.set_cookies()
    );

    provider.stop().await;
    let browser = Browser::new();
    let page = browser.navigate(&format!("{}/public", app.base)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("civic_auth_silent=")));
}

#[tokio::test]
async fn without_the_option_nothing_is_tried() {
    let (_provider, app) = app::with_provider(&[], |c| c).await;
    let page = Browser::new()
        .navigate(&format!("{}/public", app.base))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.set_cookies().is_empty());
}
