//! The provider going away: logged-in users keep working, login says so
//! clearly, logout still works locally, and login recovers.

use std::time::Duration;

use reqwest::StatusCode;
use suite::{app, Browser};

#[tokio::test]
async fn provider_down_then_back() {
    let (mut provider, app) = app::with_provider(&[], |c| {
        c.provider_check_interval(Duration::ZERO)
            .http_timeout(Duration::from_secs(2))
            // The restarted provider signs with new keys: let the app look them up at once.
            .jwks_refresh_interval(Duration::ZERO)
    })
    .await;
    let browser = Browser::new();
    let landed = browser.log_in(&app.base, "grace.hopper").await;
    assert_eq!(landed.url.path(), "/");
    provider.stop().await;

    // A protected request never calls the provider.
    let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.status, StatusCode::OK);
    let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(profile.json()["name"], "Grace Hopper");

    // A new login gets a clear 503 page, not a redirect to a dead server.
    let other = Browser::new();
    let started = std::time::Instant::now();
    let login = other.navigate(&format!("{}/auth/login", app.base)).await;
    assert_eq!(login.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        login.body.contains("could not be reached"),
        "{}",
        login.body
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Logout still ends the local session.
    let logout = browser.navigate(&format!("{}/auth/logout", app.base)).await;
    assert_eq!(logout.status, StatusCode::FOUND);
    assert_eq!(
        logout.location().unwrap().as_str(),
        format!("{}/", app.base)
    );
    let after = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // When the provider is back, login works again.
    provider.restart().await;
    let again = browser.log_in(&app.base, "grace.hopper").await;
    assert_eq!(again.url.path(), "/");
    let hello = browser.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.status, StatusCode::OK);
}
