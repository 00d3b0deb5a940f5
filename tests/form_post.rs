//! `response_mode=form_post` against the real provider, in-process (the
//! journey through Chromium is in `tests/browser.rs`): the login cookie goes
//! with posts from the provider's site, but only to the auth routes, and an
//! answer that comes another way than the app asked is refused.

use civic_auth_poem::ResponseMode;
use reqwest::StatusCode;
use suite::{app, Browser};

/// A login ends logged in, its cookie as said above; a code in a URL and
/// an oversized form are refused.
#[tokio::test]
async fn a_form_posted_login_and_answers_that_come_another_way() {
    let (_provider, app) =
        app::with_provider(&[], |c| c.response_mode(ResponseMode::FormPost)).await;
    let browser = Browser::new();
    let start = browser.navigate(&format!("{}/auth/login", app.base)).await;
    let cookie = start
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("civic_auth_tx."))
        .expect("a login cookie");
    for attribute in ["HttpOnly", "SameSite=None", "Secure", "Path=/auth;"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    let landed = browser
        .navigate_through_login(start.location().unwrap().as_str(), "ada.lovelace")
        .await;
    assert_eq!(landed.url.path(), "/", "{}", landed.body);
    let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
    assert_eq!(profile.status, StatusCode::OK);

    // The code in a URL, as a replayed or leaked answer would bring it.
    let callback = format!("{}/auth/callback?code=c&state=s", app.base);
    let page = browser.navigate(&callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("came in the URL"), "{}", page.body);
    // More than any answer needs.
    let big = "c".repeat(9000);
    let fields = [("code", big.as_str()), ("state", "s")];
    let page = browser
        .request(reqwest::Method::POST, &callback, "text/html", Some(&fields))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("larger than 8192 bytes"),
        "{}",
        page.body
    );
}

/// An app that takes answers in the URL refuses a posted one.
#[tokio::test]
async fn a_posted_answer_is_refused_by_an_app_that_takes_it_in_the_url() {
    let (_provider, app) = app::with_provider(&[], |c| c).await;
    let fields = [("code", "c"), ("state", "s")];
    let page = Browser::new()
        .request(
            reqwest::Method::POST,
            &format!("{}/auth/callback", app.base),
            "text/html",
            Some(&fields),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("came as a posted form"), "{}", page.body);
}

/// A provider that does not offer form_post is named at login, with the
/// setting that asks for it; one that offers it, or does not say, is used.
#[tokio::test]
async fn a_provider_without_form_post_is_named_at_login() {
    for (modes, offered) in [
        (vec!["query", "fragment"], false),
        (vec!["query", "form_post"], true),
    ] {
        let (fake, app) =
            app::with_fake_provider(|c| c.response_mode(ResponseMode::FormPost)).await;
        fake.update(|s| s.response_modes = Some(modes.clone()));
        let page = Browser::new()
            .navigate(&format!("{}/auth/login", app.base))
            .await;
        if offered {
            assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
            assert!(page
                .location()
                .unwrap()
                .as_str()
                .contains("response_mode=form_post"));
        } else {
            assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
            assert!(
                page.body.contains("response_mode=form_post")
                    && page.body.contains("CIVIC_RESPONSE_MODE"),
                "{}",
                page.body
            );
        }
    }
}
