//! What every service has: health, metrics, the OpenAPI document, problem documents.

use crate::helpers::{assert_problem, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn is_ready_with_its_database() {
    let app = spawn_app().await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(
        body["service"], "identity",
        "a prober can tell whom it asked"
    );
}

#[tokio::test]
async fn openapi_documents_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();

    for (path, method) in [
        ("/api/identity/register", "post"),
        ("/api/identity/login", "post"),
        ("/api/identity/refresh", "post"),
        ("/api/identity/logout", "post"),
        ("/api/identity/me", "get"),
        ("/api/identity/.well-known/jwks.json", "get"),
        ("/api/identity/users", "get"),
        ("/api/identity/users/{id}", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} responses"
        );
    }
    let register = &doc["paths"]["/api/identity/register"]["post"];
    assert!(register["requestBody"].is_object());
    assert!(register["responses"]["422"]["content"]["application/problem+json"].is_object());
    for schema in [
        "RegisterRequest",
        "TokenPair",
        "Problem",
        "Jwks",
        "UserPage",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let logout = &doc["paths"]["/api/identity/logout"]["post"];
    assert_ne!(
        logout["requestBody"]["required"], true,
        "logout's body is optional"
    );
    assert!(logout["security"].is_array(), "logout needs a bearer token");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let res = app.get("/api/identity/nope").await;
    assert_problem(res, StatusCode::NOT_FOUND, None, "unknown route").await;
    let res = app.get("/api/identity/login").await;
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, None, "GET on login").await;
}
