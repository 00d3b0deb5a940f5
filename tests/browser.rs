//! The quickstart in a real browser (Debian's chromium, driven by
//! playwright-core) through the real provider's login and consent pages.

use std::process::Stdio;

use suite::{free_port, repo_root, Provider, Quickstart};

#[tokio::test]
async fn log_in_with_a_browser_and_see_the_profile() {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Quickstart::start(port, &provider).await;

    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/login.mjs"))
        .arg(&app.base)
        .arg("katherine.johnson")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs tests/browser/login.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser login failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let profile: serde_json::Value = serde_json::from_str(last).expect("JSON profile");
    assert_eq!(profile["id"], "katherine.johnson");
    assert_eq!(profile["email"], "katherine.johnson@example.com");
    assert_eq!(profile["name"], "Katherine Johnson");
    assert_eq!(
        profile["picture"],
        "https://example.com/avatars/katherine.johnson.png"
    );
}
