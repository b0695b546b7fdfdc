//! The recommendation service's HTTP API under `/api/recommendations`: handlers, their
//! parameters and bodies, and the OpenAPI document they make up.

use crate::{
    domain::{Limit, ProductId, Recommendation, UserId},
    error::RecommendationsError,
    store::Store,
};
use axum::extract::{FromRef, Path, State};
use platform::openapi::BearerAuth;
use platform::{
    Failure, Problem,
    auth::{User, Verifier},
    extract::{Json, Query},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach (each field by its type: `State<Store>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub verifier: Verifier,
    /// How many products a request gets when it names no `limit`.
    #[from_ref(skip)]
    pub default_limit: Limit,
    /// How many of a shopper's latest purchases "for you" starts from.
    #[from_ref(skip)]
    pub history_depth: u32,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar recommendations",
        description = "Products to show next to a product and to a signed-in shopper, best \
            first. The service answers from its own model, built only from events: the \
            catalog's product events (a copy of each product: name, category, price, \
            deleted) and `bazaar.orders.order.confirmed.v1` (how often products sell, which \
            sell together, what each shopper bought). It calls no other service while \
            answering, so it never slows a page down: when the catalog or orders is down it \
            keeps answering from what it learned last, and catches up when they are back. \
            Each item says why it is there (`reason`): `bought_together`, \
            `popular_in_category`, `popular` or `for_you`. Errors are RFC 9457 problem \
            documents (`application/problem+json`); validation problems list each bad \
            field in `errors`."
    ),
    tags(
        (name = "recommendations", description = "Products to show, best first."),
        (name = "events", description = "Operators' view of the events the service could \
            not apply (administrators only).")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The service's routes and their OpenAPI document. The dead-letter routes are served by
/// `events::admin::routes`.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(for_product))
        .routes(routes!(for_me))
        .with_state(state)
}

/// Recommended products, best first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Recommendations {
    /// At most `limit` products, each once; never a deleted one.
    pub items: Vec<Recommendation>,
}

/// How many products to recommend.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// How many products at most, 1 to 20. Default 6.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 20, example = 6)]
    limit: Option<String>,
}

platform::problem_responses! {
    /// `422`: the `limit` parameter is out of bounds.
    BadLimit { "422" => "`limit` is not a whole number from 1 to 20 (named in `errors`)" }
}

impl LimitParams {
    fn parse(self, default: Limit) -> Result<Limit, RecommendationsError> {
        Ok(Failure::field(
            "limit",
            Limit::parse(self.limit.as_deref(), default),
        )?)
    }
}

/// Products to show next to a product: those bought together with it (most often first),
/// then the popular ones of its category, then the popular ones of the shop ("popular":
/// in the most orders, then the newest). A product nobody ordered yet still gets its
/// category's popular products. Never the product itself, never a deleted product.
#[utoipa::path(
    get,
    path = "/api/recommendations/products/{id}",
    tag = "recommendations",
    params(
        ("id" = String, Path, description = "The product's id, as the catalog gave it"),
        LimitParams
    ),
    responses(
        (status = 200, description = "The recommended products, best first", body = Recommendations),
        (status = 404, description = "No such product: the catalog never announced it, or deleted it", body = Problem, content_type = "application/problem+json"),
        BadLimit
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn for_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<LimitParams>,
) -> Result<Json<Recommendations>, RecommendationsError> {
    let limit = params.parse(state.default_limit)?;
    // An id no product can have names no product.
    let pid =
        ProductId::parse(&id).map_err(|_| RecommendationsError::ProductNotFound(id.clone()))?;
    let items = state
        .store
        .for_product(&pid, limit)
        .await?
        .ok_or(RecommendationsError::ProductNotFound(id))?;
    Ok(Json(Recommendations { items }))
}

/// Products for the signed-in shopper: those bought together with what they bought
/// (`for_you`), then the popular ones of the categories they bought from, then the popular
/// ones of the shop; never anything they bought already. A shopper who bought nothing yet
/// gets the shop's popular products, then the newest.
#[utoipa::path(
    get,
    path = "/api/recommendations/me",
    tag = "recommendations",
    security(("bearer" = [])),
    params(LimitParams),
    responses(
        (status = 200, description = "The recommended products, best first", body = Recommendations),
        (status = 401, description = "No valid bearer token, or one whose subject is not a user", body = Problem, content_type = "application/problem+json"),
        BadLimit,
        (status = 503, description = "Tokens cannot be checked: identity's keys are unavailable", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %claims.sub))]
async fn for_me(
    State(state): State<AppState>,
    User(claims): User,
    Query(params): Query<LimitParams>,
) -> Result<Json<Recommendations>, RecommendationsError> {
    let limit = params.parse(state.default_limit)?;
    // Identity issues user ids as subjects; anything else cannot have bought anything.
    let user = UserId::parse(&claims.sub)
        .map_err(|_| RecommendationsError::NotAShopper("the token's subject is not a user id"))?;
    let items = state
        .store
        .for_user(&user, limit, state.history_depth)
        .await?;
    Ok(Json(Recommendations { items }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    #[test]
    fn limits_are_parsed_naming_limit() {
        let default = Limit::default();
        let ok = LimitParams {
            limit: Some("3".into()),
        }
        .parse(default)
        .unwrap();
        assert_eq!(ok.get(), 3);
        assert_eq!(LimitParams::default().parse(default).unwrap(), default);
        for bad in ["0", "21", "x"] {
            let params = LimitParams {
                limit: Some(bad.into()),
            };
            let refused = params.parse(default).unwrap_err();
            assert_eq!(refused_fields(refused), ["limit"], "{bad}");
        }
    }
}
