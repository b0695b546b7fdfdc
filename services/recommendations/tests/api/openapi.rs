//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json", None).await;
    let paths = &doc["paths"];
    let operations = [
        (
            "/api/recommendations/products/{id}",
            "get",
            &["200", "404", "422"][..],
        ),
        ("/api/recommendations/me", "get", &["200", "401", "422"][..]),
        (
            "/api/recommendations/events/dead-letters",
            "get",
            &["200", "401", "403"][..],
        ),
        (
            "/api/recommendations/events/dead-letters/{id}/replay",
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
    for path in [
        "/api/recommendations/products/{id}",
        "/api/recommendations/me",
    ] {
        let params = paths[path]["get"]["parameters"].as_array().unwrap();
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(limit["in"], "query");
        assert_eq!(limit["schema"]["maximum"], 20, "{limit}");
    }
    let schemas = &doc["components"]["schemas"];
    for schema in ["Recommendation", "Recommendations", "Reason", "Problem"] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    let reasons = schemas["Reason"]["enum"].as_array().unwrap();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("calls no other service"),
        "{description}"
    );
}
