//! The app's own code at login and logout: a hook after each verified login
//! may refuse it or attach data of the app's own type to the session, which
//! handlers read with [`SessionData`](crate::SessionData); a hook at logout
//! sees who is leaving.
//!
//! ```
//! use civic_auth_poem::{hooks::LoginRefusal, CivicAuthConfig};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Account {
//!     plan: String,
//! }
//!
//! let config = CivicAuthConfig::builder()
//!     .client_id("my-client-id")
//!     .redirect_url("http://localhost:5000/auth/callback")
//!     .post_logout_redirect_url("http://localhost:5000/")
//!     .on_login(|login| async move {
//!         if login.user.email.as_deref().is_some_and(|e| e.ends_with("@blocked.example")) {
//!             return Err(LoginRefusal::new("this account is suspended"));
//!         }
//!         Ok(Account { plan: "free".into() })
//!     })
//!     .on_logout(|logout| async move {
//!         tracing::info!(user = %logout.user.id, "logged out");
//!     })
//!     .build()?;
//! # Ok::<(), civic_auth_poem::Error>(())
//! ```

use std::{future::Future, pin::Pin, sync::Arc};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::value::RawValue;

use crate::{error::Error, user::CivicUser};

/// The longest app data a session carries, as JSON.
pub(crate) const MAX_APP_DATA_LEN: usize = 8 * 1024;

/// App data as kept in the session: the hook's value as JSON, verbatim.
pub(crate) type AppData = Arc<RawValue>;

/// A verified login, as the login hook sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Login {
    /// Who logged in (the verified ID token, with the userinfo profile).
    pub user: CivicUser,
    /// The login's ID token.
    pub id_token: String,
    /// The login's access token, for calls the hook makes on the user's behalf.
    pub access_token: String,
}

/// A logout (at `/auth/logout`, or a back-channel logout from the
/// provider), as the logout hook sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Logout {
    /// Who logged out.
    pub user: CivicUser,
    data: Option<AppData>,
}

impl Logout {
    /// The session's app data, if it had some of type `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Option<T> {
        self.data
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }
}

/// The login hook's "no": the user sees this reason on a 403 page, and no
/// session is made.
///
/// ```
/// let refusal = civic_auth_poem::hooks::LoginRefusal::new("invitations only");
/// assert_eq!(refusal.to_string(), "invitations only");
/// ```
#[derive(Debug, Clone)]
pub struct LoginRefusal(String);

impl LoginRefusal {
    /// A refusal with a reason the user can read.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl std::fmt::Display for LoginRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LoginHook = Arc<dyn Fn(Login) -> Boxed<'static, Result<Option<AppData>, Error>> + Send + Sync>;
type LogoutHook = Arc<dyn Fn(Logout) -> Boxed<'static, ()> + Send + Sync>;

/// The app's hooks, as the config keeps them.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    login: Option<LoginHook>,
    logout: Option<LogoutHook>,
}

impl Hooks {
    pub(crate) fn set_login<F, Fut, T>(&mut self, hook: F)
    where
        F: Fn(Login) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, LoginRefusal>> + Send + 'static,
        T: Serialize,
    {
        self.login = Some(Arc::new(move |login| {
            let answer = hook(login);
            Box::pin(async move {
                let data = answer
                    .await
                    .map_err(|refusal| Error::LoginDeniedByApp(refusal.0))?;
                app_data(&data)
            })
        }));
    }

    pub(crate) fn set_logout<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Logout) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.logout = Some(Arc::new(move |logout| Box::pin(hook(logout))));
    }

    pub(crate) fn has_login(&self) -> bool {
        self.login.is_some()
    }

    pub(crate) fn has_logout(&self) -> bool {
        self.logout.is_some()
    }

    /// Runs the login hook: the app data to keep, or the app's refusal.
    pub(crate) async fn logged_in(&self, login: Login) -> Result<Option<AppData>, Error> {
        match &self.login {
            Some(hook) => hook(login).await,
            None => Ok(None),
        }
    }

    /// Runs the logout hook.
    pub(crate) async fn logged_out(&self, user: CivicUser, data: Option<AppData>) {
        if let Some(hook) = &self.logout {
            hook(Logout { user, data }).await;
        }
    }
}

/// `data` as the session keeps it: nothing for `()` (or any `null`),
/// bounded in length.
fn app_data<T: Serialize>(data: &T) -> Result<Option<AppData>, Error> {
    let raw = serde_json::value::to_raw_value(data)
        .map_err(|e| Error::AppData(format!("the login hook's data cannot be serialised: {e}")))?;
    if raw.get() == "null" {
        return Ok(None);
    }
    if raw.get().len() > MAX_APP_DATA_LEN {
        return Err(Error::AppData(format!(
            "the login hook's data is {} bytes as JSON, over the limit of {MAX_APP_DATA_LEN}: keep an id in the session and the rest in your own storage",
            raw.get().len()
        )));
    }
    Ok(Some(Arc::from(raw)))
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("login", &self.login.is_some())
            .field("logout", &self.logout.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_data_is_kept_as_json_unless_null_or_too_long() {
        assert!(app_data(&()).unwrap().is_none());
        let kept = app_data(&serde_json::json!({"plan": "pro"}))
            .unwrap()
            .unwrap();
        assert_eq!(kept.get(), r#"{"plan":"pro"}"#);
        // Exactly the documented 8 KB (a JSON string: 8190 bytes and its
        // quotes) is kept; one byte more is refused.
        let fits = "x".repeat(8 * 1024 - 2);
        assert!(app_data(&fits).unwrap().is_some());
        let over = "x".repeat(8 * 1024 - 1);
        assert!(matches!(app_data(&over), Err(Error::AppData(_))));
    }

    #[test]
    fn refusals_read_as_their_reason_and_hooks_show_which_are_set() {
        assert_eq!(LoginRefusal::new("not invited").to_string(), "not invited");
        let mut hooks = Hooks::default();
        hooks.set_logout(|_| async {});
        assert_eq!(format!("{hooks:?}"), "Hooks { login: false, logout: true }");
    }
}
