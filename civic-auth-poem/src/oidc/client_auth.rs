//! How the app proves to the provider that it is the client: the one place
//! every call to an endpoint that authenticates clients (token, pushed
//! authorization requests, revocation, introspection) gets its credentials.

use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use jsonwebtoken::Algorithm;
use poem::http::{header, HeaderValue};
use serde::Serialize;
use url::form_urlencoded;

use super::{
    client_key::ClientKey,
    discovery::{lists_alg, ProviderMetadata},
};
use crate::{error::Error, random::random_value};

/// How long a client assertion is good for: it is made for one request.
const ASSERTION_LIFETIME_SECS: u64 = 60;
/// RFC 7523 2.2.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client authentication method (`token_endpoint_auth_method`), as the
/// provider registered the client with it.
///
/// Unset, the app uses the strongest the provider advertises of those its
/// credentials allow: `private_key_jwt` with a [`ClientKey`], then
/// `client_secret_basic` and `client_secret_post` with a secret, else
/// `none` (a public client, as in Civic's quickstart). Set it when the
/// provider accepts only the registered method and advertises several.
///
/// ```
/// use civic_auth_poem::ClientAuthMethod;
///
/// let method: ClientAuthMethod = "client_secret_post".parse()?;
/// assert_eq!(method, ClientAuthMethod::ClientSecretPost);
/// assert_eq!(method.as_str(), "client_secret_post");
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// A public client: only `client_id`, and PKCE.
    None,
    /// The secret in an `Authorization: Basic` header (RFC 6749 2.3.1).
    ClientSecretBasic,
    /// The secret in the request body (RFC 6749 2.3.1).
    ClientSecretPost,
    /// A JWT signed with the app's [`ClientKey`] (RFC 7523).
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The strongest first.
    const ALL: [Self; 4] = [
        Self::PrivateKeyJwt,
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::None,
    ];

    /// Its registered name, as in `token_endpoint_auth_methods_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// The setting that gives the app what this method needs.
    pub(crate) fn setting(self) -> &'static str {
        match self {
            Self::None => "no `client_secret` or `client_key` (a public client)",
            Self::ClientSecretBasic | Self::ClientSecretPost => {
                "`client_secret` (CIVIC_CLIENT_SECRET)"
            }
            Self::PrivateKeyJwt => {
                "`client_key` (CIVIC_CLIENT_KEY) and the public key registered at the provider (or its `jwks_uri` at the app's /auth/jwks)"
            }
        }
    }
}

impl std::str::FromStr for ClientAuthMethod {
    type Err = Error;

    /// A registered name, as `CIVIC_CLIENT_AUTH_METHOD` takes it.
    fn from_str(value: &str) -> Result<Self, Error> {
        let name = value.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|method| method.as_str() == name)
            .ok_or_else(|| Error::InvalidConfig {
                field: "client_auth_method",
                value: value.to_owned(),
                reason: "it is `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt` (CIVIC_CLIENT_AUTH_METHOD)".into(),
            })
    }
}

impl std::fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client secret. Never printed.
#[derive(Clone)]
pub(crate) struct ClientSecret(Arc<str>);

impl ClientSecret {
    pub(crate) fn new(secret: &str) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// What the app holds to prove it is the client, from its config.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientCredentials {
    pub(crate) secret: Option<ClientSecret>,
    pub(crate) key: Option<ClientKey>,
    /// The method the app chose; unset, the strongest that fits.
    pub(crate) method: Option<ClientAuthMethod>,
}

impl ClientCredentials {
    /// The methods these credentials allow, the strongest first.
    fn usable(&self) -> Vec<ClientAuthMethod> {
        if let Some(method) = self.method {
            return vec![method];
        }
        ClientAuthMethod::ALL
            .into_iter()
            .filter(|method| match method {
                ClientAuthMethod::PrivateKeyJwt => self.key.is_some(),
                ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                    self.secret.is_some()
                }
                ClientAuthMethod::None => self.key.is_none() && self.secret.is_none(),
            })
            .collect()
    }

    /// Checks that a method the app chose has what it needs.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match self.method {
            Some(ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost) => {
                self.secret().map(drop)
            }
            Some(ClientAuthMethod::PrivateKeyJwt) => self.key().map(drop),
            _ => Ok(()),
        }
    }

    /// Whether the app holds a secret or a key.
    pub(crate) fn confidential(&self) -> bool {
        self.secret.is_some() || self.key.is_some()
    }

    /// How `client_id` authenticates at the provider `metadata` describes:
    /// the strongest usable method it advertises (any usable one, when it
    /// lists none), signing assertions with the strongest algorithm of the
    /// key that it takes.
    pub(crate) fn for_provider(
        &self,
        client_id: &str,
        metadata: &ProviderMetadata,
        allowed_algs: Option<&[Algorithm]>,
    ) -> Result<ClientAuth, Error> {
        let usable = self.usable();
        let offered = &metadata.token_endpoint_auth_methods_supported;
        // A public client is what its registration says: a provider that
        // lists only the methods of confidential clients may still serve
        // public ones, as before client authentication could be chosen.
        let public = self.method.is_none() && !self.confidential();
        let method = usable
            .iter()
            .copied()
            .find(|method| {
                public || offered.is_empty() || offered.iter().any(|o| o == method.as_str())
            })
            .ok_or_else(|| Error::ClientAuthUnsupported {
                offered: offered.join(", "),
                usable: usable
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let proof = match method {
            ClientAuthMethod::None => Proof::None,
            ClientAuthMethod::ClientSecretBasic => Proof::Basic(self.secret()?),
            ClientAuthMethod::ClientSecretPost => Proof::Post(self.secret()?),
            ClientAuthMethod::PrivateKeyJwt => {
                let key = self.key()?;
                let algs = &metadata.token_endpoint_auth_signing_alg_values_supported;
                let alg = key
                    .algorithms()
                    .iter()
                    .copied()
                    .filter(|alg| allowed_algs.is_none_or(|allowed| allowed.contains(alg)))
                    .find(|alg| algs.is_empty() || lists_alg(algs, *alg))
                    .ok_or_else(|| Error::ClientAuthUnsupported {
                        offered: format!("private_key_jwt signed with {}", algs.join(", ")),
                        usable: format!(
                            "a key that signs {}",
                            key.algorithms()
                                .iter()
                                .map(|a| format!("{a:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
                Proof::Jwt(key, alg)
            }
        };
        Ok(ClientAuth {
            client_id: client_id.into(),
            audience: metadata.issuer.as_str().into(),
            proof,
        })
    }

    fn secret(&self) -> Result<ClientSecret, Error> {
        self.secret.clone().ok_or(Error::MissingConfig {
            field: "client_secret",
            env: "CIVIC_CLIENT_SECRET",
        })
    }

    pub(crate) fn key(&self) -> Result<ClientKey, Error> {
        self.key.clone().ok_or(Error::MissingConfig {
            field: "client_key",
            env: "CIVIC_CLIENT_KEY",
        })
    }
}

/// The client authentication settled for one provider; added to each
/// request, fresh for each (an assertion is good for one use).
#[derive(Clone, Debug)]
pub(crate) struct ClientAuth {
    client_id: Arc<str>,
    /// The provider's issuer identifier, the assertions' `aud`.
    audience: Arc<str>,
    proof: Proof,
}

#[derive(Clone, Debug)]
enum Proof {
    None,
    Basic(ClientSecret),
    Post(ClientSecret),
    Jwt(ClientKey, Algorithm),
}

/// The claims of a client assertion (RFC 7523 3).
#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

impl ClientAuth {
    /// The method in use.
    pub(crate) fn method(&self) -> ClientAuthMethod {
        match self.proof {
            Proof::None => ClientAuthMethod::None,
            Proof::Basic(_) => ClientAuthMethod::ClientSecretBasic,
            Proof::Post(_) => ClientAuthMethod::ClientSecretPost,
            Proof::Jwt(..) => ClientAuthMethod::PrivateKeyJwt,
        }
    }

    /// Adds this client's credentials, made at `now`, to `request`, a form
    /// POST: `client_id` in the body when it is not there yet, and the
    /// method's header or fields.
    pub(crate) fn apply(&self, request: &mut reqwest::Request, now: u64) {
        debug_assert!(
            request.body().is_none_or(|body| body.as_bytes().is_some()),
            "a form posted to the provider is bytes, not a stream"
        );
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        let has_client_id = form_urlencoded::parse(body).any(|(name, _)| name == "client_id");
        let mut fields =
            form_urlencoded::Serializer::new(String::from_utf8_lossy(body).into_owned());
        if !has_client_id {
            fields.append_pair("client_id", &self.client_id);
        }
        match &self.proof {
            Proof::None => {}
            Proof::Basic(secret) => {
                // RFC 6749 2.3.1: each part form-encoded before base64.
                let encode = |text: &str| {
                    form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
                };
                let credentials = format!("{}:{}", encode(&self.client_id), encode(&secret.0));
                if let Ok(mut value) =
                    HeaderValue::try_from(format!("Basic {}", BASE64.encode(credentials)))
                {
                    value.set_sensitive(true);
                    request.headers_mut().insert(header::AUTHORIZATION, value);
                }
            }
            Proof::Post(secret) => {
                fields.append_pair("client_secret", &secret.0);
            }
            Proof::Jwt(key, alg) => {
                let assertion = Assertion {
                    iss: &self.client_id,
                    sub: &self.client_id,
                    aud: &self.audience,
                    jti: random_value(),
                    iat: now,
                    exp: now + ASSERTION_LIFETIME_SECS,
                };
                fields
                    .append_pair("client_assertion_type", ASSERTION_TYPE)
                    .append_pair("client_assertion", &key.sign(*alg, &assertion));
            }
        }
        let body = fields.finish();
        request.headers_mut().remove(header::CONTENT_LENGTH);
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        *request.body_mut() = Some(body.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientAuthMethod as M;

    const NOW: u64 = 1_700_000_000;

    fn key(name: &str) -> ClientKey {
        ClientKey::from_pem_file(format!(
            "{}/../tests/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn provider(methods: &[&str], algs: &[&str]) -> ProviderMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.example/",
            "authorization_endpoint": "https://idp.example/auth",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
        }))
        .unwrap()
    }

    fn credentials(
        secret: Option<&str>,
        key_file: Option<&str>,
        method: Option<ClientAuthMethod>,
    ) -> ClientCredentials {
        ClientCredentials {
            secret: secret.map(ClientSecret::new),
            key: key_file.map(key),
            method,
        }
    }

    fn chosen(
        credentials: &ClientCredentials,
        methods: &[&str],
    ) -> Result<ClientAuthMethod, Error> {
        credentials
            .for_provider("app", &provider(methods, &[]), None)
            .map(|auth| auth.method())
    }

    #[test]
    fn the_strongest_method_both_sides_allow_is_used() {
        let all = [
            "none",
            "client_secret_post",
            "client_secret_basic",
            "private_key_jwt",
        ];
        let both = credentials(Some("s"), Some("ec-a.pem"), None);
        assert_eq!(chosen(&both, &all).unwrap(), M::PrivateKeyJwt);
        assert_eq!(
            chosen(&both, &["client_secret_post", "client_secret_basic"]).unwrap(),
            M::ClientSecretBasic
        );
        assert_eq!(
            chosen(&both, &["client_secret_post"]).unwrap(),
            M::ClientSecretPost
        );
        let secret = credentials(Some("s"), None, None);
        assert_eq!(chosen(&secret, &all).unwrap(), M::ClientSecretBasic);
        assert_eq!(
            chosen(&secret, &[]).unwrap(),
            M::ClientSecretBasic,
            "unlisted: any"
        );
        let public = credentials(None, None, None);
        assert_eq!(chosen(&public, &all).unwrap(), M::None);
        let pinned = credentials(Some("s"), None, Some(M::ClientSecretPost));
        assert_eq!(chosen(&pinned, &all).unwrap(), M::ClientSecretPost);

        let message = chosen(&secret, &["none", "private_key_jwt"])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("none, private_key_jwt")
                && message.contains("client_secret_basic, client_secret_post")
                && message.contains("CIVIC_CLIENT_KEY"),
            "{message}"
        );
        assert_eq!(
            chosen(&public, &["client_secret_basic"]).unwrap(),
            M::None,
            "a public client is what it is registered as"
        );
        let pinned_none = credentials(None, None, Some(M::None));
        assert!(chosen(&pinned_none, &["client_secret_basic"]).is_err());
        assert!(
            chosen(&both, &["none"]).is_err(),
            "a confidential client never falls back to none"
        );
    }

    #[test]
    fn a_chosen_method_needs_its_credential() {
        for method in [M::ClientSecretBasic, M::ClientSecretPost] {
            let error = credentials(None, Some("ec-a.pem"), Some(method))
                .check()
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    Error::MissingConfig {
                        field: "client_secret",
                        ..
                    }
                ),
                "{error}"
            );
        }
        let error = credentials(Some("s"), None, Some(M::PrivateKeyJwt))
            .check()
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::MissingConfig {
                    field: "client_key",
                    ..
                }
            ),
            "{error}"
        );
        assert!(credentials(None, None, Some(M::None)).check().is_ok());
        assert!(credentials(Some("s"), None, Some(M::ClientSecretPost))
            .check()
            .is_ok());
        assert_eq!(
            "Private_Key_JWT ".parse::<ClientAuthMethod>().unwrap(),
            M::PrivateKeyJwt
        );
        for method in ClientAuthMethod::ALL {
            assert_eq!(
                method.to_string().parse::<ClientAuthMethod>().unwrap(),
                method
            );
        }
        let message = "tls_client_auth"
            .parse::<ClientAuthMethod>()
            .unwrap_err()
            .to_string();
        assert!(message.contains("CIVIC_CLIENT_AUTH_METHOD"), "{message}");
    }

    #[test]
    fn an_rsa_key_signs_the_strongest_algorithm_offered() {
        let rsa = credentials(None, Some("rsa-a.pem"), None);
        let alg = |algs: &[&str]| match rsa
            .for_provider("app", &provider(&[], algs), None)
            .map(|a| a.proof)
        {
            Ok(Proof::Jwt(_, alg)) => Ok(alg),
            Ok(other) => panic!("{other:?}"),
            Err(error) => Err(error.to_string()),
        };
        assert_eq!(alg(&[]).unwrap(), Algorithm::PS256);
        assert_eq!(alg(&["RS256", "PS256"]).unwrap(), Algorithm::PS256);
        assert_eq!(alg(&["ES256", "RS256"]).unwrap(), Algorithm::RS256);
        let message = alg(&["ES256", "HS256"]).unwrap_err();
        assert!(
            message.contains("ES256, HS256") && message.contains("PS256, RS256"),
            "{message}"
        );
        // The FAPI 2.0 profile's algorithms only.
        let fapi = [Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];
        let alg_of =
            |algs: &[&str]| match rsa.for_provider("app", &provider(&[], algs), Some(&fapi)) {
                Ok(ClientAuth {
                    proof: Proof::Jwt(_, alg),
                    ..
                }) => Some(alg),
                _ => None,
            };
        assert_eq!(alg_of(&[]), Some(Algorithm::PS256));
        assert_eq!(alg_of(&["RS256", "PS256"]), Some(Algorithm::PS256));
        assert_eq!(alg_of(&["RS256"]), None, "never RS256");
    }

    /// `auth` applied to a form POST of `a=1&client_id=app` (`with_id`) or `a=1`.
    fn applied(auth: &ClientAuth, with_id: bool) -> (Option<String>, Vec<(String, String)>) {
        let form: &[(&str, &str)] = if with_id {
            &[("a", "1"), ("client_id", "app")]
        } else {
            &[("a", "1")]
        };
        let mut request = reqwest::Client::new()
            .post("https://idp.example/token")
            .form(form)
            .build()
            .unwrap();
        auth.apply(&mut request, NOW);
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = request.body().and_then(reqwest::Body::as_bytes).unwrap();
        (header, form_urlencoded::parse(body).into_owned().collect())
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn each_method_puts_its_credentials_where_the_provider_reads_them() {
        let everything = [
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ];
        let metadata = provider(&everything, &[]);
        let auth = |secret, key_file, method| {
            credentials(secret, key_file, Some(method))
                .for_provider("app:1", &metadata, None)
                .unwrap()
        };

        let (header, fields) = applied(&auth(None, None, M::None), false);
        assert_eq!(header, None);
        assert_eq!(
            fields,
            [
                ("a".into(), "1".into()),
                ("client_id".into(), "app:1".into())
            ]
        );

        // RFC 6749 2.3.1: form-encoded, then base64.
        let (header, fields) = applied(&auth(Some("p@ss w%rd"), None, M::ClientSecretBasic), true);
        let encoded = BASE64.encode("app%3A1:p%40ss+w%25rd");
        assert_eq!(header.unwrap(), format!("Basic {encoded}"));
        assert!(field(&fields, "client_secret").is_empty());
        assert_eq!(
            field(&fields, "client_id"),
            ["app"],
            "left as the request had it"
        );

        let (header, fields) = applied(&auth(Some("p@ss w%rd"), None, M::ClientSecretPost), false);
        assert_eq!(header, None);
        assert_eq!(field(&fields, "client_secret"), ["p@ss w%rd"]);
        assert_eq!(field(&fields, "client_id"), ["app:1"]);

        let jwt = auth(None, Some("ec-a.pem"), M::PrivateKeyJwt);
        let (header, fields) = applied(&jwt, false);
        assert_eq!(header, None);
        assert_eq!(field(&fields, "client_assertion_type"), [ASSERTION_TYPE]);
        let assertion = field(&fields, "client_assertion")[0].to_owned();
        let public = &key("ec-a.pem").public_key_set().keys[0];
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://idp.example/"]);
        validation.validate_exp = false;
        let claims: serde_json::Value = jsonwebtoken::decode(
            &assertion,
            &jsonwebtoken::DecodingKey::from_jwk(public).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["iss"], "app:1");
        assert_eq!(claims["sub"], "app:1");
        assert_eq!(
            claims["aud"], "https://idp.example/",
            "a string, the issuer"
        );
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + ASSERTION_LIFETIME_SECS);
        // Each request gets its own assertion.
        let (_, again) = applied(&jwt, false);
        assert_ne!(field(&again, "client_assertion")[0], assertion);
        assert!(!format!("{jwt:?}").contains("p@ss"));
        let shown = format!("{:?}", auth(Some("p@ss w%rd"), None, M::ClientSecretPost));
        assert!(shown.contains("Post(ClientSecret(..))"), "{shown}");
    }
}
