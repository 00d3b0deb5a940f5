//! ID token verification: signature against the provider's keys, then
//! `iss`, `aud`, `azp`, `exp`, `iat` and `nonce`. Claims are only read from a
//! token that passed every check.

use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use serde_json::{Map, Value};

use crate::{provider::Provider, Error};

/// Clock difference tolerated between the app and the provider, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 60;

/// Only asymmetric algorithms: an HMAC token "signed" with the provider's
/// public key, and `alg=none`, are refused before any key is looked up.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a login expects of its ID token.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    /// The login's nonce; `None` for a refreshed token, which need not carry one.
    pub(crate) nonce: Option<&'a str>,
}

/// Verifies `token` and returns its claims.
pub(crate) async fn verify(
    provider: &Provider,
    token: &str,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, Error> {
    let (header, key) = signing_key(provider, token).await?;
    check(token, header.alg, &key, expected)
}

/// The header of a JWT the provider signed, and the provider's key for it.
/// A token that is no signed JWT, or whose algorithm is not public-key, is
/// refused before any key is looked up; so is one naming an unknown key.
/// Refusals are `Error::InvalidIdToken`; callers checking other kinds of
/// token (access, logout) name them for their kind.
pub(crate) async fn signing_key(
    provider: &Provider,
    token: &str,
) -> Result<(jsonwebtoken::Header, jsonwebtoken::DecodingKey), Error> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        Error::InvalidIdToken(
            "it is not a signed JWT with a supported algorithm (alg=none is refused)".into(),
        )
    })?;
    if !ALLOWED.contains(&header.alg) {
        return Err(Error::InvalidIdToken(format!(
            "it is signed with {:?}; only public-key signatures are accepted",
            header.alg
        )));
    }
    let key = provider
        .decoding_key(header.kid.as_deref(), header.alg)
        .await?;
    Ok((header, key))
}

/// Every check once the key is known: signature, then the claims.
pub(crate) fn check(
    token: &str,
    alg: jsonwebtoken::Algorithm,
    key: &jsonwebtoken::DecodingKey,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, Error> {
    let invalid = |reason: &str| Error::InvalidIdToken(reason.to_owned());
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map_err(|e| Error::InvalidIdToken(describe(e.kind())))?
        .claims;

    let now = jsonwebtoken::get_current_timestamp();
    match claims.get("iat").and_then(Value::as_u64) {
        Some(iat) if iat <= now + LEEWAY_SECS => {}
        Some(_) => return Err(invalid("it was issued in the future (`iat`)")),
        None => return Err(invalid("its `iat` claim is not a number")),
    }
    if let Some(nonce) = expected.nonce {
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(invalid("its nonce does not match this login"));
        }
    }
    check_azp(&claims, expected.client_id)?;
    Ok(claims)
}

/// OpenID Connect Core 3.1.3.7: with several audiences `azp` must be present,
/// and when present it must be this client.
fn check_azp(claims: &Map<String, Value>, client_id: &str) -> Result<(), Error> {
    let several_audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|aud| aud.len() > 1);
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(Error::InvalidIdToken(
            "it was issued to another client (`azp`)".into(),
        )),
        None if several_audiences => Err(Error::InvalidIdToken(
            "it has several audiences but no `azp` claim".into(),
        )),
        None => Ok(()),
    }
}

pub(crate) fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "its signature does not verify".into(),
        ErrorKind::ExpiredSignature => "it has expired (`exp`)".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet (`nbf`)".into(),
        ErrorKind::InvalidIssuer => "it was issued by another provider (`iss`)".into(),
        ErrorKind::InvalidAudience => "it was issued for another client (`aud`)".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it lacks the `{claim}` claim"),
        ErrorKind::InvalidAlgorithm => "its algorithm does not fit the provider's key".into(),
        ErrorKind::Json(_)
        | ErrorKind::Base64(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => "it is not a well-formed JWT".into(),
        other => format!("it could not be verified ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn azp_must_name_this_client() {
        assert!(check_azp(&claims(json!({"aud": "c"})), "c").is_ok());
        assert!(check_azp(&claims(json!({"aud": "c", "azp": "c"})), "c").is_ok());
        assert!(check_azp(&claims(json!({"aud": "c", "azp": "other"})), "c").is_err());
        assert!(check_azp(&claims(json!({"aud": ["c", "other"]})), "c").is_err());
        assert!(check_azp(&claims(json!({"aud": ["c", "other"], "azp": "c"})), "c").is_ok());
    }
}
