//! `Session`: one login's state as kept (sealed in the cookie, or in a
//! store): who is logged in, their tokens, and its lifetimes.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    hooks::{AppData, Hooks},
    oidc::{client::TokenSet, dpop::DpopKey},
    random::SessionId,
    user::CivicUser,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Random and new at every login, so a session cannot be fixed in advance.
    pub(crate) id: SessionId,
    /// Shared, so each request hands it out without copying every claim.
    pub(crate) user: Arc<CivicUser>,
    pub(crate) id_token: String,
    pub(crate) access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// When to refresh: shortly before the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_at: Option<u64>,
    /// Tokens for the APIs its login asked for (RFC 8707), by resource
    /// indicator: none for an API until a handler first asks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) resources: BTreeMap<String, Option<ApiToken>>,
    /// Counts the changes of its tokens: a renewal replaces one revision,
    /// and requests that still carry it share that renewal's result.
    #[serde(default)]
    pub(crate) revision: u64,
    /// The key the tokens are bound to (DPoP), sealed with the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_key: Option<DpopKey>,
    /// What the app's login hook attached, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) app_data: Option<AppData>,
    /// The provider's session id, for back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    pub(crate) created_at: u64,
    /// The absolute end, however active the user is.
    pub(crate) expires_at: u64,
    /// The last activity seen; the session ends after the idle timeout.
    pub(crate) touched_at: u64,
}

impl Session {
    pub(crate) fn new(
        user: CivicUser,
        tokens: TokenSet,
        sid: Option<String>,
        lifetime: Duration,
        now: u64,
    ) -> Self {
        let mut session = Self {
            id: SessionId::generate(),
            user: Arc::new(user),
            id_token: String::new(),
            access_token: String::new(),
            refresh_token: None,
            refresh_at: None,
            resources: BTreeMap::new(),
            revision: 0,
            dpop_key: None,
            app_data: None,
            sid,
            created_at: now,
            expires_at: now.saturating_add(lifetime.as_secs()),
            touched_at: now,
        };
        session.set_tokens(tokens, now);
        session
    }

    /// Takes the tokens of a login or a refresh; a refresh that returns no
    /// new refresh token or ID token keeps the old ones.
    pub(crate) fn set_tokens(&mut self, tokens: TokenSet, now: u64) {
        self.access_token = tokens.access_token;
        self.refresh_at = renewal_time(tokens.expires_in, now);
        self.keep_refresh_token(tokens.refresh_token);
        if let Some(id_token) = tokens.id_token {
            self.id_token = id_token;
        }
    }

    /// Takes a token for the API `indicator`, and the refresh token that
    /// may have come with it.
    pub(crate) fn set_resource_token(&mut self, indicator: &str, tokens: TokenSet, now: u64) {
        let token = ApiToken {
            access_token: tokens.access_token,
            refresh_at: renewal_time(tokens.expires_in, now),
        };
        self.resources.insert(indicator.to_owned(), Some(token));
        self.keep_refresh_token(tokens.refresh_token);
    }

    /// A new revision: the provider may have rotated the refresh token.
    fn keep_refresh_token(&mut self, refresh_token: Option<String>) {
        if let Some(refresh_token) = refresh_token {
            self.refresh_token = Some(refresh_token);
        }
        self.revision += 1;
    }

    /// The token for the API `indicator` while it is good for a while yet.
    pub(crate) fn resource_token(&self, indicator: &str, now: u64) -> Option<&str> {
        let token = self.resources.get(indicator)?.as_ref()?;
        is_current(token.refresh_at, now).then_some(token.access_token.as_str())
    }

    /// Whether the access token is (about to be) expired and can be renewed.
    pub(crate) fn needs_refresh(&self, now: u64) -> bool {
        self.refresh_token.is_some() && !self.has_current_access_token(now)
    }

    /// Whether the access token is good for a while yet (the refresh margin).
    pub(crate) fn has_current_access_token(&self, now: u64) -> bool {
        is_current(self.refresh_at, now)
    }

    /// Tells the app's logout hook that this session ended by a logout.
    pub(crate) async fn logged_out(&self, hooks: &Hooks) {
        let user = CivicUser::clone(&self.user);
        hooks.logged_out(user, self.app_data.clone()).await;
    }

    /// Tags for back-channel logout: the user, and the provider session (or,
    /// when the ID token named none, that it did not), within its provider.
    pub(crate) fn tags(&self) -> Vec<String> {
        let sub = &self.user.id;
        let session = match &self.sid {
            Some(sid) => Tag::Sid(sid),
            None => Tag::SubWithoutSid(sub),
        };
        let provider = self.user.provider.as_deref();
        vec![Tag::Sub(sub).of(provider), session.of(provider)]
    }
}

/// A token for one API (RFC 8707), as a session keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiToken {
    pub(crate) access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_at: Option<u64>,
}

/// When to renew a token that expires in `expires_in`: ahead by a fifth of
/// its lifetime, at least 1 s and at most 10 s, so short-lived tokens are
/// not renewed at every request, and one handed to a handler is not about
/// to expire.
fn renewal_time(expires_in: Option<Duration>, now: u64) -> Option<u64> {
    expires_in.map(|lifetime| {
        // A provider's `expires_in` could be anything: at most a year.
        let lifetime = lifetime.as_secs().min(365 * 24 * 3600);
        let margin = (lifetime / 5).clamp(1, 10).min(lifetime / 2);
        now.saturating_add(lifetime - margin)
    })
}

/// Whether a token to renew at `refresh_at` is good for a while yet.
fn is_current(refresh_at: Option<u64>, now: u64) -> bool {
    refresh_at.is_none_or(|at| at > now)
}

/// What a back-channel logout finds sessions by.
pub(crate) enum Tag<'a> {
    /// Every session of a user.
    Sub(&'a str),
    /// The sessions of one provider session.
    Sid(&'a str),
    /// A user's sessions whose ID token named no provider session.
    SubWithoutSid(&'a str),
}

impl Tag<'_> {
    /// The tag as kept, among the sessions of `provider`: the same user id
    /// at two providers is two people. Sessions from before the app named
    /// its providers have tags without a name.
    pub(crate) fn of(&self, provider: Option<&str>) -> String {
        let (kind, value) = match self {
            Tag::Sub(value) => ("sub", value),
            Tag::Sid(value) => ("sid", value),
            Tag::SubWithoutSid(value) => ("sub-without-sid", value),
        };
        match provider {
            Some(provider) => format!("{provider}/{kind}:{value}"),
            None => format!("{kind}:{value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(expires_in: u64, refresh: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: "at".into(),
            expires_in: Some(Duration::from_secs(expires_in)),
            refresh_token: refresh.map(str::to_owned),
            id_token: None,
            dpop_bound: false,
        }
    }

    fn user() -> CivicUser {
        serde_json::from_value(serde_json::json!({"id": "u"})).unwrap()
    }

    /// A session started at 1000 with `tokens`.
    fn started(tokens: TokenSet) -> Session {
        Session::new(user(), tokens, None, Duration::from_secs(1000), 1_000)
    }

    #[test]
    fn refresh_is_due_shortly_before_expiry_and_only_with_a_refresh_token() {
        let session = started(tokens(100, Some("rt")));
        assert_eq!(session.refresh_at, Some(1_090));
        assert!(!session.needs_refresh(1_089));
        assert!(session.needs_refresh(1_090));
        let without = started(tokens(100, None));
        assert!(!without.needs_refresh(5_000));
        assert!(without.has_current_access_token(1_089));
        assert!(!without.has_current_access_token(1_090));
        // A token of a few seconds is renewed a second before it expires.
        let short = started(tokens(4, Some("rt")));
        assert_eq!(short.refresh_at, Some(1_003));
        let none = started(tokens(0, Some("rt")));
        assert_eq!(none.refresh_at, Some(1_000));
        let one = started(tokens(1, Some("rt")));
        assert_eq!(
            one.refresh_at,
            Some(1_001),
            "a token of a second is current for it"
        );
    }

    #[test]
    fn a_refresh_keeps_what_it_does_not_replace() {
        let mut session = started(tokens(100, Some("rt")));
        session.id_token = "id".into();
        session.set_tokens(tokens(u64::MAX, None), 2_000);
        assert_eq!(session.refresh_token.as_deref(), Some("rt"));
        assert_eq!(session.id_token, "id");
        // A provider's `expires_in` counts for a year at most.
        assert_eq!(session.refresh_at, Some(2_000 + 365 * 24 * 3600 - 10));
    }

    #[test]
    fn a_token_for_an_api_is_kept_beside_the_sessions_own() {
        const API: &str = "https://api.example/";
        let mut session = started(tokens(100, Some("rt")));
        let revision = session.revision;
        assert_eq!(session.resource_token(API, 1_000), None);
        let mut api = tokens(20, Some("rt2"));
        api.access_token = "api".into();
        session.set_resource_token(API, api, 1_000);
        // Renewed 4 s (a fifth) before it expires.
        assert_eq!(session.resource_token(API, 1_015), Some("api"));
        assert_eq!(session.resource_token(API, 1_016), None);
        assert_eq!(
            session.resource_token("https://other.example/", 1_000),
            None
        );
        assert_eq!(session.access_token, "at", "the session's own stays");
        assert_eq!(session.refresh_token.as_deref(), Some("rt2"), "rotated");
        assert_eq!(session.revision, revision + 1);
        // A provider that does not rotate: the refresh token stays, and the
        // session is another revision all the same.
        session.set_resource_token(API, tokens(20, None), 1_000);
        assert_eq!(session.refresh_token.as_deref(), Some("rt2"));
        assert_eq!(session.revision, revision + 2);
        session.set_tokens(tokens(100, None), 1_000);
        assert_eq!(session.revision, revision + 3);
        assert_eq!(session.resource_token(API, 1_000), Some("at"));
    }

    #[test]
    fn sessions_are_tagged_by_user_and_provider_session() {
        let mut session = Session::new(
            user(),
            tokens(100, None),
            Some("s1".into()),
            Duration::from_secs(10),
            0,
        );
        assert_eq!(session.tags(), ["sub:u", "sid:s1"]);
        session.sid = None;
        assert_eq!(session.tags(), ["sub:u", "sub-without-sid:u"]);
        let mut user = CivicUser::clone(&session.user);
        user.provider = Some("partner".into());
        session.user = Arc::new(user);
        assert_eq!(
            session.tags(),
            ["partner/sub:u", "partner/sub-without-sid:u"]
        );
    }
}
