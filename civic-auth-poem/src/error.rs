//! The one error type of the crate, and how each error is answered over HTTP.

use poem::{
    http::{header, StatusCode},
    IntoResponse, Response,
};

/// Everything that can go wrong, in words a user can act on.
///
/// Configuration errors come back from start-up calls; request-time errors
/// become HTTP answers (a readable page for browsers, JSON for API clients),
/// never a 500 for bad input. No variant carries a token, code or secret,
/// and none prints a control character: text from a request, the provider
/// or the app's hooks is shown escaped, so a logged error is one log line.
///
/// ```
/// use civic_auth_poem::{CivicAuthConfig, Error};
///
/// let err = CivicAuthConfig::builder().build().unwrap_err();
/// assert!(matches!(err, Error::MissingConfig { field: "client_id", .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required setting is absent.
    #[error(
        "`{field}` is required: set it on the config builder or in the {env} environment variable"
    )]
    MissingConfig {
        /// The config field.
        field: &'static str,
        /// The environment variable that sets it.
        env: &'static str,
    },

    /// A setting has a value the library cannot use.
    #[error(
        "`{field}` is invalid (got `{}`): {}",
        printable(value),
        printable(reason)
    )]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// The session secret is too short to derive keys from.
    #[error("the session secret must be at least {min} bytes long (got {len}); generate one with `openssl rand -base64 48`")]
    WeakSessionSecret {
        /// The length given.
        len: usize,
        /// The minimum length.
        min: usize,
    },

    /// The provider could not be reached in time.
    #[error(
        "the login provider could not be reached ({what}): {}",
        printable(reason)
    )]
    ProviderUnavailable {
        /// What was being fetched.
        what: &'static str,
        /// The transport error.
        reason: String,
    },

    /// The provider refused a request of the app's with an OAuth error.
    #[error("the login provider refused the {what}: {}{}", printable(error), description.as_deref().map(|d| format!(" ({})", printable(d))).unwrap_or_default())]
    ProviderRefused {
        /// What was asked.
        what: &'static str,
        /// The OAuth error code, e.g. `invalid_request`.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },

    /// The provider answered, but with something unusable.
    #[error("the login provider sent an unusable {what}: {}", printable(reason))]
    ProviderResponse {
        /// What was being fetched.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The provider's discovery document names another issuer than configured.
    #[error(
        "the provider at `{}` says its issuer is `{}`; set `oauth_server` to the provider's issuer",
        printable(configured),
        printable(advertised)
    )]
    IssuerMismatch {
        /// `oauth_server` from the config.
        configured: String,
        /// `issuer` from the discovery document.
        advertised: String,
    },

    /// The provider takes none of the client authentication methods the
    /// app is set up for.
    #[error("the login provider accepts client authentication by {} and this app is set up for {}: set `client_secret` (CIVIC_CLIENT_SECRET), `client_key` (CIVIC_CLIENT_KEY) or `client_auth_method` (CIVIC_CLIENT_AUTH_METHOD) to one it accepts", printable(offered), printable(usable))]
    ClientAuthUnsupported {
        /// What the provider advertises.
        offered: String,
        /// What the app's settings allow.
        usable: String,
    },

    /// The provider does not offer what the app's settings require.
    #[error("the login provider does not offer what this app requires: {}", printable(.0))]
    ProviderLacks(String),

    /// The provider refused the app's client credentials.
    #[error("the login provider refused this app's client authentication ({method}) at its {what}: {}; check `client_id` (CIVIC_CLIENT_ID) and {setting} against the app's registration at the provider", printable(reason))]
    ClientRefused {
        /// The endpoint.
        what: &'static str,
        /// The method used, as registered (`client_secret_basic`, ...).
        method: &'static str,
        /// The settings that give the app what the method needs.
        setting: &'static str,
        /// What the provider said.
        reason: String,
    },

    /// The provider sent the browser back with `error=`.
    #[error("the login provider refused the login: {}{}", printable(error), description.as_deref().map(|d| format!(" ({})", printable(d))).unwrap_or_default())]
    LoginRefused {
        /// The OAuth error code, e.g. `access_denied`.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },

    /// A callback lacks a parameter it must have.
    #[error("the login callback is missing its `{0}` parameter; start the login again")]
    MissingCallbackParameter(&'static str),

    /// A login's answer came back another way than the app asks for it
    /// (`response_mode`): a form-posted answer must not be taken from a URL.
    #[error("this login's answer came {got}, and this app takes it {expected} (`response_mode`, CIVIC_RESPONSE_MODE); start the login again")]
    WrongResponseMode {
        /// How it came.
        got: &'static str,
        /// How the app takes it.
        expected: &'static str,
    },

    /// The callback's `state` does not belong to a login this browser started,
    /// or that login was already finished or has expired.
    #[error("this login was not started in this browser, has expired, or was already completed; start the login again")]
    StateMismatch,

    /// The logout callback's `state` is not the one this browser's logout
    /// sent, or that logout has expired.
    #[error("this logout was not started in this browser, or has expired; if you meant to log out, use the app's logout link")]
    LogoutStateMismatch,

    /// A logout was posted from another site's page.
    #[error("a logout can only be sent from this app's own pages")]
    CrossSiteLogout,

    /// The callback's `iss` (RFC 9207) is missing or names another provider.
    #[error("the login response came from an unexpected issuer; start the login again")]
    ResponseIssuerMismatch,

    /// The provider refused to exchange the code for tokens.
    #[error("the login provider refused the code exchange: {}; start the login again", printable(.0))]
    CodeExchange(String),

    /// The ID token failed verification.
    #[error("the ID token from the login provider was rejected: {}", printable(.0))]
    InvalidIdToken(String),

    /// The provider's userinfo answer at login failed a check.
    #[error("the login was refused: the provider's userinfo answer was rejected: {}; start the login again", printable(.0))]
    InvalidUserinfo(String),

    /// An `Authorization: Bearer` token was refused.
    #[error("the bearer token was refused: {}", printable(.0))]
    InvalidBearerToken(String),

    /// The logged-in user lacks a claim the route requires.
    #[error("access denied: {}", printable(.0))]
    Forbidden(String),

    /// The server-side session store cannot be reached.
    #[error("the session store is unavailable ({}); try again shortly", printable(.0))]
    SessionStoreUnavailable(String),

    /// More one-time values of a kind (logins finishing, DPoP proofs,
    /// logout tokens) arrived within their lifetime than the app can
    /// remember as used; new ones are refused until old ones expire.
    #[error("too many {0} at once for the app to remember which were used; try again shortly")]
    TooManyAtOnce(&'static str),

    /// `/auth/logout` could not end the session (the store did not answer):
    /// it may live on, so nothing of the logout was done.
    #[error("the logout was not finished, so you may still be logged in: {}; log out again in a moment", printable(.0))]
    LogoutUnfinished(String),

    /// Back-channel logout was called on an app whose sessions live in cookies.
    #[error("back-channel logout needs a server-side session store (memory or Redis): cookie sessions cannot be ended from the server")]
    BackchannelNeedsStore,

    /// A back-channel `logout_token` failed validation.
    #[error("the logout token was rejected: {}", printable(.0))]
    InvalidLogoutToken(String),

    /// The request carries no valid session.
    #[error("log in first: this page needs a logged-in user")]
    NotLoggedIn,

    /// The user is logged in, but this route needs a more recent or a
    /// stronger login (`max_age`, `acr`): log in again.
    #[error(
        "log in again: this needs a newer or stronger login ({})",
        printable(reason)
    )]
    StepUpRequired {
        /// What the current login lacks.
        reason: String,
        /// The `WWW-Authenticate` challenge that says what the route
        /// requires (RFC 9470: `max_age`, `acr_values`).
        challenge: String,
    },

    /// A login asked for a recent or stronger authentication, and the
    /// provider's ID token does not show one.
    #[error("the login does not meet what this page requires: {}", printable(.0))]
    StepUpRefused(String),

    /// `/auth/login` was called with parameters it cannot use.
    #[error("the login request is invalid: {}", printable(.0))]
    InvalidLoginRequest(String),

    /// An `Authorization: DPoP` request's proof (RFC 9449) is missing or
    /// not valid for this request and token.
    #[error("the DPoP proof was refused: {}", printable(.0))]
    InvalidDpopProof(String),

    /// The app's login hook refused the login; the reason is the app's.
    #[error("this login was refused: {}", printable(.0))]
    LoginDeniedByApp(String),

    /// The app data of the login hook, or what a handler asked of it, does
    /// not fit the session.
    #[error("session app data: {}", printable(.0))]
    AppData(String),

    /// A session too large for the cookies browsers send back.
    #[error("the session is {bytes} bytes sealed, more than the {limit} bytes of cookies the app reads back: keep less app data, ask for fewer profile claims, or use a server-side session store")]
    SessionTooLarge {
        /// Its sealed size.
        bytes: usize,
        /// The most the app reads.
        limit: usize,
    },

    /// A handler asked for the user outside a `#[civic_auth_required]` handler.
    #[error("no user here: call `get_civic_user()` inside a handler marked `#[civic_auth_required]`, or take `Option<CivicUser>` as a parameter")]
    NoUserInScope,

    /// A login asked for a provider the app does not have.
    #[error("this app has no provider named `{}`: log in from the app's login page", printable(.0))]
    UnknownProvider(String),

    /// A login's answer came back where another provider than the one the
    /// login was started at sends its answers (a mix-up attack, or a login
    /// link followed in the wrong place).
    #[error("this login was started at provider `{}`, but the answer came back at another provider's address; start the login again", printable(.0))]
    AnswerFromAnotherProvider(String),

    /// The route serves only users of another provider.
    #[error(
        "this page is for users who logged in with `{}`: log out and log in with it",
        printable(required)
    )]
    WrongProvider {
        /// The provider the route requires.
        required: String,
    },

    /// A login at a tenant's host asked for another provider than the
    /// tenant's.
    #[error("logins here are with `{}` only", printable(.0))]
    TenantLogin(String),

    /// A request for a host the app does not serve (an app with tenants
    /// serves only theirs).
    #[error("this app does not serve the host `{}`", printable(.0))]
    UnknownHost(String),

    /// A handler asked for the session's access token on a request that
    /// has no session: an API client's call with its own token.
    #[error("this route calls APIs with a logged-in browser's tokens, and this request has no session (it came with its own token)")]
    SessionRequired,

    /// The session's access token has expired and cannot be renewed (the
    /// login asked for no refresh token): log in again.
    #[error("log in again: the access token for calling APIs has expired, and this session cannot renew it (ask for the `offline_access` scope to renew it)")]
    AccessTokenExpired,

    /// The session's access token is (about to be) expired, and renewing
    /// it failed for now.
    #[error("the access token for calling APIs could not be renewed now (the provider did not answer): try again shortly")]
    AccessTokenNotRenewed,

    /// A handler asked for a token for an API that the settings of the
    /// user's provider do not name.
    #[error("this app asked for a token for the API `{}`, which the settings of the provider `{}` do not name: add it with `resource(...)` (CIVIC_RESOURCES)", printable(resource), printable(provider))]
    UnknownResource {
        /// The API's resource indicator, as asked.
        resource: String,
        /// The provider's name in the app.
        provider: String,
    },

    /// The session cannot get a token for an API: its login did not ask
    /// for it (the app named it later) or brought no refresh token.
    #[error("log in again: this session cannot get a token for the API `{}` (its login did not ask for it, or got no refresh token)", printable(.0))]
    ResourceNotGranted(String),

    /// The provider refused tokens for the app's APIs: it does not know
    /// one, or not with those scopes.
    #[error("the login provider refused tokens for the API {}: {}; check that the provider knows it with these scopes (`resource`, CIVIC_RESOURCES)", printable(resource), printable(reason))]
    ResourceRefused {
        /// The API's resource indicator (or all those a login asked for).
        resource: String,
        /// What the provider said.
        reason: String,
    },

    /// A call to an API with the user's token could not be made.
    #[error("the API call failed: {}", printable(.0))]
    ApiCall(String),

    /// A call through the proxy cannot be forwarded as it is.
    #[error("this call cannot go through the proxy: {}", printable(.0))]
    BadProxyRequest(String),

    /// A request's body is longer than the proxy forwards.
    #[error("the request's body is longer than the proxy forwards ({0} bytes)")]
    BodyTooLarge(usize),

    /// The app forgot to wire the middleware.
    #[error("Civic Auth is not installed on this route: add `.with(auth)` (the `CivicAuth` value) to the app's `Route`")]
    MiddlewareMissing,
}

impl Error {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MissingConfig { .. }
            | Error::InvalidConfig { .. }
            | Error::WeakSessionSecret { .. }
            | Error::NoUserInScope
            | Error::MiddlewareMissing
            | Error::UnknownResource { .. }
            | Error::AppData(_)
            | Error::SessionTooLarge { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Error::ProviderUnavailable { .. }
            | Error::SessionStoreUnavailable(_)
            | Error::TooManyAtOnce(_)
            | Error::LogoutUnfinished(_)
            | Error::AccessTokenNotRenewed => StatusCode::SERVICE_UNAVAILABLE,
            Error::BackchannelNeedsStore => StatusCode::NOT_IMPLEMENTED,
            Error::InvalidLogoutToken(_) => StatusCode::BAD_REQUEST,
            Error::ProviderResponse { .. }
            | Error::IssuerMismatch { .. }
            | Error::ClientAuthUnsupported { .. }
            | Error::ProviderLacks(_)
            | Error::ClientRefused { .. }
            | Error::ProviderRefused { .. }
            | Error::ResourceRefused { .. }
            | Error::ApiCall(_) => StatusCode::BAD_GATEWAY,
            Error::LoginRefused { .. }
            | Error::MissingCallbackParameter(_)
            | Error::WrongResponseMode { .. }
            | Error::StateMismatch
            | Error::LogoutStateMismatch
            | Error::ResponseIssuerMismatch
            | Error::CodeExchange(_)
            | Error::InvalidIdToken(_)
            | Error::InvalidUserinfo(_)
            | Error::InvalidLoginRequest(_)
            | Error::UnknownProvider(_)
            | Error::AnswerFromAnotherProvider(_)
            | Error::UnknownHost(_)
            | Error::TenantLogin(_)
            | Error::BadProxyRequest(_) => StatusCode::BAD_REQUEST,
            Error::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::NotLoggedIn
            | Error::AccessTokenExpired
            | Error::ResourceNotGranted(_)
            | Error::InvalidBearerToken(_)
            | Error::InvalidDpopProof(_)
            | Error::StepUpRequired { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_)
            | Error::CrossSiteLogout
            | Error::StepUpRefused(_)
            | Error::WrongProvider { .. }
            | Error::SessionRequired
            | Error::LoginDeniedByApp(_) => StatusCode::FORBIDDEN,
        }
    }

    /// A short machine-readable code for JSON answers.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingConfig { .. } | Error::InvalidConfig { .. } => "invalid_config",
            Error::WeakSessionSecret { .. } => "weak_session_secret",
            Error::ProviderUnavailable { .. } => "provider_unavailable",
            Error::SessionStoreUnavailable(_) => "session_store_unavailable",
            Error::TooManyAtOnce(_) => "too_many_at_once",
            Error::LogoutUnfinished(_) => "logout_unfinished",
            Error::BackchannelNeedsStore => "backchannel_needs_store",
            Error::InvalidLogoutToken(_) => "invalid_request",
            Error::ProviderResponse { .. } => "provider_error",
            Error::IssuerMismatch { .. } => "issuer_mismatch",
            Error::ClientAuthUnsupported { .. } => "client_auth_unsupported",
            Error::ClientRefused { .. } => "client_refused",
            Error::ProviderLacks(_) => "provider_lacks",
            Error::LoginRefused { .. } => "login_refused",
            Error::MissingCallbackParameter(_) | Error::WrongResponseMode { .. } => {
                "invalid_callback"
            }
            Error::StateMismatch | Error::LogoutStateMismatch => "state_mismatch",
            Error::ResponseIssuerMismatch => "issuer_mismatch",
            Error::CodeExchange(_) => "code_exchange_failed",
            Error::InvalidIdToken(_) => "invalid_id_token",
            Error::InvalidUserinfo(_) => "invalid_userinfo",
            Error::NotLoggedIn => "unauthorized",
            Error::StepUpRequired { .. } => "insufficient_user_authentication",
            Error::StepUpRefused(_) => "step_up_refused",
            Error::InvalidLoginRequest(_) => "invalid_request",
            Error::InvalidBearerToken(_) => "invalid_token",
            Error::InvalidDpopProof(_) => "invalid_dpop_proof",
            Error::Forbidden(_) => "forbidden",
            Error::CrossSiteLogout => "cross_site_logout",
            Error::NoUserInScope => "no_user_in_scope",
            Error::MiddlewareMissing => "middleware_missing",
            Error::UnknownProvider(_) => "unknown_provider",
            Error::AnswerFromAnotherProvider(_) => "wrong_provider_answer",
            Error::WrongProvider { .. } => "wrong_provider",
            Error::UnknownHost(_) => "unknown_host",
            Error::TenantLogin(_) => "tenant_login",
            Error::LoginDeniedByApp(_) => "login_denied",
            Error::AppData(_) => "app_data",
            Error::SessionTooLarge { .. } => "session_too_large",
            Error::SessionRequired => "session_required",
            Error::AccessTokenExpired => "access_token_expired",
            Error::AccessTokenNotRenewed => "access_token_not_renewed",
            Error::UnknownResource { .. } => "unknown_resource",
            Error::ResourceNotGranted(_) => "resource_not_granted",
            Error::ResourceRefused { .. } => "resource_refused",
            Error::ProviderRefused { .. } => "provider_refused",
            Error::ApiCall(_) => "api_unavailable",
            Error::BadProxyRequest(_) => "invalid_request",
            Error::BodyTooLarge(_) => "body_too_large",
        }
    }

    /// The answer for a browser: a small HTML page that says what happened,
    /// with a link to `start`, the app's start page.
    pub(crate) fn html_page(&self, start: &str) -> Response {
        let title = self.status().canonical_reason().unwrap_or("Login error");
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{}</p><p><a href=\"{}\">Back to the start</a></p></body></html>",
            escape_html(&self.to_string()),
            escape_html(start)
        );
        Response::builder()
            .status(self.status())
            .content_type("text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body)
    }

    /// The answer for an API client: an [`ErrorBody`] as JSON.
    pub(crate) fn json_body(&self) -> Response {
        let body = ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
        };
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("application/json; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(serde_json::to_string(&body).unwrap_or_default());
        let challenge = match self {
            Error::NotLoggedIn | Error::AccessTokenExpired | Error::ResourceNotGranted(_) => Some(
                header::HeaderValue::from_static("Bearer realm=\"civic-auth\""),
            ),
            Error::InvalidBearerToken(_) => Some(header::HeaderValue::from_static(
                "Bearer realm=\"civic-auth\", error=\"invalid_token\"",
            )),
            Error::InvalidDpopProof(_) => Some(header::HeaderValue::from_static(
                "DPoP realm=\"civic-auth\", error=\"invalid_dpop_proof\", algs=\"ES256\"",
            )),
            Error::StepUpRequired { challenge, .. } => {
                header::HeaderValue::try_from(challenge.as_str()).ok()
            }
            _ => None,
        };
        if let Some(challenge) = challenge {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        resp
    }
}

/// The JSON body of every error answer to an API client, as documented in
/// the OpenAPI spec.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ErrorBody {
    /// A short machine-readable code, such as `unauthorized` or `forbidden`.
    pub error: String,
    /// What went wrong, in words a person can act on.
    pub message: String,
}

impl poem::error::ResponseError for Error {
    fn status(&self) -> StatusCode {
        Error::status(self)
    }

    fn as_response(&self) -> Response {
        self.json_body()
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.json_body()
    }
}

/// `url` with the password, if any, replaced by `***`.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, hosts)) => {
            let user = credentials.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{hosts}")
        }
        None => url.to_owned(),
    }
}

/// Text from a request or the provider with its control characters escaped
/// (`\n`, `\u{1b}`), so that logging it cannot forge a log line or reach
/// the terminal.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn provider_text_is_escaped_in_pages() {
        let err = Error::LoginRefused {
            error: "access_denied".into(),
            description: Some("<script>alert(1)</script>".into()),
        };
        let page = err
            .html_page("/app/")
            .into_body()
            .into_string()
            .await
            .unwrap();
        assert!(page.contains("<a href=\"/app/\">"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }

    #[test]
    fn text_from_outside_is_printed_without_control_characters() {
        let err = Error::LoginRefused {
            error: "access_denied\r\n".into(),
            description: Some("x\nFORGED \u{1b}[31m".into()),
        };
        let shown = err.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("x\\nFORGED \\u{1b}[31m"), "{shown}");
        assert!(Error::CodeExchange("a\tb".into())
            .to_string()
            .contains("a\\tb"));
        assert_eq!(printable("plain text"), "plain text");
    }

    #[test]
    fn no_error_prints_a_control_character() {
        let text = || String::from("x\nFORGED \u{1b}[31m");
        let errors = [
            Error::InvalidConfig {
                field: "f",
                value: text(),
                reason: text(),
            },
            Error::ProviderUnavailable {
                what: "w",
                reason: text(),
            },
            Error::ProviderResponse {
                what: "w",
                reason: text(),
            },
            Error::IssuerMismatch {
                configured: text(),
                advertised: text(),
            },
            Error::ClientAuthUnsupported {
                offered: text(),
                usable: text(),
            },
            Error::ProviderLacks(text()),
            Error::ClientRefused {
                what: "w",
                method: "m",
                setting: "s",
                reason: text(),
            },
            Error::LoginRefused {
                error: text(),
                description: Some(text()),
            },
            Error::ProviderRefused {
                what: "w",
                error: text(),
                description: Some(text()),
            },
            Error::UnknownResource {
                resource: text(),
                provider: text(),
            },
            Error::ResourceNotGranted(text()),
            Error::ResourceRefused {
                resource: text(),
                reason: text(),
            },
            Error::CodeExchange(text()),
            Error::InvalidIdToken(text()),
            Error::InvalidUserinfo(text()),
            Error::InvalidBearerToken(text()),
            Error::Forbidden(text()),
            Error::SessionStoreUnavailable(text()),
            Error::LogoutUnfinished(text()),
            Error::InvalidLogoutToken(text()),
            Error::StepUpRequired {
                reason: text(),
                challenge: String::new(),
            },
            Error::StepUpRefused(text()),
            Error::InvalidLoginRequest(text()),
            Error::InvalidDpopProof(text()),
            Error::LoginDeniedByApp(text()),
            Error::AppData(text()),
            Error::UnknownProvider(text()),
            Error::AnswerFromAnotherProvider(text()),
            Error::WrongProvider { required: text() },
            Error::UnknownHost(text()),
            Error::TenantLogin(text()),
        ];
        for error in errors {
            let shown = error.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
            assert!(shown.contains("x\\nFORGED \\u{1b}[31m"), "{shown}");
        }
    }

    #[test]
    fn unauthorized_json_carries_www_authenticate() {
        let resp = Error::NotLoggedIn.json_body();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
