//! The session: who is logged in and their tokens, sealed into an encrypted,
//! authenticated cookie set that page scripts cannot read and clients cannot forge.

use std::time::Duration;

use poem::{Request, Response};
use serde::{Deserialize, Serialize};

use crate::{cookie::CookieSealer, login::now_secs, CivicUser};

/// The session cookie's name; chunks are `civic_session.0`, `civic_session.1`, ...
pub const SESSION_COOKIE: &str = "civic_session";

/// One login's state, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Random and new at every login, so a session cannot be fixed in advance.
    pub(crate) id: String,
    pub(crate) user: CivicUser,
    pub(crate) id_token: String,
    pub(crate) access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_token_expires_at: Option<u64>,
    /// The provider's session id, for back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
}

impl Session {
    pub(crate) fn new(
        user: CivicUser,
        id_token: String,
        access_token: String,
        refresh_token: Option<String>,
        access_token_lifetime: Option<Duration>,
        sid: Option<String>,
        lifetime: Duration,
    ) -> Self {
        let now = now_secs();
        Self {
            id: oauth2::CsrfToken::new_random().secret().clone(),
            user,
            id_token,
            access_token,
            refresh_token,
            access_token_expires_at: access_token_lifetime.map(|d| now + d.as_secs()),
            sid,
            created_at: now,
            expires_at: now.saturating_add(lifetime.as_secs()),
        }
    }

    fn is_live(&self) -> bool {
        self.expires_at > now_secs()
    }
}

/// Sessions kept in the browser, sealed with the app's secret.
pub(crate) struct CookieSessions {
    pub(crate) sealer: CookieSealer,
}

impl CookieSessions {
    /// The request's session; `None` for a missing, tampered, truncated,
    /// foreign or expired cookie alike.
    pub(crate) fn load(&self, req: &Request) -> Option<Session> {
        let plaintext = self.sealer.read_chunked(req, SESSION_COOKIE)?;
        let session: Session = serde_json::from_str(&plaintext).ok()?;
        session.is_live().then_some(session)
    }

    pub(crate) fn save(&self, req: &Request, resp: &mut Response, session: &Session) {
        let plaintext = serde_json::to_string(session).expect("a session always serialises");
        let max_age = Duration::from_secs(session.expires_at.saturating_sub(now_secs()));
        self.sealer
            .write_chunked(req, resp, SESSION_COOKIE, plaintext, max_age);
    }

    pub(crate) fn clear(&self, req: &Request, resp: &mut Response) {
        self.sealer.remove_chunked(req, resp, SESSION_COOKIE);
    }
}
