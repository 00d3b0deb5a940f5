//! One app, two providers: Civic (the `CIVIC_*` variables, as in the
//! quickstart) and a partner's (`PARTNER_OAUTH_SERVER`, `PARTNER_CLIENT_ID`,
//! and `PARTNER_CLIENT_SECRET` for a confidential client). `/auth/login`
//! lets the browser choose; `/auth/login?provider=partner` goes straight
//! there. The partner's answers come back to `PARTNER_REDIRECT_URL`, by
//! default `CIVIC_REDIRECT_URL` + `/partner`, at `PARTNER_HOST` when set
//! (register it at the partner).
//! With `PARTNER_HOST` set, requests for that host are the partner's
//! tenant and the rest Civic's: each host logs in only at its provider, and
//! a session of one is not logged in at the other. `CIVIC_SESSION_STORE`
//! as in the quickstart (`memory` or a Redis URL; back-channel logout needs
//! one).

use civic_auth_poem::{
    civic_auth_required, session::store_from_env, CivicAuth, CivicAuthConfig, CivicAuthEndpoint,
    CivicUser, SessionSecret,
};
use poem::{
    get, handler, listener::TcpListener, web::Html, EndpointExt, IntoResponse, Response, Route,
    Server,
};

/// `/`: who is logged in, and with which provider.
#[handler]
fn index(user: Option<CivicUser>) -> Response {
    let text = match user {
        None => "<a href=\"/auth/login\">Log in</a>".to_owned(),
        Some(user) => format!(
            "Hello, {} (logged in with {}). <a href=\"/auth/logout\">Log out</a>",
            html_escape(user.name.as_deref().unwrap_or(&user.id)),
            html_escape(user.provider.as_deref().unwrap_or("?")),
        ),
    };
    Html(format!(
        "<!doctype html><title>Several providers</title><p>{text}</p>"
    ))
    .into_response()
}

/// For every logged-in user.
#[civic_auth_required]
#[handler]
fn hello(user: CivicUser) -> String {
    format!("Hello, {}!", user.id)
}

/// Only for the partner's users: others are sent to log in there.
#[civic_auth_required(provider = "partner")]
#[handler]
fn reports(user: CivicUser) -> String {
    format!("The partner's reports, for {}", user.id)
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
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let port: u16 = var("PORT").map_or(Ok(5000), |p| p.parse())?;

    let civic = CivicAuthConfig::from_env()?;
    let mut partner = CivicAuthConfig::builder()
        .client_id(var("PARTNER_CLIENT_ID").ok_or("PARTNER_CLIENT_ID is required")?)
        .oauth_server(var("PARTNER_OAUTH_SERVER").ok_or("PARTNER_OAUTH_SERVER is required")?)
        .redirect_url(var("PARTNER_REDIRECT_URL").unwrap_or_else(|| {
            // At the partner's host, when it has one: its logins come back there.
            let mut url = civic.redirect_url().clone();
            if let Some(host) = var("PARTNER_HOST") {
                let _ = url.set_host(Some(&host));
            }
            format!("{url}/partner")
        }))
        .post_logout_redirect_url(civic.post_logout_redirect_url().as_str());
    if let Some(secret) = var("PARTNER_CLIENT_SECRET") {
        partner = partner.client_secret(secret);
    }
    let mut config = civic.with_provider("partner", partner.build()?)?;
    if let Some(host) = var("PARTNER_HOST") {
        let own = config
            .redirect_url()
            .host_str()
            .unwrap_or("localhost")
            .to_owned();
        config = config
            .with_tenant(&own, "civic")?
            .with_tenant(&host, "partner")?;
    }
    let secret = SessionSecret::from_env_or_random()?;
    let auth = match store_from_env().await? {
        Some(store) => CivicAuth::with_session_store(config, secret, store),
        None => CivicAuth::new(config, secret),
    };
    auth.check_provider().await?;

    let app = Route::new()
        .at("/", get(index))
        .at("/admin/hello", get(hello))
        .at("/partner/reports", get(reports))
        .nest("/auth", CivicAuthEndpoint::new(&auth))
        .with(auth);
    let address = format!("127.0.0.1:{port}");
    tracing::info!("several_providers listening on http://{address}/");
    Server::new(TcpListener::bind(address)).run(app).await?;
    Ok(())
}
