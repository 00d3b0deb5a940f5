//! Reading the app's cookies from a request's `Cookie` headers, parsed by
//! the `cookie` crate as they are read. (Poem's own jar needs its
//! `CookieJarManager` middleware, which apps may not mount.)

use std::borrow::Cow;

use cookie::Cookie;
use poem::{http::header, Request};

/// The largest value put in one cookie; name and attributes stay under 4 KB.
pub(crate) const CHUNK_SIZE: usize = 3800;
/// A value of more chunks than this is not read (a client could send
/// hundreds of cookies to make the server do work).
pub(crate) const MAX_CHUNKS: usize = 10;
/// The longest sealed value read back.
pub(crate) const MAX_SEALED_LEN: usize = CHUNK_SIZE * MAX_CHUNKS;

pub(crate) fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// The sealed value of chunked cookie `name` as the request carries it:
/// one cookie (borrowed: this runs on every protected request), or its
/// numbered chunks joined in order (bounded in number).
pub(crate) fn sealed_chunks<'a>(req: &'a Request, name: &str) -> Option<Cow<'a, str>> {
    // One pass, no allocation: this runs on every protected request.
    let (mut single, mut ambiguous) = (None, false);
    for cookie in cookies(req) {
        if cookie.name() == name {
            // Two cookies of one name (one planted beside the app's): neither.
            ambiguous |= single.is_some();
            single = cookie.value_raw();
        } else if cookie.name().strip_prefix(name) == Some(".0") {
            // A whole value beside chunks: neither.
            ambiguous = true;
        }
    }
    if let Some(single) = single {
        return (!ambiguous).then_some(Cow::Borrowed(single));
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

/// The names of the cookies of chunked value `name` that `req` carries,
/// each once, however often it was sent.
pub(crate) fn chunked_names(req: &Request, name: &str) -> Vec<String> {
    let jar = RequestCookies::of(req);
    std::iter::once(name.to_owned())
        .chain((0..=MAX_CHUNKS).map(|i| chunk_name(name, i)))
        .filter(|n| jar.has(n))
        .collect()
}

/// Every value sent under `name` (a planted cookie beside the app's own).
pub(crate) fn values<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    cookies(req)
        .filter(move |cookie| cookie.name() == name)
        .filter_map(|cookie| cookie.value_raw())
}

fn cookies(req: &Request) -> impl Iterator<Item = Cookie<'_>> {
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
        Self(cookies(req).collect())
    }

    /// The value of the one cookie named `name`; `None` when there are
    /// none, or several (one planted beside the app's).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let mut named = self.0.iter().filter(|c| c.name() == name);
        let value = named.next()?.value();
        named.next().is_none().then_some(value)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name() == name)
    }

    /// The cookies whose names start with `prefix`, as (name, value).
    pub(crate) fn starting<'s>(
        &'s self,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'s str, &'s str)> + 's {
        self.0
            .iter()
            .filter(move |c| c.name().starts_with(prefix))
            .map(|c| (c.name(), c.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookie: &str) -> Request {
        Request::builder().header(header::COOKIE, cookie).finish()
    }

    #[test]
    fn a_name_sent_twice_reads_as_nothing() {
        assert_eq!(
            sealed_chunks(&request("s=a; t=b"), "s").as_deref(),
            Some("a")
        );
        assert_eq!(sealed_chunks(&request("s=a; s=b"), "s"), None);
        assert_eq!(sealed_chunks(&request("s.0=a; s.1=b; s.0=c"), "s"), None);
        assert_eq!(
            sealed_chunks(&request("s=a; s.0=b"), "s"),
            None,
            "whole beside chunks"
        );
        assert_eq!(
            sealed_chunks(&request("s.0=a; s.1=b"), "s").as_deref(),
            Some("ab")
        );
        assert_eq!(
            chunked_names(&request("s=a; s=b; s.1=c"), "s"),
            ["s", "s.1"]
        );
        assert_eq!(
            values(&request("s=a; t=x; s=b"), "s").collect::<Vec<_>>(),
            ["a", "b"]
        );
        let req = request("x=1; y=2; x=3");
        let jar = RequestCookies::of(&req);
        assert_eq!(jar.get("x"), None);
        assert_eq!(jar.get("y"), Some("2"));
    }
}
