//! Transparent refresh: a session whose access token has expired gets new
//! tokens before the handler runs. The provider rotates refresh tokens and
//! revokes the whole grant when an old one is used again, so each refresh
//! token must be used once:
//!
//! - concurrent requests of one session share one refresh in this process;
//! - the refresh runs in its own task, so a request that goes away cannot
//!   abandon it after the token was spent;
//! - with a store, an owner-checked lock makes other machines wait, and the
//!   lock holder re-reads the session first (another machine may have just
//!   refreshed it);
//! - new tokens, once received, are kept even if later steps fail.
//!
//! Cookie sessions have no shared lock: apps on several machines that need
//! refresh should use a store (or sticky sessions).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use oauth2::{RefreshToken, RequestTokenError, TokenResponse as _};
use tokio::sync::watch;

use crate::{
    id_token,
    middleware::Inner,
    session::{CookieUpdate, Session, Tokens},
    CivicAuth, Error,
};

/// Why a session could not be refreshed.
#[derive(Clone, Debug)]
pub(crate) enum RefreshFailure {
    /// The provider refused the refresh token (revoked, expired): the session is over.
    Ended(String),
    /// The provider or the store could not be reached: keep the session for now.
    Unavailable(String),
}

type Outcome = Result<(Session, CookieUpdate), RefreshFailure>;

/// One refresh in progress or just done (its result, once sent), and when
/// it started.
type Flight = (watch::Receiver<Option<Outcome>>, Instant);

#[derive(Default)]
pub(crate) struct Refresher {
    /// Keyed by the refresh token, which each flight uses up.
    flights: Mutex<HashMap<String, Flight>>,
}

impl Refresher {
    /// New tokens for `session`, shared with every concurrent request that
    /// holds the same refresh token.
    pub(crate) async fn refresh(&self, auth: &CivicAuth, session: &Session) -> Outcome {
        let Some(refresh_token) = session.refresh_token.clone() else {
            return Err(RefreshFailure::Ended(
                "the session has no refresh token".into(),
            ));
        };
        let inner = auth.inner();
        // Remembered past the longest a refresh can take, so requests sent
        // with the old cookie meanwhile get the new session, not a reuse.
        let grace = lock_ttl(inner) + Duration::from_secs(60);
        let mut result = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, (_, started)| started.elapsed() < grace);
            flights
                .entry(refresh_token.clone())
                .or_insert_with(|| {
                    // The task owns the refresh: requests that go away (or
                    // wait) can neither cancel it nor start a second one.
                    let (done, result) = watch::channel(None);
                    let auth = auth.clone();
                    let session = session.clone();
                    tokio::spawn(async move {
                        let outcome = refresh_once(auth.inner(), session, refresh_token).await;
                        let _ = done.send(Some(outcome));
                    });
                    (result, Instant::now())
                })
                .0
                .clone()
        };
        let outcome = match result.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        };
        outcome.unwrap_or_else(|| {
            Err(RefreshFailure::Unavailable(
                "the refresh task ended without a result".into(),
            ))
        })
    }
}

/// Longer than any refresh can take under the lock (the metadata is fetched
/// before it): the token call, a key fetch that may wait on another, store
/// calls; each bounded by the HTTP timeout.
fn lock_ttl(inner: &Inner) -> Duration {
    inner.config.http_timeout.saturating_mul(6) + Duration::from_secs(5)
}

async fn refresh_once(inner: &Inner, session: Session, refresh_token: String) -> Outcome {
    // Fetched before any lock is held, so the lock covers less time.
    inner.provider.metadata().await.map_err(unavailable)?;
    let Some(store) = inner.sessions.store() else {
        return refresh_and_save(inner, session, refresh_token).await;
    };
    let lock = format!("refresh:{}", session.id);
    let owner = oauth2::CsrfToken::new_random().secret().clone();
    let deadline = Instant::now() + lock_ttl(inner);
    loop {
        if store
            .try_lock(&lock, &owner, lock_ttl(inner))
            .await
            .map_err(unavailable)?
        {
            break;
        }
        // Another machine is refreshing: wait for its result.
        if Instant::now() >= deadline {
            return Err(RefreshFailure::Unavailable(
                "another instance did not finish refreshing in time".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcome = match inner.sessions.reload(&session.id).await {
        Err(error) => Err(unavailable(error)),
        Ok(None) => Err(RefreshFailure::Ended("the session ended meanwhile".into())),
        // Someone else refreshed it while this machine waited.
        Ok(Some(current)) if current.refresh_token.as_ref() != Some(&refresh_token) => {
            let update = inner.sessions.cookie_for(&current);
            Ok((current, update))
        }
        Ok(Some(current)) => refresh_and_save(inner, current, refresh_token).await,
    };
    if let Err(error) = store.unlock(&lock, &owner).await {
        tracing::warn!(%error, "could not release a refresh lock; it expires by itself");
    }
    outcome
}

async fn refresh_and_save(inner: &Inner, mut session: Session, refresh_token: String) -> Outcome {
    exchange(inner, &mut session, refresh_token).await?;
    // The old refresh token is spent: the new one must be kept. A store
    // save is retried; it only replaces a record that still exists, so a
    // logout during the refresh stays a logout.
    let mut attempt = 0;
    loop {
        match inner.sessions.replace(&mut session).await {
            Ok(Some(update)) => return Ok((session, update)),
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
                let update = inner.sessions.cookie_for(&session);
                return Ok((session, update));
            }
        }
    }
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
            // Only a refused grant ends the session; a busy provider does not.
            RequestTokenError::ServerResponse(resp)
                if matches!(
                    resp.error(),
                    oauth2::basic::BasicErrorResponseType::InvalidGrant
                ) =>
            {
                RefreshFailure::Ended(
                    "the provider refused the refresh token (invalid_grant)".into(),
                )
            }
            RequestTokenError::ServerResponse(resp) => {
                RefreshFailure::Unavailable(format!("the provider answered {}", resp.error()))
            }
            RequestTokenError::Request(error) => unavailable(error),
            other => RefreshFailure::Unavailable(other.to_string()),
        })?;
    let id_token = tokens.extra_fields().id_token.clone();
    if let Some(id_token) = &id_token {
        check_refreshed_id_token(inner, &metadata.issuer, id_token, &session.user.id).await?;
    }
    session.set_tokens(Tokens {
        access_token: tokens.access_token().secret().clone(),
        expires_in: tokens.expires_in(),
        refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        id_token,
    });
    Ok(())
}

/// A refreshed ID token must be valid and about the same user. It came
/// straight from the token endpoint, so when only the key lookup fails
/// (provider unreachable) its `sub` is trusted rather than losing the
/// already rotated tokens (OpenID Connect Core 3.1.3.7).
async fn check_refreshed_id_token(
    inner: &Inner,
    issuer: &str,
    id_token: &str,
    user_id: &str,
) -> Result<(), RefreshFailure> {
    let expected = id_token::Expected {
        issuer,
        client_id: &inner.config.client_id,
        nonce: None,
    };
    let sub = match id_token::verify(&inner.provider, id_token, &expected).await {
        Ok(claims) => claims
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_owned),
        Err(Error::ProviderUnavailable { .. }) => jsonwebtoken::dangerous::insecure_decode::<
            serde_json::Map<String, serde_json::Value>,
        >(id_token)
        .ok()
        .and_then(|data| {
            data.claims
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        }),
        Err(error) => return Err(RefreshFailure::Ended(error.to_string())),
    };
    if sub.as_deref() == Some(user_id) {
        Ok(())
    } else {
        Err(RefreshFailure::Ended(
            "the refreshed ID token is about another user".into(),
        ))
    }
}

fn unavailable(error: Error) -> RefreshFailure {
    RefreshFailure::Unavailable(error.to_string())
}
