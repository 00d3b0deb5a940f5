//! The one token verifier: ID tokens, access tokens and logout tokens all
//! pass through [`TokenVerifier::verify`], which checks the signature
//! against the provider's keys, then issuer, audience, time and the token's
//! type. Claims exist only as the result of that call.

use std::sync::Arc;

use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use serde_json::{Map, Value};

use super::{discovery::lists_alg, provider::Provider};
use crate::{
    clock::{Clock, LEEWAY_SECS},
    error::printable,
    error::Error,
    random::Nonce,
    user::CivicUser,
};

/// A logout token older than this is refused.
const LOGOUT_TOKEN_MAX_AGE_SECS: u64 = 600;
/// How long after its `iat` a logout token is accepted, leeway included:
/// as long as its `jti` must be remembered.
pub(crate) const LOGOUT_TOKEN_ACCEPTED_SECS: u64 = LOGOUT_TOKEN_MAX_AGE_SECS + LEEWAY_SECS;
/// Tokens longer than this are refused unread.
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

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

/// What kind of token is expected, and what it must carry.
#[derive(Clone, Copy)]
pub(crate) enum Expected<'a> {
    /// An ID token: from a login, with its nonce; from a refresh, without.
    Id { nonce: Option<&'a Nonce> },
    /// An access token sent by an API client (RFC 9068 when a JWT).
    Access,
    /// A back-channel logout token (OpenID Connect Back-Channel Logout 1.0).
    Logout,
}

impl Expected<'_> {
    fn refusal(self, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        match self {
            Expected::Id { .. } => Error::InvalidIdToken(reason),
            Expected::Access => Error::InvalidBearerToken(reason),
            Expected::Logout => Error::InvalidLogoutToken(reason),
        }
    }
}

/// The claims of a token that passed every check; nothing else makes one.
#[derive(Debug)]
pub(crate) struct Claims(Map<String, Value>);

impl Claims {
    fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    fn number(&self, name: &str) -> Option<u64> {
        self.0.get(name).and_then(Value::as_u64)
    }

    pub(crate) fn sub(&self) -> Option<&str> {
        self.text("sub")
    }

    /// The provider's session id.
    pub(crate) fn sid(&self) -> Option<&str> {
        self.text("sid")
    }

    pub(crate) fn jti(&self) -> Option<&str> {
        self.text("jti")
    }

    pub(crate) fn iat(&self) -> Option<u64> {
        self.number("iat")
    }

    pub(crate) fn exp(&self) -> Option<u64> {
        self.number("exp")
    }

    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`).
    pub(crate) fn confirmation_jkt(&self) -> Option<&str> {
        super::dpop::bound_key(&self.0)
    }

    /// The user the token is about.
    pub(crate) fn into_user(self) -> Result<CivicUser, Error> {
        CivicUser::from_claims(self.0)
    }
}

/// Verifies tokens signed by the provider for this client.
pub(crate) struct TokenVerifier {
    provider: Arc<Provider>,
    client_id: String,
    clock: Clock,
    /// The only algorithms tokens may be signed with, when a security
    /// profile limits them.
    profile_algs: Option<&'static [Algorithm]>,
}

impl TokenVerifier {
    pub(crate) fn new(
        provider: Arc<Provider>,
        client_id: String,
        clock: Clock,
        profile_algs: Option<&'static [Algorithm]>,
    ) -> Self {
        Self {
            provider,
            client_id,
            clock,
            profile_algs,
        }
    }

    /// Checks `token` as the `expected` kind; a refusal is the kind's own
    /// error (`InvalidIdToken`, `InvalidBearerToken`, `InvalidLogoutToken`),
    /// a provider that cannot be reached is `ProviderUnavailable`.
    pub(crate) async fn verify(
        &self,
        token: &str,
        expected: Expected<'_>,
    ) -> Result<Claims, Error> {
        let header = header(token, expected)?;
        let metadata = self.provider.metadata().await?;
        if matches!(expected, Expected::Id { .. }) {
            let advertised = &metadata.id_token_signing_alg_values_supported;
            if !advertised.is_empty() && !lists_alg(advertised, header.alg) {
                return Err(expected.refusal(format!(
                    "it is signed with {:?}, which the provider does not list for ID tokens (`id_token_signing_alg_values_supported`)",
                    header.alg
                )));
            }
        }
        if self
            .profile_algs
            .is_some_and(|allowed| !allowed.contains(&header.alg))
        {
            return Err(expected.refusal(format!(
                "it is signed with {:?}, and the FAPI 2.0 profile allows only PS256, ES256 and EdDSA",
                header.alg
            )));
        }
        let key = self
            .provider
            .decoding_key(header.kid.as_deref(), header.alg)
            .await?
            .ok_or_else(|| {
                expected.refusal(match header.kid.as_deref() {
                    Some(kid) => format!(
                        "it is signed with key `{}`, which the provider does not publish",
                        printable(kid)
                    ),
                    None => "it names no key and the provider has no single matching key".into(),
                })
            })?;
        self.check(token, &header, &key, &metadata.issuer, expected)
    }

    /// Every check once the key is known: the signature, then the claims
    /// against this crate's clock.
    pub(crate) fn check(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
        key: &jsonwebtoken::DecodingKey,
        issuer: &str,
        expected: Expected<'_>,
    ) -> Result<Claims, Error> {
        let mut signature_only = Validation::new(header.alg);
        signature_only.required_spec_claims.clear();
        signature_only.validate_exp = false;
        signature_only.validate_nbf = false;
        signature_only.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &signature_only)
            .map_err(|e| expected.refusal(describe(e.kind())))?
            .claims;
        let claims = Claims(claims);
        match claims.text("iss") {
            Some(iss) if iss == issuer => {}
            Some(_) => return Err(expected.refusal("it was issued by another provider (`iss`)")),
            None => return Err(expected.refusal("it lacks the `iss` claim")),
        }
        self.check_time(&claims, expected)?;
        self.check_audience(&claims, expected)?;
        check_kind(header, &claims, expected)?;
        Ok(claims)
    }

    fn check_time(&self, claims: &Claims, expected: Expected<'_>) -> Result<(), Error> {
        let refuse = |reason: &str| Err(expected.refusal(reason));
        let now = self.clock.now_secs();
        let is_number = |name| claims.0.get(name).is_none_or(Value::is_u64);
        if !is_number("exp") || !is_number("iat") || !is_number("nbf") {
            return refuse("its `exp`, `iat` or `nbf` is not a number of seconds");
        }
        match claims.exp() {
            Some(exp) if exp.saturating_add(LEEWAY_SECS) < now => {
                return refuse("it has expired (`exp`)")
            }
            // A logout token need not expire; ID and access tokens must.
            None if !matches!(expected, Expected::Logout) => {
                return refuse("it lacks the `exp` claim")
            }
            _ => {}
        }
        if claims
            .number("nbf")
            .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS))
        {
            return refuse("it is not valid yet (`nbf`)");
        }
        match claims.iat() {
            Some(iat) if iat > now.saturating_add(LEEWAY_SECS) => {
                refuse("it was issued in the future (`iat`)")
            }
            Some(iat)
                if matches!(expected, Expected::Logout)
                    && iat.saturating_add(LOGOUT_TOKEN_ACCEPTED_SECS) <= now =>
            {
                refuse("it was issued too long ago (`iat`)")
            }
            None if !matches!(expected, Expected::Access) => refuse("it lacks the `iat` claim"),
            _ => Ok(()),
        }
    }

    fn check_audience(&self, claims: &Claims, expected: Expected<'_>) -> Result<(), Error> {
        let client_id = self.client_id.as_str();
        let audiences: Vec<&str> = match claims.0.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let for_me = audiences.contains(&client_id);
        match expected {
            // RFC 9068: an access token names the API it is for in `aud`;
            // this client shows in `aud`, `client_id` or `azp`.
            Expected::Access => {
                let named = |claim| claims.text(claim) == Some(client_id);
                if for_me || named("client_id") || named("azp") {
                    Ok(())
                } else {
                    Err(expected.refusal("it was issued to another client"))
                }
            }
            _ if audiences.is_empty() => Err(expected.refusal("it lacks the `aud` claim")),
            _ if !for_me => Err(expected.refusal("it was issued for another client (`aud`)")),
            // OpenID Connect Core 3.1.3.7: with several audiences `azp` must
            // be present, and when present it must be this client.
            Expected::Id { .. } => match claims.0.get("azp") {
                Some(Value::String(azp)) if azp == client_id => Ok(()),
                Some(_) => Err(expected.refusal("it was issued to another client (`azp`)")),
                None if audiences.len() > 1 => {
                    Err(expected.refusal("it has several audiences but no `azp` claim"))
                }
                None => Ok(()),
            },
            Expected::Logout => Ok(()),
        }
    }
}

/// Whether `token` is worth reading: not empty, no longer than any token
/// accepted here.
pub(crate) fn is_bounded(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN
}

/// The header of a token that may be a JWT the provider signed: bounded in
/// length, and only with a public-key algorithm.
pub(crate) fn header(token: &str, expected: Expected<'_>) -> Result<jsonwebtoken::Header, Error> {
    if !is_bounded(token) {
        return Err(expected.refusal("it is empty or too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        expected.refusal("it is not a signed JWT with a supported algorithm (alg=none is refused)")
    })?;
    if !ALLOWED.contains(&header.alg) {
        return Err(expected.refusal(format!(
            "it is signed with {:?}; only public-key signatures are accepted",
            header.alg
        )));
    }
    Ok(header)
}

/// What makes a token the kind expected, so that none passes for another.
fn check_kind(
    header: &jsonwebtoken::Header,
    claims: &Claims,
    expected: Expected<'_>,
) -> Result<(), Error> {
    let refuse = |reason: &str| Err(expected.refusal(reason));
    let has = |claim: &str| claims.0.contains_key(claim);
    let has_sub = claims.sub().is_some_and(|sub| !sub.is_empty());
    match expected {
        Expected::Id { nonce } => {
            if !has_sub {
                return refuse("it lacks the `sub` claim");
            }
            match nonce {
                Some(nonce) if claims.text("nonce") != Some(nonce.as_str()) => {
                    refuse("its nonce does not match this login")
                }
                _ => Ok(()),
            }
        }
        Expected::Access => {
            // RFC 9068 access tokens say so in `typ` or carry `client_id`; ID
            // tokens and logout tokens do neither, and carry a `nonce`,
            // `events` or hashes of other tokens.
            let typed = header.typ.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
            });
            let id_or_logout = ["nonce", "events", "at_hash", "c_hash"]
                .iter()
                .any(|claim| has(claim));
            if !(typed || has("client_id")) || id_or_logout {
                return refuse(
                    "it is not an access token (an ID or logout token cannot be used here)",
                );
            }
            if !has_sub {
                return refuse("it lacks the `sub` claim");
            }
            Ok(())
        }
        Expected::Logout => {
            let has_event = claims
                .0
                .get("events")
                .and_then(Value::as_object)
                .is_some_and(|events| events.get(LOGOUT_EVENT).is_some_and(Value::is_object));
            if !has_event {
                return refuse("its `events` claim lacks the back-channel logout event");
            }
            if has("nonce") {
                return refuse("it carries a `nonce`, which logout tokens must not");
            }
            if claims.jti().is_none_or(str::is_empty) {
                return refuse("it has no `jti`");
            }
            if claims.sid().is_none() && !has_sub {
                return refuse("it names neither `sid` nor `sub`");
            }
            Ok(())
        }
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "its signature does not verify".into(),
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
    //! The checks after the signature, at their boundaries; the journeys
    //! in `tests/callback.rs`, `tests/bearer.rs` and `tests/backchannel.rs`
    //! cover keys, algorithms and signatures.

    use jsonwebtoken::{encode, DecodingKey, EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::{clock::ManualClock, config::CivicAuthConfig};

    const ISSUER: &str = "https://auth.example/oauth/";
    // `check` takes the key it is given; HMAC keeps these tests short
    // (`header`, which every real token passes first, refuses it).
    const SECRET: &[u8] = b"a secret for signing test tokens";

    fn verifier() -> (TokenVerifier, u64) {
        let clock = ManualClock::now();
        let config = CivicAuthConfig::builder()
            .client_id("app")
            .redirect_url("http://localhost:5000/auth/callback")
            .post_logout_redirect_url("http://localhost:5000/")
            .oauth_server(ISSUER)
            .clock(clock)
            .build()
            .unwrap();
        let now = config.clock.now_secs();
        let verifier = TokenVerifier::new(
            Arc::new(Provider::new(&config)),
            "app".into(),
            config.clock.clone(),
            None,
        );
        (verifier, now)
    }

    /// Checks a token with `claims` over the base ones (`null` removes one).
    fn check(
        verifier: &TokenVerifier,
        typ: Option<&str>,
        claims: Value,
        expected: Expected<'_>,
    ) -> Result<Claims, Error> {
        let mut all = json!({"iss": ISSUER, "sub": "u", "aud": "app"});
        for (name, value) in claims.as_object().unwrap() {
            match value {
                Value::Null => all.as_object_mut().unwrap().remove(name),
                value => all
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        let token = encode(&header, &all, &EncodingKey::from_secret(SECRET)).unwrap();
        let key = DecodingKey::from_secret(SECRET);
        verifier.check(&token, &header, &key, ISSUER, expected)
    }

    const ID: Expected<'static> = Expected::Id { nonce: None };

    #[test]
    fn times_are_checked_up_to_the_leeway_and_no_further() {
        let (v, now) = verifier();
        let at = |claims: Value| check(&v, None, claims, ID);
        let leeway = LEEWAY_SECS;
        assert!(at(json!({"exp": now - leeway, "iat": now})).is_ok());
        assert!(at(json!({"exp": now - leeway - 1, "iat": now})).is_err());
        assert!(at(json!({"exp": now + 60, "iat": now, "nbf": now + leeway})).is_ok());
        assert!(at(json!({"exp": now + 60, "iat": now, "nbf": now + leeway + 1})).is_err());
        assert!(at(json!({"exp": now + 60, "iat": now + leeway})).is_ok());
        assert!(at(json!({"exp": now + 60, "iat": now + leeway + 1})).is_err());
        assert!(
            at(json!({"exp": now + 60})).is_err(),
            "an ID token needs `iat`"
        );
        let access = check(
            &v,
            Some("at+jwt"),
            json!({"exp": now + 60, "client_id": "app"}),
            Expected::Access,
        );
        assert!(access.is_ok(), "an access token need not have `iat`");
    }

    #[test]
    fn an_id_token_may_name_this_client_as_its_party() {
        let (v, now) = verifier();
        let base = json!({"exp": now + 60, "iat": now});
        let with = |extra: Value| {
            let mut claims = base.clone();
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            check(&v, None, claims, ID)
        };
        assert!(with(json!({"azp": "app"})).is_ok());
        assert!(with(json!({"azp": "other"})).is_err());
        assert!(with(json!({"aud": ["app", "api"], "azp": "app"})).is_ok());
        assert!(with(json!({"aud": ["app", "api"]})).is_err());
    }

    #[test]
    fn an_access_token_says_so_and_is_no_other_kind() {
        let (v, now) = verifier();
        let access = |typ, claims: Value| {
            let mut all = json!({"exp": now + 60, "iat": now});
            all.as_object_mut()
                .unwrap()
                .extend(claims.as_object().unwrap().clone());
            check(&v, typ, all, Expected::Access)
        };
        assert!(access(Some("at+jwt"), json!({})).is_ok());
        assert!(access(Some("application/at+jwt"), json!({})).is_ok());
        assert!(access(None, json!({"client_id": "app"})).is_ok());
        assert!(
            access(Some("JWT"), json!({})).is_err(),
            "an ID token's shape"
        );
        assert!(access(None, json!({"client_id": "app", "nonce": "n"})).is_err());
        assert!(access(Some("at+jwt"), json!({"at_hash": "h"})).is_err());
    }
}
