//! All of payments' SQL: its migrations, its reads and its writes. Every change of an
//! authorisation appends its ledger entry and records its event in the outbox in the
//! transaction that makes it; an authorisation's outcome is written to its idempotency
//! record in that transaction too.

use crate::{
    domain::{
        Action, Authorization, AuthorizationId, CardBrand, Currency, Invalid, LedgerKind,
        LedgerSummary, NewAuthorization, Status, Transition,
    },
    error::{DeclineProblem, PaymentsError},
    events::{PAYMENT_AUTHORIZED, PAYMENT_FAILED, PaymentChanged, PaymentFailed, SOURCE, type_of},
    idempotency::{Claim, StoredResponse},
    processor::Decline,
};
use chrono::Utc;
use events::{Producer, now_rfc3339, outbox};
use platform::db::{Db, MigrationSource};
use sqlx::{Any, Row, Transaction, any::AnyRow};
use std::time::Duration;

/// Payments' tables: the migrations differ only in how the ledger is made append-only.
pub const MIGRATIONS: &[MigrationSource] = &[MigrationSource {
    version: 1,
    description: "payments authorizations, ledger and idempotency keys",
    sqlite: SQLITE,
    postgres: POSTGRES,
}];

/// `authorizations` holds each authorisation and its current status; the card appears
/// as brand and last four digits only. `ledger_entries` is append-only (triggers refuse
/// updates and deletes), with at most one entry of each kind per authorisation, since
/// every movement is of the whole amount. `idempotency_keys` holds one row per caller and
/// key: `in_progress` with the `token` of the request handling it until `locked_until`,
/// then `done` with the answer recorded.
macro_rules! tables {
    () => {
        "
CREATE TABLE authorizations (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    card_brand TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'voided', 'refunded')),
    caller TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX authorizations_by_order ON authorizations (order_id);
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL REFERENCES authorizations (id),
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('authorize', 'capture', 'void', 'refund')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE UNIQUE INDEX ledger_entries_once_per_kind ON ledger_entries (authorization_id, kind);
CREATE TABLE idempotency_keys (
    caller TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    token TEXT,
    locked_until TEXT,
    response_status BIGINT,
    response_body TEXT,
    response_location TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
"
    };
}

const SQLITE: &str = concat!(
    tables!(),
    "
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
"
);

const POSTGRES: &str = concat!(
    tables!(),
    "
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
"
);

/// Payments' migrations, then the outbox's: what [`Db::connect`] is given.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, outbox::MIGRATIONS].concat()
}

/// Who presented an idempotency key, the key, and (once claimed) the token of the
/// request that holds it.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    pub caller: String,
    pub key: String,
    pub token: String,
}

/// How long a claimed key stays its request's without a renewal: the request renews it
/// every [`KEY_RENEWAL`] while it works ([`Store::keep`]), so the key of a request whose
/// process died is free again within this, not after a whole request timeout (20 s, which
/// outlasted orders' calls and its window for resuming a checkout).
pub const KEY_LEASE: Duration = Duration::from_secs(3);

/// How often a request working on a key renews the key's lease.
const KEY_RENEWAL: Duration = Duration::from_secs(1);

/// Keeps a request's key its own while it lives (see [`Store::keep`]).
pub struct KeepAlive(tokio::task::AbortHandle);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Payments' data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    producer: Producer,
}

/// Every read of one authorisation decodes these columns.
const SELECT_AUTHORIZATION: &str = "SELECT id, order_id, user_id, status, amount_cents, \
     currency, card_brand, card_last4, created_at, updated_at FROM authorizations WHERE id = $1";

impl Store {
    pub fn new(db: Db, producer: Producer) -> Self {
        Self { db, producer }
    }

    /// Presents an idempotency key: claims it (inserting it `in_progress` and committing
    /// at once, so concurrent requests see it), or says what the earlier request with it
    /// left. A key whose lease has run out is taken over.
    #[tracing::instrument(skip_all)]
    pub async fn claim(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, PaymentsError> {
        let now = now_rfc3339();
        let until = self.lease_until();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys \
             (caller, idem_key, fingerprint, state, token, locked_until, created_at, updated_at) \
             VALUES ($1, $2, $3, 'in_progress', $4, $5, $6, $6) \
             ON CONFLICT (caller, idem_key) DO NOTHING",
        )
        .bind(caller)
        .bind(key)
        .bind(fingerprint)
        .bind(&token)
        .bind(&until)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Claim::Claimed { token });
        }
        let row = sqlx::query(
            "SELECT fingerprint, state, locked_until, response_status, response_body, \
             response_location FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
        )
        .bind(caller)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Released between the insert and the read (PostgreSQL): present it again.
            return Ok(Claim::InProgress);
        };
        match existing(&row, fingerprint, &now)? {
            Existing::Settled(claim) => Ok(claim),
            Existing::Abandoned => {
                let taken = sqlx::query(
                    "UPDATE idempotency_keys SET token = $1, locked_until = $2, updated_at = $3 \
                     WHERE caller = $4 AND idem_key = $5 AND state = 'in_progress' \
                     AND locked_until < $3",
                )
                .bind(&token)
                .bind(&until)
                .bind(&now)
                .bind(caller)
                .bind(key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 1 {
                    tx.commit().await?;
                    tracing::warn!(
                        caller,
                        key,
                        "took over an idempotency key whose request was abandoned"
                    );
                    Ok(Claim::Claimed { token })
                } else {
                    Ok(Claim::InProgress)
                }
            }
        }
    }

    /// What an earlier request left for this key, read without taking the write lock;
    /// `None` when the key is free to claim (never used, released, or abandoned).
    pub async fn look(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Claim>, PaymentsError> {
        let row = sqlx::query(
            "SELECT fingerprint, state, locked_until, response_status, response_body, \
             response_location FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
        )
        .bind(caller)
        .bind(key)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(match row {
            None => None,
            Some(row) => match existing(&row, fingerprint, &now_rfc3339())? {
                Existing::Settled(claim) => Some(claim),
                Existing::Abandoned => None,
            },
        })
    }

    /// Keeps `holder`'s key its own while the guard returned lives: its lease is renewed
    /// every second, until the key is answered, lost or given up.
    pub fn keep(&self, holder: &KeyHolder) -> KeepAlive {
        let (store, holder) = (self.clone(), holder.clone());
        let renewing = tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEY_RENEWAL).await;
                match store.renew(&holder).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not renew an idempotency key's lease");
                    }
                }
            }
        });
        KeepAlive(renewing.abort_handle())
    }

    /// Extends the lease of `holder`'s key; `false` when it is no longer the holder's.
    async fn renew(&self, holder: &KeyHolder) -> Result<bool, sqlx::Error> {
        let renewed = sqlx::query(
            "UPDATE idempotency_keys SET locked_until = $1 \
             WHERE caller = $2 AND idem_key = $3 AND token = $4 AND state = 'in_progress'",
        )
        .bind(self.lease_until())
        .bind(&holder.caller)
        .bind(&holder.key)
        .bind(&holder.token)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Gives up a claimed key without an answer (the request failed in a way worth
    /// retrying, and moved no money), so the next request with it runs afresh.
    pub async fn release(&self, holder: &KeyHolder) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND idem_key = $2 AND token = $3 \
             AND state = 'in_progress'",
        )
        .bind(&holder.caller)
        .bind(&holder.key)
        .bind(&holder.token)
        .execute(self.db.pool())
        .await
        .map(|_| ())
    }

    /// Records an approved authorisation: the authorisation, its `authorize` ledger
    /// entry, `payment.authorized` and the key's answer, in one transaction.
    #[tracing::instrument(skip_all, fields(order_id = %new.order_id.as_str()))]
    pub async fn record_authorization(
        &self,
        holder: &KeyHolder,
        new: &NewAuthorization,
        traceparent: Option<&str>,
    ) -> Result<StoredResponse, PaymentsError> {
        let now = now_rfc3339();
        let auth = Authorization {
            id: AuthorizationId::new().to_string(),
            order_id: new.order_id.as_str().to_owned(),
            user_id: new.user_id.as_str().to_owned(),
            status: Status::Authorized,
            amount_cents: new.amount.get(),
            currency: new.currency.as_str().to_owned(),
            card_brand: new.card.number.brand(),
            card_last4: new.card.number.last4().to_owned(),
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let answer = StoredResponse {
            status: 201,
            body: serde_json::to_string(&auth)?,
            location: Some(format!("/api/payments/authorizations/{}", auth.id)),
            replayed: false,
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO authorizations (id, order_id, user_id, amount_cents, currency, \
             card_brand, card_last4, status, caller, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&auth.id)
        .bind(&auth.order_id)
        .bind(&auth.user_id)
        .bind(auth.amount_cents)
        .bind(&auth.currency)
        .bind(auth.card_brand.as_str())
        .bind(&auth.card_last4)
        .bind(auth.status.as_str())
        .bind(&holder.caller)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        record_change(
            &mut tx,
            &auth,
            LedgerKind::Authorize,
            PAYMENT_AUTHORIZED,
            traceparent,
        )
        .await?;
        complete(&mut tx, holder, &answer).await?;
        self.producer.commit(tx).await?;
        Ok(answer)
    }

    /// Records a declined card: `payment.failed` and the key's answer (the 402), in one
    /// transaction. No money moved, so the ledger has nothing to say.
    #[tracing::instrument(skip_all, fields(order_id = %new.order_id.as_str(), decline_code = decline.code))]
    pub async fn record_decline(
        &self,
        holder: &KeyHolder,
        new: &NewAuthorization,
        decline: &Decline,
        traceparent: Option<&str>,
    ) -> Result<StoredResponse, PaymentsError> {
        let answer = StoredResponse {
            status: 402,
            body: serde_json::to_string(&DeclineProblem::new(decline))?,
            location: None,
            replayed: false,
        };
        let failed = PaymentFailed {
            order_id: new.order_id.as_str().to_owned(),
            user_id: new.user_id.as_str().to_owned(),
            amount_cents: new.amount.get(),
            currency: new.currency.as_str().to_owned(),
            decline_code: decline.code.to_owned(),
            message: decline.message.to_owned(),
        };
        let mut tx = self.db.begin_write().await?;
        let subject = new.order_id.as_str();
        outbox::record(
            &mut tx,
            SOURCE,
            PAYMENT_FAILED,
            subject,
            &failed,
            traceparent,
        )
        .await?;
        complete(&mut tx, holder, &answer).await?;
        self.producer.commit(tx).await?;
        Ok(answer)
    }

    /// Every authorisation made for an order, oldest first.
    pub async fn for_order(&self, order_id: &str) -> Result<Vec<Authorization>, sqlx::Error> {
        sqlx::query(
            "SELECT id, order_id, user_id, status, amount_cents, currency, card_brand, \
             card_last4, created_at, updated_at FROM authorizations WHERE order_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(order_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(authorization_from_row)
        .collect()
    }

    /// One authorisation, if payments made it.
    pub async fn get(&self, id: &AuthorizationId) -> Result<Option<Authorization>, sqlx::Error> {
        sqlx::query(SELECT_AUTHORIZATION)
            .bind(id.as_str())
            .fetch_optional(self.db.pool())
            .await?
            .as_ref()
            .map(authorization_from_row)
            .transpose()
    }

    /// Captures, voids or refunds an authorisation: the new status, its ledger entry and
    /// its event in one transaction. An authorisation in the action's target state
    /// already is answered as it is, and nothing is written.
    #[tracing::instrument(skip_all, fields(authorization_id = %id, action = action.as_str()))]
    pub async fn transition(
        &self,
        id: &AuthorizationId,
        action: Action,
        traceparent: Option<&str>,
    ) -> Result<Authorization, PaymentsError> {
        // On PostgreSQL a concurrent request may change the status between the read and
        // the conditional update; then the status is read again, and the second read
        // settles it (the action happened already, or no longer applies).
        for _ in 0..3 {
            let mut tx = self.db.begin_write().await?;
            let current = sqlx::query(SELECT_AUTHORIZATION)
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map(authorization_from_row)
                .transpose()?
                .ok_or_else(|| PaymentsError::NotFound(id.to_string()))?;
            let next = match action.from_state(current.status) {
                Transition::Already => return Ok(current),
                Transition::Refused => {
                    return Err(PaymentsError::InvalidState {
                        id: current.id,
                        status: current.status,
                        action,
                    });
                }
                Transition::To(next) => next,
            };
            let now = now_rfc3339();
            let updated = sqlx::query(
                "UPDATE authorizations SET status = $1, updated_at = $2 \
                 WHERE id = $3 AND status = $4",
            )
            .bind(next.as_str())
            .bind(&now)
            .bind(id.as_str())
            .bind(current.status.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                continue;
            }
            let after = Authorization {
                status: next,
                updated_at: now,
                ..current
            };
            record_change(
                &mut tx,
                &after,
                action.ledger_kind(),
                type_of(action),
                traceparent,
            )
            .await?;
            self.producer.commit(tx).await?;
            return Ok(after);
        }
        Err(PaymentsError::InProgress)
    }

    /// The ledger added up, for one currency or all.
    /// The currencies the ledger holds entries in, in order.
    pub async fn ledger_currencies(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT DISTINCT currency FROM ledger_entries ORDER BY currency")
            .fetch_all(self.db.pool())
            .await
    }

    pub async fn ledger_summary(
        &self,
        currency: Option<&Currency>,
    ) -> Result<LedgerSummary, sqlx::Error> {
        let rows = match currency {
            Some(c) => {
                sqlx::query(
                    "SELECT kind, CAST(SUM(amount_cents) AS BIGINT) AS cents, COUNT(*) AS n \
                     FROM ledger_entries WHERE currency = $1 GROUP BY kind",
                )
                .bind(c.as_str())
                .fetch_all(self.db.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT kind, CAST(SUM(amount_cents) AS BIGINT) AS cents, COUNT(*) AS n \
                     FROM ledger_entries GROUP BY kind",
                )
                .fetch_all(self.db.pool())
                .await?
            }
        };
        let mut summary = LedgerSummary {
            currency: currency.map(|c| c.as_str().to_owned()),
            ..LedgerSummary::default()
        };
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let cents: i64 = row.try_get("cents")?;
            let n: i64 = row.try_get("n")?;
            let slot = match kind.as_str() {
                "authorize" => &mut summary.authorized_cents,
                "capture" => &mut summary.captured_cents,
                "void" => &mut summary.voided_cents,
                "refund" => &mut summary.refunded_cents,
                other => return Err(decode_error(format!("unknown ledger kind `{other}`"))),
            };
            *slot += cents;
            summary.count += n;
        }
        Ok(summary)
    }

    /// When a key claimed or renewed now stops being its request's ([`KEY_LEASE`]): a
    /// request that dies (its process killed, say) loses the key to the next one.
    fn lease_until(&self) -> String {
        events::envelope::to_rfc3339(
            Utc::now() + chrono::Duration::from_std(KEY_LEASE).unwrap_or_default(),
        )
    }
}

/// What a key's existing row means to a request presenting the key.
enum Existing {
    Settled(Claim),
    /// `in_progress` past its lease: the request that held it is gone.
    Abandoned,
}

fn existing(row: &AnyRow, fingerprint: &str, now: &str) -> Result<Existing, sqlx::Error> {
    let recorded: String = row.try_get("fingerprint")?;
    if recorded != fingerprint {
        return Ok(Existing::Settled(Claim::Reused));
    }
    let state: String = row.try_get("state")?;
    if state == "done" {
        let status: Option<i64> = row.try_get("response_status")?;
        let body: Option<String> = row.try_get("response_body")?;
        let (Some(status), Some(body)) = (status, body) else {
            return Err(decode_error("a done idempotency key has no answer".into()));
        };
        return Ok(Existing::Settled(Claim::Done(StoredResponse {
            status: u16::try_from(status)
                .map_err(|_| decode_error(format!("answer status {status}")))?,
            body,
            location: row.try_get("response_location")?,
            replayed: true,
        })));
    }
    let until: Option<String> = row.try_get("locked_until")?;
    if until.is_some_and(|u| u.as_str() < now) {
        Ok(Existing::Abandoned)
    } else {
        Ok(Existing::Settled(Claim::InProgress))
    }
}

/// Writes the answer to the key, inside the transaction that moves the money. The key
/// must still be this request's: if its lease ran out and another request took it over,
/// nothing here may commit.
async fn complete(
    tx: &mut Transaction<'static, Any>,
    holder: &KeyHolder,
    answer: &StoredResponse,
) -> Result<(), PaymentsError> {
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', token = NULL, locked_until = NULL, \
         response_status = $1, response_body = $2, response_location = $3, updated_at = $4 \
         WHERE caller = $5 AND idem_key = $6 AND token = $7 AND state = 'in_progress'",
    )
    .bind(i64::from(answer.status))
    .bind(&answer.body)
    .bind(answer.location.as_deref())
    .bind(now_rfc3339())
    .bind(&holder.caller)
    .bind(&holder.key)
    .bind(&holder.token)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 1 {
        Ok(())
    } else {
        tracing::warn!(
            caller = holder.caller.as_str(),
            key = holder.key.as_str(),
            "lost an idempotency key to another request before recording its answer"
        );
        Err(PaymentsError::InProgress)
    }
}

/// Appends the ledger entry of a change and records its event, inside `tx`.
async fn record_change(
    tx: &mut Transaction<'static, Any>,
    auth: &Authorization,
    kind: LedgerKind,
    event_type: &str,
    traceparent: Option<&str>,
) -> Result<(), PaymentsError> {
    sqlx::query(
        "INSERT INTO ledger_entries (id, authorization_id, order_id, kind, amount_cents, \
         currency, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&auth.id)
    .bind(&auth.order_id)
    .bind(kind.as_str())
    .bind(auth.amount_cents)
    .bind(&auth.currency)
    .bind(&auth.updated_at)
    .execute(&mut **tx)
    .await?;
    let data = PaymentChanged::from(auth);
    outbox::record(tx, SOURCE, event_type, &auth.id, data, traceparent).await?;
    Ok(())
}

fn authorization_from_row(row: &AnyRow) -> Result<Authorization, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let brand: String = row.try_get("card_brand")?;
    Ok(Authorization {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        status: Status::parse(&status)
            .ok_or_else(|| decode_error(format!("unknown status `{status}`")))?,
        amount_cents: row.try_get("amount_cents")?,
        currency: row.try_get("currency")?,
        card_brand: CardBrand::parse(&brand)
            .ok_or_else(|| decode_error(format!("unknown card brand `{brand}`")))?,
        card_last4: row.try_get("card_last4")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn decode_error(message: String) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(Invalid(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_put_payments_before_the_outbox() {
        platform::testing::assert_migrations(&migrations(), &["events outbox"]);
    }

    #[test]
    fn both_dialects_create_the_same_tables() {
        assert!(SQLITE.starts_with(tables!()));
        assert!(POSTGRES.starts_with(tables!()));
        assert!(SQLITE.contains("RAISE(ABORT"));
        assert!(POSTGRES.contains("plpgsql"));
    }
}
