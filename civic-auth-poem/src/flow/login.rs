//! `/auth/login`: a new login transaction (PKCE verifier, `state`, `nonce`,
//! `returnTo`, and any step-up asked for) kept in its cookie, and the
//! browser sent to the provider.

use poem::Request;
use url::Url;

use super::{
    transaction::{LoginTransaction, Transactions},
    Reply,
};
use crate::{
    cookie::writer::CookieChanges,
    error::Error,
    local_path::LocalPath,
    oidc::{
        client::{AuthorizationRequest, OidcClient},
        dpop::DpopKey,
    },
    random::{Nonce, State},
    step_up::StepUp,
};

/// What a login asks for beyond a login.
#[derive(Default)]
pub(crate) struct LoginOptions {
    /// Where to land after it: a path of this app, within its base path.
    pub(crate) return_to: Option<LocalPath>,
    pub(crate) step_up: StepUp,
    /// `prompt=none`: no page at the provider; failing is not an error.
    pub(crate) silent: bool,
}

/// Starts a login at `client`, whose answer comes back to `redirect_url`.
pub(crate) async fn start(
    client: &OidcClient,
    redirect_url: &Url,
    transactions: &Transactions,
    req: &Request,
    options: LoginOptions,
) -> Result<Reply, Error> {
    let state = State::generate();
    let nonce = Nonce::generate();
    let dpop_key = client.uses_dpop().then(DpopKey::generate);
    let (url, pkce_verifier) = client
        .authorization_url(&AuthorizationRequest {
            state: &state,
            nonce: &nonce,
            step_up: &options.step_up,
            silent: options.silent,
            dpop: dpop_key.as_ref(),
            redirect_url,
        })
        .await?;
    let tx = LoginTransaction {
        provider: Some(client.name().to_owned()),
        state,
        nonce,
        pkce_verifier,
        return_to: options.return_to,
        step_up: options.step_up,
        silent: options.silent,
        dpop_key,
        started: transactions.start(),
    };
    let mut cookies = CookieChanges::default();
    for change in transactions.keep(req, &tx) {
        cookies.merge(CookieChanges::transient(change));
    }
    Ok(Reply::redirect(url.as_str(), cookies))
}
