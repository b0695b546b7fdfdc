//! Search's HTTP API under `/api/search`: handlers, their parameters and bodies, and the
//! OpenAPI document they make up.

use crate::{
    domain::{CategorySlug, Paging, PriceRange, SearchQuery, Sort, Words},
    engine::{MAX_SUGGESTIONS, SearchResults, Suggestion},
    error::SearchError,
    index::SearchIndex,
    indexer::Indexer,
    replay::{RebuildMode, Rebuilds},
};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
};
use platform::openapi::{AdminOnly, BearerAuth};
use platform::{
    Problem,
    auth::{Admin, Verifier},
    extract::{Json, Query},
    failure::Fields,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach (each field by its type: `State<SearchIndex>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub index: SearchIndex,
    pub indexer: Indexer,
    pub rebuilds: Rebuilds,
    pub verifier: Verifier,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar search",
        description = "Full-text search over the catalog. Search keeps its own copy of the \
            products, built only from the catalog's events, and a tantivy index derived from \
            that copy: a catalog change shows in results well within a second. Searching is \
            open to everyone; rebuilding is for administrators. Search text is taken as \
            plain words (quotes and operators are ignored): every word must match the name \
            or the description, one typo per word of three or more letters is tolerated, and \
            the last word also matches as the beginning of a word. Errors are RFC 9457 \
            problem documents (`application/problem+json`); validation problems list each \
            bad field in `errors`."
    ),
    tags(
        (name = "search", description = "Searching and type-ahead."),
        (name = "admin", description = "Rebuilding the index (administrators only)."),
        (name = "events", description = "Operators' view of the catalog events search \
            could not apply (administrators only).")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Search's routes and their OpenAPI document. The dead-letter routes are served by
/// `events::admin::routes`.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(search))
        .routes(routes!(suggest))
        .routes(routes!(rebuild))
        .routes(routes!(status))
        .with_state(state)
}

/// Words, filters, order and page of a search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words to look for, at most 200 characters, 12 words of at most 40 characters.
    /// Empty or absent: every product (filtered).
    #[param(max_length = 200)]
    q: Option<String>,
    /// Only products of this category (its slug, e.g. `kitchen`); an unknown one has no
    /// products.
    category: Option<String>,
    /// Only products costing at least this much (minor units, ≥ 0, inclusive).
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Only products costing at most this much (minor units, ≥ `min_price`, inclusive).
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// The order. Default `relevance` (by name when there are no words); ties by name, then
    /// by product id.
    #[param(inline)]
    sort: Option<Sort>,
    /// The page, from 1. Default 1. `page × per_page` may not exceed 10 000.
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Hits per page, 1 to 100. Default 20.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

impl SearchParams {
    fn parse(self) -> Result<SearchQuery, SearchError> {
        let mut fields = Fields::new();
        let words = fields
            .take("q", Words::parse(self.q.as_deref().unwrap_or_default()))
            .unwrap_or_default();
        let category = match self.category.filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => fields.take("category", CategorySlug::parse(&raw)),
        };
        let price = PriceRange::new(self.min_price, self.max_price)
            .map_err(|(field, e)| fields.refuse(field, e.0))
            .unwrap_or_default();
        let paging = Paging::new(
            self.page.unwrap_or(1),
            self.per_page.unwrap_or(Paging::DEFAULT_PER_PAGE),
        )
        .map_err(|(field, e)| fields.refuse(field, e.0))
        .unwrap_or_default();
        fields.check()?;
        Ok(SearchQuery {
            words,
            category,
            price,
            sort: self.sort.unwrap_or_default(),
            paging,
        })
    }
}

/// What has been typed so far.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// The beginning of one or more words, as a search's words: at most 200 characters, 12
    /// words of at most 40 characters. Empty: no suggestions.
    #[param(max_length = 200)]
    q: Option<String>,
}

/// Completions for type-ahead.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuggestionList {
    /// Up to 8 product names in which, for every word typed, a word starts with it; by
    /// name, each name once.
    pub suggestions: Vec<Suggestion>,
}

/// A rebuild that has started.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RebuildStarted {
    pub mode: RebuildMode,
    pub detail: String,
}

/// How far the index is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IndexStatus {
    /// Products search knows and the catalog has not deleted.
    pub products: i64,
    /// Products in the index.
    pub documents: u64,
    /// The last product version taken in by the index.
    pub indexed_version: i64,
    /// The highest version of any product row in the database.
    pub latest_version: i64,
    /// Whether the index has taken in every recorded change.
    pub up_to_date: bool,
}

/// Searches the products.
#[utoipa::path(
    get,
    path = "/api/search",
    tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "One page of hits, the total and the category facets", body = SearchResults),
        (status = 422, description = "A parameter is malformed or out of range (named in `errors`): `q` too long or with too many or too long words, a malformed `category`, a negative price or `min_price` above `max_price`, `page` or `per_page` out of range, an unknown `sort`", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn search(
    State(index): State<SearchIndex>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, SearchError> {
    let query = params.parse()?;
    let results = tokio::task::spawn_blocking(move || index.search(&query)).await??;
    Ok(Json(results))
}

/// Completes what has been typed into product names.
#[utoipa::path(
    get,
    path = "/api/search/suggest",
    tag = "search",
    params(SuggestParams),
    responses(
        (status = 200, description = "Up to 8 product names", body = SuggestionList),
        (status = 422, description = "`q` is too long, or has too many or too long words", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn suggest(
    State(index): State<SearchIndex>,
    Query(params): Query<SuggestParams>,
) -> Result<Json<SuggestionList>, SearchError> {
    let words = Words::parse(params.q.as_deref().unwrap_or_default())
        .map_err(|e| SearchError::invalid("q", e.0))?;
    if words.is_empty() {
        return Ok(Json(SuggestionList {
            suggestions: Vec::new(),
        }));
    }
    let suggestions =
        tokio::task::spawn_blocking(move || index.suggest(&words, MAX_SUGGESTIONS)).await??;
    Ok(Json(SuggestionList { suggestions }))
}

/// Rebuilds search from scratch (administrators only): the consumer is stopped, search's
/// products, handled events and index are deleted, its position in the catalog's log goes
/// back to 0, and the consumer starts again: the catalog's whole history is replayed (read
/// from the catalog's log whatever the shop's broker), and results fill up again as it is
/// (dead letters are kept). The replica answers not ready from the request until the
/// rebuild is done, and resets only after its drain delay, once callers have moved to
/// its peers. Answers once the reset is done; the rebuild goes on after.
#[utoipa::path(
    post,
    path = "/api/search/admin/rebuild",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Search was reset; the replay (or reindex) is under way", body = RebuildStarted),
        (status = 503, description = "Search is stopping", body = Problem, content_type = "application/problem+json"),
        AdminOnly
    )
)]
#[tracing::instrument(skip_all)]
async fn rebuild(
    State(rebuilds): State<Rebuilds>,
    Admin(admin): Admin,
) -> Result<(StatusCode, Json<RebuildStarted>), SearchError> {
    let mode = rebuilds.request().await?;
    tracing::info!(admin = %admin.sub, ?mode, "search rebuild started");
    let detail = match mode {
        RebuildMode::Replay => "search was reset; the catalog's events are being replayed",
        RebuildMode::Reindex => "the index was emptied; it is being rebuilt from search's products",
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(RebuildStarted {
            mode,
            detail: detail.to_owned(),
        }),
    ))
}

/// How far the index is behind search's copy of the products (administrators only).
#[utoipa::path(
    get,
    path = "/api/search/admin/status",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts and versions", body = IndexStatus),
        AdminOnly
    )
)]
#[tracing::instrument(skip_all)]
async fn status(
    State(indexer): State<Indexer>,
    Admin(_): Admin,
) -> Result<Json<IndexStatus>, SearchError> {
    let products = indexer.store().live_products().await?;
    let latest_version = indexer.store().latest_version().await?;
    let indexed_version = indexer.index().mark();
    Ok(Json(IndexStatus {
        products,
        documents: indexer.index().num_docs(),
        indexed_version,
        latest_version,
        up_to_date: indexed_version >= latest_version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    #[test]
    fn defaults_search_everything_by_relevance() {
        let q = SearchParams::default().parse().unwrap();
        assert!(q.words.is_empty());
        assert_eq!(q.sort, Sort::Relevance);
        assert_eq!((q.paging.page(), q.paging.per_page()), (1, 20));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let err = SearchParams {
            q: Some("x".repeat(1000)),
            category: Some("Not A Slug".into()),
            min_price: Some(-1),
            page: Some(0),
            ..SearchParams::default()
        }
        .parse()
        .unwrap_err();
        assert_eq!(refused_fields(err), ["q", "category", "min_price", "page"]);
        let err = SearchParams {
            min_price: Some(10),
            max_price: Some(5),
            per_page: Some(101),
            ..SearchParams::default()
        }
        .parse()
        .unwrap_err();
        assert_eq!(refused_fields(err), ["min_price", "per_page"]);
    }
}

/// Property tests of the search's query string, read as the handler reads it: through the
/// `Query` extractor, then [`SearchParams::parse`].
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::{
        refused_fields,
        strategies::{percent_encoded, query_params},
    };
    use proptest::prelude::*;

    /// What a search with this query string gets: the parsed search, or the fields named in
    /// the 422 (any other refusal as its description).
    fn search(query: &str) -> Result<SearchQuery, Vec<String>> {
        let params = query_params::<SearchParams>(query)?;
        params.parse().map_err(refused_fields)
    }

    proptest! {
        #[test]
        fn any_search_text_arrives_intact_and_gives_its_words_or_a_refusal_naming_q(
            q in prop_oneof![
                prop::collection::vec(any::<char>(), 0..250).prop_map(String::from_iter),
                "[a-zA-Z0-9 &=+%#\"()-]{0,220}",
            ],
        ) {
            let got = search(&format!("q={}", percent_encoded(&q)));
            match Words::parse(&q) {
                Ok(words) => prop_assert_eq!(got.map(|s| s.words), Ok(words)),
                Err(_) => prop_assert_eq!(got.err(), Some(vec!["q".to_owned()])),
            }
        }

        #[test]
        fn every_bad_parameter_is_named_at_once_in_order(
            bad_q in any::<bool>(),
            bad_category in any::<bool>(),
            bad_price in any::<bool>(),
            bad_page in any::<bool>(),
            good_page in 1..=100u32,
        ) {
            let q = if bad_q { "w ".repeat(13) } else { "cast iron".to_owned() };
            let category = if bad_category { "Not A Slug" } else { "kitchen" };
            let (min, max) = if bad_price { (10, 5) } else { (5, 10) };
            let page = if bad_page { 0 } else { good_page };
            let got = search(&format!(
                "q={}&category={}&min_price={min}&max_price={max}&page={page}&per_page=100",
                percent_encoded(&q),
                percent_encoded(category),
            ));
            let expected: Vec<String> = [
                (bad_q, "q"),
                (bad_category, "category"),
                (bad_price, "min_price"),
                (bad_page, "page"),
            ]
            .into_iter()
            .filter(|(bad, _)| *bad)
            .map(|(_, field)| field.to_owned())
            .collect();
            match got {
                Ok(query) => {
                    prop_assert!(expected.is_empty(), "{:?} were not named", expected);
                    prop_assert_eq!(query.paging.page(), page);
                    prop_assert_eq!((query.price.min(), query.price.max()), (Some(min), Some(max)));
                }
                Err(fields) => prop_assert_eq!(fields, expected),
            }
        }

        #[test]
        fn a_page_and_page_size_that_a_u32_holds_are_paging_or_a_refusal_naming_them(
            page in prop_oneof![0..=2u32, 99..=101u32, any::<u32>()],
            per_page in prop_oneof![0..=2u32, 99..=101u32, any::<u32>()],
        ) {
            let got = search(&format!("page={page}&per_page={per_page}"));
            match Paging::new(page, per_page) {
                Ok(paging) => prop_assert_eq!(got.map(|s| s.paging), Ok(paging)),
                Err((field, _)) => prop_assert_eq!(got.err(), Some(vec![field.to_owned()])),
            }
        }

        #[test]
        fn any_query_string_is_a_search_or_a_refusal_naming_a_parameter(
            query in "((q|category|min_price|max_price|sort|page|per_page|other)=[A-Za-z0-9%+._-]{0,8}&?){0,6}",
        ) {
            if let Err(fields) = search(&query) {
                let known = ["q", "category", "min_price", "max_price", "sort", "page", "per_page"];
                prop_assert!(!fields.is_empty(), "{:?} refused naming nothing", query);
                for field in &fields {
                    prop_assert!(known.contains(&field.as_str()), "{:?} refused naming {:?}", query, field);
                }
            }
        }
    }
}
