//! Checkout: the address and card form, and what each answer of the orders service means
//! to the shopper — a declined card (the cart is kept), stock that ran out, fields to fix.
//!
//! Each rendering of the form carries a fresh `Idempotency-Key` (a hidden field), so a
//! double submit of one form is one order. When the outcome of a submit is unknown (the
//! call timed out or the orders service could not be reached) the form comes back with
//! the same key: submitting it again then answers what happened the first time instead of
//! ordering twice.

use super::{PageRequest, sentence, show};
use crate::{
    api::Cart,
    app::App,
    domain::{CheckoutForm, checkout_field, format_money},
    error::StorefrontError,
    form::Form,
    frame::{self, see_other, to_signin},
    session::Visitor,
};
use axum::{
    http::{StatusCode, Uri},
    response::Response,
};
use platform::FieldError;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Serialize)]
struct CheckoutPage {
    empty: bool,
    /// The order this form carries on holds the cart's items (it waits for the form to
    /// be sent again): the cart reads empty, and the form is shown all the same.
    held: bool,
    lines: Vec<SummaryLine>,
    total: String,
    /// The total shown, sent back with the form: a price changed meanwhile is told
    /// before anything is charged.
    total_cents: i64,
    values: Values,
    errors: BTreeMap<String, String>,
    banner: Option<Banner>,
    idempotency_key: String,
    /// The orders service's stock errors (`items[i].quantity`), named once the cart is
    /// known.
    #[serde(skip)]
    stock_errors: Vec<FieldError>,
}

#[derive(Debug, Serialize)]
struct SummaryLine {
    name: String,
    quantity: i64,
    line_total: String,
    available: bool,
}

/// What the form shows back. Never the card number or its code.
#[derive(Debug, Default, Serialize)]
struct Values {
    name: String,
    line1: String,
    city: String,
    postal_code: String,
    country: String,
    exp_month: String,
    exp_year: String,
}

/// A message above the form.
#[derive(Debug, Serialize)]
struct Banner {
    title: String,
    message: String,
    /// Details, one per line (the products that ran out).
    items: Vec<String>,
    /// Where the shopper can fix it.
    link: Option<Link>,
}

#[derive(Debug, Serialize)]
struct Link {
    url: String,
    label: String,
}

impl Banner {
    /// A banner saying `title`, then `message`.
    fn new(title: &str, message: impl Into<String>) -> Self {
        Banner {
            title: title.to_owned(),
            message: message.into(),
            items: Vec::new(),
            link: None,
        }
    }

    /// The banner, with a link to where the shopper can put it right.
    fn linking(self, url: &str, label: &str) -> Self {
        let link = Link {
            url: url.to_owned(),
            label: label.to_owned(),
        };
        Banner {
            link: Some(link),
            ..self
        }
    }
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn summary(page: &mut CheckoutPage, cart: &Cart) {
    page.empty = cart.items.is_empty();
    page.total = format_money(cart.total_cents, &cart.currency);
    page.total_cents = cart.total_cents;
    page.lines = cart
        .items
        .iter()
        .map(|l| SummaryLine {
            name: l.name.clone(),
            quantity: l.quantity,
            line_total: format_money(l.line_total_cents, &cart.currency),
            available: l.available,
        })
        .collect();
}

/// `GET /checkout`.
#[tracing::instrument(skip_all)]
pub async fn form(PageRequest { app, v, uri }: PageRequest) -> Response {
    let user = match v.signed_in().await {
        Ok(user) => user,
        Err(StorefrontError::SignInRequired) => return to_signin("/checkout"),
        Err(e) => return show_checkout(&app, &v, &uri, None, Err(e)).await,
    };
    let cart = v.shop().cart().await;
    let units = cart.as_ref().ok().map(Cart::units);
    let page = cart.map(|cart| {
        let mut page = CheckoutPage {
            values: Values {
                name: user.name.clone(),
                country: "US".into(),
                ..Values::default()
            },
            idempotency_key: new_key(),
            ..CheckoutPage::default()
        };
        summary(&mut page, &cart);
        page
    });
    show_checkout(&app, &v, &uri, units, page).await
}

/// The checkout page, under a header that counts the cart just read.
async fn show_checkout(
    app: &App,
    v: &Visitor,
    uri: &Uri,
    cart_units: Option<i64>,
    page: Result<CheckoutPage, StorefrontError>,
) -> Response {
    let title = "Checkout · Bazaar";
    show(app, v, uri, cart_units, "checkout.html", title, page).await
}

/// `POST /checkout`: places the order; on success, to the order's page.
#[tracing::instrument(skip_all)]
pub async fn submit(
    PageRequest { app, v, uri }: PageRequest,
    Form(form): Form<CheckoutForm>,
) -> Response {
    match v.signed_in().await {
        Ok(_) => {}
        Err(StorefrontError::SignInRequired) => return to_signin("/checkout"),
        Err(e) => return show_checkout(&app, &v, &uri, None, Err(e)).await,
    }
    let mut page = CheckoutPage {
        values: Values {
            name: form.name.trim().to_owned(),
            line1: form.line1.trim().to_owned(),
            city: form.city.trim().to_owned(),
            postal_code: form.postal_code.trim().to_owned(),
            country: form.country.trim().to_ascii_uppercase(),
            exp_month: form.exp_month.trim().to_owned(),
            exp_year: form.exp_year.trim().to_owned(),
        },
        idempotency_key: new_key(),
        ..CheckoutPage::default()
    };
    let status = match form.parse() {
        Err(errors) => {
            for e in errors {
                if e.field == "idempotency_key" {
                    page.banner = Some(Banner::new("Please submit the form again", e.message));
                } else {
                    page.errors.insert(e.field, e.message);
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Ok(checkout) => match v.shop().checkout(&checkout).await {
            Ok(order) => {
                tracing::info!(order_id = %order.id, "order placed");
                return see_other(&format!("/orders/{}?placed=1", super::urlencode(&order.id)));
            }
            Err(StorefrontError::SignInRequired) => return to_signin("/checkout"),
            Err(e) => {
                match explain(&mut page, &e) {
                    Outcome::Unknown => {
                        page.idempotency_key = checkout.idempotency_key.clone();
                        page.held = true;
                    }
                    // This form placed an order that went through: show it.
                    Outcome::Placed(order_id) => {
                        return see_other(&format!(
                            "/orders/{}?placed=1",
                            super::urlencode(&order_id)
                        ));
                    }
                    Outcome::NotPlaced => {}
                }
                e.form_status()
            }
        },
    };
    let cart = v.shop().cart().await;
    if let Ok(cart) = &cart {
        summary(&mut page, cart);
        // An order that may still go through has the cart's items set aside: the same
        // form, sent again, carries it on, so it stays (an empty cart would hide it).
        page.held &= page.empty;
        page.empty &= !page.held;
        let lines = stock_problems(&page.stock_errors, cart);
        if let Some(banner) = page.banner.as_mut() {
            banner.items.extend(lines);
        }
    }
    let units = cart.as_ref().ok().map(Cart::units);
    let res = show_checkout(&app, &v, &uri, units, Ok(page)).await;
    frame::refused_form(res, status)
}

/// Whether the order was certainly not placed.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    NotPlaced,
    Unknown,
    /// An earlier submission of this form placed this order, confirmed.
    Placed(String),
}

/// Puts what went wrong on the page.
fn explain(page: &mut CheckoutPage, e: &StorefrontError) -> Outcome {
    match e {
        StorefrontError::Refused { problem, code, .. } if problem.status == 402 => {
            let why = match code.as_deref() {
                Some("insufficient_funds") => " for insufficient funds",
                Some("expired_card") => " because it has expired",
                _ => "",
            };
            page.errors
                .insert("card_number".into(), "This card was declined.".into());
            page.banner = Some(Banner::new(
                "Payment declined",
                format!(
                    "Your card was declined{why}. Nothing was charged and your cart has been \
                     kept: please try another card."
                ),
            ));
            Outcome::NotPlaced
        }
        StorefrontError::Refused { problem, .. }
            if problem.status == 409 && problem.kind.ends_with(":request-in-progress") =>
        {
            page.banner = Some(
                Banner::new(
                    "Your order is still being placed",
                    "This form was already submitted and the order is not finished yet. Check \
                     your orders in a moment; submitting again will not order twice.",
                )
                .linking("/orders", "See your orders"),
            );
            Outcome::Unknown
        }
        StorefrontError::Refused { problem, .. }
            if problem.status == 409 && problem.kind.ends_with(":price-changed") =>
        {
            page.banner = Some(
                Banner::new(
                    "Your total has changed",
                    "A price, or what your cart holds (changed in another tab, say), changed \
                     since this page was shown, so the total below is new. Nothing was \
                     charged: check your order and place it again.",
                )
                .linking("/cart", "See your cart"),
            );
            Outcome::NotPlaced
        }
        StorefrontError::Refused { problem, .. }
            if problem.status == 409 && problem.kind.ends_with(":cart-changed") =>
        {
            // Another checkout of the same cart (a second tab) went through first.
            page.banner = Some(
                Banner::new(
                    "Your cart changed while this order was placed",
                    "Another checkout of your cart went through first, or the cart was \
                     changed meanwhile, so this order was cancelled and nothing was charged \
                     for it. Your orders show what went through; your cart, what is left.",
                )
                .linking("/orders", "See your orders"),
            );
            Outcome::NotPlaced
        }
        StorefrontError::Refused { problem, .. }
            if problem.status == 409 && problem.kind.ends_with(":insufficient-stock") =>
        {
            page.stock_errors = problem.errors.clone();
            page.banner = Some(
                Banner::new(
                    "Some items are out of stock",
                    "Sorry, there is not enough stock for everything in your cart. Nothing was \
                     charged; change the quantities and try again.",
                )
                .linking("/cart", "Change your cart"),
            );
            Outcome::NotPlaced
        }
        StorefrontError::Refused { problem, .. } if problem.status == 409 => {
            page.banner = Some(Banner::new(
                "Your order could not be completed",
                format!(
                    "{} Nothing was charged; please try again.",
                    sentence(problem.detail.as_deref().unwrap_or("It was interrupted."))
                ),
            ));
            Outcome::NotPlaced
        }
        StorefrontError::Refused {
            problem,
            code,
            order_id,
            ..
        } if problem.status == 422 && problem.kind.ends_with(":idempotency-key-reused") => {
            // This form was sent before with other details (the back button, another
            // card). Where the order it placed stands decides what to say.
            match (code.as_deref(), order_id) {
                (Some("confirmed"), Some(order_id)) => Outcome::Placed(order_id.clone()),
                (Some("cancelled"), _) => {
                    page.banner = Some(
                        Banner::new(
                            "Your earlier try of this order was cancelled",
                            "This form was sent before, and that order did not go through: \
                             nothing was charged for it. The form is new now: check the \
                             details and place your order again.",
                        )
                        .linking("/orders", "See your orders"),
                    );
                    Outcome::NotPlaced
                }
                _ => {
                    // Still under way (a payment that failed for a moment waits for the
                    // same details): keep the key, so that sending them again finishes
                    // it (a new key would find the cart empty, its items set aside).
                    page.banner = Some(
                        Banner::new(
                            "Your earlier try of this order is not finished",
                            "This form was sent before with other details, and that order \
                             waits for them: to finish it, submit the card and address you \
                             gave first. To pay another way, leave it: within a minute it \
                             is cancelled, nothing is charged and your items go back to \
                             your cart.",
                        )
                        .linking("/orders", "See your orders"),
                    );
                    Outcome::Unknown
                }
            }
        }
        StorefrontError::Refused { problem, .. } if problem.status == 422 => {
            let mut unplaced = Vec::new();
            for f in &problem.errors {
                match checkout_field(&f.field) {
                    Some(field) => {
                        page.errors
                            .entry(field.to_owned())
                            .or_insert_with(|| sentence(&f.message));
                    }
                    None => unplaced.push(f),
                }
            }
            let lines: Vec<FieldError> = unplaced
                .iter()
                .filter(|f| f.field.contains("items["))
                .map(|f| (*f).clone())
                .collect();
            if !lines.is_empty() {
                page.stock_errors = lines;
                page.banner = Some(
                    Banner::new(
                        "Some items can no longer be bought",
                        "Remove them from your cart and try again. Nothing was charged.",
                    )
                    .linking("/cart", "Change your cart"),
                );
            } else if unplaced.iter().any(|f| f.field == "cart")
                || problem.kind.ends_with(":empty-cart")
            {
                page.banner = Some(
                    Banner::new("Your cart is empty", "Add something to your cart first.")
                        .linking("/", "Continue shopping"),
                );
            } else if page.errors.is_empty() {
                page.banner = Some(Banner::new(
                    "Please check the form",
                    problem
                        .detail
                        .clone()
                        .unwrap_or_else(|| "Something in the form is not right.".into()),
                ));
            }
            Outcome::NotPlaced
        }
        StorefrontError::Failed {
            problem,
            resumable: true,
            ..
        } => {
            // Orders keeps the checkout open: the same form (same key) carries it on.
            let what = if problem.kind.contains("payment") {
                "The payment could not be taken just now."
            } else {
                "Your items could not be set aside just now."
            };
            page.banner = Some(Banner::new(
                "Your order is not finished yet",
                format!(
                    "{what} Nothing was charged. Enter the same card again and submit in a \
                     moment to carry on with this order; left as it is, it is cancelled \
                     within a minute and your items go back to your cart."
                ),
            ));
            Outcome::Unknown
        }
        StorefrontError::Failed { problem, .. } => {
            let what = if problem.kind.contains("payment") || problem.kind.contains("processing") {
                "The payment could not be processed just now."
            } else {
                "Your order could not be placed just now."
            };
            page.banner = Some(Banner::new(
                "We could not place your order",
                format!("{what} Nothing was charged; please try again in a moment."),
            ));
            Outcome::NotPlaced
        }
        StorefrontError::Unavailable { .. } | StorefrontError::Malformed { .. } => {
            page.banner = Some(
                Banner::new(
                    "We could not confirm your order",
                    "The shop did not answer in time. Please check your orders before trying \
                     again; submitting this form again will not order twice.",
                )
                .linking("/orders", "See your orders"),
            );
            Outcome::Unknown
        }
        other => {
            page.banner = Some(Banner::new(
                "That did not work",
                other
                    .problem()
                    .and_then(|p| p.detail.clone())
                    .unwrap_or_else(|| "Please try again.".into()),
            ));
            Outcome::NotPlaced
        }
    }
}

/// The stock problems (`items[i].quantity` → `only N left`) as lines naming the products.
fn stock_problems(errors: &[FieldError], cart: &Cart) -> Vec<String> {
    errors
        .iter()
        .filter_map(|FieldError { field, message }| {
            let index: usize = field
                .strip_prefix("cart.")
                .unwrap_or(field)
                .strip_prefix("items[")?
                .split(']')
                .next()?
                .parse()
                .ok()?;
            let name = cart
                .items
                .get(index)
                .map(|l| l.name.as_str())
                .unwrap_or("A product");
            Some(format!("{name}: {message}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::Problem;

    fn refused(
        status: u16,
        kind: &str,
        errors: Vec<FieldError>,
        code: Option<&str>,
    ) -> StorefrontError {
        let mut p = Problem::from_status(axum::http::StatusCode::from_u16(status).unwrap(), "x");
        p.kind = format!("urn:bazaar:problem:{kind}");
        p.errors = errors;
        StorefrontError::Refused {
            service: "orders",
            problem: Box::new(p),
            code: code.map(str::to_owned),
            order_id: None,
        }
    }

    /// The page after `explain`ing `e`, and the outcome.
    fn explained(e: &StorefrontError) -> (CheckoutPage, Outcome) {
        let mut page = CheckoutPage::default();
        let outcome = explain(&mut page, e);
        (page, outcome)
    }

    /// The banner's title after `explain`ing `e`.
    fn banner_title(e: &StorefrontError) -> String {
        explained(e).0.banner.expect("a banner").title
    }

    #[test]
    fn a_declined_card_is_explained_and_the_key_renewed() {
        let declined = refused(402, "card-declined", vec![], Some("insufficient_funds"));
        let (page, outcome) = explained(&declined);
        assert_eq!(outcome, Outcome::NotPlaced);
        let banner = page.banner.unwrap();
        assert!(
            banner.message.contains("declined for insufficient funds"),
            "{}",
            banner.message
        );
        assert!(banner.message.contains("cart has been kept"));
        assert!(page.errors.contains_key("card_number"));
    }

    #[test]
    fn api_field_errors_land_next_to_their_fields() {
        let errors = vec![
            FieldError::new("shipping_address.postal_code", "must not be empty"),
            FieldError::new("card.number", "fails the Luhn check"),
        ];
        let (page, _) = explained(&refused(422, "validation", errors, None));
        assert_eq!(page.errors["postal_code"], "Must not be empty.");
        assert_eq!(page.errors["card_number"], "Fails the Luhn check.");
        assert!(page.banner.is_none());
    }

    #[test]
    fn an_empty_cart_and_a_reused_key_get_banners() {
        let empty = vec![FieldError::new("cart", "is empty")];
        assert_eq!(
            banner_title(&refused(422, "validation", empty, None)),
            "Your cart is empty"
        );
        let (page, outcome) = explained(&refused(
            422,
            "idempotency-key-reused",
            vec![],
            Some("authorizing"),
        ));
        assert_eq!(
            outcome,
            Outcome::Unknown,
            "the key is kept: the first details, sent again, finish the order"
        );
        let banner = page.banner.unwrap();
        assert_eq!(
            banner.title,
            "Your earlier try of this order is not finished"
        );
        assert!(
            banner
                .message
                .contains("submit the card and address you gave first")
        );
    }

    #[test]
    fn a_form_sent_again_after_its_order_ended_says_how_it_ended() {
        let reused = |status: &str| {
            let mut e = refused(422, "idempotency-key-reused", vec![], Some(status));
            if let StorefrontError::Refused { order_id, .. } = &mut e {
                *order_id = Some("o-1".into());
            }
            e
        };
        let (page, outcome) = explained(&reused("confirmed"));
        assert_eq!(outcome, Outcome::Placed("o-1".into()), "shown the order");
        assert!(page.banner.is_none());
        let (page, outcome) = explained(&reused("cancelled"));
        assert_eq!(
            outcome,
            Outcome::NotPlaced,
            "a new key: the form starts anew"
        );
        let banner = page.banner.unwrap();
        assert_eq!(banner.title, "Your earlier try of this order was cancelled");
        assert!(banner.message.contains("nothing was charged"));
    }

    #[test]
    fn each_conflict_is_told_apart() {
        let (page, outcome) = explained(&refused(409, "request-in-progress", vec![], None));
        assert_eq!(outcome, Outcome::Unknown, "the same key must be sent again");
        assert_eq!(
            page.banner.unwrap().title,
            "Your order is still being placed"
        );
        let short = vec![FieldError::new("cart.items[0].quantity", "only 1 left")];
        let (page, _) = explained(&refused(409, "insufficient-stock", short, None));
        assert_eq!(page.banner.unwrap().title, "Some items are out of stock");
        assert_eq!(page.stock_errors.len(), 1);
        assert_eq!(
            banner_title(&refused(409, "checkout-interrupted", vec![], None)),
            "Your order could not be completed"
        );
        let (page, outcome) = explained(&refused(409, "price-changed", vec![], None));
        assert_eq!(outcome, Outcome::NotPlaced, "a new key for the new total");
        assert_eq!(page.banner.unwrap().title, "Your total has changed");
        // Another tab's checkout of the same cart went through first: not the API's
        // words (a product id, an Idempotency-Key), and a link to what went through.
        let (page, outcome) = explained(&refused(409, "cart-changed", vec![], None));
        assert_eq!(outcome, Outcome::NotPlaced);
        let banner = page.banner.unwrap();
        assert_eq!(
            banner.title,
            "Your cart changed while this order was placed"
        );
        assert!(
            !banner.message.contains("Idempotency"),
            "{}",
            banner.message
        );
    }

    #[test]
    fn an_unknown_outcome_keeps_the_key() {
        let (_, outcome) = explained(&StorefrontError::Unavailable {
            service: "orders",
            detail: "timed out".into(),
        });
        assert_eq!(outcome, Outcome::Unknown);
    }

    #[test]
    fn a_checkout_kept_open_after_an_outage_keeps_the_key_and_a_final_one_does_not() {
        let failed = |resumable| StorefrontError::Failed {
            service: "orders",
            problem: Box::new(Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "payment-unavailable",
                "Payment unavailable",
                "x",
            )),
            resumable,
        };
        let (page, outcome) = explained(&failed(true));
        assert_eq!(outcome, Outcome::Unknown, "the same key carries it on");
        assert_eq!(page.banner.unwrap().title, "Your order is not finished yet");
        let (page, outcome) = explained(&failed(false));
        assert_eq!(outcome, Outcome::NotPlaced, "a new key checks out afresh");
        assert_eq!(page.banner.unwrap().title, "We could not place your order");
    }

    #[test]
    fn stock_problems_name_the_products() {
        let cart = Cart {
            items: vec![crate::api::CartLine {
                product_id: "p".into(),
                name: "Teapot".into(),
                unit_price_cents: 100,
                quantity: 3,
                line_total_cents: 300,
                available: true,
            }],
            total_cents: 300,
            currency: "USD".into(),
        };
        let errors = vec![
            FieldError::new("cart.items[0].quantity", "only 1 left"),
            FieldError::new("items[0].quantity", "only 1 left"),
            FieldError::new("junk", "x"),
        ];
        assert_eq!(
            stock_problems(&errors, &cart),
            ["Teapot: only 1 left", "Teapot: only 1 left"]
        );
    }
}
