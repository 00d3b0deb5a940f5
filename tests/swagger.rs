//! The API example's Swagger UI in a real browser: "Try it out" on a protected
//! operation gives 401, then 200 with the profile after logging in with Civic.

use std::process::Stdio;

use poem_openapi::OpenApiService;
use suite::{free_port, repo_root, Example, Provider, CLIENT_ID};

#[tokio::test]
async fn try_a_protected_operation_in_swagger_ui_before_and_after_logging_in() {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Example::start_named("openapi", port, &provider).await;

    // poem-openapi's own, intact Swagger UI page: the script repairs the
    // app's /docs/ page with it while that page cuts Swagger UI's bundle
    // short (see tests/browser/swagger.mjs), and says so in `workarounds`.
    let reference = std::env::temp_dir().join(format!(
        "civic-swagger-reference-{}-{port}.html",
        std::process::id()
    ));
    std::fs::write(
        &reference,
        OpenApiService::new((), "reference", "1").swagger_ui_html(),
    )
    .expect("write the reference Swagger UI page");

    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/swagger.mjs"))
        .arg(&app.base)
        .arg("mary.jackson")
        .env("SWAGGER_UI_REFERENCE_HTML", &reference)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs tests/browser/swagger.mjs");
    let _ = std::fs::remove_file(&reference);
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

    if let Some(repairs) = result["workarounds"].as_array().filter(|r| !r.is_empty()) {
        eprintln!("warning: the test had to repair the app's Swagger UI page:");
        for repair in repairs {
            eprintln!("  - {}", repair.as_str().unwrap_or_default());
        }
    }
}
