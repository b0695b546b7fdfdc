//! Browsing: the home page, a category with its filters, search with its facets (and the
//! catalog's name filter when search is down), a product with its stock and
//! recommendations, and product pictures.

use super::{
    CategoryLink, PageRequest, Pagination, ProductCard, page_in_link, pagination, query_string,
};
use crate::{
    api::{Listing, SearchQuery},
    app::App,
    domain::{
        CategoryId, ListingSort, PriceInput, ProductId, SearchSort, SearchText, SortOrder,
        StockStatus, format_money, page_number,
    },
    error::StorefrontError,
    images,
    session::Visitor,
};
use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use platform::{FieldError, Problem, extract::Query};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Products per page of a listing.
const PER_PAGE: u32 = 24;

#[derive(Serialize)]
struct HomePage {
    categories: Vec<CategoryLink>,
    shelves: Vec<Shelf>,
    /// `None`: not signed in, or recommendations are unavailable.
    recommended: Option<Vec<ProductCard>>,
}

#[derive(Serialize)]
struct Shelf {
    category: CategoryLink,
    products: Vec<ProductCard>,
}

/// `GET /`: the categories, a shelf of products from each of the biggest few, and
/// recommendations for a signed-in shopper.
#[tracing::instrument(skip_all)]
pub async fn home(req: PageRequest) -> Response {
    let page = home_page(&req.app, &req.v);
    req.show_loading("", "home.html", page, |_| "Bazaar".into(), "Bazaar")
        .await
}

async fn home_page(app: &App, v: &Visitor) -> Result<HomePage, StorefrontError> {
    let categories = app.categories(v).await?;
    let mut featured = categories.clone();
    featured.sort_by(|a, b| {
        b.product_count
            .cmp(&a.product_count)
            .then(a.name.cmp(&b.name))
    });
    featured.truncate(app.config().featured_categories);
    let per_shelf = u32::try_from(app.config().featured_per_category).unwrap_or(4);
    let shelves = futures_util::future::join_all(featured.iter().map(|c| async move {
        let listing = Listing {
            category: CategoryId::parse(&c.id).ok(),
            page: 1,
            per_page: per_shelf,
            ..Listing::default()
        };
        v.shop().products(&listing).await.map(|p| Shelf {
            category: CategoryLink::from(c),
            products: p
                .items
                .iter()
                .map(|p| ProductCard::from_product(app, p))
                .collect(),
        })
    }));
    let recommended = async {
        v.user().await?;
        v.shop().recommended_for_me().await.ok().map(|items| {
            items
                .iter()
                .map(|s| ProductCard::from_summary(app, s))
                .collect()
        })
    };
    let (shelves, recommended) = tokio::join!(shelves, recommended);
    let shelves = shelves.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(HomePage {
        categories: categories.iter().map(CategoryLink::from).collect(),
        shelves,
        recommended: recommended.filter(|r: &Vec<ProductCard>| !r.is_empty()),
    })
}

/// Filters and paging of a category listing, as the URL has them.
#[derive(Debug, Default, Deserialize)]
pub struct ListingParams {
    min_price: Option<String>,
    max_price: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

/// A sort order offered in a `<select>`.
#[derive(Serialize)]
struct SortOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// Every order of a kind, `selected` marked.
fn sort_options<S: SortOrder>(selected: S) -> Vec<SortOption> {
    S::ALL
        .iter()
        .map(|s| SortOption {
            value: s.as_str(),
            label: s.label(),
            selected: *s == selected,
        })
        .collect()
}

#[derive(Serialize)]
struct CategoryPage {
    category: CategoryLink,
    products: Vec<ProductCard>,
    total: i64,
    min_price: String,
    max_price: String,
    sort_options: Vec<SortOption>,
    errors: BTreeMap<String, String>,
    pagination: Option<Pagination>,
    /// The first page with the same filters and order (for a page past the last one).
    first_page_url: String,
}

/// A category's listing filters, parsed; bad values are named and left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: ListingSort,
    pub page: u32,
    /// What the shopper typed, to show back.
    pub min_text: String,
    pub max_text: String,
    pub errors: Vec<FieldError>,
}

impl ListingParams {
    /// Parses the filters; a bad price is named and not applied.
    pub fn parse(&self) -> Filters {
        let mut errors = Vec::new();
        let mut price = |field: &str, raw: &Option<String>| {
            let raw = raw.as_deref().unwrap_or_default().trim();
            if raw.is_empty() {
                return None;
            }
            PriceInput::parse(raw)
                .map_err(|e| errors.push(FieldError::new(field, format!("The price {e}."))))
                .ok()
                .map(PriceInput::cents)
        };
        let mut min_price = price("min_price", &self.min_price);
        let max_price = price("max_price", &self.max_price);
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            errors.push(FieldError::new(
                "min_price",
                "The lowest price must not be above the highest.",
            ));
            min_price = None;
        }
        Filters {
            min_price,
            max_price,
            sort: ListingSort::parse(self.sort.as_deref().unwrap_or_default()),
            page: page_number(self.page.as_deref()),
            min_text: self.min_price.clone().unwrap_or_default(),
            max_text: self.max_price.clone().unwrap_or_default(),
            errors,
        }
    }
}

/// `GET /c/{category}`: one category's products, filtered by price, sorted and paged.
#[tracing::instrument(skip_all, fields(category = %raw))]
pub async fn category(
    req: PageRequest,
    Path(raw): Path<String>,
    Query(params): Query<ListingParams>,
) -> Response {
    let page = category_page(&req.app, &req.v, &raw, params);
    let title = |p: &CategoryPage| format!("{} · Bazaar", p.category.name);
    req.show_loading("", "category.html", page, title, "Bazaar")
        .await
}

async fn category_page(
    app: &App,
    v: &Visitor,
    raw: &str,
    params: ListingParams,
) -> Result<CategoryPage, StorefrontError> {
    let id =
        CategoryId::parse(raw).map_err(|_| StorefrontError::NotFound(format!("category {raw}")))?;
    let filters = params.parse();
    let listing = Listing {
        category: Some(id.clone()),
        min_price: filters.min_price,
        max_price: filters.max_price,
        sort: filters.sort,
        page: filters.page,
        per_page: PER_PAGE,
        name_contains: None,
    };
    let (categories, products) = tokio::join!(app.categories(v), v.shop().products(&listing));
    let products = products.map_err(|e| match e.status() {
        // The catalog names an unknown category a bad filter.
        Some(422) | Some(404) => StorefrontError::NotFound(format!("category {raw}")),
        _ => e,
    })?;
    let category = categories
        .ok()
        .and_then(|list| {
            list.iter()
                .find(|c| c.id == id.as_str())
                .map(CategoryLink::from)
        })
        .unwrap_or_else(|| CategoryLink {
            id: id.as_str().to_owned(),
            name: id.as_str().to_owned(),
            description: String::new(),
            product_count: products.total,
            url: format!("/c/{}", id.as_str()),
        });
    let url_for = |n: u32| {
        format!(
            "/c/{}{}",
            id.as_str(),
            query_string(&[
                ("min_price", filters.min_text.clone()),
                ("max_price", filters.max_text.clone()),
                ("sort", filters.sort.in_link()),
                ("page", page_in_link(n)),
            ])
        )
    };
    Ok(CategoryPage {
        category,
        products: products
            .items
            .iter()
            .map(|p| ProductCard::from_product(app, p))
            .collect(),
        total: products.total,
        min_price: filters.min_text.clone(),
        max_price: filters.max_text.clone(),
        sort_options: sort_options(filters.sort),
        errors: filters
            .errors
            .iter()
            .map(|e| (e.field.clone(), e.message.clone()))
            .collect(),
        first_page_url: url_for(1),
        pagination: pagination(filters.page, PER_PAGE, products.total, url_for),
    })
}

/// What the search box and the search page's links send.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    category: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

#[derive(Serialize)]
struct SearchPage {
    query: String,
    error: Option<String>,
    products: Vec<ProductCard>,
    total: i64,
    /// Search was down: these are the catalog's name matches.
    fallback: bool,
    facets: Vec<Facet>,
    all_categories_url: String,
    category: Option<String>,
    sort_options: Vec<SortOption>,
    pagination: Option<Pagination>,
    /// The first page of the same search (for a page past the last one).
    first_page_url: String,
    /// The page asked for is past the last one search lets anyone see.
    past_the_end: bool,
}

#[derive(Serialize)]
struct Facet {
    id: String,
    name: String,
    count: i64,
    url: String,
    selected: bool,
}

/// `GET /search?q=`: search results with category facets; when search is unavailable,
/// the catalog's products whose names contain the words.
#[tracing::instrument(skip_all)]
pub async fn search(req: PageRequest, Query(params): Query<SearchParams>) -> Response {
    let typed = params.q.clone().unwrap_or_default();
    let title = match typed.trim() {
        "" => "Search · Bazaar".to_owned(),
        q => format!("{q} · Search · Bazaar"),
    };
    let page = search_page(&req.app, &req.v, params);
    req.show_loading(typed.trim(), "search.html", page, |_| title.clone(), &title)
        .await
}

async fn search_page(
    app: &App,
    v: &Visitor,
    params: SearchParams,
) -> Result<SearchPage, StorefrontError> {
    let sort = SearchSort::parse(params.sort.as_deref().unwrap_or_default());
    let page = page_number(params.page.as_deref());
    let category = params
        .category
        .as_deref()
        .filter(|c| !c.is_empty())
        .and_then(|c| CategoryId::parse(c).ok());
    let mut result = SearchPage {
        query: params.q.clone().unwrap_or_default().trim().to_owned(),
        error: None,
        products: Vec::new(),
        total: 0,
        fallback: false,
        facets: Vec::new(),
        all_categories_url: String::new(),
        category: category.as_ref().map(|c| c.as_str().to_owned()),
        sort_options: sort_options(sort),
        pagination: None,
        first_page_url: String::new(),
        past_the_end: false,
    };
    let text = match SearchText::parse(params.q.as_deref().unwrap_or_default()) {
        Ok(t) => t,
        Err(e) => {
            result.error = Some(format!("Your search {e}."));
            return Ok(result);
        }
    };
    if text.is_empty() {
        return Ok(result);
    }
    let link = |category: Option<&str>, n: u32| {
        format!(
            "/search{}",
            query_string(&[
                ("q", text.as_str().to_owned()),
                ("category", category.unwrap_or_default().to_owned()),
                ("sort", sort.in_link()),
                ("page", page_in_link(n)),
            ])
        )
    };
    result.all_categories_url = link(None, 1);
    result.first_page_url = link(category.as_ref().map(CategoryId::as_str), 1);
    let query = SearchQuery {
        q: text.as_str().to_owned(),
        category: category.clone(),
        sort,
        page,
        per_page: PER_PAGE,
    };
    let selected = category.as_ref().map(|c| c.as_str());
    match v.shop().search(&query).await {
        Ok(found) => {
            let names: BTreeMap<String, String> = app
                .categories(v)
                .await
                .map(|list| list.into_iter().map(|c| (c.id, c.name)).collect())
                .unwrap_or_default();
            let mut facets: Vec<Facet> = found
                .facets
                .category
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(id, count)| Facet {
                    name: names.get(id).cloned().unwrap_or_else(|| id.clone()),
                    id: id.clone(),
                    count: *count,
                    url: link(Some(id), 1),
                    selected: selected == Some(id.as_str()),
                })
                .collect();
            facets.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
            result.facets = facets;
            result.total = found.total;
            result.products = found
                .items
                .iter()
                .map(|s| ProductCard::from_summary(app, s))
                .collect();
        }
        // Refused, not down: a page deeper than search lets anyone page (the first 10,000
        // results). Said as it is, not shown as an outage with the catalog's matches.
        // (Only a refusal of the page: any other 422, a word too long for the index say,
        // is not about paging.)
        Err(StorefrontError::Refused { problem, .. })
            if problem.status == 422 && problem.errors.iter().any(|f| f.field == "page") =>
        {
            let why = problem.errors.iter().find(|f| f.field == "page");
            result.past_the_end = true;
            result.error = Some(format!(
                "That page cannot be shown: {}",
                why.map_or("it is too deep", |f| f.message.as_str())
            ));
            return Ok(result);
        }
        // Search refused the words (more than it takes, a word longer than any it
        // indexes): said as search says it, not shown as an outage.
        Err(StorefrontError::Refused { problem, .. })
            if problem.status == 422 && problem.errors.iter().any(|f| f.field == "q") =>
        {
            let why = problem.errors.iter().find(|f| f.field == "q");
            result.error = Some(format!(
                "Your search {}.",
                why.map_or("cannot be searched for", |f| f.message.as_str())
            ));
            return Ok(result);
        }
        Err(e) => {
            tracing::warn!(error = %e, "search failed; falling back to the catalog's name filter");
            let listing = Listing {
                category: category.clone(),
                name_contains: Some(text.as_str().to_owned()),
                sort: sort.for_catalog(),
                page,
                per_page: PER_PAGE,
                ..Listing::default()
            };
            let found = v.shop().products(&listing).await?;
            result.fallback = true;
            result.total = found.total;
            result.products = found
                .items
                .iter()
                .map(|p| ProductCard::from_product(app, p))
                .collect();
        }
    }
    result.pagination = pagination(page, PER_PAGE, result.total, |n| link(selected, n));
    Ok(result)
}

/// What a product page's URL may carry after an add-to-cart.
#[derive(Debug, Default, Deserialize)]
pub struct ProductParams {
    added: Option<String>,
    cart_error: Option<String>,
}

#[derive(Serialize)]
struct ProductPage {
    product: ProductView,
    stock: StockView,
    /// `None`: recommendations are unavailable right now.
    recommendations: Option<Vec<ProductCard>>,
    added: Option<i64>,
    cart_error: Option<&'static str>,
}

#[derive(Serialize)]
struct ProductView {
    id: String,
    sku: String,
    name: String,
    description: String,
    price: String,
    category: CategoryLink,
    image_url: String,
}

#[derive(Serialize)]
struct StockView {
    status: StockStatus,
    label: String,
    can_buy: bool,
    max_quantity: i64,
}

/// Why adding to the cart failed, as the redirect back to the product names it.
pub fn cart_error_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "quantity" => "Choose a quantity between 1 and 99.",
        "line_full" => {
            "Your cart already holds some of this product, and a cart holds at most 99 of \
             one product: choose fewer, or change the quantity in your cart."
        }
        "unavailable" => "This product can no longer be added to the cart.",
        "full" => "Your cart is full: it holds at most 50 different products.",
        "down" => "We could not add this to your cart just now. Please try again.",
        _ => return None,
    })
}

/// `GET /p/{id}`: a product, its stock, an add-to-cart form and recommendations.
#[tracing::instrument(skip_all, fields(product_id = %raw))]
pub async fn product(
    req: PageRequest,
    Path(raw): Path<String>,
    Query(params): Query<ProductParams>,
) -> Response {
    let page = product_page(&req.app, &req.v, &raw, params);
    let title = |p: &ProductPage| format!("{} · Bazaar", p.product.name);
    req.show_loading("", "product.html", page, title, "Bazaar")
        .await
}

async fn product_page(
    app: &App,
    v: &Visitor,
    raw: &str,
    params: ProductParams,
) -> Result<ProductPage, StorefrontError> {
    let id =
        ProductId::parse(raw).map_err(|_| StorefrontError::NotFound(format!("product {raw}")))?;
    let (product, stock, recommendations) = tokio::join!(
        v.shop().product(&id),
        v.shop().stock(&id),
        v.shop().recommendations(&id),
    );
    let product = product?;
    app.remember_picture_facts(&product.id, &product.name, &product.category);
    let status = match stock {
        Ok(s) => StockStatus::new(
            s.available,
            s.discontinued,
            app.config().low_stock_threshold,
        ),
        Err(e) => {
            tracing::debug!(error = %e, "no stock for the product page");
            StockStatus::Unknown
        }
    };
    let recommendations = match recommendations {
        Ok(items) => Some(
            items
                .iter()
                .filter(|s| s.id != product.id)
                .map(|s| ProductCard::from_summary(app, s))
                .collect(),
        ),
        Err(e) => {
            tracing::debug!(error = %e, "no recommendations for the product page");
            None
        }
    };
    let category_name = app.category_name(v, &product.category).await;
    Ok(ProductPage {
        stock: StockView {
            label: status.label(),
            can_buy: status.can_buy(),
            max_quantity: status.max_quantity(),
            status,
        },
        product: ProductView {
            image_url: super::image_url(&product.id),
            price: format_money(product.price_cents, &product.currency),
            category: CategoryLink {
                url: format!("/c/{}", super::urlencode(&product.category)),
                id: product.category.clone(),
                name: category_name,
                description: String::new(),
                product_count: 0,
            },
            id: product.id,
            sku: product.sku,
            name: product.name,
            description: product.description,
        },
        recommendations,
        added: params
            .added
            .and_then(|a| a.parse::<i64>().ok())
            .filter(|a| (1..=99).contains(a)),
        cart_error: params.cart_error.as_deref().and_then(cart_error_message),
    })
}

/// `GET /images/products/{id}.svg`: a product's picture, drawn from its name and
/// category.
#[utoipa::path(
    get,
    path = "/images/products/{file}",
    tag = "pages",
    params(("file" = String, Path, description = "`<product id>.svg`")),
    responses(
        (status = 200, description = "The picture (a neutral one, not cached, while the catalog cannot be asked)", content_type = "image/svg+xml", body = String),
        (status = 404, description = "No such product, or not an `.svg` name", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(file = %file))]
pub async fn image(State(app): State<App>, v: Visitor, Path(file): Path<String>) -> Response {
    let not_found = || Problem::not_found(format!("there is no picture `{file}`")).into_response();
    let Some(id) = file
        .strip_suffix(".svg")
        .and_then(|raw| ProductId::parse(raw).ok())
    else {
        return not_found();
    };
    let (svg, cache) = match app.picture_facts(&v, &id).await {
        Ok((name, category)) => (
            images::product_svg(&name, &category),
            "public, max-age=86400",
        ),
        Err(e) if e.status() == Some(404) => return not_found(),
        Err(e) => {
            tracing::debug!(error = %e, "no facts for a picture");
            (images::placeholder_svg(), "no-store")
        }
    };
    let mut res = (StatusCode::OK, svg).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min: &str, max: &str) -> ListingParams {
        ListingParams {
            min_price: Some(min.into()),
            max_price: Some(max.into()),
            sort: Some("price_asc".into()),
            page: Some("2".into()),
        }
    }

    #[test]
    fn filters_are_read_from_the_url() {
        let f = params("10", "25.50").parse();
        assert_eq!(f.min_price, Some(1000));
        assert_eq!(f.max_price, Some(2550));
        assert_eq!(f.sort, ListingSort::PriceAsc);
        assert_eq!(f.page, 2);
        assert!(f.errors.is_empty());
        let none = ListingParams::default().parse();
        assert_eq!((none.min_price, none.max_price, none.page), (None, None, 1));
    }

    #[test]
    fn bad_filters_are_named_and_not_applied() {
        let f = params("cheap", "-3").parse();
        let fields: Vec<&str> = f.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["min_price", "max_price"]);
        assert_eq!((f.min_price, f.max_price), (None, None));
        let crossed = params("30", "20").parse();
        assert_eq!(crossed.errors[0].field, "min_price");
        assert_eq!((crossed.min_price, crossed.max_price), (None, Some(2000)));
    }

    #[test]
    fn cart_errors_are_a_fixed_set() {
        assert!(cart_error_message("quantity").is_some());
        assert_eq!(cart_error_message("<script>"), None);
    }
}
