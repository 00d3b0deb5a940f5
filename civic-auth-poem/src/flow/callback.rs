//! `/auth/callback`: the provider's answer to a login. Checks, in order: the
//! `state` against this browser's transaction (single use), the provider's
//! `error`, `iss` (RFC 9207); then the code exchange with the PKCE verifier
//! and the ID token's verification, and any step-up the login asked for
//! (`max_age`, `acr_values`), before a session exists.

use poem::Request;

use super::{
    spent::{Once, Spend, Spent},
    transaction::{LoginTransaction, Transactions},
    Reply,
};
use crate::{
    clock::Clock,
    config::ResponseMode,
    cookie::writer::CookieChanges,
    error::Error,
    hooks::{Hooks, Login},
    local_path::LocalPath,
    oidc::{client::OidcClient, dpop::DpopKey, providers::Providers},
    random::{State, MAX_LEN as MAX_STATE_LEN},
    session::sessions::Sessions,
    user::CivicUser,
};

/// The provider's answer to a login, from the callback's query or posted
/// form; every value bounded in length.
#[derive(Default)]
pub(crate) struct CallbackAnswer {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackAnswer {
    pub(crate) fn parse(query: &[u8]) -> Self {
        let mut parsed = Self::default();
        for (key, value) in url::form_urlencoded::parse(query) {
            let (slot, max) = match key.as_ref() {
                "code" => (&mut parsed.code, 2048),
                "state" => (&mut parsed.state, MAX_STATE_LEN),
                "iss" => (&mut parsed.iss, 2048),
                "error" => (&mut parsed.error, 256),
                "error_description" => (&mut parsed.error_description, 512),
                _ => continue,
            };
            // A repeated parameter is ambiguous: keep neither.
            *slot = match slot {
                None if value.len() <= max => Some(value.into_owned()),
                _ => Some(String::new()),
            };
        }
        parsed
    }

    /// The `state`, if present and well formed.
    pub(crate) fn state(&self) -> Result<State, Error> {
        let state = self
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(Error::MissingCallbackParameter("state"))?;
        State::parse(state).ok_or(Error::StateMismatch)
    }
}

/// What a callback needs.
pub(crate) struct Callback<'a> {
    pub(crate) providers: &'a Providers,
    pub(crate) transactions: &'a Transactions,
    pub(crate) spent: &'a Spent,
    pub(crate) sessions: &'a Sessions,
    /// Where a login without `returnTo` lands.
    pub(crate) landing: &'a LocalPath,
    pub(crate) clock: &'a Clock,
    /// The app's login hook, which may refuse or attach app data.
    pub(crate) hooks: &'a Hooks,
    /// How the provider hands the answer back.
    pub(crate) response_mode: ResponseMode,
}

impl Callback<'_> {
    /// Finishes a login whose answer `req` carries, in its query or, when
    /// `posted`, in the form `body` (`response_mode=form_post`); the reply
    /// carries the new session.
    pub(crate) async fn finish(
        &self,
        req: &Request,
        posted: Option<&[u8]>,
    ) -> Result<Reply, Error> {
        let (got, answer) = match posted {
            Some(body) => (ResponseMode::FormPost, body),
            None => (
                ResponseMode::Query,
                req.uri().query().unwrap_or_default().as_bytes(),
            ),
        };
        if got != self.response_mode {
            return Err(Error::WrongResponseMode {
                got: got.described(),
                expected: self.response_mode.described(),
            });
        }
        let query = CallbackAnswer::parse(answer);
        let state = query.state()?;
        let tx = self
            .transactions
            .read(req, &state)
            .ok_or(Error::StateMismatch)?;
        let finished = match self.provider_of(req, &tx) {
            Ok(client) => self.complete(client, req, query, &tx).await,
            Err(error) => Err(error),
        };
        match finished {
            // A silent login that did not log the browser in (most often
            // `login_required`) leaves it anonymous, where it was going.
            Err(error) if tx.silent => {
                tracing::debug!(reason = %error, "a silent login left the browser anonymous");
                Ok(Reply::redirect(
                    self.landing_of(&tx).as_str(),
                    CookieChanges::transient(self.transactions.forget(&state)),
                ))
            }
            finished => finished,
        }
    }

    /// The provider the login went to, if the answer came back where that
    /// provider sends its answers: each provider has a redirect URL of its
    /// own, so an answer delivered at one provider's URL cannot finish a
    /// login started at another (the mix-up attack, whether or not the
    /// answer names its issuer).
    fn provider_of(&self, req: &Request, tx: &LoginTransaction) -> Result<&OidcClient, Error> {
        let name = tx.provider.as_deref();
        let client = self
            .providers
            .by_name(name)
            .ok_or_else(|| Error::UnknownProvider(name.unwrap_or_default().to_owned()))?;
        // The path as routed (a nested route sees it without its prefix),
        // so it is the end of the redirect URL's; no provider's path ends
        // another's (see `CivicAuthConfig::with_provider`).
        if !client.redirect_url().path().ends_with(req.uri().path()) {
            return Err(Error::AnswerFromAnotherProvider(client.name().to_owned()));
        }
        Ok(client)
    }

    fn landing_of<'t>(&'t self, tx: &'t LoginTransaction) -> &'t LocalPath {
        tx.return_to.as_ref().unwrap_or(self.landing)
    }

    /// The rest of a callback, once it is known to be this browser's login.
    async fn complete(
        &self,
        client: &OidcClient,
        req: &Request,
        query: CallbackAnswer,
        tx: &LoginTransaction,
    ) -> Result<Reply, Error> {
        // RFC 9207 2.4: an error answer's issuer is checked too.
        client.check_response_issuer(query.iss.as_deref()).await?;
        // The provider's error is shown only for a login this browser started:
        // anyone can craft a link with an `error_description` of their choosing.
        if let Some(error) = query.error.filter(|e| !e.is_empty()) {
            // An API the provider does not know (RFC 8707 2): the app's
            // settings must change, not the user.
            if error == "invalid_target" {
                return Err(client.refused_resources(query.error_description));
            }
            return Err(Error::LoginRefused {
                error,
                description: query.error_description,
            });
        }
        let code = query
            .code
            .filter(|c| !c.is_empty())
            .ok_or(Error::MissingCallbackParameter("code"))?;
        let state = tx.state.as_str();
        if self
            .spent
            .spend(Once::LoginState, state, tx.expires_at())
            .await?
            == Spend::Replayed
        {
            return Err(Error::StateMismatch);
        }
        let finished = self.log_in(client, req, code, tx).await;
        // Only a login that finished keeps its state spent: one that failed
        // (a made-up code, a refused token) leaves no room taken, so a
        // flood of them cannot fill it. Its code is spent at the provider.
        if finished.is_err() {
            if let Err(error) = self.spent.forget(Once::LoginState, state).await {
                tracing::warn!(%error, "a failed login's state stays spent until it expires");
            }
        }
        finished
    }

    /// Exchanges the code, checks what the provider sent, and starts the
    /// session.
    async fn log_in(
        &self,
        client: &OidcClient,
        req: &Request,
        code: String,
        tx: &LoginTransaction,
    ) -> Result<Reply, Error> {
        // The redirect URL the login sent: the callback is reached there.
        let back = self
            .providers
            .at_host(client.redirect_url(), super::request_host(req));
        let login = client
            .exchange_code(
                code,
                &tx.pkce_verifier,
                &tx.nonce,
                tx.dpop_key.as_ref(),
                &back,
            )
            .await?;
        let sid = login.claims.sid().map(str::to_owned);
        let mut user = login.claims.into_user()?;
        user.provider = Some(client.name().to_owned());
        // The route that asked for this login checks the same, so a login
        // accepted here is one it accepts.
        if let Some(reason) = tx.step_up.unmet_by(&user, self.clock.now_secs()) {
            return Err(Error::StepUpRefused(reason));
        }
        // Kept only when the provider bound the tokens to it.
        let dpop = tx.dpop_key.clone().filter(|_| login.tokens.dpop_bound);
        if client.userinfo_at_login() || user.lacks_profile() {
            merge_userinfo(client, &login.tokens.access_token, dpop.as_ref(), &mut user).await?;
        }
        let app_data = self
            .hooks
            .logged_in(Login {
                user: user.clone(),
                id_token: login.tokens.id_token.clone().unwrap_or_default(),
                access_token: login.tokens.access_token.clone(),
            })
            .await?;
        // A new login in this browser ends the session it had, not only its
        // cookie (which the new one replaces): if the store cannot, its
        // record expires on its own, and this login fails to start anyway.
        if let Err(error) = self.sessions.end(req).await {
            tracing::warn!(%error, "could not delete the browser's previous session");
        }
        let session = self
            .sessions
            .start(user, login.tokens, sid, dpop, app_data, client.resources())
            .await?;
        Ok(Reply::redirect(
            self.landing_of(tx).as_str(),
            CookieChanges::session(session).with(CookieChanges::transient(
                self.transactions.forget(&tx.state),
            )),
        ))
    }
}

/// Takes the profile from `client`'s userinfo; its `sub` must be the same
/// user.
async fn merge_userinfo(
    client: &OidcClient,
    access_token: &str,
    dpop: Option<&DpopKey>,
    user: &mut CivicUser,
) -> Result<(), Error> {
    let Some(info) = client.userinfo(access_token, dpop).await? else {
        return Ok(());
    };
    if info.get("sub").and_then(|v| v.as_str()) != Some(user.id.as_str()) {
        return Err(Error::InvalidUserinfo(
            "it describes another user than the ID token (`sub` differs)".into(),
        ));
    }
    user.update_from(CivicUser::from_userinfo(info)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_or_repeated_parameters_are_emptied() {
        let q = CallbackAnswer::parse(
            format!("state={}&code=a&code=b&iss=x", "s".repeat(500)).as_bytes(),
        );
        assert_eq!(q.state.as_deref(), Some(""));
        assert_eq!(q.code.as_deref(), Some(""));
        assert_eq!(q.iss.as_deref(), Some("x"));
        assert!(matches!(
            q.state(),
            Err(Error::MissingCallbackParameter("state"))
        ));
        let malformed = CallbackAnswer::parse(b"state=a.b");
        assert!(matches!(malformed.state(), Err(Error::StateMismatch)));
    }
}
