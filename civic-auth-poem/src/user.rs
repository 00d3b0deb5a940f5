//! `CivicUser`: the logged-in user, built from verified claims.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// The logged-in user, from the verified ID token and the provider's userinfo.
///
/// Take it as a handler parameter: in a `#[civic_auth_required]` handler it is
/// always there; elsewhere take `Option<CivicUser>`.
///
/// ```
/// use civic_auth_poem::{civic_auth_required, CivicUser};
/// use poem::{handler, web::Json};
///
/// #[civic_auth_required]
/// #[handler]
/// async fn profile(user: CivicUser) -> Json<serde_json::Value> {
///     Json(serde_json::json!({ "id": user.id, "email": user.email }))
/// }
///
/// #[handler]
/// async fn greeting(user: Option<CivicUser>) -> String {
///     match user.and_then(|u| u.name) {
///         Some(name) => format!("Hello, {name}!"),
///         None => "Hello, stranger!".into(),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CivicUser {
    /// The user's stable id at the provider (the `sub` claim).
    pub id: String,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A URL of the user's picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// The user's given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// The user's family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// The user's preferred username (`preferred_username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// When the profile last changed, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// The name of the provider the user logged in at (`civic` unless the
    /// app names its providers: [`CivicAuthConfig::with_provider`](crate::CivicAuthConfig::with_provider)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Every other claim the provider sent, such as `email_verified`.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

/// Claims about the token itself, not the user: kept out of `CivicUser`.
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp", "jti", "sid",
];

/// Claims about how the user logged in, which step-up requirements check:
/// they count only from a verified token, never from userinfo.
const AUTHENTICATION_CLAIMS: &[&str] = &["auth_time", "acr", "amr"];

impl CivicUser {
    /// A user with only an id: for tests ([`crate::testing`] with the
    /// `testing` feature) and for filling in the rest by field.
    ///
    /// ```
    /// let ada = civic_auth_poem::CivicUser { email: Some("ada@example.com".into()), ..civic_auth_poem::CivicUser::new("user-1") };
    /// assert_eq!(ada.id, "user-1");
    /// ```
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            email: None,
            name: None,
            picture: None,
            given_name: None,
            family_name: None,
            username: None,
            updated_at: None,
            provider: None,
            claims: Map::new(),
        }
    }

    /// Builds the user from a userinfo answer, without the claims about
    /// how the user logged in (an unsigned answer cannot vouch for them).
    pub(crate) fn from_userinfo(claims: Map<String, Value>) -> Result<Self, Error> {
        let mut user = Self::from_claims(claims)?;
        for claim in AUTHENTICATION_CLAIMS {
            user.claims.remove(*claim);
        }
        Ok(user)
    }

    /// Builds the user from verified claims; `sub` must be present.
    pub(crate) fn from_claims(mut claims: Map<String, Value>) -> Result<Self, Error> {
        let mut text = |name: &str| match claims.remove(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let id = text("sub")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::InvalidIdToken("it has no `sub` claim".into()))?;
        let email = text("email");
        let name = text("name");
        let picture = text("picture");
        let given_name = text("given_name");
        let family_name = text("family_name");
        let username = text("preferred_username");
        let updated_at = claims.remove("updated_at").and_then(|v| v.as_i64());
        // Claims named like a field of ours would appear twice when serialised.
        for claim in PROTOCOL_CLAIMS
            .iter()
            .chain(&["id", "username", "provider"])
        {
            claims.remove(*claim);
        }
        Ok(Self {
            id,
            email,
            name,
            picture,
            given_name,
            family_name,
            username,
            updated_at,
            provider: None,
            claims,
        })
    }

    /// The user as the claims [`Self::from_claims`] reads: its fields under
    /// their claim names (`sub`, `preferred_username`), the rest as they are.
    #[cfg(feature = "testing")]
    pub(crate) fn to_claims(&self) -> Map<String, Value> {
        let mut claims = match serde_json::to_value(self) {
            Ok(Value::Object(claims)) => claims,
            _ => Map::new(),
        };
        claims.remove("id");
        claims.remove("provider");
        if let Some(username) = claims.remove("username") {
            claims.insert("preferred_username".into(), username);
        }
        claims.insert("sub".into(), Value::String(self.id.clone()));
        claims
    }

    /// Whether the profile lacks what userinfo would add.
    pub(crate) fn lacks_profile(&self) -> bool {
        self.email.is_none() || self.name.is_none() || self.picture.is_none()
    }

    /// Takes `other`'s profile (the same user, from userinfo, which is
    /// current where the ID token is a snapshot); what it leaves out stays.
    /// Other claims only fill gaps: the signed ID token's, which claims
    /// requirements check, are not overridden by an unsigned answer.
    pub(crate) fn update_from(&mut self, other: CivicUser) {
        let take = |mine: &mut Option<String>, theirs: Option<String>| {
            if theirs.is_some() {
                *mine = theirs;
            }
        };
        take(&mut self.email, other.email);
        take(&mut self.name, other.name);
        take(&mut self.picture, other.picture);
        take(&mut self.given_name, other.given_name);
        take(&mut self.family_name, other.family_name);
        take(&mut self.username, other.username);
        self.updated_at = other.updated_at.or(self.updated_at);
        for (claim, value) in other.claims {
            self.claims.entry(claim).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_claims_become_fields_and_protocol_claims_are_dropped() {
        let claims = json!({
            "sub": "u1", "email": "a@example.com", "preferred_username": "ada",
            "updated_at": 1700000000, "email_verified": true, "nonce": "n", "aud": "c"
        });
        let user = CivicUser::from_claims(claims.as_object().unwrap().clone()).unwrap();
        assert_eq!(user.id, "u1");
        assert_eq!(user.username.as_deref(), Some("ada"));
        assert_eq!(user.updated_at, Some(1_700_000_000));
        assert_eq!(user.claims.get("email_verified"), Some(&json!(true)));
        assert!(!user.claims.contains_key("nonce") && !user.claims.contains_key("aud"));
    }

    #[test]
    fn claims_named_like_fields_do_not_shadow_them() {
        let claims =
            json!({"sub": "u1", "id": "other", "username": "x", "preferred_username": "ada"});
        let user = CivicUser::from_claims(claims.as_object().unwrap().clone()).unwrap();
        let round_trip: CivicUser =
            serde_json::from_str(&serde_json::to_string(&user).unwrap()).unwrap();
        assert_eq!(round_trip.id, "u1");
        assert_eq!(round_trip.username.as_deref(), Some("ada"));
    }

    #[test]
    fn userinfo_cannot_say_how_the_user_logged_in() {
        let claims = json!({"sub": "u1", "auth_time": 2_000_000_000u64, "acr": "gold", "amr": ["pwd"], "x": 1});
        let user = CivicUser::from_userinfo(claims.as_object().unwrap().clone()).unwrap();
        assert_eq!(user.claims.keys().collect::<Vec<_>>(), ["x"]);
        let mut signed =
            CivicUser::from_claims(json!({"sub": "u1"}).as_object().unwrap().clone()).unwrap();
        signed.update_from(user);
        assert_eq!(signed.claim("auth_time"), None);
    }

    #[cfg(feature = "testing")]
    #[test]
    fn a_user_round_trips_through_its_claims() {
        let claims = json!({"sub": "u1", "email": "a@example.com", "preferred_username": "ada", "updated_at": 1, "x": [1]});
        let user = CivicUser::from_claims(claims.as_object().unwrap().clone()).unwrap();
        assert_eq!(CivicUser::from_claims(user.to_claims()).unwrap(), user);
        assert_eq!(user.to_claims(), *claims.as_object().unwrap());
    }

    #[test]
    fn a_user_needs_a_subject() {
        assert!(CivicUser::from_claims(Map::new()).is_err());
    }
}
