//! Sealing: AES-256-GCM through the `cookie` crate's private jar, with the
//! cookie's name as associated data, so a value cannot be moved to another
//! cookie, read, or forged without the secret.

use cookie::{Cookie, CookieJar, Key};

use super::secret::SessionSecret;

/// What sealing adds to a plaintext: the nonce and the tag.
const OVERHEAD: usize = 12 + 16;

/// The length of a `plaintext_len`-byte value once sealed (base64 of the
/// nonce, the ciphertext and the tag).
pub(crate) fn sealed_len(plaintext_len: usize) -> usize {
    (plaintext_len + OVERHEAD).div_ceil(3) * 4
}

#[derive(Clone)]
pub(crate) struct CookieSealer {
    key: Key,
}

impl CookieSealer {
    pub(crate) fn new(secret: &SessionSecret) -> Self {
        Self {
            key: secret.0.clone(),
        }
    }

    /// Encrypts `plaintext` bound to `name`.
    pub(crate) fn seal(&self, name: &str, plaintext: String) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name.to_owned(), plaintext));
        jar.get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// Decrypts a value sealed under `name`; `None` when it was tampered
    /// with, truncated, or sealed with another secret.
    pub(crate) fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let jar = CookieJar::new();
        jar.private(&self.key)
            .decrypt(Cookie::new(name.to_owned(), sealed.to_owned()))
            .map(|c| c.value().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> CookieSealer {
        CookieSealer::new(&SessionSecret::new([7u8; 32]).unwrap())
    }

    #[test]
    fn sealed_values_round_trip_and_bind_to_their_name() {
        let s = sealer();
        let sealed = s.seal("a", "hello".into());
        assert!(!sealed.contains("hello"));
        assert_eq!(s.open("a", &sealed).as_deref(), Some("hello"));
        assert_eq!(s.open("b", &sealed), None, "moved to another cookie name");
    }

    #[test]
    fn the_sealed_length_is_known_before_sealing() {
        let s = sealer();
        for len in (0..40).chain([1000, 3800, 28_000]) {
            let sealed = s.seal("civic_session", "é".repeat(len / 2) + &"x".repeat(len % 2));
            let plaintext = "é".repeat(len / 2).len() + len % 2;
            assert_eq!(sealed_len(plaintext), sealed.len(), "{len}");
        }
    }

    #[test]
    fn tampered_truncated_or_foreign_values_do_not_open() {
        let s = sealer();
        let sealed = s.seal("a", "hello".into());
        let mut bytes = sealed.clone().into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open("a", std::str::from_utf8(&bytes).unwrap()), None);
        assert_eq!(s.open("a", &sealed[..sealed.len() - 4]), None);
        assert_eq!(s.open("a", "not base64 at all!"), None);
        let other = CookieSealer::new(&SessionSecret::new([8u8; 32]).unwrap());
        assert_eq!(other.open("a", &sealed), None);
    }
}
