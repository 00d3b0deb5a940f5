//! Step-up authentication (OpenID Connect `max_age` and `acr_values`,
//! RFC 9470): what a route asks of the login behind a request. One check
//! serves the route and the callback, so a login the callback accepts is
//! one the route accepts (no loop through the provider).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{error::Error, user::CivicUser};

/// Seconds a login may be older than a route's `max_age`: room for the
/// provider's clock running a little behind the app's (its `auth_time`
/// then looks older). Not the tokens' clock-skew leeway, which would let
/// `max_age = 5` serve a login a minute old.
pub(crate) const AUTH_TIME_LEEWAY_SECS: u64 = 5;

/// Longest `acr_values` a login request carries.
const MAX_ACR_VALUES_LEN: usize = 512;

/// A route's step-up requirement: a login at most `max_age` seconds old,
/// with one of the `acr_values`. Built by `#[civic_auth_required(max_age
/// = .., acr = ..)]`; a login in progress keeps the one it asked for.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
    /// Acceptable `acr` values, the preferred first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    acr_values: Vec<String>,
    /// The provider the login must be from, when the route names one;
    /// never part of a login in progress (which names its own).
    #[serde(skip)]
    provider: Option<String>,
}

impl StepUp {
    /// `acr_values` is a space-separated list, as in a login request.
    pub fn new(max_age: Option<u64>, acr_values: Option<&str>) -> Self {
        Self {
            provider: None,
            max_age,
            acr_values: acr_values
                .unwrap_or_default()
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// This, asking for a login at most `seconds` old.
    pub(crate) fn with_max_age(self, seconds: u64) -> Self {
        Self {
            max_age: Some(seconds),
            ..self
        }
    }

    /// This, asking for a login at one of `values` (space-separated).
    pub(crate) fn with_acr_values(self, values: &str) -> Self {
        Self {
            acr_values: Self::new(None, Some(values)).acr_values,
            ..self
        }
    }

    /// This, for users of the provider `name` only.
    pub(crate) fn with_provider(self, name: &str) -> Self {
        Self {
            provider: Some(name.to_owned()),
            ..self
        }
    }

    /// Whether it asks for a login at most `max_age` seconds old.
    pub(crate) fn asks_max_age(&self) -> bool {
        self.max_age.is_some()
    }

    /// Whether it asks nothing of how recent or strong the login is.
    pub(crate) fn is_empty(&self) -> bool {
        self.max_age.is_none() && self.acr_values.is_empty()
    }

    /// The provider the route's users must have logged in at.
    pub(crate) fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// Why the login behind `user` does not meet this at `now`; `None`
    /// when it does. `auth_time` and `acr` come only from a verified token
    /// (see [`CivicUser::update_from`]).
    pub(crate) fn unmet_by(&self, user: &CivicUser, now: u64) -> Option<String> {
        if let Some(max_age) = self.max_age {
            let Some(auth_time) = user.claims.get("auth_time").and_then(Value::as_u64) else {
                return Some(
                    "the login does not say when the user authenticated (`auth_time`)".into(),
                );
            };
            if auth_time
                .saturating_add(max_age)
                .saturating_add(AUTH_TIME_LEEWAY_SECS)
                < now
            {
                return Some(format!(
                    "the user authenticated more than {max_age} seconds ago"
                ));
            }
        }
        if !self.acr_values.is_empty() {
            let acr = user.claims.get("acr").and_then(Value::as_str);
            if !acr.is_some_and(|acr| self.acr_values.iter().any(|v| v == acr)) {
                return Some(format!(
                    "the login is not at the level required (`acr` must be {})",
                    self.acr_values.join(" or ")
                ));
            }
        }
        None
    }

    /// The parameters that ask the provider for it: for the authorization
    /// request and for `/auth/login`, which reads them back with
    /// [`Self::from_query`].
    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(max_age) = self.max_age {
            params.push(("max_age", max_age.to_string()));
        }
        if !self.acr_values.is_empty() {
            params.push(("acr_values", self.acr_values.join(" ")));
        }
        params
    }

    /// Reads `max_age` and `acr_values` from `/auth/login`'s query.
    pub(crate) fn from_query(query: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidLoginRequest(reason.into());
        let mut max_age = None;
        let mut acr_values = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "max_age" if max_age.is_some() => return Err(invalid("`max_age` is given twice")),
                "max_age" => {
                    let seconds = (value.len() <= 10)
                        .then(|| value.parse::<u64>().ok())
                        .flatten()
                        .ok_or_else(|| invalid("`max_age` must be a number of seconds"))?;
                    max_age = Some(seconds);
                }
                "acr_values" if acr_values.is_some() => {
                    return Err(invalid("`acr_values` is given twice"))
                }
                "acr_values" => {
                    let visible = value.chars().all(|c| c == ' ' || c.is_ascii_graphic());
                    if value.len() > MAX_ACR_VALUES_LEN || !visible {
                        return Err(invalid(
                            "`acr_values` must be a short space-separated list of values",
                        ));
                    }
                    acr_values = Some(value.into_owned());
                }
                _ => {}
            }
        }
        Ok(Self::new(max_age, acr_values.as_deref()))
    }

    /// The `WWW-Authenticate` challenge of an API call that needs a newer
    /// or stronger login (RFC 9470 section 3).
    pub(crate) fn challenge(&self) -> String {
        let mut challenge =
            String::from("Bearer realm=\"civic-auth\", error=\"insufficient_user_authentication\"");
        for (name, value) in self.params() {
            // The values are digits and visible ASCII without quotes.
            challenge.push_str(&format!(", {name}=\"{}\"", value.replace('"', "")));
        }
        challenge
    }

    /// What the requirement is, in words, for the API documentation.
    #[cfg_attr(not(feature = "openapi"), allow(dead_code))]
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(max_age) = self.max_age {
            parts.push(format!("a login within the last {max_age} seconds"));
        }
        if !self.acr_values.is_empty() {
            parts.push(format!("`acr` {}", self.acr_values.join(" or ")));
        }
        parts.join(", with ")
    }
}

/// Where a step-up requirement comes from: the attribute's value for the
/// route it protects, evaluated once.
#[doc(hidden)]
pub trait StepUpPolicy {
    /// The route's requirement.
    fn step_up() -> &'static StepUp;
}

/// The policy of a route without `max_age` or `acr`: nothing to check.
#[doc(hidden)]
pub struct NoStepUp;

impl StepUpPolicy for NoStepUp {
    fn step_up() -> &'static StepUp {
        static NONE: StepUp = StepUp {
            provider: None,
            max_age: None,
            acr_values: Vec::new(),
        };
        &NONE
    }
}

/// A value `max_age = ..` accepts: seconds as a `u64` or a `Duration`, or
/// a function that returns either (to read it from the environment).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`max_age` takes a number of seconds: a `u64` or a `Duration`, or a function returning one",
    label = "not seconds"
)]
pub trait MaxAge {
    /// The seconds.
    fn seconds(self) -> u64;
}

impl MaxAge for u64 {
    fn seconds(self) -> u64 {
        self
    }
}

impl MaxAge for std::time::Duration {
    fn seconds(self) -> u64 {
        self.as_secs()
    }
}

impl<F: FnOnce() -> T, T: MaxAge> MaxAge for F {
    fn seconds(self) -> u64 {
        self().seconds()
    }
}

/// A value `acr = ..` accepts: a space-separated list of `acr` values as a
/// string, or a function that returns one.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`acr` takes a string of `acr` values, or a function returning one",
    label = "not a string"
)]
pub trait AcrValues {
    /// The values.
    fn values(self) -> String;
}

impl AcrValues for &str {
    fn values(self) -> String {
        self.to_owned()
    }
}

impl AcrValues for String {
    fn values(self) -> String {
        self
    }
}

impl<F: FnOnce() -> T, T: AcrValues> AcrValues for F {
    fn values(self) -> String {
        self().values()
    }
}

/// The requirement the attribute's arguments describe; called once per route.
#[doc(hidden)]
pub fn step_up(
    max_age: Option<impl MaxAge>,
    acr: Option<impl AcrValues>,
    provider: Option<&str>,
) -> StepUp {
    let acr = acr.map(AcrValues::values);
    let step_up = StepUp::new(max_age.map(MaxAge::seconds), acr.as_deref());
    match provider {
        Some(name) => step_up.with_provider(name),
        None => step_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(claims: serde_json::Value) -> CivicUser {
        let mut claims = claims;
        claims["id"] = "u".into();
        serde_json::from_value(claims).unwrap()
    }

    #[test]
    fn a_login_must_be_recent_enough_within_the_leeway() {
        let step_up = StepUp::new(Some(300), None);
        let fresh = user(serde_json::json!({"auth_time": 1_000}));
        assert_eq!(step_up.unmet_by(&fresh, 1_000 + 300 + 5), None);
        let reason = step_up.unmet_by(&fresh, 1_000 + 301 + 5).unwrap();
        assert!(reason.contains("300 seconds"), "{reason}");
        // The tokens' 60 s clock-skew leeway is not a route's freshness.
        let brief = StepUp::new(Some(5), None);
        assert!(brief.unmet_by(&fresh, 1_000 + 65).is_some());
        assert_eq!(brief.unmet_by(&fresh, 1_000 + 10), None);
        assert!(step_up.unmet_by(&user(serde_json::json!({})), 0).is_some());
        assert!(step_up
            .unmet_by(&user(serde_json::json!({"auth_time": "1000"})), 1_000)
            .is_some());
        assert_eq!(
            StepUp::default().unmet_by(&user(serde_json::json!({})), 0),
            None
        );
    }

    #[test]
    fn a_login_must_be_at_one_of_the_levels() {
        let step_up = StepUp::new(None, Some("urn:gold  urn:silver"));
        let at = |acr: &str| user(serde_json::json!({ "acr": acr }));
        assert_eq!(step_up.unmet_by(&at("urn:silver"), 0), None);
        assert!(step_up.unmet_by(&at("urn:bronze"), 0).is_some());
        assert!(step_up.unmet_by(&at("urn:gold urn:silver"), 0).is_some());
        assert!(step_up.unmet_by(&user(serde_json::json!({})), 0).is_some());
    }

    #[test]
    fn login_parameters_round_trip_and_bad_ones_are_refused() {
        let step_up = StepUp::new(Some(60), Some("a b"));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(step_up.params())
            .append_pair("returnTo", "/x")
            .finish();
        assert_eq!(StepUp::from_query(&query).unwrap(), step_up);
        assert_eq!(StepUp::from_query("returnTo=/").unwrap(), StepUp::default());
        for bad in [
            "max_age=-1",
            "max_age=12345678901",
            "max_age=1&max_age=2",
            "acr_values=a%0Ab",
            "acr_values=a&acr_values=b",
        ] {
            assert!(
                matches!(StepUp::from_query(bad), Err(Error::InvalidLoginRequest(_))),
                "{bad}"
            );
        }
        let long = format!("acr_values={}", "a".repeat(MAX_ACR_VALUES_LEN + 1));
        assert!(StepUp::from_query(&long).is_err());
        let longest = format!("acr_values={}", "a".repeat(MAX_ACR_VALUES_LEN));
        assert!(StepUp::from_query(&longest).is_ok());
    }

    #[test]
    fn the_challenge_names_what_is_missing() {
        assert_eq!(
            StepUp::new(Some(5), Some("urn:x")).challenge(),
            "Bearer realm=\"civic-auth\", error=\"insufficient_user_authentication\", \
             max_age=\"5\", acr_values=\"urn:x\""
        );
    }

    #[test]
    fn the_requirement_is_described_in_words() {
        assert_eq!(
            StepUp::new(Some(60), None).describe(),
            "a login within the last 60 seconds"
        );
        assert_eq!(StepUp::new(None, Some("a b")).describe(), "`acr` a or b");
        assert_eq!(
            StepUp::new(Some(5), Some("a")).describe(),
            "a login within the last 5 seconds, with `acr` a"
        );
    }

    #[test]
    fn attribute_values_may_be_seconds_durations_strings_or_functions() {
        fn from_env() -> u64 {
            42
        }
        let none: Option<&str> = None;
        assert_eq!(step_up(Some(7u64), none, None), StepUp::new(Some(7), None));
        assert_eq!(
            step_up(Some(std::time::Duration::from_secs(9)), Some("a"), None),
            StepUp::new(Some(9), Some("a"))
        );
        assert_eq!(
            step_up(Some(from_env), Some(|| String::from("b")), None),
            StepUp::new(Some(42), Some("b"))
        );
        // A route's provider is no step-up of the login, and never goes
        // into a login's parameters.
        let partner = step_up(None::<u64>, none, Some("partner"));
        assert_eq!(partner.provider(), Some("partner"));
        assert!(partner.is_empty() && partner.params().is_empty());
        assert_eq!(StepUp::new(Some(1), None).provider(), None);
    }
}
