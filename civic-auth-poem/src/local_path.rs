//! `LocalPath`: a path of this app, the only kind of place a login or a
//! protected page may send the browser to afterwards.

use serde::{Deserialize, Serialize};

/// Longer `returnTo` values are refused; real paths are far shorter.
const MAX_LEN: usize = 2048;

/// A path of this app: a single leading `/`, no scheme, no host, no
/// backslash (which browsers read as `/`), no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct LocalPath(String);

impl LocalPath {
    pub(crate) fn parse(path: &str) -> Option<Self> {
        let bytes = path.as_bytes();
        let local = path.len() <= MAX_LEN
            && bytes.first() == Some(&b'/')
            && bytes.get(1) != Some(&b'/')
            && !bytes.iter().any(|&b| b == b'\\' || b.is_ascii_control());
        local.then(|| Self(path.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// As the app's base path: whether `path` (a path, maybe with a query)
    /// lies in it.
    pub(crate) fn contains(&self, path: &str) -> bool {
        let base = self.as_str();
        base == "/"
            || path
                .strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
    }

    /// As the app's base path: `path` (from its root) below it.
    pub(crate) fn join(&self, path: &str) -> String {
        match self.as_str() {
            "/" => path.to_owned(),
            base => format!("{base}{path}"),
        }
    }
}

/// Whether `path` is spelled plainly: nothing a server or a browser could
/// read differently (no encoding, backslash, empty or dot segment, trailing
/// slash).
pub(crate) fn is_plain(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && !path.contains(['%', '\\'])
            && path[1..]
                .split('/')
                .all(|segment| !matches!(segment, "" | "." | "..")))
}

impl TryFrom<String> for LocalPath {
    type Error = &'static str;

    fn try_from(path: String) -> Result<Self, Self::Error> {
        Self::parse(&path).ok_or("not a path of this app")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_accepted() {
        for ok in ["/", "/admin/profile", "/a?b=c#d", "/%2F%2Fevil"] {
            assert!(LocalPath::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\tx",
            "/a\nb",
            "\\\\evil",
        ] {
            assert!(LocalPath::parse(bad).is_none(), "{bad:?}");
        }
        assert!(LocalPath::parse(&format!("/{}", "a".repeat(3000))).is_none());
    }

    #[test]
    fn a_base_path_holds_its_own_paths_only() {
        let app = LocalPath::parse("/app").unwrap();
        for inside in ["/app", "/app/", "/app/x", "/app?x=1", "/app/x/y?z"] {
            assert!(app.contains(inside), "{inside}");
        }
        for outside in ["/", "/application", "/ap", "/other/app", "/appx/y"] {
            assert!(!app.contains(outside), "{outside}");
        }
        let root = LocalPath::parse("/").unwrap();
        assert!(root.contains("/anything"));
        assert_eq!(app.join("/auth/login"), "/app/auth/login");
        assert_eq!(root.join("/auth/login"), "/auth/login");
    }

    #[test]
    fn a_stored_path_is_checked_again_when_read() {
        assert!(serde_json::from_str::<LocalPath>("\"//evil.example\"").is_err());
        assert!(serde_json::from_str::<LocalPath>("\"/ok\"").is_ok());
    }
}
