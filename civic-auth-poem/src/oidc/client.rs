//! What this app asks of the provider as an OAuth client: the authorization
//! URL, the code and refresh exchanges (an ID token in the answer is
//! verified before anything is returned), userinfo, and the end-session URL.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use oauth2::{
    AuthorizationCode, CsrfToken, RefreshToken, RequestTokenError, Scope, TokenResponse as _,
};
use serde_json::{Map, Value};
use url::Url;

use super::{
    api::Credential,
    client_auth::ClientAuth,
    discovery::{lists_alg, ProviderMetadata},
    dpop::DpopKey,
    http::parse,
    provider::Provider,
    verifier::{Claims, Expected, TokenVerifier},
};
use crate::{
    config::{CivicAuthConfig, PushedAuthorization, ResponseMode, SecurityProfile},
    credentials::{method::ClientAuthMethod, ClientCredentials},
    error::{printable, Error},
    random::{Nonce, PkceVerifier, State},
    resource::Resource,
    step_up::StepUp,
};

/// Tokens from the token endpoint.
pub(crate) struct TokenSet {
    pub(crate) access_token: String,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
    /// The provider bound the tokens to the DPoP key (`token_type: DPoP`).
    pub(crate) dpop_bound: bool,
}

/// A login's tokens and its verified ID token's claims.
pub(crate) struct LoginTokens {
    pub(crate) tokens: TokenSet,
    pub(crate) claims: Claims,
}

/// Why tokens could not be refreshed.
#[derive(Clone, Debug)]
pub(crate) enum RefreshFailure {
    /// The provider refused the refresh token (revoked, expired), or sent
    /// tokens about someone else: the session is over.
    Ended(String),
    /// The provider or the store could not be reached: keep the session for now.
    Unavailable(String),
    /// The provider refused what was asked with the refresh token (scopes
    /// the grant lacks) before spending it: the session stays.
    Refused(String),
}

impl RefreshFailure {
    pub(crate) fn unavailable(error: Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// The token endpoint's answer, with the ID token OpenID Connect adds.
type TokenResponse = oauth2::StandardTokenResponse<IdTokenField, oauth2::basic::BasicTokenType>;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

/// The client as `oauth2` builds its requests: with no secret, so it puts
/// `client_id` in the body; [`ClientAuth`] adds the credentials.
type OAuthClient = oauth2::Client<
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

type ExchangeError = RequestTokenError<Error, oauth2::basic::BasicErrorResponse>;

const WHAT_INTROSPECTION: &str = "token introspection";

/// The `max_age` of a login no route asked one of. A provider must put
/// `auth_time` in the ID token of every login that sent `max_age` (OpenID
/// Connect Core 3.1.2.1), so the first visit to a step-up route right after
/// a login needs no second trip; 400 days, the longest a browser keeps a
/// cookie, is older than any provider session, so it never makes the user
/// log in again.
const AUTH_TIME_MAX_AGE: u64 = 400 * 24 * 60 * 60;

pub(crate) struct OidcClient {
    /// The provider's name in the app.
    name: String,
    provider: Arc<Provider>,
    verifier: TokenVerifier,
    client_id: String,
    credentials: ClientCredentials,
    redirect_url: Url,
    post_logout_redirect_url: Url,
    scopes: Vec<String>,
    /// The scopes are the library's default: only those the provider
    /// offers are asked for.
    default_scopes: bool,
    /// Said once: the provider offers no `offline_access`.
    told_no_refresh: AtomicBool,
    pushed_authorization: PushedAuthorization,
    response_mode: ResponseMode,
    profile: SecurityProfile,
    /// Bind each session's tokens to a key of its own (RFC 9449).
    dpop: bool,
    /// API clients' opaque tokens are asked of this provider.
    checks_opaque_tokens: bool,
    /// Ask userinfo at every login, not only when the ID token lacks the
    /// profile.
    userinfo_at_login: bool,
    /// The APIs a login asks tokens for.
    resources: Vec<Resource>,
}

/// What a login asks of the provider beyond the client's own settings.
#[derive(Clone, Copy)]
pub(crate) struct AuthorizationRequest<'a> {
    pub(crate) state: &'a State,
    pub(crate) nonce: &'a Nonce,
    /// `max_age` and `acr_values`.
    pub(crate) step_up: &'a StepUp,
    /// `prompt=none`.
    pub(crate) silent: bool,
    /// The key the session's tokens will be bound to (DPoP).
    pub(crate) dpop: Option<&'a DpopKey>,
    /// Where the answer comes back: the provider's redirect URL, at the
    /// request's host when the app follows it.
    pub(crate) redirect_url: &'a Url,
}

/// The pushed authorization request endpoint's answer (RFC 9126 2.2).
#[derive(serde::Deserialize)]
struct PushedRequest {
    request_uri: String,
}

impl OidcClient {
    /// The client of the provider `config` describes; `first`: the app's
    /// own provider, not one it added.
    pub(crate) fn new(config: &CivicAuthConfig, first: bool) -> Self {
        let provider = Arc::new(Provider::new(config));
        Self {
            verifier: TokenVerifier::new(
                provider.clone(),
                config.client_id.clone(),
                config.clock.clone(),
                config.profile.signing_algorithms(),
            ),
            name: config.provider_name.clone(),
            provider,
            client_id: config.client_id.clone(),
            credentials: config.credentials.clone(),
            redirect_url: config.redirect_url.clone(),
            post_logout_redirect_url: config.post_logout_redirect_url.clone(),
            scopes: config.scopes.clone(),
            default_scopes: config.default_scopes,
            told_no_refresh: AtomicBool::new(false),
            pushed_authorization: config.pushed_authorization,
            response_mode: config.response_mode,
            profile: config.profile,
            dpop: config.dpop,
            checks_opaque_tokens: config.introspect_opaque_tokens.unwrap_or(first),
            userinfo_at_login: config.userinfo_at_login,
            resources: config.resources.clone(),
        }
    }

    /// The provider's name in the app.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The scopes a login asks for, as configured.
    #[cfg(feature = "openapi")]
    pub(crate) fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Where this provider sends the browser back after a login.
    pub(crate) fn redirect_url(&self) -> &Url {
        &self.redirect_url
    }

    /// Where this provider sends the browser after a logout.
    pub(crate) fn post_logout_redirect_url(&self) -> &Url {
        &self.post_logout_redirect_url
    }

    /// Whether a login asks userinfo even when the ID token has the profile.
    pub(crate) fn userinfo_at_login(&self) -> bool {
        self.userinfo_at_login
    }

    /// Whether API clients' opaque tokens are asked of this provider.
    pub(crate) fn checks_opaque_tokens(&self) -> bool {
        self.checks_opaque_tokens
    }

    /// The APIs each login asks tokens for.
    pub(crate) fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The API the app named `indicator`, if it did.
    pub(crate) fn resource(&self, indicator: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.indicator == indicator)
    }

    /// The provider refused a login's APIs (`invalid_target`, RFC 8707 2):
    /// the app's settings must change, not the user.
    pub(crate) fn refused_resources(&self, description: Option<String>) -> Error {
        let asked: Vec<String> = (self.resources.iter())
            .map(|api| format!("`{}`", api.indicator))
            .collect();
        Error::ResourceRefused {
            resource: asked.join(", "),
            reason: description.unwrap_or_else(|| "invalid_target".into()),
        }
    }

    /// Whether logins bind their tokens to a DPoP key.
    pub(crate) fn uses_dpop(&self) -> bool {
        self.dpop
    }

    pub(crate) fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    pub(crate) fn provider(&self) -> &Provider {
        &self.provider
    }

    /// How this client authenticates at the provider `metadata` describes:
    /// every call that authenticates the client gets it here.
    pub(crate) fn client_auth(&self, metadata: &ProviderMetadata) -> Result<ClientAuth, Error> {
        ClientAuth::settle(
            &self.credentials,
            &self.client_id,
            metadata,
            self.profile.signing_algorithms(),
        )
    }

    /// Checks that the provider `metadata` describes offers everything a
    /// login of this client needs, naming all it lacks; how the client
    /// authenticates there. Every login starts here, and so does the
    /// start-up check.
    pub(crate) fn check_for_logins(
        &self,
        metadata: &ProviderMetadata,
    ) -> Result<ClientAuth, Error> {
        let mut lacking = Vec::new();
        if self.pushed_authorization == PushedAuthorization::Required
            && metadata.pushed_authorization_request_endpoint.is_none()
        {
            lacking.push("pushed authorization requests (`pushed_authorization_request_endpoint`; `pushed_authorization`, CIVIC_PAR)".to_owned());
        }
        if self.dpop
            && !lists_alg(
                &metadata.dpop_signing_alg_values_supported,
                jsonwebtoken::Algorithm::ES256,
            )
        {
            lacking.push(
                "DPoP with ES256 (`dpop_signing_alg_values_supported`; `dpop`, CIVIC_DPOP)"
                    .to_owned(),
            );
        }
        let modes = &metadata.response_modes_supported;
        let mode = self.response_mode.as_str();
        if self.response_mode != ResponseMode::Query
            && !modes.is_empty()
            && !modes.iter().any(|m| m == mode)
        {
            lacking.push(format!(
                "`response_mode={mode}` (`response_modes_supported`; `response_mode`, CIVIC_RESPONSE_MODE)"
            ));
        }
        if self.profile == SecurityProfile::Fapi2
            && !metadata.authorization_response_iss_parameter_supported
        {
            lacking.push("`iss` in authorization responses (`authorization_response_iss_parameter_supported`; the FAPI 2.0 profile)".to_owned());
        }
        let id_token_algs = &metadata.id_token_signing_alg_values_supported;
        if let Some(allowed) = self.profile.signing_algorithms() {
            if !id_token_algs.is_empty()
                && !allowed.iter().any(|alg| lists_alg(id_token_algs, *alg))
            {
                lacking.push("ID tokens signed with PS256, ES256 or EdDSA (`id_token_signing_alg_values_supported`; the FAPI 2.0 profile)".to_owned());
            }
        }
        match (self.client_auth(metadata), lacking.is_empty()) {
            (Ok(client), true) => Ok(client),
            (Err(error), true) => Err(error),
            (client, false) => {
                if let Err(error) = client {
                    lacking.push(error.to_string());
                }
                Err(Error::ProviderLacks(lacking.join("; ")))
            }
        }
    }

    fn oauth(&self, metadata: &ProviderMetadata, redirect_url: &Url) -> OAuthClient {
        oauth2::Client::new(oauth2::ClientId::new(self.client_id.clone()))
            .set_auth_uri(oauth2::AuthUrl::from_url(
                metadata.authorization_endpoint.clone(),
            ))
            .set_token_uri(oauth2::TokenUrl::from_url(metadata.token_endpoint.clone()))
            .set_redirect_uri(oauth2::RedirectUrl::from_url(redirect_url.clone()))
    }

    /// Where to send the browser to log in: PKCE S256 with a new verifier
    /// (returned, to keep until the callback), and what `login` asks;
    /// pushed to the provider first when [`PushedAuthorization`] says so.
    pub(crate) async fn authorization_url(
        &self,
        login: &AuthorizationRequest<'_>,
    ) -> Result<(Url, PkceVerifier), Error> {
        let AuthorizationRequest {
            state,
            nonce,
            step_up,
            silent,
            dpop,
            redirect_url,
        } = *login;
        let metadata = self.provider.metadata_for_redirect().await?;
        let client = self.check_for_logins(&metadata)?;
        let (challenge, verifier) = PkceVerifier::generate();
        let oauth = self.oauth(&metadata, redirect_url);
        let mut scopes = self.scopes_offered(&metadata);
        // Each API's scopes, so that the grant covers them (RFC 8707 2.1).
        for scope in self.resources.iter().flat_map(|r| &r.scopes) {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
        let mut request = oauth
            .authorize_url(|| CsrfToken::new(state.as_str().to_owned()))
            .set_pkce_challenge(challenge)
            .add_scopes(scopes.iter().map(|s| Scope::new(s.to_string())))
            .add_extra_param("nonce", nonce.as_str());
        for resource in &self.resources {
            request = request.add_extra_param("resource", &resource.indicator);
        }
        // `none` stands alone: a silent login gets no refresh token from a
        // provider that grants one only after asking for consent (Civic's
        // server, like oidc-provider).
        if silent {
            request = request.add_extra_param("prompt", "none");
        } else if scopes.contains(&"offline_access") {
            request = request.add_extra_param("prompt", "consent");
        }
        if self.response_mode != ResponseMode::Query {
            request = request.add_extra_param("response_mode", self.response_mode.as_str());
        }
        if !step_up.asks_max_age() {
            request = request.add_extra_param("max_age", AUTH_TIME_MAX_AGE.to_string());
        }
        for (name, value) in step_up.params() {
            request = request.add_extra_param(name, value);
        }
        // Binds the code to the key (RFC 9449 10): a stolen code is useless.
        if let Some(key) = dpop {
            request = request.add_extra_param("dpop_jkt", key.thumbprint());
        }
        let url = request.url().0;
        let pushed = match self.pushed_authorization {
            PushedAuthorization::Off => None,
            _ => metadata.pushed_authorization_request_endpoint.as_ref(),
        };
        match pushed {
            Some(endpoint) => Ok((
                self.push(&metadata, &client, endpoint, &url).await?,
                verifier,
            )),
            None => Ok((url, verifier)),
        }
    }

    /// The scopes a login asks for: the app's as set; the default ones
    /// only as far as a provider that lists its scopes offers them.
    fn scopes_offered<'s>(&'s self, metadata: &ProviderMetadata) -> Vec<&'s str> {
        let offered = |scope: &&str| {
            !self.default_scopes
                || metadata.scopes_supported.is_empty()
                || *scope == "openid"
                || metadata.scopes_supported.iter().any(|s| s == scope)
        };
        let scopes: Vec<&str> = self
            .scopes
            .iter()
            .map(String::as_str)
            .filter(offered)
            .collect();
        let dropped_refresh = !scopes.contains(&"offline_access")
            && self.scopes.iter().any(|s| s == "offline_access");
        if dropped_refresh && !self.told_no_refresh.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the provider does not offer `offline_access`: logins get no refresh token, so a session's tokens are not renewed when they expire"
            );
        }
        scopes
    }

    /// Pushes the request `url` carries (RFC 9126); the URL that sends the
    /// browser with only `client_id` and the provider's `request_uri`.
    async fn push(
        &self,
        metadata: &ProviderMetadata,
        client: &ClientAuth,
        endpoint: &Url,
        url: &Url,
    ) -> Result<Url, Error> {
        const WHAT: &str = "pushed authorization request";
        let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = self
            .provider
            .http
            .post_form(WHAT, endpoint, &form, client)
            .await
            .map_err(|error| match error {
                Error::ProviderRefused {
                    error, description, ..
                } if error == "invalid_target" => self.refused_resources(description),
                error => error,
            })?;
        let pushed: PushedRequest = parse(WHAT, &body)?;
        let mut browser_url = metadata.authorization_endpoint.clone();
        browser_url
            .query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("request_uri", &pushed.request_uri);
        Ok(browser_url)
    }

    /// RFC 9207: the authorization response's `iss` must be the provider's;
    /// it may be absent only from a provider that does not promise it, and
    /// never under the FAPI 2.0 profile.
    pub(crate) async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), Error> {
        let metadata = self.provider.metadata().await?;
        let promised = metadata.authorization_response_iss_parameter_supported
            || self.profile == SecurityProfile::Fapi2;
        match iss {
            Some(iss) if iss == metadata.issuer => Ok(()),
            None if !promised => Ok(()),
            _ => Err(Error::ResponseIssuerMismatch),
        }
    }

    /// Exchanges a login's code (with its PKCE verifier, the redirect URL
    /// the login sent, and a proof of its DPoP key) and verifies the ID
    /// token against the login's nonce.
    pub(crate) async fn exchange_code(
        &self,
        code: String,
        pkce: &PkceVerifier,
        nonce: &Nonce,
        dpop: Option<&DpopKey>,
        redirect_url: &Url,
    ) -> Result<LoginTokens, Error> {
        let metadata = self.provider.metadata().await?;
        let client = self.client_auth(&metadata)?;
        let method = client.method();
        let response = self
            .oauth(&metadata, redirect_url)
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(pkce.to_oauth2())
            .request_async(&self.provider.http.oauth2_client(client, dpop.cloned()))
            .await
            .map_err(|error| code_exchange_error(error, method))?;
        let tokens = token_set(&response);
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| Error::InvalidIdToken("the token response has no `id_token`".into()))?;
        let claims = self
            .verifier
            .verify(id_token, Expected::Id { nonce: Some(nonce) })
            .await?;
        Ok(LoginTokens { tokens, claims })
    }

    /// Uses `refresh_token` once, for the session's own tokens or, given
    /// `resource`, a token for that API (RFC 8707 2.2). A new ID token must
    /// be valid and about `sub`; when only its key cannot be fetched
    /// (provider unreachable), its `sub` is trusted, since it came straight
    /// from the token endpoint (OpenID Connect Core 12.2), rather than
    /// losing the rotated tokens.
    pub(crate) async fn refresh(
        &self,
        refresh_token: &str,
        sub: &str,
        dpop: Option<&DpopKey>,
        resource: Option<&Resource>,
    ) -> Result<TokenSet, RefreshFailure> {
        let metadata = self
            .provider
            .metadata()
            .await
            .map_err(RefreshFailure::unavailable)?;
        let client = self
            .client_auth(&metadata)
            .map_err(RefreshFailure::unavailable)?;
        let method = client.method();
        let oauth = self.oauth(&metadata, &self.redirect_url);
        let refresh_token = RefreshToken::new(refresh_token.to_owned());
        let mut request = oauth.exchange_refresh_token(&refresh_token);
        if let Some(resource) = resource {
            request = request
                .add_extra_param("resource", &resource.indicator)
                .add_scopes(resource.scopes.iter().cloned().map(Scope::new));
        }
        let response = request
            .request_async(&self.provider.http.oauth2_client(client, dpop.cloned()))
            .await
            .map_err(|error| refresh_error(error, method))?;
        let tokens = token_set(&response);
        if let Some(id_token) = &tokens.id_token {
            let expected = Expected::Id { nonce: None };
            let refreshed_sub = match self.verifier.verify(id_token, expected).await {
                Ok(claims) => claims.sub().map(str::to_owned),
                Err(Error::ProviderUnavailable { .. }) => unverified_sub(id_token),
                Err(error) => return Err(RefreshFailure::Ended(error.to_string())),
            };
            if refreshed_sub.as_deref() != Some(sub) {
                return Err(RefreshFailure::Ended(
                    "the refreshed ID token is about another user".into(),
                ));
            }
        }
        Ok(tokens)
    }

    /// Claims from the userinfo endpoint for `access_token` (bound to
    /// `dpop`'s key, when given); `None` when the provider has no such
    /// endpoint.
    pub(crate) async fn userinfo(
        &self,
        access_token: &str,
        dpop: Option<&DpopKey>,
    ) -> Result<Option<Map<String, Value>>, Error> {
        let metadata = self.provider.metadata().await?;
        let Some(url) = &metadata.userinfo_endpoint else {
            return Ok(None);
        };
        self.provider
            .http
            .get_json(
                "userinfo",
                url,
                Some(Credential {
                    token: access_token,
                    dpop,
                }),
            )
            .await
            .map(Some)
    }

    /// The provider's userinfo endpoint, for the app's own calls.
    pub(crate) async fn userinfo_endpoint(&self) -> Result<Url, Error> {
        self.provider
            .metadata()
            .await?
            .userinfo_endpoint
            .clone()
            .ok_or_else(|| Error::ProviderLacks("a userinfo endpoint".into()))
    }

    /// The provider's introspection endpoint (RFC 7662), if it has one.
    pub(crate) async fn introspection_endpoint(&self) -> Result<Option<Url>, Error> {
        Ok(self
            .provider
            .metadata()
            .await?
            .introspection_endpoint
            .clone())
    }

    /// What the introspection `endpoint` says of `token`. The provider
    /// answers `active` only for tokens it issued to this client.
    pub(crate) async fn introspect(
        &self,
        endpoint: &Url,
        token: &str,
    ) -> Result<Map<String, Value>, Error> {
        let body = self
            .post_token(WHAT_INTROSPECTION, endpoint, token, "access_token")
            .await?;
        parse(WHAT_INTROSPECTION, &body)
    }

    /// Revokes `token` (RFC 7009) when the provider has a revocation endpoint.
    pub(crate) async fn revoke(&self, token: &str, hint: &'static str) -> Result<(), Error> {
        let metadata = self.provider.metadata().await?;
        let Some(endpoint) = &metadata.revocation_endpoint else {
            return Ok(());
        };
        self.post_token("token revocation", endpoint, token, hint)
            .await
            .map(drop)
    }

    /// Posts `token` with its type to `url`, as this client; the answer's
    /// body.
    async fn post_token(
        &self,
        what: &'static str,
        url: &Url,
        token: &str,
        hint: &str,
    ) -> Result<Vec<u8>, Error> {
        let client = self.client_auth(&*self.provider.metadata().await?)?;
        let form = [("token", token), ("token_type_hint", hint)];
        self.provider
            .http
            .post_form(what, url, &form, &client)
            .await
    }

    /// The client this app is at the provider.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The provider's end-session URL (RP-initiated logout) with
    /// `id_token_hint`, `client_id`, `post_logout_redirect_uri` and, when
    /// the app can check it on return, `state`. `None` when the provider
    /// has no such endpoint or cannot be reached.
    pub(crate) async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_url: &Url,
        state: Option<&State>,
    ) -> Option<Url> {
        let metadata = self.provider.metadata_for_redirect().await.ok()?;
        let mut url = metadata.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(id_token) = id_token_hint {
                query.append_pair("id_token_hint", id_token);
            }
            query.append_pair("client_id", &self.client_id).append_pair(
                "post_logout_redirect_uri",
                post_logout_redirect_url.as_str(),
            );
            if let Some(state) = state {
                query.append_pair("state", state.as_str());
            }
        }
        Some(url)
    }
}

fn token_set(response: &TokenResponse) -> TokenSet {
    TokenSet {
        access_token: response.access_token().secret().clone(),
        expires_in: response.expires_in(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        id_token: response.extra_fields().id_token.clone(),
        dpop_bound: response.token_type().as_ref().eq_ignore_ascii_case("dpop"),
    }
}

/// The `sub` of a token whose signature could not be checked now.
fn unverified_sub(token: &str) -> Option<String> {
    let data = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token).ok()?;
    data.claims.get("sub")?.as_str().map(str::to_owned)
}

fn code_exchange_error(err: ExchangeError, method: ClientAuthMethod) -> Error {
    use oauth2::basic::BasicErrorResponseType as Kind;
    match err {
        RequestTokenError::ServerResponse(resp) if *resp.error() == Kind::InvalidClient => {
            refused_at_token_endpoint(method, &resp)
        }
        // A provider that is busy or failing is not the user's fault.
        RequestTokenError::ServerResponse(resp) if matches!(resp.error(), Kind::Extension(e) if e == "temporarily_unavailable" || e == "server_error") => {
            Error::ProviderUnavailable {
                what: "token response",
                reason: resp.error().to_string(),
            }
        }
        RequestTokenError::ServerResponse(resp) => Error::CodeExchange(described(&resp)),
        RequestTokenError::Request(e) => e,
        RequestTokenError::Parse(e, _) => Error::ProviderResponse {
            what: "token response",
            reason: format!("not the expected JSON ({e})"),
        },
        RequestTokenError::Other(reason) => Error::ProviderResponse {
            what: "token response",
            reason,
        },
    }
}

/// The token endpoint refused the client's credentials.
fn refused_at_token_endpoint(
    method: ClientAuthMethod,
    resp: &oauth2::basic::BasicErrorResponse,
) -> Error {
    method.refused("token endpoint", described(resp))
}

/// The provider's error code and description.
fn described(resp: &oauth2::basic::BasicErrorResponse) -> String {
    format!(
        "{}{}",
        resp.error(),
        resp.error_description()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )
}

/// Only a refused grant ends a session; a busy provider, or one that
/// refuses the app's own credentials, does not.
fn refresh_error(err: ExchangeError, method: ClientAuthMethod) -> RefreshFailure {
    match err {
        RequestTokenError::ServerResponse(resp)
            if *resp.error() == oauth2::basic::BasicErrorResponseType::InvalidClient =>
        {
            RefreshFailure::unavailable(refused_at_token_endpoint(method, &resp))
        }
        RequestTokenError::ServerResponse(resp)
            if matches!(
                resp.error(),
                oauth2::basic::BasicErrorResponseType::InvalidGrant
            ) =>
        {
            RefreshFailure::Ended("the provider refused the refresh token (invalid_grant)".into())
        }
        // Checked before the refresh token is spent.
        RequestTokenError::ServerResponse(resp)
            if *resp.error() == oauth2::basic::BasicErrorResponseType::InvalidScope =>
        {
            RefreshFailure::Refused(described(&resp))
        }
        RequestTokenError::ServerResponse(resp) if refused_api(resp.error()) => {
            RefreshFailure::Ended(format!(
                "the provider refused an API the login had asked for, and may have spent the refresh token: {}",
                printable(&described(&resp))
            ))
        }
        RequestTokenError::ServerResponse(resp) => RefreshFailure::Unavailable(format!(
            "the provider answered {}",
            printable(resp.error().as_ref())
        )),
        RequestTokenError::Request(error) => RefreshFailure::unavailable(error),
        other => RefreshFailure::Unavailable(other.to_string()),
    }
}

/// `invalid_target`: an API the provider no longer grants. oidc-provider
/// (Civic's) refuses it only after spending the refresh token.
fn refused_api(kind: &oauth2::basic::BasicErrorResponseType) -> bool {
    matches!(kind, oauth2::basic::BasicErrorResponseType::Extension(kind) if kind == "invalid_target")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_SCOPES;

    fn client(scopes: Option<&str>) -> OidcClient {
        let mut config = CivicAuthConfig::quickstart();
        if let Some(scopes) = scopes {
            config = config.scopes(scopes.split(' '));
        }
        OidcClient::new(&config.build().unwrap(), true)
    }

    fn offering(scopes: &[&str]) -> ProviderMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.example/",
            "authorization_endpoint": "https://idp.example/auth",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "scopes_supported": scopes,
        }))
        .unwrap()
    }

    #[test]
    fn default_scopes_are_asked_as_far_as_offered_and_the_loss_is_said_once() {
        let defaults = client(None);
        let all: Vec<&str> = DEFAULT_SCOPES.split(' ').collect();
        assert_eq!(defaults.scopes_offered(&offering(&[])), all);
        assert_eq!(defaults.scopes_offered(&offering(&all)), all);
        assert!(!defaults.told_no_refresh.load(Ordering::Relaxed));
        // `openid` is kept even when a provider forgets to list it.
        let without = offering(&["email", "profile"]);
        assert_eq!(
            defaults.scopes_offered(&without),
            ["openid", "email", "profile"]
        );
        assert!(defaults.told_no_refresh.load(Ordering::Relaxed), "said");

        // The app's own choice is sent as it is.
        let chosen = client(Some("openid offline_access"));
        let asked = chosen.scopes_offered(&without);
        assert_eq!(asked, ["openid", "offline_access"]);
        assert!(!chosen.told_no_refresh.load(Ordering::Relaxed));
        // An app that never asked for it loses nothing.
        let plain = client(Some("openid"));
        plain.scopes_offered(&without);
        assert!(!plain.told_no_refresh.load(Ordering::Relaxed));
    }

    #[test]
    fn only_a_refused_grant_ends_a_session_and_only_what_was_asked_is_refused() {
        use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType as Kind};
        let answer = |kind: Kind| {
            let said = BasicErrorResponse::new(kind, Some("said".into()), None);
            refresh_error(
                RequestTokenError::ServerResponse(said),
                ClientAuthMethod::None,
            )
        };
        let extension = |kind: &str| answer(Kind::Extension(kind.into()));
        assert!(matches!(
            answer(Kind::InvalidGrant),
            RefreshFailure::Ended(_)
        ));
        // oidc-provider spends the refresh token before it finds the API
        // unknown: the session cannot go on.
        let spent = extension("invalid_target");
        assert!(
            matches!(&spent, RefreshFailure::Ended(why) if why.contains("said")),
            "{spent:?}"
        );
        let refused = answer(Kind::InvalidScope);
        assert!(
            matches!(&refused, RefreshFailure::Refused(why) if why.contains("said")),
            "{refused:?}"
        );
        for kept in [
            answer(Kind::InvalidClient),
            answer(Kind::InvalidRequest),
            extension("server_error"),
            extension("temporarily_unavailable"),
        ] {
            assert!(matches!(kept, RefreshFailure::Unavailable(_)), "{kept:?}");
        }
    }
}
