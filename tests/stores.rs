//! Sessions on several machines: two quickstart instances sharing Redis (one
//! server, one over TLS, a cluster; and two sharing only the secret, with
//! cookie sessions), and Redis going away.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use suite::{free_port, Browser, ClientCerts, Example, Provider, Redis, RedisCluster, RedisTls};

async fn two_quickstarts(env: &[(&str, &str)]) -> (Provider, Example, Example) {
    let (a, b) = (free_port(), free_port());
    let bases = [
        format!("http://127.0.0.1:{a}"),
        format!("http://127.0.0.1:{b}"),
    ];
    let provider = Provider::start_for(&[&bases[0], &bases[1]], &[]).await;
    let first = Example::start_with_env("quickstart", a, &provider, env).await;
    let second = Example::start_with_env("quickstart", b, &provider, env).await;
    (provider, first, second)
}

/// Two quickstarts on the store `env` names: a login on one works on the
/// other, and a logout on the other ends it on both.
async fn instances_share_a_login_and_its_logout(env: &[(&str, &str)], login: &str) {
    let (_provider, first, second) = two_quickstarts(env).await;
    let browser = Browser::new();

    // Log in on one: the session works on the other (cookies are per host,
    // not per port, as for two machines behind one name).
    browser.log_in(&first.base, login).await;
    let profile = browser.get(&format!("{}/admin/profile", second.base)).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.json()["id"], login);
    // The cookie carries only an id: the tokens stay in Redis.
    let cookie = browser.cookie_header(&first.base);
    let session = cookie
        .split("; ")
        .find(|c| c.starts_with("civic_session="))
        .expect("a session cookie");
    assert!(session.len() < 200, "{session}");

    // Log out on the other: it ends on both, the record is gone from Redis
    // (an instance reuses what it read for `session_cache_ttl`, 1 s).
    let logout = browser
        .navigate(&format!("{}/auth/logout", second.base))
        .await;
    assert_eq!(logout.status, StatusCode::FOUND);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for app in [&first, &second] {
        let status = reqwest::Client::new()
            .get(format!("{}/admin/hello", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", app.base);
    }
}

#[tokio::test]
async fn two_instances_share_redis_sessions_and_logout() {
    let redis = Redis::start().await;
    let store = redis.url();
    instances_share_a_login_and_its_logout(&[("CIVIC_SESSION_STORE", &store)], "ada.lovelace")
        .await;
}

/// A TLS-only Redis that asks clients for a certificate, as managed Redis
/// services are set up; the examples read the certificates' paths.
#[tokio::test]
async fn two_instances_share_sessions_on_redis_over_tls() {
    let redis = RedisTls::start(ClientCerts::Required).await;
    let (store, ca) = (redis.url(), redis.ca_path().display().to_string());
    let cert = redis.client_cert_path().display().to_string();
    let key = redis.client_key_path().display().to_string();
    let env = [
        ("CIVIC_SESSION_STORE", store.as_str()),
        ("CIVIC_REDIS_CA_CERT", &ca),
        ("CIVIC_REDIS_CLIENT_CERT", &cert),
        ("CIVIC_REDIS_CLIENT_KEY", &key),
    ];
    instances_share_a_login_and_its_logout(&env, "katherine.johnson").await;
    let keys = redis.cli(&["--scan", "--pattern", "civic:*"]).await;
    assert!(keys.contains("civic:tag:"), "{keys}");
}

#[tokio::test]
async fn two_instances_share_sessions_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    let store = cluster.url();
    instances_share_a_login_and_its_logout(&[("CIVIC_SESSION_STORE", &store)], "dorothy.vaughan")
        .await;
}

#[tokio::test]
async fn two_instances_with_one_secret_share_cookie_sessions() {
    let (_provider, first, second) = two_quickstarts(&[]).await;
    let browser = Browser::new();
    browser.log_in(&first.base, "grace.hopper").await;
    let hello = browser.get(&format!("{}/admin/hello", second.base)).await;
    assert_eq!(hello.status, StatusCode::OK);
}

#[tokio::test]
async fn redis_down_gives_503_on_session_routes_only_and_service_resumes() {
    let mut redis = Redis::start().await;
    let store = redis.url();
    let (_provider, first, _second) = two_quickstarts(&[("CIVIC_SESSION_STORE", &store)]).await;
    let browser = Browser::new();
    browser.log_in(&first.base, "hedy.lamarr").await;

    redis.stop().await;
    // Without Redis's change reports, nothing remembered is trusted: the
    // store is asked, and it is down.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let hello = browser.get(&format!("{}/admin/hello", first.base)).await;
    assert_eq!(
        hello.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        hello.body
    );
    assert!(
        hello.body.contains("session store is unavailable"),
        "{}",
        hello.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let public = browser.get(&format!("{}/public", first.base)).await;
    assert_eq!(public.status, StatusCode::OK);
    // A login cannot store its session: a clear 503, not a 500.
    let login = Browser::new().log_in(&first.base, "hedy.lamarr").await;
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.body
    );

    // Redis is back (empty: it kept nothing): old sessions are gone, new logins work.
    redis.restart().await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = browser
            .get(&format!("{}/admin/hello", first.base))
            .await
            .status;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    browser.log_in(&first.base, "hedy.lamarr").await;
    let hello = browser.get(&format!("{}/admin/hello", first.base)).await;
    assert_eq!(hello.status, StatusCode::OK);
}

#[tokio::test]
async fn redis_stopping_mid_load_answers_200_or_503_never_worse() {
    let mut redis = Redis::start().await;
    let store = redis.url();
    let (_provider, first, _second) = two_quickstarts(&[("CIVIC_SESSION_STORE", &store)]).await;
    let browser = Browser::new();
    browser.log_in(&first.base, "load.tester").await;
    let cookie = browser.cookie_header(&first.base);

    let url = format!("{}/admin/hello", first.base);
    let load = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            let answer = client.get(&url).header("cookie", &cookie).send().await;
            statuses.push(answer.map(|r| r.status().as_u16()).unwrap_or(0));
        }
        statuses
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.stop().await;
    let statuses = load.await.unwrap();
    assert!(statuses.len() > 10, "{}", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{:?}",
        statuses
            .iter()
            .filter(|s| **s != 200 && **s != 503)
            .collect::<Vec<_>>()
    );
    assert!(statuses.contains(&200) && statuses.contains(&503));
}
