//! `CivicAuth`: the value an app builds once and mounts with `.with(auth)`.
//! It composes every part (the provider client, sessions, transactions,
//! bearer tokens, the cookie writer) and hands each flow the parts it needs.

use std::sync::Arc;

use poem::Request;
use url::Url;

use super::paths;
use crate::{
    config::{CivicAuthConfig, ResponseMode},
    cookie::secret::SessionSecret,
    cookie::{sealer::CookieSealer, writer::CookieWriter, CookieNames},
    error::Error,
    flow::{
        self,
        backchannel::Backchannel,
        bearer::BearerTokens,
        callback::Callback,
        logout::Logout,
        silent::SilentLogin,
        spent::Spent,
        transaction::{LoginCookies, Transactions},
    },
    oidc::{api::ApiNonces, client::OidcClient, providers::Providers},
    session::{sessions::Sessions, SessionStore},
};

/// Civic Auth for one app: its config, the provider's cached metadata and
/// keys, and the session keys. Cheap to clone.
///
/// Mount it with `.with(auth)` and serve the auth routes with
/// [`CivicAuthEndpoint`](crate::CivicAuthEndpoint):
///
/// ```
/// use civic_auth_poem::{CivicAuth, CivicAuthConfig, CivicAuthEndpoint, SessionSecret};
/// use poem::{get, handler, EndpointExt, Route};
///
/// #[handler]
/// fn index() -> &'static str { "hi" }
///
/// let config = CivicAuthConfig::builder()
///     .client_id("my-client-id")
///     .redirect_url("http://localhost:5000/auth/callback")
///     .post_logout_redirect_url("http://localhost:5000/")
///     .build()?;
/// let auth = CivicAuth::new(config, SessionSecret::generate());
/// let app = Route::new()
///     .at("/", get(index))
///     .nest("/auth", CivicAuthEndpoint::new(&auth))
///     .with(auth);
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Clone)]
pub struct CivicAuth {
    pub(crate) parts: Arc<Parts>,
}

/// Everything one app's Civic Auth is made of.
pub(crate) struct Parts {
    pub(crate) config: CivicAuthConfig,
    pub(crate) providers: Arc<Providers>,
    pub(crate) sessions: Sessions,
    pub(crate) transactions: Transactions,
    pub(crate) spent: Spent,
    pub(crate) bearer: BearerTokens,
    pub(crate) writer: CookieWriter,
    /// When on: silent logins of anonymous browsers.
    pub(crate) silent: Option<SilentLogin>,
    /// The app's origin, as its pages send it in `Origin`.
    pub(crate) origin: String,
    /// What calls to APIs with a user's token remember.
    pub(crate) apis: ApiNonces,
}

impl CivicAuth {
    /// Sets up Civic Auth with sessions in encrypted cookies. The provider is
    /// not called yet: its discovery document is fetched at the first login,
    /// so the app starts (and logged-in users keep working) while it is down.
    pub fn new(config: CivicAuthConfig, secret: SessionSecret) -> Self {
        Self::build(config, secret, None)
    }

    /// Sets up Civic Auth with sessions in `store` (in memory, or Redis to
    /// share them between machines); the cookie then carries only a sealed,
    /// random session id.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use civic_auth_poem::{session::MemoryStore, CivicAuth, CivicAuthConfig, SessionSecret};
    ///
    /// # let config = CivicAuthConfig::builder().client_id("id")
    /// #     .redirect_url("http://localhost:5000/auth/callback")
    /// #     .post_logout_redirect_url("http://localhost:5000/").build()?;
    /// let auth = CivicAuth::with_session_store(config, SessionSecret::generate(), Arc::new(MemoryStore::default()));
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn with_session_store(
        config: CivicAuthConfig,
        secret: SessionSecret,
        store: Arc<dyn SessionStore>,
    ) -> Self {
        Self::build(config, secret, Some(store))
    }

    /// Everything from the environment, as the examples do: the config
    /// ([`CivicAuthConfig::from_env`]), the secret
    /// ([`SessionSecret::from_env_or_random`]) and the store
    /// ([`store_from_env`](crate::session::store_from_env)); then
    /// [`check_provider`](Self::check_provider), so a provider that cannot
    /// serve this client fails the start. A provider that cannot be reached
    /// is only warned of: the app starts, and logins wait for it.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), civic_auth_poem::Error> {
    /// let auth = civic_auth_poem::CivicAuth::from_env().await?;
    /// # let _ = auth; Ok(()) }
    /// ```
    pub async fn from_env() -> Result<Self, Error> {
        let config = CivicAuthConfig::from_env()?;
        let secret = SessionSecret::from_env_or_random()?;
        let store = crate::session::store_from_env().await?;
        let auth = Self::build(config, secret, store);
        match auth.check_provider().await {
            Err(error @ Error::ProviderUnavailable { .. }) => {
                tracing::warn!(%error, "the provider was not checked at start-up");
            }
            checked => checked?,
        }
        Ok(auth)
    }

    /// Reads the provider's discovery document and checks that it can
    /// serve this client as configured: it takes a client authentication
    /// method the app's credentials allow, and offers what the settings
    /// require (pushed requests, DPoP, `form_post`, the FAPI 2.0 profile's
    /// `iss` and algorithms). Apps call it at start-up to fail there rather
    /// than at the first login, where the same check runs.
    ///
    /// # Errors
    ///
    /// [`Error::ProviderUnavailable`] when the provider cannot be reached,
    /// [`Error::ClientAuthUnsupported`] naming what the provider and the app
    /// each offer, [`Error::ProviderLacks`] naming everything it lacks, or
    /// an error of the discovery document itself.
    ///
    /// ```no_run
    /// # async fn run(auth: civic_auth_poem::CivicAuth) -> Result<(), civic_auth_poem::Error> {
    /// auth.check_provider().await?;
    /// # Ok(()) }
    /// ```
    pub async fn check_provider(&self) -> Result<(), Error> {
        for client in self.parts.providers.all() {
            let metadata = client.provider().metadata().await?;
            client.check_for_logins(&metadata)?;
        }
        Ok(())
    }

    fn build(
        config: CivicAuthConfig,
        secret: SessionSecret,
        store: Option<Arc<dyn SessionStore>>,
    ) -> Self {
        let sealer = CookieSealer::new(&secret);
        let clock = config.clock.clone();
        let providers = Arc::new(Providers::new(&config));
        let names = CookieNames::of(&config);
        let path = config.cookie_path();
        Self {
            parts: Arc::new(Parts {
                spent: Spent::new(clock.clone(), store.as_ref()),
                sessions: Sessions::new(&config, sealer.clone(), store, providers.clone()),
                transactions: Transactions::new(
                    sealer.clone(),
                    clock.clone(),
                    names,
                    match config.response_mode {
                        ResponseMode::Query => LoginCookies::redirected(names, path),
                        ResponseMode::FormPost => LoginCookies::posted(
                            names,
                            config.login_path.as_str(),
                            config.all_providers().map(|p| p.redirect_url.path()),
                        ),
                    },
                    path,
                ),
                bearer: BearerTokens::new(
                    config.bearer_cache_ttl,
                    config.allow_unbound_opaque_tokens,
                    clock,
                ),
                writer: CookieWriter::new(sealer, names, config.secure_cookies(), path),
                silent: config.silent_login.map(|interval| {
                    SilentLogin::new(interval, names, auth_route_paths(&config), path)
                }),
                origin: config.redirect_url.origin().ascii_serialization(),
                apis: ApiNonces::default(),
                providers,
                config,
            }),
        }
    }

    /// The config this was built with.
    pub fn config(&self) -> &CivicAuthConfig {
        &self.parts.config
    }
}

/// Where a login goes.
pub(crate) enum LoginAt<'a> {
    /// To this provider, its answer back at this URL.
    Provider(&'a Arc<OidcClient>, Url),
    /// The app has several providers and the request named none: the
    /// browser chooses.
    Choice,
}

impl Parts {
    /// The provider a login from `req` goes to: its host's tenant's, the
    /// one it `asked` for, or the app's only one.
    pub(crate) fn login_at<'a>(
        &'a self,
        req: &Request,
        asked: Option<&str>,
    ) -> Result<LoginAt<'a>, Error> {
        let providers = &*self.providers;
        let unknown = |name: &str| Error::UnknownProvider(name.to_owned());
        let at = |client: &'a Arc<OidcClient>| {
            let back = providers.at_host(client.redirect_url(), flow::request_host(req));
            LoginAt::Provider(client, back.into_owned())
        };
        if let Some(tenant) = self.tenant(req) {
            return match asked {
                Some(name) if name != tenant.name() => {
                    Err(Error::TenantLogin(tenant.name().to_owned()))
                }
                _ => Ok(at(tenant)),
            };
        }
        match asked {
            Some(name) => providers.named(name).map(at).ok_or_else(|| unknown(name)),
            None if providers.several() => Ok(LoginAt::Choice),
            None => Ok(at(providers.first())),
        }
    }

    /// The provider of the tenant at the host `req` is for, if it has one.
    pub(crate) fn tenant(&self, req: &Request) -> Option<&Arc<OidcClient>> {
        // Most apps have none: then no request's host is read.
        if !self.providers.has_tenants() {
            return None;
        }
        flow::request_host(req).and_then(|host| self.providers.tenant(host))
    }

    pub(crate) fn callback(&self) -> Callback<'_> {
        Callback {
            providers: &self.providers,
            transactions: &self.transactions,
            spent: &self.spent,
            sessions: &self.sessions,
            landing: &self.config.login_success_path,
            clock: &self.config.clock,
            hooks: &self.config.hooks,
            response_mode: self.config.response_mode,
        }
    }

    pub(crate) fn logout(&self) -> Logout<'_> {
        Logout {
            providers: &self.providers,
            sessions: &self.sessions,
            transactions: &self.transactions,
            post_logout_redirect_url: &self.config.post_logout_redirect_url,
            landing: &self.config.login_success_path,
            origin: &self.origin,
            silent: self.silent.as_ref(),
            hooks: &self.config.hooks,
        }
    }

    pub(crate) fn backchannel(&self) -> Backchannel<'_> {
        Backchannel {
            providers: &self.providers,
            sessions: &self.sessions,
            spent: &self.spent,
            hooks: &self.config.hooks,
        }
    }
}

impl std::fmt::Debug for CivicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CivicAuth")
            .field("client_id", &self.parts.config.client_id)
            .field("oauth_server", &self.parts.config.oauth_server.as_str())
            .finish_non_exhaustive()
    }
}

/// The auth routes' paths as browsers ask for them: the route table's, in
/// the folder of `login_path` (where the routes are nested), and the
/// redirect URL's.
fn auth_route_paths(config: &CivicAuthConfig) -> Vec<String> {
    let login = config.login_path.as_str();
    let folder = &login[..login.rfind('/').unwrap_or(0)];
    paths::ALL
        .iter()
        .map(|path| format!("{folder}{path}"))
        .chain(
            config
                .all_providers()
                .map(|p| p.redirect_url.path().to_owned()),
        )
        .chain([login.to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_routes_are_found_where_they_are_nested() {
        let config = |login: &str, redirect: &str| {
            CivicAuthConfig::builder()
                .client_id("c")
                .redirect_url(redirect)
                .post_logout_redirect_url("http://localhost:5000/")
                .login_path(login)
                .build()
                .unwrap()
        };
        let nested = auth_route_paths(&config(
            "/auth/login",
            "http://localhost:5000/auth/callback",
        ));
        for path in [
            "/auth/login",
            "/auth/callback",
            "/auth/logoutcallback",
            "/auth/user",
        ] {
            assert!(nested.iter().any(|p| p == path), "{path} in {nested:?}");
        }
        let root = auth_route_paths(&config("/login", "http://localhost:5000/oidc/back"));
        for path in ["/login", "/callback", "/logoutcallback", "/oidc/back"] {
            assert!(root.iter().any(|p| p == path), "{path} in {root:?}");
        }
        assert!(!root.iter().any(|p| p == "/"));
    }
}
