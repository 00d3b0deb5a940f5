//! Transparent refresh: a session whose access token has expired gets new
//! tokens before the handler runs, and a handler gets a token for an API
//! (RFC 8707) the same way. The provider rotates refresh tokens and
//! revokes the whole grant when an old one is used again, so each refresh
//! token must be used once, whatever it is used for:
//!
//! - concurrent requests of one session share one renewal of each of its
//!   revisions in this process (a request that needed something else then
//!   renews the result in turn);
//! - the refresh runs in its own task, so a request that goes away cannot
//!   abandon it after the token was spent;
//! - with a store, an owner-checked lock makes other machines wait, and the
//!   lock holder re-reads the session first (another machine may have just
//!   refreshed it);
//! - new tokens, once received, are kept even if later steps fail;
//! - a session that ended meanwhile is not brought back.
//!
//! Cookie sessions have no shared lock: apps on several machines that need
//! refresh should use a store (or sticky sessions).

use std::{collections::HashMap, sync::Arc, sync::Mutex, time::Duration};

use tokio::sync::watch;

use super::{backend::Backend, state::Session};
use crate::{
    clock::Clock,
    cookie::writer::SessionCookie,
    oidc::{
        client::{OidcClient, RefreshFailure},
        providers::Providers,
    },
    random::LockOwner,
    resource::Resource,
};

type Outcome = Result<(Session, SessionCookie), RefreshFailure>;

/// One renewal in progress or just done.
struct Flight {
    /// Its result, once sent.
    result: watch::Receiver<Option<Outcome>>,
    started: Duration,
    /// What it renews.
    renewal: Renewal,
}

/// How often a machine that waits for another's refresh looks again.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// How many renewals one request waits for: a shared one that renewed
/// something else, or whose tokens are already due, is renewed in turn.
const ROUNDS: usize = 3;

/// What a renewal must bring a session.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Renewal {
    /// An access token of its own that is good for a while.
    Session,
    /// Such a token for this API.
    Resource(Resource),
}

impl Renewal {
    fn is_met_by(&self, session: &Session, now: u64) -> bool {
        match self {
            Renewal::Session => !session.needs_refresh(now),
            Renewal::Resource(api) => session.resource_token(&api.indicator, now).is_some(),
        }
    }
}

pub(crate) struct Refresher {
    providers: Arc<Providers>,
    backend: Backend,
    clock: Clock,
    /// Longer than any refresh can take under the lock.
    lock_ttl: Duration,
    /// Keyed by the session and revision each flight replaces: requests
    /// that still carry it share the flight's result. (Not by the refresh
    /// token: a provider that does not rotate it hands the same one back,
    /// and the next refresh would then be served the last one's result.)
    flights: Mutex<HashMap<(String, u64), Flight>>,
    /// The latest revision renewed here of each cookie session with APIs,
    /// and when, for as long as its cookie may lie idle: the answers to a
    /// session's concurrent requests can carry different revisions (one
    /// renewed its own token, another an API's after it), and a browser
    /// keeps whichever came last. `None` with a store, which keeps the
    /// latest itself.
    latest: Option<Mutex<Latest>>,
}

/// By session id: its latest revision, its cookie, and when it was renewed.
type Latest = HashMap<String, (Session, SessionCookie, Duration)>;

/// At most this many cookie sessions' latest revisions are kept; beyond,
/// only the flights' shorter memory serves.
const MAX_LATEST: usize = 10_000;

impl Refresher {
    /// `http_timeout` bounds each provider call a refresh makes.
    pub(crate) fn new(
        providers: Arc<Providers>,
        backend: Backend,
        clock: Clock,
        http_timeout: Duration,
    ) -> Self {
        Self {
            providers,
            clock,
            // The token call, a key fetch that may wait on another, store
            // calls; the metadata is fetched before the lock is taken.
            lock_ttl: http_timeout.saturating_mul(6) + Duration::from_secs(5),
            flights: Mutex::default(),
            latest: backend.store().is_none().then(Mutex::default),
            backend,
        }
    }

    /// `session` renewed for `renewal`, shared with every concurrent
    /// request that holds the same revision. A shared result that does not
    /// meet `renewal` (it renewed something else, or an old cookie sent
    /// again long after its refresh finds tokens of a few seconds due
    /// already) is renewed in turn, a few times at most.
    pub(crate) async fn refresh(&self, session: &Session, renewal: &Renewal) -> Outcome {
        // Renewed here already (an old cookie sent again): from the latest.
        let latest = self.replacement(session);
        let session = match &latest {
            Some(outcome) if renewal.is_met_by(&outcome.0, self.clock.now_secs()) => {
                return Ok(outcome.clone());
            }
            Some((latest, _)) => latest,
            None => session,
        };
        let mut outcome = self.refresh_once(session, renewal).await?;
        for _ in 1..ROUNDS {
            if renewal.is_met_by(&outcome.0, self.clock.now_secs()) {
                break;
            }
            outcome = Box::pin(self.refresh_once(&outcome.0, renewal)).await?;
        }
        Ok(outcome)
    }

    /// The session that replaced `session` here, the latest, if any: a
    /// cookie with `session` (its refresh token spent) must not stay in the
    /// browser, nor be rewritten to restart its idle timer.
    pub(crate) fn replacement(&self, session: &Session) -> Option<(Session, SessionCookie)> {
        let now = self.clock.ticks();
        if let Some(latest) = &self.latest {
            let latest = latest.lock().unwrap_or_else(|e| e.into_inner());
            let newer = (latest.get(session.id.as_str()))
                .filter(|(newer, _, at)| {
                    newer.revision > session.revision
                        && now.saturating_sub(*at) < self.backend.idle()
                })
                .map(|(newer, cookie, _)| (newer.clone(), cookie.clone()));
            if newer.is_some() {
                return newer;
            }
        }
        let flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        let mut latest: Option<(Session, SessionCookie)> = None;
        loop {
            let current = latest.as_ref().map_or(session, |(session, _)| session);
            let Some(flight) = (flights.get(&flight_key(current)))
                .filter(|flight| self.remembered(flight.started, now))
            else {
                return latest;
            };
            match flight.result.borrow().clone() {
                // Each renewal is a later revision: the chain ends.
                Some(Ok(next)) if next.0.revision > current.revision => latest = Some(next),
                _ => return latest,
            }
        }
    }

    /// Whether `session` is being renewed here now.
    pub(crate) fn is_renewing(&self, session: &Session) -> bool {
        let flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        (flights.get(&flight_key(session))).is_some_and(|flight| flight.result.borrow().is_none())
    }

    /// Keeps `renewed` as its cookie session's latest revision, when it
    /// has APIs (see [`Self::latest`]).
    fn remember(&self, renewed: &(Session, SessionCookie)) {
        let Some(latest) = &self.latest else {
            return;
        };
        if renewed.0.resources.is_empty() {
            return;
        }
        let now = self.clock.ticks();
        let idle = self.backend.idle();
        let mut latest = latest.lock().unwrap_or_else(|e| e.into_inner());
        if latest.len() >= MAX_LATEST {
            latest.retain(|_, (_, _, at)| now.saturating_sub(*at) < idle);
        }
        let id = renewed.0.id.as_str();
        let newer = latest
            .get(id)
            .is_none_or(|(known, _, _)| known.revision < renewed.0.revision);
        if newer && (latest.len() < MAX_LATEST || latest.contains_key(id)) {
            latest.insert(id.to_owned(), (renewed.0.clone(), renewed.1.clone(), now));
        }
    }

    /// Whether a flight that started at `started` is remembered at `now`:
    /// past the longest a refresh can take, so requests sent with the old
    /// cookie meanwhile get the new session, not a reuse.
    fn remembered(&self, started: Duration, now: Duration) -> bool {
        now.saturating_sub(started) < self.lock_ttl + Duration::from_secs(60)
    }

    async fn refresh_once(&self, session: &Session, renewal: &Renewal) -> Outcome {
        if session.refresh_token.is_none() {
            return Err(RefreshFailure::Ended(
                "the session has no refresh token".into(),
            ));
        }
        // At the provider the session is from.
        let Some(client) = self.providers.of_user(&session.user) else {
            return Err(RefreshFailure::Ended(
                "the session's provider is no longer one of the app's".into(),
            ));
        };
        // A renewal of something else that the provider refused (scopes
        // the grant lacks) leaves the refresh token as it was: this one is
        // then tried on its own, once.
        for _ in 0..2 {
            let key = flight_key(session);
            let (mut result, theirs) = self.join_or_start(&key, session, renewal, client);
            let outcome = match result.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone(),
                Err(_) => None,
            };
            let outcome = outcome.unwrap_or_else(|| {
                Err(RefreshFailure::Unavailable(
                    "the refresh task ended without a result".into(),
                ))
            });
            if let Ok(renewed) = &outcome {
                self.remember(renewed);
            }
            if !matches!(outcome, Err(RefreshFailure::Refused(_))) {
                return outcome;
            }
            // Not remembered: the next to ask tries again.
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights
                .get(&key)
                .is_some_and(|flight| flight.result.same_channel(&result))
            {
                flights.remove(&key);
            }
            if theirs == *renewal {
                return outcome;
            }
        }
        Err(RefreshFailure::Unavailable(
            "other renewals of the session were refused meanwhile".into(),
        ))
    }

    /// The flight that renews the revision `key` of `session`, started for
    /// `renewal` when there is none; and what it renews.
    fn join_or_start(
        &self,
        key: &(String, u64),
        session: &Session,
        renewal: &Renewal,
        client: &Arc<OidcClient>,
    ) -> (watch::Receiver<Option<Outcome>>, Renewal) {
        let now = self.clock.ticks();
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.retain(|_, flight| self.remembered(flight.started, now));
        let flight = flights.entry(key.clone()).or_insert_with(|| {
            // The task owns the refresh: requests that go away (or wait)
            // can neither cancel it nor start a second one.
            let (done, result) = watch::channel(None);
            let task = RefreshTask {
                client: client.clone(),
                backend: self.backend.clone(),
                clock: self.clock.clone(),
                lock_ttl: self.lock_ttl,
                renewal: renewal.clone(),
            };
            let session = session.clone();
            tokio::spawn(async move {
                let _ = done.send(Some(task.run(session).await));
            });
            Flight {
                result,
                started: now,
                renewal: renewal.clone(),
            }
        });
        (flight.result.clone(), flight.renewal.clone())
    }
}

/// Which flight renews `session`.
fn flight_key(session: &Session) -> (String, u64) {
    (session.id.as_str().to_owned(), session.revision)
}

/// One refresh, with what it needs, run in its own task.
struct RefreshTask {
    client: Arc<OidcClient>,
    backend: Backend,
    clock: Clock,
    lock_ttl: Duration,
    renewal: Renewal,
}

impl RefreshTask {
    async fn run(self, session: Session) -> Outcome {
        // Fetched before any lock is held, so the lock covers less time.
        self.client
            .provider()
            .metadata()
            .await
            .map_err(RefreshFailure::unavailable)?;
        let Some(store) = self.backend.store().cloned() else {
            return self.refresh_and_save(session).await;
        };
        let lock = format!("refresh:{}", session.id.as_str());
        let owner = LockOwner::generate();
        let mut waited = Duration::ZERO;
        while !store
            .try_lock(&lock, owner.as_str(), self.lock_ttl)
            .await
            .map_err(RefreshFailure::unavailable)?
        {
            // Another machine is refreshing: wait for its result.
            if waited >= self.lock_ttl {
                return Err(RefreshFailure::Unavailable(
                    "another instance did not finish refreshing in time".into(),
                ));
            }
            tokio::time::sleep(LOCK_POLL).await;
            waited += LOCK_POLL;
        }
        let outcome = match self.backend.reload(&session.id).await {
            Err(error) => Err(RefreshFailure::unavailable(error)),
            Ok(None) => Err(RefreshFailure::Ended("the session ended meanwhile".into())),
            // Someone else renewed it while this machine waited.
            Ok(Some(current)) if self.renewal.is_met_by(&current, self.clock.now_secs()) => {
                let cookie = self.backend.cookie_for(&current);
                Ok((current, cookie))
            }
            Ok(Some(current)) => self.refresh_and_save(current).await,
        };
        if let Err(error) = store.unlock(&lock, owner.as_str()).await {
            tracing::warn!(%error, "could not release a refresh lock; it expires by itself");
        }
        outcome
    }

    async fn refresh_and_save(&self, mut session: Session) -> Outcome {
        let refresh_token = session.refresh_token.clone().unwrap_or_default();
        let resource = match &self.renewal {
            Renewal::Session => None,
            Renewal::Resource(api) => Some(api),
        };
        let tokens = self
            .client
            .refresh(
                &refresh_token,
                &session.user.id,
                session.dpop_key.as_ref(),
                resource,
            )
            .await?;
        let now = self.clock.now_secs();
        match resource {
            None => session.set_tokens(tokens, now),
            Some(api) => session.set_resource_token(&api.indicator, tokens, now),
        }
        // The old refresh token is spent: the new one must be kept. A store
        // save is retried; it only replaces a record that still exists, so a
        // logout during the refresh stays a logout.
        let mut attempt = 0;
        loop {
            match self.backend.replace(&mut session).await {
                Ok(Some(cookie)) => return Ok((session, cookie)),
                Ok(None) => {
                    return Err(RefreshFailure::Ended(
                        "the session ended during its refresh".into(),
                    ))
                }
                Err(error) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(%error, attempt, "could not store refreshed tokens; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "refreshed tokens could not be stored");
                    let cookie = self.backend.cookie_for(&session);
                    return Ok((session, cookie));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::ManualClock,
        config::CivicAuthConfig,
        cookie::{sealer::CookieSealer, secret::SessionSecret},
        oidc::client::TokenSet,
    };

    const IDLE: Duration = Duration::from_secs(100);

    /// A refresher of cookie sessions that lie idle for at most [`IDLE`].
    fn refresher(clock: &ManualClock) -> Refresher {
        let config = CivicAuthConfig::quickstart().build().unwrap();
        let clock = Clock::from(clock.clone());
        let sealer = CookieSealer::new(&SessionSecret::generate());
        let backend = Backend::new(None, sealer, IDLE, clock.clone());
        let providers = Arc::new(Providers::new(&config));
        Refresher::new(providers, backend, clock, Duration::from_secs(1))
    }

    /// A new session, with an API or without.
    fn session(with_api: bool) -> Session {
        let user = serde_json::from_value(serde_json::json!({"id": "u"})).unwrap();
        let tokens = TokenSet {
            access_token: "at".into(),
            expires_in: None,
            refresh_token: Some("rt".into()),
            id_token: None,
            dpop_bound: false,
        };
        let mut session = Session::new(user, tokens, None, IDLE, 0);
        if with_api {
            session
                .resources
                .insert("https://api.example/".into(), None);
        }
        session
    }

    /// `session` at `revision`, with a cookie that says `which`.
    fn at(session: &Session, revision: u64, which: &str) -> (Session, SessionCookie) {
        let mut renewed = session.clone();
        renewed.revision = revision;
        let cookie = SessionCookie::Set {
            value: which.into(),
            max_age: IDLE,
        };
        (renewed, cookie)
    }

    /// The revision and cookie that replace `session`, if any.
    fn replaced(refresher: &Refresher, session: &Session) -> Option<(u64, String)> {
        let (newer, cookie) = refresher.replacement(session)?;
        let SessionCookie::Set { value, .. } = cookie else {
            panic!("a cleared cookie kept");
        };
        Some((newer.revision, value))
    }

    #[test]
    fn a_cookie_sessions_latest_revision_is_remembered_for_its_idle_timeout() {
        let clock = ManualClock::now();
        let refresher = refresher(&clock);
        let first = session(true);
        let r = first.revision;
        assert_eq!(replaced(&refresher, &first), None);
        refresher.remember(&at(&first, r + 2, "two"));
        // An older or equal revision does not replace the latest; a later does.
        refresher.remember(&at(&first, r + 1, "one"));
        refresher.remember(&at(&first, r + 2, "two again"));
        assert_eq!(replaced(&refresher, &first), Some((r + 2, "two".into())));
        refresher.remember(&at(&first, r + 3, "three"));
        assert_eq!(replaced(&refresher, &first), Some((r + 3, "three".into())));
        // Only an older revision is replaced.
        assert_eq!(replaced(&refresher, &at(&first, r + 3, "").0), None);
        assert_eq!(replaced(&refresher, &at(&first, r + 4, "").0), None);
        // A session without APIs is not remembered.
        let plain = session(false);
        refresher.remember(&at(&plain, plain.revision + 1, "plain"));
        assert_eq!(replaced(&refresher, &plain), None);
        // For as long as its cookie may lie idle.
        clock.advance(IDLE - Duration::from_millis(1));
        assert!(replaced(&refresher, &first).is_some());
        clock.advance(Duration::from_millis(1));
        assert_eq!(replaced(&refresher, &first), None);
    }

    #[test]
    fn the_latest_revisions_are_bounded_and_the_idle_ones_make_room() {
        let clock = ManualClock::now();
        let refresher = refresher(&clock);
        let kept: Vec<Session> = (0..MAX_LATEST).map(|_| session(true)).collect();
        for session in &kept {
            refresher.remember(&at(session, session.revision + 1, "kept"));
        }
        assert!(kept.iter().all(|s| replaced(&refresher, s).is_some()));
        clock.advance(Duration::from_secs(1));
        let late = session(true);
        refresher.remember(&at(&late, late.revision + 1, "late"));
        assert_eq!(replaced(&refresher, &late), None, "full");
        // A session already kept still moves on.
        refresher.remember(&at(&kept[0], kept[0].revision + 2, "on"));
        assert_eq!(replaced(&refresher, &kept[0]).unwrap().1, "on");
        // Those idle as long as a cookie lives make room.
        clock.advance(IDLE - Duration::from_secs(1));
        refresher.remember(&at(&late, late.revision + 1, "late"));
        assert_eq!(replaced(&refresher, &late).unwrap().1, "late");
    }

    #[test]
    fn a_session_is_being_renewed_until_its_flight_has_a_result() {
        let clock = ManualClock::now();
        let refresher = refresher(&clock);
        let (first, other) = (session(true), session(true));
        let (done, result) = watch::channel(None);
        let flight = Flight {
            result,
            started: Clock::from(clock.clone()).ticks(),
            renewal: Renewal::Session,
        };
        refresher
            .flights
            .lock()
            .unwrap()
            .insert(flight_key(&first), flight);
        assert!(refresher.is_renewing(&first));
        assert!(!refresher.is_renewing(&other));
        done.send(Some(Err(RefreshFailure::Unavailable("down".into()))))
            .unwrap();
        assert!(!refresher.is_renewing(&first));
    }
}
