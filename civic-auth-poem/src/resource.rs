//! Resource indicators (RFC 8707): the APIs a login asks tokens for, each
//! named by its URI, with the scopes a token for it carries. The login
//! names them all (so the provider's grant covers them); each API's token
//! is then obtained with the refresh token, one API at a time.

use url::Url;

use crate::error::Error;

/// An API the app calls for the user, as its provider knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resource {
    /// The API's URI, as the provider names it (a token's audience).
    pub(crate) indicator: String,
    /// The scopes its tokens carry; a login asks for them too.
    pub(crate) scopes: Vec<String>,
}

impl Resource {
    /// Checks what the app gave: an absolute URI without a fragment
    /// (RFC 8707 2), and scopes as OAuth spells them (RFC 6749 3.3).
    pub(crate) fn new(indicator: &str, scopes: Vec<String>) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidConfig {
            field: "resource",
            value: indicator.to_owned(),
            reason,
        };
        let url = Url::parse(indicator)
            .map_err(|e| invalid(format!("a resource is an absolute URI ({e})")))?;
        if url.fragment().is_some() {
            return Err(invalid("a resource's URI has no fragment".into()));
        }
        if let Some(bad) = scopes.iter().find(|scope| !is_scope(scope)) {
            return Err(invalid(format!(
                "`{bad}` is not a scope: one word of visible characters, without `\"` or `\\`"
            )));
        }
        Ok(Self {
            indicator: indicator.to_owned(),
            scopes,
        })
    }

    /// The resources `CIVIC_RESOURCES` lists: entries separated by `;`,
    /// each a URI and then its scopes, separated by spaces
    /// (`https://api.example/ orders:read; https://files.example/`).
    /// They are checked as the builder's are.
    pub(crate) fn parse_list(list: &str) -> Vec<(String, Vec<String>)> {
        list.split(';')
            .filter(|entry| !entry.trim().is_empty())
            .map(|entry| {
                let mut words = entry.split_whitespace().map(str::to_owned);
                let indicator = words.next().unwrap_or_default();
                (indicator, words.collect())
            })
            .collect()
    }
}

/// A scope token: `%x21 / %x23-5B / %x5D-7E`, at least one.
fn is_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_an_absolute_uri_with_scopes_as_oauth_spells_them() {
        let api = Resource::new("https://api.example/", vec!["orders:read".into()]).unwrap();
        assert_eq!(api.indicator, "https://api.example/");
        assert!(Resource::new("urn:example:api", Vec::new()).is_ok());
        for bad in ["/api", "api.example", "https://api.example/#x", ""] {
            assert!(Resource::new(bad, Vec::new()).is_err(), "{bad}");
        }
        for scope in ["", "two words", "quo\"te", "back\\slash", "tab\t"] {
            let error = Resource::new("https://api.example/", vec![scope.into()]).unwrap_err();
            assert!(error.to_string().contains("is not a scope"), "{error}");
        }
    }

    #[test]
    fn the_environment_lists_resources_with_their_scopes() {
        let listed = Resource::parse_list(" https://a.example/ read  write; https://b.example/ ;;");
        assert_eq!(
            listed,
            [
                (
                    "https://a.example/".to_owned(),
                    vec!["read".to_owned(), "write".to_owned()]
                ),
                ("https://b.example/".to_owned(), vec![]),
            ]
        );
        assert!(Resource::parse_list("").is_empty());
    }
}
