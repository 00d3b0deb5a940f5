//! The provider's signing keys, cached, re-fetched once when a token names a
//! key the cache lacks (rotation), and no more often than the configured interval.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
    Algorithm, DecodingKey,
};
use url::Url;

use super::http::ProviderHttp;
use crate::{clock::Clock, error::Error};

pub(crate) struct KeySet {
    cached: RwLock<Cached>,
    fetching: tokio::sync::Mutex<()>,
    refresh_interval: Duration,
    clock: Clock,
}

#[derive(Default)]
struct Cached {
    keys: Arc<Vec<Jwk>>,
    fetched_at: Option<Duration>,
    /// How many fetches completed: tells a waiting task that one just did.
    fetches: u64,
}

impl KeySet {
    pub(crate) fn new(refresh_interval: Duration, clock: Clock) -> Self {
        Self {
            cached: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            refresh_interval,
            clock,
        }
    }

    /// The key that verifies a token signed with `alg` under `kid`; `None`
    /// when the provider publishes none.
    pub(crate) async fn decoding_key(
        &self,
        http: &ProviderHttp,
        jwks_uri: &Url,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<DecodingKey>, Error> {
        let (keys, fetched_at, fetches) = self.snapshot();
        if let Some(jwk) = fetched_at.and_then(|_| select(&keys, kid, alg)) {
            return key_from(jwk).map(Some);
        }
        let due = fetched_at
            .is_none_or(|at| self.clock.ticks().saturating_sub(at) >= self.refresh_interval);
        if !due {
            return Ok(None);
        }
        let keys = self.refetch(http, jwks_uri, fetches).await?;
        select(&keys, kid, alg).map(key_from).transpose()
    }

    /// Uses `keys` from now on and never fetches: the key set of an app's
    /// tests ([`crate::testing`]).
    #[cfg(feature = "testing")]
    pub(crate) fn pin(&self, keys: Vec<Jwk>) {
        // A fetch in the unreachable future: a re-fetch is never due.
        self.keep(Arc::new(keys), Duration::MAX);
    }

    /// Keeps `keys` as fetched at `fetched_at`, and counts the fetch.
    fn keep(&self, keys: Arc<Vec<Jwk>>, fetched_at: Duration) {
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        *cached = Cached {
            keys,
            fetched_at: Some(fetched_at),
            fetches: cached.fetches + 1,
        };
    }

    fn snapshot(&self) -> (Arc<Vec<Jwk>>, Option<Duration>, u64) {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        (cached.keys.clone(), cached.fetched_at, cached.fetches)
    }

    /// Fetches the key set unless another task did while this one waited.
    async fn refetch(
        &self,
        http: &ProviderHttp,
        jwks_uri: &Url,
        seen: u64,
    ) -> Result<Arc<Vec<Jwk>>, Error> {
        let _single_flight = self.fetching.lock().await;
        let (keys, _, fetches) = self.snapshot();
        if fetches != seen {
            return Ok(keys);
        }
        let set: JwkSet = http.get_json("key set (JWKS)", jwks_uri, None).await?;
        let keys = Arc::new(
            set.keys
                .into_iter()
                .filter(is_signing_key)
                .collect::<Vec<_>>(),
        );
        self.keep(keys.clone(), self.clock.ticks());
        Ok(keys)
    }
}

/// Only public signature keys count: a symmetric (`oct`) key in a public key
/// set would let anyone who read it forge tokens.
fn is_signing_key(jwk: &Jwk) -> bool {
    let public = matches!(
        jwk.algorithm,
        AlgorithmParameters::RSA(_)
            | AlgorithmParameters::EllipticCurve(_)
            | AlgorithmParameters::OctetKeyPair(_)
    );
    let for_signing = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
    public && for_signing
}

/// The key named by `kid`, or without a `kid` the only key that fits `alg`.
fn select<'a>(keys: &'a [Jwk], kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |jwk: &&Jwk| {
        jwk.common
            .key_algorithm
            .is_none_or(|declared| declared_fits(declared, alg))
            && family_fits(jwk, alg)
    };
    match kid {
        Some(kid) => keys
            .iter()
            .filter(|jwk| jwk.common.key_id.as_deref() == Some(kid))
            .find(fits),
        None => {
            let mut candidates = keys.iter().filter(fits);
            let only = candidates.next();
            candidates.next().map_or(only, |_| None)
        }
    }
}

fn family_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    use Algorithm::*;
    match jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, ES256 | ES384),
        AlgorithmParameters::OctetKeyPair(_) => matches!(alg, EdDSA),
        _ => false,
    }
}

/// A key that declares its algorithm is used for that algorithm only.
fn declared_fits(declared: KeyAlgorithm, alg: Algorithm) -> bool {
    use Algorithm as A;
    use KeyAlgorithm as K;
    matches!(
        (declared, alg),
        (K::RS256, A::RS256)
            | (K::RS384, A::RS384)
            | (K::RS512, A::RS512)
            | (K::PS256, A::PS256)
            | (K::PS384, A::PS384)
            | (K::PS512, A::PS512)
            | (K::ES256, A::ES256)
            | (K::ES384, A::ES384)
            | (K::EdDSA, A::EdDSA)
    )
}

fn key_from(jwk: &Jwk) -> Result<DecodingKey, Error> {
    DecodingKey::from_jwk(jwk).map_err(|e| Error::ProviderResponse {
        what: "key set (JWKS)",
        reason: format!("a key could not be read ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    fn rsa(kid: &str, extra: serde_json::Value) -> Jwk {
        let mut key = json!({"kty": "RSA", "kid": kid, "n": "sXch", "e": "AQAB"});
        key.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        jwk(key)
    }

    fn ec(kid: &str) -> Jwk {
        jwk(json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": "f83O", "y": "x_FE"}))
    }

    fn okp(kid: &str) -> Jwk {
        jwk(json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": "11qY"}))
    }

    #[test]
    fn only_public_keys_for_signing_are_kept() {
        assert!(is_signing_key(&rsa("r", json!({}))));
        assert!(is_signing_key(&rsa("r", json!({"use": "sig"}))));
        assert!(is_signing_key(&ec("e")));
        assert!(is_signing_key(&okp("o")));
        assert!(!is_signing_key(&rsa("r", json!({"use": "enc"}))));
        assert!(!is_signing_key(&jwk(
            json!({"kty": "oct", "k": "c2VjcmV0"})
        )));
    }

    #[test]
    fn a_key_is_chosen_by_kid_then_by_algorithm() {
        let keys = [rsa("r", json!({"alg": "RS256"})), ec("e"), okp("o")];
        let chosen = |kid, alg| select(&keys, kid, alg).and_then(|k| k.common.key_id.clone());
        assert_eq!(chosen(Some("r"), Algorithm::RS256).as_deref(), Some("r"));
        assert_eq!(
            chosen(Some("r"), Algorithm::PS256),
            None,
            "its declared algorithm only"
        );
        assert_eq!(
            chosen(Some("e"), Algorithm::RS256),
            None,
            "an EC key is not RSA"
        );
        assert_eq!(chosen(Some("o"), Algorithm::EdDSA).as_deref(), Some("o"));
        assert_eq!(chosen(Some("o"), Algorithm::ES256), None);
        assert_eq!(
            chosen(None, Algorithm::ES256).as_deref(),
            Some("e"),
            "the only EC key"
        );
        assert_eq!(chosen(Some("missing"), Algorithm::RS256), None);
        let two = [ec("a"), ec("b")];
        assert!(
            select(&two, None, Algorithm::ES256).is_none(),
            "ambiguous without kid"
        );
    }
}
