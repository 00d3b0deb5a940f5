//! `CivicAuth`: the value an app builds once and mounts with `.with(auth)`.
//! It makes the session of each request available to the extractors, read
//! lazily so routes that never ask for the user pay nothing.

use std::sync::{Arc, Mutex};

use poem::{http::header, Endpoint, IntoResponse, Middleware, Request, Response};
use tokio::sync::OnceCell;

use crate::{
    bearer::BearerTokens,
    config::CivicAuthConfig,
    cookie::{chunked_names, CookieSealer, SessionSecret},
    login::{self, ConsumedStates},
    provider::Provider,
    refresh::{RefreshFailure, Refresher},
    session::{Backend, CookieUpdate, SessionStore, Sessions, SESSION_COOKIE},
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
    pub(crate) sessions: Sessions,
    pub(crate) consumed_states: ConsumedStates,
    pub(crate) bearer_tokens: BearerTokens,
    pub(crate) refresher: Refresher,
}

/// The session cookie change a response must carry, decided while the
/// request's user was resolved, with the session cookies the request carried
/// (all replaced). Most requests decide none and pay nothing.
#[derive(Default)]
pub(crate) struct PendingCookie(Mutex<Option<(CookieUpdate, Vec<String>)>>);

impl PendingCookie {
    fn set(&self, req: &Request, update: CookieUpdate) {
        let present = chunked_names(req, SESSION_COOKIE);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((update, present));
    }

    /// Writes the change, if any, into `resp`.
    pub(crate) fn apply(&self, sealer: &CookieSealer, resp: &mut Response) {
        let pending = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((update, present)) = pending {
            update.apply(sealer, &present, resp);
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl CivicAuth {
    /// Sets up Civic Auth with sessions in encrypted cookies. The provider is
    /// not called yet: its discovery document is fetched at the first login,
    /// so the app starts (and logged-in users keep working) while it is down.
    pub fn new(config: CivicAuthConfig, secret: SessionSecret) -> Self {
        Self::build(config, secret, Backend::Cookie)
    }

    /// Sets up Civic Auth with sessions in `store` (in memory, or Redis to
    /// share them between machines); the cookie then carries only a sealed,
    /// random session id.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use civic_auth_poem::{session::MemoryStore, CivicAuth, CivicAuthConfig, SessionSecret};
    ///
    /// # let config = CivicAuthConfig::builder().client_id("id")
    /// #     .redirect_url("http://localhost:5000/auth/callback")
    /// #     .post_logout_redirect_url("http://localhost:5000/").build()?;
    /// let auth = CivicAuth::with_session_store(config, SessionSecret::generate(), Arc::new(MemoryStore::default()));
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn with_session_store(
        config: CivicAuthConfig,
        secret: SessionSecret,
        store: Arc<dyn SessionStore>,
    ) -> Self {
        Self::build(config, secret, Backend::Store(store))
    }

    /// Everything from the environment, as the examples do: the config
    /// ([`CivicAuthConfig::from_env`]), the secret
    /// ([`SessionSecret::from_env_or_random`]) and the store
    /// ([`store_from_env`](crate::session::store_from_env)).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), civic_auth_poem::Error> {
    /// let auth = civic_auth_poem::CivicAuth::from_env().await?;
    /// # let _ = auth; Ok(()) }
    /// ```
    pub async fn from_env() -> Result<Self, Error> {
        let config = CivicAuthConfig::from_env()?;
        let secret = SessionSecret::from_env_or_random()?;
        Ok(match crate::session::store_from_env().await? {
            Some(store) => Self::with_session_store(config, secret, store),
            None => Self::new(config, secret),
        })
    }

    fn build(config: CivicAuthConfig, secret: SessionSecret, backend: Backend) -> Self {
        let sealer = CookieSealer::new(&secret, config.secure_cookies());
        Self {
            inner: Arc::new(Inner {
                provider: Provider::new(&config),
                sessions: Sessions::new(
                    sealer.clone(),
                    backend,
                    config.session_idle_timeout,
                    config.session_cache_ttl,
                ),
                sealer,
                config,
                consumed_states: ConsumedStates::default(),
                bearer_tokens: BearerTokens::default(),
                refresher: Refresher::default(),
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

    /// The user a request stands for: an `Authorization: Bearer` token when
    /// it has one (API clients), else the session cookie (browsers). What
    /// the response must do to the session cookie goes to `cookie`.
    pub(crate) async fn user(
        &self,
        req: &Request,
        cookie: &PendingCookie,
    ) -> Result<Arc<CivicUser>, Error> {
        let inner = self.inner();
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some(token) = authorization.and_then(bearer_token) {
            return inner.bearer_tokens.user(inner, token).await.map(Arc::new);
        }
        let Some(loaded) = inner.sessions.load(req).await? else {
            // Drops whatever session cookies the request carried (none: no-op).
            cookie.set(req, CookieUpdate::Clear);
            return Err(Error::NotLoggedIn);
        };
        let session = loaded.session;
        if session.needs_refresh() {
            match inner.refresher.refresh(self, &session).await {
                Ok((refreshed, update)) => {
                    inner.sessions.forget(req);
                    cookie.set(req, update);
                    return Ok(refreshed.user);
                }
                Err(RefreshFailure::Ended(reason)) => {
                    tracing::info!(%reason, "session ended: its tokens could not be refreshed");
                    cookie.set(req, inner.sessions.end(req).await);
                    return Err(Error::NotLoggedIn);
                }
                // The user is still who they were: serve them, retry later.
                Err(RefreshFailure::Unavailable(reason)) => {
                    tracing::warn!(%reason, "could not refresh a session now; keeping it");
                }
            }
        }
        if loaded.stale_touch {
            let mut touched = (*session).clone();
            cookie.set(req, inner.sessions.save(&mut touched).await?);
        }
        Ok(session.user.clone())
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
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // One allocation per request; the user is resolved only if asked for.
        let state = Arc::new(PerRequest::default());
        req.extensions_mut().insert(RequestAuth {
            auth: self.auth.clone(),
            state: state.clone(),
        });
        let mut resp = match self.ep.call(req).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        state.cookie.apply(&self.auth.inner.sealer, &mut resp);
        Ok(resp)
    }
}

/// What the middleware leaves on each request.
#[derive(Clone)]
pub(crate) struct RequestAuth {
    auth: CivicAuth,
    state: Arc<PerRequest>,
}

#[derive(Default)]
pub(crate) struct PerRequest {
    user: OnceCell<Result<Arc<CivicUser>, Arc<Error>>>,
    cookie: PendingCookie,
}

impl RequestAuth {
    /// The request's user, resolved once however many extractors ask; the
    /// error is the answer to send when there is none.
    pub(crate) async fn user(req: &Request) -> Result<CivicUser, poem::Error> {
        Self::shared_user(req)
            .await
            .map(|user| CivicUser::clone(&user))
    }

    /// [`Self::user`] without copying it.
    pub(crate) async fn shared_user(req: &Request) -> Result<Arc<CivicUser>, poem::Error> {
        let Some(this) = req.extensions().get::<Self>() else {
            return Err(Error::MiddlewareMissing.into());
        };
        let resolved = this
            .state
            .user
            .get_or_init(|| async {
                this.auth
                    .user(req, &this.state.cookie)
                    .await
                    .map_err(Arc::new)
            })
            .await;
        match resolved {
            Ok(user) => Ok(user.clone()),
            Err(error) => Err(poem::Error::from_response(rejection(
                &this.auth.inner,
                req,
                error,
            ))),
        }
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
    // The original URI: a nested route sees its path with the prefix cut off.
    let here = req
        .original_uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str());
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
            .header(header::ACCEPT, accept)
            .finish()
    }

    #[test]
    fn only_page_navigations_are_sent_to_login() {
        let auth = auth();
        let page = unauthenticated(auth.inner(), &request(Method::GET, "text/html"));
        assert_eq!(page.status(), StatusCode::FOUND);
        let location = page.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("/auth/login?returnTo="), "{location}");
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
