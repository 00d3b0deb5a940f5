//! `Providers`: the app's providers, each one unit (its discovery, keys,
//! client, verifier and settings, an [`OidcClient`]) that flows are handed.
//! The first is the app's own config's; most apps have only it.

use std::sync::Arc;

use super::client::OidcClient;
use crate::{config::CivicAuthConfig, user::CivicUser};

pub(crate) struct Providers {
    /// The first is the default: what a session that names none is from.
    all: Vec<Arc<OidcClient>>,
    /// A request's host (lower case, without port) and its provider.
    tenants: Vec<(String, Arc<OidcClient>)>,
}

impl Providers {
    pub(crate) fn new(config: &CivicAuthConfig) -> Self {
        let all: Vec<Arc<OidcClient>> = config
            .all_providers()
            .map(|provider| Arc::new(OidcClient::new(provider)))
            .collect();
        let tenants = config
            .tenants
            .iter()
            .filter_map(|(host, name)| {
                let provider = all.iter().find(|p| p.name() == name)?;
                Some((host.clone(), provider.clone()))
            })
            .collect();
        Self { all, tenants }
    }

    /// The app's first provider.
    pub(crate) fn first(&self) -> &Arc<OidcClient> {
        &self.all[0]
    }

    /// Whether the app has more than one.
    pub(crate) fn several(&self) -> bool {
        self.all.len() > 1
    }

    pub(crate) fn all(&self) -> &[Arc<OidcClient>] {
        &self.all
    }

    pub(crate) fn named(&self, name: &str) -> Option<&Arc<OidcClient>> {
        self.all.iter().find(|p| p.name() == name)
    }

    /// The provider `user` logged in at; `None` when the app no longer
    /// has it. A user that names none is from the first (sessions from
    /// before the app had names).
    pub(crate) fn of_user(&self, user: &CivicUser) -> Option<&Arc<OidcClient>> {
        match &user.provider {
            Some(name) => self.named(name),
            None => Some(self.first()),
        }
    }

    /// The provider that checks `token`: the one its `iss` names, read
    /// without verifying it (only to pick the verifier, which then checks
    /// it all), else the first, whose verifier refuses it with the reason.
    pub(crate) fn for_token(&self, token: &str) -> &Arc<OidcClient> {
        #[derive(serde::Deserialize)]
        struct Issuer {
            iss: String,
        }
        let named = super::verifier::is_bounded(token)
            .then(|| jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token).ok())
            .flatten();
        // Issuers are compared as configured, up to a trailing slash; the
        // verifier then requires the provider's exact one.
        named
            .and_then(|Issuer { iss }| {
                let iss = iss.trim_end_matches('/');
                self.all
                    .iter()
                    .find(|p| p.provider().issuer().as_str().trim_end_matches('/') == iss)
            })
            .unwrap_or(self.first())
    }

    /// Whether the app serves tenants by host.
    pub(crate) fn has_tenants(&self) -> bool {
        !self.tenants.is_empty()
    }

    /// The provider of the tenant at `host` (as the `Host` header gives it,
    /// with or without port).
    pub(crate) fn tenant(&self, host: &str) -> Option<&Arc<OidcClient>> {
        let host = host_name(host);
        self.tenants
            .iter()
            .find(|(tenant, _)| tenant.eq_ignore_ascii_case(host))
            .map(|(_, provider)| provider)
    }

    /// Whether a request for `host` may be served by an app with tenants:
    /// a tenant's, or the host of a provider's redirect URL.
    pub(crate) fn serves_host(&self, host: &str) -> bool {
        let host = host_name(host);
        self.tenant(host).is_some()
            || self.all.iter().any(|p| {
                p.redirect_url()
                    .host_str()
                    .is_some_and(|h| h.eq_ignore_ascii_case(host))
            })
    }
}

/// The host of a `Host` header's value, without its port.
fn host_name(host: &str) -> &str {
    match host.strip_prefix('[') {
        // An IPv6 literal: `[::1]:5000`.
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_port_or_case() {
        assert_eq!(host_name("Acme.Example:5000"), "Acme.Example");
        assert_eq!(host_name("acme.example"), "acme.example");
        assert_eq!(host_name("[::1]:5000"), "::1");
    }
}
