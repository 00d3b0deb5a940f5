//! Transparent refresh: a session whose access token has expired gets new
//! tokens before the handler runs. The provider rotates refresh tokens and
//! revokes the whole grant when an old one is used again, so each refresh
//! token is used once: concurrent requests of one session share one refresh
//! in this process, and a store lock makes other machines wait for it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use oauth2::{RefreshToken, RequestTokenError, TokenResponse as _};
use tokio::sync::OnceCell;

use crate::{
    id_token,
    middleware::Inner,
    session::{CookieUpdate, Session, Tokens},
    Error,
};

/// How long a finished refresh is remembered, for requests that were sent
/// with the old cookie while it ran.
const GRACE: Duration = Duration::from_secs(60);
/// How long another machine's refresh is waited for.
const WAIT: Duration = Duration::from_secs(10);

/// Why a session could not be refreshed.
#[derive(Clone, Debug)]
pub(crate) enum RefreshFailure {
    /// The provider refused the refresh token (revoked, expired): the session is over.
    Ended(String),
    /// The provider or the store could not be reached: keep the session for now.
    Unavailable(String),
}

type Outcome = Result<(Session, CookieUpdate), RefreshFailure>;

/// One refresh in progress or just done, and when it started.
type Flight = (Arc<OnceCell<Outcome>>, Instant);

#[derive(Default)]
pub(crate) struct Refresher {
    /// Keyed by the refresh token, which each flight uses up.
    flights: Mutex<HashMap<String, Flight>>,
}

impl Refresher {
    /// New tokens for `session`, shared with every concurrent request that
    /// holds the same refresh token.
    pub(crate) async fn refresh(&self, inner: &Inner, session: &Session) -> Outcome {
        let Some(refresh_token) = session.refresh_token.clone() else {
            return Err(RefreshFailure::Ended(
                "the session has no refresh token".into(),
            ));
        };
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, (_, started)| started.elapsed() < GRACE);
            flights
                .entry(refresh_token.clone())
                .or_insert_with(|| (Arc::default(), Instant::now()))
                .0
                .clone()
        };
        cell.get_or_init(|| refresh_once(inner, session.clone(), refresh_token))
            .await
            .clone()
    }
}

async fn refresh_once(inner: &Inner, mut session: Session, refresh_token: String) -> Outcome {
    let lock = format!("refresh:{}", session.id);
    if let Some(store) = inner.sessions.store() {
        let taken = store.try_lock(&lock, WAIT).await.map_err(unavailable)?;
        if !taken {
            return wait_for_other_machine(inner, &session).await;
        }
    }
    let outcome = exchange(inner, &mut session, refresh_token).await;
    let outcome = match outcome {
        Ok(()) => inner
            .sessions
            .save(&mut session)
            .await
            .map(|update| (session, update))
            .map_err(unavailable),
        Err(failure) => Err(failure),
    };
    if let Some(store) = inner.sessions.store() {
        if let Err(error) = store.unlock(&lock).await {
            tracing::warn!(%error, "could not release a refresh lock; it expires by itself");
        }
    }
    outcome
}

/// Another machine holds the lock: wait until the stored session changes.
async fn wait_for_other_machine(inner: &Inner, session: &Session) -> Outcome {
    let Some(store) = inner.sessions.store() else {
        return Err(RefreshFailure::Unavailable("no store".into()));
    };
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let record = store.load(&session.id).await.map_err(unavailable)?;
        let Some(stored) = record.and_then(|r| serde_json::from_str::<Session>(&r).ok()) else {
            return Err(RefreshFailure::Ended(
                "the session ended during a refresh".into(),
            ));
        };
        if stored.refresh_token != session.refresh_token {
            let update = CookieUpdate::Set {
                value: stored.id.clone(),
                max_age: Duration::from_secs(
                    stored.expires_at.saturating_sub(crate::login::now_secs()),
                )
                .min(inner.sessions.idle),
            };
            return Ok((stored, update));
        }
    }
    Err(RefreshFailure::Unavailable(
        "another instance did not finish refreshing in time".into(),
    ))
}

/// Uses the refresh token once and takes the new tokens into `session`.
async fn exchange(
    inner: &Inner,
    session: &mut Session,
    refresh_token: String,
) -> Result<(), RefreshFailure> {
    let metadata = inner.provider.metadata().await.map_err(unavailable)?;
    let client = inner.provider.oauth_client(&metadata, &inner.config);
    let tokens = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token))
        .request_async(&inner.provider.http.oauth2_client())
        .await
        .map_err(|error| match error {
            RequestTokenError::ServerResponse(resp) => RefreshFailure::Ended(format!(
                "the provider refused the refresh token ({})",
                resp.error()
            )),
            RequestTokenError::Request(error) => unavailable(error),
            other => RefreshFailure::Unavailable(other.to_string()),
        })?;
    let id_token = tokens.extra_fields().id_token.clone();
    if let Some(id_token) = &id_token {
        // A refreshed ID token must be valid and about the same user.
        let claims = id_token::verify(
            &inner.provider,
            id_token,
            &id_token::Expected {
                issuer: &metadata.issuer,
                client_id: &inner.config.client_id,
                nonce: None,
            },
        )
        .await
        .map_err(|e| RefreshFailure::Ended(e.to_string()))?;
        if claims.get("sub").and_then(|s| s.as_str()) != Some(session.user.id.as_str()) {
            return Err(RefreshFailure::Ended(
                "the refreshed ID token is about another user".into(),
            ));
        }
    }
    session.set_tokens(Tokens {
        access_token: tokens.access_token().secret().clone(),
        expires_in: tokens.expires_in(),
        refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        id_token,
    });
    Ok(())
}

fn unavailable(error: Error) -> RefreshFailure {
    RefreshFailure::Unavailable(error.to_string())
}
