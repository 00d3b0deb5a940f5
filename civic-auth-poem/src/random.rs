//! Random protocol values, each its own type so that a nonce cannot be
//! passed where a state belongs, all drawn from one source: the operating
//! system's generator, through `oauth2` (32 bytes, URL-safe base64).

use serde::{Deserialize, Serialize};

/// The longest value accepted back from a client; generated ones are 43 bytes.
pub(crate) const MAX_LEN: usize = 128;

/// 32 random bytes, URL-safe base64: the one source of every random value.
pub(crate) fn random_value() -> String {
    oauth2::CsrfToken::new_random_len(32).into_secret()
}

macro_rules! random_values {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub(crate) struct $name(String);

        impl $name {
            pub(crate) fn generate() -> Self {
                Self(random_value())
            }

            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Never print the value: logs must not carry it.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    )*};
}

random_values! {
    /// The `state` of a login or logout: ties the provider's answer to the
    /// browser that asked.
    State;
    /// The `nonce` of a login: ties the ID token to it.
    Nonce;
    /// The id of a session: new at every login.
    SessionId;
    /// Who holds a refresh lock in a shared store.
    LockOwner;
}

/// Whether `value` could be one generated here: its alphabet and length.
fn well_formed(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl State {
    /// A `state` that came back from the browser.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        well_formed(value).then(|| Self(value.to_owned()))
    }
}

impl SessionId {
    /// A session id read from an opened cookie.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        well_formed(value).then(|| Self(value.to_owned()))
    }
}

/// The PKCE code verifier of a login (RFC 7636, S256): only the app and,
/// at the code exchange, the provider ever see it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct PkceVerifier(String);

impl PkceVerifier {
    /// A new verifier and the challenge the authorization request carries.
    pub(crate) fn generate() -> (oauth2::PkceCodeChallenge, Self) {
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        (challenge, Self(verifier.into_secret()))
    }

    pub(crate) fn to_oauth2(&self) -> oauth2::PkceCodeVerifier {
        oauth2::PkceCodeVerifier::new(self.0.clone())
    }
}

impl std::fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkceVerifier(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 random bytes, and short enough for the FAPI 2.0 profile's
    /// 64-character limit on `nonce` (and `state`).
    #[test]
    fn values_carry_256_bits_in_43_characters() {
        assert_eq!(random_value().len(), 43);
        assert_eq!(Nonce::generate().as_str().len(), 43);
    }

    #[test]
    fn values_are_random_and_parse_back() {
        let a = State::generate();
        assert_ne!(a, State::generate());
        assert_eq!(State::parse(a.as_str()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "State(..)");
        for bad in ["", "a.b", "a b", "x\n", &"s".repeat(MAX_LEN + 1)] {
            assert_eq!(State::parse(bad), None, "{bad:?}");
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
        for good in ["a-b_C9", &"s".repeat(MAX_LEN)] {
            assert!(State::parse(good).is_some(), "{good:?}");
            assert!(SessionId::parse(good).is_some(), "{good:?}");
        }
        let (_, verifier) = PkceVerifier::generate();
        assert_eq!(format!("{verifier:?}"), "PkceVerifier(..)");
        assert_eq!(verifier.to_oauth2().secret(), &verifier.0);
    }
}
