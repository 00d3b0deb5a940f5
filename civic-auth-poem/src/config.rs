//! What an app tells the library: who it is at the provider and where users go.

use std::time::Duration;

use url::Url;

use std::future::Future;

use serde::Serialize;

use crate::{
    clock::Clock,
    credentials::{key::ClientKey, method::ClientAuthMethod, ClientCredentials, ClientSecret},
    error::Error,
    hooks::{Hooks, Login, LoginRefusal, Logout},
    local_path::{self, LocalPath},
    resource::Resource,
};

/// Civic's production auth server, used when `oauth_server` is not set.
pub const DEFAULT_OAUTH_SERVER: &str = "https://auth.civic.com/oauth";
/// The scopes asked for when `scopes` is not set.
pub const DEFAULT_SCOPES: &str = "openid email profile offline_access";
/// The name of an app's provider when it does not choose one.
pub const DEFAULT_PROVIDER_NAME: &str = "civic";

/// The validated configuration of Civic Auth for one app.
///
/// Build it with [`CivicAuthConfig::builder`] or read it from the environment
/// with [`CivicAuthConfig::from_env`]; both check every field at start-up.
///
/// ```
/// use civic_auth_poem::CivicAuthConfig;
///
/// let config = CivicAuthConfig::builder()
///     .client_id("my-client-id")
///     .redirect_url("http://localhost:5000/auth/callback")
///     .post_logout_redirect_url("http://localhost:5000/")
///     .build()
///     .unwrap();
/// assert_eq!(config.oauth_server().as_str(), "https://auth.civic.com/oauth");
/// ```
#[derive(Debug, Clone)]
pub struct CivicAuthConfig {
    pub(crate) client_id: String,
    /// How the app proves it is the client; none for a public client.
    pub(crate) credentials: ClientCredentials,
    pub(crate) redirect_url: Url,
    pub(crate) post_logout_redirect_url: Url,
    pub(crate) oauth_server: Url,
    pub(crate) scopes: Vec<String>,
    /// `scopes` are [`DEFAULT_SCOPES`], not the app's choice: a login asks
    /// only for those the provider offers.
    pub(crate) default_scopes: bool,
    pub(crate) login_success_path: LocalPath,
    pub(crate) login_path: LocalPath,
    /// Where the app is mounted: `/`, or a path such as `/app`.
    pub(crate) base_path: LocalPath,
    pub(crate) session_duration: Duration,
    pub(crate) session_idle_timeout: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) jwks_refresh_interval: Duration,
    pub(crate) provider_check_interval: Duration,
    pub(crate) bearer_cache_ttl: Duration,
    pub(crate) session_cache_ttl: Duration,
    pub(crate) clock: Clock,
    pub(crate) userinfo_at_login: bool,
    pub(crate) allow_unbound_opaque_tokens: bool,
    /// API clients' opaque tokens are asked of this provider; unset: only
    /// of the app's first.
    pub(crate) introspect_opaque_tokens: Option<bool>,
    pub(crate) pushed_authorization: PushedAuthorization,
    pub(crate) response_mode: ResponseMode,
    pub(crate) profile: SecurityProfile,
    /// How long a browser is left alone after a silent login; `None`: off.
    pub(crate) silent_login: Option<Duration>,
    pub(crate) dpop: bool,
    /// The APIs a login asks tokens for (RFC 8707).
    pub(crate) resources: Vec<Resource>,
    pub(crate) hooks: Hooks,
    /// This provider's name, in `/auth/login?provider=`, sessions and
    /// [`CivicUser::provider`](crate::CivicUser::provider).
    pub(crate) provider_name: String,
    /// The app's other providers ([`with_provider`](Self::with_provider)).
    pub(crate) providers: Vec<CivicAuthConfig>,
    /// Tenants: a request's host, lower case and without port, and the
    /// name of the provider that serves it.
    pub(crate) tenants: Vec<(String, String)>,
    /// Other hosts the app answers at, lower case and without port: its
    /// redirect URLs follow a request for one of them.
    pub(crate) allowed_hosts: Vec<String>,
    /// The settings about the whole app this config's builder was given:
    /// an added provider's config may set none of them.
    app_settings: Vec<&'static str>,
}

/// Whether a login first pushes its request to the provider (RFC 9126,
/// pushed authorization requests): the browser then carries only
/// `client_id` and a `request_uri`, so nothing of the request can be read
/// or changed on its way through the browser.
///
/// ```
/// use civic_auth_poem::{CivicAuthConfig, PushedAuthorization};
///
/// assert_eq!("required".parse::<PushedAuthorization>().unwrap(), PushedAuthorization::Required);
/// let config = CivicAuthConfig::builder()
///     .client_id("my-client-id")
///     .redirect_url("http://localhost:5000/auth/callback")
///     .post_logout_redirect_url("http://localhost:5000/")
///     .pushed_authorization(PushedAuthorization::Off)
///     .build()
///     .unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PushedAuthorization {
    /// When the provider's discovery document advertises a
    /// `pushed_authorization_request_endpoint` (the default).
    #[default]
    Auto,
    /// Never: the whole request travels in the browser's URL.
    Off,
    /// Always: a provider without the endpoint is an error at login.
    Required,
}

impl std::str::FromStr for PushedAuthorization {
    type Err = Error;

    /// `auto`, `off` or `required`, as `CIVIC_PAR` takes them.
    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            "required" => Ok(Self::Required),
            _ => Err(Error::InvalidConfig {
                field: "pushed_authorization",
                value: value.to_owned(),
                reason: "it is `auto`, `off` or `required` (CIVIC_PAR)".into(),
            }),
        }
    }
}

/// A security profile: what a standard asks of a client, in one setting.
///
/// ```
/// use civic_auth_poem::{CivicAuthConfig, ClientKey, SecurityProfile};
///
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/keys/ec-a.pem")).unwrap();
/// assert_eq!("fapi2".parse::<SecurityProfile>()?, SecurityProfile::Fapi2);
/// let config = CivicAuthConfig::builder()
///     .client_id("my-client-id")
///     .client_key(ClientKey::from_pem(&pem)?)
///     .redirect_url("https://app.example/auth/callback")
///     .post_logout_redirect_url("https://app.example/")
///     .profile(SecurityProfile::Fapi2)
///     .build()?;
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityProfile {
    /// The library's defaults, each setting as the app chose it.
    #[default]
    Default,
    /// The FAPI 2.0 Security Profile: pushed authorization requests,
    /// PKCE S256, DPoP-bound tokens (with the provider's nonces),
    /// `private_key_jwt` with the app's [`ClientKey`], `iss` required in
    /// every authorization response, and only PS256, ES256 or EdDSA
    /// signatures on ID tokens and client assertions. A setting that
    /// contradicts it is a start-up error, and so is a provider that does
    /// not offer all of it ([`CivicAuth::check_provider`](crate::CivicAuth::check_provider)).
    Fapi2,
}

impl SecurityProfile {
    /// The only signature algorithms the profile allows, if it limits them.
    pub(crate) fn signing_algorithms(self) -> Option<&'static [jsonwebtoken::Algorithm]> {
        use jsonwebtoken::Algorithm::{EdDSA, ES256, PS256};
        match self {
            Self::Default => None,
            Self::Fapi2 => Some(&[PS256, ES256, EdDSA]),
        }
    }
}

impl std::str::FromStr for SecurityProfile {
    type Err = Error;

    /// `default` or `fapi2`, as `CIVIC_PROFILE` takes them.
    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "default" => Ok(Self::Default),
            "fapi2" | "fapi-2.0" | "fapi2.0" => Ok(Self::Fapi2),
            _ => Err(Error::InvalidConfig {
                field: "profile",
                value: value.to_owned(),
                reason: "it is `default` or `fapi2` (CIVIC_PROFILE)".into(),
            }),
        }
    }
}

/// How the provider hands a login's answer back to `/auth/callback`.
///
/// ```
/// use civic_auth_poem::{CivicAuthConfig, ResponseMode};
///
/// assert_eq!("form_post".parse::<ResponseMode>()?, ResponseMode::FormPost);
/// let config = CivicAuthConfig::builder()
///     .client_id("my-client-id")
///     .redirect_url("https://app.example/auth/callback")
///     .post_logout_redirect_url("https://app.example/")
///     .response_mode(ResponseMode::FormPost)
///     .build()?;
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the query of a redirect (the default).
    #[default]
    Query,
    /// In a form the browser posts (OAuth 2.0 Form Post Response Mode): the
    /// code stays out of URLs, history and `Referer`. The login cookie must
    /// then go with a post from the provider's site, so it is
    /// `SameSite=None` and `Secure`, kept only at the auth routes' path; an
    /// app served over plain http must be on a loopback host, where
    /// browsers keep `Secure` cookies.
    FormPost,
}

impl ResponseMode {
    /// How an answer comes this way, in words.
    pub(crate) fn described(self) -> &'static str {
        match self {
            Self::Query => "in the URL",
            Self::FormPost => "as a posted form",
        }
    }

    /// Its name in `response_mode` and `response_modes_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }
}

impl std::str::FromStr for ResponseMode {
    type Err = Error;

    /// `query` or `form_post`, as `CIVIC_RESPONSE_MODE` takes them.
    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "query" => Ok(Self::Query),
            "form_post" => Ok(Self::FormPost),
            _ => Err(Error::InvalidConfig {
                field: "response_mode",
                value: value.to_owned(),
                reason: "it is `query` or `form_post` (CIVIC_RESPONSE_MODE)".into(),
            }),
        }
    }
}

impl CivicAuthConfig {
    /// Starts a builder; `client_id`, `redirect_url` and
    /// `post_logout_redirect_url` are required.
    pub fn builder() -> CivicAuthConfigBuilder {
        CivicAuthConfigBuilder::default()
    }

    /// Reads `CIVIC_CLIENT_ID`, `CIVIC_REDIRECT_URL`,
    /// `CIVIC_POST_LOGOUT_REDIRECT_URL`, and the optional `CIVIC_OAUTH_SERVER`,
    /// `CIVIC_SCOPES` (space-separated), `CIVIC_CLIENT_SECRET`,
    /// `CIVIC_CLIENT_KEY` (the path of a PEM private key: [`ClientKey`]),
    /// `CIVIC_CLIENT_AUTH_METHOD` ([`ClientAuthMethod`]),
    /// `CIVIC_RESPONSE_MODE` ([`ResponseMode`]), `CIVIC_PROFILE`
    /// ([`SecurityProfile`]), `CIVIC_PAR`
    /// (`auto`, `off` or `required`: [`PushedAuthorization`]),
    /// `CIVIC_DPOP` (`1`: DPoP), `CIVIC_BASE_PATH` and `CIVIC_RESOURCES`
    /// ([`resource`](CivicAuthConfigBuilder::resource)).
    ///
    /// ```no_run
    /// let config = civic_auth_poem::CivicAuthConfig::from_env()?;
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut builder = Self::builder();
        if let Some(v) = var("CIVIC_CLIENT_ID") {
            builder = builder.client_id(v);
        }
        if let Some(v) = var("CIVIC_REDIRECT_URL") {
            builder = builder.redirect_url(v);
        }
        if let Some(v) = var("CIVIC_POST_LOGOUT_REDIRECT_URL") {
            builder = builder.post_logout_redirect_url(v);
        }
        if let Some(v) = var("CIVIC_OAUTH_SERVER") {
            builder = builder.oauth_server(v);
        }
        if let Some(v) = var("CIVIC_SCOPES") {
            builder = builder.scopes(v.split_whitespace());
        }
        if let Some(v) = var("CIVIC_CLIENT_SECRET") {
            builder = builder.client_secret(v);
        }
        if let Some(v) = var("CIVIC_CLIENT_KEY") {
            builder = builder.client_key(ClientKey::from_pem_file(v.trim())?);
        }
        if let Some(v) = var("CIVIC_CLIENT_AUTH_METHOD") {
            builder = builder.client_auth_method(v.parse()?);
        }
        if let Some(v) = var("CIVIC_PROFILE") {
            builder = builder.profile(v.parse()?);
        }
        if let Some(v) = var("CIVIC_RESPONSE_MODE") {
            builder = builder.response_mode(v.parse()?);
        }
        if let Some(v) = var("CIVIC_PAR") {
            builder = builder.pushed_authorization(v.parse()?);
        }
        if let Some(v) = var("CIVIC_DPOP") {
            builder = builder.dpop(flag("dpop", "CIVIC_DPOP", &v)?);
        }
        if let Some(v) = var("CIVIC_BASE_PATH") {
            builder = builder.base_path(v.trim());
        }
        if let Some(v) = var("CIVIC_RESOURCES") {
            for (indicator, scopes) in Resource::parse_list(&v) {
                builder = builder.resource(indicator, scopes);
            }
        }
        builder.build()
    }

    /// The app's client id at the provider.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where the provider sends the browser back after login.
    pub fn redirect_url(&self) -> &Url {
        &self.redirect_url
    }

    /// Where the browser lands after logging out at the provider.
    pub fn post_logout_redirect_url(&self) -> &Url {
        &self.post_logout_redirect_url
    }

    /// The provider's issuer URL, whose discovery document is read.
    pub fn oauth_server(&self) -> &Url {
        &self.oauth_server
    }

    /// The scopes asked for at login.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// This provider's name ([`CivicAuthConfigBuilder::provider_name`]).
    pub fn provider_name(&self) -> &str {
        &self.provider_name
    }

    /// Adds another provider the app's users can log in with, named
    /// `name`, with its own client, discovery, keys, scopes and settings.
    /// `provider` sets only what is about its provider: the app's settings
    /// (sessions, paths, hooks, the clock, the response mode, silent
    /// login) are this config's, and setting one there is an error. Its
    /// `redirect_url` must have a path of its own (none may end another's),
    /// so that an answer that
    /// comes back at one provider's URL cannot finish a login started at
    /// another (the mix-up attack); [`CivicAuthEndpoint`](crate::CivicAuthEndpoint)
    /// serves `/callback/NAME` for that.
    ///
    /// ```
    /// use civic_auth_poem::CivicAuthConfig;
    ///
    /// let partner = CivicAuthConfig::builder()
    ///     .client_id("our-id-at-the-partner")
    ///     .oauth_server("https://id.partner.example")
    ///     .redirect_url("http://localhost:5000/auth/callback/partner")
    ///     .post_logout_redirect_url("http://localhost:5000/")
    ///     .build()?;
    /// let config = CivicAuthConfig::builder()
    ///     .client_id("my-client-id")
    ///     .redirect_url("http://localhost:5000/auth/callback")
    ///     .post_logout_redirect_url("http://localhost:5000/")
    ///     .build()?
    ///     .with_provider("partner", partner)?;
    /// assert_eq!(config.provider_names().collect::<Vec<_>>(), ["civic", "partner"]);
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a name that is not valid or taken, an
    /// app setting on `provider`, or a redirect URL path that another
    /// provider has.
    pub fn with_provider(
        mut self,
        name: &str,
        mut provider: CivicAuthConfig,
    ) -> Result<Self, Error> {
        let name = provider_name(Some(name))?;
        let invalid = |field, value: String, reason: String| Error::InvalidConfig {
            field,
            value,
            reason,
        };
        if self.provider_names().any(|taken| taken == name) {
            return Err(invalid(
                "provider_name",
                name,
                "another provider of the app has this name".into(),
            ));
        }
        if let Some(setting) = provider.app_settings.first() {
            return Err(invalid(
                setting,
                name.clone(),
                format!("`{setting}` is a setting of the whole app: set it on the app's config, not on provider `{name}`'s"),
            ));
        }
        if !provider.providers.is_empty()
            || !provider.tenants.is_empty()
            || !provider.allowed_hosts.is_empty()
        {
            return Err(invalid(
                "providers",
                name,
                "an added provider cannot have providers, tenants or hosts of its own: add them to the app's config".into(),
            ));
        }
        if ![DEFAULT_PROVIDER_NAME, name.as_str()].contains(&provider.provider_name.as_str()) {
            return Err(invalid(
                "provider_name",
                provider.provider_name.clone(),
                format!("the provider is added as `{name}`: the name given to `with_provider` is its name"),
            ));
        }
        // The callback knows a provider by the end of the path it is reached
        // at, so no path may end another's.
        let path = provider.redirect_url.path();
        let ends = |a: &str, b: &str| a.ends_with(b) || b.ends_with(a);
        if let Some(other) = self
            .all_providers()
            .find(|p| ends(p.redirect_url.path(), path))
        {
            return Err(invalid(
                "redirect_url",
                provider.redirect_url.to_string(),
                format!("provider `{}` comes back to the same path, or one that ends the same way: each provider's answers must come back to a URL of its own, so that one cannot finish a login started at another", other.provider_name),
            ));
        }
        answers_below(
            &self.base_path,
            &provider.redirect_url,
            &format!("provider `{name}`'s"),
        )?;
        if self.response_mode == ResponseMode::FormPost
            && !https_or_loopback(&provider.redirect_url)
        {
            return Err(invalid(
                "redirect_url",
                provider.redirect_url.to_string(),
                "a form-posted answer needs an https app or a loopback host".into(),
            ));
        }
        provider.provider_name = name;
        provider.clock = self.clock.clone();
        provider.response_mode = self.response_mode;
        self.providers.push(provider);
        Ok(self)
    }

    /// Serves requests for `host` (a host name, without port; any case)
    /// with the provider named `provider` alone: its logins, and only its
    /// users' sessions (a session of another provider is not logged in
    /// there). Once an app has tenants, a request for any other host than
    /// theirs and its providers' redirect URLs' is refused with 400 before
    /// anything reads it.
    ///
    /// ```
    /// # use civic_auth_poem::CivicAuthConfig;
    /// # let partner = CivicAuthConfig::builder().client_id("p")
    /// #     .redirect_url("http://partner.localhost:5000/auth/callback/partner")
    /// #     .post_logout_redirect_url("http://partner.localhost:5000/").build()?;
    /// let config = CivicAuthConfig::builder()
    ///     .client_id("my-client-id")
    ///     .redirect_url("http://localhost:5000/auth/callback")
    ///     .post_logout_redirect_url("http://localhost:5000/")
    ///     .build()?
    ///     .with_provider("partner", partner)?
    ///     .with_tenant("partner.localhost", "partner")?;
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when no provider has that name or the host
    /// has a tenant already.
    pub fn with_tenant(mut self, host: &str, provider: &str) -> Result<Self, Error> {
        let host = host_name(host, "tenant")?;
        let invalid = |field, value: &str, reason: &str| Error::InvalidConfig {
            field,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(served_by) = self.all_providers().find(|p| p.provider_name == provider) else {
            return Err(invalid(
                "tenant",
                provider,
                "no provider of the app has this name",
            ));
        };
        // Its logins must come back to the host their cookie is at.
        let back_at = served_by.redirect_url.host_str().unwrap_or_default();
        if back_at != host && !self.allowed_hosts.contains(&host) {
            return Err(invalid(
                "tenant",
                &host,
                &format!("provider `{provider}` sends its answers to `{back_at}`, so a login at this host would not come back to it: set the provider's `redirect_url` at this host, or list the host with `with_allowed_hosts` first"),
            ));
        }
        if self.tenants.iter().any(|(taken, _)| *taken == host) {
            return Err(invalid("tenant", &host, "this host has a tenant already"));
        }
        self.tenants.push((host, provider.to_owned()));
        Ok(self)
    }

    /// Lets the app answer at `hosts` too (host names, without port; any
    /// case), one app behind several names: a login from a request for one
    /// of them sends the provider that host in its redirect URL (and the
    /// post-logout URL), with the port the request names and the configured
    /// scheme and path, so the
    /// browser comes back where it was. Each URL must be registered at the
    /// provider. Any other host than these, the tenants' and the
    /// providers' redirect URLs' is then refused with 400 before anything
    /// reads the request: a forged `Host` cannot steer a login elsewhere.
    ///
    /// ```
    /// # use civic_auth_poem::CivicAuthConfig;
    /// let config = CivicAuthConfig::builder()
    ///     .client_id("my-client-id")
    ///     .redirect_url("https://app.example/auth/callback")
    ///     .post_logout_redirect_url("https://app.example/")
    ///     .build()?
    ///     .with_allowed_hosts(["www.app.example", "app.example.com"])?;
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a value that is not a host name.
    pub fn with_allowed_hosts<H: AsRef<str>>(
        mut self,
        hosts: impl IntoIterator<Item = H>,
    ) -> Result<Self, Error> {
        for host in hosts {
            let host = host_name(host.as_ref(), "allowed_hosts")?;
            if !self.allowed_hosts.contains(&host) {
                self.allowed_hosts.push(host);
            }
        }
        Ok(self)
    }

    /// The names of the app's providers, this config's first.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.all_providers().map(|p| p.provider_name.as_str())
    }

    /// This config's provider and the added ones.
    pub(crate) fn all_providers(&self) -> impl Iterator<Item = &CivicAuthConfig> {
        std::iter::once(self).chain(&self.providers)
    }

    /// Cookies are `Secure` when the app itself is served over https.
    pub(crate) fn secure_cookies(&self) -> bool {
        self.redirect_url.scheme() == "https"
    }

    /// Where the app's cookies live: its base path.
    pub(crate) fn cookie_path(&self) -> &str {
        self.base_path.as_str()
    }

    /// `return_to` as a login may come back to it: a path of this app,
    /// within its base path.
    /// A path with a `.` or `..` segment (encoded or not) is refused: a
    /// browser resolves it, maybe out of the base path.
    pub(crate) fn return_to(&self, return_to: &str) -> Option<LocalPath> {
        let path = return_to.split(['?', '#']).next().unwrap_or_default();
        let dotted = path.split('/').any(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            matches!(decoded.as_ref(), "." | "..")
        });
        if dotted {
            return None;
        }
        LocalPath::parse(return_to).filter(|path| self.base_path.contains(path.as_str()))
    }
}

/// A host name as requests name it: lower case, international names in
/// their ASCII form, without a trailing dot; no scheme, port or path.
fn host_name(host: &str, field: &'static str) -> Result<String, Error> {
    let invalid = || Error::InvalidConfig {
        field,
        value: host.to_owned(),
        reason: "a host name without scheme, port or path".into(),
    };
    let host = host.trim();
    if host.is_empty() || host.contains(['/', '@', '?', '#', ':', ' ']) {
        return Err(invalid());
    }
    let url = Url::parse(&format!("http://{host}/")).map_err(|_| invalid())?;
    let name = url.host_str().ok_or_else(invalid)?;
    Ok(name.trim_end_matches('.').to_owned())
}

/// A provider's name, checked: `name`, or the default.
fn provider_name(name: Option<&str>) -> Result<String, Error> {
    let name = name.unwrap_or(DEFAULT_PROVIDER_NAME).trim();
    let fits = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !fits {
        return Err(Error::InvalidConfig {
            field: "provider_name",
            value: name.to_owned(),
            reason: "1 to 32 letters, digits, `-` or `_`".into(),
        });
    }
    Ok(name.to_owned())
}

/// Builds a [`CivicAuthConfig`]; see there for an example.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CivicAuthConfigBuilder {
    client_id: Option<String>,
    credentials: ClientCredentials,
    redirect_url: Option<String>,
    post_logout_redirect_url: Option<String>,
    oauth_server: Option<String>,
    scopes: Option<Vec<String>>,
    login_success_path: Option<String>,
    login_path: Option<String>,
    base_path: Option<String>,
    session_duration: Option<Duration>,
    session_idle_timeout: Option<Duration>,
    http_timeout: Option<Duration>,
    jwks_refresh_interval: Option<Duration>,
    provider_check_interval: Option<Duration>,
    bearer_cache_ttl: Option<Duration>,
    session_cache_ttl: Option<Duration>,
    clock: Option<Clock>,
    userinfo_at_login: Option<bool>,
    allow_unbound_opaque_tokens: Option<bool>,
    introspect_opaque_tokens: Option<bool>,
    pushed_authorization: Option<PushedAuthorization>,
    response_mode: Option<ResponseMode>,
    profile: SecurityProfile,
    silent_login: Option<bool>,
    silent_login_interval: Option<Duration>,
    dpop: Option<bool>,
    resources: Vec<(String, Vec<String>)>,
    hooks: Hooks,
    provider_name: Option<String>,
}

impl CivicAuthConfigBuilder {
    /// The provider's name, as `/auth/login?provider=NAME` and
    /// [`CivicUser::provider`](crate::CivicUser::provider) give it; default
    /// [`DEFAULT_PROVIDER_NAME`]. Letters, digits, `-` and `_`, at most 32.
    /// Only apps with several providers need one
    /// ([`CivicAuthConfig::with_provider`]).
    pub fn provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider_name = Some(name.into());
        self
    }

    /// The client id from the Civic dashboard.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The client secret, for a confidential client registered with
    /// `client_secret_basic` or `client_secret_post`; never logged. Unset
    /// (and no [`client_key`](Self::client_key)), the app is a public client.
    ///
    /// ```
    /// use civic_auth_poem::CivicAuthConfig;
    ///
    /// let config = CivicAuthConfig::builder()
    ///     .client_id("my-client-id")
    ///     .client_secret("the secret the provider gave")
    ///     .redirect_url("http://localhost:5000/auth/callback")
    ///     .post_logout_redirect_url("http://localhost:5000/")
    ///     .build()?;
    /// assert!(!format!("{config:?}").contains("the secret"));
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn client_secret(mut self, secret: impl AsRef<str>) -> Self {
        let secret = secret.as_ref().trim();
        self.credentials.secret = (!secret.is_empty()).then(|| ClientSecret::new(secret));
        self
    }

    /// The app's private key, for a client registered with
    /// `private_key_jwt`: each call to the provider carries a fresh
    /// assertion signed with it, and `/auth/jwks` serves its public half.
    pub fn client_key(mut self, key: ClientKey) -> Self {
        self.credentials.key = Some(key);
        self
    }

    /// The client authentication method, when the provider advertises
    /// several and takes only the registered one; unset, the strongest
    /// that the provider advertises and the app's credentials allow.
    pub fn client_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.credentials.method = Some(method);
        self
    }

    /// The absolute URL of the app's `/auth/callback`, as registered at the provider.
    pub fn redirect_url(mut self, url: impl Into<String>) -> Self {
        self.redirect_url = Some(url.into());
        self
    }

    /// The absolute URL the provider sends the browser to after logout.
    pub fn post_logout_redirect_url(mut self, url: impl Into<String>) -> Self {
        self.post_logout_redirect_url = Some(url.into());
        self
    }

    /// The provider's issuer URL; defaults to [`DEFAULT_OAUTH_SERVER`].
    pub fn oauth_server(mut self, url: impl Into<String>) -> Self {
        self.oauth_server = Some(url.into());
        self
    }

    /// The scopes asked for, as given; `openid` is required. Unset, a login
    /// asks for those of [`DEFAULT_SCOPES`] the provider offers, when its
    /// discovery document lists them (`scopes_supported`), and for all of
    /// them when it does not.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Where a login without `returnTo` lands; a path of the app, default `/`.
    pub fn login_success_path(mut self, path: impl Into<String>) -> Self {
        self.login_success_path = Some(path.into());
        self
    }

    /// Where protected pages send a browser that is not logged in; default
    /// `/auth/login`, matching [`CivicAuthEndpoint`](crate::CivicAuthEndpoint)
    /// nested at `/auth` (below the base path).
    pub fn login_path(mut self, path: impl Into<String>) -> Self {
        self.login_path = Some(path.into());
        self
    }

    /// Where the app is mounted, for an app served below `/` (`/app`, as
    /// `Route::new().nest("/app", app)` or a proxy in front serves it):
    /// the login path and landing default to below it (`/app/auth/login`,
    /// `/app/`), its cookies live at it (`Path=/app`, so browsers do not
    /// send them elsewhere on the host; `__Secure-` prefixed for https
    /// apps, which a sibling subdomain can plant, unlike `__Host-`), and
    /// `returnTo` must lie in it. The redirect URL must be below it.
    /// Default `/`; also `CIVIC_BASE_PATH`. The
    /// [guide](crate::guide::apis) says what a path does not protect.
    ///
    /// ```
    /// let config = civic_auth_poem::CivicAuthConfig::builder()
    ///     .client_id("my-client-id")
    ///     .base_path("/app")
    ///     .redirect_url("https://example.com/app/auth/callback")
    ///     .post_logout_redirect_url("https://example.com/app/")
    ///     .build()?;
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = Some(path.into());
        self
    }

    /// How long a login lasts at most, however active the user; default 7
    /// days. Independent of the tokens' lifetimes: tokens are refreshed.
    pub fn session_duration(mut self, duration: Duration) -> Self {
        self.session_duration = Some(duration);
        self
    }

    /// How long a session lasts without a request (rolling); default 1 day.
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = Some(timeout);
        self
    }

    /// The bound on every call to the provider; default 10 seconds.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// The shortest time between two key-set fetches caused by an unknown
    /// key id (key rotation); default 30 seconds.
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_refresh_interval = Some(interval);
        self
    }

    /// At login, the provider is checked again (its discovery document
    /// fetched) when it has not answered for this long, so an outage gives a
    /// clear 503 page instead of sending browsers to a dead server; default
    /// 30 seconds.
    pub fn provider_check_interval(mut self, interval: Duration) -> Self {
        self.provider_check_interval = Some(interval);
        self
    }

    /// How long the user behind an `Authorization: Bearer` token is
    /// remembered (never past a JWT's `exp`); an opaque token is checked at
    /// the provider's userinfo endpoint again after this. Default 60 seconds.
    pub fn bearer_cache_ttl(mut self, ttl: Duration) -> Self {
        self.bearer_cache_ttl = Some(ttl);
        self
    }

    /// How long a server-side session read from the store is reused by this
    /// instance before it reads the store again; default 1 second; zero
    /// reads the store at every request. A store that reports changes
    /// (`RedisStore`) makes a logout on another instance show here at once;
    /// with another store it shows within this.
    pub fn session_cache_ttl(mut self, ttl: Duration) -> Self {
        self.session_cache_ttl = Some(ttl);
        self
    }

    /// Whether each login asks the provider's userinfo endpoint for the
    /// profile (OpenID Connect Core 5.3; its `sub` must be the ID token's).
    /// Default true; with false, userinfo is asked only when the ID token
    /// lacks the profile (email, name, picture), which spares a call with
    /// providers whose ID tokens carry it.
    pub fn userinfo_at_login(mut self, ask: bool) -> Self {
        self.userinfo_at_login = Some(ask);
        self
    }

    /// Whether opaque (non-JWT) bearer tokens are accepted from a provider
    /// that cannot say which app they were issued to (it has no
    /// introspection endpoint). Default false. **With true, a token the
    /// provider issued to any other app of it works here too**, since
    /// userinfo says whose token it is, not for which app: only for
    /// providers whose every client you trust.
    pub fn allow_unbound_opaque_tokens(mut self, allow: bool) -> Self {
        self.allow_unbound_opaque_tokens = Some(allow);
        self
    }

    /// Whether API clients' opaque (not JWT) access tokens are asked of
    /// this provider (introspection, RFC 7662); default true for the app's
    /// own provider and false for those it adds
    /// ([`CivicAuthConfig::with_provider`]), since asking shows the token
    /// to the provider asked. An app with several asks those that do, in
    /// its order, until one knows the token (at a tenant's host, only the
    /// tenant's); JWTs go to the provider their `iss` names.
    pub fn introspect_opaque_tokens(mut self, ask: bool) -> Self {
        self.introspect_opaque_tokens = Some(ask);
        self
    }

    /// Whether logins push their request to the provider first (RFC 9126);
    /// default [`PushedAuthorization::Auto`], when the provider offers it.
    pub fn pushed_authorization(mut self, mode: PushedAuthorization) -> Self {
        self.pushed_authorization = Some(mode);
        self
    }

    /// A security profile that sets and checks what a standard asks for;
    /// default [`SecurityProfile::Default`].
    pub fn profile(mut self, profile: SecurityProfile) -> Self {
        self.profile = profile;
        self
    }

    /// How the provider hands the login's answer back; default
    /// [`ResponseMode::Query`].
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = Some(mode);
        self
    }

    /// Whether an anonymous browser's first page view tries to log in
    /// without a page at the provider (`prompt=none`), for users who are
    /// logged in there already; default false. A browser the provider does
    /// not know stays anonymous and lands where it was going; it is not
    /// tried again for [`silent_login_interval`](Self::silent_login_interval),
    /// nor right after a logout. A silent login gets no refresh token from
    /// providers that grant one only with consent (Civic's, oidc-provider).
    pub fn silent_login(mut self, on: bool) -> Self {
        self.silent_login = Some(on);
        self
    }

    /// How long a browser is not tried again after a silent login or a
    /// logout; default 1 hour.
    pub fn silent_login_interval(mut self, interval: Duration) -> Self {
        self.silent_login_interval = Some(interval);
        self
    }

    /// Whether each session's tokens are bound to a key of its own (DPoP,
    /// RFC 9449): the session holds a private key (ES256, sealed with the
    /// rest of the session), and the code exchange, refreshes and userinfo
    /// carry proofs of it, so a stolen refresh or access token is useless
    /// without the key. Default false; `CIVIC_DPOP=1` in the environment.
    /// The provider must offer DPoP with ES256.
    pub fn dpop(mut self, on: bool) -> Self {
        self.dpop = Some(on);
        self
    }

    /// An API the app calls for the user, named as the provider knows it
    /// (a resource indicator, RFC 8707), with the scopes its tokens carry.
    /// Each login asks for every such API and its scopes; a handler then
    /// gets a token for one with
    /// [`AccessToken::for_resource`](crate::AccessToken::for_resource),
    /// obtained with the refresh token (so the scopes must include
    /// `offline_access`) and kept in the session. `CIVIC_RESOURCES` in the
    /// environment lists them: `https://api.example/ orders:read;
    /// https://files.example/ files:read`.
    ///
    /// ```
    /// use civic_auth_poem::CivicAuthConfig;
    ///
    /// let config = CivicAuthConfig::builder()
    ///     .client_id("my-client-id")
    ///     .redirect_url("http://localhost:5000/auth/callback")
    ///     .post_logout_redirect_url("http://localhost:5000/")
    ///     .resource("https://api.example/", ["orders:read"])
    ///     .build()?;
    /// # Ok::<(), civic_auth_poem::Error>(())
    /// ```
    pub fn resource<S: Into<String>>(
        mut self,
        indicator: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.resources.push((indicator.into(), scopes));
        self
    }

    /// Runs `hook` after every verified login (the ID token checked, the
    /// userinfo profile merged), before the session exists. Its `Err`
    /// refuses the login with a 403 page giving the reason; its `Ok` value
    /// is kept in the session, sealed with it, for handlers to read with
    /// [`SessionData`](crate::SessionData) (`()` keeps nothing). The value
    /// survives refreshes and ends with the session; as JSON it is at most
    /// 8 KB. See [`hooks`](crate::hooks).
    pub fn on_login<F, Fut, T>(mut self, hook: F) -> Self
    where
        F: Fn(Login) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, LoginRefusal>> + Send + 'static,
        T: Serialize,
    {
        self.hooks.set_login(hook);
        self
    }

    /// Runs `hook` for every session that ends by a logout: at
    /// `/auth/logout` when the browser had a session, after it ended here
    /// and before the browser goes to the provider; and for each session a
    /// back-channel logout ends (server-side stores), once it has ended.
    /// Not when a session merely expires.
    pub fn on_logout<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Logout) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_logout(hook);
        self
    }

    /// The clock the library reads; the system clock by default. Tests of
    /// expiry pass a [`ManualClock`](crate::ManualClock) and move it.
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = Some(clock.into());
        self
    }

    /// Checks every field and builds the config.
    ///
    /// Fails with an error naming the field when a required one is missing,
    /// a URL is relative or malformed, or `scopes` lacks `openid`.
    pub fn build(mut self) -> Result<CivicAuthConfig, Error> {
        if self.profile == SecurityProfile::Fapi2 {
            self = self.fapi2()?;
        }
        let app_settings = self.app_settings();
        let provider_name = provider_name(self.provider_name.as_deref())?;
        let client_id = self
            .client_id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or(Error::MissingConfig {
                field: "client_id",
                env: "CIVIC_CLIENT_ID",
            })?;
        self.credentials.check()?;
        let redirect_url = absolute_url(
            "redirect_url",
            "CIVIC_REDIRECT_URL",
            self.redirect_url.as_deref(),
        )?;
        let post_logout_redirect_url = absolute_url(
            "post_logout_redirect_url",
            "CIVIC_POST_LOGOUT_REDIRECT_URL",
            self.post_logout_redirect_url.as_deref(),
        )?;
        let oauth_server = absolute_url(
            "oauth_server",
            "CIVIC_OAUTH_SERVER",
            Some(self.oauth_server.as_deref().unwrap_or(DEFAULT_OAUTH_SERVER)),
        )?;
        if self.credentials.confidential() && !https_or_loopback(&oauth_server) {
            return Err(Error::InvalidConfig {
                field: "oauth_server",
                value: oauth_server.to_string(),
                reason: "a client secret or key goes to the provider only over https (or to a loopback host)".into(),
            });
        }
        if oauth_server.query().is_some() || oauth_server.fragment().is_some() {
            return Err(Error::InvalidConfig {
                field: "oauth_server",
                value: oauth_server.to_string(),
                reason: "an issuer URL has no query or fragment".into(),
            });
        }
        let response_mode = self.response_mode.unwrap_or_default();
        if response_mode == ResponseMode::FormPost && !https_or_loopback(&redirect_url) {
            return Err(Error::InvalidConfig {
                field: "response_mode",
                value: "form_post".into(),
                reason: format!(
                    "a form-posted answer needs a `Secure` login cookie, which browsers keep only for https apps and loopback hosts; `redirect_url` is `{redirect_url}`"
                ),
            });
        }
        let default_scopes = self.scopes.is_none();
        let scopes = self.scopes.unwrap_or_else(|| {
            DEFAULT_SCOPES
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        });
        if !scopes.iter().any(|s| s == "openid") {
            return Err(Error::InvalidConfig {
                field: "scopes",
                value: scopes.join(" "),
                reason: "`openid` must be one of the scopes".into(),
            });
        }
        let resources = resources(self.resources, &scopes)?;
        let base_path = base_path(self.base_path)?;
        let below_base = |field: &'static str, path: LocalPath| {
            if base_path.contains(path.as_str()) {
                return Ok(path);
            }
            Err(Error::InvalidConfig {
                field,
                value: path.as_str().to_owned(),
                reason: format!(
                    "it must lie below the app's `base_path` ({})",
                    base_path.as_str()
                ),
            })
        };
        let login_success_path = below_base(
            "login_success_path",
            app_path(
                "login_success_path",
                self.login_success_path,
                &base_path.join("/"),
            )?,
        )?;
        let login_path = below_base(
            "login_path",
            app_path(
                "login_path",
                self.login_path,
                &base_path.join("/auth/login"),
            )?,
        )?;
        answers_below(&base_path, &redirect_url, "the provider's")?;
        // Longer than this is "forever"; capped so that time arithmetic
        // cannot overflow.
        const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
        let cap = |d: Duration| d.min(FOREVER);
        Ok(CivicAuthConfig {
            client_id,
            credentials: self.credentials,
            redirect_url,
            post_logout_redirect_url,
            oauth_server,
            scopes,
            default_scopes,
            login_success_path,
            login_path,
            base_path,
            session_duration: cap(self
                .session_duration
                .unwrap_or(Duration::from_secs(7 * 24 * 3600))),
            session_idle_timeout: cap(self
                .session_idle_timeout
                .unwrap_or(Duration::from_secs(24 * 3600))),
            http_timeout: cap(self.http_timeout.unwrap_or(Duration::from_secs(10))),
            jwks_refresh_interval: cap(self
                .jwks_refresh_interval
                .unwrap_or(Duration::from_secs(30))),
            provider_check_interval: cap(self
                .provider_check_interval
                .unwrap_or(Duration::from_secs(30))),
            bearer_cache_ttl: cap(self.bearer_cache_ttl.unwrap_or(Duration::from_secs(60))),
            session_cache_ttl: cap(self.session_cache_ttl.unwrap_or(Duration::from_secs(1))),
            clock: self.clock.unwrap_or_default(),
            userinfo_at_login: self.userinfo_at_login.unwrap_or(true),
            allow_unbound_opaque_tokens: self.allow_unbound_opaque_tokens.unwrap_or(false),
            introspect_opaque_tokens: self.introspect_opaque_tokens,
            pushed_authorization: self.pushed_authorization.unwrap_or_default(),
            response_mode,
            profile: self.profile,
            dpop: self.dpop.unwrap_or(false),
            resources,
            hooks: self.hooks,
            provider_name,
            providers: Vec::new(),
            tenants: Vec::new(),
            allowed_hosts: Vec::new(),
            app_settings,
            silent_login: self.silent_login.unwrap_or(false).then(|| {
                cap(self
                    .silent_login_interval
                    .unwrap_or(Duration::from_secs(3600)))
            }),
        })
    }
}

impl CivicAuthConfigBuilder {
    /// The settings given that are about the whole app rather than its
    /// provider.
    fn app_settings(&self) -> Vec<&'static str> {
        [
            ("login_success_path", self.login_success_path.is_some()),
            ("login_path", self.login_path.is_some()),
            ("base_path", self.base_path.is_some()),
            ("session_duration", self.session_duration.is_some()),
            ("session_idle_timeout", self.session_idle_timeout.is_some()),
            ("bearer_cache_ttl", self.bearer_cache_ttl.is_some()),
            ("session_cache_ttl", self.session_cache_ttl.is_some()),
            ("clock", self.clock.is_some()),
            (
                "allow_unbound_opaque_tokens",
                self.allow_unbound_opaque_tokens.is_some(),
            ),
            ("response_mode", self.response_mode.is_some()),
            ("silent_login", self.silent_login.is_some()),
            (
                "silent_login_interval",
                self.silent_login_interval.is_some(),
            ),
            ("on_login", self.hooks.has_login()),
            ("on_logout", self.hooks.has_logout()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The settings of the FAPI 2.0 profile; one the app set otherwise is
    /// an error naming it.
    fn fapi2(mut self) -> Result<Self, Error> {
        let contradicts =
            |field: &'static str, value: String, requires: &str| Error::InvalidConfig {
                field,
                value,
                reason: format!(
                    "the FAPI 2.0 profile (`profile`, CIVIC_PROFILE) requires {requires}"
                ),
            };
        // A missing key is reported by `credentials.check()`, which the
        // method set below makes ask for one.
        match self.credentials.method {
            None | Some(ClientAuthMethod::PrivateKeyJwt) => {}
            Some(other) => {
                return Err(contradicts(
                    "client_auth_method",
                    other.to_string(),
                    "private_key_jwt",
                ))
            }
        }
        if self.pushed_authorization == Some(PushedAuthorization::Off) {
            return Err(contradicts(
                "pushed_authorization",
                "off".into(),
                "pushed authorization requests",
            ));
        }
        if self.dpop == Some(false) {
            return Err(contradicts("dpop", "false".into(), "DPoP-bound tokens"));
        }
        self.credentials.method = Some(ClientAuthMethod::PrivateKeyJwt);
        self.pushed_authorization = Some(PushedAuthorization::Required);
        self.dpop = Some(true);
        Ok(self)
    }
}

#[cfg(test)]
impl CivicAuthConfig {
    /// The quickstart's settings, where other modules' unit tests start.
    pub(crate) fn quickstart() -> CivicAuthConfigBuilder {
        Self::builder()
            .client_id("c")
            .redirect_url("http://localhost:5000/auth/callback")
            .post_logout_redirect_url("http://localhost:5000/")
    }
}

/// The APIs the app named, checked: each once, and obtainable only with a
/// refresh token.
fn resources(given: Vec<(String, Vec<String>)>, scopes: &[String]) -> Result<Vec<Resource>, Error> {
    let mut resources: Vec<Resource> = Vec::with_capacity(given.len());
    for (indicator, scopes) in given {
        let resource = Resource::new(indicator.trim(), scopes)?;
        if resources.iter().any(|r| r.indicator == resource.indicator) {
            return Err(Error::InvalidConfig {
                field: "resource",
                value: resource.indicator,
                reason: "each resource is named once".into(),
            });
        }
        resources.push(resource);
    }
    if !resources.is_empty() && !scopes.iter().any(|s| s == "offline_access") {
        return Err(Error::InvalidConfig {
            field: "scopes",
            value: scopes.join(" "),
            reason: "a resource's tokens are obtained with the refresh token: add `offline_access` (CIVIC_SCOPES)".into(),
        });
    }
    Ok(resources)
}

/// An on/off environment variable: `1`/`true`/`on` or `0`/`false`/`off`.
fn flag(field: &'static str, env: &'static str, value: &str) -> Result<bool, Error> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(Error::InvalidConfig {
            field,
            value: value.to_owned(),
            reason: format!("{env} is 1 or 0"),
        }),
    }
}

/// Whether `url` is https, or plain http to this machine (`localhost`,
/// `127.0.0.1`, `[::1]`), where nothing crosses a network.
pub(crate) fn https_or_loopback(url: &Url) -> bool {
    url.scheme() == "https"
        || matches!(
            url.host(),
            Some(url::Host::Domain("localhost"))
                | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        )
}

fn absolute_url(field: &'static str, env: &'static str, value: Option<&str>) -> Result<Url, Error> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Error::MissingConfig { field, env })?;
    let invalid = |reason: String| Error::InvalidConfig {
        field,
        value: value.to_owned(),
        reason,
    };
    let url = Url::parse(value).map_err(|e| invalid(format!("not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host".into()));
    }
    Ok(url)
}

/// `redirect_url`, where `whose` answers come back, below the app's
/// `base_path`.
fn answers_below(base_path: &LocalPath, redirect_url: &Url, whose: &str) -> Result<(), Error> {
    if base_path.contains(redirect_url.path()) {
        return Ok(());
    }
    Err(Error::InvalidConfig {
        field: "redirect_url",
        value: redirect_url.to_string(),
        reason: format!(
            "{whose} answers come back to the app, below its `base_path` ({})",
            base_path.as_str()
        ),
    })
}

/// The app's base path: `/`, or a plain path without a trailing slash.
fn base_path(value: Option<String>) -> Result<LocalPath, Error> {
    let path = app_path("base_path", value, "/")?;
    if !local_path::is_plain(path.as_str()) || path.as_str().contains(['?', '#', ';']) {
        return Err(Error::InvalidConfig {
            field: "base_path",
            value: path.as_str().to_owned(),
            reason:
                "a plain path such as `/app`: no trailing slash, query, encoding or dot segments"
                    .into(),
        });
    }
    Ok(path)
}

fn app_path(field: &'static str, value: Option<String>, default: &str) -> Result<LocalPath, Error> {
    let value = value.unwrap_or_else(|| default.to_owned());
    LocalPath::parse(&value).ok_or_else(|| Error::InvalidConfig {
        field,
        value,
        reason: "must be a path of this app starting with a single `/`".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> CivicAuthConfigBuilder {
        CivicAuthConfig::builder()
            .client_id("client")
            .redirect_url("http://localhost:5000/auth/callback")
            .post_logout_redirect_url("http://localhost:5000/")
    }

    fn message(builder: CivicAuthConfigBuilder) -> String {
        builder.build().unwrap_err().to_string()
    }

    #[test]
    fn every_setting_is_kept_and_unset_ones_are_the_documented_defaults() {
        let defaults = valid().build().unwrap();
        let minutes = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(defaults.client_id(), "client");
        assert_eq!(defaults.session_duration, minutes(7 * 24 * 60));
        assert_eq!(defaults.session_idle_timeout, minutes(24 * 60));
        assert_eq!(defaults.http_timeout, Duration::from_secs(10));
        assert_eq!(defaults.jwks_refresh_interval, Duration::from_secs(30));
        assert_eq!(defaults.provider_check_interval, Duration::from_secs(30));
        assert_eq!(defaults.bearer_cache_ttl, Duration::from_secs(60));
        assert_eq!(defaults.session_cache_ttl, Duration::from_secs(1));
        assert!(defaults.userinfo_at_login);
        assert!(!defaults.allow_unbound_opaque_tokens);
        assert_eq!(defaults.silent_login, None);
        assert!(defaults.credentials.secret.is_none() && defaults.credentials.key.is_none());
        assert_eq!(
            valid().silent_login(true).build().unwrap().silent_login,
            Some(minutes(60))
        );

        let set = valid()
            .session_duration(minutes(1))
            .session_idle_timeout(minutes(2))
            .http_timeout(minutes(3))
            .jwks_refresh_interval(minutes(4))
            .provider_check_interval(minutes(5))
            .bearer_cache_ttl(minutes(6))
            .session_cache_ttl(minutes(7))
            .userinfo_at_login(false)
            .allow_unbound_opaque_tokens(true)
            .silent_login(true)
            .silent_login_interval(minutes(8))
            .client_secret(" s ")
            .build()
            .unwrap();
        let kept = [
            set.session_duration,
            set.session_idle_timeout,
            set.http_timeout,
            set.jwks_refresh_interval,
            set.provider_check_interval,
            set.bearer_cache_ttl,
            set.session_cache_ttl,
            set.silent_login.unwrap(),
        ];
        assert_eq!(kept, [1, 2, 3, 4, 5, 6, 7, 8].map(minutes));
        assert!(!set.userinfo_at_login && set.allow_unbound_opaque_tokens);
        assert_eq!(defaults.introspect_opaque_tokens, None);
        assert_eq!(
            valid()
                .introspect_opaque_tokens(false)
                .build()
                .unwrap()
                .introspect_opaque_tokens,
            Some(false)
        );
        assert_eq!(defaults.provider_name(), DEFAULT_PROVIDER_NAME);
        assert_eq!(
            valid()
                .provider_name("acme")
                .build()
                .unwrap()
                .provider_name(),
            "acme"
        );
        assert!(set.credentials.secret.is_some());
        // A blank secret is no secret: the app stays a public client.
        let blank = valid().client_secret("  ").build().unwrap();
        assert!(blank.credentials.secret.is_none());
        // Ten years at most, so that time arithmetic cannot overflow.
        let forever = valid().session_duration(Duration::MAX).build().unwrap();
        assert_eq!(forever.session_duration, minutes(10 * 365 * 24 * 60));
    }

    #[test]
    fn client_credentials_never_go_over_plain_http_to_another_machine() {
        let msg = message(
            valid()
                .oauth_server("http://idp.example/oauth")
                .client_secret("s"),
        );
        assert!(
            msg.contains("oauth_server") && msg.contains("https"),
            "{msg}"
        );
        for issuer in ["https://idp.example/oauth", "http://127.0.0.1:3000/oauth"] {
            valid()
                .oauth_server(issuer)
                .client_secret("s")
                .build()
                .unwrap();
        }
        // A public client has nothing to lose over http.
        valid()
            .oauth_server("http://idp.example/oauth")
            .build()
            .unwrap();
    }

    #[test]
    fn an_issuer_has_no_query_nor_fragment() {
        for issuer in [
            "https://idp.example/oauth?x=1",
            "https://idp.example/oauth#x",
        ] {
            let msg = message(valid().oauth_server(issuer));
            assert!(msg.contains("no query or fragment"), "{msg}");
        }
    }

    #[test]
    fn on_off_variables_read_as_documented() {
        for on in ["1", "true", " ON "] {
            assert!(flag("dpop", "CIVIC_DPOP", on).unwrap(), "{on}");
        }
        for off in ["0", "false", "off"] {
            assert!(!flag("dpop", "CIVIC_DPOP", off).unwrap(), "{off}");
        }
        let msg = flag("dpop", "CIVIC_DPOP", "yes").unwrap_err().to_string();
        assert!(msg.contains("CIVIC_DPOP"), "{msg}");
    }

    /// The only test that sets these variables; blank ones count as unset.
    #[test]
    fn from_env_reads_each_variable_and_skips_blank_ones() {
        let vars = [
            ("CIVIC_CLIENT_ID", "env-client"),
            ("CIVIC_REDIRECT_URL", "http://localhost:5000/auth/callback"),
            ("CIVIC_POST_LOGOUT_REDIRECT_URL", "http://localhost:5000/"),
            ("CIVIC_SCOPES", "  "),
            ("CIVIC_DPOP", "1"),
            ("CIVIC_RESPONSE_MODE", "form_post"),
            ("CIVIC_CLIENT_SECRET", "env secret"),
            ("CIVIC_CLIENT_AUTH_METHOD", "client_secret_post"),
            (
                "CIVIC_RESOURCES",
                "https://a.example/ read write; https://b.example/",
            ),
        ];
        for (name, value) in vars {
            std::env::set_var(name, value);
        }
        let config = CivicAuthConfig::from_env();
        for (name, _) in vars {
            std::env::remove_var(name);
        }
        let config = config.unwrap();
        assert_eq!(config.client_id(), "env-client");
        assert!(config.default_scopes, "blank scopes are unset");
        assert!(config.dpop);
        assert_eq!(config.response_mode, ResponseMode::FormPost);
        assert_eq!(
            config.credentials.method,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        assert_eq!(
            config.resources,
            [
                Resource::new("https://a.example/", vec!["read".into(), "write".into()]).unwrap(),
                Resource::new("https://b.example/", Vec::new()).unwrap(),
            ]
        );
    }

    #[test]
    fn resources_are_named_once_and_need_a_refresh_token() {
        let api = |c: CivicAuthConfigBuilder| c.resource(" https://api.example/ ", ["read"]);
        let config = api(valid()).build().unwrap();
        assert_eq!(config.resources[0].indicator, "https://api.example/");
        assert_eq!(config.resources[0].scopes, ["read"]);
        let msg = message(api(api(valid())));
        assert!(msg.contains("named once"), "{msg}");
        let msg = message(api(valid().scopes(["openid", "email"])));
        assert!(
            msg.contains("scopes") && msg.contains("offline_access"),
            "{msg}"
        );
        assert!(
            valid().scopes(["openid"]).build().is_ok(),
            "no API, no need"
        );
        let msg = message(valid().resource("api", ["read"]));
        assert!(
            msg.contains("resource") && msg.contains("absolute URI"),
            "{msg}"
        );
    }

    #[test]
    fn defaults_follow_civic() {
        let config = valid().build().unwrap();
        assert_eq!(
            config.oauth_server().as_str(),
            "https://auth.civic.com/oauth"
        );
        assert_eq!(config.scopes().join(" "), DEFAULT_SCOPES);
        assert!(config.default_scopes);
        assert!(!valid().scopes(["openid"]).build().unwrap().default_scopes);
        assert!(!config.secure_cookies());
    }

    #[test]
    fn pushed_authorization_modes_read_as_civic_par_gives_them() {
        assert_eq!(
            valid().build().unwrap().pushed_authorization,
            PushedAuthorization::Auto
        );
        for (text, mode) in [
            ("auto", PushedAuthorization::Auto),
            (" Off", PushedAuthorization::Off),
            ("required", PushedAuthorization::Required),
        ] {
            assert_eq!(text.parse::<PushedAuthorization>().unwrap(), mode);
        }
        let msg = "always"
            .parse::<PushedAuthorization>()
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("pushed_authorization") && msg.contains("CIVIC_PAR"),
            "{msg}"
        );
    }

    #[test]
    fn form_post_needs_an_app_whose_cookies_can_be_secure() {
        for app in [
            "https://app.example",
            "http://localhost:5000",
            "http://127.0.0.1:5000",
            "http://[::1]:5000",
        ] {
            valid()
                .redirect_url(format!("{app}/auth/callback"))
                .response_mode(ResponseMode::FormPost)
                .build()
                .unwrap_or_else(|e| panic!("{app}: {e}"));
        }
        let msg = message(
            valid()
                .redirect_url("http://app.example/auth/callback")
                .response_mode(ResponseMode::FormPost),
        );
        assert!(
            msg.contains("response_mode") && msg.contains("http://app.example/auth/callback"),
            "{msg}"
        );
        assert_eq!(valid().build().unwrap().response_mode, ResponseMode::Query);
        assert_eq!(
            " Query".parse::<ResponseMode>().unwrap(),
            ResponseMode::Query
        );
        assert_eq!(
            "form_post".parse::<ResponseMode>().unwrap().as_str(),
            "form_post"
        );
        let msg = "fragment".parse::<ResponseMode>().unwrap_err().to_string();
        assert!(msg.contains("CIVIC_RESPONSE_MODE"), "{msg}");
    }

    #[test]
    fn the_fapi2_profile_sets_its_settings_and_refuses_contradictions() {
        let key = crate::ClientKey::from_pem(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/keys/ec-a.pem"
            ))
            .unwrap(),
        )
        .unwrap();
        let fapi = || valid().profile(SecurityProfile::Fapi2);
        let config = fapi().client_key(key.clone()).build().unwrap();
        assert!(config.dpop);
        assert_eq!(config.pushed_authorization, PushedAuthorization::Required);
        assert_eq!(
            config.credentials.method,
            Some(ClientAuthMethod::PrivateKeyJwt)
        );
        assert!(matches!(
            fapi().client_secret("s").build().unwrap_err(),
            Error::MissingConfig {
                field: "client_key",
                ..
            }
        ));
        let contradictions = [
            ("dpop", fapi().client_key(key.clone()).dpop(false)),
            (
                "pushed_authorization",
                fapi()
                    .client_key(key.clone())
                    .pushed_authorization(PushedAuthorization::Off),
            ),
            (
                "client_auth_method",
                fapi()
                    .client_key(key.clone())
                    .client_secret("s")
                    .client_auth_method(ClientAuthMethod::ClientSecretBasic),
            ),
        ];
        for (field, builder) in contradictions {
            let msg = message(builder);
            assert!(
                msg.contains(field) && msg.contains("FAPI 2.0") && msg.contains("CIVIC_PROFILE"),
                "{msg}"
            );
        }
        let plain = valid().build().unwrap();
        assert_eq!(plain.profile, SecurityProfile::Default);
        assert!(!plain.dpop);
        assert_eq!(
            "FAPI2".parse::<SecurityProfile>().unwrap(),
            SecurityProfile::Fapi2
        );
        assert_eq!(
            "default".parse::<SecurityProfile>().unwrap(),
            SecurityProfile::Default
        );
        let msg = "fapi1".parse::<SecurityProfile>().unwrap_err().to_string();
        assert!(msg.contains("CIVIC_PROFILE"), "{msg}");
    }

    /// A provider for `with_provider`, coming back to `path`.
    fn provider_at(path: &str) -> CivicAuthConfigBuilder {
        CivicAuthConfig::builder()
            .client_id("partner-client")
            .oauth_server("https://id.partner.example")
            .redirect_url(format!("http://localhost:5000{path}"))
            .post_logout_redirect_url("http://localhost:5000/")
    }

    fn invalid_field(result: Result<CivicAuthConfig, Error>) -> &'static str {
        match result {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn added_providers_are_named_and_come_back_to_their_own_path() {
        let clock = crate::clock::ManualClock::now();
        let app = || valid().clock(clock.clone()).build().unwrap();
        let partner = provider_at("/auth/callback/partner").build().unwrap();
        let config = app().with_provider("partner", partner.clone()).unwrap();
        assert_eq!(
            config.provider_names().collect::<Vec<_>>(),
            ["civic", "partner"]
        );
        // The app's clock is every provider's.
        let before = config.providers[0].clock.now_secs();
        clock.advance(Duration::from_secs(1000));
        assert!(config.providers[0].clock.now_secs() >= before + 1000);
        assert_eq!(config.providers[0].provider_name, "partner");

        // A name taken, or not a name.
        for name in ["civic", "", "two words", &"x".repeat(33), "a/b"] {
            let again = app().with_provider(name, partner.clone());
            assert_eq!(invalid_field(again), "provider_name", "{name:?}");
        }
        let taken = config
            .clone()
            .with_provider("partner", provider_at("/p2").build().unwrap());
        assert_eq!(invalid_field(taken), "provider_name");
        assert!(app().with_provider("Acme_2-b", partner.clone()).is_ok());
        // The same path as another provider's, or one that ends like it or
        // is the end of it: answers could be mixed up.
        for path in ["/auth/callback", "/app/auth/callback", "/callback"] {
            let same = app().with_provider("partner", provider_at(path).build().unwrap());
            let message = same.unwrap_err().to_string();
            assert!(
                message.contains("`redirect_url`") && message.contains("`civic`"),
                "{path}: {message}"
            );
        }
        // An added provider with providers of its own.
        let with_own = valid()
            .build()
            .unwrap()
            .with_provider("inner", partner.clone())
            .unwrap();
        let nested = app().with_provider("outer", with_own);
        assert_eq!(invalid_field(nested), "providers");
        // Tenants or hosts of its own, or another name of its own.
        let tenanted = provider_at("/t")
            .build()
            .unwrap()
            .with_tenant("localhost", "civic")
            .unwrap();
        assert_eq!(
            invalid_field(app().with_provider("t", tenanted)),
            "providers"
        );
        let hosted = provider_at("/h")
            .build()
            .unwrap()
            .with_allowed_hosts(["www.example"])
            .unwrap();
        assert_eq!(invalid_field(app().with_provider("h", hosted)), "providers");
        let renamed = provider_at("/r").provider_name("other").build().unwrap();
        assert_eq!(
            invalid_field(app().with_provider("r", renamed)),
            "provider_name"
        );
        let same_name = provider_at("/r").provider_name("r").build().unwrap();
        assert!(app().with_provider("r", same_name).is_ok());
        // A form-posting app needs each provider's callback where cookies can be secure.
        let posting = valid()
            .response_mode(ResponseMode::FormPost)
            .build()
            .unwrap();
        let far = CivicAuthConfig::builder()
            .client_id("c")
            .redirect_url("http://app.example/auth/callback/partner")
            .post_logout_redirect_url("http://app.example/")
            .build()
            .unwrap();
        assert_eq!(
            invalid_field(posting.clone().with_provider("partner", far.clone())),
            "redirect_url"
        );
        assert!(app().with_provider("partner", far).is_ok());
        let added = posting.with_provider("partner", partner).unwrap();
        assert_eq!(added.providers[0].response_mode, ResponseMode::FormPost);
    }

    #[test]
    fn an_added_provider_sets_none_of_the_apps_settings() {
        let app = || valid().build().unwrap();
        type Setting = fn(CivicAuthConfigBuilder) -> CivicAuthConfigBuilder;
        let settings: [(&str, Setting); 13] = [
            ("login_success_path", |b| b.login_success_path("/home")),
            ("login_path", |b| b.login_path("/login")),
            ("session_duration", |b| {
                b.session_duration(Duration::from_secs(1))
            }),
            ("session_idle_timeout", |b| {
                b.session_idle_timeout(Duration::from_secs(1))
            }),
            ("bearer_cache_ttl", |b| {
                b.bearer_cache_ttl(Duration::from_secs(1))
            }),
            ("session_cache_ttl", |b| {
                b.session_cache_ttl(Duration::from_secs(1))
            }),
            ("clock", |b| b.clock(crate::clock::ManualClock::now())),
            ("allow_unbound_opaque_tokens", |b| {
                b.allow_unbound_opaque_tokens(true)
            }),
            ("response_mode", |b| b.response_mode(ResponseMode::Query)),
            ("silent_login", |b| b.silent_login(false)),
            ("silent_login_interval", |b| {
                b.silent_login_interval(Duration::from_secs(1))
            }),
            ("on_login", |b| {
                b.on_login(|_| async { Ok::<_, crate::hooks::LoginRefusal>(()) })
            }),
            ("on_logout", |b| b.on_logout(|_| async {})),
        ];
        for (setting, set) in settings {
            let partner = set(provider_at("/p")).build().unwrap();
            let refused = app().with_provider("partner", partner);
            let message = refused.as_ref().unwrap_err().to_string();
            assert_eq!(invalid_field(refused), setting);
            assert!(message.contains("the app's config"), "{message}");
        }
        // What is the provider's own is fine.
        let own = provider_at("/p")
            .scopes(["openid"])
            .http_timeout(Duration::from_secs(1))
            .userinfo_at_login(false)
            .introspect_opaque_tokens(false)
            .dpop(true)
            .build()
            .unwrap();
        assert!(app().with_provider("partner", own).is_ok());
    }

    #[test]
    fn tenants_name_a_host_and_a_provider_of_the_app() {
        let config = valid()
            .build()
            .unwrap()
            .with_provider("partner", provider_at("/p").build().unwrap())
            .unwrap();
        let tenants = config
            .clone()
            .with_allowed_hosts(["partner.example", "app.example"])
            .unwrap()
            .with_tenant(" Partner.Example ", "partner")
            .unwrap()
            .with_tenant("app.example", "civic")
            .unwrap();
        assert_eq!(
            tenants.tenants,
            [
                ("partner.example".to_owned(), "partner".to_owned()),
                ("app.example".to_owned(), "civic".to_owned())
            ]
        );
        for (host, provider) in [
            ("partner.example", "nobody"),
            ("", "partner"),
            ("partner.example:443", "partner"),
            ("https://partner.example", "partner"),
            // Neither where the partner's answers come back nor allowed.
            ("partner.example", "partner"),
        ] {
            let refused = config.clone().with_tenant(host, provider);
            assert_eq!(invalid_field(refused), "tenant", "{host} {provider}");
        }
        // Where its answers come back, without any allowed host.
        assert!(config.clone().with_tenant("LOCALHOST", "partner").is_ok());
        let twice = tenants.with_tenant("PARTNER.example.", "civic");
        assert_eq!(invalid_field(twice), "tenant");
        let allowed = config
            .clone()
            .with_allowed_hosts(["WWW.app.example.", "www.app.example", "bücher.example"])
            .unwrap();
        assert_eq!(
            allowed.allowed_hosts,
            ["www.app.example", "xn--bcher-kva.example"]
        );
        for host in [
            "",
            "a.example:80",
            "https://a.example",
            "a.example/x",
            "user@a.example",
        ] {
            let refused = config.clone().with_allowed_hosts([host]);
            assert_eq!(invalid_field(refused), "allowed_hosts", "{host}");
        }
    }

    #[test]
    fn https_apps_get_secure_cookies() {
        let config = valid()
            .redirect_url("https://app.example/auth/callback")
            .build()
            .unwrap();
        assert!(config.secure_cookies());
    }

    #[test]
    fn a_base_path_holds_the_apps_paths() {
        let below = |builder: CivicAuthConfigBuilder| builder.base_path("/app");
        let config = below(valid().redirect_url("http://localhost:5000/app/auth/callback"))
            .build()
            .unwrap();
        assert_eq!(config.login_path.as_str(), "/app/auth/login");
        assert_eq!(config.login_success_path.as_str(), "/app/");
        assert_eq!(config.cookie_path(), "/app");
        assert_eq!(
            config.return_to("/app/x?y=1").unwrap().as_str(),
            "/app/x?y=1"
        );
        assert!(config.return_to("/other").is_none());
        assert!(config.return_to("/application").is_none());
        for escaping in [
            "/app/../admin",
            "/app/%2e%2e/x",
            "/app/.%2E/x",
            "/app/..",
            "/app/./x",
        ] {
            assert!(config.return_to(escaping).is_none(), "{escaping}");
        }
        assert!(
            config.return_to("/app/x?next=/../y").is_some(),
            "a query is not a path"
        );
        let msg = message(below(valid()));
        assert!(
            msg.contains("`redirect_url`") && msg.contains("/app"),
            "{msg}"
        );
        let msg = message(
            below(valid().redirect_url("http://localhost:5000/app/auth/callback"))
                .login_path("/auth/login"),
        );
        assert!(msg.contains("`login_path`"), "{msg}");
        let msg = message(
            below(valid().redirect_url("http://localhost:5000/app/auth/callback"))
                .login_success_path("/home"),
        );
        assert!(msg.contains("`login_success_path`"), "{msg}");
        for bad in ["/app/", "app", "/a//b", "/a/../b", "/a?b", "/a%2Fb"] {
            let msg = message(valid().base_path(bad));
            assert!(msg.contains("`base_path`"), "{bad}: {msg}");
        }
        // An added provider's answers come back below it too.
        let partner = |redirect: &str| valid().redirect_url(redirect).build().unwrap();
        let added = config
            .clone()
            .with_provider("partner", partner("http://localhost:5000/partner/callback"))
            .unwrap_err()
            .to_string();
        assert!(
            added.contains("`redirect_url`") && added.contains("/app"),
            "{added}"
        );
        assert!(config
            .with_provider(
                "partner",
                partner("http://localhost:5000/app/partner/callback")
            )
            .is_ok());
        let root = valid().build().unwrap();
        assert_eq!(root.login_path.as_str(), "/auth/login");
        assert_eq!(root.cookie_path(), "/");
        assert!(root.return_to("/anything").is_some());
    }

    #[test]
    fn missing_client_id_names_field_and_variable() {
        let msg = message(CivicAuthConfig::builder().redirect_url("http://a/"));
        assert!(
            msg.contains("client_id") && msg.contains("CIVIC_CLIENT_ID"),
            "{msg}"
        );
    }

    #[test]
    fn relative_redirect_url_is_refused_with_its_value() {
        let msg = message(valid().redirect_url("/auth/callback"));
        assert!(
            msg.contains("redirect_url") && msg.contains("/auth/callback"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_post_logout_url_is_refused() {
        let msg = message(valid().post_logout_redirect_url("http//nope"));
        assert!(msg.contains("post_logout_redirect_url"), "{msg}");
        let msg = message(valid().post_logout_redirect_url("ftp://host/"));
        assert!(msg.contains("http or https"), "{msg}");
    }

    #[test]
    fn scopes_need_openid() {
        let msg = message(valid().scopes(["email"]));
        assert!(msg.contains("scopes") && msg.contains("openid"), "{msg}");
    }

    #[test]
    fn landing_path_must_be_local() {
        let msg = message(valid().login_success_path("https://evil.example/"));
        assert!(msg.contains("login_success_path"), "{msg}");
    }
}
