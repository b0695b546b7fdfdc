//! The writes every consumer's copy of the catalog's products shares. A consumer keeps
//! its own `products` table, with whatever columns it needs besides `id`,
//! `price_cents`, `currency`, `deleted` (0 or 1), `updated_at` and `changed_by` (added
//! by [`CHANGED_BY`]); these apply the catalog's creations, updates, price changes and
//! deletions to it, in the consumer's transaction.
//!
//! `changed_by` is the id of the newest catalog event the copy has applied. Event ids
//! are UUIDv7, ordered as the catalog made them (by the millisecond, and within one
//! process by a counter), so an older event (a dead letter replayed after later events
//! of its product were applied) changes nothing: the copy never goes back to an old
//! name or price (the dead-letter review).

use crate::{
    Event, HandlerError, decode, now_rfc3339,
    types::catalog::{
        PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED, PriceChanged,
        ProductDeleted,
    },
};
use platform::domain::Invalid;
use serde::de::DeserializeOwned;
use sqlx::{Any, AssertSqlSafe, Transaction, any::AnyArguments, query::Query};

/// The migration that adds `changed_by` to a consumer's `products` (copies made before it
/// read as older than any event).
pub const CHANGED_BY: &str = "ALTER TABLE products ADD COLUMN changed_by TEXT NOT NULL DEFAULT ''";

/// Applies one of the catalog's product events to the copy: a creation adds the product
/// (a copy that has it already keeps what it has), an update writes it, a price change
/// sets its price and a deletion marks it deleted. `read` makes the product of a creation
/// or an update of its data (`D`: what the consumer reads of it); `price` checks a new
/// price in the consumer's own bounds. `false`, and nothing done, for any other event.
pub async fn apply_product_event<D, P, E>(
    tx: &mut Transaction<'static, Any>,
    event: &Event,
    read: impl FnOnce(D) -> Result<P, E>,
    price: impl FnOnce(i64) -> Result<i64, Invalid>,
) -> Result<bool, HandlerError>
where
    D: DeserializeOwned,
    P: ProductCopy,
    HandlerError: From<E>,
{
    let product_id = &event.subject;
    let by = event.id.as_str();
    match event.kind.as_str() {
        PRODUCT_CREATED => {
            if !insert_copy(tx, &read(decode(event)?)?, by).await? {
                tracing::warn!(%product_id, "product known already; its copy is kept");
            }
        }
        PRODUCT_UPDATED => {
            if !save_copy(tx, &read(decode(event)?)?, by).await? {
                tracing::info!(%product_id, "an update older than the copy; nothing to do");
            }
        }
        PRODUCT_PRICE_CHANGED => {
            let (id, price, currency) = decode::<PriceChanged>(event)?.parse(price)?;
            if !set_price(tx, id.as_str(), price, currency.as_str(), by).await? {
                tracing::info!(
                    product_id = %id,
                    "price of an unknown product, or older than the copy; nothing to do"
                );
            }
        }
        PRODUCT_DELETED => {
            let id = decode::<ProductDeleted>(event)?.parse()?;
            if mark_deleted(tx, id.as_str(), by).await? {
                tracing::info!(product_id = %id, "product marked deleted");
            } else {
                tracing::info!(product_id = %id, "deleted product was never announced; nothing to do");
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A product as a consumer's copy keeps it: the columns it writes on the catalog's
/// creations and updates.
pub trait ProductCopy {
    /// The columns, `id` first, besides `deleted` and `updated_at`. A `created_at` is
    /// written when the product is added and never changed after.
    const COLUMNS: &'static [&'static str];

    /// Binds the values of [`Self::COLUMNS`], in their order.
    fn bind(&self, query: Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments>;
}

/// Adds a product the catalog created (the event `by`). `false` when the copy has the id
/// already: what it has is kept (it is as new or newer; later changes come as updates).
pub async fn insert_copy<P: ProductCopy>(
    tx: &mut Transaction<'static, Any>,
    product: &P,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let sql = format!("{} ON CONFLICT (id) DO NOTHING", insert_sql(P::COLUMNS));
    let inserted = write_copy(sql, product, by)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(inserted > 0)
}

/// Writes a product as the catalog event `by` has it, adding it when the copy did not
/// have it; whether it is deleted is kept. `false` when the copy has applied a newer
/// event of the product already (and is left as it is).
pub async fn save_copy<P: ProductCopy>(
    tx: &mut Transaction<'static, Any>,
    product: &P,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let changed: Vec<String> = P::COLUMNS
        .iter()
        .filter(|c| !matches!(**c, "id" | "created_at"))
        .chain(&["updated_at", "changed_by"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "{} ON CONFLICT (id) DO UPDATE SET {} WHERE products.changed_by < excluded.changed_by",
        insert_sql(P::COLUMNS),
        changed.join(", ")
    );
    let written = write_copy(sql, product, by)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written > 0)
}

/// `INSERT INTO products` of `columns`, `$1` on, then `deleted` 0, `updated_at` and
/// `changed_by`.
fn insert_sql(columns: &[&str]) -> String {
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO products ({}, deleted, updated_at, changed_by) VALUES ({}, 0, ${}, ${})",
        columns.join(", "),
        values.join(", "),
        columns.len() + 1,
        columns.len() + 2
    )
}

fn write_copy<P: ProductCopy>(
    sql: String,
    product: &P,
    by: &str,
) -> Query<'static, Any, AnyArguments> {
    product
        .bind(sqlx::query(AssertSqlSafe(sql)))
        .bind(now_rfc3339())
        .bind(by.to_owned())
}

/// Sets a product's price, as the catalog event `by` says. `false` when the copy does
/// not have the product, or has applied a newer event of it.
pub async fn set_price(
    tx: &mut Transaction<'static, Any>,
    product_id: &str,
    price_cents: i64,
    currency: &str,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE products SET price_cents = $1, currency = $2, updated_at = $3, changed_by = $4 \
         WHERE id = $5 AND changed_by < $4",
    )
    .bind(price_cents)
    .bind(currency)
    .bind(now_rfc3339())
    .bind(by)
    .bind(product_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Marks a product deleted, by the catalog event `by` (a deletion is final: an older
/// event does not undo it, and it holds whatever newer ones were applied); the rows that
/// refer to it stay. `false` when the copy does not have the product.
pub async fn mark_deleted(
    tx: &mut Transaction<'static, Any>,
    product_id: &str,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE products SET deleted = 1, updated_at = $1, \
         changed_by = CASE WHEN changed_by < $2 THEN $2 ELSE changed_by END WHERE id = $3",
    )
    .bind(now_rfc3339())
    .bind(by)
    .bind(product_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::db::{Db, MigrationSource};

    /// A copy of a product's name and price, read from the catalog's whole product.
    #[derive(serde::Deserialize)]
    struct Copy {
        id: String,
        name: String,
        price_cents: i64,
        currency: String,
    }

    impl ProductCopy for Copy {
        const COLUMNS: &'static [&'static str] = &["id", "name", "price_cents", "currency"];

        fn bind(
            &self,
            query: Query<'static, Any, AnyArguments>,
        ) -> Query<'static, Any, AnyArguments> {
            query
                .bind(self.id.clone())
                .bind(self.name.clone())
                .bind(self.price_cents)
                .bind(self.currency.clone())
        }
    }

    const TABLE: &[MigrationSource] = &[
        MigrationSource::portable(
            1,
            "a copy",
            "CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
             price_cents BIGINT NOT NULL, currency TEXT NOT NULL, \
             deleted BIGINT NOT NULL DEFAULT 0, updated_at TEXT NOT NULL)",
        ),
        MigrationSource::portable(2, "changed by", CHANGED_BY),
    ];

    fn product(kind: &str, name: &str, price: i64) -> Event {
        let data = match kind {
            PRODUCT_PRICE_CHANGED => serde_json::json!({
                "product_id": "p-1", "new_price_cents": price, "currency": "USD"
            }),
            _ => serde_json::json!({
                "id": "p-1", "name": name, "price_cents": price, "currency": "USD"
            }),
        };
        Event::new("catalog", kind, "p-1", data).unwrap()
    }

    async fn apply(db: &Db, event: &Event) {
        let mut tx = db.begin_write().await.unwrap();
        let applied = apply_product_event(&mut tx, event, Ok::<Copy, HandlerError>, Ok)
            .await
            .unwrap();
        assert!(applied);
        tx.commit().await.unwrap();
    }

    async fn copy(db: &Db) -> (String, i64, i64) {
        let row = sqlx::query("SELECT name, price_cents, deleted FROM products WHERE id = 'p-1'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        use sqlx::Row;
        (row.get(0), row.get(1), row.get(2))
    }

    #[tokio::test]
    async fn an_older_event_applied_late_leaves_the_newer_copy_as_it_is() {
        let scratch = platform::testing::Scratch::new("projection");
        let db = Db::connect(&scratch.sqlite_url("copy"), TABLE)
            .await
            .unwrap();
        let created = product(PRODUCT_CREATED, "Mug", 1000);
        let stale_update = product(PRODUCT_UPDATED, "POISON", 1111);
        let stale_price = product(PRODUCT_PRICE_CHANGED, "", 2222);
        let update = product(PRODUCT_UPDATED, "Fixed", 3333);
        apply(&db, &created).await;
        apply(&db, &update).await;
        assert_eq!(copy(&db).await, ("Fixed".into(), 3333, 0));
        // The two that failed before it, replayed after it (dead letters): no change.
        apply(&db, &stale_update).await;
        apply(&db, &stale_price).await;
        assert_eq!(copy(&db).await, ("Fixed".into(), 3333, 0));
        // A newer price still applies; a deletion holds against an older update.
        apply(&db, &product(PRODUCT_PRICE_CHANGED, "", 4444)).await;
        assert_eq!(copy(&db).await, ("Fixed".into(), 4444, 0));
        let deleted = Event::new(
            "catalog",
            PRODUCT_DELETED,
            "p-1",
            serde_json::json!({"product_id": "p-1"}),
        )
        .unwrap();
        apply(&db, &deleted).await;
        apply(&db, &update).await;
        assert_eq!(copy(&db).await, ("Fixed".into(), 4444, 1));
    }

    #[test]
    fn a_copy_is_written_with_its_columns_then_deleted_and_updated_at() {
        assert_eq!(
            insert_sql(&["id", "name", "created_at"]),
            "INSERT INTO products (id, name, created_at, deleted, updated_at, changed_by) \
             VALUES ($1, $2, $3, 0, $4, $5)"
        );
    }
}
