//! The pages: one module per part of the shop, and what they share — product cards,
//! paging, redirects, and rendering a page or its friendly error page.

pub mod account;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod ops;

use crate::{
    app::App,
    domain::format_money,
    error::StorefrontError,
    session::Visitor,
    shop::{Category, Product, Summary},
    views::{Chrome, html_response, urlencode},
};
use axum::{
    http::{StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
};
use serde::Serialize;

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
        prev_url: (page > 1).then(|| url_for(page - 1)),
        next_url: (page < pages).then(|| url_for(page + 1)),
        links,
    })
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

/// This request's path and query.
pub fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

/// 303 to the sign-in form, coming back to `next` afterwards.
pub fn to_signin(next: &str) -> Response {
    Redirect::to(&format!("/signin?next={}", urlencode(next))).into_response()
}

/// 303 to a path of this site.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Renders a page, or its error page (or the sign-in form, when the visitor must sign
/// in), and logs how long the request took.
pub fn render<P: Serialize>(
    app: &App,
    v: &Visitor,
    chrome: &Chrome,
    template: &str,
    title: &str,
    page: Result<P, StorefrontError>,
) -> Response {
    let res = match page {
        Ok(p) => match app.views().page(template, title, chrome, p) {
            Ok(html) => html_response(StatusCode::OK, html),
            Err(e) => app.views().error_page(chrome, &e),
        },
        Err(StorefrontError::SignInRequired) => to_signin(&chrome.path),
        Err(e) => app.views().error_page(chrome, &e),
    };
    tracing::debug!(
        template,
        status = res.status().as_u16(),
        elapsed_ms = v.started().elapsed().as_millis() as u64,
        "page rendered"
    );
    res
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
}
