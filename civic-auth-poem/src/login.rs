//! `/auth/login`: the login transaction (PKCE verifier, `state`, `nonce`,
//! `returnTo`) kept in an encrypted cookie until the callback.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use poem::{http::StatusCode, Request, Response};
use serde::{Deserialize, Serialize};

use crate::{
    cookie::{append, RequestCookies},
    middleware::Inner,
    Error,
};

/// How long a started login may take to come back.
pub(crate) const TRANSACTION_TTL: Duration = Duration::from_secs(600);
/// Bounds on what a client may send; real values are far shorter.
pub(crate) const MAX_STATE_LEN: usize = 128;
const MAX_RETURN_TO_LEN: usize = 2048;
const TRANSACTION_COOKIE: &str = "civic_auth_tx";

/// One login in flight. Each has its own cookie, named after its `state`, so
/// logins started in two tabs can both finish.
#[derive(Serialize, Deserialize)]
pub(crate) struct LoginTransaction {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    pub(crate) return_to: Option<String>,
    pub(crate) expires_at: u64,
}

impl LoginTransaction {
    pub(crate) fn cookie_name(state: &str) -> String {
        format!("{TRANSACTION_COOKIE}.{state}")
    }

    /// The transaction this browser started under `state`, if it has not expired.
    pub(crate) fn read(inner: &Inner, req: &Request, state: &str) -> Option<Self> {
        let well_formed = state.len() <= MAX_STATE_LEN
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return None;
        }
        let name = Self::cookie_name(state);
        let cookies = RequestCookies::of(req);
        let plaintext = inner.sealer.open(&name, cookies.get(&name)?)?;
        let tx: Self = serde_json::from_str(&plaintext).ok()?;
        (tx.state == state && tx.expires_at > now_secs()).then_some(tx)
    }

    /// Drops this transaction's cookie from the browser.
    pub(crate) fn remove(inner: &Inner, resp: &mut Response, state: &str) {
        append(
            resp,
            inner
                .sealer
                .removal(Self::cookie_name(state), inner.config.redirect_url.path()),
        );
    }
}

/// Starts a login: redirects to the provider's authorization endpoint.
pub(crate) async fn start(inner: &Inner, return_to: Option<&str>) -> Result<Response, Error> {
    let metadata = inner.provider.metadata_for_redirect().await?;
    let client = inner.provider.oauth_client(&metadata, &inner.config);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = CsrfToken::new_random();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scopes(inner.config.scopes.iter().cloned().map(Scope::new))
        .add_extra_param("nonce", nonce.secret());
    if inner.config.wants_offline_access() {
        // Civic's server (like oidc-provider) grants a refresh token only
        // when the user was asked for consent.
        request = request.add_extra_param("prompt", "consent");
    }
    let (url, state) = request.url();

    let tx = LoginTransaction {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to: return_to.filter(|p| is_local_path(p)).map(str::to_owned),
        expires_at: now_secs() + TRANSACTION_TTL.as_secs(),
    };
    let name = LoginTransaction::cookie_name(&tx.state);
    let sealed = inner.sealer.seal(
        &name,
        serde_json::to_string(&tx).expect("a transaction always serialises"),
    );
    let mut resp = redirect(url.as_str());
    append(
        &mut resp,
        inner.sealer.cookie(
            name,
            sealed,
            inner.config.redirect_url.path(),
            TRANSACTION_TTL,
        ),
    );
    Ok(resp)
}

/// Whether `path` is a path of this app: a single leading `/`, no scheme, no
/// host, no backslash (which browsers read as `/`), no control characters.
pub(crate) fn is_local_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.len() <= MAX_RETURN_TO_LEN
        && bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && !bytes.iter().any(|&b| b == b'\\' || b.is_ascii_control())
}

/// States whose callback completed; a replayed callback is refused even if the
/// client kept the transaction cookie. Entries live as long as a transaction.
#[derive(Default)]
pub(crate) struct ConsumedStates(Mutex<HashMap<String, u64>>);

impl ConsumedStates {
    /// Whether `key` was used and has not expired.
    pub(crate) fn contains(&self, key: &str) -> bool {
        let used = self.0.lock().unwrap_or_else(|e| e.into_inner());
        used.get(key).is_some_and(|exp| *exp > now_secs())
    }

    /// Marks `state` used; false when it already was.
    pub(crate) fn consume(&self, state: &str, expires_at: u64) -> bool {
        let mut used = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= 1024 {
            let now = now_secs();
            used.retain(|_, exp| *exp > now);
        }
        used.insert(state.to_owned(), expires_at).is_none()
    }
}

pub(crate) fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(poem::http::header::LOCATION, location)
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .finish()
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_return_targets() {
        for ok in ["/", "/admin/profile", "/a?b=c#d", "/%2F%2Fevil"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\tx",
            "/a\nb",
            "\\\\evil",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
        assert!(!is_local_path(&format!("/{}", "a".repeat(3000))));
    }

    fn auth() -> crate::CivicAuth {
        let config = crate::CivicAuthConfig::builder()
            .client_id("c")
            .redirect_url("http://localhost:5000/auth/callback")
            .post_logout_redirect_url("http://localhost:5000/")
            .build()
            .unwrap();
        crate::CivicAuth::new(config, crate::SessionSecret::generate())
    }

    /// A request carrying `tx` sealed under the cookie of `cookie_state`.
    fn carrying(auth: &crate::CivicAuth, cookie_state: &str, tx: &LoginTransaction) -> Request {
        let name = LoginTransaction::cookie_name(cookie_state);
        let sealed = auth
            .inner()
            .sealer
            .seal(&name, serde_json::to_string(tx).unwrap());
        Request::builder()
            .header(poem::http::header::COOKIE, format!("{name}={sealed}"))
            .finish()
    }

    fn transaction(state: &str, expires_at: u64) -> LoginTransaction {
        LoginTransaction {
            state: state.into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: None,
            expires_at,
        }
    }

    #[test]
    fn a_transaction_is_read_only_for_its_own_unexpired_state() {
        let auth = auth();
        let inner = auth.inner();
        let live = transaction("s", now_secs() + 60);
        assert!(LoginTransaction::read(inner, &carrying(&auth, "s", &live), "s").is_some());
        let expired = transaction("s", now_secs() - 1);
        assert!(LoginTransaction::read(inner, &carrying(&auth, "s", &expired), "s").is_none());
        let other = transaction("other", now_secs() + 60);
        assert!(LoginTransaction::read(inner, &carrying(&auth, "s", &other), "s").is_none());
        assert!(LoginTransaction::read(inner, &carrying(&auth, "s", &live), "s.x").is_none());
    }

    #[test]
    fn a_state_is_consumed_once() {
        let used = ConsumedStates::default();
        assert!(used.consume("s", now_secs() + 60));
        assert!(!used.consume("s", now_secs() + 60));
        assert!(used.consume("t", now_secs() + 60));
    }
}
