//! All of identity's SQL: accounts, refresh tokens, signing keys, and the migrations that
//! create them.

use crate::error::Error;
use events::{Event, envelope::now_rfc3339};
use platform::db::{Db, MigrationSource, is_unique_violation, serialize_writers};
use sqlx::{
    Any, Row, Transaction,
    any::{AnyArguments, AnyRow},
    query::Query,
};

/// Identity's tables, then the outbox's.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, events::outbox::MIGRATIONS].concat()
}

/// The advisory locks ([`serialize_writers`]) of the writes that insert
/// only when nothing is there yet: the administrator ensured at start, the first key.
const PUT_ADMIN_LOCK: i64 = 7_368_301;
const FIRST_KEY_LOCK: i64 = 7_368_302;

/// The advisory lock of one user's sessions, taken by a refresh and by a sign-out of that
/// user. On PostgreSQL, at READ COMMITTED, a sign-out's `UPDATE` does not see the token a
/// refresh of the same family inserts but has not committed yet: without the lock that
/// token outlived the sign-out (the races review: 2 to 6 trials in 12 with two replicas).
/// The number is FNV-1a of the user id, the same in every replica and every version of
/// the binary; two users sharing one only wait for each other.
fn sessions_lock(user_id: &str) -> i64 {
    let hash = user_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Identity's own tables. Ids are UUIDv7 strings, times RFC 3339 text, and roles a
/// comma-separated list.
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(1, "users, refresh tokens, signing keys", SCHEMA_V1),
    MigrationSource::portable(
        2,
        "signing keys start signing at a time of their own (rotation)",
        "ALTER TABLE signing_keys ADD COLUMN activates_at TEXT",
    ),
];

/// Users, refresh tokens and signing keys, in SQL both SQLite and PostgreSQL take.
const SCHEMA_V1: &str = "CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE refresh_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        family_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
    CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
    CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        private_key TEXT NOT NULL,
        created_at TEXT NOT NULL
    );";

/// An account as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub created_at: String,
}

/// A signing key as stored: its PKCS#8 DER, base64, and when it starts signing.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_key: String,
    pub created_at: String,
    /// RFC 3339, UTC; a key stored before rotation existed signs from its creation.
    pub activates_at: String,
}

platform::from_row! { SigningKeyRecord { kid, private_key, created_at, activates_at } }

/// A refresh token about to be stored: the hash of the token and when it expires.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: String,
}

/// What became of a refresh token presented for rotation.
#[derive(Debug)]
pub enum Rotation {
    /// It was good: it is now spent and its successor is stored.
    Rotated(UserRecord),
    /// It was already spent: its whole family, signed in as `user_id`, is now revoked.
    Reused { user_id: String },
    /// Unknown, revoked, expired, or of an account that is gone.
    Refused,
}

/// Identity's database.
#[derive(Clone)]
pub struct Store {
    db: Db,
    producer: events::Producer,
}

impl Store {
    pub fn new(db: Db, producer: events::Producer) -> Self {
        Self { db, producer }
    }

    /// Stores a new account and its `user.registered` event in one transaction.
    #[tracing::instrument(skip_all)]
    pub async fn insert_user(&self, user: &UserRecord, event: &Event) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        insert_user(&mut tx, user).await?;
        events::outbox::enqueue(&mut tx, event).await?;
        self.producer.commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, Error> {
        self.user_where(
            "SELECT id, email, name, password_hash, roles, created_at FROM users WHERE email = $1",
            email,
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, Error> {
        self.user_where(
            "SELECT id, email, name, password_hash, roles, created_at FROM users WHERE id = $1",
            id,
        )
        .await
    }

    /// The account `select` finds by `key` (its `$1`), if any.
    async fn user_where(
        &self,
        select: &'static str,
        key: &str,
    ) -> Result<Option<UserRecord>, Error> {
        let row = sqlx::query(select)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// One page of accounts, oldest first, and the number of accounts.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<UserRecord>, i64), Error> {
        let rows = sqlx::query(
            "SELECT id, email, name, password_hash, roles, created_at FROM users \
             ORDER BY created_at, id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(self.db.pool())
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.db.pool())
            .await?
            .try_get("n")?;
        let users = rows.iter().map(user_from_row).collect::<Result<_, _>>()?;
        Ok((users, total))
    }

    /// Makes `user` an administrator: creates the account, or, when its email is taken,
    /// gives that account `user`'s password hash and adds `user`'s roles. With
    /// `only_if_no_admin` it does nothing when some administrator already exists. Returns
    /// whether it changed anything.
    #[tracing::instrument(skip_all)]
    pub async fn put_admin(
        &self,
        user: &UserRecord,
        event: &Event,
        only_if_no_admin: bool,
    ) -> Result<bool, Error> {
        let mut tx = self.db.begin_write().await?;
        // One at a time, as on SQLite: replicas starting together on a fresh PostgreSQL
        // database would each find no administrator and each make one, with a password
        // of its own printed and only the last one's working.
        serialize_writers(&mut tx, PUT_ADMIN_LOCK).await?;
        if only_if_no_admin {
            let admins: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM users WHERE (',' || roles || ',') LIKE '%,admin,%'",
            )
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if admins > 0 {
                return Ok(false);
            }
        }
        let existing = sqlx::query("SELECT roles FROM users WHERE email = $1")
            .bind(&user.email)
            .fetch_optional(&mut *tx)
            .await?;
        let changed = if let Some(row) = existing {
            let current: String = row.try_get("roles")?;
            let mut roles: Vec<&str> = current.split(',').filter(|r| !r.is_empty()).collect();
            for role in &user.roles {
                if !roles.contains(&role.as_str()) {
                    roles.push(role);
                }
            }
            sqlx::query(
                "UPDATE users SET password_hash = $1, roles = $2, updated_at = $3 WHERE email = $4",
            )
            .bind(&user.password_hash)
            .bind(roles.join(","))
            .bind(now_rfc3339())
            .bind(&user.email)
            .execute(&mut *tx)
            .await?;
            true
        } else {
            match insert_user(&mut tx, user).await {
                Ok(()) => {}
                // Another replica created it between our read and our write.
                Err(Error::EmailTaken) => return Ok(false),
                Err(e) => return Err(e),
            }
            events::outbox::enqueue(&mut tx, event).await?;
            true
        };
        self.producer.commit(tx).await?;
        Ok(changed)
    }

    /// Stores a refresh token that starts a new family (a sign-in).
    #[tracing::instrument(skip_all)]
    pub async fn insert_refresh_token(
        &self,
        user_id: &str,
        token: &NewRefreshToken,
    ) -> Result<(), Error> {
        let family_id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.db.begin_write().await?;
        insert_refresh_token(&mut tx, token, user_id, &family_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends the token hashed `presented` and stores `next` in its family, atomically. A
    /// token that was already spent, or that loses a race to be spent, is a reuse: the
    /// whole family is revoked (OAuth 2.0 Security BCP §4.14.2). `allow` is asked about
    /// the token's owner first: its refusal is answered with nothing written, the token
    /// left as it was.
    #[tracing::instrument(skip_all)]
    pub async fn rotate_refresh_token(
        &self,
        presented: &str,
        next: &NewRefreshToken,
        allow: impl FnOnce(&str) -> Result<(), Error>,
    ) -> Result<Rotation, Error> {
        let now = chrono::Utc::now();
        let now_text = events::envelope::to_rfc3339(now);
        let mut tx = self.db.begin_write().await?;
        let Some(user_id) = sqlx::query_scalar::<_, String>(
            "SELECT user_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Rotation::Refused);
        };
        // After a sign-out of this user that began first, the token is read as that
        // sign-out left it: revoked.
        serialize_writers(&mut tx, sessions_lock(&user_id)).await?;
        let Some(row) = sqlx::query(
            "SELECT id, family_id, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Rotation::Refused);
        };
        let id: String = row.try_get("id")?;
        allow(&user_id)?;
        let family_id: String = row.try_get("family_id")?;
        let expires_at: String = row.try_get("expires_at")?;
        let used_at: Option<String> = row.try_get("used_at")?;
        let revoked_at: Option<String> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Ok(Rotation::Refused);
        }
        if used_at.is_some() {
            revoke_family(&mut tx, &family_id, &now_text).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused { user_id });
        }
        if parse_time(&expires_at)? <= now {
            return Ok(Rotation::Refused);
        }
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(&now_text)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            // Another request spent it between our read and our write.
            revoke_family(&mut tx, &family_id, &now_text).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused { user_id });
        }
        let Some(user) = sqlx::query(
            "SELECT id, email, name, password_hash, roles, created_at FROM users WHERE id = $1",
        )
        .bind(&user_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Rotation::Refused);
        };
        let user = user_from_row(&user)?;
        insert_refresh_token(&mut tx, next, &user.id, &family_id).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(user))
    }

    /// Revokes every token of the family of the token hashed `token_hash`, if it is
    /// `user_id`'s.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_family_of(
        &self,
        token_hash: &str,
        user_id: &str,
        announce: &Event,
    ) -> Result<u64, Error> {
        let revoke = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE revoked_at IS NULL AND user_id = $2 AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = $3)",
        )
        .bind(now_rfc3339())
        .bind(user_id)
        .bind(token_hash);
        self.revoke(user_id, revoke, announce).await
    }

    /// Deletes the refresh tokens of the sign-ins that ended before `before` (RFC 3339):
    /// every token of the sign-in (its family) expired or revoked by then. None of them
    /// can be used again (an expired or revoked token is refused as an unknown one is);
    /// kept, they grew with every sign-in and refresh for as long as the shop ran. A
    /// sign-in still going keeps all its tokens, spent ones too: a spent one presented
    /// again revokes it. A window of sign-ins at a time, each in a short transaction;
    /// returns how many tokens went.
    #[tracing::instrument(skip_all)]
    pub async fn forget_sign_ins_ended_before(&self, before: &str) -> Result<u64, Error> {
        const WINDOW: i64 = 500;
        let mut forgotten = 0;
        loop {
            let mut tx = self.db.begin_write().await?;
            let went = sqlx::query(
                "DELETE FROM refresh_tokens WHERE family_id IN \
                 (SELECT family_id FROM refresh_tokens GROUP BY family_id \
                  HAVING MAX(COALESCE(revoked_at, expires_at)) < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(WINDOW)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            forgotten += went;
            if went == 0 {
                return Ok(forgotten);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Revokes every refresh token of `user_id`, recording `announce` (its sign-out).
    #[tracing::instrument(skip_all)]
    pub async fn revoke_all_of_user(&self, user_id: &str, announce: &Event) -> Result<u64, Error> {
        let revoke = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id = $2",
        )
        .bind(now_rfc3339())
        .bind(user_id);
        self.revoke(user_id, revoke, announce).await
    }

    /// Runs `revoke` of `user_id`'s tokens and records `announce` with it, in one
    /// transaction; how many tokens it revoked.
    async fn revoke(
        &self,
        user_id: &str,
        revoke: Query<'_, Any, AnyArguments>,
        announce: &Event,
    ) -> Result<u64, Error> {
        let mut tx = self.db.begin_write().await?;
        // A refresh of this user storing its new token now is waited for, and revoked
        // with the rest.
        serialize_writers(&mut tx, sessions_lock(user_id)).await?;
        let done = revoke.execute(&mut *tx).await?;
        events::outbox::enqueue(&mut tx, announce).await?;
        self.producer.commit(tx).await?;
        Ok(done.rows_affected())
    }

    /// Stores `key` if no signing key exists yet; returns whether it did.
    pub async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, Error> {
        let mut tx = self.db.begin_write().await?;
        // One at a time, as on SQLite: replicas starting together on a fresh PostgreSQL
        // database would each count no key and each store a first one, and sign with
        // keys the other does not publish until it reloads them.
        serialize_writers(&mut tx, FIRST_KEY_LOCK).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM signing_keys")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n > 0 {
            return Ok(false);
        }
        let inserted = insert_key(key).execute(&mut *tx).await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            // Another replica stored one first.
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores another signing key (a rotation), withdrawing every key that was to start
    /// signing after it: the newest rotation is the one that signs. (A key due in a minute,
    /// then an emergency key due at once: the first took over from the emergency key a
    /// minute later.) A withdrawn key has signed nothing. Returns the withdrawn keys' ids.
    pub async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<String>, Error> {
        let mut tx = self.db.begin_write().await?;
        let withdrawn: Vec<String> = sqlx::query_scalar(
            "SELECT kid FROM signing_keys WHERE COALESCE(activates_at, created_at) > $1",
        )
        .bind(&key.activates_at)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM signing_keys WHERE COALESCE(activates_at, created_at) > $1")
            .bind(&key.activates_at)
            .execute(&mut *tx)
            .await?;
        insert_key(key).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(withdrawn)
    }

    /// Every signing key, in the order they start signing.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, Error> {
        Ok(sqlx::query_as(
            "SELECT kid, private_key, created_at, COALESCE(activates_at, created_at) AS activates_at \
             FROM signing_keys ORDER BY COALESCE(activates_at, created_at), kid",
        )
        .fetch_all(self.db.pool())
        .await?)
    }
}

async fn insert_user(tx: &mut Transaction<'static, Any>, user: &UserRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, roles, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(&user.password_hash)
    .bind(user.roles.join(","))
    .bind(&user.created_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::EmailTaken
        } else {
            e.into()
        }
    })?;
    Ok(())
}

async fn insert_refresh_token(
    tx: &mut Transaction<'static, Any>,
    token: &NewRefreshToken,
    user_id: &str,
    family_id: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, token_hash, user_id, family_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&token.token_hash)
    .bind(user_id)
    .bind(family_id)
    .bind(now_rfc3339())
    .bind(&token.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn revoke_family(
    tx: &mut Transaction<'static, Any>,
    family_id: &str,
    now: &str,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, Error> {
    let roles: String = row.try_get("roles")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: row.try_get("created_at")?,
    })
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| Error::Corrupt(format!("time `{text}`: {e}")))
}

fn insert_key(
    key: &SigningKeyRecord,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_key, created_at, activates_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&key.kid)
    .bind(&key.private_key)
    .bind(&key.created_at)
    .bind(&key.activates_at)
}
