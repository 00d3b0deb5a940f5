//! `CivicAuthGuard`: `#[civic_auth_required]` for whole route trees (static
//! files, nested routes, handlers of other crates), chosen by path
//! patterns that are matched against the path as any spelling of it
//! normalises.

use std::time::Duration;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::Value;

use super::{
    extract::{scope, Authenticated},
    middleware::RequestAuth,
};
use crate::{
    claims::{self, Requirement},
    local_path::is_plain,
    step_up::{NoStepUp, StepUp},
    user::CivicUser,
};

/// Protects every route of the endpoint it wraps as
/// [`#[civic_auth_required]`](crate::civic_auth_required) protects a
/// handler: without a session a page navigation goes to login and an API
/// call gets 401; step-up (`max_age`, `acr`), `provider` and claim
/// requirements answer as the attribute's do; the handlers may call
/// [`get_civic_user()`](crate::get_civic_user). Mount it inside
/// `.with(auth)`.
///
/// Wrap a tree, or the whole app with `include`/`exclude` patterns (the
/// full path as the browser sends it: `/reports` exactly, or `/reports/*`
/// for it and everything below). A path is matched as any of its
/// spellings normalises (`//`, `/./`, `/../`, percent-encoded characters
/// and slashes, a trailing slash, letter case) and as a route's parameter
/// would take it (dots kept), so no spelling of a guarded path gets past.
/// An exclusion applies only to a path spelled plainly, exactly as the
/// exclusion is written, and an excluded tree (`/reports/public/*`) is the
/// paths below its root, not the root itself (`/reports/:name` would take
/// `/reports/public`).
///
/// ```
/// use civic_auth_poem::{CivicAuth, CivicAuthConfig, CivicAuthGuard, SessionSecret};
/// use poem::{endpoint::StaticFilesEndpoint, get, handler, EndpointExt, Route};
///
/// #[handler]
/// fn summary() -> &'static str { "the quarter's numbers" }
///
/// # let config = CivicAuthConfig::builder().client_id("id")
/// #     .redirect_url("http://localhost:5000/auth/callback")
/// #     .post_logout_redirect_url("http://localhost:5000/").build()?;
/// let auth = CivicAuth::new(config, SessionSecret::generate());
/// let app = Route::new()
///     // Every file below /files needs a login.
///     .nest("/files", StaticFilesEndpoint::new("./files").with(CivicAuthGuard::new()))
///     .at("/reports/summary", get(summary))
///     .at("/reports/public/about", get(summary))
///     // The /reports tree but its public part, however a path is spelled.
///     .with(CivicAuthGuard::new().include("/reports/*").exclude("/reports/public/*"))
///     .with(auth);
/// # Ok::<(), civic_auth_poem::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct CivicAuthGuard {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    step_up: StepUp,
    requirements: Vec<Requirement>,
}

impl CivicAuthGuard {
    /// A guard of every path it sees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Guards `pattern` (and, once one is given, only what the patterns
    /// name): a path such as `/reports/summary`, or one ending in `/*` for
    /// a tree, itself included.
    ///
    /// # Panics
    ///
    /// When `pattern` does not start with `/`, or has a `*` elsewhere than
    /// as its last segment: as a route's path that poem cannot take, at
    /// start-up.
    pub fn include(mut self, pattern: &str) -> Self {
        self.include.push(Pattern::new(pattern));
        self
    }

    /// Leaves `pattern` unguarded though an inclusion names it (as
    /// [`include`](Self::include) reads it).
    ///
    /// # Panics
    ///
    /// As [`include`](Self::include).
    pub fn exclude(mut self, pattern: &str) -> Self {
        self.exclude.push(Pattern::new(pattern));
        self
    }

    /// Asks for a login at most `max_age` old, as the attribute's `max_age`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.step_up = self.step_up.with_max_age(max_age.as_secs());
        self
    }

    /// Asks for a login at one of the `acr` levels (space-separated), as
    /// the attribute's `acr`.
    pub fn acr(mut self, values: &str) -> Self {
        self.step_up = self.step_up.with_acr_values(values);
        self
    }

    /// Serves only users of the provider named `name`, as the attribute's
    /// `provider`.
    pub fn provider(mut self, name: &str) -> Self {
        self.step_up = self.step_up.with_provider(name);
        self
    }

    /// Requires the `claim` to equal `value` (else 403), as the
    /// attribute's `equals`.
    pub fn equals(self, claim: &'static str, value: impl Into<Value>) -> Self {
        self.require(claims::equals(claim, value))
    }

    /// Requires the `claim` to be a list that includes `value` (else 403),
    /// as the attribute's `includes`.
    pub fn includes(self, claim: &'static str, value: impl Into<Value>) -> Self {
        self.require(claims::includes(claim, value))
    }

    /// Requires `predicate` to hold for the user (else 403 naming it), as
    /// the attribute's `check`.
    pub fn check(self, name: &'static str, predicate: fn(&CivicUser) -> bool) -> Self {
        self.require(claims::check(name, predicate))
    }

    fn require(mut self, requirement: Requirement) -> Self {
        self.requirements.push(requirement);
        self
    }

    /// Whether a request for `path` (as sent) is guarded: when any reading
    /// of it is included (dots applied, or left as segments, as poem's
    /// router leaves them for a `:param` to take).
    fn guards(&self, path: &str) -> bool {
        let included = self.include.is_empty()
            || readings(path)
                .iter()
                .any(|reading| self.include.iter().any(|p| p.matches(reading)));
        included && !(is_plain(path) && self.exclude.iter().any(|p| p.excludes(path)))
    }
}

impl<E: Endpoint> Middleware<E> for CivicAuthGuard {
    type Output = GuardedEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        GuardedEndpoint {
            guard: self.clone(),
            ep,
        }
    }
}

/// An endpoint [`CivicAuthGuard`] guards.
pub struct GuardedEndpoint<E> {
    guard: CivicAuthGuard,
    ep: E,
}

impl<E: Endpoint> Endpoint for GuardedEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if !self.guard.guards(req.original_uri().path()) {
            return self.ep.call(req).await.map(IntoResponse::into_response);
        }
        let user = RequestAuth::user(&req, &self.guard.step_up).await?;
        claims::authorize(&user, &self.guard.requirements)?;
        let user = Authenticated::<NoStepUp>::new(user);
        scope(user, self.ep.call(req))
            .await
            .map(IntoResponse::into_response)
    }
}

/// A guard's path pattern, normalised as paths are.
#[derive(Clone)]
struct Pattern {
    /// The path, or the tree's root, in lower case.
    normal: String,
    /// As written, for exclusions.
    written: String,
    tree: bool,
}

impl Pattern {
    fn new(pattern: &str) -> Self {
        let (path, tree) = match pattern.strip_suffix("/*") {
            Some(root) => (root, true),
            None => (pattern, false),
        };
        assert!(
            pattern.starts_with('/') && !path.contains('*'),
            "`{pattern}` is not a guard's path pattern: one starts with `/`, and may end in `/*` for a tree"
        );
        Self {
            normal: readings(path)[0].clone(),
            written: path.to_owned(),
            tree,
        }
    }

    /// Whether a reading of a path (in lower case) is this pattern's.
    fn matches(&self, reading: &str) -> bool {
        reading == self.normal || (self.tree && below(reading, &self.normal))
    }

    /// Whether the plainly spelled `path` is excluded by this pattern as
    /// written: a tree's paths below its root, not the root itself (which a
    /// router may hand a parameter of a guarded route: `/reports/:name`
    /// takes `/reports/public`).
    fn excludes(&self, path: &str) -> bool {
        match self.tree {
            true => below(path, &self.written),
            false => path == self.written,
        }
    }
}

/// Whether `path` lies below the tree at `root`.
fn below(path: &str, root: &str) -> bool {
    root == "/"
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The two readings of `path` a server could take, in lower case:
/// percent-decoded (slashes too), backslashes as slashes, without empty or
/// `.` segments; then `..` applied (as a file system or a proxy would), and
/// `..` kept as a segment (as a route's `:param` takes it).
fn readings(path: &str) -> [String; 2] {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let decoded = decoded.replace('\\', "/");
    let (mut applied, mut kept) = (Vec::new(), Vec::new());
    for segment in decoded.split('/').filter(|s| !matches!(*s, "" | ".")) {
        kept.push(segment);
        if segment == ".." {
            applied.pop();
        } else {
            applied.push(segment);
        }
    }
    [applied, kept].map(|segments| format!("/{}", segments.join("/")).to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_guarded_path_is_guarded() {
        let guard = CivicAuthGuard::new()
            .include("/reports/*")
            .exclude("/reports/public/*");
        for path in [
            "/reports",
            "/reports/",
            "/reports/q3",
            "/reports/q3/",
            "//reports/q3",
            "/./reports/q3",
            "/x/../reports/q3",
            "/reports%2Fq3",
            "/%72eports/q3",
            "/REPORTS/q3",
            "/Reports/Q3",
            "\\reports\\q3",
            "/reports/public/../q3",
            "/reports/public/%2e%2e/q3",
            // Exclusions apply to plain spellings only.
            "/reports/PUBLIC/about",
            "/reports//public/about",
            "/reports/public%2Fabout",
            "/reports/public/about/",
            // Dots a route's parameter would take.
            "/reports/..",
            "/reports/%2e%2e",
            "/reports/x%2F..%2F..%2Fy",
            "/reports/public/..",
            // An excluded tree's root: a parameter of the guarded tree.
            "/reports/public",
        ] {
            assert!(guard.guards(path), "{path}");
        }
        for path in [
            "/",
            "/reportsx",
            "/report",
            "/other/reports/q3",
            "/reports/public/about",
            "/reports/public/a/b",
        ] {
            assert!(!guard.guards(path), "{path}");
        }
        let everything = CivicAuthGuard::new();
        assert!(everything.guards("/") && everything.guards("/anything"));
        let exact = CivicAuthGuard::new().include("/admin");
        assert!(exact.guards("/admin") && exact.guards("/ADMIN/") && !exact.guards("/admin/x"));
        // An exclusion as written, letter case included.
        let mixed = CivicAuthGuard::new().include("/*").exclude("/Docs/*");
        assert!(!mixed.guards("/Docs/a") && mixed.guards("/docs/a"));
        let root = CivicAuthGuard::new().include("/*").exclude("/public");
        assert!(root.guards("/x") && !root.guards("/public") && root.guards("/public/x"));
        assert!(root.guards("/Public") && root.guards("/public/") && root.guards("//public"));
    }

    #[test]
    fn requirements_keep_the_guards_paths() {
        let guard = CivicAuthGuard::new()
            .include("/board/*")
            .acr("urn:gold urn:silver")
            .includes("groups", "board")
            .check("is_ada", |user| user.id == "ada")
            .equals("email_verified", true);
        assert!(guard.guards("/board/x") && !guard.guards("/other"));
        assert_eq!(guard.requirements.len(), 3);
        assert!(!guard.step_up.is_empty());
        let challenge = guard.step_up.challenge();
        assert!(challenge.contains("urn:gold urn:silver"), "{challenge}");
    }

    #[test]
    #[should_panic(expected = "is not a guard's path pattern")]
    fn a_pattern_names_a_path() {
        let _ = CivicAuthGuard::new().include("reports/*");
    }

    #[test]
    #[should_panic(expected = "is not a guard's path pattern")]
    fn a_pattern_has_a_star_only_at_its_end() {
        let _ = CivicAuthGuard::new().include("/reports/*/q3");
    }
}
