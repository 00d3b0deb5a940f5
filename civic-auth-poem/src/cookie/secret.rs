//! `SessionSecret`: the key material every sealed cookie is bound to.

use cookie::Key;

use crate::error::Error;

/// The secret that encrypts and authenticates the app's cookies: Poem's
/// counterpart of Flask's `app.secret_key`.
///
/// It must be at least 32 bytes; keys are derived from it with HKDF. Apps on
/// several machines share sessions by sharing the secret.
///
/// ```
/// use civic_auth_poem::SessionSecret;
///
/// let secret = SessionSecret::new("a long random value of at least 32 bytes!!").unwrap();
/// assert!(SessionSecret::new("short").is_err());
/// let _random = SessionSecret::generate();
/// # let _ = secret;
/// ```
#[derive(Clone)]
pub struct SessionSecret(pub(super) Key);

impl SessionSecret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// Uses `secret`, which must be at least [`Self::MIN_LEN`] bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, Error> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_LEN {
            return Err(Error::WeakSessionSecret {
                len: secret.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Self(Key::derive_from(secret)))
    }

    /// A random secret: sessions then end when the process restarts.
    pub fn generate() -> Self {
        Self(Key::generate())
    }

    /// The secret in `CIVIC_SESSION_SECRET`; when it is unset, a random one
    /// and a warning in the log, so a demo runs without setup.
    ///
    /// ```
    /// let secret = civic_auth_poem::SessionSecret::from_env_or_random()?;
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn from_env_or_random() -> Result<Self, Error> {
        match std::env::var("CIVIC_SESSION_SECRET") {
            Ok(secret) => Self::new(secret),
            Err(_) => {
                tracing::warn!(
                    "CIVIC_SESSION_SECRET is not set: using a random secret, so sessions end when the app restarts"
                );
                Ok(Self::generate())
            }
        }
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}
