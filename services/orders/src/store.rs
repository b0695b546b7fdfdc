//! All of orders' SQL: its migrations, its reads, and its writes. An order's every change
//! of state is one compare-and-set on its row, one line in `saga_log`, and (for placing,
//! confirming and cancelling) its event in the outbox, in one transaction.

use crate::{
    domain::{
        AddressText, Answer, CancelReason, CountryCode, Customer, Line, Order, OrderId, Page,
        ShippingAddress, Status, Step,
    },
    error::OrdersError,
    events::Announce,
};
use events::{Producer, now_rfc3339, outbox};
use platform::db::{Db, MigrationSource, is_unique_violation};
use sqlx::{Any, Row, Transaction, any::AnyRow};
use std::{collections::HashMap, time::Duration};

/// Orders' tables, the same SQL on both backends.
///
/// `orders` holds an order, its shipping address and where its saga stands (`status`,
/// `step`, `attempts`), the payment's authorisation once there is one, and the answer
/// its checkout got once that is known (`response_status`, `response_body`). The pair
/// (`user_id`, `idempotency_key`) is unique: one order per key per user. The card is in
/// no table. `order_items` are the lines as bought; `saga_log` is an append-only record
/// of every change of a saga's state.
///
/// `resumable_until` (version 2) is set while a checkout waits for a same-key retry after
/// inventory or payments was unavailable: recovery leaves it alone until then.
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(1, "orders, their items and the saga log", TABLES),
    MigrationSource::portable(2, "checkouts resumable after an outage", RESUMABLE),
    MigrationSource::portable(
        3,
        "a lease on each order's saga for the replica driving it",
        LEASED,
    ),
];

/// How many times [`Store::save`] and [`Store::place`] try a write the database failed for
/// a moment (waiting 100, 200, 400 and 800 ms between them).
const SAVE_TRIES: u32 = 5;

/// The tries of one write of [`Store::save`] or [`Store::place`].
struct Tries {
    made: u32,
    wait: Duration,
}

impl Default for Tries {
    fn default() -> Self {
        Self {
            made: 1,
            wait: Duration::from_millis(100),
        }
    }
}

impl Tries {
    /// After a try of `doing` for order `id` failed with `e`: whether to try again, having
    /// waited, when the database failed it for a moment ([`platform::db::is_transient`])
    /// and tries are left.
    async fn again(&mut self, id: &OrderId, e: &OrdersError, doing: &str) -> bool {
        let transient = match e {
            OrdersError::Database(e) | OrdersError::Outbox(outbox::OutboxError::Store(e)) => {
                platform::db::is_transient(e)
            }
            _ => false,
        };
        if !transient || self.made >= SAVE_TRIES {
            return false;
        }
        tracing::warn!(order_id = %id, error = %e, "could not {doing}; trying again");
        tokio::time::sleep(self.wait).await;
        self.wait *= 2;
        self.made += 1;
        true
    }
}

const RESUMABLE: &str = "ALTER TABLE orders ADD COLUMN resumable_until TEXT;";

/// Who drives an order's saga, and until when unless renewed: the lease that keeps one
/// replica's recovery from taking over an order another replica is still driving.
const LEASED: &str = "ALTER TABLE orders ADD COLUMN driver TEXT;
ALTER TABLE orders ADD COLUMN driven_until TEXT;";

const TABLES: &str = "
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    user_email TEXT NOT NULL,
    user_name TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    total_cents BIGINT NOT NULL CHECK (total_cents > 0),
    currency TEXT NOT NULL,
    ship_name TEXT NOT NULL,
    ship_line1 TEXT NOT NULL,
    ship_city TEXT NOT NULL,
    ship_postal_code TEXT NOT NULL,
    ship_country TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'reserving', 'authorizing',
        'authorized', 'confirming', 'confirmed', 'compensating', 'cancelled')),
    step TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    cancel_reason TEXT,
    authorization_id TEXT,
    response_status BIGINT,
    response_body TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    confirmed_at TEXT,
    cancelled_at TEXT,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_by_user ON orders (user_id, created_at);
CREATE INDEX orders_by_status ON orders (status, updated_at);
CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    name TEXT NOT NULL,
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line)
);
CREATE TABLE saga_log (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    at TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    step TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX saga_log_by_order ON saga_log (order_id, at);
";

/// Orders' migrations, then the outbox's: what [`Db::connect`] is given.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, outbox::MIGRATIONS].concat()
}

/// `SELECT <every column of orders> FROM orders <rest>`, as one `&'static str`.
macro_rules! select_orders {
    ($rest:literal) => {
        concat!(
            "SELECT id, user_id, user_email, user_name, idempotency_key, request_hash, \
             total_cents, currency, ship_name, ship_line1, ship_city, ship_postal_code, \
             ship_country, status, step, attempts, cancel_reason, authorization_id, \
             response_status, response_body, last_error, created_at, updated_at, \
             confirmed_at, cancelled_at, resumable_until FROM orders ",
            $rest
        )
    };
}

/// Orders' data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    producer: Producer,
}

impl Store {
    /// Takes (or renews) the lease on driving `id`'s saga for `driver` until `until`:
    /// `true` when it was free, expired at `now`, or `driver`'s already, and the order is
    /// not final.
    pub async fn lease(
        &self,
        id: &OrderId,
        driver: &str,
        until: &str,
        now: &str,
    ) -> Result<bool, OrdersError> {
        let mut tx = self.db.begin_write().await?;
        let taken = sqlx::query(
            "UPDATE orders SET driver = $2, driven_until = $3 \
             WHERE id = $1 AND status NOT IN ('confirmed', 'cancelled') \
             AND (driven_until IS NULL OR driven_until < $4 OR driver = $2)",
        )
        .bind(id.as_str())
        .bind(driver)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(taken == 1)
    }

    /// Gives `driver`'s lease on `id` up, so recovery need not wait for it to expire.
    pub async fn release(&self, id: &OrderId, driver: &str) -> Result<(), OrdersError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE orders SET driven_until = NULL WHERE id = $1 AND driver = $2")
            .bind(id.as_str())
            .bind(driver)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Orders' data in `db`; `producer` is woken after each commit that records events.
    pub fn new(db: Db, producer: Producer) -> Self {
        Self { db, producer }
    }

    /// Records a new order with its lines and `order.placed`, in one transaction, leased
    /// to `driver` until `until` (the placing request drives its saga). `false` when the
    /// user has an order with this idempotency key already (nothing is written).
    ///
    /// Tried again like [`Store::save`] when the database fails it for a moment; a try
    /// whose commit went through but whose answer was lost is recognised by the order's
    /// row (its id is this request's own).
    #[tracing::instrument(skip_all, fields(order_id = %order.id))]
    pub async fn place(
        &self,
        order: &Order,
        driver: &str,
        until: &str,
    ) -> Result<bool, OrdersError> {
        let mut tries = Tries::default();
        loop {
            match self.try_place(order, driver, until).await {
                Err(e) if tries.again(&order.id, &e, "place the order").await => {
                    // A try whose commit went through with its answer lost placed it.
                    if let Ok(Some(_)) = self.get(&order.id).await {
                        return Ok(true);
                    }
                }
                other => return other,
            }
        }
    }

    async fn try_place(
        &self,
        order: &Order,
        driver: &str,
        until: &str,
    ) -> Result<bool, OrdersError> {
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, user_id, user_email, user_name, idempotency_key, \
             request_hash, total_cents, currency, ship_name, ship_line1, ship_city, \
             ship_postal_code, ship_country, status, step, attempts, created_at, updated_at, \
             driver, driven_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20)",
        )
        .bind(order.id.as_str())
        .bind(&order.customer.id)
        .bind(&order.customer.email)
        .bind(&order.customer.name)
        .bind(&order.idempotency_key)
        .bind(&order.fingerprint)
        .bind(order.total_cents)
        .bind(&order.currency)
        .bind(order.address.name.as_str())
        .bind(order.address.line1.as_str())
        .bind(order.address.city.as_str())
        .bind(order.address.postal_code.as_str())
        .bind(order.address.country.as_str())
        .bind(order.status.as_str())
        .bind(order.step.as_str())
        .bind(order.attempts)
        .bind(&order.created_at)
        .bind(&order.updated_at)
        .bind(driver)
        .bind(until)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Another request with the same key won the race; the caller answers from it.
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        for (i, line) in order.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_items (order_id, line, product_id, name, unit_price_cents, quantity) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(order.id.as_str())
            .bind(i as i64)
            .bind(&line.product_id)
            .bind(&line.name)
            .bind(line.unit_price_cents)
            .bind(line.quantity)
            .execute(&mut *tx)
            .await?;
        }
        log_transition(&mut tx, order, None, "order placed").await?;
        outbox::enqueue(&mut tx, &Announce::Placed.event(order)?).await?;
        self.producer.commit(tx).await?;
        Ok(true)
    }

    /// Writes `order`'s saga state if the row is still at `from` (status and step) — a
    /// compare-and-set, so two drivers of one saga never both move it — with a line in
    /// the saga log and, if given, the event announcing the change. `false` (and nothing
    /// written) when someone else moved the order first.
    ///
    /// A write the database fails for a moment (a connection cut, a pool out of
    /// connections: [`platform::db::is_transient`]) is tried again for about 1.5 s: the
    /// saga's state is what recovery acts on, and an authorisation whose order still reads
    /// "authorising" is voided as lost. A try whose commit went through but whose answer
    /// was lost with its connection is recognised by the row holding its `updated_at`.
    #[tracing::instrument(skip_all, fields(order_id = %order.id, from = %from.0, to = %order.status))]
    pub async fn save(
        &self,
        order: &mut Order,
        from: (Status, Step),
        detail: &str,
        announce: Option<Announce>,
    ) -> Result<bool, OrdersError> {
        let mut tries = Tries::default();
        loop {
            match self.try_save(order, from, detail, announce).await {
                Err(e) if tries.again(&order.id, &e, "record the order's state").await => {
                    if let Ok(Some(now)) = self.get(&order.id).await
                        && (now.status, now.step, &now.updated_at)
                            == (order.status, order.step, &order.updated_at)
                    {
                        return Ok(true);
                    }
                }
                other => return other,
            }
        }
    }

    async fn try_save(
        &self,
        order: &mut Order,
        from: (Status, Step),
        detail: &str,
        announce: Option<Announce>,
    ) -> Result<bool, OrdersError> {
        order.updated_at = now_rfc3339();
        let (response_status, response_body) = match &order.answer {
            Some(a) => (Some(i64::from(a.status)), Some(a.body.to_string())),
            None => (None, None),
        };
        let mut tx = self.db.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE orders SET status = $1, step = $2, attempts = $3, cancel_reason = $4, \
             authorization_id = $5, response_status = $6, response_body = $7, last_error = $8, \
             updated_at = $9, confirmed_at = $10, cancelled_at = $11, resumable_until = $12 \
             WHERE id = $13 AND status = $14 AND step = $15",
        )
        .bind(order.status.as_str())
        .bind(order.step.as_str())
        .bind(order.attempts)
        .bind(order.cancel_reason.map(CancelReason::as_str))
        .bind(order.authorization_id.as_deref())
        .bind(response_status)
        .bind(response_body)
        .bind(order.last_error.as_deref())
        .bind(&order.updated_at)
        .bind(order.confirmed_at.as_deref())
        .bind(order.cancelled_at.as_deref())
        .bind(order.resumable_until.as_deref())
        .bind(order.id.as_str())
        .bind(from.0.as_str())
        .bind(from.1.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        log_transition(&mut tx, order, Some(from.0), detail).await?;
        if let Some(announce) = announce {
            outbox::enqueue(&mut tx, &announce.event(order)?).await?;
        }
        tx.commit().await?;
        if announce.is_some() {
            self.producer.notify();
        }
        Ok(true)
    }

    /// An order by id.
    pub async fn get(&self, id: &OrderId) -> Result<Option<Order>, OrdersError> {
        let row = sqlx::query(select_orders!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.db.pool())
            .await?;
        self.with_lines(row.into_iter().collect())
            .await
            .map(|mut v| v.pop())
    }

    /// An order of `user_id`'s; another user's is `None`.
    pub async fn get_for_user(
        &self,
        id: &OrderId,
        user_id: &str,
    ) -> Result<Option<Order>, OrdersError> {
        Ok(self.get(id).await?.filter(|o| o.customer.id == user_id))
    }

    /// The order `user_id` placed with `key`, if any.
    pub async fn find_by_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<Order>, OrdersError> {
        let row = sqlx::query("SELECT id FROM orders WHERE user_id = $1 AND idempotency_key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(row) => {
                let id: String = row.try_get("id")?;
                match OrderId::parse(&id) {
                    Some(id) => self.get(&id).await,
                    None => Err(decode_error(format!("order id `{id}` is not a UUID")).into()),
                }
            }
            None => Ok(None),
        }
    }

    /// `user_id`'s newest checkout that waits for its client to retry it (after an outage
    /// of a service it needs), and until when: its cart's lines are held for it till then.
    pub async fn waiting_for_retry(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, String)>, OrdersError> {
        let row = sqlx::query(
            "SELECT id, resumable_until FROM orders WHERE user_id = $1 AND resumable_until > $2 \
             AND status NOT IN ('confirmed', 'cancelled') ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(events::now_rfc3339())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("id")?, row.try_get("resumable_until")?)),
            None => None,
        })
    }

    /// One page of `user_id`'s orders, newest first, and how many there are.
    pub async fn list_for_user(
        &self,
        user_id: &str,
        page: Page,
    ) -> Result<(Vec<Order>, i64), OrdersError> {
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.db.pool())
            .await?
            .try_get("n")?;
        let rows = sqlx::query(select_orders!(
            "WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(user_id)
        .bind(i64::from(page.per_page()))
        .bind(page.offset())
        .fetch_all(self.db.pool())
        .await?;
        Ok((self.with_lines(rows).await?, total))
    }

    /// Orders whose saga has not ended and has not moved since `before` (RFC 3339), oldest
    /// first, leaving out those still resumable by their client at `now`: one that waits
    /// for a same-key retry until its `resumable_until`, and one stopped without a word
    /// before its pivot and placed after `placed_before` (whose client may yet retry).
    /// What the recovery worker takes over.
    pub async fn stuck(
        &self,
        before: &str,
        now: &str,
        placed_before: &str,
        limit: i64,
    ) -> Result<Vec<Order>, OrdersError> {
        let rows = sqlx::query(select_orders!(
            "WHERE status NOT IN ('confirmed', 'cancelled') AND updated_at < $1 \
             AND (resumable_until <= $2 OR (resumable_until IS NULL \
                  AND (status NOT IN ('pending', 'reserving', 'authorizing') \
                       OR created_at <= $4))) \
             AND (driven_until IS NULL OR driven_until < $2) \
             ORDER BY updated_at LIMIT $3"
        ))
        .bind(before)
        .bind(now)
        .bind(limit)
        .bind(placed_before)
        .fetch_all(self.db.pool())
        .await?;
        self.with_lines(rows).await
    }

    /// Orders from their rows, each with its lines (one query for all of them).
    async fn with_lines(&self, rows: Vec<AnyRow>) -> Result<Vec<Order>, OrdersError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut orders = rows
            .iter()
            .map(order_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
        let mut lines: HashMap<String, Vec<Line>> = self
            .db
            .fetch_grouped_in(
                "SELECT order_id, product_id, name, unit_price_cents, quantity FROM order_items",
                "order_id",
                &ids,
                " ORDER BY order_id, line",
            )
            .await?;
        for o in &mut orders {
            o.lines = lines.remove(o.id.as_str()).unwrap_or_default();
        }
        Ok(orders)
    }
}

/// Appends the order's state to the saga log.
async fn log_transition(
    tx: &mut Transaction<'static, Any>,
    order: &Order,
    from: Option<Status>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO saga_log (id, order_id, at, from_status, to_status, step, attempts, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(order.id.as_str())
    .bind(now_rfc3339())
    .bind(from.map(Status::as_str))
    .bind(order.status.as_str())
    .bind(order.step.as_str())
    .bind(order.attempts)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn decode_error(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

platform::from_row! { Line { product_id, name, unit_price_cents, quantity } }

/// An order from its row; its lines are filled in by the caller.
fn order_from_row(row: &AnyRow) -> Result<Order, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let step: String = row.try_get("step")?;
    let reason: Option<String> = row.try_get("cancel_reason")?;
    let response_status: Option<i64> = row.try_get("response_status")?;
    let response_body: Option<String> = row.try_get("response_body")?;
    let answer = match (response_status, response_body) {
        (Some(status), Some(body)) => Some(Answer {
            status: u16::try_from(status)
                .map_err(|_| decode_error(format!("response status {status} is not HTTP")))?,
            body: serde_json::from_str(&body)
                .map_err(|e| decode_error(format!("stored response is not JSON: {e}")))?,
        }),
        _ => None,
    };
    Ok(Order {
        id: OrderId::parse(&id).ok_or_else(|| decode_error(format!("order id `{id}`")))?,
        customer: Customer {
            id: row.try_get("user_id")?,
            email: row.try_get("user_email")?,
            name: row.try_get("user_name")?,
        },
        idempotency_key: row.try_get("idempotency_key")?,
        fingerprint: row.try_get("request_hash")?,
        lines: Vec::new(),
        total_cents: row.try_get("total_cents")?,
        currency: row.try_get("currency")?,
        address: ShippingAddress {
            name: AddressText::trusted(row.try_get("ship_name")?),
            line1: AddressText::trusted(row.try_get("ship_line1")?),
            city: AddressText::trusted(row.try_get("ship_city")?),
            postal_code: AddressText::trusted(row.try_get("ship_postal_code")?),
            country: CountryCode::trusted(row.try_get("ship_country")?),
        },
        status: Status::parse(&status)
            .ok_or_else(|| decode_error(format!("unknown status `{status}`")))?,
        step: Step::parse(&step).ok_or_else(|| decode_error(format!("unknown step `{step}`")))?,
        attempts: row.try_get("attempts")?,
        cancel_reason: reason
            .map(|r| {
                CancelReason::parse(&r).ok_or_else(|| decode_error(format!("unknown reason `{r}`")))
            })
            .transpose()?,
        authorization_id: row.try_get("authorization_id")?,
        answer,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
        resumable_until: row.try_get("resumable_until")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_put_orders_before_the_outbox() {
        platform::testing::assert_migrations(&migrations(), &["events outbox"]);
    }

    /// SQLite's write lock on the database at `url`, taken by another connection and
    /// held for 250 ms by the task returned.
    async fn hold_the_write_lock(url: &str) -> tokio::task::JoinHandle<()> {
        use sqlx::{Connection, sqlite::SqliteConnection};
        let mut other = SqliteConnection::connect(url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        })
    }

    /// A write of the saga's state, or the order's placing, that the database refuses for
    /// a moment (here SQLite's write lock, held elsewhere, with no time given to wait for
    /// it) is tried again and lands: the order moves on instead of being left for
    /// recovery to void.
    #[tokio::test]
    async fn a_write_the_database_refuses_for_a_moment_is_tried_again() {
        use crate::domain::fixtures::{cart_line, order};
        let dir = platform::testing::Scratch::new("orders-save");
        let url = dir.sqlite_url("orders");
        let db = Db::connect(&url, &migrations()).await.unwrap();
        let store = Store::new(
            db.clone(),
            Producer::new("orders", db.clone(), ::events::Broker::Embedded),
        );
        let mut placed = order(vec![cart_line("p-1", 500, 1)]);
        assert!(
            store
                .place(&placed, "me", "2999-01-01T00:00:00.000Z")
                .await
                .unwrap()
        );
        // The pool's one connection gives up on a held lock at once.
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(db.pool())
            .await
            .unwrap();
        let holder = hold_the_write_lock(&url).await;
        let from = placed.move_to(Status::Reserving, Step::Reserve);
        let saved = store.save(&mut placed, from, "reserving stock", None).await;
        holder.await.unwrap();
        assert!(saved.unwrap(), "saved once the lock was free");
        let now = store.get(&placed.id).await.unwrap().unwrap();
        assert_eq!(now.status, Status::Reserving);

        // Placing an order, the same way.
        let holder = hold_the_write_lock(&url).await;
        let mut second = order(vec![cart_line("p-2", 700, 2)]);
        second.idempotency_key = "k2".into();
        let placed = store.place(&second, "me", "2999-01-01T00:00:00.000Z").await;
        holder.await.unwrap();
        assert!(placed.unwrap(), "placed once the lock was free");
        assert!(store.get(&second.id).await.unwrap().is_some());
    }

    #[test]
    fn the_card_has_no_column() {
        for word in ["card", "cvc", "pan"] {
            assert!(!TABLES.contains(word), "{word}");
        }
    }
}
