//! The API example's Swagger UI in a real browser: "Try it out" on a protected
//! operation gives 401, then 200 with the profile after logging in with Civic.

use std::process::Stdio;

use suite::{free_port, repo_root, Example, Provider, CLIENT_ID};

#[tokio::test]
async fn try_a_protected_operation_in_swagger_ui_before_and_after_logging_in() {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Example::start_named("openapi", port, &provider).await;

    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/swagger.mjs"))
        .arg(&app.base)
        .arg("mary.jackson")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs tests/browser/swagger.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Swagger UI journey failed:\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let result: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("JSON result {last:?}: {e}"));

    assert_eq!(result["loggedOutStatus"], 401, "{result}");
    assert_eq!(result["loggedInStatus"], 200, "{result}");
    assert_eq!(result["body"]["id"], "mary.jackson", "{result}");
    assert_eq!(
        result["body"]["email"], "mary.jackson@example.com",
        "{result}"
    );
    assert_eq!(result["oauthClientId"], CLIENT_ID, "{result}");
}
