//! Applies catalog and order events to the recommendation model, inside the consumer's
//! transaction (which also marks the event handled, so each has one effect).

use crate::{
    domain::{
        Category, ConfirmedOrder, Currency, Invalid, OrderId, Price, ProductCopy, ProductId,
        ProductName, Quantity, Timestamp, UserId,
    },
    error::RecommendationsError,
    events::{
        ORDER_CONFIRMED, OrderConfirmed, PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED,
        PRODUCT_UPDATED, PriceChanged, ProductData, ProductDeleted,
    },
    store,
};
use events::{Event, Handler, HandlerError};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use sqlx::{Any, Transaction};
use tracing::Instrument;

/// The recommendation model's handler of catalog and order events.
///
/// `product.created` adds the product to the copy (an id seen before keeps its copy);
/// `product.updated` applies the product's new state (adding it if its creation was never
/// seen); `price_changed` sets the price; `deleted` marks it deleted, so it is never
/// recommended again. `order.confirmed` counts the order once into popularity, pairs and
/// the shopper's history. Changes to unknown products are nothing to do. Data that does
/// not decode, or is out of bounds, is a permanent failure (dead-lettered at once).
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelHandler;

impl ModelHandler {
    pub fn new() -> Self {
        Self
    }
}

impl Handler for ModelHandler {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Any>,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        // The consumer's span names the event already.
        let span = tracing::info_span!(
            "apply_event",
            subject = %event.subject,
            traceparent = event.traceparent.as_deref().unwrap_or("-"),
        );
        Box::pin(apply(tx, event).instrument(span))
    }
}

async fn apply(tx: &mut Transaction<'static, Any>, event: &Event) -> Result<(), HandlerError> {
    match event.kind.as_str() {
        PRODUCT_CREATED => {
            let product = product_copy(decode(event)?)?;
            if !store::insert_product(tx, &product).await? {
                tracing::warn!(product_id = %product.id, "product known already; its copy is kept");
            }
        }
        PRODUCT_UPDATED => {
            let product = product_copy(decode(event)?)?;
            store::upsert_product(tx, &product).await?;
        }
        PRODUCT_PRICE_CHANGED => {
            let changed: PriceChanged = decode(event)?;
            let id = parse("product_id", ProductId::parse(&changed.product_id))?;
            let price = parse(
                "new_price_cents",
                Price::from_cents(changed.new_price_cents),
            )?;
            let currency = parse("currency", Currency::parse(&changed.currency))?;
            if !store::set_price(tx, &id, price.cents(), currency.as_str()).await? {
                tracing::info!(product_id = %id, "price of an unknown product; nothing to do");
            }
        }
        PRODUCT_DELETED => {
            let deleted: ProductDeleted = decode(event)?;
            let id = parse("product_id", ProductId::parse(&deleted.product_id))?;
            if !store::mark_deleted(tx, &id).await? {
                tracing::info!(product_id = %id, "deleted product was never announced; nothing to do");
            }
        }
        ORDER_CONFIRMED => {
            let order = confirmed_order(decode(event)?)?;
            if store::record_order(tx, &order).await? {
                tracing::debug!(
                    order_id = order.order_id.as_str(),
                    products = order.lines().len(),
                    "order counted"
                );
            } else {
                tracing::warn!(
                    order_id = order.order_id.as_str(),
                    "order confirmed again under another event id; counted once"
                );
            }
        }
        other => {
            return Err(HandlerError::Permanent(format!(
                "recommendations does not handle events of type `{other}`"
            )));
        }
    }
    Ok(())
}

/// The event's data as `T`; data that does not fit is a permanent failure.
fn decode<T: DeserializeOwned>(event: &Event) -> Result<T, HandlerError> {
    Ok(serde_json::from_value(event.data.clone())?)
}

/// A parsed value, or the error naming `field`.
fn parse<T>(field: &str, parsed: Result<T, Invalid>) -> Result<T, RecommendationsError> {
    parsed.map_err(|e| RecommendationsError::invalid(field, e.to_string()))
}

fn product_copy(p: ProductData) -> Result<ProductCopy, RecommendationsError> {
    Ok(ProductCopy {
        id: parse("id", ProductId::parse(&p.id))?,
        name: parse("name", ProductName::parse(&p.name))?,
        category: parse("category", Category::parse(&p.category))?,
        price: parse("price_cents", Price::from_cents(p.price_cents))?,
        currency: parse("currency", Currency::parse(&p.currency))?,
        created_at: parse("created_at", Timestamp::parse(&p.created_at))?,
    })
}

fn confirmed_order(o: OrderConfirmed) -> Result<ConfirmedOrder, RecommendationsError> {
    let order_id = parse("order_id", OrderId::parse(&o.order_id))?;
    let user_id = parse("user_id", UserId::parse(&o.user_id))?;
    let confirmed_at = parse("confirmed_at", Timestamp::parse(&o.confirmed_at))?;
    let mut lines = Vec::with_capacity(o.items.len());
    for (i, item) in o.items.iter().enumerate() {
        let product_id = parse(
            &format!("items[{i}].product_id"),
            ProductId::parse(&item.product_id),
        )?;
        let quantity = parse(
            &format!("items[{i}].quantity"),
            Quantity::new(item.quantity),
        )?;
        lines.push((product_id, quantity));
    }
    ConfirmedOrder::new(order_id, user_id, lines, confirmed_at)
        .map_err(|e| RecommendationsError::invalid("items", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::OrderItem;

    fn product(id: &str, name: &str, price_cents: i64, created_at: &str) -> ProductData {
        ProductData {
            id: id.into(),
            name: name.into(),
            category: "kitchen".into(),
            price_cents,
            currency: "USD".into(),
            created_at: created_at.into(),
        }
    }

    fn order(user_id: &str, items: &[(&str, i64)], confirmed_at: &str) -> OrderConfirmed {
        OrderConfirmed {
            order_id: "o-1".into(),
            user_id: user_id.into(),
            items: items
                .iter()
                .map(|(p, q)| OrderItem {
                    product_id: (*p).into(),
                    quantity: *q,
                })
                .collect(),
            confirmed_at: confirmed_at.into(),
        }
    }

    fn field_of<T: std::fmt::Debug>(result: Result<T, RecommendationsError>) -> String {
        match result {
            Err(RecommendationsError::Invalid(errors)) => errors[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    const AT: &str = "2025-01-01T00:00:00.000Z";

    #[test]
    fn catalog_products_become_copies() {
        let p = product_copy(product("p-1", "Mug", 1299, AT)).unwrap();
        assert_eq!(
            (p.id.as_str(), p.name.as_str(), p.price.cents()),
            ("p-1", "Mug", 1299)
        );
    }

    #[test]
    fn out_of_bounds_products_are_refused_naming_the_field() {
        for (data, field) in [
            (product("", "Mug", 1, AT), "id"),
            (product("p-1", " ", 1, AT), "name"),
            (product("p-1", "Mug", -1, AT), "price_cents"),
            (product("p-1", "Mug", 1, "soon"), "created_at"),
        ] {
            assert_eq!(field_of(product_copy(data)), field);
        }
    }

    #[test]
    fn orders_are_refused_naming_the_line_at_fault() {
        assert!(confirmed_order(order("u-1", &[("a", 1), ("b", 2)], AT)).is_ok());
        for (data, field) in [
            (order("", &[("a", 1)], AT), "user_id"),
            (order("u-1", &[("a", 1), ("b", 0)], AT), "items[1].quantity"),
            (order("u-1", &[("a b", 1)], AT), "items[0].product_id"),
            (order("u-1", &[], AT), "items"),
            (order("u-1", &[("a", 1)], "then"), "confirmed_at"),
        ] {
            assert_eq!(field_of(confirmed_order(data)), field);
        }
    }

    #[test]
    fn undecodable_data_is_a_permanent_failure() {
        let event = Event::new(
            "orders",
            ORDER_CONFIRMED,
            "o-1",
            serde_json::json!({"order_id": 5}),
        )
        .unwrap();
        let err = decode::<OrderConfirmed>(&event).unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)), "{err}");
    }
}
