//! The API example's Swagger UI in a real browser: "Try it out" on a protected
//! operation gives 401, then 200 with the profile after logging in with Civic.

use suite::{browser_journey, free_port, Example, Provider, CLIENT_ID};

#[tokio::test]
async fn try_a_protected_operation_in_swagger_ui_before_and_after_logging_in() {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Example::start_named("openapi", port, &provider).await;

    let result = browser_journey("swagger.mjs", &app.base, "mary.jackson").await;
    assert_eq!(result["loggedOutStatus"], 401, "{result}");
    assert_eq!(result["loggedInStatus"], 200, "{result}");
    assert_eq!(result["body"]["id"], "mary.jackson", "{result}");
    assert_eq!(
        result["body"]["email"], "mary.jackson@example.com",
        "{result}"
    );
    assert_eq!(result["oauthClientId"], CLIENT_ID, "{result}");
}
