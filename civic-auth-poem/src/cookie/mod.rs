//! The app's cookies: the secret that seals them ([`secret`]), sealing
//! ([`sealer`]), reading them from a request ([`request`]), and the one
//! writer of every `Set-Cookie` the library sends ([`writer`]).

pub(crate) mod request;
pub(crate) mod sealer;
pub(crate) mod secret;
pub(crate) mod writer;

/// The session cookie's name; chunks are `civic_session.0`, `civic_session.1`, ...
pub const SESSION_COOKIE: &str = "civic_session";
/// The session cookie's name in https apps: the `__Host-` prefix makes
/// browsers refuse it from anywhere but this host, so a sibling subdomain
/// cannot plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-civic_session";

/// The names of the app's cookies: `__Host-` prefixed when they are
/// `Secure` (and at `/`), `__Secure-` when they are scoped to an app's
/// base path (`__Host-` needs the path `/`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CookieNames {
    pub(crate) session: &'static str,
    /// Login transaction cookies are `<login>.<state>`.
    pub(crate) login: &'static str,
    /// Those of logins answered by a form post, which live below `/`.
    pub(crate) posted_login: &'static str,
    pub(crate) logout: &'static str,
    /// Set when a silent login was tried (or the user logged out).
    pub(crate) silent: &'static str,
}

impl CookieNames {
    /// The names of `config`'s app's cookies.
    pub(crate) fn of(config: &crate::config::CivicAuthConfig) -> Self {
        Self::new(config.secure_cookies(), config.cookie_path() != "/")
    }

    /// `scoped`: the cookies live at a base path, not at `/`.
    pub(crate) fn new(secure: bool, scoped: bool) -> Self {
        if secure && scoped {
            Self {
                session: "__Secure-civic_session",
                login: "__Secure-civic_auth_tx",
                posted_login: "__Secure-civic_auth_tx",
                logout: "__Secure-civic_auth_logout",
                silent: "__Secure-civic_auth_silent",
            }
        } else if secure {
            Self {
                session: SECURE_SESSION_COOKIE,
                login: "__Host-civic_auth_tx",
                posted_login: "__Secure-civic_auth_tx",
                logout: "__Host-civic_auth_logout",
                silent: "__Host-civic_auth_silent",
            }
        } else {
            Self {
                session: SESSION_COOKIE,
                login: "civic_auth_tx",
                posted_login: "civic_auth_tx",
                logout: "civic_auth_logout",
                silent: "civic_auth_silent",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_at_a_base_path_cannot_have_the_host_prefix() {
        assert_eq!(CookieNames::new(true, false).session, SECURE_SESSION_COOKIE);
        let scoped = CookieNames::new(true, true);
        for name in [scoped.session, scoped.login, scoped.logout, scoped.silent] {
            assert!(name.starts_with("__Secure-"), "{name}");
        }
        assert_eq!(CookieNames::new(false, true).session, SESSION_COOKIE);
    }
}
