//! The OpenAPI document describes the whole API with its problems.

use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &doc["paths"];
    let auth = "/api/payments/authorizations/{id}";
    let changes = &["200", "401", "403", "404", "409"][..];
    let operations = [
        (
            "/api/payments/authorizations",
            "post",
            &[
                "201", "400", "401", "402", "403", "409", "413", "415", "422", "503",
            ][..],
        ),
        (auth, "get", &["200", "401", "403", "404"][..]),
        ("/api/payments/authorizations/{id}/capture", "post", changes),
        ("/api/payments/authorizations/{id}/void", "post", changes),
        ("/api/payments/authorizations/{id}/refund", "post", changes),
        (
            "/api/payments/ledger/summary",
            "get",
            &["200", "401", "403", "422"][..],
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
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status} is not a problem document"
                );
            }
        }
    }
    let params: Vec<&str> = paths["/api/payments/authorizations"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["Idempotency-Key"]);
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "Authorization",
        "AuthorizeRequest",
        "CardInput",
        "DeclineProblem",
        "LedgerSummary",
        "Problem",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
