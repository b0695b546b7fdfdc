//! `bazaar load` against a whole shop: each scenario briefly and without an error, and
//! the payments ledger agreeing with what the load counted as bought.

use crate::helpers::{Options, Shape, Shop};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs `bazaar load` (the real binary) against the shop and returns its JSON summary.
async fn load(shop: &Shop, out: &Path, name: &str, args: &[&str]) -> Value {
    let json = out.join(format!("{name}.json"));
    let run = tokio::process::Command::new(bazaar::testing::bazaar_bin())
        .arg("load")
        .args(["--url", &shop.url, "--timeout", "30s", "--json"])
        .arg(&json)
        .args(args)
        .env_remove("BAZAAR_URL")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("bazaar load {args:?} did not end within 120 s"))
        .expect("bazaar load starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bazaar load {args:?} failed: {stderr}\n{stdout}"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&json).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    assert_eq!(
        summary["errors"],
        0,
        "{name}: {stdout}\n{}\nthe shop's log:\n{}",
        summary["error_examples"],
        shop.log_tail(80)
    );
    assert!(summary["runs"].as_u64().unwrap() > 0, "{name}: {stdout}");
    assert!(
        stdout.contains(&format!("bazaar load: {name} scenario")),
        "{stdout}"
    );
    summary
}

fn count(summary: &Value, step: &str) -> u64 {
    summary["steps"][step]["count"].as_u64().unwrap_or_default()
}

fn checkouts(summary: &Value, field: &str) -> u64 {
    summary["checkouts"][field].as_u64().unwrap_or_default()
}

/// Waits until the event-fed read models have caught up with the seeded catalog: a
/// shop that has just started is still feeding recommendations its 600 products, and
/// asking about one it has not heard of yet is a 404.
async fn settle(shop: &Shop) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for product in shop.catalog_products().await {
        let id = product["id"].as_str().unwrap();
        let path = format!("/api/recommendations/products/{id}");
        while shop.get(&path).send().await.unwrap().status() != StatusCode::OK {
            assert!(
                Instant::now() < deadline,
                "recommendations did not learn of {id} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

crate::in_both_shapes!(every_scenario_runs_clean_and_the_ledger_agrees_with_the_load);
async fn every_scenario_runs_clean_and_the_ledger_agrees_with_the_load(shape: Shape) {
    let shop = Shop::start_with(Options::env("BAZAAR_RATE_LIMITS", "off").in_shape(shape));
    let out: PathBuf = shop.data_dir.with_extension("load");
    std::fs::create_dir_all(&out).unwrap();
    let report = out.join("report");
    settle(&shop).await;

    // Open loop: exactly rate × duration runs, each through every browsing step.
    let browse = load(
        &shop,
        &out,
        "browse",
        &[
            "--scenario",
            "browse",
            "--rate",
            "15",
            "--duration",
            "3s",
            "--seed",
            "1",
        ],
    )
    .await;
    assert_eq!(browse["runs"], 45);
    for step in ["home", "category", "search", "product", "recommendations"] {
        assert_eq!(count(&browse, step), 45, "{step}: {}", browse["steps"]);
    }

    // Seed 5 declines some of the 16 cards.
    let checkout = load(
        &shop,
        &out,
        "checkout",
        &[
            "--scenario",
            "checkout",
            "--rate",
            "4",
            "--duration",
            "4s",
            "--seed",
            "5",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(checkout["runs"], 16);
    let (confirmed, declined) = (
        checkouts(&checkout, "confirmed"),
        checkouts(&checkout, "declined"),
    );
    assert_eq!(confirmed + declined, 16, "{}", checkout["checkouts"]);
    assert!(confirmed > 0 && declined > 0, "{}", checkout["checkouts"]);
    assert_eq!(count(&checkout, "checkout"), confirmed);
    assert_eq!(count(&checkout, "checkout_declined"), declined);
    assert_eq!(checkouts(&checkout, "out_of_stock"), 0);
    assert_eq!(checkouts(&checkout, "accepted"), 0);

    // Closed loop, every kind of run.
    let mixed = load(
        &shop,
        &out,
        "mixed",
        &[
            "--scenario",
            "mixed",
            "--users",
            "4",
            "--duration",
            "3s",
            "--seed",
            "9",
        ],
    )
    .await;
    let flows: u64 = mixed["flows"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(flows, mixed["runs"].as_u64().unwrap());
    assert!(
        mixed["flows"]["browse"].as_u64().unwrap() > 0,
        "{}",
        mixed["flows"]
    );
    assert_eq!(checkouts(&mixed, "accepted"), 0);

    // Every checkout the load counted as confirmed is a captured payment, and nothing
    // else is: no capture for a declined card.
    let runs = [&browse, &checkout, &mixed];
    let confirmed: u64 = runs.iter().map(|s| checkouts(s, "confirmed")).sum();
    let confirmed_cents: u64 = runs.iter().map(|s| checkouts(s, "confirmed_cents")).sum();
    let admin = shop.admin_token().await;
    let ledger = shop
        .json("/api/payments/ledger/summary", Some(&admin))
        .await;
    assert_eq!(ledger["captured_cents"], confirmed_cents, "{ledger}");
    assert_eq!(ledger["authorized_cents"], confirmed_cents, "{ledger}");
    assert_eq!(ledger["voided_cents"], 0, "{ledger}");
    // An authorisation and a capture per confirmed checkout.
    assert_eq!(ledger["count"], 2 * confirmed, "{ledger}");

    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains("checkout_declined"));
    let _ = std::fs::remove_dir_all(&out);
}
