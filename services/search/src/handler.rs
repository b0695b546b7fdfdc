//! Applies the catalog's product events to search's copy of the products, inside the
//! consumer's transaction (which also marks the event handled, so each has one effect),
//! and wakes the indexer.

use crate::indexer::Indexer;
use crate::{
    domain::{CategorySlug, Currency, Price, Product, ProductId, Timestamp},
    error::SearchError,
    events::{
        PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED, PriceChanged,
        ProductData, ProductDeleted,
    },
    store,
};
use events::{Consumer, Event, Handler, HandlerError, decode};
use platform::Failure;
use platform::db::Db;
use sqlx::{Any, Transaction};
use std::sync::Arc;
use tokio::sync::Notify;

/// Search's handler of catalog events.
///
/// `product.created` and `product.updated` store the whole product (an update of a
/// product search missed creates it); `product.price_changed` sets the price;
/// `product.deleted` leaves a tombstone. Each change takes a new version, which is what
/// the indexer follows. A deleted product is never revived, and a copy older than the
/// stored one is ignored. Data that does not decode, or is out of bounds, is a permanent
/// failure.
#[derive(Clone, Default)]
pub struct SearchHandler {
    wake: Arc<Notify>,
}

impl SearchHandler {
    /// A handler that wakes `indexer_wake` after each change. The wake-up comes before
    /// the consumer commits, so the indexer also looks on its own every 100 ms.
    pub fn new(indexer_wake: Arc<Notify>) -> Self {
        Self { wake: indexer_wake }
    }
}

/// A consumer of the catalog's events into `db` through a [`SearchHandler`] that wakes
/// `indexer`, for tests and benchmarks that feed it events by hand.
pub fn consumer(db: Db, indexer: &Indexer, max_attempts: u32) -> Consumer {
    Consumer::new(
        crate::events::SERVICE,
        db,
        SearchHandler::new(indexer.waker()),
        crate::SERVICE.subscriptions,
        max_attempts,
    )
}

impl Handler for SearchHandler {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        if apply(tx, event).await? {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// Applies one event; `true` when a product row changed.
async fn apply(tx: &mut Transaction<'static, Any>, event: &Event) -> Result<bool, HandlerError> {
    match event.kind.as_str() {
        PRODUCT_CREATED | PRODUCT_UPDATED => {
            let product = product(decode(event)?)?;
            let written = store::upsert(tx, &product, &event.id).await?;
            if !written {
                tracing::info!(product_id = %product.id, "deleted or newer product kept as it is");
            }
            Ok(written)
        }
        PRODUCT_PRICE_CHANGED => {
            let (id, price, currency) = decode::<PriceChanged>(event)?.parse(Price::from_cents)?;
            Ok(store::reprice(tx, &id, price, &currency, &event.id).await?)
        }
        PRODUCT_DELETED => {
            let id = decode::<ProductDeleted>(event)?.parse()?;
            let removed = store::remove(tx, &id).await?;
            if !removed {
                tracing::info!(product_id = %id, "deleted product unknown or deleted already");
            }
            Ok(removed)
        }
        other => Err(HandlerError::unhandled("search", other)),
    }
}

/// The catalog's product, every field parsed.
fn product(data: ProductData) -> Result<Product, SearchError> {
    Ok(Product {
        id: Failure::field("id", ProductId::parse(&data.id))?,
        sku: Failure::field("sku", Product::parse_sku(&data.sku))?,
        name: Failure::field("name", Product::parse_name(&data.name))?,
        description: Failure::field("description", Product::parse_description(&data.description))?,
        category: Failure::field("category", CategorySlug::parse(&data.category))?,
        price: Failure::field("price_cents", Price::from_cents(data.price_cents))?,
        currency: Failure::field("currency", Currency::parse(&data.currency))?,
        created_at: Failure::field("created_at", Timestamp::parse(&data.created_at))?,
        updated_at: Failure::field("updated_at", Timestamp::parse(&data.updated_at))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    /// The catalog's example product (`p-1`, 12.99 USD, created 2025-01-01).
    fn data() -> ProductData {
        ::events::contract::read_example(PRODUCT_CREATED)
    }

    #[tokio::test]
    async fn an_older_price_applied_late_leaves_the_newer_one() {
        let scratch = platform::testing::Scratch::new("search-reprice");
        let db = Db::connect(&scratch.sqlite_url("search"), &crate::store::migrations())
            .await
            .unwrap();
        let price = |cents: i64| {
            let data = serde_json::json!({
                "product_id": "p-1", "new_price_cents": cents, "currency": "USD"
            });
            Event::new("catalog", PRODUCT_PRICE_CHANGED, "p-1", data).unwrap()
        };
        let created = Event::new("catalog", PRODUCT_CREATED, "p-1", data()).unwrap();
        let (stale, newer) = (price(1111), price(3333));
        // The stale one failed at first and is replayed last, from the dead letters.
        for event in [&created, &newer, &stale] {
            let mut tx = db.begin_write().await.unwrap();
            apply(&mut tx, event).await.unwrap();
            tx.commit().await.unwrap();
        }
        let held: i64 = sqlx::query_scalar("SELECT price_cents FROM products WHERE id = 'p-1'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(held, 3333);
    }

    #[test]
    fn catalog_products_are_parsed() {
        let p = product(data()).unwrap();
        assert_eq!(p.id.as_str(), "p-1");
        assert_eq!(p.price.cents(), 1299);
        assert_eq!(p.created_at.millis(), 1_735_689_600_000);
    }

    #[test]
    fn out_of_bounds_data_is_refused_naming_the_field() {
        for (data, field) in [
            (
                ProductData {
                    id: "a b".into(),
                    ..data()
                },
                "id",
            ),
            (
                ProductData {
                    name: " ".into(),
                    ..data()
                },
                "name",
            ),
            (
                ProductData {
                    category: "Kitchen".into(),
                    ..data()
                },
                "category",
            ),
            (
                ProductData {
                    price_cents: -1,
                    ..data()
                },
                "price_cents",
            ),
            (
                ProductData {
                    currency: "usd".into(),
                    ..data()
                },
                "currency",
            ),
            (
                ProductData {
                    created_at: "today".into(),
                    ..data()
                },
                "created_at",
            ),
        ] {
            assert_eq!(refused_fields(product(data).unwrap_err())[0], field);
        }
    }
}
