//! No token, code or secret in any log line at any level: the whole journey
//! (login, a protected call, refresh, a bearer call, failures, logout) runs
//! with every target logging at TRACE into a buffer that is then searched.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use suite::{app, provider_access_token_as, Browser, CLIENT_ID};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let captured = Captured::default();
    let logs = captured.clone();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // A confidential client: its secret goes in a Basic header at every
    // token, revocation and introspection call.
    const CLIENT_SECRET: &str = "client-secret-in-no-log-789";
    let env = &[("ACCESS_TOKEN_TTL", "60")];
    let clock = civic_auth_poem::ManualClock::now();
    let registration = |_: &str| serde_json::json!({ "token_endpoint_auth_method": "client_secret_basic", "client_secret": CLIENT_SECRET });
    let (provider, app) = app::with_registered_provider(registration, env, |c| {
        c.clock(clock.clone()).client_secret(CLIENT_SECRET)
    })
    .await;
    let browser = Browser::new();

    // Login; the callback URL (with its code and state) is on the way.
    let landed = browser.log_in(&app.base, "ada.lovelace").await;
    assert_eq!(landed.url.path(), "/");
    let callback = browser
        .history
        .lock()
        .unwrap()
        .iter()
        .find(|url| url.path() == "/auth/callback")
        .cloned()
        .expect("the callback was visited");
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let (code, state) = (param("code"), param("state"));
    let session_cookie = browser.cookie_header(&app.base);
    assert!(!session_cookie.is_empty());

    // A refresh, a bearer call, refused input, logout.
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        browser
            .get(&format!("{}/admin/hello", app.base))
            .await
            .status,
        StatusCode::OK
    );
    let token = provider_access_token_as(
        &provider,
        CLIENT_ID,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "grace.hopper",
        None,
        &|| vec![("client_secret", CLIENT_SECRET.to_owned())],
    )
    .await;
    let with_token = reqwest::Client::new()
        .get(format!("{}/admin/profile", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
    let forged = reqwest::Client::new()
        .get(format!("{}/admin/profile", app.base))
        .bearer_auth("forged-token-value-123")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let replay = browser
        .navigate(&format!(
            "{}/auth/callback?code=stolen-code-456&state=forged-state",
            app.base
        ))
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    // A provider error whose text tries to forge a log line and color the terminal.
    // The request was pushed (RFC 9126): its `state` names its login cookie.
    let to_provider = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let login_cookie = to_provider.set_cookies().join("\n");
    let login_state = login_cookie
        .strip_prefix("civic_auth_tx.")
        .and_then(|rest| rest.split_once('='))
        .expect("a login cookie")
        .0;
    let iss: String = url::form_urlencoded::byte_serialize(provider.issuer.as_bytes()).collect();
    let refused = browser
        .navigate(&format!(
            "{}/auth/callback?state={login_state}&iss={iss}&error=access_denied&error_description=evil%0AFORGED+line%1B%5B31m",
            app.base
        ))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    browser.navigate(&format!("{}/auth/logout", app.base)).await;

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.len() > 1000, "logging was not captured");
    let session_values: Vec<&str> = session_cookie
        .split("; ")
        .filter_map(|c| c.split_once('=').map(|(_, v)| v))
        .collect();
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let mut secrets = vec![
        token.as_str(),
        code.as_str(),
        state.as_str(),
        "forged-token-value-123",
        "stolen-code-456",
        CLIENT_SECRET,
        basic.as_str(),
    ];
    secrets.extend(session_values.iter().map(|v| &v[..v.len().min(40)]));
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret is in the logs: {secret}");
    }
    assert!(
        logs.contains("evil\\nFORGED line\\u{1b}[31m"),
        "the text, escaped"
    );
    assert!(!logs.contains("\nFORGED"), "a request forged a log line");
    assert!(!logs.contains('\u{1b}'), "a request's ESC reached the log");
    // No JWT at all (ID tokens, logout tokens): they all start like this.
    assert!(!logs.contains("eyJhbGciOi"), "a JWT is in the logs");
    assert!(
        !logs.contains("code_verifier"),
        "the PKCE verifier is in the logs"
    );
    drop(logs);

    // A provider that offers no `offline_access`: said once, however many
    // logins find it so.
    let (_provider, app) =
        app::with_provider(&[("PROVIDER_SCOPES", "openid email profile")], |c| c).await;
    for login in ["ada", "grace", "mary"] {
        let browser = Browser::new();
        browser.log_in(&app.base, login).await;
        let user = browser.get(&format!("{}/auth/user", app.base)).await;
        assert_eq!(user.status, StatusCode::OK, "{}", user.body);
        // Said at the first such login, and never again.
        let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        let said = logs.matches("does not offer `offline_access`").count();
        assert_eq!(said, 1, "after {login}'s login: {logs}");
    }
}
