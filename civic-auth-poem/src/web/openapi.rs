#![doc = include_str!("../docs/openapi.md")]

use std::{
    borrow::Cow,
    collections::BTreeMap,
    marker::PhantomData,
    sync::{Arc, Mutex},
};

use poem::{
    endpoint::BoxEndpoint, web::Html, Endpoint, EndpointExt, IntoResponse, Request, Response, Route,
};
use poem_openapi::{
    registry::{
        MetaApi, MetaHeader, MetaMediaType, MetaOperation, MetaOperationParam, MetaParamIn,
        MetaPath, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef,
        MetaSecurityScheme, MetaTag, Registry,
    },
    types::{ToJSON, Type},
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, OpenApi, OpenApiService,
    Webhook,
};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::{
    endpoint::{route_endpoints, Answer, CALLBACK_PARAMETERS, ROUTES},
    extract::Authenticated,
    middleware::RequestAuth,
};
use crate::{
    cookie::{CookieNames, SESSION_COOKIE},
    error::Error,
    error::ErrorBody,
    step_up::{NoStepUp, StepUpPolicy},
    user::CivicUser,
    web::auth::CivicAuth,
    web::endpoint::CivicAuthEndpoint,
};

/// The security scheme of the browser session cookie.
pub const SESSION_SCHEME: &str = "CivicSession";
/// The security scheme of `Authorization: Bearer <access token>`.
pub const BEARER_SCHEME: &str = "CivicBearer";
/// The OAuth2 scheme [`ApiDocs`] adds so Swagger UI's Authorize button can log in.
pub const OAUTH2_SCHEME: &str = "CivicOAuth2";

fn register_security_schemes(registry: &mut Registry) {
    registry.create_security_scheme(
        SESSION_SCHEME,
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some(
                "The session cookie `/auth/callback` sets after a login; browsers send it by themselves.",
            ),
            name: Some(SESSION_COOKIE),
            key_in: Some("cookie"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
    registry.create_security_scheme(
        BEARER_SCHEME,
        MetaSecurityScheme {
            ty: "http",
            description: Some(
                "An access token the provider issued to this app: a JWT is verified against its keys, an opaque token asked about at its introspection endpoint.",
            ),
            name: None,
            key_in: None,
            scheme: Some("bearer"),
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
}

impl Type for CivicUser {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "CivicUser".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            <String as Type>::register(registry);
            <i64 as Type>::register(registry);
            let text = String::schema_ref;
            MetaSchema {
                description: Some(
                    "The logged-in user; claims beyond these come as extra properties.",
                ),
                properties: vec![
                    ("id", text()),
                    ("email", text()),
                    ("name", text()),
                    ("picture", text()),
                    ("given_name", text()),
                    ("family_name", text()),
                    ("username", text()),
                    ("updated_at", i64::schema_ref()),
                    ("provider", text()),
                ],
                required: vec!["id"],
                additional_properties: Some(Box::new(MetaSchemaRef::Inline(Box::new(
                    MetaSchema::ANY,
                )))),
                ..MetaSchema::new("object")
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for CivicUser {
    fn to_json(&self) -> Option<Value> {
        serde_json::to_value(self).ok()
    }
}

/// The parameter `#[civic_auth_required]` adds to an operation: it marks the
/// operation as secured (session cookie or bearer token) in the spec and
/// rejects requests without a user (or, with step-up `S`, without a login
/// that meets it).
#[doc(hidden)]
pub struct Secured<S = NoStepUp>(pub Authenticated<S>);

impl<'a, S: StepUpPolicy> ApiExtractor<'a> for Secured<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_security_schemes(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        let mut schemes = vec![SESSION_SCHEME, BEARER_SCHEME];
        // Read (and replaced by the provider's OAuth2 scheme) by `ApiDocs`.
        schemes.extend(S::step_up().provider().map(provider_mark));
        schemes
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        RequestAuth::user(request, S::step_up())
            .await
            .map(|user| Self(Authenticated::new(user)))
    }
}

/// The answer of a protected operation: its own, or 403 when the user lacks
/// a required claim. Documents 401 (with step-up `S`'s requirement, and 403
/// when `CLAIMS`) next to the operation's own answers, `R`.
#[doc(hidden)]
pub struct Protected<R, const CLAIMS: bool, S = NoStepUp> {
    answer: poem::Result<Response>,
    documents: PhantomData<fn() -> (R, S)>,
}

impl<R, const CLAIMS: bool, S> Protected<R, CLAIMS, S> {
    /// The operation ran and answered.
    pub fn allowed<T: IntoResponse>(answer: R) -> Self
    where
        R: poem::error::IntoResult<T>,
    {
        Self {
            answer: answer.into_result().map(IntoResponse::into_response),
            documents: PhantomData,
        }
    }

    /// The user may not run it.
    pub fn denied(error: Error) -> Self {
        Self {
            answer: Err(error.into()),
            documents: PhantomData,
        }
    }
}

impl<R: ApiResponse, const CLAIMS: bool, S: StepUpPolicy> ApiResponse for Protected<R, CLAIMS, S> {
    fn meta() -> MetaResponses {
        let mut meta = R::meta();
        meta.responses
            .push(error_response(401, unauthorized::<S>(), true));
        if CLAIMS {
            meta.responses.push(error_response(
                403,
                "Logged in, but the user lacks a claim this operation requires.",
                false,
            ));
        }
        meta
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
        ErrorBody::register(registry);
    }
}

impl<R, const CLAIMS: bool, S> poem::error::IntoResult<Response> for Protected<R, CLAIMS, S> {
    fn into_result(self) -> poem::Result<Response> {
        self.answer
    }
}

const UNAUTHORIZED: &str =
    "Not logged in: no session cookie or bearer token, or one that is not valid.";

/// The 401 of an operation with step-up `S`: what it requires, in words.
fn unauthorized<S: StepUpPolicy>() -> &'static str {
    let step_up = S::step_up();
    if step_up.is_empty() {
        return UNAUTHORIZED;
    }
    // Once per requirement: the spec is built a few times per process.
    static TEXTS: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());
    let described = step_up.describe();
    let mut texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
    texts.entry(described).or_insert_with_key(|described| {
        Box::leak(
            format!(
                "{UNAUTHORIZED} Also when the login is not {described} (step-up, RFC 9470): \
                 `WWW-Authenticate` then has `error=\"insufficient_user_authentication\"` \
                 and what to ask for at login (`max_age`, `acr_values`)."
            )
            .into_boxed_str(),
        )
    })
}

fn error_response(status: u16, description: &'static str, challenge: bool) -> MetaResponse {
    let headers = challenge
        .then(|| MetaHeader {
            name: "WWW-Authenticate".into(),
            description: Some(
                "`Bearer realm=\"civic-auth\"`, with `error=\"invalid_token\"` for a refused token"
                    .into(),
            ),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        })
        .into_iter()
        .collect();
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: "application/json; charset=utf-8",
            schema: ErrorBody::schema_ref(),
        }],
        headers,
    }
}

/// The security requirement of a protected operation: the session cookie or
/// a bearer token.
fn secured_by() -> Vec<std::collections::HashMap<&'static str, Vec<&'static str>>> {
    [SESSION_SCHEME, BEARER_SCHEME]
        .into_iter()
        .map(|scheme| std::iter::once((scheme, Vec::new())).collect())
        .collect()
}

/// The OpenAPI operations of the auth routes, from the one route table.
fn auth_routes_meta() -> MetaApi {
    let mut paths: Vec<MetaPath> = Vec::new();
    for route in ROUTES {
        let doc = &route.doc;
        let operation = MetaOperation {
            method: route.method.clone(),
            tags: vec![AUTH_TAG],
            summary: Some(doc.summary),
            description: Some(doc.description),
            external_docs: None,
            params: doc
                .path
                .iter()
                .map(|param| (param, MetaParamIn::Path))
                .chain(doc.query.iter().map(|param| (param, MetaParamIn::Query)))
                .map(|((name, description), in_type)| MetaOperationParam {
                    name: (*name).to_owned(),
                    schema: String::schema_ref(),
                    required: in_type == MetaParamIn::Path,
                    in_type,
                    description: Some((*description).to_owned()),
                    deprecated: false,
                    explode: true,
                    style: None,
                })
                .collect(),
            request: match doc.answer {
                Answer::Backchannel => Some(logout_form()),
                Answer::PostedCallback => Some(posted_answer()),
                _ => None,
            },
            responses: answer_meta(&doc.answer),
            deprecated: false,
            security: if doc.secured {
                secured_by()
            } else {
                Vec::new()
            },
            operation_id: None,
            code_samples: Vec::new(),
        };
        // A route's `:name` segment is OpenAPI's `{name}`.
        let path = route
            .path
            .split('/')
            .map(|segment| match segment.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let path = format!("{AUTH_PREFIX}{path}");
        match paths.iter_mut().find(|p| p.path == path) {
            Some(existing) => existing.operations.push(operation),
            None => paths.push(MetaPath {
                path,
                operations: vec![operation],
            }),
        }
    }
    MetaApi { paths }
}

/// The form the provider posts to `/auth/backchannel-logout`.
fn logout_form() -> MetaRequest {
    MetaRequest {
        description: Some("The signed logout token."),
        content: vec![MetaMediaType {
            content_type: "application/x-www-form-urlencoded",
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
                properties: vec![("logout_token", String::schema_ref())],
                required: vec!["logout_token"],
                ..MetaSchema::new("object")
            })),
        }],
        required: true,
    }
}

/// The form a provider posts to `/auth/callback` (`response_mode=form_post`).
fn posted_answer() -> MetaRequest {
    MetaRequest {
        description: Some("The provider's answer to the login."),
        content: vec![MetaMediaType {
            content_type: "application/x-www-form-urlencoded",
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
                properties: CALLBACK_PARAMETERS
                    .iter()
                    .map(|(name, _)| (*name, String::schema_ref()))
                    .collect(),
                required: vec!["state"],
                ..MetaSchema::new("object")
            })),
        }],
        required: true,
    }
}

fn answer_meta(answer: &Answer) -> MetaResponses {
    let page = |status, description| MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: "text/html; charset=utf-8",
            schema: String::schema_ref(),
        }],
        headers: vec![],
    };
    let empty = |status, description| MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![],
        headers: vec![],
    };
    let responses = match answer {
        Answer::Navigation | Answer::PostedCallback => vec![
            MetaResponse {
                headers: vec![MetaHeader {
                    name: "Location".into(),
                    description: None,
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                }],
                ..empty(302, "Redirect to the next step; the `Location` header says where.")
            },
            page(400, "The login or logout cannot finish (refused at the provider, not started in this browser, expired, already used, or a token failed verification): an HTML page saying why."),
            page(502, "The provider answered with something unusable: an HTML page saying what."),
            page(503, "The provider could not be reached in time: an HTML page saying so."),
        ],
        Answer::User => vec![
            MetaResponse {
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: CivicUser::schema_ref(),
                }],
                ..empty(200, "The logged-in user.")
            },
            error_response(401, "Not logged in.", true),
        ],
        Answer::Backchannel => vec![
            empty(200, "The matching sessions have ended."),
            error_response(400, "The logout token is missing or invalid.", false),
            error_response(
                501,
                "Sessions live in cookies: the app cannot end them from the server.",
                false,
            ),
        ],
        Answer::KeySet => vec![
            MetaResponse {
                content: vec![MetaMediaType {
                    content_type: "application/jwk-set+json",
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
                        properties: vec![("keys", <Vec<serde_json::Value>>::schema_ref())],
                        required: vec!["keys"],
                        ..MetaSchema::new("object")
                    })),
                }],
                ..empty(200, "The public keys (RFC 7517 JWK set).")
            },
            MetaResponse {
                content: vec![MetaMediaType {
                    content_type: "text/plain; charset=utf-8",
                    schema: String::schema_ref(),
                }],
                ..empty(404, "The app has no client key.")
            },
        ],
    };
    MetaResponses { responses }
}

const AUTH_TAG: &str = "Auth";
/// Where the auth routes sit in an `OpenApiService` nested at the root.
const AUTH_PREFIX: &str = "/auth";

/// `CivicAuthEndpoint` documents its routes when it is part of an
/// `OpenApiService`, for example next to the app's own API in a tuple, and
/// serves them there with the very endpoints it serves on its own.
impl OpenApi for CivicAuthEndpoint {
    fn meta() -> Vec<MetaApi> {
        vec![auth_routes_meta()]
    }

    fn register(registry: &mut Registry) {
        register_security_schemes(registry);
        <String as Type>::register(registry);
        <CivicUser as Type>::register(registry);
        ErrorBody::register(registry);
        registry.create_tag(MetaTag {
            name: AUTH_TAG,
            description: Some("Log in and out with Civic."),
            external_docs: None,
        });
    }

    fn add_routes(
        self,
        route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, BoxEndpoint<'static>>,
        >,
    ) {
        for (path, methods) in route_endpoints(&self.auth) {
            route_table
                .entry(format!("{AUTH_PREFIX}{path}"))
                .or_default()
                .extend(methods);
        }
    }
}

/// The spec and Swagger UI of an `OpenApiService`, with an OAuth2 scheme
/// added from the provider's discovery document, so the Authorize button
/// offers the Authorization Code flow with PKCE and the client id filled in.
///
/// ```
/// use civic_auth_poem::{openapi::ApiDocs, CivicAuth, CivicAuthConfig, CivicAuthEndpoint, SessionSecret};
/// use poem::{EndpointExt, Route};
/// use poem_openapi::OpenApiService;
///
/// # let config = CivicAuthConfig::builder().client_id("id")
/// #     .redirect_url("http://localhost:5000/auth/callback")
/// #     .post_logout_redirect_url("http://localhost:5000/").build()?;
/// let auth = CivicAuth::new(config, SessionSecret::generate());
/// let service = OpenApiService::new(CivicAuthEndpoint::new(&auth), "My API", "1.0");
/// let docs = ApiDocs::new(&service, &auth);
/// let app = Route::new()
///     .at("/openapi.json", docs.spec_endpoint())
///     .nest("/docs", docs.swagger_ui())
///     .nest("/", service)
///     .with(auth);
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiDocs {
    inner: Arc<DocsInner>,
}

struct DocsInner {
    auth: CivicAuth,
    spec: String,
    swagger_head: String,
    receiver: Arc<BoxEndpoint<'static>>,
    patched: OnceCell<String>,
}

impl ApiDocs {
    /// Docs for `service`, whose users log in with `auth`.
    pub fn new<T: OpenApi, W: Webhook>(service: &OpenApiService<T, W>, auth: &CivicAuth) -> Self {
        let swagger_head = swagger_head(&service.swagger_ui_html());
        Self {
            inner: Arc::new(DocsInner {
                auth: auth.clone(),
                spec: service.spec(),
                swagger_head,
                receiver: Arc::new(service.swagger_ui().map_to_response().boxed()),
                patched: OnceCell::new(),
            }),
        }
    }

    /// The spec as JSON, with the OAuth2 scheme.
    pub fn spec_endpoint(&self) -> impl Endpoint<Output = Response> + 'static {
        let inner = self.inner.clone();
        poem::endpoint::make(move |_| {
            let inner = inner.clone();
            async move {
                let spec = inner.spec_json().await;
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec.to_string())
            }
        })
    }

    /// Swagger UI; nest it (for example at `/docs`). "Try it out" sends the
    /// browser's session cookie, so it works for a logged-in browser; the
    /// OAuth2 redirect page it needs is served at `oauth-receiver.html`
    /// beside it, to be registered as a redirect URL at the provider.
    pub fn swagger_ui(&self) -> impl Endpoint<Output = Response> + 'static {
        let inner = self.inner.clone();
        let page = poem::endpoint::make(move |req: Request| {
            let inner = inner.clone();
            async move { Html(inner.swagger_page(&req).await).into_response() }
        });
        Route::new()
            .at("/", page)
            .at("/oauth-receiver.html", self.inner.receiver.clone())
    }
}

/// Swagger UI's own scripts and styles from poem-openapi's page: all before
/// the `<body>` that holds its `ui` element. (The bundled script itself
/// contains the text `<body>`, so the first one is not it.)
fn swagger_head(page: &str) -> String {
    let ui = page.find("<div id=\"ui\">").unwrap_or(page.len());
    let body = page[..ui].rfind("<body>").unwrap_or(ui);
    page[..body].to_owned()
}

impl DocsInner {
    /// The spec with the OAuth2 scheme once the provider is known; without
    /// it (provider down) until then.
    async fn spec_json(&self) -> Value {
        if let Some(patched) = self.patched.get() {
            return serde_json::from_str(patched).unwrap_or(Value::Null);
        }
        let mut spec: Value = serde_json::from_str(&self.spec).unwrap_or(Value::Null);
        let session_cookie = CookieNames::of(self.auth.config()).session;
        if session_cookie != SESSION_COOKIE {
            spec["components"]["securitySchemes"][SESSION_SCHEME]["name"] = json!(session_cookie);
        }
        // Each provider's scheme, once its metadata is known; the spec is
        // kept only once every one is there.
        let providers = self.auth.parts.providers.all();
        let mut schemes = Vec::new();
        for client in providers {
            if let Ok(metadata) = client.provider().metadata().await {
                schemes.push(OAuth2Scheme {
                    name: oauth2_scheme_name(client.name(), providers.len() > 1),
                    provider: client.name(),
                    authorization_url: metadata.authorization_endpoint.to_string(),
                    token_url: metadata.token_endpoint.to_string(),
                    scopes: client.scopes(),
                });
            }
        }
        add_oauth2_schemes(&mut spec, &schemes);
        if schemes.len() == providers.len() {
            let _ = self.patched.set(spec.to_string());
        }
        spec
    }

    async fn swagger_page(&self, req: &Request) -> String {
        let spec = self.spec_json().await;
        let config = self.auth.config();
        let base = req.original_uri().path().trim_end_matches('/');
        let settings = json!({
            "clientId": config.client_id(),
            "usePkceWithAuthorizationCodeGrant": true,
            "scopes": config.scopes().join(" "),
        });
        // `</` cannot close the script from inside JSON.
        let script_safe = |v: &Value| v.to_string().replace("</", "<\\/");
        format!(
            "{head}<body><div id=\"ui\"></div><script>\
             const ui = SwaggerUIBundle({{ dom_id: '#ui', spec: {spec}, deepLinking: true, \
             oauth2RedirectUrl: window.location.origin + {receiver} }});\
             ui.initOAuth({settings});</script></body></html>",
            head = self.swagger_head,
            spec = script_safe(&spec),
            receiver = script_safe(&json!(format!("{base}/oauth-receiver.html"))),
            settings = script_safe(&settings),
        )
    }
}

/// A provider's OAuth2 scheme (its Authorization Code flow), as the spec
/// documents it.
struct OAuth2Scheme<'a> {
    name: String,
    provider: &'a str,
    authorization_url: String,
    token_url: String,
    scopes: &'a [String],
}

/// The OAuth2 scheme of the provider `name`: [`OAUTH2_SCHEME`] for an app
/// with one, `CivicOAuth2_<name>` for each of several.
fn oauth2_scheme_name(name: &str, several: bool) -> String {
    match several {
        true => format!("{OAUTH2_SCHEME}_{name}"),
        false => OAUTH2_SCHEME.to_owned(),
    }
}

/// The mark `#[civic_auth_required(provider = "name")]` leaves in an
/// operation's security for the runtime spec to read.
fn provider_mark(name: &str) -> &'static str {
    static MARKS: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());
    let mut marks = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    marks
        .entry(name.to_owned())
        .or_insert_with_key(|name| Box::leak(format!("{PROVIDER_MARK}{name}").into_boxed_str()))
}

const PROVIDER_MARK: &str = "civic-provider:";

/// Adds `schemes` to the spec and to every protected operation: an
/// operation for one provider's users (its mark) gets that provider's
/// alone, the others every provider's.
fn add_oauth2_schemes(spec: &mut Value, schemes: &[OAuth2Scheme<'_>]) {
    for scheme in schemes {
        let scope_docs: serde_json::Map<String, Value> = scheme
            .scopes
            .iter()
            .map(|s| (s.clone(), Value::String(format!("the `{s}` scope"))))
            .collect();
        spec["components"]["securitySchemes"][&scheme.name] = json!({
            "type": "oauth2",
            "description": format!("Log in with `{}` (Authorization Code flow with PKCE).", scheme.provider),
            "flows": { "authorizationCode": {
                "authorizationUrl": scheme.authorization_url,
                "tokenUrl": scheme.token_url,
                "scopes": scope_docs,
            }},
        });
    }
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|p| p.values_mut())
    {
        let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut) else {
            continue;
        };
        if !security.iter().any(|r| r.get(SESSION_SCHEME).is_some()) {
            continue;
        }
        let marked = |r: &Value| {
            r.as_object()
                .and_then(|r| r.keys().find_map(|k| k.strip_prefix(PROVIDER_MARK)))
                .map(str::to_owned)
        };
        let only = security.iter().find_map(marked);
        security.retain(|r| marked(r).is_none());
        for scheme in schemes {
            if only.as_deref().is_none_or(|name| name == scheme.provider) {
                security.push(json!({ &scheme.name: scheme.scopes }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recent;

    impl StepUpPolicy for Recent {
        fn step_up() -> &'static crate::step_up::StepUp {
            static STEP_UP: std::sync::OnceLock<crate::step_up::StepUp> =
                std::sync::OnceLock::new();
            STEP_UP.get_or_init(|| crate::step_up::StepUp::new(Some(60), None))
        }
    }

    fn unauthorized_of<R: ApiResponse>() -> &'static str {
        let meta = R::meta();
        let response = meta.responses.iter().find(|r| r.status == Some(401));
        response.expect("a 401").description
    }

    #[test]
    fn only_an_operation_with_step_up_documents_it() {
        type Plain = poem_openapi::payload::PlainText<String>;
        assert_eq!(unauthorized_of::<Protected<Plain, false>>(), UNAUTHORIZED);
        let stepped = unauthorized_of::<Protected<Plain, false, Recent>>();
        assert!(stepped.starts_with(UNAUTHORIZED), "{stepped}");
        assert!(
            stepped.contains("a login within the last 60 seconds"),
            "{stepped}"
        );
        assert!(std::ptr::eq(
            stepped,
            unauthorized_of::<Protected<Plain, true, Recent>>()
        ));
    }

    struct PartnerOnly;

    impl StepUpPolicy for PartnerOnly {
        fn step_up() -> &'static crate::step_up::StepUp {
            static STEP_UP: std::sync::OnceLock<crate::step_up::StepUp> =
                std::sync::OnceLock::new();
            STEP_UP
                .get_or_init(|| crate::step_up::step_up(None::<u64>, None::<&str>, Some("partner")))
        }
    }

    #[test]
    fn each_provider_has_a_scheme_and_an_operation_for_one_has_only_its() {
        let operation = |schemes: Vec<&'static str>| {
            let security: Vec<Value> = schemes.into_iter().map(|s| json!({ s: [] })).collect();
            json!({ "security": security })
        };
        let mut spec = json!({ "paths": {
            "/any": { "get": operation(<Secured as ApiExtractor>::security_schemes()) },
            "/partner": { "get": operation(<Secured<PartnerOnly> as ApiExtractor>::security_schemes()) },
            "/public": { "get": {} },
        }});
        let (civic_scopes, partner_scopes) = (
            ["openid".to_owned()],
            ["openid".to_owned(), "email".to_owned()],
        );
        let scheme = |provider, scopes| OAuth2Scheme {
            name: oauth2_scheme_name(provider, true),
            provider,
            authorization_url: format!("https://{provider}.example/auth"),
            token_url: format!("https://{provider}.example/token"),
            scopes,
        };
        add_oauth2_schemes(
            &mut spec,
            &[
                scheme("civic", &civic_scopes),
                scheme("partner", &partner_scopes),
            ],
        );
        let names = |path: &str| -> Vec<String> {
            spec["paths"][path]["get"]["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r.as_object().unwrap().keys().cloned())
                .collect()
        };
        assert_eq!(
            names("/any"),
            [
                "CivicSession",
                "CivicBearer",
                "CivicOAuth2_civic",
                "CivicOAuth2_partner"
            ]
        );
        assert_eq!(
            names("/partner"),
            ["CivicSession", "CivicBearer", "CivicOAuth2_partner"]
        );
        assert!(names("/public").is_empty());
        let partner = &spec["components"]["securitySchemes"]["CivicOAuth2_partner"];
        assert_eq!(
            partner["flows"]["authorizationCode"]["tokenUrl"],
            "https://partner.example/token"
        );
        assert_eq!(
            spec["paths"]["/partner"]["get"]["security"][2]["CivicOAuth2_partner"],
            json!(["openid", "email"])
        );
        // An app with one provider keeps the one name it always had.
        assert_eq!(oauth2_scheme_name("civic", false), OAUTH2_SCHEME);
    }

    #[test]
    fn another_providers_callback_is_documented_with_its_name_in_the_path() {
        let api = auth_routes_meta();
        let path = format!("{AUTH_PREFIX}/callback/{{provider}}");
        let callback = api
            .paths
            .iter()
            .find(|p| p.path == path)
            .expect("documented");
        let (get, post) = (&callback.operations[0], &callback.operations[1]);
        use poem::http::Method;
        assert_eq!((&get.method, &post.method), (&Method::GET, &Method::POST));
        for operation in [get, post] {
            let provider = &operation.params[0];
            assert_eq!(provider.name, "provider");
            assert!(provider.required && provider.in_type == MetaParamIn::Path);
        }
        assert!(get.params[1..]
            .iter()
            .all(|p| !p.required && p.in_type == MetaParamIn::Query));
        let query: Vec<&str> = get.params[1..].iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            query,
            ["code", "state", "iss", "error", "error_description"]
        );
        assert_eq!(post.params.len(), 1, "the answer is in the posted form");
        assert!(post.request.is_some() && get.request.is_none());
        assert_eq!(
            post.summary,
            Some("Finish a login at another provider (form post)")
        );
    }

    #[test]
    fn the_swagger_head_keeps_the_whole_bundle() {
        let service = OpenApiService::new((), "t", "1");
        let page = service.swagger_ui_html();
        let head = swagger_head(&page);
        assert!(head.len() > page.len() / 2, "cut inside the bundle");
        assert!(
            head.trim_end().ends_with("</head>"),
            "{}",
            &head[head.len() - 80..]
        );
        assert!(head.contains("SwaggerUIBundle"));
    }
}
