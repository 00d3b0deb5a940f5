//! `CivicAuth`: the value an app builds once and mounts with `.with(auth)`.
//! It makes the session of each request available to the extractors, read
//! lazily so routes that never ask for the user pay nothing.

use std::sync::Arc;

use poem::{http::header, Endpoint, Middleware, Request};
use tokio::sync::OnceCell;

use crate::{
    bearer::BearerTokens,
    config::CivicAuthConfig,
    cookie::{CookieSealer, SessionSecret},
    login::{self, ConsumedStates},
    provider::Provider,
    session::CookieSessions,
    CivicUser, Error,
};

/// Civic Auth for one app: its config, the provider's cached metadata and
/// keys, and the session keys. Cheap to clone.
///
/// Mount it with `.with(auth)` and serve the auth routes with
/// [`CivicAuthEndpoint`](crate::CivicAuthEndpoint):
///
/// ```
/// use civic_auth_poem::{CivicAuth, CivicAuthConfig, CivicAuthEndpoint, SessionSecret};
/// use poem::{get, handler, EndpointExt, Route};
///
/// #[handler]
/// fn index() -> &'static str { "hi" }
///
/// let config = CivicAuthConfig::builder()
///     .client_id("my-client-id")
///     .redirect_url("http://localhost:5000/auth/callback")
///     .post_logout_redirect_url("http://localhost:5000/")
///     .build()?;
/// let auth = CivicAuth::new(config, SessionSecret::generate());
/// let app = Route::new()
///     .at("/", get(index))
///     .nest("/auth", CivicAuthEndpoint::new(&auth))
///     .with(auth);
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Clone)]
pub struct CivicAuth {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: CivicAuthConfig,
    pub(crate) provider: Provider,
    pub(crate) sealer: CookieSealer,
    pub(crate) sessions: CookieSessions,
    pub(crate) consumed_states: ConsumedStates,
    pub(crate) bearer_tokens: BearerTokens,
}

impl Inner {
    /// The user a request stands for: an `Authorization: Bearer` token when
    /// it has one (API clients), else the session cookie (browsers).
    pub(crate) async fn user(&self, req: &Request) -> Result<CivicUser, Error> {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some(token) = authorization.and_then(bearer_token) {
            return self.bearer_tokens.user(self, token).await;
        }
        self.sessions
            .load(req)
            .map(|session| session.user)
            .ok_or(Error::NotLoggedIn)
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl CivicAuth {
    /// Sets up Civic Auth. The provider is not called yet: its discovery
    /// document is fetched at the first login, so the app starts (and
    /// logged-in users keep working) while the provider is down.
    pub fn new(config: CivicAuthConfig, secret: SessionSecret) -> Self {
        let sealer = CookieSealer::new(&secret, config.secure_cookies());
        Self {
            inner: Arc::new(Inner {
                provider: Provider::new(&config),
                sessions: CookieSessions {
                    sealer: sealer.clone(),
                },
                sealer,
                config,
                consumed_states: ConsumedStates::default(),
                bearer_tokens: BearerTokens::default(),
            }),
        }
    }

    /// The config this was built with.
    pub fn config(&self) -> &CivicAuthConfig {
        &self.inner.config
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl std::fmt::Debug for CivicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CivicAuth")
            .field("client_id", &self.inner.config.client_id)
            .field("oauth_server", &self.inner.config.oauth_server.as_str())
            .finish_non_exhaustive()
    }
}

impl<E: Endpoint> Middleware<E> for CivicAuth {
    type Output = CivicAuthMiddleware<E>;

    fn transform(&self, ep: E) -> Self::Output {
        CivicAuthMiddleware {
            auth: self.clone(),
            ep,
        }
    }
}

/// The endpoint [`CivicAuth`] wraps around an app.
pub struct CivicAuthMiddleware<E> {
    auth: CivicAuth,
    ep: E,
}

impl<E: Endpoint> Endpoint for CivicAuthMiddleware<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        req.extensions_mut().insert(RequestAuth {
            auth: self.auth.clone(),
            user: Arc::default(),
        });
        self.ep.call(req).await
    }
}

/// What the middleware leaves on each request.
#[derive(Clone)]
pub(crate) struct RequestAuth {
    auth: CivicAuth,
    user: Arc<OnceCell<Result<CivicUser, Arc<Error>>>>,
}

impl RequestAuth {
    /// The request's user, resolved once however many extractors ask; the
    /// error is the answer to send when there is none.
    pub(crate) async fn user(req: &Request) -> Result<CivicUser, poem::Error> {
        let Some(this) = req.extensions().get::<Self>() else {
            return Err(Error::MiddlewareMissing.into());
        };
        let resolved = this
            .user
            .get_or_init(|| async { this.auth.inner.user(req).await.map_err(Arc::new) })
            .await;
        resolved
            .clone()
            .map_err(|error| poem::Error::from_response(rejection(&this.auth.inner, req, &error)))
    }
}

/// No user: a browser navigation goes to login, an API call gets 401, a
/// provider outage (checking a bearer token) a 503.
pub(crate) fn rejection(inner: &Inner, req: &Request, error: &Error) -> poem::Response {
    match error {
        Error::NotLoggedIn => unauthenticated(inner, req),
        other => other.json_body(),
    }
}

/// A browser navigation goes to the login page and comes back; an API call
/// gets 401 with `WWW-Authenticate`.
pub(crate) fn unauthenticated(inner: &Inner, req: &Request) -> poem::Response {
    let navigation = matches!(req.method().as_str(), "GET" | "HEAD")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !navigation {
        return Error::NotLoggedIn.json_body();
    }
    let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!(
        "{}?{}",
        inner.config.login_path,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("returnTo", here)
            .finish()
    );
    login::redirect(&location)
}

#[cfg(test)]
mod tests {
    use poem::http::{header, Method, StatusCode};

    use super::*;

    fn auth() -> CivicAuth {
        let config = CivicAuthConfig::builder()
            .client_id("c")
            .redirect_url("http://localhost:5000/auth/callback")
            .post_logout_redirect_url("http://localhost:5000/")
            .build()
            .unwrap();
        CivicAuth::new(config, SessionSecret::generate())
    }

    fn request(method: Method, accept: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(poem::http::Uri::from_static("/admin/x?y=1"))
            .header(header::ACCEPT, accept)
            .finish()
    }

    #[test]
    fn only_page_navigations_are_sent_to_login() {
        let auth = auth();
        let page = unauthenticated(auth.inner(), &request(Method::GET, "text/html"));
        assert_eq!(page.status(), StatusCode::FOUND);
        assert_eq!(
            page.headers()[header::LOCATION],
            "/auth/login?returnTo=%2Fadmin%2Fx%3Fy%3D1"
        );
        // A form post would lose its body on a redirect: it gets 401.
        let post = unauthenticated(auth.inner(), &request(Method::POST, "text/html"));
        assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
        let api = unauthenticated(auth.inner(), &request(Method::GET, "application/json"));
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        assert!(api.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
