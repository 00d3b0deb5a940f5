//! Whole route trees protected without the attribute (`CivicAuthGuard`):
//! `examples/openapi.rs` guards `/reports/*` of plain handlers, and every
//! spelling of a path in it is guarded; a guard's step-up, claims and
//! provider answer as the attribute's do.

use std::time::Duration;

use civic_auth_poem::{
    get_civic_user, CivicAuth, CivicAuthEndpoint, CivicAuthGuard, ManualClock, SessionSecret,
};
use poem::{get, handler, EndpointExt, Route};
use reqwest::StatusCode;
use suite::{app, free_port, raw_get, AppServer, Browser, Example, Provider};

const PAGE: (&str, &str) = ("accept", "text/html");
const API: (&str, &str) = ("accept", "application/json");

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
    ];
    for path in spellings {
        let api = raw_get(&app.base, path, &[API]).await;
        assert_eq!(api.status, 401, "{path}: {}", api.head);
        assert!(api.header("www-authenticate").is_some(), "{path}");
        let page = raw_get(&app.base, path, &[PAGE]).await;
        assert_eq!(page.status, 302, "{path}: {}", page.head);
        let location = page.header("location").unwrap();
        assert!(
            location.starts_with("/auth/login?returnTo="),
            "{path}: {location}"
        );
    }
    // Outside the tree, and its excluded part, spelled plainly.
    for path in ["/reports/public/about", "/public"] {
        assert_eq!(raw_get(&app.base, path, &[API]).await.status, 200, "{path}");
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

#[handler]
fn whoami() -> poem::Result<String> {
    Ok(get_civic_user()?.id)
}

#[handler]
fn open() -> &'static str {
    "open"
}

#[tokio::test]
async fn a_guard_asks_what_the_attribute_asks() {
    let clock = ManualClock::now();
    let (acceptor, base) = AppServer::bind().await;
    let provider = Provider::start(&base).await;
    let config = app::config(&base, &provider.oauth_server())
        .clock(clock.clone())
        .build()
        .unwrap();
    let auth = CivicAuth::new(config, SessionSecret::generate());
    let files = Route::new().at("/*path", get(whoami));
    let guarded = Route::new()
        // A nested tree, all of it.
        .nest("/files", files.with(CivicAuthGuard::new()))
        .at("/recent/:x", get(whoami))
        .at("/ada/:x", get(whoami))
        .at("/partner/:x", get(whoami))
        .at("/open", get(open))
        .with(
            CivicAuthGuard::new()
                .include("/recent/*")
                .max_age(Duration::from_secs(300)),
        )
        .with(
            CivicAuthGuard::new()
                .include("/ada/*")
                .equals("email", "ada@example.com"),
        )
        .with(
            CivicAuthGuard::new()
                .include("/partner/*")
                .provider("partner"),
        );
    let routes = Route::new()
        .nest("/auth", CivicAuthEndpoint::new(&auth))
        .nest("/", guarded)
        .with(auth);
    let app = AppServer::serve(acceptor, base, routes);
    let at = |path: &str| format!("{}{path}", app.base);

    let anonymous = Browser::new();
    assert_eq!(anonymous.get(&at("/open")).await.status, StatusCode::OK);
    let api = anonymous.get(&at("/files/a.txt")).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.json()["error"], "unauthorized");
    let page = anonymous.navigate(&at("/files/a.txt")).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        page.location().unwrap().query(),
        Some("returnTo=%2Ffiles%2Fa.txt")
    );

    let ada = Browser::new();
    ada.log_in(&app.base, "ada").await;
    for path in ["/files/a.txt", "/ada/x", "/recent/x"] {
        let page = ada.get(&at(path)).await;
        assert_eq!(
            (page.status, page.body.as_str()),
            (StatusCode::OK, "ada"),
            "{path}"
        );
    }
    let partner = ada.get(&at("/partner/x")).await;
    assert_eq!(partner.status, StatusCode::FORBIDDEN);
    assert_eq!(partner.json()["error"], "wrong_provider");

    let grace = Browser::new();
    grace.log_in(&app.base, "grace").await;
    let refused = grace.get(&at("/ada/x")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.json()["message"]
        .as_str()
        .unwrap()
        .contains("email"));

    // An old login steps up: 401 with the challenge, or a login asking for it.
    clock.advance(Duration::from_secs(400));
    let stale = ada.get(&at("/recent/x")).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    let challenge = stale.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("max_age=\"300\""), "{challenge}");
    let page = ada.navigate(&at("/recent/x")).await;
    assert_eq!(page.status, StatusCode::FOUND);
    let login = page.location().unwrap();
    assert!(login.query().unwrap().contains("max_age=300"), "{login}");
    assert_eq!(ada.get(&at("/files/a.txt")).await.status, StatusCode::OK);
}
