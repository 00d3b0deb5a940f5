//! How the app proves to the provider that it is the client: the one place
//! every call to an endpoint that authenticates clients (token, pushed
//! authorization requests, revocation, introspection) gets its credentials.

use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use jsonwebtoken::Algorithm;
use poem::http::{header, HeaderValue};
use serde::Serialize;
use url::form_urlencoded;

use super::discovery::{lists_alg, ProviderMetadata};
use crate::{
    credentials::{key::ClientKey, method::ClientAuthMethod, ClientCredentials, ClientSecret},
    error::Error,
    random::random_value,
};

/// How long a client assertion is good for: it is made for one request.
const ASSERTION_LIFETIME_SECS: u64 = 60;
/// RFC 7523 2.2.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
    /// How `client_id`, holding `credentials`, authenticates at the provider
    /// `metadata` describes:
    /// the strongest usable method it advertises (any usable one, when it
    /// lists none), signing assertions with the strongest algorithm of the
    /// key that it takes.
    pub(crate) fn settle(
        credentials: &ClientCredentials,
        client_id: &str,
        metadata: &ProviderMetadata,
        allowed_algs: Option<&[Algorithm]>,
    ) -> Result<Self, Error> {
        let usable = credentials.usable();
        let offered = &metadata.token_endpoint_auth_methods_supported;
        // A public client is what its registration says: a provider that
        // lists only the methods of confidential clients may still serve
        // public ones, as before client authentication could be chosen.
        let public = credentials.method.is_none() && !credentials.confidential();
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
            ClientAuthMethod::ClientSecretBasic => Proof::Basic(credentials.secret()?),
            ClientAuthMethod::ClientSecretPost => Proof::Post(credentials.secret()?),
            ClientAuthMethod::PrivateKeyJwt => {
                let key = credentials.key()?;
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
        Ok(Self {
            client_id: client_id.into(),
            audience: metadata.issuer.as_str().into(),
            proof,
        })
    }

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
                let credentials =
                    format!("{}:{}", encode(&self.client_id), encode(secret.expose()));
                if let Ok(mut value) =
                    HeaderValue::try_from(format!("Basic {}", BASE64.encode(credentials)))
                {
                    value.set_sensitive(true);
                    request.headers_mut().insert(header::AUTHORIZATION, value);
                }
            }
            Proof::Post(secret) => {
                fields.append_pair("client_secret", secret.expose());
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
        ClientAuth::settle(credentials, "app", &provider(methods, &[]), None)
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
    fn an_rsa_key_signs_the_strongest_algorithm_offered() {
        let rsa = credentials(None, Some("rsa-a.pem"), None);
        let alg = |algs: &[&str]| match ClientAuth::settle(&rsa, "app", &provider(&[], algs), None)
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
        let alg_of = |algs: &[&str]| match ClientAuth::settle(
            &rsa,
            "app",
            &provider(&[], algs),
            Some(&fapi),
        ) {
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
            ClientAuth::settle(
                &credentials(secret, key_file, Some(method)),
                "app:1",
                &metadata,
                None,
            )
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
