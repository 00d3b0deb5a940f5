//! The app's own private key, for clients that prove who they are with a
//! signed assertion (`private_key_jwt`, RFC 7523) instead of a secret.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use jsonwebtoken::{
    jwk::{
        AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
    },
    Algorithm, EncodingKey, Header,
};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::{
    pkcs1::DecodeRsaPrivateKey as _, pkcs1::EncodeRsaPrivateKey as _, traits::PublicKeyParts as _,
};
use serde::Serialize;

use crate::{
    error::Error,
    jwk::{p256_jwk, thumbprint},
};

/// The shortest RSA key accepted (RFC 7518 3.3).
const MIN_RSA_BITS: usize = 2048;

/// The app's private key for `private_key_jwt`: a P-256 key (signs ES256)
/// or an RSA key of at least 2048 bits (signs PS256, or RS256 where the
/// provider takes only that). Its public half is served at `/auth/jwks`
/// for providers that read the client's key set from a URL; its key id is
/// its RFC 7638 thumbprint. Never printed.
///
/// ```
/// use civic_auth_poem::ClientKey;
///
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/keys/ec-a.pem")).unwrap();
/// let key = ClientKey::from_pem(&pem)?;
/// let public = serde_json::to_value(key.public_key_set()).unwrap();
/// assert_eq!(public["keys"][0]["kty"], "EC");
/// assert!(public["keys"][0].get("d").is_none(), "no private part");
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientKey(Arc<KeyPair>);

struct KeyPair {
    signing: EncodingKey,
    /// What it signs with, the preferred first.
    algorithms: &'static [Algorithm],
    public: Jwk,
}

impl ClientKey {
    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`), SEC1 (`BEGIN
    /// EC PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`), unencrypted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `client_key` when it is none of
    /// those, or an RSA key shorter than 2048 bits. The key is not shown.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidConfig {
            field: "client_key",
            value: "(the PEM text, not shown)".into(),
            reason: reason.into(),
        };
        if let Some(ec) = p256::SecretKey::from_pkcs8_pem(pem)
            .ok()
            .or_else(|| p256::SecretKey::from_sec1_pem(pem).ok())
        {
            let der = ec
                .to_pkcs8_der()
                .map_err(|_| invalid("the key does not encode"))?;
            return Ok(Self::with(
                EncodingKey::from_ec_der(der.as_bytes()),
                &[Algorithm::ES256],
                p256_jwk(&ec.public_key()),
                KeyAlgorithm::ES256,
            ));
        }
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| {
                invalid(
                    "not an unencrypted P-256 or RSA private key in PEM (PKCS#8, SEC1 or PKCS#1)",
                )
            })?;
        if rsa.size() * 8 < MIN_RSA_BITS {
            return Err(invalid("an RSA key must have at least 2048 bits"));
        }
        let der = rsa
            .to_pkcs1_der()
            .map_err(|_| invalid("the key does not encode"))?;
        let public = Jwk {
            common: Default::default(),
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: B64.encode(rsa.n().to_bytes_be()),
                e: B64.encode(rsa.e().to_bytes_be()),
            }),
        };
        Ok(Self::with(
            EncodingKey::from_rsa_der(der.as_bytes()),
            &[Algorithm::PS256, Algorithm::RS256],
            public,
            KeyAlgorithm::PS256,
        ))
    }

    /// [`Self::from_pem`] of the file at `path`, as `CIVIC_CLIENT_KEY` names it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the path when it cannot be read or
    /// holds no usable key.
    pub fn from_pem_file(path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let pem = std::fs::read_to_string(path).map_err(|e| Error::InvalidConfig {
            field: "client_key",
            value: shown.clone(),
            reason: format!("the file cannot be read ({e})"),
        })?;
        Self::from_pem(&pem).map_err(|error| match error {
            Error::InvalidConfig { field, reason, .. } => Error::InvalidConfig {
                field,
                value: shown,
                reason,
            },
            other => other,
        })
    }

    fn with(
        signing: EncodingKey,
        algorithms: &'static [Algorithm],
        mut public: Jwk,
        preferred: KeyAlgorithm,
    ) -> Self {
        public.common.key_id = thumbprint(&public);
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        // An RSA key may sign PS256 or RS256, so it names no one algorithm.
        if algorithms.len() == 1 {
            public.common.key_algorithm = Some(preferred);
        }
        Self(Arc::new(KeyPair {
            signing,
            algorithms,
            public,
        }))
    }

    /// The public half as a JWK set, as `/auth/jwks` serves it.
    pub fn public_key_set(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.0.public.clone()],
        }
    }

    /// The algorithms it signs with, the preferred first.
    pub(crate) fn algorithms(&self) -> &'static [Algorithm] {
        self.0.algorithms
    }

    /// `claims` signed with `alg`, one of [`Self::algorithms`], under this
    /// key's id.
    pub(crate) fn sign(&self, alg: Algorithm, claims: &impl Serialize) -> String {
        let mut header = Header::new(alg);
        header.kid = self.0.public.common.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.0.signing)
            .expect("a key signs with its own algorithms")
    }
}

// Never print the key.
impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.0.public.common.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../tests/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn verified(key: &ClientKey, alg: Algorithm, token: &str) -> serde_json::Value {
        let jwk = &key.public_key_set().keys[0];
        let decoding = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode(token, &decoding, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn ec_and_rsa_keys_sign_what_their_public_halves_verify() {
        let claims = serde_json::json!({ "iss": "me" });
        let ec = ClientKey::from_pem(&pem("ec-a.pem")).unwrap();
        assert_eq!(ec.algorithms(), [Algorithm::ES256]);
        assert_eq!(
            verified(&ec, Algorithm::ES256, &ec.sign(Algorithm::ES256, &claims))["iss"],
            "me"
        );
        let rsa = ClientKey::from_pem(&pem("rsa-a.pem")).unwrap();
        assert_eq!(rsa.algorithms(), [Algorithm::PS256, Algorithm::RS256]);
        for alg in [Algorithm::PS256, Algorithm::RS256] {
            let token = rsa.sign(alg, &claims);
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid, rsa.public_key_set().keys[0].common.key_id);
            assert_eq!(verified(&rsa, alg, &token)["iss"], "me");
        }
    }

    #[test]
    fn the_public_set_has_no_private_member_and_a_thumbprint_kid() {
        for name in ["ec-a.pem", "rsa-a.pem"] {
            let key = ClientKey::from_pem(&pem(name)).unwrap();
            let set = serde_json::to_value(key.public_key_set()).unwrap();
            let jwk = set["keys"][0].as_object().unwrap();
            for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(!jwk.contains_key(member), "{name}: {member}");
            }
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"].as_str().unwrap().len(), 43, "{name}");
            let shown = format!("{key:?}");
            assert!(
                shown.starts_with("ClientKey { kid: Some(") && !shown.contains("BEGIN"),
                "{shown}"
            );
        }
    }

    #[test]
    fn what_is_not_a_usable_private_key_is_refused_without_showing_it() {
        for text in [pem("rsa-a.pub.pem"), "not a key".into(), String::new()] {
            let message = ClientKey::from_pem(&text).unwrap_err().to_string();
            assert!(message.contains("client_key"), "{message}");
            assert!(!message.contains("BEGIN"), "{message}");
        }
        let short = rsa::RsaPrivateKey::new(&mut p256::elliptic_curve::rand_core::OsRng, 1024)
            .unwrap()
            .to_pkcs1_pem(Default::default())
            .unwrap();
        let message = ClientKey::from_pem(&short).unwrap_err().to_string();
        assert!(message.contains("2048"), "{message}");
        let missing = ClientKey::from_pem_file("/nonexistent/key.pem")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("client_key") && missing.contains("/nonexistent/key.pem"),
            "{missing}"
        );
    }
}
