//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let doc: serde_json::Value = res.json().await.unwrap();
    let paths = &doc["paths"];
    let operations = [
        ("/api/cart", "get", &["200", "401"][..]),
        ("/api/cart", "delete", &["200", "401"][..]),
        (
            "/api/cart/items",
            "post",
            &["200", "400", "401", "413", "415", "422"][..],
        ),
        (
            "/api/cart/items/{product_id}",
            "patch",
            &["200", "400", "401", "404", "413", "415", "422"][..],
        ),
        (
            "/api/cart/items/{product_id}",
            "delete",
            &["200", "401", "404"][..],
        ),
        (
            "/api/cart/events/dead-letters",
            "get",
            &["200", "401", "403"][..],
        ),
        (
            "/api/cart/events/dead-letters/{id}/replay",
            "post",
            &["200", "401", "403", "404"][..],
        ),
    ];
    for (path, method, statuses) in operations {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for status in statuses {
            let response = &op["responses"][status];
            assert!(
                response.is_object(),
                "{method} {path} does not document {status}"
            );
            if status.starts_with('4') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status} is not a problem document"
                );
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "Cart",
        "CartLine",
        "AddItemRequest",
        "SetQuantityRequest",
        "DeadLetters",
        "Problem",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert!(schemes["bearer"].is_object());
    assert_eq!(schemes["cart_cookie"]["in"], "cookie");
    assert_eq!(schemes["cart_cookie"]["name"], "bazaar_cart");
}
