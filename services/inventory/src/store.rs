//! All of inventory's SQL: its migrations, its reads, and its writes. Every change of a
//! stock level appends one movement to the ledger and records `stock.changed` in the
//! outbox, in the transaction that makes the change; every change of a reservation
//! records its reservation event in that same transaction.

use crate::{
    domain::{
        NewReservation, NewStock, ProductId, ProductIds, Reason, ReleaseReason, Reservation,
        ReservationId, ReservationLine, ReservationStatus, ReservedItem, Stock, StockLevel,
    },
    error::InventoryError,
    events::{
        RESERVATION_COMMITTED, RESERVATION_HELD, RESERVATION_RELEASED, ReservationChanged, SOURCE,
        STOCK_CHANGED, StockChanged,
    },
};
use chrono::Utc;
use events::{Producer, consumer, envelope::to_rfc3339, now_rfc3339, outbox};
use platform::{
    FieldError,
    db::{Db, MigrationSource},
};
use sqlx::{Any, AnyConnection, FromRow, Row, Transaction, any::AnyRow};
use std::collections::HashMap;

/// Inventory's tables, the same SQL on both backends.
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(1, "inventory stock and its ledger", TABLES),
    MigrationSource::portable(2, "inventory reservations", RESERVATIONS),
];

/// `stock` holds one row per product the catalog announced; `available` counts the units
/// that can still be sold and `reserved` those held for checkouts, so the units on the
/// shelf are their sum. `stock_movements` is an append-only ledger with one row per
/// change of a level; a movement caused by an event names it, at most once per reason
/// (the inbox already guarantees this; the index makes a bug loud, not silent).
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

/// `reservations` holds one row per reservation a caller made (its id is the caller's),
/// `reservation_lines` what each holds. A movement now says how `reserved` changed too
/// (`reserved_delta`; `delta` stays the change of `available`) and which reservation
/// caused it, so each level is the sum of its product's movements. Times are RFC 3339
/// text in UTC with milliseconds, so text order is time order.
const RESERVATIONS: &str = "
CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    reason TEXT CHECK (reason IS NULL OR reason IN ('requested', 'expired')),
    created_by TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reservations_due ON reservations (status, expires_at);
CREATE INDEX reservations_by_age ON reservations (status, created_at);
CREATE TABLE reservation_lines (
    reservation_id TEXT NOT NULL REFERENCES reservations (id),
    line BIGINT NOT NULL,
    product_id TEXT NOT NULL REFERENCES stock (product_id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, line),
    UNIQUE (reservation_id, product_id)
);
ALTER TABLE stock_movements ADD COLUMN reserved_delta BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stock_movements ADD COLUMN reservation_id TEXT;
CREATE INDEX stock_movements_by_reservation
    ON stock_movements (reservation_id) WHERE reservation_id IS NOT NULL;
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
        let wanted: Vec<&str> = ids.as_slice().iter().map(ProductId::as_str).collect();
        let rows = self
            .db
            .fetch_in(
                "SELECT product_id, available, reserved, discontinued FROM stock",
                "product_id",
                &wanted,
                "",
            )
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
    #[tracing::instrument(skip_all, fields(product_id = %id, available = level.get()))]
    pub async fn set_available(
        &self,
        id: &ProductId,
        level: StockLevel,
        traceparent: Option<&str>,
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
            if before.available == level.get() {
                return Ok(before);
            }
            // Compare-and-set: on PostgreSQL a concurrent writer may have changed the
            // level since it was read; then nothing is updated and it is read again. The
            // row comes back as written: `reserved` may have moved meanwhile, and the
            // answer and the event say what is there now.
            let updated = sqlx::query(
                "UPDATE stock SET available = $1, updated_at = $2 \
                 WHERE product_id = $3 AND available = $4 \
                 RETURNING product_id, available, reserved, discontinued",
            )
            .bind(level.get())
            .bind(now_rfc3339())
            .bind(id.as_str())
            .bind(before.available)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = updated else {
                continue;
            };
            let after = stock_from_row(&row)?;
            let change = Change::available(level.get() - before.available, Reason::Adjustment);
            record_change(&mut tx, &after, &change, traceparent).await?;
            self.producer.commit(tx).await?;
            return Ok(after);
        }
        Err(InventoryError::Contended(id.to_string()))
    }

    /// Holds the units of a new reservation, all or nothing, in one transaction: each
    /// line moves its quantity from `available` to `reserved` with a conditional update
    /// (never below zero, whatever runs beside it), with its movement and
    /// `stock.changed`, then `reservation.held`. If any line cannot be held, nothing is
    /// and every such line is named. A reservation id seen before returns that
    /// reservation as it is now, holding nothing more; the flag says whether this call
    /// made it.
    #[tracing::instrument(skip_all, fields(reservation_id = %new.id, lines = new.lines().len()))]
    pub async fn reserve(
        &self,
        new: &NewReservation,
        created_by: &str,
        traceparent: Option<&str>,
    ) -> Result<(Reservation, bool), InventoryError> {
        let now = Utc::now();
        let created_at = to_rfc3339(now);
        let expires_at = to_rfc3339(now + chrono::Duration::seconds(new.ttl.get()));
        let id = new.id.as_str();
        let mut tx = self.db.begin_write().await?;
        // The row first: on PostgreSQL a concurrent request with the same id waits here
        // for this one to finish, then finds its reservation.
        let inserted = sqlx::query(
            "INSERT INTO reservations \
             (id, status, reason, created_by, expires_at, created_at, updated_at) \
             VALUES ($1, 'held', NULL, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(created_by)
        .bind(&expires_at)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let existing = load_reservation(&mut tx, id).await?.ok_or_else(|| {
                InventoryError::Inconsistent(format!("reservation `{id}` vanished"))
            })?;
            tx.rollback().await?;
            return Ok((existing, false));
        }

        let lines = new.lines();
        let mut held = Vec::with_capacity(lines.len());
        let mut short = Vec::new();
        for i in in_product_order(lines.iter().map(|l| &l.product_id)) {
            let line = &lines[i];
            let row = sqlx::query(
                "UPDATE stock SET available = available - $1, reserved = reserved + $1, \
                 updated_at = $2 \
                 WHERE product_id = $3 AND discontinued = 0 AND available >= $1 \
                 RETURNING product_id, available, reserved, discontinued",
            )
            .bind(line.quantity.get())
            .bind(&created_at)
            .bind(line.product_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) => held.push((line, stock_from_row(&row)?)),
                None => short.push((i, why_short(&mut tx, i, line).await?)),
            }
        }
        if !short.is_empty() {
            tx.rollback().await?;
            short.sort_by_key(|(i, _)| *i);
            return Err(InventoryError::InsufficientStock(
                short.into_iter().map(|(_, e)| e).collect(),
            ));
        }

        for (i, line) in lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO reservation_lines (reservation_id, line, product_id, quantity) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(i64::try_from(i).unwrap_or(i64::MAX))
            .bind(line.product_id.as_str())
            .bind(line.quantity.get())
            .execute(&mut *tx)
            .await?;
        }
        for (line, after) in &held {
            let change = Change {
                delta: -line.quantity.get(),
                reserved_delta: line.quantity.get(),
                reason: Reason::Reserved,
                event_id: None,
                reservation_id: Some(id),
            };
            record_change(&mut tx, after, &change, traceparent).await?;
        }
        let reservation = Reservation {
            reservation_id: id.to_owned(),
            status: ReservationStatus::Held,
            reason: None,
            expires_at,
            created_at,
            items: lines.iter().map(item).collect(),
        };
        record_reservation(&mut tx, RESERVATION_HELD, &reservation, traceparent).await?;
        self.producer.commit(tx).await?;
        Ok((reservation, true))
    }

    /// Commits a held reservation: its units leave `reserved` for good (movements,
    /// `stock.changed`, `reservation.committed`). Committing a committed one returns it
    /// unchanged. A released one cannot be committed; a held one past its time is
    /// released there and then (reason `expired`) and cannot be either.
    #[tracing::instrument(skip_all, fields(reservation_id = %id))]
    pub async fn commit(
        &self,
        id: &ReservationId,
        traceparent: Option<&str>,
    ) -> Result<Reservation, InventoryError> {
        let now = now_rfc3339();
        let mut tx = self.db.begin_write().await?;
        // The state change first and conditional, so that of two concurrent calls exactly
        // one moves the units.
        let moved = sqlx::query(
            "UPDATE reservations SET status = 'committed', updated_at = $1 \
             WHERE id = $2 AND status = 'held' AND expires_at > $1",
        )
        .bind(&now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let current = load_reservation(&mut tx, id.as_str())
            .await?
            .ok_or_else(|| InventoryError::ReservationNotFound(id.to_string()))?;
        if moved == 1 {
            for (item, after) in take_reserved(&mut tx, &current, TakeBack::Sold, &now).await? {
                let change = Change {
                    delta: 0,
                    reserved_delta: -item.quantity,
                    reason: Reason::Committed,
                    event_id: None,
                    reservation_id: Some(id.as_str()),
                };
                record_change(&mut tx, &after, &change, traceparent).await?;
            }
            record_reservation(&mut tx, RESERVATION_COMMITTED, &current, traceparent).await?;
            self.producer.commit(tx).await?;
            return Ok(current);
        }
        match current.status {
            ReservationStatus::Committed => {
                tx.rollback().await?;
                Ok(current)
            }
            ReservationStatus::Released => {
                tx.rollback().await?;
                Err(InventoryError::ReservationState {
                    id: id.to_string(),
                    status: current.status,
                    action: "committed",
                })
            }
            // Still held, so past its time: release it now rather than wait for the
            // expiry worker, so that the answer and the stock agree.
            ReservationStatus::Held => {
                let released = release_held(
                    &mut tx,
                    id.as_str(),
                    ReleaseReason::Expired,
                    &now,
                    traceparent,
                )
                .await?;
                tx.commit().await?;
                if released.is_some() {
                    self.producer.notify();
                }
                Err(InventoryError::ReservationExpired(id.to_string()))
            }
        }
    }

    /// Releases a held reservation: its units are available again (movements,
    /// `stock.changed`, `reservation.released` with reason `requested`). Releasing a
    /// released one returns it unchanged; a committed one cannot be released.
    #[tracing::instrument(skip_all, fields(reservation_id = %id))]
    pub async fn release(
        &self,
        id: &ReservationId,
        traceparent: Option<&str>,
    ) -> Result<Reservation, InventoryError> {
        let now = now_rfc3339();
        let mut tx = self.db.begin_write().await?;
        let released = release_held(
            &mut tx,
            id.as_str(),
            ReleaseReason::Requested,
            &now,
            traceparent,
        )
        .await?;
        if let Some(released) = released {
            self.producer.commit(tx).await?;
            return Ok(released);
        }
        let current = load_reservation(&mut tx, id.as_str()).await?;
        tx.rollback().await?;
        match current {
            None => Err(InventoryError::ReservationNotFound(id.to_string())),
            Some(r) if r.status == ReservationStatus::Released => Ok(r),
            Some(r) => Err(InventoryError::ReservationState {
                id: id.to_string(),
                status: r.status,
                action: "released",
            }),
        }
    }

    /// Releases up to `batch` held reservations past their time (reason `expired`), each
    /// in its own transaction; returns how many it released. One that fails is logged
    /// and left for the next round, so it cannot hold up the others.
    #[tracing::instrument(skip_all)]
    pub async fn expire_due(&self, batch: i64) -> Result<usize, InventoryError> {
        let now = now_rfc3339();
        let due: Vec<String> = sqlx::query(
            "SELECT id FROM reservations WHERE status = 'held' AND expires_at <= $1 \
             ORDER BY expires_at, id LIMIT $2",
        )
        .bind(&now)
        .bind(batch)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<Result<_, _>>()?;
        let mut expired = 0;
        for id in due {
            match self.expire(&id, &now).await {
                Ok(true) => {
                    expired += 1;
                    tracing::info!(reservation_id = %id, "reservation expired; its units are available again");
                }
                // Committed or released meanwhile.
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(reservation_id = %id, error = %e, "could not expire a reservation");
                }
            }
        }
        if expired > 0 {
            self.producer.notify();
        }
        Ok(expired)
    }

    async fn expire(&self, id: &str, now: &str) -> Result<bool, InventoryError> {
        let mut tx = self.db.begin_write().await?;
        let released = release_held(&mut tx, id, ReleaseReason::Expired, now, None).await?;
        tx.commit().await?;
        Ok(released.is_some())
    }

    /// One reservation, if there is one by this id.
    #[tracing::instrument(skip_all, fields(reservation_id = %id))]
    pub async fn reservation(
        &self,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, InventoryError> {
        let mut conn = self.db.pool().acquire().await?;
        load_reservation(&mut conn, id.as_str()).await
    }

    /// Up to `limit` reservations, oldest first, of one status or all.
    #[tracing::instrument(skip_all, fields(status = ?status, limit))]
    pub async fn reservations(
        &self,
        status: Option<ReservationStatus>,
        limit: i64,
    ) -> Result<Vec<Reservation>, InventoryError> {
        let rows = match status {
            Some(status) => {
                sqlx::query(
                    "SELECT id, status, reason, expires_at, created_at FROM reservations \
                     WHERE status = $1 ORDER BY created_at, id LIMIT $2",
                )
                .bind(status.as_str())
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, status, reason, expires_at, created_at FROM reservations \
                     ORDER BY created_at, id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?
            }
        };
        let mut reservations = rows
            .iter()
            .map(reservation_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if reservations.is_empty() {
            return Ok(reservations);
        }
        // Every listed reservation's lines in one statement.
        let ids: Vec<&str> = reservations
            .iter()
            .map(|r| r.reservation_id.as_str())
            .collect();
        let mut items: HashMap<String, Vec<ReservedItem>> = self
            .db
            .fetch_grouped_in(
                "SELECT reservation_id, product_id, quantity FROM reservation_lines",
                "reservation_id",
                &ids,
                " ORDER BY reservation_id, line",
            )
            .await?;
        for r in &mut reservations {
            r.items = items.remove(&r.reservation_id).unwrap_or_default();
        }
        Ok(reservations)
    }
}

/// The indexes of `ids` in product-id order: the order every transaction updates stock
/// rows in, so that two of them never wait for each other's rows (no deadlock on
/// PostgreSQL).
fn in_product_order<'a>(ids: impl Iterator<Item = &'a ProductId>) -> Vec<usize> {
    let mut order: Vec<(usize, &str)> = ids.map(ProductId::as_str).enumerate().collect();
    order.sort_by(|a, b| a.1.cmp(b.1));
    order.into_iter().map(|(i, _)| i).collect()
}

/// Why line `i` could not be held, naming its field.
async fn why_short(
    tx: &mut Transaction<'static, Any>,
    i: usize,
    line: &ReservationLine,
) -> Result<FieldError, InventoryError> {
    let row = sqlx::query("SELECT available, discontinued FROM stock WHERE product_id = $1")
        .bind(line.product_id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(FieldError::new(
            format!("items[{i}].product_id"),
            format!("inventory keeps no stock for product `{}`", line.product_id),
        ));
    };
    let discontinued: i64 = row.try_get("discontinued")?;
    if discontinued != 0 {
        return Ok(FieldError::new(
            format!("items[{i}].product_id"),
            format!("product `{}` is discontinued", line.product_id),
        ));
    }
    let available: i64 = row.try_get("available")?;
    Ok(FieldError::new(
        format!("items[{i}].quantity"),
        format!("only {available} left"),
    ))
}

/// Where the units of a reservation go when it stops holding them.
#[derive(Clone, Copy)]
enum TakeBack {
    /// Out of the stock (a commit).
    Sold,
    /// Back to `available` (a release).
    Returned,
}

/// Takes each line's quantity out of `reserved` (and, when returned, back into
/// `available`); returns each line with its product's levels after. A line whose units
/// are not in `reserved` means the data contradicts itself: the transaction must not
/// commit.
async fn take_reserved(
    tx: &mut Transaction<'static, Any>,
    reservation: &Reservation,
    to: TakeBack,
    now: &str,
) -> Result<Vec<(ReservedItem, Stock)>, InventoryError> {
    let sql = match to {
        TakeBack::Sold => {
            "UPDATE stock SET reserved = reserved - $1, updated_at = $2 \
             WHERE product_id = $3 AND reserved >= $1 \
             RETURNING product_id, available, reserved, discontinued"
        }
        TakeBack::Returned => {
            "UPDATE stock SET available = available + $1, reserved = reserved - $1, \
             updated_at = $2 WHERE product_id = $3 AND reserved >= $1 \
             RETURNING product_id, available, reserved, discontinued"
        }
    };
    let mut order: Vec<&ReservedItem> = reservation.items.iter().collect();
    order.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    let mut after = Vec::with_capacity(order.len());
    for item in order {
        let row = sqlx::query(sql)
            .bind(item.quantity)
            .bind(now)
            .bind(item.product_id.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                InventoryError::Inconsistent(format!(
                    "product `{}` has fewer than {} units reserved for reservation `{}`",
                    item.product_id, item.quantity, reservation.reservation_id
                ))
            })?;
        after.push((item.clone(), stock_from_row(&row)?));
    }
    Ok(after)
}

/// Releases reservation `id` if it is held, inside `tx`: its units back to `available`
/// (movements, `stock.changed`) and `reservation.released`. `None` when it is not held
/// (unknown, committed or released already).
async fn release_held(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    reason: ReleaseReason,
    now: &str,
    traceparent: Option<&str>,
) -> Result<Option<Reservation>, InventoryError> {
    let moved = sqlx::query(
        "UPDATE reservations SET status = 'released', reason = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'held'",
    )
    .bind(reason.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(None);
    }
    let released = load_reservation(tx, id)
        .await?
        .ok_or_else(|| InventoryError::Inconsistent(format!("reservation `{id}` vanished")))?;
    for (item, after) in take_reserved(tx, &released, TakeBack::Returned, now).await? {
        let change = Change {
            delta: item.quantity,
            reserved_delta: -item.quantity,
            reason: reason.movement(),
            event_id: None,
            reservation_id: Some(id),
        };
        record_change(tx, &after, &change, traceparent).await?;
    }
    record_reservation(tx, RESERVATION_RELEASED, &released, traceparent).await?;
    Ok(Some(released))
}

/// Records a reservation event (`kind`) about `reservation` in the outbox, inside `tx`.
async fn record_reservation(
    tx: &mut Transaction<'static, Any>,
    kind: &str,
    reservation: &Reservation,
    traceparent: Option<&str>,
) -> Result<(), InventoryError> {
    let data = ReservationChanged {
        reservation_id: reservation.reservation_id.clone(),
        items: reservation.items.clone(),
        reason: reservation.reason,
    };
    let subject = reservation.reservation_id.as_str();
    outbox::record(tx, SOURCE, kind, subject, &data, traceparent).await?;
    Ok(())
}

/// A reservation with its lines, read through `conn` (a transaction's or the pool's).
async fn load_reservation(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Reservation>, InventoryError> {
    let row = sqlx::query(
        "SELECT id, status, reason, expires_at, created_at FROM reservations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut reservation = reservation_from_row(&row)?;
    reservation.items = sqlx::query(
        "SELECT product_id, quantity FROM reservation_lines \
         WHERE reservation_id = $1 ORDER BY line",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(ReservedItem::from_row)
    .collect::<Result<_, _>>()?;
    Ok(Some(reservation))
}

fn item(line: &ReservationLine) -> ReservedItem {
    ReservedItem {
        product_id: line.product_id.to_string(),
        quantity: line.quantity.get(),
    }
}

platform::from_row! { ReservedItem { product_id, quantity } }

/// A reservation's own columns; its items are read separately.
fn reservation_from_row(row: &AnyRow) -> Result<Reservation, InventoryError> {
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let reason: Option<String> = row.try_get("reason")?;
    let bad = |what: &str, value: &str| {
        InventoryError::Inconsistent(format!("reservation `{id}` has {what} `{value}`"))
    };
    let status = ReservationStatus::parse(&status).map_err(|_| bad("status", &status))?;
    let reason = reason
        .map(|r| ReleaseReason::parse(&r).map_err(|_| bad("reason", &r)))
        .transpose()?;
    Ok(Reservation {
        status,
        reason,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        items: Vec::new(),
        reservation_id: id,
    })
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
    .bind(stock.initial.get())
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    let opened = Stock {
        product_id: stock.product_id.to_string(),
        available: stock.initial.get(),
        reserved: 0,
        discontinued: false,
    };
    let change = Change {
        event_id: Some(event_id),
        ..Change::available(stock.initial.get(), Reason::Initial)
    };
    record_change(tx, &opened, &change, traceparent).await?;
    Ok(true)
}

/// Marks a product's stock discontinued, keeping its levels, in the consumer's
/// transaction; a product inventory does not have yet (its deletion handled before its
/// creation, by another replica) gets discontinued stock of none, with no movement, which
/// the creation then finds and leaves so. One statement: a creation being handled at the
/// same moment is waited for and then marked (on PostgreSQL an `UPDATE` that found
/// nothing, then an `INSERT … DO NOTHING` that waited for that creation, left the product
/// on sale: the verification review).
pub(crate) async fn discontinue(
    tx: &mut Transaction<'static, Any>,
    id: &ProductId,
    sku: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock (product_id, sku, available, reserved, discontinued, created_at, updated_at) \
         VALUES ($1, $2, 0, 0, 1, $3, $3) \
         ON CONFLICT (product_id) DO UPDATE SET discontinued = 1, updated_at = excluded.updated_at",
    )
    .bind(id.as_str())
    .bind(sku)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One change of a product's levels, as the ledger keeps it.
struct Change<'a> {
    /// How `available` changed.
    delta: i64,
    /// How `reserved` changed.
    reserved_delta: i64,
    reason: Reason,
    /// The event that caused it, if one did.
    event_id: Option<&'a str>,
    /// The reservation that caused it, if one did.
    reservation_id: Option<&'a str>,
}

impl Change<'_> {
    /// A change of `available` alone.
    fn available(delta: i64, reason: Reason) -> Self {
        Self {
            delta,
            reserved_delta: 0,
            reason,
            event_id: None,
            reservation_id: None,
        }
    }
}

/// Appends the movement of a change of a product's levels to the ledger and records
/// `stock.changed` with the levels after it, inside `tx`.
async fn record_change(
    tx: &mut Transaction<'static, Any>,
    after: &Stock,
    change: &Change<'_>,
    traceparent: Option<&str>,
) -> Result<(), InventoryError> {
    sqlx::query(
        "INSERT INTO stock_movements \
         (id, product_id, delta, reserved_delta, reason, event_id, reservation_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&after.product_id)
    .bind(change.delta)
    .bind(change.reserved_delta)
    .bind(change.reason.as_str())
    .bind(change.event_id)
    .bind(change.reservation_id)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    let changed = StockChanged {
        product_id: after.product_id.clone(),
        available: after.available,
        reserved: after.reserved,
        reason: change.reason,
    };
    let subject = after.product_id.as_str();
    outbox::record(tx, SOURCE, STOCK_CHANGED, subject, &changed, traceparent).await?;
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

    /// A product's deletion handled while another replica's transaction creating it is
    /// open, on PostgreSQL when `BAZAAR_TEST_POSTGRES_URL` names a server: it waits for
    /// the creation and discontinues the stock. Before, it found nothing to discontinue,
    /// and its insert, having waited, did nothing: the product stayed on sale (the
    /// verification review).
    #[tokio::test]
    async fn a_deletion_beside_an_open_creation_waits_for_it_and_discontinues_it() {
        let Some(pg) = platform::testing::ScratchPostgres::from_env(
            "inventory",
            "a deletion beside an open creation",
        ) else {
            return;
        };
        let db = platform::db::Db::connect(&pg.url(), &migrations())
            .await
            .unwrap();
        let id = ProductId::parse("p-1").unwrap();
        let stock = NewStock {
            product_id: id.clone(),
            sku: crate::domain::Sku::parse("KIT-1").unwrap(),
            initial: StockLevel::new(7).unwrap(),
        };
        let mut creating = db.begin_write().await.unwrap();
        assert!(
            open_stock(&mut creating, &stock, "e-1", None)
                .await
                .unwrap()
        );
        let deleting = {
            let (db, id) = (db.clone(), id.clone());
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                discontinue(&mut tx, &id, "KIT-1").await.unwrap();
                tx.commit().await.unwrap();
            })
        };
        platform::testing::until_a_transaction_waits_for_a_lock(&db).await;
        creating.commit().await.unwrap();
        deleting.await.unwrap();
        let discontinued: i64 =
            sqlx::query_scalar("SELECT discontinued FROM stock WHERE product_id = 'p-1'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(discontinued, 1);
        db.close().await;
        pg.drop_database().await;
    }

    #[test]
    fn migrations_put_inventory_before_the_events_tables() {
        let tables = [
            "events outbox",
            "events inbox, cursors, attempts, dead letters",
        ];
        platform::testing::assert_migrations(&migrations(), &tables);
    }
}
