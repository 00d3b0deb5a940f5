//! Sealing: AES-256-GCM with a random nonce and the value's name (a
//! cookie's, a stored record's) as associated data, so a value cannot be
//! moved to another name, read, or forged without the secret. Cookies carry
//! it in base64, in the `cookie` crate's private-cookie format; stores keep
//! the bytes.

use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};

use super::secret::SessionSecret;

const NONCE_LEN: usize = 12;
/// What sealing adds to a plaintext: the nonce and the tag.
const OVERHEAD: usize = NONCE_LEN + 16;

/// The length of a `plaintext_len`-byte value once sealed for a cookie
/// (base64 of the nonce, the ciphertext and the tag).
pub(crate) fn sealed_len(plaintext_len: usize) -> usize {
    (plaintext_len + OVERHEAD).div_ceil(3) * 4
}

#[derive(Clone)]
pub(crate) struct CookieSealer {
    cipher: Aes256Gcm,
}

impl CookieSealer {
    pub(crate) fn new(secret: &SessionSecret) -> Self {
        Self {
            cipher: Aes256Gcm::new_from_slice(secret.0.encryption())
                .expect("the secret's encryption key is 32 bytes"),
        }
    }

    /// Encrypts `plaintext` bound to `name`, for a cookie.
    pub(crate) fn seal(&self, name: &str, plaintext: String) -> String {
        STANDARD.encode(self.seal_bytes(name, plaintext.as_bytes()))
    }

    /// Decrypts a cookie's value sealed under `name`; `None` when it was
    /// tampered with, truncated, or sealed with another secret.
    pub(crate) fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        String::from_utf8(self.open_bytes(name, &bytes)?).ok()
    }

    /// Encrypts `plaintext` bound to `name`: the nonce, the ciphertext and
    /// the tag.
    pub(crate) fn seal_bytes(&self, name: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: name.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&nonce, payload)
            .expect("AES-GCM seals any value shorter than 64 GB");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts bytes sealed under `name`; `None` as for [`Self::open`].
    pub(crate) fn open_bytes(&self, name: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return None;
        }
        let (nonce, msg) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg,
            aad: name.as_bytes(),
        };
        // Exactly NONCE_LEN bytes, as the conversion requires.
        let nonce = <&Nonce<_>>::from(nonce);
        self.cipher.decrypt(nonce, payload).ok()
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

    /// Cookies sealed before sealing moved here (by the `cookie` crate's
    /// private jar) still open, and the other way round.
    #[test]
    fn the_format_is_the_cookie_crates_private_cookies() {
        let secret = SessionSecret::new([7u8; 32]).unwrap();
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(&secret.0)
            .add(cookie::Cookie::new("a", "hello"));
        let theirs = jar.get("a").unwrap().value().to_owned();
        assert_eq!(sealer().open("a", &theirs).as_deref(), Some("hello"));
        let ours = cookie::Cookie::new("a", sealer().seal("a", "hi".into()));
        let opened = cookie::CookieJar::new().private(&secret.0).decrypt(ours);
        assert_eq!(opened.unwrap().value(), "hi");
    }

    #[test]
    fn sealed_bytes_round_trip_and_bind_to_their_name() {
        let s = sealer();
        let sealed = s.seal_bytes("r", &[0, 159, 255]);
        assert_eq!(sealed.len(), 3 + OVERHEAD);
        assert_eq!(
            s.open_bytes("r", &sealed).as_deref(),
            Some(&[0, 159, 255][..])
        );
        assert_eq!(s.open_bytes("q", &sealed), None);
        assert_eq!(s.open_bytes("r", &sealed[..OVERHEAD - 1]), None);
        assert_eq!(s.open_bytes("r", &s.seal_bytes("r", b"")), Some(Vec::new()));
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
