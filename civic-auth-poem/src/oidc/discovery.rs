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
}

impl ProviderMetadata {
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
    fn discovery_sits_under_the_issuer_path() {
        let url = discovery_url(&Url::parse("https://auth.civic.com/oauth/").unwrap()).unwrap();
        assert_eq!(
            url.as_str(),
            "https://auth.civic.com/oauth/.well-known/openid-configuration"
        );
    }
}
