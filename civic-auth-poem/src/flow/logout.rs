//! `/auth/logout` and `/auth/logoutcallback`. The local session ends first,
//! so logout works while the provider is down; then the browser goes to the
//! provider's end-session endpoint (RP-initiated logout).
//!
//! A `state` is sent only when the provider will bring the browser back to
//! `/auth/logoutcallback` (the app registered it as its post-logout URL),
//! since only there can it be checked; a page of the app's own would
//! receive a value it cannot verify.
//!
//! A logout must come from the app's own pages: a cross-site navigation to
//! `/auth/logout` (a link elsewhere, which would log the user out against
//! their will) gets a page whose button logs out, and a cross-site `POST` is
//! refused. `/auth/logoutcallback` is reached from the provider, a cross-site
//! navigation by nature: there the `state` proves the logout was this
//! browser's.

use std::sync::Arc;

use poem::{
    http::{header, Method, StatusCode},
    Request, Response,
};
use url::Url;

use super::{silent::SilentLogin, transaction::Transactions, Reply};
use crate::{
    cookie::writer::{CookieChanges, SessionCookie},
    error::Error,
    hooks::Hooks,
    local_path::LocalPath,
    oidc::{client::OidcClient, providers::Providers},
    random::State,
    session::{sessions::Sessions, Session},
};

/// What logout needs.
pub(crate) struct Logout<'a> {
    pub(crate) providers: &'a Providers,
    pub(crate) sessions: &'a Sessions,
    pub(crate) transactions: &'a Transactions,
    /// The app's post-logout URL (its first provider's).
    pub(crate) post_logout_redirect_url: &'a Url,
    /// Where the logout callback lands when it is the post-logout URL.
    pub(crate) landing: &'a LocalPath,
    /// The app's origin (`scheme://host:port`), which its own pages send.
    pub(crate) origin: &'a str,
    /// When on, a logout also leaves the browser alone for a while.
    pub(crate) silent: Option<&'a SilentLogin>,
    /// The app's logout hook.
    pub(crate) hooks: &'a Hooks,
}

impl Logout<'_> {
    /// Ends the session here, then at the provider when it can be reached.
    pub(crate) async fn start(&self, req: &Request) -> Result<Reply, Error> {
        if super::cross_site(req, self.providers, self.origin) {
            if req.method() == Method::POST {
                return Err(Error::CrossSiteLogout);
            }
            return Ok(Reply {
                response: confirmation(req.original_uri().path(), self.landing.as_str()),
                cookies: CookieChanges::default(),
            });
        }
        // A store that cannot be reached leaves the session alive: the
        // user is told so, keeps the cookie, and can log out once it is back.
        let unfinished = |error: Error| Error::LogoutUnfinished(error.to_string());
        let session = self.sessions.load(req).await.map_err(unfinished)?;
        let session = session.map(|loaded| loaded.session);
        let id_token = session.as_ref().map(|s| s.id_token.clone());
        let ended = self.sessions.end(req).await.map_err(unfinished)?;
        let mut cookies = CookieChanges::session(ended);
        if let Some(silent) = self.silent {
            cookies.merge(CookieChanges::transient(silent.tried()));
        }
        // The provider the session is from (none when the app no longer
        // has it: that one is told nothing, and no other gets its tokens);
        // without a session, the app's first.
        let client = match &session {
            Some(session) => self.providers.of_user(&session.user),
            None => Some(self.providers.first()),
        };
        if let Some(session) = session {
            if let Some(client) = client {
                revoke(client, &session);
            }
            session.logged_out(self.hooks).await;
        }
        let target = client.map_or(self.post_logout_redirect_url, |c| {
            c.post_logout_redirect_url()
        });
        let target = self.providers.at_host(target, super::request_host(req));
        let target = target.as_ref();
        // `/auth/logout` -> `/auth/logoutcallback`, wherever the routes are nested.
        let callback = format!(
            "{}callback",
            req.original_uri().path().trim_end_matches('/')
        );
        let state = (target.path() == callback).then(State::generate);
        let end_session = match client {
            Some(client) => {
                client
                    .end_session_url(id_token.as_deref(), target, state.as_ref())
                    .await
            }
            None => None,
        };
        match end_session {
            Some(url) => {
                if let Some(state) = &state {
                    cookies.merge(CookieChanges::transient(
                        self.transactions.keep_logout(state),
                    ));
                }
                Ok(Reply::redirect(url.as_str(), cookies))
            }
            // No provider to go through: straight where the callback would land.
            None if state.is_some() => Ok(Reply::redirect(self.landing.as_str(), cookies)),
            None => Ok(Reply::redirect(target.as_str(), cookies)),
        }
    }

    /// Where the provider sends the browser back: the `state` must be the
    /// one this browser's logout sent.
    pub(crate) async fn finish(&self, req: &Request) -> Result<Reply, Error> {
        let state = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "state")
            .and_then(|(_, value)| State::parse(&value));
        if !state.is_some_and(|state| self.transactions.is_logout(req, &state)) {
            return Err(Error::LogoutStateMismatch);
        }
        let target = self.post_logout_redirect_url;
        let location = if target.path() == req.original_uri().path() {
            self.landing.as_str()
        } else {
            target.as_str()
        };
        // The session ended at `/auth/logout`; this only sweeps the cookie.
        let ended = self.sessions.end(req).await.unwrap_or(SessionCookie::Clear);
        let cookies = CookieChanges::session(ended)
            .with(CookieChanges::transient(self.transactions.forget_logout()));
        Ok(Reply::redirect(location, cookies))
    }
}

/// Revokes the session's tokens at its provider (RFC 7009), in the
/// background so that logout never waits for it: a copy of a cookie
/// session's cookie then dies at its next refresh, not before (this app
/// does not ask the provider about its own sessions per request). With a
/// store, the session itself is gone already.
fn revoke(client: &Arc<OidcClient>, session: &Session) {
    let client = Arc::clone(client);
    let tokens = [
        session.refresh_token.clone().map(|t| (t, "refresh_token")),
        Some((session.access_token.clone(), "access_token")),
    ];
    tokio::spawn(async move {
        for (token, hint) in tokens.into_iter().flatten() {
            if let Err(error) = client.revoke(&token, hint).await {
                tracing::warn!(%error, hint, "could not revoke a token at logout");
            }
        }
    });
}

/// The page a cross-site logout link lands on: a button that logs out from
/// this app's own page.
fn confirmation(action: &str, stay: &str) -> Response {
    let stay = crate::error::escape_html(stay);
    let action = url::form_urlencoded::byte_serialize(action.as_bytes()).collect::<String>();
    // The path, encoded, keeps its slashes readable to the browser.
    let action = action.replace("%2F", "/");
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Log out?</title></head>\
             <body><h1>Log out?</h1><p>A page of another site sent you here to log out.</p>\
             <form method=\"post\" action=\"{action}\"><button type=\"submit\">Log out</button></form>\
             <p><a href=\"{stay}\">Stay logged in</a></p></body></html>"
        ))
}
