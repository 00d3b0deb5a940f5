//! `Authorization: Bearer <access token>` for API clients. A JWT access token
//! is verified against the provider's keys; an opaque one is asked about at
//! the provider's introspection endpoint (RFC 7662), which says whether it
//! is active and for which client, then at userinfo for the profile. Answers
//! are cached in a bounded map (never past a token's `exp`), concurrent
//! requests with the same unknown token wait for one provider call, and new
//! opaque tokens cost provider calls at a bounded rate, shared fairly: each
//! caller (by address) has its own allowance within the app's, so one
//! client's flood of made-up tokens cannot keep the others' out. What
//! cannot be a token of this provider (not token characters; opaque, and
//! the provider cannot check opaque tokens, which are refused unless
//! unbound ones are allowed) spends nothing.
//!
//! A token bound to a DPoP key (`cnf.jkt`, RFC 9449) comes as
//! `Authorization: DPoP <token>` with a proof of that key for this very
//! request, each proof used once; sent as `Bearer`, it is refused.

use std::{
    collections::HashMap,
    net::IpAddr,
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
        providers::Providers,
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
const CHECKS_PER_SEC: f64 = 20.0;
const BURST: f64 = 40.0;
/// Each caller's share of it: a quarter, so a flood from one address
/// leaves three quarters to everyone else.
const CALLER_CHECKS_PER_SEC: f64 = 5.0;
const CALLER_BURST: f64 = 10.0;
/// Callers whose allowance is remembered at once.
const CALLERS: usize = 10_000;

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

/// Who sends a token, as far as the allowance of checks goes: the address
/// of the connection (an IPv4 address as itself, also when a dual-stack
/// socket shows it IPv4-mapped; an IPv6 address by its /64, which one host
/// has); `None` when it is unknown.
pub(crate) type Caller = Option<IpAddr>;

/// The caller of a request from `addr`.
pub(crate) fn caller(addr: Option<&std::net::SocketAddr>) -> Caller {
    addr.map(|addr| match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    })
}

pub(crate) struct BearerTokens {
    cache: Mutex<HashMap<String, Cell>>,
    ttl: Duration,
    /// Opaque tokens without a way to tell their client are accepted.
    allow_unbound: bool,
    checks: Mutex<Allowance>,
    clock: Clock,
}

/// Token buckets of provider checks: the app's, and each caller's.
struct Allowance {
    app: Bucket,
    callers: HashMap<Caller, Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    left: f64,
    at: Duration,
}

impl Bucket {
    fn full(burst: f64, now: Duration) -> Self {
        Self {
            left: burst,
            at: now,
        }
    }

    /// Adds what `rate` earned since it was last looked at, up to `burst`.
    fn refill(&mut self, now: Duration, rate: f64, burst: f64) {
        let earned = now.saturating_sub(self.at).as_secs_f64() * rate;
        self.left = (self.left + earned).min(burst);
        self.at = now;
    }
}

impl BearerTokens {
    /// Remembers good answers for `ttl` at most.
    pub(crate) fn new(ttl: Duration, allow_unbound: bool, clock: Clock) -> Self {
        Self {
            cache: Mutex::default(),
            ttl,
            allow_unbound,
            checks: Mutex::new(Allowance {
                app: Bucket::full(BURST, clock.ticks()),
                callers: HashMap::new(),
            }),
            clock,
        }
    }

    /// Takes one provider check from the app's allowance and `caller`'s,
    /// if both have one left.
    fn may_check(&self, caller: Caller) -> bool {
        let mut allowance = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.ticks();
        let Allowance { app, callers } = &mut *allowance;
        app.refill(now, CHECKS_PER_SEC, BURST);
        if !callers.contains_key(&caller) && callers.len() >= CALLERS {
            // Those refilled by now are as good as new: forget them.
            callers.retain(|_, bucket| {
                bucket.refill(now, CALLER_CHECKS_PER_SEC, CALLER_BURST);
                bucket.left < CALLER_BURST
            });
            if callers.len() >= CALLERS {
                callers.clear();
            }
        }
        let own = callers
            .entry(caller)
            .or_insert_with(|| Bucket::full(CALLER_BURST, now));
        own.refill(now, CALLER_CHECKS_PER_SEC, CALLER_BURST);
        if app.left < 1.0 || own.left < 1.0 {
            return false;
        }
        app.left -= 1.0;
        own.left -= 1.0;
        true
    }

    /// The user an access token stands for, sent by `caller` as
    /// `presented` says; a DPoP proof's `jti` is spent in `spent`.
    /// At a tenant's host, only that `tenant`'s provider is asked about an
    /// opaque token: another's never sees it.
    pub(crate) async fn user(
        &self,
        providers: &Providers,
        tenant: Option<&OidcClient>,
        spent: &Spent,
        token: &str,
        presented: Presented<'_>,
        caller: Caller,
    ) -> Result<CivicUser, Error> {
        if !verifier::is_bounded(token) {
            return Err(Error::InvalidBearerToken(
                "the token is empty or too long".into(),
            ));
        }
        // What one tenant's provider said is not another host's answer.
        let cell = match tenant {
            Some(tenant) => self.cell(&format!("{}\u{0}{token}", tenant.name())),
            None => self.cell(token),
        };
        let (outcome, _) = cell
            .get_or_init(|| async {
                let outcome = self.verify(providers, tenant, token, caller).await;
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
    async fn verify(
        &self,
        providers: &Providers,
        tenant: Option<&OidcClient>,
        token: &str,
        caller: Caller,
    ) -> Outcome {
        if jsonwebtoken::decode_header(token).is_err() {
            return self.verify_opaque(providers, tenant, token, caller).await;
        }
        // A JWT is checked by the provider its `iss` names.
        let client = providers.for_token(token);
        match client.verifier().verify(token, Expected::Access).await {
            Ok(claims) => {
                let exp = claims.exp();
                let jkt = claims.confirmation_jkt().map(str::to_owned);
                let mut user = claims
                    .into_user()
                    .map_err(|_| BearerRefusal::Invalid("it names no user (`sub`)".into()))?;
                user.provider = Some(client.name().to_owned());
                Ok(Accepted { user, exp, jkt })
            }
            Err(Error::InvalidBearerToken(reason)) => Err(BearerRefusal::Invalid(reason)),
            Err(other) => Err(unavailable(other)),
        }
    }

    /// An opaque token, asked of the tenant's provider, else of those that
    /// check them, in the app's order, until one knows it; one that cannot
    /// be reached is passed over, and is the answer only if none knew it.
    async fn verify_opaque(
        &self,
        providers: &Providers,
        tenant: Option<&OidcClient>,
        token: &str,
        caller: Caller,
    ) -> Outcome {
        // Refused before it costs a provider call.
        if !is_token_syntax(token) {
            return Err(BearerRefusal::Invalid(
                "it is not an access token (characters outside RFC 6750's)".into(),
            ));
        }
        let candidates: Vec<&OidcClient> = match tenant {
            Some(tenant) => vec![tenant],
            None => providers
                .all()
                .iter()
                .map(|p| &**p)
                .filter(|p| p.checks_opaque_tokens())
                .collect(),
        };
        let mut unreachable = None;
        let mut askable = Vec::new();
        for client in candidates {
            match client.introspection_endpoint().await {
                Ok(endpoint) if endpoint.is_some() || self.allow_unbound => {
                    askable.push((client, endpoint));
                }
                Ok(_) => {}
                Err(error) => unreachable = Some(unavailable(error)),
            }
        }
        if askable.is_empty() {
            return Err(unreachable.unwrap_or_else(|| BearerRefusal::Invalid(
                "the provider cannot say which app an opaque token was issued to (it has no introspection endpoint)".into(),
            )));
        }
        if !self.may_check(caller) {
            return Err(BearerRefusal::Unavailable(
                "access token check",
                "too many new access tokens to check at once; try again shortly".into(),
            ));
        }
        let mut refused = None;
        for (client, endpoint) in askable {
            match self.ask_provider(client, endpoint.as_ref(), token).await {
                Ok(mut accepted) => {
                    accepted.user.provider = Some(client.name().to_owned());
                    return Ok(accepted);
                }
                Err(refusal @ BearerRefusal::Invalid(_)) => refused = Some(refusal),
                Err(refusal) => unreachable = Some(refusal),
            }
        }
        Err(unreachable
            .or(refused)
            .unwrap_or_else(|| BearerRefusal::Invalid("no provider knows it".into())))
    }

    /// An opaque token: the provider says whether it is active and whose it
    /// is (introspection at `endpoint`; without one, only when unbound
    /// tokens are allowed), then who the user is (userinfo). A DPoP-bound
    /// one's user is who introspection names: only the key's holder could
    /// call userinfo with it.
    async fn ask_provider(
        &self,
        client: &OidcClient,
        endpoint: Option<&Url>,
        token: &str,
    ) -> Outcome {
        let answer = match endpoint {
            Some(endpoint) => Some(client.introspect(endpoint, token).await),
            None => None,
        };
        let exp = match answer {
            Some(Ok(answer)) => {
                let exp = bound_to(&answer, client.client_id())?;
                if let Some(jkt) = dpop::bound_key(&answer) {
                    let jkt = Some(jkt.to_owned());
                    let sub = answer.get("sub").cloned().unwrap_or_default();
                    let user = CivicUser::from_claims(Map::from_iter([("sub".into(), sub)]))
                        .map_err(|_| {
                            BearerRefusal::Invalid("the provider named no user for it".into())
                        })?;
                    return Ok(Accepted { user, exp, jkt });
                }
                exp
            }
            // Only when unbound tokens are allowed (see `verify`).
            None => None,
            // An endpoint this client may not use cannot say either.
            Some(Err(
                Error::ProviderResponse { .. }
                | Error::ProviderRefused { .. }
                | Error::ClientRefused { .. },
            )) if self.allow_unbound => None,
            Some(Err(
                error @ (Error::ProviderResponse { .. }
                | Error::ProviderRefused { .. }
                | Error::ClientRefused { .. }),
            )) => {
                tracing::warn!(%error, "an opaque bearer token could not be checked");
                return Err(BearerRefusal::Invalid(
                    "the provider's introspection endpoint would not check it".into(),
                ));
            }
            Some(Err(other)) => return Err(unavailable(other)),
        };
        let user = ask_userinfo(client, token).await?;
        Ok(Accepted {
            user,
            exp,
            jkt: None,
        })
    }
}

/// Whether `token` is made of the characters RFC 6750 allows a bearer
/// token (`b64token`): letters, digits, `-._~+/`, then any `=`.
fn is_token_syntax(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
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
        // Dated as far ahead as a proof is accepted: valid until `now + 65`.
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

    fn at(last: u8) -> Caller {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    /// How many of `tries` checks `caller` is given now.
    fn given(tokens: &BearerTokens, caller: Caller, tries: usize) -> usize {
        (0..tries).filter(|_| tokens.may_check(caller)).count()
    }

    #[test]
    fn each_caller_gets_a_share_of_a_bounded_rate() {
        let clock = ManualClock::now();
        let tokens = BearerTokens::new(Duration::from_secs(60), false, clock.clone().into());
        // One caller's flood spends its own share, not the others'.
        assert_eq!(given(&tokens, at(1), 100), 10);
        assert_eq!(given(&tokens, at(2), 100), 10);
        clock.advance(Duration::from_millis(1000));
        assert_eq!(given(&tokens, at(1), 100), 5, "5 a second each");
        // The app's allowance bounds them all: 40 at once, 20 a second.
        clock.advance(Duration::from_secs(3600));
        let all: usize = (1..=10).map(|c| given(&tokens, at(c), 100)).sum();
        assert_eq!(all, 40);
        clock.advance(Duration::from_millis(500));
        let all: usize = (11..=20).map(|c| given(&tokens, at(c), 100)).sum();
        assert_eq!(all, 10, "half a second of 20 a second");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(given(&tokens, None, 100), 10, "the unknown are one caller");
    }

    #[test]
    fn callers_are_remembered_boundedly() {
        let clock = ManualClock::now();
        let tokens = BearerTokens::new(Duration::from_secs(60), false, clock.clone().into());
        let many = |n: u32| Some(IpAddr::from(std::net::Ipv4Addr::from(n)));
        for n in 0..CALLERS as u32 {
            let mut allowance = tokens.checks.lock().unwrap();
            allowance.app.left = BURST;
            drop(allowance);
            tokens.may_check(many(n));
        }
        assert_eq!(tokens.checks.lock().unwrap().callers.len(), CALLERS);
        // Full: one more forgets those refilled by now (none yet), then all.
        tokens.may_check(many(u32::MAX));
        assert_eq!(tokens.checks.lock().unwrap().callers.len(), 1);
        for n in 0..CALLERS as u32 - 1 {
            tokens.checks.lock().unwrap().app.left = BURST;
            tokens.may_check(many(n));
        }
        clock.advance(Duration::from_millis(250));
        // A quarter second later all have earned back their one check, but
        // one spends it again: the others, as good as new, are forgotten for
        // the next caller; that one is kept.
        tokens.checks.lock().unwrap().app.left = BURST;
        tokens.may_check(many(0));
        tokens.may_check(many(u32::MAX - 1));
        let callers = &tokens.checks.lock().unwrap().callers;
        assert_eq!(callers.len(), 2);
        assert!(callers.contains_key(&many(0)));
    }

    #[test]
    fn a_caller_is_its_address_or_its_ipv6_network() {
        let v4: std::net::SocketAddr = "192.0.2.7:443".parse().unwrap();
        assert_eq!(caller(Some(&v4)), Some(v4.ip()));
        let v6: std::net::SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        let other_host: std::net::SocketAddr = "[2001:db8:1:2:ffff::1]:80".parse().unwrap();
        assert_eq!(caller(Some(&v6)), caller(Some(&other_host)));
        assert_eq!(caller(Some(&v6)), Some("2001:db8:1:2::".parse().unwrap()));
        let mapped: std::net::SocketAddr = "[::ffff:192.0.2.7]:443".parse().unwrap();
        assert_eq!(caller(Some(&mapped)), Some(v4.ip()));
        let other_v4: std::net::SocketAddr = "[::ffff:192.0.2.8]:443".parse().unwrap();
        assert_ne!(caller(Some(&mapped)), caller(Some(&other_v4)));
        assert_eq!(caller(None), None);
    }

    #[test]
    fn only_token_characters_make_a_token() {
        for token in ["abc", "a-b.c_d~e+f/g", "abc==", "QUJD"] {
            assert!(is_token_syntax(token), "{token}");
        }
        for token in ["", "==", "a b", "a\"b", "a=b", "é", "a,b", "=abc"] {
            assert!(!is_token_syntax(token), "{token}");
        }
    }
}
