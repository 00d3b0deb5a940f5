//! The backend-for-frontend proxy's forwarding: a browser's call as its
//! upstream API gets it (below the upstream's base URL only, without the
//! browser's credentials), and the API's answer as the browser gets it
//! (without cookies for the app's site), both bodies streamed and bounded.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{Stream, StreamExt as _};
use poem::{
    http::{header, HeaderMap, HeaderName},
    Body, Request, Response,
};
use url::Url;

use crate::error::Error;

/// Headers of one connection (RFC 9110 7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A browser's headers the API must not get (names, or prefixes ending in
/// `-`): its credentials for this app (the API gets the user's access
/// token instead), the proxy's own header, claims about the client that
/// only a trusted proxy may make, and overrides of the method or path
/// that some servers obey (they would undo the base URL).
const BROWSERS_OWN: [&str; 15] = [
    "host",
    "cookie",
    "authorization",
    "dpop",
    "x-csrf",
    "forwarded",
    "x-forwarded-",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// An API's headers the browser must not get: what would act on the
/// app's whole site (its cookies, stored data, transport and cross-origin
/// rules are the app's).
const APIS_OWN: [&str; 5] = [
    "set-cookie",
    "set-cookie2",
    "clear-site-data",
    "strict-transport-security",
    "access-control-",
];

/// An upstream API and the bounds of the calls to it.
#[derive(Clone)]
pub(crate) struct UpstreamSettings {
    /// Calls go below this URL.
    pub(crate) base: Url,
    /// Bounds each call, its answer's body included.
    pub(crate) timeout: Duration,
    pub(crate) max_request_body: usize,
    pub(crate) max_response_body: usize,
}

/// An upstream API, and the client that calls it.
pub(crate) struct Upstream {
    settings: UpstreamSettings,
    client: reqwest::Client,
}

/// Set when a request's body ran past its bound while it was sent.
#[derive(Clone, Default)]
pub(crate) struct Overflow(Arc<AtomicBool>);

impl Overflow {
    pub(crate) fn happened(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl UpstreamSettings {
    pub(crate) fn connect(self) -> Upstream {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            // A redirect is the browser's to follow: it would take the token along.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client without custom TLS roots always builds");
        Upstream {
            settings: self,
            client,
        }
    }
}

impl Upstream {
    pub(crate) fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The API's request for `req` (its path as routed below the proxy):
    /// the method, the path below the base URL, the query, the headers
    /// but the browser's own, and the body, streamed.
    /// A `replayable` request's body is read first (within its bound), so
    /// that it can be sent again: a DPoP-bound token's call is tried again
    /// when the API asks for a new nonce.
    pub(crate) async fn request(
        &self,
        req: &mut Request,
        replayable: bool,
    ) -> Result<(reqwest::Request, Overflow), Error> {
        let url = self.target(req.uri().path(), req.uri().query())?;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.settings.max_request_body as u64) {
            return Err(Error::BodyTooLarge(self.settings.max_request_body));
        }
        let mut request = reqwest::Request::new(req.method().clone(), url);
        *request.headers_mut() = forwarded(req.headers(), &BROWSERS_OWN);
        let overflow = Overflow::default();
        // Always forwarded: a request of HTTP/2 or 3 may stream a body
        // without saying so, and an empty one sends nothing.
        let body = bounded(
            req.take_body().into_bytes_stream(),
            self.settings.max_request_body,
            Some(overflow.clone()),
        );
        *request.body_mut() = Some(match replayable {
            true => read_whole(body)
                .await
                .map_err(|_| Error::BodyTooLarge(self.settings.max_request_body))?
                .into(),
            false => reqwest::Body::wrap_stream(body),
        });
        Ok((request, overflow))
    }

    /// The browser's answer for the API's: its status, its headers but
    /// those that act on the app's site, and its body within the bound:
    /// streamed when the API says its length; else read first, since a
    /// browser would take an answer cut off at the bound for a whole one.
    pub(crate) async fn response(&self, answer: reqwest::Response) -> Result<Response, Error> {
        let limit = self.settings.max_response_body;
        let too_long = || {
            Error::ApiCall(format!(
                "its answer is longer than the proxy forwards ({limit} bytes)"
            ))
        };
        let declared = answer.content_length();
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_long());
        }
        let mut response = Response::builder().status(answer.status()).finish();
        *response.headers_mut() = forwarded(answer.headers(), &APIS_OWN);
        let body = bounded(answer.bytes_stream(), limit, None);
        if declared.is_some() {
            response.set_body(Body::from_bytes_stream(body));
            return Ok(response);
        }
        response.set_body(read_whole(body).await.map_err(|_| too_long())?);
        Ok(response)
    }

    /// The API's URL for a request to `path` (as sent, still encoded) with
    /// `query`, below the base URL: a path with a segment the API could
    /// read as `.` or `..` (decoded once or more, without a `;` parameter),
    /// or as holding a slash or backslash, could reach above it, and is
    /// refused.
    fn target(&self, path: &str, query: Option<&str>) -> Result<Url, Error> {
        let escapes = path.split('/').any(|segment| {
            let decoded = fully_decoded(segment);
            let name = decoded.split(';').next().unwrap_or_default();
            decoded.contains(['/', '\\']) || matches!(name, "." | "..")
        });
        if escapes {
            return Err(Error::BadProxyRequest(
                "the path has `.` or `..` segments, or an encoded slash".into(),
            ));
        }
        let mut url = self.settings.base.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{path}"));
        url.set_query(query);
        Ok(url)
    }
}

/// `headers` without the hop-by-hop ones (and those `Connection` names)
/// and without `dropped` (names, or prefixes ending in `-`).
fn forwarded(headers: &HeaderMap, dropped: &[&str]) -> HeaderMap {
    let per_connection: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let kept = |name: &HeaderName| {
        let name = name.as_str();
        let is_dropped = |d: &&str| match d.ends_with('-') {
            true => name.starts_with(*d),
            false => name == *d,
        };
        !HOP_BY_HOP.contains(&name)
            && !dropped.iter().any(is_dropped)
            && !per_connection.iter().any(|n| n == name)
    };
    headers
        .iter()
        .filter(|(name, _)| kept(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// `body` up to `limit` bytes; past it, an error that ends the stream (the
/// request is then not sent whole; an answer is cut off).
fn bounded<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    body: impl Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    limit: usize,
    overflow: Option<Overflow>,
) -> impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    let mut seen = 0usize;
    body.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            if let Some(overflow) = &overflow {
                overflow.0.store(true, Ordering::Relaxed);
            }
            return Err(std::io::Error::other(format!(
                "the body is longer than the proxy's bound of {limit} bytes"
            )));
        }
        Ok(chunk)
    })
}

/// All of `body`, or its first error (past its bound, or cut off).
async fn read_whole(
    body: impl Stream<Item = std::io::Result<bytes::Bytes>>,
) -> std::io::Result<Vec<u8>> {
    let mut whole = Vec::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        whole.extend_from_slice(&chunk?);
    }
    Ok(whole)
}

/// `segment` percent-decoded until nothing changes (a server that decodes
/// twice reads `%252e` as `.`).
fn fully_decoded(segment: &str) -> String {
    let mut decoded = segment.to_owned();
    loop {
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            return decoded;
        }
        decoded = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(base: &str) -> Upstream {
        UpstreamSettings {
            base: Url::parse(base).unwrap(),
            timeout: Duration::from_secs(1),
            max_request_body: 10,
            max_response_body: 10,
        }
        .connect()
    }

    #[test]
    fn paths_stay_below_the_base_url() {
        let api = upstream("http://127.0.0.1:9/oauth/");
        let at = |path, query| api.target(path, query).map(|url| url.to_string());
        assert_eq!(
            at("/me", Some("a=1")).unwrap(),
            "http://127.0.0.1:9/oauth/me?a=1"
        );
        assert_eq!(at("/", None).unwrap(), "http://127.0.0.1:9/oauth/");
        assert_eq!(
            at("/a%20b/c", None).unwrap(),
            "http://127.0.0.1:9/oauth/a%20b/c"
        );
        for path in [
            "/../admin",
            "/a/../../admin",
            "/%2e%2e/admin",
            "/%2E%2e/admin",
            "/.%2e/admin",
            "/./me",
            "/a%2F..%2Fadmin",
            "/a%5c..%5cadmin",
            "/a\\..\\admin",
            "/..;/admin",
            "/..;jsessionid=1/admin",
            "/%252e%252e/admin",
            "/%25252e%25252e/admin",
            "/a%252Fb",
        ] {
            assert!(at(path, None).is_err(), "{path}");
        }
        let bare = upstream("http://127.0.0.1:9");
        assert_eq!(
            bare.target("/me", None).unwrap().as_str(),
            "http://127.0.0.1:9/me"
        );
    }

    #[test]
    fn the_browsers_credentials_and_connection_headers_stay_behind() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("cookie", "civic_session=x"),
            ("authorization", "Bearer mine"),
            ("x-csrf", "1"),
            ("host", "app.example"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-prefix", "/admin"),
            ("x-original-url", "/admin"),
            ("x-http-method-override", "DELETE"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("accept", "application/json"),
            ("content-type", "text/plain"),
        ] {
            headers.append(name, value.parse().unwrap());
        }
        let kept = forwarded(&headers, &BROWSERS_OWN);
        let names: Vec<_> = kept.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["accept", "content-type"]);
        let mut answer = HeaderMap::new();
        answer.append("set-cookie", "civic_session=evil".parse().unwrap());
        answer.append("clear-site-data", "\"cookies\"".parse().unwrap());
        answer.append("access-control-allow-origin", "*".parse().unwrap());
        answer.append("content-type", "application/json".parse().unwrap());
        let names: Vec<_> = forwarded(&answer, &APIS_OWN)
            .keys()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["content-type"]);
    }

    #[tokio::test]
    async fn bodies_are_cut_at_their_bound() {
        let chunks = |sizes: &[usize]| {
            futures_util::stream::iter(
                sizes
                    .iter()
                    .map(|&n| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; n])))
                    .collect::<Vec<_>>(),
            )
        };
        let overflow = Overflow::default();
        let within: Vec<_> = bounded(chunks(&[4, 6]), 10, Some(overflow.clone()))
            .collect()
            .await;
        assert!(within.iter().all(Result::is_ok));
        assert!(!overflow.happened());
        let past: Vec<_> = bounded(chunks(&[4, 6, 1]), 10, Some(overflow.clone()))
            .collect()
            .await;
        assert!(past[2].is_err());
        assert!(overflow.happened());
    }
}
