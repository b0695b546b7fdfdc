//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;
use platform::testing::assert_documented_consumer;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json", None).await;
    let paths = &doc["paths"];
    let operations = [
        (
            "/api/recommendations/products/{id}",
            "get",
            &["200", "404", "422", "500"][..],
        ),
        (
            "/api/recommendations/me",
            "get",
            &["200", "401", "422", "500"][..],
        ),
    ];
    let schemas = ["Recommendation", "Recommendations", "Reason", "Problem"];
    assert_documented_consumer(&doc, "recommendations", &operations, &schemas);
    for path in [
        "/api/recommendations/products/{id}",
        "/api/recommendations/me",
    ] {
        let params = paths[path]["get"]["parameters"].as_array().unwrap();
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(limit["in"], "query");
        assert_eq!(limit["schema"]["maximum"], 20, "{limit}");
    }
    let reasons = doc["components"]["schemas"]["Reason"]["enum"]
        .as_array()
        .unwrap();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("calls no other service"),
        "{description}"
    );
}
