//! The auth routes' paths, relative to where `CivicAuthEndpoint` is nested:
//! the route table serves them, and silent login leaves them alone.

pub(crate) const LOGIN: &str = "/login";
pub(crate) const CALLBACK: &str = "/callback";
/// The callback of an app's other providers, by default: each provider's
/// answers come back to an address of its own.
pub(crate) const PROVIDER_CALLBACK: &str = "/callback/:provider";
pub(crate) const LOGOUT: &str = "/logout";
pub(crate) const LOGOUT_CALLBACK: &str = "/logoutcallback";
pub(crate) const USER: &str = "/user";
pub(crate) const BACKCHANNEL_LOGOUT: &str = "/backchannel-logout";
pub(crate) const JWKS: &str = "/jwks";

/// Every one of them.
pub(crate) const ALL: &[&str] = &[
    LOGIN,
    CALLBACK,
    PROVIDER_CALLBACK,
    LOGOUT,
    LOGOUT_CALLBACK,
    USER,
    BACKCHANNEL_LOGOUT,
    JWKS,
];
