//! `Authorization: Bearer <access token>` for API clients. A JWT access token
//! is verified against the provider's keys; an opaque one is asked about at
//! the provider's introspection endpoint (RFC 7662), which says whether it
//! is active and for which client, then at userinfo for the profile. Answers
//! are cached in a bounded map (never past a token's `exp`), concurrent
//! requests with the same unknown token wait for one provider call, and new
//! tokens cost provider calls at a bounded rate.
//!
//! A token bound to a DPoP key (`cnf.jkt`, RFC 9449) comes as
//! `Authorization: DPoP <token>` with a proof of that key for this very
//! request, each proof used once; sent as `Bearer`, it is refused.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use url::Url;

use super::spent::{Once, Spend, Spent};
use crate::{
    clock::Clock,
    error::Error,
    oidc::{
        client::OidcClient,
        dpop,
        verifier::{self, Expected},
    },
    user::CivicUser,
};

/// How many distinct tokens are remembered at once.
const CAPACITY: usize = 10_000;
/// How long a refused token is remembered, so a flood of one bad token does
/// not become a flood of provider calls.
const REFUSED_TTL: Duration = Duration::from_secs(10);
/// New opaque tokens are checked at the provider at most this often per
/// second on average, in bursts of at most `BURST`: a flood of made-up
/// tokens cannot become a flood of provider calls.
const CHECKS_PER_SEC: u32 = 20;
const BURST: u32 = 40;

/// An accepted token: its user, when it expires if it says so, and the
/// thumbprint of the DPoP key it is bound to, if any.
#[derive(Clone)]
struct Accepted {
    user: CivicUser,
    exp: Option<u64>,
    jkt: Option<String>,
}

type Outcome = Result<Accepted, BearerRefusal>;

/// How the client sent its token.
pub(crate) enum Presented<'a> {
    /// `Authorization: Bearer`.
    Bearer,
    /// `Authorization: DPoP`, with the request's `DPoP` proof and what it
    /// must be for.
    Dpop {
        proof: &'a str,
        method: &'a str,
        url: Url,
    },
}

/// Why a token was refused; cheap to clone, so one answer serves all waiters.
#[derive(Clone, Debug)]
enum BearerRefusal {
    Invalid(String),
    /// Not cached: the provider may be back (or the rate allow the check)
    /// for the next request. What could not be done, and why.
    Unavailable(&'static str, String),
}

/// An answer, and until when it may be reused.
type Cell = Arc<OnceCell<(Outcome, Duration)>>;

pub(crate) struct BearerTokens {
    cache: Mutex<HashMap<String, Cell>>,
    ttl: Duration,
    /// Opaque tokens without a way to tell their client are accepted.
    allow_unbound: bool,
    checks: Mutex<Allowance>,
    clock: Clock,
}

/// A token bucket of provider checks.
struct Allowance {
    left: f64,
    at: Duration,
}

impl BearerTokens {
    /// Remembers good answers for `ttl` at most.
    pub(crate) fn new(ttl: Duration, allow_unbound: bool, clock: Clock) -> Self {
        Self {
            cache: Mutex::default(),
            ttl,
            allow_unbound,
            checks: Mutex::new(Allowance {
                left: f64::from(BURST),
                at: clock.ticks(),
            }),
            clock,
        }
    }

    /// Takes one provider check from the allowance, if any is left.
    fn may_check(&self) -> bool {
        let mut allowance = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.ticks();
        let earned = now.saturating_sub(allowance.at).as_secs_f64() * f64::from(CHECKS_PER_SEC);
        allowance.left = (allowance.left + earned).min(f64::from(BURST));
        allowance.at = now;
        if allowance.left < 1.0 {
            return false;
        }
        allowance.left -= 1.0;
        true
    }

    /// The user an access token stands for, sent as `presented` says; a
    /// DPoP proof's `jti` is spent in `spent`.
    pub(crate) async fn user(
        &self,
        client: &OidcClient,
        spent: &Spent,
        token: &str,
        presented: Presented<'_>,
    ) -> Result<CivicUser, Error> {
        if !verifier::is_bounded(token) {
            return Err(Error::InvalidBearerToken(
                "the token is empty or too long".into(),
            ));
        }
        let cell = self.cell(token);
        let (outcome, _) = cell
            .get_or_init(|| async {
                let outcome = self.verify(client, token).await;
                let ttl = match &outcome {
                    Ok(_) => self.ttl,
                    Err(BearerRefusal::Invalid(_)) => REFUSED_TTL,
                    Err(BearerRefusal::Unavailable(..)) => Duration::ZERO,
                };
                let ttl = match &outcome {
                    // Never past the token's own end.
                    Ok(Accepted { exp: Some(exp), .. }) => {
                        let left = exp.saturating_sub(self.clock.now_secs());
                        ttl.min(Duration::from_secs(left))
                    }
                    _ => ttl,
                };
                (outcome, self.clock.ticks_after(ttl))
            })
            .await
            .clone();
        match outcome {
            Ok(accepted) => self.check_binding(spent, token, presented, accepted).await,
            Err(BearerRefusal::Invalid(reason)) => Err(Error::InvalidBearerToken(reason)),
            Err(BearerRefusal::Unavailable(what, reason)) => {
                Err(Error::ProviderUnavailable { what, reason })
            }
        }
    }

    /// A bound token needs a proof of its key, used once; an unbound one
    /// is a bearer token.
    async fn check_binding(
        &self,
        spent: &Spent,
        token: &str,
        presented: Presented<'_>,
        accepted: Accepted,
    ) -> Result<CivicUser, Error> {
        match (presented, accepted.jkt) {
            (Presented::Bearer, None) => Ok(accepted.user),
            (Presented::Bearer, Some(_)) => Err(Error::InvalidBearerToken(
                "it is bound to a DPoP key: send it as `Authorization: DPoP` with a proof".into(),
            )),
            (Presented::Dpop { .. }, None) => Err(Error::InvalidBearerToken(
                "it is not bound to a DPoP key: send it as `Authorization: Bearer`".into(),
            )),
            (Presented::Dpop { proof, method, url }, Some(jkt)) => {
                let now = self.clock.now_secs();
                let checked = dpop::check_proof(proof, method, &url, token, now)
                    .map_err(Error::InvalidDpopProof)?;
                if checked.jkt != jkt {
                    return Err(Error::InvalidDpopProof(
                        "the DPoP proof is by another key than the token is bound to".into(),
                    ));
                }
                // Remembered for as long as the proof is accepted.
                let until = checked.expires_at;
                if spent.spend(Once::DpopProof, &checked.jti, until).await? == Spend::Replayed {
                    return Err(Error::InvalidDpopProof(
                        "the DPoP proof was used before (`jti`)".into(),
                    ));
                }
                Ok(accepted.user)
            }
        }
    }

    /// The shared cell for `token`: a fresh one when absent or expired.
    fn cell(&self, token: &str) -> Cell {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.ticks();
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

impl BearerTokens {
    async fn verify(&self, client: &OidcClient, token: &str) -> Outcome {
        if jsonwebtoken::decode_header(token).is_err() {
            if !self.may_check() {
                return Err(BearerRefusal::Unavailable(
                    "access token check",
                    "too many new access tokens to check at once; try again shortly".into(),
                ));
            }
            return self.ask_provider(client, token).await;
        }
        match client.verifier().verify(token, Expected::Access).await {
            Ok(claims) => {
                let exp = claims.exp();
                let jkt = claims.confirmation_jkt().map(str::to_owned);
                let user = claims
                    .into_user()
                    .map_err(|_| BearerRefusal::Invalid("it names no user (`sub`)".into()))?;
                Ok(Accepted { user, exp, jkt })
            }
            Err(Error::InvalidBearerToken(reason)) => Err(BearerRefusal::Invalid(reason)),
            Err(other) => Err(unavailable(other)),
        }
    }

    /// An opaque token: the provider says whether it is active and whose it
    /// is (introspection), then who the user is (userinfo). A DPoP-bound
    /// one's user is who introspection names: only the key's holder could
    /// call userinfo with it.
    async fn ask_provider(&self, client: &OidcClient, token: &str) -> Outcome {
        let exp = match client.introspect(token).await {
            Ok(Some(answer)) => {
                let exp = bound_to(&answer, client.client_id())?;
                if let Some(jkt) = dpop::bound_key(&answer) {
                    let jkt = Some(jkt.to_owned());
                    let sub = answer.get("sub").cloned().unwrap_or_default();
                    let user = CivicUser::from_claims(Map::from_iter([("sub".into(), sub)]))
                        .map_err(|_| BearerRefusal::Invalid("the provider named no user for it".into()))?;
                    return Ok(Accepted { user, exp, jkt });
                }
                exp
            }
            Ok(None) if self.allow_unbound => None,
            Ok(None) => {
                return Err(BearerRefusal::Invalid(
                    "the provider cannot say which app an opaque token was issued to (it has no introspection endpoint)".into(),
                ))
            }
            // An endpoint this public client may not use cannot say either.
            Err(Error::ProviderResponse { .. }) if self.allow_unbound => None,
            Err(Error::ProviderResponse { .. }) => {
                return Err(BearerRefusal::Invalid(
                    "the provider's introspection endpoint would not check it".into(),
                ))
            }
            Err(other) => return Err(unavailable(other)),
        };
        let user = ask_userinfo(client, token).await?;
        Ok(Accepted {
            user,
            exp,
            jkt: None,
        })
    }
}

/// The introspection answer must say the token is active and this client's;
/// returns its `exp`.
fn bound_to(answer: &Map<String, Value>, client_id: &str) -> Result<Option<u64>, BearerRefusal> {
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(BearerRefusal::Invalid(
            "the provider says it is not active (expired, revoked, or not issued to this app)"
                .into(),
        ));
    }
    let audience = match answer.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if answer.get("client_id").and_then(Value::as_str) != Some(client_id) && !audience {
        return Err(BearerRefusal::Invalid(
            "it was issued to another client".into(),
        ));
    }
    Ok(answer.get("exp").and_then(Value::as_u64))
}

/// Who the user of an accepted opaque token is.
async fn ask_userinfo(client: &OidcClient, token: &str) -> Result<CivicUser, BearerRefusal> {
    match client.userinfo(token, None).await {
        Ok(Some(claims)) => CivicUser::from_userinfo(claims)
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
    match error {
        Error::ProviderUnavailable { what, reason } => BearerRefusal::Unavailable(what, reason),
        other => BearerRefusal::Unavailable("access token check", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn an_introspected_token_must_be_active_and_this_clients() {
        let answer = |v: Value| v.as_object().unwrap().clone();
        let ok = bound_to(
            &answer(json!({"active": true, "client_id": "me", "exp": 9})),
            "me",
        );
        assert_eq!(ok.unwrap(), Some(9));
        assert!(bound_to(&answer(json!({"active": true, "aud": ["api", "me"]})), "me").is_ok());
        assert!(bound_to(&answer(json!({"active": true, "aud": "me"})), "me").is_ok());
        for refused in [
            json!({"active": false, "client_id": "me"}),
            json!({"client_id": "me"}),
            json!({"active": "true", "client_id": "me"}),
            json!({"active": true, "client_id": "other"}),
            json!({"active": true, "aud": "other"}),
            json!({"active": true, "aud": ["other", "api"]}),
            json!({"active": true}),
        ] {
            assert!(
                bound_to(&answer(refused.clone()), "me").is_err(),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn a_proof_from_the_edge_of_the_future_is_still_used_once() {
        let clock = ManualClock::now();
        let tokens = BearerTokens::new(Duration::from_secs(60), false, clock.clone().into());
        let spent = Spent::new(clock.clone().into(), None);
        let key = dpop::DpopKey::generate();
        let url = Url::parse("https://app.example/api").unwrap();
        let now = Clock::from(clock.clone()).now_secs();
        // Dated as far ahead as a proof is accepted: valid until `now + 305`.
        let proof = key.proof_for("GET", &url, Some("at"), None, now + 5);
        let accepted = || Accepted {
            user: serde_json::from_value(json!({"id": "u"})).unwrap(),
            exp: None,
            jkt: Some(key.thumbprint()),
        };
        let present = || Presented::Dpop {
            proof: &proof,
            method: "GET",
            url: url.clone(),
        };
        assert!(tokens
            .check_binding(&spent, "at", present(), accepted())
            .await
            .is_ok());
        clock.advance(Duration::from_secs(dpop::PROOF_LIFETIME_SECS + 5));
        let replayed = tokens
            .check_binding(&spent, "at", present(), accepted())
            .await;
        assert!(
            matches!(replayed, Err(Error::InvalidDpopProof(ref why)) if why.contains("used before")),
            "{replayed:?}"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let tokens = BearerTokens::new(Duration::from_secs(60), false, Clock::system());
        for i in 0..=CAPACITY {
            tokens.cell(&i.to_string());
        }
        let cache = tokens.cache.lock().unwrap();
        assert!(cache.len() <= CAPACITY, "{} entries", cache.len());
        assert!(
            cache.contains_key(&CAPACITY.to_string()),
            "the newest stays"
        );
    }

    #[test]
    fn provider_checks_come_at_a_bounded_rate() {
        let clock = ManualClock::now();
        let tokens = BearerTokens::new(Duration::from_secs(60), false, clock.clone().into());
        let burst = (0..BURST * 2).filter(|_| tokens.may_check()).count();
        assert_eq!(burst, BURST as usize);
        clock.advance(Duration::from_millis(500));
        let refilled = (0..BURST).filter(|_| tokens.may_check()).count();
        assert_eq!(refilled, (CHECKS_PER_SEC / 2) as usize);
        clock.advance(Duration::from_secs(3600));
        let capped = (0..BURST * 2).filter(|_| tokens.may_check()).count();
        assert_eq!(
            capped, BURST as usize,
            "the allowance does not grow past the burst"
        );
    }
}
