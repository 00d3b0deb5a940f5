//! Log in with Civic for [Poem](https://docs.rs/poem) apps.
//!
//! OpenID Connect with the Authorization Code flow and PKCE, as a public
//! client (no client secret): one [`CivicAuthConfig`], one [`CivicAuth`] that
//! wires the middleware, one [`CivicAuthEndpoint`] for `/auth/*`, and the
//! [`civic_auth_required`] attribute that protects a handler and hands it the
//! [`CivicUser`].
//!
//! ```no_run
//! use civic_auth_poem::{
//!     civic_auth_required, CivicAuth, CivicAuthConfig, CivicAuthEndpoint, CivicUser, SessionSecret,
//! };
//! use poem::{get, handler, listener::TcpListener, EndpointExt, Route, Server};
//!
//! #[civic_auth_required]
//! #[handler]
//! async fn hello(user: CivicUser) -> String {
//!     format!("Hello, {}!", user.name.unwrap_or(user.id))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = CivicAuthConfig::from_env()?;
//!     let auth = CivicAuth::new(config, SessionSecret::new(std::env::var("CIVIC_SESSION_SECRET")?)?);
//!     let app = Route::new()
//!         .at("/admin/hello", get(hello))
//!         .nest("/auth", CivicAuthEndpoint::new(&auth))
//!         .with(auth);
//!     Server::new(TcpListener::bind("127.0.0.1:5000")).run(app).await?;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Layers, each importing only those above it in this list: base values,
// what the app says, the protocol and the cookies, sessions, flows, and
// what an app mounts.
mod clock;
mod error;
mod jwk;
mod local_path;
mod random;
mod resource;

mod config;
mod credentials;
pub mod hooks;
mod user;

mod claims;
mod step_up;

mod cookie;
mod oidc;

pub mod session;

mod flow;

mod web;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

/// Guides to what the library does beyond its defaults, each with examples.
pub mod guide {
    #[doc = include_str!("docs/logins.md")]
    pub mod logins {}
    #[doc = include_str!("docs/api_clients.md")]
    pub mod api_clients {}
    #[doc = include_str!("docs/clients.md")]
    pub mod clients {}
    #[doc = include_str!("docs/providers.md")]
    pub mod providers {}
    #[doc = include_str!("docs/apis.md")]
    pub mod apis {}
}

#[doc = include_str!("docs/civic_auth_required.md")]
#[doc(inline)]
pub use civic_auth_macros::civic_auth_required;

#[cfg(feature = "openapi")]
pub use crate::web::openapi;

/// The HTTP client [`AccessToken::send`] takes requests of: this version,
/// so an app needs no dependency of its own to match it.
pub use reqwest;

pub use crate::{
    clock::{Clock, ManualClock},
    config::{
        CivicAuthConfig, CivicAuthConfigBuilder, PushedAuthorization, ResponseMode,
        SecurityProfile, DEFAULT_OAUTH_SERVER, DEFAULT_PROVIDER_NAME, DEFAULT_SCOPES,
    },
    cookie::{secret::SessionSecret, SECURE_SESSION_COOKIE, SESSION_COOKIE},
    credentials::{key::ClientKey, method::ClientAuthMethod},
    error::{Error, ErrorBody},
    oidc::dpop::DpopKey,
    user::CivicUser,
    web::{
        access_token::AccessToken,
        auth::CivicAuth,
        endpoint::CivicAuthEndpoint,
        extract::{get_civic_user, SessionData},
        guard::{CivicAuthGuard, GuardedEndpoint},
        middleware::CivicAuthMiddleware,
        proxy::BffProxy,
    },
};

/// Written by `#[civic_auth_required]` on an `#[OpenApi]` block: without the
/// `openapi` feature, it says what to turn on.
#[cfg(feature = "openapi")]
#[doc(hidden)]
#[macro_export]
macro_rules! __civic_auth_openapi {
    () => {};
}
#[cfg(not(feature = "openapi"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __civic_auth_openapi {
    () => {
        compile_error!("#[civic_auth_required] on an #[OpenApi] block needs civic-auth-poem's `openapi` feature: it is on by default, so keep the default features or add `features = [\"openapi\"]` to the dependency");
    };
}

/// What the `#[civic_auth_required]` expansion calls; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use poem;

    #[cfg(feature = "openapi")]
    pub use crate::openapi::{Protected, Secured};
    pub use crate::{
        claims::authorize,
        step_up::{step_up, AcrValues, MaxAge, NoStepUp, StepUp, StepUpPolicy},
        web::extract::{scope, scope_typed, sync_scope, Authenticated},
    };

    pub use crate::__civic_auth_openapi as require_openapi;

    /// The requirements `#[civic_auth_required(...)]` can name.
    pub mod requirement {
        pub use crate::claims::{check, equals, includes};
    }

    /// A handler's answer, whatever its type, as a `poem::Result<Response>`.
    pub fn into_response<T: poem::IntoResponse>(
        answer: impl poem::error::IntoResult<T>,
    ) -> poem::Result<poem::Response> {
        answer.into_result().map(poem::IntoResponse::into_response)
    }
}
