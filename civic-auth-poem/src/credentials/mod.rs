//! What the app holds to prove to the provider that it is the client: a
//! secret, a private key ([`key`]), and the method it chose, if any
//! ([`method`]). How they are used at the provider is `oidc::client_auth`'s.

pub(crate) mod key;
pub(crate) mod method;

use std::sync::Arc;

use self::{key::ClientKey, method::ClientAuthMethod};
use crate::error::Error;

/// A client secret. Never printed.
#[derive(Clone)]
pub(crate) struct ClientSecret(Arc<str>);

impl ClientSecret {
    pub(crate) fn new(secret: &str) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
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
    pub(crate) fn usable(&self) -> Vec<ClientAuthMethod> {
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

    pub(crate) fn secret(&self) -> Result<ClientSecret, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ClientAuthMethod as M;

    fn key() -> ClientKey {
        ClientKey::from_pem_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/keys/ec-a.pem"
        ))
        .unwrap()
    }

    fn holding(secret: bool, key_too: bool, method: Option<ClientAuthMethod>) -> ClientCredentials {
        ClientCredentials {
            secret: secret.then(|| ClientSecret::new("s")),
            key: key_too.then(key),
            method,
        }
    }

    #[test]
    fn a_chosen_method_needs_its_credential() {
        for method in [M::ClientSecretBasic, M::ClientSecretPost] {
            let error = holding(false, true, Some(method)).check().unwrap_err();
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
        let error = holding(true, false, Some(M::PrivateKeyJwt))
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
        assert!(holding(false, false, Some(M::None)).check().is_ok());
        assert!(holding(true, false, Some(M::ClientSecretPost))
            .check()
            .is_ok());
        assert!(holding(false, true, Some(M::PrivateKeyJwt)).check().is_ok());
    }

    #[test]
    fn what_the_credentials_allow_strongest_first() {
        assert_eq!(
            holding(true, true, None).usable(),
            [M::PrivateKeyJwt, M::ClientSecretBasic, M::ClientSecretPost]
        );
        assert_eq!(holding(false, false, None).usable(), [M::None]);
        assert_eq!(
            holding(true, true, Some(M::ClientSecretPost)).usable(),
            [M::ClientSecretPost]
        );
        assert!(holding(true, false, None).confidential());
        assert!(holding(false, true, None).confidential());
        assert!(!holding(false, false, None).confidential());
        assert_eq!(ClientSecret::new("p@ss").expose(), "p@ss");
        assert_eq!(
            format!("{:?}", ClientSecret::new("p@ss")),
            "ClientSecret(..)"
        );
    }
}
