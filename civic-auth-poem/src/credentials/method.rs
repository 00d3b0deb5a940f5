//! The client authentication methods: how the app may prove to the provider
//! that it is the client.

use crate::error::Error;

/// A client authentication method (`token_endpoint_auth_method`), as the
/// provider registered the client with it.
///
/// Unset, the app uses the strongest the provider advertises of those its
/// credentials allow: `private_key_jwt` with a [`ClientKey`](crate::ClientKey), then
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
    /// A JWT signed with the app's [`ClientKey`](crate::ClientKey) (RFC 7523).
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The strongest first.
    pub(crate) const ALL: [Self; 4] = [
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

    /// The provider refused this method's credentials at its `what`.
    pub(crate) fn refused(self, what: &'static str, reason: String) -> Error {
        Error::ClientRefused {
            what,
            method: self.as_str(),
            setting: self.setting(),
            reason,
        }
    }

    /// The setting that gives the app what this method needs.
    fn setting(self) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_and_print_as_registered() {
        assert_eq!(
            "Private_Key_JWT ".parse::<ClientAuthMethod>().unwrap(),
            ClientAuthMethod::PrivateKeyJwt
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
    fn a_refusal_names_the_method_and_its_setting() {
        let shown = ClientAuthMethod::ClientSecretPost
            .refused("token endpoint", "invalid_client".into())
            .to_string();
        for said in [
            "(client_secret_post)",
            "token endpoint",
            "invalid_client",
            "CIVIC_CLIENT_SECRET",
        ] {
            assert!(shown.contains(said), "{said}: {shown}");
        }
        let key = ClientAuthMethod::PrivateKeyJwt
            .refused("w", String::new())
            .to_string();
        assert!(
            key.contains("CIVIC_CLIENT_KEY") && key.contains("/auth/jwks"),
            "{key}"
        );
    }
}
