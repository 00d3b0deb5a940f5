//! Logins for an app's own tests, without a provider (the `testing`
//! feature). [`TestLogins`] makes a [`CivicAuth`] trust a key of its own in
//! place of the provider's, then logs made-up users in: a session cookie for
//! browser-style requests (with the encrypted cookie or any store), and a
//! bearer token for API calls. Both pass through the very checks a real
//! login's do (the session is sealed and stored as at the callback, the
//! token goes through the one token verifier), so a test that passes here
//! exercises the app's protected handlers as they run in production.
//!
//! Turn it on for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! civic-auth-poem = { version = "0.1", features = ["testing"] }
//! poem = { version = "3", features = ["test"] }
//! ```
//!
//! ```
//! use civic_auth_poem::{
//!     civic_auth_required, testing::TestLogins, CivicAuth, CivicUser, SessionSecret,
//! };
//! use poem::{get, handler, http::header, test::TestClient, EndpointExt, Route};
//!
//! #[civic_auth_required]
//! #[handler]
//! async fn hello(user: CivicUser) -> String {
//!     format!("Hello, {}!", user.name.unwrap_or(user.id))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), civic_auth_poem::Error> {
//! let auth = CivicAuth::new(civic_auth_poem::testing::config(), SessionSecret::generate());
//! let logins = TestLogins::new(&auth);
//! let client = TestClient::new(Route::new().at("/admin/hello", get(hello)).with(auth));
//!
//! let ada = CivicUser { name: Some("Ada".into()), ..CivicUser::new("user-1") };
//! let cookie = logins.session_cookie(&ada).await?;
//! let answer = client.get("/admin/hello").header(header::COOKIE, cookie).send().await;
//! answer.assert_status_is_ok();
//! answer.assert_text("Hello, Ada!").await;
//!
//! // An API client's call, with an access token for the same user.
//! let token = logins.bearer_token(&ada);
//! let answer = client
//!     .get("/admin/hello")
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .send()
//!     .await;
//! answer.assert_text("Hello, Ada!").await;
//!
//! // Nobody logged in: refused as in production.
//! client.get("/admin/hello").send().await.assert_status(poem::http::StatusCode::UNAUTHORIZED);
//! # Ok(()) }
//! ```
//!
//! With a store, the cookie carries the session's id and the session is
//! saved in the store, as at a real login:
//!
//! ```
//! use std::sync::Arc;
//! use civic_auth_poem::{session::MemoryStore, testing::TestLogins, CivicAuth, CivicUser, SessionSecret};
//! use poem::{handler, http::header, test::TestClient, EndpointExt};
//!
//! #[handler]
//! async fn me(user: Option<CivicUser>) -> String {
//!     user.and_then(|u| u.email).unwrap_or_default()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), civic_auth_poem::Error> {
//! let store = Arc::new(MemoryStore::default());
//! let auth = CivicAuth::with_session_store(
//!     civic_auth_poem::testing::config(),
//!     SessionSecret::generate(),
//!     store,
//! );
//! let logins = TestLogins::new(&auth);
//! let client = TestClient::new(me.with(auth));
//!
//! let mut grace = CivicUser::new("user-2");
//! grace.email = Some("grace@example.com".into());
//! grace.claims.insert("role".into(), "admin".into());
//! let cookie = logins.session_cookie(&grace).await?;
//! client.get("/").header(header::COOKIE, cookie).send().await
//!     .assert_text("grace@example.com").await;
//! # Ok(()) }
//! ```
//!
//! The app's login hook runs for these logins too, so handlers that read
//! [`SessionData`](crate::SessionData) see what it attached:
//!
//! ```
//! use civic_auth_poem::{civic_auth_required, hooks::LoginRefusal, testing::TestLogins};
//! use civic_auth_poem::{CivicAuth, CivicAuthConfig, CivicUser, SessionData, SessionSecret};
//! use poem::{handler, http::{header, StatusCode}, test::TestClient, EndpointExt};
//!
//! #[civic_auth_required]
//! #[handler]
//! async fn plan(SessionData(plan): SessionData<String>) -> String {
//!     plan
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), civic_auth_poem::Error> {
//! let config = CivicAuthConfig::builder()
//!     .client_id("test-client")
//!     .redirect_url("http://localhost:5000/auth/callback")
//!     .post_logout_redirect_url("http://localhost:5000/")
//!     .on_login(|login| async move {
//!         match login.user.id.as_str() {
//!             "banned" => Err(LoginRefusal::new("this account is suspended")),
//!             _ => Ok("pro".to_owned()),
//!         }
//!     })
//!     .build()?;
//! let auth = CivicAuth::new(config, SessionSecret::generate());
//! let logins = TestLogins::new(&auth);
//! let client = TestClient::new(plan.with(auth));
//!
//! let cookie = logins.session_cookie(&CivicUser::new("user-1")).await?;
//! client.get("/").header(header::COOKIE, cookie).send().await.assert_text("pro").await;
//! let refused = logins.session_cookie(&CivicUser::new("banned")).await.unwrap_err();
//! assert_eq!(refused.status(), StatusCode::FORBIDDEN);
//! # Ok(()) }
//! ```
//!
//! The auth routes (`/auth/login` and the rest) still speak to the
//! configured provider: test them against a real one, as this crate's own
//! tests do.

use std::time::Duration;

use jsonwebtoken::{jwk::Jwk, Header};
use poem::{http::header, Response};
use serde_json::json;

use crate::{
    config::CivicAuthConfig,
    cookie::writer::CookieChanges,
    error::Error,
    hooks::Login,
    oidc::{client::TokenSet, discovery::ProviderMetadata, dpop::DpopKey},
    user::CivicUser,
    web::auth::CivicAuth,
};

/// The key id of the tokens [`TestLogins`] signs.
const KEY_ID: &str = "civic-auth-poem-testing";
/// How long the tokens it signs are valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A config for tests: a made-up client at `http://localhost:5000`.
///
/// ```
/// let config = civic_auth_poem::testing::config();
/// assert_eq!(config.client_id(), "test-client");
/// ```
pub fn config() -> CivicAuthConfig {
    CivicAuthConfig::builder()
        .client_id("test-client")
        .redirect_url("http://localhost:5000/auth/callback")
        .post_logout_redirect_url("http://localhost:5000/")
        .build()
        .expect("the test config is valid")
}

/// Logs made-up users in to one [`CivicAuth`]; see [the module](self).
///
/// Making one changes that `CivicAuth` for good: it trusts tokens signed by
/// this value's key, and no longer the provider's.
pub struct TestLogins {
    auth: CivicAuth,
    /// Signs the tokens: an ES256 key, as DPoP keys are.
    key: DpopKey,
    issuer: String,
}

impl TestLogins {
    /// Makes `auth` trust this value's key in place of the provider's; its
    /// provider's discovery document and keys are never fetched after.
    pub fn new(auth: &CivicAuth) -> Self {
        let key = DpopKey::generate();
        let config = &auth.parts.config;
        let issuer = config.oauth_server.as_str().to_owned();
        let endpoint = |path: &str| {
            config
                .oauth_server
                .join(path)
                .expect("a path joins the issuer's URL")
        };
        let metadata = ProviderMetadata {
            issuer: issuer.clone(),
            authorization_endpoint: endpoint("auth"),
            token_endpoint: endpoint("token"),
            jwks_uri: endpoint("jwks"),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            introspection_endpoint: None,
            revocation_endpoint: None,
            authorization_response_iss_parameter_supported: false,
            pushed_authorization_request_endpoint: None,
            dpop_signing_alg_values_supported: Vec::new(),
            scopes_supported: Vec::new(),
            id_token_signing_alg_values_supported: Vec::new(),
            response_modes_supported: Vec::new(),
            token_endpoint_auth_methods_supported: Vec::new(),
            token_endpoint_auth_signing_alg_values_supported: Vec::new(),
        };
        let mut jwk: Jwk = key.public_jwk();
        jwk.common.key_id = Some(KEY_ID.into());
        auth.parts
            .providers
            .first()
            .provider()
            .pin(metadata, vec![jwk]);
        Self {
            auth: auth.clone(),
            key,
            issuer,
        }
    }

    /// Logs `user` in as a real login does after the provider: the app's
    /// login hook runs ([`on_login`](crate::CivicAuthConfigBuilder::on_login),
    /// so its app data is in the session, and its refusal is this call's
    /// error), then a new session is saved (in the store, if the
    /// `CivicAuth` has one). Returns the value of the `Cookie` header a
    /// browser would then send.
    ///
    /// # Errors
    ///
    /// [`Error::LoginDeniedByApp`] when the hook refuses,
    /// [`Error::SessionStoreUnavailable`] when the store cannot save it.
    pub async fn session_cookie(&self, user: &CivicUser) -> Result<String, Error> {
        let parts = &self.auth.parts;
        let tokens = TokenSet {
            access_token: self.bearer_token(user),
            expires_in: None,
            refresh_token: None,
            id_token: Some(self.sign(user, None)),
            dpop_bound: false,
        };
        let app_data = parts
            .config
            .hooks
            .logged_in(Login {
                user: user.clone(),
                id_token: tokens.id_token.clone().unwrap_or_default(),
                access_token: tokens.access_token.clone(),
            })
            .await?;
        let cookie = parts
            .sessions
            .start(user.clone(), tokens, None, None, app_data, &[])
            .await?;
        let mut response = Response::default();
        parts
            .writer
            .write(&[], CookieChanges::session(cookie), &mut response);
        let sent: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| cookie::Cookie::parse(value).ok())
            .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
            .collect();
        Ok(sent.join("; "))
    }

    /// An access token for `user`, valid for an hour by the `CivicAuth`'s
    /// clock: send it as `Authorization: Bearer <token>`.
    pub fn bearer_token(&self, user: &CivicUser) -> String {
        self.sign(user, Some("at+jwt"))
    }

    /// A token about `user`, issued to this client, signed by the key. The
    /// user's claims go in as they are: `auth_time` or `acr` among them
    /// count as the login's, for routes that ask for step-up.
    fn sign(&self, user: &CivicUser, typ: Option<&str>) -> String {
        let config = &self.auth.parts.config;
        let now = config.clock.now_secs();
        let mut claims = user.to_claims();
        claims.extend([
            ("iss".to_owned(), json!(self.issuer)),
            ("aud".to_owned(), json!(config.client_id)),
            ("iat".to_owned(), json!(now)),
            (
                "exp".to_owned(),
                json!(now.saturating_add(TOKEN_LIFETIME.as_secs())),
            ),
        ]);
        let header = Header {
            kid: Some(KEY_ID.into()),
            typ: typ.map(str::to_owned),
            ..Header::default()
        };
        self.key.sign_jwt(header, &claims)
    }
}

impl std::fmt::Debug for TestLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestLogins").finish_non_exhaustive()
    }
}
