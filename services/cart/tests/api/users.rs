//! Signed-in carts: the token decides whose cart it is, nobody reaches another's, and
//! the anonymous cart a visitor filled is merged into theirs when they sign in.

use crate::helpers::{identity, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn a_users_cart_is_theirs_alone() {
    // Arrange
    let app = spawn_app().await;
    let [a, b] = &app.product_ids().await;
    let mut shopper = app.user(&identity().shopper);
    let mut other = app.user(&identity().other);

    // Act: the shopper fills their cart.
    let added = shopper.add(a, 2).await;

    // Assert: theirs, without a cookie; not a visitor's, not another user's.
    assert_eq!(added.lines(), [(a.clone(), 2)]);
    assert_eq!(added.set_cookie, None, "a user's cart needs no cookie");
    assert_eq!(shopper.get().await.lines(), [(a.clone(), 2)]);
    assert_eq!(app.visitor().get().await.lines(), []);
    assert_eq!(other.get().await.lines(), []);
    other
        .set(a, 9)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None, "setting another's line");
    other
        .remove(a)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None, "removing another's line");
    other.add(b, 1).await.cart();
    other.clear().await.cart();
    assert_eq!(shopper.get().await.lines(), [(a.clone(), 2)]);
    assert_eq!(app.carts("user").await, 2);

    // An invalid token is refused, never taken for an anonymous visit.
    for token in ["not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let mut forger = app.visitor();
        forger.token = Some(token.to_owned());
        forger
            .get()
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, None, token);
        forger
            .add(a, 1)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, None, token);
    }
    assert_eq!(app.carts("anonymous").await, 0);
}

#[tokio::test]
async fn signing_in_merges_the_anonymous_cart_and_expires_its_cookie() {
    // Arrange: the user's cart holds a; as a visitor they put a and b in an anonymous one.
    let app = spawn_app().await;
    let [a, b] = &app.product_ids().await;
    app.shopper_holding(&[(a, 2)]).await;
    let mut browser = app.visitor_holding(&[(a, 3), (b, 1)]).await;
    let anonymous_cookie = browser.cookie.clone().expect("a cart cookie");

    // Act: they sign in; the browser still sends the cookie.
    browser.sign_in(&identity().shopper);
    let merged = browser.get().await;

    // Assert: one cart with the quantities added, the cookie expired, the cart gone.
    assert_eq!(merged.lines(), [(a.clone(), 5), (b.clone(), 1)]);
    let expired = merged.set_cookie.clone().expect("the cookie is expired");
    assert!(expired.starts_with("bazaar_cart=;"), "{expired}");
    assert!(expired.contains("Max-Age=0"), "{expired}");
    assert_eq!(browser.cookie, None);
    assert_eq!(app.carts("anonymous").await, 0);
    assert_eq!(
        browser.get().await.set_cookie,
        None,
        "nothing left to expire"
    );

    // A replayed cookie merges nothing twice.
    browser.cookie = Some(anonymous_cookie);
    let again = browser.get().await;
    assert_eq!(again.lines(), [(a.clone(), 5), (b.clone(), 1)]);
    assert!(again.set_cookie.is_some_and(|c| c.contains("Max-Age=0")));

    // Merged quantities are capped at 99, and a merge on a change applies before it.
    let mut later = app.visitor_holding(&[(a, 98)]).await;
    later.sign_in(&identity().shopper);
    let capped = later.set(b, 4).await;
    assert_eq!(capped.lines(), [(a.clone(), 99), (b.clone(), 4)]);
    assert!(capped.set_cookie.is_some_and(|c| c.contains("Max-Age=0")));

    // The other user never saw any of it.
    assert_eq!(app.user(&identity().other).get().await.lines(), []);
}

#[tokio::test]
async fn a_signed_in_request_drops_a_malformed_cookie_and_nothing_else() {
    let app = spawn_app().await;
    let a = &app.products(1).await[0].id;
    let mut shopper = app.shopper_holding(&[(a, 1)]).await;
    shopper.cookie = Some("not-a-cart".into());

    let got = shopper.get().await;

    assert_eq!(got.lines(), [(a.clone(), 1)]);
    assert!(got.set_cookie.is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(shopper.cookie, None);
}

#[tokio::test]
async fn a_merge_into_a_nearly_full_cart_keeps_what_fits() {
    // Arrange: the user's cart holds 49 lines; the anonymous one the first of them and
    // two products the user's has not.
    let app = spawn_app().await;
    let products = app.products(51).await;
    let mut user = app.user(&identity().shopper);
    for p in &products[..49] {
        user.add(&p.id, 1).await.cart();
    }
    let mut browser = app.visitor();
    for p in [&products[0], &products[49], &products[50]] {
        browser.add(&p.id, 2).await.cart();
    }

    // Act
    browser.sign_in(&identity().shopper);
    let merged = browser.get().await;

    // Assert: the shared line grew, one new line fitted, the last was left out.
    let lines = merged.lines();
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[0], (products[0].id.clone(), 3));
    assert_eq!(lines[49], (products[49].id.clone(), 2));
    assert!(!lines.iter().any(|(id, _)| *id == products[50].id));
    assert_eq!(app.carts("anonymous").await, 0);
}
