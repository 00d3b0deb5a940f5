//! The quickstart as a poem-openapi API: the spec at `/openapi.json`,
//! Swagger UI at `/docs` (whose "Try it out" works for a logged-in browser,
//! and whose Authorize button logs in with Civic), and the auth routes in
//! the spec. Configured like the quickstart: `CIVIC_CLIENT_ID`,
//! `CIVIC_REDIRECT_URL`, `CIVIC_POST_LOGOUT_REDIRECT_URL`, optionally
//! `CIVIC_OAUTH_SERVER`, `CIVIC_SCOPES`, `CIVIC_SESSION_SECRET`, `PORT`
//! (and, for a confidential client, `CIVIC_CLIENT_SECRET` or
//! `CIVIC_CLIENT_KEY`), `CIVIC_STEP_UP_MAX_AGE` (seconds, default 300)
//! for `/admin/sensitive`, and `CIVIC_BFF_UPSTREAM`: the API a single-page
//! app calls through `/bff/*` with the user's token (not served when unset).
//! `/reports/*` is a tree of plain handlers a `CivicAuthGuard` protects
//! (but `/reports/public/*`), however a path is spelled.

use civic_auth_poem::{
    civic_auth_required, get_civic_user, openapi::ApiDocs, BffProxy, CivicAuth, CivicAuthEndpoint,
    CivicAuthGuard, CivicUser,
};
use poem::{get, handler, listener::TcpListener, web::Path, EndpointExt, Route, Server};
use poem_openapi::{payload::Json, payload::PlainText, Object, OpenApi, OpenApiService};

/// What `/admin/profile` answers.
#[derive(Object)]
struct Profile {
    id: String,
    email: Option<String>,
    name: Option<String>,
    picture: Option<String>,
}

struct PublicApi;

#[OpenApi]
impl PublicApi {
    /// A page anyone may see
    #[oai(path = "/public", method = "get")]
    async fn public(&self) -> PlainText<&'static str> {
        PlainText("This page is public: no login needed.")
    }
}

/// How recent a login `/admin/sensitive` needs: `CIVIC_STEP_UP_MAX_AGE`
/// seconds, 300 unless set.
fn step_up_max_age() -> u64 {
    std::env::var("CIVIC_STEP_UP_MAX_AGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

struct AdminApi;

/// Every operation here needs a logged-in user (session cookie or bearer token).
#[civic_auth_required]
#[OpenApi(prefix_path = "/admin")]
impl AdminApi {
    /// Greets the logged-in user
    #[oai(path = "/hello", method = "get")]
    async fn hello(&self) -> PlainText<&'static str> {
        PlainText("Hello, authenticated user!")
    }

    /// The logged-in user's profile
    #[oai(path = "/profile", method = "get")]
    async fn profile(&self) -> poem::Result<Json<Profile>> {
        let user = get_civic_user()?;
        Ok(Json(Profile {
            id: user.id,
            email: user.email,
            name: user.name,
            picture: user.picture,
        }))
    }

    /// The whole user, with every claim
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: CivicUser) -> Json<CivicUser> {
        Json(user)
    }

    /// Only for users whose email the provider verified
    #[civic_auth_required(equals("email_verified", true))]
    #[oai(path = "/verified", method = "get")]
    async fn verified(&self) -> PlainText<&'static str> {
        PlainText("Your email address is verified.")
    }

    /// Only for members of the `admins` group
    #[civic_auth_required(includes("groups", "admins"))]
    #[oai(path = "/admins", method = "get")]
    async fn admins(&self) -> PlainText<&'static str> {
        PlainText("Welcome, administrator.")
    }

    /// Only with a recent login: an older one is sent to log in again
    #[civic_auth_required(max_age = step_up_max_age)]
    #[oai(path = "/sensitive", method = "get")]
    async fn sensitive(&self) -> PlainText<&'static str> {
        PlainText("You logged in recently enough for this.")
    }
}

/// `/reports/:name`: the guard lets only logged-in users in.
#[handler]
fn report(Path(name): Path<String>) -> poem::Result<String> {
    Ok(format!("Report {name}, for {}", get_civic_user()?.id))
}

/// `/reports/public/about`: excluded from the guard.
#[handler]
fn about_reports() -> &'static str {
    "Reports are for logged-in users."
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();

    let port: u16 = std::env::var("PORT").ok().map_or(Ok(5000), |p| p.parse())?;
    let address = format!("127.0.0.1:{port}");

    // CIVIC_* variables; CIVIC_SESSION_STORE: unset (cookie), `memory`, `redis://host:port/`,
    // `rediss://` (TLS: CIVIC_REDIS_CA_CERT, CIVIC_REDIS_CLIENT_CERT, CIVIC_REDIS_CLIENT_KEY
    // name PEM files) or `redis-cluster://host:port,host:port,...`.
    let auth = CivicAuth::from_env().await?;
    let service = OpenApiService::new(
        (PublicApi, AdminApi, CivicAuthEndpoint::new(&auth)),
        "Civic Auth quickstart API",
        "1.0",
    )
    .server(format!("http://{address}"));
    let docs = ApiDocs::new(&service, &auth);
    let reports = Route::new()
        .at("/:name", get(report))
        .at("/public/about", get(about_reports));
    let mut app = Route::new()
        .at("/openapi.json", docs.spec_endpoint())
        .nest("/docs", docs.swagger_ui())
        .nest("/reports", reports);
    if let Ok(upstream) = std::env::var("CIVIC_BFF_UPSTREAM") {
        app = app.nest("/bff", BffProxy::new(&upstream)?);
    }
    let guard = CivicAuthGuard::new()
        .include("/reports/*")
        .exclude("/reports/public/*");
    let app = app.nest("/", service).with(guard).with(auth);

    tracing::info!("API on http://{address}/, docs on http://{address}/docs");
    Server::new(TcpListener::bind(address)).run(app).await?;
    Ok(())
}
