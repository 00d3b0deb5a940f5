//! The provider's OpenID Connect discovery document.

use serde::Deserialize;
use url::Url;

use crate::error::{printable, Error};

/// The parts of `/.well-known/openid-configuration` the library uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderMetadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: Url,
    pub(crate) token_endpoint: Url,
    pub(crate) jwks_uri: Url,
    #[serde(default)]
    pub(crate) userinfo_endpoint: Option<Url>,
    #[serde(default)]
    pub(crate) end_session_endpoint: Option<Url>,
    /// RFC 7662: tells whether a token is active, and for which client.
    #[serde(default)]
    pub(crate) introspection_endpoint: Option<Url>,
    /// RFC 7009: where a logout revokes the session's tokens.
    #[serde(default)]
    pub(crate) revocation_endpoint: Option<Url>,
    /// RFC 9207: when true, every authorization response carries `iss`.
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
    /// RFC 9126: where a login's request is pushed before the browser goes.
    #[serde(default)]
    pub(crate) pushed_authorization_request_endpoint: Option<Url>,
    /// RFC 9449: the algorithms of DPoP proofs the provider accepts.
    #[serde(default)]
    pub(crate) dpop_signing_alg_values_supported: Vec<String>,
    /// The scopes the provider offers, if it says.
    #[serde(default)]
    pub(crate) scopes_supported: Vec<String>,
    /// How the provider may hand a login's answer back, if it says.
    #[serde(default)]
    pub(crate) response_modes_supported: Vec<String>,
    /// What ID tokens may be signed with; OpenID Connect Discovery requires
    /// it, and a token signed otherwise is refused.
    #[serde(default)]
    pub(crate) id_token_signing_alg_values_supported: Vec<String>,
    /// How clients may authenticate, if it says.
    #[serde(default)]
    pub(crate) token_endpoint_auth_methods_supported: Vec<String>,
    /// What client assertions may be signed with, if it says.
    #[serde(default)]
    pub(crate) token_endpoint_auth_signing_alg_values_supported: Vec<String>,
}

/// The parts of the provider's OAuth metadata (RFC 8414) read besides its
/// OpenID Connect discovery document: endpoints some providers publish
/// only there.
#[derive(Debug, Deserialize)]
pub(crate) struct OAuthMetadata {
    issuer: String,
    #[serde(default)]
    introspection_endpoint: Option<Url>,
    #[serde(default)]
    revocation_endpoint: Option<Url>,
}

impl ProviderMetadata {
    /// Whether an endpoint the OAuth metadata may hold is missing here.
    pub(crate) fn lacks_oauth_endpoints(&self) -> bool {
        self.introspection_endpoint.is_none() || self.revocation_endpoint.is_none()
    }

    /// Takes the endpoints this document lacks from `oauth`, when it is the
    /// same issuer's.
    pub(crate) fn complete_from(&mut self, oauth: OAuthMetadata) {
        if !same_issuer(&self.issuer, &oauth.issuer) {
            return;
        }
        self.introspection_endpoint = self
            .introspection_endpoint
            .take()
            .or(oauth.introspection_endpoint);
        self.revocation_endpoint = self
            .revocation_endpoint
            .take()
            .or(oauth.revocation_endpoint);
    }

    /// Checks that the document belongs to the configured issuer.
    pub(crate) fn check_issuer(&self, configured: &Url) -> Result<(), Error> {
        if same_issuer(configured.as_str(), &self.issuer) {
            Ok(())
        } else {
            Err(Error::IssuerMismatch {
                configured: configured.to_string(),
                advertised: printable(&self.issuer).into_owned(),
            })
        }
    }
}

/// Whether a provider's list of algorithms names `alg`.
pub(crate) fn lists_alg(list: &[String], alg: jsonwebtoken::Algorithm) -> bool {
    let name = format!("{alg:?}");
    list.contains(&name)
}

/// Where the discovery document of `issuer` lives.
pub(crate) fn discovery_url(issuer: &Url) -> Result<Url, Error> {
    let base = issuer.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration")).map_err(|e| {
        Error::InvalidConfig {
            field: "oauth_server",
            value: issuer.to_string(),
            reason: e.to_string(),
        }
    })
}

/// Where the OAuth metadata of `issuer` lives (RFC 8414 3.1: the well-known
/// path goes between the host and the issuer's path).
pub(crate) fn oauth_metadata_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url
}

/// Issuers are compared exactly, but for one trailing slash: Civic's issuer
/// is `https://auth.civic.com/oauth/` while apps configure it without.
fn same_issuer(configured: &str, advertised: &str) -> bool {
    let trim = |s: &str| s.strip_suffix('/').unwrap_or(s).to_owned();
    trim(configured) == trim(advertised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_match_up_to_one_trailing_slash() {
        assert!(same_issuer(
            "https://auth.civic.com/oauth",
            "https://auth.civic.com/oauth/"
        ));
        assert!(same_issuer(
            "https://auth.civic.com/oauth/",
            "https://auth.civic.com/oauth"
        ));
        assert!(!same_issuer(
            "https://auth.civic.com/oauth",
            "https://auth.civic.com/oauth//"
        ));
        assert!(!same_issuer(
            "https://auth.civic.com/oauth",
            "https://evil.example/oauth"
        ));
        assert!(!same_issuer(
            "https://auth.civic.com/oauth",
            "https://auth.civic.com/oauth2"
        ));
    }

    #[test]
    fn oauth_metadata_sits_before_the_issuer_path() {
        let at = |issuer: &str| oauth_metadata_url(&Url::parse(issuer).unwrap()).to_string();
        assert_eq!(
            at("https://auth.civic.com/oauth/"),
            "https://auth.civic.com/.well-known/oauth-authorization-server/oauth"
        );
        assert_eq!(
            at("https://idp.example"),
            "https://idp.example/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn only_the_same_issuers_oauth_metadata_completes_discovery() {
        let discovered = || -> ProviderMetadata {
            serde_json::from_value(serde_json::json!({
                "issuer": "https://idp.example/oauth/",
                "authorization_endpoint": "https://idp.example/oauth/auth",
                "token_endpoint": "https://idp.example/oauth/token",
                "jwks_uri": "https://idp.example/oauth/jwks",
                "revocation_endpoint": "https://idp.example/oauth/revoke",
            }))
            .unwrap()
        };
        let oauth = |issuer: &str| -> OAuthMetadata {
            serde_json::from_value(serde_json::json!({
                "issuer": issuer,
                "introspection_endpoint": "https://idp.example/oauth/introspect",
                "revocation_endpoint": "https://elsewhere.example/revoke",
            }))
            .unwrap()
        };
        let mut metadata = discovered();
        assert!(metadata.lacks_oauth_endpoints());
        metadata.complete_from(oauth("https://idp.example/oauth"));
        let url = |u: &Option<Url>| u.as_ref().map(Url::to_string);
        assert_eq!(
            url(&metadata.introspection_endpoint).as_deref(),
            Some("https://idp.example/oauth/introspect")
        );
        assert_eq!(
            url(&metadata.revocation_endpoint).as_deref(),
            Some("https://idp.example/oauth/revoke"),
            "what discovery says stays"
        );
        assert!(!metadata.lacks_oauth_endpoints());
        let mut other = discovered();
        other.complete_from(oauth("https://evil.example/oauth"));
        assert_eq!(other.introspection_endpoint, None);
    }

    #[test]
    fn discovery_sits_under_the_issuer_path() {
        let url = discovery_url(&Url::parse("https://auth.civic.com/oauth/").unwrap()).unwrap();
        assert_eq!(
            url.as_str(),
            "https://auth.civic.com/oauth/.well-known/openid-configuration"
        );
    }
}
