//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;
use platform::testing::assert_documented;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let reservation = "/api/inventory/reservations/{reservation_id}";
    let settle = &["200", "401", "403", "404", "409", "500"][..];
    assert_documented(
        &doc,
        &[
            ("/api/inventory", "get", &["200", "422", "500"]),
            ("/api/inventory/{product_id}", "get", &["200", "404", "500"]),
            (
                "/api/inventory/{product_id}",
                "put",
                &[
                    "200", "400", "401", "403", "404", "409", "413", "415", "422", "500",
                ],
            ),
            (
                "/api/inventory/reservations",
                "post",
                &[
                    "200", "201", "400", "401", "403", "409", "413", "415", "422", "500",
                ],
            ),
            (
                "/api/inventory/reservations",
                "get",
                &["200", "401", "403", "422", "500"],
            ),
            (reservation, "get", &["200", "401", "403", "404", "500"]),
            (&format!("{reservation}/commit"), "post", settle),
            (&format!("{reservation}/release"), "post", settle),
            (
                "/api/inventory/events/dead-letters",
                "get",
                &["200", "401", "403", "500"],
            ),
            (
                "/api/inventory/events/dead-letters/{id}/replay",
                "post",
                &["200", "401", "403", "404", "500"],
            ),
        ],
        &[
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
        ],
    );
    let params: Vec<&str> = doc["paths"]["/api/inventory"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["product_ids"]);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
