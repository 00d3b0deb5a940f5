//! Whole route trees protected without the attribute (`CivicAuthGuard`),
//! served in process: a guard's step-up, claims and provider answer as the
//! attribute's do. `tests/openapi.rs` has `examples/openapi.rs`'s guarded
//! `/reports/*`, reached through every spelling of its paths.

use std::time::Duration;

use civic_auth_poem::{
    get_civic_user, CivicAuth, CivicAuthEndpoint, CivicAuthGuard, ManualClock, SessionSecret,
};
use poem::{get, handler, EndpointExt, Route};
use reqwest::StatusCode;
use suite::{app, AppServer, Browser, Provider};

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
