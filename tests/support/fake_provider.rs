//! A small provider for what the real one cannot be made to send: tokens
//! signed with the wrong key, `alg=none`, wrong `iss`/`aud`/`nonce`, expired
//! ones, a rotated key, a lying discovery document. It approves every
//! authorization at once and mints the ID token the test describes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
use poem::{
    get, handler,
    http::StatusCode,
    post,
    web::{Data, Form, Json, Query},
    EndpointExt, IntoResponse, Request, Response, Route,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{repo_root, AppServer, CLIENT_ID};

static NEXT_JTI: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A key from `tests/keys/`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TestKey {
    RsaA,
    RsaB,
    EcA,
}

impl TestKey {
    fn pem(self) -> Vec<u8> {
        let file = match self {
            TestKey::RsaA => "rsa-a.pem",
            TestKey::RsaB => "rsa-b.pem",
            TestKey::EcA => "ec-a.pem",
        };
        std::fs::read(repo_root().join("tests/keys").join(file)).expect("test key")
    }

    pub fn alg(self) -> Algorithm {
        match self {
            TestKey::EcA => Algorithm::ES256,
            _ => Algorithm::RS256,
        }
    }

    pub fn kid(self) -> &'static str {
        match self {
            TestKey::RsaA => "rsa-a",
            TestKey::RsaB => "rsa-b",
            TestKey::EcA => "ec-a",
        }
    }

    pub fn encoding_key(self) -> EncodingKey {
        let pem = self.pem();
        match self.alg() {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .expect("test key parses")
    }

    fn jwk(self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), self.alg()).expect("jwk");
        jwk.common.key_id = Some(self.kid().to_owned());
        jwk
    }
}

/// How the next ID token is made.
#[derive(Clone)]
pub enum Signing {
    /// Signed by this key, with its `kid`.
    Key(TestKey),
    /// Signed by this key but claiming another key's `kid`.
    KeyClaimingKid(TestKey, &'static str),
    /// `alg: none`, no signature.
    None,
    /// HS256 with the provider's RSA public key as the HMAC secret.
    HmacWithPublicKey,
}

/// What the fake provider does; tests change it between logins.
#[derive(Clone)]
pub struct Scenario {
    /// Keys published in the JWKS.
    pub published: Vec<TestKey>,
    pub signing: Signing,
    /// Merged into the default claims; a `null` removes a claim.
    pub claims: Value,
    /// Overrides `issuer` in the discovery document.
    pub advertised_issuer: Option<String>,
    /// The `iss` of the authorization response: `None` leaves it out.
    pub response_iss: Option<String>,
    /// Claims the userinfo endpoint answers.
    pub userinfo: Value,
    /// Delay before answering the token request.
    pub token_delay: std::time::Duration,
    /// Whether discovery says the authorization response carries `iss`.
    pub advertise_iss: bool,
    /// The token endpoint redirects (307) to another that would answer.
    pub token_redirect: bool,
    /// The key set endpoint answers this instead of the keys.
    pub jwks_body: Option<String>,
    /// The key set endpoint answers only this status, as when it is down.
    pub jwks_status: Option<u16>,
    /// Token answers carry a refresh token (rotated at each use).
    pub refresh_tokens: bool,
    /// Discovery advertises an introspection endpoint, which answers this
    /// status (and an OAuth error) to every call.
    pub introspection_refuses: Option<u16>,
    /// DPoP proof algorithms discovery advertises (none: no DPoP).
    pub dpop_algs: Vec<&'static str>,
    /// The token endpoint answers every request with this OAuth error.
    pub token_error: Option<&'static str>,
    /// Discovery lists these scopes, and a login asking for another is
    /// refused with `invalid_scope`.
    pub scopes_supported: Option<Vec<&'static str>>,
    /// Introspection and revocation are published only in the OAuth
    /// metadata (RFC 8414), not in the discovery document.
    pub oauth_metadata_only: bool,
    /// The OAuth metadata endpoint answers 503, as when it is down.
    pub oauth_metadata_down: bool,
    /// Discovery lists these ID token algorithms
    /// (`id_token_signing_alg_values_supported`).
    pub id_token_algs: Option<Vec<&'static str>>,
    /// Discovery lists these response modes (`response_modes_supported`).
    pub response_modes: Option<Vec<&'static str>>,
}

#[derive(Default)]
struct Shared {
    scenario: Option<Scenario>,
    /// The nonce and PKCE challenge of each code handed out.
    codes: HashMap<String, (String, String)>,
    /// Refresh tokens not yet used.
    refresh_tokens: Vec<String>,
    calls: HashMap<&'static str, u64>,
    /// The last authorization request.
    last_authorization: Option<Authorization>,
}

/// What an authorization request asked for, as the fake provider saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Authorization {
    pub scope: String,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
}

/// A running fake provider.
pub struct FakeProvider {
    pub issuer: String,
    shared: Arc<Mutex<Shared>>,
    _server: AppServer,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let (acceptor, base) = AppServer::bind().await;
        let issuer = format!("{base}/oauth/");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = State {
            issuer: issuer.clone(),
            shared: shared.clone(),
        };
        let app = Route::new()
            .at("/oauth/.well-known/openid-configuration", get(discovery))
            .at("/oauth/jwks", get(jwks))
            .at("/oauth/auth", get(authorize))
            .at("/oauth/token", post(token))
            .at("/oauth/token-elsewhere", post(token_elsewhere))
            .at("/oauth/me", get(userinfo))
            .at("/oauth/introspect", post(introspect))
            .at("/oauth/revoke", post(revoke))
            .at(
                "/.well-known/oauth-authorization-server/oauth",
                get(oauth_metadata),
            )
            .data(state);
        let fake = Self {
            shared,
            _server: AppServer::serve(acceptor, base, app),
            issuer,
        };
        fake.set(fake.default_scenario());
        fake
    }

    /// RS256 by key A, every claim right, the profile in the ID token.
    pub fn default_scenario(&self) -> Scenario {
        Scenario {
            published: vec![TestKey::RsaA, TestKey::EcA],
            signing: Signing::Key(TestKey::RsaA),
            claims: json!({}),
            advertised_issuer: None,
            response_iss: Some(self.issuer.clone()),
            userinfo: json!({}),
            token_delay: std::time::Duration::ZERO,
            advertise_iss: true,
            token_redirect: false,
            jwks_body: None,
            jwks_status: None,
            refresh_tokens: false,
            introspection_refuses: None,
            dpop_algs: Vec::new(),
            token_error: None,
            scopes_supported: None,
            oauth_metadata_only: false,
            oauth_metadata_down: false,
            id_token_algs: None,
            response_modes: None,
        }
    }

    /// The last authorization request.
    pub fn last_authorization(&self) -> Option<Authorization> {
        self.shared.lock().unwrap().last_authorization.clone()
    }

    pub fn set(&self, scenario: Scenario) {
        self.shared.lock().unwrap().scenario = Some(scenario);
    }

    pub fn update(&self, change: impl FnOnce(&mut Scenario)) {
        let mut shared = self.shared.lock().unwrap();
        change(shared.scenario.as_mut().expect("scenario"));
    }

    /// A JWT access token signed by key A: `iss`, `sub`, `exp` in five
    /// minutes and `aud` this client, changed by `claims` (`null` removes).
    pub fn access_token(&self, claims: Value) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let base = json!({"iss": self.issuer, "sub": "api-user", "aud": CLIENT_ID, "client_id": CLIENT_ID, "exp": now + 300, "iat": now});
        encode(&merged(base, &claims), &Signing::Key(TestKey::RsaA))
    }

    /// A back-channel logout token for provider session `sid`, changed by
    /// `claims` (`null` removes), signed as `signing` says.
    pub fn logout_token(&self, claims: Value, signing: Signing) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let base = json!({
            "iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": format!("jti-{}", NEXT_JTI.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            "sid": "fake-sid", "sub": "user-1",
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        encode(&merged(base, &claims), &signing)
    }

    pub fn oauth_server(&self) -> String {
        self.issuer.trim_end_matches('/').to_owned()
    }

    pub fn calls(&self, route: &str) -> u64 {
        self.shared
            .lock()
            .unwrap()
            .calls
            .get(route)
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Clone)]
struct State {
    issuer: String,
    shared: Arc<Mutex<Shared>>,
}

impl State {
    fn scenario(&self, route: &'static str) -> Scenario {
        let mut shared = self.shared.lock().unwrap();
        *shared.calls.entry(route).or_default() += 1;
        shared.scenario.clone().expect("scenario")
    }
}

#[handler]
fn discovery(Data(state): Data<&State>) -> Json<Value> {
    let scenario = state.scenario("discovery");
    let base = state.issuer.trim_end_matches('/');
    let introspection = scenario
        .introspection_refuses
        .map(|_| format!("{base}/introspect"))
        .filter(|_| !scenario.oauth_metadata_only);
    let mut document = json!({
        "introspection_endpoint": introspection,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/me"),
        "jwks_uri": format!("{base}/jwks"),
        "issuer": scenario.advertised_issuer.unwrap_or_else(|| state.issuer.clone()),
        "authorization_response_iss_parameter_supported": scenario.advertise_iss,
        "dpop_signing_alg_values_supported": scenario.dpop_algs,
    });
    if let Some(scopes) = scenario.scopes_supported {
        document["scopes_supported"] = json!(scopes);
    }
    if let Some(algs) = scenario.id_token_algs {
        document["id_token_signing_alg_values_supported"] = json!(algs);
    }
    if let Some(modes) = scenario.response_modes {
        document["response_modes_supported"] = json!(modes);
    }
    Json(document)
}

/// RFC 8414's document: the endpoints discovery leaves out, when it does.
#[handler]
fn oauth_metadata(Data(state): Data<&State>) -> Response {
    let scenario = state.scenario("oauth-metadata");
    if scenario.oauth_metadata_down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if !scenario.oauth_metadata_only {
        return StatusCode::NOT_FOUND.into_response();
    }
    let base = state.issuer.trim_end_matches('/');
    let introspection = scenario
        .introspection_refuses
        .map(|_| format!("{base}/introspect"));
    Json(json!({
        "issuer": state.issuer,
        "introspection_endpoint": introspection,
        "revocation_endpoint": format!("{base}/revoke"),
    }))
    .into_response()
}

/// Accepts every revocation (RFC 7009), counting them.
#[handler]
fn revoke(Data(state): Data<&State>) -> StatusCode {
    state.scenario("revocation");
    StatusCode::OK
}

#[handler]
fn jwks(Data(state): Data<&State>) -> Response {
    let scenario = state.scenario("jwks");
    if let Some(status) = scenario.jwks_status {
        return StatusCode::from_u16(status)
            .expect("a status")
            .into_response();
    }
    if let Some(body) = scenario.jwks_body {
        return Response::builder()
            .content_type("application/json")
            .body(body);
    }
    let keys: Vec<Jwk> = scenario.published.iter().map(|k| k.jwk()).collect();
    Json(json!({ "keys": keys })).into_response()
}

#[derive(Deserialize)]
struct AuthorizeParams {
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
    #[serde(default)]
    scope: String,
    prompt: Option<String>,
    max_age: Option<String>,
}

/// Approves at once: back to the app with a code bound to the nonce.
#[handler]
fn authorize(Data(state): Data<&State>, Query(params): Query<AuthorizeParams>) -> Response {
    let scenario = state.scenario("auth");
    assert_eq!(params.code_challenge_method, "S256");
    state.shared.lock().unwrap().last_authorization = Some(Authorization {
        scope: params.scope.clone(),
        prompt: params.prompt.clone(),
        max_age: params.max_age.clone(),
    });
    let mut target = url::Url::parse(&params.redirect_uri).expect("redirect_uri");
    if let Some(supported) = &scenario.scopes_supported {
        if !params.scope.split(' ').all(|s| supported.contains(&s)) {
            target
                .query_pairs_mut()
                .append_pair("error", "invalid_scope")
                .append_pair("state", &params.state);
            // RFC 9207: errors name the issuer too.
            if let Some(iss) = &scenario.response_iss {
                target.query_pairs_mut().append_pair("iss", iss);
            }
            return Response::builder()
                .status(StatusCode::FOUND)
                .header("location", target.as_str())
                .finish();
        }
    }
    let code = {
        let mut shared = state.shared.lock().unwrap();
        let code = format!("code-{}", shared.codes.len());
        shared
            .codes
            .insert(code.clone(), (params.nonce, params.code_challenge));
        code
    };
    {
        let mut query = target.query_pairs_mut();
        query
            .append_pair("code", &code)
            .append_pair("state", &params.state);
        if let Some(iss) = &scenario.response_iss {
            query.append_pair("iss", iss);
        }
    }
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", target.as_str())
        .finish()
}

#[derive(Deserialize)]
struct TokenParams {
    #[serde(default)]
    code: String,
    code_verifier: Option<String>,
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

#[handler]
async fn token(Data(state): Data<&State>, Form(params): Form<TokenParams>) -> Response {
    let failing = state
        .shared
        .lock()
        .unwrap()
        .scenario
        .as_ref()
        .and_then(|s| s.token_error);
    if let Some(error) = failing {
        let route = if params.grant_type.as_deref() == Some("refresh_token") {
            "refresh"
        } else {
            "token"
        };
        state.scenario(route);
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    }
    if params.grant_type.as_deref() == Some("refresh_token") {
        let scenario = state.scenario("refresh");
        tokio::time::sleep(scenario.token_delay).await;
        return refresh(state, &scenario, params.refresh_token.unwrap_or_default());
    }
    let scenario = state.scenario("token");
    tokio::time::sleep(scenario.token_delay).await;
    if scenario.token_redirect {
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", "/oauth/token-elsewhere")
            .finish();
    }
    issue_tokens(state, &scenario, params)
}

/// Where a redirected token request would land; it must never be reached.
#[handler]
async fn token_elsewhere(Data(state): Data<&State>, Form(params): Form<TokenParams>) -> Response {
    let scenario = state.scenario("token-elsewhere");
    issue_tokens(state, &scenario, params)
}

/// Checks the code and its PKCE verifier (S256), then mints the tokens.
fn issue_tokens(state: &State, scenario: &Scenario, params: TokenParams) -> Response {
    let issued = state.shared.lock().unwrap().codes.remove(&params.code);
    let verified = match (&issued, &params.code_verifier) {
        (Some((_, challenge)), Some(verifier)) => {
            use base64::Engine;
            use sha2::Digest;
            let digest = sha2::Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == *challenge
        }
        _ => false,
    };
    let (Some((nonce, _)), true) = (issued, verified) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let id_token = mint(&state.issuer, scenario, Some(&nonce));
    token_answer(state, scenario, id_token)
}

/// Rotates a refresh token: each is good once.
fn refresh(state: &State, scenario: &Scenario, refresh_token: String) -> Response {
    let known = {
        let mut shared = state.shared.lock().unwrap();
        let before = shared.refresh_tokens.len();
        shared.refresh_tokens.retain(|t| *t != refresh_token);
        shared.refresh_tokens.len() < before
    };
    if !known {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    token_answer(state, scenario, mint(&state.issuer, scenario, None))
}

fn token_answer(state: &State, scenario: &Scenario, id_token: String) -> Response {
    let mut answer = json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    });
    if scenario.refresh_tokens {
        let mut shared = state.shared.lock().unwrap();
        let refresh_token = format!(
            "refresh-{}",
            NEXT_JTI.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        shared.refresh_tokens.push(refresh_token.clone());
        answer["refresh_token"] = json!(refresh_token);
    }
    Json(answer).into_response()
}

/// Refuses every caller, as an endpoint closed to public clients does.
#[handler]
fn introspect(Data(state): Data<&State>) -> Response {
    let scenario = state.scenario("introspection");
    let status = scenario.introspection_refuses.unwrap_or(401);
    (
        StatusCode::from_u16(status).expect("a status"),
        Json(json!({"error": "invalid_client"})),
    )
        .into_response()
}

#[handler]
fn userinfo(Data(state): Data<&State>, req: &Request) -> Response {
    let scenario = state.scenario("userinfo");
    if req.header("authorization") != Some("Bearer fake-access-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The user of the ID token, unless the scenario says otherwise.
    let sub = scenario
        .claims
        .get("sub")
        .cloned()
        .unwrap_or(json!("user-1"));
    Json(merged(json!({ "sub": sub }), &scenario.userinfo)).into_response()
}

/// An ID token: for a login with its `nonce`, for a refresh without.
fn mint(issuer: &str, scenario: &Scenario, nonce: Option<&str>) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": "user-1@example.com",
        "name": "User One",
        "picture": "https://example.com/u1.png",
        "sid": "fake-sid",
    });
    let mut claims = merged(claims, &scenario.claims);
    if nonce.is_none() {
        claims.remove("nonce");
    }
    encode(&claims, &scenario.signing)
}

/// Signs `claims` as `signing` says (or, for the forgeries, does not).
pub fn encode(claims: &Map<String, Value>, signing: &Signing) -> String {
    match signing {
        Signing::Key(key) => sign(*key, key.kid(), claims),
        Signing::KeyClaimingKid(key, kid) => sign(*key, kid, claims),
        Signing::None => {
            let part = |v: Value| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            format!(
                "{}.{}.",
                part(json!({"alg": "none", "typ": "JWT"})),
                part(Value::Object(claims.clone()))
            )
        }
        Signing::HmacWithPublicKey => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(TestKey::RsaA.kid().to_owned());
            let public_pem =
                std::fs::read(repo_root().join("tests/keys/rsa-a.pub.pem")).expect("public key");
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&public_pem))
                .expect("hmac token")
        }
    }
}

/// `base` with `changes` applied: a `null` removes a claim.
fn merged(base: Value, changes: &Value) -> Map<String, Value> {
    let mut claims = base.as_object().cloned().unwrap_or_default();
    for (name, value) in changes.as_object().cloned().unwrap_or_default() {
        if value.is_null() {
            claims.remove(&name);
        } else {
            claims.insert(name, value);
        }
    }
    claims
}

fn sign(key: TestKey, kid: &str, claims: &Map<String, Value>) -> String {
    let mut header = Header::new(key.alg());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding_key()).expect("signed token")
}

/// Logs in from `login` (an app's `/auth/login` URL) through the test
/// provider, which approves at once; the callback's answer, not followed.
pub async fn log_in_from(browser: &crate::Browser, login: &str) -> crate::Page {
    let to_provider = browser.navigate(login).await;
    assert_eq!(
        to_provider.status,
        StatusCode::FOUND,
        "{}",
        to_provider.body
    );
    let to_callback = browser
        .navigate(to_provider.location().unwrap().as_str())
        .await;
    browser
        .navigate(to_callback.location().unwrap().as_str())
        .await
}
