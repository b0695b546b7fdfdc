//! What every service's OpenAPI document shares: the bearer-token security scheme.

use utoipa::{
    Modify,
    openapi::{
        Components, OpenApi,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

/// The name endpoints use in `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// Adds the `bearer` scheme (a JWT from identity) to a document's components.
pub fn add_bearer(components: &mut Components) {
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
}

/// `#[openapi(modifiers(&BearerAuth))]`: documents the bearer-token scheme.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        add_bearer(openapi.components.get_or_insert_with(Default::default));
    }
}
