//! `AccessToken`: the session's current access token, for a handler that
//! calls APIs on the user's behalf.

use std::{fmt, sync::Arc};

use url::Url;

use super::{
    auth::Parts,
    middleware::{to_login, RequestAuth, SessionUpdates},
};
use crate::{
    cookie::writer::CookieChanges,
    error::Error,
    oidc::{api::Credential, client::RefreshFailure},
    session::{refresh::Renewal, state::Session},
    step_up::StepUp,
};

/// The logged-in user's access token, current when the handler gets it:
/// a session whose token expires within its refresh margin (a fifth of its
/// lifetime, 1 to 10 seconds) is refreshed first, once however many
/// requests ask at the same time. Its tokens may be bound to the session's
/// DPoP key; [`send`](Self::send) then adds a proof for each call. A
/// token for another API the app named (RFC 8707) comes from
/// [`for_resource`](Self::for_resource).
///
/// Like [`CivicUser`](crate::CivicUser), it needs a logged-in user (a
/// browser goes to login, an API call gets 401). A session that cannot
/// renew an expired token (no refresh token) is answered the same way (401
/// `access_token_expired`, or a new login), though the session stays; a
/// request with its own bearer token has no session tokens: 403. Tokens go
/// only over https, or to a loopback host.
///
/// ```
/// use civic_auth_poem::{civic_auth_required, reqwest, AccessToken};
/// use poem::{handler, web::Json};
///
/// #[civic_auth_required]
/// #[handler]
/// async fn orders(token: AccessToken) -> poem::Result<Json<serde_json::Value>> {
///     let answer = token
///         .send(reqwest::Client::new().get("https://api.example/orders"))
///         .await?;
///     Ok(Json(answer.json().await.map_err(poem::error::BadGateway)?))
/// }
/// ```
pub struct AccessToken {
    session: Arc<Session>,
    parts: Arc<Parts>,
    /// A token for an API (its indicator and the token) rather than the
    /// session's own.
    api: Option<(String, String)>,
    /// Where a renewed session goes (for a provider with APIs).
    updates: Option<Arc<SessionUpdates>>,
}

impl AccessToken {
    /// The token itself, for an API client of the app's own; prefer
    /// [`send`](Self::send), which adds the DPoP proof a bound token needs.
    pub fn secret(&self) -> &str {
        self.credential().token
    }

    /// The API this token is for (its resource indicator); `None` for the
    /// session's own token.
    pub fn resource(&self) -> Option<&str> {
        self.api.as_ref().map(|(resource, _)| resource.as_str())
    }

    /// A token for the API `resource`, one the app named in the settings
    /// of the user's provider
    /// ([`resource`](crate::CivicAuthConfigBuilder::resource)): the
    /// session's while it is good for a while yet; else obtained with the
    /// refresh token (once however many requests ask at the same time),
    /// and kept in the session, sealed, until it is about to expire. The
    /// session's cookie then changes with this response: ask before the
    /// handler returns.
    ///
    /// ```
    /// use civic_auth_poem::{civic_auth_required, reqwest, AccessToken};
    /// use poem::handler;
    ///
    /// #[civic_auth_required]
    /// #[handler]
    /// async fn invoices(token: AccessToken) -> poem::Result<String> {
    ///     let billing = token.for_resource("https://billing.example/").await?;
    ///     let answer = billing
    ///         .send(reqwest::Client::new().get("https://billing.example/invoices"))
    ///         .await?;
    ///     Ok(answer.text().await.map_err(poem::error::BadGateway)?)
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownResource`] (500): the settings do not name it;
    /// - [`Error::ResourceNotGranted`] (401): the session's login did not
    ///   ask for it (the app named it later), or got no refresh token;
    /// - [`Error::ResourceRefused`] (502): the provider refused it;
    /// - [`Error::AccessTokenNotRenewed`] (503): the provider did not answer;
    /// - [`Error::NotLoggedIn`] (401): the provider refused the refresh
    ///   token, and the session has ended.
    pub async fn for_resource(&self, resource: &str) -> Result<AccessToken, Error> {
        let parts = &self.parts;
        let client = (parts.providers)
            .of_user(&self.session.user)
            .ok_or(Error::NotLoggedIn)?;
        let api = client
            .resource(resource)
            .ok_or_else(|| Error::UnknownResource {
                resource: resource.to_owned(),
                provider: client.name().to_owned(),
            })?;
        let session = &self.session;
        if let Some(token) = session.resource_token(resource, parts.config.clock.now_secs()) {
            return Ok(self.for_api(session.clone(), resource, token));
        }
        if !session.resources.contains_key(resource) || session.refresh_token.is_none() {
            return Err(Error::ResourceNotGranted(resource.to_owned()));
        }
        let renewal = Renewal::Resource(api.clone());
        let (renewed, cookie) = parts.sessions.renew(session, &renewal).await;
        if let (Some(cookie), Some(updates)) = (cookie, &self.updates) {
            updates.record(CookieChanges::session(cookie));
        }
        let renewed = renewed.map_err(|failure| match failure {
            RefreshFailure::Ended(_) => Error::NotLoggedIn,
            RefreshFailure::Unavailable(_) => Error::AccessTokenNotRenewed,
            RefreshFailure::Refused(reason) => Error::ResourceRefused {
                resource: format!("`{resource}`"),
                reason,
            },
        })?;
        let token = renewed
            .resource_token(resource, parts.config.clock.now_secs())
            .ok_or(Error::AccessTokenNotRenewed)?
            .to_owned();
        Ok(self.for_api(Arc::new(renewed), resource, &token))
    }

    fn for_api(&self, session: Arc<Session>, resource: &str, token: &str) -> Self {
        Self {
            session,
            parts: self.parts.clone(),
            api: Some((resource.to_owned(), token.to_owned())),
            updates: self.updates.clone(),
        }
    }

    /// Whether the token is bound to the session's DPoP key: each call
    /// then needs a [proof](Self::dpop_proof).
    pub fn is_dpop_bound(&self) -> bool {
        self.session.dpop_key.is_some()
    }

    /// The `Authorization` header's value: `Bearer <token>`, or
    /// `DPoP <token>` for a bound token.
    pub fn authorization(&self) -> String {
        self.credential().authorization()
    }

    /// The `DPoP` header's value for a `method` call to `url` (with the
    /// nonce that API last asked for through [`send`](Self::send)); `None`
    /// for a token that is not bound.
    ///
    /// # Errors
    ///
    /// [`Error::ApiCall`] when `url` is not an absolute URL.
    pub fn dpop_proof(&self, method: &str, url: &str) -> Result<Option<String>, Error> {
        let url = Url::parse(url)
            .map_err(|e| Error::ApiCall(format!("`{url}` is not an absolute URL: {e}")))?;
        Ok(self
            .parts
            .apis
            .proof(self.credential(), method, &url, &self.parts.config.clock))
    }

    /// Sends `request` with the token (and a proof for a bound one). An
    /// API that asks for a DPoP nonce gets one more try with it when the
    /// request's body can be sent twice.
    ///
    /// # Errors
    ///
    /// [`Error::ApiCall`] (502) when the request cannot be built or the
    /// API does not answer; an answer of any status is `Ok`.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| Error::ApiCall(e.without_url().to_string()))?;
        self.execute(&client, request).await
    }

    /// [`Self::send`] for a request already built.
    pub(crate) async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, Error> {
        let clock = &self.parts.config.clock;
        (self.parts.apis)
            .send(client, request, self.credential(), clock)
            .await
    }

    /// The token of `session`, `req`'s, when it is current: else why not.
    pub(crate) fn of(session: Arc<Session>, req: &poem::Request) -> Result<Self, Error> {
        let parts = &RequestAuth::of(req)?.parts;
        if !session.has_current_access_token(parts.config.clock.now_secs()) {
            // Its refresh failed just now, or it has none.
            return Err(match session.refresh_token {
                Some(_) => Error::AccessTokenNotRenewed,
                None => Error::AccessTokenExpired,
            });
        }
        // Only a session that can get tokens for APIs changes later.
        let has_apis = (parts.providers)
            .of_user(&session.user)
            .is_some_and(|client| !client.resources().is_empty());
        let updates = match has_apis {
            true => Some(Arc::new(RequestAuth::session_updates(req)?)),
            false => None,
        };
        Ok(Self {
            session,
            parts: parts.clone(),
            api: None,
            updates,
        })
    }

    /// The userinfo endpoint of the provider the user logged in with.
    ///
    /// # Errors
    ///
    /// When its discovery document cannot be read or names none.
    pub async fn userinfo_endpoint(&self) -> Result<Url, Error> {
        let provider = self
            .parts
            .providers
            .of_user(&self.session.user)
            .ok_or(Error::NotLoggedIn)?;
        provider.userinfo_endpoint().await
    }

    fn credential(&self) -> Credential<'_> {
        let token = match &self.api {
            Some((_, token)) => token,
            None => &self.session.access_token,
        };
        Credential {
            token,
            dpop: self.session.dpop_key.as_ref(),
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"***")
            .field("resource", &self.resource())
            .field("dpop_bound", &self.is_dpop_bound())
            .finish()
    }
}

impl<'a> poem::FromRequest<'a> for AccessToken {
    async fn from_request(
        req: &'a poem::Request,
        _body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        let session = RequestAuth::session(req)
            .await?
            .ok_or(Error::SessionRequired)?;
        let parts = &RequestAuth::of(req)?.parts;
        Self::of(session, req).map_err(|error| match error {
            // As a logout: a page logs in again.
            Error::AccessTokenExpired => {
                poem::Error::from_response(to_login(parts, req, &error, &StepUp::default()))
            }
            error => error.into(),
        })
    }
}
