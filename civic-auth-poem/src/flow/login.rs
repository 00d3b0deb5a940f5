//! `/auth/login`: a new login transaction (PKCE verifier, `state`, `nonce`,
//! `returnTo`, and any step-up asked for) kept in its cookie, and the
//! browser sent to the provider.

use poem::Request;

use super::{
    transaction::{LoginTransaction, Transactions},
    Reply,
};
use crate::{
    cookie::writer::CookieChanges,
    error::Error,
    local_path::LocalPath,
    oidc::client::OidcClient,
    random::{Nonce, State},
    step_up::StepUp,
};

/// Starts a login; `return_to` is kept only if it is a path of this app.
pub(crate) async fn start(
    client: &OidcClient,
    transactions: &Transactions,
    req: &Request,
    return_to: Option<&str>,
    step_up: StepUp,
) -> Result<Reply, Error> {
    let state = State::generate();
    let nonce = Nonce::generate();
    let (url, pkce_verifier) = client.authorization_url(&state, &nonce, &step_up).await?;
    let tx = LoginTransaction {
        state,
        nonce,
        pkce_verifier,
        return_to: return_to.and_then(LocalPath::parse),
        step_up,
        expires_at: transactions.expiry(),
    };
    let mut cookies = CookieChanges::default();
    for change in transactions.keep(req, &tx) {
        cookies.merge(CookieChanges::transient(change));
    }
    Ok(Reply::redirect(url.as_str(), cookies))
}
