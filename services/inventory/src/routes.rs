//! Inventory's HTTP API under `/api/inventory`: handlers, their request and response
//! bodies, and the OpenAPI document they make up. Stock is here; reservations are in
//! [`reservations`].

mod reservations;

pub use reservations::{ReservationList, ReserveItem, ReserveRequest};

use crate::{
    domain::{ProductId, ProductIds, Stock, StockLevel, Ttl},
    error::InventoryError,
    store::Store,
};
use axum::extract::{FromRef, Path, State};
use platform::{
    Failure, Problem,
    auth::{Admin, Verifier},
    extract::{Json, Query, TraceParent},
    openapi::{AdminOnly, BearerAuth},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach (each field by its type: `State<Store>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub verifier: Verifier,
    /// How long a reservation holds its units when its caller does not say.
    pub reservation_ttl: Ttl,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar inventory",
        description = "Stock per product. Inventory learns of products from the catalog's \
            events: a product's stock exists shortly after the catalog creates it, and is \
            marked `discontinued` (never removed) when the catalog deletes it. Reading is \
            open to everyone; setting a level needs an administrator's bearer token. \
            Checkouts hold units with reservations (internal: the orders service's token \
            only): a reservation moves units from `available` to `reserved`, all \
            lines or none; committing it takes them out of stock, releasing it (or letting \
            it expire) makes them available again. Every change of a level is kept in a \
            ledger and announced as `bazaar.inventory.stock.changed.v1`; every change of a \
            reservation as `bazaar.inventory.reservation.{held,committed,released}.v1`. \
            Errors are RFC 9457 problem documents \
            (`application/problem+json`); validation problems list each bad field in \
            `errors`, the body as a whole being named `body`."
    ),
    tags(
        (name = "stock", description = "Stock levels: lookup and administration."),
        (name = "reservations", description = "Units held for checkouts in progress \
            (the orders service's token only)."),
        (name = "events", description = "Operators' view of the catalog events inventory \
            could not apply (administrators only).")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Inventory's routes and their OpenAPI document. The dead-letter routes are served by
/// `events::admin::routes`; only their documentation is here.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_stock))
        .routes(routes!(get_stock, set_stock))
        .merge(reservations::router())
        .with_state(state)
}

/// The stock of several products.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockList {
    /// The products inventory keeps stock for, in the order asked; unknown ids are left out.
    pub items: Vec<Stock>,
}

/// Which products' stock to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListStockParams {
    /// 1 to 100 product ids, comma-separated (`a,b,c`); an id named twice counts once.
    /// Required: optional here only so that its absence is a 422 naming it, not a bare 400.
    #[param(
        required = true,
        example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11,0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d12"
    )]
    product_ids: Option<String>,
}

impl ListStockParams {
    fn parse(self) -> Result<ProductIds, InventoryError> {
        let raw = self.product_ids.unwrap_or_default();
        Ok(Failure::field("product_ids", ProductIds::parse(&raw))?)
    }
}

/// A new stock level. Any other field is refused (422 naming it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStockRequest {
    /// Units that can be sold from now on, 0 to 1 000 000. Reserved units are not
    /// affected.
    #[schema(example = 25, minimum = 0, maximum = 1000000)]
    pub available: i64,
}

impl SetStockRequest {
    fn parse(self) -> Result<StockLevel, InventoryError> {
        Ok(Failure::field(
            "available",
            StockLevel::new(self.available),
        )?)
    }
}

/// An id that cannot be a product's names no stock.
fn product_id(raw: &str) -> Result<ProductId, InventoryError> {
    ProductId::parse(raw).map_err(|_| InventoryError::ProductNotFound(raw.to_owned()))
}

/// Lists the stock of several products at once (for listing pages).
#[utoipa::path(
    get,
    path = "/api/inventory",
    tag = "stock",
    params(ListStockParams),
    responses(
        (status = 200, description = "The stock of the known products among those asked for", body = StockList),
        (status = 422, description = "`product_ids` is missing, empty, has an empty or malformed entry, or names more than 100 ids", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn list_stock(
    State(store): State<Store>,
    Query(params): Query<ListStockParams>,
) -> Result<Json<StockList>, InventoryError> {
    let ids = params.parse()?;
    Ok(Json(StockList {
        items: store.get_many(&ids).await?,
    }))
}

/// Gets the stock of one product.
#[utoipa::path(
    get,
    path = "/api/inventory/{product_id}",
    tag = "stock",
    params(("product_id" = String, Path, description = "The product's id, as the catalog gave it")),
    responses(
        (status = 200, description = "The product's stock", body = Stock),
        (status = 404, description = "Inventory keeps no stock for this product (unknown, or not yet announced by the catalog)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn get_stock(
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<Json<Stock>, InventoryError> {
    let pid = product_id(&id)?;
    store
        .get(&pid)
        .await?
        .map(Json)
        .ok_or(InventoryError::ProductNotFound(id))
}

/// Sets how many units of a product can be sold (administrators only). The change is
/// kept in the ledger (reason `adjustment`) and announced with `stock.changed`; setting
/// the level a product has already changes and records nothing. A discontinued product's
/// level can still be set.
#[utoipa::path(
    put,
    path = "/api/inventory/{product_id}",
    tag = "stock",
    security(("bearer" = [])),
    params(("product_id" = String, Path, description = "The product's id, as the catalog gave it")),
    request_body(content = SetStockRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The product's stock after the change", body = Stock),
        AdminOnly,
        (status = 404, description = "Inventory keeps no stock for this product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The level kept changing under concurrent writers; try again", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`available` is missing, not an integer, or not between 0 and 1 000 000 (named in `errors`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn set_stock(
    State(store): State<Store>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    trace: TraceParent,
    Json(body): Json<SetStockRequest>,
) -> Result<Json<Stock>, InventoryError> {
    let level = body.parse()?;
    let pid = product_id(&id)?;
    let stock = store.set_available(&pid, level, trace.as_deref()).await?;
    tracing::info!(admin = %admin.sub, available = stock.available, "stock level set");
    Ok(Json(stock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    fn field_of(err: InventoryError) -> String {
        refused_fields(err).remove(0)
    }

    #[test]
    fn a_level_is_parsed_naming_available() {
        let ok = SetStockRequest { available: 12 }.parse().unwrap();
        assert_eq!(ok.get(), 12);
        for bad in [-1, 1_000_001] {
            let err = SetStockRequest { available: bad }.parse().unwrap_err();
            assert_eq!(field_of(err), "available", "{bad}");
        }
    }

    #[test]
    fn listing_needs_product_ids() {
        let err = ListStockParams::default().parse().unwrap_err();
        assert_eq!(field_of(err), "product_ids");
        let ids = ListStockParams {
            product_ids: Some("a,b".into()),
        }
        .parse()
        .unwrap();
        assert_eq!(ids.as_slice().len(), 2);
    }

    #[test]
    fn malformed_ids_name_no_product() {
        assert!(matches!(
            product_id("no such/id"),
            Err(InventoryError::ProductNotFound(_))
        ));
    }
}
