//! The middleware `.with(auth)` mounts. It leaves a [`RequestAuth`] on each
//! request (the user is resolved only if an extractor asks, so routes that
//! never do pay nothing), and after the handler it writes the cookie
//! changes the request collected: the one place cookies are written.

use std::sync::{Arc, Mutex};

use poem::{
    http::{header, HeaderValue},
    Endpoint, IntoResponse, Middleware, Request, Response,
};
use tokio::sync::OnceCell;
use url::Url;

use super::auth::{CivicAuth, LoginAt, Parts};
use crate::{
    cookie::writer::CookieChanges,
    error::Error,
    flow::{
        self,
        bearer::{self, Presented},
        login::{self, LoginOptions},
        silent::SilentLogin,
    },
    hooks::AppData,
    oidc::client::OidcClient,
    session::state::Session,
    step_up::{NoStepUp, StepUp, StepUpPolicy},
    user::CivicUser,
};

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
        let parts = &self.auth.parts;
        // Already mounted further out (the auth routes wrap themselves, for
        // apps that nest them outside `.with(auth)`): that one writes.
        let mounted = req
            .extensions()
            .get::<RequestAuth>()
            .is_some_and(|outer| Arc::ptr_eq(&outer.parts, parts));
        if mounted {
            return self.ep.call(req).await.map(IntoResponse::into_response);
        }
        // An app with tenants answers only for their hosts (and its
        // providers'), before anything reads the request.
        if parts.providers.restricts_hosts() {
            let host = flow::request_host(&req).unwrap_or_default();
            if !parts.providers.serves_host(host) {
                tracing::debug!(host = %crate::error::printable(host), "a request for a host the app does not serve");
                return Ok(Error::UnknownHost(host.to_owned()).json_body());
            }
        }
        // One allocation per request.
        let state = Arc::new(PerRequest::default());
        let method = req.method().clone();
        req.extensions_mut().insert(RequestAuth {
            parts: parts.clone(),
            state: state.clone(),
            method,
        });
        let silent = match &parts.silent {
            // Not on pages outside the app's base path: its cookies (the
            // session, the attempt) are not sent there, and it would never stop.
            Some(silent)
                if is_navigation(&req)
                    && parts.config.base_path.contains(req.original_uri().path())
                    && silent.applies(req.original_uri().path(), &req) =>
            {
                // Boxed: its state (a pushed request to the provider) would
                // otherwise be part of every request's future, copied each
                // time the future moves.
                Box::pin(try_silently(parts, silent, &req)).await
            }
            _ => None,
        };
        let mut resp = match silent {
            Some(redirect) => redirect,
            None => match self.ep.call(req).await {
                Ok(output) => output.into_response(),
                Err(error) => error.into_response(),
            },
        };
        let pending = std::mem::take(&mut *state.cookies.lock().unwrap_or_else(|e| e.into_inner()));
        // An answer that depends on who is logged in, or that changes the
        // session, must not be kept by a cache and served to someone else.
        if state.user.initialized() || pending.changes.touch_session() {
            private(&mut resp);
        }
        parts
            .writer
            .write(&pending.carried, pending.changes, &mut resp);
        Ok(resp)
    }
}

/// Starts a silent login from the page view `req`, whose answer is then the
/// redirect; `None` when it cannot start (the provider is down), and the
/// page is served. Either way the browser is not tried again for a while.
async fn try_silently(parts: &Parts, silent: &SilentLogin, req: &Request) -> Option<Response> {
    let tried = CookieChanges::transient(silent.tried());
    let options = LoginOptions {
        return_to: (req.original_uri().path_and_query())
            .and_then(|pq| parts.config.return_to(pq.as_str())),
        step_up: StepUp::default(),
        silent: true,
    };
    // With several providers and none for this host, there is none to try.
    let started = match parts.login_at(req, None) {
        Ok(LoginAt::Provider(client, back)) => {
            login::start(client, &back, &parts.transactions, req, options).await
        }
        Ok(LoginAt::Choice) => return None,
        Err(error) => Err(error),
    };
    let (redirect, cookies) = match started {
        Ok(reply) => (Some(reply.response), reply.cookies.with(tried)),
        Err(error) => {
            tracing::debug!(reason = %error, "a silent login could not start");
            (None, tried)
        }
    };
    RequestAuth::record(req, cookies).ok()?;
    redirect
}

/// A page navigation: a `GET` or `HEAD` that accepts HTML (not an API call,
/// not a form post, whose body a redirect would lose).
fn is_navigation(req: &Request) -> bool {
    matches!(req.method().as_str(), "GET" | "HEAD")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// `Cache-Control: no-store`; or, when the handler chose its own caching,
/// `Vary: Cookie`, so a cache keeps one answer per session.
fn private(resp: &mut Response) {
    let headers = resp.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    }
    let varies = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("cookie") || v.trim() == "*");
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

/// What the middleware leaves on each request.
#[derive(Clone)]
pub(crate) struct RequestAuth {
    pub(crate) parts: Arc<Parts>,
    state: Arc<PerRequest>,
    /// The method as the client sent it: a route answers `HEAD` with its
    /// `GET` handler, and the request then reads `GET`, but a DPoP proof
    /// names `HEAD`.
    method: poem::http::Method,
}

#[derive(Default)]
struct PerRequest {
    user: OnceCell<Result<Identity, Arc<Error>>>,
    cookies: Mutex<Pending>,
}

impl PerRequest {
    /// Keeps `changes` for the response; `carried` reads the request's
    /// session cookies, which only a change of the session needs.
    fn keep(&self, changes: CookieChanges, carried: impl FnOnce() -> Vec<String>) {
        let mut pending = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        if changes.touch_session() && !pending.changes.touch_session() {
            pending.carried = carried();
        }
        pending.changes.merge(changes);
    }
}

/// A request's session changes made after its handler got its extractors
/// (a token for an API, renewed): they go out with its response. Changes
/// made once the response has left are lost.
pub(crate) struct SessionUpdates {
    state: Arc<PerRequest>,
    /// The session cookies the request carried.
    carried: Vec<String>,
}

impl SessionUpdates {
    pub(crate) fn record(&self, changes: CookieChanges) {
        self.state.keep(changes, || self.carried.clone());
    }
}

/// Who a request is for, and their session (none for a bearer token's call).
struct Identity {
    user: Arc<CivicUser>,
    session: Option<Arc<Session>>,
}

/// The cookie changes a response must carry, and the session cookies the
/// request carried (read only when the session changes: most requests
/// change nothing and pay nothing).
#[derive(Default)]
struct Pending {
    changes: CookieChanges,
    carried: Vec<String>,
}

impl RequestAuth {
    pub(crate) fn of(req: &Request) -> Result<&Self, Error> {
        req.extensions()
            .get::<Self>()
            .ok_or(Error::MiddlewareMissing)
    }

    /// Keeps `changes` for the response.
    pub(crate) fn record(req: &Request, changes: CookieChanges) -> Result<(), Error> {
        let this = Self::of(req)?;
        this.state.keep(changes, || this.parts.writer.carried(req));
        Ok(())
    }

    /// Where a handler's later change to the session goes: this request's
    /// response.
    pub(crate) fn session_updates(req: &Request) -> Result<SessionUpdates, Error> {
        let this = Self::of(req)?;
        Ok(SessionUpdates {
            state: this.state.clone(),
            carried: this.parts.writer.carried(req),
        })
    }

    /// The request's user, resolved once however many extractors ask: an
    /// `Authorization: Bearer` token when it has one (API clients), else the
    /// session cookie (browsers). The error says why there is none.
    pub(crate) async fn resolve(req: &Request) -> Result<Arc<CivicUser>, Arc<Error>> {
        Self::identity(req)
            .await
            .map(|identity| identity.user.clone())
    }

    async fn identity(req: &Request) -> Result<&Identity, Arc<Error>> {
        let this = Self::of(req).map_err(Arc::new)?;
        this.state
            .user
            .get_or_init(|| async { this.identify(req).await.map_err(Arc::new) })
            .await
            .as_ref()
            .map_err(Arc::clone)
    }

    async fn identify(&self, req: &Request) -> Result<Identity, Error> {
        let parts = &self.parts;
        // Whoever the user is, at a tenant's host they must be its provider's.
        let tenant = parts.tenant(req);
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some((scheme, token)) = authorization.and_then(credentials) {
            let presented = match scheme {
                Scheme::Bearer => Presented::Bearer,
                Scheme::Dpop => self.dpop_proof(req)?,
            };
            let caller = bearer::caller(req.remote_addr().as_socket_addr());
            // Boxed: its state (a provider call) would otherwise be part of
            // every protected request's future, copied as it is moved.
            let user = Box::pin(parts.bearer.user(
                &parts.providers,
                tenant.map(|t| &**t),
                &parts.spent,
                token,
                presented,
                caller,
            ))
            .await?;
            let user = self.of_tenant(tenant, Arc::new(user))?;
            return Ok(Identity {
                user,
                session: None,
            });
        }
        let resolved = parts.sessions.user(req).await;
        if let Some(cookie) = resolved.cookie {
            Self::record(req, CookieChanges::session(cookie))?;
        }
        Ok(Identity {
            user: self.of_tenant(tenant, resolved.user?)?,
            session: resolved.session,
        })
    }

    /// `user`, if the app still has their provider and, at a tenant's
    /// host, it is the tenant's: a user of one tenant is not logged in at
    /// another's.
    fn of_tenant(
        &self,
        tenant: Option<&Arc<OidcClient>>,
        user: Arc<CivicUser>,
    ) -> Result<Arc<CivicUser>, Error> {
        let Some(provider) = self.parts.providers.of_user(&user) else {
            return Err(Error::NotLoggedIn);
        };
        match tenant {
            Some(tenant) if !Arc::ptr_eq(provider, tenant) => Err(Error::NotLoggedIn),
            _ => Ok(user),
        }
    }

    /// Whether `user` logged in at `provider` (any, when `None`).
    fn is_from(&self, user: &CivicUser, provider: Option<&str>) -> bool {
        provider.is_none_or(|required| {
            self.parts
                .providers
                .of_user(user)
                .is_some_and(|p| p.name() == required)
        })
    }

    /// The one `DPoP` proof of `req`, and the request it must be for: this
    /// app's URL of it (its origin as configured, so a proxy in front does
    /// not change it).
    fn dpop_proof<'r>(&'r self, req: &'r Request) -> Result<Presented<'r>, Error> {
        let mut proofs = req.headers().get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(Error::InvalidDpopProof(
                "an `Authorization: DPoP` request carries exactly one `DPoP` proof header".into(),
            ));
        };
        let proof = proof
            .to_str()
            .map_err(|_| Error::InvalidDpopProof("the DPoP proof is not text".into()))?;
        let origin = self
            .parts
            .providers
            .origin_at(flow::request_host(req), &self.parts.origin);
        let url = Url::parse(&format!("{origin}{}", req.original_uri().path()))
            .map_err(|_| Error::InvalidDpopProof("the request's URL cannot be read".into()))?;
        Ok(Presented::Dpop {
            proof,
            method: self.method.as_str(),
            url,
        })
    }

    /// The app data of the request's session, resolving its user first as
    /// a protected route does (a login, a 401); none for a bearer token.
    pub(crate) async fn app_data(req: &Request) -> Result<Option<AppData>, poem::Error> {
        Ok(Self::session(req)
            .await?
            .and_then(|session| session.app_data.clone()))
    }

    /// The request's session, resolving its user first as a protected
    /// route does (a login, a 401); none for a bearer token.
    pub(crate) async fn session(req: &Request) -> Result<Option<Arc<Session>>, poem::Error> {
        Self::user(req, NoStepUp::step_up()).await?;
        let identity = Self::identity(req).await.ok();
        Ok(identity.and_then(|identity| identity.session.clone()))
    }

    /// The request's session as [`Self::resolve`] finds it, the error
    /// unanswered; none for a bearer token.
    pub(crate) async fn resolved_session(
        req: &Request,
    ) -> Result<Option<Arc<Session>>, Arc<Error>> {
        Ok(Self::identity(req).await?.session.clone())
    }

    /// [`Self::resolve`] for a protected route that may ask for a recent or
    /// strong login (`step_up`), answering as such a route does without a
    /// user who meets it: a browser navigation goes to login, an API call
    /// gets 401, a store or provider outage a 503.
    pub(crate) async fn user(
        req: &Request,
        step_up: &StepUp,
    ) -> Result<Arc<CivicUser>, poem::Error> {
        let this = Self::of(req)?;
        let unmet = match Self::resolve(req).await {
            Ok(user) if step_up.is_empty() && step_up.provider().is_none() => return Ok(user),
            // A user of another provider than the route's: an API call is
            // refused, a page logs in at the route's provider.
            Ok(user) if !this.is_from(&user, step_up.provider()) => {
                let required = step_up.provider().unwrap_or_default().to_owned();
                if this.parts.providers.named(&required).is_none() {
                    tracing::error!(
                        provider = %required,
                        "a route serves only users of a provider the app does not have: check `#[civic_auth_required(provider = ...)]`"
                    );
                }
                let error = Error::WrongProvider { required };
                if !is_navigation(req) {
                    return Err(poem::Error::from_response(error.json_body()));
                }
                error
            }
            Ok(user) if step_up.is_empty() => return Ok(user),
            Ok(user) => match step_up.unmet_by(&user, this.parts.config.clock.now_secs()) {
                None => return Ok(user),
                Some(reason) => Error::StepUpRequired {
                    reason,
                    challenge: step_up.challenge(),
                },
            },
            Err(error) if matches!(*error, Error::NotLoggedIn) => Error::NotLoggedIn,
            Err(error) => return Err(poem::Error::from_response(error.json_body())),
        };
        Err(poem::Error::from_response(to_login(
            &this.parts,
            req,
            &unmet,
            step_up,
        )))
    }
}

/// The schemes an API client's token comes with.
#[derive(Debug, PartialEq)]
enum Scheme {
    Bearer,
    /// RFC 9449: with a proof of the key the token is bound to.
    Dpop,
}

/// The scheme and token of an `Authorization` value (scheme
/// case-insensitive).
fn credentials(value: &str) -> Option<(Scheme, &str)> {
    let (scheme, token) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim()))
}

/// A browser navigation goes to the login page (asking for `step_up`) and
/// comes back; an API call gets `error`'s 401 with `WWW-Authenticate`.
pub(crate) fn to_login(parts: &Parts, req: &Request, error: &Error, step_up: &StepUp) -> Response {
    if !is_navigation(req) {
        return error.json_body();
    }
    // The original URI: a nested route sees its path with the prefix cut off.
    let here = req
        .original_uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str());
    let location = format!(
        "{}?{}",
        parts.config.login_path.as_str(),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("returnTo", here)
            .extend_pairs(step_up.provider().map(|name| ("provider", name)))
            .extend_pairs(step_up.params())
            .finish()
    );
    flow::redirect(&location)
}

#[cfg(test)]
mod tests {
    use poem::http::{Method, StatusCode};

    use super::*;
    use crate::{config::CivicAuthConfig, cookie::secret::SessionSecret};

    fn auth() -> CivicAuth {
        let config = CivicAuthConfig::quickstart().build().unwrap();
        CivicAuth::new(config, SessionSecret::generate())
    }

    fn request(method: Method, accept: &str) -> Request {
        Request::builder()
            .method(method)
            .header(header::ACCEPT, accept)
            .finish()
    }

    /// What a protected request awaits stays small: a rare step's state
    /// (a silent login's pushed request, a bearer token's check, a session's
    /// rewrite) kept inline would be copied each time every request's
    /// future moves.
    #[test]
    fn a_requests_futures_keep_rare_steps_boxed() {
        let req = Request::builder().finish();
        let step_up = StepUp::default();
        let user = std::mem::size_of_val(&RequestAuth::user(&req, &step_up));
        // 832 bytes with rustc 1.95; 5064 with a bearer token's check
        // inline, 920 with a session's rewrite.
        assert!(user <= 896, "{user} bytes");
        let app = poem::EndpointExt::with(poem::endpoint::make_sync(|_| "hello"), auth());
        let call = std::mem::size_of_val(&app.call(Request::builder().finish()));
        // 1648 bytes; 5104 with the silent login inline.
        assert!(call <= 2048, "{call} bytes");
    }

    #[test]
    fn only_page_navigations_are_sent_to_login() {
        let auth = auth();
        let unauthenticated =
            |parts, req: &Request| to_login(parts, req, &Error::NotLoggedIn, &StepUp::default());
        let page = unauthenticated(&auth.parts, &request(Method::GET, "text/html"));
        assert_eq!(page.status(), StatusCode::FOUND);
        let location = page.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("/auth/login?returnTo="), "{location}");
        // A form post would lose its body on a redirect: it gets 401.
        let post = unauthenticated(&auth.parts, &request(Method::POST, "text/html"));
        assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
        let api = unauthenticated(&auth.parts, &request(Method::GET, "application/json"));
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        assert!(api.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn a_step_up_login_asks_for_what_the_route_requires() {
        let auth = auth();
        let step_up = StepUp::new(Some(300), Some("urn:gold"));
        let error = Error::StepUpRequired {
            reason: "old".into(),
            challenge: step_up.challenge(),
        };
        let page = to_login(
            &auth.parts,
            &request(Method::GET, "text/html"),
            &error,
            &step_up,
        );
        let location = page.headers()[header::LOCATION].to_str().unwrap();
        assert!(
            location.ends_with("?returnTo=%2F&max_age=300&acr_values=urn%3Agold"),
            "{location}"
        );
        let api = to_login(&auth.parts, &request(Method::GET, "*/*"), &error, &step_up);
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        let challenge = api.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_user_authentication\", max_age=\"300\""),
            "{challenge}"
        );
    }

    #[test]
    fn answers_that_depend_on_the_session_are_kept_out_of_shared_caches() {
        let with = |headers: &[(&'static str, &str)]| {
            let mut resp = Response::default();
            for (name, value) in headers {
                resp.headers_mut()
                    .append(*name, HeaderValue::from_str(value).unwrap());
            }
            private(&mut resp);
            let all = |name| {
                resp.headers()
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            };
            (all(header::CACHE_CONTROL), all(header::VARY))
        };
        assert_eq!(with(&[]), (vec!["no-store".to_owned()], vec![]));
        let own = ("cache-control", "private, max-age=60");
        assert_eq!(with(&[own]).1, ["Cookie"]);
        assert_eq!(
            with(&[own, ("vary", "Accept-Encoding")]).1,
            ["Accept-Encoding", "Cookie"]
        );
        assert_eq!(
            with(&[own, ("vary", "Accept-Encoding, cookie")]).1,
            ["Accept-Encoding, cookie"]
        );
        assert_eq!(with(&[own, ("vary", "*")]).1, ["*"]);
        assert_eq!(
            with(&[own]).0,
            ["private, max-age=60"],
            "the handler's own stays"
        );
    }

    #[test]
    fn tokens_are_read_from_the_authorization_header() {
        assert_eq!(credentials("Bearer abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(credentials("bearer  abc "), Some((Scheme::Bearer, "abc")));
        assert_eq!(credentials("DPoP abc"), Some((Scheme::Dpop, "abc")));
        assert_eq!(credentials("Basic abc"), None);
        assert_eq!(credentials("Bearer"), None);
    }
}
