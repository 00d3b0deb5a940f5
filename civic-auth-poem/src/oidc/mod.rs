//! The OpenID Connect protocol as this client speaks it: the provider's
//! discovery document and keys ([`provider`]), the one token verifier
//! ([`verifier`]), the client calls ([`client`]), how the client proves who it is
//! ([`client_auth`], with what `credentials` holds), their [`dpop`] proofs,
//! calls to APIs with a user's token ([`api`]),
//! all over one bounded
//! HTTP client ([`http`]).

pub(crate) mod api;
pub(crate) mod client;
pub(crate) mod client_auth;
pub(crate) mod discovery;
pub(crate) mod dpop;
pub(crate) mod http;
pub(crate) mod jwks;
pub(crate) mod provider;
pub(crate) mod providers;
pub(crate) mod verifier;
