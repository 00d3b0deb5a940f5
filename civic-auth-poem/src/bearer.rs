//! `Authorization: Bearer <access token>` for API clients. A JWT access token
//! is verified against the provider's keys; an opaque one is checked at the
//! userinfo endpoint. Answers are cached in a bounded map, and concurrent
//! requests with the same unknown token wait for one provider call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jsonwebtoken::Validation;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::{id_token, middleware::Inner, CivicUser, Error};

/// Tokens longer than this are refused unread.
const MAX_TOKEN_LEN: usize = 8192;
/// How many distinct tokens are remembered at once.
const CAPACITY: usize = 10_000;
/// How long a refused token is remembered, so a flood of one bad token does
/// not become a flood of provider calls.
const REFUSED_TTL: Duration = Duration::from_secs(10);

/// The user, and when the token expires if it says so (JWTs do).
type Outcome = Result<(CivicUser, Option<u64>), BearerRefusal>;

/// Why a token was refused; cheap to clone, so one answer serves all waiters.
#[derive(Clone, Debug)]
enum BearerRefusal {
    Invalid(String),
    /// Not cached: the provider may be back for the next request.
    Unavailable(String),
}

struct Entry {
    cell: Arc<OnceCell<(Outcome, Instant)>>,
}

#[derive(Default)]
pub(crate) struct BearerTokens {
    cache: Mutex<HashMap<String, Entry>>,
}

impl BearerTokens {
    /// The user an access token stands for.
    pub(crate) async fn user(&self, inner: &Inner, token: &str) -> Result<CivicUser, Error> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidBearerToken(
                "the token is empty or too long".into(),
            ));
        }
        let cell = self.cell(token);
        let (outcome, _) = cell
            .get_or_init(|| async {
                let outcome = verify(inner, token).await;
                let ttl = match &outcome {
                    Ok(_) => inner.config.bearer_cache_ttl,
                    Err(BearerRefusal::Invalid(_)) => REFUSED_TTL,
                    Err(BearerRefusal::Unavailable(_)) => Duration::ZERO,
                };
                let lifetime = match &outcome {
                    Ok((_, Some(exp))) => ttl.min(Duration::from_secs(
                        exp.saturating_sub(jsonwebtoken::get_current_timestamp()),
                    )),
                    _ => ttl,
                };
                (outcome, Instant::now() + lifetime)
            })
            .await
            .clone();
        match outcome {
            Ok((user, _)) => Ok(user),
            Err(BearerRefusal::Invalid(reason)) => Err(Error::InvalidBearerToken(reason)),
            Err(BearerRefusal::Unavailable(reason)) => Err(Error::ProviderUnavailable {
                what: "userinfo",
                reason,
            }),
        }
    }

    /// The shared cell for `token`: a fresh one when absent or expired.
    fn cell(&self, token: &str) -> Arc<OnceCell<(Outcome, Instant)>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let live = |entry: &Entry| entry.cell.get().is_none_or(|(_, until)| *until > now);
        if let Some(entry) = cache.get(token).filter(|e| live(e)) {
            return entry.cell.clone();
        }
        if cache.len() >= CAPACITY {
            cache.retain(|_, entry| live(entry));
            if cache.len() >= CAPACITY {
                // Still full of live entries: forget them rather than grow.
                cache.clear();
            }
        }
        let cell = Arc::new(OnceCell::new());
        cache.insert(token.to_owned(), Entry { cell: cell.clone() });
        cell
    }
}

async fn verify(inner: &Inner, token: &str) -> Outcome {
    match jsonwebtoken::decode_header(token) {
        Ok(_) => verify_jwt(inner, token).await,
        Err(_) => ask_userinfo(inner, token).await,
    }
}

async fn verify_jwt(inner: &Inner, token: &str) -> Outcome {
    let refuse = |reason: String| Err(BearerRefusal::Invalid(reason));
    let metadata = inner.provider.metadata().await.map_err(unavailable)?;
    let (header, key) = match id_token::signing_key(&inner.provider, token).await {
        Ok(found) => found,
        Err(Error::InvalidIdToken(reason)) => return refuse(reason),
        Err(other) => return Err(unavailable(other)),
    };
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&metadata.issuer]);
    validation.set_required_spec_claims(&["iss", "exp", "sub"]);
    validation.leeway = id_token::LEEWAY_SECS;
    // Access tokens name the API they are for in `aud`; this client shows in
    // `aud`, `client_id` (RFC 9068) or `azp`, checked below.
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return refuse(id_token::describe(e.kind())),
    };
    if !is_access_token(&header, &claims) {
        return refuse(
            "it is not an access token (an ID or logout token cannot be used here)".into(),
        );
    }
    if !issued_to(&claims, &inner.config.client_id) {
        return refuse("it was issued to another client".into());
    }
    let exp = claims.get("exp").and_then(Value::as_u64);
    let user = CivicUser::from_claims(claims)
        .map_err(|_| BearerRefusal::Invalid("it names no user (`sub`)".into()))?;
    Ok((user, exp))
}

/// RFC 9068 access tokens say so in `typ` or carry `client_id`; ID tokens
/// (which name this client in `aud` too) and logout tokens do neither, and
/// carry a `nonce` or `events`.
fn is_access_token(header: &jsonwebtoken::Header, claims: &Map<String, Value>) -> bool {
    let typed = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    let id_or_logout = ["nonce", "events", "at_hash", "c_hash"]
        .iter()
        .any(|claim| claims.contains_key(*claim));
    (typed || claims.contains_key("client_id")) && !id_or_logout
}

fn issued_to(claims: &Map<String, Value>, client_id: &str) -> bool {
    let audience = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    let named = |claim: &str| claims.get(claim).and_then(Value::as_str) == Some(client_id);
    audience || named("client_id") || named("azp")
}

/// An opaque token is whatever the provider's userinfo says it is.
async fn ask_userinfo(inner: &Inner, token: &str) -> Outcome {
    let metadata = inner.provider.metadata().await.map_err(unavailable)?;
    match inner.provider.userinfo(&metadata, token).await {
        Ok(Some(claims)) => CivicUser::from_claims(claims)
            .map(|user| (user, None))
            .map_err(|_| BearerRefusal::Invalid("the provider named no user for it".into())),
        Ok(None) => Err(BearerRefusal::Invalid(
            "the provider has no userinfo endpoint to check opaque tokens".into(),
        )),
        Err(Error::ProviderResponse { .. }) => Err(BearerRefusal::Invalid(
            "the provider does not accept it (expired, revoked or unknown)".into(),
        )),
        Err(other) => Err(unavailable(other)),
    }
}

fn unavailable(error: Error) -> BearerRefusal {
    BearerRefusal::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_access_tokens_pass_for_access_tokens() {
        let c = |v: Value| v.as_object().unwrap().clone();
        let jwt = jsonwebtoken::Header::default();
        let at_jwt = jsonwebtoken::Header {
            typ: Some("at+jwt".into()),
            ..Default::default()
        };
        assert!(is_access_token(&at_jwt, &c(json!({"aud": "me"}))));
        assert!(is_access_token(&jwt, &c(json!({"client_id": "me"}))));
        assert!(
            !is_access_token(&jwt, &c(json!({"aud": "me"}))),
            "an ID token's shape"
        );
        assert!(!is_access_token(&at_jwt, &c(json!({"nonce": "n"}))));
        assert!(!is_access_token(
            &jwt,
            &c(json!({"client_id": "me", "events": {}}))
        ));
    }

    #[test]
    fn a_token_is_for_this_client_by_aud_client_id_or_azp() {
        let c = |v: Value| v.as_object().unwrap().clone();
        assert!(issued_to(&c(json!({"aud": "me"})), "me"));
        assert!(issued_to(&c(json!({"aud": ["api", "me"]})), "me"));
        assert!(issued_to(
            &c(json!({"aud": "api", "client_id": "me"})),
            "me"
        ));
        assert!(issued_to(&c(json!({"aud": "api", "azp": "me"})), "me"));
        assert!(!issued_to(
            &c(json!({"aud": "api", "client_id": "other"})),
            "me"
        ));
        assert!(!issued_to(&c(json!({})), "me"));
    }
}
