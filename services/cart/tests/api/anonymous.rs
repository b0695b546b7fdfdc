//! Anonymous carts: kept by the `bazaar_cart` cookie the first change sets, one per
//! visitor, and a cookie the cart did not issue counts as no cart.

use crate::helpers::spawn_app;
use cart::{
    domain::{AnonymousId, Currency, Owner},
    store::Store,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_anonymous_cart_lives_in_its_cookie() {
    // Arrange
    let app = spawn_app().await;
    let products = app.products(2).await;
    let (a, b) = (&products[0], &products[1]);
    let mut visitor = app.visitor();

    // Act / Assert: nothing yet, and no cookie for a look.
    let empty = visitor.get().await;
    assert_eq!(
        empty.cart(),
        &json!({"items": [], "total_cents": 0, "currency": "USD"})
    );
    assert_eq!(empty.set_cookie, None);

    // The first change creates the cart and sets its cookie.
    let added = visitor.add(&a.id, 2).await;
    assert_eq!(
        added.cart(),
        &json!({
            "items": [{
                "product_id": a.id, "name": a.name, "unit_price_cents": a.price_cents,
                "quantity": 2, "line_total_cents": 2 * a.price_cents, "available": true
            }],
            "total_cents": 2 * a.price_cents,
            "currency": "USD"
        })
    );
    let set_cookie = added.set_cookie.clone().expect("the cart sets its cookie");
    let id = visitor.cookie.clone().expect("a cart id");
    assert_eq!(id.len(), 32, "{set_cookie}");
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{set_cookie}");
    assert_eq!(
        set_cookie,
        format!("bazaar_cart={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000")
    );

    // Adding again adds to the line; another product gets a line after it.
    assert_eq!(visitor.add(&a.id, 3).await.lines(), [(a.id.clone(), 5)]);
    assert_eq!(visitor.cookie.as_deref(), Some(id.as_str()), "same cart");
    let both = visitor.add(&b.id, 1).await;
    assert_eq!(both.lines(), [(a.id.clone(), 5), (b.id.clone(), 1)]);
    assert_eq!(
        both.cart()["total_cents"],
        5 * a.price_cents + b.price_cents
    );
    assert_eq!(visitor.get().await.body, both.body);

    // A line's quantity is set, a line removed, then the whole cart emptied.
    let set = visitor.set(&a.id, 7).await;
    assert_eq!(set.lines(), [(a.id.clone(), 7), (b.id.clone(), 1)]);
    assert_eq!(
        set.cart()["items"][0]["line_total_cents"],
        7 * a.price_cents
    );
    assert_eq!(set.cart()["total_cents"], 7 * a.price_cents + b.price_cents);
    assert_eq!(visitor.remove(&b.id).await.lines(), [(a.id.clone(), 7)]);
    visitor.remove(&b.id).await.assert_problem(
        StatusCode::NOT_FOUND,
        None,
        "removing a line twice",
    );
    visitor.set(&b.id, 1).await.assert_problem(
        StatusCode::NOT_FOUND,
        None,
        "setting a line not there",
    );
    let cleared = visitor.clear().await;
    assert_eq!(cleared.lines(), []);
    assert_eq!(cleared.cart()["total_cents"], 0);
    assert_eq!(visitor.get().await.lines(), []);

    // Without the cookie it is someone else's (empty) cart.
    assert_eq!(app.visitor().get().await.lines(), []);
}

#[tokio::test]
async fn two_visitors_have_separate_carts() {
    let app = spawn_app().await;
    let [a, b] = &app.product_ids().await;
    let mut first = app.visitor();
    let mut second = app.visitor();

    first.add(a, 1).await.cart();
    second.add(b, 4).await.cart();

    assert_ne!(first.cookie, second.cookie);
    assert_eq!(first.get().await.lines(), [(a.clone(), 1)]);
    assert_eq!(second.get().await.lines(), [(b.clone(), 4)]);
    second
        .remove(a)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None, "another visitor's line");
    second.clear().await.cart();
    assert_eq!(first.get().await.lines(), [(a.clone(), 1)]);
    assert_eq!(app.carts("anonymous").await, 2);
}

#[tokio::test]
async fn a_malformed_or_unknown_cookie_is_no_cart() {
    let app = spawn_app().await;
    let product = &app.products(1).await[0].id;
    let unknown = "0123456789abcdef0123456789abcdef";
    for cookie in [
        "garbage",
        "",
        "0123456789abcdef",
        "../../etc/passwd",
        unknown,
    ] {
        let mut visitor = app.visitor();
        visitor.cookie = Some(cookie.to_owned());
        let case = format!("cookie {cookie:?}");

        let got = visitor.get().await;
        assert_eq!(got.lines(), [], "{case}");
        assert_eq!(got.set_cookie, None, "{case}");
        visitor
            .remove(product)
            .await
            .assert_problem(StatusCode::NOT_FOUND, None, &case);
        visitor
            .send(
                Method::PATCH,
                &format!("/api/cart/items/{product}"),
                Some(json!({"quantity": 2})),
            )
            .await
            .assert_problem(StatusCode::NOT_FOUND, None, &case);
        assert_eq!(visitor.clear().await.lines(), [], "{case}");

        // A change starts a new cart under a new id, never the one the client chose.
        let added = visitor.add(product, 1).await;
        assert_eq!(added.lines(), [(product.clone(), 1)], "{case}");
        let issued = visitor.cookie.clone().expect("a new cookie");
        assert_ne!(issued, cookie, "{case}");
        assert_eq!(issued.len(), 32, "{case}");
    }

    // The database keeps no cookie value: a leaked table opens no cart.
    let db = app.db().await;
    let owners: Vec<String> = sqlx::query("SELECT owner FROM carts")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get(r, "owner"))
        .collect();
    assert_eq!(owners.len(), 5);
    for owner in owners {
        assert!(
            owner.starts_with("anon:") && owner.len() == 5 + 64,
            "{owner}"
        );
    }
}

#[tokio::test]
async fn anonymous_carts_unchanged_past_their_lifetime_are_purged() {
    // Arrange: an old and a fresh anonymous cart, and an old user's cart.
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut old = app.visitor_holding(&[(a, 1)]).await;
    let mut fresh = app.visitor_holding(&[(a, 2)]).await;
    let mut user = app.shopper_holding(&[(a, 3)]).await;
    let db = app.db().await;
    let long_ago = events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::days(31));
    let fresh_key =
        Owner::Anonymous(AnonymousId::parse(fresh.cookie.as_deref().unwrap()).unwrap()).key();
    sqlx::query("UPDATE carts SET updated_at = $1 WHERE owner <> $2")
        .bind(&long_ago)
        .bind(&fresh_key)
        .execute(db.pool())
        .await
        .unwrap();

    // Act: the purge the service runs hourly, for a 30-day lifetime.
    let cutoff = events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::days(30));
    let purged = Store::new(db, Currency::USD)
        .purge_anonymous(&cutoff)
        .await
        .unwrap();

    // Assert: only the old anonymous cart went, lines and all.
    assert_eq!(purged, 1);
    assert_eq!(old.get().await.lines(), []);
    assert_eq!(fresh.get().await.lines(), [(a.clone(), 2)]);
    assert_eq!(user.get().await.lines(), [(a.clone(), 3)]);
    old.add(a, 1).await.cart();
    assert_ne!(old.cookie, fresh.cookie, "a purged cart's id is not reused");
}

#[tokio::test]
async fn a_purge_of_more_carts_than_one_batch_takes_them_all_and_only_them() {
    // Arrange: 1,201 abandoned anonymous carts (more than two batches), one with a line,
    // and a fresh one.
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut fresh = app.visitor_holding(&[(a, 2)]).await;
    let db = app.db().await;
    let long_ago = events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::days(31));
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1201) \
         INSERT INTO carts (owner, kind, created_at, updated_at) \
         SELECT 'abandoned-' || i, 'anonymous', $1, $1 FROM n",
    )
    .bind(&long_ago)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO cart_lines (owner, product_id, quantity, position, added_at, updated_at) \
         VALUES ('abandoned-7', $1, 1, 1, $2, $2)",
    )
    .bind(a)
    .bind(&long_ago)
    .execute(db.pool())
    .await
    .unwrap();

    // Act
    let cutoff = events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::days(30));
    let purged = Store::new(db.clone(), Currency::USD)
        .purge_anonymous(&cutoff)
        .await
        .unwrap();

    // Assert: every abandoned cart went, with its line; the fresh one stayed.
    assert_eq!(purged, 1201);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM carts WHERE owner LIKE 'abandoned-%'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let lines: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM cart_lines WHERE owner = 'abandoned-7'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((left, lines), (0, 0));
    assert_eq!(fresh.get().await.lines(), [(a.clone(), 2)]);
}

#[tokio::test]
async fn holds_of_orders_settled_long_ago_are_purged_and_the_rest_kept() {
    // Arrange: holds bought and given back two days ago, one held as long, and one bought
    // an hour ago.
    let app = spawn_app().await;
    let db = app.db().await;
    let ago =
        |hours| events::envelope::to_rfc3339(chrono::Utc::now() - chrono::Duration::hours(hours));
    for (order, state, updated) in [
        ("order-bought-long-ago", "bought", ago(48)),
        ("order-returned-long-ago", "returned", ago(48)),
        ("order-held-long-ago", "held", ago(48)),
        ("order-bought-lately", "bought", ago(1)),
    ] {
        sqlx::query(
            "INSERT INTO cart_holds (order_id, owner, items, state, created_at, updated_at) \
             VALUES ($1, 'user:someone', '[]', $2, $3, $3)",
        )
        .bind(order)
        .bind(state)
        .bind(&updated)
        .execute(db.pool())
        .await
        .unwrap();
    }

    // Act: the hourly purge, for holds kept a day.
    let purged = Store::new(db.clone(), Currency::USD)
        .purge_settled_holds(&ago(24))
        .await
        .unwrap();

    // Assert: only what was settled before the day went; a hold still held stays.
    assert_eq!(purged, 2);
    let mut left: Vec<String> = sqlx::query_scalar("SELECT order_id FROM cart_holds")
        .fetch_all(db.pool())
        .await
        .unwrap();
    left.sort();
    assert_eq!(left, ["order-bought-lately", "order-held-long-ago"]);
}
