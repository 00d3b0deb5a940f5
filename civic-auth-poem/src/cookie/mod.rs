//! The app's cookies: the secret that seals them ([`secret`]), sealing
//! ([`sealer`]), reading them from a request ([`request`]), and the one
//! writer of every `Set-Cookie` the library sends ([`writer`]).

pub(crate) mod request;
pub(crate) mod sealer;
pub(crate) mod secret;
pub(crate) mod writer;

/// The session cookie's name; chunks are `civic_session.0`, `civic_session.1`, ...
pub const SESSION_COOKIE: &str = "civic_session";
