//! An app like the quickstart, served in-process so a test can set any
//! config: the protected handlers in every shape the attribute supports.

use civic_auth_poem::{
    civic_auth_required, get_civic_user, session::SessionStore, CivicAuth, CivicAuthConfig,
    CivicAuthConfigBuilder, CivicAuthEndpoint, CivicUser, SessionData, SessionSecret,
};
use poem::{
    get, handler,
    web::{Json, Path},
    EndpointExt, Route,
};
use poem_openapi::{payload::PlainText, OpenApi, OpenApiService};
use serde_json::{json, Value};

use crate::{fake_provider::FakeProvider, AppServer, Provider, CLIENT_ID};

#[handler]
fn public() -> &'static str {
    "public"
}

#[civic_auth_required]
#[handler]
async fn hello() -> &'static str {
    "Hello, authenticated user!"
}

#[civic_auth_required]
#[handler]
async fn profile(user: CivicUser) -> Json<Value> {
    Json(json!({ "id": user.id, "email": user.email, "name": user.name, "picture": user.picture }))
}

/// A plain function, a pattern parameter and `get_civic_user()` together.
#[civic_auth_required]
#[handler]
fn item(Path(id): Path<u32>) -> poem::Result<String> {
    Ok(format!("item {id} for {}", get_civic_user()?.id))
}

fn is_user_one(user: &CivicUser) -> bool {
    user.id == "user-1"
}

/// Only for the `staff` group and `user-1`.
#[civic_auth_required(includes("groups", "staff"), check(is_user_one))]
#[handler]
async fn staff(user: CivicUser) -> String {
    format!("staff member {}", user.id)
}

/// Needs a login within the last five minutes (a literal).
#[civic_auth_required(max_age = 300)]
#[handler]
async fn recent(user: CivicUser) -> String {
    format!("recent login of {}", user.id)
}

/// The `acr` the gold route requires.
pub const GOLD: &str = "urn:example:gold urn:example:platinum";

/// Needs a login at the gold or platinum level (a constant).
#[civic_auth_required(acr = GOLD)]
#[handler]
fn gold() -> &'static str {
    "gold"
}

/// The step-up of `/api/recent`, as an app would read it from its environment.
fn recent_secs() -> u64 {
    300
}

struct ProtectedApi;

#[civic_auth_required]
#[OpenApi]
impl ProtectedApi {
    /// The user's id
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: CivicUser) -> PlainText<String> {
        PlainText(user.id)
    }

    /// Only for verified email addresses
    #[civic_auth_required(equals("email_verified", true))]
    #[oai(path = "/verified", method = "get")]
    async fn verified(&self) -> PlainText<&'static str> {
        PlainText("verified")
    }

    /// Only for the partner's users
    #[civic_auth_required(provider = "partner")]
    #[oai(path = "/partner", method = "get")]
    async fn partner(&self, user: CivicUser) -> PlainText<String> {
        PlainText(user.id)
    }

    /// Needs a login within `recent_secs()` (a function)
    #[civic_auth_required(max_age = recent_secs)]
    #[oai(path = "/recent", method = "get")]
    async fn recent(&self) -> PlainText<&'static str> {
        PlainText("recent")
    }
}

/// A protected answer whose handler chose its own caching.
#[civic_auth_required]
#[handler]
fn cached() -> poem::Response {
    poem::Response::builder()
        .header("cache-control", "private, max-age=60")
        .body("cached")
}

/// The app data the login hook attached, as JSON.
#[civic_auth_required]
#[handler]
fn account(SessionData(data): SessionData<Value>) -> Json<Value> {
    Json(data)
}

/// Only for users of the `partner` provider.
#[civic_auth_required(provider = "partner")]
#[handler]
async fn partner_only(user: CivicUser) -> String {
    format!("partner user {}", user.id)
}

/// The app at `base` with two providers, each a real `oidc-provider` of its
/// own: `civic` (its callback `/auth/callback`) and `partner` (its callback
/// `/auth/callback/partner` on the host `partner_base` gives), both with
/// the client [`CLIENT_ID`]; `tweak` adjusts the whole config (tenants).
pub async fn with_two_providers(
    store: Option<std::sync::Arc<dyn SessionStore>>,
    partner_base: fn(&str) -> String,
    tweak: impl FnOnce(CivicAuthConfig, &str) -> CivicAuthConfig,
) -> (Provider, Provider, AppServer) {
    let (acceptor, base) = AppServer::bind().await;
    let civic = Provider::start_for(&[&base], &[]).await;
    let partner_base = partner_base(&base);
    let partner = Provider::start_registered(
        &[&base],
        json!({
            "redirect_uris": [
                format!("{partner_base}/auth/callback/partner"),
                format!("{base}/docs/oauth-receiver.html"),
            ],
            "post_logout_redirect_uris": [format!("{base}/"), format!("{partner_base}/")],
        }),
        &[],
    )
    .await;
    let partner_config = CivicAuthConfig::builder()
        .client_id(CLIENT_ID)
        .oauth_server(partner.oauth_server())
        .redirect_url(format!("{partner_base}/auth/callback/partner"))
        .post_logout_redirect_url(format!("{partner_base}/"))
        // The app lists it for API clients' opaque tokens.
        .introspect_opaque_tokens(true)
        .build()
        .expect("valid partner config");
    let config = config(&base, &civic.oauth_server())
        .build()
        .expect("valid config")
        .with_provider("partner", partner_config)
        .expect("a second provider");
    let config = tweak(config, &base);
    let secret = SessionSecret::generate();
    let auth = match store {
        Some(store) => CivicAuth::with_session_store(config, secret, store),
        None => CivicAuth::new(config, secret),
    };
    (
        civic,
        partner,
        AppServer::serve(acceptor, base, routes(auth)),
    )
}

/// The partner's users reach the app where everyone does.
pub fn same_host(base: &str) -> String {
    base.to_owned()
}

/// The partner's users reach the app at `base` under the name `localhost`,
/// so that tests can give it a tenant of its own.
pub fn partner_host(base: &str) -> String {
    base.replace("127.0.0.1", "localhost")
}

#[handler]
fn maybe(user: Option<CivicUser>) -> String {
    user.map_or_else(|| "anonymous".into(), |u| u.id)
}

/// A config for the app at `base` against the provider at `oauth_server`.
pub fn config(base: &str, oauth_server: &str) -> CivicAuthConfigBuilder {
    CivicAuthConfig::builder()
        .client_id(CLIENT_ID)
        .redirect_url(format!("{base}/auth/callback"))
        .post_logout_redirect_url(format!("{base}/"))
        .oauth_server(oauth_server)
}

pub fn routes(auth: CivicAuth) -> impl poem::Endpoint + 'static {
    // The auth routes documented too, as apps serve them beside their API.
    let api = OpenApiService::new((ProtectedApi, CivicAuthEndpoint::new(&auth)), "test", "1");
    let docs = civic_auth_poem::openapi::ApiDocs::new(&api, &auth);
    Route::new()
        .at("/public", get(public))
        .at("/admin/hello", get(hello))
        .at("/admin/profile", get(profile))
        .at("/admin/items/:id", get(item))
        .at("/admin/staff", get(staff))
        .at("/admin/cached", get(cached))
        .at("/admin/recent", get(recent))
        .at("/admin/gold", get(gold))
        .at("/admin/account", get(account))
        .at("/admin/partner", get(partner_only))
        .nest("/nested", Route::new().at("/hello", get(hello)))
        .at("/maybe", get(maybe))
        .nest("/api", api)
        .at("/api-docs.json", docs.spec_endpoint())
        .nest("/auth", CivicAuthEndpoint::new(&auth))
        .with(auth)
}

/// The app against the real provider; `tweak` adjusts the config.
pub async fn with_provider(
    env: &[(&str, &str)],
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> (Provider, AppServer) {
    with_registered_provider(|_| json!({}), env, tweak).await
}

/// The app against the real provider, its client registered with the
/// metadata `registration` gives for the app's base URL (a confidential
/// client's method, secret or keys); `tweak` adjusts the config.
pub async fn with_registered_provider(
    registration: impl FnOnce(&str) -> Value,
    env: &[(&str, &str)],
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> (Provider, AppServer) {
    let (acceptor, base) = AppServer::bind().await;
    let provider = Provider::start_registered(&[&base], registration(&base), env).await;
    let config = tweak(config(&base, &provider.oauth_server()))
        .build()
        .expect("valid config");
    let auth = CivicAuth::new(config, SessionSecret::generate());
    (provider, AppServer::serve(acceptor, base, routes(auth)))
}

/// The secret instances of one app share.
pub const SHARED_SECRET: &str = "shared secret of one app's instances, 32+ bytes";

/// `count` instances of the app against one real provider, sharing the
/// secret and, when given, a session store (each with its own connection:
/// `store` is called once per instance).
pub async fn instances<F, Fut>(
    count: usize,
    env: &[(&str, &str)],
    tweak: impl Fn(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
    store: F,
) -> (Provider, Vec<AppServer>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<std::sync::Arc<dyn SessionStore>>>,
{
    let mut bound = Vec::new();
    for _ in 0..count {
        bound.push(AppServer::bind().await);
    }
    let bases: Vec<&str> = bound.iter().map(|(_, base)| base.as_str()).collect();
    let provider = Provider::start_for(&bases, env).await;
    let mut servers = Vec::new();
    for (acceptor, base) in bound {
        let config = tweak(config(&base, &provider.oauth_server()))
            .build()
            .expect("valid config");
        let secret = SessionSecret::new(SHARED_SECRET).expect("secret");
        let auth = match store().await {
            Some(store) => CivicAuth::with_session_store(config, secret, store),
            None => CivicAuth::new(config, secret),
        };
        servers.push(AppServer::serve(acceptor, base, routes(auth)));
    }
    (provider, servers)
}

/// [`instances`] sharing the Redis at `redis_url`, each with its own
/// connection.
pub async fn instances_on_redis(
    count: usize,
    env: &[(&str, &str)],
    tweak: impl Fn(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
    redis_url: &str,
) -> (Provider, Vec<AppServer>) {
    instances(count, env, tweak, || async move {
        let store: std::sync::Arc<dyn SessionStore> = std::sync::Arc::new(
            civic_auth_poem::session::RedisStore::connect(redis_url)
                .await
                .expect("Redis is up"),
        );
        Some(store)
    })
    .await
}

/// The app against the fake provider; `tweak` adjusts the config.
pub async fn with_fake_provider(
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> (FakeProvider, AppServer) {
    with_fake_provider_store(None, tweak).await
}

/// Like [`with_fake_provider`], with sessions in `store` when given.
pub async fn with_fake_provider_store(
    store: Option<std::sync::Arc<dyn SessionStore>>,
    tweak: impl FnOnce(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder,
) -> (FakeProvider, AppServer) {
    let fake = FakeProvider::start().await;
    let (acceptor, base) = AppServer::bind().await;
    let config = tweak(config(&base, &fake.oauth_server()))
        .build()
        .expect("valid config");
    let secret = SessionSecret::generate();
    let auth = match store {
        Some(store) => CivicAuth::with_session_store(config, secret, store),
        None => CivicAuth::new(config, secret),
    };
    (fake, AppServer::serve(acceptor, base, routes(auth)))
}
