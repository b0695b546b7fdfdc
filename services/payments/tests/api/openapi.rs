//! The OpenAPI document describes the whole API with its problems.

use crate::helpers::spawn_app;
use platform::testing::{assert_documented, parameter_names};

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let auth = "/api/payments/authorizations/{id}";
    let changes = &["200", "401", "403", "404", "409", "500"][..];
    assert_documented(
        &doc,
        &[
            (
                "/api/payments/authorizations",
                "post",
                &[
                    "201", "400", "401", "402", "403", "409", "413", "415", "422", "500", "503",
                ],
            ),
            (
                "/api/payments/authorizations",
                "get",
                &["200", "401", "403", "422", "500"],
            ),
            (auth, "get", &["200", "401", "403", "404", "500"]),
            (&format!("{auth}/capture"), "post", changes),
            (&format!("{auth}/void"), "post", changes),
            (&format!("{auth}/refund"), "post", changes),
            (
                "/api/payments/ledger/summary",
                "get",
                &["200", "401", "403", "422", "500"],
            ),
        ],
        &[
            "Authorization",
            "AuthorizeRequest",
            "CardInput",
            "DeclineProblem",
            "LedgerSummary",
            "Problem",
        ],
    );
    let params = parameter_names(&doc, "/api/payments/authorizations", "post");
    assert_eq!(params, ["Idempotency-Key"]);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
