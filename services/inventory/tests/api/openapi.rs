//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let paths = &doc["paths"];
    let operations = [
        ("/api/inventory", "get", &["200", "422"][..]),
        ("/api/inventory/{product_id}", "get", &["200", "404"][..]),
        (
            "/api/inventory/{product_id}",
            "put",
            &["200", "400", "401", "403", "404", "413", "415", "422"][..],
        ),
        (
            "/api/inventory/reservations",
            "post",
            &[
                "200", "201", "400", "401", "403", "409", "413", "415", "422",
            ][..],
        ),
        (
            "/api/inventory/reservations",
            "get",
            &["200", "401", "403", "422"][..],
        ),
        (
            "/api/inventory/reservations/{reservation_id}",
            "get",
            &["200", "401", "403", "404"][..],
        ),
        (
            "/api/inventory/reservations/{reservation_id}/commit",
            "post",
            &["200", "401", "403", "404", "409"][..],
        ),
        (
            "/api/inventory/reservations/{reservation_id}/release",
            "post",
            &["200", "401", "403", "404", "409"][..],
        ),
        (
            "/api/inventory/events/dead-letters",
            "get",
            &["200", "401", "403"][..],
        ),
        (
            "/api/inventory/events/dead-letters/{id}/replay",
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
    let params: Vec<&str> = paths["/api/inventory"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["product_ids"]);
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "Stock",
        "StockList",
        "SetStockRequest",
        "ReserveRequest",
        "ReserveItem",
        "Reservation",
        "ReservationList",
        "ReservationStatus",
        "DeadLetters",
        "Replayed",
        "Problem",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
