//! `CivicAuthEndpoint`: the auth routes an app nests at `/auth`.

use poem::{
    get, handler, post,
    web::{Data, Json, Query},
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route,
};
use serde::Deserialize;

use crate::{
    backchannel, callback, cookie::chunked_names, login, middleware::PendingCookie,
    session::SESSION_COOKIE, CivicAuth, Error,
};

/// Serves `/login`, `/callback`, `/logout`, `/logoutcallback`, `/user` and
/// `/backchannel-logout` (register `<app>/auth/backchannel-logout` as the
/// client's back-channel logout URI at the provider; it needs a server-side
/// session store);
/// nest it at `/auth` (or set
/// [`login_path`](crate::CivicAuthConfigBuilder::login_path) to match).
///
/// ```
/// # use civic_auth_poem::{CivicAuth, CivicAuthConfig, CivicAuthEndpoint, SessionSecret};
/// # use poem::{EndpointExt, Route};
/// # let config = CivicAuthConfig::builder().client_id("id")
/// #     .redirect_url("http://localhost:5000/auth/callback")
/// #     .post_logout_redirect_url("http://localhost:5000/").build()?;
/// let auth = CivicAuth::new(config, SessionSecret::generate());
/// let app = Route::new()
///     .nest("/auth", CivicAuthEndpoint::new(&auth))
///     .with(auth);
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
pub struct CivicAuthEndpoint {
    pub(crate) auth: CivicAuth,
    routes: poem::endpoint::BoxEndpoint<'static>,
}

impl CivicAuthEndpoint {
    /// The auth routes of `auth`.
    pub fn new(auth: &CivicAuth) -> Self {
        let routes = Route::new()
            .at("/login", get(start_login))
            .at("/callback", get(finish_login))
            .at("/logout", get(logout).post(logout))
            .at("/logoutcallback", get(logout_callback))
            .at("/user", get(current_user))
            .at("/backchannel-logout", post(backchannel_logout))
            .data(auth.clone())
            .map_to_response()
            .boxed();
        Self {
            auth: auth.clone(),
            routes,
        }
    }
}

impl Endpoint for CivicAuthEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.routes.call(req).await
    }
}

#[derive(Deserialize)]
struct LoginParams {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

#[handler]
async fn start_login(
    Data(auth): Data<&CivicAuth>,
    params: poem::Result<Query<LoginParams>>,
) -> Response {
    let return_to = params.ok().and_then(|Query(p)| p.return_to);
    login_response(auth, return_to.as_deref()).await
}

#[handler]
async fn finish_login(Data(auth): Data<&CivicAuth>, req: &Request) -> Response {
    callback_response(auth, req).await
}

#[handler]
async fn logout(Data(auth): Data<&CivicAuth>, req: &Request) -> Response {
    logout_response(auth, req).await
}

#[handler]
async fn logout_callback(Data(auth): Data<&CivicAuth>, req: &Request) -> Response {
    logout_callback_response(auth, req).await
}

#[handler]
async fn backchannel_logout(Data(auth): Data<&CivicAuth>, body: poem::Body) -> Response {
    // Read no more than a logout token can need: anyone can post here.
    let token = match body
        .into_bytes_limit(backchannel::MAX_TOKEN_LEN + 1024)
        .await
    {
        Ok(bytes) => backchannel::token_from_form(&String::from_utf8_lossy(&bytes)),
        Err(_) => None,
    };
    backchannel::handle(auth.inner(), token).await
}

#[handler]
async fn current_user(Data(auth): Data<&CivicAuth>, req: &Request) -> Response {
    user_response(auth, req).await
}

// What each route answers, shared by the plain routes above and the
// OpenAPI operations in `openapi`.

pub(crate) async fn login_response(auth: &CivicAuth, return_to: Option<&str>) -> Response {
    login::start(auth.inner(), return_to)
        .await
        .unwrap_or_else(|err| page(err, "login could not start"))
}

pub(crate) async fn callback_response(auth: &CivicAuth, req: &Request) -> Response {
    callback::finish(auth.inner(), req)
        .await
        .unwrap_or_else(|err| page(err, "login callback refused"))
}

/// Clears the local session first, so logout works while the provider is
/// down, then ends the provider's session too when it can be reached.
pub(crate) async fn logout_response(auth: &CivicAuth, req: &Request) -> Response {
    let inner = auth.inner();
    let id_token = match inner.sessions.load(req).await {
        Ok(loaded) => loaded.map(|l| l.session.id_token.clone()),
        Err(_) => None,
    };
    let ended = inner.sessions.end(req).await;
    let fallback = inner.config.post_logout_redirect_url.as_str();
    let metadata = inner.provider.metadata_for_redirect().await.ok();
    let location = match metadata
        .as_ref()
        .and_then(|m| m.end_session_endpoint.clone())
    {
        Some(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                if let Some(id_token) = &id_token {
                    query.append_pair("id_token_hint", id_token);
                }
                query
                    .append_pair("client_id", &inner.config.client_id)
                    .append_pair("post_logout_redirect_uri", fallback)
                    .append_pair("state", oauth2::CsrfToken::new_random().secret());
            }
            url.to_string()
        }
        None => fallback.to_owned(),
    };
    redirect_ending(inner, req, &location, ended)
}

/// Lands on `post_logout_redirect_url`, or the landing page if that is this
/// route (an app may register it as its post-logout URL).
pub(crate) async fn logout_callback_response(auth: &CivicAuth, req: &Request) -> Response {
    let inner = auth.inner();
    let target = &inner.config.post_logout_redirect_url;
    let location = if target.path() == req.original_uri().path() {
        inner.config.login_success_path.as_str()
    } else {
        target.as_str()
    };
    let ended = inner.sessions.end(req).await;
    redirect_ending(inner, req, location, ended)
}

/// A redirect to `location` that also removes the request's session cookies.
fn redirect_ending(
    inner: &crate::middleware::Inner,
    req: &Request,
    location: &str,
    ended: crate::session::CookieUpdate,
) -> Response {
    let mut resp = login::redirect(location);
    ended.apply(
        &inner.sealer,
        &chunked_names(req, SESSION_COOKIE),
        &mut resp,
    );
    resp
}

/// The current user as JSON; 401 when logged out.
pub(crate) async fn user_response(auth: &CivicAuth, req: &Request) -> Response {
    let inner = auth.inner();
    let cookie = PendingCookie::default();
    let mut resp = match auth.user(req, &cookie).await {
        Ok(user) => Json(&*user).into_response(),
        Err(error) => error.json_body(),
    };
    cookie.apply(&inner.sealer, &mut resp);
    resp
}

fn page(err: Error, context: &str) -> Response {
    tracing::warn!(error = %err, "{context}");
    err.html_page()
}
