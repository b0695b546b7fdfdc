//! The same shop on PostgreSQL: one database per service on one server. Runs when
//! `BAZAAR_TEST_POSTGRES_URL` names a server (as `.ci/run` does); fails loudly if that
//! server cannot be reached.

use crate::helpers::{Options, Shop, assert_problem, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

fn server() -> Option<String> {
    std::env::var("BAZAAR_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// Drops the test's databases even when an assertion failed.
struct DropDatabases {
    server: String,
    base: String,
}

impl Drop for DropDatabases {
    fn drop(&mut self) {
        let server = self.server.clone();
        let base = self.base.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(mut conn) =
                    sqlx::postgres::PgConnection::connect(&format!("{server}/postgres")).await
                else {
                    return;
                };
                for service in ["identity", "catalog"] {
                    let sql = format!("DROP DATABASE IF EXISTS \"{base}_{service}\" WITH (FORCE)");
                    let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn the_shop_runs_on_postgres_with_a_database_per_service() {
    let Some(server) = server() else {
        eprintln!("skipped: BAZAAR_TEST_POSTGRES_URL is not set");
        return;
    };
    let base = format!("bz_{}", unique().replace('-', "_"));
    let _cleanup = DropDatabases {
        server: server.clone(),
        base: base.clone(),
    };
    let shop = Shop::start_with(Options {
        database: Some(format!("{server}/{base}")),
        ..Options::default()
    });

    let token = shop.customer_token().await;
    let me: Value = shop
        .get("/api/identity/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["customer"]));

    let all: Value = shop
        .get("/api/catalog/products?per_page=3&sort=price_desc")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["total"].as_u64().unwrap() >= 500);
    let prices: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["price_cents"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] >= w[1]), "{prices:?}");

    let admin = shop.admin_token().await;
    let category = all["items"][0]["category"].as_str().unwrap();
    let r = shop
        .post("/api/catalog/products")
        .bearer_auth(&admin)
        .json(
            &json!({"sku": "PG-0001", "name": "Elephant Plush", "description": "Blue.",
                      "category": category, "price_cents": 2500}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = shop
        .post("/api/catalog/products")
        .bearer_auth(&admin)
        .json(
            &json!({"sku": "PG-0001", "name": "Elephant Plush", "description": "Blue.",
                      "category": category, "price_cents": 2500}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::CONFLICT).await;

    // Each service really has its own database on the server.
    let mut conn = sqlx::postgres::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("BAZAAR_TEST_POSTGRES_URL is reachable");
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{base}_%"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut names: Vec<String> = names.into_iter().map(|(n,)| n).collect();
    names.sort();
    assert_eq!(
        names,
        [format!("{base}_catalog"), format!("{base}_identity")]
    );
}
