//! The harness the end-to-end tests share: the real `oidc-provider` (started
//! from `tests/provider/provider.mjs` on a free 127.0.0.1 port), the
//! quickstart example as a process or any app in-process, and a
//! cookie-keeping HTTP client that fills the provider's login and consent
//! forms the way a person would.

pub mod app;
pub mod fake_provider;
pub mod flaky_store;
pub mod lemonldap;
pub mod redis;

pub use redis::{ClientCerts, Redis, RedisCluster, RedisTls};

use std::{
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use poem::{
    listener::{Acceptor, Listener, TcpListener},
    Endpoint, Server,
};
use reqwest::{cookie::CookieStore, header, Method, StatusCode};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
};
use url::Url;

/// The repository root, where `package.json` and the fixtures live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The client id the tests register at the provider.
pub const CLIENT_ID: &str = "civic-test-app";
/// Another app registered at the same provider (redirect `<app>/other/callback`).
pub const OTHER_CLIENT_ID: &str = "other-app";

/// A running `oidc-provider`; stopped when dropped.
pub struct Provider {
    pub issuer: String,
    pub port: u16,
    clients: Value,
    env: Vec<(String, String)>,
    child: Child,
    _stdin: ChildStdin,
}

impl Provider {
    /// Starts the provider with one public client for the app at `app_base`.
    pub async fn start(app_base: &str) -> Self {
        Self::start_with(app_base, &[]).await
    }

    /// Like [`Self::start`], with extra environment (token lifetimes).
    pub async fn start_with(app_base: &str, env: &[(&str, &str)]) -> Self {
        Self::start_for(&[app_base], env).await
    }

    /// One client for the app served at every one of `app_bases` (several
    /// instances of one app); back-channel logout goes to the first.
    pub async fn start_for(app_bases: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_registered(app_bases, json!({}), env).await
    }

    /// Like [`Self::start_for`], with the app's client registered with the
    /// metadata in `registration` besides (its authentication method and
    /// secret or keys, its ID token algorithm).
    pub async fn start_registered(
        app_bases: &[&str],
        registration: Value,
        env: &[(&str, &str)],
    ) -> Self {
        let per_base = |f: &dyn Fn(&str) -> Vec<String>| -> Vec<String> {
            app_bases.iter().flat_map(|base| f(base)).collect()
        };
        // A second app at the same provider, whose tokens must not work here.
        let other = json!({
            "client_id": OTHER_CLIENT_ID,
            "redirect_uris": per_base(&|b| vec![format!("{b}/other/callback")]),
        });
        let mut client = json!({
            "client_id": CLIENT_ID,
            // Besides the callback, Swagger UI's OAuth2 redirect page in the API example.
            "redirect_uris": per_base(&|b| vec![format!("{b}/auth/callback"), format!("{b}/docs/oauth-receiver.html")]),
            // The app's landing page, and the logout callback for apps that return there.
            "post_logout_redirect_uris": per_base(&|b| vec![format!("{b}/"), format!("{b}/auth/logoutcallback")]),
            "backchannel_logout_uri": format!("{}/auth/backchannel-logout", app_bases[0]),
        });
        for (name, value) in registration.as_object().expect("registration metadata") {
            client[name] = value.clone();
        }
        Self::spawn(json!([other, client]), env, None).await
    }

    async fn spawn(clients: Value, env: &[(&str, &str)], port: Option<u16>) -> Self {
        let owned_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut command = Command::new("node");
        command
            .arg(repo_root().join("tests/provider/provider.mjs"))
            .env("PROVIDER_CLIENTS", clients.to_string())
            .env("PROVIDER_PORT", port.unwrap_or(0).to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .expect("node runs tests/provider/provider.mjs (run `npm ci` first)");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the provider starts within 20 s")
        .expect("the provider prints its address");
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("provider handshake {line:?}: {e}"));
        Self {
            issuer: ready["issuer"].as_str().expect("issuer").to_owned(),
            port: ready["port"].as_u64().expect("port") as u16,
            clients,
            env: owned_env,
            child,
            _stdin: stdin,
        }
    }

    /// The value apps put in `oauth_server`: the issuer without its trailing
    /// slash, as apps configure Civic's `https://auth.civic.com/oauth`.
    pub fn oauth_server(&self) -> String {
        self.issuer.trim_end_matches('/').to_owned()
    }

    /// How often each provider route was called since start or reset.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("http://127.0.0.1:{}/__stats", self.port))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// Moves the provider's clock forward by `by` (whole seconds), as a
    /// test moves the app's `ManualClock` with it.
    pub async fn advance_clock(&self, by: Duration) {
        let url = format!(
            "http://127.0.0.1:{}/__clock?advance={}",
            self.port,
            by.as_secs()
        );
        let answer = reqwest::Client::new()
            .post(url)
            .send()
            .await
            .expect("clock");
        assert!(
            answer.status().is_success(),
            "the provider's clock did not move"
        );
    }

    /// The refresh token the provider issued last (as a thief would have it).
    pub async fn last_refresh_token(&self) -> String {
        let url = format!("http://127.0.0.1:{}/__last_refresh_token", self.port);
        let answer: Value = reqwest::get(url)
            .await
            .expect("token")
            .json()
            .await
            .expect("JSON");
        answer["refresh_token"]
            .as_str()
            .expect("a refresh token was issued")
            .to_owned()
    }

    pub async fn count(&self, route: &str) -> u64 {
        self.stats().await[route].as_u64().unwrap_or(0)
    }

    /// Stops the provider, as an outage would.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts it again on the same port, after [`Self::stop`]. Its signing
    /// keys are new, as after a key rotation.
    pub async fn restart(&mut self) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        *self = Self::spawn(self.clients.clone(), &env, Some(self.port)).await;
    }
}

/// A free port on 127.0.0.1, for an app whose address must be known before
/// the provider registers its redirect URI.
///
/// The system may hand a port it just freed to the next asker, and tests
/// run side by side: a port is handed out once per test binary, so two
/// tests never bind the same one (an app that could not bind would leave
/// its port to another test's app, which would then answer in its place).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// An app served in this process on 127.0.0.1.
pub struct AppServer {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl AppServer {
    /// Binds a free port; the app is built once the address is known.
    pub async fn bind() -> (poem::listener::TcpAcceptor, String) {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind");
        let addr = acceptor.local_addr()[0]
            .as_socket_addr()
            .copied()
            .expect("tcp address");
        (acceptor, format!("http://127.0.0.1:{}", addr.port()))
    }

    pub fn serve(
        acceptor: poem::listener::TcpAcceptor,
        base: String,
        app: impl Endpoint + 'static,
    ) -> Self {
        let task = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self { base, task }
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An example app (`examples/<name>.rs`, built by `cargo test`) run as a
/// process, configured only by its environment like a user would.
pub struct Example {
    pub base: String,
    _child: Child,
}

/// The quickstart: `examples/quickstart.rs`.
pub type Quickstart = Example;

impl Example {
    /// The built binary; refuses one older than its source, which a filtered
    /// `cargo test --test x` does not rebuild.
    pub fn binary(name: &str) -> PathBuf {
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps");
        let binary = profile_dir.join("examples").join(name);
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let sources = ["civic-auth-poem/src", "civic-auth-macros/src"]
            .iter()
            .flat_map(|dir| walk(&repo_root().join(dir)))
            .chain([repo_root().join(format!("examples/{name}.rs"))]);
        let newest_source = sources.filter_map(|p| modified(&p)).max();
        match (modified(&binary), newest_source) {
            (Some(built), Some(source)) if built >= source => binary,
            _ => panic!("{} is missing or stale: run `cargo build --example {name}` (plain `cargo test` does)", binary.display()),
        }
    }

    /// Starts the quickstart on `port`.
    pub async fn start(port: u16, provider: &Provider) -> Self {
        Self::start_named("quickstart", port, provider).await
    }

    /// Starts `examples/<name>.rs` on `port` against `provider`.
    pub async fn start_named(name: &str, port: u16, provider: &Provider) -> Self {
        Self::start_with_env(name, port, provider, &[]).await
    }

    /// Like [`Self::start_named`], with extra environment.
    pub async fn start_with_env(
        name: &str,
        port: u16,
        provider: &Provider,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_at(name, &format!("http://127.0.0.1:{port}"), provider, env).await
    }

    /// Like [`Self::start_with_env`], the app's URLs at `base` (it listens
    /// on 127.0.0.1 at `base`'s port): `http://localhost:<port>` makes it
    /// another site than the provider at 127.0.0.1, as in a deployment.
    /// `env` wins over what this sets (an app behind [`TlsProxy`] gives its
    /// https URLs there).
    pub async fn start_at(
        name: &str,
        base: &str,
        provider: &Provider,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_against(name, base, &provider.oauth_server(), env).await
    }

    /// Like [`Self::start_at`], against the provider at `oauth_server`.
    pub async fn start_against(
        name: &str,
        base: &str,
        oauth_server: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let base = base.to_owned();
        let port = Url::parse(&base)
            .ok()
            .and_then(|url| url.port())
            .expect("a base URL with a port");
        let mut child = Command::new(Self::binary(name))
            .env("CIVIC_CLIENT_ID", CLIENT_ID)
            .env("CIVIC_REDIRECT_URL", format!("{base}/auth/callback"))
            .env("CIVIC_POST_LOGOUT_REDIRECT_URL", format!("{base}/"))
            .env("CIVIC_OAUTH_SERVER", oauth_server)
            .env(
                "CIVIC_SESSION_SECRET",
                "example test secret, 32 bytes or more",
            )
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the example binary starts");
        wait_until_up(&base).await;
        // What answered is this example, not another test's app on a port
        // it could not take.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("examples/{name}.rs exited ({exit}) while something else answered at {base}");
        }
        Self {
            base,
            _child: child,
        }
    }
}

/// An https front (`tests/browser/tls_proxy.mjs`) for an app on 127.0.0.1,
/// with a certificate for `localhost` made by `openssl` for this test; as a
/// TLS-terminating load balancer in a deployment. Stopped when dropped.
pub struct TlsProxy {
    /// `https://localhost:<port>`.
    pub base: String,
    _child: Child,
    _stdin: ChildStdin,
    _dir: TempDir,
}

impl TlsProxy {
    /// Listens on `port`, passing every request to `target_port`.
    pub async fn start(port: u16, target_port: u16) -> Self {
        let dir = TempDir::new("tls-proxy");
        let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .expect("openssl runs");
        assert!(made.success(), "openssl made no certificate");
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/browser/tls_proxy.mjs"))
            .arg(port.to_string())
            .arg(&cert)
            .arg(&key)
            .arg(target_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/browser/tls_proxy.mjs");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line),
        )
        .await
        .expect("the proxy starts within 20 s")
        .expect("the proxy prints its port");
        Self {
            base: format!("https://localhost:{port}"),
            _child: child,
            _stdin: stdin,
            _dir: dir,
        }
    }
}

/// A directory of a test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(purpose: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "civic-auth-poem-{purpose}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

async fn wait_until_up(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/public")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not come up");
}

/// A person with a browser, minus JavaScript: keeps cookies, follows
/// redirects on request, and fills the provider's forms.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    /// Every URL requested, in order.
    pub history: std::sync::Mutex<Vec<Url>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<Url> {
        let location = self.headers.get(header::LOCATION)?.to_str().ok()?;
        self.url.join(location).ok()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.url, self.body))
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

impl Browser {
    pub fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            client,
            jar,
            history: Default::default(),
        }
    }

    /// One request, as an API client (Accept: application/json).
    pub async fn get(&self, url: &str) -> Page {
        self.request(Method::GET, url, "application/json", None)
            .await
    }

    /// One request, as a browser navigation (Accept: text/html).
    pub async fn navigate(&self, url: &str) -> Page {
        self.request(
            Method::GET,
            url,
            "text/html,application/xhtml+xml,*/*;q=0.8",
            None,
        )
        .await
    }

    pub async fn request(
        &self,
        method: Method,
        url: &str,
        accept: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let mut request = self
            .client
            .request(method, url)
            .header(header::ACCEPT, accept);
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e} ({e:?})"));
        self.history.lock().unwrap().push(response.url().clone());
        let url = response.url().clone();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            url,
            status,
            headers,
            body,
        }
    }

    /// Navigates to `url` and follows redirects, filling the provider's
    /// login form (as `login`) and consent form on the way.
    pub async fn navigate_through_login(&self, url: &str, login: &str) -> Page {
        self.through_login(url, login, None).await
    }

    /// Like [`Self::navigate_through_login`], up to the provider's answer:
    /// the first redirect into `app_base`, not followed.
    pub async fn answer_for(&self, url: &str, login: &str, app_base: &str) -> Url {
        let page = self.through_login(url, login, Some(app_base)).await;
        page.location()
            .unwrap_or_else(|| panic!("no answer for the app: {} {}", page.url, page.body))
    }

    async fn through_login(&self, url: &str, login: &str, stop_at: Option<&str>) -> Page {
        let mut page = self.navigate(url).await;
        for _ in 0..30 {
            if let Some(next) = page.location() {
                if stop_at.is_some_and(|base| next.as_str().starts_with(base)) {
                    return page;
                }
                page = self.navigate(next.as_str()).await;
                continue;
            }
            // The provider's form-posted answer (`response_mode=form_post`),
            // which a browser's script submits at once.
            if let Some((action, fields)) = posted_answer(&page) {
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                page = self
                    .request(Method::POST, action.as_str(), "text/html", Some(&fields))
                    .await;
                continue;
            }
            let Some((action, prompt)) = provider_form(&page) else {
                return page;
            };
            let fields: Vec<(&str, &str)> = match prompt.as_str() {
                "login" => vec![("prompt", "login"), ("login", login), ("password", "any")],
                _ => vec![("prompt", prompt.as_str())],
            };
            page = self
                .request(Method::POST, action.as_str(), "text/html", Some(&fields))
                .await;
        }
        panic!("too many redirects, last at {}", page.url);
    }

    /// Logs in through the app's `/auth/login` and returns the landing page.
    pub async fn log_in(&self, app_base: &str, login: &str) -> Page {
        self.navigate_through_login(&format!("{app_base}/auth/login"), login)
            .await
    }

    /// Follows redirects without filling any form.
    pub async fn follow(&self, url: &str) -> Page {
        let mut page = self.navigate(url).await;
        for _ in 0..30 {
            match page.location() {
                Some(next) => page = self.navigate(next.as_str()).await,
                None => return page,
            }
        }
        panic!("too many redirects, last at {}", page.url);
    }

    /// A new browser with only the provider's cookies of this one (its
    /// login there), none of the app's: the same person, new to the app.
    pub fn with_provider_cookies_of(&self, provider: &Provider) -> Browser {
        let browser = Browser::new();
        let url = Url::parse(&provider.issuer).expect("issuer");
        let sent = self.cookie_header(url.join("auth").expect("url").as_str());
        for pair in sent.split("; ").filter(|pair| pair.starts_with('_')) {
            browser.jar.add_cookie_str(&format!("{pair}; Path=/"), &url);
        }
        browser
    }

    /// The cookies this browser would send to `url`, as one header value.
    pub fn cookie_header(&self, url: &str) -> String {
        self.jar
            .cookies(&Url::parse(url).expect("url"))
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The action and `prompt` of a provider login or consent page.
fn provider_form(page: &Page) -> Option<(Url, String)> {
    if page.status != StatusCode::OK || !page.body.contains("name=\"prompt\"") {
        return None;
    }
    let action = between(&page.body, "action=\"", "\"")?;
    let after_prompt = &page.body[page.body.find("name=\"prompt\"")?..];
    let prompt = between(after_prompt, "value=\"", "\"")?;
    Some((page.url.join(&action).ok()?, prompt))
}

/// Where the provider's form-posted answer goes, and its fields.
pub fn posted_answer(page: &Page) -> Option<(Url, Vec<(String, String)>)> {
    if !page.body.contains("<title>Submitting Callback</title>") {
        return None;
    }
    let action = between(&page.body, "<form method=\"post\" action=\"", "\"")?;
    let mut fields = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find("<input type=\"hidden\" ") {
        rest = &rest[at..];
        let name = between(rest, "name=\"", "\"")?;
        let value = between(rest, "value=\"", "\"")?;
        fields.push((name, value));
        rest = &rest[1..];
    }
    Some((page.url.join(&action).ok()?, fields))
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].replace("&amp;", "&"))
}

/// An access token from the real provider, got as an API client would:
/// PKCE, the provider's login and consent forms, the code exchange.
pub async fn provider_access_token(provider: &Provider, redirect_uri: &str, login: &str) -> String {
    provider_access_token_for(provider, CLIENT_ID, redirect_uri, login).await
}

/// Like [`provider_access_token`], for the app `client_id`.
pub async fn provider_access_token_for(
    provider: &Provider,
    client_id: &str,
    redirect_uri: &str,
    login: &str,
) -> String {
    provider_access_token_with(provider, client_id, redirect_uri, login, None).await
}

/// Like [`provider_access_token_for`], bound to `dpop` when given (the code
/// exchange carries a proof of it).
pub async fn provider_access_token_with(
    provider: &Provider,
    client_id: &str,
    redirect_uri: &str,
    login: &str,
    dpop: Option<&civic_auth_poem::DpopKey>,
) -> String {
    provider_access_token_as(provider, client_id, redirect_uri, login, dpop, &Vec::new).await
}

/// What a confidential API client adds to each of its requests to the
/// provider (`client_secret`, or a fresh `client_assertion` and its type).
pub type ClientProof<'a> = &'a (dyn Fn() -> Vec<(&'static str, String)> + Sync);

/// Like [`provider_access_token_with`], for a client that proves itself
/// with `proof` at the provider's token endpoint, and at its pushed
/// authorization request endpoint when the provider requires pushed
/// requests (as its FAPI 2.0 profile does).
pub async fn provider_access_token_as(
    provider: &Provider,
    client_id: &str,
    redirect_uri: &str,
    login: &str,
    dpop: Option<&civic_auth_poem::DpopKey>,
    proof: ClientProof<'_>,
) -> String {
    let (verifier, challenge) = pkce_pair(login);
    let request = [
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email profile"),
        ("state", "api-client-state"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let discovery: Value = reqwest::get(format!(
        "{}.well-known/openid-configuration",
        provider.issuer
    ))
    .await
    .expect("discovery")
    .json()
    .await
    .expect("discovery JSON");
    let mut authorize = Url::parse(&format!("{}auth", provider.issuer)).expect("url");
    if discovery["require_pushed_authorization_requests"] == true {
        let mut form: Vec<(&str, String)> =
            request.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        form.extend(proof());
        let pushed: Value = reqwest::Client::new()
            .post(format!("{}request", provider.issuer))
            .form(&form)
            .send()
            .await
            .expect("pushed request")
            .json()
            .await
            .expect("pushed request JSON");
        let request_uri = pushed["request_uri"]
            .as_str()
            .unwrap_or_else(|| panic!("not pushed: {pushed}"));
        authorize
            .query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("request_uri", request_uri);
    } else {
        authorize.query_pairs_mut().extend_pairs(request);
    }
    let browser = Browser::new();
    let back = browser
        .navigate_through_login(authorize.as_str(), login)
        .await;
    let code = back
        .url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code at {}", back.url));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens = token_request_as(provider, &form, dpop, proof).await;
    tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {tokens}"))
        .to_owned()
}

/// A PKCE verifier of an API client's login as `login`, and its S256
/// challenge.
pub fn pkce_pair(login: &str) -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let verifier = b64(format!("{login}-verifier-{}", free_port())
        .repeat(2)
        .as_bytes());
    let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A client assertion (RFC 7523) for `client_id` at `provider`, signed with
/// the test key `key` (`tests/keys/`): ES256 for an EC key, PS256 for RSA.
pub fn client_assertion(provider: &Provider, key: &str, client_id: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let pem = std::fs::read(repo_root().join("tests/keys").join(key)).expect("test key");
    let (alg, signing) = match EncodingKey::from_ec_pem(&pem) {
        Ok(ec) => (Algorithm::ES256, ec),
        Err(_) => (
            Algorithm::PS256,
            EncodingKey::from_rsa_pem(&pem).expect("an RSA key"),
        ),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": provider.issuer,
        "jti": format!("{client_id}-{}-{}", now, free_port()), "iat": now, "exp": now + 60,
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, &signing).expect("signed")
}

/// [`client_assertion`] with its type, as a request to the provider
/// carries them.
pub fn assertion_fields(
    provider: &Provider,
    key: &str,
    client_id: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        (
            "client_assertion",
            client_assertion(provider, key, client_id),
        ),
    ]
}

/// A request to the provider's token endpoint as an API client makes it:
/// with a DPoP proof of `dpop` when given, and the nonce the provider asks
/// for (`use_dpop_nonce`) on a second try. Its JSON answer.
pub async fn token_request(
    provider: &Provider,
    form: &[(&str, &str)],
    dpop: Option<&civic_auth_poem::DpopKey>,
) -> Value {
    token_request_as(provider, form, dpop, &Vec::new).await
}

/// Like [`token_request`], with a confidential client's `proof` (fresh for
/// each try).
pub async fn token_request_as(
    provider: &Provider,
    form: &[(&str, &str)],
    dpop: Option<&civic_auth_poem::DpopKey>,
    proof: ClientProof<'_>,
) -> Value {
    let endpoint = format!("{}token", provider.issuer);
    let client = reqwest::Client::new();
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        let mut fields: Vec<(&str, String)> =
            form.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        fields.extend(proof());
        let mut request = client.post(&endpoint).form(&fields);
        if let Some(key) = dpop {
            let proof = key.proof_with_nonce("POST", &endpoint, None, nonce.as_deref());
            request = request.header("DPoP", proof);
        }
        let answer = request.send().await.expect("token request");
        nonce = answer
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = answer.json().await.expect("token JSON");
        if body["error"] != "use_dpop_nonce" {
            return body;
        }
    }
    panic!("the provider kept asking for a DPoP nonce");
}

/// Runs a browser journey, `node tests/browser/<script> <app_base> <login>`
/// (Debian's chromium through playwright-core), and returns the JSON it
/// prints last; a failed journey fails the test with the script's report.
pub async fn browser_journey(script: &str, app_base: &str, login: &str) -> Value {
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser").join(script))
        .arg(app_base)
        .arg(login)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("node runs tests/browser/{script}: {e}"));
    assert!(
        output.status.success(),
        "the browser journey {script} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{script} printed {last:?}: {e}"))
}

/// Logs `browser` out of `app` and shows that its tokens were revoked: a
/// copy of the session cookie taken before dies at its next refresh, once
/// `clock` is past the access token's minute (the provider's
/// `ACCESS_TOKEN_TTL` of 60 s), which only a revocation the provider
/// accepted does.
pub async fn logout_revokes_the_session(
    browser: &Browser,
    provider: &Provider,
    app: &AppServer,
    clock: &civic_auth_poem::ManualClock,
) {
    let copied = browser.cookie_header(&app.base);
    log_out_revoking(browser, provider, &app.base).await;
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        profile_status(app, &copied).await,
        StatusCode::UNAUTHORIZED,
        "the refresh token was revoked"
    );
}

/// Logs `browser` out of the app at `app_base` and waits until the provider
/// has heard both revocations (the refresh and the access token), which run
/// beside the logout.
pub async fn log_out_revoking(browser: &Browser, provider: &Provider, app_base: &str) {
    let logout = browser.navigate(&format!("{app_base}/auth/logout")).await;
    assert_eq!(logout.status, StatusCode::FOUND, "{}", logout.body);
    for _ in 0..100 {
        if provider.count("revocation").await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(provider.count("revocation").await, 2);
}

/// The user logs out at the provider, not through the app at `app_base`:
/// the provider then tells the app (back-channel logout).
pub async fn log_out_at_provider(browser: &Browser, provider: &Provider, app_base: &str) {
    let end_session = format!(
        "{}session/end?client_id={CLIENT_ID}&post_logout_redirect_uri={app_base}/",
        provider.issuer,
    );
    let confirm = browser.navigate(&end_session).await;
    confirm_provider_logout(browser, &confirm).await;
    assert!(provider.count("end_session_confirm").await >= 1);
}

/// The RP-initiated logout confirmation: submits "Yes, sign me out".
pub async fn confirm_provider_logout(browser: &Browser, page: &Page) -> Page {
    let action = between(&page.body, "action=\"", "\"").expect("logout form action");
    let xsrf = between(&page.body, "name=\"xsrf\" value=\"", "\"").expect("xsrf field");
    let action = page.url.join(&action).expect("action url");
    let done = browser
        .request(
            Method::POST,
            action.as_str(),
            "text/html",
            Some(&[("xsrf", xsrf.as_str()), ("logout", "yes")]),
        )
        .await;
    match done.location() {
        Some(next) => browser.navigate(next.as_str()).await,
        None => done,
    }
}

/// POSTs to `path` a body that claims `declared` bytes but sends only
/// `sent`, then waits (10 s at most) for the status line: an app that
/// bounds what it reads answers; one that reads the whole body never does.
pub async fn post_without_finishing(
    base: &str,
    path: &str,
    declared: usize,
    sent: usize,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {declared}\r\n\r\nlogout_token="
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream
        .write_all(&vec![b'a'; sent])
        .await
        .expect("send body");
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer before the body is complete")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..read]);
    text.lines().next().unwrap_or_default().to_owned()
}

/// The status of `/admin/profile` for a client that sends `cookie` as is
/// (a replayed or doctored cookie, whatever the browser would keep).
pub async fn profile_status(app: &AppServer, cookie: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/admin/profile", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("the app answers")
        .status()
}

/// Starts a login at the provider `name` of the app at `app_base` in
/// `browser`, leaving it there, and returns the login's `state` (its
/// cookie is named after it).
pub async fn start_login_at(browser: &Browser, app_base: &str, name: &str) -> String {
    let start = browser
        .navigate(&format!("{app_base}/auth/login?provider={name}"))
        .await;
    start
        .set_cookies()
        .iter()
        .find_map(|c| {
            c.strip_prefix("civic_auth_tx.")?
                .split('=')
                .next()
                .map(str::to_owned)
        })
        .expect("a login cookie")
}

/// What a mix-up attacker's provider does with a login it was sent: the
/// same `state`, carried to another provider's `authorize` endpoint as its
/// client `client_id`, whose answers come back to the app at `callback`.
pub fn mix_up_request(authorize: &str, client_id: &str, callback: &str, state: &str) -> Url {
    let mut url = Url::parse(authorize).expect("an authorization endpoint");
    url.query_pairs_mut().extend_pairs([
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", callback),
        ("scope", "openid"),
        ("state", state),
        ("nonce", "attacker-nonce"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ]);
    url
}

/// The status `browser` gets at `url`, asked every 100 ms until it is
/// `expected` (5 s at most): a back-channel logout ends sessions soon
/// after the provider's logout, not with it.
pub async fn status_soon(browser: &Browser, url: &str, expected: StatusCode) -> StatusCode {
    let mut status = browser.get(url).await.status;
    for _ in 0..50 {
        if status == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = browser.get(url).await.status;
    }
    status
}

/// An answer to [`raw_get`]: its status, and its head as sent.
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
}

impl RawAnswer {
    /// The value of the header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A GET of `path` exactly as written (an HTTP client would resolve its
/// dots and could re-encode it), over a connection of its own.
pub async fn raw_get(base: &str, path: &str, headers: &[(&str, &str)]) -> RawAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer}"));
    RawAnswer { status, head }
}

/// A request of `browser` (its cookies) with `headers`: the status, the
/// headers and the body of its answer.
pub async fn call(
    browser: &Browser,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, header::HeaderMap, String) {
    let mut request = browser.client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    (status, headers, answer.text().await.unwrap_or_default())
}
