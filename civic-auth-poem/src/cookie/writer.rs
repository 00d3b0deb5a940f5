//! The one writer of the library's cookies. Flows and sessions only say
//! what should happen ([`CookieChanges`]); the middleware hands that here
//! once per request, after the handler, and this alone seals values, sets
//! attributes and writes `Set-Cookie`.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use poem::{http::header, Request, Response};

use super::{
    request::{chunk_name, chunked_names, CHUNK_SIZE, MAX_SEALED_LEN},
    sealer::{sealed_len, CookieSealer},
    CookieNames, SESSION_COOKIE,
};
use crate::error::Error;

/// Refuses a session of `plaintext_len` bytes whose sealed cookie would be
/// longer than a request's cookies are read back.
pub(crate) fn check_session_fits(plaintext_len: usize) -> Result<(), Error> {
    let bytes = sealed_len(plaintext_len);
    if bytes > MAX_SEALED_LEN {
        return Err(Error::SessionTooLarge {
            bytes,
            limit: MAX_SEALED_LEN,
        });
    }
    Ok(())
}

/// What should happen to the session cookie.
#[derive(Clone, Debug)]
pub(crate) enum SessionCookie {
    /// Carry this (sealed) value, which replaces any other, for `max_age`.
    Set { value: String, max_age: Duration },
    /// The session ended: the browser drops every chunk it sent.
    Clear,
}

/// A short-lived cookie of its own name and path: a login or logout in
/// progress. A `cross_site` one is sent on requests from other sites too
/// (`SameSite=None`, so `Secure`): a login whose answer the provider posts
/// back (`response_mode=form_post`).
#[derive(Clone, Debug)]
pub(crate) enum TransientCookie {
    Set {
        name: String,
        value: String,
        path: String,
        max_age: Duration,
        cross_site: bool,
    },
    Remove {
        name: String,
        path: String,
        cross_site: bool,
    },
}

/// Everything a response must do to the library's cookies.
#[derive(Clone, Debug, Default)]
pub(crate) struct CookieChanges {
    session: Option<SessionCookie>,
    transient: Vec<TransientCookie>,
}

impl CookieChanges {
    pub(crate) fn session(change: SessionCookie) -> Self {
        Self {
            session: Some(change),
            transient: Vec::new(),
        }
    }

    pub(crate) fn transient(change: TransientCookie) -> Self {
        Self {
            session: None,
            transient: vec![change],
        }
    }

    /// Adds `later`'s changes; its session change wins.
    pub(crate) fn merge(&mut self, later: CookieChanges) {
        if later.session.is_some() {
            self.session = later.session;
        }
        self.transient.extend(later.transient);
    }

    pub(crate) fn with(mut self, later: CookieChanges) -> Self {
        self.merge(later);
        self
    }

    /// Whether writing these needs the session cookies the request carried.
    pub(crate) fn touch_session(&self) -> bool {
        self.session.is_some()
    }
}

pub(crate) struct CookieWriter {
    sealer: CookieSealer,
    /// `Secure` on every cookie when the app is served over https.
    secure: bool,
    session: &'static str,
    /// Where the session cookie lives: the app's base path.
    path: String,
}

impl CookieWriter {
    /// `names` are the app's cookies' and `path` its base path (`/` for
    /// most).
    pub(crate) fn new(sealer: CookieSealer, names: CookieNames, secure: bool, path: &str) -> Self {
        Self {
            sealer,
            secure,
            session: names.session,
            path: path.to_owned(),
        }
    }

    /// The session cookies `req` carried: what a session change replaces.
    /// An https app also drops session cookies of the name it used before
    /// it had the `__Host-` prefix.
    pub(crate) fn carried(&self, req: &Request) -> Vec<String> {
        let mut carried = chunked_names(req, self.session);
        if self.session != SESSION_COOKIE {
            carried.extend(chunked_names(req, SESSION_COOKIE));
        }
        carried
    }

    /// Writes `changes` into `resp` as `Set-Cookie` headers; `carried` are
    /// the session cookies of the request ([`Self::carried`]).
    pub(crate) fn write(&self, carried: &[String], changes: CookieChanges, resp: &mut Response) {
        match changes.session {
            Some(SessionCookie::Set { value, max_age }) => {
                self.write_session(carried, resp, value, max_age)
            }
            Some(SessionCookie::Clear) => {
                for name in carried {
                    append(resp, self.removal(name.clone(), &self.path));
                }
            }
            None => {}
        }
        for change in changes.transient {
            let cookie = match change {
                TransientCookie::Set {
                    name,
                    value,
                    path,
                    max_age,
                    cross_site,
                } => {
                    let sealed = self.sealer.seal(&name, value);
                    let cookie = self.cookie(name, sealed, &path, max_age);
                    sent_cross_site(cookie, cross_site)
                }
                TransientCookie::Remove {
                    name,
                    path,
                    cross_site,
                } => sent_cross_site(self.removal(name, &path), cross_site),
            };
            append(resp, cookie);
        }
    }

    /// Seals the session, split across numbered cookies when too large for
    /// one, and removes the cookies of an earlier, differently split value
    /// that the request carried (`present`).
    fn write_session(
        &self,
        present: &[String],
        resp: &mut Response,
        plaintext: String,
        max_age: Duration,
    ) {
        let sealed = self.sealer.seal(self.session, plaintext);
        let mut written = Vec::new();
        if sealed.len() <= CHUNK_SIZE {
            written.push(self.session.to_owned());
            append(
                resp,
                self.cookie(self.session.to_owned(), sealed, &self.path, max_age),
            );
        } else {
            // Base64 is ASCII, so splitting at any byte index is safe.
            for (i, part) in sealed.as_bytes().chunks(CHUNK_SIZE).enumerate() {
                let chunk = chunk_name(self.session, i);
                written.push(chunk.clone());
                let value = String::from_utf8_lossy(part).into_owned();
                append(resp, self.cookie(chunk, value, &self.path, max_age));
            }
        }
        for stale in present.iter().filter(|n| !written.contains(n)) {
            append(resp, self.removal(stale.clone(), &self.path));
        }
    }

    /// HttpOnly and SameSite=Lax (the callback is a cross-site navigation,
    /// which Strict would strip).
    fn cookie(
        &self,
        name: String,
        value: String,
        path: &str,
        max_age: Duration,
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

    fn removal(&self, name: String, path: &str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new(), path, Duration::ZERO);
        cookie.make_removal();
        cookie
    }
}

/// `cookie`, sent on cross-site requests too when `cross_site`.
fn sent_cross_site(mut cookie: Cookie<'static>, cross_site: bool) -> Cookie<'static> {
    if cross_site {
        cookie.set_same_site(SameSite::None);
        cookie.set_secure(true);
    }
    cookie
}

fn append(resp: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = cookie.to_string().parse() {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::{
        request::{sealed_chunks, RequestCookies},
        secret::SessionSecret,
        SECURE_SESSION_COOKIE,
    };

    const MINUTE: Duration = Duration::from_secs(60);

    fn sealer() -> CookieSealer {
        CookieSealer::new(&SessionSecret::new([7u8; 32]).unwrap())
    }

    fn writer(secure: bool) -> CookieWriter {
        CookieWriter::new(sealer(), CookieNames::new(secure, false), secure, "/")
    }

    fn set_cookies(resp: &Response) -> Vec<String> {
        resp.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn written(secure: bool, req: &Request, changes: CookieChanges) -> Response {
        let mut resp = Response::default();
        let writer = writer(secure);
        writer.write(&writer.carried(req), changes, &mut resp);
        resp
    }

    fn session(value: &str) -> CookieChanges {
        CookieChanges::session(SessionCookie::Set {
            value: value.to_owned(),
            max_age: MINUTE,
        })
    }

    /// The request a browser sends after `resp`.
    fn next_request(resp: &Response) -> Request {
        let cookies: Vec<String> = set_cookies(resp)
            .into_iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .collect();
        Request::builder()
            .header(header::COOKIE, cookies.join("; "))
            .finish()
    }

    fn read(req: &Request) -> Option<String> {
        sealed_chunks(req, SESSION_COOKIE).and_then(|v| sealer().open(SESSION_COOKIE, &v))
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_for_https_apps() {
        let req = Request::default();
        for (secure, cookie) in
            [false, true].map(|s| (s, set_cookies(&written(s, &req, session("v")))))
        {
            let cookie = &cookie[0];
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
                "{cookie}"
            );
            assert!(cookie.contains("Path=/"), "{cookie}");
            assert_eq!(cookie.contains("Secure"), secure, "{cookie}");
            // `__Host-` when Secure: no sibling subdomain can plant it.
            let name = if secure {
                SECURE_SESSION_COOKIE
            } else {
                SESSION_COOKIE
            };
            assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
        }
    }

    #[test]
    fn large_values_are_chunked_under_the_browser_limit() {
        let big = "x".repeat(10_000);
        let resp = written(false, &Request::default(), session(&big));
        let headers = set_cookies(&resp);
        assert!(headers.len() >= 3, "{} cookies", headers.len());
        assert!(headers.iter().all(|h| h.len() < 4096));
        assert!(
            read(&next_request(&resp)).as_deref() == Some(big.as_str()),
            "chunks did not reassemble"
        );
    }

    #[test]
    fn a_value_that_fills_one_cookie_exactly_is_one_cookie() {
        // The sealed size of `n` bytes: base64 of a 12-byte nonce, the
        // bytes and a 16-byte tag.
        let sealed_len = |n: usize| (n + 28).div_ceil(3) * 4;
        let fits = (0..CHUNK_SIZE)
            .rev()
            .find(|&n| sealed_len(n) <= CHUNK_SIZE)
            .unwrap();
        for (len, cookies) in [(fits, 1), (fits + 1, 2)] {
            let value = "x".repeat(len);
            let resp = written(false, &Request::default(), session(&value));
            let headers = set_cookies(&resp);
            assert_eq!(headers.len(), cookies, "{len} bytes");
            assert_eq!(read(&next_request(&resp)).as_deref(), Some(value.as_str()));
        }
        let exact = written(false, &Request::default(), session(&"x".repeat(fits)));
        assert_eq!(sealer().seal("n", "x".repeat(fits)).len(), CHUNK_SIZE);
        assert!(set_cookies(&exact)[0].starts_with(&format!("{SESSION_COOKIE}=")));
    }

    #[test]
    fn the_largest_session_allowed_is_read_back_whole() {
        let largest = (0..MAX_SEALED_LEN)
            .rev()
            .find(|&n| check_session_fits(n).is_ok())
            .unwrap();
        let value = "z".repeat(largest);
        // It fills what a request's cookies are read back to exactly.
        assert_eq!(sealer().seal("n", value.clone()).len(), MAX_SEALED_LEN);
        let resp = written(false, &Request::default(), session(&value));
        assert_eq!(read(&next_request(&resp)).as_deref(), Some(value.as_str()));
        assert!(matches!(
            check_session_fits(largest + 1),
            Err(Error::SessionTooLarge { .. })
        ));
    }

    #[test]
    fn a_missing_or_reordered_chunk_reads_as_nothing() {
        let resp = written(false, &Request::default(), session(&"y".repeat(9000)));
        let req = next_request(&resp);
        let jar = RequestCookies::of(&req);
        let c0 = jar.get("civic_session.0").unwrap().to_owned();
        let c1 = jar.get("civic_session.1").unwrap().to_owned();
        let swapped = Request::builder()
            .header(
                header::COOKIE,
                format!("civic_session.0={c1}; civic_session.1={c0}"),
            )
            .finish();
        assert_eq!(read(&swapped), None);
        let missing_first = Request::builder()
            .header(header::COOKIE, format!("civic_session.1={c1}"))
            .finish();
        assert_eq!(read(&missing_first), None);
    }

    #[test]
    fn shrinking_or_clearing_a_session_removes_every_old_chunk() {
        let first = written(false, &Request::default(), session(&"z".repeat(9000)));
        let req = next_request(&first);
        let chunks = chunked_names(&req, SESSION_COOKIE);
        assert!(chunks.len() >= 3, "{chunks:?}");
        let removed = |resp: &Response| -> Vec<String> {
            set_cookies(resp)
                .into_iter()
                .filter(|c| c.contains("Max-Age=0"))
                .map(|c| c.split('=').next().unwrap().to_owned())
                .collect()
        };
        let shrunk = written(false, &req, session("small"));
        assert!(set_cookies(&shrunk)
            .iter()
            .any(|c| c.starts_with("civic_session=") && !c.contains("Max-Age=0")));
        assert_eq!(removed(&shrunk), chunks);
        let cleared = written(false, &req, CookieChanges::session(SessionCookie::Clear));
        assert_eq!(removed(&cleared), chunks);
        assert_eq!(read(&next_request(&shrunk)).as_deref(), Some("small"));
    }

    #[test]
    fn an_https_app_drops_session_cookies_of_the_unprefixed_name() {
        let req = Request::builder()
            .header(header::COOKIE, "civic_session=old; civic_session.1=older")
            .finish();
        let cookies = set_cookies(&written(true, &req, session("v")));
        assert!(
            cookies[0].starts_with("__Host-civic_session="),
            "{cookies:?}"
        );
        for old in ["civic_session=", "civic_session.1="] {
            assert!(
                cookies
                    .iter()
                    .any(|c| c.starts_with(old) && c.contains("Max-Age=0")),
                "{old} {cookies:?}"
            );
        }
    }

    #[test]
    fn transient_cookies_are_sealed_under_their_name_and_path() {
        let changes = CookieChanges::transient(TransientCookie::Set {
            name: "tx.a".into(),
            value: "secret".into(),
            path: "/auth/callback".into(),
            max_age: MINUTE,
            cross_site: false,
        })
        .with(CookieChanges::transient(TransientCookie::Remove {
            name: "tx.b".into(),
            path: "/auth/callback".into(),
            cross_site: false,
        }));
        let cookies = set_cookies(&written(true, &Request::default(), changes));
        assert_eq!(cookies.len(), 2);
        assert!(
            !cookies[0].contains("secret") && cookies[0].contains("Path=/auth/callback"),
            "{}",
            cookies[0]
        );
        let sealed = cookies[0]
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("tx.a=")
            .unwrap();
        assert_eq!(sealer().open("tx.a", sealed).as_deref(), Some("secret"));
        assert!(
            cookies[1].starts_with("tx.b=") && cookies[1].contains("Max-Age=0"),
            "{}",
            cookies[1]
        );
    }

    #[test]
    fn cross_site_transient_cookies_are_same_site_none_and_secure_even_over_http() {
        for secure in [false, true] {
            let changes = CookieChanges::transient(TransientCookie::Set {
                name: "tx.a".into(),
                value: "v".into(),
                path: "/auth".into(),
                max_age: MINUTE,
                cross_site: true,
            })
            .with(CookieChanges::transient(TransientCookie::Remove {
                name: "tx.b".into(),
                path: "/auth".into(),
                cross_site: true,
            }));
            for cookie in set_cookies(&written(secure, &Request::default(), changes)) {
                assert!(
                    cookie.contains("SameSite=None")
                        && cookie.contains("Secure")
                        && cookie.contains("HttpOnly")
                        && cookie.contains("Path=/auth"),
                    "{cookie}"
                );
            }
        }
    }
}
