//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;
use platform::testing::assert_documented_consumer;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    assert_documented_consumer(
        &doc,
        "notifications",
        &[
            (
                "/api/notifications",
                "get",
                &["200", "401", "422", "500", "503"],
            ),
            (
                "/api/notifications/stream",
                "get",
                &["200", "401", "429", "500", "503"],
            ),
        ],
        &["Message", "MessageKind", "Problem"],
    );
    let paths = &doc["paths"];
    let list = &paths["/api/notifications"]["get"];
    assert_eq!(list["parameters"][0]["name"], "limit");
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["type"],
        "array"
    );
    let stream = &paths["/api/notifications/stream"]["get"];
    assert!(stream["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert_eq!(stream["parameters"][0]["name"], "Last-Event-ID");
    assert_eq!(stream["parameters"][0]["in"], "header");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
