//! The one clock every expiry, lifetime and cache in the library reads, so a
//! test can move time instead of waiting for it.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Clock difference tolerated between the app and the provider, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 60;

/// Where the library reads the time: the system clock, or a
/// [`ManualClock`] that tests move by hand.
///
/// ```
/// use std::time::Duration;
/// use civic_auth_poem::{Clock, ManualClock};
///
/// let manual = ManualClock::now();
/// let clock = Clock::from(manual.clone());
/// let before = clock.now();
/// manual.advance(Duration::from_secs(90));
/// assert_eq!(clock.now() - before, Duration::from_secs(90));
/// # let _ = Clock::system();
/// ```
#[derive(Clone, Default)]
pub struct Clock(Option<ManualClock>);

impl Clock {
    /// The system clock (the default).
    pub fn system() -> Self {
        Self(None)
    }

    /// The time since the Unix epoch.
    pub fn now(&self) -> Duration {
        match &self.0 {
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            Some(manual) => Duration::from_millis(manual.0.load(Ordering::Relaxed)),
        }
    }

    /// Whole seconds since the Unix epoch: the unit of tokens and sessions.
    pub(crate) fn now_secs(&self) -> u64 {
        self.now().as_secs()
    }

    /// Time on a clock that only moves forward, from a fixed start: what
    /// cache lifetimes, rate limits and waits are measured on, so that a
    /// system clock set back or forth cannot stretch or cut them. (Tokens
    /// and sessions carry wall-clock times: [`Self::now`].)
    pub(crate) fn ticks(&self) -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        match &self.0 {
            None => START.get_or_init(Instant::now).elapsed(),
            Some(manual) => Duration::from_millis(manual.0.load(Ordering::Relaxed)),
        }
    }

    /// [`Self::ticks`] `after` from now: a cache deadline.
    pub(crate) fn ticks_after(&self, after: Duration) -> Duration {
        self.ticks().saturating_add(after)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(manual)"
        } else {
            "Clock(system)"
        })
    }
}

/// A clock that stands still until moved; for tests of expiry.
///
/// Give it to the config with
/// [`CivicAuthConfigBuilder::clock`](crate::CivicAuthConfigBuilder::clock).
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock that starts at the current system time.
    pub fn now() -> Self {
        let millis = Clock::system().now().as_millis();
        Self(Arc::new(AtomicU64::new(
            u64::try_from(millis).unwrap_or(u64::MAX),
        )))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_add(millis))
            });
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Self(Some(manual))
    }
}
