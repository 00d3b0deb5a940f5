//! Where sessions are kept, and how one is read and written there: sealed
//! whole in the cookie, or in a [`SessionStore`] with only its id in the
//! cookie.

use std::{sync::Arc, time::Duration};

use super::{
    state::Session,
    store::{Record, SessionStore},
};
use crate::{clock::Clock, cookie::writer::SessionCookie, error::Error, random::SessionId};

#[derive(Clone)]
pub(crate) struct Backend {
    store: Option<Arc<dyn SessionStore>>,
    idle: Duration,
    clock: Clock,
}

impl Backend {
    pub(crate) fn new(store: Option<Arc<dyn SessionStore>>, idle: Duration, clock: Clock) -> Self {
        Self { store, idle, clock }
    }

    pub(crate) fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.store.as_ref()
    }

    pub(crate) fn idle(&self) -> Duration {
        self.idle
    }

    /// The session an opened session cookie stands for: the cookie's own
    /// content, or the store's record of the id it holds.
    pub(crate) async fn open(&self, cookie: &str) -> Result<Option<Session>, Error> {
        match &self.store {
            None => Ok(serde_json::from_str(cookie).ok()),
            Some(_) => match SessionId::parse(cookie) {
                Some(id) => self.reload(&id).await,
                None => Ok(None),
            },
        }
    }

    /// A session's current stored record (`None` for cookie sessions);
    /// reading it restarts its idle timer.
    pub(crate) async fn reload(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let record = store.load(id.as_str(), self.idle).await?;
        Ok(record.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Stores `session` (for a store) and says what the cookie must carry.
    pub(crate) async fn save(&self, session: &mut Session) -> Result<SessionCookie, Error> {
        self.write(session, false)
            .await
            .map(|cookie| cookie.unwrap_or(SessionCookie::Clear))
    }

    /// Like [`Self::save`], but a store only replaces a record that still
    /// exists: `None` when the session ended meanwhile.
    pub(crate) async fn replace(
        &self,
        session: &mut Session,
    ) -> Result<Option<SessionCookie>, Error> {
        self.write(session, true).await
    }

    async fn write(
        &self,
        session: &mut Session,
        only_if_present: bool,
    ) -> Result<Option<SessionCookie>, Error> {
        session.touched_at = self.clock.now_secs();
        if let Some(store) = &self.store {
            let lifetime = self.max_age(session);
            let record = Record {
                id: session.id.as_str(),
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

    /// What the cookie carries for `session`: the session itself, or its id
    /// when a store keeps it.
    pub(crate) fn cookie_for(&self, session: &Session) -> SessionCookie {
        let value = match &self.store {
            None => serde_json::to_string(session).expect("a session always serialises"),
            Some(_) => session.id.as_str().to_owned(),
        };
        SessionCookie::Set {
            value,
            max_age: self.max_age(session),
        }
    }

    /// A cookie session's cookie lasts until its idle or absolute end,
    /// whichever comes first (activity rewrites it). A store's id cookie lasts
    /// to the absolute end: the store's record carries the idle timer, and
    /// is not rewritten per request.
    fn max_age(&self, session: &Session) -> Duration {
        let left = session.expires_at.saturating_sub(self.clock.now_secs());
        Duration::from_secs(match self.store {
            None => left.min(self.idle.as_secs()),
            Some(_) => left,
        })
    }
}
