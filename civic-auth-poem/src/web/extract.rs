//! The extractors that hand a handler its user: `CivicUser`,
//! `Option<CivicUser>`, the shared user the attribute takes, and
//! `get_civic_user()` for the attribute's task-local scope; and
//! `SessionData<T>`, the app data of the session.

use std::{marker::PhantomData, sync::Arc};

use serde::de::DeserializeOwned;

use super::middleware::RequestAuth;
use crate::{
    error::Error,
    step_up::{NoStepUp, StepUpPolicy},
    user::CivicUser,
};

impl<'a> poem::FromRequest<'a> for CivicUser {
    async fn from_request(
        req: &'a poem::Request,
        _body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        RequestAuth::user(req, NoStepUp::step_up())
            .await
            .map(|user| CivicUser::clone(&user))
    }
}

/// The user of a protected handler, shared rather than copied: what the
/// attribute extracts, and what `get_civic_user()` reads. `S` is the
/// route's step-up requirement, checked when it is extracted.
#[doc(hidden)]
pub struct Authenticated<S = NoStepUp> {
    user: Arc<CivicUser>,
    policy: PhantomData<fn() -> S>,
}

impl<S> Authenticated<S> {
    pub(crate) fn new(user: Arc<CivicUser>) -> Self {
        Self {
            user,
            policy: PhantomData,
        }
    }

    /// The user, for `#[civic_auth_required(check(..))]` predicates and the like.
    pub fn user(&self) -> &CivicUser {
        &self.user
    }
}

impl<'a, S: StepUpPolicy> poem::FromRequest<'a> for Authenticated<S> {
    async fn from_request(
        req: &'a poem::Request,
        _body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        RequestAuth::user(req, S::step_up()).await.map(Self::new)
    }
}

/// The app data the login hook ([`on_login`]) attached to the session, as
/// the app's own type `T`. Like [`CivicUser`], it needs a logged-in user:
/// without one, a browser goes to login and an API call gets 401. A session
/// without app data of type `T` (one older than the hook, or a bearer
/// token's call, which has no session) is a 500 naming the type; take
/// `Option<SessionData<T>>` where that can happen.
///
/// [`on_login`]: crate::CivicAuthConfigBuilder::on_login
///
/// ```
/// use civic_auth_poem::{civic_auth_required, SessionData};
/// use poem::handler;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Account {
///     plan: String,
/// }
///
/// #[civic_auth_required]
/// #[handler]
/// async fn plan(SessionData(account): SessionData<Account>) -> String {
///     account.plan
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SessionData<T>(pub T);

impl<'a, T: DeserializeOwned> poem::FromRequest<'a> for SessionData<T> {
    async fn from_request(
        req: &'a poem::Request,
        _body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        let type_name = std::any::type_name::<T>();
        let raw = RequestAuth::app_data(req).await?.ok_or_else(|| {
            Error::AppData(format!(
                "this session has no app data (a `{type_name}` was asked for): the login hook attached none, the session is older than the hook, or the request came with a bearer token"
            ))
        })?;
        serde_json::from_str(raw.get())
            .map(SessionData)
            .map_err(|e| Error::AppData(format!("it is not a `{type_name}`: {e}")).into())
    }
}

tokio::task_local! {
    static CURRENT_USER: Arc<CivicUser>;
}

/// The user of the `#[civic_auth_required]` handler that is running, like
/// the Flask SDK's `get_civic_user()`.
///
/// Fails with [`Error::NoUserInScope`] outside such a handler; `?` turns
/// that into an HTTP answer.
///
/// ```
/// use civic_auth_poem::{civic_auth_required, get_civic_user};
/// use poem::handler;
///
/// #[civic_auth_required]
/// #[handler]
/// async fn hello() -> poem::Result<String> {
///     let user = get_civic_user()?;
///     Ok(format!("Hello, {}!", user.id))
/// }
/// ```
pub fn get_civic_user() -> Result<CivicUser, Error> {
    CURRENT_USER
        .try_with(|user| CivicUser::clone(user))
        .map_err(|_| Error::NoUserInScope)
}

/// Runs a handler body with its user in scope; called by the macro's expansion.
#[doc(hidden)]
pub async fn scope<S, F: std::future::Future>(user: Authenticated<S>, body: F) -> F::Output {
    CURRENT_USER.scope(user.user, body).await
}

/// [`scope`] with the answer type named, so `?` in an operation's body knows
/// what it converts into.
#[doc(hidden)]
pub async fn scope_typed<R, S, F: std::future::Future<Output = R>>(
    user: Authenticated<S>,
    body: F,
) -> R {
    CURRENT_USER.scope(user.user, body).await
}

/// [`scope`] for handlers that are plain functions.
#[doc(hidden)]
pub fn sync_scope<R, S>(user: Authenticated<S>, body: impl FnOnce() -> R) -> R {
    CURRENT_USER.sync_scope(user.user, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn get_civic_user_sees_only_its_scope() {
        assert!(matches!(get_civic_user(), Err(Error::NoUserInScope)));
        let user: CivicUser = serde_json::from_value(serde_json::json!({"id": "u"})).unwrap();
        let seen = scope(Authenticated::<NoStepUp>::new(Arc::new(user)), async {
            get_civic_user().map(|u| u.id)
        })
        .await;
        assert_eq!(seen.unwrap(), "u");
        assert!(matches!(get_civic_user(), Err(Error::NoUserInScope)));
    }
}
