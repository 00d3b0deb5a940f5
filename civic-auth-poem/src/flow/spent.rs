//! Values that may be used once: login `state`s whose callback completed,
//! logout-token `jti`s and DPoP proof `jti`s. Each is remembered until it
//! could no longer be replayed, and never forgotten earlier: when the room
//! for one kind is full, new values of that kind are refused instead (a
//! flood of one kind cannot crowd out another, nor make an old value new).
//!
//! With a store that several machines share ([`SessionStore::is_shared`]),
//! a used value is kept there, as a lock that is never released, so a value
//! used on one machine is refused on every other; otherwise in the process.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use sha2::{Digest as _, Sha256};

use crate::{clock::Clock, error::Error, session::SessionStore};

/// A kind of one-time value, with its own room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Once {
    /// A login's `state`, spent at its callback.
    LoginState,
    /// A back-channel `logout_token`'s `jti`.
    LogoutToken,
    /// A DPoP proof's `jti`, spent by an API client's request.
    DpopProof,
}

impl Once {
    /// How many of this kind the process remembers at once, each for as
    /// long as it could be replayed: logins that finished, for ten minutes
    /// (about 160 a second); logout tokens, for eleven (about 150 a
    /// second); DPoP proofs, for one (about 8,000 requests a second).
    /// About 80 bytes each (76 by RSS with 500,000 in a map and heap like these).
    fn capacity(self) -> usize {
        match self {
            Once::LoginState => 100_000,
            Once::LogoutToken => 100_000,
            Once::DpopProof => 500_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Once::LoginState => "state",
            Once::LogoutToken => "logout",
            Once::DpopProof => "dpop",
        }
    }

    /// What is refused when the room is full, in words.
    fn what(self) -> &'static str {
        match self {
            Once::LoginState => "logins",
            Once::LogoutToken => "logout tokens",
            Once::DpopProof => "DPoP proofs",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A value as it is remembered: a digest, so that a long value costs no
/// more room than a short one.
type Digest = [u8; 16];

fn digest(value: &str) -> Digest {
    let hash = Sha256::digest(value.as_bytes());
    let mut digest = Digest::default();
    digest.copy_from_slice(&hash[..16]);
    digest
}

/// What spending a value found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Spend {
    /// It was new, and is now used.
    First,
    /// It was used before and could still be replayed.
    Replayed,
}

pub(crate) struct Spent {
    /// The process's memory, one per kind.
    local: [Mutex<Used>; 3],
    /// The store several machines share, if the app has one.
    shared: Option<Arc<dyn SessionStore>>,
    clock: Clock,
}

#[derive(Default)]
struct Used {
    until: HashMap<Digest, u64>,
    /// The same values by expiry, soonest first: expired ones are dropped
    /// from the front, never by a scan of them all.
    expiry: BinaryHeap<Reverse<(u64, Digest)>>,
}

impl Used {
    /// Drops what expired by `now`.
    fn sweep(&mut self, now: u64) {
        while let Some(Reverse((until, _))) = self.expiry.peek() {
            if *until > now {
                break;
            }
            let Some(Reverse((until, key))) = self.expiry.pop() else {
                break;
            };
            // A value spent again later has a newer entry: keep that one.
            if self.until.get(&key) == Some(&until) {
                self.until.remove(&key);
            }
        }
    }
}

/// The owner of the locks that stand for used values in a shared store.
const OWNER: &str = "spent";

impl Spent {
    /// Remembers used values in `store` when it is shared, else here.
    pub(crate) fn new(clock: Clock, store: Option<&Arc<dyn SessionStore>>) -> Self {
        Self {
            local: Default::default(),
            shared: store.filter(|store| store.is_shared()).cloned(),
            clock,
        }
    }

    /// Marks `value` of `kind` used until `until` (seconds since the epoch).
    /// Refused when the room for `kind` is full, or the shared store cannot
    /// be reached: never a second [`Spend::First`] for a value still live.
    pub(crate) async fn spend(&self, kind: Once, value: &str, until: u64) -> Result<Spend, Error> {
        let now = self.clock.now_secs();
        if let Some(store) = &self.shared {
            let ttl = Duration::from_secs(until.saturating_sub(now).max(1));
            let first = store.try_lock(&lock_name(kind, value), OWNER, ttl).await?;
            return Ok(if first { Spend::First } else { Spend::Replayed });
        }
        let key = digest(value);
        let mut used = self.local[kind.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        used.sweep(now);
        if used.until.contains_key(&key) {
            return Ok(Spend::Replayed);
        }
        if used.until.len() >= kind.capacity() {
            return Err(Error::TooManyAtOnce(kind.what()));
        }
        used.until.insert(key, until);
        used.expiry.push(Reverse((until, key)));
        Ok(Spend::First)
    }

    /// Forgets that `value` was used: the work it guarded failed, and a
    /// retry must not look like a replay.
    pub(crate) async fn forget(&self, kind: Once, value: &str) -> Result<(), Error> {
        if let Some(store) = &self.shared {
            return store.unlock(&lock_name(kind, value), OWNER).await;
        }
        let mut used = self.local[kind.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        used.until.remove(&digest(value));
        Ok(())
    }
}

/// The lock that stands for a used value in a shared store.
fn lock_name(kind: Once, value: &str) -> String {
    let hex: String = digest(value).iter().map(|b| format!("{b:02x}")).collect();
    format!("spent:{}:{hex}", kind.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::ManualClock, session::MemoryStore};

    fn spent(clock: &ManualClock) -> (Spent, u64) {
        let now = Clock::from(clock.clone()).now_secs();
        (Spent::new(clock.clone().into(), None), now)
    }

    #[tokio::test]
    async fn a_value_is_spent_once_until_it_expires() {
        let clock = ManualClock::now();
        let (spent, now) = spent(&clock);
        let until = now + 60;
        let spend = |value, until| spent.spend(Once::LoginState, value, until);
        assert_eq!(spend("s", until).await.unwrap(), Spend::First);
        assert_eq!(spend("s", until).await.unwrap(), Spend::Replayed);
        assert_eq!(spend("t", until).await.unwrap(), Spend::First);
        // Each kind is its own: a DPoP `jti` equal to a state is another value.
        let dpop = spent.spend(Once::DpopProof, "s", until).await.unwrap();
        assert_eq!(dpop, Spend::First);
        // Spent up to, not at, its end.
        clock.advance(Duration::from_secs(59));
        assert_eq!(spend("s", until).await.unwrap(), Spend::Replayed);
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            spend("s", until + 60).await.unwrap(),
            Spend::First,
            "usable again once expired"
        );
    }

    #[tokio::test]
    async fn a_full_kind_refuses_new_values_and_forgets_none_early() {
        let clock = ManualClock::now();
        let (spent, now) = spent(&clock);
        let kind = Once::LogoutToken;
        let capacity = kind.capacity();
        {
            // Filled directly: a hundred thousand awaits would be slow.
            let mut used = spent.local[kind.index()].lock().unwrap();
            for i in 0..capacity {
                let key = digest(&i.to_string());
                used.until.insert(key, now + 600);
                used.expiry.push(Reverse((now + 600, key)));
            }
        }
        let refused = spent.spend(kind, "new", now + 600).await;
        assert!(
            matches!(refused, Err(Error::TooManyAtOnce("logout tokens"))),
            "{refused:?}"
        );
        // The oldest is still remembered: a replay stays a replay.
        let replay = spent.spend(kind, "0", now + 600).await.unwrap();
        assert_eq!(replay, Spend::Replayed);
        // Other kinds have their own room.
        let state = spent.spend(Once::LoginState, "new", now + 600).await;
        assert_eq!(state.unwrap(), Spend::First);
        // Once they expire, there is room again, and they are swept.
        clock.advance(Duration::from_secs(600));
        let spent_now = now + 600;
        assert_eq!(
            spent.spend(kind, "new", spent_now + 600).await.unwrap(),
            Spend::First
        );
        let used = spent.local[kind.index()].lock().unwrap();
        assert_eq!((used.until.len(), used.expiry.len()), (1, 1));
    }

    #[tokio::test]
    async fn the_last_room_is_used_and_no_more() {
        let clock = ManualClock::now();
        let (spent, now) = spent(&clock);
        let kind = Once::LoginState;
        {
            let mut used = spent.local[kind.index()].lock().unwrap();
            for i in 0..kind.capacity() - 1 {
                used.until.insert(digest(&i.to_string()), now + 600);
            }
        }
        assert_eq!(
            spent.spend(kind, "last", now + 600).await.unwrap(),
            Spend::First
        );
        assert!(spent.spend(kind, "one more", now + 600).await.is_err());
    }

    #[tokio::test]
    async fn a_forgotten_value_may_be_spent_again() {
        let clock = ManualClock::now();
        let (spent, now) = spent(&clock);
        let kind = Once::LogoutToken;
        assert_eq!(
            spent.spend(kind, "j", now + 60).await.unwrap(),
            Spend::First
        );
        spent.forget(kind, "j").await.unwrap();
        assert_eq!(
            spent.spend(kind, "j", now + 60).await.unwrap(),
            Spend::First
        );
    }

    #[test]
    fn a_store_only_this_process_uses_leaves_the_values_here() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
        let spent = Spent::new(Clock::system(), Some(&store));
        assert!(spent.shared.is_none());
        assert_eq!(
            lock_name(Once::DpopProof, "x"),
            format!("spent:dpop:{}", "2d711642b726b04401627ca9fbac32f5")
        );
    }
}
