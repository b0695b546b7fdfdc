//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_search_only;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_search_only().await;
    let doc = app.get_json("/openapi.json").await;
    let paths = &doc["paths"];
    let operations = [
        ("/api/search", "get", &["200", "422"][..]),
        ("/api/search/suggest", "get", &["200", "422"][..]),
        (
            "/api/search/admin/rebuild",
            "post",
            &["202", "401", "403", "503"][..],
        ),
        (
            "/api/search/admin/status",
            "get",
            &["200", "401", "403"][..],
        ),
        (
            "/api/search/events/dead-letters",
            "get",
            &["200", "401", "403"][..],
        ),
        (
            "/api/search/events/dead-letters/{id}/replay",
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
    let mut params: Vec<&str> = paths["/api/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    params.sort_unstable();
    assert_eq!(
        params,
        [
            "category",
            "max_price",
            "min_price",
            "page",
            "per_page",
            "q",
            "sort"
        ]
    );
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "SearchResults",
        "Hit",
        "Facets",
        "SuggestionList",
        "Suggestion",
        "RebuildStarted",
        "RebuildMode",
        "IndexStatus",
        "Problem",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
