//! The flows a browser or an API client goes through: [`login`] (and its
//! [`silent`] attempt), [`callback`], [`logout`], [`backchannel`] logout and
//! [`bearer`] tokens, and API calls through the [`proxy`].
//! Each takes only the parts it needs and answers with a [`Reply`]: the
//! response, and what should happen to the cookies.

pub(crate) mod backchannel;
pub(crate) mod bearer;
pub(crate) mod callback;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod proxy;
pub(crate) mod silent;
pub(crate) mod spent;
pub(crate) mod transaction;

use poem::{http::StatusCode, Request, Response};

use crate::{cookie::writer::CookieChanges, oidc::providers::Providers};

/// A flow's answer: the response, and the cookie changes the middleware
/// writes into it.
pub(crate) struct Reply {
    pub(crate) response: Response,
    pub(crate) cookies: CookieChanges,
}

impl Reply {
    pub(crate) fn redirect(location: &str, cookies: CookieChanges) -> Self {
        Self {
            response: redirect(location),
            cookies,
        }
    }
}

/// A `302 Found` to `location`, never cached.
pub(crate) fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(poem::http::header::LOCATION, location)
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .finish()
}

/// The host a request is for: the authority of its URI when it has one
/// (HTTP/2's `:authority`, an absolute-form request, which RFC 9112 3.2.2
/// puts before `Host`), else its `Host` header.
pub(crate) fn request_host(req: &Request) -> Option<&str> {
    req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(poem::http::header::HOST)
            .and_then(|v| v.to_str().ok())
    })
}

/// Whether the request comes from another site's page: as the browser
/// says (`Sec-Fetch-Site`), or by an `Origin` that is not the app's at the
/// request's host (`origin` as configured, or an allowed host's).
pub(crate) fn cross_site(req: &Request, providers: &Providers, origin: &str) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let fetched_from_elsewhere =
        header("sec-fetch-site").is_some_and(|site| !matches!(site, "same-origin" | "none"));
    let own = providers.origin_at(request_host(req), origin);
    let foreign_origin =
        header(poem::http::header::ORIGIN.as_str()).is_some_and(|origin| origin != own);
    fetched_from_elsewhere || foreign_origin
}
