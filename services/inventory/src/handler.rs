//! Applies the catalog's product events to inventory's stock, inside the consumer's
//! transaction (which also marks the event handled, so each has one effect).

use crate::{
    domain::{Invalid, NewStock, ProductId, Sku, StockLevel},
    error::InventoryError,
    events::{PRODUCT_CREATED, PRODUCT_DELETED, ProductCreated, ProductDeleted},
    store,
};
use events::{Event, Handler, HandlerError};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use sqlx::{Any, Transaction};
use tracing::Instrument;

/// Inventory's handler of catalog events.
///
/// `product.created` opens the product's stock at its initial level (one `initial` ledger
/// movement and one `stock.changed`); a product id seen before keeps the stock it has.
/// `product.deleted` marks the stock discontinued and keeps it; an unknown product is
/// nothing to do. Data that does not decode, or is out of bounds, is a permanent failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct StockHandler;

impl StockHandler {
    pub fn new() -> Self {
        Self
    }
}

impl Handler for StockHandler {
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
            let stock = new_stock(decode(event)?)?;
            let opened =
                store::open_stock(tx, &stock, &event.id, event.traceparent.as_deref()).await?;
            if opened {
                // Debug: a fresh catalog announces hundreds of products at once.
                tracing::debug!(
                    product_id = %stock.product_id,
                    initial = stock.initial.units(),
                    "stock opened"
                );
            } else {
                tracing::warn!(product_id = %stock.product_id, "stock exists already for this product id; kept as it is");
            }
            Ok(())
        }
        PRODUCT_DELETED => {
            let deleted: ProductDeleted = decode(event)?;
            let id = ProductId::parse(&deleted.product_id)
                .map_err(|e| InventoryError::invalid("product_id", e.to_string()))?;
            if store::discontinue(tx, &id).await? {
                tracing::info!(product_id = %id, "stock discontinued");
            } else {
                tracing::info!(product_id = %id, "deleted product has no stock; nothing to do");
            }
            Ok(())
        }
        other => Err(HandlerError::Permanent(format!(
            "inventory does not handle events of type `{other}`"
        ))),
    }
}

/// The event's data as `T`; data that does not fit is a permanent failure.
fn decode<T: DeserializeOwned>(event: &Event) -> Result<T, HandlerError> {
    Ok(serde_json::from_value(event.data.clone())?)
}

fn new_stock(created: ProductCreated) -> Result<NewStock, InventoryError> {
    let field = |name: &'static str| move |e: Invalid| InventoryError::invalid(name, e.to_string());
    Ok(NewStock {
        product_id: ProductId::parse(&created.id).map_err(field("id"))?,
        sku: Sku::parse(&created.sku).map_err(field("sku"))?,
        initial: StockLevel::new(created.initial_stock).map_err(field("initial_stock"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: &str, sku: &str, initial_stock: i64) -> ProductCreated {
        ProductCreated {
            id: id.into(),
            sku: sku.into(),
            initial_stock,
        }
    }

    #[test]
    fn created_products_become_new_stock() {
        let s = new_stock(created("p-1", "KIT-1", 7)).unwrap();
        assert_eq!(s.product_id.as_str(), "p-1");
        assert_eq!(s.initial.units(), 7);
    }

    #[test]
    fn out_of_bounds_data_is_refused_naming_the_field() {
        for (data, field) in [
            (created("", "KIT-1", 1), "id"),
            (created("p-1", "", 1), "sku"),
            (created("p-1", "KIT-1", -1), "initial_stock"),
            (created("p-1", "KIT-1", 2_000_000), "initial_stock"),
        ] {
            match new_stock(data) {
                Err(InventoryError::Invalid(errors)) => assert_eq!(errors[0].field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn undecodable_data_is_a_permanent_failure() {
        let event = Event::new(
            "catalog",
            PRODUCT_CREATED,
            "p-1",
            serde_json::json!({"id": 5}),
        )
        .unwrap();
        let err = decode::<ProductCreated>(&event).unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)), "{err}");
    }
}
