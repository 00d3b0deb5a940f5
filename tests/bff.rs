//! What the backend-for-frontend proxy (`BffProxy`) forwards, served in
//! process: to an API of the tests' that shows what it got, and to the
//! real provider's userinfo with DPoP-bound tokens. `tests/api_calls.rs`
//! runs `examples/openapi.rs`'s proxy.

use std::time::Duration;

use civic_auth_poem::{
    civic_auth_required, AccessToken, BffProxy, CivicAuth, CivicAuthConfigBuilder,
    CivicAuthEndpoint, ManualClock, SessionSecret,
};
use poem::{
    handler,
    http::StatusCode,
    web::{Json, Path, Query},
    Body, EndpointExt, IntoResponse, Request, Response, Route,
};
use reqwest::header;
use serde_json::{json, Value};
use suite::{app, call, raw_get, AppServer, Browser, Provider};

const CSRF: (&str, &str) = ("x-csrf", "1");

/// What the API got.
#[handler]
async fn echo(req: &Request, body: Body) -> Json<Value> {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap_or("?"))))
        .collect();
    let body = body.into_vec().await.unwrap_or_default();
    Json(json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

#[derive(serde::Deserialize)]
struct Size {
    len: usize,
    #[serde(default)]
    streamed: bool,
}

/// `len` bytes, with their length said up front or streamed without it.
#[handler]
fn sized(Query(size): Query<Size>) -> Response {
    if !size.streamed {
        return vec![b'x'; size.len].into_response();
    }
    let chunks = (0..size.len.div_ceil(100)).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 100]));
    Body::from_bytes_stream(futures_util::stream::iter(chunks)).into_response()
}

#[handler]
async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "late"
}

#[handler]
fn planting() -> Response {
    Response::builder()
        .header("set-cookie", "civic_session=planted; Path=/")
        .header("x-api", "kept")
        .body("ok")
}

async fn api() -> AppServer {
    let (acceptor, base) = AppServer::bind().await;
    let routes = Route::new()
        .at("/v1/bytes", poem::get(sized))
        .at("/v1/slow/:ms", poem::get(slow))
        .at("/v1/cookie", poem::get(planting))
        .at("/v1/*", echo);
    AppServer::serve(acceptor, base, routes)
}

/// An app of the tests' proxying `/bff/*` to `api` below `/v1`, with
/// small bounds: 1000 bytes a request, 2000 an answer.
async fn proxying_app(api: &AppServer) -> (Provider, AppServer) {
    let (acceptor, base) = AppServer::bind().await;
    let provider = Provider::start(&base).await;
    let upstream = format!("{}/v1/", api.base);
    let app = serve(acceptor, base, &provider, &upstream, |c| c);
    (provider, app)
}

fn serve(
    acceptor: poem::listener::TcpAcceptor,
    base: String,
    provider: &Provider,
    upstream: &str,
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> AppServer {
    let config = tweak(app::config(&base, &provider.oauth_server()))
        .build()
        .unwrap();
    let auth = CivicAuth::new(config, SessionSecret::generate());
    let proxy = BffProxy::new(upstream)
        .unwrap()
        .max_request_body(1_000)
        .max_response_body(2_000)
        .timeout(Duration::from_millis(800));
    let routes = Route::new()
        .nest("/bff", proxy)
        .at("/token", poem::get(token_by_hand))
        .nest("/auth", CivicAuthEndpoint::new(&auth))
        .with(auth);
    AppServer::serve(acceptor, base, routes)
}

/// `/token`: userinfo called with `AccessToken`'s parts by hand, as an app
/// with another HTTP client would (after one `send`, which learns the
/// provider's nonce for a bound token), and what they were.
#[civic_auth_required]
#[handler]
async fn token_by_hand(token: AccessToken) -> poem::Result<Json<Value>> {
    let userinfo = token.userinfo_endpoint().await?;
    token
        .send(reqwest::Client::new().get(userinfo.clone()))
        .await?;
    let mut request = reqwest::Client::new()
        .get(userinfo.clone())
        .header("authorization", token.authorization());
    let proof = token.dpop_proof("GET", userinfo.as_str())?;
    if let Some(proof) = &proof {
        request = request.header("dpop", proof);
    }
    let answer = request.send().await.map_err(poem::error::BadGateway)?;
    let status = answer.status().as_u16();
    let claims: Value = answer.json().await.unwrap_or_default();
    Ok(Json(json!({
        "status": status,
        "sub": claims["sub"],
        "bound": token.is_dpop_bound(),
        "authorization": token.authorization(),
        "secret": token.secret(),
        "proof": proof,
        "debug": format!("{token:?}"),
    })))
}

/// What `/token` says, checked: the parts call userinfo as the user.
async fn assert_token_by_hand(browser: &Browser, base: &str, login: &str, bound: bool) {
    let (status, _, body) =
        call(browser, reqwest::Method::GET, &format!("{base}/token"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (got["status"].as_u64(), got["sub"].as_str()),
        (Some(200), Some(login)),
        "{got}"
    );
    assert_eq!(got["bound"], bound);
    let secret = got["secret"].as_str().unwrap();
    let scheme = if bound { "DPoP" } else { "Bearer" };
    assert_eq!(got["authorization"], format!("{scheme} {secret}"));
    assert_eq!(got["proof"].is_string(), bound, "{got}");
    let debug = got["debug"].as_str().unwrap();
    assert!(
        debug.starts_with("AccessToken") && !debug.contains(secret),
        "{debug}"
    );
}

/// DPoP-bound tokens, the provider asking for a nonce at userinfo: the
/// proxy's call is tried again with it (a body read first to be sent
/// again), and the session's refresh carries a proof too.
#[tokio::test]
async fn the_proxy_proves_dpop_bound_tokens_and_learns_nonces() {
    let clock = ManualClock::now();
    let (acceptor, base) = AppServer::bind().await;
    let env = [("PROVIDER_REQUIRE_DPOP", "1"), ("ACCESS_TOKEN_TTL", "60")];
    let provider = Provider::start_with(&base, &env).await;
    let upstream = provider.oauth_server();
    let app = serve(acceptor, base, &provider, &upstream, |c| {
        c.dpop(true).clock(clock.clone())
    });
    let browser = Browser::new();
    browser.log_in(&app.base, "grace").await;
    let me = format!("{}/bff/me", app.base);
    // The first call, with a body: the provider asks for a nonce, and the
    // call is sent again with it, body and all.
    let posted = browser
        .client
        .post(&me)
        .header("x-csrf", "1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("claims_wanted=all")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    assert_eq!(posted.json::<Value>().await.unwrap()["sub"], "grace");
    for _ in 0..2 {
        let (status, _, body) = call(&browser, reqwest::Method::GET, &me, &[CSRF]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["sub"],
            "grace"
        );
    }
    assert_token_by_hand(&browser, &app.base, "grace", true).await;
    // The nonce learnt, a call is answered at once: no second try.
    let userinfo = provider.count("userinfo").await;
    let (status, _, _) = call(&browser, reqwest::Method::GET, &me, &[CSRF]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(provider.count("userinfo").await, userinfo + 1);
    let tokens = provider.count("token").await;
    clock.advance(Duration::from_secs(61));
    let (status, _, body) = call(&browser, reqwest::Method::GET, &me, &[CSRF]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(provider.count("token").await, tokens + 1, "one refresh");
}

#[tokio::test]
async fn the_proxy_forwards_the_call_without_the_browsers_credentials() {
    let api = api().await;
    let (_provider, app) = proxying_app(&api).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    let cookie = browser.cookie_header(&app.base);
    assert!(cookie.contains("civic_session"), "{cookie}");
    assert_token_by_hand(&browser, &app.base, "ada", false).await;

    let answer = browser
        .client
        .post(format!("{}/bff/orders/7?full=1&a=%20b", app.base))
        .header("x-csrf", "1")
        .header("x-app", "mine")
        .header("x-forwarded-for", "203.0.113.9")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let got: Value = answer.json().await.unwrap();
    assert_eq!(got["method"], "POST");
    assert_eq!(got["path"], "/v1/orders/7");
    assert_eq!(got["query"], "full=1&a=%20b");
    assert_eq!(got["body"], "hello");
    let headers = got["headers"].as_object().unwrap();
    assert_eq!(headers["x-app"], "mine");
    assert_eq!(headers["content-type"], "text/plain");
    let authorization = headers["authorization"].as_str().unwrap();
    assert!(authorization.starts_with("Bearer "), "{authorization}");
    for name in ["cookie", "x-csrf", "x-forwarded-for"] {
        assert!(!headers.contains_key(name), "{name} forwarded: {headers:?}");
    }
    assert!(!authorization.contains("civic_session"));

    // A `GET` with a body (it says so) keeps it; one without sends none.
    let answer = browser
        .client
        .get(format!("{}/bff/search", app.base))
        .header("x-csrf", "1")
        .body("q=1")
        .send()
        .await
        .unwrap();
    let got: Value = answer.json().await.unwrap();
    assert_eq!(
        (got["method"].as_str(), got["body"].as_str()),
        (Some("GET"), Some("q=1"))
    );
    let (_, _, plain) = call(
        &browser,
        reqwest::Method::GET,
        &format!("{}/bff/search", app.base),
        &[CSRF],
    )
    .await;
    let got: Value = serde_json::from_str(&plain).unwrap();
    assert!(got["headers"].get("transfer-encoding").is_none(), "{got}");
    assert_eq!(got["body"], "");

    // A browser's own `Authorization` is an API client's: not this session's call.
    let (status, _, _) = call(
        &browser,
        reqwest::Method::GET,
        &format!("{}/bff/x", app.base),
        &[CSRF, ("authorization", "Bearer not-the-users")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The API's cookies are not set on the app's site.
    let (status, headers, _) = call(
        &browser,
        reqwest::Method::GET,
        &format!("{}/bff/cookie", app.base),
        &[CSRF],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-api"], "kept");
    assert!(headers
        .get_all(header::SET_COOKIE)
        .iter()
        .all(|c| !c.to_str().unwrap().contains("planted")));
    assert_eq!(browser.cookie_header(&app.base), cookie);

    // Paths that could climb above the API's base are refused (sent as
    // they are: an HTTP client would resolve the dots first).
    for path in [
        "/bff/%2e%2e/secret",
        "/bff/a%2F..%2F..%2Fsecret",
        "/bff/.%2E/x",
        "/bff/../v1/x",
        "/bff/a/./x",
        "/bff/..;/secret",
        "/bff/%252e%252e/secret",
    ] {
        let answer = raw_get(&app.base, path, &[("x-csrf", "1"), ("cookie", &cookie)]).await;
        assert_eq!(answer.status, 400, "{path}");
    }
}

#[tokio::test]
async fn the_proxy_streams_bodies_within_bounds_and_time() {
    let api = api().await;
    let (_provider, app) = proxying_app(&api).await;
    let browser = Browser::new();
    browser.log_in(&app.base, "ada").await;
    let post = |body: reqwest::Body| {
        browser
            .client
            .post(format!("{}/bff/upload", app.base))
            .header("x-csrf", "1")
            .body(body)
            .send()
    };
    let within = post(vec![b'a'; 1_000].into()).await.unwrap();
    assert_eq!(within.status(), StatusCode::OK, "{:?}", within.text().await);
    assert_eq!(
        within.json::<Value>().await.unwrap()["body"]
            .as_str()
            .unwrap()
            .len(),
        1_000
    );
    // Declared too long: refused before anything is sent.
    let declared = post(vec![b'a'; 1_001].into()).await.unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed without a length, past the bound while it is forwarded.
    let chunks = (0..30).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 100]));
    let streamed = post(reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks,
    )))
    .await
    .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let chunks = (0..9).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 100]));
    let streamed = post(reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks,
    )))
    .await
    .unwrap();
    assert_eq!(streamed.status(), StatusCode::OK);
    assert_eq!(
        streamed.json::<Value>().await.unwrap()["body"]
            .as_str()
            .unwrap()
            .len(),
        900
    );

    let browser = &browser;
    let bytes = |query: &str| {
        let url = format!("{}/bff/bytes?{query}", app.base);
        async move { call(browser, reqwest::Method::GET, &url, &[CSRF]).await }
    };
    let (status, _, body) = bytes("len=2000").await;
    assert_eq!((status, body.len()), (StatusCode::OK, 2_000));
    let (status, _, body) = bytes("len=2000&streamed=true").await;
    assert_eq!((status, body.len()), (StatusCode::OK, 2_000));
    let (status, _, body) = bytes("len=2001").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // Streamed past the bound without a length: refused, not cut off
    // (a browser would take what came for the whole answer).
    let (status, _, body) = bytes("len=5000&streamed=true").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");

    let started = std::time::Instant::now();
    let (status, _, body) = call(
        browser,
        reqwest::Method::GET,
        &format!("{}/bff/slow/3000", app.base),
        &[CSRF],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(2_000),
        "{:?}",
        started.elapsed()
    );
}
