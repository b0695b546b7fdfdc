//! The cart through its pages: an anonymous cart whose cookie passes through the
//! storefront both ways, quantities changed and lines removed by forms, and the anonymous
//! cart merged into the shopper's own at sign-in.

use crate::helpers::{Browser, assert_accessible, new_customer, products, spawn_storefront};
use reqwest::StatusCode;

#[tokio::test]
async fn an_anonymous_cart_follows_the_shopper_into_their_account() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let product = products(3).await.remove(2);
    let id = product["id"].as_str().unwrap().to_owned();
    let name = product["name"].as_str().unwrap().replace('&', "&amp;");

    let added = browser.add_to_cart(&id, "2").await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert_eq!(added.location(), format!("/p/{id}?added=2"));
    let relayed = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("bazaar_cart="))
        .expect("the cart's cookie reaches the browser");
    assert!(
        relayed.contains("HttpOnly") && relayed.contains("SameSite=Lax"),
        "{relayed}"
    );
    let product_page = browser.get(added.location()).await;
    product_page.assert_html(
        StatusCode::OK,
        &["Added 2 to your cart.", r#"<span class="count">2"#],
    );

    let cart = browser.get("/cart").await;
    cart.assert_html(
        StatusCode::OK,
        &[
            &name,
            r#"value="2""#,
            "Sign in to check out",
            "2 items in your cart",
        ],
    );
    assert_accessible(&cart.body);

    let updated = browser
        .post(&format!("/cart/items/{id}"), &[("quantity", "3")])
        .await;
    assert_eq!(updated.location(), "/cart?notice=updated");
    let cart = browser.get("/cart?notice=updated").await;
    cart.assert_html(StatusCode::OK, &["Quantity updated.", r#"value="3""#]);

    for (quantity, case) in [("0", "zero"), ("100", "too many"), ("two", "not a number")] {
        let page = browser
            .post(&format!("/cart/items/{id}"), &[("quantity", quantity)])
            .await;
        assert_eq!(page.location(), "/cart?error=quantity", "{case}");
    }
    let bad = browser
        .post("/cart/items", &[("product_id", &id), ("quantity", "0")])
        .await;
    assert_eq!(bad.location(), format!("/p/{id}?cart_error=quantity"));
    let shown = browser.get(bad.location()).await;
    shown.assert_html(StatusCode::OK, &["Choose a quantity between 1 and 99."]);
    // 97 more to a line of 3 is a good quantity, but the line would pass 99: said so, not
    // "choose between 1 and 99" (the cart review).
    let over = browser
        .post("/cart/items", &[("product_id", &id), ("quantity", "97")])
        .await;
    assert_eq!(over.location(), format!("/p/{id}?cart_error=line_full"));
    let shown = browser.get(over.location()).await;
    shown.assert_html(
        StatusCode::OK,
        &["Your cart already holds some of this product"],
    );
    // The cart's page shows the visitor's own cart: no cache keeps it.
    let cart = browser.get("/cart").await;
    assert_eq!(cart.header("cache-control"), "private, no-store");

    // Signing in merges the anonymous cart into the shopper's, and drops its cookie.
    let (email, password) = new_customer().await;
    browser.sign_in(&email, &password).await;
    assert!(
        !browser.cookies.contains_key("bazaar_cart"),
        "the anonymous cart's cookie is expired at sign-in"
    );
    let cart = browser.get("/cart").await;
    cart.assert_html(
        StatusCode::OK,
        &[&name, r#"value="3""#, r#"href="/checkout""#],
    );

    let removed = browser.post(&format!("/cart/items/{id}/remove"), &[]).await;
    assert_eq!(removed.location(), "/cart?notice=removed");
    let cart = browser.get("/cart?notice=removed").await;
    cart.assert_html(
        StatusCode::OK,
        &["Removed from your cart.", "Your cart is empty."],
    );
}

#[tokio::test]
async fn a_product_the_cart_does_not_take_is_explained() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let unknown = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11";
    let page = browser
        .post("/cart/items", &[("product_id", unknown), ("quantity", "1")])
        .await;
    assert_eq!(
        page.location(),
        format!("/p/{unknown}?cart_error=unavailable")
    );
    let page = browser
        .post(
            "/cart/items",
            &[("product_id", "../../admin"), ("quantity", "1")],
        )
        .await;
    assert_eq!(page.location(), "/cart?error=unavailable");
}
