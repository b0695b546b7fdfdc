//! The OpenAPI document describes the whole API, the operators' endpoints included.

use crate::helpers::spawn_search_only;
use platform::testing::{assert_documented_consumer, parameter_names};

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_search_only().await;
    let doc = app.get_json("/openapi.json").await;
    let operations = [
        ("/api/search", "get", &["200", "422", "500"][..]),
        ("/api/search/suggest", "get", &["200", "422", "500"][..]),
        (
            "/api/search/admin/rebuild",
            "post",
            &["202", "401", "403", "503", "500"][..],
        ),
        (
            "/api/search/admin/status",
            "get",
            &["200", "401", "403", "500"][..],
        ),
    ];
    let schemas = [
        "SearchResults",
        "Hit",
        "Facets",
        "SuggestionList",
        "Suggestion",
        "RebuildStarted",
        "RebuildMode",
        "IndexStatus",
        "Problem",
    ];
    assert_documented_consumer(&doc, "search", &operations, &schemas);
    let mut params = parameter_names(&doc, "/api/search", "get");
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
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
