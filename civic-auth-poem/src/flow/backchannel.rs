//! OpenID Connect Back-Channel Logout 1.0: the provider tells the app, server
//! to server, that a user's provider session ended; the app ends its matching
//! sessions. Needs a server-side store: cookie sessions cannot be reached.

use poem::{http::StatusCode, Response};

use super::spent::{Once, Spend, Spent};
use crate::{
    error::Error,
    hooks::Hooks,
    oidc::{
        client::OidcClient,
        providers::Providers,
        verifier::{Claims, Expected, LOGOUT_TOKEN_ACCEPTED_SECS, MAX_TOKEN_LEN},
    },
    session::{sessions::Sessions, state::Tag, Session},
};

/// The `logout_token` of the form-encoded body, read no further than a
/// logout token can need: anyone can post here.
pub(crate) async fn read_token(body: poem::Body) -> Option<String> {
    let bytes = body.into_bytes_limit(MAX_TOKEN_LEN + 1024).await.ok()?;
    url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
}

/// What back-channel logout needs.
pub(crate) struct Backchannel<'a> {
    pub(crate) providers: &'a Providers,
    pub(crate) sessions: &'a Sessions,
    pub(crate) spent: &'a Spent,
    /// The app's logout hook, run for each session ended.
    pub(crate) hooks: &'a Hooks,
}

impl Backchannel<'_> {
    /// Answers the provider's `POST` with a `logout_token`.
    pub(crate) async fn handle(&self, token: Option<String>) -> Response {
        match self.end_sessions(token).await {
            Ok(ended) => {
                tracing::info!(ended, "back-channel logout");
                Response::builder()
                    .status(StatusCode::OK)
                    .header(poem::http::header::CACHE_CONTROL, "no-store")
                    .finish()
            }
            Err(error) => {
                tracing::warn!(%error, "back-channel logout refused");
                error.json_body()
            }
        }
    }

    async fn end_sessions(&self, token: Option<String>) -> Result<usize, Error> {
        if !self.sessions.has_store() {
            return Err(Error::BackchannelNeedsStore);
        }
        let token = token.ok_or_else(|| invalid("the request has no `logout_token`"))?;
        // The provider its `iss` names; only that provider's sessions end.
        let provider = self.providers.for_token(&token);
        let claims = provider.verifier().verify(&token, Expected::Logout).await?;
        let jti = claims.jti().unwrap_or_default();
        // Remembered as long as the token is accepted at all.
        let until = claims
            .iat()
            .unwrap_or_default()
            .saturating_add(LOGOUT_TOKEN_ACCEPTED_SECS);
        if self.spent.spend(Once::LogoutToken, jti, until).await? == Spend::Replayed {
            return Err(invalid("it was already used (`jti`)"));
        }
        let mut ended = Vec::new();
        let done = self.end_sessions_of(provider, &claims, &mut ended).await;
        // Whatever ended, even when the rest failed, was a logout.
        for session in &ended {
            session.logged_out(self.hooks).await;
        }
        if let Err(error) = done {
            // A provider retrying after a store outage must not be refused
            // as a replay.
            if let Err(error) = self.spent.forget(Once::LogoutToken, jti).await {
                tracing::warn!(%error, "a failed back-channel logout's token stays used until it expires");
            }
            return Err(error);
        }
        Ok(ended.len())
    }

    /// Ends the sessions of `provider` a verified logout token names, into
    /// `ended`.
    async fn end_sessions_of(
        &self,
        provider: &OidcClient,
        claims: &Claims,
        ended: &mut Vec<Session>,
    ) -> Result<(), Error> {
        // A `sid` names one provider session (and sessions whose ID token
        // named none, which no `sid` can match); without one, every session
        // of `sub` ends. The verifier made sure there is one or the other.
        let tags = match (claims.sid(), claims.sub()) {
            (Some(sid), sub) => [Some(Tag::Sid(sid)), sub.map(Tag::SubWithoutSid)],
            (None, sub) => [Some(Tag::Sub(sub.unwrap_or_default())), None],
        };
        // Sessions from before the app named its providers carry no name:
        // they are its first provider's.
        let names = match std::ptr::eq(provider, &**self.providers.first()) {
            true => vec![Some(provider.name()), None],
            false => vec![Some(provider.name())],
        };
        for tag in tags.iter().flatten() {
            for name in &names {
                ended.extend(self.sessions.end_tagged(&tag.of(*name)).await?);
            }
        }
        Ok(())
    }
}

fn invalid(reason: &str) -> Error {
    Error::InvalidLogoutToken(reason.to_owned())
}
