//! `CivicAuthEndpoint`: the auth routes an app nests at `/auth`, from one
//! route table. The same table serves the plain endpoint and, in an
//! `OpenApiService`, the documented operations (see `openapi`), so a check
//! or a limit cannot exist on one and not the other.

use std::{future::Future, pin::Pin, sync::Arc};

use poem::{
    endpoint::BoxEndpoint,
    http::{header, Method, StatusCode},
    web::Json,
    Body, Endpoint, EndpointExt, IntoResponse, Middleware, Request, Response, Route, RouteMethod,
};

use super::{
    auth::{CivicAuth, LoginAt, Parts},
    middleware::RequestAuth,
    paths,
};
use crate::{
    cookie::writer::CookieChanges,
    error::{escape_html, Error},
    flow::{
        backchannel,
        login::{self, LoginOptions},
        Reply,
    },
    oidc::providers::Providers,
    step_up::StepUp,
};

/// Serves `/login`, `/callback`, `/logout`, `/logoutcallback`, `/user`,
/// `/backchannel-logout` (register `<app>/auth/backchannel-logout` as the
/// client's back-channel logout URI at the provider; it needs a server-side
/// session store) and `/jwks` (the public half of the app's
/// [`ClientKey`](crate::ClientKey), for a provider that reads it from the
/// client's `jwks_uri`); nest it at `/auth` (or set
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
    /// What its OpenAPI operations serve.
    #[cfg_attr(not(feature = "openapi"), allow(dead_code))]
    pub(crate) auth: CivicAuth,
    routes: BoxEndpoint<'static>,
}

impl CivicAuthEndpoint {
    /// The auth routes of `auth`.
    pub fn new(auth: &CivicAuth) -> Self {
        let mut route = Route::new();
        for (path, methods) in route_endpoints(auth) {
            let mut per_method = RouteMethod::new();
            for (method, endpoint) in methods {
                per_method = per_method.method(method, endpoint);
            }
            route = route.at(path, per_method);
        }
        Self {
            auth: auth.clone(),
            routes: route.boxed(),
        }
    }
}

impl Endpoint for CivicAuthEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.routes.call(req).await
    }
}

/// Each path of the table with its methods' endpoints, in table order.
pub(crate) fn route_endpoints(
    auth: &CivicAuth,
) -> Vec<(&'static str, Vec<(Method, BoxEndpoint<'static>)>)> {
    let mut paths: Vec<(&'static str, Vec<(Method, BoxEndpoint<'static>)>)> = Vec::new();
    for route in ROUTES {
        // Each route writes its cookies through the middleware, mounted
        // here too for apps that nest the routes outside `.with(auth)`.
        let endpoint = auth
            .transform(RouteEndpoint {
                parts: auth.parts.clone(),
                handler: route.handler,
            })
            .boxed();
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, methods)) => methods.push((route.method.clone(), endpoint)),
            None => paths.push((route.path, vec![(route.method.clone(), endpoint)])),
        }
    }
    paths
}

/// A route's handler: the request, its body, and the parts it may use.
type Handler = for<'a> fn(&'a Parts, &'a Request, Body) -> Answering<'a>;
type Answering<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// One auth route: where, what it does, and what the docs say of it.
pub(crate) struct AuthRoute {
    pub(crate) path: &'static str,
    pub(crate) method: Method,
    handler: Handler,
    #[cfg_attr(not(feature = "openapi"), allow(dead_code))]
    pub(crate) doc: RouteDoc,
}

/// The OpenAPI documentation of a route (read only with the `openapi`
/// feature; kept in the table either way, beside what it documents).
#[cfg_attr(not(feature = "openapi"), allow(dead_code))]
pub(crate) struct RouteDoc {
    pub(crate) summary: &'static str,
    pub(crate) description: &'static str,
    /// Path parameters (`:name` in the path), with what each is.
    pub(crate) path: &'static [(&'static str, &'static str)],
    /// Query parameters, with what each is.
    pub(crate) query: &'static [(&'static str, &'static str)],
    /// Whether it needs a logged-in user (401 otherwise).
    pub(crate) secured: bool,
    pub(crate) answer: Answer,
}

/// What kind of answer a route gives.
pub(crate) enum Answer {
    /// A redirect, or a readable error page.
    Navigation,
    /// The user as JSON, or 401.
    User,
    /// The back-channel logout answer, to a form with a `logout_token`.
    Backchannel,
    /// A public JWK set.
    KeySet,
    /// Like `Navigation`, to a form with the login's answer.
    PostedCallback,
}

pub(crate) const ROUTES: &[AuthRoute] = &[
    AuthRoute {
        path: paths::LOGIN,
        method: Method::GET,
        handler: start_login,
        doc: RouteDoc {
            path: &[],
            summary: "Start a login",
            description: "Redirects to the provider's login page (Authorization Code flow with PKCE); `returnTo`, a path of this app, is where the browser lands after.",
            query: &[
                ("returnTo", "A path of this app to land on after the login."),
                ("provider", "The name of the provider to log in at, for an app with several; without it such an app shows a page to choose one."),
                ("max_age", "Step-up: the login must be at most this many seconds old; the provider asks the user to log in again if it is older."),
                ("acr_values", "Step-up: the authentication levels (`acr`) the login must reach, space-separated."),
            ],
            answer: Answer::Navigation,
            secured: false,
        },
    },
    AuthRoute {
        path: paths::CALLBACK,
        method: Method::GET,
        handler: finish_login,
        doc: RouteDoc {
            path: &[],
            summary: "Finish a login",
            description: "Where the provider sends the browser back: checks `state` and `iss`, exchanges the code, verifies the ID token, starts a session and redirects to `returnTo` or the landing page.",
            query: CALLBACK_PARAMETERS,
            answer: Answer::Navigation,
            secured: false,
        },
    },
    AuthRoute {
        path: paths::CALLBACK,
        method: Method::POST,
        handler: finish_login,
        doc: RouteDoc {
            path: &[],
            summary: "Finish a login (form post)",
            description: "The same as the GET, for an app set up with `response_mode=form_post`: the provider's page posts the answer as a form, so the code never appears in a URL.",
            query: &[],
            answer: Answer::PostedCallback,
            secured: false,
        },
    },
    AuthRoute {
        path: paths::PROVIDER_CALLBACK,
        method: Method::GET,
        handler: finish_login,
        doc: PROVIDER_CALLBACK_DOC,
    },
    AuthRoute {
        path: paths::PROVIDER_CALLBACK,
        method: Method::POST,
        handler: finish_login,
        doc: RouteDoc {
            summary: "Finish a login at another provider (form post)",
            query: &[],
            answer: Answer::PostedCallback,
            ..PROVIDER_CALLBACK_DOC
        },
    },
    AuthRoute {
        path: paths::LOGOUT,
        method: Method::GET,
        handler: start_logout,
        doc: LOGOUT_DOC,
    },
    AuthRoute {
        path: paths::LOGOUT,
        method: Method::POST,
        handler: start_logout,
        doc: LOGOUT_DOC,
    },
    AuthRoute {
        path: paths::LOGOUT_CALLBACK,
        method: Method::GET,
        handler: finish_logout,
        doc: RouteDoc {
            path: &[],
            summary: "After logout",
            description: "Where the provider sends the browser back after logout, when the app registered it as its post-logout URL: checks the logout's `state`, then lands on the landing page.",
            query: &[("state", "The logout's `state`.")],
            answer: Answer::Navigation,
            secured: false,
        },
    },
    AuthRoute {
        path: paths::USER,
        method: Method::GET,
        handler: current_user,
        doc: RouteDoc {
            path: &[],
            summary: "The current user",
            description: "The logged-in user as JSON; 401 when logged out.",
            query: &[],
            answer: Answer::User,
            secured: true,
        },
    },
    AuthRoute {
        path: paths::BACKCHANNEL_LOGOUT,
        method: Method::POST,
        handler: backchannel_logout,
        doc: RouteDoc {
            path: &[],
            summary: "Back-channel logout",
            description: "The provider's server-to-server notice (OpenID Connect Back-Channel Logout 1.0) that a user's provider session ended: a form with a signed `logout_token`. Ends the matching sessions (server-side stores only).",
            query: &[],
            answer: Answer::Backchannel,
            secured: false,
        },
    },
    AuthRoute {
        path: paths::JWKS,
        method: Method::GET,
        handler: client_keys,
        doc: RouteDoc {
            path: &[],
            summary: "The app's public keys",
            description: "The public half of the app's client key (`private_key_jwt`) as a JWK set, for a provider that reads the client's keys from its registered `jwks_uri`; 404 when the app has no client key.",
            query: &[],
            answer: Answer::KeySet,
            secured: false,
        },
    },
];

/// What the provider's answer to a login carries.
pub(crate) const CALLBACK_PARAMETERS: &[(&str, &str)] = &[
    ("code", "The authorization code."),
    ("state", "The login's `state`."),
    ("iss", "The provider's issuer (RFC 9207)."),
    ("error", "The provider's error code, when the login failed."),
    (
        "error_description",
        "The provider's description of the error.",
    ),
];

/// The longest form-posted login answer read: its parameters are bounded
/// (`code` and `iss` 2 KB each), and anyone can post here.
const MAX_POSTED_ANSWER: usize = 8 * 1024;

const PROVIDER_CALLBACK_DOC: RouteDoc = RouteDoc {
    path: &[("provider", "The provider's name.")],
    summary: "Finish a login at another provider",
    description: "The callback of an app's other providers (`/callback/NAME`, or any path the provider's `redirect_url` names and the app routes here), taken as `/callback` takes it; an answer is taken only at the address of the provider its login went to.",
    query: CALLBACK_PARAMETERS,
    answer: Answer::Navigation,
    secured: false,
};

const LOGOUT_DOC: RouteDoc = RouteDoc {
    path: &[],
    summary: "Log out",
    description: "Ends the local session, revokes its tokens, then ends the provider's (RP-initiated logout); lands on the post-logout URL. Only from the app's own pages: a navigation from another site gets a page (200) whose button logs out, and a post from another site is refused (403).",
    query: &[],
    answer: Answer::Navigation,
    secured: false,
};

/// Runs one route of the table and hands its cookie changes to the middleware.
struct RouteEndpoint {
    parts: Arc<Parts>,
    handler: Handler,
}

impl Endpoint for RouteEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let body = req.take_body();
        let reply = (self.handler)(&self.parts, &req, body).await;
        RequestAuth::record(&req, reply.cookies)?;
        Ok(reply.response)
    }
}

fn start_login<'a>(parts: &'a Parts, req: &'a Request, _: Body) -> Answering<'a> {
    Box::pin(async move {
        let query = req.uri().query().unwrap_or_default();
        let param = |wanted: &str| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.into_owned())
        };
        let (return_to, provider) = (param("returnTo"), param("provider"));
        let started = async {
            let options = LoginOptions {
                return_to: return_to.and_then(|path| parts.config.return_to(&path)),
                step_up: StepUp::from_query(query)?,
                silent: false,
            };
            match parts.login_at(req, provider.as_deref())? {
                LoginAt::Provider(client, back) => {
                    login::start(client, &back, &parts.transactions, req, options).await
                }
                LoginAt::Choice => Ok(Reply {
                    response: chooser(&parts.providers, query),
                    cookies: CookieChanges::default(),
                }),
            }
        };
        page_on_error(parts, started.await, "login could not start")
    })
}

/// The page where a browser chooses a provider: a link per provider to
/// this route again, naming it, with the rest of the query as it was.
fn chooser(providers: &Providers, query: &str) -> Response {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name != "provider")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let items: String = providers
        .all()
        .iter()
        .map(|provider| {
            let href = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("provider", provider.name())
                .extend_pairs(&kept)
                .finish();
            format!(
                "<li><a href=\"?{}\">Log in with {}</a></li>",
                escape_html(&href),
                escape_html(provider.name())
            )
        })
        .collect();
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Log in</title></head><body><main><h1>Log in</h1>\
             <nav aria-label=\"Providers\"><ul>{items}</ul></nav></main></body></html>"
        ))
}

fn finish_login<'a>(parts: &'a Parts, req: &'a Request, body: Body) -> Answering<'a> {
    Box::pin(async move {
        let finished = async {
            if req.method() != Method::POST {
                return parts.callback().finish(req, None).await;
            }
            let posted = body
                .into_bytes_limit(MAX_POSTED_ANSWER)
                .await
                .map_err(|_| {
                    Error::InvalidLoginRequest(format!(
                    "the posted login answer is unreadable or larger than {MAX_POSTED_ANSWER} bytes"
                ))
                })?;
            parts.callback().finish(req, Some(&posted)).await
        };
        page_on_error(parts, finished.await, "login callback refused")
    })
}

fn start_logout<'a>(parts: &'a Parts, req: &'a Request, _: Body) -> Answering<'a> {
    Box::pin(async move { page_on_error(parts, parts.logout().start(req).await, "logout refused") })
}

fn finish_logout<'a>(parts: &'a Parts, req: &'a Request, _: Body) -> Answering<'a> {
    Box::pin(async move {
        page_on_error(
            parts,
            parts.logout().finish(req).await,
            "logout callback refused",
        )
    })
}

fn current_user<'a>(_: &'a Parts, req: &'a Request, _: Body) -> Answering<'a> {
    Box::pin(async move {
        let response = match RequestAuth::resolve(req).await {
            Ok(user) => Json(&*user).into_response(),
            Err(error) => error.json_body(),
        };
        Reply {
            response,
            cookies: CookieChanges::default(),
        }
    })
}

fn backchannel_logout<'a>(parts: &'a Parts, _: &'a Request, body: Body) -> Answering<'a> {
    Box::pin(async move {
        let token = backchannel::read_token(body).await;
        Reply {
            response: parts.backchannel().handle(token).await,
            cookies: CookieChanges::default(),
        }
    })
}

fn client_keys<'a>(parts: &'a Parts, _: &'a Request, _: Body) -> Answering<'a> {
    Box::pin(async move {
        // Every provider's client key, once each.
        let mut keys = jsonwebtoken::jwk::JwkSet { keys: Vec::new() };
        for key in parts
            .config
            .all_providers()
            .filter_map(|p| p.credentials.key.as_ref())
        {
            for jwk in key.public_key_set().keys {
                if !keys
                    .keys
                    .iter()
                    .any(|k| k.common.key_id == jwk.common.key_id)
                {
                    keys.keys.push(jwk);
                }
            }
        }
        let response = match keys.keys.is_empty() {
            false => Json(keys)
                .with_content_type("application/jwk-set+json")
                .with_header(header::CACHE_CONTROL, "public, max-age=300")
                .into_response(),
            true => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .content_type("text/plain; charset=utf-8")
                .body("this app has no client key (`client_key`, CIVIC_CLIENT_KEY)"),
        };
        Reply {
            response,
            cookies: CookieChanges::default(),
        }
    })
}

/// A flow's error as a readable page for the browser, with a link to the
/// app's start (below its base path).
fn page_on_error(parts: &Parts, reply: Result<Reply, Error>, context: &str) -> Reply {
    reply.unwrap_or_else(|error| {
        tracing::warn!(%error, "{context}");
        Reply {
            response: error.html_page(&parts.config.base_path.join("/")),
            cookies: CookieChanges::default(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_serves_exactly_the_auth_routes_paths() {
        for route in ROUTES {
            assert!(paths::ALL.contains(&route.path), "{}", route.path);
        }
        for path in paths::ALL {
            assert!(ROUTES.iter().any(|route| route.path == *path), "{path}");
        }
    }
}
