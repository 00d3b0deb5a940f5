//! `/auth/logout` and `/auth/logoutcallback`. The local session ends first,
//! so logout works while the provider is down; then the browser goes to the
//! provider's end-session endpoint (RP-initiated logout).
//!
//! A `state` is sent only when the provider will bring the browser back to
//! `/auth/logoutcallback` (the app registered it as its post-logout URL),
//! since only there can it be checked; a page of the app's own would
//! receive a value it cannot verify.

use poem::Request;
use url::Url;

use super::{transaction::Transactions, Reply};
use crate::{
    cookie::writer::CookieChanges, error::Error, local_path::LocalPath, oidc::client::OidcClient,
    random::State, session::sessions::Sessions,
};

/// What logout needs.
pub(crate) struct Logout<'a> {
    pub(crate) client: &'a OidcClient,
    pub(crate) sessions: &'a Sessions,
    pub(crate) transactions: &'a Transactions,
    pub(crate) post_logout_redirect_url: &'a Url,
    /// Where the logout callback lands when it is the post-logout URL.
    pub(crate) landing: &'a LocalPath,
}

impl Logout<'_> {
    /// Ends the session here, then at the provider when it can be reached.
    pub(crate) async fn start(&self, req: &Request) -> Reply {
        let id_token = match self.sessions.load(req).await {
            Ok(loaded) => loaded.map(|l| l.session.id_token.clone()),
            Err(_) => None,
        };
        let mut cookies = CookieChanges::session(self.sessions.end(req).await);
        let target = self.post_logout_redirect_url;
        // `/auth/logout` -> `/auth/logoutcallback`, wherever the routes are nested.
        let callback = format!(
            "{}callback",
            req.original_uri().path().trim_end_matches('/')
        );
        let state = (target.path() == callback).then(State::generate);
        let end_session = self
            .client
            .end_session_url(id_token.as_deref(), target, state.as_ref())
            .await;
        match end_session {
            Some(url) => {
                if let Some(state) = &state {
                    cookies.merge(CookieChanges::transient(
                        self.transactions.keep_logout(state),
                    ));
                }
                Reply::redirect(url.as_str(), cookies)
            }
            None => Reply::redirect(target.as_str(), cookies),
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
        let cookies = CookieChanges::session(self.sessions.end(req).await)
            .with(CookieChanges::transient(self.transactions.forget_logout()));
        Ok(Reply::redirect(location, cookies))
    }
}
