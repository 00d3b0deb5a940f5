//! The OpenID Connect protocol as this client speaks it: the provider's
//! discovery document and keys ([`provider`]), the one token verifier
//! ([`verifier`]), the client calls ([`client`]) and their [`dpop`] proofs,
//! all over one bounded
//! HTTP client ([`http`]).

pub(crate) mod client;
pub(crate) mod discovery;
pub(crate) mod dpop;
pub(crate) mod http;
pub(crate) mod jwks;
pub(crate) mod provider;
pub(crate) mod verifier;
