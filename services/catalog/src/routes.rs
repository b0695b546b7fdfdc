//! The catalog's HTTP API under `/api/catalog`: handlers, their request and response
//! bodies, and the OpenAPI document they make up.

use crate::{
    domain::{
        Category, CategoryId, Currency, Description, InitialStock, Invalid, NewProduct, Price,
        Product, ProductId, ProductName, ProductPatch, ProductQuery, Sku, Sort,
    },
    error::CatalogError,
    store::{ProductRecord, Store},
};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    response::IntoResponse,
};
use platform::openapi::{AdminOnly, BearerAuth};
use platform::{
    Failure, Problem,
    auth::{Admin, Verifier},
    extract::{InPath, Json, Names, Query, TraceParent},
    failure::Fields,
    filter::price_range_refusals,
    service::created,
};
use serde::{Deserialize, Serialize, de::IgnoredAny};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach (each field by its type: `State<Store>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub verifier: Verifier,
    /// The shop's currency: what every product is priced in.
    pub currency: Currency,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar catalog",
        description = "The shop's products and categories. Reading is open to everyone; \
            creating, changing and deleting products needs an administrator's bearer token. \
            Errors are RFC 9457 problem documents (`application/problem+json`); validation \
            problems list each bad field in `errors`, the body as a whole being named `body`."
    ),
    tags(
        (name = "categories", description = "The shop's fixed set of categories."),
        (name = "products", description = "Products: listing, lookup and administration.")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The catalog's routes and their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_categories))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .with_state(state)
}

/// `GET /api/catalog/categories`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<Category>,
}

/// One page of a product listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// How many products match, over all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// Filters, order and page of a product listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProductsParams {
    /// Only products of this category (its id, e.g. `kitchen`); an unknown one is a 422.
    category: Option<String>,
    /// Only products costing at least this much (minor units, ≥ 0).
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Only products costing at most this much (minor units, ≥ `min_price`).
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// Only products whose name contains this text, ignoring case (at most 100
    /// characters). A filter, not a search: use the search service for that.
    #[param(max_length = 100)]
    q: Option<String>,
    /// The order; ties are broken by id. Default `name`.
    #[param(inline)]
    sort: Option<Sort>,
    /// The page, from 1. Default 1.
    // Said as a 64-bit integer: `int32` (what a `u32` is said as) stops at 2³¹ − 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4_294_967_295_u64)]
    page: Option<u32>,
    /// Products per page, 1 to 100. Default 20.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

/// Whether the category `raw` names is one the catalog has (`true` when none is named):
/// asked before a request's fields are judged, so that an unknown category is refused
/// with every other bad field, not alone once they are mended.
async fn category_known(store: &Store, raw: Option<&str>) -> Result<bool, CatalogError> {
    match raw.filter(|c| !c.is_empty()) {
        Some(category) => Ok(store.category_exists(category).await?),
        None => Ok(true),
    }
}

/// A well-formed category id, refused when the catalog does not have it.
fn in_catalog(parsed: Result<CategoryId, Invalid>, known: bool) -> Result<CategoryId, Invalid> {
    parsed.and_then(|c| {
        if known {
            Ok(c)
        } else {
            Err(Invalid(
                CatalogError::UnknownCategory(c.as_str().to_owned()).to_string(),
            ))
        }
    })
}

impl ListProductsParams {
    /// The query; `category_known`: whether the catalog has the category it names.
    fn parse(self, category_known: bool) -> Result<ProductQuery, CatalogError> {
        let mut fields = Fields::new();
        let page = self.page.unwrap_or(1);
        if page == 0 {
            fields.refuse("page", "must be 1 or more");
        }
        let per_page = self.per_page.unwrap_or(ProductQuery::DEFAULT_PER_PAGE);
        if !(1..=ProductQuery::MAX_PER_PAGE).contains(&per_page) {
            fields.refuse(
                "per_page",
                format!("must be between 1 and {}", ProductQuery::MAX_PER_PAGE),
            );
        }
        for (field, refusal) in price_range_refusals(self.min_price, self.max_price) {
            fields.refuse(field, refusal);
        }
        let name_contains = self
            .q
            .filter(|q| !q.trim().is_empty())
            .map(|q| q.trim().to_owned());
        if name_contains
            .as_ref()
            .is_some_and(|q| q.chars().count() > ProductQuery::MAX_QUERY_LEN)
        {
            fields.refuse(
                "q",
                format!(
                    "must be at most {} characters long",
                    ProductQuery::MAX_QUERY_LEN
                ),
            );
        }
        let category = self.category.filter(|c| !c.is_empty()).and_then(|raw| {
            fields.take(
                "category",
                in_catalog(CategoryId::parse(&raw), category_known),
            )
        });
        fields.check()?;
        Ok(ProductQuery {
            category,
            min_price: self.min_price,
            max_price: self.max_price,
            name_contains,
            sort: self.sort.unwrap_or_default(),
            page,
            per_page,
        })
    }
}

/// A product to create. A field not listed here is refused (422 naming it): a misspelt
/// one would otherwise be dropped without a word.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    /// 3 to 32 characters of `A-Z`, `0-9` and `-`; unique.
    #[schema(example = "KIT-09001", pattern = "^[A-Z0-9-]{3,32}$")]
    pub sku: String,
    /// 1 to 120 characters.
    #[schema(
        example = "Hearthstone 10-inch Cast-Iron Skillet",
        min_length = 1,
        max_length = 120
    )]
    pub name: String,
    /// At most 2000 characters; may be empty.
    #[schema(max_length = 2000)]
    pub description: String,
    /// A category id from `GET /api/catalog/categories`.
    #[schema(example = "kitchen")]
    pub category: String,
    /// The price in minor units, 1 to 100 000 000.
    #[schema(example = 4999, minimum = 1, maximum = 100000000)]
    pub price_cents: i64,
    /// ISO 4217 code: the shop's currency (`USD` unless configured), which is also the
    /// default; a product in another could not be bought, and is refused.
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    #[serde(default)]
    pub currency: Option<String>,
    /// Units in stock to start with (handed to inventory), 0 to 1 000 000; default 0.
    #[schema(maximum = 1000000)]
    #[serde(default)]
    pub initial_stock: Option<u32>,
}

impl CreateProductRequest {
    /// The product, priced in `shop`'s currency; every bad field is reported at once
    /// (`category_known`: whether the catalog has its category).
    fn parse(self, shop: Currency, category_known: bool) -> Result<NewProduct, CatalogError> {
        let mut fields = Fields::new();
        let sku = fields.take("sku", Sku::parse(&self.sku));
        let name = fields.take("name", ProductName::parse(&self.name));
        let description = fields.take("description", Description::parse(&self.description));
        let category = fields.take(
            "category",
            in_catalog(CategoryId::parse(&self.category), category_known),
        );
        let price = fields.take("price_cents", Price::from_cents(self.price_cents));
        let currency = fields.take(
            "currency",
            self.currency
                .as_deref()
                .map_or(Ok(shop), Currency::parse)
                .and_then(|c| {
                    if c == shop {
                        Ok(c)
                    } else {
                        Err(Invalid(format!(
                            "this shop sells in {shop} only; a product priced in {c} could not be bought"
                        )))
                    }
                }),
        );
        let initial_stock = fields.take(
            "initial_stock",
            InitialStock::new(self.initial_stock.unwrap_or(0)),
        );
        // Every field is parsed before any is found missing, so that the answer names each
        // one refused.
        let product = || {
            Some(NewProduct {
                sku: sku?,
                name: name?,
                description: description?,
                category: category?,
                price: price?,
                currency: currency?,
                initial_stock: initial_stock?,
            })
        };
        product().ok_or_else(|| Failure::from(fields).into())
    }
}

/// A change to a product: any non-empty subset of these fields. `sku` and `currency`
/// cannot be changed; `id` and the timestamps are the server's and are ignored; any other
/// field is refused (422 naming it): a misspelt one (`price`) would otherwise be dropped
/// while the rest of the change went through.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    #[schema(min_length = 1, max_length = 120)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// A category id from `GET /api/catalog/categories`.
    pub category: Option<String>,
    #[schema(minimum = 1, maximum = 100000000)]
    pub price_cents: Option<i64>,
    #[schema(ignore)]
    #[serde(default)]
    sku: Option<IgnoredAny>,
    #[schema(ignore)]
    #[serde(default)]
    currency: Option<IgnoredAny>,
    #[schema(ignore)]
    #[serde(default)]
    #[allow(dead_code, reason = "the server's own field: accepted, and ignored")]
    id: Option<IgnoredAny>,
    #[schema(ignore)]
    #[serde(default)]
    #[allow(dead_code, reason = "the server's own field: accepted, and ignored")]
    created_at: Option<IgnoredAny>,
    #[schema(ignore)]
    #[serde(default)]
    #[allow(dead_code, reason = "the server's own field: accepted, and ignored")]
    updated_at: Option<IgnoredAny>,
}

impl UpdateProductRequest {
    /// The patch; `category_known`: whether the catalog has the category it names.
    fn parse(self, category_known: bool) -> Result<ProductPatch, CatalogError> {
        let mut fields = Fields::new();
        if self.sku.is_some() {
            fields.refuse("sku", "cannot be changed; create a new product instead");
        }
        if self.currency.is_some() {
            fields.refuse("currency", "cannot be changed");
        }
        let patch = ProductPatch {
            name: self
                .name
                .and_then(|v| fields.take("name", ProductName::parse(&v))),
            description: self
                .description
                .and_then(|v| fields.take("description", Description::parse(&v))),
            category: self.category.and_then(|v| {
                fields.take(
                    "category",
                    in_catalog(CategoryId::parse(&v), category_known),
                )
            }),
            price: self
                .price_cents
                .and_then(|v| fields.take("price_cents", Price::from_cents(v))),
        };
        if fields.is_empty() && patch.is_empty() {
            fields.refuse(
                "body",
                "the patch changes nothing: give at least one of name, description, category, price_cents",
            );
        }
        fields.check()?;
        Ok(patch)
    }
}

/// The product a path names (`/products/{id}`): an id that cannot be a product's names
/// none (404).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // declares the parameter; `InPath` reads it
struct ProductPath {
    /// The product's id
    id: String,
}

impl Names for ProductPath {
    type Id = ProductId;

    fn parse(raw: &str) -> Option<ProductId> {
        ProductId::parse(raw)
    }

    fn none(raw: String) -> axum::response::Response {
        CatalogError::ProductNotFound(raw).into_response()
    }
}

platform::problem_responses! {
    /// `404`: no product has the id in the path.
    pub NoSuchProduct { "404" => "No such product" }
}

/// Lists the categories with their product counts.
#[utoipa::path(
    get,
    path = "/api/catalog/categories",
    tag = "categories",
    responses(
        (status = 200, description = "Every category, in the shop's order", body = CategoryList)
    )
)]
#[tracing::instrument(skip_all)]
async fn list_categories(State(store): State<Store>) -> Result<Json<CategoryList>, CatalogError> {
    Ok(Json(CategoryList {
        items: store.categories().await?,
    }))
}

/// Lists products, filtered, sorted and paged.
#[utoipa::path(
    get,
    path = "/api/catalog/products",
    tag = "products",
    params(ListProductsParams),
    responses(
        (status = 200, description = "One page of matching products and the total count", body = ProductPage),
        (status = 422, description = "A parameter is malformed or out of range (named in `errors`), or the category is unknown", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn list_products(
    State(store): State<Store>,
    Query(params): Query<ListProductsParams>,
) -> Result<Json<ProductPage>, CatalogError> {
    let known = category_known(&store, params.category.as_deref()).await?;
    let query = params.parse(known)?;
    let (items, total) = store.list(&query).await?;
    Ok(Json(ProductPage {
        items,
        total,
        page: query.page,
        per_page: query.per_page,
    }))
}

/// Gets one product.
#[utoipa::path(
    get,
    path = "/api/catalog/products/{id}",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "The product", body = Product),
        NoSuchProduct
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn get_product(
    State(store): State<Store>,
    InPath(id): InPath<ProductPath>,
) -> Result<Json<Product>, CatalogError> {
    store
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| CatalogError::ProductNotFound(id.to_string()))
}

/// Creates a product (administrators only) and announces it with `product.created`.
#[utoipa::path(
    post,
    path = "/api/catalog/products",
    tag = "products",
    security(("bearer" = [])),
    request_body(content = CreateProductRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Product,
            headers(("Location" = String, description = "The new product's URL"))),
        (status = 409, description = "Another product has this sku", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing, of the wrong type or invalid (named in `errors`), or the category is unknown", body = Problem, content_type = "application/problem+json"),
        AdminOnly
    )
)]
#[tracing::instrument(skip_all)]
async fn create_product(
    State(store): State<Store>,
    State(currency): State<Currency>,
    Admin(admin): Admin,
    TraceParent(traceparent): TraceParent,
    Json(body): Json<CreateProductRequest>,
) -> Result<impl IntoResponse, CatalogError> {
    let known = category_known(&store, Some(&body.category)).await?;
    let record = ProductRecord {
        id: ProductId::new(),
        product: body.parse(currency, known)?,
        created_at: events::envelope::now_rfc3339(),
    };
    let product = store.create(record, traceparent).await?;
    tracing::info!(product_id = %product.id, sku = %product.sku, admin = %admin.sub, "product created");
    let url = format!("/api/catalog/products/{}", product.id);
    Ok(created(&url, product))
}

/// Changes some of a product's fields (administrators only). Records `product.updated`,
/// plus `product.price_changed` when the price changed; a patch that changes no value
/// records nothing and returns the product as it is.
#[utoipa::path(
    patch,
    path = "/api/catalog/products/{id}",
    tag = "products",
    security(("bearer" = [])),
    params(ProductPath),
    request_body(content = UpdateProductRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The product after the change", body = Product),
        NoSuchProduct,
        (status = 422, description = "The patch is empty, or a field is invalid or read-only (named in `errors`)", body = Problem, content_type = "application/problem+json"),
        AdminOnly
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn update_product(
    State(store): State<Store>,
    Admin(admin): Admin,
    InPath(id): InPath<ProductPath>,
    TraceParent(traceparent): TraceParent,
    Json(body): Json<UpdateProductRequest>,
) -> Result<Json<Product>, CatalogError> {
    let known = category_known(&store, body.category.as_deref()).await?;
    let patch = body.parse(known)?;
    let product = store.update(id, &patch, traceparent).await?;
    tracing::info!(admin = %admin.sub, "product updated");
    Ok(Json(product))
}

/// Deletes a product for good (administrators only) and records `product.deleted`.
#[utoipa::path(
    delete,
    path = "/api/catalog/products/{id}",
    tag = "products",
    security(("bearer" = [])),
    params(ProductPath),
    responses(
        (status = 204, description = "Deleted"),
        NoSuchProduct,
        AdminOnly
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn delete_product(
    State(store): State<Store>,
    Admin(admin): Admin,
    InPath(id): InPath<ProductPath>,
    TraceParent(traceparent): TraceParent,
) -> Result<StatusCode, CatalogError> {
    store.delete(id, traceparent).await?;
    tracing::info!(admin = %admin.sub, "product deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    fn create(json: serde_json::Value) -> Result<NewProduct, Vec<String>> {
        let body: CreateProductRequest = serde_json::from_value(json).unwrap();
        body.parse(Currency::USD, true).map_err(refused_fields)
    }

    #[test]
    fn a_product_is_priced_in_the_shops_currency_only() {
        let product = |currency: &str| {
            serde_json::json!({
                "sku": "KIT-1", "name": "Mug", "description": "", "category": "kitchen",
                "price_cents": 999, "currency": currency
            })
        };
        assert_eq!(create(product("USD")).unwrap().currency, Currency::USD);
        for other in ["EUR", "ZZZ"] {
            assert_eq!(create(product(other)).unwrap_err(), ["currency"], "{other}");
        }
        let body: CreateProductRequest = serde_json::from_value(product("EUR")).unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(body.parse(eur, true).unwrap().currency, eur);
    }

    #[test]
    fn create_defaults_currency_and_stock() {
        let p = create(serde_json::json!({
            "sku": "KIT-1", "name": "Mug", "description": "", "category": "kitchen", "price_cents": 999
        }))
        .unwrap();
        assert_eq!(p.currency.as_str(), "USD");
        assert_eq!(p.initial_stock.units(), 0);
    }

    #[test]
    fn create_reports_every_bad_field_at_once() {
        let fields = create(serde_json::json!({
            "sku": "k", "name": "", "description": "", "category": "Kitchen",
            "price_cents": 0, "currency": "usd", "initial_stock": 2_000_000
        }))
        .unwrap_err();
        assert_eq!(
            fields,
            [
                "sku",
                "name",
                "category",
                "price_cents",
                "currency",
                "initial_stock"
            ]
        );
    }

    #[test]
    fn an_unknown_category_is_refused_with_every_other_bad_field() {
        // A review: `category` was checked only once every other field was right.
        let body: CreateProductRequest = serde_json::from_value(serde_json::json!({
            "sku": "", "name": "", "description": "", "category": "nope",
            "price_cents": -1, "currency": "usdollar"
        }))
        .unwrap();
        assert_eq!(
            body.parse(Currency::USD, false)
                .map_err(refused_fields)
                .unwrap_err(),
            ["sku", "name", "category", "price_cents", "currency"]
        );
        let body: UpdateProductRequest =
            serde_json::from_value(serde_json::json!({"price_cents": 0, "category": "nope"}))
                .unwrap();
        assert_eq!(
            body.parse(false).map_err(refused_fields).unwrap_err(),
            ["category", "price_cents"]
        );
        let params = ListProductsParams {
            page: Some(0),
            category: Some("nope".into()),
            ..Default::default()
        };
        assert_eq!(
            params.parse(false).map_err(refused_fields).unwrap_err(),
            ["page", "category"]
        );
    }

    fn patch(json: serde_json::Value) -> Result<ProductPatch, Vec<String>> {
        let body: UpdateProductRequest = serde_json::from_value(json).unwrap();
        body.parse(true).map_err(refused_fields)
    }

    #[test]
    fn patch_must_change_something_and_not_the_sku() {
        assert_eq!(patch(serde_json::json!({})).unwrap_err(), ["body"]);
        assert_eq!(
            patch(serde_json::json!({"name": null})).unwrap_err(),
            ["body"]
        );
        assert_eq!(
            patch(serde_json::json!({"sku": "X-1", "name": "A"})).unwrap_err(),
            ["sku"]
        );
        assert_eq!(
            patch(serde_json::json!({"currency": "EUR"})).unwrap_err(),
            ["currency"]
        );
        assert_eq!(
            patch(serde_json::json!({"price_cents": -5})).unwrap_err(),
            ["price_cents"]
        );
        let ok = patch(serde_json::json!({"price_cents": 500, "id": "ignored"})).unwrap();
        assert_eq!(ok.price.map(Price::cents), Some(500));
    }

    #[test]
    fn a_misspelt_field_is_refused_not_dropped() {
        let refused = platform::extract::parse_json::<UpdateProductRequest>(
            br#"{"price": 5, "name": "Patch Probe"}"#,
        )
        .unwrap_err();
        assert_eq!(refused.status, 422);
        assert!(
            refused.errors.iter().any(|e| e.field.contains("price")),
            "{:?}",
            refused.errors
        );
        let created = platform::extract::parse_json::<CreateProductRequest>(
            br#"{"sku": "KIT-1", "name": "A", "description": "", "category": "kitchen",
                 "price_cents": 100, "foo": 1}"#,
        )
        .unwrap_err();
        assert!(
            created.errors.iter().any(|e| e.field.contains("foo")),
            "{:?}",
            created.errors
        );
    }

    fn list(params: ListProductsParams) -> Result<ProductQuery, Vec<String>> {
        params.parse(true).map_err(refused_fields)
    }

    #[test]
    fn listing_defaults_and_bounds() {
        let q = list(ListProductsParams::default()).unwrap();
        assert_eq!((q.page, q.per_page, q.sort), (1, 20, Sort::Name));
        let blank = ListProductsParams {
            q: Some("  ".into()),
            category: Some(String::new()),
            ..Default::default()
        };
        let q = list(blank).unwrap();
        assert_eq!((q.name_contains, q.category), (None, None));
        let cases: Vec<(&str, ListProductsParams, &str)> = vec![
            (
                "page 0",
                ListProductsParams {
                    page: Some(0),
                    ..Default::default()
                },
                "page",
            ),
            (
                "per_page 101",
                ListProductsParams {
                    per_page: Some(101),
                    ..Default::default()
                },
                "per_page",
            ),
            (
                "per_page 0",
                ListProductsParams {
                    per_page: Some(0),
                    ..Default::default()
                },
                "per_page",
            ),
            (
                "negative price",
                ListProductsParams {
                    min_price: Some(-1),
                    ..Default::default()
                },
                "min_price",
            ),
            (
                "min above max",
                ListProductsParams {
                    min_price: Some(10),
                    max_price: Some(5),
                    ..Default::default()
                },
                "min_price",
            ),
            (
                "not a slug",
                ListProductsParams {
                    category: Some("Not A Slug".into()),
                    ..Default::default()
                },
                "category",
            ),
            (
                "long q",
                ListProductsParams {
                    q: Some("x".repeat(101)),
                    ..Default::default()
                },
                "q",
            ),
        ];
        for (label, params, field) in cases {
            assert_eq!(list(params).unwrap_err(), [field], "{label}");
        }
        let equal = ListProductsParams {
            min_price: Some(5),
            max_price: Some(5),
            sort: Some(Sort::Newest),
            ..Default::default()
        };
        assert!(list(equal).is_ok());
    }
}

/// Property tests of the listing's query string, read as the handler reads it: through
/// the `Query` extractor, then [`ListProductsParams::parse`].
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::{
        refused_fields,
        strategies::{percent_encoded, query_params},
    };
    use proptest::prelude::*;

    /// What a listing request with this query string gets: the parsed query, or the fields
    /// named in the 422 (any other refusal as its description).
    fn listing(query: &str) -> Result<ProductQuery, Vec<String>> {
        let params = query_params::<ListProductsParams>(query)?;
        params.parse(true).map_err(refused_fields)
    }

    /// Numbers about the bounds of a `u32` page or page size, and any `i64`.
    fn number_near(bounds: &'static [i64]) -> impl Strategy<Value = i64> {
        prop_oneof![
            prop::sample::select(bounds).prop_flat_map(|b| b - 2..=b + 2),
            any::<i64>(),
        ]
    }

    proptest! {
        #[test]
        fn every_page_from_one_and_page_size_from_one_to_100_is_a_listing(
            page in number_near(&[0, 1, u32::MAX as i64]),
            per_page in number_near(&[0, 1, 100]),
        ) {
            let got = listing(&format!("page={page}&per_page={per_page}"));
            let page_ok = (1..=i64::from(u32::MAX)).contains(&page);
            let per_page_ok = (1..=100).contains(&per_page);
            if page_ok && per_page_ok {
                let query = got.map_err(|fields| TestCaseError::fail(format!("{fields:?}")))?;
                prop_assert_eq!(i64::from(query.page), page);
                prop_assert_eq!(i64::from(query.per_page), per_page);
                prop_assert_eq!(query.offset(), (page - 1) * per_page);
            } else if u32::try_from(page).is_err() {
                // A number no `u32` holds stops the extractor, which names it alone.
                prop_assert_eq!(got.err(), Some(vec!["page".to_owned()]));
            } else if u32::try_from(per_page).is_err() {
                prop_assert_eq!(got.err(), Some(vec!["per_page".to_owned()]));
            } else {
                let expected: Vec<String> = [("page", page_ok), ("per_page", per_page_ok)]
                    .into_iter()
                    .filter(|(_, ok)| !ok)
                    .map(|(field, _)| field.to_owned())
                    .collect();
                prop_assert_eq!(got.err(), Some(expected));
            }
        }

        #[test]
        fn price_filters_from_zero_up_in_order_are_a_listing(
            min in prop::option::of(number_near(&[0, 1_000])),
            max in prop::option::of(number_near(&[0, 1_000])),
        ) {
            let query: Vec<String> = [("min_price", min), ("max_price", max)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
            let got = listing(&query.join("&"));
            let ok = min.is_none_or(|m| m >= 0)
                && max.is_none_or(|m| m >= 0)
                && !matches!((min, max), (Some(lo), Some(hi)) if lo > hi);
            match got {
                Ok(query) => {
                    prop_assert!(ok, "{:?}..{:?} was accepted", min, max);
                    prop_assert_eq!((query.min_price, query.max_price), (min, max));
                }
                Err(fields) => {
                    prop_assert!(!ok, "{:?}..{:?} was refused: {:?}", min, max, fields);
                    let named = min.is_some_and(|m| m < 0) || max.is_some_and(|m| m < 0);
                    prop_assert!(
                        !named || fields.iter().any(|f| f.ends_with("_price")),
                        "{:?}",
                        fields
                    );
                }
            }
        }

        #[test]
        fn any_name_filter_arrives_intact_and_is_trimmed_or_refused_past_100_characters(
            q in prop_oneof![
                prop::collection::vec(any::<char>(), 0..150).prop_map(String::from_iter),
                "[ \t]{0,3}[a-zA-Z&=+%# ]{0,110}[ \t]{0,3}",
            ],
        ) {
            let got = listing(&format!("q={}", percent_encoded(&q)));
            let trimmed = q.trim();
            if trimmed.chars().count() > ProductQuery::MAX_QUERY_LEN {
                prop_assert_eq!(got.err(), Some(vec!["q".to_owned()]));
            } else {
                let query = got.map_err(|fields| TestCaseError::fail(format!("{fields:?}")))?;
                let expected = Some(trimmed.to_owned()).filter(|t| !t.is_empty());
                prop_assert_eq!(query.name_contains, expected);
            }
        }

        #[test]
        fn a_category_is_a_slug_or_refused_naming_the_category(
            category in prop_oneof!["[a-z0-9-]{0,70}", "[a-zA-Z0-9 _/-]{1,10}"],
        ) {
            let got = listing(&format!("category={}", percent_encoded(&category)));
            match CategoryId::parse(&category) {
                Ok(id) => prop_assert_eq!(got.map(|q| q.category), Ok(Some(id))),
                Err(_) if category.is_empty() => prop_assert_eq!(got.map(|q| q.category), Ok(None)),
                Err(_) => prop_assert_eq!(got.err(), Some(vec!["category".to_owned()])),
            }
        }

        #[test]
        fn a_sort_is_one_of_four_names_or_refused_naming_the_sort(
            sort in prop_oneof![
                prop::sample::select(vec!["name", "price_asc", "price_desc", "newest"]).prop_map(str::to_owned),
                "[a-z_]{0,12}",
            ],
        ) {
            let known = [
                ("name", Sort::Name),
                ("price_asc", Sort::PriceAsc),
                ("price_desc", Sort::PriceDesc),
                ("newest", Sort::Newest),
            ];
            let got = listing(&format!("sort={sort}"));
            match known.iter().find(|(name, _)| *name == sort) {
                Some((_, expected)) => prop_assert_eq!(got.map(|q| q.sort), Ok(*expected)),
                None => prop_assert_eq!(got.err(), Some(vec!["sort".to_owned()])),
            }
        }

        #[test]
        fn any_query_string_is_a_listing_or_a_refusal_naming_a_parameter(
            query in "((page|per_page|min_price|max_price|q|category|sort|other)=[A-Za-z0-9%+._-]{0,8}&?){0,6}",
        ) {
            if let Err(fields) = listing(&query) {
                let known = ["page", "per_page", "min_price", "max_price", "q", "category", "sort"];
                prop_assert!(!fields.is_empty(), "{:?} refused naming nothing", query);
                for field in &fields {
                    prop_assert!(known.contains(&field.as_str()), "{:?} refused naming {:?}", query, field);
                }
            }
        }
    }
}
