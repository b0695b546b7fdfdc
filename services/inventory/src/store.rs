//! All of inventory's SQL: its migrations, its reads, and its writes. Every change of a
//! stock level appends one movement to the ledger and records `stock.changed` in the
//! outbox, in the transaction that makes the change.

use crate::{
    domain::{NewStock, ProductId, ProductIds, Reason, Stock, StockLevel},
    error::InventoryError,
    events::{self as inventory_events, StockChanged},
};
use events::{Event, Producer, consumer, now_rfc3339, outbox};
use platform::db::{Backend, Db, MigrationSource};
use sqlx::{Any, Row, Transaction, any::AnyRow};
use std::collections::HashMap;

/// Inventory's tables, the same SQL on both backends.
///
/// `stock` holds one row per product the catalog announced; `available` counts the units
/// that can still be sold and `reserved` those held for checkouts, so the units on the
/// shelf are their sum. `stock_movements` is an append-only ledger with one row per
/// change of `available`; a movement caused by an event names it, at most once per
/// reason (the inbox already guarantees this; the index makes a bug loud, not silent).
pub const MIGRATIONS: &[MigrationSource] = &[MigrationSource {
    version: 1,
    description: "inventory stock and its ledger",
    sqlite: TABLES,
    postgres: TABLES,
}];

const TABLES: &str = "
CREATE TABLE stock (
    product_id TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    available BIGINT NOT NULL CHECK (available >= 0),
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    discontinued BIGINT NOT NULL DEFAULT 0 CHECK (discontinued IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE stock_movements (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES stock (product_id),
    delta BIGINT NOT NULL,
    reason TEXT NOT NULL,
    event_id TEXT,
    at TEXT NOT NULL
);
CREATE INDEX stock_movements_by_product ON stock_movements (product_id, at);
CREATE UNIQUE INDEX stock_movements_once_per_event
    ON stock_movements (event_id, reason) WHERE event_id IS NOT NULL;
";

/// Inventory's migrations, then the outbox's and the consumer's: what [`Db::connect`]
/// is given.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, outbox::MIGRATIONS, consumer::MIGRATIONS].concat()
}

/// How often setting a level re-reads it when another writer changed it in between.
const SET_ATTEMPTS: usize = 5;

/// Inventory's data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    producer: Producer,
}

impl Store {
    pub fn new(db: Db, producer: Producer) -> Self {
        Self { db, producer }
    }

    /// The stock of one product, if inventory keeps it.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    pub async fn get(&self, id: &ProductId) -> Result<Option<Stock>, sqlx::Error> {
        sqlx::query(
            "SELECT product_id, available, reserved, discontinued FROM stock WHERE product_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .as_ref()
        .map(stock_from_row)
        .transpose()
    }

    /// The stock of those of `ids` inventory keeps, in the order asked.
    #[tracing::instrument(skip_all, fields(asked = ids.as_slice().len()))]
    pub async fn get_many(&self, ids: &ProductIds) -> Result<Vec<Stock>, InventoryError> {
        // One statement whatever the number of ids: they travel as one JSON array, which
        // each backend unnests its own way.
        let sql = match self.db.backend() {
            Backend::Sqlite => {
                "SELECT product_id, available, reserved, discontinued FROM stock \
                 WHERE product_id IN (SELECT value FROM json_each($1))"
            }
            Backend::Postgres => {
                "SELECT product_id, available, reserved, discontinued FROM stock \
                 WHERE product_id IN (SELECT json_array_elements_text($1::json))"
            }
        };
        let wanted: Vec<&str> = ids.as_slice().iter().map(ProductId::as_str).collect();
        let rows = sqlx::query(sql)
            .bind(serde_json::to_string(&wanted)?)
            .fetch_all(self.db.pool())
            .await?;
        let mut found: HashMap<String, Stock> = rows
            .iter()
            .map(|r| stock_from_row(r).map(|s| (s.product_id.clone(), s)))
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(wanted.iter().filter_map(|id| found.remove(*id)).collect())
    }

    /// Sets the units that can be sold: the new level, its movement (`adjustment`, the
    /// difference) and `stock.changed`, in one transaction. Setting the level it has
    /// writes nothing.
    #[tracing::instrument(skip_all, fields(product_id = %id, available = level.units()))]
    pub async fn set_available(
        &self,
        id: &ProductId,
        level: StockLevel,
        traceparent: Option<String>,
    ) -> Result<Stock, InventoryError> {
        let mut tx = self.db.begin_write().await?;
        for _ in 0..SET_ATTEMPTS {
            let row = sqlx::query(
                "SELECT product_id, available, reserved, discontinued FROM stock \
                 WHERE product_id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let before = match row {
                Some(row) => stock_from_row(&row)?,
                None => return Err(InventoryError::ProductNotFound(id.to_string())),
            };
            if before.available == level.units() {
                return Ok(before);
            }
            // Compare-and-set: on PostgreSQL a concurrent writer may have changed the
            // level since it was read; then nothing is updated and it is read again.
            let updated = sqlx::query(
                "UPDATE stock SET available = $1, updated_at = $2 \
                 WHERE product_id = $3 AND available = $4",
            )
            .bind(level.units())
            .bind(now_rfc3339())
            .bind(id.as_str())
            .bind(before.available)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                continue;
            }
            let after = Stock {
                available: level.units(),
                ..before.clone()
            };
            record_change(
                &mut tx,
                &after,
                level.units() - before.available,
                Reason::Adjustment,
                None,
                traceparent.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.producer.notify();
            return Ok(after);
        }
        Err(InventoryError::Contended(id.to_string()))
    }
}

/// Opens a product's stock at its initial level, with its `initial` movement (naming the
/// event) and `stock.changed`, in the consumer's transaction. `false` when the product
/// has stock already (its id was used before): that stock is left as it is.
pub(crate) async fn open_stock(
    tx: &mut Transaction<'static, Any>,
    stock: &NewStock,
    event_id: &str,
    traceparent: Option<&str>,
) -> Result<bool, InventoryError> {
    let now = now_rfc3339();
    let inserted = sqlx::query(
        "INSERT INTO stock (product_id, sku, available, reserved, discontinued, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, 0, $4, $4) ON CONFLICT (product_id) DO NOTHING",
    )
    .bind(stock.product_id.as_str())
    .bind(stock.sku.as_str())
    .bind(stock.initial.units())
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    let opened = Stock {
        product_id: stock.product_id.to_string(),
        available: stock.initial.units(),
        reserved: 0,
        discontinued: false,
    };
    record_change(
        tx,
        &opened,
        stock.initial.units(),
        Reason::Initial,
        Some(event_id),
        traceparent,
    )
    .await?;
    Ok(true)
}

/// Marks a product's stock discontinued, keeping its levels, in the consumer's
/// transaction. `false` when inventory keeps no stock for it.
pub(crate) async fn discontinue(
    tx: &mut Transaction<'static, Any>,
    id: &ProductId,
) -> Result<bool, sqlx::Error> {
    let updated =
        sqlx::query("UPDATE stock SET discontinued = 1, updated_at = $1 WHERE product_id = $2")
            .bind(now_rfc3339())
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(updated > 0)
}

/// Appends the movement of a change of `available` to the ledger and records
/// `stock.changed` with the levels after it, inside `tx`.
async fn record_change(
    tx: &mut Transaction<'static, Any>,
    after: &Stock,
    delta: i64,
    reason: Reason,
    event_id: Option<&str>,
    traceparent: Option<&str>,
) -> Result<(), InventoryError> {
    sqlx::query(
        "INSERT INTO stock_movements (id, product_id, delta, reason, event_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&after.product_id)
    .bind(delta)
    .bind(reason.as_str())
    .bind(event_id)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    let changed = StockChanged {
        product_id: after.product_id.clone(),
        available: after.available,
        reserved: after.reserved,
        reason,
    };
    let event = Event::new(
        inventory_events::SOURCE,
        inventory_events::STOCK_CHANGED,
        after.product_id.as_str(),
        &changed,
    )?
    .with_traceparent(traceparent.map(str::to_owned));
    outbox::enqueue(tx, &event).await?;
    Ok(())
}

fn stock_from_row(row: &AnyRow) -> Result<Stock, sqlx::Error> {
    let discontinued: i64 = row.try_get("discontinued")?;
    Ok(Stock {
        product_id: row.try_get("product_id")?,
        available: row.try_get("available")?,
        reserved: row.try_get("reserved")?,
        discontinued: discontinued != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_put_inventory_before_the_events_tables() {
        let all = migrations();
        assert_eq!(all.first().map(|m| m.version), Some(1));
        for table in [
            "events outbox",
            "events inbox, cursors, attempts, dead letters",
        ] {
            assert!(all.iter().any(|m| m.description == table), "{table}");
        }
        let mut versions: Vec<_> = all.iter().map(|m| m.version).collect();
        versions.sort_unstable();
        versions.dedup();
        assert_eq!(versions.len(), all.len(), "versions are unique");
    }
}
