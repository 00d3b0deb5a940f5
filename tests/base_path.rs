//! An app mounted below `/` (`base_path("/app")`, nested at `/app`),
//! against the real provider: its login is `/app/auth/login`, its cookies
//! live at `/app` only, and logins come back inside it.

use civic_auth_poem::{
    civic_auth_required, get_civic_user, CivicAuth, CivicAuthConfigBuilder, CivicAuthEndpoint,
    CivicUser, SessionSecret,
};
use poem::{get, handler, EndpointExt, Route};
use reqwest::StatusCode;
use suite::{app, AppServer, Browser, Page, Provider};

#[civic_auth_required]
#[handler]
fn hello() -> poem::Result<String> {
    Ok(format!("hello {}", get_civic_user()?.id))
}

#[handler]
fn whoami(user: Option<CivicUser>) -> String {
    user.map_or_else(|| "anonymous".into(), |u| u.id)
}

/// Every `Set-Cookie` of `page` for the app's own cookies, checked to live
/// at `/app`.
fn assert_scoped(page: &Page) {
    let cookies = page.set_cookies();
    assert!(!cookies.is_empty(), "{page:?}");
    for cookie in cookies {
        assert!(
            cookie.contains("Path=/app;") || cookie.ends_with("Path=/app"),
            "{cookie}"
        );
    }
}

/// The app at `/app` of the host at `base` (`/other` beside it), and its
/// provider; `tweak` adjusts the config.
async fn app_at_base(
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> (Provider, AppServer, String) {
    let (acceptor, base) = AppServer::bind().await;
    let app_base = format!("{base}/app");
    let provider = Provider::start(&app_base).await;
    let config = tweak(app::config(&app_base, &provider.oauth_server()).base_path("/app"))
        .build()
        .unwrap();
    let auth = CivicAuth::new(config, SessionSecret::generate());
    let inside = Route::new()
        .at("/", get(whoami))
        .at("/admin/hello", get(hello))
        .nest("/auth", CivicAuthEndpoint::new(&auth));
    let routes = Route::new()
        .nest("/app", inside)
        .at("/other", get(whoami))
        .with(auth);
    (provider, AppServer::serve(acceptor, base, routes), app_base)
}

#[tokio::test]
async fn an_app_below_the_root_keeps_its_logins_and_cookies_inside_it() {
    let (_provider, app, app_base) = app_at_base(|c| c).await;
    let base = &app.base;

    // A protected page sends a browser to the login below the base path.
    let browser = Browser::new();
    let page = browser.navigate(&format!("{app_base}/admin/hello")).await;
    assert_eq!(page.status, StatusCode::FOUND);
    let login = page.location().unwrap();
    assert_eq!(login.path(), "/app/auth/login");
    assert_eq!(login.query(), Some("returnTo=%2Fapp%2Fadmin%2Fhello"));

    // The login's cookie, the session's and the login's removal: at /app.
    let started = browser.navigate(login.as_str()).await;
    assert_scoped(&started);
    let answer = browser
        .answer_for(started.location().unwrap().as_str(), "ada", &app_base)
        .await;
    assert_eq!(answer.path(), "/app/auth/callback");
    let back = browser.navigate(answer.as_str()).await;
    assert_scoped(&back);
    assert_eq!(back.location().unwrap().path(), "/app/admin/hello");
    let greeting = browser.get(&format!("{app_base}/admin/hello")).await;
    assert_eq!(greeting.body, "hello ada");
    assert_eq!(browser.get(&format!("{app_base}/")).await.body, "ada");
    // Another app of the host does not get the session's cookie.
    assert_eq!(
        browser.get(&format!("{base}/other")).await.body,
        "anonymous"
    );

    // `returnTo` outside the base path is not followed: the landing is.
    let other = Browser::new();
    let landed = other
        .navigate_through_login(&format!("{app_base}/auth/login?returnTo=/other"), "grace")
        .await;
    assert_eq!(landed.url.path(), "/app/", "{landed:?}");
    assert_eq!(landed.body, "grace");
    // Nor one that climbs out of it with dots.
    for escaping in ["/app/../other", "/app/%2e%2e/other"] {
        let other = Browser::new();
        let login = format!(
            "{app_base}/auth/login?returnTo={}",
            escaping.replace('%', "%25")
        );
        let landed = other.navigate_through_login(&login, "grace").await;
        assert_eq!(landed.url.path(), "/app/", "{escaping}: {landed:?}");
    }

    // A logout from another site's page asks first, and staying stays inside.
    let asked = browser
        .client
        .get(format!("{app_base}/auth/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(asked.contains("href=\"/app/\""), "{asked}");

    // A refused callback's page links back to the app's start.
    let refused = browser
        .navigate(&format!("{app_base}/auth/callback?code=x&state=y"))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("href=\"/app/\""), "{}", refused.body);

    // Logging out clears the cookie where it lives.
    let out = browser.navigate(&format!("{app_base}/auth/logout")).await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert!(out
        .set_cookies()
        .iter()
        .any(|c| c.contains("Max-Age=0") && c.contains("Path=/app")));
    assert_eq!(browser.get(&format!("{app_base}/")).await.body, "anonymous");
}

/// Silent logins only on the app's own pages: elsewhere on the host its
/// cookies are not sent, and it would never stop trying.
#[tokio::test]
async fn silent_logins_stay_inside_the_base_path() {
    let (_provider, app, app_base) = app_at_base(|c| c.silent_login(true)).await;
    let browser = Browser::new();
    let other = browser.navigate(&format!("{}/other", app.base)).await;
    assert_eq!(
        (other.status, other.body.as_str()),
        (StatusCode::OK, "anonymous")
    );
    let inside = browser.navigate(&format!("{app_base}/")).await;
    assert_eq!(inside.status, StatusCode::FOUND);
    let tried = inside.location().unwrap();
    assert_eq!(
        tried.path(),
        "/oauth/auth",
        "a silent login at the provider: {tried}"
    );
}
