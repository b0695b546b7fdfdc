//! The shop as an attacker meets it, with its default protections on.

use crate::helpers::{Options, Shop, eventually, send_json, unique};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_password_brute_force_through_the_gateway_is_stopped() {
    let shop = Shop::start_with(Options::env("BAZAAR_RATE_LIMITS", "on"));
    let email = format!("victim-{}@example.com", unique());
    let password = "the real long password";
    shop.register(&email, password, "Victim").await;

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..30 {
        let r = shop.try_login(&email, &format!("guess number {i}")).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r.headers().get("retry-after").cloned();
        }
        statuses.push(r.status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        !statuses.contains(&StatusCode::OK),
        "no guess succeeds: {statuses:?}"
    );
    let retry: u64 = retry_after
        .expect("a 429 has Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);

    let r = shop.try_login(&email, password).await;
    assert_ne!(
        r.status(),
        StatusCode::OK,
        "the right password during the lock is not let in"
    );
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The event feeds answer on each service's own port, where the gateway's rules do not
/// apply: only other services get them, the log only its subscribers, and a cursor moves
/// only for its own consumer.
/// The data directory holds identity's signing keys and every customer's data: nobody but
/// its owner may read any of it.
#[tokio::test]
async fn the_data_directory_and_every_file_in_it_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let shop = Shop::start();
    // A write, so that the databases and their logs exist beyond what start-up made.
    let _ = shop.customer_token().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&shop.data_dir), 0o700, "the data directory");
    let mut files = 0;
    let mut dirs = vec![shop.data_dir.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                assert_eq!(
                    mode(&path) & 0o077,
                    0,
                    "{} is open to others",
                    path.display()
                );
                dirs.push(path);
            } else {
                files += 1;
                assert_eq!(
                    mode(&path) & 0o077,
                    0,
                    "{} is open to others",
                    path.display()
                );
            }
        }
    }
    assert!(
        shop.data_dir.join("identity.db").exists() && files > 10,
        "{files} files"
    );
}

#[tokio::test]
async fn only_identity_is_given_the_admin_accounts_password() {
    let shop = Shop::start();
    let processes = shop.processes().await;
    assert_eq!(processes.len(), 11, "{processes:?}");
    for p in processes {
        let (service, pid) = (p["service"].as_str().unwrap(), p["pid"].as_u64().unwrap());
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let names: Vec<String> = environ
            .split(|b| *b == 0)
            .filter_map(|var| var.split(|b| *b == b'=').next())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n == "LISTEN_FDS"),
            "{service}: {names:?}"
        );
        let holds = names.iter().any(|n| n == "BAZAAR_ADMIN_PASSWORD");
        assert_eq!(
            holds,
            service == "identity",
            "{service} holds the admin password: {holds}"
        );
    }
}

#[tokio::test]
async fn event_feeds_answer_only_the_services_that_subscribe() {
    const SECRET: &str = "a-service-secret-for-the-feed-test";
    let shop = Shop::start_with(Options::env("BAZAAR_SERVICE_SECRET", SECRET));
    let urls = shop.service_urls().await;
    let (catalog, identity) = (&urls["catalog"], &urls["identity"]);
    let http = reqwest::Client::new();
    let service_token = async |service: &str| -> String {
        let r = http
            .post(format!("{identity}/api/identity/service-tokens"))
            .json(&json!({"service": service, "secret": platform::auth::service_key(SECRET, service)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "a token for {service}");
        let body: serde_json::Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let (cart, payments) = (service_token("cart").await, service_token("payments").await);
    let (customer, admin) = (shop.customer_token().await, shop.admin_token().await);
    let status = async |path: &str, token: Option<&str>| -> StatusCode {
        let mut r = http.get(format!("{catalog}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap().status()
    };

    let log = "/events/log?after=0&limit=5";
    for path in [log, "/events/outbox", "/events/head?types=x"] {
        assert_eq!(status(path, None).await, StatusCode::UNAUTHORIZED, "{path}");
        // Service credentials only (the outside contract): not an administrator's either.
        for (who, token) in [("a customer", &customer), ("an administrator", &admin)] {
            let got = status(path, Some(token)).await;
            assert_eq!(got, StatusCode::FORBIDDEN, "{path} for {who}");
        }
    }
    let own_cursor = format!("{log}&consumer=cart");
    let others_cursor = format!("{log}&consumer=search");
    let (ok, forbidden) = (StatusCode::OK, StatusCode::FORBIDDEN);
    for (path, token, expected, who) in [
        (log, &cart, ok, "a subscriber"),
        (own_cursor.as_str(), &cart, ok, "a subscriber's own cursor"),
        (others_cursor.as_str(), &cart, forbidden, "another's cursor"),
        (
            log,
            &payments,
            forbidden,
            "payments takes no catalog events",
        ),
    ] {
        assert_eq!(status(path, Some(token)).await, expected, "{who}");
    }

    // The figures and the newest events' types, for any service: no payloads.
    let outbox = send_json(
        http.get(format!("{catalog}/events/outbox?recent=3"))
            .bearer_auth(&payments),
    )
    .await;
    let recent = outbox["recent"].as_array().expect("the newest events");
    assert_eq!(recent.len(), 3, "{outbox}");
    for e in recent {
        assert!(
            e["type"].as_str().unwrap().starts_with("bazaar.catalog."),
            "{e}"
        );
        assert!(e.get("data").is_none() && e.get("payload").is_none(), "{e}");
    }

    // The same figures as gauges, for Prometheus: the head, and each embedded consumer's
    // backlog (looked up every 5 s).
    let head = outbox["head"].as_i64().unwrap();
    assert!(head > 0, "{outbox}");
    let metrics = eventually(
        std::time::Duration::from_secs(15),
        std::time::Duration::from_millis(250),
        async || {
            let metrics = http
                .get(format!("{catalog}/metrics"))
                .bearer_auth(&admin)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            // A sample of `name` whose labels include `label`, as a number.
            let gauge = |name: &str, label: &str| {
                metrics
                    .lines()
                    .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
                    .find_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            };
            let seen = gauge("bazaar_outbox_head", "service=\"catalog\"");
            let search = gauge("bazaar_events_consumer_backlog", "consumer=\"search\"");
            if seen.is_some_and(|h| h >= head) && search.is_some_and(|b| b >= 0) {
                Ok(metrics)
            } else {
                Err(format!(
                    "no outbox gauges: head {seen:?}, search's backlog {search:?}"
                ))
            }
        },
    )
    .await;
    assert!(
        metrics.contains("# TYPE bazaar_outbox_head gauge"),
        "{metrics}"
    );
}

/// `bazaar keys rotate` on a running shop: the new key signs once its time comes, tokens
/// the old key signed keep working through the gateway, and nobody is signed out.
#[tokio::test]
async fn keys_rotate_from_the_command_line_and_nobody_is_signed_out() {
    use bazaar::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, bazaar_bin};
    let shop = Shop::start();
    let keys = async |args: &[&str]| -> serde_json::Value {
        let out = tokio::process::Command::new(bazaar_bin())
            .arg("keys")
            .args(args)
            .env("BAZAAR_URL", &shop.url)
            .env("BAZAAR_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("BAZAAR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .await
            .expect("bazaar keys starts");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap()
    };
    // A token's JOSE header (the part naming its key), as sent.
    let header = |token: &str| token.split('.').next().unwrap().to_owned();
    let cart = async |token: &str| {
        shop.get("/api/cart")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    let before = shop.customer_token().await;
    assert_eq!(cart(&before).await, StatusCode::OK);

    // Not sooner than a verifier may fetch the keys again after its last fetch (5 s), and
    // late enough that signing up a shopper on a busy machine still comes before it. (The
    // default is a minute.)
    let key = keys(&["rotate", "--activate-in", "20"]).await;
    let due = std::time::Instant::now() + std::time::Duration::from_secs(20);
    assert_eq!(key["state"], "next", "{key}");
    let meanwhile = shop.customer_token().await;
    assert_eq!(
        header(&meanwhile),
        header(&before),
        "the old key signs until then"
    );

    tokio::time::sleep_until((due + std::time::Duration::from_millis(500)).into()).await;
    let after = shop.customer_token().await;
    assert_ne!(header(&after), header(&before), "the new key signs");
    assert_eq!(cart(&after).await, StatusCode::OK, "the new key's token");
    assert_eq!(cart(&before).await, StatusCode::OK, "the old key's token");
    let states: Vec<serde_json::Value> = keys(&["list"])
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].clone())
        .collect();
    assert_eq!(states, [json!("verifying"), json!("signing")]);
}
