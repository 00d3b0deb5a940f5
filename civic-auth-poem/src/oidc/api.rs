//! Calls to APIs (resource servers) with a user's access token: the one
//! place such a call gets its `Authorization` and, for a DPoP-bound token,
//! its proof, made with the nonce each API last asked for (RFC 9449 9).

use std::{collections::HashMap, sync::Mutex};

use poem::http::{header, HeaderValue};
use url::Url;

use super::dpop::{self, DpopKey};
use crate::{clock::Clock, config::https_or_loopback, error::Error};

/// The APIs' nonces remembered at most; a new one past this starts afresh.
const MAX_APIS: usize = 64;

/// A user's access token as an API takes it.
#[derive(Clone, Copy)]
pub(crate) struct Credential<'a> {
    pub(crate) token: &'a str,
    /// The key the token is bound to, when it is (DPoP).
    pub(crate) dpop: Option<&'a DpopKey>,
}

impl Credential<'_> {
    /// The `Authorization` value: `Bearer <token>`, or `DPoP <token>`.
    pub(crate) fn authorization(&self) -> String {
        let scheme = if self.dpop.is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        format!("{scheme} {}", self.token)
    }
}

/// The last `DPoP-Nonce` of each API, by origin.
#[derive(Default)]
pub(crate) struct ApiNonces {
    last: Mutex<HashMap<String, String>>,
}

impl ApiNonces {
    fn of(&self, url: &Url) -> Option<String> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.get(&url.origin().ascii_serialization()).cloned()
    }

    fn keep(&self, url: &Url, nonce: &str) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() >= MAX_APIS {
            last.clear();
        }
        last.insert(url.origin().ascii_serialization(), nonce.to_owned());
    }

    /// A proof of `credential`'s key for a `method` call to `url`, with the
    /// API's last nonce; `None` for a token that is not bound.
    pub(crate) fn proof(
        &self,
        credential: Credential<'_>,
        method: &str,
        url: &Url,
        clock: &Clock,
    ) -> Option<String> {
        let key = credential.dpop?;
        let nonce = self.of(url);
        Some(key.proof_for(
            method,
            url,
            Some(credential.token),
            nonce.as_deref(),
            clock.now_secs(),
        ))
    }

    /// `request` with `credential` (and a proof made afresh for each try).
    fn authorize(
        &self,
        mut request: reqwest::Request,
        credential: Credential<'_>,
        clock: &Clock,
    ) -> Result<reqwest::Request, Error> {
        let invalid = |_| Error::ApiCall("the access token is not valid in a header".into());
        let headers = request.headers_mut();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::try_from(credential.authorization()).map_err(invalid)?,
        );
        let proof = self.proof(credential, request.method().as_str(), request.url(), clock);
        if let Some(proof) = proof {
            let proof = HeaderValue::try_from(proof).map_err(invalid)?;
            request.headers_mut().insert("dpop", proof);
        }
        Ok(request)
    }

    /// Sends `request` with `client` and `credential`. An API that refuses
    /// a DPoP proof for want of a nonce gets one more try with it, when the
    /// request's body can be sent again (a streamed one cannot: the nonce
    /// is then kept for the next call).
    pub(crate) async fn send(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        credential: Credential<'_>,
        clock: &Clock,
    ) -> Result<reqwest::Response, Error> {
        if !https_or_loopback(request.url()) {
            return Err(Error::ApiCall(
                "the user's token goes only over https (or to a loopback host)".into(),
            ));
        }
        let retry = credential.dpop.and_then(|_| request.try_clone());
        let answer = self.execute(client, request, credential, clock).await?;
        match retry {
            Some(retry) if dpop::is_nonce_challenge(answer.status(), answer.headers()) => {
                self.execute(client, retry, credential, clock).await
            }
            _ => Ok(answer),
        }
    }

    /// One try, the answer's nonce kept.
    async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        credential: Credential<'_>,
        clock: &Clock,
    ) -> Result<reqwest::Response, Error> {
        let url = request.url().clone();
        let request = self.authorize(request, credential, clock)?;
        let answer = client.execute(request).await.map_err(|error| {
            // Without the URL: its query could hold what the app would not log.
            tracing::warn!(api = %url.origin().ascii_serialization(), error = %error.without_url(), "an API call failed");
            Error::ApiCall("the API did not answer".into())
        })?;
        if let (Some(_), Some(nonce)) = (credential.dpop, dpop::nonce_of(answer.headers())) {
            self.keep(&url, nonce);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_keeps_its_own_nonce() {
        let nonces = ApiNonces::default();
        let key = DpopKey::generate();
        let credential = Credential {
            token: "at",
            dpop: Some(&key),
        };
        let a = Url::parse("https://a.example/x?q=1").unwrap();
        let b = Url::parse("https://b.example/x").unwrap();
        nonces.keep(&Url::parse("https://a.example/other").unwrap(), "n-a");
        let clock = Clock::system();
        let nonce_in = |url: &Url| {
            let proof = nonces.proof(credential, "GET", url, &clock).unwrap();
            let claims = proof.split('.').nth(1).unwrap();
            let claims: serde_json::Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(claims["htm"], "GET");
            claims["nonce"].as_str().map(str::to_owned)
        };
        assert_eq!(nonce_in(&a).as_deref(), Some("n-a"));
        assert_eq!(nonce_in(&b), None);
        let bearer = Credential {
            token: "at",
            dpop: None,
        };
        assert_eq!(nonces.proof(bearer, "GET", &a, &clock), None);
        assert_eq!(bearer.authorization(), "Bearer at");
        assert_eq!(credential.authorization(), "DPoP at");
        // Each API's stays while there is room; a new one past it starts afresh.
        nonces.keep(&b, "n-b");
        assert_eq!(nonce_in(&a).as_deref(), Some("n-a"));
        for i in 2..MAX_APIS {
            nonces.keep(&Url::parse(&format!("https://{i}.example/")).unwrap(), "n");
        }
        assert_eq!(nonce_in(&a).as_deref(), Some("n-a"));
        nonces.keep(&Url::parse("https://last.example/").unwrap(), "n");
        assert_eq!(nonce_in(&a), None);
    }
}
