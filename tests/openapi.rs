//! The API example's OpenAPI spec: security exactly on the protected
//! operations, 401/403 and step-up documented, the auth routes and the user
//! schema in it, and valid OpenAPI 3; and its `/reports/*` tree, guarded
//! however a path in it is spelled.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::Value;
use suite::{free_port, raw_get, repo_root, Browser, Example, Provider};
use tokio::io::AsyncWriteExt;

async fn spec() -> (Provider, Example, Value) {
    let port = free_port();
    let provider = Provider::start(&format!("http://127.0.0.1:{port}")).await;
    let app = Example::start_named("openapi", port, &provider).await;
    let spec = Browser::new()
        .get(&format!("{}/openapi.json", app.base))
        .await
        .json();
    (provider, app, spec)
}

fn operations(spec: &Value) -> Vec<(String, &Value)> {
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (format!("{} {path}", method.to_uppercase()), op))
        })
        .collect()
}

#[tokio::test]
async fn security_is_required_exactly_on_protected_operations() {
    let (_provider, _app, spec) = spec().await;
    let ops = operations(&spec);
    assert_eq!(
        ops.len(),
        18,
        "{:?}",
        ops.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for documented in ["POST /auth/callback", "GET /auth/jwks"] {
        assert!(
            ops.iter().any(|(name, _)| name == documented),
            "{documented}"
        );
    }
    for (name, op) in &ops {
        let protected = name.starts_with("GET /admin/") || name == "GET /auth/user";
        let security = op.get("security").and_then(Value::as_array);
        if !protected {
            assert!(
                security.is_none_or(|s| s.is_empty()),
                "{name} is public: {security:?}"
            );
            continue;
        }
        let schemes: Vec<&str> = security
            .unwrap_or_else(|| panic!("{name} lacks security"))
            .iter()
            .flat_map(|req| req.as_object().unwrap().keys().map(String::as_str))
            .collect();
        assert_eq!(
            schemes,
            ["CivicSession", "CivicBearer", "CivicOAuth2"],
            "{name}"
        );
        let unauthorized = &op["responses"]["401"];
        assert!(
            unauthorized["headers"]["WWW-Authenticate"].is_object(),
            "{name}"
        );
        assert_eq!(
            unauthorized["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        let needs_claims = name.ends_with("/verified") || name.ends_with("/admins");
        assert_eq!(op["responses"].get("403").is_some(), needs_claims, "{name}");
        // The step-up of `/admin/sensitive` (CIVIC_STEP_UP_MAX_AGE, 300 unset).
        let step_up = unauthorized["description"]
            .as_str()
            .unwrap()
            .contains("a login within the last 300 seconds");
        assert_eq!(step_up, name == "GET /admin/sensitive", "{name}");
    }
}

#[tokio::test]
async fn schemes_auth_routes_and_user_schema_are_documented() {
    let (_provider, app, spec) = spec().await;
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["CivicSession"]["type"], "apiKey");
    assert_eq!(schemes["CivicSession"]["in"], "cookie");
    assert_eq!(schemes["CivicSession"]["name"], "civic_session");
    assert_eq!(schemes["CivicBearer"]["scheme"], "bearer");
    let flow = &schemes["CivicOAuth2"]["flows"]["authorizationCode"];
    assert!(flow["authorizationUrl"]
        .as_str()
        .unwrap()
        .ends_with("/oauth/auth"));
    assert!(flow["tokenUrl"].as_str().unwrap().ends_with("/oauth/token"));

    for route in ["login", "callback", "logout", "logoutcallback"] {
        let op = &spec["paths"][format!("/auth/{route}")]["get"];
        assert!(
            op["responses"]["302"]["headers"]["Location"].is_object(),
            "{route}"
        );
    }
    assert_eq!(
        spec["paths"]["/auth/login"]["get"]["parameters"][0]["name"],
        "returnTo"
    );
    let user = &spec["paths"]["/auth/user"]["get"]["responses"];
    assert_eq!(
        user["200"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
        "#/components/schemas/CivicUser"
    );
    assert!(user["401"].is_object());
    let schema = &spec["components"]["schemas"]["CivicUser"];
    assert_eq!(schema["required"], serde_json::json!(["id"]));
    for field in [
        "id",
        "email",
        "name",
        "picture",
        "given_name",
        "family_name",
        "username",
        "provider",
    ] {
        assert!(schema["properties"][field].is_object(), "{field}");
    }
    assert_eq!(
        spec["paths"]["/admin/me"]["get"]["responses"]["200"]["content"]
            ["application/json; charset=utf-8"]["schema"]["$ref"],
        "#/components/schemas/CivicUser"
    );

    // The docs page hands Swagger UI the same spec and the client id.
    let docs = Browser::new()
        .navigate(&format!("{}/docs/", app.base))
        .await;
    assert!(docs.body.contains("initOAuth"));
    assert!(docs.body.contains("\"clientId\":\"civic-test-app\""));
    assert!(docs
        .body
        .contains("\"usePkceWithAuthorizationCodeGrant\":true"));
    let receiver = Browser::new()
        .navigate(&format!("{}/docs/oauth-receiver.html", app.base))
        .await;
    assert!(receiver.body.contains("swaggerUIRedirectOauth2"));
}

#[tokio::test]
async fn the_spec_is_valid_openapi_3() {
    let (_provider, _app, spec) = spec().await;
    let mut validator = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/openapi/validate.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs tests/openapi/validate.mjs");
    let mut stdin = validator.stdin.take().unwrap();
    stdin.write_all(spec.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = validator.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("valid OpenAPI 3"));
}

/// The OpenAPI app serves the auth routes from the same table as the plain
/// endpoint, body limit included: a 64 MB back-channel POST is answered
/// after a megabyte of it, not read whole.
#[tokio::test]
async fn a_huge_backchannel_post_is_refused_without_reading_it() {
    let (_provider, app, _) = spec().await;
    let status =
        suite::post_without_finishing(&app.base, "/auth/backchannel-logout", 64 << 20, 1 << 20)
            .await;
    assert!(
        status.starts_with("HTTP/1.1 400") || status.starts_with("HTTP/1.1 501"),
        "{status}"
    );
}

#[tokio::test]
async fn the_sensitive_operation_takes_its_step_up_from_the_environment() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&base).await;
    let env = [("CIVIC_STEP_UP_MAX_AGE", "120")];
    let app = Example::start_with_env("openapi", port, &provider, &env).await;
    let browser = Browser::new();
    let spec = browser.get(&format!("{base}/openapi.json")).await.json();
    let unauthorized = &spec["paths"]["/admin/sensitive"]["get"]["responses"]["401"];
    assert!(
        unauthorized["description"]
            .as_str()
            .unwrap()
            .contains("a login within the last 120 seconds"),
        "{unauthorized}"
    );
    browser.log_in(&app.base, "ada").await;
    let sensitive = browser.get(&format!("{base}/admin/sensitive")).await;
    assert_eq!(
        sensitive.status,
        reqwest::StatusCode::OK,
        "{}",
        sensitive.body
    );
}

#[tokio::test]
async fn a_guarded_tree_is_protected_however_its_paths_are_spelled() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&base).await;
    let app = Example::start_named("openapi", port, &provider).await;
    let spellings = [
        "/reports/q3",
        "/reports/q3/",
        "//reports/q3",
        "/reports//q3",
        "/./reports/q3",
        "/reports/./q3",
        "/x/../reports/q3",
        "/reports%2Fq3",
        "/%72eports/q3",
        "/REPORTS/q3",
        "/Reports/Q3",
        "/reports/public/../q3",
        "/reports/public/%2e%2e/q3",
        "/reports/PUBLIC/about",
        "/reports/..",
        "/reports/%2e%2e",
        "/reports/x%2F..%2F..%2Fy",
        "/reports/public",
    ];
    for path in spellings {
        let api = raw_get(&app.base, path, &[("accept", "application/json")]).await;
        assert_eq!(api.status, 401, "{path}: {}", api.head);
        assert!(api.header("www-authenticate").is_some(), "{path}");
        let page = raw_get(&app.base, path, &[("accept", "text/html")]).await;
        assert_eq!(page.status, 302, "{path}: {}", page.head);
        let location = page.header("location").unwrap();
        assert!(
            location.starts_with("/auth/login?returnTo="),
            "{path}: {location}"
        );
    }
    // Outside the tree, and its excluded part, spelled plainly.
    for path in ["/reports/public/about", "/public"] {
        assert_eq!(
            raw_get(&app.base, path, &[("accept", "application/json")])
                .await
                .status,
            200,
            "{path}"
        );
    }

    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    let report = browser.get(&format!("{}/reports/q3", app.base)).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body, "Report q3, for ada");
    // A page navigation comes back to the report after login.
    let anonymous = Browser::new();
    let page = anonymous
        .navigate_through_login(&format!("{}/reports/q4", app.base), "grace")
        .await;
    assert_eq!(page.body, "Report q4, for grace");
}
