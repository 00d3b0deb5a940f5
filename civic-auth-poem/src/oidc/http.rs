//! The one HTTP client that talks to the provider: bounded in time and in the
//! size of every answer it reads, and the one place client credentials and
//! DPoP proofs (with the provider's last `DPoP-Nonce`) are added to requests.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::{
    api::Credential,
    client_auth::ClientAuth,
    dpop::{self, DpopKey},
};
use crate::{
    clock::Clock, config::https_or_loopback, credentials::method::ClientAuthMethod, error::Error,
};

/// An answer, read (bounded).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// No provider answer (discovery, key set, tokens, userinfo) is read past this.
const MAX_BODY: usize = 512 * 1024;

#[derive(Clone)]
pub(crate) struct ProviderHttp {
    client: reqwest::Client,
    /// When the provider last answered at all; tells login whether to re-check it.
    last_answer: Arc<Mutex<Option<Duration>>>,
    /// The provider's last `DPoP-Nonce`: one value for all its endpoints.
    dpop_nonce: Arc<Mutex<Option<String>>>,
    clock: Clock,
}

impl ProviderHttp {
    pub(crate) fn new(timeout: Duration, clock: Clock) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirected token request could leak the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client without custom TLS roots always builds");
        Self {
            client,
            last_answer: Arc::default(),
            dpop_nonce: Arc::default(),
            clock,
        }
    }

    /// Whether the provider answered anything within `interval`.
    pub(crate) fn answered_within(&self, interval: Duration) -> bool {
        self.last_answer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| self.clock.ticks().saturating_sub(at) < interval)
    }

    fn answered(&self) {
        *self.last_answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.clock.ticks());
    }

    /// GETs `url` and parses a JSON answer; `credential` authorises a
    /// userinfo call.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        what: &'static str,
        url: &Url,
        credential: Option<Credential<'_>>,
    ) -> Result<T, Error> {
        let mut request = self.client.get(url.clone());
        let mut key = None;
        if let Some(credential) = credential {
            request = request.header(header::AUTHORIZATION, credential.authorization());
            key = credential.dpop.map(|dpop| (dpop, Some(credential.token)));
        }
        let request = build(what, request)?;
        let answer = self.fetch(what, request, key, None).await?;
        parse(what, &checked(what, answer)?)
    }

    /// POSTs `form` to an endpoint that authenticates the client (pushed
    /// authorization requests, introspection, revocation) with `client`'s
    /// credentials; the answer's body.
    pub(crate) async fn post_form(
        &self,
        what: &'static str,
        url: &Url,
        form: &[(&str, &str)],
        client: &ClientAuth,
    ) -> Result<Vec<u8>, Error> {
        let request = build(what, self.client.post(url.clone()).form(form))?;
        let answer = self.fetch(what, request, None, Some(client)).await?;
        if let Some(reason) = refused_client(&answer) {
            return Err(client.method().refused(what, reason));
        }
        if let Some((error, description)) = oauth_error(&answer) {
            return Err(Error::ProviderRefused {
                what,
                error,
                description,
            });
        }
        checked(what, answer)
    }

    /// Sends `request` with `client`'s credentials and a proof by `dpop`'s
    /// key (for its access token, if any), each when given and made afresh
    /// for each try. A provider that asks for a nonce (`use_dpop_nonce`)
    /// gets one more try, with the nonce it sent.
    async fn fetch(
        &self,
        what: &'static str,
        request: reqwest::Request,
        dpop: Option<(&DpopKey, Option<&str>)>,
        client: Option<&ClientAuth>,
    ) -> Result<Answer, Error> {
        if client.is_some_and(|client| client.method() != ClientAuthMethod::None)
            && !https_or_loopback(request.url())
        {
            return Err(Error::ProviderResponse {
                what,
                reason: "its endpoint is plain http, and the app's client credentials go only over https (or to a loopback host)".into(),
            });
        }
        let retry = dpop.and_then(|_| request.try_clone());
        let answer = self
            .execute(what, self.prepare(request, dpop, client))
            .await?;
        match retry {
            Some(retry) if self.asks_for_nonce(&answer) => {
                self.execute(what, self.prepare(retry, dpop, client)).await
            }
            _ => Ok(answer),
        }
    }

    /// `request` with what [`Self::fetch`] adds to each try.
    fn prepare(
        &self,
        mut request: reqwest::Request,
        dpop: Option<(&DpopKey, Option<&str>)>,
        client: Option<&ClientAuth>,
    ) -> reqwest::Request {
        if let Some(client) = client {
            client.apply(&mut request, self.clock.now_secs());
        }
        match dpop {
            Some((key, access_token)) => self.prove(request, key, access_token),
            None => request,
        }
    }

    fn prove(
        &self,
        mut request: reqwest::Request,
        key: &DpopKey,
        access_token: Option<&str>,
    ) -> reqwest::Request {
        let nonce = self
            .dpop_nonce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let proof = key.proof_for(
            request.method().as_str(),
            request.url(),
            access_token,
            nonce.as_deref(),
            self.clock.now_secs(),
        );
        if let Ok(value) = header::HeaderValue::try_from(proof) {
            request.headers_mut().insert("dpop", value);
        }
        request
    }

    /// Keeps the answer's `DPoP-Nonce`; whether the answer refused the
    /// proof for the lack of it.
    fn asks_for_nonce(&self, answer: &Answer) -> bool {
        let Some(nonce) = dpop::nonce_of(&answer.headers) else {
            return false;
        };
        *self.dpop_nonce.lock().unwrap_or_else(|e| e.into_inner()) = Some(nonce.to_owned());
        // The token endpoint says so in its JSON body (RFC 9449 8), the
        // others in their challenge (9).
        let said = || {
            matches!(answer.status.as_u16(), 400 | 401)
                && serde_json::from_slice::<serde_json::Value>(&answer.body)
                    .is_ok_and(|body| body["error"] == "use_dpop_nonce")
        };
        dpop::is_nonce_challenge(answer.status, &answer.headers) || said()
    }

    async fn execute(
        &self,
        what: &'static str,
        request: reqwest::Request,
    ) -> Result<Answer, Error> {
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| unavailable(what, e))?;
        self.answered();
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_limited(what, response).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// This client in the shape `oauth2` calls, with `client`'s credentials
    /// and proving `dpop` when given: the future owns its client, since it
    /// outlives any borrow of the caller.
    pub(crate) fn oauth2_client(
        &self,
        client: ClientAuth,
        dpop: Option<DpopKey>,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, Error>> + Send>,
    > + Send
           + Sync
           + 'static {
        let http = self.clone();
        move |request| {
            let http = http.clone();
            let client = client.clone();
            let dpop = dpop.clone();
            Box::pin(async move { http.send(request, &client, dpop.as_ref()).await })
        }
    }

    /// Sends a request built by `oauth2` (the token exchange).
    async fn send(
        &self,
        request: oauth2::HttpRequest,
        client: &ClientAuth,
        dpop: Option<&DpopKey>,
    ) -> Result<oauth2::HttpResponse, Error> {
        const WHAT: &str = "token response";
        let request = reqwest::Request::try_from(request).map_err(|e| Error::ProviderResponse {
            what: WHAT,
            reason: format!("the token request could not be built ({e})"),
        })?;
        let answer = self
            .fetch(WHAT, request, dpop.map(|key| (key, None)), Some(client))
            .await?;
        let mut builder = poem::http::Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(answer.body)
            .map_err(|e| Error::ProviderResponse {
                what: WHAT,
                reason: e.to_string(),
            })
    }
}

/// `request`, asking for JSON.
fn build(what: &'static str, request: reqwest::RequestBuilder) -> Result<reqwest::Request, Error> {
    request
        .header(header::ACCEPT, "application/json")
        .build()
        .map_err(|e| unavailable(what, e))
}

/// The body of a successful answer; a 5xx is the provider being
/// unavailable, any other non-success an unusable answer.
fn checked(what: &'static str, answer: Answer) -> Result<Vec<u8>, Error> {
    let Answer { status, body, .. } = answer;
    if status.is_server_error() {
        return Err(Error::ProviderUnavailable {
            what,
            reason: format!("HTTP status {status}"),
        });
    }
    if !status.is_success() {
        return Err(Error::ProviderResponse {
            what,
            reason: format!("HTTP status {status}"),
        });
    }
    Ok(body)
}

/// What the provider said when it refused the client's credentials
/// (`invalid_client`, RFC 6749 5.2, or any 401), if it did.
fn refused_client(answer: &Answer) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let error = body["error"].as_str();
    let refused = answer.status == StatusCode::UNAUTHORIZED || error == Some("invalid_client");
    refused.then(|| {
        let said = error.map_or_else(|| format!("HTTP status {}", answer.status), str::to_owned);
        match body["error_description"].as_str() {
            Some(description) => format!("{said} ({description})"),
            None => said,
        }
    })
}

/// The OAuth error (RFC 6749 5.2) of a refusal (4xx), and its description.
fn oauth_error(answer: &Answer) -> Option<(String, Option<String>)> {
    if !answer.status.is_client_error() {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    let description = body["error_description"].as_str().map(str::to_owned);
    Some((body["error"].as_str()?.to_owned(), description))
}

/// A JSON answer of the provider.
pub(crate) fn parse<T: DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::ProviderResponse {
        what,
        reason: format!("not the expected JSON ({e})"),
    })
}

fn unavailable(what: &'static str, error: reqwest::Error) -> Error {
    let reason = if error.is_timeout() {
        "no answer in time".to_owned()
    } else {
        error.without_url().to_string()
    };
    Error::ProviderUnavailable { what, reason }
}

async fn read_limited(
    what: &'static str,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::ProviderResponse {
        what,
        reason: format!("the answer is larger than {MAX_BODY} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(what, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn nonce_of(http: &ProviderHttp) -> Option<String> {
        http.dpop_nonce.lock().unwrap().clone()
    }

    #[test]
    fn the_provider_counts_as_answering_for_the_interval_after_an_answer() {
        let clock = crate::clock::ManualClock::now();
        let http = ProviderHttp::new(Duration::from_secs(1), clock.clone().into());
        let interval = Duration::from_secs(30);
        assert!(!http.answered_within(interval), "not yet");
        http.answered();
        clock.advance(interval - Duration::from_millis(1));
        assert!(http.answered_within(interval));
        clock.advance(Duration::from_millis(1));
        assert!(
            !http.answered_within(interval),
            "silent for the whole interval"
        );
    }

    #[test]
    fn a_nonce_is_kept_from_any_answer_and_retried_only_when_asked_for() {
        let http = ProviderHttp::new(Duration::from_secs(1), Clock::system());
        let asked = r#"{"error":"use_dpop_nonce"}"#;
        let challenge = r#"DPoP error="use_dpop_nonce", algs="ES256""#;
        assert!(http.asks_for_nonce(&answer(400, &[("dpop-nonce", "n1")], asked)));
        assert_eq!(nonce_of(&http).as_deref(), Some("n1"));
        let userinfo = answer(
            401,
            &[("dpop-nonce", "n2"), ("www-authenticate", challenge)],
            "",
        );
        assert!(http.asks_for_nonce(&userinfo));
        assert_eq!(nonce_of(&http).as_deref(), Some("n2"));
        // Kept, but not a reason to send the request again.
        let refused = r#"{"error":"invalid_grant"}"#;
        assert!(!http.asks_for_nonce(&answer(400, &[("dpop-nonce", "n3")], refused)));
        assert_eq!(nonce_of(&http).as_deref(), Some("n3"));
        assert!(!http.asks_for_nonce(&answer(200, &[("dpop-nonce", "n4")], asked)));
        assert!(!http.asks_for_nonce(&answer(500, &[("dpop-nonce", "n5")], asked)));
        assert!(
            !http.asks_for_nonce(&answer(400, &[], asked)),
            "no nonce to try"
        );
        assert_eq!(nonce_of(&http).as_deref(), Some("n5"));
        // Bounded: an endless nonce is not kept.
        let long = "n".repeat(257);
        assert!(!http.asks_for_nonce(&answer(400, &[("dpop-nonce", &long)], asked)));
        assert!(!http.asks_for_nonce(&answer(400, &[("dpop-nonce", "")], asked)));
        assert_eq!(nonce_of(&http).as_deref(), Some("n5"));
        let longest = "n".repeat(256);
        assert!(http.asks_for_nonce(&answer(400, &[("dpop-nonce", &longest)], asked)));
    }

    #[test]
    fn a_refusal_of_the_clients_credentials_says_what_the_provider_said() {
        let refused = |status, body| refused_client(&answer(status, &[], body));
        assert_eq!(
            refused(
                401,
                r#"{"error":"invalid_client","error_description":"bad secret"}"#
            )
            .as_deref(),
            Some("invalid_client (bad secret)")
        );
        assert_eq!(
            refused(400, r#"{"error":"invalid_client"}"#).as_deref(),
            Some("invalid_client")
        );
        assert_eq!(
            refused(401, "").as_deref(),
            Some("HTTP status 401 Unauthorized")
        );
        assert_eq!(refused(400, r#"{"error":"invalid_grant"}"#), None);
        assert_eq!(refused(200, "{}"), None);
    }

    #[tokio::test]
    async fn client_credentials_are_not_sent_over_plain_http_to_another_machine() {
        use crate::credentials::{ClientCredentials, ClientSecret};
        let metadata = serde_json::from_value(serde_json::json!({
            "issuer": "http://idp.example/",
            "authorization_endpoint": "http://idp.example/auth",
            "token_endpoint": "http://idp.example/token",
            "jwks_uri": "http://idp.example/jwks",
        }))
        .unwrap();
        let confidential = ClientCredentials {
            secret: Some(ClientSecret::new("s")),
            ..ClientCredentials::default()
        };
        let client = ClientAuth::settle(&confidential, "app", &metadata, None).unwrap();
        let http = ProviderHttp::new(Duration::from_millis(200), Clock::system());
        let post = |url: &str| reqwest::Client::new().post(url).build().unwrap();
        let refused = http
            .fetch(
                "token response",
                post("http://idp.example/token"),
                None,
                Some(&client),
            )
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("plain http"), "{refused}");
        // To this machine, it goes (and finds nobody there).
        let local = http
            .fetch(
                "token response",
                post("http://127.0.0.1:9/token"),
                None,
                Some(&client),
            )
            .await;
        assert!(
            matches!(local, Err(Error::ProviderUnavailable { .. })),
            "{:?}",
            local.err()
        );
    }
}
