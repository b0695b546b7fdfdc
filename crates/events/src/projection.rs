//! The writes every consumer's copy of the catalog's products shares. A consumer keeps
//! its own `products` table, with whatever columns it needs besides `id`,
//! `price_cents`, `currency`, `deleted` (0 or 1) and `updated_at`; these apply the
//! catalog's price changes and deletions to it, in the consumer's transaction.

use crate::now_rfc3339;
use sqlx::{Any, Transaction, any::AnyArguments, query::Query};

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
