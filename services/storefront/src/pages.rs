//! The shop's pages: one module per part of the shop, and what they share — product
//! cards, category links and paging. (The frame around every page is [`crate::frame`].)

pub mod account;
pub mod cart;
pub mod catalog;
pub mod checkout;

use crate::{
    api::{Category, Product, Summary},
    app::App,
    domain::format_money,
    error::StorefrontError,
    frame::{self, here, render},
    session::Visitor,
    views::urlencode,
};
use axum::{
    extract::{FromRef, FromRequestParts, OriginalUri},
    http::{Uri, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// What every page handler starts from: the app, the visitor, and the URI the visitor
/// asked for (before any routing).
pub struct PageRequest {
    pub app: App,
    pub v: Visitor,
    pub uri: Uri,
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest
where
    App: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let v = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(parts, state).await;
        Ok(Self {
            app: App::from_ref(state),
            v,
            uri,
        })
    }
}

impl PageRequest {
    /// Renders `template` with `page`, which loads while the header is asked for (with
    /// the search box holding `words`); titled `title` of the page, or `fallback` when it
    /// did not load.
    pub async fn show_loading<P: Serialize>(
        &self,
        words: &str,
        template: &str,
        page: impl Future<Output = Result<P, StorefrontError>>,
        title: impl FnOnce(&P) -> String,
        fallback: &str,
    ) -> Response {
        let Self { app, v, uri } = self;
        let path = here(uri);
        let (chrome, page) = tokio::join!(frame::chrome(v, &path, words, None), page);
        let title = page.as_ref().map_or_else(|_| fallback.to_owned(), title);
        render(app.views(), v, &chrome, template, &title, page)
    }
}

/// Renders a page under the header for `uri`, without search words; `cart_units` when
/// the page has read the cart anyway.
pub async fn show<P: Serialize>(
    app: &App,
    v: &Visitor,
    uri: &Uri,
    cart_units: Option<i64>,
    template: &str,
    title: &str,
    page: Result<P, StorefrontError>,
) -> Response {
    let chrome = frame::chrome(v, &here(uri), "", cart_units).await;
    render(app.views(), v, &chrome, template, title, page)
}

/// A product in a grid of products.
#[derive(Debug, Clone, Serialize)]
pub struct ProductCard {
    pub id: String,
    pub name: String,
    pub category: String,
    pub price: String,
    pub url: String,
    pub image_url: String,
}

impl ProductCard {
    pub fn from_product(app: &App, p: &Product) -> Self {
        app.remember_picture_facts(&p.id, &p.name, &p.category);
        Self::new(&p.id, &p.name, &p.category, p.price_cents, &p.currency)
    }

    pub fn from_summary(app: &App, s: &Summary) -> Self {
        if !s.category.is_empty() {
            app.remember_picture_facts(&s.id, &s.name, &s.category);
        }
        Self::new(&s.id, &s.name, &s.category, s.price_cents, &s.currency)
    }

    fn new(id: &str, name: &str, category: &str, cents: i64, currency: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            category: category.to_owned(),
            price: format_money(cents, currency),
            url: product_url(id),
            image_url: image_url(id),
        }
    }
}

/// A product page's path.
pub fn product_url(id: &str) -> String {
    format!("/p/{}", urlencode(id))
}

/// A product picture's path.
pub fn image_url(id: &str) -> String {
    format!("/images/products/{}.svg", urlencode(id))
}

/// A link to a category.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryLink {
    pub id: String,
    pub name: String,
    pub description: String,
    pub product_count: i64,
    pub url: String,
}

impl From<&Category> for CategoryLink {
    fn from(c: &Category) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            product_count: c.product_count,
            url: format!("/c/{}", urlencode(&c.id)),
        }
    }
}

/// Links between the pages of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Pagination {
    pub page: u32,
    pub pages: u32,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    pub links: Vec<PageLink>,
}

/// One numbered page link (`number` 0 marks a gap).
#[derive(Debug, Clone, Serialize)]
pub struct PageLink {
    pub number: u32,
    pub url: String,
    pub current: bool,
}

/// Paging links, or `None` when everything fits on one page.
pub fn pagination(
    page: u32,
    per_page: u32,
    total: i64,
    url_for: impl Fn(u32) -> String,
) -> Option<Pagination> {
    let per_page = i64::from(per_page.max(1));
    let pages = u32::try_from((total.max(0) + per_page - 1) / per_page).unwrap_or(u32::MAX);
    if pages <= 1 {
        return None;
    }
    let mut links = Vec::new();
    let mut last = 0;
    for n in 1..=pages {
        let near = n == 1 || n == pages || n.abs_diff(page) <= 2;
        if !near {
            continue;
        }
        if last != 0 && n > last + 1 {
            links.push(PageLink {
                number: 0,
                url: String::new(),
                current: false,
            });
        }
        links.push(PageLink {
            number: n,
            url: url_for(n),
            current: n == page,
        });
        last = n;
    }
    Some(Pagination {
        page,
        pages,
        // Past the last page, "previous" is the last one, not another empty page.
        prev_url: (page > 1).then(|| url_for(page.min(pages + 1) - 1)),
        next_url: (page < pages).then(|| url_for(page + 1)),
        links,
    })
}

/// The value of a link's `page` parameter: empty for the first page.
pub fn page_in_link(n: u32) -> String {
    if n == 1 { String::new() } else { n.to_string() }
}

/// A query string of the non-empty pairs (`?a=1&b=2`, or nothing).
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
}

/// An API's message, as a sentence on a page (`must not be empty` → `Must not be
/// empty.`).
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_shows_the_ends_and_the_neighbourhood() {
        let p = pagination(5, 10, 95, |n| format!("/x?page={n}")).unwrap();
        assert_eq!(p.pages, 10);
        let numbers: Vec<u32> = p.links.iter().map(|l| l.number).collect();
        assert_eq!(numbers, [1, 0, 3, 4, 5, 6, 7, 0, 10]);
        assert_eq!(p.prev_url.as_deref(), Some("/x?page=4"));
        assert_eq!(p.next_url.as_deref(), Some("/x?page=6"));
        let past = pagination(999, 10, 95, |n| format!("/x?page={n}")).unwrap();
        assert_eq!(
            past.prev_url.as_deref(),
            Some("/x?page=10"),
            "the last page"
        );
        assert_eq!(past.next_url, None);
        assert!(pagination(1, 10, 10, |_| String::new()).is_none());
        assert!(pagination(1, 10, 0, |_| String::new()).is_none());
    }

    #[test]
    fn query_strings_leave_out_empty_values() {
        assert_eq!(
            query_string(&[("q", "red mug".into()), ("page", String::new())]),
            "?q=red+mug"
        );
        assert_eq!(query_string(&[("q", String::new())]), "");
    }

    #[test]
    fn api_messages_read_as_sentences() {
        assert_eq!(sentence("must not be empty"), "Must not be empty.");
        assert_eq!(sentence("Too short."), "Too short.");
        assert_eq!(sentence(""), "");
    }
}
