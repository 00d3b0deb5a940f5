//! The Civic Auth quickstart in Rust: the Flask quickstart's app, on Poem.
//!
//! Configured by `CIVIC_CLIENT_ID`, `CIVIC_REDIRECT_URL`,
//! `CIVIC_POST_LOGOUT_REDIRECT_URL`, optionally `CIVIC_OAUTH_SERVER` and
//! `CIVIC_SCOPES`, plus `CIVIC_SESSION_SECRET` (the app's secret key) and
//! `PORT` (default 5000). A confidential client adds `CIVIC_CLIENT_SECRET`
//! or `CIVIC_CLIENT_KEY` (the path of a PEM private key); every other
//! setting `CivicAuthConfig::from_env` reads works too (`CIVIC_RESPONSE_MODE`,
//! `CIVIC_PROFILE`, ...). Run it with `scripts/demo` to log in against a
//! local provider.

use std::sync::LazyLock;

use civic_auth_poem::{
    civic_auth_required, get_civic_user, reqwest, AccessToken, CivicAuth, CivicAuthEndpoint,
    CivicUser,
};
use poem::{
    get, handler,
    listener::TcpListener,
    web::{Html, Json, Redirect},
    EndpointExt, IntoResponse, Response, Route, Server,
};
use serde::Serialize;

/// `/`: logged-out visitors go to login, logged-in ones see who they are.
#[handler]
fn index(user: Option<CivicUser>) -> Response {
    match user {
        None => Redirect::see_other("/auth/login").into_response(),
        Some(user) => Html(format!(
            "<!doctype html><title>Civic Auth quickstart</title>\
             <h1>Hello, {}!</h1>\
             <p><a href=\"/admin/hello\">/admin/hello</a> · <a href=\"/admin/profile\">/admin/profile</a> · \
             <a href=\"/admin/api-call\">/admin/api-call</a> · \
             <a href=\"/public\">/public</a> · <a href=\"/auth/logout\">Log out</a></p>",
            html_escape(user.name.as_deref().unwrap_or(&user.id))
        ))
        .into_response(),
    }
}

#[handler]
fn public() -> &'static str {
    "This page is public: no login needed."
}

#[civic_auth_required]
#[handler]
async fn hello() -> &'static str {
    "Hello, authenticated user!"
}

#[derive(Serialize)]
struct Profile {
    id: String,
    email: Option<String>,
    name: Option<String>,
    picture: Option<String>,
}

/// The seed's `profile()`, with `get_civic_user()` as in Flask.
#[civic_auth_required]
#[handler]
async fn profile() -> poem::Result<Json<Profile>> {
    let user = get_civic_user()?;
    Ok(Json(Profile {
        id: user.id,
        email: user.email,
        name: user.name,
        picture: user.picture,
    }))
}

/// One client for the app's calls to APIs (it keeps their connections).
static APIS: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

/// Calls an API for the user: the provider's userinfo endpoint, with the
/// user's access token (renewed first when it is about to expire, and
/// with a DPoP proof when the session's tokens are bound), and answers
/// with what it said.
#[civic_auth_required]
#[handler]
async fn api_call(token: AccessToken) -> poem::Result<Response> {
    let userinfo = token.userinfo_endpoint().await?;
    let answer = token.send(APIS.get(userinfo)).await?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(poem::error::BadGateway)?;
    Ok(Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();

    let port: u16 = std::env::var("PORT").ok().map_or(Ok(5000), |p| p.parse())?;

    // CIVIC_* variables; CIVIC_SESSION_STORE: unset (cookie), `memory`, `redis://host:port/`,
    // `rediss://` (TLS: CIVIC_REDIS_CA_CERT, CIVIC_REDIS_CLIENT_CERT, CIVIC_REDIS_CLIENT_KEY
    // name PEM files) or `redis-cluster://host:port,host:port,...`.
    let auth = CivicAuth::from_env().await?;
    let app = Route::new()
        .at("/", get(index))
        .at("/public", get(public))
        .at("/admin/hello", get(hello))
        .at("/admin/profile", get(profile))
        .at("/admin/api-call", get(api_call))
        .nest("/auth", CivicAuthEndpoint::new(&auth))
        .with(auth);

    let address = format!("127.0.0.1:{port}");
    tracing::info!("quickstart listening on http://{address}/");
    Server::new(TcpListener::bind(address)).run(app).await?;
    Ok(())
}
