//! The OpenAPI document describes the whole API.

use crate::helpers::spawn_app;
use platform::testing::{assert_documented, parameter_names};

#[tokio::test]
async fn every_endpoint_is_documented_with_its_problems() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let operations = [
        ("/api/catalog/categories", "get", &["200", "500"][..]),
        ("/api/catalog/products", "get", &["200", "422", "500"][..]),
        (
            "/api/catalog/products",
            "post",
            &[
                "201", "400", "401", "403", "409", "413", "415", "422", "500",
            ][..],
        ),
        (
            "/api/catalog/products/{id}",
            "get",
            &["200", "404", "500"][..],
        ),
        (
            "/api/catalog/products/{id}",
            "patch",
            &["200", "400", "401", "403", "404", "422", "500"][..],
        ),
        (
            "/api/catalog/products/{id}",
            "delete",
            &["204", "401", "403", "404", "500"][..],
        ),
    ];
    let schemas = [
        "Product",
        "ProductPage",
        "CategoryList",
        "CreateProductRequest",
        "UpdateProductRequest",
        "Problem",
    ];
    assert_documented(&doc, &operations, &schemas);
    let params = parameter_names(&doc, "/api/catalog/products", "get");
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
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
