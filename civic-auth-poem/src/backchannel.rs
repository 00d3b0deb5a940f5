//! OpenID Connect Back-Channel Logout 1.0: the provider tells the app, server
//! to server, that a user's provider session ended; the app ends its matching
//! sessions. Needs a server-side store: cookie sessions cannot be reached.

use jsonwebtoken::Validation;
use poem::{http::StatusCode, Response};
use serde_json::{Map, Value};

use crate::{id_token, middleware::Inner, Error};

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens are short; anything longer is refused unread.
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;
/// A logout token older than this is refused; its `jti` is remembered as long.
const MAX_AGE_SECS: u64 = 600;

/// The `logout_token` of a form-encoded body.
pub(crate) fn token_from_form(body: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
}

/// Handles the provider's `POST` with a `logout_token`.
pub(crate) async fn handle(inner: &Inner, token: Option<String>) -> Response {
    match end_sessions(inner, token).await {
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

async fn end_sessions(inner: &Inner, token: Option<String>) -> Result<usize, Error> {
    if inner.sessions.store().is_none() {
        return Err(Error::BackchannelNeedsStore);
    }
    let token = token
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        .ok_or_else(|| invalid("the request has no `logout_token`"))?;
    let claims = verify(inner, &token).await?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let jti = text("jti").ok_or_else(|| invalid("it has no `jti`"))?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let expires = iat + MAX_AGE_SECS + id_token::LEEWAY_SECS;
    if expires <= crate::login::now_secs() {
        return Err(invalid("it was issued too long ago (`iat`)"));
    }
    let jti_key = format!("logout:{jti}");
    if inner.consumed_states.contains(&jti_key) {
        return Err(invalid("it was already used (`jti`)"));
    }

    // A `sid` names one provider session (and sessions whose ID token named
    // none, which no `sid` can match); without one, every session of `sub` ends.
    let ended = match (text("sid"), text("sub")) {
        (Some(sid), sub) => {
            let sessions = &inner.sessions;
            let mut ended = sessions.end_tagged(&format!("sid:{sid}")).await?;
            if let Some(sub) = sub {
                ended += sessions
                    .end_tagged(&format!("sub-without-sid:{sub}"))
                    .await?;
            }
            ended
        }
        (None, Some(sub)) => inner.sessions.end_tagged(&format!("sub:{sub}")).await?,
        (None, None) => return Err(invalid("it names neither `sid` nor `sub`")),
    };
    // Used up only once it did its work: a provider retrying after a store
    // outage must not be refused as a replay.
    inner.consumed_states.consume(&jti_key, expires);
    Ok(ended)
}

/// Logout Token validation, section 2.6: signature, `iss`, `aud`, `iat`,
/// the logout event, and no `nonce` (so an ID token cannot pass as one).
async fn verify(inner: &Inner, token: &str) -> Result<Map<String, Value>, Error> {
    let metadata = inner.provider.metadata().await?;
    let (header, key) = id_token::signing_key(&inner.provider, token)
        .await
        .map_err(|e| match e {
            Error::InvalidIdToken(reason) => invalid(&reason),
            other => other,
        })?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&metadata.issuer]);
    validation.set_audience(&[&inner.config.client_id]);
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.leeway = id_token::LEEWAY_SECS;
    // `exp` is optional in logout tokens, but honoured when present.
    validation.validate_exp = true;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| invalid(&id_token::describe(e.kind())))?
        .claims;
    if claims.get("iat").and_then(Value::as_u64).is_none() {
        return Err(invalid("its `iat` claim is missing"));
    }
    let has_event = claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.get(LOGOUT_EVENT).is_some_and(Value::is_object));
    if !has_event {
        return Err(invalid(
            "its `events` claim lacks the back-channel logout event",
        ));
    }
    if claims.contains_key("nonce") {
        return Err(invalid(
            "it carries a `nonce`, which logout tokens must not",
        ));
    }
    Ok(claims)
}

fn invalid(reason: &str) -> Error {
    Error::InvalidLogoutToken(reason.to_owned())
}
