//! The OpenAPI document describes every endpoint with its problems.

use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let operations = [
        (
            "/api/orders/checkout",
            "post",
            &[
                "201", "202", "400", "401", "402", "409", "415", "422", "503",
            ][..],
        ),
        ("/api/orders", "get", &["200", "401", "422"][..]),
        ("/api/orders/{id}", "get", &["200", "401", "404"][..]),
    ];
    for (path, method, statuses) in operations {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for status in statuses {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} does not document {status}"
            );
        }
    }
    let checkout = &doc["paths"]["/api/orders/checkout"]["post"];
    let params = checkout["parameters"].as_array().expect("parameters");
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
        "{params:?}"
    );
    assert!(checkout["requestBody"].is_object());
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "CheckoutRequest",
        "OrderView",
        "OrderPage",
        "CheckoutProblem",
    ] {
        assert!(
            schemas[schema].is_object(),
            "{schema} is not in the document"
        );
    }
}
