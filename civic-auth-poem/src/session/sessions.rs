//! `Sessions`: the session of a request, from its cookie to its user:
//! opened (and remembered for a moment), checked against its lifetimes,
//! refreshed when its tokens expire, restarted at login, ended at logout.
//! What the response must do to the cookie is returned, never written here.

use std::{borrow::Cow, sync::Arc, time::Duration};

use poem::Request;

use super::{
    backend::Backend,
    cache::OpenedSessions,
    refresh::{Refresher, Renewal},
    state::Session,
    SessionStore,
};
use crate::{
    clock::Clock,
    config::CivicAuthConfig,
    cookie::{
        request::{sealed_chunks, values},
        sealer::CookieSealer,
        writer::{check_session_fits, SessionCookie},
        CookieNames,
    },
    error::Error,
    hooks::AppData,
    oidc::{
        client::{RefreshFailure, TokenSet},
        dpop::DpopKey,
        providers::Providers,
    },
    random::SessionId,
    resource::Resource,
    user::CivicUser,
};

/// A refresh this near is left to the refresh: a late idle rewrite could
/// put back a cookie whose refresh token the refresh has just spent.
const REFRESH_MARGIN_SECS: u64 = 120;
/// A cookie session's decryption is reused this long (its expiry is still
/// checked per request: a sealed cookie never changes).
const COOKIE_CACHE_TTL: Duration = Duration::from_secs(60);

/// A session as loaded, and whether its cookie should be rewritten (its
/// idle timer restarted).
pub(crate) struct Loaded {
    pub(crate) session: Arc<Session>,
    stale_touch: bool,
}

/// The user of a request's session, the session itself (its tokens and
/// app data, for the handler's extractors), and what its cookie must become.
pub(crate) struct Resolved {
    pub(crate) user: Result<Arc<CivicUser>, Error>,
    pub(crate) session: Option<Arc<Session>>,
    pub(crate) cookie: Option<SessionCookie>,
}

pub(crate) struct Sessions {
    /// The session cookie's name.
    cookie: &'static str,
    backend: Backend,
    sealer: CookieSealer,
    opened: OpenedSessions,
    refresher: Refresher,
    clock: Clock,
    lifetime: Duration,
}

impl Sessions {
    pub(crate) fn new(
        config: &CivicAuthConfig,
        sealer: CookieSealer,
        store: Option<Arc<dyn SessionStore>>,
        providers: Arc<Providers>,
    ) -> Self {
        let clock = config.clock.clone();
        // A store's sessions are remembered here for `session_cache_ttl`
        // (so another instance's logout shows within it).
        let cache_ttl = match store {
            None => COOKIE_CACHE_TTL,
            Some(_) => config.session_cache_ttl,
        };
        let changes = store.as_ref().and_then(|store| store.changes());
        let backend = Backend::new(
            store,
            sealer.clone(),
            config.session_idle_timeout,
            clock.clone(),
        );
        Self {
            cookie: CookieNames::of(config).session,
            refresher: Refresher::new(
                providers,
                backend.clone(),
                clock.clone(),
                // Long enough for the slowest provider's refresh.
                config
                    .all_providers()
                    .map(|p| p.http_timeout)
                    .max()
                    .unwrap_or(config.http_timeout),
            ),
            opened: OpenedSessions::new(cache_ttl, clock.clone(), changes),
            backend,
            sealer,
            clock,
            lifetime: config.session_duration,
        }
    }

    /// Whether sessions live in a store (and can be ended from the server).
    pub(crate) fn has_store(&self) -> bool {
        self.backend.store().is_some()
    }

    /// The request's live session. `None` for a missing, tampered,
    /// truncated, foreign or expired cookie alike; an error only when the
    /// store cannot be reached.
    pub(crate) async fn load(&self, req: &Request) -> Result<Option<Loaded>, Error> {
        let Some(sealed) = sealed_chunks(req, self.cookie) else {
            return Ok(None);
        };
        let session = match self.opened.get(&sealed) {
            Some(session) => session,
            None => {
                let version = self.opened.version();
                let Some(cookie) = self.sealer.open(self.cookie, &sealed) else {
                    return Ok(None);
                };
                let Some(session) = self.backend.open(&cookie).await? else {
                    return Ok(None);
                };
                let session = Arc::new(session);
                self.opened.put(&sealed, session.clone(), version);
                session
            }
        };
        let now = self.clock.now_secs();
        let is_cookie = !self.has_store();
        let idle = self.backend.idle().as_secs();
        let idle_end = session.touched_at.saturating_add(idle);
        if session.expires_at <= now || (is_cookie && idle_end <= now) {
            return Ok(None);
        }
        // A store restarts the idle timer as it reads; a cookie's restarts by
        // rewriting it, at most every tenth of the timeout, not per request.
        let refresh_near = session.refresh_token.is_some()
            && session
                .refresh_at
                .is_some_and(|at| at <= now.saturating_add(REFRESH_MARGIN_SECS));
        let stale_touch = is_cookie
            && !refresh_near
            && now.saturating_sub(session.touched_at) >= (idle / 10).max(1);
        Ok(Some(Loaded {
            session,
            stale_touch,
        }))
    }

    /// The user of the request's session: refreshed first when its tokens
    /// have expired, its idle timer restarted when due.
    pub(crate) async fn user(&self, req: &Request) -> Resolved {
        let loaded = match self.load(req).await {
            Ok(Some(loaded)) => loaded,
            // Drops whatever session cookies the request carried.
            Ok(None) => return Resolved::ended(),
            Err(error) => {
                return Resolved {
                    user: Err(error),
                    session: None,
                    cookie: None,
                }
            }
        };
        let mut session = loaded.session;
        if session.needs_refresh(self.clock.now_secs()) {
            // Boxed, as the rewrite below: its state would otherwise be
            // part of every protected request's future.
            match Box::pin(self.refresher.refresh(&session, &Renewal::Session)).await {
                Ok((refreshed, cookie)) => {
                    self.forget(req);
                    return Resolved {
                        user: Ok(refreshed.user.clone()),
                        session: Some(Arc::new(refreshed)),
                        cookie: Some(cookie),
                    };
                }
                Err(RefreshFailure::Ended(reason)) => {
                    tracing::info!(%reason, "session ended: its tokens could not be refreshed");
                    // Boxed, as the rewrite below: their states (store
                    // writes) would otherwise be part of every protected
                    // request's future, copied each time it moves.
                    if let Err(error) = Box::pin(self.end(req)).await {
                        // Its tokens are dead: the record expires on its own.
                        tracing::warn!(%error, "could not delete an ended session");
                    }
                    return Resolved::ended();
                }
                // The user is still who they were: serve them, retry later.
                Err(RefreshFailure::Unavailable(reason) | RefreshFailure::Refused(reason)) => {
                    tracing::warn!(%reason, "could not refresh a session now; keeping it");
                }
            }
        }
        let mut cookie = None;
        // Not while it is renewed: the renewal's cookie comes.
        if loaded.stale_touch && !self.refresher.is_renewing(&session) {
            // A session renewed here since this cookie was written (a
            // handler's token for an API, in an answer that reached the
            // browser first) is the one whose timer restarts, not this one
            // with its spent refresh token. The copy is made inside the
            // boxed step: a session kept in every request's future would be
            // copied as it moves.
            let touch = async {
                let mut touched = match self.refresher.replacement(&session) {
                    Some((latest, _)) => latest,
                    None => (*session).clone(),
                };
                let rewritten = self.backend.save(&mut touched).await?;
                Ok::<_, Error>((touched, rewritten))
            };
            match Box::pin(touch).await {
                Ok((touched, rewritten)) => {
                    session = Arc::new(touched);
                    cookie = Some(rewritten);
                }
                Err(error) => {
                    return Resolved {
                        user: Err(error),
                        session: None,
                        cookie: None,
                    }
                }
            }
        }
        Resolved {
            user: Ok(session.user.clone()),
            session: Some(session),
            cookie,
        }
    }

    /// `session` renewed for `renewal` by a handler (a token for an API),
    /// and the cookie that must then carry it; a session whose refresh
    /// token was refused has ended: it is removed from the store, and its
    /// cookie cleared.
    pub(crate) async fn renew(
        &self,
        session: &Session,
        renewal: &Renewal,
    ) -> (Result<Session, RefreshFailure>, Option<SessionCookie>) {
        match self.refresher.refresh(session, renewal).await {
            Ok((renewed, cookie)) => (Ok(renewed), Some(cookie)),
            Err(RefreshFailure::Ended(reason)) => {
                tracing::info!(%reason, "session ended: its tokens could not be refreshed");
                if let Some(store) = self.backend.store() {
                    if let Err(error) = store.remove(session.id.as_str()).await {
                        tracing::warn!(%error, "could not delete an ended session");
                    }
                }
                (
                    Err(RefreshFailure::Ended(reason)),
                    Some(SessionCookie::Clear),
                )
            }
            Err(failure) => (Err(failure), None),
        }
    }

    /// A new session for a verified login, with a new id; refused when its
    /// cookie would be more than the app reads back.
    pub(crate) async fn start(
        &self,
        user: CivicUser,
        tokens: TokenSet,
        sid: Option<String>,
        dpop_key: Option<DpopKey>,
        app_data: Option<AppData>,
        resources: &[Resource],
    ) -> Result<SessionCookie, Error> {
        let mut session = Session::new(user, tokens, sid, self.lifetime, self.clock.now_secs());
        session.dpop_key = dpop_key;
        session.app_data = app_data;
        // The APIs its grant covers: their tokens come when first asked.
        session.resources = resources
            .iter()
            .map(|api| (api.indicator.clone(), None))
            .collect();
        let cookie = self.backend.save(&mut session).await?;
        if let SessionCookie::Set { value, .. } = &cookie {
            check_session_fits(value.len())?;
        }
        Ok(cookie)
    }

    /// Forgets what was opened from the request's cookie: its session was
    /// ended or replaced here.
    fn forget(&self, req: &Request) {
        if let Some(sealed) = sealed_chunks(req, self.cookie) {
            self.opened.forget(&sealed);
        }
    }

    /// Ends the request's session: deleted from the store; the cookie must
    /// go. Every value sent under the session's name is ended: a cookie
    /// planted beside the app's must not keep the real one alive. An error
    /// when the store could not delete it: the session then lives on, and
    /// its cookie must stay (a logout must not look done when it is not).
    pub(crate) async fn end(&self, req: &Request) -> Result<SessionCookie, Error> {
        let mut sealed: Vec<Cow<'_, str>> = values(req, self.cookie).map(Cow::Borrowed).collect();
        if sealed.is_empty() {
            sealed.extend(sealed_chunks(req, self.cookie));
        }
        let mut failed = Ok(());
        for sealed in sealed {
            self.opened.forget(&sealed);
            let Some(store) = self.backend.store() else {
                continue;
            };
            let id = self.sealer.open(self.cookie, &sealed);
            if let Some(id) = id.as_deref().and_then(SessionId::parse) {
                if let Err(error) = store.remove(id.as_str()).await {
                    failed = Err(error);
                }
            }
        }
        failed.map(|()| SessionCookie::Clear)
    }

    /// Ends every stored session with `tag` (back-channel logout); returns
    /// those it ended.
    pub(crate) async fn end_tagged(&self, tag: &str) -> Result<Vec<Session>, Error> {
        let Some(store) = self.backend.store() else {
            return Err(Error::BackchannelNeedsStore);
        };
        let ended = store.remove_tagged(tag).await?;
        if !ended.is_empty() {
            // Which cookies those were is unknown here: forget them all.
            self.opened.clear();
        }
        Ok(ended
            .iter()
            .filter_map(|(id, sealed)| self.backend.open_record(id, sealed))
            .collect())
    }
}

impl Resolved {
    fn ended() -> Self {
        Self {
            user: Err(Error::NotLoggedIn),
            session: None,
            cookie: Some(SessionCookie::Clear),
        }
    }
}
