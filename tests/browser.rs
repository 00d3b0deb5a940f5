//! The quickstart in a real browser (Debian's chromium, driven by
//! playwright-core) through the real provider's login and consent pages.

use suite::{browser_journey, free_port, Provider, Quickstart};

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
