//! LemonLDAP::NG 2.16 (Debian's `liblemonldap-ng-portal-perl`) as a second
//! OpenID provider, another implementation than `oidc-provider`: its portal
//! under `plackup` on a free 127.0.0.1 port, with Demo authentication (users
//! `dwho`, `rtyler`, `msmith`, each with their name as password), the clients
//! a test registers, and everything it writes (configuration, signing key,
//! sessions, caches, log) in a fresh directory per start.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::process::{Child, Command};
use url::Url;

use crate::{free_port, repo_root, Browser, Example, Page, TempDir};

/// How long the portal may take to answer its discovery document.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A client registered at [`LemonLdap`]: consent bypassed, RS256 ID tokens,
/// refresh tokens (`offline_access` allowed too), any of the scopes
/// `openid profile email offline_access`, and the claims `name`, `email`
/// and `preferred_username` besides `sub`.
#[derive(Clone, Debug)]
pub struct LemonLdapClient {
    pub client_id: String,
    /// `None`: a public client, which must use PKCE. `Some`: a confidential
    /// one, which may send it by `client_secret_basic` or `client_secret_post`.
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Access tokens as signed JWTs (RFC 9068) instead of opaque strings.
    pub access_token_jwt: bool,
    /// The access token's `expires_in`: short, to have an app refresh soon,
    /// as LemonLDAP::NG's clock cannot be moved.
    pub access_token_lifetime: Duration,
}

impl LemonLdapClient {
    /// A public client for the app at `app_base`: its `/auth/callback`, and
    /// its landing page after logout.
    pub fn for_app(client_id: &str, app_base: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            secret: None,
            redirect_uris: vec![format!("{app_base}/auth/callback")],
            post_logout_redirect_uris: vec![format!("{app_base}/")],
            access_token_jwt: false,
            access_token_lifetime: Duration::from_secs(3600),
        }
    }

    /// Its registration, as LemonLDAP::NG's `oidcRPMetaDataOptions` names it.
    fn options(&self) -> Value {
        let flag = |on: bool| json!(u8::from(on));
        let mut options = json!({
            "oidcRPMetaDataOptionsClientID": self.client_id,
            "oidcRPMetaDataOptionsPublic": flag(self.secret.is_none()),
            "oidcRPMetaDataOptionsRequirePKCE": flag(self.secret.is_none()),
            "oidcRPMetaDataOptionsRedirectUris": self.redirect_uris.join(" "),
            "oidcRPMetaDataOptionsPostLogoutRedirectUris": self.post_logout_redirect_uris.join(" "),
            "oidcRPMetaDataOptionsBypassConsent": 1,
            "oidcRPMetaDataOptionsLogoutBypassConfirm": 1,
            "oidcRPMetaDataOptionsRefreshToken": 1,
            "oidcRPMetaDataOptionsAllowOffline": 1,
            "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
            "oidcRPMetaDataOptionsAccessTokenJWT": flag(self.access_token_jwt),
            "oidcRPMetaDataOptionsAccessTokenExpiration": self.access_token_lifetime.as_secs(),
        });
        if let Some(secret) = &self.secret {
            assert!(
                basic_safe(&self.client_id, secret),
                "LemonLDAP::NG 2.16 cannot read the secret {secret:?} of {} in a Basic header",
                self.client_id
            );
            options["oidcRPMetaDataOptionsClientSecret"] = json!(secret);
        }
        options
    }
}

/// Whether LemonLDAP::NG 2.16 reads `client_id` and `secret` right from a
/// `client_secret_basic` header: it takes the base64 only up to its first
/// `+` or `/`, splits it at every `:`, and does not URL-decode the parts
/// (RFC 6749, 2.3.1), so the credentials must need no encoding and make
/// base64 of word characters only.
fn basic_safe(client_id: &str, secret: &str) -> bool {
    use base64::Engine;
    let plain = |text: &str| {
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    let header = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    plain(client_id) && plain(secret) && !header.contains(['+', '/'])
}

/// A running LemonLDAP::NG portal; stopped when dropped.
pub struct LemonLdap {
    /// `http://127.0.0.1:<port>`, without a trailing slash, as the portal
    /// names itself in its discovery document and tokens.
    pub issuer: String,
    log: PathBuf,
    _child: Child,
    _dir: TempDir,
}

impl LemonLdap {
    /// Starts a portal with `clients` registered, and waits until it
    /// answers its discovery document.
    pub async fn start(clients: &[LemonLdapClient]) -> Self {
        let dir = TempDir::new("lemonldap");
        for sub in ["conf", "sessions/lock", "psessions/lock", "cache"] {
            std::fs::create_dir_all(dir.0.join(sub)).expect("the portal's directories");
        }
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let (private_key, public_key) = signing_key(&dir.0).await;
        let config = configuration(&issuer, &dir.0, &private_key, &public_key, clients);
        std::fs::write(dir.0.join("conf/lmConf-1.json"), config.to_string())
            .expect("the portal's configuration");
        let ini =
            std::fs::read_to_string(repo_root().join("tests/provider/lemonldap/lemonldap-ng.ini"))
                .expect("tests/provider/lemonldap/lemonldap-ng.ini");
        let ini_path = dir.0.join("lemonldap-ng.ini");
        std::fs::write(&ini_path, ini.replace("{dir}", &dir.0.to_string_lossy()))
            .expect("the portal's local settings");
        let log_path = dir.0.join("portal.log");
        let log = std::fs::File::create(&log_path).expect("the portal's log");
        let mut child = Command::new("plackup")
            .args(["-s", "HTTP::Server::PSGI", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("/usr/share/lemonldap-ng/portal/htdocs/index.psgi")
            .env("LLNG_DEFAULTCONFFILE", &ini_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log, twice"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("plackup runs (scripts/test installs LemonLDAP::NG's portal, which brings it)");
        // The portal answers 500 for good when its configuration is wrong,
        // and plackup exits when the portal cannot even load.
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let failed = |why: &str| -> ! {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "LemonLDAP::NG {why}; its log ({}):\n{log}",
                    log_path.display()
                )
            };
            if let Ok(Some(status)) = child.try_wait() {
                failed(&format!("exited ({status})"));
            }
            match reqwest::get(&discovery).await.map(|r| r.status()) {
                Ok(StatusCode::OK) => break,
                Ok(status) => failed(&format!("answered {status} at {discovery}")),
                Err(_) if Instant::now() > deadline => {
                    failed(&format!("did not answer within {START_TIMEOUT:?}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        Self {
            issuer,
            log: log_path,
            _child: child,
            _dir: dir,
        }
    }

    /// The value apps put in `oauth_server`: the issuer.
    pub fn oauth_server(&self) -> String {
        self.issuer.clone()
    }

    /// How many `method` requests to `path` (`/oauth2/token`, ...) the
    /// portal answered, as its access log tells.
    pub fn requests(&self, method: &str, path: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).expect("the portal's log");
        let request = format!("\"{method} {path}");
        log.lines()
            .filter(|line| {
                line.contains(&format!("{request} ")) || line.contains(&format!("{request}?"))
            })
            .count()
    }

    /// Starts `examples/<name>.rs` at `base` (it listens on 127.0.0.1 at
    /// `base`'s port) as `client` of this provider, with its secret when it
    /// has one; `env` wins over what this sets.
    pub async fn start_example(
        &self,
        name: &str,
        base: &str,
        client: &LemonLdapClient,
        env: &[(&str, &str)],
    ) -> Example {
        let mut own = vec![("CIVIC_CLIENT_ID", client.client_id.as_str())];
        own.extend(client.secret.as_deref().map(|s| ("CIVIC_CLIENT_SECRET", s)));
        own.extend(env);
        Example::start_against(name, base, &self.oauth_server(), &own).await
    }
}

/// A fresh RSA key pair for the portal's signatures, as PEM: the private
/// key and the public one.
async fn signing_key(dir: &Path) -> (String, String) {
    let key = dir.join("oidc-key.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .arg("-out")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .await
        .expect("openssl runs");
    assert!(made.success(), "openssl made no RSA key");
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .await
        .expect("openssl runs");
    assert!(public.status.success(), "openssl gave no public key");
    (
        std::fs::read_to_string(&key).expect("the private key"),
        String::from_utf8(public.stdout).expect("a PEM public key"),
    )
}

/// The portal's whole configuration (`lmConf-1.json`); LemonLDAP::NG's
/// defaults fill in the rest (Demo authentication among them).
fn configuration(
    portal: &str,
    dir: &Path,
    private_key: &str,
    public_key: &str,
    clients: &[LemonLdapClient],
) -> Value {
    let path = |sub: &str| dir.join(sub).to_string_lossy().into_owned();
    let mut options = Map::new();
    let mut claims = Map::new();
    for client in clients {
        options.insert(client.client_id.clone(), client.options());
        // OpenID claim -> the Demo user's attribute.
        claims.insert(
            client.client_id.clone(),
            json!({ "name": "cn", "email": "mail", "preferred_username": "uid" }),
        );
    }
    json!({
        // The configuration's number and date, without which none loads.
        "cfgNum": 1,
        "cfgDate": 1,
        "portal": format!("{portal}/"),
        // The portal's cookie is for 127.0.0.1, where the apps are too.
        "domain": "127.0.0.1",
        // No handler protects anything here, but the rules must exist.
        "locationRules": {},
        "globalStorageOptions": {
            "Directory": path("sessions"),
            "LockDirectory": path("sessions/lock"),
            "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256",
        },
        "persistentStorageOptions": {
            "Directory": path("psessions"),
            "LockDirectory": path("psessions/lock"),
        },
        "localSessionStorageOptions": {
            "cache_root": path("cache"),
            "namespace": "lemonldap-ng-sessions",
            "default_expires_in": 600,
            "directory_umask": "007",
            "cache_depth": 3,
        },
        // A login form with nothing but the user and the password.
        "portalDisplayRegister": 0,
        "portalCheckLogins": 0,
        "issuerDBOpenIDConnectActivation": 1,
        "oidcServiceMetaDataIssuer": portal,
        "oidcServicePrivateKeySig": private_key,
        "oidcServicePublicKeySig": public_key,
        "oidcServiceKeyIdSig": "lemonldap-test",
        "oidcRPMetaDataOptions": options,
        "oidcRPMetaDataExportedVars": claims,
    })
}

/// Navigates to `url` and follows redirects, filling LemonLDAP::NG's login
/// form as `user` when it shows; the first page that is neither (the app's
/// landing page, after a login).
pub async fn navigate_through_lemonldap_login(
    browser: &Browser,
    url: &str,
    user: &str,
    password: &str,
) -> Page {
    through_login(browser, url, user, password, None).await
}

/// Like [`navigate_through_lemonldap_login`], up to the portal's answer:
/// the first redirect into `app_base`, not followed.
pub async fn lemonldap_answer_for(
    browser: &Browser,
    url: &str,
    user: &str,
    password: &str,
    app_base: &str,
) -> Url {
    let page = through_login(browser, url, user, password, Some(app_base)).await;
    page.location()
        .unwrap_or_else(|| panic!("no answer for the app: {} {}", page.url, page.body))
}

async fn through_login(
    browser: &Browser,
    url: &str,
    user: &str,
    password: &str,
    stop_at: Option<&str>,
) -> Page {
    let mut page = browser.navigate(url).await;
    for _ in 0..30 {
        if let Some(next) = page.location() {
            if stop_at.is_some_and(|base| next.as_str().starts_with(base)) {
                return page;
            }
            page = browser.navigate(next.as_str()).await;
        } else if login_form(&page).is_some() {
            page = fill_login_form(browser, &page, user, password).await;
        } else {
            return page;
        }
    }
    panic!("too many redirects, last at {}", page.url);
}

/// The hidden fields of LemonLDAP::NG's login form (its anti-forgery
/// `token`, the `url` to go on to, ...), when `page` is that form.
fn login_form(page: &Page) -> Option<Vec<(String, String)>> {
    if page.status != StatusCode::OK {
        return None;
    }
    let form = &page.body[page.body.find("<form id=\"lform\"")?..];
    let form = &form[..form.find("</form>")?];
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = tag[start..].find('"')?;
        Some(tag[start..start + len].replace("&amp;", "&"))
    };
    let fields = form
        .split("<input ")
        .skip(1)
        .map(|tag| &tag[..tag.find('>').unwrap_or(tag.len())])
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| {
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect();
    Some(fields)
}

/// Posts LemonLDAP::NG's login form on `page` (back to the page's own URL,
/// as its `action="#"` says) as `user`; the portal's answer, which is a
/// redirect once the login is accepted.
async fn fill_login_form(browser: &Browser, page: &Page, user: &str, password: &str) -> Page {
    let hidden = login_form(page).expect("LemonLDAP::NG's login form");
    let mut fields: Vec<(&str, &str)> = hidden
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fields.extend([("user", user), ("password", password)]);
    let answer = browser
        .request(Method::POST, page.url.as_str(), "text/html", Some(&fields))
        .await;
    assert!(
        login_form(&answer).is_none(),
        "LemonLDAP::NG refused the login of {user}: {}",
        answer.body
    );
    answer
}

/// An access token from LemonLDAP::NG for `client`, got as an API client
/// would: PKCE, the login form as `user`, the code exchange at the token
/// endpoint (with the client's secret in a Basic header, if it has one).
pub async fn lemonldap_access_token(
    provider: &LemonLdap,
    client: &LemonLdapClient,
    user: &str,
    password: &str,
) -> String {
    let (verifier, challenge) = crate::pkce_pair(user);
    let redirect_uri = client.redirect_uris[0].as_str();
    let mut authorize = Url::parse(&format!("{}/oauth2/authorize", provider.issuer)).expect("url");
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", client.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email profile"),
        ("state", "api-client-state"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    // The code comes in the redirect to the client, which is not followed.
    let browser = Browser::new();
    let form = browser.navigate(authorize.as_str()).await;
    let back = fill_login_form(&browser, &form, user, password).await;
    let code = back
        .location()
        .filter(|to| to.as_str().starts_with(redirect_uri))
        .and_then(|to| {
            to.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| panic!("no code for {redirect_uri}: {} {}", back.status, back.body));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri),
        ("client_id", client.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let mut request = reqwest::Client::new()
        .post(format!("{}/oauth2/token", provider.issuer))
        .form(&form);
    if let Some(secret) = &client.secret {
        request = request.basic_auth(&client.client_id, Some(secret));
    }
    let tokens: Value = request
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {tokens}"))
        .to_owned()
}
