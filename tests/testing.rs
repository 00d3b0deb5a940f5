//! The `testing` module: its logins pass through the same checks as real
//! ones, so they open only the app they were made for, and step-up routes
//! see the made-up user's login time.

use civic_auth_poem::{
    civic_auth_required, testing::TestLogins, CivicAuth, CivicUser, SessionSecret,
};
use poem::{
    get, handler,
    http::{header, StatusCode},
    test::{TestClient, TestRequestBuilder},
    Endpoint, EndpointExt, Route,
};
use serde_json::json;

#[civic_auth_required]
#[handler]
async fn hello(user: CivicUser) -> String {
    user.id
}

#[civic_auth_required(max_age = 300)]
#[handler]
async fn sensitive(user: CivicUser) -> String {
    user.id
}

fn app(auth: CivicAuth) -> impl Endpoint {
    Route::new()
        .at("/admin/hello", get(hello))
        .at("/admin/sensitive", get(sensitive))
        .with(auth)
}

fn with_token<'a, E: Endpoint>(
    client: &'a TestClient<E>,
    path: &str,
    token: &str,
) -> TestRequestBuilder<'a, E> {
    client
        .get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
}

fn auth() -> CivicAuth {
    CivicAuth::new(
        civic_auth_poem::testing::config(),
        SessionSecret::generate(),
    )
}

#[tokio::test]
async fn a_test_login_opens_only_the_app_it_was_made_for() {
    let (mine, theirs) = (auth(), auth());
    let logins = TestLogins::new(&mine);
    let _other = TestLogins::new(&theirs);
    let ada = CivicUser::new("ada");
    let token = logins.bearer_token(&ada);
    let cookie = logins.session_cookie(&ada).await.unwrap();

    let client = TestClient::new(app(mine));
    with_token(&client, "/admin/hello", &token)
        .send()
        .await
        .assert_text("ada")
        .await;

    // Another app trusts another key, and seals with another secret.
    let other = TestClient::new(app(theirs));
    with_token(&other, "/admin/hello", &token)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    other
        .get("/admin/hello")
        .header(header::COOKIE, cookie)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn step_up_routes_read_the_test_users_login_time() {
    let auth = auth();
    let logins = TestLogins::new(&auth);
    let client = TestClient::new(app(auth));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let user = |auth_time: u64| {
        let mut user = CivicUser::new("ada");
        user.claims.insert("auth_time".into(), json!(auth_time));
        user
    };
    for (auth_time, status) in [
        (now - 10, StatusCode::OK),
        (now - 3600, StatusCode::UNAUTHORIZED),
    ] {
        let token = logins.bearer_token(&user(auth_time));
        let answer = with_token(&client, "/admin/sensitive", &token).send().await;
        answer.assert_status(status);
        if status == StatusCode::UNAUTHORIZED {
            answer.assert_header_exist(header::WWW_AUTHENTICATE);
            let challenge = answer.0.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap();
            assert!(
                challenge.contains("insufficient_user_authentication"),
                "{challenge}"
            );
        }
    }
    // Without a login time, step-up cannot be shown.
    let token = logins.bearer_token(&CivicUser::new("ada"));
    with_token(&client, "/admin/sensitive", &token)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}
