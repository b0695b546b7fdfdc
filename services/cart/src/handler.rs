//! Applies the events the cart consumes, inside the consumer's transaction (which also
//! marks the event handled, so each has one effect): the catalog's product events keep
//! the cart's copy of the products; a checkout takes its lines out of the buyer's cart
//! (see [`crate::store::Store::take`]), `order.confirmed` makes them bought and
//! `order.cancelled` puts them back.

use crate::{
    domain::{Currency, Owner, ProductCopy, ProductId},
    error::CartError,
    events::{ORDER_CANCELLED, ORDER_CONFIRMED, OrderCancelled, OrderConfirmed, ProductData},
    store,
};
use events::{Event, Handler, HandlerError, decode};
use platform::{Failure, domain::Cents};
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;

/// The cart's handler of catalog and orders events.
///
/// `product.created` adds a product to the cart's copy (an id known already keeps what
/// the cart has); `product.updated` sets its name, price and currency; `price_changed`
/// its price; `product.deleted` marks it deleted, and the lines holding it show it as
/// unavailable. `order.confirmed` settles the lines its checkout took (an order that took
/// none, placed before checkouts took their lines, has its quantities removed from the
/// buyer's cart); `order.cancelled` gives them back.
/// Data that does not decode, or is out of bounds, is a permanent failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct CartHandler;

impl Handler for CartHandler {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        apply(tx, event).await
    }
}

async fn apply(tx: &mut Transaction<'static, Any>, event: &Event) -> Result<(), HandlerError> {
    let price = |cents| Cents::new(cents).map(Cents::get);
    if events::projection::apply_product_event(tx, event, product_copy, price).await? {
        return Ok(());
    }
    match event.kind.as_str() {
        ORDER_CONFIRMED => {
            let order: OrderConfirmed = decode(event)?;
            let (owner, ordered) = ordered(&order)?;
            if store::bought(tx, &order.order_id).await? {
                tracing::info!(order_id = %order.order_id, "the lines the checkout took are bought");
            } else {
                let changed = store::remove_ordered(tx, &owner, &ordered).await?;
                tracing::info!(order_id = %order.order_id, lines = changed, "ordered products left the buyer's cart");
            }
            Ok(())
        }
        ORDER_CANCELLED => {
            let order: OrderCancelled = decode(event)?;
            if order.user_id.trim().is_empty() {
                return Err(CartError::invalid("user_id", "must not be empty").into());
            }
            let given = store::give_back(tx, &order.order_id, &Owner::user(&order.user_id)).await?;
            tracing::info!(order_id = %order.order_id, ?given, "a cancelled order's lines given back to the buyer's cart");
            Ok(())
        }
        other => Err(HandlerError::unhandled("the cart", other)),
    }
}

fn product_copy(data: ProductData) -> Result<ProductCopy, CartError> {
    if data.name.trim().is_empty() {
        return Err(CartError::invalid("name", "must not be empty"));
    }
    Ok(ProductCopy {
        id: Failure::field("id", ProductId::parse(&data.id))?,
        name: data.name,
        price_cents: Failure::field("price_cents", Cents::new(data.price_cents))?.get(),
        currency: Failure::field("currency", Currency::parse(&data.currency))?,
    })
}

/// The buyer's cart and the quantity ordered of each product (a product named on several
/// lines counts once, with their sum).
fn ordered(order: &OrderConfirmed) -> Result<(Owner, Vec<(ProductId, i64)>), CartError> {
    if order.user_id.trim().is_empty() {
        return Err(CartError::invalid("user_id", "must not be empty"));
    }
    let mut sums: BTreeMap<ProductId, i64> = BTreeMap::new();
    for (i, item) in order.items.iter().enumerate() {
        let id = Failure::field(
            &format!("items[{i}].product_id"),
            ProductId::parse(&item.product_id),
        )?;
        if item.quantity < 1 {
            return Err(CartError::invalid(
                &format!("items[{i}].quantity"),
                "must be at least 1",
            ));
        }
        let sum = sums.entry(id).or_default();
        *sum = sum.saturating_add(item.quantity);
    }
    Ok((Owner::user(&order.user_id), sums.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::OrderedItem;
    use platform::testing::refused_fields;

    fn data(id: &str, name: &str, price_cents: i64, currency: &str) -> ProductData {
        ProductData {
            id: id.into(),
            name: name.into(),
            price_cents,
            currency: currency.into(),
        }
    }

    fn field_of(err: CartError) -> String {
        refused_fields(err).remove(0)
    }

    #[test]
    fn catalog_products_become_copies() {
        let p = product_copy(data("p-1", "Mug", 1299, "USD")).unwrap();
        assert_eq!(p.id.as_str(), "p-1");
        assert_eq!((p.name.as_str(), p.price_cents), ("Mug", 1299));
    }

    #[test]
    fn out_of_bounds_products_are_refused_naming_the_field() {
        for (d, want) in [
            (data("", "Mug", 1, "USD"), "id"),
            (data("p-1", " ", 1, "USD"), "name"),
            (data("p-1", "Mug", -1, "USD"), "price_cents"),
            (data("p-1", "Mug", 1, "usd"), "currency"),
        ] {
            assert_eq!(field_of(product_copy(d).unwrap_err()), want);
        }
    }

    #[test]
    fn an_order_names_the_buyer_and_sums_repeated_products() {
        let item = |p: &str, quantity| OrderedItem {
            product_id: p.into(),
            quantity,
        };
        let order = OrderConfirmed {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            items: vec![item("b", 1), item("a", 2), item("b", 3)],
        };
        let (owner, items) = ordered(&order).unwrap();
        assert_eq!(owner, Owner::user("u-1"));
        let items: Vec<(&str, i64)> = items.iter().map(|(p, q)| (p.as_str(), *q)).collect();
        assert_eq!(items, [("a", 2), ("b", 4)]);

        let bad = OrderConfirmed {
            items: vec![item("a", 1), item("b", 0)],
            ..order.clone()
        };
        assert_eq!(field_of(ordered(&bad).unwrap_err()), "items[1].quantity");
        let anonymous = OrderConfirmed {
            user_id: "".into(),
            ..order
        };
        assert_eq!(field_of(ordered(&anonymous).unwrap_err()), "user_id");
    }
}
