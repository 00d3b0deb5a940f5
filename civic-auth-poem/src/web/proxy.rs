//! `BffProxy`: the backend-for-frontend endpoint through which a
//! single-page app calls its API with the user's access token, which never
//! reaches the browser.

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, Request, Response};
use url::Url;

use super::{access_token::AccessToken, middleware::RequestAuth};
use crate::{
    config::https_or_loopback,
    error::Error,
    flow::{
        self,
        proxy::{Upstream, UpstreamSettings},
    },
};

/// The header a single-page app's own scripts send with each call, which
/// a cross-site form or link cannot.
const CSRF_HEADER: &str = "x-csrf";

/// Forwards a logged-in browser's calls to an API, with the user's access
/// token (renewed when it is about to expire, with a DPoP proof when the
/// session's tokens are bound): the backend-for-frontend pattern, so the
/// token stays on the server. Nest it below `.with(auth)`; a call to
/// `/bff/orders/7?full=1` goes to `<upstream>/orders/7?full=1`.
///
/// Only calls the app's own scripts make are forwarded: each must carry
/// `X-CSRF: 1`, and one the browser marks as from another site
/// (`Sec-Fetch-Site`, `Origin`) is refused (403). A call without a session,
/// or after it ended, is answered 401 as JSON, never a login redirect. The
/// browser's cookies, `Authorization` and `X-Forwarded-*` headers are not
/// forwarded, nor the API's `Set-Cookie`; bodies are streamed (an answer
/// without a declared length, and a DPoP-bound session's request, are
/// read first), each within its bound, and every call ends within the
/// timeout.
///
/// ```
/// use civic_auth_poem::{BffProxy, CivicAuth, CivicAuthConfig, CivicAuthEndpoint, SessionSecret};
/// use poem::{EndpointExt, Route};
///
/// # let config = CivicAuthConfig::builder().client_id("id")
/// #     .redirect_url("http://localhost:5000/auth/callback")
/// #     .post_logout_redirect_url("http://localhost:5000/").build()?;
/// let auth = CivicAuth::new(config, SessionSecret::generate());
/// let app = Route::new()
///     .nest("/auth", CivicAuthEndpoint::new(&auth))
///     .nest("/bff", BffProxy::new("https://api.example/v1")?)
///     .with(auth);
/// // In the browser: fetch("/bff/orders", { headers: { "X-CSRF": "1" } })
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Clone)]
pub struct BffProxy {
    upstream: Arc<Upstream>,
    /// The API's resource indicator, when its calls carry a token for it.
    resource: Option<Arc<str>>,
}

impl BffProxy {
    /// A proxy to the API at `upstream` (its base URL): https, or http to
    /// a loopback host. It waits 30 s at most for each call, forwards
    /// request bodies up to 1 MiB and answers up to 10 MiB.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `upstream` is not such a URL.
    pub fn new(upstream: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidConfig {
            field: "upstream",
            value: upstream.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(upstream).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("the API's base URL must be an http(s) URL"));
        }
        if !https_or_loopback(&base) {
            return Err(invalid(
                "the user's tokens go only over https (or to a loopback host)",
            ));
        }
        if base.query().is_some()
            || base.fragment().is_some()
            || !base.username().is_empty()
            || base.password().is_some()
        {
            return Err(invalid(
                "the API's base URL has no query, fragment, user name or password",
            ));
        }
        Ok(Self {
            upstream: Arc::new(
                UpstreamSettings {
                    base,
                    timeout: Duration::from_secs(30),
                    max_request_body: 1 << 20,
                    max_response_body: 10 << 20,
                }
                .connect(),
            ),
            resource: None,
        })
    }

    /// How long a call may take, its answer's body included.
    pub fn timeout(self, timeout: Duration) -> Self {
        let settings = UpstreamSettings {
            timeout,
            ..self.upstream.settings().clone()
        };
        self.with(settings)
    }

    /// The longest request body forwarded (longer: 413).
    pub fn max_request_body(self, bytes: usize) -> Self {
        let settings = UpstreamSettings {
            max_request_body: bytes,
            ..self.upstream.settings().clone()
        };
        self.with(settings)
    }

    /// The longest answer forwarded (a longer one declared: 502; one that
    /// runs past it is cut off).
    pub fn max_response_body(self, bytes: usize) -> Self {
        let settings = UpstreamSettings {
            max_response_body: bytes,
            ..self.upstream.settings().clone()
        };
        self.with(settings)
    }

    /// Calls carry a token for the API `resource` (RFC 8707), one the app
    /// named in its settings, rather than the session's own
    /// ([`AccessToken::for_resource`]).
    ///
    /// ```
    /// # fn main() -> Result<(), civic_auth_poem::Error> {
    /// use civic_auth_poem::BffProxy;
    ///
    /// let orders = BffProxy::new("https://orders.example/v1")?.resource("https://orders.example/");
    /// # Ok(()) }
    /// ```
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.into());
        self
    }

    fn with(self, settings: UpstreamSettings) -> Self {
        Self {
            upstream: Arc::new(settings.connect()),
            ..self
        }
    }

    async fn forward(&self, req: &mut Request) -> Result<Response, Error> {
        let auth = RequestAuth::of(req)?;
        let parts = &auth.parts;
        if req.headers().get(CSRF_HEADER).is_none_or(|v| v != "1") {
            return Err(Error::Forbidden(
                "a call through the proxy carries `X-CSRF: 1`, which the app's own scripts send"
                    .into(),
            ));
        }
        if flow::cross_site(req, &parts.providers, &parts.origin) {
            return Err(Error::Forbidden(
                "the proxy takes calls from the app's own pages only".into(),
            ));
        }
        let session = match RequestAuth::resolved_session(req).await {
            Ok(session) => session.ok_or(Error::SessionRequired)?,
            Err(error) => return Ok(error.json_body()),
        };
        let mut token = AccessToken::of(session, req)?;
        if let Some(resource) = &self.resource {
            token = token.for_resource(resource).await?;
        }
        // A bound token's call may be tried again with a new nonce: its
        // body is read first.
        let replayable = token.is_dpop_bound();
        let (request, overflow) = self.upstream.request(req, replayable).await?;
        let answer = match token.execute(self.upstream.client(), request).await {
            Err(_) if overflow.happened() => {
                return Err(Error::BodyTooLarge(
                    self.upstream.settings().max_request_body,
                ))
            }
            answer => answer?,
        };
        self.upstream.response(answer).await
    }
}

impl Endpoint for BffProxy {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        Ok(self
            .forward(&mut req)
            .await
            .unwrap_or_else(|error| error.json_body()))
    }
}
