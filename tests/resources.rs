//! Tokens for the APIs an app names (RFC 8707 resource indicators),
//! against the real provider with API tokens of three seconds: a login
//! asks for every API, a handler (`AccessToken::for_resource`) or the
//! proxy (`BffProxy::resource`) gets a token for one with the refresh
//! token, the session keeps it until it is due, and renewals for the
//! session and for its APIs, at once and from old cookies, never spend a
//! refresh token twice (the provider would end the grant). What the
//! provider issued is read back with its introspection endpoint.

use std::{sync::Arc, time::Duration};

use civic_auth_poem::{
    civic_auth_required, session::MemoryStore, AccessToken, BffProxy, CivicAuth,
    CivicAuthConfigBuilder, CivicAuthEndpoint, ManualClock, PushedAuthorization, SessionSecret,
};
use poem::{handler, http::StatusCode, web::Json, EndpointExt, Request, Route};
use reqwest::Method;
use serde_json::{json, Value};
use suite::{app, call, AppServer, Browser, Provider, CLIENT_ID};
use tokio::task::JoinSet;

const API: &str = "https://api.example.test/";
const FILES: &str = "https://files.example.test/";
/// Tokens for the APIs and the session's own live 3 s; each is renewed a
/// second before.
const PROVIDER_ENV: &[(&str, &str)] = &[
    (
        "PROVIDER_RESOURCES",
        r#"{"https://api.example.test/": {"scope": "api:read api:write", "ttl": 3},
            "https://files.example.test/": {"scope": "files:read", "ttl": 3}}"#,
    ),
    ("ACCESS_TOKEN_TTL", "3"),
];
const PAST_RENEWAL: Duration = Duration::from_millis(2_300);
const CSRF: (&str, &str) = ("x-csrf", "1");

/// What the API got: the `Authorization` it was called with.
#[handler]
fn api_echo(req: &Request) -> Json<Value> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    Json(json!({ "authorization": header("authorization"), "dpop": header("dpop") }))
}

/// `/token/:resource`: what `for_resource` hands a handler.
#[civic_auth_required]
#[handler]
async fn api_token(
    token: AccessToken,
    poem::web::Query(asked): poem::web::Query<Value>,
) -> poem::Result<Json<Value>> {
    let resource = asked["resource"].as_str().unwrap_or(API);
    let api = token.for_resource(resource).await?;
    Ok(Json(json!({
        "secret": api.secret(),
        "resource": api.resource(),
        "session_secret": token.secret(),
        "debug": format!("{api:?}"),
    })))
}

/// `/me`: the provider's userinfo with the session's own token.
#[civic_auth_required]
#[handler]
async fn me(token: AccessToken) -> poem::Result<Json<Value>> {
    let userinfo = token.userinfo_endpoint().await?;
    let answer = token.send(reqwest::Client::new().get(userinfo)).await?;
    let status = answer.status().as_u16();
    let claims: Value = answer.json().await.unwrap_or_default();
    Ok(Json(json!({ "status": status, "sub": claims["sub"] })))
}

struct Setup {
    provider: Provider,
    app: AppServer,
    _api: AppServer,
}

/// The provider, an API of the tests', and an app that names `resources`
/// and proxies `/bff/*` to the API with a token for [`API`].
async fn start(
    resources: &[&str],
    store: bool,
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> Setup {
    start_with(PROVIDER_ENV, resources, store, tweak).await
}

/// [`start`], the provider started with `provider_env`.
async fn start_with(
    provider_env: &[(&str, &str)],
    resources: &[&str],
    store: bool,
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> Setup {
    let (acceptor, base) = AppServer::bind().await;
    let api = {
        let (acceptor, base) = AppServer::bind().await;
        AppServer::serve(acceptor, base, Route::new().at("/*", api_echo))
    };
    let provider = Provider::start_with(&base, provider_env).await;
    let config = resources.iter().fold(
        tweak(app::config(&base, &provider.oauth_server())),
        |config, resource| config.resource(*resource, ["api:read"]),
    );
    let auth = serve_with(config, store);
    let routes = Route::new()
        .nest("/bff", BffProxy::new(&api.base).unwrap().resource(API))
        .at("/token", poem::get(api_token))
        .at("/me", poem::get(me))
        .nest("/auth", CivicAuthEndpoint::new(&auth))
        .with(auth);
    Setup {
        provider,
        app: AppServer::serve(acceptor, base, routes),
        _api: api,
    }
}

/// Every app here opens the others' cookies (they share the host).
fn serve_with(config: CivicAuthConfigBuilder, store: bool) -> CivicAuth {
    let config = config.build().unwrap();
    let secret = SessionSecret::new("the tests' apps' secret, 32 bytes or more").unwrap();
    match store {
        false => CivicAuth::new(config, secret),
        true => CivicAuth::with_session_store(config, secret, Arc::new(MemoryStore::default())),
    }
}

/// What the provider says of `token`.
async fn introspect(provider: &Provider, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/token/introspection", provider.oauth_server()))
        .form(&[("token", token), ("client_id", CLIENT_ID)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The token the API got through the proxy.
async fn through_proxy(browser: &Browser, base: &str) -> String {
    let (status, _, body) = call(browser, Method::GET, &format!("{base}/bff/x"), &[CSRF]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap();
    let authorization = got["authorization"].as_str().unwrap();
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("DPoP "))
        .unwrap()
        .to_owned()
}

/// The token is for the API, with the API's scopes the app asked for, and
/// about the user.
async fn assert_for_the_api(provider: &Provider, token: &str) {
    let about = introspect(provider, token).await;
    assert_eq!(about["active"], true, "{about}");
    assert_eq!(about["aud"], API, "{about}");
    assert_eq!(about["scope"], "api:read", "{about}");
    assert_eq!(about["sub"], "grace", "{about}");
}

async fn a_token_for_an_api_is_kept_and_renewed(store: bool) {
    let setup = start(&[API], store, |c| c).await;
    let (provider, base) = (&setup.provider, &setup.app.base);
    let browser = Browser::new();
    browser.log_in(base, "grace").await;
    let tokens = provider.count("token").await;
    // One token call for the API's token, which is the API's.
    let first = through_proxy(&browser, base).await;
    assert_eq!(provider.count("token").await, tokens + 1);
    assert_for_the_api(provider, &first).await;
    // Kept in the session: no other token call.
    assert_eq!(through_proxy(&browser, base).await, first);
    let (status, _, body) = call(&browser, Method::GET, &format!("{base}/token"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let handed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (handed["secret"].as_str(), handed["resource"].as_str()),
        (Some(first.as_str()), Some(API))
    );
    assert!(
        !handed["debug"].as_str().unwrap().contains(&first),
        "{handed}"
    );
    assert_ne!(
        handed["session_secret"], first,
        "the session's own token is another"
    );
    assert_eq!(provider.count("token").await, tokens + 1);
    // The session's own token still calls userinfo.
    let (status, _, body) = call(&browser, Method::GET, &format!("{base}/me"), &[]).await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["sub"].clone()
        ),
        (StatusCode::OK, json!("grace"))
    );

    // Both tokens are due: 20 calls at once renew the session once and the
    // API's token once.
    tokio::time::sleep(PAST_RENEWAL).await;
    let tokens = provider.count("token").await;
    let renewed = all_at_once(&browser, base, &["/bff/x"; 20]).await;
    assert_eq!(provider.count("token").await, tokens + 2);
    let renewed: Vec<String> = renewed.iter().map(|b| token_of(b)).collect();
    assert!(
        renewed.iter().all(|t| *t == renewed[0] && *t != first),
        "{renewed:?}"
    );
    assert_for_the_api(provider, &renewed[0]).await;

    // Old cookies renewing the session and the API's token in every order,
    // twice: no refresh token is spent twice (the provider would end the
    // grant, and with it the session).
    for _ in 0..2 {
        tokio::time::sleep(PAST_RENEWAL).await;
        let mixed = ["/bff/x", "/me", "/token", "/me", "/bff/x", "/token"];
        all_at_once(&browser, base, &mixed).await;
    }
    let last = through_proxy(&browser, base).await;
    assert_for_the_api(provider, &last).await;
    let (status, _, body) = call(&browser, Method::GET, &format!("{base}/me"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `paths` called at once with the browser's cookies as they are; each
/// answer's body. The browser keeps none of their cookies.
async fn all_at_once(browser: &Browser, base: &str, paths: &[&str]) -> Vec<String> {
    let cookie = browser.cookie_header(base);
    let mut calls = JoinSet::new();
    for (at, path) in paths.iter().enumerate() {
        let (url, cookie) = (format!("{base}{path}"), cookie.clone());
        calls.spawn(async move {
            let answer = reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .header("accept", "application/json")
                .header(CSRF.0, CSRF.1)
                .send()
                .await
                .unwrap();
            (at, answer.status(), answer.text().await.unwrap())
        });
    }
    let mut answers = calls.join_all().await;
    answers.sort_by_key(|(at, ..)| *at);
    answers
        .into_iter()
        .map(|(at, status, body)| {
            assert_eq!(status, StatusCode::OK, "{}: {body}", paths[at]);
            body
        })
        .collect()
}

fn token_of(body: &str) -> String {
    let got: Value = serde_json::from_str(body).unwrap();
    let authorization = got["authorization"].as_str().unwrap_or_default();
    authorization.trim_start_matches("Bearer ").to_owned()
}

#[tokio::test]
async fn a_token_for_an_api_is_kept_in_the_cookie_session_and_renewed() {
    a_token_for_an_api_is_kept_and_renewed(false).await;
}

#[tokio::test]
async fn a_token_for_an_api_is_kept_in_a_stored_session_and_renewed() {
    a_token_for_an_api_is_kept_and_renewed(true).await;
}

/// DPoP-bound sessions get bound tokens for their APIs, and the proxy
/// proves them.
#[tokio::test]
async fn a_bound_session_gets_bound_tokens_for_its_apis() {
    let setup = start(&[API], false, |c| c.dpop(true)).await;
    let (provider, base) = (&setup.provider, &setup.app.base);
    let browser = Browser::new();
    browser.log_in(base, "grace").await;
    let (status, _, body) = call(&browser, Method::GET, &format!("{base}/bff/x"), &[CSRF]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap();
    let token = got["authorization"]
        .as_str()
        .unwrap()
        .strip_prefix("DPoP ")
        .unwrap();
    assert!(got["dpop"].is_string(), "{got}");
    let about = introspect(provider, token).await;
    assert_eq!(
        (about["aud"].as_str(), about["token_type"].as_str()),
        (Some(API), Some("DPoP")),
        "{about}"
    );
    assert!(about["cnf"]["jkt"].is_string(), "{about}");
}

/// An API the provider does not know refuses the login with a page that
/// names it; scopes the grant lacks refuse that API's token, and the
/// session goes on; an API the app's settings do not name is the app's
/// mistake; one named after a session's login needs a new login.
#[tokio::test]
async fn apis_that_cannot_have_tokens_are_clear_errors() {
    let unknown = "https://unknown.example.test/";
    // Refused when pushed, or in the provider's answer.
    for pushed in [PushedAuthorization::Auto, PushedAuthorization::Off] {
        let setup = start(&[API, unknown], false, |c| c.pushed_authorization(pushed)).await;
        let page = Browser::new().log_in(&setup.app.base, "grace").await;
        assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
        assert!(
            page.body.contains("refused tokens for the API"),
            "{}",
            page.body
        );
        assert!(page.body.contains(unknown), "{}", page.body);
    }
    // Another refusal of a pushed request is said as it is.
    let elsewhere = |c: CivicAuthConfigBuilder| c.redirect_url("http://127.0.0.1:9/auth/callback");
    let setup = start(&[API], false, elsewhere).await;
    let page = Browser::new().log_in(&setup.app.base, "grace").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(
        page.body
            .contains("refused the pushed authorization request: invalid_request (redirect_uri"),
        "{}",
        page.body
    );

    let browser = Browser::new();
    let setup = start(&[API], false, |c| {
        c.resource(FILES, ["files:read", "files:admin"])
    })
    .await;
    let base = &setup.app.base;
    browser.log_in(base, "grace").await;
    let url = format!("{base}/token?resource={FILES}");
    let (status, _, body) = call(&browser, Method::GET, &url, &[]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "resource_refused", "{body}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(FILES) && message.contains("invalid_scope"),
        "{body}"
    );
    handed(&browser, base, API).await;
    let (status, _, body) = call(
        &browser,
        Method::GET,
        &format!("{base}/token?resource={unknown}"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "unknown_resource", "{body}");
    assert!(
        error["message"].as_str().unwrap().contains(unknown),
        "{body}"
    );

    // A session from before the app named its API: the same app without
    // it, on the same host.
    let before = start(&[], false, |c| c).await;
    let browser = Browser::new();
    browser.log_in(&before.app.base, "grace").await;
    let (status, headers, body) = call(&browser, Method::GET, &format!("{base}/token"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(headers.contains_key("www-authenticate"));
    assert!(
        body.contains("resource_not_granted") && body.contains("log in again"),
        "{body}"
    );
    let (status, _, body) = call(&browser, Method::GET, &format!("{base}/me"), &[]).await;
    assert_eq!(status, StatusCode::OK, "the session itself goes on: {body}");
}

/// A cookie session's idle timer is restarted by rewriting its cookie. An
/// old cookie sent after handlers got tokens for two APIs (its refresh
/// token spent, twice over; neither token in it) restarts the latest
/// renewed session's timer, not its own: else, once the renewals are
/// forgotten here, its next renewal would spend a spent refresh token and
/// the provider would end the grant. A cookie of a renewal in between, and
/// the browser that asked, go on too.
#[tokio::test]
async fn an_old_cookie_restarting_its_idle_timer_brings_back_the_renewed_session() {
    let clock = ManualClock::now();
    let env = [
        (
            "PROVIDER_RESOURCES",
            r#"{"https://api.example.test/": {"scope": "api:read", "ttl": 3600},
                "https://files.example.test/": {"scope": "api:read", "ttl": 3600}}"#,
        ),
        ("ACCESS_TOKEN_TTL", "100000"),
    ];
    let setup = start_with(&env, &[API, FILES], false, |c| {
        c.clock(clock.clone())
            .session_idle_timeout(Duration::from_secs(20_000))
    })
    .await;
    let (provider, base) = (&setup.provider, &setup.app.base);
    let later = |by: u64| {
        clock.advance(Duration::from_secs(by));
        provider.advance_clock(Duration::from_secs(by))
    };
    let browser = Browser::new();
    browser.log_in(base, "grace").await;
    let old_cookie = browser.cookie_header(base);
    // A tenth of the idle timeout later, calls get the APIs' tokens: the
    // session is renewed twice, its cookie rewritten.
    later(2_000).await;
    let first = through_proxy(&browser, base).await;
    // The first renewal's answer, as a browser keeps it when it comes last.
    let in_between = browser.cookie_header(base);
    let files = handed(&browser, base, FILES).await;
    let tokens = provider.count("token").await;

    // Later, the old cookie's request restarts its idle timer (the
    // session's own token not due): a browser takes the cookie it is sent.
    later(2_000).await;
    let answer = reqwest::Client::new()
        .get(format!("{base}/me"))
        .header("cookie", old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let sent: Vec<String> = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect();
    assert!(!sent.is_empty(), "the idle timer is restarted");
    let with_cookies = |pairs: Vec<&str>| {
        let browser = Browser::new();
        for pair in pairs {
            browser
                .jar
                .add_cookie_str(&format!("{pair}; Path=/"), &base.parse().unwrap());
        }
        browser
    };
    let old = with_cookies(sent.iter().map(String::as_str).collect());
    let late = with_cookies(in_between.split("; ").collect());
    later(300).await;
    for browser in [&browser, &late] {
        assert_eq!(through_proxy(browser, base).await, first);
        assert_eq!(handed(browser, base, FILES).await, files);
    }
    assert_eq!(provider.count("token").await, tokens);

    // Long after the renewals are forgotten here, and the first answers'
    // cookies have lain idle too long, the old cookie's rewrite lives on,
    // with a refresh token that works.
    later(18_100).await;
    let renewed = through_proxy(&old, base).await;
    assert_ne!(renewed, first);
    assert_for_the_api(provider, &renewed).await;
    assert_ne!(handed(&old, base, FILES).await, files);
}

/// The token `/token` hands for `resource`.
async fn handed(browser: &Browser, base: &str, resource: &str) -> String {
    let url = format!("{base}/token?resource={resource}");
    let (status, _, body) = call(browser, Method::GET, &url, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let handed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(handed["resource"], resource);
    handed["secret"].as_str().unwrap().to_owned()
}
