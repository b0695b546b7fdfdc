//! Concurrent requests on one cart take turns: the limits hold and a merge happens once.

use crate::helpers::{identity, spawn_app};
use futures_util::future::join_all;
use reqwest::StatusCode;

#[tokio::test]
async fn concurrent_adds_never_pass_the_limits() {
    // Arrange: a cart holding a ×1 and 39 other lines.
    let app = spawn_app().await;
    let products = app.products(60).await;
    let a = products[0].id.clone();
    let mut visitor = app.visitor();
    for p in &products[..40] {
        visitor.add(&p.id, 1).await.cart();
    }
    let cookie = visitor.cookie.clone();

    // Act: 20 requests at once add 10 of a; 20 more add one new product each.
    let same_line = join_all((0..20).map(|_| {
        let mut s = app.visitor();
        s.cookie = cookie.clone();
        let a = a.clone();
        async move { s.add(&a, 10).await }
    }))
    .await;
    let new_lines = join_all(products[40..60].iter().map(|p| {
        let mut s = app.visitor();
        s.cookie = cookie.clone();
        async move { s.add(&p.id, 1).await }
    }))
    .await;

    // Assert: 1 + 9 × 10 = 91 ≤ 99 < 101; 40 + 10 = 50 lines.
    // `taken` of the answers took their add; every other is refused, naming `field`.
    let assert_taken = |answers: &[crate::helpers::Answer], taken, field, case: &str| {
        let ok = answers.iter().filter(|r| r.status == StatusCode::OK);
        assert_eq!(ok.count(), taken, "{case}");
        for refused in answers.iter().filter(|r| r.status != StatusCode::OK) {
            refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field), case);
        }
    };
    assert_taken(&same_line, 9, "quantity", "past 99");
    assert_taken(&new_lines, 10, "product_id", "past 50");
    let lines = visitor.get().await.lines();
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[0], (a, 91));
}

#[tokio::test]
async fn concurrent_requests_at_sign_in_merge_once() {
    // Arrange: the user holds a ×1; their anonymous cart a ×2 and b ×1.
    let app = spawn_app().await;
    let [a, b] = &app.product_ids().await;
    app.shopper_holding(&[(a, 1)]).await;
    let visitor = app.visitor_holding(&[(a, 2), (b, 1)]).await;
    let cookie = visitor.cookie.clone();

    // Act: eight requests carrying token and cookie at once.
    let answers = join_all((0..8).map(|_| {
        let mut s = app.user(&identity().shopper);
        s.cookie = cookie.clone();
        async move { s.get().await }
    }))
    .await;

    // Assert: each answers and expires the cookie; the quantities were added once.
    for answer in &answers {
        assert!(
            answer
                .set_cookie
                .as_deref()
                .is_some_and(|c| c.contains("Max-Age=0")),
            "{answer:?}"
        );
    }
    let merged = app.user(&identity().shopper).get().await;
    assert_eq!(merged.lines(), [(a.clone(), 3), (b.clone(), 1)]);
    assert_eq!(app.carts("anonymous").await, 0);
}
