//! The OpenAPI document describes the whole API.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let paths = &doc["paths"];
    let operations = [
        ("/api/catalog/categories", "get", &[][..]),
        ("/api/catalog/products", "get", &["422"][..]),
        (
            "/api/catalog/products",
            "post",
            &["201", "400", "401", "403", "409", "413", "415", "422"][..],
        ),
        ("/api/catalog/products/{id}", "get", &["200", "404"][..]),
        (
            "/api/catalog/products/{id}",
            "patch",
            &["200", "400", "401", "403", "404", "422"][..],
        ),
        (
            "/api/catalog/products/{id}",
            "delete",
            &["204", "401", "403", "404"][..],
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
    let params: Vec<&str> = paths["/api/catalog/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "category",
        "min_price",
        "max_price",
        "q",
        "sort",
        "page",
        "per_page",
    ] {
        assert!(params.contains(&name), "parameter {name} is not documented");
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "Product",
        "ProductPage",
        "CategoryList",
        "CreateProductRequest",
        "UpdateProductRequest",
        "Problem",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} is missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
