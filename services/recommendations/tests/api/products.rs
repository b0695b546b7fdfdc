//! Next to a product: what was bought with it first, then its category's popular
//! products, then the shop's; the catalog's changes show up, a deleted product leaves.

use crate::helpers::{Product, assert_problem, ids, spawn_app};
use events::Outcome;
use reqwest::StatusCode;
use sqlx::Row;
use std::collections::HashSet;

/// `(id, reason)` of each item.
fn ranked(items: &[serde_json::Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ranks<'a>(
    products: impl IntoIterator<Item = &'a Product>,
    reason: &str,
) -> Vec<(String, String)> {
    products
        .into_iter()
        .map(|p| (p.id.clone(), reason.to_owned()))
        .collect()
}

#[tokio::test]
async fn bought_together_comes_first_then_the_category_then_the_shop() {
    // Arrange: A is bought with B three times and with C once; D sells alone twice.
    let app = spawn_app().await;
    let categories = app.categories_by_size();
    let home = app.newest_in(&categories[0]);
    assert!(
        home.len() >= 3,
        "the seed's largest category has room to fill from"
    );
    let (a, b) = (home[0].id.clone(), home[1].id.clone());
    let c = app.newest_in(&categories[1])[0].id.clone();
    let d = app.newest_in(&categories[2])[0].id.clone();
    let mut deliveries = Vec::new();
    for _ in 0..3 {
        deliveries.push(app.confirm_order("u-1", &[&a, &b]).await);
    }
    deliveries.push(app.confirm_order("u-2", &[&c, &a]).await);
    for _ in 0..2 {
        app.confirm_order("u-3", &[&d]).await;
    }

    // Act
    let items = app.for_product(&a, None).await;

    // Assert: B then C, then A's category (nobody ordered those: newest first), then the
    // shop's most ordered product not shown yet (D), then the newest.
    let mut expected = vec![
        (b.clone(), "bought_together".to_owned()),
        (c.clone(), "bought_together".to_owned()),
    ];
    expected.extend(ranks(
        home.iter().skip(2).copied().take(4),
        "popular_in_category",
    ));
    if expected.len() < 6 {
        expected.push((d.clone(), "popular".to_owned()));
    }
    let mut newest: Vec<&Product> = app.seed.iter().collect();
    newest.sort_by(|x, y| y.created_at.cmp(&x.created_at).then(x.id.cmp(&y.id)));
    for p in newest {
        if expected.len() == 6 {
            break;
        }
        if p.id != a && !expected.iter().any(|(id, _)| *id == p.id) {
            expected.push((p.id.clone(), "popular".to_owned()));
        }
    }
    assert_eq!(ranked(&items), expected);
    let first = &items[0];
    assert_eq!(first["category"], categories[0].as_str());
    assert_eq!(first["currency"], "USD");
    assert!(first["price_cents"].as_i64().unwrap() > 0, "{first}");
    assert!(
        first["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{first}"
    );

    // The limit is kept, and the product itself never shows, whatever the length.
    assert_eq!(ids(&app.for_product(&a, Some(1)).await), [b.as_str()]);
    let all = app.for_product(&a, Some(20)).await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 20);
    assert!(!all_ids.contains(&a.as_str()), "{all_ids:?}");
    assert_eq!(
        all_ids.iter().collect::<HashSet<_>>().len(),
        20,
        "no repeats"
    );

    // Act: an order is delivered again, and announced again under another event id.
    let again = app.deliver(&deliveries[0]).await;
    let mut reannounced = deliveries[3].clone();
    reannounced.id = uuid::Uuid::now_v7().to_string();
    let reannounced = app.deliver(&reannounced).await;

    // Assert: neither counts twice.
    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(reannounced, Outcome::Handled);
    let pair_count = |other: String| {
        let db = app.db.clone();
        let a = a.clone();
        async move {
            sqlx::query("SELECT count FROM pairs WHERE product_id = $1 AND other_id = $2")
                .bind(a)
                .bind(other)
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get::<i64, _>("count")
        }
    };
    assert_eq!(pair_count(b.clone()).await, 3);
    assert_eq!(pair_count(c.clone()).await, 1);
    assert_eq!(ranked(&app.for_product(&a, None).await), expected);
}

#[tokio::test]
async fn a_deleted_product_leaves_and_a_new_price_shows() {
    // Arrange: A is bought with B twice and with C once.
    let app = spawn_app().await;
    let categories = app.categories_by_size();
    let a = app.newest_in(&categories[0])[0].id.clone();
    let b = app.newest_in(&categories[1])[0].id.clone();
    let c = app.newest_in(&categories[2])[0].id.clone();
    app.confirm_order("u-1", &[&a, &b]).await;
    app.confirm_order("u-2", &[&a, &b]).await;
    app.confirm_order("u-3", &[&a, &c]).await;
    assert_eq!(
        ids(&app.for_product(&a, Some(2)).await),
        [b.as_str(), c.as_str()]
    );

    // Act: the catalog reprices C.
    app.catalog_admin().set_price(&c, 777).await;

    // Assert: the new price shows.
    crate::helpers::eventually("C's new price", async || {
        let items = app.for_product(&a, Some(2)).await;
        (items[1]["price_cents"] == 777).then_some(())
    })
    .await;

    // Act: an administrator deletes B in the catalog.
    app.catalog_admin().delete_product(&b).await;

    // Assert: B leaves A's recommendations (C moves up) and has none of its own.
    let items = crate::helpers::eventually("B to leave A's recommendations", async || {
        let items = app.for_product(&a, Some(20)).await;
        (!ids(&items).contains(&b.as_str())).then_some(items)
    })
    .await;
    assert_eq!(
        ranked(&items[..1]),
        [(c.clone(), "bought_together".to_owned())]
    );
    let res = app
        .get(&format!("/api/recommendations/products/{b}"), None)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "a deleted product").await;
}

#[tokio::test]
async fn a_new_product_gets_its_categorys_popular_products() {
    // Arrange: P (in category K) sold twice, Q (elsewhere) three times.
    let app = spawn_app().await;
    let categories = app.categories_by_size();
    let k = categories[0].clone();
    let in_k = app.newest_in(&k);
    let p = in_k[1].id.clone();
    let q = app.newest_in(&categories[1])[0].id.clone();
    for _ in 0..2 {
        app.confirm_order("u-1", &[&p]).await;
    }
    for _ in 0..3 {
        app.confirm_order("u-2", &[&q]).await;
    }

    // Act: the catalog creates a product in K, which nobody has ordered.
    let fresh = app.create_product("FRESH-1", &k).await;
    app.wait_for_product(&fresh).await;
    let items = app.for_product(&fresh, Some(20)).await;

    // Assert: K's popular products (P first, then the newest), then the shop's (Q first).
    let mut expected = vec![(p.clone(), "popular_in_category".to_owned())];
    expected.extend(ranks(
        in_k.iter().copied().filter(|x| x.id != p),
        "popular_in_category",
    ));
    expected.push((q.clone(), "popular".to_owned()));
    let got = ranked(&items);
    assert_eq!(got[..expected.len()], expected[..]);
    assert!(
        got[expected.len()..].iter().all(|(_, r)| r == "popular"),
        "{got:?}"
    );
    assert!(!ids(&items).contains(&fresh.as_str()));
    assert_eq!(items.len(), 20);
}
