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
//!
//! Replicas of a consumer on RabbitMQ take one queue's messages at once, so two events
//! of one product may be applied in either order (the races review). Hence a price
//! change changes nothing here: the update recorded with it carries the same price, and
//! its own, later id made the update look older when it came first, leaving the old name
//! for good. And a deletion that comes before the creation leaves a deleted copy, which
//! the creation then finds (it was sold, with the catalog saying 404, before).

use crate::{
    Event, HandlerError, decode, now_rfc3339,
    types::catalog::{
        PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_PRICE_CHANGED, PRODUCT_UPDATED, PriceChanged,
        ProductDeleted,
    },
};
use platform::domain::{Invalid, ProductId};
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
            // Checked all the same: a price the consumer cannot hold is a permanent failure.
            let (id, ..) = decode::<PriceChanged>(event)?.parse(price)?;
            tracing::debug!(product_id = %id, "a price change: the update beside it carries it");
        }
        PRODUCT_DELETED => {
            let id = decode::<ProductDeleted>(event)?.parse()?;
            if let Some(copy) = P::deleted(id.clone()) {
                write_deleted(tx, &copy, by).await?;
                tracing::info!(product_id = %id, "product marked deleted");
            } else if mark_deleted(tx, id.as_str(), by).await? {
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

    /// The copy of a product deleted before its creation reached the consumer: its id,
    /// and stand-ins, never shown, for the rest. `None` (the default) for a consumer that
    /// reads its producer's log in order (a read model), where that cannot happen.
    fn deleted(_id: ProductId) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// Adds a product the catalog created (the event `by`). `false` when the copy has the id
/// already: what it has is kept (it is as new or newer; later changes come as updates).
pub async fn insert_copy<P: ProductCopy>(
    tx: &mut Transaction<'static, Any>,
    product: &P,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "{} ON CONFLICT (id) DO NOTHING",
        insert_sql(P::COLUMNS, false)
    );
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
        insert_sql(P::COLUMNS, false),
        changed.join(", ")
    );
    let written = write_copy(sql, product, by)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written > 0)
}

/// Marks a product deleted by the deletion `by`, adding it as deleted (`product`: its id
/// and stand-ins) when the copy does not have it: one statement, so that a creation
/// being handled at the same moment by another replica is waited for and then marked
/// (on PostgreSQL an `UPDATE` that found nothing, then an `INSERT … DO NOTHING` that
/// waited for that creation, left it on sale: the verification review, 8 of 280).
async fn write_deleted<P: ProductCopy>(
    tx: &mut Transaction<'static, Any>,
    product: &P,
    by: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "{} ON CONFLICT (id) DO UPDATE SET deleted = 1, updated_at = excluded.updated_at, \
         changed_by = CASE WHEN products.changed_by < excluded.changed_by \
         THEN excluded.changed_by ELSE products.changed_by END",
        insert_sql(P::COLUMNS, true)
    );
    write_copy(sql, product, by).execute(&mut **tx).await?;
    Ok(())
}

/// `INSERT INTO products` of `columns`, `$1` on, then `deleted` (1 when `deleted`, else 0),
/// `updated_at` and `changed_by`.
fn insert_sql(columns: &[&str], deleted: bool) -> String {
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO products ({}, deleted, updated_at, changed_by) VALUES ({}, {}, ${}, ${})",
        columns.join(", "),
        values.join(", "),
        u8::from(deleted),
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

        fn deleted(id: ProductId) -> Option<Self> {
            Some(Self {
                id: id.as_str().to_owned(),
                name: String::new(),
                price_cents: 0,
                currency: "USD".into(),
            })
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
        // A newer update still applies; a deletion holds against an older update.
        apply(&db, &product(PRODUCT_UPDATED, "Fixed", 4444)).await;
        assert_eq!(copy(&db).await, ("Fixed".into(), 4444, 0));
        apply(&db, &deleted()).await;
        apply(&db, &update).await;
        assert_eq!(copy(&db).await, ("Fixed".into(), 4444, 1));
    }

    fn deleted() -> Event {
        let data = serde_json::json!({"product_id": "p-1", "sku": "MUG-1"});
        Event::new("catalog", PRODUCT_DELETED, "p-1", data).unwrap()
    }

    /// Replicas of a consumer take one queue's messages at once (RabbitMQ), so a
    /// product's events may be applied in another order than the catalog's. The races
    /// review: a price change applied before the update recorded with it (its id the
    /// later) left the copy's name as it was before, for good; a deletion applied before
    /// the creation left the product on sale.
    #[tokio::test]
    async fn a_products_events_applied_out_of_order_leave_its_last_state() {
        let scratch = platform::testing::Scratch::new("projection");
        let db = Db::connect(&scratch.sqlite_url("copy"), TABLE)
            .await
            .unwrap();
        // Two changes, each an update and then a price change, as the catalog records one.
        let created = product(PRODUCT_CREATED, "Mug", 1000);
        let (first, first_price) = (
            product(PRODUCT_UPDATED, "Big mug", 2000),
            product(PRODUCT_PRICE_CHANGED, "", 2000),
        );
        let (last, last_price) = (
            product(PRODUCT_UPDATED, "Huge mug", 3000),
            product(PRODUCT_PRICE_CHANGED, "", 3000),
        );
        apply(&db, &created).await;
        for event in [&first_price, &last_price, &first, &last] {
            apply(&db, event).await;
        }
        assert_eq!(copy(&db).await, ("Huge mug".into(), 3000, 0));

        let again = platform::testing::Scratch::new("projection");
        let db = Db::connect(&again.sqlite_url("copy"), TABLE).await.unwrap();
        apply(&db, &deleted()).await;
        assert_eq!(copy(&db).await.2, 1, "the deletion is kept");
        apply(&db, &created).await;
        apply(&db, &first).await;
        assert_eq!(copy(&db).await.2, 1, "and the product stays deleted");
    }

    /// A deletion handled while another replica's transaction creating the product is
    /// open, on PostgreSQL when `BAZAAR_TEST_POSTGRES_URL` names a server: it waits for
    /// the creation and marks it. Before, its `UPDATE` found nothing and its insert, having
    /// waited, did nothing: the product stayed on sale (the verification review, 8 of 280).
    #[tokio::test]
    async fn a_deletion_beside_an_open_creation_waits_for_it_and_marks_it() {
        let Some(pg) = platform::testing::ScratchPostgres::from_env(
            "projection",
            "a deletion beside an open creation",
        ) else {
            return;
        };
        let db = Db::connect(&pg.url(), TABLE).await.unwrap();
        let mut creating = db.begin_write().await.unwrap();
        let created = product(PRODUCT_CREATED, "Mug", 1000);
        apply_product_event(&mut creating, &created, Ok::<Copy, HandlerError>, Ok)
            .await
            .unwrap();
        let deleting = {
            let db = db.clone();
            tokio::spawn(async move { apply(&db, &deleted()).await })
        };
        platform::testing::until_a_transaction_waits_for_a_lock(&db).await;
        creating.commit().await.unwrap();
        deleting.await.unwrap();
        assert_eq!(copy(&db).await.2, 1, "the product is deleted");
        db.close().await;
        pg.drop_database().await;
    }

    #[test]
    fn a_copy_is_written_with_its_columns_then_deleted_and_updated_at() {
        assert_eq!(
            insert_sql(&["id", "name", "created_at"], false),
            "INSERT INTO products (id, name, created_at, deleted, updated_at, changed_by) \
             VALUES ($1, $2, $3, 0, $4, $5)"
        );
    }
}
