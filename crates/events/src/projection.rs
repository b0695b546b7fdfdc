//! The writes every consumer's copy of the catalog's products shares. A consumer keeps
//! its own `products` table, with whatever columns it needs besides `id`,
//! `price_cents`, `currency`, `deleted` (0 or 1) and `updated_at`; these apply the
//! catalog's creations, updates, price changes and deletions to it, in the consumer's
//! transaction.

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
    match event.kind.as_str() {
        PRODUCT_CREATED => {
            if !insert_copy(tx, &read(decode(event)?)?).await? {
                tracing::warn!(%product_id, "product known already; its copy is kept");
            }
        }
        PRODUCT_UPDATED => save_copy(tx, &read(decode(event)?)?).await?,
        PRODUCT_PRICE_CHANGED => {
            let (id, price, currency) = decode::<PriceChanged>(event)?.parse(price)?;
            if !set_price(tx, id.as_str(), price, currency.as_str()).await? {
                tracing::info!(product_id = %id, "price of an unknown product; nothing to do");
            }
        }
        PRODUCT_DELETED => {
            let id = decode::<ProductDeleted>(event)?.parse()?;
            if mark_deleted(tx, id.as_str()).await? {
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

/// Adds a product the catalog created. `false` when the copy has the id already: what it
/// has is kept (it is as new or newer; later changes come as updates).
pub async fn insert_copy<P: ProductCopy>(
    tx: &mut Transaction<'static, Any>,
    product: &P,
) -> Result<bool, sqlx::Error> {
    let sql = format!("{} ON CONFLICT (id) DO NOTHING", insert_sql(P::COLUMNS));
    let inserted = write_copy(sql, product)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(inserted > 0)
}

/// Writes a product as the catalog now has it, adding it when the copy did not have it;
/// whether it is deleted is kept.
pub async fn save_copy<P: ProductCopy>(
    tx: &mut Transaction<'static, Any>,
    product: &P,
) -> Result<(), sqlx::Error> {
    let changed: Vec<String> = P::COLUMNS
        .iter()
        .filter(|c| !matches!(**c, "id" | "created_at"))
        .chain(&["updated_at"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "{} ON CONFLICT (id) DO UPDATE SET {}",
        insert_sql(P::COLUMNS),
        changed.join(", ")
    );
    write_copy(sql, product).execute(&mut **tx).await?;
    Ok(())
}

/// `INSERT INTO products` of `columns`, `$1` on, then `deleted` 0 and `updated_at`.
fn insert_sql(columns: &[&str]) -> String {
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO products ({}, deleted, updated_at) VALUES ({}, 0, ${})",
        columns.join(", "),
        values.join(", "),
        columns.len() + 1
    )
}

fn write_copy<P: ProductCopy>(sql: String, product: &P) -> Query<'static, Any, AnyArguments> {
    product
        .bind(sqlx::query(AssertSqlSafe(sql)))
        .bind(now_rfc3339())
}

/// Sets a product's price. `false` when the copy does not have the product.
pub async fn set_price(
    tx: &mut Transaction<'static, Any>,
    product_id: &str,
    price_cents: i64,
    currency: &str,
) -> Result<bool, sqlx::Error> {
    let update = sqlx::query(
        "UPDATE products SET price_cents = $1, currency = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(price_cents)
    .bind(currency);
    touches_one(tx, update, product_id).await
}

/// Marks a product deleted; the rows that refer to it stay. `false` when the copy does
/// not have the product.
pub async fn mark_deleted(
    tx: &mut Transaction<'static, Any>,
    product_id: &str,
) -> Result<bool, sqlx::Error> {
    let update = sqlx::query("UPDATE products SET deleted = 1, updated_at = $1 WHERE id = $2");
    touches_one(tx, update, product_id).await
}

/// Runs an `UPDATE` of one product whose last two parameters are `updated_at` and the
/// id; whether the product was there.
async fn touches_one(
    tx: &mut Transaction<'static, Any>,
    update: Query<'_, Any, AnyArguments>,
    product_id: &str,
) -> Result<bool, sqlx::Error> {
    let updated = update
        .bind(now_rfc3339())
        .bind(product_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(updated > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_written_with_its_columns_then_deleted_and_updated_at() {
        assert_eq!(
            insert_sql(&["id", "name", "created_at"]),
            "INSERT INTO products (id, name, created_at, deleted, updated_at) \
             VALUES ($1, $2, $3, 0, $4)"
        );
    }
}
