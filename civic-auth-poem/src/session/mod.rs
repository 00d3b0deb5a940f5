//! The session: who is logged in and their tokens. By default it is sealed
//! into an encrypted, authenticated cookie set; with a server-side store the
//! cookie carries only a sealed, random session id. Either way page scripts
//! cannot read it and clients cannot forge it.

mod cache;
mod memory_store;
mod redis_store;
mod store;

use std::{sync::Arc, time::Duration};

use poem::{Request, Response};
use serde::{Deserialize, Serialize};

use self::cache::OpenedSessions;
pub use self::{
    memory_store::MemoryStore,
    redis_store::RedisStore,
    store::{Record, SessionStore, StoreFuture},
};
use crate::{
    cookie::{sealed_chunks, CookieSealer},
    login::now_secs,
    CivicUser, Error,
};

/// The session cookie's name; chunks are `civic_session.0`, `civic_session.1`, ...
pub const SESSION_COOKIE: &str = "civic_session";

/// The store named by `CIVIC_SESSION_STORE`: unset for the encrypted cookie
/// (`None`), `memory`, or a `redis://` URL.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), civic_auth_poem::Error> {
/// let store = civic_auth_poem::session::store_from_env().await?;
/// # let _ = store; Ok(()) }
/// ```
pub async fn store_from_env() -> Result<Option<Arc<dyn SessionStore>>, Error> {
    match std::env::var("CIVIC_SESSION_STORE")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => Ok(None),
        Some("memory") => Ok(Some(Arc::new(MemoryStore::default()))),
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(Some(Arc::new(RedisStore::connect(url).await?)))
        }
        Some(other) => Err(Error::InvalidConfig {
            field: "CIVIC_SESSION_STORE",
            value: other.to_owned(),
            reason: "use nothing (encrypted cookie), `memory`, or a `redis://host:port/` URL"
                .into(),
        }),
    }
}

/// One login's state, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Random and new at every login, so a session cannot be fixed in advance.
    pub(crate) id: String,
    /// Shared, so each request hands it out without copying every claim.
    pub(crate) user: Arc<CivicUser>,
    pub(crate) id_token: String,
    pub(crate) access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// When to refresh: shortly before the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_at: Option<u64>,
    /// The provider's session id, for back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    pub(crate) created_at: u64,
    /// The absolute end, however active the user is.
    pub(crate) expires_at: u64,
    /// The last activity seen; the session ends after the idle timeout.
    pub(crate) touched_at: u64,
}

impl Session {
    pub(crate) fn new(
        user: CivicUser,
        tokens: Tokens,
        sid: Option<String>,
        lifetime: Duration,
    ) -> Self {
        let now = now_secs();
        let mut session = Self {
            id: oauth2::CsrfToken::new_random().secret().clone(),
            user: Arc::new(user),
            id_token: String::new(),
            access_token: String::new(),
            refresh_token: None,
            refresh_at: None,
            sid,
            created_at: now,
            expires_at: now.saturating_add(lifetime.as_secs()),
            touched_at: now,
        };
        session.set_tokens(tokens);
        session
    }

    /// Takes the tokens of a login or a refresh; a refresh that returns no
    /// new refresh token or ID token keeps the old ones.
    pub(crate) fn set_tokens(&mut self, tokens: Tokens) {
        self.access_token = tokens.access_token;
        // Ahead of expiry by a fifth of the lifetime, at most 10 s, so
        // short-lived tokens are not refreshed at every request.
        self.refresh_at = tokens.expires_in.map(|lifetime| {
            // A provider's `expires_in` could be anything: at most a year.
            let lifetime = lifetime.as_secs().min(365 * 24 * 3600);
            now_secs().saturating_add(lifetime - (lifetime / 5).min(10))
        });
        if let Some(refresh_token) = tokens.refresh_token {
            self.refresh_token = Some(refresh_token);
        }
        if let Some(id_token) = tokens.id_token {
            self.id_token = id_token;
        }
    }

    /// Whether the access token is (about to be) expired.
    pub(crate) fn needs_refresh(&self) -> bool {
        self.refresh_token.is_some() && self.refresh_at.is_some_and(|at| at <= now_secs())
    }

    /// Tags for back-channel logout: the user, and the provider session (or,
    /// when the ID token named none, that it did not).
    fn tags(&self) -> Vec<String> {
        let sub = &self.user.id;
        let session = match &self.sid {
            Some(sid) => format!("sid:{sid}"),
            None => format!("sub-without-sid:{sub}"),
        };
        vec![format!("sub:{sub}"), session]
    }
}

/// Tokens from the token endpoint.
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
}

/// Where sessions are kept.
pub(crate) enum Backend {
    /// In the browser, sealed.
    Cookie,
    /// In a store; the cookie holds the sealed session id.
    Store(Arc<dyn SessionStore>),
}

/// A session as loaded, and whether it should be written back (its idle
/// timer restarted).
pub(crate) struct Loaded {
    pub(crate) session: Arc<Session>,
    pub(crate) stale_touch: bool,
}

impl Sessions {
    /// Sessions over `backend`; a store's sessions are remembered here for
    /// `store_cache_ttl` (so another instance's logout shows within it).
    pub(crate) fn new(
        sealer: CookieSealer,
        backend: Backend,
        idle: Duration,
        store_cache_ttl: Duration,
    ) -> Self {
        let ttl = match backend {
            // A sealed cookie never changes: only its expiry is re-checked.
            Backend::Cookie => Duration::from_secs(60),
            Backend::Store(_) => store_cache_ttl,
        };
        Self {
            sealer,
            backend,
            idle,
            opened: OpenedSessions::new(ttl),
        }
    }
}

/// The session lifecycle over a backend.
pub(crate) struct Sessions {
    pub(crate) sealer: CookieSealer,
    pub(crate) backend: Backend,
    pub(crate) idle: Duration,
    opened: OpenedSessions,
}

impl Sessions {
    /// The request's live session. `None` for a missing, tampered,
    /// truncated, foreign or expired cookie alike; an error only when the
    /// store cannot be reached.
    pub(crate) async fn load(&self, req: &Request) -> Result<Option<Loaded>, Error> {
        let Some(sealed) = sealed_chunks(req, SESSION_COOKIE) else {
            return Ok(None);
        };
        let session = match self.opened.get(&sealed) {
            Some(session) => session,
            None => {
                let Some(session) = self.open(&sealed).await? else {
                    return Ok(None);
                };
                let session = Arc::new(session);
                self.opened.put(&sealed, session.clone());
                session
            }
        };
        let now = now_secs();
        let is_cookie = matches!(self.backend, Backend::Cookie);
        let idle_end = session.touched_at.saturating_add(self.idle.as_secs());
        if session.expires_at <= now || (is_cookie && idle_end <= now) {
            return Ok(None);
        }
        // A store restarts the idle timer as it reads; a cookie's restarts by
        // rewriting it, at most every tenth of the timeout, not per request.
        // Not when a refresh is near: a late rewrite could put back a cookie
        // whose refresh token the refresh has just spent.
        let refresh_near = session
            .refresh_at
            .is_some_and(|at| at <= now.saturating_add(120));
        let stale_touch = is_cookie
            && !refresh_near
            && now.saturating_sub(session.touched_at) >= (self.idle.as_secs() / 10).max(1);
        Ok(Some(Loaded {
            session,
            stale_touch,
        }))
    }

    /// Opens a sealed session cookie: decrypts it, and for a store reads the
    /// record it names.
    async fn open(&self, sealed: &str) -> Result<Option<Session>, Error> {
        let Some(cookie) = self.sealer.open(SESSION_COOKIE, sealed) else {
            return Ok(None);
        };
        match &self.backend {
            Backend::Store(_) => self.reload(&cookie).await,
            Backend::Cookie => Ok(serde_json::from_str(&cookie).ok()),
        }
    }

    /// Forgets what was opened from the request's cookie: its session was
    /// ended or replaced here.
    pub(crate) fn forget(&self, req: &Request) {
        if let Some(sealed) = sealed_chunks(req, SESSION_COOKIE) {
            self.opened.forget(&sealed);
        }
    }

    /// A session's current stored record (for a store backend); reading it
    /// restarts its idle timer.
    pub(crate) async fn reload(&self, id: &str) -> Result<Option<Session>, Error> {
        let Backend::Store(store) = &self.backend else {
            return Ok(None);
        };
        let record = store.load(id, self.idle).await?;
        Ok(record.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Stores `session` (for a store backend) and returns what the cookie
    /// must then carry, and for how long; the stored record expires when
    /// the session has been idle for the idle timeout.
    pub(crate) async fn save(&self, session: &mut Session) -> Result<CookieUpdate, Error> {
        self.write(session, false)
            .await
            .map(|update| update.unwrap_or(CookieUpdate::Clear))
    }

    /// Like [`Self::save`], but a store only replaces a record that still
    /// exists: `None` when the session ended meanwhile.
    pub(crate) async fn replace(
        &self,
        session: &mut Session,
    ) -> Result<Option<CookieUpdate>, Error> {
        self.write(session, true).await
    }

    async fn write(
        &self,
        session: &mut Session,
        only_if_present: bool,
    ) -> Result<Option<CookieUpdate>, Error> {
        session.touched_at = now_secs();
        if let Backend::Store(store) = &self.backend {
            let lifetime = self.max_age(session);
            let record = Record {
                id: &session.id,
                value: serde_json::to_string(&session).expect("a session always serialises"),
                tags: &session.tags(),
                ttl: self.idle.min(lifetime),
                lifetime,
            };
            if !store.save(record, only_if_present).await? {
                return Ok(None);
            }
        }
        Ok(Some(self.cookie_for(session)))
    }

    /// What the cookie carries for `session`: the sealed session itself, or
    /// its id when a store keeps it.
    pub(crate) fn cookie_for(&self, session: &Session) -> CookieUpdate {
        let value = match &self.backend {
            Backend::Cookie => serde_json::to_string(session).expect("a session always serialises"),
            Backend::Store(_) => session.id.clone(),
        };
        CookieUpdate::Set {
            value,
            max_age: self.max_age(session),
        }
    }

    /// A cookie session's cookie lasts until its idle or absolute end,
    /// whichever comes first (activity rewrites it). A store's id cookie lasts
    /// to the absolute end: the store's record carries the idle timer, and
    /// is not rewritten per request.
    fn max_age(&self, session: &Session) -> Duration {
        let left = session.expires_at.saturating_sub(now_secs());
        Duration::from_secs(match self.backend {
            Backend::Cookie => left.min(self.idle.as_secs()),
            Backend::Store(_) => left,
        })
    }

    /// Ends the request's session: deleted from the store, cookie cleared.
    pub(crate) async fn end(&self, req: &Request) -> CookieUpdate {
        let Some(sealed) = sealed_chunks(req, SESSION_COOKIE) else {
            return CookieUpdate::Clear;
        };
        self.opened.forget(&sealed);
        if let Backend::Store(store) = &self.backend {
            if let Some(id) = self.sealer.open(SESSION_COOKIE, &sealed) {
                if let Err(error) = store.remove(&id).await {
                    // The cookie still goes; the record expires on its own.
                    tracing::warn!(%error, "could not delete a session at logout");
                }
            }
        }
        CookieUpdate::Clear
    }

    /// Ends every stored session with `tag` (back-channel logout).
    pub(crate) async fn end_tagged(&self, tag: &str) -> Result<usize, Error> {
        let Backend::Store(store) = &self.backend else {
            return Err(Error::BackchannelNeedsStore);
        };
        let ended = store.remove_tagged(tag).await?;
        if ended > 0 {
            // Which cookies those were is unknown here: forget them all.
            self.opened.clear();
        }
        Ok(ended)
    }

    /// The store, if sessions are kept server-side.
    pub(crate) fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        match &self.backend {
            Backend::Store(store) => Some(store),
            Backend::Cookie => None,
        }
    }
}

/// What a response must do to the session cookie.
#[derive(Clone, Debug)]
pub(crate) enum CookieUpdate {
    Set { value: String, max_age: Duration },
    Clear,
}

impl CookieUpdate {
    /// Writes the change as `Set-Cookie` headers; `present` are the session
    /// cookies the request carried (stale chunks are removed).
    pub(crate) fn apply(&self, sealer: &CookieSealer, present: &[String], resp: &mut Response) {
        match self {
            CookieUpdate::Set { value, max_age } => {
                sealer.write_chunked(present, resp, SESSION_COOKIE, value.clone(), *max_age)
            }
            CookieUpdate::Clear => sealer.remove_chunked(present, resp),
        }
    }
}
