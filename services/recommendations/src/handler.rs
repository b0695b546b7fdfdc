//! Applies catalog and order events to the recommendation model, inside the consumer's
//! transaction (which also marks the event handled, so each has one effect).

use crate::{
    domain::{
        Category, ConfirmedOrder, Currency, OrderId, Price, ProductCopy, ProductId, ProductName,
        Quantity, Timestamp, UserId,
    },
    error::RecommendationsError,
    events::{ORDER_CONFIRMED, OrderConfirmed, ProductData},
    store,
};
use events::{Event, Handler, HandlerError, decode};
use platform::Failure;
use sqlx::{Any, Transaction};

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

impl Handler for ModelHandler {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        apply(tx, event).await
    }
}

async fn apply(tx: &mut Transaction<'static, Any>, event: &Event) -> Result<(), HandlerError> {
    let price = |cents| Price::from_cents(cents).map(|p| p.cents());
    if events::projection::apply_product_event(tx, event, product_copy, price).await? {
        return Ok(());
    }
    match event.kind.as_str() {
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
            return Err(HandlerError::unhandled("recommendations", other));
        }
    }
    Ok(())
}

fn product_copy(p: ProductData) -> Result<ProductCopy, RecommendationsError> {
    Ok(ProductCopy {
        id: Failure::field("id", ProductId::parse(&p.id))?,
        name: Failure::field("name", ProductName::parse(&p.name))?,
        category: Failure::field("category", Category::parse(&p.category))?,
        price: Failure::field("price_cents", Price::from_cents(p.price_cents))?,
        currency: Failure::field("currency", Currency::parse(&p.currency))?,
        created_at: Failure::field("created_at", Timestamp::parse(&p.created_at))?,
    })
}

fn confirmed_order(o: OrderConfirmed) -> Result<ConfirmedOrder, RecommendationsError> {
    let order_id = Failure::field("order_id", OrderId::parse(&o.order_id))?;
    let user_id = Failure::field("user_id", UserId::parse(&o.user_id))?;
    let confirmed_at = Failure::field("confirmed_at", Timestamp::parse(&o.confirmed_at))?;
    let mut lines = Vec::with_capacity(o.items.len());
    for (i, item) in o.items.iter().enumerate() {
        let product_id = Failure::field(
            &format!("items[{i}].product_id"),
            ProductId::parse(&item.product_id),
        )?;
        let quantity = Failure::field(
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
    use crate::events::OrderedItem;
    use platform::testing::refused_fields;

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
                .map(|(p, q)| OrderedItem {
                    product_id: (*p).into(),
                    quantity: *q,
                })
                .collect(),
            confirmed_at: confirmed_at.into(),
        }
    }

    fn field_of<T: std::fmt::Debug>(result: Result<T, RecommendationsError>) -> String {
        refused_fields(result.unwrap_err()).remove(0)
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
}
