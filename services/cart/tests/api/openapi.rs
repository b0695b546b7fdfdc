//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;
use platform::testing::assert_documented_consumer;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = platform::testing::Api::new(&app.address)
        .get_json("/openapi.json")
        .await;
    let operations = [
        ("/api/cart", "get", &["200", "401", "500"][..]),
        ("/api/cart", "delete", &["200", "401", "500"][..]),
        (
            "/api/cart/items",
            "post",
            &["200", "400", "401", "413", "415", "422", "500"][..],
        ),
        (
            "/api/cart/items/{product_id}",
            "patch",
            &["200", "400", "401", "404", "413", "415", "422", "500"][..],
        ),
        (
            "/api/cart/items/{product_id}",
            "delete",
            &["200", "401", "404", "500"][..],
        ),
        (
            "/api/cart/holds",
            "post",
            &[
                "200", "201", "400", "401", "403", "409", "413", "415", "422", "500",
            ][..],
        ),
        (
            "/api/cart/holds/{order_id}/return",
            "post",
            &[
                "200", "400", "401", "403", "409", "413", "415", "422", "500",
            ][..],
        ),
    ];
    let schemas = [
        "Cart",
        "CartLine",
        "AddItemRequest",
        "SetQuantityRequest",
        "TakeRequest",
        "TakeItem",
        "Taken",
        "GiveBackRequest",
        "Problem",
    ];
    assert_documented_consumer(&doc, "cart", &operations, &schemas);
    let schemes = &doc["components"]["securitySchemes"];
    assert!(schemes["bearer"].is_object());
    assert_eq!(schemes["cart_cookie"]["in"], "cookie");
    assert_eq!(schemes["cart_cookie"]["name"], "bazaar_cart");
}
