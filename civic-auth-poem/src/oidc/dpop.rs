//! DPoP (RFC 9449): a key of the session's own (ES256) whose proofs go
//! with every call that uses its tokens, so that the provider binds the
//! tokens to the key and a stolen token is useless without it; and the
//! check of the proof an API client sends with a DPoP-bound token.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::EncodePrivateKey as _;
use poem::http::{header, HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::{
    clock::Clock,
    jwk::{p256_jwk, thumbprint},
    random::random_value,
};

/// How old a proof's `iat` may be: a proof is made for one request just
/// before it is sent, so this is the clocks' difference (the tokens' own
/// leeway) and the trip. Every accepted proof's `jti` is remembered this
/// long, so it also sets how many requests a second the room holds.
pub(crate) const PROOF_LIFETIME_SECS: u64 = crate::clock::LEEWAY_SECS;
/// How far ahead of this app's clock a client's may run: a proof is made
/// just before it is sent, so its `iat` is barely in the future.
const PROOF_AHEAD_SECS: u64 = 5;
/// The members of a private key in a JWK (RFC 7518 6).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
/// Longest proof read.
const MAX_PROOF_LEN: usize = 4096;
/// Longest `jti` remembered.
const MAX_JTI_LEN: usize = 256;
/// The `typ` of a proof.
const PROOF_TYPE: &str = "dpop+jwt";

/// A DPoP key (P-256, ES256). The library makes one per session and keeps
/// it sealed with the session; an API client can make its own to prove it
/// holds the key its tokens are bound to.
///
/// ```
/// use civic_auth_poem::DpopKey;
///
/// let key = DpopKey::generate();
/// let proof = key.proof("GET", "https://api.example/orders?page=2", Some("the-access-token"));
/// // Sent as `Authorization: DPoP the-access-token` and `DPoP: <proof>`.
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43);
/// ```
#[derive(Clone)]
pub struct DpopKey(p256::SecretKey);

impl DpopKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        Self(p256::SecretKey::random(
            &mut p256::elliptic_curve::rand_core::OsRng,
        ))
    }

    /// The key's RFC 7638 thumbprint (`jkt`), which bound tokens name.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.public_jwk()).expect("a P-256 key has a thumbprint")
    }

    /// A proof for a `method` request to `url` (its query and fragment are
    /// not part of it), with the `access_token` it sends, if any.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.proof_with_nonce(method, url, access_token, None)
    }

    /// [`Self::proof`] with the `nonce` a server asked for in its
    /// `DPoP-Nonce` header.
    pub fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let htu = Url::parse(url).map_or_else(|_| url.to_owned(), |url| target(&url));
        self.sign(method, htu, access_token, nonce, Clock::system().now_secs())
    }

    /// A proof as the library sends it to the provider: with its last
    /// `nonce`, at the library's clock.
    pub(crate) fn proof_for(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: u64,
    ) -> String {
        self.sign(method, target(url), access_token, nonce, now)
    }

    fn sign(
        &self,
        method: &str,
        htu: String,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: u64,
    ) -> String {
        let claims = ProofClaims {
            jti: random_value(),
            htm: method.to_owned(),
            htu,
            iat: now,
            nonce: nonce.map(str::to_owned),
            ath: access_token.map(token_hash),
        };
        self.signed(PROOF_TYPE, &claims)
    }

    /// `claims` signed by this key, its public half in the header.
    fn signed(&self, typ: &str, claims: &ProofClaims) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.into());
        header.jwk = Some(self.public_jwk());
        self.sign_jwt(header, claims)
    }

    /// `claims` signed by this key (ES256) under `header`.
    pub(crate) fn sign_jwt(&self, mut header: Header, claims: &impl Serialize) -> String {
        header.alg = Algorithm::ES256;
        let der = self.0.to_pkcs8_der().expect("a P-256 key encodes");
        let key = EncodingKey::from_ec_der(der.as_bytes());
        jsonwebtoken::encode(&header, claims, &key).expect("an ES256 token signs")
    }

    /// The public half, as a JWK.
    pub(crate) fn public_jwk(&self) -> Jwk {
        p256_jwk(&self.0.public_key())
    }
}

// Never print the key.
impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DpopKey(..)")
    }
}

impl Serialize for DpopKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&B64.encode(self.0.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for DpopKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = B64.decode(text).map_err(serde::de::Error::custom)?;
        p256::SecretKey::from_slice(&bytes)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("not a P-256 key"))
    }
}

#[derive(Serialize, Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
}

/// A proof that passed [`check_proof`]: its `jti`, to be spent once, the
/// first second it is no longer accepted, and the thumbprint of its key.
#[derive(Debug)]
pub(crate) struct CheckedProof {
    pub(crate) jti: String,
    pub(crate) expires_at: u64,
    pub(crate) jkt: String,
}

/// Checks an API client's proof for a `method` request to `url` with
/// `access_token`: its type, signature by the key it carries, `htm`,
/// `htu`, `iat` at most [`PROOF_LIFETIME_SECS`] old and a few seconds
/// ahead, and `ath`; its `jwk` must be a public key. The caller spends its
/// `jti` and compares its `jkt` with the token's.
pub(crate) fn check_proof(
    proof: &str,
    method: &str,
    url: &Url,
    access_token: &str,
    now: u64,
) -> Result<CheckedProof, String> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err("the DPoP proof is empty or too long".into());
    }
    let header = jsonwebtoken::decode_header(proof)
        .map_err(|_| "the DPoP proof is not a signed JWT".to_owned())?;
    if header.typ.as_deref() != Some(PROOF_TYPE) || header.alg != Algorithm::ES256 {
        return Err("the DPoP proof must be an ES256 `dpop+jwt`".into());
    }
    if carries_private_key(proof) {
        return Err("the DPoP proof's `jwk` carries a private key".into());
    }
    let jwk = header.jwk.ok_or("the DPoP proof carries no key (`jwk`)")?;
    let jkt = thumbprint(&jwk).ok_or("the DPoP proof's key is not a P-256 key")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the DPoP proof's key cannot be read")?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|_| "the DPoP proof's signature or claims are not valid".to_owned())?
        .claims;
    if !claims.htm.eq_ignore_ascii_case(method) {
        return Err("the DPoP proof is for another method (`htm`)".into());
    }
    if claims.htu != target(url) {
        return Err("the DPoP proof is for another URL (`htu`)".into());
    }
    if claims.iat > now.saturating_add(PROOF_AHEAD_SECS)
        || now.saturating_sub(claims.iat) > PROOF_LIFETIME_SECS
    {
        return Err("the DPoP proof is too old or from the future (`iat`)".into());
    }
    if claims.ath.as_deref() != Some(token_hash(access_token).as_str()) {
        return Err("the DPoP proof is for another access token (`ath`)".into());
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err("the DPoP proof has no usable `jti`".into());
    }
    Ok(CheckedProof {
        jti: claims.jti,
        expires_at: claims.iat.saturating_add(PROOF_LIFETIME_SECS + 1),
        jkt,
    })
}

/// Whether the `jwk` of `proof`'s header has a private key's members, which
/// the parsed key would silently drop (RFC 9449 4.2: it must not).
fn carries_private_key(proof: &str) -> bool {
    let header = proof.split('.').next().unwrap_or_default();
    let Ok(header) = B64.decode(header) else {
        return false;
    };
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap_or_default();
    header
        .get("jwk")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|jwk| PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)))
}

/// The thumbprint of the key a token's claims (or its introspection) say it
/// is bound to (`cnf.jkt`).
pub(crate) fn bound_key(claims: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

/// `htu`: the URL without its query and fragment.
fn target(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The `DPoP-Nonce` a server sent, if it is one a proof can carry.
pub(crate) fn nonce_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// Whether an answer refused a proof for want of the nonce it sent: a
/// `use_dpop_nonce` challenge (RFC 9449 8 and 9).
pub(crate) fn is_nonce_challenge(status: StatusCode, headers: &HeaderMap) -> bool {
    matches!(status.as_u16(), 400 | 401)
        && nonce_of(headers).is_some()
        && headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("use_dpop_nonce"))
}

/// `ath`: the access token's SHA-256, base64url.
fn token_hash(access_token: &str) -> String {
    B64.encode(Sha256::digest(access_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn a_key_survives_sealing_and_keeps_its_thumbprint() {
        let key = DpopKey::generate();
        let kept: DpopKey = serde_json::from_str(&serde_json::to_string(&key).unwrap()).unwrap();
        assert_eq!(kept.thumbprint(), key.thumbprint());
        assert_ne!(DpopKey::generate().thumbprint(), key.thumbprint());
        assert_eq!(format!("{key:?}"), "DpopKey(..)");
        assert!(serde_json::from_str::<DpopKey>("\"AAAA\"").is_err());
    }

    #[test]
    fn a_proof_is_checked_against_its_request_and_token() {
        let key = DpopKey::generate();
        let api = url("https://app.example/api/orders?page=2");
        let proof = key.proof_for("GET", &api, Some("at"), None, NOW);
        let checked = check_proof(&proof, "GET", &api, "at", NOW + 10).unwrap();
        assert_eq!(checked.jkt, key.thumbprint());
        assert!(!checked.jti.is_empty());
        let refused = |proof: &str, method, url: &Url, token, now| {
            check_proof(proof, method, url, token, now).unwrap_err()
        };
        assert!(refused(&proof, "POST", &api, "at", NOW).contains("htm"));
        assert!(refused(
            &proof,
            "GET",
            &url("https://app.example/api/other"),
            "at",
            NOW
        )
        .contains("htu"));
        assert!(refused(&proof, "GET", &api, "another", NOW).contains("ath"));
        assert!(refused(&proof, "GET", &api, "at", NOW + PROOF_LIFETIME_SECS + 1).contains("iat"));
        let accepted = check_proof(&proof, "GET", &api, "at", NOW + PROOF_LIFETIME_SECS).unwrap();
        assert_eq!(accepted.expires_at, NOW + PROOF_LIFETIME_SECS + 1);
        // A few seconds ahead of the app's clock, not minutes.
        assert!(check_proof(&proof, "GET", &api, "at", NOW - PROOF_AHEAD_SECS).is_ok());
        assert!(refused(&proof, "GET", &api, "at", NOW - PROOF_AHEAD_SECS - 1).contains("iat"));
        assert!(refused(&proof, "GET", &api, "at", NOW - PROOF_LIFETIME_SECS).contains("iat"));
        let without_token = key.proof_for("GET", &api, None, None, NOW);
        assert!(refused(&without_token, "GET", &api, "at", NOW).contains("ath"));
        // A proof whose signature is not by the key it carries.
        let (head, rest) = proof.split_once('.').unwrap();
        let other = DpopKey::generate().proof_for("GET", &api, Some("at"), None, NOW);
        let forged = format!("{}.{}", other.split_once('.').unwrap().0, rest);
        assert!(refused(&forged, "GET", &api, "at", NOW).contains("signature"));
        assert!(refused(head, "GET", &api, "at", NOW).contains("JWT"));
        assert!(refused(&"a".repeat(MAX_PROOF_LEN + 1), "GET", &api, "at", NOW).contains("long"));
        assert!(refused(&"a".repeat(MAX_PROOF_LEN), "GET", &api, "at", NOW).contains("JWT"));
    }

    #[test]
    fn a_proof_whose_key_is_private_is_refused() {
        let key = DpopKey::generate();
        let api = url("https://app.example/api");
        let claims = ProofClaims {
            jti: "j".into(),
            htm: "GET".into(),
            htu: target(&api),
            iat: NOW,
            nonce: None,
            ath: Some(token_hash("at")),
        };
        // The header as a careless client writes it: the whole key.
        let sign_with_jwk = |jwk: serde_json::Value| {
            let header = serde_json::json!({"alg": "ES256", "typ": PROOF_TYPE, "jwk": jwk});
            let signing_input = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(serde_json::to_string(&claims).unwrap())
            );
            let der = key.0.to_pkcs8_der().unwrap();
            let signature = jsonwebtoken::crypto::sign(
                signing_input.as_bytes(),
                &EncodingKey::from_ec_der(der.as_bytes()),
                Algorithm::ES256,
            )
            .unwrap();
            format!("{signing_input}.{signature}")
        };
        let public = serde_json::to_value(key.public_jwk()).unwrap();
        assert!(check_proof(&sign_with_jwk(public.clone()), "GET", &api, "at", NOW).is_ok());
        for member in PRIVATE_MEMBERS {
            let mut private = public.clone();
            private[member] = B64.encode(key.0.to_bytes()).into();
            let refused = check_proof(&sign_with_jwk(private), "GET", &api, "at", NOW);
            assert!(refused.unwrap_err().contains("private key"), "{member}");
        }
        assert!(!carries_private_key("not base64!.x.y"));
        assert!(!carries_private_key(&format!("{}.x.y", B64.encode("[1]"))));
    }

    #[test]
    fn a_proof_says_what_it_is_and_names_itself_once() {
        let key = DpopKey::generate();
        let api = url("https://app.example/api");
        let with = |typ: &str, jti: String| {
            let claims = ProofClaims {
                jti,
                htm: "GET".into(),
                htu: target(&api),
                iat: NOW,
                nonce: None,
                ath: Some(token_hash("at")),
            };
            check_proof(&key.signed(typ, &claims), "GET", &api, "at", NOW)
        };
        assert!(with(PROOF_TYPE, "j".into()).is_ok());
        assert!(with("JWT", "j".into()).unwrap_err().contains("dpop+jwt"));
        assert!(with(PROOF_TYPE, String::new()).unwrap_err().contains("jti"));
        assert!(with(PROOF_TYPE, "j".repeat(MAX_JTI_LEN)).is_ok());
        assert!(with(PROOF_TYPE, "j".repeat(MAX_JTI_LEN + 1)).is_err());
    }
}
