//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    let paths = &doc["paths"];
    let operations = [
        (
            "/api/notifications",
            "get",
            &["200", "401", "422", "500"][..],
        ),
        (
            "/api/notifications/stream",
            "get",
            &["200", "401", "500"][..],
        ),
        (
            "/api/notifications/events/dead-letters",
            "get",
            &["200", "401", "403"][..],
        ),
        (
            "/api/notifications/events/dead-letters/{id}/replay",
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
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status} is not a problem document"
                );
            }
        }
    }
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
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "Message",
        "MessageKind",
        "Problem",
        "DeadLetters",
        "Replayed",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
