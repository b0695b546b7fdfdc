//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;
use platform::testing::{assert_documented_consumer, parameter_names};

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let reservation = "/api/inventory/reservations/{reservation_id}";
    let settle = &["200", "401", "403", "404", "409", "500"][..];
    assert_documented_consumer(
        &doc,
        "inventory",
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
            "Problem",
        ],
    );
    assert_eq!(
        parameter_names(&doc, "/api/inventory", "get"),
        ["product_ids"]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
