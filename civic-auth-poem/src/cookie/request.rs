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

pub(crate) fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// The sealed value of chunked cookie `name` as the request carries it:
/// one cookie (borrowed: this runs on every protected request), or its
/// numbered chunks joined in order (bounded in number).
pub(crate) fn sealed_chunks<'a>(req: &'a Request, name: &str) -> Option<Cow<'a, str>> {
    let single = cookies(req)
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

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|c| c.name() == name).map(|c| c.value())
    }
}
