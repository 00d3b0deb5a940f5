//! The provider: its discovery document and signing keys, fetched once and
//! cached, re-checked only when needed. A protected request never calls it.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use jsonwebtoken::{Algorithm, DecodingKey};
use url::Url;

use super::{
    discovery::{self, ProviderMetadata},
    http::ProviderHttp,
    jwks::KeySet,
};
use crate::{config::CivicAuthConfig, error::Error};

pub(crate) struct Provider {
    pub(crate) http: ProviderHttp,
    issuer: Url,
    metadata: RwLock<Option<Arc<ProviderMetadata>>>,
    discovering: tokio::sync::Mutex<()>,
    keys: KeySet,
    check_interval: Duration,
}

impl Provider {
    pub(crate) fn new(config: &CivicAuthConfig) -> Self {
        Self {
            http: ProviderHttp::new(config.http_timeout, config.clock.clone()),
            issuer: config.oauth_server.clone(),
            metadata: RwLock::new(None),
            discovering: tokio::sync::Mutex::new(()),
            keys: KeySet::new(config.jwks_refresh_interval, config.clock.clone()),
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

    /// The discovery document for a login or logout about to send the
    /// browser to the provider: fetched again when the provider has been
    /// silent for the check interval, so an outage shows as a clear 503 here
    /// rather than as a dead page at the provider. Busy apps hear from it at
    /// every login.
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
        let mut metadata: ProviderMetadata =
            self.http.get_json("discovery document", &url, None).await?;
        metadata.check_issuer(&self.issuer)?;
        // Some providers publish introspection and revocation only in
        // their OAuth metadata. A provider without any (it answers, but not
        // with such a document) is fine; one that cannot answer now fails
        // this discovery, to be tried again, rather than be remembered
        // without those endpoints.
        if metadata.lacks_oauth_endpoints() {
            let url = discovery::oauth_metadata_url(&self.issuer);
            match self.http.get_json("OAuth metadata", &url, None).await {
                Ok(oauth) => metadata.complete_from(oauth),
                Err(error @ Error::ProviderUnavailable { .. }) => return Err(error),
                Err(error) => tracing::debug!(%error, "no OAuth metadata (RFC 8414)"),
            }
        }
        let metadata = Arc::new(metadata);
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(metadata.clone());
        Ok(metadata)
    }

    /// Trusts `metadata` and `keys` in place of the provider's, and never
    /// fetches them: the provider of an app's tests ([`crate::testing`]).
    #[cfg(feature = "testing")]
    pub(crate) fn pin(&self, metadata: ProviderMetadata, keys: Vec<jsonwebtoken::jwk::Jwk>) {
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(metadata));
        self.keys.pin(keys);
    }

    /// The issuer URL the app configured.
    pub(crate) fn issuer(&self) -> &Url {
        &self.issuer
    }

    /// The discovery document if it was fetched already; never calls out.
    pub(crate) fn cached_metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The provider's key for a token signed with `alg` under `kid`, if it
    /// publishes one.
    pub(crate) async fn decoding_key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<DecodingKey>, Error> {
        let metadata = self.metadata().await?;
        self.keys
            .decoding_key(&self.http, &metadata.jwks_uri, kid, alg)
            .await
    }
}
