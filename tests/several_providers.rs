//! `examples/several_providers.rs` with two providers of two
//! implementations: `civic` is `oidc-provider`, `partner` is LemonLDAP::NG.
//! A login through each, the mix-up attack refused, a route for the
//! partner's users, tenants kept apart by host, a back-channel logout from
//! one that leaves the other's sessions, and API clients' tokens of each.

use reqwest::StatusCode;
use suite::{
    free_port,
    lemonldap::{
        lemonldap_access_token, lemonldap_answer_for, navigate_through_lemonldap_login, LemonLdap,
        LemonLdapClient,
    },
    provider_access_token, Browser, Example, Provider,
};

const PARTNER_ID: &str = "several-providers";
/// Plain, as LemonLDAP::NG 2.16 reads Basic credentials.
const PARTNER_SECRET: &str = "partner-client-secret";

struct Apps {
    civic: Provider,
    partner: LemonLdap,
    partner_client: LemonLdapClient,
    app: Example,
    /// Where the partner's users reach the app.
    partner_base: String,
}

/// The example at 127.0.0.1 with its two providers, a memory store, and
/// the partner's users at `partner_base(base)`: the same host, or
/// `localhost` as the partner's tenant (`PARTNER_HOST`).
async fn several_providers(tenants: bool) -> Apps {
    let base = format!("http://127.0.0.1:{}", free_port());
    let partner_base = match tenants {
        true => base.replace("127.0.0.1", "localhost"),
        false => base.clone(),
    };
    let civic = Provider::start_for(&[&base], &[]).await;
    let partner_client = LemonLdapClient {
        secret: Some(PARTNER_SECRET.to_owned()),
        redirect_uris: vec![format!("{partner_base}/auth/callback/partner")],
        post_logout_redirect_uris: vec![format!("{base}/")],
        access_token_jwt: true,
        ..LemonLdapClient::for_app(PARTNER_ID, &base)
    };
    let partner = LemonLdap::start(std::slice::from_ref(&partner_client)).await;
    // The example's default redirect URL: at the partner's host, if any.
    let oauth_server = partner.oauth_server();
    let mut env = vec![
        ("PARTNER_OAUTH_SERVER", oauth_server.as_str()),
        ("PARTNER_CLIENT_ID", PARTNER_ID),
        ("PARTNER_CLIENT_SECRET", PARTNER_SECRET),
        ("CIVIC_SESSION_STORE", "memory"),
    ];
    if tenants {
        env.push(("PARTNER_HOST", "localhost"));
    }
    let app = Example::start_at("several_providers", &base, &civic, &env).await;
    Apps {
        civic,
        partner,
        partner_client,
        app,
        partner_base,
    }
}

#[tokio::test]
async fn a_login_through_each_and_a_route_for_the_partners_users() {
    let apps = several_providers(false).await;
    let base = &apps.app.base;

    // The partner's user chooses on the page, logs in through LemonLDAP::NG's form.
    let at_partner = Browser::new();
    let choice = at_partner.navigate(&format!("{base}/auth/login")).await;
    assert_eq!(choice.status, StatusCode::OK);
    assert!(
        choice.body.contains("href=\"?provider=partner\""),
        "{}",
        choice.body
    );
    let home = navigate_through_lemonldap_login(
        &at_partner,
        &format!("{base}/auth/login?provider=partner"),
        "dwho",
        "dwho",
    )
    .await;
    assert!(
        home.body.contains("logged in with partner"),
        "{}",
        home.body
    );
    let reports = at_partner.get(&format!("{base}/partner/reports")).await;
    assert_eq!(reports.status, StatusCode::OK, "{}", reports.body);
    let user = at_partner.get(&format!("{base}/auth/user")).await.json();
    assert_eq!(
        (&user["id"], &user["provider"]),
        (&"dwho".into(), &"partner".into())
    );

    // Civic's user through oidc-provider's forms: the partner's route refuses it.
    let at_civic = Browser::new();
    let home = at_civic
        .navigate_through_login(&format!("{base}/auth/login?provider=civic"), "dwho")
        .await;
    assert!(home.body.contains("logged in with civic"), "{}", home.body);
    let reports = at_civic.get(&format!("{base}/partner/reports")).await;
    assert_eq!(reports.status, StatusCode::FORBIDDEN, "{}", reports.body);
    let page = at_civic.navigate(&format!("{base}/partner/reports")).await;
    assert_eq!(
        page.location().unwrap().as_str(),
        format!("{base}/auth/login?returnTo=%2Fpartner%2Freports&provider=partner")
    );
    let hello = at_civic.get(&format!("{base}/admin/hello")).await;
    assert_eq!(hello.status, StatusCode::OK);
}

#[tokio::test]
async fn a_partner_answer_to_a_civic_login_is_refused() {
    let Apps {
        civic,
        partner,
        app,
        ..
    } = several_providers(false).await;
    let browser = Browser::new();
    // What a mix-up attacker's provider does: the login's request, carried
    // to the partner, which answers at its own callback.
    let state = suite::start_login_at(&browser, &app.base, "civic").await;
    let at_partner = suite::mix_up_request(
        &format!("{}/oauth2/authorize", partner.issuer),
        PARTNER_ID,
        &format!("{}/auth/callback/partner", app.base),
        &state,
    );
    let answer =
        lemonldap_answer_for(&browser, at_partner.as_str(), "dwho", "dwho", &app.base).await;
    assert_eq!(answer.path(), "/auth/callback/partner");
    assert!(answer.query_pairs().any(|(k, _)| k == "code"), "{answer}");
    let page = browser.navigate(answer.as_str()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.body.contains("started at provider `civic`"),
        "{}",
        page.body
    );
    // No code went to a token endpoint.
    assert_eq!(civic.count("token").await, 0);
    assert_eq!(partner.requests("POST", "/oauth2/token"), 0);
    let user = browser.get(&format!("{}/auth/user", app.base)).await;
    assert_eq!(user.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenants_are_kept_apart_by_host() {
    let Apps {
        civic,
        partner,
        app,
        partner_base,
        ..
    } = several_providers(true).await;
    // Each host logs in at its own provider, without a choice.
    let at_partner = Browser::new();
    let start = at_partner
        .navigate(&format!("{partner_base}/auth/login"))
        .await;
    assert!(start
        .location()
        .unwrap()
        .as_str()
        .starts_with(&partner.issuer));
    let start = Browser::new()
        .navigate(&format!("{}/auth/login", app.base))
        .await;
    assert!(start
        .location()
        .unwrap()
        .as_str()
        .starts_with(&civic.issuer));

    let landed = navigate_through_lemonldap_login(
        &at_partner,
        &format!("{partner_base}/partner/reports"),
        "rtyler",
        "rtyler",
    )
    .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(landed.url.host_str(), Some("localhost"));
    // Its cookie opens nothing at the other tenant's host.
    let cookie = at_partner.cookie_header(&format!("{partner_base}/"));
    let status = |url: String| {
        let cookie = cookie.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        status(format!("{partner_base}/admin/hello")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(format!("{}/admin/hello", app.base)).await,
        StatusCode::UNAUTHORIZED
    );
    // A host that is no tenant's: 400.
    let foreign = reqwest::Client::new()
        .get(format!("{}/", app.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_back_channel_logout_from_civic_leaves_the_partners_sessions() {
    let apps = several_providers(false).await;
    let (civic, base) = (&apps.civic, &apps.app.base);
    // `dwho` at both: two people.
    let at_civic = Browser::new();
    at_civic
        .navigate_through_login(&format!("{base}/auth/login?provider=civic"), "dwho")
        .await;
    let at_partner = Browser::new();
    navigate_through_lemonldap_login(
        &at_partner,
        &format!("{base}/auth/login?provider=partner"),
        "dwho",
        "dwho",
    )
    .await;
    let hello = format!("{base}/admin/hello");
    assert_eq!(at_civic.get(&hello).await.status, StatusCode::OK);
    assert_eq!(at_partner.get(&hello).await.status, StatusCode::OK);

    suite::log_out_at_provider(&at_civic, civic, base).await;
    let status = suite::status_soon(&at_civic, &hello, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "civic's logout did not end its session"
    );
    assert_eq!(at_partner.get(&hello).await.status, StatusCode::OK);
}

#[tokio::test]
async fn api_clients_tokens_of_each_provider_are_accepted() {
    let Apps {
        civic,
        partner,
        partner_client,
        app,
        ..
    } = several_providers(false).await;
    let civic_token = provider_access_token(
        &civic,
        &format!("{}/docs/oauth-receiver.html", app.base),
        "dorothy.vaughan",
    )
    .await;
    // A JWT access token, verified with LemonLDAP::NG's keys.
    let partner_token = lemonldap_access_token(&partner, &partner_client, "msmith", "msmith").await;
    for (token, id, reports) in [
        (&civic_token, "dorothy.vaughan", StatusCode::FORBIDDEN),
        (&partner_token, "msmith", StatusCode::OK),
    ] {
        let get = |path: &str| {
            reqwest::Client::new()
                .get(format!("{}{path}", app.base))
                .bearer_auth(token)
                .send()
        };
        let hello = get("/admin/hello").await.unwrap();
        assert_eq!(hello.status(), StatusCode::OK, "{id}");
        assert_eq!(
            get("/partner/reports").await.unwrap().status(),
            reports,
            "{id}"
        );
    }
}
