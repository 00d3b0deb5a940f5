//! Where sessions are kept, and how one is read and written there: sealed
//! whole in the cookie, or sealed in a [`SessionStore`] with only its id in
//! the cookie. A stored record is deflated, then sealed with the session
//! secret under its id, so whoever can write to the store can neither read
//! its tokens nor change who a user is, nor move a record to another
//! session's id.
//!
//! Deflating before sealing lets a record's length tell how compressible
//! it is. That leaks a secret only where someone who sees the length (with
//! read access to Redis, or on its unencrypted traffic) can also put chosen
//! text beside the secret, again and again. A record holds one user's
//! session: its tokens, what the provider says of that user, and what the
//! app's login hook attached. An app that puts text others choose into its
//! app data compresses it with the tokens; the provider's claims are the
//! user's own.

use std::{sync::Arc, time::Duration};

use super::{
    state::Session,
    store::{Record, SessionStore},
};
use crate::{
    clock::Clock,
    cookie::{sealer::CookieSealer, writer::SessionCookie},
    error::Error,
    random::SessionId,
};

#[derive(Clone)]
pub(crate) struct Backend {
    store: Option<Arc<dyn SessionStore>>,
    sealer: CookieSealer,
    idle: Duration,
    clock: Clock,
}

/// What a stored record is sealed under: its session's id.
fn record_name(id: &str) -> String {
    format!("civic_record.{id}")
}

/// The largest session a record opens to; sessions are a few KB at most.
const MAX_RECORD_JSON: usize = 256 * 1024;

impl Backend {
    pub(crate) fn new(
        store: Option<Arc<dyn SessionStore>>,
        sealer: CookieSealer,
        idle: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            sealer,
            idle,
            clock,
        }
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
        Ok(record.and_then(|sealed| self.open_record(id.as_str(), &sealed)))
    }

    /// The session a stored record of `id` holds, unless it was not sealed
    /// by this app under that id.
    pub(crate) fn open_record(&self, id: &str, sealed: &[u8]) -> Option<Session> {
        let name = record_name(id);
        let json = match self.sealer.open_bytes(&name, sealed) {
            Some(deflated) => {
                miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, MAX_RECORD_JSON)
                    .ok()?
            }
            // Records written before they were deflated: base64 text of the
            // sealed JSON, read so that an upgrade logs no one out.
            None => self
                .sealer
                .open(&name, std::str::from_utf8(sealed).ok()?)?
                .into_bytes(),
        };
        serde_json::from_slice(&json).ok()
    }

    /// `session` as its record holds it.
    fn seal_record(&self, session: &Session) -> Vec<u8> {
        let json = serde_json::to_vec(session).expect("a session always serialises");
        let deflated = miniz_oxide::deflate::compress_to_vec(&json, 6);
        self.sealer
            .seal_bytes(&record_name(session.id.as_str()), &deflated)
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
                value: self.seal_record(session),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::ManualClock, cookie::secret::SessionSecret, oidc::client::TokenSet,
        session::MemoryStore, user::CivicUser,
    };

    fn session(now: u64) -> Session {
        let user = CivicUser::from_claims(
            serde_json::json!({"sub": "ada", "email": "ada@example.com"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        let tokens = TokenSet {
            access_token: "the-access-token".into(),
            expires_in: None,
            refresh_token: Some("the-refresh-token".into()),
            id_token: Some(ID_TOKEN.into()),
            dpop_bound: false,
        };
        Session::new(user, tokens, None, Duration::from_secs(600), now)
    }

    /// An ID token as the test provider signs them (RS256).
    const ID_TOKEN: &str = concat!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzMjU2LTM5YWJkNTZhNDlhNiJ9.",
        "eyJzdWIiOiJrYXRoZXJpbmUuam9obnNvbiIsImF1dGhfdGltZSI6MTc5NjM5MjAxNywibm9uY2UiOiJveXVpSWhjbWpZQThiWTFFalZUSldnNzh0ZUc4MWZiaC1mM0ctdHBfaEFvIiwic2lkIjoiWG5tS1pSZ2ZfMThGT3BScFN1MXByeUNmckFYVWxsUmZyQjg0RXEtVVc4SSIsImF1ZCI6ImNpdmljLXRlc3QtYXBwIiwiZXhwIjoxNzk2Mzk1NjE3LCJpYXQiOjE3OTYzOTIwMTcsImlzcyI6Imh0dHA6Ly8xMjcuMC4wLjE6NDU2MDEvb2F1dGgvIn0.",
        "tYLXBqfi67kir-qftlwEmziUOVSFsXVgeJJvzF542csZ3_-E2-bJrLai8B7KxOoPX1MmNmz173o5-LVD5YqBuGv8Vds92O_H3cJQdB5BkjWF28BDj52HU0I1NSW_1jdh6R-7OXdt96ID5GFVrLzSAmNo4ZQPvqYkU52keD0-RYIBWhKreiIEOH7QR6yf7Kr9t9GzW5hsMnZAspPjM_zxMo34H5WHBYE_W13T9I-9Q8qH69X5DF-I87leFWtFZ_J22OdiEDyHL4okIso9Bx-3A3vnhrVkCmTxzvFxZeUj7lgwM8wP4kqeZtpsDuG5dZEzb7Pvu4Fjn4ZFdVL8LYX6NQ",
    );

    #[tokio::test]
    async fn stored_records_are_sealed_to_their_id() {
        let clock = ManualClock::now();
        let store = Arc::new(MemoryStore::default());
        let sealer = CookieSealer::new(&SessionSecret::generate());
        let idle = Duration::from_secs(60);
        let backend = Backend::new(
            Some(store.clone()),
            sealer.clone(),
            idle,
            clock.clone().into(),
        );
        let mut kept = session(Clock::from(clock).now_secs());
        backend.save(&mut kept).await.unwrap();
        let raw = store.load(kept.id.as_str(), idle).await.unwrap().unwrap();
        for secret in [
            "ada@example.com",
            "the-access-token",
            "the-refresh-token",
            "\"sub\"",
        ] {
            let readable = raw.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!readable, "{secret} readable in {raw:?}");
        }
        // Deflated: even a session made mostly of its ID token (base64,
        // which compresses least) takes a fifth less, sealed, and its record
        // is within 1 KB.
        let json = serde_json::to_vec(&kept).unwrap();
        assert!(raw.len() <= 1024, "{}", raw.len());
        assert!(
            raw.len() * 5 < json.len() * 4,
            "{} of {}",
            raw.len(),
            json.len()
        );
        let opened = backend.reload(&kept.id).await.unwrap().unwrap();
        assert_eq!(opened.user.id, "ada");
        assert_eq!(opened.refresh_token.as_deref(), Some("the-refresh-token"));

        // Whoever writes to the store: plain JSON, another id's record, or
        // one sealed with another secret does not open.
        let write = |id: &str, value: Vec<u8>| {
            let store = store.clone();
            let id = id.to_owned();
            async move {
                let record = Record {
                    id: &id,
                    value,
                    tags: &[],
                    ttl: idle,
                    lifetime: idle,
                };
                store.save(record, false).await.unwrap();
            }
        };
        let other = SessionId::generate();
        write(other.as_str(), serde_json::to_vec(&kept).unwrap()).await;
        assert!(
            backend.reload(&other).await.unwrap().is_none(),
            "plain JSON"
        );
        write(other.as_str(), raw.clone()).await;
        assert!(backend.reload(&other).await.unwrap().is_none(), "moved");
        let foreign = CookieSealer::new(&SessionSecret::generate());
        let name = record_name(kept.id.as_str());
        let deflated = miniz_oxide::deflate::compress_to_vec(&json, 6);
        write(kept.id.as_str(), foreign.seal_bytes(&name, &deflated)).await;
        assert!(
            backend.reload(&kept.id).await.unwrap().is_none(),
            "another secret"
        );
        // Sealed by this app but not deflated, or deflated but not a session.
        write(kept.id.as_str(), sealer.seal_bytes(&name, &json)).await;
        assert!(
            backend.reload(&kept.id).await.unwrap().is_none(),
            "not deflated"
        );
        let not_json = miniz_oxide::deflate::compress_to_vec(b"{", 6);
        write(kept.id.as_str(), sealer.seal_bytes(&name, &not_json)).await;
        assert!(
            backend.reload(&kept.id).await.unwrap().is_none(),
            "not JSON"
        );

        // A record written before records were deflated still opens.
        let text = String::from_utf8(json).unwrap();
        write(kept.id.as_str(), sealer.seal(&name, text).into_bytes()).await;
        let opened = backend.reload(&kept.id).await.unwrap().unwrap();
        assert_eq!(opened.refresh_token.as_deref(), Some("the-refresh-token"));
    }
}
