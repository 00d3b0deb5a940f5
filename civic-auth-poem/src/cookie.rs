//! Encrypted cookies: sealing with the app's secret, and chunking values that
//! would pass the browsers' 4 KB limit. Both the session and the login
//! transaction are kept this way.

use std::borrow::Cow;

use cookie::{Cookie, CookieJar, Key, SameSite};
use poem::{http::header, Request, Response};

use crate::Error;

/// The largest value put in one cookie; name and attributes stay under 4 KB.
const CHUNK_SIZE: usize = 3800;
/// A session larger than this many chunks is not read (a client could send
/// hundreds of cookies to make the server do work).
const MAX_CHUNKS: usize = 10;

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
pub struct SessionSecret(Key);

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

/// Attributes shared by every cookie the library sets.
#[derive(Clone)]
pub(crate) struct CookieSealer {
    key: Key,
    secure: bool,
}

impl CookieSealer {
    pub(crate) fn new(secret: &SessionSecret, secure: bool) -> Self {
        Self {
            key: secret.0.clone(),
            secure,
        }
    }

    /// Encrypts `plaintext` bound to `name` (AES-256-GCM with the name as
    /// associated data, so a value cannot be moved to another cookie).
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

    /// A cookie carrying `value`, HttpOnly and SameSite=Lax (the callback is a
    /// cross-site navigation, which Strict would strip).
    pub(crate) fn cookie(
        &self,
        name: String,
        value: String,
        path: &str,
        max_age: std::time::Duration,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(path.to_owned())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .build()
    }

    /// A cookie that tells the browser to drop `name` at `path`.
    pub(crate) fn removal(&self, name: String, path: &str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new(), path, Default::default());
        cookie.make_removal();
        cookie
    }

    /// Seals `plaintext` as `name` (read back with [`sealed_chunks`] and
    /// [`Self::open`]), split across numbered cookies when too
    /// large for one, and removes the cookies of an earlier, differently
    /// split value that the request still carries.
    pub(crate) fn write_chunked(
        &self,
        present: &[String],
        resp: &mut Response,
        name: &str,
        plaintext: String,
        max_age: std::time::Duration,
    ) {
        let sealed = self.seal(name, plaintext);
        let mut written = Vec::new();
        if sealed.len() <= CHUNK_SIZE {
            written.push(name.to_owned());
            append(resp, self.cookie(name.to_owned(), sealed, "/", max_age));
        } else {
            // Base64 is ASCII, so splitting at any byte index is safe.
            for (i, part) in sealed.as_bytes().chunks(CHUNK_SIZE).enumerate() {
                let chunk = chunk_name(name, i);
                written.push(chunk.clone());
                let value = String::from_utf8_lossy(part).into_owned();
                append(resp, self.cookie(chunk, value, "/", max_age));
            }
        }
        self.remove_stale(present, resp, &written);
    }

    /// Removes every cookie of a chunked value the request carried (`present`).
    pub(crate) fn remove_chunked(&self, present: &[String], resp: &mut Response) {
        self.remove_stale(present, resp, &[]);
    }

    fn remove_stale(&self, present: &[String], resp: &mut Response, keep: &[String]) {
        for stale in present.iter().filter(|n| !keep.contains(n)) {
            append(resp, self.removal(stale.clone(), "/"));
        }
    }
}

/// The sealed value of chunked cookie `name` as the request carries it:
/// one cookie (borrowed: this runs on every protected request), or its
/// numbered chunks joined in order (bounded in number).
pub(crate) fn sealed_chunks<'a>(req: &'a Request, name: &str) -> Option<Cow<'a, str>> {
    let single = request_cookies(req)
        .find(|cookie| cookie.name() == name)
        .and_then(|cookie| cookie.value_raw());
    if let Some(single) = single {
        return Some(Cow::Borrowed(single));
    }
    let jar = RequestCookies::of(req);
    let mut sealed = String::new();
    for i in 0..MAX_CHUNKS {
        match jar.get(&chunk_name(name, i)) {
            Some(chunk) => sealed.push_str(chunk),
            None if i == 0 => return None,
            None => break,
        }
    }
    if jar.get(&chunk_name(name, MAX_CHUNKS)).is_some() {
        return None;
    }
    Some(Cow::Owned(sealed))
}

/// The names of the cookies of chunked value `name` that `req` carries.
pub(crate) fn chunked_names(req: &Request, name: &str) -> Vec<String> {
    let jar = RequestCookies::of(req);
    std::iter::once(name.to_owned())
        .chain((0..=MAX_CHUNKS).map(|i| chunk_name(name, i)))
        .filter(|n| jar.get(n).is_some())
        .collect()
}

/// The cookies of a request's `Cookie` headers, parsed by the `cookie` crate
/// as they are read. Poem's own jar needs its `CookieJarManager` middleware,
/// which apps may not mount.
fn request_cookies(req: &Request) -> impl Iterator<Item = Cookie<'_>> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value).flatten())
}

/// The cookies a request carries, parsed once.
pub(crate) struct RequestCookies<'a>(Vec<Cookie<'a>>);

impl<'a> RequestCookies<'a> {
    pub(crate) fn of(req: &'a Request) -> Self {
        Self(request_cookies(req).collect())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|c| c.name() == name).map(|c| c.value())
    }
}

fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// Adds a `Set-Cookie` header to `resp`.
pub(crate) fn append(resp: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = cookie.to_string().parse() {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

    fn sealer() -> CookieSealer {
        CookieSealer::new(&SessionSecret::new([7u8; 32]).unwrap(), false)
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_for_https_apps() {
        let secret = SessionSecret::new([7u8; 32]).unwrap();
        let plain = sealer()
            .cookie("a".into(), "v".into(), "/", MINUTE)
            .to_string();
        assert!(
            plain.contains("HttpOnly") && plain.contains("SameSite=Lax"),
            "{plain}"
        );
        assert!(!plain.contains("Secure"), "{plain}");
        let https = CookieSealer::new(&secret, true)
            .cookie("a".into(), "v".into(), "/", MINUTE)
            .to_string();
        assert!(https.contains("Secure"), "{https}");
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
    fn tampered_truncated_or_foreign_values_do_not_open() {
        let s = sealer();
        let sealed = s.seal("a", "hello".into());
        let mut bytes = sealed.clone().into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open("a", std::str::from_utf8(&bytes).unwrap()), None);
        assert_eq!(s.open("a", &sealed[..sealed.len() - 4]), None);
        assert_eq!(s.open("a", "not base64 at all!"), None);
        let other = CookieSealer::new(&SessionSecret::new([8u8; 32]).unwrap(), false);
        assert_eq!(other.open("a", &sealed), None);
    }

    fn request_with(resp: &Response) -> Request {
        let cookies: Vec<String> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .collect();
        Request::builder()
            .header(header::COOKIE, cookies.join("; "))
            .finish()
    }

    #[test]
    fn large_values_are_chunked_under_the_browser_limit() {
        let s = sealer();
        let big = "x".repeat(10_000);
        let mut resp = Response::default();
        s.write_chunked(&[], &mut resp, "sess", big.clone(), MINUTE);
        let headers: Vec<_> = resp.headers().get_all(header::SET_COOKIE).iter().collect();
        assert!(headers.len() >= 3, "{} cookies", headers.len());
        assert!(headers.iter().all(|h| h.len() < 4096));
        let req = request_with(&resp);
        let read = sealed_chunks(&req, "sess").and_then(|sealed| s.open("sess", &sealed));
        assert!(
            read.as_deref() == Some(big.as_str()),
            "chunks did not reassemble"
        );
    }

    #[test]
    fn a_missing_or_reordered_chunk_reads_as_nothing() {
        let s = sealer();
        let mut resp = Response::default();
        s.write_chunked(&[], &mut resp, "sess", "y".repeat(9000), MINUTE);
        let req = request_with(&resp);
        let jar = RequestCookies::of(&req);
        let c0 = jar.get("sess.0").unwrap().to_owned();
        let c1 = jar.get("sess.1").unwrap().to_owned();
        let swapped = Request::builder()
            .header(header::COOKIE, format!("sess.0={c1}; sess.1={c0}"))
            .finish();
        let read = |req: &Request| sealed_chunks(req, "sess").and_then(|v| s.open("sess", &v));
        assert_eq!(read(&swapped), None);
        let missing_first = Request::builder()
            .header(header::COOKIE, format!("sess.1={c1}"))
            .finish();
        assert_eq!(read(&missing_first), None);
    }

    #[test]
    fn shrinking_a_value_removes_old_chunks() {
        let s = sealer();
        let mut first = Response::default();
        s.write_chunked(&[], &mut first, "sess", "z".repeat(9000), MINUTE);
        let req = request_with(&first);
        let mut second = Response::default();
        s.write_chunked(
            &chunked_names(&req, "sess"),
            &mut second,
            "sess",
            "small".into(),
            MINUTE,
        );
        let set: Vec<String> = second
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(set.iter().any(|c| c.starts_with("sess=")));
        assert!(set
            .iter()
            .any(|c| c.starts_with("sess.0=;")
                || c.starts_with("sess.0=") && c.contains("Max-Age=0")));
    }
}
