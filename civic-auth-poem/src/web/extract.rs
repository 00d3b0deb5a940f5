//! The extractors that hand a handler its user: `CivicUser`,
//! `Option<CivicUser>`, the shared user the attribute takes, and
//! `get_civic_user()` for the attribute's task-local scope.

use std::{marker::PhantomData, sync::Arc};

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
