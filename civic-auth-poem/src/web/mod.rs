//! What an app mounts: [`auth::CivicAuth`] (the composition of every part),
//! its [`middleware`], the [`extract`]ors that hand handlers the user, the
//! auth routes' [`endpoint`], and the [`openapi`] integration.

pub(crate) mod access_token;
pub(crate) mod auth;
pub(crate) mod endpoint;
pub(crate) mod extract;
pub(crate) mod guard;
pub(crate) mod middleware;
#[cfg(feature = "openapi")]
pub mod openapi;
pub(crate) mod paths;
pub(crate) mod proxy;
