//! civic-auth-poem as a renamed dependency: this crate names it `civic`
//! (see Cargo.toml), so the paths `#[civic_auth_required]` emits must start
//! with `::civic`. That this crate builds shows they do; the tests show the
//! protected handlers run behind the middleware and refuse a request
//! without a session.

use civic::{civic_auth_required, CivicUser};
use poem::handler;
use poem_openapi::{payload::PlainText, OpenApi};

/// The library re-exported, as a framework crate would, for `crate = path`.
pub mod framework {
    pub use civic as auth;
}

#[civic_auth_required]
#[handler]
pub async fn hello() -> &'static str {
    "Hello, authenticated user!"
}

#[civic_auth_required(includes("groups", "admins"))]
#[handler]
pub fn admins(user: CivicUser) -> String {
    user.id
}

#[civic_auth_required(crate = civic)]
#[handler]
pub async fn given() -> &'static str {
    "the library at the path given"
}

#[civic_auth_required(crate = crate::framework::auth, equals("email_verified", true))]
#[handler]
pub async fn reexported() -> &'static str {
    "the library through a re-export"
}

pub struct Api;

#[civic_auth_required]
#[OpenApi]
impl Api {
    #[oai(path = "/hello", method = "get")]
    async fn hello(&self) -> PlainText<&'static str> {
        PlainText("Hello, authenticated user!")
    }

    #[civic_auth_required(includes("groups", "admins"))]
    #[oai(path = "/admins", method = "get")]
    async fn admins(&self, user: CivicUser) -> PlainText<String> {
        PlainText(user.id)
    }
}

pub struct GivenApi;

#[civic_auth_required(crate = ::civic, includes("groups", "admins"))]
#[OpenApi(prefix_path = "/given")]
impl GivenApi {
    #[oai(path = "/admins", method = "get")]
    async fn admins(&self) -> PlainText<&'static str> {
        PlainText("Welcome, administrator.")
    }
}

#[cfg(test)]
mod tests {
    use civic::{CivicAuth, CivicAuthConfig, SessionSecret};
    use poem::{get, http::StatusCode, Endpoint, EndpointExt, Request, Route};
    use poem_openapi::OpenApiService;

    use super::*;

    #[handler]
    fn public() -> &'static str {
        "anyone"
    }

    /// Every handler above behind the middleware, and one public route.
    async fn status(path: &str) -> StatusCode {
        let config = CivicAuthConfig::builder()
            .client_id("client")
            .redirect_url("http://127.0.0.1:5000/auth/callback")
            .post_logout_redirect_url("http://127.0.0.1:5000/")
            .build()
            .unwrap();
        let app = Route::new()
            .at("/public", get(public))
            .at("/hello", get(hello))
            .at("/admins", get(admins))
            .at("/given", get(given))
            .at("/reexported", get(reexported))
            .nest("/api", OpenApiService::new((Api, GivenApi), "renamed", "1"))
            .with(CivicAuth::new(config, SessionSecret::generate()));
        let request = Request::builder().uri(path.parse().unwrap()).finish();
        app.get_response(request).await.status()
    }

    #[tokio::test]
    async fn the_app_answers_an_unprotected_route() {
        assert_eq!(status("/public").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn handlers_refuse_a_request_without_a_session() {
        assert_eq!(status("/hello").await, StatusCode::UNAUTHORIZED);
        assert_eq!(status("/admins").await, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn operations_refuse_a_request_without_a_session() {
        assert_eq!(status("/api/hello").await, StatusCode::UNAUTHORIZED);
        assert_eq!(status("/api/admins").await, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_given_crate_path_works() {
        assert_eq!(status("/given").await, StatusCode::UNAUTHORIZED);
        assert_eq!(status("/reexported").await, StatusCode::UNAUTHORIZED);
        assert_eq!(status("/api/given/admins").await, StatusCode::UNAUTHORIZED);
    }
}
