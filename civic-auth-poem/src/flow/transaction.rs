//! The transaction cookies: what a login (or a logout) in progress keeps in
//! this browser until the provider sends it back. Each login has its own
//! cookie, named after its `state`, so logins started in two tabs can both
//! finish; it lives only on the callback's path, sealed to its name.

use std::time::Duration;

use poem::Request;
use serde::{Deserialize, Serialize};

use crate::{
    clock::Clock,
    cookie::{request::RequestCookies, sealer::CookieSealer, writer::TransientCookie},
    local_path::LocalPath,
    random::{Nonce, PkceVerifier, State},
};

/// How long a started login (or logout) may take to come back.
pub(crate) const TRANSACTION_TTL: Duration = Duration::from_secs(600);
const LOGIN_COOKIE: &str = "civic_auth_tx";
const LOGOUT_COOKIE: &str = "civic_auth_logout";

/// One login in flight.
#[derive(Serialize, Deserialize)]
pub(crate) struct LoginTransaction {
    pub(crate) state: State,
    pub(crate) nonce: Nonce,
    pub(crate) pkce_verifier: PkceVerifier,
    pub(crate) return_to: Option<LocalPath>,
    pub(crate) expires_at: u64,
}

/// One logout in flight: the `state` sent to the provider's end-session
/// endpoint, checked when the browser comes back.
#[derive(Serialize, Deserialize)]
struct LogoutTransaction {
    state: State,
    expires_at: u64,
}

/// Reads and makes transaction cookies.
pub(crate) struct Transactions {
    sealer: CookieSealer,
    clock: Clock,
    /// The path of `/auth/callback`, the only one the login cookies are sent to.
    callback_path: String,
}

impl Transactions {
    pub(crate) fn new(sealer: CookieSealer, clock: Clock, callback_path: &str) -> Self {
        Self {
            sealer,
            clock,
            callback_path: callback_path.to_owned(),
        }
    }

    fn login_cookie_name(state: &State) -> String {
        format!("{LOGIN_COOKIE}.{}", state.as_str())
    }

    pub(crate) fn expiry(&self) -> u64 {
        self.clock
            .now_secs()
            .saturating_add(TRANSACTION_TTL.as_secs())
    }

    /// The cookie that keeps `tx` until its callback.
    pub(crate) fn keep(&self, tx: &LoginTransaction) -> TransientCookie {
        TransientCookie::Set {
            name: Self::login_cookie_name(&tx.state),
            value: serde_json::to_string(tx).expect("a transaction always serialises"),
            path: self.callback_path.clone(),
            max_age: TRANSACTION_TTL,
        }
    }

    /// The login this browser started under `state`, if it has not expired.
    pub(crate) fn read(&self, req: &Request, state: &State) -> Option<LoginTransaction> {
        let name = Self::login_cookie_name(state);
        let tx: LoginTransaction = self.open(req, &name)?;
        (tx.state == *state && tx.expires_at > self.clock.now_secs()).then_some(tx)
    }

    /// Drops the cookie of the login under `state`.
    pub(crate) fn forget(&self, state: &State) -> TransientCookie {
        TransientCookie::Remove {
            name: Self::login_cookie_name(state),
            path: self.callback_path.clone(),
        }
    }

    /// The cookie that keeps a logout's `state` until the browser is back.
    pub(crate) fn keep_logout(&self, state: &State) -> TransientCookie {
        let tx = LogoutTransaction {
            state: state.clone(),
            expires_at: self.expiry(),
        };
        TransientCookie::Set {
            name: LOGOUT_COOKIE.to_owned(),
            value: serde_json::to_string(&tx).expect("a transaction always serialises"),
            path: "/".to_owned(),
            max_age: TRANSACTION_TTL,
        }
    }

    /// Whether `state` is the one of the logout this browser started.
    pub(crate) fn is_logout(&self, req: &Request, state: &State) -> bool {
        self.open::<LogoutTransaction>(req, LOGOUT_COOKIE)
            .is_some_and(|tx| tx.state == *state && tx.expires_at > self.clock.now_secs())
    }

    pub(crate) fn forget_logout(&self) -> TransientCookie {
        TransientCookie::Remove {
            name: LOGOUT_COOKIE.to_owned(),
            path: "/".to_owned(),
        }
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, req: &Request, name: &str) -> Option<T> {
        let cookies = RequestCookies::of(req);
        let plaintext = self.sealer.open(name, cookies.get(name)?)?;
        serde_json::from_str(&plaintext).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::ManualClock, cookie::secret::SessionSecret};

    fn transactions(clock: &ManualClock) -> Transactions {
        let sealer = CookieSealer::new(&SessionSecret::generate());
        Transactions::new(sealer, clock.clone().into(), "/auth/callback")
    }

    /// A request carrying `tx` sealed under the login cookie of `cookie_state`.
    fn carrying(t: &Transactions, cookie_state: &State, tx: &LoginTransaction) -> Request {
        let name = Transactions::login_cookie_name(cookie_state);
        let sealed = t.sealer.seal(&name, serde_json::to_string(tx).unwrap());
        Request::builder()
            .header(poem::http::header::COOKIE, format!("{name}={sealed}"))
            .finish()
    }

    fn transaction(t: &Transactions, state: &State) -> LoginTransaction {
        LoginTransaction {
            state: state.clone(),
            nonce: Nonce::generate(),
            pkce_verifier: PkceVerifier::generate().1,
            return_to: None,
            expires_at: t.expiry(),
        }
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
}
