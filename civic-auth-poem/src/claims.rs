//! Authorization on claims: what `#[civic_auth_required(equals(..),
//! includes(..), check(..))]` requires of a logged-in user.

use serde_json::Value;

use crate::{error::Error, user::CivicUser};

/// One requirement on the user's claims; built by the attribute's expansion.
#[doc(hidden)]
#[derive(Clone)]
pub enum Requirement {
    /// The claim equals the value.
    Equals(&'static str, Value),
    /// The claim is a list that includes the value.
    Includes(&'static str, Value),
    /// The app's own predicate, by name.
    Check(&'static str, fn(&CivicUser) -> bool),
}

#[doc(hidden)]
pub fn equals(claim: &'static str, value: impl Into<Value>) -> Requirement {
    Requirement::Equals(claim, value.into())
}

#[doc(hidden)]
pub fn includes(claim: &'static str, value: impl Into<Value>) -> Requirement {
    Requirement::Includes(claim, value.into())
}

#[doc(hidden)]
pub fn check(name: &'static str, predicate: fn(&CivicUser) -> bool) -> Requirement {
    Requirement::Check(name, predicate)
}

/// `Ok` when `user` meets every requirement; else 403 naming the first unmet one.
#[doc(hidden)]
pub fn authorize(user: &CivicUser, requirements: &[Requirement]) -> Result<(), Error> {
    for requirement in requirements {
        let (met, why) = match requirement {
            Requirement::Equals(claim, value) => (
                user.claim(claim).as_ref() == Some(value),
                format!("the `{claim}` claim must be {value}"),
            ),
            Requirement::Includes(claim, value) => (
                user.claim(claim)
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.contains(value)),
                format!("the `{claim}` claim must include {value}"),
            ),
            Requirement::Check(name, predicate) => {
                (predicate(user), format!("the user does not pass `{name}`"))
            }
        };
        if !met {
            return Err(Error::Forbidden(why));
        }
    }
    Ok(())
}

impl CivicUser {
    /// A claim by its OpenID Connect name (`sub`, `email`,
    /// `preferred_username`, `groups`, ...), whether it has a field here or not.
    ///
    /// ```
    /// # let user: civic_auth_poem::CivicUser = serde_json::from_value(serde_json::json!({
    /// #     "id": "u1", "username": "ada", "email_verified": true })).unwrap();
    /// assert_eq!(user.claim("sub"), Some("u1".into()));
    /// assert_eq!(user.claim("preferred_username"), Some("ada".into()));
    /// assert_eq!(user.claim("email_verified"), Some(true.into()));
    /// assert_eq!(user.claim("email"), None);
    /// ```
    pub fn claim(&self, name: &str) -> Option<Value> {
        let text = |v: &Option<String>| v.clone().map(Value::String);
        match name {
            "sub" => Some(Value::String(self.id.clone())),
            "email" => text(&self.email),
            "name" => text(&self.name),
            "picture" => text(&self.picture),
            "given_name" => text(&self.given_name),
            "family_name" => text(&self.family_name),
            "preferred_username" => text(&self.username),
            "updated_at" => self.updated_at.map(Value::from),
            other => self.claims.get(other).cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> CivicUser {
        serde_json::from_value(json!({
            "id": "u1", "email": "a@example.com", "groups": ["staff"], "email_verified": true
        }))
        .unwrap()
    }

    #[test]
    fn requirements_are_met_or_named() {
        let u = user();
        assert!(authorize(
            &u,
            &[equals("email_verified", true), includes("groups", "staff")]
        )
        .is_ok());
        let err = authorize(&u, &[includes("groups", "admins")]).unwrap_err();
        assert!(matches!(err, Error::Forbidden(ref why) if why.contains("groups")));
        assert!(authorize(&u, &[equals("email", "b@example.com")]).is_err());
        assert!(
            authorize(&u, &[includes("email", "a")]).is_err(),
            "not a list"
        );
        assert!(authorize(&u, &[check("never", |_| false)]).is_err());
        assert!(authorize(&u, &[check("staff", |u| u.claim("groups").is_some())]).is_ok());
    }

    #[test]
    fn claims_are_read_by_their_openid_connect_names() {
        let user: CivicUser = serde_json::from_value(json!({
            "id": "u1", "email": "e", "name": "n", "picture": "p", "given_name": "g",
            "family_name": "f", "username": "un", "updated_at": 7, "groups": ["x"]
        }))
        .unwrap();
        for (claim, value) in [
            ("sub", json!("u1")),
            ("email", json!("e")),
            ("name", json!("n")),
            ("picture", json!("p")),
            ("given_name", json!("g")),
            ("family_name", json!("f")),
            ("preferred_username", json!("un")),
            ("updated_at", json!(7)),
            ("groups", json!(["x"])),
        ] {
            assert_eq!(user.claim(claim), Some(value), "{claim}");
        }
        assert_eq!(user.claim("missing"), None);
    }
}
