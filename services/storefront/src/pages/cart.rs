//! The cart page and its forms: add from a product page, change a quantity, remove a line.
//! The cart service keeps the cart (by the user's token, or by its anonymous cookie,
//! which passes through the storefront both ways).

use super::{PageRequest, product_url};
use crate::{
    domain::{ProductId, Quantity, format_money},
    error::StorefrontError,
    form::Form,
    frame::{self, here, render, see_other},
    session::Visitor,
};
use axum::{extract::Path, response::Response};
use platform::extract::Query;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct CartPage {
    lines: Vec<LineView>,
    total: String,
    units: i64,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    signed_in: bool,
    has_unavailable: bool,
}

#[derive(Serialize)]
struct LineView {
    product_id: String,
    name: String,
    url: String,
    image_url: String,
    unit_price: String,
    quantity: i64,
    line_total: String,
    available: bool,
}

/// What the cart page's URL may carry after a change.
#[derive(Debug, Default, Deserialize)]
pub struct CartParams {
    notice: Option<String>,
    error: Option<String>,
}

fn notice_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "updated" => "Quantity updated.",
        "removed" => "Removed from your cart.",
        _ => return None,
    })
}

fn error_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "quantity" => "Choose a quantity between 1 and 99.",
        "line_full" => "A cart holds at most 99 of one product.",
        "unavailable" => "That product can no longer be bought.",
        "down" => "We could not change your cart just now. Please try again.",
        _ => return None,
    })
}

/// `GET /cart`.
#[tracing::instrument(skip_all)]
pub async fn page(
    PageRequest { app, v, uri }: PageRequest,
    Query(params): Query<CartParams>,
) -> Response {
    let cart = v.shop().cart().await;
    let units = cart.as_ref().ok().map(|c| c.units());
    let chrome = frame::chrome(&v, &here(&uri), "", units).await;
    let signed_in = chrome.user.is_some();
    let page = cart.map(|cart| CartPage {
        units: cart.units(),
        total: format_money(cart.total_cents, &cart.currency),
        has_unavailable: cart.items.iter().any(|l| !l.available),
        lines: cart
            .items
            .iter()
            .map(|l| LineView {
                product_id: l.product_id.clone(),
                name: l.name.clone(),
                url: product_url(&l.product_id),
                image_url: super::image_url(&l.product_id),
                unit_price: format_money(l.unit_price_cents, &cart.currency),
                quantity: l.quantity,
                line_total: format_money(l.line_total_cents, &cart.currency),
                available: l.available,
            })
            .collect(),
        notice: params.notice.as_deref().and_then(notice_message),
        error: params.error.as_deref().and_then(error_message),
        signed_in,
    });
    render(
        app.views(),
        &v,
        &chrome,
        "cart.html",
        "Your cart · Bazaar",
        page,
    )
}

/// The add-to-cart form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddForm {
    product_id: String,
    quantity: String,
}

/// Why a cart change failed, as a code for the page it returns to.
fn failure_code(e: &StorefrontError) -> &'static str {
    match e.problem() {
        // The line would pass 99 with what the cart holds already: the quantity chosen
        // was fine in itself.
        Some(p)
            if p.errors
                .iter()
                .any(|f| f.field == "quantity" && f.message.contains("already")) =>
        {
            "line_full"
        }
        Some(p) if p.errors.iter().any(|f| f.field == "quantity") => "quantity",
        Some(p) if p.status == 422 && p.detail.as_deref().is_some_and(|d| d.contains("50")) => {
            "full"
        }
        Some(p) if p.status == 422 || p.status == 404 || p.status == 409 => "unavailable",
        _ => "down",
    }
}

/// `POST /cart/items`: adds to the cart, then back to the product with a confirmation.
#[tracing::instrument(skip_all)]
pub async fn add(v: Visitor, Form(form): Form<AddForm>) -> Response {
    let Ok(id) = ProductId::parse(&form.product_id) else {
        return see_other("/cart?error=unavailable");
    };
    let back = product_url(id.as_str());
    let Ok(quantity) = Quantity::parse(&form.quantity) else {
        return see_other(&format!("{back}?cart_error=quantity"));
    };
    match v.shop().add_to_cart(&id, quantity).await {
        Ok(()) => see_other(&format!("{back}?added={}", quantity.get())),
        Err(e) => {
            tracing::info!(error = %e, "adding to the cart failed");
            see_other(&format!("{back}?cart_error={}", failure_code(&e)))
        }
    }
}

/// The quantity form of a cart line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QuantityForm {
    quantity: String,
}

/// `POST /cart/items/{id}`: sets a line's quantity.
#[tracing::instrument(skip_all, fields(product_id = %raw))]
pub async fn update(
    v: Visitor,
    Path(raw): Path<String>,
    Form(form): Form<QuantityForm>,
) -> Response {
    let Ok(id) = ProductId::parse(&raw) else {
        return see_other("/cart?error=unavailable");
    };
    let Ok(quantity) = Quantity::parse(&form.quantity) else {
        return see_other("/cart?error=quantity");
    };
    match v.shop().set_quantity(&id, quantity).await {
        Ok(()) => see_other("/cart?notice=updated"),
        Err(e) => see_other(&format!("/cart?error={}", failure_code(&e))),
    }
}

/// `POST /cart/items/{id}/remove`: removes a line.
#[tracing::instrument(skip_all, fields(product_id = %raw))]
pub async fn remove(v: Visitor, Path(raw): Path<String>) -> Response {
    let Ok(id) = ProductId::parse(&raw) else {
        return see_other("/cart");
    };
    match v.shop().remove_from_cart(&id).await {
        Ok(()) => see_other("/cart?notice=removed"),
        // Already gone is what was asked for.
        Err(e) if e.status() == Some(404) => see_other("/cart?notice=removed"),
        Err(_) => see_other("/cart?error=down"),
    }
}
