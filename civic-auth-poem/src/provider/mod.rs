//! The provider: its discovery document and signing keys, fetched once and
//! cached, and the calls made to it at login.

mod discovery;
mod http;
mod jwks;

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey};
use url::Url;

use self::jwks::KeySet;
pub(crate) use self::{discovery::ProviderMetadata, http::ProviderHttp};
use crate::{CivicAuthConfig, Error};

pub(crate) struct Provider {
    pub(crate) http: ProviderHttp,
    issuer: Url,
    metadata: RwLock<Option<Arc<ProviderMetadata>>>,
    discovering: tokio::sync::Mutex<()>,
    keys: KeySet,
    check_interval: std::time::Duration,
}

impl Provider {
    pub(crate) fn new(config: &CivicAuthConfig) -> Self {
        Self {
            http: ProviderHttp::new(config.http_timeout),
            issuer: config.oauth_server.clone(),
            metadata: RwLock::new(None),
            discovering: tokio::sync::Mutex::new(()),
            keys: KeySet::new(config.jwks_refresh_interval),
            check_interval: config.provider_check_interval,
        }
    }

    /// The discovery document; fetched on first use (so an app starts while
    /// the provider is down), then kept for the life of the process.
    pub(crate) async fn metadata(&self) -> Result<Arc<ProviderMetadata>, Error> {
        if let Some(cached) = self.cached_metadata() {
            return Ok(cached);
        }
        let _single_flight = self.discovering.lock().await;
        if let Some(cached) = self.cached_metadata() {
            return Ok(cached);
        }
        self.discover().await
    }

    /// The discovery document for a login or logout about to send the browser to the
    /// provider: fetched again when the provider has been silent for the
    /// check interval, so an outage shows as a clear 503 here rather than as
    /// a dead page at the provider. Busy apps hear from it at every login.
    pub(crate) async fn metadata_for_redirect(&self) -> Result<Arc<ProviderMetadata>, Error> {
        if self.cached_metadata().is_some() && !self.http.answered_within(self.check_interval) {
            let _single_flight = self.discovering.lock().await;
            if !self.http.answered_within(self.check_interval) {
                self.discover().await?;
            }
        }
        self.metadata().await
    }

    async fn discover(&self) -> Result<Arc<ProviderMetadata>, Error> {
        let url = discovery::discovery_url(&self.issuer)?;
        let metadata: ProviderMetadata =
            self.http.get_json("discovery document", &url, None).await?;
        metadata.check_issuer(&self.issuer)?;
        let metadata = Arc::new(metadata);
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(metadata.clone());
        Ok(metadata)
    }

    /// The discovery document if it was fetched already; never calls out.
    pub(crate) fn cached_metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) async fn decoding_key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, Error> {
        let metadata = self.metadata().await?;
        self.keys
            .decoding_key(&self.http, &metadata.jwks_uri, kid, alg)
            .await
    }
}

/// The token endpoint's answer, with the ID token OpenID Connect adds.
pub(crate) type TokenResponse =
    oauth2::StandardTokenResponse<IdTokenField, oauth2::basic::BasicTokenType>;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

/// A public client: no secret, so `client_id` travels in the request body.
pub(crate) type OAuthClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    TokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

impl Provider {
    pub(crate) fn oauth_client(
        &self,
        metadata: &ProviderMetadata,
        config: &CivicAuthConfig,
    ) -> OAuthClient {
        oauth2::Client::new(oauth2::ClientId::new(config.client_id.clone()))
            .set_auth_uri(oauth2::AuthUrl::from_url(
                metadata.authorization_endpoint.clone(),
            ))
            .set_token_uri(oauth2::TokenUrl::from_url(metadata.token_endpoint.clone()))
            .set_redirect_uri(oauth2::RedirectUrl::from_url(config.redirect_url.clone()))
    }

    /// Claims from the userinfo endpoint, called with the access token.
    pub(crate) async fn userinfo(
        &self,
        metadata: &ProviderMetadata,
        access_token: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Error> {
        let Some(url) = &metadata.userinfo_endpoint else {
            return Ok(None);
        };
        self.http
            .get_json("userinfo", url, Some(access_token))
            .await
            .map(Some)
    }
}
