//! All of the cart's SQL: its migrations, its reads, its writes, and the changes the
//! event handler makes inside the consumer's transaction.
//!
//! Every write to a cart first touches its `carts` row (`updated_at`), which on PostgreSQL
//! locks it until commit and on SQLite happens under the write lock: writers of one cart
//! take turns, so a line count or a quantity read in the transaction stays true until it
//! commits.

use crate::{
    domain::{Cart, CartLine, Currency, MAX_LINES, Owner, ProductCopy, ProductId, Quantity},
    error::CartError,
};
use events::{consumer, now_rfc3339};
use platform::db::{Db, MigrationSource};
use serde::{Deserialize, Serialize};
use sqlx::{
    Any, Row, Transaction,
    any::{AnyArguments, AnyRow},
    query::Query,
};
use std::collections::BTreeMap;

/// The cart's tables, the same SQL on both backends.
///
/// `products` is the cart's copy of the catalog, kept from its events; a deleted product
/// stays as a tombstone (`deleted = 1`) so the lines holding it can still be shown.
/// `carts` has one row per cart, keyed `user:<id>` or `anon:<sha256 of the cookie>`;
/// `cart_lines` one row per product in a cart, `position` keeping the order of adding.
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(
        1,
        "carts, their lines and the cart's copy of the catalog",
        TABLES,
    ),
    MigrationSource::portable(
        2,
        "the lines each checkout took out of its buyer's cart",
        HOLDS,
    ),
    MigrationSource::portable(
        3,
        "the catalog event each product's copy last applied",
        events::projection::CHANGED_BY,
    ),
    MigrationSource::portable(
        4,
        "settled holds by age, for their purge",
        "CREATE INDEX cart_holds_settled ON cart_holds (updated_at) WHERE state <> 'held';",
    ),
];

const TABLES: &str = "
CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    updated_at TEXT NOT NULL
);
CREATE TABLE carts (
    owner TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'anonymous')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX carts_by_age ON carts (kind, updated_at);
CREATE TABLE cart_lines (
    owner TEXT NOT NULL REFERENCES carts (owner) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    position BIGINT NOT NULL,
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (owner, product_id)
);
CREATE INDEX cart_lines_by_product ON cart_lines (product_id);
";

/// `cart_holds` has one row per order that took lines out of a cart at checkout: `held`
/// until the order is confirmed (`bought`) or cancelled (`returned`, the lines put back).
/// An order cancelled before it took anything leaves a `returned` row with no items, so
/// a take arriving after that is refused. A settled row is kept as long as the cart's
/// inbox remembers the events that settle it, then purged ([`Store::purge_settled_holds`]).
const HOLDS: &str = "
CREATE TABLE cart_holds (
    order_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    items TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('held', 'bought', 'returned')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
";

/// The cart's migrations, then the consumer's: what [`Db::connect`] is given.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, consumer::MIGRATIONS].concat()
}

/// What merging an anonymous cart into a user's did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Lines added to the user's cart or to one of its lines.
    pub moved: usize,
    /// Lines left out because the user's cart was full.
    pub dropped: usize,
    /// Lines of the cart that hold the most a line may after the move: some of what was
    /// moved may not have fit.
    pub at_cap: usize,
}

impl Merged {
    /// Whether everything moved may not have fit (lines left out, or lines at the cap).
    pub fn overflowed(&self) -> bool {
        self.dropped > 0 || self.at_cap > 0
    }

    /// Says so, when a cancelled order's lines given back to its buyer's cart may not all
    /// have fit: the cart holds 50 lines and 99 of a product at most, and a shopper who
    /// filled it again while the checkout ran loses what is over (the cart review).
    fn warn_if_overflowed(&self, order_id: &str) {
        if self.overflowed() {
            tracing::warn!(
                order_id,
                lines_left_out = self.dropped,
                lines_at_most = self.at_cap,
                "a cancelled order's lines did not all fit back in the cart (50 lines, 99 of a product at most)"
            );
        }
    }
}

/// The cart's data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    currency: Currency,
}

impl Store {
    /// The store of a shop whose carts are priced in `currency`.
    pub fn new(db: Db, currency: Currency) -> Self {
        Self { db, currency }
    }

    /// The shop's currency.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// The cart of `owner`; empty when it has none.
    #[tracing::instrument(skip_all, fields(cart = owner.kind()))]
    pub async fn cart(&self, owner: &Owner) -> Result<Cart, CartError> {
        let rows = sqlx::query(CART_LINES)
            .bind(owner.key())
            .fetch_all(self.db.pool())
            .await?;
        self.cart_from_rows(&rows)
    }

    /// Whether `owner` has a cart (an anonymous one may have been purged).
    pub async fn exists(&self, owner: &Owner) -> Result<bool, CartError> {
        Ok(sqlx::query("SELECT 1 FROM carts WHERE owner = $1")
            .bind(owner.key())
            .fetch_optional(self.db.pool())
            .await?
            .is_some())
    }

    /// Adds `quantity` of a product: to its line if the cart has one (the sum may not pass
    /// 99), else as a new line (the cart may not pass 50 lines). Creates the cart if need
    /// be. The product must be known to the cart, not deleted, and priced in the shop's
    /// currency.
    #[tracing::instrument(skip_all, fields(cart = owner.kind(), product_id = %product, quantity = quantity.units()))]
    pub async fn add(
        &self,
        owner: &Owner,
        product: &ProductId,
        quantity: Quantity,
    ) -> Result<Cart, CartError> {
        let mut tx = self.db.begin_write().await?;
        self.check_sellable(&mut tx, product).await?;
        let key = owner.key();
        let now = now_rfc3339();
        open_cart(&mut tx, owner, &now).await?;
        // One statement adds to the product's line (if the sum stays within 99) or puts a
        // new line last (if the cart has room); only when it did neither is it asked why.
        let added = sqlx::query(
            "INSERT INTO cart_lines (owner, product_id, quantity, position, added_at, updated_at) \
             SELECT $1, $2, $3, COALESCE(MAX(position), 0) + 1, $4, $4 \
             FROM cart_lines WHERE owner = $1 \
             HAVING COUNT(*) < $5 OR MAX(CASE WHEN product_id = $2 THEN 1 ELSE 0 END) = 1 \
             ON CONFLICT (owner, product_id) DO UPDATE \
             SET quantity = cart_lines.quantity + excluded.quantity, updated_at = excluded.updated_at \
             WHERE cart_lines.quantity + excluded.quantity <= $6",
        )
        .bind(&key)
        .bind(product.as_str())
        .bind(quantity.units())
        .bind(&now)
        .bind(MAX_LINES as i64)
        .bind(Quantity::MAX)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            let held: Option<i64> =
                sqlx::query("SELECT quantity FROM cart_lines WHERE owner = $1 AND product_id = $2")
                    .bind(&key)
                    .bind(product.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get("quantity"))
                    .transpose()?;
            return Err(match held {
                Some(held) => CartError::invalid(
                    "quantity",
                    format!(
                        "the cart holds {held} of this product already; a line holds at most {}",
                        Quantity::MAX
                    ),
                ),
                None => CartError::invalid(
                    "product_id",
                    format!(
                        "the cart holds {MAX_LINES} different products already, the most it may"
                    ),
                ),
            });
        }
        let cart = self.cart_in(&mut tx, owner).await?;
        tx.commit().await?;
        Ok(cart)
    }

    /// Sets the quantity of a product the cart holds. A deleted product's line can only
    /// be removed.
    #[tracing::instrument(skip_all, fields(cart = owner.kind(), product_id = %product, quantity = quantity.units()))]
    pub async fn set_quantity(
        &self,
        owner: &Owner,
        product: &ProductId,
        quantity: Quantity,
    ) -> Result<Cart, CartError> {
        let mut tx = self.db.begin_write().await?;
        let now = now_rfc3339();
        touch_cart(&mut tx, owner, &now).await?;
        let deleted: Option<i64> = sqlx::query(
            "SELECT p.deleted FROM cart_lines l JOIN products p ON p.id = l.product_id \
             WHERE l.owner = $1 AND l.product_id = $2",
        )
        .bind(owner.key())
        .bind(product.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("deleted"))
        .transpose()?;
        match deleted {
            None => return Err(CartError::LineNotFound(product.to_string())),
            Some(1) => return Err(gone()),
            Some(_) => {}
        }
        sqlx::query(
            "UPDATE cart_lines SET quantity = $1, updated_at = $2 WHERE owner = $3 AND product_id = $4",
        )
        .bind(quantity.units())
        .bind(&now)
        .bind(owner.key())
        .bind(product.as_str())
        .execute(&mut *tx)
        .await?;
        let cart = self.cart_in(&mut tx, owner).await?;
        tx.commit().await?;
        Ok(cart)
    }

    /// Removes a product's line from the cart.
    #[tracing::instrument(skip_all, fields(cart = owner.kind(), product_id = %product))]
    pub async fn remove(&self, owner: &Owner, product: &ProductId) -> Result<Cart, CartError> {
        let mut tx = self.db.begin_write().await?;
        touch_cart(&mut tx, owner, &now_rfc3339()).await?;
        let removed = sqlx::query("DELETE FROM cart_lines WHERE owner = $1 AND product_id = $2")
            .bind(owner.key())
            .bind(product.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(CartError::LineNotFound(product.to_string()));
        }
        let cart = self.cart_in(&mut tx, owner).await?;
        tx.commit().await?;
        Ok(cart)
    }

    /// Empties the cart (it may have been empty, or not exist).
    #[tracing::instrument(skip_all, fields(cart = owner.kind()))]
    pub async fn clear(&self, owner: &Owner) -> Result<Cart, CartError> {
        let mut tx = self.db.begin_write().await?;
        touch_cart(&mut tx, owner, &now_rfc3339()).await?;
        sqlx::query("DELETE FROM cart_lines WHERE owner = $1")
            .bind(owner.key())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Cart::empty(&self.currency))
    }

    /// Moves the lines of an anonymous cart into a user's, then deletes the anonymous
    /// cart: a product in both gets the sum of the quantities, capped at 99; new lines go
    /// last, as long as the user's cart has room (the rest are dropped). A cart that does
    /// not exist, or was merged already (by a concurrent request), merges nothing.
    #[tracing::instrument(skip_all)]
    pub async fn merge(&self, from: &Owner, into: &Owner) -> Result<Merged, CartError> {
        let mut tx = self.db.begin_write().await?;
        let now = now_rfc3339();
        if !touch_cart(&mut tx, from, &now).await? {
            return Ok(Merged::default());
        }
        let lines = sqlx::query(
            "SELECT product_id, quantity FROM cart_lines WHERE owner = $1 ORDER BY position",
        )
        .bind(from.key())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("product_id")?,
                r.try_get::<i64, _>("quantity")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let merged = put_lines(&mut tx, into, &lines, &now).await?;
        sqlx::query("DELETE FROM carts WHERE owner = $1")
            .bind(from.key())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(merged)
    }

    /// Takes an order's lines out of `owner`'s cart at checkout, as one change: each
    /// product must still be there in at least the quantity ordered (a larger line keeps
    /// the rest), else nothing is taken and the cart has changed since the order read it
    /// (or another checkout took it). The order id makes it idempotent: the same order
    /// again takes nothing more. The lines stay held for the order until its
    /// confirmation or cancellation reaches the cart.
    #[tracing::instrument(skip_all, fields(order_id = %order_id))]
    pub async fn take(
        &self,
        owner: &Owner,
        order_id: &str,
        items: &[(ProductId, i64)],
    ) -> Result<Taken, CartError> {
        let mut tx = self.db.begin_write().await?;
        let now = now_rfc3339();
        // The cart is locked first, and only then is the order's hold looked for: on
        // PostgreSQL a take of the same order (the saga's retry) that committed while this
        // one waited for the lock is seen then, and its lines gone from the cart are this
        // order's own take, not a cart that changed. (An answer from the hold returns
        // without committing: the touch is undone.)
        let touched = touch_cart(&mut tx, owner, &now).await?;
        if let Some(hold) = hold_of(&mut tx, order_id).await? {
            return match hold.state.as_str() {
                "held" | "bought" if hold.owner == owner.key() => Ok(Taken::Already),
                "returned" => Err(CartError::CartChanged(
                    "this order was cancelled already; it takes nothing".into(),
                )),
                _ => Err(CartError::CartChanged(
                    "this order took another cart's lines".into(),
                )),
            };
        }
        if !touched {
            return Err(CartError::CartChanged("the cart is empty".into()));
        }
        let held: BTreeMap<String, i64> =
            sqlx::query("SELECT product_id, quantity FROM cart_lines WHERE owner = $1")
                .bind(owner.key())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("product_id")?, r.try_get("quantity")?)))
                .collect::<Result<_, sqlx::Error>>()?;
        for (product, quantity) in items {
            let there = held.get(product.as_str()).copied().unwrap_or(0);
            if there < *quantity {
                return Err(CartError::CartChanged(format!(
                    "the cart holds {there} of product {product}, not the {quantity} ordered"
                )));
            }
        }
        remove_ordered(&mut tx, owner, items).await?;
        let lines: Vec<HeldLine> = items
            .iter()
            .map(|(product, quantity)| HeldLine {
                product_id: product.to_string(),
                quantity: *quantity,
            })
            .collect();
        let inserted = sqlx::query(
            "INSERT INTO cart_holds (order_id, owner, items, state, created_at, updated_at) \
             VALUES ($1, $2, $3, 'held', $4, $4) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(owner.key())
        .bind(serde_json::to_string(&lines).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // A concurrent take of the same order got there first: that one holds.
            return Ok(Taken::Already);
        }
        tx.commit().await?;
        Ok(Taken::Now)
    }

    /// Gives a cancelled order's lines back to its buyer's cart (see [`give_back`]): what
    /// the saga does as it compensates, so the shopper finds the cart as it was at once;
    /// the order's `order.cancelled` does the same, and whichever comes second finds
    /// it done.
    #[tracing::instrument(skip_all, fields(order_id = %order_id))]
    pub async fn give_back(&self, order_id: &str, buyer: &Owner) -> Result<GivenBack, CartError> {
        let mut tx = self.db.begin_write().await?;
        let given = give_back(&mut tx, order_id, buyer).await?;
        tx.commit().await?;
        Ok(given)
    }

    /// Deletes the anonymous carts (and their lines) last changed before `before`
    /// (RFC 3339); returns how many.
    #[tracing::instrument(skip_all)]
    pub async fn purge_anonymous(&self, before: &str) -> Result<u64, CartError> {
        self.delete_in_batches(
            // The age again outside the subquery: on PostgreSQL a cart a shopper changed
            // while the purge waited for its row is then seen as changed, and kept.
            "DELETE FROM carts WHERE owner IN (SELECT owner FROM carts \
             WHERE kind = 'anonymous' AND updated_at < $1 LIMIT $2) \
             AND kind = 'anonymous' AND updated_at < $1",
            before,
        )
        .await
    }

    /// Deletes the holds settled (bought or given back) before `before` (RFC 3339);
    /// returns how many. What a settled hold still guards against is an event settling it
    /// delivered again, or a late take of its order: the purge keeps it as long as the
    /// inbox remembers events it handled, a day at least, and a checkout's take comes
    /// within its seconds.
    #[tracing::instrument(skip_all)]
    pub async fn purge_settled_holds(&self, before: &str) -> Result<u64, CartError> {
        self.delete_in_batches(
            "DELETE FROM cart_holds WHERE order_id IN (SELECT order_id FROM cart_holds \
             WHERE state <> 'held' AND updated_at < $1 LIMIT $2) \
             AND state <> 'held' AND updated_at < $1",
            before,
        )
        .await
    }

    /// Runs `delete` (binding `before` to `$1` and the batch's size to `$2`) until it
    /// deletes less than a batch; returns how many rows went. A few hundred at a time, each
    /// batch its own short transaction: the service's requests wait for its one SQLite
    /// connection meanwhile, and a day of abandoned carts must not stall them.
    async fn delete_in_batches(
        &self,
        delete: &'static str,
        before: &str,
    ) -> Result<u64, CartError> {
        let mut deleted = 0;
        loop {
            let mut tx = self.db.begin_write().await?;
            let batch = sqlx::query(delete)
                .bind(before)
                .bind(PURGE_BATCH)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            deleted += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Refuses a product the cart does not know, that was deleted, or that is priced in
    /// another currency than the shop's.
    async fn check_sellable(
        &self,
        tx: &mut Transaction<'static, Any>,
        product: &ProductId,
    ) -> Result<(), CartError> {
        let row = sqlx::query("SELECT currency, deleted FROM products WHERE id = $1")
            .bind(product.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else {
            return Err(CartError::invalid(
                "product_id",
                "there is no such product (a product the catalog has just created may take a moment to appear)",
            ));
        };
        let deleted: i64 = row.try_get("deleted")?;
        if deleted != 0 {
            return Err(gone());
        }
        let currency: String = row.try_get("currency")?;
        if currency != self.currency.as_str() {
            return Err(CartError::invalid(
                "product_id",
                format!(
                    "is priced in {currency}; this shop's carts take {} only",
                    self.currency
                ),
            ));
        }
        Ok(())
    }

    async fn cart_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        owner: &Owner,
    ) -> Result<Cart, CartError> {
        let rows = sqlx::query(CART_LINES)
            .bind(owner.key())
            .fetch_all(&mut **tx)
            .await?;
        self.cart_from_rows(&rows)
    }

    fn cart_from_rows(&self, rows: &[AnyRow]) -> Result<Cart, CartError> {
        let items = rows
            .iter()
            .map(|r| self.line_from_row(r))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Cart::new(items, &self.currency))
    }

    fn line_from_row(&self, row: &AnyRow) -> Result<CartLine, sqlx::Error> {
        let unit_price_cents: i64 = row.try_get("price_cents")?;
        let quantity: i64 = row.try_get("quantity")?;
        let deleted: i64 = row.try_get("deleted")?;
        let currency: String = row.try_get("currency")?;
        Ok(CartLine {
            product_id: row.try_get("product_id")?,
            name: row.try_get("name")?,
            unit_price_cents,
            quantity,
            line_total_cents: unit_price_cents.saturating_mul(quantity),
            available: deleted == 0 && currency == self.currency.as_str(),
        })
    }
}

/// Anonymous carts one transaction of the purge deletes at most.
const PURGE_BATCH: i64 = 500;

const CART_LINES: &str = "SELECT l.product_id, p.name, p.price_cents, p.currency, p.deleted, l.quantity \
     FROM cart_lines l JOIN products p ON p.id = l.product_id \
     WHERE l.owner = $1 ORDER BY l.position";

fn gone() -> CartError {
    CartError::invalid(
        "product_id",
        "is no longer sold: the catalog has deleted it",
    )
}

/// Creates the cart if it has none yet, else touches it (locking it until commit).
async fn open_cart(
    tx: &mut Transaction<'static, Any>,
    owner: &Owner,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO carts (owner, kind, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (owner) DO UPDATE SET updated_at = excluded.updated_at",
    )
    .bind(owner.key())
    .bind(owner.kind())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Touches an existing cart (locking it until commit); `false` when there is none.
async fn touch_cart(
    tx: &mut Transaction<'static, Any>,
    owner: &Owner,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let touched = sqlx::query("UPDATE carts SET updated_at = $1 WHERE owner = $2")
        .bind(now)
        .bind(owner.key())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(touched > 0)
}

/// How many lines a cart has, and the highest position among them.
async fn line_count(
    tx: &mut Transaction<'static, Any>,
    key: &str,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS lines, COALESCE(MAX(position), 0) AS last FROM cart_lines WHERE owner = $1",
    )
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.try_get("lines")?, row.try_get("last")?))
}

/// Adds lines to a cart (creating it if need be): a product it holds already gets the
/// sum of the quantities, capped at 99; new lines go last while the cart has room (the
/// rest are dropped).
async fn put_lines(
    tx: &mut Transaction<'static, Any>,
    into: &Owner,
    lines: &[(String, i64)],
    now: &str,
) -> Result<Merged, sqlx::Error> {
    let mut merged = Merged::default();
    if lines.is_empty() {
        return Ok(merged);
    }
    let key = into.key();
    open_cart(tx, into, now).await?;
    let (mut count, mut last) = line_count(tx, &key).await?;
    for (product, quantity) in lines {
        let grown: Option<i64> = sqlx::query_scalar(
            "UPDATE cart_lines SET quantity = CASE WHEN quantity + $1 > $2 THEN $2 \
             ELSE quantity + $1 END, updated_at = $3 WHERE owner = $4 AND product_id = $5 \
             RETURNING quantity",
        )
        .bind(*quantity)
        .bind(Quantity::MAX)
        .bind(now)
        .bind(&key)
        .bind(product)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(now_held) = grown {
            merged.moved += 1;
            if now_held >= Quantity::MAX {
                merged.at_cap += 1;
            }
        } else if count < MAX_LINES as i64 {
            last += 1;
            count += 1;
            sqlx::query(
                "INSERT INTO cart_lines (owner, product_id, quantity, position, added_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&key)
            .bind(product)
            .bind((*quantity).min(Quantity::MAX))
            .bind(last)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            merged.moved += 1;
        } else {
            merged.dropped += 1;
        }
    }
    Ok(merged)
}

/// The cart's copy of a product, as `products` keeps it.
impl events::projection::ProductCopy for ProductCopy {
    const COLUMNS: &'static [&'static str] = &["id", "name", "price_cents", "currency"];

    fn bind(&self, query: Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments> {
        query
            .bind(self.id.as_str())
            .bind(self.name.as_str())
            .bind(self.price_cents)
            .bind(self.currency.as_str())
    }

    /// A product deleted before the cart learnt of it: kept deleted, so that its creation,
    /// handled after it by another replica, does not put it on sale. No line holds it,
    /// so the stand-ins are never shown.
    fn deleted(id: ProductId) -> Option<Self> {
        Some(Self {
            id,
            name: String::new(),
            price_cents: 0,
            currency: Currency::USD,
        })
    }
}

/// Takes ordered quantities out of a cart, in the consumer's transaction: a line holding
/// no more than was ordered goes, a larger one keeps the rest. Returns how many lines
/// changed.
pub(crate) async fn remove_ordered(
    tx: &mut Transaction<'static, Any>,
    owner: &Owner,
    ordered: &[(ProductId, i64)],
) -> Result<u64, sqlx::Error> {
    let key = owner.key();
    let now = now_rfc3339();
    let mut changed = 0;
    for (product, quantity) in ordered {
        // Delete first: a line reduced first could then look small enough to delete.
        let removed = sqlx::query(
            "DELETE FROM cart_lines WHERE owner = $1 AND product_id = $2 AND quantity <= $3",
        )
        .bind(&key)
        .bind(product.as_str())
        .bind(*quantity)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        let reduced = if removed > 0 {
            0
        } else {
            sqlx::query(
                "UPDATE cart_lines SET quantity = quantity - $1, updated_at = $2 \
                 WHERE owner = $3 AND product_id = $4 AND quantity > $1",
            )
            .bind(*quantity)
            .bind(&now)
            .bind(&key)
            .bind(product.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected()
        };
        changed += removed + reduced;
    }
    Ok(changed)
}

/// What taking an order's lines did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The lines left the cart now.
    Now,
    /// The order had taken them already.
    Already,
}

/// One line a checkout took, as `cart_holds.items` keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct HeldLine {
    product_id: String,
    quantity: i64,
}

/// An order's hold: the cart it took from, its state and the lines it took.
struct Hold {
    owner: String,
    state: String,
    items: String,
}

/// The hold of an order, if it has one.
async fn hold_of(
    tx: &mut Transaction<'static, Any>,
    order_id: &str,
) -> Result<Option<Hold>, sqlx::Error> {
    sqlx::query("SELECT owner, state, items FROM cart_holds WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| {
            Ok(Hold {
                owner: r.try_get("owner")?,
                state: r.try_get("state")?,
                items: r.try_get("items")?,
            })
        })
        .transpose()
}

/// A confirmed order's lines, taken at checkout, are bought: `true`. `false` when the
/// order took nothing from the cart (placed before checkouts took their lines): its
/// quantities are then for the caller to remove.
pub(crate) async fn bought(
    tx: &mut Transaction<'static, Any>,
    order_id: &str,
) -> Result<bool, sqlx::Error> {
    let settled = sqlx::query("UPDATE cart_holds SET state = 'bought', updated_at = $1 WHERE order_id = $2 AND state = 'held'")
        .bind(now_rfc3339())
        .bind(order_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(settled > 0 || hold_of(tx, order_id).await?.is_some())
}

/// What giving back a cancelled order's lines did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GivenBack {
    /// The lines are back in the cart (those that fit).
    Now(Merged),
    /// They were given back before.
    Already,
    /// The order took nothing; it is marked, so that its take, should it still arrive,
    /// is refused.
    Nothing,
    /// The order was confirmed: its lines are bought, not given back.
    Bought,
}

/// A cancelled order gives back the lines it took to its buyer's cart (as a merge
/// would: quantities added, at most 99 a line, at most 50 lines).
pub(crate) async fn give_back(
    tx: &mut Transaction<'static, Any>,
    order_id: &str,
    buyer: &Owner,
) -> Result<GivenBack, sqlx::Error> {
    let now = now_rfc3339();
    // The hold moves from `held` to `returned` first, as one compare-and-set: of two
    // give-backs at once (the saga's call and the `order.cancelled` event, or a retried
    // call), one gives the lines back and the other finds it done, on PostgreSQL too.
    let hold = loop {
        let returned = sqlx::query(
            "UPDATE cart_holds SET state = 'returned', updated_at = $1 \
             WHERE order_id = $2 AND state = 'held' RETURNING owner, items",
        )
        .bind(&now)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = returned {
            break Hold {
                owner: row.try_get("owner")?,
                state: "returned".into(),
                items: row.try_get("items")?,
            };
        }
        match hold_of(tx, order_id).await? {
            Some(hold) if hold.state == "bought" => return Ok(GivenBack::Bought),
            Some(_) => return Ok(GivenBack::Already),
            None => {
                let marked = sqlx::query(
                    "INSERT INTO cart_holds (order_id, owner, items, state, created_at, updated_at) \
                     VALUES ($1, $2, '[]', 'returned', $3, $3) ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(order_id)
                .bind(buyer.key())
                .bind(&now)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if marked > 0 {
                    return Ok(GivenBack::Nothing);
                }
                // A take of this order committed meanwhile: give its lines back.
            }
        }
    };
    if hold.owner != buyer.key() {
        tracing::warn!(
            order_id,
            "the order's hold names another cart than its buyer's; given back to the buyer"
        );
    }
    let items: Vec<HeldLine> =
        serde_json::from_str(&hold.items).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let lines: Vec<(String, i64)> = items
        .into_iter()
        .map(|l| (l.product_id, l.quantity))
        .collect();
    let merged = put_lines(tx, buyer, &lines, &now).await?;
    merged.warn_if_overflowed(order_id);
    Ok(GivenBack::Now(merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Give-backs and takes of one order at once, on PostgreSQL when
    /// `BAZAAR_TEST_POSTGRES_URL` names a server (at READ COMMITTED, both give-backs read
    /// the hold as held and gave the lines back twice; a retried take found its own take's
    /// lines gone and said the cart had changed). SQLite serialises them anyway.
    #[tokio::test]
    async fn an_order_gives_back_once_and_a_retried_take_is_already_done_at_once() {
        let Some(pg) =
            platform::testing::ScratchPostgres::from_env("cart", "concurrent give-backs")
        else {
            return;
        };
        let db = Db::connect(&pg.url(), &migrations()).await.unwrap();
        let store = Store::new(db.clone(), Currency::parse("USD").unwrap());
        sqlx::query(
            "INSERT INTO products (id, name, price_cents, currency, deleted, updated_at) \
             VALUES ('p-1', 'Mug', 1200, 'USD', 0, '2026-01-01T00:00:00.000Z')",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let product = ProductId::parse("p-1").unwrap();
        for round in 0..10 {
            let owner = Owner::user(&format!("u-{round}"));
            store
                .add(&owner, &product, Quantity::new(2).unwrap())
                .await
                .unwrap();
            let order = format!("o-{round}");
            let items = [(product.clone(), 2)];
            let (a, b) = tokio::join!(
                store.take(&owner, &order, &items),
                store.take(&owner, &order, &items)
            );
            let mut taken = [a.unwrap(), b.unwrap()];
            taken.sort_by_key(|t| *t == Taken::Already);
            assert_eq!(taken, [Taken::Now, Taken::Already], "round {round}");
            let (a, b) = tokio::join!(
                store.give_back(&order, &owner),
                store.give_back(&order, &owner)
            );
            let given = [a.unwrap(), b.unwrap()];
            assert_eq!(
                given
                    .iter()
                    .filter(|g| matches!(g, GivenBack::Now(_)))
                    .count(),
                1,
                "round {round}: {given:?}"
            );
            let cart = store.cart(&owner).await.unwrap();
            let quantities: Vec<i64> = cart.items.iter().map(|l| l.quantity).collect();
            assert_eq!(quantities, [2], "round {round}: given back once");
        }
        db.close().await;
        pg.drop_database().await;
    }

    /// A cancelled order's lines given back to a cart filled again meanwhile: what does
    /// not fit (past 99 of a product, past 50 lines) is said to have overflowed, so that
    /// the loss is logged (the cart review: 21 units and a line lost without a word).
    #[tokio::test]
    async fn a_give_back_that_does_not_all_fit_says_so() {
        let scratch = platform::testing::Scratch::new("cart-overflow");
        let db = Db::connect(&scratch.sqlite_url("cart"), &migrations())
            .await
            .unwrap();
        let store = Store::new(db.clone(), Currency::parse("USD").unwrap());
        for n in 0..51 {
            sqlx::query(
                "INSERT INTO products (id, name, price_cents, currency, deleted, updated_at) \
                 VALUES ($1, 'Mug', 1200, 'USD', 0, '2026-01-01T00:00:00.000Z')",
            )
            .bind(format!("p-{n}"))
            .execute(db.pool())
            .await
            .unwrap();
        }
        let product = |n: usize| ProductId::parse(&format!("p-{n}")).unwrap();
        let owner = Owner::user("u-1");
        let sixty = Quantity::new(60).unwrap();
        store.add(&owner, &product(0), sixty).await.unwrap();
        store
            .take(&owner, "o-1", &[(product(0), 60)])
            .await
            .unwrap();
        store.add(&owner, &product(0), sixty).await.unwrap();
        let GivenBack::Now(merged) = store.give_back("o-1", &owner).await.unwrap() else {
            panic!("given back now");
        };
        assert_eq!((merged.moved, merged.at_cap, merged.dropped), (1, 1, 0));
        assert!(merged.overflowed());
        // Fits: nothing said.
        store.add(&owner, &product(1), sixty).await.unwrap();
        store
            .take(&owner, "o-2", &[(product(1), 60)])
            .await
            .unwrap();
        let GivenBack::Now(merged) = store.give_back("o-2", &owner).await.unwrap() else {
            panic!("given back now");
        };
        assert!(!merged.overflowed(), "{merged:?}");
        // A full cart leaves the line out.
        store.add(&owner, &product(2), sixty).await.unwrap();
        store
            .take(&owner, "o-3", &[(product(2), 60)])
            .await
            .unwrap();
        for n in 3..51 {
            store
                .add(&owner, &product(n), Quantity::new(1).unwrap())
                .await
                .unwrap();
        }
        let GivenBack::Now(merged) = store.give_back("o-3", &owner).await.unwrap() else {
            panic!("given back now");
        };
        assert_eq!(merged.dropped, 1, "{merged:?}");
        db.close().await;
    }

    #[test]
    fn migrations_put_the_cart_before_the_consumer_tables() {
        platform::testing::assert_migrations(
            &migrations(),
            &["events inbox, cursors, attempts, dead letters"],
        );
    }

    #[test]
    fn the_schema_enforces_the_line_limits() {
        assert!(TABLES.contains(&format!(
            "quantity BETWEEN {} AND {}",
            Quantity::MIN,
            Quantity::MAX
        )));
    }
}
