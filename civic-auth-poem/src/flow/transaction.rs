//! The transaction cookies: what a login (or a logout) in progress keeps in
//! this browser until the provider sends it back. Each login has its own
//! cookie, named after its `state`, so logins started in two tabs can both
//! finish; sealed to its name. A browser keeps a few pending logins at most
//! (the newest): abandoned ones would otherwise pile up in every request's
//! `Cookie` header.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use poem::Request;
use serde::{Deserialize, Serialize};

use crate::{
    clock::Clock,
    cookie::{request::RequestCookies, sealer::CookieSealer, writer::TransientCookie, CookieNames},
    local_path::LocalPath,
    oidc::dpop::DpopKey,
    random::{Nonce, PkceVerifier, State},
    step_up::StepUp,
};

/// How long a started login (or logout) may take to come back.
pub(crate) const TRANSACTION_TTL: Duration = Duration::from_secs(600);
/// Pending logins a browser keeps at once (each cookie is under 400 bytes).
const MAX_PENDING: usize = 3;
/// Login cookies looked at (and dropped) per login, however many are sent.
const MAX_LOOKED_AT: usize = 16;

/// One login in flight.
#[derive(Serialize, Deserialize)]
pub(crate) struct LoginTransaction {
    /// The name of the provider the login went to: only its answer can
    /// finish it. None: a login started before the app named providers,
    /// at its first.
    #[serde(default)]
    pub(crate) provider: Option<String>,
    pub(crate) state: State,
    pub(crate) nonce: Nonce,
    pub(crate) pkce_verifier: PkceVerifier,
    pub(crate) return_to: Option<LocalPath>,
    /// What the login asked for beyond a login (`max_age`, `acr_values`),
    /// and the new ID token must show.
    #[serde(default, skip_serializing_if = "StepUp::is_empty")]
    pub(crate) step_up: StepUp,
    /// A silent login (`prompt=none`): its failure leaves the browser
    /// anonymous rather than showing an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) silent: bool,
    /// The key the session's tokens will be bound to (DPoP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_key: Option<DpopKey>,
    /// When it started, in microseconds since the epoch, and later than
    /// every login this process started before: the order in which a
    /// browser's pending logins are dropped, exact even within one tick.
    pub(crate) started: u64,
}

impl LoginTransaction {
    /// When its callback is too late, in seconds since the epoch.
    pub(crate) fn expires_at(&self) -> u64 {
        expiry_from(self.started / 1_000_000)
    }
}

/// When a transaction started at `start` (seconds) expires.
fn expiry_from(start: u64) -> u64 {
    start.saturating_add(TRANSACTION_TTL.as_secs())
}

/// One logout in flight: the `state` sent to the provider's end-session
/// endpoint, checked when the browser comes back.
#[derive(Serialize, Deserialize)]
struct LogoutTransaction {
    state: State,
    expires_at: u64,
}

/// Where a browser keeps its pending logins.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LoginCookies {
    /// Each login's cookie is `<name>.<state>`.
    name: &'static str,
    path: String,
    /// Sent on cross-site requests too.
    cross_site: bool,
}

impl LoginCookies {
    /// For logins answered by a redirect (the callback is a top-level GET,
    /// which `SameSite=Lax` cookies go with): at the app's base `path`
    /// (`/`, which the `__Host-` prefix of https apps requires, for most).
    pub(crate) fn redirected(names: CookieNames, path: &str) -> Self {
        Self {
            name: names.login,
            path: path.into(),
            cross_site: false,
        }
    }

    /// For logins the provider answers with a form posted from its own
    /// site (`response_mode=form_post`), which only `SameSite=None`
    /// cookies go with: so they live only in the folder of the auth routes
    /// (`login_path`'s and every provider's `callback_paths`'), and are
    /// `Secure`, with the `__Secure-` prefix in https apps (`__Host-` needs
    /// the path `/`).
    pub(crate) fn posted<'a>(
        names: CookieNames,
        login_path: &str,
        callback_paths: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        fn folder(path: &str) -> Vec<&str> {
            let mut parts: Vec<&str> = path.split('/').collect();
            parts.pop();
            parts
        }
        let mut common = folder(login_path);
        for callback in callback_paths {
            let callback = folder(callback);
            let shared = common
                .iter()
                .zip(&callback)
                .take_while(|(a, b)| a == b)
                .count();
            common.truncate(shared);
        }
        let path = common.join("/");
        Self {
            name: names.posted_login,
            path: if path.is_empty() { "/".into() } else { path },
            cross_site: true,
        }
    }
}

/// Reads and makes transaction cookies. Login cookies live where
/// [`LoginCookies`] says, which covers the login route, so that a new login
/// sees the pending ones; the logout cookie at the app's base path.
pub(crate) struct Transactions {
    sealer: CookieSealer,
    clock: Clock,
    names: CookieNames,
    logins: LoginCookies,
    /// The app's base path, where the logout cookie lives.
    path: String,
    /// The `started` of the last login this process began.
    last_started: AtomicU64,
}

impl Transactions {
    pub(crate) fn new(
        sealer: CookieSealer,
        clock: Clock,
        names: CookieNames,
        logins: LoginCookies,
        path: &str,
    ) -> Self {
        Self {
            sealer,
            clock,
            names,
            logins,
            path: path.to_owned(),
            last_started: AtomicU64::new(0),
        }
    }

    fn login_cookie_name(&self, state: &State) -> String {
        format!("{}.{}", self.logins.name, state.as_str())
    }

    fn forget_login(&self, name: String) -> TransientCookie {
        TransientCookie::Remove {
            name,
            path: self.logins.path.clone(),
            cross_site: self.logins.cross_site,
        }
    }

    /// The `started` of a login beginning now: the clock's time in
    /// microseconds, or one more than the last login's when the clock has
    /// not moved past it.
    pub(crate) fn start(&self) -> u64 {
        let now = u64::try_from(self.clock.now().as_micros()).unwrap_or(u64::MAX);
        let after = |last: u64| now.max(last.saturating_add(1));
        let previous = self
            .last_started
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(after(last))
            })
            .unwrap_or_default();
        after(previous)
    }

    /// The cookie that keeps `tx` until its callback, and the removal of
    /// the oldest logins `req` has pending beyond the few a browser keeps
    /// (looking at a bounded number of them: a client can send thousands).
    pub(crate) fn keep(&self, req: &Request, tx: &LoginTransaction) -> Vec<TransientCookie> {
        let cookies = RequestCookies::of(req);
        let prefix = format!("{}.", self.logins.name);
        let mut pending: Vec<(u64, &str)> = cookies
            .starting(&prefix)
            .take(MAX_LOOKED_AT)
            .map(|(name, value)| {
                // Unreadable ones (foreign, tampered) go first.
                let started = self
                    .decode::<LoginTransaction>(name, value)
                    .map_or(0, |tx| tx.started);
                (started, name)
            })
            .collect();
        pending.sort_unstable();
        let excess = (pending.len() + 1).saturating_sub(MAX_PENDING);
        let mut changes: Vec<TransientCookie> = pending
            .into_iter()
            .take(excess)
            .map(|(_, name)| self.forget_login(name.to_owned()))
            .collect();
        changes.push(TransientCookie::Set {
            name: self.login_cookie_name(&tx.state),
            value: serde_json::to_string(tx).expect("a transaction always serialises"),
            path: self.logins.path.clone(),
            max_age: TRANSACTION_TTL,
            cross_site: self.logins.cross_site,
        });
        changes
    }

    /// The login this browser started under `state`, if it has not expired.
    pub(crate) fn read(&self, req: &Request, state: &State) -> Option<LoginTransaction> {
        let name = self.login_cookie_name(state);
        let tx: LoginTransaction = self.open(req, &name)?;
        (tx.state == *state && tx.expires_at() > self.clock.now_secs()).then_some(tx)
    }

    /// Drops the cookie of the login under `state`.
    pub(crate) fn forget(&self, state: &State) -> TransientCookie {
        self.forget_login(self.login_cookie_name(state))
    }

    /// The cookie that keeps a logout's `state` until the browser is back.
    pub(crate) fn keep_logout(&self, state: &State) -> TransientCookie {
        let tx = LogoutTransaction {
            state: state.clone(),
            expires_at: expiry_from(self.clock.now_secs()),
        };
        TransientCookie::Set {
            name: self.names.logout.to_owned(),
            value: serde_json::to_string(&tx).expect("a transaction always serialises"),
            path: self.path.clone(),
            max_age: TRANSACTION_TTL,
            cross_site: false,
        }
    }

    /// Whether `state` is the one of the logout this browser started.
    pub(crate) fn is_logout(&self, req: &Request, state: &State) -> bool {
        self.open::<LogoutTransaction>(req, self.names.logout)
            .is_some_and(|tx| tx.state == *state && tx.expires_at > self.clock.now_secs())
    }

    pub(crate) fn forget_logout(&self) -> TransientCookie {
        TransientCookie::Remove {
            name: self.names.logout.to_owned(),
            path: self.path.clone(),
            cross_site: false,
        }
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, req: &Request, name: &str) -> Option<T> {
        self.decode(name, RequestCookies::of(req).get(name)?)
    }

    /// The transaction sealed as `sealed` under cookie `name`.
    fn decode<T: for<'de> Deserialize<'de>>(&self, name: &str, sealed: &str) -> Option<T> {
        serde_json::from_str(&self.sealer.open(name, sealed)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::ManualClock, cookie::secret::SessionSecret};

    fn transactions(clock: &ManualClock) -> Transactions {
        let sealer = CookieSealer::new(&SessionSecret::generate());
        let names = CookieNames::new(false, false);
        Transactions::new(
            sealer,
            clock.clone().into(),
            names,
            LoginCookies::redirected(names, "/"),
            "/",
        )
    }

    /// A request carrying `tx` sealed under the login cookie of `cookie_state`.
    fn carrying(t: &Transactions, cookie_state: &State, tx: &LoginTransaction) -> Request {
        let name = t.login_cookie_name(cookie_state);
        let sealed = t.sealer.seal(&name, serde_json::to_string(tx).unwrap());
        Request::builder()
            .header(poem::http::header::COOKIE, format!("{name}={sealed}"))
            .finish()
    }

    fn transaction(t: &Transactions, state: &State) -> LoginTransaction {
        LoginTransaction {
            provider: Some("civic".into()),
            state: state.clone(),
            nonce: Nonce::generate(),
            pkce_verifier: PkceVerifier::generate().1,
            return_to: None,
            step_up: StepUp::default(),
            silent: false,
            dpop_key: None,
            started: t.start(),
        }
    }

    #[test]
    fn a_login_started_before_providers_had_names_is_still_read() {
        let t = transactions(&ManualClock::now());
        let mut tx = serde_json::to_value(transaction(&t, &State::generate())).unwrap();
        tx.as_object_mut().unwrap().remove("provider");
        let old: LoginTransaction = serde_json::from_value(tx).unwrap();
        assert_eq!(old.provider, None);
    }

    #[test]
    fn a_login_is_read_only_for_its_own_unexpired_state() {
        let clock = ManualClock::now();
        let t = transactions(&clock);
        let (s, other) = (State::generate(), State::generate());
        let live = transaction(&t, &s);
        assert!(t.read(&carrying(&t, &s, &live), &s).is_some());
        // Another login's transaction moved under this state's cookie.
        assert!(t
            .read(&carrying(&t, &s, &transaction(&t, &other)), &s)
            .is_none());
        assert!(t.read(&carrying(&t, &s, &live), &other).is_none());
        clock.advance(TRANSACTION_TTL);
        assert!(t.read(&carrying(&t, &s, &live), &s).is_none(), "expired");
    }

    #[test]
    fn the_newest_logins_are_kept_even_when_started_in_one_tick() {
        let clock = ManualClock::now();
        let t = transactions(&clock);
        // A browser's cookie jar, fed back with each new login.
        let mut jar: Vec<(String, String)> = Vec::new();
        let mut states = Vec::new();
        for _ in 0..8 {
            let cookie = jar
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            let req = Request::builder()
                .header(poem::http::header::COOKIE, cookie)
                .finish();
            let state = State::generate();
            for change in t.keep(&req, &transaction(&t, &state)) {
                match change {
                    TransientCookie::Set { name, value, .. } => {
                        let sealed = t.sealer.seal(&name, value);
                        jar.push((name, sealed));
                    }
                    TransientCookie::Remove { name, .. } => jar.retain(|(n, _)| *n != name),
                }
            }
            states.push(state);
        }
        let kept: Vec<String> = jar.into_iter().map(|(name, _)| name).collect();
        let newest: Vec<String> = states[states.len() - MAX_PENDING..]
            .iter()
            .map(|s| t.login_cookie_name(s))
            .collect();
        assert_eq!(kept, newest);
    }

    #[test]
    fn logins_started_in_one_tick_are_ordered_and_expire_with_the_clock() {
        let clock = ManualClock::now();
        let t = transactions(&clock);
        let first = t.start();
        let second = t.start();
        assert!(second > first);
        assert_eq!(second - first, 1);
        clock.advance(Duration::from_secs(1));
        let later = t.start();
        assert!(later >= first + 1_000_000, "{later} after {first}");
        let tx = LoginTransaction {
            started: later,
            ..transaction(&t, &State::generate())
        };
        assert_eq!(
            tx.expires_at(),
            clock_secs(&clock) + TRANSACTION_TTL.as_secs()
        );
    }

    fn clock_secs(clock: &ManualClock) -> u64 {
        Clock::from(clock.clone()).now_secs()
    }

    #[test]
    fn a_logout_state_is_checked_against_its_cookie() {
        let clock = ManualClock::now();
        let t = transactions(&clock);
        let state = State::generate();
        let TransientCookie::Set { name, value, .. } = t.keep_logout(&state) else {
            panic!("a set cookie")
        };
        let sealed = t.sealer.seal(&name, value);
        let req = Request::builder()
            .header(poem::http::header::COOKIE, format!("{name}={sealed}"))
            .finish();
        assert!(t.is_logout(&req, &state));
        assert!(!t.is_logout(&req, &State::generate()));
        assert!(!t.is_logout(&Request::default(), &state));
        clock.advance(TRANSACTION_TTL);
        assert!(!t.is_logout(&req, &state), "expired");
    }

    #[test]
    fn posted_logins_live_in_the_auth_routes_folder() {
        let at = |secure, login, callback| {
            let cookies = LoginCookies::posted(CookieNames::new(secure, false), login, [callback]);
            (cookies.name, cookies.path, cookies.cross_site)
        };
        assert_eq!(
            at(false, "/auth/login", "/auth/callback"),
            ("civic_auth_tx", "/auth".into(), true)
        );
        assert_eq!(
            at(true, "/app/auth/login", "/app/auth/callback"),
            ("__Secure-civic_auth_tx", "/app/auth".into(), true)
        );
        assert_eq!(at(false, "/app/login", "/app/oidc/back").1, "/app");
        assert_eq!(at(false, "/login", "/oidc/back").1, "/");
        assert_eq!(at(false, "/auth/login", "/authx/callback").1, "/");
        // Every provider's callback is in the folder.
        let several = |callbacks: [&str; 2]| {
            LoginCookies::posted(CookieNames::new(false, false), "/auth/login", callbacks).path
        };
        assert_eq!(
            several(["/auth/callback", "/auth/callback/partner"]),
            "/auth"
        );
        assert_eq!(several(["/auth/callback", "/partner/callback"]), "/");
        let redirected = LoginCookies::redirected(CookieNames::new(true, false), "/");
        assert_eq!(
            (
                redirected.name,
                redirected.path.as_str(),
                redirected.cross_site
            ),
            ("__Host-civic_auth_tx", "/", false)
        );
    }
}
