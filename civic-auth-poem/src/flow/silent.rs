//! Silent login (`prompt=none`): an anonymous browser's first page view
//! tries once to log in without showing the provider's pages, for users
//! the provider knows already. Whatever the answer (a session, or
//! `login_required`), the browser is not tried again for a while: a cookie
//! says it was, and a logout sets it too, so that leaving is not undone.

use std::time::Duration;

use poem::Request;

use crate::cookie::{request::RequestCookies, writer::TransientCookie, CookieNames};

pub(crate) struct SilentLogin {
    /// How long a browser that was tried is left alone.
    interval: Duration,
    names: CookieNames,
    /// The auth routes' paths: never interrupted.
    auth_routes: Vec<String>,
    /// The app's base path, where its cookie lives.
    path: String,
}

impl SilentLogin {
    /// `auth_routes` are the paths of the auth routes as the browser asks
    /// for them (`/auth/callback`, ...).
    pub(crate) fn new(
        interval: Duration,
        names: CookieNames,
        auth_routes: Vec<String>,
        path: &str,
    ) -> Self {
        Self {
            interval,
            names,
            auth_routes,
            path: path.to_owned(),
        }
    }

    /// Whether the page view `req` of `path` (as sent, whatever the
    /// nesting) should try: not an auth route, and a browser with no
    /// session cookie that was not tried lately.
    pub(crate) fn applies(&self, path: &str, req: &Request) -> bool {
        if self.auth_routes.iter().any(|route| route == path) {
            return false;
        }
        let cookies = RequestCookies::of(req);
        !cookies.has(self.names.silent) && cookies.starting(self.names.session).next().is_none()
    }

    /// The cookie that leaves this browser alone for a while.
    pub(crate) fn tried(&self) -> TransientCookie {
        TransientCookie::Set {
            name: self.names.silent.to_owned(),
            value: "1".to_owned(),
            path: self.path.clone(),
            max_age: self.interval,
            cross_site: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silent_with(routes: &[&str]) -> SilentLogin {
        let routes = routes.iter().map(|r| (*r).to_owned()).collect();
        SilentLogin::new(
            Duration::from_secs(60),
            CookieNames::new(false, false),
            routes,
            "/",
        )
    }

    fn silent() -> SilentLogin {
        silent_with(&["/auth/login", "/auth/callback", "/auth/logoutcallback"])
    }

    fn page(cookie: &str) -> Request {
        let mut req = Request::builder();
        if !cookie.is_empty() {
            req = req.header(poem::http::header::COOKIE, cookie);
        }
        req.finish()
    }

    #[test]
    fn only_anonymous_untried_browsers_off_the_auth_routes_are_tried() {
        let silent = silent();
        assert!(silent.applies("/", &page("")));
        assert!(silent.applies("/shop", &page("theme=dark")));
        assert!(!silent.applies("/auth/callback", &page("")));
        assert!(!silent.applies("/auth/logoutcallback", &page("")));
        assert!(!silent.applies("/", &page("civic_session=abc")));
        assert!(!silent.applies("/", &page("civic_session.0=abc")));
        assert!(!silent.applies("/", &page("civic_auth_silent=1")));
        assert!(
            silent.applies("/authors", &page("")),
            "only the auth routes"
        );
        assert!(silent.applies("/auth/callback/x", &page("")));
    }
}
