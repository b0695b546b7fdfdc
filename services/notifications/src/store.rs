//! All of notifications' SQL: its migrations, the mailbox reads behind the API and the live
//! feed, the writes the event handler makes in the consumer's transaction, and the mail
//! worker's claims.

use crate::{
    compose::Composed,
    domain::{EmailAddress, EmailStatus, Id, Limit, Message, MessageKind},
};
use events::{consumer, now_rfc3339};
use platform::db::{Db, MigrationSource};
use sqlx::{Any, Row, Transaction, any::AnyRow};

/// The tables, with the one column whose type differs between backends.
macro_rules! tables {
    ($seq:literal) => {
        concat!(
            "CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    email TEXT,
    name TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE messages (
    ",
            $seq,
            ",
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    email_to TEXT,
    email_status TEXT NOT NULL
        CHECK (email_status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    email_attempts BIGINT NOT NULL DEFAULT 0,
    email_due_at TEXT NOT NULL,
    email_error TEXT,
    email_sent_at TEXT
);
CREATE INDEX messages_by_user ON messages (user_id, seq);
CREATE INDEX messages_email_due ON messages (email_status, email_due_at);
"
        )
    };
}

/// Notifications' tables.
///
/// `users` keeps the contact details other services announce (identity's
/// `user.registered`, orders' events), so a message that carries no address can still be
/// mailed. `messages` is every user's mailbox: `seq` orders it (commit order: SQLite
/// serialises writers, and on PostgreSQL the handler takes an advisory lock before its
/// insert), `event_id` names the event that caused each message, at most once (the inbox
/// guarantees this already; the index makes a bug loud, not silent), and the `email_*`
/// columns are the mail worker's.
///
/// `sign_outs` keeps each user's latest sign-out (identity's `user.signed_out`): a token
/// issued before it opens no stream, and the streams such tokens opened end.
pub const MIGRATIONS: &[MigrationSource] = &[
    platform::migration_with_seq!(1, "notifications users and mailbox", tables),
    MigrationSource::portable(2, "each user's latest sign-out", SIGN_OUTS),
];

const SIGN_OUTS: &str = "CREATE TABLE sign_outs (
    user_id TEXT PRIMARY KEY,
    signed_out_at BIGINT NOT NULL
);";

/// Records that `user_id` signed out at `at` (seconds since the epoch), keeping the latest
/// of the sign-outs it has heard of, in whatever order they came.
pub async fn record_sign_out(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sign_outs (user_id, signed_out_at) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET signed_out_at = excluded.signed_out_at \
         WHERE excluded.signed_out_at > sign_outs.signed_out_at",
    )
    .bind(user_id)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Notifications' migrations, then the consumer's: what [`Db::connect`] is given.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, consumer::MIGRATIONS].concat()
}

/// A user's contact details, as last announced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// A message to write to a mailbox.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub user_id: &'a Id,
    pub message: Composed,
    /// The event it answers.
    pub event_id: &'a str,
    /// Where its email goes; `None` leaves it to the address known when it is sent.
    pub email_to: Option<&'a EmailAddress>,
    /// `Pending` when email is configured, else `Skipped`.
    pub email_status: EmailStatus,
}

/// An email the worker may send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEmail {
    pub id: String,
    /// The address the message names, else the user's last announced one.
    pub to: Option<String>,
    pub subject: String,
    pub body: String,
    /// Tries made before this one.
    pub attempts: i64,
}

platform::from_row! { DueEmail { id, to = "recipient", subject, body, attempts = "email_attempts" } }

/// Notifications' data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
}

impl Store {
    /// A user's newest messages, newest first.
    #[tracing::instrument(skip_all, fields(limit = limit.get()))]
    /// The user's newest `limit` messages, newest first, or those older than their
    /// message `before`; `None` when `before` is not one of theirs.
    pub async fn list(
        &self,
        user_id: &str,
        limit: Limit,
        before: Option<&str>,
    ) -> Result<Option<Vec<Message>>, sqlx::Error> {
        let below = match before {
            None => i64::MAX,
            Some(id) => {
                let seq = sqlx::query("SELECT seq FROM messages WHERE user_id = $1 AND id = $2")
                    .bind(user_id)
                    .bind(id)
                    .fetch_optional(self.db.pool())
                    .await?;
                match seq {
                    Some(row) => row.try_get("seq")?,
                    None => return Ok(None),
                }
            }
        };
        let rows = sqlx::query(
            "SELECT seq, id, kind, subject, body, created_at FROM messages \
             WHERE user_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(below)
        .bind(limit.get())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| message_from_row(r).map(|(_, m)| m))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// The position of the newest message of anyone (0 for an empty mailbox).
    pub async fn head(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS head FROM messages")
            .fetch_one(self.db.pool())
            .await?
            .try_get("head")
    }

    /// When the user last signed out (seconds since the epoch), if ever.
    pub async fn signed_out_at(&self, user_id: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query("SELECT signed_out_at FROM sign_outs WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| r.try_get("signed_out_at"))
            .transpose()
    }

    /// Whether a token of `user_id` issued at `iat` predates the user's last sign-out. Both
    /// are whole seconds: a token issued in the second of the sign-out counts as before it
    /// (a token taken just before a quick sign-out must not outlive it; one taken just
    /// after, in that same second, opens a stream once it is refreshed).
    pub async fn signed_out_since(&self, user_id: &str, iat: i64) -> Result<bool, sqlx::Error> {
        Ok(self
            .signed_out_at(user_id)
            .await?
            .is_some_and(|at| iat <= at))
    }

    /// The position of one of the user's messages, if it is theirs.
    pub async fn position_of(
        &self,
        user_id: &str,
        message_id: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query("SELECT seq FROM messages WHERE id = $1 AND user_id = $2")
            .bind(message_id)
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| r.try_get("seq"))
            .transpose()
    }

    /// The user's messages after position `after`, oldest first, with their positions.
    pub async fn after(
        &self,
        user_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Message)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT seq, id, kind, subject, body, created_at FROM messages \
             WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(user_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Emails due now (never tried, to retry, or abandoned by a worker whose lease ran
    /// out), oldest first.
    pub async fn due_emails(&self, now: &str, limit: i64) -> Result<Vec<DueEmail>, sqlx::Error> {
        sqlx::query_as(
            "SELECT m.id, COALESCE(m.email_to, u.email) AS recipient, m.subject, m.body, \
                    m.email_attempts \
             FROM messages m LEFT JOIN users u ON u.user_id = m.user_id \
             WHERE m.email_status IN ('pending', 'sending') AND m.email_due_at <= $1 \
             ORDER BY m.seq LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
    }

    /// Takes an email for sending until `lease_until`, counting the try; `false` when
    /// another worker took it first (or it is no longer due).
    pub async fn claim_email(
        &self,
        id: &str,
        now: &str,
        lease_until: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE messages SET email_status = 'sending', email_due_at = $1, \
             email_attempts = email_attempts + 1 \
             WHERE id = $2 AND email_status IN ('pending', 'sending') AND email_due_at <= $3",
        )
        .bind(lease_until)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(claimed == 1)
    }

    /// The server took the email.
    pub async fn email_sent(&self, id: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE messages SET email_status = 'sent', email_sent_at = $1, email_error = NULL \
             WHERE id = $2 AND email_status = 'sending'",
        )
        .bind(now_rfc3339())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// A try failed: due again at `retry_at`, or given up (`failed`) when `None`.
    pub async fn email_not_sent(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let (status, due) = match retry_at {
            Some(at) => (EmailStatus::Pending, at.to_owned()),
            None => (EmailStatus::Failed, now_rfc3339()),
        };
        sqlx::query(
            "UPDATE messages SET email_status = $1, email_due_at = $2, email_error = $3 \
             WHERE id = $4 AND email_status = 'sending'",
        )
        .bind(status.as_str())
        .bind(due)
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
}

/// Records a user's contact details in the consumer's transaction: `overwrite` replaces
/// what is known (identity speaks for its accounts); otherwise they fill in only a user
/// not known yet (an order's copy of the address).
pub(crate) async fn remember_user(
    tx: &mut Transaction<'static, Any>,
    user_id: &Id,
    email: Option<&EmailAddress>,
    name: Option<&str>,
    overwrite: bool,
) -> Result<(), sqlx::Error> {
    let sql = if overwrite {
        "INSERT INTO users (user_id, email, name, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name, \
         updated_at = excluded.updated_at"
    } else {
        "INSERT INTO users (user_id, email, name, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO NOTHING"
    };
    sqlx::query(sql)
        .bind(user_id.as_str())
        .bind(email.map(EmailAddress::as_str))
        .bind(name)
        .bind(now_rfc3339())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A user's contact details, if any were announced.
pub(crate) async fn contact(
    tx: &mut Transaction<'static, Any>,
    user_id: &Id,
) -> Result<Contact, sqlx::Error> {
    let row = sqlx::query("SELECT email, name FROM users WHERE user_id = $1")
        .bind(user_id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(r) => Ok(Contact {
            email: r.try_get("email")?,
            name: r.try_get("name")?,
        }),
        None => Ok(Contact::default()),
    }
}

/// Whether the user has been welcomed already.
pub(crate) async fn was_welcomed(
    tx: &mut Transaction<'static, Any>,
    user_id: &Id,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 AS found FROM messages WHERE user_id = $1 AND kind = $2")
            .bind(user_id.as_str())
            .bind(MessageKind::Welcome.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// Writes a message to a mailbox in the consumer's transaction; returns its id.
pub(crate) async fn insert_message(
    tx: &mut Transaction<'static, Any>,
    new: &NewMessage<'_>,
) -> Result<String, sqlx::Error> {
    // Mailbox writers are serialised to their commit, so `seq` order is commit order and
    // a feed reading "after seq N" never skips a late commit (as the outbox does).
    platform::db::serialize_writers(tx, 7_368_201).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_rfc3339();
    sqlx::query(
        "INSERT INTO messages (id, user_id, kind, subject, body, created_at, event_id, \
         email_to, email_status, email_attempts, email_due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $6)",
    )
    .bind(&id)
    .bind(new.user_id.as_str())
    .bind(new.message.kind.as_str())
    .bind(&new.message.subject)
    .bind(&new.message.body)
    .bind(&now)
    .bind(new.event_id)
    .bind(new.email_to.map(EmailAddress::as_str))
    .bind(new.email_status.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

fn message_from_row(row: &AnyRow) -> Result<(i64, Message), sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "welcome" => MessageKind::Welcome,
        "order_confirmed" => MessageKind::OrderConfirmed,
        "order_cancelled" => MessageKind::OrderCancelled,
        "payment_failed" => MessageKind::PaymentFailed,
        other => {
            return Err(sqlx::Error::Decode(
                format!("unknown message kind `{other}`").into(),
            ));
        }
    };
    Ok((
        row.try_get("seq")?,
        Message {
            id: row.try_get("id")?,
            kind,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_put_notifications_before_the_events_tables() {
        let consumer = "events inbox, cursors, attempts, dead letters";
        platform::testing::assert_migrations(&migrations(), &[consumer]);
    }

    #[test]
    fn both_dialects_differ_only_in_the_sequence() {
        let m = &MIGRATIONS[0];
        assert!(m.sqlite.contains("AUTOINCREMENT"));
        assert!(m.postgres.contains("BIGSERIAL"));
        assert_eq!(
            m.sqlite
                .replace("seq INTEGER PRIMARY KEY AUTOINCREMENT", "SEQ"),
            m.postgres.replace("seq BIGSERIAL PRIMARY KEY", "SEQ")
        );
    }
}
