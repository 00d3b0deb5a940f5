//! `Authorization: Bearer <access token>` for API clients. A JWT access token
//! is verified against the provider's keys; an opaque one is checked at the
//! userinfo endpoint. Answers are cached in a bounded map (never past a
//! token's `exp`), and concurrent requests with the same unknown token wait
//! for one provider call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::OnceCell;

use crate::{
    clock::Clock,
    error::Error,
    oidc::{
        client::OidcClient,
        verifier::{Expected, MAX_TOKEN_LEN},
    },
    user::CivicUser,
};

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

/// An answer, and until when it may be reused.
type Cell = Arc<OnceCell<(Outcome, Duration)>>;

pub(crate) struct BearerTokens {
    cache: Mutex<HashMap<String, Cell>>,
    ttl: Duration,
    clock: Clock,
}

impl BearerTokens {
    /// Remembers good answers for `ttl` at most.
    pub(crate) fn new(ttl: Duration, clock: Clock) -> Self {
        Self {
            cache: Mutex::default(),
            ttl,
            clock,
        }
    }

    /// The user an access token stands for.
    pub(crate) async fn user(&self, client: &OidcClient, token: &str) -> Result<CivicUser, Error> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidBearerToken(
                "the token is empty or too long".into(),
            ));
        }
        let cell = self.cell(token);
        let (outcome, _) = cell
            .get_or_init(|| async {
                let outcome = verify(client, token).await;
                let ttl = match &outcome {
                    Ok(_) => self.ttl,
                    Err(BearerRefusal::Invalid(_)) => REFUSED_TTL,
                    Err(BearerRefusal::Unavailable(_)) => Duration::ZERO,
                };
                let now = self.clock.now();
                let until = match &outcome {
                    // Never past the token's own end.
                    Ok((_, Some(exp))) => now.saturating_add(ttl).min(Duration::from_secs(*exp)),
                    _ => now.saturating_add(ttl),
                };
                (outcome, until)
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
    fn cell(&self, token: &str) -> Cell {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        let live = |cell: &Cell| cell.get().is_none_or(|(_, until)| *until > now);
        if let Some(cell) = cache.get(token).filter(|c| live(c)) {
            return cell.clone();
        }
        if cache.len() >= CAPACITY {
            cache.retain(|_, cell| live(cell));
            if cache.len() >= CAPACITY {
                // Still full of live entries: forget them rather than grow.
                cache.clear();
            }
        }
        let cell = Cell::default();
        cache.insert(token.to_owned(), cell.clone());
        cell
    }
}

async fn verify(client: &OidcClient, token: &str) -> Outcome {
    if jsonwebtoken::decode_header(token).is_err() {
        return ask_userinfo(client, token).await;
    }
    match client.verifier().verify(token, Expected::Access).await {
        Ok(claims) => {
            let exp = claims.exp();
            let user = claims
                .into_user()
                .map_err(|_| BearerRefusal::Invalid("it names no user (`sub`)".into()))?;
            Ok((user, exp))
        }
        Err(Error::InvalidBearerToken(reason)) => Err(BearerRefusal::Invalid(reason)),
        Err(other) => Err(unavailable(other)),
    }
}

/// An opaque token is whatever the provider's userinfo says it is.
async fn ask_userinfo(client: &OidcClient, token: &str) -> Outcome {
    match client.userinfo(token).await {
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
