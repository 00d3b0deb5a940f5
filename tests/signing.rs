//! ID tokens signed with every public-key algorithm of OpenID Connect and
//! FAPI 2.0 (RSA PKCS#1 and PSS, ECDSA on P-256 and P-384, Ed25519), each
//! from the real provider with the client registered for it.

use reqwest::StatusCode;
use serde_json::json;
use suite::{app, Browser};

#[tokio::test]
async fn a_login_with_each_id_token_algorithm() {
    let algs = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ];
    let mut logins = tokio::task::JoinSet::new();
    for alg in algs {
        logins.spawn(async move {
            let registration = |_: &str| json!({ "id_token_signed_response_alg": alg });
            let (provider, app) = app::with_registered_provider(registration, &[], |c| c).await;
            let browser = Browser::new();
            browser.log_in(&app.base, "ada.lovelace").await;
            let profile = browser.get(&format!("{}/admin/profile", app.base)).await;
            assert_eq!(profile.status, StatusCode::OK, "{alg}: {}", profile.body);
            assert_eq!(profile.json()["id"], "ada.lovelace", "{alg}");
            drop(provider);
        });
    }
    logins.join_all().await;
}
