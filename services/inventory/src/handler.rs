//! Applies the catalog's product events to inventory's stock, inside the consumer's
//! transaction (which also marks the event handled, so each has one effect).

use crate::{
    domain::{NewStock, ProductId, Sku, StockLevel},
    events::{PRODUCT_CREATED, PRODUCT_DELETED, ProductCreated, ProductDeleted},
    store,
};
use events::{Event, Handler, HandlerError, decode};
use platform::Failure;
use sqlx::{Any, Transaction};

/// Inventory's handler of catalog events.
///
/// `product.created` opens the product's stock at its initial level (one `initial` ledger
/// movement and one `stock.changed`); a product id seen before keeps the stock it has.
/// `product.deleted` marks the stock discontinued and keeps it; an unknown product gets
/// discontinued stock of none, which its creation then finds: replicas taking one
/// queue's messages at once (RabbitMQ) may handle a deletion first, and the product was
/// then sold after the catalog deleted it (the races review). Data that does not decode,
/// or is out of bounds, is a permanent failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct StockHandler;

impl Handler for StockHandler {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        match event.kind.as_str() {
            PRODUCT_CREATED => {
                let stock = new_stock(decode(event)?)?;
                let opened =
                    store::open_stock(tx, &stock, &event.id, event.traceparent.as_deref()).await?;
                if opened {
                    // Debug: a fresh catalog announces hundreds of products at once.
                    tracing::debug!(
                        product_id = %stock.product_id,
                        initial = stock.initial.get(),
                        "stock opened"
                    );
                } else {
                    tracing::warn!(product_id = %stock.product_id, "stock exists already for this product id (or it was deleted first); kept as it is");
                }
                Ok(())
            }
            PRODUCT_DELETED => {
                let id = decode::<ProductDeleted>(event)?.parse()?;
                // The catalog sends the sku too: the stock of a product deleted before its
                // creation came keeps one.
                let sku = event.data.get("sku").and_then(|s| s.as_str()).unwrap_or("");
                store::discontinue(tx, &id, sku).await?;
                tracing::info!(product_id = %id, "stock discontinued");
                Ok(())
            }
            other => Err(HandlerError::unhandled("inventory", other)),
        }
    }
}

fn new_stock(created: ProductCreated) -> Result<NewStock, Failure> {
    Ok(NewStock {
        product_id: Failure::field("id", ProductId::parse(&created.id))?,
        sku: Failure::field("sku", Sku::parse(&created.sku))?,
        initial: Failure::field("initial_stock", StockLevel::new(created.initial_stock))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

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
        assert_eq!(s.initial.get(), 7);
    }

    #[test]
    fn out_of_bounds_data_is_refused_naming_the_field() {
        for (data, field) in [
            (created("", "KIT-1", 1), "id"),
            (created("p-1", "", 1), "sku"),
            (created("p-1", "KIT-1", -1), "initial_stock"),
            (created("p-1", "KIT-1", 2_000_000), "initial_stock"),
        ] {
            assert_eq!(refused_fields(new_stock(data).unwrap_err())[0], field);
        }
    }
}
