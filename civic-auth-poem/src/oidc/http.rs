//! The one HTTP client that talks to the provider: bounded in time and in the
//! size of every answer it reads.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::http::header;
use serde::de::DeserializeOwned;
use url::Url;

use crate::{clock::Clock, error::Error};

/// No provider answer (discovery, key set, tokens, userinfo) is read past this.
const MAX_BODY: usize = 512 * 1024;

#[derive(Clone)]
pub(crate) struct ProviderHttp {
    client: reqwest::Client,
    /// When the provider last answered at all; tells login whether to re-check it.
    last_answer: Arc<Mutex<Option<Duration>>>,
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

    /// GETs `url` and parses a JSON answer; `bearer` authorises a userinfo call.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        what: &'static str,
        url: &Url,
        bearer: Option<&str>,
    ) -> Result<T, Error> {
        let mut request = self.client.get(url.clone());
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let body = self.send_checked(what, request).await?;
        parse(what, &body)
    }

    /// POSTs `form` (introspection, revocation) and returns the answer's body.
    pub(crate) async fn post_form(
        &self,
        what: &'static str,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Vec<u8>, Error> {
        self.send_checked(what, self.client.post(url.clone()).form(form))
            .await
    }

    /// Sends `request`; a 5xx is the provider being unavailable, any other
    /// non-success an unusable answer.
    async fn send_checked(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, Error> {
        let request = request.header(header::ACCEPT, "application/json");
        let response = request.send().await.map_err(|e| unavailable(what, e))?;
        self.answered();
        let status = response.status();
        let body = read_limited(what, response).await?;
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

    /// This client in the shape `oauth2` calls: the future owns its client,
    /// since it outlives any borrow of the caller.
    pub(crate) fn oauth2_client(
        &self,
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
            Box::pin(async move { http.send(request).await })
        }
    }

    /// Sends a request built by `oauth2` (the token exchange).
    pub(crate) async fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, Error> {
        const WHAT: &str = "token response";
        let request = reqwest::Request::try_from(request).map_err(|e| Error::ProviderResponse {
            what: WHAT,
            reason: format!("the token request could not be built ({e})"),
        })?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| unavailable(WHAT, e))?;
        self.answered();
        let mut builder = poem::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = read_limited(WHAT, response).await?;
        builder.body(body).map_err(|e| Error::ProviderResponse {
            what: WHAT,
            reason: e.to_string(),
        })
    }
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
