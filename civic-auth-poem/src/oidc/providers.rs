//! `Providers`: the app's providers, each one unit (its discovery, keys,
//! client, verifier and settings, an [`OidcClient`]) that flows are handed.
//! The first is the app's own config's; most apps have only it.

use std::{borrow::Cow, sync::Arc};

use url::Url;

use super::client::OidcClient;
use crate::{config::CivicAuthConfig, user::CivicUser};

pub(crate) struct Providers {
    /// The first is the default: what a session that names none is from.
    all: Vec<Arc<OidcClient>>,
    /// A request's host (lower case, without port) and its provider.
    tenants: Vec<(String, Arc<OidcClient>)>,
    /// Other hosts the app answers at, which its redirect URLs follow.
    allowed_hosts: Vec<String>,
}

impl Providers {
    pub(crate) fn new(config: &CivicAuthConfig) -> Self {
        let all: Vec<Arc<OidcClient>> = config
            .all_providers()
            .enumerate()
            .map(|(at, provider)| Arc::new(OidcClient::new(provider, at == 0)))
            .collect();
        let tenants = config
            .tenants
            .iter()
            .filter_map(|(host, name)| {
                let provider = all.iter().find(|p| p.name() == name)?;
                Some((host.clone(), provider.clone()))
            })
            .collect();
        Self {
            all,
            tenants,
            allowed_hosts: config.allowed_hosts.clone(),
        }
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

    /// The provider a session or a login in flight names; `None` when the
    /// app no longer has it. One that names none is the first's (made
    /// before the app named its providers).
    pub(crate) fn by_name(&self, name: Option<&str>) -> Option<&Arc<OidcClient>> {
        match name {
            Some(name) => self.named(name),
            None => Some(self.first()),
        }
    }

    /// The provider `user` logged in at ([`Self::by_name`]).
    pub(crate) fn of_user(&self, user: &CivicUser) -> Option<&Arc<OidcClient>> {
        self.by_name(user.provider.as_deref())
    }

    /// The provider that checks `token`: the one its `iss` names (of
    /// several registrations at one issuer, the one whose client id the
    /// token names in `aud`, `azp` or `client_id`), read without verifying
    /// it, only to pick the verifier, which then checks it all; else the
    /// first, whose verifier refuses it with the reason.
    pub(crate) fn for_token(&self, token: &str) -> &Arc<OidcClient> {
        #[derive(serde::Deserialize)]
        struct Named {
            iss: String,
            #[serde(default)]
            aud: serde_json::Value,
            #[serde(default)]
            azp: Option<String>,
            #[serde(default)]
            client_id: Option<String>,
        }
        let named = super::verifier::is_bounded(token)
            .then(|| jsonwebtoken::dangerous::insecure_decode_claims::<Named>(token).ok())
            .flatten();
        let Some(named) = named else {
            return self.first();
        };
        // Issuers are compared as configured, up to a trailing slash; the
        // verifier then requires the provider's exact one.
        let iss = named.iss.trim_end_matches('/');
        let mut at_issuer = self
            .all
            .iter()
            .filter(|p| p.provider().issuer().as_str().trim_end_matches('/') == iss)
            .peekable();
        let first_there = at_issuer.peek().copied();
        let names = |p: &&Arc<OidcClient>| {
            let id = p.client_id();
            let in_aud = match &named.aud {
                serde_json::Value::String(aud) => aud == id,
                serde_json::Value::Array(auds) => auds.iter().any(|a| a == id),
                _ => false,
            };
            in_aud || named.azp.as_deref() == Some(id) || named.client_id.as_deref() == Some(id)
        };
        at_issuer
            .find(names)
            .or(first_there)
            .unwrap_or(self.first())
    }

    /// Whether any host is a tenant's.
    pub(crate) fn has_tenants(&self) -> bool {
        !self.tenants.is_empty()
    }

    /// Whether the app answers only at the hosts it names (tenants' or
    /// allowed ones).
    pub(crate) fn restricts_hosts(&self) -> bool {
        !self.tenants.is_empty() || !self.allowed_hosts.is_empty()
    }

    /// The provider of the tenant at `host` (as the `Host` header gives it,
    /// with or without port).
    pub(crate) fn tenant(&self, host: &str) -> Option<&Arc<OidcClient>> {
        let host = header_host(host);
        self.tenants
            .iter()
            .find(|(tenant, _)| tenant.eq_ignore_ascii_case(host))
            .map(|(_, provider)| provider)
    }

    /// Whether a request for `host` may be served by an app that names its
    /// hosts: a tenant's, an allowed one, or a provider's redirect URL's.
    pub(crate) fn serves_host(&self, host: &str) -> bool {
        let name = header_host(host);
        self.tenant(host).is_some()
            || self.follows(host)
            || self.all.iter().any(|p| {
                p.redirect_url()
                    .host_str()
                    .is_some_and(|h| header_host(h).eq_ignore_ascii_case(name))
            })
    }

    /// Whether URLs follow a request for `host` (an allowed host).
    fn follows(&self, host: &str) -> bool {
        let host = header_host(host);
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// `url` (a redirect or post-logout URL) as a request for `host` needs
    /// it: at that host and its port when it is an allowed one, else as
    /// configured.
    pub(crate) fn at_host<'u>(&self, url: &'u Url, host: Option<&str>) -> Cow<'u, Url> {
        let Some(host) = host.filter(|host| self.follows(host)) else {
            return Cow::Borrowed(url);
        };
        let Ok(there) = Url::parse(&format!("{}://{host}", url.scheme())) else {
            return Cow::Borrowed(url);
        };
        let mut followed = url.clone();
        if followed.set_host(there.host_str()).is_err() || followed.set_port(there.port()).is_err()
        {
            return Cow::Borrowed(url);
        }
        Cow::Owned(followed)
    }

    /// The origin a request for `host` was made at: `configured` (the
    /// app's), or, for an app that names its hosts, `host` itself when the
    /// app answers there, at the configured scheme.
    pub(crate) fn origin_at<'o>(&self, host: Option<&str>, configured: &'o str) -> Cow<'o, str> {
        let scheme = configured.split("://").next().unwrap_or("https");
        match host {
            Some(host) if self.restricts_hosts() && self.serves_host(host) => {
                // As browsers send it: lower case, no default port.
                match Url::parse(&format!("{scheme}://{host}")) {
                    Ok(url) => Cow::Owned(url.origin().ascii_serialization()),
                    Err(_) => Cow::Borrowed(configured),
                }
            }
            _ => Cow::Borrowed(configured),
        }
    }
}

/// The host of a `Host` header's value, without its port, brackets or a
/// trailing dot.
fn header_host(host: &str) -> &str {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal: `[::1]:5000`.
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.strip_suffix('.').unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CivicAuthConfig {
        let provider = |name: &str, issuer: &str| {
            CivicAuthConfig::builder()
                .client_id("c")
                .oauth_server(issuer)
                .redirect_url(format!("http://{name}.example/auth/callback/{name}"))
                .post_logout_redirect_url("http://app.example/")
                .build()
                .unwrap()
        };
        provider("civic", "https://civic.example/oauth")
            .with_provider("acme", provider("acme", "https://acme.example/"))
            .unwrap()
            .with_provider("globex", provider("globex", "https://globex.example/oidc"))
            .unwrap()
            .with_tenant("acme.example", "acme")
            .unwrap()
    }

    /// An unsigned token with `claims`: only its `iss` is read here.
    fn token(claims: serde_json::Value) -> String {
        use base64::Engine;
        let part = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2ln",
            part(serde_json::json!({"alg": "RS256"})),
            part(claims)
        )
    }

    #[test]
    fn a_token_goes_to_the_provider_its_issuer_names_else_the_first() {
        let providers = Providers::new(&config());
        let named = |claims| providers.for_token(&token(claims)).name().to_owned();
        assert_eq!(
            named(serde_json::json!({"iss": "https://acme.example"})),
            "acme"
        );
        assert_eq!(
            named(serde_json::json!({"iss": "https://globex.example/oidc/"})),
            "globex"
        );
        assert_eq!(
            named(serde_json::json!({"iss": "https://civic.example/oauth"})),
            "civic"
        );
        assert_eq!(
            named(serde_json::json!({"iss": "https://evil.example"})),
            "civic"
        );
        assert_eq!(named(serde_json::json!({"sub": "no issuer"})), "civic");
        assert_eq!(providers.for_token("opaque").name(), "civic");
        assert_eq!(providers.for_token(&"a".repeat(20_000)).name(), "civic");
    }

    #[test]
    fn of_two_registrations_at_one_issuer_the_one_a_token_names() {
        let second = CivicAuthConfig::builder()
            .client_id("second-client")
            .oauth_server("https://civic.example/oauth")
            .redirect_url("http://app.example/auth/callback/second")
            .post_logout_redirect_url("http://app.example/")
            .build()
            .unwrap();
        let providers = Providers::new(&config().with_provider("second", second).unwrap());
        let named = |claims| providers.for_token(&token(claims)).name().to_owned();
        let iss = "https://civic.example/oauth";
        assert_eq!(
            named(serde_json::json!({"iss": iss, "aud": "second-client"})),
            "second"
        );
        assert_eq!(
            named(serde_json::json!({"iss": iss, "aud": ["api", "second-client"]})),
            "second"
        );
        assert_eq!(
            named(serde_json::json!({"iss": iss, "aud": "api", "azp": "second-client"})),
            "second"
        );
        assert_eq!(
            named(serde_json::json!({"iss": iss, "aud": "api", "client_id": "second-client"})),
            "second"
        );
        assert_eq!(named(serde_json::json!({"iss": iss, "aud": "c"})), "civic");
        assert_eq!(
            named(serde_json::json!({"iss": iss, "aud": "someone-else"})),
            "civic"
        );
        assert_eq!(
            named(serde_json::json!({"iss": "https://acme.example", "aud": "second-client"})),
            "acme"
        );
    }

    #[test]
    fn only_the_apps_own_provider_is_asked_about_opaque_tokens_unless_told() {
        let providers = Providers::new(&config());
        let asks: Vec<bool> = providers
            .all()
            .iter()
            .map(|p| p.checks_opaque_tokens())
            .collect();
        assert_eq!(asks, [true, false, false]);
    }

    #[test]
    fn tenants_and_the_hosts_an_app_with_tenants_serves() {
        let providers = Providers::new(&config());
        assert!(providers.several() && providers.restricts_hosts());
        assert_eq!(
            providers.tenant("ACME.example:8080").map(|p| p.name()),
            Some("acme")
        );
        assert!(providers.tenant("globex.example").is_none());
        // A tenant's host, or a provider's redirect URL's.
        for host in ["acme.example", "globex.example:443", "civic.example"] {
            assert!(providers.serves_host(host), "{host}");
        }
        for host in ["evil.example", "", "acme.example.evil.example"] {
            assert!(!providers.serves_host(host), "{host}");
        }
        let user = |provider: Option<&str>| CivicUser {
            provider: provider.map(str::to_owned),
            ..CivicUser::new("u")
        };
        assert_eq!(
            providers.of_user(&user(Some("globex"))).map(|p| p.name()),
            Some("globex")
        );
        assert_eq!(
            providers.of_user(&user(None)).map(|p| p.name()),
            Some("civic")
        );
        assert!(providers.of_user(&user(Some("gone"))).is_none());
        let alone = Providers::new(&config_without_tenants());
        assert!(!alone.several() && !alone.restricts_hosts());
    }

    #[test]
    fn urls_follow_only_allowed_hosts_and_origins_only_served_ones() {
        let config = config().with_allowed_hosts(["www.civic.example"]).unwrap();
        let providers = Providers::new(&config);
        let url = Url::parse("https://civic.example:8443/auth/callback").unwrap();
        let at = |host| providers.at_host(&url, host).into_owned().to_string();
        assert_eq!(
            at(Some("WWW.civic.example:9000")),
            "https://www.civic.example:9000/auth/callback"
        );
        assert_eq!(
            at(Some("www.civic.example")),
            "https://www.civic.example/auth/callback"
        );
        for host in [
            None,
            Some("evil.example"),
            Some("acme.example"),
            Some("civic.example:1"),
        ] {
            assert_eq!(at(host), url.as_str(), "{host:?}");
        }
        let configured = "https://civic.example";
        let origin = |host| providers.origin_at(host, configured).into_owned();
        assert_eq!(
            origin(Some("www.civic.example:9000")),
            "https://www.civic.example:9000"
        );
        assert_eq!(origin(Some("Acme.example")), "https://acme.example");
        assert_eq!(origin(Some("evil.example")), configured);
        assert_eq!(
            origin(Some("www.civic.example:443")),
            "https://www.civic.example"
        );
        assert_eq!(origin(None), configured);
        // An app that names no hosts keeps its configured origin.
        let open = Providers::new(&config_without_tenants());
        assert_eq!(
            open.origin_at(Some("elsewhere.example"), configured),
            configured
        );
    }

    fn config_without_tenants() -> CivicAuthConfig {
        CivicAuthConfig::builder()
            .client_id("c")
            .redirect_url("http://app.example/auth/callback")
            .post_logout_redirect_url("http://app.example/")
            .build()
            .unwrap()
    }

    #[test]
    fn hosts_are_compared_without_port_or_case() {
        assert_eq!(header_host("Acme.Example:5000"), "Acme.Example");
        assert_eq!(header_host("acme.example"), "acme.example");
        assert_eq!(header_host("acme.example.:80"), "acme.example");
        assert_eq!(header_host("[::1]:5000"), "::1");
        assert_eq!(header_host("[::1]"), "::1");
    }
}
