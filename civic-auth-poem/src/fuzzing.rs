//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): each
//! feeds untrusted input to one of the crate's own parsers. None may panic.

use std::sync::OnceLock;

use poem::{http::header, Request};

use crate::{
    flow::callback::CallbackAnswer,
    local_path::LocalPath,
    oidc::verifier::{self, Expected},
    random::Nonce,
    CivicAuth, CivicAuthConfig, SessionSecret,
};

fn auth() -> &'static CivicAuth {
    static AUTH: OnceLock<CivicAuth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let config = CivicAuthConfig::builder()
            .client_id("fuzz-client")
            .redirect_url("http://127.0.0.1:5000/auth/callback")
            .post_logout_redirect_url("http://127.0.0.1:5000/")
            .build()
            .expect("a valid config");
        CivicAuth::new(config, SessionSecret::new([42u8; 32]).expect("32 bytes"))
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fn with_cookie(cookie: &str) -> Option<Request> {
    let value = header::HeaderValue::from_str(cookie).ok()?;
    Some(Request::builder().header(header::COOKIE, value).finish())
}

/// A `Cookie` header, opened as the session cookie set (chunks reassembled).
pub fn session_cookie(cookie: &str) {
    if let Some(req) = with_cookie(cookie) {
        let _ = runtime().block_on(auth().parts.sessions.load(&req));
    }
}

/// A callback query string, and a `Cookie` header for its login transaction.
pub fn callback(query: &str, cookie: &str) {
    let parsed = CallbackAnswer::parse(query.as_bytes());
    if let (Some(req), Ok(state)) = (with_cookie(cookie), parsed.state()) {
        let _ = auth().parts.transactions.read(&req, &state);
    }
}

/// A token through ID token verification's parsing: its header, the
/// algorithm allow-list and the signature check against a fixed key (which
/// no input can satisfy; the claim checks have their own tests).
pub fn id_token(token: &str) {
    static KEY: OnceLock<jsonwebtoken::DecodingKey> = OnceLock::new();
    static NONCE: OnceLock<Nonce> = OnceLock::new();
    let key = KEY.get_or_init(|| jsonwebtoken::DecodingKey::from_secret(b"not the provider's key"));
    let nonce = NONCE.get_or_init(Nonce::generate);
    let expected = Expected::Id { nonce: Some(nonce) };
    if let Ok(header) = verifier::header(token, expected) {
        let verifier = auth().parts.providers.first().verifier();
        let _ = verifier.check(token, &header, key, "http://127.0.0.1:1/oauth/", expected);
    }
}

/// A `returnTo` value.
pub fn return_to(path: &str) -> bool {
    LocalPath::parse(path).is_some()
}
