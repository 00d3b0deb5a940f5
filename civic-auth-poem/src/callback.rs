//! `/auth/callback`: the provider's answer to a login. Checks, in order: the
//! provider's `error`, `state` against this browser's transaction (single
//! use), `iss` (RFC 9207), then exchanges the code with the PKCE verifier and
//! verifies the ID token before a session exists.

use oauth2::{AuthorizationCode, PkceCodeVerifier, RequestTokenError, TokenResponse as _};
use poem::{Request, Response};

use crate::{
    cookie::chunked_names,
    id_token,
    login::{self, LoginTransaction, MAX_STATE_LEN},
    middleware::Inner,
    session::{Session, Tokens, SESSION_COOKIE},
    CivicUser, Error,
};

/// The query of a callback; every value bounded in length.
#[derive(Default)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackQuery {
    #[cfg(feature = "fuzzing")]
    pub(crate) fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    pub(crate) fn parse(query: &str) -> Self {
        let mut parsed = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
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
}

/// Handles a callback; the response carries the new session on success.
pub(crate) async fn finish(inner: &Inner, req: &Request) -> Result<Response, Error> {
    let query = CallbackQuery::parse(req.uri().query().unwrap_or_default());
    let state = query.state.as_deref().filter(|s| !s.is_empty());
    let tx = state.and_then(|state| LoginTransaction::read(inner, req, state));

    let state = state.ok_or(Error::MissingCallbackParameter("state"))?;
    let tx = tx.ok_or(Error::StateMismatch)?;
    // The provider's error is shown only for a login this browser started:
    // anyone can craft a link with an `error_description` of their choosing.
    if let Some(error) = query.error.filter(|e| !e.is_empty()) {
        inner.consumed_states.consume(&tx.state, tx.expires_at);
        return Err(Error::LoginRefused {
            error,
            description: query.error_description,
        });
    }
    if !inner.consumed_states.consume(&tx.state, tx.expires_at) {
        return Err(Error::StateMismatch);
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .ok_or(Error::MissingCallbackParameter("code"))?;

    let metadata = inner.provider.metadata().await?;
    match query.iss.as_deref() {
        Some(iss) if iss == metadata.issuer => {}
        None if !metadata.authorization_response_iss_parameter_supported => {}
        _ => return Err(Error::ResponseIssuerMismatch),
    }

    let client = inner.provider.oauth_client(&metadata, &inner.config);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(tx.pkce_verifier.clone()))
        .request_async(&inner.provider.http.oauth2_client())
        .await
        .map_err(exchange_error)?;

    let id_token = tokens
        .extra_fields()
        .id_token
        .clone()
        .ok_or_else(|| Error::InvalidIdToken("the token response has no `id_token`".into()))?;
    let claims = id_token::verify(
        &inner.provider,
        &id_token,
        &id_token::Expected {
            issuer: &metadata.issuer,
            client_id: &inner.config.client_id,
            nonce: Some(&tx.nonce),
        },
    )
    .await?;
    let sid = claims
        .get("sid")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let mut user = CivicUser::from_claims(claims)?;
    let access_token = tokens.access_token().secret().clone();
    if user.lacks_profile() {
        merge_userinfo(inner, &metadata, &access_token, &mut user).await?;
    }

    let mut session = Session::new(
        user,
        Tokens {
            access_token,
            expires_in: tokens.expires_in(),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
            id_token: Some(id_token),
        },
        sid,
        inner.config.session_duration,
    );
    let update = inner.sessions.save(&mut session).await?;
    let landing = tx
        .return_to
        .as_deref()
        .unwrap_or(&inner.config.login_success_path);
    let mut resp = login::redirect(landing);
    LoginTransaction::remove(inner, &mut resp, state);
    update.apply(
        &inner.sealer,
        &chunked_names(req, SESSION_COOKIE),
        &mut resp,
    );
    Ok(resp)
}

/// Adds what the ID token left out; the userinfo `sub` must be the same user.
async fn merge_userinfo(
    inner: &Inner,
    metadata: &crate::provider::ProviderMetadata,
    access_token: &str,
    user: &mut CivicUser,
) -> Result<(), Error> {
    let Some(info) = inner.provider.userinfo(metadata, access_token).await? else {
        return Ok(());
    };
    if info.get("sub").and_then(|v| v.as_str()) != Some(user.id.as_str()) {
        return Err(Error::ProviderResponse {
            what: "userinfo",
            reason: "it describes another user than the ID token (`sub` differs)".into(),
        });
    }
    let extra = CivicUser::from_claims(info)?;
    let fill = |mine: &mut Option<String>, theirs: Option<String>| {
        if mine.is_none() {
            *mine = theirs;
        }
    };
    fill(&mut user.email, extra.email);
    fill(&mut user.name, extra.name);
    fill(&mut user.picture, extra.picture);
    fill(&mut user.given_name, extra.given_name);
    fill(&mut user.family_name, extra.family_name);
    fill(&mut user.username, extra.username);
    user.updated_at = user.updated_at.or(extra.updated_at);
    for (claim, value) in extra.claims {
        user.claims.entry(claim).or_insert(value);
    }
    Ok(())
}

fn exchange_error(err: RequestTokenError<Error, oauth2::basic::BasicErrorResponse>) -> Error {
    use oauth2::basic::BasicErrorResponseType as Kind;
    match err {
        // A provider that is busy or failing is not the user's fault.
        RequestTokenError::ServerResponse(resp) if matches!(resp.error(), Kind::Extension(e) if e == "temporarily_unavailable" || e == "server_error") => {
            Error::ProviderUnavailable {
                what: "token response",
                reason: resp.error().to_string(),
            }
        }
        RequestTokenError::ServerResponse(resp) => Error::CodeExchange(format!(
            "{}{}",
            resp.error(),
            resp.error_description()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )),
        RequestTokenError::Request(e) => e,
        RequestTokenError::Parse(e, _) => Error::ProviderResponse {
            what: "token response",
            reason: format!("not the expected JSON ({e})"),
        },
        RequestTokenError::Other(reason) => Error::ProviderResponse {
            what: "token response",
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_or_repeated_parameters_are_emptied() {
        let q = CallbackQuery::parse(&format!("state={}&code=a&code=b&iss=x", "s".repeat(500)));
        assert_eq!(q.state.as_deref(), Some(""));
        assert_eq!(q.code.as_deref(), Some(""));
        assert_eq!(q.iss.as_deref(), Some("x"));
    }
}
