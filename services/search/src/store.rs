//! All of search's SQL: its migrations, the writes the event handler makes (each bumping
//! the product's `version`), the indexer's read of what changed, and the reset that makes
//! the consumer replay the catalog from the start.

use crate::{
    domain::{Currency, Price, Product, ProductId},
    index::{Change, IndexedProduct},
};
use events::consumer;
use platform::db::{Db, MigrationSource};
use sqlx::{
    Any, FromRow, Row, Transaction,
    any::{AnyArguments, AnyRow},
    query::Query,
};

/// Search's tables, the same SQL on both backends.
///
/// `products` is the authoritative copy of every product the catalog announced (the
/// index is derived from it). A deleted product stays as a tombstone (`deleted = 1`) so
/// that the indexer learns of the deletion and a stale event cannot bring it back.
/// `version` is taken from the single-row counter `product_versions` in the transaction
/// that changes the row: versions only grow, are never reused (not even after a replay
/// empties `products`), and, because the counter's row stays locked until commit, commit
/// in the order they were taken, so "every row with a version above the index's mark" is
/// exactly what the index has not seen.
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(1, "search's copy of the catalog's products", TABLES),
    MigrationSource::portable(
        2,
        "the catalog event each product's copy last applied",
        events::projection::CHANGED_BY,
    ),
];

const TABLES: &str = "
CREATE TABLE products (
    id TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX products_by_version ON products (version);
CREATE TABLE product_versions (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    last BIGINT NOT NULL
);
INSERT INTO product_versions (id, last) VALUES (1, 0);
";

/// Search's migrations, then the consumer's: what [`Db::connect`] is given.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, consumer::MIGRATIONS].concat()
}

/// Search's data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Up to `limit` rows changed after version `mark`, oldest change first: what the
    /// index has still to take in.
    #[tracing::instrument(skip_all, fields(mark, limit))]
    pub async fn changes_since(
        &self,
        mark: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Change)>, sqlx::Error> {
        sqlx::query(
            "SELECT id, name, description, category, price_cents, currency, created_ms, \
             deleted, version FROM products WHERE version > $1 ORDER BY version LIMIT $2",
        )
        .bind(mark)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(change_from_row)
        .collect()
    }

    /// The highest version of any row (0 with none): the mark of an index that has
    /// taken in everything. (Versions taken by writes that changed nothing belong to no
    /// row, so this may be below the counter.)
    pub async fn latest_version(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM products")
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)
    }

    /// How many products search knows and the catalog has not deleted.
    pub async fn live_products(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM products WHERE deleted = 0")
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)
    }

    /// Forgets every product and every handled event of `producer`, and moves the
    /// consumer's position in its log back to the start, in one transaction: the next
    /// read replays the producer's whole history. The consumer must not be running.
    /// Open dead letters of the producer go too: the replay meets their events again and
    /// sets aside anew those that still fail (kept, they would be there twice). Replayed
    /// letters stay, the operators' record; the version counter is kept too, so replayed
    /// rows get versions above anything an index has seen.
    #[tracing::instrument(skip_all, fields(producer))]
    pub async fn reset_for_replay(&self, producer: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE event_cursors SET position = 0, lease_owner = NULL, lease_until = NULL \
             WHERE producer = $1",
        )
        .bind(producer)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM inbox").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM event_attempts")
            .execute(&mut *tx)
            .await?;
        // A letter whose payload was not an event names no source; search reads one log.
        sqlx::query(
            "DELETE FROM dead_letters WHERE replayed_at IS NULL AND (source = $1 OR source IS NULL)",
        )
        .bind(producer)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM products")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

/// Runs a write of a product row whose first parameter, `$1`, is the row's new version,
/// taken inside `tx` (which locks the counter until commit); `bind` binds the others.
/// Whether a row changed.
async fn write_versioned(
    tx: &mut Transaction<'static, Any>,
    sql: &'static str,
    bind: impl FnOnce(Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments>,
) -> Result<bool, sqlx::Error> {
    let version: i64 =
        sqlx::query("UPDATE product_versions SET last = last + 1 WHERE id = 1 RETURNING last")
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
    let written = bind(sqlx::query(sql).bind(version))
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written > 0)
}

/// Stores a product as the catalog announced it (created or updated), in the consumer's
/// transaction. `false` when nothing changed: the product was deleted (a tombstone is
/// never revived) or the stored copy is newer than this one (a stale redelivery).
pub(crate) async fn upsert(
    tx: &mut Transaction<'static, Any>,
    p: &Product,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO products (version, id, sku, name, description, category, \
               price_cents, currency, created_at, created_ms, updated_at, updated_ms, deleted, \
               changed_by) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13) \
               ON CONFLICT (id) DO UPDATE SET sku = excluded.sku, name = excluded.name, \
               description = excluded.description, category = excluded.category, \
               price_cents = excluded.price_cents, currency = excluded.currency, \
               created_at = excluded.created_at, created_ms = excluded.created_ms, \
               updated_at = excluded.updated_at, updated_ms = excluded.updated_ms, \
               version = excluded.version, changed_by = excluded.changed_by \
               WHERE products.deleted = 0 AND products.updated_ms <= excluded.updated_ms";
    write_versioned(tx, sql, |q| {
        q.bind(p.id.as_str())
            .bind(&p.sku)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.category.as_str())
            .bind(p.price.cents())
            .bind(p.currency.as_str())
            .bind(p.created_at.as_str())
            .bind(p.created_at.millis())
            .bind(p.updated_at.as_str())
            .bind(p.updated_at.millis())
            .bind(by.to_owned())
    })
    .await
}

/// Sets a product's price, as the catalog event `by` says, in the consumer's
/// transaction. `false` when search does not know the product, it was deleted, it has
/// this price already, or it has applied a newer event of it (an older price replayed
/// from the dead letters never comes back: the verification review).
pub(crate) async fn reprice(
    tx: &mut Transaction<'static, Any>,
    id: &ProductId,
    price: Price,
    currency: &Currency,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE products SET version = $1, price_cents = $2, currency = $3, \
               changed_by = $5 WHERE id = $4 AND deleted = 0 AND changed_by < $5 \
               AND (price_cents <> $2 OR currency <> $3)";
    write_versioned(tx, sql, |q| {
        q.bind(price.cents())
            .bind(currency.as_str())
            .bind(id.as_str())
            .bind(by.to_owned())
    })
    .await
}

/// Marks a product deleted, in the consumer's transaction. `false` when search does not
/// know it or it was deleted already.
pub(crate) async fn remove(
    tx: &mut Transaction<'static, Any>,
    id: &ProductId,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE products SET deleted = 1, version = $1 WHERE id = $2 AND deleted = 0";
    write_versioned(tx, sql, |q| q.bind(id.as_str())).await
}

fn change_from_row(row: &AnyRow) -> Result<(i64, Change), sqlx::Error> {
    let version: i64 = row.try_get("version")?;
    let id: String = row.try_get("id")?;
    let deleted: i64 = row.try_get("deleted")?;
    let change = if deleted != 0 {
        Change::Remove(id)
    } else {
        Change::Upsert(IndexedProduct::from_row(row)?)
    };
    Ok((version, change))
}

platform::from_row! {
    IndexedProduct { id, name, description, category, price_cents, currency, created_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rebuild_drops_the_producers_open_dead_letters_which_the_replay_meets_again() {
        let dir = platform::testing::Scratch::new("search-reset");
        let db = Db::connect(&dir.sqlite_url("search"), &migrations())
            .await
            .unwrap();
        for (id, source, replayed) in [
            ("open-catalog", Some("catalog"), None),
            ("open-not-an-event", None, None),
            (
                "replayed-catalog",
                Some("catalog"),
                Some("2026-12-06T08:00:00.000Z"),
            ),
            ("open-elsewhere", Some("orders"), None),
        ] {
            sqlx::query(
                "INSERT INTO dead_letters (id, event_id, type, source, payload, error, attempts, dead_at, replayed_at) \
                 VALUES ($1, NULL, NULL, $2, '{}', 'bad', 5, '2026-12-06T07:00:00.000Z', $3)",
            )
            .bind(id)
            .bind(source)
            .bind(replayed)
            .execute(db.pool())
            .await
            .unwrap();
        }
        Store::new(db.clone())
            .reset_for_replay("catalog")
            .await
            .unwrap();
        let left: Vec<String> = sqlx::query_scalar("SELECT id FROM dead_letters ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(left, ["open-elsewhere", "replayed-catalog"]);
        db.close().await;
    }

    #[test]
    fn migrations_put_search_before_the_consumer_tables() {
        platform::testing::assert_migrations(
            &migrations(),
            &["events inbox, cursors, attempts, dead letters"],
        );
    }
}
