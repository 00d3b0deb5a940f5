//! Several providers in one app, each a real `oidc-provider` of its own:
//! a login through each (chosen on a page, by name, or by the host's
//! tenant), the mix-up attack refused with and without `iss`, routes for
//! one provider's users, tenants kept apart, a back-channel logout that
//! ends only its provider's sessions, and API clients' tokens of each.

use std::sync::Arc;

use civic_auth_poem::session::{MemoryStore, SessionStore};
use reqwest::StatusCode;
use suite::{
    app::{self, partner_host, same_host},
    provider_access_token, Browser, Page, Provider,
};
use url::Url;

/// The location a page redirects to.
fn location(page: &Page) -> Url {
    page.location()
        .unwrap_or_else(|| panic!("{} {}: {}", page.url, page.status, page.body))
}

#[tokio::test]
async fn a_login_through_each_provider() {
    let (civic, partner, app) = app::with_two_providers(None, same_host, |c, _| c).await;
    let browser = Browser::new();

    // Named by none: a page to choose, each link naming one and keeping
    // where the browser was going.
    let page = browser
        .navigate(&format!(
            "{}/auth/login?returnTo=%2Fadmin%2Fprofile",
            app.base
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for name in ["civic", "partner"] {
        let link = format!("href=\"?provider={name}&amp;returnTo=%2Fadmin%2Fprofile\"");
        assert!(page.body.contains(&link), "{link} in {}", page.body);
    }
    // An unknown one: a readable 400.
    let unknown = browser
        .navigate(&format!("{}/auth/login?provider=nobody", app.base))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.body.contains("no provider named `nobody`"),
        "{}",
        unknown.body
    );

    // Each link goes to its own provider, and the user knows which.
    for (name, provider, login) in [
        ("partner", &partner, "katherine.johnson"),
        ("civic", &civic, "katherine.johnson"),
    ] {
        let browser = Browser::new();
        let start = browser
            .navigate(&format!("{}/auth/login?provider={name}", app.base))
            .await;
        assert!(
            location(&start).as_str().starts_with(&provider.issuer),
            "{name}: {}",
            location(&start)
        );
        browser
            .navigate_through_login(location(&start).as_str(), login)
            .await;
        let user = browser.get(&format!("{}/auth/user", app.base)).await;
        assert_eq!(user.status, StatusCode::OK, "{}", user.body);
        assert_eq!(user.json()["provider"], name);
        assert_eq!(user.json()["id"], login);
        let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
        assert_eq!(profile.json()["email"], format!("{login}@example.com"));
        // Its tokens are refreshed and revoked at its own provider.
        suite::log_out_revoking(&browser, provider, &app.base).await;
    }
}

/// Starts a login at `civic` in `browser`, then sends the browser to the
/// partner with that login's `state` (what a mix-up attacker's provider
/// does), and returns the partner's answer at the partner's callback, not
/// followed.
async fn partner_answer_to_a_civic_login(
    browser: &Browser,
    app_base: &str,
    partner: &Provider,
) -> Url {
    let state = suite::start_login_at(browser, app_base, "civic").await;
    let at_partner = suite::mix_up_request(
        &format!("{}auth", partner.issuer),
        suite::CLIENT_ID,
        &format!("{app_base}/auth/callback/partner"),
        &state,
    );
    browser
        .answer_for(at_partner.as_str(), "mallory", app_base)
        .await
}

#[tokio::test]
async fn an_answer_of_another_provider_is_refused_with_and_without_iss() {
    let (civic, partner, app) = app::with_two_providers(None, same_host, |c, _| c).await;
    let browser = Browser::new();
    let answer = partner_answer_to_a_civic_login(&browser, &app.base, &partner).await;
    assert_eq!(answer.path(), "/auth/callback/partner");
    assert!(answer
        .query_pairs()
        .any(|(k, v)| k == "iss" && v == partner.issuer));
    let without_iss = {
        let mut url = answer.clone();
        let kept: Vec<(String, String)> = answer
            .query_pairs()
            .filter(|(k, _)| k != "iss")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(kept);
        url
    };
    for url in [&answer, &without_iss] {
        let page = browser.navigate(url.as_str()).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}: {}", page.body);
        assert!(
            page.body.contains("started at provider `civic`"),
            "{url}: {}",
            page.body
        );
    }
    // The partner's code went to no token endpoint.
    assert_eq!(civic.count("token").await, 0);
    assert_eq!(partner.count("token").await, 0);
    // At civic's own callback, the partner's `iss` is refused too.
    let mut at_civic = answer.clone();
    at_civic.set_path("/auth/callback");
    let page = browser.navigate(at_civic.as_str()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("unexpected issuer"), "{}", page.body);
    assert_eq!(civic.count("token").await, 0);
    assert_eq!(
        browser.get(&format!("{}/auth/user", app.base)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_route_for_one_provider_refuses_the_others_users() {
    let (_civic, _partner, app) = app::with_two_providers(None, same_host, |c, _| c).await;
    let url = format!("{}/admin/partner", app.base);
    let civic_user = Browser::new();
    civic_user
        .navigate_through_login(
            &format!("{}/auth/login?provider=civic", app.base),
            "ada.lovelace",
        )
        .await;
    // An API call: 403, saying which provider.
    let api = civic_user.get(&url).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.body);
    assert_eq!(api.json()["error"], "wrong_provider");
    assert!(api.json()["message"]
        .as_str()
        .unwrap()
        .contains("`partner`"));
    // A page: a login at the route's provider, back to the page.
    let page = civic_user.navigate(&url).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        location(&page).as_str(),
        format!(
            "{}/auth/login?returnTo=%2Fadmin%2Fpartner&provider=partner",
            app.base
        )
    );
    let landed = civic_user
        .navigate_through_login(&url, "ada.lovelace")
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(landed.body, "partner user ada.lovelace");
    // Logged out, an API call is a 401 as anywhere.
    assert_eq!(
        Browser::new().get(&url).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Routes without a provider serve both.
    let hello = civic_user.get(&format!("{}/admin/hello", app.base)).await;
    assert_eq!(hello.status, StatusCode::OK);
}

#[tokio::test]
async fn tenants_are_kept_apart_by_host() {
    let (civic, partner, app) = app::with_two_providers(None, partner_host, |c, base| {
        let host = Url::parse(base).unwrap().host_str().unwrap().to_owned();
        c.with_tenant(&host, "civic")
            .and_then(|c| c.with_tenant("localhost", "partner"))
            .expect("tenants")
    })
    .await;
    let partner_base = partner_host(&app.base);

    // Each host logs in at its own provider, without a choice.
    let at_partner = Browser::new();
    let start = at_partner
        .navigate(&format!("{partner_base}/auth/login"))
        .await;
    assert!(
        location(&start).as_str().starts_with(&partner.issuer),
        "{}",
        location(&start)
    );
    let start = Browser::new()
        .navigate(&format!("{}/auth/login", app.base))
        .await;
    assert!(
        location(&start).as_str().starts_with(&civic.issuer),
        "{}",
        location(&start)
    );
    // Its own may be named; another tenant's cannot be asked for.
    let named = Browser::new()
        .navigate(&format!("{partner_base}/auth/login?provider=partner"))
        .await;
    assert!(location(&named).as_str().starts_with(&partner.issuer));
    let other = at_partner
        .navigate(&format!("{partner_base}/auth/login?provider=civic"))
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", other.body);

    let landed = at_partner
        .navigate_through_login(&format!("{partner_base}/admin/profile"), "grace.hopper")
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(landed.url.host_str(), Some("localhost"));

    // The partner tenant's session, sent to the other tenant's host, is
    // not logged in there.
    let cookie = at_partner.cookie_header(&format!("{partner_base}/"));
    assert!(!cookie.is_empty());
    let elsewhere = reqwest::Client::new()
        .get(format!("{}/admin/profile", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
    let home = reqwest::Client::new()
        .get(format!("{partner_base}/admin/profile"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    // A logout posted from the tenant's own pages is not a cross-site one.
    let logout = at_partner
        .client
        .post(format!("{partner_base}/auth/logout"))
        .header("origin", &partner_base)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);

    // An API client's opaque token of civic, at the partner's host, is
    // refused without being shown to civic.
    let civic_token = provider_access_token(
        &civic,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "grace.hopper",
    )
    .await;
    let asked = civic.count("introspection").await;
    let at_partner_host = reqwest::Client::new()
        .get(format!("{partner_base}/admin/hello"))
        .bearer_auth(&civic_token)
        .send()
        .await
        .unwrap();
    assert_eq!(at_partner_host.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(civic.count("introspection").await, asked);

    // A host that is no tenant's is refused before anything reads the request.
    let foreign = reqwest::Client::new()
        .get(format!("{}/public", app.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    assert!(foreign.text().await.unwrap().contains("unknown_host"));
}

#[tokio::test]
async fn a_back_channel_logout_ends_only_its_providers_sessions() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::default());
    let (civic, _partner, app) = app::with_two_providers(Some(store), same_host, |c, _| c).await;
    // The same user id at both providers: two people.
    let at_civic = Browser::new();
    at_civic
        .navigate_through_login(
            &format!("{}/auth/login?provider=civic", app.base),
            "ada.lovelace",
        )
        .await;
    let at_partner = Browser::new();
    at_partner
        .navigate_through_login(
            &format!("{}/auth/login?provider=partner", app.base),
            "ada.lovelace",
        )
        .await;
    let hello = format!("{}/admin/hello", app.base);
    assert_eq!(at_civic.get(&hello).await.status, StatusCode::OK);
    assert_eq!(at_partner.get(&hello).await.status, StatusCode::OK);

    suite::log_out_at_provider(&at_civic, &civic, &app.base).await;
    let status = suite::status_soon(&at_civic, &hello, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "civic's logout did not end its session"
    );
    assert_eq!(
        at_partner.get(&hello).await.status,
        StatusCode::OK,
        "the partner's session ended too"
    );
}

#[tokio::test]
async fn api_clients_tokens_of_each_provider_are_accepted_and_named() {
    let (civic, partner, app) = app::with_two_providers(None, same_host, |c, _| c).await;
    let receiver = format!("{}/docs/oauth-receiver.html", app.base);
    for (name, provider) in [("civic", &civic), ("partner", &partner)] {
        let token = provider_access_token(provider, &receiver, "dorothy.vaughan").await;
        let user = reqwest::Client::new()
            .get(format!("{}/auth/user", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(user.status(), StatusCode::OK);
        let user: serde_json::Value = user.json().await.unwrap();
        assert_eq!(
            (user["id"].as_str(), user["provider"].as_str()),
            (Some("dorothy.vaughan"), Some(name))
        );
        // Only the partner's users reach the partner's route.
        let partner_route = reqwest::Client::new()
            .get(format!("{}/admin/partner", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        let expected = if name == "partner" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(partner_route, expected, "{name}");
    }
    // An opaque token neither knows is refused after asking both.
    let made_up = reqwest::Client::new()
        .get(format!("{}/admin/hello", app.base))
        .bearer_auth("made-up-opaque-token")
        .send()
        .await
        .unwrap();
    assert_eq!(made_up.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn redirect_urls_follow_only_the_allowed_hosts() {
    let (acceptor, base) = suite::AppServer::bind().await;
    let other = partner_host(&base);
    let provider = Provider::start_for(&[&base, &other], &[]).await;
    let config = app::config(&base, &provider.oauth_server())
        .build()
        .unwrap()
        .with_allowed_hosts(["LOCALHOST"])
        .unwrap();
    let auth = civic_auth_poem::CivicAuth::new(config, civic_auth_poem::SessionSecret::generate());
    let app = suite::AppServer::serve(acceptor, base.clone(), app::routes(auth));

    // From the other name, the provider is asked to come back there: the
    // login finishes where its cookie is.
    let browser = Browser::new();
    let landed = browser
        .navigate_through_login(&format!("{other}/admin/profile"), "ada.lovelace")
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(landed.url.host_str(), Some("localhost"));
    // Its logout, posted from its own pages, is no cross-site logout, and
    // the provider sends the browser back to that name.
    let logout = browser
        .client
        .post(format!("{other}/auth/logout"))
        .header("origin", &other)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    let end_session = Url::parse(logout.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        end_session
            .query_pairs()
            .any(|(k, v)| k == "post_logout_redirect_uri" && v == format!("{other}/")),
        "{end_session}"
    );
    // The configured name works as before; any other is refused.
    let start = Browser::new()
        .navigate(&format!("{}/auth/login", app.base))
        .await;
    assert_eq!(start.status, StatusCode::FOUND);
    let forged = reqwest::Client::new()
        .get(format!("{}/auth/login", app.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
}

/// The app's OpenAPI spec as `ApiDocs` serves it.
async fn api_docs(app: &suite::AppServer) -> serde_json::Value {
    let answer = reqwest::get(format!("{}/api-docs.json", app.base)).await;
    answer.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_api_docs_have_a_scheme_per_provider_once_each_answers() {
    let (_civic, mut partner, app) = app::with_two_providers(None, same_host, |c, _| c).await;
    let spec = || api_docs(&app);
    let schemes_of = |spec: &serde_json::Value, path: &str| -> Vec<String> {
        spec["paths"][path]["get"]["security"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_object().unwrap().keys().cloned())
            .collect()
    };
    // The partner cannot be reached: its scheme is missing, not made up.
    partner.stop().await;
    let without = spec().await;
    assert!(without["components"]["securitySchemes"]["CivicOAuth2_civic"].is_object());
    assert!(without["components"]["securitySchemes"]["CivicOAuth2_partner"].is_null());
    assert_eq!(
        schemes_of(&without, "/partner"),
        ["CivicSession", "CivicBearer"]
    );
    // Once it answers, each provider has its scheme, and an operation for
    // the partner's users lists only the partner's.
    partner.restart().await;
    let with = spec().await;
    let partner_flow =
        &with["components"]["securitySchemes"]["CivicOAuth2_partner"]["flows"]["authorizationCode"];
    assert!(partner_flow["tokenUrl"]
        .as_str()
        .unwrap()
        .starts_with(&partner.issuer));
    assert_eq!(
        schemes_of(&with, "/me"),
        [
            "CivicSession",
            "CivicBearer",
            "CivicOAuth2_civic",
            "CivicOAuth2_partner"
        ]
    );
    assert_eq!(
        schemes_of(&with, "/partner"),
        ["CivicSession", "CivicBearer", "CivicOAuth2_partner"]
    );
    assert_eq!(spec().await, with, "kept once complete");
}

#[tokio::test]
async fn an_app_with_one_provider_keeps_its_one_scheme_name() {
    let (_provider, app) = app::with_provider(&[], |c| c).await;
    let spec = api_docs(&app).await;
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    let names: Vec<&str> = schemes.keys().map(String::as_str).collect();
    assert_eq!(names, ["CivicBearer", "CivicOAuth2", "CivicSession"]);
    // `/auth/user`'s user names the provider.
    let user = &spec["components"]["schemas"]["CivicUser"]["properties"];
    assert!(
        user["provider"].is_object() && user["id"].is_object(),
        "{user}"
    );
}

#[tokio::test]
async fn the_apps_jwks_has_each_providers_client_key_once() {
    use civic_auth_poem::{CivicAuth, CivicAuthConfig, ClientKey, SessionSecret};
    let key = |name: &str| {
        ClientKey::from_pem_file(suite::repo_root().join("tests/keys").join(name)).unwrap()
    };
    let (acceptor, base) = suite::AppServer::bind().await;
    let provider = |name: &str, key_file: &str| {
        CivicAuthConfig::builder()
            .client_id(name)
            .oauth_server("http://127.0.0.1:9/oauth")
            .client_key(key(key_file))
            .redirect_url(format!("{base}/auth/callback/{name}"))
            .post_logout_redirect_url(format!("{base}/"))
            .build()
            .unwrap()
    };
    let config = app::config(&base, "http://127.0.0.1:9/oauth")
        .client_key(key("ec-a.pem"))
        .build()
        .unwrap()
        .with_provider("partner", provider("partner", "rsa-a.pem"))
        .unwrap()
        .with_provider("again", provider("again", "ec-a.pem"))
        .unwrap();
    let app = suite::AppServer::serve(
        acceptor,
        base,
        app::routes(CivicAuth::new(config, SessionSecret::generate())),
    );
    let set: serde_json::Value = reqwest::get(format!("{}/auth/jwks", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["EC", "RSA"], "{set}");
}
